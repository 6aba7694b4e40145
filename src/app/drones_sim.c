/* customs drones simulate: flights encoded as real Remote ID broadcasts.
 *
 * Each drone broadcasts once a second a Wi-Fi Beacon (radiotap + 802.11 +
 * the ASD-STAN vendor IE, counter, Message Pack of Basic ID, Location,
 * System and Operator ID, a Self-ID now and then), written to a pcap file
 * through libpcap, or POSTed as observations to a server. The built-in
 * flights fly over data/drones/zones.geojson: a legal survey, a smuggling
 * run (crosses the border low, hovers to drop, returns), and a spoofed
 * track. Deterministic for a seed. The simulator lives with the command
 * line, not in the library. */
#include "app.h"
#include "app_drones.h"

#include <curl/curl.h>
#include <mosquitto.h>
#include <pthread.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIM_MAX_WP 64
#define SIM_MAX_FLIGHTS 64
#define EARTH_R 6371008.8
#define DEG (M_PI / 180.0)

typedef struct {
    double lat, lon, height_m, speed_mps, hover_s;
} sim_wp;

typedef struct {
    char uas_id[21], operator_id[21], self_id[24];
    double pilot_lat, pilot_lon, ground_alt_m;
    sim_wp wp[SIM_MAX_WP];
    size_t nwp;
    double start_s;          /* offset of take-off from the scenario start */
    double spoof_at_s;       /* seconds into the flight: reported position jumps (0: never) */
    double spoof_jump_m;
    double pilot_jump_at_s;  /* the pilot's position jumps (0: never) */
    double pilot_jump_m;
} sim_flight;

typedef struct {
    double t;
    uint32_t drone, k;
} sim_ev;

static int sim__ev_cmp(const void *a, const void *b)
{
    const sim_ev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->drone < y->drone ? -1 : x->drone > y->drone;
}

/* One position a second along the waypoints. */
typedef struct {
    double lat, lon, height, speed, dir;
} sim_fix;

typedef struct {
    const sim_flight *f;
    uint8_t mac[6];
    char uas[21];
    sim_fix *fix;
    size_t nfix;
    double t0; /* seconds from the scenario start */
    uint8_t counter;
} sim_drone;

static void sim__move(double lat, double lon, double north_m, double east_m, double *olat,
                      double *olon)
{
    *olat = lat + north_m / (EARTH_R * DEG);
    *olon = lon + east_m / (EARTH_R * DEG * cos(lat * DEG));
}

static double sim__bearing(double la1, double lo1, double la2, double lo2)
{
    double y = sin((lo2 - lo1) * DEG) * cos(la2 * DEG);
    double x = cos(la1 * DEG) * sin(la2 * DEG) - sin(la1 * DEG) * cos(la2 * DEG) *
                                                   cos((lo2 - lo1) * DEG);
    double b = atan2(y, x) / DEG;
    return b < 0 ? b + 360 : b;
}

static bool sim__push(sim_drone *d, size_t *cap, sim_fix f)
{
    if (d->nfix == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        sim_fix *n = realloc(d->fix, c * sizeof *n);
        if (!n)
            return false;
        d->fix = n;
        *cap = c;
    }
    d->fix[d->nfix++] = f;
    return true;
}

static bool sim__path(sim_drone *d)
{
    const sim_flight *f = d->f;
    size_t cap = 0;
    for (size_t i = 0; i + 1 < f->nwp; i++) {
        const sim_wp *a = &f->wp[i], *b = &f->wp[i + 1];
        for (double h = 0; h < a->hover_s; h += 1)
            if (!sim__push(d, &cap, (sim_fix){a->lat, a->lon, a->height_m, 0.3, NAN}))
                return false;
        double dist = drones_distance_m(a->lat, a->lon, b->lat, b->lon);
        double speed = b->speed_mps > 0 ? b->speed_mps : 10;
        int steps = (int)ceil(dist / speed);
        double dir = sim__bearing(a->lat, a->lon, b->lat, b->lon);
        for (int s = 0; s < steps; s++) {
            double k = (double)s / steps;
            sim_fix x = {a->lat + (b->lat - a->lat) * k, a->lon + (b->lon - a->lon) * k,
                         a->height_m + (b->height_m - a->height_m) * k, speed, dir};
            if (!sim__push(d, &cap, x))
                return false;
        }
    }
    const sim_wp *z = &f->wp[f->nwp - 1];
    return sim__push(d, &cap, (sim_fix){z->lat, z->lon, z->height_m, 0, NAN});
}

/* ---- the built-in flights -------------------------------------------------------------- */

static size_t sim__builtin(sim_flight *fl)
{
    memset(fl, 0, 3 * sizeof *fl);
    /* 1. a registered survey far inside the territory: no alert */
    sim_flight *s = &fl[0];
    snprintf(s->uas_id, sizeof s->uas_id, "1581F5FKD23280021");
    snprintf(s->operator_id, sizeof s->operator_id, "LTU-OP-7731");
    snprintf(s->self_id, sizeof s->self_id, "Survey flight");
    s->pilot_lat = 54.100, s->pilot_lon = 25.300, s->ground_alt_m = 160;
    s->wp[s->nwp++] = (sim_wp){54.100, 25.300, 0, 0, 5};
    for (int leg = 0; leg < 6; leg++) {
        double la = 54.102 + leg * 0.0015;
        s->wp[s->nwp++] = (sim_wp){la, leg % 2 ? 25.330 : 25.300, 80, 10, 0};
        s->wp[s->nwp++] = (sim_wp){la, leg % 2 ? 25.300 : 25.330, 80, 10, 0};
    }
    s->wp[s->nwp++] = (sim_wp){54.100, 25.300, 0, 8, 0};
    /* 2. smuggling: from abroad, across the border low, a hover to drop,
     * back; unregistered */
    sim_flight *m = &fl[1];
    snprintf(m->uas_id, sizeof m->uas_id, "SMG3RX000000417");
    snprintf(m->operator_id, sizeof m->operator_id, "BLR-OP-93X11");
    m->pilot_lat = 54.240, m->pilot_lon = 25.840, m->ground_alt_m = 150;
    m->start_s = 60;
    m->wp[m->nwp++] = (sim_wp){54.240, 25.840, 0, 0, 5};
    m->wp[m->nwp++] = (sim_wp){54.242, 25.800, 25, 15, 0};
    m->wp[m->nwp++] = (sim_wp){54.245, 25.700, 20, 15, 0};
    m->wp[m->nwp++] = (sim_wp){54.2452, 25.7002, 8, 2, 45}; /* the drop */
    m->wp[m->nwp++] = (sim_wp){54.242, 25.800, 25, 15, 0};
    m->wp[m->nwp++] = (sim_wp){54.240, 25.840, 0, 10, 0};
    /* 3. a spoofed track: a registered drone whose reported position and
     * pilot jump kilometres; it also crosses the bonded warehouse */
    sim_flight *p = &fl[2];
    snprintf(p->uas_id, sizeof p->uas_id, "1581F5FKD23280099");
    snprintf(p->operator_id, sizeof p->operator_id, "LTU-OP-0042");
    p->pilot_lat = 54.580, p->pilot_lon = 25.150, p->ground_alt_m = 120;
    p->start_s = 120;
    p->wp[p->nwp++] = (sim_wp){54.580, 25.150, 0, 0, 3};
    p->wp[p->nwp++] = (sim_wp){54.605, 25.210, 60, 12, 0};
    p->wp[p->nwp++] = (sim_wp){54.620, 25.260, 60, 12, 0};
    p->wp[p->nwp++] = (sim_wp){54.580, 25.150, 0, 12, 0};
    p->spoof_at_s = 200, p->spoof_jump_m = 9000;
    p->pilot_jump_at_s = 700, p->pilot_jump_m = 7000;
    return 3;
}

/* ---- scenario files --------------------------------------------------------------------- */

static bool sim__num(json_t *o, const char *k, double *v, bool required)
{
    json_t *x = json_object_get(o, k);
    if (!x)
        return !required;
    if (!json_is_number(x))
        return false;
    *v = json_number_value(x);
    return true;
}

static size_t sim__scenario(const char *path, sim_flight *fl, char *err, size_t en)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, en, "%s:%d: %s", path, je.line, je.text);
        return 0;
    }
    json_t *arr = json_object_get(doc, "flights");
    size_t n = 0, i;
    json_t *o;
    if (!json_is_array(arr) || !json_array_size(arr) || json_array_size(arr) > SIM_MAX_FLIGHTS)
        snprintf(err, en, "%s: /flights must be an array of 1 to %d flights", path,
                 SIM_MAX_FLIGHTS);
    else
        json_array_foreach(arr, i, o)
        {
            sim_flight *f = &fl[n];
            memset(f, 0, sizeof *f);
            const char *id = json_string_value(json_object_get(o, "uas_id"));
            const char *op = json_string_value(json_object_get(o, "operator_id"));
            json_t *wps = json_object_get(o, "waypoints");
            if (!id || strlen(id) > 20 || (op && strlen(op) > 20) || !json_is_array(wps) ||
                json_array_size(wps) < 2 || json_array_size(wps) > SIM_MAX_WP ||
                !sim__num(o, "pilot_lat", &f->pilot_lat, true) ||
                !sim__num(o, "pilot_lon", &f->pilot_lon, true) ||
                !sim__num(o, "start_s", &f->start_s, false) ||
                !sim__num(o, "spoof_at_s", &f->spoof_at_s, false) ||
                !sim__num(o, "spoof_jump_m", &f->spoof_jump_m, false) ||
                !sim__num(o, "pilot_jump_at_s", &f->pilot_jump_at_s, false) ||
                !sim__num(o, "pilot_jump_m", &f->pilot_jump_m, false)) {
                snprintf(err, en, "%s: /flights/%zu: needs uas_id (<= 20 chars), pilot_lat, "
                                  "pilot_lon and 2 to %d waypoints; numbers where numbers go",
                         path, i, SIM_MAX_WP);
                n = 0;
                break;
            }
            snprintf(f->uas_id, sizeof f->uas_id, "%s", id);
            snprintf(f->operator_id, sizeof f->operator_id, "%s", op ? op : "");
            size_t k;
            json_t *w;
            json_array_foreach(wps, k, w)
            {
                sim_wp *p = &f->wp[f->nwp++];
                *p = (sim_wp){0, 0, 50, 10, 0};
                if (!sim__num(w, "lat", &p->lat, true) || !sim__num(w, "lon", &p->lon, true) ||
                    !sim__num(w, "height_m", &p->height_m, false) ||
                    !sim__num(w, "speed_mps", &p->speed_mps, false) ||
                    !sim__num(w, "hover_s", &p->hover_s, false) || fabs(p->lat) > 90 ||
                    fabs(p->lon) > 180 || p->speed_mps <= 0 || p->hover_s < 0 ||
                    p->hover_s > 86400) {
                    snprintf(err, en, "%s: /flights/%zu/waypoints/%zu: lat, lon in range; "
                                      "speed_mps > 0; hover_s 0 to 86400", path, i, k);
                    n = 0;
                    goto out;
                }
            }
            n++;
        }
out:
    json_decref(doc);
    return n;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* The Message Pack a drone broadcasts at second k of its flight. */
static size_t sim__pack(const sim_drone *d, size_t k, int64_t t_us, uint8_t *out, size_t cap)
{
    const sim_flight *f = d->f;
    const sim_fix *x = &d->fix[k];
    drones_msg m[5];
    size_t n = 0;
    drones_msg_init(&m[n], DRONES_MT_BASIC_ID, 2);
    m[n].u.basic.id_type = 1;
    m[n].u.basic.ua_type = 2;
    drones_msg_set_text(&m[n++], d->uas);
    drones_msg *l = &m[n++];
    drones_msg_init(l, DRONES_MT_LOCATION, 2);
    double lat = x->lat, lon = x->lon;
    if (f->spoof_at_s > 0 && fabs((double)k - f->spoof_at_s) < 0.5)
        sim__move(x->lat, x->lon, f->spoof_jump_m, 0, &lat, &lon);
    l->u.loc.status = x->height > 0.5 ? 2 : 1;
    l->u.loc.lat = lat;
    l->u.loc.lon = lon;
    l->u.loc.height_m = x->height;
    l->u.loc.height_ref = 0;
    l->u.loc.alt_geo_m = f->ground_alt_m + x->height;
    l->u.loc.alt_baro_m = f->ground_alt_m + x->height + 2;
    l->u.loc.speed_h_mps = x->speed;
    l->u.loc.speed_v_mps = 0;
    l->u.loc.direction_deg = isnan(x->dir) ? NAN : round(x->dir);
    l->u.loc.acc_h = drones_acc_h_enum(3);
    l->u.loc.acc_v = drones_acc_v_enum(3);
    l->u.loc.acc_baro = drones_acc_v_enum(3);
    l->u.loc.acc_speed = drones_acc_speed_enum(1);
    l->u.loc.acc_ts = drones_acc_ts_enum(0.1);
    int64_t hour_us = 3600000000LL;
    l->u.loc.timestamp_s = (double)((t_us % hour_us) / 100000) / 10.0;
    drones_msg *s = &m[n++];
    drones_msg_init(s, DRONES_MT_SYSTEM, 2);
    s->u.sys.op_loc_type = 1;
    s->u.sys.class_type = 1;
    s->u.sys.category_eu = 1;
    s->u.sys.class_eu = 3;
    s->u.sys.op_lat = f->pilot_lat;
    s->u.sys.op_lon = f->pilot_lon;
    if (f->pilot_jump_at_s > 0 && fabs((double)k - f->pilot_jump_at_s) < 0.5)
        sim__move(f->pilot_lat, f->pilot_lon, 0, f->pilot_jump_m, &s->u.sys.op_lat,
                  &s->u.sys.op_lon);
    s->u.sys.area_count = 1;
    s->u.sys.op_alt_geo_m = f->ground_alt_m;
    s->u.sys.timestamp = t_us / 1000000;
    if (f->operator_id[0]) {
        drones_msg_init(&m[n], DRONES_MT_OPERATOR_ID, 2);
        drones_msg_set_text(&m[n++], f->operator_id);
    }
    if (f->self_id[0] && k % 10 == 0) {
        drones_msg_init(&m[n], DRONES_MT_SELF_ID, 2);
        drones_msg_set_text(&m[n++], f->self_id);
    }
    return drones_pack_encode(m, n, 2, out, cap);
}

/* radiotap (flags, antenna signal) + 802.11 Beacon + SSID + the vendor IE */
static size_t sim__beacon(const uint8_t mac[6], uint8_t counter, const uint8_t *pack, size_t plen,
                          int rssi, uint16_t seq, uint8_t *out)
{
    size_t o = 0;
    static const uint8_t rt[] = {0x00, 0x00, 0x0a, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00};
    memcpy(out, rt, sizeof rt);
    o = sizeof rt;
    out[o++] = (uint8_t)(int8_t)rssi;
    out[o++] = 0x80; /* Beacon */
    out[o++] = 0x00;
    out[o++] = 0, out[o++] = 0; /* duration */
    memset(out + o, 0xff, 6), o += 6;
    memcpy(out + o, mac, 6), o += 6;
    memcpy(out + o, mac, 6), o += 6;
    out[o++] = (uint8_t)(seq << 4);
    out[o++] = (uint8_t)(seq >> 4);
    memset(out + o, 0, 8), o += 8; /* timestamp */
    out[o++] = 0x64, out[o++] = 0x00; /* interval */
    out[o++] = 0x21, out[o++] = 0x04; /* capabilities */
    out[o++] = 0x00, out[o++] = 0x00; /* SSID, hidden */
    out[o++] = 0xdd;
    out[o++] = (uint8_t)(5 + plen);
    out[o++] = 0xfa, out[o++] = 0x0b, out[o++] = 0xbc, out[o++] = 0x0d;
    out[o++] = counter;
    memcpy(out + o, pack, plen);
    return o + plen;
}

/* ---- output ---------------------------------------------------------------------------- */

/* MQTT: QoS 1 publishes, acknowledged by the broker before we exit. */
typedef struct {
    struct mosquitto *mosq;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t published, acked;
    bool up, down;
    char topic[128];
} sim_mqtt;

static void sim__mq_on_connect(struct mosquitto *m, void *obj, int rc)
{
    sim_mqtt *q = obj;
    pthread_mutex_lock(&q->mu);
    q->up = rc == 0;
    q->down = rc != 0;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void sim__mq_on_publish(struct mosquitto *m, void *obj, int mid)
{
    sim_mqtt *q = obj;
    pthread_mutex_lock(&q->mu);
    q->acked++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Waits until cond(q) or 30 s; false on timeout. */
static bool sim__mq_wait(sim_mqtt *q, bool (*cond)(const sim_mqtt *q))
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    while (!cond(q) && rc == 0)
        rc = pthread_cond_timedwait(&q->cv, &q->mu, &until);
    bool ok = cond(q);
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static bool sim__mq_connected(const sim_mqtt *q)
{
    return q->up || q->down;
}

static bool sim__mq_all_acked(const sim_mqtt *q)
{
    return q->acked >= q->published;
}

/* mqtt://host[:port] (plain TCP; the port defaults to 1883). */
static bool sim__mq_url(const char *url, char *host, size_t hcap, int *port)
{
    if (strncmp(url, "mqtt://", 7) != 0)
        return false;
    const char *p = url + 7, *colon = strrchr(p, ':');
    size_t hl = colon ? (size_t)(colon - p) : strlen(p);
    int64_t v = 1883;
    if (hl == 0 || hl >= hcap || (colon && (!cx_parse_i64(colon + 1, &v) || v < 1 || v > 65535)))
        return false;
    memcpy(host, p, hl);
    host[hl] = '\0';
    *port = (int)v;
    return true;
}

static bool sim__mq_open(sim_mqtt *q, const char *url, const char *receiver)
{
    char host[256];
    int port;
    if (!sim__mq_url(url, host, sizeof host, &port)) {
        fprintf(stderr, "customs drones simulate: --mqtt must be mqtt://host[:port]\n");
        return false;
    }
    snprintf(q->topic, sizeof q->topic, "customs/remoteid/%s", receiver);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    mosquitto_lib_init();
    q->mosq = mosquitto_new(NULL, true, q);
    if (!q->mosq)
        return false;
    mosquitto_connect_callback_set(q->mosq, sim__mq_on_connect);
    mosquitto_publish_callback_set(q->mosq, sim__mq_on_publish);
    if (mosquitto_connect(q->mosq, host, port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(q->mosq) != MOSQ_ERR_SUCCESS || !sim__mq_wait(q, sim__mq_connected) ||
        !q->up) {
        fprintf(stderr, "customs drones simulate: cannot connect to %s\n", url);
        return false;
    }
    return true;
}

static bool sim__mq_close(sim_mqtt *q)
{
    bool ok = true;
    if (q->mosq) {
        ok = !q->up || sim__mq_wait(q, sim__mq_all_acked);
        mosquitto_disconnect(q->mosq);
        mosquitto_loop_stop(q->mosq, false);
        mosquitto_destroy(q->mosq);
        mosquitto_lib_cleanup();
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
    }
    return ok;
}

typedef struct {
    pcap_t *pc;
    pcap_dumper_t *dump;
    sim_mqtt *mq;
    CURL *curl;
    const char *url, *token, *receiver;
    cx_buf body;
    size_t nbody;
    uint64_t sent, failed;
    bool realtime;
} sim_out;

static uint64_t sim__rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t sim__discard(char *p, size_t sz, size_t n, void *ud)
{
    return sz * n;
}

static bool sim__post(sim_out *o)
{
    if (!o->nbody)
        return true;
    if (cx_buf_puts(&o->body, "]}") != CX_OK) {
        fprintf(stderr, "customs drones simulate: a batch is over its buffer\n");
        return false;
    }
    if (o->mq) {
        pthread_mutex_lock(&o->mq->mu);
        o->mq->published++;
        pthread_mutex_unlock(&o->mq->mu);
        int rc = mosquitto_publish(o->mq->mosq, NULL, o->mq->topic, (int)o->body.len,
                                   o->body.data, 1, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "customs drones simulate: publish: %s\n", mosquitto_strerror(rc));
            o->failed += o->nbody;
        } else {
            o->sent += o->nbody;
        }
        cx_buf_reset(&o->body);
        o->nbody = 0;
        return rc == MOSQ_ERR_SUCCESS;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/drones/observations", o->url);
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(o->curl, CURLOPT_URL, url);
    curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, o->body.data);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, (long)o->body.len);
    curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, sim__discard);
    CURLcode rc = curl_easy_perform(o->curl);
    long status = 0;
    curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    bool ok = rc == CURLE_OK && status == 202;
    if (!ok) {
        fprintf(stderr, "customs drones simulate: POST %s: %s %ld\n", url,
                rc == CURLE_OK ? "HTTP" : curl_easy_strerror(rc), status);
        o->failed += o->nbody;
    } else {
        o->sent += o->nbody;
    }
    cx_buf_reset(&o->body);
    o->nbody = 0;
    return ok;
}

static bool sim__emit(sim_out *o, sim_drone *d, size_t k, int64_t t_us, uint16_t seq, int rssi)
{
    uint8_t pack[3 + 9 * 25], frame[512];
    size_t plen = sim__pack(d, k, t_us, pack, sizeof pack);
    if (o->dump) {
        size_t n = sim__beacon(d->mac, d->counter++, pack, plen, rssi, seq, frame);
        struct pcap_pkthdr h = {.caplen = (bpf_u_int32)n, .len = (bpf_u_int32)n};
        h.ts.tv_sec = (time_t)(t_us / 1000000);
        h.ts.tv_usec = (suseconds_t)(t_us % 1000000);
        pcap_dump((u_char *)o->dump, &h, frame);
        o->sent++;
        return true;
    }
    char hex[2 * sizeof pack + 1], mac[18], t[32];
    cx_hex(pack, plen, hex);
    drones_mac_format(d->mac, mac);
    cx_rfc3339_format(t_us, t);
    cx_err e = CX_OK;
    if (!o->nbody)
        e = cx_buf_printf(&o->body, "{\"receiver\":\"%s\",\"observations\":[", o->receiver);
    if (e == CX_OK)
        e = cx_buf_printf(&o->body,
                  "%s{\"time\":\"%s\",\"transport\":\"wifi_beacon\",\"mac\":\"%s\","
                  "\"rssi\":%d,\"payload_hex\":\"%s\"}",
                  o->nbody ? "," : "", t, mac, rssi, hex);
    if (e != CX_OK)
        return false;
    o->nbody++;
    return o->nbody < 500 || sim__post(o);
}

int app_drones_simulate(const app_drones_sim *opt)
{
    char err[512] = "";
    sim_flight fl[SIM_MAX_FLIGHTS];
    size_t nf = opt->scenario ? sim__scenario(opt->scenario, fl, err, sizeof err)
                              : sim__builtin(fl);
    if (!nf)
        return app_fail("drones simulate", "%s", err);
    /* copies of the scenario until enough frames, each drone with its own
     * address and id (the copies after the first are numbered) */
    size_t copies = 1, per_copy = 0;
    sim_drone *dr = NULL;
    size_t nd = 0;
    uint64_t rng = opt->seed * 0x2545f4914f6cdd1dULL + 1;
    for (size_t c = 0; c < copies; c++) {
        for (size_t i = 0; i < nf; i++) {
            sim_drone *nd_ = realloc(dr, (nd + 1) * sizeof *dr);
            if (!nd_)
                return app_fail("drones simulate", "out of memory");
            dr = nd_;
            sim_drone *d = &dr[nd++];
            memset(d, 0, sizeof *d);
            d->f = &fl[i];
            uint64_t r = sim__rand(&rng);
            for (int b = 0; b < 6; b++)
                d->mac[b] = (uint8_t)(r >> (8 * b));
            d->mac[0] = (uint8_t)((d->mac[0] & 0xfc) | 0x02); /* locally administered */
            if (c == 0)
                snprintf(d->uas, sizeof d->uas, "%s", fl[i].uas_id);
            else
                snprintf(d->uas, sizeof d->uas, "%.13s-%06zu", fl[i].uas_id, c);
            d->t0 = fl[i].start_s + (double)c * 7.0;
            if (!sim__path(d))
                return app_fail("drones simulate", "out of memory");
            if (c == 0)
                per_copy += d->nfix;
        }
        if (c == 0 && opt->frames > per_copy)
            copies = (opt->frames + per_copy - 1) / per_copy;
    }
    sim_out o = {.url = opt->http_url, .token = opt->token, .receiver = opt->receiver,
                 .realtime = opt->realtime};
    cx_buf_init(&o.body, (size_t)1 << 20);
    if (opt->out_path) {
        o.pc = pcap_open_dead(DLT_IEEE802_11_RADIO, 65535);
        o.dump = o.pc ? pcap_dump_open(o.pc, opt->out_path) : NULL;
        if (!o.dump) {
            if (o.pc)
                pcap_close(o.pc);
            return app_fail("drones simulate", "%s: cannot create", opt->out_path);
        }
    } else if (opt->mqtt_url) {
        static sim_mqtt mq;
        memset(&mq, 0, sizeof mq);
        o.mq = &mq;
        if (!sim__mq_open(&mq, opt->mqtt_url, opt->receiver)) {
            sim__mq_close(&mq);
            return 1;
        }
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        o.curl = curl_easy_init();
    }
    /* every drone's seconds in time order (ties: by drone) */
    size_t nev = 0;
    for (size_t i = 0; i < nd; i++)
        nev += dr[i].nfix;
    sim_ev *ev = malloc((nev ? nev : 1) * sizeof *ev);
    bool ok = ev != NULL;
    for (size_t i = 0, e = 0; ok && i < nd; i++)
        for (size_t k = 0; k < dr[i].nfix; k++)
            ev[e++] = (sim_ev){dr[i].t0 + (double)k, (uint32_t)i, (uint32_t)k};
    if (ok)
        qsort(ev, nev, sizeof *ev, sim__ev_cmp);
    uint64_t limit = opt->frames ? opt->frames : UINT64_MAX;
    int64_t wall0 = cx_mono_us();
    uint16_t seq = 0;
    for (size_t e = 0; ok && e < nev && e < limit; e++) {
        sim_drone *d = &dr[ev[e].drone];
        double bt = ev[e].t;
        /* jitter of a few ms so frames of one second do not share a time */
        int64_t t_us = opt->start_us + (int64_t)llround(bt * 1e6) +
                       (int64_t)(sim__rand(&rng) % 50000);
        if (o.realtime) {
            int64_t due = wall0 + (int64_t)llround(bt * 1e6), now = cx_mono_us();
            if (due > now + 100000) {
                ok = sim__post(&o);
                usleep((useconds_t)(due - now));
            }
        }
        int rssi = -45 - (int)(sim__rand(&rng) % 40);
        ok = ok && sim__emit(&o, d, ev[e].k, t_us, seq++, rssi);
    }
    free(ev);
    if (o.curl || o.mq)
        ok = sim__post(&o) && ok;
    if (o.mq && !sim__mq_close(o.mq)) {
        fprintf(stderr, "customs drones simulate: the broker did not acknowledge every message\n");
        ok = false;
    }
    if (o.dump) {
        pcap_dump_close(o.dump);
        pcap_close(o.pc);
    }
    if (o.curl) {
        curl_easy_cleanup(o.curl);
        curl_global_cleanup();
    }
    cx_buf_free(&o.body);
    for (size_t i = 0; i < nd; i++)
        free(dr[i].fix);
    free(dr);
    if (!opt->quiet)
        fprintf(stderr, "customs drones simulate: %llu frames from %zu drones%s\n",
                (unsigned long long)o.sent, nd,
                o.failed ? " (some POSTs failed)" : "");
    return ok && !o.failed ? 0 : 1;
}
