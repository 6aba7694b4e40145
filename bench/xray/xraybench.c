/* bench/xray: the X-ray analyses' speed and quality on simulated scans.
 *
 *   xraybench speed   [--n SECONDS]   20-ft scans at 5 mm/pixel, PNG decode +
 *                     analysis on one thread, against the decode alone (the
 *                     in-run peer) and the target (10 scans/s)
 *   xraybench quality --seed S [--empty N] [--blocks N] [--loaded N]
 *                     [--concealed N] [--verbose]
 *                     empties, empties with a 30 cm block, legitimate loads
 *                     and each concealment; false "empty" and false-alarm
 *                     rates, region recall at 1 false region per 10 scans,
 *                     observed-mass error
 *
 * Validation seeds must differ from any used to tune (docs/xray.md). */
#include "xray.h"
#include "xray_sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- speed --------------------------------------------------------------------------- */

static int bench_speed(double seconds)
{
    enum { K = 12 };
    xsim_opts o = {.seed = 424242, .pixel_mm = 5, .container = XRAY_CT_20};
    cx_buf files[K];
    xsim_kind kinds[] = {XSIM_EMPTY, XSIM_LOADED, XSIM_CONCEALED};
    char err[256];
    for (int i = 0; i < K; i++) {
        xsim_scan s;
        cx_buf_init(&files[i], XRAY_MAX_FILE);
        if (xsim_render(&o, (uint64_t)i, kinds[i % 3], &s, err, sizeof err) != CX_OK ||
            xray_png_encode(s.image, 16, &files[i]) != CX_OK) {
            fprintf(stderr, "xraybench: %s\n", err);
            return 1;
        }
        if (i == 0)
            printf("scan: %ux%u pixels (20 ft, 5 mm/pixel), PNG 16-bit\n", s.image->w,
                   s.image->h);
        xsim_scan_free(&s);
    }
    xsim_scan meta_src;
    if (xsim_render(&o, 0, XSIM_EMPTY, &meta_src, err, sizeof err) != CX_OK)
        return 1;
    xray_meta m = meta_src.meta;
    xsim_scan_free(&meta_src);
    /* the peer: decoding alone */
    size_t n = 0;
    double t0 = now_s();
    while (now_s() - t0 < seconds / 3) {
        xray_image *im;
        if (xray_read((const uint8_t *)files[n % K].data, files[n % K].len, &im, NULL, err,
                      sizeof err) != CX_OK)
            return 1;
        xray_image_free(im);
        n++;
    }
    double decode = n / (now_s() - t0);
    n = 0;
    t0 = now_s();
    while (now_s() - t0 < seconds) {
        xray_image *im;
        xray_result *r;
        if (xray_read((const uint8_t *)files[n % K].data, files[n % K].len, &im, NULL, err,
                      sizeof err) != CX_OK ||
            xray_analyze(im, &m, NULL, &r) != CX_OK)
            return 1;
        xray_result_free(r);
        xray_image_free(im);
        n++;
    }
    double full = n / (now_s() - t0);
    printf("decode only (peer):  %7.1f scans/s\n", decode);
    printf("decode + analysis:   %7.1f scans/s on one core (%.1f ms/scan; target >= 10/s)\n",
           full, 1000 / full);
    printf("ratio to target:     %7.2f   analysis share of the time: %.0f %%\n", full / 10,
           100 * (1 - full / decode));
    for (int i = 0; i < K; i++)
        cx_buf_free(&files[i]);
    return full >= 10 ? 0 : 1;
}

/* ---- quality ------------------------------------------------------------------------- */

typedef struct {
    double score;
    bool hit; /* matches a concealment not matched by a higher score */
} bench_reg;

typedef struct {
    bench_reg *v;
    size_t n, cap;
    size_t truths, scans;
    double *mass_err;
    size_t nmass, cap_mass;
    size_t empties, false_alarms, blocks, false_empty;
    size_t kinds_total[XSIM__COUNT], kinds_found[XSIM__COUNT];
    double analysis_s;
} bench_q;

static void q_push(bench_q *q, double score, bool hit)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 256;
        q->v = realloc(q->v, q->cap * sizeof *q->v);
    }
    q->v[q->n++] = (bench_reg){score, hit};
}

/* A region matches a concealment when they overlap by IoU ≥ 0.3, or when
 * the overlap covers 60 % of the smaller of the two. */
static bool match(const xray_region *r, const json_t *t)
{
    double tx = json_integer_value(json_object_get(t, "x")),
           ty = json_integer_value(json_object_get(t, "y")),
           tw = json_integer_value(json_object_get(t, "w")),
           th = json_integer_value(json_object_get(t, "h"));
    double ix = fmin(r->x + r->w, tx + tw) - fmax(r->x, tx);
    double iy = fmin(r->y + r->h, ty + th) - fmax(r->y, ty);
    if (ix <= 0 || iy <= 0)
        return false;
    double inter = ix * iy, a = (double)r->w * r->h, b = tw * th;
    return inter / (a + b - inter) >= 0.3 || inter >= 0.6 * fmin(a, b);
}

static int by_score(const void *a, const void *b)
{
    double x = ((const bench_reg *)a)->score, y = ((const bench_reg *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_one(bench_q *q, const xsim_opts *o, uint64_t i, xsim_kind kind, bool verbose)
{
    char err[256];
    xsim_scan s;
    if (xsim_render(o, i, kind, &s, err, sizeof err) != CX_OK) {
        fprintf(stderr, "xraybench: %s\n", err);
        exit(1);
    }
    double t0 = now_s();
    xray_result *r;
    if (xray_analyze(s.image, &s.meta, NULL, &r) != CX_OK)
        exit(1);
    q->analysis_s += now_s() - t0;
    q->scans++;
    const char *k = json_string_value(json_object_get(s.truth, "kind"));
    xsim_kind truth_kind = XSIM_EMPTY;
    xsim_kind_parse(k, &truth_kind);
    json_t *conc = json_object_get(s.truth, "concealments");
    size_t nt = json_array_size(conc);
    bool *matched = calloc(nt + 1, 1);
    for (size_t g = 0; g < r->nregions; g++) { /* regions come by descending score */
        bool hit = false;
        for (size_t t = 0; t < nt && !hit; t++)
            if (!matched[t] && match(&r->regions[g], json_array_get(conc, t)))
                hit = matched[t] = true;
        bool dup = false;
        for (size_t t = 0; t < nt && !hit && !dup; t++)
            dup = match(&r->regions[g], json_array_get(conc, t));
        if (!dup)
            q_push(q, r->regions[g].score, hit);
    }
    q->truths += nt;
    q->kinds_total[truth_kind] += nt;
    for (size_t t = 0; t < nt; t++)
        q->kinds_found[truth_kind] += matched[t];
    if (truth_kind == XSIM_EMPTY) {
        q->empties++;
        q->false_alarms += !r->empty;
    }
    if (truth_kind == XSIM_EMPTY_BLOCK) {
        q->blocks++;
        q->false_empty += r->empty;
    }
    double tm = json_real_value(json_object_get(s.truth, "true_mass_kg"));
    if (tm > 500 && isfinite(r->observed_mass_kg)) {
        if (q->nmass == q->cap_mass) {
            q->cap_mass = q->cap_mass ? 2 * q->cap_mass : 256;
            q->mass_err = realloc(q->mass_err, q->cap_mass * sizeof *q->mass_err);
        }
        q->mass_err[q->nmass++] = fabs(r->observed_mass_kg - tm) / tm;
    }
    if (verbose) {
        printf("%s %-11s %-9s %-2s empty=%d %.3f mass %.0f/%.0f regions:",
               s.meta.scan_id, k, json_string_value(json_object_get(s.truth, "load")),
               json_string_value(json_object_get(s.truth, "hs_chapter")), r->empty,
               r->empty_score, r->observed_mass_kg, tm);
        for (size_t g = 0; g < r->nregions && g < 4; g++)
            printf(" [%s %d,%d %dx%d %.2f]", xray_kind_name(r->regions[g].kind),
                   r->regions[g].x, r->regions[g].y, r->regions[g].w, r->regions[g].h,
                   r->regions[g].score);
        printf(" truth:");
        for (size_t t = 0; t < nt; t++) {
            json_t *c = json_array_get(conc, t);
            printf(" [%s %lld,%lld %lldx%lld%s]", json_string_value(json_object_get(c, "what")),
                   json_integer_value(json_object_get(c, "x")),
                   json_integer_value(json_object_get(c, "y")),
                   json_integer_value(json_object_get(c, "w")),
                   json_integer_value(json_object_get(c, "h")), matched[t] ? " found" : "");
        }
        printf("\n");
    }
    free(matched);
    xray_result_free(r);
    xsim_scan_free(&s);
}

static void bench_report(bench_q *q)
{
    qsort(q->v, q->n, sizeof *q->v, by_score);
    double budget = 0.1 * q->scans, best_recall = 0, at = 1;
    size_t fp = 0, tp = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (q->v[i].hit)
            tp++;
        else
            fp++;
        if (fp <= budget && (i + 1 == q->n || q->v[i + 1].score < q->v[i].score)) {
            best_recall = q->truths ? (double)tp / q->truths : 0;
            at = q->v[i].score;
        }
    }
    qsort(q->mass_err, q->nmass, sizeof *q->mass_err, by_double);
    printf("scans: %zu (analysis %.1f ms/scan)\n", q->scans, 1000 * q->analysis_s / q->scans);
    printf("false \"empty\" with a 30 cm block: %zu / %zu = %.2f %% (target < 1 %%)\n",
           q->false_empty, q->blocks, q->blocks ? 100.0 * q->false_empty / q->blocks : 0);
    printf("false alarms on empty containers: %zu / %zu = %.2f %% (target < 2 %%)\n",
           q->false_alarms, q->empties, q->empties ? 100.0 * q->false_alarms / q->empties : 0);
    printf("region recall at 1 false region per 10 scans: %.1f %% (%zu concealments, "
           "threshold %.3f)\n", 100 * best_recall, q->truths, at);
    for (int k = XSIM_EMPTY_BLOCK; k < XSIM__COUNT; k++)
        if (q->kinds_total[k])
            printf("  %-12s found (any score): %zu / %zu\n", xsim_kind_name((xsim_kind)k),
                   q->kinds_found[k], q->kinds_total[k]);
    if (q->nmass)
        printf("observed mass error (loads > 500 kg): median %.1f %%, 90th percentile %.1f %% "
               "(%zu scans; target median <= 5 %%)\n",
               100 * q->mass_err[q->nmass / 2], 100 * q->mass_err[q->nmass * 9 / 10], q->nmass);
}

static int bench_quality(int argc, char **argv)
{
    xsim_opts o = {.seed = 9001, .block_mm = 300};
    long n_empty = 100, n_blocks = 100, n_loaded = 100, n_conc = 40;
    bool verbose = false;
    xsim_kind only = XSIM__COUNT;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0) {
            verbose = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "xraybench: %s needs a value\n", a);
            return 2;
        }
        i++;
        int64_t num = 0;
        bool is_num = cx_parse_i64(v, &num) && num >= 0;
        if (strcmp(a, "--seed") == 0 && is_num)
            o.seed = (uint64_t)num;
        else if (strcmp(a, "--empty") == 0 && is_num)
            n_empty = (long)num;
        else if (strcmp(a, "--blocks") == 0 && is_num)
            n_blocks = (long)num;
        else if (strcmp(a, "--loaded") == 0 && is_num)
            n_loaded = (long)num;
        else if (strcmp(a, "--concealed") == 0 && is_num)
            n_conc = (long)num;
        else if (strcmp(a, "--style") == 0 && is_num && num <= 1)
            o.style = (int)num;
        else if (strcmp(a, "--only") == 0 && xsim_kind_parse(v, &only))
            ; /* one concealment kind (indices stay those of the full run) */
        else {
            fprintf(stderr, "xraybench: unknown option %s, or %s is not a count\n", a, v);
            return 2;
        }
    }
    bench_q q = {0};
    uint64_t idx = 0;
    for (long i = 0; i < n_empty; i++)
        bench_one(&q, &o, idx++, XSIM_EMPTY, verbose);
    for (long i = 0; i < n_blocks; i++)
        bench_one(&q, &o, idx++, XSIM_EMPTY_BLOCK, verbose);
    for (long i = 0; i < n_loaded; i++)
        bench_one(&q, &o, idx++, XSIM_LOADED, verbose);
    for (int k = XSIM_DENSE_BLOCK; k < XSIM__COUNT; k++)
        for (long i = 0; i < n_conc; i++, idx++)
            if (only == XSIM__COUNT || only == (xsim_kind)k)
                bench_one(&q, &o, idx, (xsim_kind)k, verbose);
    printf("validation seed %llu%s\n", (unsigned long long)o.seed,
           o.style ? " (the other renderer)" : "");
    bench_report(&q);
    free(q.v);
    free(q.mass_err);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "speed") == 0) {
        double secs = argc >= 4 && strcmp(argv[2], "--n") == 0 ? atof(argv[3]) : 6;
        return bench_speed(secs > 0 ? secs : 6);
    }
    if (argc >= 2 && strcmp(argv[1], "quality") == 0)
        return bench_quality(argc, argv);
    fprintf(stderr, "usage: xraybench speed [--n SECONDS] | quality --seed S [--empty N] "
                    "[--blocks N] [--loaded N] [--concealed N] [--only KIND] [--style 0|1] "
                    "[--verbose]\n");
    return 2;
}
