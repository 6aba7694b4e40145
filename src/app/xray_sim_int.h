/*
 * xray_sim_int.h — shared between the simulator's files (src/app only).
 *
 * World coordinates are millimetres in the canonical view: x along the
 * container from the outer face of the doors (doors on the left), y up from
 * the container's underside, z across (the beam's direction). Everything
 * drawn is a path length along z through a material of some density; the
 * grid accumulates optical depth τ = Σ μ·ρ·path at 2×2 subsamples per pixel.
 */
#ifndef CUSTOMS_XRAY_SIM_INT_H
#define CUSTOMS_XRAY_SIM_INT_H

#include "xray_sim.h"

/* ---- randomness (splitmix64) ---------------------------------------------------- */
typedef struct {
    uint64_t s;
} xsim_rng;
uint64_t xsim__next(xsim_rng *r);
double xsim__unit(xsim_rng *r);               /* [0, 1) */
double xsim__range(xsim_rng *r, double a, double b);
double xsim__gauss(xsim_rng *r);
size_t xsim__pick(xsim_rng *r, size_t n);     /* 0..n-1 */

/* ---- materials (mass attenuation from xraylib at the scan's energy) ------------- */
typedef enum {
    XM_STEEL, XM_WOOD, XM_CARDBOARD, XM_PET, XM_WATER, XM_GLASS, XM_CERAMIC, XM_RUBBER,
    XM_ALUMINIUM, XM_COCAINE, XM_CELLULOSE, XM_PE, XM_LEAD, XM_FERTILIZER, XM_CEMENT, XM_OIL,
    XM_SUGAR, XM_ELECTRONICS, XM_BEVERAGE, XM_FOOD, XM__COUNT
} xsim_mat;

/* ---- the scene ----------------------------------------------------------------------- */
typedef struct {
    xsim_rng rng;
    int style;
    const xray_container_spec *spec;
    double kev;
    double mu[XM__COUNT]; /* cm²/g */
    /* grid */
    int gw, gh;
    double sx, sy;  /* subsample size, mm */
    double ox, oy;  /* world x of the grid's left edge, world y of its top edge */
    float *tau;
    double cargo_g; /* mass of everything drawn as cargo, as drawn */
    /* the container, world mm */
    double x_door_inner, x_front_inner, x_front_outer;
    double y_floor_top, y_plank_bottom, y_cm_bottom, y_roof_inner, y_top;
    double cm_pitch, cm_first, cm_flange; /* cross-members: spacing, first web, flange width */
    /* what the truth will say */
    json_t *concealments; /* world-mm boxes until the end */
    char load[16];
    char hs[3];
    double concealed_g; /* part of cargo_g that nobody declared */
    /* the main load, for concealments placed inside it */
    xsim_mat load_mat;
    double load_rho, load_path, load_x0, load_x1, load_top;
} xsim_world;

/* Adds a box [x0,x1]×[y0,y1] of `path_mm` along z of material m at rho
 * g/cm³ (edges weighted by how much of each subsample they cover). A
 * negative rho takes material away (goods displaced by a concealment). */
void xsim__box(xsim_world *w, xsim_mat m, double rho, bool cargo, double x0, double x1,
               double y0, double y1, double path_mm);
/* The same with a path that varies: fn(ctx, x, y, hx, hy) gives the mean
 * path in mm over the subsample centred at (x, y) of half-sizes hx, hy. */
typedef double (*xsim_path_fn)(void *ctx, double x, double y, double hx, double hy);
/* The fraction of [c - h, c + h] inside [a, b]. */
double xsim__cover(double a, double b, double c, double h);
void xsim__field(xsim_world *w, xsim_mat m, double rho, bool cargo, double x0, double x1,
                 double y0, double y1, xsim_path_fn fn, void *ctx);
/* Records a concealment for truth.json (world mm; mass in kg). */
void xsim__conceal(xsim_world *w, const char *kind, const char *what, double x0, double x1,
                   double y0, double y1, double mass_kg);

/* ---- loads and concealments (xray_sim_load.c) ---------------------------------------- */
typedef enum { XL_ANY, XL_CARTONS, XL_PALLETS, XL_BULK, XL_MACHINERY, XL_VEHICLES } xsim_load;
/* A legitimate load filling [x_from, x_to] along the container (door side
 * first); returns the mass drawn in kg. Sets w->load and w->hs. */
double xsim__load(xsim_world *w, xsim_load kind, double x_from, double x_to);
/* Cartons of one HS chapter (2 digits) at a density; for cigarettes. */
double xsim__cartons(xsim_world *w, const char *hs, xsim_mat m, double rho, double x_from,
                     double x_to, double fill_h);
/* Draws the concealment of kind k (and the load around it). */
cx_err xsim__conceal_scene(xsim_world *w, xsim_kind k, double block_mm);

#endif
