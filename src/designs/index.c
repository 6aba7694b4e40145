/* The watchlist index: exact top-k under the L1 distance of fingerprints,
 * without comparing a query to every entry.
 *
 * Entries are grouped around pivots (entries chosen far apart). Each group
 * keeps its members sorted by their distance to the pivot. L1 is a metric,
 * so for a query q, pivot p and member e:
 *     d(q, e) >= |d(q, p) - d(e, p)|      and      d(q, e) >= d(q, p) - radius(p)
 * A query measures its distance to every pivot, visits the groups nearest
 * first, and in each compares only the members in the ring around d(q, p)
 * that the k-th best distance so far still allows, from its middle out.
 * Members are stored in ring order with a coarse vector each (sums of byte
 * groups, another lower bound of the L1 distance), so a ring is read
 * sequentially and most members are turned away from 32 bytes.
 * The result is the top-k of a full scan (designs_index_scan, the tests'
 * oracle and the benchmark's peer), usually after a few percent of the
 * comparisons. Removed entries are tombstones until the next rebuild.
 * Queries only read: any number may run at once under a read lock. */
#include "designs_int.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define IX_MAX_K 64
#define IX_GROUP_SIZE 384  /* members a pivot aims at */
#define IX_MAX_PIVOTS 512
#define IX_PIVOT_SAMPLE 4096
#define IX_COARSE 16
#define IX_SPAN (DESIGNS_FP_DIMS / IX_COARSE)

typedef struct {
    uint32_t dist; /* to the pivot */
    uint32_t pos;  /* entry */
} ix_member;

typedef struct {
    uint16_t c[IX_COARSE];
} ix_coarse;

/* Members sorted by dist, with their coarse vectors and bytes in the same
 * order (copies: rings are read sequentially). */
typedef struct {
    designs_fp pivot;
    ix_member *m;
    ix_coarse *coarse;
    uint8_t (*v)[DESIGNS_FP_DIMS];
    size_t n, cap;
    uint32_t radius;
} ix_group;

struct designs_index {
    size_t n, cap, live;
    int64_t *keys;
    designs_fp *fps;
    uint8_t *dead;
    size_t *slot; /* key -> position, open addressing (keys are row ids) */
    size_t nslots;
    ix_group *groups;
    size_t ngroups;
    size_t built_at; /* entries when the pivots were chosen */
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

static void ix__free_groups(designs_index *ix)
{
    for (size_t g = 0; g < ix->ngroups; g++) {
        free(ix->groups[g].m);
        free(ix->groups[g].coarse);
        free(ix->groups[g].v);
    }
    free(ix->groups);
    ix->groups = NULL;
    ix->ngroups = 0;
}

void designs_index_free(designs_index *ix)
{
    if (!ix)
        return;
    ix__free_groups(ix);
    free(ix->keys);
    free(ix->fps);
    free(ix->dead);
    free(ix->slot);
    free(ix);
}

size_t designs_index_size(const designs_index *ix)
{
    return ix->live;
}

/* Live position of key, or SIZE_MAX. */
static size_t ix__find(const designs_index *ix, int64_t key)
{
    if (!ix->nslots)
        return SIZE_MAX;
    for (size_t h = ix__hash(key, ix->nslots - 1);; h = (h + 1) & (ix->nslots - 1)) {
        size_t p = ix->slot[h];
        if (p == SIZE_MAX)
            return SIZE_MAX;
        if (ix->keys[p] == key && !ix->dead[p])
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
        if (ix->dead[p])
            continue;
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

/* ---- groups ------------------------------------------------------------------------- */

static size_t ix__lower(const ix_group *g, uint32_t dist)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g->m[mid].dist < dist)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void ix__coarse(const uint8_t *v, ix_coarse *out)
{
    for (int g = 0; g < IX_COARSE; g++) {
        unsigned sum = 0;
        for (int i = 0; i < IX_SPAN; i++)
            sum += v[g * IX_SPAN + i];
        out->c[g] = (uint16_t)sum;
    }
}

static uint32_t ix__coarse_l1(const ix_coarse *a, const ix_coarse *b)
{
#if defined(__SSE2__)
    /* group sums are at most 12 * 255: signed 16-bit lanes hold them */
    __m128i acc = _mm_setzero_si128(), one = _mm_set1_epi16(1);
    for (int i = 0; i < IX_COARSE; i += 8) {
        __m128i x = _mm_loadu_si128((const __m128i *)(a->c + i)),
                y = _mm_loadu_si128((const __m128i *)(b->c + i));
        __m128i d = _mm_max_epi16(_mm_sub_epi16(x, y), _mm_sub_epi16(y, x));
        acc = _mm_add_epi32(acc, _mm_madd_epi16(d, one));
    }
    acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, _MM_SHUFFLE(1, 0, 3, 2)));
    acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(acc);
#else
    uint32_t d = 0;
    for (int g = 0; g < IX_COARSE; g++) {
        int x = (int)a->c[g] - (int)b->c[g];
        d += (uint32_t)(x < 0 ? -x : x);
    }
    return d;
#endif
}

static cx_err ix__join(designs_index *ix, size_t pos)
{
    size_t best = 0;
    uint32_t bd = UINT32_MAX;
    for (size_t g = 0; g < ix->ngroups; g++) {
        uint32_t d = designs__l1(ix->fps[pos].v, ix->groups[g].pivot.v);
        if (d < bd) {
            bd = d;
            best = g;
        }
    }
    ix_group *g = &ix->groups[best];
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        ix_member *m = realloc(g->m, cap * sizeof *m);
        if (m)
            g->m = m;
        ix_coarse *c = m ? realloc(g->coarse, cap * sizeof *c) : NULL;
        if (c)
            g->coarse = c;
        uint8_t(*v)[DESIGNS_FP_DIMS] = c ? realloc(g->v, cap * sizeof *v) : NULL;
        if (!v)
            return CX_ENOMEM;
        g->v = v;
        g->cap = cap;
    }
    size_t at = ix__lower(g, bd), tail = g->n - at;
    memmove(g->m + at + 1, g->m + at, tail * sizeof *g->m);
    memmove(g->coarse + at + 1, g->coarse + at, tail * sizeof *g->coarse);
    memmove(g->v + at + 1, g->v + at, tail * sizeof *g->v);
    g->m[at] = (ix_member){bd, (uint32_t)pos};
    ix__coarse(ix->fps[pos].v, &g->coarse[at]);
    memcpy(g->v[at], ix->fps[pos].v, DESIGNS_FP_DIMS);
    g->n++;
    if (bd > g->radius)
        g->radius = bd;
    return CX_OK;
}

/* Pivots far apart (farthest-first over a sample), then every live entry
 * joins its nearest pivot; dead entries are dropped on the way. */
static cx_err ix__rebuild(designs_index *ix)
{
    /* compact: the tombstones go */
    size_t w = 0;
    for (size_t p = 0; p < ix->n; p++)
        if (!ix->dead[p]) {
            ix->keys[w] = ix->keys[p];
            ix->fps[w] = ix->fps[p];
            ix->dead[w] = 0;
            w++;
        }
    ix->n = ix->live = w;
    cx_err e = ix__rehash(ix, ix->nslots);
    ix__free_groups(ix);
    if (e || ix->n == 0)
        return e;
    size_t want = ix->n / IX_GROUP_SIZE + 1;
    if (want > IX_MAX_PIVOTS)
        want = IX_MAX_PIVOTS;
    size_t sample = ix->n < IX_PIVOT_SAMPLE ? ix->n : IX_PIVOT_SAMPLE;
    size_t step = ix->n / sample;
    uint32_t *near = malloc(sample * sizeof *near);
    ix->groups = calloc(want, sizeof *ix->groups);
    if (!near || !ix->groups) {
        free(near);
        return CX_ENOMEM;
    }
    size_t pick = 0;
    for (size_t i = 0; i < sample; i++)
        near[i] = UINT32_MAX;
    for (size_t g = 0; g < want; g++) {
        ix->groups[g].pivot = ix->fps[pick * step];
        ix->ngroups++;
        uint32_t far = 0;
        for (size_t i = 0; i < sample; i++) {
            uint32_t d = designs__l1(ix->fps[i * step].v, ix->groups[g].pivot.v);
            if (d < near[i])
                near[i] = d;
            if (near[i] > far) {
                far = near[i];
                pick = i;
            }
        }
        if (far == 0)
            break; /* every sampled entry is a pivot's twin */
    }
    free(near);
    for (size_t p = 0; !e && p < ix->n; p++)
        e = ix__join(ix, p);
    ix->built_at = ix->n;
    return e;
}

static cx_err ix__grow(designs_index *ix)
{
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    int64_t *k = realloc(ix->keys, cap * sizeof *k);
    if (!k)
        return CX_ENOMEM;
    ix->keys = k;
    designs_fp *f = realloc(ix->fps, cap * sizeof *f);
    if (!f)
        return CX_ENOMEM;
    ix->fps = f;
    uint8_t *d = realloc(ix->dead, cap);
    if (!d)
        return CX_ENOMEM;
    ix->dead = d;
    ix->cap = cap;
    return CX_OK;
}

cx_err designs_index_add(designs_index *ix, int64_t key, const designs_fp *fp)
{
    designs_index_remove(ix, key); /* replacing: the old one becomes a tombstone */
    cx_err e = ix->n == ix->cap ? ix__grow(ix) : CX_OK;
    if (!e && 2 * (ix->n + 1) > ix->nslots)
        e = ix__rehash(ix, ix->nslots ? 2 * ix->nslots : 128);
    if (e)
        return e;
    size_t p = ix->n++;
    ix->keys[p] = key;
    ix->fps[p] = *fp;
    ix->dead[p] = 0;
    ix->live++;
    size_t h = ix__hash(key, ix->nslots - 1);
    while (ix->slot[h] != SIZE_MAX)
        h = (h + 1) & (ix->nslots - 1);
    ix->slot[h] = p;
    /* pivots are chosen again whenever the index has doubled */
    if (!ix->ngroups || ix->n >= 2 * ix->built_at + IX_GROUP_SIZE)
        return ix__rebuild(ix);
    return ix__join(ix, p);
}

void designs_index_remove(designs_index *ix, int64_t key)
{
    size_t p = ix__find(ix, key);
    if (p == SIZE_MAX)
        return;
    ix->dead[p] = 1;
    ix->live--;
    if (ix->n - ix->live > ix->n / 8 + 64)
        ix__rebuild(ix); /* on failure the tombstones simply stay */
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

typedef struct {
    const designs_index *ix;
    const designs_fp *q;
    ix_coarse qc;
    designs_keep_fn keep;
    void *keep_ctx;
    ix_top top;
} ix_query;

static void ix__consider(ix_query *x, size_t pos)
{
    const designs_index *ix = x->ix;
    if (ix->dead[pos] || (x->keep && !x->keep(x->keep_ctx, ix->keys[pos])))
        return;
    ix__offer(&x->top, ix->keys[pos], designs__l1(x->q->v, ix->fps[pos].v));
}

size_t designs_index_scan(const designs_index *ix, const designs_fp *q, size_t k,
                          designs_keep_fn keep, void *keep_ctx, designs_hit *out)
{
    ix_query x = {.ix = ix, .q = q, .keep = keep, .keep_ctx = keep_ctx,
                  .top = {.k = k > IX_MAX_K ? IX_MAX_K : k}};
    for (size_t p = 0; p < ix->n && x.top.k; p++)
        ix__consider(&x, p);
    memcpy(out, x.top.h, x.top.n * sizeof *out);
    return x.top.n;
}

/* Member i of g: turned away by its coarse bound when it cannot win. */
static void ix__member(ix_query *x, const ix_group *g, size_t i)
{
    uint32_t bar = ix__worst(&x->top);
    if (ix__coarse_l1(&x->qc, &g->coarse[i]) > bar)
        return;
    uint32_t pos = g->m[i].pos;
    const designs_index *ix = x->ix;
    if (ix->dead[pos] || (x->keep && !x->keep(x->keep_ctx, ix->keys[pos])))
        return;
    ix__offer(&x->top, ix->keys[pos], designs__l1(x->q->v, g->v[i]));
}

/* The members of g in the ring |d(e, p) - dq| <= bar, middle out. */
static void ix__ring(ix_query *x, const ix_group *g, uint32_t dq)
{
    size_t hi = ix__lower(g, dq), lo = hi; /* [lo, hi) done */
    for (;;) {
        uint32_t bar = ix__worst(&x->top);
        uint32_t dl = lo > 0 ? dq - g->m[lo - 1].dist : UINT32_MAX;
        uint32_t dh = hi < g->n ? g->m[hi].dist - dq : UINT32_MAX;
        bool left = lo > 0 && dl <= bar, right = hi < g->n && dh <= bar;
        if (!left && !right)
            return;
        if (left && (!right || dl <= dh))
            ix__member(x, g, --lo);
        else
            ix__member(x, g, hi++);
    }
}

typedef struct {
    uint32_t bound, dq;
    uint32_t group;
} ix_order;

static int ix__cmp_order(const void *a, const void *b)
{
    const ix_order *x = a, *y = b;
    return x->bound < y->bound ? -1 : x->bound > y->bound ? 1 : (x->dq > y->dq) - (x->dq < y->dq);
}

size_t designs_index_query(const designs_index *ix, const designs_fp *q, size_t k,
                           designs_keep_fn keep, void *keep_ctx, designs_hit *out)
{
    ix_query x = {.ix = ix, .q = q, .keep = keep, .keep_ctx = keep_ctx,
                  .top = {.k = k > IX_MAX_K ? IX_MAX_K : k}};
    if (!x.top.k || !ix->live)
        return 0;
    ix__coarse(q->v, &x.qc);
    ix_order order[IX_MAX_PIVOTS];
    for (size_t g = 0; g < ix->ngroups; g++) {
        uint32_t dq = designs__l1(q->v, ix->groups[g].pivot.v);
        order[g] = (ix_order){dq > ix->groups[g].radius ? dq - ix->groups[g].radius : 0, dq,
                              (uint32_t)g};
    }
    qsort(order, ix->ngroups, sizeof order[0], ix__cmp_order);
    for (size_t i = 0; i < ix->ngroups; i++) {
        if (order[i].bound > ix__worst(&x.top))
            break; /* this group and every later one are too far */
        ix__ring(&x, &ix->groups[order[i].group], order[i].dq);
    }
    /* entries added since the groups were built all joined a group */
    memcpy(out, x.top.h, x.top.n * sizeof *out);
    return x.top.n;
}
