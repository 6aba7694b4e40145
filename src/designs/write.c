/* Writing a mesh as STL (binary or ASCII), OBJ or 3MF: conversion, test
 * files and the benchmark's format changes. */
#include "designs_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* Shortest text that reads back to the same double (9 digits for values a
 * float holds exactly, as most meshes' coordinates are). */
static cx_err write__num(cx_buf *b, double v)
{
    return cx_buf_printf(b, (double)(float)v == v ? "%.9g" : "%.17g", v);
}

static void write__normal(const designs_mesh *m, size_t t, float n[3])
{
    const double *a = m->xyz + 3 * (size_t)m->tri[3 * t], *b = m->xyz + 3 * (size_t)m->tri[3 * t + 1],
                 *c = m->xyz + 3 * (size_t)m->tri[3 * t + 2];
    double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v[3] = {c[0] - a[0], c[1] - a[1],
                                                                    c[2] - a[2]};
    double x = u[1] * v[2] - u[2] * v[1], y = u[2] * v[0] - u[0] * v[2], z = u[0] * v[1] - u[1] * v[0];
    double l = sqrt(x * x + y * y + z * z);
    n[0] = l > 0 ? (float)(x / l) : 0;
    n[1] = l > 0 ? (float)(y / l) : 0;
    n[2] = l > 0 ? (float)(z / l) : 0;
}

static void write__le32(uint8_t *p, uint32_t u)
{
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static void write__f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    write__le32(p, u);
}

static cx_err write__stl_binary(const designs_mesh *m, cx_buf *out)
{
    if (m->ntris > UINT32_MAX)
        return CX_ETOOBIG;
    uint8_t head[84] = {0};
    snprintf((char *)head, 80, "customs designs: binary STL, millimetres");
    write__le32(head + 80, (uint32_t)m->ntris);
    cx_err e = cx_buf_reserve(out, 84 + 50 * m->ntris);
    if (!e)
        e = cx_buf_append(out, head, sizeof head);
    for (size_t t = 0; !e && t < m->ntris; t++) {
        uint8_t rec[50] = {0};
        float n[3];
        write__normal(m, t, n);
        for (int k = 0; k < 3; k++)
            write__f32(rec + 4 * k, n[k]);
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                write__f32(rec + 12 + 12 * j + 4 * k,
                           (float)m->xyz[3 * (size_t)m->tri[3 * t + j] + k]);
        e = cx_buf_append(out, rec, sizeof rec);
    }
    return e;
}

static cx_err write__stl_ascii(const designs_mesh *m, cx_buf *out)
{
    cx_err e = cx_buf_puts(out, "solid customs\n");
    for (size_t t = 0; !e && t < m->ntris; t++) {
        float n[3];
        write__normal(m, t, n);
        e = cx_buf_printf(out, "  facet normal %.9g %.9g %.9g\n    outer loop\n", n[0], n[1],
                          n[2]);
        for (int j = 0; !e && j < 3; j++) {
            const double *p = m->xyz + 3 * (size_t)m->tri[3 * t + j];
            e = cx_buf_printf(out, "      vertex %.9g %.9g %.9g\n", (float)p[0], (float)p[1],
                              (float)p[2]);
        }
        if (!e)
            e = cx_buf_puts(out, "    endloop\n  endfacet\n");
    }
    if (!e)
        e = cx_buf_puts(out, "endsolid customs\n");
    return e;
}

static cx_err write__obj(const designs_mesh *m, cx_buf *out)
{
    cx_err e = cx_buf_puts(out, "# customs designs: OBJ, millimetres\no design\n");
    for (size_t v = 0; !e && v < m->nverts; v++) {
        e = cx_buf_puts(out, "v");
        for (int k = 0; !e && k < 3; k++) {
            e = cx_buf_puts(out, " ");
            if (!e)
                e = write__num(out, m->xyz[3 * v + k]);
        }
        if (!e)
            e = cx_buf_puts(out, "\n");
    }
    for (size_t t = 0; !e && t < m->ntris; t++)
        e = cx_buf_printf(out, "f %u %u %u\n", m->tri[3 * t] + 1, m->tri[3 * t + 1] + 1,
                          m->tri[3 * t + 2] + 1);
    return e;
}

/* ---- 3MF --------------------------------------------------------------------------- */

static const char tmf_types[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
    "<Default Extension=\"rels\" "
    "ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
    "<Default Extension=\"model\" "
    "ContentType=\"application/vnd.ms-package.3dmanufacturing-3dmodel+xml\"/></Types>\n";
static const char tmf_rels[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Target=\"/3D/3dmodel.model\" Id=\"rel0\" "
    "Type=\"http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel\"/></Relationships>\n";

static cx_err write__3mf_xml(const designs_mesh *m, cx_buf *x)
{
    cx_err e = cx_buf_puts(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<model unit=\"millimeter\" xml:lang=\"en-US\" xmlns=\"http://"
                              "schemas.microsoft.com/3dmanufacturing/core/2015/02\">\n"
                              "<resources><object id=\"1\" type=\"model\"><mesh><vertices>\n");
    for (size_t v = 0; !e && v < m->nverts; v++) {
        static const char *const at[3] = {"<vertex x=\"", "\" y=\"", "\" z=\""};
        for (int k = 0; !e && k < 3; k++) {
            e = cx_buf_puts(x, at[k]);
            if (!e)
                e = write__num(x, m->xyz[3 * v + k]);
        }
        if (!e)
            e = cx_buf_puts(x, "\"/>\n");
    }
    if (!e)
        e = cx_buf_puts(x, "</vertices><triangles>\n");
    for (size_t t = 0; !e && t < m->ntris; t++)
        e = cx_buf_printf(x, "<triangle v1=\"%u\" v2=\"%u\" v3=\"%u\"/>\n", m->tri[3 * t],
                          m->tri[3 * t + 1], m->tri[3 * t + 2]);
    if (!e)
        e = cx_buf_puts(x, "</triangles></mesh></object></resources>\n"
                           "<build><item objectid=\"1\"/></build></model>\n");
    return e;
}

static cx_err write__3mf(const designs_mesh *m, cx_buf *out)
{
    cx_buf x;
    cx_buf_init(&x, out->max);
    cx_err e = write__3mf_xml(m, &x);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = e ? NULL : zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!e && !za) {
        e = CX_ENOMEM;
        if (src)
            zip_source_free(src);
        src = NULL;
    }
    if (za) {
        zip_source_keep(src);
        const struct {
            const char *name;
            const void *data;
            size_t len;
        } parts[] = {{"[Content_Types].xml", tmf_types, sizeof tmf_types - 1},
                     {"_rels/.rels", tmf_rels, sizeof tmf_rels - 1},
                     {"3D/3dmodel.model", x.data, x.len}};
        for (size_t i = 0; !e && i < 3; i++) {
            zip_source_t *s = zip_source_buffer(za, parts[i].data, parts[i].len, 0);
            if (!s || zip_file_add(za, parts[i].name, s, ZIP_FL_ENC_UTF_8) < 0) {
                zip_source_free(s);
                e = CX_ENOMEM;
            }
        }
        if (e)
            zip_discard(za);
        else if (zip_close(za) != 0) {
            zip_discard(za);
            e = CX_EIO;
        }
    }
    zip_stat_t st;
    if (!e && (zip_source_open(src) != 0 || zip_source_stat(src, &st) != 0))
        e = CX_EIO;
    else if (!e) {
        e = cx_buf_reserve(out, (size_t)st.size);
        char chunk[65536];
        zip_int64_t n;
        while (!e && (n = zip_source_read(src, chunk, sizeof chunk)) > 0)
            e = cx_buf_append(out, chunk, (size_t)n);
        zip_source_close(src);
    }
    if (src)
        zip_source_free(src);
    zip_error_fini(&ze);
    cx_buf_free(&x);
    return e;
}

cx_err designs_write(const designs_mesh *m, designs_format f, bool ascii, cx_buf *out)
{
    switch (f) {
    case DESIGNS_FMT_STL: return ascii ? write__stl_ascii(m, out) : write__stl_binary(m, out);
    case DESIGNS_FMT_OBJ: return write__obj(m, out);
    case DESIGNS_FMT_3MF: return write__3mf(m, out);
    default: return CX_EINVAL;
    }
}
