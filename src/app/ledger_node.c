/* The ledger as a node of a network (docs/ledger.md, "Network"), for
 * `customs serve` and the ledger commands that write through the stream:
 * the node's key, the trust file and the connection to the NATS cluster. */
#include "app.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

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
        .node = true,
        .create = true, /* a node may wait for the genesis */
    };
    return app_ledger_join(lg, &o, alerts, err, errlen);
}
