/* Unit-value distributions as log-space histograms. A bin is 1/20 of a
 * natural-log unit (a 5 % step in price), so a key's histogram has at most
 * a few hundred non-empty bins however many declarations it counts: reading
 * and updating it costs the same for a key seen twice or a million times.
 * Quantiles interpolate linearly inside a bin (in log space). */
#include "revenue_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ln(unit value) from -20 (2e-9) to +40 (2.4e17): any price in any currency */
#define BIN_MIN (-20 * REV_UV_BINS_PER_E)
#define BIN_MAX (40 * REV_UV_BINS_PER_E)
#define BIN_ENTRY 6 /* int16 bin + uint32 count */

typedef struct {
    int16_t bin;
    uint32_t count;
} hist_bin;

struct rev_hist {
    hist_bin *b; /* sorted by bin */
    size_t n, cap;
    int64_t total;
};

rev_hist *rev_hist_new(void)
{
    return calloc(1, sizeof(rev_hist));
}

void rev_hist_free(rev_hist *h)
{
    if (!h)
        return;
    free(h->b);
    free(h);
}

int rev_uv_bin(double unit_value)
{
    double l = floor(log(unit_value) * REV_UV_BINS_PER_E);
    if (!(l >= BIN_MIN)) /* also NaN and -inf (a zero value) */
        return BIN_MIN;
    return l > BIN_MAX ? BIN_MAX : (int)l;
}

static bool hist__put(rev_hist *h, int bin, uint32_t count)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->b[mid].bin < bin)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < h->n && h->b[lo].bin == bin) {
        if (h->b[lo].count > UINT32_MAX - count)
            return false;
        h->b[lo].count += count;
    } else {
        if (h->n == h->cap) {
            size_t nc = h->cap ? h->cap * 2 : 16;
            hist_bin *p = realloc(h->b, nc * sizeof *p);
            if (!p)
                return false;
            h->b = p;
            h->cap = nc;
        }
        memmove(&h->b[lo + 1], &h->b[lo], (h->n - lo) * sizeof *h->b);
        h->b[lo].bin = (int16_t)bin;
        h->b[lo].count = count;
        h->n++;
    }
    h->total += count;
    return true;
}

bool rev_hist_add(rev_hist *h, double unit_value, uint32_t count)
{
    if (!(unit_value > 0) || !isfinite(unit_value))
        return false;
    return hist__put(h, rev_uv_bin(unit_value), count);
}

int64_t rev_hist_n(const rev_hist *h)
{
    return h->total;
}

bool rev_hist_decode(rev_hist *h, const void *blob, size_t len)
{
    h->n = 0;
    h->total = 0;
    if (len % BIN_ENTRY)
        return false;
    const unsigned char *p = blob;
    int prev = BIN_MIN - 1;
    for (size_t i = 0; i < len; i += BIN_ENTRY) {
        int bin = (int16_t)(uint16_t)(p[i] | p[i + 1] << 8);
        uint32_t c = (uint32_t)p[i + 2] | (uint32_t)p[i + 3] << 8 | (uint32_t)p[i + 4] << 16 |
                     (uint32_t)p[i + 5] << 24;
        if (bin <= prev || bin > BIN_MAX || c == 0 || !hist__put(h, bin, c))
            return false;
        prev = bin;
    }
    return true;
}

size_t rev_hist_encoded_size(const rev_hist *h)
{
    return h->n * BIN_ENTRY;
}

size_t rev_hist_encode(const rev_hist *h, void *out, size_t cap)
{
    if (cap < h->n * BIN_ENTRY)
        return 0;
    unsigned char *p = out;
    for (size_t i = 0; i < h->n; i++, p += BIN_ENTRY) {
        uint16_t bin = (uint16_t)h->b[i].bin;
        uint32_t c = h->b[i].count;
        p[0] = (unsigned char)bin;
        p[1] = (unsigned char)(bin >> 8);
        p[2] = (unsigned char)c;
        p[3] = (unsigned char)(c >> 8);
        p[4] = (unsigned char)(c >> 16);
        p[5] = (unsigned char)(c >> 24);
    }
    return h->n * BIN_ENTRY;
}

double rev_hist_quantile(const rev_hist *h, double q)
{
    if (!h->total)
        return NAN;
    double target = q * (double)h->total, cum = 0;
    for (size_t i = 0; i < h->n; i++) {
        double c = h->b[i].count;
        if (cum + c >= target || i + 1 == h->n) {
            double frac = c > 0 ? (target - cum) / c : 0;
            frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
            return exp(((double)h->b[i].bin + frac) / REV_UV_BINS_PER_E);
        }
        cum += c;
    }
    return NAN;
}
