/* The HTTP API of the designs module (docs/designs.md has every shape). */
#include "designs_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DHTTP_NAME_MAX 255
#define DHTTP_LIST_MAX 500

static bool dhttp__officer(const cx_principal *p)
{
    return p->role == CX_ROLE_ADMIN || p->role == CX_ROLE_OFFICER;
}

static bool dhttp__forbid(http_req *r, bool allowed, const char *what)
{
    if (!allowed) {
        char msg[160];
        snprintf(msg, sizeof msg, "this role cannot %s", what);
        http_reply_error(r, 403, "forbidden", msg, NULL);
    }
    return !allowed;
}

typedef struct {
    const char *const *allowed;
    const char *bad;
} dhttp_params;

static bool dhttp__param_kv(void *ctx, const char *key, const char *value)
{
    dhttp_params *p = ctx;
    for (size_t i = 0; p->allowed[i]; i++)
        if (strcmp(p->allowed[i], key) == 0)
            return true;
    p->bad = key;
    return false;
}

/* Refuses a query parameter not in allowed (NULL-terminated). */
static bool dhttp__params(http_req *r, const char *const *allowed)
{
    dhttp_params p = {allowed, NULL};
    http_query_each(r, dhttp__param_kv, &p);
    if (!p.bad)
        return true;
    char path[80] = "";
    cx_jptr_push(path, sizeof path, p.bad);
    http_reply_error1(r, 400, "invalid_parameter", "unknown query parameter", path,
                      "is not a parameter of this endpoint");
    return false;
}

/* ---- POST /v1/designs ------------------------------------------------------------------ */

/* Media types a design file may come as; JSON, forms and multipart are
 * refused (multipart arrives with the streaming HTTP edge). */
static bool dhttp__file_type(const char *ct)
{
    static const char *const ok[] = {"application/octet-stream", "model/stl", "model/x.stl-binary",
                                     "model/x.stl-ascii", "application/sla",
                                     "application/vnd.ms-pki.stl", "model/3mf",
                                     "application/vnd.ms-package.3dmanufacturing-3dmodel+xml",
                                     "model/obj", "text/plain", NULL};
    if (!ct)
        return true;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; ok[i]; i++)
        if (strlen(ok[i]) == n && strncasecmp(ct, ok[i], n) == 0)
            return true;
    return false;
}

static bool dhttp__name_ok(const char *s)
{
    size_t n = strlen(s), chars;
    if (!cx_utf8_count(s, n, &chars) || chars == 0 || chars > DHTTP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == '\\' || s[i] == 0x7f)
            return false;
    return true;
}

/* The uploaded file. Today the request's body (at most 1 MiB); the
 * streaming HTTP edge will hand the spooled temporary file here instead
 * (designs_source_map on its path), and nothing below changes. */
static bool dhttp__source(http_req *r, designs_source *src)
{
    memset(src, 0, sizeof *src);
    src->data = http_body(r, &src->len);
    if (!src->data)
        src->data = "";
    return true;
}

static void dhttp__refused(http_req *r, const designs_error *why)
{
    json_t *details = json_array();
    json_t *p = cx_problem_add(details, "", "%s", why->message);
    if (p)
        json_object_set_new(p, "reason", json_string(why->code));
    http_reply_error(r, 422, "invalid_design", "the file is not a design this server can read",
                     details);
}

static void dhttp__fail(http_req *r, cx_err e)
{
    if (e == CX_ESHUTDOWN)
        http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
    else
        http_reply_error(r, 500, "internal", cx_strerror(e), NULL);
}

static void h_upload(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    static const char *const params[] = {"name", NULL};
    if (dhttp__forbid(r, dhttp__officer(who) || who->role == CX_ROLE_TRADER, "upload designs") ||
        !dhttp__params(r, params))
        return;
    const char *ct = http_header(r, "Content-Type");
    if (!dhttp__file_type(ct)) {
        http_reply_error(r, 415, "unsupported_media_type",
                         "send the file's bytes as application/octet-stream (or model/stl, "
                         "model/3mf, model/obj); multipart uploads are not accepted yet",
                         NULL);
        return;
    }
    const char *name = http_query(r, "name");
    if (name && !dhttp__name_ok(name)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/name",
                          "must be a file name of 1 to 255 characters without / or \\");
        return;
    }
    designs_source src;
    dhttp__source(r, &src);
    src.name = name;
    designs_result res;
    cx_err e = designs_upload(d, who, &src, &res);
    if (e == CX_EPARSE || e == CX_ETOOBIG)
        dhttp__refused(r, &res.why);
    else if (e)
        dhttp__fail(r, e);
    else
        http_reply_json(r, 201, res.json);
}

/* ---- GET /v1/designs/{sha256} ---------------------------------------------------------- */

static bool dhttp__sha(http_req *r, const char **sha)
{
    *sha = http_param(r, "sha256");
    if (dsvc__valid_sha(*sha))
        return true;
    http_reply_error1(r, 400, "invalid_parameter", "bad path parameter", "/sha256",
                      "must be 64 lowercase hexadecimal digits");
    return false;
}

static void dhttp__not_found(http_req *r)
{
    http_reply_error(r, 404, "not_found", "no such design", NULL);
}

/* GET …/{sha256}…: traders and officers, no query parameters, a hash. */
static bool dhttp__design_request(http_req *r, const cx_principal *who, const char **sha)
{
    static const char *const params[] = {NULL};
    return !dhttp__forbid(r, dhttp__officer(who) || who->role == CX_ROLE_TRADER, "see designs") &&
           dhttp__params(r, params) && dhttp__sha(r, sha);
}

static void h_get(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    const char *sha;
    if (!dhttp__design_request(r, who, &sha))
        return;
    store_conn *c = store_reader(d->store);
    json_t *uploads = json_array();
    designs_fp fp;
    char *insp = NULL;
    cx_err e = c ? dsvc__read_file(c, sha, &fp, &insp) : CX_EDB;
    if (!e)
        e = dsvc__uploads(c, sha, dhttp__officer(who) ? NULL : who->org, uploads);
    /* a trader sees only what its organisation uploaded */
    if (!e && !dhttp__officer(who) && json_array_size(uploads) == 0)
        e = CX_ENOTFOUND;
    if (e) {
        json_decref(uploads);
        free(insp);
        if (e == CX_ENOTFOUND)
            dhttp__not_found(r);
        else
            dhttp__fail(r, e);
        return;
    }
    json_error_t je;
    json_t *out = json_pack("{s:o, s:o, s:o}", "inspection", json_loads(insp, 0, &je), "matches",
                            designs_matches_json(d, &fp, !dhttp__officer(who)), "uploads",
                            uploads);
    free(insp);
    if (out)
        http_reply_json(r, 200, out);
    else
        dhttp__fail(r, CX_ENOMEM);
}

typedef struct {
    int fd;
} dhttp_file;

static ssize_t dhttp__file_read(void *ctx, char *buf, size_t max)
{
    dhttp_file *f = ctx;
    for (;;) {
        ssize_t n = read(f->fd, buf, max);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 ? n : -1;
    }
}

static void dhttp__file_free(void *ctx)
{
    dhttp_file *f = ctx;
    close(f->fd);
    free(f);
}

static void h_file(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    const char *sha;
    if (!dhttp__design_request(r, who, &sha))
        return;
    store_conn *c = store_reader(d->store);
    bool visible = false;
    if (c) {
        json_t *up = json_array();
        visible = dsvc__uploads(c, sha, dhttp__officer(who) ? NULL : who->org, up) == CX_OK &&
                  json_array_size(up) > 0;
        json_decref(up);
        visible = visible || (dhttp__officer(who) && dsvc__is_registered(c, sha));
    }
    char path[1200];
    dhttp_file *f = visible ? malloc(sizeof *f) : NULL;
    if (f && (!dsvc__file_path(d, sha, path, sizeof path) ||
              (f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)) {
        free(f);
        f = NULL;
    }
    if (!f) {
        dhttp__not_found(r);
        return;
    }
    char disp[120];
    snprintf(disp, sizeof disp, "attachment; filename=\"%.16s\"", sha);
    http_reply_header(r, "Content-Disposition", disp);
    if (!http_reply_stream(r, 200, "application/octet-stream", dhttp__file_read, f,
                           dhttp__file_free))
        dhttp__file_free(f);
}

/* ---- the watchlists ------------------------------------------------------------------- */

static const char *dhttp__str(const json_t *doc, const char *key, json_t *problems)
{
    const json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        char path[64] = "";
        cx_jptr_push(path, sizeof path, key);
        cx_problem_add(problems, path, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

/* One problem per path: a member that is not a string is not also "required". */
static void dhttp__dedupe(json_t *problems)
{
    for (size_t i = 1; i < json_array_size(problems);) {
        const char *p = json_string_value(json_object_get(json_array_get(problems, i), "path"));
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(p, json_string_value(json_object_get(json_array_get(problems, j),
                                                               "path"))) == 0;
        if (seen)
            json_array_remove(problems, i);
        else
            i++;
    }
}

static void h_register(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    static const char *const params[] = {NULL};
    if (dhttp__forbid(r, dhttp__officer(who), "register designs") || !dhttp__params(r, params))
        return;
    size_t len;
    const char *body = http_body(r, &len);
    json_error_t je;
    json_t *doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(doc)) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s (line %d, column %d)", doc ? "must be an object" : je.text,
                 je.line, je.column);
        json_decref(doc);
        http_reply_error1(r, 400, "invalid_json", "the body is not a JSON object", "", msg);
        return;
    }
    json_t *problems = json_array();
    static const char *const known[] = {"sha256", "watchlist", "holder", "title", "reference",
                                        "registration", "valid_until", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok = ok || strcmp(known[i], k) == 0;
        if (!ok) {
            char path[128] = "";
            cx_jptr_push(path, sizeof path, k);
            cx_problem_add(problems, path, "unknown member");
        }
    }
    const char *sha = dhttp__str(doc, "sha256", problems), *wl = dhttp__str(doc, "watchlist", problems);
    designs_entry e = {.holder = dhttp__str(doc, "holder", problems),
                       .title = dhttp__str(doc, "title", problems),
                       .reference = dhttp__str(doc, "reference", problems),
                       .registration = dhttp__str(doc, "registration", problems),
                       .valid_until = dhttp__str(doc, "valid_until", problems)};
    if (!dsvc__valid_sha(sha) && !json_object_get(doc, "sha256"))
        cx_problem_add(problems, "/sha256", "is required: the SHA-256 of a file uploaded to "
                                            "POST /v1/designs");
    else if (sha && !dsvc__valid_sha(sha))
        cx_problem_add(problems, "/sha256", "must be 64 lowercase hexadecimal digits");
    if (!designs_watchlist_parse(wl, &e.watchlist) &&
        !(json_object_get(doc, "watchlist") && !json_is_string(json_object_get(doc, "watchlist"))))
        cx_problem_add(problems, "/watchlist", "must be \"ipr\" or \"security\"");
    designs_entry_check(&e, problems);
    dhttp__dedupe(problems);
    if (json_array_size(problems)) {
        char m[80];
        snprintf(m, sizeof m, "the registration has %zu problem%s", json_array_size(problems),
                 json_array_size(problems) == 1 ? "" : "s");
        json_decref(doc);
        http_reply_error(r, 400, "invalid_registration", m, problems);
        return;
    }
    json_decref(problems);
    designs_result res;
    cx_err err = designs_register_sha(d, who, sha, &e, &res);
    json_decref(doc);
    if (err == CX_ENOTFOUND)
        http_reply_error1(r, 404, "not_found", "no such design", "/sha256",
                          "upload the file to POST /v1/designs first");
    else if (err == CX_EEXIST) {
        char msg[120];
        snprintf(msg, sizeof msg, "this file is already on that watchlist as %s", res.id);
        http_reply_error1(r, 409, "conflict", msg, "/sha256", "already registered");
    } else if (err)
        dhttp__fail(r, err);
    else
        http_reply_json(r, 201, res.json);
}

static void h_list(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    static const char *const params[] = {"watchlist", "limit", "cursor", NULL};
    if (dhttp__forbid(r, dhttp__officer(who) || who->role == CX_ROLE_TRADER,
                      "see the design watchlists") ||
        !dhttp__params(r, params))
        return;
    const char *wl = http_query(r, "watchlist"), *ls = http_query(r, "limit"),
               *cs = http_query(r, "cursor");
    designs_watchlist w;
    if (wl && !designs_watchlist_parse(wl, &w)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/watchlist",
                          "must be ipr or security");
        return;
    }
    /* traders see the protected designs, never the controlled ones */
    if (!dhttp__officer(who)) {
        if (dhttp__forbid(r, !wl || w == DESIGNS_WL_IPR, "see the security watchlist"))
            return;
        wl = "ipr";
    }
    int64_t limit = 100, after = 0;
    if (ls && (!cx_parse_i64(ls, &limit) || limit < 1 || limit > DHTTP_LIST_MAX)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/limit",
                          "must be an integer from 1 to 500");
        return;
    }
    if (cs && (!cx_parse_i64(cs, &after) || after < 0)) {
        http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", "/cursor",
                          "must be a next_cursor value returned by this endpoint");
        return;
    }
    json_t *items = json_array();
    int64_t last = 0;
    store_conn *c = store_reader(d->store);
    cx_err e = c ? dsvc__list(c, wl, after, limit, dhttp__officer(who), items, &last) : CX_EDB;
    if (e) {
        json_decref(items);
        dhttp__fail(r, e);
        return;
    }
    char next[24];
    snprintf(next, sizeof next, "%lld", (long long)last);
    bool more = (int64_t)json_array_size(items) == limit;
    http_reply_json(r, 200, json_pack("{s:o, s:s?}", "items", items, "next_cursor",
                                      more ? next : NULL));
}

static void h_remove(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    static const char *const params[] = {NULL};
    if (dhttp__forbid(r, dhttp__officer(who), "remove designs from a watchlist") ||
        !dhttp__params(r, params))
        return;
    const char *id = http_param(r, "id");
    char at[32];
    cx_err e = strlen(id) == CX_ID_LEN ? dsvc__remove(d, id, at) : CX_ENOTFOUND;
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such watchlist entry", NULL);
    else if (e == CX_ESTATE)
        http_reply_error(r, 409, "conflict", "this entry was already removed", NULL);
    else if (e)
        dhttp__fail(r, e);
    else
        http_reply_json(r, 200, json_pack("{s:s, s:s}", "id", id, "removed_at", at));
}

static void dhttp__metrics(void *ctx, cx_buf *out)
{
    designs_service *d = ctx;
    pthread_rwlock_rdlock(&d->lock);
    size_t n[3] = {0};
    for (size_t i = 0; i < d->nmeta; i++)
        n[d->meta[i].watchlist]++;
    pthread_rwlock_unlock(&d->lock);
    cx_buf_printf(
        out,
        "# HELP customs_designs_uploads_total Design files uploaded and stored.\n"
        "# TYPE customs_designs_uploads_total counter\n"
        "customs_designs_uploads_total %llu\n"
        "# HELP customs_designs_refused_total Uploads refused as unreadable or over the limits.\n"
        "# TYPE customs_designs_refused_total counter\n"
        "customs_designs_refused_total %llu\n"
        "# HELP customs_designs_matches_total Uploads matching a watchlist design.\n"
        "# TYPE customs_designs_matches_total counter\n"
        "customs_designs_matches_total{watchlist=\"ipr\"} %llu\n"
        "customs_designs_matches_total{watchlist=\"security\"} %llu\n"
        "# HELP customs_designs_watchlist_entries Designs on each watchlist.\n"
        "# TYPE customs_designs_watchlist_entries gauge\n"
        "customs_designs_watchlist_entries{watchlist=\"ipr\"} %zu\n"
        "customs_designs_watchlist_entries{watchlist=\"security\"} %zu\n",
        (unsigned long long)atomic_load(&d->uploads), (unsigned long long)atomic_load(&d->refused),
        (unsigned long long)atomic_load(&d->matches[DESIGNS_WL_IPR]),
        (unsigned long long)atomic_load(&d->matches[DESIGNS_WL_SECURITY]), n[DESIGNS_WL_IPR],
        n[DESIGNS_WL_SECURITY]);
}

cx_err designs_routes(designs_service *d, http_server *srv)
{
    /* the watchlist before {sha256}, which would take "watchlist" too */
    cx_err e = http_route(srv, "POST", "/v1/designs/watchlist", HTTP_AUTH | HTTP_JSON, h_register, d);
    if (!e)
        e = http_route(srv, "GET", "/v1/designs/watchlist", HTTP_AUTH, h_list, d);
    if (!e)
        e = http_route(srv, "DELETE", "/v1/designs/watchlist/{id}", HTTP_AUTH, h_remove, d);
    if (!e)
        e = http_route(srv, "POST", "/v1/designs", HTTP_AUTH, h_upload, d);
    if (!e)
        e = http_route(srv, "GET", "/v1/designs/{sha256}", HTTP_AUTH, h_get, d);
    if (!e)
        e = http_route(srv, "GET", "/v1/designs/{sha256}/file", HTTP_AUTH, h_file, d);
    if (!e)
        http_add_metrics(srv, dhttp__metrics, d);
    return e;
}
