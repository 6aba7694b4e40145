/* Comparing two views: local similarities of every pair of cylinders, then
 * the Local Similarity Sort with Relaxation (LSS-R) of the MCC paper: the
 * best one-to-one pairs are relaxed by how well each agrees geometrically
 * with the others, and the mean similarity of the pairs that held up best
 * is the score. Deterministic: ties break by minutia order, and the SIMD
 * and scalar kernels compute the same IEEE operations in the same order;
 * no allocation per comparison (the caller's work area holds everything). */
#include "match_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

mcc_tables mcc__t;
static pthread_once_t mcc__once = PTHREAD_ONCE_INIT;

static double mcc__z(double v, double mu, double tau)
{
    return 1.0 / (1.0 + exp(-tau * (v - mu)));
}

static void mcc__init(void)
{
    const mcc_params *p = &mcc__params;
    if (!mcc__t.kernel) {
        static const char *const order[] = {"avx512", "popcnt", "c"};
        for (size_t i = 0; i < 3 && !mcc__t.kernel; i++)
            if (mcc__kernels_named(order[i], &mcc__t.collect, &mcc__t.coarse, &mcc__t.rho,
                                   &mcc__t.relax))
                mcc__t.kernel = order[i];
    }
    for (int i = 0; i < MCC_SQRT_N; i++)
        mcc__t.sqrt_n[i] = sqrtf((float)i);
    for (int i = 0; i < ZD_STEPS; i++)
        mcc__t.z1[i] = (float)mcc__z(i * 0.1, p->mu1, p->tau1);
    for (int i = 0; i < ZA_STEPS; i++) {
        double a = (double)(i << ZA_SHIFT) * (2 * M_PI / 65536);
        mcc__t.z2[i] = (float)mcc__z(a, p->mu2, p->tau2);
        mcc__t.z3[i] = (float)mcc__z(a, p->mu3, p->tau3);
    }
    mcc__t.min_common = (unsigned)ceilf(p->min_me * (float)(M_PI / 4 * MCC_NS * MCC_NS));
    mcc__t.gate = (unsigned)(p->delta_theta * (float)(65536 / (2 * M_PI)));
}

void mcc__reinit(void)
{
    pthread_once(&mcc__once, mcc__init);
    mcc__init();
}

/* ---- the work area ------------------------------------------------------------------ */

mcc_work *mcc__work_new(void)
{
    pthread_once(&mcc__once, mcc__init);
    return calloc(1, sizeof(mcc_work));
}

void mcc__work_free(mcc_work *w)
{
    if (!w)
        return;
    free(w->pairs);
    free(w);
}

static bool mcc__reserve(mcc_work *w, size_t n)
{
    n += MCC_LANES; /* the SIMD kernel writes whole blocks */
    if (n <= w->cap)
        return true;
    size_t cap = n < 4096 ? 4096 : n;
    mcc_pair *p = realloc(w->pairs, 2 * cap * sizeof *p);
    if (!p)
        return false;
    w->pairs = p;
    w->cap = cap;
    return true;
}

/* ---- candidate pairs, sorted ---------------------------------------------------------
 * The kernels (match_kernel.c) leave the pairs in the upper half of the work
 * area in minutia order; a bucket sort on the similarity brings them down in
 * descending order, stable, without comparisons. */
static size_t mcc__pairs(const mcc_feat *a, const mcc_feat *b, mcc_work *w, size_t *in_a,
                         size_t *in_b)
{
    mcc_pair *tmp = w->pairs + w->cap;
    size_t n = mcc__t.collect(a, b, tmp);
    uint32_t count[MCC_BUCKETS], start[MCC_BUCKETS], acc = 0;
    int lo = MCC_BUCKETS, hi = -1;
    uint8_t seen_b[MCC_MAXM + 1];
    size_t na = 0, nb = 0;
    unsigned last_i = MCC_MAXM + 1;
    memset(count, 0, sizeof count);
    memset(seen_b, 0, b->n);
    /* the pairs come in minutia order of a: a new i is a new minutia of a;
     * b's are marked (plain stores, no read-modify-write chain) and counted
     * after */
    for (size_t k = 0; k < n; k++) {
        int q = tmp[k].q;
        count[q]++;
        lo = q < lo ? q : lo;
        hi = q > hi ? q : hi;
        na += tmp[k].i != last_i;
        last_i = tmp[k].i;
        seen_b[tmp[k].j] = 1;
    }
    for (unsigned j = 0; j < b->n; j++)
        nb += seen_b[j];
    for (int k = hi; k >= lo; k--) {
        start[k] = acc;
        acc += count[k];
    }
    for (size_t k = 0; k < n; k++)
        w->pairs[start[tmp[k].q]++] = tmp[k];
    *in_a = na;
    *in_b = nb;
    return n;
}

/* ---- LSS-R ------------------------------------------------------------------------- */

static int mcc__np(size_t na, size_t nb)
{
    const mcc_params *p = &mcc__params;
    double m = (double)(na < nb ? na : nb);
    return p->min_np + (int)lround(mcc__z(m, p->mu_p, p->tau_p) * (p->max_np - p->min_np));
}

static inline uint16_t mcc__d16(const mcc_feat *f, unsigned i)
{
    return f->blk[i / MCC_LANES].d16[i % MCC_LANES];
}

double mcc__compare(const mcc_feat *a, const mcc_feat *b, mcc_work *w)
{
    const mcc_params *p = &mcc__params;
    if (!a->nvalid || !b->nvalid || !mcc__reserve(w, (size_t)a->n * b->n))
        return 0;
    size_t in_a, in_b;
    size_t np = mcc__pairs(a, b, w, &in_a, &in_b);
    /* the best one-to-one pairs, greedily; no more than the minutiae that
     * appear in some pair on either side can give */
    size_t nr = a->nvalid < b->nvalid ? a->nvalid : b->nvalid;
    if (p->max_nr && nr > (size_t)p->max_nr)
        nr = (size_t)p->max_nr;
    nr = nr < in_a ? nr : in_a;
    nr = nr < in_b ? nr : in_b;
    uint8_t used_a[MCC_MAXM] = {0}, used_b[MCC_MAXM] = {0};
    mcc_pair sel[MCC_MAXM];
    size_t ns = 0;
    /* without branches: whether a pair is taken is data, not a guess */
    for (size_t k = 0; k < np && ns < nr; k++) {
        const mcc_pair q = w->pairs[k];
        uint8_t take = !(used_a[q.i] | used_b[q.j]);
        sel[ns] = q;
        ns += take;
        used_a[q.i] |= take;
        used_b[q.j] |= take;
    }
    if (ns == 0)
        return 0;
    float lam[MCC_MAXM], tmp[MCC_MAXM];
    for (size_t t = 0; t < ns; t++)
        lam[t] = sel[t].s;
    mcc_sel *rs = &w->sel;
    for (size_t t = 0; t < ns; t++) {
        rs->ax[t] = a->m[sel[t].i].x;
        rs->ay[t] = a->m[sel[t].i].y;
        rs->bx[t] = b->m[sel[t].j].x;
        rs->by[t] = b->m[sel[t].j].y;
        rs->da[t] = mcc__d16(a, sel[t].i);
        rs->db[t] = mcc__d16(b, sel[t].j);
    }
    rs->n = ns;
    mcc__t.rho(rs, p->rel_k, w->rho);
    mcc__t.relax(w->rho, ns, p->n_rel, p->w_r, lam, tmp);
    /* the nP pairs whose similarity held up best */
    size_t npick = (size_t)mcc__np(a->nvalid, b->nvalid);
    if (npick > ns)
        npick = ns;
    /* one pass keeping the npick best, in order: efficiency descending,
     * ties to the earlier pair (the order the sum runs in) */
    float top_e[MCC_MAXM];
    size_t top_t[MCC_MAXM], nt = 0;
    for (size_t t = 0; t < ns; t++) {
        float e = lam[t] / sel[t].s;
        if (nt == npick && !(e > top_e[nt - 1]))
            continue;
        size_t k = nt < npick ? nt++ : nt - 1;
        while (k > 0 && e > top_e[k - 1]) {
            top_e[k] = top_e[k - 1];
            top_t[k] = top_t[k - 1];
            k--;
        }
        top_e[k] = e;
        top_t[k] = t;
    }
    double sum = 0;
    for (size_t k = 0; k < npick; k++)
        sum += lam[top_t[k]];
    return sum / (double)npick;
}

bool bio_kernel_use(const char *name)
{
    pthread_once(&mcc__once, mcc__init);
    if (!name) {
        mcc__t.kernel = NULL;
        mcc__init();
        return true;
    }
    mcc_collect_fn c;
    mcc_coarse_fn k;
    mcc_rho_fn r;
    mcc_relax_fn x;
    if (!mcc__kernels_named(name, &c, &k, &r, &x))
        return false;
    mcc__t.relax = x;
    mcc__t.collect = c;
    mcc__t.coarse = k;
    mcc__t.rho = r;
    mcc__t.kernel = name;
    return true;
}

const char *bio_kernel_name(void)
{
    pthread_once(&mcc__once, mcc__init);
    return mcc__t.kernel;
}

float mcc__coarse(const mcc_feat *probe, const mcc_blk *index, unsigned nidx)
{
    pthread_once(&mcc__once, mcc__init);
    return mcc__t.coarse(probe, index, nidx);
}
