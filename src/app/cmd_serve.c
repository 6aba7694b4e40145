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
    "                     [--threads N] [--port-file F] [--access-log] [limits and timeouts]\n"
    "                     [--inspect-rate P] [--yellow-rate P] [--explore-rate P]\n"
    "                     [--mqtt mqtt://HOST:PORT] [--mqtt-client-id ID] [--track-config F]\n"
    "                     [--org ORG --node-key FILE [--ledger-network nats://H1:P1,…\n"
    "                      [--ledger-origin NAME] [--ledger-trust FILE] [--ledger-snapshot F]\n"
    "                      [--ledger-replicas N] [--nats-ca F] [--nats-cert F --nats-key F]\n"
    "                      [--nats-creds F | --nats-user U --nats-password-file F |\n"
    "                       --nats-token-file F]]]\n"
    "                     [--currency CODE] [--session-retention-days N]\n"
    "                     [--bio-key FILE] [--bio-verify-window HOURS]\n"
    "\n"
    "Serves the /v1 API. SIGTERM or SIGINT stops accepting, lets requests in\n"
    "flight finish, flushes pending commits and exits 0.\n"
    "\n"
    "Options:\n"
    "  --db PATH          SQLite database file (created and migrated if needed)\n"
    "  --listen HOST:PORT address to listen on (default 127.0.0.1:8080; port 0 = any)\n"
    "  --tls-cert FILE    PEM certificate; with --tls-key serves HTTPS\n"
    "  --tls-key FILE     PEM private key\n"
    "  --threads N        worker threads that run requests (default 16); connections\n"
    "                     cost no thread: one event loop serves them all\n"
    "  --port-file FILE   write the port actually bound (useful with port 0)\n"
    "  --access-log       log every request (method, path, status, time, org) on\n"
    "                     stderr; off by default\n"
    "  --quiet            no access log (the default; kept for scripts)\n"
    "  --web-dir DIR      the console's files (default: the build's web/)\n"
    "  --list-routes      print every route this server serves (METHOD PATH, 'token'\n"
    "                     where a bearer token is needed, query=NAME,... the query\n"
    "                     parameters it takes) and exit; the API is described in\n"
    "                     docs/openapi.json (GET /openapi.json)\n"
    "  --inspect-rate P   percent of declarations the risk model sends red (default 10)\n"
    "  --yellow-rate P    percent in the next band, yellow: document check (default 15)\n"
    "  --explore-rate P   percent of otherwise green declarations sent red at random\n"
    "                     so that the model keeps learning (default 2)\n"
    "  --mqtt URL         take telemetry from an MQTT broker: subscribes to\n"
    "                     customs/telemetry/+ at QoS 1 on a persistent session;\n"
    "                     mqtt://[user[:password]@]host[:port]\n"
    "  --mqtt-client-id ID  MQTT client id, the key of the session (default customs-serve)\n"
    "  --track-config F   tracking thresholds (JSON object; see docs/track.md)\n"
    "  --drone-zones F    adds a GeoJSON FeatureCollection's zones to the zones (those\n"
    "                     of /v1/zones; ids already stored are kept) at start; the\n"
    "                     drone rules use territory, restricted, port, bonded-warehouse\n"
    "                     and customs-office zones\n"
    "  --drones-config F  drone rule thresholds (JSON object; see docs/drones.md)\n"
    "  --session-retention-days N  remote-expert session frames are erased N days\n"
    "                     after they were taken (default 30; docs/inspection.md)\n"
    "  --currency CODE    the national currency (ISO 4217), set once and kept in the\n"
    "                     database: declarations are then assessed (docs/revenue.md)\n"
    "  --bio-key FILE     the master key that seals biometric data (customs bio key);\n"
    "                     the galleries are decrypted into memory at start. Without\n"
    "                     it /v1/biometrics answers 503 (docs/biometrics.md)\n"
    "  --bio-verify-window HOURS  how recent an operator's biometric verification\n"
    "                     must be for a key with a subject to record a decision\n"
    "                     (default 12)\n"
    "\n";

/* in two pieces: C17 promises string literals up to 4095 characters */
static const char help_limits[] =
    "Limits (over one: 429 too_many_requests with Retry-After; see docs/api.md):\n"
    "  --max-connections N      open connections in all (default 16384)\n"
    "  --max-conns-per-ip N     per client address, IPv6 per /64 (default 1024)\n"
    "  --max-inflight-per-key N requests of one API key being served (default 256)\n"
    "  --max-streams-per-key N  open event streams of one key (default 32)\n"
    "  --max-streams-per-org N  ... of one organisation (default 256)\n"
    "  --anon-rate R            requests/s per address on paths without a key\n"
    "                           (/healthz, /metrics, /osmand, files; default 100; 0 = off)\n"
    "  --anon-burst N           ... as a burst (default 400)\n"
    "  --header-timeout S       request line and headers within S seconds (default 10)\n"
    "  --body-timeout S         window for --body-min-rate (default 10)\n"
    "  --body-min-rate B        bytes/s a body must keep up (default 1024)\n"
    "  --idle-timeout S         keep-alive between requests (default 60)\n"
    "  --send-timeout S         a reply the client does not read (default 60)\n"
    "  --tmp-dir DIR            where large uploads are spooled (default $TMPDIR or /var/tmp)\n"
    "  --metrics-token-file F   /metrics needs 'Authorization: Bearer TOKEN', the token\n"
    "                           read from F (mode 0600)\n"
    "\n";

static const char help_ledger[] =
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
    "A consortium's NATS cluster asks for TLS and credentials:\n";

static const char help_example[] =
    "\n"
    "Example:\n"
    "  customs serve --db var/customs.db --listen 127.0.0.1:8080\n"
    "\n";

static void serve__print_route(void *ctx, const char *method, const char *pattern,
                               unsigned flags, const char *query)
{
    (void)ctx;
    printf("%-6s %s%s", method, pattern, flags & HTTP_AUTH ? " token" : "");
    if (query) { /* " limit cursor " -> " query=limit,cursor" */
        fputs(" query=", stdout);
        const char *sep = "";
        for (const char *p = query + strspn(query, " "); *p; p += strspn(p, " ")) {
            size_t n = strcspn(p, " ");
            printf("%s%.*s", sep, (int)n, p);
            sep = ",";
            p += n;
        }
    }
    putchar('\n');
}

typedef struct {
    const char *db, *listen, *tls_cert, *tls_key, *port_file, *web_dir;
    const char *mqtt, *mqtt_client_id, *track_config, *currency;
    const char *drone_zones, *drones_config;
    const char *org, *node_key, *network, *origin, *trust, *snapshot;
    int replicas;
    ledger_nats_auth nats;
    const char *bio_key;
    int64_t bio_window_s, session_retention_days;
    unsigned threads;
    bool access_log, list_routes;
    risk_policy risk; /* lanes: inspect, yellow and explore rates (percent) */
    http_config edge; /* limits and timeouts (issue 17); the rest comes from the above */
} serve_opts;

/* The edge's limits and timeouts: name, unit scale, [min, max], field. */
static int serve__edge_opt(int c, const char *arg, http_config *h)
{
    static const struct {
        int c;
        const char *name;
        double min, max, scale;
    } t[] = {{'C', "max-connections", 16, 1e6, 1},   {'A', "max-conns-per-ip", 1, 1e6, 1},
             {'K', "max-inflight-per-key", 1, 1e6, 1}, {'S', "max-streams-per-key", 1, 1e6, 1},
             {'O', "max-streams-per-org", 1, 1e6, 1}, {'R', "anon-rate", 0, 1e6, 1},
             {'B', "anon-burst", 1, 1e6, 1},          {'H', "header-timeout", 1, 3600, 1000},
             {'T', "body-timeout", 1, 3600, 1000},    {'M', "body-min-rate", 1, 1e9, 1},
             {'D', "idle-timeout", 1, 86400, 1000},   {'N', "send-timeout", 1, 3600, 1000}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (t[i].c != c)
            continue;
        double v;
        if (!cx_parse_double(arg, &v) || v < t[i].min || v > t[i].max ||
            (t[i].scale == 1 && c != 'R' && v != (double)(unsigned)v))
            return app_usage("serve", "--%s must be a number from %g to %g", t[i].name,
                             t[i].min, t[i].max);
        unsigned u = (unsigned)(v * t[i].scale);
        switch (c) {
        case 'C': h->max_connections = u; break;
        case 'A': h->max_conns_per_addr = u; break;
        case 'K': h->max_inflight_per_key = u; break;
        case 'S': h->max_streams_per_key = u; break;
        case 'O': h->max_streams_per_org = u; break;
        case 'R': h->anon_rate = v > 0 ? v : -1; break;
        case 'B': h->anon_burst = u; break;
        case 'H': h->header_timeout_ms = u; break;
        case 'T': h->body_timeout_ms = u; break;
        case 'M': h->body_min_rate = u; break;
        case 'D': h->idle_timeout_ms = u; break;
        case 'N': h->send_timeout_ms = u; break;
        }
        return -1;
    }
    return app_usage("serve", "unknown option");
}

static int serve__parse(int argc, char **argv, serve_opts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},       {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},  {"port-file", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
        {"access-log", no_argument, NULL, 'a'},     {"list-routes", no_argument, NULL, 'L'},
        {"inspect-rate", required_argument, NULL, 'I'},
        {"yellow-rate", required_argument, NULL, 'Y'},
        {"explore-rate", required_argument, NULL, 'E'},
        {"web-dir", required_argument, NULL, 'W'},
        {"mqtt", required_argument, NULL, 'm'},     {"mqtt-client-id", required_argument, NULL, 'i'},
        {"track-config", required_argument, NULL, 'r'},
        {"drone-zones", required_argument, NULL, 'z'},
        {"drones-config", required_argument, NULL, 'P'},
        {"max-connections", required_argument, NULL, 'C'},
        {"max-conns-per-ip", required_argument, NULL, 'A'},
        {"max-inflight-per-key", required_argument, NULL, 'K'},
        {"max-streams-per-key", required_argument, NULL, 'S'},
        {"max-streams-per-org", required_argument, NULL, 'O'},
        {"anon-rate", required_argument, NULL, 'R'},
        {"anon-burst", required_argument, NULL, 'B'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"body-timeout", required_argument, NULL, 'T'},
        {"body-min-rate", required_argument, NULL, 'M'},
        {"idle-timeout", required_argument, NULL, 'D'},
        {"send-timeout", required_argument, NULL, 'N'},
        {"tmp-dir", required_argument, NULL, 'X'},
        {"metrics-token-file", required_argument, NULL, 'G'},
        {"session-retention-days", required_argument, NULL, 'J'},
        {"org", required_argument, NULL, 1},        {"node-key", required_argument, NULL, 2},
        {"ledger-network", required_argument, NULL, 3},
        {"ledger-origin", required_argument, NULL, 4},
        {"ledger-trust", required_argument, NULL, 5},
        {"ledger-snapshot", required_argument, NULL, 6},
        {"ledger-replicas", required_argument, NULL, 7},
        APP_NATS_OPTIONS,
        {"currency", required_argument, NULL, 'U'},
        {"bio-key", required_argument, NULL, 'b'},
        {"bio-verify-window", required_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    app_getopt_reset();
    int c;
    int64_t n;
    double rate;
    while ((c = app_getopt(argc, argv, opts, NULL, "serve")) != -1) {
        switch (c) {
        case 'C': case 'A': case 'K': case 'S': case 'O': case 'R': case 'B':
        case 'H': case 'T': case 'M': case 'D': case 'N':
            if ((n = serve__edge_opt(c, optarg, &o->edge)) >= 0)
                return (int)n;
            break;
        case 'X': o->edge.tmp_dir = optarg; break;
        case 'G': o->edge.metrics_token_file = optarg; break;
        case 'd': o->db = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'c': o->tls_cert = optarg; break;
        case 'k': o->tls_key = optarg; break;
        case 'p': o->port_file = optarg; break;
        case 'q': o->access_log = false; break;
        case 'a': o->access_log = true; break;
        case 'L': o->list_routes = true; break;
        case 'W': o->web_dir = optarg; break;
        case 'm': o->mqtt = optarg; break;
        case 'i': o->mqtt_client_id = optarg; break;
        case 'r': o->track_config = optarg; break;
        case 'z': o->drone_zones = optarg; break;
        case 'P': o->drones_config = optarg; break;
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
        case APP_NATS_CA: case APP_NATS_CERT: case APP_NATS_KEY: case APP_NATS_CREDS:
        case APP_NATS_USER: case APP_NATS_PASSWORD: case APP_NATS_TOKEN:
            app_nats_opt(c, optarg, &o->nats);
            break;
        case 'U': o->currency = optarg; break;
        case 'b': o->bio_key = optarg; break;
        case 'V':
            if (!cx_parse_double(optarg, &rate) || rate <= 0 || rate > 24 * 366)
                return app_usage("serve", "--bio-verify-window must be hours from 0 to 8784");
            o->bio_window_s = (int64_t)(rate * 3600);
            break;
        case 't':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 1024)
                return app_usage("serve", "--threads must be 1 to 1024");
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
        case 'J':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 36500)
                return app_usage("serve", "--session-retention-days must be 1 to 36500");
            o->session_retention_days = n;
            break;
        case 'h':
            fputs(help, stdout);
            fputs(help_ledger, stdout);
            fputs(app_nats_help, stdout);
            fputs(help_example, stdout);
            fputs(help_limits, stdout);
            return 0;
        default: return 2; /* app_getopt said why */
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
    if (!o->network && app_nats_any(&o->nats))
        return app_usage("serve", "the --nats-* options need --ledger-network");
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

    char err[512] = "";
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    app_config cfg = {
        .db = o.db,
        .http = o.edge, /* limits and timeouts; the rest below */
        .web_dir = o.web_dir,
        .risk = o.risk,
        .mqtt = o.mqtt,
        .mqtt_client_id = o.mqtt_client_id,
        .currency = o.currency,
        .bio_key = o.bio_key,
        .bio_verify_window_s = o.bio_window_s,
        .routes_only = o.list_routes,
        .inspect = {.frame_retention_days = o.session_retention_days},
        .ledger_node_key = o.node_key,
        .ledger_org = o.org,
        .ledger_network = o.network,
        .ledger_origin = o.origin,
        .ledger_trust = o.trust,
        .ledger_snapshot = o.snapshot,
        .ledger_replicas = o.replicas,
        .ledger_nats = o.nats,
    };
    cfg.http.listen = o.list_routes ? "127.0.0.1:0" : o.listen;
    cfg.http.tls_cert = o.tls_cert;
    cfg.http.tls_key = o.tls_key;
    cfg.http.threads = o.threads;
    cfg.http.quiet = !o.access_log;
    track_config_defaults(&cfg.track);
    if (o.track_config && track_config_load(&cfg.track, o.track_config, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    drones_config_defaults(&cfg.drones);
    if (o.drones_config && drones_config_load(&cfg.drones, o.drones_config, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    cfg.drone_zones = o.drone_zones;
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
