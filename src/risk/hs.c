/* The HS classification assistant: an in-memory SQLite FTS5 index of the HS
 * 2022 subheadings, ranked with bm25, then re-ranked by what the words say.
 *
 * Each subheading is indexed with its own text and, in a second column with
 * less weight, its heading's and chapter's, so that "frozen boneless beef"
 * finds 0202.30 through the heading "Meat of bovine animals; frozen". A short
 * list of trade words (data/risk/hs-synonyms.csv: "beef" -> "bovine") widens
 * the query.
 *
 * bm25 alone counts words, and the nomenclature's words are often said in
 * the negative ("excluding fillets", "not roasted", "other than pure-bred")
 * or name the state of the goods, which decides the subheading more than
 * anything else: "frozen shrimps" are 0306.16/17, not the shorter "shrimps
 * and prawns, prepared or preserved" of 1605 nor the "live, fresh or chilled"
 * shrimps of 0306.35/36. So each description is read clause by clause:
 * words after "excluding", "except", "without", "other than" or "not" (up to
 * the next comma, semicolon or bracket) are negated and left out of the
 * index; "whether or not X" and "X or not" leave X open; state words (live,
 * fresh, chilled, frozen, dried, salted, smoked, cooked, roasted, prepared or
 * preserved, decaffeinated, bleached, dyed, printed, …) are noted as said or
 * negated, and a subheading that names no state of a kind takes its
 * heading's. The best bm25 candidates are then weighed: a state the query
 * asks for that the subheading says ×1.3; one it negates or contradicts
 * (another state of the same kind) ×0.7; a query word the subheading
 * excludes ×0.7. The ranking set in tests/unit/data/hs-ranking.tsv holds the
 * cases this is measured on.
 *
 * The rowid is the code as a number, so ranking and ties need no column
 * read: a search takes ~0.1 ms, which matters because every submitted item
 * with a description is checked against its declared chapter. */
#include "risk_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define HS_MAX_TERMS 16
#define HS_MAX_SYN 256
#define HS_CANDIDATES 80 /* bm25's best, re-ranked */
#define HS_MATCH 1.5
#define HS_CONFLICT 0.6

/* ---- reading a description ------------------------------------------------------ */

enum {
    ST_LIVE,
    ST_FRESH,
    ST_CHILLED,
    ST_FROZEN,
    ST_DRIED,
    ST_SALTED,
    ST_SMOKED,
    ST_COOKED,
    ST_ROASTED,
    ST_PREPARED,
    ST_DECAF,
    ST_BLEACHED,
    ST_UNBLEACHED,
    ST_DYED,
    ST_PRINTED,
    ST__COUNT
};

/* Kinds of state: only states of one kind contradict each other. */
enum { KIND_FOOD, KIND_DECAF, KIND_TEXTILE, KIND__COUNT };
static const uint8_t state_kind[ST__COUNT] = {
    KIND_FOOD, KIND_FOOD, KIND_FOOD,  KIND_FOOD,    KIND_FOOD,    KIND_FOOD,    KIND_FOOD,    KIND_FOOD,
    KIND_FOOD, KIND_FOOD, KIND_DECAF, KIND_TEXTILE, KIND_TEXTILE, KIND_TEXTILE, KIND_TEXTILE,
};

static const struct {
    const char *word;
    uint8_t state;
} state_words[] = {
    {"live", ST_LIVE},         {"alive", ST_LIVE},
    {"fresh", ST_FRESH},       {"chilled", ST_CHILLED},
    {"refrigerated", ST_CHILLED}, {"frozen", ST_FROZEN},
    {"freeze", ST_FROZEN},     {"dried", ST_DRIED},
    {"dry", ST_DRIED},         {"dehydrated", ST_DRIED},
    {"salted", ST_SALTED},     {"brine", ST_SALTED},
    {"smoked", ST_SMOKED},     {"cooked", ST_COOKED},
    {"boiled", ST_COOKED},     {"steamed", ST_COOKED},
    {"roasted", ST_ROASTED},   {"prepared", ST_PREPARED},
    {"preserved", ST_PREPARED}, {"canned", ST_PREPARED},
    {"tinned", ST_PREPARED},   {"decaffeinated", ST_DECAF},
    {"decaf", ST_DECAF},       {"bleached", ST_BLEACHED},
    {"unbleached", ST_UNBLEACHED}, {"dyed", ST_DYED},
    {"printed", ST_PRINTED},
};

static int hs__state(const char *w)
{
    for (size_t i = 0; i < sizeof state_words / sizeof *state_words; i++)
        if (strcmp(state_words[i].word, w) == 0)
            return state_words[i].state;
    return -1;
}

/* Fresh and chilled go together in the nomenclature ("fresh or chilled"). */
static uint32_t hs__widen(uint32_t states)
{
    const uint32_t fc = 1u << ST_FRESH | 1u << ST_CHILLED;
    return states & fc ? states | fc : states;
}

static uint32_t hs__kind_mask(int kind)
{
    uint32_t m = 0;
    for (int s = 0; s < ST__COUNT; s++)
        if (state_kind[s] == kind)
            m |= 1u << s;
    return m;
}

/* A description read clause by clause: the words it says (for the index
 * and the query), the words it negates, the states it says and negates. */
typedef struct {
    char pos[2048];
    size_t npos;
    char neg[512];
    size_t nneg;
    uint32_t yes, no;
} hs_text;

static void hs__add(char *buf, size_t cap, size_t *len, const char *w)
{
    size_t n = strlen(w);
    if (*len + n + 2 > cap)
        return;
    if (*len)
        buf[(*len)++] = ' ';
    memcpy(buf + *len, w, n + 1);
    *len += n;
}

/* Plural and singular compare equal ("fillets", "fillet"). */
static size_t hs__stem_len(const char *w, size_t n)
{
    if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's')
        return n - 1;
    return n;
}

static bool hs__is_word_char(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

static void hs__scan(const char *text, hs_text *t)
{
    memset(t, 0, sizeof *t);
    enum { SAY, NEGATE, OPEN } mode = SAY;
    char prev[32] = "", prev2[32] = "";
    int prev2_state = -1, prev_state = -1;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        bool brk = false;
        while (*p && !hs__is_word_char(*p)) {
            if (strchr(",;:()[]", *p))
                brk = true;
            p++;
        }
        if (!*p)
            break;
        if (brk) {
            mode = SAY;
            prev[0] = prev2[0] = '\0';
            prev_state = prev2_state = -1;
        }
        char w[32];
        size_t n = 0;
        while (*p && hs__is_word_char(*p)) {
            if (n + 1 < sizeof w)
                w[n++] = (char)tolower(*p);
            p++;
        }
        w[n] = '\0';
        int st = hs__state(w);
        if (strcmp(w, "not") == 0 && strcmp(prev, "or") == 0) {
            if (strcmp(prev2, "whether") == 0)
                mode = OPEN; /* "whether or not minced": either */
            else if (prev2_state >= 0)
                t->yes &= ~(1u << prev2_state); /* "cooked or not": either */
        } else if (strcmp(w, "not") == 0 || strcmp(w, "excluding") == 0 ||
                   strcmp(w, "except") == 0 || strcmp(w, "without") == 0 ||
                   (strcmp(w, "than") == 0 && strcmp(prev, "other") == 0)) {
            mode = NEGATE;
        } else if (strcmp(w, "whether") != 0 && strcmp(w, "or") != 0) {
            if (mode == NEGATE) {
                hs__add(t->neg, sizeof t->neg, &t->nneg, w);
                if (st >= 0)
                    t->no |= 1u << st;
            } else {
                hs__add(t->pos, sizeof t->pos, &t->npos, w);
                if (st >= 0 && mode == SAY)
                    t->yes |= 1u << st;
            }
        }
        snprintf(prev2, sizeof prev2, "%s", prev);
        snprintf(prev, sizeof prev, "%s", w);
        prev2_state = prev_state;
        prev_state = st;
    }
    t->yes &= ~t->no;
}

/* ---- the index ----------------------------------------------------------------- */

typedef struct {
    uint32_t code;
    uint32_t yes, no; /* states, the heading's where the subheading names none of a kind */
    char *neg;        /* negated words, space-separated; NULL if none */
} hs_meta;

struct risk_hs_index {
    sqlite3 *db;
    sqlite3_stmt *query;
    pthread_mutex_t mu;
    struct {
        char word[32];
        char expansion[160];
    } syn[HS_MAX_SYN];
    size_t nsyn;
    hs_meta *meta; /* by code */
    size_t nmeta;
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
    for (size_t i = 0; i < ix->nmeta; i++)
        free(ix->meta[i].neg);
    free(ix->meta);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
}

/* One subheading into the index and its reading into meta. */
static cx_err hs__add_entry(risk_hs_index *ix, sqlite3_stmt *ins, const decl_hs_entry *h)
{
    char four[5], two[3];
    memcpy(four, h->code, 4);
    four[4] = '\0';
    memcpy(two, h->code, 2);
    two[2] = '\0';
    const decl_hs_entry *hh = decl_hs_find(four), *ch = decl_hs_find(two);
    hs_text own, head, chap;
    hs__scan(h->description, &own);
    hs__scan(hh ? hh->description : "", &head);
    hs__scan(ch ? ch->description : "", &chap);
    char parents[4200];
    snprintf(parents, sizeof parents, "%s; %s", head.pos, chap.pos);
    hs_meta *m = &ix->meta[ix->nmeta];
    m->code = (uint32_t)strtoul(h->code, NULL, 10);
    m->yes = own.yes;
    m->no = own.no;
    for (int k = 0; k < KIND__COUNT; k++) {
        uint32_t km = hs__kind_mask(k);
        if (!((own.yes | own.no) & km)) {
            m->yes |= head.yes & km;
            m->no |= head.no & km;
        }
    }
    m->neg = own.nneg ? strdup(own.neg) : NULL;
    if (own.nneg && !m->neg)
        return CX_ENOMEM;
    ix->nmeta++;
    sqlite3_bind_int64(ins, 1, m->code);
    sqlite3_bind_text(ins, 2, own.pos, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 3, parents, -1, SQLITE_TRANSIENT);
    cx_err e = sqlite3_step(ins) == SQLITE_DONE ? CX_OK : CX_EDB;
    sqlite3_reset(ins);
    return e;
}

cx_err risk_hs_open(risk_hs_index **out, char *err, size_t errlen)
{
    if (decl_hs_count() == 0) {
        snprintf(err, errlen, "the HS nomenclature is not loaded");
        return CX_ESTATE;
    }
    risk_hs_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->meta = calloc(decl_hs_count(), sizeof *ix->meta))) {
        free(ix);
        return CX_ENOMEM;
    }
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
    /* decl_hs_at is sorted by code: so is meta */
    for (size_t i = 0; e == CX_OK && i < decl_hs_count(); i++)
        if (decl_hs_at(i)->level == 6)
            e = hs__add_entry(ix, ins, decl_hs_at(i));
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

/* ---- searching ------------------------------------------------------------------ */

/* The query's words of one sort (state words, or the others: the goods) as
 * quoted FTS5 terms, each widened by its synonyms, OR-ed; returns how many. */
static size_t hs__terms(const risk_hs_index *ix, const hs_text *t, bool states, char *q,
                        size_t cap)
{
    size_t o = 0, terms = 0;
    q[0] = '\0';
    for (const char *p = t->pos; *p && terms < HS_MAX_TERMS;) {
        size_t n = strcspn(p, " ");
        char w[32];
        snprintf(w, sizeof w, "%.*s", (int)n, p);
        p += n + (p[n] == ' ');
        if (n < 2 || hs__stop(w) || (hs__state(w) >= 0) != states)
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
                /* "ground+nuts" is the phrase "ground nuts" (the HS's "ground-nuts") */
                char phrase[64];
                if (m && m < sizeof phrase && !same &&
                    strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789+") >= m) {
                    for (size_t k = 0; k <= m; k++)
                        phrase[k] = k == m ? '\0' : e[k] == '+' ? ' ' : e[k];
                    len += snprintf(part + len, sizeof part - (size_t)len, " OR \"%s\"", phrase);
                }
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

/* FTS5 query text, OR-ed so that bm25 ranks by how many and how rare the
 * words are that match. With goods words and state words, the goods must
 * match and the states count in the rank ((G) AND (G OR S)): "frozen" alone
 * would find frozen anything, and without it "dried fish" would find the
 * shortest fish texts, not the dried ones. */
static bool hs__query(const risk_hs_index *ix, const hs_text *t, char *q, size_t cap)
{
    char goods[2048], states[1024];
    size_t ng = hs__terms(ix, t, false, goods, sizeof goods);
    size_t ns = hs__terms(ix, t, true, states, sizeof states);
    int w;
    if (ng && ns)
        w = snprintf(q, cap, "(%s) AND (%s OR %s)", goods, goods, states);
    else
        w = snprintf(q, cap, "%s", ng ? goods : states);
    return (ng || ns) && w > 0 && (size_t)w < cap;
}

static const hs_meta *hs__meta(const risk_hs_index *ix, uint32_t code)
{
    size_t lo = 0, hi = ix->nmeta;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ix->meta[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->nmeta && ix->meta[lo].code == code ? &ix->meta[lo] : NULL;
}

/* Does the space-separated list hold word w (plural or singular)? */
static bool hs__listed(const char *list, const char *w, size_t wn)
{
    size_t ws = hs__stem_len(w, wn);
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, " ");
        if (hs__stem_len(p, n) == ws && strncmp(p, w, ws) == 0)
            return true;
        p += n + (p[n] == ' ');
    }
    return false;
}

/* How much the query's states and words agree with a subheading. */
static double hs__weigh(const hs_text *q, const hs_meta *m)
{
    double f = 1;
    uint32_t qyes = hs__widen(q->yes), myes = hs__widen(m->yes);
    for (int k = 0; k < KIND__COUNT; k++) {
        uint32_t km = hs__kind_mask(k);
        uint32_t want = qyes & km, unwanted = q->no & km;
        if (!(want | unwanted) || !((myes | m->no) & km))
            continue; /* the query or the subheading says nothing of this kind */
        /* "prepared or preserved" covers salting, smoking, cooking, roasting */
        uint32_t covers = myes & 1u << ST_PREPARED
                              ? myes | 1u << ST_SALTED | 1u << ST_SMOKED | 1u << ST_COOKED |
                                    1u << ST_ROASTED
                              : myes;
        /* "not roasted or otherwise cooked": raw, so not salted or smoked either */
        const uint32_t processed = 1u << ST_SALTED | 1u << ST_SMOKED | 1u << ST_COOKED |
                                   1u << ST_ROASTED | 1u << ST_PREPARED;
        if ((want & myes) || (unwanted & m->no))
            f *= HS_MATCH;
        else if ((want & m->no) || (unwanted & myes) || (want && (myes & km) && !(want & covers)) ||
                 ((want & processed) && (m->no & processed)))
            f *= HS_CONFLICT;
    }
    /* "salmon fillets" against "fish meat, excluding fillets" */
    for (const char *p = q->pos; *p;) {
        size_t n = strcspn(p, " ");
        if (n >= 3 && hs__listed(m->neg, p, n))
            f *= HS_CONFLICT;
        p += n + (p[n] == ' ');
    }
    return f;
}

static int hs__by_score(const void *a, const void *b)
{
    const risk_hs_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->code, y->code);
}

cx_err risk_hs_search(risk_hs_index *ix, const char *text, risk_hs_hit *hits, size_t max,
                      size_t *n)
{
    *n = 0;
    char q[8192];
    hs_text qt;
    hs__scan(text ? text : "", &qt);
    if (max == 0 || !hs__query(ix, &qt, q, sizeof q))
        return CX_OK;
    risk_hs_hit cand[HS_CANDIDATES];
    size_t nc = 0, want = max * 4 > HS_CANDIDATES ? HS_CANDIDATES : max * 4;
    if (want < 40)
        want = 40;
    pthread_mutex_lock(&ix->mu);
    sqlite3_bind_text(ix->query, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ix->query, 2, (sqlite3_int64)want);
    int rc;
    while ((rc = sqlite3_step(ix->query)) == SQLITE_ROW && nc < want) {
        risk_hs_hit *hit = &cand[nc];
        uint32_t code = (uint32_t)sqlite3_column_int64(ix->query, 0);
        snprintf(hit->code, sizeof hit->code, "%06u", (unsigned)code);
        const decl_hs_entry *h = decl_hs_find(hit->code);
        const hs_meta *m = hs__meta(ix, code);
        hit->description = h ? h->description : "";
        hit->score = -sqlite3_column_double(ix->query, 1) * (m ? hs__weigh(&qt, m) : 1);
        nc++;
    }
    cx_err e = rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
    if (e != CX_OK)
        cx_log(CX_LOG_WARN, "hs search: %s", sqlite3_errmsg(ix->db));
    sqlite3_reset(ix->query);
    sqlite3_clear_bindings(ix->query);
    pthread_mutex_unlock(&ix->mu);
    qsort(cand, nc, sizeof *cand, hs__by_score);
    *n = nc < max ? nc : max;
    memcpy(hits, cand, *n * sizeof *hits);
    return e;
}
