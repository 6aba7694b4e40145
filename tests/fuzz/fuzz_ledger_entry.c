/* Fuzz target: the ledger's entry decoder and RFC 8785 canonicaliser, and
 * the offline bundle verifier. Properties: no crash, no leak; the canonical
 * form of any JSON is a fixed point (canonicalising it again gives the same
 * bytes); an entry that decodes decodes again from its canonical text to the
 * same signing and leaf hashes; every rejection names a problem; nothing
 * verifies against a trust file that trusts no key. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256] = "libsodium";
    if (sodium_init() < 0 || decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return 0;
}

static void fuzz__jcs_fixed_point(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (!j)
        return;
    cx_buf a, b;
    cx_buf_init(&a, (size_t)4 << 20);
    cx_buf_init(&b, (size_t)4 << 20);
    if (ledger_jcs(j, &a) == CX_OK) {
        json_t *again = json_loadb(a.data, a.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        if (!again || ledger_jcs(again, &b) != CX_OK || a.len != b.len ||
            memcmp(a.data, b.data, a.len) != 0)
            abort();
        json_decref(again);
    }
    cx_buf_free(&a);
    cx_buf_free(&b);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    fuzz__jcs_fixed_point(text, size);
    json_t *problems = json_array();
    char *canon = NULL;
    size_t clen = 0;
    uint8_t eh[32], lh[32];
    cx_err r = ledger_entry_decode(text, size, problems, &canon, &clen, eh, lh);
    if (r == CX_OK) {
        char *canon2 = NULL;
        size_t clen2 = 0;
        uint8_t eh2[32], lh2[32];
        if (ledger_entry_decode(canon, clen, NULL, &canon2, &clen2, eh2, lh2) != CX_OK ||
            clen2 != clen || memcmp(canon, canon2, clen) != 0 || memcmp(eh, eh2, 32) != 0 ||
            memcmp(lh, lh2, 32) != 0)
            abort();
        uint8_t leaf[32];
        ledger_leaf_hash(canon, clen, leaf);
        if (memcmp(leaf, lh, 32) != 0)
            abort();
        free(canon2);
    } else if (json_array_size(problems) == 0) {
        abort(); /* every rejection names at least one problem */
    }
    free(canon);
    json_decref(problems);
    json_t *doc = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(doc)) {
        json_t *trust =
            json_pack("{s:s,s:[]}", "origin", "ledger.customs.example/demo", "members");
        char report[512];
        if (ledger_bundle_verify(doc, trust, 1, report, sizeof report))
            abort();
        json_decref(trust);
    }
    json_decref(doc);
    return 0;
}
