/* Fuzz target: a cosignature as the network delivers it (any node, or
 * anyone who can publish on the cosignature stream, chooses these bytes).
 * Properties: no crash, no leak; what reads is exactly the signed text and
 * its one signature line, with an origin and an organisation name that obey
 * their rules; nothing that reads verifies under a key it was not made with. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ledger_cosignature c;
    if (!ledger_cosignature_read((const char *)data, size, &c))
        return 0;
    char again[1024];
    int n = snprintf(again, sizeof again, "%s\n%s", c.text, c.line);
    if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
        abort(); /* it read something other than the bytes it was given */
    if (!cx_org_valid(c.org) || strchr(c.origin, '\n') || strchr(c.origin, ' '))
        abort();
    /* a fresh key never made this signature */
    ledger_key k;
    ledger_key_generate(&k);
    if (ledger_note_key_id(c.org, k.pk) == c.key_id &&
        crypto_sign_verify_detached(c.sig, (const uint8_t *)c.text, strlen(c.text), k.pk) == 0)
        abort();
    return 0;
}
