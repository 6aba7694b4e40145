/* Drone alerts through the shared alerting door (alert.h): raised inside
 * the batch's writer job, so an alert is stored with the observations that
 * caused it and reaches the stream only once they are durable. */
#include "drones_svc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

cx_err drones__alert_register(alert_service *a)
{
    static const char *const kinds[] = {"drone", NULL};
    const char *types[DRONES_A__COUNT + 1] = {NULL};
    for (int t = 0; t < DRONES_A__COUNT; t++)
        types[t] = drones_alert_type_name((drones_alert_type)t);
    return alert_register(a, kinds, types);
}

static alert_severity alerts__sev(drones_severity s)
{
    return s == DRONES_SEV_CRITICAL ? ALERT_CRITICAL
           : s == DRONES_SEV_WARNING ? ALERT_WARNING
                                     : ALERT_INFO;
}

static cx_err alerts__one(store_conn *w, alert_service *as, const dalert_row *r)
{
    json_t *detail = json_loads(r->detail, 0, NULL);
    if (!detail)
        return CX_ENOMEM;
    const char *type = drones_alert_type_name(r->type);
    cx_err e = CX_ENOTFOUND;
    /* the drop pattern that turned critical: the warning raised earlier
     * becomes critical, one episode, one alert */
    if (r->escalation)
        e = alert_escalate_in(as, w, "drone", r->drone, type, alerts__sev(r->sev), detail, NULL);
    if (e == CX_ENOTFOUND) {
        alert_new n = {.type = type, .severity = alerts__sev(r->sev),
                       .time_ms = r->time_us / 1000, .subject_kind = "drone",
                       .subject_id = r->drone, .drone = r->drone, .lat = r->lat, .lon = r->lon,
                       .detail = detail};
        if (!isfinite(n.lat) || !isfinite(n.lon))
            n.lat = n.lon = NAN;
        e = alert_raise_in(as, w, &n, NULL);
    }
    json_decref(detail);
    if (e == CX_EINVAL) { /* not an alert the door accepts: the observations still count */
        cx_log(CX_LOG_ERROR, "drones: alert %s for %s refused by the alert service", type,
               r->drone);
        return CX_OK;
    }
    return e;
}

cx_err drones__raise_alerts(store_conn *w, dbatch *b)
{
    cx_err e = CX_OK;
    for (size_t i = 0; b->door && e == CX_OK && i < b->nalerts; i++)
        e = alerts__one(w, b->door, &b->alerts[i]);
    return e;
}
