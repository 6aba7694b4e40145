/* Unit tests of the drones module: the decoder against the worked examples
 * of issue 10 (ASTM F3411 / EN 4709-002), round trips of every message type
 * at every field's edge values, the transports and the shared captures,
 * and every rule of the engine on scripted flights. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drones.h"

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    assert_true(cx_unhex(h, out, n));
    return n;
}

static drones_msg decode1(const char *hex)
{
    uint8_t b[64];
    drones_msg m;
    char why[128] = "";
    assert_int_equal(unhex(hex, b), 25);
    if (drones_msg_decode(b, &m, why, sizeof why) != CX_OK)
        fail_msg("%s: %s", hex, why);
    return m;
}

static void close_to(double a, double b)
{
    if (!(fabs(a - b) < 1e-9))
        fail_msg("%.10f != %.10f", a, b);
}

/* ---- the worked examples of the issue ---------------------------------------------- */

static void t_example_basic_id(void **st)
{
    drones_msg m = decode1("00125353455654464739333730303037300000000000000000");
    assert_int_equal(m.type, DRONES_MT_BASIC_ID);
    assert_int_equal(m.version, 0);
    assert_int_equal(m.u.basic.id_type, 1);
    assert_int_equal(m.u.basic.ua_type, 2);
    assert_string_equal(m.u.basic.uas_id, "SSEVTFG93700070");
    json_t *j = drones_msg_json(&m);
    assert_string_equal(json_string_value(json_object_get(j, "ua_type_name")),
                        "helicopter_or_multirotor");
    assert_string_equal(json_string_value(json_object_get(j, "id_type_name")), "serial_number");
    assert_string_equal(json_string_value(json_object_get(j, "type")), "basic_id");
    json_decref(j);
}

static void t_example_location(void **st)
{
    drones_msg m = decode1("122624160a42bf241b6ed1b4b69808ac0870086b53150e0200");
    const drones_loc *l = &m.u.loc;
    assert_int_equal(m.type, DRONES_MT_LOCATION);
    assert_int_equal(m.version, 2);
    assert_int_equal(l->status, 2);
    close_to(l->direction_deg, 216);
    close_to(l->speed_h_mps, 5.5);
    close_to(l->speed_v_mps, 5.0);
    close_to(l->lat, 45.5393090);
    close_to(l->lon, -122.9663890);
    close_to(l->alt_baro_m, 100);
    close_to(l->alt_geo_m, 110);
    close_to(l->height_m, 80);
    assert_int_equal(l->height_ref, 1);
    close_to(drones_acc_h_m(l->acc_h), 3);
    close_to(drones_acc_v_m(l->acc_v), 1);
    close_to(drones_acc_v_m(l->acc_baro), 3);
    close_to(drones_acc_speed_mps(l->acc_speed), 1);
    close_to(l->timestamp_s, 360.5);
    close_to(drones_acc_ts_s(l->acc_ts), 0.2);
    json_t *j = drones_msg_json(&m);
    char *s = cx_json_dump(j, NULL);
    assert_non_null(strstr(s, "\"status_name\":\"airborne\""));
    assert_non_null(strstr(s, "\"lat\":45.539309,\"lon\":-122.966389"));
    assert_non_null(strstr(s, "\"height_ref\":\"ground\""));
    assert_non_null(strstr(s, "\"timestamp_s\":360.5,\"timestamp_acc_s\":0.2"));
    free(s);
    json_decref(j);
}

static void t_example_system(void **st)
{
    drones_msg m = decode1("4004a485251b6edbb3b6010032000000001500000000000000");
    const drones_sys *s = &m.u.sys;
    assert_int_equal(m.type, DRONES_MT_SYSTEM);
    assert_int_equal(s->op_loc_type, 0);
    assert_int_equal(s->class_type, 1);
    close_to(s->op_lat, 45.5443876);
    close_to(s->op_lon, -122.9726866);
    assert_int_equal(s->area_count, 1);
    close_to(s->area_radius_m, 500);
    assert_true(isnan(s->area_ceiling_m) && isnan(s->area_floor_m) && isnan(s->op_alt_geo_m));
    assert_int_equal(s->category_eu, 1);
    assert_int_equal(s->class_eu, 5);
    assert_int_equal(s->timestamp, 0);
    json_t *j = drones_msg_json(&m);
    assert_string_equal(json_string_value(json_object_get(j, "class_eu_name")), "class_4");
    assert_string_equal(json_string_value(json_object_get(j, "category_eu_name")), "open");
    assert_int_equal(json_integer_value(json_object_get(j, "class_eu")), 5);
    assert_true(json_is_null(json_object_get(j, "timestamp")));
    assert_true(json_is_null(json_object_get(j, "area_ceiling_m")));
    json_decref(j);
}

static void t_example_operator_id(void **st)
{
    drones_msg m = decode1("50004742522d4f502d31323341424344000000000000000000");
    assert_int_equal(m.type, DRONES_MT_OPERATOR_ID);
    assert_string_equal(m.u.op.op_id, "GBR-OP-123ABCD");
}

/* ---- nulls and invalid messages --------------------------------------------------- */

static void t_nulls(void **st)
{
    /* direction 361 (181 + E/W), speed 255 (255 with the multiplier),
     * vertical 63 (raw 126), altitudes -1000 (raw 0), lat/lon zero,
     * accuracies 0, timestamp 0xFFFF */
    drones_msg m = decode1("1003b5ff7e" "0000000000000000" "000000000000" "0000" "ffff" "0000");
    const drones_loc *l = &m.u.loc;
    assert_true(isnan(l->direction_deg) && isnan(l->speed_h_mps) && isnan(l->speed_v_mps));
    assert_true(isnan(l->lat) && isnan(l->lon));
    assert_true(isnan(l->alt_baro_m) && isnan(l->alt_geo_m) && isnan(l->height_m));
    assert_true(isnan(l->timestamp_s));
    json_t *j = drones_msg_json(&m);
    const char *keys[] = {"direction_deg", "speed_h_mps", "speed_v_mps", "lat",   "lon",
                          "alt_baro_m",    "alt_geo_m",   "height_m",    "acc_h_m", "acc_v_m",
                          "acc_baro_m",    "acc_speed_mps", "timestamp_s", "timestamp_acc_s"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!json_is_null(json_object_get(j, keys[i])))
            fail_msg("%s is not null", keys[i]);
    json_decref(j);
    /* only one of lat/lon zero: a real position on the equator */
    m = decode1("1000000000" "00000000" "01000000" "000000000000" "0000" "0000" "0000");
    close_to(m.u.loc.lat, 0);
    close_to(m.u.loc.lon, 1e-7);
    /* raw speed 255 without the multiplier is 63.75 m/s, not null */
    m = decode1("1000" "00" "ff" "00" "0000000000000000" "000000000000" "0000" "0000" "0000");
    close_to(m.u.loc.speed_h_mps, 63.75);
}

static void t_invalid(void **st)
{
    uint8_t b[300];
    drones_msg out[9];
    size_t n;
    bool pack;
    char why[200];
    /* unknown type 6 */
    unhex("60000000000000000000000000000000000000000000000000", b);
    assert_int_equal(drones_payload_decode(b, 25, true, out, &n, &pack, why, sizeof why),
                     CX_EPARSE);
    assert_non_null(strstr(why, "unknown message type 6"));
    /* wrong length */
    assert_int_equal(drones_payload_decode(b, 24, true, out, &n, &pack, why, sizeof why),
                     CX_EPARSE);
    /* packs: bad single-message size, too many messages, truncated, nested */
    unhex("f0594f", b);
    assert_int_equal(drones_payload_decode(b, 3, false, out, &n, &pack, why, sizeof why),
                     CX_EPARSE);
    assert_non_null(strstr(why, "size must be 25"));
    unhex("f0194603", b);
    assert_int_equal(drones_payload_decode(b, 4, false, out, &n, &pack, why, sizeof why),
                     CX_EPARSE);
    assert_non_null(strstr(why, "at most 9"));
    unhex("f01901", b);
    assert_int_equal(drones_payload_decode(b, 3, false, out, &n, &pack, why, sizeof why),
                     CX_EPARSE);
    unhex("f01901f0190000000000000000000000000000000000000000000000", b);
    assert_int_equal(drones_payload_decode(b, 28, false, out, &n, &pack, why, sizeof why),
                     CX_EPARSE);
    assert_non_null(strstr(why, "message 1"));
    /* an empty pack is valid; padding after a pack is allowed, junk is not
     * when exact */
    memset(b, 0, sizeof b);
    unhex("f01900", b);
    assert_int_equal(drones_payload_decode(b, 40, true, out, &n, &pack, why, sizeof why), CX_OK);
    assert_true(pack);
    assert_int_equal(n, 0);
    b[30] = 1;
    assert_int_equal(drones_payload_decode(b, 40, true, out, &n, &pack, why, sizeof why),
                     CX_EPARSE);
    assert_int_equal(drones_payload_decode(b, 40, false, out, &n, &pack, why, sizeof why), CX_OK);
}

/* ---- round trips ------------------------------------------------------------------- */

static void roundtrip(const drones_msg *m, drones_msg *back)
{
    uint8_t b[25], b2[25];
    char why[128];
    drones_msg_encode(m, b);
    assert_int_equal(drones_msg_decode(b, back, why, sizeof why), CX_OK);
    drones_msg_encode(back, b2);
    assert_memory_equal(b, b2, 25); /* encode(decode(x)) == x */
}

static void same(double a, double b)
{
    if (!((isnan(a) && isnan(b)) || fabs(a - b) < 1e-7))
        fail_msg("%.9g != %.9g", a, b);
}

static void t_roundtrip_location(void **st)
{
    static const double dirs[] = {0, 1, 179, 180, 181, 359, 360, NAN};
    static const double speeds[] = {0, 0.25, 63.5, 63.75, 64.5, 254.25, NAN};
    static const double vspeeds[] = {-62, -0.5, 0, 0.5, 62, NAN};
    static const double lats[] = {-90, -45.5393090, 0.0000001, 90, NAN};
    static const double lons[] = {-180, -122.966389, 0.0000001, 180, NAN};
    static const double alts[] = {-999.5, -0.5, 0, 100, 31767.5, NAN};
    static const double ts[] = {0, 0.1, 360.5, 3599.9, 3600, NAN};
    drones_msg m, back;
    drones_msg_init(&m, DRONES_MT_LOCATION, 2);
    for (int s = 0; s <= 15; s++) {
        m.u.loc.status = (uint8_t)s;
        roundtrip(&m, &back);
        assert_int_equal(back.u.loc.status, s);
    }
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        m.u.loc.direction_deg = dirs[i];
        roundtrip(&m, &back);
        same(back.u.loc.direction_deg, dirs[i]);
    }
    for (size_t i = 0; i < sizeof speeds / sizeof *speeds; i++) {
        m.u.loc.speed_h_mps = speeds[i];
        roundtrip(&m, &back);
        same(back.u.loc.speed_h_mps, speeds[i]);
    }
    for (size_t i = 0; i < sizeof vspeeds / sizeof *vspeeds; i++) {
        m.u.loc.speed_v_mps = vspeeds[i];
        roundtrip(&m, &back);
        same(back.u.loc.speed_v_mps, vspeeds[i]);
    }
    for (size_t i = 0; i < sizeof lats / sizeof *lats; i++) {
        m.u.loc.lat = lats[i];
        m.u.loc.lon = lons[i];
        roundtrip(&m, &back);
        same(back.u.loc.lat, lats[i]);
        same(back.u.loc.lon, lons[i]);
    }
    for (size_t i = 0; i < sizeof alts / sizeof *alts; i++) {
        m.u.loc.alt_baro_m = m.u.loc.alt_geo_m = m.u.loc.height_m = alts[i];
        m.u.loc.height_ref = (uint8_t)(i & 1);
        roundtrip(&m, &back);
        same(back.u.loc.alt_baro_m, alts[i]);
        same(back.u.loc.alt_geo_m, alts[i]);
        same(back.u.loc.height_m, alts[i]);
        assert_int_equal(back.u.loc.height_ref, i & 1);
    }
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        m.u.loc.timestamp_s = ts[i];
        roundtrip(&m, &back);
        same(back.u.loc.timestamp_s, ts[i]);
    }
    for (int e = 0; e <= 15; e++) {
        m.u.loc.acc_h = m.u.loc.acc_v = m.u.loc.acc_baro = m.u.loc.acc_speed = m.u.loc.acc_ts =
            (uint8_t)e;
        roundtrip(&m, &back);
        assert_int_equal(back.u.loc.acc_h, e);
        assert_int_equal(back.u.loc.acc_v, e);
        assert_int_equal(back.u.loc.acc_baro, e);
        assert_int_equal(back.u.loc.acc_speed, e);
        assert_int_equal(back.u.loc.acc_ts, e);
    }
    /* accuracy tables: every class and the encoders' choice */
    close_to(drones_acc_h_m(1), 18520);
    close_to(drones_acc_h_m(6), 555.6);
    close_to(drones_acc_h_m(12), 1);
    assert_true(isnan(drones_acc_h_m(0)) && isnan(drones_acc_h_m(13)));
    close_to(drones_acc_v_m(1), 150);
    assert_true(isnan(drones_acc_v_m(7)));
    close_to(drones_acc_speed_mps(4), 0.3);
    assert_true(isnan(drones_acc_speed_mps(5)));
    close_to(drones_acc_ts_s(15), 1.5);
    assert_int_equal(drones_acc_h_enum(3), 11);
    assert_int_equal(drones_acc_h_enum(2.5), 11);
    assert_int_equal(drones_acc_h_enum(20000), 0);
    assert_int_equal(drones_acc_v_enum(1), 6);
    assert_int_equal(drones_acc_speed_enum(0.3), 4);
    assert_int_equal(drones_acc_ts_enum(0.2), 2);
    assert_int_equal(drones_acc_ts_enum(0.15), 2);
}

static void t_roundtrip_others(void **st)
{
    drones_msg m, back;
    /* Basic ID: every id and UA type, a 20-character id */
    drones_msg_init(&m, DRONES_MT_BASIC_ID, 1);
    drones_msg_set_text(&m, "ABCDEFGHIJ0123456789");
    for (int t = 0; t <= 15; t++) {
        m.u.basic.id_type = (uint8_t)(t == 3 || t == 4 ? 1 : t);
        m.u.basic.ua_type = (uint8_t)t;
        roundtrip(&m, &back);
        assert_int_equal(back.u.basic.ua_type, t);
        assert_string_equal(back.u.basic.uas_id, "ABCDEFGHIJ0123456789");
    }
    /* binary id types: a UUID and a session id */
    m.u.basic.id_type = 3;
    for (int i = 0; i < 20; i++)
        m.u.basic.raw[i] = (uint8_t)(i < 16 ? 0x10 + i : 0);
    roundtrip(&m, &back);
    assert_string_equal(back.u.basic.uas_id, "10111213-1415-1617-1819-1a1b1c1d1e1f");
    m.u.basic.id_type = 4;
    roundtrip(&m, &back);
    assert_string_equal(back.u.basic.uas_id, "101112131415161718191a1b1c1d1e1f");
    /* Authentication: page 0 and the last page, timestamps at the edges */
    drones_msg_init(&m, DRONES_MT_AUTH, 2);
    m.u.auth.auth_type = 5;
    m.u.auth.page = 0;
    m.u.auth.last_page = 15;
    m.u.auth.length = 255;
    m.u.auth.timestamp = 1546300800LL + 0xffffffffLL;
    memset(m.u.auth.data, 0xab, 23);
    roundtrip(&m, &back);
    assert_int_equal(back.u.auth.last_page, 15);
    assert_int_equal(back.u.auth.length, 255);
    assert_int_equal(back.u.auth.timestamp, m.u.auth.timestamp);
    assert_int_equal(back.u.auth.ndata, 17);
    m.u.auth.page = 15;
    roundtrip(&m, &back);
    assert_int_equal(back.u.auth.page, 15);
    assert_int_equal(back.u.auth.ndata, 23);
    assert_memory_equal(back.u.auth.data, m.u.auth.data, 23);
    json_t *j = drones_msg_json(&back);
    assert_true(json_is_null(json_object_get(j, "timestamp")));
    assert_true(json_is_null(json_object_get(j, "last_page")));
    assert_int_equal(strlen(json_string_value(json_object_get(j, "data_hex"))), 46);
    json_decref(j);
    m.u.auth.page = 0;
    m.u.auth.timestamp = 1546300800LL + 1;
    roundtrip(&m, &back);
    j = drones_msg_json(&back);
    assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
                        "2019-01-01T00:00:01Z");
    json_decref(j);
    /* Self-ID: 23 characters, private desc type */
    drones_msg_init(&m, DRONES_MT_SELF_ID, 0);
    m.u.self_id.desc_type = 201;
    drones_msg_set_text(&m, "Survey flight 2024 - N1");
    roundtrip(&m, &back);
    assert_string_equal(back.u.self_id.text, "Survey flight 2024 - N1");
    j = drones_msg_json(&back);
    assert_string_equal(json_string_value(json_object_get(j, "desc_type_name")), "private_use");
    json_decref(j);
    /* System: every field at its edges */
    drones_msg_init(&m, DRONES_MT_SYSTEM, 2);
    m.u.sys.op_loc_type = 2;
    m.u.sys.class_type = 1;
    m.u.sys.op_lat = -89.9999999;
    m.u.sys.op_lon = 179.9999999;
    m.u.sys.area_count = 65535;
    m.u.sys.area_radius_m = 2550;
    m.u.sys.area_ceiling_m = 31767.5;
    m.u.sys.area_floor_m = -999.5;
    m.u.sys.category_eu = 3;
    m.u.sys.class_eu = 7;
    m.u.sys.op_alt_geo_m = 12.5;
    m.u.sys.timestamp = 1700000000;
    roundtrip(&m, &back);
    same(back.u.sys.op_lat, -89.9999999);
    same(back.u.sys.op_lon, 179.9999999);
    assert_int_equal(back.u.sys.area_count, 65535);
    same(back.u.sys.area_radius_m, 2550);
    same(back.u.sys.area_ceiling_m, 31767.5);
    same(back.u.sys.area_floor_m, -999.5);
    assert_int_equal(back.u.sys.category_eu, 3);
    assert_int_equal(back.u.sys.class_eu, 7);
    same(back.u.sys.op_alt_geo_m, 12.5);
    assert_int_equal(back.u.sys.timestamp, 1700000000);
    assert_int_equal(back.u.sys.op_loc_type, 2);
    j = drones_msg_json(&back);
    assert_string_equal(json_string_value(json_object_get(j, "class_eu_name")), "class_6");
    assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
                        "2023-11-14T22:13:20Z");
    json_decref(j);
    m.u.sys.class_type = 0; /* not EU: category and class are null */
    roundtrip(&m, &back);
    j = drones_msg_json(&back);
    assert_true(json_is_null(json_object_get(j, "class_eu")));
    json_decref(j);
    /* Operator ID */
    drones_msg_init(&m, DRONES_MT_OPERATOR_ID, 0);
    drones_msg_set_text(&m, "FIN87astrdge12k8");
    roundtrip(&m, &back);
    assert_string_equal(back.u.op.op_id, "FIN87astrdge12k8");
    /* non-ASCII bytes come out as U+FFFD, still valid UTF-8 */
    m.u.op.raw[0] = 0xff;
    roundtrip(&m, &back);
    assert_memory_equal(back.u.op.op_id, "\xef\xbf\xbd", 3);
}

static void t_pack_roundtrip(void **st)
{
    drones_msg msgs[9], back[9];
    uint8_t buf[300];
    for (int i = 0; i < 9; i++) {
        drones_msg_init(&msgs[i], DRONES_MT_LOCATION, 2);
        msgs[i].u.loc.lat = 10 + i;
        msgs[i].u.loc.lon = 20 + i;
    }
    size_t len = drones_pack_encode(msgs, 9, 2, buf, sizeof buf);
    assert_int_equal(len, 3 + 9 * 25);
    assert_int_equal(drones_pack_encode(msgs, 10, 2, buf, sizeof buf), 0);
    size_t n;
    bool pack;
    char why[100];
    assert_int_equal(drones_payload_decode(buf, len, true, back, &n, &pack, why, sizeof why),
                     CX_OK);
    assert_true(pack);
    assert_int_equal(n, 9);
    same(back[8].u.loc.lat, 18);
    json_t *j = drones_payload_json(back, n, pack);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "message_pack");
    assert_int_equal(json_array_size(json_object_get(j, "messages")), 9);
    json_decref(j);
}

/* ---- transports and captures --------------------------------------------------------- */

typedef struct {
    uint64_t frames, messages, by_transport[DRONES_T__COUNT], basic, location, with_rssi;
    char uas[64], operator_id[64];
    double last_lat;
} scan;

static bool scan_frame(void *ctx, int64_t ts, const drones_rid *r, size_t n,
                       const drones_capture_stats *st)
{
    scan *s = ctx;
    s->frames++;
    for (size_t i = 0; i < n; i++) {
        drones_msg m[9];
        size_t k;
        bool pack;
        char why[100];
        if (drones_payload_decode(r[i].payload, r[i].len, false, m, &k, &pack, why, sizeof why))
            fail_msg("frame %llu: %s", (unsigned long long)s->frames, why);
        s->messages += k;
        s->by_transport[r[i].transport] += k;
        s->with_rssi += r[i].have_rssi;
        for (size_t j = 0; j < k; j++) {
            if (m[j].type == DRONES_MT_BASIC_ID) {
                s->basic++;
                snprintf(s->uas, sizeof s->uas, "%s", m[j].u.basic.uas_id);
            } else if (m[j].type == DRONES_MT_OPERATOR_ID) {
                snprintf(s->operator_id, sizeof s->operator_id, "%s", m[j].u.op.op_id);
            } else if (m[j].type == DRONES_MT_LOCATION) {
                s->location++;
                s->last_lat = m[j].u.loc.lat;
            }
        }
    }
    return true;
}

static scan read_capture(const char *name, drones_capture_stats *st)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/remoteid/%s", cx_data_dir(), name);
    scan s = {0};
    if (drones_capture_read(path, scan_frame, &s, st, err, sizeof err) != CX_OK)
        fail_msg("%s", err);
    return s;
}

static void t_capture_wifi_beacon(void **state)
{
    drones_capture_stats st;
    scan s = read_capture("odid_wifi_bcn_sample.pcap", &st);
    assert_int_equal(st.frames, 21);
    assert_int_equal(st.rid_frames, 21);
    assert_int_equal(s.messages, 21 * 5);
    assert_int_equal(s.by_transport[DRONES_T_WIFI_BEACON], 105);
    assert_int_equal(s.basic, 21);
    assert_int_equal(s.with_rssi, 21);
    assert_string_equal(s.operator_id, "GBR-OP-123ABCD");
}

static void t_capture_wifi_nan(void **state)
{
    drones_capture_stats st;
    scan s = read_capture("odid_wifi_sample.pcap", &st);
    assert_int_equal(st.frames, 63);
    /* 21 NAN SDFs and 21 Beacons with a 1-message pack each; the 21
     * NAN sync beacons carry none */
    assert_int_equal(st.rid_frames, 42);
    assert_int_equal(s.by_transport[DRONES_T_WIFI_NAN], 21);
    assert_int_equal(s.by_transport[DRONES_T_WIFI_BEACON], 21);
    assert_int_equal(s.basic, 0);
    assert_string_equal(s.operator_id, "GBR-OP-123ABCD");
}

static void t_capture_bt5(void **state)
{
    drones_capture_stats st;
    scan s = read_capture("odid_bt5_lr_sample.pcapng", &st);
    assert_int_equal(st.frames, 274);
    assert_int_equal(st.crc_errors, 30);
    assert_int_equal(st.rid_frames, 244);
    assert_int_equal(s.messages, 1069);
    assert_int_equal(s.by_transport[DRONES_T_BLE5], 1069);
    assert_string_equal(s.uas, "SSEVTFG93700070");
    assert_int_equal(s.with_rssi, 244);
}

static void t_transport_walkers(void **state)
{
    /* a BLE4 legacy ADV_NONCONN_IND with one Basic ID */
    uint8_t pdu[64], msg[25];
    drones_msg m;
    drones_msg_init(&m, DRONES_MT_BASIC_ID, 2);
    m.u.basic.id_type = 1;
    drones_msg_set_text(&m, "1581F5FKD23280021");
    drones_msg_encode(&m, msg);
    size_t o = 0;
    pdu[o++] = 0x42; /* ADV_NONCONN_IND, TxAdd random */
    pdu[o++] = 6 + 31;
    static const uint8_t adva[6] = {0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
    memcpy(pdu + o, adva, 6);
    o += 6;
    pdu[o++] = 30;
    pdu[o++] = 0x16;
    pdu[o++] = 0xfa;
    pdu[o++] = 0xff;
    pdu[o++] = 0x0d;
    pdu[o++] = 7; /* counter */
    memcpy(pdu + o, msg, 25);
    o += 25;
    drones_rid r[4];
    assert_int_equal(drones_ble_pdu(pdu, o, r, 4), 1);
    assert_int_equal(r[0].transport, DRONES_T_BLE4);
    assert_int_equal(r[0].counter, 7);
    assert_int_equal(r[0].len, 25);
    char mac[18];
    drones_mac_format(r[0].mac, mac);
    assert_string_equal(mac, "01:02:03:04:05:06");
    /* truncated by one byte: nothing, and no read past the end */
    assert_int_equal(drones_ble_pdu(pdu, o - 1, r, 4), 0);
    /* an AD with a wrong app code or UUID is not Remote ID */
    pdu[12] = 0x0c;
    assert_int_equal(drones_ble_pdu(pdu, o, r, 4), 0);
    uint8_t mac6[6];
    assert_true(drones_mac_parse("AA:bb:0c:dd:ee:ff", mac6));
    assert_int_equal(mac6[0], 0xaa);
    assert_false(drones_mac_parse("aa:bb:cc:dd:ee", mac6));
    assert_false(drones_mac_parse("aa-bb-cc-dd-ee-ff", mac6));
}

/* Thresholds through core's shared table: whole numbers for integers (30.0
 * is 30), the range and unit named, refused members left as they were,
 * and the effective set written back. */
static void t_config(void **state)
{
    (void)state;
    drones_config c;
    drones_config_defaults(&c);
    json_t *p = json_array();
    json_t *in = json_loads("{\"drone_hover_s\":30.0,\"drone_max_mps\":0,\"drone_gap_s\":2.5,"
                            "\"drone_drop_zone_m\":2500.5,\"colour\":1}", 0, NULL);
    assert_false(drones_config_apply(&c, in, p));
    assert_int_equal(c.drone_hover_s, 30);
    assert_true(c.drone_drop_zone_m == 2500.5);
    assert_true(c.drone_max_mps == 100); /* refused: the default stands */
    assert_int_equal(c.drone_gap_s, 10);
    assert_int_equal(json_array_size(p), 3);
    size_t i;
    json_t *x;
    int seen = 0;
    json_array_foreach(p, i, x)
    {
        const char *path = json_string_value(json_object_get(x, "path"));
        const char *msg = json_string_value(json_object_get(x, "message"));
        if (strcmp(path, "/drone_max_mps") == 0 && strstr(msg, "from 1 to 10000 m/s"))
            seen |= 1;
        if (strcmp(path, "/drone_gap_s") == 0 && strstr(msg, "whole number"))
            seen |= 2;
        if (strcmp(path, "/colour") == 0 && strstr(msg, "unknown"))
            seen |= 4;
    }
    assert_int_equal(seen, 7);
    json_t *out = drones_config_json(&c);
    assert_int_equal(json_integer_value(json_object_get(out, "drone_hover_s")), 30);
    assert_true(json_real_value(json_object_get(out, "drone_drop_zone_m")) == 2500.5);
    drones_config again;
    drones_config_defaults(&again);
    assert_true(drones_config_apply(&again, out, NULL));
    assert_memory_equal(&again, &c, sizeof c);
    json_decref(out);
    json_decref(in);
    json_decref(p);
}

/* The receivers' JSON: a batch's own problems all at once; an observation
 * checked member by member, its payload decoded. */
static void t_observation_checks(void **state)
{
    (void)state;
    json_t *p = json_array();
    json_t *bad = json_loads("{\"receiver\":\"RX 1\",\"observations\":[],\"x\":1}", 0, NULL);
    assert_null(drones_batch_check(bad, p));
    assert_int_equal(json_array_size(p), 3);
    json_t *ok = json_loads("{\"receiver\":\"RX-1\",\"observations\":[{}]}", 0, NULL);
    assert_string_equal(drones_batch_check(ok, p), "RX-1");
    int64_t now;
    assert_int_equal(cx_rfc3339_parse("2025-06-01T10:00:00Z", &now), CX_OK);
    drones_obs_in in;
    drones_msg m[DRONES_PACK_MAX];
    size_t n = 0;
    char why[240];
    json_t *o = json_loads("{\"time\":\"2025-06-01T10:04:59Z\",\"transport\":\"ble4\","
                           "\"mac\":\"AA:bb:cc:dd:ee:01\",\"rssi\":-71,\"payload_hex\":"
                           "\"50004742522d4f502d31323341424344000000000000000000\"}", 0, NULL);
    assert_true(drones_obs_check(o, now, &in, m, &n, why, sizeof why));
    assert_int_equal(n, 1);
    assert_int_equal(in.transport, DRONES_T_BLE4);
    assert_int_equal(in.mac[0], 0xaa);
    assert_true(in.have_rssi && in.rssi == -71);
    assert_string_equal(m[0].u.op.op_id, "GBR-OP-123ABCD");
    json_object_set_new(o, "time", json_string("2025-06-01T10:05:01Z")); /* 301 s ahead */
    assert_false(drones_obs_check(o, now, &in, m, &n, why, sizeof why));
    assert_non_null(strstr(why, "/time"));
    json_object_set_new(o, "time", json_string("2025-06-01T10:00:00Z"));
    json_object_set_new(o, "a/b", json_true());
    assert_false(drones_obs_check(o, now, &in, m, &n, why, sizeof why));
    assert_string_equal(why, "/a~1b: unknown member");
    json_object_del(o, "a/b");
    json_object_set_new(o, "payload_hex", json_string("f0"));
    assert_false(drones_obs_check(o, now, &in, m, &n, why, sizeof why));
    assert_non_null(strstr(why, "/payload_hex"));
    /* a pack header that counts 0 messages (found by fuzz_drones_ingest) */
    json_object_set_new(o, "payload_hex", json_string("f21900"));
    assert_false(drones_obs_check(o, now, &in, m, &n, why, sizeof why));
    assert_non_null(strstr(why, "no messages"));
    json_decref(o);
    json_decref(ok);
    json_decref(bad);
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_example_basic_id),
        cmocka_unit_test(t_example_location),
        cmocka_unit_test(t_example_system),
        cmocka_unit_test(t_example_operator_id),
        cmocka_unit_test(t_nulls),
        cmocka_unit_test(t_invalid),
        cmocka_unit_test(t_roundtrip_location),
        cmocka_unit_test(t_roundtrip_others),
        cmocka_unit_test(t_pack_roundtrip),
        cmocka_unit_test(t_capture_wifi_beacon),
        cmocka_unit_test(t_capture_wifi_nan),
        cmocka_unit_test(t_capture_bt5),
        cmocka_unit_test(t_transport_walkers),
        cmocka_unit_test(t_config),
        cmocka_unit_test(t_observation_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
