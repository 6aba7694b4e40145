/* customs ledger network status and customs ledger snapshot: operating the
 * ledger as a network (docs/ledger.md, "Network"). */
#include "app.h"

#include "declare.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char net_help[] =
    "Usage:\n"
    "  customs ledger network status --nats URLS [--ledger-origin NAME] [--json]\n"
    "                 [--nats-ca F] [--nats-cert F --nats-key F] [--nats-creds F |\n"
    "                  --nats-user U --nats-password-file F | --nats-token-file F]\n"
    "  customs ledger snapshot --db PATH --out FILE\n"
    "\n"
    "  network status  the ledger's stream on the NATS cluster (messages, sequences,\n"
    "                  replicas and their lag) and every node's last status: applied\n"
    "                  sequence, lag, tree size and root, latest cosigned checkpoint,\n"
    "                  state (ok, catching_up, connecting, fork, failed)\n"
    "  snapshot        writes this node's ledger tables (entries, tree, registry, state,\n"
    "                  checkpoints, stream position; never declarations, findings or\n"
    "                  salts) to a new database, for a new node to start from\n"
    "                  (customs serve --ledger-snapshot FILE --ledger-trust TRUST)\n"
    "\n"
    "TLS and credentials for the NATS cluster:\n";

static const char net_help_example[] =
    "\n"
    "Example:\n"
    "  customs ledger network status --nats nats://10.0.0.1:4222,nats://10.0.0.2:4222\n";

static void net__help(void)
{
    fputs(net_help, stdout);
    fputs(app_nats_help, stdout);
    fputs(net_help_example, stdout);
}

static void net__print_status(const json_t *st)
{
    size_t i, k;
    const json_t *l, *node;
    json_array_foreach(json_object_get(st, "ledgers"), i, l)
    {
        const json_t *s = json_object_get(l, "stream");
        printf("ledger %s\n", json_string_value(json_object_get(l, "origin")));
        printf("  stream %s: %lld messages, %lld bytes, sequences %lld..%lld, %lld replicas, "
               "leader %s\n",
               json_string_value(json_object_get(s, "name")),
               (long long)json_integer_value(json_object_get(s, "messages")),
               (long long)json_integer_value(json_object_get(s, "bytes")),
               (long long)json_integer_value(json_object_get(s, "first_seq")),
               (long long)json_integer_value(json_object_get(s, "last_seq")),
               (long long)json_integer_value(json_object_get(s, "replicas")),
               json_string_value(json_object_get(s, "leader"))
                   ? json_string_value(json_object_get(s, "leader"))
                   : "none (no quorum)");
        json_array_foreach(json_object_get(s, "peers"), k, node)
            printf("    replica %s: %s, lag %lld, last seen %lld ms ago\n",
                   json_string_value(json_object_get(node, "name")),
                   json_is_true(json_object_get(node, "offline"))   ? "offline"
                   : json_is_true(json_object_get(node, "current")) ? "current"
                                                                    : "behind",
                   (long long)json_integer_value(json_object_get(node, "lag")),
                   (long long)json_integer_value(json_object_get(node, "active_ms")));
        printf("  %-16s %-12s %10s %8s %10s  %-22s %s\n", "node", "state", "applied", "lag",
               "tree size", "checkpoint (cosigners)", "status age");
        json_array_foreach(json_object_get(l, "nodes"), k, node)
        {
            const json_t *cp = json_object_get(node, "checkpoint");
            char cps[128] = "none";
            if (json_is_object(cp)) {
                snprintf(cps, sizeof cps, "%lld (%zu%s)",
                         (long long)json_integer_value(json_object_get(cp, "tree_size")),
                         json_array_size(json_object_get(cp, "cosigners")),
                         json_is_true(json_object_get(cp, "final")) ? ", final" : "");
            }
            printf("  %-16s %-12s %10lld %8lld %10lld  %-22s %llds\n",
                   json_string_value(json_object_get(node, "org")),
                   json_string_value(json_object_get(node, "state")),
                   (long long)json_integer_value(json_object_get(node, "applied_seq")),
                   (long long)json_integer_value(json_object_get(node, "lag")),
                   (long long)json_integer_value(json_object_get(node, "tree_size")), cps,
                   (long long)json_integer_value(json_object_get(node, "status_age_s")));
        }
    }
}

static int net__status(int argc, char **argv)
{
    static const struct option opts[] = {{"nats", required_argument, NULL, 'n'},
                                         {"ledger-network", required_argument, NULL, 'n'},
                                         {"ledger-origin", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         APP_NATS_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *urls = NULL, *origin = NULL;
    ledger_nats_auth auth = {0};
    bool as_json = false;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "ledger network status")) != -1) {
        switch (c) {
        case 'n': urls = optarg; break;
        case 'o': origin = optarg; break;
        case 'j': as_json = true; break;
        case 'h': net__help(); return 0;
        default:
            if (!app_nats_opt(c, optarg, &auth))
                return 2; /* app_getopt said why */
        }
    }
    if (optind != argc)
        return app_usage("ledger network", "unexpected argument '%s'", argv[optind]);
    if (!urls)
        return app_usage("ledger network", "status needs --nats nats://HOST:PORT,…");
    json_t *st = NULL;
    char err[512];
    if (ledger_net_status(urls, &auth, origin, &st, err, sizeof err) != CX_OK)
        return app_fail("ledger network status", "%s", err);
    if (as_json) {
        char *text = json_dumps(st, JSON_INDENT(2));
        if (text)
            printf("%s\n", text);
        free(text);
    } else {
        net__print_status(st);
    }
    json_decref(st);
    return 0;
}

static int net__snapshot(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *out = NULL;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "ledger snapshot")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': out = optarg; break;
        case 'h': net__help(); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (optind != argc)
        return app_usage("ledger snapshot", "unexpected argument '%s'", argv[optind]);
    if (!db || !out)
        return app_usage("ledger snapshot", "needs --db PATH and --out FILE");
    store *s = NULL;
    char err[512];
    if (app_open_store(db, &s, err, sizeof err) != CX_OK)
        return app_fail("ledger snapshot", "%s", err);
    ledger *lg = ledger_new(s, NULL);
    cx_err e = lg ? ledger_snapshot(lg, out, err, sizeof err) : CX_ENOMEM;
    int64_t n = lg ? ledger_size(lg) : 0;
    ledger_free(lg);
    store_free(s);
    if (e != CX_OK)
        return app_fail("ledger snapshot", "%s", e == CX_ENOMEM ? "out of memory" : err);
    fprintf(stderr, "snapshot of %lld entries written to %s\n", (long long)n, out);
    return 0;
}

int app_cmd_ledger_net(int argc, char **argv)
{
    if (strcmp(argv[0], "snapshot") == 0)
        return net__snapshot(argc, argv);
    if (argc < 2 || strcmp(argv[1], "status") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
            net__help();
            return 0;
        }
        return app_usage("ledger network", "the action is status");
    }
    return net__status(argc - 1, argv + 1);
}
