/*
 * alert.h — the door of the alert module: one alerting service for every
 * module. It owns the alerts (table alerts and its org list), the routes
 * GET /v1/alerts, GET /v1/alerts/{id}, POST /v1/alerts/{id}/ack and the
 * Server-Sent Events stream GET /v1/alerts/stream. Public names carry the
 * prefix alert_. docs/alerts.md has the API.
 *
 * An alert says that something happened to a subject: a device, container,
 * consignment, drone, ledger, scan … (the subject kind is a short word the
 * raising module chooses, its id the subject's id in that module). Its type
 * is the raising module's word for what happened ("seal_opened",
 * "drone_incursion", "ledger_fork"), its severity info, warning or critical,
 * its time the event's own time. It may carry a position, the declarations
 * it concerns, and a detail object of the module's own members. Officers and
 * admins see every alert; a carrier sees those that name its organisation.
 *
 * Raising. A module raises from inside its own writer job with
 * alert_raise_in, so that the alert is stored in the same transaction as
 * what caused it (the telemetry that broke a rule, the ledger entry that
 * shows a fork) and rolls back with it; subscribers of the stream get it
 * only after that transaction is durable, so what a client saw on the
 * stream is always in GET /v1/alerts. alert_raise is the same in a job of
 * its own, for callers outside the writer. Debouncing (one alert per
 * episode, not per message) is the raising module's business.
 *
 *   // at start: the types this module raises (?type= filters on them)
 *   static const char *const kinds[] = {"drone", NULL};
 *   static const char *const types[] = {"drone_incursion", "drone_lost", NULL};
 *   alert_register(alerts, kinds, types);
 *
 *   // in a writer job (w), when a drone enters a restricted zone
 *   json_t *detail = json_pack("{s:s,s:f}", "zone", "PORT-BUSAN", "altitude_m", 120.0);
 *   alert_new n = {
 *       .type = "drone_incursion", .severity = ALERT_CRITICAL, .time_ms = seen_ms,
 *       .subject_kind = "drone", .subject_id = uas_id, .drone = uas_id,
 *       .lat = lat, .lon = lon, .detail = detail,
 *   };
 *   cx_err e = alert_raise_in(alerts, w, &n, NULL);
 *   json_decref(detail);
 *
 * Drone alerts have device, container and consignment null and a "drone"
 * member; ledger alerts (ledger_fork) have none of these and name the
 * ledger as their subject. The alert as the API shows it:
 *   {"id","seq","type","severity","time","created_at","device","container",
 *    "consignment","declarations","lat","lon","detail","subject":{"kind","id"},
 *    "drone","acked_at","acked_by"}
 */
#ifndef CUSTOMS_ALERT_H
#define CUSTOMS_ALERT_H

#include "core.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

typedef enum { ALERT_INFO, ALERT_WARNING, ALERT_CRITICAL, ALERT_SEV__COUNT } alert_severity;
const char *alert_severity_name(alert_severity s); /* "info", "warning", "critical" */
bool alert_severity_parse(const char *s, alert_severity *out);

#define ALERT_NAME_MAX 32 /* types and subject kinds: 1..32 of a-z 0-9 _ */
#define ALERT_ID_MAX 128  /* subject ids and the shown references: 1..128 bytes of UTF-8 */
#define ALERT_MAX_ORGS 4

typedef struct alert_service alert_service;

/* The alerts table and its indexes. Other modules' migrations that hand
 * alerts over (track's did) run after it. */
cx_err alert_migrate(store *s, char *err, size_t errlen);

typedef struct {
    int64_t heartbeat_s; /* a comment line on every stream this often (0 = 15) */
} alert_config;

/* Starts the service (its stream's hub, with its heartbeat thread). s is borrowed and must outlive
 * it. *out is freed with alert_service_free. */
cx_err alert_service_new(store *s, const alert_config *cfg, alert_service **out);
/* Stops the heartbeats and ends the streams; safe to call twice. */
void alert_service_stop(alert_service *a);
/* Stops if needed and frees; streams must be gone (http_server_free first).
 * NULL is a no-op. */
void alert_service_free(alert_service *a);

/* The subject kinds and types a module raises, each NULL-terminated (either
 * may be NULL). Names are 1..32 of a-z 0-9 _. The kinds device, container,
 * consignment, drone, ledger, scan, declaration and design are known from
 * the start. Only registered words are accepted by alert_raise* and by the
 * ?subject= and ?type= filters. CX_EINVAL for a bad name, CX_ENOMEM. */
cx_err alert_register(alert_service *a, const char *const *kinds, const char *const *types);

typedef struct {
    const char *type;          /* registered type */
    alert_severity severity;
    int64_t time_ms;           /* when it happened: the event's time */
    const char *subject_kind;  /* registered kind */
    const char *subject_id;    /* the subject's id in its module */
    /* References shown as members (NULL: null); device and consignment are
     * also filters of the list (?device=, ?consignment=), drone of both the
     * list and the stream (?drone=). */
    const char *device, *container, *consignment, *drone;
    double lat, lon;           /* NAN: unknown (both or neither) */
    const json_t *declarations; /* array of declaration ids, or NULL (= []) */
    const json_t *detail;      /* object of the module's members, or NULL (= {}) */
    /* Besides officers and admins, the organisations that may see it. */
    const char *orgs[ALERT_MAX_ORGS];
} alert_new;

/* What was stored: the alert's seq (its order, and the stream's event id)
 * and id. */
typedef struct {
    int64_t seq;
    char id[CX_ID_LEN + 1];
} alert_ref;

/* Stores an alert inside the caller's writer job (w: the writer's
 * connection), in the job's savepoint: it commits or rolls back with the
 * job, and is published to the stream only once the job's transaction is
 * durable (store_after_commit). out may be NULL. CX_EINVAL names nothing
 * in particular: check the fields against the rules above. Runs on the
 * writer thread: everything it is given is copied. */
cx_err alert_raise_in(alert_service *a, store_conn *w, const alert_new *n, alert_ref *out);
/* The same in a writer job of its own; blocks until durable. */
cx_err alert_raise(alert_service *a, const alert_new *n, alert_ref *out);

/* Raises the severity of the latest alert of this subject (kind, id) and
 * type to sev, inside the caller's writer job, and merges the members of
 * detail (may be NULL) into its detail: an episode that turned worse stays
 * one alert (drones: a drop pattern followed by a border crossing). Once
 * durable, the stream sends "event: update" with the whole alert (no id:
 * the alert keeps its seq). CX_ENOTFOUND when there is no such alert. */
cx_err alert_escalate_in(alert_service *a, store_conn *w, const char *kind, const char *subject,
                         const char *type, alert_severity sev, const json_t *detail,
                         alert_ref *out);

/* ---- reading alerts in other modules -------------------------------------------- */
typedef struct {
    const char *consignment; /* NULL: any */
    const char *device;      /* NULL: any */
    const char *drone;       /* NULL: any */
    int64_t from_ms, to_ms;  /* event time, inclusive; to_ms 0 = no bound */
    bool newest_first;       /* the window's newest alerts first */
} alert_filter;
typedef struct {
    int64_t seq;
    int64_t time_ms;
    double lat, lon;   /* NAN when unknown */
    const char *json;  /* the alert as the API shows it */
    size_t len;
} alert_row;
/* Calls fn for each matching alert in event-time order (ties in seq order),
 * oldest first or, with newest_first, newest first, on c (this thread's
 * reader, or the writer's connection in a job), until fn returns false. A
 * window is read by a (subject, time) index: what a subject raised outside
 * it is not read. Strings live only during the call. At most 100,000 rows. */
cx_err alert_each(store_conn *c, const alert_filter *f, bool (*fn)(void *ctx, const alert_row *r),
                  void *ctx);

/* GET /v1/alerts, GET /v1/alerts/{id}, POST /v1/alerts/{id}/ack,
 * GET /v1/alerts/stream; metrics. */
cx_err alert_routes(alert_service *a, http_server *srv);

#endif
