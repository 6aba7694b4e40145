/* Fuzz target: the telemetry decoders (JSON payload, single or batch;
 * Traccar/OsmAnd query strings and JSON bodies). Properties: no crash, no
 * leak; whatever is accepted is in range; an accepted JSON message encoded
 * again decodes to the same message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"
#include "track.h"

#define NOW_MS 1709251200000LL /* 2024-03-01: fixed, so runs reproduce */
#define SKEW_MS 300000LL

static void check(const track_msg *m)
{
    if (!track_id_valid(m->device) || !(m->lat >= -90 && m->lat <= 90) ||
        !(m->lon >= -180 && m->lon <= 180) || (m->lat == 0 && m->lon == 0) ||
        m->ts_ms < 946684800000LL || m->ts_ms > NOW_MS + SKEW_MS || m->seal > 3 || m->door > 2)
        abort();
    if (!isnan(m->speed_kmh) && !(m->speed_kmh >= 0 && m->speed_kmh <= 2100))
        abort();
    if (!isnan(m->heading) && !(m->heading >= 0 && m->heading <= 360))
        abort();
    if (!isnan(m->battery_pct) && !(m->battery_pct >= 0 && m->battery_pct <= 100))
        abort();
}

static void roundtrip(const track_msg *m)
{
    static const char *const seals[] = {NULL, "closed", "open", "tampered"};
    static const char *const doors[] = {NULL, "closed", "open"};
    json_t *o = json_pack("{s:s,s:I,s:f,s:f}", "device", m->device, "ts", (json_int_t)m->ts_ms,
                          "lat", m->lat, "lon", m->lon);
    if (!isnan(m->speed_kmh))
        json_object_set_new(o, "speed_kmh", json_real(m->speed_kmh));
    if (!isnan(m->heading))
        json_object_set_new(o, "heading", json_real(m->heading));
    if (!isnan(m->temp_c))
        json_object_set_new(o, "temp_c", json_real(m->temp_c));
    if (!isnan(m->battery_pct))
        json_object_set_new(o, "battery_pct", json_real(m->battery_pct));
    if (m->seal)
        json_object_set_new(o, "seal", json_string(seals[m->seal]));
    if (m->door)
        json_object_set_new(o, "door", json_string(doors[m->door]));
    char *text = cx_json_dump(o, NULL);
    json_decref(o);
    track_msg again;
    track_reject why;
    if (!text || track_decode_json(text, strlen(text), NOW_MS, SKEW_MS, &again, &why) != CX_OK)
        abort();
    if (strcmp(again.device, m->device) || again.ts_ms != m->ts_ms || again.lat != m->lat ||
        again.lon != m->lon || again.seal != m->seal || again.door != m->door)
        abort();
    free(text);
}

static bool same_num(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* The fast path of track_decode_json and jansson agree on everything. */
static void agree(const char *text, size_t size, cx_err fast, const track_msg *m,
                  const track_reject *why)
{
    track_msg j;
    track_reject jwhy = {{0}, {0}};
    cx_err slow = CX_EPARSE;
    json_t *o = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (o)
        slow = track_decode_object(o, NOW_MS, SKEW_MS, "", &j, &jwhy);
    else
        snprintf(jwhy.code, sizeof jwhy.code, "malformed_json");
    json_decref(o);
    if (fast != slow || strcmp(why->code, jwhy.code) != 0)
        abort();
    if (fast == CX_OK &&
        (strcmp(m->device, j.device) || m->ts_ms != j.ts_ms || m->lat != j.lat ||
         m->lon != j.lon || !same_num(m->speed_kmh, j.speed_kmh) ||
         !same_num(m->heading, j.heading) || !same_num(m->temp_c, j.temp_c) ||
         !same_num(m->battery_pct, j.battery_pct) || m->seal != j.seal || m->door != j.door))
        abort();
}

static void batch_one(const json_t *v, const char *ptr)
{
    track_msg m;
    track_reject why;
    if (track_decode_object(v, NOW_MS, SKEW_MS, ptr, &m, &why) == CX_OK)
        check(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    track_msg m;
    track_reject why = {{0}, {0}};
    cx_err r = track_decode_json(text, size, NOW_MS, SKEW_MS, &m, &why);
    agree(text, size, r, &m, &why);
    if (r == CX_OK) {
        check(&m);
        roundtrip(&m);
    } else if (!why.code[0] || !why.message[0]) {
        abort(); /* every refusal names a reason */
    }
    /* a batch, as MQTT gateways and POST /v1/telemetry send it */
    json_t *j = json_loadb(text, size, 0, NULL);
    if (json_is_array(j))
        fz_each(j, batch_one);
    json_decref(j);
    track_osmand o;
    track_osmand_begin(&o);
    track_osmand_query(&o, text, size);
    if (track_osmand_end(&o, NOW_MS, SKEW_MS, &m, &why) == CX_OK)
        check(&m);
    if (track_osmand_json(text, size, NOW_MS, SKEW_MS, &m, &why) == CX_OK)
        check(&m);
    return 0;
}
