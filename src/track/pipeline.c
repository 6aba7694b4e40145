/* The pipeline: one queue from every source into one engine thread, and
 * batches of positions, alerts, dead letters and rule state committed
 * through the store's group-committing writer.
 *
 * Decoding happens on the source's thread; the engine thread runs the rules
 * and builds rows (rows.c); the writer thread only binds and steps prepared
 * statements (track_store.c). What happens once a batch is durable is not
 * the pipeline's business: it calls each waiter's done (the HTTP replies),
 * t->committed (service.c: the positions feed, escalations) and t->acked
 * (mqtt.c: acknowledgements), so it never calls up into the API. Alerts are
 * streamed by the alert module after the same commit. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void track__deadline(struct timespec *ts, int64_t mono_us)
{
    ts->tv_sec = (time_t)(mono_us / 1000000);
    ts->tv_nsec = (long)(mono_us % 1000000) * 1000;
}

void track__cond_init(pthread_cond_t *cv)
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
            track__deadline(&ts, until);
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

track_waiter *track__waiter_new(http_req *r, uint32_t n, const cx_principal *who, bool osmand,
                                void (*done)(track_waiter *w))
{
    track_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->done = done;
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

void track__waiter_free(track_waiter *w)
{
    if (!w)
        return;
    free(w->outcome);
    free(w->code);
    free(w->message);
    free(w);
}

static void pipe__waiter_release(track_service *t, track_waiter *w, int64_t n, bool failed)
{
    if (failed)
        atomic_store(&w->failed, true);
    (void)t;
    if (atomic_fetch_sub(&w->pending, n) == n)
        w->done(w); /* answers and frees */
}

/* ---- batches ------------------------------------------------------------------------------ */

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

void track__batch_free(track_batch *b)
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

void track__batch_waiter(track_batch *b, track_waiter *w)
{
    if (b->nwaiters && b->waiters[b->nwaiters - 1].w == w) {
        b->waiters[b->nwaiters - 1].n++;
        return;
    }
    if (!cx_grow((void **)&b->waiters, &b->capwaiters, b->nwaiters + 1, sizeof *b->waiters))
        abort(); /* a waiter left behind would never be answered */
    b->waiters[b->nwaiters].w = w;
    b->waiters[b->nwaiters].n = 1;
    b->nwaiters++;
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
        atomic_fetch_add(&t->m_positions, b->npos);
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
    /* what the rest of the service does with a durable batch (service.c:
     * the positions feed, escalations, the journal) and the MQTT
     * acknowledgements (mqtt.c); the pipeline knows neither */
    if (t->committed)
        t->committed(t, b, ok);
    if (b->mqtt_max && t->acked)
        t->acked(t, b->mqtt_max, ok);
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
    track__engine_take_dirty(t->engine, all, track__dirty_dev, track__dirty_cons, b);
    pthread_mutex_lock(&t->qmu);
    t->inflight++;
    pthread_mutex_unlock(&t->qmu);
    b->job.fn = track__batch_write;
    b->job.done = pipe__batch_done;
    b->job.arg = b;
    if (store_submit(t->store, &b->job) != CX_OK)
        pipe__batch_done(b, CX_ESHUTDOWN);
}

/* Batching: a batch goes to the writer as soon as the writer is idle (low
 * latency when quiet), and otherwise gathers messages while the previous
 * commit runs (big batches, one fsync each, under load); it never waits
 * more than PIPE_FLUSH_US or grows past PIPE_BATCH_MAX. */
void *track__engine_main(void *arg)
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
            track__deadline(&ts, wake);
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
            track__entry(t, b, &local[i]);
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
                track_alert_ctx ac = {t, b};
                if (now >= wall_rules_from)
                    track_engine_tick(t->engine, cx_now_us(), track__on_alert, &ac);
                /* position-only state that is due, even when nothing arrives */
                track__engine_take_dirty(t->engine, false, track__dirty_dev, track__dirty_cons, b);
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
                track__engine_take_dirty(t->engine, true, track__dirty_dev, track__dirty_cons, b);
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

