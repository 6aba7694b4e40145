/* Internal to the shapes (geo.c: projections, zones, GeoJSON; corridor.c:
 * corridors). */
#ifndef CUSTOMS_TRACK_GEO_INT_H
#define CUSTOMS_TRACK_GEO_INT_H

#include "track_int.h"

#include <stdatomic.h>

#define GEO_CHUNK_M 50000.0   /* route chunk length for the local projections */
#define GEO_SEG_M 5000.0      /* route segments are split to at most this */
#define GEO_DENSIFY_M 500.0   /* buffer boundary vertex spacing before unprojecting */
#define GEO_MAX_POSITIONS 200000
/* A corridor's cost is linear in its route's length (a 50 km chunk each,
 * its buffer densified every 500 m: about 4 vertices and 160 bytes of
 * GeoJSON a km): a route of 10,000 km takes about 0.15 s of CPU and 1.6 MB
 * of GeoJSON, one half round the equator took 0.33 s and 3.1 MB (and five
 * times that under ASan). Routes are refused beyond this length. */
#define GEO_MAX_ROUTE_M 10000000.0
/* And in its positions: a route that turns at every position costs in its
 * joins (5,000 positions zigzagging every 190 m: 0.22 s, 1.2 MB; 50,000 took
 * 2.4 s and 11.7 MB). The demo routes have at most 68. */
#define GEO_MAX_ROUTE_POSITIONS 5000
#define GEO_MAX_PROBLEMS 50

#define WGS84_A 6378137.0
#define WGS84_F (1.0 / 298.257223563)
#define DEG (M_PI / 180.0)

typedef struct {
    double lat0, lon0; /* radians */
    double sin0, cos0;
    double R;          /* prime-vertical radius of curvature at lat0 */
    double kmn;        /* M0/N0: latitude rescaling */
} geo_proj;

struct track_shape {
    _Atomic int refs;
    GEOSGeometry *geom;               /* MultiPolygon, longitudes in [-180, 180] */
    const GEOSPreparedGeometry *prep;
    GEOSGeometry *route;              /* corridors: the route, unwrapped longitudes */
    size_t nparts;
    track_env *parts;                 /* envelope of each polygon, for the STRtree */
};

/* The last message GEOS gave this thread. */
const char *track__geo_errmsg(void);
void track__geo_fwd(const geo_proj *p, double lon_deg, double lat_deg, double *x, double *y);
int track__geo_fwd_cb(double *x, double *y, void *ud);
int track__geo_inv_cb(double *x, double *y, void *ud);
GEOSGeometry *track__geo_normalize(GEOSContextHandle_t h, GEOSGeometry *g);
bool track__geo_position(const json_t *p, const char *ptr, json_t *problems, double *lon, double *lat);
void track__geo_proj_init(geo_proj *p, double lat_deg, double lon_deg);
track_shape *track__geo_shape(GEOSContextHandle_t h, GEOSGeometry *g, GEOSGeometry *route);
const char *track__geo_type(const json_t *g, const char *ptr, json_t *problems);

#endif
