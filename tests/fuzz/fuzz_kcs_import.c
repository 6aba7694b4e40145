/* Fuzz target: the KCS import reader (libcsv underneath), run dry so that the
 * header check, row mapping, outcome columns and validation are exercised. */
#include "fuzzkit.h"
#include "risk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_refdata();
    if (risk_kcs_register() != CX_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_import(data, size, "kcs");
    return 0;
}
