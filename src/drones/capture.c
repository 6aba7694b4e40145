/* Captures through libpcap: pcap and pcapng alike (pcap_open_offline reads
 * both), one link type per file. */
#include "drones_int.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

cx_err drones_capture_read(const char *path, drones_frame_fn fn, void *ctx,
                           drones_capture_stats *st, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE];
    memset(st, 0, sizeof *st);
    pcap_t *pc = pcap_open_offline(path, perr);
    if (!pc) {
        snprintf(err, errlen, "%s: %s", path, perr);
        return CX_EIO;
    }
    int lt = pcap_datalink(pc);
    if (!drones_linktype_supported(lt)) {
        const char *name = pcap_datalink_val_to_name(lt);
        snprintf(err, errlen,
                 "%s: link type %d (%s) is not one Remote ID is read from (105, 127, 256, 272)",
                 path, lt, name ? name : "unknown");
        pcap_close(pc);
        return CX_EINVAL;
    }
    FILE *fp = pcap_file(pc);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    cx_err e = CX_OK;
    while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
        drones_rid rids[8];
        bool bad;
        size_t k = drones_link_frame(lt, data, h->caplen, rids, 8, &bad);
        st->frames++;
        st->crc_errors += bad;
        st->rid_frames += k > 0;
        if (fp && (st->frames & 1023) == 0) {
            long off = ftell(fp);
            st->bytes = off > 0 ? (uint64_t)off : st->bytes;
        }
        int64_t ts = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        if (!fn(ctx, ts, rids, k, st)) {
            e = CX_ESTATE;
            break;
        }
    }
    if (rc == -1) {
        snprintf(err, errlen, "%s: frame %llu: %s", path, (unsigned long long)st->frames + 1,
                 pcap_geterr(pc));
        e = CX_EPARSE;
    }
    pcap_close(pc);
    return e;
}
