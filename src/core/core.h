/*
 * core.h — the door of the core module: errors, bounded buffers, the clock,
 * time formats, logging, progress bars, identifiers and the principal type
 * every module shares. Public names carry the prefix cx_.
 *
 * Memory rules (SQLite style): every function that returns memory says who
 * frees it; every x_free(NULL) is a no-op.
 */
#ifndef CUSTOMS_CORE_H
#define CUSTOMS_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_t; /* jansson's, for the JSON helpers below */

#ifndef CUSTOMS_VERSION
#define CUSTOMS_VERSION "0.0.0"
#endif

#if defined(__GNUC__)
#define CX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CX_PRINTF(a, b)
#endif

/* ---- errors: one enum for the whole program ---------------------------- */
typedef enum {
    CX_OK = 0,
    CX_ENOMEM,     /* out of memory */
    CX_EINVAL,     /* invalid argument or input */
    CX_EIO,        /* I/O error (file, socket, fsync) */
    CX_ENOTFOUND,  /* no such object */
    CX_EEXIST,     /* object already exists (duplicate) */
    CX_ETOOBIG,    /* input or buffer over its cap */
    CX_EDB,        /* database error */
    CX_EPARSE,     /* malformed input that could not be decoded */
    CX_EAUTH,      /* missing or invalid credentials */
    CX_EFORBIDDEN, /* authenticated but not allowed */
    CX_EBUSY,      /* resource busy (port taken, lock held) */
    CX_ESTATE,     /* operation not valid in the current state */
    CX_ECRYPTO,    /* signature or hash check failed */
    CX_EUNAVAIL,   /* feature or dependency not available */
    CX_ESHUTDOWN,  /* component is stopping */
    CX_ERR__COUNT
} cx_err;

/* Static string; never NULL, even for unknown values. */
const char *cx_strerror(cx_err e);

/* ---- bounded growing buffer (curl's dynbuf habit) -----------------------
 * A buffer has a hard cap fixed at init and stays failed after its first
 * error: once an append fails (CX_ETOOBIG past the cap, CX_ENOMEM) every
 * later append fails with that same error and changes nothing, so a reply
 * built from many appends is checked once, at the end (cx_buf_error, or
 * cx_buf_steal returning NULL), and a truncated body can never go out as if
 * it were whole. cx_buf_reset and cx_buf_free clear the error. */
#if defined(__GNUC__)
#define CX_WUR __attribute__((warn_unused_result))
#else
#define CX_WUR
#endif

typedef struct {
    char *data; /* NUL-terminated after every successful append */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len, fixed at init */
    cx_err err; /* the first error; CX_OK while the buffer is whole */
} cx_buf;

void cx_buf_init(cx_buf *b, size_t max);
CX_WUR cx_err cx_buf_append(cx_buf *b, const void *p, size_t n);
CX_WUR cx_err cx_buf_puts(cx_buf *b, const char *s);
CX_WUR cx_err cx_buf_printf(cx_buf *b, const char *fmt, ...) CX_PRINTF(2, 3);
/* Appends s as a JSON string (quotes and escapes; invalid UTF-8 fails with
 * CX_EINVAL): the one escaping helper for replies written as text. */
CX_WUR cx_err cx_buf_json_str(cx_buf *b, const char *s);
/* Appends a compact JSON value (cx_json_dump's form). */
CX_WUR cx_err cx_buf_json(cx_buf *b, const struct json_t *v);
/* Makes room for n more bytes in one allocation (still within max). */
CX_WUR cx_err cx_buf_reserve(cx_buf *b, size_t n);
/* The first error, CX_OK while whole. */
static inline cx_err cx_buf_error(const cx_buf *b)
{
    return b->err;
}
/* Marks b failed with e, as a failed append would: for a failure found
 * outside the buffer (a row that would not read, an item that would not
 * build) that leaves what b holds short of whole, so it is refused like a
 * cut body. The first error stays; e == CX_OK changes nothing, so a step's
 * result can be passed as it is. */
void cx_buf_fail(cx_buf *b, cx_err e);
void cx_buf_reset(cx_buf *b); /* len = 0, error cleared, memory kept */
void cx_buf_free(cx_buf *b);  /* releases memory; buffer reusable after init */
/* Hands the bytes to the caller (free() them); the buffer is left empty.
 * NULL if the buffer failed (its memory is released) or on allocation
 * failure: a failed buffer never yields a body. */
CX_WUR char *cx_buf_steal(cx_buf *b, size_t *len);

/* ---- string arena: bump allocation, freed at once --------------------------
 * Copies live until cx_arena_free; a zeroed cx_arena is empty. */
typedef struct cx_arena_block cx_arena_block;
typedef struct {
    cx_arena_block *head;
    size_t used;
} cx_arena;
/* A NUL-terminated copy of s[0..n); NULL on allocation failure. */
char *cx_arena_strndup(cx_arena *a, const void *s, size_t n);
void cx_arena_free(cx_arena *a);

/* ---- growing arrays --------------------------------------------------------
 * Makes *arr (of *cap elements of elem bytes) hold at least need, doubling
 * from 64; false on overflow or allocation failure (*arr is then unchanged). */
bool cx_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* ---- hash map: keys callers choose, hashed with a secret ------------------
 * Open addressing, at most half full. Keys are bytes, copied into the map;
 * each key gets a dense index in insertion order (0, 1, 2, ...) and carries
 * an int64 value. The hash is SipHash-2-4 (libsodium crypto_shorthash) under
 * a key drawn at random once per process, so a caller cannot choose ids,
 * names or bills of lading that collide and turn lookups linear. Not for
 * anything that must hash the same across runs. cx_map_free(NULL) and an
 * all-zero cx_map (or cx_map_init) are fine. */
typedef struct {
    uint64_t hash; /* 0 = empty (hashes are never 0) */
    uint32_t index;
    uint32_t len;
} cx_map_slot;
typedef struct {
    cx_map_slot *slots; /* hash, index and length side by side: one cache line */
    size_t cap;
    size_t n;           /* keys */
    const char **keys;  /* by index, NUL-terminated copies */
    int64_t *vals;      /* by index */
    uint32_t *lens;     /* by index: key lengths */
    size_t keys_cap;
    cx_arena keys_mem;  /* key storage */
    size_t key_bytes, dead_bytes; /* in keys_mem: live keys, removed ones */
} cx_map;

void cx_map_init(cx_map *m);
void cx_map_free(cx_map *m);
/* The keyed hash of n bytes; never 0. */
uint64_t cx_map_hash(const void *key, size_t n);
/* Index of a key, or -1. */
int64_t cx_map_find(const cx_map *m, const void *key, size_t n);
/* The same from the key's cx_map_hash and length, matching on hash and
 * length alone: a false match needs two keys whose secret 64-bit hashes are
 * equal (about 2^-64 per lookup, not something a caller can arrange), and
 * skipping the byte comparison saves a cache miss on hot paths. */
int64_t cx_map_find_hashed(const cx_map *m, uint64_t h, size_t n);
/* Index of key, inserting it (value -1) if new, and *added says so; -1 on
 * allocation failure or a key over 4 GiB. */
int64_t cx_map_put(cx_map *m, const void *key, size_t n, bool *added);
static inline const char *cx_map_key(const cx_map *m, size_t index)
{
    return m->keys[index];
}
static inline void cx_map_prefetch(const cx_map *m, uint64_t h)
{
    if (m->cap)
        __builtin_prefetch(&m->slots[(size_t)h & (m->cap - 1)]);
}
/* String and integer keys with values: get returns the value or -1 when the
 * key is absent; set adds or replaces. */
int64_t cx_map_get(const cx_map *m, const char *key);
cx_err cx_map_set(cx_map *m, const char *key, int64_t val);
int64_t cx_map_iget(const cx_map *m, int64_t key);
cx_err cx_map_iset(cx_map *m, int64_t key, int64_t val);
/* Removes a key; false when it is absent. *val (may be NULL) gets its
 * value. The last entry moves into the freed index, so an index taken
 * before a removal may name another key after it; key storage is reclaimed
 * once removed keys outweigh live ones. */
bool cx_map_del(cx_map *m, const void *key, size_t n, int64_t *val);
/* Pointer values, borrowed (the map never frees them): NULL when absent. */
void *cx_map_ptr(const cx_map *m, const void *key, size_t n);
cx_err cx_map_set_ptr(cx_map *m, const void *key, size_t n, void *p);
static inline void *cx_map_ptr_at(const cx_map *m, size_t index)
{
    return (void *)(intptr_t)m->vals[index];
}

/* ---- clock ---------------------------------------------------------------
 * Wall time in microseconds since the Unix epoch. Tests (and the binary, via
 * CUSTOMS_FAKE_NOW=RFC3339) may freeze it so that time-based rules are tested
 * without sleeping. cx_mono_us() is monotonic and never faked: use it for
 * measuring durations only. */
int64_t cx_now_us(void);
void cx_clock_set(int64_t us);
void cx_clock_advance(int64_t us);
void cx_clock_release(void);
int64_t cx_mono_us(void);

/* ---- dates and times ----------------------------------------------------- */
/* Strict YYYY-MM-DD naming a real Gregorian date (1..9999). */
bool cx_date_parse(const char *s, int *y, int *m, int *d);
/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t cx_days_from_civil(int y, int m, int d);
void cx_civil_from_days(int64_t days, int *y, int *m, int *d);
/* RFC 3339 date-time with a zone (Z or ±hh:mm), optional fraction. */
cx_err cx_rfc3339_parse(const char *s, int64_t *us);
/* Formats as YYYY-MM-DDThh:mm:ss.mmmZ; out needs 25 bytes. */
void cx_rfc3339_format(int64_t us, char out[32]);

/* ---- text ---------------------------------------------------------------- */
/* Number of code points in valid UTF-8 s[0..n); false if not valid UTF-8. */
bool cx_utf8_count(const char *s, size_t n, size_t *count);
/* The length, at most n, of s[0..n) without a multi-byte character that a
 * cut at n split (what is left to keep after truncating UTF-8 text). */
size_t cx_utf8_cut(const char *s, size_t n);
/* Splits s at each sep into at most max items, copied into buf (cap bytes)
 * and pointed to by items. Returns how many, or -1 when s does not fit in
 * buf, an item is empty ("a,,b", "a,", "") or there are more than max: a
 * list that cannot be taken whole is refused, never cut or skipped. */
int cx_split(const char *s, char sep, char *buf, size_t cap, const char **items, int max);
/* Strict decimal parsing of a whole string; false on junk or overflow. */
bool cx_parse_i64(const char *s, int64_t *out);
bool cx_parse_double(const char *s, double *out);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void cx_hex(const uint8_t *in, size_t n, char *out);
bool cx_unhex(const char *hex, uint8_t *out, size_t n);

/* ---- identifiers ----------------------------------------------------------
 * 26-char Crockford base32 ids: 48-bit millisecond time then 80 random bits,
 * so ids sort by creation time and cannot be guessed. */
#define CX_ID_LEN 26
void cx_id_new(char out[CX_ID_LEN + 1]);

/* ---- logging (one line per call to stderr, single write) ---------------- */
typedef enum { CX_LOG_DEBUG, CX_LOG_INFO, CX_LOG_WARN, CX_LOG_ERROR } cx_log_level;
void cx_log_set_level(cx_log_level lvl);
void cx_log(cx_log_level lvl, const char *fmt, ...) CX_PRINTF(2, 3);

/* ---- progress bar on a terminal ------------------------------------------
 * Draws to stderr only when stderr is a tty. total may be 0 (unknown).
 * Returns NULL only on allocation failure; every function accepts NULL. */
typedef struct cx_progress cx_progress;
cx_progress *cx_progress_new(const char *label, uint64_t total, const char *unit);
void cx_progress_set(cx_progress *p, uint64_t done, uint64_t items);
void cx_progress_free(cx_progress *p);

/* ---- who is calling ------------------------------------------------------ */
typedef enum {
    CX_ROLE_NONE = 0,
    CX_ROLE_ADMIN,
    CX_ROLE_OFFICER,
    CX_ROLE_TRADER,
    CX_ROLE_CARRIER,
    CX_ROLE_BANK,
    CX_ROLE_DEVICE,
    CX_ROLE__COUNT
} cx_role;

#define CX_ORG_MAX 64
#define CX_SUBJECT_MAX 64
typedef struct {
    int64_t key_id;
    cx_role role;
    char org[CX_ORG_MAX + 1];
    /* The person or device the key was issued to (customs keys create
     * --subject): an operator's or broker's id that modules such as bio
     * check; "" when the key names none. */
    char subject[CX_SUBJECT_MAX + 1];
} cx_principal;

const char *cx_role_name(cx_role r);        /* "admin", …; "none" */
bool cx_role_parse(const char *s, cx_role *out);
/* 1..64 chars of A-Z a-z 0-9 . _ - */
bool cx_org_valid(const char *s);
/* A key's subject: 1..64 chars of A-Z a-z 0-9 . _ : - @ */
bool cx_subject_valid(const char *s);

/* Sets of roles for checks: CX_ROLES(CX_ROLE_OFFICER, CX_ROLE_ADMIN). */
#define CX_ROLE_BIT(r) (1u << (unsigned)(r))
#define CX_ROLES_OFFICER (CX_ROLE_BIT(CX_ROLE_OFFICER) | CX_ROLE_BIT(CX_ROLE_ADMIN))
static inline bool cx_role_in(const cx_principal *p, unsigned roles)
{
    return p && (unsigned)p->role < CX_ROLE__COUNT && (roles & CX_ROLE_BIT(p->role)) != 0;
}
/* Officers and admins: the customs side, who see every organisation's data. */
static inline bool cx_is_officer(const cx_principal *p)
{
    return cx_role_in(p, CX_ROLES_OFFICER);
}

/* ---- JSON (jansson) -------------------------------------------------------- */
/* Compact JSON text; reals use the fewest digits (15..17) that read back
 * to the same double, so 0.1 stays "0.1". Caller frees with free(). */
char *cx_json_dump(const struct json_t *j, size_t *len);
/* Appends v to the array a and releases it (json_array_append_new). A v
 * that is NULL (it would not build) or that could not be appended sets *e
 * to CX_ENOMEM unless *e already holds an error, so a list built in a loop
 * is known to be short instead of silently missing an item. */
void cx_json_push(struct json_t *a, struct json_t *v, cx_err *e);
/* Appends "/" + token to an RFC 6901 JSON Pointer, escaping ~ and /.
 * Truncates safely if out is too small. */
void cx_jptr_push(char *out, size_t cap, const char *token);
void cx_jptr_index(char *out, size_t cap, size_t index);

/* ---- API problem details ---------------------------------------------------
 * An API error's details are an array of {"path": JSON Pointer, "message":
 * rule} (docs/conventions.md). cx_problem_add appends one to `problems`
 * (borrowed; NULL: nothing happens). The message is printf-formatted and cut
 * to 255 bytes, never inside a UTF-8 character; a problem that is not valid JSON text (a NULL or non-UTF-8
 * path or message) is left out. Returns the new problem object, borrowed
 * (problems owns it), for callers that add members such as "column"; NULL
 * when nothing was added. */
struct json_t *cx_problem_add(struct json_t *problems, const char *path, const char *fmt, ...)
    CX_PRINTF(3, 4);
struct json_t *cx_problem_addv(struct json_t *problems, const char *path, const char *fmt,
                               va_list ap) CX_PRINTF(3, 0);

/* A capped problem list for validators that may find thousands: every
 * problem is counted, the first `max` are kept. With `note`, the max-th kept
 * entry reads "too many problems; the first <max - 1> are listed" instead of
 * its own message. The caller owns `list` (NULL: count only). */
typedef struct {
    struct json_t *list;
    size_t count; /* problems reported, kept or not */
    size_t max;
    bool note;
} cx_problems;
void cx_problems_add(cx_problems *p, const char *path, const char *fmt, ...) CX_PRINTF(3, 4);

/* ---- thresholds: a struct of numbers set from a JSON object ----------------
 * A module describes its thresholds once, as a table of fields (name,
 * offset, integer or real, range, unit); the table gives the JSON
 * overrides (--track-config, --drones-config, a consignment's "rules"), the
 * file loader and the effective set as JSON, the same way for every module.
 * Integers are int64_t members (a whole JSON number is taken: 30.0 is 30),
 * reals are double members. */
typedef struct {
    const char *name;
    size_t off;
    bool real;
    double lo, hi;
    const char *unit; /* "seconds", "metres", … */
} cx_conf_field;
#define CX_CONF_INT(type, n, lo, hi, unit) {#n, offsetof(type, n), false, lo, hi, unit}
#define CX_CONF_REAL(type, n, lo, hi, unit) {#n, offsetof(type, n), true, lo, hi, unit}

/* Applies the members of obj over the struct at c. Unknown members and bad
 * values are appended to problems (may be NULL) as {path, message} and
 * leave their field as it was; returns true if there were none. */
bool cx_conf_apply(void *c, const cx_conf_field *f, size_t n, const struct json_t *obj,
                   struct json_t *problems);
/* Reads a JSON file of overrides over c; a sentence naming the file, and the
 * line or the member, in err on failure (CX_EPARSE, CX_EINVAL). */
cx_err cx_conf_load(void *c, const cx_conf_field *f, size_t n, const char *path, char *err,
                    size_t errlen);
/* Every field's value as a JSON object (caller decrefs): integers, and
 * reals as JSON reals. */
struct json_t *cx_conf_json(const void *c, const cx_conf_field *f, size_t n);

/* ---- CSV (libcsv) -----------------------------------------------------------
 * Reads RFC 4180 CSV row by row. Fields are NUL-terminated and kept exactly
 * (no trimming); a field longer than max_field, or a row of more than 256
 * fields, stops the read with CX_ETOOBIG. fn returns false to stop early. line is the physical line on
 * which the row starts; offset is the number of bytes consumed so far (for
 * progress bars). Strings live only during the call. */
typedef bool (*cx_csv_row_fn)(void *ctx, char **fields, size_t n, uint64_t line,
                              uint64_t offset);
/* On a syntax error returns CX_EPARSE and sets *err_line. */
cx_err cx_csv_read(FILE *f, size_t max_field, cx_csv_row_fn fn, void *ctx, uint64_t *err_line);

/* ---- paths ---------------------------------------------------------------- */
/* The reference-data directory: $CUSTOMS_DATA_DIR, else the source tree's
 * data/ (compiled in), else /usr/share/customs. Static string. */
const char *cx_data_dir(void);

#endif
