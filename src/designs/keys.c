/* Vertices at 1 µm: welding and the canonical mesh hash.
 *
 * A vertex rounded to micrometres packs exactly into one integer when the
 * spans of the three axes need at most 63 bits together (any design under
 * 2 m a side): x in the high bits, so integer order is (x, y, z) order.
 * Welding and the canonical sort are then radix sorts over just the bits
 * used: no hash table keyed by file content, no comparison sort. Larger
 * designs take the general path (a SipHash-keyed table and a comparison
 * sort), with the same results. */
#include "designs_int.h"

#include <math.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

static int keys__bits(uint64_t v)
{
    int b = 1;
    while (b < 64 && (v >> b))
        b++;
    return b;
}

/* llround(x * 1000) without the library call: halves away from zero
 * (x - trunc(x) is exact below 2^52, so the comparison with 0.5 is too). */
static inline int64_t keys__round(double x)
{
    double v = x * 1000.0;
    int64_t r = (int64_t)v;
    double f = v - (double)r;
    return r + (f >= 0.5) - (f <= -0.5);
}

static void keys__quantise(const double *p, int64_t q[3])
{
    for (int k = 0; k < 3; k++)
        q[k] = keys__round(p[k]);
}

void designs__sha256(const void *data, size_t len, uint8_t out[32])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, len, data);
    sha256_digest(&c, 32, out);
}

void designs__keys_free(designs_keys *k)
{
    free(k->q);
    free(k->packed);
    memset(k, 0, sizeof *k);
}

cx_err designs__keys(const designs_mesh *m, designs_keys *k)
{
    memset(k, 0, sizeof *k);
    /* rounding is monotonic: the extremes of the rounded values are the
     * rounded extremes */
    double dlo[3] = {INFINITY, INFINITY, INFINITY}, dhi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t v = 0; v < m->nverts; v++)
        for (int a = 0; a < 3; a++) {
            double x = m->xyz[3 * v + a];
            dlo[a] = x < dlo[a] ? x : dlo[a];
            dhi[a] = x > dhi[a] ? x : dhi[a];
        }
    int64_t lo[3], hi[3];
    for (int a = 0; a < 3; a++) {
        lo[a] = m->nverts ? keys__round(dlo[a]) : 0;
        hi[a] = m->nverts ? keys__round(dhi[a]) : 0;
    }
    memcpy(k->min, lo, sizeof lo);
    int total = 0;
    for (int a = 0; a < 3; a++) {
        k->width[a] = keys__bits((uint64_t)(hi[a] - lo[a]));
        total += k->width[a];
    }
    if (m->nverts > 0 && total <= 63) {
        k->bits = total;
        k->packed = malloc(m->nverts * sizeof *k->packed + 1);
        if (!k->packed)
            return CX_ENOMEM;
        for (size_t v = 0; v < m->nverts; v++) {
            int64_t q[3];
            keys__quantise(m->xyz + 3 * v, q);
            k->packed[v] = (uint64_t)(q[0] - lo[0]) << (k->width[1] + k->width[2]) |
                           (uint64_t)(q[1] - lo[1]) << k->width[2] | (uint64_t)(q[2] - lo[2]);
        }
        return CX_OK;
    }
    k->q = malloc(m->nverts * sizeof *k->q + 1);
    if (!k->q)
        return CX_ENOMEM;
    for (size_t v = 0; v < m->nverts; v++)
        keys__quantise(m->xyz + 3 * v, k->q[v]);
    return CX_OK;
}

/* ---- radix sorts ------------------------------------------------------------------- */

#define RADIX_BITS 11 /* 2048 buckets: the scatter stays in cache */
#define RADIX_BUCKETS (1u << RADIX_BITS)

cx_err designs__radix_pairs(uint64_t *key, uint32_t *val, size_t n, int bits)
{
    uint64_t *k2 = malloc(n * sizeof *k2 + 1);
    uint32_t *v2 = val ? malloc(n * sizeof *v2 + 1) : NULL;
    if (!k2 || (val && !v2)) {
        free(k2);
        free(v2);
        return CX_ENOMEM;
    }
    size_t count[RADIX_BUCKETS];
    uint64_t *ks = key, *kd = k2;
    uint32_t *vs = val, *vd = v2;
    for (int shift = 0; shift < bits; shift += RADIX_BITS) {
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(ks[i] >> shift) & (RADIX_BUCKETS - 1)]++;
        size_t sum = 0;
        for (size_t d = 0; d < RADIX_BUCKETS; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t at = count[(ks[i] >> shift) & (RADIX_BUCKETS - 1)]++;
            kd[at] = ks[i];
            if (val)
                vd[at] = vs[i];
        }
        uint64_t *tk = ks;
        ks = kd;
        kd = tk;
        uint32_t *tv = vs;
        vs = vd;
        vd = tv;
    }
    if (ks != key) {
        memcpy(key, ks, n * sizeof *key);
        if (val)
            memcpy(val, vs, n * sizeof *val);
    }
    free(k2);
    free(v2);
    return CX_OK;
}

cx_err designs__radix_sort(uint64_t *a, size_t n, int bits)
{
    return designs__radix_pairs(a, NULL, n, bits);
}

/* ---- welding ----------------------------------------------------------------------- */

static cx_err keys__weld_packed(const designs_mesh *m, const designs_keys *k, uint32_t *weld,
                                size_t *nout)
{
    uint64_t *key = malloc(m->nverts * sizeof *key + 1);
    uint32_t *idx = malloc(m->nverts * sizeof *idx + 1);
    cx_err e = key && idx ? CX_OK : CX_ENOMEM;
    if (!e) {
        memcpy(key, k->packed, m->nverts * sizeof *key);
        for (size_t v = 0; v < m->nverts; v++)
            idx[v] = (uint32_t)v;
        e = designs__radix_pairs(key, idx, m->nverts, k->bits);
    }
    size_t n = 0;
    for (size_t i = 0; !e && i < m->nverts; i++) {
        if (i > 0 && key[i] != key[i - 1])
            n++;
        weld[idx[i]] = (uint32_t)n;
    }
    *nout = m->nverts ? n + 1 : 0;
    free(key);
    free(idx);
    return e;
}

/* Keys come from the file: the table's hash is keyed (SipHash). */
static cx_err keys__weld_hashed(const designs_mesh *m, const designs_keys *k, uint32_t *weld,
                                size_t *nout)
{
    size_t cap = 16;
    while (cap < 2 * m->nverts)
        cap *= 2;
    uint32_t *slot = malloc(cap * sizeof *slot);
    if (!slot)
        return CX_ENOMEM;
    memset(slot, 0xff, cap * sizeof *slot);
    size_t n = 0;
    for (size_t v = 0; v < m->nverts; v++) {
        size_t h = (size_t)designs__hash(k->q[v], sizeof k->q[v]) & (cap - 1);
        for (;;) {
            uint32_t s = slot[h];
            if (s == UINT32_MAX) {
                slot[h] = (uint32_t)v;
                weld[v] = (uint32_t)n++;
                break;
            }
            if (memcmp(k->q[s], k->q[v], sizeof k->q[v]) == 0) {
                weld[v] = weld[s];
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
    free(slot);
    *nout = n;
    return CX_OK;
}

cx_err designs__weld(const designs_mesh *m, const designs_keys *k, uint32_t *weld, size_t *n)
{
    return k->packed ? keys__weld_packed(m, k, weld, n) : keys__weld_hashed(m, k, weld, n);
}

/* ---- the canonical mesh ------------------------------------------------------------
 * Each triangle is rotated (never reflected: the winding stays) to start at
 * its smallest vertex in (x, y, z) order, ties going to the smaller whole
 * triangle; triangles are sorted; each vertex is written as three signed
 * 64-bit little-endian micrometre values, 72 bytes a triangle. */

#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
static void keys__le64(int64_t v, uint8_t *p)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}
#endif

/* Best rotation of three comparable corners: cmp(i, j) < 0 when corner i
 * is smaller. */
static int keys__rotation(const uint64_t c[3])
{
    int best = 0;
    for (int r = 1; r < 3; r++) {
        for (int k = 0; k < 3; k++) {
            uint64_t a = c[(r + k) % 3], b = c[(best + k) % 3];
            if (a != b) {
                if (a < b)
                    best = r;
                break;
            }
        }
    }
    return best;
}

typedef struct {
    struct sha256_ctx sha;
    uint8_t buf[72 * 64];
    size_t fill;
} keys_out;

static void keys__emit(keys_out *o, const int64_t v[9])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(o->buf + o->fill, v, 72); /* already the layout */
#else
    for (int k = 0; k < 9; k++)
        keys__le64(v[k], o->buf + o->fill + 8 * k);
#endif
    o->fill += 72;
    if (o->fill == sizeof o->buf) {
        sha256_update(&o->sha, o->fill, o->buf);
        o->fill = 0;
    }
}

/* Triangles sharing their smallest corner, ordered by the other two. */
static int keys__cmp_rest(const void *pa, const void *pb, void *ctx)
{
    const uint64_t *c = ctx, *a = c + 3 * (size_t)*(const uint32_t *)pa,
                   *b = c + 3 * (size_t)*(const uint32_t *)pb;
    for (int j = 1; j < 3; j++)
        if (a[j] != b[j])
            return a[j] < b[j] ? -1 : 1;
    return 0;
}

static cx_err keys__canon_packed(const designs_mesh *m, const designs_keys *k, keys_out *o)
{
    size_t n = m->ntris;
    uint64_t *c = malloc(3 * n * sizeof *c + 1), *key = malloc(n * sizeof *key + 1);
    uint32_t *perm = malloc(n * sizeof *perm + 1);
    cx_err e = c && key && perm ? CX_OK : CX_ENOMEM;
    for (size_t t = 0; !e && t < n; t++) {
        uint64_t v[3] = {k->packed[m->tri[3 * t]], k->packed[m->tri[3 * t + 1]],
                         k->packed[m->tri[3 * t + 2]]};
        int r = keys__rotation(v);
        for (int j = 0; j < 3; j++)
            c[3 * t + j] = v[(r + j) % 3];
        key[t] = c[3 * t];
        perm[t] = (uint32_t)t;
    }
    /* by the first corner in one radix sort; runs that share it (a fan,
     * a handful usually) by the other two with a comparison sort */
    if (!e)
        e = designs__radix_pairs(key, perm, n, k->bits);
    for (size_t i = 0; !e && i < n;) {
        size_t j = i + 1;
        while (j < n && key[j] == key[i])
            j++;
        if (j - i > 16) {
            qsort_r(perm + i, j - i, sizeof *perm, keys__cmp_rest, c);
        } else { /* a handful: insertion sort */
            for (size_t a = i + 1; a < j; a++) {
                uint32_t x = perm[a];
                size_t b = a;
                while (b > i && keys__cmp_rest(&perm[b - 1], &x, c) > 0) {
                    perm[b] = perm[b - 1];
                    b--;
                }
                perm[b] = x;
            }
        }
        i = j;
    }
    for (size_t i = 0; !e && i < n; i++) {
        int64_t v[9];
        for (int j = 0; j < 3; j++) {
            uint64_t p = c[3 * (size_t)perm[i] + j];
            int wy = k->width[1], wz = k->width[2];
            v[3 * j] = (int64_t)(p >> (wy + wz)) + k->min[0];
            v[3 * j + 1] = (int64_t)((p >> wz) & (((uint64_t)1 << wy) - 1)) + k->min[1];
            v[3 * j + 2] = (int64_t)(p & (((uint64_t)1 << wz) - 1)) + k->min[2];
        }
        keys__emit(o, v);
    }
    free(c);
    free(key);
    free(perm);
    return e;
}

typedef struct {
    int64_t v[9];
} keys_tri;

static int keys__cmp9(const void *pa, const void *pb)
{
    const int64_t *a = ((const keys_tri *)pa)->v, *b = ((const keys_tri *)pb)->v;
    for (int k = 0; k < 9; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

static int keys__cmp3(const int64_t *a, const int64_t *b)
{
    for (int k = 0; k < 3; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

static cx_err keys__canon_general(const designs_mesh *m, const designs_keys *k, keys_out *o)
{
    keys_tri *t = malloc(m->ntris * sizeof *t + 1);
    if (!t)
        return CX_ENOMEM;
    for (size_t i = 0; i < m->ntris; i++) {
        const int64_t *q[3] = {k->q[m->tri[3 * i]], k->q[m->tri[3 * i + 1]],
                               k->q[m->tri[3 * i + 2]]};
        int best = 0;
        for (int r = 1; r < 3; r++) {
            int c = 0;
            for (int j = 0; c == 0 && j < 3; j++)
                c = keys__cmp3(q[(r + j) % 3], q[(best + j) % 3]);
            if (c < 0)
                best = r;
        }
        for (int j = 0; j < 3; j++)
            memcpy(t[i].v + 3 * j, q[(best + j) % 3], 3 * sizeof(int64_t));
    }
    qsort(t, m->ntris, sizeof *t, keys__cmp9);
    for (size_t i = 0; i < m->ntris; i++)
        keys__emit(o, t[i].v);
    free(t);
    return CX_OK;
}

cx_err designs__canonical_sha256(const designs_mesh *m, const designs_keys *k, uint8_t out[32])
{
    keys_out *o = malloc(sizeof *o);
    if (!o)
        return CX_ENOMEM;
    sha256_init(&o->sha);
    o->fill = 0;
    cx_err e = k->packed ? keys__canon_packed(m, k, o) : keys__canon_general(m, k, o);
    if (!e) {
        sha256_update(&o->sha, o->fill, o->buf);
        sha256_digest(&o->sha, 32, out);
    }
    free(o);
    return e;
}

cx_err designs_mesh_sha256(const designs_mesh *m, uint8_t out[32])
{
    designs_keys k;
    cx_err e = designs__keys(m, &k);
    if (!e)
        e = designs__canonical_sha256(m, &k, out);
    designs__keys_free(&k);
    return e;
}
