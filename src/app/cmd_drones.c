/* customs drones: decode Remote ID messages, import captures, load the
 * registry, simulate flights (issue 10). */
#include "app.h"
#include "app_drones.h"

#include "drones.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage:\n"
    "  customs drones decode HEX [HEX...]\n"
    "  customs drones import --db PATH [--receiver ID] [--zones FILE.geojson]\n"
    "                        [--drones-config FILE] [--alerts FILE] FILE.pcap|FILE.pcapng\n"
    "  customs drones registry --db PATH FILE.csv\n"
    "  customs drones simulate (--out FILE.pcap | --http URL --token T) [--seed S]\n"
    "                          [--scenario FILE] [--start RFC3339] [--receiver ID]\n"
    "\n"
    "decode prints each ASTM F3411 / ASD-STAN EN 4709-002 message (25 bytes) or\n"
    "Message Pack as one JSON object per line; an invalid one exits 1 with the\n"
    "reason.\n"
    "\n"
    "import reads a pcap or pcapng capture (802.11 with or without radiotap,\n"
    "BLE LL with pseudo-header, Nordic BLE), stores every Remote ID observation\n"
    "and runs the drone rules on them in event time, as if live.\n"
    "\n"
    "registry replaces the registry of known drones and operators with a CSV\n"
    "file of the columns uas_id,operator_id,holder,valid_until.\n"
    "\n"
    "simulate encodes flights (a legal survey, a smuggling run across the\n"
    "border, a spoofed track) as radiotap + 802.11 Beacon frames with the\n"
    "Remote ID vendor IE, or POSTs them as observations.\n"
    "\n"
    "Examples:\n"
    "  customs drones decode 50004742522d4f502d31323341424344000000000000000000\n"
    "  customs drones import --db var/customs.db --receiver RX-1 capture.pcapng\n"
    "  customs drones simulate --out flights.pcap --seed 7\n";

static int drones__decode(int argc, char **argv)
{
    if (argc < 2)
        return app_usage("drones decode", "give at least one message in hex");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *hex = argv[i];
        size_t n = strlen(hex);
        uint8_t buf[512];
        if (strcmp(hex, "--help") == 0 || strcmp(hex, "-h") == 0) {
            fputs(help, stdout);
            return 0;
        }
        if (n % 2 || n / 2 > sizeof buf || !cx_unhex(hex, buf, n / 2)) {
            fprintf(stderr, "customs drones decode: argument %d: not an even number of hex "
                            "digits (at most %zu bytes)\n", i, sizeof buf);
            rc = 1;
            continue;
        }
        drones_msg msgs[DRONES_PACK_MAX];
        size_t count;
        bool pack;
        char why[200];
        if (drones_payload_decode(buf, n / 2, true, msgs, &count, &pack, why, sizeof why)) {
            fprintf(stderr, "customs drones decode: argument %d: invalid message: %s\n", i, why);
            rc = 1;
            continue;
        }
        json_t *j = drones_payload_json(msgs, count, pack);
        char *s = cx_json_dump(j, NULL);
        json_decref(j);
        printf("%s\n", s);
        free(s);
    }
    return rc;
}

int app_cmd_drones(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "decode") == 0)
        return drones__decode(argc - 1, argv + 1);
    return app_usage("drones", "unknown subcommand '%s' (decode, import, registry, simulate)",
                     argv[1]);
}
