/* Frames and photos: the JPEG probe (libjpeg's header reader behind our
 * checks) on any bytes. */
#include "inspect.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned w = 0, h = 0;
    if (inspect_jpeg_probe(data, size, &w, &h) == CX_OK && (!w || !h || w > 16384 || h > 16384))
        abort();
    return 0;
}
