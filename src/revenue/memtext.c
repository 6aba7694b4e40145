/* The texts of the assessment member declare keeps, written from its tree
 * (re-assessments; a submission's are aswrite.c's, from the structs).
 *
 * They were json_dumps of a shallow copy (and of a second copy for the
 * trader's form): jansson's dump checks every container for loops (a
 * "%p" snprintf and a hash table insert per object and array) and goes
 * through a callback per token, which cost about half as much CPU as the
 * assessment itself (perf, bench/revenue). This writer walks the tree once
 * per form, leaves out what a form does not show without copying, and
 * writes exactly what json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15))
 * writes: members in the tree's order, integers in decimal, reals as
 * jansson spells them at 15 digits, strings through cx_buf_json_str. That
 * escapes control characters other than \n, \r and \t differently from
 * jansson (\u0008 where jansson writes \b), so a tree holding one is
 * written by jansson instead: the bytes stay those of json_dumps. */
#include "revenue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cx_buf b;
    bool jansson; /* a string cx_buf_json_str would spell differently */
} mt_out;

bool rev__json_plain(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t')
            return false;
    return true;
}

static cx_err mt__str(mt_out *o, const char *s)
{
    if (!rev__json_plain(s)) {
        o->jansson = true;
        return CX_EINVAL;
    }
    return cx_buf_json_str(&o->b, s);
}

/* jansson's jsonp_dtostr at precision 15: "%.15g", ".0" when that reads as
 * an integer, the exponent without '+' and leading zeros. (No locale: the
 * program never calls setlocale, so printf's decimal point is '.'.) */
cx_err rev__json_real(cx_buf *b, double v)
{
    char t[40];
    int n = snprintf(t, sizeof t, "%.15g", v);
    if (n < 0 || (size_t)n >= sizeof t - 3)
        return CX_EINVAL;
    char *e = strchr(t, 'e');
    if (!e && !strchr(t, '.')) {
        memcpy(t + n, ".0", 3);
        n += 2;
    }
    if (e) {
        char *p = e + 1, *q = p;
        if (*q == '+')
            q++;
        else if (*q == '-')
            *p++ = *q++;
        while (*q == '0')
            q++;
        memmove(p, q, strlen(q) + 1);
        n = (int)strlen(t);
    }
    return cx_buf_append(b, t, (size_t)n);
}

cx_err rev__json_int(cx_buf *b, int64_t v)
{
    char t[24], *p = t + sizeof t;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    return cx_buf_append(b, p, (size_t)(t + sizeof t - p));
}

static bool mt__undervaluation(const json_t *f)
{
    const char *rule = json_string_value(json_object_get(f, "rule"));
    return rule && strcmp(rule, "undervaluation") == 0;
}

/* v as JSON; `skip` (an array's elements) leaves out the undervaluation
 * findings. */
static cx_err mt__value(mt_out *o, const json_t *v, bool skip)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        cx_err e = cx_buf_puts(&o->b, "{");
        const char *k;
        json_t *m;
        bool first = true;
        json_object_foreach((json_t *)v, k, m)
        {
            e = e ? e : cx_buf_puts(&o->b, first ? "" : ",");
            e = e ? e : mt__str(o, k);
            e = e ? e : cx_buf_puts(&o->b, ":");
            e = e ? e : mt__value(o, m, false);
            first = false;
        }
        return e ? e : cx_buf_puts(&o->b, "}");
    }
    case JSON_ARRAY: {
        cx_err e = cx_buf_puts(&o->b, "[");
        size_t i;
        json_t *m;
        bool first = true;
        json_array_foreach(v, i, m)
        {
            if (skip && mt__undervaluation(m))
                continue;
            e = e ? e : cx_buf_puts(&o->b, first ? "" : ",");
            e = e ? e : mt__value(o, m, false);
            first = false;
        }
        return e ? e : cx_buf_puts(&o->b, "]");
    }
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            o->jansson = true; /* a NUL inside: jansson writes \u0000 */
            return CX_EINVAL;
        }
        return mt__str(o, json_string_value(v));
    case JSON_INTEGER: return rev__json_int(&o->b, json_integer_value(v));
    case JSON_REAL: return rev__json_real(&o->b, json_real_value(v));
    case JSON_TRUE: return cx_buf_puts(&o->b, "true");
    case JSON_FALSE: return cx_buf_puts(&o->b, "false");
    case JSON_NULL: return cx_buf_puts(&o->b, "null");
    }
    return CX_EINVAL;
}

/* The stored form (public: the trader's) of an assessment: its members but
 * revenue_at_risk (the row's column), the trader's without the findings of
 * the valuation control. */
static char *mt__form(const json_t *a, bool public)
{
    mt_out o = {.jansson = false};
    cx_buf_init(&o.b, (size_t)64 << 20);
    cx_err e = cx_buf_reserve(&o.b, 2048);
    e = e ? e : cx_buf_puts(&o.b, "{");
    const char *k;
    json_t *m;
    bool first = true;
    json_object_foreach((json_t *)a, k, m)
    {
        if (strcmp(k, "revenue_at_risk") == 0)
            continue;
        e = e ? e : cx_buf_puts(&o.b, first ? "" : ",");
        e = e ? e : mt__str(&o, k);
        e = e ? e : cx_buf_puts(&o.b, ":");
        e = e ? e : mt__value(&o, m, public && strcmp(k, "findings") == 0);
        first = false;
    }
    e = e ? e : cx_buf_puts(&o.b, "}");
    char *t = e == CX_OK ? cx_buf_steal(&o.b, NULL) : NULL;
    cx_buf_free(&o.b);
    if (t || !o.jansson)
        return t;
    /* a string jansson escapes its own way: its dump, of copies */
    json_t *c = public ? rev__assessment_public(a) : json_copy((json_t *)a);
    if (c)
        json_object_del(c, "revenue_at_risk");
    t = c ? json_dumps(c, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(c);
    return t;
}

char *rev__line_text(const rev_tariff_line *l)
{
    json_t *j = rev__line_json(l);
    if (!j)
        return NULL;
    mt_out o = {.jansson = false};
    cx_buf_init(&o.b, (size_t)1 << 20);
    cx_err e = mt__value(&o, j, false);
    char *t = e == CX_OK ? cx_buf_steal(&o.b, NULL) : NULL;
    cx_buf_free(&o.b);
    if (!t && o.jansson)
        t = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(j);
    return t;
}

static bool mt__has_undervaluation(const json_t *a)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(a, "findings"), i, f)
    {
        if (mt__undervaluation(f))
            return true;
    }
    return false;
}

cx_err rev__member_texts(const json_t *assessment, char **full, char **shown)
{
    *shown = NULL;
    *full = json_is_object(assessment) ? mt__form(assessment, false) : NULL;
    if (*full && mt__has_undervaluation(assessment) && !(*shown = mt__form(assessment, true))) {
        free(*full);
        *full = NULL;
    }
    return *full ? CX_OK : CX_ENOMEM;
}

cx_err rev_assessment_texts(const json_t *assessment, char **stored, char **shown)
{
    return rev__member_texts(assessment, stored, shown);
}
