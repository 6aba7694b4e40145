/* Zones inside the drones module (geo.c, engine.c). */
#ifndef CUSTOMS_DRONES_GEO_H
#define CUSTOMS_DRONES_GEO_H

#define GEOS_USE_ONLY_R_API
#include "drones_int.h"

#include <geos_c.h>

typedef struct {
    size_t first, count; /* vertices in drones_zone.xy */
    double minx, miny, maxx, maxy;
} drones_chunk;

typedef struct {
    GEOSGeometry *geom;
    const GEOSPreparedGeometry *prep;
    double minx, miny, maxx, maxy;
    double *xy; /* boundary vertices, lon/lat pairs */
    size_t nxy;
    drones_chunk *chunks;
    size_t nchunks;
} drones_zone;

/* Takes g (also on failure); NULL with a sentence in why. */
drones_zone *drones__zone_new(GEOSContextHandle_t h, GEOSGeometry *g, char *why, size_t wn);
void drones__zone_free(GEOSContextHandle_t h, drones_zone *z);
bool drones__zone_covers(GEOSContextHandle_t h, const drones_zone *z, double lat, double lon);
/* Metres to the nearest boundary point if within r, else INFINITY. */
double drones__zone_boundary_m(const drones_zone *z, double lat, double lon, double r);
GEOSGeometry *drones__geojson_geometry(GEOSContextHandle_t h, const json_t *geometry);

#endif
