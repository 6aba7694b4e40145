/* Fuzz target: the reader of the derivation record (derive.c), which the
 * revenue worker runs on every declaration's record to make its row, through
 * rev_record_normal. The input is the stored record text. Invariants: it
 * succeeds or says the record is damaged (CX_EPARSE), nothing else; what it
 * writes back reads again and is then written the same (a normal form). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revenue.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *once = NULL, *twice = NULL;
    cx_err e = rev_record_normal((const char *)data, size, &once);
    if (e != CX_OK && e != CX_EPARSE && e != CX_ENOMEM)
        abort();
    if (e != CX_OK && once)
        abort();
    if (e == CX_OK) {
        cx_err e2 = rev_record_normal(once, strlen(once), &twice);
        if (e2 == CX_EPARSE || (e2 == CX_OK && strcmp(once, twice) != 0))
            abort();
    }
    free(once);
    free(twice);
    return 0;
}
