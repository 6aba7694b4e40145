/* Storage of the drones module: its own tables only. A batch of processed
 * observations becomes one writer job (rows in arrival order, the drones it
 * touched upserted once each); a failing job rolls back alone. */
#include "drones_svc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const store_migration migrations[] = {
    {1, "CREATE TABLE drones_drones("
        " idx INTEGER PRIMARY KEY,"
        " uas_id TEXT NOT NULL UNIQUE,"   /* the UAS ID, or mac:<transport>:<MAC> */
        " has_uas INTEGER NOT NULL,"
        " id_type INTEGER, ua_type INTEGER,"
        " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL," /* µs */
        " pos_time INTEGER, lat REAL, lon REAL, alt_geo REAL, height REAL,"
        " speed_h REAL, speed_v REAL, direction REAL,"
        " op_time INTEGER, op_lat REAL, op_lon REAL,"
        " operator_id TEXT, self_id TEXT, registered INTEGER,"
        " auth TEXT,"
        " rules TEXT);"   /* the rules' state, JSON (drones_state.rules) */
        "CREATE INDEX drones_drones_last ON drones_drones(last_seen, idx);"
        "CREATE TABLE drones_macs(transport INTEGER NOT NULL, mac BLOB NOT NULL,"
        " drone INTEGER NOT NULL, PRIMARY KEY(transport, mac)) WITHOUT ROWID;"
        "CREATE INDEX drones_macs_drone ON drones_macs(drone);"
        "CREATE TABLE drones_aliases(uas_id TEXT PRIMARY KEY, drone INTEGER NOT NULL)"
        " WITHOUT ROWID;"
        "CREATE INDEX drones_aliases_drone ON drones_aliases(drone);"
        /* every observation as heard: the payload bytes, for replays and
         * audits; positions and pilot positions decoded beside it */
        "CREATE TABLE drones_observations("
        " seq INTEGER PRIMARY KEY,"
        " time INTEGER NOT NULL, drone INTEGER, receiver TEXT,"
        " transport INTEGER NOT NULL, mac BLOB NOT NULL, rssi INTEGER,"
        " payload BLOB NOT NULL, messages INTEGER NOT NULL);"
        "CREATE INDEX drones_observations_drone ON drones_observations(drone, time);"
        "CREATE TABLE drones_positions(drone INTEGER NOT NULL, time INTEGER NOT NULL,"
        " lat REAL NOT NULL, lon REAL NOT NULL, alt_geo REAL, height REAL,"
        " speed_h REAL, speed_v REAL, direction REAL,"
        " PRIMARY KEY(drone, time)) WITHOUT ROWID;"
        "CREATE TABLE drones_pilots(drone INTEGER NOT NULL, time INTEGER NOT NULL,"
        " lat REAL NOT NULL, lon REAL NOT NULL, PRIMARY KEY(drone, time)) WITHOUT ROWID;"
        "CREATE TABLE drones_heard(drone INTEGER NOT NULL, receiver TEXT NOT NULL,"
        " last_seen INTEGER NOT NULL, PRIMARY KEY(drone, receiver)) WITHOUT ROWID;"
        "CREATE TABLE drones_receivers(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " lat REAL NOT NULL, lon REAL NOT NULL, key_id INTEGER, created_at TEXT NOT NULL);"
        "CREATE UNIQUE INDEX drones_receivers_key ON drones_receivers(key_id)"
        " WHERE key_id IS NOT NULL;"
        "CREATE TABLE drones_registry(line INTEGER PRIMARY KEY, uas_id TEXT,"
        " operator_id TEXT, holder TEXT, valid_until TEXT);"
        "CREATE INDEX drones_registry_uas ON drones_registry(uas_id);"
        "CREATE INDEX drones_registry_op ON drones_registry(operator_id);"},
    /* hot keys (issue 17): a MAC-only drone folded into its UAS ID, whose
     * rows still move (fold.c) */
    {2, "CREATE TABLE drones_folds(from_drone INTEGER PRIMARY KEY, into_drone INTEGER NOT NULL);"
        "CREATE INDEX drones_folds_into ON drones_folds(into_drone, from_drone);"},
    /* hot keys (issue 17): the overview of positions (overview.c), filled
     * for the positions stored so far */
    {3, "CREATE TABLE drones_track_lod(drone INTEGER NOT NULL, level INTEGER NOT NULL,"
        " bucket INTEGER NOT NULL, time INTEGER NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,"
        " height REAL, PRIMARY KEY(drone, level, bucket)) WITHOUT ROWID;"
        "WITH RECURSIVE lv(l) AS (SELECT 1 UNION ALL SELECT l + 1 FROM lv WHERE l < 20)"
        " INSERT OR IGNORE INTO drones_track_lod SELECT p.drone, l, p.time / ((1 << l) * 1000000),"
        " p.time, p.lat, p.lon, p.height FROM lv, drones_positions p ORDER BY p.drone, p.time;"},
};

cx_err drones_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "drones", migrations, sizeof migrations / sizeof migrations[0], err,
                         errlen);
}

/* ---- binding helpers ----------------------------------------------------------------------- */

static void st__real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v) || isinf(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static void st__text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static cx_err st__done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

double drones__col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* ---- the batch job ------------------------------------------------------------------------- */

/* The few rows move now; observations and positions, as many as the drone
 * was heard, move later in bounded jobs (fold.c). A fold still moving into
 * `from` now moves into `into`. */
static cx_err st__merge(store_conn *w, int64_t from, int64_t into)
{
    static const char *const sql[] = {
        "UPDATE drones_folds SET into_drone = ?2 WHERE into_drone = ?1",
        "INSERT OR REPLACE INTO drones_folds(from_drone, into_drone) VALUES(?1, ?2)",
        "UPDATE OR IGNORE drones_heard SET drone = ?2 WHERE drone = ?1",
        "DELETE FROM drones_heard WHERE drone = ?1",
        "UPDATE drones_macs SET drone = ?2 WHERE drone = ?1",
        "UPDATE drones_aliases SET drone = ?2 WHERE drone = ?1",
        "DELETE FROM drones_drones WHERE idx = ?1",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st = store_stmt(w, sql[i]);
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, into);
        if (st__done(st))
            return CX_EDB;
    }
    return CX_OK;
}

static cx_err st__drone(store_conn *w, const drones_state *s)
{
    /* a drone renamed into a name another row still holds (its old mac:…
     * row was folded in this same batch) cannot happen: merges run first */
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO drones_drones(idx, uas_id, has_uas, id_type, ua_type, first_seen,"
           " last_seen, pos_time, lat, lon, alt_geo, height, speed_h, speed_v, direction,"
           " op_time, op_lat, op_lon, operator_id, self_id, registered, auth, rules)"
           " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,"
           "?23)"
           " ON CONFLICT(idx) DO UPDATE SET uas_id=?2, has_uas=?3, id_type=?4, ua_type=?5,"
           " first_seen=min(first_seen, ?6), last_seen=max(last_seen, ?7), pos_time=?8, lat=?9,"
           " lon=?10, alt_geo=?11, height=?12, speed_h=?13, speed_v=?14, direction=?15,"
           " op_time=?16, op_lat=?17, op_lon=?18, operator_id=?19, self_id=?20,"
           " registered=?21, auth=coalesce(?22, auth), rules=coalesce(?23, rules)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, s->key);
    sqlite3_bind_text(st, 2, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, s->has_uas);
    if (s->id_type >= 0)
        sqlite3_bind_int(st, 4, s->id_type);
    if (s->ua_type >= 0)
        sqlite3_bind_int(st, 5, s->ua_type);
    sqlite3_bind_int64(st, 6, s->first_seen_us);
    sqlite3_bind_int64(st, 7, s->last_seen_us);
    if (s->pos_time_us)
        sqlite3_bind_int64(st, 8, s->pos_time_us);
    st__real(st, 9, s->lat);
    st__real(st, 10, s->lon);
    st__real(st, 11, s->alt_geo_m);
    st__real(st, 12, s->height_m);
    st__real(st, 13, s->speed_h_mps);
    st__real(st, 14, s->speed_v_mps);
    st__real(st, 15, s->direction_deg);
    if (s->op_time_us)
        sqlite3_bind_int64(st, 16, s->op_time_us);
    st__real(st, 17, s->op_lat);
    st__real(st, 18, s->op_lon);
    st__text(st, 19, s->operator_id);
    st__text(st, 20, s->self_id);
    if (s->registered >= 0)
        sqlite3_bind_int(st, 21, s->registered);
    char auth[2 * 278 + 128];
    if (s->auth_type >= 0) {
        char hex[2 * 278 + 1];
        cx_hex(s->auth_data, s->auth_len, hex);
        snprintf(auth, sizeof auth, "{\"auth_type\":%d,\"timestamp\":%lld,\"data_hex\":\"%s\"}",
                 s->auth_type, (long long)s->auth_timestamp, hex);
        sqlite3_bind_text(st, 22, auth, -1, SQLITE_STATIC);
    }
    st__text(st, 23, s->rules);
    return st__done(st);
}

cx_err drones__batch_write(store_conn *w, void *arg)
{
    dbatch *b = arg;
    sqlite3_stmt *st;
    for (size_t i = 0; i < b->nmerges; i++)
        if (st__merge(w, b->merges[i].from, b->merges[i].into))
            return CX_EDB;
    for (size_t i = 0; i < b->ndrones; i++)
        if (st__drone(w, &b->drones[i]))
            return CX_EDB;
    if (b->nmacs) {
        st = store_stmt(w, "INSERT OR REPLACE INTO drones_macs(transport, mac, drone)"
                           " VALUES(?1,?2,?3)");
        for (size_t i = 0; st && i < b->nmacs; i++) {
            sqlite3_bind_int(st, 1, b->macs[i].transport);
            sqlite3_bind_blob(st, 2, b->macs[i].mac, 6, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, b->macs[i].drone);
            if (st__done(st))
                return CX_EDB;
        }
    }
    for (size_t i = 0; i < b->naliases; i++) {
        st = store_stmt(w, "INSERT OR REPLACE INTO drones_aliases(uas_id, drone) VALUES(?1,?2)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, b->aliases[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, b->aliases[i].drone);
        if (st__done(st))
            return CX_EDB;
    }
    st = store_stmt(w, "INSERT INTO drones_observations(time, drone, receiver, transport, mac,"
                       " rssi, payload, messages) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
    for (size_t i = 0; st && i < b->nobs; i++) {
        const dobs_row *o = &b->obs[i];
        sqlite3_bind_int64(st, 1, o->time_us);
        if (o->drone)
            sqlite3_bind_int64(st, 2, o->drone);
        else
            sqlite3_bind_null(st, 2);
        st__text(st, 3, b->receiver);
        sqlite3_bind_int(st, 4, o->transport);
        sqlite3_bind_blob(st, 5, o->mac, 6, SQLITE_STATIC);
        if (o->have_rssi)
            sqlite3_bind_int(st, 6, o->rssi);
        else
            sqlite3_bind_null(st, 6);
        sqlite3_bind_blob(st, 7, b->payload + o->payload_off, (int)o->payload_len,
                          SQLITE_STATIC);
        sqlite3_bind_int(st, 8, o->messages);
        if (st__done(st))
            return CX_EDB;
    }
    if (!st)
        return CX_EDB;
    st = store_stmt(w, "INSERT OR IGNORE INTO drones_positions(drone, time, lat, lon, alt_geo,"
                       " height, speed_h, speed_v, direction) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
    for (size_t i = 0; st && i < b->npos; i++) {
        const dpos_row *p = &b->pos[i];
        sqlite3_bind_int64(st, 1, p->drone);
        sqlite3_bind_int64(st, 2, p->f.time_us);
        sqlite3_bind_double(st, 3, p->f.lat);
        sqlite3_bind_double(st, 4, p->f.lon);
        st__real(st, 5, p->f.alt_geo_m);
        st__real(st, 6, p->f.height_m);
        st__real(st, 7, p->f.speed_h_mps);
        st__real(st, 8, p->f.speed_v_mps);
        st__real(st, 9, p->f.direction_deg);
        if (st__done(st))
            return CX_EDB;
        if (sqlite3_changes(store_conn_db(w)) &&
            drones__lod_add(w, p->drone, p->f.time_us, p->f.lat, p->f.lon, p->f.height_m))
            return CX_EDB;
    }
    if (!st)
        return CX_EDB;
    st = store_stmt(w, "INSERT OR IGNORE INTO drones_pilots(drone, time, lat, lon)"
                       " VALUES(?1,?2,?3,?4)");
    for (size_t i = 0; st && i < b->npilots; i++) {
        sqlite3_bind_int64(st, 1, b->pilots[i].drone);
        sqlite3_bind_int64(st, 2, b->pilots[i].f.time_us);
        sqlite3_bind_double(st, 3, b->pilots[i].f.lat);
        sqlite3_bind_double(st, 4, b->pilots[i].f.lon);
        if (st__done(st))
            return CX_EDB;
    }
    if (!st)
        return CX_EDB;
    if (b->receiver && b->nheard) {
        st = store_stmt(w, "INSERT INTO drones_heard(drone, receiver, last_seen)"
                           " VALUES(?1,?2,?3) ON CONFLICT(drone, receiver)"
                           " DO UPDATE SET last_seen = max(last_seen, ?3)");
        for (size_t i = 0; st && i < b->nheard; i++) {
            sqlite3_bind_int64(st, 1, b->heard[i].drone);
            sqlite3_bind_text(st, 2, b->receiver, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, b->heard[i].time_us);
            if (st__done(st))
                return CX_EDB;
        }
        if (!st)
            return CX_EDB;
    }
    return drones__raise_alerts(w, b);
}

/* ---- loading at start --------------------------------------------------------------------- */

cx_err drones__load(store *s, drones_engine *e)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(
        c, "SELECT idx, uas_id, has_uas, id_type, ua_type, first_seen, last_seen, pos_time, lat,"
           " lon, alt_geo, height, speed_h, speed_v, direction, op_time, op_lat, op_lon,"
           " operator_id, self_id, registered, rules FROM drones_drones");
    if (!st)
        return CX_EDB;
    int64_t maxkey = 0;
    cx_err err = CX_OK; /* a drone not read would also lower the next key */
    while (store_next(st, &err)) {
        drones_state d;
        memset(&d, 0, sizeof d);
        d.key = sqlite3_column_int64(st, 0);
        snprintf(d.id, sizeof d.id, "%s", (const char *)sqlite3_column_text(st, 1));
        d.has_uas = sqlite3_column_int(st, 2);
        d.id_type = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 3);
        d.ua_type = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 4);
        d.first_seen_us = sqlite3_column_int64(st, 5);
        d.last_seen_us = sqlite3_column_int64(st, 6);
        d.pos_time_us = sqlite3_column_int64(st, 7);
        d.lat = drones__col_real(st, 8);
        d.lon = drones__col_real(st, 9);
        d.alt_geo_m = drones__col_real(st, 10);
        d.height_m = drones__col_real(st, 11);
        d.speed_h_mps = drones__col_real(st, 12);
        d.speed_v_mps = drones__col_real(st, 13);
        d.direction_deg = drones__col_real(st, 14);
        d.op_time_us = sqlite3_column_int64(st, 15);
        d.op_lat = drones__col_real(st, 16);
        d.op_lon = drones__col_real(st, 17);
        const unsigned char *t = sqlite3_column_text(st, 18);
        snprintf(d.operator_id, sizeof d.operator_id, "%s", t ? (const char *)t : "");
        t = sqlite3_column_text(st, 19);
        snprintf(d.self_id, sizeof d.self_id, "%s", t ? (const char *)t : "");
        d.registered = sqlite3_column_type(st, 20) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 20);
        d.auth_type = -1;
        t = sqlite3_column_text(st, 21);
        snprintf(d.rules, sizeof d.rules, "%s", t ? (const char *)t : "");
        err = drones_engine_restore(e, &d); /* a failure stops store_next */
        if (d.key > maxkey)
            maxkey = d.key;
    }
    sqlite3_reset(st);
    st = store_stmt(c, "SELECT transport, mac, drone FROM drones_macs");
    if (!st && !err)
        err = CX_EDB;
    while (st && store_next(st, &err)) {
        if (sqlite3_column_bytes(st, 1) == 6)
            drones_engine_restore_mac(e, sqlite3_column_int64(st, 2),
                                      (drones_transport)sqlite3_column_int(st, 0),
                                      sqlite3_column_blob(st, 1));
    }
    if (st)
        sqlite3_reset(st);
    st = store_stmt(c, "SELECT uas_id, drone FROM drones_aliases");
    if (!st && !err)
        err = CX_EDB;
    while (st && store_next(st, &err))
        drones_engine_restore_alias(e, sqlite3_column_int64(st, 1),
                                    (const char *)sqlite3_column_text(st, 0));
    if (st)
        sqlite3_reset(st);
    drones_engine_set_next_key(e, maxkey + 1);
    return err;
}

cx_err drones__registry_read(store *s, drones_registry **out)
{
    drones_registry *r = drones_registry_new();
    if (!r)
        return CX_ENOMEM;
    sqlite3_stmt *st = store_stmt(store_reader(s), "SELECT uas_id, operator_id, valid_until"
                                                   " FROM drones_registry");
    if (!st) {
        drones_registry_free(r);
        return CX_EDB;
    }
    cx_err e = CX_OK; /* a registry read in part would call registered drones unregistered */
    while (store_next(st, &e)) {
        const char *until = (const char *)sqlite3_column_text(st, 2);
        int y, m, d;
        int64_t days = INT64_MAX;
        if (until && cx_date_parse(until, &y, &m, &d))
            days = cx_days_from_civil(y, m, d);
        drones_registry_add(r, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1), days);
    }
    sqlite3_reset(st);
    if (e != CX_OK) {
        drones_registry_free(r);
        return e;
    }
    *out = r;
    return CX_OK;
}
