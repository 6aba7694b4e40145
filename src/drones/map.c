/* A hash map from byte strings to pointers. Keys come from the air and from
 * callers (MAC addresses, UAS and operator ids), so they are hashed with a
 * keyed hash (libsodium's SipHash, a random key per map): nobody can choose
 * ids that collide. Linear probing with backward-shift deletion. */
#include "drones_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static uint64_t map__hash(const drones_map *m, const void *k, size_t n)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, k, n, m->key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

void drones__map_init(drones_map *m)
{
    memset(m, 0, sizeof *m);
    crypto_shorthash_keygen(m->key);
}

void drones__map_free(drones_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

static size_t map__find(const drones_map *m, const void *k, size_t n, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const drones_map_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->klen == n && memcmp(s->key, k, n) == 0))
            return i;
    }
}

void *drones__map_get(const drones_map *m, const void *k, size_t n)
{
    if (!m->len)
        return NULL;
    size_t i = map__find(m, k, n, map__hash(m, k, n));
    return m->slots[i].key ? m->slots[i].val : NULL;
}

static cx_err map__grow(drones_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    drones_map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return CX_ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            m->slots[map__find(m, old[i].key, old[i].klen, old[i].hash)] = old[i];
    free(old);
    return CX_OK;
}

cx_err drones__map_put(drones_map *m, const void *k, size_t n, void *val)
{
    if ((m->len + 1) * 4 > m->cap * 3 && map__grow(m) != CX_OK)
        return CX_ENOMEM;
    uint64_t h = map__hash(m, k, n);
    size_t i = map__find(m, k, n, h);
    drones_map_slot *s = &m->slots[i];
    if (s->key) {
        s->val = val;
        return CX_OK;
    }
    s->key = malloc(n ? n : 1);
    if (!s->key)
        return CX_ENOMEM;
    memcpy(s->key, k, n);
    s->klen = n;
    s->hash = h;
    s->val = val;
    m->len++;
    return CX_OK;
}

void drones__map_del(drones_map *m, const void *k, size_t n)
{
    if (!m->len)
        return;
    size_t mask = m->cap - 1, i = map__find(m, k, n, map__hash(m, k, n));
    if (!m->slots[i].key)
        return;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->len--;
    /* shift back the entries of the cluster that follows */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (between)
            continue;
        m->slots[i] = m->slots[j];
        m->slots[j].key = NULL;
        i = j;
    }
}

void drones__map_each(const drones_map *m, void (*fn)(void *ctx, void *val), void *ctx)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            fn(ctx, m->slots[i].val);
}
