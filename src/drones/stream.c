/* GET /v1/drones/stream: live positions as Server-Sent Events, at most one
 * per drone per second of event time. A ring of the last HUB_RING events,
 * each framed already; every client has a cursor into it. A client that
 * falls behind the ring is disconnected (EventSource reconnects and starts
 * from the live edge: positions are a picture of now, not a log). A comment
 * line every HUB_PING_S keeps proxies open and frees dead clients' slots. */
#include "drones_svc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_RING 4096
#define HUB_SUBS 256
#define HUB_PING_S 15
#define HUB_PEND_MAX ((size_t)1 << 20)

typedef struct hub_sub hub_sub;
struct drones_hub {
    pthread_mutex_t mu;
    char *ring[HUB_RING];
    uint64_t head;
    drones_map last; /* drone key -> event time of its last published position */
    hub_sub *subs[HUB_SUBS + 64]; /* slack for handlers racing past the check */
    size_t nsubs;
    bool closed;
};

struct hub_sub {
    drones_hub *h;
    http_stream *st;
    uint64_t next;
    int64_t last_write;
    bool hello;
    cx_buf pend;
    size_t off;
};

drones_hub *drones__hub_new(void)
{
    drones_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    drones__map_init(&h->last);
    return h;
}

void drones__hub_free(drones_hub *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < HUB_RING; i++)
        free(h->ring[i]);
    drones__map_free(&h->last);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static void hub__wake_all(drones_hub *h)
{
    for (size_t i = 0; i < h->nsubs; i++)
        http_stream_wake(h->subs[i]->st);
}

void drones__hub_position(drones_hub *h, const drones_state *s, int64_t t)
{
    if (!s->pos_time_us || !s->key)
        return;
    pthread_mutex_lock(&h->mu);
    uintptr_t last = (uintptr_t)drones__map_get(&h->last, &s->key, sizeof s->key);
    if (last && t < (int64_t)last + 1000000) {
        pthread_mutex_unlock(&h->mu);
        return;
    }
    drones__map_put(&h->last, &s->key, sizeof s->key, (void *)(uintptr_t)t);
    char tm[32];
    cx_rfc3339_format(t, tm);
    json_t *j = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "uas_id", s->id, "time",
                          tm, "lat", drones__num(s->lat), "lon", drones__num(s->lon),
                          "alt_geo_m", drones__num(s->alt_geo_m), "height_m",
                          drones__num(s->height_m), "speed_h_mps", drones__num(s->speed_h_mps),
                          "direction_deg", drones__num(s->direction_deg), "operator_lat",
                          drones__num(s->op_lat), "operator_lon", drones__num(s->op_lon));
    char *data = j ? cx_json_dump(j, NULL) : NULL;
    json_decref(j);
    if (data) {
        size_t n = strlen(data) + 32;
        char *ev = malloc(n);
        if (ev) {
            snprintf(ev, n, "event: position\ndata: %s\n\n", data);
            free(h->ring[h->head % HUB_RING]);
            h->ring[h->head % HUB_RING] = ev;
            h->head++;
            hub__wake_all(h);
        }
        free(data);
    }
    pthread_mutex_unlock(&h->mu);
}

void drones__hub_tick(drones_hub *h)
{
    pthread_mutex_lock(&h->mu);
    hub__wake_all(h);
    pthread_mutex_unlock(&h->mu);
}

void drones__hub_close(drones_hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->closed = true;
    hub__wake_all(h);
    pthread_mutex_unlock(&h->mu);
}

static ssize_t hub__read(void *ctx, char *buf, size_t max)
{
    hub_sub *s = ctx;
    drones_hub *h = s->h;
    pthread_mutex_lock(&h->mu);
    if (h->closed) {
        pthread_mutex_unlock(&h->mu);
        return -1;
    }
    if (s->off >= s->pend.len) {
        cx_buf_reset(&s->pend);
        s->off = 0;
        cx_err e = CX_OK;
        if (!s->hello) {
            e = cx_buf_puts(&s->pend, "retry: 2000\n: customs drone positions\n\n");
            s->hello = true;
        }
        if (h->head > s->next + HUB_RING) {
            pthread_mutex_unlock(&h->mu);
            return -1; /* too far behind */
        }
        while (e == CX_OK && s->next < h->head && s->pend.len < HUB_PEND_MAX / 2)
            e = cx_buf_puts(&s->pend, h->ring[s->next++ % HUB_RING]);
        int64_t now = cx_mono_us();
        if (e == CX_OK && !s->pend.len && now - s->last_write >= HUB_PING_S * 1000000LL)
            e = cx_buf_puts(&s->pend, ": ping\n\n");
        if (e != CX_OK) { /* a stream that lost an event ends; the client reconnects */
            pthread_mutex_unlock(&h->mu);
            return -1;
        }
        if (s->pend.len)
            s->last_write = now;
    }
    ssize_t n = http_stream_drain(&s->pend, &s->off, buf, max);
    pthread_mutex_unlock(&h->mu);
    return n;
}

static void hub__free_sub(void *ctx)
{
    hub_sub *s = ctx;
    drones_hub *h = s->h;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->nsubs; i++)
        if (h->subs[i] == s) {
            h->subs[i] = h->subs[--h->nsubs];
            break;
        }
    pthread_mutex_unlock(&h->mu);
    cx_buf_free(&s->pend);
    free(s);
}

void drones__hub_serve(drones_hub *h, http_req *r)
{
    hub_sub *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(r, 503, "unavailable", "out of memory", NULL);
        return;
    }
    s->h = h;
    s->last_write = cx_mono_us();
    cx_buf_init(&s->pend, HUB_PEND_MAX);
    pthread_mutex_lock(&h->mu);
    bool full = h->nsubs >= HUB_SUBS || h->closed;
    s->next = h->head;
    pthread_mutex_unlock(&h->mu);
    if (full) {
        cx_buf_free(&s->pend);
        free(s);
        http_reply_error(r, 503, "unavailable", "too many position streams; retry later", NULL);
        return;
    }
    http_stream *st = http_reply_stream(r, 200, "text/event-stream; charset=utf-8", hub__read, s,
                                        hub__free_sub);
    if (!st)
        return; /* hub__free_sub has run */
    pthread_mutex_lock(&h->mu);
    s->st = st;
    if (h->nsubs < sizeof h->subs / sizeof h->subs[0])
        h->subs[h->nsubs++] = s;
    pthread_mutex_unlock(&h->mu);
}
