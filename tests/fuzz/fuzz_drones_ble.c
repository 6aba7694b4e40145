/* Fuzz target: the Bluetooth walkers (Nordic BLE and LL-with-pseudo-header
 * link layers, the advertising PDU, extended headers, AD structures). The
 * first byte picks the link type. Properties: no crash, no read past the
 * frame, payloads inside the frame, legacy PDUs are BLE4 and extended ones
 * BLE5. */
#include <stdlib.h>

#include "drones.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *f = data + 1;
    size_t n = size - 1;
    drones_rid r[8];
    bool bad = false;
    size_t k;
    switch (data[0] % 3) {
    case 0: k = drones_link_frame(DRONES_DLT_NORDIC_BLE, f, n, r, 8, &bad); break;
    case 1: k = drones_link_frame(DRONES_DLT_BLUETOOTH_LE_LL_WITH_PHDR, f, n, r, 8, &bad); break;
    default: k = drones_ble_pdu(f, n, r, 8); break;
    }
    if (k > 8 || (bad && k))
        abort();
    for (size_t i = 0; i < k; i++)
        if (r[i].payload < f || r[i].payload + r[i].len > f + n ||
            (r[i].transport != DRONES_T_BLE4 && r[i].transport != DRONES_T_BLE5))
            abort();
    return 0;
}
