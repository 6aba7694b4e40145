#include "core.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The smallest %.Ng precision that reads back to v exactly. */
static int json__real_digits(double v)
{
    char tmp[40];
    for (int prec = 15; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            return prec;
    }
    return 17;
}

static int json__max_digits(const json_t *j, int depth)
{
    int best = 15;
    if (depth > 64)
        return 17;
    if (json_is_real(j))
        return json__real_digits(json_real_value(j));
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            int d = json__max_digits(v, depth + 1);
            if (d > best)
                best = d;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            int d = json__max_digits(v, depth + 1);
            if (d > best)
                best = d;
        }
    }
    return best;
}

char *cx_json_dump(const json_t *j, size_t *len)
{
    int prec = json__max_digits(j, 0);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(prec));
    if (s && len)
        *len = strlen(s);
    return s;
}

void cx_json_push(json_t *a, json_t *v, cx_err *e)
{
    if (json_array_append_new(a, v) != 0 && *e == CX_OK)
        *e = CX_ENOMEM;
}

void cx_jptr_push(char *out, size_t cap, const char *token)
{
    size_t n = strlen(out);
    if (n + 1 >= cap)
        return;
    out[n++] = '/';
    for (const char *p = token; *p; p++) {
        bool esc = *p == '~' || *p == '/';
        if (n + (esc ? 2 : 1) >= cap)
            break;
        if (esc) {
            out[n++] = '~';
            out[n++] = *p == '~' ? '0' : '1';
        } else {
            out[n++] = *p;
        }
    }
    /* A cut inside a multi-byte character would leave invalid UTF-8 (which
     * JSON strings cannot hold): drop the partial character. */
    n = cx_utf8_cut(out, n);
    out[n] = '\0';
}

void cx_jptr_index(char *out, size_t cap, size_t index)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%zu", index);
    cx_jptr_push(out, cap, tmp);
}
