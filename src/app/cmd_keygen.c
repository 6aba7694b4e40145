/* customs keygen: an Ed25519 signing key for the trade ledger. */
#include "app.h"

#include "ledger.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char keygen_help[] =
    "Usage: customs keygen --out FILE.key [--org ORG]\n"
    "\n"
    "Creates an Ed25519 signing key for the trade ledger. The file (mode 0600,\n"
    "never overwritten) holds the secret seed; the public key is printed on\n"
    "stdout in base64, ready for 'customs ledger init --governor' or a\n"
    "member.register entry.\n"
    "\n"
    "Options:\n"
    "  --out FILE   where to write the key (must not exist)\n"
    "  --org ORG    the organisation the key signs for (default for 'sign')\n"
    "\n"
    "Example:\n"
    "  customs keygen --out kcs.key --org KCS\n";

int app_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"org", required_argument, NULL, 'g'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *org = NULL;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "keygen")) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'g': org = optarg; break;
        case 'h': fputs(keygen_help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (optind != argc)
        return app_usage("keygen", "unexpected argument '%s'", argv[optind]);
    if (!out)
        return app_usage("keygen", "--out FILE.key is required");
    if (org && !cx_org_valid(org))
        return app_usage("keygen", "--org must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    ledger_key k;
    ledger_key_generate(&k);
    if (org)
        snprintf(k.org, sizeof k.org, "%s", org);
    char err[512];
    cx_err e = ledger_key_save(&k, out, err, sizeof err);
    char pub[45];
    ledger_key_public(&k, pub);
    sodium_memzero(&k, sizeof k);
    if (e != CX_OK)
        return app_fail("keygen", "%s", err);
    printf("%s\n", pub);
    return 0;
}
