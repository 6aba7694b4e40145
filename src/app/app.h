/*
 * app.h — the command line: one binary, many subcommands. The app wires the
 * modules together; modules never include this header.
 */
#ifndef CUSTOMS_APP_H
#define CUSTOMS_APP_H

#include "core.h"
#include "http.h"
#include "risk.h"
#include "store.h"
#include "track.h"

#include <getopt.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} app_command;

/* Opens the database and runs every module's migrations. */
cx_err app_open_store(const char *path, store **out, char *err, size_t errlen);

/* ---- the services of `customs serve` (services.c) -----------------------------
 * One place starts and stops them, in one order. Start, in the order of the
 * table in services.c: open the store (every migration), bind the HTTP
 * server, start each service (start), add every route (routes, then the
 * console's catch-all last), start the server, then let each service take
 * input (open: MQTT). Stop, on every path (a signal, or a start that failed
 * half way): stop accepting (HTTP drain), stop each service's threads and
 * inputs in reverse order (stop), drain the writer (every queued job done),
 * free the HTTP server, free each service in reverse order (free), close the
 * store. A service may look up any service started before it with
 * app_service().
 *
 * Adding a module is a few lines in services.c: its options in app_config
 * if it has any, and a row
 *   {"revenue", revenue__start, revenue__routes, NULL, revenue__stop, revenue__free},
 * with a start that creates it from what it needs:
 *   static cx_err revenue__start(app_services *a, void **self, char *err, size_t errlen)
 *   {
 *       return revenue_service_new(app_services_store(a), app_service(a, "declare"),
 *                                  app_service(a, "alert"), (revenue_service **)self,
 *                                  err, errlen);
 *   }
 * Each callback but start may be NULL. */
typedef struct {
    const char *db;
    http_config http;        /* listen, TLS, threads, quiet */
    const char *web_dir;     /* NULL: web_default_dir() */
    risk_policy risk;        /* lanes */
    track_config track;      /* tracking thresholds */
    const char *mqtt, *mqtt_client_id; /* telemetry broker; NULL: none */
} app_config;

typedef struct app_services app_services;

typedef struct {
    const char *name;
    cx_err (*start)(app_services *a, void **self, char *err, size_t errlen);
    cx_err (*routes)(void *self, http_server *srv);
    cx_err (*open)(void *self, const app_config *cfg, char *err, size_t errlen);
    void (*stop)(void *self);
    void (*free)(void *self);
} app_service_def;

/* Starts everything (above); on failure everything started is stopped
 * again and err says what failed. cfg is borrowed until app_services_stop. */
cx_err app_services_start(const app_config *cfg, app_services **out, char *err, size_t errlen);
/* The reverse stop (above) and free; NULL is a no-op. */
void app_services_stop(app_services *a);
/* A started service by name ("declare", "alert", "risk", "ledger", "track"),
 * or NULL. */
void *app_service(app_services *a, const char *name);
store *app_services_store(app_services *a);
http_server *app_services_http(app_services *a);
const app_config *app_services_config(app_services *a);

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

#endif
