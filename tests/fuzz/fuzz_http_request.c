/* libFuzzer: the HTTP/1.1 request parser (src/http/http_parse.h). The input
 * is a request as it would arrive on a socket; its first byte chooses how
 * the bytes are split. Checks, besides memory safety: scanning a head in
 * pieces finds what scanning it whole finds, and decoding a chunked body in
 * pieces gives the same bytes and the same verdict as decoding it whole,
 * never more than the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

static const hp_limits lim = {.max_head = 4096, .max_target = 1024, .max_headers = 32};

static int scan(const char *buf, size_t len, size_t step, size_t *head_len, hp_error *err)
{
    hp_scan st = {0};
    int rc = 0;
    for (size_t have = step < len ? step : len;; have = have + step < len ? have + step : len) {
        rc = hp_scan_head(&st, buf, have, &lim, head_len, err);
        if (rc != 0 || have == len)
            return rc;
    }
}

/* Decodes a chunked body in pieces of step bytes into out. */
static int dechunk(const char *in, size_t len, size_t step, uint64_t max, char *out,
                   size_t *outlen, size_t *used)
{
    hp_chunked c = {0};
    hp_error err;
    size_t pos = 0;
    int rc = HP_CH_NEED;
    *outlen = 0;
    while (pos < len) {
        size_t end = pos + step < len ? pos + step : len, u, off, dl;
        rc = hp_chunked_step(&c, in + pos, end - pos, max, &u, &off, &dl, &err);
        if (u > end - pos)
            abort();
        if (rc == HP_CH_DATA) {
            memcpy(out + *outlen, in + pos + off, dl);
            *outlen += dl;
            if (*outlen > max)
                abort();
        }
        pos += u;
        if (rc == HP_CH_DONE || rc == HP_CH_ERR)
            break;
        if (u == 0 && rc != HP_CH_DATA)
            abort(); /* no progress */
    }
    *used = pos;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] % 17) + 1;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    size_t h1 = 0, h2 = 0;
    hp_error e1, e2;
    int r1 = scan(in, len, len ? len : 1, &h1, &e1);
    int r2 = scan(in, len, step, &h2, &e2);
    if (r1 != r2 || (r1 == 1 && h1 != h2) || (r1 < 0 && e1.status != e2.status))
        abort();
    char *head = malloc(len + 1), *body_out = malloc(len + 1), *body_out2 = malloc(len + 1);
    if (r1 == 1) {
        memcpy(head, in, h1);
        head[h1] = '\0';
        hp_request rq;
        if (hp_parse_head(head, h1, &lim, &rq, &e1)) {
            char *path = malloc(strlen(rq.target) + 2);
            const char *q;
            if (hp_decode_path(rq.target, path, strlen(rq.target) + 2, &q, &e1) && q) {
                char *qc = strdup(q);
                size_t ql = strlen(qc);
                hp_decode_component(qc, &ql);
                free(qc);
            }
            free(path);
            const char *ct = hp_header_get(&rq, "Content-Type");
            hp_ctype t;
            if (ct)
                hp_ctype_parse(ct, &t);
        }
    }
    /* the bytes after the head (or all of them) as a chunked body */
    size_t off = r1 == 1 ? h1 : 0, o1, o2, u1, u2;
    uint64_t max = (uint64_t)(data[0] * 37u + 1);
    int c1 = dechunk(in + off, len - off, len - off ? len - off : 1, max, body_out, &o1, &u1);
    int c2 = dechunk(in + off, len - off, step, max, body_out2, &o2, &u2);
    if (c1 == HP_CH_DATA || c1 == HP_CH_NEED)
        c1 = HP_CH_NEED;
    if (c2 == HP_CH_DATA || c2 == HP_CH_NEED)
        c2 = HP_CH_NEED;
    if (c1 != c2 || (c1 == HP_CH_DONE && (u1 != u2 || o1 != o2 || memcmp(body_out, body_out2, o1))))
        abort();
    free(head);
    free(body_out);
    free(body_out2);
    return 0;
}
