/* The body of the revenue CSV importer fuzz targets: each target file
 * defines FUZZ_REV_KIND (the importer) and includes this. Header mapping,
 * every cell rule and the overlap checks; what parses must load into a book
 * and be searchable, and a refusal always comes with its problems. */
#include <stdio.h>
#include <stdlib.h>

#include "revenue.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (!f)
        return 0;
    if (!size)
        fgetc(f);
    json_t *problems = json_array();
    rev_rows *rows = NULL;
    size_t n = 0;
    if (rev_rows_parse(FUZZ_REV_KIND, f, &rows, problems, &n) == CX_OK) {
        rev_book *b = rev_book_new("KRW");
        if (b && rev_rows_to_book(rows, b) == CX_OK) {
            rev_book_finish(b);
            rev_book_line(b, "6907221000", "2024-03-01");
            rev_book_rate(b, "USD", "2024-03-01");
        }
        rev_book_free(b);
    } else if (rows || (n && !json_array_size(problems))) {
        abort();
    }
    rev_rows_free(rows);
    json_decref(problems);
    fclose(f);
    return 0;
}
