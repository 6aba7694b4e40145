/*
 * designs.h — the door of the designs module: 3D design files as goods.
 * Readers for the formats printers use (binary and ASCII STL, 3MF, OBJ),
 * measurements (size, area, volume, watertightness, file and mesh hashes),
 * a geometric fingerprint that survives translation, rotation, uniform
 * scale, mirroring, re-tessellation, small noise and format changes, and
 * watchlists of protected (ipr) and controlled (security) designs matched
 * through an in-memory index. Public names carry the prefix designs_.
 *
 * Every length is in millimetres: 3MF's unit attribute is applied when the
 * file is read; STL and OBJ carry no unit and are taken as millimetres
 * (designs_info says so). docs/designs.md has the formats, the fingerprint,
 * the threshold and the exact byte layout of mesh_sha256.
 */
#ifndef CUSTOMS_DESIGNS_H
#define CUSTOMS_DESIGNS_H

#include "alert.h"
#include "core.h"
#include "declare.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* ---- reading ----------------------------------------------------------------- */
typedef enum {
    DESIGNS_FMT_UNKNOWN = 0,
    DESIGNS_FMT_STL,   /* binary or ASCII */
    DESIGNS_FMT_3MF,
    DESIGNS_FMT_OBJ,
} designs_format;

const char *designs_format_name(designs_format f); /* "stl", "3mf", "obj"; "unknown" */
bool designs_format_parse(const char *s, designs_format *out);

/* Caps on what one file may make the reader allocate or inflate. Checked
 * before the memory is taken: a header claiming 10^9 triangles is refused
 * from its 84 bytes. */
typedef struct {
    uint64_t max_triangles;    /* after 3MF instancing (default 5,000,000) */
    uint64_t max_vertices;     /* (default 15,000,000) */
    uint64_t max_uncompressed; /* 3MF: bytes inflated from the ZIP in total (default 1 GiB) */
    double max_ratio;          /* 3MF: inflated / compressed bytes per entry (default 250) */
} designs_limits;
void designs_limits_default(designs_limits *l);

/* An indexed triangle mesh in millimetres. Owned by whoever filled it;
 * designs_mesh_free() releases the arrays (the struct itself is the
 * caller's) and leaves it empty. A zeroed struct is an empty mesh. */
typedef struct {
    double *xyz;   /* 3 per vertex */
    uint32_t *tri; /* 3 vertex indices per triangle, counter-clockwise seen from outside */
    size_t nverts, ntris;
    size_t cap_v, cap_t;   /* allocated (internal) */
    size_t max_v, max_t;   /* caps; 0 = the defaults of designs_limits */
} designs_mesh;
void designs_mesh_free(designs_mesh *m);
/* Appends; CX_ETOOBIG over the mesh's caps, CX_EINVAL for a non-finite
 * coordinate or an index out of range. */
cx_err designs_mesh_add_vertex(designs_mesh *m, double x, double y, double z);
cx_err designs_mesh_add_triangle(designs_mesh *m, uint32_t a, uint32_t b, uint32_t c);

/* Why a file was refused: a stable code and a sentence naming the place
 * (byte offset, line, ZIP entry, XML line). Codes: empty, unknown_format,
 * truncated, count_mismatch, too_many_triangles, too_many_vertices,
 * non_finite, out_of_range, bad_index, syntax, zip, zip_bomb, xml,
 * xml_entity, no_model, no_mesh, unit, recursion, nomem. */
typedef struct {
    char code[24];
    char message[240];
} designs_error;

/* What the reader learnt besides the mesh. */
typedef struct {
    designs_format format;
    bool ascii;            /* STL: the ASCII form */
    char unit[16];         /* "millimeter", "inch", … (3MF's names) */
    bool unit_assumed;     /* the format carries no unit: millimetres assumed */
    uint32_t objects;      /* 3MF build items / OBJ objects / STL solids */
    uint32_t polygons;     /* OBJ faces with more than 3 corners, triangulated */
    uint32_t skipped;      /* elements ignored on purpose (OBJ lines, points, 3MF non-mesh) */
} designs_info;

/* Reads a design from memory. The format is recognised from the bytes;
 * name (may be NULL) only breaks ties ("part.obj"). lim NULL = defaults.
 * On success out holds the mesh (caller frees with designs_mesh_free).
 * On failure returns CX_EPARSE / CX_ETOOBIG / CX_ENOMEM with why filled
 * and out left empty. */
cx_err designs_read(const void *data, size_t len, const char *name, const designs_limits *lim,
                    designs_mesh *out, designs_info *info, designs_error *why);
/* A whole design file in memory: an HTTP body, or a file mapped with
 * designs_source_map (the command line; with the spooling HTTP edge, the
 * request's temporary file). */
typedef struct {
    const void *data;
    size_t len;
    const char *name; /* file name as given (may be NULL) */
    bool mapped;      /* internal: unmap on designs_source_unmap */
} designs_source;
/* Maps path read-only into src (name = path). CX_EIO with why filled if it
 * cannot be opened or is not a regular file. */
cx_err designs_source_map(const char *path, designs_source *src, designs_error *why);
void designs_source_unmap(designs_source *src); /* no-op for a source not mapped */

/* ---- writing (conversion, tests, benchmarks) -------------------------------------
 * Appends the mesh to out in the format: STL binary (ascii false) or ASCII,
 * 3MF (one object, unit millimeter), OBJ. CX_ETOOBIG if out's cap is hit. */
cx_err designs_write(const designs_mesh *m, designs_format f, bool ascii, cx_buf *out);

/* ---- measuring ------------------------------------------------------------------- */
typedef struct {
    designs_info info;
    uint8_t sha256[32];      /* of the file's bytes */
    uint8_t mesh_sha256[32]; /* of the canonical mesh (docs/designs.md) */
    uint64_t file_size;
    uint64_t triangles;      /* as read (after 3MF instancing) */
    uint64_t vertices;       /* distinct positions after welding at 1 µm */
    double bbox_min[3], bbox_max[3];
    double area_mm2;
    double volume_mm3;       /* signed; meaningful when watertight */
    bool watertight;         /* every edge shared by exactly two triangles, opposite ways */
    uint64_t boundary_edges;   /* edges of one triangle: holes */
    uint64_t nonmanifold_edges; /* edges of three or more triangles */
    uint64_t flipped_edges;    /* edges two neighbours walk the same way: inconsistent winding */
    uint64_t degenerate;       /* triangles with a repeated vertex (after welding) or no area */
    uint64_t shells;           /* connected components */
} designs_inspection;

/* Measures a mesh read from file bytes data[0..len) (for the file hash).
 * data may be NULL when the caller has set out->sha256 itself. */
cx_err designs_measure(const designs_mesh *m, const designs_info *info, const void *data,
                       size_t len, designs_inspection *out);
/* Only the canonical mesh hash (welded positions are not needed for it). */
cx_err designs_mesh_sha256(const designs_mesh *m, uint8_t out[32]);

/* The inspection as the API and `customs designs inspect --json` show it:
 * {"format","sha256","mesh_sha256","triangles","vertices","bbox_mm":[x,y,z],
 *  "area_mm2","volume_mm3"|null,"watertight","problems":[{code,count,message}],
 *  "unit","unit_assumed","shells","file_size"}. Caller decrefs. */
json_t *designs_inspection_json(const designs_inspection *in);

/* ---- the fingerprint ---------------------------------------------------------------
 * Rotation-, mirror-, translation- and scale-invariant descriptors of the
 * surface (docs/designs.md): a distance distribution (D2), distances to the
 * centroid (D1), an angle distribution (A3), spherical-harmonic energies of
 * concentric shells and the principal-moment ratios, quantised to bytes so
 * that comparing two is an L1 distance over DESIGNS_FP_DIMS bytes. The size
 * of the design travels with it, for the scale. */
#define DESIGNS_FP_DIMS 192
#define DESIGNS_FP_VERSION 1
#define DESIGNS_FP_BYTES (8 + DESIGNS_FP_DIMS + 16) /* serialised form */
typedef struct {
    uint8_t v[DESIGNS_FP_DIMS];
    double size_volume; /* cube root of |volume| when watertight, else 0 */
    double size_diag;   /* diagonal of the bounding box in the principal axes */
} designs_fp;

/* Computes the fingerprint. Deterministic: the same mesh (in any triangle
 * order of the same triangulation) gives the same bytes. CX_EINVAL for a
 * mesh without area. */
cx_err designs_fingerprint(const designs_mesh *m, const designs_inspection *in, designs_fp *out);

/* Similarity in 0..1 and the documented threshold: a design matches a
 * registered one when similarity >= DESIGNS_MATCH_THRESHOLD. */
#define DESIGNS_MATCH_THRESHOLD 0.80
double designs_similarity(const designs_fp *a, const designs_fp *b);
/* L1 distance of the quantised descriptors (the index works on it). */
uint32_t designs_fp_distance(const designs_fp *a, const designs_fp *b);
double designs_similarity_of_distance(uint32_t d);
/* Size of query / size of registered: by the cube root of the volumes when
 * both are closed, else by the principal-axes bounding-box diagonals. */
double designs_scale(const designs_fp *query, const designs_fp *registered);

/* Serialised: "DFP" version, then the bytes and the sizes (little-endian
 * doubles), DESIGNS_FP_BYTES in all. Base64 (URL-safe, no padding) for JSON. */
void designs_fp_pack(const designs_fp *fp, uint8_t out[DESIGNS_FP_BYTES]);
cx_err designs_fp_unpack(const uint8_t *in, size_t len, designs_fp *out);
/* out needs DESIGNS_FP_B64_LEN + 1 bytes. */
#define DESIGNS_FP_B64_LEN 288
void designs_fp_base64(const designs_fp *fp, char *out);
cx_err designs_fp_from_base64(const char *s, designs_fp *out);

/* ---- the index ---------------------------------------------------------------------
 * Fingerprints in memory with a coarse filter (sums of byte groups, which
 * bound the full distance from below), so a top-k query against 100,000
 * designs compares only the few whose bound can still win, and returns the
 * same top-k as a full scan. Not thread-safe: the service guards it with a
 * read-write lock. */
typedef struct designs_index designs_index;
typedef struct {
    int64_t key;
    uint32_t distance;
} designs_hit;
designs_index *designs_index_new(void);
void designs_index_free(designs_index *ix);
size_t designs_index_size(const designs_index *ix);
cx_err designs_index_add(designs_index *ix, int64_t key, const designs_fp *fp);
/* Removes key (no-op if absent). */
void designs_index_remove(designs_index *ix, int64_t key);
const designs_fp *designs_index_get(const designs_index *ix, int64_t key);
/* The k nearest (k <= 64), nearest first, ties by key; keep (may be NULL)
 * filters candidates. Returns the count written to out. */
typedef bool (*designs_keep_fn)(void *ctx, int64_t key);
size_t designs_index_query(const designs_index *ix, const designs_fp *q, size_t k,
                           designs_keep_fn keep, void *keep_ctx, designs_hit *out);
/* The same by comparing every entry (the benchmark's peer and the tests' oracle). */
size_t designs_index_scan(const designs_index *ix, const designs_fp *q, size_t k,
                          designs_keep_fn keep, void *keep_ctx, designs_hit *out);

/* ---- watchlists and uploads (the service) ----------------------------------------- */
typedef enum { DESIGNS_WL_IPR = 1, DESIGNS_WL_SECURITY = 2 } designs_watchlist;
const char *designs_watchlist_name(designs_watchlist w);
bool designs_watchlist_parse(const char *s, designs_watchlist *out);

#define DESIGNS_TEXT_MAX 200 /* holder, title, reference, registration: characters */
#define DESIGNS_TOP 10       /* matches reported */

cx_err designs_migrate(store *s, char *err, size_t errlen);

typedef struct designs_service designs_service;

typedef struct {
    designs_limits limits;
    const char *files_dir; /* where uploaded files are kept; NULL = "<db>.designs" */
    /* Borrowed, may be NULL: an upload matching a watchlist design raises an
     * alert (subject kind "design": design_ipr_match warning,
     * design_security_match critical), in the upload's own transaction. */
    alert_service *alerts;
} designs_config;
void designs_config_default(designs_config *c);

/* Loads the watchlists into memory. The service borrows s; free it first.
 * A sentence in err on failure. */
cx_err designs_service_new(store *s, const designs_config *cfg, designs_service **out, char *err,
                           size_t errlen);
void designs_service_free(designs_service *d);

/* Joins the declarations spine (before the server starts): an item's
 * "design" member is checked against its uploaded file and the watchlists
 * when the declaration is stored (writer thread, in its savepoint). A
 * security match raises the lane to red, an ipr match not licensed from its
 * holder, a file never uploaded or one declared unlike the upload to yellow,
 * each with a risk reason (a trader reads the reasons: the security one
 * names no design); security and ipr findings also raise an alert (subject
 * kind "declaration"). The hooks run between risk's and the ledger's. */
cx_err designs_join(designs_service *d, decl_service *decl);

/* A registration: holder and title required, the rest optional (NULL). */
typedef struct {
    designs_watchlist watchlist;
    const char *holder, *title, *reference, *registration;
    const char *valid_until; /* YYYY-MM-DD */
} designs_entry;

/* Checks an entry: holder and title are 1 to 200 characters of text, the
 * rest optional, valid_until a real date YYYY-MM-DD. Appends {path,
 * message} to problems (/holder, /title, …); true when there were none. */
bool designs_entry_check(const designs_entry *e, json_t *problems);

/* The result of an upload or a registration. json is the API's reply
 * object for who (caller decrefs); id the new design id for a registration. */
typedef struct {
    json_t *json;
    char id[CX_ID_LEN + 1];
    designs_error why; /* when the file was refused (CX_EPARSE, CX_ETOOBIG) */
} designs_result;

/* Uploads a file for who: stored (file and inspection), matched against
 * both watchlists, events raised for matches. CX_EPARSE/CX_ETOOBIG with
 * res->why for a refused file. */
cx_err designs_upload(designs_service *d, const cx_principal *who, const designs_source *src,
                      designs_result *res);
/* Registers a design on a watchlist from its bytes. */
cx_err designs_register(designs_service *d, const cx_principal *who, const designs_source *src,
                        const designs_entry *e, designs_result *res);
/* Registers an uploaded file by its sha256 (hex); CX_ENOTFOUND if unknown. */
cx_err designs_register_sha(designs_service *d, const cx_principal *who, const char *sha256,
                            const designs_entry *e, designs_result *res);

/* Matches of a fingerprint against both watchlists, best first (up to
 * DESIGNS_TOP). as_trader: only ipr designs that match (never a security
 * design, never a near miss). Caller decrefs. */
json_t *designs_matches_json(designs_service *d, const designs_fp *fp, bool as_trader);

/* Active entries of a watchlist ("ipr", "security" or NULL for both) as
 * officers see them, after row `after`, at most limit; *last is the row of
 * the last one (the next call's after). Appends to items. */
cx_err designs_list(designs_service *d, const char *watchlist, int64_t after, int64_t limit,
                    json_t *items, int64_t *last);

/* What is known about an uploaded file: its watchlist matches (officers'
 * view). known is false when no file with this hash was uploaded. */
typedef struct {
    bool known;
    bool security;           /* matches a security design */
    uint32_t ipr_matches;
    char ipr_holder[DESIGNS_TEXT_MAX * 4 + 1]; /* holder of the best ipr match */
    char ipr_design_id[CX_ID_LEN + 1];
    char security_design_id[CX_ID_LEN + 1];
    double best_similarity;
    char format[8];
    uint64_t file_size;
} designs_verdict;
cx_err designs_verdict_of(designs_service *d, const char *sha256, designs_verdict *out);

/* POST /v1/designs, GET /v1/designs/{sha256}, GET /v1/designs/{sha256}/file,
 * POST/GET /v1/designs/watchlist, DELETE /v1/designs/watchlist/{id}; metrics. */
cx_err designs_routes(designs_service *d, http_server *srv);

#endif
