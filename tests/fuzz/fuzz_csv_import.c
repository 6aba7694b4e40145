/* Fuzz target: the CSV import reader (libcsv underneath), run dry so only
 * parsing, grouping and validation are exercised. */
#include "fuzzkit.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_refdata();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_import(data, size, "csv");
    return 0;
}
