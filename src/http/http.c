#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sodium.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_int.h"

/* ---- listening socket ------------------------------------------------------ */

static bool http__split_hostport(const char *in, char *host, size_t hostcap, char *port,
                                 size_t portcap)
{
    const char *colon;
    if (in[0] == '[') {
        const char *close = strchr(in, ']');
        if (!close || close[1] != ':')
            return false;
        size_t n = (size_t)(close - in - 1);
        if (n + 1 > hostcap)
            return false;
        memcpy(host, in + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(in, ':');
        if (!colon)
            return false;
        size_t n = (size_t)(colon - in);
        if (n + 1 > hostcap)
            return false;
        memcpy(host, in, n);
        host[n] = '\0';
    }
    if (strlen(colon + 1) + 1 > portcap || !colon[1])
        return false;
    memcpy(port, colon + 1, strlen(colon + 1) + 1); /* its length was checked above */
    int64_t p;
    return cx_parse_i64(port, &p) && p >= 0 && p <= 65535;
}

static cx_err http__listen(const char *spec, int *fd_out, char *err, size_t errlen)
{
    char host[256], port[16];
    if (!http__split_hostport(spec, host, sizeof host, port, sizeof port)) {
        snprintf(err, errlen, "--listen %s: expected HOST:PORT, e.g. 127.0.0.1:8080", spec);
        return CX_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "--listen %s: cannot resolve %s: %s", spec, host, gai_strerror(rc));
        return CX_EINVAL;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (saved == EADDRINUSE)
            snprintf(err, errlen, "cannot listen on %s: the address is already in use "
                                  "(another server running?)", spec);
        else
            snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(saved));
        return saved == EADDRINUSE ? CX_EBUSY : CX_EIO;
    }
    *fd_out = fd;
    return CX_OK;
}

static char *http__slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    cx_buf b;
    cx_buf_init(&b, 1 << 20);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (cx_buf_append(&b, tmp, n) != CX_OK) {
            snprintf(err, errlen, "%s is larger than 1 MiB", path);
            fclose(f);
            cx_buf_free(&b);
            return NULL;
        }
    }
    fclose(f);
    return cx_buf_steal(&b, NULL);
}

/* ---- server lifecycle ------------------------------------------------------- */

cx_err http_server_new(const http_config *cfg, http_server **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!!cfg->tls_cert != !!cfg->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return CX_EINVAL;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return CX_ENOMEM;
    s->listen_fd = -1;
    s->threads = cfg->threads ? cfg->threads : 1024;
    s->max_body = cfg->max_body ? cfg->max_body : (size_t)1 << 20;
    s->quiet = cfg->quiet;
    pthread_mutex_init(&s->drain_mu, NULL);
    pthread_cond_init(&s->drain_cv, NULL);
    pthread_mutex_init(&s->streams_mu, NULL);
    if (cfg->tls_cert) {
        s->tls_cert = http__slurp(cfg->tls_cert, err, errlen);
        s->tls_key = s->tls_cert ? http__slurp(cfg->tls_key, err, errlen) : NULL;
        if (!s->tls_key) {
            http_server_free(s);
            return CX_EIO;
        }
    }
    cx_err e = http__listen(cfg->listen ? cfg->listen : "127.0.0.1:8080", &s->listen_fd, err,
                            errlen);
    if (e != CX_OK) {
        http_server_free(s);
        return e;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return CX_OK;
}

uint16_t http_server_port(const http_server *s)
{
    return s->port;
}

bool http_server_tls(const http_server *s)
{
    return s->tls_cert != NULL;
}

void http_set_auth(http_server *s, http_auth_fn fn, void *ctx)
{
    s->auth = fn;
    s->auth_ctx = ctx;
}

void http_add_metrics(http_server *s, http_metrics_fn fn, void *ctx)
{
    if (s->nextras < HTTP_MAX_EXTRAS) {
        s->extras[s->nextras].fn = fn;
        s->extras[s->nextras].ctx = ctx;
        s->nextras++;
    }
}

static void http__mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    cx_log(CX_LOG_WARN, "http: %s", msg);
}

cx_err http_server_start(http_server *s, char *err, size_t errlen)
{
    /* A thread per connection: a request waiting for the group commit, or
     * a Server-Sent Events stream, blocks only its own thread. (Suspend and
     * resume in MHD 0.9.75's epoll thread pool lost wake-ups under load.) */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (s->tls_cert)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[16];
    int n = 0;
    /* The logger must come first so that MHD logs nothing on its own. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http__mhd_log, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, 1 << 20, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                        (intptr_t)http__completed, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, s->threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL};
    if (s->tls_cert) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, http__access, s, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "cannot start the HTTP server%s",
                 s->tls_cert ? " (check the TLS certificate and key)" : "");
        return CX_EIO;
    }
    return CX_OK;
}

void http_server_drain(http_server *s, int timeout_ms)
{
    if (!s || !s->mhd)
        return;
    atomic_store(&s->draining, true);
    MHD_socket lfd = MHD_quiesce_daemon(s->mhd);
    if (lfd != MHD_INVALID_SOCKET) {
        close(lfd);
        s->listen_fd = -1;
    }
    http__streams_end(s);
    int64_t deadline = cx_mono_us() + (int64_t)timeout_ms * 1000;
    pthread_mutex_lock(&s->drain_mu);
    while (atomic_load(&s->inflight) > 0 && cx_mono_us() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->drain_cv, &s->drain_mu, &ts);
    }
    pthread_mutex_unlock(&s->drain_mu);
    if (atomic_load(&s->inflight) > 0)
        cx_log(CX_LOG_WARN, "http: %ld requests still in flight at shutdown",
               (long)atomic_load(&s->inflight));
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    for (size_t i = 0; i < s->nroutes; i++)
        http__route_free(&s->routes[i]);
    free(s->routes);
    free(s->tls_cert);
    if (s->tls_key)
        sodium_memzero(s->tls_key, strlen(s->tls_key));
    free(s->tls_key);
    pthread_mutex_destroy(&s->drain_mu);
    pthread_cond_destroy(&s->drain_cv);
    pthread_mutex_destroy(&s->streams_mu);
    free(s);
}
