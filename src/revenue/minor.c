/* ISO 4217 minor units, from data/revenue/iso4217-minor-units.csv: iso-codes
 * carries currency codes but no exponents. */
#include "revenue_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINOR_MAX 400

typedef struct {
    char code[4];
    int8_t exp; /* -1: none */
} minor_row;

static pthread_mutex_t minor_mu = PTHREAD_MUTEX_INITIALIZER;
static minor_row minor_rows[MINOR_MAX];
static size_t minor_n;
static atomic_bool minor_loaded;
static cx_err minor_result = CX_OK;

typedef struct {
    bool header;
    char *err;
    size_t errlen;
    bool bad;
} minor_ctx;

static bool minor__row(void *ctx, char **f, size_t n, uint64_t line, uint64_t offset)
{
    minor_ctx *m = ctx;
    (void)offset;
    if (!m->header) {
        m->header = true;
        if (n < 2 || strcmp(f[0], "code") != 0 || strcmp(f[1], "minor_unit") != 0) {
            snprintf(m->err, m->errlen, "line 1: expected the columns code,minor_unit");
            m->bad = true;
            return false;
        }
        return true;
    }
    int64_t e = -1;
    bool ok = n >= 2 && strlen(f[0]) == 3 && minor_n < MINOR_MAX;
    if (ok && strcmp(f[1], "N.A.") != 0)
        ok = cx_parse_i64(f[1], &e) && e >= 0 && e <= 4;
    if (!ok) {
        snprintf(m->err, m->errlen, "line %llu: expected a 3-letter code and a minor unit of "
                                    "0 to 4 or N.A.",
                 (unsigned long long)line);
        m->bad = true;
        return false;
    }
    memcpy(minor_rows[minor_n].code, f[0], 4);
    minor_rows[minor_n++].exp = (int8_t)e;
    return true;
}

static int minor__cmp(const void *a, const void *b)
{
    return strcmp(((const minor_row *)a)->code, ((const minor_row *)b)->code);
}

cx_err rev_minor_load(const char *data_dir, char *err, size_t errlen)
{
    pthread_mutex_lock(&minor_mu);
    if (atomic_load(&minor_loaded)) {
        cx_err e = minor_result;
        if (e != CX_OK)
            snprintf(err, errlen, "the ISO 4217 minor-unit table did not load");
        pthread_mutex_unlock(&minor_mu);
        return e;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/revenue/iso4217-minor-units.csv",
             data_dir ? data_dir : cx_data_dir());
    cx_err e = CX_OK;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        e = CX_EIO;
    } else {
        minor_ctx m = {.err = err, .errlen = errlen};
        uint64_t line = 0;
        e = cx_csv_read(f, 256, minor__row, &m, &line);
        fclose(f);
        if (e != CX_OK && !m.bad)
            snprintf(err, errlen, "%s:%llu: not CSV", path, (unsigned long long)line);
        if (m.bad)
            e = CX_EPARSE;
        qsort(minor_rows, minor_n, sizeof *minor_rows, minor__cmp);
    }
    minor_result = e;
    if (e != CX_OK)
        minor_n = 0;
    atomic_store(&minor_loaded, true);
    pthread_mutex_unlock(&minor_mu);
    return e;
}

int rev_minor_unit(const char *currency)
{
    if (!currency)
        return -1;
    char err[256];
    if (!atomic_load(&minor_loaded) && rev_minor_load(NULL, err, sizeof err) != CX_OK) {
        cx_log(CX_LOG_ERROR, "revenue: %s", err);
        return -1;
    }
    /* the table never changes once loaded: each thread keeps its last
     * answer (the national currency, asked on every assessment) */
    static _Thread_local minor_row last;
    if (last.code[0] && strcmp(currency, last.code) == 0)
        return last.exp;
    minor_row key = {{0}, 0};
    snprintf(key.code, sizeof key.code, "%s", currency);
    const minor_row *r = bsearch(&key, minor_rows, minor_n, sizeof *minor_rows, minor__cmp);
    key.exp = (int8_t)(r ? r->exp : -1);
    last = key;
    return key.exp;
}
