/* The tariff book: sorted arrays of lines, preferences, group members and
 * rates, searched by binary search (no caller-chosen key can make a lookup
 * slow, and there is no hash to flood). The lines, searched once per
 * prefix length on every item of every submission, also have a dense
 * index of integer keys by heading (rev_book_finish): a search reads the
 * heading's bounds and a few 8-byte keys rather than a 130-byte line a
 * probe over the whole tariff. */
#include "revenue_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const duty_names[] = {"ad_valorem", "specific", "compound", "max_of",
                                         "min_of"};

const char *rev_duty_type_name(rev_duty_type t)
{
    return (unsigned)t < sizeof duty_names / sizeof *duty_names ? duty_names[t] : "?";
}

rev_book *rev_book_new(const char *currency)
{
    rev_book *b = calloc(1, sizeof *b);
    if (b)
        snprintf(b->currency, sizeof b->currency, "%s", currency ? currency : "");
    return b;
}

void rev_book_free(rev_book *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nlines; i++)
        free(b->lines[i].description);
    free(b->lines);
    free(b->lkeys);
    free(b->lhead);
    free(b->prefs);
    free(b->groups);
    free(b->rates);
    free(b);
}

const char *rev_book_currency(const rev_book *b)
{
    return b->currency;
}

size_t rev_book_lines(const rev_book *b)
{
    return b->nlines;
}

/* Appends a copy of row (size sz) to an array, growing it by doubling. */
static cx_err book__push(void **arr, size_t *cap, size_t *n, size_t sz, const void *row)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void *p = realloc(*arr, nc * sz);
        if (!p)
            return CX_ENOMEM;
        *arr = p;
        *cap = nc;
    }
    memcpy((char *)*arr + *n * sz, row, sz);
    (*n)++;
    return CX_OK;
}

cx_err rev_book_add_line(rev_book *b, const rev_tariff_line *l)
{
    rev_tariff_line copy = *l;
    if (!(copy.description = strdup(l->description ? l->description : "")))
        return CX_ENOMEM;
    cx_err e = book__push((void **)&b->lines, &b->caplines, &b->nlines, sizeof copy, &copy);
    if (e != CX_OK)
        free(copy.description);
    return e;
}

cx_err rev_book_add_preference(rev_book *b, const rev_preference *p)
{
    return book__push((void **)&b->prefs, &b->capprefs, &b->nprefs, sizeof *p, p);
}

cx_err rev_book_add_group(rev_book *b, const rev_group_member *g)
{
    return book__push((void **)&b->groups, &b->capgroups, &b->ngroups, sizeof *g, g);
}

cx_err rev_book_add_rate(rev_book *b, const rev_rate *r)
{
    return book__push((void **)&b->rates, &b->caprates, &b->nrates, sizeof *r, r);
}

static int book__line_cmp(const void *a, const void *b)
{
    const rev_tariff_line *x = a, *y = b;
    int c = strcmp(x->hs_code, y->hs_code);
    return c ? c : strcmp(x->valid_from, y->valid_from);
}

static int book__pref_cmp(const void *a, const void *b)
{
    const rev_preference *x = a, *y = b;
    int c = strcmp(x->hs_code, y->hs_code);
    if (!c)
        c = strcmp(x->origin, y->origin);
    return c ? c : strcmp(x->valid_from, y->valid_from);
}

static int book__group_cmp(const void *a, const void *b)
{
    const rev_group_member *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->country, y->country);
}

static int book__rate_cmp(const void *a, const void *b)
{
    const rev_rate *x = a, *y = b;
    int c = strcmp(x->currency, y->currency);
    return c ? c : strcmp(x->date, y->date);
}

static const uint64_t book_p10[REV_HS_MAX + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000};

/* The first n (<= REV_HS_MAX) characters of code, all digits, padded with
 * zeros to REV_HS_MAX digits. */
static uint64_t book__pad(const char *code, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < REV_HS_MAX; i++)
        v = v * 10 + (i < n ? (uint64_t)(code[i] - '0') : 0);
    return v;
}

/* The key of a code of len digits whose padded value is pad: ordered as
 * strcmp orders the codes (a prefix pads to no more than the longer code
 * and has the smaller length; otherwise the first differing digit decides
 * the padded value). */
static uint64_t book__key(uint64_t pad, size_t len)
{
    return pad * 16 + len;
}

/* Builds the lines' index, or leaves none (the lookup then searches the
 * lines themselves). */
static void book__index_lines(rev_book *b)
{
    free(b->lkeys);
    free(b->lhead);
    b->lkeys = NULL;
    b->lhead = NULL;
    b->llens = 0;
    if (!b->nlines || b->nlines > UINT32_MAX)
        return;
    uint64_t *k = malloc(b->nlines * sizeof *k);
    if (!k)
        return;
    uint32_t lens = 0;
    for (size_t i = 0; i < b->nlines; i++) {
        const char *c = b->lines[i].hs_code;
        size_t n = strlen(c);
        if (n < 2 || n > REV_HS_MAX || strspn(c, "0123456789") != n) {
            free(k);
            return;
        }
        k[i] = book__key(book__pad(c, n), n);
        lens |= 1u << n;
    }
    uint32_t *head = malloc((REV_HEADINGS + 1) * sizeof *head);
    if (!head) {
        free(k);
        return;
    }
    size_t i = 0;
    for (uint64_t h = 0; h <= REV_HEADINGS; h++) { /* the first line of heading >= h */
        while (i < b->nlines && k[i] / 16 / book_p10[REV_HS_MAX - 4] < h)
            i++;
        head[h] = (uint32_t)i;
    }
    b->lkeys = k;
    b->lhead = head;
    b->llens = lens;
}

void rev_book_finish(rev_book *b)
{
    if (b->nlines)
        qsort(b->lines, b->nlines, sizeof *b->lines, book__line_cmp);
    book__index_lines(b);
    if (b->nprefs)
        qsort(b->prefs, b->nprefs, sizeof *b->prefs, book__pref_cmp);
    if (b->ngroups)
        qsort(b->groups, b->ngroups, sizeof *b->groups, book__group_cmp);
    if (b->nrates)
        qsort(b->rates, b->nrates, sizeof *b->rates, book__rate_cmp);
}

static bool book__valid_on(const char *from, const char *to, const char *date)
{
    return strcmp(from, date) <= 0 && (!to[0] || strcmp(date, to) <= 0);
}

/* First index in lines whose hs_code is >= code (lower bound). */
static size_t book__lines_lower(const rev_book *b, const char *code)
{
    size_t lo = 0, hi = b->nlines;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(b->lines[mid].hs_code, code) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The line of a code among lines [i, ...) of that code, valid on date. */
static const rev_tariff_line *book__version(const rev_book *b, size_t i, size_t end,
                                            const char *date)
{
    /* versions of one code do not overlap (the import refuses it): the
     * last one starting on or before date is the only candidate */
    const rev_tariff_line *best = NULL;
    for (; i < end; i++) {
        if (strcmp(b->lines[i].valid_from, date) > 0)
            break;
        best = &b->lines[i];
    }
    return best && book__valid_on(best->valid_from, best->valid_to, date) ? best : NULL;
}

/* rev_book_line on the index: the code's prefixes are digits (a line's
 * code is), so the longest candidate is hs's leading digits; each length
 * some line has is searched among the keys of its heading (a 2- or 3-digit
 * code pads to the heading ending in zeros). */
static const rev_tariff_line *book__line_indexed(const rev_book *b, const char *hs, size_t n,
                                                 const char *date)
{
    size_t d = 0;
    while (d < n && hs[d] >= '0' && hs[d] <= '9')
        d++;
    if (d < 2)
        return NULL;
    uint64_t pad = book__pad(hs, d);
    const uint64_t *k = b->lkeys;
    for (size_t len = d; len >= 2; len--) {
        if (!(b->llens >> len & 1))
            continue;
        uint64_t unit = book_p10[REV_HS_MAX - len], p = pad / unit * unit;
        uint64_t key = book__key(p, len), h = p / book_p10[REV_HS_MAX - 4];
        size_t lo = b->lhead[h], top = b->lhead[h + 1];
        while (lo < top) {
            size_t mid = lo + (top - lo) / 2;
            if (k[mid] < key)
                lo = mid + 1;
            else
                top = mid;
        }
        size_t end = lo;
        while (end < b->nlines && k[end] == key)
            end++;
        const rev_tariff_line *l = lo < end ? book__version(b, lo, end, date) : NULL;
        if (l)
            return l;
    }
    return NULL;
}

const rev_tariff_line *rev_book_line(const rev_book *b, const char *hs, const char *date)
{
    char prefix[REV_HS_MAX + 1];
    size_t n = strlen(hs);
    if (n > REV_HS_MAX)
        n = REV_HS_MAX;
    if (b->lkeys)
        return book__line_indexed(b, hs, n, date);
    for (size_t len = n; len >= 2; len--) {
        memcpy(prefix, hs, len);
        prefix[len] = '\0';
        size_t i = book__lines_lower(b, prefix), end = i;
        while (end < b->nlines && strcmp(b->lines[end].hs_code, prefix) == 0)
            end++;
        const rev_tariff_line *l = book__version(b, i, end, date);
        if (l)
            return l;
    }
    return NULL;
}

const rev_rate *rev_book_rate(const rev_book *b, const char *currency, const char *date)
{
    size_t lo = 0, hi = b->nrates;
    while (lo < hi) { /* first rate after (currency, date) */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->rates[mid].currency, currency);
        if (c < 0 || (c == 0 && strcmp(b->rates[mid].date, date) <= 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || strcmp(b->rates[lo - 1].currency, currency) != 0)
        return NULL;
    return &b->rates[lo - 1];
}

bool rev_book_in_group(const rev_book *b, const char *group, const char *country)
{
    rev_group_member key;
    snprintf(key.group, sizeof key.group, "%s", group);
    snprintf(key.country, sizeof key.country, "%s", country);
    return b->ngroups &&
           bsearch(&key, b->groups, b->ngroups, sizeof *b->groups, book__group_cmp) != NULL;
}

bool rev_book_has_group(const rev_book *b, const char *group)
{
    size_t lo = 0, hi = b->ngroups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(b->groups[mid].group, group) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->ngroups && strcmp(b->groups[lo].group, group) == 0;
}

void rev_book_preferences(const rev_book *b, const char *hs, const char *country,
                          const char *date, rev_pref_fn fn, void *ctx)
{
    char prefix[REV_HS_MAX + 1];
    size_t n = strlen(hs);
    if (n > REV_HS_MAX)
        n = REV_HS_MAX;
    for (size_t len = n; len >= 2; len--) {
        memcpy(prefix, hs, len);
        prefix[len] = '\0';
        size_t lo = 0, hi = b->nprefs;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(b->prefs[mid].hs_code, prefix) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < b->nprefs && strcmp(b->prefs[i].hs_code, prefix) == 0; i++) {
            const rev_preference *p = &b->prefs[i];
            if (!book__valid_on(p->valid_from, p->valid_to, date))
                continue;
            if (strcmp(p->origin, country) != 0 && !rev_book_in_group(b, p->origin, country))
                continue;
            if (!fn(ctx, p))
                return;
        }
    }
}
