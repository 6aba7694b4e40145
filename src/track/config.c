/* Thresholds: defaults, JSON overrides, the effective set as JSON (the
 * table below; core's cx_conf does the rest). */
#include "track_int.h"

#define F_I(n, lo, hi, u) CX_CONF_INT(track_config, n, lo, hi, u)
#define F_R(n, lo, hi, u) CX_CONF_REAL(track_config, n, lo, hi, u)

static const cx_conf_field fields[] = {
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
    return cx_conf_apply(c, fields, NFIELDS, obj, problems);
}

cx_err track_config_load(track_config *c, const char *path, char *err, size_t errlen)
{
    return cx_conf_load(c, fields, NFIELDS, path, err, errlen);
}

json_t *track_config_json(const track_config *c)
{
    return cx_conf_json(c, fields, NFIELDS);
}
