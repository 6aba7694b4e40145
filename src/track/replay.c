/* GET /v1/consignments/{id}/track: a consignment's journey as GeoJSON — its
 * route, each device's path (cut at the antimeridian), the stops found in
 * it, and its alerts where they fired. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_BUDGET ((size_t)256 << 20) /* 200,000 points a device at most */

/* A device's path and stops, built in one pass over its positions in time
 * order: the positions read are not kept (a hot device has hundreds of
 * thousands in a window), only the points the path keeps — every stride-th
 * position, and the last — and the stops found so far. */
typedef struct {
    cx_buf coords, times, stops;
    size_t stride, seen, written;
    bool cross, have_prev;
    int64_t first_ts, prev_ts; /* the positions read */
    double prev_lat, prev_lon;
    double kept_lat, kept_lon; /* the last point the path kept */
    bool last_kept;
    const char *device;
    double radius;
    int64_t min_ms;
    int64_t a_ts;              /* the current stop candidate's first position */
    double a_lat, a_lon;
} replay_dev;

static cx_err replay__time(cx_buf *out, const char *name, int64_t ms)
{
    char tm[32];
    cx_rfc3339_format(ms * 1000, tm);
    cx_err e = cx_buf_printf(out, ",\"%s\":", name);
    return e == CX_OK ? cx_buf_json_str(out, tm) : e;
}

/* Keeps a point of the path: cut where it crosses the antimeridian (RFC
 * 7946, 3.1.9), the piece ending on the meridian and the next one starting
 * there. */
static cx_err replay__keep(replay_dev *d, int64_t ts, double lat, double lon)
{
    cx_err e = CX_OK;
    if (d->written && fabs(lon - d->kept_lon) > 180) {
        double lo0 = d->kept_lon, edge = lo0 > 0 ? 180 : -180;
        double lo1u = lon + (lo0 > 0 ? 360 : -360);
        double f = (edge - lo0) / (lo1u - lo0);
        double la = d->kept_lat + f * (lat - d->kept_lat);
        e = cx_buf_printf(&d->coords, ",[%.7f,%.7f]],[[%.7f,%.7f]", edge, la, -edge, la);
        d->cross = true;
    }
    if (e == CX_OK)
        e = cx_buf_printf(&d->coords, "%s[%.7f,%.7f]", d->written ? "," : "", lon, lat);
    char tm[32];
    cx_rfc3339_format(ts * 1000, tm);
    if (e == CX_OK && d->written)
        e = cx_buf_puts(&d->times, ",");
    if (e == CX_OK)
        e = cx_buf_json_str(&d->times, tm);
    d->written++;
    d->kept_lat = lat;
    d->kept_lon = lon;
    return e;
}

/* A stop: the device stood within radius of the candidate's first position
 * from a_ts to to_ts, min_ms or more. */
static cx_err replay__stop(replay_dev *d, int64_t to_ts)
{
    int64_t dur = to_ts - d->a_ts;
    if (dur < d->min_ms)
        return CX_OK;
    cx_err e = cx_buf_printf(&d->stops, ",{\"type\":\"Feature\",\"geometry\":{\"type\":"
                                        "\"Point\",\"coordinates\":[%.7f,%.7f]},\"properties\":"
                                        "{\"kind\":\"stop\",\"device\":",
                             d->a_lon, d->a_lat);
    if (e == CX_OK)
        e = cx_buf_json_str(&d->stops, d->device);
    if (e == CX_OK)
        e = replay__time(&d->stops, "from", d->a_ts);
    if (e == CX_OK)
        e = replay__time(&d->stops, "to", to_ts);
    if (e == CX_OK)
        e = cx_buf_printf(&d->stops, ",\"duration_s\":%lld}}", (long long)(dur / 1000));
    return e;
}

static cx_err replay__position(replay_dev *d, int64_t ts, double lat, double lon)
{
    cx_err e = CX_OK;
    if (!d->seen) {
        d->first_ts = d->a_ts = ts;
        d->a_lat = lat;
        d->a_lon = lon;
    } else if (track_distance_m(d->a_lat, d->a_lon, lat, lon) > d->radius) {
        e = replay__stop(d, d->prev_ts);
        d->a_ts = ts;
        d->a_lat = lat;
        d->a_lon = lon;
    }
    d->last_kept = d->seen % d->stride == 0;
    if (e == CX_OK && d->last_kept)
        e = replay__keep(d, ts, lat, lon);
    d->seen++;
    d->prev_ts = ts;
    d->prev_lat = lat;
    d->prev_lon = lon;
    return e;
}

/* The path feature, then its stops, once every position was read. */
static cx_err replay__finish(replay_dev *d, const char *container, cx_buf *out)
{
    cx_err e = CX_OK;
    if (!d->last_kept)
        e = replay__keep(d, d->prev_ts, d->prev_lat, d->prev_lon);
    if (e == CX_OK)
        e = replay__stop(d, d->prev_ts);
    if (e != CX_OK)
        return e;
    if (e == CX_OK)
        e = cx_buf_printf(out, ",{\"type\":\"Feature\",\"geometry\":{\"type\":\"%s\","
                               "\"coordinates\":[%s",
                          d->cross ? "MultiLineString" : "LineString", d->cross ? "[" : "");
    if (e == CX_OK)
        e = cx_buf_append(out, d->coords.data, d->coords.len);
    if (e == CX_OK)
        e = cx_buf_printf(out, "%s]},\"properties\":{\"kind\":\"path\",\"device\":",
                          d->cross ? "]" : "");
    if (e == CX_OK)
        e = cx_buf_json_str(out, d->device);
    if (e == CX_OK)
        e = cx_buf_puts(out, ",\"container\":");
    if (e == CX_OK)
        e = container ? cx_buf_json_str(out, container) : cx_buf_puts(out, "null");
    if (e == CX_OK)
        e = replay__time(out, "from", d->first_ts);
    if (e == CX_OK)
        e = replay__time(out, "to", d->prev_ts);
    if (e == CX_OK)
        e = cx_buf_printf(out, ",\"points\":%zu,\"times\":[", d->written);
    if (e == CX_OK)
        e = cx_buf_append(out, d->times.data, d->times.len);
    if (e == CX_OK)
        e = cx_buf_puts(out, "]}}");
    if (e == CX_OK)
        e = cx_buf_append(out, d->stops.data, d->stops.len);
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

/* A piece of the reply that failed fails the reply, with its error: the
 * reply becomes the failed piece (which stays failed). */
static void replay__fail(cx_buf *out, cx_buf *piece)
{
    if (cx_buf_error(out) || !cx_buf_error(piece))
        return;
    cx_buf_free(out);
    *out = *piece;
    memset(piece, 0, sizeof *piece);
}

/* How many positions of a device the window holds, and so the stride that
 * thins them to maxp: those indexed, and those of the journal not moved yet
 * (one a time: the index keeps one row per device and time). */
static bool replay__count(store_conn *c, int64_t dev, int64_t from, int64_t to, int64_t *n)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT (SELECT count(*) FROM track_positions "
                                     "WHERE dev = ?1 AND ts >= ?2 AND ts <= ?3) + "
                                     "(SELECT count(DISTINCT ts) FROM track_journal j "
                                     "WHERE dev = ?1 AND ts >= ?2 AND ts <= ?3 AND NOT EXISTS "
                                     "(SELECT 1 FROM track_positions p WHERE p.dev = ?1 "
                                     "AND p.ts = j.ts))");
    if (!st)
        return false;
    sqlite3_bind_int64(st, 1, dev);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    *n = ok ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return ok;
}

/* Every device's path and stops, read in one pass from the indexed
 * positions in time order merged with the journal not yet moved into them
 * (the same positions replay__count counted: the first of a time). False
 * when a device's positions could not all be read (the buffer's own
 * failure is the buffer's to report). */
static bool replay__devices(store_conn *c, const json_t *devs, const track_config *rules,
                            int64_t from, int64_t to, int64_t maxp, cx_buf *out)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT ts, lat, lon FROM track_positions WHERE dev = ?1 "
                                     "AND ts >= ?2 AND ts <= ?3 UNION ALL "
                                     "SELECT ts, lat, lon FROM track_journal j WHERE dev = ?1 "
                                     "AND ts >= ?2 AND ts <= ?3 AND NOT EXISTS "
                                     "(SELECT 1 FROM track_positions p WHERE p.dev = ?1 "
                                     "AND p.ts = j.ts) ORDER BY ts");
    size_t i;
    json_t *dv;
    if (!st)
        return false;
    json_array_foreach(devs, i, dv)
    {
        if (cx_buf_error(out))
            break;
        int64_t key = json_integer_value(json_object_get(dv, "key")), n;
        if (!replay__count(c, key, from, to, &n))
            return false;
        if (n == 0)
            continue;
        replay_dev d = {.stride = n > maxp ? (size_t)((n + maxp - 2) / (maxp - 1)) : 1,
                        .device = json_string_value(json_object_get(dv, "id")),
                        .radius = rules->stop_radius_m,
                        .min_ms = rules->stop_min_s * 1000};
        cx_buf_init(&d.coords, REPLAY_BUDGET);
        cx_buf_init(&d.times, REPLAY_BUDGET);
        cx_buf_init(&d.stops, REPLAY_BUDGET);
        sqlite3_bind_int64(st, 1, key);
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, to);
        int rc;
        cx_err e = CX_OK;
        while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t ts = sqlite3_column_int64(st, 0);
            if (!d.seen || ts != d.prev_ts) /* a time the journal holds twice */
                e = replay__position(&d, ts, sqlite3_column_double(st, 1),
                                     sqlite3_column_double(st, 2));
        }
        sqlite3_reset(st);
        bool whole = e != CX_OK || rc == SQLITE_DONE;
        if (whole && e == CX_OK && d.seen)
            e = replay__finish(&d, json_string_value(json_object_get(dv, "container")), out);
        replay__fail(out, &d.coords);
        replay__fail(out, &d.times);
        replay__fail(out, &d.stops);
        cx_buf_free(&d.coords);
        cx_buf_free(&d.times);
        cx_buf_free(&d.stops);
        if (!whole) /* a path cut short is never sent as the path */
            return false;
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
    /* one read transaction: the positions counted are the positions read
     * (a report or a journal move committing in between changes neither) */
    bool txn = sqlite3_get_autocommit(store_conn_db(c)) && store_exec(c, "BEGIN") == CX_OK;
    json_t *devs = track__cons_devices(c, doc);
    bool whole = devs && replay__devices(c, devs, &rules, from, to, maxp, &out);
    json_decref(devs);
    alert_filter af = {.consignment = cid, .from_ms = from, .to_ms = to};
    whole = whole && (alert_each(c, &af, replay__alert, &out) == CX_OK || cx_buf_error(&out));
    if (txn)
        (void)store_exec(c, "COMMIT");
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
