/*
 * app.h — the command line: one binary, many subcommands. The app wires the
 * modules together; modules never include this header.
 */
#ifndef CUSTOMS_APP_H
#define CUSTOMS_APP_H

#include "core.h"
#include "store.h"

#include <getopt.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} app_command;

/* Opens the database and runs every module's migrations. */
cx_err app_open_store(const char *path, store **out, char *err, size_t errlen);

/* Prints "customs CMD: message" and a pointer to --help; returns 2. */
int app_usage(const char *cmd, const char *fmt, ...) CX_PRINTF(2, 3);
/* Prints "customs CMD: message"; returns 1. */
int app_fail(const char *cmd, const char *fmt, ...) CX_PRINTF(2, 3);

/* Resets getopt and parses; returns the getopt_long result. */
void app_getopt_reset(void);

int app_cmd_serve(int argc, char **argv);
int app_cmd_keys(int argc, char **argv);
int app_cmd_import(int argc, char **argv);
/* risk (issue 3) */
int app_cmd_risk(int argc, char **argv);
int app_cmd_hs(int argc, char **argv);
/* ledger (issue 4) */
int app_cmd_keygen(int argc, char **argv);
int app_cmd_ledger(int argc, char **argv);
int app_cmd_track(int argc, char **argv);
/* revenue (issue 15) */
int app_cmd_tariff(int argc, char **argv);
int app_cmd_rates(int argc, char **argv);

#endif
