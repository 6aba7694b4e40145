/* bench/ledger: appends realistic ~1 KB entries (one signature each,
 * payments with two) through the full validation path — parse, RFC 8785,
 * hashes, Ed25519 checks, the state machine, the tree, durable group
 * commits — from two submitting threads, and in the same run measures raw
 * libsodium Ed25519 verifications per second on two threads. Then times
 * inclusion and consistency proofs on the resulting tree and `ledger
 * verify` from scratch.
 *
 *   bench_ledger --dir DIR [--entries N] [--threads T] [--window W]
 */
#include "declare.h"
#include "ledger.h"
#include "store.h"

#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK 50000

enum { KCS, ACME, SAIGON, OCEANIC, BANK, CHAMBER, NORG };
static const char *const ORG[NORG] = {"KCS", "ACME", "SAIGON", "OCEANIC", "BANK", "CHAMBER"};
static const char *const ROLE[NORG] = {"customs", "trader", "trader", "carrier", "bank",
                                       "chamber"};
static ledger_key keys[NORG], gov[2];

/* ---- entries ------------------------------------------------------------------------------- */

static void add_sig(json_t *env, const ledger_key *k, const char *org)
{
    json_t *u = json_deep_copy(env);
    json_object_del(u, "signatures");
    cx_buf b;
    cx_buf_init(&b, 1 << 20);
    ledger_jcs(u, &b);
    json_decref(u);
    crypto_hash_sha256_state st;
    uint8_t h[32], sig[64];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"customs.ledger.entry.v1", 24); /* with NUL */
    crypto_hash_sha256_update(&st, (const uint8_t *)b.data, b.len);
    crypto_hash_sha256_final(&st, h);
    cx_buf_free(&b);
    crypto_sign_detached(sig, NULL, h, 32, k->sk);
    char pk[45], s64[89];
    ledger_key_public(k, pk);
    sodium_bin2base64(s64, sizeof s64, sig, 64, sodium_base64_VARIANT_ORIGINAL);
    json_array_append_new(json_object_get(env, "signatures"),
                          json_pack("{s:s,s:s,s:s}", "org", org, "key", pk, "sig", s64));
}

static void container(unsigned serial, char out[12])
{
    char first[11];
    snprintf(first, sizeof first, "MSCU%06u", serial % 1000000);
    snprintf(out, 12, "%s%d", first, decl_iso6346_check_digit(first));
}

static void hex32(uint64_t seed, int k, char out[65])
{
    uint8_t h[32];
    uint8_t in[12];
    memcpy(in, &seed, 8);
    memcpy(in + 8, &k, 4);
    crypto_generichash(h, 32, in, sizeof in, NULL, 0);
    cx_hex(h, 32, out);
}

/* Entry i of the run: a realistic mix, unique by construction. */
static char *make_entry(uint64_t i, int *nsigs)
{
    json_t *body;
    const char *type;
    int author, second = -1;
    char id[64], c[12], h[65];
    switch (i % 20) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: { /* 40% anchors */
        type = "declaration.anchor";
        author = ACME;
        second = KCS; /* the endorsement of the customs node holding the declaration */
        snprintf(id, sizeof id, "01HBENCH%018llu", (unsigned long long)i);
        json_t *fields = json_object();
        static const char *const names[] = {
            "/reference", "/type", "/date", "/office", "/declarant_id", "/importer_id",
            "/items/0/hs_code", "/items/0/description", "/items/0/country_of_origin",
            "/items/0/value", "/items/0/currency", "/containers/0"};
        for (int k = 0; k < 12; k++) {
            hex32(i, k, h);
            json_object_set_new(fields, names[k], json_string(h));
        }
        body = json_pack("{s:s,s:o,s:[{s:s,s:s}]}", "declaration_id", id, "fields", fields,
                         "certificates", "issuer", "CHAMBER", "number", "VN-HCM-24-000001");
        break;
    }
    case 8: case 9: case 10: case 11: { /* 20% bills of lading */
        type = "bl.issue";
        author = OCEANIC;
        snprintf(id, sizeof id, "MSCU-BENCH-%llu", (unsigned long long)i);
        json_t *cs = json_array();
        for (int k = 0; k < 8; k++) {
            container((unsigned)(i * 8 + (uint64_t)k), c);
            json_array_append_new(cs, json_string(c));
        }
        body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s}", "number", id, "shipper",
                         "Saigon Textile Export JSC, 12 Nguyen Hue, District 1, Ho Chi Minh City",
                         "consignee", "to the order of Hanseong Commercial Bank, Seoul",
                         "holder", "SAIGON", "vessel", "MSC BENCHMARK", "voyage", "024E",
                         "port_of_loading", "VNSGN", "port_of_discharge", "KRPUS", "containers",
                         cs, "goods",
                         "Knitted cotton garments, 1,240 cartons, HS 6109.10, shipper's load and "
                         "count, said to contain",
                         "issued", "2024-03-01");
        break;
    }
    case 12: case 13: case 14: { /* 15% certificates of origin */
        type = "coo.issue";
        author = CHAMBER;
        snprintf(id, sizeof id, "VN-HCM-B-%llu", (unsigned long long)i);
        body = json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}],s:s,s:s}",
                         "number", id, "exporter",
                         "Saigon Textile Export JSC, Ho Chi Minh City, Viet Nam", "importer",
                         "ACME Trading Co., Busan, Republic of Korea", "country_of_origin", "VN",
                         "goods", "hs_code", "610910", "description",
                         "T-shirts of cotton, knitted, men's, 4,200 pieces", "hs_code", "610990",
                         "description", "T-shirts of other textile materials, 1,100 pieces",
                         "hs_code", "620342", "description",
                         "Men's trousers of cotton, not knitted, 2,300 pieces", "hs_code",
                         "620462", "description",
                         "Women's trousers of cotton, not knitted, 1,900 pieces", "issued",
                         "2024-03-01", "valid_until", "2025-03-01");
        break;
    }
    case 15: case 16: case 17: { /* 15% payments: bank + customs */
        type = "payment.receipt";
        author = BANK;
        second = KCS;
        snprintf(id, sizeof id, "HSB-B-%llu", (unsigned long long)i);
        char decl[40];
        snprintf(decl, sizeof decl, "01HBENCH%018llu", (unsigned long long)(i - i % 20));
        body = json_pack("{s:s,s:s,s:f,s:s,s:s,s:s,s:s}", "receipt_no", id, "declaration_id",
                         decl, "amount", 1612.0 + (double)(i % 1000) / 100, "currency", "USD",
                         "paid_at", "2024-03-02T09:00:00Z", "payer",
                         "ACME Trading Co., 45 Jungang-daero, Jung-gu, Busan 48939", "kind",
                         "duty+vat");
        break;
    }
    default: { /* 10% parcel manifests */
        type = "parcel.manifest";
        author = OCEANIC;
        snprintf(id, sizeof id, "OCL-ECOM-B-%llu", (unsigned long long)i);
        json_t *ps = json_array();
        for (int k = 0; k < 12; k++) {
            hex32(i, 100 + k, h);
            json_array_append_new(ps, json_string(h));
        }
        body = json_pack("{s:s,s:o}", "manifest_id", id, "parcels", ps);
        break;
    }
    }
    json_t *env = json_pack("{s:s,s:s,s:s,s:o,s:[]}", "type", type, "org", ORG[author], "time",
                            "2024-03-02T09:00:00Z", "body", body, "signatures");
    add_sig(env, &keys[author], ORG[author]);
    *nsigs = 1;
    if (second >= 0) {
        add_sig(env, &keys[second], ORG[second]);
        *nsigs = 2;
    }
    char *text = cx_json_dump(env, NULL);
    json_decref(env);
    return text;
}

/* ---- chunks: generated and signed untimed, appended timed ------------------------------------ */

typedef struct {
    char **text;
    uint64_t first, n;
    _Atomic uint64_t next;
    _Atomic uint64_t sigs, bytes;
} chunk;

static void *gen_worker(void *arg)
{
    chunk *c = arg;
    uint64_t i;
    while ((i = atomic_fetch_add(&c->next, 1)) < c->n) {
        int ns;
        c->text[i] = make_entry(c->first + i, &ns);
        atomic_fetch_add(&c->sigs, (uint64_t)ns);
        atomic_fetch_add(&c->bytes, strlen(c->text[i]));
    }
    return NULL;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight, low; /* submitters wait for inflight to fall to low */
    int waiting;
    _Atomic uint64_t ok, bad;
} window;

static void on_done(void *arg, ledger_result *res)
{
    window *w = arg;
    if (res->status == 201)
        atomic_fetch_add(&w->ok, 1);
    else if (atomic_fetch_add(&w->bad, 1) < 3)
        fprintf(stderr, "bench: rejected %u %s: %s\n", res->status, res->code, res->message);
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    /* wake submitters in bulk, like a client with a window, not per entry */
    if (w->waiting && w->inflight <= w->low)
        pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

typedef struct {
    ledger *lg;
    chunk *c;
    window *w;
    int max_inflight;
    _Atomic uint64_t *next;
} submitter;

static void *submit_worker(void *arg)
{
    submitter *s = arg;
    uint64_t i;
    while ((i = atomic_fetch_add(s->next, 1)) < s->c->n) {
        pthread_mutex_lock(&s->w->mu);
        if (s->w->inflight >= s->max_inflight) {
            s->w->waiting++;
            while (s->w->inflight > s->w->low)
                pthread_cond_wait(&s->w->cv, &s->w->mu);
            s->w->waiting--;
        }
        s->w->inflight++;
        pthread_mutex_unlock(&s->w->mu);
        const char *t = s->c->text[i];
        ledger_submit_async(s->lg, NULL, t, strlen(t), on_done, s->w);
    }
    return NULL;
}

/* ---- raw verification --------------------------------------------------------------------------- */

typedef struct {
    double seconds;
    uint64_t done;
} raw_arg;

static void *raw_worker(void *arg)
{
    raw_arg *r = arg;
    uint8_t pk[32], sk[64], m[32], sig[64];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(m, sizeof m);
    crypto_sign_detached(sig, NULL, m, 32, sk);
    int64_t t0 = cx_mono_us(), end = t0 + (int64_t)(r->seconds * 1e6);
    uint64_t n = 0;
    while (cx_mono_us() < end) {
        for (int k = 0; k < 256; k++)
            if (crypto_sign_verify_detached(sig, m, 32, pk) == 0)
                n++;
    }
    r->done = n;
    r->seconds = (double)(cx_mono_us() - t0) / 1e6;
    return NULL;
}

static double raw_rate(int threads, double seconds)
{
    pthread_t th[16];
    raw_arg a[16];
    for (int i = 0; i < threads; i++) {
        a[i] = (raw_arg){seconds, 0};
        pthread_create(&th[i], NULL, raw_worker, &a[i]);
    }
    double rate = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        rate += (double)a[i].done / a[i].seconds;
    }
    return rate;
}

/* ---- set-up ------------------------------------------------------------------------------------- */

static int submit_one(ledger *lg, json_t *env)
{
    char *t = cx_json_dump(env, NULL);
    ledger_result r;
    ledger_submit(lg, t, strlen(t), &r);
    free(t);
    int ok = r.status == 201;
    if (!ok)
        fprintf(stderr, "bench: set-up entry rejected: %s\n", r.message);
    ledger_result_clear(&r);
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    long long entries = 1000000, threads = 2, window_size = 1024;
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"entries", required_argument, NULL, 'n'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"window", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'n': entries = strtoll(optarg, NULL, 10); break;
        case 't': threads = strtoll(optarg, NULL, 10); break;
        case 'w': window_size = strtoll(optarg, NULL, 10); break;
        default: fprintf(stderr, "usage: bench_ledger --dir DIR [--entries N]\n"); return 2;
        }
    }
    if (!dir || entries < 1000 || threads < 1 || threads > 16 || window_size < 1) {
        fprintf(stderr, "usage: bench_ledger --dir DIR [--entries N>=1000] [--threads 1..16]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    char err[512];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    mkdir(dir, 0700);
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-ledger.db", dir);
    unlink(path);
    char side[4200];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    store *s = NULL;
    if (store_open(path, &s, err, sizeof err) != CX_OK || decl_migrate(s, err, sizeof err) ||
        ledger_migrate(s, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    decl_service *decl = decl_service_new(s);
    ledger *lg = ledger_new(s, decl);
    for (int i = 0; i < NORG; i++)
        ledger_key_generate(&keys[i]);
    ledger_key_generate(&gov[0]);
    ledger_key_generate(&gov[1]);
    ledger_governor g[2] = {{"KCS", {0}, &gov[0]}, {"BANK", {0}, &gov[1]}};
    memcpy(g[0].pk, gov[0].pk, 32);
    memcpy(g[1].pk, gov[1].pk, 32);
    ledger_result r;
    ledger_init(lg, "ledger.bench.example/run", 2, g, 2, &r);
    if (r.status != 201) {
        fprintf(stderr, "genesis rejected: %s\n", r.message);
        return 1;
    }
    ledger_result_clear(&r);
    for (int i = 0; i < NORG; i++) {
        char pk[45];
        ledger_key_public(&keys[i], pk);
        json_t *env = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:[s]},s:[]}", "type", "member.register",
                                "org", "KCS", "body", "org", ORG[i], "role", ROLE[i], "name",
                                ORG[i], "keys", pk, "signatures");
        add_sig(env, &gov[0], "KCS");
        add_sig(env, &gov[1], "BANK");
        int ok = submit_one(lg, env);
        json_decref(env);
        if (!ok)
            return 1;
    }
    printf("ledger bench: %lld entries (40%% anchors and 15%% payments with two signatures, "
           "20%% bills of lading, 15%% certificates, 10%% parcel manifests), %lld submitting "
           "threads, durable group commits (synchronous=FULL) in %s\n",
           entries, threads, dir);
    fflush(stdout);

    double raw_before = raw_rate(2, 2.0);
    uint64_t total_sigs = 0, total_bytes = 0, done = 0;
    double timed = 0, cpu = 0, sys = 0;
    window w = {.inflight = 0, .low = (int)window_size / 2};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    store_stats st0;
    store_get_stats(s, &st0);
    while (done < (uint64_t)entries) {
        chunk ch = {.first = done, .n = (uint64_t)entries - done < CHUNK ? (uint64_t)entries - done
                                                                         : CHUNK};
        ch.text = calloc(ch.n, sizeof *ch.text);
        pthread_t th[16];
        for (int i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, gen_worker, &ch);
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        total_sigs += ch.sigs;
        total_bytes += ch.bytes;
        _Atomic uint64_t next = 0;
        submitter sub = {lg, &ch, &w, (int)window_size, &next};
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        int64_t t0 = cx_mono_us();
        for (int i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, submit_worker, &sub);
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        pthread_mutex_lock(&w.mu);
        w.low = 0;
        w.waiting++;
        while (w.inflight > 0)
            pthread_cond_wait(&w.cv, &w.mu);
        w.waiting--;
        w.low = (int)window_size / 2;
        pthread_mutex_unlock(&w.mu);
        timed += (double)(cx_mono_us() - t0) / 1e6;
        getrusage(RUSAGE_SELF, &ru1);
        double us = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
        double sy = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                    (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
        cpu += us + sy;
        sys += sy;
        for (uint64_t i = 0; i < ch.n; i++)
            free(ch.text[i]);
        free(ch.text);
        done += ch.n;
        fprintf(stderr, "\rappended %llu / %lld (%.0f entries/s)   ", (unsigned long long)done,
                entries, (double)done / timed);
    }
    fprintf(stderr, "\n");
    double raw_after = raw_rate(2, 2.0);
    store_stats st1;
    store_get_stats(s, &st1);
    uint64_t ok = atomic_load(&w.ok), bad = atomic_load(&w.bad);
    double rate = (double)ok / timed, raw = (raw_before + raw_after) / 2;
    double sigs_per_entry = (double)total_sigs / (double)done;
    printf("appended:             %llu accepted, %llu rejected, %.1f s\n", (unsigned long long)ok,
           (unsigned long long)bad, timed);
    printf("cpu while appending:  %.2f cores busy, %.1f us of CPU per entry (%.1f us in the "
           "kernel)\n",
           cpu / timed, cpu / (double)done * 1e6, sys / (double)done * 1e6);
    printf("entry size:           %.0f bytes on average, %.2f signatures per entry\n",
           (double)total_bytes / (double)done, sigs_per_entry);
    printf("commits:              %llu (%.1f entries per fsync)\n",
           (unsigned long long)(st1.commits - st0.commits),
           (double)(st1.jobs - st0.jobs) / (double)(st1.commits - st0.commits));
    printf("ledger throughput:    %.0f entries/s (target >= 20000)\n", rate);
    printf("raw Ed25519 verify:   %.0f verifications/s on 2 threads (before %.0f, after %.0f)\n",
           raw, raw_before, raw_after);
    printf("ratio entries/raw:    %.2f (target >= 0.70)\n", rate / raw);
    printf("ratio signatures/raw: %.2f (signatures verified per second in the full path / raw)\n",
           rate * sigs_per_entry / raw);

    /* proofs at this size (1M by default) */
    int64_t size = ledger_size(lg);
    enum { NPROOF = 20000 };
    double *us = malloc(NPROOF * sizeof *us);
    uint8_t root[32];
    int64_t t0 = cx_mono_us();
    ledger_root(lg, size, root);
    double root_us = (double)(cx_mono_us() - t0);
    uint64_t seed = 42;
    for (int i = 0; i < NPROOF; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t idx = (int64_t)((seed >> 11) % (uint64_t)size);
        json_t *p = NULL;
        t0 = cx_mono_us();
        cx_err e = ledger_proof(lg, idx, size, &p);
        us[i] = (double)(cx_mono_us() - t0);
        if (e != CX_OK) {
            fprintf(stderr, "proof failed at %lld\n", (long long)idx);
            return 1;
        }
        json_decref(p);
    }
    qsort(us, NPROOF, sizeof *us, cmp_double);
    double sum = 0;
    for (int i = 0; i < NPROOF; i++)
        sum += us[i];
    printf("inclusion proof:      %.1f us mean, %.1f us median, %.1f us p99 at tree size %lld "
           "(%d random leaves, JSON included); root %.1f us\n",
           sum / NPROOF, us[NPROOF / 2], us[NPROOF * 99 / 100], (long long)size, NPROOF, root_us);
    for (int i = 0; i < 2000; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t from = 1 + (int64_t)((seed >> 11) % (uint64_t)(size - 1));
        json_t *p = NULL;
        t0 = cx_mono_us();
        ledger_consistency(lg, from, size, &p);
        us[i] = (double)(cx_mono_us() - t0);
        json_decref(p);
    }
    qsort(us, 2000, sizeof *us, cmp_double);
    printf("consistency proof:    %.1f us median, %.1f us p99 (2000 random old sizes)\n",
           us[1000], us[1980]);
    free(us);
    char *note = NULL;
    ledger_checkpoint_sign(lg, &keys[KCS], &note, err, sizeof err);
    free(note);
    ledger_checkpoint_sign(lg, &keys[BANK], &note, err, sizeof err);
    free(note);
    store_free(s);
    ledger_free(lg);
    decl_service_free(decl);

    ledger_verify_report rep;
    t0 = cx_mono_us();
    bool vok = ledger_verify_db(path, (unsigned)threads, false, &rep);
    double vs = (double)(cx_mono_us() - t0) / 1e6;
    char hex[65];
    cx_hex(rep.root, 32, hex);
    printf("ledger verify:        %s, %lld entries in %.1f s on %lld threads (%.0f entries/s)\n",
           vok ? "ok" : rep.why, (long long)rep.entries, vs, threads, (double)rep.entries / vs);
    return vok && bad == 0 ? 0 : 1;
}
