/* 3MF: a ZIP (libzip) whose start part (3D/3dmodel.model, found through
 * _rels/.rels) is XML (expat): objects with a mesh (vertices, triangles) or
 * components (other objects with a transform, possibly in other parts by
 * the production extension's p:path), and a build of items. The build is
 * instanced into one mesh in millimetres.
 *
 * Hostile archives: every entry's declared size is checked against what is
 * left of the inflation budget and against a compression-ratio cap before it
 * is read, and the bytes actually inflated are counted as they come; XML
 * with a DOCTYPE (hence entities) is refused; instancing is counted before
 * a triangle is emitted, so a component tree that multiplies to 10^12
 * triangles is refused from its counts. */
#include "designs_int.h"

#include <expat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#define TMF_CORE "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
#define TMF_PROD "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
#define TMF_RELS "http://schemas.openxmlformats.org/package/2006/relationships"
#define TMF_REL_MODEL "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
#define TMF_DEFAULT_PART "3D/3dmodel.model"
#define TMF_MAX_PARTS 256
#define TMF_MAX_DEPTH 64        /* XML nesting and component nesting */
#define TMF_MAX_TOKEN (1u << 20) /* bytes between '<' and '>' marks */
#define TMF_MAX_RELS (1u << 20)
#define TMF_MAX_PATH 512
#define TMF_CHUNK 65536

typedef struct {
    double a[3][3], b[3]; /* x' = a x + b */
} tmf_xf;

typedef struct {
    uint32_t id;
    int part;
    bool is_mesh, skip;
    size_t v0, v1, t0, t1; /* ranges in the shared arrays */
    size_t c0, c1;         /* components */
    uint64_t expanded;     /* triangles once instanced (memo), UINT64_MAX = visiting */
    bool counted;
} tmf_object;

typedef struct {
    uint32_t objectid;
    int part; /* where objectid lives */
    tmf_xf xf;
} tmf_ref;

typedef struct {
    char path[TMF_MAX_PATH];
    double unit; /* mm per unit */
} tmf_part;

typedef struct {
    zip_t *zip;
    const designs_limits *lim;
    designs_error *why;
    designs_info *info;
    cx_err err;
    uint64_t inflated;
    /* everything parsed, all parts together */
    tmf_part parts[TMF_MAX_PARTS];
    int nparts;
    tmf_object *obj;
    size_t nobj, capobj;
    tmf_ref *comp;
    size_t ncomp, capcomp;
    tmf_ref *items;
    size_t nitems, capitems;
    double *v;
    size_t nv, capv;
    uint32_t *t;
    size_t nt, capt;
    /* parser state for the part being read */
    XML_Parser xp;
    int part;
    int depth;
    bool in_model, in_resources, in_build;
    tmf_object *cur; /* object being read (index via cur_i) */
    size_t cur_i;
    bool in_mesh, in_vertices, in_triangles, in_components;
    char rel_target[TMF_MAX_PATH];
    uint64_t since_mark; /* bytes since the last '<' or '>' */
} tmf_ctx;

static void tmf__fail(tmf_ctx *c, cx_err e, const char *code, const char *msg)
{
    if (c->err)
        return;
    unsigned long line = c->xp ? (unsigned long)XML_GetCurrentLineNumber(c->xp) : 0;
    if (line)
        designs__fail(c->why, e, code, "%s line %lu: %s", c->parts[c->part].path, line, msg);
    else
        designs__fail(c->why, e, code, "%s", msg);
    c->err = e;
    if (c->xp)
        XML_StopParser(c->xp, XML_FALSE);
}

static bool tmf__grow(tmf_ctx *c, void **p, size_t *cap, size_t need, size_t item, size_t max,
                      const char *what)
{
    if (need <= *cap)
        return true;
    if (need > max) {
        char msg[120];
        snprintf(msg, sizeof msg, "more than %zu %s (the limit)", max, what);
        tmf__fail(c, CX_ETOOBIG, strcmp(what, "vertices") == 0 ? "too_many_vertices"
                                                               : "too_many_triangles",
                  msg);
        return false;
    }
    size_t n = *cap ? *cap * 2 : 256;
    if (n < need)
        n = need;
    if (n > max)
        n = max;
    void *q = realloc(*p, n * item);
    if (!q) {
        tmf__fail(c, CX_ENOMEM, "nomem", "out of memory");
        return false;
    }
    *p = q;
    *cap = n;
    return true;
}

/* ---- attributes ------------------------------------------------------------------- */

/* Local name of an expat name "uri|local" in namespace ns ("" = none). */
static const char *tmf__local(const char *name, const char *ns)
{
    const char *bar = strchr(name, '|');
    if (!bar)
        return *ns ? NULL : name;
    size_t n = (size_t)(bar - name);
    return strlen(ns) == n && memcmp(name, ns, n) == 0 ? bar + 1 : NULL;
}

static const char *tmf__attr(const XML_Char **atts, const char *ns, const char *local)
{
    for (size_t i = 0; atts[i]; i += 2) {
        const char *l = tmf__local(atts[i], ns);
        if (l && strcmp(l, local) == 0)
            return atts[i + 1];
    }
    return NULL;
}

static bool tmf__num(tmf_ctx *c, const char *s, double *out, const char *what)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (s && designs__number(s, n, out) && fabs(*out) <= DESIGNS_MAX_COORD)
        return true;
    char msg[160];
    bool nf = s && (strstr(s, "nan") || strstr(s, "NaN") || strstr(s, "inf") || strstr(s, "INF") ||
                    strstr(s, "Inf"));
    snprintf(msg, sizeof msg, "%s '%.40s' is not a finite number within ±1e9", what,
             s ? s : "(missing)");
    tmf__fail(c, CX_EPARSE, nf ? "non_finite" : "syntax", msg);
    return false;
}

static bool tmf__uint(tmf_ctx *c, const char *s, uint32_t *out, const char *what)
{
    int64_t v;
    if (s && cx_parse_i64(s, &v) && v >= 0 && v <= UINT32_MAX) {
        *out = (uint32_t)v;
        return true;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s '%.40s' is not an index", what, s ? s : "(missing)");
    tmf__fail(c, CX_EPARSE, "bad_index", msg);
    return false;
}

static void tmf__identity(tmf_xf *x)
{
    memset(x, 0, sizeof *x);
    x->a[0][0] = x->a[1][1] = x->a[2][2] = 1;
}

/* "m00 m01 m02 m10 m11 m12 m20 m21 m22 m30 m31 m32", row vectors:
 * x'_j = sum_i x_i m_ij + m3j. Translations are scaled into millimetres. */
static bool tmf__transform(tmf_ctx *c, const char *s, tmf_xf *x)
{
    tmf__identity(x);
    if (!s)
        return true;
    double m[12];
    const char *p = s;
    for (int k = 0; k < 12; k++) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
            q++;
        if (q == p || !designs__number(p, (size_t)(q - p), &m[k]) ||
            fabs(m[k]) > DESIGNS_MAX_COORD) {
            tmf__fail(c, CX_EPARSE, "syntax", "a transform needs 12 finite numbers");
            return false;
        }
        p = q;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p) {
        tmf__fail(c, CX_EPARSE, "syntax", "a transform needs 12 finite numbers");
        return false;
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            x->a[j][i] = m[3 * i + j];
    for (int j = 0; j < 3; j++)
        x->b[j] = m[9 + j] * c->parts[c->part].unit;
    return true;
}

/* The part that p:path names (loaded later); -1 after a failure. */
static int tmf__part_of(tmf_ctx *c, const XML_Char **atts)
{
    const char *path = tmf__attr(atts, TMF_PROD, "path");
    if (!path)
        return c->part;
    while (*path == '/')
        path++;
    for (int i = 0; i < c->nparts; i++)
        if (strcasecmp(c->parts[i].path, path) == 0)
            return i;
    if (c->nparts == TMF_MAX_PARTS || strlen(path) >= TMF_MAX_PATH) {
        tmf__fail(c, CX_ETOOBIG, "zip", "too many model parts or a part path too long");
        return -1;
    }
    snprintf(c->parts[c->nparts].path, TMF_MAX_PATH, "%s", path);
    c->parts[c->nparts].unit = 0; /* read from its <model> */
    return c->nparts++;
}

static bool tmf__ref(tmf_ctx *c, const XML_Char **atts, tmf_ref **arr, size_t *n, size_t *cap)
{
    tmf_ref r;
    if (!tmf__uint(c, tmf__attr(atts, "", "objectid"), &r.objectid, "objectid") ||
        !tmf__transform(c, tmf__attr(atts, "", "transform"), &r.xf))
        return false;
    if ((r.part = tmf__part_of(c, atts)) < 0)
        return false;
    if (!tmf__grow(c, (void **)arr, cap, *n + 1, sizeof **arr, c->lim->max_triangles,
                   "components and items"))
        return false;
    (*arr)[(*n)++] = r;
    return true;
}

/* ---- the model XML ------------------------------------------------------------------- */

static double tmf__unit(const char *u, bool *ok)
{
    static const struct {
        const char *name;
        double mm;
    } units[] = {{"micron", 0.001}, {"millimeter", 1}, {"centimeter", 10},
                 {"inch", 25.4},    {"foot", 304.8},   {"meter", 1000}};
    *ok = true;
    if (!u)
        return 1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(u, units[i].name) == 0)
            return units[i].mm;
    *ok = false;
    return 0;
}

static void tmf__object_start(tmf_ctx *c, const XML_Char **atts)
{
    uint32_t id;
    if (!tmf__uint(c, tmf__attr(atts, "", "id"), &id, "object id"))
        return;
    for (size_t i = 0; i < c->nobj; i++)
        if (c->obj[i].id == id && c->obj[i].part == c->part) {
            tmf__fail(c, CX_EPARSE, "syntax", "two objects have the same id");
            return;
        }
    if (!tmf__grow(c, (void **)&c->obj, &c->capobj, c->nobj + 1, sizeof *c->obj,
                   c->lim->max_triangles, "objects"))
        return;
    const char *type = tmf__attr(atts, "", "type");
    tmf_object *o = &c->obj[c->nobj];
    memset(o, 0, sizeof *o);
    o->id = id;
    o->part = c->part;
    /* support structures and "other" objects are not the design */
    o->skip = type && (strcmp(type, "support") == 0 || strcmp(type, "other") == 0);
    o->v0 = o->v1 = c->nv;
    o->t0 = o->t1 = c->nt;
    o->c0 = o->c1 = c->ncomp;
    c->cur_i = c->nobj++;
    c->cur = o;
}

static void tmf__vertex(tmf_ctx *c, const XML_Char **atts)
{
    double x, y, z;
    if (!tmf__num(c, tmf__attr(atts, "", "x"), &x, "vertex x") ||
        !tmf__num(c, tmf__attr(atts, "", "y"), &y, "vertex y") ||
        !tmf__num(c, tmf__attr(atts, "", "z"), &z, "vertex z"))
        return;
    if (!tmf__grow(c, (void **)&c->v, &c->capv, c->nv + 1, 3 * sizeof(double),
                   c->lim->max_vertices, "vertices"))
        return;
    double u = c->parts[c->part].unit;
    c->v[3 * c->nv] = x * u;
    c->v[3 * c->nv + 1] = y * u;
    c->v[3 * c->nv + 2] = z * u;
    c->nv++;
    c->obj[c->cur_i].v1 = c->nv;
}

static void tmf__triangle(tmf_ctx *c, const XML_Char **atts)
{
    tmf_object *o = &c->obj[c->cur_i];
    uint32_t v[3];
    static const char *const names[3] = {"v1", "v2", "v3"};
    for (int k = 0; k < 3; k++) {
        if (!tmf__uint(c, tmf__attr(atts, "", names[k]), &v[k], names[k]))
            return;
        if (v[k] >= o->v1 - o->v0) {
            char msg[120];
            snprintf(msg, sizeof msg, "triangle %s=%u but the object has %zu vertices", names[k],
                     v[k], o->v1 - o->v0);
            tmf__fail(c, CX_EPARSE, "bad_index", msg);
            return;
        }
    }
    if (!tmf__grow(c, (void **)&c->t, &c->capt, c->nt + 1, 3 * sizeof(uint32_t),
                   c->lim->max_triangles, "triangles"))
        return;
    memcpy(c->t + 3 * c->nt, v, sizeof v);
    c->nt++;
    o->t1 = c->nt;
}

static void XMLCALL tmf__start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    tmf_ctx *c = ud;
    if (c->err)
        return;
    if (++c->depth > TMF_MAX_DEPTH) {
        tmf__fail(c, CX_EPARSE, "xml", "XML nested too deep");
        return;
    }
    const char *l = tmf__local(name, TMF_CORE);
    if (!l)
        return; /* other namespaces: extensions we do not need */
    if (c->depth == 1) {
        if (strcmp(l, "model") != 0) {
            tmf__fail(c, CX_EPARSE, "no_model", "the root element is not a 3MF <model>");
            return;
        }
        bool ok;
        const char *u = tmf__attr(atts, "", "unit");
        double mm = tmf__unit(u, &ok);
        if (!ok) {
            tmf__fail(c, CX_EPARSE, "unit", "unknown unit (micron, millimeter, centimeter, inch, "
                                            "foot or meter)");
            return;
        }
        c->parts[c->part].unit = mm;
        if (c->part == 0)
            snprintf(c->info->unit, sizeof c->info->unit, "%s", u ? u : "millimeter");
        c->in_model = true;
    } else if (c->depth == 2 && strcmp(l, "resources") == 0) {
        c->in_resources = true;
    } else if (c->depth == 2 && strcmp(l, "build") == 0) {
        c->in_build = true;
    } else if (c->in_build && c->depth == 3 && strcmp(l, "item") == 0) {
        if (c->part == 0)
            tmf__ref(c, atts, &c->items, &c->nitems, &c->capitems);
    } else if (c->in_resources && c->depth == 3 && strcmp(l, "object") == 0) {
        tmf__object_start(c, atts);
    } else if (c->cur && c->depth == 4 && strcmp(l, "mesh") == 0) {
        c->in_mesh = true;
        c->obj[c->cur_i].is_mesh = true;
    } else if (c->cur && c->depth == 4 && strcmp(l, "components") == 0) {
        c->in_components = true;
    } else if (c->in_mesh && c->depth == 5 && strcmp(l, "vertices") == 0) {
        c->in_vertices = true;
    } else if (c->in_mesh && c->depth == 5 && strcmp(l, "triangles") == 0) {
        c->in_triangles = true;
    } else if (c->in_vertices && c->depth == 6 && strcmp(l, "vertex") == 0) {
        tmf__vertex(c, atts);
    } else if (c->in_triangles && c->depth == 6 && strcmp(l, "triangle") == 0) {
        tmf__triangle(c, atts);
    } else if (c->in_components && c->depth == 5 && strcmp(l, "component") == 0) {
        if (tmf__ref(c, atts, &c->comp, &c->ncomp, &c->capcomp))
            c->obj[c->cur_i].c1 = c->ncomp;
    }
}

static void XMLCALL tmf__end(void *ud, const XML_Char *name)
{
    tmf_ctx *c = ud;
    c->depth--;
    const char *l = tmf__local(name, TMF_CORE);
    if (!l || c->err)
        return;
    if (strcmp(l, "resources") == 0)
        c->in_resources = false;
    else if (strcmp(l, "build") == 0)
        c->in_build = false;
    else if (strcmp(l, "object") == 0)
        c->cur = NULL;
    else if (strcmp(l, "mesh") == 0)
        c->in_mesh = false;
    else if (strcmp(l, "vertices") == 0)
        c->in_vertices = false;
    else if (strcmp(l, "triangles") == 0)
        c->in_triangles = false;
    else if (strcmp(l, "components") == 0)
        c->in_components = false;
}

/* ---- relationships ---------------------------------------------------------------- */

static void XMLCALL tmf__rel_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    tmf_ctx *c = ud;
    const char *l = tmf__local(name, TMF_RELS);
    if (!l || strcmp(l, "Relationship") != 0 || c->rel_target[0])
        return;
    const char *type = tmf__attr(atts, "", "Type"), *target = tmf__attr(atts, "", "Target");
    if (type && target && strcmp(type, TMF_REL_MODEL) == 0) {
        while (*target == '/')
            target++;
        snprintf(c->rel_target, sizeof c->rel_target, "%s", target);
    }
}

/* ---- hostile XML ------------------------------------------------------------------ */

static void XMLCALL tmf__doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                 const XML_Char *pubid, int internal)
{
    tmf__fail(ud, CX_EPARSE, "xml_entity", "a DOCTYPE (and so entities) is not allowed in 3MF");
}

static void XMLCALL tmf__entity(void *ud, const XML_Char *name, int pe, const XML_Char *value,
                                int len, const XML_Char *base, const XML_Char *sysid,
                                const XML_Char *pubid, const XML_Char *notation)
{
    tmf__fail(ud, CX_EPARSE, "xml_entity", "entity declarations are not allowed in 3MF");
}

/* Refuses runs of more than TMF_MAX_TOKEN bytes without markup, which expat
 * would otherwise buffer whole (one attribute of a gigabyte). */
static bool tmf__marks(tmf_ctx *c, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '<' || buf[i] == '>')
            c->since_mark = 0;
        else if (++c->since_mark > TMF_MAX_TOKEN) {
            tmf__fail(c, CX_EPARSE, "xml", "more than 1 MiB of XML without markup");
            return false;
        }
    }
    return true;
}

/* Inflates entry `path` chunk by chunk into a new expat parser. */
static cx_err tmf__parse_entry(tmf_ctx *c, const char *path, bool rels)
{
    zip_int64_t idx = zip_name_locate(c->zip, path, ZIP_FL_NOCASE);
    char msg[TMF_MAX_PATH + 120];
    if (idx < 0) {
        if (rels)
            return CX_ENOTFOUND;
        snprintf(msg, sizeof msg, "the archive has no part %s", path);
        tmf__fail(c, CX_EPARSE, "no_model", msg);
        return c->err;
    }
    zip_stat_t st;
    if (zip_stat_index(c->zip, (zip_uint64_t)idx, 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE)) {
        snprintf(msg, sizeof msg, "%s: no size in the ZIP directory", path);
        tmf__fail(c, CX_EPARSE, "zip", msg);
        return c->err;
    }
    uint64_t budget = c->lim->max_uncompressed - c->inflated;
    if (rels && budget > TMF_MAX_RELS)
        budget = TMF_MAX_RELS;
    if (st.size > budget ||
        (st.size > (1u << 20) && (double)st.size > c->lim->max_ratio * (double)st.comp_size)) {
        snprintf(msg, sizeof msg, "%s declares %llu bytes from %llu compressed: over the "
                 "inflation limits", path, (unsigned long long)st.size,
                 (unsigned long long)st.comp_size);
        tmf__fail(c, CX_ETOOBIG, "zip_bomb", msg);
        return c->err;
    }
    zip_file_t *zf = zip_fopen_index(c->zip, (zip_uint64_t)idx, 0);
    if (!zf) {
        snprintf(msg, sizeof msg, "%s: %s", path, zip_strerror(c->zip));
        tmf__fail(c, CX_EPARSE, "zip", msg);
        return c->err;
    }
    XML_Parser xp = XML_ParserCreateNS(NULL, '|');
    char *buf = malloc(TMF_CHUNK);
    if (!xp || !buf) {
        if (xp)
            XML_ParserFree(xp);
        free(buf);
        zip_fclose(zf);
        tmf__fail(c, CX_ENOMEM, "nomem", "out of memory");
        return c->err;
    }
    c->xp = xp;
    c->depth = 0;
    c->since_mark = 0;
    c->cur = NULL;
    c->in_model = c->in_resources = c->in_build = false;
    c->in_mesh = c->in_vertices = c->in_triangles = c->in_components = false;
    XML_SetUserData(xp, c);
    XML_SetElementHandler(xp, rels ? tmf__rel_start : tmf__start, rels ? NULL : tmf__end);
    XML_SetStartDoctypeDeclHandler(xp, tmf__doctype);
    XML_SetEntityDeclHandler(xp, tmf__entity);
    uint64_t got = 0;
    for (;;) {
        zip_int64_t n = zip_fread(zf, buf, TMF_CHUNK);
        if (n < 0) {
            snprintf(msg, sizeof msg, "%s: %s", path, zip_file_strerror(zf));
            tmf__fail(c, CX_EPARSE, "zip", msg);
            break;
        }
        got += (uint64_t)n;
        if (got > st.size) {
            snprintf(msg, sizeof msg, "%s inflates past its declared %llu bytes", path,
                     (unsigned long long)st.size);
            tmf__fail(c, CX_ETOOBIG, "zip_bomb", msg);
            break;
        }
        if (!tmf__marks(c, buf, (size_t)n))
            break;
        if (XML_Parse(xp, buf, (int)n, n == 0) != XML_STATUS_OK) {
            if (!c->err) {
                snprintf(msg, sizeof msg, "%s line %lu: %s", path,
                         (unsigned long)XML_GetCurrentLineNumber(xp),
                         XML_ErrorString(XML_GetErrorCode(xp)));
                c->xp = NULL;
                tmf__fail(c, CX_EPARSE, "xml", msg);
            }
            break;
        }
        if (n == 0 || c->err)
            break;
    }
    c->inflated += got;
    c->xp = NULL;
    XML_ParserFree(xp);
    free(buf);
    zip_fclose(zf);
    return c->err;
}

/* ---- instancing ------------------------------------------------------------------- */

static tmf_object *tmf__find(tmf_ctx *c, int part, uint32_t id)
{
    for (size_t i = 0; i < c->nobj; i++)
        if (c->obj[i].id == id && c->obj[i].part == part)
            return &c->obj[i];
    return NULL;
}

static uint64_t tmf__sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX - 1 : a + b;
}

/* Triangles object o makes once instanced; cycles and depth are errors. */
static uint64_t tmf__count(tmf_ctx *c, tmf_object *o, int depth)
{
    if (o->counted)
        return o->expanded;
    if (o->expanded == UINT64_MAX || depth > TMF_MAX_DEPTH) {
        tmf__fail(c, CX_EPARSE, "recursion", "components refer to each other in a cycle or "
                                             "nest too deep");
        return 0;
    }
    o->expanded = UINT64_MAX;
    uint64_t n = o->skip ? 0 : o->t1 - o->t0;
    for (size_t k = o->c0; k < o->c1 && !c->err; k++) {
        tmf_object *ch = tmf__find(c, c->comp[k].part, c->comp[k].objectid);
        if (!ch) {
            tmf__fail(c, CX_EPARSE, "bad_index", "a component names an object that does not "
                                                 "exist");
            return 0;
        }
        n = tmf__sat_add(n, o->skip ? 0 : tmf__count(c, ch, depth + 1));
    }
    o->expanded = n;
    o->counted = true;
    return n;
}

static void tmf__compose(const tmf_xf *inner, const tmf_xf *outer, tmf_xf *out)
{
    tmf_xf r;
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++)
            r.a[i][j] = outer->a[i][0] * inner->a[0][j] + outer->a[i][1] * inner->a[1][j] +
                        outer->a[i][2] * inner->a[2][j];
        r.b[i] = outer->a[i][0] * inner->b[0] + outer->a[i][1] * inner->b[1] +
                 outer->a[i][2] * inner->b[2] + outer->b[i];
    }
    *out = r;
}

static double tmf__det(const tmf_xf *x)
{
    const double(*a)[3] = x->a;
    return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
           a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
           a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
}

static cx_err tmf__emit(tmf_ctx *c, const tmf_object *o, const tmf_xf *xf, designs_mesh *m,
                        int depth)
{
    if (o->skip)
        return CX_OK;
    if (o->t1 > o->t0) {
        cx_err e = designs__mesh_reserve(m, o->v1 - o->v0, o->t1 - o->t0);
        if (e)
            return designs__mesh_error(c->why, e, m, "3MF build");
        uint32_t base = (uint32_t)m->nverts;
        for (size_t i = o->v0; i < o->v1; i++) {
            const double *p = c->v + 3 * i;
            double q[3];
            for (int k = 0; k < 3; k++)
                q[k] = xf->a[k][0] * p[0] + xf->a[k][1] * p[1] + xf->a[k][2] * p[2] + xf->b[k];
            if ((e = designs_mesh_add_vertex(m, q[0], q[1], q[2])) != CX_OK)
                return designs__mesh_error(c->why, e, m, "3MF build (a transformed vertex)");
        }
        bool flip = tmf__det(xf) < 0; /* a mirroring transform turns the winding */
        for (size_t i = o->t0; i < o->t1; i++) {
            const uint32_t *t = c->t + 3 * i;
            designs_mesh_add_triangle(m, base + t[0], base + (flip ? t[2] : t[1]),
                                      base + (flip ? t[1] : t[2]));
        }
    }
    for (size_t k = o->c0; k < o->c1; k++) {
        tmf_xf sub;
        tmf__compose(&c->comp[k].xf, xf, &sub);
        cx_err e = tmf__emit(c, tmf__find(c, c->comp[k].part, c->comp[k].objectid), &sub, m,
                             depth + 1);
        if (e)
            return e;
    }
    return CX_OK;
}

static cx_err tmf__build(tmf_ctx *c, designs_mesh *m)
{
    uint64_t total = 0;
    for (size_t i = 0; i < c->nitems && !c->err; i++) {
        tmf_object *o = tmf__find(c, c->items[i].part, c->items[i].objectid);
        if (!o) {
            tmf__fail(c, CX_EPARSE, "bad_index", "a build item names an object that does not "
                                                 "exist");
            break;
        }
        total = tmf__sat_add(total, tmf__count(c, o, 0));
    }
    if (c->err)
        return c->err;
    if (total > c->lim->max_triangles)
        return designs__fail(c->why, CX_ETOOBIG, "too_many_triangles",
                             "the build instances %llu triangles; the limit is %llu",
                             (unsigned long long)total,
                             (unsigned long long)c->lim->max_triangles);
    if (total == 0)
        return designs__fail(c->why, CX_EPARSE, "no_mesh", "the 3MF build has no triangles");
    for (size_t i = 0; i < c->nitems; i++) {
        cx_err e = tmf__emit(c, tmf__find(c, c->items[i].part, c->items[i].objectid),
                             &c->items[i].xf, m, 0);
        if (e)
            return e;
    }
    c->info->objects = (uint32_t)c->nitems;
    return CX_OK;
}

/* A 3MF without build items: every mesh object that no component uses. */
static void tmf__default_build(tmf_ctx *c)
{
    for (size_t i = 0; i < c->nobj && !c->err; i++) {
        if (c->obj[i].part != 0)
            continue;
        bool used = false;
        for (size_t k = 0; k < c->ncomp && !used; k++)
            used = c->comp[k].part == 0 && c->comp[k].objectid == c->obj[i].id;
        if (used)
            continue;
        if (!tmf__grow(c, (void **)&c->items, &c->capitems, c->nitems + 1, sizeof *c->items,
                       c->lim->max_triangles, "components and items"))
            return;
        tmf_ref *r = &c->items[c->nitems++];
        r->objectid = c->obj[i].id;
        r->part = 0;
        tmf__identity(&r->xf);
    }
}

cx_err designs__read_3mf(const uint8_t *data, size_t len, const designs_limits *lim,
                         designs_mesh *m, designs_info *info, designs_error *why)
{
    info->format = DESIGNS_FMT_3MF;
    snprintf(info->unit, sizeof info->unit, "millimeter");
    tmf_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return designs__fail(why, CX_ENOMEM, "nomem", "out of memory");
    c->lim = lim;
    c->why = why;
    c->info = info;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    if (src && !(c->zip = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze)))
        zip_source_free(src);
    if (!c->zip) {
        designs__fail(why, CX_EPARSE, "zip", "not a readable ZIP archive: %s",
                      zip_error_strerror(&ze));
        zip_error_fini(&ze);
        free(c);
        return CX_EPARSE;
    }
    zip_error_fini(&ze);
    /* _rels/.rels names the start part; 3D/3dmodel.model when it does not */
    snprintf(c->parts[0].path, TMF_MAX_PATH, "_rels/.rels");
    c->nparts = 1;
    cx_err e = tmf__parse_entry(c, "_rels/.rels", true);
    if (e == CX_ENOTFOUND)
        e = CX_OK;
    if (!e) {
        snprintf(c->parts[0].path, TMF_MAX_PATH, "%s",
                 c->rel_target[0] ? c->rel_target : TMF_DEFAULT_PART);
        c->parts[0].unit = 0; /* set by its <model> */
    }
    /* parts named by p:path are appended while parts are read */
    for (int p = 0; !e && p < c->nparts; p++) {
        c->part = p;
        e = tmf__parse_entry(c, c->parts[p].path, false);
        if (!e && c->parts[p].unit == 0)
            e = designs__fail(why, CX_EPARSE, "no_model", "%s has no 3MF <model>",
                              c->parts[p].path);
    }
    if (!e && c->nitems == 0) {
        tmf__default_build(c);
        e = c->err;
    }
    if (!e)
        e = tmf__build(c, m);
    zip_discard(c->zip);
    free(c->obj);
    free(c->comp);
    free(c->items);
    free(c->v);
    free(c->t);
    free(c);
    return e;
}
