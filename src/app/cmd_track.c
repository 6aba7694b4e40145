/* customs track: the simulator and maintenance of tracking data. */
#include "app.h"

#include "track.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "Usage:\n"
    "  customs track simulate (--mqtt URL | --http URL | --out FILE) [--devices N]\n"
    "                         [--rate MSG_PER_S] [--seed S] [--scenario FILE]\n"
    "                         [--duration SECONDS] [--count N] [--time-scale X]\n"
    "                         [--start RFC3339|-DURATION] [--anomalies FRACTION]\n"
    "                         [--register --api URL --token T] [--connections N]\n"
    "                         [--declarations REF-PREFIX|*] [--zones N] [--live-clock]\n"
    "                         [--anomaly-kinds LIST] [--anomaly-period S] [--cacert FILE]\n"
    "                         [--quiet]\n"
    "  customs track retention --db PATH [--track-config FILE] [--now RFC3339]\n"
    "\n"
    "simulate publishes realistic journeys of containers along the routes in\n"
    "data/track (ports, roads), with injected anomalies (deviation, stop, seal\n"
    "opened, silence, jump), deterministic for a seed: the same seed and options\n"
    "produce the same messages, whatever the machine's speed.\n"
    "\n"
    "Options of simulate:\n"
    "  --mqtt URL         publish to customs/telemetry/<device> at QoS 1 (mqtt://host:port)\n"
    "  --http URL         POST batches to URL/v1/telemetry (needs --token)\n"
    "  --out FILE         write the messages as JSON lines (- for stdout)\n"
    "  --devices N        number of devices (default 10)\n"
    "  --rate R           messages per second in total (default 10; 0 = as fast as possible)\n"
    "  --seed S           random seed (default 1)\n"
    "  --scenario FILE    scripted devices and anomalies (JSON; docs/track.md)\n"
    "  --duration S       stop after S seconds of wall time\n"
    "  --count N          stop after N messages\n"
    "  --time-scale X     event seconds per wall second (default 1: live)\n"
    "  --start T          event time of the first report: RFC 3339, or -2h / -30m / -90s\n"
    "                     before now (default now)\n"
    "  --anomalies F      fraction of devices with an injected anomaly (default 0)\n"
    "  --register         create the zones, devices and consignments through the API first\n"
    "  --api URL          API base URL for --register (default: the --http URL)\n"
    "  --token T          bearer token (officer or admin for --register)\n"
    "  --cacert FILE      for https URLs trust the PEM certificates in FILE instead of the\n"
    "                     system's (make run TLS=1's self-signed one); always verified\n"
    "  --connections N    MQTT connections to spread the devices over (default 4)\n"
    "  --declarations P   carry the containers of stored declarations whose reference\n"
    "                     starts with P (* for any) and link the consignments to them\n"
    "  --zones N          add N checkpoint zones (customs-office) along the routes\n"
    "  --live-clock       stamp each message with the wall clock when it is sent, as live\n"
    "                     trackers do (the benchmark measures latency with it)\n"
    "  --anomaly-kinds L  only these anomalies: deviation, stop, seal_open, silence, jump,\n"
    "                     door, temperature, seal_cycle (seal opened and closed again)\n"
    "  --anomaly-period S seal_cycle period in seconds (default 20)\n"
    "\n"
    "Options of retention:\n"
    "  --db PATH          SQLite database\n"
    "  --track-config F   thresholds (retention_days, thin_interval_s, dead_letter_days)\n"
    "  --now T            run as of this time (default: the clock)\n"
    "\n"
    "Examples:\n"
    "  customs track simulate --mqtt mqtt://127.0.0.1:1883 --devices 100 --rate 50 --seed 7\n"
    "  customs track simulate --http http://127.0.0.1:8080 --token $TOKEN --register \\\n"
    "      --devices 20 --rate 20 --anomalies 0.3 --time-scale 30 --start -2h\n";

static bool track__start(const char *v, int64_t *ms)
{
    int64_t us;
    if (cx_rfc3339_parse(v, &us) == CX_OK) {
        *ms = us / 1000;
        return true;
    }
    if (v[0] != '-' || strlen(v) < 3)
        return false;
    char num[32];
    size_t n = strlen(v) - 2;
    if (n >= sizeof num)
        return false;
    memcpy(num, v + 1, n);
    num[n] = '\0';
    int64_t k;
    if (!cx_parse_i64(num, &k) || k < 0)
        return false;
    char unit = v[strlen(v) - 1];
    int64_t mult = unit == 's' ? 1000 : unit == 'm' ? 60000 : unit == 'h' ? 3600000
                                                              : unit == 'd' ? 86400000 : 0;
    if (!mult)
        return false;
    *ms = cx_now_us() / 1000 - k * mult;
    return true;
}

static int track__simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mqtt", required_argument, NULL, 'm'},      {"http", required_argument, NULL, 'H'},
        {"out", required_argument, NULL, 'o'},       {"devices", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},      {"seed", required_argument, NULL, 's'},
        {"scenario", required_argument, NULL, 'S'},  {"duration", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'c'},     {"time-scale", required_argument, NULL, 'x'},
        {"start", required_argument, NULL, 't'},     {"anomalies", required_argument, NULL, 'a'},
        {"register", no_argument, NULL, 'R'},        {"api", required_argument, NULL, 'A'},
        {"token", required_argument, NULL, 'T'},     {"connections", required_argument, NULL, 'C'},
        {"declarations", required_argument, NULL, 'D'},
        {"zones", required_argument, NULL, 'Z'},     {"live-clock", no_argument, NULL, 'L'},
        {"anomaly-kinds", required_argument, NULL, 'K'},
        {"anomaly-period", required_argument, NULL, 'P'},
        {"cacert", required_argument, NULL, 'E'},
        {"quiet", no_argument, NULL, 'q'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    app_sim_opts o;
    app_sim_defaults(&o);
    app_getopt_reset();
    int c;
    int64_t n;
    double d;
    while ((c = app_getopt(argc, argv, opts, NULL, "track simulate")) != -1) {
        switch (c) {
        case 'm': o.mqtt_url = optarg; break;
        case 'H': o.http_url = optarg; break;
        case 'o': o.out_path = optarg; break;
        case 'S': o.scenario = optarg; break;
        case 'A': o.api_url = optarg; break;
        case 'T': o.token = optarg; break;
        case 'E':
            if (access(optarg, R_OK) != 0)
                return app_usage("track simulate", "--cacert: cannot read %s", optarg);
            o.cacert = optarg;
            break;
        case 'D': o.decl_ref_prefix = optarg; break;
        case 'R': o.register_all = true; break;
        case 'q': o.quiet = true; break;
        case 'L': o.live_clock = true; break;
        case 'K': o.anomaly_kinds = optarg; break;
        case 'P':
            if (!cx_parse_double(optarg, &d) || d < 1 || d > 86400)
                return app_usage("track simulate", "--anomaly-period must be 1 to 86400 s");
            o.anomaly_period_s = d;
            break;
        case 'Z':
            if (!cx_parse_i64(optarg, &n) || n < 0 || n > 10000)
                return app_usage("track simulate", "--zones must be 0 to 10000");
            o.extra_zones = (unsigned)n;
            break;
        case 'n':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 1000000)
                return app_usage("track simulate", "--devices must be 1 to 1000000");
            o.devices = (unsigned)n;
            break;
        case 'C':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 64)
                return app_usage("track simulate", "--connections must be 1 to 64");
            o.connections = (unsigned)n;
            break;
        case 'r':
            if (!cx_parse_double(optarg, &d) || d < 0 || d > 10000000)
                return app_usage("track simulate", "--rate must be 0 to 10000000 messages/s");
            o.rate = d;
            break;
        case 's':
            if (!cx_parse_i64(optarg, &n) || n < 0)
                return app_usage("track simulate", "--seed must be a non-negative integer");
            o.seed = (uint64_t)n;
            break;
        case 'd':
            if (!cx_parse_double(optarg, &d) || d <= 0)
                return app_usage("track simulate", "--duration must be a positive number of "
                                                   "seconds");
            o.duration_s = d;
            break;
        case 'c':
            if (!cx_parse_i64(optarg, &n) || n < 1)
                return app_usage("track simulate", "--count must be a positive integer");
            o.count = (uint64_t)n;
            break;
        case 'x':
            if (!cx_parse_double(optarg, &d) || d <= 0 || d > 100000)
                return app_usage("track simulate", "--time-scale must be from 0 to 100000");
            o.time_scale = d;
            break;
        case 't':
            if (!track__start(optarg, &o.start_ms))
                return app_usage("track simulate", "--start must be RFC 3339 or like -2h");
            break;
        case 'a':
            if (!cx_parse_double(optarg, &d) || d < 0 || d > 1)
                return app_usage("track simulate", "--anomalies must be a fraction from 0 to 1");
            o.anomalies = d;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (optind != argc)
        return app_usage("track simulate", "unexpected argument '%s'", argv[optind]);
    int targets = !!o.mqtt_url + !!o.http_url + !!o.out_path;
    if (targets != 1)
        return app_usage("track simulate", "give exactly one of --mqtt, --http and --out");
    if (o.http_url && !o.token)
        return app_usage("track simulate", "--http needs --token");
    if (o.register_all && !(o.api_url || o.http_url))
        return app_usage("track simulate", "--register needs --api URL (or --http)");
    if (o.register_all && !o.token)
        return app_usage("track simulate", "--register needs --token");
    return app_track_simulate(&o);
}

static int track__retention(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"track-config", required_argument, NULL, 'c'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *cfgpath = NULL;
    int64_t now = cx_now_us();
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "track retention")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'c': cfgpath = optarg; break;
        case 'n':
            if (cx_rfc3339_parse(optarg, &now) != CX_OK)
                return app_usage("track retention", "--now must be RFC 3339");
            break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (!db)
        return app_usage("track retention", "--db PATH is required");
    char err[512];
    track_config cfg;
    track_config_defaults(&cfg);
    if (cfgpath && track_config_load(&cfg, cfgpath, err, sizeof err) != CX_OK)
        return app_fail("track retention", "%s", err);
    store *s = NULL;
    if (app_open_store(db, &s, err, sizeof err) != CX_OK)
        return app_fail("track retention", "%s", err);
    track_retention_stats st;
    cx_err e = track_retention_run(s, &cfg, now, &st);
    store_free(s);
    if (e != CX_OK)
        return app_fail("track retention", "%s", cx_strerror(e));
    printf("thinned %llu positions on %llu devices; deleted %llu dead letters\n",
           (unsigned long long)st.positions_deleted, (unsigned long long)st.devices_thinned,
           (unsigned long long)st.dead_letters_deleted);
    return 0;
}

int app_cmd_track(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "simulate") == 0)
        return track__simulate(argc - 1, argv + 1);
    if (strcmp(argv[1], "retention") == 0)
        return track__retention(argc - 1, argv + 1);
    return app_usage("track", "unknown subcommand '%s' (simulate, retention)", argv[1]);
}
