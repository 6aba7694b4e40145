/* 1:N search over an in-memory gallery: a coarse filter over every view
 * (the probe's cylinders against 16 central cylinders of the view), then
 * the full comparison of the best share, both split across threads. */
#include "bio_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GAL_INDEX_BLOCKS 2 /* 16 cylinders per view: the coarse filter's share */

typedef struct {
    mcc_blk idx[GAL_INDEX_BLOCKS];
    uint64_t order;    /* (template's add sequence, view): ties in the coarse filter */
    uint32_t tpl;      /* index into templates */
    uint32_t position; /* the view's finger position */
} gal_entry;

typedef struct {
    uint64_t id;
    uint64_t seq; /* order of adding: results do not depend on where rows moved */
    bio_features *f;
    uint32_t *ent; /* its views' entries, nviews of them */
} gal_template;

/* Removal moves the last template (and the last entries) into the holes:
 * an erasure costs the subject's rows, whatever the gallery's size. */
struct bio_gallery {
    gal_entry *entries;
    size_t nentries, cap_entries;
    gal_template *tpl;
    size_t ntpl, cap_tpl;
    bio_slots by_id; /* id -> its templates */
    uint64_t seq;
    uint64_t moved; /* rows moved by removals, for the tests */
    size_t bytes;
};

bio_gallery *bio_gallery_new(void)
{
    return calloc(1, sizeof(bio_gallery));
}

void bio_gallery_free(bio_gallery *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->ntpl; i++) {
        bio_features_free(g->tpl[i].f);
        free(g->tpl[i].ent);
    }
    bio__slots_free(&g->by_id);
    free(g->entries);
    free(g->tpl);
    free(g);
}

static bool gal__grow(void **p, size_t *cap, size_t need, size_t size, size_t align)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = align ? aligned_alloc(align, n * size) : malloc(n * size);
    if (!q)
        return false;
    if (*p)
        memcpy(q, *p, *cap * size);
    free(*p);
    *p = q;
    *cap = n;
    return true;
}

static size_t gal__bytes_of(const bio_features *f, size_t nv)
{
    return bio_features_bytes(f) + nv * (sizeof(gal_entry) + sizeof(uint32_t)) +
           sizeof(gal_template);
}

cx_err bio_gallery_add(bio_gallery *g, uint64_t id, bio_features *f)
{
    size_t nv = bio_features_nviews(f);
    uint32_t *ent = malloc((nv ? nv : 1) * sizeof *ent);
    if (!ent || g->ntpl >= UINT32_MAX - 1 || g->nentries + nv >= UINT32_MAX ||
        !gal__grow((void **)&g->tpl, &g->cap_tpl, g->ntpl + 1, sizeof *g->tpl, 0) ||
        !gal__grow((void **)&g->entries, &g->cap_entries, g->nentries + nv, sizeof *g->entries,
                   64) ||
        !bio__slots_add(&g->by_id, id, (uint32_t)g->ntpl)) {
        free(ent);
        bio_features_free(f);
        return CX_ENOMEM;
    }
    uint32_t t = (uint32_t)g->ntpl++;
    uint64_t seq = g->seq++;
    g->tpl[t] = (gal_template){id, seq, f, ent};
    for (size_t v = 0; v < nv; v++) {
        ent[v] = (uint32_t)g->nentries;
        gal_entry *e = &g->entries[g->nentries++];
        mcc__index_blocks(bio__features_view(f, v), 1, e->idx, GAL_INDEX_BLOCKS);
        e->order = seq << 16 | v; /* views per template are far fewer than 2^16 */
        e->tpl = t;
        e->position = bio_features_position(f, v);
    }
    g->bytes += gal__bytes_of(f, nv);
    return CX_OK;
}

/* Entry e leaves: the last entry moves into its place. */
static void gal__entry_remove(bio_gallery *g, uint32_t e)
{
    uint32_t last = (uint32_t)--g->nentries;
    if (e == last)
        return;
    g->entries[e] = g->entries[last];
    gal_template *o = &g->tpl[g->entries[e].tpl];
    size_t nv = bio_features_nviews(o->f);
    for (size_t v = 0; v < nv; v++)
        if (o->ent[v] == last)
            o->ent[v] = e;
    g->moved++;
}

/* Template t leaves (its entries already gone): the last moves into its place. */
static void gal__tpl_remove(bio_gallery *g, uint32_t t)
{
    uint32_t last = (uint32_t)--g->ntpl;
    if (t == last)
        return;
    g->tpl[t] = g->tpl[last];
    size_t nv = bio_features_nviews(g->tpl[t].f);
    for (size_t v = 0; v < nv; v++)
        g->entries[g->tpl[t].ent[v]].tpl = t;
    bio__slots_move(&g->by_id, g->tpl[t].id, last, t);
    g->moved++;
}

static int gal__cmp_u32_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

size_t bio_gallery_remove(bio_gallery *g, uint64_t id)
{
    size_t n = 0;
    for (uint32_t s; (s = bio__slots_pop(&g->by_id, id)) != BIO_SLOT_NONE; n++) {
        gal_template *t = &g->tpl[s];
        size_t nv = bio_features_nviews(t->f);
        g->bytes -= gal__bytes_of(t->f, nv);
        /* highest first, as the templates: nothing of t moves into a hole */
        qsort(t->ent, nv, sizeof *t->ent, gal__cmp_u32_desc);
        for (size_t v = 0; v < nv; v++)
            gal__entry_remove(g, t->ent[v]);
        bio_features_free(t->f);
        free(t->ent);
        gal__tpl_remove(g, s);
    }
    return n;
}

uint64_t bio_gallery_moved(const bio_gallery *g)
{
    return g->moved;
}

size_t bio_gallery_size(const bio_gallery *g)
{
    return g->ntpl;
}

size_t bio_gallery_bytes(const bio_gallery *g)
{
    return g->bytes + sizeof *g;
}

/* ---- the search -------------------------------------------------------------------- */

typedef struct {
    float score;
    uint32_t entry;
    uint64_t order; /* the entry's */
} gal_cand;

/* Order: higher score first, then the entry added first: total, so results
 * depend neither on how the gallery was split among threads nor on where
 * removals moved rows. */
static bool gal__before(const gal_cand *a, const gal_cand *b)
{
    return a->score > b->score || (a->score == b->score && a->order < b->order);
}

/* A bounded min-heap of the best k candidates (the worst at the root). */
static void gal__heap_push(gal_cand *h, size_t *n, size_t k, gal_cand c)
{
    if (*n == k) {
        if (!gal__before(&c, &h[0]))
            return;
        h[0] = c;
    } else {
        size_t i = (*n)++;
        h[i] = c;
        while (i > 0 && gal__before(&h[(i - 1) / 2], &h[i])) {
            gal_cand t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return;
    }
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < *n && gal__before(&h[w], &h[l]))
            w = l;
        if (r < *n && gal__before(&h[w], &h[r]))
            w = r;
        if (w == i)
            break;
        gal_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

typedef struct {
    const bio_gallery *g;
    const bio_features *probe;
    size_t from, to; /* entries, or candidates in phase 2 */
    size_t k;
    gal_cand *heap;
    size_t nheap;
    /* phase 2 */
    const uint32_t *tpls;
    bio_hit *hits;
    bio_matcher *matcher;
    cx_err err;
} gal_job;

static bool gal__comparable(unsigned a, unsigned b)
{
    return a == b || a == 0 || b == 0;
}

static void *gal__coarse_run(void *arg)
{
    gal_job *j = arg;
    size_t pv = bio_features_nviews(j->probe);
    for (size_t e = j->from; e < j->to; e++) {
        const gal_entry *en = &j->g->entries[e];
        float best = -1;
        for (size_t v = 0; v < pv; v++) {
            if (!gal__comparable(bio_features_position(j->probe, v), en->position))
                continue;
            float s = mcc__coarse(bio__features_view(j->probe, v), en->idx, GAL_INDEX_BLOCKS);
            if (s > best)
                best = s;
        }
        if (best >= 0)
            gal__heap_push(j->heap, &j->nheap, j->k, (gal_cand){best, (uint32_t)e, en->order});
    }
    return NULL;
}

static void *gal__full_run(void *arg)
{
    gal_job *j = arg;
    for (size_t c = j->from; c < j->to; c++) {
        const gal_template *t = &j->g->tpl[j->tpls[c]];
        bio_match_result r;
        bio_match(j->matcher, j->probe, t->f, &r);
        j->hits[c] = (bio_hit){t->id, r.score, r.raw,
                               r.candidate_view >= 0
                                   ? bio_features_position(t->f, (size_t)r.candidate_view)
                                   : 0};
    }
    return NULL;
}

void bio__parallel(void *(*fn)(void *), void *jobs, size_t size, unsigned n)
{
    pthread_t th[BIO_THREADS_MAX];
    unsigned started = 0;
    char *job = jobs;
    for (unsigned i = 1; i < n && i < BIO_THREADS_MAX; i++) {
        if (pthread_create(&th[i], NULL, fn, job + i * size) != 0)
            break;
        started = i;
    }
    /* jobs that got no thread run here, in order */
    fn(job);
    for (unsigned i = started + 1; i < n; i++)
        fn(job + i * size);
    for (unsigned i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
}

static int gal__cmp_cand(const void *a, const void *b)
{
    const gal_cand *x = a, *y = b;
    return gal__before(x, y) ? -1 : gal__before(y, x) ? 1 : 0;
}

static int gal__cmp_hit(const void *a, const void *b)
{
    const bio_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->raw != y->raw)
        return x->raw > y->raw ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

typedef struct {
    uint64_t seq;
    uint32_t tpl;
} gal_pick;

_Static_assert(sizeof(gal_pick) <= sizeof(gal_cand), "picks reuse the candidates' memory");

static int gal__cmp_pick(const void *a, const void *b)
{
    uint64_t x = ((const gal_pick *)a)->seq, y = ((const gal_pick *)b)->seq;
    return (x > y) - (x < y);
}

cx_err bio_gallery_search(const bio_gallery *g, const bio_features *probe,
                          const bio_search_opts *opts, bio_hit *out, size_t *n,
                          bio_search_stats *stats)
{
    *n = 0;
    unsigned threads = opts->threads ? opts->threads : 1;
    if (threads > BIO_THREADS_MAX)
        threads = BIO_THREADS_MAX;
    size_t max_results = opts->max_results ? opts->max_results : 10;
    double share = opts->candidate_share > 0 ? opts->candidate_share : 0.01;
    size_t k = (size_t)((double)g->nentries * share + 0.5);
    size_t kmin = opts->min_candidates ? opts->min_candidates : 64;
    if (k < kmin)
        k = kmin;
    if (k > g->nentries)
        k = g->nentries;
    if (stats)
        *stats = (bio_search_stats){g->nentries, 0};
    if (k == 0)
        return CX_OK;
    if ((size_t)threads > g->nentries)
        threads = (unsigned)g->nentries;
    gal_job jobs[BIO_THREADS_MAX];
    gal_cand *heaps = malloc((size_t)threads * k * sizeof *heaps);
    if (!heaps)
        return CX_ENOMEM;
    for (unsigned t = 0; t < threads; t++)
        jobs[t] = (gal_job){.g = g, .probe = probe, .from = g->nentries * t / threads,
                            .to = g->nentries * (t + 1) / threads, .k = k,
                            .heap = heaps + (size_t)t * k};
    bio__parallel(gal__coarse_run, jobs, sizeof jobs[0], threads);
    /* the best k over all threads: the candidates */
    size_t total = 0;
    for (unsigned t = 0; t < threads; t++) {
        memmove(heaps + total, jobs[t].heap, jobs[t].nheap * sizeof *heaps);
        total += jobs[t].nheap;
    }
    qsort(heaps, total, sizeof *heaps, gal__cmp_cand);
    if (total > k)
        total = k;
    /* one full comparison per template, whichever of its views came up */
    uint32_t *tpls = malloc((total ? total : 1) * sizeof *tpls);
    bio_hit *hits = malloc((total ? total : 1) * sizeof *hits);
    if (!tpls || !hits) {
        free(heaps);
        free(tpls);
        free(hits);
        return CX_ENOMEM;
    }
    /* in the order of adding, as the full comparisons' ties are broken */
    gal_pick *picks = (gal_pick *)heaps; /* as large as the candidates, no longer needed */
    for (size_t i = 0; i < total; i++) {
        uint32_t t = g->entries[heaps[i].entry].tpl;
        picks[i] = (gal_pick){g->tpl[t].seq, t};
    }
    qsort(picks, total, sizeof *picks, gal__cmp_pick);
    size_t nt = 0;
    for (size_t i = 0; i < total; i++)
        if (nt == 0 || tpls[nt - 1] != picks[i].tpl)
            tpls[nt++] = picks[i].tpl;
    free(heaps);
    unsigned t2 = threads < nt ? threads : (unsigned)(nt ? nt : 1);
    cx_err err = CX_OK;
    for (unsigned t = 0; t < t2; t++) {
        jobs[t] = (gal_job){.g = g, .probe = probe, .from = nt * t / t2, .to = nt * (t + 1) / t2,
                            .tpls = tpls, .hits = hits, .matcher = bio_matcher_new()};
        if (!jobs[t].matcher)
            err = CX_ENOMEM;
    }
    if (!err)
        bio__parallel(gal__full_run, jobs, sizeof jobs[0], t2);
    for (unsigned t = 0; t < t2; t++)
        bio_matcher_free(jobs[t].matcher);
    if (!err) {
        if (stats)
            stats->compared = nt;
        qsort(hits, nt, sizeof *hits, gal__cmp_hit);
        /* one hit per id (a subject may have several templates) */
        for (size_t i = 0; i < nt && *n < max_results; i++) {
            if (hits[i].score < opts->min_score)
                break;
            bool seen = false;
            for (size_t q = 0; q < *n && !seen; q++)
                seen = out[q].id == hits[i].id;
            if (!seen)
                out[(*n)++] = hits[i];
        }
    }
    free(tpls);
    free(hits);
    return err;
}

cx_err bio_gallery_best_of(const bio_gallery *g, uint64_t id, const bio_features *probe,
                           bio_matcher *m, bio_hit *out)
{
    bool found = false;
    *out = (bio_hit){id, 0, 0, 0};
    for (uint32_t i = bio__slots_first(&g->by_id, id); i != BIO_SLOT_NONE;
         i = g->by_id.next[i]) {
        bio_match_result r;
        bio_match(m, probe, g->tpl[i].f, &r);
        if (!found || r.raw > out->raw) {
            out->score = r.score;
            out->raw = r.raw;
            out->position = r.candidate_view >= 0
                                ? bio_features_position(g->tpl[i].f, (size_t)r.candidate_view)
                                : 0;
        }
        found = true;
    }
    return found ? CX_OK : CX_ENOTFOUND;
}
