/*
 * drones.h — the door of the drones module: Remote ID surveillance.
 * Public names carry the prefix drones_.
 *
 *   decoder   ASTM F3411-19/-22a and ASD-STAN EN 4709-002 broadcast messages
 *             (25 bytes each, or a Message Pack of up to 9), and an encoder
 *             for every message type (the simulator and the tests use it);
 *   transports Wi-Fi Beacon vendor IE, Wi-Fi NAN service discovery frames,
 *             Bluetooth 4 legacy and Bluetooth 5 extended advertising, and
 *             the link layers captures wrap them in (radiotap, plain 802.11,
 *             BLE LL with pseudo-header, Nordic BLE); captures read with
 *             libpcap (pcap and pcapng);
 *   engine    which drone an observation belongs to, event time, and the
 *             rules (border crossing, restricted zones, drop pattern,
 *             unregistered, spoofing) as a pure library: observations in,
 *             alerts out through a callback;
 *   service   storage (observations, drones, receivers, registry), the
 *             /v1/drones routes and the position stream.
 *
 * Nothing here writes another module's tables: alerts are raised through
 * the alerting door (alert.h) inside the module's own writer jobs. See
 * docs/drones.md.
 */
#ifndef CUSTOMS_DRONES_H
#define CUSTOMS_DRONES_H

#include "alert.h"
#include "core.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- messages ------------------------------------------------------------- */
#define DRONES_MSG_SIZE 25
#define DRONES_PACK_MAX 9
#define DRONES_UAS_ID_MAX 61 /* decoded text: 20 bytes, each at most 3 UTF-8 bytes, + NUL */
#define DRONES_TEXT_MAX 70   /* Self-ID description: 23 bytes likewise */
#define DRONES_PAYLOAD_MAX (3 + DRONES_PACK_MAX * DRONES_MSG_SIZE) /* a full Message Pack */

typedef enum {
    DRONES_MT_BASIC_ID = 0,
    DRONES_MT_LOCATION = 1,
    DRONES_MT_AUTH = 2,
    DRONES_MT_SELF_ID = 3,
    DRONES_MT_SYSTEM = 4,
    DRONES_MT_OPERATOR_ID = 5,
    DRONES_MT_PACK = 15,
} drones_msg_type;

/* One decoded message. Values are SI units; NAN means null (the standard's
 * "invalid, no value or unknown"). Enumerations keep the standard's numbers:
 * accuracy enums too, decoded to metres and seconds by the functions below. */
typedef struct {
    uint8_t id_type, ua_type;
    uint8_t raw[20];                /* the UAS ID field as sent */
    char uas_id[DRONES_UAS_ID_MAX]; /* text; UUID or hex for binary id types */
} drones_basic;

typedef struct {
    uint8_t status;
    uint8_t height_ref;         /* 0 above take-off, 1 above ground */
    double direction_deg;       /* 0..360 */
    double speed_h_mps;         /* 0..254.25 */
    double speed_v_mps;         /* -62..62 */
    double lat, lon;            /* degrees; both NAN when not known */
    double alt_baro_m, alt_geo_m, height_m;
    uint8_t acc_h, acc_v, acc_baro, acc_speed, acc_ts; /* accuracy enums */
    double timestamp_s;         /* seconds after the full hour, 0..3600 */
} drones_loc;

typedef struct {
    uint8_t auth_type, page;
    uint8_t last_page, length; /* page 0 only */
    int64_t timestamp;         /* page 0: Unix seconds; 0 = null */
    uint8_t data[23];
    uint8_t ndata;             /* 17 on page 0, 23 on the others */
} drones_auth;

typedef struct {
    uint8_t desc_type;
    uint8_t raw[23];
    char text[DRONES_TEXT_MAX];
} drones_self_id;

typedef struct {
    uint8_t op_loc_type, class_type;
    double op_lat, op_lon;
    uint16_t area_count;
    double area_radius_m, area_ceiling_m, area_floor_m;
    uint8_t category_eu, class_eu; /* meaningful when class_type is 1 (EU) */
    double op_alt_geo_m;
    int64_t timestamp; /* Unix seconds; 0 = null */
} drones_sys;

typedef struct {
    uint8_t op_id_type;
    uint8_t raw[20];
    char op_id[DRONES_UAS_ID_MAX];
} drones_op;

typedef struct {
    uint8_t type; /* drones_msg_type, never DRONES_MT_PACK */
    uint8_t version;
    union {
        drones_basic basic;
        drones_loc loc;
        drones_auth auth;
        drones_self_id self_id;
        drones_sys sys;
        drones_op op;
    } u;
} drones_msg;

/* Decodes one 25-byte message. CX_EPARSE with a sentence in why when it is
 * not a valid message (unknown type, a pack where one message is expected). */
cx_err drones_msg_decode(const uint8_t m[DRONES_MSG_SIZE], drones_msg *out, char *why,
                         size_t whylen);

/* Decodes a Remote ID payload: one message, or a Message Pack ("F? 19 N"
 * then N x 25 bytes, N <= 9). out holds DRONES_PACK_MAX messages; *count
 * gets how many were decoded; *is_pack tells which form it was. With exact,
 * the payload must be exactly that long (bytes after a pack's N messages
 * may only be zero padding); transports pass exact = false, since their
 * containers may pad. */
cx_err drones_payload_decode(const uint8_t *p, size_t len, bool exact, drones_msg *out,
                             size_t *count, bool *is_pack, char *why, size_t whylen);

/* Encodes one message (any type but pack) into 25 bytes. Values are clamped
 * to what the field can carry; NAN encodes the standard's null. */
void drones_msg_encode(const drones_msg *m, uint8_t out[DRONES_MSG_SIZE]);
/* A Message Pack of n (<= 9) messages: 3 + 25n bytes into out. Returns the
 * length, 0 if n is too large or cap too small. */
size_t drones_pack_encode(const drones_msg *msgs, size_t n, uint8_t version, uint8_t *out,
                          size_t cap);
/* A message with every field null and the given type and version. */
void drones_msg_init(drones_msg *m, drones_msg_type type, uint8_t version);
/* Sets the text form of a Basic ID / Operator ID / Self-ID from raw bytes
 * (called by the decoder; the encoder reads raw). */
void drones_msg_set_text(drones_msg *m, const char *text);

/* Accuracy tables of the standard: metres (seconds for timestamps), NAN for
 * 0 ("unknown") and reserved values. The _enum functions give the smallest
 * class that is at least as good as the value (for encoders). */
double drones_acc_h_m(uint8_t e);
double drones_acc_v_m(uint8_t e);
double drones_acc_speed_mps(uint8_t e);
double drones_acc_ts_s(uint8_t e);
uint8_t drones_acc_h_enum(double m);
uint8_t drones_acc_v_enum(double m);
uint8_t drones_acc_speed_enum(double mps);
uint8_t drones_acc_ts_enum(double s);

/* The message as the JSON object docs/drones.md specifies (caller decrefs). */
json_t *drones_msg_json(const drones_msg *m);
/* A whole payload: the message's object, or {"type":"message_pack",
 * "messages":[...]}. */
json_t *drones_payload_json(const drones_msg *msgs, size_t n, bool is_pack);

/* ---- transports ---------------------------------------------------------------- */
typedef enum {
    DRONES_T_WIFI_BEACON,
    DRONES_T_WIFI_NAN,
    DRONES_T_BLE4,
    DRONES_T_BLE5,
    DRONES_T__COUNT
} drones_transport;
const char *drones_transport_name(drones_transport t); /* "wifi_beacon", … */
bool drones_transport_parse(const char *s, drones_transport *out);

/* A Remote ID payload found in a frame. payload points into the frame. */
typedef struct {
    drones_transport transport;
    uint8_t mac[6];      /* the broadcaster's address, most significant byte first */
    int rssi;            /* dBm; valid when have_rssi */
    bool have_rssi;
    uint8_t counter;     /* the transport's message counter */
    const uint8_t *payload;
    size_t len;
} drones_rid;

/* "aa:bb:cc:dd:ee:ff" (lowercase) into out[18]; parse accepts either case. */
void drones_mac_format(const uint8_t mac[6], char out[18]);
bool drones_mac_parse(const char *s, uint8_t mac[6]);

/* Link types understood by drones_link_frame. */
#define DRONES_DLT_IEEE802_11 105
#define DRONES_DLT_IEEE802_11_RADIO 127
#define DRONES_DLT_BLUETOOTH_LE_LL_WITH_PHDR 256
#define DRONES_DLT_NORDIC_BLE 272
bool drones_linktype_supported(int linktype);

/* Finds the Remote ID payloads in one captured frame of the given link type.
 * Frames whose link layer says the CRC/FCS failed yield nothing and set
 * *bad_crc. Returns the number written to out (at most max). */
size_t drones_link_frame(int linktype, const uint8_t *f, size_t n, drones_rid *out, size_t max,
                         bool *bad_crc);
/* The walkers underneath, for fuzzing and for receivers that hand over bare
 * frames: an 802.11 MAC frame (Beacon or NAN action frame), a BLE link-layer
 * advertising PDU starting at its 2-byte header (no access address). */
size_t drones_wifi_frame(const uint8_t *f, size_t n, drones_rid *out, size_t max);
size_t drones_ble_pdu(const uint8_t *pdu, size_t n, drones_rid *out, size_t max);
/* The AD structures of BLE advertising data (legacy or extended). */
size_t drones_ble_ad(const uint8_t *ad, size_t n, bool extended, const uint8_t mac[6],
                     drones_rid *out, size_t max);

/* ---- captures (libpcap: pcap and pcapng) ------------------------------------------ */
typedef struct {
    uint64_t frames;       /* frames read */
    uint64_t rid_frames;   /* frames that carried a Remote ID payload */
    uint64_t crc_errors;   /* frames dropped because their CRC/FCS failed */
    uint64_t bytes;        /* file offset reached (for progress) */
} drones_capture_stats;

/* Called per frame with its payloads (n may be 0); return false to stop. */
typedef bool (*drones_frame_fn)(void *ctx, int64_t ts_us, const drones_rid *rids, size_t n,
                                const drones_capture_stats *st);
/* Reads a capture file. Unsupported link types are an error naming the link
 * type. A sentence in err on failure. */
cx_err drones_capture_read(const char *path, drones_frame_fn fn, void *ctx,
                           drones_capture_stats *st, char *err, size_t errlen);

/* ---- thresholds (docs/drones.md lists them with their defaults) ------------------- */
typedef struct {
    double drone_drop_zone_m;        /* drop pattern: this close to a territory boundary (5000) */
    double drone_drop_height_m;      /* ...at most this high above ground or take-off (30) */
    double drone_hover_mps;          /* ...at most this fast (1) */
    int64_t drone_hover_s;           /* ...for at least this long (20) */
    double drone_max_mps;            /* spoofing: implied speed above this (100) */
    double drone_spoof_min_m;        /* ...over a jump of at least this (200) */
    double drone_pilot_jump_m;       /* spoofing: the pilot moving more than this (5000) */
    int64_t drone_pilot_jump_s;      /* ...within this many seconds (10) */
    int64_t drone_spoof_episode_s;   /* further spoofing within this: same episode (300) */
    double drone_crossing_margin_m;  /* a side of a boundary counts this far from it (10) */
    int64_t drone_gap_s;             /* silence that breaks a hover (10) */
    int64_t drone_flight_gap_s;      /* silence that ends a flight (600) */
    int64_t drone_time_skew_s;       /* a Location timestamp further than this from the
                                        frame time is a drone clock not kept (300) */
} drones_config;

void drones_config_defaults(drones_config *c);
/* Applies a JSON object of the names above over c; unknown names and bad
 * values go to problems ({path, message}); true if there were none. */
bool drones_config_apply(drones_config *c, const json_t *obj, json_t *problems);
cx_err drones_config_load(drones_config *c, const char *path, char *err, size_t errlen);
json_t *drones_config_json(const drones_config *c);

/* ---- the registry of known drones and operators ------------------------------------- */
typedef struct drones_registry drones_registry;
drones_registry *drones_registry_new(void);
void drones_registry_free(drones_registry *r);
/* valid_until_days: days since 1970-01-01 of the last valid day, or
 * INT64_MAX for no end. Either id may be NULL or "". */
cx_err drones_registry_add(drones_registry *r, const char *uas_id, const char *operator_id,
                           int64_t valid_until_days);
size_t drones_registry_size(const drones_registry *r);
/* Registered and valid on the day of at_us. */
bool drones_registry_has_uas(const drones_registry *r, const char *uas_id, int64_t at_us);
bool drones_registry_has_operator(const drones_registry *r, const char *op_id, int64_t at_us);

/* ---- zones ---------------------------------------------------------------------------- */
typedef enum {
    DRONES_ZONE_TERRITORY,       /* the national territory: crossings, drop pattern */
    DRONES_ZONE_RESTRICTED,
    DRONES_ZONE_PORT,
    DRONES_ZONE_BONDED_WAREHOUSE,
    DRONES_ZONE_CUSTOMS_OFFICE,
    DRONES_ZONE_OTHER,           /* kinds drone rules ignore (track's "border") */
} drones_zone_kind;
/* "territory", "restricted", "port", "bonded-warehouse", "customs-office";
 * any other kind parses as DRONES_ZONE_OTHER. */
drones_zone_kind drones_zone_kind_parse(const char *s);
const char *drones_zone_kind_name(drones_zone_kind k);

/* ---- the engine: which drone, event time, rules -----------------------------------------
 * A pure library: no threads, no storage, no clock. One thread at a time. */
typedef enum {
    DRONES_A_BORDER_CROSSING,
    DRONES_A_RESTRICTED_ZONE,
    DRONES_A_DROP_PATTERN,
    DRONES_A_UNREGISTERED,
    DRONES_A_SPOOFING,
    DRONES_A__COUNT
} drones_alert_type;
typedef enum { DRONES_SEV_INFO, DRONES_SEV_WARNING, DRONES_SEV_CRITICAL } drones_severity;
const char *drones_alert_type_name(drones_alert_type t); /* "drone_border_crossing", … */
const char *drones_severity_name(drones_severity s);     /* "info", "warning", "critical" */

/* One alert. Strings and detail live only during the callback. */
typedef struct {
    drones_alert_type type;
    drones_severity severity;
    int64_t time_us;        /* event time */
    const char *drone;      /* the UAS ID (or mac:<transport>:<MAC>) */
    int64_t drone_key;
    double lat, lon;        /* the drone's position, NAN if none yet */
    json_t *detail;         /* the type's members (docs/drones.md) */
    /* The drop pattern escalates: its alert went out as a warning and the
     * drone then crossed the border. Same drone and type, now critical; the
     * alerting door raises the earlier alert's severity. */
    bool escalation;
} drones_alert;

/* Where the engine's alerts go (the service collects them per batch). */
typedef struct {
    void (*raise)(void *ctx, const drones_alert *a);
    void *ctx;
} drones_alert_sink;

#define DRONES_ID_MAX 64 /* a drone's name: UAS ID or mac:<transport>:<MAC> */
#define DRONES_RULES_MAX 1024

/* What the engine knows of a drone (a snapshot; NAN/0/"" when unknown). */
typedef struct {
    int64_t key;
    char id[DRONES_ID_MAX];
    bool has_uas;                    /* id is a UAS ID, not mac:… */
    int id_type, ua_type;            /* -1 until a Basic ID */
    int64_t first_seen_us, last_seen_us;
    int64_t pos_time_us;             /* 0: no position yet */
    double lat, lon, alt_geo_m, height_m, speed_h_mps, speed_v_mps, direction_deg;
    int64_t op_time_us;
    double op_lat, op_lon;
    char operator_id[DRONES_UAS_ID_MAX];
    char self_id[DRONES_TEXT_MAX];
    int registered;                  /* -1 unknown (no registry or no id), 0, 1 */
    /* Authentication, reassembled from its pages when all have been heard */
    int auth_type;                   /* -1: none complete */
    int64_t auth_timestamp;
    uint8_t auth_len;
    uint8_t auth_data[255 + 23];
    /* The rules' state (sides of zones, episodes), as JSON text, so a
     * restart resumes it: storage keeps it, drones_engine_restore reads it
     * back ("" when there is none). */
    char rules[DRONES_RULES_MAX];
} drones_state;

/* One observation: what a receiver heard from one broadcaster at once. */
typedef struct {
    int64_t time_us;            /* frame time, or the receiver's time */
    drones_transport transport;
    uint8_t mac[6];
    const drones_msg *msgs;
    size_t nmsgs;
} drones_obs;

/* A position the observation carried, at its refined event time. */
typedef struct {
    int64_t time_us;
    double lat, lon, alt_geo_m, height_m, speed_h_mps, speed_v_mps, direction_deg;
    bool applied; /* newer than the drone's last: the rules ran on it */
} drones_fix;

typedef struct {
    const drones_state *drone; /* NULL if the observation had no message */
    int64_t merged_key;        /* a drone folded into this one (heard as mac:… first) */
    bool renamed;              /* drone->id changed (a Basic ID arrived) */
    size_t nfix, npilot;
    drones_fix fix[DRONES_PACK_MAX];
    drones_fix pilot[DRONES_PACK_MAX]; /* the operator's position (System messages) */
} drones_outcome;

typedef struct drones_engine drones_engine;
/* cfg is copied; registry is borrowed (may be NULL: no unregistered rule) and
 * may be swapped with drones_engine_set_registry. NULL on allocation failure. */
drones_engine *drones_engine_new(const drones_config *cfg, const drones_registry *registry);
void drones_engine_free(drones_engine *e);
void drones_engine_set_registry(drones_engine *e, const drones_registry *registry);
const drones_config *drones_engine_config(const drones_engine *e);

/* Adds or replaces (by id) a zone from a GeoJSON Polygon or MultiPolygon in
 * longitude/latitude. Problems name the field under ptr. */
cx_err drones_engine_zone(drones_engine *e, const char *id, const char *name, const char *kind,
                          const json_t *geometry, const char *ptr, json_t *problems);
/* The same from a GEOS geometry (polygonal, longitude/latitude), which the
 * engine owns from now on, also on error. */
struct GEOSGeom_t;
cx_err drones_engine_zone_geos(drones_engine *e, const char *id, const char *name,
                               const char *kind, struct GEOSGeom_t *geometry);
size_t drones_engine_zone_count(const drones_engine *e);

/* Known drones, restored from storage at start: the engine resumes their
 * identity and, from s->rules, the sides of zones (matched by zone id when
 * the drone is next seen, so zones may be added after) and its episodes. */
cx_err drones_engine_restore(drones_engine *e, const drones_state *s);
cx_err drones_engine_restore_mac(drones_engine *e, int64_t key, drones_transport t,
                                 const uint8_t mac[6]);
/* Another UAS ID the drone broadcast (a second Basic ID). */
cx_err drones_engine_restore_alias(drones_engine *e, int64_t key, const char *id);
/* Keys for new drones start above this (the largest stored key). */
void drones_engine_set_next_key(drones_engine *e, int64_t next);

/* Runs one observation: identity, state, rules. Alerts go to sink (may be
 * NULL) in order. out describes what changed, for storage. */
cx_err drones_engine_process(drones_engine *e, const drones_obs *o, const drones_alert_sink *sink,
                             drones_outcome *out);
/* The drone by name (UAS ID, alias or mac:…), or NULL. */
const drones_state *drones_engine_find(const drones_engine *e, const char *id);
size_t drones_engine_drone_count(const drones_engine *e);

/* The event time of a Location timestamp (seconds after the hour) near the
 * observation's time: the candidate within +-30 minutes of it. */
int64_t drones_event_time(int64_t obs_us, double timestamp_s);
/* Distance in metres (spherical, mean radius). */
double drones_distance_m(double lat1, double lon1, double lat2, double lon2);

/* ---- receivers' observations: the JSON of POST /v1/drones/observations ---------------
 * Pure functions (no database, no clock of their own; fuzz_drones_ingest
 * feeds them anything). A batch is {"receiver","observations":[...]}, the
 * same JSON as an MQTT message of customs/remoteid/<receiver>. */
#define DRONES_BATCH_MAX 10000 /* observations in one batch */
#define DRONES_FUTURE_S 300    /* an observation further ahead of the clock is refused */

/* The batch's own members: every problem to problems ({path, message});
 * the receiver id (borrowed from doc) when there was none, else NULL. */
const char *drones_batch_check(const json_t *doc, json_t *problems);

/* One observation {"time","transport","mac","rssi","payload_hex"}, checked,
 * with its payload's bytes and decoded messages. */
typedef struct {
    int64_t time_us;
    drones_transport transport;
    uint8_t mac[6];
    int rssi; /* dBm, when have_rssi */
    bool have_rssi;
    uint8_t payload[DRONES_PAYLOAD_MAX];
    size_t len;
} drones_obs_in;
/* Checks one observation against now_us (the clock, for "in the future")
 * and decodes its payload into msgs (*nmsgs of them). false with the reason,
 * "/member: rule", in why. */
bool drones_obs_check(const json_t *o, int64_t now_us, drones_obs_in *out,
                      drones_msg msgs[DRONES_PACK_MAX], size_t *nmsgs, char *why, size_t wn);

/* ---- the service: storage, live observations, routes ----------------------------------- */
typedef struct drones_service drones_service;

cx_err drones_migrate(store *s, char *err, size_t errlen);

/* Loads the drones and the registry from s and starts the engine. cfg is
 * copied. The zones are the deployment's zones, tracking's (track.h,
 * track_zones_each): those of kind territory, restricted, port,
 * bonded-warehouse and customs-office. Alerts are raised through the
 * alerting door (borrowed; it must outlive the service) inside each batch's
 * writer job, with subject kind "drone"; alerts NULL: they are only logged.
 * tap (may be NULL) also gets each alert once durable (the import's
 * --alerts file). */
cx_err drones_service_new(store *s, alert_service *alerts, const drones_config *cfg,
                          const drones_alert_sink *tap, drones_service **out, char *err,
                          size_t errlen);
/* A zone created while the service runs (the shape of track_zone_fn, for
 * track_zones_watch): copied now, from any thread, without waiting; the
 * rules use it from the next observation on. Kinds the drone rules do not
 * use are ignored. */
void drones_service_zone(void *d, const char *id, const char *name, const char *kind,
                         const json_t *geometry);
/* Reloads the registry from storage (after customs drones registry). */
cx_err drones_service_reload_registry(drones_service *d);
/* Waits for pending writes, ends the position streams. Safe to call twice. */
void drones_service_stop(drones_service *d);
/* Streams must be gone (http_server_free first). NULL is a no-op. */
void drones_service_free(drones_service *d);

/* A batch of observations in the JSON of POST /v1/drones/observations
 * ({"receiver","observations":[{time, transport, mac, rssi, payload_hex}]}),
 * from any transport (HTTP; MQTT customs/remoteid/<receiver> with receiver
 * = the topic's, drones_service_ingest_message). device_key > 0: the receiver must be
 * bound to that key. A whole-batch problem returns CX_EINVAL with problems
 * ({path, message}) and writes nothing; CX_EFORBIDDEN when the key is not
 * the receiver's; CX_ESHUTDOWN, CX_ENOMEM, CX_EDB. On CX_OK, done is called
 * exactly once — at once if nothing was accepted, else from the writer
 * thread once the batch is durable (result CX_OK) or has failed — with the
 * count accepted and the rejected ones as JSON text [{"index","reason"}]. */
typedef void (*drones_ingest_fn)(void *ctx, cx_err result, size_t accepted,
                                 const char *rejected);
cx_err drones_service_ingest(drones_service *d, const json_t *doc, const char *receiver,
                             int64_t device_key, json_t *problems, drones_ingest_fn done,
                             void *ctx);

/* The same batch as a message of MQTT topic customs/remoteid/<receiver>
 * (payload: its JSON text, borrowed for the call). ack(ctx, stored) is
 * called exactly once: stored true once the batch is durable, or when the
 * message is refused for good (not JSON, a batch that cannot be taken: it
 * is logged, since redelivering it would change nothing); false when it
 * could not be stored now (shutting down, out of memory, a failed commit),
 * so that the broker redelivers it. */
void drones_service_ingest_message(drones_service *d, const char *receiver, const char *payload,
                                   size_t len, void (*ack)(void *ctx, bool stored), void *ctx);

/* POST /v1/drones/observations, POST/GET /v1/drones/receivers, GET
 * /v1/drones, /v1/drones/{uas_id}, /v1/drones/{uas_id}/track,
 * /v1/drones/stream, GET /v1/drones/config. The zones are tracking's
 * /v1/zones. */
cx_err drones_routes(drones_service *d, http_server *srv);

/* Imports a capture as if live: every observation stored, the rules run in
 * event time. receiver may be NULL. progress (may be NULL) is called now
 * and then with the file offset reached. */
typedef struct {
    uint64_t frames, messages, drones, observations, alerts, crc_errors;
} drones_import_stats;
cx_err drones_import(drones_service *d, const char *path, const char *receiver,
                     void (*progress)(void *ctx, uint64_t bytes, uint64_t frames), void *pctx,
                     drones_import_stats *st, char *err, size_t errlen);

/* Replaces the registry with a CSV file (uas_id,operator_id,holder,
 * valid_until); all or nothing. *rows gets the entries loaded. */
cx_err drones_registry_load_csv(store *s, const char *path, size_t *rows, char *err,
                                size_t errlen);

/* Receiver ids: 1..64 of A-Z a-z 0-9 . _ : - */
bool drones_receiver_id_valid(const char *s);

#endif
