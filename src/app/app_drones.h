/* The drones command's internals shared by its files in src/app (the
 * simulator lives here, not in the library). */
#ifndef CUSTOMS_APP_DRONES_H
#define CUSTOMS_APP_DRONES_H

#include "drones.h"

typedef struct {
    const char *out_path;  /* write a pcap file, or */
    const char *http_url;  /* POST observations to URL/v1/drones/observations, or */
    const char *mqtt_url;  /* publish them to customs/remoteid/<receiver> at QoS 1 */
    const char *token;
    const char *receiver;  /* the receiver named in the POSTs */
    const char *scenario;  /* JSON flights; NULL = the built-in three */
    uint64_t seed;
    int64_t start_us;      /* event time of the scenario's start */
    uint64_t frames;       /* 0: the scenario once; else repeat it to this many */
    bool realtime;         /* pace POSTs by event time */
    bool quiet;
} app_drones_sim;

/* Returns a process exit code; reports on stderr. */
int app_drones_simulate(const app_drones_sim *o);

#endif
