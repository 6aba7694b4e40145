/* The designs module on the spine: alerts for uploads that match a
 * watchlist, and an item's "design" member checked against its uploaded
 * file and the watchlists when the declaration is stored — findings as risk
 * reasons that raise the lane (docs/designs.md, "On the spine"). */
#include "designs_svc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const spine_types[] = {"design_ipr_match", "design_security_match",
                                          "declared_design_ipr", "declared_design_security",
                                          NULL};

cx_err dsvc__register_alerts(designs_service *d)
{
    return d->cfg.alerts ? alert_register(d->cfg.alerts, NULL, spine_types) : CX_OK;
}

static const char *spine__s(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool spine__security(const json_t *match)
{
    return strcmp(spine__s(match, "watchlist"), "security") == 0;
}

/* The match's members as an alert's detail; built from values, so nothing
 * of the caller's objects changes hands on the writer thread. */
static json_t *spine__detail(const json_t *m)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:f, s:f}", "design_id", spine__s(m, "design_id"),
                     "watchlist", spine__s(m, "watchlist"), "title", spine__s(m, "title"),
                     "holder", spine__s(m, "holder"), "similarity",
                     json_real_value(json_object_get(m, "similarity")), "scale",
                     json_real_value(json_object_get(m, "scale")));
}

static cx_err spine__raise(designs_service *d, store_conn *w, alert_new *n, json_t *detail)
{
    if (!detail)
        return CX_ENOMEM;
    n->detail = detail;
    n->time_ms = cx_now_us() / 1000;
    cx_err e = alert_raise_in(d->cfg.alerts, w, n, NULL);
    json_decref(detail);
    return e;
}

cx_err dsvc__upload_alerts(store_conn *w, const dsvc_upload_job *j)
{
    if (!j->d->cfg.alerts || !j->match_list)
        return CX_OK;
    size_t i;
    const json_t *m;
    cx_err e = CX_OK;
    json_array_foreach(j->match_list, i, m)
    {
        if (e || !json_is_true(json_object_get(m, "match")))
            continue;
        bool sec = spine__security(m);
        json_t *detail = spine__detail(m);
        if (detail) {
            json_object_set_new(detail, "uploaded_by", json_string(j->org));
            if (j->name)
                json_object_set_new(detail, "name", json_string(j->name));
        }
        alert_new n = {.type = sec ? "design_security_match" : "design_ipr_match",
                       .severity = sec ? ALERT_CRITICAL : ALERT_WARNING,
                       .subject_kind = "design", .subject_id = j->file.sha,
                       .lat = NAN, .lon = NAN};
        e = spine__raise(j->d, w, &n, detail);
    }
    return e;
}

/* ---- a declared design --------------------------------------------------------------------- */

typedef struct {
    designs_service *d;
    store_conn *w;
    const char *id; /* the declaration */
    size_t item;    /* 1-based, as officers count */
    const json_t *design;
} spine_item;

static cx_err spine__reason(const spine_item *s, const char *lane, const char *feature,
                            const char *fmt, ...) CX_PRINTF(4, 5);
static cx_err spine__reason(const spine_item *s, const char *lane, const char *feature,
                            const char *fmt, ...)
{
    char detail[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_t *reason = json_pack("{s:s, s:i, s:s}", "feature", feature, "contribution", 1,
                               "detail", detail);
    if (!reason)
        return CX_ENOMEM;
    cx_err e = decl_raise_lane_in(s->w, s->id, lane, reason);
    json_decref(reason);
    return e == CX_ENOTFOUND ? CX_OK : e;
}

static cx_err spine__alert(const spine_item *s, const json_t *m, bool sec)
{
    if (!s->d->cfg.alerts)
        return CX_OK;
    json_t *decls = json_pack("[s]", s->id);
    json_t *detail = spine__detail(m);
    if (detail) {
        json_object_set_new(detail, "item", json_integer((json_int_t)s->item));
        json_object_set_new(detail, "sha256", json_string(spine__s(s->design, "sha256")));
    }
    alert_new n = {.type = sec ? "declared_design_security" : "declared_design_ipr",
                   .severity = sec ? ALERT_CRITICAL : ALERT_WARNING,
                   .subject_kind = "declaration", .subject_id = s->id, .declarations = decls,
                   .lat = NAN, .lon = NAN};
    cx_err e = spine__raise(s->d, s->w, &n, detail);
    json_decref(decls);
    return e;
}

/* Licensed from the holder: declared as a licence, and from that holder. */
static bool spine__licensed(const json_t *design, const char *holder)
{
    const char *rh = spine__s(design, "rights_holder");
    return strcmp(spine__s(design, "licence"), "licence") == 0 && rh &&
           strcasecmp(rh, holder) == 0;
}

/* The declared file against the uploaded one: format and size. */
static cx_err spine__declared_file(const spine_item *s, const char *inspection)
{
    json_error_t je;
    json_t *in = json_loads(inspection, 0, &je);
    const char *fmt = spine__s(in, "format"), *dfmt = spine__s(s->design, "format");
    json_int_t size = json_integer_value(json_object_get(in, "file_size")),
               dsize = json_integer_value(json_object_get(s->design, "file_size"));
    cx_err e = CX_OK;
    if (fmt && (strcmp(fmt, dfmt) != 0 || size != dsize))
        e = spine__reason(s, "yellow", "designs.declared_file",
                          "item %zu declares a %s file of %lld bytes; the uploaded file with "
                          "that hash is a %s file of %lld bytes",
                          s->item, dfmt, (long long)dsize, fmt, (long long)size);
    json_decref(in);
    return e;
}

static cx_err spine__item(spine_item *s)
{
    const char *sha = spine__s(s->design, "sha256");
    designs_fp fp;
    char *insp = NULL;
    cx_err e = dsvc__read_file(s->w, sha, &fp, &insp);
    if (e == CX_ENOTFOUND)
        return spine__reason(s, "yellow", "designs.file_missing",
                             "item %zu's design file %.12s… was not uploaded to POST "
                             "/v1/designs, so it could not be checked",
                             s->item, sha);
    if (e)
        return e;
    e = spine__declared_file(s, insp);
    free(insp);
    json_t *matches = e ? NULL : dsvc__matches(s->d, s->w, &fp, false);
    bool sec_done = false, ipr_done = false;
    size_t i;
    const json_t *m;
    json_array_foreach(matches, i, m)
    {
        if (e || !json_is_true(json_object_get(m, "match")))
            continue;
        const char *holder = spine__s(m, "holder"), *title = spine__s(m, "title");
        double sim = json_real_value(json_object_get(m, "similarity"));
        if (spine__security(m) && !sec_done) {
            sec_done = true;
            /* the reason is read by the trader too: it names no design */
            e = spine__reason(s, "red", "designs.security",
                              "item %zu's design matches an item under security control",
                              s->item);
            if (!e)
                e = spine__alert(s, m, true);
        } else if (!spine__security(m) && !ipr_done && !spine__licensed(s->design, holder)) {
            ipr_done = true;
            e = spine__reason(s, "yellow", "designs.ipr",
                              "item %zu's design matches \"%s\", protected for %s (similarity "
                              "%.2f), and is not declared as licensed from %s",
                              s->item, title, holder, sim, holder);
            if (!e)
                e = spine__alert(s, m, false);
        }
    }
    json_decref(matches);
    return e;
}

static cx_err spine__indexed(void *ctx, store_conn *w, int64_t seq, const json_t *doc)
{
    (void)seq;
    spine_item s = {.d = ctx, .w = w, .id = spine__s(doc, "id")};
    size_t i;
    const json_t *it;
    cx_err e = CX_OK;
    if (!s.id)
        return CX_OK;
    json_array_foreach(json_object_get(doc, "items"), i, it)
    {
        s.design = json_object_get(it, "design");
        s.item = i + 1;
        if (!e && json_is_object(s.design))
            e = spine__item(&s);
    }
    return e;
}

cx_err designs_join(designs_service *d, decl_service *decl)
{
    /* after risk's (the lane it scores is the one raised), before the ledger's */
    decl_hooks h = {.name = "designs", .order = DECL_ORDER_RISK + 50, .indexed = spine__indexed,
                    .ctx = d};
    return decl_service_add_hooks(decl, &h);
}
