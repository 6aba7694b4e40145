/* Connections on the loop thread: accept, TLS handshake, reading a request
 * head and body, writing the reply, lingering close, timeouts. Each state
 * function returns true when it changed something worth another look. */
#include "http_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IN_FIRST 2048               /* first input buffer of a request */
#define IN_BODY (64 * 1024)         /* input buffer while a body streams in */
#define AUTH_FIRST (64 * 1024)      /* larger bodies are read only once the token is good */
#define LINGER_US (30 * 1000000LL)  /* lingering close, at most */
#define REFUSED_EXTRA 1024          /* refusal-only connections over max_connections */

/* ---- socket I/O ------------------------------------------------------------- */

/* > 0 bytes, 0 end of stream, -1 would block, -2 error */
static ssize_t conn__recv(http_conn *c, char *buf, size_t cap)
{
    if (c->tls) {
        ssize_t n;
        do
            n = gnutls_record_recv(c->tls, buf, cap);
        while (n == GNUTLS_E_INTERRUPTED);
        if (n >= 0)
            return n;
        if (n == GNUTLS_E_AGAIN) {
            c->readable = false;
            return -1;
        }
        return n == GNUTLS_E_PREMATURE_TERMINATION ? 0 : -2;
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->readable = false;
            return -1;
        }
        return -2;
    }
}

static void conn__drop_output(http_conn *c)
{
    for (unsigned i = 0; i < c->nout; i++)
        if (c->out[i].owned)
            free(c->out[i].data);
    c->nout = 0;
    c->out_off = 0;
}

void http__conn_write(http_conn *c, char *data, size_t len, bool owned)
{
    if (c->nout == sizeof c->out / sizeof c->out[0] || !len) {
        if (owned)
            free(data);
        return;
    }
    c->out[c->nout++] = (http_piece){data, len, owned};
}

static void conn__advance(http_conn *c, size_t n)
{
    while (n && c->nout) {
        size_t left = c->out[0].len - c->out_off;
        if (n < left) {
            c->out_off += n;
            return;
        }
        n -= left;
        if (c->out[0].owned)
            free(c->out[0].data);
        memmove(&c->out[0], &c->out[1], (c->nout - 1) * sizeof c->out[0]);
        c->nout--;
        c->out_off = 0;
    }
}

/* 1 all written, 0 would block, -1 error */
static int conn__flush(http_conn *c)
{
    while (c->nout) {
        if (!c->writable)
            return 0;
        ssize_t n;
        if (c->tls) {
            do
                n = gnutls_record_send(c->tls, c->out[0].data + c->out_off,
                                       c->out[0].len - c->out_off);
            while (n == GNUTLS_E_INTERRUPTED);
            if (n == GNUTLS_E_AGAIN) {
                c->writable = false;
                return 0;
            }
            if (n < 0)
                return -1;
        } else {
            struct iovec iov[4];
            for (unsigned i = 0; i < c->nout; i++) {
                iov[i].iov_base = c->out[i].data + (i ? 0 : c->out_off);
                iov[i].iov_len = c->out[i].len - (i ? 0 : c->out_off);
            }
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = c->nout};
            n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->writable = false;
                    return 0;
                }
                return -1;
            }
        }
        conn__advance(c, (size_t)n);
        if (c->tkind == T_WRITE) /* progress: the send timeout starts again */
            http__timer_set(c->srv, c, T_WRITE, cx_mono_us());
    }
    return 1;
}

/* Makes room and reads once into the input buffer (which grows to cap). */
static ssize_t conn__fill(http_conn *c, size_t cap)
{
    if (c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
    } else if (c->in_off && c->in_len == c->in_cap) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == c->in_cap) {
        size_t ncap = c->in_cap ? c->in_cap * 2 : IN_FIRST;
        if (ncap > cap)
            ncap = cap;
        if (ncap <= c->in_cap)
            return -3; /* full */
        char *in = realloc(c->in, ncap);
        if (!in)
            return -2;
        c->in = in;
        c->in_cap = ncap;
    }
    return conn__recv(c, c->in + c->in_len, c->in_cap - c->in_len);
}

static void conn__free_input(http_conn *c)
{
    free(c->in);
    c->in = NULL;
    c->in_off = c->in_len = c->in_cap = 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void conn__ready(http_conn *c)
{
    if (c->in_ready || c->state == C_CLOSED)
        return;
    c->in_ready = true;
    c->ready_next = c->srv->ready;
    c->srv->ready = c;
}

void http__conn_bury(http_conn *c)
{
    if (c->state != C_CLOSED || c->req_out || c->stream || c->freed_queued)
        return;
    http_server *s = c->srv;
    c->freed_queued = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = s->graveyard;
    s->graveyard = c;
}

void http__conn_reap(http_server *s)
{
    http_conn **pp = &s->graveyard;
    while (*pp) {
        http_conn *c = *pp;
        if (c->in_ready) { /* still listed to be driven: next round */
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        if (c->tls)
            gnutls_deinit(c->tls);
        free(c);
    }
}

void http__conn_stop_all(http_server *s)
{
    for (http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->req_out && !(c->stream && c->stream->pulling))
            http__conn_close(c);
    }
}

void http__conn_free_all(http_server *s)
{
    while (s->conns) {
        http_conn *c = s->conns;
        http__conn_close(c);
        if (s->conns == c) { /* still referenced: cannot happen once nothing is in flight */
            s->conns = c->next;
            c->freed_queued = true;
        }
    }
    for (http_conn *c = s->graveyard; c; c = c->next)
        c->in_ready = false;
    s->ready = NULL;
    http__conn_reap(s);
}

void http__conn_close(http_conn *c)
{
    if (c->state == C_CLOSED)
        return;
    http_server *s = c->srv;
    int64_t now = cx_mono_us();
    c->state = C_CLOSED;
    http__timer_clear(s, c);
    if (c->counted)
        http__addr_release(&s->addrs, c->addr, now);
    c->counted = false;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    s->nconns--;
    atomic_fetch_sub(&s->n_conns, 1);
    conn__drop_output(c);
    conn__free_input(c);
    if (c->req && !c->req_out) {
        http__log(s, c->req, false);
        http__req_free(c->req);
        c->req = NULL;
    }
    if (c->stream)
        http__stream_gone(c->stream); /* buries c once the stream is finished */
    http__conn_bury(c);
}

static http_conn *conn__new(http_server *s, int fd, const uint8_t addr[16], int64_t now)
{
    http_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = s;
    c->fd = fd;
    c->tkind = -1;
    c->readable = c->writable = true;
    memcpy(c->addr, addr, 16);
    if (s->tls) {
        c->tls = http__tls_session(s, fd);
        if (!c->tls) {
            free(c);
            return NULL;
        }
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        if (c->tls)
            gnutls_deinit(c->tls);
        free(c);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = c->tls ? C_HANDSHAKE : C_HEAD;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    atomic_fetch_add(&s->n_conns, 1);
    http__timer_set(s, c, T_HEAD, now);
    return c;
}

/* IPv4, or the /64 of an IPv6 address (one host usually holds a whole /64). */
static void conn__addr_key(const struct sockaddr_storage *sa, uint8_t out[16])
{
    memset(out, 0, 16);
    if (sa->ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        out[15] = 4;
        return;
    }
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) {
        memcpy(out, a + 12, 4);
        out[15] = 4;
    } else {
        memcpy(out, a, 8);
        out[15] = 6;
    }
}

/* A JSON error reply that needs no request: over a connection limit. */
static char *conn__canned(unsigned status, const char *code, const char *message, size_t *len)
{
    char body[256], *out = NULL;
    int bl = snprintf(body, sizeof body,
                      "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"details\":[]}}", code,
                      message);
    int n = asprintf(&out,
                     "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     "Retry-After: 1\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
                     "\r\n%s",
                     status, status == 429 ? "Too Many Requests" : "Service Unavailable", bl, body);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return out;
}

static void conn__refuse_at_accept(http_server *s, int fd, const uint8_t addr[16], int reason,
                                   int64_t now)
{
    atomic_fetch_add(&s->n_refused[reason], 1);
    /* TLS cannot be answered without the handshake the limit is there to save */
    http_conn *c = s->tls || s->nconns >= s->max_conns + REFUSED_EXTRA
                       ? NULL
                       : conn__new(s, fd, addr, now);
    if (!c) {
        close(fd);
        return;
    }
    size_t len = 0;
    char *msg = reason == REF_MAX_CONNS
                    ? conn__canned(503, "unavailable", "the server has too many connections; retry",
                                   &len)
                    : conn__canned(429, "too_many_requests",
                                   "too many connections from this address", &len);
    c->refused = true;
    http__conn_write(c, msg, len, true);
    c->close_after = c->linger_after = true;
    c->state = C_LINGER;
    http__conn_drive(c);
}

void http__conn_accept(http_server *s)
{
    for (int i = 0; i < 64 && s->accepting; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int64_t now = cx_mono_us();
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: stop accepting for 100 ms instead of spinning */
                cx_log(CX_LOG_WARN, "http: cannot accept: %s", strerror(errno));
                epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
                s->accepting = false;
                s->accept_resume_us = now + 100000;
            }
            return;
        }
        atomic_fetch_add(&s->n_accepted, 1);
        uint8_t a[16];
        conn__addr_key(&sa, a);
        if (s->nconns >= s->max_conns) {
            conn__refuse_at_accept(s, fd, a, REF_MAX_CONNS, now);
            continue;
        }
        http_addr_slot *slot = http__addr_get(&s->addrs, a, now);
        if (!slot || slot->conns >= s->max_per_addr) {
            conn__refuse_at_accept(s, fd, a, REF_PER_ADDR, now);
            continue;
        }
        http_conn *c = conn__new(s, fd, a, now);
        if (!c) {
            close(fd);
            continue;
        }
        slot->conns++;
        c->counted = true;
        http__conn_drive(c);
    }
}

/* ---- answering ------------------------------------------------------------------------ */

/* Queues r's serialised reply; the connection writes it next. */
static void conn__queue_reply(http_conn *c, http_req *r)
{
    http__conn_write(c, r->out_head, r->out_head_len, true);
    r->out_head = NULL;
    if (r->rlen && !r->stream) {
        http__conn_write(c, r->rbody, r->rlen, true);
        r->rbody = NULL;
    }
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
        ssize_t n = conn__fill(c, s->limits.max_head + 1);
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
    if (c->nout && conn__flush(c) < 0) { /* "100 Continue" */
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
        ssize_t n = conn__fill(c, IN_BODY);
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
        conn__free_input(c);
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
        conn__free_input(c); /* an idle connection keeps no buffer */
        http__timer_set(s, c, T_IDLE, cx_mono_us());
    } else {
        http__timer_set(s, c, T_HEAD, cx_mono_us());
    }
    if (atomic_load(&s->draining) && c->in_off == c->in_len)
        http__conn_close(c);
}

static bool conn__write(http_conn *c)
{
    int rc = conn__flush(c);
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
    conn__after_write(c);
    return true;
}

/* Reads and drops what the client still sends, so that it reads our early
 * answer instead of a reset; ends at its end of stream or after a pause. */
static bool conn__linger(http_conn *c)
{
    int rc = conn__flush(c);
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
        ssize_t n = conn__recv(c, buf, sizeof buf);
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
        ssize_t n = conn__recv(c, buf, sizeof buf);
        if (n == -1)
            break;
        if (n <= 0) {
            http__conn_close(c);
            return false;
        }
    }
    int rc = conn__flush(c);
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
    conn__ready(c); /* a busy pipelining client yields to the others */
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
            conn__drop_output(c);
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
