/* Open-addressing hash maps used by the engine: string -> index and
 * int64 -> index. Keys are borrowed (strings must outlive their entry). */
#include "track_int.h"

#include <stdlib.h>
#include <string.h>

static uint64_t map__hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static uint64_t map__hash_int(int64_t k)
{
    uint64_t h = (uint64_t)k * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 31);
}

void track__map_free(track_map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static bool map__eq(const track_map *m, const track_map_slot *s, const char *skey, int64_t ikey)
{
    return m->strings ? strcmp(s->skey, skey) == 0 : s->ikey == ikey;
}

static int64_t map__find(const track_map *m, const char *skey, int64_t ikey)
{
    if (!m->cap)
        return -1;
    uint64_t h = m->strings ? map__hash_str(skey) : map__hash_int(ikey);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const track_map_slot *s = &m->slots[i];
        if (s->val < 0)
            return -1;
        if (map__eq(m, s, skey, ikey))
            return s->val;
    }
}

static cx_err map__grow(track_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    track_map_slot *ns = malloc(ncap * sizeof *ns);
    if (!ns)
        return CX_ENOMEM;
    for (size_t i = 0; i < ncap; i++)
        ns[i].val = -1;
    for (size_t i = 0; i < m->cap; i++) {
        track_map_slot *s = &m->slots[i];
        if (s->val < 0)
            continue;
        uint64_t h = m->strings ? map__hash_str(s->skey) : map__hash_int(s->ikey);
        size_t j = h & (ncap - 1);
        while (ns[j].val >= 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return CX_OK;
}

static cx_err map__put(track_map *m, const char *skey, int64_t ikey, int64_t val)
{
    if ((m->used + 1) * 2 > m->cap && map__grow(m) != CX_OK)
        return CX_ENOMEM;
    uint64_t h = m->strings ? map__hash_str(skey) : map__hash_int(ikey);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        track_map_slot *s = &m->slots[i];
        if (s->val < 0) {
            s->skey = skey;
            s->ikey = ikey;
            s->val = val;
            m->used++;
            return CX_OK;
        }
        if (map__eq(m, s, skey, ikey)) {
            s->skey = skey; /* the new owner's string */
            s->val = val;
            return CX_OK;
        }
    }
}

int64_t track__map_get(const track_map *m, const char *key)
{
    return map__find(m, key, 0);
}

cx_err track__map_put(track_map *m, const char *key, int64_t val)
{
    m->strings = true;
    return map__put(m, key, 0, val);
}

int64_t track__imap_get(const track_map *m, int64_t key)
{
    return map__find(m, NULL, key);
}

cx_err track__imap_put(track_map *m, int64_t key, int64_t val)
{
    m->strings = false;
    return map__put(m, NULL, key, val);
}
