/*
 * loadgen — a closed-loop HTTP/1.1 load generator for bench/ingest.
 *
 * C keep-alive connections on one epoll thread; each has one request in
 * flight. Modes: "post" sends realistic 1-5 item declarations with unique
 * references; "get" requests a path (e.g. /healthz). Prints one JSON line:
 * {"mode","requests","errors","seconds","rps","p50_us","p99_us","statuses":{…}}.
 *
 * The response reader is deliberately minimal (status line, Content-Length):
 * it is a benchmark client for our own server, not product code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

typedef struct {
    int fd;
    char out[BUF];
    size_t out_len, out_off;
    char in[BUF];
    size_t in_len;
    int64_t sent_ns;
    uint64_t n;
    int id;
} conn;

static const char *mode = "get", *path = "/healthz", *token = "", *run_tag = "B";
static const char *hot_bl; /* --bl: every declaration on this bill of lading (bench/hotkeys) */
static int port = 8080, nconn = 64;
static double seconds = 5;
static uint64_t *lat_us;
static size_t nlat, caplat;
static uint64_t statuses[600], errors;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift for reproducible variety in the declarations */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* HS 2022 subheadings with descriptions a trader would write for them */
static const char *hs[] = {"690722", "940360", "850440", "847130", "620342", "030617",
                           "870323", "392690", "640399", "851713", "220421", "090111"};
static const char *goods[] = {"Glazed ceramic floor tiles",
                              "Wooden bedroom furniture",
                              "Static converters, power supplies",
                              "Portable laptop computers",
                              "Men's cotton trousers",
                              "Frozen shrimps and prawns",
                              "Passenger motor cars, petrol engine",
                              "Plastic articles, household",
                              "Leather footwear",
                              "Smartphones for cellular networks",
                              "Red wine in bottles",
                              "Coffee beans, not roasted"};
static const char *origins[] = {"CN", "VN", "US", "DE", "JP", "IN", "TR", "BR", "KR", "ZZ"};
static const char *currencies[] = {"USD", "EUR", "KRW", "CNY", "JPY"};

static size_t make_body(conn *c, char *body, size_t cap)
{
    int items = 1 + (int)(rnd() % 5);
    char bl[64];
    unsigned long long bln = (unsigned long long)(rnd() % 1000000000);
    if (hot_bl)
        snprintf(bl, sizeof bl, "%s", hot_bl);
    else
        snprintf(bl, sizeof bl, "MAEU%09llu", bln);
    size_t n = (size_t)snprintf(
        body, cap,
        "{\"reference\":\"%s-%d-%llu\",\"type\":\"import\",\"date\":\"2024-%02d-%02d\","
        "\"office\":\"KRPUS%d\",\"declarant_id\":\"DCL-%04llu\",\"importer_id\":\"IMP-%05llu\","
        "\"seller_id\":\"SEL-%04llu\",\"country_of_departure\":\"%s\",\"transport_mode\":\"10\","
        "\"procedure\":{\"process_type\":\"B\",\"import_type\":\"11\",\"import_use\":\"21\","
        "\"payment_type\":\"11\"},\"containers\":[\"CSQU3054383\"],"
        "\"transport_document\":{\"type\":\"BL\",\"number\":\"%s\"},\"items\":[",
        run_tag, c->id, (unsigned long long)c->n, 1 + (int)(rnd() % 12), 1 + (int)(rnd() % 28),
        (int)(rnd() % 9), (unsigned long long)(rnd() % 2000), (unsigned long long)(rnd() % 90000),
        (unsigned long long)(rnd() % 5000), origins[rnd() % 10], bl);
    for (int i = 0; i < items; i++) {
        double mass = 10 + (double)(rnd() % 2000000) / 100.0;
        int g = (int)(rnd() % 12);
        n += (size_t)snprintf(
            body + n, cap - n,
            "%s{\"hs_code\":\"%s\",\"description\":\"%s, lot %d\","
            "\"country_of_origin\":\"%s\",\"origin_indicator\":\"Y\","
            "\"quantity\":%llu,\"unit\":\"NAR\",\"net_mass_kg\":%.2f,\"gross_mass_kg\":%.2f,"
            "\"value\":%.2f,\"currency\":\"%s\",\"tax_rate\":%.1f,\"tax_type\":\"A\"}",
            i ? "," : "", hs[g], goods[g], i, origins[rnd() % 10],
            (unsigned long long)(1 + rnd() % 500), mass, mass * 1.06,
            (double)(rnd() % 100000000) / 100.0, currencies[rnd() % 5],
            (double)(rnd() % 300) / 10.0);
    }
    n += (size_t)snprintf(body + n, cap - n, "]}");
    return n;
}

static void prepare(conn *c)
{
    if (strcmp(mode, "post") == 0) {
        char body[8192];
        size_t blen = make_body(c, body, sizeof body);
        c->out_len = (size_t)snprintf(c->out, BUF,
                                      "POST /v1/declarations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Authorization: Bearer %s\r\n"
                                      "Content-Type: application/json\r\n"
                                      "Content-Length: %zu\r\n\r\n%s",
                                      token, blen, body);
    } else {
        c->out_len = (size_t)snprintf(c->out, BUF,
                                      "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s\r\n", path,
                                      token[0] ? "Authorization: Bearer " : "", token,
                                      token[0] ? "\r\n" : "");
    }
    c->out_off = 0;
    c->in_len = 0;
    c->n++;
}

static int connect_one(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(1);
    }
    return fd;
}

/* Returns 1 when a whole response is in c->in, 0 if more is needed. */
static int response_complete(conn *c, int *status)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->in) + 4;
    *status = (int)strtol(c->in + 9, NULL, 10); /* "HTTP/1.1 201 …" */
    size_t clen = 0;
    char *cl = memmem(c->in, head, "Content-Length:", 15);
    if (!cl)
        cl = memmem(c->in, head, "content-length:", 15);
    if (cl)
        clen = (size_t)strtoul(cl + 15, NULL, 10);
    return c->in_len >= head + clen;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mode"))
            mode = argv[i + 1];
        else if (!strcmp(argv[i], "--path"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "--token"))
            token = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--connections"))
            nconn = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--tag"))
            run_tag = argv[i + 1];
        else if (!strcmp(argv[i], "--bl"))
            hot_bl = argv[i + 1];
        else if (!strcmp(argv[i], "--seed"))
            rng_state = strtoull(argv[i + 1], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: loadgen --mode get|post [--path P] [--token T] --port N "
                            "[--connections C] [--seconds S] [--tag T] [--seed N] [--bl NUMBER]\n");
            return 2;
        }
    }
    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)nconn, sizeof *cs);
    caplat = 1 << 20;
    lat_us = malloc(caplat * sizeof *lat_us);
    int64_t start = now_ns(), stop = start + (int64_t)(seconds * 1e9);
    for (int i = 0; i < nconn; i++) {
        cs[i].id = i;
        cs[i].fd = connect_one();
        prepare(&cs[i]);
        cs[i].sent_ns = now_ns();
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    struct epoll_event evs[256];
    int active = nconn;
    while (active > 0) {
        int n = epoll_wait(ep, evs, 256, 1000);
        int64_t t = now_ns();
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            if (c->fd < 0)
                continue;
            if ((evs[k].events & EPOLLOUT) && c->out_off < c->out_len) {
                ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
                if (w > 0)
                    c->out_off += (size_t)w;
                if (c->out_off == c->out_len) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, c->in + c->in_len, BUF - c->in_len);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    errors++;
                    close(c->fd);
                    c->fd = -1;
                    active--;
                    continue;
                }
                c->in_len += (size_t)r;
                int status;
                if (!response_complete(c, &status))
                    continue;
                if (status > 0 && status < 600)
                    statuses[status]++;
                if (nlat == caplat) {
                    caplat *= 2;
                    lat_us = realloc(lat_us, caplat * sizeof *lat_us);
                }
                lat_us[nlat++] = (uint64_t)((t - c->sent_ns) / 1000);
                if (t >= stop) {
                    close(c->fd);
                    c->fd = -1;
                    active--;
                    continue;
                }
                prepare(c);
                c->sent_ns = now_ns();
                struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
    }
    double secs = (double)(now_ns() - start) / 1e9;
    qsort(lat_us, nlat, sizeof *lat_us, cmp_u64);
    uint64_t ok = 0;
    for (int s = 200; s < 300; s++)
        ok += statuses[s];
    printf("{\"mode\":\"%s\",\"requests\":%zu,\"ok\":%llu,\"errors\":%llu,\"seconds\":%.3f,"
           "\"rps\":%.1f,\"ok_rps\":%.1f,\"p50_us\":%llu,\"p99_us\":%llu,\"statuses\":{",
           mode, nlat, (unsigned long long)ok, (unsigned long long)errors, secs,
           (double)nlat / secs, (double)ok / secs,
           (unsigned long long)(nlat ? lat_us[nlat / 2] : 0),
           (unsigned long long)(nlat ? lat_us[nlat * 99 / 100] : 0));
    bool first = true;
    for (int s = 0; s < 600; s++)
        if (statuses[s]) {
            printf("%s\"%d\":%llu", first ? "" : ",", s, (unsigned long long)statuses[s]);
            first = false;
        }
    printf("}}\n");
    return 0;
}
