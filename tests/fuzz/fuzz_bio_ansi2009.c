/* Fuzz target: the ANSI INCITS 378-2009 parser (and 2009/AM1, the same
 * layout), strict and permissive, and the matcher on whatever it accepts (fuzz_bio.h has the properties). */
#include "fuzz_bio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bio_one(data, size, BIO_FMT_ANSI2009);
    fuzz_bio_one(data, size, BIO_FMT_ANSI2009AM1);
    return 0;
}
