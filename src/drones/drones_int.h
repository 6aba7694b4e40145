/* Internals shared by the files of the drones module (not a door). */
#ifndef CUSTOMS_DRONES_INT_H
#define CUSTOMS_DRONES_INT_H

#include "drones.h"

/* 2019-01-01T00:00:00Z, the epoch of System and Authentication timestamps. */
#define DRONES_EPOCH_2019 1546300800LL

uint16_t drones__le16(const uint8_t *p);
uint32_t drones__le32(const uint8_t *p);
void drones__put16(uint8_t *p, uint16_t v);
void drones__put32(uint8_t *p, uint32_t v);
/* Printable ASCII up to the first NUL; other bytes become U+FFFD. */
void drones__text(const uint8_t *raw, size_t n, char *out, size_t cap);

/* Whole numbers as JSON integers, others as reals, NAN as null. */
json_t *drones__num(double v);

/* ---- hash map (map.c): byte-string keys, keyed hash ---------------------------- */
#include <sodium.h>
typedef struct {
    void *key;
    size_t klen;
    uint64_t hash;
    void *val;
} drones_map_slot;
typedef struct {
    drones_map_slot *slots;
    size_t cap, len;
    unsigned char key[crypto_shorthash_KEYBYTES];
} drones_map;
void drones__map_init(drones_map *m);
void drones__map_free(drones_map *m);
void *drones__map_get(const drones_map *m, const void *k, size_t n);
cx_err drones__map_put(drones_map *m, const void *k, size_t n, void *val);
void drones__map_del(drones_map *m, const void *k, size_t n);
void drones__map_each(const drones_map *m, void (*fn)(void *ctx, void *val), void *ctx);

#endif
