/* Fuzz target: the OBJ reader (faces, negative indices, polygons), then
 * measuring. */
#include "fuzz_designs_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_designs_read(data, size, "fuzz.obj");
    return 0;
}
