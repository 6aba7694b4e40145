/* Server-Sent Events: the alert stream and the live positions feed.
 *
 * Alerts: a ring of the last HUB_RING events, each already framed as SSE
 * text ("id: <seq>\nevent: alert\ndata: {...}\n\n"); every client has a
 * cursor into it. A client that falls behind the ring is disconnected and
 * resumes with Last-Event-ID, which is served from the database. Comment
 * lines every heartbeat_s keep proxies open and let a write fail on a dead
 * client, which frees its slot.
 *
 * Positions: the latest report of every device with a generation number;
 * each client gets the devices that changed since its last push, at most
 * every interval_ms, optionally within a bounding box. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_RING 8192
#define HUB_CATCHUP 10000
#define HUB_PEND_MAX ((size_t)64 << 20)

/* ---- alerts ------------------------------------------------------------------------ */

typedef struct {
    int64_t seq; /* alert seq; 0 for ack events */
    uint8_t sev;
    bool ack;
    char org[CX_ORG_MAX + 1];
    char *text;
    size_t len;
} hub_ev;

typedef struct hub_sub {
    track_hub *hub;
    http_stream *st;
    uint64_t next;
    bool hb;
    bool restricted;
    char org[CX_ORG_MAX + 1];
    int min_sev;
    uint32_t types; /* bit per alert type; 0 = all */
    cx_buf pend;
    size_t pend_off;
    struct hub_sub *prev, *next_sub;
    bool linked;
} hub_sub;

struct track_hub {
    pthread_mutex_t mu;
    hub_ev *ring;
    uint64_t head; /* events published so far */
    int64_t last_seq;
    hub_sub *subs;
    size_t nsubs;
};

track_hub *track__hub_new(void)
{
    track_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ring = calloc(HUB_RING, sizeof *h->ring);
    if (!h->ring) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

void track__hub_free(track_hub *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < HUB_RING; i++)
        free(h->ring[i].text);
    /* Streams end before the service is freed (http_server_free first);
     * a subscriber still here would point at a freed hub. */
    for (hub_sub *s = h->subs; s; s = s->next_sub)
        s->linked = false;
    pthread_mutex_destroy(&h->mu);
    free(h->ring);
    free(h);
}

static void hub__push(track_hub *h, int64_t seq, uint8_t sev, bool ack, const char *org,
                      const char *json, size_t len)
{
    char head[64];
    int hl = seq ? snprintf(head, sizeof head, "id: %lld\nevent: alert\ndata: ", (long long)seq)
                 : snprintf(head, sizeof head, "event: ack\ndata: ");
    /* alerts go out as GET /v1/alerts shows them: with their (empty) ack */
    static const char acknull[] = ",\"acked_at\":null,\"acked_by\":null}";
    bool alert = seq && len >= 2 && json[len - 1] == '}';
    size_t body = alert ? len - 1 + sizeof acknull - 1 : len;
    char *text = malloc((size_t)hl + body + 3);
    if (!text)
        return;
    memcpy(text, head, (size_t)hl);
    if (alert) {
        memcpy(text + hl, json, len - 1);
        memcpy(text + hl + len - 1, acknull, sizeof acknull - 1);
    } else {
        memcpy(text + hl, json, len);
    }
    memcpy(text + hl + body, "\n\n", 3);
    len = body;
    pthread_mutex_lock(&h->mu);
    hub_ev *e = &h->ring[h->head % HUB_RING];
    free(e->text);
    e->seq = seq;
    e->sev = sev;
    e->ack = ack;
    snprintf(e->org, sizeof e->org, "%s", org ? org : "");
    e->text = text;
    e->len = (size_t)hl + len + 2;
    h->head++;
    if (seq)
        h->last_seq = seq;
    for (hub_sub *s = h->subs; s; s = s->next_sub)
        http_stream_wake(s->st);
    pthread_mutex_unlock(&h->mu);
}

void track__hub_publish_alert(track_hub *h, int64_t seq, track_severity sev, const char *org,
                              const char *json, size_t len)
{
    hub__push(h, seq, (uint8_t)sev, false, org, json, len);
}

void track__hub_publish_ack(track_hub *h, const char *org, const char *json, size_t len)
{
    hub__push(h, 0, 0, true, org, json, len);
}

void track__hub_heartbeat(track_hub *h)
{
    pthread_mutex_lock(&h->mu);
    for (hub_sub *s = h->subs; s; s = s->next_sub) {
        s->hb = true;
        http_stream_wake(s->st);
    }
    pthread_mutex_unlock(&h->mu);
}

size_t track__hub_clients(track_hub *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->nsubs;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static bool hub__pass(const hub_sub *s, const hub_ev *e, const char *type)
{
    if (s->restricted && strcmp(s->org, e->org) != 0)
        return false;
    if (e->ack)
        return true;
    if (e->sev < s->min_sev)
        return false;
    if (s->types && type) {
        track_alert_type t;
        if (track_alert_type_parse(type, &t) && !(s->types & (1u << t)))
            return false;
    }
    return true;
}

/* The "type" member of an event's JSON (for the type filter). */
static bool hub__type(const hub_ev *e, char out[32])
{
    const char *p = strstr(e->text, "\"type\":\"");
    if (!p)
        return false;
    p += 8;
    size_t n = strcspn(p, "\"");
    if (n >= 32)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static ssize_t hub__drain_pend(cx_buf *pend, size_t *off, char *buf, size_t max)
{
    size_t k = pend->len - *off;
    if (k > max)
        k = max;
    memcpy(buf, pend->data + *off, k);
    *off += k;
    if (*off == pend->len) {
        cx_buf_reset(pend);
        *off = 0;
    }
    return (ssize_t)k;
}

static ssize_t hub__read(void *ctx, char *buf, size_t max)
{
    hub_sub *s = ctx;
    track_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    if (s->pend_off < s->pend.len) {
        ssize_t k = hub__drain_pend(&s->pend, &s->pend_off, buf, max);
        pthread_mutex_unlock(&h->mu);
        return k;
    }
    if (h->head > HUB_RING && s->next < h->head - HUB_RING) {
        /* Fell behind the ring: end the stream; the client reconnects with
         * Last-Event-ID and catches up from the database. */
        pthread_mutex_unlock(&h->mu);
        return -1;
    }
    size_t n = 0;
    while (s->next < h->head) {
        const hub_ev *e = &h->ring[s->next % HUB_RING];
        char type[32];
        if (!hub__pass(s, e, s->types && hub__type(e, type) ? type : NULL)) {
            s->next++;
            continue;
        }
        if (n + e->len > max) {
            if (n == 0 && cx_buf_append(&s->pend, e->text, e->len) == CX_OK) {
                s->next++;
                ssize_t k = hub__drain_pend(&s->pend, &s->pend_off, buf, max);
                pthread_mutex_unlock(&h->mu);
                return k;
            }
            break;
        }
        memcpy(buf + n, e->text, e->len);
        n += e->len;
        s->next++;
    }
    if (n == 0 && s->hb) {
        char now[32];
        cx_rfc3339_format(cx_now_us(), now);
        int k = snprintf(buf, max, ": ping %s\n\n", now);
        n = k > 0 && (size_t)k < max ? (size_t)k : 0;
    }
    s->hb = false;
    pthread_mutex_unlock(&h->mu);
    return (ssize_t)n;
}

static void hub__free(void *ctx)
{
    hub_sub *s = ctx;
    track_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    if (s->linked) {
        if (s->prev)
            s->prev->next_sub = s->next_sub;
        else
            h->subs = s->next_sub;
        if (s->next_sub)
            s->next_sub->prev = s->prev;
        h->nsubs--;
        s->linked = false;
    }
    pthread_mutex_unlock(&h->mu);
    cx_buf_free(&s->pend);
    free(s);
}

/* Appends stored alerts (seq in (after, upto]) to the client's pending text. */
static void hub__catch_up(track_service *t, hub_sub *s, int64_t after, int64_t upto)
{
    if (upto <= after)
        return;
    int64_t from = after;
    if (upto - after > HUB_CATCHUP) {
        from = upto - HUB_CATCHUP;
        cx_buf_printf(&s->pend, "event: gap\ndata: {\"from_seq\":%lld,\"to_seq\":%lld}\n\n",
                      (long long)(after + 1), (long long)from);
    }
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT seq, severity, org, doc, acked_at, acked_by "
                                         "FROM track_alerts WHERE seq > ?1 AND seq <= ?2 "
                                         "ORDER BY seq")
                         : NULL;
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, upto);
    while (sqlite3_step(st) == SQLITE_ROW) {
        hub_ev e = {.seq = sqlite3_column_int64(st, 0)};
        track_severity sev = TRACK_SEV_INFO;
        track_severity_parse((const char *)sqlite3_column_text(st, 1), &sev);
        e.sev = (uint8_t)sev;
        const char *org = (const char *)sqlite3_column_text(st, 2);
        snprintf(e.org, sizeof e.org, "%s", org ? org : "");
        const char *doc = (const char *)sqlite3_column_text(st, 3);
        char type[32] = "";
        e.text = (char *)doc;
        bool has_type = hub__type(&e, type);
        if (!hub__pass(s, &e, has_type ? type : NULL))
            continue;
        cx_buf_printf(&s->pend, "id: %lld\nevent: alert\ndata: ", (long long)e.seq);
        track__alert_compose(&s->pend, doc, (size_t)sqlite3_column_bytes(st, 3),
                             (const char *)sqlite3_column_text(st, 4),
                             (const char *)sqlite3_column_text(st, 5));
        cx_buf_puts(&s->pend, "\n\n");
    }
    sqlite3_reset(st);
}

void track__hub_serve(track_service *t, track_hub *h, http_req *r)
{
    const cx_principal *who = http_principal(r);
    int64_t after = -1;
    const char *a = http_query(r, "after");
    const char *lei = http_header(r, "Last-Event-ID");
    if (a && (!cx_parse_i64(a, &after) || after < 0)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/after",
                          "must be an alert seq (a number)");
        return;
    }
    if (!a && lei && (!cx_parse_i64(lei, &after) || after < 0))
        after = -1; /* an id we did not send: start live */
    track_severity min_sev = TRACK_SEV_INFO;
    const char *ms = http_query(r, "min_severity");
    if (ms && !track_severity_parse(ms, &min_sev)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/min_severity",
                          "must be info, warning or critical");
        return;
    }
    uint32_t types = 0;
    const char *ty = http_query(r, "type");
    if (ty) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", ty);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            track_alert_type at;
            if (!track_alert_type_parse(tok, &at)) {
                http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/type",
                                  "must be alert types separated by commas");
                return;
            }
            types |= 1u << at;
        }
    }
    hub_sub *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    s->hub = h;
    s->min_sev = (int)min_sev;
    s->types = types;
    if (who->role == CX_ROLE_CARRIER) {
        s->restricted = true;
        snprintf(s->org, sizeof s->org, "%s", who->org);
    }
    cx_buf_init(&s->pend, HUB_PEND_MAX);
    pthread_mutex_lock(&h->mu);
    s->next = h->head;
    int64_t upto = h->last_seq;
    s->next_sub = h->subs;
    if (h->subs)
        h->subs->prev = s;
    h->subs = s;
    h->nsubs++;
    s->linked = true;
    pthread_mutex_unlock(&h->mu);
    /* retry: tells EventSource to reconnect quickly after a server restart */
    cx_buf_puts(&s->pend, "retry: 2000\n: customs alert stream\n\n");
    if (after >= 0)
        hub__catch_up(t, s, after, upto);
    http_stream *st = http_reply_stream(r, 200, "text/event-stream; charset=utf-8", hub__read, s,
                                        hub__free);
    if (st) {
        pthread_mutex_lock(&h->mu);
        s->st = st;
        pthread_mutex_unlock(&h->mu);
    }
}

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

typedef struct pos_sub {
    track_poshub *p;
    http_stream *st;
    uint64_t last_gen;
    int64_t interval_us, next_due;
    bool due, hb;
    bool restricted;
    char org[CX_ORG_MAX + 1];
    bool bbox;
    double minlon, minlat, maxlon, maxlat;
    cx_buf pend;
    size_t pend_off;
    struct pos_sub *prev, *next_sub;
    bool linked;
} pos_sub;

struct track_poshub {
    pthread_mutex_t mu;
    pos_slot *v;
    size_t n, cap;
    cx_map by_key;
    uint64_t gen;
    pos_sub *subs;
    size_t nsubs;
};

track_poshub *track__poshub_new(void)
{
    track_poshub *p = calloc(1, sizeof *p);
    if (p)
        pthread_mutex_init(&p->mu, NULL);
    return p;
}

void track__poshub_free(track_poshub *p)
{
    if (!p)
        return;
    for (pos_sub *s = p->subs; s; s = s->next_sub)
        s->linked = false;
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
    int64_t now = cx_mono_us();
    pthread_mutex_lock(&p->mu);
    for (pos_sub *s = p->subs; s; s = s->next_sub) {
        if (now >= s->next_due) {
            s->due = true;
            s->next_due = now + s->interval_us;
            http_stream_wake(s->st);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

size_t track__poshub_clients(track_poshub *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->nsubs;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void pos__num(cx_buf *b, const char *name, double v, int prec)
{
    if (isnan(v))
        cx_buf_printf(b, ",\"%s\":null", name);
    else
        cx_buf_printf(b, ",\"%s\":%.*f", name, prec, v);
}

/* One position as JSON (the item of GET /v1/positions and the stream). */
static void pos__item(cx_buf *b, const pos_slot *s)
{
    static const char *const seals[] = {NULL, "closed", "open", "tampered"};
    static const char *const doors[] = {NULL, "closed", "open"};
    char tm[32];
    cx_rfc3339_format(s->ts * 1000, tm);
    cx_buf_printf(b, "{\"device\":\"%s\",\"container\":", s->id);
    if (s->container[0])
        cx_buf_printf(b, "\"%s\"", s->container);
    else
        cx_buf_puts(b, "null");
    cx_buf_puts(b, ",\"consignment\":");
    if (s->consignment[0])
        cx_buf_printf(b, "\"%s\"", s->consignment);
    else
        cx_buf_puts(b, "null");
    cx_buf_printf(b, ",\"time\":\"%s\",\"lat\":%.7f,\"lon\":%.7f", tm, s->lat, s->lon);
    pos__num(b, "speed_kmh", s->speed, 1);
    pos__num(b, "heading", s->heading, 1);
    cx_buf_puts(b, ",\"seal\":");
    if (s->seal && s->seal < 4)
        cx_buf_printf(b, "\"%s\"", seals[s->seal]);
    else
        cx_buf_puts(b, "null");
    cx_buf_puts(b, ",\"door\":");
    if (s->door && s->door < 3)
        cx_buf_printf(b, "\"%s\"", doors[s->door]);
    else
        cx_buf_puts(b, "null");
    pos__num(b, "temp_c", s->temp, 2);
    pos__num(b, "battery_pct", s->batt, 1);
    cx_buf_puts(b, "}");
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

static ssize_t pos__read(void *ctx, char *buf, size_t max)
{
    pos_sub *q = ctx;
    track_poshub *p = q->p;
    pthread_mutex_lock(&p->mu);
    if (q->pend_off < q->pend.len) {
        ssize_t k = hub__drain_pend(&q->pend, &q->pend_off, buf, max);
        pthread_mutex_unlock(&p->mu);
        return k;
    }
    if (q->due) {
        q->due = false;
        size_t items = 0;
        for (size_t i = 0; i < p->n; i++) {
            const pos_slot *s = &p->v[i];
            if (s->gen <= q->last_gen || !pos__pass(q, s))
                continue;
            cx_buf_puts(&q->pend, items ? "," : "event: positions\ndata: {\"items\":[");
            pos__item(&q->pend, s);
            items++;
        }
        if (items) {
            char tm[32];
            cx_rfc3339_format(cx_now_us(), tm);
            cx_buf_printf(&q->pend, "],\"at\":\"%s\"}\n\n", tm);
        }
        q->last_gen = p->gen;
        if (q->pend.len) {
            ssize_t k = hub__drain_pend(&q->pend, &q->pend_off, buf, max);
            pthread_mutex_unlock(&p->mu);
            return k;
        }
    }
    ssize_t n = 0;
    if (q->hb) {
        int k = snprintf(buf, max, ": ping\n\n");
        n = k > 0 && (size_t)k < max ? k : 0;
        q->hb = false;
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void pos__free(void *ctx)
{
    pos_sub *q = ctx;
    track_poshub *p = q->p;
    pthread_mutex_lock(&p->mu);
    if (q->linked) {
        if (q->prev)
            q->prev->next_sub = q->next_sub;
        else
            p->subs = q->next_sub;
        if (q->next_sub)
            q->next_sub->prev = q->prev;
        p->nsubs--;
        q->linked = false;
    }
    pthread_mutex_unlock(&p->mu);
    cx_buf_free(&q->pend);
    free(q);
}

void track__poshub_heartbeat(track_poshub *p)
{
    pthread_mutex_lock(&p->mu);
    for (pos_sub *s = p->subs; s; s = s->next_sub) {
        s->hb = true;
        http_stream_wake(s->st);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Parses "minlon,minlat,maxlon,maxlat". */
static bool pos__bbox(const char *v, pos_sub *q)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    double d[4];
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < 5;
         tok = strtok_r(NULL, ",", &save))
        if (n >= 4 || !cx_parse_double(tok, &d[n++]))
            return false;
    if (n != 4 || d[1] > d[3] || d[0] < -180 || d[2] > 180 || d[1] < -90 || d[3] > 90)
        return false;
    q->bbox = true;
    q->minlon = d[0];
    q->minlat = d[1];
    q->maxlon = d[2];
    q->maxlat = d[3];
    return true;
}

void track__poshub_serve(track_service *t, track_poshub *p, http_req *r)
{
    (void)t;
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
                          "must be minlon,minlat,maxlon,maxlat");
        return;
    }
    if (who->role == CX_ROLE_CARRIER) {
        q->restricted = true;
        snprintf(q->org, sizeof q->org, "%s", who->org);
    }
    cx_buf_init(&q->pend, HUB_PEND_MAX);
    cx_buf_puts(&q->pend, "retry: 2000\n: customs positions stream\n\n");
    q->due = true; /* the first push is every device's latest position */
    pthread_mutex_lock(&p->mu);
    q->next_sub = p->subs;
    if (p->subs)
        p->subs->prev = q;
    p->subs = q;
    p->nsubs++;
    q->linked = true;
    q->next_due = cx_mono_us() + q->interval_us;
    pthread_mutex_unlock(&p->mu);
    http_stream *st = http_reply_stream(r, 200, "text/event-stream; charset=utf-8", pos__read, q,
                                        pos__free);
    if (st) {
        pthread_mutex_lock(&p->mu);
        q->st = st;
        pthread_mutex_unlock(&p->mu);
    }
}

/* GET /v1/positions: every device's latest durable report. */
char *track__positions_json(track_poshub *p, const cx_principal *who, size_t *len)
{
    cx_buf b;
    cx_buf_init(&b, (size_t)256 << 20);
    pos_sub filter = {0};
    if (who && who->role == CX_ROLE_CARRIER) {
        filter.restricted = true;
        snprintf(filter.org, sizeof filter.org, "%s", who->org);
    }
    cx_buf_puts(&b, "{\"items\":[");
    pthread_mutex_lock(&p->mu);
    size_t items = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (!pos__pass(&filter, &p->v[i]))
            continue;
        if (items++)
            cx_buf_puts(&b, ",");
        pos__item(&b, &p->v[i]);
    }
    pthread_mutex_unlock(&p->mu);
    cx_buf_puts(&b, "]}");
    return cx_buf_steal(&b, len);
}
