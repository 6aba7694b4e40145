/*
 * http_parse.h — the HTTP/1.1 wire parser of the http module (RFC 9112):
 * request heads, chunked bodies, request targets and media types. Pure
 * functions over the caller's buffers: no I/O, no allocation, no globals.
 *
 * Internal to src/http; this header is a deliberate seam so that the unit
 * tests (tests/unit/test_http.c) and the fuzz target
 * (tests/fuzz/fuzz_http_request.c) reach the parser without a socket.
 *
 * Strictness (the reasons are in docs/performance.md, "The HTTP edge"):
 * every line ends in CRLF (no bare CR or LF), no whitespace before a colon,
 * no line folding, one Content-Length of digits only, never with
 * Transfer-Encoding, and no transfer coding but chunked; in targets no %00,
 * no encoded '/', UTF-8 only.
 */
#ifndef CUSTOMS_HTTP_PARSE_H
#define CUSTOMS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HP_MAX_HEADERS 100

/* Why a message was refused: an HTTP status, the API error code and a
 * sentence; where is a JSON Pointer naming the part of the message
 * ("/headers/content-length", "/request-line", "/path", "" = the whole). */
typedef struct {
    unsigned status;
    const char *code;
    const char *message;
    const char *where;
} hp_error;

typedef struct {
    size_t max_head;      /* request line + header fields in bytes (431 past it) */
    size_t max_target;    /* request-target in bytes (414 past it) */
    unsigned max_headers; /* header fields (431 past it); at most HP_MAX_HEADERS */
} hp_limits;

/* ---- request head --------------------------------------------------------- */

/* Incremental search for the end of a head; zero-initialise per request. */
typedef struct {
    size_t scanned;    /* bytes already checked */
    size_t line_start; /* offset where the current line starts */
    bool line1_done;   /* the request line is complete */
} hp_scan;

/* Looks for the blank line that ends a request head in buf[0..len), checking
 * line ends on the way. Call again with the same st when more bytes arrive
 * (the buffer may move but must keep its prefix): each byte is examined once.
 * Returns 1 with *head_len (blank line included), 0 for "need more", -1 with
 * *err. The caller drops empty lines before a request line (RFC 9112 §2.2). */
int hp_scan_head(hp_scan *st, const char *buf, size_t len, const hp_limits *lim,
                 size_t *head_len, hp_error *err);

typedef struct {
    char *name;  /* NUL-terminated, inside the head */
    char *value; /* trimmed of surrounding whitespace, NUL-terminated */
} hp_header;

typedef struct {
    char *method;
    char *target;   /* raw request-target */
    unsigned minor; /* HTTP/1.minor: 0 or 1 */
    hp_header headers[HP_MAX_HEADERS];
    unsigned nheaders;
    bool chunked;          /* Transfer-Encoding: chunked */
    bool has_length;       /* a Content-Length was sent */
    bool length_overflow;  /* ... larger than any limit could be */
    uint64_t length;       /* its value */
    bool keep_alive;       /* the connection may carry another request */
    bool expect_continue;  /* Expect: 100-continue */
} hp_request;

/* Parses a complete head (as delimited by hp_scan_head) in place: the bytes
 * are modified (NULs written) and *out points into them. Returns false with
 * *err for any message that is not strictly well-formed. */
bool hp_parse_head(char *head, size_t len, const hp_limits *lim, hp_request *out,
                   hp_error *err);

/* First value of header name (case-insensitive), or NULL. */
const char *hp_header_get(const hp_request *rq, const char *name);

/* ---- request target ------------------------------------------------------- */

/* Decodes the path of target into path[0..cap) (NUL-terminated) and points
 * *query at the raw query (after '?', NULL if none). Accepts origin-form and
 * absolute-form. False with *err (400) for %00, an encoded '/', bad escapes,
 * a fragment or invalid UTF-8; path then holds what was decoded so far.
 * Dot segments are left to the routes (they match no API route; the file
 * route refuses them). */
bool hp_decode_path(const char *target, char *path, size_t cap, const char **query,
                    hp_error *err);

/* Decodes one query-string component s[0..*len) in place ('+' is a space,
 * %XX a byte) and NUL-terminates it; false for a bad escape, %00 or invalid
 * UTF-8. */
bool hp_decode_component(char *s, size_t *len);

/* ---- chunked body ------------------------------------------------------------ */

typedef struct {
    int state;
    uint64_t size;     /* of the chunk being read (what is left of it in DATA) */
    unsigned ndigits;
    size_t line;       /* bytes of the current size line or of the trailer section */
    bool colon;        /* a trailer line's colon was seen */
    uint64_t total;    /* data bytes so far */
} hp_chunked;

enum { HP_CH_NEED = 0, HP_CH_DATA = 1, HP_CH_DONE = 2, HP_CH_ERR = -1 };

/* Decodes the chunked coding from in[0..len). Returns HP_CH_DATA with the
 * next data bytes in in[*data_off .. *data_off + *data_len), HP_CH_NEED when
 * all of in was consumed, HP_CH_DONE once the last chunk and trailer section
 * are complete, HP_CH_ERR with *err (400, or 413 once the data would pass
 * max_total — checked on the chunk size, before its data arrives). *consumed
 * says how much of in was used in every case. Zero-initialise per message. */
int hp_chunked_step(hp_chunked *c, const char *in, size_t len, uint64_t max_total,
                    size_t *consumed, size_t *data_off, size_t *data_len, hp_error *err);

/* ---- media types ----------------------------------------------------------------- */

typedef struct {
    char type[128];    /* "type/subtype", lowercased */
    char charset[48];  /* lowercased; "" if absent */
    char boundary[72]; /* multipart boundary, unquoted; "" if absent */
} hp_ctype;

/* Parses a Content-Type value (RFC 9110 §8.3.1). False if malformed. */
bool hp_ctype_parse(const char *value, hp_ctype *out);

#endif
