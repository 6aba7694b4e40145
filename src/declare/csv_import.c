/* The flat CSV import format: one row per item, consecutive rows with the
 * same reference form one declaration (docs/declaration.md). Cells become
 * JSON members so that validation, and its error paths, are the same as for
 * a JSON submission. */
#include "decl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_FIELD 4096

typedef enum { C_STR, C_NUM, C_LIST } cell_kind;
typedef enum { AT_HEADER, AT_PROCEDURE, AT_TDOC, AT_ITEM } cell_place;

typedef struct {
    const char *column;
    const char *member; /* name of the JSON member */
    cell_place place;
    cell_kind kind;
    bool required;
} column;

static const column columns[] = {
    {"reference", "reference", AT_HEADER, C_STR, true},
    {"type", "type", AT_HEADER, C_STR, true},
    {"date", "date", AT_HEADER, C_STR, true},
    {"office", "office", AT_HEADER, C_STR, true},
    {"declarant_id", "declarant_id", AT_HEADER, C_STR, true},
    {"importer_id", "importer_id", AT_HEADER, C_STR, false},
    {"exporter_id", "exporter_id", AT_HEADER, C_STR, false},
    {"seller_id", "seller_id", AT_HEADER, C_STR, false},
    {"courier_id", "courier_id", AT_HEADER, C_STR, false},
    {"country_of_departure", "country_of_departure", AT_HEADER, C_STR, false},
    {"transport_mode", "transport_mode", AT_HEADER, C_STR, false},
    {"process_type", "process_type", AT_PROCEDURE, C_STR, false},
    {"import_type", "import_type", AT_PROCEDURE, C_STR, false},
    {"import_use", "import_use", AT_PROCEDURE, C_STR, false},
    {"payment_type", "payment_type", AT_PROCEDURE, C_STR, false},
    {"containers", "containers", AT_HEADER, C_LIST, false},
    {"transport_document_type", "type", AT_TDOC, C_STR, false},
    {"transport_document_number", "number", AT_TDOC, C_STR, false},
    {"hs_code", "hs_code", AT_ITEM, C_STR, true},
    {"description", "description", AT_ITEM, C_STR, false},
    {"country_of_origin", "country_of_origin", AT_ITEM, C_STR, true},
    {"origin_indicator", "origin_indicator", AT_ITEM, C_STR, false},
    {"quantity", "quantity", AT_ITEM, C_NUM, false},
    {"unit", "unit", AT_ITEM, C_STR, false},
    {"net_mass_kg", "net_mass_kg", AT_ITEM, C_NUM, true},
    {"gross_mass_kg", "gross_mass_kg", AT_ITEM, C_NUM, false},
    {"value", "value", AT_ITEM, C_NUM, true},
    {"currency", "currency", AT_ITEM, C_STR, true},
    {"tax_rate", "tax_rate", AT_ITEM, C_NUM, false},
    {"tax_type", "tax_type", AT_ITEM, C_STR, false},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

typedef struct {
    decl_import_run *run;
    decl_emit_fn emit;
    int map[NCOLUMNS]; /* column index in the file, or -1 */
    size_t width;
    bool header_done;
    char header_err[512];
    /* the declaration being assembled */
    json_t *doc;
    json_t *problems;
    json_t *item_lines; /* CSV line of each item */
    char reference[80];
    uint64_t first_line;
    bool go;
} csv_ctx;

/* A cell that reads as a number becomes a JSON number (an integer when
 * written as one), anything else stays a string so the validator can say
 * "must be a number" at the right path. */
static json_t *csv__number(const char *s)
{
    int64_t i;
    double d;
    if (strspn(s, "-0123456789") == strlen(s) && cx_parse_i64(s, &i))
        return json_integer(i);
    if (cx_parse_double(s, &d))
        return json_real(d);
    return json_string(s);
}

static json_t *csv__list(const char *s)
{
    json_t *arr = json_array();
    const char *p = s;
    while (*p) {
        size_t skip = strspn(p, " ;");
        p += skip;
        size_t n = strcspn(p, " ;");
        if (n)
            json_array_append_new(arr, json_stringn(p, n));
        p += n;
    }
    return arr;
}

static json_t *csv__cell(const column *c, const char *s)
{
    switch (c->kind) {
    case C_NUM:
        return csv__number(s);
    case C_LIST:
        return csv__list(s);
    default:
        return json_string(s);
    }
}

static void csv__flush(csv_ctx *x)
{
    if (!x->doc)
        return;
    /* Problems found by the validator under /items/i get the item's line;
     * the reader's own (rows that disagree) come after. */
    json_t *problems = json_array();
    decl_validate(x->doc, problems);
    json_array_extend(problems, x->problems);
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        unsigned long idx;
        if (path && sscanf(path, "/items/%lu", &idx) == 1 && idx < json_array_size(x->item_lines))
            json_object_set(p, "line", json_array_get(x->item_lines, idx));
    }
    json_t *doc = x->doc;
    x->doc = NULL;
    json_decref(x->problems);
    x->problems = NULL;
    json_decref(x->item_lines);
    x->item_lines = NULL;
    if (json_array_size(problems) == 0) {
        json_decref(problems);
        problems = NULL;
    }
    x->go = x->emit(x->run, doc, x->first_line, problems, NULL) && x->go;
}

static bool csv__header(csv_ctx *x, char **f, size_t n)
{
    for (size_t k = 0; k < NCOLUMNS; k++)
        x->map[k] = -1;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < NCOLUMNS; k++)
            if (strcmp(columns[k].column, f[i]) == 0)
                break;
        if (k == NCOLUMNS) {
            snprintf(x->header_err, sizeof x->header_err, "line 1: unknown column \"%s\"", f[i]);
            return false;
        }
        if (x->map[k] >= 0) {
            snprintf(x->header_err, sizeof x->header_err, "line 1: column \"%s\" appears twice",
                     f[i]);
            return false;
        }
        x->map[k] = (int)i;
    }
    for (size_t k = 0; k < NCOLUMNS; k++)
        if (columns[k].required && x->map[k] < 0) {
            snprintf(x->header_err, sizeof x->header_err, "line 1: required column \"%s\" is "
                                                          "missing", columns[k].column);
            return false;
        }
    x->width = n;
    x->header_done = true;
    return true;
}

static json_t *csv__child(json_t *doc, const char *name)
{
    json_t *o = json_object_get(doc, name);
    if (!o) {
        o = json_object();
        json_object_set_new(doc, name, o);
    }
    return o;
}

static json_t *csv__items(json_t *doc)
{
    json_t *a = json_object_get(doc, "items");
    if (!a) {
        a = json_array();
        json_object_set_new(doc, "items", a);
    }
    return a;
}

static bool csv__row(void *ctx, char **f, size_t n, uint64_t line, uint64_t offset)
{
    csv_ctx *x = ctx;
    if (!x->header_done)
        return csv__header(x, f, n);
    decl_import_progress(x->run, offset);
    const char *ref = f[x->map[0]] ? f[x->map[0]] : "";
    if (n != x->width) {
        csv__flush(x);
        json_t *p = json_array();
        cx_problem_add(p, "", "the row has %zu cells; the header has %zu", n, x->width);
        json_t *stub = ref[0] ? json_pack("{s:s}", "reference", ref) : NULL;
        x->go = x->emit(x->run, stub, line, p, NULL) && x->go;
        return x->go;
    }
    bool continuation = x->doc && ref[0] && strcmp(ref, x->reference) == 0;
    if (!continuation) {
        csv__flush(x);
        if (!x->go)
            return false;
        x->doc = json_object();
        x->problems = json_array();
        x->item_lines = json_array();
        x->first_line = line;
        snprintf(x->reference, sizeof x->reference, "%s", ref);
    }
    json_t *item = json_object();
    for (size_t k = 0; k < NCOLUMNS; k++) {
        if (x->map[k] < 0)
            continue;
        const char *cell = f[x->map[k]];
        if (!cell[0])
            continue;
        const column *c = &columns[k];
        if (c->place == AT_ITEM) {
            json_object_set_new(item, c->member, csv__cell(c, cell));
            continue;
        }
        json_t *target = c->place == AT_HEADER      ? x->doc
                         : c->place == AT_PROCEDURE ? csv__child(x->doc, "procedure")
                                                    : csv__child(x->doc, "transport_document");
        json_t *value = csv__cell(c, cell);
        json_t *have = json_object_get(target, c->member);
        if (!have) {
            json_object_set_new(target, c->member, value);
        } else {
            if (!json_equal(have, value)) {
                char path[96] = "";
                if (c->place == AT_PROCEDURE)
                    cx_jptr_push(path, sizeof path, "procedure");
                else if (c->place == AT_TDOC)
                    cx_jptr_push(path, sizeof path, "transport_document");
                cx_jptr_push(path, sizeof path, c->member);
                json_t *p = cx_problem_add(x->problems, path,
                                           "column %s differs between rows of this declaration "
                                           "(line %llu)",
                                           c->column, (unsigned long long)line);
                json_object_set_new(p, "line", json_integer((json_int_t)line));
            }
            json_decref(value);
        }
    }
    json_array_append_new(csv__items(x->doc), item);
    json_array_append_new(x->item_lines, json_integer((json_int_t)line));
    return x->go;
}

cx_err decl__csv_reader(FILE *f, decl_import_run *run, decl_emit_fn emit, char *err,
                        size_t errlen)
{
    csv_ctx x = {.run = run, .emit = emit, .go = true};
    uint64_t line = 0;
    cx_err e = cx_csv_read(f, CSV_MAX_FIELD, csv__row, &x, &line);
    if (x.header_err[0]) {
        snprintf(err, errlen, "%s", x.header_err);
        e = CX_EINVAL;
    } else if (e == CX_OK || e == CX_EPARSE || e == CX_ETOOBIG) {
        csv__flush(&x);
        if (e != CX_OK)
            snprintf(err, errlen, "line %llu: %s", (unsigned long long)line,
                     e == CX_ETOOBIG ? "a cell is longer than 4096 bytes or a row has too many "
                                       "cells"
                                     : "malformed CSV (unbalanced quotes?)");
    } else {
        snprintf(err, errlen, "%s", cx_strerror(e));
    }
    if (e == CX_OK && !x.header_done) {
        snprintf(err, errlen, "the file is empty: expected a header line");
        e = CX_EINVAL;
    }
    json_decref(x.doc);
    json_decref(x.problems);
    json_decref(x.item_lines);
    return e;
}
