/* Fuzz target: the ANSI INCITS 378-2004 parser, strict and permissive,
 * and the matcher on whatever it accepts (fuzz_bio.h has the properties). */
#include "fuzz_bio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bio_one(data, size, BIO_FMT_ANSI2004);
    return 0;
}
