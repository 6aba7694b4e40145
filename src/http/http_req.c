/* The access handler: request state, early rejections, dispatch, replies. */
#include "http_int.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes of an oversize body we read and drop so the 413 can be delivered;
 * past this the connection is simply closed. */
#define HTTP_DISCARD_MAX ((size_t)16 << 20)

/* ---- accessors ---------------------------------------------------------------- */

const char *http_method(const http_req *r)
{
    return r->method;
}

const char *http_path(const http_req *r)
{
    return r->path;
}

const char *http_param(const http_req *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i][0], name) == 0)
            return r->params[i][1];
    return NULL;
}

const char *http_query(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct {
    http_kv_fn fn;
    void *ctx;
} req_kv;

static enum MHD_Result req__kv(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    req_kv *kv = cls;
    (void)kind;
    return kv->fn(kv->ctx, key, value ? value : "") ? MHD_YES : MHD_NO;
}

void http_query_each(const http_req *r, http_kv_fn fn, void *ctx)
{
    req_kv kv = {fn, ctx};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, req__kv, &kv);
}

const char *http_header(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_body(const http_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const cx_principal *http_principal(const http_req *r)
{
    return r->has_principal ? &r->principal : NULL;
}

void http_set_log_org(http_req *r, const char *org)
{
    snprintf(r->log_org, sizeof r->log_org, "%s", org ? org : "");
}

/* ---- replies ------------------------------------------------------------------- */

void http_reply_header(http_req *r, const char *name, const char *value)
{
    if (r->nhdrs >= HTTP_MAX_HEADERS)
        return;
    r->hdr_names[r->nhdrs] = strdup(name);
    r->hdr_values[r->nhdrs] = strdup(value);
    r->nhdrs++;
}

static void req__set_response(http_req *r, unsigned status, struct MHD_Response *resp,
                              const char *ctype)
{
    if (!resp)
        return;
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < r->nhdrs; i++)
        if (r->hdr_names[i] && r->hdr_values[i])
            MHD_add_response_header(resp, r->hdr_names[i], r->hdr_values[i]);
    pthread_mutex_lock(&r->mu);
    if (r->resp) { /* a second reply is a bug in the caller: keep the first */
        pthread_mutex_unlock(&r->mu);
        MHD_destroy_response(resp);
        cx_log(CX_LOG_ERROR, "http: second reply to %s %s ignored", r->method, r->path);
        return;
    }
    r->resp = resp;
    r->status = status;
    pthread_mutex_unlock(&r->mu);
}

void http_reply(http_req *r, unsigned status, const char *ctype, char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, body ? body : "", body ? free : NULL);
    if (!resp)
        free(body);
    req__set_response(r, status, resp, ctype);
}

void http_reply_copy(http_req *r, unsigned status, const char *ctype, const char *body,
                     size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, body, len);
    http_reply(r, status, ctype, copy, copy ? len : 0);
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
    if (r->state == REQ_HANDLING)
        r->state = REQ_DEFERRED;
    pthread_mutex_unlock(&r->mu);
}

void http_resume(http_req *r)
{
    pthread_mutex_lock(&r->mu);
    r->state = REQ_READY;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- dispatch -------------------------------------------------------------------- */

static enum MHD_Result req__queue(http_req *r)
{
    /* Called with r->mu held. */
    if (!r->resp) {
        static const char msg[] = "{\"error\":{\"code\":\"internal\",\"message\":"
                                  "\"the handler produced no reply\",\"details\":[]}}";
        r->resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg,
                                                  MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        r->status = 500;
    }
    r->state = REQ_QUEUED;
    enum MHD_Result ok = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ok;
}

static bool req__ctype_json(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char next = ct[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ';
}

static bool req__authenticate(http_server *s, http_req *r)
{
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h) {
        http_reply_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, "unauthorized", "missing Authorization: Bearer token", NULL);
        return false;
    }
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        http_reply_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, "unauthorized", "Authorization must use the Bearer scheme",
                         NULL);
        return false;
    }
    h += 7;
    while (*h == ' ')
        h++;
    char token[256];
    size_t n = strcspn(h, " \t");
    if (n == 0 || n >= sizeof token || !s->auth) {
        http_reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        http_reply_error(r, 401, "unauthorized", "invalid or revoked token", NULL);
        return false;
    }
    memcpy(token, h, n);
    token[n] = '\0';
    cx_err e = s->auth(s->auth_ctx, token, &r->principal);
    sodium_memzero(token, sizeof token);
    if (e != CX_OK) {
        http_reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        if (e == CX_EAUTH)
            http_reply_error(r, 401, "unauthorized", "invalid or revoked token", NULL);
        else
            http_reply_error(r, 503, "unavailable", "cannot check credentials now", NULL);
        return false;
    }
    r->has_principal = true;
    snprintf(r->log_org, sizeof r->log_org, "%s", r->principal.org);
    return true;
}

/* First call for a request: route it and reject what can be rejected before
 * the body is read (so a refused upload costs us nothing). */
static void req__begin(http_server *s, http_req *r)
{
    bool mismatch = false;
    char allow[128] = "";
    r->route = http__match(s, r, &mismatch, allow, sizeof allow);
    if (!r->route) {
        if (mismatch) {
            http_reply_header(r, "Allow", allow);
            http_reply_error(r, 405, "method_not_allowed", "method not allowed on this path",
                             NULL);
        } else {
            http_reply_error(r, 404, "not_found", "no such resource", NULL);
        }
        return;
    }
    if (atomic_load(&s->draining)) {
        http_reply_header(r, "Connection", "close");
        http_reply_error(r, 503, "unavailable", "server is shutting down", NULL);
        return;
    }
    if ((r->route->flags & HTTP_AUTH) && !req__authenticate(s, r))
        return;
    bool has_body = strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
                    strcmp(r->method, "PATCH") == 0;
    if ((r->route->flags & HTTP_JSON) && has_body &&
        !req__ctype_json(http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        http_reply_error(r, 415, "unsupported_media_type",
                         "the body must be sent as Content-Type: application/json", NULL);
        return;
    }
    const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t len;
    if (cl && cx_parse_i64(cl, &len) && (uint64_t)len > s->max_body) {
        char msg[96];
        snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", s->max_body);
        http_reply_error(r, 413, "payload_too_large", msg, NULL);
    } else if (cl && len > 0) {
        /* one allocation of the announced size instead of a doubling chain;
         * if that fails the body grows as it comes (a reset clears the error) */
        if (cx_buf_reserve(&r->body, (size_t)len) != CX_OK)
            cx_buf_reset(&r->body);
    }
}

enum MHD_Result http__access(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->path = strdup(url);
        r->start_us = cx_mono_us();
        cx_buf_init(&r->body, s->max_body);
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        atomic_fetch_add(&s->inflight, 1);
        *con_cls = r;
        if (!r->path)
            return MHD_NO;
        req__begin(s, r);
        if (r->resp) {
            pthread_mutex_lock(&r->mu);
            enum MHD_Result ok = req__queue(r);
            pthread_mutex_unlock(&r->mu);
            return ok;
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->body_too_big && cx_buf_append(&r->body, upload, *upload_size) != CX_OK) {
            r->body_too_big = true;
            cx_buf_free(&r->body);
        }
        if (r->body_too_big) {
            r->discarded += *upload_size;
            if (r->discarded > HTTP_DISCARD_MAX)
                return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&r->mu);
    if (r->state == REQ_NEW) {
        r->state = REQ_HANDLING;
        pthread_mutex_unlock(&r->mu);
        if (r->body_too_big) {
            char msg[96];
            snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", s->max_body);
            http_reply_error(r, 413, "payload_too_large", msg, NULL);
        } else {
            r->route->fn(r, r->route->ctx);
        }
        pthread_mutex_lock(&r->mu);
        /* Each connection has a thread of its own: waiting here for a
         * deferred reply (e.g. a group commit) holds up no one else. */
        if (r->state == REQ_DEFERRED)
            r->state = REQ_WAITING;
        while (r->state == REQ_WAITING)
            pthread_cond_wait(&r->cv, &r->mu);
    }
    enum MHD_Result ok = MHD_YES;
    if (r->state == REQ_HANDLING || r->state == REQ_READY)
        ok = req__queue(r);
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* The path is logged decoded; a %0A in it must not start a forged line. */
static void req__log_safe(char *out, size_t cap, const char *in)
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

void http__completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    int64_t us = cx_mono_us() - r->start_us;
    bool answered = r->status != 0 && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    http__observe(s, r->route, r->status, us);
    if (!s->quiet) {
        char method[32], path[512];
        req__log_safe(method, sizeof method, r->method);
        req__log_safe(path, sizeof path, r->path);
        cx_log(CX_LOG_INFO, "http %s %s %u %lldus %s%s", method, path, answered ? r->status : 0,
               (long long)us, r->log_org[0] ? r->log_org : "-",
               answered ? "" : " (connection closed early)");
    }
    if (r->resp)
        MHD_destroy_response(r->resp);
    if (r->cleanup)
        r->cleanup(r->cleanup_arg);
    for (int i = 0; i < r->nhdrs; i++) {
        free(r->hdr_names[i]);
        free(r->hdr_values[i]);
    }
    for (int i = 0; i < r->nparams; i++)
        free((char *)r->params[i][1]);
    cx_buf_free(&r->body);
    free(r->path);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    if (atomic_fetch_sub(&s->inflight, 1) == 1 && atomic_load(&s->draining)) {
        pthread_mutex_lock(&s->drain_mu);
        pthread_cond_broadcast(&s->drain_cv);
        pthread_mutex_unlock(&s->drain_mu);
    }
}
