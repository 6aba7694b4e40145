/* Static files of the console. Small and few: each request reads its file
 * (bounded) instead of caching, so a rebuilt console shows up at once. */
#include "web.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CUSTOMS_WEB_BUILD_DIR
#define CUSTOMS_WEB_BUILD_DIR "web"
#endif

#define WEB_MAX_FILE ((size_t)8 << 20) /* face-api's recognition weights are 6.2 MiB */

/* img-src blob:: X-ray pictures are fetched with the bearer token and shown
 * through blob: URLs (js/xray.js); nothing else is widened. */
const char web_csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                       "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
                       "object-src 'none'; base-uri 'none'; form-action 'self'; "
                       "frame-ancestors 'none'";

/* The Identify page runs face-api (TensorFlow.js) in the browser: its WebGL
 * and WebAssembly backends compile code at run time ('wasm-unsafe-eval')
 * and the camera's stream plays from a blob:/MediaStream source (media-src).
 * Only that document gets these; every other page keeps web_csp. */
const char web_csp_identify[] = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
                                "style-src 'self'; img-src 'self' data: blob:; "
                                "media-src 'self' blob:; connect-src 'self'; font-src 'self'; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'";

const char *web_default_dir(void)
{
    const char *env = getenv("CUSTOMS_WEB_DIR");
    if (env && *env)
        return env;
    struct stat st;
    if (stat(CUSTOMS_WEB_BUILD_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return CUSTOMS_WEB_BUILD_DIR;
    return "/usr/share/customs/web";
}

static const char *web__type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".jpg", "image/jpeg"},
        {".bin", "application/octet-stream"}, /* face-api's model weights */
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* Safe relative paths only: segments of [A-Za-z0-9._-], none "." or "..". */
static bool web__path_ok(const char *p)
{
    if (!*p || strlen(p) > 200)
        return false;
    const char *seg = p;
    for (const char *c = p;; c++) {
        if (*c == '/' || *c == '\0') {
            size_t n = (size_t)(c - seg);
            if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            if (*c == '\0')
                return true;
            seg = c + 1;
        } else if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-')) {
            return false;
        }
    }
}

static void web__send(http_req *r, const char *dir, const char *rel)
{
    const char *type = web__type(rel);
    if (!web__path_ok(rel) || !type) {
        http_reply_error(r, 404, "not_found", "no such resource", NULL);
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > WEB_MAX_FILE) {
        if (fd >= 0)
            close(fd);
        http_reply_error(r, 404, "not_found", "no such resource", NULL);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        free(buf);
        http_reply_error(r, 500, "internal", "cannot read the file", NULL);
        return;
    }
    http_reply_header(r, "Content-Security-Policy",
                      strcmp(rel, "identify.html") == 0 ? web_csp_identify : web_csp);
    http_reply_header(r, "Referrer-Policy", "no-referrer");
    http_reply_header(r, "X-Frame-Options", "DENY");
    http_reply_header(r, "Cache-Control", "no-cache");
    http_reply(r, 200, type, buf, got);
}

static void h_index(http_req *r, void *ctx)
{
    web__send(r, ctx, "index.html");
}

static void h_file(http_req *r, void *ctx)
{
    web__send(r, ctx, http_param(r, "path"));
}

/* Who the bearer token is: the console shows it and offers only what the role may do. */
static void h_whoami(http_req *r, void *ctx)
{
    (void)ctx;
    const cx_principal *p = http_principal(r);
    http_reply_json(r, 200, json_pack("{s:s,s:s,s:I,s:s?}", "org", p->org, "role",
                                      cx_role_name(p->role), "key_id", (json_int_t)p->key_id,
                                      "subject", p->subject[0] ? p->subject : NULL));
}

/* The API description (docs/openapi.json, assembled with the console). */
static void h_openapi(http_req *r, void *ctx)
{
    web__send(r, ctx, "openapi.json");
}

/* The files the pages cannot do without: ours, the API description, and
 * what scripts/web-assemble copies from npm (web/node_modules). */
static const char *const web_assets[] = {
    "index.html",        "app.css",         "js/main.js",
    "openapi.json",      "vendor/leaflet.js", "vendor/leaflet.css",
    "vendor/uplot.js",   "vendor/uplot.css",  "vendor/countries-50m.json",
    "vendor/topojson/index.js", "identify.html", "vendor/face-api.js",
    "vendor/face-api-model/face_recognition_model.bin",
};

size_t web_missing(const char *dir, char *out, size_t cap)
{
    size_t n = 0, o = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof web_assets / sizeof *web_assets; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, web_assets[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            continue;
        n++;
        int w = o < cap ? snprintf(out + o, cap - o, "%s%s", o ? ", " : "", web_assets[i]) : 0;
        if (w > 0)
            o += (size_t)w;
    }
    return n;
}

cx_err web_routes(http_server *srv, const char *dir)
{
    char missing[512];
    size_t n = web_missing(dir, missing, sizeof missing);
    if (n)
        cx_log(CX_LOG_WARN, "console: %zu file%s missing in %s: %s. The console will lack them "
                            "(maps, charts, the API description): run scripts/install-deps --web "
                            "(npm ci) and make build",
               n, n == 1 ? "" : "s", dir, missing);
    static const http_route_def api[] = {
        {"GET", "/v1/whoami", HTTP_AUTH, h_whoami, NULL},
    };
    /* Files take no query either: the console routes with the fragment (#/queue?…),
     * which browsers never send. */
    static const http_route_def files[] = {
        {"GET", "/openapi.json", 0, h_openapi, NULL},
        {"GET", "/", 0, h_index, NULL},
        /* Registered last, so every API route wins over a file name. */
        {"GET", "/{path*}", HTTP_FALLBACK, h_file, NULL},
    };
    cx_err e = http_routes(srv, api, 1, NULL);
    if (!e)
        e = http_routes(srv, files, 3, (void *)dir);
    return e;
}
