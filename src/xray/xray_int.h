/*
 * xray_int.h — helpers shared inside the xray module (not a door: other
 * modules use xray.h). dicos.cc includes this header from C++.
 */
#ifndef CUSTOMS_XRAY_INT_H
#define CUSTOMS_XRAY_INT_H

#ifdef __cplusplus
extern "C" {
#endif

#include "xray.h"

/* Format readers: data is the whole file; *out freed with xray_image_free. */
cx_err xray__png_read(const uint8_t *data, size_t len, xray_image **out, char *err,
                      size_t errlen);
cx_err xray__tiff_read(const uint8_t *data, size_t len, xray_image **out, char *err,
                       size_t errlen);
/* meta (may be NULL) receives the sidecar members found in the file. */
cx_err xray__dicos_read(const uint8_t *data, size_t len, xray_image **out, json_t **meta,
                        char *err, size_t errlen);
cx_err xray__dicos_save(const xray_image *im, const xray_meta *m, const char *path, char *err,
                        size_t errlen);

/* ---- the analysis' working state (canonical view: doors at x = 0, the
 * floor at the bottom; rows go down as in the image) ----------------------- */
typedef struct {
    int w, h;
    bool mirrored;      /* the image had its doors on the right */
    double px_x, px_y;  /* mm per pixel */
    double cell_cm2;    /* one pixel's area at the container, cm² */
    float *a;           /* areal density, g/cm², w × h */
    float a_floor;      /* the density read at the detector's floor (opaque) */
    double noise;       /* pixel noise of a at the walls' level, g/cm² */
    /* geometry, canonical pixels */
    bool found;
    xray_ctype type;
    int x0, x1;         /* the container's outer ends, [x0, x1) */
    int top;            /* its top row */
    int roof;           /* first row under the roof: the interior is rows [roof, floor) */
    int floor;          /* first row of the floor (its top surface) */
    int cavity0, cavity1; /* rows under the floor boards, between the cross-members */
    int di, fi;         /* interior columns [di, fi): inner faces of doors and front wall */
    /* the empty container's own signature inside, and what is left */
    float *wallc;       /* per column (w) */
    float *rowc;        /* per row (h) */
    float *res;         /* a - wallc - rowc inside the interior, 0 elsewhere (w × h) */
    double wall;        /* the side walls' typical areal density */
    bool wall_measured; /* false: no clear column; the walls' level is assumed */
} xa_scan;

/* Quantile q in [0, 1] of v[0..n) (reorders v); NAN for n = 0. */
float xa__quantile(float *v, size_t n, double q);
double xa__median_d(double *v, size_t n);
/* Finds the container, its floor, roof and inner faces (geometry.c). */
void xa__geometry(xa_scan *s, const xray_meta *m);
/* The walls' model and the residual (model.c). */
cx_err xa__model(xa_scan *s);
/* Box sums over an integral image of v (w × h): sum over [x0,x1)×[y0,y1). */
typedef struct {
    int w, h;
    double *s; /* (w + 1) × (h + 1) */
} xa_integral;
cx_err xa__integral(xa_integral *ii, const float *v, int w, int h);
double xa__box(const xa_integral *ii, int x0, int y0, int x1, int y1);
void xa__integral_free(xa_integral *ii);

/* A candidate region, canonical pixels [x0,x1) × [y0,y1). */
typedef struct {
    int x0, y0, x1, y1;
    xray_kind kind;
    double score;
    double mass_kg;   /* excess over what surrounds it */
    double contrast;  /* mean excess (g/cm²), or relative to the load around it */
    double snr;       /* against the noise, or against the load's texture */
    double hetero;    /* in a load: its texture relative to its level (0 = uniform) */
    double aspect;    /* long side over short side, in millimetres (set when scored) */
    char source;      /* the detector: 'o' objects, 'f' floor, 'w' walls, 's' segments */
} xa_cand;
typedef struct {
    xa_cand *v;
    size_t n, cap;
} xa_cands;
void xa__cand_add(xa_cands *c, const xa_cand *x);

/* The stowed density range of an HS chapter's goods (density.c). */
bool xray__density_range(const char *chapter, double *lo, double *hi);

/* Detectors (regions.c, walls.c): each appends candidates. */
void xa__objects(const xa_scan *s, bool loaded, xa_cands *out);
void xa__floor(const xa_scan *s, xa_cands *out);
void xa__false_walls(const xa_scan *s, xa_cands *out);
void xa__segments(const xa_scan *s, xa_cands *out);

#ifdef __cplusplus
}
#endif

#endif
