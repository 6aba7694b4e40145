/* The simulator's publishers: HTTP (libcurl multi: batches of telemetry,
 * registration of the world) and MQTT (one thread drives every connection
 * itself, so a publish is a direct write and PUBACKs are read in between;
 * unacknowledged messages are resent after a reconnect). */
#include "track_sim_int.h"

#include "track.h"

#include <errno.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- HTTP (libcurl) ------------------------------------------------------------------------- */

static size_t sim__curl_write(char *p, size_t sz, size_t n, void *ud)
{
    sim_resp *r = ud;
    /* a reply past the cap aborts the transfer (curl sees a short write) */
    return cx_buf_append(&r->body, p, sz * n) == CX_OK ? sz * n : 0;
}


/* Trusts cacert (a self-signed demo server's certificate) explicitly:
 * verification stays on. */
static void sim__trust(CURL *h, const char *cacert)
{
    if (cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
}

void app__sim_http_init(sim_http *H, const char *base, const char *token, const char *cacert)
{
    memset(H, 0, sizeof *H);
    H->cacert = cacert;
    snprintf(H->base, sizeof H->base, "%s", base);
    size_t bl = strlen(H->base);
    while (bl && H->base[bl - 1] == '/')
        H->base[--bl] = '\0';
    char auth[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    H->hdrs = curl_slist_append(NULL, auth);
    H->hdrs = curl_slist_append(H->hdrs, "Content-Type: application/json");
    H->multi = curl_multi_init();
    curl_multi_setopt(H->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 32L);
}

static void sim__http_reap(sim_http *H, bool quiet)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(H->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        sim_req *q = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        long st = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &st);
        if (m->data.result == CURLE_OK && st >= 200 && st < 300)
            H->ok++;
        else if (st == 409)
            H->conflict++;
        else {
            H->failed++;
            if (!quiet)
                fprintf(stderr, "simulate: %s: %s %s\n", q->what,
                        m->data.result != CURLE_OK ? curl_easy_strerror(m->data.result) : "HTTP",
                        q->resp.body.data ? q->resp.body.data : "");
        }
        curl_multi_remove_handle(H->multi, m->easy_handle);
        curl_easy_cleanup(m->easy_handle);
        free(q->payload);
        cx_buf_free(&q->resp.body);
        free(q);
        H->running--;
    }
}

static void sim__http_pump(sim_http *H, size_t max_running, bool quiet)
{
    while (H->running >= max_running) {
        int still = 0;
        curl_multi_perform(H->multi, &still);
        sim__http_reap(H, quiet);
        if (H->running >= max_running)
            curl_multi_poll(H->multi, NULL, 0, 100, NULL);
    }
}

/* Queues a POST of payload (stolen) to base + path. */
void app__sim_http_post(sim_http *H, const char *path, char *payload, const char *what,
                           bool quiet)
{
    if (!payload) { /* the batch could not be taken */
        H->failed++;
        return;
    }
    sim__http_pump(H, 32, quiet);
    sim_req *q = calloc(1, sizeof *q);
    CURL *h = curl_easy_init();
    if (!q || !h) {
        free(q);
        free(payload);
        if (h)
            curl_easy_cleanup(h);
        H->failed++;
        return;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s%s", H->base, path);
    q->h = h;
    q->payload = payload;
    snprintf(q->what, sizeof q->what, "%s", what);
    cx_buf_init(&q->resp.body, 1 << 16);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, H->hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sim__curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &q->resp);
    curl_easy_setopt(h, CURLOPT_PRIVATE, q);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    sim__trust(h, H->cacert);
    curl_multi_add_handle(H->multi, h);
    H->running++;
    int still;
    curl_multi_perform(H->multi, &still);
    sim__http_reap(H, quiet);
}

void app__sim_http_finish(sim_http *H, bool quiet)
{
    sim__http_pump(H, 1, quiet);
    curl_multi_cleanup(H->multi);
    curl_slist_free_all(H->hdrs);
}

/* GET returning the body (caller frees), NULL on failure. */
static char *sim__http_get(const char *base, const char *path, const char *token,
                           const char *cacert, long *status)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    char url[1024], auth[600];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    sim_resp r = {.status = 0};
    cx_buf_init(&r.body, (size_t)64 << 20);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sim__curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    sim__trust(h, cacert);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hd);
    if (rc != CURLE_OK) {
        cx_buf_free(&r.body);
        return NULL;
    }
    return cx_buf_steal(&r.body, NULL);
}

/* Uses stored declarations (oldest first) for the devices' containers. */
static void sim__link_declarations(sim *S, const char *base)
{
    const app_sim_opts *o = S->o;
    size_t used = 0;
    char path[256] = "/v1/declarations?limit=1000";
    for (int page = 0; page < 100 && used < S->ndevs; page++) {
        long st = 0;
        char *body = sim__http_get(base, path, o->token, o->cacert, &st);
        json_t *j = body && st == 200 ? json_loads(body, 0, NULL) : NULL;
        free(body);
        if (!j)
            break;
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(j, "items"), i, d)
        {
            const char *ref = json_string_value(json_object_get(d, "reference"));
            const char *ct = json_string_value(json_array_get(json_object_get(d, "containers"), 0));
            const char *id = json_string_value(json_object_get(d, "id"));
            if (!ct || !id || used >= S->ndevs)
                continue;
            if (strcmp(o->decl_ref_prefix, "*") != 0 &&
                (!ref || strncmp(ref, o->decl_ref_prefix, strlen(o->decl_ref_prefix)) != 0))
                continue;
            sim_dev *v = &S->devs[used++];
            snprintf(v->container, sizeof v->container, "%s", ct);
            snprintf(v->decl, sizeof v->decl, "%s", id);
        }
        const char *next = json_string_value(json_object_get(j, "next_cursor"));
        if (!next) {
            json_decref(j);
            break;
        }
        snprintf(path, sizeof path, "/v1/declarations?limit=1000&cursor=%s", next);
        json_decref(j);
    }
    if (!o->quiet)
        fprintf(stderr, "simulate: %zu devices carry containers of stored declarations\n", used);
}

int app__sim_register(sim *S)
{
    const app_sim_opts *o = S->o;
    const char *base = o->api_url ? o->api_url : o->http_url;
    if (o->decl_ref_prefix)
        sim__link_declarations(S, base);
    sim_http H;
    app__sim_http_init(&H, base, o->token, o->cacert);
    size_t i;
    json_t *z;
    json_array_foreach(S->zones, i, z)
    {
        char what[96];
        snprintf(what, sizeof what, "zone %s", json_string_value(json_object_get(z, "id")));
        app__sim_http_post(&H, "/v1/zones", cx_json_dump(z, NULL), what, o->quiet);
    }
    sim__http_pump(&H, 1, o->quiet); /* consignments name the zones */
    uint64_t zones_ok = H.ok, zones_old = H.conflict;
    for (size_t k = 0; k < S->ndevs; k++) {
        const sim_dev *d = &S->devs[k];
        json_t *dj = json_pack("{s:s,s:s,s:s,s:s}", "id", d->id, "kind",
                               track_device_kind_name(d->kind), "container", d->container, "name",
                               "simulated truck");
        if (d->kind == TRACK_KIND_REEFER)
            json_object_set_new(dj, "temperature_c", json_pack("{s:i,s:i}", "min", 2, "max", 8));
        char what[96];
        snprintf(what, sizeof what, "device %s", d->id);
        app__sim_http_post(&H, "/v1/devices", cx_json_dump(dj, NULL), what, o->quiet);
        json_decref(dj);
        const sim_route *r = &S->routes[d->route];
        double hours = (r->length - d->offset_m) / (d->speed_kmh / 3.6) / 3600.0;
        char eta[32];
        /* Due a generous hour after the plan, and never before an hour from
         * now: a run that starts in the past replays it faster than the wall
         * clock, which must not find it late. An "overdue" anomaly declares
         * half the time the journey needs. */
        int64_t due = S->start_ms + (int64_t)((hours + 1) * 3600000);
        int64_t floor_ms = cx_now_us() / 1000 + 3600000;
        bool late = false;
        for (int a = 0; a < d->nan; a++)
            late = late || d->an[a].kind == AN_OVERDUE;
        if (late)
            due = S->start_ms + (int64_t)(hours * 0.5 * 3600000);
        else if (due < floor_ms)
            due = floor_ms;
        cx_rfc3339_format(due * 1000, eta);
        json_t *cj = json_pack("{s:s,s:[s],s:O,s:f,s:s,s:s,s:s,s:s}", "id", "", "containers",
                               d->container, "route", r->geometry, "corridor_m", r->corridor_m,
                               "origin_zone", r->origin, "destination_zone", r->dest,
                               "expected_arrival", eta, "name", r->id);
        char cid[TRACK_ID_MAX + 1];
        snprintf(cid, sizeof cid, "CONS-%s", d->id);
        json_object_set_new(cj, "id", json_string(cid));
        json_object_set_new(cj, "declarations", d->decl[0] ? json_pack("[s]", d->decl)
                                                            : json_array());
        if (d->kind == TRACK_KIND_REEFER)
            json_object_set_new(cj, "temperature_c", json_pack("{s:i,s:i}", "min", 2, "max", 8));
        snprintf(what, sizeof what, "consignment %s", cid);
        app__sim_http_post(&H, "/v1/consignments", cx_json_dump(cj, NULL), what, o->quiet);
        json_decref(cj);
    }
    app__sim_http_finish(&H, o->quiet);
    if (!o->quiet)
        fprintf(stderr, "simulate: registered %llu new objects (%llu zones), %llu already "
                "there (%llu zones), %llu failed\n",
                (unsigned long long)H.ok, (unsigned long long)zones_ok,
                (unsigned long long)H.conflict, (unsigned long long)zones_old,
                (unsigned long long)H.failed);
    return H.failed ? 1 : 0;
}

/* ---- MQTT publishing --------------------------------------------------------------------------- */


static void sim__on_publish(struct mosquitto *mosq, void *obj, int mid, int rc,
                            const mosquitto_property *p)
{
    (void)mosq;
    (void)mid;
    (void)rc;
    (void)p;
    ((sim_conn *)obj)->acked++;
}

static void sim__on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                            const mosquitto_property *p)
{
    (void)mosq;
    (void)flags;
    (void)p;
    if (rc == 0)
        ((sim_conn *)obj)->up = true;
}

static bool sim__mq_parse(const char *url, char *host, size_t hcap, int *port)
{
    const char *p = url;
    if (strncmp(p, "mqtt://", 7) == 0)
        p += 7;
    else if (strncmp(p, "tcp://", 6) == 0)
        p += 6;
    else
        return false;
    const char *colon = strrchr(p, ':');
    size_t hl = colon ? (size_t)(colon - p) : strcspn(p, "/");
    if (hl == 0 || hl >= hcap)
        return false;
    memcpy(host, p, hl);
    host[hl] = '\0';
    *port = 1883;
    if (colon) {
        int64_t v;
        char ps[16];
        snprintf(ps, sizeof ps, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
        if (!cx_parse_i64(ps, &v) || v < 1 || v > 65535)
            return false;
        *port = (int)v;
    }
    return true;
}


static void sim__mq_connect(sim_mq *M, sim_conn *c)
{
    int rc = mosquitto_connect(c->mosq, M->host, M->port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        c->retry_at = cx_mono_us() + c->backoff_ms * 1000LL;
        c->backoff_ms = c->backoff_ms * 2 > 5000 ? 5000 : c->backoff_ms * 2;
        return;
    }
    c->backoff_ms = 200;
    c->retry_at = 0;
}

/* Reads acknowledgements and writes what is queued, on every connection;
 * reconnects lost ones. Waits up to wait_us for something to read. */
void app__sim_mq_service(sim_mq *M, int64_t wait_us)
{
    struct pollfd pf[64];
    unsigned idx[64], n = 0;
    int64_t now = cx_mono_us();
    for (unsigned i = 0; i < M->n; i++) {
        sim_conn *c = &M->c[i];
        int fd = mosquitto_socket(c->mosq);
        if (fd < 0) {
            if (now >= c->retry_at)
                sim__mq_connect(M, c);
            continue;
        }
        pf[n].fd = fd;
        pf[n].events = POLLIN | (mosquitto_want_write(c->mosq) ? POLLOUT : 0);
        pf[n].revents = 0;
        idx[n++] = i;
    }
    if (n == 0) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    struct timespec tmo = {(time_t)(wait_us / 1000000), (long)(wait_us % 1000000) * 1000};
    if (ppoll(pf, n, &tmo, NULL) <= 0 && wait_us > 0)
        return;
    for (unsigned k = 0; k < n; k++) {
        sim_conn *c = &M->c[idx[k]];
        int rc = MOSQ_ERR_SUCCESS;
        if (pf[k].revents & (POLLIN | POLLERR | POLLHUP))
            for (int r = 0; r < 4096 && rc == MOSQ_ERR_SUCCESS; r++) {
                rc = mosquitto_loop_read(c->mosq, 1);
                struct pollfd q = {pf[k].fd, POLLIN, 0};
                if (rc != MOSQ_ERR_SUCCESS || poll(&q, 1, 0) <= 0)
                    break;
            }
        if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(c->mosq))
            rc = mosquitto_loop_write(c->mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_loop_misc(c->mosq);
        if (rc != MOSQ_ERR_SUCCESS) {
            c->up = false;
            /* reconnecting resends what was not acknowledged */
            c->retry_at = cx_mono_us() + c->backoff_ms * 1000LL;
        }
    }
}

int app__sim_mq_open(sim *S, sim_mq *M)
{
    const app_sim_opts *o = S->o;
    if (!sim__mq_parse(o->mqtt_url, M->host, sizeof M->host, &M->port)) {
        fprintf(stderr, "customs track simulate: --mqtt %s: expected mqtt://host:port\n",
                o->mqtt_url);
        return 2;
    }
    mosquitto_lib_init();
    M->n = o->connections ? o->connections : 1;
    if (M->n > 64)
        M->n = 64;
    M->c = calloc(M->n, sizeof *M->c);
    if (!M->c)
        return 1;
    for (unsigned i = 0; i < M->n; i++) {
        char cid[128];
        snprintf(cid, sizeof cid, "%s-%llu-%u-%d", o->client_prefix ? o->client_prefix : "sim",
                 (unsigned long long)o->seed, i, (int)(cx_mono_us() % 100000));
        sim_conn *c = &M->c[i];
        c->mosq = mosquitto_new(cid, true, c);
        if (!c->mosq)
            return 1;
        mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_int_option(c->mosq, MOSQ_OPT_SEND_MAXIMUM, 65535);
        mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_publish_v5_callback_set(c->mosq, sim__on_publish);
        mosquitto_connect_v5_callback_set(c->mosq, sim__on_connect);
        c->backoff_ms = 200;
        sim__mq_connect(M, c);
    }
    /* wait for the CONNACKs (a broker that is not up yet is retried) */
    int64_t until = cx_mono_us() + 30 * 1000000LL;
    for (;;) {
        unsigned up = 0;
        for (unsigned i = 0; i < M->n; i++)
            up += M->c[i].up;
        if (up == M->n)
            break;
        if (cx_mono_us() > until) {
            fprintf(stderr, "customs track simulate: cannot connect to %s\n", o->mqtt_url);
            return 1;
        }
        app__sim_mq_service(M, 50000);
    }
    return 0;
}

bool app__sim_mq_close(sim_mq *M, bool quiet)
{
    bool all = true;
    /* every message acknowledged (resent after reconnects if need be) */
    int64_t until = cx_mono_us() + 120 * 1000000LL;
    for (;;) {
        uint64_t pend = 0;
        for (unsigned i = 0; i < M->n; i++)
            pend += M->c[i].published - M->c[i].acked;
        if (pend == 0)
            break;
        if (cx_mono_us() > until) {
            fprintf(stderr, "customs track simulate: %llu messages were never acknowledged\n",
                    (unsigned long long)pend);
            all = false;
            break;
        }
        app__sim_mq_service(M, 20000);
    }
    for (unsigned i = 0; i < M->n; i++) {
        if (mosquitto_socket(M->c[i].mosq) >= 0) {
            mosquitto_disconnect(M->c[i].mosq);
            mosquitto_loop_write(M->c[i].mosq, 1);
        }
        mosquitto_destroy(M->c[i].mosq);
    }
    free(M->c);
    mosquitto_lib_cleanup();
    return all;
}

