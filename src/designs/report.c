/* The API's JSON: an inspection, and the matches against the watchlists. */
#include "designs_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The double nearest to v written with `decimals` decimals, so that the
 * JSON shows 59.9952 and not 59.995199999999997. */
double designs__round(double v, int decimals)
{
    char s[64];
    snprintf(s, sizeof s, "%.*f", decimals, v);
    return strtod(s, NULL);
}

static void meas__problem(json_t *arr, const char *code, uint64_t count, const char *fmt, ...)
    CX_PRINTF(4, 5);

static void meas__problem(json_t *arr, const char *code, uint64_t count, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "code", code, "count",
                                         (json_int_t)count, "message", msg));
}

json_t *designs_inspection_json(const designs_inspection *in)
{
    char sha[65], msha[65];
    cx_hex(in->sha256, 32, sha);
    cx_hex(in->mesh_sha256, 32, msha);
    json_t *bbox = json_array(), *problems = json_array();
    for (int k = 0; k < 3; k++)
        json_array_append_new(bbox, json_real(designs__round(in->bbox_max[k] - in->bbox_min[k], 6)));
    if (in->boundary_edges)
        meas__problem(problems, "open_edges", in->boundary_edges,
                      "%llu edges belong to one triangle only: the surface has holes",
                      (unsigned long long)in->boundary_edges);
    if (in->nonmanifold_edges)
        meas__problem(problems, "non_manifold_edges", in->nonmanifold_edges,
                      "%llu edges are shared by three or more triangles",
                      (unsigned long long)in->nonmanifold_edges);
    if (in->flipped_edges)
        meas__problem(problems, "inconsistent_winding", in->flipped_edges,
                      "%llu edges are walked the same way by both their triangles: some "
                      "triangles face the wrong way",
                      (unsigned long long)in->flipped_edges);
    if (in->degenerate)
        meas__problem(problems, "degenerate_triangles", in->degenerate,
                      "%llu triangles have no area (a repeated vertex at 1 µm)",
                      (unsigned long long)in->degenerate);
    if (in->watertight && in->volume_mm3 < 0)
        meas__problem(problems, "inside_out", 1, "the triangles face inwards: the volume is "
                                                 "negative");
    if (in->info.skipped)
        meas__problem(problems, "skipped_elements", in->info.skipped,
                      "%u statements or objects that are not triangle surfaces were skipped",
                      in->info.skipped);
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:f, s:o, s:b, s:o, s:s, s:b, s:I, s:I}",
                          "format", designs_format_name(in->info.format), "sha256", sha,
                          "mesh_sha256", msha, "triangles", (json_int_t)in->triangles,
                          "vertices", (json_int_t)in->vertices, "bbox_mm", bbox, "area_mm2",
                          designs__round(in->area_mm2, 4), "volume_mm3",
                          in->watertight ? json_real(designs__round(in->volume_mm3, 4))
                                         : json_null(),
                          "watertight", in->watertight, "problems", problems, "unit",
                          in->info.unit[0] ? in->info.unit : "millimeter", "unit_assumed",
                          in->info.unit_assumed, "shells", (json_int_t)in->shells, "file_size",
                          (json_int_t)in->file_size);
    return j;
}
