/* The tariff lines' immutable texts: what a stored assessment refers to
 * instead of copying each item's tariff line.
 *
 * An item's `tariff_line` object repeats the tariff and was ~45 % of the
 * member declare keeps with every declaration; those bytes made each
 * assessed declaration's row start a page of its own at commit. A line
 * itself may change (an import replaces a version with the same code and
 * valid_from, or ends an open one), so the member cannot refer to the
 * tariff's row: it refers to a text in revenue_line_texts, content
 * addressed (UNIQUE(text)), written by the import in its job and never
 * updated or deleted. Each revenue_tariff row names the text of its
 * current content (text_id; an import that changes the row clears it and
 * fills it again in the same job). The stored member holds
 * "tariff_line":ID; every read through declare's door expands it back to
 * the very bytes the object had (rev__line_text writes them as the
 * member's writer does), so the 201, reads, lists, exports and revenue's
 * own reads are what they were. Rows stored before hold the object and
 * are passed through untouched. */
#include "revenue_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LT_CACHE_MAX 65536 /* line versions; ~250 bytes each */

void rev__linecache_init(rev_linecache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    cx_map_init(&c->ids);
}

static void lt__empty(rev_linecache *c)
{
    for (size_t i = 0; i < REV_LT_SEEN; i++)
        atomic_store_explicit(&c->seen[i], 0, memory_order_relaxed);
    for (size_t i = 0; i < c->ids.n; i++)
        free(c->texts[i]);
    cx_map_free(&c->ids);
    cx_map_init(&c->ids);
}

void rev__linecache_free(rev_linecache *c)
{
    lt__empty(c);
    free(c->texts);
    pthread_mutex_destroy(&c->mu);
}

/* Takes text (malloc'd) into the cache unless id is there already; returns
 * the cached text's copy length, 0 on failure. Under c->mu. */
static void lt__put(rev_linecache *c, int64_t id, char *text)
{
    if (cx_map_iget(&c->ids, id) >= 0) {
        free(text);
        return;
    }
    if (c->ids.n >= LT_CACHE_MAX)
        lt__empty(c);
    size_t at = c->ids.n;
    if (!cx_grow((void **)&c->texts, &c->cap, at + 1, sizeof *c->texts) ||
        cx_map_iset(&c->ids, id, (int64_t)at) != CX_OK) {
        free(text);
        return;
    }
    c->texts[at] = text;
}

int64_t rev__line_ref(void *ctx, const rev_tariff_line *l)
{
    rev_linecache *c = ctx;
    if (l->text_id <= 0)
        return 0;
    /* the lock and the map's cold lines cost every item of every
     * submission; a line the cache holds is seen here most of the time */
    _Atomic int64_t *seen = &c->seen[(uint64_t)l->text_id % REV_LT_SEEN];
    if (atomic_load_explicit(seen, memory_order_relaxed) == l->text_id)
        return l->text_id;
    pthread_mutex_lock(&c->mu);
    bool have = cx_map_iget(&c->ids, l->text_id) >= 0;
    if (have)
        atomic_store_explicit(seen, l->text_id, memory_order_relaxed);
    pthread_mutex_unlock(&c->mu);
    if (have)
        return l->text_id;
    /* the book's line is the row the text was made from: the same bytes */
    char *t = rev__line_text(l);
    if (!t)
        return 0;
    pthread_mutex_lock(&c->mu);
    lt__put(c, l->text_id, t);
    if (cx_map_iget(&c->ids, l->text_id) >= 0)
        atomic_store_explicit(seen, l->text_id, memory_order_relaxed);
    pthread_mutex_unlock(&c->mu);
    return l->text_id;
}

/* Appends the text of line version id: from the cache, else read on c. */
static cx_err lt__append(rev_linecache *c, store_conn *conn, int64_t id, cx_buf *out)
{
    pthread_mutex_lock(&c->mu);
    int64_t at = cx_map_iget(&c->ids, id);
    cx_err e = at >= 0 ? cx_buf_puts(out, c->texts[at]) : CX_ENOTFOUND;
    pthread_mutex_unlock(&c->mu);
    if (e != CX_ENOTFOUND)
        return e;
    sqlite3_stmt *st = conn ? store_stmt(conn, "SELECT text FROM revenue_line_texts WHERE id=?1")
                            : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, id);
    char *t = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        t = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (!t)
        return CX_ENOMEM;
    e = cx_buf_puts(out, t);
    pthread_mutex_lock(&c->mu);
    lt__put(c, id, t);
    pthread_mutex_unlock(&c->mu);
    return e;
}

cx_err rev__line_put(rev_linecache *c, store_conn *conn, int64_t id, cx_buf *out)
{
    if (!c)
        return rev__json_int(out, id);
    cx_err e = lt__append(c, conn, id, out);
    if (e == CX_ENOTFOUND) {
        /* a stored member refers to a text that is not there: the
         * database lost it. Never a reader's "not found" (declare's GET
         * would answer 404 for a declaration that exists) nor a list
         * that goes on with a half-written item: a database failure,
         * named here since no reply says which text */
        cx_log(CX_LOG_ERROR, "revenue: tariff line text %lld, referred to by a stored "
                             "assessment, is missing from revenue_line_texts",
               (long long)id);
        e = CX_EDB;
    }
    return e;
}

/* "tariff_line": as a key cannot occur inside a JSON string (its quotes
 * would be escaped there), so every occurrence is an item's member. */
static const char lt_key[] = "\"tariff_line\":";

/* A full-form member's references (c NULL: as they are). */
static cx_err lt__refs(rev_linecache *c, store_conn *conn, const char *text, size_t len,
                       cx_buf *out)
{
    if (!c)
        return cx_buf_append(out, text, len);
    const size_t kl = sizeof lt_key - 1;
    const char *p = text, *end = text + len;
    cx_err e = CX_OK;
    while (e == CX_OK) {
        const char *k = memmem(p, (size_t)(end - p), lt_key, kl);
        const char *v = k ? k + kl : end;
        if (!k || v >= end || *v < '0' || *v > '9') { /* none, or an object or null */
            e = cx_buf_append(out, p, (size_t)(v - p));
            if (!k)
                break;
            p = v;
            continue;
        }
        e = cx_buf_append(out, p, (size_t)(v - p));
        int64_t id = 0;
        while (v < end && *v >= '0' && *v <= '9' && id < INT64_MAX / 10)
            id = id * 10 + (*v++ - '0');
        if (v < end && *v >= '0' && *v <= '9') /* no id this module wrote: damaged */
            return CX_EPARSE;
        e = e ? e : rev__line_put(c, conn, id, out);
        p = v;
    }
    return e;
}

cx_err rev__line_expand(rev_linecache *c, store_conn *conn, const char *text, size_t len,
                        cx_buf *out)
{
    /* compact members (compact.c) wherever they are; the rest is full form */
    const size_t tl = strlen(rev_compact_tag);
    const char *p = text, *end = text + len;
    cx_err e = CX_OK;
    while (e == CX_OK && p < end) {
        const char *k = memmem(p, (size_t)(end - p), rev_compact_tag, tl);
        e = lt__refs(c, conn, p, (size_t)((k ? k : end) - p), out);
        if (!k || e != CX_OK)
            break;
        size_t used = 0;
        e = rev__compact_expand(c, conn, k, (size_t)(end - k), &used, out);
        p = k + used;
    }
    return e;
}

/* ---- the texts, written by the import (and once for older databases) ---- */
typedef struct {
    int64_t row;
    char *text;
} lt_pending;

cx_err rev__line_texts_fill(store_conn *w)
{
    sqlite3_stmt *st = store_stmt(w, "SELECT hs_code, valid_from, valid_to, duty_type, "
                                     "ad_valorem_pct, specific_amount, specific_unit, "
                                     "excise_pct, vat_pct, description, id FROM revenue_tariff "
                                     "WHERE text_id IS NULL");
    if (!st)
        return CX_EDB;
    lt_pending *p = NULL;
    size_t n = 0, cap = 0;
    cx_err e = CX_OK;
    int rc;
    /* collected first: the rows are updated below */
    while (e == CX_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rev_tariff_line l;
        e = rev__tariff_row_line(st, &l);
        if (e == CX_OK && !cx_grow((void **)&p, &cap, n + 1, sizeof *p))
            e = CX_ENOMEM;
        if (e == CX_OK) {
            p[n].row = sqlite3_column_int64(st, 10);
            p[n].text = rev__line_text(&l);
            e = p[n++].text ? CX_OK : CX_ENOMEM;
        }
    }
    sqlite3_reset(st);
    sqlite3_stmt *ins = e == CX_OK ? store_stmt(w, "INSERT OR IGNORE INTO "
                                                   "revenue_line_texts(text) VALUES(?1)")
                                   : NULL;
    sqlite3_stmt *get = ins ? store_stmt(w, "SELECT id FROM revenue_line_texts WHERE text=?1")
                            : NULL;
    sqlite3_stmt *upd = get ? store_stmt(w, "UPDATE revenue_tariff SET text_id=?2 WHERE id=?1")
                            : NULL;
    if (e == CX_OK && !upd)
        e = CX_EDB;
    for (size_t i = 0; e == CX_OK && i < n; i++) {
        sqlite3_bind_text(ins, 1, p[i].text, -1, SQLITE_STATIC);
        e = store_done(ins);
        sqlite3_bind_text(get, 1, p[i].text, -1, SQLITE_STATIC);
        int64_t id = 0;
        if (e == CX_OK && store_next(get, &e))
            id = sqlite3_column_int64(get, 0);
        sqlite3_reset(get);
        if (e == CX_OK && id <= 0)
            e = CX_EDB;
        if (e == CX_OK) {
            sqlite3_bind_int64(upd, 1, p[i].row);
            sqlite3_bind_int64(upd, 2, id);
            e = store_done(upd);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(p[i].text);
    free(p);
    return e;
}

bool rev__line_texts_missing(store *s)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT 1 FROM revenue_tariff WHERE text_id IS NULL "
                                         "LIMIT 1")
                         : NULL;
    if (!st)
        return true; /* the job finds out */
    cx_err e = CX_OK;
    bool any = store_next(st, &e) || e != CX_OK; /* unreadable: the job finds out */
    sqlite3_reset(st);
    return any;
}
