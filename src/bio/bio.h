/*
 * bio.h — the door of the biometrics module: fingerprint minutiae templates
 * in the standard formats (ISO/IEC 19794-2:2005 and :2011, ANSI INCITS
 * 378-2004 and -2009 with its amendment 1), a minutiae matcher (Minutia
 * Cylinder-Code with a global consolidation), 1:N search over in-memory
 * galleries, face descriptors as vector templates with cosine search,
 * sealed storage (libsodium XChaCha20-Poly1305 under per-subject keys
 * wrapped by a master key kept in a file), subjects and watchlists, and an
 * append-only audit of every search. Public names carry the prefix bio_.
 * docs/biometrics.md explains the matcher, its threshold and the sealing.
 *
 * Memory: every function that returns memory says who frees it; every
 * x_free(NULL) is a no-op.
 */
#ifndef CUSTOMS_BIO_H
#define CUSTOMS_BIO_H

#include "alert.h"
#include "core.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- templates ----------------------------------------------------------------
 * A parsed template is one internal form whatever the format: views (finger
 * impressions), each with its minutiae as stored (pixels, the format's angle
 * units) and converted (millimetres from the image's top-left corner, y
 * down; the angle in radians counter-clockwise from the x axis as seen on
 * the image, which is how both standards measure it). */
typedef enum {
    BIO_FMT_AUTO = 0, /* detect from the header */
    BIO_FMT_ISO2005,  /* ISO/IEC 19794-2:2005, "FMR\0 20\0" */
    BIO_FMT_ISO2011,  /* ISO/IEC 19794-2:2011, "FMR\0030\0" */
    BIO_FMT_ANSI2004, /* ANSI INCITS 378-2004, "FMR\0 20\0" */
    BIO_FMT_ANSI2009, /* ANSI INCITS 378-2009, "FMR\0030\0" */
    BIO_FMT_ANSI2009AM1, /* ANSI INCITS 378-2009/AM1, "FMR\0035\0" */
    BIO_FMT__COUNT
} bio_format;

/* "iso-19794-2:2005", "iso-19794-2:2011", "ansi-378:2004", "ansi-378:2009",
 * "ansi-378:2009/am1", "auto". */
const char *bio_format_name(bio_format f);
bool bio_format_parse(const char *s, bio_format *out);

typedef enum { BIO_MIN_OTHER = 0, BIO_MIN_ENDING = 1, BIO_MIN_BIFURCATION = 2 } bio_minutia_type;

typedef struct {
    uint16_t x, y;     /* pixels, as stored */
    uint8_t angle_raw; /* as stored: ISO 1/256 turn, ANSI 2 degrees */
    uint8_t type;      /* bio_minutia_type */
    uint8_t quality;   /* as stored: 0..100; 254 not reported, 255 failed (2009/2011) */
    float x_mm, y_mm;  /* from the image's top-left corner, y pointing down */
    float angle;       /* radians in [0, 2π), counter-clockwise as seen on the image */
} bio_minutia;

typedef struct {
    uint8_t from, to, count;
} bio_ridge_count;

typedef struct {
    uint16_t x, y;
    bool has_angle;
    uint8_t angles[3]; /* a core has one, a delta three; format units */
} bio_singular;

typedef struct {
    uint16_t type;        /* extended data block type (vendor blocks kept opaque) */
    uint16_t len;         /* data bytes (without the 4-byte block header) */
    const uint8_t *data;  /* points into the template's own copy of the record */
} bio_extension;

typedef struct {
    uint8_t position;   /* finger position code (0 unknown, 1..10, multi-finger codes) */
    uint8_t view;       /* view number 0..15 */
    uint8_t impression; /* impression (scan) type code */
    uint8_t quality;    /* finger quality as stored */
    uint16_t width, height;  /* image size, pixels */
    uint16_t res_x, res_y;   /* pixels per centimetre */
    size_t nminutiae;
    bio_minutia *minutiae;
    uint8_t count_method;    /* ridge count extraction method (0 if no block) */
    size_t ncounts;
    bio_ridge_count *counts;
    size_t ncores, ndeltas;
    bio_singular *cores, *deltas;
    size_t nextensions;
    bio_extension *extensions; /* blocks that are not ridge counts or cores/deltas */
} bio_view;

typedef struct bio_template bio_template;

/* Problems name the byte offset and the rule broken. `fatal` problems stop
 * a parse in every mode; the others are departures from the standard that
 * permissive mode accepts (zero padding, a length field off by a few bytes,
 * the 2004 sample's version typo, view numbering). */
#define BIO_PROBLEMS_MAX 32
typedef struct {
    uint32_t offset;
    bool fatal;
    char rule[152];
} bio_problem;

typedef struct {
    size_t count; /* problems found, kept or not */
    bio_problem items[BIO_PROBLEMS_MAX];
} bio_problems;

#define BIO_PARSE_PERMISSIVE 1u
#define BIO_TEMPLATE_MAX ((size_t)1 << 20) /* larger records are refused */

/* Parses one record. Strict by default: any departure from the standard
 * fails with CX_EPARSE and every problem found listed in *problems (may be
 * NULL). With BIO_PARSE_PERMISSIVE, non-fatal problems are kept in
 * *problems as warnings and the parse succeeds. *out is freed with
 * bio_template_free(); it keeps its own copy of the bytes. */
cx_err bio_template_parse(const uint8_t *data, size_t len, bio_format fmt, unsigned flags,
                          bio_template **out, bio_problems *problems);
void bio_template_free(bio_template *t);

bio_format bio_template_format(const bio_template *t);
size_t bio_template_nviews(const bio_template *t);
const bio_view *bio_template_view(const bio_template *t, size_t i);
/* Total minutiae over all views. */
size_t bio_template_nminutiae(const bio_template *t);

/* The template as JSON: {"format", "views":[{"position","view",...,
 * "minutiae":[{"type","x","y","angle","quality","x_mm","y_mm",
 * "angle_deg"}]}]}; caller decrefs. */
json_t *bio_template_json(const bio_template *t);
/* problems as [{"offset","message","fatal"}]; caller decrefs. */
json_t *bio_problems_json(const bio_problems *p);

/* Finger position names ("right_thumb" … "left_little", "unknown"); NULL
 * for codes without a name. */
const char *bio_finger_name(unsigned code);
bool bio_finger_parse(const char *s, unsigned *code);

/* ---- the matcher --------------------------------------------------------------------
 * Minutia Cylinder-Code with LSS-R consolidation (docs/biometrics.md).
 * Features are computed once per template (bio_features_new) and are
 * read-only afterwards: many threads may compare the same features. A
 * bio_matcher is one thread's scratch space.
 *
 * Scores are calibrated: score = 10 * log10(1 / FMR), FMR being the false
 * match rate at which a threshold equal to the score operates on the
 * development data (all impostor pairs of the four FVC databases). So a
 * threshold of 30 gives FMR 0.1 %, 20 gives 1 %, 40 about 0.01 %
 * (extrapolated). Scores run from 0 to BIO_SCORE_MAX; higher = more
 * similar. */
#define BIO_THRESHOLD 30.0 /* FMR 0.1 % on the development data */
#define BIO_SCORE_MAX 100.0

typedef struct bio_features bio_features;

/* Features of every view of t. CX_EINVAL if t has no minutiae at all. *out
 * is freed with bio_features_free(). */
cx_err bio_features_new(const bio_template *t, bio_features **out);
void bio_features_free(bio_features *f);
size_t bio_features_nviews(const bio_features *f);
/* Finger position code of view i. */
unsigned bio_features_position(const bio_features *f, size_t i);
/* Bytes held, for gallery accounting. */
size_t bio_features_bytes(const bio_features *f);

typedef struct bio_matcher bio_matcher;
bio_matcher *bio_matcher_new(void);
void bio_matcher_free(bio_matcher *m);

typedef struct {
    double score;       /* calibrated, 0..BIO_SCORE_MAX */
    double raw;         /* the matcher's own similarity, 0..1 */
    int probe_view;     /* the views that gave the score (-1: none comparable) */
    int candidate_view;
} bio_match_result;

/* Compares every pair of views whose finger positions agree (or where one
 * is unknown) and keeps the best. */
void bio_match(bio_matcher *m, const bio_features *probe, const bio_features *candidate,
               bio_match_result *out);
/* Just the calibrated score. */
double bio_match_score(bio_matcher *m, const bio_features *probe, const bio_features *candidate);
/* The calibration on its own: raw similarity -> score. */
double bio_score_from_raw(double raw);

/* The comparison kernels compute the same scores: "avx512" (AVX-512 with
 * VPOPCNTDQ), "popcnt", "c". The fastest this CPU runs is used; tests and
 * benchmarks may pick another for the whole process (false if this CPU
 * cannot run it; NULL: the fastest again). Not while comparisons run. */
bool bio_kernel_use(const char *name);
const char *bio_kernel_name(void);

/* ---- 1:N search over an in-memory gallery ---------------------------------------------
 * Each view of each enrolled template is an entry. A search first scores
 * every entry cheaply (the probe's cylinders against 8 chosen cylinders of
 * the entry: the coarse filter), keeps the best share as candidates and
 * compares only those in full. Threads split the gallery. The gallery owns
 * the features added to it. Not thread-safe for writers: the caller keeps
 * adds and removes apart from searches (a read-write lock in the service). */
typedef struct bio_gallery bio_gallery;

bio_gallery *bio_gallery_new(void);
void bio_gallery_free(bio_gallery *g);
/* Takes f (freed by the gallery, also on failure). id is the caller's. */
cx_err bio_gallery_add(bio_gallery *g, uint64_t id, bio_features *f);
/* Removes (and frees) every template added with id; returns how many. Costs
 * id's own templates and views (the last rows move into the holes), not the
 * gallery's size; results of later searches are those of a gallery built
 * from the remaining templates in the order they were added. */
size_t bio_gallery_remove(bio_gallery *g, uint64_t id);
/* Rows (templates and views) moved by removals so far: an erasure's cost. */
uint64_t bio_gallery_moved(const bio_gallery *g);
size_t bio_gallery_size(const bio_gallery *g); /* templates */
size_t bio_gallery_bytes(const bio_gallery *g);

typedef struct {
    unsigned threads;     /* 0: 1 */
    size_t max_results;   /* best first; 0: 10 */
    double min_score;     /* results below are dropped */
    double candidate_share; /* share of entries compared in full (0: 0.01) */
    size_t min_candidates;  /* ... but at least this many (0: 64) */
} bio_search_opts;

typedef struct {
    uint64_t id;
    double score;
    double raw;        /* ties of the capped score are ordered by this */
    unsigned position; /* finger position of the gallery view that matched */
} bio_hit;

typedef struct {
    size_t entries;    /* views scored by the coarse filter */
    size_t compared;   /* views compared in full */
} bio_search_stats;

/* Fills out (room for opts->max_results) best first, one hit per id;
 * *n gets the count. stats may be NULL. */
cx_err bio_gallery_search(const bio_gallery *g, const bio_features *probe,
                          const bio_search_opts *opts, bio_hit *out, size_t *n,
                          bio_search_stats *stats);

/* The best of the templates added with id against probe (verification).
 * CX_ENOTFOUND if there are none. */
cx_err bio_gallery_best_of(const bio_gallery *g, uint64_t id, const bio_features *probe,
                           bio_matcher *m, bio_hit *out);

/* ---- faces: vector templates -----------------------------------------------------------
 * Edge devices compute face descriptors; the server keeps them as vectors
 * {"model": NAME, "vector": [numbers]} of any model and dimension, stored
 * unit length, and searches them by cosine similarity at memory speed. */
#define BIO_FACE_DIM_MAX 4096
#define BIO_FACE_MODEL_MAX 64
/* face-api's own rule, Euclidean distance 0.6 between its raw descriptors,
 * whose lengths are about 1.45 (measured on the package's sample photos,
 * data/biometrics/faces): 0.6 / 1.45 = 0.41 between unit vectors, cosine
 * 1 - 0.41^2 / 2 = 0.91. (Different people's descriptors have cosines of
 * 0.81-0.89 there: they are not centred, so cosines run high.) */
#define BIO_FACE_THRESHOLD 0.91

typedef struct {
    char model[BIO_FACE_MODEL_MAX + 1];
    size_t dim;
    float *v; /* dim floats, unit length; malloc'd, free with free() */
} bio_face;

/* Reads a descriptor object; every problem goes to problems as {path,
 * message} with ptr as the pointer prefix. CX_EINVAL on any problem. */
cx_err bio_face_from_json(const json_t *obj, const char *ptr, bio_face *out, json_t *problems);
/* 1..64 of A-Z a-z 0-9 . _ - */
bool bio_face_model_valid(const char *s);
/* The descriptor as stored (little-endian float32s) and back. */
void *bio_face_pack(const bio_face *f, size_t *len);
cx_err bio_face_unpack(const char *model, const void *data, size_t len, bio_face *out);
double bio_face_cosine(const bio_face *a, const bio_face *b);

/* A gallery of vectors of one model and dimension, contiguous in memory. */
typedef struct bio_faces bio_faces;
bio_faces *bio_faces_new(const char *model, size_t dim);
void bio_faces_free(bio_faces *g);
const char *bio_faces_model(const bio_faces *g);
size_t bio_faces_dim(const bio_faces *g);
size_t bio_faces_size(const bio_faces *g);
/* Copies the vector (dim floats, unit length). */
cx_err bio_faces_add(bio_faces *g, uint64_t id, const float *v);
/* Removes id's vectors; the last vectors move into the holes, so it costs
 * id's own vectors, not the gallery's size. */
size_t bio_faces_remove(bio_faces *g, uint64_t id);
/* Vectors moved by removals so far: an erasure's cost. */
uint64_t bio_faces_moved(const bio_faces *g);
/* The best max_results by cosine similarity at least min_score, one per id,
 * best first, on `threads` threads. score in the hits is the cosine. */
cx_err bio_faces_search(const bio_faces *g, const float *probe, unsigned threads,
                        size_t max_results, double min_score, bio_hit *out, size_t *n);
/* The best cosine of the vectors added with id (verification). */
cx_err bio_faces_best_of(const bio_faces *g, uint64_t id, const float *probe, double *cosine);
/* The same pass over the same memory doing nothing but reading it: the
 * benchmark's peer. Returns a sum so the reads are not optimised away. */
double bio_faces_read_all(const bio_faces *g, unsigned threads);

/* ---- sealing ---------------------------------------------------------------------------
 * Every template and descriptor is sealed (XChaCha20-Poly1305, libsodium)
 * under a data key of its own subject; each data key is stored wrapped
 * (sealed) by the master key, which lives only in a key file (0600), never
 * in the database. Erasing a subject deletes its wrapped key and rows:
 * ciphertext left behind is unreadable even with the master key
 * (crypto-shredding). Associated data binds each ciphertext to its subject
 * (and template id), so sealed rows cannot be swapped between subjects. */
#define BIO_DATA_KEY_BYTES 32
#define BIO_WRAPPED_BYTES (24 + 32 + 16) /* nonce, data key, tag */
#define BIO_SEAL_OVERHEAD (24 + 16)
#define BIO_KEY_ID_LEN 32 /* hex characters */

typedef struct bio_keyring bio_keyring;

/* Writes a new random master key to path: mode 0600, created exclusively
 * (an existing file is never overwritten). */
cx_err bio_key_create(const char *path, char *err, size_t errlen);
/* Reads a key file; refuses one that group or others may read. The key is
 * held in locked, guarded memory (sodium_malloc). */
cx_err bio_key_load(const char *path, bio_keyring **out, char *err, size_t errlen);
void bio_key_free(bio_keyring *k);
/* A public fingerprint of the master key (hex of BLAKE2b-128 of it, keyed
 * with a fixed label), so a database can tell which key sealed it. */
void bio_key_id(const bio_keyring *k, char out[BIO_KEY_ID_LEN + 1]);
/* A fresh random data key for subject, and its wrapped form. */
cx_err bio_key_wrap_new(const bio_keyring *k, const char *subject,
                        uint8_t dk[BIO_DATA_KEY_BYTES], uint8_t wrapped[BIO_WRAPPED_BYTES]);
/* CX_ECRYPTO if the wrapped key is not for this subject under this key. */
cx_err bio_key_unwrap(const bio_keyring *k, const char *subject, const uint8_t *wrapped,
                      size_t len, uint8_t dk[BIO_DATA_KEY_BYTES]);
/* Seals n bytes for (subject, id): nonce || ciphertext || tag, malloc'd,
 * n + BIO_SEAL_OVERHEAD bytes. */
uint8_t *bio_seal(const uint8_t dk[BIO_DATA_KEY_BYTES], const char *subject, const char *id,
                  const void *plain, size_t n, size_t *outlen);
/* Opens what bio_seal made; NULL if it was not sealed for (subject, id)
 * under dk, or was changed. The result is malloc'd. */
uint8_t *bio_open(const uint8_t dk[BIO_DATA_KEY_BYTES], const char *subject, const char *id,
                  const void *sealed, size_t n, size_t *outlen);

/* ---- subjects, watchlists, the service --------------------------------------------------
 * Subjects (operators, brokers, forwarders, logistics operators, people on
 * watchlists shared by other agencies) with their templates and face
 * descriptors, sealed at rest; the galleries decrypted into memory at start;
 * verification and identification, each audited; erasure and expiry. */
#define BIO_ID_MAX 64 /* subject ids and watchlist names: 1..64 of A-Z a-z 0-9 . _ : - */
#define BIO_TEXT_MAX 500 /* name, source agency, legal basis: characters */
#define BIO_TEMPLATES_MAX 64 /* templates and descriptors per subject */

bool bio_id_valid(const char *s);
/* "operator", "broker", "forwarder", "logistics", "watchlist" */
bool bio_kind_valid(const char *s);

cx_err bio_migrate(store *s, char *err, size_t errlen);

/* An expiry: an RFC 3339 date-time, or YYYY-MM-DD meaning through that day
 * (UTC, so until the next midnight). */
bool bio_parse_expiry(const char *s, int64_t *us);

typedef struct {
    const char *id, *kind, *name, *org, *watchlist, *source_agency, *legal_basis;
    int64_t expires_us; /* erased from this instant on; 0 = no expiry */
} bio_subject;

/* Alerts go through the one alerting door (alert.h): a watchlist hit at or
 * above the threshold on identification raises "watchlist_hit" (subject
 * kind "biometric_subject") in the same writer job as its audit record.
 * A key's subject (cx_principal.subject, `customs keys create --subject`)
 * is what "a key never verifies itself" compares with. */

typedef struct {
    unsigned threads;         /* search threads (0: 2) */
    double threshold;         /* fingerprint match threshold (0: BIO_THRESHOLD) */
    double face_threshold;    /* cosine (0: BIO_FACE_THRESHOLD) */
    alert_service *alerts;    /* borrowed; NULL: no alerts (the command line) */
} bio_config;

typedef struct bio_service bio_service;

/* Checks that the database's biometric data was sealed under key (or
 * records the key's id in a new database), then unwraps every subject's key
 * and loads every template into memory. The service borrows s and key. */
cx_err bio_service_new(store *s, const bio_keyring *key, const bio_config *cfg,
                       bio_service **out, char *err, size_t errlen);
/* Starts the expiry sweep: a thread that erases expired subjects every
 * period_s seconds (0: 60). bio_service_free stops it. */
cx_err bio_service_start(bio_service *b, int64_t period_s);
/* Stops the sweep (waits for a sweep in progress); safe twice, NULL a no-op. */
void bio_service_stop(bio_service *b);
void bio_service_free(bio_service *b);
const bio_config *bio_service_config(const bio_service *b);

/* Who is acting: NULL for the command line (audited as such). */
typedef struct {
    const cx_principal *who;
    const char *purpose; /* a case or declaration reference; required for searches */
    int64_t station;     /* key id of the capture station, 0 if none */
} bio_context;

/* Every rule a new subject must meet; each broken one appended to problems
 * ({path, message}). */
bool bio_subject_check(const bio_subject *s, json_t *problems);
/* CX_EEXIST if the id is taken; problems (may be NULL) name bad fields. */
cx_err bio_subject_create(bio_service *b, const bio_subject *s, const bio_context *ctx,
                          json_t *problems);
/* The subject as JSON (no biometric data); caller decrefs. CX_ENOTFOUND. */
cx_err bio_subject_json(bio_service *b, const char *id, json_t **out);
/* One page of subjects, optionally of one watchlist, in creation order
 * after `after` (a cursor from a previous page). */
cx_err bio_subject_list(bio_service *b, const char *watchlist, int64_t after, size_t limit,
                        json_t **out);

/* Enrols a fingerprint template (parsed permissively; its problems are
 * returned as warnings) or a face descriptor. finger: the position code to
 * record, or -1 for the template's own. tid gets the template's id.
 * CX_ETOOBIG once the subject has BIO_TEMPLATES_MAX. */
cx_err bio_enrol_template(bio_service *b, const char *subject, const uint8_t *data, size_t len,
                          bio_format fmt, int finger, const bio_context *ctx,
                          char tid[CX_ID_LEN + 1], bio_problems *problems);
cx_err bio_enrol_face(bio_service *b, const char *subject, const bio_face *f,
                      const bio_context *ctx, char tid[CX_ID_LEN + 1]);

/* Erases the subject at once: wrapped key and rows deleted (zeroed), the
 * WAL checkpointed, the galleries updated. Audited. CX_ENOTFOUND. */
cx_err bio_erase(bio_service *b, const char *subject, const bio_context *ctx);
/* Erases every subject whose expiry has passed; *erased gets the count. */
cx_err bio_expire(bio_service *b, size_t *erased);

/* A probe: fingerprint features or a face descriptor. */
typedef struct {
    const bio_features *finger;
    const bio_face *face;
} bio_probe;

typedef struct {
    char subject[BIO_ID_MAX + 1];
    double score;
    int finger; /* position of the matching view; -1 for faces */
    char kind[16];
    char source_agency[BIO_TEXT_MAX * 4 + 1];
    char legal_basis[BIO_TEXT_MAX * 4 + 1];
} bio_candidate;

/* 1:N in one watchlist, best first: at most max candidates (0: 10) scoring
 * at least min_score (fingerprints: calibrated score; faces: cosine).
 * Audited (purpose required). CX_ENOTFOUND: no such watchlist. */
cx_err bio_identify(bio_service *b, const char *watchlist, const bio_probe *p,
                    const bio_context *ctx, size_t max, double min_score, bio_candidate *out,
                    size_t *n);
/* 1:1 against one subject. Audited; a match is what the verification gate
 * looks for. CX_ENOTFOUND: no such subject; CX_EFORBIDDEN: the caller may not
 * verify this subject (message in why). */
cx_err bio_verify(bio_service *b, const char *subject, const bio_probe *p,
                  const bio_context *ctx, bool *match, double *score, double *threshold,
                  char *why, size_t whylen);

/* ---- stations, the audit, the verification gate ---------------------------------------- */

/* Registers a device key as a capture station (any_org: it may verify
 * subjects of every organisation, not only its own). CX_ENOTFOUND: no such
 * live key; CX_EINVAL: not a device key. */
cx_err bio_station_register(bio_service *b, int64_t key_id, const char *name, bool any_org,
                            const cx_principal *by);
cx_err bio_station_list(bio_service *b, json_t **out);

typedef struct {
    const char *subject, *action; /* filters, NULL: any */
    int64_t from_us, to_us;       /* 0: open */
    int64_t before_seq;           /* cursor: records older than this */
    size_t limit;                 /* 0: 100 */
} bio_audit_query;

/* {"items":[records, newest first], "next_cursor"?}; caller decrefs. */
cx_err bio_audit_list(store *s, const bio_audit_query *q, json_t **out);
/* The day's audit records (UTC) and the RFC 6962 Merkle root of their leaf
 * hashes: the content of the ledger's audit.digest entry. */
cx_err bio_audit_digest(store *s, int y, int m, int d, int64_t *count, uint8_t root[32]);

/* The verification gate's question: has subject a successful verification
 * at or after since_us? Runs on any connection (the writer's inside a
 * decision, a reader elsewhere). */
cx_err bio_verified_since(store_conn *c, const char *subject, int64_t since_us, bool *ok);
/* The latest successful verification of subject (0: none). */
cx_err bio_verified_last(store_conn *c, const char *subject, int64_t *at_us);

/* The decision gate "bio.verified" (DECL_GATE_BIO): a key with a subject
 * may record an officer's decision only after a successful verification of
 * that subject within host->window_s seconds (0: 12 hours); otherwise 409
 * verification_required. Keys without a subject pass. host is borrowed
 * and must outlive d. It needs only the audit table, so it is installed
 * whether or not the server holds the master key. */
typedef struct decl_service decl_service;
typedef struct bio_host bio_host;
cx_err bio_gate_add(decl_service *d, const bio_host *host);

/* ---- HTTP --------------------------------------------------------------------------------
 * POST /v1/biometrics/subjects, GET /v1/biometrics/subjects[/{id}],
 * POST /v1/biometrics/subjects/{id}/templates, DELETE /v1/biometrics/subjects/{id},
 * POST /v1/biometrics/verify, POST /v1/biometrics/identify,
 * POST|GET /v1/biometrics/stations, GET /v1/biometrics/audit,
 * GET /v1/biometrics/verification (the caller's own gate state).
 * host->svc NULL (a server started without the master key): the same routes
 * answer 503 biometrics_unavailable, except the audit and the verification
 * state, which need only the store. */
struct bio_host {
    bio_service *svc;  /* NULL: no master key */
    store *s;
    int64_t window_s;  /* the verification gate's window (0: 12 hours) */
};
/* host is borrowed and must outlive the server. */
cx_err bio_routes(const bio_host *host, http_server *srv);

/* ---- evaluation ------------------------------------------------------------------
 * Error rates as the FVC define them: equal error rate, and the lowest false
 * non-match rate at a false match rate of at most 1 % (fmr100) and 0.1 %
 * (fmr1000), with the threshold that gives the latter. Rates are fractions. */
typedef struct {
    double eer, fmr100, fmr1000;
    double threshold_fmr1000, threshold_eer;
} bio_rates;

/* CX_EINVAL if either set is empty. */
cx_err bio_rates_compute(const double *genuine, size_t ng, const double *impostor, size_t ni,
                         bio_rates *out);

#endif
