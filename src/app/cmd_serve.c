/* customs serve: the HTTP API. */
#include "app.h"

#include "auth.h"
#include "declare.h"
#include "http.h"
#include "risk.h"
#include "ledger.h"
#include "web.h"
#include "track.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage: customs serve --db PATH [--listen HOST:PORT] [--tls-cert F --tls-key F]\n"
    "                     [--threads N] [--port-file F] [--quiet] [limits and timeouts]\n"
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
    "  --threads N        worker threads that run requests (default 16); connections\n"
    "                     cost no thread: one event loop serves them all\n"
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
    "\n"
    "Example:\n"
    "  customs serve --db var/customs.db --listen 127.0.0.1:8080\n";

static void h_healthz(http_req *r, void *ctx)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    http_reply_copy(r, 200, "application/json", ok, sizeof ok - 1);
}

static void h_metrics(http_req *r, void *ctx)
{
    http_server *srv = ctx;
    cx_buf out;
    cx_buf_init(&out, (size_t)16 << 20);
    http_metrics_render(srv, &out);
    size_t n;
    char *s = cx_buf_steal(&out, &n);
    http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", s, n);
}

static void serve__store_metrics(void *ctx, cx_buf *out)
{
    store_stats st;
    store_get_stats(ctx, &st);
    cx_buf_puts(out, "# HELP customs_store_commit_batch_size Jobs committed per transaction "
                     "(group commit).\n"
                     "# TYPE customs_store_commit_batch_size histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < 12; b++) {
        cum += st.batch_hist[b];
        if (b < 11)
            cx_buf_printf(out, "customs_store_commit_batch_size_bucket{le=\"%u\"} %llu\n",
                          store_batch_bounds[b], (unsigned long long)cum);
        else
            cx_buf_printf(out, "customs_store_commit_batch_size_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
    }
    cx_buf_printf(out,
                  "customs_store_commit_batch_size_sum %llu\n"
                  "customs_store_commit_batch_size_count %llu\n"
                  "# HELP customs_store_commits_failed_total Transactions that failed to commit.\n"
                  "# TYPE customs_store_commits_failed_total counter\n"
                  "customs_store_commits_failed_total %llu\n",
                  (unsigned long long)st.batch_sum, (unsigned long long)st.commits,
                  (unsigned long long)st.failed_commits);
}

typedef struct {
    const char *db, *listen, *tls_cert, *tls_key, *port_file, *web_dir;
    const char *mqtt, *mqtt_client_id, *track_config;
    unsigned threads;
    bool quiet;
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
        {"inspect-rate", required_argument, NULL, 'I'},
        {"yellow-rate", required_argument, NULL, 'Y'},
        {"explore-rate", required_argument, NULL, 'E'},
        {"web-dir", required_argument, NULL, 'W'},
        {"mqtt", required_argument, NULL, 'm'},     {"mqtt-client-id", required_argument, NULL, 'i'},
        {"track-config", required_argument, NULL, 'r'},
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
        {NULL, 0, NULL, 0}};
    app_getopt_reset();
    int c, li = -1;
    int64_t n;
    double rate;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        /* getopt_long takes abbreviations; an option is refused unless whole */
        const char *given = argv[optind - 1 - (optarg && optarg == argv[optind - 1])];
        if (c != '?' && li >= 0 && strncmp(given, "--", 2) == 0 &&
            strcspn(given + 2, "=") != strlen(opts[li].name))
            return app_usage("serve", "unknown option '%s' (did you mean --%s?)", given,
                             opts[li].name);
        li = -1;
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
        case 'q': o->quiet = true; break;
        case 'W': o->web_dir = optarg; break;
        case 'm': o->mqtt = optarg; break;
        case 'i': o->mqtt_client_id = optarg; break;
        case 'r': o->track_config = optarg; break;
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
        case 'h': fputs(help, stdout); return 0;
        default: return app_usage("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
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
    track_config tcfg;
    track_config_defaults(&tcfg);
    if (o.track_config && track_config_load(&tcfg, o.track_config, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    store *s = NULL;
    if (app_open_store(o.db, &s, err, sizeof err) != CX_OK)
        return app_fail("serve", "%s", err);
    http_config hc = o.edge;
    hc.listen = o.listen;
    hc.tls_cert = o.tls_cert;
    hc.tls_key = o.tls_key;
    hc.threads = o.threads;
    hc.quiet = o.quiet;
    http_server *srv = NULL;
    if (http_server_new(&hc, &srv, err, sizeof err) != CX_OK) {
        store_free(s);
        return app_fail("serve", "%s", err);
    }
    decl_service *decl = decl_service_new(s);
    http_set_auth(srv, auth_lookup, s);
    /* risk: scores every submission (enrich hook) before it is stored */
    risk_config rcfg = {.policy = o.risk, .score_declarations = true};
    risk_service *risk = decl ? risk_service_new(s, decl, &rcfg) : NULL;
    /* ledger: cross-document findings when declarations arrive (indexed
     * hook, after risk's so that its lane raises come last) */
    ledger *lg = decl ? ledger_new(s, decl) : NULL;
    cx_err e = decl && risk && lg ? CX_OK : CX_ENOMEM;
    /* track: telemetry pipeline, rules and alerts; raises lanes through declare */
    track_service *track = NULL;
    if (!e && (e = track_service_new(s, decl, &tcfg, &track, err, sizeof err)) != CX_OK) {
        http_server_free(srv);
        ledger_free(lg);
        risk_service_free(risk);
        decl_service_free(decl);
        store_free(s);
        return app_fail("serve", "tracking: %s", err);
    }
    if (!e)
        e = http_route(srv, "GET", "/healthz", 0, h_healthz, NULL);
    if (!e)
        e = http_route(srv, "GET", "/metrics", HTTP_METRICS, h_metrics, srv);
    if (!e)
        e = decl_routes(decl, srv);
    if (!e)
        e = risk_routes(risk, srv);
    if (!e)
        e = ledger_routes(lg, srv);
    if (!e)
        e = track_routes(track, srv);
    /* The console's catch-all file route goes last: API routes win. */
    if (!e)
        e = web_routes(srv, o.web_dir ? o.web_dir : web_default_dir());
    http_add_metrics(srv, serve__store_metrics, s);
    if (!e)
        e = http_server_start(srv, err, sizeof err);
    else
        snprintf(err, sizeof err, "cannot set up routes: %s", cx_strerror(e));
    if (!e && o.mqtt)
        e = track_mqtt_start(track, o.mqtt, o.mqtt_client_id, err, sizeof err);
    if (e) {
        http_server_free(srv);
        track_service_free(track);
        risk_service_free(risk);
        ledger_free(lg);
        decl_service_free(decl);
        store_free(s);
        return app_fail("serve", "%s", err);
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
    http_server_drain(srv, 10000);
    track_service_stop(track); /* MQTT off, pipeline drained, last acks sent */
    http_server_free(srv);
    risk_service_free(risk); /* its workers finish their writes first */
    track_service_free(track);
    store_free(s);           /* flushes the write queue: ledger jobs still use the services */
    ledger_free(lg);
    decl_service_free(decl);
    cx_log(CX_LOG_INFO, "stopped cleanly");
    return 0;
}
