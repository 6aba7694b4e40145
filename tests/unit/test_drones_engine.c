/* Unit tests of the drone engine: identity, event time and every rule on
 * scripted flights, each firing exactly when it should and not otherwise.
 * The territory is a box whose west edge (longitude 10) is the border. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drones.h"

#define T0 1709251200000000LL /* 2024-03-01T00:00:00Z, in µs */
#define S 1000000LL
#define LAT 46.0

/* metres east of the border at LAT, as a longitude */
static double east(double m)
{
    return 10.0 + m / (6371008.8 * M_PI / 180 * cos(LAT * M_PI / 180));
}

typedef struct {
    drones_alert_type type;
    drones_severity sev;
    int64_t t;
    bool escalation;
    json_t *detail;
    char drone[64];
} got_alert;

typedef struct {
    got_alert a[64];
    size_t n;
} sink_buf;

static void collect(void *ctx, const drones_alert *a)
{
    sink_buf *b = ctx;
    assert_true(b->n < 64);
    got_alert *g = &b->a[b->n++];
    g->type = a->type;
    g->sev = a->severity;
    g->t = a->time_us;
    g->escalation = a->escalation;
    g->detail = json_deep_copy(a->detail);
    snprintf(g->drone, sizeof g->drone, "%s", a->drone);
}

static void sink_reset(sink_buf *b)
{
    for (size_t i = 0; i < b->n; i++)
        json_decref(b->a[i].detail);
    b->n = 0;
}

typedef struct {
    drones_engine *e;
    drones_registry *reg;
    sink_buf got;
    drones_alert_sink sink;
} fx;

static const char zones_json[] =
    "{\"type\":\"FeatureCollection\",\"features\":["
    "{\"type\":\"Feature\",\"properties\":{\"id\":\"XL\",\"kind\":\"territory\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[10,45],[12,45],[12,47],[10,47],[10,45]]]}},"
    "{\"type\":\"Feature\",\"properties\":{\"id\":\"AIRBASE\",\"kind\":\"restricted\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[11,46],[11.01,46],[11.01,46.01],[11,46.01],[11,46]]]}},"
    "{\"type\":\"Feature\",\"properties\":{\"id\":\"PORT-1\",\"kind\":\"port\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[11.5,46],[11.51,46],[11.51,46.01],[11.5,46.01],[11.5,46]]]}},"
    "{\"type\":\"Feature\",\"properties\":{\"id\":\"POST\",\"kind\":\"border\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[9,45],[11,45],[11,47],[9,47],[9,45]]]}}]}";

static drones_engine *zoned_engine(void)
{
    drones_config c;
    drones_config_defaults(&c);
    drones_engine *e = drones_engine_new(&c, NULL);
    json_t *fc = json_loads(zones_json, 0, NULL);
    json_t *problems = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(fc, "features"), i, f)
    {
        json_t *p = json_object_get(f, "properties");
        if (drones_engine_zone(e, json_string_value(json_object_get(p, "id")),
                               json_string_value(json_object_get(p, "name")),
                               json_string_value(json_object_get(p, "kind")),
                               json_object_get(f, "geometry"), "/geometry", problems))
            fail_msg("zone %zu refused", i);
    }
    json_decref(problems);
    json_decref(fc);
    assert_int_equal(drones_engine_zone_count(e), 4);
    return e;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->reg = drones_registry_new();
    f->e = zoned_engine();
    f->sink = (drones_alert_sink){collect, &f->got};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sink_reset(&f->got);
    drones_engine_free(f->e);
    drones_registry_free(f->reg);
    free(f);
    return 0;
}

static const uint8_t MAC1[6] = {0x60, 0x60, 0x1f, 0x00, 0x00, 0x01};

static drones_msg basic(const char *uas)
{
    drones_msg m;
    drones_msg_init(&m, DRONES_MT_BASIC_ID, 2);
    m.u.basic.id_type = 1;
    m.u.basic.ua_type = 2;
    drones_msg_set_text(&m, uas);
    uint8_t b[25];
    char why[64];
    drones_msg_encode(&m, b);
    drones_msg_decode(b, &m, why, sizeof why);
    return m;
}

static drones_msg loc(double lat, double lon, double height, double speed)
{
    drones_msg m;
    drones_msg_init(&m, DRONES_MT_LOCATION, 2);
    m.u.loc.status = 2;
    m.u.loc.lat = lat;
    m.u.loc.lon = lon;
    m.u.loc.height_m = height;
    m.u.loc.height_ref = 1;
    m.u.loc.speed_h_mps = speed;
    return m;
}

/* One observation at T0 + t seconds, from MAC1 over Wi-Fi Beacon. */
static const drones_state *obs(fx *f, double t, const drones_msg *msgs, size_t n)
{
    drones_obs o = {.time_us = T0 + (int64_t)llround(t * S), .transport = DRONES_T_WIFI_BEACON,
                    .msgs = msgs, .nmsgs = n};
    memcpy(o.mac, MAC1, 6);
    drones_outcome out;
    assert_int_equal(drones_engine_process(f->e, &o, &f->sink, &out), CX_OK);
    return out.drone;
}

/* A drone "D1" at a position (Basic ID + Location in one pack). */
static void at(fx *f, double t, double lat, double lon, double height, double speed)
{
    drones_msg m[2] = {basic("D1"), loc(lat, lon, height, speed)};
    obs(f, t, m, 2);
}

static void expect(fx *f, size_t n)
{
    if (f->got.n != n) {
        for (size_t i = 0; i < f->got.n; i++) {
            char *d = json_dumps(f->got.a[i].detail, JSON_COMPACT);
            print_message("alert %zu: %s %s %s\n", i, drones_alert_type_name(f->got.a[i].type),
                          drones_severity_name(f->got.a[i].sev), d);
            free(d);
        }
        fail_msg("%zu alerts, expected %zu", f->got.n, n);
    }
}

static const char *dstr(const got_alert *a, const char *k)
{
    return json_string_value(json_object_get(a->detail, k));
}

static double dnum(const got_alert *a, const char *k)
{
    return json_number_value(json_object_get(a->detail, k));
}

/* ---- identity and time ------------------------------------------------------------------- */

static void t_identity(void **state)
{
    fx *f = *state;
    drones_msg l = loc(LAT, east(-3000), 50, 5);
    const drones_state *s = obs(f, 0, &l, 1);
    char mac[64];
    assert_string_equal(s->id, "mac:wifi_beacon:60:60:1f:00:00:01");
    assert_false(s->has_uas);
    int64_t key = s->key;
    snprintf(mac, sizeof mac, "%s", s->id);
    drones_msg b = basic("SSEVTFG93700070");
    s = obs(f, 1, &b, 1);
    assert_string_equal(s->id, "SSEVTFG93700070");
    assert_int_equal(s->key, key); /* the same drone, renamed */
    assert_int_equal(s->ua_type, 2);
    assert_int_equal(drones_engine_drone_count(f->e), 1);
    assert_ptr_equal(drones_engine_find(f->e, mac), s);
    /* the same UAS ID over Bluetooth from another address: the same drone */
    drones_obs o = {.time_us = T0 + 2 * S, .transport = DRONES_T_BLE4, .msgs = &l, .nmsgs = 1};
    uint8_t mac2[6] = {1, 2, 3, 4, 5, 6};
    memcpy(o.mac, mac2, 6);
    drones_outcome out;
    drones_engine_process(f->e, &o, NULL, &out);
    assert_int_not_equal(out.drone->key, key); /* no Basic ID yet: its own mac:… drone */
    int64_t other = out.drone->key;
    o.msgs = &b;
    o.time_us += S;
    drones_engine_process(f->e, &o, NULL, &out);
    assert_int_equal(out.drone->key, key);
    assert_int_equal(out.merged_key, other);
    assert_int_equal(drones_engine_drone_count(f->e), 1);
    /* an observation without messages names no drone */
    o.nmsgs = 0;
    drones_engine_process(f->e, &o, NULL, &out);
    assert_null(out.drone);
}

static void t_event_time(void **state)
{
    int64_t h11 = T0 + 11 * 3600 * S;
    /* a frame at 10:59:50 with a Location stamped 5.0 s after the hour:
     * 11:00:05, not 10:00:05 */
    assert_int_equal(drones_event_time(h11 - 10 * S, 5.0), h11 + 5 * S);
    assert_int_equal(drones_event_time(h11 + 5 * S, 3595.0), h11 - 5 * S);
    assert_int_equal(drones_event_time(h11 + 100 * S, 99.5), h11 + 99500000);
    assert_int_equal(drones_event_time(h11 + 100 * S, NAN), h11 + 100 * S);
}

/* ---- drone_border_crossing ------------------------------------------------------------------ */

static void t_border_crossing(void **state)
{
    fx *f = *state;
    at(f, 0, LAT, east(-3000), 25, 20);  /* outside: the first position sets the side */
    at(f, 60, LAT, east(-2000), 25, 20);
    expect(f, 0);
    at(f, 120, LAT, east(500), 25, 20);  /* in */
    expect(f, 1);
    assert_int_equal(f->got.a[0].type, DRONES_A_BORDER_CROSSING);
    assert_int_equal(f->got.a[0].sev, DRONES_SEV_CRITICAL);
    assert_string_equal(dstr(&f->got.a[0], "zone"), "XL");
    assert_string_equal(dstr(&f->got.a[0], "direction"), "in");
    assert_true(fabs(dnum(&f->got.a[0], "height_m") - 25) < 1e-9);
    assert_string_equal(f->got.a[0].drone, "D1");
    /* GPS noise on the line (within the margin) is no crossing */
    at(f, 150, LAT, east(-4), 25, 20);
    at(f, 151, LAT, east(3), 25, 20);
    at(f, 152, LAT, east(-6), 25, 20);
    expect(f, 1);
    at(f, 200, LAT, east(-900), 40, 20); /* out */
    expect(f, 2);
    assert_string_equal(dstr(&f->got.a[1], "direction"), "out");
    assert_true(fabs(dnum(&f->got.a[1], "height_m") - 40) < 1e-9);
    /* a late position does not count */
    at(f, 190, LAT, east(800), 40, 20);
    expect(f, 2);
}

/* ---- drone_restricted_zone -------------------------------------------------------------------- */

static void t_restricted_zone(void **state)
{
    fx *f = *state;
    at(f, 0, 46.005, 11.005, 50, 5); /* first seen inside the airbase: that counts */
    expect(f, 1);
    assert_int_equal(f->got.a[0].type, DRONES_A_RESTRICTED_ZONE);
    assert_int_equal(f->got.a[0].sev, DRONES_SEV_CRITICAL);
    assert_string_equal(dstr(&f->got.a[0], "zone"), "AIRBASE");
    assert_string_equal(dstr(&f->got.a[0], "zone_kind"), "restricted");
    at(f, 10, 46.006, 11.006, 50, 5);
    at(f, 20, 46.01005, 11.005, 50, 5); /* 5.6 m outside, within the margin... */
    at(f, 21, 46.0099, 11.005, 50, 5); /* ...and back: one episode */
    expect(f, 1);
    at(f, 60, 46.02, 11.005, 50, 5);   /* well out */
    at(f, 90, 46.005, 11.005, 50, 5);  /* in again: a new episode */
    expect(f, 2);
    /* a port: warning */
    at(f, 1000, 46.005, 11.505, 50, 5);
    expect(f, 3);
    assert_int_equal(f->got.a[2].sev, DRONES_SEV_WARNING);
    assert_string_equal(dstr(&f->got.a[2], "zone_kind"), "port");
    /* the track module's border-post kind is not a drone rule */
    at(f, 2000, 46.3, 10.9, 50, 5); /* inside POST, a kind drones ignore */
    expect(f, 3);
}

/* ---- drone_drop_pattern ---------------------------------------------------------------------- */

static void hover(fx *f, double from, double to, double lon, double height, double speed)
{
    for (double t = from; t <= to + 1e-9; t += 1)
        at(f, t, LAT, lon, height, speed);
}

static void t_drop_warning_then_escalation(void **state)
{
    fx *f = *state;
    hover(f, 0, 19, east(800), 20, 0.5); /* 19 s: not yet */
    expect(f, 0);
    hover(f, 20, 60, east(800), 20, 0.5); /* 20 s reached at t = 20: one alert */
    expect(f, 1);
    const got_alert *a = &f->got.a[0];
    assert_int_equal(a->type, DRONES_A_DROP_PATTERN);
    assert_int_equal(a->sev, DRONES_SEV_WARNING);
    assert_true(fabs(dnum(a, "hover_s") - 20) < 1e-9);
    assert_true(fabs(dnum(a, "height_m") - 20) < 1e-9);
    assert_true(fabs(dnum(a, "distance_to_border_m") - 800) < 2);
    assert_false(a->escalation);
    /* it then crosses: the crossing, and the drop pattern raised to critical */
    at(f, 80, LAT, east(-500), 20, 30);
    expect(f, 3);
    assert_int_equal(f->got.a[1].type, DRONES_A_BORDER_CROSSING);
    assert_int_equal(f->got.a[2].type, DRONES_A_DROP_PATTERN);
    assert_int_equal(f->got.a[2].sev, DRONES_SEV_CRITICAL);
    assert_true(f->got.a[2].escalation);
    /* crossing back: a crossing, no second escalation */
    at(f, 120, LAT, east(500), 20, 30);
    expect(f, 4);
}

static void t_drop_after_crossing_is_critical(void **state)
{
    fx *f = *state;
    at(f, 0, LAT, east(-1500), 15, 10);
    at(f, 100, LAT, east(1000), 15, 10); /* crosses in, low */
    expect(f, 1);
    hover(f, 101, 125, east(1200), 15, 0.2);
    expect(f, 2);
    assert_int_equal(f->got.a[1].type, DRONES_A_DROP_PATTERN);
    assert_int_equal(f->got.a[1].sev, DRONES_SEV_CRITICAL);
    at(f, 200, LAT, east(-1500), 15, 20); /* returns: crossing only */
    expect(f, 3);
    assert_int_equal(f->got.a[2].type, DRONES_A_BORDER_CROSSING);
}

static void t_drop_not_otherwise(void **state)
{
    fx *f = *state;
    hover(f, 0, 40, east(800), 31, 0.5);    /* too high */
    hover(f, 100, 140, east(800), 20, 1.5); /* too fast */
    hover(f, 200, 240, east(5200), 20, 0.5); /* too far from the border */
    hover(f, 300, 318, east(800), 20, 0.5); /* 18 s, then it moves on */
    at(f, 319, LAT, east(900), 20, 8);
    hover(f, 320, 330, east(800), 20, 0.5); /* 10 s more: the timer restarted */
    expect(f, 0);
    /* a height of -1000 (null) is not low */
    hover(f, 400, 440, east(800), NAN, 0.5);
    expect(f, 0);
}

/* ---- drone_spoofing -------------------------------------------------------------------------- */

static void t_spoofing_speed(void **state)
{
    fx *f = *state;
    at(f, 0, LAT, 11.0 + 0.2, 80, 10);
    at(f, 10, LAT + 0.09, 11.2, 80, 10); /* 10 km in 10 s */
    expect(f, 1);
    assert_int_equal(f->got.a[0].type, DRONES_A_SPOOFING);
    assert_int_equal(f->got.a[0].sev, DRONES_SEV_CRITICAL);
    assert_true(dnum(&f->got.a[0], "speed_mps") > 990 && dnum(&f->got.a[0], "speed_mps") < 1010);
    assert_true(fabs(dnum(&f->got.a[0], "seconds") - 10) < 1e-9);
    at(f, 20, LAT, 11.2, 80, 10); /* jumps back within the episode: same one */
    expect(f, 1);
    at(f, 400, LAT + 0.09, 11.2, 80, 10); /* 10 km in 380 s: 26 m/s, fine */
    expect(f, 1);
    at(f, 401, LAT, 11.2, 80, 10); /* a new episode */
    expect(f, 2);
    /* noise: 150 m in 0.5 s is 300 m/s but under drone_spoof_min_m */
    at(f, 1000, LAT, 11.3, 80, 10);
    at(f, 1000.5, LAT + 0.00135, 11.3, 80, 10);
    expect(f, 2);
}

static drones_msg sysmsg(double lat, double lon)
{
    drones_msg m;
    drones_msg_init(&m, DRONES_MT_SYSTEM, 2);
    m.u.sys.op_lat = lat;
    m.u.sys.op_lon = lon;
    return m;
}

static void t_spoofing_pilot(void **state)
{
    fx *f = *state;
    drones_msg m[2] = {basic("D1"), sysmsg(LAT, 11.2)};
    obs(f, 0, m, 2);
    m[1] = sysmsg(LAT + 0.036, 11.2); /* 4 km in 5 s: allowed */
    obs(f, 5, m, 2);
    expect(f, 0);
    m[1] = sysmsg(LAT + 0.036 + 0.054, 11.2); /* 6 km in 20 s: too slow to be a jump */
    obs(f, 25, m, 2);
    expect(f, 0);
    m[1] = sysmsg(LAT + 0.036, 11.2); /* 6 km in 5 s */
    obs(f, 30, m, 2);
    expect(f, 1);
    assert_int_equal(f->got.a[0].type, DRONES_A_SPOOFING);
    assert_true(dnum(&f->got.a[0], "pilot_jump_m") > 5900);
    assert_true(fabs(dnum(&f->got.a[0], "seconds") - 5) < 1e-9);
    assert_null(json_object_get(f->got.a[0].detail, "speed_mps"));
}

/* ---- drone_unregistered ------------------------------------------------------------------------ */

static drones_msg opmsg(const char *id)
{
    drones_msg m;
    drones_msg_init(&m, DRONES_MT_OPERATOR_ID, 2);
    drones_msg_set_text(&m, id);
    return m;
}

static void t_unregistered(void **state)
{
    fx *f = *state;
    /* no registry: no such rule */
    drones_msg m[2] = {basic("D1"), opmsg("OP-1")};
    obs(f, 0, m, 2);
    expect(f, 0);
    drones_registry_add(f->reg, "D1", "OP-1", INT64_MAX);
    drones_registry_add(f->reg, "D2", "", 19782); /* valid until 2024-02-29 */
    drones_engine_set_registry(f->e, f->reg);
    const drones_state *s = obs(f, 1, m, 2);
    expect(f, 0);
    assert_int_equal(s->registered, 1);
    /* a known drone flown by an unknown operator */
    drones_msg m2[2] = {basic("D1"), opmsg("OP-X")};
    obs(f, 2, m2, 2);
    expect(f, 1);
    assert_int_equal(f->got.a[0].type, DRONES_A_UNREGISTERED);
    assert_int_equal(f->got.a[0].sev, DRONES_SEV_INFO);
    assert_string_equal(dstr(&f->got.a[0], "uas_id"), "D1");
    assert_string_equal(dstr(&f->got.a[0], "operator_id"), "OP-X");
    obs(f, 3, m2, 2); /* once a flight */
    expect(f, 1);
    /* an unknown drone, no operator id heard: operator_id null */
    drones_obs o = {.time_us = T0 + 10 * S, .transport = DRONES_T_BLE4, .nmsgs = 1};
    drones_msg b3 = basic("D3");
    o.msgs = &b3;
    o.mac[5] = 9;
    drones_outcome out;
    drones_engine_process(f->e, &o, &f->sink, &out);
    expect(f, 2);
    assert_string_equal(dstr(&f->got.a[1], "uas_id"), "D3");
    assert_true(json_is_null(json_object_get(f->got.a[1].detail, "operator_id")));
    assert_int_equal(out.drone->registered, 0);
    /* a registration that ran out the day before */
    drones_msg b2 = basic("D2");
    o.msgs = &b2;
    o.mac[5] = 10;
    drones_engine_process(f->e, &o, &f->sink, &out);
    expect(f, 3);
    assert_string_equal(dstr(&f->got.a[2], "uas_id"), "D2");
}

/* The time a position gets from an observation at T0 + t with a Location
 * timestamp ts (NAN: none), from a drone of its own (mac). */
static int64_t fix_time(fx *f, uint8_t mac, double t, double ts)
{
    drones_msg m = loc(LAT, 11.0, 50, 5);
    m.u.loc.timestamp_s = ts;
    drones_obs o = {.time_us = T0 + (int64_t)llround(t * S), .transport = DRONES_T_BLE4,
                    .msgs = &m, .nmsgs = 1};
    o.mac[5] = mac;
    drones_outcome out;
    assert_int_equal(drones_engine_process(f->e, &o, NULL, &out), CX_OK);
    assert_int_equal(out.nfix, 1);
    return out.fix[0].time_us;
}

static void t_location_time(void **state)
{
    fx *f = *state;
    /* a kept clock refines the frame time */
    assert_int_equal(fix_time(f, 1, 62, 61.5), T0 + 61500000);
    assert_int_equal(fix_time(f, 1, 63, 62.5), T0 + 62500000);
    /* a frame just before the hour, a timestamp just after it */
    assert_int_equal(fix_time(f, 2, -2, 0.5), T0 + 500000);
    /* a timestamp 24 minutes from the frame time: the drone's clock is off */
    assert_int_equal(fix_time(f, 3, 60, 1500), T0 + 60 * S);
    /* a timestamp that stands still while frames go on: frame time from
     * the moment that shows (the first, 60 s off, was within the skew) */
    assert_int_equal(fix_time(f, 4, 60, 0), T0);
    assert_int_equal(fix_time(f, 4, 61, 0), T0);
    assert_int_equal(fix_time(f, 4, 63, 0), T0 + 63 * S);
    assert_int_equal(fix_time(f, 4, 64, 0), T0 + 64 * S);
    /* no timestamp (0xFFFF): the frame time */
    assert_int_equal(fix_time(f, 5, 70, NAN), T0 + 70 * S);
}

/* A restart: the drone's identity and rule state come back from what
 * storage kept (drones_state), so a crossing during the restart counts. */
static void t_restore(void **state)
{
    fx *f = *state;
    at(f, 0, LAT, east(-2000), 25, 20); /* outside: the side is set */
    drones_state saved = *drones_engine_find(f->e, "D1");
    assert_non_null(strstr(saved.rules, "\"XL\":1"));
    drones_engine_free(f->e);
    f->e = zoned_engine();
    assert_int_equal(drones_engine_restore(f->e, &saved), CX_OK);
    assert_int_equal(drones_engine_restore_mac(f->e, saved.key, DRONES_T_WIFI_BEACON, MAC1),
                     CX_OK);
    drones_engine_set_next_key(f->e, saved.key + 1);
    at(f, 100, LAT, east(1500), 25, 20); /* crossed while the server was down */
    expect(f, 1);
    assert_string_equal(dstr(&f->got.a[0], "direction"), "in");
    assert_int_equal(drones_engine_find(f->e, "D1")->key, saved.key);
    /* a restored drone that is never placed keeps its sides */
    drones_state again = *drones_engine_find(f->e, "D1");
    assert_non_null(strstr(again.rules, "\"XL\":2"));
}

static void t_auth_pages(void **state)
{
    fx *f = *state;
    drones_msg m[4];
    m[0] = basic("D1");
    for (int p = 0; p < 3; p++) {
        drones_msg_init(&m[p + 1], DRONES_MT_AUTH, 2);
        m[p + 1].u.auth.auth_type = 1;
        m[p + 1].u.auth.page = (uint8_t)p;
        m[p + 1].u.auth.ndata = p ? 23 : 17;
        memset(m[p + 1].u.auth.data, 0x10 + p, 23);
    }
    m[1].u.auth.last_page = 2;
    m[1].u.auth.length = 50;
    m[1].u.auth.timestamp = 1700000000;
    const drones_state *s = obs(f, 0, m, 3); /* pages 0 and 1 */
    assert_int_equal(s->auth_type, -1);
    drones_msg last[2] = {m[0], m[3]};
    s = obs(f, 1, last, 2);
    assert_int_equal(s->auth_type, 1);
    assert_int_equal(s->auth_len, 50);
    assert_int_equal(s->auth_timestamp, 1700000000);
    assert_int_equal(s->auth_data[0], 0x10);
    assert_int_equal(s->auth_data[17], 0x11);
    assert_int_equal(s->auth_data[49], 0x12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_identity, setup, teardown),
        cmocka_unit_test(t_event_time),
        cmocka_unit_test_setup_teardown(t_border_crossing, setup, teardown),
        cmocka_unit_test_setup_teardown(t_restricted_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(t_drop_warning_then_escalation, setup, teardown),
        cmocka_unit_test_setup_teardown(t_drop_after_crossing_is_critical, setup, teardown),
        cmocka_unit_test_setup_teardown(t_drop_not_otherwise, setup, teardown),
        cmocka_unit_test_setup_teardown(t_spoofing_speed, setup, teardown),
        cmocka_unit_test_setup_teardown(t_spoofing_pilot, setup, teardown),
        cmocka_unit_test_setup_teardown(t_unregistered, setup, teardown),
        cmocka_unit_test_setup_teardown(t_auth_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(t_location_time, setup, teardown),
        cmocka_unit_test_setup_teardown(t_restore, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
