/* One scan's analysis: calibrate (Beer–Lambert), find the container, model
 * its own steel, then the regions, the observed mass, the empty check and
 * the findings against what was declared. */
#include "xray_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGIONS 20
#define MIN_SCORE 0.05        /* regions below this are not reported */
#define DEFAULT_TOLERANCE 0.25

static double logistic(double z)
{
    return 1 / (1 + exp(-z));
}

/* ---- scores ------------------------------------------------------------------------
 * Each detector's evidence mapped to the probability that the region holds
 * something undeclared. The constants come from simulated validation runs
 * (bench/xray) and are expressed in physical units, not in pixels. */
static double score__candidate(const xa_cand *c, bool loaded)
{
    switch (c->kind) {
    case XRAY_FALSE_WALL: return logistic((c->snr - 10) / 2.5);
    case XRAY_ANOMALY: return logistic(10 * (c->contrast - 0.3)) * logistic((c->snr - 6) / 2);
    default: break;
    }
    if (!loaded || c->source == 'f') /* an empty container, or the floor: kg of excess */
        return logistic(3 * log10(fmax(c->mass_kg, 1e-3) / 1.0)) * logistic((c->snr - 6) / 2);
    /* inside a load: against the load's own texture, a minimum relative
     * excess, only in loads uniform enough for an excess to mean something
     * (machinery and vehicles have dense parts by nature), and compact
     * (long thin excesses are the packaging seen edge-on) */
    return logistic((c->snr - 5) / 1.2) * logistic(15 * (c->contrast - 0.12)) *
           logistic((0.35 - c->hetero) / 0.08) * logistic((3.0 - c->aspect) / 0.5);
}

/* ---- from canonical pixels to what is reported ------------------------------------ */

static void analyze__region(const xa_scan *s, const xa_cand *c, xray_region *r)
{
    int x0 = c->x0, x1 = c->x1;
    r->x = s->mirrored ? s->w - x1 : x0;
    r->w = x1 - x0;
    r->y = c->y0;
    r->h = c->y1 - c->y0;
    r->score = c->score;
    r->kind = c->kind;
    r->from_door_m = fmax(0, (x0 - s->di) * s->px_x / 1000);
    r->height_m = (s->floor - c->y1) * s->px_y / 1000;
    r->length_m = (x1 - x0) * s->px_x / 1000;
    r->height_extent_m = (c->y1 - c->y0) * s->px_y / 1000;
    r->mass_kg = c->mass_kg;
}

static int analyze__by_score(const void *a, const void *b)
{
    double x = ((const xa_cand *)a)->score, y = ((const xa_cand *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Overlapping candidates report once: the higher score stays. */
static bool analyze__overlaps(const xa_cand *a, const xa_cand *b)
{
    int ix = (a->x1 < b->x1 ? a->x1 : b->x1) - (a->x0 > b->x0 ? a->x0 : b->x0);
    int iy = (a->y1 < b->y1 ? a->y1 : b->y1) - (a->y0 > b->y0 ? a->y0 : b->y0);
    if (ix <= 0 || iy <= 0)
        return false;
    double inter = (double)ix * iy;
    double aa = (double)(a->x1 - a->x0) * (a->y1 - a->y0), ab = (double)(b->x1 - b->x0) * (b->y1 - b->y0);
    return inter >= 0.5 * (aa < ab ? aa : ab);
}

/* ---- findings ------------------------------------------------------------------------- */

static void analyze__finding(xray_result *r, const char *rule, xray_severity sev,
                             const char *fmt, ...) CX_PRINTF(4, 5);

static void analyze__finding(xray_result *r, const char *rule, xray_severity sev,
                             const char *fmt, ...)
{
    xray_finding *f = realloc(r->findings, (r->nfindings + 1) * sizeof *f);
    if (!f)
        return;
    r->findings = f;
    f = &f[r->nfindings++];
    memset(f, 0, sizeof *f);
    snprintf(f->rule, sizeof f->rule, "%s", rule);
    f->severity = sev;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

static const char *analyze__kind_words(xray_kind k)
{
    switch (k) {
    case XRAY_DENSE_OBJECT: return "dense object";
    case XRAY_ORGANIC_MASS: return "organic mass";
    case XRAY_FALSE_WALL: return "possible false wall";
    default: return "load that does not match the rest";
    }
}

/* A load far denser than any of its declared chapters' goods can stow
 * (the estimate assumes the load fills the width, so lighter proves
 * nothing). */
static void analyze__density(xray_result *r, const xray_declared *d, double cargo_area)
{
    if (!d->nchapters || isnan(r->load_density) || cargo_area < 0.05)
        return;
    double lo_all = 1e9, hi_all = 0;
    for (size_t i = 0; i < d->nchapters; i++) {
        double lo, hi;
        if (!xray__density_range(d->hs_chapters[i], &lo, &hi))
            return; /* a chapter without a range: no judgement */
        lo_all = fmin(lo_all, lo);
        hi_all = fmax(hi_all, hi);
    }
    if (r->load_density > 1.5 * hi_all)
        analyze__finding(r, "density_mismatch", XRAY_SEV_WARNING,
                         "the load is about %.2f g/cm³; the declared goods (HS %s%s) stow at "
                         "%.2f to %.2f g/cm³",
                         r->load_density, d->hs_chapters[0], d->nchapters > 1 ? " and others" : "",
                         lo_all, hi_all);
}

static void analyze__findings(const xa_scan *s, xray_result *r, const xray_declared *d,
                              double cargo_area)
{
    if (d->empty == 1 && !r->empty)
        analyze__finding(r, "empty_check_failed", XRAY_SEV_CRITICAL,
                         "declared empty, but the scan shows %.0f kg inside (empty score %.2f)",
                         fmax(r->observed_mass_kg, 0), r->empty_score);
    bool goods = d->empty == 0 || (!isnan(d->mass_kg) && d->mass_kg > 0);
    if (goods && r->empty)
        analyze__finding(r, "goods_missing", XRAY_SEV_CRITICAL,
                         "goods are declared but the container looks empty (empty score %.2f)",
                         r->empty_score);
    if (!isnan(r->mass_ratio)) {
        double tol = d->mass_tolerance > 0 ? d->mass_tolerance : DEFAULT_TOLERANCE;
        if (fabs(r->mass_ratio - 1) > tol)
            analyze__finding(r, "mass_mismatch", XRAY_SEV_CRITICAL,
                             "the scan shows %.0f kg of cargo where %.0f kg are declared "
                             "(ratio %.2f, tolerance ±%.0f %%)",
                             r->observed_mass_kg, r->declared_mass_kg, r->mass_ratio, tol * 100);
    }
    for (size_t i = 0; i < r->nregions; i++) {
        const xray_region *g = &r->regions[i];
        if (g->score < XRAY_FINDING_SCORE)
            continue;
        char where[64];
        if (g->height_m < 0)
            snprintf(where, sizeof where, "in the floor");
        else
            snprintf(where, sizeof where, "%.1f m above the floor", g->height_m);
        analyze__finding(r, xray_kind_name(g->kind),
                         g->score >= 0.7 ? XRAY_SEV_CRITICAL : XRAY_SEV_WARNING,
                         "region %zu: %s %.1f m from the doors, %s, %.1f m long "
                         "(score %.2f)",
                         i + 1, analyze__kind_words(g->kind), g->from_door_m, where, g->length_m,
                         g->score);
    }
    analyze__density(r, d, cargo_area);
    if (r->opaque_fraction > 0.02)
        analyze__finding(r, "image_saturated", XRAY_SEV_INFO,
                         "%.0f %% of the container is opaque to the scanner: the observed mass "
                         "is a lower bound",
                         r->opaque_fraction * 100);
    const xray_container_spec *spec = xray_container(s->type);
    double len = (s->x1 - s->x0) * s->px_x;
    if (spec && fabs(len - spec->ext_l) > 0.05 * spec->ext_l)
        analyze__finding(r, "container_size", XRAY_SEV_INFO,
                         "the container measures %.2f m, not the %.2f m of a %s box: check the "
                         "pixel size",
                         len / 1000, spec->ext_l / 1000, spec->name);
}

/* ---- the analysis ---------------------------------------------------------------------- */

static cx_err analyze__calibrate(xa_scan *s, const xray_image *im, const xray_meta *m)
{
    float *lut = malloc(sizeof(float) * 65536);
    s->a = malloc(sizeof(float) * (size_t)im->w * im->h);
    if (!lut || !s->a) {
        free(lut);
        return CX_ENOMEM;
    }
    for (uint32_t v = 0; v < 65536; v++)
        lut[v] = (float)xray_areal_density(v, m->open_beam, m->mu);
    s->a_floor = lut[0];
    for (uint32_t y = 0; y < im->h; y++) {
        const uint16_t *src = im->px + (size_t)y * im->w;
        float *dst = s->a + (size_t)y * im->w;
        if (s->mirrored)
            for (uint32_t x = 0; x < im->w; x++)
                dst[im->w - 1 - x] = lut[src[x]];
        else
            for (uint32_t x = 0; x < im->w; x++)
                dst[x] = lut[src[x]];
    }
    free(lut);
    return CX_OK;
}

/* Cargo mass inside (the residual over the interior) and how much of the
 * interior is opaque or holds something. */
static void analyze__mass(const xa_scan *s, xray_result *r, double *cargo_area)
{
    double sum = 0, in_cargo = 0, thr = fmax(5 * s->noise, 1.5);
    size_t opaque = 0, cargo = 0, n = 0;
    for (int y = s->roof; y < s->floor; y++)
        for (int x = s->di; x < s->fi; x++) {
            size_t i = (size_t)y * s->w + x;
            sum += s->res[i];
            opaque += s->a[i] >= s->a_floor - 0.01f;
            if (s->res[i] > thr) {
                cargo++;
                in_cargo += s->res[i];
            }
            n++;
        }
    r->observed_mass_kg = sum * s->cell_cm2 / 1000;
    /* as if the load filled the width: a lower bound otherwise */
    const xray_container_spec *spec = xray_container(s->type);
    if (cargo)
        r->load_density = in_cargo / (double)cargo / ((spec ? spec->int_w : 2352) / 10);
    r->opaque_fraction = n ? (double)opaque / n : 0;
    *cargo_area = n ? (double)cargo / n : 0;
}

static void analyze__regions(const xa_scan *s, xray_result *r, xa_cands *c, bool loaded)
{
    size_t strong = 0;
    for (size_t i = 0; i < c->n; i++) {
        double wmm = (c->v[i].x1 - c->v[i].x0) * s->px_x, hmm = (c->v[i].y1 - c->v[i].y0) * s->px_y;
        c->v[i].aspect = fmax(wmm, hmm) / fmax(fmin(wmm, hmm), 1);
        c->v[i].score = score__candidate(&c->v[i], loaded);
        strong += loaded && c->v[i].kind == XRAY_DENSE_OBJECT && c->v[i].score >= 0.5;
    }
    /* many dense parts in one load are its nature (machines, vehicles),
     * not one thing hidden in it */
    if (strong >= 3)
        for (size_t i = 0; i < c->n; i++)
            if (c->v[i].kind == XRAY_DENSE_OBJECT && c->v[i].source == 'o')
                c->v[i].score *= 2.0 / (double)strong;
    if (c->n)
        qsort(c->v, c->n, sizeof *c->v, analyze__by_score);
    r->regions = calloc(MAX_REGIONS, sizeof *r->regions);
    if (!r->regions)
        return;
    for (size_t i = 0; i < c->n && r->nregions < MAX_REGIONS; i++) {
        if (c->v[i].score < MIN_SCORE)
            break;
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = c->v[j].score >= MIN_SCORE && analyze__overlaps(&c->v[i], &c->v[j]);
        if (!dup)
            analyze__region(s, &c->v[i], &r->regions[r->nregions++]);
    }
}

cx_err xray_analyze(const xray_image *im, const xray_meta *m, const xray_declared *d,
                    xray_result **out)
{
    *out = NULL;
    if (!im || !m || !(m->open_beam > 1) || !(m->mu > 0) || !(m->pixel_mm_x > 0) ||
        !(m->pixel_mm_y > 0))
        return CX_EINVAL;
    xray_declared none = {.empty = m->declared_empty, .mass_kg = m->declared_mass_kg};
    if (!d)
        d = &none;
    xray_result *r = calloc(1, sizeof *r);
    if (!r)
        return CX_ENOMEM;
    snprintf(r->scan_id, sizeof r->scan_id, "%s", m->scan_id);
    r->declared_mass_kg = d->mass_kg;
    r->mass_ratio = NAN;
    r->load_density = NAN;
    xa_scan s = {.w = (int)im->w, .h = (int)im->h, .mirrored = m->door_right,
                 .px_x = m->pixel_mm_x, .px_y = m->pixel_mm_y,
                 .cell_cm2 = m->pixel_mm_x * m->pixel_mm_y / 100};
    xa_cands c = {0};
    cx_err e = analyze__calibrate(&s, im, m);
    if (e == CX_OK)
        xa__geometry(&s, m);
    if (e == CX_OK && !s.found) {
        r->observed_mass_kg = NAN;
        r->empty_score = 0.5;
        analyze__finding(r, "container_not_found", XRAY_SEV_WARNING,
                         "no container could be located in the scan: check the image and the "
                         "sidecar's pixel size and open beam");
        goto done;
    }
    if (e == CX_OK)
        e = xa__model(&s);
    if (e != CX_OK)
        goto done;
    double cargo_area;
    analyze__mass(&s, r, &cargo_area);
    bool loaded = r->observed_mass_kg > 250 || cargo_area > 0.04;
    xa__objects(&s, loaded, &c);
    xa__floor(&s, &c);
    xa__false_walls(&s, &c);
    if (loaded)
        xa__segments(&s, &c);
    for (size_t i = 0; i < c.n; i++)
        if (c.v[i].source == 'f') /* under the floor: not in the interior's sum */
            r->observed_mass_kg += c.v[i].mass_kg;
    analyze__regions(&s, r, &c, loaded);
    double p = loaded ? logistic((r->observed_mass_kg - 100) / 25) : 0;
    for (size_t i = 0; i < c.n; i++)
        p = fmax(p, c.v[i].score);
    r->empty_score = 1 - p;
    r->empty = r->empty_score >= 0.5;
    if (!isnan(d->mass_kg) && d->mass_kg > 0)
        r->mass_ratio = r->observed_mass_kg / d->mass_kg;
    r->noise = s.noise;
    analyze__findings(&s, r, d, cargo_area);
done:
    /* the geometry in the image's own columns */
    r->geo = (xray_geometry){s.type, s.x0, s.x1, s.di, s.fi, s.roof, s.floor, s.top, s.found};
    if (s.mirrored)
        r->geo = (xray_geometry){s.type, s.w - s.x1, s.w - s.x0, s.w - s.di, s.w - s.fi,
                                 s.roof, s.floor, s.top, s.found};
    free(c.v);
    free(s.a);
    free(s.wallc);
    free(s.rowc);
    free(s.res);
    if (e != CX_OK) {
        xray_result_free(r);
        return e;
    }
    *out = r;
    return CX_OK;
}
