/* Fuzz target: ledger_batch_split, the parser of a stream message carrying
 * several entries (anyone who can publish on the entry stream chooses its
 * Ledger-Batch header and its body). Input: the header's value up to the
 * first NUL (at most 15 bytes), the body after it. Properties: no crash; a
 * batch taken is taken whole — as many lines as its header says (1 to
 * LEDGER_BATCH_MAX), none empty or holding a newline, which joined again by
 * '\n' are the body; a body over LEDGER_BATCH_BYTES, a header that is not a
 * plain count in range, an empty line or a count that differs is refused
 * with a reason. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size < 16 ? size : 16);
    if (!nul)
        return 0;
    char count[16];
    size_t clen = (size_t)(nul - data);
    memcpy(count, data, clen);
    count[clen] = '\0';
    const char *body = (const char *)nul + 1;
    size_t blen = size - clen - 1;
    size_t off[LEDGER_BATCH_MAX], len[LEDGER_BATCH_MAX];
    char why[200] = "";
    int k = ledger_batch_split(count, body, blen, off, len, why, sizeof why);
    /* what a correct parser decides */
    bool plain = clen > 0 && clen <= 2 && count[0] >= '1' && count[0] <= '9' &&
                 (clen == 1 || (count[1] >= '0' && count[1] <= '9'));
    int want = !plain ? -1 : clen == 1 ? count[0] - '0' : (count[0] - '0') * 10 + count[1] - '0';
    if (want > LEDGER_BATCH_MAX)
        want = -1;
    size_t lines = 1;
    bool empty = blen == 0 || body[0] == '\n' || body[blen - 1] == '\n';
    for (size_t i = 0; i < blen; i++)
        if (body[i] == '\n') {
            lines++;
            if (i + 1 < blen && body[i + 1] == '\n')
                empty = true;
        }
    bool ok = want > 0 && blen <= LEDGER_BATCH_BYTES && !empty && lines == (size_t)want;
    if ((k > 0) != ok || (k <= 0 && (k != -1 || !why[0])))
        abort();
    if (k <= 0)
        return 0;
    if (k != want)
        abort();
    size_t at = 0;
    for (int i = 0; i < k; i++) {
        if (off[i] != at || !len[i] || memchr(body + off[i], '\n', len[i]))
            abort();
        at = off[i] + len[i];
        if (i + 1 < k) {
            if (body[at] != '\n')
                abort();
            at++;
        }
    }
    if (at != blen)
        abort();
    return 0;
}
