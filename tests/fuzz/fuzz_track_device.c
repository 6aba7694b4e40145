/* Fuzz target: device registration bodies (track_device_check), one device
 * or a batch. Properties: no crash, no leak; a refusal names a problem; an
 * accepted device has a valid id and kind, its org is valid, and it is
 * accepted again as it is stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"
#include "track.h"

static void one(const json_t *in, const char *ptr)
{
    json_t *problems = json_array();
    const char *okey = NULL;
    json_t *doc = track_device_check(in, "CARRIER-A", "2024-03-01T00:00:00.000Z", ptr, problems,
                                     &okey);
    if (!doc && json_array_size(problems) == 0)
        abort();
    if (doc) {
        track_device_kind k;
        if (json_array_size(problems) || !track_id_valid(json_string_value(json_object_get(doc,
                                                                                       "id"))) ||
            !track_device_kind_parse(json_string_value(json_object_get(doc, "kind")), &k) ||
            !cx_org_valid(json_string_value(json_object_get(doc, "org"))) ||
            (okey && !track_osmand_key_valid(okey)) || json_object_get(doc, "osmand_key"))
            abort();
        /* the stored document, less created_at, is a valid request again */
        json_t *again = json_deep_copy(doc);
        json_object_del(again, "created_at");
        json_t *p2 = json_array();
        json_t *doc2 = track_device_check(again, "OTHER", "x", "", p2, NULL);
        if (!doc2)
            abort();
        json_decref(doc2);
        json_decref(p2);
        json_decref(again);
    }
    json_decref(doc);
    json_decref(problems);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!j)
        return 0;
    fz_each(j, one);
    json_decref(j);
    return 0;
}
