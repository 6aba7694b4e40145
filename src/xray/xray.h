/*
 * xray.h — the door of the X-ray module: container scans read from 16- or
 * 8-bit grayscale PNG and TIFF (libpng, libtiff) and DICOS (DCMTK), their
 * JSON sidecar, Beer–Lambert calibration, the analyses (empty-container
 * verification, concealment regions, observed mass against the declared),
 * an 8-bit rendering with window/level and an overlay (cairo), and the
 * service: content-addressed storage, scanners, /v1/xray routes, the link
 * to declarations. Public names carry the prefix xray_.
 *
 * Geometry (docs/xray.md): the image's x axis is the container's length,
 * the doors at the side the sidecar's orientation names; y is height, the
 * floor at the bottom. Areal density behind a pixel is
 * ln(open_beam / value) / mass_attenuation_cm2_g, in g/cm².
 */
#ifndef CUSTOMS_XRAY_H
#define CUSTOMS_XRAY_H

#include "core.h"
#include "alert.h"
#include "declare.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- limits ----------------------------------------------------------------
 * A 40-ft container at 2 mm/pixel is about 6,200 × 1,500 pixels; these
 * leave room for finer scanners and refuse decompression bombs before any
 * pixel buffer is allocated. */
#define XRAY_MAX_DIM 20000u                /* width or height */
#define XRAY_MAX_PIXELS (24u * 1024 * 1024) /* width × height */
#define XRAY_MAX_FILE ((size_t)64 << 20)    /* an uploaded or read file */

/* ---- images ------------------------------------------------------------------ */
typedef enum { XRAY_FMT_UNKNOWN = 0, XRAY_FMT_PNG, XRAY_FMT_TIFF, XRAY_FMT_DICOS } xray_format;

/* A transmission image: detector values, row-major, row 0 at the top. */
typedef struct {
    uint32_t w, h;
    int bits;     /* sample depth in the file: 8 or 16 (values are 0..255 or 0..65535) */
    uint16_t *px; /* w × h values, owned by the image */
} xray_image;

/* A zeroed image; NULL if w or h is 0, over the limits, or out of memory.
 * Free with xray_image_free. */
xray_image *xray_image_new(uint32_t w, uint32_t h);
void xray_image_free(xray_image *im);
/* True if w × h fits the limits above (checked before any allocation). */
bool xray_dims_ok(uint64_t w, uint64_t h);

/* The format from the first bytes (PNG signature, TIFF byte order mark,
 * DICOM "DICM" at 128); XRAY_FMT_UNKNOWN otherwise. */
xray_format xray_sniff(const uint8_t *data, size_t len);
const char *xray_format_name(xray_format f); /* "png", "tiff", "dicos", "unknown" */

/* Decodes an image held in memory. Grayscale only, one sample of 8 or 16
 * bits; truncated or malformed files, colour, and dimensions over the limits
 * are refused with a sentence in err. For DICOS, *dicos_meta (if not NULL)
 * receives the sidecar members the file carries (docs/xray.md lists the
 * attributes), as a JSON object the caller decrefs; NULL for other formats.
 * *out is freed with xray_image_free. */
cx_err xray_read(const uint8_t *data, size_t len, xray_image **out, json_t **dicos_meta,
                 char *err, size_t errlen);
/* Reads a whole file (≤ XRAY_MAX_FILE) into memory; *data is freed with free(). */
cx_err xray_file_load(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen);

/* Encoders (for the simulator, tests and renderings). out is a cx_buf the
 * caller initialised with a cap; on error it may hold a partial file. */
cx_err xray_png_encode(const xray_image *im, int bits, cx_buf *out); /* 8 or 16 */
cx_err xray_tiff_encode(const xray_image *im, cx_buf *out);          /* 16-bit, deflate */

/* ---- the sidecar ----------------------------------------------------------------
 * {"scan_id","container","declaration"?,"time","scanner","pixel_mm_x",
 *  "pixel_mm_y","open_beam","mass_attenuation_cm2_g","orientation",
 *  "declared_empty"?,"declared_mass_kg"?} */
#define XRAY_ID_MAX 64
typedef struct {
    char scan_id[XRAY_ID_MAX + 1];
    char container[12];                  /* ISO 6346, check digit verified */
    char declaration[XRAY_ID_MAX + 1];   /* "" when none */
    char time[40];                       /* as given (RFC 3339) */
    int64_t time_us;
    char scanner[XRAY_ID_MAX + 1];
    double pixel_mm_x, pixel_mm_y;       /* at the container, mm per pixel */
    double open_beam;                    /* detector value with nothing in the beam */
    double mu;                           /* mass_attenuation_cm2_g */
    bool door_right;                     /* orientation: door_right (else door_left) */
    int declared_empty;                  /* -1 not given, 0 false, 1 true */
    double declared_mass_kg;             /* NAN when not given */
} xray_meta;

/* 1..64 of A-Z a-z 0-9 . _ : - (scan, scanner ids). */
bool xray_id_valid(const char *s);

/* Validates a sidecar object. Every problem is appended to problems (JSON
 * Pointers prefixed by ptr, "" or "/meta"); returns true when there were
 * none. With strict, unknown members are problems; without, their names are
 * appended to `unknown` (if not NULL) so that a command can warn. */
bool xray_meta_parse(const json_t *obj, const char *ptr, bool strict, xray_meta *out,
                     json_t *problems, json_t *unknown);
/* The sidecar as a JSON object (caller decrefs). */
json_t *xray_meta_json(const xray_meta *m);

/* DICOS with the sidecar's members in its attributes (docs/xray.md);
 * 16-bit, explicit VR little endian. For the simulator and tests. */
cx_err xray_dicos_save(const xray_image *im, const xray_meta *m, const char *path, char *err,
                       size_t errlen);

/* ---- physics ------------------------------------------------------------------ */
/* Beer–Lambert: areal density (g/cm²) behind a pixel of value v. Values at
 * or below 0 are read as 0.5 (the detector's floor), so the result stays
 * finite: the image then only bounds the density from below. */
double xray_areal_density(double v, double open_beam, double mu);
/* Inverse: the detector value behind areal density a (g/cm²). */
double xray_transmitted(double a, double open_beam, double mu);
/* Mass attenuation coefficient (cm²/g) of a compound formula ("Fe", "H2O",
 * "C6H10O5") or a NIST compound name at energy kev (≤ 800 keV, xraylib's
 * range) from xraylib. CX_EINVAL with err for unknown materials. */
cx_err xray_material_mu(const char *material, double kev, double *mu, char *err, size_t errlen);

/* ISO containers: internal and external sizes in millimetres. */
typedef enum { XRAY_CT_UNKNOWN = 0, XRAY_CT_20, XRAY_CT_40, XRAY_CT_40HC } xray_ctype;
typedef struct {
    xray_ctype type;
    const char *name;          /* "20ft", "40ft", "40ft-hc" */
    double ext_l, ext_w, ext_h; /* external */
    double int_l, int_w, int_h; /* internal */
    double tare_kg;            /* typical tare */
} xray_container_spec;
const xray_container_spec *xray_container(xray_ctype t);

/* ---- analysis --------------------------------------------------------------------- */
typedef enum {
    XRAY_DENSE_OBJECT,
    XRAY_ORGANIC_MASS,
    XRAY_FALSE_WALL,
    XRAY_ANOMALY,
    XRAY_KIND__COUNT
} xray_kind;
const char *xray_kind_name(xray_kind k);
bool xray_kind_parse(const char *s, xray_kind *out);

/* A region in image pixels (x, y, w, h; y down) and in container
 * coordinates: from_door_m from the inner face of the doors to the region's
 * nearest edge, height_m from the floor to its lower edge (negative: in the
 * floor). score is the probability that it holds something undeclared. */
typedef struct {
    int x, y, w, h;
    double score;
    xray_kind kind;
    double from_door_m, height_m;
    double length_m, height_extent_m; /* its size in the container */
    double mass_kg;                   /* extra mass it holds (areal density excess) */
} xray_region;

/* A region with a score at or above this is a finding (and regions come
 * by descending score, so those are the first ones). */
#define XRAY_FINDING_SCORE 0.5

typedef enum { XRAY_SEV_INFO, XRAY_SEV_WARNING, XRAY_SEV_CRITICAL } xray_severity;
const char *xray_severity_name(xray_severity s);

typedef struct {
    char rule[32];      /* "empty_check_failed", "mass_mismatch", … (docs/xray.md) */
    xray_severity severity;
    char message[240];
} xray_finding;

/* What was declared for this container (from the sidecar, the command line
 * or the declaration). */
typedef struct {
    int empty;             /* -1 unknown, 0, 1 */
    double mass_kg;        /* gross mass of goods; NAN unknown */
    double mass_tolerance; /* relative; 0 = default (0.25) */
    char hs_chapters[8][3]; /* declared HS chapters ("61"); up to 8 */
    size_t nchapters;
} xray_declared;

/* Where the analysis found the container, in image pixels (canonical: as
 * the image is, x increasing away from the doors when door_left). */
typedef struct {
    xray_ctype type;
    int x0, x1;        /* outer ends along x (x1 exclusive) */
    int door_inner;    /* column of the inner face of the doors */
    int front_inner;   /* column of the inner face of the front wall */
    int roof_inner;    /* row just under the roof */
    int floor_top;     /* row of the floor's top surface (first floor row) */
    int top;           /* top edge of the container */
    bool found;
} xray_geometry;

typedef struct {
    char scan_id[XRAY_ID_MAX + 1];
    bool empty;
    double empty_score;
    xray_region *regions;
    size_t nregions;
    double observed_mass_kg;
    double declared_mass_kg; /* NAN: not declared */
    double mass_ratio;       /* NAN: not declared */
    xray_finding *findings;
    size_t nfindings;
    xray_geometry geo;
    double opaque_fraction;  /* interior pixels at the detector floor */
    double noise;            /* estimated areal-density noise, g/cm² */
    double load_density;     /* g/cm³ of the load (NAN: no load) */
} xray_result;

/* Analyses one scan. Never fails on content (a scan without a container
 * yields findings); errors are CX_ENOMEM and CX_EINVAL (bad meta values).
 * *out is freed with xray_result_free. Reentrant: analyses may run on many
 * threads at once. */
cx_err xray_analyze(const xray_image *im, const xray_meta *m, const xray_declared *d,
                    xray_result **out);
void xray_result_free(xray_result *r);
/* The analysis as the command prints it: {"scan_id","empty","empty_score",
 * "regions":[{"x","y","w","h","score","kind","from_door_m","height_m"}],
 * "observed_mass_kg","declared_mass_kg","mass_ratio","findings":[…]}.
 * Caller decrefs. */
json_t *xray_result_json(const xray_result *r);
/* Regions back from that JSON (for overlays of stored analyses). *out is
 * freed with free(); CX_EPARSE if the array is not as written. */
cx_err xray_regions_from_json(const json_t *regions, xray_region **out, size_t *n);

/* ---- renderings ------------------------------------------------------------------ */
/* An 8-bit grayscale PNG of the scan: areal density mapped to gray with a
 * window/level from the container's own histogram (dense = dark). */
cx_err xray_render_png(const xray_image *im, const xray_meta *m, cx_buf *out);
/* The same picture in colour with each region drawn and labelled with its
 * number and metres from the doors. */
cx_err xray_render_overlay(const xray_image *im, const xray_meta *m, const xray_region *regions,
                           size_t n, cx_buf *out);

/* ---- the service ------------------------------------------------------------------- */
cx_err xray_migrate(store *s, char *err, size_t errlen);

typedef struct {
    const char *blob_dir;       /* where images are kept; NULL: "<db>.xray" next to the database */
    unsigned max_concurrent;    /* analyses at once; 0 = 2 */
    double mass_tolerance;      /* 0 = 0.25 */
    /* Findings of warning or critical severity are raised here (subject kind
     * "scan", types "xray_<rule>") inside the job that stores the scan;
     * NULL: none are raised. Borrowed; must outlive the service. */
    alert_service *alerts;
} xray_config;

typedef struct xray_service xray_service;
/* Borrows s and decl (may be NULL: no declaration link); free the service
 * before them. Registers with declare the decision gate "xray.outcomes"
 * (an officer's release waits, 409 xray_outcomes_missing, until every
 * region of the declaration's scans that raised a finding has an
 * inspection outcome) and the "xray" member of a declaration. NULL with
 * err on failure (the blob directory cannot be created). */
xray_service *xray_service_new(store *s, decl_service *decl, const xray_config *cfg, char *err,
                               size_t errlen);
void xray_service_free(xray_service *x);
cx_err xray_routes(xray_service *x, http_server *srv);

/* The latest scan linked to a declaration (seq, its arrival number), read
 * on c (this thread's reader or a writer job's connection): its id and a
 * new array of its regions as the analysis gave them, each with "n" (its
 * number on the overlay, from 1) and "side" (null: side view only). Caller
 * decrefs *regions. CX_ENOTFOUND when the declaration has no scan. For the
 * inspection guide (issue 13). */
cx_err xray_declaration_scan(store_conn *c, int64_t decl_seq, char id[XRAY_ID_MAX + 1],
                             json_t **regions);

/* The upload seam: everything POST /v1/xray/scans needs, however the body
 * came (JSON with base64 today; multipart spooled to a file later). The
 * bytes are borrowed for the call. */
typedef struct {
    const json_t *meta;
    const uint8_t *image;
    size_t len;
    const char *image_field; /* named in errors: "/image_base64", "/image" */
} xray_upload;
/* Validates, analyses, stores, links and replies (201, 200 when the very
 * same scan was stored before, or an error naming the field). */
void xray_scans_post(xray_service *x, http_req *r, const xray_upload *up);

#endif
