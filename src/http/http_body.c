/* Request bodies: in memory up to the route's limit, or spooled to an
 * unlinked temporary file; Content-Length or chunked; read by handlers whole
 * (http_body, a mapping for spooled ones) or through the file. */
#include "http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* An unlinked file in dir: O_TMPFILE where the file system has it. */
static int body__tmpfile(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/customs-body-XXXXXX", dir) >= (int)sizeof path)
        return -1;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

bool http__body_begin(http_req *r)
{
    if (r->route && r->route->spool) {
        r->body_fd = body__tmpfile(r->srv->tmp_dir);
        if (r->body_fd < 0) {
            cx_log(CX_LOG_ERROR, "http: cannot create a spool file in %s: %s", r->srv->tmp_dir,
                   strerror(errno));
            http_reply_header(r, "Retry-After", "5");
            http_reply_error(r, 503, "unavailable", "the upload cannot be stored now; retry",
                             NULL);
            return false;
        }
        return true;
    }
    cx_buf_init(&r->body, r->body_max);
    /* one allocation of the announced size instead of a doubling chain */
    if (r->rq.has_length && cx_buf_reserve(&r->body, (size_t)r->rq.length) != CX_OK) {
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return false;
    }
    return true;
}

static bool body__sink(http_req *r, const char *p, size_t n)
{
    if (r->body_fd >= 0) {
        while (n) {
            ssize_t w = write(r->body_fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                cx_log(CX_LOG_ERROR, "http: spool file: %s", strerror(errno));
                http_reply_header(r, "Retry-After", "5");
                http_reply_error(r, 503, "unavailable", "the upload cannot be stored now; retry",
                                 NULL);
                return false;
            }
            p += w;
            n -= (size_t)w;
            r->body_len += (size_t)w;
        }
        return true;
    }
    if (cx_buf_append(&r->body, p, n) != CX_OK) {
        char msg[96];
        snprintf(msg, sizeof msg, "the body is over the limit of %llu bytes",
                 (unsigned long long)r->body_max);
        http_reply_error(r, 413, "payload_too_large", msg, NULL);
        return false;
    }
    r->body_len += n;
    return true;
}

int http__body_feed(http_req *r, const char *in, size_t len, size_t *used)
{
    *used = 0;
    if (!r->rq.chunked) {
        size_t n = len < r->body_left ? len : (size_t)r->body_left;
        if (!body__sink(r, in, n))
            return -1;
        *used = n;
        r->body_left -= n;
        return r->body_left == 0;
    }
    while (*used < len) {
        size_t consumed, off, dlen;
        hp_error err;
        int rc = hp_chunked_step(&r->ch, in + *used, len - *used, r->body_max, &consumed, &off,
                                 &dlen, &err);
        if (rc == HP_CH_DATA && !body__sink(r, in + *used + off, dlen))
            return -1;
        *used += consumed;
        if (rc == HP_CH_DONE)
            return 1;
        if (rc == HP_CH_ERR) {
            http_reply_error1(r, err.status, err.code, err.message, err.where, err.message);
            return -1;
        }
    }
    return 0;
}

void http__body_free(http_req *r)
{
    if (r->body_map)
        munmap(r->body_map, r->body_len);
    r->body_map = NULL;
    if (r->body_fd >= 0)
        close(r->body_fd);
    r->body_fd = -1;
    cx_buf_free(&r->body);
}

const char *http_body(const http_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    if (r->body_fd < 0)
        return r->body.data ? r->body.data : "";
    if (!r->body_len)
        return "";
    http_req *w = (http_req *)r; /* the mapping is made once, on first use */
    pthread_mutex_lock(&w->map_mu);
    if (!w->body_map) {
        void *m = mmap(NULL, r->body_len, PROT_READ, MAP_PRIVATE, r->body_fd, 0);
        w->body_map = m == MAP_FAILED ? NULL : m;
    }
    pthread_mutex_unlock(&w->map_mu);
    if (!w->body_map) {
        if (len)
            *len = 0;
        return "";
    }
    return w->body_map;
}

int http_body_file(const http_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body_fd;
}
