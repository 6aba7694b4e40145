/* Fuzz target: the expander of the compact stored assessment member
 * (compact.c, through rev_member_expand), which runs on every read of a
 * kept member. The input is the stored text (a member alone, a kept object,
 * anything). Invariants: it succeeds or says the text is damaged
 * (CX_EPARSE), nothing else; a text without a compact member comes back
 * byte for byte; from valid JSON it makes valid JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revenue.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    cx_buf out;
    cx_buf_init(&out, (size_t)16 << 20);
    cx_err e = rev_member_expand(text, size, &out);
    if (e != CX_OK && e != CX_EPARSE && e != CX_ENOMEM)
        abort();
    bool tagged = memmem(text, size, "[\"rev2\",", 8) != NULL;
    if (e == CX_OK && !tagged && (out.len != size || (size && memcmp(out.data, text, size))))
        abort();
    if (e == CX_OK && tagged) {
        json_t *in = json_loadb(text, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        json_t *o = in ? json_loadb(out.data, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                       : NULL;
        if (in && !o)
            abort();
        json_decref(in);
        json_decref(o);
    }
    cx_buf_free(&out);
    return 0;
}
