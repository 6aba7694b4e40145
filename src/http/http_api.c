/* Helpers every module's handlers share (http.h, "one way to do common
 * things"): route tables with their query parameters, role checks, query
 * parameter errors, paging and buffer replies. */
#include "http_int.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- replies ------------------------------------------------------------------------- */

void http_reply_buf(http_req *r, unsigned status, const char *ctype, cx_buf *b)
{
    cx_err e = cx_buf_error(b);
    size_t n;
    char *s = cx_buf_steal(b, &n);
    if (s) {
        http_reply(r, status, ctype, s, n);
        return;
    }
    http_reply_failed(r, e);
}

void http_reply_failed(http_req *r, cx_err e)
{
    if (e == CX_OK)
        e = CX_ENOMEM;
    cx_log(CX_LOG_ERROR, "%s %s: reply not sent whole: %s", http_method(r), http_path(r),
           cx_strerror(e));
    if (e == CX_ENOMEM)
        http_reply_error(r, 503, "unavailable", "the server is short of memory; retry", NULL);
    else if (e == CX_EDB)
        http_reply_error(r, 503, "unavailable", "the database could not be read; retry", NULL);
    else if (e == CX_EPARSE)
        http_reply_error(r, 500, "internal", "a stored record is damaged", NULL);
    else
        http_reply_error(r, 500, "internal", "the reply could not be written", NULL);
}

/* ---- routes with their query parameters ---------------------------------------------- */

typedef struct {
    http_handler fn;
    void *ctx;
    bool any;
    char names[]; /* " limit cursor " */
} route_query;

typedef struct {
    const char *names; /* " limit cursor " */
    const char *bad, *twice;
    char seen[512];
    char bad_name[128];
} query_walk;

static bool query__each(void *ctx, const char *key, const char *value)
{
    (void)value;
    query_walk *w = ctx;
    char word[140];
    int n = snprintf(word, sizeof word, " %s ", key);
    if (n < 0 || (size_t)n >= sizeof word || !key[0] || strchr(key, ' ') ||
        !strstr(w->names, word)) {
        snprintf(w->bad_name, sizeof w->bad_name, "%s", key);
        w->bad = w->bad_name;
        return false;
    }
    if (strstr(w->seen, word)) {
        snprintf(w->bad_name, sizeof w->bad_name, "%s", key);
        w->twice = w->bad_name;
        return false;
    }
    size_t len = strlen(w->seen);
    snprintf(w->seen + len, sizeof w->seen - len, "%s", len ? word + 1 : word);
    return true;
}

bool http__query_ok(http_req *r, const char *names)
{
    if (strcmp(names, " * ") == 0)
        return true;
    query_walk w = {.names = names};
    http_query_each(r, query__each, &w);
    if (!w.bad && !w.twice)
        return true;
    char path[140] = "";
    cx_jptr_push(path, sizeof path, w.bad ? w.bad : w.twice);
    /* the route's own list, for the sentence */
    char takes[400];
    size_t n = strlen(names);
    snprintf(takes, sizeof takes, "%.*s", n > 2 ? (int)(n - 2) : 0, names + 1);
    for (char *p = takes; *p; p++)
        if (*p == ' ')
            *p = ',';
    char rule[600];
    if (w.twice)
        snprintf(rule, sizeof rule, "is given more than once");
    else if (takes[0])
        snprintf(rule, sizeof rule, "unknown query parameter; this route takes %s", takes);
    else
        snprintf(rule, sizeof rule, "unknown query parameter; this route takes none");
    http_reply_error1(r, 400, "invalid_parameter", "bad query parameter", path, rule);
    return false;
}

static void query__check(http_req *r, void *ctx)
{
    const route_query *q = ctx;
    if (q->any || http__query_ok(r, q->names))
        q->fn(r, q->ctx);
}

/* A route whose handler first checks the query against names (http_routes,
 * and http_route_ex with opts->query). */
cx_err http__route_checked(http_server *s, const char *method, const char *pattern,
                           unsigned flags, const http_route_opts *opts, const char *names,
                           http_handler fn, void *ctx)
{
    size_t len = strlen(names);
    route_query *q = malloc(sizeof *q + len + 3);
    if (!q)
        return CX_ENOMEM;
    q->fn = fn;
    q->ctx = ctx;
    q->any = strcmp(names, "*") == 0;
    snprintf(q->names, len + 3, " %s ", names);
    http_route_opts o = opts ? *opts : (http_route_opts){0};
    o.query = NULL;
    cx_err e = http_route_ex(s, method, pattern, flags, &o, query__check, q);
    if (e != CX_OK) {
        free(q);
        return e;
    }
    s->routes[s->nroutes - 1].owned = q;
    s->routes[s->nroutes - 1].query = q->names;
    return CX_OK;
}

cx_err http_routes(http_server *s, const http_route_def *defs, size_t n, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        cx_err e = http__route_checked(s, defs[i].method, defs[i].pattern, defs[i].flags, NULL,
                                       defs[i].query ? defs[i].query : "", defs[i].fn, ctx);
        if (e != CX_OK)
            return e;
    }
    return CX_OK;
}

/* ---- roles ---------------------------------------------------------------------------- */

bool http_allow(http_req *r, unsigned roles, const char *what)
{
    const cx_principal *p = http_principal(r);
    if (cx_role_in(p, roles))
        return true;
    char msg[200];
    snprintf(msg, sizeof msg, "this role (%s) cannot %s", p ? cx_role_name(p->role) : "none",
             what);
    http_reply_error(r, 403, "forbidden", msg, NULL);
    return false;
}

json_t *http_body_json(http_req *r)
{
    size_t len;
    const char *body = http_body(r, &len);
    json_error_t e;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!doc) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s (line %d, column %d)", e.text, e.line, e.column);
        http_reply_error1(r, 400, "invalid_json", "the body is not valid JSON", "", msg);
    }
    return doc;
}

bool http_allow_officer(http_req *r, const char *what)
{
    return http_allow(r, CX_ROLES_OFFICER, what);
}

/* ---- query parameters ------------------------------------------------------------------ */

void http_bad_queries(http_req *r, json_t *problems)
{
    http_reply_error(r, 400, "invalid_parameter", "bad query parameter", problems);
}

void http_bad_query(http_req *r, const char *name, const char *fmt, ...)
{
    char path[140] = "";
    cx_jptr_push(path, sizeof path, name);
    json_t *d = json_array();
    va_list ap;
    va_start(ap, fmt);
    cx_problem_addv(d, path, fmt, ap);
    va_end(ap);
    http_bad_queries(r, d);
}

bool http_query_int(http_req *r, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = http_query(r, name);
    if (!v)
        return true;
    int64_t n;
    if (!cx_parse_i64(v, &n) || n < lo || n > hi) {
        http_bad_query(r, name, "must be an integer from %lld to %lld", (long long)lo,
                       (long long)hi);
        return false;
    }
    *out = n;
    return true;
}

bool http_query_time(http_req *r, const char *name, int64_t *us)
{
    const char *v = http_query(r, name);
    if (!v)
        return true;
    if (cx_rfc3339_parse(v, us) != CX_OK) {
        http_bad_query(r, name, "must be an RFC 3339 date-time with a zone");
        return false;
    }
    return true;
}

bool http_query_bool(http_req *r, const char *name, bool *out)
{
    const char *v = http_query(r, name);
    if (!v)
        return true;
    if (strcmp(v, "true") && strcmp(v, "false")) {
        http_bad_query(r, name, "must be true or false");
        return false;
    }
    *out = strcmp(v, "true") == 0;
    return true;
}

bool http_query_enum(http_req *r, const char *name, const char *const *values, int *out)
{
    const char *v = http_query(r, name);
    if (!v)
        return true;
    for (int i = 0; values[i]; i++)
        if (strcmp(v, values[i]) == 0) {
            *out = i;
            return true;
        }
    char list[400] = "";
    for (int i = 0; values[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i == 0 ? "" : values[i + 1] ? ", " : " or ",
                 values[i]);
    }
    http_bad_query(r, name, "must be %s", list);
    return false;
}

/* ---- paging ------------------------------------------------------------------------------ */

#define HTTP_CURSOR_RULE "must be a next_cursor value returned by this endpoint"

void http_page_bad_cursor(http_req *r)
{
    http_bad_query(r, "cursor", HTTP_CURSOR_RULE);
}

void http_page_cursor_problem(json_t *problems)
{
    cx_problem_add(problems, "/cursor", HTTP_CURSOR_RULE);
}

/* Integer cursors are positions in a table every organisation shares (row
 * numbers): in the clear they told one organisation the others' volume.
 * They go out sealed (XSalsa20-Poly1305 under a key drawn when the process
 * starts, a fresh nonce each): opaque, and a cursor not made here does not
 * open. A client paging across a restart starts again at the first page. */
static uint8_t cursor_key[crypto_secretbox_KEYBYTES];
static pthread_once_t cursor_once = PTHREAD_ONCE_INIT;

static void http__cursor_init(void)
{
    if (sodium_init() < 0)
        abort(); /* no randomness: nothing here could be trusted */
    crypto_secretbox_keygen(cursor_key);
}

#define CURSOR_RAW (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 8)

void http_cursor_seal(int64_t pos, char out[HTTP_CURSOR_MAX])
{
    pthread_once(&cursor_once, http__cursor_init);
    uint8_t m[8], c[CURSOR_RAW];
    for (int i = 0; i < 8; i++)
        m[i] = (uint8_t)((uint64_t)pos >> (56 - 8 * i));
    randombytes_buf(c, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(c + crypto_secretbox_NONCEBYTES, m, sizeof m, c, cursor_key);
    sodium_bin2base64(out, HTTP_CURSOR_MAX, c, sizeof c,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool http_cursor_open(const char *text, int64_t *pos)
{
    pthread_once(&cursor_once, http__cursor_init);
    uint8_t c[CURSOR_RAW], m[8];
    size_t n = 0;
    if (strlen(text) >= HTTP_CURSOR_MAX ||
        sodium_base642bin(c, sizeof c, text, strlen(text), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != sizeof c ||
        crypto_secretbox_open_easy(m, c + crypto_secretbox_NONCEBYTES,
                                   sizeof c - crypto_secretbox_NONCEBYTES, c, cursor_key) != 0)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | m[i];
    *pos = (int64_t)v;
    return *pos >= 0;
}

bool http_page_check(http_req *r, int kind, int64_t def, int64_t max, http_page *p,
                     json_t *problems)
{
    size_t before = json_array_size(problems);
    p->limit = def;
    p->cursor = http_query(r, "cursor");
    p->after = 0;
    const char *ls = http_query(r, "limit");
    int64_t n;
    if (ls && (!cx_parse_i64(ls, &n) || n < 1 || n > max))
        cx_problem_add(problems, "/limit", "must be an integer from 1 to %lld", (long long)max);
    else if (ls)
        p->limit = n;
    if (p->cursor && (!p->cursor[0] ||
                      (kind == HTTP_CURSOR_INT && !http_cursor_open(p->cursor, &p->after))))
        http_page_cursor_problem(problems);
    return json_array_size(problems) == before;
}

bool http_page_parse(http_req *r, int kind, int64_t def, int64_t max, http_page *p)
{
    json_t *problems = json_array();
    if (http_page_check(r, kind, def, max, p, problems)) {
        json_decref(problems);
        return true;
    }
    http_bad_queries(r, problems);
    return false;
}

void http_pager_init(http_pager *pg, int64_t limit, size_t budget)
{
    cx_buf_init(&pg->out, budget + HTTP_PAGE_ITEM_MAX);
    pg->limit = limit;
    pg->n = 0;
    pg->budget = budget;
    pg->more = false;
    /* a failure stays in the buffer for the reply */
    cx_buf_fail(&pg->out, cx_buf_puts(&pg->out, "{\"items\":["));
}

bool http_pager_item(http_pager *pg)
{
    if (cx_buf_error(&pg->out) != CX_OK)
        return false; /* the reply will be the error: build nothing more */
    if (pg->more || pg->n == pg->limit || (pg->n > 0 && pg->out.len >= pg->budget)) {
        pg->more = true;
        return false;
    }
    /* a failed comma fails the buffer: the reply will say so */
    if (pg->n++ > 0)
        cx_buf_fail(&pg->out, cx_buf_puts(&pg->out, ","));
    return true;
}

void http_pager_fail(http_pager *pg, cx_err e)
{
    cx_buf_fail(&pg->out, e);
}

void http_pager_json_new(http_pager *pg, json_t *item)
{
    cx_buf_fail(&pg->out, item ? cx_buf_json(&pg->out, item) : CX_ENOMEM);
    json_decref(item);
}

static void pager__reply(http_pager *pg, http_req *r, const char *next_cursor, json_t *extra)
{
    cx_err e = cx_buf_puts(&pg->out, "]");
    const char *k;
    json_t *v;
    json_object_foreach(extra, k, v)
    {
        e = e ? e : cx_buf_puts(&pg->out, ",");
        e = e ? e : cx_buf_json_str(&pg->out, k);
        e = e ? e : cx_buf_puts(&pg->out, ":");
        e = e ? e : cx_buf_json(&pg->out, v);
    }
    json_decref(extra);
    e = e ? e : cx_buf_puts(&pg->out, ",\"next_cursor\":");
    e = e ? e
          : pg->more && next_cursor ? cx_buf_json_str(&pg->out, next_cursor)
                                    : cx_buf_puts(&pg->out, "null");
    cx_buf_fail(&pg->out, e ? e : cx_buf_puts(&pg->out, "}"));
    http_reply_buf(r, 200, "application/json", &pg->out);
}

void http_pager_reply(http_pager *pg, http_req *r, const char *next_cursor)
{
    pager__reply(pg, r, next_cursor, NULL);
}

void http_pager_reply_after(http_pager *pg, http_req *r, int64_t last)
{
    char cur[HTTP_CURSOR_MAX];
    http_cursor_seal(last, cur);
    pager__reply(pg, r, cur, NULL);
}

void http_pager_reply_after_with(http_pager *pg, http_req *r, int64_t last, json_t *extra)
{
    if (!extra)
        http_pager_fail(pg, CX_ENOMEM);
    char cur[HTTP_CURSOR_MAX];
    http_cursor_seal(last, cur);
    pager__reply(pg, r, cur, extra);
}

void http_pager_free(http_pager *pg)
{
    cx_buf_free(&pg->out);
}

/* ---- streams ------------------------------------------------------------------------------ */

ssize_t http_stream_drain(cx_buf *pend, size_t *off, char *buf, size_t max)
{
    size_t k = pend->len - *off;
    if (k > max)
        k = max;
    memcpy(buf, pend->data + *off, k);
    *off += k;
    if (*off == pend->len) {
        cx_buf_reset(pend);
        *off = 0;
    }
    return (ssize_t)k;
}
