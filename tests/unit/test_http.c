/* The http module: the strict HTTP/1.1 parser (through its seam,
 * http_parse.h), the multipart reader, and a real server in this process
 * driven over loopback sockets (spooled uploads, multipart, deferred replies,
 * streams, limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "http_parse.h"

static const hp_limits lim = {.max_head = 16384, .max_target = 8192, .max_headers = 100};

/* Parses a whole head; returns the error status, or 0 when it is accepted. */
static unsigned head_status(const char *text, hp_request *rq)
{
    static char buf[70000];
    size_t len = strlen(text), head_len = 0;
    memcpy(buf, text, len);
    hp_scan st = {0};
    hp_error err;
    int rc = hp_scan_head(&st, buf, len, &lim, &head_len, &err);
    if (rc < 0)
        return err.status;
    if (rc == 0)
        return 1; /* incomplete */
    return hp_parse_head(buf, head_len, &lim, rq, &err) ? 0 : err.status;
}

static void test_head_accepts_good_requests(void **state)
{
    hp_request rq;
    assert_int_equal(head_status("GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  v w \r\n\r\n", &rq), 0);
    assert_string_equal(rq.method, "GET");
    assert_string_equal(rq.target, "/a?b=c");
    assert_int_equal(rq.minor, 1);
    assert_string_equal(hp_header_get(&rq, "x-y"), "v w");
    assert_true(rq.keep_alive);
    assert_false(rq.has_length || rq.chunked);
    assert_int_equal(head_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0042\r\n"
                                 "Connection: close\r\nExpect: 100-continue\r\n\r\n", &rq), 0);
    assert_true(rq.has_length);
    assert_int_equal(rq.length, 42);
    assert_false(rq.keep_alive);
    assert_true(rq.expect_continue);
    assert_int_equal(head_status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n",
                                 &rq), 0);
    assert_true(rq.chunked);
    /* HTTP/1.0: no Host needed, keep-alive only when asked */
    assert_int_equal(head_status("GET / HTTP/1.0\r\n\r\n", &rq), 0);
    assert_false(rq.keep_alive);
    assert_int_equal(head_status("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rq), 0);
    assert_true(rq.keep_alive);
    /* a larger length than any limit is a 413 later, not a parse error */
    assert_int_equal(head_status("POST / HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 18446744073709551616\r\n\r\n", &rq), 0);
    assert_true(rq.length_overflow);
}

static void test_head_refuses_smuggling(void **state)
{
    hp_request rq;
    static const struct {
        const char *text;
        unsigned status;
    } bad[] = {
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 5\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: x\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01" "b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTPS/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400},
        {"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"\x16\x03\x01hello\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned got = head_status(bad[i].text, &rq);
        if (got != bad[i].status)
            fail_msg("case %zu (%s): %u, wanted %u", i, bad[i].text, got, bad[i].status);
    }
}

static void test_head_limits(void **state)
{
    hp_request rq;
    char *big = malloc(70000);
    snprintf(big, 70000, "GET /%0*d HTTP/1.1\r\nHost: x\r\n\r\n", 9000, 0);
    assert_int_equal(head_status(big, &rq), 414);
    snprintf(big, 70000, "GET / HTTP/1.1\r\nHost: x\r\nX: %0*d\r\n\r\n", 20000, 0);
    assert_int_equal(head_status(big, &rq), 431);
    size_t n = (size_t)snprintf(big, 70000, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(big + n, 70000 - n, "X-%d: v\r\n", i);
    snprintf(big + n, 70000 - n, "\r\n");
    assert_int_equal(head_status(big, &rq), 431);
    free(big);
}

/* Feeding a head byte by byte finds the same end as feeding it whole, and
 * looks at each byte once. */
static void test_head_scan_is_incremental(void **state)
{
    const char *text = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    size_t whole = 0, part = 0;
    hp_scan st = {0};
    hp_error err;
    assert_int_equal(hp_scan_head(&st, text, strlen(text), &lim, &whole, &err), 1);
    memset(&st, 0, sizeof st);
    int rc = 0;
    for (size_t len = 1; len <= strlen(text) && rc == 0; len++)
        rc = hp_scan_head(&st, text, len, &lim, &part, &err);
    assert_int_equal(rc, 1);
    assert_int_equal(part, whole);
    assert_int_equal(whole, strlen(text) - 3);
    /* a CR at the end of what has arrived is decided when the next byte comes */
    memset(&st, 0, sizeof st);
    assert_int_equal(hp_scan_head(&st, "GET / HTTP/1.1\r", 15, &lim, &part, &err), 0);
    assert_int_equal(hp_scan_head(&st, "GET / HTTP/1.1\rX", 16, &lim, &part, &err), -1);
    assert_int_equal(err.status, 400);
}

static void test_targets(void **state)
{
    char path[256];
    const char *q;
    hp_error err;
    assert_true(hp_decode_path("/v1/a%20b?x=1", path, sizeof path, &q, &err));
    assert_string_equal(path, "/v1/a b");
    assert_string_equal(q, "x=1");
    assert_true(hp_decode_path("http://host:8080/v1/x", path, sizeof path, &q, &err));
    assert_string_equal(path, "/v1/x");
    assert_null(q);
    assert_true(hp_decode_path("http://host?a", path, sizeof path, &q, &err));
    assert_string_equal(path, "/");
    assert_string_equal(q, "a");
    assert_true(hp_decode_path("/caf%C3%A9", path, sizeof path, &q, &err));
    assert_string_equal(path, "/caf\xc3\xa9");
    const char *bad[] = {"/a%00b", "/v1%2fdeclarations", "/v1%2Fx", "/a%zz", "/a%4", "/%c3",
                         "/%ed%a0%80", "/%c0%af", "/a#frag", "*", "a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hp_decode_path(bad[i], path, sizeof path, &q, &err))
            fail_msg("%s was accepted", bad[i]);
        assert_int_equal(err.status, 400);
    }
    char c[64];
    size_t n;
    snprintf(c, sizeof c, "%s", "a+b%2Bc%26");
    n = strlen(c);
    assert_true(hp_decode_component(c, &n));
    assert_string_equal(c, "a b+c&");
    assert_int_equal(n, 6);
    snprintf(c, sizeof c, "%s", "x%00");
    n = strlen(c);
    assert_false(hp_decode_component(c, &n));
    snprintf(c, sizeof c, "%s", "%ff");
    n = strlen(c);
    assert_false(hp_decode_component(c, &n));
}

/* Decodes in pieces of step bytes; returns the rc of the last step. */
static int chunked_decode(const char *in, size_t len, size_t step, uint64_t max, char *out,
                          size_t *outlen, size_t *used_total, hp_error *err)
{
    hp_chunked c = {0};
    size_t pos = 0, avail_end = 0;
    *outlen = 0;
    int rc = HP_CH_NEED;
    while (pos < len) {
        avail_end = pos + step < len ? pos + step : len;
        size_t used, off, dl;
        rc = hp_chunked_step(&c, in + pos, avail_end - pos, max, &used, &off, &dl, err);
        if (rc == HP_CH_DATA) {
            memcpy(out + *outlen, in + pos + off, dl);
            *outlen += dl;
        }
        pos += used;
        if (rc == HP_CH_DONE || rc == HP_CH_ERR)
            break;
    }
    *used_total = pos;
    return rc;
}

static void test_chunked(void **state)
{
    const char *body = "4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
                       "Trailer-X: 1\r\n\r\nGET /next";
    char out[128];
    size_t outlen, used;
    hp_error err;
    for (size_t step = 1; step <= strlen(body); step++) {
        int rc = chunked_decode(body, strlen(body), step, 1 << 20, out, &outlen, &used, &err);
        assert_int_equal(rc, HP_CH_DONE);
        assert_int_equal(outlen, 23);
        assert_memory_equal(out, "Wikipedia in\r\n\r\nchunks.", 23);
        assert_int_equal(used, strlen(body) - strlen("GET /next"));
    }
    static const struct {
        const char *text;
        unsigned status;
    } bad[] = {
        {"ffffffffffffffff\r\n", 413},  /* 2^64-1: answered, not dropped */
        {"10000000000000000\r\n", 413}, /* past 2^64 */
        {"100001\r\n", 413},            /* over the limit */
        {"4\nWiki\r\n0\r\n\r\n", 400},  /* bare LF */
        {"4\r\nWikiX\r\n0\r\n\r\n", 400},
        {"x\r\n", 400},
        {"\r\n", 400},
        {"4 \x01\r\nWiki\r\n", 400},
        {"0\r\nBad Trailer: 1\r\n\r\n", 400},
        {"0\r\nNoColon\r\n\r\n", 400},
        {"0\r\n\r\r", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = chunked_decode(bad[i].text, strlen(bad[i].text), 3, 1 << 20, out, &outlen, &used,
                                &err);
        if (rc != HP_CH_ERR || err.status != bad[i].status)
            fail_msg("case %zu: rc %d status %u", i, rc, rc == HP_CH_ERR ? err.status : 0);
    }
}

static void test_ctype(void **state)
{
    hp_ctype ct;
    assert_true(hp_ctype_parse("Application/JSON; Charset=\"UTF-8\"", &ct));
    assert_string_equal(ct.type, "application/json");
    assert_string_equal(ct.charset, "utf-8");
    assert_true(hp_ctype_parse("multipart/form-data; boundary=----x1", &ct));
    assert_string_equal(ct.boundary, "----x1");
    assert_true(hp_ctype_parse("multipart/form-data; boundary=\"a b\"", &ct));
    assert_string_equal(ct.boundary, "a b");
    assert_false(hp_ctype_parse("json", &ct));
    assert_false(hp_ctype_parse("a/b; =x", &ct));
    assert_false(hp_ctype_parse("a/b; c=\"open", &ct));
}

/* ---- multipart ---------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t len, off, step;
} mem_src;

static ssize_t mem_read(void *ctx, void *buf, size_t cap)
{
    mem_src *m = ctx;
    size_t n = m->len - m->off;
    if (n > cap)
        n = cap;
    if (n > m->step)
        n = m->step;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (ssize_t)n;
}

/* Reads every part into "name|filename|ctype|data;" lines; returns the last rc. */
static int mp_dump(const char *ctype, const char *body, size_t len, size_t step, size_t rstep,
                   char *out, size_t cap, char *err, size_t errlen)
{
    mem_src src = {body, len, 0, step};
    http_multipart *m;
    out[0] = '\0';
    if (http_multipart_new(ctype, mem_read, &src, &m, err, errlen) != CX_OK)
        return -2;
    http_part p;
    int rc;
    size_t n = 0;
    while ((rc = http_multipart_next(m, &p, err, errlen)) == 1) {
        n += (size_t)snprintf(out + n, cap - n, "%s|%s|%s|", p.name, p.filename ? p.filename : "-",
                              p.ctype);
        char buf[64];
        ssize_t k;
        while ((k = http_multipart_read(m, buf, rstep < sizeof buf ? rstep : sizeof buf)) > 0) {
            memcpy(out + n, buf, (size_t)k);
            n += (size_t)k;
        }
        out[n++] = ';';
        out[n] = '\0';
        if (k < 0) {
            rc = http_multipart_next(m, &p, err, errlen);
            break;
        }
    }
    http_multipart_free(m);
    return rc;
}

static void test_multipart(void **state)
{
    const char *ct = "multipart/form-data; boundary=XyZ";
    static const char body[] =
        "preamble\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
        "hello\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=\"scan\"; filename=\"C:\\\\x\\\\a.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n"
        "\xff\xd8\r\n--Xy\r\n-\r\n--XyY\x00z\r\n--XyZ  \r\n"
        "Content-Disposition: form-data; name=\"n\"; filename*=UTF-8''%e2%82%ac+1.txt\r\n\r\n"
        "\r\n--XyZ--\r\nepilogue";
    static const char want[] = "note|-|text/plain|hello;scan|a.jpg|image/jpeg|"
                               "\xff\xd8\r\n--Xy\r\n-\r\n--XyY\x00z;n|\xe2\x82\xac+1.txt|text/plain|;";
    char out[1024], err[160];
    for (size_t step = 1; step <= 64; step += 7)
        for (size_t rstep = 1; rstep <= 64; rstep *= 4) {
            int rc = mp_dump(ct, body, sizeof body - 1, step, rstep, out, sizeof out, err,
                             sizeof err);
            if (rc != 0)
                fail_msg("step %zu/%zu: %d %s", step, rstep, rc, err);
            assert_memory_equal(out, want, sizeof want - 1);
        }
    /* broken bodies: each an error, never a crash or a hang */
    static const char *bad[] = {
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
        "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition : form-data; name=\"a\"\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n folded\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: text/plain; "
        "charset=latin1\r\n\r\nx\r\n--XyZ--",
        "--XyZx\r\n",
        "no boundary at all",
        "--XyZ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = mp_dump(ct, bad[i], strlen(bad[i]), 5, 7, out, sizeof out, err, sizeof err);
        if (rc != -1)
            fail_msg("bad body %zu gave %d", i, rc);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(mp_dump("multipart/form-data", "", 0, 1, 1, out, sizeof out, err, sizeof err),
                     -2);
    assert_int_equal(mp_dump("text/plain; boundary=x", "", 0, 1, 1, out, sizeof out, err,
                             sizeof err), -2);
}

static void test_multipart_limits(void **state)
{
    const char *ct = "multipart/form-data; boundary=b";
    size_t cap = 1002 * 60 + 16;
    char *body = malloc(cap), out[64], err[160];
    size_t n = 0;
    for (int i = 0; i < 1001; i++)
        n += (size_t)snprintf(body + n, cap - n,
                              "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\r\n");
    n += (size_t)snprintf(body + n, cap - n, "--b--\r\n");
    mem_src src = {body, n, 0, 4096};
    http_multipart *m;
    assert_int_equal(http_multipart_new(ct, mem_read, &src, &m, err, sizeof err), CX_OK);
    http_part p;
    int parts = 0, rc;
    while ((rc = http_multipart_next(m, &p, err, sizeof err)) == 1)
        parts++;
    assert_int_equal(parts, 1000);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "1000"));
    http_multipart_free(m);
    /* a part's headers over 8 KiB */
    n = (size_t)snprintf(body, cap, "--b\r\nX: ");
    memset(body + n, 'a', 9000);
    n += 9000;
    n += (size_t)snprintf(body + n, cap - n, "\r\n\r\nx\r\n--b--");
    src = (mem_src){body, n, 0, 100000};
    assert_int_equal(http_multipart_new(ct, mem_read, &src, &m, err, sizeof err), CX_OK);
    assert_int_equal(http_multipart_next(m, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "8 KiB"));
    http_multipart_free(m);
    free(body);
    (void)out;
}

/* ---- a server in this process --------------------------------------------------- */

static http_server *srv;
static uint16_t port;

static void h_upload(http_req *r, void *ctx)
{
    size_t len = 0, mlen = 0;
    int fd = http_body_file(r, &len);
    const char *mem = http_body(r, &mlen);
    uint8_t a[32], b[32];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    char buf[65536];
    for (size_t off = 0; fd >= 0 && off < len;) {
        ssize_t n = pread(fd, buf, sizeof buf, (off_t)off);
        if (n <= 0)
            break;
        crypto_hash_sha256_update(&st, (const uint8_t *)buf, (size_t)n);
        off += (size_t)n;
    }
    crypto_hash_sha256_final(&st, a);
    crypto_hash_sha256(b, (const uint8_t *)mem, mlen);
    char ha[65], hb[65];
    cx_hex(a, 32, ha);
    cx_hex(b, 32, hb);
    http_reply_json(r, 200, json_pack("{s:b,s:I,s:s,s:s}", "spooled", fd >= 0, "length",
                                      (json_int_t)len, "file_sha256", ha, "mem_sha256", hb));
}

static void h_form(http_req *r, void *ctx)
{
    http_multipart *m;
    char err[160];
    if (http_multipart_open(r, &m, err, sizeof err) != CX_OK) {
        http_reply_error1(r, 400, "invalid_body", err, "", err);
        return;
    }
    json_t *parts = json_array();
    http_part p;
    int rc;
    while ((rc = http_multipart_next(m, &p, err, sizeof err)) == 1) {
        size_t total = 0;
        char buf[4096];
        ssize_t n;
        while ((n = http_multipart_read(m, buf, sizeof buf)) > 0)
            total += (size_t)n;
        json_array_append_new(parts, json_pack("{s:s,s:s?,s:s,s:I}", "name", p.name, "filename",
                                               p.filename, "type", p.ctype, "size",
                                               (json_int_t)total));
    }
    http_multipart_free(m);
    if (rc < 0) {
        json_decref(parts);
        http_reply_error1(r, 400, "invalid_body", err, "", err);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "parts", parts));
}

static void *resume_later(void *arg)
{
    http_req *r = arg;
    usleep(20000);
    http_reply_copy(r, 201, "text/plain", "later", 5);
    http_resume(r);
    return NULL;
}

static void h_deferred(http_req *r, void *ctx)
{
    http_defer(r);
    pthread_t t;
    pthread_create(&t, NULL, resume_later, r);
    pthread_detach(t);
}

typedef struct {
    int sent;
} tick_ctx;

static ssize_t tick_read(void *ctx, char *buf, size_t max)
{
    tick_ctx *t = ctx;
    if (t->sent == 3)
        return -1;
    t->sent++;
    return snprintf(buf, max, "data: %d\n\n", t->sent);
}

static void h_stream(http_req *r, void *ctx)
{
    tick_ctx *t = calloc(1, sizeof *t);
    http_reply_stream(r, 200, "text/event-stream", tick_read, t, free);
}

/* An http_hub over a tiny log of (topic, text) events; "end" ends a stream. */
static http_hub *hub;
static pthread_mutex_t hub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char topic[8], text[16];
} hub_log[16];
static size_t hub_n;

typedef struct {
    char topic[8];
    size_t next;
} hub_reader;

static cx_err hub_fill(void *ctx, cx_buf *out, bool *last)
{
    hub_reader *h = ctx;
    cx_err e = CX_OK;
    pthread_mutex_lock(&hub_mu);
    for (; e == CX_OK && !*last && h->next < hub_n; h->next++)
        if (strcmp(hub_log[h->next].topic, h->topic) == 0) {
            e = cx_buf_printf(out, "data: %s\n\n", hub_log[h->next].text);
            *last = strcmp(hub_log[h->next].text, "end") == 0;
        }
    pthread_mutex_unlock(&hub_mu);
    return e;
}

static void hub_publish(const char *topic, const char *text)
{
    pthread_mutex_lock(&hub_mu);
    snprintf(hub_log[hub_n].topic, sizeof hub_log[0].topic, "%s", topic);
    snprintf(hub_log[hub_n].text, sizeof hub_log[0].text, "%s", text);
    hub_n++;
    pthread_mutex_unlock(&hub_mu);
    http_hub_wake(hub, topic);
}

static void h_hub(http_req *r, void *ctx)
{
    hub_reader *h = calloc(1, sizeof *h);
    snprintf(h->topic, sizeof h->topic, "%s", http_param(r, "topic"));
    pthread_mutex_lock(&hub_mu);
    h->next = hub_n; /* live from now */
    pthread_mutex_unlock(&hub_mu);
    http_hub_serve(hub, r, h->topic, hub_fill, h, free);
}

/* A list of three rows paged two at a time, broken as {how} says: "whole";
 * "item" (the second item cannot be built); "read" (the second row cannot
 * be read: what store_row does to the page); "damaged" (the second row does
 * not read back); "extra" (whole, with a member after the items). */
static void h_page(http_req *r, void *ctx)
{
    const char *how = http_param(r, "how");
    http_pager pg;
    http_pager_init(&pg, 2, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    for (int64_t i = 1; i <= 3; i++) {
        if (i == 2 && strcmp(how, "read") == 0)
            http_pager_fail(&pg, CX_EDB);
        if (!http_pager_item(&pg))
            break;
        bool broken = i == 2 && strcmp(how, "item") == 0;
        if (i == 2 && strcmp(how, "damaged") == 0)
            http_pager_fail(&pg, CX_EPARSE); /* then json_new's CX_ENOMEM does not count */
        http_pager_json_new(&pg, broken ? NULL : json_pack("{s:I}", "n", (json_int_t)i));
        last = i;
    }
    if (strcmp(how, "extra") == 0)
        http_pager_reply_after_with(&pg, r, last, json_pack("{s:i}", "tree_size", 3));
    else
        http_pager_reply_after(&pg, r, last);
}

static cx_err test_auth(void *ctx, const char *token, cx_principal *out)
{
    if (strcmp(token, "good") != 0)
        return CX_EAUTH;
    memset(out, 0, sizeof *out);
    out->key_id = 7;
    out->role = CX_ROLE_TRADER;
    snprintf(out->org, sizeof out->org, "ORG");
    return CX_OK;
}

static int server_up(void **state)
{
    static const char *const octets[] = {"application/octet-stream", "image/jpeg", NULL};
    static const char *const forms[] = {"multipart/form-data", NULL};
    http_config cfg = {.listen = "127.0.0.1:0", .quiet = true, .threads = 4,
                       .max_streams_per_key = 1};
    char err[256];
    if (http_server_new(&cfg, &srv, err, sizeof err) != CX_OK)
        return -1;
    http_set_auth(srv, test_auth, NULL);
    http_route_opts up = {.max_body = 8 << 20, .spool = true, .accept = octets};
    http_route_opts form = {.max_body = 8 << 20, .spool = true, .accept = forms};
    http_route_opts small = {.max_body = 1000};
    http_route_ex(srv, "POST", "/upload", HTTP_AUTH, &up, h_upload, NULL);
    http_route_ex(srv, "POST", "/form", 0, &form, h_form, NULL);
    http_route_ex(srv, "POST", "/small", 0, &small, h_upload, NULL);
    http_route(srv, "GET", "/deferred", 0, h_deferred, NULL);
    http_route(srv, "GET", "/stream", HTTP_AUTH, h_stream, NULL);
    http_route(srv, "GET", "/hub/{topic}", 0, h_hub, NULL);
    http_route(srv, "GET", "/page/{how}", 0, h_page, NULL);
    /* heartbeats only when the test beats */
    http_hub_config hc = {.hello = "retry: 5\n: test hub\n\n", .heartbeat_s = 3600};
    if (http_hub_new(&hc, &hub) != CX_OK)
        return -1;
    if (http_server_start(srv, err, sizeof err) != CX_OK)
        return -1;
    port = http_server_port(srv);
    return 0;
}

static int server_down(void **state)
{
    http_server_drain(srv, 2000);
    http_server_free(srv);
    http_hub_free(hub);
    return 0;
}

/* Sends head then body (maybe large), reads the whole answer (until close). */
static char *roundtrip(const char *head, const char *body, size_t blen, size_t *outlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_true(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    for (size_t off = 0; off < blen;) {
        ssize_t n = send(fd, body + off, blen - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* an early answer: the server may stop reading */
        off += (size_t)n;
    }
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    for (;;) {
        ssize_t n = recv(fd, out + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    close(fd);
    *outlen = len;
    return out;
}

static char *big_body(size_t n)
{
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)(i * 2654435761u >> 24);
    return b;
}

static void sha_hex(const char *p, size_t n, char out[65])
{
    uint8_t h[32];
    crypto_hash_sha256(h, (const uint8_t *)p, n);
    cx_hex(h, 32, out);
}

static void test_server_spools_large_uploads(void **state)
{
    size_t n = 3 << 20, len;
    char *body = big_body(n), head[512], want[65];
    sha_hex(body, n, want);
    snprintf(head, sizeof head, "POST /upload HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\n"
                                "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n"
                                "Connection: close\r\n\r\n", n);
    char *out = roundtrip(head, body, n, &len);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "\"spooled\":true"));
    assert_non_null(strstr(out, "\"length\":3145728"));
    char f[100];
    snprintf(f, sizeof f, "\"file_sha256\":\"%s\"", want);
    assert_non_null(strstr(out, f));
    snprintf(f, sizeof f, "\"mem_sha256\":\"%s\"", want);
    assert_non_null(strstr(out, f));
    free(out);
    /* the same chunked, in chunks of 100,000 */
    size_t cn = n + 64 * 50, cl = 0;
    char *chunked = malloc(cn + 64);
    for (size_t off = 0; off < n; off += 100000) {
        size_t k = n - off < 100000 ? n - off : 100000;
        cl += (size_t)snprintf(chunked + cl, cn + 64 - cl, "%zx\r\n", k);
        memcpy(chunked + cl, body + off, k);
        cl += k;
        cl += (size_t)snprintf(chunked + cl, cn + 64 - cl, "\r\n");
    }
    cl += (size_t)snprintf(chunked + cl, cn + 64 - cl, "0\r\n\r\n");
    out = roundtrip("POST /upload HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\n"
                    "Content-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                    chunked, cl, &len);
    assert_non_null(strstr(out, "\"length\":3145728"));
    snprintf(f, sizeof f, "\"file_sha256\":\"%s\"", want);
    assert_non_null(strstr(out, f));
    free(out);
    /* a bad token is refused before 3 MiB are read; the wrong media type too */
    out = roundtrip("POST /upload HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer bad\r\n"
                    "Content-Type: image/jpeg\r\nContent-Length: 3145728\r\n\r\n", body, n, &len);
    assert_non_null(strstr(out, "HTTP/1.1 401 "));
    free(out);
    out = roundtrip("POST /upload HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\n"
                    "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n", "hello", 5, &len);
    assert_non_null(strstr(out, "HTTP/1.1 415 "));
    assert_non_null(strstr(out, "image/jpeg"));
    free(out);
    /* over the route's own limit */
    out = roundtrip("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", body, 1001,
                    &len);
    assert_non_null(strstr(out, "HTTP/1.1 413 "));
    assert_non_null(strstr(out, "\"payload_too_large\""));
    free(out);
    out = roundtrip("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n",
                    body, 1000, &len);
    assert_non_null(strstr(out, "\"spooled\":false"));
    free(out);
    free(chunked);
    free(body);
}

static void test_server_multipart(void **state)
{
    size_t fn = 200000, len;
    char *file = big_body(fn);
    size_t cap = fn + 1024, n = 0;
    char *body = malloc(cap);
    n += (size_t)snprintf(body + n, cap - n,
                          "--B0undary\r\nContent-Disposition: form-data; name=\"ref\"\r\n\r\n"
                          "DECL-1\r\n--B0undary\r\nContent-Disposition: form-data; "
                          "name=\"design\"; filename=\"part.stl\"\r\n"
                          "Content-Type: model/stl\r\n\r\n");
    memcpy(body + n, file, fn);
    n += fn;
    n += (size_t)snprintf(body + n, cap - n, "\r\n--B0undary--\r\n");
    char head[256];
    snprintf(head, sizeof head, "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
                                "boundary=B0undary\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
    char *out = roundtrip(head, body, n, &len);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(out, "{\"name\":\"ref\",\"filename\":null,\"type\":\"text/plain\",\"size\":6}"));
    assert_non_null(strstr(out, "{\"name\":\"design\",\"filename\":\"part.stl\",\"type\":\"model/stl\","
                                "\"size\":200000}"));
    free(out);
    /* cut short: the reader says so */
    snprintf(head, sizeof head, "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
                                "boundary=B0undary\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             n - 20);
    out = roundtrip(head, body, n - 20, &len);
    assert_non_null(strstr(out, "HTTP/1.1 400 "));
    assert_non_null(strstr(out, "no closing boundary"));
    free(out);
    free(body);
    free(file);
}

static void test_server_defer_and_streams(void **state)
{
    size_t len;
    char *out = roundtrip("GET /deferred HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", NULL, 0,
                          &len);
    assert_non_null(strstr(out, "HTTP/1.1 201 Created\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nlater"));
    free(out);
    /* three events in chunks, then the last chunk */
    out = roundtrip("GET /stream HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\n\r\n", NULL, 0,
                    &len);
    assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(out, "9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n9\r\ndata: 3\n\n\r\n0\r\n\r\n"));
    free(out);
    /* pipelined: two requests in one write, two answers in order */
    out = roundtrip("GET /deferred HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /deferred HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", NULL, 0, &len);
    char *second = strstr(out, "later");
    assert_non_null(second);
    assert_non_null(strstr(second + 5, "HTTP/1.1 201 Created"));
    free(out);
}

static char *get_page(const char *how)
{
    char head[128];
    snprintf(head, sizeof head, "GET /page/%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
             how);
    size_t len;
    return roundtrip(head, NULL, 0, &len);
}

/* A page is whole or not sent: an item that could not be built or a row
 * that could not be read turns the reply into the platform's error for that
 * failure, never a 200 whose list stops early with next_cursor null. */
static void test_server_pager(void **state)
{
    char *out = get_page("whole");
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "\r\n\r\n{\"items\":[{\"n\":1},{\"n\":2}],\"next_cursor\":\""));
    free(out);
    out = get_page("extra");
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "{\"items\":[{\"n\":1},{\"n\":2}],\"tree_size\":3,\"next_cursor\":\""));
    free(out);
    out = get_page("item");
    assert_non_null(strstr(out, "HTTP/1.1 503 "));
    assert_non_null(strstr(out, "\"code\":\"unavailable\""));
    assert_non_null(strstr(out, "short of memory; retry"));
    assert_null(strstr(out, "items"));
    free(out);
    out = get_page("read");
    assert_non_null(strstr(out, "HTTP/1.1 503 "));
    assert_non_null(strstr(out, "the database could not be read; retry"));
    assert_null(strstr(out, "items"));
    free(out);
    out = get_page("damaged");
    assert_non_null(strstr(out, "HTTP/1.1 500 "));
    assert_non_null(strstr(out, "\"code\":\"internal\""));
    assert_non_null(strstr(out, "a stored record is damaged"));
    assert_null(strstr(out, "items"));
    free(out);
}

/* Opens GET path and returns the socket. */
static int stream_open(const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 30}; /* a guard against a hang, not a measure */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char head[256];
    int n = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    assert_true(send(fd, head, (size_t)n, MSG_NOSIGNAL) == n);
    return fd;
}

/* Reads from fd into acc until it holds want (after *seen); true if it
 * did, false at the end of the stream. */
static bool stream_until(int fd, char *acc, size_t cap, size_t *len, size_t *seen,
                         const char *want)
{
    for (;;) {
        acc[*len] = '\0';
        char *at = strstr(acc + *seen, want);
        if (at) {
            *seen = (size_t)(at - acc) + strlen(want);
            return true;
        }
        ssize_t n = recv(fd, acc + *len, cap - *len - 1, 0);
        if (n <= 0)
            return false;
        *len += (size_t)n;
    }
}

static void test_server_hub(void **state)
{
    static char a[8192], b[8192];
    size_t alen = 0, aseen = 0, blen = 0, bseen = 0;
    int fa = stream_open("/hub/a"), fb = stream_open("/hub/b");
    /* the hello first, on every stream */
    assert_true(stream_until(fa, a, sizeof a, &alen, &aseen, "retry: 5\n: test hub\n\n"));
    assert_true(stream_until(fb, b, sizeof b, &blen, &bseen, "retry: 5\n: test hub\n\n"));
    assert_int_equal(http_hub_clients(hub), 2);
    /* a topic's events reach its streams, in order */
    hub_publish("a", "one");
    hub_publish("a", "two");
    assert_true(stream_until(fa, a, sizeof a, &alen, &aseen, "data: one\n\n"));
    assert_true(stream_until(fa, a, sizeof a, &alen, &aseen, "data: two\n\n"));
    /* a heartbeat: a comment line on a stream with nothing to send */
    http_hub_beat(hub);
    assert_true(stream_until(fb, b, sizeof b, &blen, &bseen, ": ping "));
    assert_null(strstr(b, "data:")); /* b saw nothing of a */
    /* "end" ends a's stream after it is sent; close ends b's */
    hub_publish("b", "three");
    assert_true(stream_until(fb, b, sizeof b, &blen, &bseen, "data: three\n\n"));
    hub_publish("a", "end");
    assert_true(stream_until(fa, a, sizeof a, &alen, &aseen, "data: end\n\n\r\n0\r\n\r\n"));
    assert_false(stream_until(fa, a, sizeof a, &alen, &aseen, "more"));
    http_hub_close(hub);
    assert_true(stream_until(fb, b, sizeof b, &blen, &bseen, "0\r\n\r\n"));
    assert_false(stream_until(fb, b, sizeof b, &blen, &bseen, "more"));
    assert_int_equal(http_hub_clients(hub), 0); /* both ended before their sockets closed */
    close(fa);
    close(fb);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest parser[] = {
        cmocka_unit_test(test_head_accepts_good_requests),
        cmocka_unit_test(test_head_refuses_smuggling),
        cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_head_scan_is_incremental),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_ctype),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_multipart_limits),
    };
    const struct CMUnitTest server[] = {
        cmocka_unit_test(test_server_spools_large_uploads),
        cmocka_unit_test(test_server_multipart),
        cmocka_unit_test(test_server_defer_and_streams),
        cmocka_unit_test(test_server_hub),
        cmocka_unit_test(test_server_pager),
    };
    int fails = cmocka_run_group_tests_name("parser", parser, NULL, NULL);
    fails += cmocka_run_group_tests_name("server", server, server_up, server_down);
    return fails;
}
