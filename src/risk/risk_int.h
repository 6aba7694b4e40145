/* Internal to the risk module. */
#ifndef CUSTOMS_RISK_INT_H
#define CUSTOMS_RISK_INT_H

#include "risk.h"

#include <math.h>
#include <pthread.h>

/* Maps from strings to dense indices are core's cx_map (keyed hash: the
 * keys are importers, sellers and routes that traders choose). */

/* ---- features ------------------------------------------------------------------ */
/* Target-encoded keys, in this order (risk_feature_info.n[] uses it too). */
enum {
    RK_IMPORTER,
    RK_DECLARANT,
    RK_SELLER,
    RK_HS6,
    RK_HS4,
    RK_HS2,
    RK_OFFICE,
    RK_ORIGIN,
    RK_DEPARTURE,
    RK_HS6_ORIGIN,
    RK_ROUTE,
    RK_SAME,
    RK_SAME_HS6_VALUE,
    RK__COUNT
};
extern const char *const risk__key_names[RK__COUNT];

/* Feature column numbers (see risk_feature_names). */
enum {
    RF_VALUE_LOG,
    RF_MASS_LOG,
    RF_UNIT_VALUE_LOG,
    RF_TAX_RATE,
    RF_UV_DEV_HS6,
    RF_UV_DEV_HS6_ORIGIN,
    RF_ORIGIN_IS_DEPARTURE,
    RF_COUNTRY_UNKNOWN,
    RF_HS_UNKNOWN,
    RF_TRANSPORT_MODE,
    RF_SELLER_MISSING,
    RF_COURIER_PRESENT,
    RF_TE_FIRST, /* te_<key>, n_<key> pairs for each RK_ key */
    RF_HIST_FIRST = RF_TE_FIRST + 2 * RK__COUNT, /* importer n, rate, declarant n, rate */
    RF_NEAR_FIRST = RF_HIST_FIRST + 4,           /* route fraud, dist, hs6 fraud, dist */
    RF__COUNT = RF_NEAR_FIRST + 4
};

#define RISK_KEY_MAX 384 /* bytes of a key's text */
/* Key text of a case for a target-encoded key into buf; returns its length,
 * or -1 when a component the key needs is missing (the features are then
 * missing too). */
int risk__case_key(const risk_case *c, int key, char *buf, size_t cap);

/* Labelled cases of one group (route or HS6), sorted by log value. */
typedef struct {
    uint32_t start, count; /* into risk_tables.near_* arrays */
} risk_near_group;

struct risk_tables {
    double prior, smoothing;
    int folds;
    char currency[4];
    cx_map keys[RK__COUNT];
    int64_t *n[RK__COUNT], *pos[RK__COUNT];
    /* unit value (log1p value - log1p mass) per HS6 and per HS6+origin */
    cx_map uv_keys[2];
    double *uv_median[2], *uv_mad[2];
    int64_t *uv_n[2];
    /* labelled cases for the nearest similar declarations */
    cx_map near_keys[2]; /* route, hs6 */
    risk_near_group *near_groups[2];
    double *near_lv[2], *near_lm[2];
    int8_t *near_label[2];
    int64_t *near_group_id[2]; /* declaration of each case (training only) */
    size_t near_total[2];
};

double risk__log_value(double v);
/* Nearest labelled cases to (lv, lm) in a group, skipping skip_group (0 =
 * none): number at the smallest distance, how many were fraud, and that
 * distance. Returns false if the group has no usable case. */
bool risk__nearest(const risk_tables *t, int which, const risk_near_group *g, double lv,
                   double lm, int64_t skip_group, int64_t *n, int64_t *pos, double *dist);

/* ---- KCS ------------------------------------------------------------------------ */
enum {
    KCS_ID,
    KCS_DATE,
    KCS_OFFICE,
    KCS_PROCESS,
    KCS_IMPORT_TYPE,
    KCS_IMPORT_USE,
    KCS_PAYMENT,
    KCS_TRANSPORT,
    KCS_DECLARANT,
    KCS_IMPORTER,
    KCS_SELLER,
    KCS_COURIER,
    KCS_HS6,
    KCS_DEPARTURE,
    KCS_ORIGIN,
    KCS_TAX_RATE,
    KCS_TAX_TYPE,
    KCS_ORIGIN_IND,
    KCS_MASS,
    KCS_PRICE,
    KCS_FRAUD,
    KCS_CRITICAL,
    KCS_CURRENCY, /* optional, not in KCS's own files: Item Price's currency (KRW) */
    KCS__COUNT
};
extern const char *const risk__kcs_columns[KCS__COUNT];

typedef struct {
    int map[KCS__COUNT]; /* field index of each column, -1 if absent */
    size_t width;
    bool labels; /* Fraud column present */
} risk_kcs_header;

/* Checks the header row; err names the problem ("line 1: …"). */
cx_err risk__kcs_header(char **f, size_t n, risk_kcs_header *h, char *err, size_t errlen);
/* Parses a data row into c (strings point into f). fraud/critical get -1
 * when the file has no labels; *currency is Item Price's currency (the
 * Currency column, KRW without one); c->value is Item Price as written,
 * whatever its currency (the caller converts). On a bad row returns false
 * and writes "column X: rule" into msg. */
bool risk__kcs_row(const risk_kcs_header *h, char **f, size_t n, risk_case *c,
                   const char **currency, int *fraud, int *critical, char *msg, size_t msglen);

/* ---- models --------------------------------------------------------------------- */
struct risk_model {
    char id[CX_ID_LEN + 1];
    void *booster; /* BoosterHandle */
    risk_tables *tables;
    double *quantiles;
    size_t nq;
    int nthread;
    pthread_mutex_t explain_mu; /* contributions go through a DMatrix */
    int refs;                   /* guarded by the service's lock */
    risk_trees *trees;          /* NULL: a model only XGBoost scores (trees.c) */
    bool library;               /* risk_model_use_library */
};

/* Creates a booster from XGBoost JSON and checks its feature names. */
cx_err risk__booster_load(const char *json, size_t len, int nthread, void **out, char *err,
                          size_t errlen);
const char *risk__xgb_error(void);

/* Stores a new registry row (and makes it active); blocks until durable.
 * CX_EEXIST if the id is taken. */
cx_err risk__model_store(store *s, const char *id, const char *created_at, const char *created_by,
                         const char *train_from, const char *train_until, const char *valid_from,
                         const char *valid_until, int64_t n_train, int64_t n_fraud,
                         const char *params, const char *metrics, const char *booster,
                         size_t booster_len, const char *tables, size_t tables_len,
                         bool activate);

/* Cases from a declaration document, one per item (at most max); strings
 * are borrowed from doc, except each HS6 which is copied into hs6[i].
 * Values in another currency than the model's are converted through v
 * (may be NULL), NAN (not comparable) when they cannot be. */
size_t risk__doc_cases(const json_t *doc, const char *currency, const risk_values *v,
                       risk_case *cases, char (*hs6)[7], size_t max);
/* value, in currency on date, in the model's currency `to` (see
 * risk_values); NAN when it cannot be converted. */
double risk__value_in(const risk_values *v, double value, const char *currency,
                      const char *date, const char *to);

/* Reasons in plain words from contributions and feature info. Returns a
 * JSON array (caller decrefs), most important first, 3..5 entries. */
json_t *risk__reasons(const risk_case *c, const float *x, const float *contrib,
                      const risk_feature_info *info, size_t item, size_t nitems);

/* Latest inspection of a declaration as JSON members text
 * (,"inspection":{…}) appended to out; nothing when there is none. */
cx_err risk__inspection_decorate(store_conn *r, int64_t seq, cx_buf *out);
/* The decision gate (declare.h): refuses to release a red-lane declaration
 * that has no inspection (409 decision_refused). */
cx_err risk__release_gate(const decl_gate_call *call, decl_gate_refusal *no);
/* The latest inspection as the API shows it, or NULL (with *err CX_OK when
 * there is none). */
json_t *risk__inspection_json(store_conn *r, int64_t seq, cx_err *err);

/* The service, for the HTTP handlers (service.c). */
store *risk__service_store(risk_service *r);
/* Counts one page of the queue and the SQLite VM steps it took (metrics). */
void risk__service_queue_read(risk_service *r, uint64_t vm_steps);
decl_service *risk__service_decl(risk_service *r);
const risk_config *risk__service_config(risk_service *r);
risk_hs_index *risk__service_hs(risk_service *r);
void risk__service_reload(risk_service *r);
json_t *risk__service_status(risk_service *r);
void risk__service_metrics(void *ctx, cx_buf *out);

/* Stores an inspection; runs on the writer thread. */
typedef struct {
    int64_t seq;
    bool fraud, critical;
    double revenue; /* NAN = not given */
    const char *notes;
    const char *source; /* "officer" or "kcs" */
    const char *by_org;
    const char *by_role;
    int64_t by_key;
    const char *at; /* RFC 3339 */
    const char *photos; /* JSON text of the SHA-256s, or NULL (none) */
    int64_t id_out;
} risk_inspection;
cx_err risk__inspection_insert(store_conn *w, risk_inspection *in);

/* Threads for XGBoost when none were asked for: the CPUs not already busy
 * (1-minute load average). OpenMP teams larger than the idle CPUs stall on
 * every barrier: training on a shared 2-core machine with one core taken
 * took 14.6 s with 2 threads and 3.2 s with 1. */
int risk__default_threads(void);

/* Days since the epoch of a YYYY-MM-DD date; false if not a date. */
bool risk__day(const char *s, int32_t *day);
void risk__day_format(int32_t day, char out[11]);

#endif
