/* Corridors: every point within half the width of a route, buffered per
 * chunk of at most 50 km in a local projection (geo.c has why), unioned and
 * cut at the antimeridian; and the distance from a point to the route. */
#include "geo_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- corridors ------------------------------------------------------------------------ */

typedef struct {
    double *xy;
    size_t n, cap;
} geo_pts;

static bool pts__push(geo_pts *p, double x, double y)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 256;
        double *nx = realloc(p->xy, nc * 2 * sizeof *nx);
        if (!nx)
            return false;
        p->xy = nx;
        p->cap = nc;
    }
    p->xy[2 * p->n] = x;
    p->xy[2 * p->n + 1] = y;
    p->n++;
    return true;
}

/* Buffers route[s..e] (lon, lat; unwrapped) in its own local projection and
 * returns the polygon in lon/lat. */
static GEOSGeometry *geo__chunk_buffer(GEOSContextHandle_t h, const double *xy, size_t s,
                                       size_t e, double half)
{
    double lo = xy[2 * s], hi = lo, la = xy[2 * s + 1], ha = la;
    for (size_t i = s; i <= e; i++) {
        lo = fmin(lo, xy[2 * i]);
        hi = fmax(hi, xy[2 * i]);
        la = fmin(la, xy[2 * i + 1]);
        ha = fmax(ha, xy[2 * i + 1]);
    }
    geo_proj p;
    track__geo_proj_init(&p, (la + ha) / 2, (lo + hi) / 2);
    GEOSCoordSequence *cs = GEOSCoordSeq_create_r(h, (unsigned)(e - s + 1), 2);
    if (!cs)
        return NULL;
    for (size_t i = s; i <= e; i++) {
        double x, y;
        track__geo_fwd(&p, xy[2 * i], xy[2 * i + 1], &x, &y);
        GEOSCoordSeq_setXY_r(h, cs, (unsigned)(i - s), x, y);
    }
    GEOSGeometry *line = GEOSGeom_createLineString_r(h, cs);
    if (!line)
        return NULL;
    GEOSGeometry *buf = GEOSBuffer_r(h, line, half, 16);
    GEOSGeom_destroy_r(h, line);
    if (!buf)
        return NULL;
    GEOSGeometry *dense = GEOSDensify_r(h, buf, GEO_DENSIFY_M);
    GEOSGeom_destroy_r(h, buf);
    if (!dense)
        return NULL;
    GEOSGeometry *ll = GEOSGeom_transformXY_r(h, dense, track__geo_inv_cb, &p);
    GEOSGeom_destroy_r(h, dense);
    return ll;
}

/* Validates a LineString and returns its positions (unwrapped); bounded:
 * refuses a route longer than GEO_MAX_ROUTE_M or GEO_MAX_ROUTE_POSITIONS. */
static double *geo__route_points(const json_t *route, const char *ptr, json_t *problems,
                                 bool bounded, size_t *n)
{
    const char *type = track__geo_type(route, ptr, problems);
    if (!type)
        return NULL;
    char sub[160];
    if (strcmp(type, "LineString") != 0) {
        snprintf(sub, sizeof sub, "%s/type", ptr);
        track__problem(problems, sub, "must be LineString");
        return NULL;
    }
    const json_t *coords = json_object_get(route, "coordinates");
    snprintf(sub, sizeof sub, "%s/coordinates", ptr);
    if (!json_is_array(coords) || json_array_size(coords) < 2) {
        track__problem(problems, sub, "a LineString needs at least 2 positions");
        return NULL;
    }
    size_t cnt = json_array_size(coords);
    size_t most = bounded ? GEO_MAX_ROUTE_POSITIONS : GEO_MAX_POSITIONS;
    if (cnt > most) {
        track__problem(problems, sub, "more than %zu positions", most);
        return NULL;
    }
    double *xy = malloc(cnt * 2 * sizeof *xy);
    if (!xy)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        char pp[176];
        snprintf(pp, sizeof pp, "%s/%zu", sub, i);
        double lon, lat;
        if (!track__geo_position(json_array_get(coords, i), pp, problems, &lon, &lat)) {
            free(xy);
            return NULL;
        }
        if (k) {
            while (lon - xy[2 * (k - 1)] > 180)
                lon -= 360;
            while (lon - xy[2 * (k - 1)] < -180)
                lon += 360;
            if (lon == xy[2 * (k - 1)] && lat == xy[2 * (k - 1) + 1])
                continue; /* repeated position */
        }
        xy[2 * k] = lon;
        xy[2 * k + 1] = lat;
        k++;
    }
    if (k < 2) {
        track__problem(problems, sub, "a LineString needs at least 2 distinct positions");
        free(xy);
        return NULL;
    }
    double len = 0;
    for (size_t i = 1; bounded && i < k; i++)
        len += track_distance_m(xy[2 * i - 1], xy[2 * i - 2], xy[2 * i + 1], xy[2 * i]);
    if (bounded && !(len <= GEO_MAX_ROUTE_M)) {
        track__problem(problems, sub, "the route is %.0f km long; at most %.0f km",
                       len / 1000, GEO_MAX_ROUTE_M / 1000);
        free(xy);
        return NULL;
    }
    *n = k;
    return xy;
}

static GEOSGeometry *geo__route_line(GEOSContextHandle_t h, const double *xy, size_t n)
{
    GEOSCoordSequence *cs = GEOSCoordSeq_create_r(h, (unsigned)n, 2);
    for (size_t i = 0; cs && i < n; i++)
        GEOSCoordSeq_setXY_r(h, cs, (unsigned)i, xy[2 * i], xy[2 * i + 1]);
    return cs ? GEOSGeom_createLineString_r(h, cs) : NULL;
}

track_shape *track_shape_corridor(const json_t *route, double width_m, const char *ptr,
                                  json_t *problems)
{
    size_t n = 0;
    double *xy = geo__route_points(route, ptr, problems, true, &n);
    if (!xy)
        return NULL;
    GEOSContextHandle_t h = track__geos();
    /* Split long segments (straight in lon/lat, as RFC 7946 draws them) so
     * every chunk can be cut at a vertex. */
    geo_pts pts = {0};
    bool ok = pts__push(&pts, xy[0], xy[1]);
    for (size_t i = 1; ok && i < n; i++) {
        double d = track_distance_m(xy[2 * (i - 1) + 1], xy[2 * (i - 1)], xy[2 * i + 1],
                                    xy[2 * i]);
        int steps = (int)ceil(d / GEO_SEG_M);
        if (steps < 1)
            steps = 1;
        for (int s = 1; ok && s <= steps; s++) {
            double t = (double)s / steps;
            ok = pts__push(&pts, xy[2 * (i - 1)] + t * (xy[2 * i] - xy[2 * (i - 1)]),
                           xy[2 * (i - 1) + 1] + t * (xy[2 * i + 1] - xy[2 * (i - 1) + 1]));
        }
    }
    GEOSGeometry *line = ok ? geo__route_line(h, xy, n) : NULL;
    free(xy);
    GEOSGeometry **chunks = NULL;
    size_t nchunks = 0, cap = 0;
    size_t start = 0;
    double acc = 0;
    for (size_t i = 1; ok && line && i < pts.n; i++) {
        acc += track_distance_m(pts.xy[2 * (i - 1) + 1], pts.xy[2 * (i - 1)], pts.xy[2 * i + 1],
                                pts.xy[2 * i]);
        if (acc < GEO_CHUNK_M && i + 1 < pts.n)
            continue;
        if (nchunks == cap) {
            cap = cap ? cap * 2 : 16;
            GEOSGeometry **nc = realloc(chunks, cap * sizeof *nc);
            if (!nc) {
                ok = false;
                break;
            }
            chunks = nc;
        }
        GEOSGeometry *b = geo__chunk_buffer(h, pts.xy, start, i, width_m / 2);
        if (!b) {
            ok = false;
            break;
        }
        chunks[nchunks++] = b;
        start = i;
        acc = 0;
    }
    free(pts.xy);
    GEOSGeometry *g = NULL;
    if (ok && line && nchunks) {
        GEOSGeometry *coll =
            GEOSGeom_createCollection_r(h, GEOS_GEOMETRYCOLLECTION, chunks, (unsigned)nchunks);
        nchunks = 0;
        if (coll) {
            g = GEOSUnaryUnion_r(h, coll);
            GEOSGeom_destroy_r(h, coll);
        }
    }
    for (size_t i = 0; i < nchunks; i++)
        GEOSGeom_destroy_r(h, chunks[i]);
    free(chunks);
    if (g)
        g = track__geo_normalize(h, g);
    if (!g) {
        if (line)
            GEOSGeom_destroy_r(h, line);
        track__problem(problems, ptr, "the corridor could not be built: %s",
                       track__geo_errmsg()[0] ? track__geo_errmsg() : "out of memory");
        return NULL;
    }
    return track__geo_shape(h, g, line);
}

track_shape *track_shape_corridor_stored(const json_t *route, const char *geojson)
{
    size_t n = 0;
    json_t *problems = json_array();
    /* stored before the length limit, or after: what was taken stays taken */
    double *xy = geo__route_points(route, "", problems, false, &n);
    json_decref(problems);
    if (!xy)
        return NULL;
    GEOSContextHandle_t h = track__geos();
    GEOSGeometry *line = geo__route_line(h, xy, n);
    free(xy);
    GEOSGeoJSONReader *rd = line ? GEOSGeoJSONReader_create_r(h) : NULL;
    GEOSGeometry *g = rd ? GEOSGeoJSONReader_readGeometry_r(h, rd, geojson) : NULL;
    if (rd)
        GEOSGeoJSONReader_destroy_r(h, rd);
    if (!g || GEOSGeomTypeId_r(h, g) != GEOS_MULTIPOLYGON || GEOSisEmpty_r(h, g) != 0) {
        if (g)
            GEOSGeom_destroy_r(h, g);
        if (line)
            GEOSGeom_destroy_r(h, line);
        return NULL;
    }
    return track__geo_shape(h, g, line);
}

double track__shape_route_distance(GEOSContextHandle_t h, const track_shape *s, double lat,
                                   double lon)
{
    if (!s->route)
        return NAN;
    geo_proj p;
    track__geo_proj_init(&p, lat, lon);
    GEOSGeometry *proj = GEOSGeom_transformXY_r(h, s->route, track__geo_fwd_cb, &p);
    GEOSGeometry *origin = GEOSGeom_createPointFromXY_r(h, 0, 0);
    double d = NAN;
    if (proj && origin && GEOSDistance_r(h, proj, origin, &d) != 1)
        d = NAN;
    if (proj)
        GEOSGeom_destroy_r(h, proj);
    if (origin)
        GEOSGeom_destroy_r(h, origin);
    return d;
}

double track_shape_route_distance_m(const track_shape *s, double lat, double lon)
{
    return track__shape_route_distance(track__geos(), s, lat, lon);
}

