/* The hash map with a secret hash key (see core.h). */
#include "core.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static unsigned char map_key[crypto_shorthash_KEYBYTES];
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

static void map__key_init(void)
{
    /* sodium_init is idempotent and thread-safe; the CSPRNG needs it. */
    if (sodium_init() < 0)
        abort();
    randombytes_buf(map_key, sizeof map_key);
}

uint64_t cx_map_hash(const void *key, size_t n)
{
    pthread_once(&map_once, map__key_init);
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, n, map_key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h ? h : 1;
}

void cx_map_init(cx_map *m)
{
    memset(m, 0, sizeof *m);
}

void cx_map_free(cx_map *m)
{
    if (!m)
        return;
    cx_arena_free(&m->keys_mem);
    free(m->slots);
    free(m->keys);
    free(m->vals);
    free(m->lens);
    memset(m, 0, sizeof *m);
}

static int64_t map__probe(const cx_map *m, uint64_t h, const void *key, size_t n)
{
    if (!m->cap)
        return -1;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const cx_map_slot *s = &m->slots[i];
        if (s->hash == 0)
            return -1;
        if (s->hash == h && s->len == n && (!key || memcmp(m->keys[s->index], key, n) == 0))
            return s->index;
    }
}

int64_t cx_map_find(const cx_map *m, const void *key, size_t n)
{
    return m->cap ? map__probe(m, cx_map_hash(key, n), key, n) : -1;
}

int64_t cx_map_find_hashed(const cx_map *m, uint64_t h, size_t n)
{
    return map__probe(m, h, NULL, n);
}

static bool map__grow(cx_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    cx_map_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].hash)
            continue;
        size_t j = (size_t)m->slots[i].hash & (cap - 1);
        while (slots[j].hash)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

int64_t cx_map_put(cx_map *m, const void *key, size_t n, bool *added)
{
    if (added)
        *added = false;
    if (n > UINT32_MAX || m->n >= UINT32_MAX - 1)
        return -1;
    uint64_t h = cx_map_hash(key, n);
    int64_t found = map__probe(m, h, key, n);
    if (found >= 0)
        return found;
    if ((m->n + 1) * 2 > m->cap && !map__grow(m))
        return -1;
    if (m->n == m->keys_cap) {
        size_t kc = m->keys_cap ? m->keys_cap * 2 : 64;
        const char **keys = realloc(m->keys, kc * sizeof *keys);
        if (!keys)
            return -1;
        m->keys = keys;
        int64_t *vals = realloc(m->vals, kc * sizeof *vals);
        if (!vals)
            return -1;
        m->vals = vals;
        uint32_t *lens = realloc(m->lens, kc * sizeof *lens);
        if (!lens)
            return -1;
        m->lens = lens;
        m->keys_cap = kc;
    }
    char *copy = cx_arena_strndup(&m->keys_mem, key, n);
    if (!copy)
        return -1;
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].hash)
        i = (i + 1) & mask;
    m->slots[i] = (cx_map_slot){h, (uint32_t)m->n, (uint32_t)n};
    m->keys[m->n] = copy;
    m->vals[m->n] = -1;
    m->lens[m->n] = (uint32_t)n;
    m->key_bytes += n + 1;
    if (added)
        *added = true;
    return (int64_t)m->n++;
}

/* The slot of an entry (it is there). */
static size_t map__slot_of(const cx_map *m, uint64_t h, size_t index)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].hash != h || m->slots[i].index != index)
        i = (i + 1) & mask;
    return i;
}

/* Empties slot i and shifts later entries of its probe run back into the
 * hole (linear probing without tombstones). */
static void map__unslot(cx_map *m, size_t i)
{
    size_t mask = m->cap - 1;
    for (size_t j = (i + 1) & mask; m->slots[j].hash; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        /* j may move to i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = (cx_map_slot){0};
}

/* Copies the live keys into a fresh arena, dropping removed ones. */
static void map__compact(cx_map *m)
{
    cx_arena fresh = {0};
    const char **keys = malloc(m->n * sizeof *keys + 1);
    for (size_t i = 0; keys && i < m->n; i++)
        if (!(keys[i] = cx_arena_strndup(&fresh, m->keys[i], m->lens[i]))) {
            free(keys);
            keys = NULL;
        }
    if (!keys) { /* no memory now: keep the old storage, try at the next removal */
        cx_arena_free(&fresh);
        return;
    }
    memcpy(m->keys, keys, m->n * sizeof *keys);
    free(keys);
    cx_arena_free(&m->keys_mem);
    m->keys_mem = fresh;
    m->dead_bytes = 0;
}

bool cx_map_del(cx_map *m, const void *key, size_t n, int64_t *val)
{
    uint64_t h = m->cap ? cx_map_hash(key, n) : 0;
    int64_t idx = m->cap ? map__probe(m, h, key, n) : -1;
    if (idx < 0)
        return false;
    if (val)
        *val = m->vals[idx];
    map__unslot(m, map__slot_of(m, h, (size_t)idx));
    size_t last = m->n - 1;
    if ((size_t)idx != last) {
        uint64_t lh = cx_map_hash(m->keys[last], m->lens[last]);
        m->slots[map__slot_of(m, lh, last)].index = (uint32_t)idx;
        m->keys[idx] = m->keys[last];
        m->vals[idx] = m->vals[last];
        m->lens[idx] = m->lens[last];
    }
    m->n--;
    m->key_bytes -= n + 1;
    m->dead_bytes += n + 1;
    if (m->dead_bytes > 65536 && m->dead_bytes > m->key_bytes)
        map__compact(m);
    return true;
}

void *cx_map_ptr(const cx_map *m, const void *key, size_t n)
{
    int64_t i = cx_map_find(m, key, n);
    return i < 0 ? NULL : cx_map_ptr_at(m, (size_t)i);
}

cx_err cx_map_set_ptr(cx_map *m, const void *key, size_t n, void *p)
{
    int64_t i = cx_map_put(m, key, n, NULL);
    if (i < 0)
        return CX_ENOMEM;
    m->vals[i] = (int64_t)(intptr_t)p;
    return CX_OK;
}

/* ---- the arena ------------------------------------------------------------------------ */

#define ARENA_BLOCK 65536

struct cx_arena_block {
    cx_arena_block *next;
    size_t cap;
    char data[];
};

char *cx_arena_strndup(cx_arena *a, const void *s, size_t n)
{
    if (!a->head || a->used + n + 1 > a->head->cap) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        cx_arena_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        /* the new block becomes the head; older full blocks stay chained */
        b->next = a->head;
        a->head = b;
        a->used = 0;
    }
    char *p = a->head->data + a->used;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    a->used += n + 1;
    return p;
}

void cx_arena_free(cx_arena *a)
{
    for (cx_arena_block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    a->head = NULL;
    a->used = 0;
}

/* ---- string and integer keys ------------------------------------------------------------ */

int64_t cx_map_get(const cx_map *m, const char *key)
{
    int64_t i = cx_map_find(m, key, strlen(key));
    return i < 0 ? -1 : m->vals[i];
}

cx_err cx_map_set(cx_map *m, const char *key, int64_t val)
{
    int64_t i = cx_map_put(m, key, strlen(key), NULL);
    if (i < 0)
        return CX_ENOMEM;
    m->vals[i] = val;
    return CX_OK;
}

int64_t cx_map_iget(const cx_map *m, int64_t key)
{
    int64_t i = cx_map_find(m, &key, sizeof key);
    return i < 0 ? -1 : m->vals[i];
}

cx_err cx_map_iset(cx_map *m, int64_t key, int64_t val)
{
    int64_t i = cx_map_put(m, &key, sizeof key, NULL);
    if (i < 0)
        return CX_ENOMEM;
    m->vals[i] = val;
    return CX_OK;
}
