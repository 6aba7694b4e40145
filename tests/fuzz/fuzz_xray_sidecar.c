/* Fuzz target: the X-ray sidecar (JSON). Properties: no crash, no leak;
 * every refusal names at least one member by JSON Pointer; an accepted
 * sidecar written back and read again gives the same values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"
#include "xray.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return 0;
    json_t *problems = json_array();
    xray_meta m;
    bool ok = xray_meta_parse(j, "/meta", true, &m, problems, NULL);
    fz_problems(problems, ok, "/meta");
    if (ok) {
        json_t *again = xray_meta_json(&m);
        xray_meta m2;
        if (!xray_meta_parse(again, "", true, &m2, problems, NULL) ||
            strcmp(m.scan_id, m2.scan_id) || strcmp(m.container, m2.container) ||
            strcmp(m.time, m2.time) || m.time_us != m2.time_us || m.open_beam != m2.open_beam ||
            m.mu != m2.mu || m.pixel_mm_x != m2.pixel_mm_x || m.door_right != m2.door_right ||
            m.declared_empty != m2.declared_empty ||
            !(m.declared_mass_kg == m2.declared_mass_kg ||
              (isnan(m.declared_mass_kg) && isnan(m2.declared_mass_kg))))
            abort();
        json_decref(again);
    }
    json_decref(problems);
    json_decref(j);
    return 0;
}
