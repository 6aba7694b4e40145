/* The HS classification assistant: an in-memory SQLite FTS5 index of the HS
 * 2022 subheadings, ranked with bm25. Each subheading is indexed with its own
 * text and, in a second column with less weight, the words of its heading and
 * chapter, so that "frozen boneless beef" finds 0202.30 through the heading
 * "Meat of bovine animals; frozen". A small list of trade words
 * (data/risk/hs-synonyms.csv: "beef" -> "bovine") widens the query.
 * The rowid is the code as a number, so ranking and ties need no column
 * read: a search takes ~0.1 ms, which matters because every submitted item
 * with a description is checked against its declared chapter. */
#include "risk_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define HS_MAX_TERMS 16
#define HS_MAX_SYN 256

struct risk_hs_index {
    sqlite3 *db;
    sqlite3_stmt *query;
    pthread_mutex_t mu;
    struct {
        char word[32];
        char expansion[160];
    } syn[HS_MAX_SYN];
    size_t nsyn;
};

static const char *const stopwords[] = {
    "a",   "an",   "and", "are",  "as",    "at",   "by",    "for",  "from", "in",
    "is",  "it",   "its", "of",   "on",    "or",   "the",   "to",   "with", "other",
    "not", "nec",  "new", "used", "parts", "made", "whether", "than", "such", "kind",
};

static bool hs__stop(const char *w)
{
    for (size_t i = 0; i < sizeof stopwords / sizeof *stopwords; i++)
        if (strcmp(stopwords[i], w) == 0)
            return true;
    return false;
}

static void hs__load_synonyms(risk_hs_index *ix)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/risk/hs-synonyms.csv", cx_data_dir());
    FILE *f = fopen(path, "r");
    if (!f)
        return; /* optional */
    char line[256];
    while (ix->nsyn < HS_MAX_SYN && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *comma = strchr(line, ',');
        if (!comma)
            continue;
        *comma = '\0';
        char *exp = comma + 1;
        exp[strcspn(exp, "\r\n")] = '\0';
        if (strcmp(line, "word") == 0)
            continue; /* header */
        snprintf(ix->syn[ix->nsyn].word, sizeof ix->syn[0].word, "%s", line);
        snprintf(ix->syn[ix->nsyn].expansion, sizeof ix->syn[0].expansion, "%s", exp);
        ix->nsyn++;
    }
    fclose(f);
}

void risk_hs_free(risk_hs_index *ix)
{
    if (!ix)
        return;
    sqlite3_finalize(ix->query);
    sqlite3_close(ix->db);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
}

cx_err risk_hs_open(risk_hs_index **out, char *err, size_t errlen)
{
    if (decl_hs_count() == 0) {
        snprintf(err, errlen, "the HS nomenclature is not loaded");
        return CX_ESTATE;
    }
    risk_hs_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return CX_ENOMEM;
    pthread_mutex_init(&ix->mu, NULL);
    hs__load_synonyms(ix);
    if (sqlite3_open_v2(":memory:", &ix->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(ix->db,
                     "CREATE VIRTUAL TABLE hs USING fts5(own, parents, "
                     "tokenize='porter unicode61 remove_diacritics 2');BEGIN",
                     NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot build the HS index (SQLite FTS5): %s",
                 ix->db ? sqlite3_errmsg(ix->db) : "out of memory");
        risk_hs_free(ix);
        return CX_EUNAVAIL;
    }
    sqlite3_stmt *ins = NULL;
    sqlite3_prepare_v2(ix->db, "INSERT INTO hs(rowid, own, parents) VALUES(?1, ?2, ?3)", -1,
                       &ins, NULL);
    cx_err e = ins ? CX_OK : CX_EDB;
    for (size_t i = 0; e == CX_OK && i < decl_hs_count(); i++) {
        const decl_hs_entry *h = decl_hs_at(i);
        if (h->level != 6)
            continue;
        char four[5], two[3];
        memcpy(four, h->code, 4);
        four[4] = '\0';
        memcpy(two, h->code, 2);
        two[2] = '\0';
        const decl_hs_entry *hh = decl_hs_find(four), *ch = decl_hs_find(two);
        char parents[2048];
        snprintf(parents, sizeof parents, "%s; %s", hh ? hh->description : "",
                 ch ? ch->description : "");
        int64_t code = 0;
        cx_parse_i64(h->code, &code); /* six digits: reference data checked at load */
        sqlite3_bind_int64(ins, 1, code);
        sqlite3_bind_text(ins, 2, h->description, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, parents, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE)
            e = CX_EDB;
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    if (e == CX_OK && sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        e = CX_EDB;
    /* Own words count most, the heading's and chapter's less. */
    if (e == CX_OK &&
        sqlite3_prepare_v2(ix->db,
                           "SELECT rowid, bm25(hs, 1.0, 0.4) AS s FROM hs "
                           "WHERE hs MATCH ?1 ORDER BY s, rowid LIMIT ?2",
                           -1, &ix->query, NULL) != SQLITE_OK)
        e = CX_EDB;
    if (e != CX_OK) {
        snprintf(err, errlen, "cannot build the HS index: %s", sqlite3_errmsg(ix->db));
        risk_hs_free(ix);
        return e;
    }
    *out = ix;
    return CX_OK;
}

/* FTS5 query text: every word (lowercase, stopwords dropped) as a quoted
 * term, widened by its synonyms, all OR-ed so that bm25 ranks by how many
 * and how rare the words are that match. */
static size_t hs__query(const risk_hs_index *ix, const char *text, char *q, size_t cap)
{
    size_t o = 0, terms = 0;
    q[0] = '\0';
    const unsigned char *p = (const unsigned char *)text;
    while (*p && terms < HS_MAX_TERMS) {
        while (*p && !(isalnum(*p) || *p >= 0x80))
            p++;
        char w[32];
        size_t n = 0;
        while (*p && (isalnum(*p) || *p >= 0x80)) {
            if (n + 1 < sizeof w)
                w[n++] = (char)tolower(*p);
            p++;
        }
        w[n] = '\0';
        if (n < 2 || hs__stop(w))
            continue;
        const char *exp = NULL;
        for (size_t i = 0; i < ix->nsyn; i++)
            if (strcmp(ix->syn[i].word, w) == 0)
                exp = ix->syn[i].expansion;
        char part[256];
        int len;
        if (exp) {
            /* "beef" -> ("beef" OR "bovine"); expansions are space-separated */
            len = snprintf(part, sizeof part, "%s(\"%s\"", terms ? " OR " : "", w);
            const char *e = exp;
            while (*e && len > 0 && (size_t)len < sizeof part) {
                while (*e == ' ')
                    e++;
                size_t m = strcspn(e, " ");
                bool same = m == strlen(w) && strncmp(e, w, m) == 0;
                if (m && !same && strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789") >= m)
                    len += snprintf(part + len, sizeof part - (size_t)len, " OR \"%.*s\"",
                                    (int)m, e);
                e += m;
            }
            if (len > 0 && (size_t)len < sizeof part)
                len += snprintf(part + len, sizeof part - (size_t)len, ")");
        } else {
            len = snprintf(part, sizeof part, "%s\"%s\"", terms ? " OR " : "", w);
        }
        if (len <= 0 || (size_t)len >= sizeof part || o + (size_t)len + 1 > cap)
            break;
        memcpy(q + o, part, (size_t)len + 1);
        o += (size_t)len;
        terms++;
    }
    return terms;
}

cx_err risk_hs_search(risk_hs_index *ix, const char *text, risk_hs_hit *hits, size_t max,
                      size_t *n)
{
    *n = 0;
    char q[4096];
    if (max == 0 || hs__query(ix, text ? text : "", q, sizeof q) == 0)
        return CX_OK;
    pthread_mutex_lock(&ix->mu);
    sqlite3_bind_text(ix->query, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ix->query, 2, (sqlite3_int64)max);
    int rc;
    while ((rc = sqlite3_step(ix->query)) == SQLITE_ROW && *n < max) {
        risk_hs_hit *hit = &hits[*n];
        snprintf(hit->code, sizeof hit->code, "%06lld",
                 (long long)sqlite3_column_int64(ix->query, 0));
        const decl_hs_entry *h = decl_hs_find(hit->code);
        hit->description = h ? h->description : "";
        hit->score = -sqlite3_column_double(ix->query, 1);
        (*n)++;
    }
    cx_err e = rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
    if (e != CX_OK)
        cx_log(CX_LOG_WARN, "hs search: %s", sqlite3_errmsg(ix->db));
    sqlite3_reset(ix->query);
    sqlite3_clear_bindings(ix->query);
    pthread_mutex_unlock(&ix->mu);
    return e;
}
