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

/* Resets getopt for a new parse (call before the first app_getopt). */
void app_getopt_reset(void);

/* getopt_long for every command: long options only, each written in full
 * (glibc would take `--port` for `--port-file`). Abbreviated, unknown and
 * incomplete options, and options not in only (a space-separated list of
 * option names; NULL = all of opts; --help always passes), are refused: the
 * error names the option and lists the valid ones on stderr, and '?' is
 * returned (the caller exits 2). Otherwise returns like getopt_long: the
 * option's val (optarg set), or -1 after the last option. cmd names the
 * command in messages, e.g. "track simulate". */
int app_getopt(int argc, char **argv, const struct option *opts, const char *only,
               const char *cmd);

/* Actions of a command and the options each takes (space-separated names). */
typedef struct {
    const char *name;
    const char *options;
} app_action;
/* The options of action in a table ending with {NULL, NULL}, NULL if the
 * action is not in it; writes "cmd action" into name (for app_getopt). */
const char *app_action_options(const app_action *actions, const char *cmd, const char *action,
                               char *name, size_t cap);

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

#endif
