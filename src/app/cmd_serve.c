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
    "                     [--threads N] [--port-file F] [--quiet]\n"
    "                     [--inspect-rate P] [--yellow-rate P] [--explore-rate P]\n"
    "                     [--mqtt mqtt://HOST:PORT] [--mqtt-client-id ID] [--track-config F]\n"
    "                     [--org ORG --node-key FILE [--ledger-network nats://H1:P1,…\n"
    "                      [--ledger-origin NAME] [--ledger-trust FILE] [--ledger-snapshot F]\n"
    "                      [--ledger-replicas N]]]\n"
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
    "  --quiet            no access log\n"
    "  --web-dir DIR      the console's files (default: the build's web/)\n"
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
    "The trade ledger as one organisation's node (docs/ledger.md, \"Network\"):\n"
    "  --org ORG          the organisation this node belongs to\n"
    "  --node-key FILE    its signing key (customs keygen; registered on the ledger):\n"
    "                     endorses anchors of declarations lodged here, cosigns\n"
    "  --ledger-network URLS  NATS JetStream servers (comma separated) ordering the\n"
    "                     ledger of every node; without it the ledger is this node's\n"
    "  --ledger-origin NAME   which ledger (the origin of customs ledger init); may\n"
    "                     be left out when the cluster carries one\n"
    "  --ledger-trust FILE    the consortium's trust file (customs ledger trust): a\n"
    "                     stream whose genesis differs is refused\n"
    "  --ledger-snapshot F    an empty database starts from this snapshot (customs\n"
    "                     ledger snapshot), verified against the trust file\n"
    "  --ledger-replicas N    replicas of the streams this node creates (default 3\n"
    "                     with three or more servers, else 1)\n"
    "\n"
    "Example:\n"
    "  customs serve --db var/customs.db --listen 127.0.0.1:8080\n";

typedef struct {
    const char *db, *listen, *tls_cert, *tls_key, *port_file, *web_dir;
    const char *mqtt, *mqtt_client_id, *track_config;
    const char *org, *node_key, *network, *origin, *trust, *snapshot;
    int replicas;
    unsigned threads;
    bool quiet;
    risk_policy risk; /* lanes: inspect, yellow and explore rates (percent) */
} serve_opts;

static int serve__parse(int argc, char **argv, serve_opts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},       {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},  {"port-file", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
        {"inspect-rate", required_argument, NULL, 'I'},
        {"yellow-rate", required_argument, NULL, 'Y'},
        {"explore-rate", required_argument, NULL, 'E'},
        {"web-dir", required_argument, NULL, 'W'},
        {"mqtt", required_argument, NULL, 'm'},     {"mqtt-client-id", required_argument, NULL, 'i'},
        {"track-config", required_argument, NULL, 'r'},
        {"org", required_argument, NULL, 1},        {"node-key", required_argument, NULL, 2},
        {"ledger-network", required_argument, NULL, 3},
        {"ledger-origin", required_argument, NULL, 4},
        {"ledger-trust", required_argument, NULL, 5},
        {"ledger-snapshot", required_argument, NULL, 6},
        {"ledger-replicas", required_argument, NULL, 7},
        {NULL, 0, NULL, 0}};
    app_getopt_reset();
    int c;
    int64_t n;
    double rate;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'c': o->tls_cert = optarg; break;
        case 'k': o->tls_key = optarg; break;
        case 'p': o->port_file = optarg; break;
        case 'q': o->quiet = true; break;
        case 'W': o->web_dir = optarg; break;
        case 'm': o->mqtt = optarg; break;
        case 'i': o->mqtt_client_id = optarg; break;
        case 'r': o->track_config = optarg; break;
        case 1: o->org = optarg; break;
        case 2: o->node_key = optarg; break;
        case 3: o->network = optarg; break;
        case 4: o->origin = optarg; break;
        case 5: o->trust = optarg; break;
        case 6: o->snapshot = optarg; break;
        case 7:
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 5)
                return app_usage("serve", "--ledger-replicas must be 1 to 5");
            o->replicas = (int)n;
            break;
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
        default: return app_usage("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return app_usage("serve", "unexpected argument '%s'", argv[optind]);
    if (!o->db)
        return app_usage("serve", "--db PATH is required");
    if (o->org && !cx_org_valid(o->org))
        return app_usage("serve", "--org must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    if (!o->network && (o->origin || o->trust || o->snapshot || o->replicas))
        return app_usage("serve", "--ledger-origin, --ledger-trust, --ledger-snapshot and "
                                  "--ledger-replicas need --ledger-network");
    if (o->network && (!o->org || !o->node_key))
        return app_usage("serve", "a ledger node needs --org ORG and --node-key FILE");
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
        .http = {.listen = o.listen, .tls_cert = o.tls_cert, .tls_key = o.tls_key,
                 .threads = o.threads, .quiet = o.quiet},
        .web_dir = o.web_dir,
        .risk = o.risk,
        .mqtt = o.mqtt,
        .mqtt_client_id = o.mqtt_client_id,
        .ledger_node_key = o.node_key,
        .ledger_org = o.org,
        .ledger_network = o.network,
        .ledger_origin = o.origin,
        .ledger_trust = o.trust,
        .ledger_snapshot = o.snapshot,
        .ledger_replicas = o.replicas,
    };
    track_config_defaults(&cfg.track);
    if (o.track_config && track_config_load(&cfg.track, o.track_config, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    app_services *a = NULL;
    if (app_services_start(&cfg, &a, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    http_server *srv = app_services_http(a);
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
