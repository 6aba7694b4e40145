/*
 * revenue.h — the door of the revenue module: exact decimal money with ISO
 * 4217 minor units, the tariff (lines versioned by validity dates,
 * preferences, country groups) and exchange rates imported from CSV, the
 * assessment of a declaration (customs value, duty, excise, VAT, preferences
 * proven by certificates, the self-assessment and valuation checks),
 * payments, guarantees and refunds, the release check and the revenue
 * summary. Public names carry the prefix rev_. See docs/revenue.md.
 *
 * Money is never a binary double: amounts are read from the decimal text of
 * the declaration, computed in integers (128-bit intermediates) and rounded
 * half away from zero to the national currency's minor unit.
 */
#ifndef CUSTOMS_REVENUE_H
#define CUSTOMS_REVENUE_H

#include "core.h"
#include "declare.h"
#include "http.h"
#include "ledger.h"
#include "store.h"

#include <jansson.h>

/* ---- decimals ----------------------------------------------------------------
 * value = coef / 10^scale. A declaration's numbers are read with up to 18
 * significant digits and 18 decimals (any double a client printed with
 * %.17g is read as the decimal it spells). What the module stores and
 * writes back (tariff rates, exchange rates, payments, every amount) has
 * at most 15 significant digits and 9 decimals, so each has exactly one
 * double and JSON numbers written from it read back to the same text. */
#define REV_PARSE_DIGITS 18
#define REV_PARSE_SCALE 18
#define REV_MAX_DIGITS 15
#define REV_MAX_SCALE 9
typedef struct {
    int64_t coef;
    int scale; /* 0..REV_PARSE_SCALE */
} rev_dec;

/* Parses a JSON number's text (-?int(.frac)?(e[+-]?exp)?) exactly; false if
 * it is not one, has more than REV_PARSE_DIGITS significant digits or more
 * than REV_PARSE_SCALE decimals once the exponent is applied. */
bool rev_dec_parse(const char *s, size_t n, rev_dec *out);
/* Whether d fits what is stored: REV_MAX_DIGITS digits, REV_MAX_SCALE decimals. */
bool rev_dec_storable(rev_dec d);
/* A JSON number as a decimal: from lexeme (its text in the document) when
 * given, else from jansson's value (integers exactly; reals by their
 * shortest round-trip spelling: what was written, for up to 15 significant
 * digits). */
bool rev_dec_from_json(const json_t *j, const char *lexeme, size_t len, rev_dec *out);
/* Plain decimal text ("-12.50"); out needs 32 bytes. */
void rev_dec_format(rev_dec d, char out[32]);
/* A JSON number with the same value (an integer when there is no
 * fraction). Caller owns it. */
json_t *rev_dec_json(rev_dec d);
int rev_dec_cmp(rev_dec a, rev_dec b);
bool rev_dec_is_zero(rev_dec d);

/* ---- amounts in minor units ----------------------------------------------------
 * An amount is an integer count of the currency's minor unit (cents for EUR,
 * won for KRW). |amount| < REV_AMOUNT_MAX: larger results are refused. */
#define REV_AMOUNT_MAX 1000000000000000LL /* 10^15 */

/* The ISO 4217 minor unit (exponent) of a currency: 0..4, or -1 when the
 * code is unknown or has none (XAU, XDR…). Loaded from
 * data_dir/revenue/iso4217-minor-units.csv on first use (NULL: cx_data_dir). */
cx_err rev_minor_load(const char *data_dir, char *err, size_t errlen);
int rev_minor_unit(const char *currency);

/* round_half_away(a × b) to exponent exp; CX_ETOOBIG past REV_AMOUNT_MAX. */
cx_err rev_mul(rev_dec a, rev_dec b, int exp, int64_t *out);
/* round_half_away(amount × pct / 100) at the amount's own exponent. */
cx_err rev_pct(int64_t amount, rev_dec pct, int64_t *out);
/* amount at exponent exp as a decimal / JSON number / text ("1,240,000.50"
 * with thousands separators when grouped). */
rev_dec rev_amount_dec(int64_t amount, int exp);
json_t *rev_amount_json(int64_t amount, int exp);
void rev_amount_format(int64_t amount, int exp, bool grouped, char out[40]);
/* "690722" -> "6907.22", "69072210" -> "6907.22.10"; out needs 16 bytes. */
void rev_hs_dotted(const char *hs, char out[16]);

/* ---- the tariff book: lines, preferences, groups, rates --------------------------
 * An immutable snapshot used by assessments; built from the database (the
 * service reloads it when an import changes the tables) or from rows in
 * tests. Lookups are binary searches on sorted arrays: no caller-chosen key
 * can make them slow. */
typedef enum {
    REV_DUTY_AD_VALOREM,
    REV_DUTY_SPECIFIC,
    REV_DUTY_COMPOUND, /* ad valorem + specific */
    REV_DUTY_MAX_OF,
    REV_DUTY_MIN_OF,
} rev_duty_type;
const char *rev_duty_type_name(rev_duty_type t);

#define REV_HS_MAX 10
#define REV_DATE_LEN 10
#define REV_GROUP_MAX 32
#define REV_DESC_MAX 512

typedef struct {
    char hs_code[REV_HS_MAX + 1];
    char valid_from[REV_DATE_LEN + 1];
    char valid_to[REV_DATE_LEN + 1]; /* "" = open */
    rev_duty_type duty_type;
    bool has_ad_valorem, has_specific;
    rev_dec ad_valorem_pct, specific_amount;
    char specific_unit[4];
    rev_dec excise_pct, vat_pct;
    char *description; /* owned by whoever owns the row */
    /* the immutable text of this version of the line (revenue_line_texts,
     * written by the import and never changed): what a stored assessment
     * refers to instead of copying the line; 0: none (a book not loaded
     * from a database) */
    int64_t text_id;
} rev_tariff_line;

typedef struct {
    char hs_code[REV_HS_MAX + 1];
    char origin[REV_GROUP_MAX + 1]; /* ISO country or group name */
    rev_dec ad_valorem_pct;
    bool requires_certificate;
    char valid_from[REV_DATE_LEN + 1];
    char valid_to[REV_DATE_LEN + 1];
} rev_preference;

typedef struct {
    char group[REV_GROUP_MAX + 1];
    char country[3];
} rev_group_member;

typedef struct {
    char currency[4];
    char date[REV_DATE_LEN + 1];
    rev_dec rate; /* national currency per unit */
} rev_rate;

typedef struct rev_book rev_book;

/* A new empty book for national currency `currency` ("" = not set). The
 * add functions copy rows (strings included); finish sorts and indexes.
 * Free with rev_book_free. NULL on allocation failure. */
rev_book *rev_book_new(const char *currency);
cx_err rev_book_add_line(rev_book *b, const rev_tariff_line *l);
cx_err rev_book_add_preference(rev_book *b, const rev_preference *p);
cx_err rev_book_add_group(rev_book *b, const rev_group_member *g);
cx_err rev_book_add_rate(rev_book *b, const rev_rate *r);
void rev_book_finish(rev_book *b);
void rev_book_free(rev_book *b);
const char *rev_book_currency(const rev_book *b);
size_t rev_book_lines(const rev_book *b);

/* The line for an item's code on a date: among lines valid on date
 * (valid_from <= date <= valid_to), the longest hs_code that is a prefix of
 * hs. NULL if none. */
const rev_tariff_line *rev_book_line(const rev_book *b, const char *hs, const char *date);
/* The rate of currency on date: the latest on or before it. NULL if none
 * (the national currency itself has rate 1 and needs no row). */
const rev_rate *rev_book_rate(const rev_book *b, const char *currency, const char *date);
bool rev_book_in_group(const rev_book *b, const char *group, const char *country);
bool rev_book_has_group(const rev_book *b, const char *group);
/* Preferences for hs (any prefix of it) and the item's origin country
 * (directly or through a group), valid on date; fn is called for each until
 * it returns false. */
typedef bool (*rev_pref_fn)(void *ctx, const rev_preference *p);
void rev_book_preferences(const rev_book *b, const char *hs, const char *country,
                          const char *date, rev_pref_fn fn, void *ctx);

/* ---- CSV importers -----------------------------------------------------------------
 * Each reads a whole file (RFC 4180, header line naming the columns in any
 * order; unknown or missing columns refuse the file) and checks every row.
 * Every problem is reported with its line ({"line","column","message"} into
 * problems); when there is any, nothing is stored. Policy: all or nothing. */
typedef enum { REV_IMPORT_TARIFF, REV_IMPORT_PREFERENCES, REV_IMPORT_GROUPS, REV_IMPORT_RATES } rev_import_kind;
const char *rev_import_kind_name(rev_import_kind k);

typedef struct rev_rows rev_rows;
/* Parses f; *out (freed with rev_rows_free) holds the rows when there was
 * no problem. Returns CX_EINVAL with problems listed (at most 1000, count in
 * *nproblems), CX_EPARSE/CX_ETOOBIG for CSV syntax, CX_OK otherwise.
 * Needs declare's reference data for countries and currencies. */
cx_err rev_rows_parse(rev_import_kind kind, FILE *f, rev_rows **out, json_t *problems,
                      size_t *nproblems);
void rev_rows_free(rev_rows *r);
size_t rev_rows_count(const rev_rows *r);
/* Adds the rows to a book (tests and tools that need no database). */
cx_err rev_rows_to_book(const rev_rows *r, rev_book *b);

/* ---- schema and storage ---------------------------------------------------------------- */
cx_err rev_migrate(store *s, char *err, size_t errlen);

typedef struct {
    uint64_t rows, inserted, replaced, closed; /* closed: open lines ended by newer ones */
} rev_import_result;
/* Stores parsed rows in one writer job, versioned by validity dates: a row
 * with the key and valid_from of a stored one replaces it; a stored
 * open-ended row that an incoming row of the same key starts after is ended
 * the day before; any other overlap is a problem (line named) and nothing is
 * stored (CX_EINVAL). Groups replace the members of each group they name.
 * file is recorded in the import log. */
cx_err rev_rows_store(store *s, const rev_rows *r, const char *file, rev_import_result *res,
                      json_t *problems);
/* The national currency kept in the database; "" when none. */
cx_err rev_currency_get(store *s, char out[4]);
/* Sets it once: CX_EEXIST (with the stored one in `have`) if a different
 * one is stored; CX_EINVAL if the code has no minor unit. */
cx_err rev_currency_set(store *s, const char *currency, char have[4]);
/* Loads the current book (*out: caller frees). */
cx_err rev_book_load(store *s, rev_book **out, char *err, size_t errlen);

/* ---- the assessment ----------------------------------------------------------------------
 * Certificates of origin live on the ledger; the assessment asks through a
 * callback so that it stays a pure function (the service wires it to the
 * ledger's door). found: fill out and return true. */
typedef struct {
    const char *declaration_id; /* may be NULL */
    const char *exporter;       /* the declaration's exporter_id; may be NULL */
    const char *origin;         /* the item's country_of_origin */
    const char *hs_code;        /* the item's code */
    const char *date;           /* the declaration's date */
} rev_cert_query;
typedef struct {
    char issuer[CX_ORG_MAX + 1];
    char number[65];
    int64_t index; /* ledger entry index, -1 if unknown */
} rev_certificate;
typedef bool (*rev_cert_fn)(void *ctx, const rev_cert_query *q, rev_certificate *out);

/* Valuation statistics: unit values (national currency per kg or per unit)
 * of earlier declarations, kept as log-space histograms per key. */
typedef struct {
    int64_t n;
    double p05, median; /* unit values (not logs) */
} rev_uv_stats;
typedef bool (*rev_uv_fn)(void *ctx, const char *key, rev_uv_stats *out);
#define REV_UV_MIN_N 30 /* fewer earlier declarations: next level up */

typedef struct {
    rev_cert_fn certificate; /* NULL: no certificate can be found */
    void *cert_ctx;
    rev_uv_fn unit_values;   /* NULL: no valuation control */
    void *uv_ctx;
    /* NULL, or the id an item's `tariff_line` holds instead of the line's
     * object (its text_id once the line's text is at hand for expansion;
     * 0: the object) — the short stored form, see rev_member_expand */
    int64_t (*line_ref)(void *ctx, const rev_tariff_line *l);
    void *line_ctx;
} rev_lookups;

/* What the writer needs from an assessment without reparsing it. */
typedef struct {
    int exp;                     /* the national currency's minor unit */
    int64_t duty, excise, vat, total, at_risk;
    size_t problems, findings;
} rev_summary_row;

/* Assesses one validated declaration. text/len: the JSON text it was
 * parsed from (NULL: numbers come from jansson's values; see rev_dec_from_json).
 * Returns the `assessment` object (docs/revenue.md; caller decrefs) and
 * fills row if not NULL. Problems (a missing line or rate, a unit the line
 * cannot use, amounts out of range) are listed in it, not refused. NULL
 * only when out of memory. */
json_t *rev_assess(const rev_book *b, const json_t *doc, const char *text, size_t len,
                   const rev_lookups *lk, rev_summary_row *row);
/* The texts declare keeps of an assessment (the `assessment` member): the
 * stored form, customs' (every member but revenue_at_risk, which the row
 * keeps), and — only when the valuation control flagged an item — the
 * trader's (also without the undervaluation findings; else *shown NULL).
 * Byte for byte json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15)) of those
 * forms, written without copying the tree. Caller frees both; CX_ENOMEM
 * (both NULL) when out of memory. */
cx_err rev_assessment_texts(const json_t *assessment, char **stored, char **shown);
/* What a submission keeps of doc's assessment (version 1, assessed at `at`):
 * the stored member's text, the trader's (NULL: the same) and the
 * derivation record (never shown), all malloc'd. REV_KEPT_COMPACT: the
 * submission's path, the member's compact stored form written straight
 * from the assessment's result (see rev_member_expand; CX_EINVAL: a string
 * only jansson spells right, which the submission then writes through the
 * tree in full form); REV_KEPT_DIRECT: the full form, straight from the
 * result; REV_KEPT_TREE: through the `assessment` tree, its texts
 * (rev_assessment_texts) and the row made of it. The full forms are byte
 * for byte the same, and so is the compact form once expanded
 * (test_revenue_texts); the record is the same in all three. */
typedef enum { REV_KEPT_COMPACT, REV_KEPT_DIRECT, REV_KEPT_TREE } rev_kept_form;
cx_err rev_assess_kept(const rev_book *b, const json_t *doc, const char *text, size_t len,
                       const rev_lookups *lk, const char *at, rev_kept_form form, char **full,
                       char **shown, char **record);
/* Appends text[0..len) to out with every compact assessment member in it
 * (alone, or inside a kept object or a list) replaced by its full form,
 * byte for byte the text the full-form writer writes; everything else
 * (full-form members too) is copied as it is, line references as ids (the
 * service's member_expand also expands those). CX_EPARSE: a damaged compact
 * member (out then holds a part: discard it). */
cx_err rev_member_expand(const char *text, size_t len, cx_buf *out);
/* A derivation record (what rev_assess_kept makes as *record) read as the
 * service's worker reads it and written again: *out (malloc'd) is its
 * normal form — a submission's record comes back byte for byte. CX_EPARSE:
 * a damaged record (the worker logs it and passes over it); CX_ENOMEM. */
cx_err rev_record_normal(const char *rec, size_t len, char **out);
/* The keys of an item's unit-value statistics: level 6 or 4, per "KGM" or
 * per the item's unit. out needs REV_UV_KEY_MAX bytes. */
#define REV_UV_KEY_MAX 48
void rev_uv_key(char *out, int level, const char *hs, const char *origin, const char *unit);
/* A unit value as the obs lines keep it: printf's "%.9g" (out needs
 * REV_UV_TEXT_MAX bytes); returns the length. */
#define REV_UV_TEXT_MAX 32
size_t rev_uv_text(char *out, double uv);

/* ---- valuation statistics: log-space histograms --------------------------------------------
 * Bins of width 1/REV_UV_BINS_PER_E in ln(unit value); a key's histogram is
 * bounded by the number of bins (hot keys stay flat). */
#define REV_UV_BINS_PER_E 20
typedef struct rev_hist rev_hist;
rev_hist *rev_hist_new(void);
void rev_hist_free(rev_hist *h);
/* Decodes/encodes the stored form (little-endian (int16 bin, uint32 count)
 * pairs in bin order); false on a malformed blob. */
bool rev_hist_decode(rev_hist *h, const void *blob, size_t len);
size_t rev_hist_encode(const rev_hist *h, void *out, size_t cap);
size_t rev_hist_encoded_size(const rev_hist *h);
bool rev_hist_add(rev_hist *h, double unit_value, uint32_t count);
int64_t rev_hist_n(const rev_hist *h);
/* Quantile q in 0..1 as a unit value (linear within a bin); NAN if empty. */
double rev_hist_quantile(const rev_hist *h, double q);
int rev_uv_bin(double unit_value); /* the bin of a positive unit value */

/* ---- payments, guarantees and release ---------------------------------------------------------
 * The release check, as a pure function: paid - refunded + guaranteed must
 * cover the assessed total, and an assessment with problems never passes.
 * Returns the shortfall (0 when the declaration may be released). */
int64_t rev_release_shortfall(int64_t total, int64_t paid, int64_t refunded, int64_t guaranteed);

/* ---- the service ---------------------------------------------------------------------------------- */
typedef struct rev_service rev_service;

typedef struct {
    const char *currency; /* national currency (serve --currency); NULL: the database's */
    /* The ledger (NULL: none): certificates of origin prove preferences
     * (ledger_coo_find); payment.receipt entries count as payments; a
     * certificate that comes to name a declaration, or is revoked,
     * re-assesses it; payment_below_duty compares with the assessment. */
    ledger *ledger;
    rev_lookups lookups;  /* for tools and tests without a ledger: a certificate lookup;
                           * unit values are the service's own and need not be set */
    bool quiet;           /* tools: no log line when no currency is set */
    /* tools and tests: no worker; assessment rows and valuation statistics
     * are derived when something needs them (rev_service_catch_up) or at
     * the next start with a worker */
    bool no_worker;
} rev_config;

/* Creates the service: stores the national currency if given (once: a
 * different stored one is CX_EEXIST, the message in err), loads the book,
 * and — only when a national currency is known — joins the declarations
 * spine: enrich_kept (the "assessment" member and its derivation record,
 * which declare keeps with the declaration — the only revenue state a
 * submission writes — with risk reasons for its findings) and gate (release needs paid +
 * guaranteed >= total and no problems), and starts the worker that derives
 * the assessment rows from the declarations in batches and folds unit
 * values into the statistics. Without a currency the module stays out
 * of the spine (logged). rev_service_stop before store_free, then
 * rev_service_free; free d after it. */
cx_err rev_service_new(store *s, decl_service *d, const rev_config *cfg, rev_service **out,
                       char *err, size_t errlen);
void rev_service_free(rev_service *r);
bool rev_service_active(const rev_service *r);
/* Derives every pending assessment row and folds the statistics now
 * (blocking; the summary does it before it sums). */
cx_err rev_service_catch_up(rev_service *r);
/* Stops the worker that derives rows and folds unit values into the
 * valuation statistics (what is left is done at the next start). Call before store_free; the
 * service itself is freed after it, as the writer's jobs use it. */
void rev_service_stop(rev_service *r);
/* Assesses one validated declaration with the submission's book and
 * lookups (text: its JSON text, or NULL); the `assessment` tree is returned
 * (caller decrefs), NULL when out of memory. A submission writes its texts
 * without the tree (rev_service_assess_kept). For benchmarks and tools. */
json_t *rev_service_assess(rev_service *r, const json_t *doc, const char *text, size_t len);
/* What a submission makes of it (the enrich_kept hook, without the risk
 * reasons): the member's texts and the derivation record, written from the
 * assessment's result (rev_assess_kept); all malloc'd. For benchmarks. */
cx_err rev_service_assess_kept(rev_service *r, const json_t *doc, const char *text, size_t len,
                               char **full, char **shown, char **record);

/* ---- request bodies (body.c) -------------------------------------------------------------
 * The bodies of POST /v1/declarations/{id}/payments, /v1/refunds/{id}/payout,
 * /v1/guarantees and /v1/guarantees/{id}/amend|cancel, checked without the
 * database or the book: each fills *out and appends {"path","message"}
 * problems (JSON Pointers), and returns true when there were none (out is
 * whole only then). text/len: the body's text, for the amount's exact
 * spelling (NULL: jansson's value). now_us: the clock for "not in the
 * future" (paid_at) and "not in the past" (valid_until, a UTC date).
 * Needs rev_minor_load and the reference data (currencies). */
#define REV_REF_MAX 64      /* references: 1..64 of A-Z a-z 0-9 . _ / - */
#define REV_PAID_AT_MAX 40  /* an RFC 3339 date-time */
#define REV_REASON_MAX 500  /* a guarantee change's reason, in bytes */
typedef struct {
    rev_dec amount; /* > 0, at most the currency's decimals */
    char currency[4];
    char reference[REV_REF_MAX + 1];
    char paid_at[REV_PAID_AT_MAX + 1];
} rev_payment_in;
bool rev_payment_check(const json_t *body, const char *text, size_t len, int64_t now_us,
                       rev_payment_in *out, json_t *problems);
typedef struct {
    char reference[REV_REF_MAX + 1];
    char paid_at[REV_PAID_AT_MAX + 1];
} rev_payout_in;
bool rev_payout_check(const json_t *body, int64_t now_us, rev_payout_in *out, json_t *problems);
typedef struct {
    char trader[CX_ORG_MAX + 1];
    rev_dec amount;
    char currency[4];
    char reference[REV_REF_MAX + 1];
    char valid_until[REV_DATE_LEN + 1];
} rev_guarantee_in;
bool rev_guarantee_check(const json_t *body, const char *text, size_t len, int64_t now_us,
                         rev_guarantee_in *out, json_t *problems);
/* An amendment (cancel false: amount and/or valid_until, in the
 * guarantee's currency) or a cancellation (only a reason). */
typedef struct {
    bool has_amount;
    rev_dec amount;
    char valid_until[REV_DATE_LEN + 1]; /* "" = unchanged */
    char reason[REV_REASON_MAX + 1];    /* "" = none */
} rev_gchange_in;
bool rev_gchange_check(const json_t *body, const char *text, size_t len, const char *currency,
                       bool cancel, int64_t now_us, rev_gchange_in *out, json_t *problems);

/* POST/GET /v1/declarations/{id}/payments, GET/POST
 * /v1/declarations/{id}/assessment, POST/GET /v1/guarantees[/{id}],
 * GET /v1/revenue/summary. */
cx_err rev_routes(rev_service *r, http_server *srv);

/* ---- values in national currency, for statistics (risk's features) -------------------------
 * Other modules compare values across declarations in one currency without
 * reading revenue's tables. The result is a double: fit for a feature or a
 * ratio, never for money (assessments use the exact functions above).
 * True with *out = value × the rate of currency on date (the latest on or
 * before it; value itself in the national currency) when the book's
 * national currency is `to`; false without a rate or for another `to`. */
bool rev_book_value_in(const rev_book *b, double value, const char *currency, const char *date,
                       const char *to, double *out);
/* The same with the service's current book (thread-safe; false when the
 * service is not active). */
bool rev_service_value_in(rev_service *r, double value, const char *currency, const char *date,
                          const char *to, double *out);

/* ---- what inspections found, for the summary's `recovered` -----------------------------------
 * Inspection outcomes are risk's; revenue asks through a callback the app
 * wires to risk's door (revenue does not read risk's tables). fn returns 1
 * when the latest inspection of declaration seq found a discrepancy (fraud),
 * 0 otherwise (compliant, or none), read on c. Set before the server starts;
 * without it the summary's `recovered` is null (not measured). */
typedef int (*rev_inspection_fn)(void *ctx, store_conn *c, int64_t seq);
void rev_service_set_inspections(rev_service *r, rev_inspection_fn fn, void *ctx);
/* Called inside the writer job of every re-assessment (and a first
 * assessment after lodging) with what a fraud would now cost: flagged, the
 * valuation control's revenue at risk, and the total assessed, in national
 * currency — so that risk re-ranks the declaration (its rank=revenue
 * queue). An error rolls the re-assessment back. Set before the server
 * starts; NULL: nobody is told. */
typedef cx_err (*rev_reassessed_fn)(void *ctx, store_conn *w, int64_t seq, double flagged,
                                    double total);
void rev_service_set_reassessed(rev_service *r, rev_reassessed_fn fn, void *ctx);

#endif
