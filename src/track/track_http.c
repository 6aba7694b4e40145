/* The HTTP API of the track module: helpers its resource files share, the
 * live positions, dead letters, thresholds, metrics and the route table.
 * Each resource has a file: devices.c, zones.c, consignments.c, replay.c,
 * telemetry.c (with Traccar/OsmAnd). docs/track.md has every shape. */
#include "track_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers the resource files share ------------------------------------------------- */

json_t *track__api_parse(http_req *r)
{
    return http_body_json(r);
}

void track__api_problems(http_req *r, const char *code, const char *what, json_t *problems)
{
    char m[160];
    size_t n = json_array_size(problems);
    snprintf(m, sizeof m, "the %s has %zu problem%s", what, n, n == 1 ? "" : "s");
    http_reply_error(r, 400, code, m, problems);
}

bool track__api_submit(track_service *t, http_req *r, store_job *job)
{
    http_defer(r);
    if (store_submit(t->store, job) == CX_OK)
        return true;
    http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
    http_resume(r);
    return false;
}

void track__api_unavailable(http_req *r)
{
    http_reply_error(r, 503, "unavailable", "the database is not available; retry", NULL);
}

void track__api_page(http_req *r, sqlite3_stmt *st, const http_page *page, track_item_fn item,
                     void *ctx)
{
    if (!st) {
        track__api_unavailable(r);
        return;
    }
    sqlite3_bind_int64(st, 1, page->after);
    sqlite3_bind_int64(st, 2, page->limit + 1);
    http_pager pg;
    http_pager_init(&pg, page->limit, HTTP_PAGE_BUDGET);
    int64_t last = 0;
    while (store_row(st, &pg.out) && http_pager_item(&pg)) {
        last = sqlite3_column_int64(st, 0);
        /* a failed append is in the buffer already (it stays the error);
         * CX_EINVAL otherwise is a row this module wrote that does not read back */
        cx_err e = item(ctx, st, &pg.out);
        http_pager_fail(&pg, e == CX_EINVAL ? CX_EPARSE : e);
    }
    sqlite3_reset(st);
    http_pager_reply_after(&pg, r, last); /* or the page's error */
}

/* ---- positions, dead letters, thresholds ---------------------------------------------- */

static void h_positions(http_req *r, void *ctx)
{
    track_service *t = ctx;
    http_page page;
    if (!http_allow(r, TRACK_READERS, "read positions") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100000, 100000, &page))
        return;
    http_pager pg;
    http_pager_init(&pg, page.limit, (size_t)48 << 20);
    int64_t next = 0;
    track__positions_page(t->positions, http_principal(r), &page, &pg, &next);
    http_pager_reply_after(&pg, r, next);
}

static void h_positions_stream(http_req *r, void *ctx)
{
    track_service *t = ctx;
    if (!http_allow(r, TRACK_READERS, "read positions"))
        return;
    track__poshub_serve(t->positions, r);
}

static cx_err api__dead_letter(void *ctx, sqlite3_stmt *st, cx_buf *out)
{
    (void)ctx;
    char tm[32];
    cx_rfc3339_format(sqlite3_column_int64(st, 1), tm);
    const char *dev = (const char *)sqlite3_column_text(st, 5);
    const char *pl = (const char *)sqlite3_column_text(st, 6);
    char last[32];
    cx_rfc3339_format(sqlite3_column_type(st, 8) == SQLITE_NULL ? sqlite3_column_int64(st, 1)
                                                                 : sqlite3_column_int64(st, 8),
                      last);
    json_t *item = json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:I,s:s}", "seq",
                             (json_int_t)sqlite3_column_int64(st, 0), "received_at", tm, "source",
                             (const char *)sqlite3_column_text(st, 2), "reason",
                             (const char *)sqlite3_column_text(st, 3), "message",
                             (const char *)sqlite3_column_text(st, 4), "device",
                             dev ? json_string(dev) : json_null(), "payload",
                             pl ? json_string(pl) : json_null(), "count",
                             (json_int_t)sqlite3_column_int64(st, 7), "last_received_at", last);
    cx_err e = item ? cx_buf_json(out, item) : CX_ENOMEM;
    json_decref(item);
    return e;
}

static void h_dead_letters(http_req *r, void *ctx)
{
    track_service *t = ctx;
    http_page page;
    if (!http_allow_officer(r, "read dead letters") ||
        !http_page_parse(r, HTTP_CURSOR_INT, 100, 1000, &page))
        return;
    const char *reason = http_query(r, "reason");
    if (reason && track__reason_index(reason) == TRACK_R_OTHER && strcmp(reason, "other") != 0) {
        http_bad_query(r, "reason", "must be a dead-letter reason such as malformed_json or "
                                    "unknown_device (docs/track.md)");
        return;
    }
    store_conn *c = store_reader(t->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT seq, received_at, source, reason, message, "
                                         "device, payload, count, last_at FROM "
                                         "track_dead_letters WHERE seq > ?1 "
                                         "AND (?3 IS NULL OR reason = ?3) ORDER BY seq LIMIT ?2")
                         : NULL;
    if (st && reason)
        sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    track__api_page(r, st, &page, api__dead_letter, NULL);
}

static void h_config(http_req *r, void *ctx)
{
    track_service *t = ctx;
    /* Not for carriers either: the thresholds tell how long a truck may stop
     * or leave its corridor before anyone is told. */
    if (!http_allow_officer(r, "read the tracking thresholds"))
        return;
    http_reply_json(r, 200, track_config_json(&t->cfg));
}

/* ---- metrics -------------------------------------------------------------------------- */

static cx_err track__metrics_counters(track_service *t, cx_buf *out)
{
    cx_err e = cx_buf_puts(out, "# HELP customs_track_messages_total Telemetry messages taken "
                                "by the pipeline, by source.\n"
                                "# TYPE customs_track_messages_total counter\n");
    for (int i = 0; e == CX_OK && i < TRACK_SRC__COUNT; i++)
        e = cx_buf_printf(out, "customs_track_messages_total{source=\"%s\"} %llu\n",
                          track_src_names[i], (unsigned long long)atomic_load(&t->m_msgs[i]));
    if (e == CX_OK)
        e = cx_buf_puts(out, "# HELP customs_track_dead_letters_total Messages refused and kept "
                             "as dead letters, by reason.\n"
                             "# TYPE customs_track_dead_letters_total counter\n");
    for (int i = 0; e == CX_OK && i < TRACK_R__COUNT; i++)
        e = cx_buf_printf(out, "customs_track_dead_letters_total{reason=\"%s\"} %llu\n",
                          track_reason_names[i], (unsigned long long)atomic_load(&t->m_dead[i]));
    if (e == CX_OK)
        e = cx_buf_puts(out, "# HELP customs_track_alerts_total Alerts raised, by type and "
                             "severity.\n# TYPE customs_track_alerts_total counter\n");
    for (int a = 0; e == CX_OK && a < TRACK_A__COUNT; a++)
        for (int s = 0; e == CX_OK && s < TRACK_SEV__COUNT; s++) {
            uint64_t v = atomic_load(&t->m_alerts[a][s]);
            if (v)
                e = cx_buf_printf(out,
                                  "customs_track_alerts_total{type=\"%s\",severity=\"%s\"} %llu\n",
                                  track_alert_type_name((track_alert_type)a),
                                  track_severity_name((track_severity)s), (unsigned long long)v);
        }
    if (e == CX_OK)
        e = cx_buf_printf(
            out,
            "# HELP customs_track_positions_stored_total Positions committed.\n"
            "# TYPE customs_track_positions_stored_total counter\n"
            "customs_track_positions_stored_total %llu\n"
            "# HELP customs_track_late_total Messages older than the device's last "
            "(stored, rules skipped).\n# TYPE customs_track_late_total counter\n"
            "customs_track_late_total %llu\n"
            "# HELP customs_track_duplicates_total Messages repeating the device's last "
            "time (QoS 1 redelivery).\n# TYPE customs_track_duplicates_total counter\n"
            "customs_track_duplicates_total %llu\n"
            "# HELP customs_track_batches_total Batches committed; failed ones too.\n"
            "# TYPE customs_track_batches_total counter\n"
            "customs_track_batches_total %llu\n"
            "# HELP customs_track_batches_failed_total Batches whose commit failed.\n"
            "# TYPE customs_track_batches_failed_total counter\n"
            "customs_track_batches_failed_total %llu\n"
            "# HELP customs_track_escalations_total Declarations raised to red by "
            "critical alerts.\n# TYPE customs_track_escalations_total counter\n"
            "customs_track_escalations_total %llu\n"
            "# HELP customs_track_escalations_failed_total Escalations whose lane raise "
            "failed.\n# TYPE customs_track_escalations_failed_total counter\n"
            "customs_track_escalations_failed_total %llu\n"
            "# HELP customs_track_queue_high_water Most entries waiting for the engine.\n"
            "# TYPE customs_track_queue_high_water gauge\n"
            "customs_track_queue_high_water %lld\n"
            "# HELP customs_track_sse_clients Open position streams.\n"
            "# TYPE customs_track_sse_clients gauge\n"
            "customs_track_sse_clients{stream=\"positions\"} %zu\n"
            "# HELP customs_track_corridors_cached Routes whose corridor is kept for "
            "consignments on the same route.\n"
            "# TYPE customs_track_corridors_cached gauge\n"
            "customs_track_corridors_cached %zu\n"
            "# HELP customs_track_corridors_built_total Corridors built from their route "
            "(GEOS buffers).\n"
            "# TYPE customs_track_corridors_built_total counter\n"
            "customs_track_corridors_built_total %llu\n"
            "# HELP customs_track_corridors_read_total Corridors read back from their "
            "stored GeoJSON at start instead of built.\n"
            "# TYPE customs_track_corridors_read_total counter\n"
            "customs_track_corridors_read_total %llu\n",
            (unsigned long long)atomic_load(&t->m_positions),
            (unsigned long long)atomic_load(&t->m_late), (unsigned long long)atomic_load(&t->m_dup),
            (unsigned long long)atomic_load(&t->m_batches),
            (unsigned long long)atomic_load(&t->m_batch_failed),
            (unsigned long long)atomic_load(&t->m_escalations),
            (unsigned long long)atomic_load(&t->m_escalation_failed),
            (long long)atomic_load(&t->m_queue_hwm), track__poshub_clients(t->positions),
            track__corridors_cached(t),
            (unsigned long long)atomic_load(&t->m_corridors_built),
            (unsigned long long)atomic_load(&t->m_corridors_read));
    return e;
}

static void track__metrics(void *ctx, cx_buf *out)
{
    track_service *t = ctx;
    cx_err e = track__metrics_counters(t, out);
    if (e == CX_OK)
        e = cx_buf_puts(out, "# HELP customs_track_commit_seconds From the oldest message of a "
                             "batch arriving to the batch being durable.\n"
                             "# TYPE customs_track_commit_seconds histogram\n");
    uint64_t cum = 0;
    for (int k = 0; e == CX_OK && k < 16; k++) {
        cum += atomic_load(&t->m_lat_hist[k]);
        if (k < 15)
            e = cx_buf_printf(out, "customs_track_commit_seconds_bucket{le=\"%g\"} %llu\n",
                              (double)(1000LL << k) / 1e6, (unsigned long long)cum);
        else
            e = cx_buf_printf(out, "customs_track_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
                              (unsigned long long)cum);
    }
    if (e == CX_OK)
        e = cx_buf_printf(out, "customs_track_commit_seconds_sum %.6f\n"
                               "customs_track_commit_seconds_count %llu\n",
                          (double)atomic_load(&t->m_lat_sum_us) / 1e6,
                          (unsigned long long)atomic_load(&t->m_lat_count));
    if (e == CX_OK && t->mqtt)
        track__mqtt_metrics(t->mqtt, out);
}

/* ---- routes ---------------------------------------------------------------------------- */

cx_err track_routes(track_service *t, http_server *srv)
{
    static const http_route_def routes[] = {
        {"GET", "/v1/telemetry/dead-letters", HTTP_AUTH, h_dead_letters, "limit cursor reason"},
        {"GET", "/v1/positions", HTTP_AUTH, h_positions, "limit cursor"},
        {"GET", "/v1/positions/stream", HTTP_AUTH, h_positions_stream, "interval_ms bbox"},
        {"GET", "/v1/track/config", HTTP_AUTH, h_config, NULL},
    };
    cx_err e = track__device_routes(t, srv);
    if (e == CX_OK)
        e = track__zone_routes(t, srv);
    if (e == CX_OK)
        e = track__consignment_routes(t, srv);
    if (e == CX_OK)
        e = track__replay_routes(t, srv);
    if (e == CX_OK)
        e = track__telemetry_routes(t, srv);
    if (e == CX_OK)
        e = http_routes(srv, routes, sizeof routes / sizeof routes[0], t);
    if (e == CX_OK)
        http_add_metrics(srv, track__metrics, t);
    return e;
}
