/* The simulator's loads (cartons, pallets, bulk, machinery, vehicles, by HS
 * chapter) and concealments (a block in an empty container, a dense block
 * in a load, a false front wall, packages in the floor, cigarettes behind a
 * load). Densities are the goods' bulk densities inside their packaging. */
#include "xray_sim_int.h"

#include <math.h>
#include <string.h>

#define CARDBOARD_RHO 0.13 /* corrugated board, g/cm³ */
#define WALL_MM 5.0

typedef struct {
    const char *hs;
    xsim_mat m;
    double lo, hi; /* bulk density range, g/cm³ */
} sim_goods;

static const sim_goods carton_goods[] = {
    {"61", XM_PET, 0.22, 0.35},        {"62", XM_PET, 0.22, 0.35},
    {"64", XM_RUBBER, 0.22, 0.32},     {"85", XM_ELECTRONICS, 0.18, 0.32},
    {"95", XM_PE, 0.12, 0.24},         {"94", XM_WOOD, 0.35, 0.55},
    {"48", XM_CELLULOSE, 0.55, 0.8},   {"42", XM_CELLULOSE, 0.15, 0.3},
    {"63", XM_CELLULOSE, 0.2, 0.32},   {"33", XM_WATER, 0.45, 0.7},
};
static const sim_goods pallet_goods[] = {
    {"22", XM_BEVERAGE, 0.55, 0.85}, {"69", XM_CERAMIC, 1.0, 1.5}, {"39", XM_PE, 0.5, 0.65},
    {"31", XM_FERTILIZER, 0.8, 1.0}, {"20", XM_FOOD, 0.6, 0.8},
};
static const sim_goods bag_goods[] = {
    {"10", XM_CELLULOSE, 0.65, 0.8}, {"17", XM_SUGAR, 0.75, 0.9}, {"25", XM_CEMENT, 1.1, 1.3},
};
static const sim_goods tank_goods[] = {{"15", XM_OIL, 0.88, 0.92}, {"22", XM_WATER, 0.99, 1.0}};

#define NGOODS(a) (sizeof(a) / sizeof *(a))

/* Payload a load may weigh: a 20-ft box carries about 25 t, a 40-ft 27 t. */
static double sim__max_kg(const xsim_world *w)
{
    return w->spec->ext_l > 9000 ? 26500 : 24000;
}

/* The stack height that keeps rho over [x_from, x_to] × path under the cap. */
static double sim__cap_height(const xsim_world *w, double h, double rho, double len, double path)
{
    double per_mm = rho * len * path / 1e6; /* kg per mm of height (g/cm³ × mm³ → kg) */
    double cap = sim__max_kg(w) * 0.95 / (per_mm > 0 ? per_mm : 1);
    return h < cap ? h : cap;
}

static void sim__set_load(xsim_world *w, const char *kind, const char *hs, xsim_mat m, double rho,
                          double path, double x0, double x1, double top)
{
    snprintf(w->load, sizeof w->load, "%s", kind);
    snprintf(w->hs, sizeof w->hs, "%s", hs);
    w->load_mat = m;
    w->load_rho = rho;
    w->load_path = path;
    w->load_x0 = x0;
    w->load_x1 = x1;
    w->load_top = top;
}

/* ---- cartons --------------------------------------------------------------------------- */

/* One carton: goods inside, the board's two faces across the beam, and its
 * side walls seen edge-on. */
static void sim__carton(xsim_world *w, xsim_mat m, double rho, double x, double y, double L,
                        double H, double Wz)
{
    double t = WALL_MM, in = Wz - 2 * t;
    xsim__box(w, m, rho, true, x + t, x + L - t, y + t, y + H - t, in);
    xsim__box(w, XM_CARDBOARD, CARDBOARD_RHO, true, x, x + L, y, y + H, 2 * t);
    xsim__box(w, XM_CARDBOARD, CARDBOARD_RHO, true, x, x + t, y, y + H, in);
    xsim__box(w, XM_CARDBOARD, CARDBOARD_RHO, true, x + L - t, x + L, y, y + H, in);
    xsim__box(w, XM_CARDBOARD, CARDBOARD_RHO, true, x + t, x + L - t, y, y + t, in);
    xsim__box(w, XM_CARDBOARD, CARDBOARD_RHO, true, x + t, x + L - t, y + H - t, y + H, in);
}

double xsim__cartons(xsim_world *w, const char *hs, xsim_mat m, double rho, double x_from,
                     double x_to, double fill_h)
{
    xsim_rng *g = &w->rng;
    double before = w->cargo_g;
    double L = xsim__range(g, 300, 650), H = xsim__range(g, 250, 500), Wz = xsim__range(g, 300, 600);
    int nz = (int)(w->spec->int_w / Wz);
    fill_h = sim__cap_height(w, fill_h, rho, x_to - x_from, nz * Wz);
    int rows = (int)(fill_h / H);
    if (rows < 1)
        rows = 1;
    bool stagger = xsim__unit(g) < 0.5;
    for (int zc = 0; zc < nz; zc++) {
        double off = stagger ? xsim__range(g, 0, L) : 0;
        for (double x = x_to - L - off; x >= x_from; x -= L + 2)
            for (int r = 0; r < rows; r++) {
                if (r == rows - 1 && xsim__unit(g) < 0.25)
                    continue; /* a ragged top */
                sim__carton(w, m, rho * (1 + 0.12 * xsim__gauss(g)), x,
                             w->y_floor_top + r * (H + 1), L, H, Wz);
            }
    }
    sim__set_load(w, "cartons", hs, m, rho, nz * (Wz - 2 * WALL_MM), x_from, x_to,
                  w->y_floor_top + rows * H);
    return (w->cargo_g - before) / 1000;
}

/* ---- pallets ------------------------------------------------------------------------------ */

typedef struct {
    double x0, period, depth, path;
} sim_bottles;

/* Rows of bottles or cans: the path through a layer varies along x. */
static double sim__bottle_rows(void *ctx, double x, double y, double hx, double hy)
{
    const sim_bottles *b = ctx;
    return b->path * (1 - b->depth * (0.5 + 0.5 * cos(2 * M_PI * (x - b->x0) / b->period)));
}

static void sim__pallet(xsim_world *w, const sim_goods *gd, double rho, double x, double y,
                        double h, bool rows)
{
    xsim_rng *g = &w->rng;
    const double L = 1200, Wz = 1000;
    for (int k = 0; k < 2; k++) { /* two pallets side by side across the box */
        xsim__box(w, XM_WOOD, 0.55, true, x, x + L, y + 122, y + 144, 500);
        for (int b = 0; b < 3; b++)
            xsim__box(w, XM_WOOD, 0.55, true, x + b * 550, x + b * 550 + 100, y + 22, y + 122,
                      435);
        xsim__box(w, XM_WOOD, 0.55, true, x, x + L, y, y + 22, 300);
        double ly = y + 144, layer = xsim__range(g, 240, 330);
        for (double top = ly + h; ly < top - 10; ly += layer) {
            double lh = fmin(layer, top - ly) - 4;
            double lr = rho * (1 + 0.06 * xsim__gauss(g));
            if (rows) {
                sim_bottles bt = {x, xsim__range(g, 60, 90), 0.35, Wz - 20};
                xsim__field(w, gd->m, lr, true, x, x + L, ly, ly + lh, sim__bottle_rows, &bt);
            } else {
                xsim__box(w, gd->m, lr, true, x, x + L, ly, ly + lh, Wz - 20);
            }
            xsim__box(w, XM_CARDBOARD, 0.6, true, x, x + L, ly + lh, ly + lh + 4, Wz);
        }
    }
}

static double sim__pallets(xsim_world *w, double x_from, double x_to)
{
    xsim_rng *g = &w->rng;
    double before = w->cargo_g;
    const sim_goods *gd = &pallet_goods[xsim__pick(g, NGOODS(pallet_goods))];
    double rho = xsim__range(g, gd->lo, gd->hi);
    double h = strcmp(gd->hs, "69") == 0 ? xsim__range(g, 550, 900) : xsim__range(g, 900, 1500);
    h = sim__cap_height(w, h, rho, x_to - x_from, 1960);
    bool two_tiers = h < 1050 && rho < 0.75 && xsim__unit(g) < 0.5;
    bool rows = strcmp(gd->hs, "22") == 0 || strcmp(gd->hs, "20") == 0;
    for (double x = x_to - 1200 - xsim__range(g, 0, 60); x >= x_from; x -= 1200 + xsim__range(g, 20, 80)) {
        sim__pallet(w, gd, rho, x, w->y_floor_top, h, rows);
        if (two_tiers)
            sim__pallet(w, gd, rho, x, w->y_floor_top + 144 + h + 8, h, rows);
    }
    sim__set_load(w, "pallets", gd->hs, gd->m, rho, 1960, x_from, x_to,
                  w->y_floor_top + (two_tiers ? 2 : 1) * (h + 144));
    return (w->cargo_g - before) / 1000;
}

/* ---- bulk: bags and flexitanks ----------------------------------------------------------- */

typedef struct {
    double x0, x1, y0, h, width, taper;
} sim_pillow;

/* A flexitank: an elliptic cross-section, tapering at both ends. */
static double sim__pillow(void *ctx, double x, double y, double hx, double hy)
{
    const sim_pillow *p = ctx;
    double u = (y - p->y0 - p->h / 2) / (p->h / 2);
    if (fabs(u) >= 1)
        return 0;
    double e = fmin(x - p->x0, p->x1 - x) / p->taper;
    double along = e >= 1 ? 1 : e <= 0 ? 0 : sqrt(1 - (1 - e) * (1 - e));
    return p->width * sqrt(1 - u * u) * along;
}

static double sim__bulk(xsim_world *w, double x_from, double x_to)
{
    xsim_rng *g = &w->rng;
    double before = w->cargo_g, W = w->spec->int_w;
    if (xsim__unit(g) < 0.35) {
        const sim_goods *gd = &tank_goods[xsim__pick(g, NGOODS(tank_goods))];
        double rho = xsim__range(g, gd->lo, gd->hi);
        sim_pillow p = {x_from + 250, x_to - 30, w->y_floor_top, xsim__range(g, 1000, 1400),
                        W - 100, xsim__range(g, 300, 600)};
        double cap = sim__max_kg(w) / (rho * (p.x1 - p.x0) * p.width * 0.785 / 1e6);
        if (p.h > cap)
            p.h = cap;
        xsim__field(w, gd->m, rho, true, p.x0, p.x1, p.y0, p.y0 + p.h, sim__pillow, &p);
        /* the bulkhead at the doors: plywood boards and steel posts */
        xsim__box(w, XM_WOOD, 0.6, true, x_from + 150, x_from + 168, w->y_floor_top,
                  w->y_floor_top + 1500, W);
        for (int k = 0; k < 3; k++)
            xsim__box(w, XM_STEEL, 7.85, true, x_from + 168, x_from + 218, w->y_floor_top,
                      w->y_floor_top + 1600, 2 * 3.0 + (k == 1 ? 50 : 0));
        sim__set_load(w, "bulk", gd->hs, gd->m, rho, p.width * 0.785, p.x0, p.x1,
                      p.y0 + p.h);
        return (w->cargo_g - before) / 1000;
    }
    const sim_goods *gd = &bag_goods[xsim__pick(g, NGOODS(bag_goods))];
    double rho = xsim__range(g, gd->lo, gd->hi), bl = xsim__range(g, 600, 900);
    double bh = xsim__range(g, 110, 160), bw = xsim__range(g, 420, 520);
    int nz = (int)(W / bw);
    double h = sim__cap_height(w, xsim__range(g, 700, 1600), rho, x_to - x_from, nz * bw);
    int layers = (int)(h / bh);
    for (int l = 0; l < layers; l++) {
        double y = w->y_floor_top + l * bh, shift = (l % 2) * bl / 2;
        for (double x = x_to - bl + shift - bl; x >= x_from - bl / 2; x -= bl) {
            double a = fmax(x, x_from), b = fmin(x + bl, x_to);
            /* bags bulge: thinner at their seams along x */
            xsim__box(w, gd->m, rho, true, a + 15, b - 15, y + 8, y + bh - 8, nz * bw * 0.95);
            xsim__box(w, gd->m, rho, true, a, b, y, y + bh, nz * bw * 0.05);
        }
    }
    sim__set_load(w, "bulk", gd->hs, gd->m, rho, nz * bw * 0.95, x_from, x_to,
                  w->y_floor_top + layers * bh);
    return (w->cargo_g - before) / 1000;
}

/* ---- machinery ---------------------------------------------------------------------------- */

typedef struct {
    double xc, yc, r, path;
} sim_disk;

static double sim__disk(void *ctx, double x, double y, double hx, double hy)
{
    const sim_disk *d = ctx;
    double r = hypot(x - d->xc, y - d->yc);
    return r < d->r ? d->path * sqrt(1 - (r / d->r) * (r / d->r)) * 0.5 + d->path * 0.5 : 0;
}

static void sim__crate(xsim_world *w, double x, double L, double H, double Wz)
{
    xsim_rng *g = &w->rng;
    double y = w->y_floor_top + 100, t = 20;
    /* skids, the crate's plywood, seen face-on and edge-on */
    xsim__box(w, XM_WOOD, 0.6, true, x, x + L, w->y_floor_top, y, 3 * 100);
    xsim__box(w, XM_WOOD, 0.6, true, x, x + L, y, y + H, 2 * t);
    xsim__box(w, XM_WOOD, 0.6, true, x, x + t, y, y + H, Wz);
    xsim__box(w, XM_WOOD, 0.6, true, x + L - t, x + L, y, y + H, Wz);
    xsim__box(w, XM_WOOD, 0.6, true, x, x + L, y + H - t, y + H, Wz);
    /* the machine: a base plate, a frame, a motor, a gearbox, parts */
    xsim__box(w, XM_STEEL, 7.85, true, x + 60, x + L - 60, y + 20, y + 45, Wz * 0.5);
    for (int k = 0; k < 4; k++) {
        double bx = x + 80 + k * (L - 240) / 3;
        xsim__box(w, XM_STEEL, 7.85, true, bx, bx + 80, y + 45, y + H * 0.8, 2 * 6.0);
    }
    sim_disk motor = {x + xsim__range(g, 0.25, 0.75) * L, y + xsim__range(g, 0.25, 0.5) * H,
                      xsim__range(g, 120, 260), xsim__range(g, 60, 160)};
    xsim__field(w, XM_STEEL, 7.85, true, motor.xc - motor.r, motor.xc + motor.r,
                motor.yc - motor.r, motor.yc + motor.r, sim__disk, &motor);
    double gx = x + xsim__range(g, 0.1, 0.5) * L, gs = xsim__range(g, 250, 500);
    xsim__box(w, XM_STEEL, 7.2, true, gx, gx + gs, y + 45, y + 45 + gs * 0.8,
              xsim__range(g, 60, 140));
    for (int k = 0; k < 6; k++) {
        double px = x + xsim__range(g, 0.05, 0.85) * L, py = y + xsim__range(g, 0.05, 0.7) * H;
        xsim__box(w, xsim__unit(g) < 0.5 ? XM_STEEL : XM_ALUMINIUM, 3, true, px,
                  px + xsim__range(g, 60, 250), py, py + xsim__range(g, 40, 200),
                  xsim__range(g, 20, 120));
    }
}

static double sim__machinery(xsim_world *w, double x_from, double x_to)
{
    xsim_rng *g = &w->rng;
    double before = w->cargo_g, x = x_to - 30;
    int n = 0;
    while (n < 5) {
        double L = xsim__range(g, 1000, 2400);
        if (x - L < x_from)
            break;
        double H = xsim__range(g, 800, w->spec->int_h - 300);
        sim__crate(w, x - L, L, H, xsim__range(g, 1000, 2200));
        x -= L + xsim__range(g, 50, 400);
        n++;
    }
    sim__set_load(w, "machinery", "84", XM_STEEL, 0, 0, x, x_to, w->y_floor_top + 2000);
    return (w->cargo_g - before) / 1000;
}

/* ---- vehicles ------------------------------------------------------------------------------ */

typedef struct {
    double x0, len, y0, h_body, h_roof, front, rear;
} sim_car;

/* The body's outline: the lower body, then the cabin between the screens. */
static bool sim__in_car(const sim_car *c, double x, double y)
{
    double u = x - c->x0;
    if (u < 0 || u > c->len || y < c->y0)
        return false;
    if (y <= c->y0 + c->h_body)
        return true;
    double cab0 = c->len * c->front, cab1 = c->len * (1 - c->rear);
    double k = (y - c->y0 - c->h_body) / (c->h_roof - c->h_body);
    return k <= 1 && u >= cab0 + k * 450 && u <= cab1 - k * 250;
}

static double sim__car_skin(void *ctx, double x, double y, double hx, double hy)
{
    /* two outer skins and the door structure behind them */
    return sim__in_car(ctx, x, y) ? 2 * 0.8 + 2 * 1.2 : 0;
}

static void sim__car(xsim_world *w, double x0, double len)
{
    xsim_rng *g = &w->rng;
    sim_car c = {x0, len, w->y_floor_top + 160, xsim__range(g, 650, 800),
                 xsim__range(g, 1350, 1600), 0.28, 0.12};
    double W = xsim__range(g, 1700, 1850);
    xsim__field(w, XM_STEEL, 7.85, true, x0, x0 + len, c.y0, c.y0 + c.h_roof, sim__car_skin, &c);
    xsim__box(w, XM_STEEL, 7.85, true, x0 + 300, x0 + len - 300, c.y0 + 120, c.y0 + 121.2, W);
    xsim__box(w, XM_GLASS, 2.5, true, x0 + len * 0.3, x0 + len * 0.8, c.y0 + c.h_body + 40,
              c.y0 + c.h_roof - 80, 2 * 4);
    bool front_left = xsim__unit(g) < 0.5; /* which end of the car faces the doors */
    double ex = front_left ? x0 + 150 : x0 + len - 150 - 650;
    xsim__box(w, xsim__unit(g) < 0.6 ? XM_STEEL : XM_ALUMINIUM, xsim__range(g, 2.2, 3.2), true, ex,
              ex + 650, c.y0 + 150, c.y0 + 650, xsim__range(g, 350, 550));
    double sx = front_left ? x0 + len * 0.45 : x0 + len * 0.3;
    xsim__box(w, XM_PE, 0.08, true, sx, sx + len * 0.3, c.y0 + 200, c.y0 + 900, 1300);
    for (int a = 0; a < 2; a++) {
        double ax = x0 + (a ? len - 750 : 750);
        sim_disk tyre = {ax, w->y_floor_top + 320, 320, 2 * 200};
        sim_disk rim = {ax, w->y_floor_top + 320, 215, 2 * 2 * 5};
        xsim__field(w, XM_RUBBER, 1.15, true, ax - 320, ax + 320, tyre.yc - 320, tyre.yc + 320,
                    sim__disk, &tyre);
        xsim__field(w, XM_STEEL, 7.85, true, ax - 215, ax + 215, rim.yc - 215, rim.yc + 215,
                    sim__disk, &rim);
    }
}

static double sim__vehicles(xsim_world *w, double x_from, double x_to)
{
    xsim_rng *g = &w->rng;
    double before = w->cargo_g, x = x_to - xsim__range(g, 50, 300);
    for (int n = 0; n < 3; n++) {
        double len = xsim__range(g, 3900, 4700);
        if (x - len < x_from)
            break;
        sim__car(w, x - len, len);
        x -= len + xsim__range(g, 150, 600);
    }
    sim__set_load(w, "vehicles", "87", XM_STEEL, 0, 0, x, x_to, w->y_floor_top + 1600);
    return (w->cargo_g - before) / 1000;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

double xsim__load(xsim_world *w, xsim_load kind, double x_from, double x_to)
{
    xsim_rng *g = &w->rng;
    if (kind == XL_ANY) {
        double u = xsim__unit(g);
        kind = u < 0.4 ? XL_CARTONS : u < 0.65 ? XL_PALLETS : u < 0.8 ? XL_BULK
               : u < 0.9 ? XL_MACHINERY : XL_VEHICLES;
    }
    if (x_to - x_from < 1300)
        kind = XL_CARTONS; /* too short for pallets or cars */
    switch (kind) {
    case XL_PALLETS: return sim__pallets(w, x_from, x_to);
    case XL_BULK: return sim__bulk(w, x_from, x_to);
    case XL_MACHINERY: return sim__machinery(w, x_from, x_to);
    case XL_VEHICLES: return sim__vehicles(w, x_from, x_to);
    default: {
        const sim_goods *gd = &carton_goods[xsim__pick(g, NGOODS(carton_goods))];
        double fill = w->spec->int_h * xsim__range(g, 0.6, 0.95);
        return xsim__cartons(w, gd->hs, gd->m, xsim__range(g, gd->lo, gd->hi), x_from, x_to,
                             fill);
    }
    }
}

/* ---- concealments ------------------------------------------------------------------------ */

/* Contraband and its packaging: what is hidden and how dense it is. */
static void sim__contraband(xsim_rng *g, bool metal_ok, xsim_mat *m, double *rho,
                            const char **what, const char **kind)
{
    double u = xsim__unit(g);
    if (metal_ok && u < 0.2) {
        *m = XM_STEEL; /* weapons, ammunition: steel with voids */
        *rho = 7.85 * xsim__range(g, 0.15, 0.35);
        *what = "weapons";
        *kind = "dense_object";
    } else if (u < 0.6) {
        *m = XM_COCAINE;
        *rho = xsim__range(g, 0.95, 1.2);
        *what = "cocaine";
        *kind = "organic_mass";
    } else {
        *m = XM_CELLULOSE; /* compressed cannabis */
        *rho = xsim__range(g, 0.35, 0.7);
        *what = "cannabis";
        *kind = "organic_mass";
    }
}

static void sim__empty_block(xsim_world *w, double s)
{
    xsim_rng *g = &w->rng;
    if (s <= 0)
        s = xsim__unit(g) < 0.7 ? 300 : xsim__range(g, 200, 500);
    xsim_mat m;
    double rho;
    const char *what, *kind;
    sim__contraband(g, true, &m, &rho, &what, &kind);
    double x0, y0 = w->y_floor_top, u = xsim__unit(g);
    if (u < 0.1)
        x0 = w->x_front_inner - s - 5; /* against the front wall */
    else if (u < 0.2)
        x0 = w->x_door_inner + 5; /* just behind the doors */
    else
        x0 = xsim__range(g, w->x_door_inner + 100, w->x_front_inner - s - 100);
    if (u >= 0.9) /* strapped up high */
        y0 = xsim__range(g, w->y_floor_top + 1000, w->y_roof_inner - s - 20);
    double before = w->cargo_g;
    xsim__box(w, m, rho, true, x0, x0 + s, y0, y0 + s, s);
    double kg = (w->cargo_g - before) / 1000;
    w->concealed_g += kg * 1000;
    xsim__conceal(w, strcmp(kind, "dense_object") == 0 && rho > 1.6 ? "dense_object"
                                                                     : "organic_mass",
                  what, x0, x0 + s, y0, y0 + s, kg);
}

/* A block inside the load, displacing the goods it replaces. */
static void sim__dense_block(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    xsim_load lk = xsim__unit(g) < 0.6 ? XL_CARTONS : xsim__unit(g) < 0.6 ? XL_PALLETS : XL_BULK;
    xsim__load(w, lk, w->x_door_inner + xsim__range(g, 0, 900), w->x_front_inner);
    double sx = xsim__range(g, 250, 600), sy = xsim__range(g, 250, 550);
    double path = fmin(xsim__range(g, 300, 900), w->load_path);
    double top = fmin(w->load_top, w->y_roof_inner) - sy - 30;
    if (top < w->y_floor_top + 200)
        top = w->y_floor_top + 200;
    double x0 = xsim__range(g, w->load_x0 + 100, fmax(w->load_x0 + 150, w->load_x1 - sx - 100));
    double y0 = xsim__range(g, w->y_floor_top + 150, top);
    xsim_mat m;
    double rho;
    const char *what, *kind;
    sim__contraband(g, true, &m, &rho, &what, &kind);
    if (m == XM_CELLULOSE) { /* cannabis is no denser than many loads: send cocaine */
        m = XM_COCAINE;
        rho = xsim__range(g, 0.95, 1.2);
        what = "cocaine";
    }
    if (rho < 2 * w->load_rho) { /* a "dense" block must be denser than its load */
        m = XM_STEEL;
        rho = 7.85 * xsim__range(g, 0.3, 0.5);
        what = "weapons";
    }
    double before = w->cargo_g;
    if (w->load_rho > 0)
        xsim__box(w, w->load_mat, -w->load_rho, true, x0, x0 + sx, y0, y0 + sy, path);
    double displaced = w->cargo_g - before;
    before = w->cargo_g;
    xsim__box(w, m, rho, true, x0, x0 + sx, y0, y0 + sy, path);
    double kg = (w->cargo_g - before) / 1000;
    w->concealed_g += kg * 1000 + displaced; /* the declared goods it replaced are missing */
    xsim__conceal(w, "dense_object", what, x0, x0 + sx, y0, y0 + sy, kg);
}

static void sim__false_wall(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    double d = xsim__range(g, 400, 1500), W = w->spec->int_w;
    bool steel = xsim__unit(g) < 0.4;
    double t = steel ? xsim__range(g, 2, 3) : xsim__range(g, 18, 25);
    double xw = w->x_front_inner - d - t, before = w->cargo_g;
    xsim__box(w, steel ? XM_STEEL : XM_WOOD, steel ? 7.85 : xsim__range(g, 0.55, 0.7), true, xw,
              xw + t, w->y_floor_top, w->y_roof_inner, W);
    /* its frame: steel angles around the edge, seen edge-on top and bottom */
    xsim__box(w, XM_STEEL, 7.85, true, xw - 40, xw, w->y_floor_top, w->y_floor_top + 4, W);
    xsim__box(w, XM_STEEL, 7.85, true, xw - 40, xw, w->y_roof_inner - 4, w->y_roof_inner, W);
    const char *what = "empty compartment";
    if (xsim__unit(g) < 0.7) {
        xsim_mat m;
        double rho;
        const char *kind;
        sim__contraband(g, false, &m, &rho, &what, &kind);
        double h = w->spec->int_h * xsim__range(g, 0.4, 0.95);
        xsim__box(w, m, rho * 0.8, true, xw + t + 10, w->x_front_inner - 10, w->y_floor_top,
                  w->y_floor_top + h, W * xsim__range(g, 0.6, 1.0));
    }
    double kg = (w->cargo_g - before) / 1000;
    w->concealed_g += kg * 1000;
    xsim__conceal(w, "false_wall", what, xw, w->x_front_inner, w->y_floor_top, w->y_roof_inner,
                  kg);
    xsim__load(w, XL_ANY, w->x_door_inner + xsim__range(g, 0, 900), xw - 40);
}

static void sim__floor_drugs(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    double run = xsim__range(g, 600, 2500);
    double x0 = xsim__range(g, w->x_door_inner + 300, w->x_front_inner - run - 300);
    double y0 = w->y_cm_bottom + 5, y1 = w->y_plank_bottom - 1, before = w->cargo_g;
    xsim__box(w, XM_COCAINE, xsim__range(g, 0.75, 1.0), true, x0, x0 + run, y0, y1,
              xsim__range(g, 400, 2000));
    double kg = (w->cargo_g - before) / 1000;
    w->concealed_g += kg * 1000;
    xsim__conceal(w, "organic_mass", "cocaine in the floor", x0, x0 + run, y0, y1, kg);
    if (xsim__unit(g) < 0.5)
        xsim__load(w, XL_ANY, w->x_door_inner + xsim__range(g, 0, 900), w->x_front_inner);
}

static void sim__cigarettes(xsim_world *w)
{
    xsim_rng *g = &w->rng;
    double lc = xsim__range(g, 1000, w->spec->ext_l > 9000 ? 4000 : 2500);
    double x0 = w->x_front_inner - lc, before = w->cargo_g;
    xsim__cartons(w, "24", XM_CELLULOSE, xsim__range(g, 0.18, 0.26), x0, w->x_front_inner,
                  w->spec->int_h * xsim__range(g, 0.7, 0.95));
    double kg = (w->cargo_g - before) / 1000;
    w->concealed_g += kg * 1000;
    double top = w->load_top;
    xsim__conceal(w, "anomaly", "cigarettes", x0, w->x_front_inner, w->y_floor_top, top, kg);
    xsim__load(w, xsim__unit(g) < 0.5 ? XL_PALLETS : XL_CARTONS,
               w->x_door_inner + xsim__range(g, 0, 600), x0 - xsim__range(g, 20, 150));
}

cx_err xsim__conceal_scene(xsim_world *w, xsim_kind k, double block_mm)
{
    switch (k) {
    case XSIM_EMPTY_BLOCK: sim__empty_block(w, block_mm); return CX_OK;
    case XSIM_DENSE_BLOCK: sim__dense_block(w); return CX_OK;
    case XSIM_FALSE_WALL: sim__false_wall(w); return CX_OK;
    case XSIM_FLOOR_DRUGS: sim__floor_drugs(w); return CX_OK;
    case XSIM_CIGARETTES: sim__cigarettes(w); return CX_OK;
    default: return CX_EINVAL;
    }
}
