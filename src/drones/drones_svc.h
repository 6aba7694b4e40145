/* The service side of the drones module (service.c, dstore.c, api.c,
 * stream.c): batches for the writer, the position stream. */
#ifndef CUSTOMS_DRONES_SVC_H
#define CUSTOMS_DRONES_SVC_H

#include "drones_int.h"
#include "alert.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    int64_t time_us, drone;
    uint8_t transport, mac[6];
    int rssi;
    bool have_rssi;
    uint8_t messages;
    size_t payload_off, payload_len;
} dobs_row;

typedef struct {
    int64_t drone;
    drones_fix f;
} dpos_row;

typedef struct {
    int64_t drone, time_us;
} dheard_row;

typedef struct {
    uint8_t transport, mac[6];
    int64_t drone;
} dmac_row;

typedef struct {
    char id[DRONES_ID_MAX];
    int64_t drone;
} dalias_row;

typedef struct {
    int64_t from, into;
} dmerge_row;

typedef struct {
    drones_alert_type type;
    drones_severity sev;
    int64_t time_us, drone_key;
    char drone[DRONES_ID_MAX];
    double lat, lon;
    bool escalation;
    char *detail; /* JSON text */
} dalert_row;

/* One writer job's worth of processed observations. Arrays grow; the batch
 * is reused after a commit. */
typedef struct dbatch {
    store_job job;
    alert_service *door; /* where the batch's alerts are raised (NULL: logged) */
    const char *receiver; /* borrowed for the batch's life */
    dobs_row *obs;
    size_t nobs, cobs;
    uint8_t *payload;
    size_t npayload, cpayload;
    dpos_row *pos, *pilots;
    size_t npos, cpos, npilots, cpilots;
    drones_state *drones;
    size_t ndrones, cdrones;
    drones_map drone_at; /* key -> index + 1 in drones */
    dmac_row *macs;
    size_t nmacs, cmacs;
    drones_map mac_seen;
    dalias_row *aliases;
    size_t naliases, caliases;
    dmerge_row *merges;
    size_t nmerges, cmerges;
    dheard_row *heard;
    size_t nheard, cheard;
    drones_map heard_at;
    dalert_row *alerts;
    size_t nalerts, calerts;
} dbatch;

void drones__batch_init(dbatch *b);
void drones__batch_reset(dbatch *b);
void drones__batch_free(dbatch *b);
cx_err drones__batch_write(store_conn *w, void *arg);

/* Runs one observation through the engine into the batch (payload copied). */
cx_err drones__observe(drones_engine *e, dbatch *b, const drones_obs *o, int rssi,
                       bool have_rssi, const uint8_t *payload, size_t len);

cx_err drones__load(store *s, drones_engine *e);
cx_err drones__registry_read(store *s, drones_registry **out);
double drones__col_real(sqlite3_stmt *st, int i);

/* A row of a (drone, time) table as a track reads it (height NaN: none). */
typedef struct {
    int64_t time;
    double lat, lon, h;
} drones_pt;
typedef void (*drones_pt_fn)(void *ctx, const drones_pt *p);

/* The overview of positions (overview.c): levels 1..DRONES_LOD_LEVELS keep
 * one position per 2^level seconds (drones migration 3 fills them for the
 * positions before it: keep its 20 in step). lod_add runs in the writer job
 * that stored a new position. lod_level: the finest level with at most
 * 2 * max buckets from first to last, or 0; lod_buckets: how many buckets
 * of level span first..last. lod_fill puts drone's rows of that level into
 * the empty slots (time INT64_MIN) of slot[bucket - first's bucket]; false
 * when the read failed. */
#define DRONES_LOD_LEVELS 20
cx_err drones__lod_add(store_conn *w, int64_t drone, int64_t time_us, double lat, double lon,
                       double height);
int drones__lod_level(int64_t first, int64_t last, int64_t max);
int64_t drones__lod_buckets(int level, int64_t first, int64_t last);
bool drones__lod_fill(store_conn *c, int64_t drone, int level, int64_t first, int64_t last,
                      drones_pt *slot);

/* Folds (fold.c): a thread moves the rows of folded drones in bounded
 * writer jobs until none waits, at start (what a restart left) and when
 * kicked after a batch that folded. init before anything may kick, start
 * once the store is readable, stop (safe twice) before the store drains,
 * destroy last. */
void drones__fold_init(drones_service *d);
cx_err drones__fold_start(drones_service *d);
void drones__fold_stop(drones_service *d);
void drones__fold_destroy(drones_service *d);
void drones__fold_kick(drones_service *d);

/* A track's read of one (drone, time) table (series.c). The statements take
 * ?1 drone, ?2..?3 the range, ?4 a limit and give time, lat, lon, height:
 * count_sql counts up to the limit, sql ascending by time, last_sql
 * descending. overview: positions, read from the overview when long. */
typedef struct {
    const char *count_sql, *sql, *last_sql;
    bool overview;
} drones_series_sql;
/* Calls fn, in time order, for drone's rows in [from, to] and those of the
 * drones still folding into it: all of them up to max, else max of them
 * (first and last exact); a time two keys have once. Run it inside a read
 * transaction (one snapshot). False when a statement or an allocation
 * failed: what fn was given is then not the whole answer. */
bool drones__series(store_conn *c, const drones_series_sql *q, int64_t drone, int64_t from,
                    int64_t to, int64_t max, drones_pt_fn fn, void *ctx);

/* ---- the live position stream (stream.c) ---------------------------------------------------- */
typedef struct drones_hub drones_hub;
drones_hub *drones__hub_new(void);
void drones__hub_free(drones_hub *h);
/* Publishes a position if the drone's last one went out a second or more
 * (event time) before. */
void drones__hub_position(drones_hub *h, const drones_state *s, int64_t time_us);
/* Ends every stream at its next pull (the service's stop); safe twice. */
void drones__hub_close(drones_hub *h);
void drones__hub_serve(drones_hub *h, http_req *r);

struct drones_service {
    store *store;
    drones_config cfg;
    pthread_mutex_t mu; /* the engine, the registry and the order of jobs */
    drones_engine *engine;
    drones_registry *registry;
    alert_service *alerts; /* the shared alerting door (NULL: alerts are logged) */
    /* zones created while running (drones_service_zone), copied as text
     * until the next batch adds them to the engine under mu */
    pthread_mutex_t zone_mu;
    struct dzone *zones_new;
    _Atomic bool zones_changed;
    drones_alert_sink tap; /* a copy of each alert once durable (import --alerts) */
    drones_hub *hub;
    /* folds (fold.c): a thread moves folded drones' rows */
    pthread_t folder;
    bool folder_on, fold_stop, fold_kick; /* under fold_mu */
    pthread_mutex_t fold_mu;
    pthread_cond_t fold_cv;
    _Atomic uint64_t fold_jobs; /* writer jobs that moved folded rows */
    uint64_t obs_total, rejected_total; /* under mu */
    _Atomic uint64_t alerts_total;     /* counted on the writer thread */
};

/* Adds the zones created since the last call to the engine; mu held. */
void drones__zones_apply(drones_service *d);

/* Raises the batch's alerts through the alerting door (alerts.c), inside
 * the batch's writer job; an escalation raises the earlier alert. */
cx_err drones__raise_alerts(store_conn *w, dbatch *b);
/* After the commit: counts, the tap (import --alerts), or the log. */
void drones__deliver_alerts(drones_service *d, dbatch *b);
/* The alert types and subject kind, registered with the door. */
cx_err drones__alert_register(alert_service *a);

#endif
