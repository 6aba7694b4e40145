/*
 * declare.h — the door of the declarations module: reference data (ISO 3166-1
 * countries, ISO 4217 currencies, HS 2022), validation of a declaration with
 * every problem named by JSON Pointer, durable storage through the group
 * committing writer, the /v1/declarations API and bulk import.
 * Public names carry the prefix decl_.
 */
#ifndef CUSTOMS_DECLARE_H
#define CUSTOMS_DECLARE_H

#include "core.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- reference data ----------------------------------------------------------
 * Loaded once per process (later calls return the first result). Countries
 * and currencies come from iso-codes (/usr/share/iso-codes/json, or
 * $CUSTOMS_ISO_CODES_DIR); HS 2022 from data_dir/hs/harmonized-system.csv. */
cx_err decl_refdata_load(const char *data_dir, char *err, size_t errlen);

bool decl_country_valid(const char *s);  /* ISO 3166-1 alpha-2, or ZZ (unknown) */
bool decl_currency_valid(const char *s); /* ISO 4217 alpha-3 */
bool decl_hs6_known(const char *six);    /* an HS 2022 subheading, 6 digits */
bool decl_hs_chapter_known(const char *two);

typedef struct {
    const char *code;        /* "01", "0101", "010121" */
    const char *description;
    const char *parent;      /* "TOTAL" for chapters */
    int level;               /* 2, 4 or 6 */
} decl_hs_entry;
size_t decl_hs_count(void);
const decl_hs_entry *decl_hs_at(size_t i);
const decl_hs_entry *decl_hs_find(const char *code); /* NULL if unknown */

/* ISO 6346: 3-letter owner code, category U/J/Z, 6-digit serial, check digit. */
bool decl_container_valid(const char *s);
/* Check digit of the first 10 characters; -1 if they are malformed. */
int decl_iso6346_check_digit(const char *first10);

/* ---- decoding and validation ---------------------------------------------------- */
#define DECL_MAX_ITEMS 999
/* the largest quantity, mass or value an item may state */
#define DECL_NUM_MAX 1e15
#define DECL_MAX_CONTAINERS 256

/* Parses JSON text; on failure returns NULL and writes a sentence (with line
 * and column) into msg. Rejects duplicate keys, NUL in strings and invalid
 * UTF-8. Caller owns the result (json_decref). */
json_t *decl_parse(const char *text, size_t len, char *msg, size_t msglen);
/* decl_parse of a request's body; when it is not JSON, replies 400
 * invalid_json (the parser's sentence as the detail) and returns NULL.
 * Caller owns the result. */
json_t *decl_parse_body(http_req *r);

/* Checks doc against every rule; appends {"path","message"} objects to
 * problems (a JSON array) and returns true if there were none. */
bool decl_validate(const json_t *doc, json_t *problems);

/* ---- statuses ---------------------------------------------------------------------
 * submitted (as lodged), held, released, refused (the officer's decisions:
 * released and refused are final) and historical (history loaded in bulk:
 * final, never open work). NULL-terminated. */
extern const char *const decl_statuses[];
bool decl_status_known(const char *status);

/* ---- the service ---------------------------------------------------------------- */
typedef struct decl_service decl_service;

cx_err decl_migrate(store *s, char *err, size_t errlen);

/* Hooks let later modules join the spine without declare knowing them.
 * Each set has a name and an order: every kind of hook runs in ascending
 * order (ties in the order added), whatever order the services started in.
 * enrich runs on the submitting thread after validation and before the
 *   write; it may add server-computed members to doc. A "risk" member is
 *   kept in its own column (see decl_raise_lane) and shown with the doc.
 * indexed runs on the writer thread inside the transaction, after the row
 *   is inserted (seq is its arrival number); an error rolls the row back.
 * decorate runs whenever a declaration is read for the API (GET one, list)
 *   on the reader's connection; it appends members to the object as JSON
 *   text, each written as ,"name":value (e.g. "inspection").
 * Historical declarations (decl_import_set_historical) are records of past
 * trade: enrich and indexed do not run for them (they are never assessed);
 * decorate does. */
/* What an enrich_kept hook hands declare of its member (see decl_hooks). */
typedef struct {
    char *full, *shown, *record;
} decl_kept_made;
typedef struct {
    const char *name; /* "risk": named in errors and logs */
    int order;        /* DECL_ORDER_* */
    void (*enrich)(void *ctx, const cx_principal *who, json_t *doc);
    cx_err (*indexed)(void *ctx, store_conn *w, int64_t seq, const json_t *doc);
    cx_err (*decorate)(void *ctx, store_conn *r, int64_t seq, cx_buf *members);
    void *ctx;
    /* Like enrich, with the submitted JSON text (HTTP bodies and JSONL
     * lines; NULL for CSV rows), for members computed from a number's exact
     * spelling, e.g. money read as decimal text rather than as a double.
     * Runs in the set's order, right after the set's enrich. */
    void (*enrich_text)(void *ctx, const cx_principal *who, json_t *doc, const char *text,
                        size_t len);
    /* A member declare keeps in the declaration's row (NULL: none), made by
     * enrich_kept below: declare stores its texts and record as made, shows
     * the member from them in the 201 and every read, and
     * decl_member_set_in replaces it later. */
    const char *member;
    /* Optional, with member: the member's texts may be stored short
     * (e.g. referring to immutable rows of the hook's own instead of
     * copying them); member_expand appends text[0..len) — the kept members'
     * text or a part of it — to out with the hook's references in it
     * replaced by what they stand for, byte for byte the text it would
     * have had unshortened, and leaves everything else as it is (texts
     * stored unshortened pass through). c: a connection to read on (a
     * reader, or the writer inside a job); NULL for the 201 reply, composed
     * right after enrich_kept on the submitting thread. Declare calls it
     * on every read of kept members: the 201, GET, lists, exports,
     * decisions, decl_member_get and decl_kept_after. */
    cx_err (*member_expand)(void *ctx, store_conn *c, const char *text, size_t len, cx_buf *out);
    /* With member: makes the member at submission (on the submitting
     * thread, after the set's enrich and enrich_text) and hands declare its
     * texts: made->full (what customs reads), made->shown (what the
     * declarant and other non-customs readers see; NULL: the same) and
     * made->record (the hook's private record of the member, e.g. what it
     * derives its own rows from; NULL: none) — malloc'd, owned by declare
     * after the call; full NULL: no member. The record is stored in the same
     * write and never shown (no read, 201, list or export has it); only
     * decl_kept_after hands it back, and it stays as made at submission. Like
     * enrich it may add members to doc (e.g. risk reasons); what it puts
     * under the member's name is only for the indexed hooks (never stored
     * or shown). An error refuses the submission (503). */
    cx_err (*enrich_kept)(void *ctx, const cx_principal *who, json_t *doc, const char *text,
                          size_t len, decl_kept_made *made);
} decl_hooks;

/* Orders in use: risk scores first (its lane is what later hooks see), the
 * ledger's findings may then raise the lane, revenue assesses last. */
enum { DECL_ORDER_RISK = 100, DECL_ORDER_LEDGER = 200, DECL_ORDER_REVENUE = 300 };

/* The service borrows s; free the service before the store. */
decl_service *decl_service_new(store *s);
void decl_service_free(decl_service *d);
/* Adds a set of hooks (copied) before the server starts: CX_EINVAL without
 * a name, CX_EEXIST when a set of that name is already there, CX_ENOMEM. */
cx_err decl_service_add_hooks(decl_service *d, const decl_hooks *h);
store *decl_service_store(decl_service *d);

/* ---- decision gates ----------------------------------------------------------------
 * An officer's decision (release, hold, refuse) passes every gate, in
 * ascending order, inside the decision's writer job: the first refusal wins
 * and the declaration is unchanged. A gate names its own HTTP status, error
 * code and sentence, so that a client can tell "pay first"
 * (payment_required) from "verify the operator" (verification_required)
 * from "inspect first" (decision_refused). docs/api.md lists every code.
 *
 *   static cx_err paid(void *ctx, const decl_gate_call *c, decl_gate_refusal *no)
 *   {
 *       if (strcmp(c->decision, "release") || revenue__paid(c->w, c->seq))
 *           return CX_OK;
 *       return decl_gate_refuse(no, 409, "payment_required", "/decision",
 *                               "the duties of %s are not paid", c->id);
 *   }
 *   decl_gate g = {.name = "revenue.paid", .order = DECL_GATE_REVENUE, .check = paid};
 *   decl_gate_add(decl, &g);
 */
typedef struct {
    store_conn *w;            /* the writer's connection: reads see the decision's transaction */
    int64_t seq;              /* the declaration's arrival number */
    const char *id;           /* its id */
    const char *org;          /* the declarant's organisation */
    const char *status;       /* current status: "submitted" or "held" */
    const char *decision;     /* "release", "hold" or "refuse" */
    const cx_principal *who;  /* the caller: org, role, key_id, subject */
} decl_gate_call;

typedef struct {
    unsigned status;   /* 403, 409 … */
    char code[48];     /* "payment_required" */
    char message[256]; /* a sentence for the officer */
    json_t *details;   /* [{"path","message"}]; owned; may stay NULL */
} decl_gate_refusal;

typedef struct {
    const char *name; /* "risk.inspection" */
    int order;        /* DECL_GATE_* */
    /* CX_OK passes; CX_ESTATE refuses (fill *no, decl_gate_refuse does);
     * any other error aborts the decision with 503. */
    cx_err (*check)(void *ctx, const decl_gate_call *call, decl_gate_refusal *no);
    void *ctx;
} decl_gate;

/* Who checks first: who may act (bio), then what must be done (risk's
 * inspection), then what must be paid (revenue). */
enum { DECL_GATE_BIO = 100, DECL_GATE_RISK = 200, DECL_GATE_REVENUE = 300 };

/* Adds a gate (copied) before the server starts: CX_EINVAL without a name or
 * check, CX_EEXIST for a name already there, CX_ENOMEM. */
cx_err decl_gate_add(decl_service *d, const decl_gate *g);
/* Fills a refusal: status, code, the sentence, and one detail at path (NULL:
 * none; the detail repeats the sentence). Returns CX_ESTATE for the gate to
 * return. */
cx_err decl_gate_refuse(decl_gate_refusal *no, unsigned status, const char *code,
                        const char *path, const char *fmt, ...) CX_PRINTF(5, 6);

/* The officer's decision as POST /v1/declarations/{id}/decision makes it:
 * body {"decision": "release"|"hold"|"refuse", "reason"} checked (400
 * invalid_decision), the transition (409 invalid_transition), every gate
 * (a refusal in the gate's own status and code), the new status and the
 * history row in one writer job (503 unavailable when it cannot be stored).
 * Blocks until durable. who must be an officer or admin (403 otherwise).
 * Clear res with decl_decision_clear. */
typedef struct {
    unsigned status;   /* 200 decided; otherwise the HTTP status of the error */
    char code[48];     /* "" on success */
    char message[256];
    json_t *details;   /* [{"path","message"}], owned; NULL on success */
    char *json;        /* on success: the declaration as the API shows it now */
    size_t len;
} decl_decision;
void decl_decide(decl_service *d, const cx_principal *who, const char *id, const json_t *body,
                 decl_decision *res);
void decl_decision_clear(decl_decision *res);

/* POST/GET /v1/declarations, GET /v1/declarations/{id}, the officer's
 * decision (POST /v1/declarations/{id}/decision, GET …/decisions); metrics. */
cx_err decl_routes(decl_service *d, http_server *srv);

/* Stores one validated declaration for org, blocking until durable.
 * doc gains id, org, status and received_at. CX_EEXIST on a duplicate
 * reference. The stored JSON text is returned in *stored if not NULL
 * (caller frees). */
cx_err decl_store_one(decl_service *d, const cx_principal *who, json_t *doc, char **stored);
/* The same for a caller that holds the submitted JSON text doc was parsed
 * from (len bytes, borrowed), as POST /v1/declarations does: the text is
 * stored as written (whitespace between tokens dropped) and the enrich
 * hooks read its exact numbers. */
cx_err decl_store_text(decl_service *d, const cx_principal *who, json_t *doc, const char *text,
                       size_t len, char **stored);

/* Asynchronous form for bulk loads: done(arg, result, doc) runs on the
 * writer thread after the commit. doc is borrowed by the call until done. */
typedef void (*decl_done_fn)(void *arg, cx_err result, json_t *doc);
cx_err decl_store_async(decl_service *d, const cx_principal *who, json_t *doc, decl_done_fn done,
                        void *arg);

/* Reads one declaration as the API shows it to who (NULL = no restriction).
 * CX_ENOTFOUND if unknown or not visible. *json is freed by the caller. */
cx_err decl_get(decl_service *d, const cx_principal *who, const char *id, char **json);

/* Finds a declaration's arrival number and org by id; CX_ENOTFOUND. */
cx_err decl_lookup(decl_service *d, const char *id, int64_t *seq, char org[CX_ORG_MAX + 1]);

/* Calls fn with the id and date (YYYY-MM-DD) of the newest `limit`
 * declarations that list container and are dated `since` (YYYY-MM-DD; NULL:
 * any) or later, newest first; fn returns false to stop. Bounded whatever
 * the number of declarations on the container (indexed). Strings live only
 * during the call. Uses this thread's read connection. */
typedef bool (*decl_container_fn)(void *ctx, const char *id, const char *date);
cx_err decl_find_by_container(decl_service *d, const char *container, const char *since,
                              int limit, decl_container_fn fn, void *ctx);

/* Raises (never lowers) the risk lane of a declaration: green < yellow <
 * red. reason (stolen) is appended to risk.reasons, e.g.
 * {"feature":"alert.seal_opened","contribution":1,"detail":"…"}. Durable
 * when it returns CX_OK. CX_ENOTFOUND for an unknown id. The risk member's
 * "lane" and "reasons" are the part of it declare maintains (its other
 * members are the enrich hook's): a declaration without one gets
 * {"lane":…,"reasons":[…]}. */
cx_err decl_raise_lane(decl_service *d, const char *id, const char *lane, json_t *reason);

/* The same inside a writer job of another module (w is the writer's
 * connection), so the raise commits or rolls back with that job. reason is
 * borrowed. A reason with "customs_only": true (a finding that rests on
 * another organisation's declaration) is for customs alone: the declarant
 * reads neither the reason nor the raise — its view keeps the lane it saw
 * before (risk.declarant_lane, which only customs reads). */
cx_err decl_raise_lane_in(store_conn *w, const char *id, const char *lane, const json_t *reason);

/* The same for a declaration being submitted, from an enrich hook: raises
 * the risk member of doc (adding one when it has none), so that the row is
 * written once with the raise and the 201 shows it — no update of the row
 * on the writer. reason is borrowed. CX_EINVAL for an unknown lane. */
cx_err decl_raise_lane_doc(json_t *doc, const char *lane, const json_t *reason);

/* The newest `limit` declarations whose transport document has this number
 * (any document type), newest first, read on c: this thread's reader, or
 * the writer's connection inside a job. Indexed and bounded in SQL: a number
 * shared by 100,000 declarations costs `limit` rows. fn gets each one's id
 * and stored JSON text (the submitted document with id, org, received_at; no
 * status, risk or decision, which change after lodging) and returns false
 * to stop. Strings live only during the call. */
typedef bool (*decl_doc_fn)(void *ctx, const char *id, const char *doc, size_t len);
cx_err decl_find_by_transport_doc(store_conn *c, const char *number, int limit, decl_doc_fn fn,
                                  void *ctx);
/* The mirror check's read: the newest `limit` declarations of type `type`
 * on transport document `number`, newest first, read on c like the above
 * (an index on number and type; bounded the same way). fn gets each one's id, org, the sum of its item
 * values and their one currency (NULL when the items mix currencies or one
 * has none) and returns false to stop. Strings live only during the call. */
typedef bool (*decl_mirror_fn)(void *ctx, const char *id, const char *org, double total,
                               const char *currency);
cx_err decl_find_mirrors(store_conn *c, const char *number, const char *type, int limit,
                         decl_mirror_fn fn, void *ctx);
/* The stored JSON text of one declaration, the same way; CX_ENOTFOUND. */
cx_err decl_doc(store_conn *c, const char *id, decl_doc_fn fn, void *ctx);
/* Every declaration in arrival order, the same way, until fn returns false. */
cx_err decl_scan(store_conn *c, decl_doc_fn fn, void *ctx);

/* Number of declarations stored. */
int64_t decl_count(decl_service *d);

/* A member declare keeps for a hook (decl_hooks.member): replaces
 * it inside a writer job (w) with full (customs' form) and shown (the
 * declarant's; NULL: the same as full), both JSON texts, borrowed; name is
 * the hook's member. CX_ENOTFOUND for an unknown seq. */
cx_err decl_member_set_in(store_conn *w, int64_t seq, const char *name, const char *full,
                          const char *shown);
/* Such a member's text read on c, full (customs' form) or as shown to the
 * declarant, expanded by d's hooks (member_expand; d NULL: as stored);
 * *text is NULL when the declaration has none. Caller frees.
 * CX_ENOTFOUND for an unknown seq. */
cx_err decl_member_get(decl_service *d, store_conn *c, int64_t seq, const char *name, bool full,
                       char **text);

/* The declarations after arrival number `after` that keep member `name`,
 * for a module that derives its own rows from them in batches, read on c
 * (a reader, or the writer inside a job): at most `limit` declarations are
 * looked at, in arrival order, and fn gets each one's seq, stored document
 * text (as decl_doc gives it), the member's full (customs') text and the
 * hook's record of it (enrich_kept's made->record: its JSON text; NULL when
 * none, e.g. declarations stored before records or by a hook without
 * them); member is given only when there is no record (the record is what
 * a deriving module reads: extracting every row's member cost more than
 * the rest of the read), and may be NULL then too. fn returns false
 * to stop. *last is the last seq looked at (after when none), where the
 * next batch starts — declarations with neither (history, lodged while the
 * module was off) are passed over, never looked at twice. The member is
 * expanded by d's hooks (member_expand; d NULL: as stored). Strings live
 * only during the call. */
typedef bool (*decl_kept_fn)(void *ctx, int64_t seq, const char *doc, size_t len,
                             const char *member, const char *record);
cx_err decl_kept_after(decl_service *d, store_conn *c, const char *name, int64_t after,
                       int limit, int64_t *last, decl_kept_fn fn, void *ctx);

/* The risk member of a declaration as stored (JSON text, the enrich hook's
 * with declare's raises), read on c; *risk is NULL when it has none.
 * Caller frees. CX_ENOTFOUND for an unknown seq. */
cx_err decl_risk_get(store_conn *c, int64_t seq, char **risk);

/* ---- reading declarations in other modules' queries ---------------------------------
 * Other modules never read the declarations table. For lists that join
 * their own tables with declarations (the risk queue, training sets), the
 * declare module's migrations keep one read-only view, decl_view:
 *   seq INTEGER   arrival number (other modules key their rows on it)
 *   id, org, reference, type, date, received_at TEXT
 *   status TEXT   submitted | held | released | refused | historical
 *   lane TEXT     green | yellow | red, or NULL when not assessed
 *   risk TEXT     the risk member (JSON), or NULL
 *   doc TEXT      the stored document (as decl_doc gives it)
 * Columns are only ever added to it. Statuses that are final: released,
 * refused, historical (decl_status_final). */
#define DECL_VIEW "decl_view"
/* A term on DECL_VIEW's status (prefix it with the view's alias: "d."
 * DECL_OPEN_WHERE) that holds exactly for the open work, submitted or held,
 * in the words of declare's partial index on those rows: a statement that
 * says it reads only the open declarations, from that index. */
#define DECL_OPEN_WHERE "status IN ('submitted', 'held')"
bool decl_status_final(const char *status);

/* ---- bulk import -----------------------------------------------------------------
 * Formats: "jsonl" (one declaration per line) and "csv" (docs/declaration.md,
 * one row per item, rows grouped by reference). */
typedef struct {
    const char *path;        /* shown in messages; opened unless file is set */
    FILE *file;              /* read this instead of opening path (not closed) */
    bool dry_run;            /* validate and report only; nothing is stored */
    const char *format;      /* NULL: from the file extension */
    const char *org;         /* declarations are stored for this org */
    const char *rejects;     /* JSONL file of rejected declarations; NULL = none */
    bool progress;           /* progress bar on a terminal */
    bool quiet;              /* no reports on stderr (rejects file still written) */
} decl_import_opts;

typedef struct {
    uint64_t imported;
    uint64_t rejected;
} decl_import_result;

/* Validates each declaration as over HTTP and stores each atomically. Bad
 * ones are skipped, reported to stderr with their line and written to
 * rejects. Returns an error only if the file cannot be read at all.
 * With dry_run, d may be NULL and "imported" counts the valid ones. */
cx_err decl_import(decl_service *d, const decl_import_opts *o, decl_import_result *res,
                   char *err, size_t errlen);

/* Import formats register here, so modules can add theirs (e.g. "kcs").
 * A reader turns the file into declarations and hands each to emit with the
 * line it came from. emit steals doc, problems and extra (each may be NULL):
 * problems the reader found itself reject the declaration; extra travels to
 * the run's after-hook. emit returns false to stop the read. */
typedef struct decl_import_run decl_import_run;
typedef bool (*decl_emit_fn)(decl_import_run *run, json_t *doc, uint64_t line,
                             json_t *problems, json_t *extra);
typedef cx_err (*decl_reader_fn)(FILE *f, decl_import_run *run, decl_emit_fn emit,
                                 char *err, size_t errlen);
cx_err decl_import_register(const char *format, decl_reader_fn reader);
/* Progress of the reader, in bytes of the file. */
void decl_import_progress(decl_import_run *run, uint64_t offset);
/* Per-declaration extra work for a format (e.g. KCS outcomes): runs on the
 * writer thread in the declaration's own savepoint, after the insert. */
typedef cx_err (*decl_after_fn)(void *ctx, store_conn *w, int64_t seq, const json_t *doc,
                                const json_t *extra);
void decl_import_set_after(decl_import_run *run, decl_after_fn fn, void *ctx);
/* The run's declarations are history (past trade loaded for training and
 * reference, e.g. KCS): status "historical", which is final; never in open
 * queues or today's counts, never assessed (no enrich or indexed hooks),
 * never gated. The after-hook still runs. */
void decl_import_set_historical(decl_import_run *run);

#endif
