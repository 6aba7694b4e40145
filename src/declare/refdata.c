/* Reference data: ISO 3166-1, ISO 4217 (iso-codes) and HS 2022. Loaded once,
 * read-only afterwards, so lookups need no locks. */
#include "declare.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool countries[26][26];
static bool currencies[26][26][26];
static uint8_t hs6_bits[1000000 / 8];
static bool hs_chapters[100];
static decl_hs_entry *hs_entries;
static size_t hs_n, hs_cap;

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static bool loaded;
static cx_err load_result;
static char load_err[512];

static bool refdata__upper(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}

static cx_err refdata__iso(const char *dir, const char *file, const char *list, const char *key,
                           char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "cannot read %s (install the iso-codes package): %s", path, je.text);
        return CX_EIO;
    }
    json_t *arr = json_object_get(root, list);
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *code = json_string_value(json_object_get(e, key));
        if (strcmp(key, "alpha_2") == 0 && refdata__upper(code, 2)) {
            countries[code[0] - 'A'][code[1] - 'A'] = true;
            n++;
        } else if (strcmp(key, "alpha_3") == 0 && refdata__upper(code, 3)) {
            currencies[code[0] - 'A'][code[1] - 'A'][code[2] - 'A'] = true;
            n++;
        }
    }
    json_decref(root);
    if (n < 100) {
        snprintf(err, errlen, "%s holds only %zu codes: not the iso-codes list", path, n);
        return CX_EPARSE;
    }
    return CX_OK;
}

typedef struct {
    bool header_seen;
    int col_code, col_desc, col_parent, col_level, col_section;
    char err[256];
} hs_load;

static bool refdata__digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool refdata__hs_row(void *ctx, char **f, size_t n, uint64_t line, uint64_t off)
{
    hs_load *h = ctx;
    if (!h->header_seen) {
        h->col_code = h->col_desc = h->col_parent = h->col_level = h->col_section = -1;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(f[i], "section") == 0)
                h->col_section = (int)i;
            else if (strcmp(f[i], "hscode") == 0)
                h->col_code = (int)i;
            else if (strcmp(f[i], "description") == 0)
                h->col_desc = (int)i;
            else if (strcmp(f[i], "parent") == 0)
                h->col_parent = (int)i;
            else if (strcmp(f[i], "level") == 0)
                h->col_level = (int)i;
        }
        if (h->col_code < 0 || h->col_desc < 0 || h->col_parent < 0 || h->col_level < 0) {
            snprintf(h->err, sizeof h->err, "line 1: expected columns hscode, description, "
                                            "parent, level");
            return false;
        }
        h->header_seen = true;
        return true;
    }
    int maxcol = h->col_code;
    if (h->col_desc > maxcol)
        maxcol = h->col_desc;
    if (h->col_parent > maxcol)
        maxcol = h->col_parent;
    if (h->col_level > maxcol)
        maxcol = h->col_level;
    if ((int)n <= maxcol) {
        snprintf(h->err, sizeof h->err, "line %llu: too few columns", (unsigned long long)line);
        return false;
    }
    /* UN Comtrade's chapter 99 ("commodities not specified according to
     * kind", section TOTAL) is a statistical code, not part of the HS */
    if (h->col_section >= 0 && h->col_section < (int)n && strcmp(f[h->col_section], "TOTAL") == 0)
        return true;
    const char *code = f[h->col_code];
    int64_t level = 0;
    if (!cx_parse_i64(f[h->col_level], &level) || (level != 2 && level != 4 && level != 6))
        return true; /* the TOTAL row */
    if (!refdata__digits(code, (size_t)level)) {
        snprintf(h->err, sizeof h->err, "line %llu: bad HS code '%s'", (unsigned long long)line,
                 code);
        return false;
    }
    if (level == 6) {
        long v = strtol(code, NULL, 10);
        hs6_bits[v / 8] |= (uint8_t)(1u << (v % 8));
    } else if (level == 2) {
        hs_chapters[(code[0] - '0') * 10 + (code[1] - '0')] = true;
    }
    if (hs_n == hs_cap) {
        size_t cap = hs_cap ? hs_cap * 2 : 8192;
        decl_hs_entry *p = realloc(hs_entries, cap * sizeof *p);
        if (!p) {
            snprintf(h->err, sizeof h->err, "out of memory");
            return false;
        }
        hs_entries = p;
        hs_cap = cap;
    }
    decl_hs_entry *e = &hs_entries[hs_n];
    e->code = strdup(code);
    e->description = strdup(f[h->col_desc]);
    e->parent = strdup(f[h->col_parent]);
    e->level = level;
    if (!e->code || !e->description || !e->parent) {
        snprintf(h->err, sizeof h->err, "out of memory");
        return false;
    }
    hs_n++;
    return true;
}

static int refdata__cmp(const void *a, const void *b)
{
    return strcmp(((const decl_hs_entry *)a)->code, ((const decl_hs_entry *)b)->code);
}

static cx_err refdata__hs(const char *data_dir, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/hs/harmonized-system.csv", data_dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: the HS 2022 nomenclature is needed "
                              "(set CUSTOMS_DATA_DIR to the project's data/ folder)", path);
        return CX_EIO;
    }
    hs_load h = {0};
    uint64_t line = 0;
    cx_err e = cx_csv_read(f, 4096, refdata__hs_row, &h, &line);
    fclose(f);
    if (h.err[0]) {
        snprintf(err, errlen, "%s: %s", path, h.err);
        return CX_EPARSE;
    }
    if (e != CX_OK) {
        snprintf(err, errlen, "%s: line %llu: %s", path, (unsigned long long)line,
                 cx_strerror(e));
        return e;
    }
    if (hs_n < 5000) {
        snprintf(err, errlen, "%s holds only %zu codes: not the HS nomenclature", path, hs_n);
        return CX_EPARSE;
    }
    qsort(hs_entries, hs_n, sizeof *hs_entries, refdata__cmp);
    return CX_OK;
}

cx_err decl_refdata_load(const char *data_dir, char *err, size_t errlen)
{
    pthread_mutex_lock(&load_mu);
    if (!loaded) {
        const char *iso = getenv("CUSTOMS_ISO_CODES_DIR");
        if (!iso || !*iso)
            iso = "/usr/share/iso-codes/json";
        load_result = refdata__iso(iso, "iso_3166-1.json", "3166-1", "alpha_2", load_err,
                                   sizeof load_err);
        if (load_result == CX_OK)
            load_result = refdata__iso(iso, "iso_4217.json", "4217", "alpha_3", load_err,
                                       sizeof load_err);
        if (load_result == CX_OK)
            load_result = refdata__hs(data_dir ? data_dir : cx_data_dir(), load_err,
                                      sizeof load_err);
        /* ZZ is not in ISO 3166-1 but real declarations use it for "unknown". */
        countries['Z' - 'A']['Z' - 'A'] = true;
        loaded = true;
    }
    if (load_result != CX_OK && errlen)
        snprintf(err, errlen, "%s", load_err);
    cx_err e = load_result;
    pthread_mutex_unlock(&load_mu);
    return e;
}

bool decl_country_valid(const char *s)
{
    return refdata__upper(s, 2) && countries[s[0] - 'A'][s[1] - 'A'];
}

bool decl_currency_valid(const char *s)
{
    return refdata__upper(s, 3) && currencies[s[0] - 'A'][s[1] - 'A'][s[2] - 'A'];
}

bool decl_hs6_known(const char *six)
{
    if (!six)
        return false;
    for (int i = 0; i < 6; i++)
        if (six[i] < '0' || six[i] > '9')
            return false;
    long v = 0;
    for (int i = 0; i < 6; i++)
        v = v * 10 + (six[i] - '0');
    return hs6_bits[v / 8] & (1u << (v % 8));
}

bool decl_hs_chapter_known(const char *two)
{
    if (!two || two[0] < '0' || two[0] > '9' || two[1] < '0' || two[1] > '9')
        return false;
    return hs_chapters[(two[0] - '0') * 10 + (two[1] - '0')];
}

size_t decl_hs_count(void)
{
    return hs_n;
}

const decl_hs_entry *decl_hs_at(size_t i)
{
    return i < hs_n ? &hs_entries[i] : NULL;
}

const decl_hs_entry *decl_hs_find(const char *code)
{
    decl_hs_entry key = {.code = code};
    return code ? bsearch(&key, hs_entries, hs_n, sizeof key, refdata__cmp) : NULL;
}

int decl_iso6346_check_digit(const char *s)
{
    /* Letters take the values 10..38 skipping multiples of 11; position i
     * weighs 2^i; the sum mod 11 mod 10 is the check digit. */
    static const int letter[26] = {10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24,
                                   25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38};
    if (!s)
        return -1;
    int sum = 0;
    for (int i = 0; i < 10; i++) {
        int v;
        char c = s[i];
        if (i < 4) {
            if (c < 'A' || c > 'Z')
                return -1;
            if (i == 3 && c != 'U' && c != 'J' && c != 'Z')
                return -1;
            v = letter[c - 'A'];
        } else {
            if (c < '0' || c > '9')
                return -1;
            v = c - '0';
        }
        sum += v << i;
    }
    return sum % 11 % 10;
}

bool decl_container_valid(const char *s)
{
    if (!s || strlen(s) != 11 || s[10] < '0' || s[10] > '9')
        return false;
    int cd = decl_iso6346_check_digit(s);
    return cd >= 0 && cd == s[10] - '0';
}
