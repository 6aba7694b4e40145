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
                    out[n++] = (mcc_pair){sim, (uint8_t)i, (uint8_t)j};                       \
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("popcnt"))) MCC__SCALAR(mcc__collect_popcnt)
__attribute__((target("popcnt"))) MCC__COARSE(mcc__coarse_popcnt)

#define MCC__AVX512 "avx512f,avx512dq,avx512vl,avx512vpopcntdq"

__attribute__((target(MCC__AVX512))) static size_t
mcc__collect_avx512(const mcc_feat *a, const mcc_feat *b, mcc_pair *out)
{
    const __m512i min_common = _mm512_set1_epi64(mcc__t.min_common);
    const __m512i gate = _mm512_set1_epi64(mcc__t.gate);
    const __m512i lo16 = _mm512_set1_epi64(0xffff), turn = _mm512_set1_epi64(65536);
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256i lane_idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    size_t n = 0;
    for (unsigned i = 0; i < a->n; i++) {
        const mcc_blk *ba = &a->blk[i / MCC_LANES];
        unsigned la = i % MCC_LANES;
        if (!ba->ok[la])
            continue;
        const __m512i da = _mm512_set1_epi64(ba->d16[la]);
        const __m512i am = _mm512_set1_epi64((long long)ba->mask[la]);
        __m512i abits[MCC_ND];
        for (int s = 0; s < MCC_ND; s++)
            abits[s] = _mm512_set1_epi64((long long)ba->bits[s][la]);
        for (unsigned k = 0; k < b->nblk; k++) {
            const mcc_blk *bb = &b->blk[k];
            /* lanes worth comparing: a valid cylinder, directions close */
            __m512i ok = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)bb->ok));
            __m512i db = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)bb->d16));
            __m512i diff = _mm512_and_si512(_mm512_sub_epi64(db, da), lo16);
            diff = _mm512_min_epu64(diff, _mm512_sub_epi64(turn, diff));
            __mmask8 k8 = _mm512_test_epi64_mask(ok, ok) & _mm512_cmple_epu64_mask(diff, gate);
            if (!k8)
                continue;
            __m512i m = _mm512_and_si512(am, _mm512_load_si512(bb->mask));
            k8 &= _mm512_cmpge_epu64_mask(_mm512_popcnt_epi64(m), min_common);
            if (!k8)
                continue;
            __m512i na = _mm512_setzero_si512(), nb = na, nx = na;
            for (int s = 0; s < MCC_ND; s++) {
                __m512i x = _mm512_and_si512(abits[s], m);
                __m512i y = _mm512_and_si512(_mm512_load_si512(bb->bits[s]), m);
                na = _mm512_add_epi64(na, _mm512_popcnt_epi64(x));
                nb = _mm512_add_epi64(nb, _mm512_popcnt_epi64(y));
                nx = _mm512_add_epi64(nx, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
            }
            /* the same float operations as the scalar kernel: correctly
             * rounded square roots, one add, one divide, one subtract */
            __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm512_cvtepi64_ps(na)),
                                       _mm256_sqrt_ps(_mm512_cvtepi64_ps(nb)));
            __m256 sim = _mm256_sub_ps(one, _mm256_div_ps(_mm256_sqrt_ps(_mm512_cvtepi64_ps(nx)),
                                                          den));
            k8 &= _mm256_cmp_ps_mask(den, zero, _CMP_GT_OQ) &
                  _mm256_cmp_ps_mask(sim, zero, _CMP_GT_OQ);
            if (!k8)
                continue;
            float s8[MCC_LANES];
            int j8[MCC_LANES];
            _mm256_mask_compressstoreu_ps(s8, k8, sim);
            _mm256_mask_compressstoreu_epi32(j8, k8, lane_idx);
            int cnt = __builtin_popcount(k8);
            for (int c = 0; c < cnt; c++)
                out[n++] = (mcc_pair){s8[c], (uint8_t)i, (uint8_t)(k * MCC_LANES + j8[c])};
        }
    }
    return n;
}

/* The best similarity of probe cylinder i against the 8 lanes of bb. */
__attribute__((target(MCC__AVX512))) static inline __m256
mcc__lanes_avx512(const mcc_blk *ba, unsigned la, const mcc_blk *bb)
{
    const __m512i lo16 = _mm512_set1_epi64(0xffff), turn = _mm512_set1_epi64(65536);
    __m512i ok = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)bb->ok));
    __m512i db = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)bb->d16));
    __m512i diff = _mm512_and_si512(_mm512_sub_epi64(db, _mm512_set1_epi64(ba->d16[la])), lo16);
    diff = _mm512_min_epu64(diff, _mm512_sub_epi64(turn, diff));
    __mmask8 k8 = _mm512_test_epi64_mask(ok, ok) &
                  _mm512_cmple_epu64_mask(diff, _mm512_set1_epi64(mcc__t.gate));
    __m512i m = _mm512_and_si512(_mm512_set1_epi64((long long)ba->mask[la]),
                                 _mm512_load_si512(bb->mask));
    k8 &= _mm512_cmpge_epu64_mask(_mm512_popcnt_epi64(m), _mm512_set1_epi64(mcc__t.min_common));
    if (!k8)
        return _mm256_setzero_ps();
    __m512i na = _mm512_setzero_si512(), nb = na, nx = na;
    for (int s = 0; s < MCC_ND; s++) {
        __m512i x = _mm512_and_si512(_mm512_set1_epi64((long long)ba->bits[s][la]), m);
        __m512i y = _mm512_and_si512(_mm512_load_si512(bb->bits[s]), m);
        na = _mm512_add_epi64(na, _mm512_popcnt_epi64(x));
        nb = _mm512_add_epi64(nb, _mm512_popcnt_epi64(y));
        nx = _mm512_add_epi64(nx, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
    }
    __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm512_cvtepi64_ps(na)),
                               _mm256_sqrt_ps(_mm512_cvtepi64_ps(nb)));
    __m256 sim = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                               _mm256_div_ps(_mm256_sqrt_ps(_mm512_cvtepi64_ps(nx)), den));
    k8 &= _mm256_cmp_ps_mask(den, _mm256_setzero_ps(), _CMP_GT_OQ);
    /* as the scalar kernel: 0 where nothing compares, never below 0 */
    return _mm256_max_ps(_mm256_maskz_mov_ps(k8, sim), _mm256_setzero_ps());
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
        __m256 best = _mm256_setzero_ps();
        for (unsigned k = 0; k < nidx; k++)
            best = _mm256_max_ps(best, mcc__lanes_avx512(ba, la, &idx[k]));
        __m128 mx = _mm_max_ps(_mm256_extractf128_ps(best, 1), _mm256_castps256_ps128(best));
        mx = _mm_max_ps(mx, _mm_movehl_ps(mx, mx));
        mx = _mm_max_ss(mx, _mm_shuffle_ps(mx, mx, 1));
        mcc__top(top, _mm_cvtss_f32(mx));
    }
    return mcc__top_sum(top);
}


static bool mcc__avx512_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq");
}

bool mcc__kernels_named(const char *name, mcc_collect_fn *collect, mcc_coarse_fn *coarse)
{
    __builtin_cpu_init();
    if (strcmp(name, "avx512") == 0 && mcc__avx512_ok()) {
        *collect = mcc__collect_avx512;
        *coarse = mcc__coarse_avx512;
    } else if (strcmp(name, "popcnt") == 0 && __builtin_cpu_supports("popcnt")) {
        *collect = mcc__collect_popcnt;
        *coarse = mcc__coarse_popcnt;
    } else if (strcmp(name, "c") == 0) {
        *collect = mcc__collect_c;
        *coarse = mcc__coarse_c;
    } else {
        return false;
    }
    return true;
}

#else


bool mcc__kernels_named(const char *name, mcc_collect_fn *collect, mcc_coarse_fn *coarse)
{
    if (strcmp(name, "c") != 0)
        return false;
    *collect = mcc__collect_c;
    *coarse = mcc__coarse_c;
    return true;
}
#endif
