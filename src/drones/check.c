/* The JSON of receivers' observations (POST /v1/drones/observations, MQTT
 * customs/remoteid/<receiver>) checked as pure functions: a batch's shape,
 * then each observation with its payload decoded. ingest.c runs them;
 * fuzz_drones_ingest feeds them anything. */
#include "drones_int.h"

#include <stdio.h>
#include <string.h>

#define CHK_PAYLOAD_HEX_MAX (2 * DRONES_PAYLOAD_MAX)

const char *drones_batch_check(const json_t *doc, json_t *problems)
{
    size_t before = json_array_size(problems);
    if (!json_is_object(doc)) {
        cx_problem_add(problems, "", "the body is a JSON object");
        return NULL;
    }
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, "receiver") && strcmp(k, "observations")) {
            char ptr[96] = "";
            cx_jptr_push(ptr, sizeof ptr, k);
            cx_problem_add(problems, ptr, "unknown member");
            ok = false;
        }
    }
    const char *rx = json_string_value(json_object_get(doc, "receiver"));
    json_t *arr = json_object_get(doc, "observations");
    if (!drones_receiver_id_valid(rx)) {
        cx_problem_add(problems, "/receiver", "required, 1 to 64 of A-Z a-z 0-9 . _ : -");
        ok = false;
    }
    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > DRONES_BATCH_MAX) {
        cx_problem_add(problems, "/observations", "required, an array of 1 to %d observations",
                       DRONES_BATCH_MAX);
        ok = false;
    }
    return ok && json_array_size(problems) == before ? rx : NULL;
}

static bool chk__known(const char *k)
{
    static const char *const known[] = {"time", "transport", "mac", "rssi", "payload_hex", NULL};
    size_t i = 0;
    while (known[i] && strcmp(known[i], k) != 0)
        i++;
    return known[i] != NULL;
}

bool drones_obs_check(const json_t *o, int64_t now_us, drones_obs_in *out,
                      drones_msg msgs[DRONES_PACK_MAX], size_t *nmsgs, char *why, size_t wn)
{
    if (!json_is_object(o)) {
        snprintf(why, wn, "an observation is a JSON object");
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!chk__known(k)) {
            char ptr[96] = "";
            cx_jptr_push(ptr, sizeof ptr, k);
            snprintf(why, wn, "%s: unknown member", ptr);
            return false;
        }
    }
    const char *t = json_string_value(json_object_get(o, "time"));
    if (!t || cx_rfc3339_parse(t, &out->time_us) != CX_OK) {
        snprintf(why, wn, "/time: required, an RFC 3339 date-time");
        return false;
    }
    if (out->time_us > now_us + DRONES_FUTURE_S * 1000000LL) {
        snprintf(why, wn, "/time: more than %d s in the future", DRONES_FUTURE_S);
        return false;
    }
    const char *tr = json_string_value(json_object_get(o, "transport"));
    if (!tr || !drones_transport_parse(tr, &out->transport)) {
        snprintf(why, wn, "/transport: required, one of wifi_beacon, wifi_nan, ble4, ble5");
        return false;
    }
    const char *mac = json_string_value(json_object_get(o, "mac"));
    if (!mac || !drones_mac_parse(mac, out->mac)) {
        snprintf(why, wn, "/mac: required, six hex bytes like 60:60:1f:00:00:01");
        return false;
    }
    json_t *rs = json_object_get(o, "rssi");
    out->have_rssi = rs && !json_is_null(rs);
    out->rssi = 0;
    if (out->have_rssi) {
        if (!json_is_integer(rs) || json_integer_value(rs) < -150 || json_integer_value(rs) > 30) {
            snprintf(why, wn, "/rssi: an integer from -150 to 30 dBm, or null");
            return false;
        }
        out->rssi = (int)json_integer_value(rs);
    }
    const char *hex = json_string_value(json_object_get(o, "payload_hex"));
    size_t n = hex ? json_string_length(json_object_get(o, "payload_hex")) : 0;
    if (!hex || n == 0 || n % 2 || n > CHK_PAYLOAD_HEX_MAX || strlen(hex) != n ||
        !cx_unhex(hex, out->payload, n / 2)) {
        snprintf(why, wn, "/payload_hex: required, a message or message pack in hex (at most "
                          "%d digits)", CHK_PAYLOAD_HEX_MAX);
        return false;
    }
    out->len = n / 2;
    bool pack;
    char dwhy[160];
    if (drones_payload_decode(out->payload, out->len, true, msgs, nmsgs, &pack, dwhy,
                              sizeof dwhy) != CX_OK) {
        snprintf(why, wn, "/payload_hex: %s", dwhy);
        return false;
    }
    /* a pack that says it carries 0 messages observes nothing */
    if (*nmsgs == 0) {
        snprintf(why, wn, "/payload_hex: a message pack with no messages (1 to 9)");
        return false;
    }
    return true;
}
