/* The X-ray service: a scan comes in (xray_scans_post, whatever carried
 * it), is checked, analysed, stored (image by hash, then its row in one
 * job with the lane raises of its findings), and answered. Also the
 * declaration hooks: the release gate and the "xray" member. */
#include "xray_svc.h"

#include "auth.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An analysis waits at most this long for a free slot, and only so many
 * wait at once (each holds an HTTP worker): the rest get 503 busy at once,
 * so uploads never starve the other routes of workers. */
#define SLOT_WAIT_S 10
#define SLOT_WAITERS_PER_SLOT 2

/* ---- the slots: a bounded number of analyses at once ---------------------------------- */

static bool svc__slot_take(xray_service *x)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SLOT_WAIT_S;
    pthread_mutex_lock(&x->lock);
    bool ok = x->running < x->cfg.max_concurrent;
    if (!ok && x->waiting < x->cfg.max_concurrent * SLOT_WAITERS_PER_SLOT) {
        x->waiting++;
        int rc = 0;
        while (x->running >= x->cfg.max_concurrent && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&x->freed, &x->lock, &until);
        x->waiting--;
        ok = x->running < x->cfg.max_concurrent;
    }
    if (ok)
        x->running++;
    pthread_mutex_unlock(&x->lock);
    return ok;
}

static void svc__slot_give(xray_service *x)
{
    pthread_mutex_lock(&x->lock);
    x->running--;
    pthread_cond_signal(&x->freed);
    pthread_mutex_unlock(&x->lock);
}

/* ---- the ingest -------------------------------------------------------------------------- */

typedef struct {
    xray_service *x;
    xray_row row;
    int64_t decl_seq;
    json_t *raises;           /* [{"lane","reason"}] */
    const xray_result *res;   /* its findings become alerts */
    const xray_meta *meta;
    bool existed;             /* the very same scan was stored before */
} ingest_job;

/* The kinds and types of alerts xray raises (alert_register): one type per
 * finding rule that can be of warning or critical severity — the scan-wide
 * rules and the region kinds (a flagged region is a finding of its kind). */
static const char *const alert_kinds[] = {"scan", NULL};
static const char *const alert_types[] = {
    "xray_empty_check_failed", "xray_goods_missing",  "xray_mass_mismatch",
    "xray_density_mismatch",   "xray_container_not_found", "xray_dense_object",
    "xray_organic_mass",       "xray_false_wall",     "xray_anomaly",
    NULL};

/* Findings of warning or critical severity as alerts on the scan, in the
 * job that stores it: they commit (and reach the stream) with the row. */
static cx_err ingest__alerts(store_conn *w, const ingest_job *j)
{
    const xray_result *res = j->res;
    const xray_meta *m = j->meta;
    cx_err e = CX_OK;
    for (size_t i = 0; e == CX_OK && i < res->nfindings; i++) {
        const xray_finding *f = &res->findings[i];
        if (f->severity == XRAY_SEV_INFO)
            continue;
        char type[ALERT_NAME_MAX + 1];
        snprintf(type, sizeof type, "xray_%s", f->rule);
        json_t *decls = json_array(), *detail = json_pack(
            "{s:s,s:s,s:s,s:i}", "rule", f->rule, "message", f->message, "scanner", m->scanner,
            "flagged", j->row.flagged);
        if (m->declaration[0])
            json_array_append_new(decls, json_string(m->declaration));
        alert_new n = {
            .type = type,
            .severity = f->severity == XRAY_SEV_CRITICAL ? ALERT_CRITICAL : ALERT_WARNING,
            .time_ms = m->time_us / 1000,
            .subject_kind = "scan",
            .subject_id = m->scan_id,
            .container = m->container,
            .lat = NAN,
            .lon = NAN,
            .declarations = decls,
            .detail = detail,
            .orgs = {j->row.org},
        };
        e = decls && detail ? alert_raise_in(j->x->cfg.alerts, w, &n, NULL) : CX_ENOMEM;
        json_decref(decls);
        json_decref(detail);
    }
    return e;
}

static cx_err ingest__write(store_conn *w, void *arg)
{
    ingest_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT sha256, meta FROM xray_scans WHERE id = ?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->row.id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        j->existed = strcmp((const char *)sqlite3_column_text(st, 0), j->row.sha256) == 0 &&
                     strcmp((const char *)sqlite3_column_text(st, 1), j->row.meta) == 0;
        sqlite3_reset(st);
        return j->existed ? CX_OK : CX_EEXIST;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return CX_EDB;
    cx_err e = xray__row_insert(w, &j->row, j->decl_seq);
    size_t i;
    json_t *r;
    json_array_foreach(j->raises, i, r)
    {
        if (e != CX_OK)
            break;
        e = decl_raise_lane_in(w, j->row.declaration,
                               json_string_value(json_object_get(r, "lane")),
                               json_object_get(r, "reason"));
    }
    if (e == CX_OK && j->x->cfg.alerts)
        e = ingest__alerts(w, j);
    return e;
}

static void svc__problems(http_req *r, const char *code, const char *msg, json_t *problems)
{
    http_reply_error(r, 400, code, msg, problems);
}

/* The sidecar: a DICOS file's own attributes under what the request says. */
static bool svc__meta(const xray_upload *up, json_t *dicos, xray_meta *m, json_t *problems)
{
    json_t *merged = dicos ? json_deep_copy(dicos) : json_object();
    if (json_is_object(up->meta))
        json_object_update(merged, (json_t *)up->meta);
    bool ok = json_is_object(up->meta) || dicos
                  ? xray_meta_parse(merged, "/meta", true, m, problems, NULL)
                  : (cx_problem_add(problems, "/meta", "the sidecar must be a JSON object"), false);
    json_decref(merged);
    return ok;
}

/* Who may post as which scanner: officers and admins for any registered
 * scanner, a device key only for the scanner it is bound to. */
static bool svc__scanner_ok(xray_service *x, http_req *r, const cx_principal *who,
                            const xray_meta *m)
{
    store_conn *c = store_reader(x->store);
    xray_scanner sc;
    if (who->role == CX_ROLE_DEVICE) {
        cx_err e = c ? xray__scanner_get(c, NULL, who->key_id, &sc) : CX_EDB;
        if (e == CX_ENOTFOUND) {
            http_reply_error(r, 403, "forbidden", "this device key is not bound to a scanner",
                             NULL);
            return false;
        }
        if (e == CX_OK && strcmp(sc.id, m->scanner) != 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "this device key may only post scans as scanner %s", sc.id);
            http_reply_error1(r, 403, "forbidden", msg, "/meta/scanner", msg);
            return false;
        }
        if (e != CX_OK) {
            http_reply_error(r, 503, "unavailable", "the scanner could not be checked; retry",
                             NULL);
            return false;
        }
        return true;
    }
    cx_err e = c ? xray__scanner_get(c, m->scanner, 0, &sc) : CX_EDB;
    if (e == CX_ENOTFOUND)
        http_reply_error1(r, 400, "invalid_scan", "unknown scanner", "/meta/scanner",
                          "is not a registered scanner (POST /v1/xray/scanners)");
    else if (e != CX_OK)
        http_reply_error(r, 503, "unavailable", "the scanner could not be checked; retry", NULL);
    return e == CX_OK;
}

/* What was declared: the declaration when it lists only this container,
 * else the sidecar. */
static bool svc__declared(xray_service *x, http_req *r, const xray_meta *m, xray_declared *d,
                          int64_t *decl_seq)
{
    *d = (xray_declared){.empty = m->declared_empty, .mass_kg = m->declared_mass_kg,
                         .mass_tolerance = x->cfg.mass_tolerance};
    *decl_seq = 0;
    if (!m->declaration[0])
        return true;
    xray_decl_view v;
    char msg[200] = "";
    store_conn *c = store_reader(x->store);
    cx_err e = !x->decl ? CX_ENOTFOUND
               : c      ? xray__declaration(c, x->decl, m->declaration, m->container, &v, msg,
                                            sizeof msg)
                        : CX_EDB;
    if (e == CX_ENOTFOUND || e == CX_EINVAL) {
        http_reply_error1(r, 400, "invalid_scan", "the scan names a declaration it cannot join",
                          "/meta/declaration",
                          e == CX_EINVAL ? msg : "is not the id of a declaration");
        return false;
    }
    if (e != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the declaration could not be read; retry", NULL);
        return false;
    }
    *decl_seq = v.seq;
    if (v.single_container) {
        d->empty = v.empty;
        d->mass_kg = v.mass_kg;
        memcpy(d->hs_chapters, v.chapters, sizeof v.chapters);
        d->nchapters = v.nchapters;
    }
    return true;
}

/* Findings that raise the lane: critical → red, warning → yellow. */
static json_t *svc__raises(const xray_result *res, const char *scan_id)
{
    json_t *out = json_array();
    for (size_t i = 0; i < res->nfindings; i++) {
        const xray_finding *f = &res->findings[i];
        if (f->severity == XRAY_SEV_INFO)
            continue;
        char feature[48];
        snprintf(feature, sizeof feature, "xray.%s", f->rule);
        json_array_append_new(
            out, json_pack("{s:s,s:{s:s,s:i,s:s,s:s}}", "lane",
                           f->severity == XRAY_SEV_CRITICAL ? "red" : "yellow", "reason",
                           "feature", feature, "contribution", 1, "detail", f->message, "scan",
                           scan_id));
    }
    return out;
}

static void svc__fill_row(xray_row *row, const xray_meta *m, const xray_image *im,
                          xray_format fmt, size_t len, const cx_principal *who)
{
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", m->scan_id);
    snprintf(row->format, sizeof row->format, "%s", xray_format_name(fmt));
    row->width = (int)im->w;
    row->height = (int)im->h;
    row->bytes = (int64_t)len;
    snprintf(row->scanner, sizeof row->scanner, "%s", m->scanner);
    snprintf(row->container, sizeof row->container, "%s", m->container);
    snprintf(row->declaration, sizeof row->declaration, "%s", m->declaration);
    snprintf(row->time, sizeof row->time, "%s", m->time);
    snprintf(row->org, sizeof row->org, "%s", who->org);
    snprintf(row->role, sizeof row->role, "%s", cx_role_name(who->role));
    row->key_id = who->key_id;
    cx_rfc3339_format(cx_now_us(), row->received_at);
}

/* Analyses (within a slot) and stores; replies to r. */
static void svc__store(xray_service *x, http_req *r, const cx_principal *who, const xray_meta *m,
                       const xray_declared *d, int64_t decl_seq, const xray_upload *up,
                       const xray_image *im)
{
    if (!svc__slot_take(x)) {
        http_reply_header(r, "Retry-After", "10");
        http_reply_error(r, 503, "busy", "every analysis slot is taken; retry shortly", NULL);
        return;
    }
    int64_t t0 = cx_mono_us();
    xray_result *res = NULL;
    cx_err e = xray_analyze(im, m, d, &res);
    x->analysis_us += (unsigned long long)(cx_mono_us() - t0);
    x->analyses++;
    svc__slot_give(x);
    if (e != CX_OK) {
        http_reply_error(r, 500, "internal", "the analysis failed", NULL);
        return;
    }
    ingest_job j = {.x = x, .res = res, .meta = m, .decl_seq = decl_seq, .raises = m->declaration[0] ? svc__raises(res, m->scan_id)
                                                                      : json_array()};
    svc__fill_row(&j.row, m, im, xray_sniff(up->image, up->len), up->len, who);
    xray__sha256_hex(up->image, up->len, j.row.sha256);
    json_t *mj = xray_meta_json(m), *aj = xray_result_json(res);
    j.row.meta = mj ? cx_json_dump(mj, NULL) : NULL;
    /* as `customs xray analyze` prints it: the figures are rounded (result.c) */
    j.row.analysis = aj ? json_dumps(aj, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(mj);
    json_decref(aj);
    for (size_t i = 0; i < res->nregions; i++)
        j.row.flagged += res->regions[i].score >= XRAY_FINDING_SCORE;
    e = j.row.meta && j.row.analysis ? CX_OK : CX_ENOMEM;
    if (e == CX_OK)
        e = xray__blob_put(x->blob_dir, j.row.sha256, up->image, up->len);
    if (e == CX_OK)
        e = store_write(x->store, ingest__write, &j);
    cx_buf out;
    cx_buf_init(&out, (size_t)4 << 20);
    store_conn *c = e == CX_OK ? store_reader(x->store) : NULL;
    if (e == CX_OK && j.existed) {
        xray_row old;
        x->duplicates++;
        e = c ? xray__row_get(c, j.row.id, &old) : CX_EDB;
        if (e == CX_OK)
            e = xray__scan_json(c, &old, &out);
        xray__row_clear(&old);
    } else if (e == CX_OK) {
        x->scans++;
        x->raises += json_array_size(j.raises);
        e = c ? xray__scan_json(c, &j.row, &out) : CX_EDB;
    }
    if (e == CX_OK) {
        size_t n;
        char *text = cx_buf_steal(&out, &n);
        char loc[128];
        snprintf(loc, sizeof loc, "/v1/xray/scans/%s", m->scan_id);
        http_reply_header(r, "Location", loc);
        http_reply(r, j.existed ? 200 : 201, "application/json", text, n);
    } else if (e == CX_EEXIST) {
        x->rejected++;
        char msg[160];
        snprintf(msg, sizeof msg, "scan %s is already stored with other content", m->scan_id);
        http_reply_error1(r, 409, "duplicate_scan", msg, "/meta/scan_id",
                          "is already the id of another scan (scans are never changed)");
    } else {
        http_reply_error(r, 503, "unavailable", "the scan could not be stored; retry", NULL);
    }
    cx_buf_free(&out);
    json_decref(j.raises);
    xray__row_clear(&j.row);
    xray_result_free(res);
}

void xray_scans_post(xray_service *x, http_req *r, const xray_upload *up)
{
    if (!http_allow(r, CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_DEVICE), "post scans"))
        return;
    const cx_principal *who = http_principal(r);
    char err[256] = "";
    xray_image *im = NULL;
    json_t *dicos = NULL, *problems = json_array();
    const char *field = up->image_field ? up->image_field : "/image";
    cx_err e = xray_read(up->image, up->len, &im, &dicos, err, sizeof err);
    if (e != CX_OK) {
        x->rejected++;
        http_reply_error1(r, 400, "invalid_image", "the image cannot be read", field, err);
    } else {
        xray_meta m;
        xray_declared d;
        int64_t decl_seq;
        if (!svc__meta(up, dicos, &m, problems)) {
            x->rejected++;
            svc__problems(r, "invalid_scan", "the sidecar is not valid", problems);
            problems = NULL;
        } else if (svc__scanner_ok(x, r, who, &m) && svc__declared(x, r, &m, &d, &decl_seq)) {
            svc__store(x, r, who, &m, &d, decl_seq, up, im);
        }
    }
    json_decref(problems);
    json_decref(dicos);
    xray_image_free(im);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

xray_service *xray_service_new(store *s, decl_service *decl, const xray_config *cfg, char *err,
                               size_t errlen)
{
    xray_service *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    x->store = s;
    x->decl = decl;
    if (cfg)
        x->cfg = *cfg;
    if (!x->cfg.max_concurrent)
        x->cfg.max_concurrent = 2;
    if (!(x->cfg.mass_tolerance > 0))
        x->cfg.mass_tolerance = 0.25;
    if (x->cfg.blob_dir)
        snprintf(x->blob_dir, sizeof x->blob_dir, "%s", x->cfg.blob_dir);
    else
        snprintf(x->blob_dir, sizeof x->blob_dir, "%s.xray", store_path(s));
    x->cfg.blob_dir = NULL; /* the copy above is the one used */
    if (xray__blob_dir_init(x->blob_dir, err, errlen) != CX_OK) {
        free(x);
        return NULL;
    }
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->freed, NULL);
    cx_err e = x->cfg.alerts ? alert_register(x->cfg.alerts, alert_kinds, alert_types) : CX_OK;
    if (e == CX_OK && decl) {
        decl_hooks h = {.name = "xray", .order = XRAY_DECL_ORDER, .decorate = xray__decorate,
                        .ctx = x};
        decl_gate g = {.name = "xray.outcomes", .order = XRAY_GATE_ORDER, .check = xray__gate,
                       .ctx = x};
        e = decl_service_add_hooks(decl, &h);
        if (e == CX_OK)
            e = decl_gate_add(decl, &g);
    }
    if (e != CX_OK) {
        snprintf(err, errlen, "cannot join declarations and alerts: %s", cx_strerror(e));
        xray_service_free(x);
        return NULL;
    }
    return x;
}

void xray_service_free(xray_service *x)
{
    if (!x)
        return;
    pthread_mutex_destroy(&x->lock);
    pthread_cond_destroy(&x->freed);
    free(x);
}
