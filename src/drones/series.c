/* A drone's rows of one (drone, time) table over a time range, as a track
 * reads them (GET /v1/drones/{uas_id}/track): every row up to max, else max
 * of them, the first and last exact. The keys read are the drone and every
 * drone still folding into it (fold.c), however many, a page of keys at a
 * time; the request's read transaction makes them one snapshot, so a fold
 * chunk committing meanwhile neither hides nor doubles a row. A time two
 * keys have is the drone's row, else the lowest folding key's: what the
 * table holds once the folds are done (INSERT OR IGNORE, lowest first).
 *
 * The work is bounded by max, not by the drone's rows: counts stop at
 * 2 x max + 1; a range of more is read from the overview (overview.c), one
 * level's neighbouring rows, when that level has at least max buckets in
 * the range; otherwise (dense positions over a short range, or a table with
 * no overview) max evenly spaced times, each one seek. Each folding key adds
 * its own few statements, and its rows to the same bounds. */
#include "drones_svc.h"

#include <stdlib.h>

#define SERIES_PAGE 64 /* folding keys read at a time */

typedef struct {
    store_conn *c;
    int64_t drone;
    int64_t keys[SERIES_PAGE];
    size_t n, i;
    int pages;   /* read so far; 0: the drone itself comes next */
    bool failed; /* a statement or an allocation failed: the read is not whole */
} series_keys;

static void series__keys_reset(series_keys *k)
{
    k->n = k->i = 0;
    k->pages = 0;
}

/* The next key: the drone, then the drones folding into it by from_drone. */
static bool series__key(series_keys *k, int64_t *key)
{
    if (k->pages == 0) {
        k->pages = 1;
        k->keys[0] = k->drone; /* the page's paging position */
        *key = k->drone;
        return true;
    }
    if (k->i == k->n) {
        if (k->pages > 1 && k->n < SERIES_PAGE)
            return false;
        sqlite3_stmt *st = store_stmt(k->c, "SELECT from_drone FROM drones_folds"
                                            " WHERE into_drone = ?1 AND from_drone > ?2"
                                            " ORDER BY from_drone LIMIT ?3");
        if (!st) {
            k->failed = true;
            return false;
        }
        sqlite3_bind_int64(st, 1, k->drone);
        sqlite3_bind_int64(st, 2, k->pages == 1 ? INT64_MIN : k->keys[k->n - 1]);
        sqlite3_bind_int(st, 3, SERIES_PAGE);
        k->n = k->i = 0;
        int rc = SQLITE_DONE;
        while (k->n < SERIES_PAGE && (rc = sqlite3_step(st)) == SQLITE_ROW)
            k->keys[k->n++] = sqlite3_column_int64(st, 0);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            k->failed = true;
        sqlite3_reset(st);
        k->pages++;
        if (k->n == 0)
            return false;
    }
    *key = k->keys[k->i++];
    return true;
}

/* Binds ?1 key, ?2..?3 the range, ?4 the limit. */
static sqlite3_stmt *series__stmt(store_conn *c, const char *sql, int64_t key, int64_t from,
                                  int64_t to, int64_t limit)
{
    sqlite3_stmt *st = store_stmt(c, sql);
    if (st) {
        sqlite3_bind_int64(st, 1, key);
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, to);
        sqlite3_bind_int64(st, 4, limit);
    }
    return st;
}

static drones_pt series__pt(sqlite3_stmt *st)
{
    return (drones_pt){sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                       sqlite3_column_double(st, 2), drones__col_real(st, 3)};
}

/* The first row of sql (ascending or descending) for key in the range. */
static bool series__one(series_keys *k, const char *sql, int64_t key, int64_t from, int64_t to,
                        drones_pt *out)
{
    sqlite3_stmt *st = series__stmt(k->c, sql, key, from, to, 1);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW)
        *out = series__pt(st);
    else if (rc != SQLITE_DONE)
        k->failed = true;
    if (st)
        sqlite3_reset(st);
    return rc == SQLITE_ROW;
}

typedef struct {
    drones_pt p;
    size_t order; /* the key's: lower wins a tie */
} series_row;

static int series__cmp(const void *a, const void *b)
{
    const series_row *x = a, *y = b;
    if (x->p.time != y->p.time)
        return x->p.time < y->p.time ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Every row of the range (total of them over all keys), in time order. */
static void series__whole(series_keys *k, const drones_series_sql *q, int64_t from, int64_t to,
                          int64_t total, drones_pt_fn fn, void *ctx)
{
    series_row *rows = malloc((size_t)total * sizeof *rows);
    size_t n = 0, order = 0;
    int64_t key;
    k->failed |= !rows;
    series__keys_reset(k);
    while (rows && series__key(k, &key)) {
        sqlite3_stmt *st = series__stmt(k->c, q->sql, key, from, to, total);
        int rc = st ? SQLITE_DONE : SQLITE_ERROR;
        while (st && n < (size_t)total && (rc = sqlite3_step(st)) == SQLITE_ROW)
            rows[n++] = (series_row){series__pt(st), order};
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            k->failed = true;
        if (st)
            sqlite3_reset(st);
        order++;
    }
    if (order > 1)
        qsort(rows, n, sizeof *rows, series__cmp);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || rows[i].p.time != rows[i - 1].p.time)
            fn(ctx, &rows[i].p);
    free(rows);
}

/* max evenly spaced times from first to last, each the first row at or
 * after it over all keys; one that repeats the previous is left out. A key
 * is sought again only once a time passes its current row. */
static void series__sampled(series_keys *k, const drones_series_sql *q, int64_t to,
                            const drones_pt *first, const drones_pt *last, int64_t max,
                            drones_pt_fn fn, void *ctx)
{
    drones_pt *best = malloc((size_t)max * sizeof *best);
    if (!best) {
        k->failed = true;
        return;
    }
    for (int64_t j = 0; j < max; j++)
        best[j].time = INT64_MAX;
    int64_t key;
    series__keys_reset(k);
    while (series__key(k, &key)) {
        drones_pt cur = {INT64_MIN, 0, 0, 0};
        for (int64_t j = 0; j < max; j++) {
            int64_t t = j == max - 1 ? last->time
                                     : first->time + (int64_t)((double)(last->time - first->time) *
                                                               (double)j / (double)(max - 1));
            if (cur.time < t && !series__one(k, q->sql, key, t, to, &cur))
                break; /* none at or after t: none later either */
            if (cur.time < best[j].time)
                best[j] = cur;
        }
    }
    int64_t prev = INT64_MIN;
    for (int64_t j = 0; j < max; j++)
        if (best[j].time != INT64_MAX && best[j].time > prev) {
            prev = best[j].time;
            fn(ctx, &best[j]);
        }
    free(best);
}

/* From the overview: first, up to max - 2 of the level's rows strictly
 * between (each bucket's from the first key that has it), evenly by index,
 * and last. */
static void series__overview(series_keys *k, int level, const drones_pt *first,
                             const drones_pt *last, int64_t max, drones_pt_fn fn, void *ctx)
{
    int64_t nb = drones__lod_buckets(level, first->time, last->time);
    drones_pt *slot = malloc((size_t)nb * sizeof *slot);
    if (!slot) {
        k->failed = true;
        return;
    }
    for (int64_t i = 0; i < nb; i++)
        slot[i].time = INT64_MIN;
    int64_t key;
    series__keys_reset(k);
    while (series__key(k, &key))
        k->failed |= !drones__lod_fill(k->c, key, level, first->time, last->time, slot);
    size_t n = 0;
    for (int64_t i = 0; i < nb; i++)
        if (slot[i].time > first->time && slot[i].time < last->time)
            slot[n++] = slot[i];
    size_t m = (size_t)max - 2 < n ? (size_t)max - 2 : n;
    fn(ctx, first);
    for (size_t i = 0; i < m; i++)
        fn(ctx, &slot[i * n / m]);
    fn(ctx, last);
    free(slot);
}

bool drones__series(store_conn *c, const drones_series_sql *q, int64_t drone, int64_t from,
                    int64_t to, int64_t max, drones_pt_fn fn, void *ctx)
{
    series_keys k = {.c = c, .drone = drone};
    int64_t cap = q->overview ? 2 * max : max, total = 0, key;
    while (total <= cap && series__key(&k, &key)) { /* counts stop past cap */
        sqlite3_stmt *st = series__stmt(c, q->count_sql, key, from, to, cap + 1 - total);
        if (st && sqlite3_step(st) == SQLITE_ROW)
            total += sqlite3_column_int64(st, 0);
        else
            k.failed = true; /* a count always gives its row */
        if (st)
            sqlite3_reset(st);
    }
    if (k.failed)
        return false;
    if (total <= max) {
        if (total)
            series__whole(&k, q, from, to, total, fn, ctx);
        return !k.failed;
    }
    drones_pt first = {INT64_MAX, 0, 0, 0}, last = {INT64_MIN, 0, 0, 0}, p;
    series__keys_reset(&k);
    while (series__key(&k, &key)) { /* ties: the earlier key's row */
        if (series__one(&k, q->sql, key, from, to, &p) && p.time < first.time)
            first = p;
        if (series__one(&k, q->last_sql, key, from, to, &p) && p.time > last.time)
            last = p;
    }
    if (k.failed || first.time > last.time)
        return !k.failed;
    int level = q->overview && total > 2 * max ? drones__lod_level(first.time, last.time, max) : 0;
    if (level && drones__lod_buckets(level, first.time, last.time) >= max)
        series__overview(&k, level, &first, &last, max, fn, ctx);
    else
        series__sampled(&k, q, to, &first, &last, max, fn, ctx);
    return !k.failed;
}
