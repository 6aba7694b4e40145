/* The inspection service: its tables, the declaration it works on, writer
 * jobs that answer requests, the retention of session frames, metrics. */
#include "inspect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const store_migration migrations[] = {
    {1, "CREATE TABLE inspect_guide_steps ("
        " seq INTEGER NOT NULL, n INTEGER NOT NULL, key TEXT NOT NULL, step TEXT NOT NULL,"
        " done INTEGER NOT NULL DEFAULT 0, note TEXT, photos TEXT, by_doc TEXT, done_at TEXT,"
        " PRIMARY KEY(seq, n), UNIQUE(seq, key));"
        "CREATE TABLE inspect_photos ("
        " sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL, width INTEGER, height INTEGER);"
        "CREATE TABLE inspect_photo_links ("
        " seq INTEGER NOT NULL, sha256 TEXT NOT NULL, by_doc TEXT NOT NULL, at TEXT NOT NULL,"
        " PRIMARY KEY(seq, sha256));"
        "CREATE TABLE inspect_sessions ("
        " sid TEXT PRIMARY KEY, seq INTEGER NOT NULL, declaration TEXT NOT NULL,"
        " status TEXT NOT NULL, opened_by TEXT NOT NULL, opened_at TEXT NOT NULL,"
        " closed_at TEXT, closed_us INTEGER, frames INTEGER NOT NULL DEFAULT 0,"
        " last_event INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX inspect_sessions_seq ON inspect_sessions(seq);"
        "CREATE UNIQUE INDEX inspect_sessions_open ON inspect_sessions(seq) WHERE status = 'open';"
        "CREATE TABLE inspect_frames ("
        " sid TEXT NOT NULL, n INTEGER NOT NULL, bytes BLOB NOT NULL, width INTEGER NOT NULL,"
        " height INTEGER NOT NULL, at_us INTEGER NOT NULL, annotated INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY(sid, n));"
        "CREATE INDEX inspect_frames_at ON inspect_frames(at_us);"
        "CREATE TABLE inspect_events ("
        " sid TEXT NOT NULL, id INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,"
        " PRIMARY KEY(sid, id));"},
    /* training: simulated cases, never declarations (issue 13) */
    {2, "CREATE TABLE inspect_training_cases ("
        " id TEXT PRIMARY KEY, seed INTEGER NOT NULL, idx INTEGER NOT NULL,"
        " declaration TEXT NOT NULL, reasons TEXT NOT NULL, events TEXT NOT NULL,"
        " truth TEXT NOT NULL, lane TEXT NOT NULL, explanation TEXT NOT NULL,"
        " image BLOB NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,"
        " created_at TEXT NOT NULL, UNIQUE(seed, idx));"
        "CREATE TABLE inspect_training_served ("
        " case_id TEXT NOT NULL, key_id INTEGER NOT NULL, at_us INTEGER NOT NULL,"
        " PRIMARY KEY(case_id, key_id));"
        "CREATE TABLE inspect_training_answers ("
        " id INTEGER PRIMARY KEY, case_id TEXT NOT NULL, key_id INTEGER NOT NULL,"
        " org TEXT NOT NULL, role TEXT NOT NULL, subject TEXT, answer TEXT NOT NULL,"
        " score REAL NOT NULL, found INTEGER NOT NULL, missed INTEGER NOT NULL,"
        " false_marks INTEGER NOT NULL, lane_correct INTEGER NOT NULL, seconds REAL,"
        " answered_at TEXT NOT NULL, UNIQUE(case_id, key_id));"
        "CREATE INDEX inspect_training_answers_key ON inspect_training_answers(key_id, id);"},
    /* hot keys (issue 17): a declaration's photos in the guide's order */
    {3, "CREATE INDEX inspect_photo_links_at ON inspect_photo_links(seq, at, sha256);"},
    /* hot keys (issue 17): a closed session's frames are thinned in bounded jobs,
     * from (thin_at, thin_n) on; the index serves the walk and the 2-second buckets */
    {4, "ALTER TABLE inspect_sessions ADD COLUMN thin_at INTEGER;"
        "ALTER TABLE inspect_sessions ADD COLUMN thin_n INTEGER;"
        "CREATE INDEX inspect_sessions_thin ON inspect_sessions(thin_n) WHERE thin_n IS NOT NULL;"
        "CREATE INDEX inspect_frames_sid_at ON inspect_frames(sid, at_us, n, annotated);"},
};

cx_err inspect_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "inspect", migrations, sizeof migrations / sizeof migrations[0], err,
                         errlen);
}

/* ---- the declaration ------------------------------------------------------------- */

cx_err inspect__decl_read(store_conn *c, const char *id, inspect_decl *d)
{
    memset(d, 0, sizeof *d);
    sqlite3_stmt *st = store_stmt(
        c, "SELECT seq, id, status, lane, risk, doc FROM " DECL_VIEW " WHERE id = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK) {
        const char *lane = (const char *)sqlite3_column_text(st, 3);
        const char *risk = (const char *)sqlite3_column_text(st, 4);
        d->seq = sqlite3_column_int64(st, 0);
        snprintf(d->id, sizeof d->id, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(d->status, sizeof d->status, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(d->lane, sizeof d->lane, "%s", lane ? lane : "");
        d->risk = risk ? json_loads(risk, 0, NULL) : NULL;
        d->doc = json_loadb((const char *)sqlite3_column_blob(st, 5),
                            (size_t)sqlite3_column_bytes(st, 5), 0, NULL);
        if (!d->doc)
            e = CX_EDB;
    }
    sqlite3_reset(st);
    if (e != CX_OK)
        inspect__decl_clear(d);
    return e;
}

void inspect__decl_clear(inspect_decl *d)
{
    json_decref(d->doc);
    json_decref(d->risk);
    d->doc = d->risk = NULL;
}

bool inspect__in_inspection(const inspect_decl *d)
{
    return (strcmp(d->lane, "red") == 0 || strcmp(d->lane, "yellow") == 0) &&
           (strcmp(d->status, "submitted") == 0 || strcmp(d->status, "held") == 0);
}

bool inspect__decl_for(http_req *r, inspect_service *s, inspect_decl *d, bool need_inspection)
{
    store_conn *c = store_reader(s->store);
    cx_err e = c ? inspect__decl_read(c, http_param(r, "id"), d) : CX_EDB;
    if (e == CX_ENOTFOUND) {
        http_reply_error(r, 404, "not_found", "no such declaration", NULL);
        return false;
    }
    if (e != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the declaration cannot be read; retry", NULL);
        return false;
    }
    if (need_inspection && !inspect__in_inspection(d)) {
        char m[256];
        snprintf(m, sizeof m,
                 "declaration %s is not sent to inspection (lane %s, status %s): only red or "
                 "yellow declarations that are submitted or held are inspected",
                 d->id, d->lane[0] ? d->lane : "none", d->status);
        inspect__decl_clear(d);
        http_reply_error(r, 409, "not_in_inspection", m, NULL);
        return false;
    }
    return true;
}

bool inspect__jpeg_body(http_req *r, const char *what, const char **body, size_t *len,
                        unsigned *width, unsigned *height)
{
    *body = http_body(r, len);
    cx_err e = inspect_jpeg_probe(*body, *len, width, height);
    if (e == CX_OK)
        return true;
    char m[64];
    snprintf(m, sizeof m, "the %s is not a JPEG image", what);
    http_reply_error1(r, 400, "invalid_image", m, "",
                      e == CX_ETOOBIG ? "must be at most 16384 pixels a side"
                                      : "must be a JPEG (image/jpeg) image");
    return false;
}

json_t *inspect__by(const cx_principal *who)
{
    return json_pack("{s:s,s:s,s:I}", "org", who->org, "role", cx_role_name(who->role), "key_id",
                     (json_int_t)who->key_id);
}

void inspect__reply_problems(http_req *r, const char *code, const char *what, json_t *problems)
{
    char m[128];
    size_t n = json_array_size(problems);
    snprintf(m, sizeof m, "the %s has %zu problem%s", what, n, n == 1 ? "" : "s");
    http_reply_error(r, 400, code, m, problems);
}

/* ---- writer jobs that answer a request -------------------------------------------- */

static cx_err svc__job(store_conn *w, void *arg)
{
    inspect_job *j = arg;
    return j->fn(w, j);
}

static void svc__done(void *arg, cx_err result)
{
    inspect_job *j = arg;
    http_req *r = j->req;
    j->done(j, result);
    j->free_fn(j);
    http_resume(r);
}

void inspect__submit(inspect_job *j)
{
    http_req *r = j->req;
    j->job = (store_job){.fn = svc__job, .done = svc__done, .arg = j};
    http_defer(r);
    if (store_submit(j->svc->store, &j->job) != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the server is stopping; retry", NULL);
        j->free_fn(j);
        http_resume(r);
    }
}

/* ---- retention -------------------------------------------------------------------- */

#define RET_CHUNK 500
#define RET_EVERY_S 3600

typedef struct {
    int64_t before;
    uint64_t deleted;
} ret_job;

static cx_err ret__chunk(store_conn *w, void *arg)
{
    ret_job *j = arg;
    sqlite3_stmt *st = store_stmt(
        w, "DELETE FROM inspect_frames WHERE rowid IN (SELECT rowid FROM inspect_frames "
           "WHERE at_us < ?1 LIMIT 500)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->before);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    j->deleted = (uint64_t)sqlite3_changes(store_conn_db(w));
    return CX_OK;
}

cx_err inspect_retention_run(inspect_service *s, int64_t now_us, uint64_t *erased)
{
    ret_job j = {.before = now_us - s->cfg.frame_retention_days * 86400LL * 1000000LL};
    uint64_t total = 0;
    cx_err e;
    do { /* short jobs, so that live sessions keep flowing; a stop ends it
          * between jobs (retention runs again at start) */
        if (inspect__stopping(s)) {
            e = CX_ESHUTDOWN;
            break;
        }
        e = store_write(s->store, ret__chunk, &j);
        total += e == CX_OK ? j.deleted : 0;
    } while (e == CX_OK && j.deleted == RET_CHUNK);
    atomic_fetch_add(&s->m_erased, total);
    if (erased)
        *erased = total;
    return e;
}

bool inspect__stopping(inspect_service *s)
{
    pthread_mutex_lock(&s->ret_mu);
    bool stop = s->ret_stop;
    pthread_mutex_unlock(&s->ret_mu);
    return stop;
}

void inspect__thin_kick(inspect_service *s)
{
    pthread_mutex_lock(&s->ret_mu);
    s->ret_kick = true;
    pthread_cond_broadcast(&s->ret_cv);
    pthread_mutex_unlock(&s->ret_mu);
}

/* Thins closed sessions (at start: what a restart interrupted, then when a
 * close kicks) and erases frames past retention (at start, then hourly). */
static void *ret__thread(void *arg)
{
    inspect_service *s = arg;
    struct timespec until = {0};
    pthread_mutex_lock(&s->ret_mu);
    while (!s->ret_stop) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        bool retention = now.tv_sec >= until.tv_sec;
        s->ret_kick = false;
        pthread_mutex_unlock(&s->ret_mu);
        uint64_t n = 0;
        cx_err e = inspect_thin_run(s, &n);
        if (e != CX_OK && e != CX_ESHUTDOWN)
            cx_log(CX_LOG_WARN, "inspect: thinning closed sessions failed: %s", cx_strerror(e));
        if (retention && (e = inspect_retention_run(s, cx_now_us(), &n)) != CX_OK &&
            e != CX_ESHUTDOWN)
            cx_log(CX_LOG_WARN, "inspect: frame retention failed: %s", cx_strerror(e));
        else if (retention && n)
            cx_log(CX_LOG_INFO, "inspect: %llu session frames past retention erased",
                   (unsigned long long)n);
        pthread_mutex_lock(&s->ret_mu);
        if (retention) {
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += RET_EVERY_S;
        }
        while (!s->ret_stop && !s->ret_kick &&
               pthread_cond_timedwait(&s->ret_cv, &s->ret_mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&s->ret_mu);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------- */

cx_err inspect_service_new(store *st, decl_service *decl, const inspect_config *cfg,
                           inspect_service **out, char *err, size_t errlen)
{
    *out = NULL;
    inspect_service *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return CX_ENOMEM;
    }
    s->store = st;
    s->decl = decl;
    if (cfg)
        s->cfg = *cfg;
    if (s->cfg.frame_retention_days <= 0)
        s->cfg.frame_retention_days = 30;
    pthread_mutex_init(&s->ret_mu, NULL);
    pthread_cond_init(&s->ret_cv, NULL);
    cx_err e = inspect_rules_load(s->cfg.data_dir, &s->rules, err, errlen);
    http_hub_config hc = {.hello = "retry: 1000\n: customs session stream\n\n",
                          .heartbeat_s = s->cfg.heartbeat_s};
    if (e == CX_OK && (e = http_hub_new(&hc, &s->hub)) != CX_OK)
        snprintf(err, errlen, "cannot start the session streams: %s", cx_strerror(e));
    if (e == CX_OK && pthread_create(&s->ret, NULL, ret__thread, s) != 0) {
        snprintf(err, errlen, "cannot start the retention thread");
        e = CX_ENOMEM;
    }
    if (e != CX_OK) {
        inspect_service_free(s);
        return e;
    }
    s->ret_started = true;
    *out = s;
    return CX_OK;
}

void inspect_service_stop(inspect_service *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->ret_mu);
    s->ret_stop = true;
    pthread_cond_broadcast(&s->ret_cv);
    pthread_mutex_unlock(&s->ret_mu);
    if (s->ret_started) {
        pthread_join(s->ret, NULL);
        s->ret_started = false;
    }
    http_hub_close(s->hub);
}

void inspect_service_free(inspect_service *s)
{
    if (!s)
        return;
    inspect_service_stop(s);
    http_hub_free(s->hub);
    inspect_rules_free(s->rules);
    pthread_mutex_destroy(&s->ret_mu);
    pthread_cond_destroy(&s->ret_cv);
    free(s);
}

static void svc__metrics(void *ctx, cx_buf *out)
{
    inspect_service *s = ctx;
    struct {
        const char *name, *type, *help;
        uint64_t v;
    } m[] = {
        {"customs_inspect_guides_total", "counter", "Inspection guides served",
         atomic_load(&s->m_guides)},
        {"customs_inspect_photos_total", "counter", "Inspection photos stored",
         atomic_load(&s->m_photos)},
        {"customs_inspect_sessions_total", "counter", "Remote-expert sessions opened",
         atomic_load(&s->m_sessions)},
        {"customs_inspect_frames_total", "counter", "Session frames stored",
         atomic_load(&s->m_frames)},
        {"customs_inspect_frame_bytes_total", "counter", "Bytes of session frames stored",
         atomic_load(&s->m_frame_bytes)},
        {"customs_inspect_annotations_total", "counter", "Session annotations stored",
         atomic_load(&s->m_annotations)},
        {"customs_inspect_chat_total", "counter", "Session chat lines stored",
         atomic_load(&s->m_chats)},
        {"customs_inspect_frames_erased_total", "counter", "Session frames erased by retention",
         atomic_load(&s->m_erased)},
        {"customs_inspect_frames_thinned_total", "counter",
         "Frames of closed sessions thinned away", atomic_load(&s->m_thinned)},
        {"customs_inspect_thin_jobs_total", "counter",
         "Writer jobs that thinned closed sessions (each at most 500 frames)",
         atomic_load(&s->m_thin_jobs)},
        {"customs_inspect_stream_clients", "gauge", "Open session event streams",
         s->hub ? http_hub_clients(s->hub) : 0},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (cx_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m[i].name, m[i].help,
                          m[i].name, m[i].type, m[i].name, (unsigned long long)m[i].v) != CX_OK)
            return;
}

cx_err inspect_routes(inspect_service *s, http_server *srv)
{
    cx_err e = inspect__guide_routes(s, srv);
    if (e == CX_OK)
        e = inspect__session_routes(s, srv);
    if (e == CX_OK)
        e = inspect__training_routes(s, srv);
    if (e == CX_OK)
        http_add_metrics(srv, svc__metrics, s);
    return e;
}
