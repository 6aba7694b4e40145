/* Reasons in plain words. SHAP contributions of related features are summed
 * into one reason (e.g. te_route and n_route are "route"), the reasons with
 * the largest effect come first, and each is written as a sentence from the
 * figures the features were computed from. */
#include "risk_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int features[5]; /* -1 terminated */
} family;

#define TE(k) (RF_TE_FIRST + 2 * (k)), (RF_TE_FIRST + 2 * (k) + 1)

static const family families[] = {
    {"same_declarations", {TE(RK_SAME), -1}},
    {"same_goods_value", {TE(RK_SAME_HS6_VALUE), -1}},
    {"route", {TE(RK_ROUTE), -1}},
    {"nearest_route", {RF_NEAR_FIRST, RF_NEAR_FIRST + 1, -1}},
    {"nearest_hs6", {RF_NEAR_FIRST + 2, RF_NEAR_FIRST + 3, -1}},
    {"hs6_origin", {TE(RK_HS6_ORIGIN), -1}},
    {"hs6", {TE(RK_HS6), -1}},
    {"hs4", {TE(RK_HS4), -1}},
    {"hs2", {TE(RK_HS2), -1}},
    {"unit_value", {RF_UNIT_VALUE_LOG, RF_UV_DEV_HS6, RF_UV_DEV_HS6_ORIGIN, -1}},
    {"value", {RF_VALUE_LOG, -1}},
    {"mass", {RF_MASS_LOG, -1}},
    {"tax_rate", {RF_TAX_RATE, -1}},
    {"importer", {TE(RK_IMPORTER), RF_HIST_FIRST, RF_HIST_FIRST + 1, -1}},
    {"declarant", {TE(RK_DECLARANT), RF_HIST_FIRST + 2, RF_HIST_FIRST + 3, -1}},
    {"seller", {TE(RK_SELLER), RF_SELLER_MISSING, -1}},
    {"office", {TE(RK_OFFICE), -1}},
    {"origin", {TE(RK_ORIGIN), -1}},
    {"departure", {TE(RK_DEPARTURE), -1}},
    {"origin_is_departure", {RF_ORIGIN_IS_DEPARTURE, -1}},
    {"country_unknown", {RF_COUNTRY_UNKNOWN, -1}},
    {"hs_unknown", {RF_HS_UNKNOWN, -1}},
    {"transport_mode", {RF_TRANSPORT_MODE, -1}},
    {"courier", {RF_COURIER_PRESENT, -1}},
};
#define NFAMILIES (sizeof families / sizeof families[0])

/* 1234567.8 -> "1,234,568"; small amounts keep two significant decimals. */
static void fmt_amount(double v, char *out, size_t cap)
{
    if (!isfinite(v)) {
        snprintf(out, cap, "?");
        return;
    }
    if (fabs(v) < 100) {
        snprintf(out, cap, "%.3g", v);
        return;
    }
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", fabs(v));
    size_t n = strlen(digits), o = 0;
    if (v < 0 && o + 1 < cap)
        out[o++] = '-';
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static void fmt_share(int64_t pos, int64_t n, char *out, size_t cap)
{
    if (n <= 0)
        snprintf(out, cap, "none inspected");
    else
        snprintf(out, cap, "%lld of %lld inspected were fraudulent (%.0f%%)", (long long)pos,
                 (long long)n, 100.0 * (double)pos / (double)n);
}

static void sentence_te(char *d, size_t cap, const char *what, const risk_feature_info *in,
                        int k)
{
    char share[96];
    fmt_share(in->pos[k], in->n[k], share, sizeof share);
    if (in->n[k] > 0)
        snprintf(d, cap, "%s: %s, against %.0f%% overall", what, share, 100 * in->prior);
    else
        snprintf(d, cap, "%s: no earlier inspected declaration", what);
}

static void sentence_near(char *d, size_t cap, const char *where, const risk_feature_info *in,
                          int w)
{
    if (in->near_n[w] == 0) {
        snprintf(d, cap, "no inspected declaration %s to compare value and mass with", where);
        return;
    }
    double pct = (exp(in->near_dist[w]) - 1) * 100;
    char close[64];
    if (in->near_dist[w] == 0)
        snprintf(close, sizeof close, "with exactly the same value and mass");
    else
        snprintf(close, sizeof close, "with value and mass within %.0f%%", pct < 1 ? 1 : pct);
    if (in->near_n[w] == 1)
        snprintf(d, cap, "the most similar inspected declaration %s (%s) was %s", where, close,
                 in->near_pos[w] ? "fraudulent" : "compliant");
    else
        snprintf(d, cap, "the %lld most similar inspected declarations %s (%s): %lld fraudulent",
                 (long long)in->near_n[w], where, close, (long long)in->near_pos[w]);
}

static void sentence(const family *f, const risk_case *c, const float *x,
                     const risk_feature_info *in, char *d, size_t cap)
{
    const char *name = f->name;
    char a[48], b[48], what[160];
    if (strcmp(name, "same_declarations") == 0) {
        if (!isfinite(x[RF_TE_FIRST + 2 * RK_SAME]))
            snprintf(d, cap, "value not comparable with earlier declarations (no exchange "
                             "rate to KRW)");
        else if (in->n[RK_SAME] > 0)
            snprintf(d, cap, "%lld earlier declaration%s with the same goods (HS %s), route "
                             "(%s origin, from %s), tax, value and mass: %lld fraudulent",
                     (long long)in->n[RK_SAME], in->n[RK_SAME] == 1 ? "" : "s", c->hs6,
                     c->origin, c->departure[0] ? c->departure : "?",
                     (long long)in->pos[RK_SAME]);
        else
            snprintf(d, cap, "no earlier inspected declaration had the same goods, route, tax, "
                             "value and mass");
    } else if (strcmp(name, "same_goods_value") == 0) {
        fmt_amount(c->value, a, sizeof a);
        if (!isfinite(c->value))
            snprintf(d, cap, "value not comparable with earlier declarations (no exchange "
                             "rate to KRW)");
        else if (in->n[RK_SAME_HS6_VALUE] > 0)
            snprintf(d, cap, "%lld earlier declaration%s of HS %s at exactly %s KRW: %lld "
                             "fraudulent",
                     (long long)in->n[RK_SAME_HS6_VALUE],
                     in->n[RK_SAME_HS6_VALUE] == 1 ? "" : "s", c->hs6, a,
                     (long long)in->pos[RK_SAME_HS6_VALUE]);
        else
            snprintf(d, cap, "no earlier inspected declaration of HS %s at exactly %s KRW",
                     c->hs6, a);
    } else if (strcmp(name, "route") == 0) {
        if (isfinite(c->tax_rate))
            snprintf(what, sizeof what, "HS %s of %s origin from %s, tax %s %g%%", c->hs6,
                     c->origin, c->departure[0] ? c->departure : "?",
                     c->tax_type[0] ? c->tax_type : "-", c->tax_rate);
        else
            snprintf(what, sizeof what, "HS %s of %s origin from %s", c->hs6, c->origin,
                     c->departure[0] ? c->departure : "?");
        sentence_te(d, cap, what, in, RK_ROUTE);
    } else if (strcmp(name, "nearest_route") == 0) {
        snprintf(what, sizeof what, "of HS %s from %s on the same route", c->hs6, c->origin);
        sentence_near(d, cap, what, in, 0);
    } else if (strcmp(name, "nearest_hs6") == 0) {
        snprintf(what, sizeof what, "of HS %s", c->hs6);
        sentence_near(d, cap, what, in, 1);
    } else if (strcmp(name, "hs6_origin") == 0) {
        snprintf(what, sizeof what, "HS %s of %s origin", c->hs6, c->origin);
        sentence_te(d, cap, what, in, RK_HS6_ORIGIN);
    } else if (strcmp(name, "hs6") == 0 || strcmp(name, "hs4") == 0 ||
               strcmp(name, "hs2") == 0) {
        int k = name[2] == '6' ? RK_HS6 : name[2] == '4' ? RK_HS4 : RK_HS2;
        int len = name[2] - '0';
        snprintf(what, sizeof what, "%s %.*s", len == 2 ? "HS chapter" : "HS", len, c->hs6);
        sentence_te(d, cap, what, in, k);
    } else if (strcmp(name, "unit_value") == 0) {
        if (!isfinite(c->value) || !isfinite(c->mass)) {
            snprintf(d, cap, "unit value not compared: no exchange rate to KRW for the value");
            return;
        }
        double uv = (c->value + 1) / (c->mass + 1);
        int u = in->uv_n[1] >= 3 ? 1 : in->uv_n[0] >= 3 ? 0 : -1;
        fmt_amount(uv, a, sizeof a);
        if (u < 0) {
            snprintf(d, cap, "declared unit value %s KRW/kg; too few declarations of HS %s to "
                             "compare",
                     a, c->hs6);
            return;
        }
        fmt_amount(in->median_uv[u], b, sizeof b);
        double ratio = uv / in->median_uv[u];
        char r[32];
        if (ratio < 10)
            snprintf(r, sizeof r, "%.2f", ratio);
        else
            snprintf(r, sizeof r, "%.0f", ratio);
        if (u == 1)
            snprintf(d, cap, "declared unit value is %s× the median for HS %s from %s (%s "
                             "KRW/kg against %s KRW/kg)",
                     r, c->hs6, c->origin, a, b);
        else
            snprintf(d, cap, "declared unit value is %s× the median for HS %s (%s KRW/kg "
                             "against %s KRW/kg)",
                     r, c->hs6, a, b);
    } else if (strcmp(name, "value") == 0) {
        fmt_amount(c->value, a, sizeof a);
        if (isfinite(c->value))
            snprintf(d, cap, "declared value %s KRW", a);
        else
            snprintf(d, cap, "declared value not comparable (no exchange rate to KRW)");
    } else if (strcmp(name, "mass") == 0) {
        fmt_amount(c->mass, a, sizeof a);
        snprintf(d, cap, "net mass %s kg", a);
    } else if (strcmp(name, "tax_rate") == 0) {
        if (isfinite(c->tax_rate))
            snprintf(d, cap, "tax rate %g%%%s%s", c->tax_rate, c->tax_type[0] ? " type " : "",
                     c->tax_type);
        else
            snprintf(d, cap, "no tax rate declared");
    } else if (strcmp(name, "importer") == 0 || strcmp(name, "declarant") == 0) {
        int h = name[0] == 'i' ? 0 : 1;
        const char *who = h == 0 ? c->importer : c->declarant;
        if (!who[0])
            snprintf(d, cap, "no %s given", name);
        else if (in->hist_n[h] > 0)
            snprintf(d, cap, "%s %s: %lld of %lld inspected declarations were fraudulent", name,
                     who, (long long)in->hist_pos[h], (long long)in->hist_n[h]);
        else
            snprintf(d, cap, "%s %s has no inspected declarations yet", name, who);
    } else if (strcmp(name, "seller") == 0) {
        if (!c->seller[0])
            snprintf(d, cap, "no seller given");
        else {
            snprintf(what, sizeof what, "seller %s", c->seller);
            sentence_te(d, cap, what, in, RK_SELLER);
        }
    } else if (strcmp(name, "office") == 0) {
        snprintf(what, sizeof what, "office %s", c->office);
        sentence_te(d, cap, what, in, RK_OFFICE);
    } else if (strcmp(name, "origin") == 0) {
        snprintf(what, sizeof what, "goods of %s origin", c->origin);
        sentence_te(d, cap, what, in, RK_ORIGIN);
    } else if (strcmp(name, "departure") == 0) {
        snprintf(what, sizeof what, "shipped from %s", c->departure[0] ? c->departure : "?");
        sentence_te(d, cap, what, in, RK_DEPARTURE);
    } else if (strcmp(name, "origin_is_departure") == 0) {
        if (!c->departure[0])
            snprintf(d, cap, "no country of departure given");
        else if (strcmp(c->origin, c->departure) == 0)
            snprintf(d, cap, "shipped from the country of origin (%s)", c->origin);
        else
            snprintf(d, cap, "goods of %s origin shipped from %s", c->origin, c->departure);
    } else if (strcmp(name, "country_unknown") == 0) {
        if (x[RF_COUNTRY_UNKNOWN] > 0.5f)
            snprintf(d, cap, "country of origin or departure is unknown (ZZ)");
        else
            snprintf(d, cap, "countries of origin and departure are known");
    } else if (strcmp(name, "hs_unknown") == 0) {
        if (x[RF_HS_UNKNOWN] > 0.5f)
            snprintf(d, cap, "HS %s is not an HS 2022 subheading", c->hs6);
        else
            snprintf(d, cap, "HS %s is an HS 2022 subheading", c->hs6);
    } else if (strcmp(name, "transport_mode") == 0) {
        if (c->transport[0])
            snprintf(d, cap, "mode of transport %s", c->transport);
        else
            snprintf(d, cap, "no mode of transport given");
    } else if (strcmp(name, "courier") == 0) {
        if (c->courier[0])
            snprintf(d, cap, "sent through courier %s", c->courier);
        else
            snprintf(d, cap, "not sent through a courier");
    } else {
        snprintf(d, cap, "%s", name);
    }
}

typedef struct {
    size_t f;
    double c;
} ranked;

static int cmp_abs(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    double ax = fabs(x->c), ay = fabs(y->c);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return (x->f > y->f) - (x->f < y->f);
}

json_t *risk__reasons(const risk_case *c, const float *x, const float *contrib,
                      const risk_feature_info *info, size_t item, size_t nitems)
{
    ranked r[NFAMILIES];
    for (size_t f = 0; f < NFAMILIES; f++) {
        double s = 0;
        for (int k = 0; k < 5 && families[f].features[k] >= 0; k++)
            s += contrib[families[f].features[k]];
        r[f] = (ranked){f, s};
    }
    qsort(r, NFAMILIES, sizeof *r, cmp_abs);
    json_t *a = json_array();
    for (size_t i = 0; i < NFAMILIES && json_array_size(a) < 5; i++) {
        if (r[i].c == 0)
            break;
        /* always the top three; then only reasons at least a tenth as strong */
        if (i >= 3 && fabs(r[i].c) < 0.1 * fabs(r[0].c))
            break;
        char d[512], full[560];
        sentence(&families[r[i].f], c, x, info, d, sizeof d);
        if (nitems > 1)
            snprintf(full, sizeof full, "item %zu: %s", item + 1, d);
        else
            snprintf(full, sizeof full, "%s", d);
        double rounded = round(r[i].c * 10000) / 10000;
        json_array_append_new(a, json_pack("{s:s,s:f,s:s}", "feature", families[r[i].f].name,
                                           "contribution", rounded, "detail", full));
    }
    if (json_array_size(a) == 0) /* e.g. a model trained without any fraud */
        json_array_append_new(a, json_pack("{s:s,s:f,s:s}", "feature", "baseline",
                                           "contribution", 0.0, "detail",
                                           "no feature moves this score away from the model's "
                                           "baseline: the model scores every declaration "
                                           "alike"));
    return a;
}
