/* Internal to the rule engine (engine.c: names, registration, lookups,
 * dirty state; engine_rules.c: the rules). */
#ifndef CUSTOMS_TRACK_ENGINE_INT_H
#define CUSTOMS_TRACK_ENGINE_INT_H

#include "track_int.h"

#define ENG_ZS_MAX 16
#define ENG_HITS_MAX 64
#define ENG_STATE_VERSION 1

typedef struct {
    int64_t zone; /* zone key */
    int64_t since; /* first observation of the state that differs; 0 = none */
    uint8_t in;    /* confirmed inside */
} eng_zs;

/* The persisted rule state of a device (opaque blob in storage). */
typedef struct {
    uint32_t version, size;
    uint8_t have, seal, door, dev_fired, stop_fired, t_fired, lost, nz, anchor;
    int64_t ts, recv_us;
    double lat, lon, speed, heading, temp, batt;
    int64_t out_since, in_since, a_ts, t_since, jump_ts;
    double a_lat, a_lon;
    eng_zs zs[ENG_ZS_MAX];
} eng_state;

typedef struct {
    int64_t key;
    char *id, *org;
    int64_t key_id; /* the device key bound to it, 0 if none */
    char container[16];
    track_device_kind kind;
    double tmin, tmax;
    int64_t cons; /* bound consignment index, -1 */
    bool dirty;    /* changes not yet handed out for storage */
    bool in_hot, in_cold;
    int64_t due;   /* when a cold change is handed out anyway (mono us) */
    eng_state st;
} eng_dev;

typedef struct {
    int64_t key;
    char *id, *name;
    track_zone_kind kind;
    track_shape *shape;
} eng_zone;

typedef struct {
    int64_t key;
    char *id;
    char **containers;
    size_t ncontainers;
    char *origin, *dest;
    int64_t origin_key, dest_key; /* zone keys, 0 while the zone is unknown */
    int64_t expected_ms;
    double corridor_m, tmin, tmax;
    track_shape *corridor;
    track_config rules;
    int64_t arrived_ms;
    bool overdue_fired, dirty;
    int64_t last_dev; /* device that reported last, -1 */
} eng_cons;

struct track_engine {
    track_config cfg;
    eng_zone *zones;
    size_t nzones, capz;
    cx_map zone_by_key, zone_by_id;
    GEOSSTRtree *tree;
    GEOSGeometry **tree_geoms;
    size_t ntree_geoms;
    eng_dev *devs;
    size_t ndevs, capd;
    cx_map dev_by_id, dev_by_key;
    eng_cons *cons;
    size_t ncons, capc;
    cx_map cons_by_id, cons_by_key, cons_by_container;
    size_t *hot, nhot, caphot;       /* devices whose rule state changed */
    size_t *cold, cold_head, ncold, capcold; /* FIFO of devices with position-only changes */
    size_t *dirty_cons, ndirty_cons, capdirty_cons;
    int hits[ENG_HITS_MAX];
    size_t nhits;
};


/* Shared by the two files. */
void track__eng_tree_drop(track_engine *e);
cx_err track__eng_tree_build(track_engine *e, GEOSContextHandle_t h);
uint64_t track__eng_hot_print(const eng_state *st);
eng_cons *track__eng_bound(const track_engine *e, const eng_dev *d);
void track__eng_dirty(track_engine *e, size_t di, bool hot);
void track__eng_dirty_cons(track_engine *e, eng_cons *c);
/* Resolves a consignment's origin and destination zone keys. */
void track__eng_cons_zones(track_engine *e, eng_cons *c);

#endif
