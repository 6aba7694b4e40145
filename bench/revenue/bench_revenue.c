/* bench_revenue: what the revenue module adds to a durable declaration
 * submission, with a 20,000-line tariff.
 *
 * One database, two declaration services on it: A with the revenue hooks
 * (assessment at enrich, kept with the declaration; the service's worker
 * derives the assessment rows and valuation statistics in batches, and its
 * CPU is counted), B without. Submissions alternate A, B, A, B… so that
 * both see the same disk, cache and neighbours; each is durable (fsynced)
 * before the next. Printed: p50/p90 of both, the p50 difference (the
 * figure the issue bounds at 30 µs), and the assessment's own time from
 * the JSON text (the exact-decimal path HTTP submissions take): as a tree
 * (re-assessments, the API) and with the texts and record a submission
 * writes straight from its result.
 *
 * Usage: bench_revenue DIR [N]   (N submissions per side, default 2000) */
#include "declare.h"
#include "revenue.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define TARIFF_LINES 20000
#define HOT_CODES 300 /* distinct HS-6 codes declared: statistics fill up */

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

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A tariff of 20,000 lines: every HS 2022 heading and subheading, then
 * national 8-digit lines under subheadings, every duty type. */
static char *tariff_csv(char codes[][11], size_t *ncodes, size_t *nlines)
{
    size_t cap = (size_t)TARIFF_LINES * 96 + 4096, len = 0, lines = 0, six = 0;
    char *csv = malloc(cap);
    len += (size_t)snprintf(csv, cap, "hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,"
                                      "specific_amount,specific_unit,excise_pct,vat_pct\n");
    for (int pass = 0; pass < 4 && lines < TARIFF_LINES; pass++) {
        for (size_t i = 0; i < decl_hs_count() && lines < TARIFF_LINES; i++) {
            const decl_hs_entry *e = decl_hs_at(i);
            if (pass == 0 ? (e->level != 4 && e->level != 6) : e->level != 6)
                continue;
            char code[11];
            snprintf(code, sizeof code, pass ? "%s%02d" : "%s", e->code, pass * 10);
            unsigned adv = (unsigned)(rnd() % 14);
            const char *excise = rnd() % 10 == 0 ? "5" : "";
            switch (rnd() % 6) {
            case 0:
                len += (size_t)snprintf(csv + len, cap - len,
                                        "%s,2020-01-01,,compound,%u,120,KGM,%s,10\n", code, adv,
                                        excise);
                break;
            case 1:
                len += (size_t)snprintf(csv + len, cap - len,
                                        "%s,2020-01-01,,max_of,%u,120,KGM,%s,10\n", code, adv,
                                        excise);
                break;
            case 2:
                len += (size_t)snprintf(csv + len, cap - len,
                                        "%s,2020-01-01,,specific,,120,KGM,%s,10\n", code, excise);
                break;
            default:
                len += (size_t)snprintf(csv + len, cap - len,
                                        "%s,2020-01-01,,ad_valorem,%u,,,%s,10\n", code, adv,
                                        excise);
            }
            lines++;
            if (e->level == 6 && pass == 0 && six < HOT_CODES && rnd() % 8 == 0)
                snprintf(codes[six++], 11, "%s", e->code);
        }
    }
    *ncodes = six;
    *nlines = lines;
    return csv;
}

static cx_err load(store *s, rev_import_kind kind, const char *csv)
{
    FILE *f = fmemopen((void *)csv, strlen(csv), "rb");
    rev_rows *rows = NULL;
    json_t *problems = json_array();
    cx_err e = rev_rows_parse(kind, f, &rows, problems, NULL);
    fclose(f);
    rev_import_result res;
    if (e == CX_OK)
        e = rev_rows_store(s, rows, "bench", &res, problems);
    if (e != CX_OK) {
        char *t = json_dumps(problems, 0);
        fprintf(stderr, "bench_revenue: import: %s %s\n", cx_strerror(e), t ? t : "");
        free(t);
    }
    rev_rows_free(rows);
    json_decref(problems);
    return e;
}

static json_t *make_decl(size_t k, char codes[][11], size_t ncodes, char **text)
{
    static const char *const cur[] = {"USD", "USD", "EUR", "KRW"};
    static const char *const origin[] = {"CN", "VN", "US", "DE", "JP"};
    json_t *items = json_array();
    size_t n = 1 + rnd() % 5;
    for (size_t i = 0; i < n; i++) {
        char value[32], mass[32];
        double v = 100 + (double)(rnd() % 5000000) / 100.0;
        snprintf(value, sizeof value, "%.2f", v);
        snprintf(mass, sizeof mass, "%llu.5", (unsigned long long)(1 + rnd() % 3000));
        json_array_append_new(
            items, json_pack("{s:s,s:s,s:f,s:f,s:s,s:s}", "hs_code",
                             codes[rnd() % ncodes], "country_of_origin", origin[rnd() % 5],
                             "net_mass_kg", strtod(mass, NULL), "value", strtod(value, NULL),
                             "currency", cur[rnd() % 4], "unit", "NAR"));
        if (rnd() % 10 == 0) /* a few traders state their own rate */
            json_object_set_new(json_array_get(items, i), "tax_rate", json_real(8.0));
    }
    char ref[32];
    snprintf(ref, sizeof ref, "B-%zu", k);
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "reference", ref, "type",
                            "import", "date", "2026-10-01", "office", "KRPUS", "declarant_id",
                            "DCL-1", "importer_id", "IMP-1", "exporter_id", "EXP-1", "items",
                            items);
    if (text)
        *text = cx_json_dump(doc, NULL);
    return doc;
}

/* ---- rounds of group-committed submissions ---- */
typedef struct {
    atomic_size_t left;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} round_wait;

static void round_done(void *arg, cx_err result, json_t *doc)
{
    round_wait *w = arg;
    (void)result;
    json_decref(doc);
    if (atomic_fetch_sub(&w->left, 1) == 1) {
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* CPU time of the whole process (every thread: submitter, writer, the
 * statistics worker), in ns: unlike wall time, it does not grow with the
 * other processes sharing the machine. */
static int64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* CPU time of the calling thread (the submitting one), in ns. */
static int64_t thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Submits docs[0..n) asynchronously (many per fsync, as under load) and
 * returns the wall time until the last is durable. */
static int64_t round_run(decl_service *d, const cx_principal *who, json_t **docs, size_t n)
{
    round_wait w;
    atomic_init(&w.left, n);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        if (decl_store_async(d, who, docs[i], round_done, &w) != CX_OK)
            round_done(&w, CX_ESHUTDOWN, docs[i]);
    pthread_mutex_lock(&w.mu);
    while (atomic_load(&w.left))
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return now_ns() - t0;
}

static void pcts(const char *label, int64_t *t, size_t n, double *p50)
{
    qsort(t, n, sizeof *t, cmp_i64);
    *p50 = (double)t[n / 2] / 1e3;
    printf("revenue %-44s n=%zu p50=%.1f us p90=%.1f us p99=%.1f us\n", label, n, *p50,
           (double)t[n * 9 / 10] / 1e3, (double)t[n * 99 / 100] / 1e3);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_revenue DIR [N]\n");
        return 2;
    }
    size_t n = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 2000;
    char err[512], path[1024];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK ||
        rev_minor_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "bench_revenue: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/bench.db", argv[1]);
    store *s = NULL;
    if (store_open(path, &s, err, sizeof err) != CX_OK ||
        decl_migrate(s, err, sizeof err) != CX_OK || rev_migrate(s, err, sizeof err) != CX_OK) {
        fprintf(stderr, "bench_revenue: %s\n", err);
        return 1;
    }
    static char codes[HOT_CODES][11];
    size_t ncodes = 0, nlines = 0;
    char *csv = tariff_csv(codes, &ncodes, &nlines);
    if (load(s, REV_IMPORT_TARIFF, csv) != CX_OK ||
        load(s, REV_IMPORT_RATES, "date,currency,rate\n2026-01-02,USD,1380.10\n"
                                  "2026-01-02,EUR,1495.55\n") != CX_OK)
        return 1;
    free(csv);
    decl_service *with = decl_service_new(s), *without = decl_service_new(s);
    rev_config cfg = {.currency = "KRW"};
    rev_service *rev = NULL;
    if (rev_service_new(s, with, &cfg, &rev, err, sizeof err) != CX_OK) {
        fprintf(stderr, "bench_revenue: %s\n", err);
        return 1;
    }
    cx_principal who = {.key_id = 1, .role = CX_ROLE_TRADER};
    snprintf(who.org, sizeof who.org, "BENCH");
    /* history first, so valuation control has statistics to read */
    size_t k = 0;
    for (size_t i = 0; i < 3000; i++) {
        json_t *doc = make_decl(k++, codes, ncodes, NULL);
        decl_store_one(with, &who, doc, NULL);
        json_decref(doc);
    }
    /* the history's rows and statistics, derived and folded now */
    if (rev_service_catch_up(rev) != CX_OK)
        return 1;
    /* the assessment alone, from the JSON text */
    int64_t *ta = malloc(n * sizeof *ta), *tw = malloc(n * sizeof *tw),
            *to = malloc(n * sizeof *to), *xw = malloc(n * sizeof *xw),
            *xo = malloc(n * sizeof *xo), *sw = malloc(n * sizeof *sw),
            *so = malloc(n * sizeof *so), *td = malloc(n * sizeof *td),
            *tk = malloc(n * sizeof *tk);
    char **kept = malloc(n * sizeof *kept);
    for (size_t i = 0; i < n; i++) {
        char *text;
        json_t *doc = make_decl(k++, codes, ncodes, &text);
        json_object_set_new(doc, "id", json_string("01BENCH"));
        int64_t t0 = now_ns();
        json_t *a = rev_service_assess(rev, doc, text, strlen(text));
        ta[i] = now_ns() - t0;
        json_decref(a);
        /* the path of CSV rows and of the group-committed rounds below:
         * no text, numbers from jansson's doubles */
        t0 = now_ns();
        a = rev_service_assess(rev, doc, NULL, 0);
        td[i] = now_ns() - t0;
        json_decref(a);
        /* what a submission makes: the assessment with its texts and record */
        char *full, *shown, *record;
        t0 = now_ns();
        cx_err ke = rev_service_assess_kept(rev, doc, text, strlen(text), &full, &shown, &record);
        tk[i] = now_ns() - t0;
        if (ke != CX_OK)
            return 1;
        kept[i] = full; /* the stored (compact) member, for the reads below */
        free(shown);
        free(record);
        json_decref(doc);
        free(text);
    }
    /* a read's expansion of the stored member (every GET, list, export):
     * the compact member against a full-form one passed through (its line
     * references stay ids here: the line texts are copied alike in both) */
    int64_t *te = malloc(5 * n * sizeof *te), *tp = malloc(5 * n * sizeof *tp);
    char **wide = malloc(n * sizeof *wide);
    size_t bytes_c = 0, bytes_w = 0;
    cx_buf eb;
    cx_buf_init(&eb, (size_t)1 << 24);
    for (size_t i = 0; i < n; i++) {
        cx_buf_reset(&eb);
        if (rev_member_expand(kept[i], strlen(kept[i]), &eb) != CX_OK ||
            cx_buf_puts(&eb, "") != CX_OK || !(wide[i] = strdup(eb.data)))
            return 1;
        bytes_c += strlen(kept[i]);
        bytes_w += strlen(wide[i]);
    }
    for (size_t r = 0; r < 5; r++)
        for (size_t i = 0; i < n; i++) {
            cx_buf_reset(&eb);
            int64_t t0 = now_ns();
            cx_err e1 = rev_member_expand(kept[i], strlen(kept[i]), &eb);
            int64_t t1 = now_ns();
            cx_buf_reset(&eb);
            cx_err e2 = rev_member_expand(wide[i], strlen(wide[i]), &eb);
            te[r * n + i] = t1 - t0;
            tp[r * n + i] = now_ns() - t1;
            if (e1 != CX_OK || e2 != CX_OK)
                return 1;
        }
    cx_buf_free(&eb);
    for (size_t i = 0; i < n; i++) {
        free(kept[i]);
        free(wide[i]);
    }
    free(kept);
    free(wide);
    /* durable submissions, alternating with and without the module, each
     * with its JSON text as POST /v1/declarations has it */
    for (size_t i = 0; i < 2 * n; i++) {
        char *text;
        json_t *doc = make_decl(k++, codes, ncodes, &text);
        /* with the reply's text, which POST /v1/declarations answers 201 with */
        char *reply = NULL;
        int64_t c0 = cpu_ns(), s0 = thread_ns(), t0 = now_ns();
        cx_err e =
            decl_store_text(i % 2 ? without : with, &who, doc, text, strlen(text), &reply);
        int64_t dt = now_ns() - t0;
        (i % 2 ? xo : xw)[i / 2] = cpu_ns() - c0;
        (i % 2 ? so : sw)[i / 2] = thread_ns() - s0;
        json_decref(doc);
        free(text);
        free(reply);
        if (e != CX_OK) {
            fprintf(stderr, "bench_revenue: submission failed: %s\n", cx_strerror(e));
            return 1;
        }
        (i % 2 ? to : tw)[i / 2] = dt;
    }
    /* the same in rounds of 250 group-committed submissions, alternating */
    enum { ROUNDS = 12, PER = 250 };
    int64_t rw[ROUNDS], ro[ROUNDS], cw[ROUNDS], co[ROUNDS], kw[ROUNDS], ko[ROUNDS];
    static json_t *docs[PER];
    for (int r = 0; r < 2 * ROUNDS; r++) {
        for (size_t i = 0; i < PER; i++)
            docs[i] = make_decl(k++, codes, ncodes, NULL);
        store_stats s0, s1;
        store_get_stats(s, &s0);
        int64_t c0 = cpu_ns();
        int64_t t = round_run(r % 2 ? without : with, &who, docs, PER) / PER;
        (r % 2 ? ro : rw)[r / 2] = t;
        (r % 2 ? co : cw)[r / 2] = (cpu_ns() - c0) / PER;
        store_get_stats(s, &s1);
        (r % 2 ? ko : kw)[r / 2] = (int64_t)(s1.commits - s0.commits);
    }
    /* the worker's derivation lands in whichever round it runs in: also
     * CPU per submission over blocks of rounds of one side, the "with"
     * blocks ending with everything derived and folded (catch-up) */
    int64_t blk[2] = {0, 0};
    for (int b = 0; b < 4; b++) {
        int side = b % 2; /* 0: with */
        int64_t c0 = cpu_ns();
        for (int r = 0; r < ROUNDS / 4; r++) {
            for (size_t i = 0; i < PER; i++)
                docs[i] = make_decl(k++, codes, ncodes, NULL);
            round_run(side ? without : with, &who, docs, PER);
        }
        if (!side && rev_service_catch_up(rev) != CX_OK)
            return 1;
        blk[side] += cpu_ns() - c0;
    }
    qsort(rw, ROUNDS, sizeof *rw, cmp_i64);
    qsort(ro, ROUNDS, sizeof *ro, cmp_i64);
    qsort(cw, ROUNDS, sizeof *cw, cmp_i64);
    qsort(co, ROUNDS, sizeof *co, cmp_i64);
    qsort(kw, ROUNDS, sizeof *kw, cmp_i64);
    qsort(ko, ROUNDS, sizeof *ko, cmp_i64);
    double pa, pw, po;
    printf("revenue tariff: %zu lines; %zu distinct HS-6 codes declared, 1-5 items each\n",
           nlines, ncodes);
    pcts("assessment as a tree (from the JSON text)", ta, n, &pa);
    double pd, pk;
    pcts("assessment from the doubles (no text)", td, n, &pd);
    pcts("assessment, texts and record (the submission)", tk, n, &pk);
    double pe, pp;
    pcts("stored member expanded on a read (compact)", te, 5 * n, &pe);
    pcts("stored member on a read (full form, passed through)", tp, 5 * n, &pp);
    printf("revenue stored member: %.0f bytes compact, %.0f in full form (average)\n",
           (double)bytes_c / (double)n, (double)bytes_w / (double)n);
    free(te);
    free(tp);
    pcts("durable submission with the revenue hooks", tw, n, &pw);
    pcts("durable submission without them", to, n, &po);
    printf("revenue added to a durable submission: p50 %+.1f us (target <= 30 us: %s); "
           "assessment CPU p50 %.1f us\n",
           pw - po, pw - po <= 30 ? "met" : "not met", pa);
    double cw1, co1, sw1, so1;
    pcts("process CPU per durable submission, with", xw, n, &cw1);
    pcts("process CPU per durable submission, without", xo, n, &co1);
    pcts("submitting thread CPU per submission, with", sw, n, &sw1);
    pcts("submitting thread CPU per submission, without", so, n, &so1);
    printf("revenue CPU added per durable submission: p50 %+.1f us (process), %+.1f us "
           "(submitting thread; the rest is the writer's and the worker's)\n",
           cw1 - co1, sw1 - so1);
    double gw = (double)rw[ROUNDS / 2] / 1e3, go = (double)ro[ROUNDS / 2] / 1e3;
    printf("revenue group-committed rounds (%d x %d, alternating): %.1f us per submission "
           "with, %.1f us without: %+.1f us added (median round)\n",
           ROUNDS, PER, gw, go, gw - go);
    double uw = (double)cw[ROUNDS / 2] / 1e3, uo = (double)co[ROUNDS / 2] / 1e3;
    printf("revenue CPU per group-committed submission (all threads, median round): %.1f us "
           "with, %.1f us without: %+.1f us added\n",
           uw, uo, uw - uo);
    double bw = (double)blk[0] / 1e3 / (ROUNDS / 2 * PER),
           bo = (double)blk[1] / 1e3 / (ROUNDS / 2 * PER);
    printf("revenue CPU per submission in blocks of one side, derivation caught up: %.1f us "
           "with, %.1f us without: %+.1f us added\n",
           bw, bo, bw - bo);
    /* one submitting thread: the slower it enqueues, the fewer jobs share a
     * commit (and its fsync), which costs CPU too; the statistics worker's
     * folds are commits of the "with" rounds as well */
    printf("revenue commits per round of %d (median): %lld with, %lld without\n", PER,
           (long long)kw[ROUNDS / 2], (long long)ko[ROUNDS / 2]);
    free(ta);
    free(tw);
    free(to);
    free(td);
    free(tk);
    free(xw);
    free(xo);
    free(sw);
    free(so);
    rev_service_stop(rev);
    store_free(s);
    rev_service_free(rev);
    decl_service_free(with);
    decl_service_free(without);
    return 0;
}
