/* Thresholds of the drone rules and the registry of known drones. */
#include "drones_int.h"

#include <stdlib.h>
#include <string.h>

#define CFG_I(n, lo, hi, u) CX_CONF_INT(drones_config, n, lo, hi, u)
#define CFG_R(n, lo, hi, u) CX_CONF_REAL(drones_config, n, lo, hi, u)

static const cx_conf_field cfg_fields[] = {
    CFG_R(drone_drop_zone_m, 0, 1e6, "metres"),
    CFG_R(drone_drop_height_m, 0, 10000, "metres"),
    CFG_R(drone_hover_mps, 0, 100, "m/s"),
    CFG_I(drone_hover_s, 1, 86400, "seconds"),
    CFG_R(drone_max_mps, 1, 10000, "m/s"),
    CFG_R(drone_spoof_min_m, 0, 1e6, "metres"),
    CFG_R(drone_pilot_jump_m, 1, 1e7, "metres"),
    CFG_I(drone_pilot_jump_s, 1, 86400, "seconds"),
    CFG_I(drone_spoof_episode_s, 0, 86400, "seconds"),
    CFG_R(drone_crossing_margin_m, 0, 10000, "metres"),
    CFG_I(drone_gap_s, 1, 86400, "seconds"),
    CFG_I(drone_flight_gap_s, 1, 7 * 86400, "seconds"),
    CFG_I(drone_time_skew_s, 0, 1800, "seconds"),
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
    return cx_conf_apply(c, cfg_fields, NCFG, obj, problems);
}

cx_err drones_config_load(drones_config *c, const char *path, char *err, size_t errlen)
{
    return cx_conf_load(c, cfg_fields, NCFG, path, err, errlen);
}

json_t *drones_config_json(const drones_config *c)
{
    return cx_conf_json(c, cfg_fields, NCFG);
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
