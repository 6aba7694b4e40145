/* The live stream of a session (Server-Sent Events). Every event is stored
 * first (inspect_events, numbered per session); a stream keeps the number
 * of the last event it sent and, when woken after a commit, reads the
 * following ones from the database. So a client that reconnects with
 * Last-Event-ID (or ?after=) gets exactly what it missed, in order, and a
 * slow client costs a cursor, not a queue. The stream ends after "closed". */
#include "inspect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_BATCH 64
#define HUB_PEND_MAX ((size_t)4 << 20)

typedef struct hub_sub {
    inspect_hub *hub;
    inspect_service *svc;
    http_stream *st;
    char sid[CX_ID_LEN + 1];
    int64_t last; /* last event id sent */
    bool ended;   /* "closed" sent */
    cx_buf pend;
    size_t pend_off;
    struct hub_sub *prev, *next;
    bool linked;
} hub_sub;

struct inspect_hub {
    pthread_mutex_t mu;
    hub_sub *subs;
    size_t n;
};

inspect_hub *inspect__hub_new(void)
{
    inspect_hub *h = calloc(1, sizeof *h);
    if (h)
        pthread_mutex_init(&h->mu, NULL);
    return h;
}

void inspect__hub_free(inspect_hub *h)
{
    if (!h)
        return;
    for (hub_sub *s = h->subs; s; s = s->next)
        s->linked = false; /* streams end before the service is freed */
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Subscribers are few per process (bounded by the per-key and per-org
 * stream limits); a session's events wake only its own streams. */
void inspect__hub_wake(inspect_hub *h, const char *sid)
{
    pthread_mutex_lock(&h->mu);
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->st && strcmp(s->sid, sid) == 0)
            http_stream_wake(s->st);
    pthread_mutex_unlock(&h->mu);
}

void inspect__hub_close(inspect_hub *h)
{
    pthread_mutex_lock(&h->mu);
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->st)
            http_stream_wake(s->st);
    pthread_mutex_unlock(&h->mu);
}

size_t inspect__hub_clients(inspect_hub *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->n;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* Appends the events after s->last to s->pend. */
static cx_err hub__fill(hub_sub *s)
{
    store_conn *c = store_reader(s->svc->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT id, kind, data FROM inspect_events "
                                         "WHERE sid = ?1 AND id > ?2 ORDER BY id LIMIT 64")
                         : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, s->sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, s->last);
    cx_err e = CX_OK;
    int rc;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        e = cx_buf_printf(&s->pend, "id: %lld\nevent: %s\ndata: ", (long long)id, kind);
        e = e ? e : cx_buf_append(&s->pend, sqlite3_column_text(st, 2),
                                  (size_t)sqlite3_column_bytes(st, 2));
        e = e ? e : cx_buf_puts(&s->pend, "\n\n");
        s->last = id;
        if (strcmp(kind, "closed") == 0)
            s->ended = true;
    }
    sqlite3_reset(st);
    return e;
}

static ssize_t hub__read(void *ctx, char *buf, size_t max)
{
    hub_sub *s = ctx;
    if (s->pend_off < s->pend.len)
        return http_stream_drain(&s->pend, &s->pend_off, buf, max);
    if (s->ended)
        return -1;
    cx_buf_reset(&s->pend);
    s->pend_off = 0;
    if (hub__fill(s) != CX_OK)
        return -1; /* the client reconnects with Last-Event-ID */
    if (s->pend.len)
        return http_stream_drain(&s->pend, &s->pend_off, buf, max);
    return s->ended ? -1 : 0;
}

static void hub__free(void *ctx)
{
    hub_sub *s = ctx;
    inspect_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    if (s->linked) {
        if (s->prev)
            s->prev->next = s->next;
        else
            h->subs = s->next;
        if (s->next)
            s->next->prev = s->prev;
        h->n--;
        s->linked = false;
    }
    pthread_mutex_unlock(&h->mu);
    cx_buf_free(&s->pend);
    free(s);
}

void inspect__hub_serve(inspect_service *svc, http_req *r, const char *sid, int64_t after)
{
    inspect_hub *h = svc->hub;
    hub_sub *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    s->hub = h;
    s->svc = svc;
    s->last = after;
    snprintf(s->sid, sizeof s->sid, "%s", sid);
    cx_buf_init(&s->pend, HUB_PEND_MAX);
    /* retry: EventSource reconnects quickly, then resumes with Last-Event-ID */
    if (cx_buf_puts(&s->pend, "retry: 1000\n: customs session stream\n\n") != CX_OK) {
        cx_buf_free(&s->pend);
        free(s);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    pthread_mutex_lock(&h->mu);
    s->next = h->subs;
    if (h->subs)
        h->subs->prev = s;
    h->subs = s;
    h->n++;
    s->linked = true;
    pthread_mutex_unlock(&h->mu);
    http_stream *st = http_reply_stream(r, 200, "text/event-stream; charset=utf-8", hub__read, s,
                                        hub__free);
    if (st) {
        pthread_mutex_lock(&h->mu);
        s->st = st;
        pthread_mutex_unlock(&h->mu);
        http_stream_wake(st); /* events stored between the subscription and now */
    }
}
