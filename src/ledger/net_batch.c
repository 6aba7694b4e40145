/* Several entries in one stream message: the parser every node runs on what
 * the stream delivers, and the batch's id. No NATS here: the reader passes
 * the Ledger-Batch header's value and the body (tests/fuzz/fuzz_ledger_batch).
 *
 * Whatever the bytes, every node reaches the same verdict: a batch that does
 * not parse is one rejection at its sequence; one that parses is its lines,
 * each accepted or rejected on its own. */
#include "ledger.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* The header's count: 1 to LEDGER_BATCH_MAX in plain digits, else -1. */
static int batch__count(const char *count)
{
    int n = 0;
    if (!count || count[0] < '1' || count[0] > '9')
        return -1;
    for (const char *c = count; *c; c++) {
        if (*c < '0' || *c > '9' || (n = n * 10 + (*c - '0')) > LEDGER_BATCH_MAX)
            return -1;
    }
    return n;
}

int ledger_batch_split(const char *count, const char *body, size_t blen,
                       size_t off[LEDGER_BATCH_MAX], size_t len[LEDGER_BATCH_MAX], char *why,
                       size_t cap)
{
    int n = batch__count(count);
    if (n < 0) {
        snprintf(why, cap, "its Ledger-Batch header is not a count of 1 to %d", LEDGER_BATCH_MAX);
        return -1;
    }
    if (blen > LEDGER_BATCH_BYTES) {
        snprintf(why, cap, "the batch's body has %zu bytes, more than %zu", blen,
                 LEDGER_BATCH_BYTES);
        return -1;
    }
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= blen; i++) {
        if (i < blen && body[i] != '\n')
            continue;
        if (i == start) {
            snprintf(why, cap, "the batch's line %d is empty", k + 1);
            return -1;
        }
        if (k == n) {
            snprintf(why, cap, "the batch has more lines than its Ledger-Batch header's %d", n);
            return -1;
        }
        off[k] = start;
        len[k++] = i - start;
        start = i + 1;
    }
    if (k != n) {
        snprintf(why, cap, "the batch has %d lines, its Ledger-Batch header says %d", k, n);
        return -1;
    }
    return n;
}

void ledger_batch_id(const uint8_t (*hashes)[32], size_t n, uint8_t out[32])
{
    static const char prefix[] = "customs ledger batch v1\n";
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)prefix, sizeof prefix - 1);
    for (size_t i = 0; i < n; i++)
        crypto_hash_sha256_update(&st, hashes[i], 32);
    crypto_hash_sha256_final(&st, out);
}
