/* A bounded in-memory cache of valuation statistics keys, so that a
 * submission reads its (hot) keys' quantiles without a read snapshot. Keys
 * are caller-chosen (HS code, origin, unit), so the table is open
 * addressing on cx_map_hash (SipHash under the process's secret key) and
 * bounded: when full it starts again empty. A slot holds the key's hash,
 * length and statistics, one cache line for a lookup on the submitting
 * thread (a cx_map's slot, key and value were three); a key is known by
 * its secret 64-bit hash and length alone, as cx_map_find_hashed does. Misses are cached
 * too (a key without statistics). Whoever changes statistics (the
 * worker's fold, a release that folds held values) refreshes the keys it
 * changed inside its job, so that no reader can miss them and read the
 * database before the commit, and again once the job committed, replacing
 * what a reader read before it; a reader that looked in the database
 * before a refresh does not put what it read in the cache (the epoch
 * moved). A job that rolls back empties the cache. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UV_CACHE_MAX 65536 /* keys; 40 bytes a slot, at most half full */

void rev__uvcache_init(rev_uvcache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

void rev__uvcache_free(rev_uvcache *c)
{
    free(c->slots);
    pthread_mutex_destroy(&c->mu);
}

static void uvc__empty(rev_uvcache *c)
{
    free(c->slots);
    c->slots = NULL;
    c->cap = c->n = 0;
}

/* The slot of (h, len), or the empty one where it would go; NULL when the
 * table has none. */
static rev_uv_slot *uvc__slot(const rev_uvcache *c, uint64_t h, size_t len)
{
    if (!c->cap)
        return NULL;
    size_t mask = c->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        rev_uv_slot *s = &c->slots[i];
        if (!s->hash || (s->hash == h && s->len == len))
            return s;
    }
}

static bool uvc__grow(rev_uvcache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    rev_uv_slot *v = calloc(cap, sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].hash)
            continue;
        size_t j = (size_t)c->slots[i].hash & (cap - 1);
        while (v[j].hash)
            j = (j + 1) & (cap - 1);
        v[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = v;
    c->cap = cap;
    return true;
}

static void uvc__put(rev_uvcache *c, const char *key, const rev_uv_stats *st)
{
    size_t len = strlen(key);
    uint64_t h = cx_map_hash(key, len);
    rev_uv_slot *s = uvc__slot(c, h, len);
    if (!s || !s->hash) { /* a new key */
        if (c->n >= UV_CACHE_MAX)
            uvc__empty(c);
        if ((c->n + 1) * 2 > c->cap && !uvc__grow(c))
            return; /* out of memory: not cached, read again next time */
        s = uvc__slot(c, h, len);
        s->hash = h;
        s->len = (uint32_t)len;
        c->n++;
    }
    s->st = *st;
}

void rev__uvcache_clear(rev_uvcache *c)
{
    pthread_mutex_lock(&c->mu);
    c->epoch++;
    uvc__empty(c);
    pthread_mutex_unlock(&c->mu);
}

void rev__uvcache_refresh(rev_uvcache *c, const rev_uv_fresh *v, size_t n)
{
    if (!n)
        return;
    pthread_mutex_lock(&c->mu);
    c->epoch++;
    for (size_t i = 0; i < n; i++)
        uvc__put(c, v[i].key, &v[i].st);
    pthread_mutex_unlock(&c->mu);
}

cx_err rev__uv_fresh_add(rev_uv_freshlist *l, const char *key, const rev_uv_stats *st)
{
    if (!cx_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
        return CX_ENOMEM;
    snprintf(l->v[l->n].key, sizeof l->v[l->n].key, "%s", key);
    l->v[l->n++].st = *st;
    return CX_OK;
}

bool rev__uvcache_get(rev_uvcache *c, const char *key, rev_uv_stats *out, uint64_t *epoch)
{
    /* hashed outside the lock */
    size_t len = strlen(key);
    uint64_t h = cx_map_hash(key, len);
    pthread_mutex_lock(&c->mu);
    const rev_uv_slot *s = uvc__slot(c, h, len);
    bool hit = s && s->hash;
    if (hit)
        *out = s->st;
    *epoch = c->epoch;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void rev__uvcache_put(rev_uvcache *c, const char *key, const rev_uv_stats *st, uint64_t epoch)
{
    pthread_mutex_lock(&c->mu);
    if (epoch == c->epoch)
        uvc__put(c, key, st);
    pthread_mutex_unlock(&c->mu);
}
