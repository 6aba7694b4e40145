/* A small open-addressing map of borrowed pointers that can also forget a
 * key (erasure), which core's cx_map (int64 values, no removal) cannot; it
 * hashes with core's keyed hash (cx_map_hash: SipHash-2-4 under a secret
 * per-process key), so lookups keyed by values callers choose stay O(1)
 * whatever they choose. */
#include "svc_int.h"

#include <stdlib.h>
#include <string.h>

static const char svc__tomb; /* marks a deleted slot */
#define TOMB ((const void *)&svc__tomb)

void svc_map_init(svc_map *m)
{
    memset(m, 0, sizeof *m);
}

void svc_map_free(svc_map *m, void (*value_free)(void *))
{
    for (size_t i = 0; value_free && i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            value_free(m->slots[i].value);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t svc__hash(const svc_map *m, const void *key, size_t klen)
{
    (void)m;
    return (size_t)cx_map_hash(key, klen);
}

static svc_slot *svc__find(const svc_map *m, const void *key, size_t klen, bool for_insert)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1, i = svc__hash(m, key, klen) & mask;
    svc_slot *tomb = NULL;
    for (size_t probe = 0; probe < m->cap; probe++, i = (i + 1) & mask) {
        svc_slot *s = &m->slots[i];
        if (!s->key)
            return for_insert ? (tomb ? tomb : s) : NULL;
        if (s->key == TOMB) {
            if (!tomb)
                tomb = s;
            continue;
        }
        if (s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
    return for_insert ? tomb : NULL;
}

static cx_err svc__rehash(svc_map *m, size_t cap)
{
    svc_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return CX_ENOMEM;
    }
    m->cap = cap;
    m->n = m->used = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key && old[i].key != TOMB) {
            *svc__find(m, old[i].key, old[i].klen, true) = old[i];
            m->n++;
            m->used++;
        }
    free(old);
    return CX_OK;
}

cx_err svc_map_put(svc_map *m, const void *key, size_t klen, void *value)
{
    if ((m->used + 1) * 4 > m->cap * 3) {
        /* live entries below half the new table; tombstones go */
        size_t cap = 16;
        while ((m->n + 1) * 2 > cap)
            cap *= 2;
        if (svc__rehash(m, cap) != CX_OK)
            return CX_ENOMEM;
    }
    svc_slot *s = svc__find(m, key, klen, true);
    if (s->key && s->key != TOMB) {
        s->value = value;
        return CX_OK;
    }
    if (!s->key)
        m->used++;
    *s = (svc_slot){key, klen, value};
    m->n++;
    return CX_OK;
}

void *svc_map_get(const svc_map *m, const void *key, size_t klen)
{
    svc_slot *s = svc__find(m, key, klen, false);
    return s ? s->value : NULL;
}

void *svc_map_del(svc_map *m, const void *key, size_t klen)
{
    svc_slot *s = svc__find(m, key, klen, false);
    if (!s)
        return NULL;
    void *v = s->value;
    s->key = TOMB;
    s->value = NULL;
    m->n--;
    return v;
}

void svc_map_each(const svc_map *m, bool (*fn)(void *ctx, void *value), void *ctx)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB && !fn(ctx, m->slots[i].value))
            return;
}
