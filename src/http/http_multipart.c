/* A bounded streaming reader of multipart/form-data (RFC 7578, RFC 2046
 * §5.1): a window of 64 KiB slides over the body, so parts of any size are
 * read in pieces; part headers are capped, and so is the number of parts. */
#include "http_int.h"
#include "http_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MP_WINDOW (64 * 1024)
#define MP_MAX_PARTS 1000
#define MP_HEAD_MAX 8192
#define MP_NAME_MAX 1024

enum { MP_PREAMBLE, MP_AFTER_DELIM, MP_PART, MP_END, MP_ERR };

struct http_multipart {
    http_read_fn rd;
    void *rd_ctx;
    char delim[4 + 70];     /* CRLF "--" boundary */
    size_t dlen;
    char *buf;              /* window: unconsumed bytes are buf[off..len) */
    size_t off, len;
    size_t delim_at;        /* where the delimiter is in the window; SIZE_MAX if not seen */
    size_t safe_end;        /* bytes before it hold no delimiter, found or not */
    bool eof;
    int state;
    unsigned nparts;
    char err[160];
    char name[MP_NAME_MAX + 1], filename[MP_NAME_MAX + 1], ctype[256];
    bool has_filename;
    /* the source when the body is the request's */
    const char *mem;
    size_t mem_len, mem_off;
    int fd;
};

static int mp__fail(http_multipart *m, const char *msg)
{
    if (m->state != MP_ERR)
        snprintf(m->err, sizeof m->err, "%s", msg);
    m->state = MP_ERR;
    return -1;
}

/* Finds the delimiter in the window (once per refill, not per read). */
static void mp__search(http_multipart *m)
{
    const char *w = m->buf + m->off;
    size_t n = m->len - m->off;
    const char *hit = n >= m->dlen ? memmem(w, n, m->delim, m->dlen) : NULL;
    if (hit) {
        m->delim_at = (size_t)(hit - m->buf);
        m->safe_end = m->delim_at;
    } else {
        m->delim_at = SIZE_MAX;
        /* the last dlen-1 bytes may be the start of a delimiter */
        m->safe_end = m->eof ? m->len : (n >= m->dlen ? m->len - (m->dlen - 1) : m->off);
    }
}

/* Reads more of the source into the window. Returns false on a read error. */
static bool mp__fill(http_multipart *m)
{
    if (m->off) {
        memmove(m->buf, m->buf + m->off, m->len - m->off);
        m->len -= m->off;
        if (m->delim_at != SIZE_MAX)
            m->delim_at -= m->off;
        m->off = 0;
    }
    while (!m->eof && m->len < MP_WINDOW) {
        ssize_t n = m->rd(m->rd_ctx, m->buf + m->len, MP_WINDOW - m->len);
        if (n < 0) {
            mp__fail(m, "the body could not be read");
            return false;
        }
        if (n == 0)
            m->eof = true;
        m->len += (size_t)n;
        if (n > 0 && m->len >= m->dlen + 2)
            break; /* enough to make progress; read the rest as it is consumed */
    }
    mp__search(m);
    return true;
}

/* Makes at least want bytes available at buf[off] (fewer only at the end). */
static bool mp__need(http_multipart *m, size_t want)
{
    while (m->len - m->off < want && !m->eof)
        if (!mp__fill(m))
            return false;
    return true;
}

ssize_t http_multipart_read(http_multipart *m, void *out, size_t cap)
{
    if (m->state != MP_PART)
        return m->state == MP_ERR ? -1 : 0;
    for (;;) {
        if (m->off < m->safe_end) {
            size_t n = m->safe_end - m->off;
            if (n > cap)
                n = cap;
            memcpy(out, m->buf + m->off, n);
            m->off += n;
            return (ssize_t)n;
        }
        if (m->delim_at != SIZE_MAX && m->off == m->delim_at) {
            m->off += m->dlen;
            m->delim_at = SIZE_MAX;
            m->state = MP_AFTER_DELIM;
            mp__search(m);
            return 0;
        }
        if (m->eof)
            return mp__fail(m, "the body ends inside a part (no closing boundary)");
        if (!mp__fill(m))
            return -1;
    }
}

/* ---- part headers ------------------------------------------------------------- */

/* Copies a token or quoted-string parameter value at *pp into out. */
static bool mp__param_value(const char **pp, char *out, size_t cap)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (!*p)
                return false;
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            if (n + 1 >= cap)
                return false;
            out[n++] = *p;
        }
        p++;
    } else {
        while (*p && *p != ';' && *p != ' ' && *p != '\t') {
            if (n + 1 >= cap)
                return false;
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    *pp = p;
    return true;
}

/* filename*=UTF-8''percent-encoded (RFC 8187); '+' is itself here. */
static bool mp__ext_value(const char *v, char *out, size_t cap)
{
    if (strncasecmp(v, "UTF-8'", 6) != 0)
        return false;
    const char *q = strchr(v + 6, '\'');
    if (!q)
        return false;
    size_t n = 0;
    for (const char *p = q + 1; *p; p++) {
        unsigned c = (unsigned char)*p;
        if (c == '%') {
            unsigned hi, lo;
            if (sscanf(p + 1, "%1x%1x", &hi, &lo) != 2)
                return false;
            c = hi * 16 + lo;
            p += 2;
        }
        if (!c || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

static bool mp__clean_name(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    size_t n = strlen(s), cps;
    return cx_utf8_count(s, n, &cps);
}

static bool mp__disposition(http_multipart *m, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, "form-data", 9) != 0 || (v[9] && v[9] != ';' && v[9] != ' '))
        return false;
    v += 9;
    bool ext = false;
    for (;;) {
        while (*v == ' ' || *v == '\t')
            v++;
        if (!*v)
            break;
        if (*v++ != ';')
            return false;
        while (*v == ' ' || *v == '\t')
            v++;
        const char *k = v;
        while (*v && *v != '=' && *v != ';' && *v != ' ')
            v++;
        size_t kl = (size_t)(v - k);
        while (*v == ' ')
            v++;
        if (*v != '=')
            return false;
        v++;
        while (*v == ' ')
            v++;
        char val[MP_NAME_MAX * 3 + 1];
        if (!mp__param_value(&v, val, sizeof val))
            return false;
        if (kl == 4 && strncasecmp(k, "name", 4) == 0) {
            size_t n = strlen(val);
            if (n > MP_NAME_MAX)
                return false;
            memcpy(m->name, val, n + 1);
        } else if (kl == 9 && strncasecmp(k, "filename*", 9) == 0) {
            if (!mp__ext_value(val, m->filename, sizeof m->filename))
                return false;
            m->has_filename = ext = true;
        } else if (kl == 8 && strncasecmp(k, "filename", 8) == 0 && !ext) {
            size_t n = strlen(val);
            if (n > MP_NAME_MAX)
                return false;
            memcpy(m->filename, val, n + 1);
            m->has_filename = true;
        }
    }
    if (!m->name[0] || !mp__clean_name(m->name) ||
        (m->has_filename && !mp__clean_name(m->filename)))
        return false;
    if (m->has_filename) { /* no directories: "C:\\x\\a.jpg" and "../a.jpg" are "a.jpg" */
        const char *b = m->filename;
        for (const char *p = m->filename; *p; p++)
            if (*p == '/' || *p == '\\')
                b = p + 1;
        memmove(m->filename, b, strlen(b) + 1);
    }
    return true;
}

/* Reads the header block of a part (after the delimiter line's CRLF). */
static int mp__headers(http_multipart *m)
{
    size_t end = 0;
    for (;;) {
        size_t n = m->len - m->off;
        const char *w = m->buf + m->off;
        if (n >= 2 && w[0] == '\r' && w[1] == '\n') {
            end = 2; /* no headers at all */
            break;
        }
        const char *hit = n >= 4 ? memmem(w, n, "\r\n\r\n", 4) : NULL;
        if (hit) {
            end = (size_t)(hit - w) + 4;
            break;
        }
        if (n > MP_HEAD_MAX)
            return mp__fail(m, "a part's headers are longer than 8 KiB");
        if (m->eof)
            return mp__fail(m, "the body ends inside a part's headers");
        size_t before = m->len - m->off;
        if (!mp__fill(m))
            return -1;
        if (m->len - m->off == before && m->eof)
            return mp__fail(m, "the body ends inside a part's headers");
    }
    if (end - 2 > MP_HEAD_MAX)
        return mp__fail(m, "a part's headers are longer than 8 KiB");
    char hdr[MP_HEAD_MAX + 3];
    memcpy(hdr, m->buf + m->off, end - 2);
    hdr[end - 2] = '\0';
    m->off += end;
    m->name[0] = m->filename[0] = '\0';
    m->has_filename = false;
    snprintf(m->ctype, sizeof m->ctype, "text/plain");
    bool disp = false;
    for (char *line = hdr, *next; *line; line = next) {
        char *eol = strstr(line, "\r\n");
        next = eol ? eol + 2 : line + strlen(line);
        if (eol)
            *eol = '\0';
        if (*line == ' ' || *line == '\t')
            return mp__fail(m, "a part's header line is folded");
        for (char *p = line; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                return mp__fail(m, "a part's header contains a control character");
        char *colon = strchr(line, ':');
        if (!colon || colon == line || colon[-1] == ' ' || colon[-1] == '\t')
            return mp__fail(m, "a part's header line is not \"Name: value\"");
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Disposition") == 0) {
            if (disp || !mp__disposition(m, v))
                return mp__fail(m, "a part needs one Content-Disposition: form-data; "
                                   "name=\"...\" (UTF-8, at most 1024 bytes)");
            disp = true;
        } else if (strcasecmp(line, "Content-Type") == 0) {
            hp_ctype ct;
            if (!hp_ctype_parse(v, &ct))
                return mp__fail(m, "a part's Content-Type is malformed");
            if (ct.charset[0] && strcmp(ct.charset, "utf-8") != 0)
                return mp__fail(m, "a part's charset must be UTF-8");
            snprintf(m->ctype, sizeof m->ctype, "%s", v);
        }
    }
    if (!disp)
        return mp__fail(m, "a part has no Content-Disposition");
    mp__search(m);
    return 1;
}

int http_multipart_next(http_multipart *m, http_part *p, char *err, size_t errlen)
{
    int rc = 0;
    char skip[4096];
    while (m->state == MP_PART && http_multipart_read(m, skip, sizeof skip) > 0)
        ;
    if (m->state == MP_PREAMBLE) {
        for (;;) {
            if (m->delim_at != SIZE_MAX) {
                m->off = m->delim_at + m->dlen;
                m->delim_at = SIZE_MAX;
                m->state = MP_AFTER_DELIM;
                break;
            }
            if (m->eof) {
                mp__fail(m, "the body has no boundary line");
                break;
            }
            m->off = m->safe_end; /* the preamble is dropped */
            if (!mp__fill(m))
                break;
        }
    }
    if (m->state == MP_AFTER_DELIM) {
        /* "--" closes; otherwise optional padding, then CRLF */
        if (!mp__need(m, 2)) {
            rc = -1;
        } else if (m->len - m->off >= 2 && m->buf[m->off] == '-' && m->buf[m->off + 1] == '-') {
            m->state = MP_END;
        } else {
            size_t pad = 0;
            for (;;) {
                if (!mp__need(m, pad + 2))
                    break;
                if (m->len - m->off < pad + 2) {
                    mp__fail(m, "the body ends after a boundary");
                    break;
                }
                char c = m->buf[m->off + pad];
                if (c == ' ' || c == '\t') {
                    if (++pad > 64) {
                        mp__fail(m, "a boundary line is malformed");
                        break;
                    }
                    continue;
                }
                if (c != '\r' || m->buf[m->off + pad + 1] != '\n') {
                    mp__fail(m, "a boundary line is malformed");
                    break;
                }
                m->off += pad + 2;
                if (++m->nparts > MP_MAX_PARTS) {
                    mp__fail(m, "the body has more than 1000 parts");
                    break;
                }
                if (mp__headers(m) == 1) {
                    m->state = MP_PART;
                    p->name = m->name;
                    p->filename = m->has_filename ? m->filename : NULL;
                    p->ctype = m->ctype;
                    return 1;
                }
                break;
            }
        }
    }
    if (m->state == MP_END)
        return 0;
    if (m->state == MP_ERR) {
        if (err && errlen)
            snprintf(err, errlen, "%s", m->err);
        return -1;
    }
    return rc;
}

/* ---- construction ------------------------------------------------------------- */

static cx_err mp__create(const char *content_type, http_multipart **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    hp_ctype ct;
    if (!content_type || !hp_ctype_parse(content_type, &ct) ||
        strcmp(ct.type, "multipart/form-data") != 0 || !ct.boundary[0]) {
        snprintf(err, errlen, "the body must be multipart/form-data with a boundary");
        return CX_EINVAL;
    }
    http_multipart *m = calloc(1, sizeof *m);
    char *buf = malloc(MP_WINDOW);
    if (!m || !buf) {
        free(m);
        free(buf);
        snprintf(err, errlen, "out of memory");
        return CX_ENOMEM;
    }
    m->buf = buf;
    m->fd = -1;
    m->dlen = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", ct.boundary);
    /* the first delimiter may open the body: read it as if after a CRLF */
    memcpy(m->buf, "\r\n", 2);
    m->len = 2;
    m->delim_at = SIZE_MAX;
    m->state = MP_PREAMBLE;
    *out = m;
    return CX_OK;
}

/* The first fill; on failure *out is freed and NULL. */
static cx_err mp__start(http_multipart **out, char *err, size_t errlen)
{
    if (mp__fill(*out))
        return CX_OK;
    snprintf(err, errlen, "%s", (*out)->err);
    http_multipart_free(*out);
    *out = NULL;
    return CX_EIO;
}

cx_err http_multipart_new(const char *content_type, http_read_fn rd, void *rd_ctx,
                          http_multipart **out, char *err, size_t errlen)
{
    cx_err e = mp__create(content_type, out, err, errlen);
    if (e != CX_OK)
        return e;
    (*out)->rd = rd;
    (*out)->rd_ctx = rd_ctx;
    return mp__start(out, err, errlen);
}

static ssize_t mp__read_mem(void *ctx, void *buf, size_t cap)
{
    http_multipart *m = ctx;
    size_t n = m->mem_len - m->mem_off;
    if (n > cap)
        n = cap;
    memcpy(buf, m->mem + m->mem_off, n);
    m->mem_off += n;
    return (ssize_t)n;
}

static ssize_t mp__read_fd(void *ctx, void *buf, size_t cap)
{
    http_multipart *m = ctx;
    if (m->mem_off >= m->mem_len)
        return 0;
    if (cap > m->mem_len - m->mem_off)
        cap = m->mem_len - m->mem_off;
    for (;;) {
        ssize_t n = pread(m->fd, buf, cap, (off_t)m->mem_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            m->mem_off += (size_t)n;
        return n;
    }
}

cx_err http_multipart_open(http_req *r, http_multipart **out, char *err, size_t errlen)
{
    cx_err e = mp__create(http_header(r, "Content-Type"), out, err, errlen);
    if (e != CX_OK)
        return e;
    http_multipart *m = *out;
    m->rd_ctx = m; /* the reader reads the request's body through m's own fields */
    m->fd = http_body_file(r, &m->mem_len);
    if (m->fd >= 0) {
        m->rd = mp__read_fd;
    } else {
        m->rd = mp__read_mem;
        m->mem = http_body(r, &m->mem_len);
    }
    return mp__start(out, err, errlen);
}

void http_multipart_free(http_multipart *m)
{
    if (!m)
        return;
    free(m->buf);
    free(m);
}
