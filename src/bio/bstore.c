/* The bio module's tables: subjects (with their wrapped data keys), sealed
 * templates, capture stations and the append-only audit. Writes are writer
 * jobs; reads use this thread's reader. Only this file speaks SQL. */
#include "bio_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const store_migration bio_migrations[] = {
    {1, "CREATE TABLE bio_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
        "CREATE TABLE bio_subjects("
        " num INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " kind TEXT NOT NULL,"
        " name TEXT NOT NULL DEFAULT '',"
        " org TEXT NOT NULL,"
        " watchlist TEXT NOT NULL,"
        " source_agency TEXT NOT NULL DEFAULT '',"
        " legal_basis TEXT NOT NULL DEFAULT '',"
        " expires_us INTEGER,"
        " wrapped_key BLOB NOT NULL,"
        " created_at TEXT NOT NULL,"
        " created_by INTEGER);"
        "CREATE INDEX bio_subjects_watchlist ON bio_subjects(watchlist, num);"
        "CREATE INDEX bio_subjects_expiry ON bio_subjects(expires_us) WHERE expires_us IS NOT NULL;"
        "CREATE TABLE bio_templates("
        " id TEXT PRIMARY KEY,"
        " subject INTEGER NOT NULL REFERENCES bio_subjects(num) ON DELETE CASCADE,"
        " modality TEXT NOT NULL,"
        " format TEXT NOT NULL,"
        " finger INTEGER,"
        " sealed BLOB NOT NULL,"
        " created_at TEXT NOT NULL);"
        "CREATE INDEX bio_templates_subject ON bio_templates(subject);"
        "CREATE TABLE bio_stations("
        " key_id INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL DEFAULT '',"
        " org TEXT NOT NULL,"
        " any_org INTEGER NOT NULL DEFAULT 0,"
        " created_at TEXT NOT NULL,"
        " created_by INTEGER);"
        /* every verification and identification, enrolment and erasure:
         * append-only (the triggers refuse changes), each record's RFC 6962
         * leaf hash kept for the daily digest */
        "CREATE TABLE bio_audit("
        " seq INTEGER PRIMARY KEY,"
        " at_us INTEGER NOT NULL,"
        " action TEXT NOT NULL,"
        " subject TEXT,"
        " watchlist TEXT,"
        " outcome TEXT NOT NULL,"
        " record TEXT NOT NULL,"
        " leaf BLOB NOT NULL);"
        "CREATE INDEX bio_audit_at ON bio_audit(at_us);"
        "CREATE INDEX bio_audit_subject ON bio_audit(subject, seq) WHERE subject IS NOT NULL;"
        "CREATE INDEX bio_audit_verified ON bio_audit(subject, at_us)"
        " WHERE action = 'verify' AND outcome = 'match';"
        "CREATE TRIGGER bio_audit_no_update BEFORE UPDATE ON bio_audit"
        " BEGIN SELECT RAISE(ABORT, 'the biometric audit is append-only'); END;"
        "CREATE TRIGGER bio_audit_no_delete BEFORE DELETE ON bio_audit"
        " BEGIN SELECT RAISE(ABORT, 'the biometric audit is append-only'); END;"},
};

cx_err bio_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "bio", bio_migrations,
                         sizeof bio_migrations / sizeof bio_migrations[0], err, errlen);
}

static void bs__now(char out[32])
{
    cx_rfc3339_format(cx_now_us(), out);
}

static char *bs__dup(const unsigned char *s)
{
    return strdup(s ? (const char *)s : "");
}

/* ---- the key id: which master key sealed this database --------------------------- */

typedef struct {
    const char *key_id;
    bool mismatch;
    char have[BIO_KEY_ID_LEN + 1];
} key_job;

static cx_err bs__key_job(store_conn *w, void *arg)
{
    key_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT v FROM bio_meta WHERE k='key_id'");
    if (!st)
        return CX_EDB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(j->have, sizeof j->have, "%s", (const char *)sqlite3_column_text(st, 0));
        j->mismatch = strcmp(j->have, j->key_id) != 0;
        sqlite3_reset(st);
        return CX_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    st = store_stmt(w, "INSERT INTO bio_meta(k, v) VALUES('key_id', ?1)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->key_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err bs__key_check(store *s, const char *key_id, char *err, size_t errlen)
{
    key_job j = {.key_id = key_id};
    cx_err e = store_write(s, bs__key_job, &j);
    if (e != CX_OK) {
        snprintf(err, errlen, "cannot read the database's key id: %s", cx_strerror(e));
        return e;
    }
    if (j.mismatch) {
        snprintf(err, errlen,
                 "the biometric data of this database was sealed under key %s, not under the "
                 "key given (%s)",
                 j.have, key_id);
        return CX_ECRYPTO;
    }
    return CX_OK;
}

/* ---- subjects ---------------------------------------------------------------------- */

typedef struct {
    const bs_subject *sub;
    const uint8_t *wrapped;
    int64_t who;
    int64_t num;
} subject_job;

static cx_err bs__subject_job(store_conn *w, void *arg)
{
    subject_job *j = arg;
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO bio_subjects(id, kind, name, org, watchlist, source_agency, legal_basis,"
           " expires_us, wrapped_key, created_at, created_by)"
           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(id) DO NOTHING");
    if (!st)
        return CX_EDB;
    const bs_subject *s = j->sub;
    char now[32];
    bs__now(now);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->name ? s->name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, s->watchlist, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, s->agency ? s->agency : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, s->legal_basis ? s->legal_basis : "", -1, SQLITE_STATIC);
    if (s->expires_us)
        sqlite3_bind_int64(st, 8, s->expires_us);
    sqlite3_bind_blob(st, 9, j->wrapped, BIO_WRAPPED_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, now, -1, SQLITE_TRANSIENT);
    if (j->who)
        sqlite3_bind_int64(st, 11, j->who);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    if (sqlite3_changes(store_conn_db(w)) == 0)
        return CX_EEXIST;
    j->num = sqlite3_last_insert_rowid(store_conn_db(w));
    return CX_OK;
}

cx_err bs__subject_insert(store *s, const bs_subject *sub, const uint8_t *wrapped, int64_t who,
                          int64_t *num)
{
    subject_job j = {.sub = sub, .wrapped = wrapped, .who = who};
    cx_err e = store_write(s, bs__subject_job, &j);
    if (e == CX_OK)
        *num = j.num;
    return e;
}

#define BS_SUBJECT_COLS                                                                      \
    "num, id, kind, name, org, watchlist, source_agency, legal_basis, expires_us, "          \
    "wrapped_key, created_at"

static void bs__subject_row(sqlite3_stmt *st, bs_subject *s)
{
    memset(s, 0, sizeof *s);
    s->num = sqlite3_column_int64(st, 0);
    snprintf(s->id, sizeof s->id, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(s->kind, sizeof s->kind, "%s", (const char *)sqlite3_column_text(st, 2));
    s->name = bs__dup(sqlite3_column_text(st, 3));
    snprintf(s->org, sizeof s->org, "%s", (const char *)sqlite3_column_text(st, 4));
    snprintf(s->watchlist, sizeof s->watchlist, "%s", (const char *)sqlite3_column_text(st, 5));
    s->agency = bs__dup(sqlite3_column_text(st, 6));
    s->legal_basis = bs__dup(sqlite3_column_text(st, 7));
    s->expires_us = sqlite3_column_type(st, 8) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 8);
    if (sqlite3_column_bytes(st, 9) == BIO_WRAPPED_BYTES)
        memcpy(s->wrapped, sqlite3_column_blob(st, 9), BIO_WRAPPED_BYTES);
    snprintf(s->created_at, sizeof s->created_at, "%s",
             (const char *)sqlite3_column_text(st, 10));
}

void bs__subject_clear(bs_subject *s)
{
    free(s->name);
    free(s->agency);
    free(s->legal_basis);
    sodium_memzero(s->wrapped, sizeof s->wrapped);
    s->name = s->agency = s->legal_basis = NULL;
}

cx_err bs__subject_get(store *s, const char *id, bs_subject *out)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT " BS_SUBJECT_COLS " FROM bio_subjects WHERE id=?1") : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        bs__subject_row(st, out);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

cx_err bs__subject_each(store *s, const char *watchlist, int64_t after, size_t limit,
                        bool (*fn)(void *ctx, const bs_subject *sub), void *ctx)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st =
        !c ? NULL
        : watchlist
            ? store_stmt(c, "SELECT " BS_SUBJECT_COLS " FROM bio_subjects WHERE watchlist=?1 "
                            "AND num > ?2 ORDER BY num LIMIT ?3")
            : store_stmt(c, "SELECT " BS_SUBJECT_COLS " FROM bio_subjects WHERE num > ?2 "
                            "ORDER BY num LIMIT ?3");
    if (!st)
        return CX_EDB;
    if (watchlist)
        sqlite3_bind_text(st, 1, watchlist, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bs_subject sub;
        bs__subject_row(st, &sub);
        bool go = fn(ctx, &sub);
        bs__subject_clear(&sub);
        if (!go)
            break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err bs__expired_each(store *s, int64_t now_us, bool (*fn)(void *ctx, const char *id),
                        void *ctx)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT id FROM bio_subjects WHERE expires_us IS NOT "
                                         "NULL AND expires_us <= ?1 ORDER BY expires_us LIMIT 1000")
                         : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, now_us);
    /* copy out first: fn erases, and erasing under an open read is not wise */
    char (*ids)[BIO_ID_MAX + 1] = malloc(1000 * sizeof *ids);
    size_t n = 0;
    int rc;
    while (ids && (rc = sqlite3_step(st)) == SQLITE_ROW)
        snprintf(ids[n++], sizeof ids[0], "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (!ids)
        return CX_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!fn(ctx, ids[i]))
            break;
    free(ids);
    return CX_OK;
}

/* ---- templates --------------------------------------------------------------------- */

typedef struct {
    const bs_template *t;
} template_job;

static cx_err bs__template_job(store_conn *w, void *arg)
{
    const bs_template *t = ((template_job *)arg)->t;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO bio_templates(id, subject, modality, format, "
                                     "finger, sealed, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return CX_EDB;
    char now[32];
    bs__now(now);
    sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, t->subject);
    sqlite3_bind_text(st, 3, t->modality, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->format, -1, SQLITE_STATIC);
    if (t->finger >= 0)
        sqlite3_bind_int(st, 5, t->finger);
    sqlite3_bind_blob(st, 6, t->sealed, (int)t->nsealed, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    /* the subject may have been erased meanwhile: the foreign key says so */
    return rc == SQLITE_DONE ? CX_OK
           : (rc & 0xff) == SQLITE_CONSTRAINT ? CX_ENOTFOUND
                                              : CX_EDB;
}

cx_err bs__template_insert(store *s, const bs_template *t)
{
    template_job j = {t};
    return store_write(s, bs__template_job, &j);
}

cx_err bs__template_each(store *s, int64_t subject,
                         bool (*fn)(void *ctx, const bs_template *t), void *ctx)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st =
        !c ? NULL
        : subject ? store_stmt(c, "SELECT id, subject, modality, format, finger, sealed FROM "
                                  "bio_templates WHERE subject=?1 ORDER BY id")
                  : store_stmt(c, "SELECT id, subject, modality, format, finger, sealed FROM "
                                  "bio_templates ORDER BY subject, id");
    if (!st)
        return CX_EDB;
    if (subject)
        sqlite3_bind_int64(st, 1, subject);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bs_template t = {0};
        snprintf(t.id, sizeof t.id, "%s", (const char *)sqlite3_column_text(st, 0));
        t.subject = sqlite3_column_int64(st, 1);
        snprintf(t.modality, sizeof t.modality, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(t.format, sizeof t.format, "%s", (const char *)sqlite3_column_text(st, 3));
        t.finger = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 4);
        t.sealed = sqlite3_column_blob(st, 5);
        t.nsealed = (size_t)sqlite3_column_bytes(st, 5);
        if (!fn(ctx, &t))
            break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* ---- erasure ----------------------------------------------------------------------- */

typedef struct {
    const char *id;
    const bio_audit_rec *audit;
    size_t templates;
} erase_job;

static cx_err bs__erase_job(store_conn *w, void *arg)
{
    erase_job *j = arg;
    sqlite3 *db = store_conn_db(w);
    /* deleted cells are overwritten with zeros, so the wrapped key does not
     * linger in free space; the WAL copies go at the checkpoint */
    if (sqlite3_exec(db, "PRAGMA secure_delete=ON", NULL, NULL, NULL) != SQLITE_OK)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(w, "SELECT num FROM bio_subjects WHERE id=?1");
    cx_err e = st ? CX_OK : CX_EDB;
    int64_t num = 0;
    if (!e) {
        sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        num = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    }
    if (!e && !(st = store_stmt(w, "DELETE FROM bio_templates WHERE subject=?1")))
        e = CX_EDB;
    if (!e) {
        sqlite3_bind_int64(st, 1, num);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        j->templates = (size_t)sqlite3_changes(db);
        sqlite3_reset(st);
    }
    if (!e && !(st = store_stmt(w, "DELETE FROM bio_subjects WHERE num=?1")))
        e = CX_EDB;
    if (!e) {
        sqlite3_bind_int64(st, 1, num);
        e = sqlite3_step(st) == SQLITE_DONE ? CX_OK : CX_EDB;
        sqlite3_reset(st);
    }
    if (!e && j->audit)
        e = bs__audit_append(w, j->audit);
    sqlite3_exec(db, "PRAGMA secure_delete=OFF", NULL, NULL, NULL);
    return e;
}

cx_err bs__erase(store *s, const char *id, const bio_audit_rec *audit, size_t *templates)
{
    erase_job j = {.id = id, .audit = audit};
    cx_err e = store_write(s, bs__erase_job, &j);
    if (e == CX_OK && templates)
        *templates = j.templates;
    return e;
}

bool bs__checkpoint(store *s)
{
    /* TRUNCATE waits (busy timeout) for readers and the writer and leaves
     * an empty WAL: no copy of the erased pages remains in the WAL file */
    store_conn *c = store_reader(s);
    if (!c)
        return false;
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(store_conn_db(c), NULL, SQLITE_CHECKPOINT_TRUNCATE, &log,
                                       &done);
    return rc == SQLITE_OK;
}

/* ---- stations ---------------------------------------------------------------------- */

typedef struct {
    const bs_station *st;
} station_job;

static cx_err bs__station_job(store_conn *w, void *arg)
{
    const bs_station *s = ((station_job *)arg)->st;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO bio_stations(key_id, name, org, any_org, "
                                     "created_at, created_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
                                     "ON CONFLICT(key_id) DO UPDATE SET name=excluded.name, "
                                     "any_org=excluded.any_org");
    if (!st)
        return CX_EDB;
    char now[32];
    bs__now(now);
    sqlite3_bind_int64(st, 1, s->key_id);
    sqlite3_bind_text(st, 2, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, s->any_org);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, s->created_by);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err bs__station_put(store *s, const bs_station *st)
{
    station_job j = {st};
    return store_write(s, bs__station_job, &j);
}

cx_err bs__station_get(store *s, int64_t key_id, bs_station *out)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT key_id, name, org, any_org, created_at FROM "
                                         "bio_stations WHERE key_id=?1")
                         : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, key_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->key_id = sqlite3_column_int64(st, 0);
        snprintf(out->name_buf, sizeof out->name_buf, "%s",
                 (const char *)sqlite3_column_text(st, 1));
        out->name = out->name_buf;
        snprintf(out->org, sizeof out->org, "%s", (const char *)sqlite3_column_text(st, 2));
        out->any_org = sqlite3_column_int(st, 3) != 0;
        snprintf(out->created_at, sizeof out->created_at, "%s",
                 (const char *)sqlite3_column_text(st, 4));
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

cx_err bs__station_each(store *s, bool (*fn)(void *ctx, const bs_station *st), void *ctx)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT key_id FROM bio_stations ORDER BY key_id "
                                         "LIMIT 10000")
                         : NULL;
    if (!st)
        return CX_EDB;
    int64_t ids[256];
    size_t n = 0;
    int rc;
    cx_err e = CX_OK;
    /* in pages: bs__station_get reuses this thread's reader */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids[n++] = sqlite3_column_int64(st, 0);
        if (n == 256)
            break;
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < n && !e; i++) {
        bs_station one;
        e = bs__station_get(s, ids[i], &one);
        if (!e && !fn(ctx, &one))
            break;
    }
    return e;
}
