/* Fuzz target: the JSON receivers send — the body of POST
 * /v1/drones/observations and an MQTT message of customs/remoteid/<rx>,
 * read as both read it (jansson, duplicates refused), then the batch's
 * shape (drones_batch_check) and each observation (drones_obs_check).
 * Properties: no crash, no leak; a batch is taken exactly when it has no
 * problem, and then its receiver and size are valid; every problem names
 * its member; an accepted observation is in range (time not ahead of the
 * clock by more than DRONES_FUTURE_S, RSSI, 1..9 messages whose payload
 * decodes again to the same count, a MAC that prints and reads back); a
 * refused one says why in text that can go into the JSON reply. */
#include <stdlib.h>
#include <string.h>

#include "drones.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t fz_now = 1767225600000000LL; /* 2026-01-01T00:00:00Z */

static void fz_obs(const json_t *o)
{
    drones_obs_in in;
    drones_msg msgs[DRONES_PACK_MAX];
    size_t n = 0;
    char why[240] = "";
    if (!drones_obs_check(o, fz_now, &in, msgs, &n, why, sizeof why)) {
        json_t *s = json_string(why); /* NULL if not UTF-8: the reply would lose it */
        if (!why[0] || !s)
            abort();
        json_decref(s);
        return;
    }
    if (n < 1 || n > DRONES_PACK_MAX || in.len < DRONES_MSG_SIZE || in.len > DRONES_PAYLOAD_MAX)
        abort();
    if (in.time_us > fz_now + DRONES_FUTURE_S * 1000000LL || in.transport >= DRONES_T__COUNT)
        abort();
    if (in.have_rssi && (in.rssi < -150 || in.rssi > 30))
        abort();
    drones_msg again[DRONES_PACK_MAX];
    size_t n2 = 0;
    bool pack;
    if (drones_payload_decode(in.payload, in.len, true, again, &n2, &pack, NULL, 0) != CX_OK ||
        n2 != n)
        abort();
    char mac[18];
    uint8_t back[6];
    drones_mac_format(in.mac, mac);
    if (!drones_mac_parse(mac, back) || memcmp(back, in.mac, 6) != 0)
        abort();
    json_t *j = drones_payload_json(msgs, n, pack);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!text)
        abort();
    free(text);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!doc)
        return 0;
    json_t *problems = json_array();
    const char *rx = drones_batch_check(doc, problems);
    if (!rx != (json_array_size(problems) > 0))
        abort();
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        if (!path || (path[0] && path[0] != '/') || !json_string_value(json_object_get(p, "message")))
            abort();
    }
    json_t *arr = json_object_get(doc, "observations");
    if (rx && (!drones_receiver_id_valid(rx) || json_array_size(arr) < 1 ||
               json_array_size(arr) > DRONES_BATCH_MAX))
        abort();
    /* each observation, also of a refused batch, as far as there is an array */
    json_t *o;
    json_array_foreach(arr, i, o)
        fz_obs(o);
    json_decref(problems);
    json_decref(doc);
    return 0;
}
