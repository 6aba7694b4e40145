/* GET /v1/drones/stream: live positions as Server-Sent Events, at most one
 * per drone per second of event time. A ring of the last HUB_RING events,
 * each framed already; every client has a cursor into it. A client that
 * falls behind the ring is disconnected (EventSource reconnects and starts
 * from the live edge: positions are a picture of now, not a log). The hub
 * sends a comment line every HUB_PING_S to a quiet stream, which keeps
 * proxies open and frees dead clients' slots. */
#include "drones_svc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_RING 4096
#define HUB_SUBS 256
#define HUB_PING_S 15
#define HUB_PEND_MAX ((size_t)1 << 20)

/* The subscribers, the hello, the heartbeats and the pending text are
 * src/http's hub (http_hub); the ring and each client's cursor are here. */
struct drones_hub {
    pthread_mutex_t mu; /* the ring and last */
    char *ring[HUB_RING];
    uint64_t head;
    drones_map last; /* drone key -> event time of its last published position */
    http_hub *sse;
};

drones_hub *drones__hub_new(void)
{
    drones_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    http_hub_config cfg = {.hello = "retry: 2000\n: customs drone positions\n\n",
                           .heartbeat_s = HUB_PING_S,
                           .pend_max = HUB_PEND_MAX};
    if (http_hub_new(&cfg, &h->sse) != CX_OK) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    drones__map_init(&h->last);
    return h;
}

void drones__hub_free(drones_hub *h)
{
    if (!h)
        return;
    http_hub_free(h->sse);
    for (size_t i = 0; i < HUB_RING; i++)
        free(h->ring[i]);
    drones__map_free(&h->last);
    pthread_mutex_destroy(&h->mu);
    free(h);
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
        }
        free(data);
    }
    pthread_mutex_unlock(&h->mu);
    http_hub_wake(h->sse, NULL);
}

void drones__hub_close(drones_hub *h)
{
    http_hub_close(h->sse);
}

/* A client's cursor into the ring. */
typedef struct {
    drones_hub *h;
    uint64_t next;
} hub_sub;

static cx_err hub__fill(void *ctx, cx_buf *out, bool *last)
{
    (void)last;
    hub_sub *s = ctx;
    drones_hub *h = s->h;
    pthread_mutex_lock(&h->mu);
    /* a client too far behind ends (positions are a picture of now) */
    cx_err e = h->head > s->next + HUB_RING ? CX_ESTATE : CX_OK;
    while (e == CX_OK && s->next < h->head && out->len < HUB_PEND_MAX / 2)
        e = cx_buf_puts(out, h->ring[s->next++ % HUB_RING]);
    pthread_mutex_unlock(&h->mu);
    return e; /* a stream that lost an event ends; the client reconnects */
}

void drones__hub_serve(drones_hub *h, http_req *r)
{
    if (http_hub_clients(h->sse) >= HUB_SUBS) {
        http_reply_error(r, 503, "unavailable", "too many position streams; retry later", NULL);
        return;
    }
    hub_sub *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(r, 503, "unavailable", "out of memory", NULL);
        return;
    }
    s->h = h;
    pthread_mutex_lock(&h->mu);
    s->next = h->head; /* from the live edge */
    pthread_mutex_unlock(&h->mu);
    http_hub_serve(h->sse, r, NULL, hub__fill, s, free);
}
