/* Requests on the loop thread: reading a head and a body, the checks made
 * before a body is read, handing requests to workers, writing replies,
 * lingering close, timeouts. Each state function returns true when it
 * changed something worth another look. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define IN_BODY (64 * 1024)         /* input buffer while a body streams in */
#define AUTH_FIRST (64 * 1024)      /* larger bodies are read only once the token is good */
#define LINGER_US (30 * 1000000LL)  /* lingering close, at most */

/* ---- answering ------------------------------------------------------------------------ */

/* Queues r's serialised reply; the connection writes it next. */
static void conn__queue_reply(http_conn *c, http_req *r)
{
    http__req_release_quota(r);
    http__conn_write(c, r->out_head, r->out_head_len, true);
    r->out_head = NULL;
    if (r->rlen && !r->stream) {
        http__conn_write(c, r->rbody, r->rlen, true);
        r->rbody = NULL;
    }
    http__conn_advance(c, r->out_sent); /* what a worker already wrote */
    c->close_after = !r->keep_alive;
    /* the client may still be sending: read on until it stops, or our
     * answer could be lost to a reset */
    c->linger_after = (r->has_body && !r->body_done) || !r->method || c->in_len > c->in_off;
    c->state = C_WRITE;
}

/* Answers now, from the loop, with the reply already set on c->req. */
static void conn__answer(http_conn *c, bool keep)
{
    http_req *r = c->req;
    if (!keep)
        r->keep_alive = false;
    http__req_serialise(r);
    conn__queue_reply(c, r);
}

static void conn__refuse(http_conn *c, const hp_error *err)
{
    http_req *r = c->req;
    atomic_fetch_add(&c->srv->n_refused[REF_FRAMING], 1);
    http_reply_error1(r, err->status, err->code, err->message, err->where, err->message);
    conn__answer(c, false);
}

void http__conn_reply_ready(http_conn *c, http_req *r)
{
    c->req_out = false;
    if (c->state == C_CLOSED) {
        http__log(c->srv, r, false);
        http__req_free(r);
        c->req = NULL;
        http__conn_bury(c);
        return;
    }
    conn__queue_reply(c, r);
    http__conn_drive(c);
}

static void conn__dispatch(http_conn *c, req_phase phase)
{
    http_req *r = c->req;
    r->phase = phase;
    c->state = C_WAIT;
    c->req_out = true;
    http__timer_clear(c->srv, c);
    http__task(c->srv, &r->task);
}

static void conn__start_body(http_conn *c)
{
    http_req *r = c->req;
    if (!http__body_begin(r)) {
        conn__answer(c, false);
        return;
    }
    if (r->rq.expect_continue) {
        static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        http__conn_write(c, cont, sizeof cont - 1, false);
    }
    c->state = C_BODY;
    c->win_bytes = 0;
    http__timer_set(c->srv, c, T_BODY, cx_mono_us());
}

void http__conn_authed(http_conn *c, http_req *r)
{
    c->req_out = false;
    if (c->state == C_CLOSED) {
        http__req_free(r);
        c->req = NULL;
        http__conn_bury(c);
        return;
    }
    conn__start_body(c);
    http__conn_drive(c);
}

static bool conn__split_query(http_req *r, char *q)
{
    while (*q) {
        char *amp = strchr(q, '&');
        char *end = amp ? amp : q + strlen(q);
        if (end > q) {
            if (r->nargs == HTTP_MAX_ARGS)
                return false;
            *end = '\0';
            char *eq = strchr(q, '=');
            char *v = eq ? eq + 1 : end;
            if (eq)
                *eq = '\0';
            size_t kl = strlen(q), vl = strlen(v);
            if (!hp_decode_component(q, &kl) || !hp_decode_component(v, &vl))
                return false;
            r->args[r->nargs][0] = q;
            r->args[r->nargs][1] = v;
            r->nargs++;
        }
        if (!amp)
            break;
        q = amp + 1;
    }
    return true;
}

/* Checks what can be checked before the body is read (so a refused upload
 * costs nothing), then reads the body, checks the token or dispatches. */
static void conn__route(http_conn *c)
{
    http_server *s = c->srv;
    http_req *r = c->req;
    bool keep = !r->has_body; /* an early answer can keep the connection only without a body */
    bool mismatch = false;
    char allow[128] = "";
    r->route = http__match(s, r, &mismatch, allow, sizeof allow);
    if (atomic_load(&s->draining)) {
        http_reply_error(r, 503, "unavailable", "server is shutting down", NULL);
        conn__answer(c, false);
        return;
    }
    if (!r->route || !(r->route->flags & HTTP_AUTH)) {
        unsigned wait = 1;
        http_addr_slot *slot = http__addr_get(&s->addrs, c->addr, cx_mono_us());
        if (slot && !http__addr_take(&s->addrs, slot, cx_mono_us(), &wait)) {
            char ra[16];
            snprintf(ra, sizeof ra, "%u", wait);
            atomic_fetch_add(&s->n_refused[REF_RATE], 1);
            http_reply_header(r, "Retry-After", ra);
            http_reply_error(r, 429, "too_many_requests",
                             "too many requests without a key from this address", NULL);
            conn__answer(c, keep);
            return;
        }
    }
    if (!r->route) {
        if (mismatch) {
            http_reply_header(r, "Allow", allow);
            http_reply_error(r, 405, "method_not_allowed", "method not allowed on this path", NULL);
        } else {
            http_reply_error(r, 404, "not_found", "no such resource", NULL);
        }
        conn__answer(c, keep);
        return;
    }
    const http_route_t *rt = r->route;
    if ((rt->flags & HTTP_METRICS) && !http__metrics_allowed(s, r)) {
        conn__answer(c, keep);
        return;
    }
    if (r->has_body) {
        /* an unknown query parameter is named before the body is judged */
        if (rt->query && !http__query_ok(r, rt->query)) {
            conn__answer(c, false);
            return;
        }
        if (!http__ctype_ok(r, rt)) {
            conn__answer(c, false);
            return;
        }
        r->body_max = rt->max_body ? rt->max_body : s->max_body;
        if (r->rq.has_length && r->rq.length > r->body_max) {
            char msg[96];
            snprintf(msg, sizeof msg, "the body is over the limit of %llu bytes",
                     (unsigned long long)r->body_max);
            http_reply_error(r, 413, "payload_too_large", msg, NULL);
            conn__answer(c, false);
            return;
        }
        r->body_left = r->rq.has_length ? r->rq.length : 0;
        /* a large body waits until the token is known to be good */
        if ((rt->flags & HTTP_AUTH) &&
            (r->rq.chunked || r->rq.expect_continue || r->rq.length > AUTH_FIRST)) {
            conn__dispatch(c, PH_AUTH);
            return;
        }
        conn__start_body(c);
        return;
    }
    r->body_done = true;
    conn__dispatch(c, PH_HANDLE);
}

/* A complete head of head_len bytes is at the start of the input. */
static void conn__request(http_conn *c, size_t head_len)
{
    http_server *s = c->srv;
    http_req *r = http__req_new(s, c);
    if (!r) {
        http__conn_close(c);
        return;
    }
    c->req = r;
    memset(&c->scan, 0, sizeof c->scan);
    r->head = malloc(head_len + 1);
    if (!r->head) {
        http__conn_close(c);
        return;
    }
    memcpy(r->head, c->in + c->in_off, head_len);
    r->head[head_len] = '\0';
    c->in_off += head_len;
    hp_error err;
    if (!hp_parse_head(r->head, head_len, &s->limits, &r->rq, &err)) {
        conn__refuse(c, &err);
        return;
    }
    r->method = r->rq.method;
    r->keep_alive = r->rq.keep_alive;
    r->has_body = r->rq.chunked || (r->rq.has_length && r->rq.length > 0);
    size_t cap = strlen(r->rq.target) + 2;
    r->path = malloc(cap);
    const char *query = NULL;
    if (!r->path) {
        http__conn_close(c);
        return;
    }
    if (!hp_decode_path(r->rq.target, r->path, cap, &query, &err)) {
        conn__refuse(c, &err);
        return;
    }
    if (query && !conn__split_query(r, (char *)query)) {
        hp_error qe = {400, "bad_request", "the query string must be UTF-8 key=value pairs "
                                           "joined by & (at most 128, no %00)", "/query"};
        conn__refuse(c, &qe);
        return;
    }
    conn__route(c);
}

/* ---- states -------------------------------------------------------------------------- */

static bool conn__handshake(http_conn *c)
{
    int rc = gnutls_handshake(c->tls);
    if (rc == GNUTLS_E_SUCCESS) {
        c->state = C_HEAD;
        return true;
    }
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return false;
    if (!gnutls_error_is_fatal(rc))
        return true;
    http__conn_close(c);
    return false;
}

static bool conn__head(http_conn *c)
{
    http_server *s = c->srv;
    for (;;) {
        /* empty lines before a request line are ignored (RFC 9112 §2.2) */
        while (c->scan.scanned == 0 && c->in_len - c->in_off >= 2 && c->in[c->in_off] == '\r' &&
               c->in[c->in_off + 1] == '\n')
            c->in_off += 2;
        size_t avail = c->in_len - c->in_off;
        if (avail) {
            if (c->tkind != T_HEAD) /* the first byte of a request starts its clock */
                http__timer_set(s, c, T_HEAD, cx_mono_us());
            size_t head_len = 0;
            hp_error err;
            int rc = hp_scan_head(&c->scan, c->in + c->in_off, avail, &s->limits, &head_len, &err);
            if (rc > 0) {
                conn__request(c, head_len);
                return true;
            }
            if (rc < 0) {
                http_req *r = http__req_new(s, c);
                if (!r) {
                    http__conn_close(c);
                    return false;
                }
                c->req = r;
                conn__refuse(c, &err);
                return true;
            }
        }
        if (!c->readable)
            return false;
        ssize_t n = http__conn_fill(c, s->limits.max_head + 1);
        if (n == -1)
            return false;
        if (n <= 0) { /* closed, failed, or full (the scan refuses a full buffer first) */
            http__conn_close(c);
            return false;
        }
        c->in_len += (size_t)n;
    }
}

static bool conn__body(http_conn *c)
{
    http_req *r = c->req;
    if (c->nout && http__conn_flush(c) < 0) { /* "100 Continue" */
        http__conn_close(c);
        return false;
    }
    for (;;) {
        size_t avail = c->in_len - c->in_off;
        if (avail) {
            size_t used = 0;
            int rc = http__body_feed(r, c->in + c->in_off, avail, &used);
            c->in_off += used;
            c->win_bytes += used;
            if (rc < 0) {
                if (r->status == 400) /* a malformed chunk; 413 and 503 are not */
                    atomic_fetch_add(&c->srv->n_refused[REF_FRAMING], 1);
                conn__answer(c, false);
                return true;
            }
            if (rc > 0) {
                r->body_done = true;
                conn__dispatch(c, PH_HANDLE);
                return true;
            }
        }
        if (!c->readable)
            return false;
        ssize_t n = http__conn_fill(c, IN_BODY);
        if (n == -1)
            return false;
        if (n <= 0) {
            http__conn_close(c);
            return false;
        }
        c->in_len += (size_t)n;
    }
}

static void conn__after_write(http_conn *c)
{
    http_server *s = c->srv;
    http_req *r = c->req;
    http_stream *st = NULL;
    if (r) {
        c->req = NULL;
        st = r->stream;
        r->stream = NULL;
        http__log(s, r, true);
        http__req_free(r);
    }
    if (st) {
        c->state = C_STREAM;
        http__timer_clear(s, c);
        http__conn_free_input(c);
        http__stream_start(st, c);
        return;
    }
    if (c->close_after) {
        if (c->linger_after || c->refused) {
            c->state = C_LINGER;
        } else {
            http__conn_close(c);
        }
        return;
    }
    c->state = C_HEAD;
    if (c->in_off == c->in_len) {
        http__conn_free_input(c); /* an idle connection keeps no buffer */
        http__timer_set(s, c, T_IDLE, cx_mono_us());
    } else {
        http__timer_set(s, c, T_HEAD, cx_mono_us());
    }
    if (atomic_load(&s->draining) && c->in_off == c->in_len)
        http__conn_close(c);
}

/* Writes what is queued under the send timeout: true once all is out (the
 * connection is closed on an error). */
static bool conn__flush_timed(http_conn *c)
{
    int rc = http__conn_flush(c);
    if (rc < 0) {
        http__conn_close(c);
        return false;
    }
    if (rc == 0) {
        if (c->tkind != T_WRITE)
            http__timer_set(c->srv, c, T_WRITE, cx_mono_us());
        return false;
    }
    if (c->tkind == T_WRITE)
        http__timer_clear(c->srv, c);
    return true;
}

static bool conn__write(http_conn *c)
{
    if (!conn__flush_timed(c))
        return false;
    conn__after_write(c);
    return true;
}

/* Reads and drops what the client still sends, so that it reads our early
 * answer instead of a reset; ends at its end of stream or after a pause. */
static bool conn__linger(http_conn *c)
{
    int rc = http__conn_flush(c);
    if (rc < 0) {
        http__conn_close(c);
        return false;
    }
    if (rc == 0)
        return false;
    int64_t now = cx_mono_us();
    if (!c->shut) {
        c->shut = true;
        if (c->tls)
            gnutls_bye(c->tls, GNUTLS_SHUT_WR);
        shutdown(c->fd, SHUT_WR);
        c->linger_end = now + LINGER_US;
        http__timer_set(c->srv, c, T_LINGER, now);
    }
    char buf[16384];
    for (int i = 0; i < 16; i++) {
        ssize_t n = http__conn_recv(c, buf, sizeof buf);
        if (n == -1)
            return false;
        if (n <= 0 || now > c->linger_end) {
            http__conn_close(c);
            return false;
        }
        if (i == 0)
            http__timer_set(c->srv, c, T_LINGER, now);
    }
    return true;
}

static bool conn__stream_io(http_conn *c)
{
    char buf[1024];
    for (int i = 0; i < 4 && c->readable; i++) { /* nothing is expected: notice the end */
        ssize_t n = http__conn_recv(c, buf, sizeof buf);
        if (n == -1)
            break;
        if (n <= 0) {
            http__conn_close(c);
            return false;
        }
    }
    if (!conn__flush_timed(c))
        return false;
    if (c->stream && c->stream->writing)
        http__stream_written(c->stream);
    return false;
}

void http__conn_drive(http_conn *c)
{
    for (int step = 0; step < 64; step++) {
        bool more;
        switch (c->state) {
        case C_HANDSHAKE: more = conn__handshake(c); break;
        case C_HEAD: more = conn__head(c); break;
        case C_BODY: more = conn__body(c); break;
        case C_WRITE: more = conn__write(c); break;
        case C_STREAM: more = conn__stream_io(c); break;
        case C_LINGER: more = conn__linger(c); break;
        default: return; /* C_WAIT: a worker has the request; C_CLOSED */
        }
        if (!more)
            return;
    }
    http__conn_ready(c); /* a busy pipelining client yields to the others */
}

void http__conn_event(http_conn *c, uint32_t events)
{
    if (c->state == C_CLOSED)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        c->writable = true;
    http__conn_drive(c);
}

bool http__conn_idle(const http_conn *c)
{
    return c->state == C_HEAD && c->in_off == c->in_len && c->scan.scanned == 0;
}

void http__conn_drain(http_conn *c)
{
    if (c->state == C_STREAM && c->stream)
        http__stream_stop(c->stream);
    else if (http__conn_idle(c) || c->state == C_HANDSHAKE || c->state == C_LINGER)
        http__conn_close(c);
}

void http__conn_timeout(http_conn *c, int kind, int64_t now)
{
    http_server *s = c->srv;
    switch (kind) {
    case T_HEAD:
        atomic_fetch_add(&s->n_refused[REF_HEADER_TIMEOUT], 1);
        if (c->state == C_HEAD && (c->in_len > c->in_off || c->scan.scanned)) {
            /* a request started and did not finish in time: say so */
            http_req *r = http__req_new(s, c);
            if (r) {
                c->req = r;
                http_reply_error(r, 408, "request_timeout",
                                 "the request line and headers did not arrive in time", NULL);
                r->keep_alive = false;
                http__req_serialise(r);
                conn__queue_reply(c, r);
                c->linger_after = false;
                http__conn_drive(c);
                return;
            }
        }
        http__conn_close(c); /* nothing was asked: nothing to answer */
        return;
    case T_BODY: {
        double need = (double)s->body_min_rate * (double)s->timers[T_BODY].dur_us / 1e6;
        if (c->state == C_BODY && (double)c->win_bytes >= need) {
            c->win_bytes = 0;
            http__timer_set(s, c, T_BODY, now);
            return;
        }
        if (c->state == C_BODY) {
            atomic_fetch_add(&s->n_refused[REF_BODY_TIMEOUT], 1);
            http_req *r = c->req;
            http_reply_error(r, 408, "request_timeout",
                             "the body arrived slower than the server accepts", NULL);
            r->keep_alive = false;
            http__req_serialise(r);
            http__conn_drop_output(c);
            conn__queue_reply(c, r);
            c->linger_after = false;
            http__conn_drive(c);
            return;
        }
        return;
    }
    default: /* idle keep-alive, a reply not read, lingering */
        http__conn_close(c);
        return;
    }
}
