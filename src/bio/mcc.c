/* Minutia Cylinder-Code features (Cappelli, Ferrara, Maltoni, "Minutia
 * Cylinder-Code: a new representation and matching technique for
 * fingerprint recognition", IEEE TPAMI 32(12), 2010), bit-based.
 *
 * Each minutia gets a cylinder: a disc of radius R around it, turned to its
 * direction, cut into NS x NS cells and ND direction sections. A cell's bit
 * says whether some other minutia lies near the cell's centre with a
 * direction (relative to the central one) in that section. Cells outside
 * the disc or outside the fingerprint (the convex hull of the minutiae,
 * grown by omega) are invalid: they neither match nor mismatch. */
#include "bio_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The paper's values for 500 dpi, with NS = 16 and ND = 6. */
mcc_params mcc__params = {
    .r = 70.0f,
    .sigma_s = 28.0f / 3.0f,
    .sigma_d = (float)(2 * M_PI / 9),
    .mu_psi = 0.01f,
    .omega = 50.0f,
    .min_vc = 0.60f,
    .min_m = 2,
    .min_me = 0.60f,
    .delta_theta = (float)(M_PI / 2),
    .min_np = 4,
    .max_np = 12,
    .mu_p = 20.0f,
    .tau_p = 0.4f,
    .n_rel = 5,
    .w_r = 0.5f,
    .mu1 = 8.0f, /* the paper has 5 px; 8 chosen leaving each database out (docs) */
    .tau1 = -1.6f,
    .mu2 = (float)(M_PI / 12),
    .tau2 = -30.0f,
    .mu3 = (float)(M_PI / 12),
    .tau3 = -30.0f,
    .rel_k = 0.0f,
};

#define PX_PER_MM 19.685039370078740 /* 500 dpi */

static double mcc__wrap(double a) /* to (-π, π] */
{
    while (a > M_PI)
        a -= 2 * M_PI;
    while (a <= -M_PI)
        a += 2 * M_PI;
    return a;
}

/* ---- the fingerprint's region: convex hull of the minutiae, grown ---------- */

typedef struct {
    size_t n;
    double x[MCC_MAXM + 1], y[MCC_MAXM + 1];
} mcc_hull;

static double mcc__cross(double ox, double oy, double ax, double ay, double bx, double by)
{
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox);
}

static int mcc__cmp_pt(const void *a, const void *b)
{
    const double *p = a, *q = b;
    if (p[0] != q[0])
        return p[0] < q[0] ? -1 : 1;
    return (p[1] > q[1]) - (p[1] < q[1]);
}

/* Andrew's monotone chain; counter-clockwise in a y-up sense. */
static void mcc__hull(const mcc_min *m, size_t n, mcc_hull *h)
{
    double pts[MCC_MAXM][2];
    for (size_t i = 0; i < n; i++) {
        pts[i][0] = m[i].x;
        pts[i][1] = m[i].y;
    }
    qsort(pts, n, sizeof pts[0], mcc__cmp_pt);
    size_t k = 0;
    double hx[2 * MCC_MAXM + 2], hy[2 * MCC_MAXM + 2];
    for (size_t i = 0; i < n; i++) {
        while (k >= 2 && mcc__cross(hx[k - 2], hy[k - 2], hx[k - 1], hy[k - 1], pts[i][0],
                                    pts[i][1]) <= 0)
            k--;
        hx[k] = pts[i][0];
        hy[k++] = pts[i][1];
    }
    for (size_t i = n - 1, t = k + 1; i-- > 0;) {
        while (k >= t && mcc__cross(hx[k - 2], hy[k - 2], hx[k - 1], hy[k - 1], pts[i][0],
                                    pts[i][1]) <= 0)
            k--;
        hx[k] = pts[i][0];
        hy[k++] = pts[i][1];
    }
    h->n = k > 1 ? k - 1 : k; /* the last point repeats the first */
    if (h->n > MCC_MAXM + 1)
        h->n = MCC_MAXM + 1;
    for (size_t i = 0; i < h->n; i++) {
        h->x[i] = hx[i];
        h->y[i] = hy[i];
    }
}

static double mcc__seg_dist2(double px, double py, double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double ex = ax + t * dx - px, ey = ay + t * dy - py;
    return ex * ex + ey * ey;
}

/* Inside the hull, or within omega of it. */
static bool mcc__in_region(const mcc_hull *h, double px, double py, double omega)
{
    if (h->n < 3) {
        for (size_t i = 0; i < h->n; i++)
            if ((h->x[i] - px) * (h->x[i] - px) + (h->y[i] - py) * (h->y[i] - py) <=
                omega * omega)
                return true;
        return h->n == 2 && mcc__seg_dist2(px, py, h->x[0], h->y[0], h->x[1], h->y[1]) <=
                                omega * omega;
    }
    bool inside = true;
    for (size_t i = 0; i < h->n; i++) {
        size_t j = (i + 1) % h->n;
        if (mcc__cross(h->x[i], h->y[i], h->x[j], h->y[j], px, py) < 0) {
            inside = false;
            break;
        }
    }
    if (inside)
        return true;
    for (size_t i = 0; i < h->n; i++) {
        size_t j = (i + 1) % h->n;
        if (mcc__seg_dist2(px, py, h->x[i], h->y[i], h->x[j], h->y[j]) <= omega * omega)
            return true;
    }
    return false;
}

/* ---- cylinders ------------------------------------------------------------------ */

/* The spatial Gaussian by squared distance, tabulated (linear between
 * entries: within 1e-6 of exp) because a cylinder sums it for every cell
 * and every neighbour. */
#define GS_STEP 0.125 /* px^2 */
#define GS_MAX 8192   /* entries: up to 1024 px^2, i.e. 3 sigma of 10.6 px */

static struct {
    double sigma, step_inv;
    size_t n;
    double v[GS_MAX + 2];
} mcc__gs;
static pthread_mutex_t mcc__gs_mu = PTHREAD_MUTEX_INITIALIZER;

static void mcc__gs_build(double sigma)
{
    pthread_mutex_lock(&mcc__gs_mu);
    if (mcc__gs.sigma != sigma) {
        double reach2 = 9 * sigma * sigma, norm = 1.0 / (sigma * sqrt(2 * M_PI));
        double step = reach2 / GS_MAX > GS_STEP ? reach2 / GS_MAX : GS_STEP;
        mcc__gs.n = (size_t)(reach2 / step) + 1;
        for (size_t i = 0; i <= mcc__gs.n; i++)
            mcc__gs.v[i] = norm * exp(-(double)i * step / (2 * sigma * sigma));
        mcc__gs.step_inv = 1 / step;
        mcc__gs.sigma = sigma;
    }
    pthread_mutex_unlock(&mcc__gs_mu);
}

static inline double mcc__gauss(double d2)
{
    double x = d2 * mcc__gs.step_inv;
    size_t i = (size_t)x;
    if (i >= mcc__gs.n)
        return mcc__gs.v[mcc__gs.n];
    double f = x - (double)i;
    return mcc__gs.v[i] + f * (mcc__gs.v[i + 1] - mcc__gs.v[i]);
}

/* The share of a Gaussian (sigma) of the direction difference that falls in
 * a section of width dd centred dphi away. */
static double mcc__dir_weight(double dphi, double sigma, double dd)
{
    double s = sigma * M_SQRT2;
    return 0.5 * (erf((dphi + dd / 2) / s) - erf((dphi - dd / 2) / s));
}

typedef struct {
    uint64_t mask, bits[MCC_ND];
} mcc_cyl;

static void mcc__cylinder(const mcc_min *m, size_t n, size_t i, const mcc_hull *h,
                          mcc_cyl *c)
{
    const mcc_params *p = &mcc__params;
    const double ds = 2.0 * p->r / MCC_NS, dd = 2 * M_PI / MCC_ND;
    const double cs = cos(m[i].d), sn = sin(m[i].d);
    const double reach = 3 * p->sigma_s;
    memset(c, 0, sizeof *c);
    /* neighbours close enough to touch some cell */
    size_t near[MCC_MAXM], nn = 0;
    for (size_t t = 0; t < n; t++) {
        double dx = m[t].x - m[i].x, dy = m[t].y - m[i].y;
        if (t != i && dx * dx + dy * dy <= (p->r + reach) * (p->r + reach))
            near[nn++] = t;
    }
    double wdir[MCC_MAXM][MCC_ND];
    for (size_t k = 0; k < nn; k++) {
        double rel = mcc__wrap(m[near[k]].d - m[i].d);
        for (int s = 0; s < MCC_ND; s++) {
            double centre = -M_PI + (s + 0.5) * dd;
            wdir[k][s] = mcc__dir_weight(mcc__wrap(centre - rel), p->sigma_d, dd);
        }
    }
    size_t valid = 0, disc = 0;
    for (int a = 0; a < MCC_NS; a++) {
        for (int b = 0; b < MCC_NS; b++) {
            double u = (a - (MCC_NS - 1) / 2.0) * ds, v = (b - (MCC_NS - 1) / 2.0) * ds;
            if (u * u + v * v > p->r * p->r)
                continue;
            disc++;
            double px = m[i].x + cs * u - sn * v, py = m[i].y + sn * u + cs * v;
            if (!mcc__in_region(h, px, py, p->omega))
                continue;
            int cell = a * MCC_NS + b;
            c->mask |= 1ull << cell;
            valid++;
            double sum[MCC_ND] = {0};
            for (size_t k = 0; k < nn; k++) {
                double dx = m[near[k]].x - px, dy = m[near[k]].y - py, d2 = dx * dx + dy * dy;
                if (d2 > reach * reach)
                    continue;
                double ws = mcc__gauss(d2);
                for (int s = 0; s < MCC_ND; s++)
                    sum[s] += ws * wdir[k][s];
            }
            for (int s = 0; s < MCC_ND; s++)
                if (sum[s] > p->mu_psi)
                    c->bits[s] |= 1ull << cell;
        }
    }
    if (valid < p->min_vc * disc || nn < (size_t)p->min_m)
        memset(c, 0, sizeof *c);
}

mcc_feat *mcc__extract(const bio_view *v)
{
    size_t n = v->nminutiae > MCC_MAXM ? MCC_MAXM : v->nminutiae;
    size_t nblk = (n + MCC_LANES - 1) / MCC_LANES;
    size_t bytes = 64 + nblk * sizeof(mcc_blk) + sizeof(mcc_feat) + (2 * n + 1) * sizeof(mcc_min);
    uint8_t *raw = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!raw)
        return NULL;
    memset(raw, 0, bytes);
    /* the blocks first, at the allocation's 64-byte boundary */
    mcc_feat *f = (mcc_feat *)(raw + nblk * sizeof(mcc_blk));
    f->blk = (mcc_blk *)raw;
    f->m = (mcc_min *)(f + 1);
    f->hull = f->m + n;
    f->n = (uint16_t)n;
    f->nblk = (uint16_t)nblk;
    f->bytes = bytes;
    for (size_t i = 0; i < n; i++) {
        const bio_minutia *bm = &v->minutiae[i];
        f->m[i].x = (float)(bm->x_mm * PX_PER_MM);
        f->m[i].y = (float)(bm->y_mm * PX_PER_MM);
        /* the standards measure counter-clockwise as seen; y points down */
        f->m[i].d = (float)mcc__wrap(-bm->angle);
        f->blk[i / MCC_LANES].d16[i % MCC_LANES] =
            (uint16_t)(int32_t)lrint(f->m[i].d * (65536.0 / (2 * M_PI)));
    }
    if (n == 0)
        return f;
    mcc__gs_build(mcc__params.sigma_s);
    mcc_hull h;
    mcc__hull(f->m, n, &h);
    f->nhull = (uint16_t)(h.n <= n + 1 ? h.n : n + 1);
    for (size_t i = 0; i < f->nhull; i++) {
        f->hull[i].x = (float)h.x[i];
        f->hull[i].y = (float)h.y[i];
    }
    for (size_t i = 0; i < n; i++) {
        mcc_cyl c;
        mcc__cylinder(f->m, n, i, &h, &c);
        mcc_blk *b = &f->blk[i / MCC_LANES];
        size_t lane = i % MCC_LANES;
        b->mask[lane] = c.mask;
        for (int s = 0; s < MCC_ND; s++)
            b->bits[s][lane] = c.bits[s];
        b->ok[lane] = c.mask != 0;
        f->nvalid += c.mask != 0;
    }
    return f;
}

void mcc__free(mcc_feat *f)
{
    if (f)
        free(f->blk); /* the allocation starts with the blocks */
}

void mcc__index_blocks(const mcc_feat *f, int mode, mcc_blk *out, unsigned nidx)
{
    memset(out, 0, nidx * sizeof *out);
    /* the valid cylinders with the most bits set: the most neighbours, the
     * most to recognise them by */
    uint8_t taken[MCC_MAXM] = {0};
    double cx = 0, cy = 0;
    for (unsigned i = 0; i < f->n; i++) {
        cx += f->m[i].x / f->n;
        cy += f->m[i].y / f->n;
    }
    for (unsigned slot = 0; slot < MCC_LANES * nidx; slot++) {
        mcc_blk *o = &out[slot / MCC_LANES];
        unsigned lane = slot % MCC_LANES;
        int best = -1;
        double best_v = -1e300;
        for (unsigned i = 0; i < f->n; i++) {
            const mcc_blk *b = &f->blk[i / MCC_LANES];
            unsigned l = i % MCC_LANES;
            if (!b->ok[l] || taken[i])
                continue;
            double v;
            if (mode == 0) {
                v = 0;
                for (int s = 0; s < MCC_ND; s++)
                    v += __builtin_popcountll(b->bits[s][l]);
            } else {
                double dx = f->m[i].x - cx, dy = f->m[i].y - cy;
                v = -(dx * dx + dy * dy);
            }
            if (v > best_v) {
                best_v = v;
                best = (int)i;
            }
        }
        if (best < 0)
            break;
        taken[best] = 1;
        const mcc_blk *b = &f->blk[best / MCC_LANES];
        unsigned l = (unsigned)best % MCC_LANES;
        o->mask[lane] = b->mask[l];
        for (int s = 0; s < MCC_ND; s++)
            o->bits[s][lane] = b->bits[s][l];
        o->d16[lane] = b->d16[l];
        o->ok[lane] = 1;
    }
}
