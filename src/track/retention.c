/* Retention: raw positions are kept retention_days, then thinned to the
 * first report per device per thin_interval_s (reports where an alert fired
 * are kept, so an old alert still sits on its exact point in a replay).
 * Dead letters older than dead_letter_days are deleted. Work is done in
 * short writer jobs of RET_DEVICES devices so that telemetry keeps flowing. */
#include "track_int.h"

#include <stdio.h>
#include <stdlib.h>

#define RET_DEVICES 100
#define RET_DEAD_CHUNK 10000

typedef struct {
    const int64_t *devs;
    size_t n;
    int64_t from, to, interval;
    bool last;
    uint64_t deleted;
} ret_job;

static cx_err ret__thin(store_conn *w, void *arg)
{
    ret_job *j = arg;
    sqlite3_stmt *st = store_stmt(
        w, "DELETE FROM track_positions WHERE dev = ?1 AND ts >= ?2 AND ts < ?3 "
           "AND ts NOT IN (SELECT min(ts) FROM track_positions WHERE dev = ?1 AND ts >= ?2 "
           "AND ts < ?3 GROUP BY ts / ?4) "
           "AND ts NOT IN (SELECT ts FROM track_alert_marks WHERE dev = ?1 AND ts >= ?2 "
           "AND ts < ?3)");
    if (!st)
        return CX_EDB;
    j->deleted = 0;
    for (size_t i = 0; i < j->n; i++) {
        sqlite3_bind_int64(st, 1, j->devs[i]);
        sqlite3_bind_int64(st, 2, j->from);
        sqlite3_bind_int64(st, 3, j->to);
        sqlite3_bind_int64(st, 4, j->interval);
        if (store_done(st) != CX_OK)
            return CX_EDB;
        j->deleted += (uint64_t)sqlite3_changes(store_conn_db(w));
    }
    if (j->last) {
        st = store_stmt(w, "INSERT INTO track_meta(key, value) VALUES('thinned_before', ?1) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, j->to);
        if (store_done(st) != CX_OK)
            return CX_EDB;
    }
    return CX_OK;
}

typedef struct {
    int64_t before;
    uint64_t deleted;
} dead_job;

static cx_err ret__dead(store_conn *w, void *arg)
{
    dead_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "DELETE FROM track_dead_letters WHERE seq IN (SELECT seq "
                                     "FROM track_dead_letters WHERE received_at < ?1 AND "
                                     "coalesce(last_at, received_at) < ?1 ORDER BY seq "
                                     "LIMIT 10000)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->before);
    if (store_done(st) != CX_OK)
        return CX_EDB;
    j->deleted = (uint64_t)sqlite3_changes(store_conn_db(w));
    return CX_OK;
}

cx_err track_retention_run(store *s, const track_config *cfg, int64_t now_us,
                           track_retention_stats *out)
{
    track_retention_stats st = {0};
    store_conn *c = store_reader(s);
    if (!c)
        return CX_EDB;
    int64_t interval = cfg->thin_interval_s * 1000;
    int64_t cutoff = now_us / 1000 - cfg->retention_days * 86400000LL;
    cutoff -= cutoff % interval; /* whole buckets only */
    int64_t from = 0;
    sqlite3_stmt *q = store_stmt(c, "SELECT value FROM track_meta WHERE key = 'thinned_before'");
    if (!q)
        return CX_EDB;
    cx_err e = CX_OK; /* unreadable is not "never thinned": that would walk it all again */
    if (store_next(q, &e))
        from = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (e != CX_OK)
        return e;
    if (cutoff > from) {
        int64_t *devs = NULL;
        size_t n = 0, cap = 0;
        q = store_stmt(c, "SELECT idx FROM track_devices ORDER BY idx");
        if (!q)
            return CX_EDB;
        /* a device left out here would keep its old positions for good:
         * the mark below moves past them */
        while (store_next(q, &e)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                int64_t *nd = realloc(devs, cap * sizeof *nd);
                if (!nd) {
                    sqlite3_reset(q);
                    free(devs);
                    return CX_ENOMEM;
                }
                devs = nd;
            }
            devs[n++] = sqlite3_column_int64(q, 0);
        }
        sqlite3_reset(q);
        if (e != CX_OK) {
            free(devs);
            return e;
        }
        for (size_t i = 0; e == CX_OK && (i < n || (n == 0 && i == 0)); i += RET_DEVICES) {
            ret_job j = {.devs = devs + i, .n = n - i < RET_DEVICES ? n - i : RET_DEVICES,
                         .from = from, .to = cutoff, .interval = interval,
                         .last = i + RET_DEVICES >= n};
            if (n == 0)
                j.n = 0;
            e = store_write(s, ret__thin, &j);
            st.positions_deleted += j.deleted;
            st.devices_thinned += j.n;
            if (n == 0)
                break;
        }
        free(devs);
    }
    int64_t dead_before = now_us - cfg->dead_letter_days * 86400000000LL;
    for (int k = 0; e == CX_OK && k < 1000; k++) {
        dead_job dj = {.before = dead_before};
        e = store_write(s, ret__dead, &dj);
        st.dead_letters_deleted += dj.deleted;
        if (dj.deleted < RET_DEAD_CHUNK)
            break;
    }
    if (out)
        *out = st;
    return e;
}
