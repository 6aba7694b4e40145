/* The registry CSV (uas_id,operator_id,holder,valid_until): validated whole,
 * then swapped in with one writer job, so a bad file changes nothing. */
#include "drones_svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_MAX_ROWS 1000000
#define REG_FIELD_MAX 256

typedef struct {
    char *uas, *op, *holder, *until;
} reg_row;

typedef struct {
    reg_row *rows;
    size_t n, cap;
    bool header;
    char *err;
    size_t errlen;
    bool bad;
} reg_ctx;

static bool reg__id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > 20)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static bool reg__fail(reg_ctx *c, uint64_t line, const char *col, const char *msg)
{
    snprintf(c->err, c->errlen, "line %llu, column %s: %s", (unsigned long long)line, col, msg);
    c->bad = true;
    return false;
}

static bool reg__row(void *ctx, char **f, size_t n, uint64_t line, uint64_t off)
{
    static const char *const cols[] = {"uas_id", "operator_id", "holder", "valid_until"};
    reg_ctx *c = ctx;
    if (!c->header) {
        if (n > 0 && (unsigned char)f[0][0] == 0xef && (unsigned char)f[0][1] == 0xbb &&
            (unsigned char)f[0][2] == 0xbf)
            memmove(f[0], f[0] + 3, strlen(f[0] + 3) + 1); /* a UTF-8 byte order mark */
        if (n != 4)
            return reg__fail(c, line, "-", "the header must be uas_id,operator_id,holder,"
                                           "valid_until");
        for (size_t i = 0; i < 4; i++)
            if (strcmp(f[i], cols[i]) != 0)
                return reg__fail(c, line, cols[i], "the header must be uas_id,operator_id,"
                                                   "holder,valid_until");
        c->header = true;
        return true;
    }
    if (n == 1 && f[0][0] == '\0')
        return true; /* blank line */
    if (n != 4)
        return reg__fail(c, line, "-", "a row has 4 fields");
    if (!reg__id_ok(f[0]))
        return reg__fail(c, line, "uas_id", "at most 20 printable ASCII characters");
    if (!reg__id_ok(f[1]))
        return reg__fail(c, line, "operator_id", "at most 20 printable ASCII characters");
    if (!f[0][0] && !f[1][0])
        return reg__fail(c, line, "uas_id", "a row names a UAS ID, an operator ID or both");
    size_t cp;
    if (!cx_utf8_count(f[2], strlen(f[2]), &cp) || cp > 200)
        return reg__fail(c, line, "holder", "at most 200 characters of UTF-8");
    int y, m, d;
    if (f[3][0] && !cx_date_parse(f[3], &y, &m, &d))
        return reg__fail(c, line, "valid_until", "a date YYYY-MM-DD, or empty for no end");
    if (c->n >= REG_MAX_ROWS)
        return reg__fail(c, line, "-", "more than 1,000,000 rows");
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        reg_row *r = realloc(c->rows, cap * sizeof *r);
        if (!r)
            return reg__fail(c, line, "-", "out of memory");
        c->rows = r;
        c->cap = cap;
    }
    reg_row *r = &c->rows[c->n];
    r->uas = strdup(f[0]);
    r->op = strdup(f[1]);
    r->holder = strdup(f[2]);
    r->until = strdup(f[3]);
    if (!r->uas || !r->op || !r->holder || !r->until) {
        free(r->uas), free(r->op), free(r->holder), free(r->until);
        return reg__fail(c, line, "-", "out of memory");
    }
    c->n++;
    return true;
}

static void reg__bind(sqlite3_stmt *st, int i, const char *v)
{
    if (*v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static cx_err reg__job(store_conn *w, void *arg)
{
    reg_ctx *c = arg;
    if (store_exec(w, "DELETE FROM drones_registry"))
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO drones_registry(uas_id, operator_id, holder,"
                                     " valid_until) VALUES(?1,?2,?3,?4)");
    for (size_t i = 0; st && i < c->n; i++) {
        reg__bind(st, 1, c->rows[i].uas);
        reg__bind(st, 2, c->rows[i].op);
        reg__bind(st, 3, c->rows[i].holder);
        reg__bind(st, 4, c->rows[i].until);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return CX_EDB;
    }
    return st ? CX_OK : CX_EDB;
}

cx_err drones_registry_load_csv(store *s, const char *path, size_t *rows, char *err,
                                size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return CX_EIO;
    }
    reg_ctx c = {.err = err, .errlen = errlen};
    uint64_t eline = 0;
    cx_err e = cx_csv_read(f, REG_FIELD_MAX, reg__row, &c, &eline);
    fclose(f);
    if (e == CX_EPARSE)
        snprintf(err, errlen, "%s: line %llu: not valid CSV", path, (unsigned long long)eline);
    else if (e == CX_ETOOBIG)
        snprintf(err, errlen, "%s: a field is longer than %d bytes", path, REG_FIELD_MAX);
    else if (c.bad) {
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s: %s", path, err);
        snprintf(err, errlen, "%s", tmp);
        e = CX_EINVAL;
    } else if (!c.header) {
        snprintf(err, errlen, "%s: empty; the header uas_id,operator_id,holder,valid_until is "
                              "missing", path);
        e = CX_EINVAL;
    }
    if (!e && (e = store_write(s, reg__job, &c)) != CX_OK)
        snprintf(err, errlen, "%s: storing the registry failed: %s", path, cx_strerror(e));
    for (size_t i = 0; i < c.n; i++)
        free(c.rows[i].uas), free(c.rows[i].op), free(c.rows[i].holder), free(c.rows[i].until);
    free(c.rows);
    *rows = e ? 0 : c.n;
    return e;
}
