/* Internal to the store module. */
#ifndef CUSTOMS_STORE_INT_H
#define CUSTOMS_STORE_INT_H

#include "store.h"

#include <stdbool.h>

/* The VFS the store opens its connections with (walbuf.c): the platform's,
 * with a transaction's WAL frames written in one call. NULL when it could
 * not be registered (the platform's own is used). */
#define STORE_VFS "customs-walbuf"
const char *store__vfs(void);

#endif
