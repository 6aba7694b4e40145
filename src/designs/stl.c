/* STL: binary (80-byte header, u32 count, 50 bytes a triangle) and ASCII
 * (solid … facet normal … outer loop … vertex … endloop endfacet … endsolid). */
#include "designs_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define STL_HEADER 84
#define STL_RECORD 50

static uint32_t stl__u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double stl__f32(const uint8_t *p)
{
    uint32_t u = stl__u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

bool designs__looks_binary_stl(const uint8_t *data, size_t len)
{
    return len >= STL_HEADER &&
           (uint64_t)STL_HEADER + (uint64_t)STL_RECORD * stl__u32(data + 80) == len;
}

bool designs__looks_ascii_stl(const uint8_t *data, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && isspace(data[i]))
        i++;
    return len - i >= 5 && strncasecmp((const char *)data + i, "solid", 5) == 0 &&
           (len - i == 5 || isspace(data[i + 5]));
}

static cx_err stl__binary(const uint8_t *data, size_t len, designs_mesh *m, designs_info *info,
                          designs_error *why)
{
    if (len < STL_HEADER)
        return designs__fail(why, CX_EPARSE, "truncated",
                             "a binary STL needs its 84-byte header; the file has %zu bytes", len);
    uint32_t n = stl__u32(data + 80);
    uint64_t need = (uint64_t)STL_HEADER + (uint64_t)STL_RECORD * n;
    if (need > len)
        return designs__fail(why, CX_EPARSE, "truncated",
                             "the header claims %u triangles (%llu bytes) but the file has %zu "
                             "bytes",
                             n, (unsigned long long)need, len);
    if (need < len)
        return designs__fail(why, CX_EPARSE, "count_mismatch",
                             "the header claims %u triangles (%llu bytes) but the file has %zu "
                             "bytes: %llu bytes left over",
                             n, (unsigned long long)need, len,
                             (unsigned long long)(len - need));
    if (n == 0)
        return designs__fail(why, CX_EPARSE, "no_mesh", "the STL has no triangles");
    if (n > designs__mesh_max_t(m))
        return designs__fail(why, CX_ETOOBIG, "too_many_triangles",
                             "the header claims %u triangles; the limit is %zu", n,
                             designs__mesh_max_t(m));
    cx_err e = designs__mesh_reserve(m, (size_t)n * 3, n);
    if (e)
        return designs__mesh_error(why, e, m, "binary STL header");
    /* room was reserved above: fill the arrays directly */
    const uint8_t *p = data + STL_HEADER;
    double *xyz = m->xyz + 3 * m->nverts;
    uint32_t *tri = m->tri + 3 * m->ntris, base = (uint32_t)m->nverts;
    for (uint32_t t = 0; t < n; t++, p += STL_RECORD) {
        for (int k = 0; k < 9; k++) {
            double v = stl__f32(p + 12 + 4 * k);
            if (!(fabs(v) <= DESIGNS_MAX_COORD)) /* NaN fails this too */
                return designs__fail(why, CX_EPARSE, isfinite(v) ? "out_of_range" : "non_finite",
                                     "triangle %u (byte %zu), vertex %d: %s", t,
                                     (size_t)(p - data) + 12 + 4 * (size_t)k, k / 3 + 1,
                                     isfinite(v) ? "a coordinate is beyond the ±1e9 mm range"
                                                 : "a coordinate is NaN or infinite");
            xyz[9 * (size_t)t + (size_t)k] = v;
        }
        for (int k = 0; k < 3; k++)
            tri[3 * (size_t)t + (size_t)k] = base + 3 * t + (uint32_t)k;
    }
    m->nverts += 3 * (size_t)n;
    m->ntris += n;
    info->objects = 1;
    return CX_OK;
}

/* ---- ASCII ------------------------------------------------------------------------ */

typedef struct {
    const char *p, *end;
    size_t line;
    const char *tok;
    size_t tlen;
} stl_lex;

/* Next whitespace-separated token; false at the end. */
static bool stl__next(stl_lex *x)
{
    while (x->p < x->end && isspace((unsigned char)*x->p)) {
        if (*x->p == '\n')
            x->line++;
        x->p++;
    }
    if (x->p >= x->end)
        return false;
    x->tok = x->p;
    while (x->p < x->end && !isspace((unsigned char)*x->p))
        x->p++;
    x->tlen = (size_t)(x->p - x->tok);
    return true;
}

static void stl__skip_line(stl_lex *x)
{
    while (x->p < x->end && *x->p != '\n')
        x->p++;
}

static bool stl__is(const stl_lex *x, const char *word)
{
    size_t n = strlen(word);
    return x->tlen == n && strncasecmp(x->tok, word, n) == 0;
}

static cx_err stl__expect(stl_lex *x, const char *word, designs_error *why)
{
    if (!stl__next(x))
        return designs__fail(why, CX_EPARSE, "truncated", "line %zu: the file ends where '%s' "
                             "was expected", x->line, word);
    if (!stl__is(x, word))
        return designs__fail(why, CX_EPARSE, "syntax", "line %zu: '%s' expected, found '%.*s'",
                             x->line, word, (int)(x->tlen > 40 ? 40 : x->tlen), x->tok);
    return CX_OK;
}

static cx_err stl__number(stl_lex *x, double *v, designs_error *why)
{
    if (!stl__next(x))
        return designs__fail(why, CX_EPARSE, "truncated", "line %zu: the file ends inside a "
                             "facet", x->line);
    if (designs__number(x->tok, x->tlen, v))
        return CX_OK;
    bool nonfinite = false;
    for (size_t i = 0; i + 3 <= x->tlen; i++)
        nonfinite = nonfinite || strncasecmp(x->tok + i, "nan", 3) == 0 ||
                    strncasecmp(x->tok + i, "inf", 3) == 0;
    return designs__fail(why, CX_EPARSE, nonfinite ? "non_finite" : "syntax",
                         "line %zu: '%.*s' is not a finite number", x->line,
                         (int)(x->tlen > 40 ? 40 : x->tlen), x->tok);
}

static cx_err stl__facet(stl_lex *x, designs_mesh *m, designs_error *why)
{
    double v[3];
    cx_err e = stl__expect(x, "normal", why);
    for (int i = 0; !e && i < 3; i++)
        e = stl__number(x, &v[i], why); /* the normal is recomputed: not kept */
    if (!e)
        e = stl__expect(x, "outer", why);
    if (!e)
        e = stl__expect(x, "loop", why);
    uint32_t base = (uint32_t)m->nverts;
    for (int k = 0; !e && k < 3; k++) {
        e = stl__expect(x, "vertex", why);
        for (int i = 0; !e && i < 3; i++)
            e = stl__number(x, &v[i], why);
        if (!e && (e = designs_mesh_add_vertex(m, v[0], v[1], v[2])) != CX_OK)
            return designs__mesh_error_line(why, e, m, x->line);
    }
    if (!e)
        e = stl__expect(x, "endloop", why);
    if (!e)
        e = stl__expect(x, "endfacet", why);
    if (!e && (e = designs_mesh_add_triangle(m, base, base + 1, base + 2)) != CX_OK)
        return designs__mesh_error_line(why, e, m, x->line);
    return e;
}

static cx_err stl__ascii(const uint8_t *data, size_t len, designs_mesh *m, designs_info *info,
                         designs_error *why)
{
    stl_lex x = {.p = (const char *)data, .end = (const char *)data + len, .line = 1};
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        x.p += 3;
    cx_err e = CX_OK;
    while (!e && stl__next(&x)) {
        if (!stl__is(&x, "solid"))
            return designs__fail(why, CX_EPARSE, "syntax", "line %zu: 'solid' expected, found "
                                 "'%.*s'", x.line, (int)(x.tlen > 40 ? 40 : x.tlen), x.tok);
        stl__skip_line(&x); /* the solid's name */
        info->objects++;
        for (;;) {
            if (!stl__next(&x))
                return designs__fail(why, CX_EPARSE, "truncated",
                                     "line %zu: the file ends before 'endsolid'", x.line);
            if (stl__is(&x, "endsolid")) {
                stl__skip_line(&x);
                break;
            }
            if (!stl__is(&x, "facet"))
                return designs__fail(why, CX_EPARSE, "syntax", "line %zu: 'facet' or 'endsolid' "
                                     "expected, found '%.*s'", x.line,
                                     (int)(x.tlen > 40 ? 40 : x.tlen), x.tok);
            if ((e = stl__facet(&x, m, why)) != CX_OK)
                break;
        }
    }
    if (!e && m->ntris == 0)
        return designs__fail(why, CX_EPARSE, "no_mesh", "the STL has no triangles");
    return e;
}

cx_err designs__read_stl(const uint8_t *data, size_t len, designs_mesh *m, designs_info *info,
                         designs_error *why)
{
    designs__unitless(info, DESIGNS_FMT_STL);
    /* A binary STL may begin with "solid" too: its size decides, and text
     * never holds a NUL byte (a binary file whose count disagrees with its
     * size is reported as such, not as bad text). */
    if (!designs__looks_binary_stl(data, len) && designs__looks_ascii_stl(data, len) &&
        !memchr(data, '\0', len)) {
        info->ascii = true;
        return stl__ascii(data, len, m, info, why);
    }
    if (!memchr(data, '\0', len < 4096 ? len : 4096) && !designs__looks_binary_stl(data, len))
        return designs__fail(why, CX_EPARSE, "unknown_format",
                             "not an STL file: text that does not begin with 'solid', and not a "
                             "binary STL either");
    return stl__binary(data, len, m, info, why);
}
