/* /v1/declarations over HTTP. */
#include "decl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void decl__write_free_cb(void *arg)
{
    decl__write_free(arg);
}

/* The last of the reply's maker and the job's done answers. */
static void decl__http_finish(decl_write *dw)
{
    http_req *r = dw->req;
    cx_err result = dw->result;
    if (result == CX_OK && dw->reply_err == CX_OK)
        dw->reply_err = decl__write_reply(dw, true);
    if (result == CX_OK && dw->reply_err == CX_OK) {
        http_reply(r, 201, "application/json", dw->text, dw->len); /* takes the text */
        dw->text = NULL;
    } else if (result == CX_OK) {
        /* durable, so never a "retry" that would only find a duplicate */
        char msg[200];
        cx_log(CX_LOG_ERROR, "declaration %s stored, its reply not made: %s",
               json_string_value(json_object_get(dw->doc, "id")), cx_strerror(dw->reply_err));
        snprintf(msg, sizeof msg,
                 "the declaration was stored as %s but its reply could not be made; read it "
                 "with GET /v1/declarations/%s",
                 json_string_value(json_object_get(dw->doc, "id")),
                 json_string_value(json_object_get(dw->doc, "id")));
        http_reply_error(r, 500, "internal", msg, NULL);
    } else if (result == CX_EEXIST) {
        char msg[160];
        snprintf(msg, sizeof msg, "a declaration with reference %s already exists for %s",
                 json_string_value(json_object_get(dw->doc, "reference")),
                 json_string_value(json_object_get(dw->doc, "org")));
        http_reply_error1(r, 409, "duplicate_reference", msg, "/reference",
                          "already used by this organisation");
    } else {
        cx_log(CX_LOG_ERROR, "declaration not stored: %s", cx_strerror(result));
        http_reply_error(r, 503, "unavailable", "the declaration could not be stored; retry",
                         NULL);
    }
    /* freeing the document is left to the worker: the writer is the one
     * thread every declaration waits for */
    http_resume(r);
}

static void decl__http_done(void *arg, cx_err result)
{
    decl_write *dw = arg;
    dw->result = result;
    if (decl__write_last(dw))
        decl__http_finish(dw);
}

json_t *decl_parse_body(http_req *r)
{
    size_t len;
    const char *body = http_body(r, &len);
    char msg[200];
    json_t *doc = decl_parse(body, len, msg, sizeof msg);
    if (!doc)
        http_reply_error1(r, 400, "invalid_json", "the body is not valid JSON", "", msg);
    return doc;
}

static void h_create(http_req *r, void *ctx)
{
    decl_service *d = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, DECL_ROLES, "submit declarations"))
        return;
    size_t len;
    const char *body = http_body(r, &len);
    json_t *doc = decl_parse_body(r);
    if (!doc)
        return;
    json_t *problems = json_array();
    if (!decl_validate(doc, problems)) {
        json_decref(doc);
        char m[96];
        snprintf(m, sizeof m, "the declaration has %zu problem%s", json_array_size(problems),
                 json_array_size(problems) == 1 ? "" : "s");
        http_reply_error(r, 400, "invalid_declaration", m, problems);
        return;
    }
    json_decref(problems);
    decl_write *dw;
    cx_err e = decl__write_new(d, who, doc, body, len, false, &dw);
    json_decref(doc);
    if (e != CX_OK) { /* a hook's read that failed, or no memory: nothing stored */
        http_reply_failed(r, e);
        return;
    }
    dw->req = r;
    dw->job.done = decl__http_done;
    http_on_done(r, decl__write_free_cb, dw);
    http_defer(r);
    e = store_submit(d->store, &dw->job);
    if (e != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
        http_resume(r);
        return;
    }
    /* the 201's text is made here while the writer commits */
    dw->reply_err = decl__write_reply(dw, false);
    if (decl__write_last(dw))
        decl__http_finish(dw);
}

static void h_get(http_req *r, void *ctx)
{
    decl_service *d = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, DECL_ROLES, "read declarations"))
        return;
    char *json = NULL;
    cx_err e = decl_get(d, who, http_param(r, "id"), &json);
    if (e == CX_OK)
        http_reply(r, 200, "application/json", json, strlen(json));
    else if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such declaration", NULL);
    else /* 503 for a read to retry; a damaged stored member is no such thing */
        http_reply_failed(r, e);
}

static void h_list(http_req *r, void *ctx)
{
    decl_service *d = ctx;
    const cx_principal *who = http_principal(r);
    http_page page;
    if (!http_allow(r, DECL_ROLES, "read declarations") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, 1000, &page))
        return;
    http_pager pg;
    http_pager_init(&pg, page.limit, DECL_PAGE_BYTES);
    int64_t last = 0;
    http_pager_fail(&pg, decl__list(d, who, page.after, &pg, &last));
    http_pager_reply_after(&pg, r, last); /* or the page's error */
}

static void decl__metrics(void *ctx, cx_buf *out)
{
    decl_service *d = ctx;
    if (cx_buf_printf(out, "# HELP customs_declarations_stored Declarations in the database.\n"
                           "# TYPE customs_declarations_stored gauge\n"
                           "customs_declarations_stored %lld\n",
                      (long long)decl_count(d)) != CX_OK)
        return; /* the failed buffer answers for itself */
}

cx_err decl_routes(decl_service *d, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/declarations", HTTP_AUTH | HTTP_JSON, h_create, NULL},
        {"GET", "/v1/declarations", HTTP_AUTH, h_list, "limit cursor"},
        {"GET", "/v1/declarations/{id}", HTTP_AUTH, h_get, NULL},
    };
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], d);
    if (!e)
        e = decl__decision_routes(d, srv);
    http_add_metrics(srv, decl__metrics, d);
    return e;
}
