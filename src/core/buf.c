/* The bounded growing buffer: a hard cap, and a first error that sticks. */
#include "core.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cx_buf_init(cx_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->err = CX_OK;
}

static cx_err buf__fail(cx_buf *b, cx_err e)
{
    if (b->err == CX_OK)
        b->err = e;
    return b->err;
}

void cx_buf_fail(cx_buf *b, cx_err e)
{
    if (e != CX_OK)
        buf__fail(b, e);
}

/* Room for need bytes plus the NUL, growing by doubling up to max + 1. */
static cx_err buf__grow(cx_buf *b, size_t need)
{
    if (need > b->max)
        return buf__fail(b, CX_ETOOBIG);
    if (need + 1 <= b->cap)
        return CX_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return buf__fail(b, CX_ENOMEM);
    b->data = p;
    b->cap = cap;
    return CX_OK;
}

cx_err cx_buf_reserve(cx_buf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (n > b->max - b->len)
        return buf__fail(b, CX_ETOOBIG);
    if (b->len + n + 1 <= b->cap)
        return CX_OK;
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return buf__fail(b, CX_ENOMEM);
    b->data = p;
    b->cap = b->len + n + 1;
    return CX_OK;
}

cx_err cx_buf_append(cx_buf *b, const void *p, size_t n)
{
    if (b->err)
        return b->err;
    if (n > b->max - b->len)
        return buf__fail(b, CX_ETOOBIG);
    cx_err e = buf__grow(b, b->len + n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CX_OK;
}

cx_err cx_buf_puts(cx_buf *b, const char *s)
{
    return cx_buf_append(b, s, strlen(s));
}

cx_err cx_buf_printf(cx_buf *b, const char *fmt, ...)
{
    if (b->err)
        return b->err;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return buf__fail(b, CX_EINVAL);
    if ((size_t)n > b->max - b->len)
        return buf__fail(b, CX_ETOOBIG);
    cx_err e = buf__grow(b, b->len + (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CX_OK;
}

cx_err cx_buf_json(cx_buf *b, const json_t *v)
{
    if (b->err)
        return b->err;
    size_t n;
    char *s = cx_json_dump(v, &n);
    if (!s)
        return buf__fail(b, CX_ENOMEM);
    cx_err e = cx_buf_append(b, s, n);
    free(s);
    return e;
}

cx_err cx_buf_json_str(cx_buf *b, const char *s)
{
    if (b->err)
        return b->err;
    size_t n = strlen(s);
    if (!cx_utf8_count(s, n, NULL))
        return buf__fail(b, CX_EINVAL);
    cx_err e = cx_buf_reserve(b, n + 2);
    if (e == CX_OK)
        e = cx_buf_append(b, "\"", 1);
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* bytes copied as they are, in one append */
    for (size_t i = 0; e == CX_OK && i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : 0;
        if (i < n && c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        if (run)
            e = cx_buf_append(b, s + i - run, run);
        run = 0;
        if (e != CX_OK || i == n)
            break;
        char esc[7] = {'\\', (char)c, 0};
        size_t k = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c == '\t')
            esc[1] = 't';
        else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        e = cx_buf_append(b, esc, k);
    }
    return e == CX_OK ? cx_buf_append(b, "\"", 1) : e;
}

void cx_buf_reset(cx_buf *b)
{
    b->len = 0;
    b->err = CX_OK;
    if (b->data)
        b->data[0] = '\0';
}

void cx_buf_free(cx_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = CX_OK;
}

char *cx_buf_steal(cx_buf *b, size_t *len)
{
    char *p = b->err ? NULL : b->data;
    if (b->err)
        free(b->data);
    else if (!p)
        p = calloc(1, 1);
    if (len)
        *len = p ? b->len : 0;
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = CX_OK;
    return p;
}

bool cx_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return false;
        n *= 2;
    }
    if (elem && n > SIZE_MAX / elem)
        return false;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}
