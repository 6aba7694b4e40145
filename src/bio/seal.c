/* The master key file and the sealing of data keys and templates
 * (libsodium: XChaCha20-Poly1305 IETF with random 192-bit nonces). */
#include "bio.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_MAGIC "customs-bio-key-v1 "
#define KEY_FILE_LEN (sizeof KEY_MAGIC - 1 + 2 * 32 + 1) /* magic, hex, newline */

struct bio_keyring {
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
};

cx_err bio_key_create(const char *path, char *err, size_t errlen)
{
    uint8_t key[32];
    char line[KEY_FILE_LEN + 1];
    randombytes_buf(key, sizeof key);
    memcpy(line, KEY_MAGIC, sizeof KEY_MAGIC - 1);
    cx_hex(key, sizeof key, line + sizeof KEY_MAGIC - 1);
    line[KEY_FILE_LEN - 1] = '\n';
    line[KEY_FILE_LEN] = '\0';
    sodium_memzero(key, sizeof key);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path,
                 errno == EEXIST ? "it exists (a key is never overwritten)" : strerror(errno));
        sodium_memzero(line, sizeof line);
        return errno == EEXIST ? CX_EEXIST : CX_EIO;
    }
    ssize_t w = write(fd, line, KEY_FILE_LEN);
    sodium_memzero(line, sizeof line);
    if (w != (ssize_t)KEY_FILE_LEN || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return CX_EIO;
    }
    close(fd);
    return CX_OK;
}

cx_err bio_key_load(const char *path, bio_keyring **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the key file %s: %s", path, strerror(errno));
        return CX_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the key file %s is not a regular file", path);
        close(fd);
        return CX_EINVAL;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "the key file %s may be read by others (mode %04o); chmod 600 it",
                 path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return CX_EFORBIDDEN;
    }
    char buf[KEY_FILE_LEN + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    bio_keyring *k = sodium_malloc(sizeof *k);
    bool ok = k && n == (ssize_t)KEY_FILE_LEN && memcmp(buf, KEY_MAGIC, sizeof KEY_MAGIC - 1) == 0 &&
              buf[KEY_FILE_LEN - 1] == '\n';
    if (ok) {
        buf[KEY_FILE_LEN - 1] = '\0';
        ok = cx_unhex(buf + sizeof KEY_MAGIC - 1, k->key, sizeof k->key);
    }
    sodium_memzero(buf, sizeof buf);
    if (!ok) {
        snprintf(err, errlen, "%s is not a biometric key file (make one with 'customs bio key')",
                 path);
        if (k)
            sodium_free(k);
        return k ? CX_EINVAL : CX_ENOMEM;
    }
    sodium_mprotect_readonly(k);
    *out = k;
    return CX_OK;
}

void bio_key_free(bio_keyring *k)
{
    if (k)
        sodium_free(k); /* zeroes the memory */
}

void bio_key_id(const bio_keyring *k, char out[BIO_KEY_ID_LEN + 1])
{
    static const uint8_t label[] = "customs-bio-key-id";
    uint8_t h[16];
    crypto_generichash(h, sizeof h, label, sizeof label - 1, k->key, sizeof k->key);
    cx_hex(h, sizeof h, out);
}

/* "customs-bio" label, a kind byte, then the parts each preceded by its
 * length: unambiguous associated data. */
static size_t seal__ad(uint8_t *ad, size_t cap, char kind, const char *subject, const char *id)
{
    size_t n = 0, ls = strlen(subject), li = id ? strlen(id) : 0;
    if (12 + 2 + ls + 2 + li > cap)
        return 0;
    memcpy(ad, "customs-bio", 11);
    n = 11;
    ad[n++] = (uint8_t)kind;
    ad[n++] = (uint8_t)(ls >> 8);
    ad[n++] = (uint8_t)ls;
    memcpy(ad + n, subject, ls);
    n += ls;
    ad[n++] = (uint8_t)(li >> 8);
    ad[n++] = (uint8_t)li;
    if (li)
        memcpy(ad + n, id, li);
    return n + li;
}

cx_err bio_key_wrap_new(const bio_keyring *k, const char *subject,
                        uint8_t dk[BIO_DATA_KEY_BYTES], uint8_t wrapped[BIO_WRAPPED_BYTES])
{
    uint8_t ad[600];
    size_t adl = seal__ad(ad, sizeof ad, 'K', subject, NULL);
    if (!adl)
        return CX_EINVAL;
    crypto_aead_xchacha20poly1305_ietf_keygen(dk);
    randombytes_buf(wrapped, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped + 24, &clen, dk, BIO_DATA_KEY_BYTES, ad,
                                               adl, NULL, wrapped, k->key);
    return clen == 32 + 16 ? CX_OK : CX_ECRYPTO;
}

cx_err bio_key_unwrap(const bio_keyring *k, const char *subject, const uint8_t *wrapped,
                      size_t len, uint8_t dk[BIO_DATA_KEY_BYTES])
{
    uint8_t ad[600];
    size_t adl = seal__ad(ad, sizeof ad, 'K', subject, NULL);
    unsigned long long plen;
    if (!adl || len != BIO_WRAPPED_BYTES ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(dk, &plen, NULL, wrapped + 24, len - 24, ad,
                                                   adl, wrapped, k->key) != 0 ||
        plen != BIO_DATA_KEY_BYTES)
        return CX_ECRYPTO;
    return CX_OK;
}

uint8_t *bio_seal(const uint8_t dk[BIO_DATA_KEY_BYTES], const char *subject, const char *id,
                  const void *plain, size_t n, size_t *outlen)
{
    uint8_t ad[600];
    size_t adl = seal__ad(ad, sizeof ad, 'T', subject, id);
    uint8_t *out = adl ? malloc(n + BIO_SEAL_OVERHEAD) : NULL;
    if (!out)
        return NULL;
    randombytes_buf(out, 24);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, &clen, plain, n, ad, adl, NULL, out,
                                               dk);
    *outlen = (size_t)clen + 24;
    return out;
}

uint8_t *bio_open(const uint8_t dk[BIO_DATA_KEY_BYTES], const char *subject, const char *id,
                  const void *sealed, size_t n, size_t *outlen)
{
    uint8_t ad[600];
    size_t adl = seal__ad(ad, sizeof ad, 'T', subject, id);
    if (!adl || n < BIO_SEAL_OVERHEAD)
        return NULL;
    uint8_t *out = malloc(n - BIO_SEAL_OVERHEAD + 1);
    unsigned long long plen;
    const uint8_t *s = sealed;
    if (!out || crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, s + 24, n - 24, ad,
                                                           adl, s, dk) != 0) {
        free(out);
        return NULL;
    }
    *outlen = (size_t)plen;
    return out;
}
