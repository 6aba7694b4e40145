/* Recognising a design file's format and reading it (from memory or a
 * mapped file). */
#include "designs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static designs_format read__by_name(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot)
        return DESIGNS_FMT_UNKNOWN;
    if (strcasecmp(dot, ".stl") == 0)
        return DESIGNS_FMT_STL;
    if (strcasecmp(dot, ".3mf") == 0)
        return DESIGNS_FMT_3MF;
    if (strcasecmp(dot, ".obj") == 0)
        return DESIGNS_FMT_OBJ;
    return DESIGNS_FMT_UNKNOWN;
}

/* The bytes decide; the name only when they say nothing clear (a binary
 * STL whose count disagrees with its size looks like nothing at all). */
static designs_format read__sniff(const uint8_t *d, size_t len, const char *name)
{
    if (len >= 4 && memcmp(d, "PK\x03\x04", 4) == 0)
        return DESIGNS_FMT_3MF;
    if (designs__looks_binary_stl(d, len) || designs__looks_ascii_stl(d, len))
        return DESIGNS_FMT_STL;
    if (designs__looks_obj(d, len))
        return DESIGNS_FMT_OBJ;
    designs_format by_name = read__by_name(name);
    if (by_name != DESIGNS_FMT_UNKNOWN)
        return by_name;
    /* binary bytes that are none of the above: most likely an STL whose
     * count disagrees with its size, which the STL reader says precisely */
    if (memchr(d, '\0', len < 4096 ? len : 4096))
        return DESIGNS_FMT_STL;
    return DESIGNS_FMT_UNKNOWN;
}

cx_err designs_read(const void *data, size_t len, const char *name, const designs_limits *lim,
                    designs_mesh *out, designs_info *info, designs_error *why)
{
    designs_limits dl;
    if (!lim) {
        designs_limits_default(&dl);
        lim = &dl;
    }
    memset(info, 0, sizeof *info);
    memset(out, 0, sizeof *out);
    designs__mesh_limits(out, lim);
    if (len == 0)
        return designs__fail(why, CX_EPARSE, "empty", "the file is empty");
    const uint8_t *d = data;
    cx_err e;
    switch (read__sniff(d, len, name)) {
    case DESIGNS_FMT_STL: e = designs__read_stl(d, len, out, info, why); break;
    case DESIGNS_FMT_3MF: e = designs__read_3mf(d, len, lim, out, info, why); break;
    case DESIGNS_FMT_OBJ: e = designs__read_obj(d, len, out, info, why); break;
    default:
        return designs__fail(why, CX_EPARSE, "unknown_format",
                             "not an STL, 3MF or OBJ file (the first bytes match none of them)");
    }
    if (e)
        designs_mesh_free(out);
    return e;
}

cx_err designs_source_map(const char *path, designs_source *src, designs_error *why)
{
    memset(src, 0, sizeof *src);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int en = fd < 0 ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        return designs__fail(why, CX_EIO, "io", "%s: %s", path,
                             en == EINVAL ? "not a regular file" : strerror(en));
    }
    src->name = path;
    if (st.st_size == 0) { /* nothing to map: designs_read says "empty" */
        close(fd);
        src->data = "";
        return CX_OK;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return designs__fail(why, CX_EIO, "io", "%s: %s", path, strerror(errno));
    src->data = map;
    src->len = (size_t)st.st_size;
    src->mapped = true;
    return CX_OK;
}

void designs_source_unmap(designs_source *src)
{
    if (src && src->mapped)
        munmap((void *)src->data, src->len);
    if (src)
        memset(src, 0, sizeof *src);
}
