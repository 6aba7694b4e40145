/*
 * http.h — the door of the HTTP module: a libmicrohttpd server with a small
 * router, bearer-token authentication through a callback, bounded bodies,
 * JSON error bodies, asynchronous replies (for group commit), streams (for
 * Server-Sent Events), an access log and Prometheus metrics.
 * Public names carry the prefix http_.
 *
 * Threading: handlers run on the server's worker threads. A handler either
 * replies before returning, or calls http_defer() and some other thread later
 * replies and calls http_resume(). Every request gets exactly one reply.
 */
#ifndef CUSTOMS_HTTP_H
#define CUSTOMS_HTTP_H

#include "core.h"

#include <jansson.h>
#include <sys/types.h>

typedef struct http_server http_server;
typedef struct http_req http_req;

typedef struct {
    const char *listen;   /* "HOST:PORT" ("[::1]:8080" for IPv6); port 0 = any free port */
    const char *tls_cert; /* PEM file; with tls_key enables HTTPS */
    const char *tls_key;
    unsigned threads;     /* connection threads = simultaneous connections; 0 = 1024 */
    size_t max_body;      /* request body cap in bytes; 0 = 1 MiB */
    bool quiet;           /* no access log */
} http_config;

/* Binds the listening socket at once, so "port in use" is reported here with
 * a sentence in err. *out is freed with http_server_free(). */
cx_err http_server_new(const http_config *cfg, http_server **out, char *err, size_t errlen);

/* Route flags. */
#define HTTP_AUTH 1u /* needs Authorization: Bearer <token>; 401 otherwise */
#define HTTP_JSON 2u /* POST body must be application/json; 415 otherwise */
#define HTTP_FALLBACK 4u /* a catch-all: other methods on it get 404, not 405 */

typedef void (*http_handler)(http_req *r, void *ctx);

/* Patterns are literal segments and {name} captures: "/v1/declarations/{id}";
 * a last capture written {name*} takes the rest of the path ("a/b.js").
 * Routes are matched in the order added. Call before http_server_start. */
cx_err http_route(http_server *s, const char *method, const char *pattern, unsigned flags,
                  http_handler h, void *ctx);

/* Calls fn for every route added, in the order added, with its method,
 * pattern (as given to http_route) and flags; strings live as long as the
 * server. For listings and for checking the API description against what
 * is served (docs/openapi.json, `customs serve --list-routes`). */
typedef void (*http_route_each_fn)(void *ctx, const char *method, const char *pattern,
                                   unsigned flags);
void http_routes_each(const http_server *s, http_route_each_fn fn, void *ctx);

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
const char *http_body(const http_req *r, size_t *len);
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

#endif
