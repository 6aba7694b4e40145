/* Fuzz target: the fingerprint on arbitrary geometry. The input is read as
 * vertices (three little-endian 16-bit integers each, in tenths of a
 * millimetre, times a scale from the first byte) and every three vertices
 * make a triangle: degenerate, repeated, far apart, tiny or huge meshes.
 * Properties: no crash; the fingerprint of a mesh is deterministic, and
 * comparing it with itself gives similarity 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "designs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 + 18 || size > 1 + 18 * 2000)
        return 0;
    double scale = pow(10, (int)(data[0] % 13) - 6); /* 1e-6 .. 1e6 */
    designs_mesh m = {0};
    size_t n = (size - 1) / 6;
    for (size_t v = 0; v + 2 < n; v += 3)
        for (int k = 0; k < 3; k++) {
            const uint8_t *p = data + 1 + 6 * (v + (size_t)k);
            double c[3];
            for (int j = 0; j < 3; j++)
                c[j] = (int16_t)(p[2 * j] | p[2 * j + 1] << 8) * 0.1 * scale;
            designs_mesh_add_vertex(&m, c[0], c[1], c[2]);
        }
    for (uint32_t t = 0; t + 2 < m.nverts; t += 3)
        designs_mesh_add_triangle(&m, t, t + 1, t + 2);
    designs_inspection in;
    designs_fp a, b;
    if (m.ntris && designs_measure(&m, NULL, data, size, &in) == CX_OK &&
        designs_fingerprint(&m, &in, &a) == CX_OK) {
        if (designs_fingerprint(&m, &in, &b) != CX_OK || memcmp(&a, &b, sizeof a) != 0 ||
            designs_similarity(&a, &b) != 1.0 || !isfinite(a.size_diag))
            abort();
    }
    designs_mesh_free(&m);
    return 0;
}
