/*
 * mhd_peer — the in-run peer of bench/http: GET /healthz answered by
 * libmicrohttpd 0.9.75 exactly as customs answered it before its own edge
 * (same JSON, same headers), in one of two modes:
 *   tpc   a thread per connection (customs' configuration until issue 17)
 *   epoll MHD's epoll thread pool (2 threads), the alternative considered
 * Other paths read the body and answer 404, so framing probes reach MHD's
 * body handling. --strict sets MHD_OPTION_STRICT_FOR_CLIENT=1.
 * Usage: mhd_peer --port N [--mode tpc|epoll] [--strict] [--port-file F]
 */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum MHD_Result peer__access(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload, size_t *upload_size, void **con_cls)
{
    static int marker;
    (void)cls;
    (void)version;
    (void)upload;
    if (!*con_cls) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    bool health = strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0;
    static const char ok[] = "{\"status\":\"ok\"}";
    static const char nf[] = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such "
                             "resource\",\"details\":[]}}";
    struct MHD_Response *r = MHD_create_response_from_buffer(
        health ? sizeof ok - 1 : sizeof nf - 1, (void *)(health ? ok : nf), MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, health ? 200 : 404, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    int port = 0, strict = 0;
    const char *mode = "tpc", *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || v < 0 || v > 65535) {
                fprintf(stderr, "mhd_peer: --port must be 0 to 65535\n");
                return 2;
            }
            port = (int)v;
            continue;
        }
        if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            mode = argv[++i];
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else if (!strcmp(argv[i], "--strict"))
            strict = 1;
        else {
            fprintf(stderr, "usage: mhd_peer --port N [--mode tpc|epoll] [--strict]\n");
            return 2;
        }
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    unsigned pool = 0;
    if (!strcmp(mode, "tpc")) {
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    } else if (!strcmp(mode, "epoll")) {
        flags |= MHD_USE_EPOLL;
        pool = 2;
    } else {
        fprintf(stderr, "mhd_peer: --mode must be tpc or epoll\n");
        return 2;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, peer__access, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)20000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)1 << 20, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_STRICT_FOR_CLIENT, strict, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        1, pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd_peer: cannot start\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%u\n", info ? info->port : (unsigned)port);
            fclose(f);
        }
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
