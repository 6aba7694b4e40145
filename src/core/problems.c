/* API problem details: one {"path", "message"} shape for every module. */
#include "core.h"

#include <jansson.h>
#include <stdio.h>

json_t *cx_problem_addv(json_t *problems, const char *path, const char *fmt, va_list ap)
{
    if (!problems)
        return NULL;
    char msg[256];
    int len = vsnprintf(msg, sizeof msg, fmt, ap);
    /* A cut inside a multi-byte character would make the message invalid
     * UTF-8 and json_pack would drop the problem: keep whole characters. */
    if (len >= (int)sizeof msg)
        msg[cx_utf8_cut(msg, sizeof msg - 1)] = '\0';
    json_t *p = json_pack("{s:s,s:s}", "path", path, "message", msg);
    if (json_array_append_new(problems, p) != 0)
        return NULL;
    return p;
}

json_t *cx_problem_add(json_t *problems, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *p = cx_problem_addv(problems, path, fmt, ap);
    va_end(ap);
    return p;
}

void cx_problems_add(cx_problems *p, const char *path, const char *fmt, ...)
{
    p->count++;
    if (p->count > p->max)
        return;
    if (p->note && p->count == p->max) {
        cx_problem_add(p->list, path, "too many problems; the first %zu are listed", p->max - 1);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    cx_problem_addv(p->list, path, fmt, ap);
    va_end(ap);
}
