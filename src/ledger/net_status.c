/* What a networked node says about itself (/healthz, /metrics, its entry in
 * the status bucket) and what `customs ledger network status` shows: the
 * stream's state from JetStream and every node's last status. */
#include "net_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The latest checkpoint in short: size, cosigners, final; and the latest
 * final one's size. */
static json_t *st__checkpoint(ledger *lg)
{
    json_t *cp = NULL;
    if (ledger_checkpoint_latest(lg, &cp) != CX_OK)
        return json_null();
    json_t *orgs = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(cp, "cosignatures"), i, c)
        json_array_append(orgs, json_object_get(c, "org"));
    const json_t *fin = json_object_get(cp, "final_checkpoint");
    bool final = json_is_true(json_object_get(cp, "final"));
    json_t *out = json_pack("{s:O,s:O,s:o,s:b,s:O}", "tree_size", json_object_get(cp, "tree_size"),
                            "root_hash", json_object_get(cp, "root_hash"), "cosigners", orgs,
                            "final", final, "threshold", json_object_get(cp, "threshold"));
    json_object_set_new(out, "final_tree_size",
                        final ? json_incref(json_object_get(cp, "tree_size"))
                        : fin ? json_incref(json_object_get(fin, "tree_size"))
                              : json_null());
    json_decref(cp);
    return out;
}

json_t *net__status_json(ledger_net *n)
{
    pthread_mutex_lock(&n->mu);
    uint64_t applied = n->applied, last = n->stream_last, start_last = n->start_last;
    bool connected = n->connected;
    char failed[sizeof n->failed];
    snprintf(failed, sizeof failed, "%s", n->failed);
    pthread_mutex_unlock(&n->mu);
    if (last < applied)
        last = applied;
    bool forked = atomic_load(&n->forked);
    const char *state = failed[0]      ? "failed"
                        : forked       ? "fork"
                        : !connected   ? "connecting"
                        : applied < start_last ? "catching_up"
                                               : "ok";
    int64_t size = ledger_size(n->lg);
    uint8_t root[32];
    char hex[65] = "";
    if (size >= 0 && ledger_root(n->lg, size, root) == CX_OK)
        ledger__hex(root, hex);
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:I,s:I,s:o,s:s}", "state", state,
                          "org", n->org, "origin", n->origin, "stream", n->stream, "applied_seq",
                          (json_int_t)applied, "stream_last_seq", (json_int_t)last, "lag",
                          (json_int_t)(last - applied), "tree_size", (json_int_t)size,
                          "root_hash", hex, "rejected",
                          (json_int_t)(n->rejected_before +
                                       (int64_t)atomic_load(&n->n_stream_rejected)),
                          "cosignatures_received",
                          (json_int_t)atomic_load(&n->n_cosigs_received), "checkpoint",
                          st__checkpoint(n->lg), "updated_at", now);
    json_object_set_new(o, "stream_format", json_integer(NET_STREAM_FORMAT));
    if (failed[0])
        json_object_set_new(o, "failed", json_string(failed));
    if (forked) {
        store_conn *c = store_reader(n->lg->s);
        sqlite3_stmt *st = c ? store_stmt(c, "SELECT size, org, detected_at FROM ledger_forks "
                                             "ORDER BY detected_at LIMIT 1")
                             : NULL;
        if (st && sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(o, "fork",
                                json_pack("{s:I,s:s,s:s,s:s}", "tree_size",
                                          (json_int_t)sqlite3_column_int64(st, 0), "org",
                                          (const char *)sqlite3_column_text(st, 1), "detected_at",
                                          (const char *)sqlite3_column_text(st, 2), "message",
                                          "another organisation cosigned a different root: "
                                          "this node stopped cosigning (see the ledger_fork "
                                          "alert)"));
        if (st)
            sqlite3_reset(st);
    }
    return o;
}

cx_err ledger__net_metrics(ledger_net *n, cx_buf *out)
{
    pthread_mutex_lock(&n->mu);
    uint64_t applied = n->applied, last = n->stream_last;
    bool connected = n->connected, failed = n->failed[0] != '\0';
    int ordering = n->nwaiters;
    pthread_mutex_unlock(&n->mu);
    if (last < applied)
        last = applied;
    return cx_buf_printf(
        out,
        "# HELP customs_ledger_stream_applied_seq The last stream sequence this node applied.\n"
        "# TYPE customs_ledger_stream_applied_seq gauge\n"
        "customs_ledger_stream_applied_seq %llu\n"
        "# HELP customs_ledger_stream_last_seq The stream's last sequence as this node saw it.\n"
        "# TYPE customs_ledger_stream_last_seq gauge\n"
        "customs_ledger_stream_last_seq %llu\n"
        "# HELP customs_ledger_stream_lag Stream messages this node has not applied yet.\n"
        "# TYPE customs_ledger_stream_lag gauge\n"
        "customs_ledger_stream_lag %llu\n"
        "# HELP customs_ledger_stream_applied_total Stream messages applied since start.\n"
        "# TYPE customs_ledger_stream_applied_total counter\n"
        "customs_ledger_stream_applied_total %llu\n"
        "# HELP customs_ledger_stream_rejected_total Stream messages every node rejected, since "
        "start.\n"
        "# TYPE customs_ledger_stream_rejected_total counter\n"
        "customs_ledger_stream_rejected_total %llu\n"
        "# HELP customs_ledger_cosignatures_received_total Other nodes' cosignatures verified "
        "and stored.\n"
        "# TYPE customs_ledger_cosignatures_received_total counter\n"
        "customs_ledger_cosignatures_received_total %llu\n"
        "# HELP customs_ledger_cosignatures_sent_total Cosignatures this node published.\n"
        "# TYPE customs_ledger_cosignatures_sent_total counter\n"
        "customs_ledger_cosignatures_sent_total %llu\n"
        "# HELP customs_ledger_cosignatures_invalid_total Cosignatures that did not verify.\n"
        "# TYPE customs_ledger_cosignatures_invalid_total counter\n"
        "customs_ledger_cosignatures_invalid_total %llu\n"
        "# HELP customs_ledger_publish_failures_total Submissions the stream did not take "
        "(answered 503).\n"
        "# TYPE customs_ledger_publish_failures_total counter\n"
        "customs_ledger_publish_failures_total %llu\n"
        "# HELP customs_ledger_fork 1 once another organisation cosigned a different root.\n"
        "# TYPE customs_ledger_fork gauge\n"
        "customs_ledger_fork %d\n"
        "# HELP customs_ledger_network_up 1 while connected and applying the stream.\n"
        "# TYPE customs_ledger_network_up gauge\n"
        "customs_ledger_network_up %d\n"
        "# HELP customs_ledger_submissions_in_flight Submissions to this node being checked, "
        "published or applied (at most 1024; more are answered 503).\n"
        "# TYPE customs_ledger_submissions_in_flight gauge\n"
        "customs_ledger_submissions_in_flight %d\n",
        (unsigned long long)applied, (unsigned long long)last,
        (unsigned long long)(last - applied), (unsigned long long)atomic_load(&n->n_applied),
        (unsigned long long)atomic_load(&n->n_stream_rejected),
        (unsigned long long)atomic_load(&n->n_cosigs_received),
        (unsigned long long)atomic_load(&n->n_cosigs_sent),
        (unsigned long long)atomic_load(&n->n_cosigs_bad),
        (unsigned long long)atomic_load(&n->n_publish_failed), atomic_load(&n->forked) ? 1 : 0,
        connected && !failed ? 1 : 0, ordering);
}

/* ---- customs ledger network status ---------------------------------------------------------- */

static json_t *st__stream(jsStreamInfo *si)
{
    json_t *peers = json_array();
    const jsClusterInfo *ci = si->Cluster;
    for (int i = 0; ci && i < ci->ReplicasLen; i++) {
        const jsPeerInfo *p = ci->Replicas[i];
        json_array_append_new(peers, json_pack("{s:s,s:b,s:b,s:I,s:I}", "name", p->Name,
                                               "current", p->Current, "offline", p->Offline,
                                               "lag", (json_int_t)p->Lag, "active_ms",
                                               (json_int_t)(p->Active / 1000000)));
    }
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:s?,s:o}", "name", si->Config->Name, "messages",
                     (json_int_t)si->State.Msgs, "bytes", (json_int_t)si->State.Bytes,
                     "first_seq", (json_int_t)si->State.FirstSeq, "last_seq",
                     (json_int_t)si->State.LastSeq, "replicas", (json_int_t)si->Config->Replicas,
                     "leader", ci ? ci->Leader : NULL, "peers", peers);
}

/* Calls fn for each node's entry in the status bucket, with its status
 * (NULL when it cannot be read or is not an object; the iterator keeps the
 * reference) and when it was put, until fn returns false. False if the keys
 * could not be listed or the bucket is empty. */
typedef bool (*st__status_fn)(void *ctx, const char *node, json_t *status, int64_t put_ns);

static bool st__each_status(kvStore *kv, st__status_fn fn, void *ctx)
{
    kvKeysList keys = {0};
    if (!kv || kvStore_Keys(&keys, kv, NULL) != NATS_OK)
        return false;
    bool any = keys.Count > 0, go = true;
    for (int i = 0; go && i < keys.Count; i++) {
        kvEntry *e = NULL;
        json_t *v = NULL;
        if (kvStore_Get(&e, kv, keys.Keys[i]) == NATS_OK)
            v = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, NULL);
        if (!json_is_object(v)) {
            json_decref(v);
            v = NULL;
        }
        go = fn(ctx, keys.Keys[i], v, e ? kvEntry_Created(e) : 0);
        json_decref(v);
        kvEntry_Destroy(e);
    }
    kvKeysList_Destroy(&keys);
    return any;
}

typedef struct {
    json_t *nodes;
    uint64_t last;
} st_nodes;

static bool st__node(void *ctx, const char *node, json_t *v, int64_t put_ns)
{
    st_nodes *sn = ctx;
    (void)node;
    if (!v)
        return true;
    json_int_t applied = json_integer_value(json_object_get(v, "applied_seq"));
    json_object_set_new(v, "lag", json_integer((json_int_t)sn->last > applied
                                                   ? (json_int_t)sn->last - applied
                                                   : 0));
    json_object_set_new(v, "status_age_s",
                        json_integer((cx_now_us() / 1000000) - put_ns / 1000000000LL));
    json_array_append(sn->nodes, v);
    return true;
}

/* Every node's last status, with its lag behind last. */
static json_t *st__nodes(ledger_net *n, uint64_t last)
{
    st_nodes sn = {json_array(), last};
    kvStore *kv = NULL;
    if (js_KeyValue(&kv, n->js, n->bucket) != NATS_OK)
        return sn.nodes;
    st__each_status(kv, st__node, &sn);
    kvStore_Destroy(kv);
    return sn.nodes;
}

/* A status without the member is from a version that reads one entry per
 * message: it would take a batch for a bad entry. who: the first such. */
static bool st__reads_batches(void *ctx, const char *node, json_t *v, int64_t put_ns)
{
    char *who = ctx;
    (void)put_ns;
    if (json_integer_value(json_object_get(v, "stream_format")) >= NET_STREAM_FORMAT)
        return true;
    snprintf(who, CX_ORG_MAX + 1, "%s", node);
    return false;
}

bool net__peers_read_batches(ledger_net *n)
{
    char who[CX_ORG_MAX + 1] = "";
    bool all = st__each_status(n->kv, st__reads_batches, who) && !who[0];
    if (all)
        cx_log(CX_LOG_INFO, "ledger network: every node reads batched stream messages: "
                            "publishing the entries checked together as one message");
    else if (strcmp(who, n->batch_blocker) != 0) /* once per node that holds it back */
        cx_log(CX_LOG_WARN, "ledger network: node %s does not say it reads batched stream "
                            "messages (stream_format %d): publishing one entry per message",
               who[0] ? who : "(no status yet)", NET_STREAM_FORMAT);
    snprintf(n->batch_blocker, sizeof n->batch_blocker, "%s", who);
    return all;
}

static cx_err st__ledger(ledger_net *n, json_t *ledgers, char *err, size_t errlen)
{
    net__names(n);
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    jsOptions o;
    jsOptions_Init(&o);
    natsStatus s = js_GetStreamInfo(&si, n->js, n->stream, &o, &je);
    if (s != NATS_OK) {
        snprintf(err, errlen, "no ledger %s on the cluster (stream %s: %s)", n->origin,
                 n->stream, natsStatus_GetText(s));
        return s == NATS_NOT_FOUND ? CX_ENOTFOUND : CX_EIO;
    }
    uint64_t last = si->State.LastSeq;
    json_t *l = json_pack("{s:s,s:o,s:o}", "origin", n->origin, "stream", st__stream(si),
                          "nodes", st__nodes(n, last));
    jsStreamInfo_Destroy(si);
    json_array_append_new(ledgers, l);
    return CX_OK;
}

cx_err ledger_net_status(const char *urls, const ledger_nats_auth *auth, const char *origin,
                         json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    ledger_net *n = calloc(1, sizeof *n);
    if (!n)
        return CX_ENOMEM;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    json_t *ledgers = json_array();
    cx_err e = net__parse_urls(n, urls, err, errlen);
    if (e == CX_OK)
        e = net__connect(n, auth, err, errlen);
    if (e == CX_OK && origin) {
        snprintf(n->origin, sizeof n->origin, "%s", origin);
        e = st__ledger(n, ledgers, err, errlen);
    } else if (e == CX_OK) {
        jsStreamInfoList *list = NULL;
        jsErrCode je = 0;
        natsStatus s = js_Streams(&list, n->js, NULL, &je);
        for (int i = 0; s == NATS_OK && e == CX_OK && i < list->Count; i++) {
            const char *o = net__stream_origin(list->List[i]->Config);
            if (!o)
                continue;
            snprintf(n->origin, sizeof n->origin, "%s", o);
            e = st__ledger(n, ledgers, err, errlen);
        }
        jsStreamInfoList_Destroy(list);
        if (s != NATS_OK && s != NATS_NOT_FOUND) {
            snprintf(err, errlen, "cannot list the cluster's streams: %s", natsStatus_GetText(s));
            e = CX_EIO;
        }
    }
    net__disconnect(n);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
    if (e != CX_OK) {
        json_decref(ledgers);
        return e;
    }
    *out = json_pack("{s:o}", "ledgers", ledgers);
    return *out ? CX_OK : CX_ENOMEM;
}
