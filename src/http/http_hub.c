/* SSE hubs: the subscribers of one kind of Server-Sent Events stream.
 *
 * What a hub does is the part every stream shares: the list of open
 * streams, waking them (all, or those of one topic), text waiting to go out
 * (capped), the hello that comes first, comment-line heartbeats from a
 * thread of its own, and ending them all at stop. What a stream sends is
 * its owner's: fill() appends what is new for that subscriber, from a ring
 * in memory or from the database, and keeps its own cursor. A pull of a
 * stream runs on one worker at a time (http_stream.c), so a subscriber's
 * text and cursor need no lock; the list does. */
#include "http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HUB_TOPIC_MAX 127
#define HUB_HELLO_MAX 256

typedef struct hub_sub {
    http_hub *hub;
    http_stream *st;
    char topic[HUB_TOPIC_MAX + 1];
    http_hub_fill_fn fill;
    void *ctx;
    void (*free_ctx)(void *ctx);
    cx_buf pend;
    size_t off;
    uint64_t beat_seen; /* the hub's heartbeat count at this stream's last pull */
    bool last;          /* fill said so: end once pend is sent */
    struct hub_sub *prev, *next;
    bool linked;
} hub_sub;

struct http_hub {
    pthread_mutex_t mu;
    hub_sub *subs;
    size_t n;
    char hello[HUB_HELLO_MAX];
    size_t pend_max;
    int64_t beat_us;
    atomic_uint_fast64_t beats;
    atomic_bool closed;
    /* the heartbeat thread */
    pthread_t thr;
    bool thr_started, thr_stop;
    pthread_mutex_t thr_mu;
    pthread_cond_t thr_cv;
};

static void hub__wake(http_hub *h, const char *topic)
{
    pthread_mutex_lock(&h->mu);
    for (hub_sub *s = h->subs; s; s = s->next)
        if (s->st && (!topic || strcmp(s->topic, topic) == 0))
            http_stream_wake(s->st);
    pthread_mutex_unlock(&h->mu);
}

static void *hub__beat_main(void *arg)
{
    http_hub *h = arg;
    pthread_mutex_lock(&h->thr_mu);
    while (!h->thr_stop) {
        int64_t at = cx_mono_us() + h->beat_us;
        struct timespec ts = {.tv_sec = (time_t)(at / 1000000), .tv_nsec = (long)(at % 1000000) * 1000};
        pthread_cond_timedwait(&h->thr_cv, &h->thr_mu, &ts);
        if (h->thr_stop)
            break;
        pthread_mutex_unlock(&h->thr_mu);
        http_hub_beat(h);
        pthread_mutex_lock(&h->thr_mu);
    }
    pthread_mutex_unlock(&h->thr_mu);
    return NULL;
}

cx_err http_hub_new(const http_hub_config *cfg, http_hub **out)
{
    *out = NULL;
    http_hub *h = calloc(1, sizeof *h);
    if (!h)
        return CX_ENOMEM;
    if (cfg && cfg->hello && strlen(cfg->hello) >= sizeof h->hello) {
        free(h);
        return CX_EINVAL;
    }
    snprintf(h->hello, sizeof h->hello, "%s", cfg && cfg->hello ? cfg->hello : "");
    h->pend_max = cfg && cfg->pend_max ? cfg->pend_max : (size_t)4 << 20;
    h->beat_us = (cfg && cfg->heartbeat_s ? cfg->heartbeat_s : 15) * (int64_t)1000000;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->thr_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->thr_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->thr, NULL, hub__beat_main, h) != 0) {
        http_hub_free(h);
        return CX_EUNAVAIL;
    }
    h->thr_started = true;
    pthread_setname_np(h->thr, "sse-beat");
    *out = h;
    return CX_OK;
}

void http_hub_close(http_hub *h)
{
    if (!h)
        return;
    if (h->thr_started) {
        pthread_mutex_lock(&h->thr_mu);
        h->thr_stop = true;
        pthread_cond_signal(&h->thr_cv);
        pthread_mutex_unlock(&h->thr_mu);
        pthread_join(h->thr, NULL);
        h->thr_started = false;
    }
    atomic_store(&h->closed, true);
    hub__wake(h, NULL); /* each ends at its next pull */
}

void http_hub_free(http_hub *h)
{
    if (!h)
        return;
    http_hub_close(h);
    /* Streams end before their hub is freed (http_server_free first); one
     * still here would point at a freed hub. */
    for (hub_sub *s = h->subs; s; s = s->next)
        s->linked = false;
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->thr_mu);
    pthread_cond_destroy(&h->thr_cv);
    free(h);
}

void http_hub_wake(http_hub *h, const char *topic)
{
    hub__wake(h, topic);
}

void http_hub_beat(http_hub *h)
{
    atomic_fetch_add(&h->beats, 1);
    hub__wake(h, NULL);
}

size_t http_hub_clients(http_hub *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->n;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static ssize_t hub__read(void *arg, char *buf, size_t max)
{
    hub_sub *s = arg;
    http_hub *h = s->hub;
    if (atomic_load(&h->closed))
        return -1;
    if (s->off < s->pend.len)
        return http_stream_drain(&s->pend, &s->off, buf, max);
    if (s->last)
        return -1;
    cx_buf_reset(&s->pend);
    s->off = 0;
    uint64_t beats = atomic_load(&h->beats);
    if (s->fill(s->ctx, &s->pend, &s->last) != CX_OK || cx_buf_error(&s->pend))
        return -1; /* the client resumes with Last-Event-ID */
    if (!s->pend.len && !s->last && beats != s->beat_seen) {
        /* nothing sent since the last heartbeat: a comment keeps proxies
         * open, and a write to a dead client fails and frees its slot */
        char now[32];
        cx_rfc3339_format(cx_now_us(), now);
        if (cx_buf_printf(&s->pend, ": ping %s\n\n", now) != CX_OK)
            return -1;
    }
    s->beat_seen = beats;
    if (s->pend.len)
        return http_stream_drain(&s->pend, &s->off, buf, max);
    return s->last ? -1 : 0;
}

static void hub__free_sub(void *arg)
{
    hub_sub *s = arg;
    http_hub *h = s->hub;
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
    if (s->free_ctx)
        s->free_ctx(s->ctx);
    cx_buf_free(&s->pend);
    free(s);
}

void http_hub_serve(http_hub *h, http_req *r, const char *topic, http_hub_fill_fn fill, void *ctx,
                    void (*free_ctx)(void *ctx))
{
    hub_sub *s = calloc(1, sizeof *s);
    if (!s || (topic && strlen(topic) > HUB_TOPIC_MAX) || atomic_load(&h->closed)) {
        free(s);
        if (free_ctx)
            free_ctx(ctx);
        http_reply_error(r, 503, "unavailable", "cannot open a stream now; retry", NULL);
        return;
    }
    s->hub = h;
    s->fill = fill;
    s->ctx = ctx;
    s->free_ctx = free_ctx;
    s->beat_seen = atomic_load(&h->beats);
    snprintf(s->topic, sizeof s->topic, "%s", topic ? topic : "");
    cx_buf_init(&s->pend, h->pend_max);
    if (cx_buf_puts(&s->pend, h->hello) != CX_OK) {
        hub__free_sub(s);
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
    /* on failure (429 over the stream limits) hub__free_sub has run */
    http_stream *st = http_reply_stream(r, 200, "text/event-stream; charset=utf-8", hub__read, s,
                                        hub__free_sub);
    if (st) {
        pthread_mutex_lock(&h->mu);
        s->st = st;
        pthread_mutex_unlock(&h->mu);
        http_stream_wake(st); /* what was published between the subscription and now */
    }
}
