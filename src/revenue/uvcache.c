/* A bounded in-memory cache of valuation statistics keys, so that a
 * submission reads its (hot) keys' quantiles without a read snapshot. Keys
 * are caller-chosen (HS code, origin, unit), so the map is cx_map (keyed
 * hash) and bounded: when full it starts again empty. Misses are cached
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

#define UV_CACHE_MAX 65536 /* keys; ~40 bytes each with the map */

void rev__uvcache_init(rev_uvcache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    cx_map_init(&c->keys);
}

void rev__uvcache_free(rev_uvcache *c)
{
    cx_map_free(&c->keys);
    free(c->vals);
    pthread_mutex_destroy(&c->mu);
}

static void uvc__empty(rev_uvcache *c)
{
    cx_map_free(&c->keys);
    cx_map_init(&c->keys);
}

static void uvc__put(rev_uvcache *c, const char *key, const rev_uv_stats *st)
{
    if (c->keys.n >= UV_CACHE_MAX)
        uvc__empty(c);
    bool added;
    int64_t i = cx_map_put(&c->keys, key, strlen(key), &added);
    if (i >= 0 && !cx_grow((void **)&c->vals, &c->cap, (size_t)i + 1, sizeof *c->vals)) {
        cx_map_del(&c->keys, key, strlen(key), NULL);
        i = -1;
    }
    if (i >= 0)
        c->vals[i] = *st;
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
    /* hashed outside the lock; found by the secret hash and length alone
     * (cx_map_find_hashed: two keys would need equal 64-bit keyed hashes),
     * which spares the cold key's cache misses on a submission */
    size_t n = strlen(key);
    uint64_t h = cx_map_hash(key, n);
    pthread_mutex_lock(&c->mu);
    int64_t i = cx_map_find_hashed(&c->keys, h, n);
    if (i >= 0)
        *out = c->vals[i];
    *epoch = c->epoch;
    pthread_mutex_unlock(&c->mu);
    return i >= 0;
}

void rev__uvcache_put(rev_uvcache *c, const char *key, const rev_uv_stats *st, uint64_t epoch)
{
    pthread_mutex_lock(&c->mu);
    if (epoch == c->epoch)
        uvc__put(c, key, st);
    pthread_mutex_unlock(&c->mu);
}
