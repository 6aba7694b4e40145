/* /v1/alerts over HTTP: the list, one alert, the acknowledgement, the
 * stream; metrics. Officers and admins read every alert and acknowledge;
 * carriers read the alerts that name their organisation. */
#include "alert_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALERT_READ_ROLES (CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_CARRIER))
#define ALERT_NOTE_MAX 2000
#define ALERT_ITEM_MAX ((size_t)2 << 20)

static void h_list(http_req *r, void *ctx)
{
    alert_service *a = ctx;
    const cx_principal *who = http_principal(r);
    http_page page;
    int64_t since = 0, until = 0, after = -1;
    if (!http_allow(r, ALERT_READ_ROLES, "read alerts") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, 1000, &page) ||
        !http_query_time(r, "since", &since) || !http_query_time(r, "until", &until) ||
        !http_query_int(r, "after", 0, INT64_MAX, &after))
        return;
    bool gs = http_query(r, "since"), gu = http_query(r, "until");
    /* ?after= is the older name of ?cursor= (both are an alert's seq) */
    if (page.cursor && after >= 0) {
        http_bad_query(r, "after", "give cursor or after, not both");
        return;
    }
    bool from = page.cursor || after >= 0;
    if (after < 0)
        after = page.after;
    static const char *const orders[] = {"asc", "desc", NULL};
    static const char *const acks[] = {"false", "true", NULL};
    int order = 0, acked = -1;
    const char *type = http_query(r, "type"), *sev = http_query(r, "severity"),
               *dev = http_query(r, "device"), *cons = http_query(r, "consignment"),
               *kind = http_query(r, "subject"), *drone = http_query(r, "drone");
    alert_severity sv;
    if (!http_query_enum(r, "order", orders, &order) || !http_query_enum(r, "acked", acks, &acked))
        return;
    if (type && !alert__type_known(a, type)) {
        http_bad_query(r, "type", "must be an alert type");
        return;
    }
    if (sev && !alert_severity_parse(sev, &sv)) {
        http_bad_query(r, "severity", "must be info, warning or critical");
        return;
    }
    if (kind && !alert__kind_known(a, kind)) {
        http_bad_query(r, "subject", "must be a subject kind such as device, drone or ledger");
        return;
    }
    const char *const refs[] = {"device", "consignment", "drone"};
    const char *const vals[] = {dev, cons, drone};
    for (size_t i = 0; i < 3; i++)
        if (vals[i] && (!vals[i][0] || strlen(vals[i]) > ALERT_ID_MAX)) {
            http_bad_query(r, refs[i], "must be an id of 1 to %d bytes", ALERT_ID_MAX);
            return;
        }
    bool desc = order == 1, all = cx_is_officer(who);
    cx_buf sql;
    cx_buf_init(&sql, 4096);
    cx_err e = cx_buf_puts(&sql, "SELECT a.seq, a.doc, a.acked_at, a.acked_by FROM alerts a "
                                 "WHERE 1");
    const struct {
        bool on;
        const char *clause;
    } parts[] = {
        {from, desc ? " AND a.seq < ?1" : " AND a.seq > ?1"},
        {gs, " AND a.time >= ?2"},
        {gu, " AND a.time < ?3"},
        {type, " AND a.type = ?4"},
        {sev, " AND a.severity = ?5"},
        {dev, " AND a.device = ?6"},
        {cons, " AND a.consignment = ?7"},
        {!all, " AND a.seq IN (SELECT seq FROM alert_orgs WHERE org = ?8)"},
        {kind, " AND a.kind = ?10"},
        {drone, " AND a.drone = ?11"},
        {acked == 1, " AND a.acked_at IS NOT NULL"},
        {acked == 0, " AND a.acked_at IS NULL"},
    };
    for (size_t i = 0; e == CX_OK && i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i].on)
            e = cx_buf_puts(&sql, parts[i].clause);
    if (e == CX_OK)
        e = cx_buf_puts(&sql, desc ? " ORDER BY a.seq DESC LIMIT ?9" : " ORDER BY a.seq LIMIT ?9");
    store_conn *c = store_reader(a->store);
    sqlite3_stmt *st = NULL;
    if (e != CX_OK || !c ||
        sqlite3_prepare_v2(store_conn_db(c), sql.data, -1, &st, NULL) != SQLITE_OK) {
        cx_buf_free(&sql);
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    cx_buf_free(&sql);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, since / 1000);
    sqlite3_bind_int64(st, 3, until / 1000);
    const char *texts[] = {type, sev, dev, cons, all ? NULL : who->org};
    for (int i = 0; i < 5; i++)
        if (texts[i])
            sqlite3_bind_text(st, 4 + i, texts[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, page.limit + 1);
    if (kind)
        sqlite3_bind_text(st, 10, kind, -1, SQLITE_STATIC);
    if (drone)
        sqlite3_bind_text(st, 11, drone, -1, SQLITE_STATIC);
    http_pager pg;
    http_pager_init(&pg, page.limit, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        last = sqlite3_column_int64(st, 0);
        /* a failed append is in the buffer already; else the stored doc is damaged */
        if (alert__compose(&pg.out, (const char *)sqlite3_column_text(st, 1),
                           (size_t)sqlite3_column_bytes(st, 1),
                           (const char *)sqlite3_column_text(st, 2),
                           (const char *)sqlite3_column_text(st, 3)) != CX_OK)
            http_pager_fail(&pg, CX_EPARSE);
    }
    sqlite3_finalize(st);
    http_pager_reply_after(&pg, r, last); /* or the page's error */
}

/* Whether who may see alert seq (officers: all; others: alerts naming their org). */
static bool alert__may_see(store_conn *c, const cx_principal *who, int64_t seq)
{
    if (cx_is_officer(who))
        return true;
    sqlite3_stmt *st = store_stmt(c, "SELECT 1 FROM alert_orgs WHERE org = ?1 AND seq = ?2");
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, who->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return ok;
}

static void h_get(http_req *r, void *ctx)
{
    alert_service *a = ctx;
    if (!http_allow(r, ALERT_READ_ROLES, "read alerts"))
        return;
    store_conn *c = store_reader(a->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT seq, doc, acked_at, acked_by FROM alerts "
                                         "WHERE id = ?1")
                         : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the database is not available", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW &&
        alert__may_see(c, http_principal(r), sqlite3_column_int64(st, 0))) {
        cx_buf out;
        cx_buf_init(&out, ALERT_ITEM_MAX);
        cx_err e = alert__compose(&out, (const char *)sqlite3_column_text(st, 1),
                                  (size_t)sqlite3_column_bytes(st, 1),
                                  (const char *)sqlite3_column_text(st, 2),
                                  (const char *)sqlite3_column_text(st, 3));
        sqlite3_reset(st);
        if (e == CX_OK || cx_buf_error(&out) != CX_OK) {
            http_reply_buf(r, 200, "application/json", &out);
        } else { /* a stored document that is not an object */
            cx_buf_free(&out);
            http_reply_error(r, 500, "internal", "the alert is stored damaged", NULL);
        }
        return;
    }
    sqlite3_reset(st);
    http_reply_error(r, 404, "not_found", "no such alert", NULL);
}

typedef struct {
    store_job job;
    alert_service *a;
    http_req *r;
    char id[CX_ID_LEN + 1];
    char by[CX_ORG_MAX + 32];
    char now[32];
    char *note;
    cx_buf out;
    alert_event ev;
    bool found, fresh;
} ack_write;

static cx_err ack__job(store_conn *w, void *arg)
{
    ack_write *aw = arg;
    sqlite3_stmt *st = store_stmt(w, "UPDATE alerts SET acked_at=?2, acked_by=?3, ack_note=?4 "
                                     "WHERE id=?1 AND acked_at IS NULL");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, aw->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, aw->now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, aw->by, -1, SQLITE_STATIC);
    if (aw->note)
        sqlite3_bind_text(st, 4, aw->note, -1, SQLITE_STATIC);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    aw->fresh = sqlite3_changes(store_conn_db(w)) == 1;
    st = store_stmt(w, "SELECT seq, doc, acked_at, acked_by FROM alerts WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, aw->id, -1, SQLITE_STATIC);
    cx_err e = CX_OK; /* a read-back that failed is not "no such alert": the job fails */
    if (store_next(st, &e)) {
        aw->found = true;
        aw->ev.seq = sqlite3_column_int64(st, 0);
        e = alert__compose(&aw->out, (const char *)sqlite3_column_text(st, 1),
                           (size_t)sqlite3_column_bytes(st, 1),
                           (const char *)sqlite3_column_text(st, 2),
                           (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_reset(st);
    if (e == CX_EDB)
        return e;
    sqlite3_stmt *orgs = aw->found ? store_stmt(w, "SELECT org FROM alert_orgs WHERE seq = ?1 "
                                                   "LIMIT 4")
                                   : NULL;
    if (orgs) {
        sqlite3_bind_int64(orgs, 1, aw->ev.seq);
        cx_err oe = CX_OK; /* fewer organisations would hide the update from one */
        for (int i = 0; i < ALERT_MAX_ORGS && store_next(orgs, &oe); i++)
            snprintf(aw->ev.orgs[i], sizeof aw->ev.orgs[i], "%s",
                     (const char *)sqlite3_column_text(orgs, 0));
        sqlite3_reset(orgs);
        if (oe != CX_OK)
            return oe;
    }
    /* an acknowledgement that cannot be shown is not stored either */
    return e == CX_ETOOBIG || e == CX_ENOMEM ? e : CX_OK;
}

static void ack__done(void *arg, cx_err result)
{
    ack_write *aw = arg;
    http_req *r = aw->r;
    if (result != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the acknowledgement could not be stored; retry",
                         NULL);
    } else if (!aw->found) {
        http_reply_error(r, 404, "not_found", "no such alert", NULL);
    } else {
        if (aw->fresh) {
            json_t *ev = json_pack("{s:s,s:s,s:s}", "id", aw->id, "acked_at", aw->now,
                                   "acked_by", aw->by);
            char *text = ev ? cx_json_dump(ev, NULL) : NULL;
            if (text)
                alert__hub_ack(aw->a->hub, &aw->ev, text, strlen(text));
            free(text);
            json_decref(ev);
        }
        http_reply_buf(r, 200, "application/json", &aw->out);
    }
    http_resume(r);
    cx_buf_free(&aw->out);
    free(aw->note);
    free(aw);
}

static void h_ack(http_req *r, void *ctx)
{
    alert_service *a = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow_officer(r, "acknowledge alerts"))
        return;
    char *note = NULL;
    size_t len;
    const char *body = http_body(r, &len);
    if (len) {
        json_error_t je;
        json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!in) {
            char msg[300];
            snprintf(msg, sizeof msg, "%s (line %d, column %d)", je.text, je.line, je.column);
            http_reply_error1(r, 400, "invalid_json", "the body is not valid JSON", "", msg);
            return;
        }
        const json_t *nv = json_object_get(in, "note");
        if (!json_is_object(in) || json_object_size(in) > (nv ? 1u : 0u) ||
            (nv && (!json_is_string(nv) || json_string_length(nv) > ALERT_NOTE_MAX))) {
            json_decref(in);
            http_reply_error1(r, 400, "invalid_ack", "the body may only hold a note", "/note",
                              "must be a string of up to 2000 bytes");
            return;
        }
        if (nv)
            note = strdup(json_string_value(nv));
        json_decref(in);
    }
    ack_write *aw = calloc(1, sizeof *aw);
    if (!aw) {
        free(note);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    aw->a = a;
    aw->r = r;
    aw->note = note;
    snprintf(aw->id, sizeof aw->id, "%s", http_param(r, "id"));
    snprintf(aw->by, sizeof aw->by, "%s/key-%lld", who->org, (long long)who->key_id);
    cx_rfc3339_format(cx_now_us(), aw->now);
    cx_buf_init(&aw->out, ALERT_ITEM_MAX);
    aw->job.fn = ack__job;
    aw->job.done = ack__done;
    aw->job.arg = aw;
    http_defer(r);
    if (store_submit(a->store, &aw->job) != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
        http_resume(r);
        cx_buf_free(&aw->out);
        free(aw->note);
        free(aw);
    }
}

static void h_stream(http_req *r, void *ctx)
{
    if (!http_allow(r, ALERT_READ_ROLES, "read alerts"))
        return;
    alert__hub_serve(ctx, r);
}

static void alert__metrics(void *ctx, cx_buf *out)
{
    alert_service *a = ctx;
    cx_err e = cx_buf_puts(out, "# HELP customs_alerts_total Alerts raised, by type and "
                                "severity.\n# TYPE customs_alerts_total counter\n");
    pthread_mutex_lock(&a->m_mu);
    for (size_t i = 0; e == CX_OK && i < a->m_types.n; i++)
        for (int s = 0; e == CX_OK && s < ALERT_SEV__COUNT; s++)
            if (a->m_counts[i][s])
                e = cx_buf_printf(out, "customs_alerts_total{type=\"%s\",severity=\"%s\"} %llu\n",
                                  cx_map_key(&a->m_types, i),
                                  alert_severity_name((alert_severity)s),
                                  (unsigned long long)a->m_counts[i][s]);
    pthread_mutex_unlock(&a->m_mu);
    if (e == CX_OK)
        e = cx_buf_printf(out, "# HELP customs_alert_sse_clients Open alert streams.\n"
                               "# TYPE customs_alert_sse_clients gauge\n"
                               "customs_alert_sse_clients %zu\n",
                          alert__hub_clients(a->hub));
    (void)e; /* a failed buffer answers for itself */
}

cx_err alert_routes(alert_service *a, http_server *srv)
{
    static const http_route_def routes[] = {
        {"GET", "/v1/alerts", HTTP_AUTH, h_list,
         "limit cursor after since until type severity device consignment subject drone acked "
         "order"},
        {"GET", "/v1/alerts/stream", HTTP_AUTH, h_stream, "after min_severity type subject drone"},
        {"GET", "/v1/alerts/{id}", HTTP_AUTH, h_get, NULL},
        {"POST", "/v1/alerts/{id}/ack", HTTP_AUTH, h_ack, NULL},
    };
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], a);
    if (e == CX_OK)
        http_add_metrics(srv, alert__metrics, a);
    return e;
}
