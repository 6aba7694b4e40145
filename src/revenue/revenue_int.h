/* Internal to the revenue module. */
#ifndef CUSTOMS_REVENUE_INT_H
#define CUSTOMS_REVENUE_INT_H

#include "revenue.h"

#include <pthread.h>

/* 128-bit intermediates: a product of two 15-digit coefficients at scale up
 * to 18 fits with room to spare (|v| < 10^33 once aligned, 2^127 ~ 1.7e38). */
__extension__ typedef __int128 rev_i128;

/* An exact intermediate amount: v / 10^REV_X_SCALE, or over the cap. */
#define REV_X_SCALE 18
typedef struct {
    rev_i128 v;
    bool over; /* beyond REV_AMOUNT_MAX at any exponent: treated as +infinity */
} rev_x;

rev_x rev_x_mul(rev_dec a, rev_dec b);         /* a × b */
rev_x rev_x_pct(int64_t amount, int exp, rev_dec pct); /* amount × pct / 100 */
rev_x rev_x_add(rev_x a, rev_x b);
int rev_x_cmp(rev_x a, rev_x b);
/* round half away from zero to exp; CX_ETOOBIG when over the cap */
cx_err rev_x_round(rev_x x, int exp, int64_t *out);
rev_x rev_x_amount(int64_t amount, int exp);

/* ---- exact number spellings of items (lexeme.c) ----
 * For each item, the text of value, quantity, net_mass_kg and tax_rate as
 * written (at NULL when absent or when there is no text). */
#define REV_LEX_MEMBERS 4
enum { REV_LEX_VALUE, REV_LEX_QUANTITY, REV_LEX_NET_MASS, REV_LEX_TAX_RATE };
typedef struct {
    const char *at[REV_LEX_MEMBERS];
    size_t len[REV_LEX_MEMBERS];
} rev_lexeme;
int rev__lex_member(const char *name);
/* Fills out[0..nitems) from text; false (and all NULL) when text is NULL
 * or does not match doc. */
bool rev__lexemes(const json_t *doc, const char *text, size_t len, rev_lexeme *out,
                  size_t nitems);

/* The text of a top-level number member of doc (e.g. a payment's amount). */
bool rev__top_lexeme(const json_t *doc, const char *text, size_t len, const char *key,
                     const char **at, size_t *n);

/* ---- the book's internals (book.c) ---- */
#define REV_HEADINGS 10000 /* 4-digit prefixes */
struct rev_book {
    char currency[4];
    int refs; /* the service's snapshot references (service.c) */
    rev_tariff_line *lines; /* sorted by hs_code, valid_from */
    size_t nlines, caplines;
    /* the lines' index (rev_book_finish), NULL when a code is not 2 to 10
     * digits (a book not made by the import) or out of memory: the code of
     * lines[i] as an integer, its digits padded with zeros to 10 then its
     * length (lkeys[i] = pad * 16 + length, which sorts as the strings do),
     * 8 bytes a probe instead of a line's cache miss; the lines whose
     * padded code starts with the 4 digits h are [lhead[h], lhead[h + 1]);
     * bit L of llens: some code has L digits */
    uint64_t *lkeys;
    uint32_t *lhead; /* REV_HEADINGS + 1 */
    uint32_t llens;
    rev_preference *prefs; /* sorted by hs_code, origin, valid_from */
    size_t nprefs, capprefs;
    rev_group_member *groups; /* sorted by group, country */
    size_t ngroups, capgroups;
    rev_rate *rates; /* sorted by currency, date */
    size_t nrates, caprates;
};

/* ---- parsed CSV rows (import.c) ---- */
struct rev_rows {
    rev_import_kind kind;
    size_t n, cap;
    uint64_t *lines; /* the CSV line of each row */
    union {
        rev_tariff_line *tariff;
        rev_preference *prefs;
        rev_group_member *groups;
        rev_rate *rates;
    } u;
};

/* ---- the cache of valuation statistics (uvcache.c) ---- */
typedef struct {
    uint64_t hash; /* the key's cx_map_hash; 0: empty */
    uint32_t len;  /* the key's length */
    rev_uv_stats st; /* n = 0: the key has no statistics */
} rev_uv_slot;
typedef struct {
    pthread_mutex_t mu;
    rev_uv_slot *slots; /* open addressing, cap a power of 2, at most half full */
    size_t cap, n;
    uint64_t epoch;      /* moves with every clear */
} rev_uvcache;
void rev__uvcache_init(rev_uvcache *c);
void rev__uvcache_free(rev_uvcache *c);
/* Statistics of keys as a committed job left them. */
typedef struct {
    char key[REV_UV_KEY_MAX];
    rev_uv_stats st;
} rev_uv_fresh;
typedef struct {
    rev_uv_fresh *v;
    size_t n, cap;
} rev_uv_freshlist;
cx_err rev__uv_fresh_add(rev_uv_freshlist *l, const char *key, const rev_uv_stats *st);
/* Puts fresh statistics in (inside the job that changed them, and again
 * once it committed). */
void rev__uvcache_refresh(rev_uvcache *c, const rev_uv_fresh *v, size_t n);
/* Empties it (a job that refreshed it rolled back). */
void rev__uvcache_clear(rev_uvcache *c);
/* true with *out on a hit; *epoch is the epoch to hand rev__uvcache_put
 * after a read of the database (taken before that read). */
bool rev__uvcache_get(rev_uvcache *c, const char *key, rev_uv_stats *out, uint64_t *epoch);
/* Keeps what was read unless the cache was cleared since epoch. */
void rev__uvcache_put(rev_uvcache *c, const char *key, const rev_uv_stats *st, uint64_t epoch);

/* ---- the tariff lines' immutable texts (linetext.c) ---- */
#define REV_LT_SEEN 1024
typedef struct {
    pthread_mutex_t mu;
    cx_map ids;   /* text id -> index into texts */
    char **texts; /* a line version's object text, as the member had it */
    size_t cap;
    /* ids known to be in the cache, read without the lock by
     * rev__line_ref on every item (slot id % REV_LT_SEEN; cleared with
     * the cache: a stale hit only makes the 201 read the text back) */
    _Atomic int64_t seen[REV_LT_SEEN];
} rev_linecache;
void rev__linecache_init(rev_linecache *c);
void rev__linecache_free(rev_linecache *c);
/* rev_lookups.line_ref over a cache (ctx): l->text_id once l's text is in
 * the cache (so the 201 expands without a read), 0 when l has none. */
int64_t rev__line_ref(void *ctx, const rev_tariff_line *l);
/* Appends text[0..len) to out with every compact member (compact.c)
 * expanded and every "tariff_line":ID replaced by the text of line version
 * ID, from the cache or read on conn (NULL: the cache only); c NULL: ids
 * stay ids. CX_EDB, logged, for an id without a text (a lost row: a
 * reader's CX_ENOTFOUND would read as an unknown declaration); CX_EPARSE:
 * a damaged member. */
cx_err rev__line_expand(rev_linecache *c, store_conn *conn, const char *text, size_t len,
                        cx_buf *out);
/* Appends the text of line version id (c NULL: id), as rev__line_expand. */
cx_err rev__line_put(rev_linecache *c, store_conn *conn, int64_t id, cx_buf *out);
/* The compact member's first bytes, and its expansion: text starts with
 * the tag; *used: the bytes of the member read (compact.c). */
extern const char rev_compact_tag[];
cx_err rev__compact_expand(rev_linecache *c, store_conn *conn, const char *text, size_t len,
                           size_t *used, cx_buf *out);
/* Gives every revenue_tariff row without a text (new, changed, or stored
 * before texts) its text id, adding texts not stored yet (a writer job). */
cx_err rev__line_texts_fill(store_conn *w);
/* Whether any revenue_tariff row has no text yet (a read). */
bool rev__line_texts_missing(store *s);
/* The tariff line of a revenue_tariff row selected as hs_code, valid_from,
 * valid_to, duty_type, ad_valorem_pct, specific_amount, specific_unit,
 * excise_pct, vat_pct, description[, text_id] (rstore.c); description is
 * the statement's. */
cx_err rev__tariff_row_line(sqlite3_stmt *st, rev_tariff_line *l);
/* An item's tariff_line object (assess.c) and its text, the bytes the
 * member's writer gives it (memtext.c); caller frees. */
json_t *rev__line_json(const rev_tariff_line *l);
char *rev__line_text(const rev_tariff_line *l);

/* ---- an assessment's result (assess.c), written once as a tree (rev_assess)
 * or straight as the member's texts, record and reasons (aswrite.c) ---- */
typedef struct {
    const rev_preference *p; /* NULL: no preference for the origin (null) */
    bool applied;
    bool has_cert;
    rev_certificate cert;
    char reason[320];
} rev_pref_res;
typedef struct {
    bool empty;         /* not a validated item: {} */
    const char *hs;     /* the item's (borrowed from the document) */
    const rev_tariff_line *line; /* the book's */
    int64_t ref;        /* the line's text id (> 0), else the line in full */
    const rev_rate *rate; /* NULL: the national currency */
    bool have_cv, ok, transmission;
    int64_t cv, duty, excise, vat;
    rev_pref_res pref;
} rev_item_res;
enum { REV_F_SELF_ASSESSMENT, REV_F_UNDERVALUATION };
#define REV_ITEMS_FEW 5
typedef struct {
    int rule;
    size_t item;
    char path[64], message[320];
    /* self_assessment: declared as text when it has more digits than a double keeps */
    rev_dec declared, tariff;
    char declared_text[32];
    int64_t shortfall;
    /* undervaluation */
    const char *basis; /* "KGM" or the item's unit (borrowed) */
    int level;
    int64_t n, expected, at_risk;
    rev_dec median;
} rev_finding;
typedef struct {
    char path[64], message[256];
} rev_problem;
typedef struct {
    const char *national, *date; /* the book's, the document's (NULL: none) */
    int exp;                     /* the minor unit as looked up (< 0: none) */
    rev_item_res *items;
    size_t n;
    rev_finding *f;
    size_t nf, capf;
    rev_problem *p;
    size_t np, capp;
    bool nomem;
    int64_t duty, excise, vat, total, at_risk;
    /* items when there are at most REV_ITEMS_FEW (most declarations): a
     * calloc of over 1 KiB (560 bytes an item) made malloc consolidate its
     * fast bins on every submission. Left out of the result's zeroing. */
    rev_item_res few[REV_ITEMS_FEW];
} rev_result;
/* The assessment of doc (rev_assess's rules) into res, which borrows from
 * b and doc: write it before either goes. CX_ENOMEM only. */
cx_err rev__assess_run(const rev_book *b, const json_t *doc, const char *text, size_t len,
                       const rev_lookups *lk, rev_result *res);
void rev__result_free(rev_result *res);
/* The `assessment` object of a result (caller decrefs; NULL: no memory). */
json_t *rev__result_json(const rev_result *res);
/* What a submission keeps of a result, version 1 assessed at `at`, written
 * from the structs (aswrite.c): the stored form and the trader's (NULL:
 * the same), compact (compact.c: expanded, they are the bytes
 * rev__member_texts writes of rev__result_json's tree with version and
 * assessed_at); the derivation record, rev__record_text of rev__row_of's
 * row. CX_EINVAL: a string the writer does not spell as jansson does (the
 * caller writes the tree instead). */
cx_err rev__result_texts(const rev_result *res, const json_t *doc, const char *at,
                         char **full, char **shown, char **record);
/* The same with the member's texts in full form. */
cx_err rev__result_full_texts(const rev_result *res, const json_t *doc, const char *at,
                              char **full, char **shown, char **record);
/* The same through the tree (rev__result_json, rev__member_texts,
 * rev__row_of, rev__record_text). */
cx_err rev__result_tree_texts(const rev_result *res, const json_t *doc, const char *at,
                              char **full, char **shown, char **record);
/* The risk reason of a finding (caller decrefs). */
json_t *rev__finding_reason(const rev_finding *f);
/* A number as jansson writes a real at JSON_REAL_PRECISION(15) (memtext.c). */
cx_err rev__json_real(cx_buf *b, double v);

/* ---- the service (service.c) ---- */
struct rev_service {
    store *s;
    decl_service *d;
    rev_config cfg;
    char currency[4];
    int exp;
    bool active;
    pthread_mutex_t mu;
    rev_book *book; /* current snapshot; replaced when the generation moves */
    int64_t generation;
    int64_t gen_bumps, gen_checked_us; /* what the last generation read covered */
    int64_t last_lodging_us; /* the worker reads the generation ahead while lodgings come */
    pthread_cond_t cv; /* wakes the statistics worker (observe.c) */
    pthread_t worker;
    bool worker_started, stop;
    rev_inspection_fn inspection; /* risk's outcomes (the summary's recovered) */
    void *inspection_ctx;
    rev_uvcache uv; /* hot statistics keys */
    rev_linecache lines; /* the line versions' texts stored members refer to */
    rev_reassessed_fn reassessed; /* risk re-ranks (rev_service_set_reassessed) */
    void *reassessed_ctx;
};
/* Tells r->reassessed what seq's current assessment puts at risk (inside
 * the re-assessment's job w). */
cx_err rev__tell_reassessed(rev_service *r, store_conn *w, int64_t seq);

/* The generation counter bumped by every import (revenue_meta). */
cx_err rev__generation(store_conn *c, int64_t *out);
/* Valuation statistics of key read on c (a reader or the writer): CX_OK
 * with out->n = 0 when the key has none; CX_EDB when they could not be
 * read, CX_EPARSE when the stored histogram is damaged, CX_ENOMEM. */
cx_err rev__uv_read(store_conn *c, const char *key, rev_uv_stats *out);
/* The items' unit values of an assessment as the obs column keeps them. */
cx_err rev__obs_text(const json_t *doc, const json_t *assessment, cx_buf *out);
/* The same from each item's customs value as the tree's number (NAN: none)
 * and whether the valuation control flagged it (ncv: the arrays' size);
 * lowest 6: the level-6 lines only (what a record keeps), 4: both. */
cx_err rev__obs_write(const json_t *doc, const double *cv, const bool *flagged, size_t ncv,
                      int lowest, cx_buf *out);
/* Folds every derived row after the watermark (up to the `derived` cursor)
 * into the statistics now, and refreshes cache (may be NULL) with the keys
 * it changed. */
cx_err rev__observe_now(store *s, rev_uvcache *cache, size_t *folded);
/* The statistics a histogram gives. */
void rev__uv_stats_of(const rev_hist *h, rev_uv_stats *out);
void rev__observer_start(rev_service *r);

/* Amount conversions shared by payments and guarantees. */
cx_err rev__convert(const rev_book *b, rev_dec amount, const char *currency, const char *date,
                    int64_t *national, const rev_rate **used, char *why, size_t whylen);

/* The current assessment of seq as officers (full) or others (public) read
 * it, in *out (caller owns it). The document is the member declare keeps
 * with the declaration (decl_member_get); the row has its amounts.
 * CX_ENOTFOUND when seq has none; CX_EDB when it could not be read,
 * CX_EPARSE when the stored member is damaged, CX_ENOMEM. */
cx_err rev__assessment_read(decl_service *d, store_conn *c, int64_t seq, bool officer,
                            json_t **out);
/* The member's texts from its tree (re-assessments; a submission's come
 * from aswrite.c, the same bytes): the stored form (without
 * revenue_at_risk, which the row keeps) and, when the valuation control
 * flagged an item, the trader's (else NULL). */
cx_err rev__member_texts(const json_t *assessment, char **full, char **shown);
/* Whether cx_buf_json_str writes s as jansson does (both refuse invalid
 * UTF-8): it does unless s has a control character other than \n, \r, \t. */
bool rev__json_plain(const char *s);
/* v in decimal, as jansson writes an integer. */
cx_err rev__json_int(cx_buf *b, int64_t v);

/* The lean row of an assessment (derive.c): amounts in minor units, who
 * and when, the unit values for the statistics (obs) and the certificates
 * of origin that proved a preference. Made from the declaration and its
 * assessment on any thread; plain data (no json_t), so a worker can hand
 * rows to the writer. */
typedef struct {
    char issuer[CX_ORG_MAX + 1];
    char number[65];
} rev_row_cert;
typedef struct {
    int64_t seq, version, duty, excise, vat, total, at_risk, problems;
    char decl_id[CX_ID_LEN + 1], org[CX_ORG_MAX + 1], office[17], date[REV_DATE_LEN + 1];
    char currency[4], assessed_at[40];
    char *obs;
    rev_row_cert *certs;
    size_t ncerts;
} rev_row;
cx_err rev__row_of(int64_t seq, const json_t *doc, const json_t *assessment, rev_row *out);
void rev__row_free(rev_row *r);
cx_err rev__row_certs(const json_t *assessment, rev_row_cert **out, size_t *n);
cx_err rev__certs_insert(store_conn *w, int64_t seq, const rev_row_cert *c, size_t n);
/* Inserts the row unless seq has one (which is kept: it may carry payments
 * or a later version); the certificates only with a new row. */
cx_err rev__row_insert(store_conn *w, const rev_row *r, const char *reason, const char *by);
/* The compact derivation record of a row (derive.c), from the tree path (a
 * submission's is aswrite.c's, the same bytes): a short JSON text kept by
 * declare in the declaration's row, never shown (caller frees; NULL when
 * out of memory). */
char *rev__record_text(const rev_row *r);
/* Makes seq's row from its record (or, lodged before records, the member's
 * text declare keeps), inside a writer job, unless it exists: what needs the row before the worker derived it calls
 * this first. CX_ENOTFOUND: the declaration has no assessment. */
cx_err rev__row_ensure_in(store_conn *w, int64_t seq);
/* The same in a writer job of its own (readers that found no row). */
cx_err rev__row_ensure(store *s, int64_t seq);
/* Derives the rows of every declaration after the cursor inside job w. */
cx_err rev__derive_in(store_conn *w);
/* Derives pending rows in batches (read here, one writer job each); *more
 * (may be NULL): stopped with more pending. */
cx_err rev__derive_now(store *s, bool *more);
/* Starts the cursor after the declarations already stored (once). */
cx_err rev__derive_init(store *s);
/* A first assessment after lodging: the row, and the document declare
 * keeps with the declaration. */
cx_err rev__assessment_insert(store_conn *w, int64_t seq, const json_t *doc,
                              const json_t *assessment, const char *reason, const char *by);
/* Moves the documents of rows written before declare kept them into the
 * declarations (once, at start). */
cx_err rev__assessments_move(store *s);
/* The assessment as traders see it: without the valuation control's
 * undervaluation findings and revenue at risk, which are made of other
 * traders' prices. Caller decrefs. */
json_t *rev__assessment_public(const json_t *assessment);
/* Folds the held (undervalued) observations of seq: on release; cache
 * (may be NULL) is refreshed once the job commits. */
cx_err rev__release_flagged(store_conn *w, int64_t seq, rev_uvcache *cache);

/* Assesses a declaration with the service's book and lookups (caller
 * decrefs); NULL when out of memory or without a book. w: the writer's
 * connection inside a job (certificates are read on it), else NULL.
 * lodging: the submission path's book (rev__book_get_lodging). */
json_t *rev__assess_doc(rev_service *r, store_conn *w, const json_t *doc, const char *text,
                        size_t len, bool lodging);

/* The ledger on revenue's side (ledger_link.c): joins r to cfg.ledger. */
cx_err rev__ledger_join(rev_service *r);
/* A payment.receipt entry as a payment of bank for seq (pay.c), inside the
 * ledger's job: idempotent by (bank, receipt_no) like the API's, converted
 * at its paid_at date. What revenue cannot count (no rate, a reference
 * used for another payment) is logged; the entry stands either way. */
cx_err rev__ledger_payment(rev_service *r, store_conn *w, int64_t seq, const char *bank,
                           const json_t *body, int64_t index);

/* A declaration's account (account.c): amounts in national minor units. */
typedef struct {
    int64_t seq, version, total, paid, refunded, guaranteed, at_risk, problems;
    char org[CX_ORG_MAX + 1];
    char decl_id[CX_ID_LEN + 1];
    char currency[4];
    int exp;
} rev_account;
cx_err rev__account_read(store_conn *c, int64_t seq, rev_account *out);
/* The payment_required gate's check, in the decision's writer job: CX_OK
 * when seq may be released (drawing on the trader's guarantees for what is
 * unpaid), CX_ESTATE with *no filled (409 payment_required) when not. */
cx_err rev__release_check(store_conn *w, int64_t seq, decl_gate_refusal *no,
                          rev_uvcache *cache);
json_t *rev__account_json(const rev_account *a);
/* A JSON amount (number) in minor units at exp; false if it has more decimals. */
bool rev__minor(const json_t *j, int exp, int64_t *out);
/* Member k of a as such an amount; 0 when absent or not one. */
int64_t rev__amount_of(const json_t *a, const char *k, int exp);
/* Gives back up to `amount` of the guarantee drawn for seq (payments,
 * re-assessment downwards); updates the account. */
cx_err rev__restore_draws(store_conn *w, int64_t seq, int64_t amount, const char *cause);
/* Re-assessment: stores a new version for seq (the caller assessed it),
 * records a refund when the new total falls below what was paid and
 * restores guarantees no longer needed. */
cx_err rev__reassess(decl_service *d, store_conn *w, int64_t seq, const json_t *assessment, const char *reason,
                     const char *by, rev_account *after);

/* ---- HTTP plumbing (pay.c) ----
 * A request that writes: the job runs on the writer and either fills body
 * (replied with ok_status) or calls rev__call_fail and returns an error. */
typedef struct rev_call {
    store_job job;
    http_req *req;
    rev_service *r;
    unsigned status, ok_status;
    char code[40], path[64], msg[256];
    char *body;
    size_t len;
    void (*free_extra)(struct rev_call *c);
} rev_call;
void rev__call_fail(rev_call *c, unsigned status, const char *code, const char *path,
                    const char *fmt, ...) CX_PRINTF(5, 6);
/* Defers r and queues the job; the reply comes from the writer's done. */
void rev__call_submit(rev_service *rs, rev_call *c, http_req *r, store_job_fn fn);
/* A request body to check: parsed (false after decl_parse_body replied
 * 400), with its text for the exact spelling of amounts and an empty list
 * for the check's problems, which go on to rev__job_new. The caller
 * decrefs json after the check. */
typedef struct {
    json_t *json, *problems;
    const char *text;
    size_t len;
} rev_body;
bool rev__body(http_req *r, rev_body *b);
/* After a body check: with problems, replies 400 `code` "the <what> has
 * problems" naming them; else a zeroed job of size bytes (caller frees),
 * or 500 when out of memory. NULL when it replied. Takes problems. */
void *rev__job_new(http_req *r, json_t *problems, const char *code, const char *what,
                   size_t size);
/* Steals j as the reply body. */
void rev__call_body(rev_call *c, json_t *j);
/* Who may call what (http_allow): officers and admins always; banks record
 * payments and read them; traders read their own declarations' accounts. */
#define REV_ROLES_PAY (CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_BANK))
#define REV_ROLES_TRADER (CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_TRADER))
#define REV_ROLES_ACCOUNT (REV_ROLES_PAY | CX_ROLE_BIT(CX_ROLE_TRADER))
/* The members of a body object against lists (body.c); appends problems. */
void rev__members(const json_t *body, const char *const *allowed, const char *const *required,
                  json_t *problems);
/* The declaration of the {id} parameter as the caller may see it; 404s. */
bool rev__declaration(rev_service *rs, http_req *r, int64_t *seq, char org[CX_ORG_MAX + 1]);
/* Its account, read on this thread's reader (*c); replies 404/503. */
bool rev__account_of(rev_service *rs, http_req *r, store_conn **c, rev_account *a);

/* Request members shared by the body checks and the ledger's receipts
 * (body.c); rev__amount_in appends its problem at /amount. */
bool rev__ref_ok(const char *s); /* 1..64 of A-Z a-z 0-9 . _ / - */
bool rev__amount_in(const json_t *body, const char *text, size_t len, const char *currency,
                    rev_dec *out, json_t *problems);
/* Converts amount to national minor units at the rate of date with the
 * service's book; the rate used goes to rate/rate_date ("" for national).
 * Replies 409 no_exchange_rate or 400 `code` and returns false. */
bool rev__convert_in(rev_service *rs, http_req *r, const char *code, rev_dec amount,
                     const char *currency, const char *date, int64_t *national, char rate[32],
                     char rate_date[11]);
/* A guarantee row selected with REV_G_COLUMNS as JSON (caller owns it). */
#define REV_G_COLUMNS                                                                        \
    "id, trader, reference, amount, currency, rate, amount_national, valid_until, drawn, " \
    "created_by, created_at, status, cancelled_at"
#define REV_G_NCOLUMNS 13
json_t *rev__guarantee_json(sqlite3_stmt *st, int exp);
/* Refund payouts and guarantee amend/cancel routes (settle.c). */
cx_err rev__settle_routes(rev_service *r, http_server *srv);
/* A refund row selected with REV_REFUND_COLUMNS as JSON (caller owns it). */
#define REV_REFUND_COLUMNS                                                                    \
    "f.id, a.decl_id, f.amount, a.currency, f.from_version, f.to_version, f.status, f.at, " \
    "f.payout_reference, f.paid_at, f.paid_by, f.paid_recorded_at"
json_t *rev__refund_json(sqlite3_stmt *st, int exp);
/* Inside the writer job that just recorded seq's newest refund: records
 * which organisations had paid on seq, the banks that may list and pay it
 * out (settle.c). */
cx_err rev__refund_payers_in(store_conn *w, int64_t seq);
/* A guarantee's newest REV_CHANGES_MAX changes, oldest first, set on g as
 * "changes" with "changes_truncated" (older ones left out). A read or a
 * change that fails is returned (CX_EDB, CX_ENOMEM) and g is left as is. */
#define REV_CHANGES_MAX 1000
cx_err rev__guarantee_changes_set(store_conn *c, const char *id, json_t *g);

/* HTTP internals (rev_http.c, pay.c). */
cx_err rev__pay_routes(rev_service *r, http_server *srv);
/* A reference to the current book (reloaded if an import moved the
 * generation, read from the database every call); release with
 * rev__book_put. NULL if none could be loaded. */
rev_book *rev__book_get(rev_service *r);
/* The same for the submission path: the generation is read only when an
 * import in this process committed since the last read, or the last read
 * is REV_GEN_CHECK_MS old (an import by another process). */
#define REV_GEN_CHECK_MS 100
rev_book *rev__book_get_lodging(rev_service *r);
/* Imports and currency changes committed by this process so far. */
int64_t rev__generation_bumps(void);
void rev__book_put(rev_service *r, rev_book *b);

#endif
