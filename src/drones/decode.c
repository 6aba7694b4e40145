/* The Remote ID message decoder: ASTM F3411-19 (protocol version 0),
 * ASD-STAN EN 4709-002 (1) and ASTM F3411-22a (2). Later versions keep the
 * layout, so every version is decoded the same way and reported as sent.
 * Nulls follow the standard's "invalid, no value or unknown" encodings;
 * out-of-range values are null too, and reserved bits are ignored. */
#include "drones_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void dec__why(char *why, size_t n, const char *fmt, const char *arg, unsigned v)
{
    if (why && n)
        snprintf(why, n, fmt, arg, v);
}

uint16_t drones__le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t drones__le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Altitudes and heights: uint16 x 0.5 - 1000 m; -1000 (raw 0) is null. */
static double dec__alt(const uint8_t *p)
{
    uint16_t v = drones__le16(p);
    return v == 0 ? NAN : v * 0.5 - 1000.0;
}

/* Latitude/longitude pairs: int32 x 1e-7 degrees; null when both are zero
 * or either is out of range. Division, not multiplication by 1e-7, gives the
 * double nearest the decimal value sent. */
static void dec__latlon(const uint8_t *p, double *lat, double *lon)
{
    int32_t a = (int32_t)drones__le32(p), b = (int32_t)drones__le32(p + 4);
    double la = a / 1e7, lo = b / 1e7;
    if ((a == 0 && b == 0) || la < -90 || la > 90 || lo < -180 || lo > 180) {
        *lat = *lon = NAN;
        return;
    }
    *lat = la;
    *lon = lo;
}

/* Seconds since 2019-01-01T00:00:00Z as Unix seconds; 0 stays 0 (null). */
static int64_t dec__epoch2019(const uint8_t *p)
{
    uint32_t v = drones__le32(p);
    return v == 0 ? 0 : DRONES_EPOCH_2019 + (int64_t)v;
}

/* ASCII fields end at the first NUL; bytes outside printable ASCII become
 * U+FFFD so the text is always valid UTF-8. */
void drones__text(const uint8_t *raw, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && raw[i]; i++) {
        if (raw[i] >= 0x20 && raw[i] < 0x7f) {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)raw[i];
        } else {
            if (o + 3 >= cap)
                break;
            out[o++] = (char)0xef;
            out[o++] = (char)0xbf;
            out[o++] = (char)0xbd;
        }
    }
    out[o] = '\0';
}

/* Binary id types: a UTM-assigned UUID (16 bytes) in its canonical form, a
 * specific session id as hex without trailing zero bytes. */
static void dec__uas_id(drones_msg *m)
{
    const uint8_t *r = m->u.basic.raw;
    char *out = m->u.basic.uas_id;
    if (m->u.basic.id_type == 3) {
        static const int dash[] = {4, 6, 8, 10};
        size_t o = 0;
        for (int i = 0, d = 0; i < 16; i++) {
            if (d < 4 && i == dash[d]) {
                out[o++] = '-';
                d++;
            }
            snprintf(out + o, 3, "%02x", r[i]);
            o += 2;
        }
        out[o] = '\0';
    } else if (m->u.basic.id_type == 4) {
        size_t n = 20;
        while (n > 0 && r[n - 1] == 0)
            n--;
        cx_hex(r, n, out);
    } else {
        drones__text(r, 20, out, DRONES_UAS_ID_MAX);
    }
}

static void dec__basic(const uint8_t *m, drones_msg *out)
{
    out->u.basic.id_type = m[1] >> 4;
    out->u.basic.ua_type = m[1] & 0x0f;
    memcpy(out->u.basic.raw, m + 2, 20);
    dec__uas_id(out);
}

static void dec__location(const uint8_t *m, drones_msg *out)
{
    drones_loc *l = &out->u.loc;
    uint8_t f = m[1];
    l->status = f >> 4;
    l->height_ref = (f >> 2) & 1;
    /* direction: 0..179 plus 180 when the E/W bit is set; 361 is null */
    unsigned dir = m[2] + ((f & 2) ? 180u : 0u);
    l->direction_deg = dir <= 360 ? (double)dir : NAN;
    /* speed: 0.25 m/s steps, or 0.75 m/s steps above 63.75 with the
     * multiplier bit; 255 m/s (raw 255 with the bit) is null */
    double sp = (f & 1) ? m[3] * 0.75 + 63.75 : m[3] * 0.25;
    l->speed_h_mps = sp > 254.25 ? NAN : sp;
    double vs = (int8_t)m[4] * 0.5;
    l->speed_v_mps = vs > 62 || vs < -62 ? NAN : vs;
    dec__latlon(m + 5, &l->lat, &l->lon);
    l->alt_baro_m = dec__alt(m + 13);
    l->alt_geo_m = dec__alt(m + 15);
    l->height_m = dec__alt(m + 17);
    l->acc_h = m[19] & 0x0f;
    l->acc_v = m[19] >> 4;
    l->acc_speed = m[20] & 0x0f;
    l->acc_baro = m[20] >> 4;
    uint16_t ts = drones__le16(m + 21);
    l->timestamp_s = ts <= 36000 ? ts / 10.0 : NAN;
    l->acc_ts = m[23] & 0x0f;
}

static void dec__auth(const uint8_t *m, drones_msg *out)
{
    drones_auth *a = &out->u.auth;
    a->auth_type = m[1] >> 4;
    a->page = m[1] & 0x0f;
    if (a->page == 0) {
        a->last_page = m[2];
        a->length = m[3];
        a->timestamp = dec__epoch2019(m + 4);
        a->ndata = 17;
        memcpy(a->data, m + 8, 17);
    } else {
        a->last_page = a->length = 0;
        a->timestamp = 0;
        a->ndata = 23;
        memcpy(a->data, m + 2, 23);
    }
}

static void dec__system(const uint8_t *m, drones_msg *out)
{
    drones_sys *s = &out->u.sys;
    s->op_loc_type = m[1] & 0x03;
    s->class_type = (m[1] >> 2) & 0x07;
    dec__latlon(m + 2, &s->op_lat, &s->op_lon);
    s->area_count = drones__le16(m + 10);
    s->area_radius_m = m[12] * 10.0;
    s->area_ceiling_m = dec__alt(m + 13);
    s->area_floor_m = dec__alt(m + 15);
    s->class_eu = m[17] & 0x0f;
    s->category_eu = m[17] >> 4;
    s->op_alt_geo_m = dec__alt(m + 18);
    s->timestamp = dec__epoch2019(m + 20);
}

cx_err drones_msg_decode(const uint8_t m[DRONES_MSG_SIZE], drones_msg *out, char *why,
                         size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->type = m[0] >> 4;
    out->version = m[0] & 0x0f;
    switch (out->type) {
    case DRONES_MT_BASIC_ID: dec__basic(m, out); break;
    case DRONES_MT_LOCATION: dec__location(m, out); break;
    case DRONES_MT_AUTH: dec__auth(m, out); break;
    case DRONES_MT_SELF_ID:
        out->u.self_id.desc_type = m[1];
        memcpy(out->u.self_id.raw, m + 2, 23);
        drones__text(m + 2, 23, out->u.self_id.text, sizeof out->u.self_id.text);
        break;
    case DRONES_MT_SYSTEM: dec__system(m, out); break;
    case DRONES_MT_OPERATOR_ID:
        out->u.op.op_id_type = m[1];
        memcpy(out->u.op.raw, m + 2, 20);
        drones__text(m + 2, 20, out->u.op.op_id, sizeof out->u.op.op_id);
        break;
    case DRONES_MT_PACK:
        dec__why(why, whylen, "%sa message pack where a single message belongs (type %u)", "",
                 out->type);
        return CX_EPARSE;
    default:
        dec__why(why, whylen, "%sunknown message type %u", "", out->type);
        return CX_EPARSE;
    }
    return CX_OK;
}

static bool dec__zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

cx_err drones_payload_decode(const uint8_t *p, size_t len, bool exact, drones_msg *out,
                             size_t *count, bool *is_pack, char *why, size_t whylen)
{
    *count = 0;
    *is_pack = false;
    if (len == 0) {
        dec__why(why, whylen, "%sempty payload%u", "", 0);
        return CX_EPARSE;
    }
    if (p[0] >> 4 != DRONES_MT_PACK) {
        if (len < DRONES_MSG_SIZE || (exact && len != DRONES_MSG_SIZE)) {
            dec__why(why, whylen, "%sa message is 25 bytes, not %u", "", (unsigned)len);
            return CX_EPARSE;
        }
        cx_err e = drones_msg_decode(p, out, why, whylen);
        if (e == CX_OK)
            *count = 1;
        return e;
    }
    *is_pack = true;
    if (len < 3) {
        dec__why(why, whylen, "%smessage pack shorter than its 3-byte header (%u bytes)", "",
                 (unsigned)len);
        return CX_EPARSE;
    }
    if (p[1] != DRONES_MSG_SIZE) {
        dec__why(why, whylen, "%smessage pack: single message size must be 25, not %u", "", p[1]);
        return CX_EPARSE;
    }
    size_t n = p[2];
    if (n > DRONES_PACK_MAX) {
        dec__why(why, whylen, "%smessage pack: at most 9 messages, not %u", "", (unsigned)n);
        return CX_EPARSE;
    }
    size_t need = 3 + n * DRONES_MSG_SIZE;
    if (len < need) {
        dec__why(why, whylen, "%smessage pack truncated: %u bytes of its messages missing", "",
                 (unsigned)(need - len));
        return CX_EPARSE;
    }
    if (exact && !dec__zeros(p + need, len - need)) {
        dec__why(why, whylen, "%smessage pack followed by %u bytes that are not padding", "",
                 (unsigned)(len - need));
        return CX_EPARSE;
    }
    for (size_t i = 0; i < n; i++) {
        char inner[160];
        if (drones_msg_decode(p + 3 + i * DRONES_MSG_SIZE, &out[i], inner, sizeof inner)) {
            if (why && whylen)
                snprintf(why, whylen, "message pack: message %zu: %s", i + 1, inner);
            return CX_EPARSE;
        }
    }
    *count = n;
    return CX_OK;
}

/* ---- accuracy tables (F3411-22a table 8, EN 4709-002) ----------------------------- */

static const double acc_h_tab[] = {NAN, 18520, 7408, 3704, 1852, 926, 555.6, 185.2, 92.6,
                                   30, 10, 3, 1};
static const double acc_v_tab[] = {NAN, 150, 45, 25, 10, 3, 1};
static const double acc_sp_tab[] = {NAN, 10, 3, 1, 0.3};

#define NTAB(t) (sizeof t / sizeof t[0])

double drones_acc_h_m(uint8_t e)
{
    return e < NTAB(acc_h_tab) ? acc_h_tab[e] : NAN;
}

double drones_acc_v_m(uint8_t e)
{
    return e < NTAB(acc_v_tab) ? acc_v_tab[e] : NAN;
}

double drones_acc_speed_mps(uint8_t e)
{
    return e < NTAB(acc_sp_tab) ? acc_sp_tab[e] : NAN;
}

double drones_acc_ts_s(uint8_t e)
{
    return e >= 1 && e <= 15 ? e / 10.0 : NAN;
}

/* The best (highest) class whose bound is not better than the value. */
static uint8_t acc__enum(const double *tab, size_t n, double v)
{
    if (isnan(v) || v < 0)
        return 0;
    uint8_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v <= tab[i] + 1e-9)
            best = (uint8_t)i;
    return best;
}

uint8_t drones_acc_h_enum(double m)
{
    return acc__enum(acc_h_tab, NTAB(acc_h_tab), m);
}

uint8_t drones_acc_v_enum(double m)
{
    return acc__enum(acc_v_tab, NTAB(acc_v_tab), m);
}

uint8_t drones_acc_speed_enum(double mps)
{
    return acc__enum(acc_sp_tab, NTAB(acc_sp_tab), mps);
}

uint8_t drones_acc_ts_enum(double s)
{
    if (isnan(s) || s <= 0 || s > 1.5 + 1e-9)
        return 0;
    long e = lround(ceil(s * 10 - 1e-9));
    return (uint8_t)(e < 1 ? 1 : e);
}
