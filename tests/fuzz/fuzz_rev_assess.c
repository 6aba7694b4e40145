/* Fuzz target: the assessment of a declaration from its JSON text — the
 * reader of the numbers' exact spelling (matched against jansson's tree)
 * and the arithmetic on whatever amounts the text holds. Invariants: an
 * assessment always comes back, totals are the sums of the item amounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revenue.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rev_book *book;

static void fuzz__csv(rev_import_kind kind, const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "rb");
    rev_rows *rows = NULL;
    if (!f || rev_rows_parse(kind, f, &rows, NULL, NULL) != CX_OK ||
        rev_rows_to_book(rows, book) != CX_OK)
        abort();
    rev_rows_free(rows);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK ||
        rev_minor_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    book = rev_book_new("EUR");
    fuzz__csv(REV_IMPORT_TARIFF,
              "hs_code,valid_from,duty_type,ad_valorem_pct,specific_amount,specific_unit,"
              "excise_pct,vat_pct\n"
              "69,2000-01-01,ad_valorem,13,,,,10\n"
              "2203,2000-01-01,compound,5,0.12,LTR,72,10\n"
              "2204,2000-01-01,max_of,15,0.9,LTR,30,10\n"
              "0306,2000-01-01,specific,,1.5,KGM,,10\n"
              "030617,2000-01-01,min_of,20,3,KGM,,10\n");
    fuzz__csv(REV_IMPORT_RATES, "date,currency,rate\n2000-01-01,USD,0.92\n"
                                "2000-01-01,KRW,0.000693\n2000-01-01,BHD,2.44\n");
    rev_book_finish(book);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return 0;
    }
    rev_summary_row row;
    json_t *a = rev_assess(book, doc, (const char *)data, size, NULL, &row);
    if (!a)
        abort();
    if (row.total != row.duty + row.excise + row.vat)
        abort();
    char *s = cx_json_dump(a, NULL);
    if (!s)
        abort();
    free(s);
    json_decref(a);
    json_decref(doc);
    return 0;
}
