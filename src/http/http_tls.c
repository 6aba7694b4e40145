/* TLS through GnuTLS on non-blocking sockets: the credentials are loaded
 * once at start (so a bad certificate or key is reported then), sessions
 * use the system's default priorities, ALPN says http/1.1 and session
 * tickets make resumption cheap. */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool tls__slurp(const char *path, gnutls_datum_t *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    cx_buf b;
    cx_buf_init(&b, 1 << 20);
    char tmp[4096];
    size_t n;
    bool ok = true;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (cx_buf_append(&b, tmp, n) != CX_OK) {
            snprintf(err, errlen, "%s is larger than 1 MiB", path);
            ok = false;
            break;
        }
    fclose(f);
    if (!ok) {
        cx_buf_free(&b);
        return false;
    }
    size_t len;
    out->data = (unsigned char *)cx_buf_steal(&b, &len);
    out->size = (unsigned)len;
    return out->data != NULL;
}

cx_err http__tls_init(http_server *s, const char *cert_file, const char *key_file, char *err,
                      size_t errlen)
{
    gnutls_datum_t cert = {0}, key = {0};
    if (!tls__slurp(cert_file, &cert, err, errlen) || !tls__slurp(key_file, &key, err, errlen)) {
        free(cert.data);
        return CX_EIO;
    }
    cx_err e = CX_OK;
    int rc = gnutls_certificate_allocate_credentials(&s->tls_cred);
    if (rc == GNUTLS_E_SUCCESS)
        rc = gnutls_certificate_set_x509_key_mem(s->tls_cred, &cert, &key, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        snprintf(err, errlen, "cannot use the TLS certificate %s and key %s: %s", cert_file,
                 key_file, gnutls_strerror(rc));
        e = CX_EINVAL;
    } else if ((rc = gnutls_session_ticket_key_generate(&s->tls_ticket_key)) < 0) {
        snprintf(err, errlen, "TLS: %s", gnutls_strerror(rc));
        e = CX_EIO;
    }
    sodium_memzero(key.data, key.size);
    free(key.data);
    free(cert.data);
    if (e != CX_OK) {
        http__tls_free(s);
        return e;
    }
    s->tls = true;
    return CX_OK;
}

void http__tls_free(http_server *s)
{
    if (s->tls_cred)
        gnutls_certificate_free_credentials(s->tls_cred);
    s->tls_cred = NULL;
    if (s->tls_ticket_key.data) {
        sodium_memzero(s->tls_ticket_key.data, s->tls_ticket_key.size);
        gnutls_free(s->tls_ticket_key.data);
    }
    s->tls_ticket_key.data = NULL;
    s->tls = false;
}

gnutls_session_t http__tls_session(http_server *s, int fd)
{
    gnutls_session_t t;
    if (gnutls_init(&t, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0)
        return NULL;
    static const gnutls_datum_t alpn = {(unsigned char *)"http/1.1", 8};
    if (gnutls_set_default_priority(t) < 0 ||
        gnutls_credentials_set(t, GNUTLS_CRD_CERTIFICATE, s->tls_cred) < 0 ||
        gnutls_session_ticket_enable_server(t, &s->tls_ticket_key) < 0 ||
        gnutls_alpn_set_protocols(t, &alpn, 1, 0) < 0) {
        gnutls_deinit(t);
        return NULL;
    }
    gnutls_certificate_server_set_request(t, GNUTLS_CERT_IGNORE);
    gnutls_transport_set_int(t, fd);
    return t;
}
