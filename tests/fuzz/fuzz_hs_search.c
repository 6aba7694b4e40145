/* Fuzz target: the HS search's reading of a goods description (negations,
 * state words, synonyms, the FTS5 query it builds) on any text, as
 * GET /v1/hs/search and every described item's HS check take it. Checks the
 * answer's properties: at most the hits asked for, each a known HS 2022
 * subheading, in rank order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static risk_hs_index *ix;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK || risk_hs_open(&ix, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[2049];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    risk_hs_hit hits[12];
    size_t got = 99, max = 1 + (n ? (unsigned char)text[0] % 12 : 0);
    if (risk_hs_search(ix, text, hits, max, &got) != CX_OK)
        abort();
    if (got > max)
        abort();
    for (size_t i = 0; i < got; i++) {
        if (strlen(hits[i].code) != 6 || !decl_hs6_known(hits[i].code) || !hits[i].description)
            abort();
        if (i && hits[i].score > hits[i - 1].score)
            abort();
    }
    return 0;
}
