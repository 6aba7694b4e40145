/* A session annotation or chat line: any JSON text is checked against a
 * 640x480 frame without crashing, and a body that passes has shapes inside
 * the frame. */
#include "inspect.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    json_t *problems = json_array();
    bool chat = false;
    if (inspect_annotation_check(body, 640, 480, &chat, problems) && !chat) {
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(body, "shapes"), i, s)
        {
            double x = json_number_value(json_object_get(s, "x"));
            double w = json_number_value(json_object_get(s, "w"));
            if (x < 0 || x > 640 || x + w < 0 || x + w > 640)
                abort();
        }
    }
    json_decref(problems);
    json_decref(body);
    return 0;
}
