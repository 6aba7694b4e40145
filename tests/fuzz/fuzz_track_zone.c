/* Fuzz target: zone bodies (track_zone_check). Properties: no crash, no
 * leak; a refusal names a problem; an accepted zone has a shape, a valid id
 * and kind, and its stored document is accepted again. */
#include <stdlib.h>
#include <string.h>

#include "track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!in)
        return 0;
    json_t *problems = json_array();
    track_shape *shape = NULL;
    json_t *doc = track_zone_check(in, "2024-03-01T00:00:00.000Z", problems, &shape);
    if (!doc && (json_array_size(problems) == 0 || shape))
        abort();
    if (doc) {
        track_zone_kind k;
        if (!shape || json_array_size(problems) ||
            !track_id_valid(json_string_value(json_object_get(doc, "id"))) ||
            !track_zone_kind_parse(json_string_value(json_object_get(doc, "kind")), &k))
            abort();
        json_t *again = json_deep_copy(doc);
        json_object_del(again, "created_at");
        json_t *p2 = json_array();
        track_shape *s2 = NULL;
        json_t *doc2 = track_zone_check(again, "x", p2, &s2);
        if (!doc2 || !s2)
            abort();
        track_shape_free(s2);
        json_decref(doc2);
        json_decref(p2);
        json_decref(again);
    }
    track_shape_free(shape);
    json_decref(doc);
    json_decref(problems);
    json_decref(in);
    return 0;
}
