/* The mesh: bounded growth, the reader's error sentences, small helpers. */
#include "designs_int.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void designs_limits_default(designs_limits *l)
{
    l->max_triangles = 5000000;
    l->max_vertices = 15000000;
    l->max_uncompressed = (uint64_t)1 << 30;
    l->max_ratio = 250;
}

void designs__mesh_limits(designs_mesh *m, const designs_limits *lim)
{
    designs_limits d;
    if (!lim) {
        designs_limits_default(&d);
        lim = &d;
    }
    m->max_t = (size_t)lim->max_triangles;
    m->max_v = (size_t)lim->max_vertices;
}

void designs_mesh_free(designs_mesh *m)
{
    if (!m)
        return;
    free(m->xyz);
    free(m->tri);
    size_t mv = m->max_v, mt = m->max_t;
    memset(m, 0, sizeof *m);
    m->max_v = mv;
    m->max_t = mt;
}

static size_t mesh__max_v(const designs_mesh *m)
{
    return m->max_v ? m->max_v : 15000000;
}

static size_t mesh__max_t(const designs_mesh *m)
{
    return m->max_t ? m->max_t : 5000000;
}

size_t designs__mesh_max_t(const designs_mesh *m)
{
    return mesh__max_t(m);
}

/* Grows *p (of *cap items of `item` bytes) to hold need items; doubling,
 * never past max. */
static cx_err mesh__grow(void **p, size_t *cap, size_t need, size_t max, size_t item)
{
    if (need <= *cap)
        return CX_OK;
    if (need > max)
        return CX_ETOOBIG;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n = n > max / 2 ? max : n * 2;
    void *q = realloc(*p, n * item);
    if (!q)
        return CX_ENOMEM;
    *p = q;
    *cap = n;
    return CX_OK;
}

cx_err designs__mesh_reserve(designs_mesh *m, size_t nv, size_t nt)
{
    if (nv > mesh__max_v(m) - m->nverts || nt > mesh__max_t(m) - m->ntris)
        return CX_ETOOBIG;
    cx_err e = mesh__grow((void **)&m->xyz, &m->cap_v, m->nverts + nv, mesh__max_v(m),
                          3 * sizeof(double));
    if (e == CX_OK)
        e = mesh__grow((void **)&m->tri, &m->cap_t, m->ntris + nt, mesh__max_t(m),
                       3 * sizeof(uint32_t));
    return e;
}

cx_err designs_mesh_add_vertex(designs_mesh *m, double x, double y, double z)
{
    if (!isfinite(x) || !isfinite(y) || !isfinite(z))
        return CX_EINVAL;
    if (fabs(x) > DESIGNS_MAX_COORD || fabs(y) > DESIGNS_MAX_COORD || fabs(z) > DESIGNS_MAX_COORD)
        return CX_EINVAL;
    if (m->nverts == m->cap_v) {
        cx_err e = mesh__grow((void **)&m->xyz, &m->cap_v, m->nverts + 1, mesh__max_v(m),
                              3 * sizeof(double));
        if (e)
            return e;
    }
    double *v = m->xyz + 3 * m->nverts++;
    v[0] = x;
    v[1] = y;
    v[2] = z;
    return CX_OK;
}

cx_err designs_mesh_add_triangle(designs_mesh *m, uint32_t a, uint32_t b, uint32_t c)
{
    if (a >= m->nverts || b >= m->nverts || c >= m->nverts)
        return CX_EINVAL;
    if (m->ntris == m->cap_t) {
        cx_err e = mesh__grow((void **)&m->tri, &m->cap_t, m->ntris + 1, mesh__max_t(m),
                              3 * sizeof(uint32_t));
        if (e)
            return e;
    }
    uint32_t *t = m->tri + 3 * m->ntris++;
    t[0] = a;
    t[1] = b;
    t[2] = c;
    return CX_OK;
}

cx_err designs__fail(designs_error *why, cx_err err, const char *code, const char *fmt, ...)
{
    if (why) {
        snprintf(why->code, sizeof why->code, "%s", code);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why->message, sizeof why->message, fmt, ap);
        va_end(ap);
    }
    return err;
}

cx_err designs__mesh_error(designs_error *why, cx_err e, const designs_mesh *m, const char *where)
{
    switch (e) {
    case CX_ETOOBIG:
        if (m->ntris >= mesh__max_t(m))
            return designs__fail(why, e, "too_many_triangles",
                                 "%s: more than %zu triangles (the limit)", where, mesh__max_t(m));
        return designs__fail(why, e, "too_many_vertices", "%s: more than %zu vertices (the limit)",
                             where, mesh__max_v(m));
    case CX_ENOMEM: return designs__fail(why, e, "nomem", "%s: out of memory", where);
    case CX_EINVAL:
        return designs__fail(why, CX_EPARSE, "out_of_range",
                             "%s: a coordinate is not finite or beyond ±%.0f mm", where,
                             DESIGNS_MAX_COORD);
    default: return designs__fail(why, e, "syntax", "%s: %s", where, cx_strerror(e));
    }
}

cx_err designs__mesh_error_line(designs_error *why, cx_err e, const designs_mesh *m, size_t line)
{
    char where[48];
    snprintf(where, sizeof where, "line %zu", line);
    return designs__mesh_error(why, e, m, where);
}

void designs__unitless(designs_info *info, designs_format f)
{
    info->format = f;
    info->unit_assumed = true;
    snprintf(info->unit, sizeof info->unit, "millimeter");
}

bool designs__number(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        /* digits, sign, point and exponent only: no "inf", "nan", "0x" */
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
              c == 'E'))
            return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void mesh__hash_init(void)
{
    if (sodium_init() < 0)
        abort();
    randombytes_buf(hash_key, sizeof hash_key);
}

const unsigned char *designs__hash_key(void)
{
    pthread_once(&hash_once, mesh__hash_init);
    return hash_key;
}

uint64_t designs__hash(const void *p, size_t n)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, p, n, designs__hash_key());
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

const char *designs_format_name(designs_format f)
{
    switch (f) {
    case DESIGNS_FMT_STL: return "stl";
    case DESIGNS_FMT_3MF: return "3mf";
    case DESIGNS_FMT_OBJ: return "obj";
    default: return "unknown";
    }
}

bool designs_format_parse(const char *s, designs_format *out)
{
    for (designs_format f = DESIGNS_FMT_STL; f <= DESIGNS_FMT_OBJ; f++)
        if (strcmp(s, designs_format_name(f)) == 0) {
            *out = f;
            return true;
        }
    return false;
}
