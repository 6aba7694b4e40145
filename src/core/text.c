#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int cx_split(const char *s, char sep, char *buf, size_t cap, const char **items, int max)
{
    size_t len = strlen(s);
    if (len >= cap)
        return -1;
    memcpy(buf, s, len + 1);
    int n = 0;
    for (char *p = buf;; p++) {
        char *end = strchr(p, sep);
        if (end)
            *end = '\0';
        if (!*p || n == max)
            return -1;
        items[n++] = p;
        if (!end)
            return n;
        p = end;
    }
}

size_t cx_utf8_cut(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t start = n;
    while (start > 0 && (s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0 || !(s[start - 1] & 0x80))
        return n;
    unsigned char lead = s[start - 1];
    size_t want = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    return n - (start - 1) < want ? start - 1 : n;
}

bool cx_utf8_count(const char *str, size_t n, size_t *count)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, c = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            c++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Reject overlong forms, surrogates and values past U+10FFFF. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
        c++;
    }
    if (count)
        *count = c;
    return true;
}

bool cx_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || s[0] == ' ' || s[0] == '+')
        return false;
    *out = v;
    return true;
}

bool cx_parse_double(const char *s, double *out)
{
    if (!s || !*s || s[0] == ' ' || s[0] == '+')
        return false;
    /* Only plain decimal notation: strtod would also take hex, inf and nan. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789.-eE+", *p))
            return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || end == s || !isfinite(v))
        return false;
    *out = v;
    return true;
}

void cx_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int text__nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool cx_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = text__nibble(hex[2 * i]), lo = text__nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}
