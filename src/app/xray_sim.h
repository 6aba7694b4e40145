/*
 * xray_sim.h — the X-ray scan simulator of the command line (`customs xray
 * simulate`, the benchmark, training cases). It renders side-view
 * transmission scans of ISO containers from physics: Beer–Lambert with
 * xraylib's attenuation for each material at the scanner's effective
 * energy, the container's steel (corrugated walls, rails, roof, floor and
 * cross-members, front wall, doors with lock rods), an optional trailer,
 * loads by HS chapter and concealments, detector blur, gains and noise.
 *
 * It shares nothing with the analyses but the sidecar and the image format:
 * the analyses must work on scans from other renderers too. Internal to
 * src/app (not a module door).
 */
#ifndef CUSTOMS_XRAY_SIM_H
#define CUSTOMS_XRAY_SIM_H

#include "core.h"
#include "xray.h"

#include <jansson.h>

/* What a scan holds. The first three are the command's --kinds; the rest
 * pick one concealment ("concealed" draws one of them). */
typedef enum {
    XSIM_EMPTY,       /* nothing but the container */
    XSIM_LOADED,      /* a legitimate load */
    XSIM_CONCEALED,   /* any of the concealments below */
    XSIM_EMPTY_BLOCK, /* a block (30 cm, organic) in a container declared empty */
    XSIM_DENSE_BLOCK, /* a dense block inside a legitimate load */
    XSIM_FALSE_WALL,  /* a false front wall with a compartment behind it */
    XSIM_FLOOR_DRUGS, /* packages in the floor, between the cross-members */
    XSIM_CIGARETTES,  /* cigarettes behind a legitimate load */
    XSIM__COUNT
} xsim_kind;

const char *xsim_kind_name(xsim_kind k);
bool xsim_kind_parse(const char *s, xsim_kind *out);

typedef struct {
    uint64_t seed;
    double pixel_mm;       /* 0: drawn per scan (4-8 mm along, 4-6 mm up) */
    xray_ctype container;  /* XRAY_CT_UNKNOWN: drawn per scan */
    double block_mm;       /* XSIM_EMPTY_BLOCK edge; 0: 200-500 mm, mostly 300 */
    int style;             /* 0: this renderer; 1: "another renderer" for robustness
                            * checks (flat walls, a solid floor, plain ends, no blur,
                            * Gaussian noise, a 2 % gain error, no trailer) */
} xsim_opts;

/* One rendered scan. truth is {"scan_id","kind","what","container_type",
 * "load","hs_chapter","empty","true_mass_kg","declared_mass_kg",
 * "mass_mismatch","concealments":[{"kind","what","x","y","w","h",
 * "from_door_m","height_m","mass_kg"}]}. The caller frees image (xray_image_free)
 * and truth (json_decref). */
typedef struct {
    xray_image *image;
    xray_meta meta;
    json_t *truth;
} xsim_scan;

/* Renders scan number index of the run `o->seed` with the given kind:
 * the same (seed, index, kind) always gives the same scan. */
cx_err xsim_render(const xsim_opts *o, uint64_t index, xsim_kind kind, xsim_scan *out,
                   char *err, size_t errlen);
void xsim_scan_free(xsim_scan *s);

#endif
