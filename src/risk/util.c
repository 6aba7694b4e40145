/* Small containers of the risk module: a string arena and a string -> index
 * hash map (the target-encoding tables hold ~10^5 keys and are probed a few
 * million times per batch, so they are flat and allocation-free on lookup). */
#include "risk_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct risk_arena_block {
    risk_arena_block *next;
    size_t cap;
    char data[];
};

#define ARENA_BLOCK 65536

void risk__arena_init(risk_arena *a)
{
    memset(a, 0, sizeof *a);
}

void risk__arena_free(risk_arena *a)
{
    risk_arena_block *b = a->head;
    while (b) {
        risk_arena_block *n = b->next;
        free(b);
        b = n;
    }
    memset(a, 0, sizeof *a);
}

void risk__arena_reset(risk_arena *a)
{
    if (!a->head)
        return;
    risk_arena_block *b = a->head->next;
    while (b) {
        risk_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head->next = NULL;
    a->used = 0;
    a->cap = a->head->cap;
}

char *risk__arena_strndup(risk_arena *a, const char *s, size_t n)
{
    if (!a->head || a->used + n + 1 > a->cap) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        risk_arena_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        /* The new block becomes the head; older full blocks stay chained. */
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->cap = cap;
    }
    char *p = a->head->data + a->used;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    a->used += n + 1;
    return p;
}

/* FNV-1a, then a final mix so that similar keys spread over the table. */
uint64_t risk__hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

void risk__map_init(risk_map *m)
{
    memset(m, 0, sizeof *m);
    risk__arena_init(&m->arena);
}

void risk__map_free(risk_map *m)
{
    free(m->slots);
    free(m->keys);
    risk__arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}

int64_t risk__map_find(const risk_map *m, const char *key, size_t n)
{
    if (!m->cap)
        return -1;
    uint64_t h = risk__hash(key, n);
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const risk_map_slot *s = &m->slots[i];
        if (s->hash == 0)
            return -1;
        if (s->hash == h && s->len == n && memcmp(m->keys[s->index], key, n) == 0)
            return s->index;
    }
}

int64_t risk__map_find_hashed(const risk_map *m, uint64_t h, size_t n)
{
    if (!m->cap)
        return -1;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const risk_map_slot *s = &m->slots[i];
        if (s->hash == 0)
            return -1;
        if (s->hash == h && s->len == n)
            return s->index;
    }
}

static bool map__grow(risk_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    risk_map_slot *slots = calloc(cap, sizeof *slots);
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

int64_t risk__map_put(risk_map *m, const char *key, size_t n, bool *added)
{
    if (added)
        *added = false;
    int64_t found = risk__map_find(m, key, n);
    if (found >= 0)
        return found;
    if (m->n >= UINT32_MAX - 1 || n > UINT32_MAX)
        return -1;
    if ((m->n + 1) * 2 > m->cap && !map__grow(m)) /* load <= 1/2: short probes */
        return -1;
    if (m->n == m->keys_cap) {
        size_t kc = m->keys_cap ? m->keys_cap * 2 : 64;
        const char **keys = realloc(m->keys, kc * sizeof *keys);
        if (!keys)
            return -1;
        m->keys = keys;
        m->keys_cap = kc;
    }
    char *copy = risk__arena_strndup(&m->arena, key, n);
    if (!copy)
        return -1;
    uint64_t h = risk__hash(key, n);
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].hash)
        i = (i + 1) & mask;
    m->slots[i] = (risk_map_slot){h, (uint32_t)m->n, (uint32_t)n};
    m->keys[m->n] = copy;
    if (added)
        *added = true;
    return (int64_t)m->n++;
}

int risk__default_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    double load = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1)
            load = 0;
        fclose(f);
    }
    long idle = cpus - (long)(load + 0.5);
    return (int)(idle < 1 ? 1 : idle > cpus ? cpus : idle);
}

bool risk__day(const char *s, int32_t *day)
{
    int y, mo, d;
    if (!s || !cx_date_parse(s, &y, &mo, &d))
        return false;
    *day = (int32_t)cx_days_from_civil(y, mo, d);
    return true;
}

void risk__day_format(int32_t day, char out[11])
{
    int y, m, d;
    cx_civil_from_days(day, &y, &m, &d);
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}
