/* The X-ray simulator: scene set-up, the container's steel, the trailer,
 * the detector (blur, gains, noise) and the scan's sidecar and truth. Loads
 * and concealments are in xray_sim_load.c. */
#include "xray_sim_int.h"

#include "declare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness ------------------------------------------------------------------- */

uint64_t xsim__next(xsim_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double xsim__unit(xsim_rng *r)
{
    return (double)(xsim__next(r) >> 11) / 9007199254740992.0;
}

double xsim__range(xsim_rng *r, double a, double b)
{
    return a + (b - a) * xsim__unit(r);
}

double xsim__gauss(xsim_rng *r)
{
    double u = xsim__unit(r), v = xsim__unit(r);
    return sqrt(-2 * log(u < 1e-300 ? 1e-300 : u)) * cos(2 * M_PI * v);
}

size_t xsim__pick(xsim_rng *r, size_t n)
{
    return n ? (size_t)(xsim__unit(r) * (double)n) % n : 0;
}

/* ---- kinds -------------------------------------------------------------------------- */

static const char *const kind_names[XSIM__COUNT] = {
    "empty", "loaded", "concealed", "empty_block", "dense_block", "false_wall", "floor_drugs",
    "cigarettes"};

const char *xsim_kind_name(xsim_kind k)
{
    return k < XSIM__COUNT ? kind_names[k] : "unknown";
}

bool xsim_kind_parse(const char *s, xsim_kind *out)
{
    for (int k = 0; k < XSIM__COUNT; k++)
        if (s && strcmp(s, kind_names[k]) == 0) {
            *out = (xsim_kind)k;
            return true;
        }
    return false;
}

/* ---- materials ---------------------------------------------------------------------- */

/* Mixtures by mass fraction; xraylib gives each compound's μ/ρ. */
static const struct {
    const char *c[4];
    double f[4];
} materials[XM__COUNT] = {
    [XM_STEEL] = {{"Fe"}, {1}},
    [XM_WOOD] = {{"C6H10O5"}, {1}},
    [XM_CARDBOARD] = {{"C6H10O5"}, {1}},
    [XM_PET] = {{"C10H8O4"}, {1}},
    [XM_WATER] = {{"H2O"}, {1}},
    [XM_GLASS] = {{"SiO2", "Na2O", "CaO"}, {0.73, 0.14, 0.13}},
    [XM_CERAMIC] = {{"SiO2", "Al2O3", "CaO"}, {0.65, 0.25, 0.10}},
    [XM_RUBBER] = {{"C5H8", "C"}, {0.7, 0.3}},
    [XM_ALUMINIUM] = {{"Al"}, {1}},
    [XM_COCAINE] = {{"C17H21NO4"}, {1}},
    [XM_CELLULOSE] = {{"C6H10O5"}, {1}},
    [XM_PE] = {{"C2H4"}, {1}},
    [XM_LEAD] = {{"Pb"}, {1}},
    [XM_FERTILIZER] = {{"NH4NO3"}, {1}},
    [XM_CEMENT] = {{"CaO", "SiO2", "Al2O3", "Fe2O3"}, {0.64, 0.22, 0.08, 0.06}},
    [XM_OIL] = {{"C16H34"}, {1}},
    [XM_SUGAR] = {{"C12H22O11"}, {1}},
    [XM_ELECTRONICS] = {{"C2H4", "Al", "Fe", "SiO2"}, {0.55, 0.2, 0.15, 0.1}},
    [XM_BEVERAGE] = {{"H2O", "SiO2", "C6H10O5"}, {0.72, 0.23, 0.05}},
    [XM_FOOD] = {{"H2O", "C6H10O5", "Fe"}, {0.6, 0.3, 0.1}},
};

static cx_err sim__materials(xsim_world *w, char *err, size_t errlen)
{
    for (int m = 0; m < XM__COUNT; m++) {
        w->mu[m] = 0;
        for (int i = 0; i < 4 && materials[m].c[i]; i++) {
            double mu;
            cx_err e = xray_material_mu(materials[m].c[i], w->kev, &mu, err, errlen);
            if (e != CX_OK)
                return e;
            w->mu[m] += materials[m].f[i] * mu;
        }
    }
    return CX_OK;
}

/* ---- the grid -------------------------------------------------------------------------- */

double xsim__cover(double a, double b, double c, double h)
{
    double lo = fmax(a, c - h), hi = fmin(b, c + h);
    return hi > lo ? (hi - lo) / (2 * h) : 0;
}

/* Columns (or rows) [*i0, *i1) of the grid touched by world [a, b]. */
static void sim__span(double a, double b, double origin, double step, int n, bool down, int *i0,
                      int *i1)
{
    double f0 = down ? (origin - b) / step : (a - origin) / step;
    double f1 = down ? (origin - a) / step : (b - origin) / step;
    *i0 = f0 < 0 ? 0 : (int)floor(f0);
    *i1 = f1 > n ? n : (int)ceil(f1);
}

void xsim__box(xsim_world *w, xsim_mat m, double rho, bool cargo, double x0, double x1,
               double y0, double y1, double path_mm)
{
    if (x1 <= x0 || y1 <= y0 || path_mm <= 0 || rho == 0)
        return;
    int c0, c1, r0, r1;
    sim__span(x0, x1, w->ox, w->sx, w->gw, false, &c0, &c1);
    sim__span(y0, y1, w->oy, w->sy, w->gh, true, &r0, &r1);
    double areal = rho * path_mm / 10; /* g/cm² */
    double tau = w->mu[m] * areal, cell_cm2 = w->sx * w->sy / 100, mass = 0;
    for (int r = r0; r < r1; r++) {
        double yc = w->oy - (r + 0.5) * w->sy;
        double fy = xsim__cover(y0, y1, yc, w->sy / 2);
        float *row = w->tau + (size_t)r * w->gw;
        for (int c = c0; c < c1; c++) {
            double f = fy * xsim__cover(x0, x1, w->ox + (c + 0.5) * w->sx, w->sx / 2);
            row[c] += (float)(tau * f);
            mass += f;
        }
    }
    if (cargo)
        w->cargo_g += mass * areal * cell_cm2;
}

void xsim__field(xsim_world *w, xsim_mat m, double rho, bool cargo, double x0, double x1,
                 double y0, double y1, xsim_path_fn fn, void *ctx)
{
    if (x1 <= x0 || y1 <= y0 || rho <= 0)
        return;
    int c0, c1, r0, r1;
    sim__span(x0, x1, w->ox, w->sx, w->gw, false, &c0, &c1);
    sim__span(y0, y1, w->oy, w->sy, w->gh, true, &r0, &r1);
    double k = w->mu[m] * rho / 10, cell_cm2 = w->sx * w->sy / 100, mass = 0;
    for (int r = r0; r < r1; r++) {
        double yc = w->oy - (r + 0.5) * w->sy;
        double fy = xsim__cover(y0, y1, yc, w->sy / 2);
        float *row = w->tau + (size_t)r * w->gw;
        for (int c = c0; c < c1; c++) {
            double xc = w->ox + (c + 0.5) * w->sx;
            double f = fy * xsim__cover(x0, x1, xc, w->sx / 2);
            double path = f > 0 ? f * fn(ctx, xc, yc, w->sx / 2, w->sy / 2) : 0;
            row[c] += (float)(k * path);
            mass += path;
        }
    }
    if (cargo)
        w->cargo_g += mass * rho / 10 * cell_cm2;
}

void xsim__conceal(xsim_world *w, const char *kind, const char *what, double x0, double x1,
                   double y0, double y1, double mass_kg)
{
    json_array_append_new(w->concealments,
                          json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:f}", "kind", kind, "what", what,
                                    "x0", x0, "x1", x1, "y0", y0, "y1", y1, "mass_kg", mass_kg));
}

/* ---- the container's steel ----------------------------------------------------------- */

typedef struct {
    double pitch, flat, depth, t, phase;
} sim_corr;

/* Side walls: a ray along z crosses each corrugated sheet once; on the
 * flanks the sheet is inclined, so the path is t / cos θ. */
static double sim__side_walls(void *ctx, double x, double y, double hx, double hy)
{
    const sim_corr *c = ctx;
    double u = fmod(x + c->phase, c->pitch);
    double flank = (c->pitch - 2 * c->flat) / 2;
    bool on_flank = (u >= c->flat && u < c->flat + flank) || u >= 2 * c->flat + flank;
    double k = on_flank ? sqrt(1 + (c->depth / flank) * (c->depth / flank)) : 1;
    return 2 * c->t * k;
}

/* An end wall (front wall or door leaves): a sheet corrugated across z.
 * Between its two planes a ray crosses the flanks twice per pitch; on the
 * planes it runs along the flat parts. */
typedef struct {
    double x0, depth, pitch, flat, t, width, extra;
} sim_endwall;

static double sim__end_wall(void *ctx, double x, double y, double hx, double hy)
{
    const sim_endwall *e = ctx;
    double flank = (e->pitch - 2 * e->flat) / 2, periods = e->width / e->pitch;
    double crossing = e->t * sqrt(1 + (flank / e->depth) * (flank / e->depth));
    double inside = xsim__cover(e->x0 + e->t, e->x0 + e->depth - e->t, x, hx);
    double planes = xsim__cover(e->x0, e->x0 + e->t, x, hx) +
                    xsim__cover(e->x0 + e->depth - e->t, e->x0 + e->depth, x, hx);
    return inside * (2 * periods * crossing + e->extra) + planes * periods * e->flat;
}

/* Corner posts: two formed sections, crossed twice each, with an outer
 * face parallel to the beam. */
typedef struct {
    double x0, x1, t, face_x0, depth;
} sim_posts;

static double sim__posts(void *ctx, double x, double y, double hx, double hy)
{
    const sim_posts *p = ctx;
    return 2 * 2 * p->t + xsim__cover(p->face_x0, p->face_x0 + p->t, x, hx) * 2 * p->depth;
}

/* A steel rail along x seen from the side: a web (path web) with flanges
 * of width `flange` along z at its top and bottom. */
typedef struct {
    double y0, y1, t, web, flange, n;
} sim_rail;

static double sim__rail(void *ctx, double x, double y, double hx, double hy)
{
    const sim_rail *r = ctx;
    double fl = xsim__cover(r->y0, r->y0 + r->t, y, hy) + xsim__cover(r->y1 - r->t, r->y1, y, hy);
    return r->n * (r->web + fl * r->flange);
}

/* The roof: a sheet corrugated along x, seen edge-on: the ray runs through
 * it for the whole width wherever it meets it. */
typedef struct {
    double base, depth, pitch, t, width;
} sim_roof;

static double sim__roof(void *ctx, double x, double y, double hx, double hy)
{
    const sim_roof *r = ctx;
    double yr = r->base + r->depth * (0.5 + 0.5 * sin(2 * M_PI * x / r->pitch));
    return xsim__cover(yr, yr + r->t, y, hy) * r->width;
}

/* A hollow section running along z (headers, sills, cross-members): its
 * walls in the x-y plane, each with the whole width as path. */
static void sim__beam_z(xsim_world *w, double x0, double x1, double y0, double y1, double t,
                        double width)
{
    xsim__box(w, XM_STEEL, 7.85, false, x0, x1, y0, y0 + t, width);
    xsim__box(w, XM_STEEL, 7.85, false, x0, x1, y1 - t, y1, width);
    xsim__box(w, XM_STEEL, 7.85, false, x0, x0 + t, y0 + t, y1 - t, width);
    xsim__box(w, XM_STEEL, 7.85, false, x1 - t, x1, y0 + t, y1 - t, width);
}

typedef struct {
    double xc, r_out, r_in, n;
} sim_rods;

static double sim__rods(void *ctx, double x, double y, double hx, double hy)
{
    const sim_rods *r = ctx;
    double d = fabs(x - r->xc), a = 0, b = 0;
    if (d < r->r_out)
        a = 2 * sqrt(r->r_out * r->r_out - d * d);
    if (d < r->r_in)
        b = 2 * sqrt(r->r_in * r->r_in - d * d);
    return r->n * (a - b);
}

static void sim__container(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    const xray_container_spec *s = w->spec;
    double L = s->ext_l, H = s->ext_h, W = s->int_w;
    sim_corr side = {xsim__range(g, 250, 300), xsim__range(g, 60, 80), xsim__range(g, 30, 45),
                     xsim__range(g, 1.6, 2.0), xsim__range(g, 0, 300)};
    xsim__field(w, XM_STEEL, 7.85, false, 20, L - 20, 160, H - 60, sim__side_walls, &side);
    sim_rail top = {H - 60, H, 3, 6, 60, 2}, bottom = {0, 160, 4.5, 4.5, 30, 2};
    xsim__field(w, XM_STEEL, 7.85, false, 0, L, top.y0, top.y1, sim__rail, &top);
    xsim__field(w, XM_STEEL, 7.85, false, 0, L, bottom.y0, bottom.y1, sim__rail, &bottom);
    sim_roof roof = {w->y_roof_inner, xsim__range(g, 10, 25), xsim__range(g, 180, 260),
                     xsim__range(g, 1.5, 2.0), W};
    xsim__field(w, XM_STEEL, 7.85, false, 130, L - 100, roof.base, roof.base + 30, sim__roof,
                &roof);
    /* floor: plywood seen edge-on, cross-members under it */
    xsim__box(w, XM_WOOD, xsim__range(g, 0.65, 0.75), false, w->x_door_inner, w->x_front_inner,
              w->y_plank_bottom, w->y_floor_top, W);
    for (double x = w->cm_first; x < w->x_front_inner - 60; x += w->cm_pitch) {
        xsim__box(w, XM_STEEL, 7.85, false, x, x + 4.5, w->y_cm_bottom, w->y_plank_bottom, W);
        xsim__box(w, XM_STEEL, 7.85, false, x, x + w->cm_flange, w->y_plank_bottom - 4.5,
                  w->y_plank_bottom, W);
        xsim__box(w, XM_STEEL, 7.85, false, x, x + w->cm_flange, w->y_cm_bottom,
                  w->y_cm_bottom + 4.5, W);
    }
    /* front end: corrugated wall, corner posts, header and sill */
    sim_endwall front = {w->x_front_inner, w->x_front_outer - w->x_front_inner - 8,
                         xsim__range(g, 200, 260), xsim__range(g, 50, 70), xsim__range(g, 1.6, 2.0),
                         W, 0};
    xsim__field(w, XM_STEEL, 7.85, false, front.x0, front.x0 + front.depth, w->y_floor_top,
                w->y_roof_inner, sim__end_wall, &front);
    sim_posts fp = {L - 150, L, 6, L - 6, 150};
    xsim__field(w, XM_STEEL, 7.85, false, fp.x0, fp.x1, 0, H, sim__posts, &fp);
    sim__beam_z(w, L - 110, L, w->y_roof_inner, H, 4, W);
    sim__beam_z(w, L - 110, L, 0, w->y_floor_top, 5, W);
    /* door end: corner posts, header, sill, two corrugated leaves with
     * their frames, four lock rods outside them */
    sim_posts rp = {0, 130, 8, 0, 130};
    xsim__field(w, XM_STEEL, 7.85, false, rp.x0, rp.x1, 0, H, sim__posts, &rp);
    sim__beam_z(w, 0, 130, w->y_roof_inner, H, 5, W);
    sim__beam_z(w, 0, 130, 0, w->y_floor_top, 6, W);
    double depth_d = xsim__range(g, 30, 40);
    sim_endwall doors = {w->x_door_inner - 4 - depth_d, depth_d, xsim__range(g, 180, 240),
                         xsim__range(g, 50, 70), 2.0, W, 24};
    xsim__field(w, XM_STEEL, 7.85, false, doors.x0, doors.x0 + depth_d, w->y_floor_top - 20,
                w->y_roof_inner + 20, sim__end_wall, &doors);
    sim_rods rods = {doors.x0 - 20, 13.5, 10.5, 4};
    xsim__field(w, XM_STEEL, 7.85, false, rods.xc - 14, rods.xc + 14, w->y_floor_top - 60,
                w->y_roof_inner + 60, sim__rods, &rods);
}

/* The other renderer's container: flat walls of a random gauge, a solid
 * floor, plain bands for the roof and both ends. */
static void sim__container_plain(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    const xray_container_spec *s = w->spec;
    double L = s->ext_l, H = s->ext_h, W = s->int_w;
    xsim__box(w, XM_STEEL, 7.85, false, 0, L, 0, H, 2 * xsim__range(g, 1.6, 3.0));
    xsim__box(w, XM_STEEL, 7.85, false, 0, L, w->y_roof_inner, H, xsim__range(g, 40, 80));
    xsim__box(w, XM_WOOD, xsim__range(g, 0.2, 0.35), false, 0, L, 0, w->y_floor_top, W);
    xsim__box(w, XM_STEEL, 7.85, false, 0, w->x_door_inner, 0, H, xsim__range(g, 20, 40));
    xsim__box(w, XM_STEEL, 7.85, false, w->x_front_inner, L, 0, H, xsim__range(g, 30, 60));
}

/* ---- the trailer ------------------------------------------------------------------------ */

typedef struct {
    double xc, yc;
} sim_wheel;

/* Four tyres (twin wheels on both sides), rims and the axle. */
static double sim__wheel(void *ctx, double x, double y, double hx, double hy)
{
    const sim_wheel *wh = ctx;
    double r = hypot(x - wh->xc, y - wh->yc);
    if (r > 500)
        return 0;
    if (r > 290) /* rubber: two sidewalls per tyre, the tread band through its width */
        return 4 * (r > 470 ? 280 : 24);
    return 0; /* steel is drawn by sim__rim */
}

static double sim__rim(void *ctx, double x, double y, double hx, double hy)
{
    const sim_wheel *wh = ctx;
    double r = hypot(x - wh->xc, y - wh->yc);
    if (r > 290)
        return 0;
    return r < 60 ? 2000 : r < 100 ? 400 : 4 * 2 * 6;
}

static void sim__trailer(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    double L = w->spec->ext_l;
    sim_rail rails = {-360, -10, 12, 8, 160, 2};
    xsim__field(w, XM_STEEL, 7.85, false, 100, L - 150, rails.y0, rails.y1, sim__rail, &rails);
    int axles = L > 9000 ? 3 : 2;
    double x = xsim__range(g, 500, 900);
    for (int a = 0; a < axles; a++, x += 1310) {
        sim_wheel wh = {x + 500, -750};
        xsim__field(w, XM_RUBBER, 1.15, false, wh.xc - 500, wh.xc + 500, -1250, -250, sim__wheel,
                    &wh);
        xsim__field(w, XM_STEEL, 7.85, false, wh.xc - 290, wh.xc + 290, -1040, -460, sim__rim,
                    &wh);
    }
}

/* ---- the detector ----------------------------------------------------------------------- */

/* Mean transmission of each pixel's 2×2 subsamples. */
static void sim__transmission(const xsim_world *w, float *t, int iw, int ih)
{
    for (int y = 0; y < ih; y++)
        for (int x = 0; x < iw; x++) {
            const float *a = w->tau + (size_t)(2 * y) * w->gw + 2 * x;
            t[(size_t)y * iw + x] =
                0.25f * (expf(-a[0]) + expf(-a[1]) + expf(-a[w->gw]) + expf(-a[w->gw + 1]));
        }
}

/* Separable Gaussian blur (the detector's and focal spot's spread). */
static void sim__blur(float *t, int iw, int ih, double sigma)
{
    float k[5];
    double sum = 0;
    for (int i = -2; i <= 2; i++)
        sum += k[i + 2] = (float)exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i < 5; i++)
        k[i] /= (float)sum;
    float *tmp = malloc(sizeof(float) * (size_t)(iw > ih ? iw : ih));
    if (!tmp)
        return;
    for (int y = 0; y < ih; y++) {
        float *row = t + (size_t)y * iw;
        for (int x = 0; x < iw; x++) {
            float s = 0;
            for (int i = -2; i <= 2; i++)
                s += k[i + 2] * row[x + i < 0 ? 0 : x + i >= iw ? iw - 1 : x + i];
            tmp[x] = s;
        }
        memcpy(row, tmp, sizeof(float) * (size_t)iw);
    }
    for (int x = 0; x < iw; x++) {
        for (int y = 0; y < ih; y++) {
            float s = 0;
            for (int i = -2; i <= 2; i++) {
                int yy = y + i < 0 ? 0 : y + i >= ih ? ih - 1 : y + i;
                s += k[i + 2] * t[(size_t)yy * iw + x];
            }
            tmp[y] = s;
        }
        for (int y = 0; y < ih; y++)
            t[(size_t)y * iw + x] = tmp[y];
    }
    free(tmp);
}

/* Photon noise (a Poisson count approximated as Gaussian), the linac's
 * pulse-to-pulse intensity per column, each detector row's residual gain,
 * electronic noise; then the 16-bit ADC. */
/* The other renderer's detector: relative Gaussian noise, an offset, and
 * an open beam 2 % off the sidecar's. */
static void sim__detect_plain(xsim_world *w, const float *t, xray_image *im, double open_beam)
{
    xsim_rng *g = &w->rng;
    double rel = xsim__range(g, 0.005, 0.02), gain = 1.02;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
        double v = open_beam * gain * t[i] * (1 + rel * xsim__gauss(g)) + 10 * xsim__gauss(g);
        im->px[i] = (uint16_t)lround(v < 0 ? 0 : v > 65535 ? 65535 : v);
    }
}

static void sim__detect(xsim_world *w, const float *t, xray_image *im, double open_beam)
{
    xsim_rng *g = &w->rng;
    double photons = exp(xsim__range(g, log(20000), log(300000)));
    double e_noise = xsim__range(g, 0.5, 4), global = 1 + 0.004 * xsim__gauss(g);
    double *col = malloc(sizeof(double) * im->w), *row = malloc(sizeof(double) * im->h);
    if (!col || !row) {
        free(col);
        free(row);
        return;
    }
    for (uint32_t x = 0; x < im->w; x++)
        col[x] = global * (1 + 0.002 * xsim__gauss(g));
    for (uint32_t y = 0; y < im->h; y++)
        row[y] = 1 + 0.002 * xsim__gauss(g);
    for (uint32_t y = 0; y < im->h; y++)
        for (uint32_t x = 0; x < im->w; x++) {
            double n = photons * t[(size_t)y * im->w + x] * col[x] * row[y];
            n += sqrt(n) * xsim__gauss(g);
            double v = open_beam * (n > 0 ? n : 0) / photons + e_noise * xsim__gauss(g);
            v = v < 0 ? 0 : v > 65535 ? 65535 : v;
            im->px[(size_t)y * im->w + x] = (uint16_t)lround(v);
        }
    free(col);
    free(row);
}

/* ---- the scan ------------------------------------------------------------------------------ */

static void sim__container_number(xsim_rng *g, char out[12])
{
    static const char *const owners[] = {"MSCU", "MAEU", "CSQU", "TGHU", "HLXU",
                                         "OOLU", "CMAU", "TCLU", "SEGU", "GESU"};
    char first[11];
    snprintf(first, sizeof first, "%s%06u", owners[xsim__pick(g, 10)],
             (unsigned)xsim__pick(g, 1000000));
    snprintf(out, 12, "%s%d", first, decl_iso6346_check_digit(first));
}

static void sim__meta(xsim_world *w, const xsim_opts *o, uint64_t index, xray_meta *m)
{
    xsim_rng *g = &w->rng;
    memset(m, 0, sizeof *m);
    snprintf(m->scan_id, sizeof m->scan_id, "SIM-%llu-%06llu", (unsigned long long)o->seed,
             (unsigned long long)index);
    sim__container_number(g, m->container);
    m->time_us = 1709272800000000LL + (int64_t)index * 137000000LL; /* 2024-03-01T06:00Z on */
    cx_rfc3339_format(m->time_us, m->time);
    snprintf(m->scanner, sizeof m->scanner, "SIM-SCANNER-%u", (unsigned)(o->seed % 3) + 1);
    m->pixel_mm_x = o->pixel_mm > 0 ? o->pixel_mm : round(xsim__range(g, 4, 8) * 10) / 10;
    m->pixel_mm_y = o->pixel_mm > 0 ? o->pixel_mm : round(xsim__range(g, 4, 6) * 10) / 10;
    m->open_beam = round(xsim__range(g, 16000, 60000));
    m->door_right = xsim__unit(g) < 0.5;
    m->declared_empty = -1;
    m->declared_mass_kg = NAN;
}

static void sim__geometry(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    const xray_container_spec *s = w->spec;
    double front_t = xsim__range(g, 42, 58);
    w->x_front_outer = s->ext_l;
    w->x_front_inner = s->ext_l - front_t;
    w->x_door_inner = w->x_front_inner - s->int_l;
    w->y_floor_top = xsim__range(g, 150, 160);
    w->y_plank_bottom = w->y_floor_top - xsim__range(g, 26, 30);
    w->y_cm_bottom = w->y_plank_bottom - 122;
    w->y_roof_inner = w->y_floor_top + s->int_h;
    w->y_top = s->ext_h;
    w->cm_pitch = xsim__range(g, 280, 340);
    w->cm_first = w->x_door_inner + xsim__range(g, 40, 200);
    w->cm_flange = xsim__range(g, 40, 50);
}

/* Truth boxes: world mm to pixels of the final (possibly mirrored) image. */
static json_t *sim__truth_boxes(const xsim_world *w, const xray_meta *m, uint32_t iw)
{
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(w->concealments, i, c)
    {
        double x0 = json_real_value(json_object_get(c, "x0")),
               x1 = json_real_value(json_object_get(c, "x1")),
               y0 = json_real_value(json_object_get(c, "y0")),
               y1 = json_real_value(json_object_get(c, "y1"));
        int px = (int)floor((x0 - w->ox) / m->pixel_mm_x);
        int pw = (int)ceil((x1 - w->ox) / m->pixel_mm_x) - px;
        int py = (int)floor((w->oy - y1) / m->pixel_mm_y);
        int ph = (int)ceil((w->oy - y0) / m->pixel_mm_y) - py;
        if (m->door_right)
            px = (int)iw - px - pw;
        json_array_append_new(
            out, json_pack("{s:O,s:O,s:i,s:i,s:i,s:i,s:f,s:f,s:O}", "kind",
                           json_object_get(c, "kind"), "what", json_object_get(c, "what"), "x",
                           px, "y", py, "w", pw, "h", ph, "from_door_m",
                           round(fmax(0, x0 - w->x_door_inner)) / 1000, "height_m",
                           round(y0 - w->y_floor_top) / 1000, "mass_kg",
                           json_object_get(c, "mass_kg")));
    }
    return out;
}

static void sim__mirror(xray_image *im)
{
    for (uint32_t y = 0; y < im->h; y++) {
        uint16_t *r = im->px + (size_t)y * im->w;
        for (uint32_t a = 0, b = im->w - 1; a < b; a++, b--) {
            uint16_t t = r[a];
            r[a] = r[b];
            r[b] = t;
        }
    }
}

/* What the paperwork says: the legitimate part, weighed roughly; now and
 * then a load declared far lighter than it is. */
static void sim__declared(xsim_world *w, xsim_kind kind, xray_meta *m, json_t *truth)
{
    double legit = (w->cargo_g - w->concealed_g) / 1000;
    bool empty_declared = kind == XSIM_EMPTY || kind == XSIM_EMPTY_BLOCK ||
                          (kind == XSIM_FLOOR_DRUGS && legit < 1);
    bool mismatch = false;
    if (empty_declared) {
        m->declared_empty = 1;
    } else {
        m->declared_empty = 0;
        double f = 1 + 0.03 * xsim__gauss(&w->rng);
        if (kind == XSIM_LOADED && xsim__unit(&w->rng) < 0.1) {
            f = xsim__range(&w->rng, 0.35, 0.65);
            mismatch = true;
        }
        m->declared_mass_kg = round(legit * f);
    }
    json_object_set_new(truth, "declared_mass_kg",
                        isnan(m->declared_mass_kg) ? json_null() : json_real(m->declared_mass_kg));
    json_object_set_new(truth, "declared_empty", json_boolean(empty_declared));
    json_object_set_new(truth, "mass_mismatch", json_boolean(mismatch));
}

static cx_err sim__scene(xsim_world *w, const xsim_opts *o, xsim_kind kind, bool trailer,
                         char *err, size_t errlen)
{
    if (w->style)
        sim__container_plain(w);
    else
        sim__container(w);
    if (trailer)
        sim__trailer(w);
    if (kind == XSIM_LOADED) {
        xsim__load(w, XL_ANY, w->x_door_inner + xsim__range(&w->rng, 0, 1200), w->x_front_inner);
        return CX_OK;
    }
    if (kind == XSIM_EMPTY)
        return CX_OK;
    cx_err e = xsim__conceal_scene(w, kind, o->block_mm);
    if (e != CX_OK)
        snprintf(err, errlen, "could not draw %s", xsim_kind_name(kind));
    return e;
}

cx_err xsim_render(const xsim_opts *o, uint64_t index, xsim_kind kind, xsim_scan *out,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    xsim_world w = {.rng = {o->seed * 0x9E3779B97F4A7C15ULL ^ (index + 1) * 0xD1B54A32D192ED03ULL}};
    xsim__next(&w.rng);
    xray_meta m;
    sim__meta(&w, o, index, &m);
    xray_ctype ct = o->container;
    if (ct == XRAY_CT_UNKNOWN) {
        double u = xsim__unit(&w.rng);
        ct = u < 0.6 ? XRAY_CT_20 : u < 0.9 ? XRAY_CT_40 : XRAY_CT_40HC;
    }
    w.spec = xray_container(ct);
    if (kind == XSIM_CONCEALED)
        kind = (xsim_kind)(XSIM_EMPTY_BLOCK + xsim__pick(&w.rng, XSIM__COUNT - XSIM_EMPTY_BLOCK));
    w.kev = xsim__range(&w.rng, 1500, 2600); /* a 4-6 MV linac's effective energy */
    cx_err e = sim__materials(&w, err, errlen);
    if (e != CX_OK)
        return e;
    m.mu = round(w.mu[XM_CELLULOSE] * 1e5) / 1e5; /* calibrated on organic cargo */
    sim__geometry(&w);
    w.style = o->style;
    bool trailer = !w.style && xsim__unit(&w.rng) < 0.5;
    double ml = xsim__range(&w.rng, 0, 300), mr = xsim__range(&w.rng, 0, 300);
    double mt = xsim__range(&w.rng, 0, 300), below = trailer ? 1300 : xsim__range(&w.rng, 0, 250);
    uint32_t iw = (uint32_t)ceil((ml + w.spec->ext_l + mr) / m.pixel_mm_x);
    uint32_t ih = (uint32_t)ceil((mt + w.spec->ext_h + below) / m.pixel_mm_y);
    w.sx = m.pixel_mm_x / 2;
    w.sy = m.pixel_mm_y / 2;
    w.gw = (int)iw * 2;
    w.gh = (int)ih * 2;
    w.ox = -ml;
    w.oy = w.spec->ext_h + mt;
    w.tau = calloc((size_t)w.gw * w.gh, sizeof(float));
    float *t = malloc(sizeof(float) * (size_t)iw * ih);
    xray_image *im = xray_image_new(iw, ih);
    w.concealments = json_array();
    snprintf(w.load, sizeof w.load, "none");
    if (!w.tau || !t || !im || !w.concealments) {
        e = CX_ENOMEM;
        goto done;
    }
    if ((e = sim__scene(&w, o, kind, trailer, err, errlen)) != CX_OK)
        goto done;
    sim__transmission(&w, t, (int)iw, (int)ih);
    if (w.style) {
        sim__detect_plain(&w, t, im, m.open_beam);
    } else {
        sim__blur(t, (int)iw, (int)ih, xsim__range(&w.rng, 0.35, 0.9));
        sim__detect(&w, t, im, m.open_beam);
    }
    if (m.door_right)
        sim__mirror(im);
    json_t *truth = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:f,s:f,s:o}", "scan_id", m.scan_id,
                              "kind", xsim_kind_name(kind), "container_type", w.spec->name, "load",
                              w.load, "hs_chapter", w.hs, "empty", w.cargo_g < 1,
                              "true_mass_kg", round(w.cargo_g) / 1000, "effective_kev",
                              round(w.kev), "concealments", sim__truth_boxes(&w, &m, iw));
    if (!truth) {
        e = CX_ENOMEM;
        goto done;
    }
    sim__declared(&w, kind, &m, truth);
    out->image = im;
    out->meta = m;
    out->truth = truth;
    im = NULL;
done:
    free(w.tau);
    free(t);
    xray_image_free(im);
    json_decref(w.concealments);
    return e;
}

void xsim_scan_free(xsim_scan *s)
{
    if (!s)
        return;
    xray_image_free(s->image);
    json_decref(s->truth);
    memset(s, 0, sizeof *s);
}
