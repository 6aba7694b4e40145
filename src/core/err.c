#include "core.h"

static const char *const messages[CX_ERR__COUNT] = {
    [CX_OK] = "ok",
    [CX_ENOMEM] = "out of memory",
    [CX_EINVAL] = "invalid argument",
    [CX_EIO] = "input/output error",
    [CX_ENOTFOUND] = "not found",
    [CX_EEXIST] = "already exists",
    [CX_ETOOBIG] = "too large",
    [CX_EDB] = "database error",
    [CX_EPARSE] = "malformed input",
    [CX_EAUTH] = "missing or invalid credentials",
    [CX_EFORBIDDEN] = "forbidden",
    [CX_EBUSY] = "resource busy",
    [CX_ESTATE] = "not allowed in the current state",
    [CX_ECRYPTO] = "cryptographic check failed",
    [CX_EUNAVAIL] = "not available",
    [CX_ESHUTDOWN] = "shutting down",
};

const char *cx_strerror(cx_err e)
{
    if ((unsigned)e >= CX_ERR__COUNT || !messages[e])
        return "unknown error";
    return messages[e];
}
