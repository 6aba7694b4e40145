/* The revenue service on the declarations spine: enrich_text assesses every
 * submission (on the submitting thread, from the book snapshot), indexed
 * stores the assessment in revenue_assessments and feeds the valuation
 * statistics (writer thread, the declaration's savepoint), decorate shows
 * it, and the gate refuses a release that is not paid or guaranteed. */
#include "revenue_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the book snapshot --------------------------------------------------------------- */
rev_book *rev__book_get(rev_service *r)
{
    store_conn *c = store_reader(r->s);
    int64_t gen = -1;
    if (c)
        rev__generation(c, &gen);
    pthread_mutex_lock(&r->mu);
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
static bool svc__uv(void *ctx, const char *key, rev_uv_stats *out)
{
    store_conn *c = store_reader(ctx);
    return c && rev__uv_read(c, key, out);
}

json_t *rev__assess_doc(rev_service *r, const json_t *doc, const char *text, size_t len)
{
    rev_book *b = rev__book_get(r);
    if (!b)
        return NULL;
    rev_lookups lk = r->cfg.lookups;
    lk.unit_values = svc__uv;
    lk.uv_ctx = r->s;
    json_t *a = rev_assess(b, doc, text, len, &lk, NULL);
    rev__book_put(r, b);
    return a;
}

/* ---- hooks ----------------------------------------------------------------------------------- */
static void svc__enrich_text(void *ctx, const cx_principal *who, json_t *doc, const char *text,
                             size_t len)
{
    (void)who;
    rev_service *r = ctx;
    json_t *a = rev__assess_doc(r, doc, text, len);
    if (!a)
        return; /* out of memory: stored unassessed, re-assessable later */
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    json_object_set_new(a, "version", json_integer(1));
    json_object_set_new(a, "assessed_at", json_string(now));
    json_object_set_new(doc, "assessment", a);
}

/* Unit values of an item (national currency per kg and per unit), with
 * their statistics keys; n is how many (0..2). */
typedef struct {
    char key[4][REV_UV_KEY_MAX];
    double uv[4];
    int n;
} item_obs;

static void svc__observations(const json_t *item, const json_t *assessed, int exp,
                              item_obs *o)
{
    o->n = 0;
    const char *hs = json_string_value(json_object_get(item, "hs_code"));
    const char *origin = json_string_value(json_object_get(item, "country_of_origin"));
    const char *unit = json_string_value(json_object_get(item, "unit"));
    const json_t *cv = json_object_get(assessed, "customs_value");
    if (!hs || !origin || !json_is_number(cv))
        return;
    double value = json_number_value(cv);
    (void)exp;
    const json_t *mass = json_object_get(item, "net_mass_kg");
    const json_t *qty = json_object_get(item, "quantity");
    struct {
        const char *basis;
        const json_t *amount;
    } m[2] = {{"KGM", mass}, {unit, qty}};
    for (int k = 0; k < 2; k++) {
        if (!m[k].basis || (k == 1 && strcmp(m[k].basis, "KGM") == 0) ||
            !json_is_number(m[k].amount) || !(json_number_value(m[k].amount) > 0) ||
            !(value > 0))
            continue;
        for (int level = 6; level >= 4; level -= 2) {
            rev_uv_key(o->key[o->n], level, hs, origin, m[k].basis);
            o->uv[o->n++] = value / json_number_value(m[k].amount);
        }
    }
}

static bool svc__flagged(const json_t *assessment, size_t i)
{
    char path[64] = "";
    cx_jptr_push(path, sizeof path, "items");
    cx_jptr_index(path, sizeof path, i);
    cx_jptr_push(path, sizeof path, "value");
    size_t k;
    const json_t *f;
    json_array_foreach(json_object_get(assessment, "findings"), k, f)
    {
        const char *rule = json_string_value(json_object_get(f, "rule"));
        const char *p = json_string_value(json_object_get(f, "path"));
        if (rule && p && strcmp(rule, "undervaluation") == 0 && strcmp(p, path) == 0)
            return true;
    }
    return false;
}

/* Feeds the statistics with the items' unit values; items flagged as
 * undervalued wait in revenue_uv_held until the declaration is released,
 * so that undervalued declarations cannot drag the distribution down. */
static cx_err svc__observe(store_conn *w, int64_t seq, const json_t *doc, const json_t *a,
                           int exp)
{
    size_t i;
    const json_t *item;
    const json_t *assessed = json_object_get(a, "items");
    json_array_foreach(json_object_get(doc, "items"), i, item)
    {
        item_obs o;
        svc__observations(item, json_array_get(assessed, i), exp, &o);
        bool held = o.n && svc__flagged(a, i);
        for (int k = 0; k < o.n; k++) {
            cx_err e;
            if (held) {
                sqlite3_stmt *st = store_stmt(w, "INSERT INTO revenue_uv_held(seq, key, "
                                                 "unit_value) VALUES(?1, ?2, ?3)");
                if (!st)
                    return CX_EDB;
                sqlite3_bind_int64(st, 1, seq);
                sqlite3_bind_text(st, 2, o.key[k], -1, SQLITE_STATIC);
                sqlite3_bind_double(st, 3, o.uv[k]);
                e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
                sqlite3_reset(st);
            } else {
                e = rev__uv_add(w, o.key[k], o.uv[k]);
            }
            if (e != CX_OK)
                return e;
        }
    }
    return CX_OK;
}

cx_err rev__release_flagged(store_conn *w, int64_t seq)
{
    sqlite3_stmt *st =
        store_stmt(w, "SELECT key, unit_value FROM revenue_uv_held WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    typedef struct {
        char key[REV_UV_KEY_MAX];
        double uv;
    } held;
    held h[64];
    int n = 0, rc;
    while (n < 64 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(h[n].key, sizeof h[n].key, "%s", (const char *)sqlite3_column_text(st, 0));
        h[n++].uv = sqlite3_column_double(st, 1);
    }
    sqlite3_reset(st);
    cx_err e = CX_OK;
    for (int k = 0; e == CX_OK && k < n; k++)
        e = rev__uv_add(w, h[k].key, h[k].uv);
    if (e == CX_OK && n) {
        st = store_stmt(w, "DELETE FROM revenue_uv_held WHERE seq=?1");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, seq);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
    }
    return e;
}

/* Findings become risk reasons on the declaration (yellow: a document check
 * of the invoice and the rate). */
static cx_err svc__reasons(store_conn *w, const char *id, const json_t *a)
{
    size_t k;
    const json_t *f;
    json_array_foreach(json_object_get(a, "findings"), k, f)
    {
        char feature[64];
        snprintf(feature, sizeof feature, "revenue.%s",
                 json_string_value(json_object_get(f, "rule")));
        json_t *reason = json_pack("{s:s,s:i,s:O}", "feature", feature, "contribution", 1,
                                   "detail", json_object_get(f, "message"));
        cx_err e = reason ? decl_raise_lane_in(w, id, "yellow", reason) : CX_ENOMEM;
        json_decref(reason);
        if (e != CX_OK)
            return e;
    }
    return CX_OK;
}

static cx_err svc__indexed(void *ctx, store_conn *w, int64_t seq, const json_t *doc)
{
    rev_service *r = ctx;
    const json_t *a = json_object_get(doc, "assessment");
    if (!json_is_object(a))
        return CX_OK;
    cx_err e = rev__assessment_insert(w, seq, doc, a);
    if (e == CX_OK)
        e = svc__observe(w, seq, doc, a, r->exp);
    if (e == CX_OK)
        e = svc__reasons(w, json_string_value(json_object_get(doc, "id")), a);
    return e;
}

static cx_err svc__decorate(void *ctx, store_conn *rd, int64_t seq, cx_buf *members)
{
    (void)ctx;
    return rev__decorate(rd, seq, members);
}

static cx_err svc__gate(void *ctx, store_conn *w, int64_t seq, const char *decision,
                        const char *lane, json_t *problems)
{
    (void)lane;
    if (strcmp(decision, "release") != 0)
        return CX_OK;
    return rev_release_check(ctx, w, seq, problems);
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
        decl_hooks h = {.enrich_text = svc__enrich_text,
                        .indexed = svc__indexed,
                        .decorate = svc__decorate,
                        .gate = svc__gate,
                        .member = "assessment",
                        .ctx = r};
        decl_service_add_hooks(d, &h);
    } else if (!r->active) {
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
    if (r->book && --r->book->refs == 0)
        rev_book_free(r->book);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

bool rev_service_active(const rev_service *r)
{
    return r && r->active;
}
