/* GET /v1/consignments/{id}/track: a consignment's journey as GeoJSON — its
 * route, each device's path (cut at the antimeridian), the stops found in
 * it, and its alerts where they fired. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_BUDGET ((size_t)256 << 20) /* 200,000 points a device at most */

typedef struct {
    double *lat, *lon;
    int64_t *ts;
    size_t n, cap;
} replay_track;

static bool replay__push(replay_track *tr, int64_t ts, double lat, double lon)
{
    if (tr->n == tr->cap) {
        size_t nc = tr->cap ? tr->cap * 2 : 1024;
        double *a = realloc(tr->lat, nc * sizeof *a);
        if (!a)
            return false;
        tr->lat = a;
        double *b = realloc(tr->lon, nc * sizeof *b);
        if (!b)
            return false;
        tr->lon = b;
        int64_t *c = realloc(tr->ts, nc * sizeof *c);
        if (!c)
            return false;
        tr->ts = c;
        tr->cap = nc;
    }
    tr->lat[tr->n] = lat;
    tr->lon[tr->n] = lon;
    tr->ts[tr->n] = ts;
    tr->n++;
    return true;
}

static cx_err replay__time(cx_buf *out, const char *name, int64_t ms)
{
    char tm[32];
    cx_rfc3339_format(ms * 1000, tm);
    cx_err e = cx_buf_printf(out, ",\"%s\":", name);
    return e == CX_OK ? cx_buf_json_str(out, tm) : e;
}

/* The path as GeoJSON: a LineString, or a MultiLineString cut where it
 * crosses the antimeridian (RFC 7946, 3.1.9). stride thins long tracks. */
static cx_err replay__path(cx_buf *out, const replay_track *tr, const char *device,
                           const char *container, size_t stride)
{
    bool cross = false;
    for (size_t i = 1; i < tr->n; i++)
        if (fabs(tr->lon[i] - tr->lon[i - 1]) > 180)
            cross = true;
    cx_err e = cx_buf_printf(out, "{\"type\":\"Feature\",\"geometry\":{\"type\":\"%s\","
                                  "\"coordinates\":[%s",
                             cross ? "MultiLineString" : "LineString", cross ? "[" : "");
    size_t prev = SIZE_MAX, written = 0;
    bool first = true;
    for (size_t i = 0; e == CX_OK && i < tr->n; i++) {
        if (i % stride && i + 1 != tr->n)
            continue;
        if (cross && prev != SIZE_MAX && fabs(tr->lon[i] - tr->lon[prev]) > 180) {
            /* end this piece on the meridian and start the next one there */
            double lo0 = tr->lon[prev], lo1 = tr->lon[i];
            double edge = lo0 > 0 ? 180 : -180;
            double lo1u = lo1 + (lo0 > 0 ? 360 : -360);
            double f = (edge - lo0) / (lo1u - lo0);
            double lat = tr->lat[prev] + f * (tr->lat[i] - tr->lat[prev]);
            e = cx_buf_printf(out, ",[%.7f,%.7f]],[[%.7f,%.7f]", edge, lat, -edge, lat);
            first = false;
        }
        if (e == CX_OK)
            e = cx_buf_printf(out, "%s[%.7f,%.7f]", first ? "" : ",", tr->lon[i], tr->lat[i]);
        first = false;
        prev = i;
        written++;
    }
    if (e == CX_OK)
        e = cx_buf_printf(out, "%s]},\"properties\":{\"kind\":\"path\",\"device\":",
                          cross ? "]" : "");
    if (e == CX_OK)
        e = cx_buf_json_str(out, device);
    if (e == CX_OK)
        e = cx_buf_puts(out, ",\"container\":");
    if (e == CX_OK)
        e = container ? cx_buf_json_str(out, container) : cx_buf_puts(out, "null");
    if (e == CX_OK)
        e = replay__time(out, "from", tr->ts[0]);
    if (e == CX_OK)
        e = replay__time(out, "to", tr->ts[tr->n - 1]);
    if (e == CX_OK)
        e = cx_buf_printf(out, ",\"points\":%zu,\"times\":[", written);
    written = 0;
    for (size_t i = 0; e == CX_OK && i < tr->n; i++) {
        if (i % stride && i + 1 != tr->n)
            continue;
        char tm[32];
        cx_rfc3339_format(tr->ts[i] * 1000, tm);
        if (written++)
            e = cx_buf_puts(out, ",");
        if (e == CX_OK)
            e = cx_buf_json_str(out, tm);
    }
    return e == CX_OK ? cx_buf_puts(out, "]}}") : e;
}

/* Stops found in a track: stationary within radius for at least min_ms. */
static cx_err replay__stops(cx_buf *out, const replay_track *tr, const char *device,
                            double radius, int64_t min_ms)
{
    size_t a = 0;
    cx_err e = CX_OK;
    for (size_t i = 1; e == CX_OK && i <= tr->n; i++) {
        bool moved = i == tr->n ||
                     track_distance_m(tr->lat[a], tr->lon[a], tr->lat[i], tr->lon[i]) > radius;
        if (!moved)
            continue;
        int64_t dur = tr->ts[i - 1] - tr->ts[a];
        if (dur >= min_ms) {
            e = cx_buf_printf(out, ",{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\","
                                   "\"coordinates\":[%.7f,%.7f]},\"properties\":{\"kind\":"
                                   "\"stop\",\"device\":",
                              tr->lon[a], tr->lat[a]);
            if (e == CX_OK)
                e = cx_buf_json_str(out, device);
            if (e == CX_OK)
                e = replay__time(out, "from", tr->ts[a]);
            if (e == CX_OK)
                e = replay__time(out, "to", tr->ts[i - 1]);
            if (e == CX_OK)
                e = cx_buf_printf(out, ",\"duration_s\":%lld}}", (long long)(dur / 1000));
        }
        a = i;
    }
    return e;
}

/* One alert of the consignment as a feature of its replay. */
static bool replay__alert(void *ctx, const alert_row *a)
{
    cx_buf *out = ctx;
    cx_err e = cx_buf_puts(out, ",{\"type\":\"Feature\",\"geometry\":");
    if (e == CX_OK && isfinite(a->lat))
        e = cx_buf_printf(out, "{\"type\":\"Point\",\"coordinates\":[%.7f,%.7f]}", a->lon,
                          a->lat);
    else if (e == CX_OK)
        e = cx_buf_puts(out, "null");
    if (e == CX_OK)
        e = cx_buf_puts(out, ",\"properties\":{\"kind\":\"alert\",\"alert\":");
    if (e == CX_OK)
        e = cx_buf_append(out, a->json, a->len);
    if (e == CX_OK)
        e = cx_buf_puts(out, "}}");
    return e == CX_OK;
}

/* Every device's path and stops, read from the indexed positions and the
 * journal not yet moved into them. False when a device's positions could
 * not all be read (the buffer's own failure is the buffer's to report). */
static bool replay__devices(store_conn *c, const json_t *devs, const track_config *rules,
                            int64_t from, int64_t to, int64_t maxp, cx_buf *out)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT ts, lat, lon FROM track_positions WHERE dev = ?1 "
                                     "AND ts >= ?2 AND ts <= ?3 UNION "
                                     "SELECT ts, lat, lon FROM track_journal WHERE dev = ?1 "
                                     "AND ts >= ?2 AND ts <= ?3 ORDER BY ts");
    size_t i;
    json_t *dv;
    if (!st)
        return false;
    json_array_foreach(devs, i, dv)
    {
        if (cx_buf_error(out))
            break;
        replay_track tr = {0};
        sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(dv, "key")));
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, to);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (!replay__push(&tr, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                              sqlite3_column_double(st, 2)))
                break;
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) { /* a path cut short is never sent as the path */
            free(tr.lat);
            free(tr.lon);
            free(tr.ts);
            return false;
        }
        if (tr.n) {
            size_t stride = tr.n > (size_t)maxp ? (tr.n + (size_t)maxp - 2) / (size_t)(maxp - 1)
                                                : 1;
            const char *id = json_string_value(json_object_get(dv, "id"));
            cx_err e = cx_buf_puts(out, ",");
            if (e == CX_OK)
                e = replay__path(out, &tr, id, json_string_value(json_object_get(dv, "container")),
                                 stride);
            if (e == CX_OK)
                (void)replay__stops(out, &tr, id, rules->stop_radius_m, rules->stop_min_s * 1000);
        }
        free(tr.lat);
        free(tr.lon);
        free(tr.ts);
    }
    return true;
}

static void h_cons_track(http_req *r, void *ctx)
{
    track_service *t = ctx;
    int64_t from_us = 0, to_us = INT64_MAX / 2, maxp = 20000;
    if (!http_allow_officer(r, "replay consignments") ||
        !http_query_time(r, "from", &from_us) || !http_query_time(r, "to", &to_us) ||
        !http_query_int(r, "max_points", 2, 200000, &maxp))
        return;
    int64_t from = from_us / 1000, to = http_query(r, "to") ? to_us / 1000 : INT64_MAX / 2;
    if (from > to) {
        http_bad_query(r, "from", "must not be after to");
        return;
    }
    store_conn *c;
    int64_t arrived;
    bool overdue;
    json_t *doc = track__cons_request(r, t, &c, &arrived, &overdue, NULL);
    if (!doc)
        return;
    const char *cid = json_string_value(json_object_get(doc, "id"));
    track_config rules = t->cfg;
    if (json_object_get(doc, "rules"))
        track_config_apply(&rules, json_object_get(doc, "rules"), NULL);
    cx_buf out;
    cx_buf_init(&out, REPLAY_BUDGET);
    cx_err e = cx_buf_puts(&out, "{\"type\":\"FeatureCollection\",\"consignment\":");
    if (e == CX_OK)
        e = cx_buf_json_str(&out, cid);
    if (e == CX_OK)
        e = cx_buf_puts(&out, ",\"features\":[{\"type\":\"Feature\",\"geometry\":");
    if (e == CX_OK)
        e = cx_buf_json(&out, json_object_get(doc, "route"));
    if (e == CX_OK)
        e = cx_buf_puts(&out, ",\"properties\":{\"kind\":\"route\",\"consignment\":");
    if (e == CX_OK)
        e = cx_buf_json_str(&out, cid);
    if (e == CX_OK)
        e = cx_buf_printf(&out, ",\"corridor_m\":%.10g}}",
                          json_number_value(json_object_get(doc, "corridor_m")));
    json_t *devs = track__cons_devices(c, doc);
    bool whole = devs && replay__devices(c, devs, &rules, from, to, maxp, &out);
    json_decref(devs);
    alert_filter af = {.consignment = cid, .from_ms = from, .to_ms = to};
    whole = whole && (alert_each(c, &af, replay__alert, &out) == CX_OK || cx_buf_error(&out));
    if (!whole) {
        /* a read that failed part-way: never part of a journey as a 200 */
        cx_buf_free(&out);
        json_decref(doc);
        http_reply_error(r, 500, "internal", "the consignment's journey could not be read",
                         NULL);
        return;
    }
    e = cx_buf_puts(&out, "]}");
    json_decref(doc);
    http_reply_buf(r, 200, "application/json", &out);
}

cx_err track__replay_routes(track_service *t, http_server *srv)
{
    static const http_route_def routes[] = {
        {"GET", "/v1/consignments/{id}/track", HTTP_AUTH, h_cons_track, "from to max_points"},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], t);
}
