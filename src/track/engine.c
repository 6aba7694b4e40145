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
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------------ */

static const char *const zone_kinds[TRACK_ZONE__COUNT] = {
    "bonded-warehouse", "port", "customs-office", "border", "restricted", "territory"};
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

void track__eng_tree_drop(track_engine *e)
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
    track__eng_tree_drop(e);
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

static char *eng__strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}


/* ---- registration ----------------------------------------------------------------- */

cx_err track_engine_zone(track_engine *e, const track_zone_def *z, track_shape *shape)
{
    if (z->kind == TRACK_ZONE_TERRITORY) { /* the drone rules' zone, no container rule's */
        track_shape_free(shape);
        return CX_OK;
    }
    if (!shape || !z->id)
        return CX_EINVAL;
    int64_t i = cx_map_iget(&e->zone_by_key, z->key);
    if (i < 0) {
        if (!cx_grow((void **)&e->zones, &e->capz, e->nzones + 1, sizeof *e->zones)) {
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
    track__eng_tree_drop(e); /* rebuilt before the next query */
    for (size_t k = 0; k < e->ncons; k++)
        track__eng_cons_zones(e, &e->cons[k]);
    return CX_OK;
}

cx_err track__eng_tree_build(track_engine *e, GEOSContextHandle_t h)
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
        if (!cx_grow((void **)&e->devs, &e->capd, e->ndevs + 1, sizeof *e->devs))
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
    if (!cx_grow((void **)&e->cons, &e->capc, e->ncons + 1, sizeof *e->cons)) {
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
    track__eng_cons_zones(e, c);
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

eng_cons *track__eng_bound(const track_engine *e, const eng_dev *d)
{
    return d->cons >= 0 ? &e->cons[d->cons] : NULL;
}

const char *track_engine_device_consignment(const track_engine *e, const char *device)
{
    int64_t i = cx_map_get(&e->dev_by_id, device);
    if (i < 0)
        return NULL;
    eng_cons *c = track__eng_bound(e, &e->devs[i]);
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

void track__eng_dirty(track_engine *e, size_t di, bool hot)
{
    eng_dev *d = &e->devs[di];
    d->dirty = true;
    if (hot && !d->in_hot &&
        cx_grow((void **)&e->hot, &e->caphot, e->nhot + 1, sizeof(size_t))) {
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
uint64_t track__eng_hot_print(const eng_state *st)
{
    uint64_t h = (uint64_t)st->have | (uint64_t)st->seal << 8 | (uint64_t)st->door << 16 |
                 (uint64_t)st->dev_fired << 24 | (uint64_t)st->stop_fired << 32 |
                 (uint64_t)st->t_fired << 40 | (uint64_t)st->lost << 48 | (uint64_t)st->nz << 56;
    h ^= (uint64_t)st->jump_ts * 0x9E3779B97F4A7C15ULL;
    for (uint8_t k = 0; k < st->nz && k < ENG_ZS_MAX; k++)
        h = h * 1099511628211ULL + (uint64_t)st->zs[k].zone * 2 + st->zs[k].in;
    return h;
}

void track__eng_dirty_cons(track_engine *e, eng_cons *c)
{
    if (c->dirty)
        return;
    if (!cx_grow((void **)&e->dirty_cons, &e->capdirty_cons, e->ndirty_cons + 1,
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
    const eng_cons *c = track__eng_bound(e, d);
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

