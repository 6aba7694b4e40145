/* designs_svc.h — the service's internals shared by service.c, dstore.c and
 * designs_http.c. */
#ifndef CUSTOMS_DESIGNS_SVC_H
#define CUSTOMS_DESIGNS_SVC_H

#include "designs_int.h"

#include <pthread.h>
#include <stdatomic.h>

/* A file read, measured and fingerprinted, ready to store. */
typedef struct {
    char sha[65], mesh_sha[65];
    const char *format;
    uint64_t file_size;
    char *inspection; /* JSON text (owned) */
    designs_fp fp;
    char now[32];
} dsvc_file;

typedef struct {
    designs_service *d;
    dsvc_file file;
    const char *org, *name, *matches;
    const json_t *match_list; /* the same, read only: the job's alerts */
    int64_t key_id;
    int64_t upload_id; /* out */
} dsvc_upload_job;

typedef struct {
    dsvc_file file; /* only sha when have_file is false */
    bool have_file;
    designs_entry entry;
    char id[CX_ID_LEN + 1];
    const char *registered_by;
    int64_t idx;                         /* out */
    char existing[CX_ID_LEN + 1];        /* out, with CX_EEXIST */
} dsvc_register_job;

typedef struct {
    const char *id;
    char now[32];
    int64_t idx; /* out */
} dsvc_remove_job;

/* What queries need to know of an entry without reading the database. */
typedef struct {
    int64_t idx;
    uint8_t watchlist;
    int64_t until_day; /* days since 1970 of valid_until; INT64_MAX when none */
} dsvc_meta;

struct designs_service {
    store *store;
    designs_config cfg;
    char dir[1024]; /* where files are kept */
    pthread_rwlock_t lock; /* guards ix and meta */
    designs_index *ix;
    dsvc_meta *meta; /* sorted by idx */
    size_t nmeta, capmeta;
    atomic_uint_fast64_t uploads, refused, matches[3];
};

/* service.c */
json_t *dsvc__matches(designs_service *d, store_conn *r, const designs_fp *fp, bool as_trader);
cx_err dsvc__verdict(designs_service *d, store_conn *r, const char *sha256, designs_verdict *out);
cx_err dsvc__add(designs_service *d, int64_t idx, designs_watchlist wl, const char *until,
                 const designs_fp *fp);
cx_err dsvc__remove(designs_service *d, const char *id, char removed_at[32]);
bool dsvc__valid_sha(const char *s);
/* Path of a kept file (dir/ab/abcdef…); false if sha is not 64 hex digits. */
bool dsvc__file_path(const designs_service *d, const char *sha, char *out, size_t cap);

/* dstore.c */
cx_err dsvc__job_upload(store_conn *w, void *arg);
cx_err dsvc__job_register(store_conn *w, void *arg);
cx_err dsvc__job_remove(store_conn *w, void *arg);
cx_err dsvc__read_file(store_conn *r, const char *sha, designs_fp *fp, char **inspection);
cx_err dsvc__read_entry(store_conn *r, int64_t idx, bool officer, json_t **out);
/* rows (may be NULL; room for limit) gets each item's row, the cursor */
cx_err dsvc__list(store_conn *r, const char *watchlist, int64_t after, int64_t limit, bool officer,
                  json_t *items, int64_t *rows, int64_t *last);
cx_err dsvc__load(designs_service *d, store_conn *r);
cx_err dsvc__uploads(store_conn *r, const char *sha, const char *org, json_t *items);
bool dsvc__is_registered(store_conn *r, const char *sha);

/* spine.c: alerts of an upload's matches (writer thread, in its job) */
cx_err dsvc__register_alerts(designs_service *d);
cx_err dsvc__upload_alerts(store_conn *w, const dsvc_upload_job *j);

#endif
