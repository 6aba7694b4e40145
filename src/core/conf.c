/* Thresholds described by a table of fields: JSON overrides, the file
 * loader and the effective set as JSON (track and drones share it). */
#include "core.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const cx_conf_field *conf__find(const cx_conf_field *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return &f[i];
    return NULL;
}

bool cx_conf_apply(void *c, const cx_conf_field *fields, size_t n, const json_t *obj,
                   json_t *problems)
{
    if (!json_is_object(obj)) {
        cx_problem_add(problems, "", "thresholds are a JSON object");
        return false;
    }
    bool ok = true;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char ptr[96] = "";
        cx_jptr_push(ptr, sizeof ptr, key);
        const cx_conf_field *f = conf__find(fields, n, key);
        if (!f) {
            cx_problem_add(problems, ptr, "unknown threshold");
            ok = false;
            continue;
        }
        double d = json_number_value(v);
        if (!json_is_number(v) || !isfinite(d) || d < f->lo || d > f->hi ||
            (!f->real && d != floor(d))) {
            cx_problem_add(problems, ptr, "must be %s from %g to %g %s",
                           f->real ? "a number" : "a whole number", f->lo, f->hi, f->unit);
            ok = false;
            continue;
        }
        if (f->real)
            *(double *)((char *)c + f->off) = d;
        else
            *(int64_t *)((char *)c + f->off) = (int64_t)d;
    }
    return ok;
}

cx_err cx_conf_load(void *c, const cx_conf_field *f, size_t n, const char *path, char *err,
                    size_t errlen)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "%s: %s (line %d)", path, je.text, je.line);
        return CX_EPARSE;
    }
    json_t *problems = json_array();
    bool ok = cx_conf_apply(c, f, n, j, problems);
    if (!ok) {
        json_t *p = json_array_get(problems, 0);
        snprintf(err, errlen, "%s: %s: %s", path, json_string_value(json_object_get(p, "path")),
                 json_string_value(json_object_get(p, "message")));
    }
    json_decref(problems);
    json_decref(j);
    return ok ? CX_OK : CX_EINVAL;
}

json_t *cx_conf_json(const void *c, const cx_conf_field *f, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        const char *p = (const char *)c + f[i].off;
        json_object_set_new(o, f[i].name,
                            f[i].real ? json_real(*(const double *)p)
                                      : json_integer(*(const int64_t *)p));
    }
    return o;
}
