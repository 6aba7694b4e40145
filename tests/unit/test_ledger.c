/* Unit tests of the ledger module: RFC 8785 canonical JSON, RFC 6962 trees
 * and proofs, keys and signed notes, the entry decoder, and every rule and
 * policy of the state machine through the service's door. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"

#include "data/ledger_es6_numbers.h"

/* ---- helpers --------------------------------------------------------------------- */

static char *canon_text(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    assert_non_null(j);
    cx_buf b;
    cx_buf_init(&b, 1 << 20);
    assert_int_equal(ledger_jcs(j, &b), CX_OK);
    json_decref(j);
    return cx_buf_steal(&b, NULL);
}

static void unhex32(const char *hex, uint8_t out[32])
{
    assert_true(cx_unhex(hex, out, 32));
}

static double bits_double(const char *hex)
{
    uint64_t u = strtoull(hex, NULL, 16);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- RFC 8785 --------------------------------------------------------------------- */

/* RFC 8785 §3.2.2 and the examples of its reference implementation. */
static void test_jcs_rfc_examples(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"{\"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],"
         " \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\","
         " \"literals\": [null, true, false]}",
         "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
         "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"},
        /* §3.2.3: sorting by UTF-16 code units */
        {"{\"\\u20ac\": \"Euro Sign\", \"\\r\": \"Carriage Return\", \"\\ufb33\": \"Hebrew Letter "
         "Dalet With Dagesh\", \"1\": \"One\", \"\\ud83d\\ude00\": \"Emoji: Grinning Face\", "
         "\"\\u0080\": \"Control\", \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"}",
         "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"Latin "
         "Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: "
         "Grinning Face\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}"},
        {"{\n  \"1\": {\"f\": {\"f\": \"hi\",\"F\": 5} ,\"\\n\": 56.0},\n  \"10\": { },\n  \"\": "
         "\"empty\",\n  \"a\": { },\n  \"111\": [ { } ],\n  \"A\": { }\n}",
         "{\"\":\"empty\",\"1\":{\"\\n\":56,\"f\":{\"F\":5,\"f\":\"hi\"}},\"10\":{},\"111\":[{}],"
         "\"A\":{},\"a\":{}}"},
        {"[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]",
         "[56,{\"1\":[],\"10\":null,\"d\":true}]"},
        {"{\"peach\": \"This sorting order\", \"p\xc3\xa9" "ch\xc3\xa9\": \"is wrong according to French\","
         " \"p\xc3\xaa" "che\": \"but canonicalization MUST\", \"sin\": \"ignore locale\"}",
         "{\"peach\":\"This sorting order\",\"p\xc3\xa9" "ch\xc3\xa9\":\"is wrong according to "
         "French\",\"p\xc3\xaa" "che\":\"but canonicalization MUST\",\"sin\":\"ignore locale\"}"},
        /* no Unicode normalisation */
        {"{\"Unnormalized Unicode\":\"\\u1e0d\\u0307\"}",
         "{\"Unnormalized Unicode\":\"\xe1\xb8\x8d\xcc\x87\"}"},
        {"{\"\\u20ac\": \"Euro Sign\", \"1\": \"One\", \"\\u0080\": \"Control\\u007f\", "
         "\"\\ud83d\\ude02\": \"Smiley\", \"\\u00f6\": \"Latin Small Letter O With Diaeresis\", "
         "\"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\", \"</script>\": \"Browser Challenge\"}",
         "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\xc2\x80\":\"Control\x7f\",\"\xc3\xb6\":"
         "\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x82\":"
         "\"Smiley\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}"},
        {"\"\\u0001\\b\\t\\n\\f\\r\\u001f\"", "\"\\u0001\\b\\t\\n\\f\\r\\u001f\""},
        {"[-0.0, 0, -1, 1e21, 1e-7, 123e-9]", "[0,0,-1,1e+21,1e-7,1.23e-7]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = canon_text(cases[i].in);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("case %zu:\n got  %s\n want %s", i, got, cases[i].out);
        free(got);
    }
}

/* RFC 8785 Appendix B, then thousands of doubles written by node's
 * Number.prototype.toString (tests/unit/data/gen_es6_numbers.js). */
static void test_jcs_numbers(void **state)
{
    static const struct {
        const char *bits, *text;
    } appendix_b[] = {
        {"0000000000000000", "0"},
        {"8000000000000000", "0"},
        {"0000000000000001", "5e-324"},
        {"8000000000000001", "-5e-324"},
        {"7fefffffffffffff", "1.7976931348623157e+308"},
        {"ffefffffffffffff", "-1.7976931348623157e+308"},
        {"4340000000000000", "9007199254740992"},
        {"c340000000000000", "-9007199254740992"},
        {"4430000000000000", "295147905179352830000"},
        {"44b52d02c7e14af5", "9.999999999999997e+22"},
        {"44b52d02c7e14af6", "1e+23"},
        {"44b52d02c7e14af7", "1.0000000000000001e+23"},
        {"444b1ae4d6e2ef4e", "999999999999999700000"},
        {"444b1ae4d6e2ef4f", "999999999999999900000"},
        {"444b1ae4d6e2ef50", "1e+21"},
        {"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
        {"3eb0c6f7a0b5ed8d", "0.000001"},
        {"41b3de4355555553", "333333333.3333332"},
        {"41b3de4355555554", "333333333.33333325"},
        {"41b3de4355555555", "333333333.3333333"},
        {"41b3de4355555556", "333333333.3333334"},
        {"41b3de4355555557", "333333333.33333343"},
        {"becbf647612f3696", "-0.0000033333333333333333"},
        {"43143ff3c1cb0959", "1424953923781206.2"},
    };
    char out[LEDGER_NUMBER_MAX];
    for (size_t i = 0; i < sizeof appendix_b / sizeof appendix_b[0]; i++) {
        ledger_jcs_number(bits_double(appendix_b[i].bits), out);
        if (strcmp(out, appendix_b[i].text))
            fail_msg("%s: got %s want %s", appendix_b[i].bits, out, appendix_b[i].text);
    }
    for (size_t i = 0; i < sizeof es6_numbers / sizeof es6_numbers[0]; i++) {
        ledger_jcs_number(bits_double(es6_numbers[i].bits), out);
        if (strcmp(out, es6_numbers[i].text))
            fail_msg("%s: got %s want %s", es6_numbers[i].bits, out, es6_numbers[i].text);
    }
    /* NaN and infinities have no canonical form */
    json_t *inf = json_real(1.0);
    cx_buf b;
    cx_buf_init(&b, 64);
    json_t *big = json_integer(9007199254740993LL);
    assert_int_equal(ledger_jcs(big, &b), CX_EINVAL);
    json_decref(big);
    json_decref(inf);
    cx_buf_free(&b);
}

static void test_jcs_key_order(void **state)
{
    /* U+FB33 (one unit, 0xFB33) sorts after U+1F600 (0xD83D 0xDE00) in
     * UTF-16 although its code point is smaller */
    assert_true(ledger_jcs_keycmp("\xf0\x9f\x98\x80", "\xef\xac\xb3") < 0);
    assert_true(ledger_jcs_keycmp("a", "ab") < 0);
    assert_true(ledger_jcs_keycmp("", "a") < 0);
    assert_int_equal(ledger_jcs_keycmp("\xc3\xb6", "\xc3\xb6"), 0);
    assert_true(ledger_jcs_keycmp("B", "a") < 0);
}

/* ---- RFC 6962 ---------------------------------------------------------------------- */

/* A tree over leaf hashes in memory; perfect subtrees computed the slow way,
 * straight from the RFC's definition of MTH. */
typedef struct {
    uint8_t (*leaf)[32];
    size_t n;
    unsigned calls;
} mem_tree;

static void ref_mth(const mem_tree *t, uint64_t lo, uint64_t hi, uint8_t out[32])
{
    if (hi - lo == 1) {
        memcpy(out, t->leaf[lo], 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < hi - lo)
        k *= 2;
    uint8_t l[32], r[32];
    ref_mth(t, lo, lo + k, l);
    ref_mth(t, lo + k, hi, r);
    ledger_node_hash(l, r, out);
}

static cx_err mem_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
    mem_tree *t = ctx;
    t->calls++;
    uint64_t lo = index << level, hi = lo + ((uint64_t)1 << level);
    if (hi > t->n)
        return CX_EINVAL;
    ref_mth(t, lo, hi, out);
    return CX_OK;
}

/* RFC 6962 §2.1.1 and §2.1.2 written out literally. */
static void ref_path(const mem_tree *t, uint64_t m, uint64_t lo, uint64_t hi, uint8_t (*out)[32],
                     size_t *n)
{
    if (hi - lo <= 1)
        return;
    uint64_t k = 1;
    while (k * 2 < hi - lo)
        k *= 2;
    if (m < k) {
        ref_path(t, m, lo, lo + k, out, n);
        ref_mth(t, lo + k, hi, out[(*n)++]);
    } else {
        ref_path(t, m - k, lo + k, hi, out, n);
        ref_mth(t, lo, lo + k, out[(*n)++]);
    }
}

static void ref_subproof(const mem_tree *t, uint64_t m, uint64_t lo, uint64_t hi, bool b,
                         uint8_t (*out)[32], size_t *n)
{
    uint64_t size = hi - lo;
    if (m == size) {
        if (!b)
            ref_mth(t, lo, hi, out[(*n)++]);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < size)
        k *= 2;
    if (m <= k) {
        ref_subproof(t, m, lo, lo + k, b, out, n);
        ref_mth(t, lo + k, hi, out[(*n)++]);
    } else {
        ref_subproof(t, m - k, lo + k, hi, false, out, n);
        ref_mth(t, lo, lo + k, out[(*n)++]);
    }
}

static const char *const ct_leaves[] = {"", "00", "10", "2021", "3031", "40414243",
                                        "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
static const char *const ct_roots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void ct_tree(mem_tree *t, uint8_t leaf[8][32])
{
    for (int i = 0; i < 8; i++) {
        uint8_t data[16];
        size_t n = strlen(ct_leaves[i]) / 2;
        assert_true(n == 0 || cx_unhex(ct_leaves[i], data, n));
        ledger_leaf_hash(data, n, leaf[i]);
    }
    t->leaf = leaf;
    t->n = 8;
}

static void assert_path(uint8_t (*got)[32], size_t n, const char *const *want, size_t wn)
{
    assert_int_equal(n, wn);
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        cx_hex(got[i], 32, hex);
        assert_string_equal(hex, want[i]);
    }
}

/* The Certificate Transparency reference vectors (RFC 6962 trees of eight
 * leaves): roots, inclusion and consistency proofs. */
static void test_merkle_ct_vectors(void **state)
{
    uint8_t leaf[8][32];
    mem_tree t;
    ct_tree(&t, leaf);
    uint8_t root[32];
    char hex[65];
    crypto_hash_sha256(root, NULL, 0);
    cx_hex(root, 32, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ledger_frontier f = {0};
    ledger_frontier_root(&f, root);
    cx_hex(root, 32, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for (int n = 1; n <= 8; n++) {
        assert_int_equal(ledger_tree_hash(mem_node, &t, 0, (uint64_t)n, root), CX_OK);
        cx_hex(root, 32, hex);
        assert_string_equal(hex, ct_roots[n - 1]);
        assert_int_equal(ledger_frontier_append(&f, leaf[n - 1], NULL, NULL), CX_OK);
        ledger_frontier_root(&f, root);
        cx_hex(root, 32, hex);
        assert_string_equal(hex, ct_roots[n - 1]);
    }
    uint8_t path[LEDGER_TREE_LEVELS][32];
    size_t n;
    static const struct {
        uint64_t index, size;
        const char *path[3];
        size_t n;
    } incl[] = {
        {0, 8, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}, 3},
        {5, 8, {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}, 3},
        {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}, 1},
        {1, 5, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}, 3},
    };
    for (size_t i = 0; i < sizeof incl / sizeof incl[0]; i++) {
        assert_int_equal(ledger_tree_inclusion(mem_node, &t, incl[i].index, incl[i].size, path, &n),
                         CX_OK);
        assert_path(path, n, incl[i].path, incl[i].n);
        unhex32(ct_roots[incl[i].size - 1], root);
        assert_true(ledger_verify_inclusion(incl[i].index, incl[i].size, leaf[incl[i].index],
                                            (const uint8_t(*)[32])path, n, root));
    }
    static const struct {
        uint64_t m, n;
        const char *proof[3];
        size_t k;
    } cons[] = {
        {1, 1, {NULL}, 0},
        {1, 8, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}, 3},
        {6, 8, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}, 3},
        {2, 5, {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}, 2},
    };
    for (size_t i = 0; i < sizeof cons / sizeof cons[0]; i++) {
        assert_int_equal(ledger_tree_consistency(mem_node, &t, cons[i].m, cons[i].n, path, &n),
                         CX_OK);
        assert_path(path, n, cons[i].proof, cons[i].k);
        uint8_t r1[32], r2[32];
        unhex32(ct_roots[cons[i].m - 1], r1);
        unhex32(ct_roots[cons[i].n - 1], r2);
        assert_true(ledger_verify_consistency(cons[i].m, cons[i].n, r1, r2,
                                              (const uint8_t(*)[32])path, n));
    }
}

/* RFC 6962 §2.1.3: the example tree of seven leaves with its named nodes. */
static void test_merkle_rfc_examples(void **state)
{
    uint8_t leaf[7][32];
    for (int i = 0; i < 7; i++) {
        char d[8];
        snprintf(d, sizeof d, "d%d", i);
        ledger_leaf_hash(d, strlen(d), leaf[i]);
    }
    mem_tree t = {leaf, 7, 0};
    uint8_t (*a)[32] = leaf; /* a..f, j are the leaves d0..d6 */
    uint8_t g[32], h[32], i_[32], k[32], l[32];
    ledger_node_hash(a[0], a[1], g);
    ledger_node_hash(a[2], a[3], h);
    ledger_node_hash(a[4], a[5], i_);
    ledger_node_hash(g, h, k);
    ledger_node_hash(i_, a[6], l);
    uint8_t path[LEDGER_TREE_LEVELS][32];
    size_t n;
    struct {
        uint64_t m;
        const uint8_t *want[3];
        size_t n;
    } audit[] = {
        {0, {a[1], h, l}, 3}, /* the audit path for d0 is [b, h, l] */
        {3, {a[2], g, l}, 3}, /* for d3: [c, g, l] */
        {4, {a[5], a[6], k}, 3}, /* for d4: [f, j, k] */
        {6, {i_, k}, 2},      /* for d6: [i, k] */
    };
    for (size_t x = 0; x < 4; x++) {
        assert_int_equal(ledger_tree_inclusion(mem_node, &t, audit[x].m, 7, path, &n), CX_OK);
        assert_int_equal(n, audit[x].n);
        for (size_t y = 0; y < n; y++)
            assert_memory_equal(path[y], audit[x].want[y], 32);
    }
    struct {
        uint64_t m;
        const uint8_t *want[4];
        size_t n;
    } cons[] = {
        {3, {a[2], a[3], g, l}, 4}, /* PROOF(3, D[7]) = [c, d, g, l] */
        {4, {l}, 1},                /* PROOF(4, D[7]) = [l] */
        {6, {i_, a[6], k}, 3},      /* PROOF(6, D[7]) = [i, j, k] */
    };
    for (size_t x = 0; x < 3; x++) {
        assert_int_equal(ledger_tree_consistency(mem_node, &t, cons[x].m, 7, path, &n), CX_OK);
        assert_int_equal(n, cons[x].n);
        for (size_t y = 0; y < n; y++)
            assert_memory_equal(path[y], cons[x].want[y], 32);
    }
}

/* Trees of 1..64 leaves: roots, every inclusion and consistency proof equal
 * a literal transcription of the RFC, verify, and fail when tampered. */
static void test_merkle_sizes_1_to_64(void **state)
{
    enum { N = 64 };
    uint8_t leaf[N][32];
    for (int i = 0; i < N; i++) {
        uint8_t d[4] = {(uint8_t)i, 0xAB, (uint8_t)(i * 7), 0x01};
        ledger_leaf_hash(d, sizeof d, leaf[i]);
    }
    ledger_frontier f = {0};
    uint8_t path[LEDGER_TREE_LEVELS][32], ref[LEDGER_TREE_LEVELS][32];
    uint8_t roots[N + 1][32];
    for (uint64_t size = 1; size <= N; size++) {
        mem_tree t = {leaf, size, 0};
        uint8_t root[32], want[32];
        ref_mth(&t, 0, size, want);
        assert_int_equal(ledger_tree_hash(mem_node, &t, 0, size, root), CX_OK);
        assert_memory_equal(root, want, 32);
        assert_int_equal(ledger_frontier_append(&f, leaf[size - 1], NULL, NULL), CX_OK);
        ledger_frontier_root(&f, root);
        assert_memory_equal(root, want, 32);
        memcpy(roots[size], want, 32);
        for (uint64_t m = 0; m < size; m++) {
            size_t n = 0, rn = 0;
            t.calls = 0;
            assert_int_equal(ledger_tree_inclusion(mem_node, &t, m, size, path, &n), CX_OK);
            ref_path(&t, m, 0, size, ref, &rn);
            assert_int_equal(n, rn);
            assert_memory_equal(path, ref, n * 32);
            /* O(log n) lookups: one per proof node plus the right edge */
            assert_true(t.calls <= 2 * 7 + 1);
            assert_true(ledger_verify_inclusion(m, size, leaf[m], (const uint8_t(*)[32])path, n,
                                                root));
            assert_false(ledger_verify_inclusion(m, size, leaf[(m + 1) % N],
                                                 (const uint8_t(*)[32])path, n, root));
            if (size > 1)
                assert_false(ledger_verify_inclusion((m + 1) % size, size, leaf[m],
                                                     (const uint8_t(*)[32])path, n, root));
            if (n) {
                path[n - 1][5] ^= 1;
                assert_false(ledger_verify_inclusion(m, size, leaf[m],
                                                     (const uint8_t(*)[32])path, n, root));
                assert_false(ledger_verify_inclusion(m, size, leaf[m],
                                                     (const uint8_t(*)[32])path, n - 1, root));
            }
            if (size < N) { /* the proof for size does not prove inclusion in size + 1 */
                mem_tree t2 = {leaf, size + 1, 0};
                uint8_t next[32];
                ref_mth(&t2, 0, size + 1, next);
                assert_false(ledger_verify_inclusion(m, size + 1, leaf[m],
                                                     (const uint8_t(*)[32])ref, rn, next));
            }
        }
    }
    for (uint64_t n2 = 1; n2 <= N; n2++) {
        mem_tree t = {leaf, n2, 0};
        for (uint64_t m = 1; m <= n2; m++) {
            size_t k = 0, rk = 0;
            assert_int_equal(ledger_tree_consistency(mem_node, &t, m, n2, path, &k), CX_OK);
            if (m < n2)
                ref_subproof(&t, m, 0, n2, true, ref, &rk);
            assert_int_equal(k, rk);
            assert_memory_equal(path, ref, k * 32);
            assert_true(ledger_verify_consistency(m, n2, roots[m], roots[n2],
                                                  (const uint8_t(*)[32])path, k));
            if (m < n2) {
                assert_false(ledger_verify_consistency(m, n2, roots[m == 1 ? 2 : m - 1],
                                                       roots[n2], (const uint8_t(*)[32])path, k));
                path[0][0] ^= 0x80;
                assert_false(ledger_verify_consistency(m, n2, roots[m], roots[n2],
                                                       (const uint8_t(*)[32])path, k));
            }
        }
    }
}

/* ---- keys and signed notes ----------------------------------------------------------- */

/* golang.org/x/mod/sumdb/note's example: same key, same text, same bytes. */
static void test_note_go_vector(void **state)
{
    uint8_t blob[33];
    assert_true(sodium_base642bin(blob, sizeof blob, "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
                                  44, NULL, NULL, NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
    uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, blob + 1);
    uint8_t vk[33];
    assert_true(sodium_base642bin(vk, sizeof vk, "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 44,
                                  NULL, NULL, NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
    assert_memory_equal(pk, vk + 1, 32);
    const char *text = "If you think cryptography is the answer to your problem,\n"
                       "then you don't know what your problem is.\n";
    char line[256];
    ledger_key k;
    memcpy(k.pk, pk, 32);
    memcpy(k.sk, sk, 64);
    assert_int_equal(ledger_note_key_id("PeterNeumann", pk), 0xc74f20a3);
    ledger_note_sign("PeterNeumann", &k, text, line, sizeof line);
    assert_string_equal(line, "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInN"
                              "IuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n");
}

static void test_key_files(void **state)
{
    char dir[] = "/tmp/customs-test-keysXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/a.key", dir);
    ledger_key k, l;
    ledger_key_generate(&k);
    snprintf(k.org, sizeof k.org, "ACME");
    char err[256];
    assert_int_equal(ledger_key_save(&k, path, err, sizeof err), CX_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ledger_key_save(&k, path, err, sizeof err), CX_EEXIST);
    assert_non_null(strstr(err, "overwrite"));
    assert_int_equal(ledger_key_load(path, &l, err, sizeof err), CX_OK);
    assert_memory_equal(k.pk, l.pk, 32);
    assert_memory_equal(k.sk, l.sk, 64);
    assert_string_equal(l.org, "ACME");
    char pub[45];
    ledger_key_public(&k, pub);
    uint8_t pk[32];
    assert_true(ledger_key_parse_public(pub, pk));
    assert_memory_equal(pk, k.pk, 32);
    /* a non-canonical spelling of the same bytes is refused */
    pub[42] = pub[42] == 'A' ? 'B' : 'A';
    uint8_t other[32];
    bool parsed = ledger_key_parse_public(pub, other);
    if (parsed)
        assert_memory_not_equal(other, k.pk, 32);
    /* a file whose public key does not match its seed */
    snprintf(path, sizeof path, "%s/b.key", dir);
    FILE *f = fopen(path, "w");
    char kp[45];
    ledger_key m;
    ledger_key_generate(&m);
    ledger_key_public(&m, kp);
    fprintf(f, "{\"kty\":\"Ed25519\",\"public\":\"%s\",\"seed\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}", kp);
    fclose(f);
    assert_int_equal(ledger_key_load(path, &l, err, sizeof err), CX_ECRYPTO);
    unlink(path);
    snprintf(path, sizeof path, "%s/a.key", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jcs_rfc_examples),
        cmocka_unit_test(test_jcs_numbers),
        cmocka_unit_test(test_jcs_key_order),
        cmocka_unit_test(test_merkle_ct_vectors),
        cmocka_unit_test(test_merkle_rfc_examples),
        cmocka_unit_test(test_merkle_sizes_1_to_64),
        cmocka_unit_test(test_note_go_vector),
        cmocka_unit_test(test_key_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
