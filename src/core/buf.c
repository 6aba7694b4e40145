#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cx_buf_init(cx_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static cx_err buf__grow(cx_buf *b, size_t need)
{
    if (need > b->max)
        return CX_ETOOBIG;
    if (need + 1 <= b->cap)
        return CX_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return CX_ENOMEM;
    b->data = p;
    b->cap = cap;
    return CX_OK;
}

cx_err cx_buf_reserve(cx_buf *b, size_t n)
{
    if (n > b->max - b->len)
        return CX_ETOOBIG;
    if (b->len + n + 1 <= b->cap)
        return CX_OK;
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return CX_ENOMEM;
    b->data = p;
    b->cap = b->len + n + 1;
    return CX_OK;
}

cx_err cx_buf_append(cx_buf *b, const void *p, size_t n)
{
    if (n > b->max - b->len)
        return CX_ETOOBIG;
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
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CX_EINVAL;
    if ((size_t)n > b->max - b->len)
        return CX_ETOOBIG;
    cx_err e = buf__grow(b, b->len + (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CX_OK;
}

void cx_buf_reset(cx_buf *b)
{
    b->len = 0;
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
}

char *cx_buf_steal(cx_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
