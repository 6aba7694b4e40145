/* Replies: set by handlers on any thread, serialised by the thread that
 * completes the request, written by the loop; deferral; the access log. */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

void http_reply_header(http_req *r, const char *name, const char *value)
{
    if (r->nhdrs >= HTTP_MAX_HEADERS)
        return;
    /* no response splitting: a header value is one line of visible text */
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t') {
            cx_log(CX_LOG_ERROR, "http: header %s with a control character dropped", name);
            return;
        }
    r->hdr_names[r->nhdrs] = strdup(name);
    r->hdr_values[r->nhdrs] = strdup(value);
    r->nhdrs++;
}

static void reply__set(http_req *r, unsigned status, const char *ctype, char *body, size_t len)
{
    pthread_mutex_lock(&r->mu);
    if (r->status) { /* a second reply is a bug in the caller: keep the first */
        pthread_mutex_unlock(&r->mu);
        free(body);
        cx_log(CX_LOG_ERROR, "http: second reply to %s %s ignored", http_method(r),
               http_path(r));
        return;
    }
    r->status = status;
    r->ctype = ctype ? strdup(ctype) : NULL;
    r->rbody = body;
    r->rlen = body ? len : 0;
    pthread_mutex_unlock(&r->mu);
}

void http_reply(http_req *r, unsigned status, const char *ctype, char *body, size_t len)
{
    reply__set(r, status, ctype, body, len);
}

void http_reply_copy(http_req *r, unsigned status, const char *ctype, const char *body,
                     size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, body, len);
    reply__set(r, status, ctype, copy, copy ? len : 0);
}

void http_reply_json(http_req *r, unsigned status, json_t *j)
{
    size_t len = 0;
    char *s = j ? cx_json_dump(j, &len) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\",\"details\":[]}}";
        http_reply_copy(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    http_reply(r, status, "application/json", s, len);
}

void http_reply_error(http_req *r, unsigned status, const char *code, const char *message,
                      json_t *details)
{
    json_t *err = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", code, "message", message,
                            "details", details ? details : json_array());
    http_reply_json(r, status, err);
}

void http_reply_error1(http_req *r, unsigned status, const char *code, const char *message,
                       const char *path, const char *detail)
{
    json_t *d = json_array();
    json_array_append_new(d, json_pack("{s:s,s:s}", "path", path, "message", detail));
    http_reply_error(r, status, code, message, d);
}

void http_on_done(http_req *r, void (*fn)(void *), void *arg)
{
    r->cleanup = fn;
    r->cleanup_arg = arg;
}

void http_defer(http_req *r)
{
    pthread_mutex_lock(&r->mu);
    r->deferred = true;
    pthread_mutex_unlock(&r->mu);
}

void http_resume(http_req *r)
{
    pthread_mutex_lock(&r->mu);
    r->resumed = true;
    bool finish = !r->in_handler; /* else the handler's return finishes it */
    pthread_mutex_unlock(&r->mu);
    if (finish)
        http__req_complete(r, false); /* maybe the writer thread: no syscalls here */
}

/* ---- serialising ------------------------------------------------------------------- */

static const char *reply__reason(unsigned status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

void http__req_serialise(http_req *r)
{
    http_server *s = r->srv;
    if (!r->status) {
        static const char msg[] = "{\"error\":{\"code\":\"internal\",\"message\":"
                                  "\"the handler produced no reply\",\"details\":[]}}";
        http_reply_copy(r, 500, "application/json", msg, sizeof msg - 1);
    }
    if ((r->has_body && !r->body_done) || r->stream || atomic_load(&s->draining))
        r->keep_alive = false;
    cx_buf b;
    cx_buf_init(&b, 64 * 1024);
    /* the buffer stays failed after its first error: checked once, below */
    cx_err e = cx_buf_printf(&b, "HTTP/1.1 %u %s\r\nDate: %s\r\n", r->status,
                             reply__reason(r->status), http__date(s));
    if (!e && r->ctype)
        e = cx_buf_printf(&b, "Content-Type: %s\r\n", r->ctype);
    if (!e && r->stream && r->stream->chunked)
        e = cx_buf_puts(&b, "Transfer-Encoding: chunked\r\n");
    if (!e)
        e = r->stream ? cx_buf_puts(&b, "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n")
                      : cx_buf_printf(&b, "Content-Length: %zu\r\n", r->rlen);
    if (!e)
        e = cx_buf_puts(&b, "X-Content-Type-Options: nosniff\r\n");
    for (int i = 0; !e && i < r->nhdrs; i++)
        if (r->hdr_names[i] && r->hdr_values[i])
            e = cx_buf_printf(&b, "%s: %s\r\n", r->hdr_names[i], r->hdr_values[i]);
    if (!e && !r->keep_alive && !r->stream) /* a stream ends with the connection anyway;
                                               clients (EventSource, http.client) read it
                                               like a body */
        e = cx_buf_puts(&b, "Connection: close\r\n");
    else if (!e && r->rq.minor == 0)
        e = cx_buf_puts(&b, "Connection: keep-alive\r\n");
    if (!e)
        e = cx_buf_puts(&b, "\r\n");
    if (e != CX_OK) {
        cx_buf_free(&b);
        static const char bad[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        cx_buf_init(&b, sizeof bad);
        if (cx_buf_append(&b, bad, sizeof bad - 1) != CX_OK)
            cx_buf_free(&b); /* no memory even for this: nothing is sent, the connection closes */
        r->keep_alive = false;
        free(r->rbody);
        r->rbody = NULL;
        r->rlen = 0;
    }
    free(r->out_head);
    r->out_head = cx_buf_steal(&b, &r->out_head_len);
}

/* The worker writes the reply itself when the socket takes it: the bytes go
 * out without waiting for the loop, which then has one send less. The loop
 * does not touch the connection meanwhile (it waits for this request). */
static void reply__send_now(http_req *r)
{
    struct iovec iov[2] = {{r->out_head, r->out_head_len}, {r->rbody, r->rlen}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = r->rlen ? 2 : 1};
    size_t total = r->out_head_len + r->rlen;
    while (r->out_sent < total) {
        ssize_t n = sendmsg(r->conn->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the loop carries on (and sees any error itself) */
        r->out_sent += (size_t)n;
        for (size_t k = (size_t)n; k && mh.msg_iovlen;) { /* skip what went out */
            size_t take = k < mh.msg_iov->iov_len ? k : mh.msg_iov->iov_len;
            mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + take;
            mh.msg_iov->iov_len -= take;
            k -= take;
            if (!mh.msg_iov->iov_len) {
                mh.msg_iov++;
                mh.msg_iovlen--;
            }
        }
    }
}

void http__req_complete(http_req *r, bool direct)
{
    http__req_serialise(r);
    http__req_release_quota(r);
    if (direct && !r->srv->tls && !r->stream)
        reply__send_now(r);
    r->ev.kind = EV_REPLY;
    http__post(r->srv, &r->ev);
}

/* ---- access log -------------------------------------------------------------------- */

/* The path is logged decoded; a %0A in it must not start a forged line. */
static void reply__log_safe(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == ' ' || *p == '%') {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
}

void http__log(http_server *s, http_req *r, bool answered)
{
    int64_t us = cx_mono_us() - r->start_us;
    unsigned status = answered ? r->status : 0;
    http__observe(s, r->route, r->status, us);
    if (s->quiet)
        return;
    char method[32], path[512];
    reply__log_safe(method, sizeof method, r->method ? r->method : "-");
    reply__log_safe(path, sizeof path, r->path ? r->path : "-");
    cx_log(CX_LOG_INFO, "http %s %s %u %lldus %s%s", method, path, status, (long long)us,
           r->log_org[0] ? r->log_org : "-", answered ? "" : " (connection closed early)");
}
