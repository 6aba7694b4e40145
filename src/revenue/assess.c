/* The assessment of one declaration, as a pure function of the declaration,
 * the tariff book and two lookups (certificates, unit-value statistics).
 *
 * Per item, in this order, each from the rounded amounts before it:
 *   customs value = value × rate
 *   duty          = by duty type (ad valorem on the customs value, specific
 *                   on net mass for KGM or quantity in the line's unit)
 *   excise        = (customs value + duty) × excise_pct / 100
 *   VAT           = (customs value + duty + excise) × vat_pct / 100
 * each rounded half away from zero to the national currency's minor unit;
 * totals are sums of the rounded item amounts. */
#include "revenue_int.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREF_MAX 32

typedef struct {
    const rev_book *b;
    const rev_lookups *lk;
    const char *national, *date, *decl_id, *exporter;
    int exp;
    rev_result *res;
} assess_ctx;

/* A problem: its message as a__problem always cut it (at 255 bytes); the
 * tree's writer hands it to cx_problem_add as "%s". */
static void a__problemv(rev_result *r, const char *path, const char *fmt, va_list ap)
{
    if (r->np == r->capp) {
        size_t cap = r->capp ? r->capp * 2 : 2;
        rev_problem *v = realloc(r->p, cap * sizeof *v);
        if (!v) {
            r->nomem = true;
            return;
        }
        r->p = v;
        r->capp = cap;
    }
    rev_problem *p = &r->p[r->np++];
    snprintf(p->path, sizeof p->path, "%s", path);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
}

static void a__global(rev_result *r, const char *path, const char *fmt, ...) CX_PRINTF(3, 4);
static void a__global(rev_result *r, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    a__problemv(r, path, fmt, ap);
    va_end(ap);
}

static rev_finding *a__finding(rev_result *r)
{
    if (r->nf == r->capf) {
        size_t cap = r->capf ? r->capf * 2 : 1; /* 528 bytes: under malloc's 1 KiB */
        rev_finding *v = realloc(r->f, cap * sizeof *v);
        if (!v) {
            r->nomem = true;
            return NULL;
        }
        r->f = v;
        r->capf = cap;
    }
    rev_finding *f = &r->f[r->nf++];
    memset(f, 0, sizeof *f);
    return f;
}

static void a__problem(assess_ctx *a, size_t item, const char *member, const char *fmt, ...)
    CX_PRINTF(4, 5);

static void a__problem(assess_ctx *a, size_t item, const char *member, const char *fmt, ...)
{
    char path[64] = "";
    if (member) {
        cx_jptr_push(path, sizeof path, "items");
        cx_jptr_index(path, sizeof path, item);
        cx_jptr_push(path, sizeof path, member);
    }
    va_list ap;
    va_start(ap, fmt);
    a__problemv(a->res, path, fmt, ap);
    va_end(ap);
}

static const char *a__str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A number member of an item as a decimal, from its text when known. */
static bool a__dec(const json_t *item, const char *k, const rev_lexeme *lx, rev_dec *out)
{
    const json_t *j = json_object_get(item, k);
    if (!json_is_number(j))
        return false;
    int slot = rev__lex_member(k);
    const char *at = lx && slot >= 0 ? lx->at[slot] : NULL;
    return rev_dec_from_json(j, at, at ? lx->len[slot] : 0, out);
}

json_t *rev__line_json(const rev_tariff_line *l)
{
    json_t *o = json_object();
    json_object_set_new(o, "hs_code", json_string(l->hs_code));
    json_object_set_new(o, "valid_from", json_string(l->valid_from));
    json_object_set_new(o, "valid_to", l->valid_to[0] ? json_string(l->valid_to) : json_null());
    json_object_set_new(o, "duty_type", json_string(rev_duty_type_name(l->duty_type)));
    json_object_set_new(o, "ad_valorem_pct",
                        l->has_ad_valorem ? rev_dec_json(l->ad_valorem_pct) : json_null());
    json_object_set_new(o, "specific_amount",
                        l->has_specific ? rev_dec_json(l->specific_amount) : json_null());
    json_object_set_new(o, "specific_unit",
                        l->has_specific ? json_string(l->specific_unit) : json_null());
    json_object_set_new(o, "excise_pct", rev_dec_json(l->excise_pct));
    json_object_set_new(o, "vat_pct", rev_dec_json(l->vat_pct));
    return o;
}

/* ---- duties ------------------------------------------------------------------------- */

/* What the duty of an item depends on besides its customs value. */
typedef struct {
    const rev_tariff_line *line;
    rev_dec adv;       /* the ad valorem rate applied (preference or line) */
    bool has_qty;      /* the quantity the specific part needs */
    rev_dec qty;
    bool transmission; /* an electronic transmission: no customs duty */
} duty_basis;

/* Duty, excise and VAT of a customs value; CX_ETOOBIG past the cap. */
static cx_err a__taxes(const duty_basis *d, int64_t cv, int exp, int64_t *duty, int64_t *excise,
                       int64_t *vat)
{
    const rev_tariff_line *l = d->line;
    cx_err e = CX_OK;
    if (d->transmission) {
        *duty = 0; /* the WTO moratorium on customs duties on electronic transmissions */
    } else {
        rev_x adv = l->has_ad_valorem ? rev_x_pct(cv, exp, d->adv) : rev_x_amount(0, exp);
        rev_x spec = l->has_specific ? rev_x_mul(l->specific_amount, d->qty) : rev_x_amount(0, exp);
        rev_x x;
        switch (l->duty_type) {
        case REV_DUTY_AD_VALOREM: x = adv; break;
        case REV_DUTY_SPECIFIC: x = spec; break;
        case REV_DUTY_COMPOUND: x = rev_x_add(adv, spec); break;
        case REV_DUTY_MAX_OF: x = rev_x_cmp(adv, spec) >= 0 ? adv : spec; break;
        default: x = rev_x_cmp(adv, spec) <= 0 ? adv : spec; break;
        }
        e = rev_x_round(x, exp, duty);
    }
    if (e == CX_OK)
        e = rev_pct(cv + *duty, l->excise_pct, excise);
    if (e == CX_OK)
        e = rev_pct(cv + *duty + *excise, l->vat_pct, vat);
    return e;
}

/* The quantity a specific duty is levied on: net mass for KGM, else the
 * item's quantity in the line's unit. */
static bool a__quantity(assess_ctx *a, size_t i, const json_t *item, const rev_lexeme *lx,
                        const rev_tariff_line *l, duty_basis *d)
{
    if (!l->has_specific)
        return true;
    char hs[16];
    rev_hs_dotted(l->hs_code, hs);
    if (strcmp(l->specific_unit, "KGM") == 0) {
        d->has_qty = a__dec(item, "net_mass_kg", lx, &d->qty);
        if (!d->has_qty)
            a__problem(a, i, "net_mass_kg", "cannot be read as an exact decimal (at most 18 "
                                            "digits)");
        return d->has_qty;
    }
    const char *unit = a__str(item, "unit");
    if (!json_object_get(item, "quantity") || !unit) {
        a__problem(a, i, "quantity", "tariff line %s levies a specific duty per %s: the item "
                                     "needs quantity and unit %s",
                   hs, l->specific_unit, l->specific_unit);
        return false;
    }
    if (strcmp(unit, l->specific_unit) != 0) {
        a__problem(a, i, "unit", "is %s, but tariff line %s levies its specific duty per %s",
                   unit, hs, l->specific_unit);
        return false;
    }
    d->has_qty = a__dec(item, "quantity", lx, &d->qty);
    if (!d->has_qty)
        a__problem(a, i, "quantity", "cannot be read as an exact decimal (at most 18 digits)");
    return d->has_qty;
}

/* ---- preferences ------------------------------------------------------------------------ */
typedef struct {
    const rev_preference *p[PREF_MAX];
    size_t n;
} pref_list;

static bool a__pref_collect(void *ctx, const rev_preference *p)
{
    pref_list *l = ctx;
    if (l->n < PREF_MAX)
        l->p[l->n++] = p;
    return l->n < PREF_MAX;
}

static int a__pref_order(const void *x, const void *y)
{
    const rev_preference *a = *(const rev_preference *const *)x;
    const rev_preference *b = *(const rev_preference *const *)y;
    int c = rev_dec_cmp(a->ad_valorem_pct, b->ad_valorem_pct);
    if (c)
        return c; /* the lowest rate first: the trader's best claim */
    return (int)strlen(b->hs_code) - (int)strlen(a->hs_code);
}

static void a__pref_set(rev_pref_res *o, const rev_preference *p, bool applied,
                        const rev_certificate *cert, const char *reason)
{
    o->p = p;
    o->applied = applied;
    o->has_cert = cert != NULL;
    if (cert)
        o->cert = *cert;
    snprintf(o->reason, sizeof o->reason, "%s", reason);
}

/* Chooses the preference for an item: the lowest rate whose conditions hold
 * (a certificate on the ledger when required). Sets d->adv when one applies;
 * fills the "preference" member (p NULL when none exists for the origin). */
static void a__preference(assess_ctx *a, const char *hs, const char *origin, duty_basis *d,
                          rev_pref_res *out)
{
    pref_list l = {.n = 0};
    rev_book_preferences(a->b, hs, origin, a->date, a__pref_collect, &l);
    if (!l.n)
        return;
    qsort(l.p, l.n, sizeof *l.p, a__pref_order);
    const rev_tariff_line *line = d->line;
    char reason[320], line_hs[16], pct[32], gen[32];
    rev_hs_dotted(line->hs_code, line_hs);
    const rev_preference *best = l.p[0];
    if (d->transmission) { /* no duty to reduce: no certificate is looked up either */
        a__pref_set(out, best, false, NULL, "an electronic transmission bears no customs "
                                            "duty (WTO moratorium): no preference is needed");
        return;
    }
    if (!line->has_ad_valorem) {
        snprintf(reason, sizeof reason, "tariff line %s is a specific duty: a preference "
                                        "replaces only the ad valorem part",
                 line_hs);
        a__pref_set(out, best, false, NULL, reason);
        return;
    }
    if (rev_dec_cmp(best->ad_valorem_pct, line->ad_valorem_pct) >= 0) {
        rev_dec_format(best->ad_valorem_pct, pct);
        rev_dec_format(line->ad_valorem_pct, gen);
        snprintf(reason, sizeof reason,
                 "the general rate of tariff line %s (%s %%) is not above the preferential "
                 "rate (%s %%)",
                 line_hs, gen, pct);
        a__pref_set(out, best, false, NULL, reason);
        return;
    }
    const char *why = NULL;
    for (size_t k = 0; k < l.n; k++) {
        const rev_preference *p = l.p[k];
        if (rev_dec_cmp(p->ad_valorem_pct, line->ad_valorem_pct) >= 0)
            break;
        if (!p->requires_certificate) {
            d->adv = p->ad_valorem_pct;
            snprintf(reason, sizeof reason, "preferential rate for origin %s%s%s; no "
                                            "certificate required",
                     origin, strcmp(p->origin, origin) ? " in " : "",
                     strcmp(p->origin, origin) ? p->origin : "");
            a__pref_set(out, p, true, NULL, reason);
            return;
        }
        rev_certificate cert = {.index = -1};
        rev_cert_query q = {a->decl_id, a->exporter, origin, hs, a->date};
        if (!a->exporter) {
            why = "the declaration names no exporter_id, so no certificate of origin can be "
                  "matched";
        } else if (a->lk && a->lk->certificate && a->lk->certificate(a->lk->cert_ctx, &q, &cert)) {
            d->adv = p->ad_valorem_pct;
            snprintf(reason, sizeof reason,
                     "certificate of origin %s/%s on the ledger proves origin %s", cert.issuer,
                     cert.number, origin);
            a__pref_set(out, p, true, &cert, reason);
            return;
        } else if (!why) {
            why = "no valid (issued, not revoked) certificate of origin on the ledger for this "
                  "exporter, origin and HS code names this declaration (its anchor's "
                  "certificates, or a coo.issue naming it)";
        }
    }
    rev_dec_format(line->ad_valorem_pct, gen);
    snprintf(reason, sizeof reason, "%s: the general rate (%s %%) applies", why ? why : "", gen);
    a__pref_set(out, best, false, NULL, reason);
}

/* ---- the self-assessment check ------------------------------------------------------------ */

/* The duty the tariff puts on an item, as a rate: the applied ad valorem
 * rate for ad valorem lines, else duty / customs value (2 decimals). */
static rev_dec a__tariff_rate(const duty_basis *d, int64_t cv, int64_t duty)
{
    if (d->transmission) {
        rev_dec z = {0, 0};
        return z;
    }
    if (d->line->duty_type == REV_DUTY_AD_VALOREM)
        return d->adv;
    rev_dec r = {0, 2};
    if (cv > 0) {
        rev_i128 num = (rev_i128)duty * 10000;
        rev_i128 q = num / cv, rem = num % cv;
        if (rem * 2 >= cv)
            q++;
        r.coef = (int64_t)q;
    }
    return r;
}

static void a__self_assessment(assess_ctx *a, size_t i, const json_t *item,
                               const rev_lexeme *lx, const duty_basis *d, int64_t cv,
                               int64_t duty)
{
    rev_dec declared;
    if (!json_object_get(item, "tax_rate") || !a__dec(item, "tax_rate", lx, &declared))
        return;
    rev_dec tariff = a__tariff_rate(d, cv, duty);
    if (rev_dec_cmp(declared, tariff) == 0)
        return;
    int64_t declared_duty = 0;
    if (rev_pct(cv, declared, &declared_duty) != CX_OK)
        return;
    int64_t diff = duty - declared_duty;
    char dp[32], tp[32], hs[16], amount[40], msg[256];
    rev_dec_format(declared, dp);
    rev_dec_format(tariff, tp);
    rev_hs_dotted(d->line->hs_code, hs);
    rev_amount_format(diff < 0 ? -diff : diff, a->exp, true, amount);
    if (d->transmission)
        snprintf(msg, sizeof msg, "declared %s %% duty, but an electronic transmission bears no "
                 "customs duty (WTO moratorium): %s %s over", dp, amount, a->national);
    else
        snprintf(msg, sizeof msg, "declared %s %% duty, tariff line %s says %s %%: %s %s %s", dp,
                 hs, tp, amount, a->national, diff >= 0 ? "short" : "over");
    rev_finding *f = a__finding(a->res);
    if (!f)
        return;
    f->rule = REV_F_SELF_ASSESSMENT;
    f->item = i;
    cx_jptr_push(f->path, sizeof f->path, "items");
    cx_jptr_index(f->path, sizeof f->path, i);
    cx_jptr_push(f->path, sizeof f->path, "tax_rate");
    snprintf(f->message, sizeof f->message, "%s", msg);
    f->declared = declared;
    /* the trader's rate as written when it has more digits than a double keeps */
    if (!rev_dec_storable(declared))
        snprintf(f->declared_text, sizeof f->declared_text, "%s", dp);
    f->tariff = tariff;
    f->shortfall = diff;
}

/* ---- valuation control ---------------------------------------------------------------------- */

/* Appends n bytes of s to out[0..*k), at most up to cap. */
static void a__key_put(char *out, size_t *k, size_t cap, const char *s, size_t n)
{
    if (n > cap - *k)
        n = cap - *k;
    memcpy(out + *k, s, n);
    *k += n;
}

void rev_uv_key(char *out, int level, const char *hs, const char *origin, const char *unit)
{
    /* snprintf(out, REV_UV_KEY_MAX, "%d:%.*s:%s:%s", level, level, hs, origin,
     * unit), the same bytes written by hand: every item of a submission
     * makes up to four keys, and two more for its record */
    size_t k = 0, cap = REV_UV_KEY_MAX - 1;
    char num[16], *end = num + sizeof num, *p = end;
    unsigned u = level < 0 ? 0u - (unsigned)level : (unsigned)level;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (level < 0)
        *--p = '-';
    a__key_put(out, &k, cap, p, (size_t)(end - p));
    a__key_put(out, &k, cap, ":", 1);
    /* a negative precision is no precision */
    a__key_put(out, &k, cap, hs, level < 0 ? strlen(hs) : strnlen(hs, (size_t)level));
    a__key_put(out, &k, cap, ":", 1);
    a__key_put(out, &k, cap, origin, strlen(origin));
    a__key_put(out, &k, cap, ":", 1);
    a__key_put(out, &k, cap, unit, strlen(unit));
    out[k] = '\0';
}

/* The statistics to compare with: HS-6 and origin, else HS-4 and origin,
 * when at least REV_UV_MIN_N earlier declarations are there. */
static int a__uv_stats(assess_ctx *a, const char *hs, const char *origin, const char *unit,
                       rev_uv_stats *st)
{
    char key[REV_UV_KEY_MAX];
    for (int level = 6; level >= 4; level -= 2) {
        rev_uv_key(key, level, hs, origin, unit);
        if (a->lk->unit_values(a->lk->uv_ctx, key, st) && st->n >= REV_UV_MIN_N)
            return level;
    }
    return 0;
}

/* A statistic as a decimal of 6 significant digits (it is an estimate). */
static rev_dec a__estimate(double v)
{
    char t[40];
    rev_dec d = {0, 0};
    snprintf(t, sizeof t, "%.6g", v);
    if (strchr(t, 'e') || !rev_dec_parse(t, strlen(t), &d)) {
        snprintf(t, sizeof t, "%.*f", REV_MAX_SCALE, v);
        if (!rev_dec_parse(t, strlen(t), &d))
            d.coef = 0, d.scale = 0;
    }
    return d;
}

/* 10^k as pow(10, k) gives it: exact, from a table up to 10^22 (every one
 * a double), pow beyond. */
static double a__p10(int k)
{
    static const double t[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    return k >= 0 && k < (int)(sizeof t / sizeof *t) ? t[k] : pow(10, k);
}

static void a__valuation(assess_ctx *a, size_t i, const json_t *item, const rev_lexeme *lx,
                         const duty_basis *d, int64_t cv, int64_t taxes)
{
    if (!a->lk || !a->lk->unit_values)
        return;
    const char *hs = a__str(item, "hs_code"), *origin = a__str(item, "country_of_origin");
    const char *unit = a__str(item, "unit");
    double value = (double)cv / a__p10(a->exp);
    struct {
        const char *basis, *member;
    } measures[2] = {{"KGM", "net_mass_kg"}, {unit, "quantity"}};
    int64_t best_risk = 0;
    bool found = false;
    rev_finding best;
    for (int m = 0; m < 2; m++) {
        rev_dec amount;
        if (!measures[m].basis || (m == 1 && strcmp(measures[m].basis, "KGM") == 0) ||
            !a__dec(item, measures[m].member, lx, &amount) || amount.coef <= 0)
            continue;
        double qty = (double)amount.coef / a__p10(amount.scale), uv = value / qty;
        rev_uv_stats st;
        int level = a__uv_stats(a, hs, origin, measures[m].basis, &st);
        if (!level || !(uv < st.p05))
            continue;
        rev_dec median = a__estimate(st.median);
        int64_t expected, duty2, excise2, vat2;
        if (rev_mul(median, amount, a->exp, &expected) != CX_OK || expected <= cv ||
            a__taxes(d, expected, a->exp, &duty2, &excise2, &vat2) != CX_OK)
            continue;
        int64_t risk = duty2 + excise2 + vat2 - taxes;
        if (found && risk <= best_risk)
            continue;
        char uvs[40], meds[40], rs[40], hsd[16];
        rev_amount_format(llround(uv * a__p10(a->exp)), a->exp, true, uvs);
        rev_amount_format(llround(st.median * a__p10(a->exp)), a->exp, true, meds);
        rev_amount_format(risk, a->exp, true, rs);
        char code[8];
        snprintf(code, sizeof code, "%.*s", level, hs);
        rev_hs_dotted(code, hsd);
        memset(&best, 0, sizeof best);
        snprintf(best.message, sizeof best.message,
                 "unit value %s %s per %s is below the 5th percentile of %lld earlier "
                 "declarations of %s from %s (median %s): estimated revenue at risk %s %s",
                 uvs, a->national, measures[m].basis, (long long)st.n, hsd, origin, meds, rs,
                 a->national);
        cx_jptr_push(best.path, sizeof best.path, "items");
        cx_jptr_index(best.path, sizeof best.path, i);
        cx_jptr_push(best.path, sizeof best.path, "value");
        best.rule = REV_F_UNDERVALUATION;
        best.item = i;
        best.basis = measures[m].basis;
        best.level = level;
        best.n = st.n;
        best.median = median;
        best.expected = expected;
        best.at_risk = risk;
        best_risk = risk;
        found = true;
    }
    rev_finding *f = found ? a__finding(a->res) : NULL;
    if (f) {
        *f = best;
        a->res->at_risk += best_risk;
    }
}

/* ---- one item --------------------------------------------------------------------------------- */
static void a__item(assess_ctx *a, size_t i, const json_t *item, const rev_lexeme *lx,
                    rev_item_res *o)
{
    const char *hs = a__str(item, "hs_code"), *origin = a__str(item, "country_of_origin");
    const char *currency = a__str(item, "currency");
    if (!hs || !origin || !currency) {
        a__problem(a, i, "hs_code", "the item is not a validated declaration item");
        o->empty = true;
        return;
    }
    o->hs = hs;
    bool transmission = json_is_true(json_object_get(item, "transmission"));
    o->transmission = transmission;
    /* customs value in national currency */
    rev_dec value, one = {1, 0};
    const rev_rate *rate = NULL;
    bool have_cv = a__dec(item, "value", lx, &value);
    if (!have_cv)
        a__problem(a, i, "value", "cannot be read as an exact decimal (at most 18 digits)");
    if (strcmp(currency, a->national) != 0) {
        rate = rev_book_rate(a->b, currency, a->date);
        if (!rate) {
            a__problem(a, i, "currency", "no exchange rate for %s on or before %s", currency,
                       a->date);
            have_cv = false;
        }
    }
    int64_t cv = 0;
    if (have_cv && rev_mul(value, rate ? rate->rate : one, a->exp, &cv) != CX_OK) {
        a__problem(a, i, "value", "the customs value is too large to assess");
        have_cv = false;
    }
    const rev_tariff_line *line = rev_book_line(a->b, hs, a->date);
    if (!line)
        a__problem(a, i, "hs_code", "no tariff line for %s valid on %s", hs, a->date);
    duty_basis d = {.line = line, .transmission = transmission};
    if (line) {
        d.adv = line->ad_valorem_pct;
        a__preference(a, hs, origin, &d, &o->pref);
    }
    /* a transmission's duty is 0 whatever the line levies it on */
    bool ok = have_cv && line && (transmission || a__quantity(a, i, item, lx, line, &d));
    int64_t duty = 0, excise = 0, vat = 0;
    if (ok && a__taxes(&d, cv, a->exp, &duty, &excise, &vat) != CX_OK) {
        a__problem(a, i, "value", "the duty or taxes are too large to assess");
        ok = false;
    }
    o->line = line;
    o->ref = line && a->lk && a->lk->line_ref ? a->lk->line_ref(a->lk->line_ctx, line) : 0;
    o->rate = rate;
    o->have_cv = have_cv;
    o->cv = cv;
    o->ok = ok;
    o->duty = duty;
    o->excise = excise;
    o->vat = vat;
    if (ok) {
        a->res->duty += duty;
        a->res->excise += excise;
        a->res->vat += vat;
        a__self_assessment(a, i, item, lx, &d, cv, duty);
        /* a design's licence value says nothing about the unit value of the
         * printed article: transmissions are not compared with it */
        if (!transmission)
            a__valuation(a, i, item, lx, &d, cv, duty + excise + vat);
    }
}

cx_err rev__assess_run(const rev_book *b, const json_t *doc, const char *text, size_t len,
                       const rev_lookups *lk, rev_result *res)
{
    memset(res, 0, offsetof(rev_result, few));
    assess_ctx a = {.b = b, .lk = lk, .national = rev_book_currency(b), .res = res};
    res->national = a.national;
    a.exp = rev_minor_unit(a.national);
    res->exp = a.exp;
    a.date = a__str(doc, "date");
    res->date = a.date;
    a.decl_id = a__str(doc, "id");
    a.exporter = a__str(doc, "exporter_id");
    const json_t *jitems = json_object_get(doc, "items");
    size_t n = json_array_size(jitems);
    if (a.exp < 0 || !a.date) {
        a__global(res, "", "%s", a.exp < 0 ? "no national currency with a minor unit is "
                                             "set (customs serve --currency CODE)"
                                           : "the declaration has no date");
        n = 0;
    }
    res->items = n > REV_ITEMS_FEW ? calloc(n, sizeof *res->items) : n ? res->few : NULL;
    if (res->items == res->few)
        memset(res->few, 0, n * sizeof *res->few);
    rev_lexeme *lx = n ? calloc(n, sizeof *lx) : NULL;
    if (n && (!res->items || !lx)) {
        free(lx);
        rev__result_free(res);
        return CX_ENOMEM;
    }
    res->n = n;
    bool exact = lx && rev__lexemes(doc, text, len, lx, n);
    for (size_t i = 0; i < n; i++)
        a__item(&a, i, json_array_get(jitems, i), exact ? &lx[i] : NULL, &res->items[i]);
    free(lx);
    res->total = res->duty + res->excise + res->vat;
    if (res->total >= REV_AMOUNT_MAX) {
        a__global(res, "/items", "the total is too large to assess");
        res->duty = res->excise = res->vat = res->total = 0;
    }
    if (res->nomem) {
        rev__result_free(res);
        return CX_ENOMEM;
    }
    return CX_OK;
}

void rev__result_free(rev_result *res)
{
    if (res->items != res->few)
        free(res->items);
    free(res->f);
    free(res->p);
    memset(res, 0, offsetof(rev_result, few));
}

json_t *rev_assess(const rev_book *b, const json_t *doc, const char *text, size_t len,
                   const rev_lookups *lk, rev_summary_row *row)
{
    rev_result res;
    if (rev__assess_run(b, doc, text, len, lk, &res) != CX_OK)
        return NULL;
    json_t *out = rev__result_json(&res);
    if (out && row) {
        row->exp = res.exp < 0 ? 0 : res.exp;
        row->duty = res.duty;
        row->excise = res.excise;
        row->vat = res.vat;
        row->total = res.total;
        row->at_risk = res.at_risk;
        row->problems = json_array_size(json_object_get(out, "problems"));
        row->findings = json_array_size(json_object_get(out, "findings"));
    }
    rev__result_free(&res);
    return out;
}
