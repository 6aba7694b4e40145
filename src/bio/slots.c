/* Slots by id for the in-memory galleries: which rows an id owns, kept as
 * rows move, so that removing an id touches only its own rows. */
#include "bio_int.h"

#include <stdlib.h>

void bio__slots_free(bio_slots *l)
{
    cx_map_free(&l->first);
    free(l->next);
    free(l->prev);
    *l = (bio_slots){0};
}

static bool slots__grow(bio_slots *l, size_t need)
{
    if (need <= l->cap)
        return true;
    size_t cap = l->cap;
    uint32_t *next = l->next, *prev = l->prev;
    if (!cx_grow((void **)&next, &cap, need, sizeof *next))
        return false;
    l->next = next;
    cap = l->cap;
    if (!cx_grow((void **)&prev, &cap, need, sizeof *prev))
        return false;
    l->prev = prev;
    l->cap = cap;
    return true;
}

uint32_t bio__slots_first(const bio_slots *l, uint64_t id)
{
    int64_t v = cx_map_iget(&l->first, (int64_t)id);
    return v < 0 ? BIO_SLOT_NONE : (uint32_t)v;
}

bool bio__slots_add(bio_slots *l, uint64_t id, uint32_t slot)
{
    if (!slots__grow(l, (size_t)slot + 1))
        return false;
    uint32_t s = bio__slots_first(l, id), last = BIO_SLOT_NONE;
    if (s == BIO_SLOT_NONE && cx_map_iset(&l->first, (int64_t)id, slot) != CX_OK)
        return false;
    /* an id's rows are few (a subject's templates are capped): walk to the tail */
    for (; s != BIO_SLOT_NONE; s = l->next[s])
        last = s;
    l->prev[slot] = last;
    l->next[slot] = BIO_SLOT_NONE;
    if (last != BIO_SLOT_NONE)
        l->next[last] = slot;
    return true;
}

void bio__slots_move(bio_slots *l, uint64_t id, uint32_t from, uint32_t to)
{
    uint32_t p = l->prev[from], n = l->next[from];
    l->prev[to] = p;
    l->next[to] = n;
    if (p != BIO_SLOT_NONE)
        l->next[p] = to;
    else
        cx_map_iset(&l->first, (int64_t)id, to); /* the key exists: no allocation */
    if (n != BIO_SLOT_NONE)
        l->prev[n] = to;
}

uint32_t bio__slots_pop(bio_slots *l, uint64_t id)
{
    uint32_t hi = BIO_SLOT_NONE;
    for (uint32_t s = bio__slots_first(l, id); s != BIO_SLOT_NONE; s = l->next[s])
        if (hi == BIO_SLOT_NONE || s > hi)
            hi = s;
    if (hi == BIO_SLOT_NONE)
        return hi;
    uint32_t p = l->prev[hi], n = l->next[hi];
    if (n != BIO_SLOT_NONE)
        l->prev[n] = p;
    if (p != BIO_SLOT_NONE) {
        l->next[p] = n;
    } else if (n != BIO_SLOT_NONE) {
        cx_map_iset(&l->first, (int64_t)id, n); /* the key exists: no allocation */
    } else {
        int64_t key = (int64_t)id;
        cx_map_del(&l->first, &key, sizeof key, NULL);
    }
    return hi;
}
