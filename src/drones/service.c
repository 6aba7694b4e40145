/* The drones service: one engine behind a mutex, batches of processed
 * observations handed to the store's writer in the order they were
 * processed, alerts delivered once their batch is durable; captures
 * imported through the same path as live observations. */
#include "drones_svc.h"
#include "track.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- batches ---------------------------------------------------------------------------- */

static bool svc__grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

#define GROW(arr, n, cap) svc__grow((void **)&(arr), &(cap), (n) + 1, sizeof *(arr))

void drones__batch_init(dbatch *b)
{
    memset(b, 0, sizeof *b);
    drones__map_init(&b->drone_at);
    drones__map_init(&b->mac_seen);
    drones__map_init(&b->heard_at);
}

void drones__batch_reset(dbatch *b)
{
    for (size_t i = 0; i < b->nalerts; i++)
        free(b->alerts[i].detail);
    b->nobs = b->npayload = b->npos = b->npilots = b->ndrones = b->nmacs = 0;
    b->naliases = b->nmerges = b->nheard = b->nalerts = 0;
    drones__map_free(&b->drone_at);
    drones__map_free(&b->mac_seen);
    drones__map_free(&b->heard_at);
}

void drones__batch_free(dbatch *b)
{
    drones__batch_reset(b);
    free(b->obs);
    free(b->payload);
    free(b->pos);
    free(b->pilots);
    free(b->drones);
    free(b->macs);
    free(b->aliases);
    free(b->merges);
    free(b->heard);
    free(b->alerts);
    memset(b, 0, sizeof *b);
}

static void svc__alert(void *ctx, const drones_alert *a)
{
    dbatch *b = ctx;
    if (!GROW(b->alerts, b->nalerts, b->calerts))
        return;
    dalert_row *r = &b->alerts[b->nalerts];
    r->detail = cx_json_dump(a->detail, NULL);
    if (!r->detail)
        return;
    r->type = a->type;
    r->sev = a->severity;
    r->time_us = a->time_us;
    r->drone_key = a->drone_key;
    snprintf(r->drone, sizeof r->drone, "%s", a->drone);
    r->lat = a->lat;
    r->lon = a->lon;
    r->escalation = a->escalation;
    b->nalerts++;
}

/* A drone folded into another within this batch: rows already queued for
 * it move over, and its own snapshot is not written back. */
static void svc__fold(dbatch *b, int64_t from, int64_t into)
{
    for (size_t i = 0; i < b->nobs; i++)
        if (b->obs[i].drone == from)
            b->obs[i].drone = into;
    for (size_t i = 0; i < b->npos; i++)
        if (b->pos[i].drone == from)
            b->pos[i].drone = into;
    for (size_t i = 0; i < b->npilots; i++)
        if (b->pilots[i].drone == from)
            b->pilots[i].drone = into;
    for (size_t i = 0; i < b->nmacs; i++)
        if (b->macs[i].drone == from)
            b->macs[i].drone = into;
    for (size_t i = 0; i < b->naliases; i++)
        if (b->aliases[i].drone == from)
            b->aliases[i].drone = into;
    for (size_t i = 0; i < b->nheard; i++)
        if (b->heard[i].drone == from)
            b->heard[i].drone = into;
    uintptr_t at = (uintptr_t)drones__map_get(&b->drone_at, &from, sizeof from);
    if (at)
        b->drones[at - 1].key = 0;
    if (GROW(b->merges, b->nmerges, b->cmerges))
        b->merges[b->nmerges++] = (dmerge_row){from, into};
}

static cx_err svc__snapshot(dbatch *b, const drones_state *s)
{
    uintptr_t at = (uintptr_t)drones__map_get(&b->drone_at, &s->key, sizeof s->key);
    if (at) {
        b->drones[at - 1] = *s;
        return CX_OK;
    }
    if (!GROW(b->drones, b->ndrones, b->cdrones))
        return CX_ENOMEM;
    b->drones[b->ndrones++] = *s;
    return drones__map_put(&b->drone_at, &s->key, sizeof s->key, (void *)(uintptr_t)b->ndrones);
}

static cx_err svc__rows(dbatch *b, const drones_obs *o, const drones_outcome *out)
{
    int64_t key = out->drone->key;
    for (size_t i = 0; i < out->nfix; i++) {
        if (!GROW(b->pos, b->npos, b->cpos))
            return CX_ENOMEM;
        b->pos[b->npos++] = (dpos_row){key, out->fix[i]};
    }
    for (size_t i = 0; i < out->npilot; i++) {
        if (!out->pilot[i].applied)
            continue;
        if (!GROW(b->pilots, b->npilots, b->cpilots))
            return CX_ENOMEM;
        b->pilots[b->npilots++] = (dpos_row){key, out->pilot[i]};
    }
    uint8_t mk[7] = {(uint8_t)o->transport};
    memcpy(mk + 1, o->mac, 6);
    if (!drones__map_get(&b->mac_seen, mk, 7)) {
        if (!GROW(b->macs, b->nmacs, b->cmacs) || drones__map_put(&b->mac_seen, mk, 7, b))
            return CX_ENOMEM;
        dmac_row *m = &b->macs[b->nmacs++];
        m->transport = (uint8_t)o->transport;
        memcpy(m->mac, o->mac, 6);
        m->drone = key;
    }
    for (size_t i = 0; i < o->nmsgs; i++) {
        const char *id = o->msgs[i].u.basic.uas_id;
        if (o->msgs[i].type != DRONES_MT_BASIC_ID || !id[0] || strlen(id) >= DRONES_ID_MAX)
            continue;
        uint8_t ak[DRONES_ID_MAX + 1] = {0xA1};
        size_t n = strlen(id);
        memcpy(ak + 1, id, n);
        if (drones__map_get(&b->mac_seen, ak, n + 1))
            continue;
        if (!GROW(b->aliases, b->naliases, b->caliases) ||
            drones__map_put(&b->mac_seen, ak, n + 1, b))
            return CX_ENOMEM;
        dalias_row *a = &b->aliases[b->naliases++];
        snprintf(a->id, sizeof a->id, "%s", id);
        a->drone = key;
    }
    if (b->receiver) {
        uintptr_t at = (uintptr_t)drones__map_get(&b->heard_at, &key, sizeof key);
        if (at) {
            if (o->time_us > b->heard[at - 1].time_us)
                b->heard[at - 1].time_us = o->time_us;
        } else {
            if (!GROW(b->heard, b->nheard, b->cheard))
                return CX_ENOMEM;
            b->heard[b->nheard++] = (dheard_row){key, o->time_us};
            if (drones__map_put(&b->heard_at, &key, sizeof key, (void *)(uintptr_t)b->nheard))
                return CX_ENOMEM;
        }
    }
    return svc__snapshot(b, out->drone);
}

cx_err drones__observe(drones_engine *e, dbatch *b, const drones_obs *o, int rssi,
                       bool have_rssi, const uint8_t *payload, size_t len)
{
    drones_alert_sink sink = {svc__alert, b};
    drones_outcome out;
    if (!GROW(b->obs, b->nobs, b->cobs) ||
        !svc__grow((void **)&b->payload, &b->cpayload, b->npayload + len, 1))
        return CX_ENOMEM;
    cx_err err = drones_engine_process(e, o, &sink, &out);
    if (err)
        return err;
    if (out.merged_key)
        svc__fold(b, out.merged_key, out.drone->key);
    dobs_row *r = &b->obs[b->nobs++];
    *r = (dobs_row){.time_us = o->time_us, .drone = out.drone ? out.drone->key : 0,
                    .transport = (uint8_t)o->transport, .rssi = rssi, .have_rssi = have_rssi,
                    .messages = (uint8_t)o->nmsgs, .payload_off = b->npayload,
                    .payload_len = len};
    memcpy(r->mac, o->mac, 6);
    memcpy(b->payload + b->npayload, payload, len);
    b->npayload += len;
    return out.drone ? svc__rows(b, o, &out) : CX_OK;
}

/* ---- alerts out ------------------------------------------------------------------------------ */

void drones__deliver_alerts(drones_service *d, dbatch *b)
{
    for (size_t i = 0; i < b->nalerts; i++) {
        const dalert_row *r = &b->alerts[i];
        d->alerts_total++;
        if (d->tap.raise) {
            json_t *detail = json_loads(r->detail, 0, NULL);
            drones_alert a = {.type = r->type, .severity = r->sev, .time_us = r->time_us,
                              .drone = r->drone, .drone_key = r->drone_key, .lat = r->lat,
                              .lon = r->lon, .detail = detail, .escalation = r->escalation};
            d->tap.raise(d->tap.ctx, &a);
            json_decref(detail);
        }
        if (!d->alerts) {
            char t[32];
            cx_rfc3339_format(r->time_us, t);
            cx_log(r->sev == DRONES_SEV_CRITICAL ? CX_LOG_WARN : CX_LOG_INFO,
                   "drone alert %s %s%s drone=%s time=%s detail=%s",
                   drones_alert_type_name(r->type), drones_severity_name(r->sev),
                   r->escalation ? " (escalation)" : "", r->drone, t, r->detail);
        }
    }
}

/* ---- the service -------------------------------------------------------------------------------- */

/* ---- zones: tracking's, those the drone rules use ------------------------------------------ */

typedef struct dzone {
    struct dzone *next;
    char *id, *name, *kind, *geometry; /* geometry: GeoJSON text */
} dzone;

static void svc__dzone_free(dzone *z)
{
    while (z) {
        dzone *next = z->next;
        free(z->id);
        free(z->name);
        free(z->kind);
        free(z->geometry);
        free(z);
        z = next;
    }
}

/* One zone into the engine; a zone the engine cannot take (a geometry
 * tracking accepts and GEOS here does not) is logged and skipped, so one
 * zone cannot stop the drone rules. */
static void svc__zone_add(drones_engine *e, const char *id, const char *name, const char *kind,
                          const json_t *geometry)
{
    if (drones_zone_kind_parse(kind) == DRONES_ZONE_OTHER)
        return;
    json_t *problems = json_array();
    cx_err err = drones_engine_zone(e, id, name, kind, geometry, "/geometry", problems);
    if (err) {
        json_t *p = json_array_get(problems, 0);
        cx_log(CX_LOG_WARN, "drones: zone %.64s is not used by the drone rules: %s", id,
               p ? json_string_value(json_object_get(p, "message")) : cx_strerror(err));
    }
    json_decref(problems);
}

static void svc__zone_load(void *ctx, const char *id, const char *name, const char *kind,
                           const json_t *geometry)
{
    svc__zone_add(ctx, id, name, kind, geometry);
}

void drones_service_zone(void *ctx, const char *id, const char *name, const char *kind,
                         const json_t *geometry)
{
    drones_service *d = ctx;
    if (drones_zone_kind_parse(kind) == DRONES_ZONE_OTHER)
        return;
    dzone *z = calloc(1, sizeof *z);
    if (z) {
        z->id = strdup(id ? id : "");
        z->name = strdup(name ? name : "");
        z->kind = strdup(kind);
        z->geometry = cx_json_dump(geometry, NULL);
    }
    if (!z || !z->id || !z->name || !z->kind || !z->geometry) {
        cx_log(CX_LOG_ERROR, "drones: out of memory: zone %.64s is not used by the drone rules",
               id ? id : "");
        svc__dzone_free(z);
        return;
    }
    pthread_mutex_lock(&d->zone_mu);
    dzone **tail = &d->zones_new;
    while (*tail)
        tail = &(*tail)->next;
    *tail = z;
    atomic_store(&d->zones_changed, true);
    pthread_mutex_unlock(&d->zone_mu);
}

void drones__zones_apply(drones_service *d)
{
    if (!atomic_load(&d->zones_changed))
        return;
    pthread_mutex_lock(&d->zone_mu);
    dzone *z = d->zones_new;
    d->zones_new = NULL;
    atomic_store(&d->zones_changed, false);
    pthread_mutex_unlock(&d->zone_mu);
    for (dzone *x = z; x; x = x->next) {
        json_t *g = json_loads(x->geometry, 0, NULL);
        svc__zone_add(d->engine, x->id, x->name, x->kind, g);
        json_decref(g);
    }
    svc__dzone_free(z);
}

cx_err drones_service_new(store *s, alert_service *alerts, const drones_config *cfg,
                          const drones_alert_sink *tap, drones_service **out, char *err,
                          size_t errlen)
{
    drones_service *d = calloc(1, sizeof *d);
    if (!d)
        return CX_ENOMEM;
    d->store = s;
    d->cfg = *cfg;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->zone_mu, NULL);
    drones__fold_init(d);
    d->alerts = alerts;
    if (tap)
        d->tap = *tap;
    cx_err e = alerts ? drones__alert_register(alerts) : CX_OK;
    if (!e)
        e = drones__registry_read(s, &d->registry);
    if (!e) {
        d->engine = drones_engine_new(cfg, d->registry);
        d->hub = drones__hub_new();
        e = d->engine && d->hub ? CX_OK : CX_ENOMEM;
    }
    if (!e && (e = drones__load(s, d->engine)) != CX_OK)
        snprintf(err, errlen, "cannot load drones: %s", cx_strerror(e));
    else if (e)
        snprintf(err, errlen, "cannot start the drones service: %s", cx_strerror(e));
    if (!e && (e = track_zones_each(s, svc__zone_load, d->engine)) != CX_OK)
        snprintf(err, errlen, "cannot read the zones: %s", cx_strerror(e));
    if (!e && (e = drones__fold_start(d)) != CX_OK)
        snprintf(err, errlen, "cannot start the fold thread");
    if (e) {
        drones_service_free(d);
        return e;
    }
    *out = d;
    return CX_OK;
}

cx_err drones_service_reload_registry(drones_service *d)
{
    drones_registry *r;
    cx_err e = drones__registry_read(d->store, &r);
    if (e)
        return e;
    pthread_mutex_lock(&d->mu);
    drones_registry *old = d->registry;
    d->registry = r;
    drones_engine_set_registry(d->engine, r);
    pthread_mutex_unlock(&d->mu);
    drones_registry_free(old);
    return CX_OK;
}

void drones_service_stop(drones_service *d)
{
    if (!d)
        return;
    if (d->hub)
        drones__hub_close(d->hub);
    drones__fold_stop(d);
}

void drones_service_free(drones_service *d)
{
    if (!d)
        return;
    drones_service_stop(d);
    drones_engine_free(d->engine);
    drones_registry_free(d->registry);
    drones__hub_free(d->hub);
    svc__dzone_free(d->zones_new);
    drones__fold_destroy(d);
    pthread_mutex_destroy(&d->zone_mu);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

bool drones_receiver_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* ---- import ------------------------------------------------------------------------------------ */

#define IMPORT_BATCH 4096

typedef struct {
    drones_service *d;
    dbatch b;
    drones_import_stats *st;
    drones_map seen; /* drone keys of this capture */
    void (*progress)(void *ctx, uint64_t bytes, uint64_t frames);
    void *pctx;
    cx_err err;
} imp_ctx;

static bool imp__flush(imp_ctx *c)
{
    if (!c->b.nobs)
        return true;
    cx_err e = store_write(c->d->store, drones__batch_write, &c->b);
    if (e) {
        c->err = e;
        return false;
    }
    c->st->alerts += c->b.nalerts;
    if (c->b.nmerges)
        drones__fold_kick(c->d);
    drones__deliver_alerts(c->d, &c->b);
    drones__batch_reset(&c->b);
    return true;
}

static bool imp__frame(void *ctx, int64_t ts, const drones_rid *rids, size_t n,
                       const drones_capture_stats *cst)
{
    imp_ctx *c = ctx;
    for (size_t i = 0; i < n; i++) {
        drones_msg msgs[DRONES_PACK_MAX];
        size_t k;
        bool pack;
        char why[160];
        if (drones_payload_decode(rids[i].payload, rids[i].len, false, msgs, &k, &pack, why,
                                  sizeof why))
            continue; /* an invalid payload is not a Remote ID message */
        drones_obs o = {.time_us = ts, .transport = rids[i].transport, .msgs = msgs,
                        .nmsgs = k};
        memcpy(o.mac, rids[i].mac, 6);
        size_t plen = pack ? 3 + k * DRONES_MSG_SIZE : DRONES_MSG_SIZE;
        pthread_mutex_lock(&c->d->mu);
        size_t before = c->b.nmerges;
        cx_err e = drones__observe(c->d->engine, &c->b, &o, rids[i].rssi, rids[i].have_rssi,
                                   rids[i].payload, plen);
        pthread_mutex_unlock(&c->d->mu);
        if (e) {
            c->err = e;
            return false;
        }
        c->st->messages += k;
        c->st->observations++;
        for (size_t m = before; m < c->b.nmerges; m++)
            drones__map_del(&c->seen, &c->b.merges[m].from, sizeof(int64_t));
        int64_t key = c->b.obs[c->b.nobs - 1].drone;
        if (key && drones__map_put(&c->seen, &key, sizeof key, c)) {
            c->err = CX_ENOMEM;
            return false;
        }
    }
    if (c->b.nobs >= IMPORT_BATCH && !imp__flush(c))
        return false;
    if (c->progress && (cst->frames & 4095) == 0)
        c->progress(c->pctx, cst->bytes, cst->frames);
    return true;
}

cx_err drones_import(drones_service *d, const char *path, const char *receiver,
                     void (*progress)(void *ctx, uint64_t bytes, uint64_t frames), void *pctx,
                     drones_import_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    imp_ctx c = {.d = d, .st = st, .progress = progress, .pctx = pctx};
    drones__batch_init(&c.b);
    c.b.door = d->alerts;
    c.b.receiver = receiver;
    drones__map_init(&c.seen);
    drones_capture_stats cst;
    cx_err e = drones_capture_read(path, imp__frame, &c, &cst, err, errlen);
    if (e == CX_ESTATE || (!e && !imp__flush(&c))) {
        e = c.err ? c.err : CX_EIO;
        snprintf(err, errlen, "%s: storing observations failed: %s", path, cx_strerror(e));
    }
    st->frames = cst.frames;
    st->crc_errors = cst.crc_errors;
    st->drones = c.seen.len;
    if (progress)
        progress(pctx, cst.bytes, cst.frames);
    drones__map_free(&c.seen);
    drones__batch_free(&c.b);
    return e;
}
