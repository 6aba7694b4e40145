/* The alert service: schema, the registry of kinds and types, raising inside
 * another module's writer job, publication after the commit, reads for other
 * modules. */
#include "alert_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const store_migration alert_migrations[] = {
    {1, "CREATE TABLE alerts("
        " seq INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " kind TEXT NOT NULL,"      /* subject kind */
        " subject TEXT NOT NULL,"   /* subject id */
        " type TEXT NOT NULL,"
        " severity TEXT NOT NULL,"
        " time INTEGER NOT NULL,"   /* event time, ms */
        " device TEXT, consignment TEXT, drone TEXT,"
        " doc TEXT NOT NULL,"
        " created INTEGER NOT NULL," /* µs */
        " acked_at TEXT, acked_by TEXT, ack_note TEXT);"
        "CREATE INDEX alerts_time ON alerts(time);"
        "CREATE INDEX alerts_subject ON alerts(kind, subject, seq);"
        "CREATE INDEX alerts_device ON alerts(device, seq) WHERE device IS NOT NULL;"
        "CREATE INDEX alerts_consignment ON alerts(consignment, time)"
        " WHERE consignment IS NOT NULL;"
        "CREATE INDEX alerts_drone ON alerts(drone, seq) WHERE drone IS NOT NULL;"
        /* who besides officers and admins may see an alert */
        "CREATE TABLE alert_orgs("
        " org TEXT NOT NULL,"
        " seq INTEGER NOT NULL REFERENCES alerts(seq),"
        " PRIMARY KEY(org, seq)) WITHOUT ROWID;"},
    /* who may see one alert: read for every alert shown or streamed (the
     * primary key starts with org, so this read the whole table) */
    {2, "CREATE INDEX alert_orgs_seq ON alert_orgs(seq);"},
    /* alert_each's windows by drone and by device, read in event-time order
     * (the rowid, seq, is each index's last column): the (…, seq) indexes
     * walked every alert the subject ever had to find a window's few */
    {3, "CREATE INDEX alerts_drone_time ON alerts(drone, time) WHERE drone IS NOT NULL;"
        "CREATE INDEX alerts_device_time ON alerts(device, time) WHERE device IS NOT NULL;"},
};

cx_err alert_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "alert", alert_migrations,
                         sizeof alert_migrations / sizeof alert_migrations[0], err, errlen);
}

static const char *const sev_names[ALERT_SEV__COUNT] = {"info", "warning", "critical"};

const char *alert_severity_name(alert_severity s)
{
    return (unsigned)s < ALERT_SEV__COUNT ? sev_names[s] : "info";
}

bool alert_severity_parse(const char *s, alert_severity *out)
{
    for (int i = 0; s && i < ALERT_SEV__COUNT; i++)
        if (strcmp(s, sev_names[i]) == 0) {
            *out = (alert_severity)i;
            return true;
        }
    return false;
}

/* ---- the registry ------------------------------------------------------------------ */

bool alert__name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > ALERT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static bool alert__in(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

bool alert__kind_known(alert_service *a, const char *kind)
{
    pthread_mutex_lock(&a->reg_mu);
    bool ok = alert__in(a->kinds, a->nkinds, kind);
    pthread_mutex_unlock(&a->reg_mu);
    return ok;
}

bool alert__type_known(alert_service *a, const char *type)
{
    pthread_mutex_lock(&a->reg_mu);
    bool ok = alert__in(a->types, a->ntypes, type);
    pthread_mutex_unlock(&a->reg_mu);
    return ok;
}

static cx_err alert__add_names(char **list, size_t *n, const char *const *names)
{
    for (size_t i = 0; names && names[i]; i++) {
        if (!alert__name_valid(names[i]))
            return CX_EINVAL;
        if (alert__in(list, *n, names[i]))
            continue;
        if (*n == ALERT_MAX_NAMES)
            return CX_ETOOBIG;
        if (!(list[*n] = strdup(names[i])))
            return CX_ENOMEM;
        (*n)++;
    }
    return CX_OK;
}

cx_err alert_register(alert_service *a, const char *const *kinds, const char *const *types)
{
    pthread_mutex_lock(&a->reg_mu);
    cx_err e = alert__add_names(a->kinds, &a->nkinds, kinds);
    if (e == CX_OK)
        e = alert__add_names(a->types, &a->ntypes, types);
    pthread_mutex_unlock(&a->reg_mu);
    return e;
}

/* ---- raising ------------------------------------------------------------------------- */

static bool alert__ref_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= ALERT_ID_MAX && cx_utf8_count(s, n, NULL);
}

static bool alert__check(alert_service *a, const alert_new *n)
{
    if (!alert__type_known(a, n->type) || !alert__kind_known(a, n->subject_kind) ||
        (unsigned)n->severity >= ALERT_SEV__COUNT || !alert__ref_valid(n->subject_id))
        return false;
    const char *refs[] = {n->device, n->container, n->consignment, n->drone};
    for (size_t i = 0; i < 4; i++)
        if (refs[i] && !alert__ref_valid(refs[i]))
            return false;
    if (isfinite(n->lat) != isfinite(n->lon) ||
        (isfinite(n->lat) && (fabs(n->lat) > 90 || fabs(n->lon) > 180)))
        return false;
    if ((n->declarations && !json_is_array(n->declarations)) ||
        (n->detail && !json_is_object(n->detail)))
        return false;
    for (size_t i = 0; i < ALERT_MAX_ORGS; i++)
        if (n->orgs[i] && !cx_org_valid(n->orgs[i]))
            return false;
    return true;
}

static json_t *alert__str(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The stored document: every member but the acknowledgement's. */
static char *alert__doc(const alert_new *n, int64_t seq, const char *id, int64_t created_us)
{
    char tm[32], created[32];
    cx_rfc3339_format(n->time_ms * 1000, tm);
    cx_rfc3339_format(created_us, created);
    json_t *doc = json_object();
    json_object_set_new(doc, "id", json_string(id));
    json_object_set_new(doc, "seq", json_integer(seq));
    json_object_set_new(doc, "type", json_string(n->type));
    json_object_set_new(doc, "severity", json_string(alert_severity_name(n->severity)));
    json_object_set_new(doc, "time", json_string(tm));
    json_object_set_new(doc, "created_at", json_string(created));
    json_object_set_new(doc, "device", alert__str(n->device));
    json_object_set_new(doc, "container", alert__str(n->container));
    json_object_set_new(doc, "consignment", alert__str(n->consignment));
    json_object_set_new(doc, "declarations",
                        n->declarations ? json_deep_copy(n->declarations) : json_array());
    json_object_set_new(doc, "lat", isfinite(n->lat) ? json_real(n->lat) : json_null());
    json_object_set_new(doc, "lon", isfinite(n->lon) ? json_real(n->lon) : json_null());
    json_object_set_new(doc, "detail", n->detail ? json_deep_copy(n->detail) : json_object());
    json_object_set_new(doc, "subject",
                        json_pack("{s:s,s:s}", "kind", n->subject_kind, "id", n->subject_id));
    json_object_set_new(doc, "drone", alert__str(n->drone));
    char *text = cx_json_dump(doc, NULL);
    json_decref(doc);
    return text;
}

typedef struct {
    alert_service *a;
    alert_event ev;
    char *text;
} alert_pub;

static void alert__count(alert_service *a, const char *type, alert_severity sev)
{
    pthread_mutex_lock(&a->m_mu);
    int64_t i = cx_map_get(&a->m_types, type);
    if (i < 0 && a->m_types.n < ALERT_MAX_NAMES) {
        i = (int64_t)a->m_types.n;
        if (cx_map_set(&a->m_types, type, i) != CX_OK)
            i = -1;
    }
    if (i >= 0)
        a->m_counts[i][sev]++;
    pthread_mutex_unlock(&a->m_mu);
}

/* After the raising job's outcome: publish if it committed. */
static void alert__after(void *arg, cx_err result)
{
    alert_pub *p = arg;
    if (result == CX_OK) {
        alert__hub_alert(p->a->hub, &p->ev, p->text, strlen(p->text));
        alert__count(p->a, p->ev.type, p->ev.sev);
    }
    free(p->text);
    free(p);
}

static cx_err alert__step(sqlite3_stmt *st)
{
    return store_done(st) == CX_OK ? CX_OK : CX_EDB;
}

static void alert__bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

cx_err alert_raise_in(alert_service *a, store_conn *w, const alert_new *n, alert_ref *out)
{
    if (!alert__check(a, n))
        return CX_EINVAL;
    alert_pub *p = calloc(1, sizeof *p);
    if (!p)
        return CX_ENOMEM;
    p->a = a;
    char id[CX_ID_LEN + 1];
    cx_id_new(id);
    int64_t created = cx_now_us();
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO alerts(id, kind, subject, type, severity, "
                                     "time, device, consignment, drone, doc, created) "
                                     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,'',?10)");
    cx_err e = st ? CX_OK : CX_EDB;
    if (e == CX_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, n->subject_kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, n->subject_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, n->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, alert_severity_name(n->severity), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, n->time_ms);
        alert__bind_opt(st, 7, n->device);
        alert__bind_opt(st, 8, n->consignment);
        alert__bind_opt(st, 9, n->drone);
        sqlite3_bind_int64(st, 10, created);
        e = alert__step(st);
    }
    int64_t seq = e == CX_OK ? sqlite3_last_insert_rowid(store_conn_db(w)) : 0;
    if (e == CX_OK && !(p->text = alert__doc(n, seq, id, created)))
        e = CX_ENOMEM;
    if (e == CX_OK && !(st = store_stmt(w, "UPDATE alerts SET doc=?2 WHERE seq=?1")))
        e = CX_EDB;
    if (e == CX_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, p->text, -1, SQLITE_STATIC);
        e = alert__step(st);
    }
    for (size_t i = 0; e == CX_OK && i < ALERT_MAX_ORGS; i++) {
        if (!n->orgs[i])
            continue;
        snprintf(p->ev.orgs[i], sizeof p->ev.orgs[i], "%s", n->orgs[i]);
        if (!(st = store_stmt(w, "INSERT OR IGNORE INTO alert_orgs(org, seq) VALUES(?1, ?2)")))
            e = CX_EDB;
        if (e == CX_OK) {
            sqlite3_bind_text(st, 1, n->orgs[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, seq);
            e = alert__step(st);
        }
    }
    if (e == CX_OK) {
        p->ev.seq = seq;
        p->ev.sev = n->severity;
        snprintf(p->ev.type, sizeof p->ev.type, "%s", n->type);
        snprintf(p->ev.kind, sizeof p->ev.kind, "%s", n->subject_kind);
        snprintf(p->ev.drone, sizeof p->ev.drone, "%s", n->drone ? n->drone : "");
        e = store_after_commit(w, alert__after, p);
    }
    if (e != CX_OK) {
        free(p->text);
        free(p);
        return e;
    }
    if (out) {
        out->seq = seq;
        memcpy(out->id, id, sizeof out->id);
    }
    return CX_OK;
}

typedef struct {
    alert_service *a;
    const alert_new *n;
    alert_ref *out;
} raise_job;

static cx_err alert__raise_job(store_conn *w, void *arg)
{
    raise_job *j = arg;
    return alert_raise_in(j->a, w, j->n, j->out);
}

cx_err alert_raise(alert_service *a, const alert_new *n, alert_ref *out)
{
    raise_job j = {a, n, out};
    return store_write(a->store, alert__raise_job, &j);
}

/* ---- escalation ---------------------------------------------------------------------- */

static void alert__after_update(void *arg, cx_err result)
{
    alert_pub *p = arg;
    if (result == CX_OK)
        alert__hub_update(p->a->hub, &p->ev, p->text, strlen(p->text));
    free(p->text);
    free(p);
}

cx_err alert_escalate_in(alert_service *a, store_conn *w, const char *kind, const char *subject,
                         const char *type, alert_severity sev, const json_t *detail,
                         alert_ref *out)
{
    if ((unsigned)sev >= ALERT_SEV__COUNT || (detail && !json_is_object(detail)))
        return CX_EINVAL;
    sqlite3_stmt *st = store_stmt(w, "SELECT seq, id, doc, acked_at, acked_by, drone FROM alerts "
                                     "WHERE kind = ?1 AND subject = ?2 AND type = ?3 "
                                     "ORDER BY seq DESC LIMIT 1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    cx_err se = CX_OK; /* a read that failed is not "no such alert": that would raise a second */
    if (!store_next(st, &se)) {
        sqlite3_reset(st);
        return se != CX_OK ? se : CX_ENOTFOUND;
    }
    alert_pub *p = calloc(1, sizeof *p);
    json_t *doc = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
    if (!p || !doc) {
        sqlite3_reset(st);
        free(p);
        json_decref(doc);
        return CX_ENOMEM;
    }
    p->a = a;
    p->ev.seq = sqlite3_column_int64(st, 0);
    p->ev.sev = sev;
    snprintf(p->ev.type, sizeof p->ev.type, "%s", type);
    snprintf(p->ev.kind, sizeof p->ev.kind, "%s", kind);
    if (sqlite3_column_type(st, 5) != SQLITE_NULL)
        snprintf(p->ev.drone, sizeof p->ev.drone, "%s", (const char *)sqlite3_column_text(st, 5));
    if (out) {
        out->seq = p->ev.seq;
        snprintf(out->id, sizeof out->id, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    char *acked_at = sqlite3_column_type(st, 3) == SQLITE_NULL
                         ? NULL : strdup((const char *)sqlite3_column_text(st, 3));
    char *acked_by = sqlite3_column_type(st, 4) == SQLITE_NULL
                         ? NULL : strdup((const char *)sqlite3_column_text(st, 4));
    sqlite3_reset(st);
    json_object_set_new(doc, "severity", json_string(alert_severity_name(sev)));
    json_t *d = json_object_get(doc, "detail");
    if (detail && json_is_object(d))
        json_object_update(d, (json_t *)detail);
    char *text = cx_json_dump(doc, NULL);
    json_decref(doc);
    cx_err e = text ? CX_OK : CX_ENOMEM;
    if (e == CX_OK && !(st = store_stmt(w, "UPDATE alerts SET severity = ?2, doc = ?3 "
                                           "WHERE seq = ?1")))
        e = CX_EDB;
    if (e == CX_OK) {
        sqlite3_bind_int64(st, 1, p->ev.seq);
        sqlite3_bind_text(st, 2, alert_severity_name(sev), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        e = alert__step(st);
    }
    /* the stream shows the alert as GET /v1/alerts/{id} does */
    cx_buf b;
    cx_buf_init(&b, (size_t)2 << 20);
    if (e == CX_OK)
        e = alert__compose(&b, text, strlen(text), acked_at, acked_by);
    free(text);
    free(acked_at);
    free(acked_by);
    size_t n;
    p->text = e == CX_OK ? cx_buf_steal(&b, &n) : NULL;
    cx_buf_free(&b);
    if (e == CX_OK && !p->text)
        e = CX_ENOMEM;
    if (e == CX_OK)
        e = store_after_commit(w, alert__after_update, p);
    if (e != CX_OK) {
        free(p->text);
        free(p);
    }
    return e;
}

/* ---- composing and reading ----------------------------------------------------------- */

cx_err alert__compose(cx_buf *out, const char *doc, size_t len, const char *acked_at,
                      const char *acked_by)
{
    if (len < 2 || doc[len - 1] != '}')
        return CX_EINVAL;
    cx_err e = cx_buf_append(out, doc, len - 1);
    if (e == CX_OK)
        e = cx_buf_puts(out, ",\"acked_at\":");
    if (e == CX_OK)
        e = acked_at ? cx_buf_json_str(out, acked_at) : cx_buf_puts(out, "null");
    if (e == CX_OK)
        e = cx_buf_puts(out, ",\"acked_by\":");
    if (e == CX_OK)
        e = acked_at ? cx_buf_json_str(out, acked_by ? acked_by : "") : cx_buf_puts(out, "null");
    if (e == CX_OK)
        e = cx_buf_puts(out, "}");
    return e;
}

#define ALERT_EACH_MAX 100000

/* alert_each's statements: one per subject, so each reads its own index (an
 * "?1 IS NULL OR" filter reads the whole table), in each order. Each index
 * is (subject, time) — alerts_time alone for no subject —, so the window is
 * a range of it and its order is the index's: nothing outside the window is
 * read and nothing is sorted. */
#define ALERT_EACH_COLS                                                                        \
    "SELECT seq, time, doc, acked_at, acked_by, json_extract(doc, '$.lat'), "                 \
    "json_extract(doc, '$.lon') FROM alerts WHERE "
#define ALERT_EACH_WINDOW                                                                      \
    " AND (?1 IS NULL OR consignment = ?1) AND (?2 IS NULL OR device = ?2)"                    \
    " AND (?6 IS NULL OR drone = ?6) AND time >= ?3 AND time <= ?4"
#define ALERT_EACH_ASC " ORDER BY time, seq LIMIT ?5"
#define ALERT_EACH_DESC " ORDER BY time DESC, seq DESC LIMIT ?5"

static sqlite3_stmt *alert__each_stmt(store_conn *c, const alert_filter *f)
{
    /* [subject][newest_first] */
    static const char *const sql[4][2] = {
        {ALERT_EACH_COLS "drone = ?6" ALERT_EACH_WINDOW ALERT_EACH_ASC,
         ALERT_EACH_COLS "drone = ?6" ALERT_EACH_WINDOW ALERT_EACH_DESC},
        {ALERT_EACH_COLS "consignment = ?1" ALERT_EACH_WINDOW ALERT_EACH_ASC,
         ALERT_EACH_COLS "consignment = ?1" ALERT_EACH_WINDOW ALERT_EACH_DESC},
        {ALERT_EACH_COLS "device = ?2" ALERT_EACH_WINDOW ALERT_EACH_ASC,
         ALERT_EACH_COLS "device = ?2" ALERT_EACH_WINDOW ALERT_EACH_DESC},
        {ALERT_EACH_COLS "1" ALERT_EACH_WINDOW ALERT_EACH_ASC,
         ALERT_EACH_COLS "1" ALERT_EACH_WINDOW ALERT_EACH_DESC},
    };
    int subject = f->drone ? 0 : f->consignment ? 1 : f->device ? 2 : 3;
    return store_stmt(c, sql[subject][f->newest_first ? 1 : 0]);
}

cx_err alert_each(store_conn *c, const alert_filter *f, bool (*fn)(void *ctx, const alert_row *r),
                  void *ctx)
{
    sqlite3_stmt *st = alert__each_stmt(c, f);
    if (!st)
        return CX_EDB;
    alert__bind_opt(st, 1, f->consignment);
    alert__bind_opt(st, 2, f->device);
    sqlite3_bind_int64(st, 3, f->from_ms);
    /* no upper bound as the index's largest time, so that both bounds are
     * the index range's (a "?4 = 0 OR" would leave the newest end open) */
    sqlite3_bind_int64(st, 4, f->to_ms ? f->to_ms : INT64_MAX);
    sqlite3_bind_int(st, 5, ALERT_EACH_MAX);
    alert__bind_opt(st, 6, f->drone);
    cx_buf b;
    cx_buf_init(&b, (size_t)2 << 20);
    int rc;
    cx_err e = CX_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cx_buf_reset(&b);
        if ((e = alert__compose(&b, (const char *)sqlite3_column_text(st, 2),
                                (size_t)sqlite3_column_bytes(st, 2),
                                (const char *)sqlite3_column_text(st, 3),
                                (const char *)sqlite3_column_text(st, 4))) != CX_OK)
            break;
        alert_row r = {
            .seq = sqlite3_column_int64(st, 0),
            .time_ms = sqlite3_column_int64(st, 1),
            .lat = sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5),
            .lon = sqlite3_column_type(st, 6) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 6),
            .json = b.data,
            .len = b.len,
        };
        if (!fn(ctx, &r))
            break;
    }
    if (e == CX_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = CX_EDB;
    sqlite3_reset(st);
    cx_buf_free(&b);
    return e;
}

/* ---- the service --------------------------------------------------------------------- */

cx_err alert_service_new(store *s, const alert_config *cfg, alert_service **out)
{
    *out = NULL;
    alert_service *a = calloc(1, sizeof *a);
    if (!a)
        return CX_ENOMEM;
    a->store = s;
    a->cfg.heartbeat_s = cfg && cfg->heartbeat_s > 0 ? cfg->heartbeat_s : 15;
    pthread_mutex_init(&a->reg_mu, NULL);
    pthread_mutex_init(&a->m_mu, NULL);
    static const char *const known[] = {"device", "container", "consignment", "drone",
                                        "ledger", "scan", "declaration", "design", NULL};
    cx_err e = alert__hub_new((unsigned)a->cfg.heartbeat_s, &a->hub);
    e = e ? e : alert_register(a, known, NULL);
    store_conn *c = e == CX_OK ? store_reader(s) : NULL;
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT coalesce(max(seq), 0) FROM alerts") : NULL;
    if (e == CX_OK && (!st || sqlite3_step(st) != SQLITE_ROW))
        e = CX_EDB;
    if (e == CX_OK)
        alert__hub_start_at(a->hub, sqlite3_column_int64(st, 0));
    if (st)
        sqlite3_reset(st);
    if (e != CX_OK) {
        alert_service_free(a);
        return e;
    }
    *out = a;
    return CX_OK;
}

void alert_service_stop(alert_service *a)
{
    if (a)
        alert__hub_close(a->hub);
}

void alert_service_free(alert_service *a)
{
    if (!a)
        return;
    alert_service_stop(a);
    alert__hub_free(a->hub);
    for (size_t i = 0; i < a->nkinds; i++)
        free(a->kinds[i]);
    for (size_t i = 0; i < a->ntypes; i++)
        free(a->types[i]);
    cx_map_free(&a->m_types);
    pthread_mutex_destroy(&a->reg_mu);
    pthread_mutex_destroy(&a->m_mu);
    free(a);
}
