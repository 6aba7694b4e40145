/* The track service: start (loading zones, consignments and devices from
 * the database) and stop; what happens once a batch is durable; the threads
 * besides the engine's: escalation of critical alerts to their
 * declarations' lanes, retention, SSE heartbeats; and the cache of corridors
 * shared by consignments on the same route. */
#include "track_int.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIPE_QUEUE 65536 /* entries between the sources and the engine */

/* ---- escalation: critical alerts raise their declarations' lane ------------------------------ */

typedef struct esc_item {
    struct esc_item *next;
    char alert[CX_ID_LEN + 1];
    char *reason_detail;
    char type[32];
    json_t *decls;
} esc_item;

static void svc__esc_free(esc_item *it);

void track__escalate(track_service *t, const char *alert_id, const char *type,
                     const char *consignment, int64_t time_ms, const json_t *decls)
{
    if (!t->decl)
        return;
    esc_item *it = calloc(1, sizeof *it);
    if (!it)
        return;
    snprintf(it->alert, sizeof it->alert, "%s", alert_id);
    snprintf(it->type, sizeof it->type, "%s", type);
    char tm[32], msg[400];
    cx_rfc3339_format(time_ms * 1000, tm);
    snprintf(msg, sizeof msg, "tracking alert %s: %s on consignment %s at %s", alert_id,
             it->type, consignment, tm);
    it->reason_detail = strdup(msg);
    /* A copy for the escalation thread: the batch frees its own on the writer
     * thread, and a shared reference count is no happens-before for the free. */
    it->decls = json_deep_copy(decls);
    if (!it->decls) {
        svc__esc_free(it); /* its row in track_escalations stays: retried at the next start */
        return;
    }
    pthread_mutex_lock(&t->emu);
    if (t->esc_tail)
        ((esc_item *)t->esc_tail)->next = it;
    else
        t->esc_head = it;
    t->esc_tail = it;
    pthread_cond_signal(&t->ecv);
    pthread_mutex_unlock(&t->emu);
}

static cx_err svc__mark_escalated(store_conn *w, void *arg)
{
    sqlite3_stmt *st = store_stmt(w, "DELETE FROM track_escalations WHERE alert=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    return store_done(st) == CX_OK ? CX_OK : CX_EDB;
}

static void svc__escalate_one(track_service *t, esc_item *it)
{
    size_t i;
    json_t *v;
    bool ok = true;
    json_array_foreach(it->decls, i, v)
    {
        char feature[48];
        snprintf(feature, sizeof feature, "alert.%s", it->type);
        json_t *reason = json_pack("{s:s,s:i,s:s,s:s}", "feature", feature, "contribution", 1,
                                   "detail", it->reason_detail ? it->reason_detail : "",
                                   "alert", it->alert);
        cx_err e = decl_raise_lane(t->decl, json_string_value(v), "red", reason);
        if (e == CX_OK)
            atomic_fetch_add(&t->m_escalations, 1);
        else if (e != CX_ENOTFOUND) {
            ok = false;
            atomic_fetch_add(&t->m_escalation_failed, 1);
            cx_log(CX_LOG_WARN, "track: declaration %s not raised to red for alert %s: %s",
                   json_string_value(v), it->alert, cx_strerror(e));
        }
    }
    if (ok)
        store_write(t->store, svc__mark_escalated, it->alert);
}

static void svc__esc_free(esc_item *it)
{
    free(it->reason_detail);
    json_decref(it->decls);
    free(it);
}

/* Escalations that did not complete before a stop (still in track_escalations). */
static void svc__esc_pending(track_service *t)
{
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT alert, type, consignment, time, declarations "
                                         "FROM track_escalations ORDER BY rowid LIMIT 10000")
                         : NULL;
    if (!st)
        return;
    cx_err e = CX_OK; /* a step error is logged (the rest wait for the next start) */
    while (store_next(st, &e)) {
        json_t *decls = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
        if (json_array_size(decls))
            track__escalate(t, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2),
                            sqlite3_column_int64(st, 3), decls);
        json_decref(decls);
    }
    sqlite3_reset(st);
}

static void *svc__esc_main(void *arg)
{
    track_service *t = arg;
    svc__esc_pending(t);
    int64_t next_retention = cx_mono_us() + 300 * 1000000LL;
    pthread_mutex_lock(&t->emu);
    for (;;) {
        while (!t->esc_head && !t->esc_stop) {
            if (cx_mono_us() >= next_retention)
                break;
            struct timespec ts;
            track__deadline(&ts, next_retention);
            pthread_cond_timedwait(&t->ecv, &t->emu, &ts);
        }
        esc_item *it = t->esc_head;
        if (it) {
            t->esc_head = it->next;
            if (!t->esc_head)
                t->esc_tail = NULL;
        }
        bool stop = t->esc_stop;
        pthread_mutex_unlock(&t->emu);
        if (it) {
            if (!stop)
                svc__escalate_one(t, it);
            svc__esc_free(it); /* on stop: escalated=0 stays, done at next start */
        } else if (!stop && cx_mono_us() >= next_retention) {
            track_retention_stats rs = {0};
            if (track_retention_run(t->store, &t->cfg, cx_now_us(), &rs) == CX_OK &&
                (rs.positions_deleted || rs.dead_letters_deleted))
                cx_log(CX_LOG_INFO, "track: retention thinned %llu positions on %llu devices, "
                       "deleted %llu dead letters",
                       (unsigned long long)rs.positions_deleted,
                       (unsigned long long)rs.devices_thinned,
                       (unsigned long long)rs.dead_letters_deleted);
            next_retention = cx_mono_us() + 3600 * 1000000LL;
        }
        pthread_mutex_lock(&t->emu);
        if (t->esc_stop && !t->esc_head)
            break;
    }
    pthread_mutex_unlock(&t->emu);
    return NULL;
}

/* ---- ticker: position pushes (the hub sends the heartbeats) ------------------------------------ */

static void *svc__ticker_main(void *arg)
{
    track_service *t = arg;
    pthread_mutex_lock(&t->tmu);
    while (!t->ticker_stop) {
        struct timespec ts;
        track__deadline(&ts, cx_mono_us() + 250000);
        pthread_cond_timedwait(&t->tcv, &t->tmu, &ts);
        if (t->ticker_stop)
            break;
        pthread_mutex_unlock(&t->tmu);
        track__poshub_tick(t->positions);
        pthread_mutex_lock(&t->tmu);
    }
    pthread_mutex_unlock(&t->tmu);
    return NULL;
}

/* ---- corridor cache --------------------------------------------------------------------------- */

/* Consignments on the same route share its corridor (built once: a long
 * route takes a while) and its GeoJSON. An entry is found by the BLAKE2b-256
 * of width and route in a keyed map (t->corridors, a cx_map of entries):
 * the list this replaces compared the whole route text of every entry with
 * strcmp, under the lock, on every POST and for every consignment loaded at
 * start (quadratic in the consignments), and kept a copy of each route's
 * text besides. */
#define CORRIDOR_KEY_LEN 32

typedef struct {
    unsigned char key[CORRIDOR_KEY_LEN];
    track_shape *shape; /* the cache's reference */
    char *geojson;
} corridor_entry;

static void svc__corridor_free(corridor_entry *c)
{
    if (!c)
        return;
    free(c->geojson);
    track_shape_free(c->shape);
    free(c);
}

static bool svc__corridor_key(const json_t *route, double width_m,
                              unsigned char key[CORRIDOR_KEY_LEN])
{
    char *rt = cx_json_dump(route, NULL);
    if (!rt)
        return false;
    char w[32];
    snprintf(w, sizeof w, "%.17g|", width_m);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, CORRIDOR_KEY_LEN);
    crypto_generichash_update(&st, (const unsigned char *)w, strlen(w));
    crypto_generichash_update(&st, (const unsigned char *)rt, strlen(rt));
    crypto_generichash_final(&st, key, CORRIDOR_KEY_LEN);
    free(rt);
    return true;
}

/* Keeps c (t->cmu held); frees it when another request kept the same route
 * meanwhile or it cannot be indexed. */
static void svc__corridor_keep(track_service *t, corridor_entry *c)
{
    cx_map *m = t->corridors;
    if (!m && !(m = t->corridors = calloc(1, sizeof *m))) {
        svc__corridor_free(c);
        return;
    }
    if (cx_map_ptr(m, c->key, CORRIDOR_KEY_LEN) ||
        cx_map_set_ptr(m, c->key, CORRIDOR_KEY_LEN, c) != CX_OK)
        svc__corridor_free(c);
}

size_t track__corridors_cached(track_service *t)
{
    pthread_mutex_lock(&t->cmu);
    size_t n = t->corridors ? ((cx_map *)t->corridors)->n : 0;
    pthread_mutex_unlock(&t->cmu);
    return n;
}

track_shape *track__corridor(track_service *t, const json_t *route, double width_m,
                             const char *stored, char **geojson, json_t *problems)
{
    unsigned char key[CORRIDOR_KEY_LEN];
    if (!svc__corridor_key(route, width_m, key))
        return NULL;
    pthread_mutex_lock(&t->cmu);
    corridor_entry *c = t->corridors ? cx_map_ptr(t->corridors, key, CORRIDOR_KEY_LEN) : NULL;
    if (c) {
        track_shape *s = track__shape_ref(c->shape);
        *geojson = strdup(c->geojson);
        pthread_mutex_unlock(&t->cmu);
        if (!*geojson) {
            track_shape_free(s);
            return NULL;
        }
        return s;
    }
    pthread_mutex_unlock(&t->cmu);
    /* Read or built outside the lock: long routes take a while. A stored
     * corridor is the GeoJSON this function wrote for the same route and
     * width: reading it takes a third of the CPU of building it again. */
    track_shape *s = stored ? track_shape_corridor_stored(route, stored) : NULL;
    char *text = NULL;
    if (s) {
        atomic_fetch_add(&t->m_corridors_read, 1);
        text = strdup(stored);
    } else {
        if (!(s = track_shape_corridor(route, width_m, "/route", problems)))
            return NULL;
        atomic_fetch_add(&t->m_corridors_built, 1);
        json_t *gj = track_shape_geojson(s);
        text = gj ? cx_json_dump(gj, NULL) : NULL;
        json_decref(gj);
    }
    c = calloc(1, sizeof *c);
    if (!text || !c || !(*geojson = strdup(text))) {
        free(text);
        free(c);
        track_shape_free(s);
        return NULL;
    }
    memcpy(c->key, key, sizeof c->key);
    c->shape = track__shape_ref(s);
    c->geojson = text;
    pthread_mutex_lock(&t->cmu);
    svc__corridor_keep(t, c);
    pthread_mutex_unlock(&t->cmu);
    return s;
}

static void svc__corridors_free(track_service *t)
{
    cx_map *m = t->corridors;
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        svc__corridor_free(cx_map_ptr_at(m, i));
    cx_map_free(m);
    free(m);
    t->corridors = NULL;
}

/* ---- loading at start ------------------------------------------------------------------ */

static cx_err ld__zones(track_service *t, store_conn *c, char *err, size_t errlen)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT idx, id, kind, doc FROM track_zones ORDER BY idx");
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
        json_t *problems = json_array();
        track_shape *s = doc ? track_shape_zone(json_object_get(doc, "geometry"), "/geometry",
                                                problems)
                             : NULL;
        track_cmd *cmd = calloc(1, sizeof *cmd);
        if (!s || !cmd) {
            cx_log(CX_LOG_ERROR, "track: zone %s cannot be loaded; skipped",
                   (const char *)sqlite3_column_text(st, 1));
            track_shape_free(s);
            free(cmd);
        } else {
            cmd->kind = TRACK_CMD_ZONE;
            cmd->key = sqlite3_column_int64(st, 0);
            snprintf(cmd->id, sizeof cmd->id, "%s", (const char *)sqlite3_column_text(st, 1));
            const char *name = json_string_value(json_object_get(doc, "name"));
            cmd->name = strdup(name ? name : cmd->id);
            track_zone_kind_parse((const char *)sqlite3_column_text(st, 2), &cmd->zkind);
            cmd->shape = s;
            track__apply(t, cmd);
            track__cmd_free(cmd);
        }
        json_decref(problems);
        json_decref(doc);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "cannot load zones");
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static cx_err ld__consignments(track_service *t, store_conn *c, char *err, size_t errlen)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT c.idx, c.id, c.doc, c.created_at, c.arrived_ms, "
                                     "c.overdue, k.geojson FROM track_consignments c "
                                     "LEFT JOIN track_corridors k ON k.key = c.corridor_key "
                                     "ORDER BY c.idx");
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
        track_cmd *cmd = calloc(1, sizeof *cmd);
        if (!doc || !cmd) {
            json_decref(doc);
            free(cmd);
            continue;
        }
        json_t *problems = json_array();
        char *gj = NULL;
        cmd->shape = track__corridor(t, json_object_get(doc, "route"),
                                     json_number_value(json_object_get(doc, "corridor_m")),
                                     (const char *)sqlite3_column_text(st, 6), &gj, problems);
        free(gj);
        json_decref(problems);
        cmd->kind = TRACK_CMD_CONS;
        cmd->key = sqlite3_column_int64(st, 0);
        snprintf(cmd->id, sizeof cmd->id, "%s", (const char *)sqlite3_column_text(st, 1));
        int64_t us = 0;
        cx_rfc3339_parse((const char *)sqlite3_column_text(st, 3), &us);
        cmd->created_ms = us / 1000;
        cmd->arrived_ms = sqlite3_column_int64(st, 4);
        cmd->overdue_fired = sqlite3_column_int(st, 5) != 0;
        cmd->doc = doc;
        track__apply(t, cmd);
        track__cmd_free(cmd);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "cannot load consignments");
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static double ld__temp(const json_t *doc, const char *which)
{
    const json_t *v = json_object_get(json_object_get(doc, "temperature_c"), which);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

void track__device_cmd(track_cmd *cmd, int64_t key, const json_t *doc)
{
    cmd->kind = TRACK_CMD_DEVICE;
    cmd->key = key;
    snprintf(cmd->id, sizeof cmd->id, "%s", json_string_value(json_object_get(doc, "id")));
    snprintf(cmd->org, sizeof cmd->org, "%s", json_string_value(json_object_get(doc, "org")));
    const char *ct = json_string_value(json_object_get(doc, "container"));
    snprintf(cmd->container, sizeof cmd->container, "%s", ct ? ct : "");
    track_device_kind_parse(json_string_value(json_object_get(doc, "kind")), &cmd->dkind);
    cmd->tmin = ld__temp(doc, "min");
    cmd->tmax = ld__temp(doc, "max");
    cmd->key_id = (int64_t)json_integer_value(json_object_get(doc, "key_id"));
}

static cx_err ld__devices(track_service *t, store_conn *c, char *err, size_t errlen)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT idx, doc FROM track_devices ORDER BY idx");
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
        track_cmd cmd = {0};
        if (doc) {
            track__device_cmd(&cmd, sqlite3_column_int64(st, 0), doc);
            track__apply(t, &cmd);
        }
        json_decref(doc);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot load devices");
        return CX_EDB;
    }
    st = store_stmt(c, "SELECT s.dev, s.state, s.ts, s.lat, s.lon, s.speed, s.heading, s.seal, "
                       "s.door, s.temp, s.battery, s.recv, d.id, d.org FROM track_device_state s "
                       "JOIN track_devices d ON d.idx = s.dev");
    if (!st)
        return CX_EDB;
    track_state_row *rows = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t key = sqlite3_column_int64(st, 0);
        track__engine_restore(t->engine, key, sqlite3_column_blob(st, 1),
                              (size_t)sqlite3_column_bytes(st, 1));
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            track_state_row *nr = realloc(rows, cap * sizeof *nr);
            if (!nr)
                break;
            rows = nr;
        }
        track_state_row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->dev = key;
        r->ts = sqlite3_column_int64(st, 2);
        r->lat = sqlite3_column_double(st, 3);
        r->lon = sqlite3_column_double(st, 4);
        r->speed = sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5);
        r->heading = sqlite3_column_type(st, 6) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 6);
        r->seal = (uint8_t)sqlite3_column_int(st, 7);
        r->door = (uint8_t)sqlite3_column_int(st, 8);
        r->temp = sqlite3_column_type(st, 9) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 9);
        r->batt = sqlite3_column_type(st, 10) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 10);
        r->recv = sqlite3_column_int64(st, 11);
        snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 12));
        snprintf(r->org, sizeof r->org, "%s", (const char *)sqlite3_column_text(st, 13));
    }
    sqlite3_reset(st);
    track__poshub_update(t->positions, rows, n, NULL, 0);
    free(rows);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        snprintf(err, errlen, "cannot load device state");
        return CX_EDB;
    }
    return CX_OK;
}

static cx_err svc__load(track_service *t, char *err, size_t errlen)
{
    store_conn *c = store_reader(t->store);
    if (!c) {
        snprintf(err, errlen, "cannot open a read connection");
        return CX_EDB;
    }
    /* zones first (consignments name them), consignments before devices
     * (devices bind to the consignment of their container when added) */
    cx_err e = ld__zones(t, c, err, errlen);
    if (e == CX_OK)
        e = ld__consignments(t, c, err, errlen);
    if (e == CX_OK)
        e = ld__devices(t, c, err, errlen);
    if (e != CX_OK)
        return e;
    track__engine_take_dirty(t->engine, true, NULL, NULL, NULL);
    cx_log(CX_LOG_INFO, "track: %zu zones, %zu consignments, %zu devices loaded",
           track__engine_nzones(t->engine), track__engine_nconsignments(t->engine),
           track__engine_ndevices(t->engine));
    return CX_OK;
}

/* ---- once a batch is durable --------------------------------------------------------------------- */

/* The positions feed, the escalations of critical alerts, the journal
 * indexer (writer thread; the pipeline calls it through t->committed). The
 * alert module streams the alerts after this same commit. */
static void svc__committed(track_service *t, track_batch *b, bool ok)
{
    if (!ok)
        return;
    for (size_t i = 0; i < b->nalerts; i++) {
        const track_alert_row *a = &b->alerts[i];
        if (a->decls && a->sev == TRACK_SEV_CRITICAL && a->consignment[0])
            track__escalate(t, a->ref.id, track_alert_type_name((track_alert_type)a->type),
                            a->consignment, a->time, a->decls);
    }
    track__poshub_update(t->positions, b->state, b->nstate, b->pos, b->npos);
    if (atomic_fetch_add(&t->journal_pending, (int64_t)b->npos) + (int64_t)b->npos >= 200000) {
        pthread_mutex_lock(&t->imu);
        pthread_cond_signal(&t->icv); /* a big backlog: move it now */
        pthread_mutex_unlock(&t->imu);
    }
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

cx_err track_migrate(store *s, char *err, size_t errlen)
{
    cx_err e = alert_migrate(s, err, errlen);
    return e == CX_OK ? store_migrate(s, "track", track_migrations, track_nmigrations, err, errlen)
                      : e;
}

cx_err track_service_new(store *s, decl_service *decl, alert_service *alerts,
                         const track_config *cfg, track_service **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    track_service *t = calloc(1, sizeof *t);
    if (!t)
        return CX_ENOMEM;
    t->store = s;
    t->decl = decl;
    t->alerts_svc = alerts;
    t->cfg = *cfg;
    t->qcap = PIPE_QUEUE;
    t->ring = calloc(t->qcap, sizeof *t->ring);
    t->engine = track_engine_new(cfg);
    track__consinfo_new(t);
    t->positions = track__poshub_new((unsigned)cfg->heartbeat_s);
    pthread_mutex_init(&t->qmu, NULL);
    track__cond_init(&t->q_data);
    track__cond_init(&t->q_space);
    pthread_mutex_init(&t->bmu, NULL);
    pthread_cond_init(&t->bcv, NULL);
    pthread_mutex_init(&t->cmu, NULL);
    pthread_mutex_init(&t->emu, NULL);
    track__cond_init(&t->ecv);
    pthread_mutex_init(&t->tmu, NULL);
    track__cond_init(&t->tcv);
    pthread_mutex_init(&t->mmu, NULL);
    pthread_cond_init(&t->mcv, NULL);
    pthread_mutex_init(&t->imu, NULL);
    track__cond_init(&t->icv);
    if (!t->ring || !t->engine || !t->consinfo || !t->positions) {
        snprintf(err, errlen, "out of memory");
        track_service_free(t);
        return CX_ENOMEM;
    }
    if (!alerts || alert_register(alerts, track_alert_kinds, track_alert_types) != CX_OK) {
        snprintf(err, errlen, "cannot register the tracking alerts with the alert service");
        track_service_free(t);
        return CX_EINVAL;
    }
    t->committed = svc__committed;
    t->acked = track__mqtt_committed;
    cx_err e = svc__load(t, err, errlen);
    if (e != CX_OK) {
        track_service_free(t);
        return e;
    }
    /* named, for top -H and perf */
    if (pthread_create(&t->engine_thread, NULL, track__engine_main, t) == 0) {
        t->engine_started = true;
        pthread_setname_np(t->engine_thread, "trk-engine");
    }
    if (t->engine_started && pthread_create(&t->esc_thread, NULL, svc__esc_main, t) == 0) {
        t->esc_started = true;
        pthread_setname_np(t->esc_thread, "trk-escalate");
    }
    if (t->esc_started && pthread_create(&t->ticker, NULL, svc__ticker_main, t) == 0) {
        t->ticker_started = true;
        pthread_setname_np(t->ticker, "trk-ticker");
    }
    if (!t->ticker_started || track__indexer_start(t) != CX_OK) {
        snprintf(err, errlen, "cannot start the tracking threads");
        track_service_free(t);
        return CX_EUNAVAIL;
    }
    *out = t;
    return CX_OK;
}

void track_service_stop(track_service *t)
{
    if (!t || t->stopped)
        return;
    t->stopped = true;
    if (t->mqtt)
        track__mqtt_stop(t->mqtt); /* no new MQTT input; acks flushed after the drain */
    pthread_mutex_lock(&t->qmu);
    t->stopping = true;
    pthread_cond_broadcast(&t->q_data);
    pthread_cond_broadcast(&t->q_space);
    pthread_mutex_unlock(&t->qmu);
    if (t->engine_started)
        pthread_join(t->engine_thread, NULL);
    t->engine_started = false;
    track__indexer_stop(t); /* what is left in the journal moves at the next start */
    if (t->mqtt)
        track__mqtt_free(t->mqtt); /* sends the last acknowledgements, disconnects */
    t->mqtt = NULL;
    pthread_mutex_lock(&t->emu);
    t->esc_stop = true;
    pthread_cond_broadcast(&t->ecv);
    pthread_mutex_unlock(&t->emu);
    if (t->esc_started)
        pthread_join(t->esc_thread, NULL);
    t->esc_started = false;
    pthread_mutex_lock(&t->tmu);
    t->ticker_stop = true;
    pthread_cond_broadcast(&t->tcv);
    pthread_mutex_unlock(&t->tmu);
    if (t->ticker_started)
        pthread_join(t->ticker, NULL);
    t->ticker_started = false;
    track__poshub_close(t->positions);
}

void track_service_free(track_service *t)
{
    if (!t)
        return;
    track_service_stop(t);
    /* entries left in the queue (stop before they were taken) */
    for (size_t i = 0; i < t->qlen; i++) {
        track_entry *e = &t->ring[(t->qhead + i) % t->qcap];
        if (e->dead) {
            free(e->dead->payload);
            free(e->dead);
        }
    }
    while (t->cmd_head) {
        track_cmd *n = t->cmd_head->next;
        track__cmd_free(t->cmd_head);
        t->cmd_head = n;
    }
    for (track_batch *b = t->free_batches, *n; b; b = n) {
        n = b->next_free;
        track__batch_free(b);
    }
    while (t->esc_head) {
        esc_item *n = ((esc_item *)t->esc_head)->next;
        svc__esc_free(t->esc_head);
        t->esc_head = n;
    }
    track_engine_free(t->engine);
    track__consinfo_free(t);
    svc__corridors_free(t);
    track__poshub_free(t->positions);
    free(t->ring);
    pthread_mutex_destroy(&t->qmu);
    pthread_cond_destroy(&t->q_data);
    pthread_cond_destroy(&t->q_space);
    pthread_mutex_destroy(&t->bmu);
    pthread_cond_destroy(&t->bcv);
    pthread_mutex_destroy(&t->cmu);
    pthread_mutex_destroy(&t->emu);
    pthread_cond_destroy(&t->ecv);
    pthread_mutex_destroy(&t->tmu);
    pthread_cond_destroy(&t->tcv);
    pthread_mutex_destroy(&t->mmu);
    pthread_cond_destroy(&t->mcv);
    pthread_mutex_destroy(&t->imu);
    pthread_cond_destroy(&t->icv);
    track__geos_release();
    free(t);
}



