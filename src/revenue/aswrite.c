/* An assessment's result (assess.c: rev__assess_run, the one computation
 * of the rules) written two ways:
 *
 * - as the `assessment` tree (rev__result_json): what re-assessments, the
 *   ledger's checks, the API's assess call and the tests read;
 * - straight as what a submission keeps (rev__result_texts): the stored
 *   member, the trader's form, the derivation record — no tree built,
 *   walked twice and freed on the submitting thread. The member's texts
 *   are stored compact (compact.c says the form and expands them on every
 *   read); expanded, and in full form (rev__result_full_texts), the bytes
 *   are those the tree path writes (rev__member_texts of the tree,
 *   rev__record_text of rev__row_of's row): test_revenue_texts compares
 *   them on many assessments. A string this writer would spell otherwise than jansson
 *   (a control character, invalid UTF-8, which jansson drops) makes it
 *   give up (CX_EINVAL): the caller writes the tree instead.
 *
 * Numbers: amounts are the integers in minor units, written as the decimal
 * they are; a decimal that is not whole is a real in the tree, which
 * jansson writes with "%.15g": with at most 15 significant digits and at
 * least 1e-4 that is the decimal without trailing zeros, and anything
 * else goes through the double exactly as the tree does. */
#include "revenue_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tree ------------------------------------------------------------------------- */
static json_t *w__pref_json(const rev_pref_res *p)
{
    if (!p->p)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "origin", json_string(p->p->origin));
    json_object_set_new(o, "applied", json_boolean(p->applied));
    json_object_set_new(o, "ad_valorem_pct", rev_dec_json(p->p->ad_valorem_pct));
    json_object_set_new(o, "certificate",
                        p->has_cert ? json_pack("{s:s,s:s,s:I}", "issuer", p->cert.issuer,
                                                "number", p->cert.number, "index",
                                                (json_int_t)p->cert.index)
                                    : json_null());
    json_object_set_new(o, "reason", json_string(p->reason));
    return o;
}

static json_t *w__item_json(const rev_item_res *r, int exp)
{
    json_t *o = json_object();
    if (r->empty)
        return o;
    json_object_set_new(o, "hs_code", json_string(r->hs));
    json_object_set_new(o, "tariff_line", r->ref > 0 ? json_integer(r->ref)
                                          : r->line  ? rev__line_json(r->line)
                                                     : json_null());
    json_object_set_new(o, "exchange_rate",
                        r->rate ? json_pack("{s:s,s:o,s:s}", "currency", r->rate->currency,
                                            "rate", rev_dec_json(r->rate->rate), "date",
                                            r->rate->date)
                                : json_null());
    json_object_set_new(o, "customs_value", r->have_cv ? rev_amount_json(r->cv, exp) : json_null());
    json_object_set_new(o, "duty", r->ok ? rev_amount_json(r->duty, exp) : json_null());
    json_object_set_new(o, "excise", r->ok ? rev_amount_json(r->excise, exp) : json_null());
    json_object_set_new(o, "vat", r->ok ? rev_amount_json(r->vat, exp) : json_null());
    json_object_set_new(o, "preference", w__pref_json(&r->pref));
    if (r->transmission) {
        json_object_set_new(o, "transmission", json_true());
        json_object_set_new(o, "duty_rule", json_string("wto_moratorium"));
    }
    return o;
}

static json_t *w__finding_json(const rev_finding *f, int exp)
{
    json_t *o = json_object();
    bool self = f->rule == REV_F_SELF_ASSESSMENT;
    json_object_set_new(o, "rule", json_string(self ? "self_assessment" : "undervaluation"));
    json_object_set_new(o, "path", json_string(f->path));
    json_object_set_new(o, "message", json_string(f->message));
    if (self) {
        json_object_set_new(o, "declared_pct", f->declared_text[0]
                                                   ? json_string(f->declared_text)
                                                   : rev_dec_json(f->declared));
        json_object_set_new(o, "tariff_pct", rev_dec_json(f->tariff));
        json_object_set_new(o, "shortfall", rev_amount_json(f->shortfall, exp));
        return o;
    }
    json_object_set_new(o, "basis", json_string(f->basis));
    json_object_set_new(o, "level", json_integer(f->level));
    json_object_set_new(o, "n", json_integer(f->n));
    json_object_set_new(o, "median_unit_value", rev_dec_json(f->median));
    json_object_set_new(o, "expected_value", rev_amount_json(f->expected, exp));
    json_object_set_new(o, "revenue_at_risk", rev_amount_json(f->at_risk, exp));
    return o;
}

json_t *rev__result_json(const rev_result *res)
{
    json_t *out = json_object(), *items = json_array(), *findings = json_array(),
           *problems = json_array();
    cx_err e = CX_OK; /* an item or finding that would not build: no assessment */
    for (size_t i = 0; items && i < res->n; i++)
        cx_json_push(items, w__item_json(&res->items[i], res->exp), &e);
    for (size_t i = 0; findings && i < res->nf; i++)
        cx_json_push(findings, w__finding_json(&res->f[i], res->exp), &e);
    if (!out || !items || !findings || !problems || e != CX_OK) {
        json_decref(out);
        json_decref(items);
        json_decref(findings);
        json_decref(problems);
        return NULL;
    }
    int exp = res->exp < 0 ? 0 : res->exp;
    for (size_t i = 0; i < res->np; i++)
        cx_problem_add(problems, res->p[i].path, "%s", res->p[i].message);
    json_object_set_new(out, "currency", json_string(res->national));
    json_object_set_new(out, "date", res->date ? json_string(res->date) : json_null());
    json_object_set_new(out, "items", items);
    json_object_set_new(out, "total_duty", rev_amount_json(res->duty, exp));
    json_object_set_new(out, "total_excise", rev_amount_json(res->excise, exp));
    json_object_set_new(out, "total_vat", rev_amount_json(res->vat, exp));
    json_object_set_new(out, "total", rev_amount_json(res->total, exp));
    json_object_set_new(out, "revenue_at_risk", rev_amount_json(res->at_risk, exp));
    json_object_set_new(out, "findings", findings);
    json_object_set_new(out, "problems", problems);
    return out;
}

json_t *rev__finding_reason(const rev_finding *f)
{
    bool under = f->rule == REV_F_UNDERVALUATION;
    /* risk reasons reach the trader: an undervaluation says where to look,
     * never the statistics of other traders' prices */
    /* built member by member: json_pack parses its format on every call */
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (json_object_set_new(o, "feature",
                            json_string(under ? "revenue.undervaluation"
                                              : "revenue.self_assessment")) != 0 ||
        json_object_set_new(o, "contribution", json_integer(1)) != 0 ||
        json_object_set_new(o, "detail",
                            json_string(under ? "the declared value is low against earlier "
                                                "declarations of the same goods and origin "
                                                "(valuation control)"
                                              : f->message)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- the texts ------------------------------------------------------------------------ */
typedef struct {
    cx_buf b;
    cx_err e;
} w_out;

static void w__puts(w_out *o, const char *s)
{
    if (o->e == CX_OK)
        o->e = cx_buf_puts(&o->b, s);
}

/* A string as jansson writes it, or CX_EINVAL where cx_buf_json_str would
 * write it otherwise or refuse it (invalid UTF-8). */
static void w__str(w_out *o, const char *s)
{
    if (o->e == CX_OK)
        o->e = rev__json_plain(s) ? cx_buf_json_str(&o->b, s) : CX_EINVAL;
}

/* u's decimal digits, ending at end; returns where they start. */
static char *w__digits(char *end, uint64_t u)
{
    do
        *--end = (char)('0' + u % 10);
    while (u /= 10);
    return end;
}

static void w__int(w_out *o, int64_t v)
{
    if (o->e == CX_OK)
        o->e = rev__json_int(&o->b, v);
}

/* rev_dec_json's value as jansson writes it. */
static void w__dec(w_out *o, rev_dec d)
{
    if (o->e != CX_OK)
        return;
    uint64_t mag = d.coef < 0 ? 0 - (uint64_t)d.coef : (uint64_t)d.coef;
    int scale = d.scale;
    while (scale > 0 && mag % 10 == 0) /* the same number: whole, or fewer decimals */
        mag /= 10, scale--;
    char t[48], dg[24], *end = dg + sizeof dg;
    char *p = w__digits(end, mag);
    int n = (int)(end - p), k = 0;
    if (d.coef < 0 && mag)
        t[k++] = '-';
    if (scale == 0) { /* whole: an integer in the tree */
        memcpy(t + k, p, (size_t)n);
        o->e = cx_buf_append(&o->b, t, (size_t)(k + n));
        return;
    }
    /* a real: "%.15g" is the decimal itself with at most 15 significant
     * digits and at least 1e-4; otherwise it goes through the double */
    if (n > 15 || n - scale < -3) {
        char f[32];
        rev_dec_format(d, f);
        o->e = rev__json_real(&o->b, strtod(f, NULL));
        return;
    }
    if (n > scale) {
        memcpy(t + k, p, (size_t)(n - scale));
        k += n - scale;
        t[k++] = '.';
        memcpy(t + k, p + n - scale, (size_t)scale);
        k += scale;
    } else {
        t[k++] = '0';
        t[k++] = '.';
        for (int z = n; z < scale; z++)
            t[k++] = '0';
        memcpy(t + k, p, (size_t)n);
        k += n;
    }
    o->e = cx_buf_append(&o->b, t, (size_t)k);
}

static void w__amount(w_out *o, int64_t v, int exp)
{
    w__dec(o, rev_amount_dec(v, exp));
}

static void w__pref(w_out *o, const rev_pref_res *p)
{
    if (!p->p) {
        w__puts(o, "null");
        return;
    }
    w__puts(o, "{\"origin\":");
    w__str(o, p->p->origin);
    w__puts(o, p->applied ? ",\"applied\":true,\"ad_valorem_pct\":"
                          : ",\"applied\":false,\"ad_valorem_pct\":");
    w__dec(o, p->p->ad_valorem_pct);
    if (p->has_cert) {
        w__puts(o, ",\"certificate\":{\"issuer\":");
        w__str(o, p->cert.issuer);
        w__puts(o, ",\"number\":");
        w__str(o, p->cert.number);
        w__puts(o, ",\"index\":");
        w__int(o, p->cert.index);
        w__puts(o, "}");
    } else {
        w__puts(o, ",\"certificate\":null");
    }
    w__puts(o, ",\"reason\":");
    w__str(o, p->reason);
    w__puts(o, "}");
}

/* An item's tariff_line: its text's id, the line in full, or null. */
static void w__line(w_out *o, const rev_item_res *r)
{
    if (r->ref > 0) {
        w__int(o, r->ref);
    } else if (r->line) {
        char *t = rev__line_text(r->line);
        if (!t && o->e == CX_OK)
            o->e = CX_ENOMEM;
        w__puts(o, t ? t : "");
        free(t);
    } else {
        w__puts(o, "null");
    }
}

/* An item's customs value, duty, excise and VAT (null when not made),
 * each after its separator. */
static void w__amounts(w_out *o, const rev_item_res *r, int exp, const char *const sep[4])
{
    int64_t v[4] = {r->cv, r->duty, r->excise, r->vat};
    for (int i = 0; i < 4; i++) {
        w__puts(o, sep[i]);
        if (i ? r->ok : r->have_cv)
            w__amount(o, v[i], exp);
        else
            w__puts(o, "null");
    }
}

static void w__item(w_out *o, const rev_item_res *r, int exp)
{
    if (r->empty) {
        w__puts(o, "{}");
        return;
    }
    w__puts(o, "{\"hs_code\":");
    w__str(o, r->hs);
    w__puts(o, ",\"tariff_line\":");
    w__line(o, r);
    w__puts(o, ",\"exchange_rate\":");
    if (r->rate) {
        w__puts(o, "{\"currency\":");
        w__str(o, r->rate->currency);
        w__puts(o, ",\"rate\":");
        w__dec(o, r->rate->rate);
        w__puts(o, ",\"date\":");
        w__str(o, r->rate->date);
        w__puts(o, "}");
    } else {
        w__puts(o, "null");
    }
    static const char *const keys[4] = {",\"customs_value\":", ",\"duty\":", ",\"excise\":",
                                        ",\"vat\":"};
    w__amounts(o, r, exp, keys);
    w__puts(o, ",\"preference\":");
    w__pref(o, &r->pref);
    w__puts(o, r->transmission ? ",\"transmission\":true,\"duty_rule\":\"wto_moratorium\"}"
                               : "}");
}

static void w__finding(w_out *o, const rev_finding *f, int exp)
{
    bool self = f->rule == REV_F_SELF_ASSESSMENT;
    w__puts(o, self ? "{\"rule\":\"self_assessment\",\"path\":"
                    : "{\"rule\":\"undervaluation\",\"path\":");
    w__str(o, f->path);
    w__puts(o, ",\"message\":");
    w__str(o, f->message);
    if (self) {
        w__puts(o, ",\"declared_pct\":");
        if (f->declared_text[0])
            w__str(o, f->declared_text);
        else
            w__dec(o, f->declared);
        w__puts(o, ",\"tariff_pct\":");
        w__dec(o, f->tariff);
        w__puts(o, ",\"shortfall\":");
        w__amount(o, f->shortfall, exp);
        w__puts(o, "}");
        return;
    }
    w__puts(o, ",\"basis\":");
    w__str(o, f->basis);
    w__puts(o, ",\"level\":");
    w__int(o, f->level);
    w__puts(o, ",\"n\":");
    w__int(o, f->n);
    w__puts(o, ",\"median_unit_value\":");
    w__dec(o, f->median);
    w__puts(o, ",\"expected_value\":");
    w__amount(o, f->expected, exp);
    w__puts(o, ",\"revenue_at_risk\":");
    w__amount(o, f->at_risk, exp);
    w__puts(o, "}");
}

/* Both forms' findings (public: without the undervaluation ones, which
 * are customs' alone) and problems, each array's elements. */
static void w__findings(w_out *o, const rev_result *res, bool public)
{
    bool first = true;
    for (size_t i = 0; i < res->nf; i++) {
        if (public && res->f[i].rule == REV_F_UNDERVALUATION)
            continue;
        w__puts(o, first ? "" : ",");
        w__finding(o, &res->f[i], res->exp);
        first = false;
    }
}

static void w__problems(w_out *o, const rev_result *res)
{
    for (size_t i = 0; i < res->np; i++) {
        w__puts(o, "{\"path\":");
        w__str(o, res->p[i].path);
        w__puts(o, ",\"message\":");
        w__str(o, res->p[i].message);
        w__puts(o, i + 1 < res->np ? "}," : "}");
    }
}

/* The text written, or NULL with *err (the first error kept). */
static char *w__steal(w_out *o, cx_err *err)
{
    char *t = o->e == CX_OK ? cx_buf_steal(&o->b, NULL) : NULL;
    if (o->e == CX_OK && !t)
        o->e = CX_ENOMEM;
    cx_buf_free(&o->b);
    *err = o->e;
    return t;
}

/* The stored form (public: the trader's, without the undervaluation findings). */
static char *w__form(const rev_result *res, const char *at, bool public, cx_err *err)
{
    w_out o = {.e = CX_OK};
    cx_buf_init(&o.b, (size_t)64 << 20);
    int exp = res->exp < 0 ? 0 : res->exp;
    o.e = cx_buf_reserve(&o.b, 1024 + 512 * res->n);
    w__puts(&o, "{\"currency\":");
    w__str(&o, res->national);
    w__puts(&o, ",\"date\":");
    if (res->date)
        w__str(&o, res->date);
    else
        w__puts(&o, "null");
    w__puts(&o, ",\"items\":[");
    for (size_t i = 0; i < res->n; i++) {
        w__puts(&o, i ? "," : "");
        w__item(&o, &res->items[i], res->exp);
    }
    const char *k[4] = {"],\"total_duty\":", ",\"total_excise\":", ",\"total_vat\":",
                        ",\"total\":"};
    int64_t v[4] = {res->duty, res->excise, res->vat, res->total};
    for (int i = 0; i < 4; i++) {
        w__puts(&o, k[i]);
        w__amount(&o, v[i], exp);
    }
    w__puts(&o, ",\"findings\":[");
    w__findings(&o, res, public);
    w__puts(&o, "],\"problems\":[");
    w__problems(&o, res);
    w__puts(&o, "],\"version\":1,\"assessed_at\":");
    w__str(&o, at);
    w__puts(&o, "}");
    return w__steal(&o, err);
}

/* The compact stored form (compact.c reads it back): positional, the
 * items' exchange rates once each, the same lexemes and strings. */
static bool w__same_rate(const rev_rate *a, const rev_rate *b)
{
    return a == b || (strcmp(a->currency, b->currency) == 0 && strcmp(a->date, b->date) == 0 &&
                      a->rate.coef == b->rate.coef && a->rate.scale == b->rate.scale);
}

static void w__citem(w_out *o, const rev_item_res *r, int exp, size_t rate)
{
    if (r->empty) {
        w__puts(o, "[]");
        return;
    }
    w__puts(o, "[");
    w__str(o, r->hs);
    w__puts(o, ",");
    w__line(o, r);
    w__puts(o, ",");
    if (r->rate)
        w__int(o, (int64_t)rate);
    else
        w__puts(o, "null");
    static const char *const commas[4] = {",", ",", ",", ","};
    w__amounts(o, r, exp, commas);
    w__puts(o, ",");
    w__pref(o, &r->pref);
    w__puts(o, r->transmission ? ",1]" : "]");
}

static char *w__compact(const rev_result *res, const char *at, bool public, cx_err *err)
{
    w_out o = {.e = CX_OK};
    cx_buf_init(&o.b, (size_t)64 << 20);
    int exp = res->exp < 0 ? 0 : res->exp;
    o.e = cx_buf_reserve(&o.b, 512 + 160 * res->n);
    /* each item's index into the distinct rates, in order of first use */
    size_t *ri = res->n ? malloc(res->n * sizeof *ri) : NULL;
    if (res->n && !ri)
        o.e = CX_ENOMEM;
    w__puts(&o, "[\"rev2\",");
    w__str(&o, res->national);
    w__puts(&o, ",");
    if (res->date)
        w__str(&o, res->date);
    else
        w__puts(&o, "null");
    w__puts(&o, ",[");
    size_t nr = 0;
    for (size_t i = 0; o.e == CX_OK && i < res->n; i++) {
        const rev_rate *r = res->items[i].rate;
        if (res->items[i].empty || !r)
            continue;
        size_t j = 0;
        while (j < i && (res->items[j].empty || !res->items[j].rate ||
                         !w__same_rate(res->items[j].rate, r)))
            j++;
        if (j < i) {
            ri[i] = ri[j];
            continue;
        }
        ri[i] = nr;
        w__puts(&o, nr++ ? ",[" : "[");
        w__str(&o, r->currency);
        w__puts(&o, ",");
        w__dec(&o, r->rate);
        w__puts(&o, ",");
        w__str(&o, r->date);
        w__puts(&o, "]");
    }
    w__puts(&o, "],[");
    for (size_t i = 0; o.e == CX_OK && i < res->n; i++) {
        w__puts(&o, i ? "," : "");
        w__citem(&o, &res->items[i], res->exp, ri[i]);
    }
    free(ri);
    w__puts(&o, "]");
    int64_t v[4] = {res->duty, res->excise, res->vat, res->total};
    for (int i = 0; i < 4; i++) {
        w__puts(&o, ",");
        w__amount(&o, v[i], exp);
    }
    w__puts(&o, ",[");
    w__findings(&o, res, public);
    w__puts(&o, "],[");
    w__problems(&o, res);
    w__puts(&o, "],");
    w__str(&o, at);
    w__puts(&o, "]");
    return w__steal(&o, err);
}

/* snprintf(dst, cap, "%s", src) without printf's parse of its format (the
 * row's six strings were ~1 µs of a submission's assessment). */
static void w__copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The row rev__row_of makes of the tree, from the structs. */

static cx_err w__row(const rev_result *res, const json_t *doc, const char *at, rev_row *row)
{
    memset(row, 0, sizeof *row);
    w__copy(row->currency, sizeof row->currency, res->national ? res->national : "");
    row->version = 1;
    row->duty = res->duty;
    row->excise = res->excise;
    row->vat = res->vat;
    row->total = res->total;
    row->at_risk = res->at_risk;
    row->problems = (int64_t)res->np;
    w__copy(row->assessed_at, sizeof row->assessed_at, at);
    const char *s[4] = {"id", "org", "office", "date"};
    char *d[4] = {row->decl_id, row->org, row->office, row->date};
    size_t dn[4] = {sizeof row->decl_id, sizeof row->org, sizeof row->office, sizeof row->date};
    for (int i = 0; i < 4; i++) {
        const char *v = json_string_value(json_object_get(doc, s[i]));
        w__copy(d[i], dn[i], v ? v : "");
    }
    /* the items' unit values: the customs value as the tree's number (a
     * few items on the stack: no allocation on the submitting thread) */
    double cv_few[8];
    bool held_few[8] = {false};
    bool few = res->n <= 8;
    double *cv = few ? cv_few : calloc(res->n, sizeof *cv);
    bool *held = few ? held_few : calloc(res->n, sizeof *held);
    cx_err e = !cv || !held ? CX_ENOMEM : CX_OK;
    /* the tree's number: cv / 10^exp, both exact, correctly rounded (|cv| < 2^53) */
    static const double p10[] = {1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    for (size_t i = 0; e == CX_OK && i < res->n; i++) {
        const rev_item_res *it = &res->items[i];
        cv[i] = it->have_cv && res->exp >= 0 && res->exp <= 9 ? (double)it->cv / p10[res->exp]
                                                              : NAN;
    }
    for (size_t k = 0; e == CX_OK && k < res->nf; k++)
        if (res->f[k].rule == REV_F_UNDERVALUATION && res->f[k].item < res->n)
            held[res->f[k].item] = true;
    cx_buf obs;
    cx_buf_init(&obs, (size_t)1 << 20);
    /* level 6 only: the record drops the level-4 lines (rev__record_text) */
    e = e ? e : rev__obs_write(doc, cv, held, res->n, 6, &obs);
    if (!few) {
        free(cv);
        free(held);
    }
    row->obs = e == CX_OK ? cx_buf_steal(&obs, NULL) : NULL;
    cx_buf_free(&obs);
    if (e == CX_OK && !row->obs)
        row->obs = strdup("");
    if (e == CX_OK && !row->obs)
        e = CX_ENOMEM;
    size_t cap = 0;
    for (size_t i = 0; e == CX_OK && i < res->n; i++) {
        const rev_pref_res *p = &res->items[i].pref;
        if (!p->p || !p->has_cert)
            continue;
        if (row->ncerts == cap) {
            cap = cap ? cap * 2 : 4;
            rev_row_cert *v = realloc(row->certs, cap * sizeof *v);
            if (!v) {
                e = CX_ENOMEM;
                break;
            }
            row->certs = v;
        }
        rev_row_cert *c = &row->certs[row->ncerts++];
        w__copy(c->issuer, sizeof c->issuer, p->cert.issuer);
        w__copy(c->number, sizeof c->number, p->cert.number);
    }
    if (e != CX_OK)
        rev__row_free(row);
    return e;
}

static cx_err w__texts(const rev_result *res, const json_t *doc, const char *at, bool compact,
                       char **full, char **shown, char **record)
{
    *full = *shown = *record = NULL;
    cx_err e = CX_OK;
    char *(*form)(const rev_result *, const char *, bool, cx_err *) = compact ? w__compact
                                                                              : w__form;
    *full = form(res, at, false, &e);
    bool under = false;
    for (size_t i = 0; i < res->nf; i++)
        under = under || res->f[i].rule == REV_F_UNDERVALUATION;
    if (e == CX_OK && under)
        *shown = form(res, at, true, &e);
    rev_row row;
    if (e == CX_OK && (e = w__row(res, doc, at, &row)) == CX_OK) {
        *record = rev__record_text(&row);
        rev__row_free(&row);
        if (!*record)
            e = CX_ENOMEM;
    }
    if (e != CX_OK) {
        free(*full);
        free(*shown);
        free(*record);
        *full = *shown = *record = NULL;
    }
    return e;
}

cx_err rev__result_texts(const rev_result *res, const json_t *doc, const char *at,
                         char **full, char **shown, char **record)
{
    return w__texts(res, doc, at, true, full, shown, record);
}

cx_err rev__result_full_texts(const rev_result *res, const json_t *doc, const char *at,
                              char **full, char **shown, char **record)
{
    return w__texts(res, doc, at, false, full, shown, record);
}

cx_err rev__result_tree_texts(const rev_result *res, const json_t *doc, const char *at,
                              char **full, char **shown, char **record)
{
    *full = *shown = *record = NULL;
    json_t *a = rev__result_json(res);
    if (a) {
        json_object_set_new(a, "version", json_integer(1));
        json_object_set_new(a, "assessed_at", json_string(at));
    }
    cx_err e = a ? rev__member_texts(a, full, shown) : CX_ENOMEM;
    rev_row row;
    if (e == CX_OK && (e = rev__row_of(0, doc, a, &row)) == CX_OK) {
        *record = rev__record_text(&row);
        rev__row_free(&row);
        e = *record ? CX_OK : CX_ENOMEM;
    }
    json_decref(a);
    if (e != CX_OK) {
        free(*full);
        free(*shown);
        *full = *shown = NULL;
    }
    return e;
}

cx_err rev_assess_kept(const rev_book *b, const json_t *doc, const char *text, size_t len,
                       const rev_lookups *lk, const char *at, rev_kept_form form, char **full,
                       char **shown, char **record)
{
    *full = *shown = *record = NULL;
    rev_result res;
    cx_err e = rev__assess_run(b, doc, text, len, lk, &res);
    if (e != CX_OK)
        return e;
    e = form == REV_KEPT_TREE     ? rev__result_tree_texts(&res, doc, at, full, shown, record)
        : form == REV_KEPT_DIRECT ? rev__result_full_texts(&res, doc, at, full, shown, record)
                                  : rev__result_texts(&res, doc, at, full, shown, record);
    rev__result_free(&res);
    return e;
}
