/* The ledger on a network: NATS JetStream orders the entries of every
 * node. One stream per ledger origin holds the entries (replicated by the
 * cluster's Raft, R3 in production); a second holds the nodes'
 * cosignatures; a key-value bucket their status.
 *
 * This file connects, finds or creates the streams, checks that the stream
 * is the one this database follows (and that its genesis is the trust
 * file's), starts and stops the node's threads. The orderer is in
 * net_order.c, the reader in net_apply.c, the cosigner in net_cosign.c. */
#include "net_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small helpers ------------------------------------------------------------------------ */

bool net__hex_hash(const char *s, uint8_t out[32])
{
    return s && strlen(s) == 64 && cx_unhex(s, out, 32);
}

void net__token(const char *origin, char out[64])
{
    uint8_t h[32];
    crypto_hash_sha256(h, (const uint8_t *)origin, strlen(origin));
    size_t n = 0;
    for (const char *p = origin; *p && n < 40; p++) {
        char c = *p;
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        out[n++] = keep ? c : '_';
    }
    snprintf(out + n, 64 - n, "_%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
}

void net__names(ledger_net *n)
{
    net__token(n->origin, n->token);
    snprintf(n->stream, sizeof n->stream, "LEDGER_%s", n->token);
    snprintf(n->subject, sizeof n->subject, "customs.ledger.%s.entries", n->token);
    snprintf(n->cosign_stream, sizeof n->cosign_stream, "LEDGER_%s_COSIGN", n->token);
    snprintf(n->cosign_subject, sizeof n->cosign_subject, "customs.ledger.%s.cosign", n->token);
    snprintf(n->bucket, sizeof n->bucket, "LEDGER_%s_NODES", n->token);
}

void net__deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void net__wake_all(ledger_net *n)
{
    pthread_cond_broadcast(&n->cv);
    pthread_cond_signal(&n->ord_cv);
}

bool net__nap(ledger_net *n, int64_t ms)
{
    struct timespec ts;
    net__deadline(&ts, ms);
    pthread_mutex_lock(&n->mu);
    if (!n->stop)
        pthread_cond_timedwait(&n->cv, &n->mu, &ts);
    bool go = !n->stop;
    pthread_mutex_unlock(&n->mu);
    return go;
}

static void net__conn_changed(natsConnection *nc, void *closure)
{
    ledger_net *n = closure;
    bool up = natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
    pthread_mutex_lock(&n->mu);
    n->connected = up;
    bool stopping = n->stop;
    pthread_mutex_unlock(&n->mu);
    if (!stopping)
        cx_log(up ? CX_LOG_INFO : CX_LOG_WARN, "ledger network: %s",
               up ? "reconnected" : "disconnected from the NATS server; reconnecting");
}

static void net__conn_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    ledger_net *n = closure;
    pthread_mutex_lock(&n->mu);
    n->closed = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void net__disconnect(ledger_net *n)
{
    /* the connection is closed first: until then libnats's threads may
     * still deliver an acknowledgement or time a publish out on js */
    if (n->nc) {
        pthread_mutex_lock(&n->mu);
        n->stop = true; /* closing is not a disconnection worth a warning */
        pthread_mutex_unlock(&n->mu);
        natsConnection_Close(n->nc);
        /* libnats calls back on a thread of its own, the closed callback
         * last: n must outlive every callback */
        struct timespec ts;
        net__deadline(&ts, 5000);
        pthread_mutex_lock(&n->mu);
        int rc = 0;
        while (!n->closed && rc == 0)
            rc = pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        pthread_mutex_unlock(&n->mu);
    }
    kvStore_Destroy(n->kv);
    n->kv = NULL;
    jsCtx_Destroy(n->js);
    n->js = NULL;
    natsConnection_Destroy(n->nc);
    n->nc = NULL;
    natsOptions_Destroy(n->opts);
    n->opts = NULL;
}

/* ---- connection and streams ----------------------------------------------------------------- */

cx_err net__parse_urls(ledger_net *n, const char *urls, char *err, size_t errlen)
{
    if (!urls || strlen(urls) >= sizeof n->urls_text) {
        snprintf(err, errlen, "--ledger-network needs nats://HOST:PORT URLs, comma separated");
        return CX_EINVAL;
    }
    snprintf(n->urls_text, sizeof n->urls_text, "%s", urls);
    char *save = NULL;
    for (char *t = strtok_r(n->urls_text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        bool tls = strncmp(t, "tls://", 6) == 0;
        if (n->nurls == NET_MAX_URLS || (!tls && strncmp(t, "nats://", 7) != 0)) {
            snprintf(err, errlen, "--ledger-network: '%s' is not a nats://HOST:PORT or "
                                  "tls://HOST:PORT URL (at most %d)",
                     t, NET_MAX_URLS);
            return CX_EINVAL;
        }
        n->tls_urls |= tls;
        n->urls[n->nurls++] = t;
    }
    if (!n->nurls) {
        snprintf(err, errlen, "--ledger-network needs at least one nats://HOST:PORT URL");
        return CX_EINVAL;
    }
    return CX_OK;
}

cx_err net__connect(ledger_net *n, const ledger_nats_auth *auth, char *err, size_t errlen)
{
    char name[CX_ORG_MAX + 32];
    snprintf(name, sizeof name, "customs-ledger-%s", n->org[0] ? n->org : "cli");
    natsOptions_Destroy(n->opts); /* a retry's */
    n->opts = NULL;
    natsStatus s = natsOptions_Create(&n->opts);
    if (s == NATS_OK)
        s = natsOptions_SetServers(n->opts, (const char **)n->urls, n->nurls);
    if (s == NATS_OK)
        s = natsOptions_SetName(n->opts, name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(n->opts, -1); /* a node outlives any outage */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(n->opts, 250);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(n->opts, 2000);
    if (s == NATS_OK) /* notice a dead server in seconds, not minutes */
        s = natsOptions_SetPingInterval(n->opts, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(n->opts, 3);
    /* a publish goes out from the publishing thread at once: libnats's
     * flusher otherwise waits 1 ms for more, on every submission's way */
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(n->opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(n->opts, net__conn_changed, n);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(n->opts, net__conn_changed, n);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(n->opts, net__conn_closed, n);
    if (s != NATS_OK) {
        snprintf(err, errlen, "NATS options: %s", natsStatus_GetText(s));
        return CX_ENOMEM;
    }
    cx_err e = net__auth_apply(n->opts, auth, n->tls_urls, err, errlen);
    if (e != CX_OK)
        return e;
    if ((s = natsConnection_Connect(&n->nc, n->opts)) != NATS_OK)
        return net__connect_error(s, n->urls[0], auth && auth->ca, err, errlen);
    n->connected = true;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    /* submissions are published asynchronously (net_order.c): never more
     * in flight than it lets in, so a publish never stalls the writer */
    jo.PublishAsync.MaxPending = 2 * NET_MAX_WAITERS;
    jo.PublishAsync.AckHandler = net__publish_acked;
    jo.PublishAsync.AckHandlerClosure = n;
    if ((s = natsConnection_JetStream(&n->js, n->nc, &jo)) != NATS_OK) {
        snprintf(err, errlen, "JetStream: %s", natsStatus_GetText(s));
        return CX_EIO;
    }
    return CX_OK;
}

const char *net__stream_origin(const jsStreamConfig *c)
{
    static const char prefix[] = "customs ledger ", cosign[] = "customs ledger cosignatures of ";
    if (!c || !c->Name || strncmp(c->Name, "LEDGER_", 7) != 0 || !c->Description ||
        strncmp(c->Description, prefix, sizeof prefix - 1) != 0 ||
        strncmp(c->Description, cosign, sizeof cosign - 1) == 0)
        return NULL;
    return c->Description + sizeof prefix - 1;
}

/* The origin of the one ledger stream the cluster carries. */
static cx_err net__only_origin(ledger_net *n, char *err, size_t errlen)
{
    jsStreamInfoList *list = NULL;
    jsErrCode je = 0;
    natsStatus s = js_Streams(&list, n->js, NULL, &je);
    if (s == NATS_NOT_FOUND) {
        snprintf(err, errlen, "the NATS cluster carries no ledger yet: give --ledger-origin, or "
                              "create one with customs ledger init --ledger-network");
        return CX_ENOTFOUND;
    }
    if (s != NATS_OK) {
        snprintf(err, errlen, "cannot list the cluster's streams: %s", natsStatus_GetText(s));
        return CX_EIO;
    }
    int found = 0;
    for (int i = 0; list && i < list->Count; i++) {
        const char *origin = net__stream_origin(list->List[i]->Config);
        if (origin && found++ == 0)
            snprintf(n->origin, sizeof n->origin, "%s", origin);
    }
    jsStreamInfoList_Destroy(list);
    if (found == 1)
        return CX_OK;
    snprintf(err, errlen, found ? "the NATS cluster carries %d ledgers: name one with "
                                  "--ledger-origin"
                                : "the NATS cluster carries no ledger yet: give --ledger-origin, "
                                  "or create one with customs ledger init --ledger-network",
             found);
    return found ? CX_EINVAL : CX_ENOTFOUND;
}

static cx_err net__add_stream(ledger_net *n, const char *name, const char *subject, bool entries,
                              char *err, size_t errlen)
{
    jsStreamConfig c;
    jsStreamConfig_Init(&c);
    char desc[LEDGER_ORIGIN_MAX + 32];
    snprintf(desc, sizeof desc, "customs ledger %s%s", entries ? "" : "cosignatures of ",
             n->origin);
    const char *subjects[1] = {subject};
    c.Name = name;
    c.Description = desc;
    c.Subjects = subjects;
    c.SubjectsLen = 1;
    c.Storage = js_FileStorage;
    c.Replicas = n->replicas;
    c.Retention = js_LimitsPolicy;
    if (entries) {
        /* the log: nothing is ever removed */
        c.MaxMsgSize = (int32_t)(LEDGER_MAX_ENTRY + 4096);
        c.DenyDelete = true;
        c.DenyPurge = true;
    } else {
        c.MaxMsgs = 100000; /* hours of cosignatures; each node keeps what it verified */
        c.MaxMsgSize = 4096;
        c.Discard = js_DiscardOld;
    }
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_AddStream(&si, n->js, &c, NULL, &je);
    jsStreamInfo_Destroy(si);
    /* another node created it meanwhile, with its own replica count: use it */
    if (s == NATS_OK || je == JSStreamNameExistErr)
        return CX_OK;
    snprintf(err, errlen, "cannot create stream %s (%d replicas): %s", name, n->replicas,
             nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
    return CX_EIO;
}

static cx_err net__streams(ledger_net *n, bool create, uint64_t *first, uint64_t *last,
                           char *err, size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_GetStreamInfo(&si, n->js, n->stream, NULL, &je);
    if (s == NATS_NOT_FOUND && !create) {
        snprintf(err, errlen, "the NATS cluster carries no ledger %s (stream %s)", n->origin,
                 n->stream);
        return CX_ENOTFOUND;
    }
    if (s == NATS_NOT_FOUND) {
        cx_err e = net__add_stream(n, n->stream, n->subject, true, err, errlen);
        if (e != CX_OK)
            return e;
        s = js_GetStreamInfo(&si, n->js, n->stream, NULL, &je);
    }
    if (s != NATS_OK) {
        snprintf(err, errlen, "stream %s does not answer: %s", n->stream, natsStatus_GetText(s));
        return CX_EIO;
    }
    *first = si->State.Msgs ? si->State.FirstSeq : 0;
    *last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    si = NULL;
    s = js_GetStreamInfo(&si, n->js, n->cosign_stream, NULL, &je);
    jsStreamInfo_Destroy(si);
    if (s == NATS_NOT_FOUND) {
        cx_err e = net__add_stream(n, n->cosign_stream, n->cosign_subject, false, err, errlen);
        if (e != CX_OK)
            return e;
    } else if (s != NATS_OK) {
        snprintf(err, errlen, "stream %s does not answer: %s", n->cosign_stream,
                 natsStatus_GetText(s));
        return CX_EIO;
    }
    if (!n->node)
        return CX_OK;
    s = js_KeyValue(&n->kv, n->js, n->bucket);
    if (s == NATS_NOT_FOUND) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = n->bucket;
        kc.History = 1;
        kc.Replicas = n->replicas;
        kc.StorageType = js_FileStorage;
        s = js_CreateKeyValue(&n->kv, n->js, &kc);
        if (s != NATS_OK) /* created by another node meanwhile */
            s = js_KeyValue(&n->kv, n->js, n->bucket);
    }
    if (s != NATS_OK) {
        snprintf(err, errlen, "the status bucket %s does not answer: %s", n->bucket,
                 natsStatus_GetText(s));
        return CX_EIO;
    }
    return CX_OK;
}

/* ---- what this database follows ----------------------------------------------------------- */

typedef struct {
    const char *stream, *origin;
} stream_row;

static cx_err net__row_job(store_conn *w, void *arg)
{
    const stream_row *r = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO ledger_stream(id, stream, origin, "
                                     "applied_seq) VALUES(1, ?1, ?2, 0)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, r->stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->origin, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

int net__hash_at(store_conn *c, uint64_t seq, uint8_t out[32])
{
    sqlite3_stmt *st = store_stmt(c, "SELECT entry_hash FROM ledger_entries WHERE seq=?1 AND "
                                     "pos=0 UNION ALL SELECT entry_hash FROM ledger_rejected "
                                     "WHERE seq=?1 AND pos=0");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    int r = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        r = sqlite3_column_bytes(st, 0) == 32;
        if (r)
            memcpy(out, sqlite3_column_blob(st, 0), 32);
    }
    sqlite3_reset(st);
    return r;
}

/* Whether the stream's message m is what this database applied at seq. */
static bool net__same_at(store_conn *c, uint64_t seq, natsMsg *m)
{
    uint8_t want[32], got[32];
    int have = net__hash_at(c, seq, want);
    bool has = net__message_hash(m, got);
    return have >= 0 && (have ? has && memcmp(got, want, 32) == 0 : !has);
}

/* The ledger this database follows, if any: another one is refused before
 * anything is asked of the cluster. */
static cx_err net__follows(ledger_net *n, char *err, size_t errlen)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT stream, origin FROM ledger_stream WHERE id=1")
                         : NULL;
    if (!st)
        return CX_EDB;
    cx_err e = CX_OK;
    if (sqlite3_step(st) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(st, 0), n->stream) != 0) {
        snprintf(err, errlen, "this database follows the ledger %s (stream %s), not %s",
                 (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 0),
                 n->origin);
        e = CX_ESTATE;
    }
    sqlite3_reset(st);
    return e;
}

/* Refuses a stream this database did not follow: a ledger ordered locally,
 * or a stream whose message at the sequence applied here is not the entry
 * applied here (a reset or different cluster). */
static cx_err net__position(ledger_net *n, uint64_t first, uint64_t last, char *err,
                            size_t errlen)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT stream, origin, applied_seq FROM ledger_stream "
                                         "WHERE id=1")
                         : NULL;
    if (!st)
        return CX_EDB;
    uint64_t applied = 0;
    bool have = sqlite3_step(st) == SQLITE_ROW;
    if (have)
        applied = (uint64_t)sqlite3_column_int64(st, 2);
    sqlite3_reset(st);
    int64_t size = ledger__tree_size(c);
    if (!have && size > 0) {
        snprintf(err, errlen, "this database holds a ledger of %lld entries ordered on its own; "
                              "a network node starts from an empty database or a snapshot",
                 (long long)size);
        return CX_ESTATE;
    }
    if (applied > last) {
        snprintf(err, errlen, "this database applied stream %s up to sequence %llu, but the "
                              "stream holds %llu messages: it is not the stream this node "
                              "followed",
                 n->stream, (unsigned long long)applied, (unsigned long long)last);
        return CX_ESTATE;
    }
    if (applied > 0) {
        natsMsg *m = NULL;
        jsErrCode je = 0;
        natsStatus s = js_GetMsg(&m, n->js, n->stream, applied, NULL, &je);
        bool same = s == NATS_OK && net__same_at(c, applied, m);
        natsMsg_Destroy(m);
        if (s != NATS_OK && s != NATS_NOT_FOUND) {
            snprintf(err, errlen, "cannot read sequence %llu of %s: %s",
                     (unsigned long long)applied, n->stream, natsStatus_GetText(s));
            return CX_EIO;
        }
        if (!same) {
            snprintf(err, errlen, "the message at sequence %llu of %s is not the entry this "
                                  "database applied there: a different or reset stream",
                     (unsigned long long)applied, n->stream);
            return CX_ESTATE;
        }
    } else if (first > 1) {
        snprintf(err, errlen, "stream %s starts at sequence %llu: its beginning is gone, so an "
                              "empty node must start from a snapshot",
                 n->stream, (unsigned long long)first);
        return CX_ESTATE;
    }
    n->applied = n->submitted = applied;
    /* counted once: the status adds what this run rejects */
    st = store_stmt(c, "SELECT count(*) FROM ledger_rejected");
    if (st && sqlite3_step(st) == SQLITE_ROW)
        n->rejected_before = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    if (!have) {
        stream_row r = {n->stream, n->origin};
        if (store_write(n->lg->s, net__row_job, &r) != CX_OK) {
            snprintf(err, errlen, "cannot record the stream in the database");
            return CX_EDB;
        }
    }
    return CX_OK;
}

/* The genesis on the stream (sequence 1) against the trust file. */
static cx_err net__check_genesis(ledger_net *n, uint64_t first, char *err, size_t errlen)
{
    if (first != 1 || (!n->has_trust_genesis && !n->trust_origin[0]))
        return CX_OK;
    natsMsg *m = NULL;
    jsErrCode je = 0;
    natsStatus s = js_GetMsg(&m, n->js, n->stream, 1, NULL, &je);
    if (s != NATS_OK) {
        snprintf(err, errlen, "cannot read the genesis of %s: %s", n->stream,
                 natsStatus_GetText(s));
        return CX_EIO;
    }
    char why[256];
    bool ok = net__genesis_ok(n, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), why,
                              sizeof why);
    natsMsg_Destroy(m);
    if (!ok) {
        snprintf(err, errlen, "refusing ledger %s: %s", n->origin, why);
        return CX_ESTATE;
    }
    return CX_OK;
}

static cx_err net__trust(ledger_net *n, const json_t *trust, char *err, size_t errlen)
{
    if (!trust)
        return CX_OK;
    const char *origin = json_string_value(json_object_get(trust, "origin"));
    const char *genesis = json_string_value(json_object_get(trust, "genesis"));
    if (!origin || !ledger__origin_valid(origin)) {
        snprintf(err, errlen, "the trust file names no ledger origin");
        return CX_EINVAL;
    }
    if (genesis && !(n->has_trust_genesis = net__hex_hash(genesis, n->trust_genesis))) {
        snprintf(err, errlen, "the trust file's genesis must be 64 hex digits");
        return CX_EINVAL;
    }
    if (n->origin[0] && strcmp(n->origin, origin) != 0) {
        snprintf(err, errlen, "the trust file is for ledger %s, not %s", origin, n->origin);
        return CX_EINVAL;
    }
    snprintf(n->trust_origin, sizeof n->trust_origin, "%s", origin);
    if (!n->origin[0])
        snprintf(n->origin, sizeof n->origin, "%s", origin);
    return CX_OK;
}

/* ---- start, stop ------------------------------------------------------------------------------ */

static cx_err net__setup(ledger_net *n, const ledger_net_config *cfg, char *err, size_t errlen)
{
    cx_err e = net__parse_urls(n, cfg->urls, err, errlen);
    if (e == CX_OK && cfg->origin && !ledger__origin_valid(cfg->origin)) {
        snprintf(err, errlen, "--ledger-origin is not a ledger origin");
        e = CX_EINVAL;
    }
    if (e == CX_OK && cfg->origin)
        snprintf(n->origin, sizeof n->origin, "%s", cfg->origin);
    if (e == CX_OK)
        e = net__trust(n, cfg->trust, err, errlen);
    if (e != CX_OK)
        return e;
    n->replicas = cfg->replicas > 0 ? cfg->replicas : n->nurls >= 3 ? 3 : 1;
    int64_t wait = cfg->wait_ms > 0 ? cfg->wait_ms : 15000, t0 = cx_mono_us();
    int attempt = 0;
    /* the cluster may still be electing its leaders: keep asking until wait */
    for (;;) {
        char why[512] = "";
        e = n->nc ? CX_OK : net__connect(n, &cfg->auth, why, sizeof why);
        if (e == CX_OK && !n->origin[0])
            e = net__only_origin(n, why, sizeof why);
        uint64_t first = 0, last = 0;
        if (e == CX_OK) {
            net__names(n);
            e = net__follows(n, why, sizeof why);
        }
        if (e == CX_OK)
            e = net__streams(n, cfg->create, &first, &last, why, sizeof why);
        if (e == CX_OK)
            e = net__check_genesis(n, first, why, sizeof why);
        if (e == CX_OK && cfg->snapshot && ledger_size(n->lg) == 0)
            e = ledger__net_snapshot_import(n, cfg->snapshot, cfg->trust, why, sizeof why);
        else if (e == CX_OK && cfg->snapshot && attempt++ == 0)
            cx_log(CX_LOG_INFO, "ledger network: the database holds the ledger already; "
                                "--ledger-snapshot is for an empty one and is not used");
        if (e == CX_OK)
            e = net__position(n, first, last, why, sizeof why);
        if (e == CX_OK) {
            n->start_last = n->stream_last = last;
            return CX_OK;
        }
        /* a mismatch is final; an unanswered cluster is worth another try */
        bool final = e == CX_ESTATE || e == CX_EINVAL || e == CX_EDB || e == CX_ENOTFOUND ||
                     e == CX_ECRYPTO || e == CX_EAUTH || e == CX_ENOMEM;
        if (final || (cx_mono_us() - t0) / 1000 >= wait) {
            snprintf(err, errlen, "%s", why);
            return e;
        }
        cx_log(CX_LOG_WARN, "ledger network: %s; retrying", why);
        struct timespec ts = {0, 500000000L};
        nanosleep(&ts, NULL);
    }
}

cx_err ledger_net_start(ledger *lg, const ledger_net_config *cfg, char *err, size_t errlen)
{
    if (lg->net) {
        snprintf(err, errlen, "the network is already started");
        return CX_ESTATE;
    }
    ledger_net *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return CX_ENOMEM;
    }
    n->lg = lg;
    n->node = cfg->node;
    n->alerts = cfg->alerts;
    if (cfg->org)
        snprintf(n->org, sizeof n->org, "%s", cfg->org);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    pthread_cond_init(&n->ord_cv, NULL);
    lg->net = n; /* the snapshot import and the reader use it */
    cx_err e = net__setup(n, cfg, err, errlen);
    if (e == CX_OK && n->alerts) {
        static const char *const types[] = {"ledger_fork", NULL};
        e = alert_register(n->alerts, NULL, types);
        if (e != CX_OK)
            snprintf(err, errlen, "cannot register the ledger_fork alert");
    }
    atomic_store(&n->forked, net__fork_recorded(lg));
    if (e == CX_OK)
        e = net__order_start(n);
    if (e == CX_OK)
        e = net__apply_start(n);
    if (e == CX_OK && n->node)
        e = net__cosign_start(n);
    if (e != CX_OK) {
        if (!err[0])
            snprintf(err, errlen, "cannot start the ledger network: %s", cx_strerror(e));
        ledger_net_stop(lg);
        ledger__net_free(n);
        lg->net = NULL;
        return e;
    }
    ledger_orderer o = {ledger__net_order, n};
    ledger__set_orderer(lg, &o);
    pthread_mutex_lock(&n->mu); /* the writer applies already */
    uint64_t applied = n->applied;
    pthread_mutex_unlock(&n->mu);
    cx_log(CX_LOG_INFO, "ledger network: %s on stream %s (%d replicas), applied up to %llu of %llu",
           n->origin, n->stream, n->replicas, (unsigned long long)applied,
           (unsigned long long)n->start_last);
    return CX_OK;
}

void ledger_net_stop(ledger *lg)
{
    ledger_net *n = lg ? lg->net : NULL;
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = true;
    net__wake_all(n);
    pthread_mutex_unlock(&n->mu);
    if (n->apply_started)
        pthread_join(n->apply_thread, NULL);
    if (n->cosign_started)
        pthread_join(n->cosign_thread, NULL);
    if (n->order_started)
        pthread_join(n->order_thread, NULL);
    n->apply_started = n->cosign_started = n->order_started = false;
    /* the writer's done callbacks of messages handed to it use n */
    pthread_mutex_lock(&n->mu);
    while (n->inflight > 0)
        pthread_cond_wait(&n->cv, &n->mu);
    pthread_mutex_unlock(&n->mu);
    net__order_flush(n); /* every submission still in flight gets its answer */
}

void ledger__net_free(ledger_net *n)
{
    if (!n)
        return;
    ledger_net_stop(n->lg);
    net__disconnect(n);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    pthread_cond_destroy(&n->ord_cv);
    free(n->group.w);
    free(n);
}

cx_err ledger_net_sync(ledger *lg, int64_t timeout_ms, char *err, size_t errlen)
{
    ledger_net *n = lg->net;
    if (!n)
        return CX_OK;
    uint64_t target = 0;
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_GetStreamInfo(&si, n->js, n->stream, NULL, &je);
    if (s != NATS_OK) {
        snprintf(err, errlen, "stream %s does not answer: %s", n->stream, natsStatus_GetText(s));
        return CX_EIO;
    }
    target = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    struct timespec ts;
    net__deadline(&ts, timeout_ms);
    pthread_mutex_lock(&n->mu);
    int rc = 0;
    while (n->applied < target && !n->failed[0] && !n->stop && rc == 0)
        rc = pthread_cond_timedwait(&n->cv, &n->mu, &ts);
    cx_err e = n->applied >= target ? CX_OK : CX_EUNAVAIL;
    if (n->failed[0]) {
        snprintf(err, errlen, "%s", n->failed);
        e = CX_ESTATE;
    } else if (e != CX_OK) {
        snprintf(err, errlen, "applied %llu of the stream's %llu messages in %lld ms",
                 (unsigned long long)n->applied, (unsigned long long)target,
                 (long long)timeout_ms);
    }
    pthread_mutex_unlock(&n->mu);
    return e;
}

/* ---- health ------------------------------------------------------------------------------------ */

json_t *ledger_net_health(ledger *lg)
{
    return lg && lg->net ? net__status_json(lg->net) : NULL;
}
