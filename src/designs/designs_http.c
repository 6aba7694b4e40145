/* The HTTP API of the designs module (docs/designs.md has every shape). */
#include "designs_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DHTTP_NAME_MAX 255
#define DHTTP_LIST_MAX 500
#define DHTTP_UPLOAD_MAX ((size_t)128 << 20) /* issue 14: design uploads up to 128 MiB */

static const unsigned dhttp_designers = CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_TRADER);

/* ---- POST /v1/designs ------------------------------------------------------------------ */

/* Media types a design file may come as; multipart/form-data carries it as
 * a file part. Checked by the handler; an unknown query parameter is
 * refused before (the route's opts.query). */
static const char *const dhttp_file_types[] = {
    "application/octet-stream", "model/stl", "model/x.stl-binary", "model/x.stl-ascii",
    "application/sla", "application/vnd.ms-pki.stl", "model/3mf",
    "application/vnd.ms-package.3dmanufacturing-3dmodel+xml", "model/obj", "text/plain",
    "multipart/form-data", NULL};

static bool dhttp__file_type(const char *ct)
{
    if (!ct)
        return true;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; dhttp_file_types[i]; i++)
        if (strlen(dhttp_file_types[i]) == n && strncasecmp(ct, dhttp_file_types[i], n) == 0)
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

static bool dhttp__write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool dhttp__multipart(const char *ct)
{
    return ct && strncasecmp(ct, "multipart/", 10) == 0;
}

/* The form's file part, copied into an unlinked file beside the kept ones
 * and mapped: the readers want the whole file, and 128 MiB never sits on
 * the heap. Other parts: "name" (the file's name) only. Replies 400/413 and
 * returns false when the form is not one. */
static bool dhttp__form(designs_service *d, http_req *r, designs_source *src, char *name,
                        size_t namecap)
{
    char err[240];
    http_multipart *m = NULL;
    if (http_multipart_open(r, &m, err, sizeof err) != CX_OK) {
        http_reply_error1(r, 400, "invalid_multipart", "the form cannot be read", "", err);
        return false;
    }
    int fd = -1, rc;
    size_t len = 0;
    bool ok = true, file = false;
    http_part p;
    char buf[65536];
    while (ok && (rc = http_multipart_next(m, &p, err, sizeof err)) == 1) {
        ssize_t n;
        if (p.filename && !file && strcmp(p.name, "file") == 0) {
            file = true;
            if (!name[0])
                snprintf(name, namecap, "%s", p.filename);
            fd = open(d->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
            if (fd < 0) {
                dhttp__fail(r, CX_EIO);
                ok = false;
            }
            while (ok && (n = http_multipart_read(m, buf, sizeof buf)) > 0) {
                len += (size_t)n;
                ok = len <= DHTTP_UPLOAD_MAX && dhttp__write_all(fd, buf, (size_t)n);
            }
            if (ok && n < 0)
                rc = -1;
            else if (!ok)
                http_reply_error(r, len > DHTTP_UPLOAD_MAX ? 413 : 500,
                                 len > DHTTP_UPLOAD_MAX ? "payload_too_large" : "internal",
                                 len > DHTTP_UPLOAD_MAX ? "a design file may have at most 128 MiB"
                                                        : "the file cannot be kept",
                                 NULL);
        } else if (!p.filename && strcmp(p.name, "name") == 0) {
            size_t k = 0;
            while ((n = http_multipart_read(m, buf + k, sizeof buf - 1 - k)) > 0 &&
                   k + (size_t)n < sizeof buf - 1)
                k += (size_t)n;
            buf[k] = '\0';
            snprintf(name, namecap, "%s", buf);
        } else {
            char path[140] = "";
            cx_jptr_push(path, sizeof path, p.name);
            http_reply_error1(r, 400, "invalid_multipart", "unknown form field", path,
                              "the form takes a file part named file and an optional name");
            ok = false;
        }
        if (rc < 0)
            break;
    }
    if (ok && rc < 0) {
        http_reply_error1(r, 400, "invalid_multipart", "the form cannot be read", "", err);
        ok = false;
    }
    http_multipart_free(m);
    if (ok && !file) {
        http_reply_error1(r, 400, "invalid_multipart", "the form has no file", "/file",
                          "is required: the design file as a part with a filename");
        ok = false;
    }
    if (ok && len) {
        void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            dhttp__fail(r, CX_EIO);
            ok = false;
        } else {
            src->data = map;
            src->len = len;
            src->mapped = true;
        }
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

static void h_upload(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, dhttp_designers, "upload designs"))
        return;
    const char *ct = http_header(r, "Content-Type");
    if (!dhttp__file_type(ct)) {
        http_reply_error(r, 415, "unsupported_media_type",
                         "send the file's bytes as application/octet-stream (or model/stl, "
                         "model/3mf, model/obj), or as the file part of multipart/form-data",
                         NULL);
        return;
    }
    char name[DHTTP_NAME_MAX * 4 + 1] = "";
    const char *q = http_query(r, "name");
    if (q)
        snprintf(name, sizeof name, "%s", q);
    designs_source src = {.data = ""};
    if (dhttp__multipart(ct)) {
        if (!dhttp__form(d, r, &src, name, sizeof name))
            return;
    } else {
        src.data = http_body(r, &src.len); /* a spooled body is a mapping of its file */
    }
    if (name[0] && !dhttp__name_ok(name)) {
        designs_source_unmap(&src);
        http_bad_query(r, "name", "must be a file name of 1 to 255 characters without / or \\");
        return;
    }
    src.name = name[0] ? name : NULL;
    designs_result res;
    cx_err e = designs_upload(d, who, &src, &res);
    designs_source_unmap(&src);
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

/* GET …/{sha256}…: traders and officers, a hash. */
static bool dhttp__design_request(http_req *r, const char **sha)
{
    return http_allow(r, dhttp_designers, "see designs") && dhttp__sha(r, sha);
}

static void h_get(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    const char *sha;
    if (!dhttp__design_request(r, &sha))
        return;
    store_conn *c = store_reader(d->store);
    json_t *uploads = json_array();
    designs_fp fp;
    char *insp = NULL;
    cx_err e = c ? dsvc__read_file(c, sha, &fp, &insp) : CX_EDB;
    if (!e)
        e = dsvc__uploads(c, sha, cx_is_officer(who) ? NULL : who->org, uploads);
    /* a trader sees only what its organisation uploaded */
    if (!e && !cx_is_officer(who) && json_array_size(uploads) == 0)
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
                            designs_matches_json(d, &fp, !cx_is_officer(who)), "uploads",
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
    if (!dhttp__design_request(r, &sha))
        return;
    store_conn *c = store_reader(d->store);
    bool visible = false;
    if (c) {
        json_t *up = json_array();
        visible = dsvc__uploads(c, sha, cx_is_officer(who) ? NULL : who->org, up) == CX_OK &&
                  json_array_size(up) > 0;
        json_decref(up);
        visible = visible || (cx_is_officer(who) && dsvc__is_registered(c, sha));
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
    if (!http_allow_officer(r, "register designs"))
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
        http_reply_error1(r, 409, "duplicate_registration", msg, "/sha256", "already registered");
    } else if (err)
        dhttp__fail(r, err);
    else
        http_reply_json(r, 201, res.json);
}

static void h_list(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    const cx_principal *who = http_principal(r);
    static const char *const lists[] = {"ipr", "security", NULL};
    int w = -1;
    http_page page;
    if (!http_allow(r, dhttp_designers, "see the design watchlists") ||
        !http_query_enum(r, "watchlist", lists, &w) ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, DHTTP_LIST_MAX, &page))
        return;
    /* traders see the protected designs, never the controlled ones */
    if (!cx_is_officer(who)) {
        if (w == 1) {
            http_reply_error(r, 403, "forbidden", "this role (trader) cannot see the security "
                                                  "watchlist", NULL);
            return;
        }
        w = 0;
    }
    json_t *items = json_array();
    int64_t last = 0, rows[DHTTP_LIST_MAX + 1];
    store_conn *c = store_reader(d->store);
    http_pager pg;
    http_pager_init(&pg, page.limit, HTTP_PAGE_BUDGET);
    /* a list that could not be read fails the page: its reply is the error */
    http_pager_fail(&pg, c ? dsvc__list(c, w < 0 ? NULL : lists[w], page.after, page.limit + 1,
                                        cx_is_officer(who), items, rows, &last)
                           : CX_EDB);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (!http_pager_item(&pg))
            break;
        http_pager_json_new(&pg, json_incref(it));
        last = rows[i];
    }
    json_decref(items);
    http_pager_reply_after(&pg, r, last);
}

static void h_remove(http_req *r, void *ctx)
{
    designs_service *d = ctx;
    if (!http_allow_officer(r, "remove designs from a watchlist"))
        return;
    const char *id = http_param(r, "id");
    char at[32];
    cx_err e = strlen(id) == CX_ID_LEN ? dsvc__remove(d, id, at) : CX_ENOTFOUND;
    if (e == CX_ENOTFOUND)
        http_reply_error(r, 404, "not_found", "no such watchlist entry", NULL);
    else if (e == CX_ESTATE)
        http_reply_error(r, 409, "state_conflict", "this entry was already removed", NULL);
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
    cx_err e = cx_buf_printf(
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
    (void)e; /* a failed buffer answers for itself (the /metrics handler) */
}

cx_err designs_routes(designs_service *d, http_server *srv)
{
    /* the watchlist before {sha256}, which would take "watchlist" too */
    static const http_route_def routes[] = {
        {"POST", "/v1/designs/watchlist", HTTP_AUTH | HTTP_JSON, h_register, NULL},
        {"GET", "/v1/designs/watchlist", HTTP_AUTH, h_list, "watchlist limit cursor"},
        {"DELETE", "/v1/designs/watchlist/{id}", HTTP_AUTH, h_remove, NULL},
        {"GET", "/v1/designs/{sha256}", HTTP_AUTH, h_get, NULL},
        {"GET", "/v1/designs/{sha256}/file", HTTP_AUTH, h_file, NULL},
    };
    /* uploads: up to 128 MiB, spooled to a temporary file as they arrive;
     * ?name= only, other query parameters refused before the body is read */
    const http_route_opts upload = {.max_body = DHTTP_UPLOAD_MAX, .spool = true, .query = "name"};
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], d);
    if (!e)
        e = http_route_ex(srv, "POST", "/v1/designs", HTTP_AUTH, &upload, h_upload, d);
    if (!e)
        http_add_metrics(srv, dhttp__metrics, d);
    return e;
}
