/* bench_drones_decode plain|decode FILE [ROUNDS]: frames per second of
 *   plain   a bare libpcap loop over the file (pcap_next_ex, touching every
 *           byte of each frame, as any reader must): the I/O ceiling;
 *   decode  the drones reader: link layer, transport walkers and the
 *           message decoder, every Remote ID message decoded (no storage).
 * The best of ROUNDS (3) runs is printed as "frames N seconds S fps F
 * messages M"; the file is in the page cache after the first round. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drones.h"

static uint64_t sink;

static double plain(const char *path, uint64_t *frames)
{
    char err[PCAP_ERRBUF_SIZE];
    int64_t t0 = cx_mono_us();
    pcap_t *pc = pcap_open_offline(path, err);
    if (!pc) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    uint64_t n = 0, sum = 0;
    while (pcap_next_ex(pc, &h, &d) == 1) {
        for (bpf_u_int32 i = 0; i < h->caplen; i++)
            sum += d[i];
        n++;
    }
    pcap_close(pc);
    sink += sum;
    *frames = n;
    return (cx_mono_us() - t0) / 1e6;
}

typedef struct {
    uint64_t messages;
} dctx;

static bool on_frame(void *ctx, int64_t ts, const drones_rid *r, size_t n,
                     const drones_capture_stats *st)
{
    dctx *c = ctx;
    for (size_t i = 0; i < n; i++) {
        drones_msg m[DRONES_PACK_MAX];
        size_t k;
        bool pack;
        if (drones_payload_decode(r[i].payload, r[i].len, false, m, &k, &pack, NULL, 0) ==
            CX_OK)
            c->messages += k;
    }
    return true;
}

static double decode(const char *path, uint64_t *frames, uint64_t *messages)
{
    char err[256];
    drones_capture_stats st;
    dctx c = {0};
    int64_t t0 = cx_mono_us();
    if (drones_capture_read(path, on_frame, &c, &st, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    *frames = st.frames;
    *messages = c.messages;
    return (cx_mono_us() - t0) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_drones_decode plain|decode FILE [ROUNDS]\n");
        return 2;
    }
    int64_t rounds = 3;
    if (argc > 3 && (!cx_parse_i64(argv[3], &rounds) || rounds < 1 || rounds > 100)) {
        fprintf(stderr, "bench_drones_decode: ROUNDS must be 1 to 100\n");
        return 2;
    }
    double best = 1e30;
    uint64_t frames = 0, messages = 0;
    for (int64_t r = 0; r < rounds; r++) {
        double s = strcmp(argv[1], "plain") == 0 ? plain(argv[2], &frames)
                                                 : decode(argv[2], &frames, &messages);
        if (s < best)
            best = s;
    }
    printf("frames %llu seconds %.3f fps %.0f messages %llu\n", (unsigned long long)frames, best,
           frames / best, (unsigned long long)messages);
    return sink == 42; /* keeps the plain loop's reads */
}
