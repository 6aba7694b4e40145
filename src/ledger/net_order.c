/* The orderer of a networked node: an entry is checked against this node's
 * state, published with Nats-Msg-Id = its hex signing hash (JetStream's
 * duplicate window makes a retried publish safe), and answered only once
 * the stream acknowledged it and this node's reader applied it — so the
 * submitter gets the verdict every node reached at that sequence. */
#include "net_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_PUBLISH_WAIT_MS 2000     /* one publish attempt */
#define NET_PUBLISH_DEADLINE_MS 6000 /* all attempts (a leader election takes a few seconds) */
#define NET_APPLY_WAIT_MS 15000      /* acknowledged, waiting for this node to apply it */

/* ---- the orderer ------------------------------------------------------------------------------- */

/* Why this node takes no submission now, or NULL. Under mu. */
static const char *net__busy(ledger_net *n, char *buf, size_t cap)
{
    if (n->stop)
        return "the ledger is shutting down";
    if (n->failed[0]) {
        snprintf(buf, cap, "this node stopped applying the ledger: %s", n->failed);
        return buf;
    }
    if (n->applied < n->start_last) {
        snprintf(buf, cap, "this node is catching up with the ledger (applied %llu of %llu); "
                           "retry shortly",
                 (unsigned long long)n->applied, (unsigned long long)n->start_last);
        return buf;
    }
    return NULL;
}

static net_waiter *net__waiter_add(ledger_net *n, ledger_pending *p)
{
    net_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    memcpy(w->hash, p->e->entry_hash, 32);
    snprintf(w->scope, sizeof w->scope, "%s", p->scope);
    w->pending = (ledger_pending *)p;
    pthread_cond_init(&w->cv, NULL);
    pthread_mutex_lock(&n->mu);
    w->next = n->waiters;
    n->waiters = w;
    pthread_mutex_unlock(&n->mu);
    return w;
}

/* Under mu. */
static void net__waiter_remove(ledger_net *n, net_waiter *w)
{
    for (net_waiter **pp = &n->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            return;
        }
}

/* The outcome at seq as this database recorded it, when the reader did not
 * hand it over (another process on this database applied it first). */
static void net__recorded(ledger_net *n, uint64_t seq, ledger_result *res)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT idx, leaf_hash FROM ledger_entries WHERE seq=?1")
                         : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, (int64_t)seq);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
            res->status = 201;
            res->index = sqlite3_column_int64(st, 0);
            res->seq = seq;
            memcpy(res->leaf_hash, sqlite3_column_blob(st, 1), 32);
            res->findings = json_array();
        }
        sqlite3_reset(st);
    }
    st = !res->status && c ? store_stmt(c, "SELECT status, code, message, details FROM "
                                           "ledger_rejected WHERE seq=?1")
                           : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, (int64_t)seq);
        if (sqlite3_step(st) == SQLITE_ROW)
            ledger__res_set(res, (unsigned)sqlite3_column_int(st, 0),
                            (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2),
                            json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL));
        sqlite3_reset(st);
    }
    if (!res->status)
        ledger__res_set(res, 503, "unavailable", "the entry's outcome could not be read", NULL);
}

/* The outcome of an entry someone else put on the stream first (a
 * duplicate within JetStream's window): what this node applied at seq. */
static void net__earlier(ledger_net *n, uint64_t seq, ledger_result *res)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT idx FROM ledger_entries WHERE seq=?1") : NULL;
    int64_t idx = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, (int64_t)seq);
        if (sqlite3_step(st) == SQLITE_ROW)
            idx = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    char m[200];
    if (idx >= 0)
        snprintf(m, sizeof m, "this entry is already on the ledger at index %lld (stream "
                              "sequence %llu)",
                 (long long)idx, (unsigned long long)seq);
    else
        snprintf(m, sizeof m, "this entry was already submitted and rejected at stream "
                              "sequence %llu",
                 (unsigned long long)seq);
    ledger__res_set(res, 409, "duplicate_entry", m,
                    json_pack("[{s:s,s:s}]", "path", "", "message", m));
}

static bool net__retryable(natsStatus s)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
           s == NATS_CONNECTION_DISCONNECTED || s == NATS_NO_SERVER || s == NATS_IO_ERROR ||
           s == NATS_NOT_YET_CONNECTED || s == NATS_STALE_CONNECTION;
}

/* Publishes p's canonical bytes; *seq and *dup from the acknowledgement. */
static natsStatus net__publish(ledger_net *n, const ledger_pending *p, uint64_t *seq, bool *dup,
                               jsErrCode *je)
{
    char id[65];
    ledger__hex(p->e->entry_hash, id);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = NET_PUBLISH_WAIT_MS;
    /* a genesis goes only into an empty stream: two inits cannot race */
    po.ExpectNoMessage = p->e->type == LT_INIT;
    int64_t t0 = cx_mono_us();
    natsStatus s;
    for (;;) {
        jsPubAck *pa = NULL;
        *je = 0;
        s = js_Publish(&pa, n->js, n->subject, p->e->canon, (int)p->e->canon_len, &po, je);
        if (s == NATS_OK) {
            *seq = pa->Sequence;
            *dup = pa->Duplicate;
            jsPubAck_Destroy(pa);
            return s;
        }
        jsPubAck_Destroy(pa);
        if (!net__retryable(s) || (cx_mono_us() - t0) / 1000 >= NET_PUBLISH_DEADLINE_MS)
            return s;
        /* the same Nats-Msg-Id: the stream keeps one copy however often it comes */
        if (!net__nap(n, 200))
            return s;
    }
}

cx_err ledger__net_order(void *self, ledger_pending *p)
{
    ledger_net *n = self;
    ledger *lg = n->lg;
    ledger_result res;
    memset(&res, 0, sizeof res);
    char buf[320];
    pthread_mutex_lock(&n->mu);
    const char *busy = net__busy(n, buf, sizeof buf);
    if (busy)
        ledger__res_set(&res, 503, "unavailable", busy, NULL);
    pthread_mutex_unlock(&n->mu);
    net_waiter *w = NULL;
    if (!busy) {
        /* this node's verdict first: a bad entry never reaches the stream */
        ledger__precheck(lg, p->e, &res);
        if (res.status == 201)
            ledger_result_clear(&res);
        else if (res.status != 503)
            atomic_fetch_add(&lg->n_rejected, 1);
    }
    if (!busy && !res.status && !(w = net__waiter_add(n, p)))
        ledger__res_set(&res, 503, "unavailable", "out of memory", NULL);
    if (w) {
        uint64_t seq = 0;
        bool dup = false, genesis = p->e->type == LT_INIT;
        jsErrCode je = 0;
        natsStatus s = net__publish(n, p, &seq, &dup, &je);
        /* from here on, p->e may be taken by the reader (w->seq set) */
        struct timespec ts;
        net__deadline(&ts, NET_APPLY_WAIT_MS);
        pthread_mutex_lock(&n->mu);
        if (s == NATS_OK) {
            w->seq = seq;
            int rc = 0;
            while (!w->has_outcome && n->applied < seq && !n->stop && !n->failed[0] && rc == 0)
                rc = pthread_cond_timedwait(&w->cv, &n->mu, &ts);
        }
        net__waiter_remove(n, w);
        uint64_t applied = n->applied;
        pthread_mutex_unlock(&n->mu);
        if (w->has_outcome) {
            res = w->res; /* ownership moves */
        } else if (s == NATS_OK && applied >= seq && dup) {
            net__earlier(n, seq, &res);
        } else if (s == NATS_OK && applied >= seq) {
            net__recorded(n, seq, &res);
        } else if (s == NATS_OK) {
            snprintf(buf, sizeof buf, "the entry was ordered at stream sequence %llu but this "
                                      "node has not applied it yet; it will be (GET "
                                      "/v1/ledger/entries shows it once it is)",
                     (unsigned long long)seq);
            ledger__res_set(&res, 503, "unavailable", buf, NULL);
        } else if (genesis && je == JSStreamWrongLastSequenceErr) {
            ledger__res_set(&res, 409, "state_conflict",
                            "the network already carries this ledger: a genesis goes only into "
                            "an empty stream",
                            NULL);
        } else {
            atomic_fetch_add(&n->n_publish_failed, 1);
            snprintf(buf, sizeof buf, "the ledger's stream did not take the entry (%s): it is "
                                      "not stored; retrying is safe",
                     natsStatus_GetText(s));
            ledger__res_set(&res, 503, "unavailable", buf, NULL);
        }
        pthread_cond_destroy(&w->cv);
        free(w);
    }
    if (p->done)
        p->done(p->arg, &res);
    ledger_result_clear(&res);
    ledger__pending_free(p);
    return CX_OK;
}

/* ---- the reader's outcomes -------------------------------------------------------------------- */

void ledger__net_applied(ledger_net *n, ledger_pending *p, bool failed)
{
    pthread_mutex_lock(&n->mu);
    n->inflight--;
    if (failed) {
        n->resync = true;
    } else if (p->skipped) {
        /* applied already, by another process on this database */
        if (p->seq > n->applied)
            n->applied = p->seq;
        for (net_waiter *w = n->waiters; w; w = w->next)
            if (w->seq && w->seq <= p->seq)
                pthread_cond_signal(&w->cv);
    } else {
        n->applied = p->seq;
        atomic_fetch_add(&n->n_applied, 1);
        if (p->res.status != 201)
            atomic_fetch_add(&n->n_stream_rejected, 1);
        bool given = false;
        for (net_waiter *w = n->waiters; w; w = w->next) {
            if (!given && !w->has_outcome && p->has_msg_hash &&
                memcmp(w->hash, p->msg_hash, 32) == 0) {
                w->res = p->res; /* ownership moves: p is freed after this */
                memset(&p->res, 0, sizeof p->res);
                w->has_outcome = given = true;
                pthread_cond_signal(&w->cv);
            } else if (w->seq && w->seq <= p->seq) {
                pthread_cond_signal(&w->cv); /* a copy ordered before it was applied */
            }
        }
    }
    /* the reader (its window) and ledger_net_sync wait on n->cv */
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

