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

/* Calls fn for every route added, in the order added, with its method,
 * pattern (as given to http_route), flags and the query parameters it takes
 * (http_routes' list between spaces, " limit cursor "; "  " none, " * "
 * any, checked by the handler; NULL for a route added with http_route or
 * http_route_ex, which passes any query to its handler unchecked); strings
 * live as long as the server. For listings and for checking the API
 * description against what is served (docs/openapi.json, `customs serve
 * --list-routes`). */
typedef void (*http_route_each_fn)(void *ctx, const char *method, const char *pattern,
                                   unsigned flags, const char *query);
void http_routes_each(const http_server *s, http_route_each_fn fn, void *ctx);

/* What a route accepts as a body (http_route_ex). */
typedef struct {
    size_t max_body;           /* bytes; 0 = the server's max_body (1 MiB) */
    bool spool;                /* keep the body in an unlinked temporary file, not in memory */
    const char *const *accept; /* media types the body may have, NULL-terminated, e.g.
                                  {"image/jpeg", "application/octet-stream", NULL} or
                                  {"multipart/form-data", NULL}; NULL = any (with HTTP_JSON:
                                  application/json). Copied. */
    const char *query;         /* the query parameters it takes, as http_routes names them
                                  ("limit cursor", "" none, "*" any): others are refused with
                                  400 before the body is read. NULL = any, unchecked. */
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

/* ---- one way to do common things -----------------------------------------
 * Every module's handlers use these, so that the same mistake gets the same
 * answer everywhere. */

/* Replies with the bytes of b (taken; b is left empty), or, if b failed,
 * an error for the first failure instead: a body that lost a piece never
 * goes out as a 200. CX_ENOMEM and CX_EDB (a read that failed; store_row)
 * answer 503 unavailable (retry); CX_EPARSE (a stored record that does not
 * read back) 500 internal "a stored record is damaged"; any other (an
 * append past the cap) 500 internal. */
void http_reply_buf(http_req *r, unsigned status, const char *ctype, cx_buf *b);
/* The same error for a reply built some other way (a JSON object with
 * nested lists, store_next) that could not be built whole: e as above
 * (CX_OK counts as CX_ENOMEM: something failed without saying what). */
void http_reply_failed(http_req *r, cx_err e);

/* A route for http_routes. query names the query parameters the route
 * takes, separated by spaces ("limit cursor lane"); NULL or "" takes none;
 * "*" takes any (the handler checks them itself, as /osmand does). A request
 * with a parameter the route does not take, or with one twice, is answered
 * 400 invalid_parameter naming it (/name) before the handler runs: unknown
 * parameters are refused, never ignored. */
typedef struct {
    const char *method, *pattern;
    unsigned flags;
    http_handler fn;
    const char *query;
} http_route_def;
/* Adds n routes sharing one ctx, in order (http_route takes any query). */
cx_err http_routes(http_server *s, const http_route_def *defs, size_t n, void *ctx);

/* Role checks on HTTP_AUTH routes: true if the caller's role is in roles
 * (CX_ROLE_BIT(...) | ..., e.g. CX_ROLES_OFFICER); otherwise replies 403
 * forbidden "this role (trader) cannot <what>" and returns false. */
bool http_allow(http_req *r, unsigned roles, const char *what);
/* Officers and admins only. */
bool http_allow_officer(http_req *r, const char *what);

/* The request body parsed as JSON (duplicate keys refused); the caller
 * decrefs it. NULL after replying 400 invalid_json with the parser's
 * sentence, line and column. */
json_t *http_body_json(http_req *r);

/* Query-parameter errors: 400 invalid_parameter "bad query parameter" with
 * the detail {"/<name>", rule}; several at once with http_bad_queries
 * (problems built with cx_problem_add; stolen). */
void http_bad_query(http_req *r, const char *name, const char *fmt, ...) CX_PRINTF(3, 4);
void http_bad_queries(http_req *r, json_t *problems);
/* Optional parameters parsed strictly. Each leaves *out alone when the
 * parameter is absent, and replies 400 and returns false when it is
 * malformed. http_query_enum stores the index of the value in values (a
 * NULL-terminated list) and names the choices in its message. */
bool http_query_int(http_req *r, const char *name, int64_t lo, int64_t hi, int64_t *out);
bool http_query_time(http_req *r, const char *name, int64_t *us); /* RFC 3339 */
bool http_query_bool(http_req *r, const char *name, bool *out);   /* true | false */
bool http_query_enum(http_req *r, const char *name, const char *const *values, int *out);

/* Paging: ?limit= and ?cursor=, one parser and one message for every list.
 * limit is an integer from 1 to max (def when absent); cursor is what the
 * previous page said in next_cursor. With HTTP_CURSOR_INT the cursor is the
 * last key of the previous page (after; 0 on the first page), sent out
 * sealed (http_cursor_seal: opaque, it tells no organisation how many rows
 * others have) and opened here; with
 * HTTP_CURSOR_TEXT the route decodes it and calls http_page_bad_cursor when
 * it cannot. */
/* An integer cursor as the client sees it: sealed under a per-process key
 * (URL-safe, HTTP_CURSOR_MAX with its NUL); http_cursor_open gives the
 * position back, false for anything not sealed by this process. */
#define HTTP_CURSOR_MAX 72
void http_cursor_seal(int64_t pos, char out[HTTP_CURSOR_MAX]);
bool http_cursor_open(const char *text, int64_t *pos);
typedef struct {
    int64_t limit;
    const char *cursor; /* NULL on the first page */
    int64_t after;
} http_page;
enum { HTTP_CURSOR_INT, HTTP_CURSOR_TEXT };
bool http_page_parse(http_req *r, int kind, int64_t def, int64_t max, http_page *p);
void http_page_bad_cursor(http_req *r);
/* The same for routes that report every query problem at once: appends to
 * problems (cx_problem_add) instead of replying; false if it added any.
 * http_page_cursor_problem appends the one cursor message. */
bool http_page_check(http_req *r, int kind, int64_t def, int64_t max, http_page *p,
                     json_t *problems);
void http_page_cursor_problem(json_t *problems);

/* A page {"items":[...],"next_cursor":...} written into a bounded buffer.
 * A page ends at limit items or once it holds budget bytes (after its first
 * item), whichever comes first; the client follows next_cursor either way,
 * so no list is bounded by memory. Call http_pager_item before each row:
 * false means the page is full (more is then true: this row starts the next
 * page) or has failed; true means append the item's JSON to out.
 * A page is whole or not sent: an item that cannot be built or a row that
 * cannot be read fails it (http_pager_fail, http_pager_json_new, store_row
 * on &pg.out), and the reply is then the error for that failure
 * (http_reply_buf), never a 200 whose list stops early. Typical loop:
 *     while (store_row(st, &pg.out) && http_pager_item(&pg))
 *         http_pager_json_new(&pg, row_json(st));
 *     sqlite3_reset(st);
 *     http_pager_reply_after(&pg, r, last); */
#define HTTP_PAGE_BUDGET ((size_t)4 << 20)
#define HTTP_PAGE_ITEM_MAX ((size_t)16 << 20) /* one item may exceed the budget by this */
typedef struct {
    cx_buf out;
    int64_t limit, n;
    size_t budget;
    bool more;
} http_pager;
void http_pager_init(http_pager *pg, int64_t limit, size_t budget);
bool http_pager_item(http_pager *pg);
/* Fails the page with e (cx_buf_fail on out: the first failure stays;
 * CX_OK changes nothing): CX_EPARSE for a stored row that does not read
 * back, CX_ENOMEM for an item that could not be built. */
void http_pager_fail(http_pager *pg, cx_err e);
/* Appends item (taken) as the current item; NULL, an item that could not be
 * built, fails the page with CX_ENOMEM. */
void http_pager_json_new(http_pager *pg, json_t *item);
/* Closes the page with next_cursor (text, used only when more) and replies
 * 200 through http_reply_buf, or the page's error if it failed. */
void http_pager_reply(http_pager *pg, http_req *r, const char *next_cursor);
/* The same with an integer cursor. */
void http_pager_reply_after(http_pager *pg, http_req *r, int64_t last);
/* The same with more members after "items": those of extra (an object,
 * taken; NULL, one that could not be built, fails the page). */
void http_pager_reply_after_with(http_pager *pg, http_req *r, int64_t last, json_t *extra);
void http_pager_free(http_pager *pg);

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
/* For stream functions that keep text waiting (an event bigger than the
 * caller's buffer, a catch-up): copies up to max bytes of pend from *off
 * into buf and returns the count; once all is read, pend is emptied. */
ssize_t http_stream_drain(cx_buf *pend, size_t *off, char *buf, size_t max);

/* Over the per-key or per-organisation stream limit, http_reply_stream
 * answers 429 too_many_requests itself, calls free_ctx and returns NULL. */

/* ---- SSE hubs (http_hub.c) --------------------------------------------------
 * The open streams of one kind (the alert stream, a session's stream): the
 * hub keeps their list, wakes them (all, or one topic's), holds the text
 * waiting to go out (capped), sends cfg.hello first and a comment line
 * ": ping <time>" to every stream that sent nothing since the last
 * heartbeat (a thread of its own, every heartbeat_s), and ends them all at
 * http_hub_close. The owner keeps the events and each subscriber's cursor:
 *
 *   fill(ctx, out, &last) appends to out what ctx has not sent yet (a
 *   bounded amount: it is called again once out is sent, and after every
 *   wake); it sets last to end the stream once out is sent; an error ends
 *   the stream now (the client resumes with Last-Event-ID). It runs on a
 *   worker, one call at a time per stream.
 *
 * Free the hub after the server has ended its streams (http_server_free). */
typedef struct http_hub http_hub;
typedef struct {
    const char *hello;    /* first text of every stream, e.g. "retry: 2000\n: customs
                             alert stream\n\n"; copied; < 256 bytes */
    unsigned heartbeat_s; /* 0 = 15 */
    size_t pend_max;      /* text one stream may have waiting; 0 = 4 MiB */
} http_hub_config;
typedef cx_err (*http_hub_fill_fn)(void *ctx, cx_buf *out, bool *last);

/* Starts the hub's heartbeat thread. *out is freed with http_hub_free. */
cx_err http_hub_new(const http_hub_config *cfg, http_hub **out);
/* Replies to r with a stream of h. topic (NULL = none; < 128 bytes) picks
 * which http_hub_wake calls wake it. ctx belongs to the stream from here:
 * free_ctx(ctx) runs once, when it ends or when this cannot start it (the
 * reply is then an error: 429 over the stream limits, 503). */
void http_hub_serve(http_hub *h, http_req *r, const char *topic, http_hub_fill_fn fill,
                    void *ctx, void (*free_ctx)(void *ctx));
/* Wakes the streams of topic (NULL: every stream). Any thread. */
void http_hub_wake(http_hub *h, const char *topic);
/* A heartbeat now (the thread calls it every heartbeat_s). */
void http_hub_beat(http_hub *h);
size_t http_hub_clients(http_hub *h);
/* Stops the heartbeats and ends every stream at its next pull; safe twice. */
void http_hub_close(http_hub *h);
/* Closes if needed and frees. NULL is a no-op. */
void http_hub_free(http_hub *h);

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
