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

/* One zone document into track_zones. keep: an id already stored keeps its
 * zone (*added false); otherwise it is CX_EEXIST. */
static cx_err zone__put(store_conn *w, const json_t *doc, bool keep, bool *added)
{
    char *text = cx_json_dump(doc, NULL);
    if (!text)
        return CX_ENOMEM;
    sqlite3_stmt *st =
        keep ? store_stmt(w, "INSERT INTO track_zones(id, kind, doc, created_at) "
                             "VALUES(?1,?2,?3,?4) ON CONFLICT(id) DO NOTHING")
             : store_stmt(w, "INSERT INTO track_zones(id, kind, doc, created_at) "
                             "VALUES(?1,?2,?3,?4)");
    if (!st) {
        free(text);
        return CX_EDB;
    }
    sqlite3_bind_text(st, 1, json_string_value(json_object_get(doc, "id")), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json_string_value(json_object_get(doc, "kind")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, json_string_value(json_object_get(doc, "created_at")), -1,
                      SQLITE_STATIC);
    cx_err e = store_done(st); /* CX_EEXIST: the id is taken */
    free(text);
    *added = e == CX_OK && sqlite3_changes(store_conn_db(w)) > 0;
    return e;
}

static cx_err zone__insert(store_conn *w, void *arg)
{
    zone_write *zw = arg;
    bool added;
    cx_err e = zone__put(w, zw->doc, false, &added);
    if (e == CX_OK)
        zw->key = sqlite3_last_insert_rowid(store_conn_db(w));
    return e;
}

static void zone__tell(const track_service *t, const json_t *doc)
{
    for (size_t i = 0; i < t->nzone_watch; i++)
        t->zone_watch[i].fn(t->zone_watch[i].ctx, json_string_value(json_object_get(doc, "id")),
                            json_string_value(json_object_get(doc, "name")),
                            json_string_value(json_object_get(doc, "kind")),
                            json_object_get(doc, "geometry"));
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
        zone__tell(zw->t, zw->doc);
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
        http_bad_query(r, "kind", "must be bonded-warehouse, port, customs-office, border, "
                                  "restricted or territory");
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
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        http_reply_copy(r, 200, "application/json", (const char *)sqlite3_column_text(st, 0),
                        (size_t)sqlite3_column_bytes(st, 0));
    else if (rc == SQLITE_DONE)
        http_reply_error(r, 404, "not_found", "no such zone", NULL);
    else /* a failed read is not an absent zone */
        http_reply_error(r, 500, "internal", "the zone could not be read", NULL);
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

/* ---- zones for other modules ------------------------------------------------------------ */

cx_err track_zones_watch(track_service *t, track_zone_fn fn, void *ctx)
{
    if (!fn)
        return CX_EINVAL;
    if (t->nzone_watch == TRACK_ZONE_WATCHERS)
        return CX_ETOOBIG;
    t->zone_watch[t->nzone_watch].fn = fn;
    t->zone_watch[t->nzone_watch].ctx = ctx;
    t->nzone_watch++;
    return CX_OK;
}

cx_err track_zones_each(store *s, track_zone_fn fn, void *ctx)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT id, doc FROM track_zones ORDER BY idx") : NULL;
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_error_t je;
        json_t *doc = json_loadb((const char *)sqlite3_column_text(st, 1),
                                 (size_t)sqlite3_column_bytes(st, 1), 0, &je);
        const char *id = json_string_value(json_object_get(doc, "id"));
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        const json_t *geometry = json_object_get(doc, "geometry");
        if (id && kind && json_is_object(geometry))
            fn(ctx, id, json_string_value(json_object_get(doc, "name")), kind, geometry);
        else /* a zone the rules do not see is said, never skipped unnoticed */
            cx_log(CX_LOG_ERROR, "track: zone %.64s cannot be read (%s); its readers (the "
                   "drone rules) skip it", (const char *)sqlite3_column_text(st, 0),
                   doc ? "its document has no id, kind or geometry" : je.text);
        json_decref(doc);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

typedef struct {
    json_t *docs; /* checked zone documents */
    size_t added, kept;
} zone_load;

static cx_err zone__load_write(store_conn *w, void *arg)
{
    zone_load *zl = arg;
    zl->added = zl->kept = 0;
    size_t i;
    json_t *doc;
    json_array_foreach(zl->docs, i, doc)
    {
        bool added;
        cx_err e = zone__put(w, doc, true, &added);
        if (e != CX_OK)
            return e;
        zl->added += added;
        zl->kept += !added;
    }
    return CX_OK;
}

/* A feature as the body of POST /v1/zones, checked the same way: its
 * properties id, name and kind are ours, the others (GeoJSON's properties
 * are an open object, RFC 7946 §3.2) the zone's properties. */
static json_t *zone__feature(const json_t *f, const char *now, const char *ptr,
                             json_t *problems)
{
    static const char *const ours[] = {"id", "name", "kind"};
    const json_t *props = json_object_get(f, "properties");
    json_t *in = json_object(), *theirs = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)props, key, v)
    {
        bool our = false;
        for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
            our = our || strcmp(key, ours[i]) == 0;
        json_object_set(our ? in : theirs, key, v);
    }
    if (json_object_size(theirs))
        json_object_set(in, "properties", theirs);
    json_decref(theirs);
    json_object_set(in, "geometry", json_object_get(f, "geometry"));
    json_t *p = json_array();
    track_shape *shape = NULL;
    json_t *doc = track_zone_check(in, now, p, &shape);
    track_shape_free(shape);
    json_t *first = json_array_get(p, 0);
    if (first) {
        const char *path = json_string_value(json_object_get(first, "path"));
        bool geom = path && strncmp(path, "/geometry", 9) == 0;
        if (path && strncmp(path, "/properties", 11) == 0)
            path += 11; /* the feature's other properties, as a whole */
        cx_problem_add(problems, "", "%s%s%s: %s", ptr, geom ? "" : "/properties", path,
                       json_string_value(json_object_get(first, "message")));
    }
    json_decref(p);
    json_decref(in);
    return doc;
}

cx_err track_zones_load_file(store *s, const char *path, size_t *added, size_t *kept, char *err,
                             size_t errlen)
{
    json_error_t je;
    json_t *fc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!fc) {
        snprintf(err, errlen, "%s: %s (line %d)", path, je.text, je.line);
        return CX_EPARSE;
    }
    json_t *features = json_object_get(fc, "features");
    if (!json_is_array(features)) {
        snprintf(err, errlen, "%s: not a GeoJSON FeatureCollection", path);
        json_decref(fc);
        return CX_EINVAL;
    }
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    zone_load zl = {.docs = json_array()};
    json_t *problems = json_array();
    cx_map ids; /* the file's ids: one written, its repeat not "kept" */
    cx_map_init(&ids);
    size_t i;
    json_t *f;
    json_array_foreach(features, i, f)
    {
        char ptr[48];
        snprintf(ptr, sizeof ptr, "/features/%zu", i);
        json_t *doc = zone__feature(f, now, ptr, problems);
        if (!doc) {
            if (!json_array_size(problems)) /* nothing is written without a reason */
                cx_problem_add(problems, "", "%s: out of memory", ptr);
            break;
        }
        json_array_append_new(zl.docs, doc);
        const char *id = json_string_value(json_object_get(doc, "id"));
        bool fresh = false;
        int64_t at = cx_map_put(&ids, id, strlen(id), &fresh);
        if (at < 0) {
            cx_problem_add(problems, "", "%s: out of memory", ptr);
            break;
        }
        if (!fresh) {
            cx_problem_add(problems, "", "%s/properties/id: %s is already the id of "
                                         "/features/%lld",
                           ptr, id, (long long)ids.vals[at]);
            break;
        }
        ids.vals[at] = (int64_t)i;
    }
    cx_map_free(&ids);
    cx_err e = CX_OK;
    json_t *p = json_array_get(problems, 0);
    if (p) {
        snprintf(err, errlen, "%s: %s", path, json_string_value(json_object_get(p, "message")));
        e = CX_EINVAL;
    } else if ((e = store_write(s, zone__load_write, &zl)) != CX_OK) {
        snprintf(err, errlen, "%s: the zones could not be stored: %s", path, cx_strerror(e));
    } else {
        *added = zl.added;
        *kept = zl.kept;
    }
    json_decref(problems);
    json_decref(zl.docs);
    json_decref(fc);
    return e;
}
