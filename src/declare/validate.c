/* Validation of a declaration: every rule of docs/declaration.md, every
 * problem reported with the JSON Pointer of the offending member. */
#include "declare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_PROBLEMS 1000
#define PATH_MAX_LEN 128

static void v__path(char *out, const char *base, const char *member)
{
    snprintf(out, PATH_MAX_LEN, "%s", base);
    cx_jptr_push(out, PATH_MAX_LEN, member);
}

/* ---- leaf rules ------------------------------------------------------------------- */

typedef enum {
    K_REFERENCE,
    K_TYPE,
    K_DATE,
    K_OFFICE,
    K_ID,
    K_COUNTRY,
    K_CODE,
    K_PROCEDURE,
    K_CONTAINERS,
    K_TDOC,
    K_ITEMS,
    K_HS,
    K_TEXT512,
    K_UNIT,
    K_NUM_NONNEG,
    K_CURRENCY,
    K_TAX_RATE,
    K_TDOC_TYPE,
    K_TDOC_NUMBER,
    K_DESIGN,
    K_BOOL,
    K_SHA256,
    K_DESIGN_FORMAT,
    K_FILE_SIZE,
    K_LICENCE,
    K_TEXT200,
} kind;

typedef struct {
    const char *name;
    kind k;
    bool required;
} field;

static const field header_fields[] = {
    {"reference", K_REFERENCE, true},
    {"type", K_TYPE, true},
    {"date", K_DATE, true},
    {"office", K_OFFICE, true},
    {"declarant_id", K_ID, true},
    {"importer_id", K_ID, false}, /* required for imports: checked below */
    {"exporter_id", K_ID, false},
    {"seller_id", K_ID, false},
    {"courier_id", K_ID, false},
    {"country_of_departure", K_COUNTRY, false},
    {"transport_mode", K_CODE, false},
    {"procedure", K_PROCEDURE, false},
    {"containers", K_CONTAINERS, false},
    {"transport_document", K_TDOC, false},
    {"items", K_ITEMS, true},
};

static const field item_fields[] = {
    {"hs_code", K_HS, true},
    {"description", K_TEXT512, false},
    {"country_of_origin", K_COUNTRY, true},
    {"origin_indicator", K_CODE, false},
    {"quantity", K_NUM_NONNEG, false},
    {"unit", K_UNIT, false},
    {"net_mass_kg", K_NUM_NONNEG, true},
    {"gross_mass_kg", K_NUM_NONNEG, false}, /* >= net: checked below */
    {"value", K_NUM_NONNEG, true},
    {"currency", K_CURRENCY, true},
    {"tax_rate", K_TAX_RATE, false},
    {"tax_type", K_CODE, false},
    {"design", K_DESIGN, false},     /* a design file (3D printing): v__design */
    {"transmission", K_BOOL, false}, /* the design itself crosses, no physical goods */
};

/* design: the file is uploaded to POST /v1/designs and named by its hash
 * (docs/designs.md); the designs module checks it against the file. */
static const field design_fields[] = {
    {"sha256", K_SHA256, true},
    {"format", K_DESIGN_FORMAT, true},
    {"file_size", K_FILE_SIZE, true},
    {"licence", K_LICENCE, true},
    {"rights_holder", K_TEXT200, false},
};

static const field procedure_fields[] = {
    {"process_type", K_CODE, false},
    {"import_type", K_CODE, false},
    {"import_use", K_CODE, false},
    {"payment_type", K_CODE, false},
};

static const field tdoc_fields[] = {
    {"type", K_TDOC_TYPE, true},
    {"number", K_TDOC_NUMBER, true},
};

static const char *const server_fields[] = {"id", "org", "status", "received_at", "risk",
                                            "inspection", "assessment"};

static bool v__charset(const char *s, const char *extra)
{
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (extra && c && strchr(extra, c))))
            return false;
    }
    return true;
}

static const char *v__string(cx_problems *v, const json_t *j, const char *path)
{
    if (!json_is_string(j)) {
        cx_problems_add(v, path, "must be a string");
        return NULL;
    }
    return json_string_value(j);
}

static void v__number(cx_problems *v, const json_t *j, const char *path, double lo, double hi,
                      const char *range)
{
    if (!json_is_number(j)) {
        cx_problems_add(v, path, "must be a number");
        return;
    }
    double x = json_number_value(j);
    if (!isfinite(x) || x < lo || x > hi)
        cx_problems_add(v, path, "must be %s", range);
}

/* Kinds that are a token of bounded length over letters, digits and a few
 * more characters: one rule each, one check for all. */
typedef struct {
    kind k;
    size_t min, max;
    const char *extra; /* allowed besides A-Z a-z 0-9; NULL for none */
    const char *rule;
} token_rule;

static const token_rule token_rules[] = {
    {K_REFERENCE, 1, 64, "._/-", "must be 1 to 64 characters of A-Z a-z 0-9 . _ / -"},
    {K_OFFICE, 1, 16, NULL, "must be a customs office code of 1 to 16 letters or digits"},
    {K_ID, 1, 64, "._/:-", "must be 1 to 64 characters of A-Z a-z 0-9 . _ / : -"},
    {K_CODE, 1, 16, "._-", "must be a code of 1 to 16 characters of A-Z a-z 0-9 . _ -"},
    {K_UNIT, 2, 3, NULL, "must be a UN/ECE Recommendation 20 unit code such as KGM or NAR"},
    {K_TDOC_NUMBER, 1, 64, "._/-", "must be 1 to 64 characters of A-Z a-z 0-9 . _ / -"},
};

/* Kinds that are one word of a closed list (NULL-terminated). */
typedef struct {
    kind k;
    const char *words[5];
    const char *rule;
} word_rule;

static const word_rule word_rules[] = {
    {K_TYPE, {"import", "export", "transit", NULL}, "must be one of import, export, transit"},
    {K_TDOC_TYPE, {"BL", "AWB", "CMR", "RWB", NULL}, "must be one of BL, AWB, CMR, RWB"},
    {K_DESIGN_FORMAT, {"stl", "3mf", "obj", NULL}, "must be stl, 3mf or obj"},
    {K_LICENCE, {"sale", "licence", "free", NULL}, "must be sale, licence or free"},
};

/* True when k is a token or word kind (and j was checked against it). */
static bool v__simple(cx_problems *v, kind k, const json_t *j, const char *path)
{
    for (size_t i = 0; i < sizeof token_rules / sizeof *token_rules; i++) {
        const token_rule *r = &token_rules[i];
        if (r->k != k)
            continue;
        const char *s = v__string(v, j, path);
        size_t n = s ? strlen(s) : 0;
        if (s && (n < r->min || n > r->max || !v__charset(s, r->extra)))
            cx_problems_add(v, path, "%s", r->rule);
        return true;
    }
    for (size_t i = 0; i < sizeof word_rules / sizeof *word_rules; i++) {
        const word_rule *r = &word_rules[i];
        if (r->k != k)
            continue;
        const char *s = v__string(v, j, path);
        bool ok = !s;
        for (size_t w = 0; s && r->words[w]; w++)
            ok = ok || strcmp(s, r->words[w]) == 0;
        if (!ok)
            cx_problems_add(v, path, "%s", r->rule);
        return true;
    }
    return false;
}

static void v__leaf(cx_problems *v, kind k, const json_t *j, const char *path)
{
    const char *s;
    size_t n, chars;
    if (v__simple(v, k, j, path))
        return;
    switch (k) {
    case K_DATE:
        if (!(s = v__string(v, j, path)))
            return;
        if (!cx_date_parse(s, NULL, NULL, NULL))
            cx_problems_add(v, path, "must be a real calendar date written YYYY-MM-DD");
        return;
    case K_COUNTRY:
        if (!(s = v__string(v, j, path)))
            return;
        if (!decl_country_valid(s))
            cx_problems_add(v, path,
                            "must be an ISO 3166-1 alpha-2 country code (or ZZ for unknown)");
        return;
    case K_TEXT512:
        if (!(s = v__string(v, j, path)))
            return;
        if (!cx_utf8_count(s, strlen(s), &chars) || chars > 512)
            cx_problems_add(v, path, "must be at most 512 characters");
        return;
    case K_NUM_NONNEG:
        /* bounded so that sums over 999 items, and duty at 1000 %, stay
         * finite: 1.7e308 once made a mirror finding say -nan% */
        v__number(v, j, path, 0, DECL_NUM_MAX, "a number from 0 to 10^15");
        return;
    case K_TAX_RATE:
        v__number(v, j, path, 0, 1000, "a percentage from 0 to 1000");
        return;
    case K_CURRENCY:
        if (!(s = v__string(v, j, path)))
            return;
        if (!decl_currency_valid(s))
            cx_problems_add(v, path, "must be an ISO 4217 currency code such as EUR or KRW");
        return;
    case K_BOOL:
        if (!json_is_boolean(j))
            cx_problems_add(v, path, "must be true or false");
        return;
    case K_SHA256:
        if (!(s = v__string(v, j, path)))
            return;
        if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)
            cx_problems_add(v, path, "must be a SHA-256 of 64 lowercase hexadecimal digits");
        return;
    case K_FILE_SIZE:
        if (!json_is_integer(j) || json_integer_value(j) < 1 ||
            json_integer_value(j) > ((json_int_t)128 << 20))
            cx_problems_add(v, path, "must be the file's size in bytes, 1 to 134217728");
        return;
    case K_TEXT200:
        if (!(s = v__string(v, j, path)))
            return;
        if (!cx_utf8_count(s, strlen(s), &chars) || chars < 1 || chars > 200)
            cx_problems_add(v, path, "must be 1 to 200 characters");
        return;
    case K_HS:
        if (!(s = v__string(v, j, path)))
            return;
        n = strlen(s);
        if (n < 6 || n > 10 || strspn(s, "0123456789") != n) {
            /* The code is stored (and signed on the ledger) as sent, so the
             * usual printed form 6907.22 is refused with the form to send
             * rather than rewritten. */
            char digits[16];
            size_t nd = 0;
            for (const char *c = s; *c && nd < sizeof digits - 1; c++)
                if (*c >= '0' && *c <= '9')
                    digits[nd++] = *c;
            digits[nd] = '\0';
            if (n <= 14 && strchr(s, '.') && strspn(s, "0123456789.") == n && nd >= 6 && nd <= 10)
                cx_problems_add(v, path, "must be 6 to 10 digits without dots: write it %s",
                                digits);
            else
                cx_problems_add(v, path, "must be 6 to 10 digits");
        }
        return;
    default:
        return; /* containers are handled by their own functions */
    }
}

/* Checks an object's members against a field table: unknown members,
 * missing required ones, and each leaf. Composite kinds call back. */
static void v__object(cx_problems *v, const json_t *obj, const char *base, const field *fields,
                      size_t nfields,
                      void (*composite)(cx_problems *, kind, const json_t *, const char *, void *),
                      void *ctx)
{
    const char *key;
    json_t *val;
    char path[PATH_MAX_LEN];
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t i;
        for (i = 0; i < nfields; i++)
            if (strcmp(fields[i].name, key) == 0)
                break;
        v__path(path, base, key);
        if (i == nfields) {
            bool server = false;
            if (base[0] == '\0')
                for (size_t k = 0; k < sizeof server_fields / sizeof *server_fields; k++)
                    server = server || strcmp(server_fields[k], key) == 0;
            cx_problems_add(v, path,
                            server ? "is assigned by the server and cannot be submitted"
                                   : "unknown field");
            continue;
        }
        if (json_is_null(val)) {
            cx_problems_add(v, path, "must not be null; leave the field out instead");
            continue;
        }
        kind k = fields[i].k;
        if (k == K_PROCEDURE || k == K_CONTAINERS || k == K_TDOC || k == K_ITEMS)
            composite(v, k, val, path, ctx);
        else
            v__leaf(v, k, val, path);
    }
    for (size_t i = 0; i < nfields; i++) {
        if (fields[i].required && !json_object_get(obj, fields[i].name)) {
            v__path(path, base, fields[i].name);
            cx_problems_add(v, path, "is required");
        }
    }
}

/* ---- composite members ----------------------------------------------------------- */

typedef struct {
    bool date_ok;
    bool hs2022; /* the declaration's date is on or after 2022-01-01 */
} decl_facts;

/* An item's design file and whether the design alone crosses (docs/designs.md). */
static void v__design(cx_problems *v, const json_t *item, const char *path)
{
    const json_t *design = json_object_get(item, "design");
    char p[PATH_MAX_LEN];
    v__path(p, path, "design");
    if (design && !json_is_null(design)) {
        if (json_is_object(design))
            v__object(v, design, p, design_fields, sizeof design_fields / sizeof *design_fields,
                      NULL, NULL);
        else
            cx_problems_add(v, p, "must be an object: sha256, format, file_size, licence");
    }
    if (json_is_true(json_object_get(item, "transmission")) && !json_is_object(design)) {
        v__path(p, path, "transmission");
        cx_problems_add(v, p, "a transmission carries a design: the item needs a design member");
    }
}

static void v__item(cx_problems *v, const json_t *item, const char *path, const decl_facts *f)
{
    if (!json_is_object(item)) {
        cx_problems_add(v, path, "must be an object");
        return;
    }
    v__object(v, item, path, item_fields, sizeof item_fields / sizeof *item_fields, NULL, NULL);
    v__design(v, item, path);
    const char *hs = json_string_value(json_object_get(item, "hs_code"));
    size_t n = hs ? strlen(hs) : 0;
    if (hs && n >= 6 && n <= 10 && strspn(hs, "0123456789") == n) {
        char p[PATH_MAX_LEN];
        v__path(p, path, "hs_code");
        if (f->date_ok && f->hs2022) {
            if (!decl_hs6_known(hs))
                cx_problems_add(v, p, "first six digits %.6s are not an HS 2022 subheading", hs);
        } else if (!decl_hs_chapter_known(hs)) {
            cx_problems_add(v, p, "chapter %.2s does not exist in the Harmonized System", hs);
        }
    }
    const json_t *net = json_object_get(item, "net_mass_kg");
    const json_t *gross = json_object_get(item, "gross_mass_kg");
    if (json_is_number(net) && json_is_number(gross) &&
        json_number_value(gross) < json_number_value(net)) {
        char p[PATH_MAX_LEN];
        v__path(p, path, "gross_mass_kg");
        cx_problems_add(v, p, "must not be less than net_mass_kg");
    }
}

static void v__composite(cx_problems *v, kind k, const json_t *val, const char *path, void *ctx)
{
    const decl_facts *f = ctx;
    char p[PATH_MAX_LEN];
    size_t i, n;
    const json_t *e;
    switch (k) {
    case K_PROCEDURE:
        if (!json_is_object(val)) {
            cx_problems_add(v, path, "must be an object of codes");
            return;
        }
        v__object(v, val, path, procedure_fields,
                  sizeof procedure_fields / sizeof *procedure_fields, NULL, NULL);
        return;
    case K_TDOC:
        if (!json_is_object(val)) {
            cx_problems_add(v, path, "must be an object with type and number");
            return;
        }
        v__object(v, val, path, tdoc_fields, sizeof tdoc_fields / sizeof *tdoc_fields, NULL,
                  NULL);
        return;
    case K_CONTAINERS:
        if (!json_is_array(val)) {
            cx_problems_add(v, path, "must be an array of ISO 6346 container numbers");
            return;
        }
        n = json_array_size(val);
        if (n > DECL_MAX_CONTAINERS) {
            cx_problems_add(v, path, "must hold at most %d containers", DECL_MAX_CONTAINERS);
            return;
        }
        json_array_foreach(val, i, e)
        {
            snprintf(p, sizeof p, "%s", path);
            cx_jptr_index(p, sizeof p, i);
            const char *c = v__string(v, e, p);
            if (!c)
                continue;
            if (strlen(c) != 11 || decl_iso6346_check_digit(c) < 0 || c[10] < '0' ||
                c[10] > '9') {
                cx_problems_add(v, p,
                                "must be an ISO 6346 container number: owner code, category U, J "
                                "or Z, 6-digit serial and check digit (e.g. CSQU3054383)");
            } else if (!decl_container_valid(c)) {
                cx_problems_add(v, p, "check digit is wrong: expected %d",
                                decl_iso6346_check_digit(c));
            } else {
                for (size_t k2 = 0; k2 < i; k2++)
                    if (json_equal(json_array_get(val, k2), e)) {
                        cx_problems_add(v, p, "container is listed twice");
                        break;
                    }
            }
        }
        return;
    case K_ITEMS:
        if (!json_is_array(val)) {
            cx_problems_add(v, path, "must be an array of items");
            return;
        }
        n = json_array_size(val);
        if (n < 1 || n > DECL_MAX_ITEMS) {
            cx_problems_add(v, path, "must hold 1 to %d items", DECL_MAX_ITEMS);
            if (n > DECL_MAX_ITEMS)
                return;
        }
        json_array_foreach(val, i, e)
        {
            snprintf(p, sizeof p, "%s", path);
            cx_jptr_index(p, sizeof p, i);
            v__item(v, e, p, f);
        }
        return;
    default:
        return;
    }
}

bool decl_validate(const json_t *doc, json_t *problems)
{
    cx_problems v = {.list = problems, .max = MAX_PROBLEMS, .note = true};
    if (!json_is_object(doc)) {
        cx_problems_add(&v, "", "a declaration must be a JSON object");
        return false;
    }
    decl_facts f = {0};
    const char *date = json_string_value(json_object_get(doc, "date"));
    int y, m, d;
    if (date && cx_date_parse(date, &y, &m, &d)) {
        f.date_ok = true;
        f.hs2022 = y >= 2022;
    }
    v__object(&v, doc, "", header_fields, sizeof header_fields / sizeof *header_fields,
              v__composite, &f);
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (type && strcmp(type, "import") == 0 && !json_object_get(doc, "importer_id"))
        cx_problems_add(&v, "/importer_id", "is required when type is import");
    return v.count == 0;
}

json_t *decl_parse(const char *text, size_t len, char *msg, size_t msglen)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(msg, msglen, "line %d, column %d: %s", je.line, je.column, je.text);
        /* jansson quotes the input near the error, which may be the very
         * bytes that are not UTF-8; an error body must stay valid JSON */
        if (!cx_utf8_count(msg, strlen(msg), NULL))
            for (char *p = msg; *p; p++)
                if ((unsigned char)*p >= 0x80)
                    *p = '?';
    }
    return j;
}
