/* Unit tests of the designs module: the readers (and how they refuse bad
 * files), the measurements and the canonical mesh hash, the fingerprint's
 * invariances, and the index against a full scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "designs.h"

/* ---- building meshes ---------------------------------------------------------------- */

static void add_v(designs_mesh *m, double x, double y, double z)
{
    assert_int_equal(designs_mesh_add_vertex(m, x, y, z), CX_OK);
}

static void add_t(designs_mesh *m, uint32_t a, uint32_t b, uint32_t c)
{
    assert_int_equal(designs_mesh_add_triangle(m, a, b, c), CX_OK);
}

/* A right tetrahedron with legs a: volume a^3/6, outward winding. */
static void tetra(designs_mesh *m, double a)
{
    memset(m, 0, sizeof *m);
    add_v(m, 0, 0, 0);
    add_v(m, a, 0, 0);
    add_v(m, 0, a, 0);
    add_v(m, 0, 0, a);
    add_t(m, 0, 2, 1);
    add_t(m, 0, 1, 3);
    add_t(m, 0, 3, 2);
    add_t(m, 1, 2, 3);
}

/* The L-shaped profile extruded by h: closed, not symmetric. */
static void ell(designs_mesh *m, double h)
{
    static const double p[6][2] = {{0, 0}, {30, 0}, {30, 10}, {10, 10}, {10, 40}, {0, 40}};
    memset(m, 0, sizeof *m);
    for (int z = 0; z < 2; z++)
        for (int i = 0; i < 6; i++)
            add_v(m, p[i][0], p[i][1], z * h);
    for (int i = 1; i < 5; i++) { /* fans from corner 0 lie inside the L */
        add_t(m, 0, (uint32_t)i + 1, (uint32_t)i);
        add_t(m, 6, 6 + (uint32_t)i, 6 + (uint32_t)i + 1);
    }
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t j = (i + 1) % 6;
        add_t(m, i, j, 6 + j);
        add_t(m, i, 6 + j, 6 + i);
    }
}

/* An ellipsoid from an octahedron subdivided `levels` times. */
static void ellipsoid(designs_mesh *m, int levels, double ax, double ay, double az)
{
    designs_mesh a = {0}, b;
    add_v(&a, 1, 0, 0);
    add_v(&a, -1, 0, 0);
    add_v(&a, 0, 1, 0);
    add_v(&a, 0, -1, 0);
    add_v(&a, 0, 0, 1);
    add_v(&a, 0, 0, -1);
    static const uint32_t f[8][3] = {{0, 2, 4}, {2, 1, 4}, {1, 3, 4}, {3, 0, 4},
                                     {2, 0, 5}, {1, 2, 5}, {3, 1, 5}, {0, 3, 5}};
    for (int i = 0; i < 8; i++)
        add_t(&a, f[i][0], f[i][1], f[i][2]);
    for (int l = 0; l < levels; l++) {
        memset(&b, 0, sizeof b);
        for (size_t t = 0; t < a.ntris; t++) {
            double p[6][3];
            for (int k = 0; k < 3; k++)
                memcpy(p[k], a.xyz + 3 * a.tri[3 * t + k], sizeof p[k]);
            for (int k = 0; k < 3; k++) {
                double *q = p[3 + k], *u = p[k], *v = p[(k + 1) % 3];
                double n = 0;
                for (int c = 0; c < 3; c++) {
                    q[c] = (u[c] + v[c]) / 2;
                    n += q[c] * q[c];
                }
                for (int c = 0; c < 3; c++)
                    q[c] /= sqrt(n);
            }
            uint32_t base = (uint32_t)b.nverts;
            for (int k = 0; k < 6; k++)
                add_v(&b, p[k][0], p[k][1], p[k][2]);
            add_t(&b, base, base + 3, base + 5);
            add_t(&b, base + 3, base + 1, base + 4);
            add_t(&b, base + 5, base + 4, base + 2);
            add_t(&b, base + 3, base + 4, base + 5);
        }
        designs_mesh_free(&a);
        a = b;
    }
    for (size_t v = 0; v < a.nverts; v++) {
        a.xyz[3 * v] *= ax;
        a.xyz[3 * v + 1] *= ay;
        a.xyz[3 * v + 2] *= az;
    }
    *m = a;
}

static void transform(designs_mesh *m, double s, bool mirror, double angle)
{
    double c = cos(angle), sn = sin(angle);
    for (size_t v = 0; v < m->nverts; v++) {
        double *p = m->xyz + 3 * v;
        double x = p[0] * s * (mirror ? -1 : 1), y = p[1] * s, z = p[2] * s;
        /* about the axis (1, 1, 1) / sqrt 3 would do; two turns are enough */
        double x1 = c * x - sn * y, y1 = sn * x + c * y;
        double y2 = c * y1 - sn * z, z2 = sn * y1 + c * z;
        p[0] = x1 + 17;
        p[1] = y2 - 5;
        p[2] = z2 + 3;
    }
    if (mirror)
        for (size_t t = 0; t < m->ntris; t++) {
            uint32_t x = m->tri[3 * t + 1];
            m->tri[3 * t + 1] = m->tri[3 * t + 2];
            m->tri[3 * t + 2] = x;
        }
}

static void bytes_of(const designs_mesh *m, designs_format f, bool ascii, cx_buf *out)
{
    cx_buf_init(out, (size_t)64 << 20);
    assert_int_equal(designs_write(m, f, ascii, out), CX_OK);
}

/* Reads bytes; returns the error and fills why. */
static cx_err read_bytes(const void *d, size_t n, const designs_limits *lim, designs_mesh *m,
                         designs_error *why)
{
    designs_info info;
    memset(why, 0, sizeof *why);
    return designs_read(d, n, NULL, lim, m, &info, why);
}

static void measure(const designs_mesh *m, designs_inspection *in)
{
    assert_int_equal(designs_measure(m, NULL, "", 0, in), CX_OK);
}

#define REFUSE(text, code) expect_refused(text, strlen(text), NULL, code)

static void expect_refused(const void *d, size_t n, const designs_limits *lim, const char *code)
{
    designs_mesh m;
    designs_error why;
    cx_err e = read_bytes(d, n, lim, &m, &why);
    if (e == CX_OK || strcmp(why.code, code) != 0)
        fail_msg("expected refusal '%s', got %d '%s': %s", code, e, why.code, why.message);
    assert_int_equal(m.ntris, 0);
    assert_null(m.xyz);
}

/* ---- STL ---------------------------------------------------------------------------- */

static void test_stl_binary_and_ascii_agree(void **state)
{
    designs_mesh t, a, b;
    tetra(&t, 10);
    cx_buf bin, asc;
    bytes_of(&t, DESIGNS_FMT_STL, false, &bin);
    bytes_of(&t, DESIGNS_FMT_STL, true, &asc);
    assert_int_equal(bin.len, 84 + 4 * 50);
    designs_error why;
    assert_int_equal(read_bytes(bin.data, bin.len, NULL, &a, &why), CX_OK);
    assert_int_equal(read_bytes(asc.data, asc.len, NULL, &b, &why), CX_OK);
    designs_inspection ia, ib;
    assert_int_equal(designs_measure(&a, NULL, bin.data, bin.len, &ia), CX_OK);
    assert_int_equal(designs_measure(&b, NULL, asc.data, asc.len, &ib), CX_OK);
    assert_int_equal(ia.triangles, 4);
    assert_int_equal(ia.vertices, 4); /* 12 corners welded into 4 */
    assert_true(ia.watertight);
    assert_true(fabs(ia.volume_mm3 - 1000.0 / 6) < 1e-6);
    assert_true(fabs(ia.area_mm2 - (150 + 50 * sqrt(3))) < 1e-6);
    assert_memory_equal(ia.mesh_sha256, ib.mesh_sha256, 32);
    assert_memory_not_equal(ia.sha256, ib.sha256, 32);
    /* a binary file whose header starts with "solid" is still binary */
    memcpy(bin.data, "solid ", 6);
    designs_mesh c;
    assert_int_equal(read_bytes(bin.data, bin.len, NULL, &c, &why), CX_OK);
    assert_int_equal(c.ntris, 4);
    designs_mesh_free(&a);
    designs_mesh_free(&b);
    designs_mesh_free(&c);
    designs_mesh_free(&t);
    cx_buf_free(&bin);
    cx_buf_free(&asc);
}

static void test_stl_refusals(void **state)
{
    designs_mesh t;
    tetra(&t, 10);
    cx_buf bin;
    bytes_of(&t, DESIGNS_FMT_STL, false, &bin);
    expect_refused(bin.data, bin.len - 1, NULL, "truncated");
    expect_refused(bin.data, 60, NULL, "truncated");
    uint8_t longer[84 + 4 * 50 + 7] = {0};
    memcpy(longer, bin.data, bin.len);
    expect_refused(longer, sizeof longer, NULL, "count_mismatch");
    /* a header claiming 10^9 triangles, refused from its 84 bytes */
    uint8_t claim[84] = {0};
    uint32_t billion = 1000000000u;
    memcpy(claim + 80, &billion, 4); /* little-endian hosts only run these tests */
    expect_refused(claim, sizeof claim, NULL, "truncated");
    /* within the size but over the limit */
    designs_limits lim;
    designs_limits_default(&lim);
    lim.max_triangles = 3;
    expect_refused(bin.data, bin.len, &lim, "too_many_triangles");
    /* NaN and infinity */
    float nan = NAN, inf = INFINITY;
    memcpy(bin.data + 84 + 50 + 16, &nan, 4);
    expect_refused(bin.data, bin.len, NULL, "non_finite");
    memcpy(bin.data + 84 + 50 + 16, &inf, 4);
    expect_refused(bin.data, bin.len, NULL, "non_finite");
    float huge = 3e30f;
    memcpy(bin.data + 84 + 50 + 16, &huge, 4);
    expect_refused(bin.data, bin.len, NULL, "out_of_range");
    static const char nan_ascii[] = "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"
                                    "vertex 1 0 nan\nvertex 0 1 0\nendloop\nendfacet\nendsolid x\n";
    expect_refused(nan_ascii, sizeof nan_ascii - 1, NULL, "non_finite");
    static const char four[] = "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
                               "vertex 0 1 0\nvertex 1 1 0\nendloop\nendfacet\nendsolid x\n";
    expect_refused(four, sizeof four - 1, NULL, "syntax");
    static const char cut[] = "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n";
    expect_refused(cut, sizeof cut - 1, NULL, "truncated");
    static const char empty_solid[] = "solid x\nendsolid x\n";
    expect_refused(empty_solid, sizeof empty_solid - 1, NULL, "no_mesh");
    expect_refused("", 0, NULL, "empty");
    expect_refused("hello, world", 12, NULL, "unknown_format");
    designs_mesh_free(&t);
    cx_buf_free(&bin);
}

/* ---- OBJ ---------------------------------------------------------------------------- */

static void test_obj_polygons_and_indices(void **state)
{
    /* a 10 mm cube of quads, half the faces by negative indices, with the
     * statements a reader must pass over */
    static const char cube[] =
        "# cube\nmtllib x.mtl\no cube\nv 0 0 0\nv 10 0 0\nv 10 10 0\nv 0 10 0\n"
        "v 0 0 10\nv 10 0 10\nv 10 10 10\nv 0 10 10\nvt 0 0\nvn 0 0 1\ns off\nusemtl m\n"
        "f 1/1/1 4/1/1 3/1/1 2/1/1\nf 5//1 6//1 7//1 8//1\nf -8 -7 -3 -4\n"
        "f 2 3 7 6\nf 3 4 8 7\nf -4 -1 -5 -8\nl 1 2\n";
    designs_mesh m;
    designs_info info;
    designs_error why;
    assert_int_equal(designs_read(cube, sizeof cube - 1, "cube.obj", NULL, &m, &info, &why), CX_OK);
    assert_int_equal(info.format, DESIGNS_FMT_OBJ);
    assert_int_equal(info.polygons, 6);
    assert_int_equal(info.skipped, 1); /* the line */
    designs_inspection in;
    measure(&m, &in);
    assert_int_equal(in.triangles, 12);
    assert_true(in.watertight);
    assert_true(fabs(in.volume_mm3 - 1000) < 1e-9);
    designs_mesh_free(&m);

    /* a concave face: ear clipping keeps the L's area (a fan would not) */
    static const char ell_face[] = "v 0 0 0\nv 30 0 0\nv 30 10 0\nv 10 10 0\nv 10 40 0\nv 0 40 0\n"
                                   "f 3 4 5 6 1 2\n";
    assert_int_equal(read_bytes(ell_face, sizeof ell_face - 1, NULL, &m, &why), CX_OK);
    measure(&m, &in);
    assert_int_equal(in.triangles, 4);
    assert_true(fabs(in.area_mm2 - 600) < 1e-9);
    designs_mesh_free(&m);

    REFUSE("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "bad_index");
    REFUSE("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 0\n", "bad_index");
    REFUSE("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -4 2 3\n", "bad_index");
    REFUSE("v 0 0 inf\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non_finite");
    REFUSE("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", "syntax");
    REFUSE("v 0 0 0\nv 1 0 0\n", "no_mesh");
}

/* ---- 3MF ---------------------------------------------------------------------------- */

static const char rels[] =
    "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/"
    "2006/relationships\"><Relationship Target=\"/3D/model.model\" Id=\"r0\" "
    "Type=\"http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel\"/></Relationships>";

/* A 3MF archive of the given parts (name, text) pairs, NULL-terminated. */
static void make_3mf(cx_buf *out, const char *const *parts)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    zip_source_keep(src);
    for (size_t i = 0; parts[i]; i += 2) {
        zip_source_t *s = zip_source_buffer(za, parts[i + 1], strlen(parts[i + 1]), 0);
        assert_true(zip_file_add(za, parts[i], s, ZIP_FL_ENC_UTF_8) >= 0);
    }
    assert_int_equal(zip_close(za), 0);
    zip_stat_t st;
    assert_int_equal(zip_source_open(src), 0);
    assert_int_equal(zip_source_stat(src, &st), 0);
    cx_buf_init(out, (size_t)64 << 20);
    assert_int_equal(cx_buf_reserve(out, (size_t)st.size), CX_OK);
    out->len = (size_t)zip_source_read(src, out->data, st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
}

#define MODEL_HEAD                                                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<model unit=\"%s\" xmlns=\"http://schemas."    \
    "microsoft.com/3dmanufacturing/core/2015/02\" xmlns:p=\"http://schemas.microsoft.com/"      \
    "3dmanufacturing/production/2015/06\"><resources>"
#define TETRA_OBJECT(id)                                                                        \
    "<object id=\"" id "\" type=\"model\"><mesh><vertices><vertex x=\"0\" y=\"0\" z=\"0\"/>"    \
    "<vertex x=\"10\" y=\"0\" z=\"0\"/><vertex x=\"0\" y=\"10\" z=\"0\"/>"                      \
    "<vertex x=\"0\" y=\"0\" z=\"10\"/></vertices><triangles>"                                  \
    "<triangle v1=\"0\" v2=\"2\" v3=\"1\"/><triangle v1=\"0\" v2=\"1\" v3=\"3\"/>"              \
    "<triangle v1=\"0\" v2=\"3\" v3=\"2\"/><triangle v1=\"1\" v2=\"2\" v3=\"3\"/>"              \
    "</triangles></mesh></object>"

static cx_err read_3mf(const char *model, const designs_limits *lim, designs_mesh *m,
                       designs_error *why)
{
    const char *parts[] = {"_rels/.rels", rels, "3D/model.model", model, NULL};
    cx_buf z;
    make_3mf(&z, parts);
    cx_err e = read_bytes(z.data, z.len, lim, m, why);
    cx_buf_free(&z);
    return e;
}

static void test_3mf_components_units_and_mirrors(void **state)
{
    char model[4096];
    /* object 2 holds object 1 twice: moved by 100 and mirrored in x; the
     * build places object 2 once and object 1 scaled by 2; unit inch */
    snprintf(model, sizeof model,
             MODEL_HEAD TETRA_OBJECT("1")
             "<object id=\"2\"><components><component objectid=\"1\" transform=\"1 0 0 0 1 0 0 0 1 "
             "100 0 0\"/><component objectid=\"1\" transform=\"-1 0 0 0 1 0 0 0 1 0 0 0\"/>"
             "</components></object><object id=\"3\" type=\"support\"><mesh><vertices/>"
             "<triangles/></mesh></object></resources><build><item objectid=\"2\"/>"
             "<item objectid=\"1\" transform=\"2 0 0 0 2 0 0 0 2 0 0 500\"/></build></model>",
             "inch");
    designs_mesh m;
    designs_error why;
    assert_int_equal(read_3mf(model, NULL, &m, &why), CX_OK);
    designs_inspection in;
    measure(&m, &in);
    assert_int_equal(in.triangles, 12);
    assert_int_equal(in.shells, 3);
    assert_true(in.watertight); /* the mirrored copy's winding was turned back */
    double t = 25.4 * 25.4 * 25.4 * 1000.0 / 6;
    assert_true(fabs(in.volume_mm3 - (2 + 8) * t) < 1e-6 * t);
    assert_true(fabs(in.bbox_min[0] + 254) < 1e-9 && fabs(in.bbox_max[0] - 2794) < 1e-9);
    designs_mesh_free(&m);

    /* the same tetrahedron in millimetres hashes like the STL */
    snprintf(model, sizeof model, MODEL_HEAD TETRA_OBJECT("7") "</resources><build><item "
             "objectid=\"7\"/></build></model>", "millimeter");
    assert_int_equal(read_3mf(model, NULL, &m, &why), CX_OK);
    designs_mesh s;
    tetra(&s, 10);
    designs_inspection a, b;
    measure(&m, &a);
    measure(&s, &b);
    assert_memory_equal(a.mesh_sha256, b.mesh_sha256, 32);
    designs_mesh_free(&m);
    designs_mesh_free(&s);
}

static void test_3mf_production_parts(void **state)
{
    char root[2048], part[2048];
    snprintf(root, sizeof root,
             MODEL_HEAD "<object id=\"1\"><components><component p:path=\"/3D/Objects/a.model\" "
             "objectid=\"5\"/></components></object></resources><build><item objectid=\"1\"/>"
             "</build></model>", "millimeter");
    snprintf(part, sizeof part, MODEL_HEAD TETRA_OBJECT("5") "</resources><build/></model>",
             "millimeter");
    const char *parts[] = {"_rels/.rels", rels, "3D/model.model", root, "3D/Objects/a.model",
                           part, NULL};
    cx_buf z;
    make_3mf(&z, parts);
    designs_mesh m;
    designs_error why;
    assert_int_equal(read_bytes(z.data, z.len, NULL, &m, &why), CX_OK);
    assert_int_equal(m.ntris, 4);
    designs_mesh_free(&m);
    cx_buf_free(&z);
}

static void test_3mf_refusals(void **state)
{
    char model[4096];
    designs_mesh m;
    designs_error why;
    /* entities: refused as a DOCTYPE, before any expansion */
    snprintf(model, sizeof model,
             "<?xml version=\"1.0\"?><!DOCTYPE model [<!ENTITY a \"aaaaaaaaaa\">"
             "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
             "<model unit=\"millimeter\" xmlns=\"http://schemas.microsoft.com/3dmanufacturing/"
             "core/2015/02\"><resources/><build/></model>");
    assert_int_equal(read_3mf(model, NULL, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "xml_entity");
    /* a cycle of components */
    snprintf(model, sizeof model,
             MODEL_HEAD "<object id=\"1\"><components><component objectid=\"2\"/></components>"
             "</object><object id=\"2\"><components><component objectid=\"1\"/></components>"
             "</object></resources><build><item objectid=\"1\"/></build></model>", "millimeter");
    assert_int_equal(read_3mf(model, NULL, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "recursion");
    /* 10^12 triangles by instancing, refused from the counts */
    snprintf(model, sizeof model,
             MODEL_HEAD TETRA_OBJECT("1")
             "<object id=\"2\"><components>%s</components></object>"
             "<object id=\"3\"><components>%s</components></object>"
             "</resources><build><item objectid=\"3\"/></build></model>", "millimeter",
             "<component objectid=\"1\"/><component objectid=\"1\"/><component objectid=\"1\"/>",
             "<component objectid=\"2\"/><component objectid=\"2\"/>");
    designs_limits lim;
    designs_limits_default(&lim);
    lim.max_triangles = 20; /* 2 x 3 x 4 = 24 instanced */
    assert_int_equal(read_3mf(model, &lim, &m, &why), CX_ETOOBIG);
    assert_string_equal(why.code, "too_many_triangles");
    /* an index past the object's vertices, an unknown unit, no model */
    snprintf(model, sizeof model,
             MODEL_HEAD "<object id=\"1\"><mesh><vertices><vertex x=\"0\" y=\"0\" z=\"0\"/>"
             "</vertices><triangles><triangle v1=\"0\" v2=\"1\" v3=\"2\"/></triangles></mesh>"
             "</object></resources><build><item objectid=\"1\"/></build></model>", "millimeter");
    assert_int_equal(read_3mf(model, NULL, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "bad_index");
    snprintf(model, sizeof model, MODEL_HEAD TETRA_OBJECT("1") "</resources><build><item "
             "objectid=\"1\"/></build></model>", "furlong");
    assert_int_equal(read_3mf(model, NULL, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "unit");
    snprintf(model, sizeof model, "<html/>");
    assert_int_equal(read_3mf(model, NULL, &m, &why), CX_EPARSE);
    assert_string_equal(why.code, "no_model");
    expect_refused("PK\x03\x04garbage", 11, NULL, "zip");
}

/* An entry inflating to 8 MiB from a few KiB: over the inflation budget,
 * and over the ratio cap, before a byte of it is read. */
static void test_3mf_zip_bomb(void **state)
{
    size_t n = (size_t)8 << 20;
    char *zeros = malloc(n + 1);
    memset(zeros, ' ', n);
    zeros[n] = '\0';
    memcpy(zeros, "<?xml version=\"1.0\"?>", 21);
    const char *parts[] = {"_rels/.rels", rels, "3D/model.model", zeros, NULL};
    cx_buf z;
    make_3mf(&z, parts);
    free(zeros);
    assert_true(z.len < n / 100);
    designs_limits lim;
    designs_limits_default(&lim);
    expect_refused(z.data, z.len, &lim, "zip_bomb"); /* the ratio */
    lim.max_ratio = 1e9;
    lim.max_uncompressed = (size_t)1 << 20;
    expect_refused(z.data, z.len, &lim, "zip_bomb"); /* the budget */
    cx_buf_free(&z);
}

/* ---- measurements ------------------------------------------------------------------- */

static void le64(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

/* The byte layout of docs/designs.md, computed here independently. */
static void test_mesh_hash_layout(void **state)
{
    designs_mesh m = {0};
    add_v(&m, 5.0000004, -2, 0.0015);  /* rounds to 5000, -2000, 2 µm */
    add_v(&m, 1, 2, 3);
    add_v(&m, -1, 7, 0.0004);          /* -1000, 7000, 0 */
    add_t(&m, 0, 1, 2);                /* starts at (−1, 7, 0) once rotated */
    uint8_t got[32], want[32], buf[72];
    assert_int_equal(designs_mesh_sha256(&m, got), CX_OK);
    int64_t v[9] = {-1000, 7000, 0, 5000, -2000, 2, 1000, 2000, 3000};
    for (int i = 0; i < 9; i++)
        le64(buf + 8 * i, v[i]);
    crypto_hash_sha256(want, buf, sizeof buf);
    assert_memory_equal(got, want, 32);
    designs_mesh_free(&m);
}

static void test_mesh_hash_invariance(void **state)
{
    designs_mesh a, b;
    ell(&a, 10);
    ell(&b, 10);
    /* b: triangles in reverse order, each started at another corner */
    for (size_t t = 0; t < b.ntris / 2; t++)
        for (int k = 0; k < 3; k++) {
            uint32_t x = b.tri[3 * t + k];
            b.tri[3 * t + k] = b.tri[3 * (b.ntris - 1 - t) + k];
            b.tri[3 * (b.ntris - 1 - t) + k] = x;
        }
    for (size_t t = 0; t < b.ntris; t++) {
        uint32_t *p = b.tri + 3 * t, x = p[0];
        p[0] = p[1];
        p[1] = p[2];
        p[2] = x;
    }
    uint8_t ha[32], hb[32];
    designs_mesh_sha256(&a, ha);
    designs_mesh_sha256(&b, hb);
    assert_memory_equal(ha, hb, 32);
    b.xyz[0] += 0.0002; /* under half a micrometre: the same */
    designs_mesh_sha256(&b, hb);
    assert_memory_equal(ha, hb, 32);
    b.xyz[0] += 0.002; /* two micrometres: another mesh */
    designs_mesh_sha256(&b, hb);
    assert_memory_not_equal(ha, hb, 32);
    /* a mirrored winding is another mesh too */
    designs_mesh c;
    ell(&c, 10);
    uint32_t x = c.tri[1];
    c.tri[1] = c.tri[2];
    c.tri[2] = x;
    designs_mesh_sha256(&c, hb);
    assert_memory_not_equal(ha, hb, 32);
    /* far from the origin and over 2 m wide: the general path agrees */
    designs_mesh d, e;
    ell(&d, 10);
    ell(&e, 10);
    for (size_t v = 0; v < d.nverts; v++)
        d.xyz[3 * v] *= 100; /* 3 m */
    for (size_t v = 0; v < e.nverts; v++)
        e.xyz[3 * v] *= 100;
    uint32_t y = e.tri[0];
    e.tri[0] = e.tri[1];
    e.tri[1] = e.tri[2];
    e.tri[2] = y;
    designs_mesh_sha256(&d, ha);
    designs_mesh_sha256(&e, hb);
    assert_memory_equal(ha, hb, 32);
    designs_mesh_free(&a);
    designs_mesh_free(&b);
    designs_mesh_free(&c);
    designs_mesh_free(&d);
    designs_mesh_free(&e);
}

static void test_defects(void **state)
{
    designs_mesh m;
    designs_inspection in;
    tetra(&m, 10);
    m.ntris = 3; /* a hole */
    measure(&m, &in);
    assert_false(in.watertight);
    assert_int_equal(in.boundary_edges, 3);
    json_t *j = designs_inspection_json(&in);
    assert_true(json_is_null(json_object_get(j, "volume_mm3")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(
                            json_object_get(j, "problems"), 0), "code")),
                        "open_edges");
    json_decref(j);
    m.ntris = 4;
    uint32_t x = m.tri[1]; /* one triangle turned */
    m.tri[1] = m.tri[2];
    m.tri[2] = x;
    measure(&m, &in);
    assert_false(in.watertight);
    assert_int_equal(in.flipped_edges, 3);
    /* a fifth triangle on an existing edge */
    m.tri[2] = m.tri[1];
    m.tri[1] = x;
    add_v(&m, 5, 5, -5);
    add_t(&m, 0, 1, 4);
    measure(&m, &in);
    assert_int_equal(in.nonmanifold_edges, 1);
    designs_mesh_free(&m);
    /* inside out, two shells, a degenerate triangle */
    designs_mesh a, b;
    tetra(&a, 10);
    tetra(&b, 10);
    for (size_t t = 0; t < a.ntris; t++) {
        uint32_t y = a.tri[3 * t + 1];
        a.tri[3 * t + 1] = a.tri[3 * t + 2];
        a.tri[3 * t + 2] = y;
    }
    measure(&a, &in);
    assert_true(in.watertight && in.volume_mm3 < 0);
    for (size_t v = 0; v < b.nverts; v++)
        add_v(&a, b.xyz[3 * v] + 50, b.xyz[3 * v + 1], b.xyz[3 * v + 2]);
    for (size_t t = 0; t < b.ntris; t++)
        add_t(&a, b.tri[3 * t] + 4, b.tri[3 * t + 1] + 4, b.tri[3 * t + 2] + 4);
    add_t(&a, 0, 0, 1);
    measure(&a, &in);
    assert_int_equal(in.shells, 2);
    assert_int_equal(in.degenerate, 1);
    designs_mesh_free(&a);
    designs_mesh_free(&b);
}

/* ---- the fingerprint ---------------------------------------------------------------- */

static void fingerprint(const designs_mesh *m, designs_fp *fp)
{
    designs_inspection in;
    measure(m, &in);
    assert_int_equal(designs_fingerprint(m, &in, fp), CX_OK);
}

static void test_fingerprint_invariances(void **state)
{
    designs_mesh base, v;
    designs_fp f0, f1;
    ell(&base, 12);
    fingerprint(&base, &f0);
    fingerprint(&base, &f1);
    assert_memory_equal(f0.v, f1.v, DESIGNS_FP_DIMS); /* deterministic */
    const struct {
        double s;
        bool mirror;
        double angle;
    } cases[] = {{1, false, 0.7}, {0.5, false, 2.1}, {2, true, 1.3}, {1.37, true, 4.0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ell(&v, 12);
        transform(&v, cases[i].s, cases[i].mirror, cases[i].angle);
        fingerprint(&v, &f1);
        double sim = designs_similarity(&f1, &f0);
        if (sim < 0.9)
            fail_msg("case %zu: similarity %.3f", i, sim);
        assert_true(fabs(designs_scale(&f1, &f0) - cases[i].s) < 1e-6 * cases[i].s);
        designs_mesh_free(&v);
    }
    /* an open mesh: the scale by the principal-axes box diagonal */
    ell(&v, 12);
    v.ntris -= 2;
    designs_fp open0, open1;
    fingerprint(&v, &open0);
    transform(&v, 1.5, false, 0.9);
    fingerprint(&v, &open1);
    assert_true(open0.size_volume == 0 && open1.size_volume == 0);
    assert_true(fabs(designs_scale(&open1, &open0) - 1.5) < 1e-6);
    designs_mesh_free(&v);
    /* another shape is not a match */
    designs_mesh rod;
    ellipsoid(&rod, 3, 40, 4, 4);
    fingerprint(&rod, &f1);
    assert_true(designs_similarity(&f1, &f0) < DESIGNS_MATCH_THRESHOLD);
    designs_mesh_free(&rod);
    designs_mesh_free(&base);
}

static void test_fingerprint_retessellation(void **state)
{
    designs_mesh coarse, fine, other;
    designs_fp a, b, c;
    ellipsoid(&coarse, 3, 30, 20, 8); /* 512 triangles */
    ellipsoid(&fine, 5, 30, 20, 8);   /* 8192 */
    ellipsoid(&other, 4, 30, 30, 30);
    fingerprint(&coarse, &a);
    fingerprint(&fine, &b);
    fingerprint(&other, &c);
    assert_true(designs_similarity(&a, &b) >= DESIGNS_MATCH_THRESHOLD);
    assert_true(designs_similarity(&a, &c) < DESIGNS_MATCH_THRESHOLD);
    designs_mesh_free(&coarse);
    designs_mesh_free(&fine);
    designs_mesh_free(&other);
}

static void test_fingerprint_serialised(void **state)
{
    designs_mesh m;
    designs_fp f, g;
    ell(&m, 7);
    fingerprint(&m, &f);
    char b64[DESIGNS_FP_B64_LEN + 1];
    designs_fp_base64(&f, b64);
    assert_int_equal(strlen(b64), DESIGNS_FP_B64_LEN);
    assert_int_equal(designs_fp_from_base64(b64, &g), CX_OK);
    assert_memory_equal(&f, &g, sizeof f);
    uint8_t raw[DESIGNS_FP_BYTES];
    designs_fp_pack(&f, raw);
    raw[3]++; /* another version */
    assert_int_equal(designs_fp_unpack(raw, sizeof raw, &g), CX_EPARSE);
    raw[3]--;
    assert_int_equal(designs_fp_unpack(raw, sizeof raw - 1, &g), CX_EPARSE);
    assert_int_equal(designs_fp_from_base64("not base64!", &g), CX_EPARSE);
    /* no area, no fingerprint */
    designs_mesh flat = {0};
    add_v(&flat, 0, 0, 0);
    add_v(&flat, 1, 0, 0);
    add_v(&flat, 2, 0, 0);
    add_t(&flat, 0, 1, 2);
    designs_inspection in;
    measure(&flat, &in);
    assert_int_equal(designs_fingerprint(&flat, &in, &g), CX_EINVAL);
    designs_mesh_free(&flat);
    designs_mesh_free(&m);
}

/* ---- the index ---------------------------------------------------------------------- */

/* Random fingerprints shaped like real ones: blocks of cumulative values. */
static void random_fp(designs_fp *f, uint32_t *seed)
{
    memset(f, 0, sizeof *f);
    int run = 0;
    for (int i = 0; i < DESIGNS_FP_DIMS; i++) {
        *seed = *seed * 1103515245u + 12345u;
        if (i % 32 == 0)
            run = 0;
        run += (int)((*seed >> 16) % 17);
        f->v[i] = (uint8_t)(run > 255 ? 255 : run);
    }
}

static bool keep_even(void *ctx, int64_t key)
{
    return key % 2 == 0;
}

static void test_index_equals_scan(void **state)
{
    designs_index *ix = designs_index_new();
    uint32_t seed = 7;
    designs_fp f;
    for (int64_t k = 0; k < 3000; k++) {
        random_fp(&f, &seed);
        assert_int_equal(designs_index_add(ix, k, &f), CX_OK);
    }
    for (int64_t k = 0; k < 3000; k += 5) /* tombstones, then a rebuild */
        designs_index_remove(ix, k);
    designs_index_remove(ix, 99999);
    assert_int_equal(designs_index_size(ix), 2400);
    assert_null(designs_index_get(ix, 0));
    assert_non_null(designs_index_get(ix, 1));
    random_fp(&f, &seed);
    assert_int_equal(designs_index_add(ix, 1, &f), CX_OK); /* replaced */
    assert_int_equal(designs_index_size(ix), 2400);
    assert_memory_equal(designs_index_get(ix, 1)->v, f.v, DESIGNS_FP_DIMS);
    designs_hit a[DESIGNS_TOP], b[DESIGNS_TOP];
    for (int q = 0; q < 60; q++) {
        random_fp(&f, &seed);
        size_t na = designs_index_query(ix, &f, DESIGNS_TOP, q % 2 ? keep_even : NULL, NULL, a);
        size_t nb = designs_index_scan(ix, &f, DESIGNS_TOP, q % 2 ? keep_even : NULL, NULL, b);
        assert_int_equal(na, DESIGNS_TOP);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            assert_int_equal(a[i].key, b[i].key);
            assert_int_equal(a[i].distance, b[i].distance);
        }
        for (size_t i = 1; i < na; i++)
            assert_true(a[i - 1].distance <= a[i].distance);
    }
    designs_index_free(ix);
    designs_index_free(NULL);
}

/* ---- the service ------------------------------------------------------------------- */

static void source_of(const designs_mesh *m, cx_buf *b, designs_source *src, const char *name)
{
    bytes_of(m, DESIGNS_FMT_STL, false, b);
    *src = (designs_source){.data = b->data, .len = b->len, .name = name};
}

static void test_service_matches_and_verdicts(void **state)
{
    char dir[] = "/tmp/customs-test-designsXXXXXX", path[300], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/db", dir);
    store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), CX_OK);
    assert_int_equal(designs_migrate(s, err, sizeof err), CX_OK);
    designs_service *d = NULL;
    assert_int_equal(designs_service_new(s, NULL, &d, err, sizeof err), CX_OK);
    cx_principal officer = {.role = CX_ROLE_OFFICER, .org = "KCS"},
                 trader = {.role = CX_ROLE_TRADER, .org = "ACME", .key_id = 4};
    /* an L on the ipr list, an ellipsoid on the security list */
    designs_mesh l, e;
    ell(&l, 12);
    ellipsoid(&e, 3, 30, 20, 8);
    cx_buf bl, be;
    designs_source sl, se;
    source_of(&l, &bl, &sl, "l.stl");
    source_of(&e, &be, &se, "e.stl");
    designs_entry ipr = {.watchlist = DESIGNS_WL_IPR, .holder = "ACME Toys", .title = "L",
                         .valid_until = "2099-12-31"},
                  sec = {.watchlist = DESIGNS_WL_SECURITY, .holder = "Customs", .title = "E"};
    designs_result res;
    assert_int_equal(designs_register(d, &officer, &sl, &ipr, &res), CX_OK);
    char ipr_id[CX_ID_LEN + 1];
    snprintf(ipr_id, sizeof ipr_id, "%s", res.id);
    json_decref(res.json);
    assert_int_equal(designs_register(d, &officer, &se, &sec, &res), CX_OK);
    json_decref(res.json);
    assert_int_equal(designs_register(d, &officer, &sl, &ipr, &res), CX_EEXIST);
    assert_string_equal(res.id, ipr_id);
    /* a trader uploads a scaled, mirrored copy of each */
    transform(&e, 1.25, true, 0.4);
    cx_buf bv;
    designs_source sv;
    source_of(&e, &bv, &sv, "copy.stl");
    assert_int_equal(designs_upload(d, &trader, &sv, &res), CX_OK);
    assert_int_equal(json_array_size(json_object_get(res.json, "matches")), 0);
    json_decref(res.json);
    designs_inspection in;
    designs_mesh rv;
    designs_error why;
    assert_int_equal(read_bytes(bv.data, bv.len, NULL, &rv, &why), CX_OK);
    assert_int_equal(designs_measure(&rv, NULL, bv.data, bv.len, &in), CX_OK);
    designs_mesh_free(&rv);
    char sha[65];
    cx_hex(in.sha256, 32, sha);
    designs_verdict v;
    assert_int_equal(designs_verdict_of(d, sha, &v), CX_OK);
    assert_true(v.known && v.security && v.ipr_matches == 0);
    assert_true(v.best_similarity >= DESIGNS_MATCH_THRESHOLD);
    assert_string_equal(v.format, "stl");
    assert_int_equal(v.file_size, bv.len);
    assert_int_equal(designs_verdict_of(d, "00" "00000000000000000000000000000000000000000000000000"
                                           "000000000000", &v), CX_OK);
    assert_false(v.known);
    /* the ipr copy: the trader sees it, with the holder */
    transform(&l, 0.8, false, 2.0);
    designs_fp fp;
    designs_inspection li;
    measure(&l, &li);
    assert_int_equal(designs_fingerprint(&l, &li, &fp), CX_OK);
    json_t *m = designs_matches_json(d, &fp, true);
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "holder")),
                        "ACME Toys");
    json_decref(m);
    /* once protection has expired, it no longer matches */
    cx_clock_set((int64_t)cx_days_from_civil(2100, 1, 1) * 86400000000LL);
    m = designs_matches_json(d, &fp, true);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
    cx_clock_release();
    /* a service started again finds both lists in the database */
    designs_service_free(d);
    assert_int_equal(designs_service_new(s, NULL, &d, err, sizeof err), CX_OK);
    m = designs_matches_json(d, &fp, false);
    assert_int_equal(json_array_size(m), 2);
    assert_true(json_is_true(json_object_get(json_array_get(m, 0), "match")));
    json_decref(m);
    designs_service_free(d);
    store_free(s);
    designs_mesh_free(&l);
    designs_mesh_free(&e);
    cx_buf_free(&bl);
    cx_buf_free(&be);
    cx_buf_free(&bv);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stl_binary_and_ascii_agree),
        cmocka_unit_test(test_stl_refusals),
        cmocka_unit_test(test_obj_polygons_and_indices),
        cmocka_unit_test(test_3mf_components_units_and_mirrors),
        cmocka_unit_test(test_3mf_production_parts),
        cmocka_unit_test(test_3mf_refusals),
        cmocka_unit_test(test_3mf_zip_bomb),
        cmocka_unit_test(test_mesh_hash_layout),
        cmocka_unit_test(test_mesh_hash_invariance),
        cmocka_unit_test(test_defects),
        cmocka_unit_test(test_fingerprint_invariances),
        cmocka_unit_test(test_fingerprint_retessellation),
        cmocka_unit_test(test_fingerprint_serialised),
        cmocka_unit_test(test_index_equals_scan),
        cmocka_unit_test(test_service_matches_and_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
