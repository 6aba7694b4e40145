/*
 * bench_lnet — the programs behind bench/lnet/run (not product code).
 *
 *   bench_lnet gen --key FILE --org ORG --count N --tag T > entries.jsonl
 *       N parcel manifests (3 salted parcel commitments each) signed by ORG:
 *       realistic e-commerce entries, one JSON line each, unique per tag.
 *   bench_lnet post --ports P1,P2,… --tokens T1,T2,… --file F --connections C
 *       closed-loop POST /v1/ledger/entries over C keep-alive connections
 *       spread over the nodes; prints {"requests","seconds","rps","ok_rps",
 *       "p50_us","p99_us","statuses"} — every entry is posted exactly once.
 *   bench_lnet raw --nats URLS --bytes B --count N --replicas R
 *       the ordering ceiling: a plain libnats publisher putting N messages of
 *       B bytes into a fresh JetStream stream (file storage, R replicas) with
 *       acknowledgements (asynchronous, 4096 in flight); prints {"rps"}.
 *   bench_lnet feed --nats URLS --subject S --key FILE --org ORG --count N --tag T
 *       N parcel manifests signed by ORG (as gen makes them) straight onto a
 *       ledger's entry stream (the signed canonical text; no Nats-Msg-Id:
 *       a plain publisher, nothing to deduplicate), asynchronously with 4096
 *       in flight: the backlog a new node then catches up; prints {"rps"}.
 */
#include "ledger.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

/* A numeric option; -1 when it is not a non-negative integer. */
static long argnum(int argc, char **argv, const char *name, const char *def)
{
    int64_t v;
    return cx_parse_i64(arg(argc, argv, name, def), &v) && v >= 0 ? (long)v : -1;
}

/* ---- gen ------------------------------------------------------------------------------------ */

/* Parcel manifest i of tag, signed by org with key: *out (caller frees). */
static int gen__entry(const ledger_key *key, const char *org, const char *tag, long i, char **out)
{
    char err[256];
    char id[64];
    snprintf(id, sizeof id, "ECOM-%s-%08ld", tag, i);
    json_t *parcels = json_array();
    for (int k = 0; k < 3; k++) {
        uint8_t h[32];
        char hex[65], seed[96];
        snprintf(seed, sizeof seed, "%s/%d", id, k);
        crypto_hash_sha256(h, (const uint8_t *)seed, strlen(seed));
        cx_hex(h, 32, hex);
        json_array_append_new(parcels, json_string(hex));
    }
    json_t *env = json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:o},s:[]}", "type",
                            "parcel.manifest", "org", org, "time", "2024-03-02T09:00:00Z",
                            "ledger", "ledger.customs.example/demo", "body", "manifest_id",
                            id, "transport_document", "OCLU-VNSGN-24-0001", "parcels",
                            parcels, "signatures");
    char *text = cx_json_dump(env, NULL);
    json_decref(env);
    *out = NULL;
    if (!text || ledger_sign(text, strlen(text), key, org, out, err, sizeof err) != CX_OK) {
        fprintf(stderr, "sign: %s\n", err);
        free(text);
        return 1;
    }
    free(text);
    return 0;
}

/* The key and org of gen and feed; 2 with a message when missing. */
static int gen__key(int argc, char **argv, ledger_key *key, const char **org)
{
    const char *keyfile = arg(argc, argv, "--key", NULL);
    char err[256];
    *org = arg(argc, argv, "--org", NULL);
    if (!keyfile || !*org || ledger_key_load(keyfile, key, err, sizeof err) != CX_OK) {
        fprintf(stderr, "bench_lnet %s --key FILE --org ORG …: %s\n", argv[1],
                keyfile ? err : "arguments");
        return 2;
    }
    return 0;
}

static int gen(int argc, char **argv)
{
    long count = argnum(argc, argv, "--count", "1000");
    const char *tag = arg(argc, argv, "--tag", "B"), *org;
    ledger_key key;
    int rc = gen__key(argc, argv, &key, &org);
    for (long i = 0; rc == 0 && i < count; i++) {
        char *text = NULL;
        if ((rc = gen__entry(&key, org, tag, i, &text)) == 0)
            printf("%s\n", text);
        free(text);
    }
    sodium_memzero(&key, sizeof key);
    return rc;
}

/* ---- post ----------------------------------------------------------------------------------- */

typedef struct {
    char **lines;
    size_t *lens;
    size_t n;
    _Atomic size_t next;
    int ports[16];
    const char *tokens[16];
    int nnodes;
    pthread_mutex_t mu;
    uint64_t *lat;
    size_t nlat;
    uint64_t statuses[600];
    uint64_t errors;
} post_run;

static int post__connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool post__send(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

/* Reads one response; returns its status or -1. */
static int post__read(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    char *end = NULL;
    while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
        ssize_t r = read(fd, buf + have, cap - have - 1);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        if (have >= cap - 1)
            return -1;
    }
    buf[have] = '\0';
    int status = (int)strtol(buf + 9, NULL, 10);
    char *cl = strcasestr(buf, "content-length:");
    size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0, got = have - (size_t)(end + 4 - buf);
    while (got < body) {
        ssize_t r = read(fd, buf, cap < body - got ? cap : body - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return status;
}

static void *post__worker(void *arg)
{
    post_run *run = arg;
    static _Atomic int counter;
    int node = atomic_fetch_add(&counter, 1) % run->nnodes;
    int fd = post__connect(run->ports[node]);
    char head[512], *resp = malloc(1 << 16);
    uint64_t *lat = malloc(sizeof *lat * (run->n + 1));
    size_t nlat = 0;
    uint64_t st[600] = {0}, errors = 0;
    size_t i;
    while ((i = atomic_fetch_add(&run->next, 1)) < run->n) {
        int hl = snprintf(head, sizeof head,
                          "POST /v1/ledger/entries HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          run->tokens[node], run->lens[i]);
        int64_t t0 = now_us();
        int status = -1;
        for (int attempt = 0; attempt < 2 && status < 0; attempt++) {
            if (fd < 0)
                fd = post__connect(run->ports[node]);
            if (fd >= 0 && post__send(fd, head, (size_t)hl) &&
                post__send(fd, run->lines[i], run->lens[i]))
                status = post__read(fd, resp, 1 << 16);
            if (status < 0 && fd >= 0) {
                close(fd);
                fd = -1;
            }
        }
        lat[nlat++] = (uint64_t)(now_us() - t0);
        if (status > 0 && status < 600)
            st[status]++;
        else
            errors++;
    }
    if (fd >= 0)
        close(fd);
    pthread_mutex_lock(&run->mu);
    memcpy(run->lat + run->nlat, lat, nlat * sizeof *lat);
    run->nlat += nlat;
    for (int s = 0; s < 600; s++)
        run->statuses[s] += st[s];
    run->errors += errors;
    pthread_mutex_unlock(&run->mu);
    free(lat);
    free(resp);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int post(int argc, char **argv)
{
    const char *ports = arg(argc, argv, "--ports", NULL), *tokens = arg(argc, argv, "--tokens", NULL);
    const char *file = arg(argc, argv, "--file", NULL);
    int conns = (int)argnum(argc, argv, "--connections", "32");
    if (!ports || !tokens || !file || conns < 1 || conns > 1024) {
        fprintf(stderr, "bench_lnet post --ports P,… --tokens T,… --file F [--connections C]\n");
        return 2;
    }
    post_run run = {0};
    pthread_mutex_init(&run.mu, NULL);
    char *pc = strdup(ports), *tc = strdup(tokens), *save = NULL;
    for (char *t = strtok_r(pc, ",", &save); t && run.nnodes < 16; t = strtok_r(NULL, ",", &save))
        run.ports[run.nnodes++] = (int)strtol(t, NULL, 10);
    int nt = 0;
    for (char *t = strtok_r(tc, ",", &save); t && nt < 16; t = strtok_r(NULL, ",", &save))
        run.tokens[nt++] = t;
    if (nt != run.nnodes) {
        fprintf(stderr, "one token per port\n");
        return 2;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", file, strerror(errno));
        return 1;
    }
    size_t cap = 1024;
    run.lines = malloc(cap * sizeof *run.lines);
    run.lens = malloc(cap * sizeof *run.lens);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        if (run.n == cap) {
            cap *= 2;
            run.lines = realloc(run.lines, cap * sizeof *run.lines);
            run.lens = realloc(run.lens, cap * sizeof *run.lens);
        }
        run.lines[run.n] = strdup(line);
        run.lens[run.n++] = (size_t)len;
    }
    free(line);
    fclose(f);
    run.lat = malloc(sizeof *run.lat * (run.n + 1));
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    int64_t t0 = now_us();
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, post__worker, &run);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(now_us() - t0) / 1e6;
    qsort(run.lat, run.nlat, sizeof *run.lat, cmp_u64);
    uint64_t p50 = run.nlat ? run.lat[run.nlat / 2] : 0;
    uint64_t p99 = run.nlat ? run.lat[(size_t)((double)run.nlat * 0.99)] : 0;
    printf("{\"requests\":%zu,\"seconds\":%.3f,\"rps\":%.1f,\"ok_rps\":%.1f,\"p50_us\":%llu,"
           "\"p99_us\":%llu,\"errors\":%llu,\"statuses\":{",
           run.n, secs, (double)run.n / secs, (double)run.statuses[201] / secs,
           (unsigned long long)p50, (unsigned long long)p99, (unsigned long long)run.errors);
    bool first = true;
    for (int s = 0; s < 600; s++)
        if (run.statuses[s]) {
            printf("%s\"%d\":%llu", first ? "" : ",", s, (unsigned long long)run.statuses[s]);
            first = false;
        }
    printf("}}\n");
    return 0;
}

/* ---- raw ------------------------------------------------------------------------------------ */

static _Atomic uint64_t raw_acked, raw_failed;

static void raw__ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)pa;
    (void)closure;
    if (pae)
        atomic_fetch_add(&raw_failed, 1);
    else
        atomic_fetch_add(&raw_acked, 1);
    natsMsg_Destroy(msg);
}

/* A JetStream publisher on urls: asynchronous, 4096 in flight, acks counted
 * by raw__ack; false (said why) when it cannot connect. */
typedef struct {
    natsOptions *o;
    natsConnection *nc;
    jsCtx *js;
} pub;

static bool pub__open(pub *p, const char *urls, int64_t wait_ms)
{
    const char *servers[16];
    int ns = 0;
    char *copy = strdup(urls), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && ns < 16; t = strtok_r(NULL, ",", &save))
        servers[ns++] = t;
    memset(p, 0, sizeof *p);
    natsOptions_Create(&p->o);
    natsOptions_SetServers(p->o, servers, ns);
    bool ok = natsConnection_Connect(&p->nc, p->o) == NATS_OK;
    free(copy); /* libnats copied the URLs */
    if (!ok) {
        fprintf(stderr, "cannot connect to %s\n", urls);
        return false;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jo.PublishAsync.AckHandler = raw__ack;
    jo.Wait = wait_ms;
    return natsConnection_JetStream(&p->js, p->nc, &jo) == NATS_OK;
}

static void pub__close(pub *p)
{
    jsCtx_Destroy(p->js);
    natsConnection_Destroy(p->nc);
    natsOptions_Destroy(p->o);
}

static int raw(int argc, char **argv)
{
    const char *urls = arg(argc, argv, "--nats", NULL);
    int bytes = (int)argnum(argc, argv, "--bytes", "600");
    long count = argnum(argc, argv, "--count", "20000");
    int replicas = (int)argnum(argc, argv, "--replicas", "3");
    if (!urls || bytes < 1 || count < 1 || replicas < 1) {
        fprintf(stderr, "bench_lnet raw --nats URLS [--bytes B] [--count N] [--replicas R]\n");
        return 2;
    }
    pub pb;
    if (!pub__open(&pb, urls, 10000))
        return 1;
    jsCtx *js = pb.js;
    char name[64];
    snprintf(name, sizeof name, "BENCH_RAW_%d", (int)getpid());
    char subj[80];
    snprintf(subj, sizeof subj, "bench.raw.%d", (int)getpid());
    const char *subjects[1] = {subj};
    jsStreamConfig c;
    jsStreamConfig_Init(&c);
    c.Name = name;
    c.Subjects = subjects;
    c.SubjectsLen = 1;
    c.Storage = js_FileStorage;
    c.Replicas = replicas;
    jsErrCode je = 0;
    if (js_AddStream(NULL, js, &c, NULL, &je) != NATS_OK) {
        fprintf(stderr, "cannot create %s: %d\n", name, je);
        return 1;
    }
    char *payload = malloc((size_t)bytes);
    memset(payload, 'x', (size_t)bytes);
    int64_t t0 = now_us();
    for (long i = 0; i < count; i++) {
        natsMsg *m = NULL;
        natsMsg_Create(&m, subj, NULL, payload, bytes);
        char id[32];
        snprintf(id, sizeof id, "%ld", i); /* with a Nats-Msg-Id, as the nodes publish */
        natsMsgHeader_Set(m, "Nats-Msg-Id", id);
        if (js_PublishMsgAsync(js, &m, NULL) != NATS_OK) {
            natsMsg_Destroy(m);
            atomic_fetch_add(&raw_failed, 1);
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    js_PublishAsyncComplete(js, &po);
    double secs = (double)(now_us() - t0) / 1e6;
    printf("{\"messages\":%ld,\"bytes\":%d,\"replicas\":%d,\"seconds\":%.3f,\"rps\":%.1f,"
           "\"acked\":%llu,\"failed\":%llu}\n",
           count, bytes, replicas, secs, (double)atomic_load(&raw_acked) / secs,
           (unsigned long long)atomic_load(&raw_acked),
           (unsigned long long)atomic_load(&raw_failed));
    js_DeleteStream(js, name, NULL, &je);
    pub__close(&pb);
    free(payload);
    return 0;
}

/* ---- feed ----------------------------------------------------------------------------------- */

static int feed(int argc, char **argv)
{
    const char *urls = arg(argc, argv, "--nats", NULL), *subj = arg(argc, argv, "--subject", NULL);
    long count = argnum(argc, argv, "--count", "1000");
    const char *tag = arg(argc, argv, "--tag", "F"), *org;
    ledger_key key;
    if (!urls || !subj || count < 1) {
        fprintf(stderr, "bench_lnet feed --nats URLS --subject S --key F --org O --count N\n");
        return 2;
    }
    if (gen__key(argc, argv, &key, &org) != 0)
        return 2;
    pub pb;
    if (!pub__open(&pb, urls, 30000))
        return 1;
    jsCtx *js = pb.js;
    int rc = 0;
    int64_t t0 = now_us();
    for (long i = 0; rc == 0 && i < count; i++) {
        char *text = NULL;
        natsMsg *m = NULL;
        if ((rc = gen__entry(&key, org, tag, i, &text)) == 0 &&
            (natsMsg_Create(&m, subj, NULL, text, (int)strlen(text)) != NATS_OK ||
             js_PublishMsgAsync(js, &m, NULL) != NATS_OK)) {
            natsMsg_Destroy(m);
            atomic_fetch_add(&raw_failed, 1);
        }
        free(text);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    js_PublishAsyncComplete(js, &po);
    double secs = (double)(now_us() - t0) / 1e6;
    printf("{\"messages\":%ld,\"seconds\":%.3f,\"rps\":%.1f,\"acked\":%llu,\"failed\":%llu}\n",
           count, secs, (double)atomic_load(&raw_acked) / secs,
           (unsigned long long)atomic_load(&raw_acked),
           (unsigned long long)atomic_load(&raw_failed));
    sodium_memzero(&key, sizeof key);
    pub__close(&pb);
    /* the entries are independent: what was not acknowledged is just not there */
    return rc || !atomic_load(&raw_acked) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return gen(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "post") == 0)
        return post(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "raw") == 0)
        return raw(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "feed") == 0)
        return feed(argc, argv);
    fprintf(stderr, "usage: bench_lnet gen|post|raw|feed …\n");
    return 2;
}
