/* Shared by the designs fuzz targets: read with small limits, then check
 * what was read and measure it. Properties: no crash, no leak, no hang; a
 * mesh read has finite coordinates within range and indices within it; its
 * measurements are finite; what one reader accepts another reads back to
 * the same canonical mesh. */
#ifndef FUZZ_DESIGNS_COMMON_H
#define FUZZ_DESIGNS_COMMON_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "designs.h"

static void fuzz_designs_check(const designs_mesh *m)
{
    for (size_t v = 0; v < 3 * m->nverts; v++)
        if (!(fabs(m->xyz[v]) <= 1e9))
            abort();
    for (size_t t = 0; t < 3 * m->ntris; t++)
        if (m->tri[t] >= m->nverts)
            abort();
}

static void fuzz_designs_read(const uint8_t *data, size_t size, const char *name)
{
    designs_limits lim;
    designs_limits_default(&lim);
    lim.max_triangles = 200000;
    lim.max_vertices = 600000;
    lim.max_uncompressed = 16u << 20;
    designs_mesh m;
    designs_info info;
    designs_error why;
    if (designs_read(data, size, name, &lim, &m, &info, &why) != CX_OK) {
        if (!why.code[0] || !why.message[0] || m.xyz || m.tri || m.ntris)
            abort(); /* a refusal always says why and leaves nothing */
        return;
    }
    fuzz_designs_check(&m);
    designs_inspection in;
    if (designs_measure(&m, &info, data, size, &in) != CX_OK || in.triangles != m.ntris ||
        !isfinite(in.area_mm2) || !isfinite(in.volume_mm3))
        abort();
    /* written as a binary STL and read back: the same canonical mesh (every
     * coordinate a reader accepts is within a float's range) */
    if (m.ntris <= 20000) {
        cx_buf b;
        cx_buf_init(&b, 8u << 20);
        designs_mesh r;
        designs_inspection in2;
        bool ok = true;
        for (size_t v = 0; ok && v < 3 * m.nverts; v++)
            ok = (double)(float)m.xyz[v] == m.xyz[v];
        if (ok && designs_write(&m, DESIGNS_FMT_STL, false, &b) == CX_OK) {
            if (designs_read(b.data, b.len, NULL, &lim, &r, &info, &why) != CX_OK)
                abort();
            if (designs_measure(&r, &info, b.data, b.len, &in2) != CX_OK ||
                memcmp(in.mesh_sha256, in2.mesh_sha256, 32) != 0)
                abort();
            designs_mesh_free(&r);
        }
        cx_buf_free(&b);
    }
    json_decref(designs_inspection_json(&in));
    designs_mesh_free(&m);
}

#endif
