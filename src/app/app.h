/*
 * app.h — the command line: one binary, many subcommands. The app wires the
 * modules together; modules never include this header.
 */
#ifndef CUSTOMS_APP_H
#define CUSTOMS_APP_H

#include "alert.h"
#include "core.h"
#include "http.h"
#include "inspect.h"
#include "ledger.h"
#include "risk.h"
#include "store.h"
#include "track.h"
#include "drones.h"

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
    http_config http;        /* listen, TLS, threads, quiet; the edge's limits and timeouts */
    const char *web_dir;     /* NULL: web_default_dir() */
    risk_policy risk;        /* lanes */
    track_config track;      /* tracking thresholds */
    drones_config drones;    /* drone rule thresholds */
    const char *drone_zones; /* GeoJSON FeatureCollection added to the zones at start */
    inspect_config inspect;  /* inspection: session frame retention */
    const char *mqtt, *mqtt_client_id; /* telemetry broker; NULL: none */
    /* the ledger as a node of a network (docs/ledger.md, "Network") */
    const char *ledger_node_key;       /* this node's key file: endorses, cosigns; NULL */
    const char *ledger_org;            /* this node's organisation */
    const char *ledger_network;        /* nats:// URLs; NULL: the embedded ledger */
    const char *ledger_origin, *ledger_trust, *ledger_snapshot;
    int ledger_replicas;
    ledger_nats_auth ledger_nats;      /* TLS and credentials for the NATS cluster */
    const char *currency;    /* national currency (revenue); NULL: the database's */
    const char *bio_key;     /* biometrics' master key file; NULL: /v1/biometrics answers 503 */
    int64_t bio_verify_window_s; /* the verification gate's window (0: 12 hours) */
    bool routes_only;        /* set up the routes but neither start the server nor
                              * open inputs (serve --list-routes) */
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
/* A started service by name ("declare", "alert", "risk", "ledger", "track", "bio"),
 * or NULL. */
void *app_service(app_services *a, const char *name);
store *app_services_store(app_services *a);
http_server *app_services_http(app_services *a);
const app_config *app_services_config(app_services *a);

/* Prints "customs CMD: message" and a pointer to --help; returns 2. */
int app_usage(const char *cmd, const char *fmt, ...) CX_PRINTF(2, 3);
/* Prints "customs CMD: message"; returns 1. */
int app_fail(const char *cmd, const char *fmt, ...) CX_PRINTF(2, 3);

/* Resets getopt for a new parse (call before the first app_getopt). */
void app_getopt_reset(void);

/* ---- demo and simulator: command-line tools, not library code ------------------- */
/* The ledger demo (ledger_demo.c). */
/* Seeds the demo consortium and a realistic flow on an empty ledger; key
 * files (mode 0600) go to keys_dir. Organisation names default to KCS, ACME,
 * SAIGON-TEXTILE, OCEANIC, HANSEONG-BANK and VCCI-HCM; up to three
 * declarations the importer lodged before the demo are anchored too.
 * Prints a summary to out. CX_EEXIST if the ledger is not empty. */
#define APP_LEDGER_DEMO_ORIGIN "ledger.customs.example/demo"
typedef struct {
    const char *keys_dir;
    const char *customs, *importer, *exporter, *carrier, *bank, *chamber; /* NULL: default */
} app_ledger_demo_opts;
cx_err app_ledger_demo(ledger *lg, decl_service *decl, const app_ledger_demo_opts *o, FILE *out,
                       char *err, size_t errlen);

/* The ledger as a node of a network (ledger_node.c): loads the node's key
 * (it endorses anchors of declarations held here and cosigns), and with a
 * network the trust file, then joins the cluster (ledger_net_start). node:
 * a serving node (cosigns every second, publishes its status). */
typedef struct {
    const char *node_key, *org, *network, *origin, *trust, *snapshot;
    int replicas;
    bool node;
    bool create;     /* create the ledger's streams if missing */
    int64_t wait_ms; /* 0: ledger_net_start's default */
    ledger_nats_auth nats; /* TLS and credentials for the NATS cluster */
} app_ledger_net_opts;
cx_err app_ledger_join(ledger *lg, const app_ledger_net_opts *o, alert_service *alerts, char *err,
                       size_t errlen);
/* The NATS security options of every command that joins a ledger network
 * (ledger_node.c): APP_NATS_OPTIONS goes into its getopt table,
 * APP_NATS_NAMES into its actions' option lists, app_nats_help into its
 * --help, and each option app_getopt returns to app_nats_opt. */
enum {
    APP_NATS_CA = 0x300, APP_NATS_CERT, APP_NATS_KEY, APP_NATS_CREDS, APP_NATS_USER,
    APP_NATS_PASSWORD, APP_NATS_TOKEN
};
#define APP_NATS_OPTIONS                                                                       \
    {"nats-ca", required_argument, NULL, APP_NATS_CA},                                         \
        {"nats-cert", required_argument, NULL, APP_NATS_CERT},                                 \
        {"nats-key", required_argument, NULL, APP_NATS_KEY},                                   \
        {"nats-creds", required_argument, NULL, APP_NATS_CREDS},                               \
        {"nats-user", required_argument, NULL, APP_NATS_USER},                                 \
        {"nats-password-file", required_argument, NULL, APP_NATS_PASSWORD},                    \
        {"nats-token-file", required_argument, NULL, APP_NATS_TOKEN}
#define APP_NATS_NAMES                                                                         \
    " nats-ca nats-cert nats-key nats-creds nats-user nats-password-file nats-token-file"
extern const char app_nats_help[];
/* Takes option c with its value into a; false when c is no NATS option. */
bool app_nats_opt(int c, const char *arg, ledger_nats_auth *a);
/* Whether any NATS security option is set. */
bool app_nats_any(const ledger_nats_auth *a);
/* The same from customs serve's configuration. */
cx_err app_ledger_node(ledger *lg, const app_config *cfg, alert_service *alerts, char *err,
                       size_t errlen);

/* The tracking simulator (track_sim.c): telemetry over MQTT, HTTP or into a file. */
typedef struct {
    const char *mqtt_url;  /* publish here, or */
    const char *http_url;  /* POST /v1/telemetry here (base URL), or */
    const char *out_path;  /* write JSON lines here ("-" = stdout) */
    const char *api_url;   /* for --register (defaults to http_url) */
    const char *token;     /* bearer token for the API */
    const char *cacert;    /* PEM CA file trusted for https URLs (NULL: the system's) */
    const char *scenario;  /* JSON scenario file; NULL = built-in journeys */
    const char *data_dir;  /* routes and zones (default cx_data_dir()/track) */
    unsigned devices;
    double rate;        /* messages per second in total; 0 = as fast as possible */
    uint64_t seed;
    double time_scale;  /* event seconds per wall second (1 = live) */
    int64_t start_ms;   /* event time of the first report; 0 = now */
    double duration_s;  /* stop after; 0 = no limit */
    uint64_t count;     /* stop after this many messages; 0 = no limit */
    double anomalies;   /* fraction of devices with an injected anomaly */
    bool register_all;  /* create zones, devices and consignments first */
    bool quiet;
    unsigned connections; /* MQTT connections to spread devices over */
    unsigned extra_zones; /* checkpoint zones added along the routes */
    bool live_clock;      /* stamp the wall clock at publish (not reproducible) */
    const char *anomaly_kinds; /* comma list limiting injected anomalies */
    double anomaly_period_s;   /* seal_cycle period */
    const char *client_prefix;
    const char *decl_ref_prefix; /* link consignments to these declarations (demo) */
} app_sim_opts;
void app_sim_defaults(app_sim_opts *o);
/* Returns a process exit code; reports on stderr. */
int app_track_simulate(const app_sim_opts *o);

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
/* The start of a command with actions ("customs CMD ACTION …"): without an
 * action, help goes to stderr (returns 2); --help or -h prints it to stdout
 * (returns 0); otherwise -1: go on with argv[1]. */
int app_action_help(int argc, char **argv, const char *help);

int app_cmd_serve(int argc, char **argv);
int app_cmd_keys(int argc, char **argv);
int app_cmd_import(int argc, char **argv);
/* risk (issue 3) */
int app_cmd_risk(int argc, char **argv);
int app_cmd_hs(int argc, char **argv);
/* ledger (issue 4) */
int app_cmd_keygen(int argc, char **argv);
int app_cmd_ledger(int argc, char **argv);
/* customs ledger network status, customs ledger snapshot (cmd_ledger_net.c) */
int app_cmd_ledger_net(int argc, char **argv);
int app_cmd_track(int argc, char **argv);
/* drones (issue 10) */
int app_cmd_drones(int argc, char **argv);
/* designs (issue 14) */
int app_cmd_designs(int argc, char **argv);
/* xray (issue 12) */
int app_cmd_xray(int argc, char **argv);
/* inspection training (issue 13) */
int app_cmd_training(int argc, char **argv);
/* revenue (issue 15) */
int app_cmd_tariff(int argc, char **argv);
int app_cmd_rates(int argc, char **argv);
/* biometrics (issue 11) */
int app_cmd_bio(int argc, char **argv);

#endif
