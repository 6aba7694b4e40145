/* bench/bio: the biometric matcher against its peers in the same run.
 *
 *   dev       per development database: EER, FMR100, FMR1000 and comparisons
 *             per second on one core, beside bozorth3's figures on the same
 *             templates (data/biometrics/SOURCE.txt); the FMR that the one
 *             documented threshold (30) gives, per database and pooled
 *   gallery   1:N over N synthetic templates (perturbed copies of the
 *             development ones: turned, moved, mirrored, minutiae dropped,
 *             added and jittered) on 2 threads: effective comparisons per
 *             second (gallery size / search time) against the full matcher
 *             on every entry, and how often the true mate comes first
 *   face      1:N cosine over N 128-d vectors against a plain read of the
 *             same array, both on 2 threads
 *   calibrate prints the score calibration table (src/bio/score.c) for the
 *             matcher as built
 *
 * Times are wall clock on a machine that may be shared: the ratios to the
 * in-run peers are the point. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bio.h"

static const char *const dbs[] = {"fvc2002/DB1_B", "fvc2002/DB3_B", "fvc2004/DB1_B",
                                  "fvc2004/DB3_B"};
/* bozorth3 (NBIS 5.0) on these templates: EER and comparisons per second */
static const double bz_eer[] = {0.074, 0.100, 0.236, 0.026};
static const double bz_cps[] = {1955, 8489, 1206, 1195};

typedef struct {
    double x, y, a;
    int type;
} pt;

typedef struct {
    pt m[256];
    size_t n;
} src_tpl;

static src_tpl src[4][80];
static bio_features *feat[4][80];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bio_features *parse(const uint8_t *buf, size_t len, bio_template **keep)
{
    bio_template *t = NULL;
    if (bio_template_parse(buf, len, BIO_FMT_AUTO, 0, &t, NULL) != CX_OK)
        return NULL;
    bio_features *f = NULL;
    bio_features_new(t, &f);
    if (keep)
        *keep = t;
    else
        bio_template_free(t);
    return f;
}

static int load_dev(void)
{
    for (int d = 0; d < 4; d++)
        for (int i = 0; i < 80; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/biometrics/fvc-dev/%s/%d_%d.iso", cx_data_dir(),
                     dbs[d], 101 + i / 8, 1 + i % 8);
            FILE *f = fopen(path, "rb");
            if (!f) {
                fprintf(stderr, "bench/bio: cannot open %s\n", path);
                return 1;
            }
            uint8_t buf[4096];
            size_t len = fread(buf, 1, sizeof buf, f);
            fclose(f);
            bio_template *t = NULL;
            feat[d][i] = parse(buf, len, &t);
            if (!feat[d][i])
                return 1;
            const bio_view *v = bio_template_view(t, 0);
            src[d][i].n = v->nminutiae;
            for (size_t k = 0; k < v->nminutiae; k++)
                src[d][i].m[k] = (pt){v->minutiae[k].x, v->minutiae[k].y, v->minutiae[k].angle,
                                      v->minutiae[k].type};
            bio_template_free(t);
        }
    return 0;
}

/* ---- dev: accuracy and speed per database -------------------------------------------- */

static double imp_all[4 * 2880], gen_all[4 * 280];

static int run_dev(void)
{
    bio_matcher *m = bio_matcher_new();
    printf("matcher: MCC + LSS-R, kernel %s; one thread; bozorth3 measured on the same "
           "templates\n",
           bio_kernel_name());
    printf("  %-14s %7s %7s %8s %8s %10s %9s %7s %11s %7s\n", "database", "EER", "bz3", "FMR100",
           "FMR1000", "cmp/s", "bz3 cmp/s", "ratio", "FMR at 30", "cpu us");
    size_t ng = 0, ni = 0;
    bool all_better = true, all_fast = true;
    for (int d = 0; d < 4; d++) {
        double g[280], im[2880];
        size_t a = 0, b = 0;
        /* the same pairs 3 times: the best wall time of the three */
        double best = 1e9, cpu_best = 1e9;
        for (int rep = 0; rep < 3; rep++) {
            a = b = 0;
            double t0 = now(), c0 = cpu_now();
            for (int x = 0; x < 80; x++)
                for (int y = x + 1; y < 80; y++) {
                    double s = bio_match_score(m, feat[d][x], feat[d][y]);
                    if (x / 8 == y / 8)
                        g[a++] = s;
                    else
                        im[b++] = s;
                }
            double t = now() - t0, c = cpu_now() - c0;
            best = t < best ? t : best;
            cpu_best = c < cpu_best ? c : cpu_best;
        }
        bio_rates r;
        bio_rates_compute(g, a, im, b, &r);
        size_t fm = 0;
        for (size_t k = 0; k < b; k++)
            fm += im[k] >= BIO_THRESHOLD;
        double cps = (double)(a + b) / best;
        printf("  %-14s %6.2f%% %6.1f%% %7.2f%% %7.2f%% %10.0f %9.0f %6.1fx %10.3f%% %7.2f\n",
               dbs[d], r.eer * 100, bz_eer[d] * 100, r.fmr100 * 100, r.fmr1000 * 100, cps,
               bz_cps[d], cps / bz_cps[d], 100.0 * (double)fm / (double)b,
               cpu_best / (double)(a + b) * 1e6);
        all_better &= r.eer < bz_eer[d];
        all_fast &= cps >= 10 * bz_cps[d] && cps >= 100000;
        memcpy(gen_all + ng, g, a * sizeof *g);
        memcpy(imp_all + ni, im, b * sizeof *im);
        ng += a;
        ni += b;
    }
    bio_rates r;
    bio_rates_compute(gen_all, ng, imp_all, ni, &r);
    size_t fm = 0;
    for (size_t k = 0; k < ni; k++)
        fm += imp_all[k] >= BIO_THRESHOLD;
    printf("  pooled: EER %.2f %%, FMR1000 %.2f %% at threshold %.2f; the documented threshold "
           "%.0f gives FMR %.3f %% (%zu of %zu impostor pairs)\n",
           r.eer * 100, r.fmr1000 * 100, r.threshold_fmr1000, BIO_THRESHOLD,
           100.0 * (double)fm / (double)ni, fm, ni);
    printf("  targets: lower EER than bozorth3 on every database: %s; >= 10x its comparisons/s "
           "and >= 100,000/s: %s\n",
           all_better ? "met" : "NOT met", all_fast ? "met" : "not met on this machine now");
    bio_matcher_free(m);
    return 0;
}

/* ---- calibrate ----------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_calibrate(void)
{
    bio_matcher *m = bio_matcher_new();
    size_t n = 0;
    for (int d = 0; d < 4; d++)
        for (int x = 0; x < 80; x++)
            for (int y = x + 1; y < 80; y++)
                if (x / 8 != y / 8) {
                    bio_match_result r;
                    bio_match(m, feat[d][x], feat[d][y], &r);
                    imp_all[n++] = r.raw;
                }
    qsort(imp_all, n, sizeof *imp_all, cmp_d);
    double knots[64];
    size_t nk = 0;
    for (int s = 0; s < 64; s++) {
        size_t k = (size_t)ceil(pow(10, -s / 10.0) * (double)n);
        if (k < 12)
            break;
        knots[nk] = imp_all[n - k];
        if (nk && knots[nk] <= knots[nk - 1])
            knots[nk] = knots[nk - 1] + 1e-6;
        nk++;
    }
    /* least squares of score on raw over the knots from 15 on: the tail */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, c = 0;
    for (size_t s = 15; s < nk; s++, c++) {
        sx += knots[s];
        sy += (double)s;
        sxx += knots[s] * knots[s];
        sxy += knots[s] * (double)s;
    }
    double slope = (c * sxy - sx * sy) / (c * sxx - sx * sx);
    printf("static const double knots[] = {");
    for (size_t s = 0; s < nk; s++)
        printf("%s%.6f,", s % 6 ? " " : "\n    ", knots[s]);
    printf("\n};\nstatic const double tail_slope = %.6f; /* score per unit of raw similarity */\n",
           slope);
    bio_matcher_free(m);
    return 0;
}

/* ---- gallery: 1:N over perturbed copies ---------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static double rnd(void) /* [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* An ISO 2005 record of pts on a 1000 x 1000 px image, as features. */
static bio_features *features_of(const pt *m, size_t n)
{
    uint8_t buf[2048];
    size_t p = 8, len = 24 + 4 + 6 * n + 2;
    memcpy(buf, "FMR\0 20\0", 8);
    for (int k = 3; k >= 0; k--)
        buf[p++] = (uint8_t)(len >> (8 * k));
    static const uint8_t head[] = {0, 0, 0x03, 0xe8, 0x03, 0xe8, 0, 0xc5, 0, 0xc5, 1, 0};
    memcpy(buf + p, head, sizeof head);
    p += sizeof head;
    buf[p++] = 0;
    buf[p++] = 0;
    buf[p++] = 60;
    buf[p++] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned)lround(fmin(fmax(m[i].x, 0), 999));
        unsigned y = (unsigned)lround(fmin(fmax(m[i].y, 0), 999));
        unsigned a = (unsigned)lround(fmod(m[i].a / (2 * M_PI) + 8, 1.0) * 256) % 256;
        buf[p++] = (uint8_t)(m[i].type << 6 | x >> 8);
        buf[p++] = (uint8_t)x;
        buf[p++] = (uint8_t)(y >> 8);
        buf[p++] = (uint8_t)y;
        buf[p++] = (uint8_t)a;
        buf[p++] = 0;
    }
    buf[p++] = 0;
    buf[p++] = 0;
    return parse(buf, p, NULL);
}

/* A perturbed copy: turned and moved (as any impression is), mirrored half
 * the time (another pattern), 10-25 % of the minutiae dropped, 0-15 % more
 * added, positions jittered by up to 3 px and directions by up to 6 degrees. */
static bio_features *perturbed(const src_tpl *s, bool mirror)
{
    pt m[512];
    size_t n = 0;
    double phi = (rnd() - 0.5) * 2 * M_PI / 3, c = cos(phi), sn = sin(phi);
    double dx = 500 + (rnd() - 0.5) * 80, dy = 500 + (rnd() - 0.5) * 80;
    double cx = 0, cy = 0, drop = 0.10 + 0.15 * rnd(), add = 0.15 * rnd();
    for (size_t i = 0; i < s->n; i++) {
        cx += s->m[i].x / (double)s->n;
        cy += s->m[i].y / (double)s->n;
    }
    double x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
    for (size_t i = 0; i < s->n; i++) {
        if (rnd() < drop)
            continue;
        double x = s->m[i].x - cx, y = s->m[i].y - cy, a = s->m[i].a;
        if (mirror) {
            x = -x;
            a = M_PI - a;
        }
        pt q = {dx + x * c + y * sn + (rnd() - 0.5) * 6, dy - x * sn + y * c + (rnd() - 0.5) * 6,
                a + phi + (rnd() - 0.5) * 0.21, s->m[i].type};
        x0 = fmin(x0, q.x), x1 = fmax(x1, q.x), y0 = fmin(y0, q.y), y1 = fmax(y1, q.y);
        m[n++] = q;
    }
    size_t extra = (size_t)(add * (double)s->n);
    for (size_t k = 0; k < extra && n < 255; k++)
        m[n++] = (pt){x0 + (x1 - x0) * rnd(), y0 + (y1 - y0) * rnd(), 2 * M_PI * rnd(),
                      1 + (rnd() < 0.5)};
    return n >= 8 ? features_of(m, n) : NULL;
}

typedef struct {
    bio_features **out;
    size_t from, to;
    uint64_t seed;
} build_job;

static void *build_run(void *arg)
{
    build_job *j = arg;
    /* background: copies of fingers 106..110 of each database only, so that
     * no background entry is a probe's finger */
    for (size_t i = j->from; i < j->to; i++) {
        rng_state = j->seed + i * 0x9E3779B97F4A7C15ull;
        int d = (int)(i % 4), f = 5 + (int)((i / 4) % 5), imp = (int)((i / 20) % 8);
        bio_features *x = NULL;
        while (!x)
            x = perturbed(&src[d][f * 8 + imp], (i / 160) % 2 == 1);
        j->out[i] = x;
    }
    return NULL;
}

static int run_gallery(size_t size)
{
    printf("1:N: a gallery of %zu synthetic templates (perturbed copies of the development "
           "ones), 2 threads\n",
           size);
    bio_features **bg = calloc(size, sizeof *bg);
    double t0 = now();
    build_job jobs[2] = {{bg, 0, size / 2, 1}, {bg, size / 2, size, 1}};
    pthread_t th;
    pthread_create(&th, NULL, build_run, &jobs[1]);
    build_run(&jobs[0]);
    pthread_join(th, NULL);
    bio_gallery *g = bio_gallery_new();
    /* the mates: impression 1 of fingers 101..105 of each database */
    size_t mates = 0;
    for (int d = 0; d < 4; d++)
        for (int f = 0; f < 5; f++) {
            bio_gallery_add(g, (uint64_t)(d * 8 + f), feat[d][f * 8]);
            feat[d][f * 8] = NULL; /* the gallery owns it now */
            mates++;
        }
    for (size_t i = mates; i < size; i++)
        bio_gallery_add(g, 1000 + i, bg[i]);
    for (size_t i = 0; i < mates; i++)
        bio_features_free(bg[i]);
    free(bg);
    printf("  built in %.1f s: %zu templates, %.0f MB\n", now() - t0, bio_gallery_size(g),
           (double)bio_gallery_bytes(g) / 1e6);
    bio_search_opts o = {.threads = 2, .max_results = 5};
    size_t probes = 0, first = 0, in_list = 0, compared = 0, reachable = 0, found = 0;
    double secs = 0;
    bio_hit hits[5];
    bio_matcher *m = bio_matcher_new();
    for (int d = 0; d < 4; d++)
        for (int f = 0; f < 5; f++)
            for (int imp = 1; imp < 8; imp += 2) {
                size_t n;
                bio_search_stats st;
                double s0 = now();
                bio_gallery_search(g, feat[d][f * 8 + imp], &o, hits, &n, &st);
                secs += now() - s0;
                compared += st.compared;
                probes++;
                uint64_t want = (uint64_t)(d * 8 + f);
                first += n && hits[0].id == want && hits[0].score >= BIO_THRESHOLD;
                for (size_t k = 0; k < n; k++)
                    in_list += hits[k].id == want;
                /* what the coarse filter costs: the mate's own full score */
                bio_hit mate;
                bio_gallery_best_of(g, want, feat[d][f * 8 + imp], m, &mate);
                if (mate.score >= BIO_THRESHOLD) {
                    reachable++;
                    for (size_t k = 0; k < n; k++)
                        found += hits[k].id == want;
                }
            }
    bio_matcher_free(m);
    double cps = (double)size * (double)probes / secs;
    /* the peer: the full matcher on every entry, 2 threads */
    bio_search_opts full = {.threads = 2, .max_results = 5, .candidate_share = 1.0};
    double f0 = now();
    size_t n;
    bio_search_stats st;
    bio_gallery_search(g, feat[0][1], &full, hits, &n, &st);
    double full_cps = (double)st.compared / (now() - f0);
    printf("  %zu searches (probes: other impressions of the 20 enrolled mates): %.1f ms each, "
           "%.0f comparisons/s effective; %.1f full comparisons per search\n",
           probes, secs / (double)probes * 1e3, cps, (double)compared / (double)probes);
    printf("  the full matcher on every entry (2 threads): %.0f comparisons/s; the coarse filter "
           "is %.1fx faster\n",
           full_cps, cps / full_cps);
    printf("  mate first (and at or above %.0f): %zu of %zu; in the top 5: %zu; of the %zu whose "
           "mate scores %.0f or more in full, the filtered search found %zu\n",
           BIO_THRESHOLD, first, probes, in_list, reachable, BIO_THRESHOLD, found);
    printf("  target (>= 1,000,000 comparisons/s on 2 cores): %s\n",
           cps >= 1e6 ? "met" : "not met on this machine now");
    bio_gallery_free(g);
    return 0;
}

/* ---- face: cosine 1:N against a plain read ------------------------------------------- */

static int run_face(size_t size)
{
    enum { DIM = 128 };
    bio_faces *g = bio_faces_new("faceapi-128", DIM);
    float v[DIM], probe[DIM];
    for (size_t i = 0; i < size; i++) {
        double ss = 0;
        for (int d = 0; d < DIM; d++) {
            v[d] = (float)(rnd() - 0.5);
            ss += v[d] * v[d];
        }
        for (int d = 0; d < DIM; d++)
            v[d] = (float)(v[d] / sqrt(ss));
        if (i == size / 3)
            memcpy(probe, v, sizeof v);
        if (bio_faces_add(g, i, v) != CX_OK) {
            fprintf(stderr, "bench/bio: out of memory for %zu vectors\n", size);
            return 1;
        }
    }
    double mb = (double)size * DIM * 4 / 1e6;
    printf("face 1:N: %zu vectors of %d floats (%.0f MB), 2 threads; the best of 6 runs each\n",
           size, DIM, mb);
    double best_s = 1e9, best_r = 1e9, sink = 0;
    bio_hit hits[10];
    size_t n = 0;
    for (int rep = 0; rep < 6; rep++) { /* alternating which goes first */
        double t0 = now();
        if (rep % 2)
            bio_faces_search(g, probe, 2, 10, -1, hits, &n);
        else
            sink += bio_faces_read_all(g, 2);
        double t1 = now();
        if (rep % 2)
            sink += bio_faces_read_all(g, 2);
        else
            bio_faces_search(g, probe, 2, 10, -1, hits, &n);
        double t2 = now();
        best_r = fmin(best_r, rep % 2 ? t2 - t1 : t1 - t0);
        best_s = fmin(best_s, rep % 2 ? t1 - t0 : t2 - t1);
    }
    printf("  plain read %.1f ms (%.1f GB/s); cosine search %.1f ms (%.1f GB/s, %.0f vectors/s): "
           "%.0f %% of the read; found the probe first: %s\n",
           best_r * 1e3, mb / 1e3 / best_r, best_s * 1e3, mb / 1e3 / best_s,
           (double)size / best_s, 100 * best_r / best_s,
           n && hits[0].id == size / 3 ? "yes" : "NO");
    printf("  target (>= 50 %% of the read): %s%s\n", best_r / best_s >= 0.5 ? "met" : "NOT met",
           sink == 12345.678 ? " " : "");
    bio_faces_free(g);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "all";
    int64_t gallery = 100000, faces = 1000000;
    if ((argc > 2 && (!cx_parse_i64(argv[2], &gallery) || gallery < 1)) ||
        (argc > 3 && (!cx_parse_i64(argv[3], &faces) || faces < 1))) {
        fprintf(stderr, "usage: bench_bio [all|dev|gallery|faces|calibrate] [GALLERY] [FACES]\n");
        return 2;
    }
    if (load_dev())
        return 1;
    int rc = 0;
    if (!strcmp(mode, "calibrate"))
        return run_calibrate();
    if (!strcmp(mode, "all") || !strcmp(mode, "dev"))
        rc |= run_dev();
    if (!strcmp(mode, "all") || !strcmp(mode, "gallery"))
        rc |= run_gallery((size_t)gallery);
    if (!strcmp(mode, "all") || !strcmp(mode, "face"))
        rc |= run_face((size_t)faces);
    return rc;
}
