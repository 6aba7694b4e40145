/* RFC 8785 JSON Canonicalization Scheme (JCS) over jansson values.
 *
 * Three rules make the form unique: members sorted by their names as arrays
 * of UTF-16 code units, strings written with the minimal escapes of
 * ECMAScript's JSON.stringify, and numbers written as ECMAScript's
 * Number.prototype.toString writes IEEE 754 doubles. */
#include "ledger_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JCS_MAX_DEPTH 64
#define JCS_SMALL_OBJECT 32

/* ---- numbers ------------------------------------------------------------------
 * ECMAScript Number::toString(m): find the fewest digits k such that some
 * k-digit s with exponent n reads back as exactly m (ties: the s closest to
 * m), then lay the digits out as an integer, a fraction or an exponent form
 * depending on n. glibc's printf and strtod are correctly rounded, so "%.*e"
 * gives the nearest k-digit decimal and strtod tells whether it reads back. */

/* Digits (no dot) and decimal exponent of the nearest p-digit decimal to v
 * (v > 0): v ≈ 0.d1d2…dp × 10^n. */
static void jcs__digits(double v, int p, char digits[24], int *n)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
    int k = 0;
    const char *c = tmp;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            digits[k++] = *c;
    digits[k] = '\0';
    /* "%.*e" writes the exponent as a sign and at least two digits */
    int64_t exp = 0;
    *n = (cx_parse_i64(c[1] == '+' ? c + 2 : c + 1, &exp) ? (int)exp : 0) + 1;
}

static double jcs__value(const char *digits, int n)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "0.%se%d", digits, n);
    return strtod(tmp, NULL);
}

/* Adds delta (+1/-1) to the last digit of a p-digit string, carrying;
 * returns false if the result would not have p digits. */
static bool jcs__step(char digits[24], int *n, int delta)
{
    int p = (int)strlen(digits);
    int i = p - 1;
    if (delta > 0) {
        while (i >= 0 && digits[i] == '9')
            digits[i--] = '0';
        if (i < 0) {
            /* 99…9 + 1 = 100…0: one more digit; keep p digits, bump n */
            digits[0] = '1';
            for (int k = 1; k < p; k++)
                digits[k] = '0';
            (*n)++;
            return true;
        }
        digits[i]++;
        return true;
    }
    while (i >= 0 && digits[i] == '0')
        digits[i--] = '9';
    if (i < 0)
        return false;
    digits[i]--;
    if (digits[0] == '0') {
        if (p == 1)
            return false;
        /* 100…0 - 1 = 099…9: shift to p digits of 9 with a smaller exponent */
        memmove(digits, digits + 1, (size_t)p - 1);
        digits[p - 1] = '9';
        (*n)--;
    }
    return true;
}

/* The p-digit decimal that reads back as v and is closest to it, if any. */
static bool jcs__try(double v, int p, char out[24], int *nout)
{
    char d[24];
    int n;
    jcs__digits(v, p, d, &n);
    if (jcs__value(d, n) == v) {
        memcpy(out, d, sizeof d);
        *nout = n;
        return true;
    }
    /* At a power of two the interval of values reading back as v is
     * lopsided, so the nearest p-digit decimal may miss it while a
     * neighbour hits it. */
    bool found = false;
    double best = 0;
    for (int delta = -1; delta <= 1; delta += 2) {
        char e[24];
        int m = n;
        memcpy(e, d, sizeof e);
        if (!jcs__step(e, &m, delta))
            continue;
        double x = jcs__value(e, m);
        if (x != v)
            continue;
        char tmp[48];
        snprintf(tmp, sizeof tmp, "0.%se%d", e, m);
        /* distance measured in long double is enough to rank two candidates */
        long double dist = fabsl(strtold(tmp, NULL) - (long double)v);
        if (!found || dist < best) {
            found = true;
            best = (double)dist;
            memcpy(out, e, sizeof e);
            *nout = m;
        }
    }
    return found;
}

size_t ledger_jcs_number(double v, char out[LEDGER_NUMBER_MAX])
{
    if (!isfinite(v)) {
        out[0] = '\0';
        return 0;
    }
    if (v == 0) { /* both zeros */
        memcpy(out, "0", 2);
        return 1;
    }
    size_t len = 0;
    if (v < 0) {
        out[len++] = '-';
        v = -v;
    }
    /* Integers below 2^53 print as themselves: the common case, fast. */
    if (v < 9007199254740992.0 && v == floor(v)) {
        len += (size_t)snprintf(out + len, LEDGER_NUMBER_MAX - len, "%.0f", v);
        return len;
    }
    /* Shortest digits: a p-digit decimal that reads back implies a (p+1)-
     * digit one does too, so binary search finds the least p. */
    char digits[24] = "";
    int n = 0;
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        char d[24];
        int m;
        if (jcs__try(v, mid, d, &m))
            hi = mid;
        else
            lo = mid + 1;
    }
    if (!jcs__try(v, lo, digits, &n)) {
        jcs__digits(v, 17, digits, &n); /* unreachable: 17 digits always read back */
    }
    int k = (int)strlen(digits);
    while (k > 1 && digits[k - 1] == '0') /* s must not end in 0 */
        digits[--k] = '\0';
    char *o = out + len;
    if (k <= n && n <= 21) {
        memcpy(o, digits, (size_t)k);
        for (int i = 0; i < n - k; i++)
            o[k + i] = '0';
        o[n] = '\0';
        return len + (size_t)n;
    }
    if (0 < n && n <= 21) {
        memcpy(o, digits, (size_t)n);
        o[n] = '.';
        memcpy(o + n + 1, digits + n, (size_t)(k - n));
        o[k + 1] = '\0';
        return len + (size_t)k + 1;
    }
    if (-6 < n && n <= 0) {
        size_t w = 0;
        o[w++] = '0';
        o[w++] = '.';
        for (int i = 0; i < -n; i++)
            o[w++] = '0';
        memcpy(o + w, digits, (size_t)k);
        w += (size_t)k;
        o[w] = '\0';
        return len + w;
    }
    size_t w = 0;
    o[w++] = digits[0];
    if (k > 1) {
        o[w++] = '.';
        memcpy(o + w, digits + 1, (size_t)k - 1);
        w += (size_t)k - 1;
    }
    w += (size_t)snprintf(o + w, LEDGER_NUMBER_MAX - len - w, "e%c%d", n - 1 >= 0 ? '+' : '-',
                          abs(n - 1));
    return len + w;
}

/* ---- strings -------------------------------------------------------------------- */

static cx_err jcs__string(cx_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    cx_err e = cx_buf_append(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; e == CX_OK && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (i > run)
            e = cx_buf_append(out, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\f': esc[1] = 'f'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (e == CX_OK)
            e = cx_buf_append(out, esc, elen);
    }
    if (e == CX_OK && n > run)
        e = cx_buf_append(out, s + run, n - run);
    if (e == CX_OK)
        e = cx_buf_append(out, "\"", 1);
    return e;
}

/* ---- member order: UTF-16 code units ------------------------------------------------ */

typedef struct {
    const unsigned char *p;
    unsigned pending; /* low surrogate still to deliver, or 0 */
} u16_iter;

/* Next UTF-16 code unit of valid UTF-8, or -1 at the end. */
static long jcs__unit(u16_iter *it)
{
    if (it->pending) {
        long u = it->pending;
        it->pending = 0;
        return u;
    }
    const unsigned char *p = it->p;
    if (!*p)
        return -1;
    uint32_t cp;
    if (p[0] < 0x80) {
        cp = p[0];
        it->p += 1;
    } else if ((p[0] & 0xE0) == 0xC0) {
        cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
        it->p += 2;
    } else if ((p[0] & 0xF0) == 0xE0) {
        cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
        it->p += 3;
    } else {
        cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
             (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
        it->p += 4;
    }
    if (cp < 0x10000)
        return cp;
    cp -= 0x10000;
    it->pending = 0xDC00 + (cp & 0x3FF);
    return 0xD800 + (cp >> 10);
}

int ledger_jcs_keycmp(const char *a, const char *b)
{
    /* ASCII prefixes compare the same in UTF-8 and UTF-16 */
    while (*a && *a == *b && (unsigned char)*a < 0x80) {
        a++;
        b++;
    }
    u16_iter x = {(const unsigned char *)a, 0}, y = {(const unsigned char *)b, 0};
    for (;;) {
        long u = jcs__unit(&x), v = jcs__unit(&y);
        if (u != v)
            return u < v ? -1 : 1;
        if (u < 0)
            return 0;
    }
}

static int jcs__qcmp(const void *a, const void *b)
{
    return ledger_jcs_keycmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- values ------------------------------------------------------------------------ */

static cx_err jcs__value_out(const json_t *v, cx_buf *out, int depth)
{
    if (depth > JCS_MAX_DEPTH)
        return CX_ETOOBIG;
    char num[LEDGER_NUMBER_MAX];
    switch (json_typeof(v)) {
    case JSON_NULL: return cx_buf_append(out, "null", 4);
    case JSON_TRUE: return cx_buf_append(out, "true", 4);
    case JSON_FALSE: return cx_buf_append(out, "false", 5);
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        int len = snprintf(num, sizeof num, "%lld", (long long)i);
        if (i > LEDGER_MAX_SAFE_INT || i < -LEDGER_MAX_SAFE_INT) {
            /* JCS numbers are doubles. Beyond 2^53 an integer keeps its
             * canonical form only if it is already what ECMAScript writes
             * for the nearest double (20000000000000000 is; 9007199254740993
             * is not): anything else would be signed as another value. */
            char as_double[LEDGER_NUMBER_MAX];
            ledger_jcs_number((double)i, as_double);
            if (strcmp(as_double, num) != 0)
                return CX_EINVAL;
        }
        return cx_buf_append(out, num, (size_t)len);
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!isfinite(d))
            return CX_EINVAL;
        /* From 2^63 up to 1e21 ECMAScript writes a double as an integer
         * literal that no 64-bit JSON reader (jansson included) reads back:
         * refuse it here rather than log an entry nobody can verify. */
        if (fabs(d) >= 9223372036854775808.0 && fabs(d) < 1e21)
            return CX_EINVAL;
        size_t len = ledger_jcs_number(d, num);
        return cx_buf_append(out, num, len);
    }
    case JSON_STRING: return jcs__string(out, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        cx_err e = cx_buf_append(out, "[", 1);
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            if (e == CX_OK && i)
                e = cx_buf_append(out, ",", 1);
            if (e == CX_OK)
                e = jcs__value_out(x, out, depth + 1);
        }
        if (e == CX_OK)
            e = cx_buf_append(out, "]", 1);
        return e;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        const char *small[JCS_SMALL_OBJECT];
        const char **keys = n <= JCS_SMALL_OBJECT ? small : malloc(n * sizeof *keys);
        if (!keys)
            return CX_ENOMEM;
        size_t k = 0;
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x) keys[k++] = key;
        qsort(keys, k, sizeof *keys, jcs__qcmp);
        cx_err e = cx_buf_append(out, "{", 1);
        for (size_t i = 0; e == CX_OK && i < k; i++) {
            if (i)
                e = cx_buf_append(out, ",", 1);
            if (e == CX_OK)
                e = jcs__string(out, keys[i], strlen(keys[i]));
            if (e == CX_OK)
                e = cx_buf_append(out, ":", 1);
            if (e == CX_OK)
                e = jcs__value_out(json_object_get(v, keys[i]), out, depth + 1);
        }
        if (e == CX_OK)
            e = cx_buf_append(out, "}", 1);
        if (keys != small)
            free(keys);
        return e;
    }
    }
    return CX_EINVAL;
}

cx_err ledger_jcs(const json_t *v, cx_buf *out)
{
    if (!v)
        return CX_EINVAL;
    return jcs__value_out(v, out, 0);
}

cx_err ledger__jcs_top(const json_t *obj, cx_buf *out, const char *mark, size_t *lo, size_t *hi)
{
    if (!json_is_object(obj))
        return CX_EINVAL;
    size_t n = json_object_size(obj);
    const char *small[JCS_SMALL_OBJECT];
    const char **keys = n <= JCS_SMALL_OBJECT ? small : malloc(n * sizeof *keys);
    if (!keys)
        return CX_ENOMEM;
    size_t k = 0;
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)obj, key, x) keys[k++] = key;
    qsort(keys, k, sizeof *keys, jcs__qcmp);
    *lo = *hi = 0;
    cx_err e = cx_buf_append(out, "{", 1);
    for (size_t i = 0; e == CX_OK && i < k; i++) {
        bool marked = mark && strcmp(keys[i], mark) == 0;
        size_t start = out->len;
        if (i)
            e = cx_buf_append(out, ",", 1);
        if (e == CX_OK)
            e = jcs__string(out, keys[i], strlen(keys[i]));
        if (e == CX_OK)
            e = cx_buf_append(out, ":", 1);
        if (e == CX_OK)
            e = jcs__value_out(json_object_get(obj, keys[i]), out, 1);
        if (marked) {
            /* the member and one separating comma: what is left is the
             * canonical form of the object without the member */
            *lo = start;
            *hi = out->len;
            if (i == 0 && k > 1)
                (*hi)++; /* the comma that the next member will write */
        }
    }
    if (e == CX_OK)
        e = cx_buf_append(out, "}", 1);
    if (keys != small)
        free(keys);
    return e;
}
