/* /v1/zones: GeoJSON polygons the rules test positions against. */
#include "track_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    store_job job;
    track_service *t;
    http_req *r;
    json_t *doc;
    track_shape *shape;
    int64_t key;
} zone_write;

static void zone__write_free(zone_write *zw)
{
    track_shape_free(zw->shape);
    json_decref(zw->doc);
    free(zw);
}

static cx_err zone__insert(store_conn *w, void *arg)
{
    zone_write *zw = arg;
    char *text = cx_json_dump(zw->doc, NULL);
    if (!text)
        return CX_ENOMEM;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO track_zones(id, kind, doc, created_at) "
                                     "VALUES(?1,?2,?3,?4)");
    if (!st) {
        free(text);
        return CX_EDB;
    }
    sqlite3_bind_text(st, 1, json_string_value(json_object_get(zw->doc, "id")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json_string_value(json_object_get(zw->doc, "kind")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, json_string_value(json_object_get(zw->doc, "created_at")), -1,
                      SQLITE_STATIC);
    cx_err e = store_done(st); /* CX_EEXIST: the id is taken */
    free(text);
    if (e != CX_OK)
        return e;
    zw->key = sqlite3_last_insert_rowid(store_conn_db(w));
    return CX_OK;
}

static void zone__done(void *arg, cx_err result)
{
    zone_write *zw = arg;
    http_req *r = zw->r;
    if (result == CX_OK) {
        track_cmd *c = calloc(1, sizeof *c);
        if (c) {
            c->kind = TRACK_CMD_ZONE;
            c->key = zw->key;
            snprintf(c->id, sizeof c->id, "%s",
                     json_string_value(json_object_get(zw->doc, "id")));
            c->name = strdup(json_string_value(json_object_get(zw->doc, "name")));
            track_zone_kind_parse(json_string_value(json_object_get(zw->doc, "kind")),
                                  &c->zkind);
            c->shape = zw->shape;
            zw->shape = NULL;
            track__command(zw->t, c);
        }
        http_reply_json(r, 201, json_incref(zw->doc));
    } else if (result == CX_EEXIST) {
        http_reply_error1(r, 409, "duplicate_zone", "a zone with this id already exists", "/id",
                          "already used");
    } else {
        http_reply_error(r, 503, "unavailable", "the zone could not be stored; retry", NULL);
    }
    http_resume(r);
    zone__write_free(zw);
}

static void h_zones_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!http_allow_officer(r, "define zones"))
        return;
    json_t *in = track__api_parse(r);
    if (!in)
        return;
    json_t *problems = json_array();
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    track_shape *shape = NULL;
    json_t *doc = track_zone_check(in, now, problems, &shape);
    json_decref(in);
    if (!doc) {
        track__api_problems(r, "invalid_zone", "zone", problems);
        return;
    }
    json_decref(problems);
    zone_write *zw = calloc(1, sizeof *zw);
    if (!zw) {
        json_decref(doc);
        track_shape_free(shape);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    zw->t = t;
    zw->r = r;
    zw->doc = doc;
    zw->shape = shape;
    zw->job.fn = zone__insert;
    zw->job.done = zone__done;
    zw->job.arg = zw;
    if (!track__api_submit(t, r, &zw->job))
        zone__write_free(zw);
}

/* the stored documents are JSON this module wrote */
static cx_err zone__item(void *ctx, sqlite3_stmt *st, cx_buf *out)
{
    (void)ctx;
    return cx_buf_append(out, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
}

static void h_zones_list(http_req *r, void *ctx)
{
    track_service *t = ctx;
    http_page page;
    if (!http_page_parse(r, HTTP_CURSOR_INT, 1000, 10000, &page))
        return;
    const char *kind = http_query(r, "kind");
    track_zone_kind zk;
    if (kind && !track_zone_kind_parse(kind, &zk)) {
        http_bad_query(r, "kind", "must be bonded-warehouse, port, customs-office, border or "
                                  "restricted");
        return;
    }
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT idx, doc FROM track_zones WHERE idx > ?1 AND "
                                         "(?3 IS NULL OR kind = ?3) ORDER BY idx LIMIT ?2")
                         : NULL;
    if (st && kind)
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    track__api_page(r, st, &page, zone__item, NULL);
}

static void h_zone_get(http_req *r, void *ctx)
{
    track_service *t = ctx;
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT doc FROM track_zones WHERE id = ?1") : NULL;
    if (!st) {
        track__api_unavailable(r);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        http_reply_copy(r, 200, "application/json", (const char *)sqlite3_column_text(st, 0),
                        (size_t)sqlite3_column_bytes(st, 0));
    else
        http_reply_error(r, 404, "not_found", "no such zone", NULL);
    sqlite3_reset(st);
}

cx_err track__zone_routes(track_service *t, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/zones", HTTP_AUTH | HTTP_JSON, h_zones_post, NULL},
        {"GET", "/v1/zones", HTTP_AUTH, h_zones_list, "limit cursor kind"},
        {"GET", "/v1/zones/{id}", HTTP_AUTH, h_zone_get, NULL},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], t);
}
