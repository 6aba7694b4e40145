/* Thresholds: defaults, JSON overrides, the effective set as JSON. */
#include "track_int.h"

#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    size_t off;
    bool real;
    double lo, hi;
    const char *unit;
} cfg_field;

#define F_I(n, lo, hi, u) {#n, offsetof(track_config, n), false, lo, hi, u}
#define F_R(n, lo, hi, u) {#n, offsetof(track_config, n), true, lo, hi, u}

static const cfg_field fields[] = {
    F_I(zone_debounce_s, 0, 86400, "seconds"),
    F_I(corridor_grace_s, 0, 86400, "seconds"),
    F_I(corridor_return_s, 0, 86400, "seconds"),
    F_R(corridor_critical_m, 0, 1e7, "metres"),
    F_I(stop_min_s, 1, 7 * 86400, "seconds"),
    F_R(stop_radius_m, 1, 100000, "metres"),
    F_I(signal_loss_s, 10, 30 * 86400, "seconds"),
    F_R(jump_max_kmh, 1, 100000, "km/h"),
    F_R(jump_min_m, 0, 1e7, "metres"),
    F_I(jump_episode_s, 0, 86400, "seconds"),
    F_I(temp_grace_s, 0, 86400, "seconds"),
    F_I(overdue_grace_s, 0, 30 * 86400, "seconds"),
    F_I(future_skew_s, 0, 86400, "seconds"),
    F_I(osmand_future_skew_s, 0, 86400, "seconds"),
    F_I(retention_days, 1, 36500, "days"),
    F_I(thin_interval_s, 1, 86400, "seconds"),
    F_I(dead_letter_days, 1, 36500, "days"),
    F_I(heartbeat_s, 1, 3600, "seconds"),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

void track_config_defaults(track_config *c)
{
    *c = (track_config){
        .zone_debounce_s = 30,
        .corridor_grace_s = 120,
        .corridor_return_s = 60,
        .corridor_critical_m = 10000,
        .stop_min_s = 1200,
        .stop_radius_m = 150,
        .signal_loss_s = 900,
        .jump_max_kmh = 250,
        .jump_min_m = 2000,
        .jump_episode_s = 600,
        .temp_grace_s = 300,
        .overdue_grace_s = 1800,
        .future_skew_s = 300,
        .osmand_future_skew_s = 30,
        .retention_days = 30,
        .thin_interval_s = 300,
        .dead_letter_days = 30,
        .heartbeat_s = 15,
    };
}

bool track_config_apply(track_config *c, const json_t *obj, json_t *problems)
{
    size_t before = json_array_size(problems);
    if (!json_is_object(obj)) {
        track__problem(problems, "", "thresholds are a JSON object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char ptr[96] = "";
        cx_jptr_push(ptr, sizeof ptr, key);
        const cfg_field *f = NULL;
        for (size_t i = 0; i < NFIELDS; i++)
            if (strcmp(fields[i].name, key) == 0)
                f = &fields[i];
        if (!f) {
            track__problem(problems, ptr, "unknown threshold");
            continue;
        }
        double d = json_number_value(v);
        if (!json_is_number(v) || !isfinite(d) || d < f->lo || d > f->hi ||
            (!f->real && d != floor(d))) {
            track__problem(problems, ptr, "must be %s from %g to %g %s",
                           f->real ? "a number" : "a whole number", f->lo, f->hi, f->unit);
            continue;
        }
        if (f->real)
            *(double *)((char *)c + f->off) = d;
        else
            *(int64_t *)((char *)c + f->off) = (int64_t)d;
    }
    return json_array_size(problems) == before;
}

cx_err track_config_load(track_config *c, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "%s: %s (line %d)", path, je.text, je.line);
        return CX_EPARSE;
    }
    json_t *problems = json_array();
    bool ok = track_config_apply(c, j, problems);
    if (!ok) {
        json_t *p = json_array_get(problems, 0);
        snprintf(err, errlen, "%s: %s: %s", path, json_string_value(json_object_get(p, "path")),
                 json_string_value(json_object_get(p, "message")));
    }
    json_decref(problems);
    json_decref(j);
    return ok ? CX_OK : CX_EINVAL;
}

json_t *track_config_json(const track_config *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NFIELDS; i++) {
        const cfg_field *f = &fields[i];
        if (f->real)
            json_object_set_new(o, f->name, json_real(*(const double *)((const char *)c + f->off)));
        else
            json_object_set_new(o, f->name,
                                json_integer(*(const int64_t *)((const char *)c + f->off)));
    }
    return o;
}
