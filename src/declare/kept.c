/* Members declare keeps for hooks (decl_hooks.enrich_kept): their texts
 * at submission, and replacing and reading them later. Composition for
 * readers is decl__compose's (decl_store.c). */
#include "decl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A hook's record of its member (what enrich_kept made: r, taken),
 * appended to the object text {"name":record,…} in b. */
static cx_err decl__kept_record(const decl_hooks *h, char *r, cx_buf *b)
{
    cx_err e = CX_OK;
    if (r) {
        e = cx_buf_puts(b, b->len ? "," : "{");
        e = e ? e : cx_buf_json_str(b, h->member);
        e = e ? e : cx_buf_puts(b, ":");
        e = e ? e : cx_buf_puts(b, r);
    }
    free(r);
    return e;
}

/* The members hooks have declare keep (enrich_kept), as two object texts:
 * customs' form and, when any member differs, the declarant's — built only
 * from the first member that differs on (the members before it are the
 * same in both), so a set whose forms agree copies nothing twice. */
cx_err decl__kept_texts(decl_write *dw)
{
    cx_buf full, shown, recs;
    cx_buf_init(&full, DECL_TEXT_MAX);
    cx_buf_init(&shown, DECL_TEXT_MAX);
    cx_buf_init(&recs, DECL_TEXT_MAX);
    cx_err e = CX_OK;
    bool any = false, differ = false;
    for (size_t i = 0; e == CX_OK && i < dw->d->nhooks; i++) {
        const decl_hooks *h = &dw->d->hooks[i];
        decl_kept_made *m = h->enrich_kept && dw->made ? &dw->made[i] : NULL;
        if (!m || !m->full)
            continue;
        char *f = m->full, *s = m->shown, *r = m->record;
        m->full = m->shown = m->record = NULL;
        if (e == CX_OK && !f)
            e = CX_ENOMEM;
        if (e == CX_OK && s && !differ) /* the same members so far */
            e = full.len ? cx_buf_append(&shown, full.data, full.len) : CX_OK;
        differ = differ || s;
        for (int k = 0; k < 1 + differ && e == CX_OK; k++) {
            cx_buf *b = k ? &shown : &full;
            const char *t = k && s ? s : f;
            /* one allocation for a member of a few KB, not a series of
             * doublings */
            e = cx_buf_reserve(b, strlen(t) + strlen(h->member) + 8);
            e = e ? e : cx_buf_puts(b, any ? "," : "{");
            e = e ? e : cx_buf_json_str(b, h->member);
            e = e ? e : cx_buf_puts(b, ":");
            e = e ? e : cx_buf_puts(b, t);
        }
        any = true;
        free(f);
        free(s);
        if (e == CX_OK)
            e = decl__kept_record(h, r, &recs);
        else
            free(r);
    }
    if (e == CX_OK && any) {
        e = cx_buf_puts(&full, "}");
        if (e == CX_OK && differ)
            e = cx_buf_puts(&shown, "}");
        dw->kept = e == CX_OK ? cx_buf_steal(&full, NULL) : NULL;
        dw->kept_shown = e == CX_OK && differ ? cx_buf_steal(&shown, NULL) : NULL;
        if (e == CX_OK && (!dw->kept || (differ && !dw->kept_shown)))
            e = CX_ENOMEM;
    }
    if (e == CX_OK && recs.len) {
        e = cx_buf_puts(&recs, "}");
        dw->kept_records = e == CX_OK ? cx_buf_steal(&recs, NULL) : NULL;
        if (e == CX_OK && !dw->kept_records)
            e = CX_ENOMEM;
    }
    cx_buf_free(&full);
    cx_buf_free(&shown);
    cx_buf_free(&recs);
    return e;
}

cx_err decl__kept_expand(const decl_service *d, store_conn *c, const char *text, size_t len,
                         cx_buf *out)
{
    const decl_hooks *x[8];
    size_t n = 0;
    for (size_t i = 0; d && i < d->nhooks; i++)
        if (d->hooks[i].member_expand) {
            if (n == sizeof x / sizeof x[0])
                return CX_EINVAL;
            x[n++] = &d->hooks[i];
        }
    if (!n)
        return cx_buf_append(out, text, len);
    /* each hook's expansion of the one before it; the last writes to out */
    cx_buf t[2];
    cx_buf_init(&t[0], DECL_TEXT_MAX);
    cx_buf_init(&t[1], DECL_TEXT_MAX);
    cx_err e = CX_OK;
    for (size_t i = 0; e == CX_OK && i < n; i++) {
        cx_buf *to = i + 1 == n ? out : &t[i % 2];
        if (to != out)
            cx_buf_reset(to);
        e = x[i]->member_expand(x[i]->ctx, c, text, len, to);
        text = to->data;
        len = to->len;
    }
    cx_buf_free(&t[0]);
    cx_buf_free(&t[1]);
    return e;
}

/* Copies text into *out (NUL-terminated), expanded by d's hooks. */
static cx_err decl__expanded_dup(const decl_service *d, store_conn *c, const char *text,
                                 char **out)
{
    cx_buf b;
    cx_buf_init(&b, DECL_TEXT_MAX);
    cx_err e = decl__kept_expand(d, c, text, strlen(text), &b);
    *out = e == CX_OK ? cx_buf_steal(&b, NULL) : NULL;
    cx_buf_free(&b);
    return e ? e : *out ? CX_OK : CX_ENOMEM;
}

/* The JSON path of a kept member: $."name" (hook names are plain words). */
static bool decl__member_path(const char *name, char out[80])
{
    size_t n = strlen(name);
    if (!n || n > 64 || strpbrk(name, "\"\\"))
        return false;
    snprintf(out, 80, "$.\"%s\"", name);
    return true;
}

cx_err decl_member_set_in(store_conn *w, int64_t seq, const char *name, const char *full,
                          const char *shown)
{
    char path[80];
    if (!full || !decl__member_path(name, path))
        return CX_EINVAL;
    /* SQLite's JSON functions keep number texts as written; every SET
     * expression reads the row as it was, so the declarant's form of the
     * other members is their kept form when they had no other */
    sqlite3_stmt *st = store_stmt(
        w, "UPDATE declarations SET kept = json_set(coalesce(kept, '{}'), ?2, json(?3)), "
           "kept_shown = CASE WHEN ?4 IS NULL AND kept_shown IS NULL THEN NULL "
           "ELSE json_set(coalesce(kept_shown, kept, '{}'), ?2, json(coalesce(?4, ?3))) END "
           "WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, full, -1, SQLITE_STATIC);
    if (shown)
        sqlite3_bind_text(st, 4, shown, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    return sqlite3_changes(store_conn_db(w)) ? CX_OK : CX_ENOTFOUND;
}

cx_err decl_member_get(decl_service *d, store_conn *c, int64_t seq, const char *name, bool full,
                       char **text)
{
    *text = NULL;
    char path[80];
    if (!decl__member_path(name, path))
        return CX_EINVAL;
    sqlite3_stmt *st = store_stmt(c, "SELECT json_extract(CASE WHEN ?3 THEN kept ELSE "
                                     "coalesce(kept_shown, kept) END, ?2) "
                                     "FROM declarations WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, full);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    char *stored = NULL;
    if (e == CX_OK && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !(stored = strdup((const char *)sqlite3_column_text(st, 0))))
        e = CX_ENOMEM;
    sqlite3_reset(st);
    /* expanded after the reset: a hook may read on c */
    if (e == CX_OK && stored)
        e = decl__expanded_dup(d, c, stored, text);
    free(stored);
    return e;
}

cx_err decl_kept_after(decl_service *d, store_conn *c, const char *name, int64_t after,
                       int limit, int64_t *last, decl_kept_fn fn, void *ctx)
{
    *last = after;
    char path[80];
    if (!decl__member_path(name, path) || limit < 1)
        return CX_EINVAL;
    /* the primary key's range: `limit` rows whatever lies between; `->`
     * gives a record as JSON text whatever its type. The member is
     * extracted only for a row without a record: a deriving module reads
     * the record, and parsing the ~1.3 KB member of every row was most of
     * this read's time */
    sqlite3_stmt *st = store_stmt(c, "SELECT seq, doc, CASE WHEN kept_records -> ?2 IS NULL "
                                     "THEN json_extract(kept, ?2) END, kept_records -> ?2 "
                                     "FROM declarations WHERE seq > ?1 ORDER BY seq LIMIT ?3");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *last = sqlite3_column_int64(st, 0);
        const char *member = (const char *)sqlite3_column_text(st, 2);
        const char *record = (const char *)sqlite3_column_text(st, 3);
        char *wide = NULL; /* the member expanded (read on c while st steps) */
        if (member && decl__expanded_dup(d, c, member, &wide) != CX_OK) {
            rc = SQLITE_ERROR;
            break;
        }
        bool more = !(member || record) ||
                    fn(ctx, *last, (const char *)sqlite3_column_text(st, 1),
                       (size_t)sqlite3_column_bytes(st, 1), wide, record);
        free(wide);
        if (!more) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}
