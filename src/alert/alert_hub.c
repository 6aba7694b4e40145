/* The alert stream (Server-Sent Events) on an http_hub.
 *
 * A ring of the last HUB_RING events, each already framed as SSE text
 * ("id: <seq>\nevent: alert\ndata: {...}\n\n") with what the filters need;
 * every client has a cursor into it. A client that falls behind the ring is
 * disconnected and resumes with Last-Event-ID, which is served from the
 * database, a chunk at a time, before the ring. The hub sends the
 * heartbeats (comment lines that keep proxies open and let a write fail on
 * a dead client, which frees its slot). Events enter the ring only after
 * the transaction that stored them is durable (alert.c). */
#include "alert_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_RING 8192
#define HUB_CATCHUP 10000
#define HUB_PEND_MAX ((size_t)64 << 20)
#define HUB_CHUNK ((size_t)64 << 10) /* text one fill appends, about */

typedef struct {
    alert_event ev;
    bool ack; /* not an alert of its own (ack, update): no id, not a seq */
    bool update;
    char *text;
    size_t len;
} hub_ev;

/* A subscriber: its filters and its cursors (the stream is the http_hub's). */
typedef struct {
    alert_hub *hub;
    alert_service *a;
    uint64_t next;           /* the next ring event to look at */
    int64_t cu_after, cu_upto; /* stored alerts (cu_after, cu_upto] still to send */
    int64_t gap_from;        /* > 0: announce that alerts gap_from..cu_after are skipped */
    cx_principal who;
    alert_severity min_sev;
    char types[ALERT_FILTER_TYPES][ALERT_NAME_MAX + 1];
    size_t ntypes; /* 0 = all */
    char kind[ALERT_NAME_MAX + 1];   /* "" = all */
    char drone[ALERT_ID_MAX + 1];    /* "" = all */
} hub_sub;

struct alert_hub {
    pthread_mutex_t mu; /* the ring */
    hub_ev *ring;
    uint64_t head; /* events published so far */
    int64_t last_seq;
    http_hub *streams;
};

cx_err alert__hub_new(unsigned heartbeat_s, alert_hub **out)
{
    *out = NULL;
    alert_hub *h = calloc(1, sizeof *h);
    if (!h)
        return CX_ENOMEM;
    h->ring = calloc(HUB_RING, sizeof *h->ring);
    http_hub_config hc = {.hello = "retry: 2000\n: customs alert stream\n\n",
                          .heartbeat_s = heartbeat_s, .pend_max = HUB_PEND_MAX};
    cx_err e = h->ring ? http_hub_new(&hc, &h->streams) : CX_ENOMEM;
    if (e != CX_OK) {
        free(h->ring);
        free(h);
        return e;
    }
    pthread_mutex_init(&h->mu, NULL);
    *out = h;
    return CX_OK;
}

void alert__hub_close(alert_hub *h)
{
    if (h)
        http_hub_close(h->streams);
}

void alert__hub_free(alert_hub *h)
{
    if (!h)
        return;
    http_hub_free(h->streams);
    for (size_t i = 0; i < HUB_RING; i++)
        free(h->ring[i].text);
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
    pthread_mutex_unlock(&h->mu);
    http_hub_wake(h->streams, NULL);
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

size_t alert__hub_clients(alert_hub *h)
{
    return http_hub_clients(h->streams);
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

/* Appends up to HUB_CHUNK bytes of stored alerts in (cu_after, cu_upto]. */
static cx_err hub__catch_up(hub_sub *s, cx_buf *out)
{
    if (s->gap_from) {
        cx_err e = cx_buf_printf(out, "event: gap\ndata: {\"from_seq\":%lld,\"to_seq\":%lld}\n\n",
                                 (long long)s->gap_from, (long long)s->cu_after);
        if (e != CX_OK)
            return e;
        s->gap_from = 0;
    }
    store_conn *c = store_reader(s->a->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT seq, severity, type, kind, drone, doc, "
                                         "acked_at, acked_by FROM alerts "
                                         "WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT 256")
                         : NULL;
    sqlite3_stmt *orgs = c ? store_stmt(c, "SELECT org FROM alert_orgs WHERE seq = ?1 LIMIT 4")
                           : NULL;
    if (!st || !orgs)
        return CX_EDB;
    cx_err e = CX_OK;
    while (e == CX_OK && s->cu_after < s->cu_upto && out->len < HUB_CHUNK) {
        sqlite3_bind_int64(st, 1, s->cu_after);
        sqlite3_bind_int64(st, 2, s->cu_upto);
        int rows = 0, rc;
        while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            alert_event ev = {.seq = sqlite3_column_int64(st, 0)};
            rows++;
            s->cu_after = ev.seq;
            alert_severity_parse((const char *)sqlite3_column_text(st, 1), &ev.sev);
            snprintf(ev.type, sizeof ev.type, "%s", (const char *)sqlite3_column_text(st, 2));
            snprintf(ev.kind, sizeof ev.kind, "%s", (const char *)sqlite3_column_text(st, 3));
            const char *drone = (const char *)sqlite3_column_text(st, 4);
            snprintf(ev.drone, sizeof ev.drone, "%s", drone ? drone : "");
            sqlite3_bind_int64(orgs, 1, ev.seq);
            for (int i = 0; i < ALERT_MAX_ORGS && sqlite3_step(orgs) == SQLITE_ROW; i++)
                snprintf(ev.orgs[i], sizeof ev.orgs[i], "%s",
                         (const char *)sqlite3_column_text(orgs, 0));
            sqlite3_reset(orgs);
            if (!hub__pass(s, &ev, false, false))
                continue;
            e = cx_buf_printf(out, "id: %lld\nevent: alert\ndata: ", (long long)ev.seq);
            e = e ? e : alert__compose(out, (const char *)sqlite3_column_text(st, 5),
                                       (size_t)sqlite3_column_bytes(st, 5),
                                       (const char *)sqlite3_column_text(st, 6),
                                       (const char *)sqlite3_column_text(st, 7));
            e = e ? e : cx_buf_puts(out, "\n\n");
        }
        if (e == CX_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
            e = CX_EDB;
        sqlite3_reset(st);
        if (e == CX_OK && rows < 256)
            s->cu_after = s->cu_upto; /* nothing more stored in the range */
    }
    return e;
}

/* The stream's fill (http_hub): the catch-up first, then the ring. */
static cx_err hub__fill(void *ctx, cx_buf *out, bool *last)
{
    (void)last;
    hub_sub *s = ctx;
    alert_hub *h = s->hub;
    if (s->cu_after < s->cu_upto)
        return hub__catch_up(s, out);
    pthread_mutex_lock(&h->mu);
    if (h->head > HUB_RING && s->next < h->head - HUB_RING) {
        /* Fell behind the ring: end the stream; the client reconnects with
         * Last-Event-ID and catches up from the database. */
        pthread_mutex_unlock(&h->mu);
        return CX_EUNAVAIL;
    }
    cx_err e = CX_OK;
    while (e == CX_OK && s->next < h->head && out->len < HUB_CHUNK) {
        const hub_ev *ev = &h->ring[s->next++ % HUB_RING];
        if (hub__pass(s, &ev->ev, ev->ack, ev->update))
            e = cx_buf_append(out, ev->text, ev->len);
    }
    pthread_mutex_unlock(&h->mu);
    return e;
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
        const char *tok[ALERT_FILTER_TYPES];
        int n = cx_split(ty, ',', buf, sizeof buf, tok, ALERT_FILTER_TYPES);
        bool ok = n > 0;
        for (int i = 0; ok && i < n; i++) {
            ok = alert__type_known(a, tok[i]);
            if (ok)
                snprintf(s->types[s->ntypes++], sizeof s->types[0], "%s", tok[i]);
        }
        if (!ok) {
            free(s);
            http_bad_query(r, "type",
                           "must be up to %d alert types separated by commas, none empty",
                           ALERT_FILTER_TYPES);
            return;
        }
    }
    s->hub = h;
    s->a = a;
    s->who = *who;
    s->min_sev = min_sev;
    snprintf(s->kind, sizeof s->kind, "%s", kind ? kind : "");
    snprintf(s->drone, sizeof s->drone, "%s", drone ? drone : "");
    /* live from the ring's head; before it, what was stored after `after` */
    pthread_mutex_lock(&h->mu);
    s->next = h->head;
    s->cu_upto = h->last_seq;
    pthread_mutex_unlock(&h->mu);
    s->cu_after = after < 0 ? s->cu_upto : after;
    if (s->cu_upto - s->cu_after > HUB_CATCHUP) {
        s->gap_from = s->cu_after + 1;
        s->cu_after = s->cu_upto - HUB_CATCHUP;
    }
    http_hub_serve(h->streams, r, NULL, hub__fill, s, free);
}
