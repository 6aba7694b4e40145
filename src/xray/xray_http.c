/* /v1/xray: scanners, scans (upload, list, one, its renderings), region
 * outcomes and the analyses' measured quality. Officers and admins read;
 * device keys bound to a scanner only post that scanner's scans. */
#include "xray_svc.h"

#include "auth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 200

static void http__unavailable(http_req *r)
{
    http_reply_error(r, 503, "unavailable", "the database is unavailable; retry", NULL);
}

/* ---- a scan as JSON ------------------------------------------------------------------- */

static cx_err http__outcomes(store_conn *c, int64_t seq, cx_buf *out)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT n, kind, found, note, org, role, key_id, at FROM "
                                     "xray_outcomes WHERE scan_seq = ?1 ORDER BY n");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *note = (const char *)sqlite3_column_text(st, 3);
        json_array_append_new(
            arr, json_pack("{s:i,s:s,s:b,s:s?,s:{s:s,s:s,s:I},s:s}", "n",
                           sqlite3_column_int(st, 0), "kind",
                           (const char *)sqlite3_column_text(st, 1), "found",
                           sqlite3_column_int(st, 2), "note", note, "by", "org",
                           (const char *)sqlite3_column_text(st, 4), "role",
                           (const char *)sqlite3_column_text(st, 5), "key_id",
                           (json_int_t)sqlite3_column_int64(st, 6), "at",
                           (const char *)sqlite3_column_text(st, 7)));
    }
    sqlite3_reset(st);
    char *text = rc == SQLITE_DONE ? cx_json_dump(arr, NULL) : NULL;
    json_decref(arr);
    cx_err e = text ? cx_buf_puts(out, text) : rc == SQLITE_DONE ? CX_ENOMEM : CX_EDB;
    free(text);
    return e;
}

cx_err xray__scan_json(store_conn *c, const xray_row *r, cx_buf *out)
{
    json_t *head = json_pack("{s:s,s:s,s:s,s:i,s:i,s:I,s:s,s:s,s:s?,s:s,s:s,s:{s:s,s:s,s:I}}",
                             "id", r->id, "sha256", r->sha256, "format", r->format, "width",
                             r->width, "height", r->height, "bytes", (json_int_t)r->bytes,
                             "scanner", r->scanner, "container", r->container, "declaration",
                             r->declaration[0] ? r->declaration : NULL, "time", r->time,
                             "received_at", r->received_at, "by", "org", r->org, "role", r->role,
                             "key_id", (json_int_t)r->key_id);
    if (!head)
        return CX_ENOMEM;
    if (!r->declaration[0])
        json_object_set_new(head, "declaration", json_null());
    char *text = cx_json_dump(head, NULL);
    json_decref(head);
    if (!text)
        return CX_ENOMEM;
    text[strlen(text) - 1] = '\0'; /* members follow */
    cx_err e = cx_buf_printf(out, "%s,\"meta\":%s,\"analysis\":%s,\"outcomes\":", text, r->meta,
                             r->analysis);
    free(text);
    if (e == CX_OK)
        e = http__outcomes(c, r->seq, out);
    if (e == CX_OK)
        e = cx_buf_printf(out, ",\"image_url\":\"/v1/xray/scans/%s/image.png\","
                               "\"overlay_url\":\"/v1/xray/scans/%s/overlay.png\"}",
                          r->id, r->id);
    return e;
}

/* ---- scanners --------------------------------------------------------------------------- */

typedef struct {
    xray_scanner sc;
    char by[CX_ORG_MAX + 40];
} scanner_job;

static cx_err http__scanner_insert(store_conn *w, void *arg)
{
    scanner_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO xray_scanners(id, name, site, org, key_id, "
                                     "created_at, created_by) VALUES(?1,?2,?3,?4,?5,?6,?7)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->sc.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->sc.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, j->sc.site, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, j->sc.org, -1, SQLITE_STATIC);
    if (j->sc.key_id)
        sqlite3_bind_int64(st, 5, j->sc.key_id);
    sqlite3_bind_text(st, 6, j->sc.created_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, j->by, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return CX_EEXIST;
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static json_t *http__scanner_json(const xray_scanner *s)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", s->id, "name", s->name, "site", s->site,
                          "org", s->org, "created_at", s->created_at);
    json_object_set_new(o, "key_id", s->key_id ? json_integer(s->key_id) : json_null());
    return o;
}

static void http__text_member(const json_t *in, const char *name, size_t max, char *out,
                              size_t outlen, json_t *problems)
{
    const json_t *v = json_object_get(in, name);
    char path[32];
    snprintf(path, sizeof path, "/%s", name);
    size_t cps;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        !cx_utf8_count(json_string_value(v), json_string_length(v), &cps) || cps > max ||
        json_string_length(v) >= outlen)
        cx_problem_add(problems, path, "must be a string of 1 to %zu characters", max);
    else
        snprintf(out, outlen, "%s", json_string_value(v));
}

static void h_scanners_post(http_req *r, void *ctx)
{
    xray_service *x = ctx;
    if (!http_allow_officer(r, "register scanners"))
        return;
    const cx_principal *who = http_principal(r);
    json_t *body = decl_parse_body(r);
    if (!body)
        return;
    json_t *problems = json_array();
    scanner_job j = {0};
    if (!json_is_object(body)) {
        cx_problem_add(problems, "", "a scanner is a JSON object");
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
            if (strcmp(key, "id") && strcmp(key, "name") && strcmp(key, "site") &&
                strcmp(key, "key_id")) {
                char path[80] = "";
                cx_jptr_push(path, sizeof path, key);
                cx_problem_add(problems, path, "is not a member of a scanner");
            }
        }
        const char *id = json_string_value(json_object_get(body, "id"));
        if (!xray_id_valid(id))
            cx_problem_add(problems, "/id", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
        else
            snprintf(j.sc.id, sizeof j.sc.id, "%s", id);
        http__text_member(body, "name", 200, j.sc.name, sizeof j.sc.name, problems);
        http__text_member(body, "site", 200, j.sc.site, sizeof j.sc.site, problems);
        const json_t *kid = json_object_get(body, "key_id");
        if (kid && !json_is_null(kid)) {
            cx_principal k;
            cx_err e = json_is_integer(kid) && json_integer_value(kid) > 0
                           ? auth_key_get(x->store, (int64_t)json_integer_value(kid), &k)
                           : CX_ENOTFOUND;
            if (e == CX_OK && k.role == CX_ROLE_DEVICE && strcmp(k.org, who->org) == 0)
                j.sc.key_id = k.key_id;
            else
                cx_problem_add(problems, "/key_id",
                               "must be the id of a key of role device of organisation %s that "
                               "is not revoked (customs keys list)",
                               who->org);
        }
    }
    json_decref(body);
    if (json_array_size(problems)) {
        http_reply_error(r, 400, "invalid_scanner", "the scanner is not valid", problems);
        return;
    }
    json_decref(problems);
    snprintf(j.sc.org, sizeof j.sc.org, "%s", who->org);
    cx_rfc3339_format(cx_now_us(), j.sc.created_at);
    snprintf(j.by, sizeof j.by, "%s/%s/key-%lld", who->org, cx_role_name(who->role),
             (long long)who->key_id);
    cx_err e = store_write(x->store, http__scanner_insert, &j);
    if (e == CX_EEXIST) {
        /* the id, or the key already bound to another scanner */
        store_conn *c = store_reader(x->store);
        xray_scanner old;
        bool id_taken = c && xray__scanner_get(c, j.sc.id, 0, &old) == CX_OK;
        http_reply_error1(r, 409, id_taken ? "duplicate_scanner" : "key_in_use",
                          id_taken ? "a scanner with this id exists"
                                   : "this device key is bound to another scanner",
                          id_taken ? "/id" : "/key_id",
                          id_taken ? "is already registered" : "is already bound to a scanner");
        return;
    }
    if (e != CX_OK) {
        http__unavailable(r);
        return;
    }
    http_reply_json(r, 201, http__scanner_json(&j.sc));
}

static void h_scanners_list(http_req *r, void *ctx)
{
    xray_service *x = ctx;
    if (!http_allow_officer(r, "read scanners"))
        return;
    store_conn *c = store_reader(x->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT id, name, site, org, key_id, created_at FROM "
                                         "xray_scanners ORDER BY id LIMIT 10000")
                         : NULL;
    if (!st) {
        http__unavailable(r);
        return;
    }
    json_t *items = json_array();
    cx_err e = CX_OK; /* a scanner that could not be read or built: no short list */
    while (store_next(st, &e)) {
        xray_scanner s = {0};
        snprintf(s.id, sizeof s.id, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(s.name, sizeof s.name, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(s.site, sizeof s.site, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(s.org, sizeof s.org, "%s", (const char *)sqlite3_column_text(st, 3));
        s.key_id = sqlite3_column_int64(st, 4);
        snprintf(s.created_at, sizeof s.created_at, "%s", (const char *)sqlite3_column_text(st, 5));
        cx_json_push(items, http__scanner_json(&s), &e);
    }
    sqlite3_reset(st);
    if (e != CX_OK) {
        json_decref(items);
        http_reply_failed(r, e);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* ---- scans ---------------------------------------------------------------------------- */

typedef struct {
    http_pager *pg;
    store_conn *c;
    int64_t last;
    cx_err e;
} list_ctx;

static bool http__list_item(void *ctx, const xray_row *row)
{
    list_ctx *l = ctx;
    if (!http_pager_item(l->pg))
        return false;
    l->e = xray__scan_json(l->c, row, &l->pg->out);
    l->last = row->seq;
    return l->e == CX_OK;
}

/* Newest first; the cursor is the seq of the last scan of the previous page. */
static void h_scans_list(http_req *r, void *ctx)
{
    xray_service *x = ctx;
    if (!http_allow_officer(r, "read scans"))
        return;
    xray_filter f = {http_query(r, "declaration"), http_query(r, "container"),
                     http_query(r, "scanner"), 0, 0};
    json_t *problems = json_array();
    http_page pg;
    if (f.declaration && !xray_id_valid(f.declaration))
        cx_problem_add(problems, "/declaration", "must be a declaration id");
    if (f.container && !decl_container_valid(f.container))
        cx_problem_add(problems, "/container",
                       "must be an ISO 6346 container number with a correct check digit");
    if (f.scanner && !xray_id_valid(f.scanner))
        cx_problem_add(problems, "/scanner", "must be a scanner id");
    if (!http_page_check(r, HTTP_CURSOR_INT, 50, LIST_MAX, &pg, problems) ||
        json_array_size(problems)) {
        http_bad_queries(r, problems);
        return;
    }
    json_decref(problems);
    f.before = pg.after;
    f.limit = (int)pg.limit + 1; /* one more tells whether there is a next page */
    http_pager p;
    http_pager_init(&p, pg.limit, HTTP_PAGE_BUDGET);
    list_ctx l = {&p, store_reader(x->store), 0, CX_OK};
    /* a scan that would not build or a row that would not read fails the page */
    http_pager_fail(&p, l.c ? xray__row_list(l.c, &f, http__list_item, &l) : CX_EDB);
    http_pager_fail(&p, l.e);
    http_pager_reply_after(&p, r, l.last); /* or the page's error */
    http_pager_free(&p);
}

/* The scan named in the path, for a reader, on a route without query
 * parameters; replies (403, 400, 404, 503) itself when it cannot be had. */
static bool http__scan(xray_service *x, http_req *r, xray_row *row, store_conn **c)
{
    if (!http_allow_officer(r, "read scans"))
        return false;
    const char *id = http_param(r, "id");
    *c = store_reader(x->store);
    cx_err e = !xray_id_valid(id) ? CX_ENOTFOUND : *c ? xray__row_get(*c, id, row) : CX_EDB;
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such scan", NULL);
    else if (e != CX_OK)
        http__unavailable(r);
    return e == CX_OK;
}

static void h_scan_get(http_req *r, void *ctx)
{
    xray_service *x = ctx;
    xray_row row;
    store_conn *c;
    if (!http__scan(x, r, &row, &c))
        return;
    cx_buf out;
    cx_buf_init(&out, (size_t)8 << 20);
    cx_err e = xray__scan_json(c, &row, &out);
    xray__row_clear(&row);
    if (e != CX_OK) {
        cx_buf_free(&out);
        http__unavailable(r);
        return;
    }
    size_t len;
    char *text = cx_buf_steal(&out, &len);
    http_reply(r, 200, "application/json", text, len);
}

cx_err xray__render_stored(xray_service *x, const xray_row *row, bool overlay, cx_buf *out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    cx_err e = xray__blob_get(x->blob_dir, row->sha256, &data, &len);
    xray_image *im = NULL;
    char err[256];
    if (e == CX_OK)
        e = xray_read(data, len, &im, NULL, err, sizeof err);
    free(data);
    json_t *meta = e == CX_OK ? json_loads(row->meta, 0, NULL) : NULL;
    json_t *an = e == CX_OK ? json_loads(row->analysis, 0, NULL) : NULL;
    xray_meta m;
    if (e == CX_OK && !xray_meta_parse(meta, "", false, &m, NULL, NULL))
        e = CX_EPARSE;
    xray_region *regions = NULL;
    size_t n = 0;
    if (e == CX_OK && overlay)
        e = xray_regions_from_json(json_object_get(an, "regions"), &regions, &n);
    if (e == CX_OK)
        e = overlay ? xray_render_overlay(im, &m, regions, n, out) : xray_render_png(im, &m, out);
    free(regions);
    json_decref(meta);
    json_decref(an);
    xray_image_free(im);
    return e;
}

static void http__render(http_req *r, xray_service *x, bool overlay)
{
    xray_row row;
    store_conn *c;
    if (!http__scan(x, r, &row, &c))
        return;
    char etag[96];
    /* a rendering changes only with its code: the hash of the scan and a version */
    snprintf(etag, sizeof etag, "\"%.32s-%s-1\"", row.sha256, overlay ? "o" : "i");
    const char *inm = http_header(r, "If-None-Match");
    http_reply_header(r, "ETag", etag);
    http_reply_header(r, "Cache-Control", "private, max-age=86400");
    if (inm && strcmp(inm, etag) == 0) {
        xray__row_clear(&row);
        http_reply_copy(r, 304, "image/png", "", 0);
        return;
    }
    cx_buf out;
    cx_buf_init(&out, (size_t)256 << 20);
    cx_err e = xray__render_stored(x, &row, overlay, &out);
    xray__row_clear(&row);
    if (e != CX_OK) {
        cx_buf_free(&out);
        http_reply_error(r, 500, "internal",
                         e == CX_ECRYPTO || e == CX_ENOTFOUND
                             ? "the stored image is missing or does not match its hash"
                             : "the scan could not be rendered",
                         NULL);
        return;
    }
    size_t len;
    char *png = cx_buf_steal(&out, &len);
    http_reply(r, 200, "image/png", png, len);
}

static void h_scan_image(http_req *r, void *ctx)
{
    http__render(r, ctx, false);
}

static void h_scan_overlay(http_req *r, void *ctx)
{
    http__render(r, ctx, true);
}

static const http_route_def routes[] = {
    {"POST", "/v1/xray/scanners", HTTP_AUTH | HTTP_JSON, h_scanners_post, NULL},
    {"GET", "/v1/xray/scanners", HTTP_AUTH, h_scanners_list, NULL},
    {"GET", "/v1/xray/scans", HTTP_AUTH, h_scans_list, "declaration container scanner limit cursor"},
    {"GET", "/v1/xray/scans/{id}", HTTP_AUTH, h_scan_get, NULL},
    {"GET", "/v1/xray/scans/{id}/image.png", HTTP_AUTH, h_scan_image, NULL},
    {"GET", "/v1/xray/scans/{id}/overlay.png", HTTP_AUTH, h_scan_overlay, NULL},
};

cx_err xray_routes(xray_service *x, http_server *srv)
{
    /* the upload first: its body options are its own (64 MiB, spooled) */
    cx_err e = http_route_ex(srv, "POST", "/v1/xray/scans", HTTP_AUTH, &xray__upload_opts,
                             xray__h_scans_post, x);
    if (!e)
        e = http_routes(srv, routes, sizeof routes / sizeof routes[0], x);
    if (!e)
        e = xray__outcome_routes(x, srv);
    return e;
}
