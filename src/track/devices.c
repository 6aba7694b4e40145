/* /v1/devices: registration (one or a batch), the list, one device; and the
 * /osmand keys devices may be registered with. */
#include "track_int.h"

#include "auth.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- /osmand keys: stored as 16 bytes of salt and BLAKE2b-256 keyed with them ---------- */

static void dev__okey_hash(const char *key, const uint8_t salt[TRACK_OKEY_SALT],
                           uint8_t out[TRACK_OKEY_HASH])
{
    /* Keys are random secrets of 16+ characters (not passwords): a keyed fast
     * hash is enough, and trackers report every few seconds. */
    crypto_generichash(out, TRACK_OKEY_HASH, (const unsigned char *)key, strlen(key), salt,
                       TRACK_OKEY_SALT);
}

void track__okey_new(const char *key, track_okey *out)
{
    randombytes_buf(out->v, TRACK_OKEY_SALT);
    dev__okey_hash(key, out->v, out->v + TRACK_OKEY_SALT);
    out->set = true;
}

cx_err track__okey_get(track_service *t, const char *device, uint8_t out[TRACK_OKEY_LEN])
{
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT osmand_key FROM track_devices WHERE id = ?1")
                         : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == TRACK_OKEY_LEN) {
        memcpy(out, sqlite3_column_blob(st, 0), TRACK_OKEY_LEN);
        e = CX_OK;
    }
    sqlite3_reset(st);
    return e;
}

bool track__okey_matches(const uint8_t stored[TRACK_OKEY_LEN], bool have, const char *given)
{
    /* the same hashing whether or not the device has a key; a constant-time compare */
    static const uint8_t no_salt[TRACK_OKEY_SALT];
    uint8_t h[TRACK_OKEY_HASH];
    dev__okey_hash(given, have ? stored : no_salt, h);
    bool same = sodium_memcmp(h, have ? stored + TRACK_OKEY_SALT : h, TRACK_OKEY_HASH) == 0;
    return have && given[0] && same;
}

/* ---- POST /v1/devices ------------------------------------------------------------------------ */

typedef struct {
    store_job job;
    track_service *t;
    http_req *r;
    json_t *docs; /* array of stored device documents */
    bool single;
    int64_t *keys;
    track_okey *okeys; /* per document: its /osmand key, never in the document */
    size_t failed_at;
} dev_write;

static void dev__write_free(dev_write *dw)
{
    json_decref(dw->docs);
    free(dw->keys);
    free(dw->okeys);
    free(dw);
}

static cx_err dev__insert(store_conn *w, void *arg)
{
    dev_write *dw = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO track_devices(id, org, kind, container, doc, "
                                     "created_at, osmand_key) VALUES(?1,?2,?3,?4,?5,?6,?7)");
    if (!st)
        return CX_EDB;
    size_t i;
    json_t *doc;
    json_array_foreach(dw->docs, i, doc)
    {
        char *text = cx_json_dump(doc, NULL);
        if (!text)
            return CX_ENOMEM;
        sqlite3_bind_text(st, 1, json_string_value(json_object_get(doc, "id")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 2, json_string_value(json_object_get(doc, "org")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(doc, "kind")), -1,
                          SQLITE_STATIC);
        const char *ct = json_string_value(json_object_get(doc, "container"));
        if (ct)
            sqlite3_bind_text(st, 4, ct, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, json_string_value(json_object_get(doc, "created_at")), -1,
                          SQLITE_STATIC);
        if (dw->okeys[i].set)
            sqlite3_bind_blob(st, 7, dw->okeys[i].v, TRACK_OKEY_LEN, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 7);
        cx_err e = store_done(st);
        free(text);
        if (e == CX_EEXIST)
            dw->failed_at = i;
        if (e != CX_OK)
            return e;
        dw->keys[i] = sqlite3_last_insert_rowid(store_conn_db(w));
    }
    return CX_OK;
}

static void dev__done(void *arg, cx_err result)
{
    dev_write *dw = arg;
    http_req *r = dw->r;
    if (result == CX_OK) {
        size_t i;
        json_t *doc;
        json_array_foreach(dw->docs, i, doc)
        {
            track_cmd *c = calloc(1, sizeof *c);
            if (c) {
                track__device_cmd(c, dw->keys[i], doc);
                track__command(dw->t, c);
            }
        }
        if (dw->single)
            http_reply_json(r, 201, json_incref(json_array_get(dw->docs, 0)));
        else
            http_reply_json(r, 201, json_pack("{s:O}", "items", dw->docs));
    } else if (result == CX_EEXIST) {
        char path[32], msg[160];
        if (dw->single)
            snprintf(path, sizeof path, "/id");
        else
            snprintf(path, sizeof path, "/%zu/id", dw->failed_at);
        snprintf(msg, sizeof msg, "device %s is already registered",
                 json_string_value(
                     json_object_get(json_array_get(dw->docs, dw->failed_at), "id")));
        http_reply_error1(r, 409, "duplicate_device", msg, path, "already registered");
    } else {
        http_reply_error(r, 503, "unavailable", "the device could not be stored; retry", NULL);
    }
    http_resume(r);
    dev__write_free(dw);
}

/* key_id: a device key of the device's organisation, not revoked (checked
 * whatever else is wrong with the device, so that every problem is named). */
static void dev__key_check(track_service *t, const json_t *in, const char *default_org,
                           const char *ptr, json_t *problems)
{
    const json_t *kid = json_object_get(in, "key_id");
    if (!json_is_integer(kid) || json_integer_value(kid) < 1)
        return; /* absent, or its shape is already a problem */
    const char *org = json_string_value(json_object_get(in, "org"));
    if (!org || !cx_org_valid(org))
        org = default_org;
    char path[48];
    snprintf(path, sizeof path, "%s/key_id", ptr);
    cx_principal k;
    cx_err e = auth_key_get(t->store, (int64_t)json_integer_value(kid), &k);
    if (e == CX_EDB)
        track__problem(problems, path, "could not be checked (database unavailable); retry");
    else if (e != CX_OK || k.role != CX_ROLE_DEVICE || strcmp(k.org, org) != 0)
        track__problem(problems, path, "must be the id of a key of role device of organisation "
                                       "%s that is not revoked (customs keys list)", org);
}

static void h_devices_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow_officer(r, "register devices"))
        return;
    json_t *body = track__api_parse(r);
    if (!body)
        return;
    bool single = json_is_object(body);
    if (!single && (!json_is_array(body) || json_array_size(body) == 0 ||
                    json_array_size(body) > TRACK_API_MAX_ITEMS)) {
        json_decref(body);
        http_reply_error1(r, 400, "invalid_device", "the body must be a device or an array "
                          "of 1 to 10000 devices", "", "must be an object or an array");
        return;
    }
    size_t n = single ? 1 : json_array_size(body);
    dev_write *dw = calloc(1, sizeof *dw);
    if (dw) {
        dw->keys = calloc(n, sizeof *dw->keys);
        dw->okeys = calloc(n, sizeof *dw->okeys);
        dw->docs = json_array();
    }
    if (!dw || !dw->keys || !dw->okeys || !dw->docs) {
        if (dw)
            dev__write_free(dw);
        json_decref(body);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    json_t *problems = json_array();
    cx_map ids; /* the request's ids: a batch of 10,000 is not 50M comparisons */
    cx_map_init(&ids);
    bool oom = false;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    for (size_t i = 0; i < n; i++) {
        char prefix[32] = "";
        if (!single)
            snprintf(prefix, sizeof prefix, "/%zu", i);
        const char *okey = NULL;
        const json_t *in = single ? body : json_array_get(body, i);
        json_t *doc = track_device_check(in, who->org, now, prefix, problems, &okey);
        if (json_is_object(in))
            dev__key_check(t, in, who->org, prefix, problems);
        if (!doc)
            continue;
        const char *id = json_string_value(json_object_get(doc, "id"));
        bool added = false;
        if (cx_map_put(&ids, id, strlen(id), &added) < 0) {
            json_decref(doc);
            oom = true;
            break;
        }
        if (!added) {
            char p[48];
            snprintf(p, sizeof p, "%s/id", prefix);
            track__problem(problems, p, "repeats an earlier device in this request");
        }
        if (okey)
            track__okey_new(okey, &dw->okeys[json_array_size(dw->docs)]);
        json_array_append_new(dw->docs, doc);
    }
    json_decref(body);
    cx_map_free(&ids);
    if (oom) {
        json_decref(problems);
        dev__write_free(dw);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    if (json_array_size(problems)) {
        dev__write_free(dw);
        track__api_problems(r, "invalid_device", single ? "device" : "request", problems);
        return;
    }
    json_decref(problems);
    dw->t = t;
    dw->r = r;
    dw->single = single;
    dw->job.fn = dev__insert;
    dw->job.done = dev__done;
    dw->job.arg = dw;
    if (!track__api_submit(t, r, &dw->job))
        dev__write_free(dw);
}

/* ---- GET /v1/devices[/{id}] ---------------------------------------------------------------- */

static json_t *dev__num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *dev__name(const char *v)
{
    return v ? json_string(v) : json_null();
}

static const char *dev__seal(int v)
{
    return v == TRACK_SEAL_CLOSED ? "closed" : v == TRACK_SEAL_OPEN ? "open"
                                             : v == TRACK_SEAL_TAMPERED ? "tampered" : NULL;
}

static const char *dev__door(int v)
{
    return v == TRACK_DOOR_OPEN ? "open" : v == TRACK_DOOR_CLOSED ? "closed" : NULL;
}

/* The consignment in transit that a container is on, or NULL. */
static const char *dev__container_cons(store_conn *c, const char *container, char *out,
                                       size_t cap)
{
    if (!container)
        return NULL;
    sqlite3_stmt *st = store_stmt(c, "SELECT c.id FROM track_consignment_containers k "
                                     "JOIN track_consignments c ON c.idx = k.cons "
                                     "WHERE k.container = ?1 AND c.arrived_ms IS NULL "
                                     "ORDER BY c.idx DESC LIMIT 1");
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, container, -1, SQLITE_STATIC);
    const char *res = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        res = out;
    }
    sqlite3_reset(st);
    return res;
}

static json_t *dev__last(int64_t ts_ms, double lat, double lon, double speed, double heading,
                         int seal, int door, double temp, double batt)
{
    char tm[32];
    cx_rfc3339_format(ts_ms * 1000, tm);
    return json_pack("{s:s,s:f,s:f,s:o,s:o,s:o,s:o,s:o,s:o}", "time", tm, "lat", lat, "lon", lon,
                     "speed_kmh", dev__num(speed), "heading", dev__num(heading), "seal",
                     dev__name(dev__seal(seal)), "door", dev__name(dev__door(door)), "temp_c",
                     dev__num(temp), "battery_pct", dev__num(batt));
}

static double dev__col(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* A device row (columns: idx, doc, container, ts, lat, lon, speed, heading,
 * seal, door, temp, battery) as the API shows it; the last report comes from
 * memory when the device has reported since the start (the stored state
 * lags position-only changes by up to 10 s). NULL on failure. */
static json_t *dev__item(track_service *t, store_conn *c, sqlite3_stmt *st)
{
    json_t *doc = json_loadb((const char *)sqlite3_column_text(st, 1),
                             (size_t)sqlite3_column_bytes(st, 1), 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    char cons[TRACK_ID_MAX + 1];
    json_object_set_new(doc, "consignment",
                        dev__name(dev__container_cons(c, (const char *)sqlite3_column_text(st, 2),
                                                      cons, sizeof cons)));
    track_state_row live;
    json_t *last;
    if (track__poshub_get(t->positions, sqlite3_column_int64(st, 0), &live))
        last = dev__last(live.ts, live.lat, live.lon, live.speed, live.heading, live.seal,
                         live.door, live.temp, live.batt);
    else if (sqlite3_column_type(st, 3) == SQLITE_NULL)
        last = json_null();
    else
        last = dev__last(sqlite3_column_int64(st, 3), sqlite3_column_double(st, 4),
                         sqlite3_column_double(st, 5), dev__col(st, 6), dev__col(st, 7),
                         sqlite3_column_int(st, 8), sqlite3_column_int(st, 9), dev__col(st, 10),
                         dev__col(st, 11));
    json_object_set_new(doc, "last", last);
    return doc;
}

#define DEVICE_COLS                                                                          \
    "SELECT d.idx, d.doc, d.container, s.ts, s.lat, s.lon, s.speed, s.heading, s.seal, "    \
    "s.door, s.temp, s.battery FROM track_devices d "                                        \
    "LEFT JOIN track_device_state s ON s.dev = d.idx "

typedef struct {
    track_service *t;
    store_conn *c;
} dev_list;

static cx_err dev__list_item(void *ctx, sqlite3_stmt *st, cx_buf *out)
{
    dev_list *x = ctx;
    json_t *item = dev__item(x->t, x->c, st);
    cx_err e = item ? cx_buf_json(out, item) : CX_EINVAL;
    json_decref(item);
    return e;
}

/* One statement per shape, each on its index in idx order: a container's
 * devices (container, idx), an organisation's own (org, idx) — a tenant's
 * page never walks the other tenants' devices — or all of them. ?1 after,
 * ?2 limit, ?3 org, ?4 container. */
static sqlite3_stmt *dev__list_stmt(store_conn *c, bool scoped, bool container)
{
    if (container)
        return store_stmt(c, DEVICE_COLS "WHERE d.container = ?4 AND d.idx > ?1 AND "
                                         "(?3 IS NULL OR +d.org = ?3) ORDER BY d.idx LIMIT ?2");
    if (scoped)
        return store_stmt(c, DEVICE_COLS "WHERE d.org = ?3 AND d.idx > ?1 "
                                         "ORDER BY d.idx LIMIT ?2");
    return store_stmt(c, DEVICE_COLS "WHERE d.idx > ?1 ORDER BY d.idx LIMIT ?2");
}

static void h_devices_list(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    http_page page;
    if (!http_allow(r, TRACK_READERS | CX_ROLE_BIT(CX_ROLE_DEVICE), "read devices") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 1000, 10000, &page))
        return;
    const char *container = http_query(r, "container");
    if (container && !decl_container_valid(container)) {
        http_bad_query(r, "container", "must be an ISO 6346 container number");
        return;
    }
    store_conn *c = store_reader(t->store);
    bool scoped = !cx_is_officer(who);
    sqlite3_stmt *st = c ? dev__list_stmt(c, scoped, container != NULL) : NULL;
    if (st && scoped)
        sqlite3_bind_text(st, 3, who->org, -1, SQLITE_STATIC);
    if (st && container)
        sqlite3_bind_text(st, 4, container, -1, SQLITE_STATIC);
    dev_list x = {t, c};
    track__api_page(r, st, &page, dev__list_item, &x);
}

static void h_device_get(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, TRACK_READERS | CX_ROLE_BIT(CX_ROLE_DEVICE), "read devices"))
        return;
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, DEVICE_COLS "WHERE d.id = ?1 AND (?2 IS NULL OR "
                                                     "d.org = ?2)")
                         : NULL;
    if (!st) {
        track__api_unavailable(r);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    if (!cx_is_officer(who))
        sqlite3_bind_text(st, 2, who->org, -1, SQLITE_STATIC);
    cx_err e = CX_OK;
    if (!store_next(st, &e)) {
        sqlite3_reset(st);
        if (e != CX_OK)
            track__api_unavailable(r);
        else
            http_reply_error(r, 404, "not_found", "no such device", NULL);
        return;
    }
    json_t *item = dev__item(t, c, st);
    sqlite3_reset(st);
    if (item)
        http_reply_json(r, 200, item);
    else
        http_reply_error(r, 500, "internal", "the device is stored damaged", NULL);
}

cx_err track__device_routes(track_service *t, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/devices", HTTP_AUTH | HTTP_JSON, h_devices_post, NULL},
        {"GET", "/v1/devices", HTTP_AUTH, h_devices_list, "limit cursor container"},
        {"GET", "/v1/devices/{id}", HTTP_AUTH, h_device_get, NULL},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], t);
}
