/* Features of a declaration item for the risk model (docs/risk.md lists and
 * explains each), against frozen reference tables (tables.c) when scoring,
 * and in the leakage-free form used for training:
 *   - target encodings are out-of-fold, with folds drawn by declaration so
 *     that the items of one declaration never inform each other;
 *   - importer and declarant history counts only earlier days;
 *   - the nearest similar cases skip the case's own declaration;
 *   - unit-value medians and MADs use no label at all. */
#include "risk_int.h"

#include <stdlib.h>
#include <string.h>

const char *const risk_feature_names[RISK_NFEATURES] = {
    "value_log",
    "mass_log",
    "unit_value_log",
    "tax_rate",
    "unit_value_dev_hs6",
    "unit_value_dev_hs6_origin",
    "origin_is_departure",
    "country_unknown",
    "hs_unknown",
    "transport_mode",
    "seller_missing",
    "courier_present",
    "te_importer", "n_importer",
    "te_declarant", "n_declarant",
    "te_seller", "n_seller",
    "te_hs6", "n_hs6",
    "te_hs4", "n_hs4",
    "te_hs2", "n_hs2",
    "te_office", "n_office",
    "te_origin", "n_origin",
    "te_departure", "n_departure",
    "te_hs6_origin", "n_hs6_origin",
    "te_route", "n_route",
    "te_same", "n_same",
    "te_same_hs6_value", "n_same_hs6_value",
    "importer_past_n",
    "importer_past_fraud_rate",
    "declarant_past_n",
    "declarant_past_fraud_rate",
    "nearest_route_fraud",
    "nearest_route_dist",
    "nearest_hs6_fraud",
    "nearest_hs6_dist",
};

_Static_assert(RF__COUNT == RISK_NFEATURES, "feature table and enum agree");

const char *const risk__key_names[RK__COUNT] = {
    "importer", "declarant", "seller", "hs6", "hs4", "hs2", "office",
    "origin", "departure", "hs6_origin", "route", "same", "same_hs6_value",
};



double risk__log_value(double v)
{
    return isfinite(v) && v >= 0 ? log1p(v) : NAN;
}

/* ---- per-case features -------------------------------------------------------- */

/* Every key of a case hashed once; the table slots are prefetched before
 * any is probed, so that the cache misses of the 17 lookups overlap. */
typedef struct {
    uint64_t h[RK__COUNT];
    int len[RK__COUNT]; /* -1: key absent */
    int64_t te[RK__COUNT], uv[2], near[2];
} case_lookup;

static void features__lookup(const risk_tables *t, const risk_case *c, case_lookup *L)
{
    char key[RISK_KEY_MAX];
    for (int k = 0; k < RK__COUNT; k++) {
        L->len[k] = risk__case_key(c, k, key, sizeof key);
        L->h[k] = L->len[k] >= 0 ? cx_map_hash(key, (size_t)L->len[k]) : 0;
        if (L->len[k] >= 0)
            cx_map_prefetch(&t->keys[k], L->h[k]);
    }
    static const int uvk[2] = {RK_HS6, RK_HS6_ORIGIN}, nk[2] = {RK_ROUTE, RK_HS6};
    for (int u = 0; u < 2; u++) {
        if (L->len[uvk[u]] >= 0)
            cx_map_prefetch(&t->uv_keys[u], L->h[uvk[u]]);
        if (L->len[nk[u]] >= 0)
            cx_map_prefetch(&t->near_keys[u], L->h[nk[u]]);
    }
    for (int k = 0; k < RK__COUNT; k++)
        L->te[k] = L->len[k] >= 0 ? cx_map_find_hashed(&t->keys[k], L->h[k], (size_t)L->len[k])
                                  : -1;
    for (int u = 0; u < 2; u++) {
        L->uv[u] = L->len[uvk[u]] >= 0 ? cx_map_find_hashed(&t->uv_keys[u], L->h[uvk[u]],
                                                               (size_t)L->len[uvk[u]])
                                       : -1;
        L->near[u] = L->len[nk[u]] >= 0 ? cx_map_find_hashed(&t->near_keys[u], L->h[nk[u]],
                                                                (size_t)L->len[nk[u]])
                                        : -1;
    }
}

static void features__plain(const risk_tables *t, const risk_case *c, const case_lookup *L,
                            float *x, risk_feature_info *info)
{
    double lv = risk__log_value(c->value), lm = risk__log_value(c->mass);
    double lu = lv - lm;
    x[RF_VALUE_LOG] = (float)lv;
    x[RF_MASS_LOG] = (float)lm;
    x[RF_UNIT_VALUE_LOG] = (float)lu;
    x[RF_TAX_RATE] = (float)c->tax_rate;
    for (int u = 0; u < 2; u++) {
        float z = NAN;
        int64_t g = isfinite(lu) ? L->uv[u] : -1;
        if (g >= 0 && t->uv_n[u][g] >= 3)
            z = (float)((lu - t->uv_median[u][g]) / (1.4826 * t->uv_mad[u][g] + 0.05));
        x[RF_UV_DEV_HS6 + u] = z;
        if (info) {
            info->median_uv[u] = g >= 0 ? exp(t->uv_median[u][g]) : NAN;
            info->uv_n[u] = g >= 0 ? t->uv_n[u][g] : 0;
        }
    }
    x[RF_ORIGIN_IS_DEPARTURE] =
        c->origin[0] && c->departure[0] ? (float)(strcmp(c->origin, c->departure) == 0) : NAN;
    x[RF_COUNTRY_UNKNOWN] =
        (float)(strcmp(c->origin, "ZZ") == 0 || strcmp(c->departure, "ZZ") == 0);
    x[RF_HS_UNKNOWN] = (float)!decl_hs6_known(c->hs6);
    double mode = NAN;
    size_t tl = strlen(c->transport);
    if (tl && tl <= 6 && strspn(c->transport, "0123456789") == tl)
        mode = atof(c->transport);
    x[RF_TRANSPORT_MODE] = (float)mode;
    x[RF_SELLER_MISSING] = (float)(c->seller[0] == '\0');
    x[RF_COURIER_PRESENT] = (float)(c->courier[0] != '\0');
}

static void features__near(const risk_tables *t, const risk_case *c, const case_lookup *L,
                           int64_t skip, float *x, risk_feature_info *info)
{
    double lv = risk__log_value(c->value), lm = risk__log_value(c->mass);
    for (int w = 0; w < 2; w++) {
        float fr = NAN, dist = NAN;
        int64_t nn = 0, np = 0;
        double d = NAN;
        int64_t g = isfinite(lv) && isfinite(lm) ? L->near[w] : -1;
        if (g >= 0 && risk__nearest(t, w, &t->near_groups[w][g], lv, lm, skip, &nn, &np, &d)) {
            fr = (float)((double)np / (double)nn);
            dist = (float)d;
        }
        x[RF_NEAR_FIRST + 2 * w] = fr;
        x[RF_NEAR_FIRST + 2 * w + 1] = dist;
        if (info) {
            info->near_n[w] = nn;
            info->near_pos[w] = np;
            info->near_dist[w] = d;
        }
    }
}

static double smooth(int64_t pos, double n, double prior, double m)
{
    return ((double)pos + m * prior) / (n + m);
}

void risk_features_score(const risk_tables *t, const risk_case *c, float *x,
                         risk_feature_info *info)
{
    if (info) {
        memset(info, 0, sizeof *info);
        info->prior = t->prior;
    }
    case_lookup L;
    features__lookup(t, c, &L);
    features__plain(t, c, &L, x, info);
    for (int k = 0; k < RK__COUNT; k++) {
        float te = NAN, cnt = NAN;
        int64_t n = 0, pos = 0;
        if (L.len[k] >= 0) {
            int64_t idx = L.te[k];
            if (idx >= 0) {
                n = t->n[k][idx];
                pos = t->pos[k][idx];
            }
            te = (float)smooth(pos, (double)n, t->prior, t->smoothing);
            cnt = (float)n;
        }
        x[RF_TE_FIRST + 2 * k] = te;
        x[RF_TE_FIRST + 2 * k + 1] = cnt;
        if (info) {
            info->n[k] = n;
            info->pos[k] = pos;
        }
    }
    /* History at scoring time is everything labelled before the model. */
    for (int h = 0; h < 2; h++) {
        int k = h == 0 ? RK_IMPORTER : RK_DECLARANT;
        float hn = x[RF_TE_FIRST + 2 * k + 1];
        x[RF_HIST_FIRST + 2 * h] = hn;
        x[RF_HIST_FIRST + 2 * h + 1] = isfinite(hn) ? x[RF_TE_FIRST + 2 * k] : NAN;
        if (info) {
            info->hist_n[h] = info->n[k];
            info->hist_pos[h] = info->pos[k];
        }
    }
    features__near(t, c, &L, 0, x, info);
}

/* ---- training features ----------------------------------------------------------- */

/* The fold of a declaration: a fixed mix of its number (splitmix64's
 * finaliser), not the maps' secret hash, so that training is reproducible. */
static uint32_t fold_of(int64_t group, int folds)
{
    uint64_t z = (uint64_t)group + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z % (uint64_t)folds);
}

typedef struct {
    int32_t day;
    uint32_t i;
} day_idx;

static int cmp_day(const void *a, const void *b)
{
    const day_idx *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

cx_err risk_features_train(const risk_case *cases, size_t n, const risk_feature_opts *o,
                           float *out)
{
    /* Every case needs a declaration to be kept apart from: a case without
     * one stands alone. */
    risk_case *own = calloc(n ? n : 1, sizeof *own);
    if (!own)
        return CX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        own[i] = cases[i];
        if (!own[i].group)
            own[i].group = -(int64_t)i - 1;
    }
    cases = own;
    risk_tables *t;
    cx_err e = risk_tables_build(cases, n, o, &t);
    if (e != CX_OK) {
        free(own);
        return e;
    }
    int F = t->folds;
    double m = t->smoothing;
    uint32_t *fold = malloc((n ? n : 1) * sizeof *fold);
    int64_t *fn = calloc((size_t)F, sizeof *fn), *fp = calloc((size_t)F, sizeof *fp);
    int64_t *kidx = malloc((n ? n : 1) * RK__COUNT * sizeof *kidx);
    int64_t *fcount[RK__COUNT] = {0}, *fpos[RK__COUNT] = {0};
    double *prior_f = malloc((size_t)F * sizeof *prior_f);
    day_idx *order = malloc((n ? n : 1) * sizeof *order);
    int64_t *hn[2] = {0}, *hp[2] = {0};
    e = fold && fn && fp && kidx && prior_f && order ? CX_OK : CX_ENOMEM;
    for (int k = 0; k < RK__COUNT && e == CX_OK; k++) {
        size_t nk = t->keys[k].n ? t->keys[k].n : 1;
        fcount[k] = calloc(nk * (size_t)F, sizeof(int64_t));
        fpos[k] = calloc(nk * (size_t)F, sizeof(int64_t));
        if (!fcount[k] || !fpos[k])
            e = CX_ENOMEM;
    }
    for (int h = 0; h < 2 && e == CX_OK; h++) {
        size_t nk = t->keys[h == 0 ? RK_IMPORTER : RK_DECLARANT].n;
        hn[h] = calloc(nk ? nk : 1, sizeof(int64_t));
        hp[h] = calloc(nk ? nk : 1, sizeof(int64_t));
        if (!hn[h] || !hp[h])
            e = CX_ENOMEM;
    }
    char key[RISK_KEY_MAX];
    if (e == CX_OK) {
        /* per-fold counts of every key */
        for (size_t i = 0; i < n; i++) {
            const risk_case *c = &cases[i];
            fold[i] = fold_of(c->group, F);
            if (c->label >= 0) {
                fn[fold[i]]++;
                fp[fold[i]] += c->label;
            }
            for (int k = 0; k < RK__COUNT; k++) {
                int len = risk__case_key(c, k, key, sizeof key);
                int64_t idx = len >= 0 ? cx_map_find(&t->keys[k], key, (size_t)len) : -1;
                kidx[i * RK__COUNT + (size_t)k] = len >= 0 ? (idx >= 0 ? idx : -2) : -1;
                if (idx >= 0 && c->label >= 0) {
                    fcount[k][(size_t)idx * (size_t)F + fold[i]]++;
                    fpos[k][(size_t)idx * (size_t)F + fold[i]] += c->label;
                }
            }
        }
        int64_t tn = 0, tp = 0;
        for (int f = 0; f < F; f++) {
            tn += fn[f];
            tp += fp[f];
        }
        for (int f = 0; f < F; f++)
            prior_f[f] = tn - fn[f] > 0 ? (double)(tp - fp[f]) / (double)(tn - fn[f]) : t->prior;
        double scale = (double)F / (double)(F - 1);
        for (size_t i = 0; i < n; i++) {
            const risk_case *c = &cases[i];
            float *x = out + i * RISK_NFEATURES;
            case_lookup L;
            features__lookup(t, c, &L);
            features__plain(t, c, &L, x, NULL);
            double pr = prior_f[fold[i]];
            for (int k = 0; k < RK__COUNT; k++) {
                int64_t idx = kidx[i * RK__COUNT + (size_t)k];
                float te = NAN, cnt = NAN;
                if (idx != -1) {
                    int64_t nn = 0, pp = 0;
                    if (idx >= 0) {
                        nn = t->n[k][idx] - fcount[k][(size_t)idx * (size_t)F + fold[i]];
                        pp = t->pos[k][idx] - fpos[k][(size_t)idx * (size_t)F + fold[i]];
                    }
                    te = (float)smooth(pp, (double)nn, pr, m);
                    cnt = (float)((double)nn * scale);
                }
                x[RF_TE_FIRST + 2 * k] = te;
                x[RF_TE_FIRST + 2 * k + 1] = cnt;
            }
            features__near(t, c, &L, c->group, x, NULL);
        }
        /* History: walk the days in order; a day's cases see only earlier days. */
        for (size_t i = 0; i < n; i++)
            order[i] = (day_idx){cases[i].day, (uint32_t)i};
        qsort(order, n, sizeof *order, cmp_day);
        size_t d0 = 0;
        while (d0 < n) {
            size_t d1 = d0;
            while (d1 < n && order[d1].day == order[d0].day)
                d1++;
            for (size_t j = d0; j < d1; j++) {
                size_t i = order[j].i;
                float *x = out + i * RISK_NFEATURES;
                for (int h = 0; h < 2; h++) {
                    int64_t idx = kidx[i * RK__COUNT + (size_t)(h == 0 ? RK_IMPORTER : RK_DECLARANT)];
                    float cnt = NAN, rate = NAN;
                    if (idx != -1) {
                        int64_t nn = idx >= 0 ? hn[h][idx] : 0, pp = idx >= 0 ? hp[h][idx] : 0;
                        cnt = (float)nn;
                        rate = (float)smooth(pp, (double)nn, prior_f[fold[i]], m);
                    }
                    x[RF_HIST_FIRST + 2 * h] = cnt;
                    x[RF_HIST_FIRST + 2 * h + 1] = rate;
                }
            }
            for (size_t j = d0; j < d1; j++) {
                size_t i = order[j].i;
                if (cases[i].label < 0)
                    continue;
                for (int h = 0; h < 2; h++) {
                    int64_t idx = kidx[i * RK__COUNT + (size_t)(h == 0 ? RK_IMPORTER : RK_DECLARANT)];
                    if (idx >= 0) {
                        hn[h][idx]++;
                        hp[h][idx] += cases[i].label;
                    }
                }
            }
            d0 = d1;
        }
    }
    for (int k = 0; k < RK__COUNT; k++) {
        free(fcount[k]);
        free(fpos[k]);
    }
    for (int h = 0; h < 2; h++) {
        free(hn[h]);
        free(hp[h]);
    }
    free(fold);
    free(fn);
    free(fp);
    free(kidx);
    free(prior_f);
    free(order);
    free(own);
    risk_tables_free(t);
    return e;
}

