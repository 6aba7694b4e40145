/* Folding a MAC-only drone into its UAS ID, in bounded writer jobs (issue
 * 17). The batch that learns the UAS ID moves the few rows (MACs, aliases,
 * receivers heard) and records the fold in drones_folds; the observations,
 * positions, their overview and pilot positions under the folded key move
 * afterwards, at most DRONES_FOLD_CHUNK rows of each table a job, on a
 * thread of their own (at start too: a restart resumes). Until a fold is done,
 * a track reads the rows still under the folded keys as well (series.c). */
#include "drones_svc.h"

#include <stdint.h>
#include <stdbool.h>

#define DRONES_FOLD_CHUNK 1000

typedef struct {
    bool idle;   /* no fold waits */
    bool rest;   /* this fold has rows left */
    int64_t from, into;
} fold_job;

/* The time of the chunk's last row under `from`, or INT64_MAX (and no rest)
 * when fewer than a chunk are left. */
static cx_err fold__end(store_conn *w, const char *sql, fold_job *j, int64_t *end)
{
    sqlite3_stmt *st = store_stmt(w, sql);
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->from);
    sqlite3_bind_int(st, 2, DRONES_FOLD_CHUNK - 1);
    int rc = sqlite3_step(st);
    *end = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : INT64_MAX;
    j->rest |= rc == SQLITE_ROW;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* Runs sql with ?1 from, ?2 into, ?3 end (and ?4 end2), those it has. */
static cx_err fold__exec2(store_conn *w, const char *sql, const fold_job *j, int64_t end,
                          int64_t end2)
{
    sqlite3_stmt *st = store_stmt(w, sql);
    if (!st)
        return CX_EDB;
    const int64_t v[] = {j->from, j->into, end, end2};
    for (int i = 0; i < sqlite3_bind_parameter_count(st) && i < 4; i++)
        sqlite3_bind_int64(st, i + 1, v[i]);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static cx_err fold__exec(store_conn *w, const char *sql, const fold_job *j, int64_t end)
{
    return fold__exec2(w, sql, j, end, 0);
}

/* The overview's rows (overview.c): by (level, bucket); a bucket the target
 * has keeps the target's row, and every level stays whole once all moved. */
static cx_err fold__overview(store_conn *w, fold_job *j)
{
    sqlite3_stmt *st = store_stmt(w, "SELECT level, bucket FROM drones_track_lod WHERE drone = ?1"
                                     " ORDER BY level, bucket LIMIT 1 OFFSET ?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, j->from);
    sqlite3_bind_int(st, 2, DRONES_FOLD_CHUNK - 1);
    int rc = sqlite3_step(st);
    int64_t level = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : INT64_MAX;
    int64_t bucket = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : INT64_MAX;
    j->rest |= rc == SQLITE_ROW;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return CX_EDB;
    cx_err e = fold__exec2(w, "INSERT OR IGNORE INTO drones_track_lod(drone, level, bucket, time,"
                              " lat, lon, height) SELECT ?2, level, bucket, time, lat, lon,"
                              " height FROM drones_track_lod WHERE drone = ?1"
                              " AND (level, bucket) <= (?3, ?4)", j, level, bucket);
    return e ? e : fold__exec2(w, "DELETE FROM drones_track_lod WHERE drone = ?1"
                                  " AND (level, bucket) <= (?3, ?4)", j, level, bucket);
}

/* One chunk of the first waiting fold. A row the target already has at the
 * same time stays the target's (as when folds moved everything at once). */
static cx_err fold__step(store_conn *w, void *arg)
{
    fold_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT from_drone, into_drone FROM drones_folds "
                                     "WHERE from_drone >= ?1 ORDER BY from_drone LIMIT 1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, INT64_MIN);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        j->from = sqlite3_column_int64(st, 0);
        j->into = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    j->idle = rc == SQLITE_DONE;
    j->rest = false;
    if (rc != SQLITE_ROW)
        return j->idle ? CX_OK : CX_EDB;
    int64_t end;
    cx_err e = fold__end(w, "SELECT time FROM drones_positions WHERE drone = ?1 "
                            "ORDER BY time LIMIT 1 OFFSET ?2", j, &end);
    e = e ? e : fold__exec(w, "INSERT OR IGNORE INTO drones_positions(drone, time, lat, lon,"
                              " alt_geo, height, speed_h, speed_v, direction) SELECT ?2, time,"
                              " lat, lon, alt_geo, height, speed_h, speed_v, direction"
                              " FROM drones_positions WHERE drone = ?1 AND time <= ?3", j, end);
    e = e ? e : fold__exec(w, "DELETE FROM drones_positions WHERE drone = ?1 AND time <= ?3",
                           j, end);
    e = e ? e : fold__overview(w, j);
    e = e ? e : fold__end(w, "SELECT time FROM drones_pilots WHERE drone = ?1 "
                             "ORDER BY time LIMIT 1 OFFSET ?2", j, &end);
    e = e ? e : fold__exec(w, "INSERT OR IGNORE INTO drones_pilots(drone, time, lat, lon)"
                              " SELECT ?2, time, lat, lon FROM drones_pilots"
                              " WHERE drone = ?1 AND time <= ?3", j, end);
    e = e ? e : fold__exec(w, "DELETE FROM drones_pilots WHERE drone = ?1 AND time <= ?3", j,
                           end);
    e = e ? e : fold__exec(w, "UPDATE drones_observations SET drone = ?2 WHERE seq IN"
                              " (SELECT seq FROM drones_observations WHERE drone = ?1"
                              " ORDER BY time LIMIT ?3)", j, DRONES_FOLD_CHUNK);
    if (e)
        return e;
    j->rest |= sqlite3_changes(store_conn_db(w)) == DRONES_FOLD_CHUNK;
    if (!j->rest)
        e = fold__exec(w, "DELETE FROM drones_folds WHERE from_drone = ?1", j, 0);
    return e;
}

static void fold__run(drones_service *d)
{
    fold_job j = {0};
    cx_err e;
    bool stop = false;
    do { /* one short job at a time, so that everyone's writes keep flowing */
        e = store_write(d->store, fold__step, &j);
        if (e == CX_OK && !j.idle)
            atomic_fetch_add(&d->fold_jobs, 1);
        pthread_mutex_lock(&d->fold_mu);
        stop = d->fold_stop; /* the rest waits for the next start */
        pthread_mutex_unlock(&d->fold_mu);
    } while (e == CX_OK && !j.idle && !stop);
    if (e && e != CX_ESHUTDOWN)
        cx_log(CX_LOG_WARN, "drones: moving a folded drone's rows failed: %s", cx_strerror(e));
}

static void *fold__thread(void *arg)
{
    drones_service *d = arg;
    pthread_mutex_lock(&d->fold_mu);
    while (!d->fold_stop) {
        if (!d->fold_kick) {
            pthread_cond_wait(&d->fold_cv, &d->fold_mu);
            continue;
        }
        d->fold_kick = false;
        pthread_mutex_unlock(&d->fold_mu);
        fold__run(d);
        pthread_mutex_lock(&d->fold_mu);
    }
    pthread_mutex_unlock(&d->fold_mu);
    return NULL;
}

void drones__fold_init(drones_service *d)
{
    pthread_mutex_init(&d->fold_mu, NULL);
    pthread_cond_init(&d->fold_cv, NULL);
}

cx_err drones__fold_start(drones_service *d)
{
    d->fold_kick = true; /* what a restart left */
    d->folder_on = pthread_create(&d->folder, NULL, fold__thread, d) == 0;
    return d->folder_on ? CX_OK : CX_ENOMEM;
}

void drones__fold_stop(drones_service *d)
{
    pthread_mutex_lock(&d->fold_mu);
    d->fold_stop = true;
    pthread_cond_broadcast(&d->fold_cv);
    pthread_mutex_unlock(&d->fold_mu);
    if (d->folder_on) {
        pthread_join(d->folder, NULL);
        d->folder_on = false;
    }
}

void drones__fold_destroy(drones_service *d)
{
    pthread_cond_destroy(&d->fold_cv);
    pthread_mutex_destroy(&d->fold_mu);
}

void drones__fold_kick(drones_service *d)
{
    pthread_mutex_lock(&d->fold_mu);
    d->fold_kick = true;
    pthread_cond_broadcast(&d->fold_cv);
    pthread_mutex_unlock(&d->fold_mu);
}
