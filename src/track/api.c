/* The HTTP API of the track module (docs/track.md has every shape). */
#include "track_int.h"

#include "auth.h"

#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_MAX_ITEMS 10000
#define API_DEAD_PAYLOAD 1024
#define API_ENQUEUE_WAIT_MS 2000
#define API_OKEY_SALT 16                  /* a device's /osmand key is stored as 16 bytes */
#define API_OKEY_HASH 32                  /* of salt and BLAKE2b-256 keyed with them */
#define API_OKEY_LEN (API_OKEY_SALT + API_OKEY_HASH)

/* ---- helpers -------------------------------------------------------------------------- */

static bool api__officer(const cx_principal *p)
{
    return p->role == CX_ROLE_ADMIN || p->role == CX_ROLE_OFFICER;
}

static bool api__tracker_reader(const cx_principal *p)
{
    return api__officer(p) || p->role == CX_ROLE_CARRIER;
}

static void api__forbidden(http_req *r, const char *what)
{
    char msg[160];
    snprintf(msg, sizeof msg, "this role cannot %s", what);
    http_reply_error(r, 403, "forbidden", msg, NULL);
}

static json_t *api__parse(http_req *r)
{
    size_t len;
    const char *body = http_body(r, &len);
    json_error_t e;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!doc) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s (line %d, column %d)", e.text, e.line, e.column);
        http_reply_error1(r, 400, "invalid_json", "the body is not valid JSON", "", msg);
    }
    return doc;
}

static void api__problems(http_req *r, const char *code, const char *what, json_t *problems)
{
    char m[160];
    size_t n = json_array_size(problems);
    snprintf(m, sizeof m, "the %s has %zu problem%s", what, n, n == 1 ? "" : "s");
    http_reply_error(r, 400, code, m, problems);
}

static void api__now(char out[32])
{
    cx_rfc3339_format(cx_now_us(), out);
}

/* Hands job to the writer with r deferred; its done callback answers. When
 * the writer is stopping this answers 503 and returns false: the caller
 * then frees what the job owns. */
static bool api__submit(track_service *t, http_req *r, store_job *job)
{
    http_defer(r);
    if (store_submit(t->store, job) == CX_OK)
        return true;
    http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
    http_resume(r);
    return false;
}

static bool api__limit(http_req *r, int64_t *limit, int64_t def, int64_t max)
{
    const char *ls = http_query(r, "limit");
    *limit = def;
    if (ls && (!cx_parse_i64(ls, limit) || *limit < 1 || *limit > max)) {
        char m[64];
        snprintf(m, sizeof m, "must be an integer from 1 to %lld", (long long)max);
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/limit", m);
        return false;
    }
    return true;
}

static bool api__cursor(http_req *r, int64_t *after)
{
    const char *cs = http_query(r, "cursor");
    *after = 0;
    if (cs && (!cx_parse_i64(cs, after) || *after < 0)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/cursor",
                          "must be a next_cursor value returned by this endpoint");
        return false;
    }
    return true;
}

static bool api__time_param(http_req *r, const char *name, int64_t *ms, bool *given)
{
    const char *v = http_query(r, name);
    *given = v != NULL;
    if (!v)
        return true;
    int64_t us;
    if (cx_rfc3339_parse(v, &us) != CX_OK) {
        char path[40];
        snprintf(path, sizeof path, "/%s", name);
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", path,
                          "must be an RFC 3339 date-time with a zone");
        return false;
    }
    *ms = us / 1000;
    return true;
}

static void api__reply_buf(http_req *r, unsigned status, cx_buf *b)
{
    size_t n;
    char *s = cx_buf_steal(b, &n);
    http_reply(r, status, "application/json", s, n);
}

static bool api__string_member(const json_t *doc, const char *key, json_t *problems, bool required,
                               size_t maxlen, const char **out)
{
    const json_t *v = json_object_get(doc, key);
    char path[64] = "";
    cx_jptr_push(path, sizeof path, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            track__problem(problems, path, "is required");
        return !required;
    }
    size_t cp = 0;
    if (!json_is_string(v) ||
        !cx_utf8_count(json_string_value(v), json_string_length(v), &cp) || cp == 0 ||
        cp > maxlen) {
        track__problem(problems, path, "must be a string of 1 to %zu characters", maxlen);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static void api__unknown_members(const json_t *doc, const char *const *known, json_t *problems,
                                 const char *prefix)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok = ok || strcmp(known[i], k) == 0;
        if (!ok) {
            char path[128];
            snprintf(path, sizeof path, "%s", prefix);
            cx_jptr_push(path, sizeof path, k);
            track__problem(problems, path, "unknown member");
        }
    }
}

/* {"min": number, "max": number}, either optional but not both */
static void api__temp_range(const json_t *doc, json_t *problems, const char *prefix)
{
    const json_t *tr = json_object_get(doc, "temperature_c");
    if (!tr || json_is_null(tr))
        return;
    char path[128];
    snprintf(path, sizeof path, "%s/temperature_c", prefix);
    const json_t *lo = json_object_get(tr, "min"), *hi = json_object_get(tr, "max");
    if (!json_is_object(tr) || (!lo && !hi) || json_object_size(tr) > (size_t)(!!lo + !!hi)) {
        track__problem(problems, path, "must be {\"min\": number, \"max\": number}");
        return;
    }
    if ((lo && (!json_is_number(lo) || json_number_value(lo) < -100)) ||
        (hi && (!json_is_number(hi) || json_number_value(hi) > 150)) ||
        (lo && hi && json_number_value(lo) >= json_number_value(hi)))
        track__problem(problems, path, "min and max must be degrees Celsius with min < max");
}

/* ---- devices -------------------------------------------------------------------------- */

/* A device's /osmand key as stored: salt, then the hash. */
typedef struct {
    bool set;
    uint8_t v[API_OKEY_LEN];
} api_okey;

static void api__okey_hash(const char *key, const uint8_t salt[API_OKEY_SALT],
                           uint8_t out[API_OKEY_HASH])
{
    /* Keys are random secrets of 16+ characters (not passwords): a keyed fast
     * hash is enough, and trackers report every few seconds. */
    crypto_generichash(out, API_OKEY_HASH, (const unsigned char *)key, strlen(key), salt,
                       API_OKEY_SALT);
}

static void api__okey_new(const char *key, api_okey *out)
{
    randombytes_buf(out->v, API_OKEY_SALT);
    api__okey_hash(key, out->v, out->v + API_OKEY_SALT);
    out->set = true;
}

typedef struct {
    store_job job;
    track_service *t;
    http_req *r;
    json_t *docs;    /* array of stored device documents */
    bool single;
    int64_t *keys;
    api_okey *okeys; /* per document: its /osmand key, never in the document */
    size_t failed_at;
} dev_write;

static cx_err api__dev_insert(store_conn *w, void *arg)
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
            sqlite3_bind_blob(st, 7, dw->okeys[i].v, API_OKEY_LEN, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 7);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        free(text);
        if (rc == SQLITE_CONSTRAINT_UNIQUE) {
            dw->failed_at = i;
            return CX_EEXIST;
        }
        if (rc != SQLITE_DONE)
            return CX_EDB;
        dw->keys[i] = sqlite3_last_insert_rowid(store_conn_db(w));
    }
    return CX_OK;
}

static void api__dev_done(void *arg, cx_err result)
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
    json_decref(dw->docs);
    free(dw->keys);
    free(dw->okeys);
    free(dw);
}

/* key_id: a device key of the device's organisation, not revoked. */
static void api__device_key(track_service *t, const json_t *kid, const char *org,
                            const char *path, json_t *problems)
{
    cx_principal k;
    cx_err e = CX_ENOTFOUND;
    if (json_is_integer(kid) && json_integer_value(kid) > 0)
        e = auth_key_get(t->store, (int64_t)json_integer_value(kid), &k);
    if (e == CX_EDB)
        track__problem(problems, path, "could not be checked (database unavailable); retry");
    else if (e != CX_OK || k.role != CX_ROLE_DEVICE || strcmp(k.org, org) != 0)
        track__problem(problems, path, "must be the id of a key of role device of organisation "
                                       "%s that is not revoked (customs keys list)", org);
}

/* The stored device document; its /osmand key (never in the document) goes
 * to okey. */
static json_t *api__device_doc(track_service *t, const json_t *in, const cx_principal *who,
                               const char *prefix, json_t *problems, api_okey *okey)
{
    static const char *const known[] = {"id", "kind", "container", "org", "name",
                                        "temperature_c", "key_id", "osmand_key", NULL};
    char path[96];
    if (!json_is_object(in)) {
        track__problem(problems, prefix[0] ? prefix : "", "a device is a JSON object");
        return NULL;
    }
    size_t before = json_array_size(problems);
    api__unknown_members(in, known, problems, prefix);
    const char *id = json_string_value(json_object_get(in, "id"));
    snprintf(path, sizeof path, "%s/id", prefix);
    if (!track_id_valid(id))
        track__problem(problems, path, "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    const char *kind = json_string_value(json_object_get(in, "kind"));
    track_device_kind dk;
    snprintf(path, sizeof path, "%s/kind", prefix);
    if (!track_device_kind_parse(kind, &dk))
        track__problem(problems, path, "must be gps-tracker, e-seal or reefer");
    const json_t *ct = json_object_get(in, "container");
    snprintf(path, sizeof path, "%s/container", prefix);
    if (ct && !json_is_null(ct) &&
        (!json_is_string(ct) || !decl_container_valid(json_string_value(ct))))
        track__problem(problems, path, "must be an ISO 6346 container number with a correct "
                                       "check digit");
    const json_t *org = json_object_get(in, "org");
    snprintf(path, sizeof path, "%s/org", prefix);
    if (org && (!json_is_string(org) || !cx_org_valid(json_string_value(org))))
        track__problem(problems, path, "must be an organisation name (1-64 of A-Z a-z 0-9 . _ -)");
    const json_t *name = json_object_get(in, "name");
    snprintf(path, sizeof path, "%s/name", prefix);
    if (name && (!json_is_string(name) || json_string_length(name) == 0 ||
                 json_string_length(name) > 200))
        track__problem(problems, path, "must be a string of 1 to 200 bytes");
    api__temp_range(in, problems, prefix);
    const json_t *kid = json_object_get(in, "key_id");
    snprintf(path, sizeof path, "%s/key_id", prefix);
    if (kid && !json_is_null(kid))
        api__device_key(t, kid, json_is_string(org) ? json_string_value(org) : who->org, path,
                        problems);
    const json_t *ok = json_object_get(in, "osmand_key");
    snprintf(path, sizeof path, "%s/osmand_key", prefix);
    if (ok && !json_is_null(ok) && !track_osmand_key_valid(json_string_value(ok)))
        track__problem(problems, path, "must be a random secret of %d to %d of A-Z a-z 0-9 "
                       "- . _ ~ (e.g. openssl rand -hex 16)", TRACK_OSMAND_KEY_MIN,
                       TRACK_OSMAND_KEY_MAX);
    if (json_array_size(problems) > before)
        return NULL;
    if (ok && !json_is_null(ok))
        api__okey_new(json_string_value(ok), okey);
    char now[32];
    api__now(now);
    json_t *doc = json_pack("{s:s,s:s,s:o,s:s}", "id", id, "kind", kind, "container",
                            ct && !json_is_null(ct) ? json_string(json_string_value(ct))
                                                    : json_null(),
                            "org", org ? json_string_value(org) : who->org);
    if (name)
        json_object_set(doc, "name", (json_t *)name);
    const json_t *tr = json_object_get(in, "temperature_c");
    if (tr && !json_is_null(tr))
        json_object_set(doc, "temperature_c", (json_t *)tr);
    if (kid && !json_is_null(kid))
        json_object_set(doc, "key_id", (json_t *)kid);
    json_object_set_new(doc, "created_at", json_string(now));
    return doc;
}

static void h_devices_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!api__officer(who)) {
        api__forbidden(r, "register devices");
        return;
    }
    json_t *body = api__parse(r);
    if (!body)
        return;
    bool single = json_is_object(body);
    if (!single && (!json_is_array(body) || json_array_size(body) == 0 ||
                    json_array_size(body) > API_MAX_ITEMS)) {
        json_decref(body);
        http_reply_error1(r, 400, "invalid_device", "the body must be a device or an array "
                          "of 1 to 10000 devices", "", "must be an object or an array");
        return;
    }
    size_t n = single ? 1 : json_array_size(body);
    api_okey *okeys = calloc(n, sizeof *okeys);
    if (!okeys) {
        json_decref(body);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    json_t *problems = json_array(), *docs = json_array();
    for (size_t i = 0; i < n; i++) {
        char prefix[32] = "";
        if (!single)
            snprintf(prefix, sizeof prefix, "/%zu", i);
        json_t *doc = api__device_doc(t, single ? body : json_array_get(body, i), who, prefix,
                                      problems, &okeys[i]);
        if (doc) {
            /* the same id twice in one request */
            for (size_t k = 0; k < json_array_size(docs); k++)
                if (strcmp(json_string_value(json_object_get(json_array_get(docs, k), "id")),
                           json_string_value(json_object_get(doc, "id"))) == 0) {
                    char p[48];
                    snprintf(p, sizeof p, "%s/id", prefix);
                    track__problem(problems, p, "repeats an earlier device in this request");
                }
            json_array_append_new(docs, doc);
        }
    }
    json_decref(body);
    if (json_array_size(problems)) {
        json_decref(docs);
        free(okeys);
        api__problems(r, "invalid_device", single ? "device" : "request", problems);
        return;
    }
    json_decref(problems);
    dev_write *dw = calloc(1, sizeof *dw);
    int64_t *keys = calloc(n, sizeof *keys);
    if (!dw || !keys) {
        free(dw);
        free(keys);
        free(okeys);
        json_decref(docs);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    dw->t = t;
    dw->r = r;
    dw->docs = docs;
    dw->single = single;
    dw->keys = keys;
    dw->okeys = okeys;
    dw->job.fn = api__dev_insert;
    dw->job.done = api__dev_done;
    dw->job.arg = dw;
    if (!api__submit(t, r, &dw->job)) {
        json_decref(docs);
        free(keys);
        free(okeys);
        free(dw);
    }
}

static const char *api__seal_name(int v)
{
    return v == TRACK_SEAL_CLOSED ? "closed" : v == TRACK_SEAL_OPEN ? "open"
                                             : v == TRACK_SEAL_TAMPERED ? "tampered" : NULL;
}

/* The consignment in transit that a container is on, or NULL. */
static const char *api__container_cons(store_conn *c, const char *container, char *out,
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

static void api__num(cx_buf *out, const char *name, double v)
{
    if (isnan(v))
        cx_buf_printf(out, ",\"%s\":null", name);
    else
        cx_buf_printf(out, ",\"%s\":%.10g", name, v);
}

/* Appends a device row (columns: idx, doc, container, ts, lat, lon, speed,
 * heading, seal, door, temp, battery, recv) as the API shows it; the last
 * report comes from memory when the device has reported since the start
 * (the stored state lags position-only changes by up to 10 s). */
static void api__device_item(track_service *t, store_conn *c, sqlite3_stmt *st, cx_buf *out)
{
    const char *doc = (const char *)sqlite3_column_text(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    cx_buf_append(out, doc, len - 1);
    char cons[TRACK_ID_MAX + 1];
    const char *cid = api__container_cons(c, (const char *)sqlite3_column_text(st, 2), cons,
                                          sizeof cons);
    if (cid)
        cx_buf_printf(out, ",\"consignment\":\"%s\"", cid);
    else
        cx_buf_puts(out, ",\"consignment\":null");
    track_state_row live;
    if (track__poshub_get(t->positions, sqlite3_column_int64(st, 0), &live)) {
        char lt[32];
        cx_rfc3339_format(live.ts * 1000, lt);
        cx_buf_printf(out, ",\"last\":{\"time\":\"%s\",\"lat\":%.7f,\"lon\":%.7f", lt,
                      live.lat, live.lon);
        api__num(out, "speed_kmh", live.speed);
        api__num(out, "heading", live.heading);
        const char *sv = api__seal_name(live.seal);
        cx_buf_printf(out, ",\"seal\":%s%s%s", sv ? "\"" : "", sv ? sv : "null", sv ? "\"" : "");
        const char *dv = live.door == TRACK_DOOR_OPEN ? "open"
                         : live.door == TRACK_DOOR_CLOSED ? "closed" : NULL;
        cx_buf_printf(out, ",\"door\":%s%s%s", dv ? "\"" : "", dv ? dv : "null", dv ? "\"" : "");
        api__num(out, "temp_c", live.temp);
        api__num(out, "battery_pct", live.batt);
        cx_buf_puts(out, "}}");
        return;
    }
    if (sqlite3_column_type(st, 3) == SQLITE_NULL) {
        cx_buf_puts(out, ",\"last\":null}");
        return;
    }
    char tm[32], rv[32];
    cx_rfc3339_format(sqlite3_column_int64(st, 3) * 1000, tm);
    cx_rfc3339_format(sqlite3_column_int64(st, 12), rv);
    (void)rv;
    cx_buf_printf(out, ",\"last\":{\"time\":\"%s\",\"lat\":%.7f,\"lon\":%.7f", tm,
                  sqlite3_column_double(st, 4), sqlite3_column_double(st, 5));
    static const char *const nums[] = {"speed_kmh", "heading", NULL, NULL, "temp_c",
                                       "battery_pct"};
    for (int k = 0; k < 6; k++) {
        int col = 6 + k;
        if (k == 2 || k == 3) {
            const char *v = k == 2 ? api__seal_name(sqlite3_column_int(st, col))
                                   : (sqlite3_column_int(st, col) == TRACK_DOOR_OPEN ? "open"
                                      : sqlite3_column_int(st, col) == TRACK_DOOR_CLOSED
                                          ? "closed"
                                          : NULL);
            cx_buf_printf(out, ",\"%s\":", k == 2 ? "seal" : "door");
            if (v)
                cx_buf_printf(out, "\"%s\"", v);
            else
                cx_buf_puts(out, "null");
            continue;
        }
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
            cx_buf_printf(out, ",\"%s\":null", nums[k]);
        else
            cx_buf_printf(out, ",\"%s\":%.10g", nums[k], sqlite3_column_double(st, col));
    }
    cx_buf_puts(out, "}}");
}

#define DEVICE_COLS                                                                          \
    "SELECT d.idx, d.doc, d.container, s.ts, s.lat, s.lon, s.speed, s.heading, s.seal, "    \
    "s.door, s.temp, s.battery, s.recv FROM track_devices d "                                \
    "LEFT JOIN track_device_state s ON s.dev = d.idx "

static void h_devices_list(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!api__tracker_reader(who) && who->role != CX_ROLE_DEVICE) {
        api__forbidden(r, "read devices");
        return;
    }
    int64_t limit, after;
    if (!api__limit(r, &limit, 1000, 10000) || !api__cursor(r, &after))
        return;
    const char *container = http_query(r, "container");
    bool all = api__officer(who);
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st =
        !c ? NULL
           : container
                 ? store_stmt(c, DEVICE_COLS "WHERE d.idx > ?1 AND (?3 IS NULL OR d.org = ?3) "
                                             "AND d.container = ?4 ORDER BY d.idx LIMIT ?2")
                 : store_stmt(c, DEVICE_COLS "WHERE d.idx > ?1 AND (?3 IS NULL OR d.org = ?3) "
                                             "ORDER BY d.idx LIMIT ?2");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit + 1);
    if (!all)
        sqlite3_bind_text(st, 3, who->org, -1, SQLITE_STATIC);
    if (container)
        sqlite3_bind_text(st, 4, container, -1, SQLITE_STATIC);
    cx_buf out;
    cx_buf_init(&out, (size_t)256 << 20);
    cx_buf_puts(&out, "{\"items\":[");
    int64_t n = 0, last = 0;
    bool more = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        if (n++)
            cx_buf_puts(&out, ",");
        last = sqlite3_column_int64(st, 0);
        api__device_item(t, c, st, &out);
    }
    sqlite3_reset(st);
    if (more)
        cx_buf_printf(&out, "],\"next_cursor\":\"%lld\"}", (long long)last);
    else
        cx_buf_puts(&out, "],\"next_cursor\":null}");
    api__reply_buf(r, 200, &out);
}

static void h_device_get(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!api__tracker_reader(who) && who->role != CX_ROLE_DEVICE) {
        api__forbidden(r, "read devices");
        return;
    }
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, DEVICE_COLS "WHERE d.id = ?1 AND (?2 IS NULL OR "
                                                     "d.org = ?2)")
                         : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    if (!api__officer(who))
        sqlite3_bind_text(st, 2, who->org, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        http_reply_error(r, 404, "not_found", "no such device", NULL);
        return;
    }
    cx_buf out;
    cx_buf_init(&out, (size_t)1 << 20);
    api__device_item(t, c, st, &out);
    sqlite3_reset(st);
    api__reply_buf(r, 200, &out);
}

/* ---- zones ----------------------------------------------------------------------------- */

typedef struct {
    store_job job;
    track_service *t;
    http_req *r;
    json_t *doc;
    track_shape *shape;
    int64_t key;
} zone_write;

static cx_err api__zone_insert(store_conn *w, void *arg)
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
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(text);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return CX_EEXIST;
    if (rc != SQLITE_DONE)
        return CX_EDB;
    zw->key = sqlite3_last_insert_rowid(store_conn_db(w));
    return CX_OK;
}

static void api__zone_done(void *arg, cx_err result)
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
    track_shape_free(zw->shape);
    json_decref(zw->doc);
    free(zw);
}

static void h_zones_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!api__officer(http_principal(r))) {
        api__forbidden(r, "define zones");
        return;
    }
    json_t *in = api__parse(r);
    if (!in)
        return;
    json_t *problems = json_array();
    static const char *const known[] = {"id", "name", "kind", "geometry", NULL};
    if (!json_is_object(in)) {
        json_decref(in);
        json_decref(problems);
        http_reply_error1(r, 400, "invalid_zone", "a zone is a JSON object", "", "not an object");
        return;
    }
    api__unknown_members(in, known, problems, "");
    const char *id = json_string_value(json_object_get(in, "id")), *name = NULL;
    if (!track_id_valid(id))
        track__problem(problems, "/id", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    api__string_member(in, "name", problems, false, 200, &name);
    track_zone_kind zk;
    if (!track_zone_kind_parse(json_string_value(json_object_get(in, "kind")), &zk))
        track__problem(problems, "/kind",
                       "must be bonded-warehouse, port, customs-office, border or restricted");
    track_shape *shape = NULL;
    const json_t *geom = json_object_get(in, "geometry");
    if (!geom)
        track__problem(problems, "/geometry", "is required (a GeoJSON Polygon or MultiPolygon)");
    else
        shape = track_shape_zone(geom, "/geometry", problems);
    if (json_array_size(problems)) {
        track_shape_free(shape);
        json_decref(in);
        api__problems(r, "invalid_zone", "zone", problems);
        return;
    }
    json_decref(problems);
    char now[32];
    api__now(now);
    json_t *doc = json_pack("{s:s,s:s,s:s,s:O,s:s}", "id", id, "name", name ? name : id, "kind",
                            track_zone_kind_name(zk), "geometry", geom, "created_at", now);
    json_decref(in);
    zone_write *zw = calloc(1, sizeof *zw);
    if (!zw || !doc) {
        free(zw);
        json_decref(doc);
        track_shape_free(shape);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    zw->t = t;
    zw->r = r;
    zw->doc = doc;
    zw->shape = shape;
    zw->job.fn = api__zone_insert;
    zw->job.done = api__zone_done;
    zw->job.arg = zw;
    if (!api__submit(t, r, &zw->job)) {
        track_shape_free(shape);
        json_decref(doc);
        free(zw);
    }
}

static void h_zones_list(http_req *r, void *ctx)
{
    track_service *t = ctx;
    int64_t limit, after;
    if (!api__limit(r, &limit, 1000, 10000) || !api__cursor(r, &after))
        return;
    const char *kind = http_query(r, "kind");
    track_zone_kind zk;
    if (kind && !track_zone_kind_parse(kind, &zk)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/kind",
                          "must be a zone kind");
        return;
    }
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT idx, doc FROM track_zones WHERE idx > ?1 AND "
                                         "(?3 IS NULL OR kind = ?3) ORDER BY idx LIMIT ?2")
                         : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit + 1);
    if (kind)
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    cx_buf out;
    cx_buf_init(&out, (size_t)512 << 20);
    cx_buf_puts(&out, "{\"items\":[");
    int64_t n = 0, last = 0;
    bool more = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        if (n++)
            cx_buf_puts(&out, ",");
        last = sqlite3_column_int64(st, 0);
        cx_buf_append(&out, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    }
    sqlite3_reset(st);
    if (more)
        cx_buf_printf(&out, "],\"next_cursor\":\"%lld\"}", (long long)last);
    else
        cx_buf_puts(&out, "],\"next_cursor\":null}");
    api__reply_buf(r, 200, &out);
}

static void h_zone_get(http_req *r, void *ctx)
{
    track_service *t = ctx;
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT doc FROM track_zones WHERE id = ?1") : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
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

/* ---- consignments ---------------------------------------------------------------------- */

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

static cx_err api__cons_insert(store_conn *w, void *arg)
{
    cons_write *cw = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT 1 FROM track_corridors WHERE key = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, cw->corridor_key, -1, SQLITE_STATIC);
    int have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    if (!have) {
        st = store_stmt(w, "INSERT INTO track_corridors(key, geojson) VALUES(?1, ?2)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, cw->corridor_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, cw->corridor, -1, SQLITE_STATIC);
        int rc0 = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc0 != SQLITE_DONE)
            return CX_EDB;
    }
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
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(text);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return CX_EEXIST;
    if (rc != SQLITE_DONE)
        return CX_EDB;
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
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return CX_EDB;
    }
    return CX_OK;
}

static void api__cons_out(cx_buf *out, const char *doc, size_t len, int64_t arrived_ms,
                          bool overdue)
{
    cx_buf_append(out, doc, len - 1);
    if (arrived_ms) {
        char tm[32];
        cx_rfc3339_format(arrived_ms * 1000, tm);
        cx_buf_printf(out, ",\"status\":\"arrived\",\"arrived_at\":\"%s\"", tm);
    } else {
        cx_buf_puts(out, ",\"status\":\"in_transit\",\"arrived_at\":null");
    }
    cx_buf_printf(out, ",\"overdue\":%s", overdue ? "true" : "false");
}

static void api__cons_done(void *arg, cx_err result)
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
        char *text = cx_json_dump(cw->doc, NULL);
        cx_buf out;
        cx_buf_init(&out, (size_t)64 << 20);
        if (text) {
            api__cons_out(&out, text, strlen(text), 0, false);
            cx_buf_puts(&out, "}");
        }
        free(text);
        api__reply_buf(r, 201, &out);
    } else if (result == CX_EEXIST) {
        http_reply_error1(r, 409, "duplicate_consignment",
                          "a consignment with this id already exists", "/id", "already used");
    } else {
        http_reply_error(r, 503, "unavailable", "the consignment could not be stored; retry",
                         NULL);
    }
    http_resume(r);
    track_shape_free(cw->shape);
    json_decref(cw->doc);
    free(cw->corridor);
    free(cw);
}

static bool api__zone_exists(store_conn *c, const char *id)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT 1 FROM track_zones WHERE id = ?1");
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return ok;
}

static void h_cons_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!api__officer(who)) {
        api__forbidden(r, "register consignments");
        return;
    }
    json_t *in = api__parse(r);
    if (!in)
        return;
    if (!json_is_object(in)) {
        json_decref(in);
        http_reply_error1(r, 400, "invalid_consignment", "a consignment is a JSON object", "",
                          "not an object");
        return;
    }
    static const char *const known[] = {"id", "containers", "declarations", "route",
                                        "corridor_m", "origin_zone", "destination_zone",
                                        "expected_arrival", "temperature_c", "rules", "name",
                                        NULL};
    json_t *problems = json_array();
    api__unknown_members(in, known, problems, "");
    const char *id = json_string_value(json_object_get(in, "id"));
    if (!track_id_valid(id))
        track__problem(problems, "/id", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    const json_t *cs = json_object_get(in, "containers");
    if (!json_is_array(cs) || json_array_size(cs) == 0 ||
        json_array_size(cs) > DECL_MAX_CONTAINERS)
        track__problem(problems, "/containers", "must be an array of 1 to %d container numbers",
                       DECL_MAX_CONTAINERS);
    size_t i;
    json_t *v;
    json_array_foreach(cs, i, v)
    {
        char p[40];
        snprintf(p, sizeof p, "/containers/%zu", i);
        if (!json_is_string(v) || !decl_container_valid(json_string_value(v)))
            track__problem(problems, p, "must be an ISO 6346 container number with a correct "
                                        "check digit");
        for (size_t k = 0; k < i && json_is_string(v); k++)
            if (json_equal(v, json_array_get(cs, k)))
                track__problem(problems, p, "repeats container %zu", k);
    }
    const json_t *ds = json_object_get(in, "declarations");
    if (ds && (!json_is_array(ds) || json_array_size(ds) > 256))
        track__problem(problems, "/declarations", "must be an array of up to 256 declaration "
                                                  "ids");
    json_array_foreach(ds, i, v)
    {
        char p[40];
        snprintf(p, sizeof p, "/declarations/%zu", i);
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
            track__problem(problems, p, "must be a declaration id");
        else if (t->decl && decl_lookup(t->decl, json_string_value(v), NULL, NULL) != CX_OK)
            track__problem(problems, p, "no such declaration");
    }
    const json_t *cm = json_object_get(in, "corridor_m");
    double width = json_number_value(cm);
    if (!json_is_number(cm) || !isfinite(width) || width < 10 || width > 200000)
        track__problem(problems, "/corridor_m", "must be the corridor's full width in metres, "
                                                "from 10 to 200000");
    const char *oz = NULL, *dz = NULL, *ea = NULL, *name = NULL;
    api__string_member(in, "origin_zone", problems, true, TRACK_ID_MAX, &oz);
    api__string_member(in, "destination_zone", problems, true, TRACK_ID_MAX, &dz);
    api__string_member(in, "name", problems, false, 200, &name);
    store_conn *rc = store_reader(t->store);
    if (oz && rc && !api__zone_exists(rc, oz))
        track__problem(problems, "/origin_zone", "no such zone");
    if (dz && rc && !api__zone_exists(rc, dz))
        track__problem(problems, "/destination_zone", "no such zone");
    int64_t us;
    if (api__string_member(in, "expected_arrival", problems, true, 64, &ea) && ea &&
        cx_rfc3339_parse(ea, &us) != CX_OK)
        track__problem(problems, "/expected_arrival", "must be an RFC 3339 date-time with a zone");
    api__temp_range(in, problems, "");
    const json_t *rules = json_object_get(in, "rules");
    if (rules) {
        json_t *rp = json_array();
        track_config tmp = t->cfg;
        track_config_apply(&tmp, rules, rp);
        json_array_foreach(rp, i, v)
        {
            char p[128];
            snprintf(p, sizeof p, "/rules%s", json_string_value(json_object_get(v, "path")));
            track__problem(problems, p, "%s", json_string_value(json_object_get(v, "message")));
        }
        json_decref(rp);
    }
    const json_t *route = json_object_get(in, "route");
    track_shape *shape = NULL;
    char *corridor = NULL;
    if (!route)
        track__problem(problems, "/route", "is required (a GeoJSON LineString)");
    else if (json_array_size(problems) == 0)
        shape = track__corridor(t, route, width, &corridor, problems);
    if (json_array_size(problems)) {
        track_shape_free(shape);
        free(corridor);
        json_decref(in);
        api__problems(r, "invalid_consignment", "consignment", problems);
        return;
    }
    json_decref(problems);
    char now[32];
    int64_t now_us = cx_now_us();
    cx_rfc3339_format(now_us, now);
    json_t *doc = json_deep_copy(in);
    json_decref(in);
    if (!json_object_get(doc, "declarations"))
        json_object_set_new(doc, "declarations", json_array());
    json_object_set_new(doc, "org", json_string(who->org));
    json_object_set_new(doc, "created_at", json_string(now));
    cons_write *cw = calloc(1, sizeof *cw);
    if (!cw) {
        json_decref(doc);
        track_shape_free(shape);
        free(corridor);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
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
    cw->job.fn = api__cons_insert;
    cw->job.done = api__cons_done;
    cw->job.arg = cw;
    http_defer(r);
    if (store_submit(t->store, &cw->job) != CX_OK)
        api__cons_done(cw, CX_ESHUTDOWN); /* replies 503 and frees */
}

static void h_cons_list(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!api__officer(http_principal(r))) {
        api__forbidden(r, "read consignments");
        return;
    }
    int64_t limit, after;
    if (!api__limit(r, &limit, 100, 1000) || !api__cursor(r, &after))
        return;
    const char *status = http_query(r, "status");
    int sf = 0;
    if (status) {
        if (strcmp(status, "in_transit") == 0)
            sf = 1;
        else if (strcmp(status, "arrived") == 0)
            sf = 2;
        else {
            http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/status",
                              "must be in_transit or arrived");
            return;
        }
    }
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT idx, doc, arrived_ms, overdue FROM track_consignments "
                          "WHERE idx > ?1 AND (?3 = 0 OR (?3 = 1 AND arrived_ms IS NULL) OR "
                          "(?3 = 2 AND arrived_ms IS NOT NULL)) ORDER BY idx LIMIT ?2")
          : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit + 1);
    sqlite3_bind_int(st, 3, sf);
    cx_buf out;
    cx_buf_init(&out, (size_t)256 << 20);
    cx_buf_puts(&out, "{\"items\":[");
    int64_t n = 0, last = 0;
    bool more = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        if (n++)
            cx_buf_puts(&out, ",");
        last = sqlite3_column_int64(st, 0);
        api__cons_out(&out, (const char *)sqlite3_column_text(st, 1),
                      (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_int64(st, 2),
                      sqlite3_column_int(st, 3) != 0);
        cx_buf_puts(&out, "}");
    }
    sqlite3_reset(st);
    if (more)
        cx_buf_printf(&out, "],\"next_cursor\":\"%lld\"}", (long long)last);
    else
        cx_buf_puts(&out, "],\"next_cursor\":null}");
    api__reply_buf(r, 200, &out);
}

/* Loads a consignment row: doc (caller decrefs), key, arrival. */
static json_t *api__cons_load(store_conn *c, const char *id, int64_t *key, int64_t *arrived,
                              bool *overdue, char **corridor)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT c.idx, c.doc, c.arrived_ms, c.overdue, k.geojson "
                                     "FROM track_consignments c LEFT JOIN track_corridors k "
                                     "ON k.key = c.corridor_key WHERE c.id = ?1");
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    json_t *doc = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        doc = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        *key = sqlite3_column_int64(st, 0);
        *arrived = sqlite3_column_int64(st, 2);
        *overdue = sqlite3_column_int(st, 3) != 0;
        if (corridor)
            *corridor = sqlite3_column_type(st, 4) == SQLITE_NULL
                            ? NULL
                            : strdup((const char *)sqlite3_column_text(st, 4));
    }
    sqlite3_reset(st);
    return doc;
}

/* Device keys and ids of the devices on a consignment's containers. */
static json_t *api__cons_devices(store_conn *c, const json_t *doc)
{
    json_t *out = json_array();
    sqlite3_stmt *st = store_stmt(c, "SELECT idx, id FROM track_devices WHERE container = ?1 "
                                     "ORDER BY idx");
    if (!st)
        return out;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "containers"), i, v)
    {
        sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(out, json_pack("{s:I,s:s,s:O}", "key",
                                                 (json_int_t)sqlite3_column_int64(st, 0), "id",
                                                 (const char *)sqlite3_column_text(st, 1),
                                                 "container", v));
        sqlite3_reset(st);
    }
    return out;
}

static void h_cons_get(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!api__officer(http_principal(r))) {
        api__forbidden(r, "read consignments");
        return;
    }
    store_conn *c = store_reader(t->store);
    int64_t key = 0, arrived = 0;
    bool overdue = false;
    json_t *doc = c ? api__cons_load(c, http_param(r, "id"), &key, &arrived, &overdue, NULL)
                    : NULL;
    if (!doc) {
        http_reply_error(r, 404, "not_found", "no such consignment", NULL);
        return;
    }
    json_t *devs = api__cons_devices(c, doc);
    json_t *ids = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(devs, i, v)
    {
        json_array_append(ids, json_object_get(v, "id"));
    }
    json_decref(devs);
    char *text = cx_json_dump(doc, NULL);
    json_decref(doc);
    cx_buf out;
    cx_buf_init(&out, (size_t)64 << 20);
    char *idt = cx_json_dump(ids, NULL);
    json_decref(ids);
    if (text && idt) {
        api__cons_out(&out, text, strlen(text), arrived, overdue);
        cx_buf_printf(&out, ",\"devices\":%s}", idt);
    }
    free(text);
    free(idt);
    api__reply_buf(r, 200, &out);
}

static void h_cons_corridor(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!api__officer(http_principal(r))) {
        api__forbidden(r, "read consignments");
        return;
    }
    store_conn *c = store_reader(t->store);
    int64_t key = 0, arrived = 0;
    bool overdue = false;
    char *corridor = NULL;
    json_t *doc = c ? api__cons_load(c, http_param(r, "id"), &key, &arrived, &overdue, &corridor)
                    : NULL;
    if (!doc) {
        http_reply_error(r, 404, "not_found", "no such consignment", NULL);
        return;
    }
    cx_buf out;
    cx_buf_init(&out, (size_t)256 << 20);
    cx_buf_printf(&out, "{\"type\":\"Feature\",\"properties\":{\"kind\":\"corridor\","
                        "\"consignment\":\"%s\",\"corridor_m\":%.10g},\"geometry\":%s}",
                  json_string_value(json_object_get(doc, "id")),
                  json_number_value(json_object_get(doc, "corridor_m")),
                  corridor ? corridor : "null");
    free(corridor);
    json_decref(doc);
    api__reply_buf(r, 200, &out);
}

/* ---- replay --------------------------------------------------------------------------------- */

typedef struct {
    double *lat, *lon;
    int64_t *ts;
    size_t n, cap;
} api_track;

static bool api__track_push(api_track *tr, int64_t ts, double lat, double lon)
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

/* The path as GeoJSON: a LineString, or a MultiLineString cut where it
 * crosses the antimeridian (RFC 7946, 3.1.9). stride thins long tracks. */
static void api__path_feature(cx_buf *out, const api_track *tr, const char *device,
                              const char *container, size_t stride)
{
    bool cross = false;
    for (size_t i = 1; i < tr->n; i++)
        if (fabs(tr->lon[i] - tr->lon[i - 1]) > 180)
            cross = true;
    cx_buf_printf(out, "{\"type\":\"Feature\",\"geometry\":{\"type\":\"%s\",\"coordinates\":[%s",
                  cross ? "MultiLineString" : "LineString", cross ? "[" : "");
    size_t prev = SIZE_MAX, written = 0;
    bool first = true;
    for (size_t i = 0; i < tr->n; i++) {
        if (i % stride && i + 1 != tr->n)
            continue;
        if (cross && prev != SIZE_MAX && fabs(tr->lon[i] - tr->lon[prev]) > 180) {
            /* end this piece on the meridian and start the next one there */
            double lo0 = tr->lon[prev], lo1 = tr->lon[i];
            double edge = lo0 > 0 ? 180 : -180;
            double lo1u = lo1 + (lo0 > 0 ? 360 : -360);
            double f = (edge - lo0) / (lo1u - lo0);
            double lat = tr->lat[prev] + f * (tr->lat[i] - tr->lat[prev]);
            cx_buf_printf(out, ",[%.7f,%.7f]],[[%.7f,%.7f]", edge, lat, -edge, lat);
            first = false;
        }
        cx_buf_printf(out, "%s[%.7f,%.7f]", first ? "" : ",", tr->lon[i], tr->lat[i]);
        first = false;
        prev = i;
        written++;
    }
    cx_buf_printf(out, "%s]},\"properties\":{\"kind\":\"path\",\"device\":\"%s\",\"container\":",
                  cross ? "]" : "", device);
    if (container)
        cx_buf_printf(out, "\"%s\"", container);
    else
        cx_buf_puts(out, "null");
    char a[32], b[32];
    cx_rfc3339_format(tr->ts[0] * 1000, a);
    cx_rfc3339_format(tr->ts[tr->n - 1] * 1000, b);
    cx_buf_printf(out, ",\"from\":\"%s\",\"to\":\"%s\",\"points\":%zu,\"times\":[", a, b,
                  written);
    written = 0;
    for (size_t i = 0; i < tr->n; i++) {
        if (i % stride && i + 1 != tr->n)
            continue;
        char tm[32];
        cx_rfc3339_format(tr->ts[i] * 1000, tm);
        cx_buf_printf(out, "%s\"%s\"", written++ ? "," : "", tm);
    }
    cx_buf_puts(out, "]}}");
}

/* Stops found in a track: stationary within radius for at least min_s. */
static void api__stop_features(cx_buf *out, const api_track *tr, const char *device, double radius,
                               int64_t min_ms)
{
    size_t a = 0;
    for (size_t i = 1; i <= tr->n; i++) {
        bool moved = i == tr->n ||
                     track_distance_m(tr->lat[a], tr->lon[a], tr->lat[i], tr->lon[i]) > radius;
        if (!moved)
            continue;
        int64_t dur = tr->ts[i - 1] - tr->ts[a];
        if (dur >= min_ms) {
            char f[32], t2[32];
            cx_rfc3339_format(tr->ts[a] * 1000, f);
            cx_rfc3339_format(tr->ts[i - 1] * 1000, t2);
            cx_buf_printf(out, ",{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\","
                               "\"coordinates\":[%.7f,%.7f]},\"properties\":{\"kind\":\"stop\","
                               "\"device\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
                               "\"duration_s\":%lld}}",
                          tr->lon[a], tr->lat[a], device, f, t2, (long long)(dur / 1000));
        }
        a = i;
    }
}

/* One alert of the consignment as a feature of its replay. */
static bool api__alert_feature(void *ctx, const alert_row *a)
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

static void h_cons_track(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!api__officer(http_principal(r))) {
        api__forbidden(r, "replay consignments");
        return;
    }
    int64_t from = 0, to = INT64_MAX / 2, maxp = 20000;
    bool gf, gt;
    if (!api__time_param(r, "from", &from, &gf) || !api__time_param(r, "to", &to, &gt))
        return;
    const char *mp = http_query(r, "max_points");
    if (mp && (!cx_parse_i64(mp, &maxp) || maxp < 2 || maxp > 200000)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/max_points",
                          "must be from 2 to 200000");
        return;
    }
    if (from > to) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/from",
                          "must not be after to");
        return;
    }
    store_conn *c = store_reader(t->store);
    int64_t key = 0, arrived = 0;
    bool overdue = false;
    json_t *doc = c ? api__cons_load(c, http_param(r, "id"), &key, &arrived, &overdue, NULL)
                    : NULL;
    if (!doc) {
        http_reply_error(r, 404, "not_found", "no such consignment", NULL);
        return;
    }
    const char *cid = json_string_value(json_object_get(doc, "id"));
    track_config rules = t->cfg;
    if (json_object_get(doc, "rules"))
        track_config_apply(&rules, json_object_get(doc, "rules"), NULL);
    cx_buf out;
    cx_buf_init(&out, (size_t)512 << 20);
    char *route = cx_json_dump(json_object_get(doc, "route"), NULL);
    cx_buf_printf(&out, "{\"type\":\"FeatureCollection\",\"consignment\":\"%s\",\"features\":["
                        "{\"type\":\"Feature\",\"geometry\":%s,\"properties\":{\"kind\":\"route\","
                        "\"consignment\":\"%s\",\"corridor_m\":%.10g}}",
                  cid, route ? route : "null", cid,
                  json_number_value(json_object_get(doc, "corridor_m")));
    free(route);
    json_t *devs = api__cons_devices(c, doc);
    /* the indexed positions and the journal not yet moved into them */
    sqlite3_stmt *st = store_stmt(c, "SELECT ts, lat, lon FROM track_positions WHERE dev = ?1 "
                                     "AND ts >= ?2 AND ts <= ?3 UNION "
                                     "SELECT ts, lat, lon FROM track_journal WHERE dev = ?1 "
                                     "AND ts >= ?2 AND ts <= ?3 ORDER BY ts");
    size_t i;
    json_t *dv;
    json_array_foreach(devs, i, dv)
    {
        if (!st)
            break;
        api_track tr = {0};
        sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(dv, "key")));
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, to);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (!api__track_push(&tr, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                                 sqlite3_column_double(st, 2)))
                break;
        sqlite3_reset(st);
        if (tr.n) {
            size_t stride = tr.n > (size_t)maxp ? (tr.n + (size_t)maxp - 2) / (size_t)(maxp - 1)
                                                : 1;
            cx_buf_puts(&out, ",");
            api__path_feature(&out, &tr, json_string_value(json_object_get(dv, "id")),
                              json_string_value(json_object_get(dv, "container")), stride);
            api__stop_features(&out, &tr, json_string_value(json_object_get(dv, "id")),
                               rules.stop_radius_m, rules.stop_min_s * 1000);
        }
        free(tr.lat);
        free(tr.lon);
        free(tr.ts);
    }
    json_decref(devs);
    alert_filter af = {.consignment = cid, .from_ms = from, .to_ms = to};
    alert_each(c, &af, api__alert_feature, &out);
    cx_buf_puts(&out, "]}");
    json_decref(doc);
    api__reply_buf(r, 200, &out);
}

/* ---- telemetry ------------------------------------------------------------------------------ */

static void api__dead_entry(track_entry *e, uint8_t src, const track_reject *why,
                            const char *device, const char *payload, size_t plen)
{
    memset(e, 0, sizeof *e);
    e->kind = TRACK_ENT_DEAD;
    e->source = src;
    e->recv_us = cx_now_us();
    e->dead = calloc(1, sizeof *e->dead);
    if (!e->dead)
        return;
    snprintf(e->dead->code, sizeof e->dead->code, "%s", why->code);
    snprintf(e->dead->message, sizeof e->dead->message, "%s", why->message);
    snprintf(e->dead->device, sizeof e->dead->device, "%s", device ? device : "");
    e->dead->payload = track__payload_text(payload, plen);
}

/* Enqueues entries for a waiter and defers the reply until they are durable. */
static void api__ingest(track_service *t, http_req *r, track_waiter *w, track_entry *ents,
                        size_t n)
{
    http_defer(r);
    cx_err e = track__enqueue(t, ents, n, API_ENQUEUE_WAIT_MS, NULL); /* all or none */
    if (e != CX_OK) {
        /* nothing was queued only if the queue stayed full or we are stopping;
         * partial queues cannot happen with one call per request below the cap */
        for (size_t i = 0; i < n; i++)
            if (ents[i].dead) {
                free(ents[i].dead->payload);
                free(ents[i].dead);
            }
        free(w->outcome);
        free(w->code);
        free(w->message);
        free(w);
        if (e == CX_EBUSY) {
            http_reply_header(r, "Retry-After", "1");
            http_reply_error(r, 503, "busy", "the telemetry queue is full; retry", NULL);
        } else {
            http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
        }
        http_resume(r);
    }
}

static void h_telemetry_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!api__officer(who) && who->role != CX_ROLE_DEVICE && who->role != CX_ROLE_CARRIER) {
        api__forbidden(r, "send telemetry");
        return;
    }
    size_t len;
    const char *body = http_body(r, &len);
    json_error_t je;
    /* any JSON text (RFC 8259): a scalar is JSON of the wrong shape, not "not JSON" */
    json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!in || (!json_is_array(in) && !json_is_object(in))) {
        /* the whole body is a dead letter too */
        track_reject why;
        if (!in)
            track__reject(&why, "malformed_json", "not valid JSON: %s (line %d, column %d)",
                          je.text, je.line, je.column);
        else
            track__reject(&why, "not_object", "the body must be a message or an array of them");
        json_decref(in);
        track_waiter *w = track__waiter_new(r, 1, who, false);
        track_entry ent;
        if (!w) {
            http_reply_error(r, 500, "internal", "out of memory", NULL);
            return;
        }
        api__dead_entry(&ent, TRACK_SRC_HTTP, &why, NULL, body, len);
        ent.w = w;
        w->whole_body = true;
        api__ingest(t, r, w, &ent, 1);
        return;
    }
    bool single = json_is_object(in);
    size_t n = single ? 1 : json_array_size(in);
    if (n == 0 || n > API_MAX_ITEMS) {
        json_decref(in);
        http_reply_error1(r, 400, "invalid_batch", "a batch holds 1 to 10000 messages", "",
                          "wrong number of messages");
        return;
    }
    track_entry *ents = calloc(n, sizeof *ents);
    track_waiter *w = ents ? track__waiter_new(r, (uint32_t)n, who, false) : NULL;
    if (!w) {
        free(ents);
        json_decref(in);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    int64_t now = cx_now_us();
    for (size_t i = 0; i < n; i++) {
        const json_t *item = single ? in : json_array_get(in, i);
        char ptr[24] = "";
        if (!single)
            snprintf(ptr, sizeof ptr, "/%zu", i);
        track_reject why;
        track_entry *e = &ents[i];
        if (track_decode_object(item, now / 1000, t->cfg.future_skew_s * 1000, ptr, &e->m, &why) !=
            CX_OK) {
            char *text = cx_json_dump(item, NULL);
            const char *dev = json_string_value(json_object_get(item, "device"));
            api__dead_entry(e, TRACK_SRC_HTTP, &why, dev && track_id_valid(dev) ? dev : NULL,
                            text ? text : "", text ? strlen(text) : 0);
            free(text);
        } else {
            e->kind = TRACK_ENT_MSG;
            e->source = TRACK_SRC_HTTP;
            e->recv_us = now;
        }
        e->w = w;
        e->widx = (uint32_t)i;
    }
    json_decref(in);
    api__ingest(t, r, w, ents, n);
    free(ents);
}

typedef struct {
    track_osmand *o;
    cx_buf *raw;
} osm_kv;

/* Dead letters are shown to officers: they never keep a device's key. */
#define API_KEY_HIDDEN "key=(hidden)"

static bool api__osm_kv(void *ctx, const char *key, const char *value)
{
    osm_kv *kv = ctx;
    track_osmand_param(kv->o, key, value);
    if (kv->raw->len < API_DEAD_PAYLOAD) {
        if (strcmp(key, "key") == 0)
            cx_buf_printf(kv->raw, "%s" API_KEY_HIDDEN, kv->raw->len ? "&" : "");
        else
            cx_buf_printf(kv->raw, "%s%s=%s", kv->raw->len ? "&" : "", key, value);
    }
    return true;
}

/* Is the (form-encoded) name of a pair "key"? */
static bool api__form_key_name(const char *s, size_t n)
{
    char name[8];
    size_t k = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if (k + 1 == sizeof name)
            return false;
        name[k++] = c;
    }
    name[k] = '\0';
    return strcmp(name, "key") == 0;
}

/* Appends a form body to a dead letter's payload, the key's value hidden. */
static void api__raw_form(cx_buf *raw, const char *s, size_t len)
{
    while (len && raw->len < API_DEAD_PAYLOAD) {
        size_t n = 0;
        while (n < len && s[n] != '&')
            n++;
        if (raw->len)
            cx_buf_puts(raw, "&");
        if (api__form_key_name(s, n))
            cx_buf_puts(raw, API_KEY_HIDDEN);
        else
            cx_buf_append(raw, s, n < API_DEAD_PAYLOAD ? n : API_DEAD_PAYLOAD);
        s += n;
        len -= n;
        if (len) {
            s++;
            len--;
        }
    }
}

/* A device's stored /osmand key: CX_OK with it, CX_ENOTFOUND for a device
 * without one or an id that is not registered. */
static cx_err api__okey_get(track_service *t, const char *device, uint8_t out[API_OKEY_LEN])
{
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT osmand_key FROM track_devices WHERE id = ?1")
                         : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == API_OKEY_LEN) {
        memcpy(out, sqlite3_column_blob(st, 0), API_OKEY_LEN);
        e = CX_OK;
    }
    sqlite3_reset(st);
    return e;
}

/* Does given match the stored key? The same hashing is done whether or not
 * the device has a key, and the comparison is constant-time. */
static bool api__okey_matches(const uint8_t stored[API_OKEY_LEN], bool have, const char *given)
{
    static const uint8_t no_salt[API_OKEY_SALT];
    uint8_t h[API_OKEY_HASH];
    api__okey_hash(given, have ? stored : no_salt, h);
    bool same = sodium_memcmp(h, have ? stored + API_OKEY_SALT : h, API_OKEY_HASH) == 0;
    return have && given[0] && same;
}

/* Traccar/OsmAnd. Like Traccar, the registered id is the identity; a device
 * registered with an osmand_key must also send key= (in its server URL).
 * Reports that are not so authenticated may be at most osmand_future_skew_s
 * ahead: one stamped further ahead would make the device's genuine reports
 * "late" and keep its rules blind. A wrong key is answered exactly like an
 * unknown id, so that neither tells which ids exist. */
static void h_osmand(http_req *r, void *ctx)
{
    track_service *t = ctx;
    track_osmand o;
    track_osmand_begin(&o);
    cx_buf raw;
    cx_buf_init(&raw, API_DEAD_PAYLOAD * 2);
    osm_kv kv = {&o, &raw};
    http_query_each(r, api__osm_kv, &kv);
    int64_t now = cx_now_us();
    track_msg m;
    track_reject why;
    cx_err e;
    size_t blen = 0;
    const char *body = http_body(r, &blen);
    const char *ct = http_header(r, "Content-Type");
    /* The body is read when the query string does not name the device (it
     * may still carry the key: clients append their parameters to a server
     * URL that holds it). */
    if (!o.have_id && blen && ct && strstr(ct, "json")) {
        /* Traccar Client 9+: JSON body */
        e = track_osmand_json(body, blen, now / 1000, t->cfg.future_skew_s * 1000, &m, &why);
        cx_buf_reset(&raw); /* the body is the report; the key stays hidden */
        cx_buf_append(&raw, body, blen < API_DEAD_PAYLOAD ? blen : API_DEAD_PAYLOAD);
    } else {
        if (!o.have_id && blen) {
            /* parameters in a form body, as Traccar accepts */
            track_osmand_query(&o, body, blen);
            api__raw_form(&raw, body, blen);
        }
        e = track_osmand_end(&o, now / 1000, t->cfg.future_skew_s * 1000, &m, &why);
    }
    if (e == CX_OK) {
        uint8_t stored[API_OKEY_LEN];
        cx_err ke = api__okey_get(t, m.device, stored);
        if (ke == CX_EDB) {
            cx_buf_free(&raw);
            http_reply_error(r, 503, "unavailable", "database unavailable; retry", NULL);
            return;
        }
        if (!api__okey_matches(stored, ke == CX_OK, o.key)) {
            if (m.ts_ms > now / 1000 + t->cfg.osmand_future_skew_s * 1000) {
                e = CX_EPARSE;
                track__reject(&why, "future_timestamp", "/timestamp: more than %lld s ahead of "
                              "the server clock (the limit without a device key)",
                              (long long)t->cfg.osmand_future_skew_s);
            } else if (ke == CX_OK) {
                e = CX_EPARSE;
                track__reject(&why, "bad_key", "/key: %s", o.key[0]
                              ? "does not match the device's key"
                              : "is required: the device is registered with a key");
            }
        }
    }
    track_waiter *w = track__waiter_new(r, 1, NULL, true);
    if (!w) {
        cx_buf_free(&raw);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    track_entry ent;
    if (e != CX_OK) {
        api__dead_entry(&ent, TRACK_SRC_OSMAND, &why, m.device[0] ? m.device : NULL,
                        raw.data ? raw.data : "", raw.len);
    } else {
        memset(&ent, 0, sizeof ent);
        ent.kind = TRACK_ENT_MSG;
        ent.source = TRACK_SRC_OSMAND;
        ent.m = m;
        ent.recv_us = now;
    }
    cx_buf_free(&raw);
    ent.w = w;
    api__ingest(t, r, w, &ent, 1);
}

/* ---- positions, dead letters, config ---------------------------------------------------------- */

static void h_positions(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!api__tracker_reader(who)) {
        api__forbidden(r, "read positions");
        return;
    }
    size_t n;
    char *s = track__positions_json(t->positions, who, &n);
    if (!s) {
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    http_reply(r, 200, "application/json", s, n);
}

static void h_positions_stream(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!api__tracker_reader(http_principal(r))) {
        api__forbidden(r, "read positions");
        return;
    }
    track__poshub_serve(t, t->positions, r);
}

static void h_dead_letters(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!api__officer(http_principal(r))) {
        api__forbidden(r, "read dead letters");
        return;
    }
    int64_t limit, after;
    if (!api__limit(r, &limit, 100, 1000) || !api__cursor(r, &after))
        return;
    const char *reason = http_query(r, "reason");
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT seq, received_at, source, reason, message, "
                                         "device, payload FROM track_dead_letters WHERE seq > ?1 "
                                         "AND (?3 IS NULL OR reason = ?3) ORDER BY seq LIMIT ?2")
                         : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit + 1);
    if (reason)
        sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    json_t *items = json_array();
    int64_t n = 0, last = 0;
    bool more = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        n++;
        last = sqlite3_column_int64(st, 0);
        char tm[32];
        cx_rfc3339_format(sqlite3_column_int64(st, 1), tm);
        const char *dev = (const char *)sqlite3_column_text(st, 5);
        const char *pl = (const char *)sqlite3_column_text(st, 6);
        json_array_append_new(
            items, json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o}", "seq", (json_int_t)last,
                             "received_at", tm, "source", (const char *)sqlite3_column_text(st, 2),
                             "reason", (const char *)sqlite3_column_text(st, 3), "message",
                             (const char *)sqlite3_column_text(st, 4), "device",
                             dev ? json_string(dev) : json_null(), "payload",
                             pl ? json_string(pl) : json_null()));
    }
    sqlite3_reset(st);
    json_t *res = json_pack("{s:o}", "items", items);
    if (more) {
        char cur[24];
        snprintf(cur, sizeof cur, "%lld", (long long)last);
        json_object_set_new(res, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(res, "next_cursor", json_null());
    }
    http_reply_json(r, 200, res);
}

static void h_config(http_req *r, void *ctx)
{
    track_service *t = ctx;
    /* Not for carriers either: the thresholds tell how long a truck may stop
     * or leave its corridor before anyone is told. */
    if (!api__officer(http_principal(r))) {
        api__forbidden(r, "read the tracking thresholds");
        return;
    }
    http_reply_json(r, 200, track_config_json(&t->cfg));
}

/* ---- metrics ------------------------------------------------------------------------------------- */

static void api__metrics(void *ctx, cx_buf *out)
{
    track_service *t = ctx;
    cx_buf_puts(out, "# HELP customs_track_messages_total Telemetry messages taken by the "
                     "pipeline, by source.\n# TYPE customs_track_messages_total counter\n");
    for (int i = 0; i < TRACK_SRC__COUNT; i++)
        cx_buf_printf(out, "customs_track_messages_total{source=\"%s\"} %llu\n",
                      track_src_names[i], (unsigned long long)atomic_load(&t->m_msgs[i]));
    cx_buf_puts(out, "# HELP customs_track_dead_letters_total Messages refused and kept as "
                     "dead letters, by reason.\n# TYPE customs_track_dead_letters_total counter\n");
    for (int i = 0; i < TRACK_R__COUNT; i++)
        cx_buf_printf(out, "customs_track_dead_letters_total{reason=\"%s\"} %llu\n",
                      track_reason_names[i], (unsigned long long)atomic_load(&t->m_dead[i]));
    cx_buf_puts(out, "# HELP customs_track_alerts_total Alerts raised, by type and severity.\n"
                     "# TYPE customs_track_alerts_total counter\n");
    for (int a = 0; a < TRACK_A__COUNT; a++)
        for (int s = 0; s < TRACK_SEV__COUNT; s++) {
            uint64_t v = atomic_load(&t->m_alerts[a][s]);
            if (v)
                cx_buf_printf(out, "customs_track_alerts_total{type=\"%s\",severity=\"%s\"} %llu\n",
                              track_alert_type_name((track_alert_type)a),
                              track_severity_name((track_severity)s), (unsigned long long)v);
        }
    cx_buf_printf(out,
                  "# HELP customs_track_positions_stored_total Positions committed.\n"
                  "# TYPE customs_track_positions_stored_total counter\n"
                  "customs_track_positions_stored_total %llu\n"
                  "# HELP customs_track_late_total Messages older than the device's last "
                  "(stored, rules skipped).\n# TYPE customs_track_late_total counter\n"
                  "customs_track_late_total %llu\n"
                  "# HELP customs_track_duplicates_total Messages repeating the device's last "
                  "time (QoS 1 redelivery).\n# TYPE customs_track_duplicates_total counter\n"
                  "customs_track_duplicates_total %llu\n"
                  "# HELP customs_track_batches_total Batches committed; failed ones too.\n"
                  "# TYPE customs_track_batches_total counter\n"
                  "customs_track_batches_total %llu\n"
                  "customs_track_batches_failed_total %llu\n"
                  "# HELP customs_track_escalations_total Declarations raised to red by "
                  "critical alerts.\n# TYPE customs_track_escalations_total counter\n"
                  "customs_track_escalations_total %llu\n"
                  "customs_track_escalations_failed_total %llu\n"
                  "# HELP customs_track_queue_high_water Most entries waiting for the engine.\n"
                  "# TYPE customs_track_queue_high_water gauge\n"
                  "customs_track_queue_high_water %lld\n"
                  "# HELP customs_track_sse_clients Open position streams.\n"
                  "# TYPE customs_track_sse_clients gauge\n"
                  "customs_track_sse_clients{stream=\"positions\"} %zu\n",
                  (unsigned long long)atomic_load(&t->m_positions),
                  (unsigned long long)atomic_load(&t->m_late),
                  (unsigned long long)atomic_load(&t->m_dup),
                  (unsigned long long)atomic_load(&t->m_batches),
                  (unsigned long long)atomic_load(&t->m_batch_failed),
                  (unsigned long long)atomic_load(&t->m_escalations),
                  (unsigned long long)atomic_load(&t->m_escalation_failed),
                  (long long)atomic_load(&t->m_queue_hwm), track__poshub_clients(t->positions));
    cx_buf_puts(out, "# HELP customs_track_commit_seconds From the oldest message of a batch "
                     "arriving to the batch being durable.\n"
                     "# TYPE customs_track_commit_seconds histogram\n");
    uint64_t cum = 0;
    for (int k = 0; k < 16; k++) {
        cum += atomic_load(&t->m_lat_hist[k]);
        if (k < 15)
            cx_buf_printf(out, "customs_track_commit_seconds_bucket{le=\"%g\"} %llu\n",
                          (double)(1000LL << k) / 1e6, (unsigned long long)cum);
        else
            cx_buf_printf(out, "customs_track_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
    }
    cx_buf_printf(out, "customs_track_commit_seconds_sum %.6f\n"
                       "customs_track_commit_seconds_count %llu\n",
                  (double)atomic_load(&t->m_lat_sum_us) / 1e6,
                  (unsigned long long)atomic_load(&t->m_lat_count));
    if (t->mqtt)
        track__mqtt_metrics(t->mqtt, out);
}

cx_err track__routes(track_service *t, http_server *srv)
{
    static const struct {
        const char *method, *pattern;
        unsigned flags;
        http_handler fn;
    } routes[] = {
        {"POST", "/v1/devices", HTTP_AUTH | HTTP_JSON, h_devices_post},
        {"GET", "/v1/devices", HTTP_AUTH, h_devices_list},
        {"GET", "/v1/devices/{id}", HTTP_AUTH, h_device_get},
        {"POST", "/v1/zones", HTTP_AUTH | HTTP_JSON, h_zones_post},
        {"GET", "/v1/zones", HTTP_AUTH, h_zones_list},
        {"GET", "/v1/zones/{id}", HTTP_AUTH, h_zone_get},
        {"POST", "/v1/consignments", HTTP_AUTH | HTTP_JSON, h_cons_post},
        {"GET", "/v1/consignments", HTTP_AUTH, h_cons_list},
        {"GET", "/v1/consignments/{id}", HTTP_AUTH, h_cons_get},
        {"GET", "/v1/consignments/{id}/corridor", HTTP_AUTH, h_cons_corridor},
        {"GET", "/v1/consignments/{id}/track", HTTP_AUTH, h_cons_track},
        {"POST", "/v1/telemetry", HTTP_AUTH | HTTP_JSON, h_telemetry_post},
        {"GET", "/v1/telemetry/dead-letters", HTTP_AUTH, h_dead_letters},
        {"GET", "/osmand", 0, h_osmand},
        {"POST", "/osmand", 0, h_osmand},
        {"GET", "/v1/positions", HTTP_AUTH, h_positions},
        {"GET", "/v1/positions/stream", HTTP_AUTH, h_positions_stream},
        {"GET", "/v1/track/config", HTTP_AUTH, h_config},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        cx_err e = http_route(srv, routes[i].method, routes[i].pattern, routes[i].flags,
                              routes[i].fn, t);
        if (e != CX_OK)
            return e;
    }
    http_add_metrics(srv, api__metrics, t);
    return CX_OK;
}
