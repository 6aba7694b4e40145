/* The ledger service: entries are parsed, canonicalised and their
 * signatures verified on the submitting thread (HTTP workers run this in
 * parallel); the writer job that follows is short: a few indexed lookups,
 * the state transition, the leaf and the nodes it completes. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- results -------------------------------------------------------------------------- */

void ledger_result_clear(ledger_result *r)
{
    json_decref(r->details);
    json_decref(r->findings);
    memset(r, 0, sizeof *r);
}

static void res__set(ledger_result *r, unsigned status, const char *code, const char *message,
                     json_t *details)
{
    json_decref(r->details);
    r->status = status;
    snprintf(r->code, sizeof r->code, "%s", code);
    snprintf(r->message, sizeof r->message, "%s", message);
    r->details = details ? details : json_array();
}

static void res__from_verdict(ledger_result *r, lverdict *v)
{
    res__set(r, v->status, v->code ? v->code : "rejected", v->message, v->details);
    v->details = NULL;
}

json_t *ledger_result_json(const ledger_result *r)
{
    if (r->status == 201) {
        char hex[65];
        ledger__hex(r->leaf_hash, hex);
        return json_pack("{s:I,s:s,s:O}", "index", (json_int_t)r->index, "leaf_hash", hex,
                         "findings", r->findings ? r->findings : json_array());
    }
    return json_pack("{s:{s:s,s:s,s:O}}", "error", "code", r->code, "message", r->message,
                     "details", r->details ? r->details : json_array());
}

/* ---- life cycle --------------------------------------------------------------------------- */

static cx_err svc__order_local(void *self, ledger_pending *p)
{
    return ledger_pending_append(self, p);
}

ledger *ledger_new(store *s, decl_service *decl)
{
    ledger *lg = calloc(1, sizeof *lg);
    if (!lg)
        return NULL;
    lg->s = s;
    lg->decl = decl;
    lg->reg = ledger__reg_new();
    if (!lg->reg) {
        free(lg);
        return NULL;
    }
    lg->orderer.order = svc__order_local;
    lg->orderer.self = lg;
    if (decl) {
        decl_hooks h = ledger__decl_hooks_template;
        h.ctx = lg;
        if (decl_service_add_hooks(decl, &h) != CX_OK) {
            ledger_free(lg);
            return NULL;
        }
    }
    return lg;
}

void ledger_free(ledger *lg)
{
    if (!lg)
        return;
    free(lg->seen_key);
    free(lg->seen_idx);
    ledger__reg_free(lg->reg);
    free(lg);
}

store *ledger_store(ledger *lg)
{
    return lg->s;
}

void ledger_set_orderer(ledger *lg, const ledger_orderer *o)
{
    lg->orderer = *o;
}

/* ---- preparation (caller's thread) ------------------------------------------------------------ */

static void pending__free(ledger_pending *p)
{
    if (!p)
        return;
    ledger__entry_free(p->e);
    json_decref(p->decl);
    ledger_result_clear(&p->res);
    free(p);
}

static bool pending__parse(void *ctx, const char *id, const char *doc, size_t len)
{
    *(json_t **)ctx = json_loadb(doc, len, 0, NULL);
    return false;
}

/* The declaration an anchor or a payment names, as stored here. */
static json_t *pending__declaration(ledger *lg, const lentry *e)
{
    if (!lg->decl || (e->type != LT_DECL_ANCHOR && e->type != LT_PAYMENT))
        return NULL;
    const char *id = json_string_value(json_object_get(e->body, "declaration_id"));
    store_conn *c = store_reader(lg->s);
    json_t *d = NULL;
    if (id && c)
        decl_doc(c, id, pending__parse, &d);
    return d;
}

/* genesis: whether a ledger.init may pass. Only ledger_init (customs ledger
 * init) lets one through: a genesis that arrived over the API would let any
 * caller name the governance of an empty ledger. */
static ledger_pending *pending__new(ledger *lg, const char *text, size_t len, ledger_done_fn done,
                                    void *arg, ledger_result *res, const cx_principal *who,
                                    bool genesis)
{
    memset(res, 0, sizeof *res);
    json_t *problems = json_array();
    lentry *e = NULL;
    char msg[200];
    cx_err err = ledger__entry_decode(text, len, &e, problems, msg, sizeof msg);
    if (err == CX_EPARSE) {
        cx_problem_add(problems, "", "%s", msg);
        res__set(res, 400, "invalid_json", "the body is not valid JSON", problems);
        return NULL;
    }
    if (err == CX_ETOOBIG) {
        cx_problem_add(problems, "", "%s", msg);
        res__set(res, 400, "entry_too_large", msg, problems);
        return NULL;
    }
    if (err != CX_OK) {
        res__set(res, err == CX_ENOMEM ? 503 : 400, "invalid_entry", msg, problems);
        return NULL;
    }
    if (e->type == LT_INIT && !genesis) {
        cx_problem_add(problems, "/type",
                       "ledger.init cannot be submitted: the genesis is created with customs "
                       "ledger init");
        res__set(res, 403, "forbidden", "the genesis entry cannot be submitted", problems);
        ledger__entry_free(e);
        return NULL;
    }
    if (e->nsigs == 0) {
        cx_problem_add(problems, "/signatures",
                       "at least one signature is required: sign with customs ledger sign");
        res__set(res, 400, "invalid_entry", "the entry is not signed", problems);
        ledger__entry_free(e);
        return NULL;
    }
    if (ledger__entry_check_sigs(e, problems) != CX_OK) {
        res__set(res, 403, "bad_signature", "a signature does not verify", problems);
        ledger__entry_free(e);
        return NULL;
    }
    json_decref(problems);
    ledger_pending *p = calloc(1, sizeof *p);
    if (!p) {
        ledger__entry_free(e);
        res__set(res, 503, "unavailable", "out of memory", NULL);
        return NULL;
    }
    p->lg = lg;
    p->e = e;
    p->done = done;
    p->arg = arg;
    const char *scope = ledger__findings_scope(who);
    snprintf(p->scope, sizeof p->scope, "%s", scope ? scope : "");
    p->decl = pending__declaration(lg, e);
    if (p->decl && e->type == LT_DECL_ANCHOR) {
        /* Only the declarant may anchor a declaration lodged here; to
         * anyone else it is not there (404, as a read of it answers),
         * and the reply names no other organisation. */
        const char *owner = json_string_value(json_object_get(p->decl, "org"));
        if (owner && strcmp(owner, e->org) != 0) {
            char m[200];
            snprintf(m, sizeof m, "no declaration %s of %s is stored on this node",
                     json_string_value(json_object_get(e->body, "declaration_id")), e->org);
            res__set(res, 404, "not_found", m,
                     json_pack("[{s:s,s:s}]", "path", "/body/declaration_id", "message", m));
            pending__free(p);
            return NULL;
        }
    }
    return p;
}

ledger_pending *ledger_pending_new(ledger *lg, const char *text, size_t len, ledger_done_fn done,
                                   void *arg, ledger_result *res)
{
    return pending__new(lg, text, len, done, arg, res, NULL, false);
}

const char *ledger_pending_bytes(const ledger_pending *p, size_t *len)
{
    if (len)
        *len = p->e->canon_len;
    return p->e->canon;
}

/* ---- the writer job ------------------------------------------------------------------------- */

/* ---- the replay set (writer thread) ------------------------------------------------------- */

static uint64_t seen__key(const uint8_t h[32])
{
    uint64_t k;
    memcpy(&k, h, 8);
    return k | 1; /* 0 marks an empty slot */
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

/* Writer-thread state follows the database: reloaded on first use, after a
 * failed commit, and when another process (a CLI next to the server) has
 * committed in the meantime. */
static cx_err svc__refresh(ledger *lg, store_conn *w)
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
    if (e != CX_OK) {
        lg->stale = true;
        return e;
    }
    lg->loaded = true;
    lg->stale = false;
    lg->data_version = dv;
    return CX_OK;
}

static cx_err svc__emit_node(void *ctx, unsigned level, uint64_t index, const uint8_t h[32])
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
static cx_err svc__scope_findings(store_conn *w, const char *org, json_t *findings)
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

static cx_err svc__job(store_conn *w, void *arg)
{
    ledger_pending *p = arg;
    ledger *lg = p->lg;
    const lentry *e = p->e;
    cx_err err = svc__refresh(lg, w);
    if (err != CX_OK) {
        res__set(&p->res, 503, "unavailable", "the ledger state could not be loaded", NULL);
        return err;
    }
    int64_t dup = seen__find(lg, w, e->entry_hash);
    if (dup < -1)
        return CX_EDB;
    if (dup >= 0) {
        char m[160];
        snprintf(m, sizeof m, "this entry is already on the ledger at index %lld",
                 (long long)dup);
        res__set(&p->res, 409, "duplicate_entry", m,
                 json_pack("[{s:s,s:s}]", "path", "", "message", m));
        return CX_EEXIST;
    }
    int64_t idx = (int64_t)lg->tree.size;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO ledger_entries(idx, entry_hash, leaf_hash, type, "
                                     "org, entry, received_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, idx);
    sqlite3_bind_blob(st, 2, e->entry_hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, e->leaf_hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ledger__type_names[e->type], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, e->canon, (int)e->canon_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        res__set(&p->res, 503, "unavailable", "the entry could not be stored; retry", NULL);
        return CX_EDB;
    }
    lconn c = {.sc = w};
    lapply a = {.c = &c, .reg = lg->reg, .e = e, .idx = idx, .serving = true};
    err = ledger__apply(&a);
    if (err == CX_ESTATE) {
        res__from_verdict(&p->res, &a.v);
        return err;
    }
    ledger__verdict_clear(&a.v);
    if (err != CX_OK) {
        res__set(&p->res, 503, "unavailable", "the entry could not be stored; retry", NULL);
        return err;
    }
    ledger_frontier next = lg->tree;
    err = ledger_frontier_append(&next, e->leaf_hash, svc__emit_node, w);
    json_t *findings = json_array();
    if (err == CX_OK)
        err = ledger__watch_run(lg, w, e, idx);
    if (err == CX_OK && lg->decl)
        err = ledger__findings_entry(lg, w, e, idx, p->decl, findings);
    if (err != CX_OK) {
        json_decref(findings);
        res__set(&p->res, 503, "unavailable", "the entry could not be stored; retry", NULL);
        return err;
    }
    p->nraised = json_array_size(findings);
    if (p->scope[0])
        err = svc__scope_findings(w, p->scope, findings);
    if (err != CX_OK) {
        json_decref(findings);
        res__set(&p->res, 503, "unavailable", "the entry could not be stored; retry", NULL);
        return err;
    }
    /* Everything in SQL succeeded: memory may follow. */
    if (seen__put(lg, e->entry_hash, idx) != CX_OK) {
        json_decref(findings);
        lg->stale = true;
        res__set(&p->res, 503, "unavailable", "out of memory", NULL);
        return CX_ENOMEM;
    }
    if (a.commit)
        a.commit(lg->reg, e, idx);
    lg->tree = next;
    p->res.status = 201;
    p->res.index = idx;
    memcpy(p->res.leaf_hash, e->leaf_hash, 32);
    p->res.findings = findings;
    p->job_ok = true;
    return CX_OK;
}

static void svc__done(void *arg, cx_err result)
{
    ledger_pending *p = arg;
    ledger *lg = p->lg;
    if (result != CX_OK && p->job_ok) {
        /* the batch's commit failed after this job succeeded: memory is
         * ahead of the database */
        lg->stale = true;
        json_decref(p->res.findings);
        p->res.findings = NULL;
        res__set(&p->res, 503, "unavailable", "the entry could not be made durable; retry", NULL);
    } else if (result != CX_OK && !p->res.status) {
        res__set(&p->res, 503, "unavailable", "the entry could not be stored; retry", NULL);
    }
    if (p->res.status == 201) {
        atomic_fetch_add(&lg->n_accepted, 1);
        atomic_fetch_add(&lg->n_findings, p->nraised);
    } else {
        atomic_fetch_add(&lg->n_rejected, 1);
    }
    if (p->done)
        p->done(p->arg, &p->res);
    pending__free(p);
}

cx_err ledger_pending_append(ledger *lg, ledger_pending *p)
{
    p->job.fn = svc__job;
    p->job.done = svc__done;
    p->job.arg = p;
    return store_submit(lg->s, &p->job);
}

static void svc__submit_async(ledger *lg, const cx_principal *who, const char *text, size_t len,
                              ledger_done_fn done, void *arg, bool genesis)
{
    ledger_result res;
    ledger_pending *p = pending__new(lg, text, len, done, arg, &res, who, genesis);
    if (!p) {
        atomic_fetch_add(&lg->n_rejected, 1);
        done(arg, &res);
        ledger_result_clear(&res);
        return;
    }
    if (lg->orderer.order(lg->orderer.self, p) != CX_OK) {
        res__set(&res, 503, "unavailable", "the ledger is shutting down", NULL);
        done(arg, &res);
        ledger_result_clear(&res);
        pending__free(p);
    }
}

void ledger_submit_async(ledger *lg, const cx_principal *who, const char *text, size_t len,
                         ledger_done_fn done, void *arg)
{
    svc__submit_async(lg, who, text, len, done, arg, false);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    ledger_result *out;
} sync_wait;

static void svc__sync_done(void *arg, ledger_result *res)
{
    sync_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    *w->out = *res;
    memset(res, 0, sizeof *res); /* ownership of details and findings moves */
    w->finished = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void svc__submit(ledger *lg, const char *text, size_t len, ledger_result *res, bool genesis)
{
    memset(res, 0, sizeof *res);
    sync_wait w = {.out = res};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    svc__submit_async(lg, NULL, text, len, svc__sync_done, &w, genesis);
    pthread_mutex_lock(&w.mu);
    while (!w.finished)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
}

void ledger_submit(ledger *lg, const char *text, size_t len, ledger_result *res)
{
    svc__submit(lg, text, len, res, false);
}

/* ---- reads ------------------------------------------------------------------------------ */

int64_t ledger_size(ledger *lg)
{
    store_conn *c = store_reader(lg->s);
    return c ? ledger__tree_size(c) : -1;
}

cx_err ledger_entry_get(ledger *lg, int64_t index, json_t **out)
{
    store_conn *c = store_reader(lg->s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(c, "SELECT type, org, leaf_hash, entry_hash, entry, "
                                     "received_at FROM ledger_entries WHERE idx=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, index);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK) {
        char leaf[65] = "", eh[65] = "";
        if (sqlite3_column_bytes(st, 2) == 32)
            ledger__hex(sqlite3_column_blob(st, 2), leaf);
        if (sqlite3_column_bytes(st, 3) == 32)
            ledger__hex(sqlite3_column_blob(st, 3), eh);
        const char *text = (const char *)sqlite3_column_text(st, 4);
        json_t *entry = json_loads(text, 0, NULL);
        *out = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "index", (json_int_t)index,
                         "type", (const char *)sqlite3_column_text(st, 0), "org",
                         (const char *)sqlite3_column_text(st, 1), "leaf_hash", leaf,
                         "entry_hash", eh, "received_at",
                         (const char *)sqlite3_column_text(st, 5), "canonical", text, "entry",
                         entry ? entry : json_null());
        if (!*out)
            e = CX_ENOMEM;
    }
    sqlite3_reset(st);
    return e;
}

static json_t *svc__hex_array(uint8_t (*path)[32], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        ledger__hex(path[i], hex);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

/* One read transaction for the O(log n) lookups of a proof: one snapshot,
 * one acquisition of SQLite's locks instead of one per lookup. */
static cx_err svc__read_begin(store_conn *c)
{
    return store_exec(c, "BEGIN");
}

static void svc__read_end(store_conn *c)
{
    store_exec(c, "COMMIT");
}

static cx_err svc__proof(store_conn *c, int64_t index, int64_t size, json_t **out);

cx_err ledger_proof(ledger *lg, int64_t index, int64_t size, json_t **out)
{
    store_conn *c = store_reader(lg->s);
    if (!c || svc__read_begin(c) != CX_OK)
        return CX_EDB;
    cx_err e = svc__proof(c, index, size, out);
    svc__read_end(c);
    return e;
}

static cx_err svc__proof(store_conn *c, int64_t index, int64_t size, json_t **out)
{
    int64_t have = ledger__tree_size(c);
    if (have < 0)
        return CX_EDB;
    if (size == 0)
        size = have;
    if (size > have || index < 0 || index >= size)
        return CX_EINVAL;
    uint8_t path[LEDGER_TREE_LEVELS][32], leaf[32];
    size_t n;
    cx_err e = ledger__node_read(c, 0, (uint64_t)index, leaf);
    if (e == CX_OK)
        e = ledger_tree_inclusion(ledger__node_read, c, (uint64_t)index, (uint64_t)size, path, &n);
    if (e != CX_OK)
        return e == CX_ENOTFOUND ? CX_EDB : e;
    char hex[65];
    ledger__hex(leaf, hex);
    *out = json_pack("{s:I,s:I,s:s,s:o}", "index", (json_int_t)index, "tree_size",
                     (json_int_t)size, "leaf_hash", hex, "audit_path", svc__hex_array(path, n));
    return *out ? CX_OK : CX_ENOMEM;
}

static cx_err svc__consistency(store_conn *c, int64_t from, int64_t to, json_t **out);

cx_err ledger_consistency(ledger *lg, int64_t from, int64_t to, json_t **out)
{
    store_conn *c = store_reader(lg->s);
    if (!c || svc__read_begin(c) != CX_OK)
        return CX_EDB;
    cx_err e = svc__consistency(c, from, to, out);
    svc__read_end(c);
    return e;
}

static cx_err svc__consistency(store_conn *c, int64_t from, int64_t to, json_t **out)
{
    int64_t have = ledger__tree_size(c);
    if (have < 0)
        return CX_EDB;
    if (from < 1 || to < from || to > have)
        return CX_EINVAL;
    uint8_t path[2 * LEDGER_TREE_LEVELS][32];
    size_t k;
    cx_err e = ledger_tree_consistency(ledger__node_read, c, (uint64_t)from, (uint64_t)to, path, &k);
    if (e != CX_OK)
        return e == CX_ENOTFOUND ? CX_EDB : e;
    *out = json_pack("{s:I,s:I,s:o}", "from", (json_int_t)from, "to", (json_int_t)to, "proof",
                     svc__hex_array(path, k));
    return *out ? CX_OK : CX_ENOMEM;
}

cx_err ledger_root(ledger *lg, int64_t size, uint8_t out[32])
{
    store_conn *c = store_reader(lg->s);
    if (!c || svc__read_begin(c) != CX_OK)
        return CX_EDB;
    int64_t have = ledger__tree_size(c);
    cx_err e = CX_OK;
    if (size < 0 || size > have)
        e = CX_EINVAL;
    else if (size == 0)
        crypto_hash_sha256(out, NULL, 0);
    else if ((e = ledger_tree_hash(ledger__node_read, c, 0, (uint64_t)size, out)) == CX_ENOTFOUND)
        e = CX_EDB;
    svc__read_end(c);
    return e;
}

/* ---- genesis ------------------------------------------------------------------------------ */

void ledger_init(ledger *lg, const char *origin, int threshold, const ledger_governor *gov,
                 size_t ngov, ledger_result *res)
{
    memset(res, 0, sizeof *res);
    json_t *keys = json_array();
    const char *author = ngov ? gov[0].holder : "consortium";
    for (size_t i = 0; i < ngov; i++) {
        char pk[LEDGER_B64_32 + 1];
        ledger__b64_encode(gov[i].pk, 32, pk);
        json_array_append_new(keys, json_pack("{s:s,s:s}", "holder", gov[i].holder, "key", pk));
    }
    /* the proposer is a governor who signs */
    for (size_t i = ngov; i-- > 0;)
        if (gov[i].key)
            author = gov[i].holder;
    lpolicy pol[LT__COUNT];
    ledger__policy_defaults(pol);
    json_t *policies = json_object();
    for (int t = 0; t < LT__COUNT; t++)
        if (!ledger__type_governance((ltype)t))
            json_object_set_new(policies, ledger__type_names[t], ledger__policy_json(&pol[t]));
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    json_t *doc = json_pack("{s:s,s:s,s:s,s:{s:s,s:{s:i,s:o},s:o},s:[]}", "type", "ledger.init",
                            "org", author, "time", now, "body", "origin", origin, "governance",
                            "threshold", threshold, "keys", keys, "policies", policies,
                            "signatures");
    char *text = doc ? cx_json_dump(doc, NULL) : NULL;
    json_decref(doc);
    /* every governor whose key is here signs; the rules want threshold of them */
    for (size_t i = 0; text && i < ngov; i++) {
        if (!gov[i].key)
            continue;
        char *next = NULL, err[256];
        if (ledger_sign(text, strlen(text), gov[i].key, gov[i].holder, &next, err, sizeof err) !=
            CX_OK) {
            free(text);
            char path[48];
            snprintf(path, sizeof path, "/body/governance/keys/%zu", i);
            res__set(res, 400, "invalid_entry", err,
                     json_pack("[{s:s,s:s}]", "path", path, "message", err));
            return;
        }
        free(text);
        text = next;
    }
    if (!text) {
        res__set(res, 503, "unavailable", "out of memory", NULL);
        return;
    }
    svc__submit(lg, text, strlen(text), res, true);
    free(text);
}
