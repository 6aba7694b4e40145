/* Internal to the http module: shared by its files, never included elsewhere.
 *
 * Who owns what:
 *  - the loop thread (http_loop.c, http_conn.c) owns every connection, its
 *    buffers, timers and the per-address table;
 *  - a request (http_req) is the loop's, except while a worker runs its
 *    handler or another thread holds it deferred; it comes back to the loop
 *    through the loop's event queue (http__post) and only the loop frees it;
 *  - a stream is the loop's, except while a worker calls its fn (a pull).
 */
#ifndef CUSTOMS_HTTP_INT_H
#define CUSTOMS_HTTP_INT_H

#include "http.h"
#include "http_parse.h"

#include <gnutls/gnutls.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#define HTTP_MAX_SEGS 16
#define HTTP_MAX_EXTRAS 16
#define HTTP_MAX_HEADERS 8
#define HTTP_MAX_ARGS 128
#define HTTP_NSTATUS 18
#define HTTP_NBUCKETS 14
#define HTTP_STREAM_CHUNK 16384

extern const unsigned http_status_slots[HTTP_NSTATUS]; /* last slot: any other */
extern const double http_latency_bounds[HTTP_NBUCKETS];

/* ---- routes --------------------------------------------------------------- */

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
    size_t max_body;
    bool spool;
    char **accept; /* NULL-terminated lowercase media types, or NULL */
    http_handler fn;
    void *ctx;
    http_route_metrics *m;
    void *owned;       /* freed with the route (http_routes' query check) */
    const char *query; /* the query parameters it takes (in owned), NULL: unchecked */
} http_route_t;

/* ---- worker pool (http_pool.c) -------------------------------------------- */

typedef struct http_task {
    void (*run)(struct http_task *t);
    struct http_task *next;
} http_task;

typedef struct http_pool http_pool;
cx_err http__pool_new(unsigned threads, http_pool **out);
/* Queues the n tasks head..tail (linked by next) at once, waking at most n
 * idle threads; never blocks on work, never fails (tasks are embedded in
 * their owners). */
void http__pool_push(http_pool *p, http_task *head, http_task *tail, unsigned n);
/* Runs what is queued, then joins the threads. */
void http__pool_free(http_pool *p);
unsigned http__pool_busy(http_pool *p);
unsigned http__pool_queued(http_pool *p);

/* ---- events handed to the loop thread ---------------------------------------- */

enum { EV_REPLY = 1, EV_AUTHED, EV_PULLED, EV_WAKE };

typedef struct http_event {
    int kind;
    struct http_event *next;
} http_event;

/* ---- limits (http_limits.c) ----------------------------------------------------- */

/* One client address (IPv4, or an IPv6 /64): open connections and the token
 * bucket of unauthenticated requests. Loop thread only. */
typedef struct {
    uint8_t addr[16];
    bool used;
    uint32_t conns;
    double tokens;
    int64_t last_us;
} http_addr_slot;

typedef struct {
    http_addr_slot *v;
    size_t cap, n; /* cap is a power of two */
    uint8_t key[crypto_shorthash_KEYBYTES];
    double rate, burst; /* rate < 0: unlimited */
} http_addrs;

cx_err http__addrs_init(http_addrs *t, size_t max_conns, double rate, double burst);
void http__addrs_free(http_addrs *t);
/* The slot of a, created if needed (NULL only if the table cannot grow). */
http_addr_slot *http__addr_get(http_addrs *t, const uint8_t a[16], int64_t now_us);
/* Takes a token for an unauthenticated request; false with the seconds to
 * wait when the bucket is empty. */
bool http__addr_take(http_addrs *t, http_addr_slot *s, int64_t now_us, unsigned *retry_after);
/* A connection of a closed. */
void http__addr_release(http_addrs *t, const uint8_t a[16], int64_t now_us);

/* Per key / per organisation counters, any thread. */
enum { QUOTA_INFLIGHT, QUOTA_STREAM };
typedef struct http_quota http_quota;
cx_err http__quota_new(http_quota **out);
void http__quota_free(http_quota *q);
/* Counts one more of kind for p; false (nothing counted) over a limit, with
 * *which = "key" or "organisation". */
bool http__quota_take(http_quota *q, const cx_principal *p, int kind, unsigned key_max,
                      unsigned org_max, const char **which);
void http__quota_give(http_quota *q, int64_t key_id, const char *org, int kind);

/* ---- the server -------------------------------------------------------------------- */

typedef struct http_conn http_conn;
typedef struct http_stream http_stream;

enum { T_HEAD, T_IDLE, T_BODY, T_WRITE, T_LINGER, T_COUNT };

typedef struct {
    http_conn *head, *tail;
    int64_t dur_us;
} http_timer_list;

struct http_server {
    /* configuration */
    int listen_fd;
    uint16_t port;
    unsigned threads;
    size_t max_body;
    bool quiet;
    unsigned max_conns, max_per_addr, max_inflight_key, max_streams_key, max_streams_org;
    unsigned body_min_rate;
    hp_limits limits;
    char *tmp_dir;
    uint8_t metrics_hash[32];
    bool metrics_token;
    gnutls_certificate_credentials_t tls_cred;
    gnutls_datum_t tls_ticket_key;
    bool tls;

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

    /* running */
    http_pool *pool;
    http_quota *quota;
    pthread_t loop_thread;
    bool started;
    int epfd, evfd;
    _Atomic(http_event *) q_top; /* events for the loop: a lock-free stack */
    _Atomic int cmd; /* 1 = drain, 2 = stop */

    /* loop thread only */
    http_task *tasks_head, *tasks_tail; /* for the pool, handed over once a round */
    unsigned ntasks;
    http_timer_list timers[T_COUNT];
    http_conn *conns;  /* every open connection */
    http_conn *ready;  /* connections to drive again without an epoll event */
    http_conn *graveyard; /* closed, freed at the end of the loop's round */
    http_addrs addrs;
    unsigned nconns;
    bool accepting;
    int64_t accept_resume_us;
    bool drained;
    char date[40];
    int64_t date_sec;

    _Atomic bool draining;
    _Atomic long inflight; /* requests and streams not yet over */
    pthread_mutex_t drain_mu;
    pthread_cond_t drain_cv;

    /* counters for /metrics */
    _Atomic uint64_t n_accepted, n_refused[8];
    _Atomic long n_conns, n_streams;
};

/* reasons a caller was refused or cut off (n_refused) */
enum {
    REF_MAX_CONNS, REF_PER_ADDR, REF_RATE, REF_INFLIGHT, REF_STREAMS,
    REF_HEADER_TIMEOUT, REF_BODY_TIMEOUT, REF_FRAMING
};

/* ---- requests ------------------------------------------------------------------------ */

typedef enum { PH_AUTH, PH_HANDLE } req_phase;

struct http_req {
    http_server *srv;
    http_conn *conn;
    hp_request rq;
    char *head;  /* the request head, parsed in place (rq points into it) */
    const char *method;
    char *path;  /* decoded */
    const http_route_t *route;
    const char *params[HTTP_MAX_SEGS][2];
    int nparams;
    char *args[HTTP_MAX_ARGS][2]; /* decoded query arguments, inside head */
    int nargs;

    /* body */
    bool has_body, body_done;
    uint64_t body_max, body_left; /* left: of a Content-Length body */
    hp_chunked ch;
    cx_buf body;
    int body_fd;
    size_t body_len;
    void *body_map;
    pthread_mutex_t map_mu;

    /* caller */
    bool has_principal;
    cx_principal principal;
    bool quota_held; /* one QUOTA_INFLIGHT counted for the principal */
    char log_org[CX_ORG_MAX + 1];
    int64_t start_us;
    uint8_t addr[16];

    /* handler / reply state, under mu */
    pthread_mutex_t mu;
    bool in_handler, deferred, resumed, completed;
    req_phase phase;
    bool auth_ok;
    unsigned status;
    char *ctype;
    char *rbody;
    size_t rlen;
    char *hdr_names[HTTP_MAX_HEADERS], *hdr_values[HTTP_MAX_HEADERS];
    int nhdrs;
    struct http_stream *stream;
    void (*cleanup)(void *);
    void *cleanup_arg;
    bool keep_alive; /* the reply may leave the connection open */

    /* serialised reply, made by the thread that completes the request */
    char *out_head;
    size_t out_head_len;
    size_t out_sent; /* bytes of it a worker already wrote */

    http_task task;
    http_event ev;
};

http_req *http__req_new(http_server *s, http_conn *c);
void http__req_free(http_req *r); /* loop thread; runs http_on_done's fn on a worker */
void http__req_release_quota(http_req *r); /* gives back the in-flight slot, once */
/* Serialises the reply (500 if there is none) and posts it to the loop. On
 * a worker (direct), a plain-HTTP reply is also sent right away as far as the
 * socket takes it: the loop only writes what is left. */
void http__req_complete(http_req *r, bool direct);
/* Serialises a reply into r->out_head (status line and headers). */
void http__req_serialise(http_req *r);
/* Runs on a worker: authentication (PH_AUTH) or the handler (PH_HANDLE). */
void http__req_run(http_task *t);
bool http__ctype_ok(http_req *r, const http_route_t *rt);
/* True if every query parameter of r is in names (" limit cursor ", " * "
 * any), each once; otherwise replies 400 invalid_parameter naming it. */
bool http__query_ok(http_req *r, const char *names);
/* http_route_ex whose handler runs only for a query in names (http_routes'
 * form: "limit cursor", "" none, "*" any); the route lists names. */
cx_err http__route_checked(http_server *s, const char *method, const char *pattern,
                           unsigned flags, const http_route_opts *opts, const char *names,
                           http_handler fn, void *ctx);
bool http__metrics_allowed(http_server *s, http_req *r);
void http__log(http_server *s, http_req *r, bool answered);

/* ---- streams ---------------------------------------------------------------------------- */

struct http_stream {
    http_server *srv;
    http_conn *conn; /* loop thread */
    http_stream_fn fn;
    void *ctx;
    void (*free_ctx)(void *);
    int64_t key_id;
    char org[CX_ORG_MAX + 1];
    bool counted; /* holds a QUOTA_STREAM */
    bool chunked; /* HTTP/1.1: chunked coding; 1.0: until close */
    char *buf;    /* HTTP_STREAM_CHUNK of data with room for the chunk framing */
    ssize_t got;  /* the last pull's result */
    /* loop thread */
    bool pulling, want_pull, writing, stop, closing, finished;
    _Atomic unsigned wake; /* WAKE_QUEUED | WAKE_DEAD */
    http_task task;
    http_event ev_pull, ev_wake;
};

/* Loop thread. */
void http__stream_start(http_stream *st, http_conn *c); /* its head is written */
void http__stream_pulled(http_stream *st);  /* EV_PULLED */
void http__stream_woken(http_stream *st);   /* EV_WAKE */
void http__stream_written(http_stream *st); /* its output is out */
void http__stream_stop(http_stream *st);    /* end it cleanly (drain) */
void http__stream_gone(http_stream *st);    /* its connection closed */
void http__stream_discard(http_stream *st); /* never started: the reply was not sent */

/* ---- the loop and connections ---------------------------------------------------------------- */

enum { C_HANDSHAKE, C_HEAD, C_BODY, C_WAIT, C_WRITE, C_STREAM, C_LINGER, C_CLOSED };

typedef struct {
    char *data;
    size_t len;
    bool owned;
} http_piece;

/* One client connection: a few hundred bytes while idle (the input buffer is
 * freed between requests). Loop thread only. */
struct http_conn {
    http_server *srv;
    int fd;
    gnutls_session_t tls;
    uint8_t addr[16];
    bool counted;  /* holds a connection of its address slot */
    bool refused;  /* accepted only to say 429/503 */
    int state;
    bool readable, writable; /* edge-triggered: false only after EAGAIN */
    bool req_out;  /* the request is with a worker or deferred */
    bool shut;     /* our side is shut down (lingering) */
    bool freed_queued;
    /* input */
    char *in;
    size_t in_off, in_len, in_cap;
    hp_scan scan;
    /* the request and stream on this connection */
    http_req *req;
    http_stream *stream;
    /* output */
    http_piece out[4];
    unsigned nout;
    size_t out_off; /* into out[0] */
    bool close_after, linger_after;
    /* timers */
    http_conn *tprev, *tnext;
    int tkind; /* -1: none */
    int64_t deadline;
    int64_t linger_end;
    uint64_t win_bytes; /* body bytes in the current rate window */
    /* lists */
    http_conn *prev, *next;
    http_conn *ready_next;
    bool in_ready;
};

void *http__loop_main(void *arg);
/* Any thread: hands an event to the loop. */
void http__post(http_server *s, http_event *ev);
/* Loop thread: queues a task for the pool (handed over at the end of the round). */
void http__task(http_server *s, http_task *t);
void http__tasks_flush(http_server *s);
#define WAKE_QUEUED 1u
#define WAKE_DEAD 2u
void http__loop_signal(http_server *s);

void http__conn_accept(http_server *s);
void http__conn_event(http_conn *c, uint32_t events);
void http__conn_drive(http_conn *c);
void http__conn_reply_ready(http_conn *c, http_req *r);   /* EV_REPLY */
void http__conn_authed(http_conn *c, http_req *r);        /* EV_AUTHED */
void http__conn_timeout(http_conn *c, int kind, int64_t now);
void http__conn_close(http_conn *c);
/* Queues bytes for the connection; owned ones are freed once written. */
void http__conn_write(http_conn *c, char *data, size_t len, bool owned);
/* http_io.c: > 0 bytes, 0 end of stream, -1 would block, -2 error */
ssize_t http__conn_recv(http_conn *c, char *buf, size_t cap);
/* Reads once into the input buffer, grown up to cap (-3: full). */
ssize_t http__conn_fill(http_conn *c, size_t cap);
/* 1 all written, 0 would block, -1 error */
int http__conn_flush(http_conn *c);
void http__conn_drop_output(http_conn *c);
void http__conn_advance(http_conn *c, size_t n); /* n bytes of the output are out */
void http__conn_free_input(http_conn *c);
void http__conn_ready(http_conn *c); /* drive it again next round */
void http__conn_drain(http_conn *c); /* the server is draining */
void http__conn_reap(http_server *s); /* frees the closed connections */
void http__conn_stop_all(http_server *s); /* closes all that wait for nothing */
void http__conn_free_all(http_server *s); /* at the end: nothing refers to any */
void http__conn_bury(http_conn *c);   /* frees c once nothing refers to it */

/* ---- bodies (http_body.c) --------------------------------------------------------------------- */

/* Prepares r's body sink (memory or a spool file); false with a reply set. */
bool http__body_begin(http_req *r);
/* Takes body bytes from in[0..len): 0 = more needed, 1 = complete, -1 =
 * refused (reply set). *used says how many bytes were taken. */
int http__body_feed(http_req *r, const char *in, size_t len, size_t *used);
void http__body_free(http_req *r);
bool http__conn_idle(const http_conn *c);

void http__timer_set(http_server *s, http_conn *c, int kind, int64_t now);
void http__timer_clear(http_server *s, http_conn *c);
const char *http__date(http_server *s);

/* ---- TLS (http_tls.c) ------------------------------------------------------------------------ */

cx_err http__tls_init(http_server *s, const char *cert_file, const char *key_file, char *err,
                      size_t errlen);
void http__tls_free(http_server *s);
gnutls_session_t http__tls_session(http_server *s, int fd);

/* ---- router and metrics ------------------------------------------------------------------------ */

const http_route_t *http__match(http_server *s, http_req *r, bool *method_mismatch,
                                char *allow, size_t allowcap);
void http__route_free(http_route_t *rt);
void http__observe(http_server *s, const http_route_t *rt, unsigned status, int64_t us);

#endif
