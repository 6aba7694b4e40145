/* Merkle hash trees exactly as RFC 6962 §2.1 (and RFC 9162 §2.1) define them:
 * SHA-256, leaves hashed as H(0x00 || d), interior nodes as H(0x01 || l || r),
 * the tree of n leaves split at the largest power of two below n.
 *
 * Proofs are generated from the hashes of perfect, aligned subtrees, which
 * the storage keeps (level 0: leaf hashes; level L: nodes covering 2^L
 * leaves). Every subtree an RFC 6962 proof needs is either perfect (one
 * lookup) or the right edge [k, n) of the tree, which is the fold of at most
 * log2(n) perfect subtrees: a proof costs O(log n) lookups. */
#include "ledger_int.h"

#include <string.h>

void ledger_leaf_hash(const void *data, size_t len, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    static const uint8_t zero = 0x00;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void ledger_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, left, 32);
    memcpy(buf + 33, right, 32);
    crypto_hash_sha256(out, buf, sizeof buf);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t lm__split(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

static bool lm__pow2(uint64_t n)
{
    return n && !(n & (n - 1));
}

static unsigned lm__log2(uint64_t n)
{
    unsigned l = 0;
    while (n > 1) {
        n >>= 1;
        l++;
    }
    return l;
}

cx_err ledger_tree_hash(ledger_node_fn f, void *ctx, uint64_t lo, uint64_t hi, uint8_t out[32])
{
    if (hi <= lo)
        return CX_EINVAL;
    uint64_t n = hi - lo;
    if (lm__pow2(n) && lo % n == 0)
        return f(ctx, lm__log2(n), lo >> lm__log2(n), out);
    uint64_t k = lm__split(n);
    uint8_t l[32], r[32];
    cx_err e = ledger_tree_hash(f, ctx, lo, lo + k, l);
    if (e == CX_OK)
        e = ledger_tree_hash(f, ctx, lo + k, hi, r);
    if (e == CX_OK)
        ledger_node_hash(l, r, out);
    return e;
}

/* PATH(m, D[lo:hi]) of RFC 6962 §2.1.1; appended to path in order. */
static cx_err lm__path(ledger_node_fn f, void *ctx, uint64_t m, uint64_t lo, uint64_t hi,
                       uint8_t path[][32], size_t *n)
{
    uint64_t size = hi - lo;
    if (size <= 1)
        return CX_OK;
    uint64_t k = lm__split(size);
    cx_err e;
    if (m < lo + k) {
        e = lm__path(f, ctx, m, lo, lo + k, path, n);
        if (e == CX_OK)
            e = ledger_tree_hash(f, ctx, lo + k, hi, path[(*n)++]);
    } else {
        e = lm__path(f, ctx, m, lo + k, hi, path, n);
        if (e == CX_OK)
            e = ledger_tree_hash(f, ctx, lo, lo + k, path[(*n)++]);
    }
    return e;
}

cx_err ledger_tree_inclusion(ledger_node_fn f, void *ctx, uint64_t index, uint64_t size, uint8_t path[][32],
                    size_t *n)
{
    *n = 0;
    if (index >= size)
        return CX_EINVAL;
    return lm__path(f, ctx, index, 0, size, path, n);
}

/* SUBPROOF(m, D[lo:hi], b) of RFC 6962 §2.1.2. */
static cx_err lm__subproof(ledger_node_fn f, void *ctx, uint64_t m, uint64_t lo, uint64_t hi,
                           bool b, uint8_t path[][32], size_t *n)
{
    uint64_t size = hi - lo;
    if (m == size) {
        if (b)
            return CX_OK;
        return ledger_tree_hash(f, ctx, lo, hi, path[(*n)++]);
    }
    uint64_t k = lm__split(size);
    cx_err e;
    if (m <= k) {
        e = lm__subproof(f, ctx, m, lo, lo + k, b, path, n);
        if (e == CX_OK)
            e = ledger_tree_hash(f, ctx, lo + k, hi, path[(*n)++]);
    } else {
        e = lm__subproof(f, ctx, m - k, lo + k, hi, false, path, n);
        if (e == CX_OK)
            e = ledger_tree_hash(f, ctx, lo, lo + k, path[(*n)++]);
    }
    return e;
}

cx_err ledger_tree_consistency(ledger_node_fn f, void *ctx, uint64_t m, uint64_t n, uint8_t path[][32],
                      size_t *k)
{
    *k = 0;
    if (m == 0 || m > n)
        return CX_EINVAL;
    if (m == n)
        return CX_OK;
    return lm__subproof(f, ctx, m, 0, n, true, path, k);
}

bool ledger_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[32],
                             const uint8_t path[][32], size_t n, const uint8_t root[32])
{
    if (index >= size)
        return false;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[32];
    memcpy(r, leaf, 32);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ledger_node_hash(path[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ledger_node_hash(r, path[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(r, root, 32) == 0;
}

bool ledger_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[32],
                               const uint8_t root_n[32], const uint8_t proof[][32], size_t k)
{
    if (m == 0 || m > n)
        return false;
    if (m == n)
        return k == 0 && sodium_memcmp(root_m, root_n, 32) == 0;
    if (k == 0)
        return false;
    /* When m is a power of two the old root is itself a node of the new
     * tree and the proof leaves it out: start from it. */
    size_t start = 0;
    const uint8_t *first = proof[0];
    if (lm__pow2(m)) {
        first = root_m;
    } else {
        start = 1;
    }
    uint64_t fn = m - 1, sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[32], sr[32];
    memcpy(fr, first, 32);
    memcpy(sr, first, 32);
    for (size_t i = start; i < k; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ledger_node_hash(proof[i], fr, fr);
            ledger_node_hash(proof[i], sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ledger_node_hash(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(fr, root_m, 32) == 0 && sodium_memcmp(sr, root_n, 32) == 0;
}

/* ---- the right edge -------------------------------------------------------------- */

cx_err ledger_frontier_append(ledger_frontier *f, const uint8_t leaf[32], ledger_emit_fn emit, void *ctx)
{
    uint64_t n = f->size;
    uint8_t h[32];
    memcpy(h, leaf, 32);
    unsigned l = 0;
    /* Each set low bit of n is a perfect subtree that the new leaf completes
     * into one twice its size. */
    while ((n >> l) & 1) {
        ledger_node_hash(f->h[l], h, h);
        l++;
        if (emit) {
            cx_err e = emit(ctx, l, n >> l, h);
            if (e != CX_OK)
                return e;
        }
    }
    memcpy(f->h[l], h, 32);
    f->size = n + 1;
    return CX_OK;
}

void ledger_frontier_root(const ledger_frontier *f, uint8_t out[32])
{
    if (f->size == 0) {
        crypto_hash_sha256(out, NULL, 0); /* MTH({}) = SHA-256() */
        return;
    }
    bool have = false;
    uint8_t r[32];
    for (unsigned l = 0; l < LEDGER_TREE_LEVELS; l++) {
        if (!((f->size >> l) & 1))
            continue;
        if (!have) {
            memcpy(r, f->h[l], 32);
            have = true;
        } else {
            ledger_node_hash(f->h[l], r, r);
        }
    }
    memcpy(out, r, 32);
}
