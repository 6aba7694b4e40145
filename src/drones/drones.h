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
 * Nothing here writes another module's tables. Alerts leave through a
 * drones_alert_sink the caller supplies (the shared alerting door plugs in
 * there). See docs/drones.md.
 */
#ifndef CUSTOMS_DRONES_H
#define CUSTOMS_DRONES_H

#include "core.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- messages ------------------------------------------------------------- */
#define DRONES_MSG_SIZE 25
#define DRONES_PACK_MAX 9
#define DRONES_UAS_ID_MAX 61 /* decoded text: 20 bytes, each at most 3 UTF-8 bytes, + NUL */
#define DRONES_TEXT_MAX 70   /* Self-ID description: 23 bytes likewise */

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

#endif
