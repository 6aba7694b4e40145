/* Training: labelled declarations (latest inspection outcome of each) become
 * cases, cases become leakage-free features, XGBoost boosts trees, and the
 * model is measured on out-of-time data before it is stored:
 *   --valid-from D: train on declarations before D, measure on D..until;
 *   otherwise a check model trained on the first ~80 % of days is measured on
 *   the last ~20 %, then the stored model is trained on everything.
 * The measured score distribution sets the lane thresholds. */
#include "risk_int.h"

#include <xgboost/c_api.h>

#include <stdlib.h>
#include <string.h>

#define NQUANTILES 1001
#define MIN_HOLDOUT 100 /* fewer labelled cases: no automatic holdout */

typedef struct {
    cx_arena arena;
    risk_case *v;
    size_t n, cap;
} caseset;

static void caseset__free(caseset *cs)
{
    cx_arena_free(&cs->arena);
    free(cs->v);
}

static const char *train__dup(caseset *cs, const char *s, bool *ok)
{
    if (!s[0])
        return "";
    const char *p = cx_arena_strndup(&cs->arena, s, strlen(s));
    if (!p) {
        *ok = false;
        return "";
    }
    return p;
}

static bool train__push(caseset *cs, const risk_case *c)
{
    if (cs->n == cs->cap) {
        size_t nc = cs->cap ? cs->cap * 2 : 1024;
        risk_case *v = realloc(cs->v, nc * sizeof *v);
        if (!v)
            return false;
        cs->v = v;
        cs->cap = nc;
    }
    bool ok = true;
    risk_case k = *c;
    k.reference = train__dup(cs, c->reference, &ok);
    k.office = train__dup(cs, c->office, &ok);
    k.importer = train__dup(cs, c->importer, &ok);
    k.declarant = train__dup(cs, c->declarant, &ok);
    k.seller = train__dup(cs, c->seller, &ok);
    k.courier = train__dup(cs, c->courier, &ok);
    k.hs6 = train__dup(cs, c->hs6, &ok);
    k.origin = train__dup(cs, c->origin, &ok);
    k.departure = train__dup(cs, c->departure, &ok);
    k.tax_type = train__dup(cs, c->tax_type, &ok);
    k.transport = train__dup(cs, c->transport, &ok);
    cs->v[cs->n++] = k;
    return ok;
}

/* Every declaration with an inspection outcome, dated until `until`. */
static cx_err train__load(store *s, const char *until, const risk_values *v, caseset *cs,
                          char *err, size_t errlen)
{
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(
        c, "SELECT d.seq, d.doc, i.result FROM risk_inspections i "
           "JOIN " DECL_VIEW " d ON d.seq = i.seq "
           "WHERE i.id = (SELECT max(j.id) FROM risk_inspections j WHERE j.seq = i.seq) "
           "AND (?1 IS NULL OR d.date <= ?1) ORDER BY d.date, d.seq");
    if (!st)
        return CX_EDB;
    if (until)
        sqlite3_bind_text(st, 1, until, -1, SQLITE_STATIC);
    risk_case *tmp = malloc(DECL_MAX_ITEMS * sizeof *tmp);
    char(*hs6)[7] = malloc(DECL_MAX_ITEMS * sizeof *hs6);
    cx_err e = tmp && hs6 ? CX_OK : CX_ENOMEM;
    int rc;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        json_t *doc = json_loadb(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                                 0, NULL);
        if (!doc) {
            snprintf(err, errlen, "declaration #%lld is not valid JSON in the database",
                     (long long)seq);
            e = CX_EPARSE;
            break;
        }
        int8_t label = strcmp((const char *)sqlite3_column_text(st, 2), "fraud") == 0;
        size_t n = risk__doc_cases(doc, "KRW", v, tmp, hs6, DECL_MAX_ITEMS);
        for (size_t i = 0; i < n && e == CX_OK; i++) {
            tmp[i].label = label;
            tmp[i].group = seq;
            if (!train__push(cs, &tmp[i]))
                e = CX_ENOMEM;
        }
        json_decref(doc);
    }
    if (e == CX_OK && rc != SQLITE_DONE)
        e = CX_EDB;
    sqlite3_reset(st);
    free(tmp);
    free(hs6);
    if (e == CX_ENOMEM)
        snprintf(err, errlen, "out of memory loading the labelled declarations");
    else if (e == CX_EDB)
        snprintf(err, errlen, "cannot read the labelled declarations");
    return e;
}

/* ---- boosting ------------------------------------------------------------------------ */

typedef struct {
    const risk_train_opts *o;
    cx_progress *pg;
    uint64_t done, total;
} boost_ctx;

static cx_err train__boost(boost_ctx *b, const float *x, const risk_case *cases, size_t n,
                           BoosterHandle *out, char *err, size_t errlen)
{
    float *y = malloc((n ? n : 1) * sizeof *y);
    if (!y)
        return CX_ENOMEM;
    for (size_t i = 0; i < n; i++)
        y[i] = (float)cases[i].label;
    DMatrixHandle dm = NULL;
    BoosterHandle h = NULL;
    cx_err e = CX_OK;
    if (XGDMatrixCreateFromMat_omp(x, n, RISK_NFEATURES, NAN, &dm, b->o->nthread) != 0 ||
        XGDMatrixSetFloatInfo(dm, "label", y, n) != 0 ||
        XGDMatrixSetStrFeatureInfo(dm, "feature_name", (const char **)risk_feature_names,
                                   RISK_NFEATURES) != 0 ||
        XGBoosterCreate(&dm, 1, &h) != 0 ||
        /* the names travel in the JSON model, for Python and for checks */
        XGBoosterSetStrFeatureInfo(h, "feature_name", (const char **)risk_feature_names,
                                   RISK_NFEATURES) != 0) {
        snprintf(err, errlen, "XGBoost: %s", risk__xgb_error());
        e = CX_EUNAVAIL;
    }
    char depth[16], eta[32], nt[16];
    snprintf(depth, sizeof depth, "%d", b->o->max_depth);
    snprintf(eta, sizeof eta, "%.17g", b->o->eta);
    snprintf(nt, sizeof nt, "%d", b->o->nthread);
    const char *params[][2] = {
        {"objective", "binary:logistic"}, {"tree_method", "hist"}, {"max_depth", depth},
        {"eta", eta}, {"subsample", "0.8"}, {"colsample_bytree", "0.6"},
        {"min_child_weight", "1"}, {"seed", "0"}, {"nthread", nt}, {"verbosity", "0"},
    };
    for (size_t i = 0; e == CX_OK && i < sizeof params / sizeof *params; i++)
        if (XGBoosterSetParam(h, params[i][0], params[i][1]) != 0) {
            snprintf(err, errlen, "XGBoost parameter %s: %s", params[i][0], risk__xgb_error());
            e = CX_EINVAL;
        }
    for (int it = 0; e == CX_OK && it < b->o->rounds; it++) {
        if (XGBoosterUpdateOneIter(h, it, dm) != 0) {
            snprintf(err, errlen, "XGBoost round %d: %s", it + 1, risk__xgb_error());
            e = CX_EUNAVAIL;
        }
        b->done++;
        cx_progress_set(b->pg, b->done, b->done);
    }
    if (dm)
        XGDMatrixFree(dm);
    free(y);
    if (e != CX_OK) {
        if (h)
            XGBoosterFree(h);
        return e;
    }
    *out = h;
    return CX_OK;
}

static cx_err train__predict(BoosterHandle h, const float *x, size_t n, float *out)
{
    risk_model m = {.booster = h};
    return risk_model_predict(&m, x, n, out);
}

/* ---- metrics ---------------------------------------------------------------------------- */

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static json_t *train__quantiles(const float *score, size_t n)
{
    json_t *q = json_array();
    if (n == 0)
        return q;
    float *s = malloc(n * sizeof *s);
    if (!s)
        return q;
    memcpy(s, score, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_float);
    for (int i = 0; i < NQUANTILES; i++) {
        double pos = (double)i / (NQUANTILES - 1) * (double)(n - 1);
        size_t lo = (size_t)pos;
        double f = pos - (double)lo;
        double v = lo + 1 < n && f > 0 ? s[lo] + f * (s[lo + 1] - s[lo]) : s[lo];
        json_array_append_new(q, json_real(v));
    }
    free(s);
    return q;
}

static void train__put_metrics(json_t *m, const risk_metrics *r)
{
    json_object_set_new(m, "n", json_integer((json_int_t)r->n));
    json_object_set_new(m, "positives", json_integer((json_int_t)r->positives));
    json_object_set_new(m, "auc", jnum(r->auc));
    json_object_set_new(m, "precision_at_1", jnum(r->precision_at_1));
    json_object_set_new(m, "precision_at_5", jnum(r->precision_at_5));
    json_object_set_new(m, "precision_at_10", jnum(r->precision_at_10));
    json_object_set_new(m, "recall_at_5", jnum(r->recall_at_5));
    json_object_set_new(m, "recall_at_10", jnum(r->recall_at_10));
}

static json_t *train__curve(const float *score, const int8_t *label, size_t n)
{
    double p[100], r[100], t[100];
    risk_metrics_curve(score, label, n, p, r, t);
    json_t *a = json_array();
    for (int s = 0; s < 100; s++)
        json_array_append_new(a, json_pack("{s:i,s:o,s:o,s:o}", "share", s + 1, "precision",
                                           jnum(p[s]), "recall", jnum(r[s]), "threshold",
                                           jnum(t[s])));
    return a;
}

static json_t *train__importance(BoosterHandle h)
{
    bst_ulong nf = 0, dim = 0;
    const char **names = NULL;
    const bst_ulong *shape = NULL;
    const float *scores = NULL;
    json_t *a = json_array();
    if (XGBoosterFeatureScore(h, "{\"importance_type\":\"total_gain\"}", &nf, &names, &dim,
                              &shape, &scores) != 0)
        return a;
    double total = 0;
    for (bst_ulong i = 0; i < nf; i++)
        total += scores[i];
    /* highest first (insertion sort: at most 46 entries) */
    bst_ulong order[RISK_NFEATURES];
    bst_ulong m = nf < RISK_NFEATURES ? nf : RISK_NFEATURES;
    for (bst_ulong i = 0; i < m; i++) {
        bst_ulong j = i;
        while (j > 0 && scores[order[j - 1]] < scores[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (bst_ulong k = 0; k < m; k++) {
        bst_ulong i = order[k];
        json_array_append_new(a, json_pack("{s:s,s:f,s:f}", "feature", names[i], "total_gain",
                                           (double)scores[i], "share",
                                           total > 0 ? scores[i] / total : 0.0));
    }
    return a;
}

/* ---- the run ----------------------------------------------------------------------------- */

static void day_str(int32_t day, char out[11])
{
    risk__day_format(day, out);
}

cx_err risk_train(store *s, const risk_train_opts *oin, risk_train_result *res, char *err,
                  size_t errlen)
{
    memset(res, 0, sizeof *res);
    int64_t t0 = cx_mono_us();
    risk_train_opts o = *oin;
    if (o.rounds <= 0)
        o.rounds = 100;
    if (o.max_depth <= 0)
        o.max_depth = 3;
    if (!(o.eta > 0))
        o.eta = 0.2;
    if (o.nthread <= 0)
        o.nthread = risk__default_threads();
    int32_t until_day = 0, valid_day = 0;
    if (o.until && !risk__day(o.until, &until_day)) {
        snprintf(err, errlen, "--until %s: not a date written YYYY-MM-DD", o.until);
        return CX_EINVAL;
    }
    if (o.valid_from && !risk__day(o.valid_from, &valid_day)) {
        snprintf(err, errlen, "--valid-from %s: not a date written YYYY-MM-DD", o.valid_from);
        return CX_EINVAL;
    }
    if (o.until && o.valid_from && valid_day > until_day) {
        snprintf(err, errlen, "--valid-from %s is after --until %s", o.valid_from, o.until);
        return CX_EINVAL;
    }
    caseset cs = {0};
    cs.arena = (cx_arena){0};
    cx_err e = train__load(s, o.until, &o.values, &cs, err, errlen);
    if (e != CX_OK) {
        caseset__free(&cs);
        return e;
    }
    if (cs.n == 0) {
        snprintf(err, errlen, "no labelled declarations%s%s: import KCS data with outcomes "
                              "('customs import --format kcs') or record inspections first",
                 o.until ? " dated until " : "", o.until ? o.until : "");
        caseset__free(&cs);
        return CX_ENOTFOUND;
    }
    /* cases are in date order: split at the validation day */
    size_t cut = cs.n;
    const char *method = "none";
    if (o.valid_from) {
        cut = 0;
        while (cut < cs.n && cs.v[cut].day < valid_day)
            cut++;
        if (cut == 0 || cut == cs.n) {
            snprintf(err, errlen, "--valid-from %s leaves no labelled declarations %s it",
                     o.valid_from, cut == 0 ? "before" : "on or after");
            caseset__free(&cs);
            return CX_EINVAL;
        }
        method = "valid-from";
    } else if (cs.n >= MIN_HOLDOUT) {
        size_t c80 = cs.n * 4 / 5;
        int32_t cut_day = cs.v[c80].day;
        cut = c80;
        while (cut > 0 && cs.v[cut - 1].day == cut_day)
            cut--;
        if (cut > 0)
            method = "holdout";
        else
            cut = cs.n;
    }
    bool has_valid = cut < cs.n;
    risk_feature_opts fo = {0, 0};
    size_t ntrain_final = o.valid_from ? cut : cs.n;
    float *x = malloc(cs.n * RISK_NFEATURES * sizeof *x);
    float *score = malloc(cs.n * sizeof *score);
    int8_t *label = malloc(cs.n);
    if (!x || !score || !label) {
        free(x);
        free(score);
        free(label);
        caseset__free(&cs);
        snprintf(err, errlen, "out of memory for %zu cases", cs.n);
        return CX_ENOMEM;
    }
    int64_t nfraud = 0;
    for (size_t i = 0; i < ntrain_final; i++)
        nfraud += cs.v[i].label;
    if (nfraud == 0)
        cx_log(CX_LOG_WARN, "risk train: none of the %zu labelled cases is fraud: the model "
                            "cannot tell fraud apart and will give every declaration the same "
                            "low score", ntrain_final);
    boost_ctx b = {.o = &o};
    b.total = (uint64_t)o.rounds * (has_valid && !o.valid_from ? 2 : 1);
    if (o.progress)
        b.pg = cx_progress_new("train", b.total, "rounds");
    BoosterHandle check = NULL, final = NULL;
    risk_tables *tables = NULL;
    json_t *metrics = json_object();
    size_t nvalid = cs.n - cut;
    /* 1. the model measured on out-of-time data */
    if (has_valid) {
        e = risk_features_train(cs.v, cut, &fo, x);
        if (e == CX_OK)
            e = train__boost(&b, x, cs.v, cut, &check, err, errlen);
        risk_tables *vt = NULL;
        if (e == CX_OK)
            e = risk_tables_build(cs.v, cut, &fo, &vt);
        for (size_t i = 0; e == CX_OK && i < nvalid; i++) {
            risk_features_score(vt, &cs.v[cut + i], x + i * RISK_NFEATURES, NULL);
            label[i] = cs.v[cut + i].label;
        }
        if (e == CX_OK)
            e = train__predict(check, x, nvalid, score);
        risk_tables_free(vt);
        if (e == CX_OK) {
            risk_metrics r;
            risk_metrics_compute(score, label, nvalid, &r);
            train__put_metrics(metrics, &r);
            json_object_set_new(metrics, "curve", train__curve(score, label, nvalid));
            json_object_set_new(metrics, "score_quantiles", train__quantiles(score, nvalid));
        }
        if (e != CX_OK && !err[0])
            snprintf(err, errlen, "training failed: %s", cx_strerror(e));
    }
    /* 2. the stored model */
    if (e == CX_OK) {
        if (o.valid_from) {
            final = check;
            check = NULL;
        } else {
            e = risk_features_train(cs.v, cs.n, &fo, x);
            if (e == CX_OK)
                e = train__boost(&b, x, cs.v, cs.n, &final, err, errlen);
            if (e == CX_OK && !has_valid) {
                /* no out-of-time data: in-sample scores, flagged as such */
                e = train__predict(final, x, cs.n, score);
                if (e == CX_OK)
                    json_object_set_new(metrics, "score_quantiles",
                                        train__quantiles(score, cs.n));
            }
        }
    }
    if (e == CX_OK)
        e = risk_tables_build(cs.v, ntrain_final, &fo, &tables);
    cx_progress_free(b.pg);
    char d0[11], d1[11], v0[11] = "", v1[11] = "";
    day_str(cs.v[0].day, d0);
    day_str(cs.v[ntrain_final - 1].day, d1);
    if (has_valid) {
        day_str(cs.v[cut].day, v0);
        day_str(cs.v[cs.n - 1].day, v1);
    }
    char id[CX_ID_LEN + 1], now[32];
    cx_id_new(id);
    cx_rfc3339_format(cx_now_us(), now);
    if (e == CX_OK) {
        json_t *val = json_pack("{s:s}", "method", method);
        if (has_valid) {
            json_object_set_new(val, "from", json_string(v0));
            json_object_set_new(val, "until", json_string(v1));
        }
        json_object_set_new(metrics, "validation", val);
        json_object_set_new(metrics, "importance", train__importance(final));
        json_object_set_new(metrics, "training_seconds",
                            json_real((double)(cx_mono_us() - t0) / 1e6));
    }
    char *booster_text = NULL, *tables_text = NULL, *metrics_text = NULL, *params_text = NULL;
    size_t blen = 0, tlen = 0;
    if (e == CX_OK) {
        bst_ulong len;
        const char *p;
        if (XGBoosterSaveModelToBuffer(final, "{\"format\":\"json\"}", &len, &p) != 0) {
            snprintf(err, errlen, "cannot save the booster: %s", risk__xgb_error());
            e = CX_EUNAVAIL;
        } else if ((booster_text = malloc(len + 1))) {
            memcpy(booster_text, p, len);
            booster_text[len] = '\0';
            blen = len;
        } else {
            e = CX_ENOMEM;
        }
    }
    if (e == CX_OK) {
        json_t *tj = risk_tables_to_json(tables);
        tables_text = cx_json_dump(tj, &tlen);
        json_decref(tj);
        metrics_text = cx_json_dump(metrics, NULL);
        json_t *pj = json_pack("{s:s,s:s,s:i,s:f,s:i,s:f,s:f,s:i,s:i,s:f,s:i}", "objective",
                               "binary:logistic", "tree_method", "hist", "max_depth", o.max_depth,
                               "eta", o.eta, "rounds", o.rounds, "subsample", 0.8,
                               "colsample_bytree", 0.6, "min_child_weight", 1, "seed", 0,
                               "smoothing", tables->smoothing, "folds", tables->folds);
        params_text = cx_json_dump(pj, NULL);
        json_decref(pj);
        if (!tables_text || !metrics_text || !params_text)
            e = CX_ENOMEM;
    }
    if (e == CX_OK) {
        e = risk__model_store(s, id, now, o.created_by, d0, d1, has_valid ? v0 : NULL,
                              has_valid ? v1 : NULL, (int64_t)ntrain_final, nfraud, params_text,
                              metrics_text, booster_text, blen, tables_text, tlen, o.activate);
        if (e != CX_OK)
            snprintf(err, errlen, "cannot store the model: %s", cx_strerror(e));
    }
    if (e == CX_OK) {
        snprintf(res->model_id, sizeof res->model_id, "%s", id);
        res->n_train = ntrain_final;
        res->n_train_fraud = (uint64_t)nfraud;
        res->n_valid = has_valid ? nvalid : 0;
        res->seconds = (double)(cx_mono_us() - t0) / 1e6;
        res->metrics = json_incref(metrics);
    }
    free(booster_text);
    free(tables_text);
    free(metrics_text);
    free(params_text);
    json_decref(metrics);
    if (check)
        XGBoosterFree(check);
    if (final)
        XGBoosterFree(final);
    risk_tables_free(tables);
    free(x);
    free(score);
    free(label);
    caseset__free(&cs);
    return e;
}
