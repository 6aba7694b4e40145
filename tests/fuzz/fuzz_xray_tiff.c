/* Fuzz target: the TIFF (libtiff) reader of the X-ray module. Properties: no
 * crash, no leak, no allocation beyond the limits; a refusal names its
 * reason; an accepted image is within the limits and round-trips through
 * the module's own encoder. */
#include "fuzz_xray_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_xray_check(data, size, xray_tiff_encode);
    return 0;
}
