/* Storage: the xray tables (migrations), scan images as files named by
 * their SHA-256 (written and fsynced before the row that names them is
 * committed, never rewritten), and the rows' readers. */
#include "xray_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const store_migration migrations[] = {
    {1, "CREATE TABLE xray_scanners("
        "  id TEXT PRIMARY KEY, name TEXT NOT NULL, site TEXT NOT NULL, org TEXT NOT NULL,"
        "  key_id INTEGER, created_at TEXT NOT NULL, created_by TEXT NOT NULL);"
        /* a device key speaks for one scanner */
        "CREATE UNIQUE INDEX xray_scanners_key ON xray_scanners(key_id) WHERE key_id IS NOT NULL;"
        "CREATE TABLE xray_scans("
        "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL,"
        "  format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,"
        "  bytes INTEGER NOT NULL, scanner TEXT NOT NULL, container TEXT NOT NULL,"
        "  declaration TEXT, decl_seq INTEGER, time TEXT NOT NULL, meta TEXT NOT NULL,"
        "  analysis TEXT NOT NULL, flagged INTEGER NOT NULL, org TEXT NOT NULL,"
        "  role TEXT NOT NULL, key_id INTEGER NOT NULL, received_at TEXT NOT NULL);"
        "CREATE INDEX xray_scans_container ON xray_scans(container, seq);"
        "CREATE INDEX xray_scans_declaration ON xray_scans(declaration, seq);"
        "CREATE INDEX xray_scans_decl_seq ON xray_scans(decl_seq) WHERE decl_seq IS NOT NULL;"
        "CREATE INDEX xray_scans_scanner ON xray_scans(scanner, seq);"
        "CREATE TABLE xray_outcomes("
        "  scan_seq INTEGER NOT NULL REFERENCES xray_scans(seq), n INTEGER NOT NULL,"
        "  kind TEXT NOT NULL, score REAL NOT NULL, found INTEGER NOT NULL, note TEXT,"
        "  scanner TEXT NOT NULL, org TEXT NOT NULL, role TEXT NOT NULL,"
        "  key_id INTEGER NOT NULL, at TEXT NOT NULL, PRIMARY KEY(scan_seq, n));"
        "CREATE INDEX xray_outcomes_kind ON xray_outcomes(kind, at);"},
};

cx_err xray_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "xray", migrations, sizeof migrations / sizeof *migrations, err,
                         errlen);
}

/* ---- images, content-addressed ---------------------------------------------------- */

void xray__sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    cx_hex(h, sizeof h, out);
}

static void blob__path(const char *dir, const char *hex, char *out, size_t outlen, bool sub)
{
    if (sub)
        snprintf(out, outlen, "%s/%.2s", dir, hex);
    else
        snprintf(out, outlen, "%s/%.2s/%s", dir, hex, hex + 2);
}

static cx_err blob__fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return CX_EIO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? CX_OK : CX_EIO;
}

cx_err xray__blob_put(const char *dir, const char *hex, const uint8_t *data, size_t len)
{
    char sub[4096], path[4096], tmp[4200];
    blob__path(dir, hex, sub, sizeof sub, true);
    blob__path(dir, hex, path, sizeof path, false);
    struct stat st;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len)
        return CX_OK; /* the same bytes are there already: they are named by their hash */
    if (mkdir(sub, 0700) != 0 && errno != EEXIST)
        return CX_EIO;
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s-XXXXXX", sub, hex + 2);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return CX_EIO;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    bool ok = off == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return CX_EIO;
    }
    return blob__fsync_dir(sub);
}

cx_err xray__blob_get(const char *dir, const char *hex, uint8_t **data, size_t *len)
{
    char path[4096], err[256];
    blob__path(dir, hex, path, sizeof path, false);
    cx_err e = xray_file_load(path, data, len, err, sizeof err);
    if (e != CX_OK)
        return e == CX_EIO ? CX_ENOTFOUND : e;
    char check[65];
    xray__sha256_hex(*data, *len, check);
    if (strcmp(check, hex) != 0) { /* a changed file is not our scan */
        free(*data);
        *data = NULL;
        return CX_ECRYPTO;
    }
    return CX_OK;
}

cx_err xray__blob_dir_init(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return CX_EIO;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return CX_EIO;
    }
    return CX_OK;
}

int xray__tmpfile(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
        return fd;
    char path[4200];
    snprintf(path, sizeof path, "%s/upload-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* ---- rows ----------------------------------------------------------------------------- */

static void row__text(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    snprintf(out, outlen, "%s", t ? t : "");
}

#define ROW_COLUMNS                                                                          \
    "seq, id, sha256, format, width, height, bytes, scanner, container, declaration, time, " \
    "meta, analysis, flagged, received_at, org, role, key_id"

static cx_err row__read(sqlite3_stmt *st, xray_row *r)
{
    memset(r, 0, sizeof *r);
    r->seq = sqlite3_column_int64(st, 0);
    row__text(st, 1, r->id, sizeof r->id);
    row__text(st, 2, r->sha256, sizeof r->sha256);
    row__text(st, 3, r->format, sizeof r->format);
    r->width = sqlite3_column_int(st, 4);
    r->height = sqlite3_column_int(st, 5);
    r->bytes = sqlite3_column_int64(st, 6);
    row__text(st, 7, r->scanner, sizeof r->scanner);
    row__text(st, 8, r->container, sizeof r->container);
    row__text(st, 9, r->declaration, sizeof r->declaration);
    row__text(st, 10, r->time, sizeof r->time);
    r->meta = strdup((const char *)sqlite3_column_text(st, 11));
    r->analysis = strdup((const char *)sqlite3_column_text(st, 12));
    r->flagged = sqlite3_column_int(st, 13);
    row__text(st, 14, r->received_at, sizeof r->received_at);
    row__text(st, 15, r->org, sizeof r->org);
    row__text(st, 16, r->role, sizeof r->role);
    r->key_id = sqlite3_column_int64(st, 17);
    return r->meta && r->analysis ? CX_OK : CX_ENOMEM;
}

void xray__row_clear(xray_row *r)
{
    free(r->meta);
    free(r->analysis);
    r->meta = r->analysis = NULL;
}

cx_err xray__row_get(store_conn *c, const char *id, xray_row *out)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT " ROW_COLUMNS " FROM xray_scans WHERE id = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? row__read(st, out) : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    sqlite3_reset(st);
    return e;
}

cx_err xray__row_list(store_conn *c, const xray_filter *f, xray_row_fn fn, void *ctx)
{
    /* one statement per filter shape, each on an index */
    sqlite3_stmt *st;
    if (f->declaration && f->container)
        st = store_stmt(c, "SELECT " ROW_COLUMNS " FROM xray_scans WHERE declaration = ?1 AND "
                           "container = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4");
    else if (f->declaration)
        st = store_stmt(c, "SELECT " ROW_COLUMNS " FROM xray_scans WHERE declaration = ?1 AND "
                           "seq < ?3 ORDER BY seq DESC LIMIT ?4");
    else if (f->container)
        st = store_stmt(c, "SELECT " ROW_COLUMNS " FROM xray_scans WHERE container = ?2 AND "
                           "seq < ?3 ORDER BY seq DESC LIMIT ?4");
    else if (f->scanner)
        st = store_stmt(c, "SELECT " ROW_COLUMNS " FROM xray_scans WHERE scanner = ?5 AND "
                           "seq < ?3 ORDER BY seq DESC LIMIT ?4");
    else
        st = store_stmt(c, "SELECT " ROW_COLUMNS " FROM xray_scans WHERE seq < ?3 "
                           "ORDER BY seq DESC LIMIT ?4");
    if (!st)
        return CX_EDB;
    if (f->declaration)
        sqlite3_bind_text(st, 1, f->declaration, -1, SQLITE_STATIC);
    if (f->container)
        sqlite3_bind_text(st, 2, f->container, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, f->before > 0 ? f->before : INT64_MAX);
    sqlite3_bind_int(st, 4, f->limit);
    if (f->scanner)
        sqlite3_bind_text(st, 5, f->scanner, -1, SQLITE_STATIC);
    int rc;
    cx_err e = CX_OK;
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        xray_row row;
        e = row__read(st, &row);
        if (e == CX_OK && !fn(ctx, &row))
            rc = SQLITE_DONE;
        xray__row_clear(&row);
        if (rc == SQLITE_DONE)
            break;
    }
    if (e == CX_OK && rc != SQLITE_DONE)
        e = CX_EDB;
    sqlite3_reset(st);
    return e;
}

cx_err xray__row_insert(store_conn *w, const xray_row *r, int64_t decl_seq)
{
    sqlite3_stmt *st = store_stmt(
        w, "INSERT INTO xray_scans(id, sha256, format, width, height, bytes, scanner, container,"
           " declaration, decl_seq, time, meta, analysis, flagged, org, role, key_id, received_at)"
           " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->format, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, r->width);
    sqlite3_bind_int(st, 5, r->height);
    sqlite3_bind_int64(st, 6, r->bytes);
    sqlite3_bind_text(st, 7, r->scanner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, r->container, -1, SQLITE_STATIC);
    if (r->declaration[0]) {
        sqlite3_bind_text(st, 9, r->declaration, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, decl_seq);
    }
    sqlite3_bind_text(st, 11, r->time, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, r->meta, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, r->analysis, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 14, r->flagged);
    sqlite3_bind_text(st, 15, r->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, r->role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 17, r->key_id);
    sqlite3_bind_text(st, 18, r->received_at, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : rc == SQLITE_CONSTRAINT_UNIQUE ? CX_EEXIST : CX_EDB;
}

/* The scanner a device key speaks for, or the scanner by id. */
cx_err xray__scanner_get(store_conn *c, const char *id, int64_t key_id, xray_scanner *out)
{
    sqlite3_stmt *st =
        id ? store_stmt(c, "SELECT id, name, site, org, key_id, created_at FROM xray_scanners "
                           "WHERE id = ?1")
           : store_stmt(c, "SELECT id, name, site, org, key_id, created_at FROM xray_scanners "
                           "WHERE key_id = ?2");
    if (!st)
        return CX_EDB;
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 2, key_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        row__text(st, 0, out->id, sizeof out->id);
        row__text(st, 1, out->name, sizeof out->name);
        row__text(st, 2, out->site, sizeof out->site);
        row__text(st, 3, out->org, sizeof out->org);
        out->key_id = sqlite3_column_int64(st, 4);
        row__text(st, 5, out->created_at, sizeof out->created_at);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}
