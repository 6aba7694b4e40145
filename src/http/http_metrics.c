/* Request metrics per route, rendered in the Prometheus text format. */
#include "http_int.h"

#include <stdio.h>

const unsigned http_status_slots[HTTP_NSTATUS] = {200, 201, 202, 204, 304, 400, 401, 403, 404,
                                                  405, 409, 413, 415, 422, 429, 500, 503, 0};
const double http_latency_bounds[HTTP_NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                   0.005,  0.01,    0.025,  0.05,  0.1,
                                                   0.25,   0.5,     1.0,    5.0};

void http__observe(http_server *s, const http_route_t *rt, unsigned status, int64_t us)
{
    http_route_metrics *m = rt ? rt->m : &s->other;
    int slot = HTTP_NSTATUS - 1;
    for (int i = 0; i < HTTP_NSTATUS - 1; i++)
        if (http_status_slots[i] == status) {
            slot = i;
            break;
        }
    atomic_fetch_add_explicit(&m->count[slot], 1, memory_order_relaxed);
    double secs = (double)us / 1e6;
    int b = 0;
    while (b < HTTP_NBUCKETS && secs > http_latency_bounds[b])
        b++;
    atomic_fetch_add_explicit(&m->hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us, (uint64_t)us, memory_order_relaxed);
}

static cx_err metrics__route(cx_buf *out, const char *method, const char *route,
                             http_route_metrics *m, bool counts)
{
    cx_err e = CX_OK;
    if (counts) {
        for (int i = 0; e == CX_OK && i < HTTP_NSTATUS; i++) {
            uint64_t c = atomic_load_explicit(&m->count[i], memory_order_relaxed);
            if (!c)
                continue;
            char code[16];
            if (http_status_slots[i])
                snprintf(code, sizeof code, "%u", http_status_slots[i]);
            else
                snprintf(code, sizeof code, "other");
            e = cx_buf_printf(out,
                              "customs_http_requests_total{method=\"%s\",route=\"%s\","
                              "status=\"%s\"} %llu\n",
                              method, route, code, (unsigned long long)c);
        }
        return e;
    }
    uint64_t cum = 0;
    for (int b = 0; e == CX_OK && b <= HTTP_NBUCKETS; b++) {
        cum += atomic_load_explicit(&m->hist[b], memory_order_relaxed);
        if (b < HTTP_NBUCKETS)
            e = cx_buf_printf(out,
                              "customs_http_request_duration_seconds_bucket{method=\"%s\","
                              "route=\"%s\",le=\"%g\"} %llu\n",
                              method, route, http_latency_bounds[b], (unsigned long long)cum);
        else
            e = cx_buf_printf(out,
                              "customs_http_request_duration_seconds_bucket{method=\"%s\","
                              "route=\"%s\",le=\"+Inf\"} %llu\n",
                              method, route, (unsigned long long)cum);
    }
    if (e == CX_OK)
        e = cx_buf_printf(
            out,
            "customs_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n"
            "customs_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
            method, route, (double)atomic_load_explicit(&m->sum_us, memory_order_relaxed) / 1e6,
            method, route, (unsigned long long)cum);
    return e;
}

/* The edge itself: connections, streams, workers, and who was refused why. */
static cx_err metrics__edge(http_server *s, cx_buf *out)
{
    static const char *const reasons[] = {"max_connections", "connections_per_address",
                                          "rate_per_address", "inflight_per_key",
                                          "streams", "header_timeout", "body_timeout",
                                          "malformed"};
    cx_err e = cx_buf_printf(
        out,
        "# HELP customs_http_connections Open client connections.\n"
        "# TYPE customs_http_connections gauge\n"
        "customs_http_connections %ld\n"
        "# HELP customs_http_connections_accepted_total Connections accepted.\n"
        "# TYPE customs_http_connections_accepted_total counter\n"
        "customs_http_connections_accepted_total %llu\n"
        "# HELP customs_http_streams Open streams (Server-Sent Events).\n"
        "# TYPE customs_http_streams gauge\n"
        "customs_http_streams %ld\n"
        "# HELP customs_http_workers Handler threads, and how many are busy.\n"
        "# TYPE customs_http_workers gauge\n"
        "customs_http_workers{state=\"all\"} %u\n"
        "customs_http_workers{state=\"busy\"} %u\n"
        "# HELP customs_http_worker_queue Tasks waiting for a handler thread.\n"
        "# TYPE customs_http_worker_queue gauge\n"
        "customs_http_worker_queue %u\n"
        "# HELP customs_http_refused_total Callers answered 408/429/503 or a framing "
        "error by the edge, by reason.\n"
        "# TYPE customs_http_refused_total counter\n",
        (long)atomic_load(&s->n_conns), (unsigned long long)atomic_load(&s->n_accepted),
        (long)atomic_load(&s->n_streams), s->threads,
        s->pool ? http__pool_busy(s->pool) : 0, s->pool ? http__pool_queued(s->pool) : 0);
    for (size_t i = 0; e == CX_OK && i < sizeof reasons / sizeof reasons[0]; i++)
        e = cx_buf_printf(out, "customs_http_refused_total{reason=\"%s\"} %llu\n", reasons[i],
                          (unsigned long long)atomic_load(&s->n_refused[i]));
    return e;
}

void http_metrics_render(http_server *s, cx_buf *out)
{
    /* a failed buffer stays failed: the reply of /metrics reports it */
    cx_err e = cx_buf_puts(out, "# HELP customs_http_requests_total HTTP requests by route and "
                                "status.\n# TYPE customs_http_requests_total counter\n");
    for (size_t i = 0; e == CX_OK && i < s->nroutes; i++)
        e = metrics__route(out, s->routes[i].method, s->routes[i].pattern, s->routes[i].m, true);
    if (e == CX_OK)
        e = metrics__route(out, "any", "unmatched", &s->other, true);
    if (e == CX_OK)
        e = cx_buf_puts(out, "# HELP customs_http_request_duration_seconds Time from first byte "
                             "to completion.\n"
                             "# TYPE customs_http_request_duration_seconds histogram\n");
    for (size_t i = 0; e == CX_OK && i < s->nroutes; i++)
        e = metrics__route(out, s->routes[i].method, s->routes[i].pattern, s->routes[i].m, false);
    if (e == CX_OK)
        e = cx_buf_printf(out, "# HELP customs_http_requests_in_flight Requests being served.\n"
                               "# TYPE customs_http_requests_in_flight gauge\n"
                               "customs_http_requests_in_flight %ld\n",
                          (long)atomic_load(&s->inflight));
    if (e == CX_OK)
        e = metrics__edge(s, out);
    for (size_t i = 0; e == CX_OK && i < s->nextras; i++)
        s->extras[i].fn(s->extras[i].ctx, out);
}
