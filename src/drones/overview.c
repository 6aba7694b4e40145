/* The overview of each drone's positions (issue 17: a hot drone's track as
 * cheap as a cold one's). Level L keeps one position per 2^L-second bucket
 * (the first written), L = 1..DRONES_LOD_LEVELS, keyed (drone, level,
 * bucket): a track over a long range reads at most 2 x max_points
 * neighbouring rows of one level instead of max_points seeks spread over
 * the whole flight. A position adds a row to level L only if it opened a
 * new bucket at level L-1, so most positions cost one probe; every row's
 * bucket one level up is then filled (a row there came first or this one
 * went up), so no level has a hole where positions exist. */
#include "drones_svc.h"

#include <math.h>

static int64_t lod__width(int level)
{
    return (INT64_C(1) << level) * 1000000; /* µs */
}

cx_err drones__lod_add(store_conn *w, int64_t drone, int64_t time_us, double lat, double lon,
                       double height)
{
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO drones_track_lod(drone, level,"
                                     " bucket, time, lat, lon, height)"
                                     " VALUES(?1,?2,?3,?4,?5,?6,?7)");
    if (!st)
        return CX_EDB;
    for (int level = 1; level <= DRONES_LOD_LEVELS; level++) {
        sqlite3_bind_int64(st, 1, drone);
        sqlite3_bind_int(st, 2, level);
        sqlite3_bind_int64(st, 3, time_us / lod__width(level));
        sqlite3_bind_int64(st, 4, time_us);
        sqlite3_bind_double(st, 5, lat);
        sqlite3_bind_double(st, 6, lon);
        if (isfinite(height))
            sqlite3_bind_double(st, 7, height);
        else
            sqlite3_bind_null(st, 7);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return CX_EDB;
        if (sqlite3_changes(store_conn_db(w)) == 0)
            break; /* the bucket had a row: those above have theirs */
    }
    return CX_OK;
}

int drones__lod_level(int64_t first, int64_t last, int64_t max)
{
    for (int level = 1; max >= 3 && level <= DRONES_LOD_LEVELS; level++)
        if (drones__lod_buckets(level, first, last) <= 2 * max)
            return level;
    return 0;
}

int64_t drones__lod_buckets(int level, int64_t first, int64_t last)
{
    return last / lod__width(level) - first / lod__width(level) + 1;
}

bool drones__lod_fill(store_conn *c, int64_t drone, int level, int64_t first, int64_t last,
                      drones_pt *slot)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT bucket, time, lat, lon, height FROM drones_track_lod"
                                     " WHERE drone = ?1 AND level = ?2 AND bucket BETWEEN ?3"
                                     " AND ?4");
    if (!st)
        return false;
    int64_t b0 = first / lod__width(level);
    sqlite3_bind_int64(st, 1, drone);
    sqlite3_bind_int(st, 2, level);
    sqlite3_bind_int64(st, 3, b0);
    sqlite3_bind_int64(st, 4, last / lod__width(level));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        drones_pt *p = &slot[sqlite3_column_int64(st, 0) - b0];
        if (p->time == INT64_MIN)
            *p = (drones_pt){sqlite3_column_int64(st, 1), sqlite3_column_double(st, 2),
                             sqlite3_column_double(st, 3), drones__col_real(st, 4)};
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE;
}
