#include "core.h"

#include <stdio.h>
#include <string.h>

static bool time__digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool time__leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int time__month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && time__leap(y) ? 29 : days[m - 1];
}

static bool time__ymd(const char *s, int *y, int *m, int *d)
{
    if (!time__digits(s, 4, y) || s[4] != '-' || !time__digits(s + 5, 2, m) || s[7] != '-' ||
        !time__digits(s + 8, 2, d))
        return false;
    return *y >= 1 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= time__month_days(*y, *m);
}

bool cx_date_parse(const char *s, int *y, int *m, int *d)
{
    int yy, mm, dd;
    if (!s || strlen(s) != 10 || !time__ymd(s, &yy, &mm, &dd))
        return false;
    if (y)
        *y = yy;
    if (m)
        *m = mm;
    if (d)
        *d = dd;
    return true;
}

/* Civil-from-days and days-from-civil on 400-year eras (proleptic Gregorian). */
int64_t cx_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cx_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int dd = (int)(doy - (153 * mp + 2) / 5 + 1);
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *m = mm;
    *d = dd;
}

cx_err cx_rfc3339_parse(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20 || !time__ymd(s, &y, &mo, &d))
        return CX_EPARSE;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return CX_EPARSE;
    if (!time__digits(s + 11, 2, &h) || s[13] != ':' || !time__digits(s + 14, 2, &mi) ||
        s[16] != ':' || !time__digits(s + 17, 2, &se))
        return CX_EPARSE;
    /* 60 admits a leap second, folded onto the next second. */
    if (h > 23 || mi > 59 || se > 60)
        return CX_EPARSE;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        int64_t scale = 100000;
        while (*p >= '0' && *p <= '9') {
            if (n < 6) {
                frac_us += (*p - '0') * scale;
                scale /= 10;
            }
            n++;
            p++;
        }
        if (n == 0 || n > 9)
            return CX_EPARSE;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!time__digits(p + 1, 2, &oh) || p[3] != ':' || !time__digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return CX_EPARSE;
        off_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return CX_EPARSE;
    }
    if (*p)
        return CX_EPARSE;
    int64_t secs = cx_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_s;
    *out = secs * 1000000 + frac_us;
    return CX_OK;
}

void cx_rfc3339_format(int64_t us, char out[32])
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t rem_us = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int y, m, d;
    cx_civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, (int)(sod / 3600),
             (int)(sod % 3600 / 60), (int)(sod % 60), (int)(rem_us / 1000));
}
