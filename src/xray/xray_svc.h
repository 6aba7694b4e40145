/*
 * xray_svc.h — the service's internals (storage, HTTP, the declaration
 * link), shared inside the xray module only.
 */
#ifndef CUSTOMS_XRAY_SVC_H
#define CUSTOMS_XRAY_SVC_H

#include "xray_int.h"

#include <pthread.h>
#include <stdatomic.h>

/* One stored scan. meta and analysis are JSON text owned by the row
 * (xray__row_clear frees them). */
typedef struct {
    int64_t seq;
    char id[XRAY_ID_MAX + 1];
    char sha256[65];
    char format[8];
    int width, height;
    int64_t bytes;
    char scanner[XRAY_ID_MAX + 1];
    char container[12];
    char declaration[XRAY_ID_MAX + 1];
    char time[40];
    char *meta, *analysis;
    int flagged; /* regions 1..flagged raised findings (regions come by descending score) */
    char received_at[32];
    char org[CX_ORG_MAX + 1];
    char role[16];
    int64_t key_id;
} xray_row;

typedef struct {
    char id[XRAY_ID_MAX + 1];
    char name[201], site[201];
    char org[CX_ORG_MAX + 1];
    int64_t key_id; /* 0: none */
    char created_at[32];
} xray_scanner;

typedef struct {
    const char *declaration, *container, *scanner; /* NULL: any */
    int64_t before;                                /* seq cursor; 0: from the newest */
    int limit;
} xray_filter;

typedef bool (*xray_row_fn)(void *ctx, const xray_row *r);

struct xray_service {
    store *store;
    decl_service *decl;
    xray_config cfg;
    char blob_dir[4096];
    /* analyses at once: a counting gate */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    unsigned running, waiting;
    /* metrics */
    atomic_ullong scans, rejected, duplicates, raises;
    atomic_ullong analysis_us, analyses;
};

/* scan_store.c */
void xray__sha256_hex(const uint8_t *data, size_t len, char out[65]);
cx_err xray__blob_dir_init(const char *dir, char *err, size_t errlen);
/* An unlinked read-write file in dir (an upload on its way in); -1 with errno. */
int xray__tmpfile(const char *dir);
/* Writes the bytes under their hash (fsynced, then renamed into place). */
cx_err xray__blob_put(const char *dir, const char *hex, const uint8_t *data, size_t len);
/* Reads them back; CX_ECRYPTO if the file no longer has that hash. *data
 * is freed with free(). */
cx_err xray__blob_get(const char *dir, const char *hex, uint8_t **data, size_t *len);
cx_err xray__row_get(store_conn *c, const char *id, xray_row *out);
cx_err xray__row_list(store_conn *c, const xray_filter *f, xray_row_fn fn, void *ctx);
cx_err xray__row_insert(store_conn *w, const xray_row *r, int64_t decl_seq);
void xray__row_clear(xray_row *r);
/* By id, or (id NULL) the scanner bound to device key key_id. */
cx_err xray__scanner_get(store_conn *c, const char *id, int64_t key_id, xray_scanner *out);

/* service.c */
/* The scan as the API shows it, appended to out as JSON text. */
cx_err xray__scan_json(store_conn *c, const xray_row *r, cx_buf *out);
/* Reads the image back and renders it (overlay with the stored regions). */
cx_err xray__render_stored(xray_service *x, const xray_row *r, bool overlay, cx_buf *out);

/* declared.c: what a declaration says about one of its containers. */
typedef struct {
    int64_t seq;
    bool single_container; /* lists exactly this container and no other */
    int empty;             /* -1 unknown, 0, 1 */
    double mass_kg;        /* gross mass of its items; NAN unknown */
    char chapters[8][3];
    size_t nchapters;
} xray_decl_view;
/* CX_ENOTFOUND: no such declaration; CX_EINVAL: it does not list the
 * container (msg says so). Reads on c. */
cx_err xray__declaration(store_conn *c, decl_service *d, const char *id, const char *container,
                         xray_decl_view *out, char *msg, size_t msglen);
bool xray__declares_empty(const json_t *doc);

/* Where xray joins declare's ordered sets: its member after the ledger's
 * hooks (it only decorates), its gate after risk's inspection gate (the
 * scan is part of the inspection) and before revenue's payment. */
#define XRAY_DECL_ORDER (DECL_ORDER_LEDGER + 50)
#define XRAY_GATE_ORDER (DECL_GATE_RISK + 50)

/* hooks.c: the release gate (decl_gate) and the declaration's "xray"
 * member (decl_hooks.decorate). */
cx_err xray__gate(void *ctx, const decl_gate_call *c, decl_gate_refusal *no);
cx_err xray__decorate(void *ctx, store_conn *r, int64_t seq, cx_buf *members);

/* upload.c: POST /v1/xray/scans (multipart or JSON, spooled) and its body
 * options for http_route_ex. */
extern const http_route_opts xray__upload_opts;
void xray__h_scans_post(http_req *r, void *ctx);
/* outcomes.c: POST …/regions/{n}/outcome, GET /v1/xray/quality, metrics. */
cx_err xray__outcome_routes(xray_service *x, http_server *srv);

#endif
