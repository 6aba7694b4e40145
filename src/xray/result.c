/* The analysis result: names, JSON in and out, freeing. */
#include "xray_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[XRAY_KIND__COUNT] = {"dense_object", "organic_mass",
                                                         "false_wall", "anomaly"};

const char *xray_kind_name(xray_kind k)
{
    return k < XRAY_KIND__COUNT ? kind_names[k] : "anomaly";
}

bool xray_kind_parse(const char *s, xray_kind *out)
{
    for (int k = 0; k < XRAY_KIND__COUNT; k++)
        if (s && strcmp(s, kind_names[k]) == 0) {
            *out = (xray_kind)k;
            return true;
        }
    return false;
}

const char *xray_severity_name(xray_severity s)
{
    return s == XRAY_SEV_CRITICAL ? "critical" : s == XRAY_SEV_WARNING ? "warning" : "info";
}

void xray_result_free(xray_result *r)
{
    if (!r)
        return;
    free(r->regions);
    free(r->findings);
    free(r);
}

/* Numbers are rounded to what the physics supports (cm, 0.1 kg, 3 digits
 * of a probability), so equal analyses print equal text. */
static json_t *result__round(double v, double unit)
{
    return isfinite(v) ? json_real(round(v / unit) * unit) : json_null();
}

json_t *xray_result_json(const xray_result *r)
{
    json_t *regions = json_array(), *findings = json_array();
    for (size_t i = 0; i < r->nregions; i++) {
        const xray_region *g = &r->regions[i];
        json_array_append_new(
            regions, json_pack("{s:i,s:i,s:i,s:i,s:o,s:s,s:o,s:o}", "x", g->x, "y", g->y, "w",
                               g->w, "h", g->h, "score", result__round(g->score, 0.001), "kind",
                               xray_kind_name(g->kind), "from_door_m",
                               result__round(g->from_door_m, 0.01), "height_m",
                               result__round(g->height_m, 0.01)));
    }
    for (size_t i = 0; i < r->nfindings; i++)
        json_array_append_new(findings,
                              json_pack("{s:s,s:s,s:s}", "rule", r->findings[i].rule, "severity",
                                        xray_severity_name(r->findings[i].severity), "message",
                                        r->findings[i].message));
    return json_pack("{s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:o}", "scan_id", r->scan_id, "empty",
                     r->empty, "empty_score", result__round(r->empty_score, 0.001), "regions",
                     regions, "observed_mass_kg", result__round(r->observed_mass_kg, 0.1),
                     "declared_mass_kg", result__round(r->declared_mass_kg, 0.1), "mass_ratio",
                     result__round(r->mass_ratio, 0.001), "findings", findings);
}

static bool result__int(const json_t *o, const char *k, int lo, int hi, int *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = (int)json_integer_value(v);
    return true;
}

cx_err xray_regions_from_json(const json_t *regions, xray_region **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(regions))
        return CX_EPARSE;
    size_t count = json_array_size(regions);
    xray_region *r = calloc(count ? count : 1, sizeof *r);
    if (!r)
        return CX_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const json_t *o = json_array_get(regions, i);
        xray_region *g = &r[i];
        if (!result__int(o, "x", -XRAY_MAX_DIM, XRAY_MAX_DIM, &g->x) ||
            !result__int(o, "y", -XRAY_MAX_DIM, XRAY_MAX_DIM, &g->y) ||
            !result__int(o, "w", 0, XRAY_MAX_DIM, &g->w) ||
            !result__int(o, "h", 0, XRAY_MAX_DIM, &g->h) ||
            !xray_kind_parse(json_string_value(json_object_get(o, "kind")), &g->kind)) {
            free(r);
            return CX_EPARSE;
        }
        g->score = json_number_value(json_object_get(o, "score"));
        g->from_door_m = json_number_value(json_object_get(o, "from_door_m"));
        g->height_m = json_number_value(json_object_get(o, "height_m"));
    }
    *out = r;
    *n = count;
    return CX_OK;
}
