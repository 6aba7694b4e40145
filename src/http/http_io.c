/* Connections' sockets and lives on the loop thread: accepting (and
 * refusing over a limit), reading and writing (plain or TLS), closing, and
 * freeing once nothing refers to a connection any more. */
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
#define REFUSED_EXTRA 1024          /* refusal-only connections over max_connections */

/* ---- socket I/O ------------------------------------------------------------- */

/* > 0 bytes, 0 end of stream, -1 would block, -2 error */
ssize_t http__conn_recv(http_conn *c, char *buf, size_t cap)
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

void http__conn_drop_output(http_conn *c)
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

void http__conn_advance(http_conn *c, size_t n)
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
int http__conn_flush(http_conn *c)
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
        http__conn_advance(c, (size_t)n);
        if (c->tkind == T_WRITE) /* progress: the send timeout starts again */
            http__timer_set(c->srv, c, T_WRITE, cx_mono_us());
    }
    return 1;
}

/* Makes room and reads once into the input buffer (which grows to cap). */
ssize_t http__conn_fill(http_conn *c, size_t cap)
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
    return http__conn_recv(c, c->in + c->in_len, c->in_cap - c->in_len);
}

void http__conn_free_input(http_conn *c)
{
    free(c->in);
    c->in = NULL;
    c->in_off = c->in_len = c->in_cap = 0;
}

/* ---- lifecycle ------------------------------------------------------------------ */

void http__conn_ready(http_conn *c)
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
    http__conn_drop_output(c);
    http__conn_free_input(c);
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
