/* Fuzz target: tracking thresholds (track_config_apply, reachable from a
 * consignment's "rules" and from --track-config), through the shared
 * cx_conf harness (fuzz_conf.h). */
#include <math.h>

#include "fuzz_conf.h"
#include "track.h"

static bool fz_in_range(const track_config *c)
{
    return c->heartbeat_s >= 1 && c->zone_debounce_s >= 0 && isfinite(c->jump_max_kmh) &&
           c->jump_max_kmh >= 1;
}

FZ_CONF_TARGET(track_config, track_config_defaults, track_config_apply, track_config_json,
               fz_in_range)
