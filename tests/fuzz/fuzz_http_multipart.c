/* libFuzzer: the multipart/form-data reader (http.h). The input's first
 * line is the boundary, its first byte the read sizes; the rest is the body.
 * Checks, besides memory safety: the reader ends (no loop), never returns
 * more bytes than the body holds, and reading in different sizes gives the
 * same parts and the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

typedef struct {
    const uint8_t *p;
    size_t len, off, step;
} src;

static ssize_t rd(void *ctx, void *buf, size_t cap)
{
    src *s = ctx;
    size_t n = s->len - s->off;
    if (n > cap)
        n = cap;
    if (n > s->step)
        n = s->step;
    memcpy(buf, s->p + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

/* Everything read, as "name\0filename\0ctype\0data" records, hashed down. */
static int run(const char *ct, const uint8_t *body, size_t len, size_t step, size_t rstep,
               uint64_t *digest, size_t *total)
{
    src s = {body, len, 0, step};
    http_multipart *m;
    char err[160];
    *digest = 1469598103934665603ull;
    *total = 0;
    if (http_multipart_new(ct, rd, &s, &m, err, sizeof err) != CX_OK)
        return -2;
    http_part p;
    int rc, parts = 0;
    uint8_t buf[97];
    while ((rc = http_multipart_next(m, &p, err, sizeof err)) == 1) {
        if (++parts > 1000)
            abort();
        for (const char *f = p.name; *f; f++)
            *digest = (*digest ^ (uint8_t)*f) * 1099511628211ull;
        ssize_t n;
        while ((n = http_multipart_read(m, buf, rstep)) > 0) {
            *total += (size_t)n;
            if (*total > len)
                abort();
            for (ssize_t i = 0; i < n; i++)
                *digest = (*digest ^ buf[i]) * 1099511628211ull;
        }
        *digest = (*digest ^ 0x1ff) * 1099511628211ull;
    }
    http_multipart_free(m);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = (size_t)(data[0] & 15) + 1, rstep = (size_t)(data[0] >> 4) * 6 + 1;
    const uint8_t *nl = memchr(data + 1, '\n', size - 1);
    size_t blen = nl ? (size_t)(nl - data - 1) : 0;
    if (!nl || blen > 80)
        return 0;
    char ct[160];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%.*s\"", (int)blen,
             (const char *)data + 1);
    const uint8_t *body = nl + 1;
    size_t len = size - (size_t)(body - data);
    uint64_t d1, d2;
    size_t t1, t2;
    int r1 = run(ct, body, len, 1 << 20, 96, &d1, &t1);
    int r2 = run(ct, body, len, step, rstep, &d2, &t2);
    if (r1 != r2 || (r1 == 0 && (d1 != d2 || t1 != t2)))
        abort();
    return 0;
}
