/* The alert stream (Server-Sent Events).
 *
 * A ring of the last HUB_RING events, each already framed as SSE text
 * ("id: <seq>\nevent: alert\ndata: {...}\n\n") with what the filters need;
 * every client has a cursor into it. A client that falls behind the ring is
 * disconnected and resumes with Last-Event-ID, which is served from the
 * database. Comment lines every heartbeat keep proxies open and let a write
 * fail on a dead client, which frees its slot. Events enter the ring only
 * after the transaction that stored them is durable (alert.c). */
#include "alert_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_RING 8192
#define HUB_CATCHUP 10000
#define HUB_PEND_MAX ((size_t)64 << 20)

typedef struct {
    alert_event ev;
    bool ack; /* not an alert of its own (ack, update): no id, not a seq */
    bool update;
    char *text;
    size_t len;
} hub_ev;

typedef struct hub_sub {
    alert_hub *hub;
    http_stream *st;
    uint64_t next;
    bool hb;
    cx_principal who;
    alert_severity min_sev;
    char types[ALERT_FILTER_TYPES][ALERT_NAME_MAX + 1];
    size_t ntypes; /* 0 = all */
    char kind[ALERT_NAME_MAX + 1];   /* "" = all */
    char drone[ALERT_ID_MAX + 1];    /* "" = all */
    cx_buf pend;
    size_t pend_off;
    struct hub_sub *prev, *next_sub;
    bool linked;
} hub_sub;

struct alert_hub {
    pthread_mutex_t mu;
    hub_ev *ring;
    uint64_t head; /* events published so far */
    int64_t last_seq;
    hub_sub *subs;
    size_t nsubs;
};

alert_hub *alert__hub_new(void)
{
    alert_hub *h = calloc(1, sizeof *h);
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

void alert__hub_free(alert_hub *h)
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

bool alert__visible(const cx_principal *who, const alert_event *ev)
{
    if (cx_is_officer(who))
        return true;
    for (size_t i = 0; i < ALERT_MAX_ORGS; i++)
        if (ev->orgs[i][0] && strcmp(ev->orgs[i], who->org) == 0)
            return true;
    return false;
}

static void hub__push(alert_hub *h, const alert_event *ev, bool ack, bool update,
                      const char *json, size_t len)
{
    char head[64];
    int hl = update ? snprintf(head, sizeof head, "event: update\ndata: ")
             : ack  ? snprintf(head, sizeof head, "event: ack\ndata: ")
                 : snprintf(head, sizeof head, "id: %lld\nevent: alert\ndata: ", (long long)ev->seq);
    cx_buf b;
    cx_buf_init(&b, len + 256);
    cx_err e = cx_buf_append(&b, head, (size_t)hl);
    /* alerts go out as GET /v1/alerts shows them: with their (empty) ack */
    if (e == CX_OK)
        e = ack ? cx_buf_append(&b, json, len) : alert__compose(&b, json, len, NULL, NULL);
    if (e == CX_OK)
        e = cx_buf_puts(&b, "\n\n");
    size_t n;
    char *text = cx_buf_steal(&b, &n);
    if (e != CX_OK || !text) {
        free(text);
        cx_log(CX_LOG_ERROR, "alert: event %lld not streamed: %s", (long long)ev->seq,
               cx_strerror(e ? e : CX_ENOMEM));
        return;
    }
    pthread_mutex_lock(&h->mu);
    hub_ev *slot = &h->ring[h->head % HUB_RING];
    free(slot->text);
    slot->ev = *ev;
    slot->ack = ack;
    slot->update = update;
    slot->text = text;
    slot->len = n;
    h->head++;
    if (!ack)
        h->last_seq = ev->seq;
    for (hub_sub *s = h->subs; s; s = s->next_sub)
        http_stream_wake(s->st);
    pthread_mutex_unlock(&h->mu);
}

void alert__hub_alert(alert_hub *h, const alert_event *ev, const char *json, size_t len)
{
    hub__push(h, ev, false, false, json, len);
}

void alert__hub_ack(alert_hub *h, const alert_event *ev, const char *json, size_t len)
{
    hub__push(h, ev, true, false, json, len);
}

void alert__hub_update(alert_hub *h, const alert_event *ev, const char *json, size_t len)
{
    hub__push(h, ev, true, true, json, len);
}

void alert__hub_start_at(alert_hub *h, int64_t last_seq)
{
    pthread_mutex_lock(&h->mu);
    h->last_seq = last_seq;
    pthread_mutex_unlock(&h->mu);
}

void alert__hub_heartbeat(alert_hub *h)
{
    pthread_mutex_lock(&h->mu);
    for (hub_sub *s = h->subs; s; s = s->next_sub) {
        s->hb = true;
        http_stream_wake(s->st);
    }
    pthread_mutex_unlock(&h->mu);
}

size_t alert__hub_clients(alert_hub *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->nsubs;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static bool hub__pass(const hub_sub *s, const alert_event *ev, bool ack, bool update)
{
    if (!alert__visible(&s->who, ev))
        return false;
    if (ack && !update)
        return true;
    if (ev->sev < s->min_sev)
        return false;
    if (s->kind[0] && strcmp(s->kind, ev->kind) != 0)
        return false;
    if (s->drone[0] && strcmp(s->drone, ev->drone) != 0)
        return false;
    if (!s->ntypes)
        return true;
    for (size_t i = 0; i < s->ntypes; i++)
        if (strcmp(s->types[i], ev->type) == 0)
            return true;
    return false;
}

static ssize_t hub__read(void *ctx, char *buf, size_t max)
{
    hub_sub *s = ctx;
    alert_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    if (cx_buf_error(&s->pend)) {
        /* the catch-up did not fit: end; the client resumes from where it got */
        pthread_mutex_unlock(&h->mu);
        return -1;
    }
    if (s->pend_off < s->pend.len) {
        ssize_t k = http_stream_drain(&s->pend, &s->pend_off, buf, max);
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
        if (!hub__pass(s, &e->ev, e->ack, e->update)) {
            s->next++;
            continue;
        }
        if (n + e->len > max) {
            if (n == 0 && cx_buf_append(&s->pend, e->text, e->len) == CX_OK) {
                s->next++;
                ssize_t k = http_stream_drain(&s->pend, &s->pend_off, buf, max);
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
    alert_hub *h = s->hub;
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
static void hub__catch_up(alert_service *a, hub_sub *s, int64_t after, int64_t upto)
{
    if (upto <= after)
        return;
    int64_t from = after;
    if (upto - after > HUB_CATCHUP) {
        from = upto - HUB_CATCHUP;
        if (cx_buf_printf(&s->pend, "event: gap\ndata: {\"from_seq\":%lld,\"to_seq\":%lld}\n\n",
                          (long long)(after + 1), (long long)from) != CX_OK)
            return;
    }
    store_conn *c = store_reader(a->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT seq, severity, type, kind, drone, doc, "
                                         "acked_at, acked_by FROM alerts "
                                         "WHERE seq > ?1 AND seq <= ?2 ORDER BY seq")
                         : NULL;
    sqlite3_stmt *orgs = c ? store_stmt(c, "SELECT org FROM alert_orgs WHERE seq = ?1 LIMIT 4")
                           : NULL;
    if (!st || !orgs)
        return;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, upto);
    while (sqlite3_step(st) == SQLITE_ROW) {
        alert_event ev = {.seq = sqlite3_column_int64(st, 0)};
        alert_severity_parse((const char *)sqlite3_column_text(st, 1), &ev.sev);
        snprintf(ev.type, sizeof ev.type, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(ev.kind, sizeof ev.kind, "%s", (const char *)sqlite3_column_text(st, 3));
        const char *drone = (const char *)sqlite3_column_text(st, 4);
        snprintf(ev.drone, sizeof ev.drone, "%s", drone ? drone : "");
        sqlite3_bind_int64(orgs, 1, ev.seq);
        for (int i = 0; i < ALERT_MAX_ORGS && sqlite3_step(orgs) == SQLITE_ROW; i++)
            snprintf(ev.orgs[i], sizeof ev.orgs[i], "%s", (const char *)sqlite3_column_text(orgs, 0));
        sqlite3_reset(orgs);
        if (!hub__pass(s, &ev, false, false))
            continue;
        cx_err e = cx_buf_printf(&s->pend, "id: %lld\nevent: alert\ndata: ", (long long)ev.seq);
        if (e == CX_OK)
            e = alert__compose(&s->pend, (const char *)sqlite3_column_text(st, 5),
                               (size_t)sqlite3_column_bytes(st, 5),
                               (const char *)sqlite3_column_text(st, 6),
                               (const char *)sqlite3_column_text(st, 7));
        if (e == CX_OK)
            e = cx_buf_puts(&s->pend, "\n\n");
        if (e != CX_OK)
            break; /* the stream ends at the first read (hub__read) */
    }
    sqlite3_reset(st);
}

void alert__hub_serve(alert_service *a, http_req *r)
{
    alert_hub *h = a->hub;
    const cx_principal *who = http_principal(r);
    int64_t after = -1;
    alert_severity min_sev = ALERT_INFO;
    if (!http_query_int(r, "after", 0, INT64_MAX, &after))
        return;
    const char *lei = http_header(r, "Last-Event-ID");
    if (!http_query(r, "after") && lei && (!cx_parse_i64(lei, &after) || after < 0))
        after = -1; /* an id we did not send: start live */
    const char *ms = http_query(r, "min_severity"), *ty = http_query(r, "type"),
               *kind = http_query(r, "subject"), *drone = http_query(r, "drone");
    if (ms && !alert_severity_parse(ms, &min_sev)) {
        http_bad_query(r, "min_severity", "must be info, warning or critical");
        return;
    }
    if (kind && !alert__kind_known(a, kind)) {
        http_bad_query(r, "subject", "must be a subject kind such as device, drone or ledger");
        return;
    }
    if (drone && (!drone[0] || strlen(drone) > ALERT_ID_MAX)) {
        http_bad_query(r, "drone", "must be a drone's id (UAS ID) of 1 to 128 bytes");
        return;
    }
    hub_sub *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    if (ty) {
        char buf[ALERT_FILTER_TYPES * (ALERT_NAME_MAX + 1) + 1];
        bool ok = strlen(ty) < sizeof buf;
        snprintf(buf, sizeof buf, "%s", ty);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); ok && tok;
             tok = strtok_r(NULL, ",", &save)) {
            ok = alert__type_known(a, tok) && s->ntypes < ALERT_FILTER_TYPES;
            if (ok)
                snprintf(s->types[s->ntypes++], sizeof s->types[0], "%s", tok);
        }
        if (!ok || !s->ntypes) {
            free(s);
            http_bad_query(r, "type", "must be up to %d alert types separated by commas",
                           ALERT_FILTER_TYPES);
            return;
        }
    }
    s->hub = h;
    s->who = *who;
    s->min_sev = min_sev;
    snprintf(s->kind, sizeof s->kind, "%s", kind ? kind : "");
    snprintf(s->drone, sizeof s->drone, "%s", drone ? drone : "");
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
    if (cx_buf_puts(&s->pend, "retry: 2000\n: customs alert stream\n\n") == CX_OK && after >= 0)
        hub__catch_up(a, s, after, upto);
    http_stream *st = http_reply_stream(r, 200, "text/event-stream; charset=utf-8", hub__read, s,
                                        hub__free);
    if (st) {
        pthread_mutex_lock(&h->mu);
        s->st = st;
        pthread_mutex_unlock(&h->mu);
    }
}
