/* Fuzz target: GeoJSON zones and routes into GEOS shapes. Properties: no
 * crash, no leak; a zone that was accepted, written back as GeoJSON, is
 * accepted again, writes back to the very same GeoJSON, and covers the same
 * probe points — those clear of its written edges: the written form rounds
 * coordinates to 1e-7 degrees, which may move an edge that much. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const double probes[][2] = {{0, 0}, {0.5, 0.5}, {-16.8, 180}, {-16.8, -179.99},
                                   {45, 90}, {-89.9, 10}, {10, 10}, {0.25, 0.75}};

/* Rounding moves each vertex, so each edge, by less than 1e-7 degrees (in
 * the lon/lat plane the shapes live in): a probe farther than this from
 * every written edge is on the same side of the zone before and after. */
#define CLEAR_DEG 1e-6

static double seg_dist(double px, double py, double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/* Whether (lat, lon) is farther than CLEAR_DEG from every edge of a written
 * MultiPolygon. */
static bool clear_of_edges(const json_t *gj, double lat, double lon)
{
    size_t i, k, v;
    json_t *poly, *ring;
    json_array_foreach(json_object_get(gj, "coordinates"), i, poly)
    {
        json_array_foreach(poly, k, ring)
        {
            for (v = 1; v < json_array_size(ring); v++) {
                const json_t *a = json_array_get(ring, v - 1), *b = json_array_get(ring, v);
                double d = seg_dist(lon, lat, json_number_value(json_array_get(a, 0)),
                                    json_number_value(json_array_get(a, 1)),
                                    json_number_value(json_array_get(b, 0)),
                                    json_number_value(json_array_get(b, 1)));
                if (!(d > CLEAR_DEG))
                    return false;
            }
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (!j)
        return 0;
    json_t *problems = json_array();
    track_shape *z = track_shape_zone(j, "", problems);
    if (!z && json_array_size(problems) == 0)
        abort(); /* a refusal names its problem */
    if (z) {
        json_t *gj = track_shape_geojson(z);
        json_t *p2 = json_array();
        track_shape *again = track_shape_zone(gj, "", p2);
        if (!again)
            abort(); /* the written form of a zone taken is taken */
        json_t *gj2 = track_shape_geojson(again);
        if (!json_equal(gj, gj2))
            abort(); /* and written back unchanged */
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
            double lat = probes[i][0], lon = probes[i][1];
            if (clear_of_edges(gj, lat, lon) &&
                track_shape_covers(z, lat, lon) != track_shape_covers(again, lat, lon))
                abort(); /* and is the same zone */
        }
        json_decref(gj2);
        track_shape_free(again);
        json_decref(p2);
        json_decref(gj);
        track_shape_free(z);
    }
    json_array_clear(problems);
    /* the same text as a route; the width comes from the input's length */
    track_shape *c = track_shape_corridor(j, 100 + (double)(size % 50) * 100, "", problems);
    if (c) {
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
            (void)track_shape_covers(c, probes[i][0], probes[i][1]);
        track_shape_free(c);
    }
    json_decref(problems);
    json_decref(j);
    return 0;
}
