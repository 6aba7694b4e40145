/* Unit tests of the track module: shapes (GEOS), decoders and every rule of
 * the engine on scripted tracks. Times are event times; the wall clock is
 * the settable one (cx_clock_set), so nothing sleeps. */
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

#include "track.h"
#include "unitkit.h"

/* 2024-03-01T00:00:00Z */
#define T0 1709251200000LL
#define MIN (60 * 1000LL)
#define SEC 1000LL

/* WGS 84 radii of curvature, for points a given number of metres away. */
static double rad_m(double lat)
{
    double a = 6378137.0, f = 1 / 298.257223563, e2 = f * (2 - f);
    double s = sin(lat * M_PI / 180);
    double w = 1 - e2 * s * s;
    return a * (1 - e2) / (w * sqrt(w)); /* meridional */
}
static double rad_n(double lat)
{
    double a = 6378137.0, f = 1 / 298.257223563, e2 = f * (2 - f);
    double s = sin(lat * M_PI / 180);
    return a / sqrt(1 - e2 * s * s);
}
static double north_deg(double lat, double metres)
{
    return metres / rad_m(lat) * 180 / M_PI;
}
static double east_deg(double lat, double metres)
{
    return metres / (rad_n(lat) * cos(lat * M_PI / 180)) * 180 / M_PI;
}

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return j;
}

static track_shape *zone(const char *geojson)
{
    json_t *g = J(geojson), *p = json_array();
    track_shape *s = track_shape_zone(g, "/geometry", p);
    if (!s) {
        char *t = json_dumps(p, 0);
        fail_msg("zone not built: %s", t);
        free(t);
    }
    json_decref(p);
    json_decref(g);
    return s;
}

static track_shape *corridor(const char *geojson, double width)
{
    json_t *g = J(geojson), *p = json_array();
    track_shape *s = track_shape_corridor(g, width, "/route", p);
    if (!s) {
        char *t = json_dumps(p, 0);
        fail_msg("corridor not built: %s", t);
        free(t);
    }
    json_decref(p);
    json_decref(g);
    return s;
}

/* ---- shapes ------------------------------------------------------------------------ */

static void test_zone_with_hole(void **state)
{
    track_shape *s = zone("{\"type\":\"Polygon\",\"coordinates\":["
                          "[[0,0],[1,0],[1,1],[0,1],[0,0]],"
                          "[[0.4,0.4],[0.4,0.6],[0.6,0.6],[0.6,0.4],[0.4,0.4]]]}");
    assert_true(track_shape_covers(s, 0.2, 0.2));
    assert_true(track_shape_covers(s, 0.9, 0.5));
    assert_false(track_shape_covers(s, 0.5, 0.5)); /* in the hole */
    assert_true(track_shape_covers(s, 0.4, 0.5));  /* on the hole's edge */
    assert_false(track_shape_covers(s, 1.5, 0.5));
    track_shape_free(s);
}

static void test_zone_antimeridian_both_forms(void **state)
{
    /* RFC 7946 3.1.9: cut in two at the antimeridian... */
    track_shape *cut = zone("{\"type\":\"MultiPolygon\",\"coordinates\":["
                            "[[[179,-17],[180,-17],[180,-16],[179,-16],[179,-17]]],"
                            "[[[-180,-17],[-179,-17],[-179,-16],[-180,-16],[-180,-17]]]]}");
    /* ...or drawn across it with a longitude jump. */
    track_shape *across = zone("{\"type\":\"Polygon\",\"coordinates\":["
                               "[[179,-17],[-179,-17],[-179,-16],[179,-16],[179,-17]]]}");
    track_shape *both[2] = {cut, across};
    for (int i = 0; i < 2; i++) {
        track_shape *s = both[i];
        assert_true(track_shape_covers(s, -16.5, 179.5));
        assert_true(track_shape_covers(s, -16.5, -179.5));
        assert_true(track_shape_covers(s, -16.5, 180));
        assert_true(track_shape_covers(s, -16.5, -180));
        assert_false(track_shape_covers(s, -16.5, 0));
        assert_false(track_shape_covers(s, -16.5, 178.5));
        assert_false(track_shape_covers(s, -16.5, -178.5));
        json_t *gj = track_shape_geojson(s);
        assert_int_equal(json_array_size(json_object_get(gj, "coordinates")), 2);
        json_decref(gj);
    }
    track_shape_free(cut);
    track_shape_free(across);
}

static void test_zone_invalid(void **state)
{
    static const struct {
        const char *geo, *path, *needle;
    } cases[] = {
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,1]]]}",
         "/geometry/coordinates/0/3", "closed"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}",
         "/geometry/coordinates", "Self-intersection"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[0,0]]]}",
         "/geometry/coordinates/0", "at least 4"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,91],[0,0]]]}",
         "/geometry/coordinates/0/2/1", "latitude"},
        {"{\"type\":\"Point\",\"coordinates\":[0,0]}", "/geometry/type", "Polygon"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[\"1\",0],[1,1],[0,0]]]}",
         "/geometry/coordinates/0/1/0", "number"},
        {"{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[2,0],[2,2],[0,2],[0,0]]],"
         "[[[1,1],[3,1],[3,3],[1,3],[1,1]]]]}",
         "/geometry/coordinates", "overlap"},
        /* apart in unwrapped longitudes (179..180 and -181.5..-179), over
         * each other once the second is cut back into [-180, 180] */
        {"{\"type\":\"MultiPolygon\",\"coordinates\":[[[[179,0],[180,0],[180,1],[179,1],[179,0]]],"
         "[[[-179,0.2],[-179,0.8],[178.5,0.8],[178.5,0.2],[-179,0.2]]]]}",
         "/geometry/coordinates", "overlap across the antimeridian"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *g = J(cases[i].geo), *p = json_array();
        assert_null(track_shape_zone(g, "/geometry", p));
        if (!uk_has_problem(p, cases[i].path, cases[i].needle)) {
            char *t = json_dumps(p, 0);
            fail_msg("case %zu: wanted %s (%s), got %s", i, cases[i].path, cases[i].needle, t);
        }
        json_decref(p);
        json_decref(g);
    }
}

/* The corridor is width/2 from the route on the WGS 84 ellipsoid: checked
 * 5 m inside and 5 m outside the edge, north-south at the equator (where
 * the meridional radius is smallest) and east-west at 60 degrees north. */
static void test_corridor_metres_on_the_ellipsoid(void **state)
{
    track_shape *s = corridor("{\"type\":\"LineString\",\"coordinates\":[[0,0],[1,0]]}", 2000);
    assert_true(track_shape_covers(s, north_deg(0, 995), 0.5));
    assert_false(track_shape_covers(s, north_deg(0, 1005), 0.5));
    assert_true(track_shape_covers(s, -north_deg(0, 995), 0.5));
    assert_false(track_shape_covers(s, -north_deg(0, 1005), 0.5));
    /* round caps at the ends */
    assert_true(track_shape_covers(s, 0, -east_deg(0, 995)));
    assert_false(track_shape_covers(s, 0, -east_deg(0, 1005)));
    track_shape_free(s);

    s = corridor("{\"type\":\"LineString\",\"coordinates\":[[10,59.5],[10,60.5]]}", 2000);
    assert_true(track_shape_covers(s, 60, 10 + east_deg(60, 995)));
    assert_false(track_shape_covers(s, 60, 10 + east_deg(60, 1005)));
    assert_true(track_shape_covers(s, 60, 10 - east_deg(60, 995)));
    assert_false(track_shape_covers(s, 60, 10 - east_deg(60, 1005)));
    double d = track_shape_route_distance_m(s, 60, 10 + east_deg(60, 4000));
    assert_true(fabs(d - 4000) < 2);
    track_shape_free(s);
}

/* Vincenty's (1975) test line: Flinders Peak to Buninyong, 54 972.271 m on
 * the ellipsoid (Geoscience Australia). */
static void test_distance_reference(void **state)
{
    double lat1 = -(37 + 57 / 60.0 + 3.72030 / 3600), lon1 = 144 + 25 / 60.0 + 29.52440 / 3600;
    double lat2 = -(37 + 39 / 60.0 + 10.15610 / 3600), lon2 = 143 + 55 / 60.0 + 35.38390 / 3600;
    double d = track_distance_m(lat1, lon1, lat2, lon2);
    assert_true(fabs(d - 54972.271) < 1.0);
    /* across the antimeridian, both ways */
    double a = track_distance_m(-16.8, 179.99, -16.8, -179.99);
    double b = track_distance_m(-16.8, -179.99, -16.8, 179.99);
    assert_true(fabs(a - b) < 1e-6);
    assert_true(fabs(a - 0.02 / east_deg(-16.8, 1)) < 0.01);
}

/* A route that goes out and comes back on a parallel road 3 km north: the
 * union covers both legs, not the land between them. */
static void test_corridor_doubles_back(void **state)
{
    double back = north_deg(30, 3000);
    char geo[256];
    snprintf(geo, sizeof geo,
             "{\"type\":\"LineString\",\"coordinates\":[[30,30],[30.5,30],[30.5,%.9f],"
             "[30,%.9f]]}",
             30 + back, 30 + back);
    track_shape *s = corridor(geo, 2000);
    assert_true(track_shape_covers(s, 30, 30.25));
    assert_true(track_shape_covers(s, 30 + back, 30.25));
    assert_false(track_shape_covers(s, 30 + north_deg(30, 1500), 30.25));
    assert_true(track_shape_covers(s, 30 + north_deg(30, 1500), 30.5)); /* the turn */
    track_shape_free(s);
}

static void test_corridor_antimeridian(void **state)
{
    track_shape *s = corridor(
        "{\"type\":\"LineString\",\"coordinates\":[[179.9,-16.8],[-179.9,-16.8]]}", 2000);
    assert_true(track_shape_covers(s, -16.8, 180));
    assert_true(track_shape_covers(s, -16.8, 179.95));
    assert_true(track_shape_covers(s, -16.8, -179.95));
    assert_false(track_shape_covers(s, -16.8, 0));
    assert_false(track_shape_covers(s, -16.8 + north_deg(-16.8, 1100), 179.95));
    assert_false(track_shape_covers(s, -16.8, 179.5));
    track_shape_free(s);
}

static void test_corridor_long_route(void **state)
{
    /* Mombasa to Kampala as five points (about 1100 km): chunked, unioned. */
    track_shape *s = corridor("{\"type\":\"LineString\",\"coordinates\":[[39.66,-4.06],"
                              "[37.47,-2.08],[36.83,-1.29],[34.28,0.64],[32.58,0.31]]}",
                              4000);
    assert_true(track_shape_covers(s, -1.29, 36.83));
    /* the Malaba-Kampala leg runs 11 degrees off west: north offsets of
     * 1.5 and 2.5 km are 1.47 and 2.45 km from it */
    double mlat = (0.64 + 0.31) / 2, mlon = (34.28 + 32.58) / 2;
    assert_true(track_shape_covers(s, mlat + north_deg(mlat, 1500), mlon));
    assert_false(track_shape_covers(s, mlat + north_deg(mlat, 2500), mlon));
    track_shape_free(s);
}

/* A corridor's cost grows with its route's length and positions: beyond
 * 10,000 km or 5,000 positions the route is refused, naming the member and
 * the rule; a route just under both limits is built. */
static void test_corridor_route_bounded(void **state)
{
    json_t *p = json_array();
    json_t *g = J("{\"type\":\"LineString\",\"coordinates\":[[-87,0.5],[87,0.5]]}");
    assert_null(track_shape_corridor(g, 2000, "/route", p));
    assert_true(uk_has_problem(p, "/route/coordinates", "19368 km long; at most 10000 km"));
    json_decref(g);
    json_decref(p);
    /* 5,001 positions 1 km apart: short, but too many */
    json_t *c = json_array();
    for (int i = 0; i <= 5000; i++)
        json_array_append_new(c, json_pack("[f,f]", i * 0.009, 0.0));
    g = json_pack("{s:s,s:o}", "type", "LineString", "coordinates", c);
    p = json_array();
    assert_null(track_shape_corridor(g, 2000, "/route", p));
    assert_true(uk_has_problem(p, "/route/coordinates", "more than 5000 positions"));
    json_decref(p);
    /* 5,000 of them are taken */
    json_array_remove(c, 5000);
    p = json_array();
    track_shape *s = track_shape_corridor(g, 2000, "/route", p);
    assert_non_null(s);
    assert_true(track_shape_covers(s, 0, 44.99));
    assert_false(track_shape_covers(s, 0, 45.01));
    track_shape_free(s);
    json_decref(p);
    json_decref(g);
    /* 9,900 km along the equator: legal, and the corridor is all along it */
    s = corridor("{\"type\":\"LineString\",\"coordinates\":[[-44.5,0],[44.5,0]]}", 2000);
    for (double lon = -44.4; lon < 44.5; lon += 0.7) {
        assert_true(track_shape_covers(s, 0, lon));
        assert_true(track_shape_covers(s, north_deg(0, 900), lon));
        assert_false(track_shape_covers(s, north_deg(0, 1100), lon));
    }
    track_shape_free(s);
}

/* A corridor read back from the GeoJSON it was stored as (at start) has the
 * shape built from the route, its route distance too, across the
 * antimeridian as well; text that is not a MultiPolygon is not read. */
static void test_corridor_read_back_from_stored(void **state)
{
    const char *routes[] = {
        "{\"type\":\"LineString\",\"coordinates\":[[39.66,-4.06],[37.47,-2.08],[36.83,-1.29],"
        "[34.28,0.64],[32.58,0.31]]}",
        "{\"type\":\"LineString\",\"coordinates\":[[179.9,-16.8],[-179.9,-16.8]]}"};
    for (size_t r = 0; r < 2; r++) {
        json_t *route = J(routes[r]);
        track_shape *s = corridor(routes[r], 4000);
        json_t *gj = track_shape_geojson(s);
        char *text = json_dumps(gj, JSON_COMPACT);
        track_shape *back = track_shape_corridor_stored(route, text);
        assert_non_null(back);
        json_t *again = track_shape_geojson(back);
        assert_true(json_equal(gj, again));
        size_t n = json_array_size(json_object_get(route, "coordinates"));
        for (size_t i = 0; i + 1 < n; i++) {
            const json_t *a = json_array_get(json_object_get(route, "coordinates"), i);
            const json_t *b = json_array_get(json_object_get(route, "coordinates"), i + 1);
            double lon = (json_number_value(json_array_get(a, 0)) +
                          json_number_value(json_array_get(b, 0))) / 2;
            if (fabs(json_number_value(json_array_get(a, 0)) -
                     json_number_value(json_array_get(b, 0))) > 180)
                lon = 180; /* the antimeridian leg */
            double lat = (json_number_value(json_array_get(a, 1)) +
                          json_number_value(json_array_get(b, 1))) / 2;
            for (int k = -30; k <= 30; k++) {
                double la = lat + north_deg(lat, 100.0 * k);
                assert_int_equal(track_shape_covers(s, la, lon), track_shape_covers(back, la, lon));
                assert_true(fabs(track_shape_route_distance_m(s, la, lon) -
                                 track_shape_route_distance_m(back, la, lon)) < 1e-6);
            }
        }
        json_decref(again);
        track_shape_free(back);
        free(text);
        json_decref(gj);
        track_shape_free(s);
        json_decref(route);
    }
    json_t *route = J(routes[0]);
    assert_null(track_shape_corridor_stored(route, "{\"type\":\"Point\",\"coordinates\":[0,0]}"));
    assert_null(track_shape_corridor_stored(route, "{"));
    json_decref(route);
}

/* ---- decoders -------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    return T0 + 3600 * SEC;
}

static void test_decode_json(void **state)
{
    track_msg m;
    track_reject why;
    const char *ok = "{\"device\":\"TRK-1\",\"ts\":\"2024-03-01T00:10:00.250Z\",\"lat\":35.1,"
                     "\"lon\":129.04,\"speed_kmh\":62.5,\"heading\":90,\"seal\":\"closed\","
                     "\"door\":\"open\",\"temp_c\":4.5,\"battery_pct\":88,\"extra\":1}";
    assert_int_equal(track_decode_json(ok, strlen(ok), now_ms(), 300000, &m, &why), CX_OK);
    assert_string_equal(m.device, "TRK-1");
    assert_int_equal(m.ts_ms, T0 + 10 * MIN + 250);
    assert_true(m.lat == 35.1 && m.lon == 129.04 && m.speed_kmh == 62.5 && m.heading == 90);
    assert_int_equal(m.seal, TRACK_SEAL_CLOSED);
    assert_int_equal(m.door, TRACK_DOOR_OPEN);
    const char *ms = "{\"device\":\"TRK-1\",\"ts\":1709251260000,\"lat\":-1.9,\"lon\":30.06}";
    assert_int_equal(track_decode_json(ms, strlen(ms), now_ms(), 300000, &m, &why), CX_OK);
    assert_int_equal(m.ts_ms, T0 + MIN);
    assert_true(isnan(m.speed_kmh) && isnan(m.temp_c) && m.seal == TRACK_SEAL_NONE);

    static const struct {
        const char *text, *code, *needle;
    } bad[] = {
        {"{\"device\":\"TRK-1\",", "malformed_json", "JSON"},
        {"[1,2]", "not_object", "object"},
        {"{\"ts\":1709251260000,\"lat\":1,\"lon\":2}", "missing_field", "/device"},
        {"{\"device\":\"TRK 1\",\"ts\":1709251260000,\"lat\":1,\"lon\":2}", "bad_device",
         "/device"},
        {"{\"device\":\"T\",\"lat\":1,\"lon\":2}", "missing_field", "/ts"},
        {"{\"device\":\"T\",\"ts\":\"yesterday\",\"lat\":1,\"lon\":2}", "bad_timestamp", "/ts"},
        {"{\"device\":\"T\",\"ts\":1709251260000,\"lat\":91,\"lon\":2}", "bad_coordinates",
         "/lat"},
        {"{\"device\":\"T\",\"ts\":1709251260000,\"lat\":1,\"lon\":\"2\"}", "bad_coordinates",
         "/lon"},
        {"{\"device\":\"T\",\"ts\":1709251260000,\"lat\":0,\"lon\":0}", "bad_coordinates",
         "null island"},
        {"{\"device\":\"T\",\"ts\":1709251260000,\"lat\":1,\"lon\":2,\"seal\":\"broken\"}",
         "bad_field", "/seal"},
        {"{\"device\":\"T\",\"ts\":1709251260000,\"lat\":1,\"lon\":2,\"speed_kmh\":-3}",
         "bad_field", "/speed_kmh"},
        {"{\"device\":\"T\",\"ts\":1609251260000,\"lat\":1,\"lon\":2,\"door\":3}", "bad_field",
         "/door"},
        {"{\"device\":\"T\",\"ts\":\"2024-03-01T02:00:00Z\",\"lat\":1,\"lon\":2}",
         "future_timestamp", "ahead"},
        {"{\"device\":\"T\",\"ts\":1000,\"lat\":1,\"lon\":2}", "bad_timestamp", "2000"},
        {"{\"device\":\"T\",\"device\":\"U\",\"ts\":1709251260000,\"lat\":1,\"lon\":2}",
         "malformed_json", "duplicate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&why, 0, sizeof why);
        assert_int_equal(
            track_decode_json(bad[i].text, strlen(bad[i].text), now_ms(), 300000, &m, &why),
            CX_EPARSE);
        if (strcmp(why.code, bad[i].code) != 0 || !strstr(why.message, bad[i].needle))
            fail_msg("case %zu: got %s: %s", i, why.code, why.message);
    }
}

/* Query strings from Traccar's own decoder tests and from the Traccar
 * Client apps (Android sends knots, iOS the same; newer clients JSON). */
static void test_decode_osmand(void **state)
{
    static const struct {
        const char *qs;
        const char *device;
        double lat, lon;
        int64_t ts;
    } good[] = {
        {"id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&"
         "altitude=224.0&speed=0.0",
         "902064", 42.06288, -88.23412, 1453920947000LL},
        {"id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&"
         "speed=0.0",
         "902064", 42.06288, -88.23412, 1442068686579LL},
        {"lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&"
         "id=353861053849681",
         "353861053849681", 49.60688, 6.15788, 1401873011000LL},
        {"id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&"
         "hdop=0.0",
         "123456", 60.0, 30.0, 1377177267000LL},
        {"lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456&"
         "timestamp=1377177267",
         "123456", 60.0, 30.0, 1377177267000LL},
        {"id=123456&timestamp=1377177267&location=60.0,30.0", "123456", 60.0, 30.0,
         1377177267000LL},
        {"id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&"
         "bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24",
         "123456789012345", 40.7232948571, -74.0061408571, 1504763810000LL},
    };
    int64_t now = 1700000000000LL;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        track_osmand o;
        track_osmand_begin(&o);
        track_osmand_query(&o, good[i].qs, strlen(good[i].qs));
        track_msg m;
        track_reject why = {0};
        if (track_osmand_end(&o, now, 300000, &m, &why) != CX_OK)
            fail_msg("case %zu refused: %s %s", i, why.code, why.message);
        assert_string_equal(m.device, good[i].device);
        assert_true(m.lat == good[i].lat && m.lon == good[i].lon);
        assert_int_equal(m.ts_ms, good[i].ts);
    }
    /* speed in knots; bearing */
    track_osmand o;
    track_osmand_begin(&o);
    const char *q = "id=TRK-9&lat=1.5&lon=2.5&speed=10&bearing=7.5&batt=87&seal=open";
    track_osmand_query(&o, q, strlen(q));
    track_msg m;
    track_reject why;
    assert_int_equal(track_osmand_end(&o, now, 300000, &m, &why), CX_OK);
    assert_true(fabs(m.speed_kmh - 18.52) < 1e-9);
    assert_true(m.heading == 7.5 && m.battery_pct == 87 && m.seal == TRACK_SEAL_OPEN);
    assert_int_equal(m.ts_ms, now); /* no timestamp: now, like Traccar */
    assert_string_equal(o.key, "");
    /* key= (the device's secret, in its server URL) is picked up, decoded */
    track_osmand_begin(&o);
    q = "key=Zt4-rK9q_W2x.Lm7%7EPb5&id=TRK-9&lat=1.5&lon=2.5";
    track_osmand_query(&o, q, strlen(q));
    assert_int_equal(track_osmand_end(&o, now, 300000, &m, &why), CX_OK);
    assert_string_equal(o.key, "Zt4-rK9q_W2x.Lm7~Pb5");
    assert_true(track_osmand_key_valid(o.key));
    assert_false(track_osmand_key_valid("0123456789abcde"));   /* 15 */
    assert_true(track_osmand_key_valid("0123456789abcdef"));   /* 16 */
    assert_false(track_osmand_key_valid("0123456789abcdef/"));  /* not URL-safe as it is */
    assert_false(track_osmand_key_valid(NULL));
    /* refusals */
    static const struct {
        const char *qs, *code;
    } bad[] = {
        {"timestamp=1377177267&lat=60.0&lon=30.0", "missing_field"},
        {"id=123456&timestamp=1377177267&cell=257,02,16,2224", "missing_field"},
        {"id=1&lat=91&lon=3", "bad_coordinates"},
        {"id=1&lat=1&lon=3&timestamp=soon", "bad_timestamp"},
        {"id=1&lat=1&lon=3&valid=false", "invalid_fix"},
        {"id=a%20b&lat=1&lon=3", "bad_device"},
        {"id=1&lat=0&lon=0", "bad_coordinates"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        track_osmand_begin(&o);
        track_osmand_query(&o, bad[i].qs, strlen(bad[i].qs));
        assert_int_equal(track_osmand_end(&o, now, 300000, &m, &why), CX_EPARSE);
        if (strcmp(why.code, bad[i].code) != 0)
            fail_msg("case %zu: got %s (%s)", i, why.code, why.message);
    }
    /* The Traccar Client JSON body (from Traccar's decoder tests). */
    const char *js =
        "{\"location\":{\"event\":\"motionchange\",\"is_moving\":false,\"uuid\":\"0e9a2473\","
        "\"timestamp\":\"2021-07-21T08:06:34.444Z\",\"odometer\":0,\"coords\":{\"latitude\":"
        "-6.1148096,\"longitude\":106.6837015,\"accuracy\":3.8,\"speed\":18.67,\"heading\":63,"
        "\"altitude\":35.7},\"activity\":{\"type\":\"still\"},\"battery\":{\"is_charging\":false,"
        "\"level\":0.79},\"extras\":{}},\"device_id\":\"8737767034\"}";
    assert_int_equal(track_osmand_json(js, strlen(js), now, 300000, &m, &why), CX_OK);
    assert_string_equal(m.device, "8737767034");
    assert_int_equal(m.ts_ms, 1626854794444LL);
    assert_true(fabs(m.speed_kmh - 18.67 * 3.6) < 1e-9 && m.heading == 63);
    assert_true(fabs(m.battery_pct - 79) < 1e-9);
    /* What 90 s of fuzzing found: a member given twice (the second speed
     * above the bound) was read as its last value. Both are refused now. */
    const char *twice =
        "{\"location\":{\"event\":\"m444Z\",\"odometer\":0,\"coords\":{\"latitude\":-6.1148096,"
        "\"longitude\":106.68,\"speed\":18.67,\"headign\":633.8,\"speed\":584.7},\"battery\":"
        "{\"is_charging\":false,\"level\":0.79}},\"device_id\":\"8737767034\"}";
    assert_int_equal(track_osmand_json(twice, strlen(twice), now, 300000, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "malformed_json");
    const char *fast = "{\"location\":{\"coords\":{\"latitude\":1,\"longitude\":2,"
                       "\"speed\":584.7}},\"device_id\":\"D1\"}";
    assert_int_equal(track_osmand_json(fast, strlen(fast), now, 300000, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "bad_field");
    assert_non_null(strstr(why.message, "/location/coords/speed"));
    const char *unknown = "{\"location\":{\"coords\":{\"latitude\":1,\"longitude\":2,"
                          "\"speed\":-1}},\"device_id\":\"D1\"}";
    assert_int_equal(track_osmand_json(unknown, strlen(unknown), now, 300000, &m, &why), CX_OK);
    assert_true(isnan(m.speed_kmh));
    /* the same bound for the knots of the query string */
    track_osmand_begin(&o);
    track_osmand_query(&o, "id=D1&lat=1&lon=2&speed=1134", 28);
    assert_int_equal(track_osmand_end(&o, now, 300000, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "bad_field");
}

/* ---- the engine ------------------------------------------------------------------------- */

#define MAX_ALERTS 64
typedef struct {
    int n;
    track_alert_type type[MAX_ALERTS];
    track_severity sev[MAX_ALERTS];
    int64_t time[MAX_ALERTS];
    char cons[MAX_ALERTS][TRACK_ID_MAX + 1];
    char *detail[MAX_ALERTS];
} sink;

static void sink_fn(void *ctx, const track_alert *a)
{
    sink *s = ctx;
    if (s->n >= MAX_ALERTS)
        fail_msg("too many alerts");
    s->type[s->n] = a->type;
    s->sev[s->n] = a->severity;
    s->time[s->n] = a->time_ms;
    snprintf(s->cons[s->n], sizeof s->cons[s->n], "%s", a->consignment ? a->consignment : "");
    s->detail[s->n] = json_dumps(a->detail, JSON_SORT_KEYS);
    s->n++;
}

static void sink_reset(sink *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->detail[i]);
    s->n = 0;
}

typedef struct {
    track_engine *e;
    sink s;
} fx;

/* A world around (lon 30, lat 0): ORIGIN port at x<30.02, DEST depot near
 * 31, an office, a restricted zone north, a hole-y warehouse; route from
 * (30,0) to (31,0), corridor 2 km. */
static void fx_zone(track_engine *e, int64_t key, const char *id, track_zone_kind kind,
                    const char *geo)
{
    track_zone_def z = {.key = key, .id = id, .name = id, .kind = kind};
    assert_int_equal(track_engine_zone(e, &z, zone(geo)), CX_OK);
}

static int setup_engine(void **state)
{
    fx *f = calloc(1, sizeof *f);
    track_config cfg;
    track_config_defaults(&cfg);
    f->e = track_engine_new(&cfg);
    fx_zone(f->e, 1, "ORIGIN", TRACK_ZONE_PORT,
            "{\"type\":\"Polygon\",\"coordinates\":[[[29.98,-0.02],[30.02,-0.02],[30.02,0.02],"
            "[29.98,0.02],[29.98,-0.02]]]}");
    fx_zone(f->e, 2, "DEST", TRACK_ZONE_BONDED_WAREHOUSE,
            "{\"type\":\"Polygon\",\"coordinates\":[[[30.98,-0.02],[31.02,-0.02],[31.02,0.02],"
            "[30.98,0.02],[30.98,-0.02]]]}");
    fx_zone(f->e, 3, "NO-GO", TRACK_ZONE_RESTRICTED,
            "{\"type\":\"Polygon\",\"coordinates\":[[[30.4,0.3],[30.6,0.3],[30.6,0.5],"
            "[30.4,0.5],[30.4,0.3]]]}");
    fx_zone(f->e, 4, "OFFICE", TRACK_ZONE_CUSTOMS_OFFICE,
            "{\"type\":\"Polygon\",\"coordinates\":[[[30.7,-0.01],[30.72,-0.01],[30.72,0.01],"
            "[30.7,0.01],[30.7,-0.01]]]}");
    /* a yard with an island in it (the hole), south of the route */
    fx_zone(f->e, 5, "YARD", TRACK_ZONE_PORT,
            "{\"type\":\"Polygon\",\"coordinates\":[[[30.2,-0.3],[30.3,-0.3],[30.3,-0.2],"
            "[30.2,-0.2],[30.2,-0.3]],[[30.24,-0.26],[30.26,-0.26],[30.26,-0.24],"
            "[30.24,-0.24],[30.24,-0.26]]]}");
    json_t *route = J("{\"type\":\"LineString\",\"coordinates\":[[30,0],[31,0]]}");
    const char *containers[] = {"CSQU3054383"};
    track_consignment_def c = {.key = 10, .id = "CONS-1", .containers = containers,
                               .ncontainers = 1, .origin_zone = "ORIGIN",
                               .destination_zone = "DEST", .expected_arrival_ms = T0 + 600 * MIN,
                               .corridor_m = 2000, .temp_min_c = 2, .temp_max_c = 8,
                               .route = route};
    json_t *p = json_array();
    track_shape *cor = track_shape_corridor(route, 2000, "/route", p);
    assert_non_null(cor);
    assert_int_equal(track_engine_consignment(f->e, &c, cor), CX_OK);
    json_decref(p);
    json_decref(route);
    track_device_def d = {.key = 100, .id = "TRK-1", .org = "CARRIER-A",
                          .kind = TRACK_KIND_GPS_TRACKER, .container = "CSQU3054383",
                          .temp_min_c = NAN, .temp_max_c = NAN};
    assert_int_equal(track_engine_device(f->e, &d), CX_OK);
    track_device_def free_dev = {.key = 101, .id = "LOOSE-1", .org = "CARRIER-A",
                                 .kind = TRACK_KIND_E_SEAL, .temp_min_c = NAN,
                                 .temp_max_c = NAN};
    assert_int_equal(track_engine_device(f->e, &free_dev), CX_OK);
    cx_clock_set(T0 * 1000);
    *state = f;
    return 0;
}

static int teardown_engine(void **state)
{
    fx *f = *state;
    sink_reset(&f->s);
    track_engine_free(f->e);
    free(f);
    cx_clock_release();
    return 0;
}

/* Sends one report; the wall clock follows event time unless told not to. */
static track_outcome send(fx *f, const char *dev, int64_t ts, double lat, double lon,
                          const char *extra)
{
    track_msg m;
    track_reject why;
    char text[512];
    snprintf(text, sizeof text, "{\"device\":\"%s\",\"ts\":%lld,\"lat\":%.9f,\"lon\":%.9f%s%s}",
             dev, (long long)ts, lat, lon, extra ? "," : "", extra ? extra : "");
    if (track_decode_json(text, strlen(text), ts + 1000, 300000, &m, &why) != CX_OK)
        fail_msg("test message refused: %s", why.message);
    return track_engine_process(f->e, &m, ts * 1000, sink_fn, &f->s);
}

static int count(const sink *s, track_alert_type t)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->type[i] == t;
    return n;
}

static int find(const sink *s, track_alert_type t)
{
    for (int i = 0; i < s->n; i++)
        if (s->type[i] == t)
            return i;
    return -1;
}

static void test_rule_zone_debounce(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    /* baseline inside ORIGIN: no alert for the first report */
    send(f, "TRK-1", t, 0, 30.0, NULL);
    assert_int_equal(f->s.n, 0);
    /* jitter across the port fence, each time shorter than the debounce */
    for (int i = 0; i < 6; i++) {
        t += 10 * SEC;
        send(f, "TRK-1", t, 0, i % 2 ? 30.019 : 30.021, NULL);
    }
    assert_int_equal(count(&f->s, TRACK_A_ZONE_EXIT), 0);
    /* now out for good: one exit after 30 s, not one per message */
    for (int i = 0; i < 10; i++) {
        t += 10 * SEC;
        send(f, "TRK-1", t, 0, 30.03 + i * 0.001, NULL);
    }
    assert_int_equal(count(&f->s, TRACK_A_ZONE_EXIT), 1);
    int k = find(&f->s, TRACK_A_ZONE_EXIT);
    assert_int_equal(f->s.sev[k], TRACK_SEV_INFO);
    assert_string_equal(f->s.cons[k], "CONS-1");
    assert_non_null(strstr(f->s.detail[k], "\"zone\": \"ORIGIN\""));
    /* the exit fires at the first report at least 30 s after leaving */
    assert_int_equal(f->s.time[k], T0 + 7 * 10 * SEC + 30 * SEC);
    assert_int_equal(count(&f->s, TRACK_A_ZONE_ENTER), 0);
}

static void test_rule_zone_hole(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    send(f, "LOOSE-1", t, -0.28, 30.25, NULL); /* in the yard */
    t += 5 * MIN;
    send(f, "LOOSE-1", t, -0.25, 30.25, NULL); /* the island: outside the zone */
    t += 5 * MIN;
    send(f, "LOOSE-1", t, -0.25, 30.251, NULL);
    assert_int_equal(count(&f->s, TRACK_A_ZONE_EXIT), 1);
    t += 5 * MIN;
    send(f, "LOOSE-1", t, -0.21, 30.25, NULL);
    t += 5 * MIN;
    send(f, "LOOSE-1", t, -0.21, 30.251, NULL);
    assert_int_equal(count(&f->s, TRACK_A_ZONE_ENTER), 1);
    assert_int_equal(f->s.n, 2);
}

static void test_rule_restricted_zone_critical(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    send(f, "LOOSE-1", t, 0.2, 30.5, NULL);
    for (int i = 0; i < 4; i++) {
        t += 20 * SEC;
        send(f, "LOOSE-1", t, 0.4, 30.5 + i * 0.001, NULL);
    }
    assert_int_equal(count(&f->s, TRACK_A_ZONE_ENTER), 1);
    assert_int_equal(f->s.sev[find(&f->s, TRACK_A_ZONE_ENTER)], TRACK_SEV_CRITICAL);
}

/* A territory (the drone rules' national territory) is no zone to the
 * container rules: entering it raises nothing; a zone of another kind on
 * the same ground does. */
static void test_rule_territory_ignored(void **state)
{
    fx *f = *state;
    const char *sq = "{\"type\":\"Polygon\",\"coordinates\":[[[30.4,0.6],[30.6,0.6],[30.6,0.8],"
                     "[30.4,0.8],[30.4,0.6]]]}";
    fx_zone(f->e, 99, "TERR", TRACK_ZONE_TERRITORY, sq);
    int64_t t = T0;
    send(f, "LOOSE-1", t, 0.55, 30.5, NULL);
    for (int i = 0; i < 4; i++) {
        t += 20 * SEC;
        send(f, "LOOSE-1", t, 0.7, 30.5 + i * 0.001, NULL);
    }
    assert_int_equal(count(&f->s, TRACK_A_ZONE_ENTER), 0);
    fx_zone(f->e, 100, "POST", TRACK_ZONE_BORDER, sq);
    t += 20 * SEC;
    send(f, "LOOSE-1", t, 0.55, 30.5, NULL);
    for (int i = 0; i < 4; i++) {
        t += 20 * SEC;
        send(f, "LOOSE-1", t, 0.7, 30.5 + i * 0.001, NULL);
    }
    assert_int_equal(count(&f->s, TRACK_A_ZONE_ENTER), 1);
    assert_non_null(strstr(f->s.detail[find(&f->s, TRACK_A_ZONE_ENTER)], "\"POST\""));
}

/* Drives TRK-1 along the route at 1 km per 30 s, calling back before each
 * report so a test can bend the track. */
static void test_rule_corridor_deviation(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    double lon = 30.03; /* just out of the port */
    send(f, "TRK-1", t, 0, lon, NULL);
    /* wander 1.5 km off the road for 90 s: inside the grace, no alert */
    for (int i = 1; i <= 3; i++)
        send(f, "TRK-1", t + i * 30 * SEC, north_deg(0, 1500), lon + i * 0.009, NULL);
    send(f, "TRK-1", t + 4 * 30 * SEC, 0, lon + 4 * 0.009, NULL);
    assert_int_equal(count(&f->s, TRACK_A_CORRIDOR_DEVIATION), 0);
    /* now 4 km off for 5 minutes: one alert after 120 s */
    t += 5 * 30 * SEC;
    for (int i = 0; i < 10; i++)
        send(f, "TRK-1", t + i * 30 * SEC, north_deg(0, 4000), lon + 0.05 + i * 0.009, NULL);
    assert_int_equal(count(&f->s, TRACK_A_CORRIDOR_DEVIATION), 1);
    int k = find(&f->s, TRACK_A_CORRIDOR_DEVIATION);
    assert_int_equal(f->s.sev[k], TRACK_SEV_WARNING);
    assert_int_equal(f->s.time[k], t + 4 * 30 * SEC);
    assert_non_null(strstr(f->s.detail[k], "\"distance_m\": 4000"));
    /* back in for 30 s (less than corridor_return_s), out again: same episode */
    t += 10 * 30 * SEC;
    send(f, "TRK-1", t, 0, lon + 0.2, NULL);
    for (int i = 1; i <= 6; i++)
        send(f, "TRK-1", t + i * 30 * SEC, north_deg(0, 4000), lon + 0.2 + i * 0.009, NULL);
    assert_int_equal(count(&f->s, TRACK_A_CORRIDOR_DEVIATION), 1);
    /* back in for 2 minutes ends it; a new excursion is a new alert, and far
     * (12 km) it is critical */
    t += 7 * 30 * SEC;
    for (int i = 0; i < 5; i++)
        send(f, "TRK-1", t + i * 30 * SEC, 0, lon + 0.3 + i * 0.009, NULL);
    t += 5 * 30 * SEC;
    for (int i = 0; i < 6; i++)
        send(f, "TRK-1", t + i * 30 * SEC, north_deg(0, 12000), lon + 0.4 + i * 0.009, NULL);
    assert_int_equal(count(&f->s, TRACK_A_CORRIDOR_DEVIATION), 2);
    assert_int_equal(f->s.sev[f->s.n - 1], TRACK_SEV_CRITICAL);
}

static void test_rule_unscheduled_stop(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    /* parked at the office (allowed) for an hour: nothing */
    for (int i = 0; i <= 12; i++)
        send(f, "TRK-1", t + i * 5 * MIN, 0.0001 * (i % 2), 30.71, NULL);
    assert_int_equal(count(&f->s, TRACK_A_UNSCHEDULED_STOP), 0);
    /* parked on the road, GPS wobbling by 30 m, for 40 minutes: one stop at 20 min */
    t += 70 * MIN;
    for (int i = 0; i <= 8; i++)
        send(f, "TRK-1", t + i * 5 * MIN, north_deg(0, (i % 3) * 15), 30.5, NULL);
    assert_int_equal(count(&f->s, TRACK_A_UNSCHEDULED_STOP), 1);
    int k = find(&f->s, TRACK_A_UNSCHEDULED_STOP);
    assert_int_equal(f->s.time[k], t + 20 * MIN);
    /* driving on, stopping 10 minutes: not long enough */
    t += 45 * MIN;
    for (int i = 0; i <= 2; i++)
        send(f, "TRK-1", t + i * 5 * MIN, 0, 30.6, NULL);
    assert_int_equal(count(&f->s, TRACK_A_UNSCHEDULED_STOP), 1);
}

static void test_rule_seal_and_door(void **state)
{
    fx *f = *state;
    int64_t t = T0 + 10 * MIN;
    send(f, "TRK-1", t, 0, 30.3, "\"seal\":\"closed\",\"door\":\"closed\"");
    assert_int_equal(f->s.n, 0);
    send(f, "TRK-1", t + 30 * SEC, 0, 30.31, "\"seal\":\"open\"");
    send(f, "TRK-1", t + 60 * SEC, 0, 30.32, "\"seal\":\"open\"");
    assert_int_equal(count(&f->s, TRACK_A_SEAL_OPENED), 1);
    assert_int_equal(f->s.sev[find(&f->s, TRACK_A_SEAL_OPENED)], TRACK_SEV_CRITICAL);
    send(f, "TRK-1", t + 90 * SEC, 0, 30.33, "\"seal\":\"tampered\"");
    assert_int_equal(count(&f->s, TRACK_A_SEAL_TAMPERED), 1);
    assert_int_equal(f->s.sev[find(&f->s, TRACK_A_SEAL_TAMPERED)], TRACK_SEV_CRITICAL);
    /* re-sealed at the office, then opened there: info */
    send(f, "TRK-1", t + 120 * SEC, 0, 30.71, "\"seal\":\"closed\"");
    send(f, "TRK-1", t + 150 * SEC, 0, 30.711, "\"seal\":\"open\",\"door\":\"open\"");
    assert_int_equal(count(&f->s, TRACK_A_SEAL_OPENED), 2);
    assert_int_equal(f->s.sev[f->s.n - 2], TRACK_SEV_INFO);
    assert_int_equal(f->s.type[f->s.n - 1], TRACK_A_DOOR_OPEN);
    assert_int_equal(f->s.sev[f->s.n - 1], TRACK_SEV_INFO);
    /* door closed then opened on the road: warning */
    send(f, "TRK-1", t + 180 * SEC, 0, 30.8, "\"door\":\"closed\"");
    send(f, "TRK-1", t + 210 * SEC, 0, 30.81, "\"door\":\"open\"");
    send(f, "TRK-1", t + 240 * SEC, 0, 30.82, "\"door\":\"open\"");
    assert_int_equal(count(&f->s, TRACK_A_DOOR_OPEN), 2);
    assert_int_equal(f->s.sev[f->s.n - 1], TRACK_SEV_WARNING);
}

static void test_rule_temperature(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    send(f, "TRK-1", t, 0, 30.3, "\"temp_c\":5");
    /* a 3-minute spike (door opened to check): inside the grace */
    send(f, "TRK-1", t + 1 * MIN, 0, 30.31, "\"temp_c\":11");
    send(f, "TRK-1", t + 4 * MIN, 0, 30.32, "\"temp_c\":9");
    send(f, "TRK-1", t + 5 * MIN, 0, 30.33, "\"temp_c\":6");
    assert_int_equal(count(&f->s, TRACK_A_TEMPERATURE), 0);
    /* compressor failure: warm for 20 minutes, one alert at 5 minutes */
    for (int i = 0; i <= 20; i++)
        send(f, "TRK-1", t + (10 + i) * MIN, 0, 30.34 + i * 0.001, "\"temp_c\":12.5");
    assert_int_equal(count(&f->s, TRACK_A_TEMPERATURE), 1);
    assert_int_equal(f->s.time[0], t + 15 * MIN);
    /* a device without a declared range never alerts on temperature */
    send(f, "LOOSE-1", t, 0.5, 31.5, "\"temp_c\":40");
    send(f, "LOOSE-1", t + 60 * MIN, 0.5, 31.5, "\"temp_c\":40");
    assert_int_equal(count(&f->s, TRACK_A_TEMPERATURE), 1);
}

static void test_rule_signal_loss(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    send(f, "TRK-1", t, 0, 30.3, NULL);
    /* live: the wall clock runs on, 14 minutes is not enough... */
    cx_clock_set((t + 14 * MIN) * 1000);
    track_engine_tick(f->e, cx_now_us(), sink_fn, &f->s);
    assert_int_equal(f->s.n, 0);
    /* ...16 is, once */
    cx_clock_set((t + 16 * MIN) * 1000);
    track_engine_tick(f->e, cx_now_us(), sink_fn, &f->s);
    cx_clock_set((t + 30 * MIN) * 1000);
    track_engine_tick(f->e, cx_now_us(), sink_fn, &f->s);
    assert_int_equal(count(&f->s, TRACK_A_SIGNAL_LOSS), 1);
    assert_int_equal(f->s.time[0], t + 15 * MIN);
    assert_non_null(strstr(f->s.detail[0], "wall_clock"));
    /* it returns: no second alert for the same silence */
    send(f, "TRK-1", t + 31 * MIN, 0, 30.35, NULL);
    assert_int_equal(count(&f->s, TRACK_A_SIGNAL_LOSS), 1);
    /* replayed fast (the wall clock does not move): the gap in event time
     * raises the same alert, at the same event time */
    send(f, "TRK-1", t + 60 * MIN, 0, 30.4, NULL);
    assert_int_equal(count(&f->s, TRACK_A_SIGNAL_LOSS), 2);
    assert_int_equal(f->s.time[1], t + 31 * MIN + 15 * MIN);
    assert_non_null(strstr(f->s.detail[1], "event_time"));
    assert_non_null(strstr(f->s.detail[1], "\"silent_s\": 1740"));
}

static void test_rule_impossible_jump(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    send(f, "TRK-1", t, 0, 30.3, NULL);
    send(f, "TRK-1", t + 30 * SEC, 0, 30.305, NULL); /* 56 km/h */
    assert_int_equal(f->s.n, 0);
    /* teleported 55 km in 10 s */
    send(f, "TRK-1", t + 40 * SEC, 0, 30.8, NULL);
    assert_int_equal(count(&f->s, TRACK_A_IMPOSSIBLE_JUMP), 1);
    int k = find(&f->s, TRACK_A_IMPOSSIBLE_JUMP);
    assert_int_equal(f->s.sev[k], TRACK_SEV_CRITICAL);
    assert_non_null(strstr(f->s.detail[k], "\"speed_kmh\""));
    /* and back (spoofer switched off): same episode */
    send(f, "TRK-1", t + 50 * SEC, 0, 30.306, NULL);
    assert_int_equal(count(&f->s, TRACK_A_IMPOSSIBLE_JUMP), 1);
    /* GPS jitter of 500 m over 2 s is under jump_min_m: not a jump */
    send(f, "TRK-1", t + 52 * SEC, north_deg(0, 500), 30.306, NULL);
    assert_int_equal(count(&f->s, TRACK_A_IMPOSSIBLE_JUMP), 1);
}

static void test_rule_overdue_and_arrival(void **state)
{
    fx *f = *state;
    int64_t t = T0 + 600 * MIN; /* expected arrival */
    send(f, "TRK-1", t, 0, 30.9, NULL);
    /* 29 minutes late is within the grace */
    cx_clock_set((t + 29 * MIN) * 1000);
    track_engine_tick(f->e, cx_now_us(), sink_fn, &f->s);
    assert_int_equal(count(&f->s, TRACK_A_OVERDUE), 0);
    cx_clock_set((t + 31 * MIN) * 1000);
    track_engine_tick(f->e, cx_now_us(), sink_fn, &f->s);
    track_engine_tick(f->e, cx_now_us(), sink_fn, &f->s);
    assert_int_equal(count(&f->s, TRACK_A_OVERDUE), 1);
    assert_int_equal(f->s.time[find(&f->s, TRACK_A_OVERDUE)], t + 30 * MIN);
    /* arrives: zone enter after the debounce, consignment arrived */
    send(f, "TRK-1", t + 32 * MIN, 0, 31.0, NULL);
    send(f, "TRK-1", t + 33 * MIN, 0, 31.001, "\"seal\":\"open\"");
    assert_int_equal(count(&f->s, TRACK_A_ZONE_ENTER), 1);
    int64_t arrived = 0;
    assert_true(track_engine_consignment_state(f->e, "CONS-1", &arrived, NULL));
    assert_int_equal(arrived, t + 32 * MIN);
    /* opening the seal inside the destination is routine */
    assert_int_equal(f->s.sev[find(&f->s, TRACK_A_SEAL_OPENED)], TRACK_SEV_INFO);
    assert_null(track_engine_device_consignment(f->e, "TRK-1"));
    /* (the 29 minutes without reports before arrival were a signal loss) */
    assert_int_equal(count(&f->s, TRACK_A_SIGNAL_LOSS), 1);
    /* after arrival no transit rule runs: hours of silence are fine */
    cx_clock_set((t + 300 * MIN) * 1000);
    track_engine_tick(f->e, cx_now_us(), sink_fn, &f->s);
    assert_int_equal(count(&f->s, TRACK_A_SIGNAL_LOSS), 1);
}

static void test_rule_overdue_event_time(void **state)
{
    fx *f = *state;
    /* replay: the wall clock is before everything; event time passes the
     * deadline without an arrival */
    cx_clock_set(T0 * 1000);
    int64_t t = T0 + 600 * MIN + 25 * MIN;
    send(f, "TRK-1", t, 0, 30.9, NULL);
    assert_int_equal(count(&f->s, TRACK_A_OVERDUE), 0);
    send(f, "TRK-1", t + 6 * MIN, 0, 30.91, NULL);
    assert_int_equal(count(&f->s, TRACK_A_OVERDUE), 1);
    assert_int_equal(f->s.time[0], T0 + 630 * MIN);
    assert_non_null(strstr(f->s.detail[0], "event_time"));
}

static void test_out_of_order_and_duplicates(void **state)
{
    fx *f = *state;
    int64_t t = T0;
    assert_int_equal(send(f, "TRK-1", t + 10 * MIN, 0, 30.3, "\"seal\":\"closed\""),
                     TRACK_APPLIED);
    /* an older report with the seal open: stored elsewhere, no rule runs */
    assert_int_equal(send(f, "TRK-1", t + 5 * MIN, 0, 30.2, "\"seal\":\"open\""), TRACK_LATE);
    assert_int_equal(f->s.n, 0);
    /* QoS 1 redelivery */
    assert_int_equal(send(f, "TRK-1", t + 10 * MIN, 0, 30.3, "\"seal\":\"closed\""),
                     TRACK_DUPLICATE);
    /* the newest state is unchanged: a jump is measured from 30.3 */
    assert_int_equal(send(f, "TRK-1", t + 10 * MIN + 30 * SEC, 0, 30.305, NULL), TRACK_APPLIED);
    assert_int_equal(f->s.n, 0);
    assert_int_equal(send(f, "NOBODY", t, 0, 30.3, NULL), TRACK_UNKNOWN);
}

/* A consignment across the antimeridian (Taveuni, Fiji): driving over 180
 * degrees is not a deviation and not a jump. */
static void test_rule_antimeridian_journey(void **state)
{
    fx *f = *state;
    json_t *route = J("{\"type\":\"LineString\",\"coordinates\":[[179.85,-16.85],[180,-16.8],"
                      "[-179.9,-16.78]]}");
    const char *containers[] = {"MSCU1234566"};
    track_consignment_def c = {.key = 11, .id = "CONS-FJ", .containers = containers,
                               .ncontainers = 1, .corridor_m = 2000, .temp_min_c = NAN,
                               .temp_max_c = NAN, .route = route};
    json_t *p = json_array();
    assert_int_equal(track_engine_consignment(f->e, &c, track_shape_corridor(route, 2000, "", p)),
                     CX_OK);
    json_decref(p);
    track_device_def d = {.key = 102, .id = "FJ-1", .org = "C", .container = "MSCU1234566",
                          .temp_min_c = NAN, .temp_max_c = NAN};
    assert_int_equal(track_engine_device(f->e, &d), CX_OK);
    assert_string_equal(track_engine_device_consignment(f->e, "FJ-1"), "CONS-FJ");
    int64_t t = T0;
    for (int i = 0; i <= 30; i++) {
        double frac = i / 30.0;
        double lon = 179.85 + frac * 0.25;
        if (lon > 180)
            lon -= 360;
        double lat = frac < 0.6 ? -16.85 + frac / 0.6 * 0.05 : -16.8 + (frac - 0.6) / 0.4 * 0.02;
        send(f, "FJ-1", t + i * 30 * SEC, lat, lon, NULL);
    }
    assert_int_equal(f->s.n, 0);
    /* and a real excursion there is seen */
    for (int i = 1; i <= 6; i++)
        send(f, "FJ-1", t + (30 + i) * 30 * SEC, -16.70, -179.9, NULL);
    assert_int_equal(count(&f->s, TRACK_A_CORRIDOR_DEVIATION), 1);
    json_decref(route);
}

/* A truck following a route that goes out and comes back on a parallel
 * road 3 km north raises nothing; cutting across the field between the
 * two legs (1.5 km from each) is a deviation. */
static void test_rule_corridor_doubling_back(void **state)
{
    fx *f = *state;
    double back = north_deg(0, 3000);
    char geo[256];
    snprintf(geo, sizeof geo,
             "{\"type\":\"LineString\",\"coordinates\":[[40,0],[40.3,0],[40.3,%.9f],"
             "[40,%.9f]]}",
             back, back);
    json_t *route = J(geo);
    const char *containers[] = {"TGHU1234569"};
    track_consignment_def c = {.key = 12, .id = "CONS-UTURN", .containers = containers,
                               .ncontainers = 1, .corridor_m = 2000, .temp_min_c = NAN,
                               .temp_max_c = NAN, .route = route};
    json_t *p = json_array();
    assert_int_equal(track_engine_consignment(f->e, &c, track_shape_corridor(route, 2000, "", p)),
                     CX_OK);
    json_decref(p);
    track_device_def d = {.key = 103, .id = "UT-1", .org = "C", .container = "TGHU1234569",
                          .temp_min_c = NAN, .temp_max_c = NAN};
    assert_int_equal(track_engine_device(f->e, &d), CX_OK);
    int64_t t = T0;
    /* out along the first leg, up the turn, back along the second */
    for (int i = 0; i <= 30; i++, t += MIN)
        send(f, "UT-1", t, 0, 40 + i * 0.01, NULL);
    for (int i = 1; i <= 3; i++, t += MIN)
        send(f, "UT-1", t, back * i / 3, 40.3, NULL);
    for (int i = 1; i <= 30; i++, t += MIN)
        send(f, "UT-1", t, back, 40.3 - i * 0.01, NULL);
    assert_int_equal(count(&f->s, TRACK_A_CORRIDOR_DEVIATION), 0);
    /* now across the middle, between the legs */
    for (int i = 1; i <= 6; i++, t += MIN)
        send(f, "UT-1", t, back / 2, 40 + i * 0.01, NULL);
    assert_int_equal(count(&f->s, TRACK_A_CORRIDOR_DEVIATION), 1);
    int k = find(&f->s, TRACK_A_CORRIDOR_DEVIATION);
    assert_non_null(strstr(f->s.detail[k], "\"distance_m\": 1500"));
    json_decref(route);
}

/* ---- retention and thresholds ------------------------------------------------------------ */

typedef struct {
    int64_t from, n, step;
} pos_fill;

static cx_err fill_positions(store_conn *w, void *arg)
{
    pos_fill *f = arg;
    if (store_exec(w, "INSERT OR IGNORE INTO track_devices(idx, id, org, kind, doc, created_at) "
                      "VALUES(1, 'D1', 'O', 'e-seal', '{}', 'x')") != CX_OK)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO track_positions(dev, ts, lat, lon, src) "
                                     "VALUES(1, ?1, 1, 2, 0)");
    for (int64_t i = 0; i < f->n; i++) {
        sqlite3_bind_int64(st, 1, f->from + i * f->step);
        if (sqlite3_step(st) != SQLITE_DONE)
            return CX_EDB;
        sqlite3_reset(st);
    }
    /* an alert on an old report keeps that report */
    st = store_stmt(w, "INSERT INTO track_alert_marks(dev, ts) VALUES(1, ?1)");
    sqlite3_bind_int64(st, 1, f->from + 7 * f->step);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    return store_exec(w, "INSERT INTO track_dead_letters(received_at, source, reason, message) "
                         "VALUES(0, 'http', 'bad_field', 'old'), "
                         "(9000000000000000, 'http', 'bad_field', 'new')");
}

static int64_t count_sql(store *s, const char *sql)
{
    sqlite3_stmt *st = store_stmt(store_reader(s), sql);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return n;
}

static void test_retention_thins_old_positions(void **state)
{
    char path[64];
    uk_tmp_path(path, "track");
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), CX_OK);
    assert_int_equal(track_migrate(s, err, sizeof err), CX_OK);
    /* 40 days of one report a minute */
    int64_t day = 86400000LL;
    pos_fill f = {.from = T0, .n = 40 * 1440, .step = MIN};
    assert_int_equal(store_write(s, fill_positions, &f), CX_OK);
    track_config cfg;
    track_config_defaults(&cfg); /* 30 days raw, then one per 5 minutes */
    int64_t now_us = (T0 + 40 * day) * 1000;
    track_retention_stats st;
    assert_int_equal(track_retention_run(s, &cfg, now_us, &st), CX_OK);
    /* the first 10 days: 2880 buckets of 5 minutes, plus the alert's report */
    assert_int_equal(count_sql(s, "SELECT count(*) FROM track_positions WHERE ts < "
                                  "1710115200000"),
                     10 * 288 + 1);
    assert_int_equal(st.positions_deleted, 10 * 1440 - (10 * 288 + 1));
    assert_int_equal(count_sql(s, "SELECT count(*) FROM track_positions WHERE ts >= "
                                  "1710115200000"),
                     30 * 1440);
    assert_int_equal(count_sql(s, "SELECT count(*) FROM track_positions WHERE ts = "
                                  "1709251620000"),
                     1); /* 00:07, where the alert fired */
    assert_int_equal(st.dead_letters_deleted, 1);
    /* running again changes nothing; a day later thins one more day */
    assert_int_equal(track_retention_run(s, &cfg, now_us, &st), CX_OK);
    assert_int_equal(st.positions_deleted, 0);
    assert_int_equal(track_retention_run(s, &cfg, now_us + day * 1000, &st), CX_OK);
    assert_int_equal(st.positions_deleted, 1440 - 288);
    store_free(s);
    uk_rm_db(path);
}

/* A zones file (--drone-zones, drones import --zones) is all or nothing: a
 * feature that repeats an id of the same file is refused by its pointer,
 * not counted as "already stored" while the first one is written. */
static void zones_file(const char *path, const char *id2)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"type\":\"FeatureCollection\",\"features\":["
               "{\"type\":\"Feature\",\"properties\":{\"id\":\"z1\",\"kind\":\"port\"},"
               "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}},"
               "{\"type\":\"Feature\",\"properties\":{\"id\":\"%s\",\"kind\":\"restricted\"},"
               "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[5,5],[6,5],[6,6],[5,5]]]}}"
               "]}",
            id2);
    fclose(f);
}

static void test_zones_file_all_or_nothing(void **state)
{
    (void)state;
    char path[64], file[80];
    uk_tmp_path(path, "zonesf");
    snprintf(file, sizeof file, "%s.geojson", path);
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), CX_OK);
    assert_int_equal(track_migrate(s, err, sizeof err), CX_OK);
    size_t added = 99, kept = 99;
    zones_file(file, "z1");
    assert_int_equal(track_zones_load_file(s, file, &added, &kept, err, sizeof err), CX_EINVAL);
    assert_non_null(strstr(err, "/features/1/properties/id"));
    assert_int_equal(count_sql(s, "SELECT count(*) FROM track_zones"), 0);
    /* a feature without geometry does not take one from its properties */
    FILE *g = fopen(file, "w");
    assert_non_null(g);
    fputs("{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
          "\"properties\":{\"id\":\"z9\",\"kind\":\"port\",\"geometry\":{\"type\":"
          "\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}}}]}",
          g);
    fclose(g);
    assert_int_equal(track_zones_load_file(s, file, &added, &kept, err, sizeof err), CX_EINVAL);
    assert_non_null(strstr(err, "/features/0/geometry"));
    assert_int_equal(count_sql(s, "SELECT count(*) FROM track_zones"), 0);
    /* two ids: both added; loaded again, both kept */
    zones_file(file, "z2");
    assert_int_equal(track_zones_load_file(s, file, &added, &kept, err, sizeof err), CX_OK);
    assert_int_equal(added, 2);
    assert_int_equal(kept, 0);
    assert_int_equal(track_zones_load_file(s, file, &added, &kept, err, sizeof err), CX_OK);
    assert_int_equal(added, 0);
    assert_int_equal(kept, 2);
    assert_int_equal(count_sql(s, "SELECT count(*) FROM track_zones"), 2);
    store_free(s);
    uk_rm_db(path);
    unlink(file);
}

static void test_config_overrides(void **state)
{
    track_config c;
    track_config_defaults(&c);
    json_t *p = json_array();
    json_t *j = J("{\"stop_min_s\":600,\"corridor_critical_m\":2500.5,\"jump_max_kmh\":-1,"
                  "\"zone_debounce_s\":1.5,\"nonsense\":1}");
    assert_false(track_config_apply(&c, j, p));
    assert_int_equal(c.stop_min_s, 600);
    assert_true(c.corridor_critical_m == 2500.5);
    assert_true(c.jump_max_kmh == 250);  /* refused, default kept */
    assert_int_equal(c.zone_debounce_s, 30);
    assert_true(uk_has_problem(p, "/jump_max_kmh", "from 1"));
    assert_true(uk_has_problem(p, "/zone_debounce_s", "whole number"));
    assert_true(uk_has_problem(p, "/nonsense", "unknown"));
    json_t *out = track_config_json(&c);
    assert_int_equal(json_integer_value(json_object_get(out, "stop_min_s")), 600);
    assert_int_equal(json_integer_value(json_object_get(out, "signal_loss_s")), 900);
    json_decref(out);
    json_decref(j);
    json_decref(p);
}

/* An array over its limit is one problem, its items unread; a container
 * repeated is named once, after its first. */
static void test_consignment_arrays_bounded(void **state)
{
    (void)state;
    track_config base;
    track_config_defaults(&base);
    json_t *in = json_pack("{s:s,s:[],s:[],s:i,s:s,s:s,s:s,s:{s:s,s:[[i,i],[i,i]]}}", "id", "C-1",
                           "containers", "declarations", "corridor_m", 100, "origin_zone", "A",
                           "destination_zone", "B", "expected_arrival", "2024-03-01T00:00:00Z",
                           "route", "type", "LineString", "coordinates", 0, 0, 1, 1);
    assert_non_null(in);
    json_t *cs = json_object_get(in, "containers"), *ds = json_object_get(in, "declarations");
    for (int i = 0; i < 300; i++) {
        json_array_append_new(cs, json_string("CSQU3054383"));
        json_array_append_new(ds, json_integer(i));
    }
    json_t *problems = json_array();
    assert_null(track_consignment_check(in, &base, "KCS", "x", problems));
    assert_int_equal(json_array_size(problems), 2);
    assert_true(uk_has_problem(problems, "/containers", "1 to 256"));
    assert_true(uk_has_problem(problems, "/declarations", "up to 256"));
    json_decref(problems);
    json_array_clear(ds);
    while (json_array_size(cs) > 3)
        json_array_remove(cs, 0);
    problems = json_array();
    assert_null(track_consignment_check(in, &base, "KCS", "x", problems));
    assert_int_equal(json_array_size(problems), 2);
    assert_true(uk_has_problem(problems, "/containers/1", "repeats container 0"));
    assert_true(uk_has_problem(problems, "/containers/2", "repeats container 0"));
    json_decref(problems);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone_with_hole),
        cmocka_unit_test(test_zone_antimeridian_both_forms),
        cmocka_unit_test(test_zone_invalid),
        cmocka_unit_test(test_corridor_metres_on_the_ellipsoid),
        cmocka_unit_test(test_distance_reference),
        cmocka_unit_test(test_corridor_doubles_back),
        cmocka_unit_test(test_corridor_antimeridian),
        cmocka_unit_test(test_corridor_long_route),
        cmocka_unit_test(test_corridor_route_bounded),
        cmocka_unit_test(test_corridor_read_back_from_stored),
        cmocka_unit_test(test_decode_json),
        cmocka_unit_test(test_decode_osmand),
        cmocka_unit_test(test_retention_thins_old_positions),
        cmocka_unit_test(test_config_overrides),
        cmocka_unit_test(test_consignment_arrays_bounded),
        cmocka_unit_test(test_zones_file_all_or_nothing),
        cmocka_unit_test_setup_teardown(test_rule_zone_debounce, setup_engine, teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_zone_hole, setup_engine, teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_restricted_zone_critical, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_territory_ignored, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_corridor_deviation, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_unscheduled_stop, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_seal_and_door, setup_engine, teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_temperature, setup_engine, teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_signal_loss, setup_engine, teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_impossible_jump, setup_engine, teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_overdue_and_arrival, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_overdue_event_time, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_out_of_order_and_duplicates, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_antimeridian_journey, setup_engine,
                                        teardown_engine),
        cmocka_unit_test_setup_teardown(test_rule_corridor_doubling_back, setup_engine,
                                        teardown_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
