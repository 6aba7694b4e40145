/* Requests: accessors, authentication and the handler run on a worker, the
 * checks of the body's media type and of the metrics token. */
#include "http_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* ---- accessors ---------------------------------------------------------------- */

const char *http_method(const http_req *r)
{
    return r->method ? r->method : "";
}

const char *http_path(const http_req *r)
{
    return r->path ? r->path : "";
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
    for (int i = 0; i < r->nargs; i++)
        if (strcmp(r->args[i][0], name) == 0)
            return r->args[i][1];
    return NULL;
}

void http_query_each(const http_req *r, http_kv_fn fn, void *ctx)
{
    for (int i = 0; i < r->nargs; i++)
        if (!fn(ctx, r->args[i][0], r->args[i][1]))
            return;
}

const char *http_header(const http_req *r, const char *name)
{
    return hp_header_get(&r->rq, name);
}

const cx_principal *http_principal(const http_req *r)
{
    return r->has_principal ? &r->principal : NULL;
}

void http_set_log_org(http_req *r, const char *org)
{
    snprintf(r->log_org, sizeof r->log_org, "%s", org ? org : "");
}

/* ---- life ------------------------------------------------------------------------ */

static void req__run_cleanup(http_task *t)
{
    http_req *r = container_of(t, http_req, task);
    r->cleanup(r->cleanup_arg);
    free(r);
}

http_req *http__req_new(http_server *s, http_conn *c)
{
    http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = s;
    r->conn = c;
    r->body_fd = -1;
    r->start_us = cx_mono_us();
    r->keep_alive = false;
    memcpy(r->addr, c->addr, sizeof r->addr);
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->map_mu, NULL);
    r->task.run = http__req_run;
    r->ev.kind = EV_REPLY;
    atomic_fetch_add(&s->inflight, 1);
    return r;
}

/* A request stops counting against its key once its reply is complete: before
 * any byte of it is sent, so a client that waits for each answer never finds
 * its previous request still counted. */
void http__req_release_quota(http_req *r)
{
    if (!r->quota_held)
        return;
    r->quota_held = false;
    http__quota_give(r->srv->quota, r->principal.key_id, r->principal.org, QUOTA_INFLIGHT);
}

void http__req_free(http_req *r)
{
    http_server *s = r->srv;
    http__req_release_quota(r);
    if (r->stream)
        http__stream_discard(r->stream);
    http__body_free(r);
    for (int i = 0; i < r->nhdrs; i++) {
        free(r->hdr_names[i]);
        free(r->hdr_values[i]);
    }
    for (int i = 0; i < r->nparams; i++)
        free((char *)r->params[i][1]);
    free(r->head);
    free(r->path);
    free(r->ctype);
    free(r->rbody);
    free(r->out_head);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->map_mu);
    if (atomic_fetch_sub(&s->inflight, 1) == 1 && atomic_load(&s->draining)) {
        pthread_mutex_lock(&s->drain_mu);
        pthread_cond_broadcast(&s->drain_cv);
        pthread_mutex_unlock(&s->drain_mu);
    }
    if (r->cleanup) { /* on a worker, as the handler's frees were (never the loop's time) */
        r->task.run = req__run_cleanup;
        http__task(s, &r->task);
        return;
    }
    free(r);
}

/* ---- checks made before the body is read ------------------------------------------ */

bool http__ctype_ok(http_req *r, const http_route_t *rt)
{
    const char *v = http_header(r, "Content-Type");
    hp_ctype ct;
    bool parsed = v && hp_ctype_parse(v, &ct);
    if (parsed && ct.charset[0] && strcmp(ct.charset, "utf-8") != 0) {
        http_reply_error1(r, 415, "unsupported_media_type", "the body must be UTF-8",
                          "/headers/content-type", "only charset=utf-8 is accepted");
        return false;
    }
    if ((rt->flags & HTTP_JSON) && !rt->accept) {
        if (parsed && strcmp(ct.type, "application/json") == 0)
            return true;
        http_reply_error(r, 415, "unsupported_media_type",
                         "the body must be sent as Content-Type: application/json", NULL);
        return false;
    }
    if (!rt->accept)
        return true;
    for (char **a = rt->accept; parsed && *a; a++)
        if (strcmp(*a, ct.type) == 0 &&
            (strcmp(ct.type, "multipart/form-data") != 0 || ct.boundary[0]))
            return true;
    char msg[256];
    size_t n = (size_t)snprintf(msg, sizeof msg, "the body must be sent as");
    for (char **a = rt->accept; *a && n < sizeof msg; a++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "%s %s", a == rt->accept ? "" : " or",
                              *a);
    http_reply_error1(r, 415, "unsupported_media_type", msg, "/headers/content-type",
                      parsed ? "this media type is not accepted here" : "missing or malformed");
    return false;
}

/* /metrics behind a token: the hash of what was sent against the hash of the
 * token, compared in constant time. */
bool http__metrics_allowed(http_server *s, http_req *r)
{
    if (!s->metrics_token)
        return true;
    const char *h = http_header(r, "Authorization");
    uint8_t got[32];
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *t = h + 7;
        while (*t == ' ')
            t++;
        crypto_generichash(got, sizeof got, (const uint8_t *)t, strlen(t), NULL, 0);
        if (sodium_memcmp(got, s->metrics_hash, sizeof got) == 0)
            return true;
    }
    http_reply_header(r, "WWW-Authenticate", "Bearer");
    http_reply_error(r, 401, "unauthorized", "/metrics needs the metrics token", NULL);
    return false;
}

/* ---- on a worker ------------------------------------------------------------------------ */

static bool req__authenticate(http_server *s, http_req *r)
{
    const char *h = http_header(r, "Authorization");
    if (!h) {
        http_reply_header(r, "WWW-Authenticate", "Bearer");
        http_reply_error(r, 401, "unauthorized", "missing Authorization: Bearer token", NULL);
        return false;
    }
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
    const char *which;
    if (!http__quota_take(s->quota, &r->principal, QUOTA_INFLIGHT, s->max_inflight_key, 0,
                          &which)) {
        atomic_fetch_add(&s->n_refused[REF_INFLIGHT], 1);
        http_reply_header(r, "Retry-After", "1");
        http_reply_error(r, 429, "too_many_requests",
                         "this key has too many requests in flight; retry when one is answered",
                         NULL);
        return false;
    }
    r->quota_held = true;
    return true;
}

void http__req_run(http_task *t)
{
    http_req *r = container_of(t, http_req, task);
    http_server *s = r->srv;
    if ((r->route->flags & HTTP_AUTH) && !r->has_principal) {
        if (!req__authenticate(s, r)) {
            http__req_complete(r, true);
            return;
        }
        if (r->phase == PH_AUTH) { /* the loop reads the body now */
            r->ev.kind = EV_AUTHED;
            http__post(s, &r->ev);
            return;
        }
    }
    r->ev.kind = EV_REPLY;
    pthread_mutex_lock(&r->mu);
    r->in_handler = true;
    pthread_mutex_unlock(&r->mu);
    r->route->fn(r, r->route->ctx);
    pthread_mutex_lock(&r->mu);
    r->in_handler = false;
    bool finish = !r->deferred || r->resumed;
    pthread_mutex_unlock(&r->mu);
    if (finish)
        http__req_complete(r, true);
}
