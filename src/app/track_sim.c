/* customs track simulate: trucks with trackers, e-seals and reefers driving
 * the demo routes (data/track), with injected anomalies, published over
 * MQTT, HTTP or into a file.
 *
 * Determinism: message k goes to device k mod N and is its (k / N)-th
 * report; its event time, position and readings follow from the seed, the
 * device count, the rate and the time scale alone, never from how fast the
 * machine is. (--live-clock is the exception: it stamps the wall clock at
 * publish, as live trackers do; the benchmark uses it to measure latency.)
 *
 * Publishing over HTTP and MQTT is track_sim_net.c's; the run ends only when
 * every message has been acknowledged. */
#include "track_sim_int.h"

#include "track.h"

#include <errno.h>
#include <math.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const an_names[AN__COUNT] = {"none",    "deviation", "stop", "seal_open",
                                                "silence", "jump",      "door", "temperature",
                                                "seal_cycle", "overdue"};

/* ---- randomness (splitmix64: tiny, fast, and the same everywhere) -------------------- */

static uint64_t sim__mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double sim__unit(uint64_t *s)
{
    return (double)(sim__mix(s) >> 11) / 9007199254740992.0;
}

static double sim__gauss(uint64_t *s)
{
    double u = sim__unit(s), v = sim__unit(s);
    if (u < 1e-12)
        u = 1e-12;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static cx_err sim__load_routes(sim *S, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/routes.geojson",
             S->o->data_dir ? S->o->data_dir : cx_data_dir());
    if (!S->o->data_dir) {
        snprintf(path, sizeof path, "%s/track/routes.geojson", cx_data_dir());
    }
    json_error_t je;
    json_t *fc = json_load_file(path, 0, &je);
    if (!fc) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return CX_EIO;
    }
    const json_t *fs = json_object_get(fc, "features");
    S->nroutes = (int)json_array_size(fs);
    S->routes = calloc((size_t)S->nroutes + 1, sizeof *S->routes);
    if (!S->routes || !S->nroutes) {
        json_decref(fc);
        snprintf(err, errlen, "%s: no routes", path);
        return CX_EINVAL;
    }
    for (int i = 0; i < S->nroutes; i++) {
        const json_t *f = json_array_get(fs, (size_t)i);
        const json_t *p = json_object_get(f, "properties");
        sim_route *r = &S->routes[i];
        snprintf(r->id, sizeof r->id, "%s", json_string_value(json_object_get(p, "id")));
        snprintf(r->origin, sizeof r->origin, "%s",
                 json_string_value(json_object_get(p, "origin_zone")));
        snprintf(r->dest, sizeof r->dest, "%s",
                 json_string_value(json_object_get(p, "destination_zone")));
        r->corridor_m = json_number_value(json_object_get(p, "corridor_m"));
        r->speed_kmh = json_number_value(json_object_get(p, "speed_kmh"));
        r->geometry = json_incref(json_object_get(f, "geometry"));
        const json_t *cs = json_object_get(r->geometry, "coordinates");
        r->n = json_array_size(cs);
        r->lon = calloc(r->n, sizeof *r->lon);
        r->lat = calloc(r->n, sizeof *r->lat);
        r->cum = calloc(r->n, sizeof *r->cum);
        if (!r->lon || !r->lat || !r->cum || r->n < 2) {
            json_decref(fc);
            snprintf(err, errlen, "%s: route %s is not usable", path, r->id);
            return CX_EINVAL;
        }
        for (size_t k = 0; k < r->n; k++) {
            const json_t *pt = json_array_get(cs, k);
            r->lon[k] = json_number_value(json_array_get(pt, 0));
            r->lat[k] = json_number_value(json_array_get(pt, 1));
            if (k) {
                while (r->lon[k] - r->lon[k - 1] > 180)
                    r->lon[k] -= 360;
                while (r->lon[k] - r->lon[k - 1] < -180)
                    r->lon[k] += 360;
                r->cum[k] = r->cum[k - 1] +
                            track_distance_m(r->lat[k - 1], r->lon[k - 1], r->lat[k], r->lon[k]);
            }
        }
        r->length = r->cum[r->n - 1];
    }
    json_decref(fc);
    snprintf(path, sizeof path, "%s/track/zones.geojson", cx_data_dir());
    if (S->o->data_dir)
        snprintf(path, sizeof path, "%s/zones.geojson", S->o->data_dir);
    fc = json_load_file(path, 0, &je);
    if (!fc) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return CX_EIO;
    }
    S->zones = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(fc, "features"), i, f)
    {
        const json_t *p = json_object_get(f, "properties");
        json_array_append_new(S->zones, json_pack("{s:O,s:O,s:O,s:O}", "id",
                                                  json_object_get(p, "id"), "name",
                                                  json_object_get(p, "name"), "kind",
                                                  json_object_get(p, "kind"), "geometry",
                                                  json_object_get(f, "geometry")));
    }
    json_decref(fc);
    return CX_OK;
}

static void sim__at(const sim_route *r, double s, double lateral, double *lat, double *lon,
                    double *heading);

/* Checkpoints (customs-office zones, about 450 m across) spread along the
 * routes, for benchmarks that want many zones. */
static void sim__extra_zones(sim *S, unsigned n)
{
    unsigned per = (n + (unsigned)S->nroutes - 1) / (unsigned)S->nroutes;
    for (unsigned k = 0; k < n; k++) {
        const sim_route *r = &S->routes[k % (unsigned)S->nroutes];
        double f = (double)(k / (unsigned)S->nroutes + 1) / (per + 1);
        double lat, lon, hd;
        sim__at(r, r->length * f, 0, &lat, &lon, &hd);
        double dy = 0.002, dx = 0.002 / cos(lat * M_PI / 180);
        if (lon + dx > 180 || lon - dx < -180)
            lon = lon > 0 ? 180 - dx : -180 + dx; /* keep a checkpoint on one side */
        char id[32], name[96];
        snprintf(id, sizeof id, "CHK-%03u", k + 1);
        snprintf(name, sizeof name, "Checkpoint %u on %s", k + 1, r->id);
        json_t *g = json_pack("{s:s,s:[[[f,f],[f,f],[f,f],[f,f],[f,f]]]}", "type", "Polygon",
                              "coordinates", lon - dx, lat - dy, lon + dx, lat - dy, lon + dx,
                              lat + dy, lon - dx, lat + dy, lon - dx, lat - dy);
        json_array_append_new(S->zones, json_pack("{s:s,s:s,s:s,s:o}", "id", id, "name", name,
                                                  "kind", "customs-office", "geometry", g));
    }
}

/* Position and heading at distance s along a route, pushed sideways by
 * lateral metres (positive: to the right of travel). */
static void sim__at(const sim_route *r, double s, double lateral, double *lat, double *lon,
                    double *heading)
{
    if (s <= 0)
        s = 0;
    if (s >= r->length)
        s = r->length;
    size_t lo = 0, hi = r->n - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (r->cum[mid] <= s)
            lo = mid;
        else
            hi = mid;
    }
    double seg = r->cum[hi] - r->cum[lo];
    double f = seg > 0 ? (s - r->cum[lo]) / seg : 0;
    double la = r->lat[lo] + f * (r->lat[hi] - r->lat[lo]);
    double lo_ = r->lon[lo] + f * (r->lon[hi] - r->lon[lo]);
    double cl = cos(la * M_PI / 180);
    double de = (r->lon[hi] - r->lon[lo]) * cl, dn = r->lat[hi] - r->lat[lo];
    double hd = atan2(de, dn); /* radians from north */
    *heading = fmod(hd * 180 / M_PI + 360, 360);
    if (lateral != 0) {
        double right = hd + M_PI / 2;
        la += lateral * cos(right) / 111132.0;
        lo_ += lateral * sin(right) / (111320.0 * cl);
    }
    while (lo_ > 180)
        lo_ -= 360;
    while (lo_ < -180)
        lo_ += 360;
    *lat = la;
    *lon = lo_;
}

/* ISO 6346 number with its check digit. */
static void sim__container(char out[16], const char *owner, uint32_t serial)
{
    char first10[11];
    snprintf(first10, sizeof first10, "%.3sU%06u", owner, serial % 1000000);
    int cd = decl_iso6346_check_digit(first10);
    snprintf(out, 16, "%s%d", first10, cd < 0 ? 0 : cd % 10);
}

static bool sim__an_parse(const char *s, sim_anomaly *out);

/* An anomaly allowed by --anomaly-kinds and possible for the device kind. */
static sim_anomaly sim__pick_restricted(uint64_t *rng, track_device_kind kind, const char *list)
{
    sim_anomaly ok[AN__COUNT];
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        sim_anomaly a;
        if (!sim__an_parse(tok, &a))
            continue;
        bool fits = (a != AN_SEAL_OPEN && a != AN_SEAL_CYCLE) || kind == TRACK_KIND_E_SEAL;
        fits = fits && (a != AN_TEMP || kind == TRACK_KIND_REEFER);
        fits = fits && (a != AN_DOOR || kind != TRACK_KIND_GPS_TRACKER);
        if (fits && n < AN__COUNT)
            ok[n++] = a;
    }
    return n ? ok[(size_t)(sim__unit(rng) * n) % (size_t)n] : AN_NONE;
}

static sim_anomaly sim__pick_anomaly(uint64_t *rng, track_device_kind kind)
{
    static const sim_anomaly tracker[] = {AN_DEVIATION, AN_STOP, AN_SILENCE, AN_JUMP,
                                          AN_OVERDUE};
    static const sim_anomaly eseal[] = {AN_SEAL_OPEN, AN_DEVIATION, AN_STOP, AN_SILENCE,
                                        AN_JUMP, AN_DOOR};
    static const sim_anomaly reefer[] = {AN_TEMP, AN_DOOR, AN_DEVIATION, AN_STOP};
    double u = sim__unit(rng);
    if (kind == TRACK_KIND_E_SEAL)
        return eseal[(size_t)(u * 6) % 6];
    if (kind == TRACK_KIND_REEFER)
        return reefer[(size_t)(u * 4) % 4];
    return tracker[(size_t)(u * 5) % 5];
}

static void sim__make_devices(sim *S)
{
    const app_sim_opts *o = S->o;
    static const char *const owners[] = {"CSQ", "MSC", "MAE", "TGH", "HLX", "ONE", "CMA", "EMC"};
    S->ndevs = o->devices;
    S->devs = calloc(S->ndevs, sizeof *S->devs);
    if (!S->devs)
        return;
    for (size_t i = 0; i < S->ndevs; i++) {
        sim_dev *d = &S->devs[i];
        uint64_t seed = o->seed * 1000003ULL + i * 7919ULL + 17;
        d->rng = seed;
        snprintf(d->id, sizeof d->id, "SIM-%05zu", i + 1);
        sim__container(d->container, owners[i % 8], (uint32_t)(100000 + i * 37 + o->seed % 1000));
        d->kind = i % 5 == 0 ? TRACK_KIND_REEFER : i % 5 == 1 ? TRACK_KIND_E_SEAL
                                                              : TRACK_KIND_GPS_TRACKER;
        /* the long Northern Corridor routes carry most of the trucks */
        double u = sim__unit(&d->rng);
        d->route = S->nroutes < 4 ? (int)(i % (size_t)S->nroutes)
                   : u < 0.30     ? 0
                   : u < 0.65     ? 1
                   : u < 0.95     ? 2
                                  : 3;
        const sim_route *r = &S->routes[d->route];
        d->offset_m = sim__unit(&d->rng) * r->length * 0.8;
        if (i < S->ndevs / 10 + 1 || r->length < 50000)
            d->offset_m = 0; /* some start from the port */
        d->speed_kmh = r->speed_kmh * (0.85 + 0.3 * sim__unit(&d->rng));
        d->lateral = 2 + 2 * sim__unit(&d->rng);
        d->battery = 60 + 40 * sim__unit(&d->rng);
        if (o->anomalies > 0 && sim__unit(&d->rng) < o->anomalies) {
            sim_anomaly kind = o->anomaly_kinds
                                   ? sim__pick_restricted(&d->rng, d->kind, o->anomaly_kinds)
                                   : sim__pick_anomaly(&d->rng, d->kind);
            if (kind == AN_NONE)
                continue;
            sim_an *a = &d->an[d->nan++];
            a->kind = kind;
            /* early enough to be seen in a short demo */
            a->at_s = 120 + sim__unit(&d->rng) * 1800;
            switch (a->kind) {
            case AN_DEVIATION: a->duration_s = 900; a->amount = 4000; break;
            case AN_STOP: a->duration_s = 2700; break;
            case AN_SILENCE: a->duration_s = 1800; break;
            case AN_JUMP: a->amount = 80; break;
            case AN_DOOR: a->duration_s = 600; break;
            case AN_TEMP: a->duration_s = 1500; a->amount = 13; break;
            case AN_SEAL_CYCLE:
                a->duration_s = o->anomaly_period_s > 0 ? o->anomaly_period_s : 20;
                a->at_s = sim__unit(&d->rng) * a->duration_s; /* spread the phases */
                break;
            default: break;
            }
        }
    }
}

static bool sim__an_parse(const char *s, sim_anomaly *out)
{
    for (int i = 1; i < AN__COUNT; i++)
        if (s && strcmp(an_names[i], s) == 0) {
            *out = (sim_anomaly)i;
            return true;
        }
    return false;
}

/* Scripted devices and messages from a scenario file. */
static cx_err sim__scenario(sim *S, char *err, size_t errlen)
{
    json_error_t je;
    json_t *sc = json_load_file(S->o->scenario, JSON_REJECT_DUPLICATES, &je);
    if (!sc) {
        snprintf(err, errlen, "%s: %s (line %d)", S->o->scenario, je.text, je.line);
        return CX_EPARSE;
    }
    const json_t *devs = json_object_get(sc, "devices");
    if (devs && json_array_size(devs)) {
        free(S->devs);
        S->ndevs = json_array_size(devs);
        S->devs = calloc(S->ndevs, sizeof *S->devs);
        if (!S->devs) {
            json_decref(sc);
            return CX_ENOMEM;
        }
    }
    size_t i;
    json_t *d;
    json_array_foreach(devs, i, d)
    {
        sim_dev *v = &S->devs[i];
        v->rng = S->o->seed * 1000003ULL + i * 7919ULL + 17;
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *rt = json_string_value(json_object_get(d, "route"));
        const char *ct = json_string_value(json_object_get(d, "container"));
        const char *kd = json_string_value(json_object_get(d, "kind"));
        if (!track_id_valid(id) || !rt) {
            snprintf(err, errlen, "%s: /devices/%zu needs an id and a route", S->o->scenario, i);
            json_decref(sc);
            return CX_EINVAL;
        }
        snprintf(v->id, sizeof v->id, "%s", id);
        if (ct)
            snprintf(v->container, sizeof v->container, "%s", ct);
        else
            sim__container(v->container, "CSQ", (uint32_t)(200000 + i));
        v->kind = TRACK_KIND_E_SEAL;
        if (kd)
            track_device_kind_parse(kd, &v->kind);
        v->route = -1;
        for (int k = 0; k < S->nroutes; k++)
            if (strcmp(S->routes[k].id, rt) == 0)
                v->route = k;
        if (v->route < 0) {
            snprintf(err, errlen, "%s: /devices/%zu/route: no route %s", S->o->scenario, i, rt);
            json_decref(sc);
            return CX_EINVAL;
        }
        const json_t *off = json_object_get(d, "offset_km"), *sp = json_object_get(d, "speed_kmh");
        v->offset_m = json_is_number(off) ? json_number_value(off) * 1000 : 0;
        v->speed_kmh = json_is_number(sp) ? json_number_value(sp) : S->routes[v->route].speed_kmh;
        v->lateral = 3;
        v->battery = 90;
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(d, "anomalies"), k, a)
        {
            if (v->nan >= 4)
                break;
            sim_an *an = &v->an[v->nan];
            if (!sim__an_parse(json_string_value(json_object_get(a, "kind")), &an->kind)) {
                snprintf(err, errlen, "%s: /devices/%zu/anomalies/%zu/kind: unknown",
                         S->o->scenario, i, k);
                json_decref(sc);
                return CX_EINVAL;
            }
            an->at_s = json_number_value(json_object_get(a, "at_s"));
            an->duration_s = json_number_value(json_object_get(a, "duration_s"));
            an->amount = json_number_value(json_object_get(a, "amount"));
            if (an->kind == AN_DEVIATION && an->amount == 0)
                an->amount = 4000;
            if (an->kind == AN_JUMP && an->amount == 0)
                an->amount = 80;
            if (an->kind == AN_TEMP && an->amount == 0)
                an->amount = 13;
            v->nan++;
        }
    }
    const json_t *ts = json_object_get(sc, "time_scale");
    if (json_is_number(ts) && json_number_value(ts) > 0)
        S->interval_ms *= json_number_value(ts) / (S->o->time_scale > 0 ? S->o->time_scale : 1);
    const char *st = json_string_value(json_object_get(sc, "start"));
    int64_t us;
    if (st && cx_rfc3339_parse(st, &us) == CX_OK)
        S->start_ms = us / 1000;
    S->messages = json_incref(json_object_get(sc, "messages"));
    json_decref(sc);
    return CX_OK;
}

/* The j-th report of device d as a JSON line; false if the device is
 * silent then. */
static bool sim__report(const sim *S, sim_dev *d, uint64_t j, int64_t ts, char *out, size_t cap,
                        size_t *len)
{
    const sim_route *r = &S->routes[d->route];
    double t = (double)(ts - S->start_ms) / 1000.0; /* seconds since start */
    if (t < 0)
        t = 0;
    double moving = t, lateral = d->lateral, jump_km = 0, temp = 4 + 0.3 * sin(t / 600);
    int seal = d->kind == TRACK_KIND_E_SEAL ? TRACK_SEAL_CLOSED : 0;
    int door = d->kind != TRACK_KIND_GPS_TRACKER ? TRACK_DOOR_CLOSED : 0;
    for (int k = 0; k < d->nan; k++) {
        const sim_an *a = &d->an[k];
        double since = t - a->at_s;
        switch (a->kind) {
        case AN_STOP:
            if (since > 0)
                moving -= since < a->duration_s ? since : a->duration_s;
            break;
        case AN_DEVIATION:
            if (since > 0 && since < a->duration_s) {
                /* ramps out over two minutes and back */
                double ramp = fmin(1, fmin(since, a->duration_s - since) / 120);
                lateral += a->amount * ramp;
            }
            break;
        case AN_SILENCE:
            if (since > 0 && since < a->duration_s)
                return false;
            break;
        case AN_JUMP:
            if (since >= 0 && since < S->interval_ms / 1000.0 * 1.0001)
                jump_km = a->amount;
            break;
        case AN_SEAL_OPEN:
            if (since > 0)
                seal = TRACK_SEAL_OPEN;
            break;
        case AN_SEAL_CYCLE: {
            double period = a->duration_s > 0 ? a->duration_s : 20;
            if (since > 0 && fmod(since, period) < period / 2)
                seal = TRACK_SEAL_OPEN;
            break;
        }
        case AN_DOOR:
            if (since > 0 && since < a->duration_s)
                door = TRACK_DOOR_OPEN;
            break;
        case AN_TEMP:
            if (since > 0 && since < a->duration_s)
                temp = a->amount;
            break;
        default: break;
        }
    }
    double s = d->offset_m + d->speed_kmh / 3.6 * moving;
    bool arrived = s >= r->length;
    double lat, lon, heading;
    sim__at(r, s, arrived ? 0 : lateral, &lat, &lon, &heading);
    /* GPS noise: a few metres */
    uint64_t rng = d->rng ^ (j * 0x9E3779B97F4A7C15ULL);
    lat += sim__gauss(&rng) * 4 / 111132.0;
    lon += sim__gauss(&rng) * 4 / (111320.0 * cos(lat * M_PI / 180));
    if (jump_km > 0) {
        lat += jump_km * 1000 * 0.7 / 111132.0;
        lon += jump_km * 1000 * 0.7 / (111320.0 * cos(lat * M_PI / 180));
    }
    double speed = arrived || moving < t - 1e-9 ? 0 : d->speed_kmh + sim__gauss(&rng) * 3;
    if (speed < 0)
        speed = 0;
    /* at the destination the seal is cut and the doors opened for inspection */
    if (arrived && d->kind == TRACK_KIND_E_SEAL && s - r->length > d->speed_kmh / 3.6 * 600)
        seal = TRACK_SEAL_OPEN;
    double batt = d->battery - t / 3600.0 * 0.5;
    if (batt < 5)
        batt = 5;
    int n = snprintf(out, cap, "{\"device\":\"%s\",\"ts\":%lld,\"lat\":%.6f,\"lon\":%.6f,"
                               "\"speed_kmh\":%.1f,\"heading\":%.0f",
                     d->id, (long long)ts, lat, lon, speed, heading);
    if (seal)
        n += snprintf(out + n, cap - (size_t)n, ",\"seal\":\"%s\"",
                      seal == TRACK_SEAL_OPEN ? "open" : "closed");
    if (door)
        n += snprintf(out + n, cap - (size_t)n, ",\"door\":\"%s\"",
                      door == TRACK_DOOR_OPEN ? "open" : "closed");
    if (d->kind == TRACK_KIND_REEFER)
        n += snprintf(out + n, cap - (size_t)n, ",\"temp_c\":%.1f", temp);
    n += snprintf(out + n, cap - (size_t)n, ",\"battery_pct\":%.0f}", batt);
    *len = (size_t)n;
    return true;
}

/* ---- the run --------------------------------------------------------------------------------- */

static void sim__free(sim *S)
{
    for (int i = 0; i < S->nroutes; i++) {
        free(S->routes[i].lon);
        free(S->routes[i].lat);
        free(S->routes[i].cum);
        json_decref(S->routes[i].geometry);
    }
    free(S->routes);
    free(S->devs);
    json_decref(S->zones);
    json_decref(S->messages);
}

void app_sim_defaults(app_sim_opts *o)
{
    *o = (app_sim_opts){.devices = 10, .rate = 10, .seed = 1, .time_scale = 1,
                          .connections = 4, .client_prefix = "customs-sim"};
}

int app_track_simulate(const app_sim_opts *o)
{
    sim S = {.o = o};
    char err[512];
    if (sim__load_routes(&S, err, sizeof err) != CX_OK) {
        fprintf(stderr, "customs track simulate: %s\n", err);
        sim__free(&S);
        return 1;
    }
    sim__extra_zones(&S, o->extra_zones);
    sim__make_devices(&S);
    S.start_ms = o->start_ms ? o->start_ms : cx_now_us() / 1000;
    S.live_clock = o->live_clock;
    /* each device reports every N/rate wall seconds, time_scale times that in event time */
    double rate = o->rate > 0 ? o->rate : 1000;
    S.interval_ms = (double)o->devices / rate * 1000.0 * o->time_scale;
    if (o->scenario && sim__scenario(&S, err, sizeof err) != CX_OK) {
        fprintf(stderr, "customs track simulate: %s\n", err);
        sim__free(&S);
        return 1;
    }
    if (o->scenario && S.ndevs != o->devices)
        S.interval_ms = (double)S.ndevs / rate * 1000.0 * o->time_scale;
    if (!S.devs) {
        sim__free(&S);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 0;
    if (o->register_all)
        rc = app__sim_register(&S);
    FILE *out = NULL;
    sim_mq M = {0};
    sim_http H;
    bool http = o->http_url != NULL;
    cx_buf batch;
    cx_buf_init(&batch, (size_t)16 << 20);
    if (!rc && o->out_path) {
        out = strcmp(o->out_path, "-") == 0 ? stdout : fopen(o->out_path, "w");
        if (!out) {
            fprintf(stderr, "customs track simulate: cannot write %s: %s\n", o->out_path,
                    strerror(errno));
            rc = 1;
        }
    }
    if (!rc && o->mqtt_url)
        rc = app__sim_mq_open(&S, &M);
    if (!rc && http)
        app__sim_http_init(&H, o->http_url, o->token, o->cacert);
    if (rc) {
        cx_buf_free(&batch);
        sim__free(&S);
        curl_global_cleanup();
        return rc;
    }
    if (!o->quiet)
        fprintf(stderr, "simulate: %zu devices on %d routes, %.0f msg/s, one report per device "
                "every %.1f s of event time (time scale %g)\n",
                S.ndevs, S.nroutes, o->rate, S.interval_ms / 1000, o->time_scale);
    int64_t t0 = cx_mono_us();
    uint64_t sent = 0, silent = 0, nextra = json_array_size(S.messages);
    char line[1024];
    for (uint64_t k = 0;; k++) {
        if (o->count && sent >= o->count)
            break;
        double elapsed = (double)(cx_mono_us() - t0) / 1e6;
        if (o->duration_s && elapsed >= o->duration_s)
            break;
        if (o->rate > 0) {
            /* pace: message k is due at k / rate; sleep only when at least
             * 200 us ahead, so high rates go out in small bursts */
            int64_t due = t0 + (int64_t)((double)k / o->rate * 1e6);
            int64_t ahead = due - cx_mono_us();
            while (ahead > 200) {
                if (M.c)
                    app__sim_mq_service(&M, ahead);
                else {
                    struct timespec ts = {(time_t)(ahead / 1000000), (long)(ahead % 1000000) * 1000};
                    nanosleep(&ts, NULL);
                }
                ahead = due - cx_mono_us();
            }
        }
        size_t len = 0;
        const char *devid = NULL;
        char *owned = NULL;
        if (k < nextra) {
            const json_t *m = json_array_get(S.messages, k);
            owned = cx_json_dump(m, NULL);
            if (!owned)
                continue;
            len = strlen(owned);
            devid = json_string_value(json_object_get(m, "device"));
            if (len >= sizeof line) {
                free(owned);
                continue;
            }
            memcpy(line, owned, len + 1);
            free(owned);
        } else {
            uint64_t q = k - nextra;
            sim_dev *d = &S.devs[q % S.ndevs];
            uint64_t j = q / S.ndevs;
            double phase = (double)(q % S.ndevs) / (double)S.ndevs;
            int64_t ts = S.start_ms + (int64_t)(((double)j + phase) * S.interval_ms);
            int64_t wall = cx_now_us() / 1000;
            /* a replay faster than time catches up with the clock and goes on live */
            if (S.live_clock || ts > wall)
                ts = wall;
            if (!sim__report(&S, d, j, ts, line, sizeof line, &len)) {
                silent++;
                continue;
            }
            devid = d->id;
        }
        sent++;
        if (out) {
            fwrite(line, 1, len, out);
            fputc('\n', out);
        } else if (M.c) {
            /* devices keep to one connection, so their messages stay in order */
            uint64_t h = 1469598103934665603ULL;
            for (const char *p = devid ? devid : ""; *p; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ULL;
            sim_conn *c = &M.c[h % M.n];
            int64_t stuck = cx_mono_us();
            uint64_t acked0 = c->acked;
            while (c->published - c->acked >= SIM_WINDOW || !c->up) {
                app__sim_mq_service(&M, 5000);
                if (c->acked != acked0 || c->up) {
                    stuck = cx_mono_us();
                    acked0 = c->acked;
                }
                if (cx_mono_us() - stuck > 120 * 1000000LL) {
                    fprintf(stderr, "customs track simulate: no progress with %s for 120 s; "
                            "giving up\n", o->mqtt_url);
                    rc = 1;
                    goto done;
                }
            }
            char topic[160];
            snprintf(topic, sizeof topic, "customs/telemetry/%s", devid ? devid : "unknown");
            int prc = mosquitto_publish_v5(c->mosq, NULL, topic, (int)len, line, 1, false, NULL);
            if (prc == MOSQ_ERR_INVAL || prc == MOSQ_ERR_NOMEM || prc == MOSQ_ERR_PAYLOAD_SIZE ||
                prc == MOSQ_ERR_MALFORMED_UTF8 || prc == MOSQ_ERR_OVERSIZE_PACKET ||
                prc == MOSQ_ERR_QOS_NOT_SUPPORTED) {
                fprintf(stderr, "customs track simulate: cannot publish: %s\n",
                        mosquitto_strerror(prc));
                rc = 1;
                goto done;
            }
            /* Any other outcome (a lost connection too) leaves the message in
             * libmosquitto's queue: it goes out, again if need be, after the
             * reconnect, and the run waits for its PUBACK. */
            c->published++;
            if ((sent & 255) == 0)
                app__sim_mq_service(&M, 0);
        } else if (http) {
            cx_err be = cx_buf_puts(&batch, batch.len ? "," : "[");
            if (be == CX_OK)
                be = cx_buf_append(&batch, line, len);
            if (be == CX_OK && sent % SIM_HTTP_BATCH == 0)
                be = cx_buf_puts(&batch, "]");
            if (be != CX_OK) {
                fprintf(stderr, "customs track simulate: a batch does not fit: %s\n",
                        cx_strerror(be));
                rc = 1;
                goto done;
            }
            if (sent % SIM_HTTP_BATCH == 0)
                app__sim_http_post(&H, "/v1/telemetry", cx_buf_steal(&batch, NULL), "telemetry",
                                   o->quiet);
        }
    }
done:
    if (http && batch.len && rc == 0 && cx_buf_puts(&batch, "]") == CX_OK)
        app__sim_http_post(&H, "/v1/telemetry", cx_buf_steal(&batch, NULL), "telemetry", o->quiet);
    cx_buf_free(&batch);
    double secs = (double)(cx_mono_us() - t0) / 1e6;
    uint64_t acked = 0;
    if (M.c && !app__sim_mq_close(&M, o->quiet))
        rc = 1;
    if (http) {
        app__sim_http_finish(&H, o->quiet);
        if (H.failed)
            rc = 1;
    }
    if (out && out != stdout)
        fclose(out);
    else if (out)
        fflush(out);
    double total = (double)(cx_mono_us() - t0) / 1e6;
    if (!o->quiet)
        fprintf(stderr, "simulate: sent %llu messages in %.2f s (%.0f msg/s; %.2f s until all "
                "acknowledged); %llu reports skipped by silences\n",
                (unsigned long long)sent, secs, secs > 0 ? (double)sent / secs : 0, total,
                (unsigned long long)silent);
    printf("sent=%llu seconds=%.3f total_seconds=%.3f\n", (unsigned long long)sent, secs, total);
    (void)acked;
    sim__free(&S);
    curl_global_cleanup();
    return rc;
}

