/* customs drones: decode Remote ID messages, import captures, load the
 * registry, simulate flights (issue 10). */
#include "app.h"
#include "alert.h"
#include "app_drones.h"

#include "drones.h"
#include "track.h"

#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage:\n"
    "  customs drones decode HEX [HEX...]\n"
    "  customs drones import --db PATH [--receiver ID] [--zones FILE.geojson]\n"
    "                        [--drones-config FILE] [--alerts FILE] FILE.pcap|FILE.pcapng\n"
    "  customs drones registry --db PATH FILE.csv\n"
    "  customs drones simulate (--out FILE.pcap | --http URL --token T | --mqtt URL)\n"
    "                          [--seed S]\n"
    "                          [--scenario FILE] [--start RFC3339] [--receiver ID]\n"
    "                          [--frames N] [--realtime] [--quiet]\n"
    "\n"
    "decode prints each ASTM F3411 / ASD-STAN EN 4709-002 message (25 bytes) or\n"
    "Message Pack as one JSON object per line; an invalid one exits 1 with the\n"
    "reason.\n"
    "\n"
    "import reads a pcap or pcapng capture (802.11 with or without radiotap,\n"
    "BLE LL with pseudo-header, Nordic BLE), stores every Remote ID observation\n"
    "and runs the drone rules on them in event time, as if live.\n"
    "\n"
    "registry replaces the registry of known drones and operators with a CSV\n"
    "file of the columns uas_id,operator_id,holder,valid_until.\n"
    "\n"
    "simulate encodes flights (a legal survey, a smuggling run across the\n"
    "border, a spoofed track) as radiotap + 802.11 Beacon frames with the\n"
    "Remote ID vendor IE, or POSTs them as observations (to a receiver that\n"
    "exists: POST /v1/drones/receivers), or publishes the same JSON to\n"
    "customs/remoteid/<receiver> at QoS 1 (mqtt://host[:port]). --frames repeats the flights with\n"
    "numbered copies up to N frames (the benchmark uses it); --realtime paces\n"
    "the POSTs by event time. Files start at 2024-06-01T10:00:00Z unless\n"
    "--start says otherwise; POSTs 15 minutes ago (now with --realtime).\n"
    "\n"
    "Options of import: --receiver ID names the receiver that heard the\n"
    "capture; --zones FILE.geojson adds the file's zones to the database's zones\n"
    "(tracking's /v1/zones; ids already there are kept) before the import, as\n"
    "data/drones/zones.geojson;\n"
    "--drones-config FILE the thresholds; --alerts FILE writes the alerts as\n"
    "JSON lines.\n"
    "\n"
    "Examples:\n"
    "  customs drones decode 50004742522d4f502d31323341424344000000000000000000\n"
    "  customs drones import --db var/customs.db --receiver RX-1 capture.pcapng\n"
    "  customs drones simulate --out flights.pcap --seed 7\n";

static int drones__decode(int argc, char **argv)
{
    if (argc < 2)
        return app_usage("drones decode", "give at least one message in hex");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *hex = argv[i];
        size_t n = strlen(hex);
        uint8_t buf[512];
        if (strcmp(hex, "--help") == 0 || strcmp(hex, "-h") == 0) {
            fputs(help, stdout);
            return 0;
        }
        if (n % 2 || n / 2 > sizeof buf || !cx_unhex(hex, buf, n / 2)) {
            fprintf(stderr, "customs drones decode: argument %d: not an even number of hex "
                            "digits (at most %zu bytes)\n", i, sizeof buf);
            rc = 1;
            continue;
        }
        drones_msg msgs[DRONES_PACK_MAX];
        size_t count;
        bool pack;
        char why[200];
        if (drones_payload_decode(buf, n / 2, true, msgs, &count, &pack, why, sizeof why)) {
            fprintf(stderr, "customs drones decode: argument %d: invalid message: %s\n", i, why);
            rc = 1;
            continue;
        }
        json_t *j = drones_payload_json(msgs, count, pack);
        char *s = cx_json_dump(j, NULL);
        json_decref(j);
        printf("%s\n", s);
        free(s);
    }
    return rc;
}

/* --alerts FILE: every alert as a JSON line, once durable. */
static void drones__alert_line(void *ctx, const drones_alert *a)
{
    FILE *f = ctx;
    char t[32];
    cx_rfc3339_format(a->time_us, t);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:O,s:b}", "type", drones_alert_type_name(a->type),
                          "severity", drones_severity_name(a->severity), "time", t, "drone",
                          a->drone, "detail", a->detail, "escalation", a->escalation);
    json_object_set_new(j, "lat", isnan(a->lat) ? json_null() : json_real(a->lat));
    json_object_set_new(j, "lon", isnan(a->lon) ? json_null() : json_real(a->lon));
    char *s = cx_json_dump(j, NULL);
    json_decref(j);
    if (s)
        fprintf(f, "%s\n", s);
    free(s);
}

static void drones__progress(void *ctx, uint64_t bytes, uint64_t frames)
{
    cx_progress_set(ctx, bytes, frames);
}

static int drones__import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},       {"receiver", required_argument, NULL, 'r'},
        {"zones", required_argument, NULL, 'z'},    {"drones-config", required_argument, NULL, 'c'},
        {"alerts", required_argument, NULL, 'a'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *db = NULL, *rx = NULL, *zones = NULL, *cfgpath = NULL, *alerts = NULL;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "drones import")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'r': rx = optarg; break;
        case 'z': zones = optarg; break;
        case 'c': cfgpath = optarg; break;
        case 'a': alerts = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (!db)
        return app_usage("drones import", "--db PATH is required");
    if (optind + 1 != argc)
        return app_usage("drones import", "give exactly one capture file");
    if (rx && !drones_receiver_id_valid(rx))
        return app_usage("drones import", "--receiver must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    const char *path = argv[optind];
    char err[512];
    drones_config cfg;
    drones_config_defaults(&cfg);
    if (cfgpath && drones_config_load(&cfg, cfgpath, err, sizeof err) != CX_OK)
        return app_fail("drones import", "%s", err);
    FILE *af = NULL;
    if (alerts && !(af = fopen(alerts, "w")))
        return app_fail("drones import", "%s: cannot create", alerts);
    store *s = NULL;
    if (app_open_store(db, &s, err, sizeof err) != CX_OK) {
        if (af)
            fclose(af);
        return app_fail("drones import", "%s", err);
    }
    /* the file's zones join the database's zones (tracking's), which the
     * drone rules read */
    size_t zadded = 0, zkept = 0;
    if (zones && track_zones_load_file(s, zones, &zadded, &zkept, err, sizeof err) != CX_OK) {
        store_free(s);
        if (af)
            fclose(af);
        return app_fail("drones import", "%s", err);
    }
    if (zones)
        fprintf(stderr, "zones: %zu added, %zu already stored (kept)\n", zadded, zkept);
    /* alerts go into the alerts table through the alerting door, as live */
    drones_alert_sink sink = {drones__alert_line, af};
    alert_service *as = NULL;
    drones_service *d = NULL;
    alert_config acfg = {0};
    cx_err e = alert_service_new(s, &acfg, &as);
    if (e != CX_OK)
        snprintf(err, sizeof err, "the alert service cannot start: %s", cx_strerror(e));
    else
        e = drones_service_new(s, as, &cfg, af ? &sink : NULL, &d, err, sizeof err);
    if (e != CX_OK) {
        alert_service_free(as);
        store_free(s);
        if (af)
            fclose(af);
        return app_fail("drones import", "%s", err);
    }
    struct stat sb;
    cx_progress *pr = cx_progress_new("import", stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0,
                                      "frames");
    drones_import_stats st;
    e = drones_import(d, path, rx, drones__progress, pr, &st, err, sizeof err);
    cx_progress_free(pr);
    drones_service_free(d);
    alert_service_free(as);
    store_free(s);
    if (af)
        fclose(af);
    if (e)
        return app_fail("drones import", "%s", err);
    printf("frames %llu, remote_id_messages %llu, drones %llu\n", (unsigned long long)st.frames,
           (unsigned long long)st.messages, (unsigned long long)st.drones);
    fprintf(stderr, "observations %llu, alerts %llu, frames dropped for a failed CRC %llu\n",
            (unsigned long long)st.observations, (unsigned long long)st.alerts,
            (unsigned long long)st.crc_errors);
    return 0;
}

static int drones__registry(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "drones registry")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (!db)
        return app_usage("drones registry", "--db PATH is required");
    if (optind + 1 != argc)
        return app_usage("drones registry", "give exactly one CSV file");
    char err[600];
    store *s = NULL;
    if (app_open_store(db, &s, err, sizeof err) != CX_OK)
        return app_fail("drones registry", "%s", err);
    size_t rows;
    cx_err e = drones_registry_load_csv(s, argv[optind], &rows, err, sizeof err);
    store_free(s);
    if (e)
        return app_fail("drones registry", "%s", err);
    printf("registry: %zu entries\n", rows);
    return 0;
}

static int drones__simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},      {"http", required_argument, NULL, 'H'},
        {"mqtt", required_argument, NULL, 'm'},
        {"token", required_argument, NULL, 'T'},    {"receiver", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},     {"scenario", required_argument, NULL, 'S'},
        {"start", required_argument, NULL, 't'},    {"frames", required_argument, NULL, 'n'},
        {"realtime", no_argument, NULL, 'R'},       {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    app_drones_sim o = {.receiver = "SIM-RX", .seed = 1};
    bool have_start = false;
    app_getopt_reset();
    int c;
    int64_t n;
    while ((c = app_getopt(argc, argv, opts, NULL, "drones simulate")) != -1) {
        switch (c) {
        case 'o': o.out_path = optarg; break;
        case 'H': o.http_url = optarg; break;
        case 'm': o.mqtt_url = optarg; break;
        case 'T': o.token = optarg; break;
        case 'r': o.receiver = optarg; break;
        case 'S': o.scenario = optarg; break;
        case 'R': o.realtime = true; break;
        case 'q': o.quiet = true; break;
        case 's':
            if (!cx_parse_i64(optarg, &n) || n < 0)
                return app_usage("drones simulate", "--seed must be a non-negative integer");
            o.seed = (uint64_t)n;
            break;
        case 'n':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 100000000)
                return app_usage("drones simulate", "--frames must be 1 to 100000000");
            o.frames = (uint64_t)n;
            break;
        case 't':
            if (cx_rfc3339_parse(optarg, &o.start_us) != CX_OK)
                return app_usage("drones simulate", "--start must be RFC 3339");
            have_start = true;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (optind != argc)
        return app_usage("drones simulate", "unexpected argument '%s'", argv[optind]);
    if (!!o.out_path + !!o.http_url + !!o.mqtt_url != 1)
        return app_usage("drones simulate", "give exactly one of --out, --http and --mqtt");
    if (o.http_url && !o.token)
        return app_usage("drones simulate", "--http needs --token");
    if (!drones_receiver_id_valid(o.receiver))
        return app_usage("drones simulate", "--receiver must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    if (!have_start) /* files: a fixed day, so a seed reproduces them; live: now */
        o.start_us = o.out_path ? 1717236000000000LL
                                : cx_now_us() - (o.realtime ? 0 : 900000000LL);
    return app_drones_simulate(&o);
}

int app_cmd_drones(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "decode") == 0)
        return drones__decode(argc - 1, argv + 1);
    if (strcmp(argv[1], "import") == 0)
        return drones__import(argc - 1, argv + 1);
    if (strcmp(argv[1], "registry") == 0)
        return drones__registry(argc - 1, argv + 1);
    if (strcmp(argv[1], "simulate") == 0)
        return drones__simulate(argc - 1, argv + 1);
    return app_usage("drones", "unknown subcommand '%s' (decode, import, registry, simulate)",
                     argv[1]);
}
