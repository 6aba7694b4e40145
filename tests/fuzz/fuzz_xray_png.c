/* Fuzz target: the PNG (libpng) reader of the X-ray module. Properties: no
 * crash, no leak, no allocation beyond the limits; a refusal names its
 * reason; an accepted image is within the limits and round-trips through
 * the module's own encoder. */
#include "fuzz_xray_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cx_err fuzz_xray_png16(const xray_image *im, cx_buf *b)
{
    return xray_png_encode(im, 16, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_xray_check(data, size, fuzz_xray_png16);
    return 0;
}
