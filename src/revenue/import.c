/* CSV importers for the tariff, preferences, country groups and exchange
 * rates: every row checked, every problem reported with its line and
 * column; rows are only handed on when the whole file is good. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_MAX_FIELD 4096
#define IMPORT_MAX_PROBLEMS 1000
#define IMPORT_MAX_ROWS 2000000
#define IMPORT_MAX_COLS 16

static const char *const kind_names[] = {"tariff", "preferences", "groups", "rates"};

const char *rev_import_kind_name(rev_import_kind k)
{
    return (unsigned)k < 4 ? kind_names[k] : "?";
}

/* ---- columns ------------------------------------------------------------------------ */
typedef struct {
    const char *name;
    bool required;
} col_spec;

static const col_spec tariff_cols[] = {
    {"hs_code", true},         {"valid_from", true},     {"valid_to", false},
    {"duty_type", true},       {"ad_valorem_pct", false}, {"specific_amount", false},
    {"specific_unit", false},  {"excise_pct", false},    {"vat_pct", true},
    {"description", false},    {NULL, false}};
static const col_spec pref_cols[] = {{"hs_code", true},      {"origin", true},
                                     {"ad_valorem_pct", true}, {"requires_certificate", true},
                                     {"valid_from", true},   {"valid_to", false},
                                     {NULL, false}};
static const col_spec group_cols[] = {{"group", true}, {"country", true}, {NULL, false}};
static const col_spec rate_cols[] = {
    {"date", true}, {"currency", true}, {"rate", true}, {NULL, false}};

static const col_spec *import__cols(rev_import_kind k)
{
    switch (k) {
    case REV_IMPORT_TARIFF: return tariff_cols;
    case REV_IMPORT_PREFERENCES: return pref_cols;
    case REV_IMPORT_GROUPS: return group_cols;
    default: return rate_cols;
    }
}

typedef struct {
    rev_rows *rows;
    json_t *problems;
    size_t nproblems;
    bool header_done, header_bad;
    int map[IMPORT_MAX_COLS]; /* spec column -> CSV field index, -1 absent */
    size_t ncols;             /* fields in the header */
    bool oom;
} import_ctx;

static void import__problem(import_ctx *c, uint64_t line, const char *column, const char *fmt,
                            ...) CX_PRINTF(4, 5);

static void import__problem(import_ctx *c, uint64_t line, const char *column, const char *fmt,
                            ...)
{
    c->nproblems++;
    if (!c->problems || json_array_size(c->problems) >= IMPORT_MAX_PROBLEMS)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *p = json_object();
    json_object_set_new(p, "line", json_integer((json_int_t)line));
    if (column)
        json_object_set_new(p, "column", json_string(column));
    /* a cell that is not UTF-8 must not make the message invalid JSON */
    json_t *m = json_string(msg);
    if (!m) {
        for (char *q = msg; *q; q++)
            if ((unsigned char)*q >= 0x80)
                *q = '?';
        m = json_string(msg);
    }
    json_object_set_new(p, "message", m);
    json_array_append_new(c->problems, p);
}

static bool import__header(import_ctx *c, char **f, size_t n)
{
    const col_spec *spec = import__cols(c->rows->kind);
    for (size_t k = 0; spec[k].name; k++)
        c->map[k] = -1;
    c->ncols = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = f[i];
        if (i == 0 && strncmp(name, "\xEF\xBB\xBF", 3) == 0)
            name += 3; /* a UTF-8 byte order mark */
        size_t k;
        for (k = 0; spec[k].name; k++)
            if (strcmp(spec[k].name, name) == 0)
                break;
        if (!spec[k].name) {
            import__problem(c, 1, name, "unknown column \"%s\" for a %s file", name,
                            kind_names[c->rows->kind]);
            c->header_bad = true;
        } else if (c->map[k] >= 0) {
            import__problem(c, 1, name, "column \"%s\" appears twice", name);
            c->header_bad = true;
        } else {
            c->map[k] = (int)i;
        }
    }
    for (size_t k = 0; spec[k].name; k++)
        if (spec[k].required && c->map[k] < 0) {
            import__problem(c, 1, spec[k].name, "required column \"%s\" is missing",
                            spec[k].name);
            c->header_bad = true;
        }
    return !c->header_bad;
}

/* The cell of spec column k ("" when the column is absent). */
static const char *import__cell(const import_ctx *c, char **f, size_t n, size_t k)
{
    int i = c->map[k];
    return i >= 0 && (size_t)i < n ? f[i] : "";
}

/* ---- cell rules --------------------------------------------------------------------- */
static bool import__digits(const char *s, size_t lo, size_t hi)
{
    size_t n = strlen(s);
    return n >= lo && n <= hi && strspn(s, "0123456789") == n;
}

static bool import__hs(import_ctx *c, uint64_t line, const char *s, char out[REV_HS_MAX + 1])
{
    if (!import__digits(s, 2, REV_HS_MAX)) {
        import__problem(c, line, "hs_code", "must be 2 to 10 digits (got \"%.20s\")", s);
        return false;
    }
    char ch[3] = {s[0], s[1], 0};
    if (!decl_hs_chapter_known(ch)) {
        import__problem(c, line, "hs_code", "chapter %s does not exist in the Harmonized System",
                        ch);
        return false;
    }
    snprintf(out, REV_HS_MAX + 1, "%s", s);
    return true;
}

static bool import__date(import_ctx *c, uint64_t line, const char *col, const char *s,
                         bool optional, char out[REV_DATE_LEN + 1])
{
    out[0] = '\0';
    if (!s[0] && optional)
        return true;
    if (strlen(s) != REV_DATE_LEN || !cx_date_parse(s, NULL, NULL, NULL)) {
        import__problem(c, line, col, "must be a real date written YYYY-MM-DD%s",
                        optional ? " (or empty: open)" : "");
        return false;
    }
    memcpy(out, s, REV_DATE_LEN + 1);
    return true;
}

/* A decimal in [lo, hi]; empty allowed when optional (has = false). */
static bool import__dec(import_ctx *c, uint64_t line, const char *col, const char *s,
                        bool optional, int64_t lo, int64_t hi, bool positive, rev_dec *out,
                        bool *has)
{
    if (has)
        *has = false;
    if (!s[0]) {
        if (optional)
            return true;
        import__problem(c, line, col, "is required");
        return false;
    }
    rev_dec d;
    if (!rev_dec_parse(s, strlen(s), &d) || !rev_dec_storable(d)) {
        import__problem(c, line, col, "must be a decimal number such as 6.5 (at most 15 "
                                      "digits, 9 after the point)");
        return false;
    }
    rev_dec l = {lo, 0}, h = {hi, 0};
    if (rev_dec_cmp(d, l) < 0 || rev_dec_cmp(d, h) > 0 || (positive && d.coef <= 0)) {
        import__problem(c, line, col, "must be %s%lld to %lld", positive ? "more than 0, up " : "",
                        (long long)lo, (long long)hi);
        return false;
    }
    *out = d;
    if (has)
        *has = true;
    return true;
}

static bool import__unit(const char *s)
{
    size_t n = strlen(s);
    return n >= 2 && n <= 3 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n;
}

static bool import__group_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= REV_GROUP_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* ---- rows ----------------------------------------------------------------------------- */
static void *import__slot(import_ctx *c, size_t sz)
{
    rev_rows *r = c->rows;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
        void *p = realloc(r->u.tariff, nc * sz);
        uint64_t *l = realloc(r->lines, nc * sizeof *l);
        if (p)
            r->u.tariff = p;
        if (l)
            r->lines = l;
        if (!p || !l) {
            c->oom = true;
            return NULL;
        }
        r->cap = nc;
    }
    return (char *)r->u.tariff + r->n * sz;
}

static void import__tariff(import_ctx *c, char **f, size_t n, uint64_t line)
{
    rev_tariff_line l;
    memset(&l, 0, sizeof l);
    bool ok = import__hs(c, line, import__cell(c, f, n, 0), l.hs_code);
    ok &= import__date(c, line, "valid_from", import__cell(c, f, n, 1), false, l.valid_from);
    ok &= import__date(c, line, "valid_to", import__cell(c, f, n, 2), true, l.valid_to);
    if (ok && l.valid_to[0] && strcmp(l.valid_to, l.valid_from) < 0) {
        import__problem(c, line, "valid_to", "must not be before valid_from %s", l.valid_from);
        ok = false;
    }
    const char *type = import__cell(c, f, n, 3);
    size_t t;
    for (t = 0; t <= REV_DUTY_MIN_OF; t++)
        if (strcmp(type, rev_duty_type_name((rev_duty_type)t)) == 0)
            break;
    bool type_ok = t <= REV_DUTY_MIN_OF;
    if (!type_ok) {
        import__problem(c, line, "duty_type",
                        "must be ad_valorem, specific, compound, max_of or min_of");
        ok = false;
    }
    l.duty_type = (rev_duty_type)t;
    const char *adv = import__cell(c, f, n, 4), *amt = import__cell(c, f, n, 5),
               *unit = import__cell(c, f, n, 6);
    ok &= import__dec(c, line, "ad_valorem_pct", adv, true, 0, 1000, false, &l.ad_valorem_pct,
                      &l.has_ad_valorem);
    ok &= import__dec(c, line, "specific_amount", amt, true, 0, REV_AMOUNT_MAX / 1000, false,
                      &l.specific_amount, &l.has_specific);
    if (unit[0] && !import__unit(unit)) {
        import__problem(c, line, "specific_unit",
                        "must be a UN/ECE Recommendation 20 code such as KGM, LTR or NAR");
        ok = false;
    }
    snprintf(l.specific_unit, sizeof l.specific_unit, "%s", import__unit(unit) ? unit : "");
    if (type_ok) {
        bool want_adv = l.duty_type != REV_DUTY_SPECIFIC;
        bool want_spec = l.duty_type != REV_DUTY_AD_VALOREM;
        const char *tn = rev_duty_type_name(l.duty_type);
        if (want_adv && !adv[0]) {
            import__problem(c, line, "ad_valorem_pct", "is required for duty_type %s", tn);
            ok = false;
        } else if (!want_adv && adv[0]) {
            import__problem(c, line, "ad_valorem_pct", "must be empty for duty_type %s", tn);
            ok = false;
        }
        if (want_spec && (!amt[0] || !unit[0])) {
            import__problem(c, line, amt[0] ? "specific_unit" : "specific_amount",
                            "is required for duty_type %s", tn);
            ok = false;
        } else if (!want_spec && (amt[0] || unit[0])) {
            import__problem(c, line, amt[0] ? "specific_amount" : "specific_unit",
                            "must be empty for duty_type %s", tn);
            ok = false;
        }
    }
    rev_dec zero = {0, 0};
    l.excise_pct = zero;
    ok &= import__dec(c, line, "excise_pct", import__cell(c, f, n, 7), true, 0, 1000, false,
                      &l.excise_pct, NULL);
    ok &= import__dec(c, line, "vat_pct", import__cell(c, f, n, 8), false, 0, 1000, false,
                      &l.vat_pct, NULL);
    const char *desc = import__cell(c, f, n, 9);
    size_t chars;
    if (!cx_utf8_count(desc, strlen(desc), &chars) || chars > REV_DESC_MAX) {
        import__problem(c, line, "description", "must be UTF-8 text of at most 512 characters");
        ok = false;
    }
    if (!ok)
        return;
    rev_tariff_line *slot = import__slot(c, sizeof *slot);
    if (!slot)
        return;
    *slot = l;
    if (!(slot->description = strdup(desc))) {
        c->oom = true;
        return;
    }
    c->rows->lines[c->rows->n++] = line;
}

static void import__pref(import_ctx *c, char **f, size_t n, uint64_t line)
{
    rev_preference p;
    memset(&p, 0, sizeof p);
    bool ok = import__hs(c, line, import__cell(c, f, n, 0), p.hs_code);
    const char *origin = import__cell(c, f, n, 1);
    bool country = strlen(origin) == 2 && decl_country_valid(origin) && strcmp(origin, "ZZ");
    if (!country && !import__group_name(origin)) {
        import__problem(c, line, "origin", "must be an ISO 3166-1 country code or the name of "
                                           "a group (A-Z 0-9 _ -, at most 32)");
        ok = false;
    }
    snprintf(p.origin, sizeof p.origin, "%s", origin);
    ok &= import__dec(c, line, "ad_valorem_pct", import__cell(c, f, n, 2), false, 0, 1000, false,
                      &p.ad_valorem_pct, NULL);
    const char *rc = import__cell(c, f, n, 3);
    if (strcmp(rc, "yes") && strcmp(rc, "no")) {
        import__problem(c, line, "requires_certificate", "must be yes or no");
        ok = false;
    }
    p.requires_certificate = strcmp(rc, "yes") == 0;
    ok &= import__date(c, line, "valid_from", import__cell(c, f, n, 4), false, p.valid_from);
    ok &= import__date(c, line, "valid_to", import__cell(c, f, n, 5), true, p.valid_to);
    if (ok && p.valid_to[0] && strcmp(p.valid_to, p.valid_from) < 0) {
        import__problem(c, line, "valid_to", "must not be before valid_from %s", p.valid_from);
        ok = false;
    }
    rev_preference *slot = ok ? import__slot(c, sizeof *slot) : NULL;
    if (slot) {
        *slot = p;
        c->rows->lines[c->rows->n++] = line;
    }
}

static void import__group(import_ctx *c, char **f, size_t n, uint64_t line)
{
    rev_group_member g;
    memset(&g, 0, sizeof g);
    const char *name = import__cell(c, f, n, 0), *country = import__cell(c, f, n, 1);
    bool ok = true;
    if (!import__group_name(name)) {
        import__problem(c, line, "group", "must be 1 to 32 characters of A-Z 0-9 _ -");
        ok = false;
    } else if (strlen(name) == 2 && decl_country_valid(name)) {
        import__problem(c, line, "group", "%s is a country code: a group needs another name",
                        name);
        ok = false;
    }
    if (strlen(country) != 2 || !decl_country_valid(country) || !strcmp(country, "ZZ")) {
        import__problem(c, line, "country", "must be an ISO 3166-1 alpha-2 country code");
        ok = false;
    }
    snprintf(g.group, sizeof g.group, "%s", name);
    snprintf(g.country, sizeof g.country, "%s", country);
    rev_group_member *slot = ok ? import__slot(c, sizeof *slot) : NULL;
    if (slot) {
        *slot = g;
        c->rows->lines[c->rows->n++] = line;
    }
}

static void import__rate(import_ctx *c, char **f, size_t n, uint64_t line)
{
    rev_rate r;
    memset(&r, 0, sizeof r);
    bool ok = import__date(c, line, "date", import__cell(c, f, n, 0), false, r.date);
    const char *cur = import__cell(c, f, n, 1);
    if (strlen(cur) != 3 || !decl_currency_valid(cur)) {
        import__problem(c, line, "currency", "must be an ISO 4217 currency code such as USD");
        ok = false;
    }
    snprintf(r.currency, sizeof r.currency, "%s", cur);
    ok &= import__dec(c, line, "rate", import__cell(c, f, n, 2), false, 0, 1000000000, true,
                      &r.rate, NULL);
    rev_rate *slot = ok ? import__slot(c, sizeof *slot) : NULL;
    if (slot) {
        *slot = r;
        c->rows->lines[c->rows->n++] = line;
    }
}

static bool import__row(void *ctx, char **f, size_t n, uint64_t line, uint64_t offset)
{
    import_ctx *c = ctx;
    (void)offset;
    if (!c->header_done) {
        c->header_done = true;
        return import__header(c, f, n);
    }
    if (n != c->ncols) {
        import__problem(c, line, NULL, "has %zu fields; the header has %zu", n, c->ncols);
        return true;
    }
    if (c->rows->n >= IMPORT_MAX_ROWS) {
        import__problem(c, line, NULL, "more than %d rows: split the file", IMPORT_MAX_ROWS);
        return false;
    }
    switch (c->rows->kind) {
    case REV_IMPORT_TARIFF: import__tariff(c, f, n, line); break;
    case REV_IMPORT_PREFERENCES: import__pref(c, f, n, line); break;
    case REV_IMPORT_GROUPS: import__group(c, f, n, line); break;
    default: import__rate(c, f, n, line); break;
    }
    return !c->oom;
}

/* ---- duplicates and overlaps within the file --------------------------------------------- */
/* The key of a row without its validity start, and its validity. */
static void import__key(const rev_rows *r, size_t i, char *key, size_t cap, const char **from,
                        const char **to)
{
    *from = *to = "";
    switch (r->kind) {
    case REV_IMPORT_TARIFF:
        snprintf(key, cap, "%s", r->u.tariff[i].hs_code);
        *from = r->u.tariff[i].valid_from;
        *to = r->u.tariff[i].valid_to;
        break;
    case REV_IMPORT_PREFERENCES:
        snprintf(key, cap, "%s %s", r->u.prefs[i].hs_code, r->u.prefs[i].origin);
        *from = r->u.prefs[i].valid_from;
        *to = r->u.prefs[i].valid_to;
        break;
    case REV_IMPORT_GROUPS:
        snprintf(key, cap, "%s %s", r->u.groups[i].group, r->u.groups[i].country);
        break;
    default:
        snprintf(key, cap, "%s %s", r->u.rates[i].currency, r->u.rates[i].date);
        break;
    }
}

static int import__order(const void *a, const void *b, void *ctx)
{
    const rev_rows *rows = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    char kx[64], ky[64];
    const char *fx, *tx, *fy, *ty;
    import__key(rows, x, kx, sizeof kx, &fx, &tx);
    import__key(rows, y, ky, sizeof ky, &fy, &ty);
    int c = strcmp(kx, ky);
    if (!c)
        c = strcmp(fx, fy);
    return c ? c : (x > y) - (x < y);
}

static void import__overlaps(import_ctx *c)
{
    const rev_rows *r = c->rows;
    size_t *idx = malloc((r->n ? r->n : 1) * sizeof *idx);
    if (!idx) {
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < r->n; i++)
        idx[i] = i;
    qsort_r(idx, r->n, sizeof *idx, import__order, (void *)r);
    for (size_t k = 1; k < r->n; k++) {
        char ka[64], kb[64];
        const char *fa, *ta, *fb, *tb;
        import__key(r, idx[k - 1], ka, sizeof ka, &fa, &ta);
        import__key(r, idx[k], kb, sizeof kb, &fb, &tb);
        if (strcmp(ka, kb) != 0)
            continue;
        uint64_t la = r->lines[idx[k - 1]], lb = r->lines[idx[k]];
        if (r->kind == REV_IMPORT_GROUPS || r->kind == REV_IMPORT_RATES)
            import__problem(c, lb, NULL, "repeats line %llu", (unsigned long long)la);
        else if (strcmp(fa, fb) == 0)
            import__problem(c, lb, "valid_from", "repeats the key and valid_from of line %llu",
                            (unsigned long long)la);
        else if (!ta[0] || strcmp(ta, fb) >= 0)
            import__problem(c, lb, "valid_from",
                            "%s overlaps the validity of line %llu (%s to %s)", fb,
                            (unsigned long long)la, fa, ta[0] ? ta : "open");
    }
    free(idx);
}

/* ---- entry points ------------------------------------------------------------------------ */
static void rows__free_contents(rev_rows *r)
{
    if (r->kind == REV_IMPORT_TARIFF)
        for (size_t i = 0; i < r->n; i++)
            free(r->u.tariff[i].description);
    free(r->u.tariff);
    free(r->lines);
}

void rev_rows_free(rev_rows *r)
{
    if (!r)
        return;
    rows__free_contents(r);
    free(r);
}

size_t rev_rows_count(const rev_rows *r)
{
    return r->n;
}

cx_err rev_rows_parse(rev_import_kind kind, FILE *f, rev_rows **out, json_t *problems,
                      size_t *nproblems)
{
    *out = NULL;
    rev_rows *r = calloc(1, sizeof *r);
    if (!r)
        return CX_ENOMEM;
    r->kind = kind;
    import_ctx c = {.rows = r, .problems = problems};
    uint64_t err_line = 0;
    cx_err e = cx_csv_read(f, IMPORT_MAX_FIELD, import__row, &c, &err_line);
    if (e == CX_EPARSE || e == CX_ETOOBIG)
        import__problem(&c, err_line, NULL,
                        e == CX_EPARSE ? "is not valid CSV (RFC 4180: a stray quote?)"
                                       : "has a field over 4096 bytes or over 256 fields");
    if (e == CX_OK && !c.header_done)
        import__problem(&c, 1, NULL, "the file is empty: a header line is required");
    if (e == CX_OK && !c.oom && c.nproblems == 0)
        import__overlaps(&c);
    if (c.oom)
        e = CX_ENOMEM;
    if (nproblems)
        *nproblems = c.nproblems;
    if (e == CX_OK && c.nproblems)
        e = CX_EINVAL;
    if (e != CX_OK) {
        rev_rows_free(r);
        return e == CX_EIO ? CX_EIO : e == CX_ENOMEM ? CX_ENOMEM : CX_EINVAL;
    }
    *out = r;
    return CX_OK;
}

cx_err rev_rows_to_book(const rev_rows *r, rev_book *b)
{
    cx_err e = CX_OK;
    for (size_t i = 0; e == CX_OK && i < r->n; i++) {
        switch (r->kind) {
        case REV_IMPORT_TARIFF: e = rev_book_add_line(b, &r->u.tariff[i]); break;
        case REV_IMPORT_PREFERENCES: e = rev_book_add_preference(b, &r->u.prefs[i]); break;
        case REV_IMPORT_GROUPS: e = rev_book_add_group(b, &r->u.groups[i]); break;
        default: e = rev_book_add_rate(b, &r->u.rates[i]); break;
        }
    }
    return e;
}
