/* Thresholds of the drone rules and the registry of known drones. */
#include "drones_int.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    size_t off;
    bool real;
    double lo, hi;
} cfg_field;

#define CFG_I(n, lo, hi) {#n, offsetof(drones_config, n), false, lo, hi}
#define CFG_R(n, lo, hi) {#n, offsetof(drones_config, n), true, lo, hi}

static const cfg_field cfg_fields[] = {
    CFG_R(drone_drop_zone_m, 0, 1e6),        CFG_R(drone_drop_height_m, 0, 10000),
    CFG_R(drone_hover_mps, 0, 100),          CFG_I(drone_hover_s, 1, 86400),
    CFG_R(drone_max_mps, 1, 10000),          CFG_R(drone_spoof_min_m, 0, 1e6),
    CFG_R(drone_pilot_jump_m, 1, 1e7),       CFG_I(drone_pilot_jump_s, 1, 86400),
    CFG_I(drone_spoof_episode_s, 0, 86400),  CFG_R(drone_crossing_margin_m, 0, 10000),
    CFG_I(drone_gap_s, 1, 86400),            CFG_I(drone_flight_gap_s, 1, 7 * 86400),
    CFG_I(drone_time_skew_s, 0, 1800),
};
#define NCFG (sizeof cfg_fields / sizeof cfg_fields[0])

void drones_config_defaults(drones_config *c)
{
    *c = (drones_config){
        .drone_drop_zone_m = 5000,
        .drone_drop_height_m = 30,
        .drone_hover_mps = 1,
        .drone_hover_s = 20,
        .drone_max_mps = 100,
        .drone_spoof_min_m = 200,
        .drone_pilot_jump_m = 5000,
        .drone_pilot_jump_s = 10,
        .drone_spoof_episode_s = 300,
        .drone_crossing_margin_m = 10,
        .drone_gap_s = 10,
        .drone_flight_gap_s = 600,
        .drone_time_skew_s = 300,
    };
}

bool drones_config_apply(drones_config *c, const json_t *obj, json_t *problems)
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
        const cfg_field *f = NULL;
        for (size_t i = 0; i < NCFG && !f; i++)
            if (strcmp(cfg_fields[i].name, key) == 0)
                f = &cfg_fields[i];
        if (!f) {
            cx_problem_add(problems, ptr, "unknown threshold");
            ok = false;
            continue;
        }
        double d = json_number_value(v);
        if (!json_is_number(v) || (!f->real && !json_is_integer(v)) || !(d >= f->lo) ||
            !(d <= f->hi)) {
            cx_problem_add(problems, ptr, "must be %s from %g to %g",
                           f->real ? "a number" : "an integer", f->lo, f->hi);
            ok = false;
            continue;
        }
        if (f->real)
            *(double *)((char *)c + f->off) = d;
        else
            *(int64_t *)((char *)c + f->off) = (int64_t)json_integer_value(v);
    }
    return ok;
}

cx_err drones_config_load(drones_config *c, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        return CX_EPARSE;
    }
    json_t *problems = json_array();
    bool ok = drones_config_apply(c, j, problems);
    if (!ok) {
        json_t *p = json_array_get(problems, 0);
        snprintf(err, errlen, "%s: %s: %s", path,
                 json_string_value(json_object_get(p, "path")),
                 json_string_value(json_object_get(p, "message")));
    }
    json_decref(problems);
    json_decref(j);
    return ok ? CX_OK : CX_EINVAL;
}

json_t *drones_config_json(const drones_config *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NCFG; i++) {
        const cfg_field *f = &cfg_fields[i];
        const char *p = (const char *)c + f->off;
        json_object_set_new(o, f->name, f->real ? drones__num(*(const double *)p)
                                                : json_integer(*(const int64_t *)p));
    }
    return o;
}

/* ---- registry -------------------------------------------------------------------------- */

struct drones_registry {
    drones_map uas, ops; /* id -> int64_t *last valid day */
    size_t entries;
};

drones_registry *drones_registry_new(void)
{
    drones_registry *r = calloc(1, sizeof *r);
    if (r) {
        drones__map_init(&r->uas);
        drones__map_init(&r->ops);
    }
    return r;
}

static void reg__free_val(void *ctx, void *val)
{
    free(val);
}

void drones_registry_free(drones_registry *r)
{
    if (!r)
        return;
    drones__map_each(&r->uas, reg__free_val, NULL);
    drones__map_each(&r->ops, reg__free_val, NULL);
    drones__map_free(&r->uas);
    drones__map_free(&r->ops);
    free(r);
}

/* The latest validity of any entry naming the id wins. */
static cx_err reg__put(drones_map *m, const char *id, int64_t until)
{
    if (!id || !*id)
        return CX_OK;
    int64_t *v = drones__map_get(m, id, strlen(id));
    if (v) {
        if (until > *v)
            *v = until;
        return CX_OK;
    }
    v = malloc(sizeof *v);
    if (!v)
        return CX_ENOMEM;
    *v = until;
    cx_err e = drones__map_put(m, id, strlen(id), v);
    if (e)
        free(v);
    return e;
}

cx_err drones_registry_add(drones_registry *r, const char *uas_id, const char *operator_id,
                           int64_t valid_until_days)
{
    cx_err e = reg__put(&r->uas, uas_id, valid_until_days);
    if (!e)
        e = reg__put(&r->ops, operator_id, valid_until_days);
    if (!e)
        r->entries++;
    return e;
}

size_t drones_registry_size(const drones_registry *r)
{
    return r ? r->entries : 0;
}

static bool reg__valid(const drones_map *m, const char *id, int64_t at_us)
{
    if (!id || !*id)
        return false;
    const int64_t *v = drones__map_get(m, id, strlen(id));
    int64_t day = at_us >= 0 ? at_us / 86400000000LL : (at_us + 1) / 86400000000LL - 1;
    return v && day <= *v;
}

bool drones_registry_has_uas(const drones_registry *r, const char *uas_id, int64_t at_us)
{
    return r && reg__valid(&r->uas, uas_id, at_us);
}

bool drones_registry_has_operator(const drones_registry *r, const char *op_id, int64_t at_us)
{
    return r && reg__valid(&r->ops, op_id, at_us);
}
