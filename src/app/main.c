/* customs — an open smart-border platform. Entry point and command table. */
#include "app.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const app_command commands[] = {
    {"serve", app_cmd_serve, "run the HTTP API server"},
    {"keys", app_cmd_keys, "create, list and revoke API keys"},
    {"import", app_cmd_import, "bulk-load declarations from JSONL or CSV"},
    {"risk", app_cmd_risk, "train, score and evaluate risk models"},
    {"hs", app_cmd_hs, "search HS 2022 subheadings for a goods description"},
    {"keygen", app_cmd_keygen, "create an Ed25519 signing key for the trade ledger"},
    {"ledger", app_cmd_ledger, "the shared trade ledger: sign, submit, verify, prove, demo"},
    {"track", app_cmd_track, "tracking tools: simulate telemetry, run retention"},
    {"drones", app_cmd_drones, "Remote ID: decode messages, import captures, registry, simulate"},
    {"designs", app_cmd_designs, "3D design files: inspect, convert, register, match"},
    {"xray", app_cmd_xray, "X-ray scans: analyse, render, simulate"},
    {"training", app_cmd_training, "inspection training: generate simulated cases"},
    {"tariff", app_cmd_tariff, "load the tariff: lines, preferences, country groups"},
    {"rates", app_cmd_rates, "load exchange rates into the national currency"},
    {"bio", app_cmd_bio, "biometrics: match templates, enrol, identify, keys, audit"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void main__help(FILE *out)
{
    fprintf(out, "customs %s — an open smart-border platform\n\n"
                 "Usage: customs COMMAND [OPTIONS]\n\nCommands:\n",
            CUSTOMS_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'customs COMMAND --help' for a command's options and an example.\n"
                 "Global: --help, --version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        main__help(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        main__help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("customs %s\n", CUSTOMS_VERSION);
        return 0;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "customs: libsodium failed to initialise\n");
        return 1;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "customs: unknown command '%s'\n\n", argv[1]);
    main__help(stderr);
    return 2;
}
