/* The reader of a networked node: takes the entry stream in order, from the
 * sequence after the last one the database applied, and hands each message
 * to the store's writer, which applies it with the same rules on every node
 * (append.c). An ordered consumer delivers the stream without gaps and
 * recreates itself after a server dies; when the writer reports a gap or a
 * failed commit the reader waits for what it handed over, reads the
 * database's sequence again and resubscribes from there.
 *
 * A message is one entry, or a batch (header Ledger-Batch: n, n canonical
 * texts joined by '\n', docs/ledger.md "Stream format"): its entries are
 * pendings at (seq, 0..n-1), all in the same writer job, so the applied
 * sequence only ever moves past whole messages. */
#include "net_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool net__genesis_ok(ledger_net *n, const char *data, size_t len, char *why, size_t cap)
{
    lentry *e = NULL;
    char msg[200];
    if (ledger__entry_decode(data, len, &e, NULL, msg, sizeof msg) != CX_OK) {
        snprintf(why, cap, "its first message is not a ledger entry (%s)", msg);
        return false;
    }
    bool ok = false;
    const char *origin = json_string_value(json_object_get(e->body, "origin"));
    char hex[65];
    if (e->type != LT_INIT)
        snprintf(why, cap, "its first message is a %s, not a genesis",
                 ledger__type_names[e->type]);
    else if (n->trust_origin[0] && (!origin || strcmp(origin, n->trust_origin) != 0))
        snprintf(why, cap, "its genesis names ledger %s, the trust file %s", origin ? origin : "?",
                 n->trust_origin);
    else if (n->has_trust_genesis && memcmp(e->leaf_hash, n->trust_genesis, 32) != 0)
        snprintf(why, cap, "its genesis (leaf %s) is not the one the trust file names",
                 (ledger__hex(e->leaf_hash, hex), hex));
    else
        ok = true;
    ledger__entry_free(e);
    return ok;
}

const char *net__batch_count(natsMsg *m)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, NET_BATCH_HEADER, &v) == NATS_OK ? v : NULL;
}

bool net__message_hash(natsMsg *m, uint8_t out[32])
{
    lentry *e = NULL;
    char msg[200];
    bool ok = false;
    const char *data = natsMsg_GetData(m);
    size_t len = (size_t)natsMsg_GetDataLength(m);
    const char *count = net__batch_count(m);
    if (count) { /* a batch: its first entry, as recorded at (seq, 0) */
        size_t off[LEDGER_BATCH_MAX], lens[LEDGER_BATCH_MAX];
        if (ledger_batch_split(count, data, len, off, lens, msg, sizeof msg) < 1)
            return false;
        data += off[0];
        len = lens[0];
    }
    if (ledger__entry_decode(data, len, &e, NULL, msg, sizeof msg) == CX_OK) {
        memcpy(out, e->entry_hash, 32);
        ok = true;
    } else if (!count) {
        const char *id = NULL;
        ok = natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && net__hex_hash(id, out);
    }
    ledger__entry_free(e);
    return ok;
}

/* The database's applied sequence (after a failure, the truth); false when
 * it could not be read (logged): never 0 for "unknown", which would have the
 * reader fetch the whole stream again. */
static bool apply__db_seq(ledger_net *n, uint64_t *seq)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT applied_seq FROM ledger_stream WHERE id=1")
                         : NULL;
    cx_err e = st ? CX_OK : CX_EDB;
    bool row = st && store_next(st, &e);
    if (row)
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    return row && e == CX_OK;
}

static void apply__fail(ledger_net *n, const char *why)
{
    pthread_mutex_lock(&n->mu);
    snprintf(n->failed, sizeof n->failed, "%s", why);
    net__wake_all(n);
    pthread_mutex_unlock(&n->mu);
    cx_log(CX_LOG_ERROR, "ledger network: %s", why);
}

/* Waits for every message handed to the writer, then takes the database's
 * sequence as the place to read on from. False when stopping. */
static bool apply__settle(ledger_net *n)
{
    pthread_mutex_lock(&n->mu);
    while (n->inflight > 0 && !n->stop)
        pthread_cond_wait(&n->cv, &n->mu);
    bool go = !n->stop;
    pthread_mutex_unlock(&n->mu);
    uint64_t seq = 0;
    while (go && !apply__db_seq(n, &seq)) { /* try again shortly, as after a lost server */
        cx_log(CX_LOG_WARN, "ledger network: cannot read this node's applied sequence; "
                            "retrying in a second");
        go = net__nap(n, 1000);
    }
    if (!go)
        return false;
    pthread_mutex_lock(&n->mu);
    n->applied = n->submitted = seq;
    n->resync = false;
    pthread_mutex_unlock(&n->mu);
    return true;
}

static natsSubscription *apply__subscribe(ledger_net *n, uint64_t from)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = n->stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from;
    so.Config.Heartbeat = 1000000000LL; /* ns: notice a lost consumer within seconds */
    natsSubscription *sub = NULL;
    jsErrCode je = 0;
    natsStatus s = js_SubscribeSync(&sub, n->js, n->subject, NULL, &so, &je);
    if (s != NATS_OK) {
        cx_log(CX_LOG_WARN, "ledger network: cannot read %s from %llu: %s", n->stream,
               (unsigned long long)from, natsStatus_GetText(s));
        return NULL;
    }
    /* the stream may run far ahead of the writer: let libnats buffer it */
    natsSubscription_SetPendingLimits(sub, -1, 256 << 20);
    return sub;
}

/* The entries of a batch message at seq (count: its Ledger-Batch header)
 * as pending entries, out[0..k); k, or 0 when out of memory. One that does
 * not parse is one rejection at (seq, 0). This node's own entries, published
 * in this batch (the same Nats-Msg-Id, the same position, the same bytes),
 * are taken decoded and verified, as for a message of one entry. */
static size_t apply__batch_entries(ledger_net *n, natsMsg *m, const char *count, uint64_t seq,
                                   int64_t ts, ledger_pending **out)
{
    const char *data = natsMsg_GetData(m);
    size_t len = (size_t)natsMsg_GetDataLength(m);
    size_t off[LEDGER_BATCH_MAX], lens[LEDGER_BATCH_MAX];
    char why[200];
    int k = ledger_batch_split(count, data, len, off, lens, why, sizeof why);
    if (k < 1) {
        out[0] = ledger__pending_stream_bad(n->lg, seq, ts, why);
        return out[0] ? 1 : 0;
    }
    memset(out, 0, sizeof *out * (size_t)k);
    char scope[LEDGER_BATCH_MAX][CX_ORG_MAX + 1];
    const char *id = NULL;
    uint8_t h[32];
    bool has_id = natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && net__hex_hash(id, h);
    pthread_mutex_lock(&n->mu);
    for (net_waiter *w = n->waiters; has_id && w; w = w->next) {
        if (!w->pub || memcmp(w->pub->id, h, 32) != 0 || w->pos >= k || out[w->pos])
            continue;
        lentry *e = w->pending ? w->pending->e : NULL;
        bool here = w->state == NW_ACKED ? w->seq == seq
                                         : w->state == NW_PUBLISHED || w->state == NW_RETRY;
        size_t i = w->pos;
        if (here && e && e->canon_len == lens[i] && memcmp(e->canon, data + off[i], lens[i]) == 0) {
            out[i] = ledger__pending_stream_own(n->lg, e, w->pending->decl, seq, ts);
            w->pending->e = NULL;
            w->pending->decl = NULL;
            w->seq = seq;
            snprintf(scope[i], sizeof scope[i], "%s", w->scope);
            if (!out[i])
                break;
        }
    }
    pthread_mutex_unlock(&n->mu);
    bool ok = true;
    for (int i = 0; i < k; i++) {
        if (!out[i])
            out[i] = ledger__pending_stream(n->lg, data + off[i], lens[i], seq, ts, NULL);
        else
            snprintf(out[i]->scope, sizeof out[i]->scope, "%s", scope[i]);
        if (!out[i])
            ok = false;
        else {
            out[i]->pos = (uint16_t)i;
            out[i]->of = (uint16_t)k;
        }
    }
    if (ok)
        return (size_t)k;
    for (int i = 0; i < k; i++)
        ledger__pending_free(out[i]);
    return 0;
}

/* One stream message as pending entries for the writer (one, or a batch's,
 * at most LEDGER_BATCH_MAX). *next is the sequence expected (it moves on);
 * returns the number put in out, 0 for nothing to apply (flow control, a
 * message delivered again), -1 when the stream must be read again (a gap),
 * -2 when this node must stop applying. */
static int apply__message(ledger_net *n, natsMsg *m, uint64_t *next, ledger_pending **out)
{
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, m) != NATS_OK)
        return 0; /* not a stream message: flow control, heartbeats */
    uint64_t seq = md->Sequence.Stream;
    int64_t ts = md->Timestamp / 1000;
    uint64_t last = seq + md->NumPending;
    jsMsgMetaData_Destroy(md);
    pthread_mutex_lock(&n->mu);
    if (last > n->stream_last)
        n->stream_last = last;
    pthread_mutex_unlock(&n->mu);
    if (seq < *next)
        return 0; /* delivered again after a reset */
    if (seq != *next)
        return -1;
    const char *data = natsMsg_GetData(m);
    size_t len = (size_t)natsMsg_GetDataLength(m);
    char why[300];
    const char *count = net__batch_count(m);
    if (count && seq == 1 && (n->trust_origin[0] || n->has_trust_genesis)) {
        char msg[400];
        snprintf(msg, sizeof msg, "refusing ledger %s: its first message is a batch, not a "
                                  "genesis", n->origin);
        apply__fail(n, msg);
        return -2;
    }
    if (count) {
        size_t k = apply__batch_entries(n, m, count, seq, ts, out);
        if (!k) {
            apply__fail(n, "out of memory");
            return -2;
        }
        *next = seq + 1;
        return (int)k;
    }
    if (seq == 1 && (n->trust_origin[0] || n->has_trust_genesis) &&
        !net__genesis_ok(n, data, len, why, sizeof why)) {
        char msg[400];
        snprintf(msg, sizeof msg, "refusing ledger %s: %s", n->origin, why);
        apply__fail(n, msg);
        return -2;
    }
    const char *id = NULL;
    uint8_t h[32];
    bool has_id = natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && net__hex_hash(id, h);
    /* this node's own submission, published and not acknowledged at
     * another sequence: its entry was decoded and its signatures verified a
     * moment ago, on these very bytes (the sequence is noted: the
     * acknowledgement may come after this, or be lost) */
    ledger_pending *p = NULL;
    char scope[CX_ORG_MAX + 1] = "";
    pthread_mutex_lock(&n->mu);
    for (net_waiter *w = n->waiters; has_id && w; w = w->next) {
        if (memcmp(w->hash, h, 32) != 0)
            continue;
        snprintf(scope, sizeof scope, "%s", w->scope);
        lentry *e = w->pending ? w->pending->e : NULL;
        bool here = w->state == NW_ACKED ? w->seq == seq
                                         : w->state == NW_PUBLISHED || w->state == NW_RETRY;
        if (here && e && e->canon_len == len && memcmp(e->canon, data, len) == 0) {
            p = ledger__pending_stream_own(n->lg, e, w->pending->decl, seq, ts);
            w->pending->e = NULL;
            w->pending->decl = NULL;
            w->seq = seq;
            break;
        }
    }
    pthread_mutex_unlock(&n->mu);
    if (!p)
        p = ledger__pending_stream(n->lg, data, len, seq, ts, has_id ? h : NULL);
    if (!p) {
        apply__fail(n, "out of memory");
        return -2;
    }
    /* the submitter waiting for it (on this node) reads findings in its scope */
    snprintf(p->scope, sizeof p->scope, "%s", scope);
    *next = seq + 1;
    out[0] = p;
    return 1;
}

/* Hands a batch to the writer, within the window of messages in flight;
 * false when stopping. */
static bool apply__flush(ledger_net *n, ledger_stream_batch *b, uint64_t last_seq)
{
    size_t k = ledger__stream_batch_size(b);
    pthread_mutex_lock(&n->mu);
    while (n->inflight + k > NET_MAX_INFLIGHT && !n->stop && !n->resync)
        pthread_cond_wait(&n->cv, &n->mu);
    bool go = !n->stop && !n->resync;
    if (go) {
        n->inflight += k;
        n->submitted = last_seq;
    }
    pthread_mutex_unlock(&n->mu);
    if (go && ledger__stream_batch_append(n->lg, b) == CX_OK)
        return true;
    if (go) { /* the store is closing */
        pthread_mutex_lock(&n->mu);
        n->inflight -= k;
        pthread_cond_broadcast(&n->cv);
        go = !n->stop;
        pthread_mutex_unlock(&n->mu);
    }
    ledger__stream_batch_free(b);
    return go;
}

/* The message m and whatever else libnats holds already, into one batch.
 * false when stopping.
 *
 * The messages are destroyed together once the batch is decoded: libnats
 * frees a received message on its garbage collector's thread, and
 * natsMsg_Destroy wakes that thread whenever it is waiting — one wake (a
 * futex call and a context switch on each side) per stream message when
 * they are destroyed one by one between decodes, one per batch this way. */
static bool apply__batch(ledger_net *n, natsSubscription *sub, natsMsg *m)
{
    ledger_stream_batch *b = ledger__stream_batch_new();
    if (!b) {
        natsMsg_Destroy(m);
        apply__fail(n, "out of memory");
        return false;
    }
    pthread_mutex_lock(&n->mu);
    uint64_t next = n->submitted + 1;
    pthread_mutex_unlock(&n->mu);
    int queued = 0;
    natsSubscription_GetPending(sub, &queued, NULL);
    int r = 0;
    /* every message taken counts, flow control included: the batch stays
     * within its bound too */
    natsMsg *taken[LEDGER_STREAM_BATCH];
    size_t ntaken = 0;
    for (;;) {
        ledger_pending *p[LEDGER_BATCH_MAX];
        r = apply__message(n, m, &next, p);
        taken[ntaken++] = m;
        m = NULL;
        for (int i = 0; i < r; i++)
            ledger__stream_batch_add(b, p[i]);
        /* a message's entries go in one writer job: the job holds
         * LEDGER_STREAM_BATCH entries and one more message's */
        if (r < 0 || ntaken == LEDGER_STREAM_BATCH ||
            ledger__stream_batch_size(b) >= LEDGER_STREAM_BATCH || queued-- <= 0 ||
            natsSubscription_NextMsg(&m, sub, 50) != NATS_OK)
            break;
    }
    natsMsg_Destroy(m);
    for (size_t i = 0; i < ntaken; i++)
        natsMsg_Destroy(taken[i]);
    if (r == -1) {
        pthread_mutex_lock(&n->mu);
        n->resync = true;
        pthread_mutex_unlock(&n->mu);
    }
    if (r == -2 || !ledger__stream_batch_size(b)) {
        ledger__stream_batch_free(b);
        return r != -2;
    }
    /* what came before a gap still goes: it is in order */
    return apply__flush(n, b, next - 1);
}

static void *apply__main(void *arg)
{
    ledger_net *n = arg;
    natsSubscription *sub = NULL;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        bool stop = n->stop || n->failed[0], resync = n->resync;
        uint64_t from = n->submitted + 1;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
        if (resync || !sub) {
            natsSubscription_Destroy(sub);
            sub = NULL;
            if (resync) {
                if (!apply__settle(n))
                    break;
                pthread_mutex_lock(&n->mu);
                from = n->submitted + 1;
                pthread_mutex_unlock(&n->mu);
            }
            if (!(sub = apply__subscribe(n, from))) {
                if (!net__nap(n, 500))
                    break;
                continue;
            }
        }
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, sub, 250);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            /* the ordered consumer gave up (a long outage): start it again */
            cx_log(CX_LOG_WARN, "ledger network: reading %s: %s", n->stream,
                   natsStatus_GetText(s));
            pthread_mutex_lock(&n->mu);
            n->resync = true;
            pthread_mutex_unlock(&n->mu);
            net__nap(n, 250);
            continue;
        }
        if (!apply__batch(n, sub, m))
            break;
    }
    natsSubscription_Destroy(sub);
    return NULL;
}

cx_err net__apply_start(ledger_net *n)
{
    if (pthread_create(&n->apply_thread, NULL, apply__main, n) != 0)
        return CX_ENOMEM;
    n->apply_started = true;
    return CX_OK;
}
