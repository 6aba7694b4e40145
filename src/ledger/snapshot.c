/* Snapshots: a node joins from a copy of another node's ledger tables
 * instead of replaying the stream from its first message.
 *
 * A snapshot holds the ledger tables only — entries, tree, registry, state,
 * checkpoints, rejections and the stream position — never declarations,
 * findings (derived from them) or anyone's salts. A node trusts it only
 * after it verified it: the whole log recomputed (`ledger verify`: every
 * leaf, signature, policy, transition, node and checkpoint), its genesis and
 * origin against the trust file, its latest checkpoint cosigned by the trust
 * file's quorum, and every message after that checkpoint against the stream
 * itself. Then it reads the stream on from the snapshot's sequence. */
#include "net_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP_MAX_UNCOVERED 100000 /* messages after the checkpoint, checked one by one */

static const char *const snap_tables[] = {
    "ledger_entries", "ledger_nodes",      "ledger_meta",         "ledger_governors",
    "ledger_members", "ledger_keys",       "ledger_policies",     "ledger_anchors",
    "ledger_anchor_certs", "ledger_bls",   "ledger_bl_events",    "ledger_coos",
    "ledger_aeo",     "ledger_payments",   "ledger_manifests",    "ledger_iprs",
    "ledger_checkpoints", "ledger_cosignatures", "ledger_rejected", "ledger_stream", NULL};

static cx_err snap__exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return CX_OK;
    snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return CX_EDB;
}

/* "CREATE [UNIQUE] TABLE|INDEX name…" → the same in schema snap. */
static char *snap__qualify(const char *sql)
{
    static const char *const heads[] = {"CREATE TABLE ", "CREATE UNIQUE INDEX ", "CREATE INDEX ",
                                        NULL};
    for (const char *const *h = heads; *h; h++) {
        size_t n = strlen(*h);
        if (strncmp(sql, *h, n) == 0) {
            size_t len = strlen(sql) + 8;
            char *out = malloc(len);
            if (out)
                snprintf(out, len, "%.*ssnap.%s", (int)n, sql, sql + n);
            return out;
        }
    }
    return NULL;
}

static cx_err snap__copy_table(sqlite3 *db, const char *table, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM main.sqlite_master WHERE tbl_name=?1 AND sql IS "
                               "NOT NULL ORDER BY type='index'",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return CX_EDB;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    cx_err e = CX_OK, rd = CX_OK; /* a table or index left out is not a snapshot */
    while (e == CX_OK && store_next(st, &rd)) {
        char *q = snap__qualify((const char *)sqlite3_column_text(st, 0));
        e = q ? snap__exec(db, q, err, errlen) : CX_EDB;
        free(q);
    }
    if (rd != CX_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        e = rd;
    }
    sqlite3_finalize(st);
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO snap.%s SELECT * FROM main.%s", table, table);
    return e == CX_OK ? snap__exec(db, sql, err, errlen) : e;
}

cx_err ledger_snapshot(ledger *lg, const char *path, char *err, size_t errlen)
{
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s exists: a snapshot is written to a new file", path);
        return CX_EEXIST;
    }
    if (ledger_size(lg) <= 0) {
        snprintf(err, errlen, "the ledger is empty");
        return CX_ESTATE;
    }
    sqlite3 *db = NULL;
    cx_err e = CX_OK;
    /* CREATE: the attached snapshot is a new file */
    if (sqlite3_open_v2(store_path(lg->s), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s", store_path(lg->s));
        e = CX_EDB;
    }
    sqlite3_busy_timeout(db, 30000);
    sqlite3_stmt *st = NULL;
    if (e == CX_OK && sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS snap", -1, &st, NULL) ==
                          SQLITE_OK) {
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            snprintf(err, errlen, "cannot create %s: %s", path, sqlite3_errmsg(db));
            e = CX_EIO;
        }
    }
    sqlite3_finalize(st);
    /* one transaction: every table from the same moment of the log */
    if (e == CX_OK)
        e = snap__exec(db, "BEGIN", err, errlen);
    for (const char *const *t = snap_tables; e == CX_OK && *t; t++)
        e = snap__copy_table(db, *t, err, errlen);
    if (e == CX_OK)
        e = snap__exec(db, "UPDATE snap.ledger_stream SET cosign_seq=0", err, errlen);
    if (e == CX_OK)
        e = snap__exec(db, "COMMIT", err, errlen);
    sqlite3_close(db);
    if (e != CX_OK)
        unlink(path);
    return e;
}

/* ---- joining from a snapshot ----------------------------------------------------------------- */

typedef struct {
    sqlite3 *db;
    char stream[NET_NAME_MAX], origin[LEDGER_ORIGIN_MAX + 1];
    uint64_t applied;
    int64_t size, cp_size;
    uint64_t cp_seq; /* the stream sequence of the checkpoint's last entry */
    char cosigners[512];
    int good;
} snap_info;

static bool snap__row(sqlite3 *db, const char *sql, int64_t arg, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(*out, 1, arg);
    if (sqlite3_step(*out) == SQLITE_ROW)
        return true;
    sqlite3_finalize(*out);
    *out = NULL;
    return false;
}

/* The snapshot's latest checkpoint as a note, and how many trusted
 * organisations cosigned it. */
static cx_err snap__checkpoint(snap_info *si, const json_t *trust, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (!snap__row(si->db, "SELECT size, root FROM ledger_checkpoints WHERE ?1 = ?1 ORDER BY "
                           "size DESC LIMIT 1",
                   0, &st) ||
        sqlite3_column_bytes(st, 1) != 32) {
        sqlite3_finalize(st);
        snprintf(err, errlen, "the snapshot holds no cosigned checkpoint");
        return CX_ESTATE;
    }
    si->cp_size = sqlite3_column_int64(st, 0);
    uint8_t root[32];
    memcpy(root, sqlite3_column_blob(st, 1), 32);
    sqlite3_finalize(st);
    char text[LEDGER_ORIGIN_MAX + 128];
    ledger__checkpoint_text(si->origin, (uint64_t)si->cp_size, root, text, sizeof text);
    cx_buf lines;
    cx_buf_init(&lines, 1 << 16);
    cx_err be = CX_OK;
    if (sqlite3_prepare_v2(si->db, "SELECT line FROM ledger_cosignatures WHERE size=?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, si->cp_size);
        while (be == CX_OK && store_row(st, &lines)) /* a step error fails lines */
            be = cx_buf_puts(&lines, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (be == CX_OK)
        be = cx_buf_puts(&lines, "");
    char why[200] = "too many cosignatures to read";
    si->good = be != CX_OK   ? -1
               : lines.data ? ledger__note_trusted(lines.data, text, trust, si->cosigners,
                                                   sizeof si->cosigners, why, sizeof why)
                            : 0;
    cx_buf_free(&lines);
    int quorum = (int)json_integer_value(json_object_get(trust, "checkpoint_quorum"));
    if (quorum <= 0)
        quorum = 2;
    if (si->good < 0) {
        snprintf(err, errlen, "the snapshot's checkpoint at size %lld: %s",
                 (long long)si->cp_size, why);
        return CX_ECRYPTO;
    }
    if (si->good < quorum) {
        snprintf(err, errlen, "the snapshot's latest checkpoint (size %lld) is cosigned by %d "
                              "trusted organisation%s; the trust file asks for %d",
                 (long long)si->cp_size, si->good, si->good == 1 ? "" : "s", quorum);
        return CX_ECRYPTO;
    }
    if (snap__row(si->db, "SELECT seq FROM ledger_entries WHERE idx=?1", si->cp_size - 1, &st)) {
        si->cp_seq = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (!si->cp_seq) {
        snprintf(err, errlen, "the snapshot's entries carry no stream sequence: it is not from "
                              "a network node");
        return CX_ESTATE;
    }
    return CX_OK;
}

/* Whether table in schema has column: a snapshot from the version before
 * batches lacks `pos`. */
static bool snap__has_column(sqlite3 *db, const char *schema, const char *table,
                             const char *column)
{
    sqlite3_stmt *st = NULL;
    bool has = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1, ?2) WHERE name=?3", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, schema, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, column, -1, SQLITE_STATIC);
        has = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return has;
}

/* What the checkpoint does not cover is checked against the stream itself. */
static cx_err snap__uncovered(ledger_net *n, snap_info *si, char *err, size_t errlen)
{
    if (si->applied - si->cp_seq > SNAP_MAX_UNCOVERED) {
        snprintf(err, errlen, "the snapshot runs %llu messages past its latest checkpoint; take "
                              "one closer to a checkpoint",
                 (unsigned long long)(si->applied - si->cp_seq));
        return CX_ESTATE;
    }
    sqlite3_stmt *st = NULL;
    bool pos = snap__has_column(si->db, "main", "ledger_entries", "pos");
    if (sqlite3_prepare_v2(si->db,
                           pos ? "SELECT entry_hash FROM ledger_entries WHERE seq=?1 AND pos=0 "
                                 "UNION ALL SELECT entry_hash FROM ledger_rejected WHERE "
                                 "seq=?1 AND pos=0"
                               : "SELECT entry_hash FROM ledger_entries WHERE seq=?1 "
                                 "UNION ALL SELECT entry_hash FROM ledger_rejected WHERE seq=?1",
                           -1, &st, NULL) != SQLITE_OK)
        return CX_EDB;
    cx_err e = CX_OK;
    for (uint64_t seq = si->cp_seq + 1; e == CX_OK && seq <= si->applied; seq++) {
        sqlite3_bind_int64(st, 1, (int64_t)seq);
        uint8_t want[32], got[32];
        int have = -1;
        if (sqlite3_step(st) == SQLITE_ROW) {
            have = sqlite3_column_bytes(st, 0) == 32;
            if (have)
                memcpy(want, sqlite3_column_blob(st, 0), 32);
        }
        sqlite3_reset(st);
        natsMsg *m = NULL;
        jsErrCode je = 0;
        natsStatus s = js_GetMsg(&m, n->js, n->stream, seq, NULL, &je);
        bool has = s == NATS_OK && net__message_hash(m, got);
        bool same = s == NATS_OK && have >= 0 &&
                    (have ? has && memcmp(got, want, 32) == 0 : !has);
        natsMsg_Destroy(m);
        if (s != NATS_OK && s != NATS_NOT_FOUND) {
            snprintf(err, errlen, "cannot read sequence %llu of %s: %s",
                     (unsigned long long)seq, n->stream, natsStatus_GetText(s));
            e = CX_EIO;
        } else if (!same) {
            snprintf(err, errlen, "the snapshot's message at sequence %llu is not the stream's",
                     (unsigned long long)seq);
            e = CX_ESTATE;
        }
    }
    sqlite3_finalize(st);
    return e;
}

static cx_err snap__inspect(ledger_net *n, snap_info *si, const json_t *trust, char *err,
                            size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (!snap__row(si->db, "SELECT stream, origin, applied_seq FROM ledger_stream WHERE id=?1", 1,
                   &st)) {
        snprintf(err, errlen, "the snapshot has no stream position: take it with customs ledger "
                              "snapshot on a network node");
        return CX_ESTATE;
    }
    snprintf(si->stream, sizeof si->stream, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(si->origin, sizeof si->origin, "%s", (const char *)sqlite3_column_text(st, 1));
    si->applied = (uint64_t)sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    if (strcmp(si->stream, n->stream) != 0 || strcmp(si->origin, n->origin) != 0) {
        snprintf(err, errlen, "the snapshot is of ledger %s, not %s", si->origin, n->origin);
        return CX_ESTATE;
    }
    if (!snap__row(si->db, "SELECT leaf_hash FROM ledger_entries WHERE idx=?1", 0, &st))
        return CX_ESTATE;
    bool genesis_ok = !n->has_trust_genesis || (sqlite3_column_bytes(st, 0) == 32 &&
                                                memcmp(sqlite3_column_blob(st, 0),
                                                       n->trust_genesis, 32) == 0);
    sqlite3_finalize(st);
    if (!genesis_ok) {
        snprintf(err, errlen, "the snapshot's genesis is not the one the trust file names");
        return CX_ESTATE;
    }
    cx_err e = snap__checkpoint(si, trust, err, errlen);
    return e == CX_OK ? snap__uncovered(n, si, err, errlen) : e;
}

/* Copies one table by the columns this node's table and the snapshot's
 * both have: a snapshot of an earlier schema lacks later columns (`pos`),
 * which take their defaults. */
static cx_err snap__import_table(sqlite3 *db, const char *table, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    cx_buf cols;
    cx_buf_init(&cols, 4096);
    /* no ORDER BY: the one list names the columns on both sides of the
     * copy, so their order does not matter (and a sort is what
     * test_query_plans refuses in a keyed statement) */
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1, 'main') WHERE name IN "
                               "(SELECT name FROM pragma_table_info(?1, 'snap'))",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        cx_buf_free(&cols);
        return CX_EDB;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    cx_err e = CX_OK, rd = CX_OK; /* a column left out would not be restored */
    while (e == CX_OK && store_next(st, &rd)) /* the schema's own names: [a-z_] */
        e = cx_buf_printf(&cols, "%s\"%s\"", cols.len ? "," : "",
                          (const char *)sqlite3_column_text(st, 0));
    if (rd != CX_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        e = rd;
    }
    sqlite3_finalize(st);
    if (e == CX_OK && !cols.len) {
        snprintf(err, errlen, "the snapshot has no table %s", table);
        e = CX_ESTATE;
    }
    char *sql = e == CX_OK ? sqlite3_mprintf("INSERT OR REPLACE INTO main.%s(%s) SELECT %s FROM "
                                             "snap.%s", table, cols.data,
                                             cols.data, table)
                           : NULL;
    if (e == CX_OK)
        e = sql ? snap__exec(db, sql, err, errlen) : CX_ENOMEM;
    sqlite3_free(sql);
    cx_buf_free(&cols);
    return e;
}

/* Copies the verified tables into this node's (empty) database. */
static cx_err snap__import(ledger *lg, const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(store_path(lg->s), &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        snprintf(err, errlen, "cannot open %s", store_path(lg->s));
        return CX_EDB;
    }
    sqlite3_busy_timeout(db, 30000);
    sqlite3_stmt *st = NULL;
    cx_err e = CX_EDB;
    if (sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS snap", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
    }
    sqlite3_finalize(st);
    if (e != CX_OK)
        snprintf(err, errlen, "cannot read the snapshot: %s", sqlite3_errmsg(db));
    if (e == CX_OK)
        e = snap__exec(db, "BEGIN IMMEDIATE", err, errlen);
    for (const char *const *t = snap_tables; e == CX_OK && *t; t++)
        e = snap__import_table(db, *t, err, errlen);
    if (e == CX_OK)
        e = snap__exec(db, "COMMIT", err, errlen);
    else
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return e;
}

cx_err ledger__net_snapshot_import(ledger_net *n, const char *path, const json_t *trust, char *err,
                                   size_t errlen)
{
    if (!trust) {
        snprintf(err, errlen, "a snapshot is trusted only against the consortium's trust file "
                              "(--ledger-trust)");
        return CX_EINVAL;
    }
    ledger_verify_report rep;
    if (!ledger_verify_db(path, 0, false, &rep)) {
        if (rep.bad_index >= 0)
            snprintf(err, errlen, "the snapshot does not verify at index %lld: %s",
                     (long long)rep.bad_index, rep.why);
        else
            snprintf(err, errlen, "the snapshot does not verify: %s", rep.why);
        return CX_ECRYPTO;
    }
    snap_info si = {0};
    if (sqlite3_open_v2(path, &si.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(si.db);
        snprintf(err, errlen, "cannot open the snapshot %s", path);
        return CX_EIO;
    }
    si.size = rep.entries;
    cx_err e = snap__inspect(n, &si, trust, err, errlen);
    sqlite3_close(si.db);
    if (e == CX_OK)
        e = snap__import(n->lg, path, err, errlen);
    if (e == CX_OK)
        cx_log(CX_LOG_INFO, "ledger network: joined from snapshot %s: %lld entries up to stream "
                            "sequence %llu; checkpoint %lld cosigned by %s; the rest checked "
                            "against the stream",
               path, (long long)si.size, (unsigned long long)si.applied, (long long)si.cp_size,
               si.cosigners);
    return e;
}
