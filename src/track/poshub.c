/* The live positions feed (Server-Sent Events) and GET /v1/positions: the
 * latest durable report of every device with a generation number; each
 * client gets the devices that changed since its last push, at most every
 * interval_ms, optionally within a bounding box. The streams themselves
 * (their list, hello, pending text, the comment line every heartbeat_s that
 * keeps proxies open) are src/http's hub; the service's ticker wakes them
 * every 250 ms and each push decides whether it is due. (The alert stream
 * is the alert module's.) */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_PEND_MAX ((size_t)64 << 20)

/* ---- positions --------------------------------------------------------------------- */

typedef struct {
    int64_t key;
    uint64_t gen;
    char id[TRACK_ID_MAX + 1];
    char org[CX_ORG_MAX + 1];
    char container[16];
    char consignment[TRACK_ID_MAX + 1];
    int64_t ts;
    double lat, lon, speed, heading, temp, batt;
    uint8_t seal, door;
} pos_slot;

/* A stream's filter and cursor (GET /v1/positions uses the filter alone). */
typedef struct pos_sub {
    track_poshub *p;
    uint64_t last_gen;
    int64_t interval_us, next_due;
    bool restricted;
    char org[CX_ORG_MAX + 1];
    bool bbox;
    double minlon, minlat, maxlon, maxlat;
} pos_sub;

struct track_poshub {
    pthread_mutex_t mu;
    pos_slot *v;
    size_t n, cap;
    cx_map by_key;
    uint64_t gen;
    http_hub *sse;
};

track_poshub *track__poshub_new(unsigned heartbeat_s)
{
    track_poshub *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    http_hub_config cfg = {.hello = "retry: 2000\n: customs positions stream\n\n",
                           .heartbeat_s = heartbeat_s,
                           .pend_max = HUB_PEND_MAX};
    if (http_hub_new(&cfg, &p->sse) != CX_OK) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void track__poshub_close(track_poshub *p)
{
    if (p)
        http_hub_close(p->sse);
}

void track__poshub_free(track_poshub *p)
{
    if (!p)
        return;
    http_hub_free(p->sse);
    free(p->v);
    cx_map_free(&p->by_key);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void track__poshub_update(track_poshub *p, const track_state_row *rows, size_t n,
                          const track_pos_row *pos, size_t npos)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        const track_state_row *r = &rows[i];
        int64_t k = cx_map_iget(&p->by_key, r->dev);
        if (k < 0) {
            if (p->n == p->cap) {
                size_t nc = p->cap ? p->cap * 2 : 1024;
                pos_slot *nv = realloc(p->v, nc * sizeof *nv);
                if (!nv)
                    continue;
                p->v = nv;
                p->cap = nc;
            }
            k = (int64_t)p->n;
            if (cx_map_iset(&p->by_key, r->dev, k) != CX_OK)
                continue;
            p->n++;
            memset(&p->v[k], 0, sizeof p->v[k]);
        }
        pos_slot *s = &p->v[k];
        s->key = r->dev;
        memcpy(s->id, r->id, sizeof s->id);
        memcpy(s->org, r->org, sizeof s->org);
        memcpy(s->container, r->container, sizeof s->container);
        memcpy(s->consignment, r->consignment, sizeof s->consignment);
        if (r->ts >= s->ts) {
            s->gen = ++p->gen;
            s->ts = r->ts;
            s->lat = r->lat;
            s->lon = r->lon;
            s->speed = r->speed;
            s->heading = r->heading;
            s->temp = r->temp;
            s->batt = r->batt;
            s->seal = r->seal;
            s->door = r->door;
        }
    }
    /* every committed report, in order; a late one does not move a device back */
    for (size_t i = 0; i < npos; i++) {
        const track_pos_row *r = &pos[i];
        int64_t k = cx_map_iget(&p->by_key, r->dev);
        if (k < 0)
            continue;
        pos_slot *s = &p->v[k];
        if (r->ts < s->ts)
            continue;
        s->gen = ++p->gen;
        s->ts = r->ts;
        s->lat = r->lat;
        s->lon = r->lon;
        s->speed = r->speed;
        s->heading = r->heading;
        if (!isnan(r->temp))
            s->temp = r->temp;
        if (!isnan(r->batt))
            s->batt = r->batt;
        if (r->seal)
            s->seal = r->seal;
        if (r->door)
            s->door = r->door;
    }
    pthread_mutex_unlock(&p->mu);
}

bool track__poshub_get(track_poshub *p, int64_t key, track_state_row *out)
{
    pthread_mutex_lock(&p->mu);
    int64_t k = cx_map_iget(&p->by_key, key);
    bool ok = k >= 0 && p->v[k].ts > 0;
    if (ok) {
        const pos_slot *s = &p->v[k];
        memset(out, 0, sizeof *out);
        out->dev = key;
        out->ts = s->ts;
        out->lat = s->lat;
        out->lon = s->lon;
        out->speed = s->speed;
        out->heading = s->heading;
        out->temp = s->temp;
        out->batt = s->batt;
        out->seal = s->seal;
        out->door = s->door;
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void track__poshub_tick(track_poshub *p)
{
    http_hub_wake(p->sse, NULL);
}

size_t track__poshub_clients(track_poshub *p)
{
    return http_hub_clients(p->sse);
}

static cx_err pos__num(cx_buf *b, const char *name, double v, int prec)
{
    if (isnan(v))
        return cx_buf_printf(b, ",\"%s\":null", name);
    return cx_buf_printf(b, ",\"%s\":%.*f", name, prec, v);
}

static cx_err pos__str(cx_buf *b, const char *name, const char *v)
{
    cx_err e = cx_buf_printf(b, ",\"%s\":", name);
    if (e == CX_OK)
        e = v && v[0] ? cx_buf_json_str(b, v) : cx_buf_puts(b, "null");
    return e;
}

/* One position as JSON (the item of GET /v1/positions and the stream). */
static cx_err pos__item(cx_buf *b, const pos_slot *s)
{
    static const char *const seals[] = {NULL, "closed", "open", "tampered"};
    static const char *const doors[] = {NULL, "closed", "open"};
    char tm[32];
    cx_rfc3339_format(s->ts * 1000, tm);
    cx_err e = cx_buf_puts(b, "{\"device\":");
    if (e == CX_OK)
        e = cx_buf_json_str(b, s->id);
    if (e == CX_OK)
        e = pos__str(b, "container", s->container);
    if (e == CX_OK)
        e = pos__str(b, "consignment", s->consignment);
    if (e == CX_OK)
        e = pos__str(b, "time", tm);
    if (e == CX_OK)
        e = cx_buf_printf(b, ",\"lat\":%.7f,\"lon\":%.7f", s->lat, s->lon);
    if (e == CX_OK)
        e = pos__num(b, "speed_kmh", s->speed, 1);
    if (e == CX_OK)
        e = pos__num(b, "heading", s->heading, 1);
    if (e == CX_OK)
        e = pos__str(b, "seal", s->seal && s->seal < 4 ? seals[s->seal] : NULL);
    if (e == CX_OK)
        e = pos__str(b, "door", s->door && s->door < 3 ? doors[s->door] : NULL);
    if (e == CX_OK)
        e = pos__num(b, "temp_c", s->temp, 2);
    if (e == CX_OK)
        e = pos__num(b, "battery_pct", s->batt, 1);
    return e == CX_OK ? cx_buf_puts(b, "}") : e;
}

static bool pos__pass(const pos_sub *q, const pos_slot *s)
{
    if (q->restricted && strcmp(q->org, s->org) != 0)
        return false;
    if (!q->bbox)
        return true;
    if (s->lat < q->minlat || s->lat > q->maxlat)
        return false;
    if (q->minlon <= q->maxlon)
        return s->lon >= q->minlon && s->lon <= q->maxlon;
    return s->lon >= q->minlon || s->lon <= q->maxlon; /* box across the antimeridian */
}

/* The hub's fill: when the stream's interval has come, one event with the
 * devices it may see that changed since its last push. */
static cx_err pos__fill(void *ctx, cx_buf *out, bool *last)
{
    (void)last;
    pos_sub *q = ctx;
    track_poshub *p = q->p;
    int64_t now = cx_mono_us();
    if (now < q->next_due)
        return CX_OK;
    q->next_due = now + q->interval_us;
    pthread_mutex_lock(&p->mu);
    size_t items = 0;
    cx_err e = CX_OK;
    for (size_t i = 0; i < p->n && e == CX_OK; i++) {
        const pos_slot *s = &p->v[i];
        if (s->gen <= q->last_gen || !pos__pass(q, s))
            continue;
        e = cx_buf_puts(out, items ? "," : "event: positions\ndata: {\"items\":[");
        if (e == CX_OK)
            e = pos__item(out, s);
        items++;
    }
    if (items && e == CX_OK) {
        char tm[32];
        cx_rfc3339_format(cx_now_us(), tm);
        e = cx_buf_printf(out, "],\"at\":\"%s\"}\n\n", tm);
    }
    q->last_gen = p->gen;
    pthread_mutex_unlock(&p->mu);
    /* a push that does not fit its buffer ends the stream rather than send
     * half an event; the client reconnects */
    return e;
}

/* Parses "minlon,minlat,maxlon,maxlat". */
static bool pos__bbox(const char *v, pos_sub *q)
{
    char buf[128];
    const char *tok[4];
    double d[4];
    if (cx_split(v, ',', buf, sizeof buf, tok, 4) != 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (!cx_parse_double(tok[i], &d[i]))
            return false;
    /* each corner in range (a minlon east of maxlon is a box across the
     * antimeridian, so each longitude is checked on its own) */
    for (int i = 0; i < 4; i += 2)
        if (d[i] < -180 || d[i] > 180 || d[i + 1] < -90 || d[i + 1] > 90)
            return false;
    if (d[1] > d[3])
        return false;
    q->bbox = true;
    q->minlon = d[0];
    q->minlat = d[1];
    q->maxlon = d[2];
    q->maxlat = d[3];
    return true;
}

void track__poshub_serve(track_poshub *p, http_req *r)
{
    const cx_principal *who = http_principal(r);
    pos_sub *q = calloc(1, sizeof *q);
    if (!q) {
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    q->p = p;
    q->interval_us = 1000000;
    const char *iv = http_query(r, "interval_ms"), *bb = http_query(r, "bbox");
    int64_t ms;
    if (iv && (!cx_parse_i64(iv, &ms) || ms < 250 || ms > 60000)) {
        free(q);
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/interval_ms",
                          "must be from 250 to 60000");
        return;
    }
    if (iv)
        q->interval_us = ms * 1000;
    if (bb && !pos__bbox(bb, q)) {
        free(q);
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/bbox",
                          "must be minlon,minlat,maxlon,maxlat: longitudes -180 to 180, "
                          "latitudes -90 to 90, minlat not above maxlat");
        return;
    }
    if (who->role == CX_ROLE_CARRIER) {
        q->restricted = true;
        snprintf(q->org, sizeof q->org, "%s", who->org);
    }
    /* next_due 0: the first push is every device's latest position */
    http_hub_serve(p->sse, r, NULL, pos__fill, q, free);
}

/* GET /v1/positions: every device's latest durable report, one page. */
void track__positions_page(track_poshub *p, const cx_principal *who, const http_page *page,
                           http_pager *pg, int64_t *next)
{
    pos_sub filter = {0};
    if (who && !cx_is_officer(who)) {
        filter.restricted = true;
        snprintf(filter.org, sizeof filter.org, "%s", who->org);
    }
    pthread_mutex_lock(&p->mu);
    size_t i = (size_t)page->after;
    for (; i < p->n; i++) {
        if (!pos__pass(&filter, &p->v[i]))
            continue;
        if (!http_pager_item(pg) || pos__item(&pg->out, &p->v[i]) != CX_OK)
            break;
    }
    *next = (int64_t)i; /* the cursor: slots before it were read */
    pthread_mutex_unlock(&p->mu);
}
