/* The orderer of a networked node: an entry is checked against this node's
 * state, published with Nats-Msg-Id = its hex signing hash (JetStream's
 * duplicate window makes a retried publish safe), and answered only once
 * the stream acknowledged it and this node's reader applied it — so the
 * submitter gets the verdict every node reached at that sequence.
 *
 * No thread waits for a submission: each step hands it to the next. The
 * submitting thread queues the check on the writer; the writer, from inside
 * the check's job, publishes asynchronously (libnats keeps the pending
 * window); libnats's thread records the acknowledgement (net__publish_acked);
 * the writer answers it when it applies the entry (ledger__net_applied), in
 * the same commit as the other entries of its batch. The orderer's thread
 * takes the rare steps: publish timeouts and retries, answers read from the
 * database, timeouts. A submission is answered once, by whoever takes it off
 * the list under mu.
 *
 * Publish timeouts are the orderer's, not libnats's: with jsPubOptions.MaxWait
 * libnats arms a deadline for every publish and, once it passes, hands the
 * acknowledgement thread a timeout message for it even when the
 * acknowledgement came long before — a second wake and an allocation per
 * entry. The orderer already looks at every submission each tick.
 *
 * Batches: the entries whose checks passed in one writer job (a node's
 * queued checks run together) are published as few messages, each carrying
 * up to LEDGER_BATCH_MAX entries (header Ledger-Batch: n, the canonical
 * texts joined by '\n'), so the NATS servers store, replicate, acknowledge
 * and deliver one message per batch. A batch's Nats-Msg-Id is
 * ledger_batch_id over its entries' hashes and its body is kept (net_pub):
 * a retry publishes the identical message, which JetStream's duplicate
 * window keeps once. Every submission of a batch follows the batch's
 * acknowledgement; each waits for its own entry's application. One entry
 * alone is published as before, a message of its own. */
#include "net_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_PUBLISH_WAIT_MS 2000     /* one publish attempt */
#define NET_PUBLISH_DEADLINE_MS 6000 /* all attempts (a leader election takes a few seconds) */
#define NET_RETRY_MS 200             /* between attempts */
#define NET_APPLY_WAIT_MS 15000      /* acknowledged, waiting for this node to apply it */
#define NET_ORDER_TICK_MS 100        /* the orderer's thread looks at the clock this often */

/* Why this node takes no submission now, or NULL. Under mu. */
static const char *ord__busy(ledger_net *n, char *buf, size_t cap)
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
    if (n->nwaiters >= NET_MAX_WAITERS) {
        snprintf(buf, cap, "this node has %d entries being ordered; retry shortly",
                 n->nwaiters);
        return buf;
    }
    return NULL;
}

/* Takes w off the list; whoever does answers it. Under mu. */
static void ord__unlink(ledger_net *n, net_waiter *w)
{
    for (net_waiter **pp = &n->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            n->nwaiters--;
            return;
        }
}


/* The Nats-Msg-Id (as a hash) of the message w was published in. */
static const uint8_t *ord__id(const net_waiter *w)
{
    return w->pub ? w->pub->id : w->hash;
}

static void ord__pub_unref(net_pub *pb)
{
    if (pb && atomic_fetch_sub(&pb->refs, 1) == 1)
        free(pb);
}

/* Answers w, taken off the list, and frees it; res is cleared. Not under mu. */
static void ord__answer(net_waiter *w, ledger_result *res)
{
    ledger_pending *p = w->pending;
    if (p->done)
        p->done(p->arg, res);
    ledger_result_clear(res);
    ledger__pending_free(p);
    ord__pub_unref(w->pub);
    free(w);
}

static void ord__answer_503(net_waiter *w, const char *why)
{
    ledger_result res;
    memset(&res, 0, sizeof res);
    ledger__res_set(&res, 503, "unavailable", why, NULL);
    ord__answer(w, &res);
}

/* ---- publishing ------------------------------------------------------------------------------ */

static bool ord__retryable(natsStatus s)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
           s == NATS_CONNECTION_DISCONNECTED || s == NATS_NO_SERVER || s == NATS_IO_ERROR ||
           s == NATS_NOT_YET_CONNECTED || s == NATS_STALE_CONNECTION;
}

/* The message of entry e, ready for ord__send (the caller's until then). */
static natsMsg *ord__message(ledger_net *n, const lentry *e)
{
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, n->subject, NULL, e->canon, (int)e->canon_len) != NATS_OK)
        return NULL;
    return m;
}

/* The message of batch pb: the same bytes every time it is sent. */
static natsMsg *ord__pub_message(ledger_net *n, const net_pub *pb)
{
    natsMsg *m = NULL;
    char count[16];
    snprintf(count, sizeof count, "%d", pb->count);
    if (natsMsg_Create(&m, n->subject, NULL, pb->body, (int)pb->len) != NATS_OK)
        return NULL;
    if (natsMsgHeader_Set(m, NET_BATCH_HEADER, count) != NATS_OK) {
        natsMsg_Destroy(m);
        return NULL;
    }
    return m;
}

static void ord__failed(ledger_net *n, const uint8_t id[32], natsStatus s, jsErrCode je);
static void ord__answer_failed(ledger_net *n, net_waiter *w, jsErrCode je);

/* Publishes m asynchronously (taken): the acknowledgement or the error comes
 * to net__publish_acked; a call that fails at once goes the same way. */
static void ord__send(ledger_net *n, natsMsg *m, const uint8_t hash[32], bool genesis)
{
    char id[65];
    ledger__hex(hash, id);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id; /* no MaxWait: the orderer times the acknowledgement (see above) */
    /* a genesis goes only into an empty stream: two inits cannot race */
    po.ExpectNoMessage = genesis;
    natsStatus s = m ? js_PublishMsgAsync(n->js, &m, &po) : NATS_NO_MEMORY;
    natsMsg_Destroy(m); /* NULL once libnats took it */
    if (s != NATS_OK)
        ord__failed(n, hash, s, 0);
}

void ledger__net_checks_begin(ledger_net *n)
{
    n->group.open = true;
    n->group.n = 0;
}

/* Publishes w[0..k) as one message: alone as before when k is 1. */
static void ord__publish_group(ledger_net *n, net_waiter **w, size_t k, size_t bytes)
{
    net_pub *pb = NULL;
    if (k > 1 && (pb = malloc(sizeof *pb + bytes))) {
        uint8_t (*hashes)[32] = malloc(k * 32);
        if (!hashes) {
            free(pb);
            pb = NULL;
        } else {
            size_t at = 0;
            for (size_t i = 0; i < k; i++) {
                const lentry *e = w[i]->pending->e;
                if (i)
                    pb->body[at++] = '\n';
                memcpy(pb->body + at, e->canon, e->canon_len);
                at += e->canon_len;
                memcpy(hashes[i], w[i]->hash, 32);
            }
            pb->len = at;
            pb->count = (int)k;
            atomic_init(&pb->refs, (int)k);
            ledger_batch_id((const uint8_t(*)[32])hashes, k, pb->id);
            free(hashes);
        }
    }
    if (k > 1 && !pb) { /* out of memory for the batch: one by one */
        for (size_t i = 0; i < k; i++)
            ord__publish_group(n, w + i, 1, 0);
        return;
    }
    natsMsg *m = pb ? ord__pub_message(n, pb) : ord__message(n, w[0]->pending->e);
    uint8_t id[32];
    memcpy(id, pb ? pb->id : w[0]->hash, 32);
    int64_t now = cx_mono_us();
    pthread_mutex_lock(&n->mu);
    n->nchecking -= (int)k;
    bool go = !n->stop;
    for (size_t i = 0; i < k; i++) {
        if (go) {
            /* from here on the acknowledgement (another thread) may take it */
            w[i]->state = NW_PUBLISHED;
            w[i]->first_us = w[i]->sent_us = now;
            w[i]->pub = pb;
            w[i]->pos = (int)i;
        } else {
            ord__unlink(n, w[i]);
        }
    }
    pthread_cond_broadcast(&n->cv); /* net__order_flush waits for the checks */
    pthread_mutex_unlock(&n->mu);
    if (go) {
        ord__send(n, m, id, false);
        return;
    }
    natsMsg_Destroy(m);
    for (size_t i = 0; i < k; i++) {
        w[i]->pub = pb; /* its reference goes with it */
        ord__answer_503(w[i], "the ledger is shutting down");
    }
}

void ledger__net_checks_end(ledger_net *n)
{
    net_group *g = &n->group;
    g->open = false;
    /* batches of at most LEDGER_BATCH_MAX entries and LEDGER_BATCH_BYTES,
     * within what the server takes in one message (its max_payload, less
     * room for the headers) */
    size_t cap = LEDGER_BATCH_BYTES;
    int64_t mp = n->nc ? natsConnection_GetMaxPayload(n->nc) : 0;
    if (mp > 4096 && (uint64_t)mp - 1024 < cap)
        cap = (size_t)mp - 1024;
    size_t from = 0, bytes = 0;
    for (size_t i = 0; i <= g->n; i++) {
        size_t len = i < g->n ? g->w[i]->pending->e->canon_len + 1 : 0;
        if (i > from && (i == g->n || i - from == LEDGER_BATCH_MAX ||
                         bytes + len > cap)) {
            ord__publish_group(n, g->w + from, i - from, bytes);
            from = i;
            bytes = 0;
        }
        bytes += len;
    }
    g->n = 0;
    if (g->cap > 256) { /* a burst's array does not stay */
        free(g->w);
        g->w = NULL;
        g->cap = 0;
    }
}

/* Keeps w for the batch of the current job; false if it cannot. */
static bool ord__group_add(ledger_net *n, net_waiter *w)
{
    net_group *g = &n->group;
    if (!g->open)
        return false;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        net_waiter **a = realloc(g->w, cap * sizeof *a);
        if (!a)
            return false;
        g->w = a;
        g->cap = cap;
    }
    g->w[g->n++] = w;
    return true;
}

/* The check's verdict (on the writer's thread, from inside its job). */
static void ord__checked(void *arg, ledger_result *res)
{
    net_waiter *w = arg;
    ledger_pending *p = w->pending;
    ledger_net *n = p->lg->net;
    bool genesis = p->e->type == LT_INIT;
    /* a genesis goes alone (it must be the stream's first message) */
    /* batched only once every node reads batches (net__peers_read_batches) */
    if (res->status == 201 && !genesis && p->e->canon_len < LEDGER_BATCH_BYTES &&
        atomic_load(&n->batch_ok) && ord__group_add(n, w))
        return;
    natsMsg *m = res->status == 201 ? ord__message(n, p->e) : NULL;
    uint8_t hash[32];
    memcpy(hash, w->hash, 32);
    pthread_mutex_lock(&n->mu);
    n->nchecking--;
    bool go = res->status == 201 && !n->stop;
    if (go) {
        /* from here on the acknowledgement (another thread) may take it */
        w->state = NW_PUBLISHED;
        w->first_us = w->sent_us = cx_mono_us();
    } else {
        ord__unlink(n, w);
    }
    pthread_cond_broadcast(&n->cv); /* net__order_flush waits for the checks */
    pthread_mutex_unlock(&n->mu);
    if (go) {
        ord__send(n, m, hash, genesis);
        return;
    }
    natsMsg_Destroy(m);
    if (res->status == 201) {
        ord__answer_503(w, "the ledger is shutting down");
        return;
    }
    /* this node's verdict: a bad entry never reaches the stream */
    if (res->status != 503)
        atomic_fetch_add(&p->lg->n_rejected, 1);
    ledger_result mine = *res; /* ownership moves */
    memset(res, 0, sizeof *res);
    ord__answer(w, &mine);
}

cx_err ledger__net_order(void *self, ledger_pending *p)
{
    ledger_net *n = self;
    char buf[320];
    net_waiter *w = calloc(1, sizeof *w);
    const char *busy = w ? NULL : "out of memory";
    if (w) {
        memcpy(w->hash, p->e->entry_hash, 32);
        snprintf(w->scope, sizeof w->scope, "%s", p->scope);
        w->pending = p;
        w->state = NW_CHECK;
    }
    pthread_mutex_lock(&n->mu);
    if (!busy)
        busy = ord__busy(n, buf, sizeof buf);
    if (!busy) {
        w->next = n->waiters;
        n->waiters = w;
        n->nwaiters++;
        n->nchecking++;
    }
    pthread_mutex_unlock(&n->mu);
    if (busy) {
        free(w);
        ledger_result res;
        memset(&res, 0, sizeof res);
        ledger__res_set(&res, 503, "unavailable", busy, NULL);
        if (p->done)
            p->done(p->arg, &res);
        ledger_result_clear(&res);
        ledger__pending_free(p);
        return CX_OK;
    }
    ledger__precheck(n->lg, p->e, ord__checked, w);
    return CX_OK;
}

/* ---- the stream's acknowledgements (libnats's thread) ----------------------------------------- */

/* Acknowledged at seq. Under mu. */
static void ord__set_acked(ledger_net *n, net_waiter *w, uint64_t seq)
{
    w->seq = seq;
    w->state = n->applied >= seq ? NW_RESOLVE : NW_ACKED;
    w->due_us = cx_mono_us() + NET_APPLY_WAIT_MS * 1000LL;
    if (w->state == NW_RESOLVE)
        pthread_cond_signal(&n->ord_cv);
}

/* A publish of w failed with s: true if w stays on the list (it is on the
 * stream after all, or is retried at due); false to answer it. Under mu. */
static bool ord__keep(ledger_net *n, net_waiter *w, natsStatus s, jsErrCode je, int64_t now)
{
    w->err = s;
    w->je = je;
    if (s != NATS_NO_RESPONDERS && je == 0)
        w->maybe_taken = true;
    if (w->pending->e == NULL) {
        /* the reader took its entry at w->seq: it is on the stream */
        ord__set_acked(n, w, w->seq);
        return true;
    }
    if (ord__retryable(s) && !n->stop && (now - w->first_us) / 1000 < NET_PUBLISH_DEADLINE_MS) {
        /* the same Nats-Msg-Id: the stream keeps one copy however often it comes */
        w->state = NW_RETRY;
        w->due_us = now + NET_RETRY_MS * 1000LL;
        return true;
    }
    return false;
}

/* The 503 of a publish that got no acknowledgement. Only a stream that
 * answered "no responders" (or refused with an error code) to every attempt
 * is known not to have taken it from this request; after a timeout or a lost
 * connection the proposal may still commit once quorum returns, so the answer
 * says so and how a retry tells. */
static void ord__not_taken(const net_waiter *w, ledger_result *res)
{
    char buf[400];
    const char *why = natsStatus_GetText(w->err ? w->err : NATS_TIMEOUT);
    if (w->maybe_taken)
        snprintf(buf, sizeof buf,
                 "the ledger's stream did not acknowledge the entry (%s): it may still be "
                 "ordered once the stream recovers; retrying the same entry is safe, and "
                 "answers 409 duplicate_entry with its index if it was",
                 why);
    else /* this request put nothing on the stream; an earlier one may have */
        snprintf(buf, sizeof buf, "the ledger's stream did not take the entry from this "
                                  "request (%s); retrying is safe",
                 why);
    ledger__res_set(res, 503, "unavailable", buf, NULL);
}

/* A publish of the message with this id failed: every submission in it
 * (one, or a batch's) is kept for a retry or answered. */
static void ord__failed(ledger_net *n, const uint8_t id[32], natsStatus s, jsErrCode je)
{
    net_waiter *done = NULL;
    int64_t now = cx_mono_us();
    pthread_mutex_lock(&n->mu);
    for (net_waiter **pp = &n->waiters, *w; (w = *pp);) {
        if (w->state != NW_PUBLISHED || memcmp(ord__id(w), id, 32) != 0 ||
            ord__keep(n, w, s, je, now)) {
            pp = &w->next;
            continue; /* not this message's, or kept */
        }
        *pp = w->next;
        n->nwaiters--;
        w->next = done;
        done = w;
    }
    pthread_mutex_unlock(&n->mu);
    for (net_waiter *w = done, *next; w; w = next) {
        next = w->next;
        ord__answer_failed(n, w, je);
    }
}

static void ord__answer_failed(ledger_net *n, net_waiter *w, jsErrCode je)
{
    ledger_result res;
    memset(&res, 0, sizeof res);
    if (w->pending->e && w->pending->e->type == LT_INIT && je == JSStreamWrongLastSequenceErr) {
        ledger__res_set(&res, 409, "state_conflict",
                        "the network already carries this ledger: a genesis goes only into "
                        "an empty stream",
                        NULL);
    } else {
        atomic_fetch_add(&n->n_publish_failed, 1);
        ord__not_taken(w, &res);
    }
    ord__answer(w, &res);
}

void net__publish_acked(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    ledger_net *n = closure;
    const char *id = NULL;
    uint8_t hash[32];
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && net__hex_hash(id, hash)) {
        if (pa) {
            /* every submission in the message (a duplicate acknowledgement
             * of a batch: all of its entries are on the stream) */
            pthread_mutex_lock(&n->mu);
            for (net_waiter *w = n->waiters; w; w = w->next)
                if (w->state == NW_PUBLISHED && memcmp(ord__id(w), hash, 32) == 0) {
                    w->dup = pa->Duplicate;
                    ord__set_acked(n, w, pa->Sequence);
                }
            pthread_mutex_unlock(&n->mu);
        } else {
            ord__failed(n, hash, pae ? pae->Err : NATS_ERR, pae ? pae->ErrCode : 0);
        }
    }
    natsMsg_Destroy(m);
}

/* ---- the writer's outcomes -------------------------------------------------------------------- */

void ledger__net_applied(ledger_net *n, ledger_pending *p, bool failed)
{
    net_waiter *mine = NULL;
    pthread_mutex_lock(&n->mu);
    n->inflight--;
    /* a batch's entries are applied in one job and their outcomes come in
     * order after its commit: the sequence is whole with the last */
    bool last = p->pos + 1 >= p->of;
    if (failed) {
        n->resync = true;
    } else {
        if (!p->skipped) {
            if (last)
                n->applied = p->seq;
            atomic_fetch_add(&n->n_applied, 1);
            if (p->res.status != 201)
                atomic_fetch_add(&n->n_stream_rejected, 1);
        } else if (last && p->seq > n->applied) {
            n->applied = p->seq; /* applied already, by another process on this database */
        }
        /* one pass: the submitter of this entry, wherever its
         * acknowledgement is, is taken off the list; a copy acknowledged at
         * or before this sequence that was not given this outcome (a
         * duplicate, or applied by another process) has its answer read
         * from the database */
        bool want = !p->skipped && p->has_msg_hash;
        for (net_waiter **pp = &n->waiters, *w; (w = *pp);) {
            if (want && !mine && w->state != NW_CHECK && w->state != NW_RESOLVE &&
                memcmp(w->hash, p->msg_hash, 32) == 0) {
                mine = w;
                *pp = w->next;
                n->nwaiters--;
                continue;
            }
            if (w->state == NW_ACKED && (w->seq < p->seq || (w->seq == p->seq && last))) {
                w->state = NW_RESOLVE;
                pthread_cond_signal(&n->ord_cv);
            }
            pp = &w->next;
        }
    }
    /* the reader (its window) and ledger_net_sync wait on n->cv */
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (mine) {
        ledger_result res = p->res; /* ownership moves: p is freed after this */
        memset(&p->res, 0, sizeof p->res);
        ord__answer(mine, &res);
    }
}

/* ---- the orderer's thread: retries, answers from the database, timeouts ------------------------ */

/* The outcome of the entry hash at seq (alone or in a batch) as this
 * database recorded it, when the reader did not hand it over (another
 * process on this database applied it first). */
static void ord__recorded(ledger_net *n, uint64_t seq, const uint8_t hash[32], ledger_result *res)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT idx, leaf_hash, pos FROM ledger_entries WHERE "
                                         "seq=?1 AND entry_hash=?2")
                         : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, (int64_t)seq);
        sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
            res->status = 201;
            res->index = sqlite3_column_int64(st, 0);
            res->seq = seq;
            res->pos = (unsigned)sqlite3_column_int(st, 2);
            memcpy(res->leaf_hash, sqlite3_column_blob(st, 1), 32);
            res->findings = json_array();
        }
        sqlite3_reset(st);
    }
    st = !res->status && c ? store_stmt(c, "SELECT status, code, message, details FROM "
                                           "ledger_rejected WHERE seq=?1 AND (entry_hash=?2 OR "
                                           "entry_hash IS NULL) ORDER BY pos LIMIT 1")
                           : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, (int64_t)seq);
        sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
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
static void ord__earlier(ledger_net *n, uint64_t seq, const uint8_t hash[32], ledger_result *res)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT idx FROM ledger_entries WHERE seq=?1 AND "
                                         "entry_hash=?2")
                         : NULL;
    int64_t idx = -1;
    if (st) {
        sqlite3_bind_int64(st, 1, (int64_t)seq);
        sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
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

/* Answers w, taken off the list, from where it stood; applied and why_failed
 * as read under mu. */
static void ord__settle(ledger_net *n, net_waiter *w, uint64_t applied, const char *why_failed)
{
    ledger_result res;
    memset(&res, 0, sizeof res);
    char buf[400];
    bool on_stream = w->state == NW_ACKED || w->state == NW_RESOLVE;
    if (on_stream && applied >= w->seq) {
        if (w->dup)
            ord__earlier(n, w->seq, w->hash, &res);
        else
            ord__recorded(n, w->seq, w->hash, &res);
    } else if (on_stream) {
        snprintf(buf, sizeof buf, "the entry was ordered at stream sequence %llu but this node "
                                  "has not applied it yet; it will be (GET /v1/ledger/entries "
                                  "shows it once it is)",
                 (unsigned long long)w->seq);
        ledger__res_set(&res, 503, "unavailable", buf, NULL);
    } else if (why_failed) {
        ledger__res_set(&res, 503, "unavailable", why_failed, NULL);
    } else {
        atomic_fetch_add(&n->n_publish_failed, 1);
        ord__not_taken(w, &res);
    }
    ord__answer(w, &res);
}

/* What is due now, taken off the list (settle) or marked published again
 * with its message (resend). Under mu. */
static void ord__due(ledger_net *n, net_waiter **settle, natsMsg **resend, uint8_t (*hashes)[32],
                     bool *genesis, int *nresend, int cap)
{
    int64_t now = cx_mono_us();
    bool failed = n->failed[0] != 0;
    for (net_waiter **pp = &n->waiters, *w; (w = *pp);) {
        /* no acknowledgement in time: a timeout, retried as any other
         * (libnats keeps the message until purged, see ord__purge) */
        bool timed_out = w->state == NW_PUBLISHED && !failed &&
                         now - w->sent_us >= NET_PUBLISH_WAIT_MS * 1000LL;
        if (timed_out)
            n->purge_acks = true;
        bool take = (timed_out && !ord__keep(n, w, NATS_TIMEOUT, 0, now)) ||
                    w->state == NW_RESOLVE ||
                    (w->state == NW_ACKED && (w->due_us <= now || failed)) ||
                    (w->state == NW_PUBLISHED && failed) || (w->state == NW_RETRY && failed);
        if (w->state == NW_RETRY && !take && w->due_us <= now && *nresend < cap) {
            if (!w->pending->e) { /* the reader took it from the stream meanwhile */
                ord__set_acked(n, w, w->seq);
            } else if (w->pub) {
                /* the identical batch again, for all of its submissions */
                resend[*nresend] = ord__pub_message(n, w->pub);
                memcpy(hashes[*nresend], w->pub->id, 32);
                genesis[(*nresend)++] = false;
                for (net_waiter *o = n->waiters; o; o = o->next)
                    if (o->pub == w->pub && o->state == NW_RETRY) {
                        o->state = NW_PUBLISHED;
                        o->sent_us = now;
                    }
            } else {
                resend[*nresend] = ord__message(n, w->pending->e);
                memcpy(hashes[*nresend], w->hash, 32);
                genesis[(*nresend)++] = w->pending->e->type == LT_INIT;
                w->state = NW_PUBLISHED;
                w->sent_us = now;
            }
        }
        if (take) {
            *pp = w->next;
            n->nwaiters--;
            w->next = *settle;
            *settle = w;
        } else {
            pp = &w->next;
        }
    }
}

#define ORD_RESEND_MAX 64

/* Drops the messages libnats holds for acknowledgements not yet received:
 * after a timeout, one of them will never come (it went down with a
 * server), and without MaxWait nothing else frees it or its place in
 * PublishAsync.MaxPending. A publish still in flight loses only its
 * acknowledgement: the reader answers it when the stream brings it, or the
 * orderer times it out and publishes it again (the same Nats-Msg-Id). */
static void ord__purge(ledger_net *n)
{
    natsMsgList lost = {0};
    if (js_PublishAsyncGetPendingList(&lost, n->js) == NATS_OK)
        natsMsgList_Destroy(&lost);
}

static void *ord__main(void *arg)
{
    ledger_net *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        net_waiter *settle = NULL;
        natsMsg *resend[ORD_RESEND_MAX];
        uint8_t hashes[ORD_RESEND_MAX][32];
        bool genesis[ORD_RESEND_MAX];
        int nresend = 0;
        ord__due(n, &settle, resend, hashes, genesis, &nresend, ORD_RESEND_MAX);
        bool purge = n->purge_acks;
        n->purge_acks = false;
        uint64_t applied = n->applied;
        char failed[sizeof n->failed + 64] = "";
        if (n->failed[0])
            snprintf(failed, sizeof failed, "this node stopped applying the ledger: %s",
                     n->failed);
        if (!settle && !nresend && !purge) {
            struct timespec ts;
            net__deadline(&ts, NET_ORDER_TICK_MS);
            pthread_cond_timedwait(&n->ord_cv, &n->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&n->mu);
        if (purge) /* before the resends, which are awaited anew */
            ord__purge(n);
        for (int i = 0; i < nresend; i++)
            ord__send(n, resend[i], hashes[i], genesis[i]);
        for (net_waiter *w = settle, *next; w; w = next) {
            next = w->next;
            ord__settle(n, w, applied, failed[0] ? failed : NULL);
        }
        pthread_mutex_lock(&n->mu);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

cx_err net__order_start(ledger_net *n)
{
    if (pthread_create(&n->order_thread, NULL, ord__main, n) != 0)
        return CX_ENOMEM;
    n->order_started = true;
    return CX_OK;
}

void net__order_flush(ledger_net *n)
{
    pthread_mutex_lock(&n->mu);
    while (n->nchecking > 0) /* the writer answers them (stopping: 503) */
        pthread_cond_wait(&n->cv, &n->mu);
    net_waiter *all = n->waiters;
    n->waiters = NULL;
    n->nwaiters = 0;
    uint64_t applied = n->applied;
    pthread_mutex_unlock(&n->mu);
    for (net_waiter *w = all, *next; w; w = next) {
        next = w->next;
        if ((w->state == NW_ACKED || w->state == NW_RESOLVE) && applied >= w->seq)
            ord__settle(n, w, applied, NULL);
        else
            ord__answer_503(w, "the ledger is shutting down; the entry may or may not be "
                               "ordered: retrying is safe");
    }
}
