/* What the fuzz targets share (header-only): the reference data, a dry-run
 * import of the input, walking a value or an array of them, and the
 * properties of a check's problems. */
#ifndef CUSTOMS_FUZZKIT_H
#define CUSTOMS_FUZZKIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "declare.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* HS 2022, countries and currencies, or abort: a target without them
 * would only test the refusals. */
static inline void fz_refdata(void)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
}

/* The input as a file, imported in format without storing anything. */
static inline void fz_import(const uint8_t *data, size_t size, const char *format)
{
    FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
    if (!f)
        return;
    if (!size)
        fgetc(f); /* fmemopen wants a size; read the byte away */
    decl_import_opts o = {.path = "fuzz", .file = f, .dry_run = true, .format = format,
                          .org = "FUZZ", .quiet = true};
    decl_import_result res;
    char err[512];
    decl_import(NULL, &o, &res, err, sizeof err);
    fclose(f);
}

/* fn for each item of an array (with its JSON Pointer "/i"), or for the value. */
static inline void fz_each(const json_t *j, void (*fn)(const json_t *v, const char *ptr))
{
    if (!json_is_array(j)) {
        fn(j, "");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        char ptr[24];
        snprintf(ptr, sizeof ptr, "/%zu", i);
        fn(v, ptr);
    }
}

/* A check's result against its problems, or abort: ok exactly when there
 * are none; each has a message and a path that starts with prefix (NULL:
 * any JSON Pointer, "" for the whole input included). */
static inline void fz_problems(const json_t *problems, bool ok, const char *prefix)
{
    if (ok != (json_array_size(problems) == 0))
        abort();
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        const char *msg = json_string_value(json_object_get(p, "message"));
        if (!path || !msg || !msg[0])
            abort();
        if (prefix ? strncmp(path, prefix, strlen(prefix)) != 0 : path[0] && path[0] != '/')
            abort();
    }
}

#endif
