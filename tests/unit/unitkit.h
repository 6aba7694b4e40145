/* What the unit tests share: a temporary database path and its removal
 * (with SQLite's -wal and -shm files), and a look into a problems array.
 * Header-only, included after cmocka. */
#ifndef CUSTOMS_UNITKIT_H
#define CUSTOMS_UNITKIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Whether problems ([{"path","message"}]) has one at path whose message
 * contains needle (NULL: any message). */
static inline bool uk_has_problem(const json_t *problems, const char *path, const char *needle)
{
    for (size_t i = 0; i < json_array_size(problems); i++) {
        const json_t *p = json_array_get(problems, i);
        const char *at = json_string_value(json_object_get(p, "path"));
        const char *msg = json_string_value(json_object_get(p, "message"));
        if (at && strcmp(at, path) == 0 && (!needle || (msg && strstr(msg, needle))))
            return true;
    }
    return false;
}

#endif
