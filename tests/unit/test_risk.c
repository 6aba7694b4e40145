/* Unit tests of the risk module: features without leakage, robust unit-value
 * deviations, tables round trip, lanes and exploration (statistically, with a
 * fixed seed), ranking metrics, and the KCS reader's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk.h"

/* Feature columns used below (risk_feature_names is the reference). */
static int col(const char *name)
{
    for (int i = 0; i < RISK_NFEATURES; i++)
        if (strcmp(risk_feature_names[i], name) == 0)
            return i;
    fail_msg("no feature %s", name);
    return -1;
}

static int setup(void **state)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* A synthetic history: few importers, HS codes and routes, so that every key
 * repeats; labels depend on the route and a little noise. */
static const char *const importers[] = {"IMP-A", "IMP-B", "IMP-C", "IMP-D", "IMP-E", "IMP-F"};
static const char *const declarants[] = {"DCL-1", "DCL-2", "DCL-3"};
static const char *const hs[] = {"690722", "392690", "071080", "850440"};
static const char *const countries[] = {"CN", "VN", "JP"};

static risk_case *synthetic(size_t n, uint64_t seed)
{
    risk_case *c = calloc(n, sizeof *c);
    assert_non_null(c);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = risk_splitmix64(&s);
        c[i].reference = "R";
        c[i].office = (r & 1) ? "40" : "20";
        c[i].importer = importers[(r >> 1) % 6];
        c[i].declarant = declarants[(r >> 5) % 3];
        c[i].seller = (r >> 8) % 4 ? "SEL-1" : "";
        c[i].courier = "";
        c[i].hs6 = hs[(r >> 11) % 4];
        c[i].origin = countries[(r >> 14) % 3];
        c[i].departure = countries[(r >> 17) % 3];
        c[i].tax_type = "A";
        c[i].transport = "10";
        c[i].tax_rate = 8;
        c[i].mass = 10 + (double)((r >> 20) % 5) * 10;
        c[i].value = 1000 + (double)((r >> 24) % 7) * 500;
        c[i].day = 18262 + (int32_t)(i / 20); /* 20 per day from 2020-01-01 */
        c[i].group = (int64_t)i + 1;
        c[i].label = (int8_t)((((r >> 11) % 4) == 1) ^ (((r >> 30) % 10) == 0));
    }
    return c;
}

static bool same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* A case's own label never reaches its own training features: flipping it
 * leaves every one of its 46 features bit for bit the same. */
static void test_no_leakage(void **state)
{
    const size_t n = 400;
    risk_case *c = synthetic(n, 7);
    float *base = malloc(n * RISK_NFEATURES * sizeof *base);
    float *flip = malloc(n * RISK_NFEATURES * sizeof *flip);
    assert_int_equal(risk_features_train(c, n, NULL, base), CX_OK);
    uint64_t s = 99;
    for (int t = 0; t < 25; t++) {
        size_t i = risk_splitmix64(&s) % n;
        c[i].label = (int8_t)!c[i].label;
        assert_int_equal(risk_features_train(c, n, NULL, flip), CX_OK);
        for (int f = 0; f < RISK_NFEATURES; f++)
            if (!same_float(base[i * RISK_NFEATURES + f], flip[i * RISK_NFEATURES + f]))
                fail_msg("case %zu: feature %s moved with its own label (%g -> %g)", i,
                         risk_feature_names[f], base[i * RISK_NFEATURES + f],
                         flip[i * RISK_NFEATURES + f]);
        c[i].label = (int8_t)!c[i].label;
    }
    free(base);
    free(flip);
    free(c);
}

/* The encodings do use other declarations' labels: flipping every label of
 * one importer moves the others' te_importer (and the test above is not
 * passing because nothing is encoded). */
static void test_encoding_uses_others(void **state)
{
    const size_t n = 400;
    risk_case *c = synthetic(n, 11);
    float *base = malloc(n * RISK_NFEATURES * sizeof *base);
    float *flip = malloc(n * RISK_NFEATURES * sizeof *flip);
    assert_int_equal(risk_features_train(c, n, NULL, base), CX_OK);
    for (size_t i = 1; i < n; i++)
        if (strcmp(c[i].importer, c[0].importer) == 0)
            c[i].label = (int8_t)!c[i].label;
    assert_int_equal(risk_features_train(c, n, NULL, flip), CX_OK);
    int te = col("te_importer");
    assert_false(same_float(base[te], flip[te]));
    free(base);
    free(flip);
    free(c);
}

/* History counts only earlier days; items of one declaration never see each
 * other as "similar earlier declarations". */
static void test_history_and_own_declaration(void **state)
{
    risk_case c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = (risk_case){.reference = "R", .office = "40", .importer = "IMP", .declarant = "D",
                           .seller = "S", .courier = "", .hs6 = "690722", .origin = "CN",
                           .departure = "CN", .tax_type = "A", .transport = "10",
                           .tax_rate = 8, .mass = 100, .value = 5000, .label = 1};
    }
    c[0].day = 100, c[0].group = 1;
    c[1].day = 101, c[1].group = 2, c[1].label = 0;
    c[2].day = 101, c[2].group = 3;
    c[3].day = 102, c[3].group = 4, c[3].label = 0; /* two items of one declaration */
    c[4].day = 102, c[4].group = 4, c[4].label = 0;
    float x[5 * RISK_NFEATURES];
    assert_int_equal(risk_features_train(c, 5, NULL, x), CX_OK);
    int pn = col("importer_past_n");
    assert_float_equal(x[0 * RISK_NFEATURES + pn], 0, 0);
    assert_float_equal(x[1 * RISK_NFEATURES + pn], 1, 0); /* day 100 only, not its day */
    assert_float_equal(x[2 * RISK_NFEATURES + pn], 1, 0);
    assert_float_equal(x[3 * RISK_NFEATURES + pn], 3, 0);
    /* Declaration 4's items are identical and compliant; the nearest others
     * (groups 1..3, same point) are 2 fraud of 3. */
    int nf = col("nearest_route_fraud"), nd = col("nearest_route_dist");
    assert_float_equal(x[3 * RISK_NFEATURES + nf], 2.0f / 3.0f, 1e-6);
    assert_float_equal(x[3 * RISK_NFEATURES + nd], 0, 0);
}

/* Unit value deviations are robust: one absurd declaration does not move the
 * median or the MAD that everyone else is compared with. */
static void test_robust_deviation(void **state)
{
    enum { N = 21 };
    risk_case c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (risk_case){.reference = "R", .office = "40", .importer = "I", .declarant = "D",
                           .seller = "S", .courier = "", .hs6 = "690722", .origin = "CN",
                           .departure = "CN", .tax_type = "A", .transport = "10",
                           .tax_rate = 8, .mass = 99, .value = 100.0 * (i + 1) - 1,
                           .label = 0, .day = 1, .group = i + 1};
    }
    c[N - 1].value = 1e12; /* the outlier */
    risk_tables *t;
    assert_int_equal(risk_tables_build(c, N, NULL, &t), CX_OK);
    /* log unit value = log1p(v) - log1p(99) = log(100 (i+1)) - log(100) = log(i+1)
     * for i < 20: median of {log 1..log 20, outlier} is log 11, MAD is the
     * median of |log k - log 11| over the 21 values. */
    double dev[N];
    for (int i = 0; i < N; i++)
        dev[i] = fabs((i < N - 1 ? log(i + 1.0) : log1p(1e12) - log1p(99)) - log(11.0));
    for (int i = 0; i < N; i++) /* insertion sort */
        for (int j = i; j > 0 && dev[j] < dev[j - 1]; j--) {
            double tmp = dev[j];
            dev[j] = dev[j - 1];
            dev[j - 1] = tmp;
        }
    double mad = dev[N / 2];
    risk_case q = c[0];
    q.value = 100.0 * 11 - 1; /* exactly at the median */
    float x[RISK_NFEATURES];
    risk_feature_info info;
    risk_features_score(t, &q, x, &info);
    assert_float_equal(x[col("unit_value_dev_hs6")], 0, 1e-6);
    assert_float_equal(info.median_uv[0], 11, 1e-9);
    q.value = 100.0 * 22 - 1; /* twice the median */
    risk_features_score(t, &q, x, NULL);
    assert_float_equal(x[col("unit_value_dev_hs6")], log(2.0) / (1.4826 * mad + 0.05), 1e-5);
    /* and the outlier itself stands far out */
    risk_features_score(t, &c[N - 1], x, NULL);
    assert_true(x[col("unit_value_dev_hs6")] > 10);
    risk_tables_free(t);
}

/* Scoring-time encodings: m-estimate towards the prior; unknown keys give
 * the prior with n = 0; an absent key (no importer) is missing. */
static void test_scoring_encoding(void **state)
{
    const size_t n = 300;
    risk_case *c = synthetic(n, 3);
    risk_feature_opts o = {.smoothing = 2, .folds = 5};
    risk_tables *t;
    assert_int_equal(risk_tables_build(c, n, &o, &t), CX_OK);
    int64_t pos = 0, cnt = 0, all = 0;
    for (size_t i = 0; i < n; i++) {
        all += c[i].label;
        if (strcmp(c[i].importer, "IMP-C") == 0) {
            cnt++;
            pos += c[i].label;
        }
    }
    double prior = (double)all / (double)n;
    risk_case q = c[0];
    q.importer = "IMP-C";
    float x[RISK_NFEATURES];
    risk_features_score(t, &q, x, NULL);
    assert_float_equal(x[col("te_importer")], (pos + 2 * prior) / (cnt + 2.0), 1e-6);
    assert_float_equal(x[col("n_importer")], (double)cnt, 0);
    q.importer = "NEVER-SEEN";
    risk_features_score(t, &q, x, NULL);
    assert_float_equal(x[col("te_importer")], prior, 1e-6);
    assert_float_equal(x[col("n_importer")], 0, 0);
    q.importer = "";
    risk_features_score(t, &q, x, NULL);
    assert_true(isnan(x[col("te_importer")]));
    /* value in another currency: value features are missing, not zero */
    q.value = NAN;
    risk_features_score(t, &q, x, NULL);
    assert_true(isnan(x[col("value_log")]));
    assert_true(isnan(x[col("te_same")]));
    assert_true(isnan(x[col("nearest_route_fraud")]));
    risk_tables_free(t);
    free(c);
}

/* Tables survive their JSON form: the same features after a round trip. */
static void test_tables_round_trip(void **state)
{
    const size_t n = 250;
    risk_case *c = synthetic(n, 5);
    risk_tables *t, *back;
    assert_int_equal(risk_tables_build(c, n, NULL, &t), CX_OK);
    json_t *j = risk_tables_to_json(t);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_t *j2 = json_loads(text, 0, NULL);
    char err[256];
    assert_int_equal(risk_tables_from_json(j2, &back, err, sizeof err), CX_OK);
    for (size_t i = 0; i < n; i += 7) {
        float a[RISK_NFEATURES], b[RISK_NFEATURES];
        risk_features_score(t, &c[i], a, NULL);
        risk_features_score(back, &c[i], b, NULL);
        for (int f = 0; f < RISK_NFEATURES; f++)
            assert_true(same_float(a[f], b[f]));
    }
    /* a broken document is refused with a reason */
    json_object_set_new(j2, "feature_set", json_integer(RISK_FEATURE_SET + 1));
    risk_tables *bad = NULL;
    assert_int_not_equal(risk_tables_from_json(j2, &bad, err, sizeof err), CX_OK);
    assert_non_null(strstr(err, "feature set"));
    json_object_set_new(j2, "feature_set", json_integer(RISK_FEATURE_SET));
    json_object_del(json_object_get(json_object_get(j2, "te"), "route"), "pos");
    assert_int_not_equal(risk_tables_from_json(j2, &bad, err, sizeof err), CX_OK);
    assert_non_null(strstr(err, "route.pos"));
    json_decref(j2);
    free(text);
    risk_tables_free(t);
    risk_tables_free(back);
    free(c);
}

/* ---- lanes -------------------------------------------------------------------- */

static void uniform_quantiles(double *q, size_t nq)
{
    for (size_t i = 0; i < nq; i++)
        q[i] = (double)i / (double)(nq - 1);
}

/* |observed - expected| within 4.5 standard deviations of a binomial. */
static void assert_share(uint64_t k, uint64_t n, double p, const char *what)
{
    double sd = sqrt((double)n * p * (1 - p));
    double dev = fabs((double)k - (double)n * p);
    if (dev > 4.5 * sd + 1)
        fail_msg("%s: %llu of %llu, expected %.1f ± %.1f", what, (unsigned long long)k,
                 (unsigned long long)n, (double)n * p, 4.5 * sd);
}

static void test_lane_thresholds_and_exploration(void **state)
{
    double q[1001];
    uniform_quantiles(q, 1001);
    risk_policy p = {.inspect_rate = 10, .yellow_rate = 15, .explore_rate = 2};
    risk_thresholds t = risk_thresholds_from_quantiles(q, 1001, &p);
    assert_float_equal(t.red, 0.90, 1e-9);
    assert_float_equal(t.yellow, 0.75, 1e-9);
    uint64_t seed = 12345, scores = 777;
    const uint64_t N = 200000;
    uint64_t red = 0, yellow = 0, green = 0, explored = 0, red_by_score = 0;
    for (uint64_t i = 0; i < N; i++) {
        double s = (double)(risk_splitmix64(&scores) >> 11) * 0x1.0p-53;
        bool ex;
        const char *lane = risk_lane_assign(&t, &p, s, risk_splitmix64, &seed, &ex);
        if (ex) {
            explored++;
            assert_string_equal(lane, "red");
            assert_true(s <= 0.75); /* only otherwise-green declarations explore */
        }
        red += strcmp(lane, "red") == 0;
        red_by_score += strcmp(lane, "red") == 0 && !ex;
        yellow += strcmp(lane, "yellow") == 0;
        green += strcmp(lane, "green") == 0;
    }
    assert_int_equal(red + yellow + green, N);
    assert_share(red_by_score, N, 0.10, "red by score");
    assert_share(yellow, N, 0.15, "yellow");
    uint64_t otherwise_green = N - red_by_score - yellow;
    assert_share(explored, otherwise_green, 0.02, "explored among otherwise green");
    /* no exploration asked: none happens */
    p.explore_rate = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        bool ex;
        risk_lane_assign(&t, &p, 0.1, risk_splitmix64, &seed, &ex);
        assert_false(ex);
    }
}

/* A model that scores everything the same (trained on fraud-free data)
 * still sends about inspect_rate % red, by breaking the tie at random. */
static void test_lane_ties(void **state)
{
    double q[1001];
    for (int i = 0; i < 1001; i++)
        q[i] = 0.0421;
    risk_policy p = {.inspect_rate = 10, .yellow_rate = 15, .explore_rate = 0};
    risk_thresholds t = risk_thresholds_from_quantiles(q, 1001, &p);
    uint64_t seed = 4242, red = 0, yellow = 0;
    const uint64_t N = 100000;
    for (uint64_t i = 0; i < N; i++) {
        bool ex;
        const char *lane = risk_lane_assign(&t, &p, 0.0421, risk_splitmix64, &seed, &ex);
        red += strcmp(lane, "red") == 0;
        yellow += strcmp(lane, "yellow") == 0;
    }
    assert_share(red, N, 0.10, "red among ties");
    assert_share(yellow, N, 0.15, "yellow among ties");
    /* inspect everything / nothing */
    p.inspect_rate = 100;
    t = risk_thresholds_from_quantiles(q, 1001, &p);
    bool ex;
    assert_string_equal(risk_lane_assign(&t, &p, 0, risk_splitmix64, &seed, &ex), "red");
    p.inspect_rate = 0;
    p.yellow_rate = 0;
    t = risk_thresholds_from_quantiles(q, 1001, &p);
    assert_string_equal(risk_lane_assign(&t, &p, 1, risk_splitmix64, &seed, &ex), "green");
    /* no distribution at all: nothing red by score */
    t = risk_thresholds_from_quantiles(NULL, 0, &p);
    assert_true(isinf(t.red));
}

/* ---- metrics -------------------------------------------------------------------- */

/* Revenue recovered (DATE): 200 rows, top 1 % = 2 rows, 5 % = 10, 10 % = 20.
 * By probability the top rows are small frauds; by probability × revenue
 * the one large fraud comes first. */
static void test_revenue_recovered(void **state)
{
    (void)state;
    enum { N = 200 };
    float p[N], key[N];
    int8_t y[N];
    double rev[N];
    for (int i = 0; i < N; i++) {
        p[i] = (float)(N - i) / N;     /* row 0 most probable */
        y[i] = (int8_t)(i % 4 == 0);  /* 50 frauds */
        rev[i] = i == 152 ? 1e6 : 100; /* one large fraud, far down by probability */
    }
    double out[3], all;
    risk_revenue_recovered(p, y, rev, N, out, &all);
    assert_float_equal(all, 49 * 100 + 1e6, 1e-6);
    assert_float_equal(out[0], 100, 1e-9);     /* rows 0, 1: one fraud */
    assert_float_equal(out[1], 3 * 100, 1e-9); /* rows 0..9: 0, 4, 8 */
    assert_float_equal(out[2], 5 * 100, 1e-9); /* rows 0..19 */
    for (int i = 0; i < N; i++)
        key[i] = (float)(p[i] * rev[i]);
    risk_revenue_recovered(key, y, rev, N, out, &all);
    assert_true(out[0] >= 1e6); /* the large fraud is in the top 2 */
    risk_revenue_recovered(p, y, rev, 0, out, &all);
    assert_float_equal(out[2] + all, 0, 0);
}

static void test_metrics(void **state)
{
    /* 10 rows, 4 positive; ranks worked by hand. */
    float s[10] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f, 0.05f};
    int8_t y[10] = {1, 1, 0, 1, 0, 0, 1, 0, 0, 0};
    risk_metrics m;
    risk_metrics_compute(s, y, 10, &m);
    /* pairs (pos > neg): 0.9:6, 0.8:6, 0.6:5, 0.3:3 -> 20 of 24 */
    assert_float_equal(m.auc, 20.0 / 24.0, 1e-12);
    assert_int_equal(m.positives, 4);
    assert_float_equal(m.precision_at_10, 1.0, 0); /* top 1 row */
    /* ties share ranks: all equal -> 0.5 */
    float same[4] = {0.3f, 0.3f, 0.3f, 0.3f};
    int8_t y2[4] = {1, 0, 1, 0};
    risk_metrics_compute(same, y2, 4, &m);
    assert_float_equal(m.auc, 0.5, 1e-12);
    /* 1000 rows: top 10 % = 100 rows */
    enum { N = 1000 };
    float *sc = malloc(N * sizeof *sc);
    int8_t *lb = malloc(N);
    for (int i = 0; i < N; i++) {
        sc[i] = (float)(N - i);
        lb[i] = (int8_t)(i < 80 || i % 10 == 0); /* 80 at the top, then every tenth */
    }
    risk_metrics_compute(sc, lb, N, &m);
    assert_float_equal(m.precision_at_1, 1.0, 0);
    assert_float_equal(m.precision_at_5, 1.0, 0);
    assert_float_equal(m.precision_at_10, 82.0 / 100.0, 1e-12);
    uint64_t pos = 0;
    for (int i = 0; i < N; i++)
        pos += lb[i];
    assert_float_equal(m.recall_at_10, 82.0 / (double)pos, 1e-12);
    double pr[100], rc[100], th[100];
    risk_metrics_curve(sc, lb, N, pr, rc, th);
    assert_float_equal(pr[9], m.precision_at_10, 1e-12);
    assert_float_equal(rc[99], 1.0, 1e-12);
    assert_float_equal(th[0], (float)(N - 9), 0);
    /* one class only: AUC undefined */
    memset(lb, 0, N);
    risk_metrics_compute(sc, lb, N, &m);
    assert_true(isnan(m.auc));
    assert_true(isnan(m.recall_at_10));
    free(sc);
    free(lb);
}

/* ---- the KCS reader, through the import seam (dry run) ---------------------------- */

static const char kcs_header[] =
    "Declaration ID,Date,Office ID,Process Type,Import Type,Import Use,Payment Type,"
    "Mode of Transport,Declarant ID,Importer ID,Seller ID,Courier ID,HS6 Code,"
    "Country of Departure,Country of Origin,Tax Rate,Tax Type,Country of Origin Indicator,"
    "Net Mass,Item Price,Fraud,Critical Fraud\n";

static cx_err kcs_dry(const char *text, decl_import_result *res, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)text, strlen(text), "rb");
    assert_non_null(f);
    decl_import_opts o = {.path = "t.csv", .file = f, .dry_run = true, .format = "kcs",
                          .org = "KCS", .quiet = true};
    cx_err e = decl_import(NULL, &o, res, err, errlen);
    fclose(f);
    return e;
}

static void test_kcs_reader(void **state)
{
    assert_int_equal(risk_kcs_register(), CX_OK);
    char buf[4096], err[512] = "";
    decl_import_result res;
    snprintf(buf, sizeof buf,
             "%s97061800,2020-01-01,30,B,11,21,11,10,ZZR1LT6,QLRUBN9,0VKY2BR,,440890,BE,BE,0.0,"
             "FEU1,G,108.0,372254.4,0,0\n"
             "34131149,2020-01-01,20,B,11,21,11,10,1HMVIVH,RZ871V1,,,071080,VN,VN,27.0,A,B,"
             "24000.0,6364800.0,1,2\n",
             kcs_header);
    assert_int_equal(kcs_dry(buf, &res, err, sizeof err), CX_OK);
    assert_int_equal(res.imported, 2);
    assert_int_equal(res.rejected, 0);
    /* a byte order mark and no outcome columns are fine */
    snprintf(buf, sizeof buf, "\xEF\xBB\xBF%.*s\n97061800,2020-01-01,30,B,11,21,11,10,Z,Q,,,"
                              "440890,BE,BE,,FEU1,G,108.0,372254.4\n",
             (int)(strstr(kcs_header, ",Fraud") - kcs_header), kcs_header);
    assert_int_equal(kcs_dry(buf, &res, err, sizeof err), CX_OK);
    assert_int_equal(res.imported, 1);
    /* bad rows: skipped, the rest imported */
    snprintf(buf, sizeof buf,
             "%s1,2020-01-01,30,B,11,21,11,10,Z,Q,,,71080,BE,BE,0,A,G,1,1,0,0\n"
             "2,2020-02-30,30,B,11,21,11,10,Z,Q,,,440890,BE,BE,0,A,G,1,1,0,0\n"
             "3,2020-01-01,30,B,11,21,11,10,Z,Q,,,440890,BE,BE,0,A,G,1,1,2,0\n"
             "4,2020-01-01,30,B,11,21,11,10,Z,Q,,,440890,BE,BE,0,A,G,heavy,1,0,0\n"
             "5,2020-01-01,30,B,11,21,11,10,Z,Q,,,440890,BE,BE,0,A,G,1,1,0,2\n"
             "6,2020-01-01,30,B,11,21,11,10,Z,Q,,,440890,BE,BE,0,A,G,1,1,0,0\n",
             kcs_header);
    assert_int_equal(kcs_dry(buf, &res, err, sizeof err), CX_OK);
    assert_int_equal(res.imported, 1);
    assert_int_equal(res.rejected, 5);
    /* a wrong header stops the read and names the column */
    assert_int_equal(kcs_dry("Declaration ID,Date,Office,HS6 Code\n1,2020-01-01,30,440890\n",
                             &res, err, sizeof err),
                     CX_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    assert_non_null(strstr(err, "\"Office\""));
    snprintf(buf, sizeof buf, "%s", kcs_header);
    char *hs_col = strstr(buf, "HS6 Code,");
    memmove(hs_col, hs_col + 9, strlen(hs_col + 9) + 1); /* drop the HS6 Code column */
    assert_int_equal(kcs_dry(buf, &res, err, sizeof err), CX_EINVAL);
    assert_non_null(strstr(err, "\"HS6 Code\" is missing"));
    assert_int_equal(kcs_dry("", &res, err, sizeof err), CX_EINVAL);
    assert_non_null(strstr(err, "empty"));
}

/* The HS search ranks each description of the ranking set
 * (tests/unit/data/hs-ranking.tsv) with the expected subheadings first. */
static void test_hs_ranking(void **state)
{
    char err[256];
    risk_hs_index *ix = NULL;
    assert_int_equal(risk_hs_open(&ix, err, sizeof err), CX_OK);
    FILE *f = fopen(CUSTOMS_TEST_DATA "/hs-ranking.tsv", "r");
    assert_non_null(f);
    char line[512];
    int cases = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = '\0';
        const char *want = tab + 1;
        size_t k = 1;
        for (const char *c = want; *c; c++)
            k += *c == ',';
        risk_hs_hit hits[8];
        size_t n = 0;
        assert_true(k <= 8);
        assert_int_equal(risk_hs_search(ix, line, hits, k, &n), CX_OK);
        bool ok = n == k;
        for (size_t i = 0; ok && i < n; i++)
            ok = strstr(want, hits[i].code) != NULL;
        if (!ok) {
            fprintf(stderr, "hs search \"%s\": expected %s first, got", line, want);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %s", hits[i].code);
            fprintf(stderr, "\n");
            failed++;
        }
        cases++;
    }
    fclose(f);
    risk_hs_free(ix);
    assert_true(cases >= 20);
    assert_int_equal(failed, 0);
}

/* Words said in the negative do not count for a subheading, and state words
 * pick among the goods the other words find. */
static void test_hs_reading(void **state)
{
    char err[256];
    risk_hs_index *ix = NULL;
    assert_int_equal(risk_hs_open(&ix, err, sizeof err), CX_OK);
    risk_hs_hit hits[10];
    size_t n = 0;
    /* 0304.52 is "Fish meat, excluding fillets": not fillets */
    assert_int_equal(risk_hs_search(ix, "salmon fillets", hits, 10, &n), CX_OK);
    assert_true(n == 10);
    for (size_t i = 0; i < 2; i++)
        assert_string_not_equal(hits[i].code, "030452");
    /* the scores are in rank order, and a state word alone still searches */
    for (size_t i = 1; i < n; i++)
        assert_true(hits[i - 1].score >= hits[i].score);
    assert_int_equal(risk_hs_search(ix, "frozen", hits, 3, &n), CX_OK);
    assert_int_equal(n, 3);
    /* a query of negations only finds nothing rather than anything */
    assert_int_equal(risk_hs_search(ix, "not roasted", hits, 3, &n), CX_OK);
    assert_int_equal(n, 0);
    /* 999999 is not in the nomenclature the index is built from */
    assert_int_equal(risk_hs_search(ix, "commodities not specified according to kind", hits, 10,
                                    &n), CX_OK);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(hits[i].code, "999999");
    risk_hs_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_leakage),
        cmocka_unit_test(test_encoding_uses_others),
        cmocka_unit_test(test_history_and_own_declaration),
        cmocka_unit_test(test_robust_deviation),
        cmocka_unit_test(test_scoring_encoding),
        cmocka_unit_test(test_tables_round_trip),
        cmocka_unit_test(test_lane_thresholds_and_exploration),
        cmocka_unit_test(test_lane_ties),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_revenue_recovered),
        cmocka_unit_test(test_kcs_reader),
        cmocka_unit_test(test_hs_ranking),
        cmocka_unit_test(test_hs_reading),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
