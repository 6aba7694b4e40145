/* Shapes with GEOS: zones from GeoJSON, corridors buffered in metres, the
 * antimeridian, point tests.
 *
 * Zones are kept in longitude/latitude because RFC 7946 defines a polygon's
 * edges as straight lines in that plane. Corridors are built per route
 * chunk of at most 50 km in a local azimuthal equidistant projection whose
 * latitude is rescaled by M/N (meridional over prime-vertical radius of
 * curvature of WGS 84) at the chunk centre: that makes the sphere match the
 * ellipsoid's metric to first order, so the buffer is right to centimetres
 * at corridor scale. The buffer is densified in metres, unprojected and
 * unioned, so a point test at run time is one prepared intersects. Shapes
 * crossing the antimeridian are built with unwrapped longitudes and cut
 * into pieces inside [-180, 180]. */
#include "geo_int.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- one GEOS context per thread ------------------------------------------------ */

static pthread_key_t geo_key;
static pthread_once_t geo_once = PTHREAD_ONCE_INIT;
static _Thread_local char geo_errmsg[256];

const char *track__geo_errmsg(void)
{
    return geo_errmsg;
}

static void geo__finish(void *h)
{
    GEOS_finish_r(h);
}

static void geo__make_key(void)
{
    pthread_key_create(&geo_key, geo__finish);
}

static void geo__error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(geo_errmsg, sizeof geo_errmsg, fmt, ap);
    va_end(ap);
}

static void geo__notice(const char *fmt, ...)
{
    (void)fmt;
}

GEOSContextHandle_t track__geos(void)
{
    pthread_once(&geo_once, geo__make_key);
    GEOSContextHandle_t h = pthread_getspecific(geo_key);
    if (!h) {
        h = GEOS_init_r();
        if (!h)
            return NULL;
        GEOSContext_setErrorHandler_r(h, geo__error);
        GEOSContext_setNoticeHandler_r(h, geo__notice);
        pthread_setspecific(geo_key, h);
    }
    return h;
}

void track__geos_release(void)
{
    pthread_once(&geo_once, geo__make_key);
    GEOSContextHandle_t h = pthread_getspecific(geo_key);
    if (h) {
        pthread_setspecific(geo_key, NULL);
        GEOS_finish_r(h);
    }
}

/* ---- problems -------------------------------------------------------------------- */

void track__problem(json_t *problems, const char *path, const char *fmt, ...)
{
    if (!problems || json_array_size(problems) >= GEO_MAX_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    cx_problem_addv(problems, path, fmt, ap);
    va_end(ap);
}

/* ---- local projection ------------------------------------------------------------ */


void track__geo_proj_init(geo_proj *p, double lat_deg, double lon_deg)
{
    double e2 = WGS84_F * (2 - WGS84_F);
    double s = sin(lat_deg * DEG);
    double w = 1 - e2 * s * s;
    double N = WGS84_A / sqrt(w);
    double M = WGS84_A * (1 - e2) / (w * sqrt(w));
    p->lat0 = lat_deg * DEG;
    p->lon0 = lon_deg * DEG;
    p->sin0 = sin(p->lat0);
    p->cos0 = cos(p->lat0);
    p->R = N;
    p->kmn = M / N;
}

/* Azimuthal equidistant on the auxiliary sphere. Longitudes may be unwrapped. */
void track__geo_fwd(const geo_proj *p, double lon_deg, double lat_deg, double *x, double *y)
{
    double phi = p->lat0 + (lat_deg * DEG - p->lat0) * p->kmn;
    double dl = lon_deg * DEG - p->lon0;
    double sp = sin(phi), cp = cos(phi), sd = sin(dl), cd = cos(dl);
    double xx = cp * sd;
    double yy = p->cos0 * sp - p->sin0 * cp * cd;
    double cosc = p->sin0 * sp + p->cos0 * cp * cd;
    double sinc = hypot(xx, yy);
    double c = atan2(sinc, cosc);
    double k = sinc > 1e-15 ? c / sinc : 1.0;
    *x = p->R * k * xx;
    *y = p->R * k * yy;
}

/* Inverse; the longitude comes back within 180 degrees of the centre's. */
static void geo__inv(const geo_proj *p, double x, double y, double *lon_deg, double *lat_deg)
{
    double rho = hypot(x, y);
    if (rho < 1e-9) {
        *lon_deg = p->lon0 / DEG;
        *lat_deg = p->lat0 / DEG;
        return;
    }
    double c = rho / p->R;
    double sc = sin(c), cc = cos(c);
    double v = cc * p->sin0 + y * sc * p->cos0 / rho;
    if (v > 1)
        v = 1;
    if (v < -1)
        v = -1;
    double phi = asin(v);
    double lam = p->lon0 + atan2(x * sc, rho * p->cos0 * cc - y * p->sin0 * sc);
    *lat_deg = (p->lat0 + (phi - p->lat0) / p->kmn) / DEG;
    *lon_deg = lam / DEG;
}

int track__geo_fwd_cb(double *x, double *y, void *ud)
{
    track__geo_fwd(ud, *x, *y, x, y);
    return 1;
}

int track__geo_inv_cb(double *x, double *y, void *ud)
{
    geo__inv(ud, *x, *y, x, y);
    return 1;
}

double track_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double dlon = lon2 - lon1;
    while (dlon > 180)
        dlon -= 360;
    while (dlon < -180)
        dlon += 360;
    geo_proj p;
    track__geo_proj_init(&p, (lat1 + lat2) / 2, lon1 + dlon / 2);
    double x1, y1, x2, y2;
    track__geo_fwd(&p, lon1, lat1, &x1, &y1);
    track__geo_fwd(&p, lon1 + dlon, lat2, &x2, &y2);
    return hypot(x2 - x1, y2 - y1);
}

/* ---- shapes ------------------------------------------------------------------------ */


track_shape *track__shape_ref(track_shape *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void track_shape_free(track_shape *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) > 1)
        return;
    GEOSContextHandle_t h = track__geos();
    if (s->prep)
        GEOSPreparedGeom_destroy_r(h, s->prep);
    if (s->geom)
        GEOSGeom_destroy_r(h, s->geom);
    if (s->route)
        GEOSGeom_destroy_r(h, s->route);
    free(s->parts);
    free(s);
}

size_t track__shape_parts(const track_shape *s, const track_env **parts)
{
    *parts = s->parts;
    return s->nparts;
}

bool track_shape_covers(const track_shape *s, double lat, double lon)
{
    GEOSContextHandle_t h = track__geos();
    GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(h, lon, lat);
    if (!pt)
        return false;
    bool in = track__shape_covers_pt(h, s, pt);
    GEOSGeom_destroy_r(h, pt);
    return in;
}

bool track__shape_covers_pt(GEOSContextHandle_t h, const track_shape *s, const GEOSGeometry *pt)
{
    return GEOSPreparedIntersects_r(h, s->prep, pt) == 1;
}

/* Cuts a geometry with unwrapped longitudes into pieces inside [-180, 180]
 * and returns them as one MultiPolygon. Consumes g. */
GEOSGeometry *track__geo_normalize(GEOSContextHandle_t h, GEOSGeometry *g)
{
    double minx = 0, maxx = 0;
    if (!GEOSGeom_getXMin_r(h, g, &minx) || !GEOSGeom_getXMax_r(h, g, &maxx)) {
        GEOSGeom_destroy_r(h, g);
        return NULL;
    }
    int kmin = (int)floor((minx + 180) / 360), kmax = (int)floor((maxx + 180) / 360);
    if (maxx == -180 + 360.0 * kmax && kmax > kmin)
        kmax--; /* touching the next piece's edge only */
    GEOSGeometry *parts[256];
    unsigned n = 0;
    for (int k = kmin; k <= kmax && n < 200; k++) {
        GEOSGeometry *piece = g;
        bool own = false;
        if (kmin != 0 || kmax != 0) {
            GEOSGeometry *rect = GEOSGeom_createRectangle_r(h, -180 + 360.0 * k, -90,
                                                            180 + 360.0 * k, 90);
            piece = rect ? GEOSIntersection_r(h, g, rect) : NULL;
            if (rect)
                GEOSGeom_destroy_r(h, rect);
            if (!piece)
                continue;
            own = true;
            if (k != 0) {
                double shift = -360.0 * k;
                GEOSGeometry *moved = GEOSGeom_transformXY_r(h, piece, track__shift_cb, &shift);
                GEOSGeom_destroy_r(h, piece);
                piece = moved;
                if (!piece)
                    continue;
            }
        }
        int np = GEOSGetNumGeometries_r(h, piece);
        for (int i = 0; i < np && n < 256; i++) {
            const GEOSGeometry *sub = GEOSGetGeometryN_r(h, piece, i);
            if (GEOSGeomTypeId_r(h, sub) == GEOS_POLYGON && !GEOSisEmpty_r(h, sub))
                parts[n++] = GEOSGeom_clone_r(h, sub);
            else if (GEOSGeomTypeId_r(h, sub) == GEOS_MULTIPOLYGON ||
                     GEOSGeomTypeId_r(h, sub) == GEOS_GEOMETRYCOLLECTION) {
                int nn = GEOSGetNumGeometries_r(h, sub);
                for (int j = 0; j < nn && n < 256; j++) {
                    const GEOSGeometry *s2 = GEOSGetGeometryN_r(h, sub, j);
                    if (GEOSGeomTypeId_r(h, s2) == GEOS_POLYGON && !GEOSisEmpty_r(h, s2))
                        parts[n++] = GEOSGeom_clone_r(h, s2);
                }
            }
        }
        if (own)
            GEOSGeom_destroy_r(h, piece);
    }
    GEOSGeom_destroy_r(h, g);
    if (n == 0)
        return NULL;
    return GEOSGeom_createCollection_r(h, GEOS_MULTIPOLYGON, parts, n);
}

int track__shift_cb(double *x, double *y, void *ud)
{
    (void)y;
    *x += *(double *)ud;
    return 1;
}

/* Wraps the normalized geometry into a shape: prepared, with part envelopes. */
track_shape *track__geo_shape(GEOSContextHandle_t h, GEOSGeometry *g, GEOSGeometry *route)
{
    track_shape *s = calloc(1, sizeof *s);
    int np = g ? GEOSGetNumGeometries_r(h, g) : 0;
    if (!s || np <= 0 || !(s->parts = calloc((size_t)np, sizeof *s->parts))) {
        if (g)
            GEOSGeom_destroy_r(h, g);
        if (route)
            GEOSGeom_destroy_r(h, route);
        if (s)
            free(s->parts);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->geom = g;
    s->route = route;
    for (int i = 0; i < np; i++) {
        const GEOSGeometry *p = GEOSGetGeometryN_r(h, g, i);
        track_env *e = &s->parts[s->nparts++];
        GEOSGeom_getXMin_r(h, p, &e->minx);
        GEOSGeom_getYMin_r(h, p, &e->miny);
        GEOSGeom_getXMax_r(h, p, &e->maxx);
        GEOSGeom_getYMax_r(h, p, &e->maxy);
    }
    s->prep = GEOSPrepare_r(h, g);
    if (!s->prep) {
        track_shape_free(s);
        return NULL;
    }
    return s;
}

/* ---- GeoJSON input ------------------------------------------------------------------ */

bool track__geo_position(const json_t *p, const char *ptr, json_t *problems, double *lon,
                          double *lat)
{
    if (!json_is_array(p) || json_array_size(p) < 2 || json_array_size(p) > 3) {
        track__problem(problems, ptr, "must be a position [longitude, latitude] "
                                      "(optionally with altitude)");
        return false;
    }
    for (size_t i = 0; i < json_array_size(p); i++) {
        const json_t *v = json_array_get(p, i);
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            char sub[160];
            snprintf(sub, sizeof sub, "%s/%zu", ptr, i);
            track__problem(problems, sub, "must be a number");
            return false;
        }
    }
    *lon = json_number_value(json_array_get(p, 0));
    *lat = json_number_value(json_array_get(p, 1));
    if (*lon < -180 || *lon > 180) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s/0", ptr);
        track__problem(problems, sub, "longitude must be from -180 to 180");
        return false;
    }
    if (*lat < -90 || *lat > 90) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s/1", ptr);
        track__problem(problems, sub, "latitude must be from -90 to 90");
        return false;
    }
    return true;
}

/* Reads a ring's positions into xy (lon, lat pairs), unwrapping longitudes
 * so that consecutive ones never differ by more than 180 degrees. */
static double *geo__ring(const json_t *ring, const char *ptr, json_t *problems, size_t *n,
                         bool *crossed)
{
    if (!json_is_array(ring)) {
        track__problem(problems, ptr, "must be an array of positions (a linear ring)");
        return NULL;
    }
    size_t cnt = json_array_size(ring);
    if (cnt < 4) {
        track__problem(problems, ptr, "a linear ring needs at least 4 positions");
        return NULL;
    }
    if (cnt > GEO_MAX_POSITIONS) {
        track__problem(problems, ptr, "more than %d positions", GEO_MAX_POSITIONS);
        return NULL;
    }
    double *xy = malloc(cnt * 2 * sizeof *xy);
    if (!xy)
        return NULL;
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s/%zu", ptr, i);
        double lon, lat;
        if (!track__geo_position(json_array_get(ring, i), sub, problems, &lon, &lat)) {
            ok = false;
            break;
        }
        xy[2 * i] = lon;
        xy[2 * i + 1] = lat;
    }
    if (ok && (xy[0] != xy[2 * (cnt - 1)] || xy[1] != xy[2 * (cnt - 1) + 1])) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s/%zu", ptr, cnt - 1);
        track__problem(problems, sub, "a linear ring must end where it starts (closed)");
        ok = false;
    }
    if (!ok) {
        free(xy);
        return NULL;
    }
    for (size_t i = 1; i < cnt; i++) {
        double d = xy[2 * i] - xy[2 * (i - 1)];
        if (d > 180 || d < -180)
            *crossed = true;
        while (xy[2 * i] - xy[2 * (i - 1)] > 180)
            xy[2 * i] -= 360;
        while (xy[2 * i] - xy[2 * (i - 1)] < -180)
            xy[2 * i] += 360;
    }
    /* An unwrapped ring that crossed the antimeridian must still close. */
    if (fabs(xy[0] - xy[2 * (cnt - 1)]) > 1e-9) {
        track__problem(problems, ptr, "the ring winds around the globe; cut it at the "
                                      "antimeridian (RFC 7946, 3.1.9)");
        free(xy);
        return NULL;
    }
    *n = cnt;
    return xy;
}

static GEOSGeometry *geo__linear_ring(GEOSContextHandle_t h, const double *xy, size_t n,
                                      double shift)
{
    GEOSCoordSequence *cs = GEOSCoordSeq_create_r(h, (unsigned)n, 2);
    if (!cs)
        return NULL;
    for (size_t i = 0; i < n; i++)
        GEOSCoordSeq_setXY_r(h, cs, (unsigned)i, xy[2 * i] + shift, xy[2 * i + 1]);
    return GEOSGeom_createLinearRing_r(h, cs);
}

/* One GeoJSON polygon (array of rings) into a GEOS polygon, unwrapped. */
static GEOSGeometry *geo__polygon(GEOSContextHandle_t h, const json_t *rings, const char *ptr,
                                  json_t *problems, bool *crossed)
{
    if (!json_is_array(rings) || json_array_size(rings) == 0) {
        track__problem(problems, ptr, "a polygon is a non-empty array of linear rings");
        return NULL;
    }
    size_t nr = json_array_size(rings);
    if (nr > 10000) {
        track__problem(problems, ptr, "more than 10000 rings");
        return NULL;
    }
    GEOSGeometry **holes = calloc(nr, sizeof *holes);
    if (!holes)
        return NULL;
    GEOSGeometry *shell = NULL;
    double shell_mid = 0;
    bool ok = true;
    for (size_t i = 0; i < nr && ok; i++) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s/%zu", ptr, i);
        size_t n = 0;
        double *xy = geo__ring(json_array_get(rings, i), sub, problems, &n, crossed);
        if (!xy) {
            ok = false;
            break;
        }
        double shift = 0;
        if (i == 0) {
            double lo = xy[0], hi = xy[0];
            for (size_t k = 1; k < n; k++) {
                lo = fmin(lo, xy[2 * k]);
                hi = fmax(hi, xy[2 * k]);
            }
            shell_mid = (lo + hi) / 2;
        } else {
            /* A hole drawn on the other side of the antimeridian. */
            while (xy[0] + shift - shell_mid > 180)
                shift -= 360;
            while (xy[0] + shift - shell_mid < -180)
                shift += 360;
        }
        GEOSGeometry *r = geo__linear_ring(h, xy, n, shift);
        free(xy);
        if (!r) {
            track__problem(problems, sub, "not a valid linear ring: %s", track__geo_errmsg());
            ok = false;
            break;
        }
        if (i == 0)
            shell = r;
        else
            holes[i - 1] = r;
    }
    GEOSGeometry *poly = NULL;
    if (ok) {
        poly = GEOSGeom_createPolygon_r(h, shell, holes, (unsigned)(nr - 1));
        shell = NULL;
        memset(holes, 0, nr * sizeof *holes);
    }
    if (shell)
        GEOSGeom_destroy_r(h, shell);
    for (size_t i = 0; i < nr; i++)
        if (holes[i])
            GEOSGeom_destroy_r(h, holes[i]);
    free(holes);
    return poly;
}

const char *track__geo_type(const json_t *g, const char *ptr, json_t *problems)
{
    char sub[160];
    if (!json_is_object(g)) {
        track__problem(problems, ptr, "must be a GeoJSON geometry object");
        return NULL;
    }
    const char *type = json_string_value(json_object_get(g, "type"));
    snprintf(sub, sizeof sub, "%s/type", ptr);
    if (!type) {
        track__problem(problems, sub, "is required (a GeoJSON geometry type)");
        return NULL;
    }
    return type;
}

track_shape *track_shape_zone(const json_t *geometry, const char *ptr, json_t *problems)
{
    size_t before = json_array_size(problems);
    const char *type = track__geo_type(geometry, ptr, problems);
    if (!type)
        return NULL;
    char sub[160];
    snprintf(sub, sizeof sub, "%s/type", ptr);
    bool multi = strcmp(type, "MultiPolygon") == 0;
    if (!multi && strcmp(type, "Polygon") != 0) {
        track__problem(problems, sub, "must be Polygon or MultiPolygon");
        return NULL;
    }
    const json_t *coords = json_object_get(geometry, "coordinates");
    char cptr[160];
    snprintf(cptr, sizeof cptr, "%s/coordinates", ptr);
    if (!json_is_array(coords) || json_array_size(coords) == 0) {
        track__problem(problems, cptr, "must be a non-empty array");
        return NULL;
    }
    GEOSContextHandle_t h = track__geos();
    size_t np = multi ? json_array_size(coords) : 1;
    if (np > 10000) {
        track__problem(problems, cptr, "more than 10000 polygons");
        return NULL;
    }
    GEOSGeometry **polys = calloc(np, sizeof *polys);
    if (!polys)
        return NULL;
    bool crossed = false, ok = true;
    for (size_t i = 0; i < np; i++) {
        char pp[160];
        if (multi)
            snprintf(pp, sizeof pp, "%s/%zu", cptr, i);
        else
            snprintf(pp, sizeof pp, "%s", cptr);
        polys[i] = geo__polygon(h, multi ? json_array_get(coords, i) : coords, pp, problems,
                                &crossed);
        if (!polys[i]) {
            ok = false;
            break;
        }
        char *reason = NULL;
        if (GEOSisValid_r(h, polys[i]) != 1) {
            reason = GEOSisValidReason_r(h, polys[i]);
            track__problem(problems, pp, "not a valid polygon: %s", reason ? reason : "?");
            if (reason)
                GEOSFree_r(h, reason);
            ok = false;
            break;
        }
    }
    GEOSGeometry *g = NULL;
    if (ok) {
        g = GEOSGeom_createCollection_r(h, GEOS_MULTIPOLYGON, polys, (unsigned)np);
        memset(polys, 0, np * sizeof *polys);
        if (g && np > 1 && GEOSisValid_r(h, g) != 1) {
            char *reason = GEOSisValidReason_r(h, g);
            track__problem(problems, cptr, "the polygons overlap: %s", reason ? reason : "?");
            if (reason)
                GEOSFree_r(h, reason);
            GEOSGeom_destroy_r(h, g);
            g = NULL;
        }
    }
    for (size_t i = 0; i < np; i++)
        if (polys[i])
            GEOSGeom_destroy_r(h, polys[i]);
    free(polys);
    if (!g || json_array_size(problems) > before) {
        if (g)
            GEOSGeom_destroy_r(h, g);
        return NULL;
    }
    g = track__geo_normalize(h, g);
    if (!g) {
        track__problem(problems, cptr, "the geometry is empty");
        return NULL;
    }
    /* Polygons checked apart in unwrapped longitudes may meet once cut back
     * into [-180, 180] (one drawn eastward, one westward across the
     * antimeridian): refused as any overlap is, so that a zone taken is one
     * whose written form is taken again. */
    if (crossed && GEOSisValid_r(h, g) != 1) {
        char *reason = GEOSisValidReason_r(h, g);
        track__problem(problems, cptr, "the polygons overlap across the antimeridian: %s",
                       reason ? reason : "?");
        if (reason)
            GEOSFree_r(h, reason);
        GEOSGeom_destroy_r(h, g);
        return NULL;
    }
    return track__geo_shape(h, g, NULL);
}

/* ---- output -------------------------------------------------------------------------- */

static json_t *geo__ring_json(GEOSContextHandle_t h, const GEOSGeometry *ring)
{
    const GEOSCoordSequence *cs = GEOSGeom_getCoordSeq_r(h, ring);
    unsigned n = 0;
    GEOSCoordSeq_getSize_r(h, cs, &n);
    json_t *a = json_array();
    for (unsigned i = 0; i < n; i++) {
        double x, y;
        GEOSCoordSeq_getXY_r(h, cs, i, &x, &y);
        /* 1e-7 degrees is about a centimetre. */
        json_array_append_new(a, json_pack("[f,f]", round(x * 1e7) / 1e7, round(y * 1e7) / 1e7));
    }
    return a;
}

json_t *track_shape_geojson(const track_shape *s)
{
    GEOSContextHandle_t h = track__geos();
    json_t *polys = json_array();
    int np = GEOSGetNumGeometries_r(h, s->geom);
    for (int i = 0; i < np; i++) {
        const GEOSGeometry *p = GEOSGetGeometryN_r(h, s->geom, i);
        json_t *rings = json_array();
        json_array_append_new(rings, geo__ring_json(h, GEOSGetExteriorRing_r(h, p)));
        int nh = GEOSGetNumInteriorRings_r(h, p);
        for (int k = 0; k < nh; k++)
            json_array_append_new(rings, geo__ring_json(h, GEOSGetInteriorRingN_r(h, p, k)));
        json_array_append_new(polys, rings);
    }
    return json_pack("{s:s,s:o}", "type", "MultiPolygon", "coordinates", polys);
}

