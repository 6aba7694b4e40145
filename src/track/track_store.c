/* Storage of the track module: schema, loading at start, the batch job. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const store_migration track_migrations[] = {
    {1, "CREATE TABLE track_devices("
        " idx INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " org TEXT NOT NULL,"
        " kind TEXT NOT NULL,"
        " container TEXT,"
        " doc TEXT NOT NULL,"
        " created_at TEXT NOT NULL);"
        "CREATE INDEX track_devices_org ON track_devices(org, idx);"
        "CREATE INDEX track_devices_container ON track_devices(container);"
        "CREATE TABLE track_zones("
        " idx INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " kind TEXT NOT NULL,"
        " doc TEXT NOT NULL,"
        " created_at TEXT NOT NULL);"
        /* corridors are big (a densified polygon) and shared by every
         * consignment on the same route and width: stored once */
        "CREATE TABLE track_corridors("
        " key TEXT PRIMARY KEY,"
        " geojson TEXT NOT NULL);"
        "CREATE TABLE track_consignments("
        " idx INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " org TEXT NOT NULL,"
        " doc TEXT NOT NULL,"
        " corridor_key TEXT REFERENCES track_corridors(key),"
        " created_at TEXT NOT NULL,"
        " arrived_ms INTEGER,"
        " overdue INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE track_consignment_containers("
        " container TEXT NOT NULL,"
        " cons INTEGER NOT NULL REFERENCES track_consignments(idx),"
        " PRIMARY KEY(container, cons)) WITHOUT ROWID;"
        /* Rows in arrival order (appends touch few pages per commit) and
         * one row per device and event time through the unique index: a
         * redelivered message is the same row (INSERT OR IGNORE), and a
         * replay reads one key range of the index. */
        "CREATE TABLE track_positions("
        " dev INTEGER NOT NULL,"
        " ts INTEGER NOT NULL,"
        " lat REAL NOT NULL,"
        " lon REAL NOT NULL,"
        " speed REAL, heading REAL, seal INTEGER, door INTEGER, temp REAL, battery REAL,"
        " src INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX track_positions_dev_ts ON track_positions(dev, ts);"
        /* reports land here first, in arrival order (positions.c) */
        "CREATE TABLE track_journal("
        " dev INTEGER NOT NULL,"
        " ts INTEGER NOT NULL,"
        " lat REAL NOT NULL,"
        " lon REAL NOT NULL,"
        " speed REAL, heading REAL, seal INTEGER, door INTEGER, temp REAL, battery REAL,"
        " src INTEGER NOT NULL);"
        "CREATE VIEW track_positions_all AS"
        " SELECT dev, ts, lat, lon, speed, heading, seal, door, temp, battery, src"
        " FROM track_positions UNION"
        " SELECT dev, ts, lat, lon, speed, heading, seal, door, temp, battery, src"
        " FROM track_journal;"
        "CREATE TABLE track_device_state("
        " dev INTEGER PRIMARY KEY,"
        " ts INTEGER NOT NULL,"
        " lat REAL, lon REAL, speed REAL, heading REAL, seal INTEGER, door INTEGER,"
        " temp REAL, battery REAL,"
        " recv INTEGER NOT NULL,"
        " state BLOB);"
        "CREATE TABLE track_alerts("
        " seq INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " type TEXT NOT NULL,"
        " severity TEXT NOT NULL,"
        " time INTEGER NOT NULL,"
        " dev INTEGER,"
        " org TEXT,"
        " consignment TEXT,"
        " doc TEXT NOT NULL,"
        " created INTEGER NOT NULL,"
        " acked_at TEXT, acked_by TEXT, ack_note TEXT,"
        " escalated INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX track_alerts_time ON track_alerts(time);"
        "CREATE INDEX track_alerts_cons ON track_alerts(consignment, time)"
        " WHERE consignment IS NOT NULL;"
        "CREATE INDEX track_alerts_dev ON track_alerts(dev, time);"
        "CREATE INDEX track_alerts_unescalated ON track_alerts(seq)"
        " WHERE escalated = 0 AND severity = 'critical';"
        "CREATE TABLE track_dead_letters("
        " seq INTEGER PRIMARY KEY,"
        " received_at INTEGER NOT NULL,"
        " source TEXT NOT NULL,"
        " reason TEXT NOT NULL,"
        " message TEXT NOT NULL,"
        " device TEXT,"
        " payload TEXT);"
        "CREATE INDEX track_dead_letters_time ON track_dead_letters(received_at);"
        "CREATE TABLE track_meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"},
    /* a device's /osmand secret: 16 bytes of salt and BLAKE2b-256 keyed with
     * them (docs/track.md); NULL for devices without one */
    {2, "ALTER TABLE track_devices ADD COLUMN osmand_key BLOB"},
    /* Alerts belong to the alert module now (alert.h): the rows move to its
     * table (track_migrate runs alert's migrations first). Track keeps its
     * own two records: the reports where an alert fired (retention keeps
     * them) and the critical alerts whose declarations are still to be
     * raised. */
    {3, "CREATE TABLE track_alert_marks("
        " dev INTEGER NOT NULL,"
        " ts INTEGER NOT NULL,"
        " PRIMARY KEY(dev, ts)) WITHOUT ROWID;"
        "CREATE TABLE track_escalations("
        " alert TEXT PRIMARY KEY,"
        " type TEXT NOT NULL,"
        " consignment TEXT NOT NULL,"
        " time INTEGER NOT NULL,"
        " declarations TEXT NOT NULL);"
        "INSERT INTO alerts(seq, id, kind, subject, type, severity, time, device, consignment,"
        " drone, doc, created, acked_at, acked_by, ack_note)"
        " SELECT seq, id,"
        "  CASE WHEN json_extract(doc, '$.device') IS NOT NULL THEN 'device'"
        "   ELSE 'consignment' END,"
        "  coalesce(json_extract(doc, '$.device'), consignment, id),"
        "  type, severity, time, json_extract(doc, '$.device'), consignment, NULL,"
        "  json_set(doc, '$.subject', json_object("
        "   'kind', CASE WHEN json_extract(doc, '$.device') IS NOT NULL THEN 'device'"
        "    ELSE 'consignment' END,"
        "   'id', coalesce(json_extract(doc, '$.device'), consignment, id)),"
        "   '$.drone', json('null')),"
        "  created, acked_at, acked_by, ack_note FROM track_alerts ORDER BY seq;"
        "INSERT INTO alert_orgs(org, seq) SELECT org, seq FROM track_alerts WHERE org IS NOT NULL;"
        "INSERT OR IGNORE INTO track_alert_marks(dev, ts)"
        " SELECT dev, time FROM track_alerts WHERE dev IS NOT NULL;"
        "INSERT INTO track_escalations(alert, type, consignment, time, declarations)"
        " SELECT id, type, consignment, time, json_extract(doc, '$.declarations')"
        " FROM track_alerts WHERE escalated = 0 AND severity = 'critical'"
        " AND consignment IS NOT NULL"
        " AND json_array_length(doc, '$.declarations') > 0;"
        "DROP TABLE track_alerts;"},
    /* Unauthenticated reports (/osmand) that are refused are one row per
     * (reason, device) with a count and the last time seen, and at most
     * TRACK_DEAD_AGG_MAX such rows (issue 17: 10,000 reports for made-up ids
     * wrote 10,003 rows): agg is "reason\ndevice" for them, NULL for the
     * dead letters of authenticated callers, which stay one row each. */
    {4, "ALTER TABLE track_dead_letters ADD COLUMN agg TEXT;"
        "ALTER TABLE track_dead_letters ADD COLUMN count INTEGER NOT NULL DEFAULT 1;"
        "ALTER TABLE track_dead_letters ADD COLUMN last_at INTEGER;"
        "CREATE UNIQUE INDEX track_dead_letters_agg ON track_dead_letters(agg);"},
};
const size_t track_nmigrations = sizeof track_migrations / sizeof track_migrations[0];

/* ---- the batch job (writer thread) ---------------------------------------------------- */

static void st__real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static void st__small(sqlite3_stmt *st, int i, uint8_t v)
{
    if (v)
        sqlite3_bind_int(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static cx_err st__step(sqlite3_stmt *st)
{
    return store_done(st) == CX_OK ? CX_OK : CX_EDB;
}

/* One dead letter of the batch. An authenticated caller's is a row of its
 * own; an unauthenticated report's (/osmand: anyone can send them, as many
 * as they like) adds to the row of its reason and device, and once there
 * are TRACK_DEAD_AGG_MAX such rows, to the one of its reason for any other
 * device. */
static cx_err st__dead(store_conn *w, const track_dead_row *d)
{
    bool agg = d->src == TRACK_SRC_OSMAND;
    char key[sizeof d->d.code + sizeof d->d.device + 8];
    bool overflow = false;
    snprintf(key, sizeof key, "%s\n%s%s", d->d.code, d->d.device[0] ? "d:" : "none",
             d->d.device);
    sqlite3_stmt *st;
    if (agg) {
        st = store_stmt(w, "UPDATE track_dead_letters SET count = count + 1, last_at = ?2, "
                           "message = ?3, payload = ?4 WHERE agg = ?1");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, d->recv_us);
        sqlite3_bind_text(st, 3, d->d.message, -1, SQLITE_STATIC);
        if (d->d.payload)
            sqlite3_bind_text(st, 4, d->d.payload, -1, SQLITE_STATIC);
        if (st__step(st) != CX_OK)
            return CX_EDB;
        if (sqlite3_changes(store_conn_db(w)) > 0)
            return CX_OK;
        /* a new (reason, device): counted through the index, at most the cap */
        st = store_stmt(w, "SELECT count(*) FROM (SELECT 1 FROM track_dead_letters "
                           "WHERE agg IS NOT NULL LIMIT ?1)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int(st, 1, TRACK_DEAD_AGG_MAX);
        int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_reset(st);
        if (n < 0)
            return CX_EDB;
        if ((overflow = n >= TRACK_DEAD_AGG_MAX))
            snprintf(key, sizeof key, "%s\nother", d->d.code);
    }
    st = store_stmt(w, "INSERT INTO track_dead_letters(received_at, source, reason, message, "
                       "device, payload, agg, last_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?1) "
                       "ON CONFLICT(agg) DO UPDATE SET count = count + 1, last_at = ?1, "
                       "message = ?4, payload = ?6");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, d->recv_us);
    sqlite3_bind_text(st, 2, track_src_names[d->src], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->d.code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, d->d.message, -1, SQLITE_STATIC);
    /* the overflow row names no device: it stands for many */
    if (d->d.device[0] && !overflow)
        sqlite3_bind_text(st, 5, d->d.device, -1, SQLITE_STATIC);
    if (d->d.payload)
        sqlite3_bind_text(st, 6, d->d.payload, -1, SQLITE_STATIC);
    if (agg)
        sqlite3_bind_text(st, 7, key, -1, SQLITE_STATIC);
    return st__step(st);
}

/* One alert of the batch: raised through the alert module in this job (so
 * it commits with the telemetry that raised it), the report it sits on
 * marked for retention, a critical one queued for escalation. */
static cx_err track__raise(track_service *t, store_conn *w, track_alert_row *a)
{
    const char *dev = a->device[0] ? a->device : NULL, *cons = a->consignment[0] ? a->consignment
                                                                                  : NULL;
    alert_new n = {
        .type = track_alert_type_name((track_alert_type)a->type),
        .severity = a->sev == TRACK_SEV_CRITICAL  ? ALERT_CRITICAL
                    : a->sev == TRACK_SEV_WARNING ? ALERT_WARNING
                                                  : ALERT_INFO,
        .time_ms = a->time,
        .subject_kind = dev ? "device" : "consignment",
        .subject_id = dev ? dev : cons ? cons : "unknown",
        .device = dev,
        .container = a->container[0] ? a->container : NULL,
        .consignment = cons,
        .lat = a->lat,
        .lon = a->lon,
        .declarations = a->decls,
        .detail = a->detail,
        .orgs = {a->org[0] ? a->org : NULL},
    };
    cx_err e = alert_raise_in(t->alerts_svc, w, &n, &a->ref);
    sqlite3_stmt *st;
    if (e == CX_OK && a->dev) {
        st = store_stmt(w, "INSERT OR IGNORE INTO track_alert_marks(dev, ts) VALUES(?1, ?2)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, a->dev);
        sqlite3_bind_int64(st, 2, a->time);
        e = st__step(st);
    }
    if (e == CX_OK && a->decls && a->sev == TRACK_SEV_CRITICAL && cons) {
        char *decls = cx_json_dump(a->decls, NULL);
        st = decls ? store_stmt(w, "INSERT INTO track_escalations(alert, type, consignment, "
                                   "time, declarations) VALUES(?1, ?2, ?3, ?4, ?5)")
                   : NULL;
        if (!st) {
            free(decls);
            return decls ? CX_EDB : CX_ENOMEM;
        }
        sqlite3_bind_text(st, 1, a->ref.id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, n.type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, cons, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, a->time);
        sqlite3_bind_text(st, 5, decls, -1, SQLITE_STATIC);
        e = st__step(st);
        free(decls);
    }
    return e;
}

cx_err track__batch_write(store_conn *w, void *arg)
{
    track_batch *b = arg;
    sqlite3_stmt *st;
    if (b->npos) {
        st = store_stmt(w, "INSERT INTO track_journal(dev, ts, lat, lon, speed, "
                           "heading, seal, door, temp, battery, src) "
                           "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
        if (!st)
            return CX_EDB;
        for (size_t i = 0; i < b->npos; i++) {
            const track_pos_row *p = &b->pos[i];
            sqlite3_bind_int64(st, 1, p->dev);
            sqlite3_bind_int64(st, 2, p->ts);
            sqlite3_bind_double(st, 3, p->lat);
            sqlite3_bind_double(st, 4, p->lon);
            st__real(st, 5, p->speed);
            st__real(st, 6, p->heading);
            st__small(st, 7, p->seal);
            st__small(st, 8, p->door);
            st__real(st, 9, p->temp);
            st__real(st, 10, p->batt);
            sqlite3_bind_int(st, 11, p->src);
            if (st__step(st) != CX_OK)
                return CX_EDB;
        }
    }
    for (size_t i = 0; i < b->nalerts; i++) {
        cx_err e = track__raise(b->t, w, &b->alerts[i]);
        if (e != CX_OK)
            return e;
    }
    for (size_t i = 0; i < b->ndead; i++)
        if (st__dead(w, &b->dead[i]) != CX_OK)
            return CX_EDB;
    if (b->nstate) {
        st = store_stmt(w, "INSERT INTO track_device_state(dev, ts, lat, lon, speed, heading, "
                           "seal, door, temp, battery, recv, state) "
                           "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) "
                           "ON CONFLICT(dev) DO UPDATE SET ts=excluded.ts, lat=excluded.lat, "
                           "lon=excluded.lon, speed=excluded.speed, heading=excluded.heading, "
                           "seal=excluded.seal, door=excluded.door, temp=excluded.temp, "
                           "battery=excluded.battery, recv=excluded.recv, state=excluded.state");
        if (!st)
            return CX_EDB;
        for (size_t i = 0; i < b->nstate; i++) {
            const track_state_row *r = &b->state[i];
            sqlite3_bind_int64(st, 1, r->dev);
            sqlite3_bind_int64(st, 2, r->ts);
            sqlite3_bind_double(st, 3, r->lat);
            sqlite3_bind_double(st, 4, r->lon);
            st__real(st, 5, r->speed);
            st__real(st, 6, r->heading);
            st__small(st, 7, r->seal);
            st__small(st, 8, r->door);
            st__real(st, 9, r->temp);
            st__real(st, 10, r->batt);
            sqlite3_bind_int64(st, 11, r->recv);
            sqlite3_bind_blob(st, 12, b->arena + r->state_off, (int)r->state_len, SQLITE_STATIC);
            if (st__step(st) != CX_OK)
                return CX_EDB;
        }
    }
    if (b->ncons) {
        st = store_stmt(w, "UPDATE track_consignments SET arrived_ms=?2, overdue=?3 WHERE idx=?1");
        if (!st)
            return CX_EDB;
        for (size_t i = 0; i < b->ncons; i++) {
            sqlite3_bind_int64(st, 1, b->cons[i].key);
            if (b->cons[i].arrived_ms)
                sqlite3_bind_int64(st, 2, b->cons[i].arrived_ms);
            sqlite3_bind_int(st, 3, b->cons[i].overdue);
            if (st__step(st) != CX_OK)
                return CX_EDB;
        }
    }
    return CX_OK;
}
