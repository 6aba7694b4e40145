/* designs_int.h — helpers shared inside the designs module. */
#ifndef CUSTOMS_DESIGNS_INT_H
#define CUSTOMS_DESIGNS_INT_H

#include "designs.h"

#define DESIGNS_MAX_COORD 1e9 /* mm: |coordinate| above this is refused (1,000 km) */

/* Fills why (code and printf message); returns err for tail calls. */
cx_err designs__fail(designs_error *why, cx_err err, const char *code, const char *fmt, ...)
    CX_PRINTF(4, 5);

/* Sets the mesh's caps from lim. */
void designs__mesh_limits(designs_mesh *m, const designs_limits *lim);
/* The mesh's triangle cap (its own, or the default). */
size_t designs__mesh_max_t(const designs_mesh *m);
/* Reserves room for n more vertices / triangles in one step (within caps). */
cx_err designs__mesh_reserve(designs_mesh *m, size_t nv, size_t nt);
/* Refusal of a mesh_add error with a sentence ("where" names the place). */
cx_err designs__mesh_error(designs_error *why, cx_err e, const designs_mesh *m, const char *where);

/* The same at a text line. */
cx_err designs__mesh_error_line(designs_error *why, cx_err e, const designs_mesh *m, size_t line);
/* Formats without units (STL, OBJ): millimetres, assumed. */
void designs__unitless(designs_info *info, designs_format f);

/* A decimal number of the whole token s[0..n) (strtod syntax without
 * hex floats, infinities or NaN). */
bool designs__number(const char *s, size_t n, double *out);

/* Readers: data[0..len) is the whole file. */
cx_err designs__read_stl(const uint8_t *data, size_t len, designs_mesh *m, designs_info *info,
                         designs_error *why);
cx_err designs__read_3mf(const uint8_t *data, size_t len, const designs_limits *lim,
                         designs_mesh *m, designs_info *info, designs_error *why);
cx_err designs__read_obj(const uint8_t *data, size_t len, designs_mesh *m, designs_info *info,
                         designs_error *why);
/* Whether bytes look like each format (designs_read picks with these). */
bool designs__looks_binary_stl(const uint8_t *data, size_t len);
bool designs__looks_ascii_stl(const uint8_t *data, size_t len);
bool designs__looks_obj(const uint8_t *data, size_t len);

/* A per-process random key for hash tables keyed by file content. */
const unsigned char *designs__hash_key(void);
uint64_t designs__hash(const void *p, size_t n);

/* LSD radix sorts by the lowest `bits` bits (16 a pass); _pairs moves
 * val (may be NULL) with key. Stable. */
cx_err designs__radix_sort(uint64_t *a, size_t n, int bits);
cx_err designs__radix_pairs(uint64_t *key, uint32_t *val, size_t n, int bits);

/* SHA-256 (nettle: SHA-NI where the CPU has it, 4x libsodium's on 64 MiB). */
void designs__sha256(const void *data, size_t len, uint8_t out[32]);

/* Vertices rounded to micrometres: packed into one integer (width[a] bits
 * an axis, x highest; bits in all) when the spans fit 63 bits, else kept as
 * three int64 (q). Exactly one of packed and q is set. */
typedef struct {
    uint64_t *packed;
    int64_t (*q)[3];
    int64_t min[3];
    int width[3], bits;
} designs_keys;
cx_err designs__keys(const designs_mesh *m, designs_keys *k);
void designs__keys_free(designs_keys *k);
/* weld[v] = welded id of vertex v (same position at 1 µm); *n = ids. */
cx_err designs__weld(const designs_mesh *m, const designs_keys *k, uint32_t *weld, size_t *n);
cx_err designs__canonical_sha256(const designs_mesh *m, const designs_keys *k, uint8_t out[32]);

/* Triangulates the polygon pts[0..n) (3 doubles each) into out (n - 2
 * triangles of local corner indices): a fan when convex, else ear clipping
 * up to 64 corners while *budget (corner tests, decremented) lasts. */
size_t designs__triangulate(const double *pts, size_t n, uint32_t (*out)[3], size_t *budget);

/* A principal frame: centroid, covariance, its eigenvalues (descending)
 * and eigenvectors. */
typedef struct {
    double area;
    double centroid[3];
    double cov[3][3];
    double eval[3];
    double evec[3][3]; /* evec[i] = axis i */
} designs_moments;
void designs__eigen_sym3(double a[3][3], double eval[3], double evec[3][3]);

/* The double nearest to v written with `decimals` decimals (59.9952, not
 * 59.995199999999997, in JSON). */
double designs__round(double v, int decimals);

/* L1 distance of two fingerprints' bytes (SSE2 where there is SSE2). */
uint32_t designs__l1(const uint8_t *a, const uint8_t *b);
_Static_assert(DESIGNS_FP_DIMS % 16 == 0, "the fingerprint is compared 16 bytes at a time");

#endif
