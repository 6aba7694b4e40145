/* Internal to the http module: shared by its files, never included elsewhere. */
#ifndef CUSTOMS_HTTP_INT_H
#define CUSTOMS_HTTP_INT_H

#include "http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#define HTTP_MAX_SEGS 16
#define HTTP_MAX_EXTRAS 16
#define HTTP_MAX_HEADERS 8
#define HTTP_NSTATUS 18
#define HTTP_NBUCKETS 14

extern const unsigned http_status_slots[HTTP_NSTATUS]; /* last slot: any other */
extern const double http_latency_bounds[HTTP_NBUCKETS];

typedef struct {
    _Atomic uint64_t count[HTTP_NSTATUS];
    _Atomic uint64_t hist[HTTP_NBUCKETS + 1];
    _Atomic uint64_t sum_us;
} http_route_metrics;

typedef struct {
    char *method;
    char *pattern;
    char *segs[HTTP_MAX_SEGS];  /* literal segments; NULL where a capture is */
    char *names[HTTP_MAX_SEGS]; /* capture names; NULL where a literal is */
    int nsegs;
    bool rest; /* the last capture takes the rest of the path */
    unsigned flags;
    http_handler fn;
    void *ctx;
    http_route_metrics *m;
    void *owned; /* freed with the route (http_routes' query check) */
} http_route_t;

struct http_server {
    int listen_fd;
    uint16_t port;
    unsigned threads; /* connection threads, i.e. simultaneous connections */
    size_t max_body;
    bool quiet;
    char *tls_cert, *tls_key;
    struct MHD_Daemon *mhd;

    http_route_t *routes;
    size_t nroutes;
    http_route_metrics other; /* requests that matched no route */

    http_auth_fn auth;
    void *auth_ctx;
    struct {
        http_metrics_fn fn;
        void *ctx;
    } extras[HTTP_MAX_EXTRAS];
    size_t nextras;

    _Atomic bool draining;
    _Atomic long inflight;
    pthread_mutex_t drain_mu;
    pthread_cond_t drain_cv;

    pthread_mutex_t streams_mu;
    struct http_stream *streams;
};

typedef enum {
    REQ_NEW,      /* headers seen, body arriving */
    REQ_HANDLING, /* handler running */
    REQ_DEFERRED, /* handler returned, reply will come from another thread */
    REQ_WAITING,  /* its connection thread waits for the reply */
    REQ_READY,    /* reply set, to be queued */
    REQ_QUEUED    /* handed to MHD */
} req_state;

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    char *path;
    const http_route_t *route;
    const char *params[HTTP_MAX_SEGS][2];
    int nparams;
    cx_buf body;
    bool body_too_big;
    size_t discarded;
    bool has_principal;
    cx_principal principal;
    char log_org[CX_ORG_MAX + 1];
    int64_t start_us;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    req_state state;
    unsigned status;
    struct MHD_Response *resp;
    char *hdr_names[HTTP_MAX_HEADERS], *hdr_values[HTTP_MAX_HEADERS];
    int nhdrs;
    struct http_stream *stream;
    void (*cleanup)(void *);
    void *cleanup_arg;
};

struct http_stream {
    http_server *srv;
    struct MHD_Connection *conn;
    http_stream_fn fn;
    void *ctx;
    void (*free_ctx)(void *);
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wake_pending;
    bool ended;
    struct http_stream *prev, *next;
};

enum MHD_Result http__access(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls);
void http__completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe);

const http_route_t *http__match(http_server *s, http_req *r, bool *method_mismatch,
                                char *allow, size_t allowcap);
void http__route_free(http_route_t *rt);
void http__observe(http_server *s, const http_route_t *rt, unsigned status, int64_t us);
struct MHD_Response *http__stream_response(http_req *r);
void http__streams_end(http_server *s);

#endif
