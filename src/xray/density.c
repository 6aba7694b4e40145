/* Declared goods against the image: the bulk density of goods as stowed,
 * by HS chapter (data/xray/hs-density.csv, read once). */
#include "xray_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char chapter[3];
    double lo, hi;
} density__row;

static density__row rows[100];
static size_t nrows;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static bool density__row_fn(void *ctx, char **f, size_t n, uint64_t line, uint64_t offset)
{
    (void)ctx;
    (void)offset;
    double lo, hi;
    if (line == 1 || n < 3 || strlen(f[0]) != 2 || !cx_parse_double(f[1], &lo) ||
        !cx_parse_double(f[2], &hi) || !(lo > 0 && hi >= lo) || nrows == 100)
        return true; /* the header, or a line that is not a range */
    memcpy(rows[nrows].chapter, f[0], 3);
    rows[nrows].lo = lo;
    rows[nrows].hi = hi;
    nrows++;
    return true;
}

static void density__load(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/xray/hs-density.csv", cx_data_dir());
    FILE *f = fopen(path, "r");
    if (!f) {
        cx_log(CX_LOG_WARN, "xray: %s is missing: no density check by HS chapter", path);
        return;
    }
    uint64_t line;
    cx_csv_read(f, 256, density__row_fn, NULL, &line);
    fclose(f);
}

bool xray__density_range(const char *chapter, double *lo, double *hi)
{
    pthread_once(&once, density__load);
    for (size_t i = 0; i < nrows; i++)
        if (strncmp(rows[i].chapter, chapter, 2) == 0) {
            *lo = rows[i].lo;
            *hi = rows[i].hi;
            return true;
        }
    return false;
}
