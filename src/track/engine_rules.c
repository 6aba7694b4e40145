/* The rules of the engine (engine.c keeps its registry): zones with
 * debounce, corridor deviation, unscheduled stops, seals and doors,
 * temperature, impossible jumps, overdue arrival, signal loss. Every rule is
 * an episode: it opens when its condition has held long enough, fires one
 * alert, and closes only when the condition has cleared. */
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
void track__eng_cons_zones(track_engine *e, eng_cons *c)
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
            track__eng_dirty_cons(e, c);
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
                    track__eng_dirty_cons(e, c);
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
    track__eng_dirty_cons(e, c);
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
    uint64_t hot_before = track__eng_hot_print(st);
    GEOSContextHandle_t h = track__geos();
    if (!e->tree && e->nzones && track__eng_tree_build(e, h) != CX_OK)
        track__eng_tree_drop(e);
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

    eng_cons *cb = track__eng_bound(e, d); /* bound, maybe arrived */
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
    track__eng_dirty(e, (size_t)di, track__eng_hot_print(st) != hot_before);
    return TRACK_APPLIED;
}

void track_engine_tick(track_engine *e, int64_t now_us, track_alert_fn fn, void *ctx)
{
    for (size_t i = 0; i < e->ndevs; i++) {
        eng_dev *d = &e->devs[i];
        eng_cons *c = track__eng_bound(e, d);
        if (!d->st.have || d->st.lost || !c || c->arrived_ms)
            continue;
        int64_t silent = now_us - d->st.recv_us;
        if (silent > c->rules.signal_loss_s * 1000000) {
            eng__signal_loss(e, d, c, silent / 1000, "wall_clock", fn, ctx);
            track__eng_dirty(e, i, true);
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

