/* Wavefront OBJ: v and f statements (f a/b/c …, negative indices relative
 * to the vertices read so far), polygons triangulated; texture coordinates,
 * normals, groups, materials, lines and points are skipped. */
#include "designs_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJ_MAX_CORNERS 4096 /* corners of one face */
#define OBJ_EAR_MAX 64       /* faces up to this many corners are ear-clipped */
#define OBJ_EAR_BUDGET 50000000 /* corner tests a file may spend clipping ears */

bool designs__looks_obj(const uint8_t *data, size_t len)
{
    size_t n = len < 65536 ? len : 65536;
    if (memchr(data, '\0', n))
        return false;
    for (size_t i = 0; i + 2 < n;) {
        if ((data[i] == 'v' || data[i] == 'f') && (data[i + 1] == ' ' || data[i + 1] == '\t'))
            return true;
        const uint8_t *nl = memchr(data + i, '\n', n - i);
        if (!nl)
            break;
        i = (size_t)(nl - data) + 1;
    }
    return false;
}

/* ---- triangulation ------------------------------------------------------------------ */

static double tri__cross2(const double *a, const double *b, const double *c)
{
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

static bool tri__inside(const double *p, const double *a, const double *b, const double *c)
{
    return tri__cross2(a, b, p) >= 0 && tri__cross2(b, c, p) >= 0 && tri__cross2(c, a, p) >= 0;
}

static size_t tri__fan(size_t n, uint32_t (*out)[3])
{
    for (size_t i = 1; i + 1 < n; i++) {
        out[i - 1][0] = 0;
        out[i - 1][1] = (uint32_t)i;
        out[i - 1][2] = (uint32_t)(i + 1);
    }
    return n - 2;
}

/* Convex (or flat) faces need no ears: a fan is exact. */
static bool tri__convex(const double (*p2)[2], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tri__cross2(p2[i], p2[(i + 1) % n], p2[(i + 2) % n]) < 0)
            return false;
    return true;
}

size_t designs__triangulate(const double *pts, size_t n, uint32_t (*out)[3], size_t *budget)
{
    if (n < 3)
        return 0;
    if (n == 3 || n > OBJ_EAR_MAX)
        return tri__fan(n, out);
    /* Newell's normal picks the plane to project on; the polygon is then
     * ear-clipped counter-clockwise in that plane, which keeps the winding. */
    double nrm[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const double *a = pts + 3 * i, *b = pts + 3 * ((i + 1) % n);
        nrm[0] += (a[1] - b[1]) * (a[2] + b[2]);
        nrm[1] += (a[2] - b[2]) * (a[0] + b[0]);
        nrm[2] += (a[0] - b[0]) * (a[1] + b[1]);
    }
    int ax = fabs(nrm[0]) > fabs(nrm[1]) ? (fabs(nrm[0]) > fabs(nrm[2]) ? 0 : 2)
                                         : (fabs(nrm[1]) > fabs(nrm[2]) ? 1 : 2);
    if (nrm[ax] == 0)
        return tri__fan(n, out);
    int u = (ax + 1) % 3, v = (ax + 2) % 3;
    double p2[OBJ_EAR_MAX][2];
    for (size_t i = 0; i < n; i++) {
        p2[i][0] = pts[3 * i + u];
        p2[i][1] = pts[3 * i + v] * (nrm[ax] > 0 ? 1 : -1); /* make it counter-clockwise */
    }
    /* clipping costs up to n^3 corner tests: a file of crafted concave
     * faces gets a budget, and fans once it is spent */
    if (tri__convex((const double(*)[2])p2, n) || *budget < n * n * n)
        return tri__fan(n, out);
    *budget -= n * n * n;
    uint32_t idx[OBJ_EAR_MAX];
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    size_t left = n, count = 0;
    while (left > 3) {
        bool cut = false;
        for (size_t i = 0; i < left && !cut; i++) {
            uint32_t a = idx[(i + left - 1) % left], b = idx[i], c = idx[(i + 1) % left];
            if (tri__cross2(p2[a], p2[b], p2[c]) <= 0)
                continue; /* reflex or flat corner */
            bool empty = true;
            for (size_t j = 0; j < left && empty; j++) {
                uint32_t q = idx[j];
                if (q != a && q != b && q != c && tri__inside(p2[q], p2[a], p2[b], p2[c]))
                    empty = false;
            }
            if (!empty)
                continue;
            out[count][0] = a;
            out[count][1] = b;
            out[count][2] = c;
            count++;
            memmove(idx + i, idx + i + 1, (left - i - 1) * sizeof idx[0]);
            left--;
            cut = true;
        }
        if (!cut)
            break; /* self-intersecting or degenerate: fan the rest */
    }
    for (size_t i = 1; i + 1 < left; i++) {
        out[count][0] = idx[0];
        out[count][1] = idx[i];
        out[count][2] = idx[i + 1];
        count++;
    }
    return count;
}

/* ---- reading ----------------------------------------------------------------------- */

typedef struct {
    const char *p, *end;
    size_t line;
} obj_lex;

/* Next token on the current line ("\\\n" continues it); false at its end. */
static bool obj__token(obj_lex *x, const char **tok, size_t *n)
{
    for (;;) {
        while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\r'))
            x->p++;
        if (x->p + 1 < x->end && x->p[0] == '\\' && (x->p[1] == '\n' || x->p[1] == '\r')) {
            x->p += x->p[1] == '\r' && x->p + 2 < x->end && x->p[2] == '\n' ? 3 : 2;
            x->line++;
            continue;
        }
        break;
    }
    if (x->p >= x->end || *x->p == '\n' || *x->p == '#')
        return false;
    *tok = x->p;
    while (x->p < x->end && !isspace((unsigned char)*x->p))
        x->p++;
    *n = (size_t)(x->p - *tok);
    return true;
}

static void obj__end_line(obj_lex *x)
{
    const char *nl = memchr(x->p, '\n', (size_t)(x->end - x->p));
    x->p = nl ? nl + 1 : x->end;
    x->line++;
}

static bool obj__is(const char *tok, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(tok, word, n) == 0;
}

/* The vertex part of a face corner "i", "i/t", "i//n", "i/t/n". */
static bool obj__index(const char *tok, size_t n, size_t nverts, uint32_t *out)
{
    const char *slash = memchr(tok, '/', n);
    size_t len = slash ? (size_t)(slash - tok) : n;
    char tmp[24];
    if (len == 0 || len >= sizeof tmp)
        return false;
    memcpy(tmp, tok, len);
    tmp[len] = '\0';
    int64_t i;
    if (!cx_parse_i64(tmp, &i) || i == 0)
        return false;
    if (i < 0)
        i += (int64_t)nverts + 1;
    else if (i > (int64_t)nverts)
        return false;
    if (i < 1)
        return false;
    *out = (uint32_t)(i - 1);
    return true;
}

typedef struct {
    size_t budget; /* ear clipping */
    uint32_t corner[OBJ_MAX_CORNERS];
    double pts[3 * OBJ_MAX_CORNERS];
    uint32_t tris[OBJ_MAX_CORNERS][3];
} obj_face;

static cx_err obj__face(obj_lex *x, designs_mesh *m, designs_info *info, obj_face *f,
                        designs_error *why)
{
    const char *tok;
    size_t n = 0, tl;
    while (obj__token(x, &tok, &tl)) {
        if (n == OBJ_MAX_CORNERS)
            return designs__fail(why, CX_EPARSE, "syntax", "line %zu: a face of more than %d "
                                 "corners", x->line, OBJ_MAX_CORNERS);
        if (!obj__index(tok, tl, m->nverts, &f->corner[n]))
            return designs__fail(why, CX_EPARSE, "bad_index",
                                 "line %zu: '%.*s' is not a vertex index from 1 to %zu "
                                 "(or -1 to -%zu)",
                                 x->line, (int)(tl > 40 ? 40 : tl), tok, m->nverts, m->nverts);
        n++;
    }
    if (n < 3)
        return designs__fail(why, CX_EPARSE, "syntax", "line %zu: a face needs 3 corners or more",
                             x->line);
    size_t nt = 1;
    if (n == 3) {
        f->tris[0][0] = 0;
        f->tris[0][1] = 1;
        f->tris[0][2] = 2;
    } else {
        for (size_t i = 0; i < n; i++)
            memcpy(f->pts + 3 * i, m->xyz + 3 * (size_t)f->corner[i], 3 * sizeof(double));
        nt = designs__triangulate(f->pts, n, f->tris, &f->budget);
        info->polygons++;
    }
    cx_err e = designs__mesh_reserve(m, 0, nt);
    for (size_t i = 0; !e && i < nt; i++)
        e = designs_mesh_add_triangle(m, f->corner[f->tris[i][0]], f->corner[f->tris[i][1]],
                                      f->corner[f->tris[i][2]]);
    if (e)
        return designs__mesh_error_line(why, e, m, x->line);
    return CX_OK;
}

static cx_err obj__vertex(obj_lex *x, designs_mesh *m, designs_error *why)
{
    double v[3];
    const char *tok;
    size_t tl;
    for (int i = 0; i < 3; i++) {
        if (!obj__token(x, &tok, &tl))
            return designs__fail(why, CX_EPARSE, "syntax", "line %zu: a vertex needs x, y and z",
                                 x->line);
        if (!designs__number(tok, tl, &v[i])) {
            bool nf = tl >= 3 && (memchr(tok, 'n', tl) || memchr(tok, 'N', tl) ||
                                  memchr(tok, 'i', tl) || memchr(tok, 'I', tl));
            return designs__fail(why, CX_EPARSE, nf ? "non_finite" : "syntax",
                                 "line %zu: '%.*s' is not a finite number", x->line,
                                 (int)(tl > 40 ? 40 : tl), tok);
        }
    }
    /* an optional w, or colours some exporters append, follow: ignored */
    cx_err e = designs_mesh_add_vertex(m, v[0], v[1], v[2]);
    if (e)
        return designs__mesh_error_line(why, e, m, x->line);
    return CX_OK;
}

cx_err designs__read_obj(const uint8_t *data, size_t len, designs_mesh *m, designs_info *info,
                         designs_error *why)
{
    designs__unitless(info, DESIGNS_FMT_OBJ);
    if (memchr(data, '\0', len))
        return designs__fail(why, CX_EPARSE, "syntax", "an OBJ file is text: it cannot hold NUL "
                             "bytes");
    obj_face *f = malloc(sizeof *f);
    if (!f)
        return designs__fail(why, CX_ENOMEM, "nomem", "out of memory");
    f->budget = OBJ_EAR_BUDGET;
    obj_lex x = {.p = (const char *)data, .end = (const char *)data + len, .line = 1};
    cx_err e = CX_OK;
    while (!e && x.p < x.end) {
        const char *tok;
        size_t tl;
        if (obj__token(&x, &tok, &tl)) {
            if (obj__is(tok, tl, "v"))
                e = obj__vertex(&x, m, why);
            else if (obj__is(tok, tl, "f") || obj__is(tok, tl, "fo"))
                e = obj__face(&x, m, info, f, why);
            else if (obj__is(tok, tl, "o"))
                info->objects++;
            else if (!obj__is(tok, tl, "vt") && !obj__is(tok, tl, "vn") &&
                     !obj__is(tok, tl, "g") && !obj__is(tok, tl, "s") &&
                     !obj__is(tok, tl, "usemtl") && !obj__is(tok, tl, "mtllib") &&
                     !obj__is(tok, tl, "vp"))
                info->skipped++; /* l, p, curves and surfaces: not a triangle surface */
        }
        if (!e)
            obj__end_line(&x);
    }
    free(f);
    if (!e && m->ntris == 0)
        e = designs__fail(why, CX_EPARSE, "no_mesh", "the OBJ file has no faces");
    if (!e && info->objects == 0)
        info->objects = 1;
    return e;
}
