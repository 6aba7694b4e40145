/* Positions are written twice, cheaply both times.
 *
 * A batch appends its reports to track_journal (arrival order, no index):
 * a commit touches a handful of pages however many devices report. Every
 * few seconds the indexer reads the journal, sorts it by device and time and
 * moves it into track_positions (unique on device and time) in short writer
 * jobs, then deletes what it moved. Written per message instead, the
 * device-ordered index dirtied one page per device per commit: at 10,000
 * devices that was 4 KiB of WAL per message and grew with the table. A
 * crash between a move and its delete only moves rows again (INSERT OR
 * IGNORE). Readers see both tables (track_positions_all). */
#include "track_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDX_INTERVAL_US 5000000LL /* move at least this often */
#define IDX_BACKLOG 200000        /* ...or when this many reports wait */
#define IDX_MAX_ROWS 1000000      /* per move */
#define IDX_CHUNK 2000            /* reports per writer job: a few ms */
#define IDX_DELETE 10000          /* journal rows deleted per writer job */

typedef struct {
    int64_t dev, ts;
    double lat, lon, speed, heading, temp, batt;
    int seal, door, src;
    bool has[6]; /* speed, heading, seal, door, temp, battery not NULL */
} idx_row;

typedef struct {
    const idx_row *rows;
    size_t n;
    int64_t delete_from, delete_upto; /* journal rowids to delete, when upto > 0 */
    int64_t moved;
} idx_job;

static int idx__cmp(const void *a, const void *b)
{
    const idx_row *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static void idx__bind_real(sqlite3_stmt *st, int i, bool has, double v)
{
    if (has)
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static cx_err idx__move(store_conn *w, void *arg)
{
    idx_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO track_positions(dev, ts, lat, lon, "
                                     "speed, heading, seal, door, temp, battery, src) "
                                     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
    if (!st)
        return CX_EDB;
    for (size_t i = 0; i < j->n; i++) {
        const idx_row *r = &j->rows[i];
        sqlite3_bind_int64(st, 1, r->dev);
        sqlite3_bind_int64(st, 2, r->ts);
        sqlite3_bind_double(st, 3, r->lat);
        sqlite3_bind_double(st, 4, r->lon);
        idx__bind_real(st, 5, r->has[0], r->speed);
        idx__bind_real(st, 6, r->has[1], r->heading);
        if (r->has[2])
            sqlite3_bind_int(st, 7, r->seal);
        else
            sqlite3_bind_null(st, 7);
        if (r->has[3])
            sqlite3_bind_int(st, 8, r->door);
        else
            sqlite3_bind_null(st, 8);
        idx__bind_real(st, 9, r->has[4], r->temp);
        idx__bind_real(st, 10, r->has[5], r->batt);
        sqlite3_bind_int(st, 11, r->src);
        if (store_done(st) != CX_OK)
            return CX_EDB;
        j->moved += sqlite3_changes(store_conn_db(w));
    }
    if (j->delete_upto) {
        st = store_stmt(w, "DELETE FROM track_journal WHERE rowid >= ?1 AND rowid <= ?2");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, j->delete_from);
        sqlite3_bind_int64(st, 2, j->delete_upto);
        if (store_done(st) != CX_OK)
            return CX_EDB;
    }
    return CX_OK;
}

/* One move of the journal (up to IDX_MAX_ROWS); the number of reports read
 * from it, or -1 on an error. */
int64_t track__index_once(store *s)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT rowid, dev, ts, lat, lon, speed, heading, seal, "
                                         "door, temp, battery, src FROM track_journal "
                                         "ORDER BY rowid LIMIT ?1")
                         : NULL;
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, IDX_MAX_ROWS);
    idx_row *rows = NULL;
    size_t n = 0, cap = 0;
    int64_t first = 0, last = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            idx_row *nr = realloc(rows, nc * sizeof *nr);
            if (!nr) {
                sqlite3_reset(st);
                free(rows);
                return -1;
            }
            rows = nr;
            cap = nc;
        }
        idx_row *r = &rows[n++];
        last = sqlite3_column_int64(st, 0);
        if (n == 1)
            first = last;
        r->dev = sqlite3_column_int64(st, 1);
        r->ts = sqlite3_column_int64(st, 2);
        r->lat = sqlite3_column_double(st, 3);
        r->lon = sqlite3_column_double(st, 4);
        for (int k = 0; k < 6; k++)
            r->has[k] = sqlite3_column_type(st, 5 + k) != SQLITE_NULL;
        r->speed = sqlite3_column_double(st, 5);
        r->heading = sqlite3_column_double(st, 6);
        r->seal = sqlite3_column_int(st, 7);
        r->door = sqlite3_column_int(st, 8);
        r->temp = sqlite3_column_double(st, 9);
        r->batt = sqlite3_column_double(st, 10);
        r->src = sqlite3_column_int(st, 11);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(rows);
        return -1;
    }
    if (!n)
        return 0;
    qsort(rows, n, sizeof *rows, idx__cmp);
    cx_err e = CX_OK;
    for (size_t i = 0; e == CX_OK && i < n; i += IDX_CHUNK) {
        idx_job j = {.rows = rows + i, .n = n - i < IDX_CHUNK ? n - i : IDX_CHUNK};
        e = store_write(s, idx__move, &j);
    }
    free(rows);
    /* short deletes too: one big one stalls the writer for a tenth of a second */
    for (int64_t k = first; e == CX_OK && k <= last; k += IDX_DELETE) {
        idx_job j = {.delete_from = k, .delete_upto = k + IDX_DELETE - 1 < last
                                                          ? k + IDX_DELETE - 1 : last};
        e = store_write(s, idx__move, &j);
    }
    return e == CX_OK ? (int64_t)n : -1;
}

static void *idx__main(void *arg)
{
    track_service *t = arg;
    pthread_mutex_lock(&t->imu);
    for (;;) {
        int64_t until = cx_mono_us() + IDX_INTERVAL_US;
        while (!t->idx_stop && atomic_load(&t->journal_pending) < IDX_BACKLOG &&
               cx_mono_us() < until) {
            struct timespec ts;
            int64_t w = until < cx_mono_us() + 200000 ? until : cx_mono_us() + 200000;
            ts.tv_sec = (time_t)(w / 1000000);
            ts.tv_nsec = (long)(w % 1000000) * 1000;
            pthread_cond_timedwait(&t->icv, &t->imu, &ts);
        }
        bool stop = t->idx_stop;
        pthread_mutex_unlock(&t->imu);
        if (stop)
            break;
        atomic_store(&t->journal_pending, 0);
        int64_t n = track__index_once(t->store);
        if (n < 0)
            cx_log(CX_LOG_WARN, "track: moving reports from the journal failed; retrying");
        pthread_mutex_lock(&t->imu);
    }
    return NULL;
}

cx_err track__indexer_start(track_service *t)
{
    if (pthread_create(&t->idx_thread, NULL, idx__main, t) != 0)
        return CX_EUNAVAIL;
    pthread_setname_np(t->idx_thread, "trk-indexer");
    t->idx_started = true;
    return CX_OK;
}

void track__indexer_stop(track_service *t)
{
    if (!t->idx_started)
        return;
    pthread_mutex_lock(&t->imu);
    t->idx_stop = true;
    pthread_cond_broadcast(&t->icv);
    pthread_mutex_unlock(&t->imu);
    pthread_join(t->idx_thread, NULL);
    t->idx_started = false;
}
