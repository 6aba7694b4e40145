/* Telemetry decoders: the JSON payload (MQTT and /v1/telemetry) and the
 * Traccar/OsmAnd protocol (query string, form body, Traccar Client JSON).
 * Every refusal carries a stable code and a sentence naming the field. */
#include "track_int.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
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

/* The members of a telemetry object, whichever parser found them. */
enum { FV_ABSENT, FV_NULL, FV_STRING, FV_NUMBER, FV_OTHER };
typedef struct {
    int type;
    const char *s; /* FV_STRING: not NUL-terminated */
    size_t slen;
    double num;
} fval;
typedef struct {
    fval device, ts, lat, lon, speed, heading, temp, batt, seal, door;
} fields;

static const struct {
    const char *name;
    size_t off;
} field_names[] = {
    {"device", offsetof(fields, device)}, {"ts", offsetof(fields, ts)},
    {"lat", offsetof(fields, lat)},       {"lon", offsetof(fields, lon)},
    {"speed_kmh", offsetof(fields, speed)}, {"heading", offsetof(fields, heading)},
    {"temp_c", offsetof(fields, temp)},   {"battery_pct", offsetof(fields, batt)},
    {"seal", offsetof(fields, seal)},     {"door", offsetof(fields, door)},
};
#define NFIELD_NAMES (sizeof field_names / sizeof field_names[0])

static void dec__from_json(const json_t *obj, fields *f)
{
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < NFIELD_NAMES; i++) {
        const json_t *v = json_object_get(obj, field_names[i].name);
        fval *fv = (fval *)((char *)f + field_names[i].off);
        if (!v)
            continue;
        if (json_is_null(v))
            fv->type = FV_NULL;
        else if (json_is_string(v)) {
            fv->type = FV_STRING;
            fv->s = json_string_value(v);
            fv->slen = json_string_length(v);
        } else if (json_is_number(v)) {
            fv->type = FV_NUMBER;
            fv->num = json_number_value(v);
        } else
            fv->type = FV_OTHER;
    }
}

static bool fv__eq(const fval *v, const char *lit)
{
    size_t n = strlen(lit);
    return v->type == FV_STRING && v->slen == n && memcmp(v->s, lit, n) == 0;
}

static bool fv__number(const fval *v, double *out)
{
    if (v->type != FV_NUMBER || !isfinite(v->num))
        return false;
    *out = v->num;
    return true;
}

static cx_err fv__opt(const fval *v, const char *key, double lo, double hi, const char *ptr,
                      double *out, track_reject *why)
{
    if (v->type == FV_ABSENT || v->type == FV_NULL)
        return CX_OK;
    double d;
    if (!fv__number(v, &d) || d < lo || d > hi) {
        track__reject(why, "bad_field", "%s/%s: must be a number from %g to %g", ptr, key, lo, hi);
        return CX_EPARSE;
    }
    *out = d;
    return CX_OK;
}

static cx_err fv__ts(const fval *v, int64_t *ms)
{
    if (v->type == FV_STRING) {
        char buf[72];
        if (v->slen >= sizeof buf || memchr(v->s, '\0', v->slen))
            return CX_EPARSE;
        memcpy(buf, v->s, v->slen);
        buf[v->slen] = '\0';
        int64_t us;
        if (cx_rfc3339_parse(buf, &us) != CX_OK)
            return CX_EPARSE;
        *ms = us / 1000 - (us % 1000 < 0); /* floor */
        return CX_OK;
    }
    double d;
    if (!fv__number(v, &d) || d < 0 || d > 253402300799999.0)
        return CX_EPARSE;
    *ms = (int64_t)d;
    return CX_OK;
}

cx_err track__parse_ts(const json_t *v, int64_t *ms)
{
    fval fv = {FV_OTHER, NULL, 0, 0};
    if (json_is_string(v)) {
        fv.type = FV_STRING;
        fv.s = json_string_value(v);
        fv.slen = json_string_length(v);
    } else if (json_is_number(v)) {
        fv.type = FV_NUMBER;
        fv.num = json_number_value(v);
    }
    return fv__ts(&fv, ms);
}

/* Every rule for a telemetry message, once for both parsers. */
static cx_err dec__validate(const fields *f, int64_t now_ms, int64_t skew_ms, const char *ptr,
                            track_msg *out, track_reject *why)
{
    if (f->device.type == FV_ABSENT) {
        track__reject(why, "missing_field", "%s/device: is required", ptr);
        return CX_EPARSE;
    }
    char dev[TRACK_ID_MAX + 1];
    if (f->device.type != FV_STRING || f->device.slen > TRACK_ID_MAX) {
        track__reject(why, "bad_device", "%s/device: must be a registered device id (1-64 of "
                      "A-Z a-z 0-9 . _ : -)", ptr);
        return CX_EPARSE;
    }
    memcpy(dev, f->device.s, f->device.slen);
    dev[f->device.slen] = '\0';
    if (!track_id_valid(dev) || strlen(dev) != f->device.slen) {
        track__reject(why, "bad_device", "%s/device: must be a registered device id (1-64 of "
                      "A-Z a-z 0-9 . _ : -)", ptr);
        return CX_EPARSE;
    }
    memcpy(out->device, dev, f->device.slen + 1);
    if (f->ts.type == FV_ABSENT) {
        track__reject(why, "missing_field", "%s/ts: is required (RFC 3339 or epoch ms)", ptr);
        return CX_EPARSE;
    }
    if (fv__ts(&f->ts, &out->ts_ms) != CX_OK) {
        track__reject(why, "bad_timestamp", "%s/ts: must be an RFC 3339 date-time with a zone "
                      "or milliseconds since the epoch", ptr);
        return CX_EPARSE;
    }
    static const char *const need[2] = {"lat", "lon"};
    const fval *src[2] = {&f->lat, &f->lon};
    double *dst[2] = {&out->lat, &out->lon};
    const double lim[2] = {90, 180};
    for (int i = 0; i < 2; i++) {
        if (src[i]->type == FV_ABSENT) {
            track__reject(why, "missing_field", "%s/%s: is required", ptr, need[i]);
            return CX_EPARSE;
        }
        if (!fv__number(src[i], dst[i]) || *dst[i] < -lim[i] || *dst[i] > lim[i]) {
            track__reject(why, "bad_coordinates", "%s/%s: must be a number from %g to %g", ptr,
                          need[i], -lim[i], lim[i]);
            return CX_EPARSE;
        }
    }
    if (fv__opt(&f->speed, "speed_kmh", 0, 2000, ptr, &out->speed_kmh, why) ||
        fv__opt(&f->heading, "heading", 0, 360, ptr, &out->heading, why) ||
        fv__opt(&f->temp, "temp_c", -100, 150, ptr, &out->temp_c, why) ||
        fv__opt(&f->batt, "battery_pct", 0, 100, ptr, &out->battery_pct, why))
        return CX_EPARSE;
    if (f->seal.type != FV_ABSENT && f->seal.type != FV_NULL) {
        if (fv__eq(&f->seal, "closed"))
            out->seal = TRACK_SEAL_CLOSED;
        else if (fv__eq(&f->seal, "open"))
            out->seal = TRACK_SEAL_OPEN;
        else if (fv__eq(&f->seal, "tampered"))
            out->seal = TRACK_SEAL_TAMPERED;
        else {
            track__reject(why, "bad_field", "%s/seal: must be \"closed\", \"open\" or "
                          "\"tampered\"", ptr);
            return CX_EPARSE;
        }
    }
    if (f->door.type != FV_ABSENT && f->door.type != FV_NULL) {
        if (fv__eq(&f->door, "closed"))
            out->door = TRACK_DOOR_CLOSED;
        else if (fv__eq(&f->door, "open"))
            out->door = TRACK_DOOR_OPEN;
        else {
            track__reject(why, "bad_field", "%s/door: must be \"closed\" or \"open\"", ptr);
            return CX_EPARSE;
        }
    }
    return msg__plausible(out, now_ms, skew_ms, ptr, why);
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
    fields f;
    dec__from_json(obj, &f);
    return dec__validate(&f, now_ms, skew_ms, ptr, out, why);
}

/* ---- the fast path ----------------------------------------------------------------------
 * Telemetry is nearly always a flat object of plain strings and numbers;
 * parsing it with jansson costs a dozen allocations. This scanner takes
 * exactly that shape (no escapes, ASCII strings, no nesting, no repeated
 * member) and gives up on anything else, which then goes to jansson. The
 * fuzz target checks that both paths always agree. */

static const char *fp__ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* A plain string: returns the closing quote, or NULL to give up. */
static const char *fp__str(const char *p, const char *e)
{
    for (; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p;
        if (c == '\\' || c < 0x20 || c >= 0x80)
            return NULL;
    }
    return NULL;
}

/* A JSON number by the grammar; NULL to give up (also on very long
 * integers, which jansson refuses as too big). */
static const char *fp__num(const char *p, const char *e, double *out)
{
    const char *s = p;
    bool frac = false;
    if (p < e && *p == '-')
        p++;
    if (p >= e)
        return NULL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (p < e && *p == '.') {
        frac = true;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        frac = true;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    size_t n = (size_t)(p - s);
    if (n >= 64 || (!frac && n > 18))
        return NULL;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return NULL;
    *out = d;
    return p;
}

static bool dec__fast(const char *p, size_t len, fields *f)
{
    const char *e = p + len;
    memset(f, 0, sizeof *f);
    struct {
        const char *k;
        size_t n;
    } other[16];
    size_t nother = 0;
    p = fp__ws(p, e);
    if (p >= e || *p != '{')
        return false;
    p = fp__ws(p + 1, e);
    if (p < e && *p == '}') {
        p = fp__ws(p + 1, e);
        return p == e;
    }
    for (;;) {
        if (p >= e || *p != '"')
            return false;
        const char *k = p + 1, *ke = fp__str(k, e);
        if (!ke)
            return false;
        size_t kn = (size_t)(ke - k);
        p = fp__ws(ke + 1, e);
        if (p >= e || *p != ':')
            return false;
        p = fp__ws(p + 1, e);
        fval v = {FV_OTHER, NULL, 0, 0};
        if (p < e && *p == '"') {
            const char *ve = fp__str(p + 1, e);
            if (!ve)
                return false;
            v.type = FV_STRING;
            v.s = p + 1;
            v.slen = (size_t)(ve - p - 1);
            p = ve + 1;
        } else if (p < e && (*p == '-' || (*p >= '0' && *p <= '9'))) {
            v.type = FV_NUMBER;
            if (!(p = fp__num(p, e, &v.num)))
                return false;
        } else if (e - p >= 4 && memcmp(p, "null", 4) == 0) {
            v.type = FV_NULL;
            p += 4;
        } else if (e - p >= 4 && memcmp(p, "true", 4) == 0) {
            p += 4;
        } else if (e - p >= 5 && memcmp(p, "false", 5) == 0) {
            p += 5;
        } else {
            return false; /* nested, or not JSON: jansson decides */
        }
        fval *slot = NULL;
        for (size_t i = 0; i < NFIELD_NAMES; i++)
            if (strlen(field_names[i].name) == kn && memcmp(field_names[i].name, k, kn) == 0)
                slot = (fval *)((char *)f + field_names[i].off);
        if (slot) {
            if (slot->type != FV_ABSENT)
                return false; /* repeated member */
            *slot = v;
        } else {
            for (size_t i = 0; i < nother; i++)
                if (other[i].n == kn && memcmp(other[i].k, k, kn) == 0)
                    return false;
            if (nother == 16)
                return false;
            other[nother].k = k;
            other[nother].n = kn;
            nother++;
        }
        p = fp__ws(p, e);
        if (p < e && *p == ',') {
            p = fp__ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') {
            p = fp__ws(p + 1, e);
            return p == e;
        }
        return false;
    }
}

cx_err track__decode_text(const char *text, size_t len, int64_t now_ms, int64_t skew_ms,
                          const char *ptr, track_msg *out, track_reject *why)
{
    fields f;
    msg__clear(out);
    if (dec__fast(text, len, &f))
        return dec__validate(&f, now_ms, skew_ms, ptr, out, why);
    json_error_t e;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        track__reject(why, "malformed_json", "not valid JSON: %s (line %d, column %d)", e.text,
                      e.line, e.column);
        return CX_EPARSE;
    }
    cx_err r = track_decode_object(o, now_ms, skew_ms, ptr, out, why);
    json_decref(o);
    return r;
}

cx_err track_decode_json(const char *text, size_t len, int64_t now_ms, int64_t skew_ms,
                         track_msg *out, track_reject *why)
{
    return track__decode_text(text, len, now_ms, skew_ms, "", out, why);
}

/* ---- Traccar / OsmAnd ------------------------------------------------------------ */

bool track_osmand_key_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < TRACK_OSMAND_KEY_MIN || n > TRACK_OSMAND_KEY_MAX)
        return false;
    /* URL-safe as it is (RFC 3986 unreserved): it goes into a server URL */
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-._~", s[i]))
            return false;
    return true;
}

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
        if (!osm__double(value, &d) || d * KNOT_KMH > TRACK_SPEED_MAX_KMH)
            osm__bad(o, "bad_field", "/speed: must be a number of knots, at most %.0f",
                     TRACK_SPEED_MAX_KMH / KNOT_KMH);
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
    } else if (strcmp(key, "key") == 0) {
        /* the device's secret, checked by the caller (docs/track.md) */
        if (strlen(value) <= TRACK_OSMAND_KEY_MAX)
            snprintf(o->key, sizeof o->key, "%s", value);
        else
            o->key[0] = '\0';
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
    /* a member given twice is refused: which of the two speeds would be the
     * device's? (fuzzing found "speed" twice, the second above the bound) */
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
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
            const json_t *sp = json_object_get(coords, "speed");
            if (sp && (!dec__number(sp, &d) || d * 3.6 > TRACK_SPEED_MAX_KMH)) {
                track__reject(why, "bad_field", "/location/coords/speed: must be metres per "
                              "second, at most %.0f", TRACK_SPEED_MAX_KMH / 3.6);
                json_decref(o);
                return CX_EPARSE;
            }
            if (sp && d >= 0)
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

void track__dead_entry(track_entry *e, uint8_t src, const char *code, const char *message,
                       const char *device, const char *payload, size_t len)
{
    memset(e, 0, sizeof *e);
    e->kind = TRACK_ENT_DEAD;
    e->source = src;
    e->recv_us = cx_now_us();
    e->dead = calloc(1, sizeof *e->dead);
    if (!e->dead)
        return;
    snprintf(e->dead->code, sizeof e->dead->code, "%s", code);
    snprintf(e->dead->message, sizeof e->dead->message, "%s", message);
    snprintf(e->dead->device, sizeof e->dead->device, "%s", device ? device : "");
    e->dead->payload = track__payload_text(payload, len);
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
