/* match_int.h — what the comparison (match.c) shares with its kernels
 * (match_kernel.c); not a door. */
#ifndef CUSTOMS_BIO_MATCH_INT_H
#define CUSTOMS_BIO_MATCH_INT_H

#include "bio_int.h"

#include <math.h>

#define MCC_BUCKETS 1024

typedef struct {
    float s;      /* local similarity */
    uint8_t i, j; /* minutia of a, of b */
    uint16_t q;   /* s's bucket: (int)(s * (MCC_BUCKETS - 1)) */
} mcc_pair;

/* Collects every pair of valid cylinders whose directions differ by at most
 * delta_theta and whose similarity is positive, in minutia order; out has
 * room for a->n * b->n + 8 pairs. Returns how many. */
typedef size_t (*mcc_collect_fn)(const mcc_feat *a, const mcc_feat *b, mcc_pair *out);

/* The coarse filter: each probe cylinder against the 8 index cylinders of a
 * gallery view; the sum of the MCC_COARSE_TOP best per-probe-cylinder
 * maxima. */
typedef float (*mcc_coarse_fn)(const mcc_feat *probe, const mcc_blk *index, unsigned nidx);
#ifndef MCC_COARSE_TOP
#define MCC_COARSE_TOP 4
#endif

/* The pairs chosen for the relaxation, as its compatibility kernel reads
 * them: one minutia of a and one of b per pair, in rows (padded for the
 * SIMD loads). */
typedef struct {
    _Alignas(64) float ax[MCC_MAXM + 16];
    float ay[MCC_MAXM + 16], bx[MCC_MAXM + 16], by[MCC_MAXM + 16];
    int32_t da[MCC_MAXM + 16], db[MCC_MAXM + 16]; /* directions, 1/65536 turn */
    size_t n;
} mcc_sel;

/* rho[k * n + t]: how well pair k supports pair t (the MCC paper's rho),
 * so that the relaxation reads pair k's support of every t in a row. */
typedef void (*mcc_rho_fn)(const mcc_sel *s, float rel_k, float *rho);
/* iters rounds of lam[t] = w lam[t] + (1 - w) / (n - 1) * sum_k rho[k][t]
 * lam[k]; each sum over k in order, whatever the build. tmp has room for n
 * floats. */
typedef void (*mcc_relax_fn)(const float *rho, size_t n, int iters, float w, float *lam,
                             float *tmp);

/* The kernels by name; false if unknown or not runnable here. */
bool mcc__kernels_named(const char *name, mcc_collect_fn *collect, mcc_coarse_fn *coarse,
                        mcc_rho_fn *rho, mcc_relax_fn *relax);

#define MCC_SQRT_N (MCC_NS * MCC_NS * MCC_ND + 1)
#define ZD_STEPS 512 /* distance differences 0..51.1 px in 0.1 px */
#define ZD_CUT 150   /* beyond 15 px the distance term is below 1e-6 */
#define ZA_SHIFT 6   /* angle differences 0..32768 in steps of 64 (0.35 degree) */
/* Angle terms are tabulated up to 44.3 degrees and read as there beyond: with
 * the parameters' 15 degrees and 30/rad the term is below 2e-7 by then. 128
 * entries fit eight SIMD registers, so the SIMD build looks them up with
 * permutes instead of gathers. */
#define ZA_STEPS 128
#define ZD_LUT 160 /* z1 entries the SIMD build keeps in registers (>= ZD_CUT) */

/* An angle difference (0..32768) as an index into z2, z3 */
static inline unsigned mcc__za(unsigned d)
{
    d >>= ZA_SHIFT;
    return d < ZA_STEPS ? d : ZA_STEPS - 1;
}

typedef struct {
    mcc_collect_fn collect;
    mcc_coarse_fn coarse;
    mcc_rho_fn rho;
    mcc_relax_fn relax;
    const char *kernel;
    float sqrt_n[MCC_SQRT_N];
    float z1[ZD_STEPS], z2[ZA_STEPS], z3[ZA_STEPS];
    unsigned min_common; /* cells valid in both cylinders */
    unsigned gate;       /* delta_theta in 1/65536 turn */
} mcc_tables;

/* Built once (pthread_once) from mcc__params. */
extern mcc_tables mcc__t;

struct mcc_work {
    size_t cap;      /* pairs */
    mcc_pair *pairs; /* 2 * cap: sorted pairs, then the kernel's output */
    mcc_sel sel;
    _Alignas(64) float rho[MCC_MAXM * MCC_MAXM + 16];
};

static inline unsigned mcc__absdiff16(uint16_t a, uint16_t b) /* 0..32768 */
{
    int16_t d = (int16_t)(uint16_t)(a - b);
    return d < 0 ? (unsigned)(-(int)d) : (unsigned)d;
}

/* radians -> 1/65536 turn, rounded half away from zero */
static inline uint16_t mcc__ang16(float rad)
{
    float t = rad * (float)(65536 / (2 * M_PI));
    return (uint16_t)(int32_t)(t >= 0 ? t + 0.5f : t - 0.5f);
}

#endif
