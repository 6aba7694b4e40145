/* The rule engine: per-device state machines driven by event time.
 *
 * Every rule is an episode: it opens when its condition has held long
 * enough (debounce/grace), fires one alert, and closes only when the
 * condition has cleared (with hysteresis where a boundary can flap).
 * Messages older than the device's last one are left out of the rules so
 * that state never moves backwards; a message with the same timestamp as the
 * last is a duplicate (QoS 1 redelivery). Wall-clock rules (signal loss,
 * overdue) also have an event-time path so a replayed journey raises the
 * same alerts as a live one. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- names ------------------------------------------------------------------------ */

static const char *const zone_kinds[TRACK_ZONE__COUNT] = {
    "bonded-warehouse", "port", "customs-office", "border", "restricted"};
static const char *const dev_kinds[TRACK_KIND__COUNT] = {"gps-tracker", "e-seal", "reefer"};
static const char *const alert_types[TRACK_A__COUNT] = {
    "zone_enter", "zone_exit",  "corridor_deviation", "unscheduled_stop",
    "seal_opened", "seal_tampered", "door_open", "temperature", "signal_loss",
    "impossible_jump", "overdue"};
static const char *const severities[TRACK_SEV__COUNT] = {"info", "warning", "critical"};

static bool eng__parse(const char *const *names, int n, const char *s, int *out)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return true;
        }
    return false;
}

const char *track_zone_kind_name(track_zone_kind k)
{
    return (unsigned)k < TRACK_ZONE__COUNT ? zone_kinds[k] : "?";
}
bool track_zone_kind_parse(const char *s, track_zone_kind *out)
{
    int i;
    if (!eng__parse(zone_kinds, TRACK_ZONE__COUNT, s, &i))
        return false;
    *out = (track_zone_kind)i;
    return true;
}
const char *track_device_kind_name(track_device_kind k)
{
    return (unsigned)k < TRACK_KIND__COUNT ? dev_kinds[k] : "?";
}
bool track_device_kind_parse(const char *s, track_device_kind *out)
{
    int i;
    if (!eng__parse(dev_kinds, TRACK_KIND__COUNT, s, &i))
        return false;
    *out = (track_device_kind)i;
    return true;
}
const char *track_alert_type_name(track_alert_type t)
{
    return (unsigned)t < TRACK_A__COUNT ? alert_types[t] : "?";
}
bool track_alert_type_parse(const char *s, track_alert_type *out)
{
    int i;
    if (!eng__parse(alert_types, TRACK_A__COUNT, s, &i))
        return false;
    *out = (track_alert_type)i;
    return true;
}
const char *track_severity_name(track_severity s)
{
    return (unsigned)s < TRACK_SEV__COUNT ? severities[s] : "?";
}
bool track_severity_parse(const char *s, track_severity *out)
{
    int i;
    if (!eng__parse(severities, TRACK_SEV__COUNT, s, &i))
        return false;
    *out = (track_severity)i;
    return true;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

track_engine *track_engine_new(const track_config *cfg)
{
    track_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->cfg = *cfg;
    return e;
}

static void eng__tree_drop(track_engine *e)
{
    GEOSContextHandle_t h = track__geos();
    if (e->tree)
        GEOSSTRtree_destroy_r(h, e->tree);
    e->tree = NULL;
    for (size_t i = 0; i < e->ntree_geoms; i++)
        GEOSGeom_destroy_r(h, e->tree_geoms[i]);
    free(e->tree_geoms);
    e->tree_geoms = NULL;
    e->ntree_geoms = 0;
}

void track_engine_free(track_engine *e)
{
    if (!e)
        return;
    eng__tree_drop(e);
    for (size_t i = 0; i < e->nzones; i++) {
        free(e->zones[i].id);
        free(e->zones[i].name);
        track_shape_free(e->zones[i].shape);
    }
    for (size_t i = 0; i < e->ndevs; i++) {
        free(e->devs[i].id);
        free(e->devs[i].org);
    }
    for (size_t i = 0; i < e->ncons; i++) {
        eng_cons *c = &e->cons[i];
        free(c->id);
        for (size_t k = 0; k < c->ncontainers; k++)
            free(c->containers[k]);
        free(c->containers);
        free(c->origin);
        free(c->dest);
        track_shape_free(c->corridor);
    }
    free(e->zones);
    free(e->devs);
    free(e->cons);
    free(e->hot);
    free(e->cold);
    free(e->dirty_cons);
    cx_map_free(&e->zone_by_key);
    cx_map_free(&e->zone_by_id);
    cx_map_free(&e->dev_by_id);
    cx_map_free(&e->dev_by_key);
    cx_map_free(&e->cons_by_id);
    cx_map_free(&e->cons_by_key);
    cx_map_free(&e->cons_by_container);
    free(e);
}

static bool eng__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

static char *eng__strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void eng__cons_zones(track_engine *e, eng_cons *c);

/* ---- registration ----------------------------------------------------------------- */

cx_err track_engine_zone(track_engine *e, const track_zone_def *z, track_shape *shape)
{
    if (!shape || !z->id)
        return CX_EINVAL;
    int64_t i = cx_map_iget(&e->zone_by_key, z->key);
    if (i < 0) {
        if (!eng__grow((void **)&e->zones, &e->capz, e->nzones + 1, sizeof *e->zones)) {
            track_shape_free(shape);
            return CX_ENOMEM;
        }
        i = (int64_t)e->nzones++;
        memset(&e->zones[i], 0, sizeof e->zones[i]);
    }
    eng_zone *zn = &e->zones[i];
    char *id = eng__strdup(z->id), *name = eng__strdup(z->name ? z->name : z->id);
    if (!id || !name) {
        free(id);
        free(name);
        track_shape_free(shape);
        return CX_ENOMEM;
    }
    free(zn->id);
    free(zn->name);
    track_shape_free(zn->shape);
    zn->key = z->key;
    zn->id = id;
    zn->name = name;
    zn->kind = z->kind;
    zn->shape = shape;
    if (cx_map_iset(&e->zone_by_key, z->key, i) || cx_map_set(&e->zone_by_id, id, i))
        return CX_ENOMEM;
    eng__tree_drop(e); /* rebuilt before the next query */
    for (size_t k = 0; k < e->ncons; k++)
        eng__cons_zones(e, &e->cons[k]);
    return CX_OK;
}

static cx_err eng__tree_build(track_engine *e, GEOSContextHandle_t h)
{
    size_t total = 0;
    for (size_t i = 0; i < e->nzones; i++) {
        const track_env *parts;
        total += track__shape_parts(e->zones[i].shape, &parts);
    }
    e->tree = GEOSSTRtree_create_r(h, 10);
    e->tree_geoms = calloc(total ? total : 1, sizeof *e->tree_geoms);
    if (!e->tree || !e->tree_geoms)
        return CX_ENOMEM;
    for (size_t i = 0; i < e->nzones; i++) {
        const track_env *parts;
        size_t np = track__shape_parts(e->zones[i].shape, &parts);
        for (size_t k = 0; k < np; k++) {
            GEOSGeometry *r = GEOSGeom_createRectangle_r(h, parts[k].minx, parts[k].miny,
                                                         parts[k].maxx, parts[k].maxy);
            if (!r)
                return CX_ENOMEM;
            e->tree_geoms[e->ntree_geoms++] = r;
            GEOSSTRtree_insert_r(h, e->tree, r, (void *)(uintptr_t)(i + 1));
        }
    }
    return CX_OK;
}

static void eng__bind(track_engine *e, size_t di)
{
    eng_dev *d = &e->devs[di];
    d->cons = d->container[0] ? cx_map_get(&e->cons_by_container, d->container) : -1;
}

cx_err track_engine_device(track_engine *e, const track_device_def *def)
{
    if (!def->id || !def->org)
        return CX_EINVAL;
    int64_t i = cx_map_iget(&e->dev_by_key, def->key);
    bool fresh = i < 0;
    if (fresh) {
        if (!eng__grow((void **)&e->devs, &e->capd, e->ndevs + 1, sizeof *e->devs))
            return CX_ENOMEM;
        i = (int64_t)e->ndevs++;
        memset(&e->devs[i], 0, sizeof e->devs[i]);
    }
    eng_dev *d = &e->devs[i];
    char *id = eng__strdup(def->id), *org = eng__strdup(def->org);
    if (!id || !org) {
        free(id);
        free(org);
        if (fresh)
            e->ndevs--;
        return CX_ENOMEM;
    }
    free(d->id);
    free(d->org);
    d->key = def->key;
    d->id = id;
    d->org = org;
    d->key_id = def->key_id;
    d->kind = def->kind;
    snprintf(d->container, sizeof d->container, "%s", def->container ? def->container : "");
    d->tmin = def->temp_min_c;
    d->tmax = def->temp_max_c;
    if (fresh) {
        d->st.version = ENG_STATE_VERSION;
        d->st.size = sizeof d->st;
    }
    eng__bind(e, (size_t)i);
    if (cx_map_iset(&e->dev_by_key, def->key, i) || cx_map_set(&e->dev_by_id, id, i))
        return CX_ENOMEM;
    return CX_OK;
}

cx_err track_engine_consignment(track_engine *e, const track_consignment_def *def,
                                track_shape *corridor)
{
    if (!def->id || cx_map_iget(&e->cons_by_key, def->key) >= 0) {
        track_shape_free(corridor);
        return CX_EINVAL;
    }
    if (!eng__grow((void **)&e->cons, &e->capc, e->ncons + 1, sizeof *e->cons)) {
        track_shape_free(corridor);
        return CX_ENOMEM;
    }
    size_t ci = e->ncons;
    eng_cons *c = &e->cons[ci];
    memset(c, 0, sizeof *c);
    c->key = def->key;
    c->id = eng__strdup(def->id);
    c->origin = eng__strdup(def->origin_zone);
    c->dest = eng__strdup(def->destination_zone);
    c->containers = calloc(def->ncontainers ? def->ncontainers : 1, sizeof *c->containers);
    bool ok = c->id && c->containers && (!def->origin_zone || c->origin) &&
              (!def->destination_zone || c->dest);
    for (size_t k = 0; ok && k < def->ncontainers; k++) {
        c->containers[k] = eng__strdup(def->containers[k]);
        ok = c->containers[k] != NULL;
        c->ncontainers = k + 1;
    }
    if (!ok) {
        free(c->id);
        free(c->origin);
        free(c->dest);
        for (size_t k = 0; k < c->ncontainers; k++)
            free(c->containers[k]);
        free(c->containers);
        track_shape_free(corridor);
        return CX_ENOMEM;
    }
    c->expected_ms = def->expected_arrival_ms;
    c->corridor_m = def->corridor_m;
    c->tmin = def->temp_min_c;
    c->tmax = def->temp_max_c;
    c->corridor = corridor;
    c->rules = def->rules ? *def->rules : e->cfg;
    c->arrived_ms = def->arrived_ms;
    c->overdue_fired = def->overdue_fired;
    c->last_dev = -1;
    eng__cons_zones(e, c);
    e->ncons++;
    if (cx_map_iset(&e->cons_by_key, c->key, (int64_t)ci) ||
        cx_map_set(&e->cons_by_id, c->id, (int64_t)ci))
        return CX_ENOMEM;
    if (c->arrived_ms == 0) {
        /* The newest consignment in transit owns its containers. */
        for (size_t k = 0; k < c->ncontainers; k++)
            if (cx_map_set(&e->cons_by_container, c->containers[k], (int64_t)ci))
                return CX_ENOMEM;
        for (size_t i = 0; i < e->ndevs; i++)
            eng__bind(e, i);
    }
    return CX_OK;
}

/* ---- lookups -------------------------------------------------------------------------- */

const char *track_engine_device_org(const track_engine *e, const char *device, int64_t *key)
{
    int64_t i = cx_map_get(&e->dev_by_id, device);
    if (i < 0)
        return NULL;
    if (key)
        *key = e->devs[i].key;
    return e->devs[i].org;
}

static eng_cons *eng__bound(const track_engine *e, const eng_dev *d)
{
    return d->cons >= 0 ? &e->cons[d->cons] : NULL;
}

const char *track_engine_device_consignment(const track_engine *e, const char *device)
{
    int64_t i = cx_map_get(&e->dev_by_id, device);
    if (i < 0)
        return NULL;
    eng_cons *c = eng__bound(e, &e->devs[i]);
    return c && c->arrived_ms == 0 ? c->id : NULL;
}

bool track_engine_consignment_state(const track_engine *e, const char *id, int64_t *arrived_ms,
                                    bool *overdue_fired)
{
    int64_t i = cx_map_get(&e->cons_by_id, id);
    if (i < 0)
        return false;
    if (arrived_ms)
        *arrived_ms = e->cons[i].arrived_ms;
    if (overdue_fired)
        *overdue_fired = e->cons[i].overdue_fired;
    return true;
}

const char *track__engine_device_container(const track_engine *e, int64_t key)
{
    int64_t i = cx_map_iget(&e->dev_by_key, key);
    return i >= 0 && e->devs[i].container[0] ? e->devs[i].container : NULL;
}

size_t track__engine_ndevices(const track_engine *e)
{
    return e->ndevs;
}
size_t track__engine_nzones(const track_engine *e)
{
    return e->nzones;
}
size_t track__engine_nconsignments(const track_engine *e)
{
    return e->ncons;
}

/* ---- dirty tracking ------------------------------------------------------------------- */

/* Position-only changes wait up to this long before they are stored;
 * anything the rules depend on goes with the batch it happened in. */
#define ENG_COLD_US 10000000

static void eng__dirty(track_engine *e, size_t di, bool hot)
{
    eng_dev *d = &e->devs[di];
    d->dirty = true;
    if (hot && !d->in_hot &&
        eng__grow((void **)&e->hot, &e->caphot, e->nhot + 1, sizeof(size_t))) {
        d->in_hot = true;
        e->hot[e->nhot++] = di;
    }
    if (!d->in_cold) {
        if (e->ncold == e->capcold) {
            /* grow the ring, keeping its order */
            size_t nc = e->capcold ? e->capcold * 2 : 256;
            size_t *nr = malloc(nc * sizeof *nr);
            if (!nr)
                return;
            for (size_t k = 0; k < e->ncold; k++)
                nr[k] = e->cold[(e->cold_head + k) % e->capcold];
            free(e->cold);
            e->cold = nr;
            e->capcold = nc;
            e->cold_head = 0;
        }
        d->in_cold = true;
        d->due = cx_mono_us() + ENG_COLD_US;
        e->cold[(e->cold_head + e->ncold) % e->capcold] = di;
        e->ncold++;
    }
}

/* Fields the rules depend on (not positions or timers): when these change
 * the state is stored with the batch, so a crash cannot replay an alert. */
static uint64_t eng__hot_print(const eng_state *st)
{
    uint64_t h = (uint64_t)st->have | (uint64_t)st->seal << 8 | (uint64_t)st->door << 16 |
                 (uint64_t)st->dev_fired << 24 | (uint64_t)st->stop_fired << 32 |
                 (uint64_t)st->t_fired << 40 | (uint64_t)st->lost << 48 | (uint64_t)st->nz << 56;
    h ^= (uint64_t)st->jump_ts * 0x9E3779B97F4A7C15ULL;
    for (uint8_t k = 0; k < st->nz && k < ENG_ZS_MAX; k++)
        h = h * 1099511628211ULL + (uint64_t)st->zs[k].zone * 2 + st->zs[k].in;
    return h;
}

static void eng__dirty_cons(track_engine *e, eng_cons *c)
{
    if (c->dirty)
        return;
    if (!eng__grow((void **)&e->dirty_cons, &e->capdirty_cons, e->ndirty_cons + 1,
                   sizeof(size_t)))
        return;
    c->dirty = true;
    e->dirty_cons[e->ndirty_cons++] = (size_t)(c - e->cons);
}

static void eng__hand_out(track_engine *e, eng_dev *d, track_dirty_dev_fn dev, void *ctx)
{
    d->dirty = false;
    if (!dev)
        return;
    const eng_cons *c = eng__bound(e, d);
    track_dirty_dev r = {.key = d->key, .id = d->id, .org = d->org,
                         .container = d->container[0] ? d->container : NULL,
                         .consignment = c && !c->arrived_ms ? c->id : NULL,
                         .ts_ms = d->st.ts, .lat = d->st.lat, .lon = d->st.lon,
                         .speed_kmh = d->st.speed, .heading = d->st.heading,
                         .temp_c = d->st.temp, .battery_pct = d->st.batt, .seal = d->st.seal,
                         .door = d->st.door, .recv_us = d->st.recv_us, .state = &d->st,
                         .state_len = sizeof d->st};
    dev(ctx, &r);
}

void track__engine_take_dirty(track_engine *e, bool all, track_dirty_dev_fn dev,
                              track_dirty_cons_fn cons, void *ctx)
{
    for (size_t k = 0; k < e->nhot; k++) {
        eng_dev *d = &e->devs[e->hot[k]];
        d->in_hot = false;
        if (d->dirty)
            eng__hand_out(e, d, dev, ctx);
    }
    e->nhot = 0;
    int64_t now = cx_mono_us();
    while (e->ncold) {
        eng_dev *d = &e->devs[e->cold[e->cold_head]];
        if (!all && d->due > now)
            break;
        d->in_cold = false;
        e->cold_head = (e->cold_head + 1) % e->capcold;
        e->ncold--;
        if (d->dirty)
            eng__hand_out(e, d, dev, ctx);
    }
    for (size_t k = 0; k < e->ndirty_cons; k++) {
        eng_cons *c = &e->cons[e->dirty_cons[k]];
        c->dirty = false;
        if (cons)
            cons(ctx, c->key, c->arrived_ms, c->overdue_fired);
    }
    e->ndirty_cons = 0;
}

void track__engine_restore(track_engine *e, int64_t key, const void *state, size_t len)
{
    int64_t i = cx_map_iget(&e->dev_by_key, key);
    eng_state st;
    if (i < 0 || len != sizeof st)
        return;
    memcpy(&st, state, sizeof st);
    if (st.version != ENG_STATE_VERSION || st.size != sizeof st || st.nz > ENG_ZS_MAX)
        return; /* another layout: start this device afresh */
    /* the silence while we were down was ours, not the device's: its wall
     * clock for signal loss starts again now */
    int64_t now = cx_now_us();
    if (st.recv_us < now)
        st.recv_us = now;
    e->devs[i].st = st;
}

/* ---- alerts ---------------------------------------------------------------------------- */

static void eng__time(json_t *detail, const char *key, int64_t ms)
{
    char t[32];
    cx_rfc3339_format(ms * 1000, t);
    json_object_set_new(detail, key, json_string(t));
}

static void eng__emit(track_engine *e, track_alert_fn fn, void *ctx, track_alert_type type,
                      track_severity sev, int64_t time_ms, const eng_dev *d, const eng_cons *c,
                      double lat, double lon, json_t *detail)
{
    if (!detail)
        detail = json_object();
    track_alert a = {.type = type, .severity = sev, .time_ms = time_ms,
                     .device = d ? d->id : NULL, .device_key = d ? d->key : 0,
                     .org = d ? d->org : NULL,
                     .container = d && d->container[0] ? d->container : NULL,
                     .consignment = c ? c->id : NULL, .consignment_key = c ? c->key : 0,
                     .lat = lat, .lon = lon, .detail = detail};
    if (fn)
        fn(ctx, &a);
    json_decref(detail);
    (void)e;
}

/* ---- the rules ------------------------------------------------------------------------- */

static void eng__hit(void *item, void *ud)
{
    track_engine *e = ud;
    int zi = (int)((uintptr_t)item - 1);
    for (size_t k = 0; k < e->nhits; k++)
        if (e->hits[k] == zi)
            return;
    if (e->nhits < ENG_HITS_MAX)
        e->hits[e->nhits++] = zi;
}

static bool eng__in_hits(const track_engine *e, int64_t zone_key)
{
    for (size_t k = 0; k < e->nhits; k++)
        if (e->zones[e->hits[k]].key == zone_key)
            return true;
    return false;
}

/* Resolves a consignment's origin and destination zones (by id, once). */
static void eng__cons_zones(track_engine *e, eng_cons *c)
{
    int64_t zi;
    if (c->origin && !c->origin_key && (zi = cx_map_get(&e->zone_by_id, c->origin)) >= 0)
        c->origin_key = e->zones[zi].key;
    if (c->dest && !c->dest_key && (zi = cx_map_get(&e->zone_by_id, c->dest)) >= 0)
        c->dest_key = e->zones[zi].key;
}

static bool eng__in_zone_key(const track_engine *e, int64_t key)
{
    return key && eng__in_hits(e, key);
}

/* Inside the destination or a zone under customs control. */
static bool eng__customs_place(const track_engine *e, const eng_cons *c)
{
    if (c && eng__in_zone_key(e, c->dest_key))
        return true;
    for (size_t k = 0; k < e->nhits; k++) {
        track_zone_kind kd = e->zones[e->hits[k]].kind;
        if (kd == TRACK_ZONE_CUSTOMS_OFFICE || kd == TRACK_ZONE_BONDED_WAREHOUSE)
            return true;
    }
    return false;
}

static json_t *eng__zone_detail(const eng_zone *z, int64_t since)
{
    json_t *d = json_pack("{s:s,s:s,s:s}", "zone", z->id, "zone_name", z->name, "zone_kind",
                          track_zone_kind_name(z->kind));
    eng__time(d, "since", since);
    return d;
}

static eng_zs *eng__zs_find(eng_state *st, int64_t zone)
{
    for (uint8_t k = 0; k < st->nz; k++)
        if (st->zs[k].zone == zone)
            return &st->zs[k];
    return NULL;
}

static void eng__zones(track_engine *e, eng_dev *d, eng_cons *c, const track_msg *m,
                       const track_config *cfg, bool first, track_alert_fn fn, void *ctx)
{
    eng_state *st = &d->st;
    int64_t deb = cfg->zone_debounce_s * 1000;
    /* Zones observed now that the device is not yet tracking in. */
    for (size_t k = 0; k < e->nhits; k++) {
        const eng_zone *z = &e->zones[e->hits[k]];
        if (eng__zs_find(st, z->key) || st->nz >= ENG_ZS_MAX)
            continue;
        eng_zs *s = &st->zs[st->nz++];
        s->zone = z->key;
        s->in = first; /* the first report sets the baseline without alerts */
        s->since = 0;
        if (first && c && c->arrived_ms == 0 && c->dest_key == z->key) {
            c->arrived_ms = m->ts_ms;
            eng__dirty_cons(e, c);
        }
    }
    for (uint8_t k = 0; k < st->nz;) {
        eng_zs *s = &st->zs[k];
        int64_t zi = cx_map_iget(&e->zone_by_key, s->zone);
        if (zi < 0) { /* zone gone */
            st->zs[k] = st->zs[--st->nz];
            continue;
        }
        const eng_zone *z = &e->zones[zi];
        bool obs = eng__in_hits(e, s->zone);
        if (obs == (bool)s->in) {
            s->since = 0;
        } else {
            if (s->since == 0)
                s->since = m->ts_ms;
            if (m->ts_ms - s->since >= deb) {
                s->in = obs;
                track_severity sev = TRACK_SEV_INFO;
                if (obs && z->kind == TRACK_ZONE_RESTRICTED)
                    sev = TRACK_SEV_CRITICAL;
                eng__emit(e, fn, ctx, obs ? TRACK_A_ZONE_ENTER : TRACK_A_ZONE_EXIT, sev, m->ts_ms,
                          d, c, m->lat, m->lon, eng__zone_detail(z, s->since));
                if (obs && c && c->arrived_ms == 0 && c->dest_key == z->key) {
                    c->arrived_ms = s->since;
                    eng__dirty_cons(e, c);
                }
                s->since = 0;
            }
        }
        if (!s->in && s->since == 0)
            st->zs[k] = st->zs[--st->nz]; /* outside and settled: forget */
        else
            k++;
    }
}

static void eng__corridor(track_engine *e, GEOSContextHandle_t h, const GEOSGeometry *pt,
                          eng_dev *d, eng_cons *c, const track_msg *m, const track_config *cfg,
                          track_alert_fn fn, void *ctx)
{
    eng_state *st = &d->st;
    bool inside = track__shape_covers_pt(h, c->corridor, pt) ||
                  eng__in_zone_key(e, c->origin_key) || eng__in_zone_key(e, c->dest_key);
    if (!inside) {
        st->in_since = 0;
        if (st->out_since == 0)
            st->out_since = m->ts_ms;
        if (!st->dev_fired && m->ts_ms - st->out_since >= cfg->corridor_grace_s * 1000) {
            st->dev_fired = 1;
            double dist = track__shape_route_distance(h, c->corridor, m->lat, m->lon);
            json_t *det = json_object();
            if (isfinite(dist))
                json_object_set_new(det, "distance_m", json_integer((json_int_t)llround(dist)));
            json_object_set_new(det, "corridor_m", json_real(c->corridor_m));
            eng__time(det, "since", st->out_since);
            json_object_set_new(det, "outside_s",
                                json_integer((m->ts_ms - st->out_since) / 1000));
            track_severity sev = isfinite(dist) && dist >= cfg->corridor_critical_m
                                     ? TRACK_SEV_CRITICAL
                                     : TRACK_SEV_WARNING;
            eng__emit(e, fn, ctx, TRACK_A_CORRIDOR_DEVIATION, sev, m->ts_ms, d, c, m->lat, m->lon,
                      det);
        }
    } else if (st->out_since) {
        if (!st->dev_fired) {
            st->out_since = 0; /* back within the grace: nothing happened */
        } else {
            if (st->in_since == 0)
                st->in_since = m->ts_ms;
            if (m->ts_ms - st->in_since >= cfg->corridor_return_s * 1000) {
                st->out_since = st->in_since = 0;
                st->dev_fired = 0;
            }
        }
    }
}

static void eng__stop(track_engine *e, eng_dev *d, eng_cons *c, const track_msg *m,
                      const track_config *cfg, track_alert_fn fn, void *ctx)
{
    eng_state *st = &d->st;
    if (!st->anchor ||
        track_distance_m(st->a_lat, st->a_lon, m->lat, m->lon) > cfg->stop_radius_m) {
        st->anchor = 1;
        st->a_lat = m->lat;
        st->a_lon = m->lon;
        st->a_ts = m->ts_ms;
        st->stop_fired = 0;
        return;
    }
    if (st->stop_fired || m->ts_ms - st->a_ts < cfg->stop_min_s * 1000)
        return;
    for (size_t k = 0; k < e->nhits; k++)
        if (e->zones[e->hits[k]].kind != TRACK_ZONE_RESTRICTED)
            return; /* a port, depot, office or border post: stopping is allowed */
    st->stop_fired = 1;
    json_t *det = json_object();
    eng__time(det, "since", st->a_ts);
    json_object_set_new(det, "duration_s", json_integer((m->ts_ms - st->a_ts) / 1000));
    json_object_set_new(det, "radius_m", json_real(cfg->stop_radius_m));
    eng__emit(e, fn, ctx, TRACK_A_UNSCHEDULED_STOP, TRACK_SEV_WARNING, m->ts_ms, d, c, st->a_lat,
              st->a_lon, det);
}

static const char *eng__seal_name(uint8_t s)
{
    return s == TRACK_SEAL_CLOSED ? "closed" : s == TRACK_SEAL_OPEN ? "open"
                                           : s == TRACK_SEAL_TAMPERED ? "tampered" : NULL;
}

static json_t *eng__place_detail(const track_engine *e)
{
    json_t *det = json_object();
    json_t *zones = json_array();
    for (size_t k = 0; k < e->nhits; k++)
        json_array_append_new(zones, json_string(e->zones[e->hits[k]].id));
    json_object_set_new(det, "zones", zones);
    return det;
}

static void eng__seal_door(track_engine *e, eng_dev *d, eng_cons *c, const track_msg *m,
                           track_alert_fn fn, void *ctx)
{
    eng_state *st = &d->st;
    bool calm = eng__customs_place(e, c);
    if (m->seal != TRACK_SEAL_NONE && m->seal != st->seal) {
        track_alert_type t = TRACK_A__COUNT;
        track_severity sev = TRACK_SEV_CRITICAL;
        if (m->seal == TRACK_SEAL_TAMPERED) {
            t = TRACK_A_SEAL_TAMPERED;
            if (calm)
                sev = TRACK_SEV_WARNING;
        } else if (m->seal == TRACK_SEAL_OPEN && st->seal != TRACK_SEAL_TAMPERED) {
            t = TRACK_A_SEAL_OPENED;
            if (calm)
                sev = TRACK_SEV_INFO;
        }
        if (t != TRACK_A__COUNT) {
            json_t *det = eng__place_detail(e);
            json_object_set_new(det, "seal", json_string(eng__seal_name(m->seal)));
            const char *prev = eng__seal_name(st->seal);
            json_object_set_new(det, "previous", prev ? json_string(prev) : json_null());
            eng__emit(e, fn, ctx, t, sev, m->ts_ms, d, c, m->lat, m->lon, det);
        }
        st->seal = m->seal;
    }
    if (m->door != TRACK_DOOR_NONE && m->door != st->door) {
        if (m->door == TRACK_DOOR_OPEN) {
            json_t *det = eng__place_detail(e);
            json_object_set_new(det, "door", json_string("open"));
            eng__emit(e, fn, ctx, TRACK_A_DOOR_OPEN, calm ? TRACK_SEV_INFO : TRACK_SEV_WARNING,
                      m->ts_ms, d, c, m->lat, m->lon, det);
        }
        st->door = m->door;
    }
}

static void eng__temperature(track_engine *e, eng_dev *d, eng_cons *c, const track_msg *m,
                             const track_config *cfg, track_alert_fn fn, void *ctx)
{
    eng_state *st = &d->st;
    double lo = d->tmin, hi = d->tmax;
    if (c && c->arrived_ms == 0 && (isfinite(c->tmin) || isfinite(c->tmax))) {
        lo = c->tmin;
        hi = c->tmax;
    }
    if (isnan(m->temp_c) || (!isfinite(lo) && !isfinite(hi)))
        return;
    bool out = (isfinite(lo) && m->temp_c < lo) || (isfinite(hi) && m->temp_c > hi);
    if (!out) {
        st->t_since = 0;
        st->t_fired = 0;
        return;
    }
    if (st->t_since == 0)
        st->t_since = m->ts_ms;
    if (st->t_fired || m->ts_ms - st->t_since < cfg->temp_grace_s * 1000)
        return;
    st->t_fired = 1;
    json_t *det = json_object();
    json_object_set_new(det, "temp_c", json_real(m->temp_c));
    json_object_set_new(det, "min_c", isfinite(lo) ? json_real(lo) : json_null());
    json_object_set_new(det, "max_c", isfinite(hi) ? json_real(hi) : json_null());
    eng__time(det, "since", st->t_since);
    eng__emit(e, fn, ctx, TRACK_A_TEMPERATURE, TRACK_SEV_WARNING, m->ts_ms, d, c, m->lat, m->lon,
              det);
}

static void eng__overdue(track_engine *e, eng_cons *c, const eng_dev *d, int64_t time_ms,
                         double lat, double lon, const char *how, track_alert_fn fn, void *ctx)
{
    c->overdue_fired = true;
    eng__dirty_cons(e, c);
    json_t *det = json_object();
    eng__time(det, "expected_arrival", c->expected_ms);
    json_object_set_new(det, "grace_s", json_integer(c->rules.overdue_grace_s));
    json_object_set_new(det, "detected", json_string(how));
    eng__emit(e, fn, ctx, TRACK_A_OVERDUE, TRACK_SEV_WARNING, time_ms, d, c, lat, lon, det);
}

static void eng__signal_loss(track_engine *e, eng_dev *d, eng_cons *c, int64_t silent_ms,
                             const char *how, track_alert_fn fn, void *ctx)
{
    eng_state *st = &d->st;
    st->lost = 1;
    json_t *det = json_object();
    eng__time(det, "last_report", st->ts);
    json_object_set_new(det, "silent_s", json_integer(silent_ms / 1000));
    json_object_set_new(det, "detected", json_string(how));
    eng__emit(e, fn, ctx, TRACK_A_SIGNAL_LOSS, TRACK_SEV_WARNING,
              st->ts + c->rules.signal_loss_s * 1000, d, c, st->lat, st->lon, det);
}

track_outcome track_engine_process(track_engine *e, const track_msg *m, int64_t recv_us,
                                   track_alert_fn fn, void *ctx)
{
    return track__engine_apply(e, m, recv_us, NULL, 0, NULL, fn, ctx);
}

track_outcome track__engine_apply(track_engine *e, const track_msg *m, int64_t recv_us,
                                  const char *only_org, int64_t only_key, int64_t *key,
                                  track_alert_fn fn, void *ctx)
{
    int64_t di = cx_map_get(&e->dev_by_id, m->device);
    if (di < 0)
        return TRACK_UNKNOWN;
    eng_dev *d = &e->devs[di];
    if (key)
        *key = d->key;
    if ((only_org && strcmp(only_org, d->org) != 0) || (only_key && only_key != d->key_id))
        return (track_outcome)TRACK__FORBIDDEN;
    eng_state *st = &d->st;
    if (st->have && m->ts_ms < st->ts)
        return TRACK_LATE;
    if (st->have && m->ts_ms == st->ts)
        return TRACK_DUPLICATE;
    uint64_t hot_before = eng__hot_print(st);
    GEOSContextHandle_t h = track__geos();
    if (!e->tree && e->nzones && eng__tree_build(e, h) != CX_OK)
        eng__tree_drop(e);
    GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(h, m->lon, m->lat);
    e->nhits = 0;
    if (pt && e->tree)
        GEOSSTRtree_query_r(h, e->tree, pt, eng__hit, e);
    /* Candidates from the index are envelopes: keep the zones that cover. */
    size_t keep = 0;
    for (size_t k = 0; k < e->nhits; k++)
        if (pt && track__shape_covers_pt(h, e->zones[e->hits[k]].shape, pt))
            e->hits[keep++] = e->hits[k];
    e->nhits = keep;

    eng_cons *cb = eng__bound(e, d); /* bound, maybe arrived */
    eng_cons *c = cb && cb->arrived_ms == 0 ? cb : NULL;
    const track_config *cfg = cb ? &cb->rules : &e->cfg;
    bool first = !st->have;

    if (!first && c && !st->lost && m->ts_ms - st->ts > c->rules.signal_loss_s * 1000)
        eng__signal_loss(e, d, c, m->ts_ms - st->ts, "event_time", fn, ctx);
    st->lost = 0;

    if (!first) {
        double dist = track_distance_m(st->lat, st->lon, m->lat, m->lon);
        double kmh = dist / ((double)(m->ts_ms - st->ts) / 1000.0) * 3.6;
        if (dist >= cfg->jump_min_m && kmh > cfg->jump_max_kmh) {
            if (st->jump_ts == 0 || m->ts_ms - st->jump_ts >= cfg->jump_episode_s * 1000) {
                json_t *det = json_object();
                json_object_set_new(det, "distance_m", json_integer((json_int_t)llround(dist)));
                json_object_set_new(det, "seconds", json_real((double)(m->ts_ms - st->ts) / 1000));
                json_object_set_new(det, "speed_kmh", json_integer((json_int_t)llround(kmh)));
                json_t *from = json_pack("{s:f,s:f}", "lat", st->lat, "lon", st->lon);
                eng__time(from, "time", st->ts);
                json_object_set_new(det, "from", from);
                eng__emit(e, fn, ctx, TRACK_A_IMPOSSIBLE_JUMP, TRACK_SEV_CRITICAL, m->ts_ms, d, cb,
                          m->lat, m->lon, det);
            }
            st->jump_ts = m->ts_ms;
        }
    }

    eng__zones(e, d, cb, m, cfg, first, fn, ctx);
    if (cb) {
        cb->last_dev = di;
        int64_t deadline = cb->expected_ms + cb->rules.overdue_grace_s * 1000;
        if (cb->expected_ms && !cb->overdue_fired && m->ts_ms >= deadline &&
            (cb->arrived_ms == 0 || cb->arrived_ms > deadline))
            eng__overdue(e, cb, d, deadline, m->lat, m->lon, "event_time", fn, ctx);
    }
    c = cb && cb->arrived_ms == 0 ? cb : NULL; /* this message may have been the arrival */
    if (c && c->corridor && pt)
        eng__corridor(e, h, pt, d, c, m, cfg, fn, ctx);
    if (c)
        eng__stop(e, d, c, m, cfg, fn, ctx);
    else
        st->anchor = 0;
    eng__seal_door(e, d, cb, m, fn, ctx);
    eng__temperature(e, d, c, m, cfg, fn, ctx);
    if (pt)
        GEOSGeom_destroy_r(h, pt);

    st->have = 1;
    st->ts = m->ts_ms;
    st->lat = m->lat;
    st->lon = m->lon;
    st->speed = m->speed_kmh;
    st->heading = m->heading;
    st->temp = m->temp_c;
    st->batt = m->battery_pct;
    st->recv_us = recv_us;
    eng__dirty(e, (size_t)di, eng__hot_print(st) != hot_before);
    return TRACK_APPLIED;
}

void track_engine_tick(track_engine *e, int64_t now_us, track_alert_fn fn, void *ctx)
{
    for (size_t i = 0; i < e->ndevs; i++) {
        eng_dev *d = &e->devs[i];
        eng_cons *c = eng__bound(e, d);
        if (!d->st.have || d->st.lost || !c || c->arrived_ms)
            continue;
        int64_t silent = now_us - d->st.recv_us;
        if (silent > c->rules.signal_loss_s * 1000000) {
            eng__signal_loss(e, d, c, silent / 1000, "wall_clock", fn, ctx);
            eng__dirty(e, i, true);
        }
    }
    int64_t now_ms = now_us / 1000;
    for (size_t i = 0; i < e->ncons; i++) {
        eng_cons *c = &e->cons[i];
        if (c->arrived_ms || c->overdue_fired || !c->expected_ms)
            continue;
        int64_t deadline = c->expected_ms + c->rules.overdue_grace_s * 1000;
        if (now_ms < deadline)
            continue;
        const eng_dev *d = c->last_dev >= 0 ? &e->devs[c->last_dev] : NULL;
        eng__overdue(e, c, d, deadline, d ? d->st.lat : NAN, d ? d->st.lon : NAN, "wall_clock",
                     fn, ctx);
    }
}
