/* customs serve: the HTTP API. */
#include "app.h"

#include "declare.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage: customs serve --db PATH [--listen HOST:PORT] [--tls-cert F --tls-key F]\n"
    "                     [--threads N] [--port-file F] [--access-log]\n"
    "                     [--inspect-rate P] [--yellow-rate P] [--explore-rate P]\n"
    "                     [--mqtt mqtt://HOST:PORT] [--mqtt-client-id ID] [--track-config F]\n"
    "\n"
    "Serves the /v1 API. SIGTERM or SIGINT stops accepting, lets requests in\n"
    "flight finish, flushes pending commits and exits 0.\n"
    "\n"
    "Options:\n"
    "  --db PATH          SQLite database file (created and migrated if needed)\n"
    "  --listen HOST:PORT address to listen on (default 127.0.0.1:8080; port 0 = any)\n"
    "  --tls-cert FILE    PEM certificate; with --tls-key serves HTTPS\n"
    "  --tls-key FILE     PEM private key\n"
    "  --threads N        connection threads, one per simultaneous connection\n"
    "                     (default 1024; more clients wait to be accepted)\n"
    "  --port-file FILE   write the port actually bound (useful with port 0)\n"
    "  --access-log       log every request (method, path, status, time, org) on\n"
    "                     stderr; off by default\n"
    "  --quiet            no access log (the default; kept for scripts)\n"
    "  --web-dir DIR      the console's files (default: the build's web/)\n"
    "  --list-routes      print every route this server serves (METHOD PATH, and\n"
    "                     'token' where a bearer token is needed) and exit; the\n"
    "                     API is described in docs/openapi.json (GET /openapi.json)\n"
    "  --inspect-rate P   percent of declarations the risk model sends red (default 10)\n"
    "  --yellow-rate P    percent in the next band, yellow: document check (default 15)\n"
    "  --explore-rate P   percent of otherwise green declarations sent red at random\n"
    "                     so that the model keeps learning (default 2)\n"
    "  --mqtt URL         take telemetry from an MQTT broker: subscribes to\n"
    "                     customs/telemetry/+ at QoS 1 on a persistent session;\n"
    "                     mqtt://[user[:password]@]host[:port]\n"
    "  --mqtt-client-id ID  MQTT client id, the key of the session (default customs-serve)\n"
    "  --track-config F   tracking thresholds (JSON object; see docs/track.md)\n"
    "\n"
    "Example:\n"
    "  customs serve --db var/customs.db --listen 127.0.0.1:8080\n";

static void serve__print_route(void *ctx, const char *method, const char *pattern,
                               unsigned flags)
{
    printf("%-6s %s%s\n", method, pattern, flags & HTTP_AUTH ? " token" : "");
}

typedef struct {
    const char *db, *listen, *tls_cert, *tls_key, *port_file, *web_dir;
    const char *mqtt, *mqtt_client_id, *track_config;
    unsigned threads;
    bool access_log, list_routes;
    risk_policy risk; /* lanes: inspect, yellow and explore rates (percent) */
} serve_opts;

static int serve__parse(int argc, char **argv, serve_opts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},       {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},  {"port-file", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
        {"access-log", no_argument, NULL, 'a'},     {"list-routes", no_argument, NULL, 'R'},
        {"inspect-rate", required_argument, NULL, 'I'},
        {"yellow-rate", required_argument, NULL, 'Y'},
        {"explore-rate", required_argument, NULL, 'E'},
        {"web-dir", required_argument, NULL, 'W'},
        {"mqtt", required_argument, NULL, 'm'},     {"mqtt-client-id", required_argument, NULL, 'i'},
        {"track-config", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0}};
    app_getopt_reset();
    int c;
    int64_t n;
    double rate;
    while ((c = app_getopt(argc, argv, opts, NULL, "serve")) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'c': o->tls_cert = optarg; break;
        case 'k': o->tls_key = optarg; break;
        case 'p': o->port_file = optarg; break;
        case 'q': o->access_log = false; break;
        case 'a': o->access_log = true; break;
        case 'R': o->list_routes = true; break;
        case 'W': o->web_dir = optarg; break;
        case 'm': o->mqtt = optarg; break;
        case 'i': o->mqtt_client_id = optarg; break;
        case 'r': o->track_config = optarg; break;
        case 't':
            if (!cx_parse_i64(optarg, &n) || n < 2 || n > 65536)
                return app_usage("serve", "--threads must be 2 to 65536");
            o->threads = (unsigned)n;
            break;
        case 'I':
        case 'Y':
        case 'E':
            if (!cx_parse_double(optarg, &rate) || rate < 0 || rate > 100)
                return app_usage("serve", "--%s must be a percentage from 0 to 100",
                                 c == 'I' ? "inspect-rate" : c == 'Y' ? "yellow-rate"
                                                                      : "explore-rate");
            *(c == 'I' ? &o->risk.inspect_rate : c == 'Y' ? &o->risk.yellow_rate
                                                          : &o->risk.explore_rate) = rate;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (optind != argc)
        return app_usage("serve", "unexpected argument '%s'", argv[optind]);
    if (!o->db)
        return app_usage("serve", "--db PATH is required");
    return -1;
}

int app_cmd_serve(int argc, char **argv)
{
    serve_opts o = {.listen = "127.0.0.1:8080", .risk = {10, 15, 2}};
    int rc = serve__parse(argc, argv, &o);
    if (rc >= 0)
        return rc;

    /* Signals are taken by sigwait in this thread only: block them before
     * any other thread exists so every thread inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    app_config cfg = {
        .db = o.db,
        .http = {.listen = o.list_routes ? "127.0.0.1:0" : o.listen, .tls_cert = o.tls_cert,
                 .tls_key = o.tls_key, .threads = o.threads, .quiet = !o.access_log},
        .web_dir = o.web_dir,
        .risk = o.risk,
        .mqtt = o.mqtt,
        .mqtt_client_id = o.mqtt_client_id,
        .routes_only = o.list_routes,
    };
    track_config_defaults(&cfg.track);
    if (o.track_config && track_config_load(&cfg.track, o.track_config, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    app_services *a = NULL;
    if (app_services_start(&cfg, &a, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    http_server *srv = app_services_http(a);
    if (o.list_routes) {
        http_routes_each(srv, serve__print_route, NULL);
        app_services_stop(a);
        return 0;
    }
    if (o.port_file) {
        FILE *pf = fopen(o.port_file, "w");
        if (pf) {
            fprintf(pf, "%u\n", http_server_port(srv));
            fclose(pf);
        }
    }
    char host[256];
    snprintf(host, sizeof host, "%s", o.listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    cx_log(CX_LOG_INFO, "listening on %s://%s:%u/ with database %s",
           http_server_tls(srv) ? "https" : "http", host, http_server_port(srv), o.db);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    cx_log(CX_LOG_INFO, "received %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    app_services_stop(a);
    cx_log(CX_LOG_INFO, "stopped cleanly");
    return 0;
}
