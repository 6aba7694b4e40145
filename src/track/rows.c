/* What the engine thread writes into a batch: rows for messages, dead
 * letters, alerts and changed rule state; and the commands (zones, devices,
 * consignments) it applies in order with the messages. Each consignment's
 * declarations are kept here too, for the alerts that name them. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS_DEAD_PAYLOAD 1024
#define DECL_LOOKBACK_DAYS 30 /* container-matched declarations: dated since creation - 30 d */
#define ROWS_CONTAINER_DECLS 256 /* container-matched declarations an alert links, newest */

/* ---- declarations of a consignment (engine thread) ---------------------------------------- */

typedef struct {
    char *id;
    json_t *declared;   /* ids given in the consignment */
    json_t *containers;
    char cutoff[11];    /* container-matched declarations dated from here on */
    json_t *cached;
    int64_t cached_at;
} cons_info;

typedef struct {
    cx_map by_id;
    cons_info *v;
    size_t n, cap;
} cons_infos;

static void rows__consinfo_add(track_service *t, const char *id, const json_t *doc,
                               int64_t created_ms)
{
    cons_infos *ci = t->consinfo;
    if (cx_map_get(&ci->by_id, id) >= 0)
        return;
    if (!cx_grow((void **)&ci->v, &ci->cap, ci->n + 1, sizeof *ci->v))
        return;
    cons_info *c = &ci->v[ci->n];
    memset(c, 0, sizeof *c);
    c->id = strdup(id);
    if (!c->id)
        return;
    c->declared = json_incref(json_object_get(doc, "declarations"));
    c->containers = json_incref(json_object_get(doc, "containers"));
    int y, m, d;
    cx_civil_from_days(created_ms / 86400000 - DECL_LOOKBACK_DAYS, &y, &m, &d);
    snprintf(c->cutoff, sizeof c->cutoff, "%04d-%02d-%02d", y, m, d);
    if (cx_map_set(&ci->by_id, c->id, (int64_t)ci->n) == CX_OK)
        ci->n++;
    else
        free(c->id);
}

cx_err track__consinfo_new(track_service *t)
{
    t->consinfo = calloc(1, sizeof(cons_infos));
    return t->consinfo ? CX_OK : CX_ENOMEM;
}

void track__consinfo_free(track_service *t)
{
    cons_infos *ci = t->consinfo;
    if (!ci)
        return;
    for (size_t i = 0; i < ci->n; i++) {
        free(ci->v[i].id);
        json_decref(ci->v[i].declared);
        json_decref(ci->v[i].containers);
        json_decref(ci->v[i].cached);
    }
    free(ci->v);
    cx_map_free(&ci->by_id);
    free(ci);
    t->consinfo = NULL;
}

typedef struct {
    json_t *out;
    size_t linked; /* container-matched ids added so far */
} decl_collect;

static bool rows__decl_found(void *ctx, const char *id, const char *date)
{
    (void)date;
    decl_collect *dc = ctx;
    size_t i;
    json_t *v;
    json_array_foreach(dc->out, i, v)
    {
        if (strcmp(json_string_value(v), id) == 0)
            return true;
    }
    json_array_append_new(dc->out, json_string(id));
    return ++dc->linked < ROWS_CONTAINER_DECLS;
}

/* The consignment's declarations: all those it names, and the newest of
 * those that list one of its containers (at most ROWS_CONTAINER_DECLS, read
 * newest first from the index, so 100,000 earlier filings on a container
 * neither hide a new one nor cost a scan), cached for a minute. Borrowed
 * reference. */
static json_t *rows__declarations(track_service *t, const char *cons)
{
    cons_infos *ci = t->consinfo;
    int64_t i = cons ? cx_map_get(&ci->by_id, cons) : -1;
    if (i < 0)
        return NULL;
    cons_info *c = &ci->v[i];
    int64_t now = cx_mono_us();
    if (c->cached && now - c->cached_at < 60000000)
        return c->cached;
    json_t *out = json_array();
    size_t k;
    json_t *v;
    json_array_foreach(c->declared, k, v)
    {
        json_array_append(out, v);
    }
    if (t->decl) {
        decl_collect dc = {out, 0};
        json_array_foreach(c->containers, k, v)
        {
            if (json_is_string(v) && dc.linked < ROWS_CONTAINER_DECLS)
                decl_find_by_container(t->decl, json_string_value(v), c->cutoff,
                                       (int)(ROWS_CONTAINER_DECLS - dc.linked), rows__decl_found,
                                       &dc);
        }
    }
    json_decref(c->cached);
    c->cached = out;
    c->cached_at = now;
    return out;
}

/* ---- rows ------------------------------------------------------------------------------------ */

/* The kinds and types of alerts track raises (alert_register). */
const char *const track_alert_kinds[] = {"device", "consignment", NULL};
const char *const track_alert_types[] = {
    "zone_enter",    "zone_exit",     "corridor_deviation", "unscheduled_stop",
    "seal_opened",   "seal_tampered", "door_open",          "temperature",
    "signal_loss",   "impossible_jump", "overdue",          NULL};

/* An alert of the engine as a row of the batch; the batch job raises it. */
void track__on_alert(void *ctx, const track_alert *a)
{
    track_alert_ctx *x = ctx;
    track_service *t = x->t;
    track_batch *b = x->b;
    if (!cx_grow((void **)&b->alerts, &b->capalerts, b->nalerts + 1, sizeof *b->alerts)) {
        cx_log(CX_LOG_ERROR, "track: out of memory: %s alert dropped",
               track_alert_type_name(a->type));
        return;
    }
    track_alert_row *r = &b->alerts[b->nalerts];
    memset(r, 0, sizeof *r);
    r->type = (uint8_t)a->type;
    r->sev = (uint8_t)a->severity;
    r->time = a->time_ms;
    r->dev = a->device_key;
    r->lat = a->lat;
    r->lon = a->lon;
    snprintf(r->org, sizeof r->org, "%s", a->org ? a->org : "");
    snprintf(r->device, sizeof r->device, "%s", a->device ? a->device : "");
    snprintf(r->container, sizeof r->container, "%s", a->container ? a->container : "");
    snprintf(r->consignment, sizeof r->consignment, "%s", a->consignment ? a->consignment : "");
    /* copies: the batch is read and freed on the writer thread */
    r->detail = a->detail ? json_deep_copy(a->detail) : json_object();
    json_t *decls = rows__declarations(t, a->consignment);
    r->decls = decls && json_array_size(decls) ? json_deep_copy(decls) : NULL;
    if (!r->detail) {
        json_decref(r->decls);
        return;
    }
    atomic_fetch_add(&t->m_alerts[a->type][a->severity], 1);
    b->nalerts++;
}

static void rows__dead_payload(track_dead *d, const track_msg *m)
{
    json_t *j = json_pack("{s:s,s:I,s:f,s:f}", "device", m->device, "ts", (json_int_t)m->ts_ms,
                          "lat", m->lat, "lon", m->lon);
    d->payload = j ? cx_json_dump(j, NULL) : NULL;
    json_decref(j);
}

static void rows__dead_row(track_service *t, track_batch *b, const track_entry *e, track_dead *d)
{
    if (!cx_grow((void **)&b->dead, &b->capdead, b->ndead + 1, sizeof *b->dead)) {
        free(d->payload);
        return;
    }
    track_dead_row *r = &b->dead[b->ndead++];
    r->recv_us = e->recv_us;
    r->src = e->source;
    r->d = *d;
    atomic_fetch_add(&t->m_dead[track__reason_index(d->code)], 1);
    if (e->w) {
        e->w->outcome[e->widx] = TRACK_OUT_REJECTED;
        snprintf(e->w->code[e->widx], sizeof e->w->code[0], "%s", d->code);
        snprintf(e->w->message[e->widx], sizeof e->w->message[0], "%s", d->message);
    }
}

void track__entry(track_service *t, track_batch *b, track_entry *e)
{
    if (e->mqtt_seq > b->mqtt_max)
        b->mqtt_max = e->mqtt_seq;
    if (!b->first_recv_us || e->recv_us < b->first_recv_us)
        b->first_recv_us = e->recv_us;
    if (e->w)
        track__batch_waiter(b, e->w);
    atomic_fetch_add(&t->m_msgs[e->source], 1);
    if (e->kind == TRACK_ENT_DEAD) {
        rows__dead_row(t, b, e, e->dead);
        free(e->dead);
        e->dead = NULL;
        return;
    }
    int64_t key = 0;
    track_alert_ctx ac = {t, b};
    track_outcome o = track__engine_apply(t->engine, &e->m, e->recv_us,
                                          e->w && e->w->restricted ? e->w->org : NULL,
                                          e->w ? e->w->key_id : 0, &key, track__on_alert, &ac);
    if (o == TRACK_UNKNOWN || (int)o == TRACK__FORBIDDEN) {
        track_dead d;
        memset(&d, 0, sizeof d);
        if (o == TRACK_UNKNOWN) {
            snprintf(d.code, sizeof d.code, "unknown_device");
            snprintf(d.message, sizeof d.message, "/device: no device %s is registered",
                     e->m.device);
        } else {
            snprintf(d.code, sizeof d.code, "forbidden_device");
            snprintf(d.message, sizeof d.message,
                     e->w && e->w->key_id ? "/device: %s is not bound to this device key"
                                          : "/device: %s belongs to another organisation",
                     e->m.device);
        }
        snprintf(d.device, sizeof d.device, "%s", e->m.device);
        rows__dead_payload(&d, &e->m);
        rows__dead_row(t, b, e, &d);
        /* Another organisation's device is answered like one that does not
         * exist: the caller learns no id of another's; officers read the
         * dead letter's own reason. */
        if ((int)o == TRACK__FORBIDDEN && !(e->w && e->w->key_id) && e->w) {
            snprintf(e->w->code[e->widx], sizeof e->w->code[0], "unknown_device");
            snprintf(e->w->message[e->widx], sizeof e->w->message[0],
                     "/device: no device %s is registered", e->m.device);
        }
        return;
    }
    if (o == TRACK_DUPLICATE) {
        atomic_fetch_add(&t->m_dup, 1);
        if (e->w)
            e->w->outcome[e->widx] = TRACK_OUT_DUPLICATE;
        return;
    }
    if (o == TRACK_LATE) {
        atomic_fetch_add(&t->m_late, 1);
        if (e->w)
            e->w->outcome[e->widx] = TRACK_OUT_LATE;
    }
    if (!cx_grow((void **)&b->pos, &b->cappos, b->npos + 1, sizeof *b->pos))
        return;
    track_pos_row *p = &b->pos[b->npos++];
    p->dev = key;
    p->ts = e->m.ts_ms;
    p->lat = e->m.lat;
    p->lon = e->m.lon;
    p->speed = e->m.speed_kmh;
    p->heading = e->m.heading;
    p->temp = e->m.temp_c;
    p->batt = e->m.battery_pct;
    p->seal = e->m.seal;
    p->door = e->m.door;
    p->src = e->source;
}

void track__dirty_dev(void *ctx, const track_dirty_dev *d)
{
    track_batch *b = ctx;
    if (!cx_grow((void **)&b->state, &b->capstate, b->nstate + 1, sizeof *b->state) ||
        !cx_grow((void **)&b->arena, &b->acap, b->alen + d->state_len, 1))
        return;
    track_state_row *r = &b->state[b->nstate++];
    r->dev = d->key;
    r->ts = d->ts_ms;
    r->recv = d->recv_us;
    snprintf(r->id, sizeof r->id, "%s", d->id);
    snprintf(r->org, sizeof r->org, "%s", d->org);
    snprintf(r->container, sizeof r->container, "%s", d->container ? d->container : "");
    snprintf(r->consignment, sizeof r->consignment, "%s", d->consignment ? d->consignment : "");
    r->lat = d->lat;
    r->lon = d->lon;
    r->speed = d->speed_kmh;
    r->heading = d->heading;
    r->temp = d->temp_c;
    r->batt = d->battery_pct;
    r->seal = d->seal;
    r->door = d->door;
    r->state_off = b->alen;
    r->state_len = d->state_len;
    memcpy(b->arena + b->alen, d->state, d->state_len);
    b->alen += d->state_len;
}

void track__dirty_cons(void *ctx, int64_t key, int64_t arrived_ms, bool overdue)
{
    track_batch *b = ctx;
    if (!cx_grow((void **)&b->cons, &b->capcons, b->ncons + 1, sizeof *b->cons))
        return;
    b->cons[b->ncons++] = (track_cons_row){key, arrived_ms, overdue};
}

void track__apply(track_service *t, track_cmd *c)
{
    cx_err e = CX_OK;
    switch (c->kind) {
    case TRACK_CMD_ZONE: {
        track_zone_def z = {.key = c->key, .id = c->id, .name = c->name, .kind = c->zkind};
        e = track_engine_zone(t->engine, &z, c->shape);
        c->shape = NULL;
        break;
    }
    case TRACK_CMD_DEVICE: {
        track_device_def d = {.key = c->key, .id = c->id, .org = c->org, .kind = c->dkind,
                              .container = c->container[0] ? c->container : NULL,
                              .temp_min_c = c->tmin, .temp_max_c = c->tmax,
                              .key_id = c->key_id};
        e = track_engine_device(t->engine, &d);
        break;
    }
    case TRACK_CMD_CONS: {
        const json_t *doc = c->doc;
        const json_t *cs = json_object_get(doc, "containers");
        size_t n = json_array_size(cs);
        const char **containers = calloc(n ? n : 1, sizeof *containers);
        if (!containers) {
            e = CX_ENOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++)
            containers[i] = json_string_value(json_array_get(cs, i));
        int64_t expected = 0;
        const char *ea = json_string_value(json_object_get(doc, "expected_arrival"));
        int64_t us;
        if (ea && cx_rfc3339_parse(ea, &us) == CX_OK)
            expected = us / 1000;
        const json_t *tr = json_object_get(doc, "temperature_c");
        const json_t *tmin = json_object_get(tr, "min"), *tmax = json_object_get(tr, "max");
        track_config rules = t->cfg;
        const json_t *ov = json_object_get(doc, "rules");
        if (ov)
            track_config_apply(&rules, ov, NULL);
        track_consignment_def d = {
            .key = c->key,
            .id = c->id,
            .containers = containers,
            .ncontainers = n,
            .origin_zone = json_string_value(json_object_get(doc, "origin_zone")),
            .destination_zone = json_string_value(json_object_get(doc, "destination_zone")),
            .expected_arrival_ms = expected,
            .corridor_m = json_number_value(json_object_get(doc, "corridor_m")),
            .temp_min_c = json_is_number(tmin) ? json_number_value(tmin) : NAN,
            .temp_max_c = json_is_number(tmax) ? json_number_value(tmax) : NAN,
            .route = json_object_get(doc, "route"),
            .rules = &rules,
            .arrived_ms = c->arrived_ms,
            .overdue_fired = c->overdue_fired,
        };
        e = track_engine_consignment(t->engine, &d, c->shape);
        c->shape = NULL;
        free(containers);
        rows__consinfo_add(t, c->id, doc, c->created_ms);
        break;
    }
    }
    if (e != CX_OK)
        cx_log(CX_LOG_ERROR, "track: %s %s not applied to the rule engine: %s",
               c->kind == TRACK_CMD_ZONE ? "zone" : c->kind == TRACK_CMD_DEVICE ? "device"
                                                                                 : "consignment",
               c->id, cx_strerror(e));
}
