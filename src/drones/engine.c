/* The drone engine: which drone an observation belongs to, event time, and
 * the rules. Every rule is an episode that raises one alert:
 *
 *   drone_border_crossing  the side of a territory boundary changes; a side
 *                          counts once the drone is drone_crossing_margin_m
 *                          beyond the line, so GPS noise on the line is not
 *                          a crossing; the first position sets the side
 *   drone_restricted_zone  first position inside a restricted, port,
 *                          bonded-warehouse or customs-office zone; over
 *                          once the drone is the margin outside again
 *   drone_drop_pattern     near a territory boundary, low and slow for
 *                          drone_hover_s; critical if the drone crossed a
 *                          territory boundary earlier in the flight, and
 *                          escalated to critical if it crosses afterwards
 *   drone_unregistered     a UAS ID or operator ID the registry does not
 *                          know (or no longer: valid_until), once a flight
 *   drone_spoofing         an impossible implied speed, or the pilot jumping
 *                          kilometres in seconds; later ones within
 *                          drone_spoof_episode_s are the same episode
 *
 * Identity: observations are grouped by transport + MAC until a Basic ID is
 * heard from it, then by the UAS ID; a drone first named mac:… is renamed,
 * or folded into the drone already known by that UAS ID. */
#include "drones_geo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char id[DRONES_ID_MAX];
    char name[128];
    drones_zone_kind kind;
    drones_zone *z;
} eng_zone;

typedef struct drone drone;
struct drone {
    drones_state s;
    drone *into; /* folded into another drone: follow this */
    int id_rank;
    uint8_t *zin; /* per zone: 0 unknown, 1 outside, 2 inside */
    size_t nzin;
    int64_t hover_start, hover_last, hover_clear;
    bool hover_alerted;
    int64_t drop_alert_us;
    bool drop_escalated;
    double drop_hover_s, drop_height, drop_dist;
    int64_t crossed_us;
    int64_t spoof_until;
    bool unreg_fired;
    int64_t pilot_stored_us;
    double loc_ts;      /* the last Location timestamp heard (NAN: none) */
    int64_t loc_frame;  /* the observation time it was first heard at */
    bool clock_bad;     /* its timestamps stand still while time goes on */
    bool rules_dirty;   /* s.rules needs writing again */
    json_t *pending;    /* restored rule state not yet matched to zones */
    uint8_t auth_type, auth_last, auth_length;
    int64_t auth_ts;
    uint16_t auth_pages;
    uint8_t auth_buf[16 * 23];
};

struct drones_engine {
    drones_config cfg;
    const drones_registry *reg;
    GEOSContextHandle_t geos;
    eng_zone *zones;
    size_t nzones;
    drones_map by_mac; /* transport + MAC (7 bytes) -> drone */
    drones_map by_id;  /* UAS IDs, aliases, mac:… names -> drone */
    drones_map by_key; /* int64 key -> drone (owns them) */
    int64_t next_key;
    size_t ndrones;
};

static void eng__geos_msg(const char *fmt, ...)
{
    (void)fmt;
}

drones_engine *drones_engine_new(const drones_config *cfg, const drones_registry *registry)
{
    drones_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->cfg = *cfg;
    e->reg = registry;
    e->geos = GEOS_init_r();
    if (!e->geos) {
        free(e);
        return NULL;
    }
    GEOSContext_setErrorHandler_r(e->geos, eng__geos_msg);
    GEOSContext_setNoticeHandler_r(e->geos, eng__geos_msg);
    drones__map_init(&e->by_mac);
    drones__map_init(&e->by_id);
    drones__map_init(&e->by_key);
    e->next_key = 1;
    return e;
}

static void eng__free_drone(void *ctx, void *val)
{
    drone *d = val;
    json_decref(d->pending);
    free(d->zin);
    free(d);
}

void drones_engine_free(drones_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nzones; i++)
        drones__zone_free(e->geos, e->zones[i].z);
    free(e->zones);
    drones__map_each(&e->by_key, eng__free_drone, NULL);
    drones__map_free(&e->by_mac);
    drones__map_free(&e->by_id);
    drones__map_free(&e->by_key);
    GEOS_finish_r(e->geos);
    free(e);
}

void drones_engine_set_registry(drones_engine *e, const drones_registry *registry)
{
    e->reg = registry;
}

const drones_config *drones_engine_config(const drones_engine *e)
{
    return &e->cfg;
}

size_t drones_engine_zone_count(const drones_engine *e)
{
    return e->nzones;
}

size_t drones_engine_drone_count(const drones_engine *e)
{
    return e->ndrones;
}

/* ---- zones ---------------------------------------------------------------------------- */

cx_err drones_engine_zone_geos(drones_engine *e, const char *id, const char *name,
                               const char *kind, struct GEOSGeom_t *geometry)
{
    char why[200];
    if (!id || !*id || strlen(id) >= DRONES_ID_MAX) {
        GEOSGeom_destroy_r(e->geos, geometry);
        return CX_EINVAL;
    }
    drones_zone *z = drones__zone_new(e->geos, geometry, why, sizeof why);
    if (!z)
        return CX_EINVAL;
    size_t i = 0;
    while (i < e->nzones && strcmp(e->zones[i].id, id) != 0)
        i++;
    if (i == e->nzones) {
        eng_zone *nz = realloc(e->zones, (e->nzones + 1) * sizeof *nz);
        if (!nz) {
            drones__zone_free(e->geos, z);
            return CX_ENOMEM;
        }
        e->zones = nz;
        e->nzones++;
    } else {
        drones__zone_free(e->geos, e->zones[i].z);
    }
    eng_zone *ez = &e->zones[i];
    snprintf(ez->id, sizeof ez->id, "%s", id);
    snprintf(ez->name, sizeof ez->name, "%s", name ? name : id);
    ez->kind = drones_zone_kind_parse(kind);
    ez->z = z;
    return CX_OK;
}

cx_err drones_engine_zone(drones_engine *e, const char *id, const char *name, const char *kind,
                          const json_t *geometry, const char *ptr, json_t *problems)
{
    char why[200];
    GEOSGeometry *g = drones__geojson_geometry(e->geos, geometry);
    if (!g) {
        cx_problem_add(problems, ptr, "not a GeoJSON geometry");
        return CX_EINVAL;
    }
    int t = GEOSGeomTypeId_r(e->geos, g);
    if (t != GEOS_POLYGON && t != GEOS_MULTIPOLYGON) {
        GEOSGeom_destroy_r(e->geos, g);
        cx_problem_add(problems, ptr, "must be a Polygon or MultiPolygon");
        return CX_EINVAL;
    }
    if (GEOSisValid_r(e->geos, g) != 1) {
        char *r = GEOSisValidReason_r(e->geos, g);
        snprintf(why, sizeof why, "%s", r ? r : "invalid");
        GEOSFree_r(e->geos, r);
        GEOSGeom_destroy_r(e->geos, g);
        cx_problem_add(problems, ptr, "is not a valid polygon: %s", why);
        return CX_EINVAL;
    }
    cx_err err = drones_engine_zone_geos(e, id, name, kind, g);
    if (err)
        cx_problem_add(problems, ptr, "zone could not be added: %s", cx_strerror(err));
    return err;
}

/* ---- drones ------------------------------------------------------------------------------ */

static drone *eng__resolve(drone *d)
{
    while (d && d->into)
        d = d->into;
    return d;
}

const drones_state *drones_engine_find(const drones_engine *e, const char *id)
{
    drone *d = eng__resolve(drones__map_get(&e->by_id, id, strlen(id)));
    return d ? &d->s : NULL;
}

static void eng__state_init(drones_state *s)
{
    memset(s, 0, sizeof *s);
    s->id_type = s->ua_type = -1;
    s->lat = s->lon = s->alt_geo_m = s->height_m = NAN;
    s->speed_h_mps = s->speed_v_mps = s->direction_deg = NAN;
    s->op_lat = s->op_lon = NAN;
    s->registered = -1;
    s->auth_type = -1;
}

/* Serial numbers name a drone best, then CAA registrations, UTM UUIDs,
 * session ids; other types last. */
static int eng__rank(int id_type)
{
    return id_type >= 1 && id_type <= 4 ? id_type : 9;
}

static drone *eng__new_drone(drones_engine *e, const char *id, int64_t key)
{
    drone *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    eng__state_init(&d->s);
    d->s.key = key ? key : e->next_key++;
    if (key >= e->next_key)
        e->next_key = key + 1;
    snprintf(d->s.id, sizeof d->s.id, "%s", id);
    d->id_rank = 10;
    d->loc_ts = NAN;
    if (drones__map_put(&e->by_key, &d->s.key, sizeof d->s.key, d) ||
        drones__map_put(&e->by_id, d->s.id, strlen(d->s.id), d)) {
        drones__map_del(&e->by_key, &d->s.key, sizeof d->s.key);
        free(d);
        return NULL;
    }
    e->ndrones++;
    return d;
}

cx_err drones_engine_restore(drones_engine *e, const drones_state *s)
{
    drone *d = eng__new_drone(e, s->id, s->key);
    if (!d)
        return CX_ENOMEM;
    d->s = *s;
    d->id_rank = s->has_uas ? eng__rank(s->id_type) : 10;
    d->pilot_stored_us = s->op_time_us;
    json_t *r = s->rules[0] ? json_loads(s->rules, 0, NULL) : NULL;
    if (json_is_object(r)) {
        d->crossed_us = json_integer_value(json_object_get(r, "crossed"));
        d->spoof_until = json_integer_value(json_object_get(r, "spoof_until"));
        d->unreg_fired = json_is_true(json_object_get(r, "unregistered"));
        d->drop_alert_us = json_integer_value(json_object_get(r, "drop_alert"));
        d->drop_escalated = json_is_true(json_object_get(r, "drop_escalated"));
        d->pending = json_incref(json_object_get(r, "zones"));
    }
    json_decref(r);
    return CX_OK;
}

static drone *eng__by_key(drones_engine *e, int64_t key)
{
    return eng__resolve(drones__map_get(&e->by_key, &key, sizeof key));
}

static void eng__mac_key(uint8_t k[7], drones_transport t, const uint8_t mac[6])
{
    k[0] = (uint8_t)t;
    memcpy(k + 1, mac, 6);
}

cx_err drones_engine_restore_mac(drones_engine *e, int64_t key, drones_transport t,
                                 const uint8_t mac[6])
{
    drone *d = eng__by_key(e, key);
    uint8_t k[7];
    eng__mac_key(k, t, mac);
    return d ? drones__map_put(&e->by_mac, k, 7, d) : CX_ENOTFOUND;
}

cx_err drones_engine_restore_alias(drones_engine *e, int64_t key, const char *id)
{
    drone *d = eng__by_key(e, key);
    return d ? drones__map_put(&e->by_id, id, strlen(id), d) : CX_ENOTFOUND;
}

void drones_engine_set_next_key(drones_engine *e, int64_t next)
{
    if (next > e->next_key)
        e->next_key = next;
}

/* `from` was heard as mac:… and turns out to be `into`: what it knew that
 * `into` does not moves over, and every name of it leads to `into`. */
static void eng__fold(drones_engine *e, drone *from, drone *into)
{
    drones_state *a = &from->s, *b = &into->s;
    if (a->pos_time_us > b->pos_time_us) {
        b->pos_time_us = a->pos_time_us;
        b->lat = a->lat, b->lon = a->lon, b->alt_geo_m = a->alt_geo_m;
        b->height_m = a->height_m, b->speed_h_mps = a->speed_h_mps;
        b->speed_v_mps = a->speed_v_mps, b->direction_deg = a->direction_deg;
    }
    if (a->op_time_us > b->op_time_us)
        b->op_time_us = a->op_time_us, b->op_lat = a->op_lat, b->op_lon = a->op_lon;
    if (!b->operator_id[0])
        memcpy(b->operator_id, a->operator_id, sizeof b->operator_id);
    if (!b->self_id[0])
        memcpy(b->self_id, a->self_id, sizeof b->self_id);
    if (a->first_seen_us && (!b->first_seen_us || a->first_seen_us < b->first_seen_us))
        b->first_seen_us = a->first_seen_us;
    if (a->last_seen_us > b->last_seen_us)
        b->last_seen_us = a->last_seen_us;
    if (!into->zin && from->zin) {
        into->zin = from->zin, into->nzin = from->nzin;
        from->zin = NULL, from->nzin = 0;
        into->crossed_us = from->crossed_us;
    }
    from->into = into;
    e->ndrones--;
}

/* A Basic ID heard from the broadcaster currently mapped to cur. */
static drone *eng__identify(drones_engine *e, drone *cur, const drones_basic *b,
                            drones_outcome *out)
{
    const char *uas = b->uas_id;
    size_t n = strlen(uas);
    if (n == 0 || n >= DRONES_ID_MAX)
        return cur;
    drone *known = eng__resolve(drones__map_get(&e->by_id, uas, n));
    drone *d = known;
    if (known) {
        if (cur && cur != known && !cur->s.has_uas) {
            out->merged_key = cur->s.key;
            eng__fold(e, cur, known);
        }
    } else if (cur) {
        d = cur;
        if (drones__map_put(&e->by_id, uas, n, cur))
            return cur;
        if (!cur->s.has_uas || eng__rank(b->id_type) < cur->id_rank) {
            snprintf(cur->s.id, sizeof cur->s.id, "%s", uas);
            cur->s.has_uas = true;
            cur->id_rank = eng__rank(b->id_type);
            cur->unreg_fired = false; /* now there is an id to check */
            out->renamed = true;
        }
    } else {
        d = eng__new_drone(e, uas, 0);
        if (!d)
            return NULL;
        d->s.has_uas = true;
        d->id_rank = eng__rank(b->id_type);
    }
    if (strcmp(d->s.id, uas) == 0) {
        d->s.id_type = b->id_type;
        d->s.ua_type = b->ua_type;
    }
    return d;
}

/* ---- alerts ---------------------------------------------------------------------------- */

static const char *const alert_names[] = {"drone_border_crossing", "drone_restricted_zone",
                                          "drone_drop_pattern", "drone_unregistered",
                                          "drone_spoofing"};
static const char *const sev_names[] = {"info", "warning", "critical"};

const char *drones_alert_type_name(drones_alert_type t)
{
    return t < DRONES_A__COUNT ? alert_names[t] : "unknown";
}

const char *drones_severity_name(drones_severity s)
{
    return s <= DRONES_SEV_CRITICAL ? sev_names[s] : "unknown";
}

/* Sends one alert; steals detail. */
static void eng__alert(const drones_alert_sink *sink, const drone *d, drones_alert_type type,
                       drones_severity sev, int64_t t, json_t *detail, bool escalation)
{
    if (sink && sink->raise) {
        drones_alert a = {.type = type, .severity = sev, .time_us = t, .drone = d->s.id,
                          .drone_key = d->s.key, .lat = d->s.lat, .lon = d->s.lon,
                          .detail = detail, .escalation = escalation};
        sink->raise(sink->ctx, &a);
    }
    json_decref(detail);
}

/* ---- rules ----------------------------------------------------------------------------- */

static void eng__new_flight(drone *d)
{
    d->rules_dirty = true;
    d->hover_start = d->hover_last = d->hover_clear = 0;
    d->hover_alerted = false;
    d->drop_alert_us = 0;
    d->drop_escalated = false;
    d->crossed_us = 0;
    d->unreg_fired = false;
}

static bool eng__zin_fit(drones_engine *e, drone *d)
{
    if (d->nzin < e->nzones) {
        uint8_t *z = realloc(d->zin, e->nzones);
        if (!z)
            return false;
        memset(z + d->nzin, 0, e->nzones - d->nzin);
        d->zin = z;
        d->nzin = e->nzones;
    }
    if (d->pending) { /* sides restored from storage, by zone id */
        for (size_t i = 0; i < e->nzones; i++) {
            json_int_t side = json_integer_value(json_object_get(d->pending, e->zones[i].id));
            if (side == 1 || side == 2)
                d->zin[i] = (uint8_t)side;
        }
        json_decref(d->pending);
        d->pending = NULL;
    }
    return true;
}

/* s.rules: what a restart needs to resume the rules. Zones the drone has
 * not been placed in yet, and still-pending restored sides, are kept. */
static void eng__save_rules(drones_engine *e, drone *d)
{
    json_t *zones = d->pending ? json_deep_copy(d->pending) : json_object();
    for (size_t i = 0; i < d->nzin && i < e->nzones; i++)
        if (d->zin[i])
            json_object_set_new(zones, e->zones[i].id, json_integer(d->zin[i]));
    json_t *r = json_pack("{s:I,s:I,s:b,s:I,s:b,s:o}", "crossed", (json_int_t)d->crossed_us,
                          "spoof_until", (json_int_t)d->spoof_until, "unregistered",
                          d->unreg_fired, "drop_alert", (json_int_t)d->drop_alert_us,
                          "drop_escalated", d->drop_escalated, "zones", zones);
    char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(r);
    /* too many zones to keep: the rest set their side afresh */
    snprintf(d->s.rules, sizeof d->s.rules, "%s", text && strlen(text) < sizeof d->s.rules
                                                      ? text : "");
    free(text);
    d->rules_dirty = false;
}

static void eng__spoof(drones_engine *e, drone *d, const drones_alert_sink *sink, int64_t t,
                       const char *what, double value, double seconds)
{
    if (t < d->spoof_until)
        return;
    d->spoof_until = t + e->cfg.drone_spoof_episode_s * 1000000;
    d->rules_dirty = true;
    json_t *detail = json_object();
    json_object_set_new(detail, what, drones__num(round(value * 100) / 100));
    json_object_set_new(detail, "seconds", drones__num(round(seconds * 1000) / 1000));
    eng__alert(sink, d, DRONES_A_SPOOFING, DRONES_SEV_CRITICAL, t, detail, false);
}

static json_t *eng__drop_detail(const drone *d)
{
    return json_pack("{s:o,s:o,s:o}", "hover_s", drones__num(round(d->drop_hover_s * 10) / 10),
                     "height_m", drones__num(d->drop_height), "distance_to_border_m",
                     drones__num(round(d->drop_dist)));
}

/* The sides of every zone at this position; returns the nearest territory
 * boundary within drone_drop_zone_m (INFINITY if none). */
static double eng__zones(drones_engine *e, drone *d, const drones_alert_sink *sink, int64_t t)
{
    const drones_config *c = &e->cfg;
    double lat = d->s.lat, lon = d->s.lon, nearest = INFINITY;
    if (!eng__zin_fit(e, d))
        return nearest;
    for (size_t i = 0; i < e->nzones; i++) {
        const eng_zone *z = &e->zones[i];
        if (z->kind == DRONES_ZONE_OTHER)
            continue;
        bool in = drones__zone_covers(e->geos, z->z, lat, lon);
        if (z->kind == DRONES_ZONE_TERRITORY) {
            double r = fmax(c->drone_drop_zone_m, c->drone_crossing_margin_m);
            double dist = drones__zone_boundary_m(z->z, lat, lon, r);
            nearest = fmin(nearest, dist);
            uint8_t side = in ? 2 : 1;
            if (d->zin[i] == 0) {
                d->zin[i] = side; /* the first position sets the side */
                d->rules_dirty = true;
            } else if (side != d->zin[i] && dist >= c->drone_crossing_margin_m) {
                d->zin[i] = side;
                d->crossed_us = t;
                d->rules_dirty = true;
                json_t *detail = json_pack("{s:s,s:s,s:o}", "zone", z->id, "direction",
                                           in ? "in" : "out", "height_m",
                                           drones__num(d->s.height_m));
                eng__alert(sink, d, DRONES_A_BORDER_CROSSING, DRONES_SEV_CRITICAL, t, detail,
                           false);
                if (d->drop_alert_us && !d->drop_escalated) {
                    d->drop_escalated = true; /* rules_dirty: set by the crossing */
                    eng__alert(sink, d, DRONES_A_DROP_PATTERN, DRONES_SEV_CRITICAL, t,
                               eng__drop_detail(d), true);
                }
            }
            continue;
        }
        if (in && d->zin[i] != 2) {
            d->zin[i] = 2;
            d->rules_dirty = true;
            json_t *detail = json_pack("{s:s,s:s}", "zone", z->id, "zone_kind",
                                       drones_zone_kind_name(z->kind));
            eng__alert(sink, d, DRONES_A_RESTRICTED_ZONE,
                       z->kind == DRONES_ZONE_RESTRICTED ? DRONES_SEV_CRITICAL
                                                         : DRONES_SEV_WARNING,
                       t, detail, false);
        } else if (!in && d->zin[i] != 1) {
            double dist = drones__zone_boundary_m(z->z, lat, lon, c->drone_crossing_margin_m);
            if (d->zin[i] == 0 || dist >= c->drone_crossing_margin_m) {
                d->zin[i] = 1;
                d->rules_dirty = true;
            }
        }
    }
    return nearest;
}

static void eng__drop(drones_engine *e, drone *d, const drones_alert_sink *sink, int64_t t,
                      double speed, double border_m)
{
    const drones_config *c = &e->cfg;
    bool low = !isnan(d->s.height_m) && d->s.height_m <= c->drone_drop_height_m;
    bool slow = !isnan(speed) && speed <= c->drone_hover_mps;
    bool near = border_m <= c->drone_drop_zone_m;
    int64_t gap = c->drone_gap_s * 1000000, hover = c->drone_hover_s * 1000000;
    if (!(low && slow && near)) {
        d->hover_start = 0;
        if (d->hover_alerted) {
            if (!d->hover_clear)
                d->hover_clear = t;
            else if (t - d->hover_clear >= hover)
                d->hover_alerted = false; /* the episode is over */
        }
        return;
    }
    d->hover_clear = 0;
    if (!d->hover_start || t - d->hover_last > gap)
        d->hover_start = t;
    d->hover_last = t;
    if (d->hover_alerted || t - d->hover_start < hover)
        return;
    d->hover_alerted = true;
    d->drop_alert_us = t;
    d->drop_hover_s = (t - d->hover_start) / 1e6;
    d->drop_height = d->s.height_m;
    d->drop_dist = border_m;
    d->drop_escalated = d->crossed_us != 0;
    d->rules_dirty = true;
    eng__alert(sink, d, DRONES_A_DROP_PATTERN,
               d->crossed_us ? DRONES_SEV_CRITICAL : DRONES_SEV_WARNING, t, eng__drop_detail(d),
               false);
}

static void eng__position(drones_engine *e, drone *d, const drones_alert_sink *sink,
                          drones_fix *f)
{
    drones_state *s = &d->s;
    int64_t t = f->time_us;
    if (s->pos_time_us && t <= s->pos_time_us)
        return; /* late or repeated: stored, rules unchanged */
    f->applied = true;
    bool had = s->pos_time_us != 0;
    double plat = s->lat, plon = s->lon;
    double dt = had ? (t - s->pos_time_us) / 1e6 : 0;
    if (had && dt > e->cfg.drone_flight_gap_s)
        eng__new_flight(d);
    s->pos_time_us = t;
    s->lat = f->lat, s->lon = f->lon, s->alt_geo_m = f->alt_geo_m, s->height_m = f->height_m;
    s->speed_h_mps = f->speed_h_mps, s->speed_v_mps = f->speed_v_mps;
    s->direction_deg = f->direction_deg;
    double implied = NAN;
    if (had && dt > 0) {
        double dist = drones_distance_m(plat, plon, f->lat, f->lon);
        implied = dist / dt;
        if (dist >= e->cfg.drone_spoof_min_m && implied > e->cfg.drone_max_mps)
            eng__spoof(e, d, sink, t, "speed_mps", implied, dt);
    }
    double border = eng__zones(e, d, sink, t);
    eng__drop(e, d, sink, t, isnan(f->speed_h_mps) ? implied : f->speed_h_mps, border);
}

static void eng__pilot(drones_engine *e, drone *d, const drones_alert_sink *sink, drones_fix *f)
{
    drones_state *s = &d->s;
    int64_t t = f->time_us;
    if (s->op_time_us && t < s->op_time_us)
        return;
    if (s->op_time_us) {
        double dist = drones_distance_m(s->op_lat, s->op_lon, f->lat, f->lon);
        double dt = (t - s->op_time_us) / 1e6;
        if (dist > e->cfg.drone_pilot_jump_m && dt <= e->cfg.drone_pilot_jump_s)
            eng__spoof(e, d, sink, t, "pilot_jump_m", dist, dt);
        /* keep what is worth drawing: moves of a metre, or every 10 s */
        f->applied = dist >= 1 || t - d->pilot_stored_us >= 10000000;
    } else {
        f->applied = true;
    }
    if (f->applied)
        d->pilot_stored_us = t;
    s->op_time_us = t;
    s->op_lat = f->lat;
    s->op_lon = f->lon;
}

static void eng__auth(drone *d, const drones_auth *a)
{
    if (a->page == 0) {
        if (a->auth_type != d->auth_type || a->timestamp != d->auth_ts || !(d->auth_pages & 1))
            d->auth_pages = 0;
        d->auth_type = a->auth_type;
        d->auth_ts = a->timestamp;
        d->auth_last = a->last_page > 15 ? 15 : a->last_page;
        d->auth_length = a->length;
        memcpy(d->auth_buf, a->data, 17);
    } else {
        if (a->auth_type != d->auth_type)
            d->auth_pages = 0;
        d->auth_type = a->auth_type;
        memcpy(d->auth_buf + 17 + (a->page - 1) * 23, a->data, 23);
    }
    d->auth_pages |= (uint16_t)(1u << a->page);
    uint32_t all = (1u << (d->auth_last + 1)) - 1;
    if ((d->auth_pages & 1) && (d->auth_pages & all) == all) {
        size_t cap = 17 + 23 * (size_t)d->auth_last;
        d->s.auth_type = d->auth_type;
        d->s.auth_timestamp = d->auth_ts;
        d->s.auth_len = (uint8_t)(d->auth_length < cap ? d->auth_length : cap);
        memcpy(d->s.auth_data, d->auth_buf, d->s.auth_len);
    }
}

static void eng__registry(drones_engine *e, drone *d, const drones_alert_sink *sink, int64_t t)
{
    drones_state *s = &d->s;
    if (!e->reg || drones_registry_size(e->reg) == 0) {
        s->registered = -1;
        return;
    }
    bool have_op = s->operator_id[0] != '\0';
    if (!s->has_uas && !have_op)
        return;
    bool uas_ok = !s->has_uas || drones_registry_has_uas(e->reg, s->id, t);
    bool op_ok = !have_op || drones_registry_has_operator(e->reg, s->operator_id, t);
    s->registered = uas_ok && op_ok;
    if (s->registered || d->unreg_fired)
        return;
    d->unreg_fired = true;
    d->rules_dirty = true;
    json_t *detail = json_object();
    json_object_set_new(detail, "uas_id", s->has_uas ? json_string(s->id) : json_null());
    json_object_set_new(detail, "operator_id", have_op ? json_string(s->operator_id) : json_null());
    eng__alert(sink, d, DRONES_A_UNREGISTERED, DRONES_SEV_INFO, t, detail, false);
}

int64_t drones_event_time(int64_t obs_us, double ts)
{
    if (isnan(ts))
        return obs_us;
    const int64_t H = 3600000000LL;
    int64_t hour = obs_us >= 0 ? obs_us / H * H : -((-obs_us + H - 1) / H) * H;
    int64_t c = hour + llround(ts * 1e6);
    if (c - obs_us > H / 2)
        c -= H;
    else if (obs_us - c > H / 2)
        c += H;
    return c;
}

/* The event time of a position: the frame time refined by the Location
 * timestamp, unless the drone's clock is not kept (timestamps that stand
 * still, or far from the frame time: many transmitters send 0). */
static int64_t eng__loc_time(drones_engine *e, drone *d, int64_t obs_us, double ts)
{
    if (isnan(ts))
        return obs_us;
    if (isnan(d->loc_ts) || ts != d->loc_ts) {
        d->loc_ts = ts;
        d->loc_frame = obs_us; /* when this timestamp was first heard */
    } else if (obs_us - d->loc_frame >= 2000000) {
        d->clock_bad = true;
    }
    int64_t t = drones_event_time(obs_us, ts);
    int64_t skew = t > obs_us ? t - obs_us : obs_us - t;
    return d->clock_bad || skew > e->cfg.drone_time_skew_s * 1000000 ? obs_us : t;
}

static drone *eng__mac_drone(drones_engine *e, const drones_obs *o)
{
    char mac[18], id[DRONES_ID_MAX];
    drones_mac_format(o->mac, mac);
    snprintf(id, sizeof id, "mac:%s:%s", drones_transport_name(o->transport), mac);
    drone *d = eng__resolve(drones__map_get(&e->by_id, id, strlen(id)));
    return d ? d : eng__new_drone(e, id, 0);
}

cx_err drones_engine_process(drones_engine *e, const drones_obs *o, const drones_alert_sink *sink,
                             drones_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (o->nmsgs == 0)
        return CX_OK;
    uint8_t mk[7];
    eng__mac_key(mk, o->transport, o->mac);
    drone *d = eng__resolve(drones__map_get(&e->by_mac, mk, 7));
    for (size_t i = 0; i < o->nmsgs; i++)
        if (o->msgs[i].type == DRONES_MT_BASIC_ID)
            d = eng__identify(e, d, &o->msgs[i].u.basic, out);
    if (!d)
        d = eng__mac_drone(e, o);
    if (!d || drones__map_put(&e->by_mac, mk, 7, d))
        return CX_ENOMEM;
    drones_state *s = &d->s;
    if (s->last_seen_us && o->time_us - s->last_seen_us > e->cfg.drone_flight_gap_s * 1000000)
        eng__new_flight(d);
    if (!s->first_seen_us || o->time_us < s->first_seen_us)
        s->first_seen_us = o->time_us;
    if (o->time_us > s->last_seen_us)
        s->last_seen_us = o->time_us;
    for (size_t i = 0; i < o->nmsgs; i++) {
        const drones_msg *m = &o->msgs[i];
        if (m->type == DRONES_MT_LOCATION && !isnan(m->u.loc.lat)) {
            const drones_loc *l = &m->u.loc;
            drones_fix *f = &out->fix[out->nfix++];
            *f = (drones_fix){.time_us = eng__loc_time(e, d, o->time_us, l->timestamp_s),
                              .lat = l->lat, .lon = l->lon, .alt_geo_m = l->alt_geo_m,
                              .height_m = l->height_m, .speed_h_mps = l->speed_h_mps,
                              .speed_v_mps = l->speed_v_mps, .direction_deg = l->direction_deg};
            eng__position(e, d, sink, f);
        } else if (m->type == DRONES_MT_SYSTEM && !isnan(m->u.sys.op_lat)) {
            drones_fix *f = &out->pilot[out->npilot++];
            *f = (drones_fix){.time_us = o->time_us, .lat = m->u.sys.op_lat,
                              .lon = m->u.sys.op_lon, .alt_geo_m = m->u.sys.op_alt_geo_m,
                              .height_m = NAN, .speed_h_mps = NAN, .speed_v_mps = NAN,
                              .direction_deg = NAN};
            eng__pilot(e, d, sink, f);
        } else if (m->type == DRONES_MT_OPERATOR_ID && m->u.op.op_id[0]) {
            snprintf(s->operator_id, sizeof s->operator_id, "%s", m->u.op.op_id);
        } else if (m->type == DRONES_MT_SELF_ID && m->u.self_id.text[0]) {
            snprintf(s->self_id, sizeof s->self_id, "%s", m->u.self_id.text);
        } else if (m->type == DRONES_MT_AUTH) {
            eng__auth(d, &m->u.auth);
        }
    }
    eng__registry(e, d, sink, o->time_us);
    if (d->rules_dirty)
        eng__save_rules(e, d);
    out->drone = s;
    return CX_OK;
}
