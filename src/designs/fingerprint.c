/* The geometric fingerprint (docs/designs.md explains the choices).
 *
 * The surface is sampled by area (stratified: systematic positions along
 * the cumulative area, a Weyl sequence inside each triangle), so that a
 * finer or coarser tessellation of the same surface gives nearly the same
 * points. Distances are divided by the RMS radius of the surface about its
 * centroid, computed exactly from the triangles, which takes out scale.
 * Every descriptor is a function of distances and angles between points,
 * or of energies per spherical-harmonic degree, all unchanged by rotations
 * and reflections:
 *   D2  distances between point pairs                 (cumulative histogram)
 *   D1  distances to the centroid                     (cumulative histogram)
 *   A3  cosines of angles in point triples            (cumulative histogram)
 *   SH  per-shell energies of spherical-harmonic degrees 0..8
 *   PC  square roots of the principal-moment ratios
 * Cumulative histograms compared with L1 are the earth mover's distance in
 * one dimension: a small shift (noise, a slightly different tessellation)
 * costs little. Each value is quantised to a byte with a per-block step that
 * is also its weight, so the whole comparison is one L1 over bytes. */
#include "designs_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FP_N 2048          /* surface samples */
#define FP_D2_BINS 64      /* over [0, 4) RMS radii */
#define FP_D2_MAX 4.0
#define FP_D1_BINS 32      /* over [0, 3) */
#define FP_D1_MAX 3.0
#define FP_A3_BINS 32      /* cosines over [-1, 1] */
#define FP_A3_OFFSETS 48   /* triples per sample */
#define FP_SH_L 8          /* degrees 0..8 */
#define FP_SH_SHELLS 6     /* over [0, 2.4) */
#define FP_SH_MAX 2.4
#define FP_PC 2

/* Layout of the byte vector. */
#define FP_OFF_D2 0
#define FP_OFF_D1 (FP_OFF_D2 + FP_D2_BINS)
#define FP_OFF_A3 (FP_OFF_D1 + FP_D1_BINS)
#define FP_OFF_SH (FP_OFF_A3 + FP_A3_BINS)
#define FP_OFF_PC (FP_OFF_SH + FP_SH_SHELLS * (FP_SH_L + 1))
#define FP_USED (FP_OFF_PC + 3 * FP_PC) /* the ratios take three bytes each (finer step) */

_Static_assert(FP_USED <= DESIGNS_FP_DIMS, "fingerprint layout over its size");

/* Quantisation steps: a value v becomes round(v * step) (clamped to 255).
 * The step is the block's weight in the L1 distance. */
typedef struct {
    double d2, d1, a3, sh, pc;
} fp_steps;
static const fp_steps fp_step = {.d2 = 200, .d1 = 120, .a3 = 120, .sh = 600, .pc = 85};

/* ---- sampling ------------------------------------------------------------------------
 * Area-weighted samples of a noisy mesh are not spread by area: vertex noise
 * larger than the triangles (text, fine details) multiplies the area of
 * small triangles. So FP_M candidates are drawn by triangle area and each is
 * then weighted by 1 / (candidates within FP_H RMS radii): a region drawn
 * ten times too often has ten times the neighbours. FP_N points are drawn
 * from the weighted candidates; they follow the surface at that scale,
 * whatever the tessellation or the noise under it. */

#define FP_M (8 * FP_N)   /* candidates */
#define FP_H 0.07         /* density radius in RMS radii */
#define FP_CELL_CAP 16    /* points checked per grid cell (evenly strided beyond) */

/* The corners of triangle t in an order of its own shape, from the one
 * facing the longest edge: the same points are sampled whichever corner
 * the file starts at and whichever way it winds (a mirrored copy). */
static void fp__corners(const designs_mesh *m, size_t t, const double *v[3])
{
    const double *p[3];
    double opp[3];
    for (int k = 0; k < 3; k++)
        p[k] = m->xyz + 3 * (size_t)m->tri[3 * t + k];
    for (int k = 0; k < 3; k++) {
        const double *a = p[(k + 1) % 3], *b = p[(k + 2) % 3];
        opp[k] = (a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
                 (a[2] - b[2]) * (a[2] - b[2]);
    }
    int o[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++) /* descending, stable */
        for (int j = 2; j > i; j--)
            if (opp[o[j]] > opp[o[j - 1]]) {
                int x = o[j];
                o[j] = o[j - 1];
                o[j - 1] = x;
            }
    for (int k = 0; k < 3; k++)
        v[k] = p[o[k]];
}

/* FP_M candidates by area: systematic positions along the cumulative area,
 * a Weyl sequence for the second coordinate inside a triangle. */
static cx_err fp__candidates(const designs_mesh *m, double *cand)
{
    double *cum = malloc(m->ntris * sizeof *cum);
    if (!cum)
        return CX_ENOMEM;
    double total = 0;
    for (size_t t = 0; t < m->ntris; t++) {
        const double *a = m->xyz + 3 * (size_t)m->tri[3 * t], *b = m->xyz + 3 * (size_t)m->tri[3 * t + 1],
                     *c = m->xyz + 3 * (size_t)m->tri[3 * t + 2];
        double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double n0 = u[1] * v[2] - u[2] * v[1], n1 = u[2] * v[0] - u[0] * v[2],
               n2 = u[0] * v[1] - u[1] * v[0];
        total += 0.5 * sqrt(n0 * n0 + n1 * n1 + n2 * n2);
        cum[t] = total;
    }
    if (!(total > 0) || !isfinite(total)) {
        free(cum);
        return CX_EINVAL; /* no surface */
    }
    size_t t = 0;
    double r2 = 0.5;
    for (size_t i = 0; i < FP_M; i++) {
        double target = (i + 0.5) / FP_M * total;
        while (t + 1 < m->ntris && cum[t] <= target)
            t++;
        double lo = t ? cum[t - 1] : 0, w = cum[t] - lo;
        double r1 = w > 0 ? (target - lo) / w : 0.5;
        r2 += 0.6180339887498949; /* golden-ratio Weyl sequence */
        r2 -= floor(r2);
        double s = sqrt(r1 < 0 ? 0 : r1 > 1 ? 1 : r1);
        double ba = 1 - s, bb = s * (1 - r2), bc = s * r2;
        const double *v[3];
        fp__corners(m, t, v);
        for (int k = 0; k < 3; k++)
            cand[3 * i + k] = ba * v[0][k] + bb * v[1][k] + bc * v[2][k];
    }
    free(cum);
    return CX_OK;
}

typedef struct {
    uint64_t id;
    uint32_t begin, end; /* positions in the sorted candidates */
} fp_cell;

/* First cell whose id is >= id. */
static size_t fp__lower(const fp_cell *cells, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cells[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct {
    double lo[3], cell;
    int64_t dim[3];
} fp_grid;

static int64_t fp__cell_of(const fp_grid *g, const double *p, int k)
{
    int64_t c = (int64_t)((p[k] - g->lo[k]) / g->cell);
    return c < 0 ? 0 : c >= g->dim[k] ? g->dim[k] - 1 : c;
}

static void fp__grid(const double *cand, double h, fp_grid *g)
{
    double hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++)
        g->lo[k] = INFINITY;
    for (size_t i = 0; i < FP_M; i++)
        for (int k = 0; k < 3; k++) {
            g->lo[k] = fmin(g->lo[k], cand[3 * i + k]);
            hi[k] = fmax(hi[k], cand[3 * i + k]);
        }
    /* at most 1000 cells a side: a far speck cannot make the grid huge */
    g->cell = h;
    for (int k = 0; k < 3; k++)
        g->cell = fmax(g->cell, (hi[k] - g->lo[k]) / 1000);
    for (int k = 0; k < 3; k++)
        g->dim[k] = (int64_t)((hi[k] - g->lo[k]) / g->cell) + 1;
}

/* Neighbours of one cell: up to 27 ranges of sorted candidates. */
static size_t fp__ranges(const fp_grid *g, const fp_cell *cells, size_t ncells, uint64_t id,
                         uint32_t (*out)[2])
{
    int64_t c[3] = {(int64_t)(id % (uint64_t)g->dim[0]),
                    (int64_t)(id / (uint64_t)g->dim[0] % (uint64_t)g->dim[1]),
                    (int64_t)(id / (uint64_t)g->dim[0] / (uint64_t)g->dim[1])};
    size_t n = 0;
    for (int64_t dz = -1; dz <= 1; dz++)
        for (int64_t dy = -1; dy <= 1; dy++) {
            int64_t y = c[1] + dy, z = c[2] + dz;
            if (y < 0 || z < 0 || y >= g->dim[1] || z >= g->dim[2])
                continue;
            /* x - 1 .. x + 1 of one row are consecutive ids */
            int64_t x0 = c[0] > 0 ? c[0] - 1 : 0, x1 = c[0] + 1 < g->dim[0] ? c[0] + 1 : c[0];
            uint64_t row = (uint64_t)(g->dim[0] * (y + g->dim[1] * z));
            for (size_t k = fp__lower(cells, ncells, row + (uint64_t)x0);
                 k < ncells && cells[k].id <= row + (uint64_t)x1; k++) {
                out[n][0] = cells[k].begin;
                out[n][1] = cells[k].end;
                n++;
            }
        }
    return n;
}

/* w[i] = 1 / (candidates within h of candidate i). Cells of a grid of side
 * h hold the candidates (sorted by cell); a cell holding more than
 * FP_CELL_CAP is sampled evenly and its count scaled. */
static cx_err fp__density(const double *cand, double h, double *w)
{
    fp_grid g;
    fp__grid(cand, h, &g);
    uint64_t *key = malloc(FP_M * sizeof *key);
    float *sx = malloc(3 * FP_M * sizeof *sx);
    fp_cell *cells = malloc(FP_M * sizeof *cells);
    cx_err e = key && sx && cells ? CX_OK : CX_ENOMEM;
    for (size_t i = 0; !e && i < FP_M; i++) {
        const double *p = cand + 3 * i;
        uint64_t id = (uint64_t)(fp__cell_of(&g, p, 0) +
                                 g.dim[0] * (fp__cell_of(&g, p, 1) + g.dim[1] * fp__cell_of(&g, p, 2)));
        key[i] = id << 32 | i;
    }
    if (!e)
        e = designs__radix_sort(key, FP_M, 64);
    size_t ncells = 0;
    for (size_t i = 0; !e && i < FP_M; i++) {
        const double *p = cand + 3 * (key[i] & 0xffffffffu);
        for (int k = 0; k < 3; k++)
            sx[3 * i + k] = (float)p[k];
        uint64_t id = key[i] >> 32;
        if (!ncells || cells[ncells - 1].id != id)
            cells[ncells++] = (fp_cell){id, (uint32_t)i, (uint32_t)i};
        cells[ncells - 1].end = (uint32_t)i + 1;
    }
    float h2 = (float)(h * h);
    uint32_t ranges[27][2];
    for (size_t c = 0; !e && c < ncells; c++) {
        size_t nr = fp__ranges(&g, cells, ncells, cells[c].id, ranges);
        for (uint32_t i = cells[c].begin; i < cells[c].end; i++) {
            const float *p = sx + 3 * (size_t)i;
            double n = 0;
            for (size_t r = 0; r < nr; r++) {
                uint32_t a = ranges[r][0], b = ranges[r][1];
                uint32_t stride = (b - a + FP_CELL_CAP - 1) / FP_CELL_CAP, seen = 0, hits = 0;
                for (uint32_t j = a; j < b; j += stride, seen++) {
                    const float *q = sx + 3 * (size_t)j;
                    float dx = p[0] - q[0], dy = p[1] - q[1], dz = p[2] - q[2];
                    hits += dx * dx + dy * dy + dz * dz <= h2;
                }
                n += (double)hits * (b - a) / seen;
            }
            w[key[i] & 0xffffffffu] = 1 / (n > 1 ? n : 1);
        }
    }
    free(key);
    free(sx);
    free(cells);
    return e;
}

/* Every (FP_M / FP_N)-th candidate with its weight (renormalised): still
 * spread by area along the surface, and a small change of the weights is a
 * small change of the statistics (drawing points by weight would jump). */
static void fp__subset(const double *cand, const double *w, double *pts, double *pw)
{
    double total = 0;
    for (size_t j = 0; j < FP_N; j++) {
        size_t i = j * (FP_M / FP_N) + FP_M / FP_N / 2;
        memcpy(pts + 3 * j, cand + 3 * i, 3 * sizeof(double));
        pw[j] = w[i];
        total += w[i];
    }
    for (size_t j = 0; j < FP_N; j++)
        pw[j] /= total;
}

/* Weighted centroid and covariance of the candidates, which are then
 * centred. */
static void fp__frame(double *cand, const double *w, designs_moments *mo)
{
    memset(mo, 0, sizeof *mo);
    for (size_t i = 0; i < FP_M; i++)
        for (int k = 0; k < 3; k++)
            mo->centroid[k] += w[i] * cand[3 * i + k];
    for (size_t i = 0; i < FP_M; i++) {
        double *p = cand + 3 * i;
        for (int k = 0; k < 3; k++)
            p[k] -= mo->centroid[k];
        for (int a = 0; a < 3; a++)
            for (int b = a; b < 3; b++)
                mo->cov[a][b] += w[i] * p[a] * p[b];
    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < a; b++)
            mo->cov[a][b] = mo->cov[b][a];
    designs__eigen_sym3(mo->cov, mo->eval, mo->evec);
}

/* The weighted candidates (weights summing to 1), centred, and a subset of
 * FP_N of them for the pair and triple statistics; the weighted frame (mo)
 * and the raw one (raw). */
typedef struct {
    double *cand, *w, *pts, *pw;
    designs_moments mo, raw;
} fp_sample;

static void fp__sample_free(fp_sample *s)
{
    free(s->cand);
    free(s->w);
    free(s->pts);
    free(s->pw);
}

/* The frame of the candidates as drawn (unweighted): its RMS radius scales
 * the density radius, and its axes orient the box whose diagonal is the
 * size of an open mesh. The candidates of a turned or mirrored copy are the
 * same points turned, so this frame turns with them exactly. */
static void fp__raw_frame(const double *cand, designs_moments *mo)
{
    memset(mo, 0, sizeof *mo);
    for (size_t i = 0; i < FP_M; i++)
        for (int k = 0; k < 3; k++)
            mo->centroid[k] += cand[3 * i + k] / FP_M;
    for (size_t i = 0; i < FP_M; i++)
        for (int a = 0; a < 3; a++)
            for (int b = a; b < 3; b++)
                mo->cov[a][b] += (cand[3 * i + a] - mo->centroid[a]) *
                                 (cand[3 * i + b] - mo->centroid[b]) / FP_M;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < a; b++)
            mo->cov[a][b] = mo->cov[b][a];
    designs__eigen_sym3(mo->cov, mo->eval, mo->evec);
}

static cx_err fp__sample(const designs_mesh *m, fp_sample *s)
{
    s->cand = malloc(3 * FP_M * sizeof *s->cand);
    s->w = malloc(FP_M * sizeof *s->w);
    s->pts = malloc(3 * FP_N * sizeof *s->pts);
    s->pw = malloc(FP_N * sizeof *s->pw);
    cx_err e = s->cand && s->w && s->pts && s->pw ? CX_OK : CX_ENOMEM;
    if (!e)
        e = fp__candidates(m, s->cand);
    if (!e)
        fp__raw_frame(s->cand, &s->raw);
    double r0 = sqrt(s->raw.eval[0] + s->raw.eval[1] + s->raw.eval[2]);
    if (!e && !(r0 > 0))
        e = CX_EINVAL;
    if (!e)
        e = fp__density(s->cand, FP_H * r0, s->w);
    if (e)
        return e;
    double total = 0;
    for (size_t i = 0; i < FP_M; i++)
        total += s->w[i];
    for (size_t i = 0; i < FP_M; i++)
        s->w[i] /= total;
    fp__frame(s->cand, s->w, &s->mo);
    fp__subset(s->cand, s->w, s->pts, s->pw);
    return CX_OK;
}

/* Adds weight w at position x (in bins) split linearly between neighbours. */
static void fp__soft(double *h, int bins, double x, double w)
{
    if (x < 0)
        x = 0;
    double f = x - 0.5;
    int i = (int)floor(f);
    double frac = f - i;
    if (i < 0) {
        h[0] += w;
        return;
    }
    if (i >= bins - 1) {
        h[bins - 1] += w;
        return;
    }
    h[i] += w * (1 - frac);
    h[i + 1] += w * frac;
}

static void fp__cumulate(double *h, int bins)
{
    double sum = 0;
    for (int i = 0; i < bins; i++)
        sum += h[i];
    double run = 0;
    for (int i = 0; i < bins; i++) {
        run += h[i];
        h[i] = sum > 0 ? run / sum : 0;
    }
}

/* ---- descriptors --------------------------------------------------------------------- */

/* All weighted pairs: float coordinates and plain bins keep the 2 million
 * distances to a few milliseconds (the compiler vectorises the binning). */
static void fp__d2(const double *p, const double *pw, double inv_r, double *h)
{
    float *x = malloc(4 * FP_N * sizeof *x);
    int32_t *bin = malloc(FP_N * sizeof *bin);
    if (!x || !bin) {
        free(x);
        free(bin);
        return;
    }
    float *y = x + FP_N, *z = y + FP_N, *w = z + FP_N;
    for (size_t i = 0; i < FP_N; i++) {
        x[i] = (float)p[3 * i];
        y[i] = (float)p[3 * i + 1];
        z[i] = (float)p[3 * i + 2];
        w[i] = (float)pw[i];
    }
    float scale = (float)(FP_D2_BINS / FP_D2_MAX * inv_r);
    for (size_t i = 0; i + 1 < FP_N; i++) {
        float xi = x[i], yi = y[i], zi = z[i];
        size_t n = FP_N - i - 1;
        for (size_t j = 0; j < n; j++) {
            float dx = xi - x[i + 1 + j], dy = yi - y[i + 1 + j], dz = zi - z[i + 1 + j];
            float d = sqrtf(dx * dx + dy * dy + dz * dz) * scale;
            d = d < (float)(FP_D2_BINS - 1) ? d : (float)(FP_D2_BINS - 1);
            bin[j] = (int32_t)d;
        }
        float row[FP_D2_BINS] = {0};
        for (size_t j = 0; j < n; j++)
            row[bin[j]] += w[i + 1 + j];
        for (int b = 0; b < FP_D2_BINS; b++)
            h[b] += (double)w[i] * row[b];
    }
    free(x);
    free(bin);
    fp__cumulate(h, FP_D2_BINS);
}

static void fp__d1(const double *c, const double *w, double inv_r, double *h)
{
    double scale = FP_D1_BINS / FP_D1_MAX * inv_r;
    for (size_t i = 0; i < FP_M; i++)
        fp__soft(h, FP_D1_BINS,
                 sqrt(c[3 * i] * c[3 * i] + c[3 * i + 1] * c[3 * i + 1] +
                      c[3 * i + 2] * c[3 * i + 2]) * scale,
                 w[i]);
    fp__cumulate(h, FP_D1_BINS);
}

/* Angles at point i between two others far along the sample order: the
 * order follows the cumulative area, so fixed offsets pick unrelated points. */
static void fp__a3(const double *p, const double *pw, double *h)
{
    for (size_t i = 0; i < FP_N; i++)
        for (size_t k = 0; k < FP_A3_OFFSETS; k++) {
            size_t j = (i + 1 + k * 37) % FP_N, l = (i + 1 + (k * 89 + 613) % (FP_N - 1)) % FP_N;
            if (l == j || l == i)
                continue;
            double u[3], v[3];
            for (int c = 0; c < 3; c++) {
                u[c] = p[3 * j + c] - p[3 * i + c];
                v[c] = p[3 * l + c] - p[3 * i + c];
            }
            double uu = u[0] * u[0] + u[1] * u[1] + u[2] * u[2],
                   vv = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
            if (uu <= 0 || vv <= 0)
                continue;
            double cs = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / sqrt(uu * vv);
            fp__soft(h, FP_A3_BINS, (cs + 1) / 2 * FP_A3_BINS, pw[i] * pw[j] * pw[l]);
        }
    fp__cumulate(h, FP_A3_BINS);
}

/* Real spherical harmonics of a unit vector, orthonormal, degrees 0..L:
 * y[l*l + l + m] for m = -l..l. Associated Legendre by the usual stable
 * recurrences in z; cos/sin(m phi) times sin^m(theta) from (x + iy)^m. */
/* The normalisation sqrt((2l+1)/4pi (l-m)!/(l+m)!) of each (l, m). */
static void fp__ylm_norm(double k[FP_SH_L + 1][FP_SH_L + 1])
{
    for (int l = 0; l <= FP_SH_L; l++) {
        double fact = 1; /* (l-m)!/(l+m)! built up as m grows */
        for (int m = 0; m <= l; m++) {
            if (m > 0)
                fact /= (double)(l + m) * (l - m + 1);
            k[l][m] = sqrt((2 * l + 1) / (4 * M_PI) * fact) * (m ? M_SQRT2 : 1);
        }
    }
}

static void fp__ylm(double x, double y, double z, const double k[FP_SH_L + 1][FP_SH_L + 1],
                    double *out)
{
    double P[FP_SH_L + 1][FP_SH_L + 1]; /* P[l][m] without sin^m(theta) (x+iy carries it) */
    P[0][0] = 1;
    for (int m = 1; m <= FP_SH_L; m++)
        P[m][m] = -(2 * m - 1) * P[m - 1][m - 1];
    for (int m = 0; m < FP_SH_L; m++)
        P[m + 1][m] = (2 * m + 1) * z * P[m][m];
    for (int m = 0; m <= FP_SH_L; m++)
        for (int l = m + 2; l <= FP_SH_L; l++)
            P[l][m] = ((2 * l - 1) * z * P[l - 1][m] - (l + m - 1) * P[l - 2][m]) / (l - m);
    double cm[FP_SH_L + 1], sm[FP_SH_L + 1];
    cm[0] = 1;
    sm[0] = 0;
    for (int m = 1; m <= FP_SH_L; m++) {
        cm[m] = cm[m - 1] * x - sm[m - 1] * y;
        sm[m] = sm[m - 1] * x + cm[m - 1] * y;
    }
    for (int l = 0; l <= FP_SH_L; l++) {
        out[l * l + l] = k[l][0] * P[l][0];
        for (int m = 1; m <= l; m++) {
            out[l * l + l + m] = k[l][m] * P[l][m] * cm[m];
            out[l * l + l - m] = k[l][m] * P[l][m] * sm[m];
        }
    }
}

static void fp__sh(const double *p, const double *wt, double inv_r, double *e)
{
    double norm[FP_SH_L + 1][FP_SH_L + 1];
    fp__ylm_norm(norm);
    double c[FP_SH_SHELLS][(FP_SH_L + 1) * (FP_SH_L + 1)];
    memset(c, 0, sizeof c);
    double y[(FP_SH_L + 1) * (FP_SH_L + 1)];
    for (size_t i = 0; i < FP_M; i++) {
        double r = sqrt(p[3 * i] * p[3 * i] + p[3 * i + 1] * p[3 * i + 1] +
                        p[3 * i + 2] * p[3 * i + 2]);
        if (r <= 0)
            continue;
        fp__ylm(p[3 * i] / r, p[3 * i + 1] / r, p[3 * i + 2] / r, (const double(*)[FP_SH_L + 1])norm,
                y);
        double x = r * inv_r * FP_SH_SHELLS / FP_SH_MAX - 0.5;
        int s = (int)floor(x);
        double f = x - s;
        for (int side = 0; side < 2; side++) {
            int sh = s + side;
            double w = (side ? f : 1 - f) * wt[i];
            if (sh < 0)
                sh = 0;
            if (sh >= FP_SH_SHELLS)
                sh = FP_SH_SHELLS - 1;
            for (int j = 0; j < (FP_SH_L + 1) * (FP_SH_L + 1); j++)
                c[sh][j] += w * y[j];
        }
    }
    for (int s = 0; s < FP_SH_SHELLS; s++)
        for (int l = 0; l <= FP_SH_L; l++) {
            double sum = 0;
            for (int m = -l; m <= l; m++)
                sum += c[s][l * l + l + m] * c[s][l * l + l + m];
            e[s * (FP_SH_L + 1) + l] = sqrt(sum);
        }
}

static uint8_t fp__byte(double v)
{
    long q = lround(v);
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

/* The size for the scale: the diagonal of the bounding box in the principal
 * frame (unchanged by rotation, unlike the box in the file's axes). */
static double fp__diag(const designs_mesh *m, const designs_moments *mo)
{
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t t = 0; t < 3 * m->ntris; t++) {
        const double *p = m->xyz + 3 * (size_t)m->tri[t];
        for (int a = 0; a < 3; a++) {
            double d = (p[0] - mo->centroid[0]) * mo->evec[a][0] +
                       (p[1] - mo->centroid[1]) * mo->evec[a][1] +
                       (p[2] - mo->centroid[2]) * mo->evec[a][2];
            lo[a] = d < lo[a] ? d : lo[a];
            hi[a] = d > hi[a] ? d : hi[a];
        }
    }
    return sqrt((hi[0] - lo[0]) * (hi[0] - lo[0]) + (hi[1] - lo[1]) * (hi[1] - lo[1]) +
                (hi[2] - lo[2]) * (hi[2] - lo[2]));
}

cx_err designs_fingerprint(const designs_mesh *m, const designs_inspection *in, designs_fp *out)
{
    memset(out, 0, sizeof *out);
    fp_sample smp = {0};
    cx_err e = fp__sample(m, &smp);
    double r2 = smp.mo.eval[0] + smp.mo.eval[1] + smp.mo.eval[2];
    if (e || !(r2 > 0)) {
        fp__sample_free(&smp);
        return e ? e : CX_EINVAL;
    }
    double inv_r = 1 / sqrt(r2);
    double d2[FP_D2_BINS] = {0}, d1[FP_D1_BINS] = {0}, a3[FP_A3_BINS] = {0};
    double sh[FP_SH_SHELLS * (FP_SH_L + 1)];
    fp__d2(smp.pts, smp.pw, inv_r, d2);
    fp__d1(smp.cand, smp.w, inv_r, d1);
    fp__a3(smp.pts, smp.pw, a3);
    fp__sh(smp.cand, smp.w, inv_r, sh);
    designs_moments mo = smp.mo, raw = smp.raw;
    fp__sample_free(&smp);
    const fp_steps *w = &fp_step;
    for (int i = 0; i < FP_D2_BINS; i++)
        out->v[FP_OFF_D2 + i] = fp__byte(d2[i] * w->d2);
    for (int i = 0; i < FP_D1_BINS; i++)
        out->v[FP_OFF_D1 + i] = fp__byte(d1[i] * w->d1);
    for (int i = 0; i < FP_A3_BINS; i++)
        out->v[FP_OFF_A3 + i] = fp__byte(a3[i] * w->a3);
    for (int i = 0; i < FP_SH_SHELLS * (FP_SH_L + 1); i++)
        out->v[FP_OFF_SH + i] = fp__byte(sh[i] * w->sh);
    double ev1 = mo.eval[0] > 0 ? mo.eval[0] : 1;
    for (int i = 0; i < FP_PC; i++) {
        double ratio = sqrt(fmax(mo.eval[i + 1], 0) / ev1); /* 0..1 */
        uint8_t b = fp__byte(ratio * w->pc);
        for (int k = 0; k < 3; k++) /* three bytes: weight 3 * pc */
            out->v[FP_OFF_PC + 3 * i + k] = b;
    }
    out->size_volume = in && in->watertight ? cbrt(fabs(in->volume_mm3)) : 0;
    out->size_diag = fp__diag(m, &raw);
    return CX_OK;
}
