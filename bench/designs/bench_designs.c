/* bench_designs: retrieval quality and speed of the designs fingerprint.
 *
 * Every base design in --bases (NAME.stl, with NAME.fine.stl and
 * NAME.coarse.stl as other tessellations of the same surface when they
 * exist) is registered; each is then queried as --variants variants made at
 * run time: random rotation and translation, scale 0.5-2, mirror, another
 * tessellation, noise of ±0.5 % of the size, and a trip through another
 * format (STL binary/ASCII, 3MF, OBJ) written and read back by the module.
 * Printed: top-1 accuracy, the share of unrelated designs at or above the
 * threshold (false matches), the share of true pairs at or above it, the
 * fingerprint rate for a 100k-triangle mesh, and index queries per second
 * against --watchlist designs next to a full scan (the in-run peer). */
#include "designs.h"

#include <nettle/sha2.h>
#include <sodium.h>

#include <dirent.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BASES 512
#define MAX_VARIANTS 16

typedef struct {
    char name[96];
    designs_mesh mesh, fine, coarse;
    double diag;
    designs_fp fp;
} base_t;

typedef struct {
    int base, kind;
    designs_fp fp;
    double scale_true, scale_got;
} query_t;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(void)
{
    return (double)(rng_u64() >> 11) / 9007199254740992.0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this thread: on a shared machine, the time actually worked. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- meshes ------------------------------------------------------------------------ */

static int load(const char *path, designs_mesh *m)
{
    designs_source src;
    designs_error why;
    designs_info info;
    if (designs_source_map(path, &src, &why) != CX_OK)
        return -1;
    cx_err e = designs_read(src.data, src.len, path, NULL, m, &info, &why);
    designs_source_unmap(&src);
    if (e)
        fprintf(stderr, "bench_designs: %s: %s\n", path, why.message);
    return e ? -1 : 0;
}

static void copy_mesh(const designs_mesh *a, designs_mesh *b)
{
    memset(b, 0, sizeof *b);
    b->max_t = 50000000;
    b->max_v = 150000000;
    for (size_t v = 0; v < a->nverts; v++)
        designs_mesh_add_vertex(b, a->xyz[3 * v], a->xyz[3 * v + 1], a->xyz[3 * v + 2]);
    for (size_t t = 0; t < a->ntris; t++)
        designs_mesh_add_triangle(b, a->tri[3 * t], a->tri[3 * t + 1], a->tri[3 * t + 2]);
}

static double bbox_diag(const designs_mesh *m)
{
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t v = 0; v < m->nverts; v++)
        for (int k = 0; k < 3; k++) {
            lo[k] = fmin(lo[k], m->xyz[3 * v + k]);
            hi[k] = fmax(hi[k], m->xyz[3 * v + k]);
        }
    return sqrt((hi[0] - lo[0]) * (hi[0] - lo[0]) + (hi[1] - lo[1]) * (hi[1] - lo[1]) +
                (hi[2] - lo[2]) * (hi[2] - lo[2]));
}

/* A uniformly random rotation (from a random unit quaternion). */
static void random_rotation(double r[3][3])
{
    double u1 = rng_unit(), u2 = rng_unit() * 2 * M_PI, u3 = rng_unit() * 2 * M_PI;
    double a = sqrt(1 - u1), b = sqrt(u1);
    double w = a * sin(u2), x = a * cos(u2), y = b * sin(u3), z = b * cos(u3);
    r[0][0] = 1 - 2 * (y * y + z * z);
    r[0][1] = 2 * (x * y - z * w);
    r[0][2] = 2 * (x * z + y * w);
    r[1][0] = 2 * (x * y + z * w);
    r[1][1] = 1 - 2 * (x * x + z * z);
    r[1][2] = 2 * (y * z - x * w);
    r[2][0] = 2 * (x * z - y * w);
    r[2][1] = 2 * (y * z + x * w);
    r[2][2] = 1 - 2 * (x * x + y * y);
}

/* m = R (s x) (+ mirror in x) + t, winding kept outward. */
static void transform(designs_mesh *m, double s, bool mirror, bool rotate)
{
    double r[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    if (rotate)
        random_rotation(r);
    double t[3] = {(rng_unit() - 0.5) * 200, (rng_unit() - 0.5) * 200, (rng_unit() - 0.5) * 200};
    for (size_t v = 0; v < m->nverts; v++) {
        double p[3] = {m->xyz[3 * v] * s * (mirror ? -1 : 1), m->xyz[3 * v + 1] * s,
                       m->xyz[3 * v + 2] * s};
        for (int k = 0; k < 3; k++)
            m->xyz[3 * v + k] = r[k][0] * p[0] + r[k][1] * p[1] + r[k][2] * p[2] + t[k];
    }
    if (mirror)
        for (size_t i = 0; i < m->ntris; i++) {
            uint32_t x = m->tri[3 * i + 1];
            m->tri[3 * i + 1] = m->tri[3 * i + 2];
            m->tri[3 * i + 2] = x;
        }
}

/* Each position moves by up to ±amp per axis, the same for every copy of a
 * vertex (the move is a hash of the position), so the surface stays closed. */
static void noise(designs_mesh *m, double amp, uint64_t seed)
{
    for (size_t v = 0; v < m->nverts; v++) {
        uint64_t h = seed;
        for (int k = 0; k < 3; k++) {
            float f = (float)m->xyz[3 * v + k];
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            h = (h ^ u) * 0x100000001B3ull;
            h ^= h >> 29;
        }
        for (int k = 0; k < 3; k++) {
            h = h * 6364136223846793005ull + 1442695040888963407ull;
            m->xyz[3 * v + k] += ((double)(h >> 11) / 9007199254740992.0 * 2 - 1) * amp;
        }
    }
}

/* Another triangulation of exactly the same surface: a share of the
 * triangles split at their centroid, and optionally 1-to-4 subdivision
 * (edge midpoints are computed identically from both sides). */
static void retriangulate(const designs_mesh *a, designs_mesh *b, double share, bool midpoints)
{
    memset(b, 0, sizeof *b);
    b->max_t = 50000000;
    b->max_v = 150000000;
    for (size_t t = 0; t < a->ntris; t++) {
        double p[3][3];
        for (int j = 0; j < 3; j++)
            memcpy(p[j], a->xyz + 3 * (size_t)a->tri[3 * t + j], sizeof p[j]);
        uint32_t base = (uint32_t)b->nverts;
        for (int j = 0; j < 3; j++)
            designs_mesh_add_vertex(b, p[j][0], p[j][1], p[j][2]);
        if (midpoints) {
            for (int j = 0; j < 3; j++) {
                const double *x = p[j], *y = p[(j + 1) % 3];
                designs_mesh_add_vertex(b, (x[0] + y[0]) / 2, (x[1] + y[1]) / 2, (x[2] + y[2]) / 2);
            }
            designs_mesh_add_triangle(b, base, base + 3, base + 5);
            designs_mesh_add_triangle(b, base + 3, base + 1, base + 4);
            designs_mesh_add_triangle(b, base + 5, base + 4, base + 2);
            designs_mesh_add_triangle(b, base + 3, base + 4, base + 5);
        } else if (rng_unit() < share) {
            designs_mesh_add_vertex(b, (p[0][0] + p[1][0] + p[2][0]) / 3,
                                    (p[0][1] + p[1][1] + p[2][1]) / 3,
                                    (p[0][2] + p[1][2] + p[2][2]) / 3);
            designs_mesh_add_triangle(b, base, base + 1, base + 3);
            designs_mesh_add_triangle(b, base + 1, base + 2, base + 3);
            designs_mesh_add_triangle(b, base + 2, base, base + 3);
        } else {
            designs_mesh_add_triangle(b, base, base + 1, base + 2);
        }
    }
}

/* Writes m as format f, reads it back and fingerprints what was read. */
static int roundtrip(const designs_mesh *m, designs_format f, bool ascii, designs_fp *fp)
{
    cx_buf b;
    cx_buf_init(&b, (size_t)2 << 30);
    designs_mesh r;
    designs_info info;
    designs_error why;
    designs_inspection in;
    int rc = -1;
    if (designs_write(m, f, ascii, &b) == CX_OK &&
        designs_read(b.data, b.len, NULL, NULL, &r, &info, &why) == CX_OK) {
        if (designs_measure(&r, &info, b.data, b.len, &in) == CX_OK &&
            designs_fingerprint(&r, &in, fp) == CX_OK)
            rc = 0;
        designs_mesh_free(&r);
    }
    cx_buf_free(&b);
    return rc;
}

static const char *const kind_names[] = {
    "turned",         "scale 0.5 3MF",   "scale 2 ASCII",  "mirrored",      "finer mesh",
    "coarser OBJ",    "noise 0.5%",      "3MF scaled",     "mirror+noise",  "all at once",
};

/* Variant `kind` of base b (rotation always). */
static int make_variant(const base_t *b, int kind, query_t *q)
{
    designs_mesh m, tmp;
    const designs_mesh *src = &b->mesh;
    double s = exp(log(0.5) + rng_unit() * log(4)); /* 0.5 .. 2, log-uniform */
    bool mirror = false, ascii = false;
    double amp = 0;
    designs_format f = DESIGNS_FMT_STL;
    int retess = 0; /* 1 finer, 2 coarser */
    switch (kind) {
    case 0: s = 1; break;
    case 1: s = 0.5; f = DESIGNS_FMT_3MF; break;
    case 2: s = 2; ascii = true; break;
    case 3: mirror = true; break;
    case 4: retess = 1; break;
    case 5: retess = 2; f = DESIGNS_FMT_OBJ; break;
    case 6: amp = 0.005; break;
    case 7: f = DESIGNS_FMT_3MF; break;
    case 8: mirror = true; amp = 0.005; f = DESIGNS_FMT_OBJ; break;
    default: mirror = true; amp = 0.005; retess = 1 + (int)(rng_u64() & 1); f = DESIGNS_FMT_3MF;
    }
    if (retess == 1)
        src = b->fine.ntris ? &b->fine : NULL;
    else if (retess == 2)
        src = b->coarse.ntris ? &b->coarse : NULL;
    if (!src) { /* no other rendering: re-triangulate the same surface */
        retriangulate(&b->mesh, &tmp, retess == 1 ? 0.7 : 0.4, retess == 1 && b->mesh.ntris < 20000);
        copy_mesh(&tmp, &m);
        designs_mesh_free(&tmp);
    } else {
        copy_mesh(src, &m);
    }
    if (amp > 0)
        noise(&m, amp * b->diag, rng_u64());
    transform(&m, s, mirror, true);
    q->kind = kind;
    q->scale_true = s;
    int rc = roundtrip(&m, f, ascii, &q->fp);
    designs_mesh_free(&m);
    return rc;
}

/* ---- the benchmark ------------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_bases(const char *dir, base_t **out)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    char *names[MAX_BASES];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < MAX_BASES) {
        const char *dot = strrchr(de->d_name, '.');
        if (!dot || strstr(de->d_name, ".fine.") || strstr(de->d_name, ".coarse.") ||
            (strcmp(dot, ".stl") && strcmp(dot, ".3mf") && strcmp(dot, ".obj")))
            continue;
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    base_t *b = calloc((size_t)n, sizeof *b);
    int k = 0;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        base_t *x = &b[k];
        if (load(path, &x->mesh) != 0)
            continue;
        snprintf(x->name, sizeof x->name, "%.*s", (int)(strrchr(names[i], '.') - names[i]),
                 names[i]);
        snprintf(path, sizeof path, "%s/%s.fine.stl", dir, x->name);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            load(path, &x->fine);
        }
        snprintf(path, sizeof path, "%s/%s.coarse.stl", dir, x->name);
        if ((f = fopen(path, "rb"))) {
            fclose(f);
            load(path, &x->coarse);
        }
        x->diag = bbox_diag(&x->mesh);
        designs_inspection in;
        if (designs_measure(&x->mesh, NULL, "", 0, &in) != CX_OK ||
            designs_fingerprint(&x->mesh, &in, &x->fp) != CX_OK) {
            designs_mesh_free(&x->mesh);
            continue;
        }
        k++;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    *out = b;
    return k;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n ? v[(size_t)(p * (double)(n - 1) + 0.5)] : NAN;
}

/* The fingerprint's blocks (docs/designs.md): how much each separates true
 * pairs from unrelated ones (mean distance of each, and their ratio). */
static void blocks(const base_t *b, int nb, const query_t *q, int nq)
{
    static const struct {
        const char *name;
        int from, to;
    } blk[] = {{"D2", 0, 64}, {"D1", 64, 96}, {"A3", 96, 128}, {"SH", 128, 182}, {"PC", 182, 188}};
    printf("blocks (mean L1: true pairs / unrelated pairs / ratio):");
    for (size_t k = 0; k < sizeof blk / sizeof blk[0]; k++) {
        double t = 0, u = 0;
        long nt = 0, nu = 0;
        for (int i = 0; i < nq; i++)
            for (int j = 0; j < nb; j++) {
                int d = 0;
                for (int x = blk[k].from; x < blk[k].to; x++)
                    d += abs((int)q[i].fp.v[x] - (int)b[j].fp.v[x]);
                if (j == q[i].base) {
                    t += d;
                    nt++;
                } else {
                    u += d;
                    nu++;
                }
            }
        printf(" %s %.1f/%.1f/%.1f;", blk[k].name, t / nt, u / nu, (u / nu) / (t / nt + 1e-9));
    }
    printf("\n");
}

static void quality(base_t *b, int nb, query_t *q, int nq, bool verbose)
{
    int top1 = 0, above = 0, kind_ok[MAX_VARIANTS] = {0}, kind_n[MAX_VARIANTS] = {0};
    long false_above = 0, false_n = 0;
    double *true_sim = malloc(nq * sizeof(double)), *best_false = malloc(nq * sizeof(double));
    double scale_err = 0;
    int scale_n = 0;
    for (int i = 0; i < nq; i++) {
        double ts = designs_similarity(&q[i].fp, &b[q[i].base].fp), bf = 0;
        int bestj = -1;
        for (int j = 0; j < nb; j++) {
            if (j == q[i].base)
                continue;
            double s = designs_similarity(&q[i].fp, &b[j].fp);
            false_n++;
            false_above += s >= DESIGNS_MATCH_THRESHOLD;
            if (s > bf) {
                bf = s;
                bestj = j;
            }
        }
        bool ok = ts > bf;
        top1 += ok;
        above += ts >= DESIGNS_MATCH_THRESHOLD;
        kind_n[q[i].kind]++;
        kind_ok[q[i].kind] += ok;
        true_sim[i] = ts;
        best_false[i] = bf;
        double sg = designs_scale(&q[i].fp, &b[q[i].base].fp);
        scale_err = fmax(scale_err, fabs(sg / q[i].scale_true - 1));
        scale_n++;
        if (verbose && fabs(sg / q[i].scale_true - 1) > 0.02)
            printf("  scale: %-22s %-14s true %.3f, reported %.3f (%s)\n", b[q[i].base].name,
                   kind_names[q[i].kind], q[i].scale_true, sg,
                   q[i].fp.size_volume > 0 && b[q[i].base].fp.size_volume > 0 ? "volume"
                                                                                 : "diagonal");
        if (verbose && (!ok || ts < DESIGNS_MATCH_THRESHOLD))
            printf("  miss: %-22s %-14s true %.3f, best other %.3f (%s)\n", b[q[i].base].name,
                   kind_names[q[i].kind], ts, bf, bestj >= 0 ? b[bestj].name : "-");
    }
    printf("top-1 accuracy            %.2f %% (%d of %d queries; target >= 98 %%)\n",
           100.0 * top1 / nq, top1, nq);
    printf("false matches             %.3f %% of %ld unrelated pairs at similarity >= %.2f "
           "(target <= 1 %%)\n",
           100.0 * false_above / false_n, false_n, DESIGNS_MATCH_THRESHOLD);
    printf("true pairs matched        %.2f %% at the threshold\n", 100.0 * above / nq);
    printf("by variant (top-1):      ");
    /* the named variants only: kind_names has fewer than MAX_VARIANTS */
    for (size_t k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++)
        if (kind_n[k])
            printf(" %s %d/%d;", kind_names[k], kind_ok[k], kind_n[k]);
    printf("\n");
    printf("scale                     worst relative error %.3f %%\n", 100 * scale_err);
    printf("similarity, true pairs    min %.3f  p1 %.3f  p5 %.3f  median %.3f\n",
           pct(true_sim, nq, 0), pct(true_sim, nq, 0.01), pct(true_sim, nq, 0.05),
           pct(true_sim, nq, 0.5));
    printf("best unrelated            median %.3f  p95 %.3f  p99 %.3f  max %.3f\n",
           pct(best_false, nq, 0.5), pct(best_false, nq, 0.95), pct(best_false, nq, 0.99),
           pct(best_false, nq, 1));
    free(true_sim);
    free(best_false);
}

/* A mesh of 100,000 triangles or a little more, of the same surface as the
 * largest base: 1-to-4 subdivisions, then centroid splits of a share. */
static void mesh_100k(const base_t *b, int nb, designs_mesh *m, int *which)
{
    int pick = 0;
    for (int i = 1; i < nb; i++)
        if (b[i].mesh.ntris > b[pick].mesh.ntris && b[i].mesh.ntris <= 100000)
            pick = i;
    *which = pick;
    designs_mesh t;
    copy_mesh(&b[pick].mesh, m);
    while (m->ntris * 4 <= 100000) {
        retriangulate(m, &t, 0, true);
        designs_mesh_free(m);
        *m = t;
    }
    while (m->ntris < 100000) {
        double share = (100000.0 - (double)m->ntris) / (2.0 * (double)m->ntris) + 0.01;
        retriangulate(m, &t, share > 1 ? 1 : share, false);
        designs_mesh_free(m);
        *m = t;
    }
}

static void speed_fingerprint(const cx_buf *file, double seconds)
{
    /* the peer: reading and measuring the same file, which every upload does */
    int n = 0;
    double t0 = now_s(), c0 = cpu_s(), tfp = 0, cfp = 0, tread = 0;
    while (now_s() - t0 < seconds || n < 3) {
        designs_mesh r;
        designs_info info;
        designs_error why;
        designs_inspection in;
        designs_fp fp;
        double ta = now_s();
        designs_read(file->data, file->len, NULL, NULL, &r, &info, &why);
        designs_measure(&r, &info, file->data, file->len, &in);
        tread += now_s() - ta;
        double t1 = now_s(), c1 = cpu_s();
        designs_fingerprint(&r, &in, &fp);
        tfp += now_s() - t1;
        cfp += cpu_s() - c1;
        designs_mesh_free(&r);
        n++;
    }
    double all = now_s() - t0, call = cpu_s() - c0;
    printf("  fingerprint of a read mesh   %.1f per second, %.1f per CPU-second (target >= 20; "
           "ratio %.2f)\n",
           n / tfp, n / cfp, n / tfp / 20);
    printf("  read + measure + fingerprint %.1f per second, %.1f per CPU-second (ratio %.2f); "
           "read + measure alone %.1f per second\n",
           n / all, n / call, n / all / 20, n / tread);
}

/* Twice: with glibc's default malloc, which hands every block over 128 KiB
 * back to the kernel when freed (each upload then pays its page faults
 * again, expensive on a VM), and with freed memory kept for reuse
 * (M_MMAP_THRESHOLD / M_TRIM_THRESHOLD raised, as a long-running server
 * may set them). */
static void speed_fingerprints(const base_t *b, int nb, double seconds)
{
    designs_mesh m;
    int pick;
    mesh_100k(b, nb, &m, &pick);
    cx_buf file;
    cx_buf_init(&file, (size_t)1 << 30);
    designs_write(&m, DESIGNS_FMT_STL, false, &file);
    designs_mesh_free(&m);
    printf("fingerprints (%s subdivided: %zu triangles, binary STL %.1f MB), default malloc:\n",
           b[pick].name, (size_t)((file.len - 84) / 50), file.len / 1e6);
    speed_fingerprint(&file, seconds);
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    printf("fingerprints, freed memory kept for reuse:\n");
    speed_fingerprint(&file, seconds);
    cx_buf_free(&file);
}

static void speed_index(const base_t *b, int nb, const query_t *q, int nq, size_t size,
                        double seconds)
{
    designs_index *ix = designs_index_new();
    /* real fingerprints (the bases and their variants), then blends of two
     * with a little noise: as many designs as a large watchlist holds,
     * spread like real ones */
    size_t npool = (size_t)nb + (size_t)nq;
    designs_fp *pool = malloc(npool * sizeof *pool);
    for (int i = 0; i < nb; i++)
        pool[i] = b[i].fp;
    for (int i = 0; i < nq; i++)
        pool[nb + i] = q[i].fp;
    double t0 = now_s();
    for (int i = 0; i < nb; i++)
        designs_index_add(ix, i, &b[i].fp);
    for (size_t k = (size_t)nb; k < size; k++) {
        const designs_fp *x = &pool[rng_u64() % npool], *y = &pool[rng_u64() % npool];
        double t = rng_unit();
        designs_fp f = *x;
        for (int i = 0; i < DESIGNS_FP_DIMS; i++) {
            double v = t * x->v[i] + (1 - t) * y->v[i] + (rng_unit() - 0.5) * 6;
            f.v[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
        }
        designs_index_add(ix, (int64_t)k, &f);
    }
    double load = now_s() - t0;
    free(pool);
    designs_hit h1[DESIGNS_TOP], h2[DESIGNS_TOP];
    int same = 0, checked = 0;
    for (int i = 0; i < nq && i < 200; i++) {
        size_t a = designs_index_query(ix, &q[i].fp, DESIGNS_TOP, NULL, NULL, h1);
        size_t c = designs_index_scan(ix, &q[i].fp, DESIGNS_TOP, NULL, NULL, h2);
        bool eq = a == c;
        for (size_t j = 0; eq && j < a; j++)
            eq = h1[j].key == h2[j].key && h1[j].distance == h2[j].distance;
        same += eq;
        checked++;
    }
    double rate[2], cpu[2];
    for (int mode = 0; mode < 2; mode++) {
        int n = 0;
        double t1 = now_s(), c1 = cpu_s();
        while (now_s() - t1 < seconds / 2 || n < 10) {
            const designs_fp *f = &q[n % nq].fp;
            if (mode == 0)
                designs_index_query(ix, f, DESIGNS_TOP, NULL, NULL, h1);
            else
                designs_index_scan(ix, f, DESIGNS_TOP, NULL, NULL, h1);
            n++;
        }
        rate[mode] = n / (now_s() - t1);
        cpu[mode] = n / (cpu_s() - c1);
    }
    printf("queries against %zu designs (top %d; index built in %.2f s):\n",
           designs_index_size(ix), DESIGNS_TOP, load);
    printf("  index                     %.0f per second (target >= 1,000; ratio %.2f); "
           "%.0f per CPU-second\n",
           rate[0], rate[0] / 1000, cpu[0]);
    printf("  full scan (peer)          %.0f per second; %.0f per CPU-second; index / scan = "
           "%.1f\n",
           rate[1], cpu[1], rate[0] / rate[1]);
    printf("  same top-%d as the scan    %d of %d queries\n", DESIGNS_TOP, same, checked);
    designs_index_free(ix);
}

/* SHA-256 runs twice on every upload (the file, the canonical mesh): nettle
 * (SHA-NI where the CPU has it) against libsodium, the project's other
 * implementation, on the same 64 MiB. */
static void speed_sha256(double seconds)
{
    size_t n = (size_t)64 << 20;
    uint8_t *buf = malloc(n), out[32];
    if (!buf)
        return;
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)rng_u64();
    double rate[2];
    for (int impl = 0; impl < 2; impl++) {
        double t0 = now_s(), t;
        int runs = 0;
        do {
            if (impl == 0) {
                struct sha256_ctx c;
                sha256_init(&c);
                sha256_update(&c, n, buf);
                sha256_digest(&c, sizeof out, out);
            } else {
                crypto_hash_sha256(out, buf, n);
            }
            runs++;
        } while ((t = now_s() - t0) < seconds / 4);
        rate[impl] = runs * (n / 1e9) / t;
    }
    printf("sha256 of 64 MiB: nettle %.2f GB/s, libsodium (peer) %.2f GB/s, ratio %.2f\n",
           rate[0], rate[1], rate[0] / rate[1]);
    free(buf);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"bases", required_argument, NULL, 'b'},
                                         {"variants", required_argument, NULL, 'v'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"watchlist", required_argument, NULL, 'w'},
                                         {"seconds", required_argument, NULL, 't'},
                                         {"verbose", no_argument, NULL, 'V'},
                                         {"quality-only", no_argument, NULL, 'Q'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int variants = 10, c;
    size_t wl = 100000;
    double seconds = 4;
    bool verbose = false, quality_only = false;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': dir = optarg; break;
        case 'v': {
            int64_t v;
            if (!cx_parse_i64(optarg, &v) || v < 1 || v > 1000)
                return 2;
            variants = (int)v;
            break;
        }
        case 's': rng_state ^= strtoull(optarg, NULL, 10) * 0xD1B54A32D192ED03ull; break;
        case 'w': wl = strtoull(optarg, NULL, 10); break;
        case 't': seconds = atof(optarg); break;
        case 'V': verbose = true; break;
        case 'Q': quality_only = true; break;
        default: return 2;
        }
    }
    if (!dir || variants < 1 || variants > MAX_VARIANTS) {
        fprintf(stderr, "usage: bench_designs --bases DIR [--variants 1-10] [--seed S] "
                        "[--watchlist N] [--seconds S] [--verbose] [--quality-only]\n");
        return 2;
    }
    base_t *b;
    int nb = load_bases(dir, &b);
    if (nb < 2) {
        fprintf(stderr, "bench_designs: fewer than 2 designs in %s\n", dir);
        return 1;
    }
    query_t *q = calloc((size_t)nb * variants, sizeof *q);
    int nq = 0;
    double t0 = now_s();
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < variants; k++) {
            q[nq].base = i;
            if (make_variant(&b[i], k % 10, &q[nq]) == 0)
                nq++;
            else
                fprintf(stderr, "bench_designs: variant %d of %s failed\n", k, b[i].name);
        }
    printf("designs: %d base designs x %d variants = %d queries (made in %.1f s)\n", nb,
           variants, nq, now_s() - t0);
    quality(b, nb, q, nq, verbose);
    if (verbose)
        blocks(b, nb, q, nq);
    if (!quality_only) {
        speed_sha256(seconds);
        speed_fingerprints(b, nb, seconds);
        speed_index(b, nb, q, nq, wl, seconds);
    }
    for (int i = 0; i < nb; i++) {
        designs_mesh_free(&b[i].mesh);
        designs_mesh_free(&b[i].fine);
        designs_mesh_free(&b[i].coarse);
    }
    free(b);
    free(q);
    return 0;
}
