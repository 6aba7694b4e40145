/*
 * track.h — the door of the tracking module: containers and e-seals in real
 * time. Devices, zones (GeoJSON polygons) and consignments (a declared route
 * with a corridor in metres); telemetry from MQTT, Traccar/OsmAnd-compatible
 * HTTP and batch JSON, all through one pipeline; rules that turn telemetry
 * into alerts; alerts and live positions over Server-Sent Events; replay as
 * GeoJSON; retention; a simulator. Public names carry the prefix track_.
 *
 * Geometry is GEOS (reentrant API, prepared geometries, STRtree). Zones are
 * tested in longitude/latitude, where RFC 7946 defines their edges; corridors
 * are buffered in metres in local azimuthal equidistant projections and
 * brought back to longitude/latitude, so a point test is one prepared
 * intersects per shape. The antimeridian is handled by cutting shapes into
 * pieces on either side of it.
 *
 * Threads: decoders run wherever a message arrives; one engine thread owns
 * every rule state; the store's writer commits batches; alerts are published
 * only after their batch is durable. See docs/track.md.
 */
#ifndef CUSTOMS_TRACK_H
#define CUSTOMS_TRACK_H

#include "alert.h"
#include "core.h"
#include "declare.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

#define TRACK_ID_MAX 64 /* device, zone and consignment ids: 1..64 of A-Z a-z 0-9 . _ : - */

bool track_id_valid(const char *s);

/* ---- thresholds (docs/track.md lists them with their defaults) ------------ */
typedef struct {
    int64_t zone_debounce_s;     /* time inside/outside before enter/exit fires (30) */
    int64_t corridor_grace_s;    /* outside the corridor this long = deviation (120) */
    int64_t corridor_return_s;   /* back inside this long ends the episode (60) */
    double corridor_critical_m;  /* a deviation this far from the route is critical (10000) */
    int64_t stop_min_s;          /* stationary this long outside allowed zones (1200) */
    double stop_radius_m;        /* "stationary" = within this radius (150) */
    int64_t signal_loss_s;       /* no report for this long (900) */
    double jump_max_kmh;         /* implied speed above this is impossible (250) */
    double jump_min_m;           /* ...for jumps longer than this (2000) */
    int64_t jump_episode_s;      /* further jumps within this window: same episode (600) */
    int64_t temp_grace_s;        /* out of the declared range this long (300) */
    int64_t overdue_grace_s;     /* after expected_arrival (1800) */
    int64_t future_skew_s;       /* event times further ahead of the clock are rejected (300) */
    int64_t osmand_future_skew_s; /* ...for /osmand reports without a device key (30) */
    int64_t retention_days;      /* raw positions kept this long, then thinned (30) */
    int64_t thin_interval_s;     /* thinned: one position per device per interval (300) */
    int64_t dead_letter_days;    /* dead letters kept this long (30) */
    int64_t heartbeat_s;         /* SSE comment line this often (15) */
} track_config;

void track_config_defaults(track_config *c);
/* Applies the members of a JSON object (names as above) over c. Unknown
 * members and bad values are appended to problems as {path, message};
 * returns true if there were none. */
bool track_config_apply(track_config *c, const json_t *obj, json_t *problems);
/* Reads a JSON file of overrides; a sentence in err on failure. */
cx_err track_config_load(track_config *c, const char *path, char *err, size_t errlen);
/* The effective thresholds as a JSON object (caller decrefs). */
json_t *track_config_json(const track_config *c);

/* ---- telemetry ---------------------------------------------------------------- */
typedef enum { TRACK_SEAL_NONE = 0, TRACK_SEAL_CLOSED, TRACK_SEAL_OPEN, TRACK_SEAL_TAMPERED } track_seal;
typedef enum { TRACK_DOOR_NONE = 0, TRACK_DOOR_CLOSED, TRACK_DOOR_OPEN } track_door;

/* One position report. Optional numbers are NAN when absent. */
typedef struct {
    char device[TRACK_ID_MAX + 1];
    int64_t ts_ms; /* event time: the device's own clock, ms since the epoch */
    double lat, lon;
    double speed_kmh, heading, temp_c, battery_pct;
    uint8_t seal, door; /* track_seal, track_door */
} track_msg;

/* Why a message was refused: a stable code (dead_letters.reason, metrics
 * label) and a sentence naming the field. */
typedef struct {
    char code[32];
    char message[200];
} track_reject;

/* Decodes one telemetry object: {"device","ts" (RFC 3339 or epoch ms),"lat",
 * "lon","speed_kmh","heading","seal","door","temp_c","battery_pct"}. now_ms is
 * the clock used for "far in the future". Returns CX_OK or CX_EPARSE with
 * why filled. ptr prefixes the JSON Pointer in messages ("" or "/3"). */
cx_err track_decode_object(const json_t *obj, int64_t now_ms, int64_t future_skew_ms,
                           const char *ptr, track_msg *out, track_reject *why);
/* Same for JSON text (one object). */
cx_err track_decode_json(const char *text, size_t len, int64_t now_ms, int64_t future_skew_ms,
                         track_msg *out, track_reject *why);

/* The fastest a tracked thing reports (km/h): a faster report is a broken
 * or forged fix, refused by every decoder. */
#define TRACK_SPEED_MAX_KMH 2100.0

/* Traccar/OsmAnd: parameters arrive one by one (query string, form body),
 * or as the JSON body newer Traccar clients send. Speed is in knots, as
 * Traccar reads it; timestamp is epoch seconds, epoch ms, ISO 8601 or
 * "yyyy-MM-dd HH:mm:ss" (UTC); a missing timestamp means now. */
#define TRACK_OSMAND_KEY_MIN 16  /* a device's /osmand key: 16-128 of A-Z a-z 0-9 - . _ ~ */
#define TRACK_OSMAND_KEY_MAX 128
bool track_osmand_key_valid(const char *s);

typedef struct {
    track_msg m;
    char key[TRACK_OSMAND_KEY_MAX + 1]; /* the key= parameter ("" if absent or too long) */
    bool have_id, have_lat, have_lon, invalid;
    int64_t ts_ms;
    track_reject why; /* first problem seen */
    bool bad;
} track_osmand;
void track_osmand_begin(track_osmand *o);
void track_osmand_param(track_osmand *o, const char *key, const char *value);
/* Splits a=b&c=d (percent and + decoding) and feeds each pair. */
void track_osmand_query(track_osmand *o, const char *qs, size_t len);
/* Finishes: CX_OK with out filled, or CX_EPARSE with why. */
cx_err track_osmand_end(track_osmand *o, int64_t now_ms, int64_t future_skew_ms, track_msg *out,
                        track_reject *why);
/* The Traccar Client JSON body {"location":{"timestamp","coords":{...},
 * "battery":{"level"}},"device_id"}. */
cx_err track_osmand_json(const char *text, size_t len, int64_t now_ms, int64_t future_skew_ms,
                         track_msg *out, track_reject *why);

/* ---- shapes: zones and corridors --------------------------------------------
 * A shape is immutable once built and may move between threads, but is used
 * by one thread at a time (GEOS prepared geometries are not thread-safe). */
typedef struct track_shape track_shape;

/* A GeoJSON Polygon or MultiPolygon (RFC 7946; holes allowed; rings that
 * cross the antimeridian either cut into pieces or written with a longitude
 * jump of more than 180 degrees). Problems go to problems with ptr as the
 * pointer prefix; NULL if there were any. */
track_shape *track_shape_zone(const json_t *geometry, const char *ptr, json_t *problems);
/* The corridor around a GeoJSON LineString: every point within width_m/2
 * metres of the route (width_m is the corridor's full width). A route longer
 * than 10,000 km or of more than 5,000 positions is refused (a problem at
 * ptr/coordinates): a corridor's cost grows with both. */
track_shape *track_shape_corridor(const json_t *route, double width_m, const char *ptr,
                                  json_t *problems);
/* A corridor again from the GeoJSON track_shape_geojson wrote for it (as
 * stored) and its route: read, not built (no buffers, no union; the stored
 * form rounds to 1e-7 degrees, about a centimetre). NULL if geojson is not
 * a non-empty MultiPolygon or the route not a LineString. */
track_shape *track_shape_corridor_stored(const json_t *route, const char *geojson);
void track_shape_free(track_shape *s);
/* Point on or inside the shape. */
bool track_shape_covers(const track_shape *s, double lat, double lon);
/* The shape as a GeoJSON geometry (longitudes in [-180, 180]; caller decrefs). */
json_t *track_shape_geojson(const track_shape *s);
/* Distance in metres from a point to a corridor's route, measured in a
 * local projection centred on the point (NAN for zones). */
double track_shape_route_distance_m(const track_shape *corridor, double lat, double lon);
/* Great-circle distance in metres on the local Gaussian sphere. */
double track_distance_m(double lat1, double lon1, double lat2, double lon2);

/* ---- request validation ------------------------------------------------------
 * Pure functions (no database, no threads; each has a fuzz target): each
 * checks a request body member by member, appends every problem to problems
 * as {path, message} with ptr ("" or "/3") before each JSON Pointer, and on
 * success returns the document to store (caller decrefs), stamped created_at
 * now (RFC 3339). What needs the database (a device key's owner, a
 * consignment's zones and declarations) the handler checks afterwards.
 *
 * Devices: {"id","kind","container","org","name","temperature_c","key_id",
 * "osmand_key"}; org defaults to default_org; *osmand_key (may be NULL) gets
 * the osmand_key member, which is never stored in the document. */
json_t *track_device_check(const json_t *in, const char *default_org, const char *now,
                           const char *ptr, json_t *problems, const char **osmand_key);
/* Zones: {"id","name","kind","geometry","properties"}; properties is an
 * open object (others' members, stored and given back as they came, never
 * read), at most TRACK_ZONE_PROPERTIES_MAX bytes as compact JSON; *shape
 * gets the zone's shape (caller frees) when the document is returned. */
#define TRACK_ZONE_PROPERTIES_MAX 65536
json_t *track_zone_check(const json_t *in, const char *now, json_t *problems,
                         track_shape **shape);
/* Consignments: {"id","containers","declarations","route","corridor_m",
 * "origin_zone","destination_zone","expected_arrival","temperature_c",
 * "rules","name"}; rules are checked over base. The route is checked when its
 * corridor is built (track_shape_corridor). */
json_t *track_consignment_check(const json_t *in, const track_config *base, const char *org,
                                const char *now, json_t *problems);

/* ---- the rule engine ----------------------------------------------------------
 * A deliberate seam: the rules as a library, fed messages, producing alerts,
 * with no threads or storage. The service runs one engine on its own thread. */
typedef enum {
    TRACK_ZONE_BONDED_WAREHOUSE,
    TRACK_ZONE_PORT,
    TRACK_ZONE_CUSTOMS_OFFICE,
    TRACK_ZONE_BORDER,
    TRACK_ZONE_RESTRICTED,
    TRACK_ZONE_TERRITORY, /* the national territory: drone rules only, the engine ignores it */
    TRACK_ZONE__COUNT
} track_zone_kind;
const char *track_zone_kind_name(track_zone_kind k);
bool track_zone_kind_parse(const char *s, track_zone_kind *out);

typedef enum {
    TRACK_KIND_GPS_TRACKER,
    TRACK_KIND_E_SEAL,
    TRACK_KIND_REEFER,
    TRACK_KIND__COUNT
} track_device_kind;
const char *track_device_kind_name(track_device_kind k);
bool track_device_kind_parse(const char *s, track_device_kind *out);

typedef enum {
    TRACK_A_ZONE_ENTER,
    TRACK_A_ZONE_EXIT,
    TRACK_A_CORRIDOR_DEVIATION,
    TRACK_A_UNSCHEDULED_STOP,
    TRACK_A_SEAL_OPENED,
    TRACK_A_SEAL_TAMPERED,
    TRACK_A_DOOR_OPEN,
    TRACK_A_TEMPERATURE,
    TRACK_A_SIGNAL_LOSS,
    TRACK_A_IMPOSSIBLE_JUMP,
    TRACK_A_OVERDUE,
    TRACK_A__COUNT
} track_alert_type;
typedef enum { TRACK_SEV_INFO, TRACK_SEV_WARNING, TRACK_SEV_CRITICAL, TRACK_SEV__COUNT } track_severity;
const char *track_alert_type_name(track_alert_type t);
bool track_alert_type_parse(const char *s, track_alert_type *out);
const char *track_severity_name(track_severity s);
bool track_severity_parse(const char *s, track_severity *out);

typedef struct {
    int64_t key; /* stable integer identity (the database row) */
    const char *id;
    const char *name;
    track_zone_kind kind;
} track_zone_def;

typedef struct {
    int64_t key;
    const char *id;
    const char *org;
    track_device_kind kind;
    const char *container; /* ISO 6346 or NULL */
    double temp_min_c, temp_max_c; /* NAN if none */
    int64_t key_id;        /* the device-role API key that may post for it; 0 = none */
} track_device_def;

typedef struct {
    int64_t key;
    const char *id;
    const char *const *containers;
    size_t ncontainers;
    const char *origin_zone, *destination_zone; /* zone ids */
    int64_t expected_arrival_ms;
    double corridor_m;
    double temp_min_c, temp_max_c; /* NAN if none */
    const json_t *route;            /* GeoJSON LineString, borrowed for the call */
    const track_config *rules;      /* per-consignment thresholds; NULL = engine's */
    /* Restored lifecycle (from storage); zero for a new consignment. */
    int64_t arrived_ms;
    bool overdue_fired;
} track_consignment_def;

/* One alert as the engine produces it. Strings live only during the
 * callback. detail is a JSON object (borrowed). */
typedef struct {
    track_alert_type type;
    track_severity severity;
    int64_t time_ms;
    const char *device;      /* NULL for consignment-level alerts without a position */
    int64_t device_key;      /* 0 if none */
    const char *org;         /* the device's org, or NULL */
    const char *container;   /* NULL if none */
    const char *consignment; /* NULL if none */
    int64_t consignment_key;
    double lat, lon; /* NAN if unknown */
    json_t *detail;
} track_alert;

typedef void (*track_alert_fn)(void *ctx, const track_alert *a);

typedef struct track_engine track_engine;
/* cfg is copied. NULL on allocation failure. */
track_engine *track_engine_new(const track_config *cfg);
void track_engine_free(track_engine *e);

/* Adds or replaces a zone; the engine owns shape from now on (also on error). */
cx_err track_engine_zone(track_engine *e, const track_zone_def *z, track_shape *shape);
/* Adds or replaces a device (by key). */
cx_err track_engine_device(track_engine *e, const track_device_def *d);
/* Adds a consignment; corridor (may be NULL: no corridor rule) is owned by the
 * engine from now on. The consignment's containers bind their devices to it
 * while it is in transit. */
cx_err track_engine_consignment(track_engine *e, const track_consignment_def *c,
                                track_shape *corridor);

typedef enum {
    TRACK_APPLIED,   /* newest message of the device: rules ran */
    TRACK_LATE,      /* older than the device's last: stored, state unchanged */
    TRACK_DUPLICATE, /* same time as the device's last: ignored by rules */
    TRACK_UNKNOWN,   /* no such device */
} track_outcome;

/* Runs every event-time rule for one message. recv_us is the wall time it
 * arrived (for signal loss). Alerts go to fn, in order. */
track_outcome track_engine_process(track_engine *e, const track_msg *m, int64_t recv_us,
                                   track_alert_fn fn, void *ctx);
/* Wall-clock rules (signal loss, overdue) as of now_us. */
void track_engine_tick(track_engine *e, int64_t now_us, track_alert_fn fn, void *ctx);

/* Lookups for callers of the engine. */
const char *track_engine_device_org(const track_engine *e, const char *device, int64_t *key);
/* The consignment a device is bound to (in transit), or NULL. */
const char *track_engine_device_consignment(const track_engine *e, const char *device);
/* Status of a consignment: arrived time (0 while in transit). */
bool track_engine_consignment_state(const track_engine *e, const char *id, int64_t *arrived_ms,
                                    bool *overdue_fired);

/* ---- the service -------------------------------------------------------------- */
typedef struct track_service track_service;

/* Runs the alert module's migrations first: track's third hands its old
 * track_alerts rows over to the alerts table. */
cx_err track_migrate(store *s, char *err, size_t errlen);

/* Loads devices, zones, consignments and rule state from s, starts the
 * pipeline threads. decl may be NULL (no lane raising, no declaration
 * checks). Alerts are raised through alerts (alert.h), each in the same
 * transaction as the telemetry that raised it; its kinds and types are
 * registered here. cfg is copied. */
cx_err track_service_new(store *s, decl_service *decl, alert_service *alerts,
                         const track_config *cfg, track_service **out, char *err,
                         size_t errlen);
/* Stops MQTT, drains the pipeline (every accepted message committed),
 * stops the threads. Safe to call twice. */
void track_service_stop(track_service *t);
/* Stops if needed and frees. Streams must be gone (http_server_free first). */
void track_service_free(track_service *t);

/* /v1/devices, /v1/zones, /v1/consignments, /v1/telemetry, /osmand,
 * /v1/positions, /v1/track/… routes and metrics (alerts are the alert
 * module's). */
cx_err track_routes(track_service *t, http_server *srv);

/* Subscribes to customs/telemetry/+ at QoS 1 with a persistent session.
 * url: mqtt://[user[:password]@]host[:port] (mqtts:// for TLS with the
 * system's CAs). Connection is asynchronous with reconnect and backoff;
 * errors in the URL are reported here. */
cx_err track_mqtt_start(track_service *t, const char *url, const char *client_id, char *err,
                        size_t errlen);

/* Another module's messages on the same broker connection and session
 * (drones: customs/remoteid/+), so one deployment has one MQTT client.
 * prefix is a topic ending in '/' ("customs/remoteid/"); prefix + "+" is
 * subscribed at QoS 1. fn runs on the MQTT thread with the topic's last
 * level and the payload (both borrowed for the call) and calls
 * track_mqtt_done(ticket, stored) exactly once, from any thread: stored
 * once the message is durable, or refused for good (a malformed message
 * is not redelivered); false when it could not be stored now, which drops
 * the connection unacknowledged so that the broker redelivers. Messages
 * are acknowledged only when nothing read before is pending. Register
 * before track_mqtt_start; at most TRACK_MQTT_SUBS. */
#define TRACK_MQTT_SUBS 4
typedef struct track_mqtt_ticket track_mqtt_ticket;
typedef void (*track_mqtt_fn)(void *ctx, const char *topic_last, const char *payload,
                              size_t len, track_mqtt_ticket *ticket);
cx_err track_mqtt_subscribe(track_service *t, const char *prefix, track_mqtt_fn fn, void *ctx);
void track_mqtt_done(track_mqtt_ticket *ticket, bool stored);

/* ---- zones for other modules (drones) --------------------------------------------
 * The zones of /v1/zones are the deployment's one set of zones: the
 * container rules use every kind but territory, the drone rules territory,
 * restricted, port, bonded-warehouse and customs-office. fn gets a zone as
 * stored (id, name, kind as its name, GeoJSON geometry; all borrowed for
 * the call). */
typedef void (*track_zone_fn)(void *ctx, const char *id, const char *name, const char *kind,
                              const json_t *geometry);
/* Every stored zone, oldest first (the calling thread's reader). A stored
 * zone that cannot be read is logged as an error, by id, and not given to
 * fn; the others are. */
cx_err track_zones_each(store *s, track_zone_fn fn, void *ctx);
/* fn for each zone created from now on, once it is durable and before the
 * request that created it is answered. It runs on the store's writer
 * thread: copy what it needs and return; never wait for the writer. Register
 * before the routes serve; at most TRACK_ZONE_WATCHERS. */
#define TRACK_ZONE_WATCHERS 4
cx_err track_zones_watch(track_service *t, track_zone_fn fn, void *ctx);
/* Adds the zones of a GeoJSON FeatureCollection file (each feature's
 * properties id, kind and optionally name, its other properties kept as the
 * zone's properties; its geometry a Polygon or MultiPolygon) to the stored
 * zones, checked as POST /v1/zones checks them, all or nothing: a problem
 * names the feature and member and adds none. Ids already stored keep their zone (*kept counts them). Call it
 * before the track service starts on s (it reads the zones at start). */
cx_err track_zones_load_file(store *s, const char *path, size_t *added, size_t *kept, char *err,
                             size_t errlen);

/* Thins raw positions older than retention_days and deletes old dead
 * letters, as of now_us, in short writer jobs. */
typedef struct {
    uint64_t positions_deleted;
    uint64_t dead_letters_deleted;
    uint64_t devices_thinned;
} track_retention_stats;
cx_err track_retention_run(store *s, const track_config *cfg, int64_t now_us,
                           track_retention_stats *st);

#endif
