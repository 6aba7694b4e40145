/* The writer job: the only place where the log grows. One entry at a time,
 * on the store's writer thread: the replay set, the state transition, the
 * leaf and the tree nodes it completes, the findings. Three ways in:
 *
 *   local      the embedded orderer: the writer's order is the log's order;
 *   precheck   a network node asks what an append would answer now, before
 *              publishing; everything is rolled back;
 *   stream     a message of the network's stream at sequence N, applied in
 *              stream order on every node. A rejected one is recorded as
 *              "rejected at sequence N" and is not a leaf, so every node
 *              builds the same tree; the sequence is stored beside the leaf
 *              and the last one applied in ledger_stream, in the same
 *              transaction, so a node killed -9 resumes after it. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the replay set (writer thread) ------------------------------------------------------- */

/* Keyed (cx_map_hash): an author who grinds a field of an entry can
 * choose its signing hash's bits, but not where the set puts it, so no
 * one can lengthen a probe run on purpose. */
static uint64_t seen__key(const uint8_t h[32])
{
    return cx_map_hash(h, 32) | 1; /* 0 marks an empty slot */
}

static cx_err seen__put(ledger *lg, const uint8_t h[32], int64_t idx)
{
    if ((lg->seen_n + 1) * 2 > lg->seen_cap) {
        size_t cap = lg->seen_cap ? lg->seen_cap * 2 : 1024;
        uint64_t *k = calloc(cap, sizeof *k);
        int64_t *v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return CX_ENOMEM;
        }
        for (size_t i = 0; i < lg->seen_cap; i++) {
            if (!lg->seen_key[i])
                continue;
            size_t j = (size_t)(lg->seen_key[i] * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);
            while (k[j])
                j = (j + 1) & (cap - 1);
            k[j] = lg->seen_key[i];
            v[j] = lg->seen_idx[i];
        }
        free(lg->seen_key);
        free(lg->seen_idx);
        lg->seen_key = k;
        lg->seen_idx = v;
        lg->seen_cap = cap;
    }
    uint64_t key = seen__key(h);
    size_t j = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 20) & (lg->seen_cap - 1);
    while (lg->seen_key[j])
        j = (j + 1) & (lg->seen_cap - 1);
    lg->seen_key[j] = key;
    lg->seen_idx[j] = idx;
    lg->seen_n++;
    return CX_OK;
}

/* The index of the entry with signing hash h, or -1. */
static int64_t seen__find(ledger *lg, store_conn *w, const uint8_t h[32])
{
    if (!lg->seen_cap)
        return -1;
    uint64_t key = seen__key(h);
    size_t j = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 20) & (lg->seen_cap - 1);
    for (; lg->seen_key[j]; j = (j + 1) & (lg->seen_cap - 1)) {
        if (lg->seen_key[j] != key)
            continue;
        /* 64 bits match: compare the whole hash as stored */
        sqlite3_stmt *st = store_stmt(w, "SELECT entry_hash FROM ledger_entries WHERE idx=?1");
        if (!st)
            return -2;
        sqlite3_bind_int64(st, 1, lg->seen_idx[j]);
        bool same = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32 &&
                    memcmp(sqlite3_column_blob(st, 0), h, 32) == 0;
        sqlite3_reset(st);
        if (same)
            return lg->seen_idx[j];
    }
    return -1;
}

/* Adds the signing hashes of entries from index `from` on. */
static cx_err seen__load(ledger *lg, store_conn *w, int64_t from)
{
    sqlite3_stmt *st =
        store_stmt(w, "SELECT idx, entry_hash FROM ledger_entries WHERE idx >= ?1 ORDER BY idx");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, from);
    cx_err e = CX_OK;
    int rc;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_bytes(st, 1) == 32)
            e = seen__put(lg, sqlite3_column_blob(st, 1), sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
    return e;
}

static cx_err app__applied_load(store_conn *w, uint64_t *seq)
{
    sqlite3_stmt *st = store_stmt(w, "SELECT applied_seq FROM ledger_stream WHERE id=1");
    if (!st)
        return CX_EDB;
    int rc = sqlite3_step(st);
    *seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* Writer-thread state follows the database: reloaded on first use, after a
 * failed commit, and when another process (a CLI next to the server) has
 * committed in the meantime. */
static cx_err app__refresh(ledger *lg, store_conn *w)
{
    sqlite3_stmt *st = store_stmt(w, "PRAGMA data_version");
    if (!st)
        return CX_EDB;
    int64_t dv = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (lg->loaded && !lg->stale && dv == lg->data_version)
        return CX_OK;
    lconn c = {.sc = w};
    cx_err e = ledger__reg_load(&c, lg->reg);
    int64_t known = (int64_t)lg->tree.size;
    if (!lg->loaded || lg->stale) {
        /* memory may hold what a failed commit lost: start over */
        free(lg->seen_key);
        free(lg->seen_idx);
        lg->seen_key = NULL;
        lg->seen_idx = NULL;
        lg->seen_cap = lg->seen_n = 0;
        known = 0;
    }
    if (e == CX_OK)
        e = ledger__frontier_load(w, &lg->tree);
    /* entries are only ever appended: another process added [known, size) */
    if (e == CX_OK)
        e = seen__load(lg, w, known);
    if (e == CX_OK)
        e = app__applied_load(w, &lg->applied_seq);
    if (e != CX_OK) {
        lg->stale = true;
        return e;
    }
    lg->loaded = true;
    lg->stale = false;
    lg->data_version = dv;
    return CX_OK;
}

static cx_err app__emit_node(void *ctx, unsigned level, uint64_t index, const uint8_t h[32])
{
    store_conn *w = ctx;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO ledger_nodes(id, hash) VALUES(?1, ?2)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)((uint64_t)level << 48 | index));
    sqlite3_bind_blob(st, 2, h, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* Findings are for customs: an API caller that is not gets back only those
 * about declarations its own org lodged. */
static cx_err app__scope_findings(store_conn *w, const char *org, json_t *findings)
{
    for (size_t i = json_array_size(findings); i-- > 0;) {
        char owner[CX_ORG_MAX + 1];
        const json_t *f = json_array_get(findings, i);
        cx_err e = ledger__decl_org(w, json_string_value(json_object_get(f, "declaration_id")),
                                    owner);
        if (e != CX_OK)
            return e;
        if (strcmp(owner, org) != 0)
            json_array_remove(findings, i);
    }
    return CX_OK;
}

static void app__unavailable(ledger_result *r, const char *why)
{
    ledger__res_set(r, 503, "unavailable", why, NULL);
}

/* The job failed after findings were gathered: they never happened. */
static cx_err app__store_failed(ledger_pending *p, cx_err err)
{
    json_decref(p->res.findings);
    p->res.findings = NULL;
    app__unavailable(&p->res, "the entry could not be stored; retry");
    return err;
}

/* What the job decided, for memory to follow once the SQL succeeded. */
typedef struct {
    lapply a;
    ledger_frontier next;
} app_step;

/* The entry's row: appended at idx (a stream message's sequence beside it). */
static cx_err app__entry_row(store_conn *w, const ledger_pending *p, int64_t idx)
{
    const lentry *e = p->e;
    char now[32];
    cx_rfc3339_format(p->mode == LP_STREAM ? p->stream_us : cx_now_us(), now);
    sqlite3_stmt *st =
        store_stmt(w, "INSERT INTO ledger_entries(idx, entry_hash, leaf_hash, type, org, entry, "
                      "received_at, seq, pos) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, idx);
    sqlite3_bind_blob(st, 2, e->entry_hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, e->leaf_hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ledger__type_names[e->type], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, e->canon, (int)e->canon_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    if (p->mode == LP_STREAM)
        sqlite3_bind_int64(st, 8, (int64_t)p->seq);
    sqlite3_bind_int(st, 9, p->mode == LP_STREAM ? p->pos : 0);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* The entry's row, its transition, its nodes. CX_ESTATE with res filled for
 * a rejection (the caller rolls back); other errors are the database's.
 * dry: the precheck, which needs no row (no rule reads the entry's own
 * row; the check is rolled back anyway), no nodes and no findings. */
static cx_err app__append(ledger *lg, store_conn *w, ledger_pending *p, bool dry, app_step *s)
{
    const lentry *e = p->e;
    int64_t dup = seen__find(lg, w, e->entry_hash);
    if (dup < -1)
        return CX_EDB;
    if (dup >= 0) {
        char m[160];
        snprintf(m, sizeof m, "this entry is already on the ledger at index %lld",
                 (long long)dup);
        ledger__res_set(&p->res, 409, "duplicate_entry", m,
                        json_pack("[{s:s,s:s}]", "path", "", "message", m));
        return CX_ESTATE;
    }
    int64_t idx = (int64_t)lg->tree.size;
    if (!dry && app__entry_row(w, p, idx) != CX_OK)
        return CX_EDB;
    lconn c = {.sc = w};
    s->a = (lapply){.c = &c, .reg = lg->reg, .e = e, .idx = idx, .serving = true};
    cx_err err = ledger__apply(&s->a);
    s->a.c = NULL; /* c lives on this stack frame only */
    if (err == CX_ESTATE) {
        ledger__res_set(&p->res, s->a.v.status, s->a.v.code ? s->a.v.code : "rejected",
                        s->a.v.message, s->a.v.details);
        s->a.v.details = NULL;
        return err;
    }
    ledger__verdict_clear(&s->a.v);
    if (err != CX_OK || dry)
        return err;
    s->next = lg->tree;
    err = ledger_frontier_append(&s->next, e->leaf_hash, app__emit_node, w);
    json_t *findings = json_array();
    if (err == CX_OK)
        err = ledger__watch_run(lg, w, e, idx);
    if (err == CX_OK && lg->decl)
        err = ledger__findings_entry(lg, w, e, idx, p->decl, findings);
    p->nraised = json_array_size(findings);
    if (err == CX_OK && p->scope[0])
        err = app__scope_findings(w, p->scope, findings);
    if (err != CX_OK) {
        json_decref(findings);
        return err;
    }
    p->res.status = 201;
    p->res.index = idx;
    p->res.seq = p->seq;
    memcpy(p->res.leaf_hash, e->leaf_hash, 32);
    p->res.findings = findings;
    return CX_OK;
}

/* Memory follows the SQL once it succeeded. */
static cx_err app__commit_memory(ledger *lg, const ledger_pending *p, const app_step *s)
{
    if (seen__put(lg, p->e->entry_hash, s->a.idx) != CX_OK) {
        lg->stale = true;
        return CX_ENOMEM;
    }
    if (s->a.commit)
        s->a.commit(lg->reg, p->e, s->a.idx);
    lg->tree = s->next;
    return CX_OK;
}

static cx_err app__job_local(store_conn *w, void *arg)
{
    ledger_pending *p = arg;
    ledger *lg = p->lg;
    if (app__refresh(lg, w) != CX_OK) {
        app__unavailable(&p->res, "the ledger state could not be loaded");
        return CX_EDB;
    }
    app_step s;
    cx_err err = app__append(lg, w, p, false, &s);
    if (err == CX_ESTATE)
        return err;
    if (err == CX_OK)
        err = app__commit_memory(lg, p, &s);
    if (err != CX_OK)
        return app__store_failed(p, err);
    p->job_ok = true;
    return CX_OK;
}

/* ---- stream messages ---------------------------------------------------------------------- */

static cx_err app__applied_save(store_conn *w, uint64_t seq)
{
    sqlite3_stmt *st = store_stmt(w, "UPDATE ledger_stream SET applied_seq=?1 WHERE id=1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE && sqlite3_changes(store_conn_db(w)) == 1 ? CX_OK : CX_EDB;
}

/* "rejected at sequence N": the same row on every node. */
static cx_err app__rejected_save(store_conn *w, const ledger_pending *p)
{
    sqlite3_stmt *st =
        store_stmt(w, "INSERT INTO ledger_rejected(seq, entry_hash, type, org, status, code, "
                      "message, details, received_at, pos) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                      "?8, ?9, ?10)");
    if (!st)
        return CX_EDB;
    char now[32];
    cx_rfc3339_format(p->stream_us, now);
    char *details = cx_json_dump(p->res.details ? p->res.details : json_array(), NULL);
    if (!details)
        return CX_ENOMEM;
    sqlite3_bind_int64(st, 1, (int64_t)p->seq);
    const uint8_t *h = p->e ? p->e->entry_hash : p->has_msg_hash ? p->msg_hash : NULL;
    if (h)
        sqlite3_bind_blob(st, 2, h, 32, SQLITE_STATIC);
    if (p->e) {
        sqlite3_bind_text(st, 3, ledger__type_names[p->e->type], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->e->org, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 5, (int)p->res.status);
    sqlite3_bind_text(st, 6, p->res.code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, p->res.message, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, details, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, p->pos);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(details);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* A stream message's entry at p->seq, position p->pos of p->of: applied,
 * or recorded as rejected; either way the sequence moves on with the
 * message's last entry. Messages come back after a reconnect: one at or
 * below the applied sequence is skipped; one past the next (or an entry out
 * of its place in its message) is a gap, and the stream must be read again
 * from the database's sequence. A message's entries are handed to the
 * writer in one job, so the applied sequence never stands inside one. */
static cx_err app__stream_one(store_conn *w, ledger_pending *p)
{
    ledger *lg = p->lg;
    if (app__refresh(lg, w) != CX_OK) {
        app__unavailable(&p->res, "the ledger state could not be loaded");
        return CX_EDB;
    }
    if (p->seq <= lg->applied_seq) {
        p->skipped = true;
        return CX_OK;
    }
    bool last = p->pos + 1 >= p->of;
    if (p->seq != lg->applied_seq + 1 || p->pos != lg->stream_pos) {
        app__unavailable(&p->res, "a gap in the stream; reading it again");
        return CX_ESTATE;
    }
    app_step s;
    cx_err err = p->e ? store_exec(w, "SAVEPOINT ledger_apply") : CX_OK;
    bool rejected = !p->e; /* p->res holds why it did not decode */
    if (err == CX_OK && p->e) {
        err = app__append(lg, w, p, false, &s);
        if (err == CX_ESTATE) {
            rejected = true;
            err = store_exec(w, "ROLLBACK TO ledger_apply");
        }
        if (err == CX_OK)
            err = store_exec(w, "RELEASE ledger_apply");
    }
    if (err == CX_OK && rejected)
        err = app__rejected_save(w, p);
    if (err == CX_OK && last)
        err = app__applied_save(w, p->seq);
    if (err == CX_OK && !rejected)
        err = app__commit_memory(lg, p, &s);
    if (err != CX_OK)
        return app__store_failed(p, err);
    if (last) {
        lg->applied_seq = p->seq;
        lg->stream_pos = 0;
    } else {
        lg->stream_pos = (uint16_t)(p->pos + 1);
    }
    p->res.seq = p->seq;
    p->res.pos = p->pos;
    p->job_ok = true;
    return CX_OK;
}

static cx_err app__job_stream(store_conn *w, void *arg)
{
    ledger_pending *p = arg;
    p->lg->stream_pos = 0; /* a message starts in the job that applies it */
    return app__stream_one(w, p);
}

static void app__done(void *arg, cx_err result)
{
    ledger_pending *p = arg;
    ledger *lg = p->lg;
    bool failed = result != CX_OK;
    if (failed && p->job_ok) {
        /* the batch's commit failed after this job succeeded: memory is
         * ahead of the database */
        lg->stale = true;
        json_decref(p->res.findings);
        p->res.findings = NULL;
        app__unavailable(&p->res, "the entry could not be made durable; retry");
    } else if (failed && !p->res.status) {
        app__unavailable(&p->res, "the entry could not be stored; retry");
    }
    if (p->skipped) {
        /* a redelivery of what was applied before: nobody waits for it */
    } else if (p->res.status == 201) {
        atomic_fetch_add(&lg->n_accepted, 1);
        atomic_fetch_add(&lg->n_findings, p->nraised);
    } else if (!(p->mode == LP_STREAM && failed)) {
        atomic_fetch_add(&lg->n_rejected, 1);
    }
    if (p->mode == LP_STREAM)
        ledger__net_applied(lg->net, p, failed);
    else if (p->done)
        p->done(p->arg, &p->res);
    ledger__pending_free(p);
}

cx_err ledger__pending_append(ledger *lg, ledger_pending *p)
{
    p->job.fn = p->mode == LP_STREAM ? app__job_stream : app__job_local;
    p->job.done = app__done;
    p->job.arg = p;
    return store_submit(lg->s, &p->job);
}

/* ---- stream messages in batches ---------------------------------------------------------- *
 * The stream's reader hands over what it has at once: one writer job (one
 * savepoint, one wake of the writer) for up to LEDGER_STREAM_BATCH messages
 * in order. A failure rolls the whole batch back and the reader reads the
 * stream again from the database's sequence. */

struct ledger_stream_batch {
    store_job job;
    size_t n;
    ledger_pending *p[LEDGER_STREAM_BATCH_CAP];
};

static cx_err app__job_batch(store_conn *w, void *arg)
{
    ledger_stream_batch *b = arg;
    if (b->n)
        b->p[0]->lg->stream_pos = 0; /* a message starts in the job that applies it */
    for (size_t i = 0; i < b->n; i++) {
        cx_err e = app__stream_one(w, b->p[i]);
        if (e != CX_OK)
            return e;
    }
    return CX_OK;
}

static void app__done_batch(void *arg, cx_err result)
{
    ledger_stream_batch *b = arg;
    for (size_t i = 0; i < b->n; i++)
        app__done(b->p[i], result);
    free(b);
}

ledger_stream_batch *ledger__stream_batch_new(void)
{
    return calloc(1, sizeof(ledger_stream_batch));
}

bool ledger__stream_batch_add(ledger_stream_batch *b, ledger_pending *p)
{
    if (b->n == LEDGER_STREAM_BATCH_CAP)
        return false;
    p->mode = LP_STREAM;
    b->p[b->n++] = p;
    return true;
}

size_t ledger__stream_batch_size(const ledger_stream_batch *b)
{
    return b->n;
}

cx_err ledger__stream_batch_append(ledger *lg, ledger_stream_batch *b)
{
    b->job = (store_job){.fn = app__job_batch, .done = app__done_batch, .arg = b};
    return store_submit(lg->s, &b->job);
}

void ledger__stream_batch_free(ledger_stream_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        ledger__pending_free(b->p[i]);
    free(b);
}

/* ---- the precheck ------------------------------------------------------------------------- *
 * It writes nothing that stays, so its verdict is handed on from inside the
 * job: the submitter's next step (the publish) starts while the writer
 * finishes the batch, instead of after a commit that does not concern it.
 * Nobody waits for it: the verdict goes to a callback.
 *
 * The checks queued while the writer was busy go as one job: each in a
 * savepoint of its own, rolled back, and then their verdicts one after the
 * other. On a network node each verdict is a publish, so the entries a node
 * checked together reach the NATS servers together: their CPU per entry
 * falls with the publishes that arrive together (docs/performance.md). */

typedef struct precheck_job {
    ledger_pending p; /* a stand-in: only lg, e and res are used */
    ledger_check_fn ready;
    void *arg;
    bool called;
    struct precheck_job *next;
} precheck_job;

/* One writer job for the checks queued when it was made and after. */
typedef struct {
    store_job job;
    ledger *lg;
    precheck_job *taken; /* by the job's run; what is left to its done */
    bool ran;
} precheck_batch;

static void app__precheck_call(precheck_job *j)
{
    if (j->called)
        return;
    j->called = true;
    if (!j->p.res.status)
        app__unavailable(&j->p.res, "the ledger state could not be read");
    j->ready(j->arg, &j->p.res);
    ledger_result_clear(&j->p.res);
    j->p.e = NULL; /* the caller's again */
}

/* The queue, taken whole; the next check queues a job of its own. */
static precheck_job *app__precheck_take(ledger *lg)
{
    pthread_mutex_lock(&lg->chk_mu);
    precheck_job *l = lg->chk_head;
    lg->chk_head = lg->chk_tail = NULL;
    lg->chk_queued = false;
    pthread_mutex_unlock(&lg->chk_mu);
    return l;
}

static void app__precheck_one(ledger *lg, store_conn *w, precheck_job *j)
{
    if (store_exec(w, "SAVEPOINT ledger_check") != CX_OK) {
        app__unavailable(&j->p.res, "the ledger state could not be read; retry");
        return;
    }
    app_step s;
    cx_err err = app__append(lg, w, &j->p, true, &s);
    if (err == CX_OK)
        j->p.res.status = 201;
    else if (err != CX_ESTATE)
        app__unavailable(&j->p.res, "the ledger state could not be read; retry");
    if (store_exec(w, "ROLLBACK TO ledger_check") != CX_OK ||
        store_exec(w, "RELEASE ledger_check") != CX_OK) {
        ledger_result_clear(&j->p.res); /* a later check could see this one's rows */
        app__unavailable(&j->p.res, "the ledger state could not be read; retry");
    }
}

static cx_err app__job_precheck(store_conn *w, void *arg)
{
    precheck_batch *b = arg;
    ledger *lg = b->lg;
    b->ran = true;
    b->taken = app__precheck_take(lg);
    if (app__refresh(lg, w) != CX_OK) {
        for (precheck_job *j = b->taken; j; j = j->next)
            app__unavailable(&j->p.res, "the ledger state could not be loaded");
    } else {
        for (precheck_job *j = b->taken; j; j = j->next)
            app__precheck_one(lg, w, j);
    }
    if (lg->net)
        ledger__net_checks_begin(lg->net);
    for (precheck_job *j = b->taken; j; j = j->next)
        app__precheck_call(j);
    if (lg->net) /* their publishes: batches of several entries per message */
        ledger__net_checks_end(lg->net);
    return CX_ESTATE; /* always rolled back: nothing of it stays */
}

static void app__precheck_done(void *arg, cx_err result)
{
    precheck_batch *b = arg;
    (void)result;
    /* the job never ran (the writer stopped): what it would have taken */
    precheck_job *l = b->ran ? b->taken : app__precheck_take(b->lg);
    for (precheck_job *j = l, *next; j; j = next) {
        next = j->next;
        app__precheck_call(j);
        free(j);
    }
    free(b);
}

void ledger__precheck(ledger *lg, const lentry *e, ledger_check_fn ready, void *arg)
{
    precheck_job *j = calloc(1, sizeof *j);
    precheck_batch *b = NULL;
    if (!j) {
        ledger_result res;
        memset(&res, 0, sizeof res);
        app__unavailable(&res, "out of memory");
        ready(arg, &res);
        ledger_result_clear(&res);
        return;
    }
    j->p.lg = lg;
    j->p.e = (lentry *)e; /* borrowed until ready */
    j->p.mode = LP_LOCAL;
    j->ready = ready;
    j->arg = arg;
    pthread_mutex_lock(&lg->chk_mu);
    bool submit = !lg->chk_queued;
    if (submit && !(b = calloc(1, sizeof *b))) {
        pthread_mutex_unlock(&lg->chk_mu);
        app__unavailable(&j->p.res, "out of memory");
        app__precheck_call(j);
        free(j);
        return;
    }
    if (lg->chk_tail)
        lg->chk_tail->next = j;
    else
        lg->chk_head = j;
    lg->chk_tail = j;
    lg->chk_queued = true;
    pthread_mutex_unlock(&lg->chk_mu);
    if (!submit)
        return; /* the job queued already takes it */
    b->lg = lg;
    b->job = (store_job){.fn = app__job_precheck, .done = app__precheck_done, .arg = b};
    if (store_submit(lg->s, &b->job) != CX_OK) {
        for (precheck_job *k = app__precheck_take(lg), *next; k; k = next) {
            next = k->next;
            app__unavailable(&k->p.res, "the ledger is shutting down");
            app__precheck_call(k);
            free(k);
        }
        free(b);
    }
}
