/* Fuzz target: cx_split, the splitter of comma lists in query parameters
 * (alert stream types, position stream bbox, bundle fields). The first
 * byte picks the separator's bound and the buffer; the rest is the list.
 * Checks the properties: a list taken is taken whole (its items, joined
 * again by the separator, are the input), no item is empty or holds the
 * separator, and no more than max are given; a refused one is too long,
 * has an empty item or more than max. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int max = 1 + data[0] % 8;
    char in[512], buf[256], again[512];
    size_t n = size - 1 < sizeof in - 1 ? size - 1 : sizeof in - 1;
    memcpy(in, data + 1, n);
    in[n] = '\0';
    const char *items[8];
    int k = cx_split(in, ',', buf, sizeof buf, items, max);
    size_t len = strlen(in), empty = 0, parts = 1;
    for (size_t i = 0; i < len; i++)
        if (in[i] == ',')
            parts++;
    for (size_t i = 0; i <= len; i++) /* an empty item: at either end or between two commas */
        if ((i == 0 || in[i - 1] == ',') && (i == len || in[i] == ','))
            empty++;
    bool fits = len < sizeof buf && !empty && parts <= (size_t)max;
    if ((k >= 0) != fits)
        abort();
    if (k < 0)
        return 0;
    if ((size_t)k != parts)
        abort();
    size_t o = 0;
    for (int i = 0; i < k; i++) {
        size_t l = strlen(items[i]);
        if (!l || strchr(items[i], ','))
            abort();
        if (i)
            again[o++] = ',';
        memcpy(again + o, items[i], l);
        o += l;
    }
    again[o] = '\0';
    if (strcmp(again, in) != 0)
        abort();
    return 0;
}
