/* The strict HTTP/1.1 request parser (RFC 9112): heads, targets, chunked
 * bodies, media types. See http_parse.h for the rules. */
#include "http_parse.h"

#include "core.h"

#include <string.h>
#include <strings.h>

static bool hp__fail(hp_error *err, unsigned status, const char *code, const char *where,
                     const char *message)
{
    err->status = status;
    err->code = code;
    err->where = where;
    err->message = message;
    return false;
}

#define BAD(err, where, msg) hp__fail((err), 400, "bad_request", (where), (msg))

/* RFC 9110 §5.6.2 tchar */
static bool hp__tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* One hex digit's value, or -1. */
static int hp__hex(unsigned char c)
{
    char h[3] = {'0', (char)c, '\0'};
    uint8_t v;
    return c && cx_unhex(h, &v, 1) ? v : -1;
}

/* ---- head ------------------------------------------------------------------- */

int hp_scan_head(hp_scan *st, const char *buf, size_t len, const hp_limits *lim,
                 size_t *head_len, hp_error *err)
{
    /* every check is made at a byte's position, so the verdict does not
     * depend on how the bytes were split into reads */
    size_t i = st->scanned;
    for (; i < len; i++) {
        if (!st->line1_done && i - st->line_start > lim->max_target + 64) {
            hp__fail(err, 414, "uri_too_long", "/request-line",
                     "the request line is longer than the server accepts");
            return -1;
        }
        if (i >= lim->max_head) {
            hp__fail(err, 431, "header_fields_too_large", "/headers",
                     "the request head is larger than the server accepts");
            return -1;
        }
        char c = buf[i];
        if (c == '\r') {
            if (i + 1 == len)
                break; /* decide when the next byte is here */
            if (buf[i + 1] != '\n') {
                BAD(err, "", "a bare CR in the request head (lines end in CRLF)");
                return -1;
            }
            continue;
        }
        if (c != '\n')
            continue;
        if (i == 0 || buf[i - 1] != '\r') {
            BAD(err, "", "a bare LF in the request head (lines end in CRLF)");
            return -1;
        }
        if (i - 1 == st->line_start) { /* an empty line */
            if (!st->line1_done) {
                BAD(err, "/request-line", "the request line is empty");
                return -1;
            }
            *head_len = i + 1;
            st->scanned = i + 1;
            return 1;
        }
        st->line1_done = true;
        st->line_start = i + 1;
    }
    st->scanned = i;
    return 0;
}

static bool hp__version(const char *v, unsigned *minor, hp_error *err)
{
    if (strncmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9' || v[8] != '\0')
        return BAD(err, "/request-line", "the request line must end in HTTP/1.1 or HTTP/1.0");
    if (v[5] != '1')
        return hp__fail(err, 505, "http_version_not_supported", "/request-line",
                        "only HTTP/1.1 and HTTP/1.0 are supported");
    *minor = v[7] == '0' ? 0 : 1; /* 1.2 and later are read as 1.1 (RFC 9110 §2.5) */
    return true;
}

static bool hp__request_line(char *line, const hp_limits *lim, hp_request *out, hp_error *err)
{
    char *p = line;
    while (hp__tchar((unsigned char)*p))
        p++;
    if (p == line || *p != ' ' || p - line > 32)
        return BAD(err, "/request-line", "the request line must be METHOD SP target SP version");
    *p++ = '\0';
    out->method = line;
    char *target = p;
    while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (p == target || *p != ' ')
        return BAD(err, "/request-line",
                   "the request target must be printable ASCII followed by one space");
    if ((size_t)(p - target) > lim->max_target)
        return hp__fail(err, 414, "uri_too_long", "/request-line",
                        "the request target is longer than the server accepts");
    *p++ = '\0';
    out->target = target;
    return hp__version(p, &out->minor, err);
}

/* Splits one header line (without CRLF) into name and trimmed value. */
static bool hp__field(char *line, hp_header *h, hp_error *err)
{
    if (*line == ' ' || *line == '\t')
        return BAD(err, "/headers", "line folding (a header line starting with a space) "
                                    "is not allowed");
    char *p = line;
    while (hp__tchar((unsigned char)*p))
        p++;
    if (p == line)
        return BAD(err, "/headers", "a header field name must be a token");
    if (*p == ' ' || *p == '\t')
        return BAD(err, "/headers", "no whitespace is allowed between a header name and "
                                    "its colon");
    if (*p != ':')
        return BAD(err, "/headers", "a header field has no colon");
    *p++ = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    char *v = p, *end = p;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return BAD(err, "/headers", "a header value contains a control character");
        if (c != ' ' && c != '\t')
            end = p + 1;
    }
    *end = '\0';
    h->name = line;
    h->value = v;
    return true;
}

const char *hp_header_get(const hp_request *rq, const char *name)
{
    for (unsigned i = 0; i < rq->nheaders; i++)
        if (strcasecmp(rq->headers[i].name, name) == 0)
            return rq->headers[i].value;
    return NULL;
}

static unsigned hp__count(const hp_request *rq, const char *name, const char **first)
{
    unsigned n = 0;
    *first = NULL;
    for (unsigned i = 0; i < rq->nheaders; i++)
        if (strcasecmp(rq->headers[i].name, name) == 0 && n++ == 0)
            *first = rq->headers[i].value;
    return n;
}

/* Is token (case-insensitive) one of the comma-separated items of list? */
static bool hp__list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
            return true;
    }
    return false;
}

/* RFC 9112 §6.3: what delimits the body. */
static bool hp__framing(hp_request *out, hp_error *err)
{
    const char *cl, *te, *host, *v;
    unsigned ncl = hp__count(out, "Content-Length", &cl);
    unsigned nte = hp__count(out, "Transfer-Encoding", &te);
    if (ncl > 1)
        return BAD(err, "/headers/content-length", "Content-Length appears more than once");
    if (ncl && nte)
        return BAD(err, "/headers/transfer-encoding",
                   "Content-Length and Transfer-Encoding cannot be sent together");
    if (nte) {
        if (out->minor == 0)
            return BAD(err, "/headers/transfer-encoding",
                       "Transfer-Encoding is not allowed in HTTP/1.0");
        if (nte > 1 || strcasecmp(te, "chunked") != 0)
            return hp__fail(err, 501, "not_implemented", "/headers/transfer-encoding",
                            "the only transfer coding accepted is chunked");
        out->chunked = true;
    }
    if (ncl) {
        if (!*cl)
            return BAD(err, "/headers/content-length", "Content-Length must be a decimal number");
        uint64_t n = 0;
        unsigned digits = 0;
        for (const char *p = cl; *p; p++) {
            if (*p < '0' || *p > '9')
                return BAD(err, "/headers/content-length",
                           "Content-Length must be a decimal number");
            if (n || *p != '0')
                digits++;
            if (digits > 18)
                out->length_overflow = true;
            else
                n = n * 10 + (uint64_t)(*p - '0');
        }
        out->has_length = true;
        out->length = out->length_overflow ? UINT64_MAX : n;
    }
    unsigned nhost = hp__count(out, "Host", &host);
    if (nhost > 1 || (nhost == 0 && out->minor == 1))
        return BAD(err, "/headers/host", "an HTTP/1.1 request carries exactly one Host");
    out->keep_alive = out->minor == 1;
    for (unsigned i = 0; i < out->nheaders; i++) {
        if (strcasecmp(out->headers[i].name, "Connection") != 0)
            continue;
        if (hp__list_has(out->headers[i].value, "close"))
            out->keep_alive = false;
        else if (out->minor == 0 && hp__list_has(out->headers[i].value, "keep-alive"))
            out->keep_alive = true;
    }
    if (hp__count(out, "Expect", &v)) {
        if (strcasecmp(v, "100-continue") != 0)
            return hp__fail(err, 417, "expectation_failed", "/headers/expect",
                            "the only expectation supported is 100-continue");
        out->expect_continue = out->minor == 1;
    }
    return true;
}

bool hp_parse_head(char *head, size_t len, const hp_limits *lim, hp_request *out,
                   hp_error *err)
{
    memset(out, 0, sizeof *out);
    if (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0)
        return BAD(err, "", "the request head is incomplete");
    unsigned max = lim->max_headers < HP_MAX_HEADERS ? lim->max_headers : HP_MAX_HEADERS;
    char *p = head, *end = head + len - 2; /* the final CRLF */
    bool first = true;
    while (p < end) {
        char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol[1] != '\n')
            return BAD(err, "", "a line does not end in CRLF");
        *eol = '\0';
        if (memchr(p, '\0', (size_t)(eol - p)))
            return BAD(err, first ? "/request-line" : "/headers", "a NUL byte in the request head");
        if (first) {
            if (!hp__request_line(p, lim, out, err))
                return false;
            first = false;
        } else {
            if (out->nheaders == max)
                return hp__fail(err, 431, "header_fields_too_large", "/headers",
                                "the request has more header fields than the server accepts");
            if (!hp__field(p, &out->headers[out->nheaders], err))
                return false;
            out->nheaders++;
        }
        p = eol + 2;
    }
    if (first)
        return BAD(err, "/request-line", "the request line is missing");
    return hp__framing(out, err);
}

/* ---- targets ------------------------------------------------------------------- */

/* Validates UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool hp__utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07;
        else
            return false;
        if (n - i <= k) /* needs k continuation bytes */
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += k + 1;
    }
    return true;
}

bool hp_decode_path(const char *target, char *path, size_t cap, const char **query,
                    hp_error *err)
{
    const char *p = target;
    size_t n = 0;
    *query = NULL;
    path[0] = '\0';
    if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
        p = strstr(p, "//") + 2; /* absolute-form: the authority is ignored */
        p += strcspn(p, "/?");
        if (*p != '/') /* "http://host" or "http://host?q" */
            path[n++] = '/';
    } else if (*p != '/') {
        return BAD(err, "/path", "the request target must be a path starting with /");
    }
    if (strchr(p, '#'))
        return BAD(err, "/path", "a request target carries no fragment (#)");
    for (; *p && *p != '?'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            int hi = hp__hex((unsigned char)p[1]), lo = hi < 0 ? -1 : hp__hex((unsigned char)p[2]);
            if (lo < 0)
                return BAD(err, "/path", "a % in the path must start an escape %XX");
            c = (unsigned char)(hi * 16 + lo);
            p += 2;
            if (c == '\0')
                return BAD(err, "/path", "the path may not contain %00");
            if (c == '/')
                return BAD(err, "/path", "the path may not contain an encoded / (%2F): "
                                         "segments are split before decoding");
        }
        if (n + 2 > cap)
            return hp__fail(err, 414, "uri_too_long", "/path", "the path is too long");
        path[n++] = (char)c;
        path[n] = '\0';
    }
    path[n] = '\0';
    if (!hp__utf8((const unsigned char *)path, n))
        return BAD(err, "/path", "the path must be UTF-8");
    if (*p == '?')
        *query = p + 1;
    return true;
}

bool hp_decode_component(char *s, size_t *len)
{
    size_t o = 0, n = *len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hp__hex((unsigned char)s[i + 1]) : -1;
            int lo = hi < 0 ? -1 : hp__hex((unsigned char)s[i + 2]);
            if (lo < 0)
                return false;
            c = (unsigned char)(hi * 16 + lo);
            if (!c)
                return false;
            i += 2;
        }
        s[o++] = (char)c;
    }
    s[o] = '\0';
    *len = o;
    return hp__utf8((const unsigned char *)s, o);
}

/* ---- chunked ------------------------------------------------------------------- */

enum {
    CH_SIZE,     /* hex digits */
    CH_EXT,      /* after the size: extensions up to CR */
    CH_SIZE_LF,  /* CR seen */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER,  /* at the start of a trailer line, or the final CRLF */
    CH_TR_LINE,  /* inside a trailer line */
    CH_TR_LF,    /* CR of a trailer line seen */
    CH_LAST_LF,  /* CR of the final empty line seen */
    CH_DONE
};

#define CH_LINE_MAX 4096      /* a chunk-size line with its extensions */
#define CH_TRAILER_MAX 16384  /* the whole trailer section */

int hp_chunked_step(hp_chunked *c, const char *in, size_t len, uint64_t max_total,
                    size_t *consumed, size_t *data_off, size_t *data_len, hp_error *err)
{
    static const char *const where = "/body";
    size_t i = 0;
    *data_off = *data_len = 0;
    while (i < len) {
        unsigned char b = (unsigned char)in[i];
        switch (c->state) {
        case CH_SIZE: {
            int d = hp__hex(b);
            if (d >= 0) {
                if (c->size > (UINT64_MAX >> 4) || c->size * 16 + (unsigned)d > max_total - c->total) {
                    *consumed = i;
                    hp__fail(err, 413, "payload_too_large", where,
                             "a chunk would take the body over the limit");
                    return HP_CH_ERR;
                }
                c->size = c->size * 16 + (unsigned)d;
                if (++c->ndigits > 64)
                    goto bad_size;
                break;
            }
            if (c->ndigits == 0)
                goto bad_size;
            if (b == '\r')
                c->state = CH_SIZE_LF;
            else if (b == ';' || b == ' ' || b == '\t')
                c->state = CH_EXT;
            else
                goto bad_size;
            break;
        }
        case CH_EXT:
            if (++c->line > CH_LINE_MAX)
                goto bad_size;
            if (b == '\r')
                c->state = CH_SIZE_LF;
            else if ((b < 0x20 && b != '\t') || b == 0x7f)
                goto bad_size;
            break;
        case CH_SIZE_LF:
            if (b != '\n')
                goto bad_size;
            c->line = 0;
            c->ndigits = 0;
            c->state = c->size ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->size)
                n = (size_t)c->size;
            c->size -= n;
            c->total += n;
            if (!c->size)
                c->state = CH_DATA_CR;
            *data_off = i;
            *data_len = n;
            *consumed = i + n;
            return HP_CH_DATA;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (b != (c->state == CH_DATA_CR ? '\r' : '\n')) {
                *consumed = i;
                BAD(err, where, "chunk data must be followed by CRLF");
                return HP_CH_ERR;
            }
            c->state = c->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE;
            break;
        case CH_TRAILER:
            if (b == '\r') {
                c->state = CH_LAST_LF;
                break;
            }
            if (!hp__tchar(b))
                goto bad_trailer;
            c->colon = false;
            c->state = CH_TR_LINE;
            if (++c->line > CH_TRAILER_MAX)
                goto bad_trailer;
            break;
        case CH_TR_LINE:
            if (++c->line > CH_TRAILER_MAX)
                goto bad_trailer;
            if (b == '\r') {
                if (!c->colon)
                    goto bad_trailer;
                c->state = CH_TR_LF;
            } else if (!c->colon && b == ':') {
                c->colon = true;
            } else if (!c->colon && !hp__tchar(b)) { /* also whitespace before the colon */
                goto bad_trailer;
            } else if ((b < 0x20 && b != '\t') || b == 0x7f) {
                goto bad_trailer;
            }
            break;
        case CH_TR_LF:
            if (b != '\n')
                goto bad_trailer;
            c->state = CH_TRAILER;
            break;
        case CH_LAST_LF:
            if (b != '\n')
                goto bad_trailer;
            c->state = CH_DONE;
            *consumed = i + 1;
            return HP_CH_DONE;
        default:
            *consumed = i;
            return HP_CH_DONE;
        }
        i++;
    }
    *consumed = len;
    return c->state == CH_DONE ? HP_CH_DONE : HP_CH_NEED;
bad_size:
    *consumed = i;
    BAD(err, where, "a chunk size line must be hexadecimal digits, optional extensions, CRLF");
    return HP_CH_ERR;
bad_trailer:
    *consumed = i;
    BAD(err, where, "the trailer section after the last chunk is malformed");
    return HP_CH_ERR;
}

/* ---- media types ------------------------------------------------------------------ */

static void hp__lower_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    dst[n] = '\0';
}

bool hp_ctype_parse(const char *value, hp_ctype *out)
{
    memset(out, 0, sizeof *out);
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *s = p;
    while (hp__tchar((unsigned char)*p))
        p++;
    if (p == s || *p != '/')
        return false;
    p++;
    const char *sub = p;
    while (hp__tchar((unsigned char)*p))
        p++;
    if (p == sub || (size_t)(p - s) >= sizeof out->type)
        return false;
    hp__lower_copy(out->type, sizeof out->type, s, (size_t)(p - s));
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return true;
        if (*p++ != ';')
            return false;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return true; /* a trailing ';' */
        const char *ns = p;
        while (hp__tchar((unsigned char)*p))
            p++;
        size_t nl = (size_t)(p - ns);
        if (!nl || *p++ != '=')
            return false;
        char val[128];
        size_t vl = 0;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (!*p)
                    return false;
                if (*p == '\\' && p[1])
                    p++;
                if (vl + 1 >= sizeof val)
                    return false;
                val[vl++] = *p;
            }
            p++;
        } else {
            while (hp__tchar((unsigned char)*p)) {
                if (vl + 1 >= sizeof val)
                    return false;
                val[vl++] = *p++;
            }
            if (!vl)
                return false;
        }
        val[vl] = '\0';
        if (nl == 7 && strncasecmp(ns, "charset", 7) == 0) {
            if (vl >= sizeof out->charset)
                return false;
            hp__lower_copy(out->charset, sizeof out->charset, val, vl);
        } else if (nl == 8 && strncasecmp(ns, "boundary", 8) == 0) {
            if (vl == 0 || vl > 70)
                return false;
            memcpy(out->boundary, val, vl + 1);
        }
    }
}
