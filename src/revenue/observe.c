/* Valuation statistics, fed off the submission path. Each assessment row
 * carries its items' unit values (the obs column: "KEY VALUE" lines); a
 * worker derives the rows (derive.c) and folds those after the `observed`
 * watermark, up to the `derived` cursor, into the per-key histograms in
 * one writer job per batch, so a hot key is read and written
 * once per batch, not once per declaration, and a submission writes no
 * statistics page. The watermark moves in the same job: after kill -9 the
 * next start folds what was left, nothing twice.
 *
 * Items flagged as undervalued are held ("!KEY VALUE") out of the
 * statistics until an officer releases the declaration, so that undervalued
 * declarations cannot drag the distribution they are judged by. */
#include "revenue_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLD_BATCH 2000    /* assessments per writer job */
#define FOLD_EVERY_MS 1000 /* how stale the statistics may be */
#define OBS_MAX 64         /* observations per declaration kept (items × bases × levels) */
/* the worker reads the tariff generation this long after the last read,
 * ahead of the lodgings' REV_GEN_CHECK_MS, while a lodging came within
 * GEN_LODGING_RECENT_MS (an idle service is not woken for it) */
#define GEN_AHEAD_US ((int64_t)REV_GEN_CHECK_MS * 800)
#define GEN_LODGING_RECENT_MS 1000

static bool obs__flagged(const json_t *assessment, size_t i)
{
    char path[64] = "";
    cx_jptr_push(path, sizeof path, "items");
    cx_jptr_index(path, sizeof path, i);
    cx_jptr_push(path, sizeof path, "value");
    size_t k;
    const json_t *f;
    json_array_foreach(json_object_get(assessment, "findings"), k, f)
    {
        const char *rule = json_string_value(json_object_get(f, "rule"));
        const char *p = json_string_value(json_object_get(f, "path"));
        if (rule && p && strcmp(rule, "undervaluation") == 0 && strcmp(p, path) == 0)
            return true;
    }
    return false;
}

cx_err rev__obs_text(const json_t *doc, const json_t *assessment, cx_buf *out)
{
    const json_t *assessed = json_object_get(assessment, "items");
    size_t n = json_array_size(json_object_get(doc, "items"));
    double *cv = n ? calloc(n, sizeof *cv) : NULL;
    bool *held = n ? calloc(n, sizeof *held) : NULL;
    cx_err e = n && (!cv || !held) ? CX_ENOMEM : CX_OK;
    for (size_t i = 0; e == CX_OK && i < n; i++) {
        const json_t *v = json_object_get(json_array_get(assessed, i), "customs_value");
        cv[i] = json_is_number(v) ? json_number_value(v) : NAN;
        held[i] = obs__flagged(assessment, i);
    }
    e = e ? e : rev__obs_write(doc, cv, held, n, 4, out);
    free(cv);
    free(held);
    return e;
}

size_t rev_uv_text(char *out, double uv)
{
    /* "%.9g" by hand where its rounding is certain (printf of a double was
     * most of the obs' time on a submission): from 1e-4 to below 1e9 it is
     * the value to 9 significant digits in fixed notation, trailing zeros
     * dropped. uv × 10^(8 - E) (an exact power, one rounding: off by at
     * most 2^-24 below 2^30) is rounded to the 9 digits unless it is within
     * 1e-6 of a tie or of the decade's ends, where printf decides. */
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
                                 1e7, 1e8, 1e9, 1e10, 1e11, 1e12};
    static const double dec[] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2,
                                 1e3,  1e4,  1e5,  1e6,  1e7, 1e8};
    if (uv >= 1e-4 && uv < 1e9) {
        int e = 8;
        while (e > -4 && uv < dec[e + 4])
            e--;
        double scaled = uv * p10[8 - e], whole = floor(scaled), frac = scaled - whole;
        if (scaled >= 1e8 + 1e-6 && scaled < 999999999.5 - 1e-6 && fabs(frac - 0.5) > 1e-6) {
            uint64_t d = (uint64_t)whole + (frac > 0.5);
            char dg[9];
            for (int i = 8; i >= 0; i--, d /= 10)
                dg[i] = (char)('0' + d % 10);
            size_t k = 0;
            if (e >= 0) {
                memcpy(out, dg, (size_t)e + 1);
                k = (size_t)e + 1;
                out[k++] = '.';
                memcpy(out + k, dg + e + 1, (size_t)(8 - e));
                k += (size_t)(8 - e);
            } else {
                out[k++] = '0';
                out[k++] = '.';
                for (int z = -1; z > e; z--)
                    out[k++] = '0';
                memcpy(out + k, dg, 9);
                k += 9;
            }
            while (out[k - 1] == '0')
                k--;
            if (out[k - 1] == '.')
                k--;
            out[k] = '\0';
            return k;
        }
    }
    int n = snprintf(out, REV_UV_TEXT_MAX, "%.9g", uv);
    return n < 0 ? 0 : (size_t)n;
}

cx_err rev__obs_write(const json_t *doc, const double *cvs, const bool *flagged, size_t ncv,
                      int lowest, cx_buf *out)
{
    size_t i, n = 0;
    const json_t *item;
    json_array_foreach(json_object_get(doc, "items"), i, item)
    {
        const char *hs = json_string_value(json_object_get(item, "hs_code"));
        const char *origin = json_string_value(json_object_get(item, "country_of_origin"));
        const char *unit = json_string_value(json_object_get(item, "unit"));
        double cv = i < ncv ? cvs[i] : NAN;
        /* a transmission's value is a design licence's, not a price of the goods */
        if (!hs || !origin || !(cv > 0) || json_is_true(json_object_get(item, "transmission")))
            continue;
        bool held = flagged[i];
        struct {
            const char *basis, *member;
        } m[2] = {{"KGM", "net_mass_kg"}, {unit, "quantity"}};
        for (int b = 0; b < 2; b++) {
            const json_t *amount = json_object_get(item, m[b].member);
            if (!m[b].basis || (b == 1 && strcmp(m[b].basis, "KGM") == 0) ||
                !json_is_number(amount) || !(json_number_value(amount) > 0))
                continue;
            /* one spelling of the value for both levels (printf of a
             * double is most of this function's time on the submission) */
            char uv[REV_UV_TEXT_MAX];
            size_t uvn = rev_uv_text(uv, cv / json_number_value(amount));
            /* n counts both levels' lines whichever are written, so that a
             * record's level-6 lines are those of the row's obs */
            for (int level = 6; level >= 4 && n < OBS_MAX; level -= 2, n++) {
                if (level < lowest)
                    continue;
                char line[1 + REV_UV_KEY_MAX + REV_UV_TEXT_MAX + 2];
                size_t k = 0;
                if (held)
                    line[k++] = '!';
                rev_uv_key(line + k, level, hs, origin, m[b].basis);
                k += strlen(line + k);
                line[k++] = ' ';
                memcpy(line + k, uv, uvn);
                k += uvn;
                line[k++] = '\n';
                cx_err e = cx_buf_append(out, line, k);
                if (e != CX_OK)
                    return e;
            }
        }
    }
    return CX_OK;
}

/* ---- folding ---------------------------------------------------------------------------- */
typedef struct {
    char key[REV_UV_KEY_MAX];
    double uv;
} obs;

typedef struct {
    obs *v;
    size_t n, cap;
} obs_list;

/* Parses obs text; held lines are taken only when want_held. */
static cx_err obs__parse(const char *text, bool want_held, obs_list *l)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        bool held = *p == '!';
        const char *sp = memchr(p, ' ', len);
        if (sp && held == want_held) {
            const char *k = p + held;
            size_t klen = (size_t)(sp - k);
            if (l->n == l->cap) {
                size_t nc = l->cap ? l->cap * 2 : 256;
                obs *v = realloc(l->v, nc * sizeof *v);
                if (!v)
                    return CX_ENOMEM;
                l->v = v;
                l->cap = nc;
            }
            if (klen < REV_UV_KEY_MAX) {
                memcpy(l->v[l->n].key, k, klen);
                l->v[l->n].key[klen] = '\0';
                l->v[l->n].uv = strtod(sp + 1, NULL);
                if (l->v[l->n].uv > 0 && isfinite(l->v[l->n].uv))
                    l->n++;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    return CX_OK;
}

static int obs__cmp(const void *a, const void *b)
{
    return strcmp(((const obs *)a)->key, ((const obs *)b)->key);
}

/* Adds every observation of the list, one read and one write per key;
 * the keys' new statistics go to fresh. */
static cx_err obs__apply(store_conn *w, obs_list *l, rev_uv_freshlist *fresh)
{
    if (!l->n)
        return CX_OK;
    qsort(l->v, l->n, sizeof *l->v, obs__cmp);
    cx_err e = CX_OK;
    rev_hist *h = rev_hist_new();
    if (!h)
        return CX_ENOMEM;
    for (size_t i = 0; e == CX_OK && i < l->n;) {
        size_t j = i;
        while (j < l->n && strcmp(l->v[j].key, l->v[i].key) == 0)
            j++;
        sqlite3_stmt *st = store_stmt(w, "SELECT hist FROM revenue_uv WHERE key=?1");
        if (!st) {
            e = CX_EDB;
            break;
        }
        sqlite3_bind_text(st, 1, l->v[i].key, -1, SQLITE_STATIC);
        bool ok = true;
        if (store_next(st, &e))
            ok = rev_hist_decode(h, sqlite3_column_blob(st, 0),
                                 (size_t)sqlite3_column_bytes(st, 0));
        else
            rev_hist_decode(h, NULL, 0);
        sqlite3_reset(st);
        if (e != CX_OK)
            break; /* not "no statistics yet": they would be written over */
        if (!ok) {
            cx_log(CX_LOG_WARN, "revenue: statistics of %s were unreadable: restarted",
                   l->v[i].key);
            rev_hist_decode(h, NULL, 0);
        }
        for (size_t k = i; k < j; k++)
            rev_hist_add(h, l->v[k].uv, 1);
        size_t n = rev_hist_encoded_size(h);
        unsigned char *blob = malloc(n ? n : 1);
        st = blob ? store_stmt(w, "INSERT OR REPLACE INTO revenue_uv(key, n, hist) "
                                  "VALUES(?1, ?2, ?3)")
                  : NULL;
        if (!st) {
            free(blob);
            e = blob ? CX_EDB : CX_ENOMEM;
            break;
        }
        rev_hist_encode(h, blob, n);
        sqlite3_bind_text(st, 1, l->v[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rev_hist_n(h));
        sqlite3_bind_blob(st, 3, blob, (int)n, SQLITE_STATIC);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
        free(blob);
        rev_uv_stats now;
        rev__uv_stats_of(h, &now);
        if (e == CX_OK)
            e = rev__uv_fresh_add(fresh, l->v[i].key, &now);
        i = j;
    }
    rev_hist_free(h);
    return e;
}

typedef struct {
    size_t folded; /* assessments folded by the job */
    rev_uv_freshlist fresh; /* the keys it changed */
    rev_uvcache *cache; /* refreshed with them; may be NULL */
} fold_job;

static cx_err obs__fold(store_conn *w, void *arg)
{
    fold_job *j = arg;
    j->folded = 0;
    j->fresh.n = 0;
    char mark[32];
    int64_t from = 0;
    sqlite3_stmt *st = store_stmt(w, "SELECT value FROM revenue_meta WHERE key='observed'");
    if (!st)
        return CX_EDB;
    cx_err e = CX_OK; /* an unread mark is not 0: all would be counted twice */
    if (store_next(st, &e)) {
        snprintf(mark, sizeof mark, "%s", (const char *)sqlite3_column_text(st, 0));
        cx_parse_i64(mark, &from);
    }
    sqlite3_reset(st);
    if (e != CX_OK)
        return e;
    /* rows made ahead of the cursor (a payment's) wait for it: the
     * watermark never passes a seq whose row is still to be derived */
    st = store_stmt(w, "SELECT seq, obs FROM revenue_assessments WHERE seq > ?1 AND seq <= "
                       "(SELECT CAST(value AS INTEGER) FROM revenue_meta WHERE key='derived') "
                       "ORDER BY seq LIMIT ?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int(st, 2, FOLD_BATCH);
    obs_list l = {0};
    int64_t last = from;
    while (store_next(st, &e)) {
        last = sqlite3_column_int64(st, 0);
        e = obs__parse((const char *)sqlite3_column_text(st, 1), false, &l);
        j->folded++;
    }
    sqlite3_reset(st);
    if (e == CX_OK && j->folded)
        e = obs__apply(w, &l, &j->fresh);
    if (e == CX_OK && j->cache)
        rev__uvcache_refresh(j->cache, j->fresh.v, j->fresh.n);
    free(l.v);
    if (e != CX_OK || !j->folded)
        return e;
    st = store_stmt(w, "UPDATE revenue_meta SET value=?1 WHERE key='observed'");
    if (!st)
        return CX_EDB;
    snprintf(mark, sizeof mark, "%lld", (long long)last);
    sqlite3_bind_text(st, 1, mark, -1, SQLITE_TRANSIENT);
    e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
    sqlite3_reset(st);
    return e;
}

typedef struct {
    rev_uvcache *cache;
    rev_uv_freshlist fresh;
} release_fresh;

static void obs__release_committed(void *arg, cx_err result)
{
    release_fresh *f = arg;
    if (result == CX_OK)
        rev__uvcache_refresh(f->cache, f->fresh.v, f->fresh.n);
    else
        rev__uvcache_clear(f->cache);
    free(f->fresh.v);
    free(f);
}

cx_err rev__release_flagged(store_conn *w, int64_t seq, rev_uvcache *cache)
{
    sqlite3_stmt *st = store_stmt(w, "SELECT obs FROM revenue_assessments WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    obs_list l = {0};
    cx_buf keep;
    cx_buf_init(&keep, (size_t)1 << 20);
    cx_err e = CX_OK; /* a read that failed is not "nothing held": the release fails */
    if (store_next(st, &e)) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        e = obs__parse(text, true, &l);
        /* what stays for the worker: the lines that were not held */
        for (const char *p = text; e == CX_OK && p && *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
            if (*p != '!')
                e = cx_buf_append(&keep, p, len);
            p = nl ? nl + 1 : NULL;
        }
    }
    sqlite3_reset(st);
    release_fresh *f = l.n ? calloc(1, sizeof *f) : NULL;
    if (e == CX_OK && l.n && !f)
        e = CX_ENOMEM;
    if (e == CX_OK && l.n) {
        f->cache = cache;
        e = obs__apply(w, &l, &f->fresh);
        if (e == CX_OK && cache) {
            rev__uvcache_refresh(cache, f->fresh.v, f->fresh.n);
            e = store_after_commit(w, obs__release_committed, f);
            if (e == CX_OK)
                f = NULL; /* the callback's now */
        }
        st = e == CX_OK ? store_stmt(w, "UPDATE revenue_assessments SET obs=?2 WHERE seq=?1")
                        : NULL;
        if (e == CX_OK && !st)
            e = CX_EDB;
        if (e == CX_OK) {
            sqlite3_bind_int64(st, 1, seq);
            sqlite3_bind_text(st, 2, keep.data ? keep.data : "", -1, SQLITE_STATIC);
            e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
            sqlite3_reset(st);
        }
    }
    free(l.v);
    cx_buf_free(&keep);
    if (f)
        free(f->fresh.v);
    free(f);
    return e;
}

cx_err rev__observe_now(store *s, rev_uvcache *cache, size_t *folded)
{
    size_t total = 0;
    fold_job j = {.cache = cache};
    cx_err e;
    do {
        e = store_write(s, obs__fold, &j);
        if (e == CX_OK && cache) /* committed: what readers read before is replaced */
            rev__uvcache_refresh(cache, j.fresh.v, j.fresh.n);
        else if (cache && j.fresh.n)
            rev__uvcache_clear(cache); /* rolled back after the job's refresh */
        total += j.folded;
    } while (e == CX_OK && j.folded == FOLD_BATCH);
    free(j.fresh.v);
    if (folded)
        *folded = total;
    return e;
}

/* ---- the worker ------------------------------------------------------------------------------- */
static void *obs__worker(void *arg)
{
    rev_service *r = arg;
    pthread_mutex_lock(&r->mu);
    int64_t next_fold = 0, gen_tried = 0;
    while (!r->stop) {
        int64_t now = cx_mono_us();
        bool fold = now >= next_fold;
        /* while submissions come, the tariff generation is read here before
         * a lodging would have to (REV_GEN_CHECK_MS): that read, a fresh
         * snapshot after the writer's commits, cost a submitting thread
         * ~100-250 us every 100 ms; a new book loads here too. A read that
         * failed is tried again no sooner either. */
        int64_t gen_at = (r->gen_checked_us > gen_tried ? r->gen_checked_us : gen_tried) +
                         GEN_AHEAD_US;
        bool gen = now - r->last_lodging_us < GEN_LODGING_RECENT_MS * 1000 && now >= gen_at;
        pthread_mutex_unlock(&r->mu);
        if (gen) {
            gen_tried = now;
            rev__book_put(r, rev__book_get(r));
        }
        bool more = false;
        if (fold) {
            size_t n = 0;
            cx_err e = rev__derive_now(r->s, &more);
            if (e == CX_OK)
                e = rev__observe_now(r->s, &r->uv, &n);
            if (e != CX_OK && e != CX_ESHUTDOWN)
                cx_log(CX_LOG_WARN, "revenue: assessment rows or valuation statistics not "
                                    "updated: %s",
                       cx_strerror(e));
        }
        pthread_mutex_lock(&r->mu);
        if (r->stop)
            break;
        if (more)
            continue; /* far behind: the next batches now */
        now = cx_mono_us();
        if (fold)
            next_fold = now + (int64_t)FOLD_EVERY_MS * 1000;
        int64_t until = next_fold;
        gen_at = (r->gen_checked_us > gen_tried ? r->gen_checked_us : gen_tried) + GEN_AHEAD_US;
        if (now - r->last_lodging_us < GEN_LODGING_RECENT_MS * 1000 && gen_at < until)
            until = gen_at;
        int64_t wait_us = until > now ? until - now : 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
        ts.tv_sec += (time_t)(wait_us / 1000000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (wait_us > 0)
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void rev__observer_start(rev_service *r)
{
    if (pthread_create(&r->worker, NULL, obs__worker, r) == 0)
        r->worker_started = true;
    else
        cx_log(CX_LOG_WARN, "revenue: no statistics worker: valuation control stays blind");
}

void rev_service_stop(rev_service *r)
{
    if (!r || !r->worker_started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->worker, NULL);
    r->worker_started = false;
}

cx_err rev_service_catch_up(rev_service *r)
{
    if (!rev_service_active(r))
        return CX_OK;
    bool more = true;
    cx_err e = CX_OK;
    for (int k = 0; e == CX_OK && more && k < 16; k++)
        e = rev__derive_now(r->s, &more);
    return e == CX_OK ? rev__observe_now(r->s, &r->uv, NULL) : e;
}
