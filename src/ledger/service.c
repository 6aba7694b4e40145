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

void ledger__res_set(ledger_result *r, unsigned status, const char *code, const char *message,
                     json_t *details)
{
    json_decref(r->details);
    r->status = status;
    snprintf(r->code, sizeof r->code, "%s", code);
    snprintf(r->message, sizeof r->message, "%s", message);
    r->details = details ? details : json_array();
}

json_t *ledger_result_json(const ledger_result *r)
{
    if (r->status == 201) {
        char hex[65];
        ledger__hex(r->leaf_hash, hex);
        json_t *o = json_pack("{s:I,s:s,s:o}", "index", (json_int_t)r->index, "leaf_hash", hex,
                              "findings", r->findings ? json_incref(r->findings) : json_array());
        if (o && r->seq) { /* the stream sequence that ordered it, on a network */
            json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
            json_object_set_new(o, "pos", json_integer((json_int_t)r->pos));
        }
        return o;
    }
    return json_pack("{s:{s:s,s:s,s:o}}", "error", "code", r->code, "message", r->message,
                     "details", r->details ? json_incref(r->details) : json_array());
}

/* ---- life cycle --------------------------------------------------------------------------- */

static cx_err svc__order_local(void *self, ledger_pending *p)
{
    return ledger__pending_append(self, p);
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
    pthread_mutex_init(&lg->chk_mu, NULL);
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
    ledger__net_free(lg->net); /* its threads submit to the writer: stop them first */
    if (lg->node_key) {
        sodium_memzero(lg->node_key, sizeof *lg->node_key);
        free(lg->node_key);
    }
    free(lg->seen_key);
    free(lg->seen_idx);
    ledger__reg_free(lg->reg);
    pthread_mutex_destroy(&lg->chk_mu);
    free(lg);
}

store *ledger_store(ledger *lg)
{
    return lg->s;
}

void ledger__set_orderer(ledger *lg, const ledger_orderer *o)
{
    lg->orderer = *o;
}

cx_err ledger_set_node_key(ledger *lg, const ledger_key *key)
{
    if (!lg->node_key && !(lg->node_key = malloc(sizeof *lg->node_key)))
        return CX_ENOMEM;
    *lg->node_key = *key;
    return CX_OK;
}

/* ---- preparation (caller's thread) ------------------------------------------------------------ */

void ledger__pending_free(ledger_pending *p)
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

/* Decodes and checks an entry on its own: JSON, envelope and body rules,
 * canonical form, signatures. genesis: whether a ledger.init may pass. On
 * failure res says why and NULL is returned. */
static lentry *pending__decode(const char *text, size_t len, ledger_result *res, bool genesis)
{
    json_t *problems = json_array();
    lentry *e = NULL;
    char msg[200];
    cx_err err = ledger__entry_decode(text, len, &e, problems, msg, sizeof msg);
    if (err == CX_EPARSE) {
        cx_problem_add(problems, "", "%s", msg);
        ledger__res_set(res, 400, "invalid_json", "the body is not valid JSON", problems);
        return NULL;
    }
    if (err == CX_ETOOBIG) {
        cx_problem_add(problems, "", "%s", msg);
        ledger__res_set(res, 400, "entry_too_large", msg, problems);
        return NULL;
    }
    if (err != CX_OK) {
        ledger__res_set(res, err == CX_ENOMEM ? 503 : 400, "invalid_entry", msg, problems);
        return NULL;
    }
    if (e->type == LT_INIT && !genesis) {
        cx_problem_add(problems, "/type",
                       "ledger.init cannot be submitted: the genesis is created with customs "
                       "ledger init");
        ledger__res_set(res, 403, "forbidden", "the genesis entry cannot be submitted", problems);
        ledger__entry_free(e);
        return NULL;
    }
    if (e->nsigs == 0) {
        cx_problem_add(problems, "/signatures",
                       "at least one signature is required: sign with customs ledger sign");
        ledger__res_set(res, 400, "invalid_entry", "the entry is not signed", problems);
        ledger__entry_free(e);
        return NULL;
    }
    if (ledger__entry_check_sigs(e, problems) != CX_OK) {
        ledger__res_set(res, 403, "bad_signature", "a signature does not verify", problems);
        ledger__entry_free(e);
        return NULL;
    }
    json_decref(problems);
    return e;
}

/* The org this node's key is registered to, or false. */
static bool pending__node_org(ledger *lg, char org[CX_ORG_MAX + 1])
{
    store_conn *c = lg->node_key ? store_reader(lg->s) : NULL;
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT org FROM ledger_keys WHERE key=?1 AND "
                                         "revoked_idx IS NULL")
                         : NULL;
    if (!st)
        return false;
    sqlite3_bind_blob(st, 1, lg->node_key->pk, 32, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        snprintf(org, CX_ORG_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return ok;
}

/* The endorsement of an anchor: the node that holds the declaration (the
 * customs administration it was lodged with) signs the entry, having
 * checked that its author is the declarant. The default policy of
 * declaration.anchor requires a customs signature, so replaying the log
 * needs nothing but the log, and no organisation can anchor (and so block)
 * another's declaration through a node that does not hold it. */
static cx_err pending__endorse(ledger_pending *p, ledger_result *res)
{
    ledger *lg = p->lg;
    char org[CX_ORG_MAX + 1];
    if (!pending__node_org(lg, org))
        return CX_OK; /* this node endorses nothing: the rules decide */
    for (size_t i = 0; i < p->e->nsigs; i++)
        if (strcmp(p->e->sigs[i].org, org) == 0)
            return CX_OK;
    char *text = NULL, err[256];
    if (ledger_sign(p->e->canon, p->e->canon_len, lg->node_key, org, &text, err, sizeof err) !=
        CX_OK) {
        ledger__res_set(res, 503, "unavailable", err, NULL);
        return CX_ECRYPTO;
    }
    ledger_result tmp;
    memset(&tmp, 0, sizeof tmp);
    lentry *e = pending__decode(text, strlen(text), &tmp, false);
    free(text);
    if (!e) {
        *res = tmp;
        return CX_EINVAL;
    }
    ledger__entry_free(p->e);
    p->e = e;
    return CX_OK;
}

ledger_pending *ledger__pending_prepare(ledger *lg, const char *text, size_t len,
                                        ledger_done_fn done, void *arg, ledger_result *res,
                                        const cx_principal *who, bool genesis)
{
    memset(res, 0, sizeof *res);
    lentry *e = pending__decode(text, len, res, genesis);
    if (!e)
        return NULL;
    ledger_pending *p = calloc(1, sizeof *p);
    if (!p) {
        ledger__entry_free(e);
        ledger__res_set(res, 503, "unavailable", "out of memory", NULL);
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
            ledger__res_set(res, 404, "not_found", m,
                            json_pack("[{s:s,s:s}]", "path", "/body/declaration_id", "message",
                                      m));
            ledger__pending_free(p);
            return NULL;
        }
        if (owner && pending__endorse(p, res) != CX_OK) {
            ledger__pending_free(p);
            return NULL;
        }
    }
    return p;
}

/* A stream message's pending, before its verdict. */
static ledger_pending *pending__stream_new(ledger *lg, uint64_t seq, int64_t stream_us)
{
    ledger_pending *p = calloc(1, sizeof *p);
    if (p) {
        p->lg = lg;
        p->mode = LP_STREAM;
        p->seq = seq;
        p->stream_us = stream_us;
    }
    return p;
}

ledger_pending *ledger__pending_stream(ledger *lg, const char *data, size_t len, uint64_t seq,
                                       int64_t stream_us, const uint8_t *msg_hash)
{
    ledger_pending *p = pending__stream_new(lg, seq, stream_us);
    if (!p)
        return NULL;
    if (msg_hash) {
        memcpy(p->msg_hash, msg_hash, 32);
        p->has_msg_hash = true;
    }
    /* the receiving node's own checks (the declarant's) are not rules: they
     * became the endorsement the rules require */
    p->e = pending__decode(data, len, &p->res, true);
    if (p->e) {
        memcpy(p->msg_hash, p->e->entry_hash, 32);
        p->has_msg_hash = true;
        p->decl = pending__declaration(lg, p->e);
    } else if (p->res.status == 503) {
        ledger__pending_free(p); /* out of memory is not a verdict */
        return NULL;
    } else {
        /* rejected: recorded under its own signing hash when it has one */
        lentry *raw = NULL;
        char msg[200];
        if (ledger__entry_decode(data, len, &raw, NULL, msg, sizeof msg) == CX_OK) {
            memcpy(p->msg_hash, raw->entry_hash, 32);
            p->has_msg_hash = true;
        }
        ledger__entry_free(raw);
    }
    return p;
}

ledger_pending *ledger__pending_stream_bad(ledger *lg, uint64_t seq, int64_t stream_us,
                                           const char *why)
{
    ledger_pending *p = pending__stream_new(lg, seq, stream_us);
    if (!p)
        return NULL;
    char m[320];
    snprintf(m, sizeof m, "the stream message is not a valid batch of entries: %s", why);
    ledger__res_set(&p->res, 400, "invalid_batch", m,
                    json_pack("[{s:s,s:s}]", "path", "", "message", m));
    return p;
}

ledger_pending *ledger__pending_stream_own(ledger *lg, lentry *e, json_t *decl, uint64_t seq,
                                           int64_t stream_us)
{
    ledger_pending *p = calloc(1, sizeof *p);
    if (!p) {
        ledger__entry_free(e);
        json_decref(decl);
        return NULL;
    }
    p->lg = lg;
    p->mode = LP_STREAM;
    p->seq = seq;
    p->stream_us = stream_us;
    p->e = e;
    p->decl = decl;
    memcpy(p->msg_hash, e->entry_hash, 32);
    p->has_msg_hash = true;
    return p;
}

static void svc__submit_async(ledger *lg, const cx_principal *who, const char *text, size_t len,
                              ledger_done_fn done, void *arg, bool genesis)
{
    ledger_result res;
    ledger_pending *p = ledger__pending_prepare(lg, text, len, done, arg, &res, who, genesis);
    if (!p) {
        atomic_fetch_add(&lg->n_rejected, 1);
        done(arg, &res);
        ledger_result_clear(&res);
        return;
    }
    if (lg->orderer.order(lg->orderer.self, p) != CX_OK) {
        ledger__res_set(&res, 503, "unavailable", "the ledger is shutting down", NULL);
        done(arg, &res);
        ledger_result_clear(&res);
        ledger__pending_free(p);
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
                                     "received_at, seq, pos FROM ledger_entries WHERE idx=?1");
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
        if (*out && sqlite3_column_type(st, 6) != SQLITE_NULL) { /* ordered by a network */
            json_object_set_new(*out, "seq", json_integer(sqlite3_column_int64(st, 6)));
            json_object_set_new(*out, "pos", json_integer(sqlite3_column_int64(st, 7)));
        }
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
            ledger__res_set(res, 400, "invalid_entry", err,
                     json_pack("[{s:s,s:s}]", "path", path, "message", err));
            return;
        }
        free(text);
        text = next;
    }
    if (!text) {
        ledger__res_set(res, 503, "unavailable", "out of memory", NULL);
        return;
    }
    svc__submit(lg, text, strlen(text), res, true);
    free(text);
}
