/* Storage of the designs module: files (inspection and fingerprint), their
 * uploads, and the watchlists. The bytes of a file are kept beside the
 * database, named by their SHA-256 (service.c). */
#include "designs_svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const store_migration designs_migrations[] = {
    {1, "CREATE TABLE designs_files("
        " sha256 TEXT PRIMARY KEY,"
        " mesh_sha256 TEXT NOT NULL,"
        " format TEXT NOT NULL,"
        " file_size INTEGER NOT NULL,"
        " inspection TEXT NOT NULL,"
        " fingerprint BLOB NOT NULL,"
        " created_at TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE INDEX designs_files_mesh ON designs_files(mesh_sha256);"
        /* one row per upload: who sent which file, and what it matched then */
        "CREATE TABLE designs_uploads("
        " id INTEGER PRIMARY KEY,"
        " sha256 TEXT NOT NULL REFERENCES designs_files(sha256),"
        " org TEXT NOT NULL,"
        " key_id INTEGER,"
        " name TEXT,"
        " matches TEXT NOT NULL,"
        " created_at TEXT NOT NULL);"
        "CREATE INDEX designs_uploads_sha ON designs_uploads(sha256, org);"
        "CREATE TABLE designs_watchlist("
        " idx INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " watchlist TEXT NOT NULL CHECK (watchlist IN ('ipr', 'security')),"
        " sha256 TEXT NOT NULL REFERENCES designs_files(sha256),"
        " holder TEXT NOT NULL,"
        " title TEXT NOT NULL,"
        " reference TEXT,"
        " registration TEXT,"
        " valid_until TEXT,"
        " registered_by TEXT NOT NULL,"
        " created_at TEXT NOT NULL,"
        " removed_at TEXT);"
        "CREATE INDEX designs_watchlist_list ON designs_watchlist(watchlist, idx);"
        "CREATE INDEX designs_watchlist_sha ON designs_watchlist(sha256, watchlist);"},
    /* hot keys (issue 17): the newest uploads of a file uploaded 100,000
     * times, and pages of a watchlist that skip no removed entries */
    {2, "CREATE INDEX designs_uploads_sha_id ON designs_uploads(sha256, id);"
        "CREATE INDEX designs_watchlist_live ON designs_watchlist(watchlist, idx)"
        " WHERE removed_at IS NULL;"
        "CREATE INDEX designs_watchlist_live_all ON designs_watchlist(idx)"
        " WHERE removed_at IS NULL;"},
};

cx_err designs_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "designs", designs_migrations,
                         sizeof designs_migrations / sizeof designs_migrations[0], err, errlen);
}

static void dstore__text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static cx_err dstore__done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT)
        return CX_EEXIST;
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* The file's row, once (the same bytes uploaded again change nothing). */
static cx_err dstore__file(store_conn *w, const dsvc_file *f)
{
    sqlite3_stmt *st = store_stmt(w, "INSERT OR IGNORE INTO designs_files(sha256, mesh_sha256, "
                                     "format, file_size, inspection, fingerprint, created_at) "
                                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return CX_EDB;
    uint8_t fp[DESIGNS_FP_BYTES];
    designs_fp_pack(&f->fp, fp);
    sqlite3_bind_text(st, 1, f->sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->mesh_sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, f->format, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)f->file_size);
    sqlite3_bind_text(st, 5, f->inspection, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, fp, sizeof fp, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, f->now, -1, SQLITE_STATIC);
    return dstore__done(st);
}

cx_err dsvc__job_upload(store_conn *w, void *arg)
{
    dsvc_upload_job *j = arg;
    cx_err e = dstore__file(w, &j->file);
    if (e)
        return e;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO designs_uploads(sha256, org, key_id, name, "
                                     "matches, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->file.sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->org, -1, SQLITE_STATIC);
    if (j->key_id)
        sqlite3_bind_int64(st, 3, j->key_id);
    else
        sqlite3_bind_null(st, 3);
    dstore__text(st, 4, j->name);
    sqlite3_bind_text(st, 5, j->matches, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, j->file.now, -1, SQLITE_STATIC);
    if ((e = dstore__done(st)) != CX_OK)
        return e;
    j->upload_id = sqlite3_last_insert_rowid(store_conn_db(w));
    return dsvc__upload_alerts(w, j);
}

cx_err dsvc__job_register(store_conn *w, void *arg)
{
    dsvc_register_job *j = arg;
    cx_err e = j->have_file ? dstore__file(w, &j->file) : CX_OK;
    if (e)
        return e;
    /* the same file twice on one watchlist would only double its matches */
    sqlite3_stmt *st = store_stmt(w, "SELECT id FROM designs_watchlist WHERE sha256=?1 AND "
                                     "watchlist=?2 AND removed_at IS NULL");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->file.sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, designs_watchlist_name(j->entry.watchlist), -1, SQLITE_STATIC);
    if (store_next(st, &e)) {
        snprintf(j->existing, sizeof j->existing, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        return CX_EEXIST;
    }
    sqlite3_reset(st);
    if (e != CX_OK) /* a read that failed is not "not on the watchlist yet" */
        return e;
    st = store_stmt(w, "INSERT INTO designs_watchlist(id, watchlist, sha256, holder, title, "
                       "reference, registration, valid_until, registered_by, created_at) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, designs_watchlist_name(j->entry.watchlist), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->file.sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->entry.holder, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, j->entry.title, -1, SQLITE_STATIC);
    dstore__text(st, 6, j->entry.reference);
    dstore__text(st, 7, j->entry.registration);
    dstore__text(st, 8, j->entry.valid_until);
    sqlite3_bind_text(st, 9, j->registered_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, j->file.now, -1, SQLITE_STATIC);
    if ((e = dstore__done(st)) != CX_OK)
        return e;
    j->idx = sqlite3_last_insert_rowid(store_conn_db(w));
    return CX_OK;
}

cx_err dsvc__job_remove(store_conn *w, void *arg)
{
    dsvc_remove_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT idx, removed_at FROM designs_watchlist WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bool found = rc == SQLITE_ROW, removed = found && sqlite3_column_type(st, 1) != SQLITE_NULL;
    if (found)
        j->idx = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (!found)
        return rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (removed)
        return CX_ESTATE;
    st = store_stmt(w, "UPDATE designs_watchlist SET removed_at=?2 WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->now, -1, SQLITE_STATIC);
    return dstore__done(st);
}

/* ---- reading ------------------------------------------------------------------------ */

cx_err dsvc__read_file(store_conn *r, const char *sha, designs_fp *fp, char **inspection)
{
    sqlite3_stmt *st = store_stmt(r, "SELECT fingerprint, inspection FROM designs_files "
                                     "WHERE sha256=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (!e && fp)
        e = designs_fp_unpack(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                              fp);
    if (!e && inspection && !(*inspection = strdup((const char *)sqlite3_column_text(st, 1))))
        e = CX_ENOMEM;
    sqlite3_reset(st);
    return e;
}

/* An entry as JSON for who; officers see how it was registered. */
static json_t *dstore__entry_json(sqlite3_stmt *st, bool officer)
{
    json_t *o = json_object();
    static const char *const cols[] = {"id", "watchlist", "holder", "title", "reference",
                                       "registration", "valid_until"};
    for (int i = 0; i < 7; i++) {
        const unsigned char *v = sqlite3_column_text(st, i + 1);
        json_object_set_new(o, cols[i], v ? json_string((const char *)v) : json_null());
    }
    if (officer) {
        json_object_set_new(o, "sha256", json_string((const char *)sqlite3_column_text(st, 8)));
        json_object_set_new(o, "registered_by",
                            json_string((const char *)sqlite3_column_text(st, 9)));
    }
    json_object_set_new(o, "registered_at", json_string((const char *)sqlite3_column_text(st, 10)));
    return o;
}

#define DSTORE_ENTRY_COLS                                                                     \
    "idx, id, watchlist, holder, title, reference, registration, valid_until, sha256, "      \
    "registered_by, created_at"

cx_err dsvc__read_entry(store_conn *r, int64_t idx, bool officer, json_t **out)
{
    sqlite3_stmt *st = store_stmt(r, "SELECT " DSTORE_ENTRY_COLS " FROM designs_watchlist "
                                     "WHERE idx=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, idx);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? dstore__entry_json(st, officer) : NULL;
    sqlite3_reset(st);
    return *out ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

cx_err dsvc__list(store_conn *r, const char *watchlist, int64_t after, int64_t limit, bool officer,
                  json_t *items, int64_t *rows, int64_t *last)
{
    sqlite3_stmt *st =
        watchlist ? store_stmt(r, "SELECT " DSTORE_ENTRY_COLS " FROM designs_watchlist "
                                  "WHERE watchlist=?1 AND idx>?2 AND removed_at IS NULL "
                                  "ORDER BY idx LIMIT ?3")
                  : store_stmt(r, "SELECT " DSTORE_ENTRY_COLS " FROM designs_watchlist "
                                  "WHERE idx>?2 AND removed_at IS NULL ORDER BY idx LIMIT ?3");
    if (!st)
        return CX_EDB;
    if (watchlist)
        sqlite3_bind_text(st, 1, watchlist, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit);
    cx_err e = CX_OK; /* an entry that could not be built must not vanish from the list */
    *last = 0;
    while (store_next(st, &e)) {
        cx_json_push(items, dstore__entry_json(st, officer), &e);
        *last = sqlite3_column_int64(st, 0);
        if (rows && e == CX_OK)
            rows[json_array_size(items) - 1] = *last;
    }
    sqlite3_reset(st);
    return e;
}

cx_err dsvc__load(designs_service *d, store_conn *r)
{
    sqlite3_stmt *st = store_stmt(r, "SELECT w.idx, w.watchlist, w.valid_until, f.fingerprint "
                                     "FROM designs_watchlist w JOIN designs_files f "
                                     "ON f.sha256 = w.sha256 WHERE w.removed_at IS NULL "
                                     "ORDER BY w.idx");
    if (!st)
        return CX_EDB;
    int rc;
    cx_err e = CX_OK;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        designs_fp fp;
        designs_watchlist wl;
        const char *until = (const char *)sqlite3_column_text(st, 2);
        if (designs_fp_unpack(sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3),
                              &fp) != CX_OK ||
            !designs_watchlist_parse((const char *)sqlite3_column_text(st, 1), &wl))
            e = CX_EDB;
        else
            e = dsvc__add(d, sqlite3_column_int64(st, 0), wl, until, &fp);
    }
    sqlite3_reset(st);
    return e ? e : rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

/* Uploads of a file that who may see, newest first (at most 100). */
cx_err dsvc__uploads(store_conn *r, const char *sha, const char *org, json_t *items)
{
    sqlite3_stmt *st =
        org ? store_stmt(r, "SELECT id, name, org, created_at FROM designs_uploads "
                            "WHERE sha256=?1 AND org=?2 ORDER BY id DESC LIMIT 100")
            : store_stmt(r, "SELECT id, name, org, created_at FROM designs_uploads "
                            "WHERE sha256=?1 ORDER BY id DESC LIMIT 100");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    if (org)
        sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
    cx_err e = CX_OK; /* an upload that would not build is not left out */
    while (store_next(st, &e)) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        cx_json_push(items, json_pack("{s:I, s:s?, s:s, s:s}", "upload_id",
                                      (json_int_t)sqlite3_column_int64(st, 0), "name", name, "org",
                                      (const char *)sqlite3_column_text(st, 2), "uploaded_at",
                                      (const char *)sqlite3_column_text(st, 3)),
                     &e);
    }
    sqlite3_reset(st);
    return e;
}

/* Whether sha is on a watchlist (even removed): the registered file may be
 * shown to officers. */
bool dsvc__is_registered(store_conn *r, const char *sha)
{
    sqlite3_stmt *st = store_stmt(r, "SELECT 1 FROM designs_watchlist WHERE sha256=?1 LIMIT 1");
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    bool yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return yes;
}
