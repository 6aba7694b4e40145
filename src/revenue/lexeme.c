/* The exact spelling of a declaration's item numbers. jansson keeps numbers
 * as doubles; the text it parsed keeps what the trader wrote. The numbers'
 * lexemes are listed in text order and matched with jansson's tree walked in
 * the same order (objects keep insertion order), so items[i].value gets the
 * characters "18250.75" rather than the double nearest to them. Each match
 * is checked: the lexeme must read back to the very double jansson holds;
 * any disagreement drops the text and the doubles are used instead. */
#include "revenue_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    size_t len;
    size_t pos;     /* scan position */
    size_t ordinal; /* numbers walked so far */
    bool bad;
} lex_scan;

static bool lex__num_char(char c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

/* The next number lexeme at or after pos, outside strings. */
static bool lex__next(lex_scan *s, const char **at, size_t *n)
{
    const char *t = s->text;
    while (s->pos < s->len) {
        char c = t[s->pos];
        if (c == '"') { /* to the closing quote, an escape's next character skipped */
            size_t p = s->pos + 1;
            for (;;) {
                const char *q = p < s->len ? memchr(t + p, '"', s->len - p) : NULL;
                if (!q) {
                    p = s->len;
                    break;
                }
                const char *bs = memchr(t + p, '\\', (size_t)(q - t) - p);
                if (!bs) {
                    p = (size_t)(q - t);
                    break;
                }
                p = (size_t)(bs - t) + 2;
            }
            s->pos = p + 1;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = s->pos;
            while (s->pos < s->len && lex__num_char(t[s->pos]))
                s->pos++;
            *at = t + start;
            *n = s->pos - start;
            return true;
        }
        s->pos++;
    }
    return false;
}

/* Consumes the lexeme of one number node and checks it against the node. */
static bool lex__take(lex_scan *s, const json_t *num, const char **at, size_t *n)
{
    if (!lex__next(s, at, n)) {
        s->bad = true;
        return false;
    }
    char tmp[64];
    if (*n >= sizeof tmp) {
        s->bad = true;
        return false;
    }
    memcpy(tmp, *at, *n);
    tmp[*n] = '\0';
    bool same = json_is_integer(num)
                    ? strtoll(tmp, NULL, 10) == json_integer_value(num) && !strpbrk(tmp, ".eE")
                    : strtod(tmp, NULL) == json_real_value(num);
    if (!same)
        s->bad = true;
    return same;
}

/* Walks a value in document order, consuming the lexemes of its numbers. */
static void lex__skip(lex_scan *s, const json_t *v, int depth)
{
    const char *at;
    size_t n;
    if (s->bad || depth > 64) {
        s->bad = true;
        return;
    }
    if (json_is_number(v)) {
        lex__take(s, v, &at, &n);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
            lex__skip(s, m, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
            lex__skip(s, m, depth + 1);
    }
}

static const char *const lex_members[REV_LEX_MEMBERS] = {"value", "quantity", "net_mass_kg",
                                                         "tax_rate"};

int rev__lex_member(const char *name)
{
    /* every member of every item asks: one comparison, by the first letter */
    int k;
    switch (name[0]) {
    case 'v': k = REV_LEX_VALUE; break;
    case 'q': k = REV_LEX_QUANTITY; break;
    case 'n': k = REV_LEX_NET_MASS; break;
    case 't': k = REV_LEX_TAX_RATE; break;
    default: return -1;
    }
    return strcmp(lex_members[k], name) == 0 ? k : -1;
}

bool rev__lexemes(const json_t *doc, const char *text, size_t len, rev_lexeme *out,
                  size_t nitems)
{
    memset(out, 0, nitems * sizeof *out);
    if (!text)
        return false;
    lex_scan s = {.text = text, .len = len};
    const char *k;
    json_t *v;
    /* the submitted members come first, in text order; the server's
     * members (id, org, risk…) were appended after them */
    json_object_foreach((json_t *)doc, k, v)
    {
        if (s.bad)
            break;
        if (strcmp(k, "items") != 0 || !json_is_array(v)) {
            lex__skip(&s, v, 1);
            continue;
        }
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            const char *mk;
            json_t *mv;
            json_object_foreach(item, mk, mv)
            {
                int slot = rev__lex_member(mk);
                if (slot >= 0 && json_is_number(mv) && i < nitems) {
                    lex__take(&s, mv, &out[i].at[slot], &out[i].len[slot]);
                } else {
                    lex__skip(&s, mv, 2);
                }
                if (s.bad)
                    break;
            }
        }
        break; /* nothing after the items is needed */
    }
    if (s.bad)
        memset(out, 0, nitems * sizeof *out);
    return !s.bad;
}

bool rev__top_lexeme(const json_t *doc, const char *text, size_t len, const char *key,
                     const char **at, size_t *n)
{
    *at = NULL;
    *n = 0;
    if (!text)
        return false;
    lex_scan s = {.text = text, .len = len};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, key) == 0) {
            if (json_is_number(v) && lex__take(&s, v, at, n))
                return true;
            *at = NULL;
            return false;
        }
        lex__skip(&s, v, 1);
        if (s.bad)
            return false;
    }
    return false;
}
