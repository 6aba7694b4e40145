/* Fuzz target: the Remote ID payload decoder (one message or a Message
 * Pack). Properties: no crash, no leak; an accepted payload's messages
 * encode to bytes that decode to the same encoding (encode(decode(x)) is a
 * fixed point), and their JSON is valid UTF-8 that jansson can dump. */
#include <stdlib.h>
#include <string.h>

#include "drones.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    drones_msg m[DRONES_PACK_MAX];
    size_t n;
    bool pack;
    char why[200];
    if (drones_payload_decode(data, size, size & 1, m, &n, &pack, why, sizeof why) != CX_OK) {
        if (!why[0])
            abort(); /* a refusal always says why */
        return 0;
    }
    if (n > DRONES_PACK_MAX || (!pack && n != 1))
        abort();
    for (size_t i = 0; i < n; i++) {
        uint8_t a[DRONES_MSG_SIZE], b[DRONES_MSG_SIZE];
        drones_msg back;
        drones_msg_encode(&m[i], a);
        if (drones_msg_decode(a, &back, why, sizeof why) != CX_OK)
            abort();
        drones_msg_encode(&back, b);
        if (memcmp(a, b, sizeof a) != 0)
            abort();
    }
    json_t *j = drones_payload_json(m, n, pack);
    if (!j)
        abort();
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        abort(); /* invalid UTF-8 would make jansson refuse */
    free(s);
    json_decref(j);
    return 0;
}
