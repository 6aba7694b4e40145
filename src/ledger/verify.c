/* `customs ledger verify`: trusts nothing that was computed before. Every
 * entry is decoded again, its canonical form, signing hash, leaf hash and
 * signatures recomputed (in parallel), then replayed in order through the
 * same state machine on a scratch database; every tree node and checkpoint
 * is recomputed and compared. The first index where anything differs is
 * named. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define V_BATCH 2048

typedef struct {
    int64_t idx;
    char *text;
    size_t len;
    uint8_t leaf[32], eh[32];
    bool hashes_ok; /* stored blobs had 32 bytes */
    char type[24];
    char org[CX_ORG_MAX + 1];
    lentry *e;
    char err[400];
} vitem;

typedef struct {
    vitem items[V_BATCH];
    size_t n;
    _Atomic size_t next;
    size_t remaining;
} vbatch;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    vbatch *batch;
    uint64_t gen;
    bool stop;
    pthread_t *threads;
    unsigned nthreads;
} vpool;

static void v__check(vitem *it)
{
    json_t *problems = json_array();
    char msg[200];
    cx_err e = ledger__entry_decode(it->text, it->len, &it->e, problems, msg, sizeof msg);
    if (e != CX_OK) {
        const json_t *p0 = json_array_get(problems, 0);
        snprintf(it->err, sizeof it->err, "is not a valid entry: %s%s%s%s%s", msg,
                 p0 ? " (" : "", p0 ? json_string_value(json_object_get(p0, "path")) : "",
                 p0 ? " " : "", p0 ? json_string_value(json_object_get(p0, "message")) : "");
        if (p0)
            strncat(it->err, ")", sizeof it->err - strlen(it->err) - 1);
    } else if (it->e->canon_len != it->len || memcmp(it->e->canon, it->text, it->len) != 0) {
        snprintf(it->err, sizeof it->err, "is not in RFC 8785 canonical form: its bytes were "
                                          "changed");
    } else if (!it->hashes_ok || memcmp(it->e->leaf_hash, it->leaf, 32) != 0) {
        snprintf(it->err, sizeof it->err,
                 "its leaf hash does not match its bytes: the entry or its hash was changed");
    } else if (memcmp(it->e->entry_hash, it->eh, 32) != 0) {
        snprintf(it->err, sizeof it->err, "its stored signing hash does not match its bytes");
    } else if (strcmp(it->type, ledger__type_names[it->e->type]) != 0 ||
               strcmp(it->org, it->e->org) != 0) {
        snprintf(it->err, sizeof it->err, "its type or org column differs from the entry");
    } else if (ledger__entry_check_sigs(it->e, problems) != CX_OK) {
        const json_t *p0 = json_array_get(problems, json_array_size(problems) - 1);
        snprintf(it->err, sizeof it->err, "signature %s does not verify: the entry was changed "
                                          "after signing",
                 json_string_value(json_object_get(p0, "path")));
    }
    json_decref(problems);
}

static void *v__worker(void *arg)
{
    vpool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && (p->gen == seen || !p->batch))
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        vbatch *b = p->batch;
        pthread_mutex_unlock(&p->mu);
        size_t i, did = 0;
        while ((i = atomic_fetch_add(&b->next, 1)) < b->n) {
            v__check(&b->items[i]);
            did++;
        }
        pthread_mutex_lock(&p->mu);
        b->remaining -= did;
        if (b->remaining == 0)
            pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void v__submit(vpool *p, vbatch *b)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&b->next, 0);
    b->remaining = b->n;
    p->batch = b;
    p->gen++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void v__wait(vpool *p, vbatch *b)
{
    pthread_mutex_lock(&p->mu);
    while (b->remaining > 0)
        pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void v__clear(vbatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].text);
        ledger__entry_free(b->items[i].e);
    }
    memset(b->items, 0, sizeof b->items[0] * b->n);
    b->n = 0;
}

/* Reads up to V_BATCH rows of the scan into b; false on a database error. */
static bool v__read(sqlite3_stmt *scan, vbatch *b, bool *end)
{
    b->n = 0;
    while (b->n < V_BATCH) {
        int rc = sqlite3_step(scan);
        if (rc == SQLITE_DONE) {
            *end = true;
            return true;
        }
        if (rc != SQLITE_ROW)
            return false;
        vitem *it = &b->items[b->n++];
        memset(it, 0, sizeof *it);
        it->idx = sqlite3_column_int64(scan, 0);
        it->len = (size_t)sqlite3_column_bytes(scan, 1);
        it->text = malloc(it->len + 1);
        if (!it->text)
            return false;
        memcpy(it->text, sqlite3_column_text(scan, 1), it->len);
        it->text[it->len] = '\0';
        it->hashes_ok = sqlite3_column_bytes(scan, 2) == 32 && sqlite3_column_bytes(scan, 3) == 32;
        if (it->hashes_ok) {
            memcpy(it->leaf, sqlite3_column_blob(scan, 2), 32);
            memcpy(it->eh, sqlite3_column_blob(scan, 3), 32);
        }
        snprintf(it->type, sizeof it->type, "%s", (const char *)sqlite3_column_text(scan, 4));
        snprintf(it->org, sizeof it->org, "%s", (const char *)sqlite3_column_text(scan, 5));
    }
    return true;
}

typedef struct {
    int64_t size;
    uint8_t root[32];
} vcheckpoint;

typedef struct {
    uint8_t (*level[LEDGER_TREE_LEVELS])[32];
    uint64_t n;
} vnodes;

static cx_err v__emit(void *ctx, unsigned level, uint64_t index, const uint8_t h[32])
{
    vnodes *nd = ctx;
    if (level >= LEDGER_TREE_LEVELS || !nd->level[level] || index >= (nd->n >> level))
        return CX_EINVAL;
    memcpy(nd->level[level][index], h, 32);
    return CX_OK;
}

#define VFAIL(i, ...)                                                                          \
    do {                                                                                       \
        rep->bad_index = (i);                                                                  \
        snprintf(rep->why, sizeof rep->why, __VA_ARGS__);                                      \
        goto out;                                                                              \
    } while (0)

/* Checks the cosignatures of checkpoint size against the registry as the
 * replay has it at that size. */
static bool v__cosigs(sqlite3 *db, const lreg *reg, const char *origin, const vcheckpoint *cp,
                      char *why, size_t cap)
{
    char text[LEDGER_ORIGIN_MAX + 128];
    ledger__checkpoint_text(origin, (uint64_t)cp->size, cp->root, text, sizeof text);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT org, key, line FROM ledger_cosignatures WHERE size=?1",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, cap, "cannot read cosignatures: %s", sqlite3_errmsg(db));
        return false;
    }
    sqlite3_bind_int64(st, 1, cp->size);
    bool ok = true;
    int n = 0;
    cx_err e = CX_OK;
    while (ok && store_next(st, &e)) {
        n++;
        const char *org = (const char *)sqlite3_column_text(st, 0);
        const char *line = (const char *)sqlite3_column_text(st, 2);
        char name[CX_ORG_MAX + 1];
        uint8_t blob[68];
        const char *p = line;
        const lreg_key *k = sqlite3_column_bytes(st, 1) == 32
                                ? ledger__reg_key(reg, sqlite3_column_blob(st, 1))
                                : NULL;
        if (!ledger__note_sig_next(&p, name, blob) || strcmp(name, org) != 0) {
            snprintf(why, cap, "checkpoint at size %lld: the cosignature of %s is malformed",
                     (long long)cp->size, org);
            ok = false;
        } else if (!k || strcmp(reg->orgs[k->org].org, org) != 0 ||
                   !ledger__key_valid_at_size(k->added, k->revoked, cp->size)) {
            snprintf(why, cap, "checkpoint at size %lld: %s cosigned with a key that was not "
                               "its valid key at that size",
                     (long long)cp->size, org);
            ok = false;
        } else if (!ledger__note_sig_verify(name, k->pk, blob, text)) {
            snprintf(why, cap, "checkpoint at size %lld: the cosignature of %s does not verify "
                               "over the recomputed tree head",
                     (long long)cp->size, org);
            ok = false;
        }
    }
    if (e != CX_OK) { /* fewer cosignatures checked is not a verdict */
        snprintf(why, cap, "checkpoint at size %lld: cannot read its cosignatures: %s",
                 (long long)cp->size, sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(st);
    if (ok && n == 0) {
        snprintf(why, cap, "checkpoint at size %lld has no cosignature", (long long)cp->size);
        ok = false;
    }
    return ok;
}

static void *v__pool_start(vpool *p, unsigned n)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = calloc(n, sizeof *p->threads);
    if (!p->threads)
        return NULL;
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&p->threads[p->nthreads], NULL, v__worker, p) == 0)
            p->nthreads++;
    return p->nthreads ? p : NULL;
}

static void v__pool_stop(vpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->done_cv);
}

bool ledger_verify_db(const char *path, unsigned threads, bool progress, ledger_verify_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->bad_index = -1;
    bool ok = false;
    sqlite3 *db = NULL;
    sqlite3_stmt *scan = NULL;
    lconn scratch = {0};
    lreg *reg = NULL;
    vpool pool;
    bool pool_up = false;
    vbatch *slots[2] = {calloc(1, sizeof(vbatch)), calloc(1, sizeof(vbatch))};
    vnodes nodes = {0};
    vcheckpoint *cps = NULL;
    size_t ncps = 0, next_cp = 0;
    char origin[LEDGER_ORIGIN_MAX + 1] = "";
    cx_progress *bar = NULL;
    ledger_frontier f = {0};
    if (!slots[0] || !slots[1])
        VFAIL(-1, "out of memory");
    if (access(path, R_OK) != 0)
        VFAIL(-1, "cannot read %s", path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        VFAIL(-1, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 30000);
    /* one read transaction: a consistent snapshot even if a server appends */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        VFAIL(-1, "cannot read %s: %s", path, sqlite3_errmsg(db));
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(idx) + 1, 0), count(*) FROM ledger_entries",
                           -1, &st, NULL) != SQLITE_OK)
        VFAIL(-1, "%s has no ledger (%s)", path, sqlite3_errmsg(db));
    int64_t n = 0, count = 0;
    cx_err rd = CX_OK; /* a read that failed: the verdict is "cannot read", never ok */
    char rd_why[256];
    if (store_next(st, &rd)) {
        n = sqlite3_column_int64(st, 0);
        count = sqlite3_column_int64(st, 1);
    }
    if (rd != CX_OK)
        snprintf(rd_why, sizeof rd_why, "cannot count entries: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rd != CX_OK)
        VFAIL(-1, "%s", rd_why);
    if (n == 0)
        VFAIL(-1, "the ledger is empty");
    nodes.n = (uint64_t)n;
    for (unsigned l = 1; l < LEDGER_TREE_LEVELS && ((uint64_t)n >> l); l++)
        if (!(nodes.level[l] = malloc(((uint64_t)n >> l) * 32)))
            VFAIL(-1, "out of memory for %lld entries", (long long)n);
    /* checkpoints, smallest first */
    if (sqlite3_prepare_v2(db, "SELECT size, root FROM ledger_checkpoints ORDER BY size", -1, &st,
                           NULL) != SQLITE_OK)
        VFAIL(-1, "cannot read checkpoints: %s", sqlite3_errmsg(db));
    while (store_next(st, &rd)) {
        vcheckpoint *g = realloc(cps, (ncps + 1) * sizeof *cps);
        if (!g) {
            sqlite3_finalize(st);
            VFAIL(-1, "out of memory");
        }
        cps = g;
        cps[ncps].size = sqlite3_column_int64(st, 0);
        memset(cps[ncps].root, 0, 32);
        if (sqlite3_column_bytes(st, 1) == 32)
            memcpy(cps[ncps].root, sqlite3_column_blob(st, 1), 32);
        ncps++;
    }
    if (rd != CX_OK) /* fewer checkpoints checked must not end in ok */
        snprintf(rd_why, sizeof rd_why, "cannot read checkpoints: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rd != CX_OK)
        VFAIL(-1, "%s", rd_why);
    if (ncps && cps[ncps - 1].size > n)
        VFAIL(n, "checkpoint at size %lld is beyond the log's %lld entries: entries were removed",
              (long long)cps[ncps - 1].size, (long long)n);
    char err[256];
    if (ledger__conn_open_scratch(&scratch, err, sizeof err) != CX_OK)
        VFAIL(-1, "%s", err);
    sqlite3_exec(scratch.db, "BEGIN", NULL, NULL, NULL);
    reg = ledger__reg_new();
    if (!reg)
        VFAIL(-1, "out of memory");
    if (!threads) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (unsigned)cpus : 2;
    }
    if (!v__pool_start(&pool, threads))
        VFAIL(-1, "cannot start verification threads");
    pool_up = true;
    if (sqlite3_prepare_v2(db, "SELECT idx, entry, leaf_hash, entry_hash, type, org "
                               "FROM ledger_entries ORDER BY idx",
                           -1, &scan, NULL) != SQLITE_OK)
        VFAIL(-1, "cannot read entries: %s", sqlite3_errmsg(db));
    if (progress)
        bar = cx_progress_new("verifying", (uint64_t)n, "entries");
    bool end = false;
    vbatch *cur = slots[0], *nxt = slots[1];
    if (!v__read(scan, cur, &end))
        VFAIL(-1, "cannot read entries: %s", sqlite3_errmsg(db));
    v__submit(&pool, cur);
    int64_t expect = 0;
    while (cur->n) {
        v__wait(&pool, cur);
        if (!end) {
            if (!v__read(scan, nxt, &end))
                VFAIL(expect, "cannot read entries: %s", sqlite3_errmsg(db));
            if (nxt->n)
                v__submit(&pool, nxt);
        }
        for (size_t i = 0; i < cur->n; i++, expect++) {
            vitem *it = &cur->items[i];
            if (it->idx != expect)
                VFAIL(expect, "entry %lld is missing from the log", (long long)expect);
            if (it->err[0])
                VFAIL(it->idx, "entry %lld %s", (long long)it->idx, it->err);
            sqlite3_stmt *seen = ledger__stmt(&scratch, "INSERT INTO ledger_seen(hash) VALUES(?1)");
            if (!seen)
                VFAIL(it->idx, "scratch database error");
            sqlite3_bind_blob(seen, 1, it->e->entry_hash, 32, SQLITE_STATIC);
            int rc = sqlite3_step(seen);
            sqlite3_reset(seen);
            if (rc != SQLITE_DONE)
                VFAIL(it->idx, "entry %lld replays an earlier entry", (long long)it->idx);
            lapply a = {.c = &scratch, .reg = reg, .e = it->e, .idx = it->idx, .serving = false};
            cx_err e = ledger__apply(&a);
            if (e != CX_OK) {
                const json_t *d0 = json_array_get(a.v.details, 0);
                char why[400];
                snprintf(why, sizeof why, "entry %lld (%s) breaks a rule: %s (%s)",
                         (long long)it->idx, ledger__type_names[it->e->type],
                         e == CX_ESTATE ? a.v.message : "database error",
                         d0 ? json_string_value(json_object_get(d0, "path")) : "");
                ledger__verdict_clear(&a.v);
                VFAIL(it->idx, "%s", why);
            }
            if (a.commit)
                a.commit(reg, it->e, it->idx);
            if (it->e->type == LT_INIT)
                snprintf(origin, sizeof origin, "%s", reg->origin);
            if (ledger_frontier_append(&f, it->e->leaf_hash, v__emit, &nodes) != CX_OK)
                VFAIL(it->idx, "entry %lld: tree error", (long long)it->idx);
            while (next_cp < ncps && cps[next_cp].size == (int64_t)f.size) {
                uint8_t root[32];
                ledger_frontier_root(&f, root);
                if (memcmp(root, cps[next_cp].root, 32) != 0)
                    VFAIL(-1, "checkpoint at size %lld does not match the recomputed root: "
                              "entries before it were rewritten",
                          (long long)cps[next_cp].size);
                if (!v__cosigs(db, reg, origin, &cps[next_cp], rep->why, sizeof rep->why))
                    goto out;
                rep->checkpoints++;
                next_cp++;
            }
            while (next_cp < ncps && cps[next_cp].size < (int64_t)f.size) /* size 0 rows */
                VFAIL(-1, "checkpoint at size %lld is not a tree head", (long long)cps[next_cp].size);
        }
        if (bar)
            cx_progress_set(bar, (uint64_t)expect, (uint64_t)expect);
        v__clear(cur);
        vbatch *t = cur;
        cur = nxt;
        nxt = t;
        if (end && !cur->n)
            break;
    }
    if (expect != n || count != n)
        VFAIL(expect, "entry %lld is missing from the log", (long long)expect);
    /* every stored node must be the recomputed one, and none may be missing */
    if (sqlite3_prepare_v2(db, "SELECT id, hash FROM ledger_nodes ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK)
        VFAIL(-1, "cannot read the tree: %s", sqlite3_errmsg(db));
    uint64_t want_nodes = 0, got_nodes = 0;
    for (unsigned l = 1; l < LEDGER_TREE_LEVELS; l++)
        want_nodes += (uint64_t)n >> l;
    int64_t worst = -1;
    char node_why[200] = "";
    while (store_next(st, &rd)) {
        uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
        unsigned level = (unsigned)(id >> 48);
        uint64_t index = id & (((uint64_t)1 << 48) - 1);
        got_nodes++;
        bool bad = level == 0 || level >= LEDGER_TREE_LEVELS || index >= ((uint64_t)n >> level) ||
                   sqlite3_column_bytes(st, 1) != 32 ||
                   memcmp(nodes.level[level][index], sqlite3_column_blob(st, 1), 32) != 0;
        if (bad) {
            int64_t first = level < LEDGER_TREE_LEVELS ? (int64_t)(index << level) : 0;
            if (worst < 0 || first < worst) {
                worst = first;
                snprintf(node_why, sizeof node_why,
                         "the stored tree node over entries %lld..%lld differs from the "
                         "recomputed one",
                         (long long)first, (long long)(first + ((int64_t)1 << level) - 1));
            }
        }
    }
    if (rd != CX_OK) /* not "nodes were removed": they could not be read */
        snprintf(rd_why, sizeof rd_why, "cannot read the tree: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rd != CX_OK)
        VFAIL(-1, "%s", rd_why);
    if (worst >= 0)
        VFAIL(worst, "%s", node_why);
    if (got_nodes != want_nodes)
        VFAIL(-1, "the tree has %llu stored nodes, %llu expected: nodes were removed or added",
              (unsigned long long)got_nodes, (unsigned long long)want_nodes);
    ledger_frontier_root(&f, rep->root);
    rep->entries = n;
    ok = true;
out:
    cx_progress_free(bar);
    if (pool_up) {
        /* let workers finish what they hold before freeing the batches */
        for (int s = 0; s < 2; s++)
            if (slots[s] && slots[s]->n)
                v__wait(&pool, slots[s]);
        v__pool_stop(&pool);
    }
    for (int s = 0; s < 2; s++)
        if (slots[s]) {
            v__clear(slots[s]);
            free(slots[s]);
        }
    for (unsigned l = 0; l < LEDGER_TREE_LEVELS; l++)
        free(nodes.level[l]);
    free(cps);
    ledger__reg_free(reg);
    ledger__conn_close_scratch(&scratch);
    sqlite3_finalize(scan);
    if (db) {
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    return ok;
}
