#include "app.h"

#include "alert.h"
#include "auth.h"
#include "declare.h"
#include "inspect.h"
#include "risk.h"
#include "ledger.h"
#include "track.h"
#include "drones.h"
#include "designs.h"
#include "xray.h"
#include "revenue.h"
#include "bio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cx_err app_open_store(const char *path, store **out, char *err, size_t errlen)
{
    store *s = NULL;
    cx_err e = store_open(path, &s, err, errlen);
    if (e == CX_OK)
        e = auth_migrate(s, err, errlen);
    if (e == CX_OK)
        e = decl_migrate(s, err, errlen);
    if (e == CX_OK)
        e = risk_migrate(s, err, errlen);
    if (e == CX_OK)
        e = ledger_migrate(s, err, errlen);
    if (e == CX_OK)
        e = alert_migrate(s, err, errlen);
    if (e == CX_OK)
        e = track_migrate(s, err, errlen);
    if (e == CX_OK)
        e = drones_migrate(s, err, errlen);
    if (e == CX_OK)
        e = designs_migrate(s, err, errlen);
    if (e == CX_OK)
        e = xray_migrate(s, err, errlen);
    if (e == CX_OK)
        e = inspect_migrate(s, err, errlen);
    if (e == CX_OK)
        e = rev_migrate(s, err, errlen);
    if (e == CX_OK)
        e = bio_migrate(s, err, errlen);
    if (e != CX_OK) {
        store_free(s);
        return e;
    }
    *out = s;
    return CX_OK;
}

int app_usage(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "customs %s: %s\nTry 'customs %s --help'.\n", cmd, msg, cmd);
    return 2;
}

int app_fail(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "customs %s: %s\n", cmd, msg);
    return 1;
}

void app_getopt_reset(void)
{
    optind = 0; /* glibc: full reinitialisation */
    opterr = 0;
}
