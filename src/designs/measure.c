/* Measurements: bounding box, area, volume, the edges (holes, non-manifold,
 * inconsistent winding), shells, welded vertices and both hashes. */
#include "designs_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t meas__find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* Union by size keeps the trees shallow. */
static void meas__union(uint32_t *parent, uint32_t *size, uint32_t a, uint32_t b)
{
    a = meas__find(parent, a);
    b = meas__find(parent, b);
    if (a == b)
        return;
    if (size[a] < size[b]) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    parent[b] = a;
    size[a] += size[b];
}

/* Edge statistics and shells over welded triangles. */
/* Edge statistics and shells over welded triangles: every edge as a key
 * (lower id, higher id, direction) radix-sorted, so the triangles of an
 * edge are neighbours; shells by union-find. */
static cx_err meas__topology(const designs_mesh *m, const uint32_t *weld, size_t nw,
                             designs_inspection *out)
{
    int vb = 1; /* bits of a welded id */
    while (vb < 32 && ((uint64_t)1 << vb) < nw)
        vb++;
    uint64_t *he = malloc(3 * m->ntris * sizeof *he + 1);
    uint32_t *parent = malloc(nw * sizeof *parent + 1), *size = malloc(nw * sizeof *size + 1);
    uint8_t *used = calloc(nw + 1, 1);
    cx_err e = he && parent && size && used ? CX_OK : CX_ENOMEM;
    for (size_t i = 0; !e && i < nw; i++) {
        parent[i] = (uint32_t)i;
        size[i] = 1;
    }
    size_t n = 0;
    for (size_t t = 0; !e && t < m->ntris; t++) {
        uint32_t w[3];
        for (int k = 0; k < 3; k++)
            w[k] = weld[m->tri[3 * t + k]];
        if (w[0] == w[1] || w[1] == w[2] || w[0] == w[2])
            continue; /* counted as degenerate; no edges */
        for (int k = 0; k < 3; k++) {
            uint64_t a = w[k], b = w[(k + 1) % 3];
            he[n++] = a < b ? (a << vb | b) << 1 : (b << vb | a) << 1 | 1;
            used[a] = 1;
        }
        meas__union(parent, size, w[0], w[1]);
        meas__union(parent, size, w[1], w[2]);
    }
    if (!e)
        e = designs__radix_sort(he, n, 2 * vb + 1);
    for (size_t i = 0; !e && i < n;) {
        size_t j = i, fwd = 0;
        while (j < n && (he[j] >> 1) == (he[i] >> 1)) {
            fwd += !(he[j] & 1);
            j++;
        }
        size_t c = j - i;
        if (c == 1)
            out->boundary_edges++;
        else if (c > 2)
            out->nonmanifold_edges++;
        else if (fwd != 1)
            out->flipped_edges++;
        i = j;
    }
    for (size_t v = 0; !e && v < nw; v++)
        if (used[v] && meas__find(parent, (uint32_t)v) == v)
            out->shells++;
    free(used);
    free(he);
    free(parent);
    free(size);
    return e;
}

/* ---- measuring -------------------------------------------------------------------- */

static void meas__geometry(const designs_mesh *m, const uint32_t *weld, designs_inspection *out)
{
    for (int k = 0; k < 3; k++) {
        out->bbox_min[k] = INFINITY;
        out->bbox_max[k] = -INFINITY;
    }
    for (size_t t = 0; t < m->ntris; t++)
        for (int j = 0; j < 3; j++) {
            const double *p = m->xyz + 3 * (size_t)m->tri[3 * t + j];
            for (int k = 0; k < 3; k++) {
                if (p[k] < out->bbox_min[k])
                    out->bbox_min[k] = p[k];
                if (p[k] > out->bbox_max[k])
                    out->bbox_max[k] = p[k];
            }
        }
    /* volume about the box's centre: no cancellation far from the origin */
    double o[3];
    for (int k = 0; k < 3; k++)
        o[k] = (out->bbox_min[k] + out->bbox_max[k]) / 2;
    double area = 0, vol = 0;
    for (size_t t = 0; t < m->ntris; t++) {
        const uint32_t *ix = m->tri + 3 * t;
        double a[3], b[3], c[3];
        for (int k = 0; k < 3; k++) {
            a[k] = m->xyz[3 * (size_t)ix[0] + k] - o[k];
            b[k] = m->xyz[3 * (size_t)ix[1] + k] - o[k];
            c[k] = m->xyz[3 * (size_t)ix[2] + k] - o[k];
        }
        double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                       u[0] * v[1] - u[1] * v[0]};
        double ta = 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        area += ta;
        vol += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
                a[2] * (b[0] * c[1] - b[1] * c[0])) / 6.0;
        if (ta == 0 || weld[ix[0]] == weld[ix[1]] || weld[ix[1]] == weld[ix[2]] ||
            weld[ix[0]] == weld[ix[2]])
            out->degenerate++;
    }
    out->area_mm2 = area;
    out->volume_mm3 = vol;
}

cx_err designs_measure(const designs_mesh *m, const designs_info *info, const void *data,
                       size_t len, designs_inspection *out)
{
    uint8_t sha[32];
    bool keep_sha = data == NULL;
    if (keep_sha)
        memcpy(sha, out->sha256, sizeof sha);
    memset(out, 0, sizeof *out);
    if (info)
        out->info = *info;
    if (keep_sha)
        memcpy(out->sha256, sha, sizeof sha);
    else
        designs__sha256(data, len, out->sha256);
    out->file_size = len;
    out->triangles = m->ntris;
    if (m->ntris == 0)
        return CX_EINVAL;
    designs_keys keys = {0};
    uint32_t *weld = malloc(m->nverts * sizeof *weld + 1);
    cx_err e = weld ? designs__keys(m, &keys) : CX_ENOMEM;
    size_t nw = 0;
    if (!e)
        e = designs__weld(m, &keys, weld, &nw);
    if (!e) {
        /* vertices: welded positions that some triangle uses */
        uint8_t *seen = calloc(nw + 1, 1);
        if (!seen)
            e = CX_ENOMEM;
        for (size_t t = 0; !e && t < 3 * m->ntris; t++)
            if (!seen[weld[m->tri[t]]]) {
                seen[weld[m->tri[t]]] = 1;
                out->vertices++;
            }
        free(seen);
    }
    if (!e) {
        meas__geometry(m, weld, out);
        e = meas__topology(m, weld, nw, out);
    }
    free(weld);
    if (!e)
        e = designs__canonical_sha256(m, &keys, out->mesh_sha256);
    designs__keys_free(&keys);
    out->watertight = !e && out->boundary_edges == 0 && out->nonmanifold_edges == 0 &&
                      out->flipped_edges == 0 && out->degenerate < m->ntris;
    return e;
}

