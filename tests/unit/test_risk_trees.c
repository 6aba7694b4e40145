/* The flattened trees (src/risk/trees.c) against XGBoost itself: the same
 * probabilities and the same SHAP contributions, bit for bit, on rows that
 * sit on, just below and just above the model's own split values and that
 * miss features, for the model `customs risk train` makes (100 trees of
 * depth 3: each tree's SHAP values kept for every way through it) and for a
 * deep one (depth 8, features repeated along a path: most trees walked).
 * The test compares the hand-written piece with the library it replaces on
 * the submission path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

#include "risk.h"

#define ROWS 3000
#define CUTS 64

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", CUSTOMS_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

typedef struct {
    float v[RISK_NFEATURES][CUTS];
    int n[RISK_NFEATURES];
} cuts;

/* Every split value of the model, by feature. */
static void model_cuts(const char *json, size_t len, cuts *c)
{
    memset(c, 0, sizeof *c);
    json_t *root = json_loadb(json, len, 0, NULL);
    assert_non_null(root);
    json_t *trees = json_object_get(
        json_object_get(json_object_get(json_object_get(root, "learner"), "gradient_booster"),
                        "model"),
        "trees");
    size_t i, k;
    json_t *t;
    json_array_foreach(trees, i, t)
    {
        json_t *left = json_object_get(t, "left_children");
        for (k = 0; k < json_array_size(left); k++) {
            if (json_integer_value(json_array_get(left, k)) < 0)
                continue;
            int f = (int)json_integer_value(json_array_get(json_object_get(t, "split_indices"), k));
            float v = (float)json_number_value(
                json_array_get(json_object_get(t, "split_conditions"), k));
            if (c->n[f] < CUTS)
                c->v[f][c->n[f]++] = v;
        }
    }
    json_decref(root);
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Rows that go both ways at many splits, and the default way at others. */
static void rows(const cuts *c, float *x, size_t n)
{
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (size_t r = 0; r < n; r++)
        for (int f = 0; f < RISK_NFEATURES; f++) {
            float *v = &x[r * RISK_NFEATURES + f];
            uint64_t pick = next(&s) % 8;
            if (pick == 0) {
                *v = NAN;
            } else if (pick == 1 || c->n[f] == 0) {
                *v = (float)(next(&s) % 2001) / 100.0f - 10.0f;
            } else {
                float cut = c->v[f][next(&s) % (uint64_t)c->n[f]];
                *v = pick < 4   ? cut
                     : pick < 6 ? nextafterf(cut, -INFINITY)
                                : nextafterf(cut, INFINITY);
            }
        }
}

static void same_as_xgboost(const char *name)
{
    size_t len;
    char *json = slurp(name, &len);
    risk_trees *t = NULL;
    assert_int_equal(risk_trees_load(json, len, &t), CX_OK);
    BoosterHandle b;
    assert_int_equal(XGBoosterCreate(NULL, 0, &b), 0);
    assert_int_equal(XGBoosterLoadModelFromBuffer(b, json, len), 0);
    assert_int_equal(XGBoosterSetParam(b, "nthread", "1"), 0);
    cuts *c = malloc(sizeof *c);
    float *x = malloc(ROWS * RISK_NFEATURES * sizeof *x);
    assert_true(c && x);
    model_cuts(json, len, c);
    rows(c, x, ROWS);

    /* probabilities */
    char arr[160];
    snprintf(arr, sizeof arr,
             "{\"data\":[%llu,true],\"shape\":[%d,%d],\"typestr\":\"<f4\",\"version\":3}",
             (unsigned long long)(uintptr_t)x, ROWS, RISK_NFEATURES);
    const bst_ulong *shape;
    bst_ulong dim;
    const float *lib;
    assert_int_equal(XGBoosterPredictFromDense(b, arr,
                                               "{\"type\":0,\"training\":false,"
                                               "\"iteration_begin\":0,\"iteration_end\":0,"
                                               "\"strict_shape\":false,\"missing\":NaN,"
                                               "\"cache_id\":0}",
                                               NULL, &shape, &dim, &lib),
                     0);
    float *mine = malloc(ROWS * sizeof *mine);
    risk_trees_predict(t, x, ROWS, mine);
    size_t differ = 0, both = 0;
    for (size_t r = 0; r < ROWS; r++) {
        differ += memcmp(&mine[r], &lib[r], sizeof *mine) != 0;
        both += lib[r] > 0.05f && lib[r] < 0.95f; /* the rows are not all one-sided */
    }
    assert_int_equal(differ, 0);
    assert_true(both > ROWS / 20);

    /* contributions */
    DMatrixHandle dm;
    assert_int_equal(XGDMatrixCreateFromMat(x, ROWS, RISK_NFEATURES, NAN, &dm), 0);
    assert_int_equal(XGBoosterPredictFromDMatrix(b, dm,
                                                 "{\"type\":2,\"training\":false,"
                                                 "\"iteration_begin\":0,\"iteration_end\":0,"
                                                 "\"strict_shape\":false}",
                                                 &shape, &dim, &lib),
                     0);
    float contrib[RISK_NFEATURES + 1];
    size_t nonzero = 0;
    for (size_t r = 0; r < ROWS; r++) {
        risk_trees_explain(t, x + r * RISK_NFEATURES, contrib);
        const float *want = lib + r * (RISK_NFEATURES + 1);
        for (int f = 0; f <= RISK_NFEATURES; f++) {
            if (memcmp(&contrib[f], &want[f], sizeof contrib[f]) != 0)
                fail_msg("%s row %zu feature %d: %.9g here, %.9g from XGBoost", name, r, f,
                         (double)contrib[f], (double)want[f]);
            nonzero += f < RISK_NFEATURES && want[f] != 0;
        }
    }
    assert_true(nonzero > ROWS); /* the reasons are not all empty */
    XGDMatrixFree(dm);
    XGBoosterFree(b);
    risk_trees_free(t);
    free(mine);
    free(x);
    free(c);
    free(json);
}

static void test_trees_match_xgboost(void **state)
{
    (void)state;
    same_as_xgboost("risk-booster.json");
}

static void test_deep_trees_match_xgboost(void **state)
{
    (void)state;
    same_as_xgboost("risk-booster-deep.json");
}

/* What the flattened trees do not cover is refused, so the model keeps
 * XGBoost's own predictor: another objective, a categorical split, a
 * child that points backwards (a cycle), a node with two parents (walks
 * that would double at each level), a corrupt document. */
static void test_unknown_models_keep_the_library(void **state)
{
    (void)state;
    size_t len;
    char *json = slurp("risk-booster.json", &len);
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *learner = json_object_get(root, "learner");
    json_t *tree0 = json_array_get(
        json_object_get(json_object_get(json_object_get(learner, "gradient_booster"), "model"),
                        "trees"),
        0);
    risk_trees *t = NULL;
    struct {
        json_t *where;
        const char *key;
        size_t index;
        json_t *value;
    } edits[] = {
        {json_object_get(learner, "objective"), "name", 0, json_string("reg:squarederror")},
        {tree0, "split_type", 0, json_integer(1)},
        {tree0, "left_children", 0, json_integer(0)},
        {tree0, "right_children", 0, json_integer(1)}, /* both children of the root: node 1 */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        json_t *copy = json_deep_copy(root);
        json_t *where = edits[i].where == tree0
                            ? json_array_get(
                                  json_object_get(
                                      json_object_get(
                                          json_object_get(json_object_get(copy, "learner"),
                                                          "gradient_booster"),
                                          "model"),
                                      "trees"),
                                  0)
                            : json_object_get(json_object_get(copy, "learner"), "objective");
        json_t *member = json_object_get(where, edits[i].key);
        if (json_is_array(member))
            json_array_set(member, edits[i].index, edits[i].value);
        else
            json_object_set(where, edits[i].key, edits[i].value);
        char *text = json_dumps(copy, JSON_COMPACT);
        assert_int_equal(risk_trees_load(text, strlen(text), &t), CX_EUNAVAIL);
        assert_null(t);
        free(text);
        json_decref(copy);
        json_decref(edits[i].value);
    }
    assert_int_equal(risk_trees_load("{\"learner\":", 11, &t), CX_EUNAVAIL);
    assert_int_equal(risk_trees_load(json, len, &t), CX_OK);
    risk_trees_free(t);
    risk_trees_free(NULL);
    json_decref(root);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trees_match_xgboost),
        cmocka_unit_test(test_deep_trees_match_xgboost),
        cmocka_unit_test(test_unknown_models_keep_the_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
