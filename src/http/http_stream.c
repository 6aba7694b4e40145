/* Long-lived responses (Server-Sent Events). The loop owns a stream; a pull
 * (one call of its fn) runs on a worker when the stream was woken or the
 * last pull gave data and that data is written; so an idle stream costs no
 * thread, and a slow reader makes no pull until it has read. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))
#define ST_PREFIX 16 /* room before the data for a chunk-size line */

static void stream__run(http_task *t)
{
    http_stream *st = container_of(t, http_stream, task);
    st->got = st->fn(st->ctx, st->buf + ST_PREFIX, HTTP_STREAM_CHUNK);
    if (st->got > HTTP_STREAM_CHUNK)
        st->got = -1;
    http__post(st->srv, &st->ev_pull);
}

static void stream__free(http_stream *st)
{
    free(st->buf);
    free(st);
}

/* Over: the source lets go of its context; the connection closes. */
static void stream__finish(http_stream *st)
{
    http_server *s = st->srv;
    st->finished = true;
    if (st->free_ctx)
        st->free_ctx(st->ctx);
    if (st->counted)
        http__quota_give(s->quota, st->key_id, st->org, QUOTA_STREAM);
    atomic_fetch_sub(&s->n_streams, 1);
    if (atomic_fetch_sub(&s->inflight, 1) == 1 && atomic_load(&s->draining)) {
        pthread_mutex_lock(&s->drain_mu);
        pthread_cond_broadcast(&s->drain_cv);
        pthread_mutex_unlock(&s->drain_mu);
    }
    http_conn *c = st->conn;
    st->conn = NULL;
    /* a wake still queued refers to st: the loop frees it when it gets there */
    if (!(atomic_fetch_or(&st->wake, WAKE_DEAD) & WAKE_QUEUED))
        stream__free(st);
    if (c) {
        c->stream = NULL;
        if (c->state == C_CLOSED)
            http__conn_bury(c);
        else
            http__conn_close(c);
    }
}

/* Decides the next step; called after anything changed. */
static void stream__advance(http_stream *st)
{
    http_conn *c = st->conn;
    if (st->finished || st->pulling || !c)
        return;
    if (c->state == C_CLOSED || (st->closing && !st->writing)) {
        stream__finish(st);
        return;
    }
    if (st->writing)
        return;
    if (st->stop) {
        static char last[] = "0\r\n\r\n";
        st->closing = true;
        if (st->chunked) {
            st->writing = true;
            http__conn_write(c, last, sizeof last - 1, false);
            http__conn_drive(c);
        } else {
            stream__finish(st);
        }
        return;
    }
    if (st->want_pull) {
        st->want_pull = false;
        st->pulling = true;
        http__task(st->srv, &st->task);
    }
}

void http__stream_start(http_stream *st, http_conn *c)
{
    st->conn = c;
    c->stream = st;
    st->want_pull = true;
    stream__advance(st);
}

void http__stream_pulled(http_stream *st)
{
    st->pulling = false;
    http_conn *c = st->conn;
    if (st->got < 0) {
        st->stop = true;
    } else if (st->got > 0 && c && c->state != C_CLOSED) {
        size_t n = (size_t)st->got;
        char *data = st->buf + ST_PREFIX, *from = data;
        size_t len = n;
        if (st->chunked) {
            char line[ST_PREFIX];
            int hl = snprintf(line, sizeof line, "%zx\r\n", n);
            from = data - hl;
            memcpy(from, line, (size_t)hl);
            memcpy(data + n, "\r\n", 2);
            len = (size_t)hl + n + 2;
        }
        st->writing = true;
        st->want_pull = true; /* more may be ready: ask again once this is written */
        http__conn_write(c, from, len, false);
        http__conn_drive(c);
        return;
    }
    stream__advance(st);
}

void http__stream_woken(http_stream *st)
{
    if (atomic_fetch_and(&st->wake, ~WAKE_QUEUED) & WAKE_DEAD) {
        stream__free(st);
        return;
    }
    st->want_pull = true;
    stream__advance(st);
}

void http__stream_written(http_stream *st)
{
    st->writing = false;
    stream__advance(st);
}

void http__stream_stop(http_stream *st)
{
    st->stop = true;
    stream__advance(st);
}

void http__stream_gone(http_stream *st)
{
    st->writing = false;
    stream__advance(st); /* finishes now, or when the pull in progress returns */
}

void http__stream_discard(http_stream *st)
{
    st->conn = NULL;
    stream__finish(st);
}

http_stream *http_reply_stream(http_req *r, unsigned status, const char *ctype,
                               http_stream_fn fn, void *ctx, void (*free_ctx)(void *ctx))
{
    http_server *s = r->srv;
    const char *which = NULL;
    bool counted = false;
    if (r->has_principal) {
        if (!http__quota_take(s->quota, &r->principal, QUOTA_STREAM, s->max_streams_key,
                              s->max_streams_org, &which)) {
            if (free_ctx)
                free_ctx(ctx);
            atomic_fetch_add(&s->n_refused[REF_STREAMS], 1);
            char msg[96];
            snprintf(msg, sizeof msg, "this %s has too many open streams; close one first",
                     which);
            http_reply_header(r, "Retry-After", "10");
            http_reply_error(r, 429, "too_many_requests", msg, NULL);
            return NULL;
        }
        counted = true;
    }
    http_stream *st = calloc(1, sizeof *st);
    char *buf = malloc(ST_PREFIX + HTTP_STREAM_CHUNK + 2);
    if (!st || !buf) {
        free(st);
        free(buf);
        if (counted)
            http__quota_give(s->quota, r->principal.key_id, r->principal.org, QUOTA_STREAM);
        if (free_ctx)
            free_ctx(ctx);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return NULL;
    }
    st->srv = s;
    st->fn = fn;
    st->ctx = ctx;
    st->free_ctx = free_ctx;
    st->buf = buf;
    st->counted = counted;
    if (counted) {
        st->key_id = r->principal.key_id;
        snprintf(st->org, sizeof st->org, "%s", r->principal.org);
    }
    st->chunked = r->rq.minor >= 1;
    st->task.run = stream__run;
    st->ev_pull.kind = EV_PULLED;
    st->ev_wake.kind = EV_WAKE;
    atomic_fetch_add(&s->inflight, 1);
    atomic_fetch_add(&s->n_streams, 1);
    http_reply(r, status, ctype, NULL, 0);
    r->stream = st;
    return st;
}

void http_stream_wake(http_stream *st)
{
    if (!st)
        return;
    unsigned w = atomic_load(&st->wake);
    do
        if (w) /* queued already, or over */
            return;
    while (!atomic_compare_exchange_weak(&st->wake, &w, WAKE_QUEUED));
    http__post(st->srv, &st->ev_wake);
}
