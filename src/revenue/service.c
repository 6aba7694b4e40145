/* The revenue service on the declarations spine: enrich_kept assesses every
 * submission (on the submitting thread, from the book snapshot) and hands
 * declare the assessment's texts and its compact derivation record (never
 * shown), written straight from the result (aswrite.c); declare keeps them
 * in the declaration's own row — the only revenue state a submission
 * writes, its texts the row's and the 201's; the lean row in
 * revenue_assessments and the valuation statistics are derived from the
 * record off the submission path (derive.c, observe.c); and the gate
 * refuses a release that is not paid or guaranteed. */
#include "revenue_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the book snapshot ---------------------------------------------------------------
 * Which tariff a lodging uses: an import in this process is seen at once
 * (rev__generation_bumps moves after its commit); one by another process
 * (customs tariff import --db while serve runs) within REV_GEN_CHECK_MS,
 * as the generation in the database is read at most that often on the
 * submission path — and, while submissions come, by the statistics worker
 * a little before that (observe.c), so that a lodging seldom reads it. Re-assessments, payments and the ledger read it every
 * time. */
rev_book *rev__book_get_lodging(rev_service *r)
{
    int64_t now = cx_mono_us(), bumps = rev__generation_bumps();
    pthread_mutex_lock(&r->mu);
    r->last_lodging_us = now;
    bool check = !r->book || bumps != r->gen_bumps ||
                 now - r->gen_checked_us >= (int64_t)REV_GEN_CHECK_MS * 1000;
    rev_book *b = check ? NULL : r->book;
    if (b)
        b->refs++;
    pthread_mutex_unlock(&r->mu);
    return b ? b : rev__book_get(r);
}

rev_book *rev__book_get(rev_service *r)
{
    /* what this read covers: bumps before it, and the time it was made */
    int64_t now = cx_mono_us(), bumps = rev__generation_bumps();
    store_conn *c = store_reader(r->s);
    int64_t gen = -1;
    if (c)
        rev__generation(c, &gen);
    pthread_mutex_lock(&r->mu);
    if (gen >= 0) {
        r->gen_bumps = bumps;
        r->gen_checked_us = now;
    }
    if (gen >= 0 && gen != r->generation) {
        /* an import moved on: load the new book (rare; others wait briefly) */
        rev_book *b = NULL;
        char err[256];
        if (rev_book_load(r->s, &b, err, sizeof err) == CX_OK) {
            b->refs = 1;
            if (r->book && --r->book->refs == 0)
                rev_book_free(r->book);
            r->book = b;
            r->generation = gen;
        } else {
            cx_log(CX_LOG_ERROR, "revenue: %s (the previous tariff stays in use)", err);
        }
    }
    rev_book *b = r->book;
    if (b)
        b->refs++;
    pthread_mutex_unlock(&r->mu);
    return b;
}

void rev__book_put(rev_service *r, rev_book *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&r->mu);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last)
        rev_book_free(b);
}

/* ---- lookups ------------------------------------------------------------------------------- */
/* One assessment's statistics reads: from the cache, else in one read
 * snapshot begun at the first miss (on a busy WAL, starting a snapshot
 * costs more than the read itself). */
typedef struct {
    rev_service *r;
    store_conn *c;
    bool txn;
} svc_uv_call;

static bool svc__uv(void *ctx, const char *key, rev_uv_stats *out)
{
    svc_uv_call *u = ctx;
    uint64_t epoch;
    if (rev__uvcache_get(&u->r->uv, key, out, &epoch))
        return out->n > 0;
    if (!u->c)
        return false;
    if (!u->txn && sqlite3_get_autocommit(store_conn_db(u->c)))
        u->txn = store_exec(u->c, "BEGIN") == CX_OK;
    rev_uv_stats st;
    cx_err e = rev__uv_read(u->c, key, &st);
    if (e != CX_OK) { /* not cached as "none": the next assessment reads it again */
        cx_log(CX_LOG_WARN,
               "revenue: the valuation statistics of %s could not be read (%s): "
               "this item is assessed without valuation control",
               key, cx_strerror(e));
        return false;
    }
    rev__uvcache_put(&u->r->uv, key, &st, epoch);
    *out = st;
    return st.n > 0;
}

/* Certificates of origin from the ledger, read on the connection the
 * assessment runs on (the writer's inside a ledger job, so that a
 * revocation in that job is seen). */
typedef struct {
    store_conn *c;
    cx_err failed; /* a certificate that could not be read: the assessment fails */
} svc_cert_call;

static bool svc__cert(void *ctx, const rev_cert_query *q, rev_certificate *out)
{
    svc_cert_call *k = ctx;
    ledger_coo coo;
    cx_err e = ledger_coo_find(k->c, q->declaration_id, q->exporter, q->origin, q->hs_code,
                               q->date, &coo);
    if (e != CX_OK && e != CX_ENOTFOUND && k->failed == CX_OK)
        k->failed = e;
    if (e != CX_OK)
        return false;
    snprintf(out->issuer, sizeof out->issuer, "%s", coo.issuer);
    snprintf(out->number, sizeof out->number, "%s", coo.number);
    out->index = coo.index;
    return true;
}

/* Runs fn on the result of doc's assessment while the book it borrows from
 * is held. CX_ENOTFOUND: no book. */
typedef cx_err (*svc_result_fn)(void *arg, const rev_result *res);

static cx_err svc__assess(rev_service *r, store_conn *w, const json_t *doc, const char *text,
                          size_t len, bool lodging, svc_result_fn fn, void *arg)
{
    store_conn *c = store_reader(r->s);
    svc_uv_call u = {r, c, false};
    svc_cert_call k = {w ? w : c, CX_OK};
    rev_book *b = lodging ? rev__book_get_lodging(r) : rev__book_get(r);
    cx_err e = CX_ENOTFOUND;
    if (b) {
        rev_lookups lk = r->cfg.lookups;
        lk.unit_values = svc__uv;
        lk.uv_ctx = &u;
        if (lodging) { /* a submission's member refers to the line versions */
            lk.line_ref = rev__line_ref;
            lk.line_ctx = &r->lines;
        }
        if (r->cfg.ledger) {
            lk.certificate = svc__cert;
            lk.cert_ctx = &k;
        }
        rev_result res;
        e = rev__assess_run(b, doc, text, len, &lk, &res);
        if (e == CX_OK && k.failed != CX_OK) { /* not a preference refused for want of it */
            cx_log(CX_LOG_ERROR, "revenue: a certificate of origin could not be read (%s)",
                   cx_strerror(k.failed));
            e = k.failed;
        }
        if (u.txn) /* the statistics' snapshot ends before the writing */
            store_exec(c, "COMMIT");
        u.txn = false;
        if (e == CX_OK)
            e = fn(arg, &res);
        rev__result_free(&res);
    }
    if (u.txn)
        store_exec(c, "COMMIT");
    rev__book_put(r, b);
    return e;
}

static cx_err svc__tree(void *arg, const rev_result *res)
{
    json_t **a = arg;
    *a = rev__result_json(res);
    return *a ? CX_OK : CX_ENOMEM;
}

json_t *rev__assess_doc(rev_service *r, store_conn *w, const json_t *doc, const char *text,
                        size_t len, bool lodging)
{
    json_t *a = NULL;
    svc__assess(r, w, doc, text, len, lodging, svc__tree, &a);
    return a;
}

json_t *rev_service_assess(rev_service *r, const json_t *doc, const char *text, size_t len)
{
    return rev__assess_doc(r, NULL, doc, text, len, true);
}

typedef struct {
    const json_t *doc;
    char **full, **shown, **record;
} svc_texts_call;

static cx_err svc__texts(void *arg, const rev_result *res)
{
    svc_texts_call *t = arg;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    cx_err e = rev__result_texts(res, t->doc, now, t->full, t->shown, t->record);
    if (e == CX_EINVAL)
        e = rev__result_tree_texts(res, t->doc, now, t->full, t->shown, t->record);
    return e;
}

cx_err rev_service_assess_kept(rev_service *r, const json_t *doc, const char *text, size_t len,
                               char **full, char **shown, char **record)
{
    *full = *shown = *record = NULL;
    svc_texts_call t = {doc, full, shown, record};
    return svc__assess(r, NULL, doc, text, len, true, svc__texts, &t);
}

/* ---- hooks ----------------------------------------------------------------------------------- */
/* A submission's assessment: its texts and record written from the result
 * (aswrite.c), its findings raised as risk reasons on the document, and
 * under "assessment" in doc only what risk's indexed hook reads of it (the
 * total and the revenue at risk). */
typedef struct {
    json_t *doc;
    decl_kept_made *made;
} svc_kept_call;

static cx_err svc__kept(void *arg, const rev_result *res)
{
    svc_kept_call *k = arg;
    svc_texts_call t = {k->doc, &k->made->full, &k->made->shown, &k->made->record};
    cx_err e = svc__texts(&t, res);
    /* the findings' reasons go with the row (no update of it on the writer) */
    for (size_t i = 0; e == CX_OK && i < res->nf; i++) {
        json_t *reason = rev__finding_reason(&res->f[i]);
        if (!reason || decl_raise_lane_doc(k->doc, "yellow", reason) != CX_OK)
            cx_log(CX_LOG_WARN, "revenue: out of memory: a finding's risk reason is missing");
        json_decref(reason);
    }
    int exp = res->exp < 0 ? 0 : res->exp;
    json_t *seen = e == CX_OK ? json_object() : NULL;
    if (seen) {
        json_object_set_new(seen, "total", rev_amount_json(res->total, exp));
        json_object_set_new(seen, "revenue_at_risk", rev_amount_json(res->at_risk, exp));
        json_object_set_new(k->doc, "assessment", seen);
    }
    return e;
}

static cx_err svc__enrich_kept(void *ctx, const cx_principal *who, json_t *doc,
                               const char *text, size_t len, decl_kept_made *made)
{
    (void)who;
    svc_kept_call k = {doc, made};
    cx_err e = svc__assess(ctx, NULL, doc, text, len, true, svc__kept, &k);
    if (e == CX_OK)
        return CX_OK;
    free(made->full);
    free(made->shown);
    free(made->record);
    made->full = made->shown = made->record = NULL;
    json_object_del(doc, "assessment");
    if (e == CX_ENOTFOUND)
        return CX_OK; /* no tariff loaded: stored unassessed, re-assessable later */
    /* a read that failed (a certificate, a rate) or no memory: refused, so
     * nothing is stored that the release gate would take for "nothing to
     * collect"; the client retries */
    cx_log(CX_LOG_WARN, "revenue: a submission could not be assessed: %s", cx_strerror(e));
    return e;
}

/* Every read of the member through declare expands the items' references
 * to their line versions (linetext.c), misses read on c. c is NULL for the
 * 201, whose lines the assessment just put in the cache; should the cache
 * have started again empty in between, this thread's reader has them (a
 * text is committed before any book refers to it). */
static cx_err svc__member_expand(void *ctx, store_conn *c, const char *text, size_t len,
                                 cx_buf *out)
{
    rev_service *r = ctx;
    return rev__line_expand(&r->lines, c ? c : store_reader(r->s), text, len, out);
}

static cx_err svc__fill_texts(store_conn *w, void *arg)
{
    (void)arg;
    return rev__line_texts_fill(w);
}

/* payment_required: a release needs paid − refunded + guaranteed ≥ the
 * assessed total and an assessment without problems. Runs in the decision's
 * writer job, where it draws guarantees and folds held statistics. */
static cx_err svc__gate(void *ctx, const decl_gate_call *call, decl_gate_refusal *no)
{
    rev_service *r = ctx;
    if (strcmp(call->decision, "release") != 0)
        return CX_OK;
    return rev__release_check(call->w, call->seq, no, &r->uv);
}

/* ---- life cycle -------------------------------------------------------------------------------- */
cx_err rev_service_new(store *s, decl_service *d, const rev_config *cfg, rev_service **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (rev_minor_load(NULL, err, errlen) != CX_OK)
        return CX_EIO;
    rev_service *r = calloc(1, sizeof *r);
    if (!r)
        return CX_ENOMEM;
    r->s = s;
    r->d = d;
    r->generation = -1;
    if (cfg)
        r->cfg = *cfg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    rev__uvcache_init(&r->uv);
    rev__linecache_init(&r->lines);
    cx_err e = CX_OK;
    if (r->cfg.currency) {
        char have[4];
        e = rev_currency_set(s, r->cfg.currency, have);
        if (e == CX_EEXIST)
            snprintf(err, errlen, "the database's national currency is %s; it is set once and "
                                  "cannot become %s",
                     have, r->cfg.currency);
        else if (e == CX_EINVAL)
            snprintf(err, errlen, "--currency %s is not an ISO 4217 currency with a minor unit",
                     r->cfg.currency);
        else if (e != CX_OK)
            snprintf(err, errlen, "cannot store the national currency: %s", cx_strerror(e));
    }
    if (e == CX_OK)
        e = rev_currency_get(s, r->currency);
    /* lines stored before their texts were kept get them once */
    if (e == CX_OK && rev__line_texts_missing(s))
        e = store_write(s, svc__fill_texts, NULL);
    rev_book *b = e == CX_OK ? rev__book_get(r) : NULL;
    if (e == CX_OK && !b) {
        snprintf(err, errlen, "cannot load the tariff");
        e = CX_EDB;
    }
    rev__book_put(r, b);
    if (e != CX_OK) {
        rev_service_free(r);
        return e;
    }
    r->exp = rev_minor_unit(r->currency);
    r->active = r->currency[0] && r->exp >= 0;
    if (r->active && d) {
        decl_hooks h = {.name = "revenue",
                        .order = DECL_ORDER_REVENUE,
                        .enrich_kept = svc__enrich_kept,
                        .member = "assessment",
                        .member_expand = svc__member_expand,
                        .ctx = r};
        decl_gate g = {.name = "revenue.payment", .order = DECL_GATE_REVENUE,
                       .check = svc__gate, .ctx = r};
        /* the cursor of derived rows starts before the first submission */
        e = rev__derive_init(s);
        if (e == CX_OK)
            e = decl_service_add_hooks(d, &h);
        if (e == CX_OK)
            e = decl_gate_add(d, &g);
        if (e == CX_OK && r->cfg.ledger)
            e = rev__ledger_join(r);
        if (e == CX_OK)
            e = rev__assessments_move(s);
        if (e != CX_OK) {
            snprintf(err, errlen, "cannot join the declarations spine: %s", cx_strerror(e));
            rev_service_free(r);
            return e;
        }
        if (!r->cfg.no_worker)
            rev__observer_start(r);
    } else if (!r->active && !r->cfg.quiet) {
        cx_log(CX_LOG_INFO, "revenue: no national currency set (customs serve --currency CODE): "
                            "declarations are not assessed");
    }
    *out = r;
    return CX_OK;
}

void rev_service_free(rev_service *r)
{
    if (!r)
        return;
    rev_service_stop(r);
    if (r->book && --r->book->refs == 0)
        rev_book_free(r->book);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    rev__uvcache_free(&r->uv);
    rev__linecache_free(&r->lines);
    free(r);
}

bool rev_service_active(const rev_service *r)
{
    return r && r->active;
}
