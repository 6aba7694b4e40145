/* Per-caller limits. The address table (loop thread only) counts each
 * client address's connections and holds its token bucket for requests
 * without a key; the quota table (any thread) counts requests in flight per
 * key and streams per key and per organisation. Both are keyed with
 * crypto_shorthash (callers choose their addresses) and bounded: an entry
 * lives only while something is counted (or a bucket refills). */
#include "http_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- client addresses: open addressing, linear probing, backward-shift
 * deletion ---------------------------------------------------------------------- */

static uint64_t addr__hash(const http_addrs *t, const uint8_t a[16])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, a, 16, t->key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

cx_err http__addrs_init(http_addrs *t, size_t max_conns, double rate, double burst)
{
    size_t cap = 4096;
    while (cap < 2 * max_conns)
        cap *= 2;
    t->v = calloc(cap, sizeof *t->v);
    if (!t->v)
        return CX_ENOMEM;
    t->cap = cap;
    t->n = 0;
    t->rate = rate;
    t->burst = burst;
    crypto_shorthash_keygen(t->key);
    return CX_OK;
}

void http__addrs_free(http_addrs *t)
{
    free(t->v);
    t->v = NULL;
}

static void addr__refill(const http_addrs *t, http_addr_slot *s, int64_t now)
{
    if (t->rate < 0)
        return;
    s->tokens += (double)(now - s->last_us) * t->rate / 1e6;
    if (s->tokens > t->burst)
        s->tokens = t->burst;
    s->last_us = now;
}

static void addr__delete(http_addrs *t, size_t i)
{
    size_t mask = t->cap - 1;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!t->v[j].used)
            break;
        size_t k = (size_t)addr__hash(t, t->v[j].addr) & mask;
        /* j's entry may move to i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            t->v[i] = t->v[j];
            i = j;
        }
    }
    memset(&t->v[i], 0, sizeof t->v[i]);
    t->n--;
}

/* Removes entries that hold nothing: no connection and a full bucket (or,
 * when even that is not enough room, any bucket). */
static void addr__sweep(http_addrs *t, int64_t now, bool forget_buckets)
{
    for (size_t i = 0; i < t->cap;) {
        http_addr_slot *s = &t->v[i];
        if (s->used && s->conns == 0) {
            addr__refill(t, s, now);
            if (forget_buckets || t->rate < 0 || s->tokens >= t->burst) {
                addr__delete(t, i);
                continue; /* another entry may have moved into i */
            }
        }
        i++;
    }
}

http_addr_slot *http__addr_get(http_addrs *t, const uint8_t a[16], int64_t now)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)addr__hash(t, a) & mask;
    for (;; i = (i + 1) & mask) {
        if (!t->v[i].used)
            break;
        if (memcmp(t->v[i].addr, a, 16) == 0)
            return &t->v[i];
    }
    if (t->n + 1 > t->cap / 2) {
        addr__sweep(t, now, false);
        if (t->n + 1 > t->cap / 2)
            addr__sweep(t, now, true);
        if (t->n + 1 > t->cap / 2)
            return NULL;
        return http__addr_get(t, a, now); /* the probe sequence changed */
    }
    http_addr_slot *s = &t->v[i];
    memset(s, 0, sizeof *s);
    memcpy(s->addr, a, 16);
    s->used = true;
    s->tokens = t->burst;
    s->last_us = now;
    t->n++;
    return s;
}

bool http__addr_take(http_addrs *t, http_addr_slot *s, int64_t now, unsigned *retry_after)
{
    if (t->rate < 0)
        return true;
    addr__refill(t, s, now);
    if (s->tokens >= 1) {
        s->tokens -= 1;
        return true;
    }
    double secs = t->rate > 0 ? (1 - s->tokens) / t->rate : 60;
    *retry_after = (unsigned)ceil(secs < 1 ? 1 : secs);
    return false;
}

void http__addr_release(http_addrs *t, const uint8_t a[16], int64_t now)
{
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)addr__hash(t, a) & mask; t->v[i].used; i = (i + 1) & mask) {
        http_addr_slot *s = &t->v[i];
        if (memcmp(s->addr, a, 16) != 0)
            continue;
        if (s->conns)
            s->conns--;
        if (s->conns == 0) {
            addr__refill(t, s, now);
            if (t->rate < 0 || s->tokens >= t->burst)
                addr__delete(t, i);
        }
        return;
    }
}

/* ---- keys and organisations ---------------------------------------------------------- */

#define QUOTA_BUCKETS 1024

typedef struct quota_entry {
    bool is_org;
    int64_t key_id;
    char org[CX_ORG_MAX + 1];
    unsigned count[2]; /* QUOTA_INFLIGHT, QUOTA_STREAM */
    struct quota_entry *next;
} quota_entry;

struct http_quota {
    pthread_mutex_t mu;
    uint8_t key[crypto_shorthash_KEYBYTES];
    quota_entry *b[QUOTA_BUCKETS];
};

cx_err http__quota_new(http_quota **out)
{
    http_quota *q = calloc(1, sizeof *q);
    if (!q)
        return CX_ENOMEM;
    pthread_mutex_init(&q->mu, NULL);
    crypto_shorthash_keygen(q->key);
    *out = q;
    return CX_OK;
}

void http__quota_free(http_quota *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < QUOTA_BUCKETS; i++)
        while (q->b[i]) {
            quota_entry *e = q->b[i];
            q->b[i] = e->next;
            free(e);
        }
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static quota_entry **quota__slot(http_quota *q, bool is_org, int64_t key_id, const char *org)
{
    uint8_t in[CX_ORG_MAX + 2], h[crypto_shorthash_BYTES];
    size_t n;
    in[0] = is_org;
    if (is_org) {
        n = strlen(org);
        if (n > CX_ORG_MAX)
            n = CX_ORG_MAX;
        memcpy(in + 1, org, n);
    } else {
        n = sizeof key_id;
        memcpy(in + 1, &key_id, n);
    }
    crypto_shorthash(h, in, n + 1, q->key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    quota_entry **pp = &q->b[v % QUOTA_BUCKETS];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->is_org == is_org &&
            (is_org ? strcmp((*pp)->org, org) == 0 : (*pp)->key_id == key_id))
            break;
    return pp;
}

static quota_entry *quota__get(http_quota *q, bool is_org, int64_t key_id, const char *org)
{
    quota_entry **pp = quota__slot(q, is_org, key_id, org);
    if (!*pp) {
        quota_entry *e = calloc(1, sizeof *e);
        if (!e)
            return NULL;
        e->is_org = is_org;
        e->key_id = key_id;
        snprintf(e->org, sizeof e->org, "%s", org);
        *pp = e;
    }
    return *pp;
}

static void quota__put(http_quota *q, bool is_org, int64_t key_id, const char *org, int kind)
{
    quota_entry **pp = quota__slot(q, is_org, key_id, org);
    quota_entry *e = *pp;
    if (!e)
        return;
    if (e->count[kind])
        e->count[kind]--;
    if (!e->count[0] && !e->count[1]) {
        *pp = e->next;
        free(e);
    }
}

bool http__quota_take(http_quota *q, const cx_principal *p, int kind, unsigned key_max,
                      unsigned org_max, const char **which)
{
    bool ok = false;
    pthread_mutex_lock(&q->mu);
    quota_entry *k = quota__get(q, false, p->key_id, "");
    quota_entry *o = org_max ? quota__get(q, true, 0, p->org) : NULL;
    *which = "key";
    if (k && (!org_max || o)) {
        if (key_max && k->count[kind] >= key_max) {
            *which = "key";
        } else if (o && o->count[kind] >= org_max) {
            *which = "organisation";
        } else {
            k->count[kind]++;
            if (o)
                o->count[kind]++;
            ok = true;
        }
    }
    if (!ok) { /* drop entries made just now */
        if (k && !k->count[0] && !k->count[1])
            quota__put(q, false, p->key_id, "", kind);
        if (o && !o->count[0] && !o->count[1])
            quota__put(q, true, 0, p->org, kind);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void http__quota_give(http_quota *q, int64_t key_id, const char *org, int kind)
{
    pthread_mutex_lock(&q->mu);
    quota__put(q, false, key_id, "", kind);
    if (kind == QUOTA_STREAM)
        quota__put(q, true, 0, org, kind);
    pthread_mutex_unlock(&q->mu);
}
