/* Lanes from inspection capacity, exploration, and ranking metrics. */
#include "risk_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

uint64_t risk_splitmix64(void *state)
{
    uint64_t *s = state;
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t lanes__sodium(void *ctx)
{
    (void)ctx;
    uint64_t v;
    randombytes_buf(&v, sizeof v);
    return v;
}

static bool lanes__coin(risk_rng_fn rng, void *ctx, double p)
{
    if (p >= 1)
        return true;
    if (!(p > 0))
        return false;
    double u = (double)(rng(ctx) >> 11) * 0x1.0p-53;
    return u < p;
}

/* Linear interpolation in the quantile table. */
static double lanes__quantile(const double *q, size_t nq, double p)
{
    if (p <= 0)
        return q[0];
    if (p >= 1)
        return q[nq - 1];
    double pos = p * (double)(nq - 1);
    size_t i = (size_t)pos;
    if (i >= nq - 1)
        return q[nq - 1];
    double f = pos - (double)i;
    return f == 0 ? q[i] : q[i] + f * (q[i + 1] - q[i]);
}

/* Probability that a score exactly at t should be taken so that about share
 * of all scores are taken (ties at the threshold are broken at random). */
static double lanes__tie(const double *q, size_t nq, double t, double share)
{
    size_t gt = 0, ge = 0;
    for (size_t i = 0; i < nq; i++) {
        gt += q[i] > t;
        ge += q[i] >= t;
    }
    double sgt = (double)gt / (double)nq, sge = (double)ge / (double)nq;
    if (sge - sgt <= 0)
        return 1;
    double p = (share - sgt) / (sge - sgt);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

risk_thresholds risk_thresholds_from_quantiles(const double *q, size_t nq, const risk_policy *p)
{
    risk_thresholds t = {INFINITY, INFINITY, 1, 1};
    double red = p->inspect_rate / 100, both = (p->inspect_rate + p->yellow_rate) / 100;
    if (!q || nq < 2)
        return t; /* no distribution: nothing by score */
    if (red >= 1) {
        t.red = -INFINITY;
    } else if (red > 0) {
        t.red = lanes__quantile(q, nq, 1 - red);
        t.red_tie = lanes__tie(q, nq, t.red, red);
    }
    if (both >= 1) {
        t.yellow = -INFINITY;
    } else if (both > 0 && both > red) {
        t.yellow = lanes__quantile(q, nq, 1 - both);
        double tie = lanes__tie(q, nq, t.yellow, both);
        /* When both thresholds sit on the same tied score, yellow takes what
         * red left of that score's share. */
        if (t.yellow == t.red)
            tie = t.red_tie < 1 ? (tie - t.red_tie) / (1 - t.red_tie) : 0;
        t.yellow_tie = tie < 0 ? 0 : tie > 1 ? 1 : tie;
    } else {
        t.yellow = t.red;
        t.yellow_tie = 0;
    }
    return t;
}

const char *risk_lane_assign(const risk_thresholds *t, const risk_policy *p, double score,
                             risk_rng_fn rng, void *rng_ctx, bool *explore)
{
    if (!rng)
        rng = lanes__sodium;
    *explore = false;
    if (score > t->red || (score == t->red && lanes__coin(rng, rng_ctx, t->red_tie)))
        return "red";
    if (score > t->yellow || (score == t->yellow && lanes__coin(rng, rng_ctx, t->yellow_tie)))
        return "yellow";
    if (lanes__coin(rng, rng_ctx, p->explore_rate / 100)) {
        *explore = true;
        return "red";
    }
    return "green";
}

/* ---- metrics ---------------------------------------------------------------------- */

typedef struct {
    float s;
    uint32_t i;
} scored;

static int cmp_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Indices by score, highest first, ties in input order; NULL on no memory. */
static scored *metrics__order(const float *score, size_t n)
{
    scored *o = malloc((n ? n : 1) * sizeof *o);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        o[i] = (scored){isnan(score[i]) ? -INFINITY : score[i], (uint32_t)i};
    qsort(o, n, sizeof *o, cmp_desc);
    return o;
}

static size_t metrics__top(size_t n, double pct)
{
    double m = floor((double)n * pct / 100 + 0.5);
    if (m < 1 && n > 0)
        m = 1;
    return (size_t)m > n ? n : (size_t)m;
}

void risk_metrics_compute(const float *score, const int8_t *label, size_t n, risk_metrics *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->auc = out->precision_at_1 = out->precision_at_5 = out->precision_at_10 = NAN;
    out->recall_at_5 = out->recall_at_10 = NAN;
    if (n == 0)
        return;
    scored *o = metrics__order(score, n);
    if (!o)
        return;
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += label[i] == 1;
    out->positives = pos;
    uint64_t neg = n - pos;
    /* AUC: Mann-Whitney with tied scores sharing their average rank. The
     * order is descending, so rank r (1-based ascending) = n - position. */
    double rank_sum = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && o[j].s == o[i].s)
            j++;
        /* positions i..j-1 have ascending ranks n-j+1 .. n-i */
        double avg = ((double)(n - j + 1) + (double)(n - i)) / 2;
        for (size_t k = i; k < j; k++)
            if (label[o[k].i] == 1)
                rank_sum += avg;
        i = j;
    }
    if (pos && neg)
        out->auc = (rank_sum - (double)pos * ((double)pos + 1) / 2) / ((double)pos * (double)neg);
    static const double pct[] = {1, 5, 10};
    double prec[3];
    for (int k = 0; k < 3; k++) {
        size_t m = metrics__top(n, pct[k]);
        uint64_t hit = 0;
        for (size_t r = 0; r < m; r++)
            hit += label[o[r].i] == 1;
        prec[k] = (double)hit / (double)m;
        if (k > 0 && pos) {
            double rec = (double)hit / (double)pos;
            if (k == 1)
                out->recall_at_5 = rec;
            else
                out->recall_at_10 = rec;
        }
    }
    out->precision_at_1 = prec[0];
    out->precision_at_5 = prec[1];
    out->precision_at_10 = prec[2];
    free(o);
}

void risk_metrics_curve(const float *score, const int8_t *label, size_t n, double *precision,
                        double *recall, double *threshold)
{
    for (int s = 0; s < 100; s++)
        precision[s] = recall[s] = threshold[s] = NAN;
    scored *o = n ? metrics__order(score, n) : NULL;
    if (!o)
        return;
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += label[i] == 1;
    uint64_t hit = 0;
    size_t taken = 0;
    for (int s = 0; s < 100; s++) {
        size_t m = metrics__top(n, s + 1);
        while (taken < m)
            hit += label[o[taken++].i] == 1;
        precision[s] = (double)hit / (double)m;
        recall[s] = pos ? (double)hit / (double)pos : NAN;
        threshold[s] = o[m - 1].s;
    }
    free(o);
}

void risk_revenue_recovered(const float *score, const int8_t *label, const double *revenue,
                            size_t n, double out[3], double *all)
{
    static const double pct[] = {1, 5, 10};
    out[0] = out[1] = out[2] = *all = 0;
    for (size_t i = 0; i < n; i++)
        *all += label[i] == 1 ? revenue[i] : 0;
    scored *o = n ? metrics__order(score, n) : NULL;
    for (int k = 0; o && k < 3; k++) {
        size_t m = metrics__top(n, pct[k]);
        for (size_t r = 0; r < m; r++)
            out[k] += label[o[r].i] == 1 ? revenue[o[r].i] : 0;
    }
    free(o);
}
