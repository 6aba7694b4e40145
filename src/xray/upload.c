/* POST /v1/xray/scans: the body comes spooled to a temporary file (up to
 * 64 MiB of image plus its sidecar) as multipart/form-data (parts "meta"
 * and "image") or as JSON {"meta":{…},"image_base64":"…"} for small scans.
 * A multipart image goes part by part into an unlinked file that is then
 * mapped: neither the body nor the image is ever whole on the heap. */
#include "xray_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#define META_MAX ((size_t)64 << 10)  /* the sidecar part */
#define JSON_MAX ((size_t)16 << 20)  /* a base64 upload: scans up to ~12 MiB */

static const char *const upload_types[] = {"multipart/form-data", "application/json", NULL};

const http_route_opts xray__upload_opts = {
    .max_body = XRAY_MAX_FILE + META_MAX + ((size_t)64 << 10), /* + the parts' headers */
    .spool = true,
    .accept = upload_types,
};

static void upload__bad(http_req *r, const char *path, const char *rule)
{
    http_reply_error1(r, 400, "invalid_scan", "the upload is not valid", path, rule);
}

/* ---- JSON with base64 ---------------------------------------------------------------- */

static void upload__json(xray_service *x, http_req *r)
{
    size_t blen;
    const char *text = http_body(r, &blen);
    if (blen > JSON_MAX) {
        http_reply_error(r, 413, "payload_too_large",
                         "a JSON scan upload is limited to 16 MiB: send larger scans as "
                         "multipart/form-data (parts meta and image, up to 64 MiB)",
                         NULL);
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(text, blen, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        http_reply_error1(r, 400, "invalid_json", "the body is not valid JSON", "", jerr.text);
        return;
    }
    json_t *problems = json_array();
    const char *key;
    json_t *v;
    if (!json_is_object(body))
        cx_problem_add(problems, "", "the body is {\"meta\":{…},\"image_base64\":\"…\"}");
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "meta") && strcmp(key, "image_base64")) {
            char path[80] = "";
            cx_jptr_push(path, sizeof path, key);
            cx_problem_add(problems, path, "is not a member of a scan upload");
        }
    }
    const json_t *b64 = json_object_get(body, "image_base64");
    if (json_is_object(body) && !json_is_string(b64))
        cx_problem_add(problems, "/image_base64", "is required: the scan file, base64");
    if (json_is_object(body) && !json_object_get(body, "meta"))
        cx_problem_add(problems, "/meta", "is required: the sidecar");
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!json_array_size(problems)) {
        size_t cap = json_string_length(b64) / 4 * 3 + 3;
        bytes = malloc(cap ? cap : 1);
        if (!bytes || sodium_base642bin(bytes, cap, json_string_value(b64),
                                        json_string_length(b64), " \r\n", &len, NULL,
                                        sodium_base64_VARIANT_ORIGINAL) != 0)
            cx_problem_add(problems, "/image_base64",
                           "must be base64 (RFC 4648, with padding) of a PNG, TIFF or DICOS file");
    }
    if (json_array_size(problems)) {
        http_reply_error(r, 400, "invalid_scan", "the upload is not valid", problems);
    } else {
        json_decref(problems);
        xray_upload up = {json_object_get(body, "meta"), bytes, len, "/image_base64"};
        xray_scans_post(x, r, &up);
    }
    free(bytes);
    json_decref(body);
}

/* ---- multipart ------------------------------------------------------------------------- */

typedef struct {
    json_t *meta;
    int fd;          /* the image, in an unlinked file */
    size_t len;
    bool has_image;
} parts;

/* The rest of the current part into fd (at most max bytes): the count, or
 * -1 malformed, -2 over max, -3 cannot write. */
static ssize_t upload__copy(http_multipart *m, int fd, size_t max)
{
    static _Thread_local char buf[64 << 10];
    size_t total = 0;
    ssize_t n;
    while ((n = http_multipart_read(m, buf, sizeof buf)) > 0) {
        if (total + (size_t)n > max)
            return -2;
        for (size_t off = 0; off < (size_t)n;) {
            ssize_t w = write(fd, buf + off, (size_t)n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -3;
            off += (size_t)w;
        }
        total += (size_t)n;
    }
    return n < 0 ? -1 : (ssize_t)total;
}

/* The sidecar part, whole (≤ META_MAX). NULL and a reply when it is not. */
static json_t *upload__meta(http_req *r, http_multipart *m)
{
    char *text = malloc(META_MAX + 1);
    size_t len = 0;
    ssize_t n = 0;
    while (text && (n = http_multipart_read(m, text + len, META_MAX + 1 - len)) > 0 &&
           (len += (size_t)n) <= META_MAX)
        ;
    json_t *meta = NULL;
    json_error_t jerr;
    if (!text)
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
    else if (n < 0)
        upload__bad(r, "", "the multipart body is malformed");
    else if (len > META_MAX)
        upload__bad(r, "/meta", "the sidecar part is over 64 KiB");
    else if (!(meta = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)))
        upload__bad(r, "/meta", "the sidecar part must be a JSON object");
    free(text);
    return meta;
}

/* Reads the parts; replies and returns false when they are not meta and
 * image, each once. */
static bool upload__parts(xray_service *x, http_req *r, parts *p)
{
    char err[200] = "";
    http_multipart *m = NULL;
    if (http_multipart_open(r, &m, err, sizeof err) != CX_OK) {
        upload__bad(r, "", err);
        return false;
    }
    http_part part;
    int rc = 0;
    bool ok = true;
    while (ok && (rc = http_multipart_next(m, &part, err, sizeof err)) == 1) {
        char path[80] = "";
        cx_jptr_push(path, sizeof path, part.name ? part.name : "");
        if (part.name && strcmp(part.name, "meta") == 0 && !p->meta) {
            ok = (p->meta = upload__meta(r, m)) != NULL;
        } else if (part.name && strcmp(part.name, "image") == 0 && !p->has_image) {
            p->fd = xray__tmpfile(x->blob_dir);
            ssize_t n = p->fd >= 0 ? upload__copy(m, p->fd, XRAY_MAX_FILE) : -3;
            p->has_image = n >= 0;
            p->len = n > 0 ? (size_t)n : 0;
            ok = p->has_image;
            if (n == -1)
                upload__bad(r, "", "the multipart body is malformed");
            else if (n == -2)
                http_reply_error1(r, 413, "payload_too_large", "the scan is over 64 MiB", "/image",
                                  "must be at most 64 MiB");
            else if (n == -3)
                http_reply_error(r, 503, "unavailable", "the upload cannot be kept now; retry",
                                 NULL);
        } else {
            upload__bad(r, path,
                        "is not a part of a scan upload (meta once, image once) or is repeated");
            ok = false;
        }
    }
    if (ok && rc < 0) {
        upload__bad(r, "", err[0] ? err : "the multipart body is malformed");
        ok = false;
    }
    http_multipart_free(m);
    if (ok && (!p->meta || !p->has_image)) {
        upload__bad(r, !p->meta ? "/meta" : "/image",
                    !p->meta ? "is required: the sidecar (JSON)" : "is required: the scan file");
        ok = false;
    }
    return ok;
}

static void upload__multipart(xray_service *x, http_req *r)
{
    parts p = {.fd = -1};
    if (upload__parts(x, r, &p)) {
        void *map = p.len ? mmap(NULL, p.len, PROT_READ, MAP_PRIVATE, p.fd, 0) : NULL;
        if (map == MAP_FAILED) {
            http_reply_error(r, 503, "unavailable", "the upload cannot be read now; retry", NULL);
        } else {
            xray_upload up = {p.meta, map ? map : (const uint8_t *)"", p.len, "/image"};
            xray_scans_post(x, r, &up);
            if (map)
                munmap(map, p.len);
        }
    }
    if (p.fd >= 0)
        close(p.fd);
    json_decref(p.meta);
}

static bool upload__no_query(void *ctx, const char *key, const char *value)
{
    (void)value;
    *(const char **)ctx = key;
    return false;
}

void xray__h_scans_post(http_req *r, void *ctx)
{
    xray_service *x = ctx;
    const char *bad = NULL;
    http_query_each(r, upload__no_query, &bad);
    if (bad) {
        http_bad_query(r, bad, "is not a parameter of this endpoint");
        return;
    }
    const char *ct = http_header(r, "Content-Type");
    if (ct && strncasecmp(ct, "multipart/", 10) == 0)
        upload__multipart(x, r);
    else
        upload__json(x, r);
}
