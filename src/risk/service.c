/* Scoring at submission: the enrich hook adds the "risk" member to every
 * declaration before it is stored, the indexed hook files it in the risk
 * queue, the decorate hook shows the latest inspection. The active model is
 * swapped in when the registry changes (no restart); without a usable model
 * lanes come from rules and the risk member says so.
 *
 * The HS check of item descriptions (hs_mismatch) is a full-text ranking of
 * the nomenclature that takes 0.1 to 2 ms, several times the model's own
 * cost, so it runs after the declaration is stored, on a worker thread, and
 * raises the lane to yellow through decl_raise_lane when the declared chapter
 * ranks poorly; submissions do not wait for it. */
#include "risk_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Latency buckets of the enrich hook, in microseconds. */
static const double lat_bounds[] = {50, 100, 200, 500, 1000, 2000, 5000, 10000};
#define NLAT (sizeof lat_bounds / sizeof lat_bounds[0])

struct risk_service {
    store *s;
    decl_service *d;
    risk_config cfg;
    pthread_mutex_t mu;
    risk_model *model;      /* current; NULL = rules */
    risk_thresholds th;
    risk_values values;     /* items in another currency (revenue's rates) */
    char active_id[CX_ID_LEN + 1]; /* what the registry says ("" = none) */
    char model_error[400];  /* why the active model is not used */
    pthread_t reloader;
    bool reloader_started, stop;
    pthread_cond_t cv;
    risk_hs_index *hs;
    /* the HS check: declarations waiting for it (FIFO) and its worker */
    struct hs_job *hs_head, *hs_tail;
    size_t hs_queued;
    bool hs_stop, hs_started;
    pthread_t hs_worker;
    pthread_cond_t hs_cv;
    /* metrics */
    atomic_uint_fast64_t lanes[3], explored, rules, hs_mismatch, hs_checked, hs_dropped;
    atomic_uint_fast64_t lat_hist[NLAT + 1], lat_count;
    atomic_uint_fast64_t lat_sum_ns;
    atomic_uint_fast64_t queue_pages, queue_steps;
};

/* ---- declarations as cases ---------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double jnum(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

double risk__value_in(const risk_values *v, double value, const char *currency,
                      const char *date, const char *to)
{
    double out;
    if (!isfinite(value))
        return NAN;
    if (strcmp(currency, to) == 0)
        return value;
    if (v && v->fn && v->fn(v->ctx, value, currency, date, to, &out) && isfinite(out))
        return out;
    return NAN;
}

size_t risk__doc_cases(const json_t *doc, const char *currency, const risk_values *v,
                       risk_case *cases, char (*hs6)[7], size_t max)
{
    const json_t *items = json_object_get(doc, "items");
    size_t n = json_array_size(items);
    if (n > max)
        n = max;
    int32_t day = 0;
    risk__day(jstr(doc, "date"), &day);
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_array_get(items, i);
        risk_case *c = &cases[i];
        memset(c, 0, sizeof *c);
        c->reference = jstr(doc, "reference");
        c->office = jstr(doc, "office");
        c->importer = jstr(doc, "importer_id");
        c->declarant = jstr(doc, "declarant_id");
        c->seller = jstr(doc, "seller_id");
        c->courier = jstr(doc, "courier_id");
        c->departure = jstr(doc, "country_of_departure");
        c->transport = jstr(doc, "transport_mode");
        snprintf(hs6[i], 7, "%.6s", jstr(it, "hs_code"));
        c->hs6 = hs6[i];
        c->origin = jstr(it, "country_of_origin");
        c->tax_type = jstr(it, "tax_type");
        c->tax_rate = jnum(it, "tax_rate");
        c->mass = jnum(it, "net_mass_kg");
        c->value = risk__value_in(v, jnum(it, "value"), jstr(it, "currency"), jstr(doc, "date"),
                                  currency);
        c->day = day;
        c->label = -1;
    }
    return n;
}

/* ---- the model in use ------------------------------------------------------------ */

static risk_model *svc__acquire(risk_service *r, risk_thresholds *th, risk_values *v,
                                char *why, size_t whylen)
{
    pthread_mutex_lock(&r->mu);
    *v = r->values;
    risk_model *m = r->model;
    if (m) {
        m->refs++;
        *th = r->th;
    } else if (why) {
        snprintf(why, whylen, "%s", r->model_error);
    }
    pthread_mutex_unlock(&r->mu);
    return m;
}

static void svc__release(risk_service *r, risk_model *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&r->mu);
    bool last = --m->refs == 0 && m != r->model;
    pthread_mutex_unlock(&r->mu);
    if (last)
        risk_model_free(m);
}

/* Installs m (may be NULL, with the reason in why) as the model in use. */
static void svc__swap(risk_service *r, risk_model *m, const char *active_id, const char *why)
{
    pthread_mutex_lock(&r->mu);
    risk_model *old = r->model;
    r->model = m;
    snprintf(r->active_id, sizeof r->active_id, "%s", active_id ? active_id : "");
    snprintf(r->model_error, sizeof r->model_error, "%s", why ? why : "");
    if (m) {
        size_t nq;
        const double *q = risk_model_quantiles(m, &nq);
        r->th = risk_thresholds_from_quantiles(q, nq, &r->cfg.policy);
    }
    bool free_old = old && old->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (free_old)
        risk_model_free(old);
}

/* The registry's active model id ("" when none). */
static cx_err svc__active_id(risk_service *r, char out[CX_ID_LEN + 1])
{
    out[0] = '\0';
    store_conn *c = store_reader(r->s);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(c, "SELECT model_id FROM risk_active WHERE one=1");
    if (!st)
        return CX_EDB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, CX_ID_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static void svc__load_active(risk_service *r, const char *id)
{
    cx_log_level info = r->cfg.quiet ? CX_LOG_DEBUG : CX_LOG_INFO;
    if (!id[0]) {
        svc__swap(r, NULL, "", "no active model");
        cx_log(info, "risk: no active model: lanes by rules");
        return;
    }
    risk_model *m = NULL;
    char err[400];
    /* one thread: a submission scores one declaration at a time */
    cx_err e = risk_model_load(r->s, id, 1, &m, err, sizeof err);
    if (e != CX_OK) {
        cx_log(CX_LOG_ERROR, "risk: %s: lanes by rules until a usable model is active", err);
        svc__swap(r, NULL, id, err);
        return;
    }
    risk_model_use_library(m, r->cfg.xgboost_predictor);
    svc__swap(r, m, id, NULL);
    cx_log(info, "risk: scoring with model %s (red above %.4g, yellow above %.4g)", id,
           r->th.red, r->th.yellow);
}

static void *svc__reloader(void *arg)
{
    risk_service *r = arg;
    int ms = r->cfg.reload_ms > 0 ? r->cfg.reload_ms : 2000;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (r->stop)
            break;
        char have[CX_ID_LEN + 1];
        snprintf(have, sizeof have, "%s", r->active_id);
        pthread_mutex_unlock(&r->mu);
        char now[CX_ID_LEN + 1];
        if (svc__active_id(r, now) == CX_OK && strcmp(now, have) != 0)
            svc__load_active(r, now);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- assessing a declaration -------------------------------------------------------- */

static json_t *svc__reason(const char *feature, double contribution, const char *fmt, ...)
    CX_PRINTF(3, 4);
static json_t *svc__reason(const char *feature, double contribution, const char *fmt, ...)
{
    char d[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, sizeof d, fmt, ap);
    va_end(ap);
    return json_pack("{s:s,s:f,s:s}", "feature", feature, "contribution", contribution,
                     "detail", d);
}

static int lane_rank(const char *lane)
{
    return strcmp(lane, "red") == 0 ? 2 : strcmp(lane, "yellow") == 0 ? 1 : 0;
}

/* Rules that hold with or without a model; they raise the lane to yellow
 * (a document check) and add a reason with contribution 1. */
static const char *svc__rules(const risk_case *cases, size_t n, json_t *reasons, const char *lane)
{
    for (size_t i = 0; i < n; i++) {
        const risk_case *c = &cases[i];
        char where[32] = "";
        if (n > 1)
            snprintf(where, sizeof where, "item %zu: ", i + 1);
        if (strcmp(c->origin, "ZZ") == 0 || strcmp(c->departure, "ZZ") == 0) {
            json_array_append_new(reasons,
                                  svc__reason("rule.country_unknown", 1,
                                              "%scountry of origin or departure is unknown (ZZ)",
                                              where));
            if (lane_rank(lane) < 1)
                lane = "yellow";
        }
    }
    return lane;
}

static void svc__hs_inline(risk_service *r, const json_t *doc, json_t *reasons,
                           const char **lane);

json_t *risk_service_assess(risk_service *r, const json_t *doc)
{
    int64_t t0 = cx_mono_us();
    risk_thresholds th;
    char why[400] = "";
    risk_values values;
    risk_model *m = svc__acquire(r, &th, &values, why, sizeof why);
    /* most declarations have a few items: no allocation for up to 16 */
    risk_case cases_small[16];
    char hs6_small[16][7];
    size_t nitems = json_array_size(json_object_get(doc, "items"));
    if (nitems > DECL_MAX_ITEMS)
        nitems = DECL_MAX_ITEMS;
    risk_case *cases = cases_small;
    char(*hs6)[7] = hs6_small;
    if (nitems > 16) {
        cases = malloc(nitems * sizeof *cases);
        hs6 = malloc(nitems * sizeof *hs6);
        if (!cases || !hs6) {
            free(cases);
            free(hs6);
            cases = cases_small;
            hs6 = hs6_small;
            nitems = 16;
        }
    }
    size_t n = risk__doc_cases(doc, m ? risk_model_currency(m) : "KRW", &values, cases, hs6,
                               nitems);
    json_t *risk = json_object();
    json_t *reasons = json_array();
    const char *lane = "green";
    bool explore = false;
    float *x = NULL, *score = NULL;
    if (m && n > 0) {
        x = malloc(n * RISK_NFEATURES * sizeof *x);
        score = malloc(n * sizeof *score);
    }
    risk_feature_info info;
    float contrib[RISK_NFEATURES + 1];
    size_t best = 0;
    bool scored = false;
    if (m && x && score) {
        for (size_t i = 0; i < n; i++)
            risk_features_score(risk_model_tables(m), &cases[i], x + i * RISK_NFEATURES,
                                n == 1 ? &info : NULL);
        if (n == 1) {
            /* One item: its SHAP values sum to the margin, so one call gives
             * both the score and the reasons. */
            if (risk_model_explain(m, x, contrib) == CX_OK) {
                double margin = 0;
                for (int f = 0; f <= RISK_NFEATURES; f++)
                    margin += contrib[f];
                score[0] = (float)(1 / (1 + exp(-margin)));
                json_decref(reasons);
                reasons = risk__reasons(&cases[0], x, contrib, &info, 0, 1);
                scored = true;
            }
        } else if (risk_model_predict(m, x, n, score) == CX_OK) {
            for (size_t i = 1; i < n; i++)
                if (score[i] > score[best])
                    best = i;
            /* the riskiest item explains the declaration */
            risk_features_score(risk_model_tables(m), &cases[best], x + best * RISK_NFEATURES,
                                &info);
            if (risk_model_explain(m, x + best * RISK_NFEATURES, contrib) == CX_OK) {
                json_decref(reasons);
                reasons = risk__reasons(&cases[best], x + best * RISK_NFEATURES, contrib, &info,
                                        best, n);
            }
            scored = true;
        }
        if (!scored)
            snprintf(why, sizeof why, "model %s failed to predict", risk_model_id(m));
    }
    if (scored) {
        double s = round((double)score[best] * 1e6) / 1e6;
        lane = risk_lane_assign(&th, &r->cfg.policy, score[best], r->cfg.rng, r->cfg.rng_ctx,
                                &explore);
        json_object_set_new(risk, "score", json_real(s));
        json_object_set_new(risk, "lane", json_string(lane));
        json_object_set_new(risk, "model", json_string(risk_model_id(m)));
        if (nitems > 1)
            json_object_set_new(risk, "item", json_integer((json_int_t)best));
        if (explore)
            json_array_append_new(reasons,
                                  svc__reason("explore", 0,
                                              "chosen at random for inspection (%g%% of "
                                              "otherwise green declarations) so that the model "
                                              "keeps learning",
                                              r->cfg.policy.explore_rate));
    } else {
        /* No model: inspection capacity is spent at random, rules add the rest. */
        atomic_fetch_add(&r->rules, 1);
        json_array_append_new(reasons,
                              svc__reason("no_model", 0, "no model: lane by rules (%s)",
                                          why[0] ? why : "no active model"));
        risk_policy rp = r->cfg.policy;
        rp.explore_rate = rp.inspect_rate;
        risk_thresholds none = {INFINITY, INFINITY, 1, 1};
        lane = risk_lane_assign(&none, &rp, 0, r->cfg.rng, r->cfg.rng_ctx, &explore);
        if (explore)
            json_array_append_new(reasons,
                                  svc__reason("random_selection", 0,
                                              "chosen at random for inspection (%g%% of "
                                              "declarations while no model is active)",
                                              rp.inspect_rate));
        json_object_set_new(risk, "score", json_null());
        json_object_set_new(risk, "model", json_null());
    }
    const char *ruled = svc__rules(cases, n, reasons, lane);
    if (lane_rank(ruled) > lane_rank(lane))
        lane = ruled;
    if (r->cfg.hs_inline)
        svc__hs_inline(r, doc, reasons, &lane);
    json_object_set_new(risk, "lane", json_string(lane));
    json_object_set_new(risk, "explore", json_boolean(explore));
    json_object_set_new(risk, "reasons", reasons);
    free(x);
    free(score);
    if (cases != cases_small) {
        free(cases);
        free(hs6);
    }
    svc__release(r, m);
    atomic_fetch_add(&r->lanes[lane_rank(lane)], 1);
    if (explore)
        atomic_fetch_add(&r->explored, 1);
    int64_t us = cx_mono_us() - t0;
    size_t b = 0;
    while (b < NLAT && (double)us > lat_bounds[b])
        b++;
    atomic_fetch_add(&r->lat_hist[b], 1);
    atomic_fetch_add(&r->lat_count, 1);
    atomic_fetch_add(&r->lat_sum_ns, (uint64_t)us * 1000);
    return risk;
}

void risk_service_set_values(risk_service *r, risk_values v)
{
    pthread_mutex_lock(&r->mu);
    r->values = v;
    pthread_mutex_unlock(&r->mu);
}

/* ---- the HS check, after the write ------------------------------------------------ */

#define HS_QUEUE_MAX 10000

typedef struct hs_job {
    struct hs_job *next;
    char id[CX_ID_LEN + 1];
    json_t *items; /* [{"hs6","description"}] in item order */
} hs_job;

/* The declared chapter should be among the first five answers when the
 * description matches anything at all; returns the reason, or NULL. */
static json_t *svc__hs_check(risk_service *r, const char *hs6, const char *desc, size_t item,
                             size_t nitems)
{
    risk_hs_hit hits[10];
    size_t nh = 0;
    if (risk_hs_search(r->hs, desc, hits, 10, &nh) != CX_OK || nh == 0)
        return NULL;
    for (size_t k = 0; k < nh && k < 5; k++)
        if (strncmp(hits[k].code, hs6, 2) == 0)
            return NULL;
    char two[3] = {hs6[0], hs6[1], 0}, where[32] = "";
    if (nitems > 1)
        snprintf(where, sizeof where, "item %zu: ", item + 1);
    const decl_hs_entry *ch = decl_hs_find(two);
    return svc__reason("hs_mismatch", 1,
                       "%sthe description \"%.80s\" reads like HS %s (%.80s), not chapter %s "
                       "(%.60s) as declared",
                       where, desc, hits[0].code, hits[0].description, two,
                       ch ? ch->description : "unknown");
}

static void svc__hs_run(risk_service *r, hs_job *j)
{
    size_t n = json_array_size(j->items), i;
    json_t *it;
    json_array_foreach(j->items, i, it)
    {
        const char *desc = jstr(it, "description");
        if (strlen(desc) < 3)
            continue;
        json_t *reason = svc__hs_check(r, jstr(it, "hs6"), desc, i, n);
        atomic_fetch_add(&r->hs_checked, 1);
        if (!reason)
            continue;
        atomic_fetch_add(&r->hs_mismatch, 1);
        cx_err e = decl_raise_lane(r->d, j->id, "yellow", reason);
        if (e != CX_OK && e != CX_ENOTFOUND)
            cx_log(CX_LOG_WARN, "risk: cannot add hs_mismatch to %s: %s", j->id, cx_strerror(e));
    }
}

/* The HS check in the assessment itself (bulk import): each described
 * item's reason is added now and the lane raised to at least yellow, as the
 * worker would through decl_raise_lane after the write. */
static void svc__hs_inline(risk_service *r, const json_t *doc, json_t *reasons,
                           const char **lane)
{
    const json_t *items = json_object_get(doc, "items");
    size_t n = json_array_size(items), i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *desc = jstr(it, "description");
        if (!r->hs || strlen(desc) < 3)
            continue;
        char hs6[7];
        snprintf(hs6, sizeof hs6, "%.6s", jstr(it, "hs_code"));
        json_t *reason = svc__hs_check(r, hs6, desc, i, n);
        atomic_fetch_add(&r->hs_checked, 1);
        if (!reason)
            continue;
        atomic_fetch_add(&r->hs_mismatch, 1);
        json_array_append_new(reasons, reason);
        if (lane_rank(*lane) < lane_rank("yellow"))
            *lane = "yellow";
    }
}

static void *svc__hs_worker(void *arg)
{
    risk_service *r = arg;
    /* A hint for the officer, not part of the submission: it runs only on
     * otherwise idle CPU, so it never takes capacity from ingestion (under
     * sustained load its queue fills and newer checks are skipped, counted). */
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        cx_log(CX_LOG_WARN, "risk: cannot give the HS check idle priority");
    uint64_t skipped = 0;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->hs_head && !r->hs_stop)
            pthread_cond_wait(&r->hs_cv, &r->mu);
        hs_job *j = r->hs_head;
        if (!j)
            break;
        r->hs_head = j->next;
        if (!r->hs_head)
            r->hs_tail = NULL;
        r->hs_queued--;
        if (r->hs_stop) {
            /* stopping: a backlog of hints must not hold up shutdown */
            json_decref(j->items);
            free(j);
            atomic_fetch_add(&r->hs_dropped, 1);
            skipped++;
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        svc__hs_run(r, j);
        json_decref(j->items);
        free(j);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    if (skipped)
        cx_log(CX_LOG_INFO, "risk: %llu declarations still queued for the HS check at shutdown "
                            "were not checked (customs_risk_hs_dropped_total)",
               (unsigned long long)skipped);
    return NULL;
}

/* Queues the HS check of a stored declaration's described items. */
static void svc__hs_enqueue(risk_service *r, const json_t *doc)
{
    if (!r->hs_started)
        return;
    const json_t *items = json_object_get(doc, "items");
    json_t *list = NULL;
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *desc = jstr(it, "description");
        if (strlen(desc) >= 3) {
            if (!list)
                list = json_array();
            /* keep positions: item numbers in reasons are 1-based positions */
            while (json_array_size(list) < i)
                json_array_append_new(list, json_object());
            char hs6[7];
            snprintf(hs6, sizeof hs6, "%.6s", jstr(it, "hs_code"));
            json_array_append_new(list, json_pack("{s:s,s:s}", "hs6", hs6, "description", desc));
        }
    }
    if (!list)
        return;
    hs_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(list);
        atomic_fetch_add(&r->hs_dropped, 1);
        return;
    }
    snprintf(j->id, sizeof j->id, "%s", jstr(doc, "id"));
    j->items = list;
    pthread_mutex_lock(&r->mu);
    bool full = r->hs_queued >= HS_QUEUE_MAX;
    if (!full) {
        if (r->hs_tail)
            r->hs_tail->next = j;
        else
            r->hs_head = j;
        r->hs_tail = j;
        r->hs_queued++;
        pthread_cond_signal(&r->hs_cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (full) {
        json_decref(j->items);
        free(j);
        if (atomic_fetch_add(&r->hs_dropped, 1) == 0)
            cx_log(CX_LOG_WARN, "risk: %d declarations wait for the HS check: newer ones skip "
                                "it (customs_risk_hs_dropped_total counts them)",
                   HS_QUEUE_MAX);
    }
}

/* ---- hooks -------------------------------------------------------------------------- */

static void svc__enrich(void *ctx, const cx_principal *who, json_t *doc)
{
    (void)who;
    json_object_set_new(doc, "risk", risk_service_assess(ctx, doc));
}

/* What a fraud in this declaration would cost, in national currency: the
 * valuation control's estimate when it found one, otherwise the duties and
 * taxes assessed (as eval takes a KCS row's price × tax rate). The
 * assessment is the member revenue's hook added before the write (risk's
 * indexed hook sees the whole document); 0 without one. */
static double svc__revenue_value(double flagged, double total)
{
    double v = flagged > 0 ? flagged : total;
    return isfinite(v) && v > 0 ? v : 0;
}

static double svc__at_risk(const json_t *doc)
{
    const json_t *a = json_object_get(doc, "assessment");
    return svc__revenue_value(json_number_value(json_object_get(a, "revenue_at_risk")),
                              json_number_value(json_object_get(a, "total")));
}

/* The queue's revenue order (rank=revenue): probability x revenue at risk,
 * -1 when unscored (after every score). One rule for the insert at lodging
 * and the update after a re-assessment, so the two cannot drift. */
#define SVC__EXPECTED(score, at_risk)                                                          \
    "CASE WHEN " score " IS NULL THEN -1 ELSE " score " * " at_risk " END"

cx_err risk_revenue_changed_in(store_conn *w, int64_t seq, double flagged, double total)
{
    sqlite3_stmt *st = store_stmt(w, "UPDATE risk_scores SET at_risk = ?2, expected = "
                                     SVC__EXPECTED("score", "?2") " WHERE seq = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_double(st, 2, svc__revenue_value(flagged, total));
    return store_done(st);
}

static cx_err svc__indexed(void *ctx, store_conn *w, int64_t seq, const json_t *doc)
{
    svc__hs_enqueue(ctx, doc);
    const json_t *risk = json_object_get(doc, "risk");
    if (!json_is_object(risk))
        return CX_OK;
    const json_t *score = json_object_get(risk, "score");
    sqlite3_stmt *st = store_stmt(w, "INSERT OR REPLACE INTO risk_scores(seq, score, rank, "
                                     "office, model_id, at_risk, expected, org) "
                                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, " SVC__EXPECTED("?2", "?6")
                                     ", ?7)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_double(st, 6, svc__at_risk(doc));
    if (json_is_number(score)) {
        sqlite3_bind_double(st, 2, json_number_value(score));
        sqlite3_bind_double(st, 3, json_number_value(score));
    } else {
        sqlite3_bind_double(st, 3, -1); /* unscored (?2 NULL): after every score */
    }
    sqlite3_bind_text(st, 4, jstr(doc, "office"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, jstr(doc, "org"), -1, SQLITE_STATIC);
    const char *model = json_string_value(json_object_get(risk, "model"));
    if (model)
        sqlite3_bind_text(st, 5, model, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static cx_err svc__decorate(void *ctx, store_conn *rd, int64_t seq, cx_buf *members)
{
    (void)ctx;
    return risk__inspection_decorate(rd, seq, members);
}

static cx_err svc__gate(void *ctx, const decl_gate_call *call, decl_gate_refusal *no)
{
    (void)ctx;
    return risk__release_gate(call, no);
}

/* ---- life cycle ------------------------------------------------------------------------ */

risk_service *risk_service_new(store *s, decl_service *d, const risk_config *cfg)
{
    risk_service *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->s = s;
    r->d = d;
    r->cfg = *cfg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_cond_init(&r->hs_cv, NULL);
    char err[256];
    if (risk_hs_open(&r->hs, err, sizeof err) != CX_OK)
        cx_log(CX_LOG_WARN, "risk: %s: no hs_mismatch reasons, no /v1/hs/search", err);
    else if (d && cfg->score_declarations && !cfg->hs_inline &&
             pthread_create(&r->hs_worker, NULL, svc__hs_worker, r) == 0) {
        r->hs_started = true;
        pthread_setname_np(r->hs_worker, "risk-hs"); /* idle CPU: bench/ingest counts it apart */
    }
    char id[CX_ID_LEN + 1];
    if (svc__active_id(r, id) != CX_OK)
        cx_log(CX_LOG_ERROR, "risk: cannot read the model registry");
    svc__load_active(r, id);
    decl_hooks h = {
        .name = "risk",
        .order = DECL_ORDER_RISK,
        .enrich = cfg->score_declarations ? svc__enrich : NULL,
        .indexed = cfg->score_declarations ? svc__indexed : NULL,
        .decorate = svc__decorate,
        .ctx = r,
    };
    decl_gate g = {.name = "risk.inspection", .order = DECL_GATE_RISK, .check = svc__gate,
                   .ctx = r};
    if (d && (decl_service_add_hooks(d, &h) != CX_OK || decl_gate_add(d, &g) != CX_OK)) {
        cx_log(CX_LOG_ERROR, "risk: cannot join the declarations spine");
        risk_service_free(r);
        return NULL;
    }
    if (cfg->score_declarations && cfg->reload_ms >= 0 &&
        pthread_create(&r->reloader, NULL, svc__reloader, r) == 0)
        r->reloader_started = true;
    return r;
}

void risk_service_stop(risk_service *r)
{
    if (!r)
        return;
    if (r->reloader_started) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->reloader, NULL);
    }
    if (r->hs_started) {
        /* the worker finishes the check under way and skips the rest */
        pthread_mutex_lock(&r->mu);
        r->hs_stop = true;
        pthread_cond_signal(&r->hs_cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->hs_worker, NULL);
    }
    r->reloader_started = r->hs_started = false;
}

void risk_service_free(risk_service *r)
{
    if (!r)
        return;
    risk_service_stop(r);
    pthread_cond_destroy(&r->hs_cv);
    risk_model_free(r->model);
    risk_hs_free(r->hs);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* ---- for risk_http.c ------------------------------------------------------------------------ */

void risk__service_queue_read(risk_service *r, uint64_t vm_steps)
{
    atomic_fetch_add(&r->queue_pages, 1);
    atomic_fetch_add(&r->queue_steps, vm_steps);
}

store *risk__service_store(risk_service *r)
{
    return r->s;
}

decl_service *risk__service_decl(risk_service *r)
{
    return r->d;
}

const risk_config *risk__service_config(risk_service *r)
{
    return &r->cfg;
}

risk_hs_index *risk__service_hs(risk_service *r)
{
    return r->hs;
}

void risk__service_reload(risk_service *r)
{
    char id[CX_ID_LEN + 1];
    if (svc__active_id(r, id) == CX_OK)
        svc__load_active(r, id);
}

/* What is scoring right now: model id or the reason for rules, and lanes. */
json_t *risk__service_status(risk_service *r)
{
    pthread_mutex_lock(&r->mu);
    json_t *o = json_object();
    json_object_set_new(o, "model", r->model ? json_string(r->model->id) : json_null());
    if (!r->model)
        json_object_set_new(o, "rules", json_string(r->model_error));
    json_t *lanes = json_pack("{s:f,s:f,s:f}", "inspect_rate", r->cfg.policy.inspect_rate,
                              "yellow_rate", r->cfg.policy.yellow_rate, "explore_rate",
                              r->cfg.policy.explore_rate);
    if (r->model) {
        json_object_set_new(lanes, "red_threshold",
                            isfinite(r->th.red) ? json_real(r->th.red) : json_null());
        json_object_set_new(lanes, "yellow_threshold",
                            isfinite(r->th.yellow) ? json_real(r->th.yellow) : json_null());
    }
    json_object_set_new(o, "lanes", lanes);
    pthread_mutex_unlock(&r->mu);
    return o;
}

void risk__service_metrics(void *ctx, cx_buf *out)
{
    risk_service *r = ctx;
    static const char *const names[3] = {"green", "yellow", "red"};
    cx_err e = cx_buf_puts(out, "# HELP customs_risk_lane_total Declarations assessed, by "
                                "lane.\n# TYPE customs_risk_lane_total counter\n");
    for (int i = 0; e == CX_OK && i < 3; i++)
        e = cx_buf_printf(out, "customs_risk_lane_total{lane=\"%s\"} %llu\n", names[i],
                          (unsigned long long)atomic_load(&r->lanes[i]));
    if (e == CX_OK)
        e = cx_buf_printf(out,
                  "# HELP customs_risk_explored_total Declarations sent red at random.\n"
                  "# TYPE customs_risk_explored_total counter\n"
                  "customs_risk_explored_total %llu\n"
                  "# HELP customs_risk_rules_total Declarations assessed without a model.\n"
                  "# TYPE customs_risk_rules_total counter\n"
                  "customs_risk_rules_total %llu\n"
                  "# HELP customs_risk_hs_checked_total Item descriptions checked against "
                  "their HS chapter.\n"
                  "# TYPE customs_risk_hs_checked_total counter\n"
                  "customs_risk_hs_checked_total %llu\n"
                  "# HELP customs_risk_hs_mismatch_total Items whose description reads like "
                  "another HS chapter.\n"
                  "# TYPE customs_risk_hs_mismatch_total counter\n"
                  "customs_risk_hs_mismatch_total %llu\n"
                  "# HELP customs_risk_hs_dropped_total Declarations not HS-checked because "
                  "the queue was full.\n"
                  "# TYPE customs_risk_hs_dropped_total counter\n"
                  "customs_risk_hs_dropped_total %llu\n",
                  (unsigned long long)atomic_load(&r->explored),
                  (unsigned long long)atomic_load(&r->rules),
                  (unsigned long long)atomic_load(&r->hs_checked),
                  (unsigned long long)atomic_load(&r->hs_mismatch),
                  (unsigned long long)atomic_load(&r->hs_dropped));
    pthread_mutex_lock(&r->mu);
    bool have = r->model != NULL;
    pthread_mutex_unlock(&r->mu);
    if (e == CX_OK)
        e = cx_buf_printf(out,
                  "# HELP customs_risk_model_loaded 1 if a model scores submissions.\n"
                  "# TYPE customs_risk_model_loaded gauge\n"
                  "customs_risk_model_loaded %d\n"
                  "# HELP customs_risk_assess_seconds Time the risk assessment adds to a "
                  "submission.\n"
                  "# TYPE customs_risk_assess_seconds histogram\n",
                  have ? 1 : 0);
    uint64_t cum = 0;
    for (size_t b = 0; e == CX_OK && b <= NLAT; b++) {
        cum += atomic_load(&r->lat_hist[b]);
        if (b < NLAT)
            e = cx_buf_printf(out, "customs_risk_assess_seconds_bucket{le=\"%g\"} %llu\n",
                          lat_bounds[b] / 1e6, (unsigned long long)cum);
        else
            e = cx_buf_printf(out, "customs_risk_assess_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
    }
    if (e == CX_OK)
        e = cx_buf_printf(out, "customs_risk_assess_seconds_sum %.9f\ncustoms_risk_assess_seconds_count %llu\n",
                  (double)atomic_load(&r->lat_sum_ns) / 1e9,
                  (unsigned long long)atomic_load(&r->lat_count));
    if (e == CX_OK)
        e = cx_buf_printf(out,
                  "# HELP customs_risk_queue_pages_total Pages of the risk queue read.\n"
                  "# TYPE customs_risk_queue_pages_total counter\n"
                  "customs_risk_queue_pages_total %llu\n"
                  "# HELP customs_risk_queue_vm_steps_total SQLite virtual-machine steps those "
                  "pages took (rows walked and not shown count here).\n"
                  "# TYPE customs_risk_queue_vm_steps_total counter\n"
                  "customs_risk_queue_vm_steps_total %llu\n",
                  (unsigned long long)atomic_load(&r->queue_pages),
                  (unsigned long long)atomic_load(&r->queue_steps));
    (void)e; /* a failed buffer answers for itself (GET /metrics) */
}
