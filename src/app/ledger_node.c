/* The ledger as a node of a network (docs/ledger.md, "Network"), for
 * `customs serve` and the ledger commands that write through the stream:
 * the node's key, the trust file and the connection to the NATS cluster. */
#include "app.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

const char app_nats_help[] =
    "  --nats-ca FILE     TLS to the NATS servers, their certificates verified against\n"
    "                     this CA (PEM); tls:// URLs ask for TLS too\n"
    "  --nats-cert FILE --nats-key FILE  this node's client certificate (PEM) and\n"
    "                     its key (mode 0600), for servers that verify clients\n"
    "  --nats-creds FILE  NATS credentials (user JWT and NKey seed; mode 0600)\n"
    "  --nats-user NAME --nats-password-file FILE  user and password (first line of\n"
    "                     FILE, mode 0600)\n"
    "  --nats-token-file FILE  an authentication token (first line, mode 0600)\n";

bool app_nats_opt(int c, const char *arg, ledger_nats_auth *a)
{
    switch (c) {
    case APP_NATS_CA: a->ca = arg; return true;
    case APP_NATS_CERT: a->cert = arg; return true;
    case APP_NATS_KEY: a->key = arg; return true;
    case APP_NATS_CREDS: a->creds = arg; return true;
    case APP_NATS_USER: a->user = arg; return true;
    case APP_NATS_PASSWORD: a->password_file = arg; return true;
    case APP_NATS_TOKEN: a->token_file = arg; return true;
    default: return false;
    }
}

bool app_nats_any(const ledger_nats_auth *a)
{
    return a->ca || a->cert || a->key || a->creds || a->user || a->password_file ||
           a->token_file;
}

cx_err app_ledger_join(ledger *lg, const app_ledger_net_opts *o, alert_service *alerts, char *err,
                       size_t errlen)
{
    if (o->node_key) {
        ledger_key key;
        char why[512];
        if (ledger_key_load(o->node_key, &key, why, sizeof why) != CX_OK) {
            snprintf(err, errlen, "--node-key: %s", why);
            return CX_EINVAL;
        }
        if (o->org && key.org[0] && strcmp(o->org, key.org) != 0) {
            snprintf(err, errlen, "--node-key %s is a key of %s, not of --org %s", o->node_key,
                     key.org, o->org);
            sodium_memzero(&key, sizeof key);
            return CX_EINVAL;
        }
        cx_err e = ledger_set_node_key(lg, &key);
        sodium_memzero(&key, sizeof key);
        if (e != CX_OK) {
            snprintf(err, errlen, "out of memory");
            return e;
        }
    }
    if (!o->network)
        return CX_OK;
    json_t *trust = NULL;
    if (o->trust) {
        json_error_t je;
        if (!(trust = json_load_file(o->trust, JSON_REJECT_DUPLICATES, &je))) {
            snprintf(err, errlen, "--ledger-trust %s: line %d: %s", o->trust, je.line, je.text);
            return CX_EINVAL;
        }
    }
    ledger_net_config nc = {
        .urls = o->network,
        .auth = o->nats,
        .origin = o->origin,
        .org = o->org,
        .trust = trust,
        .snapshot = o->snapshot,
        .replicas = o->replicas,
        .node = o->node,
        .create = o->create,
        .alerts = alerts,
        .wait_ms = o->wait_ms,
    };
    cx_err e = ledger_net_start(lg, &nc, err, errlen);
    json_decref(trust);
    return e;
}

cx_err app_ledger_node(ledger *lg, const app_config *cfg, alert_service *alerts, char *err,
                       size_t errlen)
{
    if (cfg->routes_only)
        return CX_OK; /* serve --list-routes joins no network */
    app_ledger_net_opts o = {
        .node_key = cfg->ledger_node_key,
        .org = cfg->ledger_org,
        .network = cfg->ledger_network,
        .origin = cfg->ledger_origin,
        .trust = cfg->ledger_trust,
        .snapshot = cfg->ledger_snapshot,
        .replicas = cfg->ledger_replicas,
        .nats = cfg->ledger_nats,
        .node = true,
        .create = true, /* a node may wait for the genesis */
    };
    return app_ledger_join(lg, &o, alerts, err, errlen);
}
