/* What the revenue module's in-memory unit tests share: CSV rows of the
 * importers loaded into a book (no database), a refusal failing the test
 * with the problems. Header-only, included after cmocka and revenue.h. */
#ifndef CUSTOMS_REVBOOK_H
#define CUSTOMS_REVBOOK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void book__csv(rev_book *b, rev_import_kind kind,
                             const char *text) {
  FILE *f = fmemopen((void *)text, strlen(text), "rb");
  assert_non_null(f);
  rev_rows *rows = NULL;
  json_t *problems = json_array();
  cx_err e = rev_rows_parse(kind, f, &rows, problems, NULL);
  fclose(f);
  if (e != CX_OK) {
    char *t = json_dumps(problems, 0);
    fail_msg("CSV refused: %s", t);
    free(t);
  }
  assert_int_equal(rev_rows_to_book(rows, b), CX_OK);
  rev_rows_free(rows);
  json_decref(problems);
}

#endif
