/* Internal to the declare module. */
#ifndef CUSTOMS_DECL_INT_H
#define CUSTOMS_DECL_INT_H

#include "declare.h"

#define DECL_PAGE_BYTES ((size_t)4 << 20) /* a list page stops growing here */
/* One declaration as text: a 1 MiB body (or import line, or CSV group)
 * with the server's members and its risk reasons fits with room to spare. */
#define DECL_TEXT_MAX ((size_t)8 << 20)

struct decl_service {
    store *store;
    decl_hooks *hooks; /* by order */
    size_t nhooks;
    decl_gate *gates;  /* by order */
    size_t ngates;
};

/* One declaration on its way to the writer. */
typedef struct {
    store_job job;
    decl_service *d;
    json_t *doc; /* the stored form, with server members */
    char *doc_text;  /* JSON text stored in the doc column (no risk) */
    size_t doc_len;
    char *risk_text; /* the risk member, stored in its own column; may be NULL */
    char *kept;      /* members kept for hooks (enrich_kept): {"name":full,…}; may be NULL */
    char *kept_shown; /* the same as the declarant sees them; NULL: as kept */
    char *kept_records; /* hooks' records (enrich_kept): {"name":record,…}; may be NULL */
    decl_kept_made *made; /* per hook, what enrich_kept made; NULL when no hook has one */
    char *text;      /* what the API shows (decl__write_reply); NULL until made */
    size_t len;
    /* the risk member a hook left in the row at insert, when it differs
     * from risk_text (decl__refresh_risk): the reply is made again with it */
    char *risk_refreshed;
    /* The reply is made while the writer commits (decl_store_text, the
     * HTTP create): both the maker and the job's done take one of these,
     * and the last of the two finishes the submission. */
    _Atomic int parties;
    cx_err result;    /* the job's (HTTP) */
    cx_err reply_err; /* the reply's making (HTTP) */
    int64_t seq;
    bool historical;       /* status historical: no enrich or indexed hooks */
    bool officer;          /* submitted by customs: the reply shows all of risk */
    http_req *req;         /* HTTP submissions */
    decl_done_fn user_done; /* bulk submissions */
    void *user_arg;
    decl_after_fn after;
    void *after_ctx;
    json_t *extra;
} decl_write;

/* raw: the submitted JSON text if there is one (stored verbatim), else NULL. */
cx_err decl__write_new(decl_service *d, const cx_principal *who, json_t *doc, const char *raw,
                       size_t rawlen, bool historical, decl_write **out);
void decl__write_free(decl_write *dw);
/* Makes dw->text, the submission's reply (the API form of what is
 * stored). Before the job is done (after_job false) it reads only what
 * decl__write_new made, so it may run while the writer inserts dw; after
 * it, it makes the reply again only if the insert left another risk. */
cx_err decl__write_reply(decl_write *dw, bool after_job);
/* Whether the caller is the last of dw's parties (see parties). */
bool decl__write_last(decl_write *dw);
/* The members hooks have declare keep (enrich_kept), made into dw->kept
 * and dw->kept_shown, and their records into
 * dw->kept_records (kept.c). */
cx_err decl__kept_texts(decl_write *dw);
/* Appends text[0..len), kept members' text, to out as readers see it:
 * expanded by the hooks' member_expand (kept.c); d NULL: as it is. */
cx_err decl__kept_expand(const decl_service *d, store_conn *c, const char *text, size_t len,
                         cx_buf *out);
cx_err decl__insert(store_conn *w, void *arg);
cx_err decl__submit(decl_service *d, const cx_principal *who, json_t *doc, const char *raw,
                    size_t rawlen, bool historical, decl_done_fn done, void *arg,
                    decl_after_fn after, void *after_ctx, json_t *extra);
cx_err decl__csv_reader(FILE *f, decl_import_run *run, decl_emit_fn emit, char *err,
                        size_t errlen);
/* Appends the API form of a stored declaration: doc, status (from its
 * column), risk, the latest decision, the members kept for hooks, then
 * decorations (only when r is not NULL). risk and decision are JSON texts
 * or NULL; kept is the kept members' object text for this reader (NULL:
 * none). officer: the reader is customs; anyone else gets the risk member
 * without the reasons and lane raises that are for customs alone
 * (decl_raise_lane_in). */
cx_err decl__compose(decl_service *d, store_conn *r, int64_t seq, const char *doc, size_t len,
                     const char *status, const char *risk, const char *decision,
                     const char *kept, bool officer, cx_buf *out);
/* The roles that submit and read declarations: trader, officer, admin. */
#define DECL_ROLES (CX_ROLE_BIT(CX_ROLE_TRADER) | CX_ROLES_OFFICER)
/* Whether who (NULL: no restriction) may see a declaration of org: officers
 * and admins all, traders their own org's. */
bool decl__visible(const cx_principal *who, const char *org);
/* POST /v1/declarations/{id}/decision, GET /v1/declarations/{id}/decisions */
cx_err decl__decision_routes(decl_service *d, http_server *srv);
/* One page of declarations visible to who, after the arrival number after;
 * a row that would not read or compose fails pg (its reply is the error).
 * CX_EDB when the statement could not be had (nothing was written). */
cx_err decl__list(decl_service *d, const cx_principal *who, int64_t after, http_pager *pg,
                  int64_t *last);

#endif
