/*
 * risk.h — the door of the risk module: the KCS import format with
 * inspection outcomes, inspection feedback, features, XGBoost training and a
 * model registry in SQLite, scoring of declarations at submission (lanes,
 * exploration, reasons from SHAP contributions), batch scoring and
 * evaluation, and the HS classification assistant (FTS5).
 * Public names carry the prefix risk_. See docs/risk.md.
 */
#ifndef CUSTOMS_RISK_H
#define CUSTOMS_RISK_H

#include "core.h"
#include "declare.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- schema and the KCS import format ------------------------------------ */
cx_err risk_migrate(store *s, char *err, size_t errlen);

/* Registers the "kcs" import format with the declare module (idempotent).
 * Rows with Fraud / Critical Fraud columns record an inspection outcome in
 * the declaration's own savepoint. */
cx_err risk_kcs_register(void);

/* ---- cases and features ----------------------------------------------------
 * A case is one item of a declaration, flattened for the model. Strings are
 * never NULL ("" when absent) and are borrowed. value is in the model's
 * currency (KRW): an item in another currency is converted through
 * risk_values, and is NAN (not comparable) when it cannot be; mass,
 * tax_rate NAN if absent. */
typedef struct {
    const char *reference;
    const char *office, *importer, *declarant, *seller, *courier;
    const char *hs6; /* 6 digits */
    const char *origin, *departure, *tax_type, *transport;
    int32_t day;     /* days since 1970-01-01 of the declaration date */
    double tax_rate, mass, value;
    int8_t label;    /* -1 unknown, 0 compliant, 1 fraud */
    int64_t group;   /* the declaration: items of one declaration share it */
} risk_case;

/* Values in one currency: risk keeps no exchange rates (revenue owns them and
 * the app wires its door in, docs/risk.md says why). fn converts value, in
 * currency on date (YYYY-MM-DD), to currency `to`: true with *out set, false
 * when it cannot (no rate, another national currency). A double is enough
 * for a feature, never for money. fn NULL: only values already in `to`
 * count. fn must be thread-safe. */
typedef bool (*risk_value_fn)(void *ctx, double value, const char *currency, const char *date,
                              const char *to, double *out);
typedef struct {
    risk_value_fn fn;
    void *ctx;
} risk_values;

#define RISK_NFEATURES 46
extern const char *const risk_feature_names[RISK_NFEATURES];
#define RISK_FEATURE_SET 1 /* bump when names or meaning change */

/* Reference tables of a model: label statistics per key (target encoding),
 * unit-value medians and MADs, and the labelled cases used for the nearest
 * similar declarations. Built from the training cases; frozen with the model. */
typedef struct risk_tables risk_tables;

typedef struct {
    double smoothing; /* m-estimate weight of the prior (default 2) */
    int folds;        /* out-of-fold target encoding (default 5) */
} risk_feature_opts;

/* Builds tables from n cases (labels 0/1 required). *out freed with
 * risk_tables_free. */
cx_err risk_tables_build(const risk_case *cases, size_t n, const risk_feature_opts *o,
                         risk_tables **out);
void risk_tables_free(risk_tables *t);
/* The tables as JSON (caller decrefs) and back; errors name the cause. */
json_t *risk_tables_to_json(const risk_tables *t);
cx_err risk_tables_from_json(const json_t *j, risk_tables **out, char *err, size_t errlen);

/* Training features for n labelled cases, row-major n × RISK_NFEATURES,
 * without leakage: a case's own label never reaches its own features.
 * Target encodings are out-of-fold (folds by declaration), importer and
 * declarant history counts only earlier days, nearest similar cases skip
 * the case's own declaration. */
cx_err risk_features_train(const risk_case *cases, size_t n, const risk_feature_opts *o,
                           float *out);

/* What the features of one scored case were computed from, for reasons. */
typedef struct {
    double prior;
    int64_t n[16], pos[16];    /* per target-encoded key, see features.c */
    double median_uv[2];       /* exp of log unit value medians: hs6, hs6+origin */
    int64_t uv_n[2];
    int64_t near_n[2];         /* cases at the smallest distance: route, hs6 */
    int64_t near_pos[2];
    double near_dist[2];
    int64_t hist_n[2], hist_pos[2]; /* importer, declarant */
} risk_feature_info;

/* Features of a new case against frozen tables; info may be NULL. */
void risk_features_score(const risk_tables *t, const risk_case *c, float *out,
                         risk_feature_info *info);

/* ---- models ---------------------------------------------------------------- */
typedef struct risk_model risk_model;

/* Loads a model from the registry: id, or the active one when id is NULL;
 * *out is freed with risk_model_free. CX_ENOTFOUND when there is none; other
 * errors (corrupt booster, feature list mismatch) say why in err. nthread 0 =
 * XGBoost's default (all CPUs). */
cx_err risk_model_load(store *s, const char *id, int nthread, risk_model **out, char *err,
                       size_t errlen);
void risk_model_free(risk_model *m);
const char *risk_model_id(const risk_model *m);
const risk_tables *risk_model_tables(const risk_model *m);
const char *risk_model_currency(const risk_model *m);
/* Probabilities for n rows of RISK_NFEATURES floats (NAN = missing). */
cx_err risk_model_predict(risk_model *m, const float *x, size_t n, float *out);
/* SHAP contributions of one row: RISK_NFEATURES values then the bias, in
 * log-odds; their sum is the margin. Thread-safe. */
cx_err risk_model_explain(risk_model *m, const float *x, float *contrib);
/* on: score and explain through XGBoost's own predictor instead of the
 * flattened trees (which give the same bits a few µs sooner); the reference
 * the tests and bench_risk_latency compare against. Not thread-safe: set it
 * before the model is shared. */
void risk_model_use_library(risk_model *m, bool on);
/* A booster's trees flattened for one row at a time (trees.c): bit for bit
 * what XGBoost 1.7's CPU predictor computes, without its per-call setup.
 * risk_trees_load reads XGBoost's JSON model and answers CX_EUNAVAIL for a
 * model it does not cover (an objective other than binary:logistic,
 * categorical splits, several classes or targets, dart, a node graph that is
 * not a tree, deeper than 32 or wider than 8,192 nodes a tree): such a model
 * keeps the library's path. *out is freed with risk_trees_free (NULL: a
 * no-op); a loaded value is read-only, safe to share between threads. */
typedef struct risk_trees risk_trees;
cx_err risk_trees_load(const char *json, size_t len, risk_trees **out);
void risk_trees_free(risk_trees *t);
/* Probabilities of n rows of RISK_NFEATURES floats (NAN = missing). */
void risk_trees_predict(const risk_trees *t, const float *x, size_t n, float *out);
/* SHAP contributions of one row: RISK_NFEATURES values, then the bias. */
void risk_trees_explain(const risk_trees *t, const float *x, float *contrib);
/* Score quantiles on out-of-time data (q[i] = quantile i/(nq-1)). */
const double *risk_model_quantiles(const risk_model *m, size_t *nq);

/* ---- lanes -------------------------------------------------------------------
 * Rates are percentages. Red goes to about inspect_rate % (the top of the
 * model's out-of-time score distribution), yellow to the next yellow_rate %;
 * each otherwise-green declaration is sent red with probability
 * explore_rate % and marked explore. */
typedef struct {
    double inspect_rate; /* default 10 */
    double yellow_rate;  /* default 15 */
    double explore_rate; /* default 2 */
} risk_policy;

typedef struct {
    double red;        /* score > red: red (+INF: nothing red by score) */
    double yellow;     /* score > yellow: yellow */
    double red_tie;    /* a score exactly at red is red with this probability, */
    double yellow_tie; /* … and at yellow, yellow: ties at a threshold are broken
                        * at random so that the shares stay about right */
} risk_thresholds;

risk_thresholds risk_thresholds_from_quantiles(const double *q, size_t nq, const risk_policy *p);

/* A uniform 64-bit random source; NULL uses libsodium's CSPRNG so traders
 * cannot predict which declarations are explored. */
typedef uint64_t (*risk_rng_fn)(void *ctx);
/* Returns "red", "yellow" or "green" (static strings) and sets *explore. */
const char *risk_lane_assign(const risk_thresholds *t, const risk_policy *p, double score,
                             risk_rng_fn rng, void *rng_ctx, bool *explore);
/* splitmix64: a seedable source for tests and reproducible runs. */
uint64_t risk_splitmix64(void *state /* uint64_t* */);

/* ---- training and the registry ------------------------------------------------ */
typedef struct {
    const char *until;      /* YYYY-MM-DD: only declarations dated on or before */
    const char *valid_from; /* YYYY-MM-DD: validate on [valid_from, until], train before */
    int rounds;             /* boosting rounds (default 100) */
    int max_depth;          /* default 3 */
    double eta;             /* default 0.2 */
    int nthread;            /* 0 = the CPUs not already busy */
    bool progress;          /* progress bar on a terminal */
    bool activate;          /* make the new model active (default in the CLI) */
    const char *created_by; /* shown in the registry */
    risk_values values;     /* items in another currency than KRW (none: NAN) */
} risk_train_opts;

typedef struct {
    char model_id[CX_ID_LEN + 1];
    uint64_t n_train, n_train_fraud, n_valid;
    double seconds;     /* wall time of the whole training */
    json_t *metrics;    /* the stored metrics (caller decrefs) */
} risk_train_result;

cx_err risk_train(store *s, const risk_train_opts *o, risk_train_result *res, char *err,
                  size_t errlen);

typedef struct {
    const char *id, *created_at, *created_by;
    const char *train_from, *train_until, *valid_from, *valid_until;
    int64_t n_train, n_fraud;
    bool active;
    double auc, precision_at_10; /* NAN when unknown */
} risk_model_info;
typedef void (*risk_model_fn)(void *ctx, const risk_model_info *m);
cx_err risk_models_list(store *s, risk_model_fn fn, void *ctx);
/* CX_ENOTFOUND for an unknown id; the model must load (checked) first. */
cx_err risk_model_activate(store *s, const char *id, const char *by, char *err, size_t errlen);
/* A model as one JSON document (registry row, tables and the XGBoost JSON
 * booster), and back: risk_model_import checks it loads and that its
 * feature list matches before storing it (not active). */
cx_err risk_model_export(store *s, const char *id, FILE *out, char *err, size_t errlen);
cx_err risk_model_import(store *s, FILE *in, const char *path, char *id_out, char *err,
                         size_t errlen);
/* The registry row as the API shows it (caller decrefs); CX_ENOTFOUND. */
cx_err risk_model_describe(store *s, const char *id, bool quantiles, json_t **out);

/* ---- metrics ------------------------------------------------------------------- */
typedef struct {
    uint64_t n, positives;
    double auc; /* NAN without both classes */
    double precision_at_1, precision_at_5, precision_at_10;
    double recall_at_5, recall_at_10;
} risk_metrics;

/* Ranking metrics of scores against 0/1 labels; top-k% takes the
 * round(n·k/100) highest scores (ties in input order). */
void risk_metrics_compute(const float *score, const int8_t *label, size_t n, risk_metrics *out);
/* Revenue recovered when the top 1, 5 and 10 % by score are inspected
 * (round(n·k/100) rows, ties in input order, as risk_metrics_compute): the
 * sum of revenue[i] over the frauds (label 1) among them; *all is the sum
 * over every fraud. With score = probability × revenue at risk this is
 * DATE's ranking by expected recovery. */
void risk_revenue_recovered(const float *score, const int8_t *label, const double *revenue,
                            size_t n, double out[3], double *all);
/* Precision and recall at shares 1..100 % (arrays of 100), plus the score
 * threshold at each share. */
void risk_metrics_curve(const float *score, const int8_t *label, size_t n, double *precision,
                        double *recall, double *threshold);
/* Draws precision and recall against the share inspected; .svg or .png.
 * Releases fontconfig's caches when done: not for use while other threads
 * draw text. */
cx_err risk_plot_curve(const char *path, const double *precision, const double *recall,
                       const char *title, double mark_share, char *err, size_t errlen);

/* ---- batch scoring of KCS files ------------------------------------------------ */
typedef struct {
    const char *path;    /* KCS CSV */
    const char *format;  /* "kcs" only, for now */
    const char *model;   /* NULL: the active model */
    FILE *out;           /* CSV rows "Declaration ID,score,lane[,reasons]" */
    risk_policy policy;  /* lanes without exploration */
    bool reasons;        /* add the top reasons (SHAP) column */
    bool progress;
    bool quiet;          /* no per-row reports on stderr */
    int nthread;         /* 0 = the CPUs not already busy */
    bool rank_revenue;   /* eval: rank by probability × revenue at risk (KCS: a row's
                          * Item Price × Tax Rate), as DATE does, not by probability */
    risk_values values;  /* rows whose Currency is not the model's (none: NAN) */
} risk_score_opts;

typedef struct {
    uint64_t rows, scored, skipped;
    char model_id[CX_ID_LEN + 1];
    risk_metrics metrics;        /* eval: against the file's labels */
    double recovered[3];         /* eval: revenue recovered at 1, 5, 10 % inspected (KRW) */
    double fraud_revenue;        /* eval: Item Price × Tax Rate over every fraud row */
    double precision[100], recall[100], threshold[100];
} risk_score_result;

cx_err risk_score_file(store *s, const risk_score_opts *o, risk_score_result *res, char *err,
                       size_t errlen);
/* Scores a labelled file (out is ignored) and fills res->metrics. */
cx_err risk_eval_file(store *s, const risk_score_opts *o, risk_score_result *res, char *err,
                      size_t errlen);

/* ---- the HS classification assistant ------------------------------------------- */
typedef struct risk_hs_index risk_hs_index;
/* Builds an in-memory FTS5 index of the HS 2022 subheadings, with each
 * parent heading's and chapter's words counted in (needs decl_refdata_load).
 * *out is freed with risk_hs_free. */
cx_err risk_hs_open(risk_hs_index **out, char *err, size_t errlen);
void risk_hs_free(risk_hs_index *ix);
typedef struct {
    char code[7];
    const char *description; /* static reference data */
    double score;            /* higher is better (negated bm25) */
} risk_hs_hit;
/* Ranks subheadings for a goods description; *n gets the number of hits
 * (at most max). Thread-safe. */
cx_err risk_hs_search(risk_hs_index *ix, const char *text, risk_hs_hit *hits, size_t max,
                      size_t *n);

/* ---- the service: scoring at submission, inspections, API ----------------------- */
/* The photos of an inspection record, answered by whoever keeps photos
 * (the inspection module, wired by app_services): on w, inside the
 * record's writer job, checks that every SHA-256 in sent (the JSON text of
 * the body's "photos" array of hashes) was uploaded for declaration seq —
 * each one that was not goes to problems as /photos/<i> — and sets *all to
 * the JSON text of the record's photos: sent and those linked to the
 * guide's steps, each once (caller frees). */
typedef cx_err (*risk_photos_fn)(void *ctx, store_conn *w, int64_t seq, const char *sent,
                                 json_t *problems, char **all);

typedef struct {
    risk_policy policy;
    risk_rng_fn rng;         /* NULL: libsodium */
    void *rng_ctx;
    int reload_ms;           /* poll the registry for a new active model every
                              * reload_ms (0 = 2000); negative: never */
    bool score_declarations; /* false: no enrich hook (inspection API only) */
    bool quiet;              /* log which model scores at debug level only (CLI) */
    bool hs_inline;          /* the HS check of item descriptions runs in the
                              * assessment, before the write (bulk import:
                              * nothing is left queued when it ends); false:
                              * on a worker thread after the write (serve) */
    risk_photos_fn photos;   /* NULL: records carry no photos, a body's are refused */
    void *photos_ctx;
    bool xgboost_predictor;  /* score through XGBoost's own predictor, not the
                              * flattened trees (same bits, slower): the
                              * reference bench_risk_latency compares with */
} risk_config;

typedef struct risk_service risk_service;

/* Loads the active model (a broken one is logged and replaced by the rules)
 * and joins the declarations spine: enrich (the "risk" member), indexed (the
 * risk queue, and the HS check of item descriptions, which runs on a worker
 * thread after the write and raises the lane with decl_raise_lane, unless
 * cfg->hs_inline) and decorate ("inspection"). Free with risk_service_free,
 * before d and s: freeing finishes the HS check under way and skips (logs
 * and counts as dropped) those still queued. NULL on allocation failure. */
risk_service *risk_service_new(store *s, decl_service *d, const risk_config *cfg);
/* Converts items in another currency than the model's (see risk_values)
 * from now on; set before the server starts (the revenue service, which
 * owns the rates, starts after risk). */
void risk_service_set_values(risk_service *r, risk_values v);
/* Stops the model reloader and the HS worker (which finishes the check under
 * way); nothing of the service starts a write afterwards. Safe to call twice. */
void risk_service_stop(risk_service *r);
/* Stops if needed and frees. */
void risk_service_free(risk_service *r);
/* Scores one validated declaration document as enrich does; the risk
 * member is returned (caller decrefs). */
json_t *risk_service_assess(risk_service *r, const json_t *doc);
/* The latest inspection of declaration seq, read on c: 1 when it found
 * fraud, 0 when compliant, -1 when there is none (or it cannot be read). */
int risk_inspection_result(store_conn *c, int64_t seq);
/* A re-assessment changed what a fraud in declaration seq would cost:
 * flagged is the valuation control's revenue at risk, total the duties and
 * taxes assessed (national currency). Re-ranks it in the queue's
 * rank=revenue order (probability × revenue at risk) inside the caller's
 * writer job w. CX_OK also when risk never scored it. */
cx_err risk_revenue_changed_in(store_conn *w, int64_t seq, double flagged, double total);
/* POST /v1/declarations/{id}/inspection, GET /v1/risk/queue,
 * GET /v1/risk/models[/active|/{id}], POST /v1/risk/models/{id}/activate,
 * GET /v1/hs/search; risk metrics. */
cx_err risk_routes(risk_service *r, http_server *srv);

#endif
