/* Batch scoring and evaluation of KCS files: rows are parsed and turned into
 * features as they stream in, predicted a block at a time (XGBoost uses
 * every core on a block) and written out in input order. Bad rows are
 * skipped and reported with their line numbers. */
#include "risk_int.h"

#include <xgboost/c_api.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOCK 65536
#define REPORT_MAX 50
#define REF_MAX 64

typedef struct {
    const risk_score_opts *o;
    risk_score_result *res;
    risk_model *m;
    risk_kcs_header h;
    bool header_done, eval;
    char header_err[512];
    cx_err failed;
    char fail_msg[256];
    /* the block being filled */
    float *x;
    char (*ref)[REF_MAX + 1];
    size_t n;
    float *score;
    /* eval: everything */
    float *all_score;
    int8_t *all_label;
    double *all_revenue; /* Item Price × Tax Rate / 100 (KRW; 0 when not convertible) */
    size_t nall, capall;
    uint64_t unlabelled;
    risk_thresholds th;
    uint64_t rng;
    cx_progress *pg;
    cx_buf out;
} batch;

static void batch__report(batch *b, uint64_t line, const char *msg)
{
    b->res->skipped++;
    if (b->o->quiet)
        return;
    if (b->res->skipped <= REPORT_MAX)
        fprintf(stderr, "%s:%llu: skipped: %s\n", b->o->path, (unsigned long long)line, msg);
    else if (b->res->skipped == REPORT_MAX + 1)
        fprintf(stderr, "%s: more skipped rows not shown\n", b->o->path);
}

static cx_err batch__explain_block(batch *b, float *contrib)
{
    DMatrixHandle dm = NULL;
    if (XGDMatrixCreateFromMat_omp(b->x, b->n, RISK_NFEATURES, NAN, &dm, b->m->nthread) != 0)
        return CX_EUNAVAIL;
    static const char cfg[] = "{\"type\":2,\"training\":false,\"iteration_begin\":0,"
                              "\"iteration_end\":0,\"strict_shape\":false}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    cx_err e = CX_OK;
    if (XGBoosterPredictFromDMatrix(b->m->booster, dm, cfg, &shape, &dim, &res) != 0)
        e = CX_EUNAVAIL;
    else
        memcpy(contrib, res, b->n * (RISK_NFEATURES + 1) * sizeof *contrib);
    XGDMatrixFree(dm);
    return e;
}

/* Top three features by |contribution|, "name(+0.52)"; no allocation. */
static void batch__top(const float *c, char *out, size_t cap)
{
    int best[3] = {-1, -1, -1};
    for (int f = 0; f < RISK_NFEATURES; f++) {
        for (int k = 0; k < 3; k++) {
            if (best[k] < 0 || fabsf(c[f]) > fabsf(c[best[k]])) {
                for (int j = 2; j > k; j--)
                    best[j] = best[j - 1];
                best[k] = f;
                break;
            }
        }
    }
    size_t o = 0;
    out[0] = '\0';
    for (int k = 0; k < 3 && best[k] >= 0; k++) {
        int w = snprintf(out + o, cap - o, "%s%s(%+.3f)", k ? ";" : "",
                         risk_feature_names[best[k]], c[best[k]]);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
    }
}

static cx_err batch__flush(batch *b)
{
    if (b->n == 0)
        return CX_OK;
    cx_err e = risk_model_predict(b->m, b->x, b->n, b->score);
    if (e != CX_OK) {
        snprintf(b->fail_msg, sizeof b->fail_msg, "prediction failed: %s", risk__xgb_error());
        return e;
    }
    if (b->eval) {
        memcpy(b->all_score + b->nall - b->n, b->score, b->n * sizeof *b->score);
        b->res->scored += b->n;
        b->n = 0;
        return CX_OK;
    }
    float *contrib = NULL;
    if (b->o->reasons) {
        contrib = malloc(b->n * (RISK_NFEATURES + 1) * sizeof *contrib);
        if (!contrib)
            return CX_ENOMEM;
        e = batch__explain_block(b, contrib);
        if (e != CX_OK) {
            free(contrib);
            snprintf(b->fail_msg, sizeof b->fail_msg, "contributions failed: %s",
                     risk__xgb_error());
            return e;
        }
    }
    cx_buf_reset(&b->out);
    for (size_t i = 0; i < b->n && e == CX_OK; i++) {
        bool explore;
        risk_policy p = b->o->policy;
        p.explore_rate = 0; /* exploration is for live submissions */
        const char *lane = risk_lane_assign(&b->th, &p, b->score[i], risk_splitmix64, &b->rng,
                                            &explore);
        if (contrib) {
            char top[256];
            batch__top(contrib + i * (RISK_NFEATURES + 1), top, sizeof top);
            e = cx_buf_printf(&b->out, "%s,%.6f,%s,%s\n", b->ref[i], b->score[i], lane, top);
        } else {
            e = cx_buf_printf(&b->out, "%s,%.6f,%s\n", b->ref[i], b->score[i], lane);
        }
    }
    free(contrib);
    if (e == CX_OK && fwrite(b->out.data, 1, b->out.len, b->o->out) != b->out.len) {
        snprintf(b->fail_msg, sizeof b->fail_msg, "cannot write the scores: %s",
                 strerror(errno));
        e = CX_EIO;
    }
    b->res->scored += b->n;
    b->n = 0;
    return e;
}

static bool batch__row(void *ctx, char **f, size_t n, uint64_t line, uint64_t offset)
{
    batch *b = ctx;
    if (!b->header_done) {
        if (risk__kcs_header(f, n, &b->h, b->header_err, sizeof b->header_err) != CX_OK)
            return false;
        if (b->eval && !b->h.labels) {
            snprintf(b->header_err, sizeof b->header_err,
                     "line 1: the file has no Fraud column: eval needs the inspection outcome "
                     "of every row");
            return false;
        }
        b->header_done = true;
        /* the output starts only once the input is known to be KCS */
        if (!b->eval && fputs(b->o->reasons ? "Declaration ID,score,lane,reasons\n"
                                            : "Declaration ID,score,lane\n",
                              b->o->out) < 0) {
            b->failed = CX_EIO;
            snprintf(b->fail_msg, sizeof b->fail_msg, "cannot write the scores: %s",
                     strerror(errno));
            return false;
        }
        return true;
    }
    b->res->rows++;
    cx_progress_set(b->pg, offset, b->res->rows);
    risk_case c;
    const char *currency;
    int fraud, critical;
    char msg[256];
    if (!risk__kcs_row(&b->h, f, n, &c, &currency, &fraud, &critical, msg, sizeof msg)) {
        batch__report(b, line, msg);
        return true;
    }
    const char *to = risk_model_currency(b->m);
    c.value = risk__value_in(&b->o->values, c.value, currency, f[b->h.map[KCS_DATE]], to);
    if (b->eval) {
        if (fraud < 0) {
            b->unlabelled++;
            batch__report(b, line, "no Fraud value: not measured");
            return true;
        }
        if (b->nall == b->capall) {
            size_t nc = b->capall ? b->capall * 2 : 65536;
            float *s = realloc(b->all_score, nc * sizeof *s);
            if (s)
                b->all_score = s;
            int8_t *l = realloc(b->all_label, nc);
            if (l)
                b->all_label = l;
            double *v = realloc(b->all_revenue, nc * sizeof *v);
            if (v)
                b->all_revenue = v;
            if (!s || !l || !v) {
                b->failed = CX_ENOMEM;
                snprintf(b->fail_msg, sizeof b->fail_msg, "out of memory");
                return false;
            }
            b->capall = nc;
        }
        /* revenue at risk of a KCS row: its price × its tax rate */
        b->all_revenue[b->nall] =
            isfinite(c.tax_rate) && isfinite(c.value) ? c.value * c.tax_rate / 100.0 : 0;
        b->all_label[b->nall++] = (int8_t)fraud;
    }
    risk_features_score(risk_model_tables(b->m), &c, b->x + b->n * RISK_NFEATURES, NULL);
    snprintf(b->ref[b->n], REF_MAX + 1, "%s", c.reference);
    if (++b->n == BLOCK) {
        b->failed = batch__flush(b);
        if (b->failed != CX_OK)
            return false;
    }
    return true;
}

static cx_err batch__run(store *s, const risk_score_opts *o, risk_score_result *res, bool eval,
                         char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (o->format && strcmp(o->format, "kcs") != 0) {
        snprintf(err, errlen, "unknown format %s: risk scoring reads kcs", o->format);
        return CX_EINVAL;
    }
    batch b = {.o = o, .res = res, .eval = eval, .rng = 0x5eed};
    cx_err e = risk_model_load(s, o->model, o->nthread > 0 ? o->nthread : risk__default_threads(),
                               &b.m, err, errlen);
    if (e != CX_OK)
        return e;
    snprintf(res->model_id, sizeof res->model_id, "%s", b.m->id);
    size_t nq;
    const double *q = risk_model_quantiles(b.m, &nq);
    b.th = risk_thresholds_from_quantiles(q, nq, &o->policy);
    FILE *f = fopen(o->path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", o->path, strerror(errno));
        risk_model_free(b.m);
        return CX_EIO;
    }
    b.x = malloc((size_t)BLOCK * RISK_NFEATURES * sizeof *b.x);
    b.ref = malloc((size_t)BLOCK * sizeof *b.ref);
    b.score = malloc((size_t)BLOCK * sizeof *b.score);
    cx_buf_init(&b.out, (size_t)64 << 20);
    if (!b.x || !b.ref || !b.score) {
        e = CX_ENOMEM;
        snprintf(err, errlen, "out of memory");
    }
    if (e == CX_OK) {
        struct stat st;
        if (o->progress && fstat(fileno(f), &st) == 0)
            b.pg = cx_progress_new(eval ? "eval" : "score", (uint64_t)st.st_size, "rows");
        uint64_t line = 0;
        e = cx_csv_read(f, 4096, batch__row, &b, &line);
        if (b.header_err[0]) {
            snprintf(err, errlen, "%s: %s", o->path, b.header_err);
            e = CX_EINVAL;
        } else if (b.failed != CX_OK) {
            snprintf(err, errlen, "%s", b.fail_msg);
            e = b.failed;
        } else if (e == CX_EPARSE || e == CX_ETOOBIG) {
            snprintf(err, errlen, "%s:%llu: %s", o->path, (unsigned long long)line,
                     e == CX_ETOOBIG ? "a cell is longer than 4096 bytes or a row has too many "
                                       "cells"
                                     : "malformed CSV (unbalanced quotes?)");
        } else if (e != CX_OK) {
            snprintf(err, errlen, "%s: %s", o->path, cx_strerror(e));
        } else if (!b.header_done) {
            snprintf(err, errlen, "%s: the file is empty: expected the KCS header line",
                     o->path);
            e = CX_EINVAL;
        }
        if (e == CX_OK && (e = batch__flush(&b)) != CX_OK)
            snprintf(err, errlen, "%s", b.fail_msg);
        cx_progress_free(b.pg);
    }
    if (e == CX_OK && eval) {
        if (b.nall == 0) {
            snprintf(err, errlen, "%s: no labelled row to measure", o->path);
            e = CX_EINVAL;
        } else {
            /* DATE: by expected recovery, probability × revenue at risk */
            for (size_t i = 0; o->rank_revenue && i < b.nall; i++)
                b.all_score[i] = (float)(b.all_score[i] * b.all_revenue[i]);
            risk_metrics_compute(b.all_score, b.all_label, b.nall, &res->metrics);
            risk_revenue_recovered(b.all_score, b.all_label, b.all_revenue, b.nall,
                                   res->recovered, &res->fraud_revenue);
            risk_metrics_curve(b.all_score, b.all_label, b.nall, res->precision, res->recall,
                               res->threshold);
        }
    }
    if (e == CX_OK && !eval && fflush(o->out) != 0) {
        snprintf(err, errlen, "cannot write the scores: %s", strerror(errno));
        e = CX_EIO;
    }
    fclose(f);
    free(b.x);
    free(b.ref);
    free(b.score);
    free(b.all_score);
    free(b.all_label);
    free(b.all_revenue);
    cx_buf_free(&b.out);
    risk_model_free(b.m);
    return e;
}

cx_err risk_score_file(store *s, const risk_score_opts *o, risk_score_result *res, char *err,
                       size_t errlen)
{
    return batch__run(s, o, res, false, err, errlen);
}

cx_err risk_eval_file(store *s, const risk_score_opts *o, risk_score_result *res, char *err,
                      size_t errlen)
{
    return batch__run(s, o, res, true, err, errlen);
}
