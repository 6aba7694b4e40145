/* bio_int.h — what the files of the bio module share; not a door. */
#ifndef CUSTOMS_BIO_INT_H
#define CUSTOMS_BIO_INT_H

#include "bio.h"

#include <stdarg.h>

/* ---- templates: the parsed record ------------------------------------------- */
struct bio_template {
    bio_format format;
    uint8_t *bytes; /* our copy of the record; extensions point into it */
    size_t len;
    uint16_t vendor, subformat; /* CBEFF owner and type (ANSI) */
    uint16_t sensor_id;
    bool sensor_certified;
    size_t nviews;
    bio_view *views;
};

/* A bounds-checked big-endian reader. Reading past `end` returns zeros and
 * sets `out`: the caller reports one fatal problem and stops. */
typedef struct {
    const uint8_t *p;
    size_t end, pos;
    bool out;
} tpl_rd;

uint8_t tpl__u8(tpl_rd *r);
uint16_t tpl__u16(tpl_rd *r);
uint32_t tpl__u32(tpl_rd *r);
void tpl__skip(tpl_rd *r, size_t n);

/* The parse in progress: where problems go and what mode we are in. */
typedef struct {
    bio_problems *pr;
    bio_template *t;
    bool permissive;
    bool fatal; /* a fatal problem was reported */
    bool strict_failed; /* a non-fatal problem was reported */
} tpl_ctx;

void tpl__problem(tpl_ctx *c, size_t offset, bool fatal, const char *fmt, ...) CX_PRINTF(4, 5);
/* Reports that the record ends too early for `what`. */
void tpl__truncated(tpl_ctx *c, const tpl_rd *r, const char *what);

/* The variants that differ inside a finger view. */
typedef struct {
    bool ansi;          /* ANSI angle units (2 degrees, 0..179), ANSI core/delta layout */
    bool quality_2009;  /* 254 and 255 are allowed qualities */
    bool zonal;         /* ISO: block type 3 is zonal quality */
    bool len_data_only; /* ISO 2005: a block's length counts its data, not its 4-byte header */
    unsigned minutia_bytes; /* 6, or 5 for ISO 2011 records without minutia quality */
} tpl_flavour;

/* Reads n minutiae into v (allocated here) and checks them against the
 * view's size. */
bool tpl__minutiae(tpl_ctx *c, tpl_rd *r, const tpl_flavour *f, bio_view *v, unsigned n);
/* Reads the extended data length and its blocks. */
bool tpl__extensions(tpl_ctx *c, tpl_rd *r, const tpl_flavour *f, bio_view *v);
/* Rules across views: unique (position, view), views of one finger
 * numbered from 0 and in order. */
void tpl__check_views(tpl_ctx *c, size_t offset);
/* Whether a finger position code is defined: ISO 2005 and ANSI 2004 know
 * 0..10; 2009 and 2011 add the multi-finger codes 13..15 and 40..50. */
bool tpl__position_valid(unsigned code, bool multi);
/* The 4-byte view header of ISO 2005 and ANSI 2004 (position, view and
 * impression nibbles, quality, minutia count); the image's size and
 * resolution come from the record header (in image). */
bool tpl__view_header4(tpl_ctx *c, tpl_rd *r, bio_view *v, const bio_view *image,
                       unsigned *n);
/* The view array of t, zeroed; NULL and a fatal problem on failure. */
bool tpl__alloc_views(tpl_ctx *c, size_t n);
/* Converted units of every minutia of v (after res_x/res_y are known). */
void tpl__convert(bio_view *v, bool ansi);

/* Per format: parse the record from the magic on. `end` is the number of
 * bytes available; the caller compares where the record ended with its
 * length field (returned in *declared). */
bool tpl__iso2005(tpl_ctx *c, tpl_rd *r, uint32_t *declared);
bool tpl__iso2011(tpl_ctx *c, tpl_rd *r, uint32_t *declared);
bool tpl__ansi2004(tpl_ctx *c, tpl_rd *r, uint32_t *declared);
bool tpl__ansi2009(tpl_ctx *c, tpl_rd *r, uint32_t *declared, bool am1);

/* ---- the matcher: Minutia Cylinder-Code (Cappelli, Ferrara, Maltoni 2010) ---
 * Coordinates are pixels at 500 dpi ("px"), directions radians in the
 * image's y-down frame. A cylinder is 8 x 8 cells (one 64-bit word) in each
 * of 6 direction sections, and a word saying which cells are valid.
 * Cylinders are stored in blocks of 8, a word of each in a row, so that one
 * probe cylinder meets 8 others in one SIMD operation. */
#define MCC_NS 8
#define MCC_ND 6
#define MCC_LANES 8
#define MCC_MAXM 255 /* minutiae per view */

typedef struct {
    float r;           /* cylinder radius, px */
    float sigma_s;     /* spatial Gaussian, px */
    float sigma_d;     /* directional Gaussian, radians */
    float mu_psi;      /* cell threshold of the summed contributions */
    float omega;       /* the convex hull of the minutiae is grown by this, px */
    float min_vc;      /* a cylinder needs this share of its cells valid */
    int min_m;         /* ... and this many other minutiae near it */
    float min_me;      /* two cylinders compare if this share of cells is valid in both */
    float delta_theta; /* largest direction difference of two paired minutiae */
    /* LSS-R: relaxation of the best pairs */
    int min_np, max_np;
    float mu_p, tau_p;
    int n_rel;
    float w_r;
    float mu1, tau1, mu2, tau2, mu3, tau3;
    float rel_k;       /* the distance tolerance grows by this share of the distance */
    int max_nr;        /* at most this many pairs are relaxed (0: no limit) */
} mcc_params;

/* The parameters in force (docs/biometrics.md lists them and why). */
extern mcc_params mcc__params;

typedef struct {
    float x, y, d; /* px, radians */
} mcc_min;

typedef struct {
    _Alignas(64) uint64_t mask[MCC_LANES]; /* valid cells; 0: no cylinder */
    uint64_t bits[MCC_ND][MCC_LANES];
    uint16_t d16[MCC_LANES]; /* directions in 1/65536 turn */
    uint8_t ok[MCC_LANES];   /* 1 if the lane holds a valid cylinder */
} mcc_blk;

/* Per-view features, one allocation; built once at parse or enrol time,
 * read-only afterwards (shared between threads). */
typedef struct {
    uint16_t n;      /* minutiae */
    uint16_t nvalid; /* minutiae with a valid cylinder */
    uint16_t nhull;  /* points of the convex hull of the minutiae */
    uint16_t nblk;   /* blocks of cylinders: ceil(n / 8) */
    mcc_blk *blk;    /* 64-byte aligned */
    mcc_min *m;      /* n, in the view's order */
    mcc_min *hull;   /* nhull points, counter-clockwise (d unused) */
    size_t bytes;    /* the allocation's size */
} mcc_feat;

#define BIO_FEATURES_MAX_VIEWS 16 /* views of one template that are matched */
/* The features of view i (internal: the gallery reads them directly). */
const mcc_feat *bio__features_view(const bio_features *f, size_t i);
/* The finger recorded at enrolment overrides a one-view template's own. */
void bio__features_set_position(bio_features *f, size_t i, unsigned position);

/* Builds the features of a view; NULL on allocation failure. */
mcc_feat *mcc__extract(const bio_view *v);
void mcc__free(mcc_feat *f);
/* The cylinders the coarse filter compares a probe with: nidx blocks. */
void mcc__index_blocks(const mcc_feat *f, int mode, mcc_blk *out, unsigned nidx);
/* The coarse filter's score of a probe against index blocks. */
float mcc__coarse(const mcc_feat *probe, const mcc_blk *index, unsigned nidx);
/* A comparison's scratch space: one per thread. */
typedef struct mcc_work mcc_work;
mcc_work *mcc__work_new(void);
void mcc__work_free(mcc_work *w);
/* Raw similarity of two views in [0, 1]. */
double mcc__compare(const mcc_feat *a, const mcc_feat *b, mcc_work *w);
/* Rebuilds the lookup tables after mcc__params changed (tuning, tests). */
void mcc__reinit(void);

/* ---- storage (bstore.c, audit.c) ---------------------------------------------------- */

typedef struct {
    int64_t num; /* the row's number: the galleries' id */
    char id[BIO_ID_MAX + 1];
    char kind[16];
    char org[CX_ORG_MAX + 1];
    char watchlist[BIO_ID_MAX + 1];
    char *name, *agency, *legal_basis; /* malloc'd by readers */
    int64_t expires_us;
    uint8_t wrapped[BIO_WRAPPED_BYTES];
    char created_at[32];
} bs_subject;

typedef struct {
    char id[CX_ID_LEN + 1];
    int64_t subject; /* num */
    char modality[8]; /* "finger", "face" */
    char format[BIO_FACE_MODEL_MAX + 1]; /* template format or face model */
    int finger;       /* -1: none */
    const uint8_t *sealed;
    size_t nsealed;
} bs_template;

typedef struct {
    int64_t key_id;
    const char *name;
    char name_buf[256];
    char org[CX_ORG_MAX + 1];
    bool any_org;
    int64_t created_by;
    char created_at[32];
} bs_station;

typedef struct {
    const char *action;  /* verify, identify, enrol, erase, expire */
    const cx_principal *who;
    const char *purpose, *watchlist, *subject, *modality;
    int64_t station;
    long candidates;     /* -1: not a search */
    double top_score;    /* NAN: none */
    const char *outcome; /* match, no_match, hits, no_hits, enrolled, erased */
    /* a watchlist hit to raise in the same writer job (alert.h), or NULL */
    alert_service *alerts;
    const alert_new *alert;
} bio_audit_rec;

cx_err bs__key_check(store *s, const char *key_id, char *err, size_t errlen);
cx_err bs__subject_insert(store *s, const bs_subject *sub, const uint8_t *wrapped, int64_t who,
                          int64_t *num);
cx_err bs__subject_get(store *s, const char *id, bs_subject *out);
void bs__subject_clear(bs_subject *s);
/* fn returns false to stop; limit 0: all. */
cx_err bs__subject_each(store *s, const char *watchlist, int64_t after, size_t limit,
                        bool (*fn)(void *ctx, const bs_subject *sub), void *ctx);
cx_err bs__expired_each(store *s, int64_t now_us, bool (*fn)(void *ctx, const char *id),
                        void *ctx);
cx_err bs__template_insert(store *s, const bs_template *t);
/* subject 0: every template. The sealed bytes live only during fn. */
cx_err bs__template_each(store *s, int64_t subject,
                         bool (*fn)(void *ctx, const bs_template *t), void *ctx);
cx_err bs__erase(store *s, const char *id, const bio_audit_rec *audit, size_t *templates);
bool bs__checkpoint(store *s);
cx_err bs__station_put(store *s, const bs_station *st);
cx_err bs__station_get(store *s, int64_t key_id, bs_station *out);
cx_err bs__station_each(store *s, bool (*fn)(void *ctx, const bs_station *st), void *ctx);
/* Inside a writer job, or as a job of its own (blocking). */
cx_err bs__audit_append(store_conn *w, const bio_audit_rec *r);
cx_err bs__audit_write(store *s, const bio_audit_rec *r);

/* ---- threads --------------------------------------------------------------------- */
#define BIO_THREADS_MAX 64
/* Runs fn on each of n jobs (size bytes apart) on n threads, the first on
 * the caller's; jobs that get no thread run on the caller's too. */
void bio__parallel(void *(*fn)(void *), void *jobs, size_t size, unsigned n);

/* 1..max characters of A-Z a-z 0-9 and the bytes of extra. */
bool bio__token_valid(const char *s, size_t max, const char *extra);

/* ---- slots by id (gallery.c, face.c) ----------------------------------------------
 * The in-memory galleries keep their rows in dense arrays and remove by
 * moving the last row into the hole, so an erasure costs the subject's rows,
 * not the gallery's. This keeps each id's slots in a doubly linked list in
 * insertion order (the keyed map gives an id its first slot), and is told
 * when a row moves. Not thread-safe: under the gallery's writer. */
#define BIO_SLOT_NONE UINT32_MAX
typedef struct {
    cx_map first;    /* id -> its first slot */
    uint32_t *next, *prev; /* by slot */
    size_t cap;
} bio_slots;

void bio__slots_free(bio_slots *l);
/* Appends slot to id's list (O(the id's slots)); false when out of memory. */
bool bio__slots_add(bio_slots *l, uint64_t id, uint32_t slot);
/* id's first slot, or BIO_SLOT_NONE; the next is l->next[slot]. */
uint32_t bio__slots_first(const bio_slots *l, uint64_t id);
/* The row of id at slot `from` now lives at `to`. */
void bio__slots_move(bio_slots *l, uint64_t id, uint32_t from, uint32_t to);
/* Unlinks and returns id's highest slot (BIO_SLOT_NONE: it has none left),
 * O(the id's slots). Removing an id's rows highest first, what moves into
 * a hole is never one of its own, and no memory is needed. */
uint32_t bio__slots_pop(bio_slots *l, uint64_t id);

#endif
