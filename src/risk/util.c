/* Small helpers of the risk module: a string arena (bump allocation for
 * the training cases' strings), thread counts and dates. */
#include "risk_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct risk_arena_block {
    risk_arena_block *next;
    size_t cap;
    char data[];
};

#define ARENA_BLOCK 65536

void risk__arena_init(risk_arena *a)
{
    memset(a, 0, sizeof *a);
}

void risk__arena_free(risk_arena *a)
{
    risk_arena_block *b = a->head;
    while (b) {
        risk_arena_block *n = b->next;
        free(b);
        b = n;
    }
    memset(a, 0, sizeof *a);
}

void risk__arena_reset(risk_arena *a)
{
    if (!a->head)
        return;
    risk_arena_block *b = a->head->next;
    while (b) {
        risk_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head->next = NULL;
    a->used = 0;
    a->cap = a->head->cap;
}

char *risk__arena_strndup(risk_arena *a, const char *s, size_t n)
{
    if (!a->head || a->used + n + 1 > a->cap) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        risk_arena_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        /* The new block becomes the head; older full blocks stay chained. */
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->cap = cap;
    }
    char *p = a->head->data + a->used;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    a->used += n + 1;
    return p;
}

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
