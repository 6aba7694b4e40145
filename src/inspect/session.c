/* Remote-expert sessions: the officer's camera frames, the expert's
 * annotations and chat, in one ordered log per session (inspect_events)
 * that the stream (hub.c) and the replay read. Every event is stored before
 * anyone sees it; closing thins the frames (annotated ones, the first and
 * last, and one per two seconds stay) and retention erases the rest later. */
#include "inspect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- thinning -------------------------------------------------------------------------
 * A closed session keeps its annotated frames, its last, and the first of
 * each 2-second bucket (by at_us). The others are deleted after the close by
 * the retention thread, THIN_CHUNK frames a writer job in (at_us, n) order,
 * the position kept in inspect_sessions(thin_at, thin_n) so a restart
 * resumes; NULL when done. Meanwhile reads treat a frame still waiting as
 * gone, so the session looks thinned from the moment it closed. Thinning
 * itself never changes the predicate underneath: a closed session takes no
 * frames or annotations, and thinning never deletes a bucket's first or the
 * last. Retention can: when it erases a bucket's first frame before thinning
 * reaches it, the bucket's next frame is then kept too (one frame more,
 * never one fewer). */
#define THIN_CHUNK 500
#define THIN_DOOMED                                                                             \
    "f.annotated = 0 AND f.n <> (SELECT max(m.n) FROM inspect_frames m WHERE m.sid = f.sid) "   \
    "AND EXISTS (SELECT 1 FROM inspect_frames x WHERE x.sid = f.sid "                         \
    "AND x.at_us >= f.at_us / 2000000 * 2000000 AND x.at_us < (f.at_us / 2000000 + 1) * 2000000 " \
    "AND x.n < f.n) "
/* on a row f of inspect_frames joined with its session s */
#define THIN_WAITING                                                                            \
    "(s.thin_n IS NOT NULL AND (f.at_us, f.n) > (s.thin_at, s.thin_n) AND " THIN_DOOMED ")"

/* ---- the session as the API shows it ------------------------------------------------ */

static json_t *sess__row_json(sqlite3_stmt *st)
{
    const char *closed = (const char *)sqlite3_column_text(st, 5);
    return json_pack("{s:s,s:s,s:s,s:o,s:s,s:s?,s:I,s:I,s:I,s:b}", "session",
                     (const char *)sqlite3_column_text(st, 0), "declaration",
                     (const char *)sqlite3_column_text(st, 1), "status",
                     (const char *)sqlite3_column_text(st, 2), "opened_by",
                     json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL), "opened_at",
                     (const char *)sqlite3_column_text(st, 4), "closed_at", closed, "frames",
                     (json_int_t)sqlite3_column_int64(st, 6), "frames_kept",
                     (json_int_t)sqlite3_column_int64(st, 7), "events",
                     (json_int_t)sqlite3_column_int64(st, 8), "thinning",
                     sqlite3_column_int(st, 9));
}

#define SESS_COLS                                                                              \
    "sid, declaration, status, opened_by, opened_at, closed_at, frames, "                      \
    "(SELECT count(*) FROM inspect_frames f WHERE f.sid = s.sid AND NOT " THIN_WAITING "), "   \
    "last_event, thin_n IS NOT NULL "
#define SESS_NCOLS 10 /* the columns of SESS_COLS */

static json_t *sess__json(store_conn *c, const char *sid, cx_err *e)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT " SESS_COLS "FROM inspect_sessions s WHERE sid = ?1");
    if (!st) {
        *e = CX_EDB;
        return NULL;
    }
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    json_t *o = rc == SQLITE_ROW ? sess__row_json(st) : NULL;
    *e = rc == SQLITE_ROW ? (o ? CX_OK : CX_ENOMEM) : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    sqlite3_reset(st);
    return o;
}

/* The session's state on c: CX_ENOTFOUND, or *open. */
static cx_err sess__state(store_conn *c, const char *sid, bool *open)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT status FROM inspect_sessions WHERE sid = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *open = strcmp((const char *)sqlite3_column_text(st, 0), "open") == 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

/* CX_OK when the session is open, CX_ESTATE when closed, CX_ENOTFOUND. */
static cx_err sess__open_in(store_conn *w, const char *sid)
{
    bool open = false;
    cx_err e = sess__state(w, sid, &open);
    return e != CX_OK ? e : open ? CX_OK : CX_ESTATE;
}

/* Officers only, and the session must exist: replies otherwise. */
static bool sess__known(http_req *r, inspect_service *s, const char *what)
{
    if (!http_allow_officer(r, what))
        return false;
    bool open;
    store_conn *c = store_reader(s->store);
    cx_err e = c ? sess__state(c, http_param(r, "sid"), &open) : CX_EDB;
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such session", NULL);
    else if (e != CX_OK)
        http_reply_error(r, 503, "unavailable", "the session cannot be read; retry", NULL);
    return e == CX_OK;
}

/* ---- events -------------------------------------------------------------------------- */

typedef struct {
    http_hub *hub;
    char sid[CX_ID_LEN + 1];
} wake_arg;

static void sess__wake(void *arg, cx_err result)
{
    wake_arg *w = arg;
    if (result == CX_OK)
        http_hub_wake(w->hub, w->sid);
    free(w);
}

/* Appends an event to the session's log in the caller's job; its streams
 * are woken once the job is durable. data gets "by" and "at". */
static cx_err sess__event(store_conn *w, inspect_service *s, const char *sid, const char *kind,
                          json_t *data, const char *by, const char *at, int64_t *id)
{
    sqlite3_stmt *up = store_stmt(w, "UPDATE inspect_sessions SET last_event = last_event + 1 "
                                     "WHERE sid = ?1 RETURNING last_event");
    if (!up)
        return CX_EDB;
    sqlite3_bind_text(up, 1, sid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(up);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(up, 0) : 0;
    sqlite3_reset(up);
    if (rc != SQLITE_ROW)
        return CX_EDB;
    json_object_set_new(data, "by", json_loads(by, 0, NULL));
    json_object_set_new(data, "at", json_string(at));
    char *text = cx_json_dump(data, NULL);
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO inspect_events(sid, id, kind, data) "
                                     "VALUES(?1, ?2, ?3, ?4)");
    if (!text || !st) {
        free(text);
        return text ? CX_EDB : CX_ENOMEM;
    }
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, *id);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, text, -1, free);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    wake_arg *wa = calloc(1, sizeof *wa);
    if (!wa)
        return CX_ENOMEM;
    wa->hub = s->hub;
    snprintf(wa->sid, sizeof wa->sid, "%s", sid);
    if (store_after_commit(w, sess__wake, wa) != CX_OK) {
        free(wa);
        return CX_ENOMEM;
    }
    return CX_OK;
}

/* A job on one session: what every session write shares. */
typedef struct {
    inspect_job base;
    char sid[CX_ID_LEN + 1];
    char declaration[CX_ID_LEN + 8];
    int64_t seq;
    char *by;
    char at[32];
    int64_t at_us;
    /* frames */
    const char *bytes;
    size_t len;
    unsigned width, height;
    /* annotations */
    json_t *data;
    bool chat;
    int64_t frame;
    /* results */
    int64_t n, event;
    cx_err why; /* CX_ESTATE: closed; CX_EEXIST: one open already */
    json_t *reply;
} sess_job;

static void sess__free(inspect_job *j)
{
    sess_job *sj = (sess_job *)j;
    free(sj->by);
    json_decref(sj->data);
    json_decref(sj->reply);
    free(sj);
}

static sess_job *sess__job(http_req *r, inspect_service *s, inspect_job_fn fn,
                           inspect_done_fn done)
{
    sess_job *sj = calloc(1, sizeof *sj);
    json_t *by = inspect__by(http_principal(r));
    if (sj)
        sj->by = cx_json_dump(by, NULL);
    json_decref(by);
    if (!sj || !sj->by) {
        free(sj);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return NULL;
    }
    sj->base = (inspect_job){.req = r, .svc = s, .fn = fn, .done = done, .free_fn = sess__free};
    const char *sid = http_param(r, "sid");
    snprintf(sj->sid, sizeof sj->sid, "%s", sid ? sid : "");
    sj->at_us = cx_now_us();
    cx_rfc3339_format(sj->at_us, sj->at);
    return sj;
}

static bool sess__closed_reply(http_req *r, cx_err result)
{
    if (result == CX_ESTATE) {
        http_reply_error(r, 409, "session_closed", "the session is closed", NULL);
        return true;
    }
    if (result == CX_ENOTFOUND) {
        http_reply_error(r, 404, "not_found", "no such session", NULL);
        return true;
    }
    if (result != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the session could not be stored; retry", NULL);
        return true;
    }
    return false;
}

/* ---- POST /v1/declarations/{id}/sessions --------------------------------------------- */

static cx_err open__store(store_conn *w, inspect_job *j)
{
    sess_job *sj = (sess_job *)j;
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO inspect_sessions(sid, seq, declaration, status, opened_by, opened_at) "
           "VALUES(?1, ?2, ?3, 'open', ?4, ?5)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sj->sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, sj->seq);
    sqlite3_bind_text(st, 3, sj->declaration, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sj->by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sj->at, -1, SQLITE_STATIC);
    cx_err e = store_done(st);
    if (e == CX_EEXIST) { /* the partial unique index: one open session per declaration */
        st = store_stmt(w, "SELECT sid FROM inspect_sessions WHERE seq = ?1 AND status = 'open'");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, sj->seq);
        e = CX_OK; /* a read that failed: not a 409 naming no session */
        if (store_next(st, &e))
            snprintf(sj->sid, sizeof sj->sid, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        return e != CX_OK ? e : CX_EEXIST;
    }
    if (e != CX_OK)
        return CX_EDB;
    sj->reply = sess__json(w, sj->sid, &e);
    return e;
}

static void open__done(inspect_job *j, cx_err result)
{
    sess_job *sj = (sess_job *)j;
    if (result == CX_EEXIST) {
        char m[160];
        snprintf(m, sizeof m, "declaration %s already has an open session, %s: join it or close it",
                 sj->declaration, sj->sid);
        http_reply_error(j->req, 409, "session_open", m, NULL);
        return;
    }
    if (sess__closed_reply(j->req, result))
        return;
    atomic_fetch_add(&j->svc->m_sessions, 1);
    http_reply_json(j->req, 201, sj->reply);
    sj->reply = NULL;
}

static void h_open(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "open inspection sessions"))
        return;
    size_t len;
    const char *body = http_body(r, &len);
    if (len && strspn(body, " \t\r\n") != len) {
        json_t *b = decl_parse_body(r);
        bool empty = json_is_object(b) && json_object_size(b) == 0;
        json_decref(b);
        if (!b)
            return;
        if (!empty) {
            http_reply_error1(r, 400, "invalid_session", "the session has 1 problem", "",
                              "must be empty or {}: a session takes no members");
            return;
        }
    }
    inspect_decl d;
    if (!inspect__decl_for(r, s, &d, true))
        return;
    sess_job *sj = sess__job(r, s, open__store, open__done);
    if (sj) {
        cx_id_new(sj->sid);
        sj->seq = d.seq;
        snprintf(sj->declaration, sizeof sj->declaration, "%s", d.id);
        inspect__submit(&sj->base);
    }
    inspect__decl_clear(&d);
}

/* ---- GET /v1/declarations/{id}/sessions, GET /v1/sessions/{sid} ---------------------- */

static void h_list(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "see inspection sessions"))
        return;
    http_page pg;
    if (!http_page_parse(r, HTTP_CURSOR_INT, 50, 500, &pg))
        return;
    inspect_decl d;
    if (!inspect__decl_for(r, s, &d, false))
        return;
    store_conn *c = store_reader(s->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT " SESS_COLS ", rowid FROM inspect_sessions s "
                                         "WHERE seq = ?1 AND rowid > ?2 ORDER BY rowid")
                         : NULL;
    if (!st) {
        inspect__decl_clear(&d);
        http_reply_error(r, 503, "unavailable", "the sessions cannot be read; retry", NULL);
        return;
    }
    http_pager p;
    http_pager_init(&p, pg.limit, HTTP_PAGE_BUDGET);
    sqlite3_bind_int64(st, 1, d.seq);
    sqlite3_bind_int64(st, 2, pg.after);
    int64_t last = 0;
    while (store_row(st, &p.out) && http_pager_item(&p)) {
        http_pager_json_new(&p, sess__row_json(st));
        last = sqlite3_column_int64(st, SESS_NCOLS); /* the rowid, after SESS_COLS */
    }
    sqlite3_reset(st);
    inspect__decl_clear(&d);
    http_pager_reply_after(&p, r, last); /* or the page's error */
    http_pager_free(&p);
}

static void h_get(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!http_allow_officer(r, "see inspection sessions"))
        return;
    cx_err e = CX_EDB;
    store_conn *c = store_reader(s->store);
    json_t *o = c ? sess__json(c, http_param(r, "sid"), &e) : NULL;
    if (o)
        http_reply_json(r, 200, o);
    else if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such session", NULL);
    else
        http_reply_error(r, 503, "unavailable", "the session cannot be read; retry", NULL);
}

/* ---- frames -------------------------------------------------------------------------- */

static cx_err frame__store(store_conn *w, inspect_job *j)
{
    sess_job *sj = (sess_job *)j;
    cx_err e = sess__open_in(w, sj->sid);
    if (e != CX_OK)
        return e;
    sqlite3_stmt *up = store_stmt(w, "UPDATE inspect_sessions SET frames = frames + 1 "
                                     "WHERE sid = ?1 RETURNING frames");
    if (!up)
        return CX_EDB;
    sqlite3_bind_text(up, 1, sj->sid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(up);
    sj->n = rc == SQLITE_ROW ? sqlite3_column_int64(up, 0) : 0;
    sqlite3_reset(up);
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO inspect_frames(sid, n, bytes, width, height, "
                                     "at_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!sj->n || !st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sj->sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, sj->n);
    sqlite3_bind_blob64(st, 3, sj->bytes, sj->len, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)sj->width);
    sqlite3_bind_int(st, 5, (int)sj->height);
    sqlite3_bind_int64(st, 6, sj->at_us);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    json_t *data = json_pack("{s:I,s:i,s:i}", "frame", (json_int_t)sj->n, "width",
                             (int)sj->width, "height", (int)sj->height);
    e = sess__event(w, j->svc, sj->sid, "frame", data, sj->by, sj->at, &sj->event);
    json_decref(data);
    return e;
}

static void frame__done(inspect_job *j, cx_err result)
{
    sess_job *sj = (sess_job *)j;
    if (sess__closed_reply(j->req, result))
        return;
    atomic_fetch_add(&j->svc->m_frames, 1);
    atomic_fetch_add(&j->svc->m_frame_bytes, sj->len);
    http_reply_json(j->req, 201, json_pack("{s:I,s:I}", "frame", (json_int_t)sj->n, "event",
                                           (json_int_t)sj->event));
}

static void h_frame_post(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!sess__known(r, s, "stream inspection frames"))
        return;
    size_t len;
    const char *body;
    unsigned w = 0, h = 0;
    if (!inspect__jpeg_body(r, "frame", &body, &len, &w, &h))
        return;
    sess_job *sj = sess__job(r, s, frame__store, frame__done);
    if (!sj)
        return;
    sj->bytes = body;
    sj->len = len;
    sj->width = w;
    sj->height = h;
    inspect__submit(&sj->base);
}

static void h_frame_get(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!sess__known(r, s, "see inspection frames"))
        return;
    int64_t n;
    if (!cx_parse_i64(http_param(r, "n"), &n) || n < 1) {
        http_reply_error(r, 404, "not_found", "no such frame: frames are numbered from 1", NULL);
        return;
    }
    store_conn *c = store_reader(s->store);
    sqlite3_stmt *st = store_stmt(c, "SELECT (SELECT bytes FROM inspect_frames f WHERE f.sid = ?1 "
                                     "AND f.n = ?2 AND NOT " THIN_WAITING "), frames "
                                     "FROM inspect_sessions s WHERE sid = ?1");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the frame cannot be read; retry", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, http_param(r, "sid"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, n);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB) {
        http_reply_header(r, "Cache-Control", "private, max-age=86400, immutable");
        http_reply_copy(r, 200, "image/jpeg", sqlite3_column_blob(st, 0),
                        (size_t)sqlite3_column_bytes(st, 0));
    } else if (sqlite3_column_int64(st, 1) >= n) {
        http_reply_error(r, 410, "frame_erased",
                         "this frame was erased: frames are thinned when the session closes and "
                         "erased after the retention period",
                         NULL);
    } else {
        http_reply_error(r, 404, "not_found", "no such frame in this session", NULL);
    }
    sqlite3_reset(st);
}

/* ---- annotations and chat ------------------------------------------------------------- */

static cx_err annot__store(store_conn *w, inspect_job *j)
{
    sess_job *sj = (sess_job *)j;
    cx_err e = sess__open_in(w, sj->sid);
    if (e != CX_OK)
        return e;
    if (!sj->chat) {
        sqlite3_stmt *st =
            store_stmt(w, "UPDATE inspect_frames SET annotated = 1 WHERE sid = ?1 AND n = ?2");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, sj->sid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, sj->frame);
        if (store_done(st) != CX_OK)
            return CX_EDB;
    }
    return sess__event(w, j->svc, sj->sid, sj->chat ? "chat" : "annotation", sj->data, sj->by,
                       sj->at, &sj->event);
}

static void annot__done(inspect_job *j, cx_err result)
{
    sess_job *sj = (sess_job *)j;
    if (sess__closed_reply(j->req, result))
        return;
    atomic_fetch_add(sj->chat ? &j->svc->m_chats : &j->svc->m_annotations, 1);
    http_reply_json(j->req, 201, json_pack("{s:I,s:s}", "event", (json_int_t)sj->event, "kind",
                                           sj->chat ? "chat" : "annotation"));
}

/* The frame's size on c; 0x0 when it is not in the session (any more). */
static void annot__frame_size(store_conn *c, const char *sid, int64_t n, unsigned *w, unsigned *h)
{
    *w = *h = 0;
    sqlite3_stmt *st =
        store_stmt(c, "SELECT width, height FROM inspect_frames WHERE sid = ?1 AND n = ?2");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, n);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *w = (unsigned)sqlite3_column_int(st, 0);
        *h = (unsigned)sqlite3_column_int(st, 1);
    }
    sqlite3_reset(st);
}

static void h_annotate(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!sess__known(r, s, "annotate inspection sessions"))
        return;
    json_t *body = decl_parse_body(r);
    if (!body)
        return;
    const json_t *frame = json_object_get(body, "frame");
    unsigned w = 0, h = 0;
    json_t *problems = json_array();
    if (json_is_integer(frame) && json_integer_value(frame) > 0) {
        annot__frame_size(store_reader(s->store), http_param(r, "sid"),
                          json_integer_value(frame), &w, &h);
        if (!w)
            cx_problem_add(problems, "/frame", "no such frame in this session");
    }
    bool chat = false;
    if (!inspect_annotation_check(body, w, h, &chat, problems) || json_array_size(problems)) {
        json_decref(body);
        inspect__reply_problems(r, "invalid_annotation", chat ? "chat line" : "annotation",
                                problems);
        return;
    }
    json_decref(problems);
    sess_job *sj = sess__job(r, s, annot__store, annot__done);
    if (!sj) {
        json_decref(body);
        return;
    }
    sj->chat = chat;
    sj->frame = chat ? 0 : json_integer_value(frame);
    sj->data = body; /* checked: exactly frame, shapes, text */
    inspect__submit(&sj->base);
}

/* ---- thinning jobs --------------------------------------------------------------------- */

typedef struct {
    bool idle; /* no session waits */
    uint64_t deleted;
} thin_job;

/* One chunk of one waiting session: at most THIN_CHUNK frames looked at. */
static cx_err thin__chunk(store_conn *w, void *arg)
{
    thin_job *j = arg;
    j->deleted = 0;
    sqlite3_stmt *st = store_stmt(w, "SELECT sid, thin_at, thin_n FROM inspect_sessions "
                                     "WHERE thin_n >= ?1 LIMIT 1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, 0);
    int rc = sqlite3_step(st);
    char sid[CX_ID_LEN + 1] = "";
    int64_t at = 0, n = 0;
    if (rc == SQLITE_ROW) {
        snprintf(sid, sizeof sid, "%s", (const char *)sqlite3_column_text(st, 0));
        at = sqlite3_column_int64(st, 1);
        n = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    j->idle = rc == SQLITE_DONE;
    if (rc != SQLITE_ROW)
        return j->idle ? CX_OK : CX_EDB;
    /* where this chunk ends: the THIN_CHUNK-th frame after the position */
    st = store_stmt(w, "SELECT at_us, n FROM inspect_frames WHERE sid = ?1 "
                       "AND (at_us, n) > (?2, ?3) ORDER BY at_us, n LIMIT 1 OFFSET ?4");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int64(st, 3, n);
    sqlite3_bind_int(st, 4, THIN_CHUNK - 1);
    rc = sqlite3_step(st);
    bool last = rc != SQLITE_ROW;
    int64_t end_at = last ? INT64_MAX : sqlite3_column_int64(st, 0);
    int64_t end_n = last ? INT64_MAX : sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return CX_EDB;
    st = store_stmt(w, "DELETE FROM inspect_frames AS f WHERE f.sid = ?1 "
                       "AND (f.at_us, f.n) > (?2, ?3) AND (f.at_us, f.n) <= (?4, ?5) "
                       "AND " THIN_DOOMED);
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int64(st, 3, n);
    sqlite3_bind_int64(st, 4, end_at);
    sqlite3_bind_int64(st, 5, end_n);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    j->deleted = (uint64_t)sqlite3_changes(store_conn_db(w));
    st = store_stmt(w, "UPDATE inspect_sessions SET thin_at = ?2, thin_n = ?3 WHERE sid = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    if (last) {
        sqlite3_bind_null(st, 2);
        sqlite3_bind_null(st, 3);
    } else {
        sqlite3_bind_int64(st, 2, end_at);
        sqlite3_bind_int64(st, 3, end_n);
    }
    return store_done(st);
}

cx_err inspect_thin_run(inspect_service *s, uint64_t *thinned)
{
    thin_job j = {0};
    uint64_t total = 0;
    cx_err e;
    do { /* one short job at a time, so that live sessions keep flowing; a
          * stop ends it between jobs (the position is kept for the restart) */
        if (inspect__stopping(s)) {
            e = CX_ESHUTDOWN;
            break;
        }
        e = store_write(s->store, thin__chunk, &j);
        if (e == CX_OK && !j.idle) {
            total += j.deleted;
            atomic_fetch_add(&s->m_thin_jobs, 1);
        }
    } while (e == CX_OK && !j.idle);
    atomic_fetch_add(&s->m_thinned, total);
    if (thinned)
        *thinned = total;
    return e;
}

/* ---- close ----------------------------------------------------------------------------- */

static cx_err close__store(store_conn *w, inspect_job *j)
{
    sess_job *sj = (sess_job *)j;
    cx_err e = sess__open_in(w, sj->sid);
    if (e != CX_OK)
        return e;
    /* the frames are thinned after, in bounded jobs (inspect_thin_run) */
    sqlite3_stmt *st = store_stmt(w, "UPDATE inspect_sessions SET status = 'closed', "
                                     "closed_at = ?2, closed_us = ?3, thin_at = ?4, thin_n = 0 "
                                     "WHERE sid = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sj->sid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sj->at, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sj->at_us);
    sqlite3_bind_int64(st, 4, INT64_MIN);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    json_t *data = json_object();
    e = sess__event(w, j->svc, sj->sid, "closed", data, sj->by, sj->at, &sj->event);
    json_decref(data);
    if (e == CX_OK)
        sj->reply = sess__json(w, sj->sid, &e);
    return e;
}

static void close__done(inspect_job *j, cx_err result)
{
    sess_job *sj = (sess_job *)j;
    if (sess__closed_reply(j->req, result))
        return;
    if (result == CX_OK)
        inspect__thin_kick(j->svc);
    http_reply_json(j->req, 200, sj->reply);
    sj->reply = NULL;
}

static void h_close(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!sess__known(r, s, "close inspection sessions"))
        return;
    size_t len;
    const char *body = http_body(r, &len);
    if (len && strspn(body, " \t\r\n") != len && !(len == 2 && memcmp(body, "{}", 2) == 0)) {
        http_reply_error1(r, 400, "invalid_session", "the close has 1 problem", "",
                          "must be empty or {}");
        return;
    }
    sess_job *sj = sess__job(r, s, close__store, close__done);
    if (sj)
        inspect__submit(&sj->base);
}

/* ---- the stream and the replay ---------------------------------------------------------- */

static void h_stream(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!sess__known(r, s, "follow inspection sessions"))
        return;
    int64_t after = 0;
    if (!http_query_int(r, "after", 0, INT64_MAX, &after))
        return;
    const char *lei = http_header(r, "Last-Event-ID");
    int64_t v;
    if (!http_query(r, "after") && lei && cx_parse_i64(lei, &v) && v >= 0)
        after = v;
    inspect__hub_serve(s, r, http_param(r, "sid"), after);
}

static void h_events(http_req *r, void *ctx)
{
    inspect_service *s = ctx;
    if (!sess__known(r, s, "replay inspection sessions"))
        return;
    http_page pg;
    if (!http_page_parse(r, HTTP_CURSOR_INT, 200, 1000, &pg))
        return;
    store_conn *c = store_reader(s->store);
    /* data is copied into the page as it is stored: json_valid keeps a
     * damaged row from making the whole 200 something that does not parse */
    sqlite3_stmt *st = store_stmt(c, "SELECT id, kind, data, json_valid(data) IS 1 "
                                     "FROM inspect_events WHERE sid = ?1 AND id > ?2 ORDER BY id");
    if (!st) {
        http_reply_error(r, 503, "unavailable", "the events cannot be read; retry", NULL);
        return;
    }
    http_pager p;
    http_pager_init(&p, pg.limit, HTTP_PAGE_BUDGET);
    sqlite3_bind_text(st, 1, http_param(r, "sid"), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, pg.after);
    int64_t last = 0;
    while (store_row(st, &p.out) && http_pager_item(&p)) {
        last = sqlite3_column_int64(st, 0);
        if (!sqlite3_column_int(st, 3)) {
            cx_log(CX_LOG_ERROR, "inspect: stored data of event %lld does not parse",
                   (long long)last);
            http_pager_fail(&p, CX_EPARSE); /* 500 "a stored record is damaged" */
            break;
        }
        /* a failed append fails the page: the buffer keeps the first error */
        cx_err e = cx_buf_printf(&p.out, "{\"id\":%lld,\"event\":", (long long)last);
        e = e ? e : cx_buf_json_str(&p.out, (const char *)sqlite3_column_text(st, 1));
        e = e ? e : cx_buf_puts(&p.out, ",\"data\":");
        e = e ? e : cx_buf_append(&p.out, sqlite3_column_text(st, 2),
                                  (size_t)sqlite3_column_bytes(st, 2));
        http_pager_fail(&p, e ? e : cx_buf_puts(&p.out, "}"));
    }
    sqlite3_reset(st);
    http_pager_reply_after(&p, r, last); /* or the page's error */
    http_pager_free(&p);
}

cx_err inspect__session_routes(inspect_service *s, http_server *srv)
{
    static const http_route_def defs[] = {
        {"POST", "/v1/declarations/{id}/sessions", HTTP_AUTH, h_open, NULL},
        {"GET", "/v1/declarations/{id}/sessions", HTTP_AUTH, h_list, "limit cursor"},
        {"GET", "/v1/sessions/{sid}", HTTP_AUTH, h_get, NULL},
        {"GET", "/v1/sessions/{sid}/frames/{n}", HTTP_AUTH, h_frame_get, NULL},
        {"POST", "/v1/sessions/{sid}/annotations", HTTP_AUTH | HTTP_JSON, h_annotate, NULL},
        {"POST", "/v1/sessions/{sid}/close", HTTP_AUTH, h_close, NULL},
        {"GET", "/v1/sessions/{sid}/stream", HTTP_AUTH, h_stream, "after"},
        {"GET", "/v1/sessions/{sid}/events", HTTP_AUTH, h_events, "limit cursor"},
    };
    cx_err e = http_routes(srv, defs, sizeof defs / sizeof defs[0], s);
    static const char *const jpeg[] = {"image/jpeg", NULL};
    if (e == CX_OK)
        e = http_route_ex(srv, "POST", "/v1/sessions/{sid}/frames", HTTP_AUTH,
                          &(http_route_opts){.max_body = INSPECT_FRAME_MAX, .accept = jpeg,
                                             .query = ""},
                          h_frame_post, s);
    return e;
}
