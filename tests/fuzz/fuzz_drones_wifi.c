/* Fuzz target: the 802.11 walkers (radiotap, the MAC header, the
 * information elements of a Beacon, the NAN attributes of a service
 * discovery frame). The first byte picks the link type. Properties: no
 * crash, no read past the frame (ASan), every payload found lies inside the
 * frame. */
#include <stdlib.h>

#include "drones.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int lt = data[0] & 1 ? DRONES_DLT_IEEE802_11_RADIO : DRONES_DLT_IEEE802_11;
    const uint8_t *f = data + 1;
    size_t n = size - 1;
    drones_rid r[8];
    bool bad;
    size_t k = drones_link_frame(lt, f, n, r, 8, &bad);
    if (k > 8 || (bad && k))
        abort();
    for (size_t i = 0; i < k; i++)
        if (r[i].payload < f || r[i].payload + r[i].len > f + n ||
            (r[i].transport != DRONES_T_WIFI_BEACON && r[i].transport != DRONES_T_WIFI_NAN))
            abort();
    return 0;
}
