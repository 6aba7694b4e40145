/* Unit tests of the ledger module: RFC 8785 canonical JSON, RFC 6962 trees
 * and proofs, keys and signed notes, the entry decoder, and every rule and
 * policy of the state machine through the service's door. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "unitkit.h"

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
    /* large integers that are their own canonical form are kept */
    static const long long fixed[] = {20000000000000000LL, 1152921504606847000LL,
                                      -9007199254740994LL};
    for (size_t i = 0; i < 3; i++) {
        cx_buf_reset(&b);
        big = json_integer(fixed[i]);
        assert_int_equal(ledger_jcs(big, &b), CX_OK);
        char want[32];
        snprintf(want, sizeof want, "%lld", fixed[i]);
        assert_string_equal(b.data, want);
        json_decref(big);
    }
    cx_buf_reset(&b);
    big = json_integer(1152921504606846976LL); /* 2^60: ECMAScript writes ...847000 */
    assert_int_equal(ledger_jcs(big, &b), CX_EINVAL);
    json_decref(big);
    big = json_real(2e19); /* "20000000000000000000": beyond what readers take back */
    assert_int_equal(ledger_jcs(big, &b), CX_EINVAL);
    json_decref(big);
    cx_buf_reset(&b);
    big = json_real(1e21);
    assert_int_equal(ledger_jcs(big, &b), CX_OK);
    assert_string_equal(b.data, "1e+21");
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


/* ---- the service: rules and policies ------------------------------------------------------ */

enum { KCS, ACME, SAIGON, OCEANIC, BANK, CHAMBER, CHAMBER2, BANK2, NORG };
static const char *const ORG[NORG] = {"KCS",  "ACME",    "SAIGON",   "OCEANIC",
                                      "BANK", "CHAMBER", "CHAMBER2", "BANK2"};
static const char *const ROLE[NORG] = {"customs", "trader",  "trader",  "carrier",
                                       "bank",    "chamber", "chamber", "bank"};

typedef struct {
    char path[64];
    store *s;
    decl_service *d;
    ledger *lg;
    ledger_key gov[3];
    ledger_key k[NORG];
    ledger_result res;
    int seq;
} fx;

/* Builds an envelope, signs it with the (key, org) pairs that follow and
 * returns its canonical text (caller frees). */
static char *build(fx *f, const char *type, const char *author, json_t *body, int nsig, va_list ap)
{
    char t[40];
    snprintf(t, sizeof t, "2024-03-01T10:%02d:%02dZ", (f->seq / 60) % 60, f->seq % 60);
    f->seq++;
    json_t *env = json_pack("{s:s,s:s,s:s,s:o,s:[]}", "type", type, "org", author, "time", t,
                            "body", body, "signatures");
    char *text = cx_json_dump(env, NULL);
    json_decref(env);
    for (int i = 0; i < nsig; i++) {
        const ledger_key *k = va_arg(ap, const ledger_key *);
        const char *org = va_arg(ap, const char *);
        char *next = NULL, err[256];
        if (ledger_sign(text, strlen(text), k, org, &next, err, sizeof err) != CX_OK)
            fail_msg("sign: %s", err);
        free(text);
        text = next;
    }
    return text;
}

static unsigned submit_text(fx *f, const char *text);

/* Signs an envelope the way docs/ledger.md describes, independently of
 * ledger_sign (which refuses invalid entries): SHA-256 of the domain, a zero
 * byte and the RFC 8785 form without "signatures", signed with Ed25519. */
static char *sign_raw(json_t *env, const ledger_key *k, const char *org)
{
    json_t *unsigned_env = json_deep_copy(env);
    json_object_del(unsigned_env, "signatures");
    cx_buf b;
    cx_buf_init(&b, 1 << 22);
    assert_int_equal(ledger_jcs(unsigned_env, &b), CX_OK);
    json_decref(unsigned_env);
    crypto_hash_sha256_state st;
    uint8_t h[32], sig[64];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"customs.ledger.entry.v1", 23);
    crypto_hash_sha256_update(&st, (const uint8_t *)"", 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)b.data, b.len);
    crypto_hash_sha256_final(&st, h);
    cx_buf_free(&b);
    crypto_sign_detached(sig, NULL, h, 32, k->sk);
    char pk64[45], sig64[89];
    ledger_key_public(k, pk64);
    sodium_bin2base64(sig64, sizeof sig64, sig, 64, sodium_base64_VARIANT_ORIGINAL);
    if (!json_object_get(env, "signatures"))
        json_object_set_new(env, "signatures", json_array());
    json_array_append_new(json_object_get(env, "signatures"),
                          json_pack("{s:s,s:s,s:s}", "org", org, "key", pk64, "sig", sig64));
    return cx_json_dump(env, NULL);
}

static unsigned submit_raw(fx *f, const char *type, const char *author, json_t *body, int o)
{
    json_t *env = json_pack("{s:s,s:s,s:o,s:[]}", "type", type, "org", author, "body", body,
                            "signatures");
    char *t = sign_raw(env, &f->k[o], ORG[o]);
    json_decref(env);
    unsigned st = submit_text(f, t);
    free(t);
    return st;
}

static char *entry_text(fx *f, const char *type, const char *author, json_t *body, int nsig, ...)
{
    va_list ap;
    va_start(ap, nsig);
    char *t = build(f, type, author, body, nsig, ap);
    va_end(ap);
    return t;
}

static unsigned submit_text(fx *f, const char *text)
{
    ledger_result_clear(&f->res);
    ledger_submit(f->lg, text, strlen(text), &f->res);
    return f->res.status;
}

/* Appends and returns the HTTP-style status; the result stays in f->res. */
static unsigned submit(fx *f, const char *type, const char *author, json_t *body, int nsig, ...)
{
    va_list ap;
    va_start(ap, nsig);
    char *t = build(f, type, author, body, nsig, ap);
    va_end(ap);
    unsigned st = submit_text(f, t);
    free(t);
    return st;
}

#define OK(x)                                                                                    \
    do {                                                                                         \
        unsigned st__ = (x);                                                                     \
        if (st__ != 201)                                                                         \
            fail_msg("line %d: got %u %s (%s)", __LINE__, st__, f->res.code, f->res.message);  \
    } while (0)
#define REJECT(x, want_status, want_code)                                                        \
    do {                                                                                         \
        unsigned st__ = (x);                                                                     \
        if (st__ != (want_status) || strcmp(f->res.code, (want_code)) != 0)                      \
            fail_msg("line %d: got %u %s (%s), want %u %s", __LINE__, st__, f->res.code,        \
                     f->res.message, (unsigned)(want_status), (want_code));                      \
    } while (0)
#define BY(o) &f->k[o], ORG[o]
#define GOV(i) &f->gov[i], ORG[i == 0 ? KCS : i == 1 ? BANK : CHAMBER]

static json_t *member_body(fx *f, int o)
{
    char pk[45];
    ledger_key_public(&f->k[o], pk);
    return json_pack("{s:s,s:s,s:s,s:[s]}", "org", ORG[o], "role", ROLE[o], "name", ORG[o], "keys",
                     pk);
}

static int setup_empty(void **state);

static int setup_service(void **state)
{
    if (setup_empty(state) != 0)
        return -1;
    fx *f = *state;
    for (int i = 0; i < NORG; i++)
        ledger_key_generate(&f->k[i]);
    ledger_governor g[3] = {{"KCS", {0}, &f->gov[0]}, {"BANK", {0}, &f->gov[1]},
                            {"CHAMBER", {0}, NULL}};
    for (int i = 0; i < 3; i++)
        memcpy(g[i].pk, f->gov[i].pk, 32);
    ledger_init(f->lg, "ledger.test.example/unit", 2, g, 3, &f->res);
    if (f->res.status != 201)
        return -1;
    for (int o = 0; o < NORG; o++)
        if (submit(f, "member.register", "KCS", member_body(f, o), 2, GOV(0), GOV(1)) != 201)
            return -1;
    /* this node is Korean customs': it endorses anchors of declarations it holds */
    if (ledger_set_node_key(f->lg, &f->k[KCS]) != CX_OK)
        return -1;
    return 0;
}

static int teardown_service(void **state)
{
    fx *f = *state;
    ledger_result_clear(&f->res);
    ledger_free(f->lg); /* the services before the store they use */
    decl_service_free(f->d);
    store_free(f->s);
    uk_rm_db(f->path);
    free(f);
    return 0;
}

static int64_t count_rows(fx *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_decoder_rejections(void **state)
{
    fx *f = *state;
    int64_t size = ledger_size(f->lg);
    REJECT(submit_text(f, "{\"type\":"), 400, "invalid_json");
    REJECT(submit_text(f, "{\"type\":\"x\",\"type\":\"y\"}"), 400, "invalid_json");
    REJECT(submit_text(f, "[]"), 400, "invalid_entry");
    REJECT(submit_raw(f, "bl.teleport", "OCEANIC", json_object(), OCEANIC), 400, "invalid_entry");
    /* the raw signature (computed by the test from the documented rule) is
     * accepted on a valid entry */
    OK(submit_raw(f, "ipr.register", "ACME",
                  json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "RAW-1", "kind", "trademark",
                            "mark", "RAW", "valid_until", "2030-01-01"),
                  ACME));
    /* a design registration may carry its geometry (issue 14): the mesh hash
     * and the 288-character fingerprint; a trademark may not */
    char fp[289];
    memset(fp, 'A', 288);
    fp[288] = '\0';
    const char *mesh = "2e41ec245f97f0b1bbf3567bf3d75e5370da5c5f03c5fdb623080c646e61c35b";
    OK(submit_raw(f, "ipr.register", "ACME",
                  json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "registration_no", "RCD-1", "kind",
                            "design", "mark", "Rocket", "valid_until", "2030-01-01", "design",
                            "mesh_sha256", mesh, "fingerprint", fp),
                  ACME));
    REJECT(submit_raw(f, "ipr.register", "ACME",
                      json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "registration_no", "TM-D",
                                "kind", "trademark", "mark", "R", "valid_until", "2030-01-01",
                                "design", "mesh_sha256", mesh, "fingerprint", fp),
                      ACME),
           400, "invalid_entry");
    assert_string_equal(json_string_value(json_object_get(json_array_get(f->res.details, 0),
                                                          "path")),
                        "/body/design");
    fp[5] = '+';
    REJECT(submit_raw(f, "ipr.register", "ACME",
                      json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "registration_no", "RCD-2",
                                "kind", "design", "mark", "R", "valid_until", "2030-01-01",
                                "design", "mesh_sha256", mesh, "fingerprint", fp),
                      ACME),
           400, "invalid_entry");
    assert_string_equal(json_string_value(json_object_get(json_array_get(f->res.details, 0),
                                                          "path")),
                        "/body/design/fingerprint");
    /* a body missing fields, with an unknown one: every problem named */
    REJECT(submit_raw(f, "bl.issue", "OCEANIC", json_pack("{s:s,s:i}", "number", "BL-1", "colour", 3),
                      OCEANIC),
           400, "invalid_entry");
    bool unknown = false, missing = false;
    size_t i;
    json_t *d;
    json_array_foreach(f->res.details, i, d)
    {
        const char *p = json_string_value(json_object_get(d, "path"));
        unknown = unknown || strcmp(p, "/body/colour") == 0;
        missing = missing || strcmp(p, "/body/containers") == 0;
    }
    assert_true(unknown && missing);
    /* not signed at all */
    char *t = entry_text(f, "ipr.register", "ACME",
                         json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "TM-1", "kind",
                                   "trademark", "mark", "ACME", "valid_until", "2030-01-01"),
                         0);
    REJECT(submit_text(f, t), 400, "invalid_entry");
    free(t);
    /* the body changed after signing */
    t = entry_text(f, "ipr.register", "ACME",
                   json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "TM-2", "kind", "trademark",
                             "mark", "ACME", "valid_until", "2030-01-01"),
                   1, BY(ACME));
    char *p = strstr(t, "TM-2");
    p[3] = '3';
    REJECT(submit_text(f, t), 403, "bad_signature");
    free(t);
    /* integers a double cannot hold have no canonical form */
    REJECT(submit_text(f, "{\"type\":\"finding\",\"org\":\"KCS\",\"body\":{\"rule\":\"x\","
                          "\"severity\":\"low\",\"summary\":\"s\",\"evidence\":"
                          "[9007199254740993]},\"signatures\":[]}"),
           400, "invalid_entry");
    /* a signature whose base64 is not canonical */
    t = entry_text(f, "ipr.register", "ACME",
                   json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "TM-4", "kind", "trademark",
                             "mark", "ACME", "valid_until", "2030-01-01"),
                   1, BY(ACME));
    p = strstr(t, "==\"");
    assert_non_null(p);
    p[-1] = p[-1] == 'A' ? 'B' : 'A';
    unsigned st = submit_text(f, t);
    assert_true(st == 400 || st == 403);
    free(t);
    /* too large */
    char *big = malloc(LEDGER_MAX_ENTRY + 2);
    memset(big, ' ', LEDGER_MAX_ENTRY + 1);
    big[0] = '{';
    big[LEDGER_MAX_ENTRY] = '}';
    big[LEDGER_MAX_ENTRY + 1] = '\0';
    REJECT(submit_text(f, big), 400, "entry_too_large");
    free(big);
    assert_int_equal(ledger_size(f->lg), size + 2); /* only RAW-1 and RCD-1 were appended */
}

static void test_genesis_and_governance(void **state)
{
    fx *f = *state;
    ledger_governor g = {"KCS", {0}, &f->gov[0]};
    memcpy(g.pk, f->gov[0].pk, 32);
    ledger_result r;
    ledger_init(f->lg, "ledger.test.example/again", 1, &g, 1, &r);
    assert_int_equal(r.status, 409);
    ledger_result_clear(&r);
    ledger_key nk;
    ledger_key_generate(&nk);
    char pk[45];
    ledger_key_public(&nk, pk);
    json_t *b = json_pack("{s:s,s:s,s:s,s:[s]}", "org", "NEWCO", "role", "trader", "name", "New",
                          "keys", pk);
    /* one governance signature of the two needed */
    REJECT(submit(f, "member.register", "KCS", json_incref(b), 1, GOV(0)), 403,
           "policy_unsatisfied");
    /* a member's ordinary key is not a governance key */
    REJECT(submit(f, "member.register", "KCS", json_incref(b), 2, GOV(0), BY(ACME)), 403,
           "not_governor");
    /* a governance key claimed for the wrong holder */
    REJECT(submit(f, "member.register", "KCS", json_incref(b), 2, GOV(0), &f->gov[1], "ACME"), 403,
           "not_governor");
    /* the proposer must be a signing governor */
    REJECT(submit(f, "member.register", "ACME", json_incref(b), 2, GOV(0), GOV(1)), 403,
           "not_authorised");
    OK(submit(f, "member.register", "BANK", json_incref(b), 2, GOV(1), GOV(2)));
    REJECT(submit(f, "member.register", "KCS", b, 2, GOV(0), GOV(1)), 409, "state_conflict");
    /* a key already registered to someone else */
    ledger_key_public(&f->k[ACME], pk);
    REJECT(submit(f, "member.register", "KCS",
                  json_pack("{s:s,s:s,s:s,s:[s]}", "org", "OTHER", "role", "trader", "name", "O",
                            "keys", pk),
                  2, GOV(0), GOV(1)),
           409, "state_conflict");
    /* the new member can sign */
    OK(submit(f, "ipr.register", "NEWCO",
              json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "NEWCO-TM-1", "kind",
                        "trademark", "mark", "NEWCO", "valid_until", "2031-01-01"),
              1, &nk, "NEWCO"));
    /* rotation: a new key, the old one retired */
    ledger_key rk;
    ledger_key_generate(&rk);
    char rpk[45];
    ledger_key_public(&rk, rpk);
    char npk[45];
    ledger_key_public(&nk, npk);
    /* retiring a key that is not the org's */
    REJECT(submit(f, "member.key.rotate", "KCS",
                  json_pack("{s:s,s:s,s:s}", "org", "NEWCO", "add", rpk, "retire", pk), 2, GOV(0),
                  GOV(2)),
           409, "state_conflict");
    OK(submit(f, "member.key.rotate", "KCS",
              json_pack("{s:s,s:s,s:s}", "org", "NEWCO", "add", rpk, "retire", npk), 2, GOV(0),
              GOV(2)));
    REJECT(submit(f, "ipr.register", "NEWCO",
                  json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "NEWCO-TM-2", "kind",
                            "trademark", "mark", "NEWCO", "valid_until", "2031-01-01"),
                  1, &nk, "NEWCO"),
           403, "key_revoked");
    OK(submit(f, "ipr.register", "NEWCO",
              json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "NEWCO-TM-2", "kind",
                        "trademark", "mark", "NEWCO", "valid_until", "2031-01-01"),
              1, &rk, "NEWCO"));
    /* revocation */
    OK(submit(f, "member.key.revoke", "KCS",
              json_pack("{s:s,s:s,s:s}", "org", "NEWCO", "key", rpk, "reason", "laptop stolen"), 2,
              GOV(0), GOV(1)));
    REJECT(submit(f, "member.key.revoke", "KCS", json_pack("{s:s,s:s}", "org", "NEWCO", "key", rpk),
                  2, GOV(0), GOV(1)),
           409, "state_conflict");
    REJECT(submit(f, "ipr.register", "NEWCO",
                  json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "NEWCO-TM-3", "kind",
                            "trademark", "mark", "NEWCO", "valid_until", "2031-01-01"),
                  1, &rk, "NEWCO"),
           403, "key_revoked");
    /* an unknown key, and a key presented for another org */
    ledger_key stranger;
    ledger_key_generate(&stranger);
    REJECT(submit(f, "ipr.register", "ACME",
                  json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "X-1", "kind", "trademark",
                            "mark", "X", "valid_until", "2031-01-01"),
                  1, &stranger, "ACME"),
           403, "unknown_key");
    REJECT(submit(f, "ipr.register", "ACME",
                  json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "X-2", "kind", "trademark",
                            "mark", "X", "valid_until", "2031-01-01"),
                  1, &f->k[SAIGON], "ACME"),
           403, "unknown_key");
    /* the author must sign its own entry */
    REJECT(submit(f, "ipr.register", "ACME",
                  json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "X-3", "kind", "trademark",
                            "mark", "X", "valid_until", "2031-01-01"),
                  1, BY(SAIGON)),
           403, "not_authorised");
}

/* An empty ledger: the store and the service, no genesis yet. */
static int setup_empty(void **state)
{
    fx *f = calloc(1, sizeof *f);
    uk_tmp_path(f->path, "ledger");
    char err[256];
    if (store_open(f->path, &f->s, err, sizeof err) != CX_OK ||
        decl_migrate(f->s, err, sizeof err) != CX_OK ||
        ledger_migrate(f->s, err, sizeof err) != CX_OK)
        return -1;
    f->d = decl_service_new(f->s);
    f->lg = ledger_new(f->s, f->d);
    for (int i = 0; i < 3; i++)
        ledger_key_generate(&f->gov[i]);
    *state = f;
    return 0;
}

static int teardown_service(void **state);

/* Nobody takes over an empty ledger by submitting a genesis: ledger.init is
 * refused whoever signs it, and ledger_init needs threshold governors'
 * signatures. */
static void test_genesis_only_from_init(void **state)
{
    fx *f = *state;
    char pk[45];
    ledger_key_public(&f->gov[0], pk);
    json_t *body = json_pack("{s:s,s:{s:i,s:[{s:s,s:s}]}}", "origin", "ledger.test.example/x",
                             "governance", "threshold", 1, "keys", "holder", "MALLORY", "key",
                             pk);
    /* unsigned, as an API caller could send it */
    char *t = entry_text(f, "ledger.init", "MALLORY", json_deep_copy(body), 0);
    REJECT(submit_text(f, t), 403, "forbidden");
    assert_string_equal(json_string_value(json_object_get(json_array_get(f->res.details, 0),
                                                          "path")),
                        "/type");
    free(t);
    /* signed by the governance key it names itself: still not by submission */
    t = entry_text(f, "ledger.init", "MALLORY", body, 1, &f->gov[0], "MALLORY");
    REJECT(submit_text(f, t), 403, "forbidden");
    free(t);
    assert_int_equal(ledger_size(f->lg), 0);
    /* ledger_init with fewer governors' keys than the threshold */
    ledger_governor g[3] = {{"KCS", {0}, &f->gov[0]}, {"BANK", {0}, NULL},
                            {"CHAMBER", {0}, NULL}};
    for (int i = 0; i < 3; i++)
        memcpy(g[i].pk, f->gov[i].pk, 32);
    ledger_result_clear(&f->res);
    ledger_init(f->lg, "ledger.test.example/x", 2, g, 3, &f->res);
    REJECT(f->res.status, 403, "policy_unsatisfied");
    ledger_result_clear(&f->res);
    g[0].key = NULL;
    ledger_init(f->lg, "ledger.test.example/x", 1, g, 3, &f->res);
    assert_int_equal(f->res.status, 400); /* no signature at all */
    assert_int_equal(ledger_size(f->lg), 0);
    /* a signature by a key listed for another holder */
    g[0].key = &f->gov[1];
    ledger_result_clear(&f->res);
    ledger_init(f->lg, "ledger.test.example/x", 1, g, 3, &f->res);
    REJECT(f->res.status, 403, "not_governor");
    assert_int_equal(ledger_size(f->lg), 0);
    /* two of three governors sign: the genesis is appended and verifies */
    g[0].key = &f->gov[0];
    g[1].key = &f->gov[1];
    ledger_result_clear(&f->res);
    ledger_init(f->lg, "ledger.test.example/x", 2, g, 3, &f->res);
    OK(f->res.status);
    assert_int_equal(ledger_size(f->lg), 1);
    ledger_verify_report rep;
    assert_true(ledger_verify_db(f->path, 1, false, &rep));
}

static json_t *bl_body(const char *number, const char *holder, const char *c1)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s],s:s}", "number", number, "shipper", "Shipper",
                     "holder", holder, "port_of_loading", "VNSGN", "port_of_discharge", "KRPUS",
                     "containers", c1, "issued", "2024-03-01");
}

static void leaf_hex(fx *f, char out[65])
{
    cx_hex(f->res.leaf_hash, 32, out);
}

/* Electronic bills of lading: one holder at a time, no double transfer. */
static void test_bill_of_lading(void **state)
{
    fx *f = *state;
    REJECT(submit(f, "bl.issue", "ACME", bl_body("BL-1", "SAIGON", "CSQU3054383"), 1, BY(ACME)),
           403, "policy_unsatisfied");
    REJECT(submit(f, "bl.issue", "OCEANIC", bl_body("BL-1", "NOBODY", "CSQU3054383"), 1,
                  BY(OCEANIC)),
           409, "state_conflict");
    OK(submit(f, "bl.issue", "OCEANIC", bl_body("BL-1", "SAIGON", "CSQU3054383"), 1, BY(OCEANIC)));
    char prev[65];
    leaf_hex(f, prev);
    REJECT(submit(f, "bl.issue", "OCEANIC", bl_body("BL-1", "SAIGON", "CSQU3054383"), 1,
                  BY(OCEANIC)),
           409, "state_conflict");
    /* only the holder transfers */
    REJECT(submit(f, "bl.transfer", "ACME",
                  json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "ACME", "prev", prev), 1,
                  BY(ACME)),
           403, "not_authorised");
    /* two transfers signed against the same state: the second is a double
     * transfer */
    char *to_bank = entry_text(f, "bl.transfer", "SAIGON",
                               json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "BANK", "prev",
                                         prev),
                               1, BY(SAIGON));
    char *to_acme = entry_text(f, "bl.transfer", "SAIGON",
                               json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "ACME", "prev",
                                         prev),
                               1, BY(SAIGON));
    OK(submit_text(f, to_bank));
    char after_bank[65];
    leaf_hex(f, after_bank);
    REJECT(submit_text(f, to_acme), 403, "not_authorised"); /* SAIGON no longer holds it */
    REJECT(submit_text(f, to_bank), 409, "duplicate_entry"); /* the replay */
    /* the bank passes it back; SAIGON's old transfer to ACME stays stale */
    OK(submit(f, "bl.transfer", "BANK",
              json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "SAIGON", "prev", after_bank), 1,
              BY(BANK)));
    leaf_hex(f, prev);
    REJECT(submit_text(f, to_acme), 409, "state_conflict");
    free(to_bank);
    free(to_acme);
    REJECT(submit(f, "bl.transfer", "SAIGON",
                  json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "SAIGON", "prev", prev), 1,
                  BY(SAIGON)),
           409, "state_conflict");
    REJECT(submit(f, "bl.transfer", "SAIGON",
                  json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "NOBODY", "prev", prev), 1,
                  BY(SAIGON)),
           409, "state_conflict");
    REJECT(submit(f, "bl.transfer", "SAIGON",
                  json_pack("{s:s,s:s,s:s}", "number", "BL-404", "to", "ACME", "prev", prev), 1,
                  BY(SAIGON)),
           409, "state_conflict");
    OK(submit(f, "bl.transfer", "SAIGON",
              json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "ACME", "prev", prev), 1,
              BY(SAIGON)));
    leaf_hex(f, prev);
    /* surrender: the holder, countersigned by the issuing carrier */
    REJECT(submit(f, "bl.surrender", "ACME", json_pack("{s:s,s:s}", "number", "BL-1", "prev", prev),
                  1, BY(ACME)),
           403, "policy_unsatisfied");
    OK(submit(f, "bl.surrender", "ACME", json_pack("{s:s,s:s}", "number", "BL-1", "prev", prev), 2,
              BY(ACME), BY(OCEANIC)));
    leaf_hex(f, prev);
    REJECT(submit(f, "bl.transfer", "OCEANIC",
                  json_pack("{s:s,s:s,s:s}", "number", "BL-1", "to", "ACME", "prev", prev), 1,
                  BY(OCEANIC)),
           409, "state_conflict");
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ledger_bl_events WHERE number='BL-1'"),
                     5);
}

static json_t *coo_body(const char *number, const char *country, const char *hs)
{
    return json_pack("{s:s,s:s,s:s,s:[{s:s}],s:s}", "number", number, "exporter", "Saigon Textile",
                     "country_of_origin", country, "goods", "hs_code", hs, "issued", "2024-03-01");
}

static void test_certificates_aeo_payments(void **state)
{
    fx *f = *state;
    REJECT(submit(f, "coo.issue", "ACME", coo_body("C-1", "VN", "610910"), 1, BY(ACME)), 403,
           "policy_unsatisfied");
    OK(submit(f, "coo.issue", "CHAMBER", coo_body("C-1", "VN", "610910"), 1, BY(CHAMBER)));
    REJECT(submit(f, "coo.issue", "CHAMBER", coo_body("C-1", "VN", "610910"), 1, BY(CHAMBER)),
           409, "state_conflict");
    OK(submit(f, "coo.issue", "CHAMBER2", coo_body("C-1", "VN", "610910"), 1, BY(CHAMBER2)));
    REJECT(submit_raw(f, "coo.issue", "CHAMBER", coo_body("C-2", "XX", "610910"), CHAMBER), 400,
           "invalid_entry");
    REJECT(submit(f, "coo.revoke", "CHAMBER2", json_pack("{s:s,s:s}", "number", "C-9", "reason",
                                                         "typo"),
                  1, BY(CHAMBER2)),
           409, "state_conflict");
    OK(submit(f, "coo.revoke", "CHAMBER", json_pack("{s:s,s:s}", "number", "C-1", "reason", "fraud"),
              1, BY(CHAMBER)));
    REJECT(submit(f, "coo.revoke", "CHAMBER",
                  json_pack("{s:s,s:s}", "number", "C-1", "reason", "again"), 1, BY(CHAMBER)),
           409, "state_conflict");
    /* AEO: granted → suspended → granted → revoked → (not suspended) → granted */
    json_t *aeo = json_pack("{s:s,s:s,s:s}", "operator_id", "IMP-1", "program", "KR-AEO", "status",
                            "suspended");
    REJECT(submit(f, "aeo.status", "KCS", json_incref(aeo), 1, BY(KCS)), 409, "state_conflict");
    REJECT(submit(f, "aeo.status", "ACME", json_incref(aeo), 1, BY(ACME)), 403,
           "policy_unsatisfied");
    static const struct {
        const char *status;
        unsigned want;
    } steps[] = {{"granted", 201},   {"granted", 409}, {"suspended", 201}, {"granted", 201},
                 {"revoked", 201},   {"suspended", 409}, {"granted", 201}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        json_object_set_new(aeo, "status", json_string(steps[i].status));
        assert_int_equal(submit(f, "aeo.status", "KCS", json_deep_copy(aeo), 1, BY(KCS)),
                         steps[i].want);
    }
    json_decref(aeo);
    /* payments need the bank's and customs' signatures */
    json_t *pay = json_pack("{s:s,s:s,s:f,s:s,s:s}", "receipt_no", "R-1", "declaration_id",
                            "D-UNKNOWN", "amount", 100.5, "currency", "USD", "paid_at",
                            "2024-03-02T09:00:00Z");
    REJECT(submit(f, "payment.receipt", "BANK", json_incref(pay), 1, BY(BANK)), 403,
           "policy_unsatisfied");
    REJECT(submit(f, "payment.receipt", "BANK", json_incref(pay), 2, BY(BANK), BY(BANK2)), 403,
           "policy_unsatisfied");
    REJECT(submit(f, "payment.receipt", "KCS", json_incref(pay), 2, BY(KCS), BY(BANK)), 403,
           "policy_unsatisfied");
    OK(submit(f, "payment.receipt", "BANK", json_incref(pay), 2, BY(BANK), BY(KCS)));
    REJECT(submit(f, "payment.receipt", "BANK", json_incref(pay), 2, BY(KCS), BY(BANK)), 409,
           "state_conflict");
    json_object_set_new(pay, "amount", json_real(-5));
    json_object_set_new(pay, "receipt_no", json_string("R-2"));
    REJECT(submit_raw(f, "payment.receipt", "BANK", pay, BANK), 400, "invalid_entry");
    /* parcels, IPR and findings */
    json_t *parcels = json_pack("[{s:s},{s:s}]", "tracking", "P1", "tracking", "P2");
    json_t *body, *salts;
    assert_int_equal(ledger_parcels_body("M-1", parcels, &body, &salts), CX_OK);
    REJECT(submit(f, "parcel.manifest", "BANK", json_deep_copy(body), 1, BY(BANK)), 403,
           "policy_unsatisfied");
    OK(submit(f, "parcel.manifest", "OCEANIC", json_incref(body), 1, BY(OCEANIC)));
    REJECT(submit(f, "parcel.manifest", "OCEANIC", body, 1, BY(OCEANIC)), 409, "state_conflict");
    json_decref(parcels);
    json_decref(salts);
    json_t *ipr = json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "IPR-9", "kind", "design",
                            "mark", "Wave", "valid_until", "2030-01-01");
    OK(submit(f, "ipr.register", "ACME", json_incref(ipr), 1, BY(ACME)));
    REJECT(submit(f, "ipr.register", "SAIGON", ipr, 1, BY(SAIGON)), 409, "state_conflict");
    int64_t size = ledger_size(f->lg);
    REJECT(submit(f, "finding", "ACME",
                  json_pack("{s:s,s:s,s:s}", "rule", "r", "severity", "low", "summary", "s"), 1,
                  BY(ACME)),
           403, "policy_unsatisfied");
    REJECT(submit(f, "finding", "KCS",
                  json_pack("{s:s,s:s,s:s,s:[I]}", "rule", "r", "severity", "low", "summary", "s",
                            "evidence", (json_int_t)size + 5),
                  1, BY(KCS)),
           409, "state_conflict");
    OK(submit(f, "finding", "KCS",
              json_pack("{s:s,s:s,s:s,s:[I]}", "rule", "r", "severity", "low", "summary", "s",
                        "evidence", (json_int_t)size - 1),
              1, BY(KCS)));
    /* without evidence: its details hold an empty list (under ASan, none leaks) */
    OK(submit(f, "finding", "KCS",
              json_pack("{s:s,s:s,s:s}", "rule", "r2", "severity", "low", "summary", "s2"), 1,
              BY(KCS)));
}

/* Governance changes an endorsement policy; the new policy applies from the
 * next entry on. */
static void test_policy_set(void **state)
{
    fx *f = *state;
    OK(submit(f, "bl.issue", "OCEANIC", bl_body("BL-P", "SAIGON", "CSQU3054383"), 1, BY(OCEANIC)));
    char prev[65];
    leaf_hex(f, prev);
    REJECT(submit_text(f, "{\"type\":\"policy.set\",\"org\":\"KCS\",\"body\":{\"type\":"
                          "\"member.register\",\"policy\":{\"authors\":[\"trader\"]}},"
                          "\"signatures\":[]}"),
           400, "invalid_entry");
    OK(submit(f, "policy.set", "KCS",
              json_pack("{s:s,s:{s:[s],s:[{s:s,s:i}]}}", "type", "bl.transfer", "policy",
                        "authors", "trader", "require", "role", "bank", "min", 1),
              2, GOV(0), GOV(1)));
    json_t *t = json_pack("{s:s,s:s,s:s}", "number", "BL-P", "to", "ACME", "prev", prev);
    REJECT(submit(f, "bl.transfer", "SAIGON", json_incref(t), 1, BY(SAIGON)), 403,
           "policy_unsatisfied");
    OK(submit(f, "bl.transfer", "SAIGON", t, 2, BY(SAIGON), BY(BANK)));
    leaf_hex(f, prev);
    /* carriers may no longer author transfers */
    OK(submit(f, "bl.issue", "OCEANIC", bl_body("BL-Q", "OCEANIC", "CSQU3054383"), 1, BY(OCEANIC)));
    leaf_hex(f, prev);
    REJECT(submit(f, "bl.transfer", "OCEANIC",
                  json_pack("{s:s,s:s,s:s}", "number", "BL-Q", "to", "ACME", "prev", prev), 2,
                  BY(OCEANIC), BY(BANK)),
           403, "policy_unsatisfied");
}

/* A rejected entry changes nothing: same size, same state, same root. */
static void test_rejections_change_nothing(void **state)
{
    fx *f = *state;
    OK(submit(f, "bl.issue", "OCEANIC", bl_body("BL-R", "SAIGON", "CSQU3054383"), 1, BY(OCEANIC)));
    uint8_t before[32], after[32];
    int64_t size = ledger_size(f->lg);
    assert_int_equal(ledger_root(f->lg, size, before), CX_OK);
    int64_t bls = count_rows(f, "SELECT count(*) FROM ledger_bls");
    int64_t events = count_rows(f, "SELECT count(*) FROM ledger_bl_events");
    int64_t nodes = count_rows(f, "SELECT count(*) FROM ledger_nodes");
    REJECT(submit(f, "bl.transfer", "SAIGON",
                  json_pack("{s:s,s:s,s:s}", "number", "BL-R", "to", "ACME", "prev",
                            "0000000000000000000000000000000000000000000000000000000000000000"),
                  1, BY(SAIGON)),
           409, "state_conflict");
    REJECT(submit(f, "bl.issue", "OCEANIC", bl_body("BL-R", "SAIGON", "CSQU3054383"), 1,
                  BY(OCEANIC)),
           409, "state_conflict");
    assert_int_equal(ledger_size(f->lg), size);
    assert_int_equal(ledger_root(f->lg, size, after), CX_OK);
    assert_memory_equal(before, after, 32);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ledger_bls"), bls);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ledger_bl_events"), events);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ledger_nodes"), nodes);
    /* a replay with an extra signature is still a replay */
    char *t = entry_text(f, "ipr.register", "ACME",
                         json_pack("{s:s,s:s,s:s,s:s}", "registration_no", "RR-1", "kind",
                                   "trademark", "mark", "RR", "valid_until", "2030-01-01"),
                         1, BY(ACME));
    OK(submit_text(f, t));
    char *t2 = NULL, err[256];
    assert_int_equal(ledger_sign(t, strlen(t), &f->k[SAIGON], "SAIGON", &t2, err, sizeof err),
                     CX_OK);
    REJECT(submit_text(f, t2), 409, "duplicate_entry");
    free(t);
    free(t2);
}

/* ---- findings --------------------------------------------------------------------------------- */

static char *lodge(fx *f, const char *org, const char *ref, const char *type, const char *bl,
                   json_t *containers, const char *hs, const char *origin, double value,
                   double rate, const char *operator_id)
{
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s},s:[{s:s,s:s,s:f,s:f,s:s,s:f}]}",
                            "reference", ref, "type", type, "date", "2024-03-04", "office",
                            strcmp(type, "export") == 0 ? "VNSGN" : "KRPUS", "declarant_id",
                            "DCL-1", "containers", containers, "transport_document", "type", "BL",
                            "number", bl, "items", "hs_code", hs, "country_of_origin", origin,
                            "net_mass_kg", 100.0, "value", value, "currency", "USD", "tax_rate",
                            rate);
    json_object_set_new(doc, strcmp(type, "export") == 0 ? "exporter_id" : "importer_id",
                        json_string(operator_id));
    json_t *problems = json_array();
    if (!decl_validate(doc, problems))
        fail_msg("declaration: %s", json_string_value(json_object_get(json_array_get(problems, 0),
                                                                      "message")));
    json_decref(problems);
    cx_principal who = {.role = CX_ROLE_TRADER};
    snprintf(who.org, sizeof who.org, "%s", org);
    assert_int_equal(decl_store_one(f->d, &who, doc, NULL), CX_OK);
    char *id = strdup(json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    return id;
}

static bool has_finding(const json_t *list, const char *rule)
{
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x) if (strcmp(json_string_value(json_object_get(x, "rule")),
                                              rule) == 0) return true;
    return false;
}

static int64_t findings_for(fx *f, const char *decl_id, const char *rule)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ledger_findings WHERE declaration_id='%s' AND rule='%s'",
             decl_id, rule);
    return count_rows(f, sql);
}

static char *lane_of(fx *f, const char *id)
{
    char *json = NULL;
    assert_int_equal(decl_get(f->d, NULL, id, &json), CX_OK);
    json_t *d = json_loads(json, 0, NULL);
    free(json);
    const char *lane = json_string_value(json_object_get(json_object_get(d, "risk"), "lane"));
    char *out = strdup(lane ? lane : "none");
    json_decref(d);
    return out;
}

static json_t *anchor_of(fx *f, const char *id, json_t **salts)
{
    char *text = NULL;
    assert_int_equal(decl_get(f->d, NULL, id, &text), CX_OK);
    json_t *decl = json_loads(text, 0, NULL), *body = NULL;
    free(text);
    assert_int_equal(ledger_anchor_body(decl, &body, salts), CX_OK);
    json_decref(decl);
    return body;
}

/* An anchor needs the endorsement of the customs administration holding the
 * declaration (the default policy): this node (KCS) signs the anchors of the
 * declarations lodged here, by their declarant, and nobody else's; an anchor
 * of a declaration it does not hold goes unendorsed and the rules refuse it,
 * so no organisation can anchor (and so block) another's declaration. */
static void test_anchor_endorsement(void **state)
{
    fx *f = *state;
    json_t *body = json_pack("{s:s,s:{s:s}}", "declaration_id", "01ELSEWHERE00000000000000A",
                             "fields", "/office",
                             "b1f2b5b1e48d1c7ee0e7c1a0b3d6b1a2c3d4e5f60718293a4b5c6d7e8f901234");
    REJECT(submit(f, "declaration.anchor", "ACME", json_deep_copy(body), 1, BY(ACME)), 403,
           "policy_unsatisfied");
    /* endorsed by a customs member (elsewhere), the rules accept it */
    OK(submit(f, "declaration.anchor", "ACME", body, 2, BY(ACME), BY(KCS)));
    char *d1 = lodge(f, "ACME", "E-1", "import", "BL-E1", json_pack("[s]", "CSQU3054383"),
                     "610910", "VN", 10000, 13, "IMP-1");
    json_t *salts;
    body = anchor_of(f, d1, &salts);
    json_decref(salts);
    /* to anyone but its declarant it is not there (issue 17) */
    REJECT(submit(f, "declaration.anchor", "SAIGON", json_deep_copy(body), 1, BY(SAIGON)), 404,
           "not_found");
    OK(submit(f, "declaration.anchor", "ACME", body, 1, BY(ACME)));
    json_t *e = NULL;
    assert_int_equal(ledger_entry_get(f->lg, f->res.index, &e), CX_OK);
    const json_t *sigs = json_object_get(json_object_get(e, "entry"), "signatures");
    assert_int_equal(json_array_size(sigs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sigs, 1), "org")), "KCS");
    json_decref(e);
    free(d1);
}

/* The checkpoint policy: {"type":"checkpoint","policy":{"threshold":N}}
 * decides when a checkpoint is final (default: the governance threshold). */
static void test_checkpoint_policy(void **state)
{
    fx *f = *state;
    char *note = NULL, err[256];
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[KCS], &note, err, sizeof err), CX_OK);
    free(note);
    json_t *cp = NULL;
    assert_int_equal(ledger_checkpoint_latest(f->lg, &cp), CX_OK);
    assert_int_equal(json_integer_value(json_object_get(cp, "threshold")), 2);
    assert_true(json_is_false(json_object_get(cp, "final")));
    json_decref(cp);
    REJECT(submit(f, "policy.set", "KCS",
                  json_pack("{s:s,s:{s:i,s:[s]}}", "type", "checkpoint", "policy", "threshold", 3,
                            "authors", "customs"),
                  2, GOV(0), GOV(1)),
           400, "invalid_entry");
    REJECT(submit(f, "policy.set", "KCS",
                  json_pack("{s:s,s:{s:[s],s:i}}", "type", "bl.issue", "policy", "authors",
                            "carrier", "threshold", 2),
                  2, GOV(0), GOV(1)),
           400, "invalid_entry");
    OK(submit(f, "policy.set", "KCS",
              json_pack("{s:s,s:{s:i}}", "type", "checkpoint", "policy", "threshold", 1), 2,
              GOV(0), GOV(1)));
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[OCEANIC], &note, err, sizeof err), CX_OK);
    free(note);
    assert_int_equal(ledger_checkpoint_latest(f->lg, &cp), CX_OK);
    assert_int_equal(json_integer_value(json_object_get(cp, "threshold")), 1);
    assert_true(json_is_true(json_object_get(cp, "final")));
    json_decref(cp);
    json_t *trust = NULL;
    assert_int_equal(ledger_trust(f->lg, &trust), CX_OK);
    assert_int_equal(json_integer_value(json_object_get(trust, "checkpoint_quorum")), 1);
    assert_int_equal(strlen(json_string_value(json_object_get(trust, "genesis"))), 64);
    json_decref(trust);
}

static void test_findings_certificates(void **state)
{
    fx *f = *state;
    char *d1 = lodge(f, "ACME", "F-1", "import", "BL-F1", json_pack("[s]", "CSQU3054383"),
                     "610910", "VN", 10000, 13, "IMP-1");
    OK(submit(f, "coo.issue", "CHAMBER", coo_body("C-CN", "CN", "610910"), 1, BY(CHAMBER)));
    json_t *salts;
    json_t *body = anchor_of(f, d1, &salts);
    json_decref(salts);
    json_object_set_new(body, "certificates",
                        json_pack("[{s:s,s:s},{s:s,s:s}]", "issuer", "CHAMBER", "number", "C-CN",
                                  "issuer", "CHAMBER", "number", "C-NONE"));
    /* only the declarant may anchor: to anyone else the declaration is not
     * there (404, naming no other organisation) */
    REJECT(submit(f, "declaration.anchor", "SAIGON", json_deep_copy(body), 1, BY(SAIGON)), 404,
           "not_found");
    OK(submit(f, "declaration.anchor", "ACME", json_deep_copy(body), 1, BY(ACME)));
    assert_true(has_finding(f->res.findings, "origin_mismatch"));
    assert_true(has_finding(f->res.findings, "certificate_unknown"));
    assert_false(has_finding(f->res.findings, "revoked_certificate_used"));
    char *lane = lane_of(f, d1);
    assert_string_equal(lane, "red");
    free(lane);
    REJECT(submit(f, "declaration.anchor", "ACME", body, 1, BY(ACME)), 409, "state_conflict");
    /* revoked after use */
    OK(submit(f, "coo.revoke", "CHAMBER",
              json_pack("{s:s,s:s}", "number", "C-CN", "reason", "issued on false documents"), 1,
              BY(CHAMBER)));
    assert_true(has_finding(f->res.findings, "revoked_certificate_used"));
    assert_int_equal(findings_for(f, d1, "revoked_certificate_used"), 1);
    /* used after revocation; a matching origin raises no mismatch */
    char *d2 = lodge(f, "ACME", "F-2", "import", "BL-F2", json_pack("[s]", "CSQU3054383"),
                     "610910", "CN", 10000, 13, "IMP-1");
    body = anchor_of(f, d2, &salts);
    json_decref(salts);
    json_object_set_new(body, "certificates",
                        json_pack("[{s:s,s:s}]", "issuer", "CHAMBER", "number", "C-CN"));
    OK(submit(f, "declaration.anchor", "ACME", body, 1, BY(ACME)));
    assert_true(has_finding(f->res.findings, "revoked_certificate_used"));
    assert_false(has_finding(f->res.findings, "origin_mismatch"));
    /* a clean anchor raises nothing and leaves the lane alone */
    char *d3 = lodge(f, "ACME", "F-3", "import", "BL-F3", json_pack("[s]", "CSQU3054383"),
                     "610910", "VN", 10000, 13, "IMP-1");
    OK(submit(f, "coo.issue", "CHAMBER", coo_body("C-VN", "VN", "610910"), 1, BY(CHAMBER)));
    body = anchor_of(f, d3, &salts);
    json_decref(salts);
    json_object_set_new(body, "certificates",
                        json_pack("[{s:s,s:s}]", "issuer", "CHAMBER", "number", "C-VN"));
    OK(submit(f, "declaration.anchor", "ACME", body, 1, BY(ACME)));
    assert_int_equal(json_array_size(f->res.findings), 0);
    lane = lane_of(f, d3);
    assert_string_equal(lane, "none");
    free(lane);
    free(d1);
    free(d2);
    free(d3);
}

static void test_findings_containers_payments_aeo_mirror(void **state)
{
    fx *f = *state;
    char c[4][12];
    for (int i = 0; i < 4; i++) {
        char first[11];
        snprintf(first, sizeof first, "MSKU%06d", 100000 + i * 37);
        snprintf(c[i], sizeof c[i], "%s%d", first, decl_iso6346_check_digit(first));
    }
    /* the bill first, then a declaration listing a container it lacks */
    OK(submit(f, "bl.issue", "OCEANIC", bl_body("BL-C1", "ACME", c[0]), 1, BY(OCEANIC)));
    char *d1 = lodge(f, "ACME", "C-1", "import", "BL-C1", json_pack("[s,s]", c[0], c[1]), "610910",
                     "VN", 1000, 10, "IMP-2");
    assert_int_equal(findings_for(f, d1, "containers_not_on_bl"), 1);
    /* the declaration first, then its bill */
    char *d2 = lodge(f, "ACME", "C-2", "import", "BL-C2", json_pack("[s,s]", c[2], c[3]), "610910",
                     "VN", 1000, 10, "IMP-2");
    OK(submit(f, "bl.issue", "OCEANIC", bl_body("BL-C2", "ACME", c[2]), 1, BY(OCEANIC)));
    assert_true(has_finding(f->res.findings, "containers_not_on_bl"));
    /* a declaration whose containers are all on the bill: nothing */
    char *d3 = lodge(f, "ACME", "C-3", "import", "BL-C1", json_pack("[s]", c[0]), "610910", "VN",
                     1000, 10, "IMP-2");
    assert_int_equal(findings_for(f, d3, "containers_not_on_bl"), 0);
    /* payments below the assessed duty (10% of 1000) */
    json_t *pay = json_pack("{s:s,s:s,s:f,s:s,s:s}", "receipt_no", "P-1", "declaration_id", d3,
                            "amount", 60.0, "currency", "USD", "paid_at", "2024-03-02T09:00:00Z");
    OK(submit(f, "payment.receipt", "BANK", pay, 2, BY(BANK), BY(KCS)));
    assert_true(has_finding(f->res.findings, "payment_below_duty"));
    pay = json_pack("{s:s,s:s,s:f,s:s,s:s}", "receipt_no", "P-2", "declaration_id", d3, "amount",
                    40.0, "currency", "USD", "paid_at", "2024-03-02T10:00:00Z");
    OK(submit(f, "payment.receipt", "BANK", pay, 2, BY(BANK), BY(KCS)));
    assert_int_equal(json_array_size(f->res.findings), 0); /* now paid in full */
    /* a suspended AEO named in a declaration (any administration's status) */
    OK(submit(f, "aeo.status", "KCS",
              json_pack("{s:s,s:s,s:s}", "operator_id", "IMP-9", "program", "KR-AEO", "status",
                        "granted"),
              1, BY(KCS)));
    char *d4 = lodge(f, "ACME", "A-1", "import", "BL-A1", json_pack("[s]", c[0]), "610910", "VN",
                     1000, 10, "IMP-9");
    assert_int_equal(findings_for(f, d4, "suspended_aeo_used"), 0);
    OK(submit(f, "aeo.status", "KCS",
              json_pack("{s:s,s:s,s:s,s:s}", "operator_id", "IMP-9", "program", "KR-AEO", "status",
                        "suspended", "reason", "audit"),
              1, BY(KCS)));
    char *d5 = lodge(f, "ACME", "A-2", "import", "BL-A2", json_pack("[s]", c[0]), "610910", "VN",
                     1000, 10, "IMP-9");
    assert_int_equal(findings_for(f, d5, "suspended_aeo_used"), 1);
    /* mirror trade: within the tolerance nothing, beyond it a finding on
     * the arriving declaration (the import here), which takes the red lane */
    char *e1 = lodge(f, "SAIGON", "M-1X", "export", "BL-M1", json_pack("[s]", c[1]), "610910", "VN",
                     10000, 0, "EXP-1");
    char *i1 = lodge(f, "ACME", "M-1", "import", "BL-M1", json_pack("[s]", c[1]), "610910", "VN",
                     9200, 13, "IMP-3");
    assert_int_equal(findings_for(f, i1, "mirror_value_mismatch"), 0);
    char *e2 = lodge(f, "SAIGON", "M-2X", "export", "BL-M2", json_pack("[s]", c[1]), "610910", "VN",
                     10000, 0, "EXP-1");
    char *i2 = lodge(f, "ACME", "M-2", "import", "BL-M2", json_pack("[s]", c[1]), "610910", "VN",
                     6000, 13, "IMP-3");
    assert_int_equal(findings_for(f, i2, "mirror_value_mismatch"), 1);
    char *lane = lane_of(f, i2);
    assert_string_equal(lane, "red");
    free(lane);
    /* anchoring the export later finds the same pair: recorded once */
    json_t *salts;
    json_t *body = anchor_of(f, e2, &salts);
    json_decref(salts);
    OK(submit(f, "declaration.anchor", "SAIGON", body, 1, BY(SAIGON)));
    assert_false(has_finding(f->res.findings, "mirror_value_mismatch"));
    assert_int_equal(findings_for(f, i2, "mirror_value_mismatch"), 1);
    char *ids[] = {d1, d2, d3, d4, d5, e1, i1, e2, i2};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        free(ids[i]);
}

/* Subjects, messages and details of a declaration's findings of a rule,
 * one line each (caller frees). */
static char *finding_texts(fx *f, const char *decl_id, const char *rule)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT subject || ' ' || message || ' ' || details "
                                            "|| ' ' || coalesce(entry_idx, '') FROM "
                                            "ledger_findings WHERE declaration_id=?1 AND rule=?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, decl_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rule, -1, SQLITE_STATIC);
    cx_buf b;
    cx_buf_init(&b, 1 << 16);
    while (sqlite3_step(st) == SQLITE_ROW)
        assert_int_equal(cx_buf_printf(&b, "%s\n", (const char *)sqlite3_column_text(st, 0)),
                         CX_OK);
    sqlite3_finalize(st);
    sqlite3_close(db);
    char *out = strndup(b.data ? b.data : "", b.len);
    cx_buf_free(&b);
    return out;
}

static char *risk_of(fx *f, const char *id)
{
    char *json = NULL;
    assert_int_equal(decl_get(f->d, NULL, id, &json), CX_OK);
    json_t *d = json_loads(json, 0, NULL);
    free(json);
    json_t *risk = json_object_get(d, "risk");
    char *out = risk ? cx_json_dump(risk, NULL) : strdup("");
    json_decref(d);
    return out;
}

/* A trader cannot move a competitor's declaration, nor learn its content,
 * by lodging a mismatching mirror declaration of the same transport
 * document: only the arriving declaration's lane is raised, and neither
 * finding names or quotes the other declaration. */
static void test_mirror_other_org(void **state)
{
    fx *f = *state;
    char c[12], first[11];
    snprintf(first, sizeof first, "MSKU%06d", 424242);
    snprintf(c, sizeof c, "%s%d", first, decl_iso6346_check_digit(first));
    char *imp = lodge(f, "ACME", "V-1", "import", "BL-V1", json_pack("[s]", c), "610910", "VN",
                      12345.67, 13, "IMP-7");
    char *exp = lodge(f, "SAIGON", "V-1X", "export", "BL-V1", json_pack("[s]", c), "610910", "VN",
                      98.76, 0, "EXP-7");
    /* recorded on both for officers; only the export, which arrived, is red */
    assert_int_equal(findings_for(f, imp, "mirror_value_mismatch"), 1);
    assert_int_equal(findings_for(f, exp, "mirror_value_mismatch"), 1);
    char *lane = lane_of(f, imp);
    assert_string_equal(lane, "none");
    free(lane);
    lane = lane_of(f, exp);
    assert_string_equal(lane, "red");
    free(lane);
    /* what each side reads says how far apart, never whose, where or how much */
    char *ti = finding_texts(f, imp, "mirror_value_mismatch");
    char *te = finding_texts(f, exp, "mirror_value_mismatch");
    char *re = risk_of(f, exp), *ri = risk_of(f, imp);
    assert_non_null(strstr(te, "99.2%"));
    assert_null(strstr(ti, exp));
    assert_null(strstr(ti, "98.76"));
    assert_null(strstr(ti, "VNSGN"));
    assert_null(strstr(te, imp));
    assert_null(strstr(te, "12345"));
    assert_null(strstr(te, "KRPUS"));
    assert_non_null(strstr(re, "ledger.mirror_value_mismatch"));
    assert_null(strstr(re, imp));
    assert_null(strstr(re, "12345"));
    assert_null(strstr(re, "KRPUS"));
    assert_null(strstr(ri, "mirror"));
    free(ti);
    free(te);
    free(re);
    free(ri);
    /* anchoring either one later moves nothing: the pair is recorded */
    json_t *salts;
    json_t *body = anchor_of(f, imp, &salts);
    json_decref(salts);
    OK(submit(f, "declaration.anchor", "ACME", body, 1, BY(ACME)));
    assert_false(has_finding(f->res.findings, "mirror_value_mismatch"));
    body = anchor_of(f, exp, &salts);
    json_decref(salts);
    OK(submit(f, "declaration.anchor", "SAIGON", body, 1, BY(SAIGON)));
    assert_false(has_finding(f->res.findings, "mirror_value_mismatch"));
    lane = lane_of(f, imp);
    assert_string_equal(lane, "none");
    free(lane);
    assert_int_equal(findings_for(f, imp, "mirror_value_mismatch"), 1);
    free(imp);
    free(exp);
}

/* ---- proofs, checkpoints, verification from the store ----------------------------------------- */

static void add_iprs(fx *f, int n, const char *prefix)
{
    for (int i = 0; i < n; i++) {
        char reg[40];
        snprintf(reg, sizeof reg, "%s-%d", prefix, i);
        OK(submit(f, "ipr.register", "ACME",
                  json_pack("{s:s,s:s,s:s,s:s}", "registration_no", reg, "kind", "trademark",
                            "mark", "M", "valid_until", "2030-01-01"),
                  1, BY(ACME)));
    }
}

static void hexpath(const json_t *arr, uint8_t out[][32], size_t *n)
{
    *n = json_array_size(arr);
    for (size_t i = 0; i < *n; i++)
        assert_true(cx_unhex(json_string_value(json_array_get(arr, i)), out[i], 32));
}

static void test_store_proofs(void **state)
{
    fx *f = *state;
    add_iprs(f, 70, "PR");
    int64_t n = ledger_size(f->lg);
    assert_true(n > 64);
    uint8_t path[LEDGER_TREE_LEVELS * 2][32];
    size_t k;
    static const int64_t sizes[] = {1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 65, 0};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t size = sizes[si] ? sizes[si] : n;
        if (size > n)
            continue;
        uint8_t root[32];
        assert_int_equal(ledger_root(f->lg, size, root), CX_OK);
        for (int64_t i = 0; i < size; i++) {
            json_t *p = NULL, *e = NULL;
            assert_int_equal(ledger_proof(f->lg, i, size, &p), CX_OK);
            assert_int_equal(ledger_entry_get(f->lg, i, &e), CX_OK);
            /* the leaf is the canonical text the API hands out */
            const char *canon = json_string_value(json_object_get(e, "canonical"));
            uint8_t leaf[32];
            ledger_leaf_hash(canon, strlen(canon), leaf);
            hexpath(json_object_get(p, "audit_path"), path, &k);
            assert_true(ledger_verify_inclusion((uint64_t)i, (uint64_t)size, leaf,
                                                (const uint8_t(*)[32])path, k, root));
            json_decref(p);
            json_decref(e);
        }
        for (int64_t m = 1; m <= size; m += 3) {
            json_t *c = NULL;
            uint8_t r1[32];
            assert_int_equal(ledger_consistency(f->lg, m, size, &c), CX_OK);
            assert_int_equal(ledger_root(f->lg, m, r1), CX_OK);
            hexpath(json_object_get(c, "proof"), path, &k);
            assert_true(ledger_verify_consistency((uint64_t)m, (uint64_t)size, r1, root,
                                                  (const uint8_t(*)[32])path, k));
            json_decref(c);
        }
    }
    json_t *p = NULL;
    assert_int_equal(ledger_proof(f->lg, n, 0, &p), CX_EINVAL);
    assert_int_equal(ledger_proof(f->lg, 3, n + 1, &p), CX_EINVAL);
    assert_int_equal(ledger_consistency(f->lg, 0, n, &p), CX_EINVAL);
}

static void test_checkpoints(void **state)
{
    fx *f = *state;
    json_t *cp = NULL;
    assert_int_equal(ledger_checkpoint_latest(f->lg, &cp), CX_ENOTFOUND);
    char *note = NULL, err[256];
    ledger_key stranger;
    ledger_key_generate(&stranger);
    assert_int_equal(ledger_checkpoint_sign(f->lg, &stranger, &note, err, sizeof err), CX_EAUTH);
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[KCS], &note, err, sizeof err), CX_OK);
    free(note);
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[OCEANIC], &note, err, sizeof err), CX_OK);
    /* the note is a C2SP checkpoint with two lines of cosignatures */
    char head[256];
    uint8_t root[32];
    int64_t n = ledger_size(f->lg);
    assert_int_equal(ledger_root(f->lg, n, root), CX_OK);
    char b64[45];
    sodium_bin2base64(b64, sizeof b64, root, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(head, sizeof head, "ledger.test.example/unit\n%lld\n%s\n\n", (long long)n, b64);
    assert_memory_equal(note, head, strlen(head));
    char line[256];
    head[strlen(head) - 1] = '\0'; /* the signed text ends at the third newline */
    ledger_note_sign("KCS", &f->k[KCS], head, line, sizeof line);
    assert_non_null(strstr(note, line));
    ledger_note_sign("OCEANIC", &f->k[OCEANIC], head, line, sizeof line);
    assert_non_null(strstr(note, line));
    free(note);
    assert_int_equal(ledger_checkpoint_latest(f->lg, &cp), CX_OK);
    assert_int_equal(json_integer_value(json_object_get(cp, "tree_size")), n);
    assert_int_equal(json_array_size(json_object_get(cp, "cosignatures")), 2);
    json_decref(cp);
    /* a larger tree starts a new checkpoint */
    add_iprs(f, 3, "CP");
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[BANK], &note, err, sizeof err), CX_OK);
    free(note);
    assert_int_equal(ledger_checkpoint_latest(f->lg, &cp), CX_OK);
    assert_int_equal(json_integer_value(json_object_get(cp, "tree_size")), n + 3);
    assert_int_equal(json_array_size(json_object_get(cp, "cosignatures")), 1);
    json_decref(cp);
    ledger_verify_report rep;
    assert_true(ledger_verify_db(f->path, 2, false, &rep));
    assert_int_equal(rep.entries, n + 3);
    assert_int_equal(rep.checkpoints, 2);
}

static void sql_exec(fx *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    assert_true(sqlite3_changes(db) > 0);
    sqlite3_close(db);
}

static void expect_bad(fx *f, int64_t index, const char *why_part)
{
    ledger_verify_report rep;
    assert_false(ledger_verify_db(f->path, 2, false, &rep));
    if (rep.bad_index != index || (why_part && !strstr(rep.why, why_part)))
        fail_msg("bad index %lld (%s), want %lld (%s)", (long long)rep.bad_index, rep.why,
                 (long long)index, why_part ? why_part : "");
}

/* Any change to a stored entry, hash, node or checkpoint is found and
 * located; the repaired database verifies again. */
static void test_verify_tampering(void **state)
{
    fx *f = *state;
    add_iprs(f, 20, "TV");
    char *note = NULL, err[256];
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[KCS], &note, err, sizeof err), CX_OK);
    free(note);
    ledger_verify_report rep;
    assert_true(ledger_verify_db(f->path, 2, false, &rep));
    /* a changed body: the leaf hash no longer matches */
    sql_exec(f, "UPDATE ledger_entries SET entry=replace(entry,'TV-7','TV-8') WHERE idx=(SELECT idx "
                "FROM ledger_entries WHERE entry LIKE '%TV-7\"%')");
    int64_t at = count_rows(f, "SELECT idx FROM ledger_entries WHERE entry LIKE '%\"TV-8\"%' "
                               "ORDER BY idx LIMIT 1");
    expect_bad(f, at, "leaf hash");
    /* the attacker also rewrites the leaf hash: the signature gives it away */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT entry FROM ledger_entries WHERE idx=?1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, at);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    uint8_t leaf[32];
    ledger_leaf_hash(sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0), leaf);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE ledger_entries SET leaf_hash=?2 WHERE idx=?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, at);
    sqlite3_bind_blob(st, 2, leaf, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    expect_bad(f, at, NULL);
    sql_exec(f, "UPDATE ledger_entries SET entry=replace(entry,'TV-8','TV-7') WHERE entry LIKE "
                "'%\"TV-8\"%' AND idx=(SELECT min(idx) FROM ledger_entries WHERE entry LIKE "
                "'%\"TV-8\"%')");
    expect_bad(f, at, "leaf hash"); /* the hash we wrote no longer matches */
    /* restore the hash from the bytes */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT entry FROM ledger_entries WHERE idx=?1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, at);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    ledger_leaf_hash(sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0), leaf);
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "UPDATE ledger_entries SET leaf_hash=?2 WHERE idx=?1", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, at);
    sqlite3_bind_blob(st, 2, leaf, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(ledger_verify_db(f->path, 2, false, &rep));
    /* whitespace is a change too: not canonical */
    sql_exec(f, "UPDATE ledger_entries SET entry=replace(entry,'\"TV-3\"','\"TV-3\" ') WHERE "
                "entry LIKE '%\"TV-3\"%'");
    at = count_rows(f, "SELECT idx FROM ledger_entries WHERE entry LIKE '%\"TV-3\" %'");
    expect_bad(f, at, "canonical");
    sql_exec(f, "UPDATE ledger_entries SET entry=replace(entry,'\"TV-3\" ','\"TV-3\"') WHERE "
                "entry LIKE '%\"TV-3\" %'");
    assert_true(ledger_verify_db(f->path, 2, false, &rep));
    /* a checkpoint whose root is not the tree's */
    sql_exec(f, "UPDATE ledger_checkpoints SET root=zeroblob(32)");
    expect_bad(f, -1, "does not match the recomputed root");
    sql_exec(f, "DELETE FROM ledger_checkpoints");
    assert_true(ledger_verify_db(f->path, 2, false, &rep));
    /* a node of the tree: named by the entries it covers */
    sql_exec(f, "UPDATE ledger_nodes SET hash=zeroblob(32) WHERE id=(2 << 48) | 3");
    expect_bad(f, 12, "tree node over entries 12..15");
    sql_exec(f, "DELETE FROM ledger_nodes WHERE id=(2 << 48) | 3");
    expect_bad(f, -1, "stored nodes");
    /* an entry removed from the middle */
    sql_exec(f, "DELETE FROM ledger_entries WHERE idx=17");
    expect_bad(f, 17, "missing");
}

/* ---- bundles ---------------------------------------------------------------------------------- */

static void test_bundles(void **state)
{
    fx *f = *state;
    char *d1 = lodge(f, "ACME", "B-1", "import", "BL-B1", json_pack("[s]", "CSQU3054383"),
                     "610910", "VN", 12400.5, 13, "IMP-1");
    json_t *salts;
    json_t *body = anchor_of(f, d1, &salts);
    OK(submit(f, "declaration.anchor", "ACME", body, 1, BY(ACME)));
    int64_t idx = f->res.index;
    assert_int_equal(ledger_salts_put(f->lg, idx, salts), CX_OK);
    json_decref(salts);
    char *note = NULL, err[256];
    const char *fields[] = {"/items/0/country_of_origin", "/items/0/value"};
    json_t *b = NULL;
    /* no checkpoint yet */
    assert_int_equal(ledger_bundle(f->lg, idx, fields, 2, &b, err, sizeof err), CX_ESTATE);
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[KCS], &note, err, sizeof err), CX_OK);
    free(note);
    assert_int_equal(ledger_checkpoint_sign(f->lg, &f->k[BANK], &note, err, sizeof err), CX_OK);
    free(note);
    assert_int_equal(ledger_bundle(f->lg, idx, fields, 2, &b, err, sizeof err), CX_OK);
    json_t *trust = NULL;
    assert_int_equal(ledger_trust(f->lg, &trust), CX_OK);
    char report[1024];
    if (!ledger_bundle_verify(b, trust, 0, report, sizeof report))
        fail_msg("%s", report);
    assert_non_null(strstr(report, "/items/0/country_of_origin = \"VN\""));
    assert_non_null(strstr(report, "/items/0/value = 12400.5"));
    /* a wrong value, a wrong salt, a field moved under another name */
    json_t *x = json_deep_copy(b);
    json_object_set_new(json_array_get(json_object_get(x, "disclosed"), 0), "value",
                        json_string("KR"));
    assert_false(ledger_bundle_verify(x, trust, 0, report, sizeof report));
    assert_non_null(strstr(report, "does not match its commitment"));
    json_decref(x);
    x = json_deep_copy(b);
    json_object_set_new(json_array_get(json_object_get(x, "disclosed"), 0), "salt",
                        json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    assert_false(ledger_bundle_verify(x, trust, 0, report, sizeof report));
    json_decref(x);
    x = json_deep_copy(b);
    json_object_set_new(json_array_get(json_object_get(x, "disclosed"), 0), "name",
                        json_string("/items/0/hs_code"));
    assert_false(ledger_bundle_verify(x, trust, 0, report, sizeof report));
    json_decref(x);
    /* the author's key replaced in the trust file */
    x = json_deep_copy(trust);
    size_t i;
    json_t *m;
    char other[45];
    ledger_key_public(&f->k[SAIGON], other);
    json_array_foreach(json_object_get(x, "members"), i, m) if (
        strcmp(json_string_value(json_object_get(m, "org")), "ACME") == 0)
        json_object_set_new(m, "keys", json_pack("[s]", other));
    assert_false(ledger_bundle_verify(b, x, 0, report, sizeof report));
    assert_non_null(strstr(report, "not one of ACME's trusted keys"));
    json_decref(x);
    /* a cosigner the verifier does not trust: the quorum fails */
    x = json_deep_copy(trust);
    json_array_foreach(json_object_get(x, "members"), i, m) if (
        strcmp(json_string_value(json_object_get(m, "org")), "BANK") == 0)
        json_object_set_new(m, "keys", json_pack("[s]", other));
    assert_false(ledger_bundle_verify(b, x, 0, report, sizeof report));
    assert_non_null(strstr(report, "cosigned by 1 trusted organisation"));
    json_decref(x);
    assert_false(ledger_bundle_verify(b, trust, 3, report, sizeof report));
    /* a tampered proof, entry or checkpoint */
    x = json_deep_copy(b);
    json_t *path = json_object_get(json_object_get(x, "proof"), "audit_path");
    json_array_set_new(path, 0,
                       json_string("0000000000000000000000000000000000000000000000000000000000000000"));
    assert_false(ledger_bundle_verify(x, trust, 0, report, sizeof report));
    json_decref(x);
    x = json_deep_copy(b);
    char *entry = strdup(json_string_value(json_object_get(x, "entry")));
    char *hit = strstr(entry, "\"declaration_id\":\"");
    hit[20] = hit[20] == 'A' ? 'B' : 'A';
    json_object_set_new(x, "entry", json_string(entry));
    free(entry);
    assert_false(ledger_bundle_verify(x, trust, 0, report, sizeof report));
    json_decref(x);
    x = json_deep_copy(b);
    char *cpn = strdup(json_string_value(json_object_get(x, "checkpoint")));
    char *nl = strchr(cpn, '\n');
    nl[1] = nl[1] == '9' ? '8' : '9'; /* another tree size */
    json_object_set_new(x, "checkpoint", json_string(cpn));
    free(cpn);
    assert_false(ledger_bundle_verify(x, trust, 0, report, sizeof report));
    json_decref(x);
    /* erasure: once the salt is gone the field cannot be disclosed */
    int64_t gone = 0;
    assert_int_equal(ledger_salts_erase(f->lg, idx, "/items/0/value", &gone), CX_OK);
    assert_int_equal(gone, 1);
    json_t *b2 = NULL;
    assert_int_equal(ledger_bundle(f->lg, idx, fields, 2, &b2, err, sizeof err), CX_ENOTFOUND);
    assert_int_equal(ledger_salts_erase(f->lg, idx, NULL, &gone), CX_OK);
    assert_true(gone > 10);
    assert_int_equal(ledger_bundle(f->lg, idx, fields, 1, &b2, err, sizeof err), CX_ENOTFOUND);
    /* the log itself still verifies, and so does a bundle disclosing nothing */
    assert_int_equal(ledger_bundle(f->lg, idx, NULL, 0, &b2, err, sizeof err), CX_OK);
    assert_true(ledger_bundle_verify(b2, trust, 0, report, sizeof report));
    ledger_verify_report rep;
    assert_true(ledger_verify_db(f->path, 2, false, &rep));
    json_decref(b2);
    json_decref(b);
    json_decref(trust);
    free(d1);
}

/* ---- concurrency ------------------------------------------------------------------------------- */

typedef struct {
    fx *f;
    int t;
    int accepted;
} worker_arg;

static void *submit_worker(void *arg)
{
    worker_arg *w = arg;
    for (int i = 0; i < 60; i++) {
        char reg[40], t[40];
        snprintf(reg, sizeof reg, "W%d-%d", w->t, i);
        snprintf(t, sizeof t, "2024-03-01T11:00:00Z");
        json_t *env = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:[]}", "type", "ipr.register",
                                "org", "ACME", "time", t, "body", "registration_no", reg, "kind",
                                "trademark", "mark", "W", "valid_until", "2030-01-01",
                                "signatures");
        char *text = sign_raw(env, &w->f->k[ACME], "ACME");
        json_decref(env);
        ledger_result r;
        ledger_submit(w->f->lg, text, strlen(text), &r);
        if (r.status == 201)
            w->accepted++;
        ledger_result_clear(&r);
        free(text);
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    fx *f = *state;
    int64_t before = ledger_size(f->lg);
    pthread_t th[4];
    worker_arg w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_arg){f, i, 0};
        pthread_create(&th[i], NULL, submit_worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].accepted, 60);
    }
    assert_int_equal(ledger_size(f->lg), before + 240);
    ledger_verify_report rep;
    assert_true(ledger_verify_db(f->path, 2, false, &rep));
    uint8_t root[32];
    assert_int_equal(ledger_root(f->lg, before + 240, root), CX_OK);
    assert_memory_equal(root, rep.root, 32);
}
/* Writes text to a 0600 secret file at path. */
static void write_secret(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* A token file is read to its first line end: what follows a short first
 * line (however long) is not a reason to refuse it (review R4); a first
 * line too long or empty still is. Nothing listens on port 1, so a file
 * that is accepted fails on the connection instead. */
static void test_nats_token_file_first_line(void **state)
{
    (void)state;
    char path[64], err[512], big[2100];
    uk_tmp_path(path, "token");
    ledger_nats_auth a = {.token_file = path};
    json_t *out = NULL;
    memset(big, '0', sizeof big);
    memcpy(big, "tok\n", 4); /* 4 + 2,096 bytes: the whole file is over 1,023 */
    write_secret(path, big, sizeof big);
    assert_int_not_equal(ledger_net_status("nats://127.0.0.1:1", &a, NULL, &out, err, sizeof err),
                         CX_OK);
    assert_null(strstr(err, "first line"));
    assert_non_null(strstr(err, "127.0.0.1:1"));
    memcpy(big + 1090, "\n# comment\n", 11); /* and a second line after it */
    write_secret(path, big, sizeof big);
    assert_int_not_equal(ledger_net_status("nats://127.0.0.1:1", &a, NULL, &out, err, sizeof err),
                         CX_OK);
    assert_null(strstr(err, "first line"));
    /* a first line of 1,100 characters, and an empty one, are refused */
    memset(big, 'x', sizeof big);
    big[1100] = '\n';
    write_secret(path, big, sizeof big);
    assert_int_equal(ledger_net_status("nats://127.0.0.1:1", &a, NULL, &out, err, sizeof err),
                     CX_EINVAL);
    assert_non_null(strstr(err, "first line"));
    write_secret(path, "\nsecond\n", 8);
    assert_int_equal(ledger_net_status("nats://127.0.0.1:1", &a, NULL, &out, err, sizeof err),
                     CX_EINVAL);
    assert_non_null(strstr(err, "first line"));
    assert_null(out);
    unlink(path);
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
        cmocka_unit_test(test_nats_token_file_first_line),
        cmocka_unit_test(test_jcs_rfc_examples),
        cmocka_unit_test(test_jcs_numbers),
        cmocka_unit_test(test_jcs_key_order),
        cmocka_unit_test(test_merkle_ct_vectors),
        cmocka_unit_test(test_merkle_rfc_examples),
        cmocka_unit_test(test_merkle_sizes_1_to_64),
        cmocka_unit_test(test_note_go_vector),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test_setup_teardown(test_decoder_rejections, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_genesis_and_governance, setup_service,
                                        teardown_service),
        cmocka_unit_test_setup_teardown(test_genesis_only_from_init, setup_empty,
                                        teardown_service),
        cmocka_unit_test_setup_teardown(test_bill_of_lading, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_certificates_aeo_payments, setup_service,
                                        teardown_service),
        cmocka_unit_test_setup_teardown(test_policy_set, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_anchor_endorsement, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_checkpoint_policy, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_rejections_change_nothing, setup_service,
                                        teardown_service),
        cmocka_unit_test_setup_teardown(test_findings_certificates, setup_service,
                                        teardown_service),
        cmocka_unit_test_setup_teardown(test_findings_containers_payments_aeo_mirror,
                                        setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_mirror_other_org, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_store_proofs, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_checkpoints, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_verify_tampering, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_bundles, setup_service, teardown_service),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup_service, teardown_service),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
