/* The /v1/drones routes. Roles: observations from admin, officer, or a
 * device key bound to the receiver named; receivers by admin and officer;
 * drones, tracks and the stream for admin and officer only (where drones
 * fly near the border is surveillance data). */
#include "drones_svc.h"

#include "auth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Whether k is in known (NULL-terminated). */
static bool api__known(const char *const *known, const char *k)
{
    size_t i = 0;
    while (known[i] && strcmp(known[i], k) != 0)
        i++;
    return known[i] != NULL;
}

/* Refuses members not in known. */
static void api__unknown(const json_t *o, const char *const *known, const char *prefix,
                         json_t *problems)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!api__known(known, k)) {
            char ptr[128];
            snprintf(ptr, sizeof ptr, "%s", prefix);
            cx_jptr_push(ptr, sizeof ptr, k);
            cx_problem_add(problems, ptr, "unknown member");
        }
    }
}

/* ---- POST /v1/drones/observations ---------------------------------------------------------- */

static void api__ingested(void *ctx, cx_err result, size_t accepted, const char *rejected)
{
    http_req *r = ctx;
    if (result == CX_OK) {
        json_t *rej = json_loads(rejected ? rejected : "[]", 0, NULL);
        http_reply_json(r, 202, json_pack("{s:I,s:o}", "accepted", (json_int_t)accepted,
                                          "rejected", rej ? rej : json_array()));
    } else {
        http_reply_error(r, 503, "unavailable", "the observations could not be stored; retry",
                         NULL);
    }
    http_resume(r);
}

static void h_observations(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_DEVICE), "post drone observations"))
        return;
    json_t *doc = http_body_json(r);
    if (!doc)
        return;
    json_t *problems = json_array();
    http_defer(r);
    cx_err e = drones_service_ingest(d, doc, NULL, who->role == CX_ROLE_DEVICE ? who->key_id : 0,
                                     problems, api__ingested, r);
    json_decref(doc);
    if (e == CX_EINVAL)
        http_reply_error(r, 400, "invalid_observations", "the batch cannot be taken", problems);
    else
        json_decref(problems);
    if (e == CX_EFORBIDDEN)
        http_reply_error1(r, 403, "forbidden", "this device key is not bound to that receiver",
                          "/receiver", "a device key posts for its own receiver only");
    else if (e != CX_OK && e != CX_EINVAL)
        http_reply_error(r, 503, "unavailable", e == CX_ESHUTDOWN ? "the server is shutting down"
                                                                   : "cannot take the batch now",
                         NULL);
    if (e != CX_OK)
        http_resume(r);
}

/* ---- receivers ---------------------------------------------------------------------------------- */

typedef struct {
    const char *id, *name;
    double lat, lon;
    int64_t key_id;
    char created[32];
} rx_new;

static cx_err api__rx_job(store_conn *w, void *arg)
{
    rx_new *x = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO drones_receivers(id, name, lat, lon, key_id,"
                                     " created_at) VALUES(?1,?2,?3,?4,?5,?6)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, x->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, x->lat);
    sqlite3_bind_double(st, 4, x->lon);
    if (x->key_id)
        sqlite3_bind_int64(st, 5, x->key_id);
    sqlite3_bind_text(st, 6, x->created, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : (rc & 0xff) == SQLITE_CONSTRAINT ? CX_EEXIST : CX_EDB;
}

static json_t *api__rx_json(const char *id, const char *name, double lat, double lon,
                            int64_t key_id, const char *created)
{
    return json_pack("{s:s,s:s,s:f,s:f,s:o,s:s}", "id", id, "name", name, "lat", lat, "lon",
                     lon, "key_id", key_id ? json_integer(key_id) : json_null(), "created_at",
                     created);
}

static void h_receivers_post(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    if (!http_allow_officer(r, "read or manage drone data"))
        return;
    json_t *doc = http_body_json(r);
    if (!doc)
        return;
    static const char *const known[] = {"id", "name", "lat", "lon", "key_id", NULL};
    json_t *problems = json_array();
    rx_new x = {0};
    if (!json_is_object(doc)) {
        cx_problem_add(problems, "", "a receiver is a JSON object");
    } else {
        api__unknown(doc, known, "", problems);
        x.id = json_string_value(json_object_get(doc, "id"));
        if (!drones_receiver_id_valid(x.id))
            cx_problem_add(problems, "/id", "required, 1 to 64 of A-Z a-z 0-9 . _ : -");
        x.name = json_string_value(json_object_get(doc, "name"));
        size_t cp;
        if (!x.name || !cx_utf8_count(x.name, strlen(x.name), &cp) || cp < 1 || cp > 200)
            cx_problem_add(problems, "/name", "required, 1 to 200 characters");
        json_t *la = json_object_get(doc, "lat"), *lo = json_object_get(doc, "lon");
        x.lat = json_number_value(la);
        x.lon = json_number_value(lo);
        if (!json_is_number(la) || !(x.lat >= -90 && x.lat <= 90))
            cx_problem_add(problems, "/lat", "required, degrees from -90 to 90");
        if (!json_is_number(lo) || !(x.lon >= -180 && x.lon <= 180))
            cx_problem_add(problems, "/lon", "required, degrees from -180 to 180");
        json_t *kid = json_object_get(doc, "key_id");
        if (kid && !json_is_null(kid)) {
            cx_principal k;
            cx_err e = CX_ENOTFOUND;
            if (json_is_integer(kid) && json_integer_value(kid) > 0)
                e = auth_key_get(d->store, (int64_t)json_integer_value(kid), &k);
            if (e != CX_OK || k.role != CX_ROLE_DEVICE)
                cx_problem_add(problems, "/key_id", "the id of a key of role device that is "
                                                    "not revoked (customs keys list)");
            else
                x.key_id = (int64_t)json_integer_value(kid);
        }
    }
    if (json_array_size(problems)) {
        http_reply_error(r, 400, "invalid_receiver", "the receiver has problems", problems);
        json_decref(doc);
        return;
    }
    json_decref(problems);
    cx_rfc3339_format(cx_now_us(), x.created);
    cx_err e = store_write(d->store, api__rx_job, &x);
    if (e == CX_EEXIST)
        http_reply_error1(r, 409, "duplicate_receiver", "a receiver with that id, or bound to that key, "
                          "exists", "/id", "already registered");
    else if (e)
        http_reply_error(r, 503, "unavailable", "the receiver could not be stored; retry", NULL);
    else
        http_reply_json(r, 201, api__rx_json(x.id, x.name, x.lat, x.lon, x.key_id, x.created));
    json_decref(doc);
}

static void h_receivers_get(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    if (!http_allow_officer(r, "read or manage drone data"))
        return;
    sqlite3_stmt *st = store_stmt(store_reader(d->store),
                                  "SELECT id, name, lat, lon, key_id, created_at FROM"
                                  " drones_receivers ORDER BY id LIMIT 10000");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
        return;
    }
    json_t *items = json_array();
    cx_err e = CX_OK;
    while (store_next(st, &e))
        cx_json_push(items, api__rx_json((const char *)sqlite3_column_text(st, 0),
                                         (const char *)sqlite3_column_text(st, 1),
                                         sqlite3_column_double(st, 2),
                                         sqlite3_column_double(st, 3),
                                         sqlite3_column_int64(st, 4),
                                         (const char *)sqlite3_column_text(st, 5)), &e);
    sqlite3_reset(st);
    if (e) {
        json_decref(items);
        http_reply_failed(r, e);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* ---- drones ------------------------------------------------------------------------------------- */

#define DRONE_COLS                                                                          \
    "idx, uas_id, id_type, ua_type, first_seen, last_seen, pos_time, lat, lon, alt_geo,"    \
    " height, speed_h, speed_v, direction, op_time, op_lat, op_lon, operator_id, self_id,"  \
    " registered, auth, has_uas"

static json_t *api__time(int64_t us)
{
    if (!us)
        return json_null();
    char t[32];
    cx_rfc3339_format(us, t);
    return json_string(t);
}

static json_t *api__col_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null()
                                                     : json_integer(sqlite3_column_int64(st, i));
}

static json_t *api__col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? json_string((const char *)t) : json_null();
}

/* A statement of the drone's nested lists, bound to it; NULL with *e set
 * to CX_EDB when it would not prepare (an empty list is not the answer). */
static sqlite3_stmt *api__of_drone(store_conn *c, const char *sql, int64_t drone, cx_err *e)
{
    sqlite3_stmt *st = store_stmt(c, sql);
    if (st)
        sqlite3_bind_int64(st, 1, drone);
    else if (*e == CX_OK)
        *e = CX_EDB;
    return st;
}

static json_t *api__receivers_of(store_conn *c, int64_t drone, cx_err *e)
{
    json_t *a = json_array();
    sqlite3_stmt *st = api__of_drone(c, "SELECT receiver FROM drones_heard WHERE drone = ?1"
                                        " ORDER BY receiver LIMIT 100", drone, e);
    while (st && store_next(st, e))
        cx_json_push(a, json_string((const char *)sqlite3_column_text(st, 0)), e);
    if (st)
        sqlite3_reset(st);
    return a;
}

/* o, or NULL (o released) when *e says a nested list is short. */
static json_t *api__whole(json_t *o, cx_err e)
{
    if (e == CX_OK)
        return o;
    json_decref(o);
    return NULL;
}

/* The drone of st's row with its nested lists read whole; or NULL and *e
 * says why not (CX_EDB a read that failed, CX_ENOMEM an item that would not
 * build): the caller fails its reply with *e instead of sending a short list. */
static json_t *api__drone_item(store_conn *c, sqlite3_stmt *st, bool full, cx_err *e)
{
    int64_t idx = sqlite3_column_int64(st, 0);
    json_t *o = json_object();
    json_object_set_new(o, "uas_id", api__col_text(st, 1));
    json_object_set_new(o, "id_type", api__col_int(st, 2));
    json_object_set_new(o, "ua_type", api__col_int(st, 3));
    json_object_set_new(o, "first_seen", api__time(sqlite3_column_int64(st, 4)));
    json_object_set_new(o, "last_seen", api__time(sqlite3_column_int64(st, 5)));
    json_object_set_new(o, "lat", drones__num(drones__col_real(st, 7)));
    json_object_set_new(o, "lon", drones__num(drones__col_real(st, 8)));
    json_object_set_new(o, "height_m", drones__num(drones__col_real(st, 10)));
    json_object_set_new(o, "speed_h_mps", drones__num(drones__col_real(st, 11)));
    json_object_set_new(o, "direction_deg", drones__num(drones__col_real(st, 13)));
    json_object_set_new(o, "operator_lat", drones__num(drones__col_real(st, 15)));
    json_object_set_new(o, "operator_lon", drones__num(drones__col_real(st, 16)));
    json_object_set_new(o, "operator_id", api__col_text(st, 17));
    json_object_set_new(o, "registered", sqlite3_column_type(st, 19) == SQLITE_NULL
                                             ? json_null()
                                             : json_boolean(sqlite3_column_int(st, 19)));
    json_object_set_new(o, "receivers", api__receivers_of(c, idx, e));
    if (!full)
        return api__whole(o, *e);
    json_object_set_new(o, "has_uas_id", json_boolean(sqlite3_column_int(st, 21)));
    json_object_set_new(o, "position_time", api__time(sqlite3_column_int64(st, 6)));
    json_object_set_new(o, "alt_geo_m", drones__num(drones__col_real(st, 9)));
    json_object_set_new(o, "speed_v_mps", drones__num(drones__col_real(st, 12)));
    json_object_set_new(o, "operator_time", api__time(sqlite3_column_int64(st, 14)));
    json_object_set_new(o, "self_id", api__col_text(st, 18));
    const unsigned char *auth = sqlite3_column_text(st, 20);
    json_t *a = auth ? json_loads((const char *)auth, 0, NULL) : NULL;
    if (a) {
        int64_t ts = json_integer_value(json_object_get(a, "timestamp"));
        json_object_set_new(a, "timestamp", ts ? api__time(ts * 1000000) : json_null());
    }
    json_object_set_new(o, "authentication", a ? a : json_null());
    json_t *aliases = json_array(), *macs = json_array();
    sqlite3_stmt *q = api__of_drone(c, "SELECT uas_id FROM drones_aliases WHERE drone = ?1"
                                       " ORDER BY uas_id LIMIT 100", idx, e);
    while (q && store_next(q, e))
        cx_json_push(aliases, json_string((const char *)sqlite3_column_text(q, 0)), e);
    if (q)
        sqlite3_reset(q);
    q = api__of_drone(c, "SELECT transport, mac FROM drones_macs WHERE drone = ?1 LIMIT 100",
                      idx, e);
    while (q && store_next(q, e)) {
        char mac[18] = "";
        if (sqlite3_column_bytes(q, 1) == 6)
            drones_mac_format(sqlite3_column_blob(q, 1), mac);
        cx_json_push(macs, json_pack("{s:s,s:s}", "transport",
                                     drones_transport_name((drones_transport)sqlite3_column_int(q, 0)),
                                     "mac", mac), e);
    }
    if (q)
        sqlite3_reset(q);
    json_object_set_new(o, "uas_ids", aliases);
    json_object_set_new(o, "broadcasters", macs);
    return api__whole(o, *e);
}

/* The list's cursor: the previous page's last drone, its last_seen (µs) and
 * idx, each sealed (http_cursor_seal, like every list's: opaque, no volume
 * or time told) and joined by a dot. */
static bool api__list_cursor(const char *v, int64_t *t, int64_t *idx)
{
    const char *dot = v ? strchr(v, '.') : NULL;
    char a[HTTP_CURSOR_MAX];
    if (!dot || (size_t)(dot - v) >= sizeof a)
        return false;
    memcpy(a, v, (size_t)(dot - v));
    a[dot - v] = '\0';
    return http_cursor_open(a, t) && http_cursor_open(dot + 1, idx) && *t > 0 && *idx > 0;
}

static void api__list_cursor_seal(int64_t t, int64_t idx, char out[2 * HTTP_CURSOR_MAX])
{
    http_cursor_seal(t, out);
    size_t n = strlen(out);
    out[n] = '.';
    http_cursor_seal(idx, out + n + 1);
}

static void h_drones_list(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    if (!http_allow_officer(r, "list drones"))
        return;
    http_page page;
    bool reg = false;
    int64_t cur_t = INT64_MAX, cur_idx = INT64_MAX;
    if (!http_page_parse(r, HTTP_CURSOR_TEXT, 100, 1000, &page) ||
        !http_query_bool(r, "registered", &reg))
        return;
    if (page.cursor && !api__list_cursor(page.cursor, &cur_t, &cur_idx)) {
        http_page_bad_cursor(r);
        return;
    }
    store_conn *c = store_reader(d->store);
    sqlite3_stmt *st = store_stmt(c, "SELECT " DRONE_COLS " FROM drones_drones"
                                     " WHERE (last_seen < ?1 OR (last_seen = ?1 AND idx < ?2))"
                                     " AND (?3 < 0 OR registered = ?3)"
                                     " ORDER BY last_seen DESC, idx DESC LIMIT ?4");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "database unavailable", NULL);
        return;
    }
    sqlite3_bind_int64(st, 1, cur_t);
    sqlite3_bind_int64(st, 2, cur_idx);
    sqlite3_bind_int(st, 3, http_query(r, "registered") ? reg : -1);
    sqlite3_bind_int64(st, 4, page.limit + 1);
    http_pager pg;
    http_pager_init(&pg, page.limit, HTTP_PAGE_BUDGET);
    int64_t last_t = 0, last_idx = 0;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        cx_err e = CX_OK;
        json_t *o = api__drone_item(c, st, false, &e);
        http_pager_fail(&pg, e); /* a nested list could not be read whole: o is NULL */
        http_pager_json_new(&pg, o);
        last_t = sqlite3_column_int64(st, 5);
        last_idx = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    char cur[2 * HTTP_CURSOR_MAX];
    api__list_cursor_seal(last_t, last_idx, cur);
    http_pager_reply(&pg, r, cur); /* or the page's error */
    http_pager_free(&pg);
}

/* The drone's row by its name or one of its UAS IDs; st is stepped. NULL
 * when there is none, or with *e set when it could not be read. */
static sqlite3_stmt *api__find(store_conn *c, const char *id, cx_err *e)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT " DRONE_COLS " FROM drones_drones WHERE"
                                     " uas_id = ?1 OR idx = (SELECT drone FROM drones_aliases"
                                     " WHERE uas_id = ?1)");
    if (!st) {
        *e = CX_EDB;
        return NULL;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (!store_next(st, e)) {
        sqlite3_reset(st);
        return NULL;
    }
    return st;
}

/* The drone the path names, or a 404 (NULL); a read that failed is not a
 * 404 but a 503 (retry). */
static sqlite3_stmt *api__find_or_404(http_req *r, store_conn *c)
{
    cx_err e = CX_OK;
    sqlite3_stmt *st = api__find(c, http_param(r, "uas_id"), &e);
    if (e != CX_OK)
        http_reply_failed(r, e);
    else if (!st)
        http_reply_error1(r, 404, "not_found", "no such drone", "/uas_id",
                          "no drone was heard with this UAS ID or name");
    return st;
}

static void h_drone_get(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    if (!http_allow_officer(r, "read or manage drone data"))
        return;
    store_conn *c = store_reader(d->store);
    sqlite3_stmt *st = api__find_or_404(r, c);
    if (!st)
        return;
    cx_err e = CX_OK;
    json_t *o = api__drone_item(c, st, true, &e);
    sqlite3_reset(st);
    if (!o) {
        http_reply_failed(r, e);
        return;
    }
    http_reply_json(r, 200, o);
}

typedef struct {
    int64_t from, to, max;
} track_q;

typedef struct {
    json_t *coords, *times, *heights;
} flight_acc;

static void api__flight_add(void *ctx, const drones_pt *p)
{
    flight_acc *a = ctx;
    json_t *xy = json_array();
    json_array_append_new(xy, json_real(p->lon));
    json_array_append_new(xy, json_real(p->lat));
    json_array_append_new(a->coords, xy);
    json_array_append_new(a->times, api__time(p->time));
    json_array_append_new(a->heights, drones__num(p->h));
}

static const drones_series_sql api__positions = {
    "SELECT count(*) FROM (SELECT 1 FROM drones_positions WHERE drone = ?1"
    " AND time BETWEEN ?2 AND ?3 LIMIT ?4)",
    "SELECT time, lat, lon, height FROM drones_positions WHERE drone = ?1"
    " AND time BETWEEN ?2 AND ?3 ORDER BY time LIMIT ?4",
    "SELECT time, lat, lon, height FROM drones_positions WHERE drone = ?1"
    " AND time BETWEEN ?2 AND ?3 ORDER BY time DESC LIMIT ?4",
    true,
};

static const drones_series_sql api__pilots = {
    "SELECT count(*) FROM (SELECT 1 FROM drones_pilots WHERE drone = ?1"
    " AND time BETWEEN ?2 AND ?3 LIMIT ?4)",
    "SELECT time, lat, lon, NULL FROM drones_pilots WHERE drone = ?1"
    " AND time BETWEEN ?2 AND ?3 ORDER BY time LIMIT ?4",
    "SELECT time, lat, lon, NULL FROM drones_pilots WHERE drone = ?1"
    " AND time BETWEEN ?2 AND ?3 ORDER BY time DESC LIMIT ?4",
    false,
};

static void api__pilot_add(void *ctx, const drones_pt *p)
{
    json_array_append_new(
        ctx, json_pack("{s:s,s:{s:s,s:o},s:{s:s,s:[f,f]}}", "type", "Feature", "properties",
                       "kind", "pilot", "time", api__time(p->time), "geometry", "type", "Point",
                       "coordinates", p->lon, p->lat));
}

/* The drone's alerts in the window, read up to what the reply shows. */
typedef struct {
    json_t *points;
    int64_t read, max; /* alerts read, of at most max */
    bool more;         /* the window has alerts past max: the reply says so */
} alert_acc;

static bool api__alert_row_placed(void *ctx, const alert_row *row)
{
    alert_acc *acc = ctx;
    if (acc->read == acc->max) {
        acc->more = true;
        return false;
    }
    acc->read++;
    if (!isfinite(row->lat) || !isfinite(row->lon))
        return true;
    json_t *alert = json_loadb(row->json, row->len, 0, NULL);
    if (!alert)
        return true;
    json_t *props = json_pack("{s:s,s:O,s:O,s:O,s:O,s:O}", "kind", "alert", "id",
                              json_object_get(alert, "id"), "type", json_object_get(alert, "type"),
                              "severity", json_object_get(alert, "severity"), "time",
                              json_object_get(alert, "time"), "detail",
                              json_object_get(alert, "detail"));
    json_array_append_new(acc->points,
                          json_pack("{s:s,s:o,s:{s:s,s:[f,f]}}", "type", "Feature", "properties",
                                    props, "geometry", "type", "Point", "coordinates", row->lon,
                                    row->lat));
    json_decref(alert);
    return true;
}

/* The drone's alerts with a place, as Points (the alerting door's rows): the
 * window's newest max_points alerts, newest first (what an officer looks
 * for), so the work is bounded by the request as the positions' is; *more
 * when the window has older alerts (a narrower from/to shows them). False
 * when the read failed. */
static bool api__alert_points(drones_service *d, store_conn *c, const char *name,
                              const track_q *q, json_t *features, bool *more)
{
    *more = false;
    if (!d->alerts || (q->to != INT64_MAX && q->to < 1000))
        return true; /* a window ending before 1 ms holds no alert; to_ms 0 would mean none */
    alert_filter f = {.drone = name,
                      .from_ms = q->from == INT64_MIN ? 0 : q->from / 1000,
                      .to_ms = q->to == INT64_MAX ? 0 : q->to / 1000,
                      .newest_first = true};
    alert_acc acc = {json_array(), 0, q->max, false};
    bool ok = alert_each(c, &f, api__alert_row_placed, &acc) == CX_OK;
    if (ok) {
        json_array_extend(features, acc.points);
        *more = acc.more;
    }
    json_decref(acc.points);
    return ok;
}

/* The track's features, or NULL with the answer (404, 500) sent. */
static json_t *api__track(drones_service *d, http_req *r, store_conn *c, const track_q *q,
                          bool *alerts_more)
{
    sqlite3_stmt *st = api__find_or_404(r, c);
    if (!st)
        return NULL;
    int64_t idx = sqlite3_column_int64(st, 0);
    char name[DRONES_ID_MAX];
    snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    json_t *features = json_array();
    flight_acc a = {json_array(), json_array(), json_array()};
    /* a read cut short is never sent as a whole track */
    bool whole = drones__series(c, &api__positions, idx, q->from, q->to, q->max,
                                api__flight_add, &a);
    size_t np = json_array_size(a.coords);
    if (np) {
        json_t *geom = np == 1 ? json_pack("{s:s,s:O}", "type", "Point", "coordinates",
                                           json_array_get(a.coords, 0))
                               : json_pack("{s:s,s:O}", "type", "LineString", "coordinates",
                                           a.coords);
        json_array_append_new(features,
                              json_pack("{s:s,s:{s:s,s:s,s:I,s:O,s:O},s:o}", "type", "Feature",
                                        "properties", "kind", "flight", "uas_id", name,
                                        "points", (json_int_t)np, "times", a.times, "heights_m",
                                        a.heights, "geometry", geom));
    }
    json_decref(a.coords);
    json_decref(a.times);
    json_decref(a.heights);
    whole = whole && drones__series(c, &api__pilots, idx, q->from, q->to, q->max,
                                    api__pilot_add, features);
    whole = whole && api__alert_points(d, c, name, q, features, alerts_more);
    if (!whole) {
        json_decref(features);
        http_reply_error(r, 500, "internal", "the track could not be read whole; retrying is safe",
                         NULL);
        return NULL;
    }
    return features;
}

static void h_drone_track(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    if (!http_allow_officer(r, "read or manage drone data"))
        return;
    track_q q = {.from = INT64_MIN, .to = INT64_MAX, .max = 5000};
    if (!http_query_time(r, "from", &q.from) || !http_query_time(r, "to", &q.to) ||
        !http_query_int(r, "max_points", 2, 20000, &q.max))
        return;
    store_conn *c = store_reader(d->store);
    /* one read transaction: one snapshot (a fold chunk committing between
     * two reads can neither hide nor double a row) and one acquisition of
     * SQLite's locks instead of one per statement */
    bool txn = sqlite3_get_autocommit(store_conn_db(c)) && store_exec(c, "BEGIN") == CX_OK;
    bool alerts_more = false;
    json_t *features = api__track(d, r, c, &q, &alerts_more);
    if (txn)
        store_exec(c, "COMMIT");
    if (features)
        http_reply_json(r, 200, json_pack("{s:s,s:o,s:b}", "type", "FeatureCollection",
                                          "features", features, "alerts_truncated",
                                          alerts_more));
}

static void h_stream(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    if (http_allow_officer(r, "follow drones"))
        drones__hub_serve(d->hub, r);
}

static void h_config(http_req *r, void *ctx)
{
    drones_service *d = ctx;
    if (!http_allow_officer(r, "read or manage drone data"))
        return;
    http_reply_json(r, 200, drones_config_json(&d->cfg));
}

static void api__metrics(void *ctx, cx_buf *out)
{
    drones_service *d = ctx;
    pthread_mutex_lock(&d->mu);
    unsigned long long obs = d->obs_total, rej = d->rejected_total;
    unsigned long long al = atomic_load(&d->alerts_total);
    size_t drones = drones_engine_drone_count(d->engine);
    pthread_mutex_unlock(&d->mu);
    long long folds = -1; /* few rows: each waits a short while */
    sqlite3_stmt *fs = store_stmt(store_reader(d->store), "SELECT count(*) FROM drones_folds");
    if (fs && sqlite3_step(fs) == SQLITE_ROW)
        folds = sqlite3_column_int64(fs, 0);
    if (fs)
        sqlite3_reset(fs);
    cx_err e = cx_buf_printf(out,
                  "# HELP customs_drones_observations_total Remote ID observations accepted.\n"
                  "# TYPE customs_drones_observations_total counter\n"
                  "customs_drones_observations_total %llu\n"
                  "# HELP customs_drones_rejected_total Observations refused.\n"
                  "# TYPE customs_drones_rejected_total counter\n"
                  "customs_drones_rejected_total %llu\n"
                  "# HELP customs_drones_alerts_total Drone alerts raised.\n"
                  "# TYPE customs_drones_alerts_total counter\n"
                  "customs_drones_alerts_total %llu\n"
                  "# HELP customs_drones_known Drones the engine knows.\n"
                  "# TYPE customs_drones_known gauge\n"
                  "customs_drones_known %zu\n"
                  "# HELP customs_drones_folds_waiting Folded drones whose rows still move.\n"
                  "# TYPE customs_drones_folds_waiting gauge\n"
                  "customs_drones_folds_waiting %lld\n"
                  "# HELP customs_drones_fold_jobs_total Writer jobs that moved folded rows "
                  "(each at most 1000 rows a table).\n"
                  "# TYPE customs_drones_fold_jobs_total counter\n"
                  "customs_drones_fold_jobs_total %llu\n",
                  obs, rej, al, drones, folds,
                  (unsigned long long)atomic_load(&d->fold_jobs));
    (void)e; /* a failed buffer answers for itself */
}

cx_err drones_routes(drones_service *d, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/drones/observations", HTTP_AUTH | HTTP_JSON, h_observations, NULL},
        {"POST", "/v1/drones/receivers", HTTP_AUTH | HTTP_JSON, h_receivers_post, NULL},
        {"GET", "/v1/drones/receivers", HTTP_AUTH, h_receivers_get, NULL},
        {"GET", "/v1/drones/stream", HTTP_AUTH, h_stream, NULL},
        {"GET", "/v1/drones/config", HTTP_AUTH, h_config, NULL},
        {"GET", "/v1/drones", HTTP_AUTH, h_drones_list, "limit cursor registered"},
        {"GET", "/v1/drones/{uas_id}/track", HTTP_AUTH, h_drone_track, "from to max_points"},
        {"GET", "/v1/drones/{uas_id}", HTTP_AUTH, h_drone_get, NULL},
    };
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], d);
    if (!e)
        http_add_metrics(srv, api__metrics, d);
    return e;
}
