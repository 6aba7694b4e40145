/* Fuzz target: the KCS import reader (libcsv underneath), run dry so that the
 * header check, row mapping, outcome columns and validation are exercised. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    if (risk_kcs_register() != CX_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (!f)
        return 0;
    if (!size)
        fgetc(f);
    decl_import_opts o = {.path = "fuzz.csv", .file = f, .dry_run = true, .format = "kcs",
                          .org = "FUZZ", .quiet = true};
    decl_import_result res;
    char err[512];
    decl_import(NULL, &o, &res, err, sizeof err);
    fclose(f);
    return 0;
}
