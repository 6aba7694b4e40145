/* /v1/consignments: a declared route with a corridor, its containers and
 * declarations; the list, one consignment, its corridor. */
#include "track_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    store_job job;
    track_service *t;
    http_req *r;
    json_t *doc;
    char *corridor;
    char corridor_key[33]; /* BLAKE2b-128 of the corridor's GeoJSON, hex */
    track_shape *shape;
    int64_t key;
    int64_t created_ms;
} cons_write;

static void cons__write_free(cons_write *cw)
{
    track_shape_free(cw->shape);
    json_decref(cw->doc);
    free(cw->corridor);
    free(cw);
}

static cx_err cons__insert(store_conn *w, void *arg)
{
    cons_write *cw = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO track_corridors(key, geojson) "
                                     "VALUES(?1, ?2)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, cw->corridor_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cw->corridor, -1, SQLITE_STATIC);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    char *text = cx_json_dump(cw->doc, NULL);
    if (!text)
        return CX_ENOMEM;
    st = store_stmt(w, "INSERT INTO track_consignments(id, org, doc, corridor_key, "
                       "created_at) VALUES(?1,?2,?3,?4,?5)");
    if (!st) {
        free(text);
        return CX_EDB;
    }
    sqlite3_bind_text(st, 1, json_string_value(json_object_get(cw->doc, "id")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json_string_value(json_object_get(cw->doc, "org")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, cw->corridor_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, json_string_value(json_object_get(cw->doc, "created_at")), -1,
                      SQLITE_STATIC);
    cx_err e = store_done(st); /* CX_EEXIST: the id is taken */
    free(text);
    if (e != CX_OK)
        return e;
    cw->key = sqlite3_last_insert_rowid(store_conn_db(w));
    st = store_stmt(w, "INSERT OR IGNORE INTO track_consignment_containers(container, cons) "
                       "VALUES(?1, ?2)");
    if (!st)
        return CX_EDB;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cw->doc, "containers"), i, v)
    {
        sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, cw->key);
        if (store_done(st) != CX_OK)
            return CX_EDB;
    }
    return CX_OK;
}

/* The consignment as the API shows it: the stored document with its state. */
static json_t *cons__out(json_t *doc, int64_t arrived_ms, bool overdue)
{
    if (arrived_ms) {
        char tm[32];
        cx_rfc3339_format(arrived_ms * 1000, tm);
        json_object_set_new(doc, "status", json_string("arrived"));
        json_object_set_new(doc, "arrived_at", json_string(tm));
    } else {
        json_object_set_new(doc, "status", json_string("in_transit"));
        json_object_set_new(doc, "arrived_at", json_null());
    }
    json_object_set_new(doc, "overdue", json_boolean(overdue));
    return doc;
}

static void cons__done(void *arg, cx_err result)
{
    cons_write *cw = arg;
    http_req *r = cw->r;
    if (result == CX_OK) {
        track_cmd *c = calloc(1, sizeof *c);
        if (c) {
            c->kind = TRACK_CMD_CONS;
            c->key = cw->key;
            snprintf(c->id, sizeof c->id, "%s",
                     json_string_value(json_object_get(cw->doc, "id")));
            /* A copy of its own: the engine thread keeps and frees it while this
             * thread still reads and frees cw->doc, and jansson's reference
             * count orders neither (its decrement is release-only). */
            c->doc = json_deep_copy(cw->doc);
            c->shape = cw->shape;
            cw->shape = NULL;
            c->created_ms = cw->created_ms;
            if (c->doc)
                track__command(cw->t, c);
            else
                track__cmd_free(c);
        }
        http_reply_json(r, 201, cons__out(json_incref(cw->doc), 0, false));
    } else if (result == CX_EEXIST) {
        http_reply_error1(r, 409, "duplicate_consignment",
                          "a consignment with this id already exists", "/id", "already used");
    } else {
        http_reply_error(r, 503, "unavailable", "the consignment could not be stored; retry",
                         NULL);
    }
    http_resume(r);
    cons__write_free(cw);
}

/* The kind of zone id (its name, e.g. "port"), or false when there is none. */
static bool cons__zone_kind(store_conn *c, const char *id, char kind[32])
{
    sqlite3_stmt *st = store_stmt(c, "SELECT kind FROM track_zones WHERE id = ?1");
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        snprintf(kind, 32, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return ok;
}

/* What the request names must exist: its zones and declarations (checked
 * whatever else is wrong with it, so that every problem is named at once).
 * A territory zone is the drone rules' alone: the engine never loads it, so
 * a consignment could not be seen leaving or reaching it. */
static void cons__references(track_service *t, const json_t *in, json_t *problems)
{
    store_conn *rc = store_reader(t->store);
    static const char *const zones[] = {"origin_zone", "destination_zone"};
    for (int i = 0; rc && i < 2; i++) {
        const char *z = json_string_value(json_object_get(in, zones[i]));
        char p[32], kind[32];
        snprintf(p, sizeof p, "/%s", zones[i]);
        if (!z || !track_id_valid(z))
            continue;
        if (!cons__zone_kind(rc, z, kind))
            track__problem(problems, p, "no such zone");
        else if (strcmp(kind, track_zone_kind_name(TRACK_ZONE_TERRITORY)) == 0)
            track__problem(problems, p, "is a territory zone (drone rules only): name a port, "
                                        "bonded-warehouse, customs-office, border or "
                                        "restricted zone");
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(in, "declarations"), i, v)
    {
        const char *id = json_string_value(v);
        char p[40];
        snprintf(p, sizeof p, "/declarations/%zu", i);
        if (t->decl && id && id[0] && strlen(id) <= 64 &&
            decl_lookup(t->decl, id, NULL, NULL) != CX_OK)
            track__problem(problems, p, "no such declaration");
    }
}

static void h_cons_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow_officer(r, "register consignments"))
        return;
    json_t *in = track__api_parse(r);
    if (!in)
        return;
    json_t *problems = json_array();
    char now[32];
    int64_t now_us = cx_now_us();
    cx_rfc3339_format(now_us, now);
    json_t *doc = track_consignment_check(in, &t->cfg, who->org, now, problems);
    if (json_is_object(in))
        cons__references(t, in, problems);
    json_decref(in);
    track_shape *shape = NULL;
    char *corridor = NULL;
    if (doc && json_array_size(problems) == 0)
        shape = track__corridor(t, json_object_get(doc, "route"),
                                json_number_value(json_object_get(doc, "corridor_m")), NULL,
                                &corridor, problems);
    if (json_array_size(problems) || !doc || !shape) {
        track_shape_free(shape);
        free(corridor);
        json_decref(doc);
        if (json_array_size(problems))
            track__api_problems(r, "invalid_consignment", "consignment", problems);
        else {
            json_decref(problems);
            http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        }
        return;
    }
    json_decref(problems);
    cons_write *cw = calloc(1, sizeof *cw);
    if (!cw) {
        json_decref(doc);
        track_shape_free(shape);
        free(corridor);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    cw->t = t;
    cw->r = r;
    cw->doc = doc;
    cw->corridor = corridor;
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)corridor, strlen(corridor), NULL, 0);
    cx_hex(h, sizeof h, cw->corridor_key);
    cw->shape = shape;
    cw->created_ms = now_us / 1000;
    cw->job.fn = cons__insert;
    cw->job.done = cons__done;
    cw->job.arg = cw;
    http_defer(r);
    if (store_submit(t->store, &cw->job) != CX_OK)
        cons__done(cw, CX_ESHUTDOWN); /* replies 503 and frees */
}

static cx_err cons__item(void *ctx, sqlite3_stmt *st, cx_buf *out)
{
    (void)ctx;
    json_t *doc = json_loadb((const char *)sqlite3_column_text(st, 1),
                             (size_t)sqlite3_column_bytes(st, 1), 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return CX_EINVAL;
    }
    cons__out(doc, sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3) != 0);
    cx_err e = cx_buf_json(out, doc);
    json_decref(doc);
    return e;
}

static void h_cons_list(http_req *r, void *ctx)
{
    track_service *t = ctx;
    http_page page;
    static const char *const statuses[] = {"in_transit", "arrived", NULL};
    int status = -1;
    if (!http_allow_officer(r, "read consignments") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, 1000, &page) ||
        !http_query_enum(r, "status", statuses, &status))
        return;
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT idx, doc, arrived_ms, overdue FROM track_consignments "
                          "WHERE idx > ?1 AND (?3 = 0 OR (?3 = 1 AND arrived_ms IS NULL) OR "
                          "(?3 = 2 AND arrived_ms IS NOT NULL)) ORDER BY idx LIMIT ?2")
          : NULL;
    if (st)
        sqlite3_bind_int(st, 3, status + 1);
    track__api_page(r, st, &page, cons__item, NULL);
}

cx_err track__cons_load(store_conn *c, const char *id, json_t **doc, int64_t *key,
                        int64_t *arrived, bool *overdue, char **corridor)
{
    *doc = NULL;
    if (corridor)
        *corridor = NULL;
    sqlite3_stmt *st = store_stmt(c, "SELECT c.idx, c.doc, c.arrived_ms, c.overdue, k.geojson "
                                     "FROM track_consignments c LEFT JOIN track_corridors k "
                                     "ON k.key = c.corridor_key WHERE c.id = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK) {
        *doc = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        *key = sqlite3_column_int64(st, 0);
        *arrived = sqlite3_column_int64(st, 2);
        *overdue = sqlite3_column_int(st, 3) != 0;
        if (!json_is_object(*doc))
            e = CX_EINVAL;
        else if (corridor && sqlite3_column_type(st, 4) != SQLITE_NULL &&
                 !(*corridor = strdup((const char *)sqlite3_column_text(st, 4))))
            e = CX_ENOMEM;
    }
    sqlite3_reset(st);
    if (e != CX_OK) {
        json_decref(*doc);
        *doc = NULL;
    }
    return e;
}

json_t *track__cons_request(http_req *r, track_service *t, store_conn **c, int64_t *arrived,
                            bool *overdue, char **corridor)
{
    int64_t key = 0;
    *arrived = 0;
    *overdue = false;
    if (corridor)
        *corridor = NULL;
    *c = store_reader(t->store);
    if (!*c) {
        track__api_unavailable(r);
        return NULL;
    }
    json_t *doc = NULL;
    cx_err e = track__cons_load(*c, http_param(r, "id"), &doc, &key, arrived, overdue, corridor);
    /* only a consignment that is not there is a 404: one whose row does not
     * read back is this server's fault, as in the list */
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such consignment", NULL);
    else if (e == CX_EINVAL)
        http_reply_error(r, 500, "internal", "a stored record is damaged", NULL);
    else if (e != CX_OK)
        http_reply_error(r, 500, "internal", "the consignment could not be read", NULL);
    return doc;
}

json_t *track__cons_devices(store_conn *c, const json_t *doc)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT idx, id FROM track_devices WHERE container = ?1 "
                                     "ORDER BY idx");
    json_t *out = st ? json_array() : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "containers"), i, v)
    {
        if (!out)
            break;
        sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (json_array_append_new(out, json_pack("{s:I,s:s,s:O}", "key",
                                                     (json_int_t)sqlite3_column_int64(st, 0),
                                                     "id", (const char *)sqlite3_column_text(st, 1),
                                                     "container", v)) != 0)
                break;
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) { /* a read cut short is not the whole list */
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

static void h_cons_get(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!http_allow_officer(r, "read consignments"))
        return;
    store_conn *c;
    int64_t arrived;
    bool overdue;
    json_t *doc = track__cons_request(r, t, &c, &arrived, &overdue, NULL);
    if (!doc)
        return;
    json_t *devs = track__cons_devices(c, doc);
    if (!devs) {
        json_decref(doc);
        http_reply_error(r, 500, "internal", "the consignment's devices could not be read", NULL);
        return;
    }
    json_t *ids = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(devs, i, v)
    {
        json_array_append(ids, json_object_get(v, "id"));
    }
    json_decref(devs);
    cons__out(doc, arrived, overdue);
    json_object_set_new(doc, "devices", ids);
    http_reply_json(r, 200, doc);
}

static void h_cons_corridor(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!http_allow_officer(r, "read consignments"))
        return;
    store_conn *c;
    int64_t arrived;
    bool overdue;
    char *corridor = NULL;
    json_t *doc = track__cons_request(r, t, &c, &arrived, &overdue, &corridor);
    if (!doc)
        return;
    /* the corridor's GeoJSON is this module's own text, stored once per
     * route: appended as it is rather than parsed and written again */
    cx_buf out;
    cx_buf_init(&out, (corridor ? strlen(corridor) : 0) + 4096);
    cx_err e = cx_buf_puts(&out, "{\"type\":\"Feature\",\"properties\":{\"kind\":\"corridor\","
                                 "\"consignment\":");
    if (e == CX_OK)
        e = cx_buf_json_str(&out, json_string_value(json_object_get(doc, "id")));
    if (e == CX_OK)
        e = cx_buf_printf(&out, ",\"corridor_m\":%.10g},\"geometry\":",
                          json_number_value(json_object_get(doc, "corridor_m")));
    if (e == CX_OK)
        e = cx_buf_puts(&out, corridor ? corridor : "null");
    if (e == CX_OK)
        e = cx_buf_puts(&out, "}");
    free(corridor);
    json_decref(doc);
    http_reply_buf(r, 200, "application/json", &out);
}

cx_err track__consignment_routes(track_service *t, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/consignments", HTTP_AUTH | HTTP_JSON, h_cons_post, NULL},
        {"GET", "/v1/consignments", HTTP_AUTH, h_cons_list, "limit cursor status"},
        {"GET", "/v1/consignments/{id}", HTTP_AUTH, h_cons_get, NULL},
        {"GET", "/v1/consignments/{id}/corridor", HTTP_AUTH, h_cons_corridor, NULL},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], t);
}
