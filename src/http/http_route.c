/* The router: literal segments and {name} captures, matched in order. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http__route_free(http_route_t *rt)
{
    free(rt->method);
    free(rt->pattern);
    for (int i = 0; i < rt->nsegs; i++) {
        free(rt->segs[i]);
        free(rt->names[i]);
    }
    free(rt->m);
    free(rt->owned);
    for (char **a = rt->accept; a && *a; a++)
        free(*a);
    free(rt->accept);
}

/* A lowercase copy of a NULL-terminated list of media types. */
static char **route__accept(const char *const *in)
{
    size_t n = 0;
    while (in[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        out[i] = strdup(in[i]);
        if (!out[i]) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
        for (char *p = out[i]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
    }
    return out;
}

cx_err http_route(http_server *s, const char *method, const char *pattern, unsigned flags,
                  http_handler h, void *ctx)
{
    return http_route_ex(s, method, pattern, flags, NULL, h, ctx);
}

cx_err http_route_ex(http_server *s, const char *method, const char *pattern, unsigned flags,
                     const http_route_opts *opts, http_handler h, void *ctx)
{
    if (pattern[0] != '/')
        return CX_EINVAL;
    if (opts && opts->query)
        return http__route_checked(s, method, pattern, flags, opts, opts->query, h, ctx);
    http_route_t *routes = realloc(s->routes, (s->nroutes + 1) * sizeof *routes);
    if (!routes)
        return CX_ENOMEM;
    s->routes = routes;
    http_route_t *rt = &routes[s->nroutes];
    memset(rt, 0, sizeof *rt);
    rt->method = strdup(method);
    rt->pattern = strdup(pattern);
    rt->m = calloc(1, sizeof *rt->m);
    rt->flags = flags;
    rt->fn = h;
    rt->ctx = ctx;
    if (opts) {
        rt->max_body = opts->max_body;
        rt->spool = opts->spool;
        if (opts->accept && !(rt->accept = route__accept(opts->accept))) {
            http__route_free(rt);
            return CX_ENOMEM;
        }
    }
    if (!rt->method || !rt->pattern || !rt->m) {
        http__route_free(rt);
        return CX_ENOMEM;
    }
    const char *p = pattern + 1;
    while (*p || rt->nsegs == 0) {
        if (rt->nsegs == HTTP_MAX_SEGS) {
            http__route_free(rt);
            return CX_EINVAL;
        }
        size_t n = strcspn(p, "/");
        char *seg = strndup(p, n);
        if (!seg) {
            http__route_free(rt);
            return CX_ENOMEM;
        }
        if (n > 2 && seg[0] == '{' && seg[n - 1] == '}') {
            seg[n - 1] = '\0';
            if (seg[n - 2] == '*') { /* {name*}: the rest of the path, last only */
                seg[n - 2] = '\0';
                if (p[n] != '\0') {
                    free(seg);
                    http__route_free(rt);
                    return CX_EINVAL;
                }
                rt->rest = true;
            }
            rt->names[rt->nsegs] = strdup(seg + 1);
            free(seg);
        } else {
            rt->segs[rt->nsegs] = seg;
        }
        rt->nsegs++;
        p += n;
        if (*p == '/')
            p++;
        else
            break;
    }
    s->nroutes++;
    return CX_OK;
}

static bool route__match_path(const http_route_t *rt, const char *path,
                              const char *caps[HTTP_MAX_SEGS][2], size_t caplen[HTTP_MAX_SEGS],
                              int *ncaps)
{
    if (path[0] != '/')
        return false;
    const char *p = path + 1;
    *ncaps = 0;
    for (int i = 0; i < rt->nsegs; i++) {
        bool rest = rt->rest && i + 1 == rt->nsegs;
        size_t n = rest ? strlen(p) : strcspn(p, "/");
        if (rt->segs[i]) {
            if (strlen(rt->segs[i]) != n || memcmp(rt->segs[i], p, n) != 0)
                return false;
        } else {
            if (n == 0)
                return false;
            caps[*ncaps][0] = rt->names[i];
            caps[*ncaps][1] = p;
            caplen[*ncaps] = n;
            (*ncaps)++;
        }
        p += n;
        if (i + 1 < rt->nsegs) {
            if (*p != '/')
                return false;
            p++;
        }
    }
    return *p == '\0';
}

const http_route_t *http__match(http_server *s, http_req *r, bool *method_mismatch, char *allow,
                                size_t allowcap)
{
    const char *caps[HTTP_MAX_SEGS][2];
    size_t caplen[HTTP_MAX_SEGS];
    int ncaps;
    *method_mismatch = false;
    allow[0] = '\0';
    for (size_t i = 0; i < s->nroutes; i++) {
        const http_route_t *rt = &s->routes[i];
        if (!route__match_path(rt, r->path, caps, caplen, &ncaps))
            continue;
        if (strcmp(rt->method, r->method) != 0) {
            if (rt->flags & HTTP_FALLBACK)
                continue;
            *method_mismatch = true;
            if (!strstr(allow, rt->method)) {
                size_t n = strlen(allow);
                snprintf(allow + n, allowcap - n, "%s%s", n ? ", " : "", rt->method);
            }
            continue;
        }
        for (int k = 0; k < ncaps; k++) {
            r->params[k][0] = caps[k][0];
            r->params[k][1] = strndup(caps[k][1], caplen[k]);
        }
        r->nparams = ncaps;
        return rt;
    }
    return NULL;
}

void http_routes_each(const http_server *s, http_route_each_fn fn, void *ctx)
{
    for (size_t i = 0; i < s->nroutes; i++)
        fn(ctx, s->routes[i].method, s->routes[i].pattern, s->routes[i].flags,
           s->routes[i].query);
}
