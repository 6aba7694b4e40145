/* The empty container's own signature inside it, estimated on the scan:
 * the side walls give each column its level (corrugation, pulse-to-pulse
 * intensity), each detector row adds its own offset; both are taken from
 * the pixels that hold nothing else. What remains is the cargo. */
#include "xray_int.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- small statistics ------------------------------------------------------------ */

static void model__swap(float *a, float *b)
{
    float t = *a;
    *a = *b;
    *b = t;
}

/* Hoare's selection: the k-th smallest of v[0..n). */
static float model__select(float *v, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j)
                model__swap(&v[i++], &v[j--]);
        }
        if (kk <= j)
            hi = j;
        else if (kk >= i)
            lo = i;
        else
            return v[kk];
    }
    return v[kk];
}

float xa__quantile(float *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    size_t k = (size_t)(q * (double)(n - 1) + 0.5);
    return model__select(v, n, k < n ? k : n - 1);
}

double xa__median_d(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    /* small arrays only (profiles): insertion sort keeps it simple */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

cx_err xa__integral(xa_integral *ii, const float *v, int w, int h)
{
    ii->w = w;
    ii->h = h;
    ii->s = calloc((size_t)(w + 1) * (h + 1), sizeof *ii->s);
    if (!ii->s)
        return CX_ENOMEM;
    for (int y = 0; y < h; y++) {
        double run = 0;
        double *row = ii->s + (size_t)(y + 1) * (w + 1), *up = row - (w + 1);
        for (int x = 0; x < w; x++) {
            run += v[(size_t)y * w + x];
            row[x + 1] = up[x + 1] + run;
        }
    }
    return CX_OK;
}

double xa__box(const xa_integral *ii, int x0, int y0, int x1, int y1)
{
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > ii->w ? ii->w : x1;
    y1 = y1 > ii->h ? ii->h : y1;
    if (x1 <= x0 || y1 <= y0)
        return 0;
    size_t W = (size_t)ii->w + 1;
    return ii->s[(size_t)y1 * W + x1] - ii->s[(size_t)y0 * W + x1] - ii->s[(size_t)y1 * W + x0] +
           ii->s[(size_t)y0 * W + x0];
}

void xa__integral_free(xa_integral *ii)
{
    free(ii->s);
    ii->s = NULL;
}

/* ---- the model ------------------------------------------------------------------------ */

/* Pixel noise from neighbours' differences in the band under the roof,
 * where the walls are usually alone: MAD / (0.6745 √2). */
static double model__noise(const xa_scan *s, int y0, int y1)
{
    size_t cap = (size_t)(y1 - y0) * (size_t)(s->fi - s->di);
    float *d = malloc(sizeof(float) * (cap ? cap : 1));
    if (!d)
        return 0.5;
    size_t n = 0;
    for (int y = y0; y < y1; y++) {
        const float *row = s->a + (size_t)y * s->w;
        for (int x = s->di; x + 1 < s->fi; x += 2)
            d[n++] = fabsf(row[x + 1] - row[x]);
    }
    double sigma = n ? xa__quantile(d, n, 0.5) / (0.6745 * sqrt(2)) : 0.5;
    free(d);
    return sigma > 0.02 ? sigma : 0.02;
}

/* Per column: the median of the band under the roof; the walls' level is
 * a low quantile of those (cargo seldom reaches the roof everywhere). */
static double model__wall_level(const xa_scan *s, int band1, float *colband, float *tmp)
{
    for (int x = s->di; x < s->fi; x++) {
        size_t n = 0;
        for (int y = s->roof; y < band1; y++)
            tmp[n++] = s->a[(size_t)y * s->w + x];
        colband[x] = xa__quantile(tmp, n, 0.5);
    }
    size_t n = 0;
    for (int x = s->di; x < s->fi; x++)
        tmp[n++] = colband[x];
    return xa__quantile(tmp, n, 0.25);
}

/* The guard: pixels next to the floor, the roof and the end walls that
 * the detector's blur mixes with that steel; modelled apart. */
static int model__guard(const xa_scan *s, double px)
{
    int g = (int)ceil(25 / px);
    (void)s;
    return g < 4 ? 4 : g;
}

/* A pixel is clear (walls only) when it is within `tol` of the walls.
 * Near the ends the corner posts add their steel to whole columns: there a
 * column's own lightest tenth is its walls (capped: more is cargo). */
static void model__columns(xa_scan *s, double tol, float *tmp)
{
    int need = (s->floor - s->roof) / 16 > 6 ? (s->floor - s->roof) / 16 : 6;
    int gx = model__guard(s, s->px_x), gy = model__guard(s, s->px_y);
    int ends = (int)lround(200 / s->px_x);
    bool *have = calloc((size_t)s->w, sizeof *have);
    for (int x = s->di; x < s->fi; x++) {
        size_t n = 0;
        if (x < s->di + gx || x >= s->fi - gx) {
            s->wallc[x] = NAN;
            continue;
        }
        double ref = s->wall;
        if (x < s->di + ends || x >= s->fi - ends) {
            /* the lightest of: the column's lightest twentieth, the band
             * under the roof (cargo seldom reaches it) */
            for (int y = s->roof + gy; y < s->floor - gy; y++)
                tmp[n++] = s->a[(size_t)y * s->w + x] - s->rowc[y];
            double low = xa__quantile(tmp, n, 0.05);
            n = 0;
            int band = (int)lround(150 / s->px_y);
            for (int y = s->roof + gy; y < s->roof + gy + band && y < s->floor; y++)
                tmp[n++] = s->a[(size_t)y * s->w + x] - s->rowc[y];
            ref = fmin(fmin(low, xa__quantile(tmp, n, 0.5)), s->wall + 30);
            n = 0;
        }
        for (int y = s->roof + gy; y < s->floor - gy; y += 2) { /* every other row */
            float v = s->a[(size_t)y * s->w + x] - s->rowc[y];
            if (v < ref + tol)
                tmp[n++] = v;
        }
        if ((int)n >= need) {
            s->wallc[x] = xa__quantile(tmp, n, 0.5);
            if (have)
                have[x] = true;
        } else {
            s->wallc[x] = NAN;
        }
    }
    /* columns full of cargo: the nearest measured columns' median (±40 cm) */
    int reach = (int)lround(400 / s->px_x);
    for (int x = s->di; x < s->fi; x++) {
        if (!isnan(s->wallc[x]))
            continue;
        size_t n = 0;
        for (int k = x - reach; k <= x + reach; k++)
            if (k >= s->di && k < s->fi && have && have[k])
                tmp[n++] = s->wallc[k];
        s->wallc[x] = n ? xa__quantile(tmp, n, 0.5) : (float)s->wall;
    }
    free(have);
}

/* Per row: the clear pixels' median offset from their columns' level. */
static void model__rows(xa_scan *s, double tol, float *tmp)
{
    int need = (s->fi - s->di) / 10 > 10 ? (s->fi - s->di) / 10 : 10;
    int gx = model__guard(s, s->px_x);
    for (int y = s->roof; y < s->floor; y++) {
        size_t n = 0;
        const float *row = s->a + (size_t)y * s->w;
        for (int x = s->di + gx; x < s->fi - gx; x++) {
            float v = row[x] - s->wallc[x];
            if (fabsf(v) < tol)
                tmp[n++] = v;
        }
        s->rowc[y] = (int)n >= need ? xa__quantile(tmp, n, 0.5) : 0;
    }
}

/* Guard rows: their offset where the rows just inside are clear (nothing
 * stands there, so what the row shows is the floor's or roof's blur). */
static void model__guard_rows(xa_scan *s, double tol, float *tmp)
{
    int gx = model__guard(s, s->px_x), gy = model__guard(s, s->px_y);
    for (int side = 0; side < 2; side++) {
        int inner0 = side ? s->floor - gy - 3 : s->roof + gy; /* 3 rows just inside */
        for (int k = 0; k < gy; k++) {
            int y = side ? s->floor - gy + k : s->roof + k;
            size_t n = 0;
            for (int x = s->di + gx; x < s->fi - gx; x++) {
                bool clear = true;
                for (int j = inner0; j < inner0 + 3 && clear; j++)
                    clear = fabsf(s->a[(size_t)j * s->w + x] - s->wallc[x] - s->rowc[j]) < tol;
                if (clear)
                    tmp[n++] = s->a[(size_t)y * s->w + x] - s->wallc[x];
            }
            s->rowc[y] = n >= 10 ? xa__quantile(tmp, n, 0.5) : 0;
        }
    }
}

/* Guard columns, the same way with the columns just inside. */
static void model__guard_cols(xa_scan *s, double tol, float *tmp)
{
    int gx = model__guard(s, s->px_x);
    for (int side = 0; side < 2; side++) {
        int inner0 = side ? s->fi - gx - 3 : s->di + gx;
        for (int k = 0; k < gx; k++) {
            int x = side ? s->fi - gx + k : s->di + k;
            size_t n = 0;
            for (int y = s->roof; y < s->floor; y++) {
                const float *row = s->a + (size_t)y * s->w;
                bool clear = true;
                for (int j = inner0; j < inner0 + 3 && clear; j++)
                    clear = fabsf(row[j] - s->wallc[j] - s->rowc[y]) < tol;
                if (clear)
                    tmp[n++] = row[x] - s->rowc[y];
            }
            s->wallc[x] = n >= 10 ? xa__quantile(tmp, n, 0.5) : s->wallc[inner0];
        }
    }
}

cx_err xa__model(xa_scan *s)
{
    size_t big = (size_t)(s->w > s->h ? s->w : s->h);
    s->wallc = calloc((size_t)s->w, sizeof *s->wallc);
    s->rowc = calloc((size_t)s->h, sizeof *s->rowc);
    s->res = calloc((size_t)s->w * s->h, sizeof *s->res);
    float *tmp = malloc(sizeof(float) * big);
    float *colband = malloc(sizeof(float) * (size_t)s->w);
    if (!s->wallc || !s->rowc || !s->res || !tmp || !colband) {
        free(tmp);
        free(colband);
        return CX_ENOMEM;
    }
    int band1 = s->roof + (s->floor - s->roof) / 8;
    s->noise = model__noise(s, s->roof + model__guard(s, s->px_y), band1);
    s->wall = model__wall_level(s, band1, colband, tmp);
    /* a side wall is a few mm of steel: more means cargo up to the roof */
    s->wall_measured = s->wall < 12;
    if (!s->wall_measured)
        s->wall = 3.5;
    double tol = fmax(4 * s->noise, 1.5);
    model__columns(s, tol, tmp);
    model__rows(s, tol, tmp);
    model__columns(s, tol, tmp); /* once more, with the rows' offsets known */
    model__guard_rows(s, tol, tmp);
    model__guard_cols(s, tol, tmp);
    for (int y = s->roof; y < s->floor; y++) {
        const float *row = s->a + (size_t)y * s->w;
        float *out = s->res + (size_t)y * s->w;
        for (int x = s->di; x < s->fi; x++)
            out[x] = row[x] - s->wallc[x] - s->rowc[y];
    }
    free(tmp);
    free(colband);
    return CX_OK;
}
