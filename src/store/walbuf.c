/* The store's SQLite VFS: the platform's own, with the writes of a
 * transaction's WAL frames gathered into one write. SQLite writes each frame
 * as two calls (its 24-byte header, then the page): a commit of ten pages
 * made twenty system calls before its fsync, ~2.5 µs each on a virtual
 * machine (docs/performance.md, "the WAL's writes"). Here contiguous writes
 * to a WAL file wait in a buffer, and go out in one write:
 *
 * - when the commit frame is complete (its header names the database's size
 *   in pages, the mark of a commit in the WAL format), so that a commit is
 *   in the file before SQLite publishes it to other connections, whatever
 *   the synchronous setting, and a failed write fails the commit;
 * - before a sync, a read, a truncation, a size query or a close, and when
 *   a write does not follow the buffered ones or would overflow the buffer.
 *
 * Everything else (the database file, journals, locks, the shared memory)
 * is the platform VFS's, unchanged. Durability is unchanged too: a commit is
 * acknowledged only after its sync, which writes the buffer first. Only
 * the writer's connection buffers: a connection is used by one thread at a
 * time, and so is its WAL file. */
#include "store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The unix VFS writes at most 128 KiB - 1 in one call (os_unix.c masks the
 * length with 0x1ffff): a bigger transaction is written in pieces of this */
#define WALBUF_MAX ((size_t)124 << 10)
#define WAL_FRAME_HDR 24

typedef struct {
    sqlite3_file base;
    sqlite3_file *real; /* the platform VFS's file, in the same allocation */
    char *buf;          /* WAL files only: writes not yet made */
    size_t len, cap;
    sqlite3_int64 off;  /* where buf[0] goes */
    bool commit;        /* the buffered header is a commit frame's: its page ends the frame */
} wb_file;

static sqlite3_vfs wb_vfs;
static sqlite3_io_methods wb_methods;

static int wb__flush(wb_file *f)
{
    if (!f->len)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
    f->len = 0;
    f->commit = false;
    return rc;
}

static int wb__write(sqlite3_file *p, const void *z, int n, sqlite3_int64 off)
{
    wb_file *f = (wb_file *)p;
    size_t m = (size_t)n;
    if (!f->len || off != f->off + (sqlite3_int64)f->len || f->len + m > WALBUF_MAX) {
        int rc = wb__flush(f);
        if (rc != SQLITE_OK)
            return rc;
        if (m > WALBUF_MAX)
            return f->real->pMethods->xWrite(f->real, z, n, off);
        f->off = off;
    }
    if (f->len + m > f->cap) {
        size_t cap = f->cap ? f->cap : 32 * 1024;
        while (cap < f->len + m)
            cap *= 2;
        if (cap > WALBUF_MAX)
            cap = WALBUF_MAX;
        char *b = realloc(f->buf, cap);
        if (!b) { /* no room: written as it comes */
            int rc = wb__flush(f);
            return rc != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, z, n, off);
        }
        f->buf = b;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, z, m);
    f->len += m;
    /* a frame header: bytes 4..7 are the database's size after a commit,
     * zero in any other frame; the WAL header (offset 0, 32 bytes) is not
     * one. The frame's page follows it. */
    if (m == WAL_FRAME_HDR && off > 0) {
        const unsigned char *h = z;
        f->commit = (h[4] | h[5] | h[6] | h[7]) != 0;
        return SQLITE_OK;
    }
    return f->commit ? wb__flush(f) : SQLITE_OK;
}

static int wb__close(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    int rc = wb__flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb__read(sqlite3_file *p, void *z, int n, sqlite3_int64 off)
{
    wb_file *f = (wb_file *)p;
    int rc = wb__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, z, n, off);
}

static int wb__truncate(sqlite3_file *p, sqlite3_int64 size)
{
    wb_file *f = (wb_file *)p;
    int rc = wb__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb__sync(sqlite3_file *p, int flags)
{
    wb_file *f = (wb_file *)p;
    int rc = wb__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb__size(sqlite3_file *p, sqlite3_int64 *size)
{
    wb_file *f = (wb_file *)p;
    int rc = wb__flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

/* The rest as the platform's (a WAL file is never locked or mapped by
 * SQLite, but a call is passed on all the same). */
#define WB_REAL(p) (((wb_file *)(p))->real)
static int wb__lock(sqlite3_file *p, int l) { return WB_REAL(p)->pMethods->xLock(WB_REAL(p), l); }
static int wb__unlock(sqlite3_file *p, int l) { return WB_REAL(p)->pMethods->xUnlock(WB_REAL(p), l); }
static int wb__check_lock(sqlite3_file *p, int *out)
{
    return WB_REAL(p)->pMethods->xCheckReservedLock(WB_REAL(p), out);
}
static int wb__control(sqlite3_file *p, int op, void *arg)
{
    return WB_REAL(p)->pMethods->xFileControl(WB_REAL(p), op, arg);
}
static int wb__sector(sqlite3_file *p) { return WB_REAL(p)->pMethods->xSectorSize(WB_REAL(p)); }
static int wb__caps(sqlite3_file *p)
{
    return WB_REAL(p)->pMethods->xDeviceCharacteristics(WB_REAL(p));
}

/* Files other than a WAL are the platform's own file, opened in place; a
 * WAL file opened for writing is wrapped (a connection that never writes
 * never fills its buffer: its reads find it empty). */
static int wb__open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags,
                    int *out_flags)
{
    sqlite3_vfs *root = vfs->pAppData;
    if (!(flags & SQLITE_OPEN_WAL) || (flags & SQLITE_OPEN_READONLY))
        return root->xOpen(root, name, p, flags, out_flags);
    wb_file *f = (wb_file *)p;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = root->xOpen(root, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        return rc;
    }
    f->base.pMethods = &wb_methods;
    return SQLITE_OK;
}

#define WB_PASS(name, sig, args)                                                              \
    static int wb__##name sig                                                                 \
    {                                                                                         \
        sqlite3_vfs *root = vfs->pAppData;                                                    \
        return root->x##name args;                                                            \
    }
WB_PASS(Delete, (sqlite3_vfs * vfs, const char *z, int sync), (root, z, sync))
WB_PASS(Access, (sqlite3_vfs * vfs, const char *z, int flags, int *out), (root, z, flags, out))
WB_PASS(FullPathname, (sqlite3_vfs * vfs, const char *z, int n, char *out), (root, z, n, out))
WB_PASS(Randomness, (sqlite3_vfs * vfs, int n, char *out), (root, n, out))
WB_PASS(Sleep, (sqlite3_vfs * vfs, int us), (root, us))
WB_PASS(CurrentTime, (sqlite3_vfs * vfs, double *out), (root, out))
WB_PASS(GetLastError, (sqlite3_vfs * vfs, int n, char *out), (root, n, out))
WB_PASS(CurrentTimeInt64, (sqlite3_vfs * vfs, sqlite3_int64 *out), (root, out))

static void *wb__dl_open(sqlite3_vfs *vfs, const char *z)
{
    sqlite3_vfs *root = vfs->pAppData;
    return root->xDlOpen(root, z);
}
static void wb__dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    sqlite3_vfs *root = vfs->pAppData;
    root->xDlError(root, n, out);
}
static void (*wb__dl_sym(sqlite3_vfs *vfs, void *h, const char *z))(void)
{
    sqlite3_vfs *root = vfs->pAppData;
    return root->xDlSym(root, h, z);
}
static void wb__dl_close(sqlite3_vfs *vfs, void *h)
{
    sqlite3_vfs *root = vfs->pAppData;
    root->xDlClose(root, h);
}

static int wb_registered = SQLITE_ERROR;

static void wb__register(void)
{
    sqlite3_vfs *root = sqlite3_vfs_find(NULL);
    if (!root || root->iVersion < 2)
        return;
    wb_methods = (sqlite3_io_methods){
        .iVersion = 1,
        .xClose = wb__close,
        .xRead = wb__read,
        .xWrite = wb__write,
        .xTruncate = wb__truncate,
        .xSync = wb__sync,
        .xFileSize = wb__size,
        .xLock = wb__lock,
        .xUnlock = wb__unlock,
        .xCheckReservedLock = wb__check_lock,
        .xFileControl = wb__control,
        .xSectorSize = wb__sector,
        .xDeviceCharacteristics = wb__caps,
    };
    wb_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(wb_file) + root->szOsFile,
        .mxPathname = root->mxPathname,
        .zName = STORE_VFS,
        .pAppData = root,
        .xOpen = wb__open,
        .xDelete = wb__Delete,
        .xAccess = wb__Access,
        .xFullPathname = wb__FullPathname,
        .xDlOpen = wb__dl_open,
        .xDlError = wb__dl_error,
        .xDlSym = wb__dl_sym,
        .xDlClose = wb__dl_close,
        .xRandomness = wb__Randomness,
        .xSleep = wb__Sleep,
        .xCurrentTime = wb__CurrentTime,
        .xGetLastError = wb__GetLastError,
        .xCurrentTimeInt64 = wb__CurrentTimeInt64,
    };
    wb_registered = sqlite3_vfs_register(&wb_vfs, 0);
}

const char *store__vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, wb__register);
    return wb_registered == SQLITE_OK ? STORE_VFS : NULL;
}
