/* The server's life: configuration, the listening socket, start, drain,
 * stop. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* The metrics token: a 0600 file (no one else may read it), kept as a hash. */
static cx_err http__metrics_token(http_server *s, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot read the metrics token %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CX_EIO;
    }
    if (st.st_mode & 077) {
        close(fd);
        snprintf(err, errlen, "the metrics token %s must be readable by its owner only "
                              "(chmod 600)", path);
        return CX_EINVAL;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        n = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n < 16 || (size_t)n >= sizeof buf - 1) {
        sodium_memzero(buf, sizeof buf);
        snprintf(err, errlen, "the metrics token in %s must be 16 to 500 characters", path);
        return CX_EINVAL;
    }
    crypto_generichash(s->metrics_hash, sizeof s->metrics_hash, (const uint8_t *)buf,
                       (size_t)n, NULL, 0);
    sodium_memzero(buf, sizeof buf);
    s->metrics_token = true;
    return CX_OK;
}

#define DEF(v, d) ((v) ? (v) : (d))

/* Raises the descriptor limit to what max_connections needs (up to the hard
 * limit) and lowers max_connections to what the limit allows. */
static void http__fit_nofile(http_server *s)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)s->max_conns + 1024 + 1024; /* refusals, database, files */
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        unsigned fit = rl.rlim_cur > 2048 + 64 ? (unsigned)(rl.rlim_cur - 2048) : 64;
        cx_log(CX_LOG_WARN, "http: at most %u connections (RLIMIT_NOFILE %llu)", fit,
               (unsigned long long)rl.rlim_cur);
        s->max_conns = fit;
    }
}

static void http__configure(http_server *s, const http_config *cfg)
{
    s->threads = DEF(cfg->threads, 16);
    s->max_body = DEF(cfg->max_body, (size_t)1 << 20);
    s->quiet = cfg->quiet;
    s->max_conns = DEF(cfg->max_connections, 16384);
    s->max_per_addr = DEF(cfg->max_conns_per_addr, 1024);
    s->max_inflight_key = DEF(cfg->max_inflight_per_key, 256);
    s->max_streams_key = DEF(cfg->max_streams_per_key, 32);
    s->max_streams_org = DEF(cfg->max_streams_per_org, 256);
    s->body_min_rate = DEF(cfg->body_min_rate, 1024);
    s->limits = (hp_limits){.max_head = 16 * 1024, .max_target = 8 * 1024, .max_headers = 100};
    s->timers[T_HEAD].dur_us = (int64_t)DEF(cfg->header_timeout_ms, 10000) * 1000;
    s->timers[T_IDLE].dur_us = (int64_t)DEF(cfg->idle_timeout_ms, 60000) * 1000;
    s->timers[T_BODY].dur_us = (int64_t)DEF(cfg->body_timeout_ms, 10000) * 1000;
    s->timers[T_WRITE].dur_us = (int64_t)DEF(cfg->send_timeout_ms, 60000) * 1000;
    s->timers[T_LINGER].dur_us = 5 * 1000000LL; /* between reads while lingering */
}

cx_err http_server_new(const http_config *cfg, http_server **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!!cfg->tls_cert != !!cfg->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return CX_EINVAL;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot start");
        return CX_EUNAVAIL;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return CX_ENOMEM;
    s->listen_fd = s->epfd = s->evfd = -1;
    http__configure(s, cfg);
    pthread_mutex_init(&s->drain_mu, NULL);
    pthread_cond_init(&s->drain_cv, NULL);
    const char *tmp = cfg->tmp_dir ? cfg->tmp_dir : getenv("TMPDIR");
    s->tmp_dir = strdup(tmp && *tmp ? tmp : "/var/tmp");
    cx_err e = s->tmp_dir ? CX_OK : CX_ENOMEM;
    if (!e && cfg->tls_cert)
        e = http__tls_init(s, cfg->tls_cert, cfg->tls_key, err, errlen);
    if (!e && cfg->metrics_token_file)
        e = http__metrics_token(s, cfg->metrics_token_file, err, errlen);
    if (!e)
        e = http__listen(cfg->listen ? cfg->listen : "127.0.0.1:8080", &s->listen_fd, err, errlen);
    if (e != CX_OK) {
        http_server_free(s);
        return e;
    }
    http__fit_nofile(s);
    double rate = cfg->anon_rate < 0 ? -1 : cfg->anon_rate > 0 ? cfg->anon_rate : 100;
    if (http__addrs_init(&s->addrs, s->max_conns, rate, DEF(cfg->anon_burst, 400)) != CX_OK) {
        http_server_free(s);
        return CX_ENOMEM;
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
    return s->tls;
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

/* A route that spools needs a writable --tmp-dir: say so at start, not on
 * the first upload. */
static cx_err http__check_tmp(http_server *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nroutes; i++) {
        if (!s->routes[i].spool)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/customs-check-XXXXXX", s->tmp_dir);
        int fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, errlen, "cannot create files in %s for large uploads (--tmp-dir): %s",
                     s->tmp_dir, strerror(errno));
            return CX_EIO;
        }
        close(fd);
        unlink(path);
        break;
    }
    return CX_OK;
}

cx_err http_server_start(http_server *s, char *err, size_t errlen)
{
    cx_err e = http__check_tmp(s, err, errlen);
    if (e)
        return e;
    e = http__pool_new(s->threads, &s->pool);
    if (!e)
        e = http__quota_new(&s->quota);
    if (e) {
        snprintf(err, errlen, "cannot start the HTTP workers");
        return e;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};
    struct epoll_event eev = {.events = EPOLLIN, .data.ptr = &s->evfd};
    if (s->epfd < 0 || s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &lev) ||
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &eev)) {
        snprintf(err, errlen, "cannot start the HTTP server: %s", strerror(errno));
        return CX_EIO;
    }
    s->accepting = true;
    if (pthread_create(&s->loop_thread, NULL, http__loop_main, s) != 0) {
        snprintf(err, errlen, "cannot start the HTTP server's thread");
        return CX_EIO;
    }
    pthread_setname_np(s->loop_thread, "http-loop");
    s->started = true;
    return CX_OK;
}

void http_server_drain(http_server *s, int timeout_ms)
{
    if (!s || !s->started)
        return;
    atomic_store(&s->draining, true);
    int expect = 0;
    atomic_compare_exchange_strong(&s->cmd, &expect, 1);
    http__loop_signal(s);
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
    bool leak = false;
    if (s->started) {
        atomic_store(&s->draining, true);
        atomic_store(&s->cmd, 2);
        http__loop_signal(s);
        pthread_join(s->loop_thread, NULL);
        /* what is still out would come back to freed memory: keep it */
        leak = atomic_load(&s->inflight) > 0;
        if (leak)
            cx_log(CX_LOG_ERROR, "http: %ld requests never answered; their memory is kept",
                   (long)atomic_load(&s->inflight));
        if (!leak) {
            http__conn_free_all(s);
            http__tasks_flush(s);
            http__pool_free(s->pool); /* runs the last cleanups */
        }
    }
    if (leak)
        return;
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->evfd >= 0)
        close(s->evfd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    http__quota_free(s->quota);
    http__addrs_free(&s->addrs);
    http__tls_free(s);
    for (size_t i = 0; i < s->nroutes; i++)
        http__route_free(&s->routes[i]);
    free(s->routes);
    free(s->tmp_dir);
    pthread_mutex_destroy(&s->drain_mu);
    pthread_cond_destroy(&s->drain_cv);
    free(s);
}
