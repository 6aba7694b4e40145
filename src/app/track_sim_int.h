/* Internal to the simulator of the command line (track_sim.c: the world
 * and the run; track_sim_net.c: publishing over HTTP and MQTT). */
#ifndef CUSTOMS_APP_TRACK_SIM_INT_H
#define CUSTOMS_APP_TRACK_SIM_INT_H

#include "app.h"

#include <curl/curl.h>
#include <mosquitto.h>

#define SIM_WINDOW 20000  /* published and not yet acknowledged, per connection */
#define SIM_HTTP_BATCH 500


typedef struct {
    char id[TRACK_ID_MAX + 1];
    char origin[TRACK_ID_MAX + 1], dest[TRACK_ID_MAX + 1];
    double corridor_m, speed_kmh;
    size_t n;
    double *lon, *lat, *cum; /* unwrapped lon; cumulative metres */
    double length;
    json_t *geometry;
} sim_route;

typedef enum {
    AN_NONE, AN_DEVIATION, AN_STOP, AN_SEAL_OPEN, AN_SILENCE, AN_JUMP, AN_DOOR, AN_TEMP,
    AN_SEAL_CYCLE, AN_OVERDUE, AN__COUNT
} sim_anomaly;
typedef struct {
    sim_anomaly kind;
    double at_s, duration_s, amount; /* amount: metres (deviation), km (jump), degrees C */
} sim_an;

typedef struct {
    char id[TRACK_ID_MAX + 1];
    char container[16];
    char decl[64];
    track_device_kind kind;
    int route;
    double offset_m, speed_kmh;
    double lateral;  /* side of the road (m), a lane's worth */
    uint64_t rng;
    sim_an an[4];
    int nan;
    double battery;
} sim_dev;

typedef struct {
    const app_sim_opts *o;
    sim_route *routes;
    int nroutes;
    json_t *zones; /* array of zone documents */
    sim_dev *devs;
    size_t ndevs;
    int64_t start_ms;
    double interval_ms; /* event time between a device's reports */
    json_t *messages;   /* scenario: explicit messages, sent first */
    bool live_clock;
} sim;


typedef struct {
    cx_buf body;
    long status;
} sim_resp;

typedef struct {
    CURLM *multi;
    struct curl_slist *hdrs;
    size_t running;
    uint64_t ok, conflict, failed;
    char base[512];
    const char *cacert; /* borrowed; NULL: the system's CAs */
} sim_http;

typedef struct {
    CURL *h;
    char *payload;
    sim_resp resp;
    char what[96];
} sim_req;

typedef struct {
    struct mosquitto *mosq;
    uint64_t published, acked;
    bool up;
    int64_t retry_at;
    int backoff_ms;
} sim_conn;

typedef struct {
    sim_conn *c;
    unsigned n;
    char host[256];
    int port;
} sim_mq;

void app__sim_http_init(sim_http *H, const char *base, const char *token, const char *cacert);
void app__sim_http_post(sim_http *H, const char *path, char *payload, const char *what,
                           bool quiet);
void app__sim_http_finish(sim_http *H, bool quiet);
int app__sim_register(sim *S);
void app__sim_mq_service(sim_mq *M, int64_t wait_us);
int app__sim_mq_open(sim *S, sim_mq *M);
bool app__sim_mq_close(sim_mq *M, bool quiet);

#endif
