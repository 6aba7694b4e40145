#include "core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static _Atomic int min_level = CX_LOG_INFO;

void cx_log_set_level(cx_log_level lvl)
{
    atomic_store(&min_level, (int)lvl);
}

void cx_log(cx_log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if ((int)lvl < atomic_load(&min_level))
        return;
    char line[2048];
    char ts[32];
    cx_rfc3339_format(cx_now_us(), ts);
    int n = snprintf(line, sizeof line, "%s %s ", ts, names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* One write per line keeps lines whole when threads log at once. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
