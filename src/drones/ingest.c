/* Ingestion of receiver observations — the JSON of POST
 * /v1/drones/observations and of MQTT customs/remoteid/<rx>:
 * each observation validated and decoded outside the engine's lock, then
 * run through the engine in order under it, the batch handed to the writer
 * in that same order, and the caller told once it is durable. */
#include "drones_svc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    dbatch b;
    drones_service *d;
    drones_ingest_fn done;
    void *ctx;
    size_t accepted;
    char *rejected; /* JSON text: threads hand each other text */
    char receiver[65];
} ing_job;

static void ing__free(ing_job *j)
{
    drones__batch_free(&j->b);
    free(j->rejected);
    free(j);
}

/* Every new position of the batch to the stream (which thins them), with
 * what else the drone's snapshot knows (name, pilot). */
static void ing__publish(drones_hub *hub, dbatch *b)
{
    for (size_t i = 0; i < b->npos; i++) {
        const dpos_row *p = &b->pos[i];
        uintptr_t at = (uintptr_t)drones__map_get(&b->drone_at, &p->drone, sizeof p->drone);
        if (!p->f.applied || !at || !b->drones[at - 1].key)
            continue;
        drones_state s = b->drones[at - 1];
        s.pos_time_us = p->f.time_us;
        s.lat = p->f.lat, s.lon = p->f.lon, s.alt_geo_m = p->f.alt_geo_m;
        s.height_m = p->f.height_m, s.speed_h_mps = p->f.speed_h_mps;
        s.direction_deg = p->f.direction_deg;
        drones__hub_position(hub, &s, p->f.time_us);
    }
}

static void ing__done(void *arg, cx_err result)
{
    ing_job *j = arg;
    if (result == CX_OK) {
        if (j->b.nmerges)
            drones__fold_kick(j->d);
        drones__deliver_alerts(j->d, &j->b);
        ing__publish(j->d->hub, &j->b);
    }
    j->done(j->ctx, result, result == CX_OK ? j->accepted : 0, j->rejected);
    ing__free(j);
}

/* A checked observation: its payload is decoded again under the lock
 * (cheap), so a batch costs a few hundred bytes an observation. */
typedef struct {
    drones_obs_in in;
    bool ok;
} obs_in;

/* The batch's receiver: registered, the one the caller names (a topic),
 * bound to the device key when there is one. */
static cx_err ing__receiver(drones_service *d, const char *rx, const char *want,
                            int64_t device_key, json_t *problems)
{
    if (want && strcmp(want, rx) != 0) {
        cx_problem_add(problems, "/receiver", "must be %s, the receiver of the topic", want);
        return CX_EINVAL;
    }
    sqlite3_stmt *st = store_stmt(store_reader(d->store),
                                  "SELECT key_id FROM drones_receivers WHERE id = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, rx, -1, SQLITE_TRANSIENT);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    int64_t key_id = found ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (!found) {
        cx_problem_add(problems, "/receiver", "unknown receiver; register it with POST "
                                              "/v1/drones/receivers");
        return CX_EINVAL;
    }
    return device_key && key_id != device_key ? CX_EFORBIDDEN : CX_OK;
}

cx_err drones_service_ingest(drones_service *d, const json_t *doc, const char *receiver,
                             int64_t device_key, json_t *problems, drones_ingest_fn done,
                             void *ctx)
{
    const char *rx = drones_batch_check(doc, problems);
    if (!rx)
        return CX_EINVAL;
    json_t *arr = json_object_get(doc, "observations");
    cx_err err = ing__receiver(d, rx, receiver, device_key, problems);
    if (err)
        return err;
    size_t nin = json_array_size(arr), i;
    ing_job *j = calloc(1, sizeof *j);
    obs_in *in = calloc(nin, sizeof *in);
    json_t *rejected = json_array();
    if (!j || !in || !rejected) {
        free(j);
        free(in);
        json_decref(rejected);
        return CX_ENOMEM;
    }
    drones__batch_init(&j->b);
    j->b.door = d->alerts;
    snprintf(j->receiver, sizeof j->receiver, "%s", rx);
    j->b.receiver = j->receiver;
    j->d = d;
    j->done = done;
    j->ctx = ctx;
    int64_t now = cx_now_us();
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        char why[240];
        obs_in *x = &in[i];
        drones_msg msgs[DRONES_PACK_MAX];
        size_t nmsgs;
        x->ok = drones_obs_check(o, now, &x->in, msgs, &nmsgs, why, sizeof why);
        if (!x->ok)
            json_array_append_new(rejected, json_pack("{s:I,s:s}", "index", (json_int_t)i,
                                                      "reason", why));
    }
    pthread_mutex_lock(&d->mu);
    drones__zones_apply(d); /* zones created since the last batch count from now on */
    for (i = 0; i < nin && !err; i++) {
        obs_in *x = &in[i];
        if (!x->ok)
            continue;
        drones_msg msgs[DRONES_PACK_MAX];
        bool pack;
        drones_obs ob = {.time_us = x->in.time_us, .transport = x->in.transport, .msgs = msgs};
        memcpy(ob.mac, x->in.mac, sizeof ob.mac);
        drones_payload_decode(x->in.payload, x->in.len, true, msgs, &ob.nmsgs, &pack, NULL, 0);
        err = drones__observe(d->engine, &j->b, &ob, x->in.rssi, x->in.have_rssi,
                              x->in.payload, x->in.len);
        j->accepted += !err;
    }
    for (size_t n = i; err && n < nin; n++) /* what an engine failure left undone */
        if (in[n].ok)
            json_array_append_new(rejected,
                                  json_pack("{s:I,s:s}", "index", (json_int_t)n, "reason",
                                            "not processed: the server ran out of memory"));
    if (err) /* the engine has run on part of the batch: that part is stored */
        cx_log(CX_LOG_ERROR, "drones: observation batch cut short: %s", cx_strerror(err));
    free(in);
    d->obs_total += j->accepted;
    d->rejected_total += json_array_size(rejected);
    j->rejected = cx_json_dump(rejected, NULL);
    json_decref(rejected);
    if (!j->accepted) {
        pthread_mutex_unlock(&d->mu);
        done(ctx, CX_OK, 0, j->rejected ? j->rejected : "[]");
        ing__free(j);
        return CX_OK;
    }
    j->b.job = (store_job){.fn = drones__batch_write, .done = ing__done, .arg = j};
    err = store_submit(d->store, &j->b.job);
    pthread_mutex_unlock(&d->mu);
    if (err) {
        ing__free(j);
        return CX_ESHUTDOWN;
    }
    return CX_OK;
}

/* ---- MQTT customs/remoteid/<receiver> ------------------------------------------------------ */

typedef struct {
    void (*ack)(void *ctx, bool stored);
    void *ctx;
    char receiver[65];
} msg_ack;

static void ing__msg_done(void *arg, cx_err result, size_t accepted, const char *rejected)
{
    msg_ack *a = arg;
    if (result == CX_OK && rejected && strcmp(rejected, "[]") != 0)
        cx_log(CX_LOG_WARN, "drones: MQTT batch of %s: %zu stored, refused %s", a->receiver,
               accepted, rejected);
    a->ack(a->ctx, result == CX_OK);
    free(a);
}

void drones_service_ingest_message(drones_service *d, const char *receiver, const char *payload,
                                   size_t len, void (*ack)(void *ctx, bool stored), void *ctx)
{
    json_error_t je;
    json_t *doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    json_t *problems = json_array();
    msg_ack *a = calloc(1, sizeof *a);
    cx_err e = !a || !problems ? CX_ENOMEM : doc ? CX_OK : CX_EPARSE;
    if (e == CX_OK) {
        *a = (msg_ack){ack, ctx, ""};
        snprintf(a->receiver, sizeof a->receiver, "%s", receiver);
        e = drones_service_ingest(d, doc, receiver, 0, problems, ing__msg_done, a);
    }
    if (e == CX_EPARSE) {
        cx_log(CX_LOG_WARN, "drones: MQTT message of receiver %.64s is not JSON: %s", receiver,
               je.text);
    } else if (e == CX_EINVAL || e == CX_EFORBIDDEN) {
        char *why = cx_json_dump(problems, NULL);
        cx_log(CX_LOG_WARN, "drones: MQTT batch of receiver %.64s refused: %s", receiver,
               why ? why : "");
        free(why);
    }
    if (e != CX_OK) {
        free(a);
        ack(ctx, e == CX_EPARSE || e == CX_EINVAL || e == CX_EFORBIDDEN);
    }
    json_decref(doc);
    json_decref(problems);
}
