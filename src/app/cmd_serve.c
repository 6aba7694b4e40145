/* customs serve: the HTTP API. */
#include "app.h"

#include "auth.h"
#include "declare.h"
#include "http.h"
#include "risk.h"
#include "ledger.h"
#include "web.h"
#include "track.h"
#include "revenue.h"

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
    "                     [--currency CODE]\n"
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
    "  --currency CODE    the national currency (ISO 4217), set once and kept in the\n"
    "                     database: declarations are then assessed (docs/revenue.md)\n"
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
    const char *mqtt, *mqtt_client_id, *track_config, *currency;
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
        {"currency", required_argument, NULL, 'C'},
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
        case 'C': o->currency = optarg; break;
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
    http_config hc = {.listen = o.listen, .tls_cert = o.tls_cert, .tls_key = o.tls_key,
                      .threads = o.threads, .quiet = o.quiet};
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
    /* revenue: assesses every submission (enrich_text) and gates release;
     * certificates of origin come from the ledger in phase 2 */
    rev_service *rev = NULL;
    rev_config rvcfg = {.currency = o.currency};
    if (!e && (e = rev_service_new(s, decl, &rvcfg, &rev, err, sizeof err)) != CX_OK) {
        http_server_free(srv);
        ledger_free(lg);
        risk_service_free(risk);
        decl_service_free(decl);
        store_free(s);
        return app_fail("serve", "revenue: %s", err);
    }
    /* track: telemetry pipeline, rules and alerts; raises lanes through declare */
    track_service *track = NULL;
    if (!e && (e = track_service_new(s, decl, &tcfg, &track, err, sizeof err)) != CX_OK) {
        http_server_free(srv);
        ledger_free(lg);
        risk_service_free(risk);
        store_free(s);
        rev_service_free(rev);
        decl_service_free(decl);
        return app_fail("serve", "tracking: %s", err);
    }
    if (!e)
        e = http_route(srv, "GET", "/healthz", 0, h_healthz, NULL);
    if (!e)
        e = http_route(srv, "GET", "/metrics", 0, h_metrics, srv);
    if (!e)
        e = decl_routes(decl, srv);
    if (!e)
        e = risk_routes(risk, srv);
    if (!e)
        e = ledger_routes(lg, srv);
    if (!e)
        e = track_routes(track, srv);
    if (!e)
        e = rev_routes(rev, srv);
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
        rev_service_stop(rev);
        store_free(s);
        rev_service_free(rev);
        decl_service_free(decl);
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
    rev_service_stop(rev);   /* its statistics worker writes through the store */
    store_free(s);           /* flushes the write queue: ledger jobs still use the services */
    ledger_free(lg);
    rev_service_free(rev);   /* its hooks and payment jobs ran on the writer */
    decl_service_free(decl);
    cx_log(CX_LOG_INFO, "stopped cleanly");
    return 0;
}
