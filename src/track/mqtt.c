/* MQTT ingestion with libmosquitto: customs/telemetry/+ at QoS 1 on a
 * persistent session (MQTT v5, session never expires), reconnect with
 * exponential backoff, and acknowledgement after durability.
 *
 * libmosquitto queues a PUBACK as it hands a message to us; we run its
 * network loop ourselves (mosquitto_loop_read/_write on our own thread) and
 * let the queued PUBACKs reach the socket only once every message read so
 * far has been committed by the writer. Reading pauses briefly (at most
 * MQ_ACK_DELAY_US of unacknowledged reading) so acknowledgements flow; the
 * broker keeps up to MQ_RECEIVE_MAX messages in flight meanwhile. If a batch
 * fails to commit, the connection is dropped without acknowledging, and the
 * broker redelivers; redelivered messages that were stored after all are
 * duplicates (same device and time) and change nothing. */
#include "track_int.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MQ_RECEIVE_MAX 65535
#define MQ_MAX_UNACKED 30000     /* read but not acknowledged, before we pause reading */
#define MQ_ACK_DELAY_US 100000   /* longest stretch of reading before acknowledging */
#define MQ_BURST 8192            /* packets per read burst */
#define MQ_PEND 4096             /* entries gathered before handing them to the engine */
#define MQ_MAX_PAYLOAD 65536
#define MQ_MAX_FOREIGN 256        /* other modules' messages waiting for their commit */
#define MQ_MAX_ARRAY 1000
#define MQ_BACKOFF_MIN_MS 500
#define MQ_BACKOFF_MAX_MS 30000
#define MQ_KEEPALIVE 30

struct track_mqtt {
    track_service *t;
    struct mosquitto *mosq;
    char host[256];
    int port;
    char user[128], pass[256];
    char client_id[128];
    char topic[128];
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    _Atomic bool connected;
    bool sock;               /* a TCP connection exists (maybe before CONNACK) */
    uint64_t read_seq;       /* messages read from the broker (MQTT thread) */
    uint64_t enqueued_seq;   /* ...and handed to the engine */
    track_entry *pend;
    size_t npend;
    int64_t backoff_ms;
    _Atomic uint64_t m_received, m_connects, m_losses, m_dropped_unacked;
};

static pthread_once_t mq_once = PTHREAD_ONCE_INIT;

static void mq__lib_init(void)
{
    mosquitto_lib_init();
}

/* ---- payloads ---------------------------------------------------------------------- */

static void mq__dead(track_entry *e, const char *code, const char *msg, const char *device,
                     const char *payload, size_t len)
{
    track__dead_entry(e, TRACK_SRC_MQTT, code, msg,
                      device && track_id_valid(device) ? device : NULL, payload, len);
}

static size_t mq__one(const char *topic_device, const json_t *item, const char *ptr,
                      int64_t now_ms, int64_t skew_ms, track_entry *e, const char *raw,
                      size_t rawlen)
{
    track_reject why;
    memset(e, 0, sizeof *e);
    if (track_decode_object(item, now_ms, skew_ms, ptr, &e->m, &why) != CX_OK) {
        char *text = raw ? NULL : cx_json_dump(item, NULL);
        const char *dev = json_string_value(json_object_get(item, "device"));
        mq__dead(e, why.code, why.message, dev ? dev : topic_device, raw ? raw : text,
                 raw ? rawlen : (text ? strlen(text) : 0));
        free(text);
        return 1;
    }
    if (topic_device && topic_device[0] && strcmp(topic_device, e->m.device) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s/device: %s, but the topic names %s", ptr, e->m.device,
                 topic_device);
        char *text = raw ? NULL : cx_json_dump(item, NULL);
        mq__dead(e, "topic_mismatch", msg, e->m.device, raw ? raw : text,
                 raw ? rawlen : (text ? strlen(text) : 0));
        free(text);
        return 1;
    }
    e->kind = TRACK_ENT_MSG;
    e->source = TRACK_SRC_MQTT;
    return 1;
}

size_t track__decode_payload(const char *topic_device, const char *payload, size_t len,
                             int64_t now_ms, int64_t skew_ms, track_entry *out, size_t max)
{
    if (max == 0)
        return 0;
    if (len > MQ_MAX_PAYLOAD) {
        mq__dead(&out[0], "too_large", "the payload is over 64 KiB", topic_device, payload, len);
        return 1;
    }
    size_t lead = 0;
    while (lead < len && (payload[lead] == ' ' || payload[lead] == '\t' ||
                          payload[lead] == '\n' || payload[lead] == '\r'))
        lead++;
    if (lead < len && payload[lead] == '{') {
        /* one report: the fast decoder, no JSON tree */
        track_entry *e = &out[0];
        track_reject why;
        memset(e, 0, sizeof *e);
        char dev[TRACK_ID_MAX + 1];
        if (track__decode_text(payload, len, now_ms, skew_ms, "", &e->m, &why) != CX_OK) {
            snprintf(dev, sizeof dev, "%s", e->m.device[0] ? e->m.device : topic_device);
            mq__dead(e, why.code, why.message, dev, payload, len);
        } else if (topic_device && topic_device[0] && strcmp(topic_device, e->m.device) != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "/device: %s, but the topic names %s", e->m.device,
                     topic_device);
            snprintf(dev, sizeof dev, "%s", e->m.device);
            mq__dead(e, "topic_mismatch", msg, dev, payload, len);
        } else {
            e->kind = TRACK_ENT_MSG;
            e->source = TRACK_SRC_MQTT;
        }
        return 1;
    }
    json_error_t je;
    json_t *j = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        char msg[200];
        snprintf(msg, sizeof msg, "not valid JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        mq__dead(&out[0], "malformed_json", msg, topic_device, payload, len);
        return 1;
    }
    size_t n = 0;
    if (json_is_array(j)) {
        size_t cnt = json_array_size(j);
        if (cnt == 0 || cnt > MQ_MAX_ARRAY || cnt > max) {
            mq__dead(&out[0], cnt ? "too_large" : "not_object",
                     cnt ? "a batch holds at most 1000 messages" : "an empty array",
                     topic_device, payload, len);
            n = 1;
        } else {
            for (size_t i = 0; i < cnt; i++) {
                char ptr[24];
                snprintf(ptr, sizeof ptr, "/%zu", i);
                n += mq__one(topic_device, json_array_get(j, i), ptr, now_ms, skew_ms, &out[n],
                             NULL, 0);
            }
        }
    } else {
        n = mq__one(topic_device, j, "", now_ms, skew_ms, &out[0], payload, len);
    }
    json_decref(j);
    return n;
}

/* ---- callbacks (MQTT thread) --------------------------------------------------------- */

/* Nothing another module took is still waiting for its commit. */
static bool mq__foreign_idle(track_service *t)
{
    return atomic_load(&t->mqtt_foreign_pending) == 0;
}

/* Another module's topic: handed over, acknowledged with the rest once it
 * is stored (track_mqtt_done). */
static bool mq__foreign(track_mqtt *m, const struct mosquitto_message *msg)
{
    track_service *t = m->t;
    for (size_t i = 0; msg->topic && i < t->mqtt_nsubs; i++) {
        size_t n = strlen(t->mqtt_subs[i].prefix);
        if (strncmp(msg->topic, t->mqtt_subs[i].prefix, n) != 0 || strchr(msg->topic + n, '/'))
            continue;
        atomic_fetch_add(&t->mqtt_foreign_pending, 1);
        t->mqtt_subs[i].fn(t->mqtt_subs[i].ctx, msg->topic + n,
                           msg->payload ? msg->payload : "",
                           msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
                           (track_mqtt_ticket *)t);
        return true;
    }
    return false;
}

void track_mqtt_done(track_mqtt_ticket *ticket, bool stored)
{
    track_service *t = (track_service *)ticket;
    pthread_mutex_lock(&t->mmu);
    if (!stored)
        atomic_store(&t->mqtt_commit_failed, true);
    atomic_fetch_sub(&t->mqtt_foreign_pending, 1);
    pthread_cond_broadcast(&t->mcv);
    pthread_mutex_unlock(&t->mmu);
}

cx_err track_mqtt_subscribe(track_service *t, const char *prefix, track_mqtt_fn fn, void *ctx)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (t->mqtt || !fn || n < 2 || n >= sizeof t->mqtt_subs[0].prefix || prefix[n - 1] != '/' ||
        strpbrk(prefix, "+#"))
        return CX_EINVAL;
    if (t->mqtt_nsubs == TRACK_MQTT_SUBS)
        return CX_ETOOBIG;
    snprintf(t->mqtt_subs[t->mqtt_nsubs].prefix, sizeof t->mqtt_subs[0].prefix, "%s", prefix);
    t->mqtt_subs[t->mqtt_nsubs].fn = fn;
    t->mqtt_subs[t->mqtt_nsubs].ctx = ctx;
    t->mqtt_nsubs++;
    return CX_OK;
}

static void mq__flush(track_mqtt *m)
{
    if (!m->npend)
        return;
    uint64_t last = m->pend[m->npend - 1].mqtt_seq;
    size_t taken = 0;
    cx_err e = track__enqueue(m->t, m->pend, m->npend, -1, &taken);
    if (e == CX_OK) {
        m->enqueued_seq = last;
    } else {
        /* stopping: what was not taken is redelivered later (no PUBACK) */
        for (size_t i = taken; i < m->npend; i++)
            if (m->pend[i].dead) {
                free(m->pend[i].dead->payload);
                free(m->pend[i].dead);
            }
    }
    m->npend = 0;
}

static void mq__on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
                           const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    track_mqtt *m = obj;
    atomic_fetch_add(&m->m_received, 1);
    if (mq__foreign(m, msg))
        return;
    uint64_t seq = ++m->read_seq;
    if (m->npend + MQ_MAX_ARRAY > MQ_PEND)
        mq__flush(m);
    const char *slash = msg->topic ? strrchr(msg->topic, '/') : NULL;
    const char *dev = slash ? slash + 1 : "";
    int64_t now = cx_now_us();
    size_t n = track__decode_payload(dev, msg->payload ? msg->payload : "",
                                     msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, now / 1000,
                                     m->t->cfg.future_skew_s * 1000, &m->pend[m->npend],
                                     MQ_PEND - m->npend);
    for (size_t i = 0; i < n; i++) {
        track_entry *e = &m->pend[m->npend + i];
        e->mqtt_seq = seq;
        e->recv_us = now;
        e->source = TRACK_SRC_MQTT;
    }
    m->npend += n;
}

static void mq__on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                           const mosquitto_property *props)
{
    (void)props;
    track_mqtt *m = obj;
    if (rc != 0) {
        cx_log(CX_LOG_WARN, "mqtt: %s:%d refused the connection: %s", m->host, m->port,
               mosquitto_reason_string(rc));
        return;
    }
    atomic_store(&m->connected, true);
    atomic_fetch_add(&m->m_connects, 1);
    m->backoff_ms = MQ_BACKOFF_MIN_MS;
    cx_log(CX_LOG_INFO, "mqtt: connected to %s:%d as %s (session %s), subscribing to %s",
           m->host, m->port, m->client_id, (flags & 1) ? "resumed" : "new", m->topic);
    int r = mosquitto_subscribe_v5(mosq, NULL, m->topic, 1, 0, NULL);
    if (r != MOSQ_ERR_SUCCESS)
        cx_log(CX_LOG_ERROR, "mqtt: cannot subscribe to %s: %s", m->topic, mosquitto_strerror(r));
    for (size_t i = 0; i < m->t->mqtt_nsubs; i++) {
        char topic[80];
        snprintf(topic, sizeof topic, "%s+", m->t->mqtt_subs[i].prefix);
        if ((r = mosquitto_subscribe_v5(mosq, NULL, topic, 1, 0, NULL)) != MOSQ_ERR_SUCCESS)
            cx_log(CX_LOG_ERROR, "mqtt: cannot subscribe to %s: %s", topic,
                   mosquitto_strerror(r));
    }
}

static void mq__on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *qos,
                             const mosquitto_property *props)
{
    (void)mosq;
    (void)mid;
    (void)props;
    track_mqtt *m = obj;
    for (int i = 0; i < n; i++)
        if (qos[i] != 1)
            cx_log(CX_LOG_WARN, "mqtt: the broker granted QoS %d on %s (asked for 1)", qos[i],
                   m->topic);
}

/* ---- the thread ------------------------------------------------------------------------ */

static void mq__sleep(track_mqtt *m, int64_t ms)
{
    track_service *t = m->t;
    int64_t until = cx_mono_us() + ms * 1000;
    pthread_mutex_lock(&t->mmu);
    while (!atomic_load(&m->stop) && cx_mono_us() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t step = until - cx_mono_us();
        if (step > 100000)
            step = 100000;
        ts.tv_nsec += (long)(step % 1000000) * 1000;
        ts.tv_sec += (time_t)(step / 1000000) + ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&t->mcv, &t->mmu, &ts);
    }
    pthread_mutex_unlock(&t->mmu);
}

/* Waits up to us for the writer to make messages up to seq durable. */
static bool mq__wait_committed(track_mqtt *m, uint64_t seq, int64_t us)
{
    track_service *t = m->t;
    int64_t until = cx_mono_us() + us;
    pthread_mutex_lock(&t->mmu);
    while ((atomic_load(&t->mqtt_committed) < seq || !mq__foreign_idle(t)) &&
           !atomic_load(&t->mqtt_commit_failed) && cx_mono_us() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 2000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&t->mcv, &t->mmu, &ts);
    }
    bool ok = atomic_load(&t->mqtt_committed) >= seq && mq__foreign_idle(t);
    pthread_mutex_unlock(&t->mmu);
    return ok;
}

void track__mqtt_committed(track_service *t, uint64_t seq, bool ok)
{
    pthread_mutex_lock(&t->mmu);
    if (!ok)
        atomic_store(&t->mqtt_commit_failed, true);
    else if (!atomic_load(&t->mqtt_commit_failed) && seq > atomic_load(&t->mqtt_committed))
        atomic_store(&t->mqtt_committed, seq); /* done callbacks come in commit order */
    pthread_cond_broadcast(&t->mcv);
    pthread_mutex_unlock(&t->mmu);
}

static void mq__lost(track_mqtt *m, int rc)
{
    if (atomic_exchange(&m->connected, false) || m->sock)
        cx_log(CX_LOG_WARN, "mqtt: connection to %s:%d lost (%s), reconnecting", m->host, m->port,
               rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    atomic_fetch_add(&m->m_losses, 1);
    m->sock = false;
    mq__flush(m);
}

/* Writes what libmosquitto has queued (PUBACKs, PINGREQ); false if lost. */
static bool mq__write_all(track_mqtt *m)
{
    int fd = mosquitto_socket(m->mosq);
    for (int i = 0; i < 1000 && mosquitto_want_write(m->mosq); i++) {
        int rc = mosquitto_loop_write(m->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            mq__lost(m, rc);
            return false;
        }
        if (mosquitto_want_write(m->mosq)) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 100);
        }
    }
    return true;
}

/* One connection's life: read, hand to the engine, acknowledge when durable. */
static void mq__serve(track_mqtt *m)
{
    track_service *t = m->t;
    int fd = mosquitto_socket(m->mosq);
    int64_t last_misc = cx_mono_us(), unacked_since = 0;
    while (!atomic_load(&m->stop)) {
        if (cx_mono_us() - last_misc > 1000000) {
            int rc = mosquitto_loop_misc(m->mosq); /* keepalive */
            if (rc != MOSQ_ERR_SUCCESS) {
                mq__lost(m, rc);
                return;
            }
            last_misc = cx_mono_us();
        }
        uint64_t committed = atomic_load(&t->mqtt_committed);
        if (atomic_load(&t->mqtt_commit_failed)) {
            /* A batch was not stored: drop the connection with its PUBACKs
             * unsent so that the broker redelivers. */
            cx_log(CX_LOG_WARN, "mqtt: dropping the connection so that the broker redelivers "
                                "messages that were not stored");
            atomic_fetch_add(&m->m_dropped_unacked, 1);
            shutdown(fd, SHUT_RDWR);
            pthread_mutex_lock(&t->mmu);
            atomic_store(&t->mqtt_commit_failed, false);
            atomic_store(&t->mqtt_committed, m->read_seq);
            pthread_mutex_unlock(&t->mmu);
            mq__lost(m, MOSQ_ERR_CONN_LOST);
            return;
        }
        bool durable = committed >= m->read_seq && mq__foreign_idle(t);
        int64_t now = cx_mono_us();
        if (durable) {
            unacked_since = 0;
            if (mosquitto_want_write(m->mosq) && !mq__write_all(m))
                return;
        } else if (unacked_since && (now - unacked_since > MQ_ACK_DELAY_US ||
                                     m->read_seq - committed > MQ_MAX_UNACKED)) {
            mq__flush(m);
            mq__wait_committed(m, m->read_seq, 5000);
            continue;
        } else if (atomic_load(&t->mqtt_foreign_pending) > MQ_MAX_FOREIGN) {
            mq__wait_committed(m, m->read_seq, 5000); /* other modules' writes catch up */
            continue;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, durable ? 100 : 2);
        if (n > 0) {
            /* read packets until the socket is drained: libmosquitto reports
             * a read that would block through errno, as its own loop does */
            for (int k = 0; k < MQ_BURST; k++) {
                errno = 0;
                int rc = mosquitto_loop_read(m->mosq, 1);
                if (rc != MOSQ_ERR_SUCCESS) {
                    mq__lost(m, rc);
                    return;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
            }
            mq__flush(m);
            if (!unacked_since && m->read_seq > atomic_load(&t->mqtt_committed))
                unacked_since = cx_mono_us();
        }
    }
}

static void *mq__main(void *arg)
{
    track_mqtt *m = arg;
    mosquitto_property *props = NULL;
    /* MQTT v5: the session outlives the connection (and our restarts). */
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 0xFFFFFFFFu);
    bool warned = false;
    while (!atomic_load(&m->stop)) {
        if (!m->sock) {
            int rc = mosquitto_connect_bind_v5(m->mosq, m->host, m->port, MQ_KEEPALIVE, NULL,
                                               props);
            if (rc != MOSQ_ERR_SUCCESS) {
                if (!warned)
                    cx_log(CX_LOG_WARN, "mqtt: cannot connect to %s:%d: %s; retrying with "
                           "backoff", m->host, m->port,
                           rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                warned = true;
                /* jitter so a fleet of servers does not reconnect in step */
                int64_t wait = m->backoff_ms / 2 + (int64_t)(cx_mono_us() % (m->backoff_ms / 2 + 1));
                mq__sleep(m, wait);
                m->backoff_ms = m->backoff_ms * 2 > MQ_BACKOFF_MAX_MS ? MQ_BACKOFF_MAX_MS
                                                                      : m->backoff_ms * 2;
                continue;
            }
            warned = false;
            m->sock = true;
        }
        mq__serve(m);
        if (!m->sock && !atomic_load(&m->stop))
            mq__sleep(m, 200);
    }
    /* Stopping: what was read goes to the engine, which is being drained;
     * acknowledge only if all of it became durable. A message read after the
     * engine stopped taking input is never committed, so waiting for it would
     * only hold the shutdown up: leave it, and what came with it, to the
     * broker's redelivery. */
    mq__flush(m);
    if (m->sock) {
        if (m->enqueued_seq == m->read_seq && mq__wait_committed(m, m->read_seq, 15000000)) {
            if (mq__write_all(m)) {
                mosquitto_disconnect(m->mosq);
                mq__write_all(m);
            }
        } else {
            cx_log(CX_LOG_WARN, "mqtt: closing without acknowledging %llu messages; the broker "
                   "will redeliver them", (unsigned long long)(m->read_seq -
                                                              atomic_load(&m->t->mqtt_committed)));
        }
    }
    mosquitto_property_free_all(&props);
    return NULL;
}

/* ---- setup --------------------------------------------------------------------------------- */

static bool mq__parse_url(track_mqtt *m, const char *url, char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "mqtt://", 7) == 0)
        p += 7;
    else if (strncmp(p, "tcp://", 6) == 0)
        p += 6;
    else {
        snprintf(err, errlen, "--mqtt %s: expected mqtt://[user[:password]@]host[:port]", url);
        return false;
    }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (ul >= sizeof m->user) {
            snprintf(err, errlen, "--mqtt: the user name is too long");
            return false;
        }
        memcpy(m->user, p, ul);
        m->user[ul] = '\0';
        if (colon) {
            size_t pl = (size_t)(at - colon - 1);
            if (pl >= sizeof m->pass) {
                snprintf(err, errlen, "--mqtt: the password is too long");
                return false;
            }
            memcpy(m->pass, colon + 1, pl);
            m->pass[pl] = '\0';
        }
        p = at + 1;
    }
    m->port = 1883;
    const char *hs = p, *he;
    if (*p == '[') {
        hs = p + 1;
        he = strchr(hs, ']');
        if (!he) {
            snprintf(err, errlen, "--mqtt %s: unclosed [", url);
            return false;
        }
        p = he + 1;
    } else {
        he = strchr(p, ':');
        if (!he)
            he = p + strcspn(p, "/");
        p = he;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof m->host) {
        snprintf(err, errlen, "--mqtt %s: no host", url);
        return false;
    }
    memcpy(m->host, hs, hl);
    m->host[hl] = '\0';
    if (*p == ':') {
        char ps[16];
        size_t pl = strcspn(p + 1, "/");
        int64_t port;
        if (pl == 0 || pl >= sizeof ps) {
            snprintf(err, errlen, "--mqtt %s: bad port", url);
            return false;
        }
        memcpy(ps, p + 1, pl);
        ps[pl] = '\0';
        if (!cx_parse_i64(ps, &port) || port < 1 || port > 65535) {
            snprintf(err, errlen, "--mqtt %s: the port must be 1 to 65535", url);
            return false;
        }
        m->port = (int)port;
        p += 1 + pl;
    }
    if (*p && strcmp(p, "/") != 0) {
        snprintf(err, errlen, "--mqtt %s: unexpected path %s", url, p);
        return false;
    }
    return true;
}

cx_err track_mqtt_start(track_service *t, const char *url, const char *client_id, char *err,
                        size_t errlen)
{
    if (t->mqtt) {
        snprintf(err, errlen, "MQTT is already started");
        return CX_ESTATE;
    }
    pthread_once(&mq_once, mq__lib_init);
    track_mqtt *m = calloc(1, sizeof *m);
    if (!m)
        return CX_ENOMEM;
    m->t = t;
    m->backoff_ms = MQ_BACKOFF_MIN_MS;
    snprintf(m->topic, sizeof m->topic, "customs/telemetry/+");
    snprintf(m->client_id, sizeof m->client_id, "%s", client_id ? client_id : "customs-serve");
    if (!mq__parse_url(m, url, err, errlen)) {
        free(m);
        return CX_EINVAL;
    }
    m->pend = calloc(MQ_PEND, sizeof *m->pend);
    m->mosq = m->pend ? mosquitto_new(m->client_id, false, m) : NULL;
    if (!m->mosq) {
        snprintf(err, errlen, "cannot create the MQTT client (client id %s)", m->client_id);
        free(m->pend);
        free(m);
        return CX_ENOMEM;
    }
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, MQ_RECEIVE_MAX);
    mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_threaded_set(m->mosq, true);
    if (m->user[0])
        mosquitto_username_pw_set(m->mosq, m->user, m->pass[0] ? m->pass : NULL);
    mosquitto_connect_v5_callback_set(m->mosq, mq__on_connect);
    mosquitto_message_v5_callback_set(m->mosq, mq__on_message);
    mosquitto_subscribe_v5_callback_set(m->mosq, mq__on_subscribe);
    t->mqtt = m;
    if (pthread_create(&m->thread, NULL, mq__main, m) == 0)
        pthread_setname_np(m->thread, "trk-mqtt"); /* top -H, perf */
    else {
        t->mqtt = NULL;
        mosquitto_destroy(m->mosq);
        free(m->pend);
        free(m);
        snprintf(err, errlen, "cannot start the MQTT thread");
        return CX_EUNAVAIL;
    }
    m->started = true;
    return CX_OK;
}

void track__mqtt_stop(track_mqtt *m)
{
    if (!m)
        return;
    atomic_store(&m->stop, true);
    pthread_mutex_lock(&m->t->mmu);
    pthread_cond_broadcast(&m->t->mcv);
    pthread_mutex_unlock(&m->t->mmu);
}

void track__mqtt_free(track_mqtt *m)
{
    if (!m)
        return;
    track__mqtt_stop(m);
    if (m->started)
        pthread_join(m->thread, NULL);
    mosquitto_destroy(m->mosq);
    for (size_t i = 0; i < m->npend; i++)
        if (m->pend[i].dead) {
            free(m->pend[i].dead->payload);
            free(m->pend[i].dead);
        }
    free(m->pend);
    free(m);
}

void track__mqtt_metrics(track_mqtt *m, cx_buf *out)
{
    if (cx_buf_printf(out,
                  "# HELP customs_track_mqtt_connected 1 while subscribed to the broker.\n"
                  "# TYPE customs_track_mqtt_connected gauge\n"
                  "customs_track_mqtt_connected %d\n"
                  "# HELP customs_track_mqtt_connects_total Successful connections (CONNACK).\n"
                  "# TYPE customs_track_mqtt_connects_total counter\n"
                  "customs_track_mqtt_connects_total %llu\n"
                  "# HELP customs_track_mqtt_connection_losses_total Connections lost.\n"
                  "# TYPE customs_track_mqtt_connection_losses_total counter\n"
                  "customs_track_mqtt_connection_losses_total %llu\n"
                  "# HELP customs_track_mqtt_received_total PUBLISH packets received.\n"
                  "# TYPE customs_track_mqtt_received_total counter\n"
                  "customs_track_mqtt_received_total %llu\n",
                  atomic_load(&m->connected) ? 1 : 0,
                  (unsigned long long)atomic_load(&m->m_connects),
                  (unsigned long long)atomic_load(&m->m_losses),
                  (unsigned long long)atomic_load(&m->m_received)) != CX_OK)
        return; /* the failed buffer answers for itself */
}
