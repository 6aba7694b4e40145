/* Zones for the drone rules: polygons in longitude/latitude (GEOS prepared
 * geometries for inside tests), and their boundaries cut into short chunks
 * with bounding boxes, for the distance to a boundary in metres. A drone
 * rule only asks "how far is the boundary, if it is within R metres" (R is
 * at most a few kilometres), so a point looks at the chunks whose boxes meet
 * a box of R around it and measures them in a local projection, where a
 * few kilometres are flat to well under a metre. */
#define GEOS_USE_ONLY_R_API
#include "drones_geo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EARTH_R 6371008.8
#define DEG (M_PI / 180.0)
#define CHUNK 32 /* boundary vertices per chunk */

double drones_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG, p2 = lat2 * DEG;
    double dp = p2 - p1, dl = (lon2 - lon1) * DEG;
    double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
    return 2 * EARTH_R * asin(fmin(1.0, sqrt(a)));
}

static const char *const kind_names[] = {"territory", "restricted", "port", "bonded-warehouse",
                                         "customs-office", "other"};

drones_zone_kind drones_zone_kind_parse(const char *s)
{
    for (int i = 0; i < DRONES_ZONE_OTHER; i++)
        if (s && strcmp(s, kind_names[i]) == 0)
            return (drones_zone_kind)i;
    return DRONES_ZONE_OTHER;
}

const char *drones_zone_kind_name(drones_zone_kind k)
{
    return k <= DRONES_ZONE_OTHER ? kind_names[k] : "other";
}

void drones__zone_free(GEOSContextHandle_t h, drones_zone *z)
{
    if (!z)
        return;
    if (z->prep)
        GEOSPreparedGeom_destroy_r(h, z->prep);
    if (z->geom)
        GEOSGeom_destroy_r(h, z->geom);
    free(z->xy);
    free(z->chunks);
    free(z);
}

static cx_err geo__chunk_ring(drones_zone *z, GEOSContextHandle_t h, const GEOSGeometry *ring)
{
    const GEOSCoordSequence *cs = GEOSGeom_getCoordSeq_r(h, ring);
    unsigned n = 0;
    if (!cs || !GEOSCoordSeq_getSize_r(h, cs, &n) || n < 2)
        return CX_OK;
    size_t base = z->nxy;
    double *xy = realloc(z->xy, (z->nxy + n) * 2 * sizeof *xy);
    if (!xy)
        return CX_ENOMEM;
    z->xy = xy;
    for (unsigned i = 0; i < n; i++)
        GEOSCoordSeq_getXY_r(h, cs, i, &xy[2 * (base + i)], &xy[2 * (base + i) + 1]);
    z->nxy += n;
    /* chunks share their end vertex with the next one's start */
    size_t nch = (n - 1 + CHUNK - 2) / (CHUNK - 1);
    drones_chunk *c = realloc(z->chunks, (z->nchunks + nch) * sizeof *c);
    if (!c)
        return CX_ENOMEM;
    z->chunks = c;
    for (size_t k = 0; k < nch; k++) {
        drones_chunk *ch = &c[z->nchunks++];
        ch->first = base + k * (CHUNK - 1);
        size_t last = base + (k + 1) * (CHUNK - 1);
        if (last > base + n - 1)
            last = base + n - 1;
        ch->count = last - ch->first + 1;
        ch->minx = ch->miny = INFINITY;
        ch->maxx = ch->maxy = -INFINITY;
        for (size_t i = ch->first; i <= last; i++) {
            ch->minx = fmin(ch->minx, xy[2 * i]);
            ch->maxx = fmax(ch->maxx, xy[2 * i]);
            ch->miny = fmin(ch->miny, xy[2 * i + 1]);
            ch->maxy = fmax(ch->maxy, xy[2 * i + 1]);
        }
    }
    return CX_OK;
}

drones_zone *drones__zone_new(GEOSContextHandle_t h, GEOSGeometry *g, char *why, size_t wn)
{
    int t = g ? GEOSGeomTypeId_r(h, g) : -1;
    if (t != GEOS_POLYGON && t != GEOS_MULTIPOLYGON) {
        snprintf(why, wn, "must be a Polygon or MultiPolygon");
        if (g)
            GEOSGeom_destroy_r(h, g);
        return NULL;
    }
    if (GEOSisValid_r(h, g) != 1) {
        char *r = GEOSisValidReason_r(h, g);
        snprintf(why, wn, "is not a valid polygon: %s", r ? r : "unknown reason");
        GEOSFree_r(h, r);
        GEOSGeom_destroy_r(h, g);
        return NULL;
    }
    drones_zone *z = calloc(1, sizeof *z);
    if (!z) {
        GEOSGeom_destroy_r(h, g);
        return NULL;
    }
    z->geom = g;
    z->prep = GEOSPrepare_r(h, g);
    GEOSGeom_getXMin_r(h, g, &z->minx);
    GEOSGeom_getXMax_r(h, g, &z->maxx);
    GEOSGeom_getYMin_r(h, g, &z->miny);
    GEOSGeom_getYMax_r(h, g, &z->maxy);
    cx_err e = z->prep ? CX_OK : CX_ENOMEM;
    int np = GEOSGetNumGeometries_r(h, g);
    for (int i = 0; i < np && !e; i++) {
        const GEOSGeometry *poly = GEOSGetGeometryN_r(h, g, i);
        e = geo__chunk_ring(z, h, GEOSGetExteriorRing_r(h, poly));
        int nh = GEOSGetNumInteriorRings_r(h, poly);
        for (int k = 0; k < nh && !e; k++)
            e = geo__chunk_ring(z, h, GEOSGetInteriorRingN_r(h, poly, k));
    }
    if (e) {
        snprintf(why, wn, "out of memory");
        drones__zone_free(h, z);
        return NULL;
    }
    return z;
}

bool drones__zone_covers(GEOSContextHandle_t h, const drones_zone *z, double lat, double lon)
{
    if (lon < z->minx || lon > z->maxx || lat < z->miny || lat > z->maxy)
        return false;
    GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(h, lon, lat);
    bool in = pt && GEOSPreparedCovers_r(h, z->prep, pt) == 1;
    GEOSGeom_destroy_r(h, pt);
    return in;
}

/* Point-to-segment distance in the plane. */
static double geo__seg(double px, double py, double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/* Longitude difference folded into [-180, 180). */
static double geo__dlon(double a, double b)
{
    double d = fmod(a - b + 540.0, 360.0) - 180.0;
    return d;
}

double drones__zone_boundary_m(const drones_zone *z, double lat, double lon, double r)
{
    double kx = EARTH_R * DEG * fmax(cos(lat * DEG), 0.01), ky = EARTH_R * DEG;
    double dlat = r / ky * 1.01, dlon = r / kx * 1.01;
    if (lon < z->minx - dlon || lon > z->maxx + dlon || lat < z->miny - dlat ||
        lat > z->maxy + dlat)
        return INFINITY;
    double best = INFINITY;
    for (size_t c = 0; c < z->nchunks; c++) {
        const drones_chunk *ch = &z->chunks[c];
        if (ch->maxx < lon - dlon || ch->minx > lon + dlon || ch->maxy < lat - dlat ||
            ch->miny > lat + dlat)
            continue;
        const double *p = z->xy + 2 * ch->first;
        double ax = geo__dlon(p[0], lon) * kx, ay = (p[1] - lat) * ky;
        for (size_t i = 1; i < ch->count; i++) {
            double bx = geo__dlon(p[2 * i], lon) * kx, by = (p[2 * i + 1] - lat) * ky;
            double d = geo__seg(0, 0, ax, ay, bx, by);
            if (d < best)
                best = d;
            ax = bx;
            ay = by;
        }
    }
    return best <= r ? best : INFINITY;
}

GEOSGeometry *drones__geojson_geometry(GEOSContextHandle_t h, const json_t *geometry)
{
    char *text = json_dumps(geometry, JSON_COMPACT);
    if (!text)
        return NULL;
    GEOSGeoJSONReader *rd = GEOSGeoJSONReader_create_r(h);
    GEOSGeometry *g = rd ? GEOSGeoJSONReader_readGeometry_r(h, rd, text) : NULL;
    if (rd)
        GEOSGeoJSONReader_destroy_r(h, rd);
    free(text);
    return g;
}
