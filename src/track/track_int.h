/* Internal to the track module: shared by its files, never included elsewhere. */
#ifndef CUSTOMS_TRACK_INT_H
#define CUSTOMS_TRACK_INT_H

#include "track.h"

#include <geos_c.h>

/* ---- GEOS ------------------------------------------------------------------------ */
/* This thread's GEOS context (created on first use, finished at thread exit). */
GEOSContextHandle_t track__geos(void);
/* Finishes this thread's context now (threads that end before the process). */
void track__geos_release(void);

typedef struct {
    double minx, miny, maxx, maxy;
} track_env;
size_t track__shape_parts(const track_shape *s, const track_env **parts);
bool track__shape_covers_pt(GEOSContextHandle_t h, const track_shape *s, const GEOSGeometry *pt);
double track__shape_route_distance(GEOSContextHandle_t h, const track_shape *s, double lat,
                                   double lon);
int track__shift_cb(double *x, double *y, void *ud);

/* cx_problem_add, but nothing once problems holds 50 (geo.c). */
void track__problem(json_t *problems, const char *path, const char *fmt, ...) CX_PRINTF(3, 4);
void track__reject(track_reject *why, const char *code, const char *fmt, ...) CX_PRINTF(3, 4);
/* RFC 3339 string or epoch-ms number. */
cx_err track__parse_ts(const json_t *v, int64_t *ms);
/* One telemetry object from JSON text: a fast path for the flat shape
 * trackers send, jansson for anything else; same answers either way. */
cx_err track__decode_text(const char *text, size_t len, int64_t now_ms, int64_t skew_ms,
                          const char *ptr, track_msg *out, track_reject *why);

/* Hash maps (ids, containers, keys) are core's cx_map: keyed SipHash. */

/* ---- engine internals used by the service ------------------------------------------ */
/* A device whose state changed since the last call: its latest report and
 * the opaque rule state to persist. */
typedef struct {
    int64_t key;
    const char *id;
    const char *org;
    const char *container;   /* or NULL */
    const char *consignment; /* in transit, or NULL */
    int64_t ts_ms;
    double lat, lon, speed_kmh, heading, temp_c, battery_pct;
    uint8_t seal, door;
    int64_t recv_us;
    const void *state;
    size_t state_len;
} track_dirty_dev;
typedef void (*track_dirty_dev_fn)(void *ctx, const track_dirty_dev *d);
typedef void (*track_dirty_cons_fn)(void *ctx, int64_t key, int64_t arrived_ms,
                                    bool overdue_fired);
/* Hands out devices whose rule state changed, and those with position-only
 * changes older than 10 s (all of them when all is true). */
void track__engine_take_dirty(track_engine *e, bool all, track_dirty_dev_fn dev,
                              track_dirty_cons_fn cons, void *ctx);
/* Restores a device's rule state saved from a dirty record. */
void track__engine_restore(track_engine *e, int64_t key, const void *state, size_t len);
/* track_engine_process with one device lookup for the service: the
 * device's key comes back in *key, and a device outside only_org (when not
 * NULL) or not bound to the API key only_key (when not 0) is refused with
 * TRACK__FORBIDDEN before any rule runs. */
#define TRACK__FORBIDDEN 100
track_outcome track__engine_apply(track_engine *e, const track_msg *m, int64_t recv_us,
                                  const char *only_org, int64_t only_key, int64_t *key,
                                  track_alert_fn fn, void *ctx);
/* Latest per-message extras the service needs. */
const char *track__engine_device_container(const track_engine *e, int64_t key);
size_t track__engine_ndevices(const track_engine *e);
size_t track__engine_nzones(const track_engine *e);
size_t track__engine_nconsignments(const track_engine *e);

/* Shapes are reference-counted so consignments on the same route share
 * one corridor; track_shape_free drops a reference. */
track_shape *track__shape_ref(track_shape *s);

/* ---- the pipeline ------------------------------------------------------------------- */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum { TRACK_SRC_MQTT, TRACK_SRC_OSMAND, TRACK_SRC_HTTP, TRACK_SRC__COUNT };
/* Rows of aggregated (unauthenticated) dead letters, one per reason and
 * device; past it, one per reason for every other device. */
#define TRACK_DEAD_AGG_MAX 1000
extern const char *const track_src_names[TRACK_SRC__COUNT];

/* Refusal reasons counted in metrics (dead_letters.reason). */
enum {
    TRACK_R_MALFORMED_JSON, TRACK_R_NOT_OBJECT, TRACK_R_MISSING_FIELD, TRACK_R_BAD_FIELD,
    TRACK_R_BAD_DEVICE, TRACK_R_BAD_COORDINATES, TRACK_R_BAD_TIMESTAMP,
    TRACK_R_FUTURE_TIMESTAMP, TRACK_R_INVALID_FIX, TRACK_R_UNKNOWN_DEVICE,
    TRACK_R_FORBIDDEN_DEVICE, TRACK_R_TOPIC_MISMATCH, TRACK_R_TOO_LARGE, TRACK_R_BAD_KEY,
    TRACK_R_OTHER,
    TRACK_R__COUNT
};
extern const char *const track_reason_names[TRACK_R__COUNT];
int track__reason_index(const char *code);

/* A request waiting for its messages to be durable. The pipeline records
 * each message's outcome and calls done (on the writer thread) once the last
 * one is committed; done answers and frees (track__waiter_free). */
enum { TRACK_OUT_ACCEPTED, TRACK_OUT_DUPLICATE, TRACK_OUT_LATE, TRACK_OUT_REJECTED };
typedef struct track_waiter {
    void (*done)(struct track_waiter *w);
    http_req *req;
    bool osmand;
    bool whole_body;             /* the body itself was refused (400 after storing it) */
    bool restricted;             /* device/carrier key: only its org's devices */
    char org[CX_ORG_MAX + 1];
    int64_t key_id;              /* device key: only the devices bound to it; else 0 */
    uint32_t n;
    _Atomic int64_t pending;     /* entries not yet committed */
    _Atomic bool failed;
    uint8_t *outcome;            /* per entry */
    char (*code)[32];            /* per entry, for rejections */
    char (*message)[200];
} track_waiter;

typedef struct {
    char code[32];
    char message[200];
    char device[TRACK_ID_MAX + 1];
    char *payload; /* malloc'ed, capped */
} track_dead;

enum { TRACK_ENT_MSG, TRACK_ENT_DEAD };
typedef struct {
    uint8_t kind, source;
    uint32_t widx;
    track_msg m;
    int64_t recv_us;
    uint64_t mqtt_seq; /* 0 when not from MQTT */
    track_waiter *w;
    track_dead *dead;
} track_entry;

/* Commands applied on the engine thread, in order with messages. */
enum { TRACK_CMD_ZONE, TRACK_CMD_DEVICE, TRACK_CMD_CONS };
typedef struct track_cmd {
    int kind;
    struct track_cmd *next;
    int64_t key;
    char id[TRACK_ID_MAX + 1], org[CX_ORG_MAX + 1], container[16];
    int64_t key_id; /* device: the device key bound to it, 0 if none */
    char *name;
    track_zone_kind zkind;
    track_device_kind dkind;
    double tmin, tmax;
    track_shape *shape;
    json_t *doc; /* consignment document */
    int64_t created_ms, arrived_ms;
    bool overdue_fired;
} track_cmd;

typedef struct track_service track_service;
typedef struct track_poshub track_poshub;
typedef struct track_mqtt track_mqtt;
typedef struct track_batch track_batch;

struct track_service {
    store *store;
    decl_service *decl;
    alert_service *alerts_svc;
    track_config cfg;
    track_engine *engine; /* engine thread only, after start */

    pthread_mutex_t qmu;
    pthread_cond_t q_data, q_space;
    track_entry *ring;
    size_t qcap, qhead, qlen;
    track_cmd *cmd_head, *cmd_tail;
    bool stopping;
    bool stopped;
    pthread_t engine_thread;
    bool engine_started;

    pthread_mutex_t bmu;
    pthread_cond_t bcv;
    track_batch *free_batches;
    int batches_out;
    int inflight; /* batches handed to the writer and not done (under qmu) */

    void *consinfo;            /* engine thread: declarations per consignment */

    track_poshub *positions;
    track_mqtt *mqtt;

    /* corridor cache: route + width -> shape (service.c) */
    pthread_mutex_t cmu;
    void *corridors; /* cx_map of corridor entries */
    _Atomic uint64_t m_corridors_built, m_corridors_read; /* from routes, from stored GeoJSON */

    /* escalation of critical alerts to declarations */
    pthread_mutex_t emu;
    pthread_cond_t ecv;
    void *esc_head, *esc_tail;
    bool esc_stop;
    pthread_t esc_thread;
    bool esc_started;

    /* heartbeats and position ticks */
    pthread_t ticker;
    bool ticker_started;
    pthread_mutex_t tmu;
    pthread_cond_t tcv;
    bool ticker_stop;

    /* the journal indexer (positions.c) */
    pthread_t idx_thread;
    bool idx_started, idx_stop;
    pthread_mutex_t imu;
    pthread_cond_t icv;
    _Atomic int64_t journal_pending;

    /* MQTT acknowledgement: highest MQTT sequence number that is durable */
    _Atomic uint64_t mqtt_committed;
    _Atomic bool mqtt_commit_failed;
    /* other modules' topics on the same connection (track_mqtt_subscribe):
     * their messages are acknowledged once none is pending */
    struct {
        char prefix[64];
        track_mqtt_fn fn;
        void *ctx;
    } mqtt_subs[TRACK_MQTT_SUBS];
    size_t mqtt_nsubs;
    /* other modules told of each zone created (track_zones_watch) */
    struct {
        track_zone_fn fn;
        void *ctx;
    } zone_watch[TRACK_ZONE_WATCHERS];
    size_t nzone_watch;
    _Atomic uint64_t mqtt_foreign_pending;
    pthread_mutex_t mmu;
    pthread_cond_t mcv;

    /* Once a batch is durable (writer thread), after the waiters' done:
     * what the rest of the service does with it (service.c), and the MQTT
     * acknowledgements (mqtt.c). Set before the engine starts. */
    void (*committed)(track_service *t, track_batch *b, bool ok);
    void (*acked)(track_service *t, uint64_t mqtt_seq, bool ok);

    /* metrics */
    _Atomic uint64_t m_msgs[TRACK_SRC__COUNT];
    _Atomic uint64_t m_dead[TRACK_R__COUNT];
    _Atomic uint64_t m_alerts[TRACK_A__COUNT][TRACK_SEV__COUNT];
    _Atomic uint64_t m_late, m_dup, m_batches, m_batch_failed, m_positions;
    _Atomic uint64_t m_escalations, m_escalation_failed;
    _Atomic uint64_t m_lat_hist[16], m_lat_sum_us, m_lat_count;
    _Atomic int64_t m_queue_hwm;
};

/* Queue entries for the engine. Blocks while the queue is full (up to
 * wait_ms; -1 = forever); CX_ESHUTDOWN when stopping, CX_EBUSY on timeout.
 * With a time limit it takes all or none; *taken (may be NULL) says how
 * many the queue took (and now owns). */
cx_err track__enqueue(track_service *t, const track_entry *e, size_t n, int wait_ms,
                      size_t *taken);
void track__command(track_service *t, track_cmd *c);
void track__cmd_free(track_cmd *c);
track_waiter *track__waiter_new(http_req *r, uint32_t n, const cx_principal *who, bool osmand,
                                void (*done)(track_waiter *w));
void track__waiter_free(track_waiter *w);

/* Builds (or reuses) the corridor for a route; returns a new reference and
 * its GeoJSON text (caller frees). stored: the corridor's GeoJSON as stored
 * (or NULL), read instead of building it when the route is not cached yet
 * (at start). NULL with problems. */
track_shape *track__corridor(track_service *t, const json_t *route, double width_m,
                             const char *stored, char **geojson, json_t *problems);
/* Routes whose corridor is cached. */
size_t track__corridors_cached(track_service *t);

/* Applies a command to the engine (engine thread, or the loading thread
 * before the engine starts). */
void track__apply(track_service *t, track_cmd *c);
void track__device_cmd(track_cmd *cmd, int64_t key, const json_t *doc);

/* storage (track_store.c): the schema and the batch job */
extern const store_migration track_migrations[];
extern const size_t track_nmigrations;
cx_err track__batch_write(store_conn *w, void *arg);

/* batches (pipeline.c) */
typedef struct {
    int64_t dev, ts;
    double lat, lon, speed, heading, temp, batt;
    uint8_t seal, door, src;
} track_pos_row;
/* An alert on its way to the alert module: built on the engine thread,
 * raised by the batch job on the writer thread (which owns it by then). */
typedef struct {
    int64_t time, dev;
    uint8_t type, sev;
    char org[CX_ORG_MAX + 1];
    char device[TRACK_ID_MAX + 1];      /* "" if none */
    char container[16];                 /* "" if none */
    char consignment[TRACK_ID_MAX + 1]; /* "" if none */
    double lat, lon;
    json_t *detail;
    json_t *decls;  /* the consignment's declarations; NULL when none */
    alert_ref ref;  /* filled by the batch job */
} track_alert_row;
typedef struct {
    int64_t recv_us;
    uint8_t src;
    track_dead d;
} track_dead_row;
typedef struct {
    int64_t dev, ts, recv;
    char id[TRACK_ID_MAX + 1];
    char org[CX_ORG_MAX + 1];
    char container[16];
    char consignment[TRACK_ID_MAX + 1];
    double lat, lon, speed, heading, temp, batt;
    uint8_t seal, door;
    size_t state_off, state_len;
} track_state_row;
typedef struct {
    int64_t key, arrived_ms;
    bool overdue;
} track_cons_row;

struct track_batch {
    store_job job;
    track_service *t;
    track_pos_row *pos;
    size_t npos, cappos;
    track_alert_row *alerts;
    size_t nalerts, capalerts;
    track_dead_row *dead;
    size_t ndead, capdead;
    track_state_row *state;
    size_t nstate, capstate;
    track_cons_row *cons;
    size_t ncons, capcons;
    unsigned char *arena;
    size_t alen, acap;
    struct {
        track_waiter *w;
        uint32_t n;
    } * waiters;
    size_t nwaiters, capwaiters;
    uint64_t mqtt_max;
    int64_t first_recv_us;
    track_batch *next_free;
};

/* the live positions feed (poshub.c) */
/* heartbeat_s: the comment line a quiet stream gets (0 = 15). */
track_poshub *track__poshub_new(unsigned heartbeat_s);
/* Ends every stream at its next pull (the service's stop); safe twice. */
void track__poshub_close(track_poshub *p);
/* Streams must be gone (http_server_free first). NULL is a no-op. */
void track__poshub_free(track_poshub *p);
/* Latest positions from a committed batch: device details from its state
 * rows, positions from its position rows. */
void track__poshub_update(track_poshub *p, const track_state_row *rows, size_t n,
                          const track_pos_row *pos, size_t npos);
/* Copies a device's latest position; false if none is known. */
bool track__poshub_get(track_poshub *p, int64_t key, track_state_row *out);
/* Wakes the streams: each pushes if its interval has come (every 250 ms). */
void track__poshub_tick(track_poshub *p);
/* One page of every visible device's latest position (in the order devices
 * first reported); *next is the cursor of the page after. */
void track__positions_page(track_poshub *p, const cx_principal *who, const http_page *page,
                           http_pager *pg, int64_t *next);
size_t track__poshub_clients(track_poshub *p);
void track__poshub_serve(track_poshub *p, http_req *r);

/* MQTT (mqtt.c) */
void track__mqtt_stop(track_mqtt *m);
void track__mqtt_free(track_mqtt *m);
void track__mqtt_metrics(track_mqtt *m, cx_buf *out);
/* The writer tells MQTT that messages up to seq are durable. */
void track__mqtt_committed(track_service *t, uint64_t seq, bool ok);

/* Decodes one MQTT payload (object or array) into entries (mqtt.c and the
 * fuzz target's seam). */
size_t track__decode_payload(const char *topic_device, const char *payload, size_t len,
                             int64_t now_ms, int64_t skew_ms, track_entry *out, size_t max);

/* A payload as storable text: itself if it is UTF-8 without NUL, else
 * "hex:" and its bytes in hex; capped at 1 KiB of input. Caller frees. */
char *track__payload_text(const char *p, size_t len);
/* Fills e as a dead letter from source src (why: code and message; the
 * device as given, NULL for none; the payload as track__payload_text keeps
 * it). e->dead is NULL when out of memory. */
void track__dead_entry(track_entry *e, uint8_t src, const char *code, const char *message,
                       const char *device, const char *payload, size_t len);

/* ---- the pipeline (pipeline.c) ------------------------------------------------------ */
void *track__engine_main(void *t); /* the engine thread */
void track__batch_free(track_batch *b);
/* Counts entry e of waiter w in the batch (released when it commits). */
void track__batch_waiter(track_batch *b, track_waiter *w);
void track__deadline(struct timespec *ts, int64_t mono_us);
void track__cond_init(pthread_cond_t *cv); /* on the monotonic clock */

/* ---- rows (rows.c): what the engine thread writes into a batch ---------------------- */
typedef struct {
    track_service *t;
    track_batch *b;
} track_alert_ctx;
void track__on_alert(void *ctx, const track_alert *a); /* a track_alert_fn; ctx: track_alert_ctx */
void track__entry(track_service *t, track_batch *b, track_entry *e);
void track__dirty_dev(void *ctx, const track_dirty_dev *d);                 /* ctx: the batch */
void track__dirty_cons(void *ctx, int64_t key, int64_t arrived_ms, bool overdue);
cx_err track__consinfo_new(track_service *t);
void track__consinfo_free(track_service *t);

/* escalation (service.c): a committed critical alert raises the lane of
 * its consignment's declarations */
void track__escalate(track_service *t, const char *alert_id, const char *type,
                     const char *consignment, int64_t time_ms, const json_t *decls);
/* The kinds and types track raises, for alert_register. */
extern const char *const track_alert_kinds[];
extern const char *const track_alert_types[];

/* journal indexer (positions.c) */
cx_err track__indexer_start(track_service *t);
void track__indexer_stop(track_service *t);
/* Moves (part of) the journal into track_positions now; reports read, -1 on error. */
int64_t track__index_once(store *s);

/* ---- the HTTP API (track_http.c, and a file per resource) --------------------------- */
#define TRACK_API_MAX_ITEMS 10000
/* Who reads devices, positions: officers, admins, and carriers (their org's). */
#define TRACK_READERS (CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_CARRIER))
/* The body as JSON; replies 400 invalid_json and returns NULL when it is not. */
json_t *track__api_parse(http_req *r);
/* 400 with code and "the <what> has N problems" (problems stolen). */
void track__api_problems(http_req *r, const char *code, const char *what, json_t *problems);
/* Hands job to the writer with r deferred; its done callback answers. When
 * the writer is stopping this answers 503 and returns false: the caller
 * then frees what the job owns. */
bool track__api_submit(track_service *t, http_req *r, store_job *job);
void track__api_unavailable(http_req *r);
/* One page of a list: st selects the row key first, takes ?1 (the cursor:
 * rows after it) and ?2 (the limit, plus one), and has its filters bound;
 * item appends each row's JSON (CX_EINVAL for a damaged row: 500); a
 * row that cannot be read fails the page (503). NULL st: 503. Replies
 * either way: never a 200 with the list cut short. */
typedef cx_err (*track_item_fn)(void *ctx, sqlite3_stmt *st, cx_buf *out);
void track__api_page(http_req *r, sqlite3_stmt *st, const http_page *page, track_item_fn item,
                     void *ctx);
cx_err track__device_routes(track_service *t, http_server *srv);
cx_err track__zone_routes(track_service *t, http_server *srv);
cx_err track__consignment_routes(track_service *t, http_server *srv);
cx_err track__replay_routes(track_service *t, http_server *srv);
cx_err track__telemetry_routes(track_service *t, http_server *srv);

/* A device's /osmand key as stored: 16 bytes of salt, then BLAKE2b-256
 * keyed with them (devices.c). */
#define TRACK_OKEY_SALT 16
#define TRACK_OKEY_HASH 32
#define TRACK_OKEY_LEN (TRACK_OKEY_SALT + TRACK_OKEY_HASH)
typedef struct {
    bool set;
    uint8_t v[TRACK_OKEY_LEN];
} track_okey;
void track__okey_new(const char *key, track_okey *out);
/* CX_OK with the stored key; CX_ENOTFOUND for a device without one or an
 * id that is not registered. */
cx_err track__okey_get(track_service *t, const char *device, uint8_t out[TRACK_OKEY_LEN]);
/* Does given match the stored key? Constant time; the same work whether or
 * not the device has a key. */
bool track__okey_matches(const uint8_t stored[TRACK_OKEY_LEN], bool have, const char *given);

/* A consignment row (consignments.c): its document (*doc, caller decrefs),
 * key, arrival, overdue flag and corridor GeoJSON (caller frees; may be
 * NULL). CX_ENOTFOUND: no such row; CX_EINVAL: its document does not read
 * back; CX_EDB, CX_ENOMEM. *doc is NULL unless CX_OK. */
cx_err track__cons_load(store_conn *c, const char *id, json_t **doc, int64_t *key,
                        int64_t *arrived, bool *overdue, char **corridor);
/* The consignment {id} of a request, or NULL after replying 404 (none),
 * 500 (it cannot be read) or 503 (no database connection). */
json_t *track__cons_request(http_req *r, track_service *t, store_conn **c, int64_t *arrived,
                            bool *overdue, char **corridor);
/* [{"key","id","container"}] of the devices on a consignment's containers
 * (caller decrefs), or NULL when they could not all be read. */
json_t *track__cons_devices(store_conn *c, const json_t *doc);

#endif
