/* Entries: decoding, the canonical form, the signing hash and signatures.
 *
 * signing hash = SHA-256("customs.ledger.entry.v1" || 0x00 || JCS(entry
 * without "signatures")); every signature is Ed25519 over those 32 bytes.
 * The leaf data of the Merkle tree is JCS(entry) with its signatures. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char entry_domain[] = "customs.ledger.entry.v1";

void ledger__signing_hash(const char *canon, size_t len, size_t sig_lo, size_t sig_hi,
                          uint8_t out[32])
{
    crypto_hash_sha256_state st;
    static const uint8_t zero = 0;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)entry_domain, sizeof entry_domain - 1);
    crypto_hash_sha256_update(&st, &zero, 1);
    if (sig_hi > sig_lo) {
        crypto_hash_sha256_update(&st, (const uint8_t *)canon, sig_lo);
        crypto_hash_sha256_update(&st, (const uint8_t *)canon + sig_hi, len - sig_hi);
    } else {
        crypto_hash_sha256_update(&st, (const uint8_t *)canon, len);
    }
    crypto_hash_sha256_final(&st, out);
}

void ledger__entry_free(lentry *e)
{
    if (!e)
        return;
    json_decref(e->doc);
    free(e->canon);
    free(e);
}

/* jansson quotes the offending input in its messages, which may not be
 * UTF-8; a JSON string must be. */
static void entry__clean(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (len && i + len <= n && cx_utf8_count(s + i, len, NULL)) {
            i += len;
            continue;
        }
        s[i++] = '?';
    }
}

cx_err ledger__entry_from_json(json_t *doc, lentry **out, json_t *problems)
{
    *out = NULL;
    if (!ledger__envelope_validate(doc, problems)) {
        json_decref(doc);
        return CX_EINVAL;
    }
    lentry *e = calloc(1, sizeof *e);
    if (!e) {
        json_decref(doc);
        return CX_ENOMEM;
    }
    e->doc = doc;
    ledger__type_parse(json_string_value(json_object_get(doc, "type")), &e->type);
    e->org = json_string_value(json_object_get(doc, "org"));
    e->body = json_object_get(doc, "body");
    bool ok = ledger__body_validate(e->type, e->body, problems, "/body");
    const json_t *sigs = json_object_get(doc, "signatures");
    size_t i;
    const json_t *s;
    json_array_foreach(sigs, i, s)
    {
        lsig *g = &e->sigs[e->nsigs++];
        snprintf(g->org, sizeof g->org, "%s", json_string_value(json_object_get(s, "org")));
        char p[64];
        if (!ledger__b64_decode(json_string_value(json_object_get(s, "key")), g->pk, 32)) {
            snprintf(p, sizeof p, "/signatures/%zu/key", i);
            cx_problem_add(problems, p, "must be an Ed25519 public key: base64 of 32 bytes");
            ok = false;
        }
        if (!ledger__b64_decode(json_string_value(json_object_get(s, "sig")), g->sig, 64)) {
            snprintf(p, sizeof p, "/signatures/%zu/sig", i);
            cx_problem_add(problems, p, "must be an Ed25519 signature: base64 of 64 bytes");
            ok = false;
        }
        for (size_t k = 0; k + 1 < e->nsigs; k++)
            if (memcmp(e->sigs[k].pk, g->pk, 32) == 0) {
                snprintf(p, sizeof p, "/signatures/%zu/key", i);
                cx_problem_add(problems, p, "this key has already signed the entry");
                ok = false;
                break;
            }
    }
    if (!ok) {
        ledger__entry_free(e);
        return CX_EINVAL;
    }
    cx_buf b;
    cx_buf_init(&b, LEDGER_MAX_ENTRY * 2);
    cx_err err = ledger__jcs_top(doc, &b, "signatures", &e->sig_lo, &e->sig_hi);
    if (err != CX_OK) {
        cx_buf_free(&b);
        cx_problem_add(problems, "", err == CX_ETOOBIG ? "nested too deeply or too large"
                                                       : "has a value with no canonical form");
        ledger__entry_free(e);
        return err == CX_ENOMEM ? CX_ENOMEM : CX_EINVAL;
    }
    e->canon = cx_buf_steal(&b, &e->canon_len);
    if (!e->canon) {
        ledger__entry_free(e);
        return CX_ENOMEM;
    }
    ledger__signing_hash(e->canon, e->canon_len, e->sig_lo, e->sig_hi, e->entry_hash);
    ledger_leaf_hash(e->canon, e->canon_len, e->leaf_hash);
    *out = e;
    return CX_OK;
}

cx_err ledger__entry_decode(const char *text, size_t len, lentry **out, json_t *problems,
                            char *msg, size_t msglen)
{
    *out = NULL;
    if (len > LEDGER_MAX_ENTRY) {
        snprintf(msg, msglen, "the entry is %zu bytes; the limit is %zu", len, LEDGER_MAX_ENTRY);
        return CX_ETOOBIG;
    }
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(msg, msglen, "line %d, column %d: %s", je.line, je.column, je.text);
        entry__clean(msg);
        return CX_EPARSE;
    }
    cx_err e = ledger__entry_from_json(doc, out, problems);
    if (e == CX_EINVAL) {
        size_t n = problems ? json_array_size(problems) : 0;
        snprintf(msg, msglen, "the entry has %zu problem%s", n, n == 1 ? "" : "s");
    }
    return e;
}

cx_err ledger__entry_check_sigs(const lentry *e, json_t *problems)
{
    cx_err r = CX_OK;
    for (size_t i = 0; i < e->nsigs; i++) {
        if (crypto_sign_verify_detached(e->sigs[i].sig, e->entry_hash, 32, e->sigs[i].pk) == 0)
            continue;
        char p[64];
        snprintf(p, sizeof p, "/signatures/%zu/sig", i);
        cx_problem_add(problems, p,
                       "does not verify: the entry was changed after signing, or the signature "
                       "was made with another key");
        r = CX_ECRYPTO;
    }
    return r;
}

cx_err ledger_entry_decode(const char *text, size_t len, json_t *problems, char **canonical,
                           size_t *canonical_len, uint8_t entry_hash[32], uint8_t leaf_hash[32])
{
    lentry *e = NULL;
    char msg[200];
    *canonical = NULL;
    cx_err r = ledger__entry_decode(text, len, &e, problems, msg, sizeof msg);
    if (r == CX_EPARSE || r == CX_ETOOBIG)
        cx_problem_add(problems, "", "%s", msg);
    if (r == CX_OK)
        r = ledger__entry_check_sigs(e, problems);
    if (r == CX_OK) {
        *canonical = e->canon;
        if (canonical_len)
            *canonical_len = e->canon_len;
        e->canon = NULL;
        memcpy(entry_hash, e->entry_hash, 32);
        memcpy(leaf_hash, e->leaf_hash, 32);
    }
    ledger__entry_free(e);
    return r;
}

cx_err ledger_sign(const char *text, size_t len, const ledger_key *key, const char *org,
                   char **out, char *err, size_t errlen)
{
    *out = NULL;
    json_t *problems = json_array();
    lentry *e = NULL;
    char msg[200];
    cx_err r = ledger__entry_decode(text, len, &e, problems, msg, sizeof msg);
    if (r != CX_OK) {
        const json_t *p0 = json_array_get(problems, 0);
        if (p0)
            snprintf(err, errlen, "%s: %s %s", msg,
                     json_string_value(json_object_get(p0, "path")),
                     json_string_value(json_object_get(p0, "message")));
        else
            snprintf(err, errlen, "%s", msg);
        json_decref(problems);
        return r;
    }
    if (ledger__entry_check_sigs(e, problems) != CX_OK) {
        const json_t *p0 = json_array_get(problems, 0);
        snprintf(err, errlen, "an existing signature does not verify: %s %s",
                 json_string_value(json_object_get(p0, "path")),
                 json_string_value(json_object_get(p0, "message")));
        json_decref(problems);
        ledger__entry_free(e);
        return CX_ECRYPTO;
    }
    json_decref(problems);
    for (size_t i = 0; i < e->nsigs; i++)
        if (memcmp(e->sigs[i].pk, key->pk, 32) == 0) {
            snprintf(err, errlen, "this key has already signed the entry");
            ledger__entry_free(e);
            return CX_EEXIST;
        }
    if (e->nsigs >= LEDGER_MAX_SIGNATURES) {
        snprintf(err, errlen, "the entry already has %d signatures", LEDGER_MAX_SIGNATURES);
        ledger__entry_free(e);
        return CX_ETOOBIG;
    }
    const char *who = org ? org : key->org[0] ? key->org : e->org;
    if (!cx_org_valid(who)) {
        snprintf(err, errlen, "--org must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
        ledger__entry_free(e);
        return CX_EINVAL;
    }
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, e->entry_hash, 32, key->sk);
    char pk64[LEDGER_B64_32 + 1], sig64[LEDGER_B64_64 + 1];
    ledger__b64_encode(key->pk, 32, pk64);
    ledger__b64_encode(sig, 64, sig64);
    json_array_append_new(json_object_get(e->doc, "signatures"),
                          json_pack("{s:s,s:s,s:s}", "org", who, "key", pk64, "sig", sig64));
    cx_buf b;
    cx_buf_init(&b, LEDGER_MAX_ENTRY * 2);
    r = ledger_jcs(e->doc, &b);
    if (r == CX_OK && !(*out = cx_buf_steal(&b, NULL)))
        r = CX_ENOMEM;
    if (r != CX_OK)
        snprintf(err, errlen, "cannot write the signed entry: %s", cx_strerror(r));
    cx_buf_free(&b);
    ledger__entry_free(e);
    return r;
}
