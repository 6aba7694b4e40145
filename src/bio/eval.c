/* Error rates of a set of genuine and impostor scores, as the Fingerprint
 * Verification Competitions define them (Maio et al., FVC2000): the equal
 * error rate from the thresholds on either side of the crossing, and the
 * lowest false non-match rate at a false match rate of at most 1 % and
 * 0.1 %. Higher scores mean more similar; a comparison matches when its
 * score is at least the threshold. */
#include "bio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int eval__cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Values of v (sorted ascending) below t. */
static size_t eval__below(const double *v, size_t n, double t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

cx_err bio_rates_compute(const double *genuine, size_t ng, const double *impostor, size_t ni,
                         bio_rates *out)
{
    memset(out, 0, sizeof *out);
    if (!ng || !ni)
        return CX_EINVAL;
    double *g = malloc(ng * sizeof *g), *im = malloc(ni * sizeof *im);
    double *t = malloc((ng + ni + 1) * sizeof *t);
    if (!g || !im || !t) {
        free(g);
        free(im);
        free(t);
        return CX_ENOMEM;
    }
    memcpy(g, genuine, ng * sizeof *g);
    memcpy(im, impostor, ni * sizeof *im);
    qsort(g, ng, sizeof *g, eval__cmp);
    qsort(im, ni, sizeof *im, eval__cmp);
    /* candidate thresholds: every score, and one above them all */
    size_t nt = 0;
    for (size_t i = 0; i < ng; i++)
        t[nt++] = g[i];
    for (size_t i = 0; i < ni; i++)
        t[nt++] = im[i];
    qsort(t, nt, sizeof *t, eval__cmp);
    t[nt] = t[nt - 1] + 1;
    nt++;
    /* FMR falls and FNMR rises with the threshold */
    double best1 = 0, best2 = 0, fm1 = 1, fn1 = 0, fm2 = 0, fn2 = 1;
    bool have1 = false, have2 = false, have1000 = false, have100 = false;
    for (size_t k = 0; k < nt; k++) {
        double fmr = (double)(ni - eval__below(im, ni, t[k])) / (double)ni;
        double fnmr = (double)eval__below(g, ng, t[k]) / (double)ng;
        if (fnmr <= fmr) { /* t1: the largest such threshold */
            best1 = t[k];
            fm1 = fmr;
            fn1 = fnmr;
            have1 = true;
        }
        if (fnmr >= fmr && !have2) { /* t2: the smallest such threshold */
            best2 = t[k];
            fm2 = fmr;
            fn2 = fnmr;
            have2 = true;
        }
        if (!have100 && fmr <= 0.01) {
            out->fmr100 = fnmr;
            have100 = true;
        }
        if (!have1000 && fmr <= 0.001) {
            out->fmr1000 = fnmr;
            out->threshold_fmr1000 = t[k];
            have1000 = true;
        }
    }
    double lo, hi;
    if (!have1 || (have2 && fn2 + fm2 < fn1 + fm1)) {
        lo = fm2;
        hi = fn2;
        out->threshold_eer = best2;
    } else {
        lo = fn1;
        hi = fm1;
        out->threshold_eer = best1;
    }
    (void)best2;
    out->eer = (lo + hi) / 2;
    free(g);
    free(im);
    free(t);
    return CX_OK;
}
