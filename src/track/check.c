/* Request validation of devices, zones and consignments: pure functions of
 * the body (track.h), so that each has a fuzz target and the handlers only
 * add what needs the database. */
#include "track_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void check__path(char *out, size_t cap, const char *ptr, const char *member)
{
    snprintf(out, cap, "%s", ptr);
    cx_jptr_push(out, cap, member);
}

static bool check__string(const json_t *doc, const char *ptr, const char *key, json_t *problems,
                          bool required, size_t maxlen, const char **out)
{
    const json_t *v = json_object_get(doc, key);
    char path[160];
    check__path(path, sizeof path, ptr, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            track__problem(problems, path, "is required");
        return !required;
    }
    size_t cp = 0;
    if (!json_is_string(v) || !cx_utf8_count(json_string_value(v), json_string_length(v), &cp) ||
        cp == 0 || cp > maxlen) {
        track__problem(problems, path, "must be a string of 1 to %zu characters", maxlen);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static void check__unknown(const json_t *doc, const char *const *known, json_t *problems,
                           const char *ptr)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(known[i], k) == 0;
        if (!ok) {
            char path[160];
            check__path(path, sizeof path, ptr, k);
            track__problem(problems, path, "unknown member");
        }
    }
}

/* {"min": number, "max": number}, either optional but not both */
static void check__temp_range(const json_t *doc, json_t *problems, const char *ptr)
{
    const json_t *tr = json_object_get(doc, "temperature_c");
    if (!tr || json_is_null(tr))
        return;
    char path[160];
    check__path(path, sizeof path, ptr, "temperature_c");
    const json_t *lo = json_object_get(tr, "min"), *hi = json_object_get(tr, "max");
    if (!json_is_object(tr) || (!lo && !hi) || json_object_size(tr) > (size_t)(!!lo + !!hi)) {
        track__problem(problems, path, "must be {\"min\": number, \"max\": number}");
        return;
    }
    if ((lo && (!json_is_number(lo) || json_number_value(lo) < -100)) ||
        (hi && (!json_is_number(hi) || json_number_value(hi) > 150)) ||
        (lo && hi && json_number_value(lo) >= json_number_value(hi)))
        track__problem(problems, path, "min and max must be degrees Celsius with min < max");
}

/* ---- devices ------------------------------------------------------------------------------ */

json_t *track_device_check(const json_t *in, const char *default_org, const char *now,
                           const char *ptr, json_t *problems, const char **osmand_key)
{
    static const char *const known[] = {"id", "kind", "container", "org", "name",
                                        "temperature_c", "key_id", "osmand_key", NULL};
    char path[160];
    if (osmand_key)
        *osmand_key = NULL;
    if (!json_is_object(in)) {
        track__problem(problems, ptr, "a device is a JSON object");
        return NULL;
    }
    size_t before = json_array_size(problems);
    check__unknown(in, known, problems, ptr);
    const char *id = json_string_value(json_object_get(in, "id"));
    check__path(path, sizeof path, ptr, "id");
    if (!track_id_valid(id))
        track__problem(problems, path, "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    const char *kind = json_string_value(json_object_get(in, "kind"));
    track_device_kind dk;
    check__path(path, sizeof path, ptr, "kind");
    if (!track_device_kind_parse(kind, &dk))
        track__problem(problems, path, "must be gps-tracker, e-seal or reefer");
    const json_t *ct = json_object_get(in, "container");
    check__path(path, sizeof path, ptr, "container");
    if (ct && !json_is_null(ct) &&
        (!json_is_string(ct) || !decl_container_valid(json_string_value(ct))))
        track__problem(problems, path, "must be an ISO 6346 container number with a correct "
                                       "check digit");
    const json_t *org = json_object_get(in, "org");
    check__path(path, sizeof path, ptr, "org");
    if (org && (!json_is_string(org) || !cx_org_valid(json_string_value(org))))
        track__problem(problems, path, "must be an organisation name (1-64 of A-Z a-z 0-9 . _ -)");
    const json_t *name = json_object_get(in, "name");
    check__path(path, sizeof path, ptr, "name");
    if (name && (!json_is_string(name) || json_string_length(name) == 0 ||
                 json_string_length(name) > 200))
        track__problem(problems, path, "must be a string of 1 to 200 bytes");
    check__temp_range(in, problems, ptr);
    const json_t *kid = json_object_get(in, "key_id");
    check__path(path, sizeof path, ptr, "key_id");
    if (kid && !json_is_null(kid) && (!json_is_integer(kid) || json_integer_value(kid) < 1))
        track__problem(problems, path, "must be the id of a key of role device (customs keys "
                                       "list)");
    const json_t *ok = json_object_get(in, "osmand_key");
    check__path(path, sizeof path, ptr, "osmand_key");
    if (ok && !json_is_null(ok) && !track_osmand_key_valid(json_string_value(ok)))
        track__problem(problems, path, "must be a random secret of %d to %d of A-Z a-z 0-9 "
                       "- . _ ~ (e.g. openssl rand -hex 16)", TRACK_OSMAND_KEY_MIN,
                       TRACK_OSMAND_KEY_MAX);
    if (json_array_size(problems) > before)
        return NULL;
    if (ok && !json_is_null(ok) && osmand_key)
        *osmand_key = json_string_value(ok);
    json_t *doc = json_pack("{s:s,s:s,s:o,s:s}", "id", id, "kind", kind, "container",
                            ct && !json_is_null(ct) ? json_string(json_string_value(ct))
                                                    : json_null(),
                            "org", org ? json_string_value(org) : default_org);
    if (!doc)
        return NULL;
    if (name)
        json_object_set(doc, "name", (json_t *)name);
    const json_t *tr = json_object_get(in, "temperature_c");
    if (tr && !json_is_null(tr))
        json_object_set(doc, "temperature_c", (json_t *)tr);
    if (kid && !json_is_null(kid))
        json_object_set(doc, "key_id", (json_t *)kid);
    json_object_set_new(doc, "created_at", json_string(now));
    return doc;
}

/* ---- zones ---------------------------------------------------------------------------------- */

json_t *track_zone_check(const json_t *in, const char *now, json_t *problems, track_shape **shape)
{
    static const char *const known[] = {"id", "name", "kind", "geometry", "properties", NULL};
    *shape = NULL;
    if (!json_is_object(in)) {
        track__problem(problems, "", "a zone is a JSON object");
        return NULL;
    }
    size_t before = json_array_size(problems);
    check__unknown(in, known, problems, "");
    const char *id = json_string_value(json_object_get(in, "id")), *name = NULL;
    if (!track_id_valid(id))
        track__problem(problems, "/id", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    check__string(in, "", "name", problems, false, 200, &name);
    track_zone_kind zk;
    if (!track_zone_kind_parse(json_string_value(json_object_get(in, "kind")), &zk))
        track__problem(problems, "/kind",
                       "must be bonded-warehouse, port, customs-office, border, restricted or "
                       "territory");
    /* others' members (a GeoJSON feature's properties: QGIS's fid,
     * description, …): kept as given, never read */
    const json_t *props = json_object_get(in, "properties");
    if (props && (!json_is_object(props) ||
                  json_dumpb(props, NULL, 0, JSON_COMPACT) > TRACK_ZONE_PROPERTIES_MAX))
        track__problem(problems, "/properties", "must be a JSON object of at most %d bytes",
                       TRACK_ZONE_PROPERTIES_MAX);
    track_shape *s = NULL;
    const json_t *geom = json_object_get(in, "geometry");
    if (!geom)
        track__problem(problems, "/geometry", "is required (a GeoJSON Polygon or MultiPolygon)");
    else
        s = track_shape_zone(geom, "/geometry", problems);
    json_t *doc = json_array_size(problems) > before
                      ? NULL
                      : json_pack("{s:s,s:s,s:s,s:O,s:s}", "id", id, "name", name ? name : id,
                                  "kind", track_zone_kind_name(zk), "geometry", geom,
                                  "created_at", now);
    if (doc && props)
        json_object_set(doc, "properties", (json_t *)props);
    if (!doc) {
        track_shape_free(s);
        return NULL;
    }
    *shape = s;
    return doc;
}

/* ---- consignments --------------------------------------------------------------------------- */

json_t *track_consignment_check(const json_t *in, const track_config *base, const char *org,
                                const char *now, json_t *problems)
{
    static const char *const known[] = {"id", "containers", "declarations", "route",
                                        "corridor_m", "origin_zone", "destination_zone",
                                        "expected_arrival", "temperature_c", "rules", "name",
                                        NULL};
    if (!json_is_object(in)) {
        track__problem(problems, "", "a consignment is a JSON object");
        return NULL;
    }
    size_t before = json_array_size(problems);
    check__unknown(in, known, problems, "");
    if (!track_id_valid(json_string_value(json_object_get(in, "id"))))
        track__problem(problems, "/id", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    /* an array over its limit is one problem: its items are not walked (a
     * 1 MiB body holds 70,000 containers, and the repeat check is quadratic) */
    const json_t *cs = json_object_get(in, "containers");
    if (!json_is_array(cs) || json_array_size(cs) == 0 ||
        json_array_size(cs) > DECL_MAX_CONTAINERS) {
        track__problem(problems, "/containers", "must be an array of 1 to %d container numbers",
                       DECL_MAX_CONTAINERS);
        cs = NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(cs, i, v)
    {
        char p[40];
        snprintf(p, sizeof p, "/containers/%zu", i);
        if (!json_is_string(v) || !decl_container_valid(json_string_value(v)))
            track__problem(problems, p, "must be an ISO 6346 container number with a correct "
                                        "check digit");
        for (size_t k = 0; k < i && json_is_string(v); k++)
            if (json_equal(v, json_array_get(cs, k))) {
                track__problem(problems, p, "repeats container %zu", k);
                break; /* the first is enough */
            }
    }
    const json_t *ds = json_object_get(in, "declarations");
    if (ds && (!json_is_array(ds) || json_array_size(ds) > 256)) {
        track__problem(problems, "/declarations", "must be an array of up to 256 declaration "
                                                  "ids");
        ds = NULL;
    }
    json_array_foreach(ds, i, v)
    {
        char p[40];
        snprintf(p, sizeof p, "/declarations/%zu", i);
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
            track__problem(problems, p, "must be a declaration id");
    }
    const json_t *cm = json_object_get(in, "corridor_m");
    double width = json_number_value(cm);
    if (!json_is_number(cm) || !isfinite(width) || width < 10 || width > 200000)
        track__problem(problems, "/corridor_m", "must be the corridor's full width in metres, "
                                                "from 10 to 200000");
    const char *oz = NULL, *dz = NULL, *ea = NULL, *name = NULL;
    check__string(in, "", "origin_zone", problems, true, TRACK_ID_MAX, &oz);
    check__string(in, "", "destination_zone", problems, true, TRACK_ID_MAX, &dz);
    check__string(in, "", "name", problems, false, 200, &name);
    int64_t us;
    if (check__string(in, "", "expected_arrival", problems, true, 64, &ea) && ea &&
        cx_rfc3339_parse(ea, &us) != CX_OK)
        track__problem(problems, "/expected_arrival", "must be an RFC 3339 date-time with a zone");
    check__temp_range(in, problems, "");
    const json_t *rules = json_object_get(in, "rules");
    if (rules) {
        json_t *rp = json_array();
        track_config tmp = *base;
        track_config_apply(&tmp, rules, rp);
        json_array_foreach(rp, i, v)
        {
            char p[160];
            snprintf(p, sizeof p, "/rules%s", json_string_value(json_object_get(v, "path")));
            track__problem(problems, p, "%s", json_string_value(json_object_get(v, "message")));
        }
        json_decref(rp);
    }
    if (!json_object_get(in, "route"))
        track__problem(problems, "/route", "is required (a GeoJSON LineString)");
    if (json_array_size(problems) > before)
        return NULL;
    json_t *doc = json_deep_copy(in);
    if (!doc)
        return NULL;
    if (!json_object_get(doc, "declarations"))
        json_object_set_new(doc, "declarations", json_array());
    json_object_set_new(doc, "org", json_string(org));
    json_object_set_new(doc, "created_at", json_string(now));
    return doc;
}
