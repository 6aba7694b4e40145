/* Exact decimal money: decimals parsed from their text, products in 128-bit
 * integers, rounding half away from zero to a currency's minor unit. */
#include "revenue_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t pow10_i64[19] = {1LL,
                                      10LL,
                                      100LL,
                                      1000LL,
                                      10000LL,
                                      100000LL,
                                      1000000LL,
                                      10000000LL,
                                      100000000LL,
                                      1000000000LL,
                                      10000000000LL,
                                      100000000000LL,
                                      1000000000000LL,
                                      10000000000000LL,
                                      100000000000000LL,
                                      1000000000000000LL,
                                      10000000000000000LL,
                                      100000000000000000LL,
                                      1000000000000000000LL};

static rev_i128 dec__p10(int n)
{
    rev_i128 v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

bool rev_dec_parse(const char *s, size_t n, rev_dec *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') {
        neg = true;
        i++;
    }
    /* JSON's grammar: no leading zeros, no bare '.', digits on both sides */
    if (i >= n || s[i] < '0' || s[i] > '9' || (s[i] == '0' && i + 1 < n && s[i + 1] >= '0' &&
                                               s[i + 1] <= '9'))
        return false;
    int64_t coef = 0;
    int digits = 0, scale = 0;
    bool leading = true;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (leading && s[i] == '0')
            continue;
        leading = false;
        if (++digits > REV_PARSE_DIGITS)
            return false;
        coef = coef * 10 + (s[i] - '0');
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        int zeros = 0; /* trailing zeros seen and not yet applied */
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            scale++;
            if (s[i] == '0') {
                if (leading ? scale > 40 : ++zeros > 40)
                    return false;
                continue;
            }
            leading = false;
            digits += zeros + 1;
            if (digits > REV_PARSE_DIGITS)
                return false;
            for (; zeros; zeros--)
                coef *= 10;
            coef = coef * 10 + (s[i] - '0');
        }
        /* "1.50" keeps its spelling; zeros past what fits carry no value */
        if (digits + zeros <= REV_PARSE_DIGITS && scale <= REV_PARSE_SCALE)
            for (; zeros; zeros--, digits++)
                coef *= 10;
        scale -= zeros;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        int e = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if ((e = e * 10 + (s[i] - '0')) > 400)
                return false;
        scale += eneg ? e : -e;
    }
    if (i != n)
        return false;
    if (coef == 0)
        scale = scale < 0 ? 0 : scale;
    /* trailing zeros beyond REV_PARSE_SCALE carry no value: drop them */
    while (scale > REV_PARSE_SCALE && coef % 10 == 0 && coef != 0) {
        coef /= 10;
        scale--;
    }
    if (coef == 0 && scale > REV_PARSE_SCALE)
        scale = REV_PARSE_SCALE;
    if (scale > REV_PARSE_SCALE)
        return false;
    while (scale < 0) {
        if (++digits > REV_PARSE_DIGITS)
            return false;
        coef *= 10;
        scale++;
    }
    out->coef = neg ? -coef : coef;
    out->scale = scale;
    return true;
}

bool rev_dec_storable(rev_dec d)
{
    int64_t m = d.coef < 0 ? -d.coef : d.coef;
    return d.scale <= REV_MAX_SCALE && m < pow10_i64[REV_MAX_DIGITS];
}

bool rev_dec_from_json(const json_t *j, const char *lexeme, size_t len, rev_dec *out)
{
    if (lexeme)
        return rev_dec_parse(lexeme, len, out);
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (v >= pow10_i64[REV_PARSE_DIGITS] || v <= -pow10_i64[REV_PARSE_DIGITS])
            return false;
        out->coef = (int64_t)v;
        out->scale = 0;
        return true;
    }
    if (!json_is_real(j))
        return false;
    /* strtod gave the nearest double to what was written; a decimal of up to
     * 15 significant digits is the only one of that length that rounds to it */
    char tmp[40];
    double v = json_real_value(j);
    if (!isfinite(v))
        return false;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) /* %g may write 1e+20: parse reads exponents */
            return rev_dec_parse(tmp, strlen(tmp), out);
    }
    return false;
}

void rev_dec_format(rev_dec d, char out[32])
{
    char digits[24];
    uint64_t mag = d.coef < 0 ? (uint64_t)(-(d.coef + 1)) + 1 : (uint64_t)d.coef;
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
    char *o = out;
    if (d.coef < 0)
        *o++ = '-';
    if (d.scale == 0) {
        memcpy(o, digits, (size_t)n + 1);
        return;
    }
    if (n <= d.scale) {
        *o++ = '0';
        *o++ = '.';
        for (int k = 0; k < d.scale - n; k++)
            *o++ = '0';
        memcpy(o, digits, (size_t)n + 1);
        return;
    }
    memcpy(o, digits, (size_t)(n - d.scale));
    o += n - d.scale;
    *o++ = '.';
    memcpy(o, digits + n - d.scale, (size_t)d.scale + 1);
}

json_t *rev_dec_json(rev_dec d)
{
    if (d.coef % pow10_i64[d.scale] == 0)
        return json_integer(d.coef / pow10_i64[d.scale]);
    char t[32];
    rev_dec_format(d, t);
    /* at most 15 significant digits: the shortest spelling of this double
     * is t again when cx_json_dump writes it */
    return json_real(strtod(t, NULL));
}

int rev_dec_cmp(rev_dec a, rev_dec b)
{
    rev_i128 x = (rev_i128)a.coef * dec__p10(REV_PARSE_SCALE - a.scale);
    rev_i128 y = (rev_i128)b.coef * dec__p10(REV_PARSE_SCALE - b.scale);
    return (x > y) - (x < y);
}

bool rev_dec_is_zero(rev_dec d)
{
    return d.coef == 0;
}

/* ---- exact intermediates ---------------------------------------------------------- */

/* v / 10^scale as an intermediate. Digits beyond scale 18 are cut toward
 * zero: that never moves a value across a half of any minor unit (at most
 * 10^-4), so rounding half away from zero afterwards is still exact. */
static rev_x x__make(rev_i128 v, int scale)
{
    rev_x x = {0, false};
    if (scale > REV_X_SCALE) {
        v /= dec__p10(scale - REV_X_SCALE);
        scale = REV_X_SCALE;
    }
    rev_i128 limit = (rev_i128)REV_AMOUNT_MAX * dec__p10(scale); /* in whole units, exp 0 */
    rev_i128 mag = v < 0 ? -v : v;
    if (mag >= limit) {
        x.over = true;
        return x;
    }
    x.v = v * dec__p10(REV_X_SCALE - scale);
    return x;
}

rev_x rev_x_mul(rev_dec a, rev_dec b)
{
    return x__make((rev_i128)a.coef * b.coef, a.scale + b.scale);
}

rev_x rev_x_pct(int64_t amount, int exp, rev_dec pct)
{
    return x__make((rev_i128)amount * pct.coef, exp + pct.scale + 2);
}

rev_x rev_x_amount(int64_t amount, int exp)
{
    return x__make(amount, exp);
}

rev_x rev_x_add(rev_x a, rev_x b)
{
    rev_x x = {a.v + b.v, a.over || b.over};
    return x;
}

int rev_x_cmp(rev_x a, rev_x b)
{
    if (a.over || b.over)
        return (int)a.over - (int)b.over;
    return (a.v > b.v) - (a.v < b.v);
}

static cx_err x__round(rev_i128 v, int from, int to, int64_t *out)
{
    if (from > to) {
        rev_i128 d = dec__p10(from - to);
        rev_i128 q = v / d, r = v % d;
        if (r < 0)
            r = -r;
        if (r * 2 >= d)
            q += v < 0 ? -1 : 1;
        v = q;
    } else {
        v *= dec__p10(to - from);
    }
    rev_i128 mag = v < 0 ? -v : v;
    if (mag >= (rev_i128)REV_AMOUNT_MAX)
        return CX_ETOOBIG;
    *out = (int64_t)v;
    return CX_OK;
}

cx_err rev_x_round(rev_x x, int exp, int64_t *out)
{
    if (x.over)
        return CX_ETOOBIG;
    return x__round(x.v, REV_X_SCALE, exp, out);
}

cx_err rev_mul(rev_dec a, rev_dec b, int exp, int64_t *out)
{
    return rev_x_round(rev_x_mul(a, b), exp, out);
}

cx_err rev_pct(int64_t amount, rev_dec pct, int64_t *out)
{
    /* the amount's exponent cancels out: round at scale pct.scale + 2 */
    return x__round((rev_i128)amount * pct.coef, pct.scale + 2, 0, out);
}

rev_dec rev_amount_dec(int64_t amount, int exp)
{
    rev_dec d = {amount, exp};
    return d;
}

json_t *rev_amount_json(int64_t amount, int exp)
{
    return rev_dec_json(rev_amount_dec(amount, exp));
}

void rev_amount_format(int64_t amount, int exp, bool grouped, char out[40])
{
    char plain[32];
    rev_dec_format(rev_amount_dec(amount, exp), plain);
    if (!grouped) {
        snprintf(out, 40, "%s", plain);
        return;
    }
    const char *p = plain;
    char *o = out;
    if (*p == '-')
        *o++ = *p++;
    size_t ints = strcspn(p, ".");
    for (size_t i = 0; i < ints; i++) {
        if (i && (ints - i) % 3 == 0)
            *o++ = ',';
        *o++ = p[i];
    }
    snprintf(o, 40 - (size_t)(o - out), "%s", p + ints);
}

void rev_hs_dotted(const char *hs, char out[16])
{
    size_t n = strlen(hs), k = 0;
    for (size_t i = 0; i < n && i < REV_HS_MAX; i++) {
        if (i >= 4 && i % 2 == 0)
            out[k++] = '.';
        out[k++] = hs[i];
    }
    out[k] = '\0';
}

int64_t rev_release_shortfall(int64_t total, int64_t paid, int64_t refunded, int64_t guaranteed)
{
    int64_t covered = paid - refunded + guaranteed;
    return total > covered ? total - covered : 0;
}
