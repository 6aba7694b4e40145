/* The Remote ID message encoder: the inverse of decode.c for every message
 * type, so the simulator broadcasts what real transmitters do and the tests
 * round-trip every field at its edges. Values are clamped to what a field
 * can carry; NAN writes the standard's null encoding. */
#include "drones_int.h"

#include <math.h>
#include <string.h>

void drones__put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void drones__put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void enc__alt(uint8_t *p, double m)
{
    long v = 0;
    if (!isnan(m)) {
        v = lround((m + 1000.0) * 2.0);
        v = v < 0 ? 0 : v > 65535 ? 65535 : v; /* -1000 m and below: null */
    }
    drones__put16(p, (uint16_t)v);
}

static void enc__latlon(uint8_t *p, double lat, double lon)
{
    int32_t a = 0, b = 0;
    if (!isnan(lat) && !isnan(lon)) {
        a = (int32_t)llround(fmax(-90, fmin(90, lat)) * 1e7);
        b = (int32_t)llround(fmax(-180, fmin(180, lon)) * 1e7);
    }
    drones__put32(p, (uint32_t)a);
    drones__put32(p + 4, (uint32_t)b);
}

static void enc__epoch2019(uint8_t *p, int64_t unix_s)
{
    int64_t v = unix_s > DRONES_EPOCH_2019 ? unix_s - DRONES_EPOCH_2019 : 0;
    drones__put32(p, v > 0xffffffffLL ? 0xffffffffu : (uint32_t)v);
}

static void enc__location(const drones_loc *l, uint8_t *m)
{
    uint8_t f = (uint8_t)((l->status & 0x0f) << 4 | (l->height_ref & 1) << 2);
    /* direction */
    unsigned dir = 361;
    if (!isnan(l->direction_deg) && l->direction_deg >= 0 && l->direction_deg <= 360)
        dir = (unsigned)lround(l->direction_deg);
    if (dir >= 180) {
        f |= 2;
        dir -= 180;
    }
    m[2] = (uint8_t)dir;
    /* horizontal speed */
    double sp = isnan(l->speed_h_mps) ? 255 : fmax(0, fmin(254.25, l->speed_h_mps));
    if (sp <= 63.75) {
        m[3] = (uint8_t)lround(sp / 0.25);
    } else {
        f |= 1;
        long r = lround((sp - 63.75) / 0.75);
        m[3] = (uint8_t)(r > 255 ? 255 : r);
    }
    /* vertical speed: 63 m/s is null */
    double vs = isnan(l->speed_v_mps) ? 63 : fmax(-62, fmin(62, l->speed_v_mps));
    m[4] = (uint8_t)(int8_t)lround(vs / 0.5);
    m[1] = f;
    enc__latlon(m + 5, l->lat, l->lon);
    enc__alt(m + 13, l->alt_baro_m);
    enc__alt(m + 15, l->alt_geo_m);
    enc__alt(m + 17, l->height_m);
    m[19] = (uint8_t)((l->acc_v & 0x0f) << 4 | (l->acc_h & 0x0f));
    m[20] = (uint8_t)((l->acc_baro & 0x0f) << 4 | (l->acc_speed & 0x0f));
    uint16_t ts = 0xffff;
    if (!isnan(l->timestamp_s) && l->timestamp_s >= 0 && l->timestamp_s <= 3600)
        ts = (uint16_t)lround(l->timestamp_s * 10);
    drones__put16(m + 21, ts);
    m[23] = l->acc_ts & 0x0f;
}

static void enc__auth(const drones_auth *a, uint8_t *m)
{
    m[1] = (uint8_t)((a->auth_type & 0x0f) << 4 | (a->page & 0x0f));
    if ((a->page & 0x0f) == 0) {
        m[2] = a->last_page;
        m[3] = a->length;
        enc__epoch2019(m + 4, a->timestamp);
        memcpy(m + 8, a->data, 17);
    } else {
        memcpy(m + 2, a->data, 23);
    }
}

static void enc__system(const drones_sys *s, uint8_t *m)
{
    m[1] = (uint8_t)((s->class_type & 0x07) << 2 | (s->op_loc_type & 0x03));
    enc__latlon(m + 2, s->op_lat, s->op_lon);
    drones__put16(m + 10, s->area_count);
    double r = isnan(s->area_radius_m) ? 0 : fmax(0, fmin(2550, s->area_radius_m));
    m[12] = (uint8_t)lround(r / 10);
    enc__alt(m + 13, s->area_ceiling_m);
    enc__alt(m + 15, s->area_floor_m);
    m[17] = (uint8_t)((s->category_eu & 0x0f) << 4 | (s->class_eu & 0x0f));
    enc__alt(m + 18, s->op_alt_geo_m);
    enc__epoch2019(m + 20, s->timestamp);
}

void drones_msg_encode(const drones_msg *msg, uint8_t m[DRONES_MSG_SIZE])
{
    memset(m, 0, DRONES_MSG_SIZE);
    m[0] = (uint8_t)((msg->type & 0x0f) << 4 | (msg->version & 0x0f));
    switch (msg->type) {
    case DRONES_MT_BASIC_ID:
        m[1] = (uint8_t)((msg->u.basic.id_type & 0x0f) << 4 | (msg->u.basic.ua_type & 0x0f));
        memcpy(m + 2, msg->u.basic.raw, 20);
        break;
    case DRONES_MT_LOCATION: enc__location(&msg->u.loc, m); break;
    case DRONES_MT_AUTH: enc__auth(&msg->u.auth, m); break;
    case DRONES_MT_SELF_ID:
        m[1] = msg->u.self_id.desc_type;
        memcpy(m + 2, msg->u.self_id.raw, 23);
        break;
    case DRONES_MT_SYSTEM: enc__system(&msg->u.sys, m); break;
    case DRONES_MT_OPERATOR_ID:
        m[1] = msg->u.op.op_id_type;
        memcpy(m + 2, msg->u.op.raw, 20);
        break;
    default: break;
    }
}

size_t drones_pack_encode(const drones_msg *msgs, size_t n, uint8_t version, uint8_t *out,
                          size_t cap)
{
    size_t len = 3 + n * DRONES_MSG_SIZE;
    if (n > DRONES_PACK_MAX || cap < len)
        return 0;
    out[0] = (uint8_t)(DRONES_MT_PACK << 4 | (version & 0x0f));
    out[1] = DRONES_MSG_SIZE;
    out[2] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        drones_msg_encode(&msgs[i], out + 3 + i * DRONES_MSG_SIZE);
    return len;
}

void drones_msg_init(drones_msg *m, drones_msg_type type, uint8_t version)
{
    memset(m, 0, sizeof *m);
    m->type = (uint8_t)type;
    m->version = version;
    if (type == DRONES_MT_LOCATION) {
        drones_loc *l = &m->u.loc;
        l->direction_deg = l->speed_h_mps = l->speed_v_mps = NAN;
        l->lat = l->lon = l->alt_baro_m = l->alt_geo_m = l->height_m = NAN;
        l->timestamp_s = NAN;
    } else if (type == DRONES_MT_SYSTEM) {
        drones_sys *s = &m->u.sys;
        s->op_lat = s->op_lon = s->area_ceiling_m = s->area_floor_m = s->op_alt_geo_m = NAN;
        s->area_count = 1;
    }
}

void drones_msg_set_text(drones_msg *m, const char *text)
{
    uint8_t *raw = NULL;
    size_t cap = 0;
    char *out = NULL;
    size_t outcap = 0;
    switch (m->type) {
    case DRONES_MT_BASIC_ID:
        raw = m->u.basic.raw, cap = 20, out = m->u.basic.uas_id, outcap = DRONES_UAS_ID_MAX;
        break;
    case DRONES_MT_SELF_ID:
        raw = m->u.self_id.raw, cap = 23, out = m->u.self_id.text, outcap = DRONES_TEXT_MAX;
        break;
    case DRONES_MT_OPERATOR_ID:
        raw = m->u.op.raw, cap = 20, out = m->u.op.op_id, outcap = DRONES_UAS_ID_MAX;
        break;
    default: return;
    }
    memset(raw, 0, cap);
    size_t n = strlen(text);
    memcpy(raw, text, n < cap ? n : cap);
    drones__text(raw, cap, out, outcap);
}
