/* Small helpers of the risk module: thread counts and dates. */
#include "risk_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int risk__default_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    double load = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1)
            load = 0;
        fclose(f);
    }
    long idle = cpus - (long)(load + 0.5);
    return (int)(idle < 1 ? 1 : idle > cpus ? cpus : idle);
}

bool risk__day(const char *s, int32_t *day)
{
    int y, mo, d;
    if (!s || !cx_date_parse(s, &y, &mo, &d))
        return false;
    *day = (int32_t)cx_days_from_civil(y, mo, d);
    return true;
}

void risk__day_format(int32_t day, char out[11])
{
    int y, m, d;
    cx_civil_from_days(day, &y, &m, &d);
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}
