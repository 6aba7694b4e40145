/* What the revenue service's unit tests share: a store with declare's and
 * revenue's tables in a fresh directory, the service started as serve does
 * without its worker, CSV rows imported, and the whole torn down.
 * Header-only, included after cmocka and revenue.h. */
#ifndef CUSTOMS_REVKIT_H
#define CUSTOMS_REVKIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    store *s;
    decl_service *d;
    rev_service *r;
} fx;

static const cx_principal trader = {.org = "TRADER-1", .role = CX_ROLE_TRADER, .key_id = 1};
static const cx_principal officer = {.org = "CUSTOMS", .role = CX_ROLE_OFFICER, .key_id = 2};

static inline void fx__csv(store *s, rev_import_kind kind, const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "rb");
    assert_non_null(f);
    rev_rows *rows = NULL;
    json_t *problems = json_array();
    assert_int_equal(rev_rows_parse(kind, f, &rows, problems, NULL), CX_OK);
    fclose(f);
    rev_import_result res;
    assert_int_equal(rev_rows_store(s, rows, "test.csv", &res, problems), CX_OK);
    rev_rows_free(rows);
    json_decref(problems);
}

/* The service as serve starts it, without its worker: nothing is derived
 * until something needs it. */
static inline void fx__start(fx *f)
{
    char err[256];
    f->d = decl_service_new(f->s);
    assert_non_null(f->d);
    rev_config cfg = {.currency = "KRW", .no_worker = true, .quiet = true};
    assert_int_equal(rev_service_new(f->s, f->d, &cfg, &f->r, err, sizeof err), CX_OK);
}

static inline void fx__stop(fx *f)
{
    rev_service_stop(f->r);
    store_drain(f->s);
    rev_service_free(f->r);
    decl_service_free(f->d);
    f->r = NULL;
    f->d = NULL;
}

/* A new fixture: its directory (named after the test) and a migrated store,
 * the service not started. */
static inline fx *fx__open(const char *name)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test-%s-XXXXXX", name);
    assert_non_null(mkdtemp(f->dir));
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/r.db", f->dir);
    assert_int_equal(store_open(path, &f->s, err, sizeof err), CX_OK);
    assert_int_equal(decl_migrate(f->s, err, sizeof err), CX_OK);
    assert_int_equal(rev_migrate(f->s, err, sizeof err), CX_OK);
    return f;
}

static inline int fx__close(fx *f)
{
    fx__stop(f);
    store_free(f->s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The reference data assessments read (country codes, minor units): 0 once
 * loaded, else the reason on stderr and 1, main's exit status. */
static inline int fx__refdata(void)
{
    char err[256];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK ||
        rev_minor_load(NULL, err, sizeof err) != CX_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    return 0;
}

#endif
