/* Objects: what stands out of the residual. In an empty container every
 * compact excess is a candidate; in a load, what is much denser than the
 * load around it (a local background of 10 cm blocks, median over 90 cm,
 * from the load's own blocks only). Under the floor: the cavity between
 * the cross-members, which holds nothing in an honest container. */
#include "xray_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void xa__cand_add(xa_cands *c, const xa_cand *x)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        xa_cand *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = *x;
}

typedef struct {
    int x0, y0, x1, y1;
    size_t n;
    double sum; /* of the weight over the blob */
} reg_blob;

/* 8-connected blobs of mask inside [bx0,bx1)×[by0,by1), with the sum of
 * weight over each. *out is freed by the caller. */
static size_t reg__blobs(const uint8_t *mask, const float *weight, int w, int bx0, int by0,
                         int bx1, int by1, reg_blob **out)
{
    *out = NULL;
    size_t cells = (size_t)w * (size_t)by1;
    uint8_t *seen = calloc(cells, 1);
    int32_t *stack = malloc(sizeof(int32_t) * 2 * (size_t)(bx1 - bx0) * (size_t)(by1 - by0) + 8);
    reg_blob *blobs = NULL;
    size_t nb = 0, cap = 0;
    if (!seen || !stack)
        goto done;
    for (int y = by0; y < by1; y++)
        for (int x = bx0; x < bx1; x++) {
            size_t i = (size_t)y * w + x;
            if (!mask[i] || seen[i])
                continue;
            if (nb == cap) {
                cap = cap ? 2 * cap : 64;
                reg_blob *nbl = realloc(blobs, cap * sizeof *nbl);
                if (!nbl)
                    goto done;
                blobs = nbl;
            }
            reg_blob b = {x, y, x + 1, y + 1, 0, 0};
            size_t sp = 0;
            stack[sp++] = x;
            stack[sp++] = y;
            seen[i] = 1;
            while (sp) {
                int cy = stack[--sp], cx = stack[--sp];
                size_t ci = (size_t)cy * w + cx;
                b.n++;
                b.sum += weight ? weight[ci] : 1;
                b.x0 = cx < b.x0 ? cx : b.x0;
                b.x1 = cx + 1 > b.x1 ? cx + 1 : b.x1;
                b.y0 = cy < b.y0 ? cy : b.y0;
                b.y1 = cy + 1 > b.y1 ? cy + 1 : b.y1;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = cx + dx, ny = cy + dy;
                        if (nx < bx0 || nx >= bx1 || ny < by0 || ny >= by1)
                            continue;
                        size_t ni = (size_t)ny * w + nx;
                        if (mask[ni] && !seen[ni]) {
                            seen[ni] = 1;
                            stack[sp++] = nx;
                            stack[sp++] = ny;
                        }
                    }
            }
            blobs[nb++] = b;
        }
done:
    free(seen);
    free(stack);
    *out = blobs;
    return blobs ? nb : 0;
}

/* The residual smoothed over about 4.5 cm, and its noise measured on the
 * clear pixels (so that blur and correlated noise are counted). */
typedef struct {
    float *rs;
    double sigma;
    int kx, ky;
} reg_smooth;

static cx_err reg__smooth(const xa_scan *s, reg_smooth *o)
{
    o->kx = (int)lround(20 / s->px_x);
    o->ky = (int)lround(20 / s->px_y);
    o->kx = o->kx < 1 ? 1 : o->kx;
    o->ky = o->ky < 1 ? 1 : o->ky;
    xa_integral ii;
    if (xa__integral(&ii, s->res, s->w, s->h) != CX_OK)
        return CX_ENOMEM;
    o->rs = calloc((size_t)s->w * s->h, sizeof *o->rs);
    size_t cap = (size_t)(s->fi - s->di) * (size_t)(s->floor - s->roof) / 4 + 1;
    float *clear = malloc(sizeof(float) * cap);
    if (!o->rs || !clear) {
        free(clear);
        xa__integral_free(&ii);
        return CX_ENOMEM;
    }
    double tol = fmax(4 * s->noise, 1.5);
    size_t n = 0;
    for (int y = s->roof; y < s->floor; y++)
        for (int x = s->di; x < s->fi; x++) {
            int x0 = x - o->kx > s->di ? x - o->kx : s->di;
            int x1 = x + o->kx + 1 < s->fi ? x + o->kx + 1 : s->fi;
            int y0 = y - o->ky > s->roof ? y - o->ky : s->roof;
            int y1 = y + o->ky + 1 < s->floor ? y + o->ky + 1 : s->floor;
            float v = (float)(xa__box(&ii, x0, y0, x1, y1) / ((x1 - x0) * (y1 - y0)));
            o->rs[(size_t)y * s->w + x] = v;
            if (((x | y) & 1) == 0 && fabsf(s->res[(size_t)y * s->w + x]) < tol && n < cap)
                clear[n++] = fabsf(v);
        }
    o->sigma = n > 100 ? xa__quantile(clear, n, 0.5) / 0.6745 : s->noise;
    o->sigma = fmax(o->sigma, s->noise / sqrt((2.0 * o->kx + 1) * (2.0 * o->ky + 1)));
    free(clear);
    xa__integral_free(&ii);
    return CX_OK;
}

/* The box at half the excess's peak along each axis, inside the blob's
 * box: it hugs the object, not the halo the smoothing gave it. */
static void reg__tighten(const xa_scan *s, double base, int *x0, int *y0, int *x1, int *y1)
{
    int w = *x1 - *x0, h = *y1 - *y0;
    double *col = calloc((size_t)w, sizeof *col), *row = calloc((size_t)h, sizeof *row);
    if (!col || !row) {
        free(col);
        free(row);
        return;
    }
    for (int y = *y0; y < *y1; y++)
        for (int x = *x0; x < *x1; x++) {
            double v = s->res[(size_t)y * s->w + x] - base;
            col[x - *x0] += v;
            row[y - *y0] += v;
        }
    double cm = 0, rm = 0;
    for (int i = 0; i < w; i++)
        cm = fmax(cm, col[i]);
    for (int i = 0; i < h; i++)
        rm = fmax(rm, row[i]);
    int a = 0, b = w - 1, c = 0, d = h - 1;
    while (a < b && col[a] < cm / 2)
        a++;
    while (b > a && col[b] < cm / 2)
        b--;
    while (c < d && row[c] < rm / 2)
        c++;
    while (d > c && row[d] < rm / 2)
        d--;
    if (cm > 0 && rm > 0) {
        *x1 = *x0 + b + 1;
        *x0 += a;
        *y1 = *y0 + d + 1;
        *y0 += c;
    }
    free(col);
    free(row);
}

/* ---- an empty container: every compact excess ------------------------------------- */

static void reg__empty_objects(const xa_scan *s, const reg_smooth *sm, xa_cands *out)
{
    double t = fmax(5 * sm->sigma, 0.8);
    uint8_t *mask = calloc((size_t)s->w * s->h, 1);
    if (!mask)
        return;
    for (int y = s->roof; y < s->floor; y++)
        for (int x = s->di; x < s->fi; x++)
            mask[(size_t)y * s->w + x] = sm->rs[(size_t)y * s->w + x] > t;
    reg_blob *b;
    size_t nb = reg__blobs(mask, s->res, s->w, s->di, s->roof, s->fi, s->floor, &b);
    double min_px = (60 / s->px_x) * (60 / s->px_y);
    for (size_t i = 0; i < nb; i++) {
        if ((double)b[i].n < min_px)
            continue;
        double mean = b[i].sum / (double)b[i].n;
        reg__tighten(s, 0, &b[i].x0, &b[i].y0, &b[i].x1, &b[i].y1);
        xa_cand c = {b[i].x0, b[i].y0, b[i].x1, b[i].y1, XRAY_ORGANIC_MASS, 0,
                     b[i].sum * s->cell_cm2 / 1000, mean,
                     mean / (s->noise / sqrt((double)b[i].n)), 0, 0, 'o'};
        /* density if it is as deep as it is wide: steel-like is dense */
        double depth_cm = fmin((c.x1 - c.x0) * s->px_x, (c.y1 - c.y0) * s->px_y) / 10;
        if (mean / depth_cm > 1.6)
            c.kind = XRAY_DENSE_OBJECT;
        xa__cand_add(out, &c);
    }
    free(b);
    free(mask);
}

/* ---- a load: what is much denser than the load around it -------------------------- */

typedef struct {
    int bx, by, gx, gy;
    float *val; /* block medians of the smoothed residual */
    float *bg;  /* the load around each block (NAN: not enough load) */
    double texture; /* robust spread of val - bg over the load's blocks */
    double level;   /* the load's median block */
} reg_blocks;

static cx_err reg__blocks(const xa_scan *s, const reg_smooth *sm, double t_cargo, reg_blocks *g)
{
    g->bx = (int)lround(100 / s->px_x);
    g->by = (int)lround(100 / s->px_y);
    g->bx = g->bx < 2 ? 2 : g->bx;
    g->by = g->by < 2 ? 2 : g->by;
    g->gx = (s->fi - s->di + g->bx - 1) / g->bx;
    g->gy = (s->floor - s->roof + g->by - 1) / g->by;
    size_t nb = (size_t)g->gx * g->gy;
    g->val = malloc(sizeof(float) * nb);
    g->bg = malloc(sizeof(float) * nb);
    float *tmp = malloc(sizeof(float) * ((size_t)g->bx * g->by + 81));
    if (!g->val || !g->bg || !tmp) {
        free(tmp);
        return CX_ENOMEM;
    }
    for (int j = 0; j < g->gy; j++)
        for (int i = 0; i < g->gx; i++) {
            size_t n = 0;
            /* every other pixel: the smoothed residual varies slowly */
            for (int y = s->roof + j * g->by; y < s->roof + (j + 1) * g->by && y < s->floor; y += 2)
                for (int x = s->di + i * g->bx; x < s->di + (i + 1) * g->bx && x < s->fi; x += 2)
                    tmp[n++] = sm->rs[(size_t)y * s->w + x];
            g->val[(size_t)j * g->gx + i] = xa__quantile(tmp, n, 0.5);
        }
    for (int j = 0; j < g->gy; j++)
        for (int i = 0; i < g->gx; i++) {
            size_t n = 0;
            for (int dj = -4; dj <= 4; dj++)
                for (int di = -4; di <= 4; di++) {
                    int a = i + di, b = j + dj;
                    if (a < 0 || b < 0 || a >= g->gx || b >= g->gy)
                        continue;
                    float v = g->val[(size_t)b * g->gx + a];
                    if (v > t_cargo)
                        tmp[n++] = v;
                }
            g->bg[(size_t)j * g->gx + i] = n >= 12 ? xa__quantile(tmp, n, 0.5) : NAN;
        }
    size_t n = 0;
    float *dev = malloc(sizeof(float) * nb);
    for (size_t k = 0; dev && k < nb; k++)
        if (g->val[k] > t_cargo && !isnan(g->bg[k]))
            dev[n++] = fabsf(g->val[k] - g->bg[k]);
    g->texture = n > 8 ? 1.4826 * xa__quantile(dev, n, 0.5) : 0;
    n = 0;
    for (size_t k = 0; dev && k < nb; k++)
        if (g->val[k] > t_cargo)
            dev[n++] = g->val[k];
    g->level = n ? xa__quantile(dev, n, 0.5) : t_cargo;
    free(dev);
    free(tmp);
    return CX_OK;
}

static void reg__load_objects(const xa_scan *s, const reg_smooth *sm, xa_cands *out)
{
    double t_cargo = fmax(5 * sm->sigma, 1.5);
    reg_blocks g = {0};
    uint8_t *mask = calloc((size_t)s->w * s->h, 1);
    float *d = calloc((size_t)s->w * s->h, sizeof *d);
    if (!mask || !d || reg__blocks(s, sm, t_cargo, &g) != CX_OK)
        goto done;
    for (int y = s->roof; y < s->floor; y++)
        for (int x = s->di; x < s->fi; x++) {
            size_t b = (size_t)((y - s->roof) / g.by) * g.gx + (x - s->di) / g.bx;
            float bg = g.bg[b];
            size_t i = (size_t)y * s->w + x;
            if (isnan(bg) || sm->rs[i] <= t_cargo)
                continue;
            d[i] = sm->rs[i] - bg;
            mask[i] = d[i] > fmax(fmax(3 * g.texture, 0.12 * bg), 3.0);
        }
    reg_blob *b;
    size_t nb = reg__blobs(mask, d, s->w, s->di, s->roof, s->fi, s->floor, &b);
    double min_px = (80 / s->px_x) * (80 / s->px_y);
    for (size_t i = 0; i < nb; i++) {
        if ((double)b[i].n < min_px)
            continue;
        double mean = b[i].sum / (double)b[i].n;
        size_t blk = (size_t)(((b[i].y0 + b[i].y1) / 2 - s->roof) / g.by) * g.gx +
                     (size_t)(((b[i].x0 + b[i].x1) / 2 - s->di) / g.bx);
        double bg = isnan(g.bg[blk]) ? t_cargo : g.bg[blk];
        reg__tighten(s, bg, &b[i].x0, &b[i].y0, &b[i].x1, &b[i].y1);
        /* a light load (car bodies, empty crates) holds dense parts by
         * design: count it as heterogeneous */
        double hetero = g.texture / fmax(g.level, 1.0) + 5 / fmax(g.level, 1.0);
        xa_cand c = {b[i].x0, b[i].y0, b[i].x1, b[i].y1, XRAY_DENSE_OBJECT, 0,
                     b[i].sum * s->cell_cm2 / 1000, mean / fmax(bg, 1.0),
                     mean / fmax(g.texture, sm->sigma), hetero, 0, 'o'};
        xa__cand_add(out, &c);
    }
    free(b);
done:
    free(g.val);
    free(g.bg);
    free(mask);
    free(d);
}

void xa__objects(const xa_scan *s, bool loaded, xa_cands *out)
{
    reg_smooth sm = {0};
    if (reg__smooth(s, &sm) != CX_OK)
        return;
    if (loaded)
        reg__load_objects(s, &sm, out);
    else
        reg__empty_objects(s, &sm, out);
    free(sm.rs);
}

/* ---- under the floor ------------------------------------------------------------------ */

/* Per column, the cavity's median over its rows, less each row's level
 * along the container; a running median of 11 cm drops the cross-members'
 * webs. A run of 15 cm or more above the noise holds something. */
void xa__floor(const xa_scan *s, xa_cands *out)
{
    int h = s->cavity1 - s->cavity0, n = s->fi - s->di;
    if (h < 3 || n < 20)
        return;
    float *lev = malloc(sizeof(float) * (size_t)h), *col = malloc(sizeof(float) * (size_t)n);
    float *sm = malloc(sizeof(float) * (size_t)n);
    float *tmp = malloc(sizeof(float) * (size_t)(n > h ? n : h));
    if (!lev || !col || !sm || !tmp)
        goto done;
    for (int r = 0; r < h; r++) {
        const float *row = s->a + (size_t)(s->cavity0 + r) * s->w;
        for (int x = 0; x < n; x++)
            tmp[x] = row[s->di + x];
        lev[r] = xa__quantile(tmp, (size_t)n, 0.5);
    }
    for (int x = 0; x < n; x++) {
        for (int r = 0; r < h; r++)
            tmp[r] = s->a[(size_t)(s->cavity0 + r) * s->w + s->di + x] - lev[r];
        col[x] = xa__quantile(tmp, (size_t)h, 0.5);
    }
    int k = (int)lround(55 / s->px_x);
    k = k < 2 ? 2 : k;
    for (int x = 0; x < n; x++) {
        size_t m = 0;
        for (int j = x - k; j <= x + k; j++)
            if (j >= 0 && j < n)
                tmp[m++] = col[j];
        sm[x] = xa__quantile(tmp, m, 0.5);
    }
    for (int x = 0; x < n; x++)
        tmp[x] = fabsf(sm[x]); /* the profile's median is 0 by construction */
    double spread = fmax(1.4826 * xa__quantile(tmp, (size_t)n, 0.5), 0.05);
    double t = fmax(6 * spread, 2.0);
    int min_run = (int)lround(150 / s->px_x);
    for (int x = 0; x < n;) {
        if (sm[x] <= t) {
            x++;
            continue;
        }
        int a = x;
        double sum = 0;
        while (x < n && sm[x] > t)
            sum += sm[x++];
        if (x - a < min_run)
            continue;
        double mean = sum / (x - a);
        xa_cand c = {s->di + a, s->cavity0, s->di + x, s->cavity1,
                     mean > 150 ? XRAY_DENSE_OBJECT : XRAY_ORGANIC_MASS, 0,
                     sum * h * s->cell_cm2 / 1000, mean, mean / spread, 0, 0, 'f'};
        xa__cand_add(out, &c);
    }
done:
    free(lev);
    free(col);
    free(sm);
    free(tmp);
}
