/* Comparing fingerprints: the L1 distance, the similarity, the scale, and
 * the serialised forms. */
#include "designs_int.h"

#include <math.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* similarity = exp(-distance / FP_D0): 1 for equal fingerprints, the
 * threshold DESIGNS_MATCH_THRESHOLD at FP_D0 * ln(1 / threshold). */
#define FP_D0 1000.0

uint32_t designs__l1(const uint8_t *a, const uint8_t *b)
{
#if defined(__SSE2__)
    /* PSADBW: sixteen absolute differences summed per instruction */
    __m128i acc = _mm_setzero_si128();
    for (size_t i = 0; i < DESIGNS_FP_DIMS; i += 16)
        acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(a + i)),
                                              _mm_loadu_si128((const __m128i *)(b + i))));
    return (uint32_t)(_mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)));
#else
    uint32_t d = 0;
    for (size_t i = 0; i < DESIGNS_FP_DIMS; i++)
        d += (uint32_t)abs((int)a[i] - (int)b[i]);
    return d;
#endif
}

uint32_t designs_fp_distance(const designs_fp *a, const designs_fp *b)
{
    return designs__l1(a->v, b->v);
}

double designs_similarity_of_distance(uint32_t d)
{
    return exp(-(double)d / FP_D0);
}

double designs_similarity(const designs_fp *a, const designs_fp *b)
{
    return designs_similarity_of_distance(designs_fp_distance(a, b));
}

double designs_scale(const designs_fp *q, const designs_fp *r)
{
    if (q->size_volume > 0 && r->size_volume > 0)
        return q->size_volume / r->size_volume;
    return r->size_diag > 0 ? q->size_diag / r->size_diag : 0;
}

static void sim__le64(double v, uint8_t *p)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

static double sim__rd64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

void designs_fp_pack(const designs_fp *fp, uint8_t out[DESIGNS_FP_BYTES])
{
    memcpy(out, "DFP", 3);
    out[3] = DESIGNS_FP_VERSION;
    out[4] = DESIGNS_FP_DIMS & 0xff;
    out[5] = DESIGNS_FP_DIMS >> 8;
    out[6] = out[7] = 0;
    memcpy(out + 8, fp->v, DESIGNS_FP_DIMS);
    sim__le64(fp->size_volume, out + 8 + DESIGNS_FP_DIMS);
    sim__le64(fp->size_diag, out + 16 + DESIGNS_FP_DIMS);
}

cx_err designs_fp_unpack(const uint8_t *in, size_t len, designs_fp *out)
{
    if (len != DESIGNS_FP_BYTES || memcmp(in, "DFP", 3) != 0 || in[3] != DESIGNS_FP_VERSION ||
        (in[4] | in[5] << 8) != DESIGNS_FP_DIMS || in[6] || in[7])
        return CX_EPARSE;
    memcpy(out->v, in + 8, DESIGNS_FP_DIMS);
    out->size_volume = sim__rd64(in + 8 + DESIGNS_FP_DIMS);
    out->size_diag = sim__rd64(in + 16 + DESIGNS_FP_DIMS);
    if (!isfinite(out->size_volume) || !isfinite(out->size_diag) || out->size_volume < 0 ||
        out->size_diag < 0)
        return CX_EPARSE;
    return CX_OK;
}

_Static_assert(DESIGNS_FP_B64_LEN + 1 >= sodium_base64_ENCODED_LEN(
                                             DESIGNS_FP_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "base64 length");

void designs_fp_base64(const designs_fp *fp, char *out)
{
    uint8_t raw[DESIGNS_FP_BYTES];
    designs_fp_pack(fp, raw);
    sodium_bin2base64(out, DESIGNS_FP_B64_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

cx_err designs_fp_from_base64(const char *s, designs_fp *out)
{
    uint8_t raw[DESIGNS_FP_BYTES + 1];
    size_t n;
    if (sodium_base642bin(raw, sizeof raw, s, strlen(s), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return CX_EPARSE;
    return designs_fp_unpack(raw, n, out);
}
