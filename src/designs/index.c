/* The watchlist index: fingerprints in flat arrays with a coarse vector of
 * group sums per entry. For byte vectors a and b,
 *   sum_g |sum_{i in g} a_i - sum_{i in g} b_i|  <=  sum_i |a_i - b_i|,
 * so the coarse distance is a lower bound of the full one: a query takes
 * the entries with the smallest bounds, compares them fully, and then only
 * the entries whose bound is still under the k-th best distance. The top-k
 * is exactly a full scan's. Queries only read the index: any number may run
 * at once under a read lock. */
#include "designs_int.h"

#include <stdlib.h>
#include <string.h>

#define IX_GROUPS 16
#define IX_GROUP (DESIGNS_FP_DIMS / IX_GROUPS)
#define IX_MAX_K 64
#define IX_SEED 32 /* candidates compared before the bound prunes */

_Static_assert(DESIGNS_FP_DIMS % IX_GROUPS == 0, "groups must tile the fingerprint");

struct designs_index {
    size_t n, cap;
    int64_t *keys;
    designs_fp *fps;
    uint16_t (*coarse)[IX_GROUPS];
    /* key -> position, open addressing (keys are the store's row ids) */
    size_t *slot;
    size_t nslots;
};

static size_t ix__hash(int64_t key, size_t mask)
{
    uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29)) & mask;
}

designs_index *designs_index_new(void)
{
    return calloc(1, sizeof(designs_index));
}

void designs_index_free(designs_index *ix)
{
    if (!ix)
        return;
    free(ix->keys);
    free(ix->fps);
    free(ix->coarse);
    free(ix->slot);
    free(ix);
}

size_t designs_index_size(const designs_index *ix)
{
    return ix->n;
}

/* Position of key, or SIZE_MAX. */
static size_t ix__find(const designs_index *ix, int64_t key)
{
    if (!ix->nslots)
        return SIZE_MAX;
    for (size_t h = ix__hash(key, ix->nslots - 1);; h = (h + 1) & (ix->nslots - 1)) {
        size_t p = ix->slot[h];
        if (p == SIZE_MAX)
            return SIZE_MAX;
        if (ix->keys[p] == key)
            return p;
    }
}

static cx_err ix__rehash(designs_index *ix, size_t nslots)
{
    size_t *s = malloc(nslots * sizeof *s);
    if (!s)
        return CX_ENOMEM;
    memset(s, 0xff, nslots * sizeof *s);
    for (size_t p = 0; p < ix->n; p++) {
        size_t h = ix__hash(ix->keys[p], nslots - 1);
        while (s[h] != SIZE_MAX)
            h = (h + 1) & (nslots - 1);
        s[h] = p;
    }
    free(ix->slot);
    ix->slot = s;
    ix->nslots = nslots;
    return CX_OK;
}

static void ix__coarse(const designs_fp *fp, uint16_t out[IX_GROUPS])
{
    for (int g = 0; g < IX_GROUPS; g++) {
        unsigned s = 0;
        for (int i = 0; i < IX_GROUP; i++)
            s += fp->v[g * IX_GROUP + i];
        out[g] = (uint16_t)s;
    }
}

cx_err designs_index_add(designs_index *ix, int64_t key, const designs_fp *fp)
{
    size_t p = ix__find(ix, key);
    if (p != SIZE_MAX) { /* replace */
        ix->fps[p] = *fp;
        ix__coarse(fp, ix->coarse[p]);
        return CX_OK;
    }
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 64;
        int64_t *k = realloc(ix->keys, cap * sizeof *k);
        if (k)
            ix->keys = k;
        designs_fp *f = k ? realloc(ix->fps, cap * sizeof *f) : NULL;
        if (f)
            ix->fps = f;
        uint16_t(*c)[IX_GROUPS] = f ? realloc(ix->coarse, cap * sizeof *c) : NULL;
        if (!c)
            return CX_ENOMEM;
        ix->coarse = c;
        ix->cap = cap;
    }
    if (2 * (ix->n + 1) > ix->nslots) {
        cx_err e = ix__rehash(ix, ix->nslots ? 2 * ix->nslots : 128);
        if (e)
            return e;
    }
    p = ix->n++;
    ix->keys[p] = key;
    ix->fps[p] = *fp;
    ix__coarse(fp, ix->coarse[p]);
    size_t h = ix__hash(key, ix->nslots - 1);
    while (ix->slot[h] != SIZE_MAX)
        h = (h + 1) & (ix->nslots - 1);
    ix->slot[h] = p;
    return CX_OK;
}

void designs_index_remove(designs_index *ix, int64_t key)
{
    size_t p = ix__find(ix, key);
    if (p == SIZE_MAX)
        return;
    size_t last = --ix->n;
    if (p != last) {
        ix->keys[p] = ix->keys[last];
        ix->fps[p] = ix->fps[last];
        memcpy(ix->coarse[p], ix->coarse[last], sizeof ix->coarse[p]);
    }
    ix__rehash(ix, ix->nslots); /* rare (an officer removes an entry): rebuild */
}

const designs_fp *designs_index_get(const designs_index *ix, int64_t key)
{
    size_t p = ix__find(ix, key);
    return p == SIZE_MAX ? NULL : &ix->fps[p];
}

/* ---- top-k ------------------------------------------------------------------------- */

typedef struct {
    designs_hit h[IX_MAX_K];
    size_t n, k;
} ix_top;

static bool ix__before(const designs_hit *a, const designs_hit *b)
{
    return a->distance < b->distance || (a->distance == b->distance && a->key < b->key);
}

/* The worst kept distance, or UINT32_MAX while fewer than k are kept. */
static uint32_t ix__worst(const ix_top *t)
{
    return t->n < t->k ? UINT32_MAX : t->h[t->n - 1].distance;
}

static void ix__offer(ix_top *t, int64_t key, uint32_t d)
{
    designs_hit x = {key, d};
    if (t->n == t->k && !ix__before(&x, &t->h[t->n - 1]))
        return;
    size_t i = t->n < t->k ? t->n++ : t->n - 1;
    while (i > 0 && ix__before(&x, &t->h[i - 1])) {
        t->h[i] = t->h[i - 1];
        i--;
    }
    t->h[i] = x;
}

static uint32_t ix__full(const designs_fp *a, const designs_fp *b)
{
    uint32_t d = 0;
    for (size_t i = 0; i < DESIGNS_FP_DIMS; i++) {
        int x = (int)a->v[i] - (int)b->v[i];
        d += (uint32_t)(x < 0 ? -x : x);
    }
    return d;
}

size_t designs_index_scan(const designs_index *ix, const designs_fp *q, size_t k,
                          designs_keep_fn keep, void *keep_ctx, designs_hit *out)
{
    ix_top t = {.k = k > IX_MAX_K ? IX_MAX_K : k};
    for (size_t p = 0; p < ix->n && t.k; p++)
        if (!keep || keep(keep_ctx, ix->keys[p]))
            ix__offer(&t, ix->keys[p], ix__full(q, &ix->fps[p]));
    memcpy(out, t.h, t.n * sizeof *out);
    return t.n;
}

static bool ix__is_seed(const ix_top *seed, size_t p)
{
    for (size_t i = 0; i < seed->n; i++)
        if (seed->h[i].key == (int64_t)p)
            return true;
    return false;
}

static uint32_t ix__bound(const uint16_t a[IX_GROUPS], const uint16_t b[IX_GROUPS])
{
    uint32_t d = 0;
    for (int g = 0; g < IX_GROUPS; g++) {
        int x = (int)a[g] - (int)b[g];
        d += (uint32_t)(x < 0 ? -x : x);
    }
    return d;
}

size_t designs_index_query(const designs_index *ix, const designs_fp *q, size_t k,
                           designs_keep_fn keep, void *keep_ctx, designs_hit *out)
{
    ix_top t = {.k = k > IX_MAX_K ? IX_MAX_K : k};
    if (!t.k || !ix->n)
        return 0;
    uint16_t cq[IX_GROUPS];
    ix__coarse(q, cq);
    /* the IX_SEED smallest bounds first: their full distances set the bar */
    ix_top seed = {.k = IX_SEED > ix->n ? ix->n : IX_SEED};
    for (size_t p = 0; p < ix->n; p++) {
        uint32_t b = ix__bound(cq, ix->coarse[p]);
        if (b < ix__worst(&seed))
            ix__offer(&seed, (int64_t)p, b);
    }
    for (size_t i = 0; i < seed.n; i++) {
        size_t p = (size_t)seed.h[i].key;
        if (!keep || keep(keep_ctx, ix->keys[p]))
            ix__offer(&t, ix->keys[p], ix__full(q, &ix->fps[p]));
    }
    /* then every entry whose bound can still beat the k-th (recomputing a
     * bound costs what reading a stored one would) */
    uint32_t seed_bar = seed.n ? seed.h[seed.n - 1].distance : 0;
    for (size_t p = 0; p < ix->n; p++) {
        uint32_t b = ix__bound(cq, ix->coarse[p]);
        if (b > ix__worst(&t) || (b < seed_bar && seed.n == seed.k))
            continue; /* cannot win, or already compared as a seed */
        if (b <= seed_bar && ix__is_seed(&seed, p))
            continue;
        if (!keep || keep(keep_ctx, ix->keys[p]))
            ix__offer(&t, ix->keys[p], ix__full(q, &ix->fps[p]));
    }
    memcpy(out, t.h, t.n * sizeof *out);
    return t.n;
}
