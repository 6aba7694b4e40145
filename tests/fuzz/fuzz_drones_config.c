/* Fuzz target: the drone rules' thresholds (drones_config_apply, from
 * --drones-config), through the shared cx_conf harness (fuzz_conf.h). */
#include <math.h>

#include "drones.h"
#include "fuzz_conf.h"

static bool fz_in_range(const drones_config *c)
{
    return c->drone_hover_s >= 1 && c->drone_max_mps >= 1 && isfinite(c->drone_drop_zone_m);
}

FZ_CONF_TARGET(drones_config, drones_config_defaults, drones_config_apply, drones_config_json,
               fz_in_range)
