/* The pipeline: one queue from every source into one engine thread, batches
 * of positions, alerts, dead letters and rule state committed through the
 * store's group-committing writer, and what happens once a batch is
 * durable (SSE, MQTT acknowledgements, HTTP replies, lane raising).
 *
 * Decoding happens on the source's thread; the engine thread runs the rules
 * and builds rows; the writer thread only binds and steps prepared
 * statements. Alerts leave the process only after their batch is fsynced,
 * so what a client saw on the stream is always in GET /v1/alerts. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIPE_QUEUE 65536      /* entries between the sources and the engine */
#define PIPE_TAKE 2048        /* entries the engine takes per lock */
#define PIPE_BATCH_MAX 4096   /* positions per batch */
#define PIPE_INFLIGHT 8       /* batches handed to the writer and not yet done */
#define PIPE_FLUSH_US 10000   /* a batch waits at most this long for more */
#define PIPE_GATHER_US 2000   /* ...and at least this long, unless it is big, so that a
                               * busy stream does not cost one fsync per message */
#define PIPE_GATHER_N 512
#define PIPE_TICK_US 1000000  /* wall-clock rules */
#define PIPE_WARMUP_US 60000000 /* ...not in the first minute: a backlog queued at the
                                 * broker while we were down comes in first */
#define PIPE_DEAD_PAYLOAD 1024
#define DECL_LOOKBACK_DAYS 30 /* container-matched declarations: dated since creation - 30 d */

const char *const track_src_names[TRACK_SRC__COUNT] = {"mqtt", "osmand", "http"};
const char *const track_reason_names[TRACK_R__COUNT] = {
    "malformed_json",  "not_object",       "missing_field",  "bad_field",
    "bad_device",      "bad_coordinates",  "bad_timestamp",  "future_timestamp",
    "invalid_fix",     "unknown_device",   "forbidden_device", "topic_mismatch",
    "too_large",       "bad_key",          "other"};

int track__reason_index(const char *code)
{
    for (int i = 0; i < TRACK_R__COUNT; i++)
        if (strcmp(track_reason_names[i], code) == 0)
            return i;
    return TRACK_R_OTHER;
}

static void pipe__deadline(struct timespec *ts, int64_t mono_us)
{
    ts->tv_sec = (time_t)(mono_us / 1000000);
    ts->tv_nsec = (long)(mono_us % 1000000) * 1000;
}

static void pipe__cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* ---- queue -------------------------------------------------------------------------- */

cx_err track__enqueue(track_service *t, const track_entry *e, size_t n, int wait_ms,
                      size_t *taken)
{
    int64_t deadline = wait_ms >= 0 ? cx_mono_us() + (int64_t)wait_ms * 1000 : INT64_MAX;
    /* With a time limit it is all or nothing: the entries of an HTTP
     * request share a waiter that is freed if they are refused. */
    bool whole = wait_ms >= 0;
    if (whole && n > t->qcap)
        return CX_ETOOBIG;
    pthread_mutex_lock(&t->qmu);
    size_t done = 0;
    while (done < n) {
        if (t->stopping) {
            pthread_mutex_unlock(&t->qmu);
            if (taken)
                *taken = done; /* the queue owns these now */
            return CX_ESHUTDOWN;
        }
        if (t->qlen == t->qcap || (whole && t->qcap - t->qlen < n)) {
            if (cx_mono_us() >= deadline) {
                pthread_mutex_unlock(&t->qmu);
                if (taken)
                    *taken = done;
                return CX_EBUSY;
            }
            struct timespec ts;
            int64_t until = deadline == INT64_MAX ? cx_mono_us() + 100000 : deadline;
            pipe__deadline(&ts, until);
            pthread_cond_timedwait(&t->q_space, &t->qmu, &ts);
            continue;
        }
        while (done < n && t->qlen < t->qcap) {
            t->ring[(t->qhead + t->qlen) % t->qcap] = e[done++];
            t->qlen++;
        }
        if ((int64_t)t->qlen > atomic_load(&t->m_queue_hwm))
            atomic_store(&t->m_queue_hwm, (int64_t)t->qlen);
        pthread_cond_signal(&t->q_data);
    }
    pthread_mutex_unlock(&t->qmu);
    if (taken)
        *taken = done;
    return CX_OK;
}

void track__command(track_service *t, track_cmd *c)
{
    c->next = NULL;
    pthread_mutex_lock(&t->qmu);
    if (t->cmd_tail)
        t->cmd_tail->next = c;
    else
        t->cmd_head = c;
    t->cmd_tail = c;
    pthread_cond_signal(&t->q_data);
    pthread_mutex_unlock(&t->qmu);
}

void track__cmd_free(track_cmd *c)
{
    if (!c)
        return;
    free(c->name);
    track_shape_free(c->shape);
    json_decref(c->doc);
    free(c);
}

/* ---- waiters ---------------------------------------------------------------------------- */

track_waiter *track__waiter_new(http_req *r, uint32_t n, const cx_principal *who, bool osmand)
{
    track_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->req = r;
    w->n = n;
    w->osmand = osmand;
    atomic_init(&w->pending, (int64_t)n);
    if (who && (who->role == CX_ROLE_DEVICE || who->role == CX_ROLE_CARRIER)) {
        w->restricted = true;
        snprintf(w->org, sizeof w->org, "%s", who->org);
        /* issue 5: a device key posts only for its own devices */
        if (who->role == CX_ROLE_DEVICE)
            w->key_id = who->key_id;
    }
    w->outcome = calloc(n ? n : 1, 1);
    w->code = calloc(n ? n : 1, sizeof *w->code);
    w->message = calloc(n ? n : 1, sizeof *w->message);
    if (!w->outcome || !w->code || !w->message) {
        free(w->outcome);
        free(w->code);
        free(w->message);
        free(w);
        return NULL;
    }
    return w;
}

void track__waiter_done(track_service *t, track_waiter *w)
{
    http_req *r = w->req;
    if (atomic_load(&w->failed)) {
        http_reply_error(r, 503, "unavailable", "telemetry could not be stored; retry", NULL);
    } else if (w->whole_body) {
        /* The dead letter keeps the decoder's reason; the answer uses the
         * platform's codes (docs/api.md): invalid_json when the body is not
         * JSON, invalid_batch when it is JSON of the wrong shape. */
        bool not_json = strcmp(w->code[0], "malformed_json") == 0;
        json_t *d = json_array();
        cx_problem_add(d, "", "%s", w->message[0]);
        if (not_json)
            http_reply_error(r, 400, "invalid_json", "the body is not valid JSON", d);
        else
            http_reply_error(r, 400, "invalid_batch",
                             "the body is not a telemetry message or an array of them", d);
    } else if (w->osmand) {
        if (w->outcome[0] == TRACK_OUT_REJECTED) {
            char msg[300];
            /* A wrong key reads exactly like an unknown id: /osmand answers
             * anyone, and must not tell which ids exist (the dead letter
             * keeps the difference for officers). */
            bool identity = strcmp(w->code[0], "unknown_device") == 0 ||
                            strcmp(w->code[0], "bad_key") == 0;
            int len = identity ? snprintf(msg, sizeof msg, "unknown_device: /id: no such device, "
                                                           "or a wrong key\n")
                               : snprintf(msg, sizeof msg, "%s: %s\n", w->code[0],
                                          w->message[0]);
            http_reply_copy(r, 400, "text/plain; charset=utf-8", msg, (size_t)len);
        } else {
            http_reply_copy(r, 200, "text/plain; charset=utf-8", "", 0);
        }
    } else {
        json_int_t acc = 0, dup = 0, late = 0;
        json_t *rej = json_array();
        for (uint32_t i = 0; i < w->n; i++) {
            switch (w->outcome[i]) {
            case TRACK_OUT_ACCEPTED: acc++; break;
            case TRACK_OUT_DUPLICATE: dup++; break;
            case TRACK_OUT_LATE: late++; break;
            default:
                json_array_append_new(rej, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i,
                                                     "reason", w->code[i], "message",
                                                     w->message[i]));
            }
        }
        http_reply_json(r, 200,
                        json_pack("{s:I,s:I,s:I,s:o}", "accepted", acc, "duplicates", dup,
                                  "late", late, "rejected", rej));
    }
    http_resume(r);
    (void)t;
    free(w->outcome);
    free(w->code);
    free(w->message);
    free(w);
}

static void pipe__waiter_release(track_service *t, track_waiter *w, int64_t n, bool failed)
{
    if (failed)
        atomic_store(&w->failed, true);
    if (atomic_fetch_sub(&w->pending, n) == n)
        track__waiter_done(t, w);
}

/* ---- batches ------------------------------------------------------------------------------ */

static bool pipe__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

static track_batch *pipe__batch_get(track_service *t)
{
    pthread_mutex_lock(&t->bmu);
    while (t->batches_out >= PIPE_INFLIGHT)
        pthread_cond_wait(&t->bcv, &t->bmu);
    track_batch *b = t->free_batches;
    if (b)
        t->free_batches = b->next_free;
    t->batches_out++;
    pthread_mutex_unlock(&t->bmu);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) {
            pthread_mutex_lock(&t->bmu);
            t->batches_out--;
            pthread_mutex_unlock(&t->bmu);
            return NULL;
        }
        b->t = t;
    }
    b->npos = b->nalerts = b->ndead = b->nstate = b->ncons = b->nwaiters = 0;
    b->alen = 0;
    b->mqtt_max = 0;
    b->first_recv_us = 0;
    return b;
}

static void pipe__batch_clear(track_batch *b)
{
    for (size_t i = 0; i < b->nalerts; i++) {
        json_decref(b->alerts[i].detail);
        json_decref(b->alerts[i].decls);
    }
    for (size_t i = 0; i < b->ndead; i++)
        free(b->dead[i].d.payload);
    b->nalerts = b->ndead = 0;
}

static void pipe__batch_put(track_service *t, track_batch *b)
{
    pipe__batch_clear(b);
    pthread_mutex_lock(&t->bmu);
    b->next_free = t->free_batches;
    t->free_batches = b;
    t->batches_out--;
    pthread_cond_broadcast(&t->bcv);
    pthread_mutex_unlock(&t->bmu);
}

static void pipe__batch_free(track_batch *b)
{
    pipe__batch_clear(b);
    free(b->pos);
    free(b->alerts);
    free(b->dead);
    free(b->state);
    free(b->cons);
    free(b->arena);
    free(b->waiters);
    free(b);
}

static bool pipe__batch_empty(const track_batch *b)
{
    return !b->npos && !b->nalerts && !b->ndead && !b->nwaiters && !b->mqtt_max;
}

static void pipe__batch_waiter(track_batch *b, track_waiter *w)
{
    if (b->nwaiters && b->waiters[b->nwaiters - 1].w == w) {
        b->waiters[b->nwaiters - 1].n++;
        return;
    }
    if (!pipe__grow((void **)&b->waiters, &b->capwaiters, b->nwaiters + 1, sizeof *b->waiters))
        abort(); /* a waiter left behind would never be answered */
    b->waiters[b->nwaiters].w = w;
    b->waiters[b->nwaiters].n = 1;
    b->nwaiters++;
}

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

static void pipe__consinfo_add(track_service *t, const char *id, const json_t *doc,
                               int64_t created_ms)
{
    cons_infos *ci = t->consinfo;
    if (cx_map_get(&ci->by_id, id) >= 0)
        return;
    if (!pipe__grow((void **)&ci->v, &ci->cap, ci->n + 1, sizeof *ci->v))
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

static void pipe__consinfo_free(track_service *t)
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
    const char *cutoff;
} decl_collect;

static bool pipe__decl_found(void *ctx, const char *id, const char *date)
{
    decl_collect *dc = ctx;
    if (strcmp(date, dc->cutoff) < 0)
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(dc->out, i, v)
    {
        if (strcmp(json_string_value(v), id) == 0)
            return true;
    }
    if (json_array_size(dc->out) < 256)
        json_array_append_new(dc->out, json_string(id));
    return true;
}

/* The consignment's declarations: those it names and those that list one of
 * its containers (recent ones), cached for a minute. Borrowed reference. */
static json_t *pipe__declarations(track_service *t, const char *cons)
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
        decl_collect dc = {out, c->cutoff};
        json_array_foreach(c->containers, k, v)
        {
            if (json_is_string(v))
                decl_find_by_container(t->decl, json_string_value(v), pipe__decl_found, &dc);
        }
    }
    json_decref(c->cached);
    c->cached = out;
    c->cached_at = now;
    return out;
}

/* ---- the engine thread ------------------------------------------------------------------------ */

typedef struct {
    track_service *t;
    track_batch *b;
} alert_ctx;

static void pipe__fmt_time(int64_t ms, char out[32])
{
    cx_rfc3339_format(ms * 1000, out);
}

/* The kinds and types of alerts track raises (alert_register). */
const char *const track_alert_kinds[] = {"device", "consignment", NULL};
const char *const track_alert_types[] = {
    "zone_enter",    "zone_exit",     "corridor_deviation", "unscheduled_stop",
    "seal_opened",   "seal_tampered", "door_open",          "temperature",
    "signal_loss",   "impossible_jump", "overdue",          NULL};

/* An alert of the engine as a row of the batch; the batch job raises it. */
static void pipe__on_alert(void *ctx, const track_alert *a)
{
    alert_ctx *x = ctx;
    track_service *t = x->t;
    track_batch *b = x->b;
    if (!pipe__grow((void **)&b->alerts, &b->capalerts, b->nalerts + 1, sizeof *b->alerts)) {
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
    json_t *decls = pipe__declarations(t, a->consignment);
    r->decls = decls && json_array_size(decls) ? json_deep_copy(decls) : NULL;
    if (!r->detail) {
        json_decref(r->decls);
        return;
    }
    atomic_fetch_add(&t->m_alerts[a->type][a->severity], 1);
    b->nalerts++;
}

static void pipe__dead_payload(track_dead *d, const track_msg *m)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"device\":\"%s\",\"ts\":%lld,\"lat\":%.7f,\"lon\":%.7f}",
                     m->device, (long long)m->ts_ms, m->lat, m->lon);
    d->payload = n > 0 ? strndup(buf, (size_t)n) : NULL;
}

static void pipe__dead_row(track_service *t, track_batch *b, const track_entry *e, track_dead *d)
{
    if (!pipe__grow((void **)&b->dead, &b->capdead, b->ndead + 1, sizeof *b->dead)) {
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

static void pipe__entry(track_service *t, track_batch *b, track_entry *e)
{
    if (e->mqtt_seq > b->mqtt_max)
        b->mqtt_max = e->mqtt_seq;
    if (!b->first_recv_us || e->recv_us < b->first_recv_us)
        b->first_recv_us = e->recv_us;
    if (e->w)
        pipe__batch_waiter(b, e->w);
    atomic_fetch_add(&t->m_msgs[e->source], 1);
    if (e->kind == TRACK_ENT_DEAD) {
        pipe__dead_row(t, b, e, e->dead);
        free(e->dead);
        e->dead = NULL;
        return;
    }
    int64_t key = 0;
    alert_ctx ac = {t, b};
    track_outcome o = track__engine_apply(t->engine, &e->m, e->recv_us,
                                          e->w && e->w->restricted ? e->w->org : NULL,
                                          e->w ? e->w->key_id : 0, &key, pipe__on_alert, &ac);
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
        pipe__dead_payload(&d, &e->m);
        pipe__dead_row(t, b, e, &d);
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
    if (!pipe__grow((void **)&b->pos, &b->cappos, b->npos + 1, sizeof *b->pos))
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

static void pipe__dirty_dev(void *ctx, const track_dirty_dev *d)
{
    track_batch *b = ctx;
    if (!pipe__grow((void **)&b->state, &b->capstate, b->nstate + 1, sizeof *b->state) ||
        !pipe__grow((void **)&b->arena, &b->acap, b->alen + d->state_len, 1))
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

static void pipe__dirty_cons(void *ctx, int64_t key, int64_t arrived_ms, bool overdue)
{
    track_batch *b = ctx;
    if (!pipe__grow((void **)&b->cons, &b->capcons, b->ncons + 1, sizeof *b->cons))
        return;
    b->cons[b->ncons++] = (track_cons_row){key, arrived_ms, overdue};
}

static void pipe__batch_done(void *arg, cx_err result)
{
    track_batch *b = arg;
    track_service *t = b->t;
    bool ok = result == CX_OK;
    atomic_fetch_add(&t->m_batches, 1);
    if (!ok) {
        atomic_fetch_add(&t->m_batch_failed, 1);
        cx_log(CX_LOG_ERROR, "track: a batch of %zu positions and %zu alerts was not stored: %s",
               b->npos, b->nalerts, cx_strerror(result));
    }
    if (ok) {
        /* the alert module streams the alerts after this same commit */
        for (size_t i = 0; i < b->nalerts; i++) {
            const track_alert_row *a = &b->alerts[i];
            if (a->decls && a->sev == TRACK_SEV_CRITICAL && a->consignment[0])
                track__escalate(t, a->ref.id, track_alert_type_name((track_alert_type)a->type),
                                a->consignment, a->time, a->decls);
        }
        track__poshub_update(t->positions, b->state, b->nstate, b->pos, b->npos);
        atomic_fetch_add(&t->m_positions, b->npos);
        if (atomic_fetch_add(&t->journal_pending, (int64_t)b->npos) + (int64_t)b->npos >= 200000) {
            pthread_mutex_lock(&t->imu);
            pthread_cond_signal(&t->icv); /* a big backlog: move it now */
            pthread_mutex_unlock(&t->imu);
        }
        if (b->first_recv_us) {
            int64_t us = cx_now_us() - b->first_recv_us;
            if (us < 0)
                us = 0;
            int k = 0;
            while (k < 15 && us > (1000LL << k))
                k++;
            atomic_fetch_add(&t->m_lat_hist[k], 1);
            atomic_fetch_add(&t->m_lat_sum_us, (uint64_t)us);
            atomic_fetch_add(&t->m_lat_count, 1);
        }
    }
    if (b->mqtt_max)
        track__mqtt_committed(t, b->mqtt_max, ok);
    for (size_t i = 0; i < b->nwaiters; i++)
        pipe__waiter_release(t, b->waiters[i].w, b->waiters[i].n, !ok);
    /* the writer is free: the engine may hand over what it gathered */
    pthread_mutex_lock(&t->qmu);
    t->inflight--;
    pthread_cond_signal(&t->q_data);
    pthread_mutex_unlock(&t->qmu);
    /* Last: once every batch is back, a stopping engine thread returns and
     * the service may be freed, so nothing of t is touched after this. */
    pipe__batch_put(t, b);
}

static void pipe__submit(track_service *t, track_batch *b, bool all)
{
    track__engine_take_dirty(t->engine, all, pipe__dirty_dev, pipe__dirty_cons, b);
    pthread_mutex_lock(&t->qmu);
    t->inflight++;
    pthread_mutex_unlock(&t->qmu);
    b->job.fn = track__batch_write;
    b->job.done = pipe__batch_done;
    b->job.arg = b;
    if (store_submit(t->store, &b->job) != CX_OK)
        pipe__batch_done(b, CX_ESHUTDOWN);
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
        pipe__consinfo_add(t, c->id, doc, c->created_ms);
        break;
    }
    }
    if (e != CX_OK)
        cx_log(CX_LOG_ERROR, "track: %s %s not applied to the rule engine: %s",
               c->kind == TRACK_CMD_ZONE ? "zone" : c->kind == TRACK_CMD_DEVICE ? "device"
                                                                                 : "consignment",
               c->id, cx_strerror(e));
}

/* Batching: a batch goes to the writer as soon as the writer is idle (low
 * latency when quiet), and otherwise gathers messages while the previous
 * commit runs (big batches, one fsync each, under load); it never waits
 * more than PIPE_FLUSH_US or grows past PIPE_BATCH_MAX. */
static void *pipe__engine_main(void *arg)
{
    track_service *t = arg;
    track_entry *local = malloc(PIPE_TAKE * sizeof *local);
    if (!local) {
        cx_log(CX_LOG_ERROR, "track: the engine thread cannot start: out of memory");
        return NULL;
    }
    track_batch *b = NULL;
    int64_t next_tick = cx_mono_us() + PIPE_TICK_US, deadline = 0, gather_until = 0;
    int64_t wall_rules_from = cx_mono_us() + PIPE_WARMUP_US;
    for (;;) {
        pthread_mutex_lock(&t->qmu);
        for (;;) {
            if (t->cmd_head || t->qlen || t->stopping)
                break;
            int64_t now = cx_mono_us();
            if (b && !pipe__batch_empty(b) && t->inflight == 0 &&
                (b->npos >= PIPE_GATHER_N || now >= gather_until))
                break; /* the writer is idle: hand the batch over now */
            int64_t wake = next_tick;
            if (b && deadline && deadline < wake)
                wake = deadline;
            if (b && t->inflight == 0 && gather_until > now && gather_until < wake)
                wake = gather_until;
            if (now >= wake)
                break;
            struct timespec ts;
            pipe__deadline(&ts, wake);
            pthread_cond_timedwait(&t->q_data, &t->qmu, &ts);
        }
        track_cmd *cmds = t->cmd_head;
        t->cmd_head = t->cmd_tail = NULL;
        size_t n = t->qlen < PIPE_TAKE ? t->qlen : PIPE_TAKE;
        for (size_t i = 0; i < n; i++)
            local[i] = t->ring[(t->qhead + i) % t->qcap];
        t->qhead = (t->qhead + n) % t->qcap;
        t->qlen -= n;
        bool more = t->qlen > 0, stopping = t->stopping;
        int inflight = t->inflight;
        if (n)
            pthread_cond_broadcast(&t->q_space);
        pthread_mutex_unlock(&t->qmu);

        while (cmds) {
            track_cmd *next = cmds->next;
            track__apply(t, cmds);
            track__cmd_free(cmds);
            cmds = next;
        }
        for (size_t i = 0; i < n; i++) {
            if (!b && !(b = pipe__batch_get(t))) {
                /* Out of memory: drop the message rather than stall every source. */
                cx_log(CX_LOG_ERROR, "track: out of memory, a message was dropped");
                if (local[i].w)
                    pipe__waiter_release(t, local[i].w, 1, true);
                if (local[i].dead) {
                    free(local[i].dead->payload);
                    free(local[i].dead);
                }
                continue;
            }
            if (!deadline) {
                int64_t t0 = cx_mono_us();
                deadline = t0 + PIPE_FLUSH_US;
                /* a lone message on a quiet stream goes at once */
                gather_until = local[i].mqtt_seq ? t0 + PIPE_GATHER_US : t0;
            }
            pipe__entry(t, b, &local[i]);
            if (b->npos >= PIPE_BATCH_MAX) {
                pipe__submit(t, b, false);
                b = NULL;
                deadline = 0;
                inflight++;
            }
        }
        int64_t now = cx_mono_us();
        if (now >= next_tick) {
            if (!b)
                b = pipe__batch_get(t);
            if (b) {
                alert_ctx ac = {t, b};
                if (now >= wall_rules_from)
                    track_engine_tick(t->engine, cx_now_us(), pipe__on_alert, &ac);
                /* position-only state that is due, even when nothing arrives */
                track__engine_take_dirty(t->engine, false, pipe__dirty_dev, pipe__dirty_cons, b);
                if (!deadline && (b->nalerts || b->nstate || b->ncons))
                    deadline = now;
            }
            next_tick = now + PIPE_TICK_US;
        }
        bool full = b && (!pipe__batch_empty(b) || b->nstate || b->ncons);
        if (full && (stopping || now >= deadline ||
                     (inflight == 0 && !more &&
                      (b->npos >= PIPE_GATHER_N || now >= gather_until)))) {
            pipe__submit(t, b, stopping);
            b = NULL;
            deadline = 0;
        }
        if (stopping && !more && !n && !cmds) {
            if (!b)
                b = pipe__batch_get(t);
            if (b) {
                /* everything still dirty goes with the last batch */
                track__engine_take_dirty(t->engine, true, pipe__dirty_dev, pipe__dirty_cons, b);
                if (!pipe__batch_empty(b) || b->nstate || b->ncons)
                    pipe__submit(t, b, true);
                else
                    pipe__batch_put(t, b);
            }
            break;
        }
    }
    /* wait for the writer to finish every batch */
    pthread_mutex_lock(&t->bmu);
    while (t->batches_out > 0)
        pthread_cond_wait(&t->bcv, &t->bmu);
    pthread_mutex_unlock(&t->bmu);
    free(local);
    track__geos_release();
    return NULL;
}

/* ---- escalation: critical alerts raise their declarations' lane ------------------------------ */

typedef struct esc_item {
    struct esc_item *next;
    char alert[CX_ID_LEN + 1];
    char *reason_detail;
    char type[32];
    json_t *decls;
} esc_item;

static void pipe__esc_free(esc_item *it);

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
    pipe__fmt_time(time_ms, tm);
    snprintf(msg, sizeof msg, "tracking alert %s: %s on consignment %s at %s", alert_id,
             it->type, consignment, tm);
    it->reason_detail = strdup(msg);
    /* A copy for the escalation thread: the batch frees its own on the writer
     * thread, and a shared reference count is no happens-before for the free. */
    it->decls = json_deep_copy(decls);
    if (!it->decls) {
        pipe__esc_free(it); /* its row in track_escalations stays: retried at the next start */
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

static cx_err pipe__mark_escalated(store_conn *w, void *arg)
{
    sqlite3_stmt *st = store_stmt(w, "DELETE FROM track_escalations WHERE alert=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static void pipe__escalate_one(track_service *t, esc_item *it)
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
        store_write(t->store, pipe__mark_escalated, it->alert);
}

static void pipe__esc_free(esc_item *it)
{
    free(it->reason_detail);
    json_decref(it->decls);
    free(it);
}

/* Escalations that did not complete before a stop (still in track_escalations). */
static void pipe__esc_pending(track_service *t)
{
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT alert, type, consignment, time, declarations "
                                         "FROM track_escalations ORDER BY rowid LIMIT 10000")
                         : NULL;
    if (!st)
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
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

static void *pipe__esc_main(void *arg)
{
    track_service *t = arg;
    pipe__esc_pending(t);
    int64_t next_retention = cx_mono_us() + 300 * 1000000LL;
    pthread_mutex_lock(&t->emu);
    for (;;) {
        while (!t->esc_head && !t->esc_stop) {
            if (cx_mono_us() >= next_retention)
                break;
            struct timespec ts;
            pipe__deadline(&ts, next_retention);
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
                pipe__escalate_one(t, it);
            pipe__esc_free(it); /* on stop: escalated=0 stays, done at next start */
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

/* ---- ticker: SSE heartbeats and position pushes ------------------------------------------------ */

static void *pipe__ticker_main(void *arg)
{
    track_service *t = arg;
    int64_t next_hb = cx_mono_us() + t->cfg.heartbeat_s * 1000000;
    pthread_mutex_lock(&t->tmu);
    while (!t->ticker_stop) {
        struct timespec ts;
        pipe__deadline(&ts, cx_mono_us() + 250000);
        pthread_cond_timedwait(&t->tcv, &t->tmu, &ts);
        if (t->ticker_stop)
            break;
        pthread_mutex_unlock(&t->tmu);
        track__poshub_tick(t->positions);
        if (cx_mono_us() >= next_hb) {
            track__poshub_heartbeat(t->positions);
            next_hb = cx_mono_us() + t->cfg.heartbeat_s * 1000000;
        }
        pthread_mutex_lock(&t->tmu);
    }
    pthread_mutex_unlock(&t->tmu);
    return NULL;
}

/* ---- corridor cache --------------------------------------------------------------------------- */

typedef struct corridor_entry {
    struct corridor_entry *next;
    char *key;
    track_shape *shape;
    char *geojson;
} corridor_entry;

track_shape *track__corridor(track_service *t, const json_t *route, double width_m,
                             char **geojson, json_t *problems)
{
    char *rt = cx_json_dump(route, NULL);
    if (!rt)
        return NULL;
    size_t klen = strlen(rt) + 32;
    char *key = malloc(klen);
    if (!key) {
        free(rt);
        return NULL;
    }
    snprintf(key, klen, "%.17g|%s", width_m, rt);
    free(rt);
    pthread_mutex_lock(&t->cmu);
    for (corridor_entry *c = t->corridors; c; c = c->next)
        if (strcmp(c->key, key) == 0) {
            track_shape *s = track__shape_ref(c->shape);
            *geojson = strdup(c->geojson);
            pthread_mutex_unlock(&t->cmu);
            free(key);
            if (!*geojson) {
                track_shape_free(s);
                return NULL;
            }
            return s;
        }
    pthread_mutex_unlock(&t->cmu);
    /* Built outside the lock: long routes take a while. */
    track_shape *s = track_shape_corridor(route, width_m, "/route", problems);
    if (!s) {
        free(key);
        return NULL;
    }
    json_t *gj = track_shape_geojson(s);
    char *text = gj ? cx_json_dump(gj, NULL) : NULL;
    json_decref(gj);
    corridor_entry *c = calloc(1, sizeof *c);
    if (!text || !c || !(*geojson = strdup(text))) {
        free(text);
        free(c);
        free(key);
        track_shape_free(s);
        return NULL;
    }
    c->key = key;
    c->shape = track__shape_ref(s);
    c->geojson = text;
    pthread_mutex_lock(&t->cmu);
    c->next = t->corridors;
    t->corridors = c;
    pthread_mutex_unlock(&t->cmu);
    return s;
}

static void pipe__corridors_free(track_service *t)
{
    for (corridor_entry *c = t->corridors, *next; c; c = next) {
        next = c->next;
        free(c->key);
        free(c->geojson);
        track_shape_free(c->shape);
        free(c);
    }
    t->corridors = NULL;
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
    t->consinfo = calloc(1, sizeof(cons_infos));
    t->positions = track__poshub_new();
    pthread_mutex_init(&t->qmu, NULL);
    pipe__cond_init(&t->q_data);
    pipe__cond_init(&t->q_space);
    pthread_mutex_init(&t->bmu, NULL);
    pthread_cond_init(&t->bcv, NULL);
    pthread_mutex_init(&t->cmu, NULL);
    pthread_mutex_init(&t->emu, NULL);
    pipe__cond_init(&t->ecv);
    pthread_mutex_init(&t->tmu, NULL);
    pipe__cond_init(&t->tcv);
    pthread_mutex_init(&t->mmu, NULL);
    pthread_cond_init(&t->mcv, NULL);
    pthread_mutex_init(&t->imu, NULL);
    pipe__cond_init(&t->icv);
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
    cx_err e = track__load(t, err, errlen);
    if (e != CX_OK) {
        track_service_free(t);
        return e;
    }
    /* named, for top -H and perf */
    if (pthread_create(&t->engine_thread, NULL, pipe__engine_main, t) == 0) {
        t->engine_started = true;
        pthread_setname_np(t->engine_thread, "trk-engine");
    }
    if (t->engine_started && pthread_create(&t->esc_thread, NULL, pipe__esc_main, t) == 0) {
        t->esc_started = true;
        pthread_setname_np(t->esc_thread, "trk-escalate");
    }
    if (t->esc_started && pthread_create(&t->ticker, NULL, pipe__ticker_main, t) == 0) {
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
        pipe__batch_free(b);
    }
    while (t->esc_head) {
        esc_item *n = ((esc_item *)t->esc_head)->next;
        pipe__esc_free(t->esc_head);
        t->esc_head = n;
    }
    track_engine_free(t->engine);
    pipe__consinfo_free(t);
    pipe__corridors_free(t);
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

cx_err track_routes(track_service *t, http_server *srv)
{
    return track__routes(t, srv);
}
