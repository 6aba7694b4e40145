/* Long-lived responses (Server-Sent Events): a content reader that parks the
 * connection when there is nothing to send and is woken from other threads. */
#include "http_int.h"

#include <stdlib.h>
#include <time.h>

/* Runs on the connection's own thread, so it may block: it waits for a
 * wake-up (or a second, so the source can send heartbeats) instead of
 * returning 0, which MHD would turn into a busy loop. */
static ssize_t stream__read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_stream *st = cls;
    for (;;) {
        if (atomic_load(&st->srv->draining))
            return MHD_CONTENT_READER_END_OF_STREAM;
        ssize_t n = st->fn(st->ctx, buf, max);
        if (n > 0)
            return n;
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&st->mu);
        if (!st->wake_pending && !st->ended) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        }
        st->wake_pending = false;
        bool ended = st->ended;
        pthread_mutex_unlock(&st->mu);
        if (ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
}

static void stream__free(void *cls)
{
    http_stream *st = cls;
    if (st->free_ctx)
        st->free_ctx(st->ctx);
    http_server *s = st->srv;
    pthread_mutex_lock(&s->streams_mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&s->streams_mu);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

http_stream *http_reply_stream(http_req *r, unsigned status, const char *ctype,
                               http_stream_fn fn, void *ctx, void (*free_ctx)(void *ctx))
{
    http_stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (free_ctx)
            free_ctx(ctx);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return NULL;
    }
    st->srv = r->srv;
    st->conn = r->conn;
    st->fn = fn;
    st->ctx = ctx;
    st->free_ctx = free_ctx;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream__read, st,
                                          stream__free);
    if (!resp) {
        stream__free(st);
        http_reply_error(r, 500, "internal", "cannot create the stream", NULL);
        return NULL;
    }
    http_server *s = r->srv;
    pthread_mutex_lock(&s->streams_mu);
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    pthread_mutex_unlock(&s->streams_mu);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    /* Reuse the ordinary reply path for headers and the state machine. */
    http_reply_header(r, "Content-Type", ctype);
    pthread_mutex_lock(&r->mu);
    r->resp = resp;
    r->status = status;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nhdrs; i++)
        MHD_add_response_header(resp, r->hdr_names[i], r->hdr_values[i]);
    return st;
}

void http_stream_wake(http_stream *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->wake_pending = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

void http__streams_end(http_server *s)
{
    pthread_mutex_lock(&s->streams_mu);
    for (http_stream *st = s->streams; st; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->ended = true;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->streams_mu);
}
