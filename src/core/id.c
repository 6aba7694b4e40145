#include "core.h"

#include <sodium.h>

void cx_id_new(char out[CX_ID_LEN + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t b[16];
    uint64_t ms = (uint64_t)(cx_now_us() / 1000);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    randombytes_buf(b + 6, 10);
    /* 128 bits -> 26 base32 digits, most significant first (top 2 bits zero). */
    for (int i = 0; i < CX_ID_LEN; i++) {
        int bit = 128 - 5 * (CX_ID_LEN - i);
        unsigned v = 0;
        for (int k = 0; k < 5; k++) {
            int pos = bit + k;
            v <<= 1;
            if (pos >= 0)
                v |= (b[pos / 8] >> (7 - pos % 8)) & 1;
        }
        out[i] = alphabet[v];
    }
    out[CX_ID_LEN] = '\0';
}
