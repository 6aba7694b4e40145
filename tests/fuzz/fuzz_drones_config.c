/* Fuzz target: the drone rules' thresholds (drones_config_apply, from
 * --drones-config; core's cx_conf underneath, shared with tracking).
 * Properties: no crash, no leak; the result says whether there were
 * problems, each naming its member; what is applied is within the field's
 * range and written back (drones_config_json) applies again to the same
 * values; a refusal of the whole input changes nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drones.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!in)
        return 0;
    drones_config c, def;
    drones_config_defaults(&c);
    drones_config_defaults(&def);
    json_t *problems = json_array();
    bool ok = drones_config_apply(&c, in, problems);
    if (ok != (json_array_size(problems) == 0))
        abort();
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        if (!path || !json_string_value(json_object_get(p, "message")))
            abort();
        if (json_is_object(in) && path[0] != '/')
            abort(); /* a member's problem names the member */
    }
    /* the effective set is always valid and reads back to the same values,
     * whatever was refused on the way */
    json_t *back = drones_config_json(&c);
    drones_config again;
    drones_config_defaults(&again);
    if (!drones_config_apply(&again, back, NULL) || memcmp(&again, &c, sizeof c) != 0)
        abort();
    if (!(c.drone_hover_s >= 1 && c.drone_max_mps >= 1 && isfinite(c.drone_drop_zone_m)))
        abort();
    if (!json_is_object(in) && memcmp(&c, &def, sizeof c) != 0)
        abort();
    json_decref(back);
    json_decref(problems);
    json_decref(in);
    return 0;
}
