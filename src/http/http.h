/*
 * http.h — the door of the HTTP module: an event-driven HTTP/1.1 server (one
 * epoll thread for every connection, a bounded pool of worker threads for
 * handlers; TLS through GnuTLS) with a strict parser (RFC 9112), a small
 * router, bearer-token authentication through a callback, per-route body
 * limits (large bodies spooled to temporary files), multipart/form-data,
 * JSON error bodies, asynchronous replies (for group commit), streams (for
 * Server-Sent Events), timeouts and per-caller limits, an access log and
 * Prometheus metrics. Public names carry the prefix http_.
 *
 * Threading: handlers run on the server's worker threads. A handler either
 * replies before returning, or calls http_defer() and some other thread later
 * replies and calls http_resume(); a deferred request holds no thread while
 * it waits. Every request gets exactly one reply.
 */
#ifndef CUSTOMS_HTTP_H
#define CUSTOMS_HTTP_H

#include "core.h"

#include <jansson.h>
#include <sys/types.h>

typedef struct http_server http_server;
typedef struct http_req http_req;

/* Every number: 0 = the default given. Over a limit the caller gets a JSON
 * 429 too_many_requests (503 unavailable for the server-wide connection cap)
 * with Retry-After; nobody else is affected. */
typedef struct {
    const char *listen;   /* "HOST:PORT" ("[::1]:8080" for IPv6); port 0 = any free port */
    const char *tls_cert; /* PEM file; with tls_key enables HTTPS */
    const char *tls_key;
    unsigned threads;     /* worker threads that run handlers; 16 */
    size_t max_body;      /* body cap of routes that name none, bytes; 1 MiB */
    bool quiet;           /* no access log */
    /* connections */
    unsigned max_connections;      /* open at once; 16384 (fitted under RLIMIT_NOFILE) */
    unsigned max_conns_per_addr;   /* per client address (IPv6: per /64); 1024 */
    /* per API key and organisation (HTTP_AUTH routes) */
    unsigned max_inflight_per_key; /* requests being handled or awaiting their reply; 256 */
    unsigned max_streams_per_key;  /* open streams (Server-Sent Events); 32 */
    unsigned max_streams_per_org;  /* 256 */
    /* requests on routes without HTTP_AUTH, per client address: a token bucket */
    double anon_rate;              /* requests per second; 100; < 0 = unlimited */
    unsigned anon_burst;           /* bucket size; 400 */
    /* timeouts in milliseconds */
    unsigned header_timeout_ms;    /* request line + headers (and TLS handshake); 10 s */
    unsigned idle_timeout_ms;      /* keep-alive connection between requests; 60 s */
    unsigned body_timeout_ms;      /* window over which body_min_rate is checked; 10 s */
    unsigned body_min_rate;        /* bytes per second a body must keep up; 1024 */
    unsigned send_timeout_ms;      /* a reply the client does not read; 60 s */
    const char *tmp_dir;           /* spooled bodies; $TMPDIR, else /var/tmp */
    const char *metrics_token_file; /* token for HTTP_METRICS routes: a 0600 file; NULL = open */
} http_config;

/* Binds the listening socket at once, so "port in use" is reported here with
 * a sentence in err. *out is freed with http_server_free(). */
cx_err http_server_new(const http_config *cfg, http_server **out, char *err, size_t errlen);

/* Route flags. */
#define HTTP_AUTH 1u /* needs Authorization: Bearer <token>; 401 otherwise */
#define HTTP_JSON 2u /* POST body must be application/json; 415 otherwise */
#define HTTP_FALLBACK 4u /* a catch-all: other methods on it get 404, not 405 */
#define HTTP_METRICS 8u  /* needs the metrics token when one is configured; 401 otherwise */

typedef void (*http_handler)(http_req *r, void *ctx);

/* Patterns are literal segments and {name} captures: "/v1/declarations/{id}";
 * a last capture written {name*} takes the rest of the path ("a/b.js").
 * Routes are matched in the order added. Call before http_server_start. */
cx_err http_route(http_server *s, const char *method, const char *pattern, unsigned flags,
                  http_handler h, void *ctx);

/* What a route accepts as a body (http_route_ex). */
typedef struct {
    size_t max_body;           /* bytes; 0 = the server's max_body (1 MiB) */
    bool spool;                /* keep the body in an unlinked temporary file, not in memory */
    const char *const *accept; /* media types the body may have, NULL-terminated, e.g.
                                  {"image/jpeg", "application/octet-stream", NULL} or
                                  {"multipart/form-data", NULL}; NULL = any (with HTTP_JSON:
                                  application/json). Copied. */
} http_route_opts;

/* http_route with body options; opts may be NULL. A body over max_body is
 * refused with 413 before it is read when its length is announced (and once
 * it passes the limit when chunked); a spooled body never sits in memory. */
cx_err http_route_ex(http_server *s, const char *method, const char *pattern, unsigned flags,
                     const http_route_opts *opts, http_handler h, void *ctx);

/* Resolves a bearer token into a principal; CX_EAUTH if not valid. Called on
 * worker threads. */
typedef cx_err (*http_auth_fn)(void *ctx, const char *token, cx_principal *out);
void http_set_auth(http_server *s, http_auth_fn fn, void *ctx);

/* Extra /metrics text from other modules (Prometheus exposition format). */
typedef void (*http_metrics_fn)(void *ctx, cx_buf *out);
void http_add_metrics(http_server *s, http_metrics_fn fn, void *ctx);
/* Renders every metric into out (built-in request metrics, then extras). */
void http_metrics_render(http_server *s, cx_buf *out);

cx_err http_server_start(http_server *s, char *err, size_t errlen);
uint16_t http_server_port(const http_server *s);
bool http_server_tls(const http_server *s);

/* Stops accepting, ends streams, waits up to timeout_ms for requests in
 * flight to finish. Call before freeing what handlers use. */
void http_server_drain(http_server *s, int timeout_ms);
void http_server_free(http_server *s);

/* ---- request accessors: strings owned by the request ---------------------- */
const char *http_method(const http_req *r);
const char *http_path(const http_req *r);
const char *http_param(const http_req *r, const char *name);
const char *http_query(const http_req *r, const char *name);
/* Calls fn for every query-string argument in order (decoded; value "" when
 * the argument has no '='); fn returns false to stop. */
typedef bool (*http_kv_fn)(void *ctx, const char *key, const char *value);
void http_query_each(const http_req *r, http_kv_fn fn, void *ctx);
const char *http_header(const http_req *r, const char *name);
/* The body, whole. For a spooled body the bytes are a read-only mapping of
 * its file (page cache, not heap); "" with *len 0 if there is none. */
const char *http_body(const http_req *r, size_t *len);
/* A spooled body's file: a descriptor owned by the request (do not close;
 * use pread, or /proc/self/fd/N for libraries that want a path), -1 when the
 * body is in memory. *len (may be NULL) gets its size. */
int http_body_file(const http_req *r, size_t *len);
/* The caller, on HTTP_AUTH routes; NULL elsewhere. */
const cx_principal *http_principal(const http_req *r);
/* Sets the org shown in the access log on routes without HTTP_AUTH. */
void http_set_log_org(http_req *r, const char *org);

/* ---- replies ---------------------------------------------------------------- */
/* Adds a response header (copied). Call before the reply. */
void http_reply_header(http_req *r, const char *name, const char *value);
/* body was allocated with malloc and is freed by the server. */
void http_reply(http_req *r, unsigned status, const char *ctype, char *body, size_t len);
/* Copies body. */
void http_reply_copy(http_req *r, unsigned status, const char *ctype, const char *body,
                     size_t len);
/* Steals j (json_decref'd by the server). */
void http_reply_json(http_req *r, unsigned status, json_t *j);
/* {"error":{"code","message","details"}}; details is stolen and may be NULL. */
void http_reply_error(http_req *r, unsigned status, const char *code, const char *message,
                      json_t *details);
/* Same, with one detail {path, message}. */
void http_reply_error1(http_req *r, unsigned status, const char *code, const char *message,
                       const char *path, const char *detail);

/* fn(arg) runs on a worker thread once the request is over (answered or
 * aborted): a place to free what a deferred reply still pointed into. */
void http_on_done(http_req *r, void (*fn)(void *), void *arg);

/* The reply will come from another thread. After replying, that thread must
 * call http_resume(r) exactly once; r must not be touched afterwards. */
void http_defer(http_req *r);
void http_resume(http_req *r);

/* ---- streams -------------------------------------------------------------
 * fn fills buf with up to max bytes and returns the count; 0 means "nothing
 * now" and parks the connection until http_stream_wake(); -1 ends the stream.
 * fn runs on a worker thread; free_ctx runs once when the stream ends. The
 * handle stays valid until free_ctx is called. */
typedef struct http_stream http_stream;
typedef ssize_t (*http_stream_fn)(void *ctx, char *buf, size_t max);
http_stream *http_reply_stream(http_req *r, unsigned status, const char *ctype,
                               http_stream_fn fn, void *ctx, void (*free_ctx)(void *ctx));
/* Safe from any thread, any number of times. */
void http_stream_wake(http_stream *st);
/* Over the per-key or per-organisation stream limit, http_reply_stream
 * answers 429 too_many_requests itself, calls free_ctx and returns NULL. */

/* ---- multipart/form-data (RFC 7578) --------------------------------------
 * A bounded streaming reader: parts come one after another, each read in
 * pieces, so a 64 MiB file part never has to be in memory.
 *
 *   http_multipart *m;
 *   if (http_multipart_open(r, &m, err, sizeof err) != CX_OK) -> 400 / 415
 *   http_part p;
 *   while ((rc = http_multipart_next(m, &p, err, sizeof err)) == 1)
 *       while ((n = http_multipart_read(m, buf, sizeof buf)) > 0) ...
 *   rc < 0 or n < 0: malformed (err says why) -> 400
 *   http_multipart_free(m);
 */
typedef struct http_multipart http_multipart;
typedef struct {
    const char *name;     /* the form field (Content-Disposition name) */
    const char *filename; /* the file's name without directories; NULL if not a file */
    const char *ctype;    /* the part's Content-Type; "text/plain" when absent */
} http_part;               /* strings valid until the next http_multipart_next */

/* Reads bytes: count, 0 at the end, -1 on error. */
typedef ssize_t (*http_read_fn)(void *ctx, void *buf, size_t cap);

/* A reader over r's body (in memory or spooled); r's Content-Type must be
 * multipart/form-data with a boundary. *out is freed with
 * http_multipart_free (before the request ends). */
cx_err http_multipart_open(http_req *r, http_multipart **out, char *err, size_t errlen);
/* A reader over any source; content_type is the whole Content-Type value. */
cx_err http_multipart_new(const char *content_type, http_read_fn rd, void *rd_ctx,
                          http_multipart **out, char *err, size_t errlen);
/* Next part: 1 = *p is filled, 0 = no more parts, -1 = malformed (err).
 * What is left of the previous part is skipped. At most 1,000 parts with
 * 8 KiB of headers each. */
int http_multipart_next(http_multipart *m, http_part *p, char *err, size_t errlen);
/* Up to cap bytes of the current part: count, 0 at the part's end, -1 if
 * the body is malformed (http_multipart_next then says why). */
ssize_t http_multipart_read(http_multipart *m, void *buf, size_t cap);
void http_multipart_free(http_multipart *m);

#endif
