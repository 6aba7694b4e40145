/* What the unit tests share: a temporary database path and its removal
 * (with SQLite's -wal and -shm files). Header-only, included after cmocka. */
#ifndef CUSTOMS_UNITKIT_H
#define CUSTOMS_UNITKIT_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A fresh path under /tmp named after the test (the file itself does not
 * exist yet: store_open creates it private). */
static inline void uk_tmp_path(char out[64], const char *name)
{
    snprintf(out, 64, "/tmp/customs-test-%sXXXXXX", name);
    int fd = mkstemp(out);
    if (fd >= 0)
        close(fd);
    unlink(out);
}

/* Removes a database and the files SQLite keeps beside it. */
static inline void uk_rm_db(const char *path)
{
    char p[96];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

#endif
