/* The JSON sidecar: every member checked, every problem named by pointer. */
#include "xray_int.h"

#include <math.h>
#include <string.h>

static const char *const meta__known[] = {
    "scan_id",  "container",  "declaration", "time",
    "scanner",  "pixel_mm_x", "pixel_mm_y",  "open_beam",
    "mass_attenuation_cm2_g", "orientation", "declared_empty", "declared_mass_kg", NULL};

bool xray_id_valid(const char *s)
{
    if (!s || !*s || strlen(s) > XRAY_ID_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            return false;
    return true;
}

static void meta__problem(json_t *problems, const char *ptr, const char *member, const char *rule)
{
    char path[128];
    snprintf(path, sizeof path, "%s", ptr);
    cx_jptr_push(path, sizeof path, member);
    cx_problem_add(problems, path, "%s", rule);
}

/* A string member; NULL (with a problem if required) when absent or wrong. */
static const char *meta__str(const json_t *o, const char *ptr, const char *name, bool required,
                             json_t *problems)
{
    const json_t *v = json_object_get(o, name);
    if (!v || (json_is_null(v) && !required)) {
        if (required)
            meta__problem(problems, ptr, name, "is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        meta__problem(problems, ptr, name, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

/* A number in (lo, hi]; NAN (with a problem) when absent or out of range. */
static double meta__num(const json_t *o, const char *ptr, const char *name, bool required,
                        double lo, double hi, const char *rule, json_t *problems)
{
    const json_t *v = json_object_get(o, name);
    if (!v || (json_is_null(v) && !required)) {
        if (required)
            meta__problem(problems, ptr, name, "is required");
        return NAN;
    }
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || !(d > lo && d <= hi)) {
        meta__problem(problems, ptr, name, rule);
        return NAN;
    }
    return d;
}

static void meta__ids(const json_t *o, const char *ptr, xray_meta *m, json_t *problems)
{
    const char *s = meta__str(o, ptr, "scan_id", true, problems);
    if (s && !xray_id_valid(s))
        meta__problem(problems, ptr, "scan_id", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    else if (s)
        snprintf(m->scan_id, sizeof m->scan_id, "%s", s);
    s = meta__str(o, ptr, "container", true, problems);
    if (s && !decl_container_valid(s))
        meta__problem(problems, ptr, "container",
                      "must be an ISO 6346 container number with a correct check digit");
    else if (s)
        snprintf(m->container, sizeof m->container, "%s", s);
    s = meta__str(o, ptr, "declaration", false, problems);
    if (s && !xray_id_valid(s))
        meta__problem(problems, ptr, "declaration", "must be a declaration id (1 to 64 of "
                                                    "A-Z a-z 0-9 . _ : -)");
    else if (s)
        snprintf(m->declaration, sizeof m->declaration, "%s", s);
    s = meta__str(o, ptr, "time", true, problems);
    if (s && (strlen(s) >= sizeof m->time || cx_rfc3339_parse(s, &m->time_us) != CX_OK))
        meta__problem(problems, ptr, "time", "must be an RFC 3339 date-time with a zone");
    else if (s)
        snprintf(m->time, sizeof m->time, "%s", s);
    s = meta__str(o, ptr, "scanner", true, problems);
    if (s && !xray_id_valid(s))
        meta__problem(problems, ptr, "scanner", "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
    else if (s)
        snprintf(m->scanner, sizeof m->scanner, "%s", s);
}

static void meta__declared(const json_t *o, const char *ptr, xray_meta *m, json_t *problems)
{
    const json_t *v = json_object_get(o, "declared_empty");
    if (v && !json_is_null(v)) {
        if (json_is_boolean(v))
            m->declared_empty = json_is_true(v);
        else
            meta__problem(problems, ptr, "declared_empty", "must be true or false");
    }
    v = json_object_get(o, "declared_mass_kg");
    if (v && !json_is_null(v)) {
        double d = json_number_value(v);
        if (json_is_number(v) && isfinite(d) && d >= 0 && d <= 1e6)
            m->declared_mass_kg = d;
        else
            meta__problem(problems, ptr, "declared_mass_kg", "must be a number from 0 to 1000000");
    }
}

bool xray_meta_parse(const json_t *obj, const char *ptr, bool strict, xray_meta *out,
                     json_t *problems, json_t *unknown)
{
    memset(out, 0, sizeof *out);
    out->declared_empty = -1;
    out->declared_mass_kg = NAN;
    size_t before = json_array_size(problems);
    if (!json_is_object(obj)) {
        cx_problem_add(problems, ptr, "the sidecar must be a JSON object");
        return false;
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        bool known = false;
        for (size_t i = 0; meta__known[i] && !known; i++)
            known = strcmp(key, meta__known[i]) == 0;
        if (known)
            continue;
        if (strict)
            meta__problem(problems, ptr, key, "is not a sidecar member");
        else if (unknown)
            json_array_append_new(unknown, json_string(key));
    }
    meta__ids(obj, ptr, out, problems);
    out->pixel_mm_x = meta__num(obj, ptr, "pixel_mm_x", true, 0.1, 100,
                                "must be a number of millimetres above 0.1 and at most 100",
                                problems);
    out->pixel_mm_y = meta__num(obj, ptr, "pixel_mm_y", true, 0.1, 100,
                                "must be a number of millimetres above 0.1 and at most 100",
                                problems);
    out->open_beam = meta__num(obj, ptr, "open_beam", true, 1, 65535,
                               "must be a detector value above 1 and at most 65535", problems);
    out->mu = meta__num(obj, ptr, "mass_attenuation_cm2_g", true, 0, 100,
                        "must be a number of cm²/g above 0 and at most 100", problems);
    const char *o = meta__str(obj, ptr, "orientation", true, problems);
    if (o && strcmp(o, "door_left") != 0 && strcmp(o, "door_right") != 0)
        meta__problem(problems, ptr, "orientation", "must be door_left or door_right");
    out->door_right = o && strcmp(o, "door_right") == 0;
    meta__declared(obj, ptr, out, problems);
    return json_array_size(problems) == before;
}

json_t *xray_meta_json(const xray_meta *m)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:s}", "scan_id", m->scan_id,
                          "container", m->container, "time", m->time, "scanner", m->scanner,
                          "pixel_mm_x", m->pixel_mm_x, "pixel_mm_y", m->pixel_mm_y, "open_beam",
                          m->open_beam, "mass_attenuation_cm2_g", m->mu, "orientation",
                          m->door_right ? "door_right" : "door_left");
    if (o && m->declaration[0])
        json_object_set_new(o, "declaration", json_string(m->declaration));
    if (o && m->declared_empty >= 0)
        json_object_set_new(o, "declared_empty", json_boolean(m->declared_empty));
    if (o && !isnan(m->declared_mass_kg))
        json_object_set_new(o, "declared_mass_kg", json_real(m->declared_mass_kg));
    return o;
}
