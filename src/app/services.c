/* The services of `customs serve`: one ordered start, one reverse stop
 * (app.h). The table below is the order. */
#include "app.h"

#include "alert.h"
#include "auth.h"
#include "bio.h"
#include "declare.h"
#include "designs.h"
#include "inspect.h"
#include "ledger.h"
#include "revenue.h"
#include "web.h"
#include "xray.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- each service: how it starts, what it serves, how it stops ----------------- */

static cx_err svc__declare_start(app_services *a, void **self, char *err, size_t errlen)
{
    if (!(*self = decl_service_new(app_services_store(a)))) {
        snprintf(err, errlen, "out of memory");
        return CX_ENOMEM;
    }
    return CX_OK;
}

static cx_err svc__declare_routes(void *self, http_server *srv)
{
    return decl_routes(self, srv);
}

static void svc__declare_free(void *self)
{
    decl_service_free(self);
}

/* alert: one alerting door; its stream is fed after each raising commit */
static cx_err svc__alert_start(app_services *a, void **self, char *err, size_t errlen)
{
    alert_config acfg = {.heartbeat_s = app_services_config(a)->track.heartbeat_s};
    cx_err e = alert_service_new(app_services_store(a), &acfg, (alert_service **)self);
    if (e != CX_OK)
        snprintf(err, errlen, "the alert service cannot start: %s", cx_strerror(e));
    return e;
}

static cx_err svc__alert_routes(void *self, http_server *srv)
{
    return alert_routes(self, srv);
}

static void svc__alert_stop(void *self)
{
    alert_service_stop(self);
}

static void svc__alert_free(void *self)
{
    alert_service_free(self);
}

/* the inspection record's photos are inspect's (risk does not link it) */
static cx_err svc__risk_photos(void *ctx, store_conn *w, int64_t seq, const char *sent,
                               json_t *problems, char **all)
{
    (void)ctx;
    return inspect_outcome_photos(w, seq, sent, problems, all);
}

/* risk: scores every submission (enrich hook) before it is stored */
static cx_err svc__risk_start(app_services *a, void **self, char *err, size_t errlen)
{
    /* bench/ingest runs a peer server on XGBoost's own predictor; a value
     * misspelt would make it compare the flattened trees with themselves */
    const char *pred = getenv("CUSTOMS_RISK_PREDICTOR");
    if (pred && *pred && strcmp(pred, "xgboost") != 0) {
        snprintf(err, errlen, "CUSTOMS_RISK_PREDICTOR: unknown value '%.40s' (the one value "
                 "is xgboost; unset: the flattened trees)", pred);
        return CX_EINVAL;
    }
    risk_config rcfg = {.policy = app_services_config(a)->risk,
                        .score_declarations = true,
                        .photos = svc__risk_photos,
                        .xgboost_predictor = pred && *pred};
    if (!(*self = risk_service_new(app_services_store(a), app_service(a, "declare"), &rcfg))) {
        snprintf(err, errlen, "the risk service cannot start");
        return CX_ENOMEM;
    }
    return CX_OK;
}

static cx_err svc__risk_routes(void *self, http_server *srv)
{
    return risk_routes(self, srv);
}

static void svc__risk_stop(void *self)
{
    risk_service_stop(self);
}

static void svc__risk_free(void *self)
{
    risk_service_free(self);
}

/* ledger: cross-document findings when declarations arrive (its indexed
 * hook is ordered after risk's) */
static cx_err svc__ledger_start(app_services *a, void **self, char *err, size_t errlen)
{
    if (!(*self = ledger_new(app_services_store(a), app_service(a, "declare")))) {
        snprintf(err, errlen, "the ledger service cannot start");
        return CX_ENOMEM;
    }
    cx_err e = app_ledger_node(*self, app_services_config(a), app_service(a, "alert"), err,
                               errlen);
    if (e != CX_OK) { /* not started: nobody else frees it */
        ledger_free(*self);
        *self = NULL;
    }
    return e;
}

static void svc__ledger_stop(void *self)
{
    ledger_net_stop(self); /* the stream's reader hands work to the writer */
}

static cx_err svc__ledger_routes(void *self, http_server *srv)
{
    return ledger_routes(self, srv);
}

static void svc__ledger_free(void *self)
{
    ledger_free(self);
}

/* track: telemetry pipeline and rules; raises lanes through declare */
static cx_err svc__track_start(app_services *a, void **self, char *err, size_t errlen)
{
    char why[400];
    const char *zpath = app_services_config(a)->drone_zones;
    size_t added, kept;
    if (zpath) { /* --drone-zones: into the zones, before tracking reads them */
        cx_err e = track_zones_load_file(app_services_store(a), zpath, &added, &kept, why,
                                         sizeof why);
        if (e != CX_OK) {
            snprintf(err, errlen, "--drone-zones: %s", why);
            return e;
        }
        cx_log(CX_LOG_INFO, "zones of %s: %zu added, %zu already stored (kept)", zpath, added,
               kept);
    }
    cx_err e = track_service_new(app_services_store(a), app_service(a, "declare"),
                                 app_service(a, "alert"), &app_services_config(a)->track,
                                 (track_service **)self, why, sizeof why);
    if (e != CX_OK)
        snprintf(err, errlen, "tracking: %s", why);
    return e;
}

static cx_err svc__track_routes(void *self, http_server *srv)
{
    return track_routes(self, srv);
}

static cx_err svc__track_open(void *self, const app_config *cfg, char *err, size_t errlen)
{
    return cfg->mqtt ? track_mqtt_start(self, cfg->mqtt, cfg->mqtt_client_id, err, errlen)
                     : CX_OK;
}

static void svc__track_stop(void *self)
{
    track_service_stop(self); /* MQTT off, pipeline drained, last acks sent */
}

static void svc__track_free(void *self)
{
    track_service_free(self);
}

/* drones: Remote ID observations, rules, the position stream; alerts
 * through the alert service, MQTT customs/remoteid/+ through track's broker
 * connection */
static void svc__remoteid_ack(void *ticket, bool stored)
{
    track_mqtt_done(ticket, stored);
}

static void svc__remoteid(void *self, const char *receiver, const char *payload, size_t len,
                          track_mqtt_ticket *ticket)
{
    drones_service_ingest_message(self, receiver, payload, len, svc__remoteid_ack, ticket);
}

static cx_err svc__drones_start(app_services *a, void **self, char *err, size_t errlen)
{
    const app_config *cfg = app_services_config(a);
    char why[400];
    cx_err e = drones_service_new(app_services_store(a), app_service(a, "alert"), &cfg->drones,
                                  NULL, (drones_service **)self, why, sizeof why);
    if (e != CX_OK)
        snprintf(err, errlen, "drones: %s", why);
    else if ((e = track_mqtt_subscribe(app_service(a, "track"), "customs/remoteid/",
                                       svc__remoteid, *self)) != CX_OK ||
             /* zones created at runtime reach the drone rules */
             (e = track_zones_watch(app_service(a, "track"), drones_service_zone, *self)) !=
                 CX_OK) {
        snprintf(err, errlen, "drones: cannot share tracking's MQTT connection or zones: %s",
                 cx_strerror(e));
        drones_service_free(*self);
        *self = NULL;
    }
    return e;
}

static cx_err svc__drones_routes(void *self, http_server *srv)
{
    return drones_routes(self, srv);
}

static void svc__drones_stop(void *self)
{
    drones_service_stop(self);
}

static void svc__drones_free(void *self)
{
    drones_service_free(self);
}

/* designs: uploads and watchlists; checks declared designs (hooks between
 * risk's and the ledger's) and raises its alerts through alert */
static cx_err svc__designs_start(app_services *a, void **self, char *err, size_t errlen)
{
    designs_config dc;
    designs_config_default(&dc);
    dc.alerts = app_service(a, "alert");
    cx_err e = designs_service_new(app_services_store(a), &dc, (designs_service **)self, err,
                                   errlen);
    if (e == CX_OK && (e = designs_join(*self, app_service(a, "declare"))) != CX_OK)
        snprintf(err, errlen, "designs: cannot join the declarations: %s", cx_strerror(e));
    return e;
}

static cx_err svc__designs_routes(void *self, http_server *srv)
{
    return designs_routes(self, srv);
}

static void svc__designs_free(void *self)
{
    designs_service_free(self);
}

/* xray: scans, scanners, outcomes; its findings raise lanes and alerts, its
 * gate holds release until flagged regions are inspected */
static cx_err svc__xray_start(app_services *a, void **self, char *err, size_t errlen)
{
    xray_config xc = {.alerts = app_service(a, "alert")};
    *self = xray_service_new(app_services_store(a), app_service(a, "declare"), &xc, err, errlen);
    return *self ? CX_OK : CX_EIO;
}

static cx_err svc__xray_routes(void *self, http_server *srv)
{
    return xray_routes(self, srv);
}

static void svc__xray_free(void *self)
{
    xray_service_free(self);
}

/* inspect: guides, photos and remote-expert sessions on declarations */
static cx_err svc__inspect_start(app_services *a, void **self, char *err, size_t errlen)
{
    /* every SSE stream beats at the one interval the alert stream uses */
    inspect_config icfg = app_services_config(a)->inspect;
    icfg.heartbeat_s = (unsigned)app_services_config(a)->track.heartbeat_s;
    return inspect_service_new(app_services_store(a), app_service(a, "declare"), &icfg,
                               (inspect_service **)self, err, errlen);
}

static cx_err svc__inspect_routes(void *self, http_server *srv)
{
    return inspect_routes(self, srv);
}

static void svc__inspect_stop(void *self)
{
    inspect_service_stop(self);
}

static void svc__inspect_free(void *self)
{
    inspect_service_free(self);
}

/* revenue: assesses every submission (its hooks run after risk's and the
 * ledger's), proves preferences with the ledger's certificates of origin,
 * and gates release on payment */
static bool svc__value_in(void *ctx, double value, const char *currency, const char *date,
                          const char *to, double *out)
{
    return rev_service_value_in(ctx, value, currency, date, to, out);
}

static int svc__inspection(void *ctx, store_conn *c, int64_t seq)
{
    (void)ctx;
    return risk_inspection_result(c, seq);
}

static cx_err svc__reassessed(void *ctx, store_conn *w, int64_t seq, double flagged,
                              double total)
{
    (void)ctx;
    return risk_revenue_changed_in(w, seq, flagged, total);
}

static cx_err svc__revenue_start(app_services *a, void **self, char *err, size_t errlen)
{
    rev_config rcfg = {.currency = app_services_config(a)->currency,
                       .ledger = app_service(a, "ledger")};
    cx_err e = rev_service_new(app_services_store(a), app_service(a, "declare"), &rcfg,
                               (rev_service **)self, err, errlen);
    /* risk's features read values in national currency at revenue's rates;
     * revenue is freed only after the server and the imports have stopped,
     * so no scoring outlives it */
    risk_service *risk = app_service(a, "risk");
    if (e == CX_OK && risk)
        risk_service_set_values(risk, (risk_values){svc__value_in, *self});
    /* the summary's "recovered" asks risk what inspections found */
    if (e == CX_OK)
        rev_service_set_inspections(*self, svc__inspection, NULL);
    /* a re-assessment re-ranks the declaration in risk's rank=revenue queue */
    if (e == CX_OK && risk)
        rev_service_set_reassessed(*self, svc__reassessed, NULL);
    return e;
}

static cx_err svc__revenue_routes(void *self, http_server *srv)
{
    return rev_routes(self, srv);
}

static void svc__revenue_stop(void *self)
{
    rev_service_stop(self); /* its statistics worker writes through the store */
}

static void svc__revenue_free(void *self)
{
    rev_service_free(self);
}

/* bio: the verification gate always (it reads only the audit); subjects,
 * galleries and searches when the master key is given (--bio-key) */
typedef struct {
    bio_host host; /* what the routes and the gate borrow */
    bio_keyring *key;
} svc_bio;

static void svc__bio_free(void *self)
{
    svc_bio *sb = self;
    if (!sb)
        return;
    bio_service_free(sb->host.svc); /* the expiry sweep stops first */
    bio_key_free(sb->key);
    free(sb);
}

static cx_err svc__bio_start(app_services *a, void **self, char *err, size_t errlen)
{
    const app_config *cfg = app_services_config(a);
    svc_bio *sb = calloc(1, sizeof *sb);
    if (!sb) {
        snprintf(err, errlen, "out of memory");
        return CX_ENOMEM;
    }
    *self = sb;
    sb->host.s = app_services_store(a);
    sb->host.window_s = cfg->bio_verify_window_s;
    char why[400] = "";
    cx_err e = bio_gate_add(app_service(a, "declare"), &sb->host);
    if (!e && cfg->bio_key) {
        bio_config bc = {.alerts = app_service(a, "alert")};
        e = bio_key_load(cfg->bio_key, &sb->key, why, sizeof why);
        if (!e)
            e = bio_service_new(sb->host.s, sb->key, &bc, &sb->host.svc, why, sizeof why);
        if (!e)
            e = bio_service_start(sb->host.svc, 60);
    }
    if (e) {
        snprintf(err, errlen, "biometrics: %s", why[0] ? why : cx_strerror(e));
        svc__bio_free(sb);
        *self = NULL;
    }
    return e;
}

static cx_err svc__bio_routes(void *self, http_server *srv)
{
    return bio_routes(&((svc_bio *)self)->host, srv);
}

static void svc__bio_stop(void *self)
{
    bio_service_stop(((svc_bio *)self)->host.svc);
}

static const app_service_def services[] = {
    {"declare", svc__declare_start, svc__declare_routes, NULL, NULL, svc__declare_free},
    {"alert", svc__alert_start, svc__alert_routes, NULL, svc__alert_stop, svc__alert_free},
    {"risk", svc__risk_start, svc__risk_routes, NULL, svc__risk_stop, svc__risk_free},
    {"ledger", svc__ledger_start, svc__ledger_routes, NULL, svc__ledger_stop, svc__ledger_free},
    {"track", svc__track_start, svc__track_routes, svc__track_open, svc__track_stop,
     svc__track_free},
    {"drones", svc__drones_start, svc__drones_routes, NULL, svc__drones_stop,
     svc__drones_free},
    {"designs", svc__designs_start, svc__designs_routes, NULL, NULL, svc__designs_free},
    {"xray", svc__xray_start, svc__xray_routes, NULL, NULL, svc__xray_free},
    {"inspect", svc__inspect_start, svc__inspect_routes, NULL, svc__inspect_stop,
     svc__inspect_free},
    {"revenue", svc__revenue_start, svc__revenue_routes, NULL, svc__revenue_stop,
     svc__revenue_free},
    {"bio", svc__bio_start, svc__bio_routes, NULL, svc__bio_stop, svc__bio_free},
};
#define NSERVICES (sizeof services / sizeof services[0])

/* ---- the lifecycle ------------------------------------------------------------ */

struct app_services {
    const app_config *cfg;
    store *store;
    http_server *srv;
    void *self[NSERVICES];
    size_t started; /* services[0..started) are running */
};

void *app_service(app_services *a, const char *name)
{
    for (size_t i = 0; i < a->started; i++)
        if (strcmp(services[i].name, name) == 0)
            return a->self[i];
    return NULL;
}

store *app_services_store(app_services *a)
{
    return a->store;
}

http_server *app_services_http(app_services *a)
{
    return a->srv;
}

const app_config *app_services_config(app_services *a)
{
    return a->cfg;
}

static void h_healthz(http_req *r, void *ctx)
{
    /* a networked ledger says how it is (catching up, a fork, …) */
    json_t *lg = ledger_net_health(app_service(ctx, "ledger"));
    if (!lg) {
        static const char ok[] = "{\"status\":\"ok\"}";
        http_reply_copy(r, 200, "application/json", ok, sizeof ok - 1);
        return;
    }
    const char *state = json_string_value(json_object_get(lg, "state"));
    http_reply_json(r, 200, json_pack("{s:s,s:o}", "status",
                                      state && strcmp(state, "ok") == 0 ? "ok" : "degraded",
                                      "ledger", lg));
}

static void h_metrics(http_req *r, void *ctx)
{
    cx_buf out;
    cx_buf_init(&out, (size_t)16 << 20);
    http_metrics_render(ctx, &out);
    http_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &out);
}

static void svc__store_metrics(void *ctx, cx_buf *out)
{
    store_stats st;
    store_get_stats(ctx, &st);
    cx_err e = cx_buf_puts(out, "# HELP customs_store_commit_batch_size Jobs committed per "
                                "transaction (group commit).\n"
                                "# TYPE customs_store_commit_batch_size histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < 12 && e == CX_OK; b++) {
        cum += st.batch_hist[b];
        if (b < 11)
            e = cx_buf_printf(out, "customs_store_commit_batch_size_bucket{le=\"%u\"} %llu\n",
                              store_batch_bounds[b], (unsigned long long)cum);
        else
            e = cx_buf_printf(out, "customs_store_commit_batch_size_bucket{le=\"+Inf\"} %llu\n",
                              (unsigned long long)cum);
    }
    if (e == CX_OK)
        e = cx_buf_printf(out,
                          "customs_store_commit_batch_size_sum %llu\n"
                          "customs_store_commit_batch_size_count %llu\n"
                          "# HELP customs_store_commits_failed_total Transactions that failed to "
                          "commit.\n"
                          "# TYPE customs_store_commits_failed_total counter\n"
                          "customs_store_commits_failed_total %llu\n"
                          "# HELP customs_store_checkpoints_total WAL checkpoints run by the "
                          "checkpointer thread.\n"
                          "# TYPE customs_store_checkpoints_total counter\n"
                          "customs_store_checkpoints_total %llu\n"
                          "# HELP customs_store_writer_checkpoints_total WAL checkpoints the "
                          "writer ran itself (the WAL outgrew the checkpointer).\n"
                          "# TYPE customs_store_writer_checkpoints_total counter\n"
                          "customs_store_writer_checkpoints_total %llu\n"
                          "# HELP customs_store_read_vm_steps_total SQLite virtual-machine "
                          "steps run by the readers (counted by 1,000s): what requests read.\n"
                          "# TYPE customs_store_read_vm_steps_total counter\n"
                          "customs_store_read_vm_steps_total %llu\n",
                          (unsigned long long)st.batch_sum, (unsigned long long)st.commits,
                          (unsigned long long)st.failed_commits,
                          (unsigned long long)st.checkpoints,
                          (unsigned long long)st.writer_checkpoints,
                          (unsigned long long)st.read_vm_steps);
    (void)e; /* a failed buffer answers for itself (h_metrics) */
}

static cx_err svc__routes(app_services *a, char *err, size_t errlen)
{
    static const http_route_def base[] = {
        {"GET", "/healthz", 0, h_healthz, NULL},
    };
    static const http_route_def metrics[] = {
        {"GET", "/metrics", HTTP_METRICS, h_metrics, NULL},
    };
    cx_err e = http_routes(a->srv, base, 1, a);
    if (!e)
        e = http_routes(a->srv, metrics, 1, a->srv);
    for (size_t i = 0; !e && i < a->started; i++)
        if (services[i].routes && (e = services[i].routes(a->self[i], a->srv)) != CX_OK)
            snprintf(err, errlen, "cannot set up the routes of %s: %s", services[i].name,
                     cx_strerror(e));
    /* The console's catch-all file route goes last: API routes win. */
    if (!e)
        e = web_routes(a->srv, a->cfg->web_dir ? a->cfg->web_dir : web_default_dir());
    if (e && !err[0])
        snprintf(err, errlen, "cannot set up routes: %s", cx_strerror(e));
    http_add_metrics(a->srv, svc__store_metrics, a->store);
    return e;
}

cx_err app_services_start(const app_config *cfg, app_services **out, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    app_services *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return CX_ENOMEM;
    }
    a->cfg = cfg;
    cx_err e = app_open_store(cfg->db, &a->store, err, errlen);
    if (e == CX_OK)
        e = http_server_new(&cfg->http, &a->srv, err, errlen);
    if (e == CX_OK)
        http_set_auth(a->srv, auth_lookup, a->store);
    for (size_t i = 0; e == CX_OK && i < NSERVICES; i++) {
        e = services[i].start(a, &a->self[i], err, errlen);
        if (e == CX_OK)
            a->started = i + 1;
        else if (!err[0])
            snprintf(err, errlen, "%s: %s", services[i].name, cx_strerror(e));
    }
    if (e == CX_OK)
        e = svc__routes(a, err, errlen);
    if (e == CX_OK && !cfg->routes_only)
        e = http_server_start(a->srv, err, errlen);
    for (size_t i = 0; e == CX_OK && !cfg->routes_only && i < a->started; i++)
        if (services[i].open)
            e = services[i].open(a->self[i], cfg, err, errlen);
    if (e != CX_OK) {
        app_services_stop(a);
        return e;
    }
    *out = a;
    return CX_OK;
}

void app_services_stop(app_services *a)
{
    if (!a)
        return;
    if (a->srv)
        http_server_drain(a->srv, 10000); /* stop accepting; requests in flight finish */
    for (size_t i = a->started; i-- > 0;)
        if (services[i].stop)
            services[i].stop(a->self[i]);
    if (a->store)
        store_drain(a->store); /* every queued job done, while the services still exist */
    http_server_free(a->srv);  /* no handler or stream runs after this */
    for (size_t i = a->started; i-- > 0;)
        if (services[i].free)
            services[i].free(a->self[i]);
    store_free(a->store);
    free(a);
}
