/* Fuzz target: consignment bodies (track_consignment_check), with rules
 * over the defaults. Properties: no crash, no leak; a refusal names a
 * problem; an accepted consignment has a valid id, 1..256 containers and a
 * route, its rules apply cleanly, and its stored document is accepted
 * again. */
#include <stdlib.h>
#include <string.h>

#include "track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!in)
        return 0;
    track_config base;
    track_config_defaults(&base);
    json_t *problems = json_array();
    json_t *doc = track_consignment_check(in, &base, "KCS", "2024-03-01T00:00:00.000Z", problems);
    if (!doc && json_array_size(problems) == 0)
        abort();
    if (doc) {
        const json_t *cs = json_object_get(doc, "containers");
        track_config rules = base;
        const json_t *ov = json_object_get(doc, "rules");
        if (json_array_size(problems) ||
            !track_id_valid(json_string_value(json_object_get(doc, "id"))) ||
            json_array_size(cs) < 1 || json_array_size(cs) > DECL_MAX_CONTAINERS ||
            !json_object_get(doc, "route") || (ov && !track_config_apply(&rules, ov, NULL)))
            abort();
        json_t *again = json_deep_copy(doc);
        json_object_del(again, "created_at");
        json_object_del(again, "org");
        json_t *p2 = json_array();
        json_t *doc2 = track_consignment_check(again, &base, "KCS", "x", p2);
        if (!doc2)
            abort();
        json_decref(doc2);
        json_decref(p2);
        json_decref(again);
    }
    json_decref(doc);
    json_decref(problems);
    json_decref(in);
    return 0;
}
