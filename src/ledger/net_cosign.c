/* Cosigned history on a network. Every node cosigns the head of its own
 * tree each second there was activity (a C2SP signed note with one
 * tlog-cosignature line) and publishes it on the cosignature stream. Each
 * node reads everyone's: a cosignature that verifies (a registered key of
 * its org, valid at that size) over the root this node computed for that
 * size is stored, and countersigned if it is newer than anything this node
 * signed, so the nodes' signatures gather on the same sizes and a
 * checkpoint becomes final at the consortium's threshold. A valid
 * cosignature over a DIFFERENT root for a size is a fork: a critical
 * ledger_fork alert with both notes as evidence, and this node stops
 * cosigning (it says so on /healthz and /metrics). */
#include "net_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COS_NOTE_MAX 512

bool net__fork_recorded(ledger *lg)
{
    store_conn *c = store_reader(lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT 1 FROM ledger_forks LIMIT 1") : NULL;
    bool forked = st && sqlite3_step(st) == SQLITE_ROW;
    if (st)
        sqlite3_reset(st);
    return forked;
}

cx_err net__cosign_publish(ledger_net *n, const ledger_key *key, int64_t size, char **note,
                           char *err, size_t errlen)
{
    char line[256];
    int64_t signed_size;
    uint8_t root[32];
    cx_err e = ledger__checkpoint_cosign(n->lg, key, size, line, &signed_size, root, err, errlen);
    if (e != CX_OK)
        return e;
    char text[LEDGER_ORIGIN_MAX + 128], msg[COS_NOTE_MAX];
    ledger__checkpoint_text(n->origin, (uint64_t)signed_size, root, text, sizeof text);
    int len = snprintf(msg, sizeof msg, "%s\n%s", text, line);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 2000;
    jsPubAck *pa = NULL;
    jsErrCode je = 0;
    natsStatus s = js_Publish(&pa, n->js, n->cosign_subject, msg, len, &po, &je);
    jsPubAck_Destroy(pa);
    if (s != NATS_OK) {
        snprintf(err, errlen, "cosigned size %lld here, but the cosignature stream did not take "
                              "it: %s",
                 (long long)signed_size, natsStatus_GetText(s));
        return CX_EIO;
    }
    atomic_fetch_add(&n->n_cosigs_sent, 1);
    if (note && !(*note = strdup(msg)))
        return CX_ENOMEM;
    return CX_OK;
}

cx_err ledger_net_cosign(ledger *lg, const ledger_key *key, char **note, char *err, size_t errlen)
{
    *note = NULL;
    if (!lg->net)
        return ledger_checkpoint_sign(lg, key, note, err, errlen);
    char *published = NULL;
    cx_err e = net__cosign_publish(lg->net, key, 0, &published, err, errlen);
    if (e != CX_OK)
        return e;
    /* the note with every cosignature gathered here for that size */
    char text[LEDGER_ORIGIN_MAX + 128], origin[LEDGER_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[32];
    const char *sigs;
    if (ledger__note_parse(published, text, sizeof text, &size, root, origin, &sigs))
        *note = ledger__checkpoint_note(lg, (int64_t)size, root);
    free(published);
    return *note ? CX_OK : CX_ENOMEM;
}

/* ---- forks ------------------------------------------------------------------------------- */

typedef struct {
    ledger_net *n;
    int64_t size;
    const char *org;
    const uint8_t *root;
    const char *note, *mine;
    bool raised;
} fork_job;

static cx_err cos__fork_job(store_conn *w, void *arg)
{
    fork_job *j = arg;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO ledger_forks(size, org, root, note, "
                                     "mine, detected_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->size);
    sqlite3_bind_text(st, 2, j->org, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, j->root, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->note, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, j->mine, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    if (sqlite3_changes(store_conn_db(w)) == 0 || !j->n->alerts)
        return CX_OK; /* one alert per (size, org): seen again after a restart */
    uint8_t mine_root[32];
    char theirs_hex[65], mine_hex[65];
    ledger__hex(j->root, theirs_hex);
    ledger_root(j->n->lg, j->size, mine_root);
    ledger__hex(mine_root, mine_hex);
    json_t *detail = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "origin", j->n->origin,
                               "tree_size", (json_int_t)j->size, "org", j->org, "root_theirs",
                               theirs_hex, "root_ours", mine_hex, "note_theirs", j->note,
                               "note_ours", j->mine);
    alert_new a = {
        .type = "ledger_fork",
        .severity = ALERT_CRITICAL,
        .time_ms = cx_now_us() / 1000,
        .subject_kind = "ledger",
        .subject_id = j->n->origin,
        .lat = NAN,
        .lon = NAN,
        .detail = detail,
    };
    cx_err e = alert_raise_in(j->n->alerts, w, &a, NULL);
    json_decref(detail);
    j->raised = e == CX_OK;
    return e;
}

/* Another organisation cosigned a different root for size: evidence, an
 * alert, and no more cosigning here. */
static void cos__fork(ledger_net *n, int64_t size, const char *org, const uint8_t root[32],
                      const char *note)
{
    uint8_t ours[32];
    char text[LEDGER_ORIGIN_MAX + 128], mine[COS_NOTE_MAX], line[256] = "";
    if (ledger_root(n->lg, size, ours) != CX_OK)
        return;
    ledger__checkpoint_text(n->origin, (uint64_t)size, ours, text, sizeof text);
    char org_here[CX_ORG_MAX + 1] = "";
    if (n->lg->node_key) { /* our note, signed: evidence, not a cosignature (not published) */
        snprintf(org_here, sizeof org_here, "%s", n->org[0] ? n->org : "node");
        ledger_note_sign(org_here, n->lg->node_key, text, line, sizeof line);
    }
    snprintf(mine, sizeof mine, "%s\n%s", text, line);
    fork_job j = {n, size, org, root, note, mine, false};
    atomic_store(&n->forked, true);
    cx_err e = store_write(n->lg->s, cos__fork_job, &j);
    char a[65], b[65];
    ledger__hex(root, a);
    ledger__hex(ours, b);
    cx_log(CX_LOG_ERROR, "ledger fork: %s cosigned root %s for size %lld, this node computed %s; "
                         "cosigning stopped%s",
           org, a, (long long)size, b, e == CX_OK ? "" : " (the evidence could not be stored)");
}

/* ---- receiving ------------------------------------------------------------------------------- */

/* The key of org whose note key ID is id, valid at size; false if none. */
static bool cos__key(ledger_net *n, const char *org, uint32_t id, int64_t size, uint8_t pk[32])
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT key, added_idx, revoked_idx FROM ledger_keys "
                                         "WHERE org=?1")
                         : NULL;
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    bool found = false;
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != 32)
            continue;
        int64_t revoked = sqlite3_column_type(st, 2) == SQLITE_NULL ? INT64_MAX
                                                                      : sqlite3_column_int64(st, 2);
        if (ledger_note_key_id(org, sqlite3_column_blob(st, 0)) == id &&
            ledger__key_valid_at_size(sqlite3_column_int64(st, 1), revoked, size)) {
            memcpy(pk, sqlite3_column_blob(st, 0), 32);
            found = true;
        }
    }
    sqlite3_reset(st);
    return found;
}

static void cos__park(ledger_net *n, const char *note, const char *org, uint64_t size)
{
    int slot = -1;
    for (int i = 0; i < n->nparked; i++)
        if (strcmp(n->parked[i].org, org) == 0)
            slot = i; /* the latest of each org is enough */
    if (slot < 0 && n->nparked < NET_MAX_PARKED)
        slot = n->nparked++;
    if (slot < 0 || (n->parked[slot].size >= size && strcmp(n->parked[slot].org, org) == 0))
        return;
    snprintf(n->parked[slot].note, sizeof n->parked[slot].note, "%s", note);
    snprintf(n->parked[slot].org, sizeof n->parked[slot].org, "%s", org);
    n->parked[slot].size = size;
}

typedef enum { COS_STORED, COS_PARKED, COS_BAD, COS_FORK, COS_OWN } cos_outcome;

/* One received cosignature note. */
static cos_outcome cos__receive(ledger_net *n, const char *note, size_t len)
{
    ledger_cosignature c;
    uint8_t pk[32], ours[32], blob[68];
    if (!ledger_cosignature_read(note, len, &c) || strcmp(c.origin, n->origin) != 0 ||
        c.size == 0 || c.size > INT64_MAX)
        return COS_BAD;
    if ((int64_t)c.size > ledger_size(n->lg)) {
        cos__park(n, note, c.org, c.size); /* this node has not reached that size yet */
        return COS_PARKED;
    }
    for (int i = 0; i < 4; i++) /* the signature line's blob: key ID, signature */
        blob[i] = (uint8_t)(c.key_id >> (24 - 8 * i));
    memcpy(blob + 4, c.sig, 64);
    if (!cos__key(n, c.org, c.key_id, (int64_t)c.size, pk) ||
        !ledger__note_sig_verify(c.org, pk, blob, c.text))
        return COS_BAD;
    if (ledger_root(n->lg, (int64_t)c.size, ours) != CX_OK)
        return COS_BAD;
    if (memcmp(ours, c.root, 32) != 0) {
        cos__fork(n, (int64_t)c.size, c.org, c.root, note);
        return COS_FORK;
    }
    bool already = false;
    if (ledger__cosig_store(n->lg, (int64_t)c.size, c.root, c.org, pk, c.line, &already) != CX_OK)
        return COS_BAD;
    if (!already)
        atomic_fetch_add(&n->n_cosigs_received, 1);
    return already ? COS_OWN : COS_STORED;
}

/* ---- the cosigner thread --------------------------------------------------------------------- */

static uint64_t cos__db_u64(ledger_net *n, const char *sql)
{
    store_conn *c = store_reader(n->lg->s);
    sqlite3_stmt *st = c ? store_stmt(c, sql) : NULL;
    uint64_t v = 0;
    if (st) {
        if (n->org[0])
            sqlite3_bind_text(st, 1, n->org, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    return v;
}

static cx_err cos__save_seq(store_conn *w, void *arg)
{
    sqlite3_stmt *st = store_stmt(w, "UPDATE ledger_stream SET cosign_seq=?1 WHERE id=1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, (int64_t) * (uint64_t *)arg);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static natsSubscription *cos__subscribe(ledger_net *n)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = n->cosign_stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = n->cosign_seq ? js_DeliverByStartSequence : js_DeliverAll;
    so.Config.OptStartSeq = n->cosign_seq ? n->cosign_seq + 1 : 0;
    so.Config.Heartbeat = 1000000000LL;
    natsSubscription *sub = NULL;
    jsErrCode je = 0;
    if (js_SubscribeSync(&sub, n->js, n->cosign_subject, NULL, &so, &je) != NATS_OK)
        return NULL;
    return sub;
}

/* Countersigns a size others cosigned, once this node reached it. */
static void cos__countersign(ledger_net *n, uint64_t size)
{
    if (!n->lg->node_key || atomic_load(&n->forked) || size <= n->signed_size)
        return;
    char err[256];
    if (net__cosign_publish(n, n->lg->node_key, (int64_t)size, NULL, err, sizeof err) == CX_OK)
        n->signed_size = size;
    else
        cx_log(CX_LOG_WARN, "ledger network: cosigning size %llu: %s", (unsigned long long)size,
               err);
}

static void cos__handle(ledger_net *n, const char *note, size_t len)
{
    char buf[COS_NOTE_MAX];
    if (len >= sizeof buf || memchr(note, '\0', len)) {
        atomic_fetch_add(&n->n_cosigs_bad, 1);
        return;
    }
    memcpy(buf, note, len);
    buf[len] = '\0';
    cos_outcome o = cos__receive(n, buf, len);
    if (o == COS_BAD)
        atomic_fetch_add(&n->n_cosigs_bad, 1);
    ledger_cosignature c;
    if (o == COS_STORED && ledger_cosignature_read(buf, len, &c))
        cos__countersign(n, c.size);
}

/* Cosignatures parked until this node's tree reached their size. */
static void cos__unpark(ledger_net *n)
{
    int64_t have = ledger_size(n->lg);
    for (int i = 0; i < n->nparked;) {
        if ((int64_t)n->parked[i].size > have) {
            i++;
            continue;
        }
        net_parked p = n->parked[i];
        n->parked[i] = n->parked[--n->nparked];
        cos__handle(n, p.note, strlen(p.note));
    }
}

static void cos__tick(ledger_net *n, uint64_t *saved_seq)
{
    cos__unpark(n);
    int64_t size = ledger_size(n->lg);
    if (n->lg->node_key && !atomic_load(&n->forked) && size > 0 &&
        (uint64_t)size > n->signed_size) {
        char err[256];
        if (net__cosign_publish(n, n->lg->node_key, size, NULL, err, sizeof err) == CX_OK)
            n->signed_size = (uint64_t)size;
        else
            cx_log(CX_LOG_WARN, "ledger network: cosigning size %lld: %s", (long long)size, err);
    }
    if (n->cosign_seq != *saved_seq && store_write(n->lg->s, cos__save_seq, &n->cosign_seq) ==
                                           CX_OK)
        *saved_seq = n->cosign_seq;
    if (n->kv && n->org[0]) {
        json_t *st = net__status_json(n);
        char *text = st ? cx_json_dump(st, NULL) : NULL;
        uint64_t rev;
        bool put = text && kvStore_PutString(&rev, n->kv, n->org, text) == NATS_OK;
        free(text);
        json_decref(st);
        /* latched: once batches are on the stream, a node that cannot read
         * them cannot follow it anyway (and a read of the keys costs the
         * servers a consumer) */
        if (put && !atomic_load(&n->batch_ok))
            atomic_store(&n->batch_ok, net__peers_read_batches(n));
    }
}

static void *cos__main(void *arg)
{
    ledger_net *n = arg;
    natsSubscription *sub = NULL;
    uint64_t saved = n->cosign_seq;
    int64_t next_tick = cx_mono_us();
    for (;;) {
        pthread_mutex_lock(&n->mu);
        bool stop = n->stop;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
        if (cx_mono_us() >= next_tick) {
            cos__tick(n, &saved);
            next_tick = cx_mono_us() + 1000000;
        }
        if (!sub && !(sub = cos__subscribe(n))) {
            net__nap(n, 500);
            continue;
        }
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, sub, 200);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            natsSubscription_Destroy(sub);
            sub = NULL;
            net__nap(n, 250);
            continue;
        }
        jsMsgMetaData *md = NULL;
        if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
            if (md->Sequence.Stream > n->cosign_seq) {
                n->cosign_seq = md->Sequence.Stream;
                cos__handle(n, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
            }
            jsMsgMetaData_Destroy(md);
        }
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    return NULL;
}

cx_err net__cosign_start(ledger_net *n)
{
    n->cosign_seq = cos__db_u64(n, "SELECT cosign_seq FROM ledger_stream WHERE id=1");
    if (n->org[0])
        n->signed_size = cos__db_u64(n, "SELECT coalesce(max(size), 0) FROM ledger_cosignatures "
                                        "WHERE org=?1");
    if (pthread_create(&n->cosign_thread, NULL, cos__main, n) != 0)
        return CX_ENOMEM;
    n->cosign_started = true;
    return CX_OK;
}
