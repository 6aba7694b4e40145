/* Remote ID transports: where the payload sits in a frame.
 *
 *   Wi-Fi Beacon   802.11 Beacon, vendor-specific IE 0xDD with the ASD-STAN
 *                  OUI FA:0B:BC and type 0x0D: counter, then a Message Pack;
 *   Wi-Fi NAN      802.11 public action frame (vendor specific, Wi-Fi
 *                  Alliance OUI 50:6F:9A type 0x13) whose Service Descriptor
 *                  attribute names the Open Drone ID service; its service
 *                  info holds the counter and a Message Pack;
 *   BLE 4          legacy advertising, AD type 0x16 (service data) with the
 *                  16-bit UUID 0xFFFA, application code 0x0D, counter, one
 *                  message;
 *   BLE 5          the same AD structure in extended advertising (Long
 *                  Range, coded PHY), carrying a Message Pack.
 *
 * Every length comes from the frame and is checked before it is used; a
 * walker stops at the first element that does not fit, keeping what it
 * found before it. */
#include "drones_int.h"

#include <stdio.h>
#include <string.h>

static const char *const transport_names[] = {"wifi_beacon", "wifi_nan", "ble4", "ble5"};

const char *drones_transport_name(drones_transport t)
{
    return t < DRONES_T__COUNT ? transport_names[t] : "unknown";
}

bool drones_transport_parse(const char *s, drones_transport *out)
{
    for (int i = 0; i < DRONES_T__COUNT; i++)
        if (strcmp(s, transport_names[i]) == 0) {
            *out = (drones_transport)i;
            return true;
        }
    return false;
}

void drones_mac_format(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

bool drones_mac_parse(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 6; i++) {
        if (i < 5 && s[3 * i + 2] != ':')
            return false;
        char h[3] = {s[3 * i], s[3 * i + 1], 0};
        if (!cx_unhex(h, &mac[i], 1))
            return false;
    }
    return true;
}

/* ---- Wi-Fi ---------------------------------------------------------------------- */

#define ODID_APP_CODE 0x0D
static const uint8_t oui_asd_stan[3] = {0xFA, 0x0B, 0xBC};
static const uint8_t oui_wfa[3] = {0x50, 0x6F, 0x9A};
/* The first 6 bytes of SHA-256("org.opendroneid.remoteid"): the NAN
 * service id of Remote ID. */
static const uint8_t nan_service_id[6] = {0x88, 0x69, 0x19, 0x9D, 0x92, 0x09};

static size_t tr__push(drones_rid *out, size_t max, size_t n, drones_transport t,
                       const uint8_t mac[6], const uint8_t *p, size_t len)
{
    if (n >= max || len < 2)
        return n;
    drones_rid *r = &out[n];
    memset(r, 0, sizeof *r);
    r->transport = t;
    memcpy(r->mac, mac, 6);
    r->counter = p[0];
    r->payload = p + 1;
    r->len = len - 1;
    return n + 1;
}

/* The information elements of a management frame body. */
static size_t tr__ies(const uint8_t *ie, size_t n, const uint8_t mac[6], drones_rid *out,
                      size_t max, size_t found)
{
    size_t i = 0;
    while (i + 2 <= n) {
        size_t len = ie[i + 1];
        if (i + 2 + len > n)
            break;
        const uint8_t *d = ie + i + 2;
        if (ie[i] == 0xDD && len >= 5 && memcmp(d, oui_asd_stan, 3) == 0 &&
            d[3] == ODID_APP_CODE)
            found = tr__push(out, max, found, DRONES_T_WIFI_BEACON, mac, d + 4, len - 4);
        i += 2 + len;
    }
    return found;
}

/* NAN attributes of a service discovery frame; the Service Descriptor
 * attribute (0x03) of the Remote ID service carries the payload in its
 * service info. */
static size_t tr__nan(const uint8_t *a, size_t n, const uint8_t mac[6], drones_rid *out,
                      size_t max, size_t found)
{
    size_t i = 0;
    while (i + 3 <= n) {
        size_t len = drones__le16(a + i + 1);
        if (i + 3 + len > n)
            break;
        const uint8_t *d = a + i + 3;
        if (a[i] == 0x03 && len >= 9 && memcmp(d, nan_service_id, 6) == 0) {
            uint8_t ctl = d[8];
            size_t o = 9;
            if (ctl & 0x40) /* binding bitmap */
                o += 2;
            for (int bit = 2; bit <= 3 && o < len; bit++) /* matching, response filters */
                if (ctl & (1u << bit))
                    o += 1 + (size_t)d[o];
            if ((ctl & 0x10) && o < len && o + 1 + d[o] <= len)
                found = tr__push(out, max, found, DRONES_T_WIFI_NAN, mac, d + o + 1, d[o]);
        }
        i += 3 + len;
    }
    return found;
}

size_t drones_wifi_frame(const uint8_t *f, size_t n, drones_rid *out, size_t max)
{
    if (n < 24)
        return 0;
    unsigned type = (f[0] >> 2) & 3, subtype = f[0] >> 4;
    if (type != 0 || (f[0] & 3) != 0)
        return 0;
    size_t hdr = (f[1] & 0x80) ? 28 : 24; /* +HT Control when Order is set */
    if (n < hdr)
        return 0;
    const uint8_t *mac = f + 10; /* address 2: the transmitter */
    const uint8_t *b = f + hdr;
    size_t bn = n - hdr;
    if (subtype == 8 || subtype == 5) { /* beacon, probe response */
        if (bn < 12)
            return 0;
        return tr__ies(b + 12, bn - 12, mac, out, max, 0);
    }
    if (subtype == 13 || subtype == 14) { /* action, action no ack */
        if (bn >= 6 && b[0] == 0x04 && b[1] == 0x09 && memcmp(b + 2, oui_wfa, 3) == 0 &&
            b[5] == 0x13)
            return tr__nan(b + 6, bn - 6, mac, out, max, 0);
    }
    return 0;
}

/* ---- Bluetooth LE ------------------------------------------------------------------ */

size_t drones_ble_ad(const uint8_t *ad, size_t n, bool extended, const uint8_t mac[6],
                     drones_rid *out, size_t max)
{
    size_t i = 0, found = 0;
    while (i < n) {
        size_t len = ad[i];
        if (len == 0) /* early termination: the rest is padding */
            break;
        if (i + 1 + len > n)
            break;
        const uint8_t *d = ad + i + 1;
        if (d[0] == 0x16 && len >= 5 && d[1] == 0xFA && d[2] == 0xFF && d[3] == ODID_APP_CODE)
            found = tr__push(out, max, found, extended ? DRONES_T_BLE5 : DRONES_T_BLE4, mac,
                             d + 4, len - 4);
        i += 1 + len;
    }
    return found;
}

/* BLE addresses go over the air least significant byte first. */
static void tr__ble_addr(const uint8_t *p, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++)
        mac[i] = p[5 - i];
}

size_t drones_ble_pdu(const uint8_t *pdu, size_t n, drones_rid *out, size_t max)
{
    if (n < 2)
        return 0;
    unsigned type = pdu[0] & 0x0f;
    size_t len = pdu[1];
    if (2 + len > n)
        return 0;
    const uint8_t *p = pdu + 2;
    uint8_t mac[6];
    switch (type) {
    case 0: /* ADV_IND */
    case 2: /* ADV_NONCONN_IND */
    case 4: /* SCAN_RSP */
    case 6: /* ADV_SCAN_IND */
        if (len < 6)
            return 0;
        tr__ble_addr(p, mac);
        return drones_ble_ad(p + 6, len - 6, false, mac, out, max);
    case 7: { /* ADV_EXT_IND and the AUX_ PDUs: common extended payload */
        if (len < 1)
            return 0;
        size_t ehl = p[0] & 0x3f;
        if (1 + ehl > len || ehl == 0)
            return 0; /* no extended header: no AdvA, nothing to attribute */
        const uint8_t *eh = p + 1;
        uint8_t flags = eh[0];
        if (!(flags & 0x01) || ehl < 7)
            return 0;
        tr__ble_addr(eh + 1, mac);
        return drones_ble_ad(p + 1 + ehl, len - 1 - ehl, true, mac, out, max);
    }
    default: return 0;
    }
}

/* ---- link layers --------------------------------------------------------------------- */

bool drones_linktype_supported(int lt)
{
    return lt == DRONES_DLT_IEEE802_11 || lt == DRONES_DLT_IEEE802_11_RADIO ||
           lt == DRONES_DLT_BLUETOOTH_LE_LL_WITH_PHDR || lt == DRONES_DLT_NORDIC_BLE;
}

/* Radiotap: only the default namespace's first presence word is read; the
 * fields before dBm antenna signal (bit 5) have fixed sizes. The flags
 * field says whether the frame ends in an FCS and whether it failed. */
static size_t tr__radiotap(const uint8_t *f, size_t n, drones_rid *out, size_t max, bool *bad)
{
    static const uint8_t size[] = {8, 1, 1, 4, 2, 1};
    static const uint8_t align[] = {8, 1, 1, 2, 1, 1};
    if (n < 8 || f[0] != 0)
        return 0;
    size_t hlen = drones__le16(f + 2);
    if (hlen < 8 || hlen > n)
        return 0;
    uint32_t present = drones__le32(f + 4);
    size_t o = 8;
    for (uint32_t w = present; (w & 0x80000000u) && o + 4 <= hlen; o += 4)
        w = drones__le32(f + o);
    int rssi = 0;
    bool have_rssi = false;
    uint8_t rflags = 0;
    for (int bit = 0; bit <= 5; bit++) {
        if (!(present & (1u << bit)))
            continue;
        o = (o + align[bit] - 1) / align[bit] * align[bit];
        if (o + size[bit] > hlen)
            break;
        if (bit == 1)
            rflags = f[o];
        if (bit == 5) {
            rssi = (int8_t)f[o];
            have_rssi = true;
        }
        o += size[bit];
    }
    if (rflags & 0x40) { /* bad FCS */
        *bad = true;
        return 0;
    }
    size_t fn = n - hlen;
    if (rflags & 0x10) /* the frame includes its FCS */
        fn = fn >= 4 ? fn - 4 : 0;
    size_t k = drones_wifi_frame(f + hlen, fn, out, max);
    for (size_t i = 0; i < k; i++) {
        out[i].rssi = rssi;
        out[i].have_rssi = have_rssi;
    }
    return k;
}

/* An LE packet from its access address: [AA 4][CI 1 on coded PHY, as some
 * sniffers write it][header 2][payload][CRC 3]. Which layout it is follows
 * from the lengths. */
static size_t tr__le_packet(const uint8_t *p, size_t n, drones_rid *out, size_t max)
{
    for (size_t ci = 0; ci <= 1; ci++) {
        if (n < 4 + ci + 2 + 3)
            return 0;
        const uint8_t *pdu = p + 4 + ci;
        if (4 + ci + 2 + (size_t)pdu[1] + 3 == n)
            return drones_ble_pdu(pdu, n - 4 - ci - 3, out, max);
    }
    return 0;
}

static size_t tr__set_rssi(drones_rid *out, size_t k, int rssi, bool have)
{
    for (size_t i = 0; i < k; i++) {
        out[i].rssi = rssi;
        out[i].have_rssi = have;
    }
    return k;
}

size_t drones_link_frame(int lt, const uint8_t *f, size_t n, drones_rid *out, size_t max,
                         bool *bad_crc)
{
    *bad_crc = false;
    switch (lt) {
    case DRONES_DLT_IEEE802_11: return drones_wifi_frame(f, n, out, max);
    case DRONES_DLT_IEEE802_11_RADIO: return tr__radiotap(f, n, out, max, bad_crc);
    case DRONES_DLT_BLUETOOTH_LE_LL_WITH_PHDR: {
        if (n < 10)
            return 0;
        uint16_t flags = drones__le16(f + 8);
        if ((flags & 0x0400) && !(flags & 0x0800)) { /* CRC checked and failed */
            *bad_crc = true;
            return 0;
        }
        size_t k = tr__le_packet(f + 10, n - 10, out, max);
        return tr__set_rssi(out, k, (int8_t)f[1], (flags & 0x0002) != 0);
    }
    case DRONES_DLT_NORDIC_BLE: {
        /* board id, then the UART header: version 2 and later have a 2-byte
         * payload length, protocol version, counter and packet id; packet
         * ids 0x02 (advertising) and 0x06 (data) carry a packet header:
         * its length, flags (bit 0: CRC ok), channel, RSSI (negated) … */
        if (n < 7 + 10)
            return 0;
        unsigned proto = f[3], id = f[6];
        if (proto < 2 || (id != 0x02 && id != 0x06))
            return 0;
        size_t plen = f[7];
        if (plen < 10 || 7 + plen > n)
            return 0;
        if (!(f[8] & 0x01)) {
            *bad_crc = true;
            return 0;
        }
        size_t k = tr__le_packet(f + 7 + plen, n - 7 - plen, out, max);
        return tr__set_rssi(out, k, -(int)f[10], true);
    }
    default: return 0;
    }
}
