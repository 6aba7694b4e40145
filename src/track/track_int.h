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

/* Appends {path, message} to problems (capped). */
void track__problem(json_t *problems, const char *path, const char *fmt, ...) CX_PRINTF(3, 4);
void track__reject(track_reject *why, const char *code, const char *fmt, ...) CX_PRINTF(3, 4);
/* RFC 3339 string or epoch-ms number. */
cx_err track__parse_ts(const json_t *v, int64_t *ms);

/* ---- hash maps --------------------------------------------------------------------- */
typedef struct {
    const char *skey;
    int64_t ikey;
    int64_t val; /* -1 = empty slot */
} track_map_slot;
typedef struct {
    track_map_slot *slots;
    size_t cap, used;
    bool strings;
} track_map;
void track__map_free(track_map *m);
int64_t track__map_get(const track_map *m, const char *key); /* -1 if absent */
cx_err track__map_put(track_map *m, const char *key, int64_t val);
int64_t track__imap_get(const track_map *m, int64_t key);
cx_err track__imap_put(track_map *m, int64_t key, int64_t val);

/* ---- engine internals used by the service ------------------------------------------ */
/* A device whose state changed since the last call: its latest report and
 * the opaque rule state to persist. */
typedef struct {
    int64_t key;
    const char *id;
    const char *org;
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
void track__engine_take_dirty(track_engine *e, track_dirty_dev_fn dev, track_dirty_cons_fn cons,
                              void *ctx);
/* Restores a device's rule state saved from a dirty record. */
void track__engine_restore(track_engine *e, int64_t key, const void *state, size_t len);
/* Latest per-message extras the service needs. */
const char *track__engine_device_container(const track_engine *e, int64_t key);
size_t track__engine_ndevices(const track_engine *e);
size_t track__engine_nzones(const track_engine *e);
size_t track__engine_nconsignments(const track_engine *e);

#endif
