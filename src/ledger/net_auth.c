/* How a node proves itself to the NATS cluster and checks its servers:
 * TLS (the consortium's CA, a client certificate) and NATS credentials (a
 * .creds file, user and password, or a token), through libnats's options.
 * Secret files are refused when anyone but their owner may read them. */
#include "net_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTH_SECRET_MAX 1024 /* a password or token, first line */

/* Opens a secret file the owner alone may read; -1 with err set. */
static int auth__open_secret(const char *opt, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", opt, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        snprintf(err, errlen, "%s %s must be a file readable by its owner only (chmod 600; it "
                              "is %03o)",
                 opt, path, (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    return fd;
}

static cx_err auth__check_secret(const char *opt, const char *path, char *err, size_t errlen)
{
    int fd = auth__open_secret(opt, path, err, errlen);
    if (fd < 0)
        return CX_EINVAL;
    close(fd);
    return CX_OK;
}

/* The first line of a secret file into out (wiped by the caller). */
static cx_err auth__read_secret(const char *opt, const char *path, char out[AUTH_SECRET_MAX],
                                char *err, size_t errlen)
{
    int fd = auth__open_secret(opt, path, err, errlen);
    if (fd < 0)
        return CX_EINVAL;
    ssize_t n = read(fd, out, AUTH_SECRET_MAX - 1);
    close(fd);
    if (n < 0)
        n = 0;
    out[n] = '\0';
    size_t line = strcspn(out, "\r\n");
    out[line] = '\0';
    /* too long only when no line end came within what was read: what
     * follows a short first line (a comment, a second line) is not read */
    if (!out[0] || (line == (size_t)n && (size_t)n == AUTH_SECRET_MAX - 1)) {
        snprintf(err, errlen, "%s %s: the first line must hold 1 to %d characters", opt, path,
                 AUTH_SECRET_MAX - 2);
        return CX_EINVAL;
    }
    return CX_OK;
}

/* Which combinations make sense: each mistake named, none guessed. */
static cx_err auth__combination(const ledger_nats_auth *a, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!a->cert != !a->key)
        why = "--nats-cert and --nats-key go together";
    else if (a->creds && (a->user || a->token_file))
        why = "--nats-creds excludes --nats-user and --nats-token-file";
    else if (a->user && a->token_file)
        why = "--nats-user and --nats-token-file exclude each other";
    else if (!a->user != !a->password_file)
        why = "--nats-user and --nats-password-file go together";
    if (!why)
        return CX_OK;
    snprintf(err, errlen, "%s", why);
    return CX_EINVAL;
}

static cx_err auth__nats_fail(natsStatus s, const char *what, const char *path, char *err,
                              size_t errlen)
{
    const char *detail = nats_GetLastError(NULL);
    snprintf(err, errlen, "%s %s: %s", what, path, detail ? detail : natsStatus_GetText(s));
    return CX_EINVAL;
}

cx_err net__auth_apply(natsOptions *o, const ledger_nats_auth *a, bool tls_urls, char *err,
                       size_t errlen)
{
    ledger_nats_auth none = {0};
    if (!a)
        a = &none;
    cx_err e = auth__combination(a, err, errlen);
    if (e != CX_OK)
        return e;
    natsStatus s = NATS_OK;
    if ((a->ca || a->cert || tls_urls) && (s = natsOptions_SetSecure(o, true)) != NATS_OK)
        return auth__nats_fail(s, "TLS", "", err, errlen);
    if (a->ca && (s = natsOptions_LoadCATrustedCertificates(o, a->ca)) != NATS_OK)
        return auth__nats_fail(s, "--nats-ca", a->ca, err, errlen);
    if (a->cert) {
        if ((e = auth__check_secret("--nats-key", a->key, err, errlen)) != CX_OK)
            return e;
        if ((s = natsOptions_LoadCertificatesChain(o, a->cert, a->key)) != NATS_OK)
            return auth__nats_fail(s, "--nats-cert/--nats-key", a->cert, err, errlen);
    }
    if (a->creds) {
        if ((e = auth__check_secret("--nats-creds", a->creds, err, errlen)) != CX_OK)
            return e;
        if ((s = natsOptions_SetUserCredentialsFromFiles(o, a->creds, NULL)) != NATS_OK)
            return auth__nats_fail(s, "--nats-creds", a->creds, err, errlen);
    }
    if (a->user || a->token_file) {
        char secret[AUTH_SECRET_MAX];
        e = a->user ? auth__read_secret("--nats-password-file", a->password_file, secret, err,
                                        errlen)
                    : auth__read_secret("--nats-token-file", a->token_file, secret, err, errlen);
        if (e == CX_OK) /* libnats keeps its own copy */
            s = a->user ? natsOptions_SetUserInfo(o, a->user, secret)
                        : natsOptions_SetToken(o, secret);
        sodium_memzero(secret, sizeof secret);
        if (e != CX_OK)
            return e;
        if (s != NATS_OK)
            return auth__nats_fail(s, "NATS credentials", "", err, errlen);
    }
    return CX_OK;
}

cx_err net__connect_error(natsStatus s, const char *url, bool tls, char *err, size_t errlen)
{
    const char *detail = nats_GetLastError(NULL);
    if (!detail || !*detail)
        detail = natsStatus_GetText(s);
    else if (detail[0] == '(' && strstr(detail, "): ")) /* libnats's "(conn.c:733): " */
        detail = strstr(detail, "): ") + 3;
    switch (s) {
    case NATS_SSL_ERROR:
        snprintf(err, errlen, "TLS with the NATS server at %s failed: %s%s", url, detail,
                 tls ? "" : " (the server wants TLS: give --nats-ca with the CA that signed its "
                            "certificate)");
        return CX_ECRYPTO; /* configuration: retrying will not help */
    case NATS_SECURE_CONNECTION_REQUIRED:
        snprintf(err, errlen, "the NATS server at %s requires TLS: give --nats-ca FILE (the CA "
                              "that signed its certificate)",
                 url);
        return CX_ECRYPTO;
    case NATS_SECURE_CONNECTION_WANTED:
        snprintf(err, errlen, "the NATS server at %s does not offer TLS, but --nats-ca, "
                              "--nats-cert or a tls:// URL asks for it",
                 url);
        return CX_ECRYPTO;
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
        snprintf(err, errlen, "the NATS server at %s refused this node's credentials: %s (see "
                              "--nats-creds, --nats-user, --nats-token-file, --nats-cert)",
                 url, detail);
        return CX_EAUTH;
    default:
        snprintf(err, errlen, "cannot reach the NATS cluster at %s: %s", url, detail);
        return CX_EIO;
    }
}
