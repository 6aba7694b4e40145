/* Telemetry decoders: the JSON payload (MQTT and /v1/telemetry) and the
 * Traccar/OsmAnd protocol (query string, form body, Traccar Client JSON).
 * Every refusal carries a stable code and a sentence naming the field. */
#include "track_int.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOT_KMH 1.852
#define MS_2000 946684800000LL /* 2000-01-01T00:00:00Z: older clocks were never set */

void track__reject(track_reject *why, const char *code, const char *fmt, ...)
{
    if (!why)
        return;
    snprintf(why->code, sizeof why->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->message, sizeof why->message, fmt, ap);
    va_end(ap);
}

bool track_id_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= TRACK_ID_MAX || !(isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

static void msg__clear(track_msg *m)
{
    memset(m, 0, sizeof *m);
    m->speed_kmh = m->heading = m->temp_c = m->battery_pct = NAN;
}

/* Checks shared by every source, after decoding. */
static cx_err msg__plausible(const track_msg *m, int64_t now_ms, int64_t skew_ms, const char *ptr,
                             track_reject *why)
{
    if (m->lat == 0 && m->lon == 0) {
        track__reject(why, "bad_coordinates", "%s/lat, %s/lon: 0,0 is the \"null island\" a "
                      "receiver reports without a fix", ptr, ptr);
        return CX_EPARSE;
    }
    if (m->ts_ms < MS_2000) {
        track__reject(why, "bad_timestamp", "%s/ts: before 2000-01-01, a device clock that "
                      "was never set", ptr);
        return CX_EPARSE;
    }
    if (m->ts_ms > now_ms + skew_ms) {
        track__reject(why, "future_timestamp", "%s/ts: more than %lld s ahead of the server "
                      "clock", ptr, (long long)(skew_ms / 1000));
        return CX_EPARSE;
    }
    return CX_OK;
}

static bool dec__number(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    if (!isfinite(d))
        return false;
    *out = d;
    return true;
}

/* An optional number in [lo, hi]; null counts as absent. */
static cx_err dec__opt(const json_t *obj, const char *key, double lo, double hi, const char *ptr,
                       double *out, track_reject *why)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return CX_OK;
    double d;
    if (!dec__number(v, &d) || d < lo || d > hi) {
        track__reject(why, "bad_field", "%s/%s: must be a number from %g to %g", ptr, key, lo, hi);
        return CX_EPARSE;
    }
    *out = d;
    return CX_OK;
}

cx_err track__parse_ts(const json_t *v, int64_t *ms)
{
    if (json_is_string(v)) {
        int64_t us;
        if (cx_rfc3339_parse(json_string_value(v), &us) != CX_OK)
            return CX_EPARSE;
        *ms = us / 1000 - (us % 1000 < 0); /* floor */
        return CX_OK;
    }
    double d;
    if (!dec__number(v, &d) || d < 0 || d > 253402300799999.0)
        return CX_EPARSE;
    *ms = (int64_t)d;
    return CX_OK;
}

cx_err track_decode_object(const json_t *obj, int64_t now_ms, int64_t skew_ms, const char *ptr,
                           track_msg *out, track_reject *why)
{
    msg__clear(out);
    if (!ptr)
        ptr = "";
    if (!json_is_object(obj)) {
        track__reject(why, "not_object", "%s: a telemetry message is a JSON object",
                      ptr[0] ? ptr : "/");
        return CX_EPARSE;
    }
    const json_t *dev = json_object_get(obj, "device");
    if (!dev) {
        track__reject(why, "missing_field", "%s/device: is required", ptr);
        return CX_EPARSE;
    }
    if (!json_is_string(dev) || !track_id_valid(json_string_value(dev))) {
        track__reject(why, "bad_device", "%s/device: must be a registered device id (1-64 of "
                      "A-Z a-z 0-9 . _ : -)", ptr);
        return CX_EPARSE;
    }
    snprintf(out->device, sizeof out->device, "%s", json_string_value(dev));
    const json_t *ts = json_object_get(obj, "ts");
    if (!ts) {
        track__reject(why, "missing_field", "%s/ts: is required (RFC 3339 or epoch ms)", ptr);
        return CX_EPARSE;
    }
    if (track__parse_ts(ts, &out->ts_ms) != CX_OK) {
        track__reject(why, "bad_timestamp", "%s/ts: must be an RFC 3339 date-time with a zone "
                      "or milliseconds since the epoch", ptr);
        return CX_EPARSE;
    }
    static const char *const need[2] = {"lat", "lon"};
    double *dst[2] = {&out->lat, &out->lon};
    const double lim[2] = {90, 180};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(obj, need[i]);
        if (!v) {
            track__reject(why, "missing_field", "%s/%s: is required", ptr, need[i]);
            return CX_EPARSE;
        }
        if (!dec__number(v, dst[i]) || *dst[i] < -lim[i] || *dst[i] > lim[i]) {
            track__reject(why, "bad_coordinates", "%s/%s: must be a number from %g to %g", ptr,
                          need[i], -lim[i], lim[i]);
            return CX_EPARSE;
        }
    }
    if (dec__opt(obj, "speed_kmh", 0, 2000, ptr, &out->speed_kmh, why) ||
        dec__opt(obj, "heading", 0, 360, ptr, &out->heading, why) ||
        dec__opt(obj, "temp_c", -100, 150, ptr, &out->temp_c, why) ||
        dec__opt(obj, "battery_pct", 0, 100, ptr, &out->battery_pct, why))
        return CX_EPARSE;
    const json_t *seal = json_object_get(obj, "seal");
    if (seal && !json_is_null(seal)) {
        const char *s = json_string_value(seal);
        if (s && strcmp(s, "closed") == 0)
            out->seal = TRACK_SEAL_CLOSED;
        else if (s && strcmp(s, "open") == 0)
            out->seal = TRACK_SEAL_OPEN;
        else if (s && strcmp(s, "tampered") == 0)
            out->seal = TRACK_SEAL_TAMPERED;
        else {
            track__reject(why, "bad_field", "%s/seal: must be \"closed\", \"open\" or "
                          "\"tampered\"", ptr);
            return CX_EPARSE;
        }
    }
    const json_t *door = json_object_get(obj, "door");
    if (door && !json_is_null(door)) {
        const char *s = json_string_value(door);
        if (s && strcmp(s, "closed") == 0)
            out->door = TRACK_DOOR_CLOSED;
        else if (s && strcmp(s, "open") == 0)
            out->door = TRACK_DOOR_OPEN;
        else {
            track__reject(why, "bad_field", "%s/door: must be \"closed\" or \"open\"", ptr);
            return CX_EPARSE;
        }
    }
    return msg__plausible(out, now_ms, skew_ms, ptr, why);
}

cx_err track_decode_json(const char *text, size_t len, int64_t now_ms, int64_t skew_ms,
                         track_msg *out, track_reject *why)
{
    json_error_t e;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        msg__clear(out);
        track__reject(why, "malformed_json", "not valid JSON: %s (line %d, column %d)", e.text,
                      e.line, e.column);
        return CX_EPARSE;
    }
    cx_err r = track_decode_object(o, now_ms, skew_ms, "", out, why);
    json_decref(o);
    return r;
}

/* ---- Traccar / OsmAnd ------------------------------------------------------------ */

void track_osmand_begin(track_osmand *o)
{
    memset(o, 0, sizeof *o);
    msg__clear(&o->m);
}

static void osm__bad(track_osmand *o, const char *code, const char *fmt, ...)
{
    if (o->bad)
        return;
    o->bad = true;
    snprintf(o->why.code, sizeof o->why.code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->why.message, sizeof o->why.message, fmt, ap);
    va_end(ap);
}

static bool osm__double(const char *v, double *out)
{
    return v && cx_parse_double(v, out) && isfinite(*out);
}

/* Epoch seconds, epoch milliseconds (Traccar: values from 2^31 on are ms),
 * ISO 8601 with a zone, or "yyyy-MM-dd HH:mm:ss" taken as UTC. */
static bool osm__timestamp(const char *v, int64_t *ms)
{
    int64_t n;
    if (cx_parse_i64(v, &n)) {
        if (n < 0)
            return false;
        *ms = n < 2147483647LL ? n * 1000 : n;
        return true;
    }
    int64_t us;
    if (strchr(v, 'T')) {
        if (cx_rfc3339_parse(v, &us) != CX_OK)
            return false;
        *ms = us / 1000;
        return true;
    }
    char iso[40];
    size_t len = strlen(v);
    if (len != 19 || v[10] != ' ')
        return false;
    memcpy(iso, v, 19);
    iso[10] = 'T';
    iso[19] = 'Z';
    iso[20] = '\0';
    if (cx_rfc3339_parse(iso, &us) != CX_OK)
        return false;
    *ms = us / 1000;
    return true;
}

void track_osmand_param(track_osmand *o, const char *key, const char *value)
{
    if (!key || !value)
        return;
    double d;
    if (strcmp(key, "id") == 0 || strcmp(key, "deviceid") == 0) {
        if (!track_id_valid(value))
            osm__bad(o, "bad_device", "/%s: must be a registered device id (1-64 of A-Z a-z "
                     "0-9 . _ : -)", key);
        else {
            snprintf(o->m.device, sizeof o->m.device, "%s", value);
            o->have_id = true;
        }
    } else if (strcmp(key, "lat") == 0) {
        if (!osm__double(value, &d) || d < -90 || d > 90)
            osm__bad(o, "bad_coordinates", "/lat: must be a number from -90 to 90");
        else {
            o->m.lat = d;
            o->have_lat = true;
        }
    } else if (strcmp(key, "lon") == 0) {
        if (!osm__double(value, &d) || d < -180 || d > 180)
            osm__bad(o, "bad_coordinates", "/lon: must be a number from -180 to 180");
        else {
            o->m.lon = d;
            o->have_lon = true;
        }
    } else if (strcmp(key, "location") == 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", value);
        char *comma = strchr(buf, ',');
        double la, lo;
        if (!comma)
            osm__bad(o, "bad_coordinates", "/location: must be \"lat,lon\"");
        else {
            *comma = '\0';
            if (!osm__double(buf, &la) || !osm__double(comma + 1, &lo) || la < -90 || la > 90 ||
                lo < -180 || lo > 180)
                osm__bad(o, "bad_coordinates", "/location: must be \"lat,lon\" in range");
            else {
                o->m.lat = la;
                o->m.lon = lo;
                o->have_lat = o->have_lon = true;
            }
        }
    } else if (strcmp(key, "timestamp") == 0) {
        if (!osm__timestamp(value, &o->ts_ms) || o->ts_ms == 0)
            osm__bad(o, "bad_timestamp", "/timestamp: must be epoch seconds or milliseconds, "
                     "ISO 8601, or yyyy-MM-dd HH:mm:ss");
    } else if (strcmp(key, "speed") == 0) {
        if (!osm__double(value, &d) || d > 1100)
            osm__bad(o, "bad_field", "/speed: must be a number of knots");
        else if (d >= 0)
            o->m.speed_kmh = d * KNOT_KMH;
    } else if (strcmp(key, "bearing") == 0 || strcmp(key, "heading") == 0) {
        if (!osm__double(value, &d) || d > 360)
            osm__bad(o, "bad_field", "/%s: must be a number of degrees", key);
        else if (d >= 0) /* -1: unknown */
            o->m.heading = d == 360 ? 0 : d;
    } else if (strcmp(key, "batt") == 0 || strcmp(key, "battery_pct") == 0) {
        if (!osm__double(value, &d) || d > 100)
            osm__bad(o, "bad_field", "/%s: must be a percentage", key);
        else if (d >= 0)
            o->m.battery_pct = d;
    } else if (strcmp(key, "valid") == 0) {
        o->invalid = !(strcmp(value, "true") == 0 || strcmp(value, "1") == 0);
    } else if (strcmp(key, "seal") == 0) {
        if (strcmp(value, "closed") == 0)
            o->m.seal = TRACK_SEAL_CLOSED;
        else if (strcmp(value, "open") == 0)
            o->m.seal = TRACK_SEAL_OPEN;
        else if (strcmp(value, "tampered") == 0)
            o->m.seal = TRACK_SEAL_TAMPERED;
        else
            osm__bad(o, "bad_field", "/seal: must be closed, open or tampered");
    } else if (strcmp(key, "door") == 0) {
        if (strcmp(value, "closed") == 0)
            o->m.door = TRACK_DOOR_CLOSED;
        else if (strcmp(value, "open") == 0)
            o->m.door = TRACK_DOOR_OPEN;
        else
            osm__bad(o, "bad_field", "/door: must be closed or open");
    } else if (strcmp(key, "temp_c") == 0 || strcmp(key, "temp") == 0) {
        if (!osm__double(value, &d) || d < -100 || d > 150)
            osm__bad(o, "bad_field", "/%s: must be degrees Celsius from -100 to 150", key);
        else
            o->m.temp_c = d;
    }
    /* altitude, accuracy, hdop, cell, wifi, ignition, driverUniqueId and any
     * other attribute: accepted and not kept, like Traccar's extras. */
}

static int osm__hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decoding of application/x-www-form-urlencoded text, in place. */
static void osm__unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '+')
            *w++ = ' ';
        else if (*r == '%' && osm__hex(r[1]) >= 0 && osm__hex(r[2]) >= 0) {
            *w++ = (char)(osm__hex(r[1]) * 16 + osm__hex(r[2]));
            r += 2;
        } else
            *w++ = *r;
    }
    *w = '\0';
}

void track_osmand_query(track_osmand *o, const char *qs, size_t len)
{
    if (len && qs[0] == '?') {
        qs++;
        len--;
    }
    while (len) {
        size_t n = 0;
        while (n < len && qs[n] != '&')
            n++;
        if (n > 0 && n < 1024) {
            char pair[1024];
            memcpy(pair, qs, n);
            pair[n] = '\0';
            if (!memchr(pair, '\0', n)) {
                char *eq = strchr(pair, '=');
                const char *val = "";
                if (eq) {
                    *eq = '\0';
                    val = eq + 1;
                }
                osm__unescape(pair);
                char v[1024];
                snprintf(v, sizeof v, "%s", val);
                osm__unescape(v);
                track_osmand_param(o, pair, v);
            }
        } else if (n >= 1024) {
            osm__bad(o, "bad_field", "a parameter is longer than 1023 bytes");
        }
        qs += n;
        len -= n;
        if (len) {
            qs++;
            len--;
        }
    }
}

cx_err track_osmand_end(track_osmand *o, int64_t now_ms, int64_t skew_ms, track_msg *out,
                        track_reject *why)
{
    msg__clear(out);
    if (o->bad) {
        if (why)
            *why = o->why;
        if (o->have_id)
            snprintf(out->device, sizeof out->device, "%s", o->m.device);
        return CX_EPARSE;
    }
    if (!o->have_id) {
        track__reject(why, "missing_field", "/id: is required (the device's registered id)");
        return CX_EPARSE;
    }
    *out = o->m;
    if (!o->have_lat || !o->have_lon) {
        track__reject(why, "missing_field", "/lat, /lon: a position is required");
        return CX_EPARSE;
    }
    if (o->invalid) {
        track__reject(why, "invalid_fix", "/valid: the device reports no valid fix");
        return CX_EPARSE;
    }
    out->ts_ms = o->ts_ms ? o->ts_ms : now_ms; /* Traccar: no timestamp = now */
    return msg__plausible(out, now_ms, skew_ms, "", why);
}

cx_err track_osmand_json(const char *text, size_t len, int64_t now_ms, int64_t skew_ms,
                         track_msg *out, track_reject *why)
{
    msg__clear(out);
    json_error_t e;
    json_t *o = json_loadb(text, len, 0, &e);
    if (!o) {
        track__reject(why, "malformed_json", "not valid JSON: %s (line %d, column %d)", e.text,
                      e.line, e.column);
        return CX_EPARSE;
    }
    cx_err r = CX_EPARSE;
    const json_t *loc = json_object_get(o, "location");
    const json_t *coords = json_object_get(loc, "coords");
    const char *id = json_string_value(json_object_get(o, "device_id"));
    if (!id)
        track__reject(why, "missing_field", "/device_id: is required");
    else if (!track_id_valid(id))
        track__reject(why, "bad_device", "/device_id: must be a registered device id");
    else if (!json_is_object(loc) || !json_is_object(coords))
        track__reject(why, "missing_field", "/location/coords: is required");
    else {
        snprintf(out->device, sizeof out->device, "%s", id);
        double d;
        bool ok = dec__number(json_object_get(coords, "latitude"), &out->lat) &&
                  dec__number(json_object_get(coords, "longitude"), &out->lon) &&
                  out->lat >= -90 && out->lat <= 90 && out->lon >= -180 && out->lon <= 180;
        const json_t *ts = json_object_get(loc, "timestamp");
        if (!ok)
            track__reject(why, "bad_coordinates", "/location/coords: latitude and longitude "
                          "must be numbers in range");
        else if (ts && track__parse_ts(ts, &out->ts_ms) != CX_OK)
            track__reject(why, "bad_timestamp", "/location/timestamp: must be ISO 8601");
        else {
            if (!ts)
                out->ts_ms = now_ms;
            /* Traccar Client reports m/s here and -1 for "unknown". */
            if (dec__number(json_object_get(coords, "speed"), &d) && d >= 0 && d < 600)
                out->speed_kmh = d * 3.6;
            if (dec__number(json_object_get(coords, "heading"), &d) && d >= 0 && d <= 360)
                out->heading = d == 360 ? 0 : d;
            if (dec__number(json_object_get(json_object_get(loc, "battery"), "level"), &d) &&
                d >= 0 && d <= 1)
                out->battery_pct = d * 100;
            r = msg__plausible(out, now_ms, skew_ms, "", why);
        }
    }
    json_decref(o);
    return r;
}

char *track__payload_text(const char *p, size_t len)
{
    bool capped = len > 1024;
    if (capped)
        len = 1024;
    size_t cp, use = 0;
    bool text = false;
    /* a cap in the middle of a UTF-8 sequence still leaves text */
    for (size_t k = 0; k <= (capped ? 3u : 0u) && k <= len && !text; k++)
        if (cx_utf8_count(p, len - k, &cp) && !memchr(p, '\0', len - k)) {
            text = true;
            use = len - k;
        }
    if (text)
        return strndup(p, use);
    char *out = malloc(4 + 2 * len + 1);
    if (!out)
        return NULL;
    memcpy(out, "hex:", 4);
    cx_hex((const uint8_t *)p, len, out + 4);
    return out;
}
