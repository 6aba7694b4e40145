/* Ed25519 key files, base64, signed-note signatures and field commitments. */
#include "ledger_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const ledger__type_names[LT__COUNT] = {
    "ledger.init",        "member.register", "member.key.rotate", "member.key.revoke",
    "policy.set",         "declaration.anchor", "bl.issue",       "bl.transfer",
    "bl.surrender",       "coo.issue",       "coo.revoke",        "aeo.status",
    "payment.receipt",    "parcel.manifest", "ipr.register",      "finding",
    "audit.digest",
};

const char *const ledger__role_names[LR__COUNT] = {"customs", "trader", "carrier",
                                                   "bank",    "chamber", "agency"};

bool ledger__type_parse(const char *s, ltype *out)
{
    for (int i = 0; s && i < LT__COUNT; i++)
        if (strcmp(s, ledger__type_names[i]) == 0) {
            *out = (ltype)i;
            return true;
        }
    return false;
}

bool ledger__role_parse(const char *s, lrole *out)
{
    for (int i = 0; s && i < LR__COUNT; i++)
        if (strcmp(s, ledger__role_names[i]) == 0) {
            *out = (lrole)i;
            return true;
        }
    return false;
}

bool ledger__type_governance(ltype t)
{
    return t == LT_INIT || t == LT_MEMBER_REGISTER || t == LT_KEY_ROTATE || t == LT_KEY_REVOKE ||
           t == LT_POLICY_SET;
}

/* ---- encodings ----------------------------------------------------------------------- */

bool ledger__b64_decode(const char *s, uint8_t *out, size_t n)
{
    if (!s)
        return false;
    size_t len = strlen(s);
    if (len != sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) - 1)
        return false;
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, n, s, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        got != n || end != s + len)
        return false;
    /* Only the canonical spelling: unused low bits of the last character
     * must be zero, so one value has one text. */
    char again[LEDGER_B64_64 + 8];
    if (len >= sizeof again)
        return false;
    sodium_bin2base64(again, sizeof again, out, n, sodium_base64_VARIANT_ORIGINAL);
    return strcmp(again, s) == 0;
}

void ledger__b64_encode(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), in, n,
                      sodium_base64_VARIANT_ORIGINAL);
}

void ledger__hex(const uint8_t h[32], char out[65])
{
    cx_hex(h, 32, out);
}

/* ---- key files ------------------------------------------------------------------------- */

void ledger_key_generate(ledger_key *k)
{
    memset(k, 0, sizeof *k);
    crypto_sign_keypair(k->pk, k->sk);
}

void ledger_key_public(const ledger_key *k, char out[45])
{
    ledger__b64_encode(k->pk, 32, out);
}

bool ledger_key_parse_public(const char *b64, uint8_t pk[32])
{
    return ledger__b64_decode(b64, pk, 32);
}

cx_err ledger_key_save(const ledger_key *k, const char *path, char *err, size_t errlen)
{
    char pub[LEDGER_B64_32 + 1], seed[LEDGER_B64_32 + 1];
    ledger__b64_encode(k->pk, 32, pub);
    ledger__b64_encode(k->sk, 32, seed); /* the first 32 bytes of sk are the seed */
    char text[256];
    int n;
    if (k->org[0])
        n = snprintf(text, sizeof text,
                     "{\"kty\":\"Ed25519\",\"org\":\"%s\",\"public\":\"%s\",\"seed\":\"%s\"}\n",
                     k->org, pub, seed);
    else
        n = snprintf(text, sizeof text, "{\"kty\":\"Ed25519\",\"public\":\"%s\",\"seed\":\"%s\"}\n",
                     pub, seed);
    sodium_memzero(seed, sizeof seed);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int en = errno;
        sodium_memzero(text, sizeof text);
        snprintf(err, errlen, "cannot create %s: %s", path,
                 en == EEXIST ? "it already exists (refusing to overwrite a key)"
                              : strerror(en));
        return en == EEXIST ? CX_EEXIST : CX_EIO;
    }
    /* umask may have narrowed the mode further, never widened it; make it
     * exactly 0600 regardless */
    bool ok = fchmod(fd, 0600) == 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    sodium_memzero(text, sizeof text);
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return CX_EIO;
    }
    return CX_OK;
}

cx_err ledger_key_load(const char *path, ledger_key *k, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        return CX_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        cx_log(CX_LOG_WARN, "key file %s is readable by others (mode %o); chmod 600 it", path,
               (unsigned)(st.st_mode & 0777));
    char text[1024];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    json_error_t je;
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    sodium_memzero(text, sizeof text);
    const char *kty = json_string_value(json_object_get(j, "kty"));
    const char *pub = json_string_value(json_object_get(j, "public"));
    const char *seed = json_string_value(json_object_get(j, "seed"));
    const char *org = json_string_value(json_object_get(j, "org"));
    uint8_t s[32], pk[32];
    cx_err e = CX_OK;
    if (!j || !kty || strcmp(kty, "Ed25519") || !seed || !ledger__b64_decode(seed, s, 32)) {
        snprintf(err, errlen, "%s is not a customs key file (expected JSON with kty Ed25519 "
                              "and a base64 seed)", path);
        e = CX_EPARSE;
    } else {
        crypto_sign_seed_keypair(k->pk, k->sk, s);
        if (pub && (!ledger__b64_decode(pub, pk, 32) || memcmp(pk, k->pk, 32) != 0)) {
            snprintf(err, errlen, "%s: the public key does not belong to the seed", path);
            e = CX_ECRYPTO;
        } else if (org && !cx_org_valid(org)) {
            snprintf(err, errlen, "%s: org must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
                     path);
            e = CX_EPARSE;
        } else if (org) {
            snprintf(k->org, sizeof k->org, "%s", org);
        }
    }
    sodium_memzero(s, sizeof s);
    json_decref(j);
    if (e != CX_OK)
        sodium_memzero(k, sizeof *k);
    return e;
}

/* ---- signed notes (C2SP signed-note, Ed25519 type 0x01) ---------------------------------- */

uint32_t ledger_note_key_id(const char *name, const uint8_t pk[32])
{
    crypto_hash_sha256_state st;
    uint8_t h[32];
    static const uint8_t sep[2] = {0x0A, 0x01};
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, 2);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

void ledger_note_sign(const char *name, const ledger_key *key, const char *text, char *out,
                      size_t cap)
{
    uint8_t blob[68];
    uint32_t id = ledger_note_key_id(name, key->pk);
    blob[0] = (uint8_t)(id >> 24);
    blob[1] = (uint8_t)(id >> 16);
    blob[2] = (uint8_t)(id >> 8);
    blob[3] = (uint8_t)id;
    crypto_sign_detached(blob + 4, NULL, (const uint8_t *)text, strlen(text), key->sk);
    char b64[sodium_base64_ENCODED_LEN(68, sodium_base64_VARIANT_ORIGINAL)];
    ledger__b64_encode(blob, sizeof blob, b64);
    snprintf(out, cap, "\xE2\x80\x94 %s %s\n", name, b64);
}

void ledger__checkpoint_text(const char *origin, uint64_t size, const uint8_t root[32],
                             char *out, size_t cap)
{
    char b64[LEDGER_B64_32 + 1];
    ledger__b64_encode(root, 32, b64);
    snprintf(out, cap, "%s\n%llu\n%s\n", origin, (unsigned long long)size, b64);
}

/* ---- field commitments ---------------------------------------------------------------------- */

cx_err ledger__commit(const uint8_t salt[32], const char *name, const json_t *value,
                      uint8_t out[32])
{
    static const char domain[] = "customs.ledger.field.v1";
    cx_buf b;
    cx_buf_init(&b, LEDGER_MAX_ENTRY);
    cx_err e = ledger_jcs(value, &b);
    if (e == CX_OK) {
        crypto_hash_sha256_state st;
        static const uint8_t zero = 0;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const uint8_t *)domain, sizeof domain - 1);
        crypto_hash_sha256_update(&st, &zero, 1);
        crypto_hash_sha256_update(&st, salt, 32);
        crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
        crypto_hash_sha256_update(&st, &zero, 1);
        crypto_hash_sha256_update(&st, (const uint8_t *)b.data, b.len);
        crypto_hash_sha256_final(&st, out);
    }
    cx_buf_free(&b);
    return e;
}
