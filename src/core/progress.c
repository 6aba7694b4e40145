#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cx_progress {
    char label[32];
    char unit[16];
    uint64_t total;
    int64_t start_us;
    int64_t last_draw_us;
    bool tty;
};

cx_progress *cx_progress_new(const char *label, uint64_t total, const char *unit)
{
    cx_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "rows");
    p->total = total;
    p->start_us = cx_mono_us();
    p->tty = isatty(STDERR_FILENO) && !getenv("CUSTOMS_NO_PROGRESS");
    return p;
}

static void progress__draw(cx_progress *p, uint64_t done, uint64_t items, int64_t now)
{
    double secs = (double)(now - p->start_us) / 1e6;
    double rate = secs > 0 ? (double)items / secs : 0;
    char bar[31];
    double frac = p->total ? (double)done / (double)p->total : 0;
    if (frac > 1)
        frac = 1;
    int fill = (int)(frac * 30);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(30 - fill));
    bar[30] = '\0';
    char eta[32] = "--:--";
    if (frac > 0.001 && secs > 0) {
        double left = secs / frac - secs;
        snprintf(eta, sizeof eta, "%02d:%02d", (int)(left / 60), (int)left % 60);
    }
    fprintf(stderr, "\r%s [%s] %5.1f%% %llu %s  %.0f %s/s  ETA %s ", p->label, bar, frac * 100,
            (unsigned long long)items, p->unit, rate, p->unit, eta);
    fflush(stderr);
}

void cx_progress_set(cx_progress *p, uint64_t done, uint64_t items)
{
    if (!p || !p->tty)
        return;
    int64_t now = cx_mono_us();
    if (now - p->last_draw_us < 100000 && done < p->total)
        return;
    p->last_draw_us = now;
    progress__draw(p, done, items, now);
}

void cx_progress_free(cx_progress *p)
{
    if (!p)
        return;
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    free(p);
}
