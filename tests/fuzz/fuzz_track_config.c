/* Fuzz target: tracking thresholds (track_config_apply, reachable from a
 * consignment's "rules" and from --track-config). Properties: no crash, no
 * leak; a refusal names its member; what is applied is in range and written
 * back (track_config_json) applies again to the same values; a refused
 * member changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!in)
        return 0;
    track_config c, def;
    track_config_defaults(&c);
    track_config_defaults(&def);
    json_t *problems = json_array();
    bool ok = track_config_apply(&c, in, problems);
    if (ok != (json_array_size(problems) == 0))
        abort();
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        if (!path || !json_string_value(json_object_get(p, "message")))
            abort();
    }
    if (ok) {
        json_t *back = track_config_json(&c);
        track_config again;
        track_config_defaults(&again);
        if (!track_config_apply(&again, back, NULL) || memcmp(&again, &c, sizeof c) != 0)
            abort();
        json_decref(back);
    } else if (!json_is_object(in) && memcmp(&c, &def, sizeof c) != 0) {
        abort();
    }
    json_decref(problems);
    json_decref(in);
    return 0;
}
