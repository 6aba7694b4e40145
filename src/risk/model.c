/* The model registry (SQLite) and the XGBoost booster behind a model.
 * A model is the booster (XGBoost's JSON model format, which Python's
 * xgboost loads as well), the reference tables its features need, and the
 * facts that make it auditable: training window, features, parameters and
 * metrics on out-of-time data. */
#include "risk_int.h"

#include <xgboost/c_api.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const store_migration risk_migrations[] = {
    {1, "CREATE TABLE risk_inspections("
        " id INTEGER PRIMARY KEY,"
        " seq INTEGER NOT NULL REFERENCES declarations(seq),"
        " result TEXT NOT NULL CHECK(result IN ('fraud','compliant')),"
        " critical INTEGER NOT NULL DEFAULT 0 CHECK(critical IN (0,1)),"
        " revenue_recovered REAL,"
        " notes TEXT,"
        " source TEXT NOT NULL,"
        " by_org TEXT, by_role TEXT, by_key INTEGER,"
        " inspected_at TEXT NOT NULL);"
        "CREATE INDEX risk_inspections_seq ON risk_inspections(seq, id);"
        "CREATE TABLE risk_models("
        " id TEXT PRIMARY KEY,"
        " created_at TEXT NOT NULL,"
        " created_by TEXT,"
        " feature_set INTEGER NOT NULL,"
        " train_from TEXT, train_until TEXT, valid_from TEXT, valid_until TEXT,"
        " n_train INTEGER NOT NULL, n_fraud INTEGER NOT NULL,"
        " features TEXT NOT NULL,"
        " params TEXT NOT NULL,"
        " metrics TEXT NOT NULL,"
        " booster BLOB NOT NULL,"
        " tables BLOB NOT NULL);"
        "CREATE TABLE risk_active("
        " one INTEGER PRIMARY KEY CHECK(one = 1),"
        " model_id TEXT NOT NULL REFERENCES risk_models(id),"
        " activated_at TEXT NOT NULL,"
        " activated_by TEXT);"
        "CREATE TABLE risk_scores("
        " seq INTEGER PRIMARY KEY REFERENCES declarations(seq),"
        " score REAL,"
        " rank REAL NOT NULL,"
        " office TEXT NOT NULL,"
        " model_id TEXT);"
        "CREATE INDEX risk_scores_rank ON risk_scores(rank DESC, seq DESC);"},
    /* the photos of findings an inspection record points to (issue 13) */
    {2, "ALTER TABLE risk_inspections ADD COLUMN photos TEXT;"},
    /* the queue by expected recovery (rank=revenue): probability × revenue at
     * risk, indexed so that a page reads only its rows; -1 = unscored */
    {3, "ALTER TABLE risk_scores ADD COLUMN at_risk REAL NOT NULL DEFAULT 0;"
        "ALTER TABLE risk_scores ADD COLUMN expected REAL NOT NULL DEFAULT 0;"
        "UPDATE risk_scores SET expected = -1 WHERE score IS NULL;"
        "CREATE INDEX risk_scores_expected ON risk_scores(expected DESC, rank DESC, seq DESC);"},
    /* the queue of one organisation (?org=) in both orders: a small trader's
     * page seeks its own rows instead of walking everyone's to fill it */
    {4, "ALTER TABLE risk_scores ADD COLUMN org TEXT;"
        "UPDATE risk_scores SET org = (SELECT d.org FROM decl_view d WHERE d.seq = risk_scores.seq);"
        "CREATE INDEX risk_scores_org ON risk_scores(org, rank DESC, seq DESC);"
        "CREATE INDEX risk_scores_org_expected ON risk_scores(org, expected DESC, rank DESC, "
        "seq DESC);"},
};

cx_err risk_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "risk", risk_migrations,
                         sizeof risk_migrations / sizeof risk_migrations[0], err, errlen);
}

/* ---- the booster ------------------------------------------------------------------ */

const char *risk__xgb_error(void)
{
    static _Thread_local char line[256];
    const char *m = XGBGetLastError();
    if (!m || !*m)
        return "unknown XGBoost error";
    /* XGBoost writes "[time] file:line: message" and a stack trace: keep the
     * message's first line. */
    if (m[0] == '[') {
        const char *p = strchr(m, ']');
        const char *q = p ? strstr(p, ": ") : NULL;
        if (q)
            m = q + 2;
    }
    size_t n = strcspn(m, "\n");
    snprintf(line, sizeof line, "%.*s", (int)n, m);
    return line;
}

cx_err risk__booster_load(const char *json, size_t len, int nthread, void **out, char *err,
                          size_t errlen)
{
    BoosterHandle h = NULL;
    if (XGBoosterCreate(NULL, 0, &h) != 0) {
        snprintf(err, errlen, "cannot create a booster: %s", risk__xgb_error());
        return CX_EUNAVAIL;
    }
    /* XGBoost 1.7 takes nthread when it configures the learner, and reads a
     * model's trees in parallel on the threads its context has then: set
     * after the load, the load ran on an OpenMP pool of every CPU (one more
     * pool per thread that loads). So the empty learner is configured first;
     * that needs a feature count, which the model's own replaces. */
    char nt[16], nfeat[16];
    snprintf(nt, sizeof nt, "%d", nthread > 0 ? nthread : 0);
    snprintf(nfeat, sizeof nfeat, "%d", RISK_NFEATURES);
    bst_ulong nf = 0;
    if (XGBoosterSetParam(h, "nthread", nt) != 0 ||
        XGBoosterSetParam(h, "num_feature", nfeat) != 0 || XGBoosterGetNumFeature(h, &nf) != 0) {
        snprintf(err, errlen, "cannot configure a booster: %s", risk__xgb_error());
        XGBoosterFree(h);
        return CX_EUNAVAIL;
    }
    if (len == 0 || XGBoosterLoadModelFromBuffer(h, json, len) != 0) {
        snprintf(err, errlen, "the model's booster is corrupt: %.300s",
                 len ? risk__xgb_error() : "empty");
        XGBoosterFree(h);
        return CX_EPARSE;
    }
    const char **names = NULL;
    if (XGBoosterGetNumFeature(h, &nf) != 0 || nf != RISK_NFEATURES) {
        snprintf(err, errlen, "feature mismatch: the model expects %llu features, this program "
                              "computes %d (retrain the model)",
                 (unsigned long long)nf, RISK_NFEATURES);
        XGBoosterFree(h);
        return CX_EINVAL;
    }
    if (XGBoosterGetStrFeatureInfo(h, "feature_name", &nf, &names) != 0 || nf != RISK_NFEATURES) {
        snprintf(err, errlen, "feature mismatch: the model's booster does not name its %d "
                              "features", RISK_NFEATURES);
        XGBoosterFree(h);
        return CX_EINVAL;
    }
    for (int i = 0; i < RISK_NFEATURES; i++)
        if (strcmp(names[i], risk_feature_names[i]) != 0) {
            snprintf(err, errlen, "feature mismatch: feature %d is \"%.60s\" in the model but "
                                  "\"%s\" here (retrain the model)",
                     i, names[i], risk_feature_names[i]);
            XGBoosterFree(h);
            return CX_EINVAL;
        }
    *out = h;
    return CX_OK;
}

/* ---- loading a model from the registry ------------------------------------------------ */

void risk_model_free(risk_model *m)
{
    if (!m)
        return;
    if (m->booster)
        XGBoosterFree(m->booster);
    risk_trees_free(m->trees);
    risk_tables_free(m->tables);
    free(m->quantiles);
    pthread_mutex_destroy(&m->explain_mu);
    free(m);
}

const char *risk_model_id(const risk_model *m)
{
    return m->id;
}

const risk_tables *risk_model_tables(const risk_model *m)
{
    return m->tables;
}

const char *risk_model_currency(const risk_model *m)
{
    return m->tables->currency;
}

const double *risk_model_quantiles(const risk_model *m, size_t *nq)
{
    *nq = m->nq;
    return m->quantiles;
}

/* Checks the registry's feature list against this program's. */
static bool model__features_match(const char *text, char *err, size_t errlen)
{
    json_t *a = json_loads(text ? text : "", 0, NULL);
    bool ok = json_is_array(a) && json_array_size(a) == RISK_NFEATURES;
    for (size_t i = 0; ok && i < RISK_NFEATURES; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || strcmp(s, risk_feature_names[i]) != 0) {
            snprintf(err, errlen, "feature mismatch: feature %zu is \"%.60s\" in the model but "
                                  "\"%s\" here (retrain the model)",
                     i, s ? s : "?", risk_feature_names[i]);
            json_decref(a);
            return false;
        }
    }
    if (!ok)
        snprintf(err, errlen, "feature mismatch: the model lists %zu features, this program "
                              "computes %d (retrain the model)",
                 json_is_array(a) ? json_array_size(a) : 0, RISK_NFEATURES);
    json_decref(a);
    return ok;
}

static cx_err model__from_row(const char *id, int feature_set, const char *features,
                              const void *booster, size_t blen, const void *tables, size_t tlen,
                              const char *metrics, int nthread, risk_model **out, char *err,
                              size_t errlen)
{
    if (feature_set != RISK_FEATURE_SET) {
        snprintf(err, errlen, "model %s: feature mismatch: it uses feature set %d, this program "
                              "computes set %d (retrain the model)",
                 id, feature_set, RISK_FEATURE_SET);
        return CX_EINVAL;
    }
    char why[400];
    if (!model__features_match(features, why, sizeof why)) {
        snprintf(err, errlen, "model %s: %s", id, why);
        return CX_EINVAL;
    }
    risk_model *m = calloc(1, sizeof *m);
    if (!m)
        return CX_ENOMEM;
    pthread_mutex_init(&m->explain_mu, NULL);
    snprintf(m->id, sizeof m->id, "%s", id);
    m->nthread = nthread;
    cx_err e = risk__booster_load(booster, blen, nthread, &m->booster, why, sizeof why);
    if (e != CX_OK) {
        snprintf(err, errlen, "model %s: %s", id, why);
        risk_model_free(m);
        return e;
    }
    if (risk_trees_load(booster, blen, &m->trees) != CX_OK)
        cx_log(CX_LOG_INFO, "risk: model %s is scored through XGBoost's predictor only", id);
    json_error_t je;
    json_t *tj = json_loadb(tables, tlen, 0, &je);
    if (!tj) {
        snprintf(err, errlen, "model %s: its feature tables are corrupt: %s (line %d)", id,
                 je.text, je.line);
        risk_model_free(m);
        return CX_EPARSE;
    }
    e = risk_tables_from_json(tj, &m->tables, why, sizeof why);
    json_decref(tj);
    if (e != CX_OK) {
        snprintf(err, errlen, "model %s: %s", id, why);
        risk_model_free(m);
        return e;
    }
    json_t *mj = json_loads(metrics ? metrics : "{}", 0, NULL);
    const json_t *q = json_object_get(mj, "score_quantiles");
    size_t nq = json_array_size(q);
    if (nq >= 2) {
        m->quantiles = malloc(nq * sizeof(double));
        if (m->quantiles) {
            m->nq = nq;
            for (size_t i = 0; i < nq; i++)
                m->quantiles[i] = json_number_value(json_array_get(q, i));
        }
    }
    json_decref(mj);
    *out = m;
    return CX_OK;
}

cx_err risk_model_load(store *s, const char *id, int nthread, risk_model **out, char *err,
                       size_t errlen)
{
    store_conn *c = store_reader(s);
    if (!c) {
        snprintf(err, errlen, "cannot read the database");
        return CX_EDB;
    }
    sqlite3_stmt *st =
        id ? store_stmt(c, "SELECT id, feature_set, features, booster, tables, metrics "
                           "FROM risk_models WHERE id=?1")
           : store_stmt(c, "SELECT m.id, m.feature_set, m.features, m.booster, m.tables, "
                           "m.metrics FROM risk_active a JOIN risk_models m ON m.id=a.model_id "
                           "WHERE a.one=1");
    if (!st) {
        snprintf(err, errlen, "cannot read the model registry");
        return CX_EDB;
    }
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e;
    if (rc == SQLITE_ROW) {
        e = model__from_row((const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1),
                            (const char *)sqlite3_column_text(st, 2), sqlite3_column_blob(st, 3),
                            (size_t)sqlite3_column_bytes(st, 3), sqlite3_column_blob(st, 4),
                            (size_t)sqlite3_column_bytes(st, 4),
                            (const char *)sqlite3_column_text(st, 5), nthread, out, err, errlen);
    } else if (rc == SQLITE_DONE) {
        if (id)
            snprintf(err, errlen, "no model with id %s (see 'customs risk models')", id);
        else
            snprintf(err, errlen, "no active model: train one with 'customs risk train'");
        e = CX_ENOTFOUND;
    } else {
        snprintf(err, errlen, "cannot read the model registry: %s",
                 sqlite3_errmsg(store_conn_db(c)));
        e = CX_EDB;
    }
    sqlite3_reset(st);
    return e;
}

/* ---- prediction -------------------------------------------------------------------- */

void risk_model_use_library(risk_model *m, bool on)
{
    m->library = on;
}

cx_err risk_model_predict(risk_model *m, const float *x, size_t n, float *out)
{
    if (n == 0)
        return CX_OK;
    if (m->trees && !m->library) {
        risk_trees_predict(m->trees, x, n, out);
        return CX_OK;
    }
    char arr[160];
    snprintf(arr, sizeof arr,
             "{\"data\":[%llu,true],\"shape\":[%llu,%d],\"typestr\":\"<f4\",\"version\":3}",
             (unsigned long long)(uintptr_t)x, (unsigned long long)n, RISK_NFEATURES);
    static const char cfg[] = "{\"type\":0,\"training\":false,\"iteration_begin\":0,"
                              "\"iteration_end\":0,\"strict_shape\":false,\"missing\":NaN,"
                              "\"cache_id\":0}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    if (XGBoosterPredictFromDense(m->booster, arr, cfg, NULL, &shape, &dim, &res) != 0) {
        cx_log(CX_LOG_ERROR, "risk: prediction failed: %s", risk__xgb_error());
        return CX_EUNAVAIL;
    }
    memcpy(out, res, n * sizeof *out);
    return CX_OK;
}

cx_err risk_model_explain(risk_model *m, const float *x, float *contrib)
{
    if (m->trees && !m->library) {
        risk_trees_explain(m->trees, x, contrib);
        return CX_OK;
    }
    DMatrixHandle dm = NULL;
    cx_err e = CX_OK;
    pthread_mutex_lock(&m->explain_mu);
    if (XGDMatrixCreateFromMat(x, 1, RISK_NFEATURES, NAN, &dm) != 0) {
        e = CX_EUNAVAIL;
    } else {
        static const char cfg[] = "{\"type\":2,\"training\":false,\"iteration_begin\":0,"
                                  "\"iteration_end\":0,\"strict_shape\":false}";
        const bst_ulong *shape;
        bst_ulong dim;
        const float *res;
        if (XGBoosterPredictFromDMatrix(m->booster, dm, cfg, &shape, &dim, &res) != 0)
            e = CX_EUNAVAIL;
        else
            memcpy(contrib, res, (RISK_NFEATURES + 1) * sizeof *contrib);
        XGDMatrixFree(dm);
    }
    pthread_mutex_unlock(&m->explain_mu);
    if (e != CX_OK)
        cx_log(CX_LOG_ERROR, "risk: contributions failed: %s", risk__xgb_error());
    return e;
}

/* ---- registry operations ---------------------------------------------------------------- */

static double model__metric(const char *metrics, const char *name)
{
    json_t *j = json_loads(metrics ? metrics : "{}", 0, NULL);
    const json_t *v = json_object_get(j, name);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(j);
    return d;
}

cx_err risk_models_list(store *s, risk_model_fn fn, void *ctx)
{
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(
        c, "SELECT m.id, m.created_at, m.created_by, m.train_from, m.train_until, m.valid_from, "
           "m.valid_until, m.n_train, m.n_fraud, m.metrics, "
           "(SELECT count(*) FROM risk_active a WHERE a.model_id=m.id) "
           "FROM risk_models m ORDER BY m.created_at, m.id");
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *metrics = (const char *)sqlite3_column_text(st, 9);
        risk_model_info mi = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .created_at = (const char *)sqlite3_column_text(st, 1),
            .created_by = (const char *)sqlite3_column_text(st, 2),
            .train_from = (const char *)sqlite3_column_text(st, 3),
            .train_until = (const char *)sqlite3_column_text(st, 4),
            .valid_from = (const char *)sqlite3_column_text(st, 5),
            .valid_until = (const char *)sqlite3_column_text(st, 6),
            .n_train = sqlite3_column_int64(st, 7),
            .n_fraud = sqlite3_column_int64(st, 8),
            .active = sqlite3_column_int(st, 10) > 0,
            .auc = model__metric(metrics, "auc"),
            .precision_at_10 = model__metric(metrics, "precision_at_10"),
        };
        fn(ctx, &mi);
    }
    cx_err e = rc == SQLITE_DONE ? CX_OK : CX_EDB;
    sqlite3_reset(st);
    return e;
}

typedef struct {
    const char *id, *by, *at;
} activate_job;

static cx_err model__activate_job(store_conn *w, void *arg)
{
    activate_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO risk_active(one, model_id, activated_at, "
                                     "activated_by) VALUES(1, ?1, ?2, ?3) ON CONFLICT(one) DO "
                                     "UPDATE SET model_id=?1, activated_at=?2, activated_by=?3");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->at, -1, SQLITE_STATIC);
    if (j->by)
        sqlite3_bind_text(st, 3, j->by, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err risk_model_activate(store *s, const char *id, const char *by, char *err, size_t errlen)
{
    risk_model *m = NULL;
    cx_err e = risk_model_load(s, id, 1, &m, err, errlen);
    if (e != CX_OK)
        return e;
    risk_model_free(m);
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    activate_job j = {id, by, now};
    e = store_write(s, model__activate_job, &j);
    if (e != CX_OK)
        snprintf(err, errlen, "cannot activate %s: %s", id, cx_strerror(e));
    return e;
}

/* The registry row as JSON; booster and tables only when full. */
static json_t *model__row_json(sqlite3_stmt *st, bool full, bool quantiles)
{
    json_t *o = json_object();
    static const char *const cols[] = {"id",         "created_at", "created_by", "train_from",
                                       "train_until", "valid_from", "valid_until"};
    for (int i = 0; i < 7; i++) {
        const char *v = (const char *)sqlite3_column_text(st, i);
        json_object_set_new(o, cols[i], v ? json_string(v) : json_null());
    }
    json_object_set_new(o, "n_train", json_integer(sqlite3_column_int64(st, 7)));
    json_object_set_new(o, "n_fraud", json_integer(sqlite3_column_int64(st, 8)));
    json_object_set_new(o, "feature_set", json_integer(sqlite3_column_int(st, 9)));
    json_object_set_new(o, "features",
                        json_loads((const char *)sqlite3_column_text(st, 10), 0, NULL));
    json_object_set_new(o, "params",
                        json_loads((const char *)sqlite3_column_text(st, 11), 0, NULL));
    json_t *metrics = json_loads((const char *)sqlite3_column_text(st, 12), 0, NULL);
    if (!quantiles)
        json_object_del(metrics, "score_quantiles");
    json_object_set_new(o, "metrics", metrics ? metrics : json_object());
    json_object_set_new(o, "active", json_boolean(sqlite3_column_int(st, 15) > 0));
    if (full) {
        json_object_set_new(o, "booster",
                            json_loadb(sqlite3_column_blob(st, 13),
                                       (size_t)sqlite3_column_bytes(st, 13), 0, NULL));
        json_object_set_new(o, "tables",
                            json_loadb(sqlite3_column_blob(st, 14),
                                       (size_t)sqlite3_column_bytes(st, 14), 0, NULL));
    }
    return o;
}

static cx_err model__select(store *s, const char *id, bool full, bool quantiles, json_t **out)
{
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st =
        id ? store_stmt(c, "SELECT id, created_at, created_by, train_from, train_until, "
                           "valid_from, valid_until, n_train, n_fraud, feature_set, features, "
                           "params, metrics, booster, tables, "
                           "(SELECT count(*) FROM risk_active a WHERE a.model_id=m.id) "
                           "FROM risk_models m WHERE id=?1")
           : store_stmt(c, "SELECT m.id, created_at, created_by, train_from, train_until, "
                           "valid_from, valid_until, n_train, n_fraud, feature_set, features, "
                           "params, metrics, booster, tables, 1 "
                           "FROM risk_active a JOIN risk_models m ON m.id=a.model_id");
    if (!st)
        return CX_EDB;
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK)
        *out = model__row_json(st, full, quantiles);
    sqlite3_reset(st);
    return e;
}

cx_err risk_model_describe(store *s, const char *id, bool quantiles, json_t **out)
{
    return model__select(s, id, false, quantiles, out);
}

cx_err risk_model_export(store *s, const char *id, FILE *out, char *err, size_t errlen)
{
    json_t *o = NULL;
    cx_err e = model__select(s, id, true, true, &o);
    if (e == CX_ENOTFOUND) {
        snprintf(err, errlen, id ? "no model with id %s" : "no active model", id);
        return e;
    }
    if (e != CX_OK) {
        snprintf(err, errlen, "cannot read the model registry");
        return e;
    }
    json_object_set_new(o, "format", json_string("customs-risk-model/1"));
    json_object_del(o, "active");
    char *text = cx_json_dump(o, NULL);
    json_decref(o);
    if (!text)
        return CX_ENOMEM;
    bool ok = fputs(text, out) >= 0 && fputc('\n', out) != EOF && fflush(out) == 0;
    free(text);
    if (!ok) {
        snprintf(err, errlen, "cannot write the model: %s", strerror(errno));
        return CX_EIO;
    }
    return CX_OK;
}

typedef struct {
    const char *id, *created_at, *created_by, *train_from, *train_until, *valid_from,
        *valid_until;
    int64_t n_train, n_fraud;
    const char *features, *params, *metrics;
    const char *booster;
    size_t booster_len;
    const char *tables;
    size_t tables_len;
    bool activate;
    const char *at;
} model_row;

/* Inserts a registry row (and activates it); writer thread. */
static cx_err model__insert_job(store_conn *w, void *arg)
{
    model_row *r = arg;
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO risk_models(id, created_at, created_by, feature_set, train_from, "
           "train_until, valid_from, valid_until, n_train, n_fraud, features, params, metrics, "
           "booster, tables) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->created_at, -1, SQLITE_STATIC);
    const char *const opt[] = {r->created_by, NULL, r->train_from, r->train_until,
                               r->valid_from, r->valid_until};
    for (int i = 0; i < 6; i++)
        if (i != 1 && opt[i])
            sqlite3_bind_text(st, 3 + i, opt[i], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, RISK_FEATURE_SET);
    sqlite3_bind_int64(st, 9, r->n_train);
    sqlite3_bind_int64(st, 10, r->n_fraud);
    sqlite3_bind_text(st, 11, r->features, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, r->params, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, r->metrics, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 14, r->booster, (int)r->booster_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 15, r->tables, (int)r->tables_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT)
        return CX_EEXIST;
    if (rc != SQLITE_DONE)
        return CX_EDB;
    if (r->activate) {
        activate_job j = {r->id, r->created_by, r->at};
        return model__activate_job(w, &j);
    }
    return CX_OK;
}

cx_err risk__model_store(store *s, const char *id, const char *created_at, const char *created_by,
                         const char *train_from, const char *train_until, const char *valid_from,
                         const char *valid_until, int64_t n_train, int64_t n_fraud,
                         const char *params, const char *metrics, const char *booster,
                         size_t booster_len, const char *tables, size_t tables_len,
                         bool activate)
{
    json_t *names = json_array();
    for (int i = 0; i < RISK_NFEATURES; i++)
        json_array_append_new(names, json_string(risk_feature_names[i]));
    char *features = cx_json_dump(names, NULL);
    json_decref(names);
    if (!features)
        return CX_ENOMEM;
    model_row r = {id,      created_at, created_by, train_from, train_until, valid_from,
                   valid_until, n_train, n_fraud, features, params, metrics,
                   booster, booster_len, tables, tables_len, activate, created_at};
    cx_err e = store_write(s, model__insert_job, &r);
    free(features);
    return e;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

cx_err risk_model_import(store *s, FILE *in, const char *path, char *id_out, char *err,
                         size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadf(in, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errlen, "%s: not a model file: %s (line %d)", path, je.text, je.line);
        return CX_EPARSE;
    }
    cx_err e = CX_OK;
    const char *fmt = jstr(o, "format");
    const char *id = jstr(o, "id");
    if (!fmt || strcmp(fmt, "customs-risk-model/1") != 0) {
        snprintf(err, errlen, "%s: not a customs risk model (format \"%s\")", path,
                 fmt ? fmt : "missing");
        e = CX_EPARSE;
    } else if (!id || strlen(id) != CX_ID_LEN) {
        snprintf(err, errlen, "%s: the model has no valid id", path);
        e = CX_EPARSE;
    } else if (json_integer_value(json_object_get(o, "feature_set")) != RISK_FEATURE_SET) {
        snprintf(err, errlen, "%s: feature mismatch: the model uses feature set %lld, this "
                              "program computes set %d",
                 path, (long long)json_integer_value(json_object_get(o, "feature_set")),
                 RISK_FEATURE_SET);
        e = CX_EINVAL;
    }
    char *features = NULL, *params = NULL, *metrics = NULL, *booster = NULL, *tables = NULL;
    size_t blen = 0, tlen = 0;
    if (e == CX_OK) {
        features = cx_json_dump(json_object_get(o, "features"), NULL);
        params = cx_json_dump(json_object_get(o, "params"), NULL);
        metrics = cx_json_dump(json_object_get(o, "metrics"), NULL);
        booster = json_is_object(json_object_get(o, "booster"))
                      ? cx_json_dump(json_object_get(o, "booster"), &blen)
                      : NULL;
        tables = json_is_object(json_object_get(o, "tables"))
                     ? cx_json_dump(json_object_get(o, "tables"), &tlen)
                     : NULL;
        if (!booster || !tables) {
            snprintf(err, errlen, "%s: the model file has no %s", path,
                     !booster ? "booster" : "tables");
            e = CX_EPARSE;
        }
    }
    if (e == CX_OK) {
        /* It must load before it is stored. */
        risk_model *m = NULL;
        char why[400];
        e = model__from_row(id, RISK_FEATURE_SET, features, booster, blen, tables, tlen, metrics,
                            1, &m, why, sizeof why);
        risk_model_free(m);
        if (e != CX_OK)
            snprintf(err, errlen, "%s: %s", path, why);
    }
    if (e == CX_OK) {
        e = risk__model_store(s, id, jstr(o, "created_at") ? jstr(o, "created_at") : "",
                              jstr(o, "created_by"), jstr(o, "train_from"),
                              jstr(o, "train_until"), jstr(o, "valid_from"),
                              jstr(o, "valid_until"),
                              json_integer_value(json_object_get(o, "n_train")),
                              json_integer_value(json_object_get(o, "n_fraud")),
                              params ? params : "{}", metrics ? metrics : "{}", booster, blen,
                              tables, tlen, false);
        if (e == CX_EEXIST)
            snprintf(err, errlen, "%s: model %s is already in the registry", path, id);
        else if (e != CX_OK)
            snprintf(err, errlen, "cannot store the model: %s", cx_strerror(e));
        else
            snprintf(id_out, CX_ID_LEN + 1, "%s", id);
    }
    free(features);
    free(params);
    free(metrics);
    free(booster);
    free(tables);
    json_decref(o);
    return e;
}
