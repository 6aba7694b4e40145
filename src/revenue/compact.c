/* The compact stored form of the assessment member, expanded back to the
 * full form on every read.
 *
 * A submission's member was ~810 bytes, most of them keys: an assessed
 * declaration's row grew past what fits beside its neighbours in a leaf
 * page, and the writer paid for the extra pages and WAL frames on every
 * commit (issue 15's 30 us budget). aswrite.c writes the member positional
 * instead, straight from the result; declare stores it as it is (it is
 * JSON: json_set and json_extract work on it) and calls member_expand on
 * every read, which turns it back into the very bytes the full form has.
 *
 *   ["rev2", currency, date|null, [[cur,rate,date],...], [item,...],
 *    total_duty, total_excise, total_vat, total, [finding,...],
 *    [problem,...], assessed_at]
 *   item: [] (an item that did not validate: {}), or
 *    [hs_code, tariff_line, rate, customs_value, duty, excise, vat,
 *     preference] and a ninth element 1 for a transmission
 *
 * tariff_line is a line text's id (linetext.c), the line's object or null;
 * rate an index into the member's exchange rates (the items of one
 * declaration mostly share one) or null; amounts are the lexemes the full
 * form has (copied, never reparsed); the preference, the findings and the
 * problems are their full-form JSON (rare). The version is 1. Strings are
 * copied with their escapes, so every byte comes back as written.
 *
 * `["rev2",` cannot occur inside a JSON string (its quotes would be
 * escaped), so the expander finds members wherever they are: alone, inside
 * the kept object, in a list. Full-form members (rows stored before,
 * re-assessments) hold no such token and pass through. A member that does
 * not read exactly as above is damaged: CX_EPARSE, never a shorter reply. */
#include "revenue_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
    cx_buf *out;
    cx_err e;
    rev_linecache *lines; /* NULL: line ids stay ids */
    store_conn *conn;
} cp_x;

typedef struct {
    const char *cur, *rate, *date;
    size_t ncur, nrate, ndate;
} cp_rate;

static bool cp__bad(cp_x *x)
{
    if (x->e == CX_OK)
        x->e = CX_EPARSE;
    return false;
}

static void cp__put(cp_x *x, const char *s, size_t n)
{
    if (x->e == CX_OK)
        x->e = cx_buf_append(x->out, s, n);
}

static void cp__puts(cp_x *x, const char *s)
{
    cp__put(x, s, strlen(s));
}

static bool cp__at(const cp_x *x, char ch)
{
    return x->e == CX_OK && x->p < x->end && *x->p == ch;
}

static bool cp__eat(cp_x *x, char ch)
{
    if (!cp__at(x, ch))
        return false;
    x->p++;
    return true;
}

static bool cp__need(cp_x *x, char ch)
{
    return cp__eat(x, ch) || cp__bad(x);
}

static bool cp__digit(const cp_x *x, const char *p)
{
    return p < x->end && *p >= '0' && *p <= '9';
}

/* A JSON string with its quotes and escapes, as a span. */
static bool cp__str(cp_x *x, const char **s, size_t *n)
{
    const char *p = x->p;
    if (!cp__at(x, '"'))
        return cp__bad(x);
    for (p++; p < x->end && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return cp__bad(x);
        if (*p != '\\')
            continue;
        if (++p >= x->end)
            return cp__bad(x);
        if (*p == 'u') {
            for (int k = 0; k < 4; k++)
                if (++p >= x->end || !strchr("0123456789abcdefABCDEF", *p) || !*p)
                    return cp__bad(x);
        } else if (!memchr("\"\\/bfnrt", *p, 8)) {
            return cp__bad(x);
        }
    }
    if (p >= x->end)
        return cp__bad(x);
    *s = x->p;
    *n = (size_t)(p + 1 - x->p);
    x->p = p + 1;
    return true;
}

/* A JSON number, as a span. */
static bool cp__num(cp_x *x, const char **s, size_t *n)
{
    const char *p = x->p;
    if (x->e != CX_OK)
        return false;
    if (p < x->end && *p == '-')
        p++;
    if (!cp__digit(x, p))
        return cp__bad(x);
    if (*p == '0')
        p++;
    else
        while (cp__digit(x, p))
            p++;
    if (p < x->end && *p == '.') {
        if (!cp__digit(x, ++p))
            return cp__bad(x);
        while (cp__digit(x, p))
            p++;
    }
    if (p < x->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < x->end && (*p == '+' || *p == '-'))
            p++;
        if (!cp__digit(x, p))
            return cp__bad(x);
        while (cp__digit(x, p))
            p++;
    }
    *s = x->p;
    *n = (size_t)(p - x->p);
    x->p = p;
    return true;
}

static bool cp__lit(cp_x *x, const char *lit)
{
    size_t n = strlen(lit);
    if (x->e != CX_OK || (size_t)(x->end - x->p) < n || memcmp(x->p, lit, n) != 0)
        return false;
    x->p += n;
    return true;
}

/* Any JSON value (no whitespace: the stored texts have none). */
static bool cp__skip(cp_x *x, int depth)
{
    const char *s;
    size_t n;
    if (x->e != CX_OK || depth > 16 || x->p >= x->end)
        return cp__bad(x);
    char ch = *x->p;
    if (ch == '"')
        return cp__str(x, &s, &n);
    if (ch == '-' || (ch >= '0' && ch <= '9'))
        return cp__num(x, &s, &n);
    if (ch != '[' && ch != '{')
        return cp__lit(x, "null") || cp__lit(x, "true") || cp__lit(x, "false") || cp__bad(x);
    bool obj = ch == '{';
    char close = obj ? '}' : ']';
    x->p++;
    if (cp__eat(x, close))
        return true;
    do {
        if (obj && !(cp__str(x, &s, &n) && cp__need(x, ':')))
            return false;
        if (!cp__skip(x, depth + 1))
            return false;
    } while (cp__eat(x, ','));
    return cp__need(x, close);
}

/* A value copied as it is: an object (open '{') or an array ('['), or null
 * where null may stand. */
static void cp__verbatim(cp_x *x, char open, bool null_ok)
{
    if (null_ok && cp__lit(x, "null")) {
        cp__puts(x, "null");
        return;
    }
    const char *s = x->p;
    if (!cp__at(x, open)) {
        cp__bad(x);
        return;
    }
    if (cp__skip(x, 0))
        cp__put(x, s, (size_t)(x->p - s));
}

static void cp__copy_str(cp_x *x)
{
    const char *s;
    size_t n;
    if (cp__str(x, &s, &n))
        cp__put(x, s, n);
}

static void cp__copy_num(cp_x *x, bool null_ok)
{
    const char *s;
    size_t n;
    if (null_ok && cp__lit(x, "null"))
        cp__puts(x, "null");
    else if (cp__num(x, &s, &n))
        cp__put(x, s, n);
}

/* A non-negative integer of at most `max` digits, without leading zeros. */
static bool cp__index(cp_x *x, int max, int64_t *v)
{
    const char *p = x->p;
    *v = 0;
    if (!cp__digit(x, p) || (*p == '0' && cp__digit(x, p + 1)))
        return cp__bad(x);
    for (; cp__digit(x, p); p++) {
        if (p - x->p >= max)
            return cp__bad(x);
        *v = *v * 10 + (*p - '0');
    }
    x->p = p;
    return true;
}

static void cp__item(cp_x *x, const cp_rate *rates, size_t nr)
{
    if (!cp__need(x, '['))
        return;
    if (cp__eat(x, ']')) {
        cp__puts(x, "{}");
        return;
    }
    cp__puts(x, "{\"hs_code\":");
    cp__copy_str(x);
    cp__need(x, ',');
    cp__puts(x, ",\"tariff_line\":");
    int64_t v;
    if (cp__at(x, '{') || cp__at(x, 'n')) {
        cp__verbatim(x, '{', true);
    } else if (cp__index(x, 18, &v) && x->e == CX_OK) {
        if (v <= 0)
            cp__bad(x);
        else
            x->e = rev__line_put(x->lines, x->conn, v, x->out);
    }
    cp__need(x, ',');
    cp__puts(x, ",\"exchange_rate\":");
    if (cp__lit(x, "null")) {
        cp__puts(x, "null");
    } else if (cp__index(x, 9, &v) && (size_t)v >= nr) {
        cp__bad(x);
    } else if (x->e == CX_OK) {
        const cp_rate *r = &rates[v];
        cp__puts(x, "{\"currency\":");
        cp__put(x, r->cur, r->ncur);
        cp__puts(x, ",\"rate\":");
        cp__put(x, r->rate, r->nrate);
        cp__puts(x, ",\"date\":");
        cp__put(x, r->date, r->ndate);
        cp__puts(x, "}");
    }
    static const char *const k[4] = {",\"customs_value\":", ",\"duty\":", ",\"excise\":",
                                     ",\"vat\":"};
    for (int i = 0; i < 4; i++) {
        cp__need(x, ',');
        cp__puts(x, k[i]);
        cp__copy_num(x, true);
    }
    cp__need(x, ',');
    cp__puts(x, ",\"preference\":");
    cp__verbatim(x, '{', true);
    if (cp__eat(x, ',')) {
        if (cp__lit(x, "1"))
            cp__puts(x, ",\"transmission\":true,\"duty_rule\":\"wto_moratorium\"");
        else
            cp__bad(x);
    }
    cp__need(x, ']');
    cp__puts(x, "}");
}

/* The member after its tag, up to and with its closing ']'. */
static void cp__member(cp_x *x)
{
    cp__puts(x, "{\"currency\":");
    cp__copy_str(x);
    cp__need(x, ',');
    cp__puts(x, ",\"date\":");
    if (cp__lit(x, "null"))
        cp__puts(x, "null");
    else
        cp__copy_str(x);
    cp__need(x, ',');
    /* the exchange rates, first: the items refer to them */
    cp_rate *rates = NULL;
    size_t nr = 0, cap = 0;
    cp__need(x, '[');
    if (x->e == CX_OK && !cp__eat(x, ']')) {
        do {
            if (!cx_grow((void **)&rates, &cap, nr + 1, sizeof *rates)) {
                x->e = CX_ENOMEM;
                break;
            }
            cp_rate *r = &rates[nr++];
            if (cp__need(x, '[') && cp__str(x, &r->cur, &r->ncur) && cp__need(x, ',') &&
                cp__num(x, &r->rate, &r->nrate) && cp__need(x, ',') &&
                cp__str(x, &r->date, &r->ndate))
                cp__need(x, ']');
        } while (cp__eat(x, ','));
        cp__need(x, ']');
    }
    cp__need(x, ',');
    cp__puts(x, ",\"items\":[");
    if (cp__need(x, '[') && !cp__eat(x, ']')) {
        bool first = true;
        do {
            if (!first)
                cp__puts(x, ",");
            cp__item(x, rates, nr);
            first = false;
        } while (cp__eat(x, ','));
        cp__need(x, ']');
    }
    free(rates);
    cp__puts(x, "]");
    static const char *const k[4] = {",\"total_duty\":", ",\"total_excise\":", ",\"total_vat\":",
                                     ",\"total\":"};
    for (int i = 0; i < 4; i++) {
        cp__need(x, ',');
        cp__puts(x, k[i]);
        cp__copy_num(x, false);
    }
    cp__need(x, ',');
    cp__puts(x, ",\"findings\":");
    cp__verbatim(x, '[', false);
    cp__need(x, ',');
    cp__puts(x, ",\"problems\":");
    cp__verbatim(x, '[', false);
    cp__need(x, ',');
    cp__puts(x, ",\"version\":1,\"assessed_at\":");
    cp__copy_str(x);
    cp__need(x, ']');
    cp__puts(x, "}");
}

const char rev_compact_tag[] = "[\"rev2\",";

cx_err rev__compact_expand(rev_linecache *c, store_conn *conn, const char *text, size_t len,
                           size_t *used, cx_buf *out)
{
    const size_t tl = sizeof rev_compact_tag - 1;
    *used = 0;
    if (len < tl || memcmp(text, rev_compact_tag, tl) != 0)
        return CX_EPARSE;
    cp_x x = {.p = text + tl, .end = text + len, .out = out, .lines = c, .conn = conn};
    cp__member(&x);
    *used = (size_t)(x.p - text);
    return x.e;
}

cx_err rev_member_expand(const char *text, size_t len, cx_buf *out)
{
    return rev__line_expand(NULL, NULL, text, len, out);
}
