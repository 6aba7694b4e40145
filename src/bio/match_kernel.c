/* The local similarity of every pair of cylinders: the hot loop of a
 * comparison. A cylinder pair's similarity (the bit-based MCC measure) is
 *   1 - sqrt(|a ^ b|) / (sqrt(|a|) + sqrt(|b|))
 * over the cells valid in both, |x| the number of bits set. Three builds
 * of the same arithmetic, chosen once at run time: AVX-512 (one probe
 * cylinder against a block of 8 at once, VPOPCNTQ), the popcnt
 * instruction, and plain C for CPUs without it. The float operations are
 * the same IEEE operations in the same order in all three, so scores do
 * not depend on the CPU. */
#include "match_int.h"

/* The SIMD and scalar builds must do the same IEEE operations: no fused
 * multiply-add behind our back (GCC does not contract in ISO C mode). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <string.h>

#define MCC__SCALAR(name)                                                                     \
    static size_t name(const mcc_feat *a, const mcc_feat *b, mcc_pair *out)                   \
    {                                                                                         \
        const unsigned min_common = mcc__t.min_common, gate = mcc__t.gate;                    \
        size_t n = 0;                                                                         \
        for (unsigned i = 0; i < a->n; i++) {                                                 \
            const mcc_blk *ba = &a->blk[i / MCC_LANES];                                       \
            unsigned la = i % MCC_LANES;                                                      \
            if (!ba->ok[la])                                                                  \
                continue;                                                                     \
            uint16_t da = ba->d16[la];                                                        \
            uint64_t am = ba->mask[la];                                                       \
            for (unsigned j = 0; j < b->n; j++) {                                             \
                const mcc_blk *bb = &b->blk[j / MCC_LANES];                                   \
                unsigned lb = j % MCC_LANES;                                                  \
                if (!bb->ok[lb] || mcc__absdiff16(da, bb->d16[lb]) > gate)                    \
                    continue;                                                                 \
                uint64_t m = am & bb->mask[lb];                                               \
                if ((unsigned)__builtin_popcountll(m) < min_common)                           \
                    continue;                                                                 \
                unsigned na = 0, nb = 0, nx = 0;                                              \
                for (int s = 0; s < MCC_ND; s++) {                                            \
                    uint64_t x = ba->bits[s][la] & m, y = bb->bits[s][lb] & m;                \
                    na += (unsigned)__builtin_popcountll(x);                                  \
                    nb += (unsigned)__builtin_popcountll(y);                                  \
                    nx += (unsigned)__builtin_popcountll(x ^ y);                              \
                }                                                                             \
                float den = mcc__t.sqrt_n[na] + mcc__t.sqrt_n[nb];                            \
                float sim = den > 0 ? 1.0f - mcc__t.sqrt_n[nx] / den : 0;                     \
                if (sim > 0)                                                                  \
                    out[n++] = (mcc_pair){sim, (uint8_t)i, (uint8_t)j,                        \
                                          (uint16_t)(int)(sim * (MCC_BUCKETS - 1))};          \
            }                                                                                 \
        }                                                                                     \
        return n;                                                                             \
    }

MCC__SCALAR(mcc__collect_c)

/* Keeps the MCC_COARSE_TOP largest values seen, in top[] (descending). */
static inline void mcc__top(float *top, float v)
{
    if (v <= top[MCC_COARSE_TOP - 1])
        return;
    int k = MCC_COARSE_TOP - 1;
    while (k > 0 && top[k - 1] < v) {
        top[k] = top[k - 1];
        k--;
    }
    top[k] = v;
}

static inline float mcc__top_sum(const float *top)
{
    float s = 0;
    for (int k = 0; k < MCC_COARSE_TOP; k++)
        s += top[k];
    return s;
}

#define MCC__COARSE(name)                                                                     \
    static float name(const mcc_feat *a, const mcc_blk *idx, unsigned nidx)                  \
    {                                                                                         \
        const unsigned min_common = mcc__t.min_common, gate = mcc__t.gate;                    \
        float top[MCC_COARSE_TOP] = {0};                                                      \
        for (unsigned i = 0; i < a->n; i++) {                                                 \
            const mcc_blk *ba = &a->blk[i / MCC_LANES];                                       \
            unsigned la = i % MCC_LANES;                                                      \
            if (!ba->ok[la])                                                                  \
                continue;                                                                     \
            float best = 0;                                                                   \
            for (unsigned lb = 0; lb < MCC_LANES * nidx; lb++) {                              \
                const mcc_blk *bb = &idx[lb / MCC_LANES];                                     \
                if (!bb->ok[lb % MCC_LANES] || mcc__absdiff16(ba->d16[la], bb->d16[lb % MCC_LANES]) > gate) \
                    continue;                                                                 \
                uint64_t m = ba->mask[la] & bb->mask[lb % MCC_LANES];                                     \
                if ((unsigned)__builtin_popcountll(m) < min_common)                           \
                    continue;                                                                 \
                unsigned na = 0, nb = 0, nx = 0;                                              \
                for (int s = 0; s < MCC_ND; s++) {                                            \
                    uint64_t x = ba->bits[s][la] & m;                                         \
                    uint64_t y = bb->bits[s][lb % MCC_LANES] & m;                             \
                    na += (unsigned)__builtin_popcountll(x);                                  \
                    nb += (unsigned)__builtin_popcountll(y);                                  \
                    nx += (unsigned)__builtin_popcountll(x ^ y);                              \
                }                                                                             \
                float den = mcc__t.sqrt_n[na] + mcc__t.sqrt_n[nb];                            \
                float sim = den > 0 ? 1.0f - mcc__t.sqrt_n[nx] / den : 0;                     \
                if (sim > best)                                                               \
                    best = sim;                                                               \
            }                                                                                 \
            mcc__top(top, best);                                                              \
        }                                                                                     \
        return mcc__top_sum(top);                                                             \
    }

MCC__COARSE(mcc__coarse_c)

/* ---- relaxation -------------------------------------------------------------------------- */

/* Each lam[t]'s sum runs over k in order, one multiply and one add per
 * term: the SIMD build keeps 16 such sums (16 values of t) side by side,
 * so both builds do the same operations. */
static void mcc__relax_c(const float *rho, size_t ns, int iters, float wr, float *lam,
                         float *tmp)
{
    float norm = ns > 1 ? (1 - wr) / (float)(ns - 1) : 0;
    for (int it = 0; it < iters; it++) {
        for (size_t t = 0; t < ns; t++) {
            float acc = 0;
            for (size_t k = 0; k < ns; k++)
                acc += rho[k * ns + t] * lam[k];
            tmp[t] = wr * lam[t] + norm * acc;
        }
        memcpy(lam, tmp, ns * sizeof *lam);
    }
}

/* ---- compatibility of the selected pairs (rho) ------------------------------------------
 * Distances, relative directions and the angles of the joining segments
 * agree. The SIMD build below computes the very same float operations. */

/* atan2 as a 16-bit angle (error below 0.01 degree): octant reduction and
 * a polynomial, written operation by operation as the SIMD build does it */
static inline uint16_t mcc__atan2_16(float y, float x)
{
    float ax = fabsf(x), ay = fabsf(y);
    float mx = ax > ay ? ax : ay, mn = ax > ay ? ay : ax;
    if (mx == 0)
        return 0;
    float z = mn / mx, z2 = z * z;
    float p = z2 * -0.01172120f;
    p = p + 0.05265332f;
    p = z2 * p;
    p = p + -0.11643287f;
    p = z2 * p;
    p = p + 0.19354346f;
    p = z2 * p;
    p = p + -0.33262347f;
    p = z2 * p;
    p = p + 0.99997726f;
    float a = z * p;
    if (ay > ax)
        a = (float)(M_PI / 2) - a;
    if (x < 0)
        a = (float)M_PI - a;
    if (y < 0)
        a = -a;
    return mcc__ang16(a);
}

/* Pairs t < k, both directions. */
static inline void mcc__rho_one(const mcc_sel *s, float rel_k, size_t t, size_t k, float *rho)
{
    const size_t ns = s->n;
    float dxa = s->ax[k] - s->ax[t], dya = s->ay[k] - s->ay[t];
    float dxb = s->bx[k] - s->bx[t], dyb = s->by[k] - s->by[t];
    float la = sqrtf(dxa * dxa + dya * dya), lb = sqrtf(dxb * dxb + dyb * dyb);
    float dd = fabsf(la - lb) - rel_k * (la + lb) * 0.5f;
    int i1 = dd > 0 ? (int)(dd * 10 + 0.5f) : 0;
    if (i1 >= ZD_CUT) { /* distances disagree: no support either way */
        rho[t * ns + k] = rho[k * ns + t] = 0;
        return;
    }
    uint16_t dat = (uint16_t)s->da[t], dbt = (uint16_t)s->db[t];
    uint16_t dak = (uint16_t)s->da[k], dbk = (uint16_t)s->db[k];
    float z12 = mcc__t.z1[i1] *
                mcc__t.z2[mcc__za(mcc__absdiff16((uint16_t)(dat - dak), (uint16_t)(dbt - dbk)))];
    uint16_t sa = mcc__atan2_16(dya, dxa), sb = mcc__atan2_16(dyb, dxb);
    /* seen from k the segment points the other way: half a turn on both
     * sides, which cancels */
    rho[k * ns + t] =
        z12 * mcc__t.z3[mcc__za(mcc__absdiff16((uint16_t)(sa - dat), (uint16_t)(sb - dbt)))];
    rho[t * ns + k] =
        z12 * mcc__t.z3[mcc__za(mcc__absdiff16((uint16_t)(sa - dak), (uint16_t)(sb - dbk)))];
}

static void mcc__rho_c(const mcc_sel *s, float rel_k, float *rho)
{
    const size_t ns = s->n;
    for (size_t t = 0; t < ns; t++) {
        rho[t * ns + t] = 0;
        for (size_t k = t + 1; k < ns; k++)
            mcc__rho_one(s, rel_k, t, k, rho);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("popcnt"))) MCC__SCALAR(mcc__collect_popcnt)
__attribute__((target("popcnt"))) MCC__COARSE(mcc__coarse_popcnt)

#define MCC__AVX512 "avx512f,avx512dq,avx512vl,avx512vpopcntdq"

/* Probe cylinder i, broadcast to 8 lanes once. */
typedef struct {
    __m512i mask, bits[MCC_ND], dir;
} mcc_probe8;

__attribute__((target(MCC__AVX512))) static inline void mcc__probe8(const mcc_blk *ba, unsigned la,
                                                                   mcc_probe8 *p)
{
    p->mask = _mm512_set1_epi64((long long)ba->mask[la]);
    for (int s = 0; s < MCC_ND; s++)
        p->bits[s] = _mm512_set1_epi64((long long)ba->bits[s][la]);
    p->dir = _mm512_set1_epi64(ba->d16[la]);
}

/* The similarity of the probe cylinder against the 8 lanes of bb; *live
 * gets the lanes that count (valid, directions close, enough common cells,
 * a positive denominator): the same arithmetic as the scalar kernel. */
__attribute__((target(MCC__AVX512))) static inline __m256 mcc__sim8(const mcc_probe8 *p,
                                                                   const mcc_blk *bb,
                                                                   __mmask8 *live)
{
    const __m512i lo16 = _mm512_set1_epi64(0xffff), turn = _mm512_set1_epi64(65536);
    __m512i ok = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)bb->ok));
    __m512i db = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)bb->d16));
    __m512i diff = _mm512_and_si512(_mm512_sub_epi64(db, p->dir), lo16);
    diff = _mm512_min_epu64(diff, _mm512_sub_epi64(turn, diff));
    __mmask8 k8 = _mm512_test_epi64_mask(ok, ok) &
                  _mm512_cmple_epu64_mask(diff, _mm512_set1_epi64(mcc__t.gate));
    __m512i m = _mm512_and_si512(p->mask, _mm512_load_si512(bb->mask));
    if (k8)
        k8 &= _mm512_cmpge_epu64_mask(_mm512_popcnt_epi64(m),
                                      _mm512_set1_epi64(mcc__t.min_common));
    *live = k8;
    if (!k8)
        return _mm256_setzero_ps();
    __m512i na = _mm512_setzero_si512(), nb = na, nx = na;
    for (int s = 0; s < MCC_ND; s++) {
        __m512i x = _mm512_and_si512(p->bits[s], m);
        __m512i y = _mm512_and_si512(_mm512_load_si512(bb->bits[s]), m);
        na = _mm512_add_epi64(na, _mm512_popcnt_epi64(x));
        nb = _mm512_add_epi64(nb, _mm512_popcnt_epi64(y));
        nx = _mm512_add_epi64(nx, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
    }
    /* correctly rounded square roots, one add, one divide, one subtract */
    __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm512_cvtepi64_ps(na)),
                               _mm256_sqrt_ps(_mm512_cvtepi64_ps(nb)));
    __m256 sim = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                               _mm256_div_ps(_mm256_sqrt_ps(_mm512_cvtepi64_ps(nx)), den));
    *live = k8 & _mm256_cmp_ps_mask(den, _mm256_setzero_ps(), _CMP_GT_OQ);
    return sim;
}

/* The pairs are built 8 at a time in registers (similarity in the low
 * half of each 64-bit lane, i, j and the bucket above it, as mcc_pair lays
 * them out) and compressed in a register: the compress-to-memory form is
 * microcoded and slow on some CPUs. The area has MCC_LANES pairs of slack. */
__attribute__((target(MCC__AVX512))) static size_t
mcc__collect_avx512(const mcc_feat *a, const mcc_feat *b, mcc_pair *out)
{
    _Static_assert(sizeof(mcc_pair) == 8, "mcc_pair is one 64-bit lane");
    const __m256i lane_idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 scale = _mm256_set1_ps(MCC_BUCKETS - 1);
    size_t n = 0;
    for (unsigned i = 0; i < a->n; i++) {
        const mcc_blk *ba = &a->blk[i / MCC_LANES];
        unsigned la = i % MCC_LANES;
        if (!ba->ok[la])
            continue;
        mcc_probe8 p;
        mcc__probe8(ba, la, &p);
        for (unsigned k = 0; k < b->nblk; k++) {
            __mmask8 k8;
            __m256 sim = mcc__sim8(&p, &b->blk[k], &k8);
            k8 &= _mm256_cmp_ps_mask(sim, _mm256_setzero_ps(), _CMP_GT_OQ);
            if (!k8)
                continue;
            /* the bucket, as the scalar kernel truncates it */
            __m256i q = _mm256_cvttps_epi32(_mm256_mul_ps(sim, scale));
            __m256i j = _mm256_add_epi32(_mm256_set1_epi32((int)(k * MCC_LANES)), lane_idx);
            __m256i meta = _mm256_or_si256(
                _mm256_set1_epi32((int)i),
                _mm256_or_si256(_mm256_slli_epi32(j, 8), _mm256_slli_epi32(q, 16)));
            __m512i pr = _mm512_or_si512(_mm512_cvtepu32_epi64(_mm256_castps_si256(sim)),
                                         _mm512_slli_epi64(_mm512_cvtepu32_epi64(meta), 32));
            _mm512_storeu_si512(out + n, _mm512_maskz_compress_epi64(k8, pr));
            n += (size_t)__builtin_popcount(k8);
        }
    }
    return n;
}

__attribute__((target(MCC__AVX512))) static float
mcc__coarse_avx512(const mcc_feat *a, const mcc_blk *idx, unsigned nidx)
{
    float top[MCC_COARSE_TOP] = {0};
    for (unsigned i = 0; i < a->n; i++) {
        const mcc_blk *ba = &a->blk[i / MCC_LANES];
        unsigned la = i % MCC_LANES;
        if (!ba->ok[la])
            continue;
        mcc_probe8 p;
        mcc__probe8(ba, la, &p);
        /* as the scalar kernel: 0 where nothing compares, never below 0 */
        __m256 best = _mm256_setzero_ps();
        for (unsigned k = 0; k < nidx; k++) {
            __mmask8 k8;
            __m256 sim = mcc__sim8(&p, &idx[k], &k8);
            best = _mm256_max_ps(best, _mm256_maskz_mov_ps(k8, sim));
        }
        __m128 mx = _mm_max_ps(_mm256_extractf128_ps(best, 1), _mm256_castps256_ps128(best));
        mx = _mm_max_ps(mx, _mm_movehl_ps(mx, mx));
        mx = _mm_max_ss(mx, _mm_shuffle_ps(mx, mx, 1));
        mcc__top(top, _mm_cvtss_f32(mx));
    }
    return mcc__top_sum(top);
}

/* 16 lanes of mcc__atan2_16 (the same operations, branches as blends) */
__attribute__((target(MCC__AVX512))) static inline __m512i mcc__atan2_16x(__m512 y, __m512 x)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512 ax = _mm512_abs_ps(x), ay = _mm512_abs_ps(y);
    __mmask16 xbig = _mm512_cmp_ps_mask(ax, ay, _CMP_GT_OQ);
    __m512 mx = _mm512_mask_blend_ps(xbig, ay, ax), mn = _mm512_mask_blend_ps(xbig, ax, ay);
    __mmask16 none = _mm512_cmp_ps_mask(mx, zero, _CMP_EQ_OQ);
    __m512 z = _mm512_div_ps(mn, _mm512_mask_blend_ps(none, mx, _mm512_set1_ps(1))),
           z2 = _mm512_mul_ps(z, z);
    __m512 p = _mm512_mul_ps(z2, _mm512_set1_ps(-0.01172120f));
    p = _mm512_add_ps(p, _mm512_set1_ps(0.05265332f));
    p = _mm512_mul_ps(z2, p);
    p = _mm512_add_ps(p, _mm512_set1_ps(-0.11643287f));
    p = _mm512_mul_ps(z2, p);
    p = _mm512_add_ps(p, _mm512_set1_ps(0.19354346f));
    p = _mm512_mul_ps(z2, p);
    p = _mm512_add_ps(p, _mm512_set1_ps(-0.33262347f));
    p = _mm512_mul_ps(z2, p);
    p = _mm512_add_ps(p, _mm512_set1_ps(0.99997726f));
    __m512 a = _mm512_mul_ps(z, p);
    a = _mm512_mask_sub_ps(a, _mm512_cmp_ps_mask(ay, ax, _CMP_GT_OQ),
                           _mm512_set1_ps((float)(M_PI / 2)), a);
    a = _mm512_mask_sub_ps(a, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ),
                           _mm512_set1_ps((float)M_PI), a);
    a = _mm512_mask_sub_ps(a, _mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ), zero, a);
    __m512 t = _mm512_mul_ps(a, _mm512_set1_ps((float)(65536 / (2 * M_PI))));
    __mmask16 neg = _mm512_cmp_ps_mask(t, zero, _CMP_LT_OQ);
    t = _mm512_mask_blend_ps(neg, _mm512_add_ps(t, _mm512_set1_ps(0.5f)),
                             _mm512_sub_ps(t, _mm512_set1_ps(0.5f)));
    __m512i r = _mm512_and_si512(_mm512_cvttps_epi32(t), _mm512_set1_epi32(0xffff));
    return _mm512_maskz_mov_epi32((__mmask16)~none, r);
}

/* |a - b| of 16-bit angles held in 32-bit lanes: 0..32768 */
__attribute__((target(MCC__AVX512))) static inline __m512i mcc__absdiff16x(__m512i a, __m512i b)
{
    __m512i d = _mm512_and_si512(_mm512_sub_epi32(a, b), _mm512_set1_epi32(0xffff));
    return _mm512_min_epu32(d, _mm512_sub_epi32(_mm512_set1_epi32(65536), d));
}

/* Table lookups from registers: 32 entries per two-register permute, the
 * index's higher bits choosing among them. */
typedef struct {
    __m512 r[10];
} mcc_lut;

__attribute__((target(MCC__AVX512))) static inline void mcc__lut_load(mcc_lut *l, const float *tab,
                                                                     int regs)
{
    for (int i = 0; i < regs; i++)
        l->r[i] = _mm512_loadu_ps(tab + 16 * i);
}

/* 128 entries: idx in 0..127 */
__attribute__((target(MCC__AVX512))) static inline __m512 mcc__lut128(const mcc_lut *l, __m512i idx)
{
    __m512 p0 = _mm512_permutex2var_ps(l->r[0], idx, l->r[1]);
    __m512 p1 = _mm512_permutex2var_ps(l->r[2], idx, l->r[3]);
    __m512 p2 = _mm512_permutex2var_ps(l->r[4], idx, l->r[5]);
    __m512 p3 = _mm512_permutex2var_ps(l->r[6], idx, l->r[7]);
    __mmask16 b5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
    __mmask16 b6 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64));
    return _mm512_mask_blend_ps(b6, _mm512_mask_blend_ps(b5, p0, p1),
                                _mm512_mask_blend_ps(b5, p2, p3));
}

/* 160 entries: idx in 0..159 */
__attribute__((target(MCC__AVX512))) static inline __m512 mcc__lut160(const mcc_lut *l, __m512i idx)
{
    __m512 lo = mcc__lut128(l, idx);
    __m512 p4 = _mm512_permutex2var_ps(l->r[8], idx, l->r[9]);
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(idx, _mm512_set1_epi32(128)), lo, p4);
}

__attribute__((target(MCC__AVX512))) static void mcc__rho_avx512(const mcc_sel *s, float rel_k,
                                                                 float *rho)
{
    const size_t ns = s->n;
    const __m512 zero = _mm512_setzero_ps(), half = _mm512_set1_ps(0.5f);
    const __m512i lo16 = _mm512_set1_epi32(0xffff), shift = _mm512_set1_epi32(ZA_SHIFT);
    const __m512i za_max = _mm512_set1_epi32(ZA_STEPS - 1);
    _Static_assert(ZA_STEPS == 128 && ZD_LUT == 160 && ZD_CUT <= ZD_LUT && ZD_LUT <= ZD_STEPS,
                   "the register tables");
    mcc_lut l1, l2, l3;
    mcc__lut_load(&l1, mcc__t.z1, 10);
    mcc__lut_load(&l2, mcc__t.z2, 8);
    mcc__lut_load(&l3, mcc__t.z3, 8);
    for (size_t t = 0; t < ns; t++) {
        rho[t * ns + t] = 0;
        const __m512 axt = _mm512_set1_ps(s->ax[t]), ayt = _mm512_set1_ps(s->ay[t]);
        const __m512 bxt = _mm512_set1_ps(s->bx[t]), byt = _mm512_set1_ps(s->by[t]);
        const __m512i dat = _mm512_set1_epi32(s->da[t]), dbt = _mm512_set1_epi32(s->db[t]);
        for (size_t k = t + 1; k < ns; k += 16) {
            __mmask16 live = ns - k >= 16 ? 0xffff : (__mmask16)((1u << (ns - k)) - 1);
            __m512 dxa = _mm512_sub_ps(_mm512_loadu_ps(s->ax + k), axt);
            __m512 dya = _mm512_sub_ps(_mm512_loadu_ps(s->ay + k), ayt);
            __m512 dxb = _mm512_sub_ps(_mm512_loadu_ps(s->bx + k), bxt);
            __m512 dyb = _mm512_sub_ps(_mm512_loadu_ps(s->by + k), byt);
            __m512 la = _mm512_sqrt_ps(_mm512_add_ps(_mm512_mul_ps(dxa, dxa),
                                                     _mm512_mul_ps(dya, dya)));
            __m512 lb = _mm512_sqrt_ps(_mm512_add_ps(_mm512_mul_ps(dxb, dxb),
                                                     _mm512_mul_ps(dyb, dyb)));
            __m512 dd = _mm512_sub_ps(
                _mm512_abs_ps(_mm512_sub_ps(la, lb)),
                _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(rel_k), _mm512_add_ps(la, lb)),
                              half));
            __mmask16 pos = _mm512_cmp_ps_mask(dd, zero, _CMP_GT_OQ);
            __m512i i1 = _mm512_maskz_cvttps_epi32(
                pos, _mm512_add_ps(_mm512_mul_ps(dd, _mm512_set1_ps(10)), half));
            __mmask16 near = live & _mm512_cmplt_epi32_mask(i1, _mm512_set1_epi32(ZD_CUT));
            size_t m = ns - k < 16 ? ns - k : 16;
            __m512i dak = _mm512_loadu_si512(s->da + k), dbk = _mm512_loadu_si512(s->db + k);
            __m512i iz2 = _mm512_min_epu32(za_max, _mm512_srlv_epi32(
                mcc__absdiff16x(_mm512_and_si512(_mm512_sub_epi32(dat, dak), lo16),
                                _mm512_and_si512(_mm512_sub_epi32(dbt, dbk), lo16)),
                shift));
            /* lanes not near read some entry; they are zeroed below */
            __m512 z1 = mcc__lut160(&l1, i1);
            __m512 z2 = mcc__lut128(&l2, iz2);
            __m512 z12 = _mm512_mul_ps(z1, z2);
            __m512i sa = mcc__atan2_16x(dya, dxa), sb = mcc__atan2_16x(dyb, dxb);
            __m512i i3t = _mm512_min_epu32(za_max, _mm512_srlv_epi32(
                mcc__absdiff16x(_mm512_and_si512(_mm512_sub_epi32(sa, dat), lo16),
                                _mm512_and_si512(_mm512_sub_epi32(sb, dbt), lo16)),
                shift));
            __m512i i3k = _mm512_min_epu32(za_max, _mm512_srlv_epi32(
                mcc__absdiff16x(_mm512_and_si512(_mm512_sub_epi32(sa, dak), lo16),
                                _mm512_and_si512(_mm512_sub_epi32(sb, dbk), lo16)),
                shift));
            __m512 rt = _mm512_mul_ps(z12, mcc__lut128(&l3, i3t));
            __m512 rk = _mm512_mul_ps(z12, mcc__lut128(&l3, i3k));
            rt = _mm512_maskz_mov_ps(near, rt);
            rk = _mm512_maskz_mov_ps(near, rk);
            _mm512_mask_storeu_ps(rho + t * ns + k, live, rk);
            float col[16];
            _mm512_storeu_ps(col, rt);
            for (size_t q = 0; q < m; q++)
                rho[(k + q) * ns + t] = col[q];
        }
    }
}


__attribute__((target(MCC__AVX512))) static void mcc__relax_avx512(const float *rho, size_t ns,
                                                                   int iters, float wr,
                                                                   float *lam, float *tmp)
{
    float norm = ns > 1 ? (1 - wr) / (float)(ns - 1) : 0;
    for (int it = 0; it < iters; it++) {
        for (size_t t = 0; t < ns; t += 16) {
            __mmask16 live = ns - t >= 16 ? 0xffff : (__mmask16)((1u << (ns - t)) - 1);
            __m512 acc = _mm512_setzero_ps();
            for (size_t k = 0; k < ns; k++)
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_maskz_loadu_ps(live, rho + k * ns + t),
                                                       _mm512_set1_ps(lam[k])));
            __m512 l = _mm512_maskz_loadu_ps(live, lam + t);
            __m512 r = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(wr), l),
                                     _mm512_mul_ps(_mm512_set1_ps(norm), acc));
            _mm512_mask_storeu_ps(tmp + t, live, r);
        }
        memcpy(lam, tmp, ns * sizeof *lam);
    }
}

static bool mcc__avx512_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq");
}

bool mcc__kernels_named(const char *name, mcc_collect_fn *collect, mcc_coarse_fn *coarse,
                        mcc_rho_fn *rho, mcc_relax_fn *relax)
{
    __builtin_cpu_init();
    *relax = mcc__relax_c;
    if (strcmp(name, "avx512") == 0 && mcc__avx512_ok()) {
        *collect = mcc__collect_avx512;
        *coarse = mcc__coarse_avx512;
        *rho = mcc__rho_avx512;
        *relax = mcc__relax_avx512;
    } else if (strcmp(name, "popcnt") == 0 && __builtin_cpu_supports("popcnt")) {
        *collect = mcc__collect_popcnt;
        *coarse = mcc__coarse_popcnt;
        *rho = mcc__rho_c;
    } else if (strcmp(name, "c") == 0) {
        *collect = mcc__collect_c;
        *coarse = mcc__coarse_c;
        *rho = mcc__rho_c;
    } else {
        return false;
    }
    return true;
}

#else


bool mcc__kernels_named(const char *name, mcc_collect_fn *collect, mcc_coarse_fn *coarse,
                        mcc_rho_fn *rho, mcc_relax_fn *relax)
{
    if (strcmp(name, "c") != 0)
        return false;
    *relax = mcc__relax_c;
    *collect = mcc__collect_c;
    *coarse = mcc__coarse_c;
    *rho = mcc__rho_c;
    return true;
}
#endif
