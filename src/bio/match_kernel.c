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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("popcnt"))) MCC__SCALAR(mcc__collect_popcnt)

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

mcc_collect_fn mcc__collect_pick(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq"))
        return mcc__collect_avx512;
    return __builtin_cpu_supports("popcnt") ? mcc__collect_popcnt : mcc__collect_c;
}
#else
mcc_collect_fn mcc__collect_pick(void)
{
    return mcc__collect_c;
}
#endif
