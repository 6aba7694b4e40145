/* bench_risk_latency: what the risk assessment adds to a declaration
 * submission. Runs the enrich hook's own code (risk_service_assess: features,
 * prediction, SHAP reasons, lane, rules) on declarations built from a KCS file
 * and prints p50/p90/p99 in microseconds. Also times the HS check of an item
 * description (the bm25 search behind hs_mismatch), which runs after the
 * write on a worker thread and so adds nothing to the submission.
 *
 * Usage: bench_risk_latency DB KCS.csv [N]   (DB with an active model) */
#include "declare.h"
#include "risk.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DOCS 20000

typedef struct {
    json_t *docs[MAX_DOCS];
    size_t n, want;
    bool header;
} rows;

static bool row_cb(void *ctx, char **f, size_t n, uint64_t line, uint64_t offset)
{
    rows *r = ctx;
    (void)line;
    (void)offset;
    if (!r->header) {
        r->header = true;
        return true;
    }
    if (n < 20 || r->n >= r->want)
        return r->n < r->want;
    json_t *item = json_pack("{s:s,s:s,s:s,s:f,s:f,s:s,s:f,s:s}", "hs_code", f[12],
                             "country_of_origin", f[14], "origin_indicator", f[17],
                             "net_mass_kg", atof(f[18]), "value", atof(f[19]), "currency", "KRW",
                             "tax_rate", atof(f[15]), "tax_type", f[16]);
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:[o]}",
                            "reference", f[0], "type", "import", "date", f[1], "office", f[2],
                            "declarant_id", f[8], "importer_id", f[9], "country_of_departure",
                            f[13], "transport_mode", f[7], "procedure", "process_type", f[3],
                            "import_type", f[4], "import_use", f[5], "payment_type", f[6],
                            "items", item);
    if (f[10][0])
        json_object_set_new(doc, "seller_id", json_string(f[10]));
    r->docs[r->n++] = doc;
    return true;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The same sequence for every service: lanes drawn at random (exploration,
 * ties) come out alike, so two services' answers can be compared whole. */
static uint64_t fixed_rng(void *ctx)
{
    uint64_t *s = ctx;
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return *s >> 11;
}

static void measure(risk_service *svc, uint64_t *rng, json_t **docs, size_t n, const char *label,
                    json_t **answers)
{
    int64_t *t = malloc(n * sizeof *t);
    for (size_t i = 0; i < 200 && i < n; i++) /* warm caches */
        json_decref(risk_service_assess(svc, docs[i]));
    *rng = 42;
    int64_t c0 = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        json_t *risk = risk_service_assess(svc, docs[i]);
        t[i] = now_ns() - t0;
        if (answers && !answers[i])
            answers[i] = risk;
        else
            json_decref(risk);
    }
    int64_t cpu = cpu_ns() - c0;
    qsort(t, n, sizeof *t, cmp_i64);
    printf("risk latency %-28s n=%zu p50=%.1f us p90=%.1f us p99=%.1f us, CPU %.1f us each\n",
           label, n, (double)t[n / 2] / 1e3, (double)t[n * 9 / 10] / 1e3,
           (double)t[n * 99 / 100] / 1e3, (double)cpu / 1e3 / (double)n);
    free(t);
}

/* The flattened trees against XGBoost's predictor, alternating A B A B in
 * one run, and whether every answer (score, lane, reasons) is the same. */
static void compare(store *s, json_t **docs, size_t n, const char *what)
{
    uint64_t rng[2];
    risk_service *svc[2];
    json_t **answers[2];
    for (int k = 0; k < 2; k++) {
        risk_config cfg = {.policy = {10, 15, 2}, .score_declarations = true, .reload_ms = -1,
                           .quiet = true, .rng = fixed_rng, .rng_ctx = &rng[k],
                           .xgboost_predictor = k == 1};
        svc[k] = risk_service_new(s, NULL, &cfg);
        answers[k] = calloc(n, sizeof(json_t *));
    }
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 2; k++) {
            char label[64];
            snprintf(label, sizeof label, "%s, %s", what, k ? "XGBoost" : "flat trees");
            measure(svc[k], &rng[k], docs, n, label, answers[k]);
        }
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        same += json_equal(answers[0][i], answers[1][i]);
        json_decref(answers[0][i]);
        json_decref(answers[1][i]);
    }
    printf("risk answers %-28s %zu of %zu identical (score, lane, reasons)\n", what, same, n);
    for (int k = 0; k < 2; k++) {
        free(answers[k]);
        risk_service_free(svc[k]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_risk_latency DB KCS.csv [N]\n");
        return 2;
    }
    char err[512];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    store *s = NULL;
    if (store_open(argv[1], &s, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rows *r = calloc(1, sizeof *r);
    r->want = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 5000;
    if (r->want > MAX_DOCS)
        r->want = MAX_DOCS;
    FILE *f = fopen(argv[2], "rb");
    uint64_t line;
    if (!f || cx_csv_read(f, 4096, row_cb, r, &line) != CX_OK || r->n == 0) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    risk_config cfg = {.policy = {10, 15, 2}, .score_declarations = true, .reload_ms = -1,
                       .quiet = true};
    risk_service *svc = risk_service_new(s, NULL, &cfg);
    json_t *probe = risk_service_assess(svc, r->docs[0]);
    if (json_is_null(json_object_get(probe, "model"))) {
        fprintf(stderr, "no active model in %s\n", argv[1]);
        return 1;
    }
    json_decref(probe);
    compare(s, r->docs, r->n, "(1 item)");
    /* declarations of three items: the probabilities of all three, then the
     * reasons of the riskiest */
    size_t n3 = r->n / 3;
    json_t **multi = malloc(n3 * sizeof *multi);
    for (size_t i = 0; i < n3; i++) {
        multi[i] = json_deep_copy(r->docs[3 * i]);
        json_t *items = json_object_get(multi[i], "items");
        for (size_t k = 1; k < 3; k++)
            json_array_extend(items, json_object_get(r->docs[3 * i + k], "items"));
    }
    compare(s, multi, n3, "(3 items)");
    for (size_t i = 0; i < n3; i++)
        json_decref(multi[i]);
    free(multi);
    /* Descriptions as traders write them vary: take the first words of each
     * item's own HS subheading text. */
    risk_hs_index *ix = NULL;
    if (risk_hs_open(&ix, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int64_t *t = malloc(r->n * sizeof *t);
    for (size_t i = 0; i < r->n; i++) {
        json_t *item = json_array_get(json_object_get(r->docs[i], "items"), 0);
        const decl_hs_entry *h = decl_hs_find(json_string_value(json_object_get(item, "hs_code")));
        char text[80];
        snprintf(text, sizeof text, "%s", h ? h->description : "assorted goods in cartons");
        char *cut = text;
        for (int w = 0; w < 5 && cut; w++)
            cut = strchr(cut + 1, ' ');
        if (cut)
            *cut = '\0';
        risk_hs_hit hits[10];
        size_t nh;
        int64_t t0 = now_ns();
        risk_hs_search(ix, text, hits, 10, &nh);
        t[i] = now_ns() - t0;
    }
    qsort(t, r->n, sizeof *t, cmp_i64);
    printf("risk latency %-18s n=%zu p50=%.1f us p90=%.1f us p99=%.1f us (after the write, "
           "not in the submission)\n",
           "(HS check, 1 item)", r->n, (double)t[r->n / 2] / 1e3, (double)t[r->n * 9 / 10] / 1e3,
           (double)t[r->n * 99 / 100] / 1e3);
    free(t);
    risk_hs_free(ix);
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->docs[i]);
    free(r);
    risk_service_free(svc);
    store_free(s);
    return 0;
}
