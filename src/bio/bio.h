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
