/* Searches: identification (1:N in a watchlist) and verification (1:1),
 * every one audited before its answer goes out; capture stations; the
 * verification gate. */
#include "svc_int.h"

#include "auth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void search__candidate(bio_service *b, const bio_hit *h, bool face, bio_candidate *c)
{
    svc_subject *s = svc__by_num(b, (int64_t)h->id);
    memset(c, 0, sizeof *c);
    c->score = face ? round(h->score * 10000) / 10000 : round(h->score * 100) / 100;
    c->finger = face ? -1 : (int)h->position;
    if (!s)
        return;
    snprintf(c->subject, sizeof c->subject, "%s", s->id);
    snprintf(c->kind, sizeof c->kind, "%s", s->kind);
    snprintf(c->source_agency, sizeof c->source_agency, "%s", s->agency);
    snprintf(c->legal_basis, sizeof c->legal_basis, "%s", s->legal_basis);
}

/* The watchlist hit as an alert (raised with the audit record). */
static json_t *search__alert(const char *watchlist, const bio_candidate *top,
                             const bio_context *ctx, alert_new *n)
{
    json_t *d = json_pack("{s:s,s:f,s:s,s:s,s:s}", "watchlist", watchlist, "score", top->score,
                          "purpose", ctx && ctx->purpose ? ctx->purpose : "", "source_agency",
                          top->source_agency, "legal_basis", top->legal_basis);
    if (d && ctx && ctx->who)
        json_object_set_new(d, "key_id", json_integer(ctx->who->key_id));
    *n = (alert_new){.type = "watchlist_hit", .severity = ALERT_CRITICAL,
                     .time_ms = cx_now_us() / 1000, .subject_kind = "biometric_subject",
                     .subject_id = top->subject, .lat = NAN, .lon = NAN, .detail = d};
    return d;
}

cx_err bio_identify(bio_service *b, const char *watchlist, const bio_probe *p,
                    const bio_context *ctx, size_t max, double min_score, bio_candidate *out,
                    size_t *n)
{
    *n = 0;
    if (max == 0)
        max = 10;
    bio_hit *hits = calloc(max, sizeof *hits);
    if (!hits)
        return CX_ENOMEM;
    size_t nh = 0;
    bool face = p->face != NULL;
    cx_err e = CX_OK;
    pthread_rwlock_rdlock(&b->lock);
    svc_watchlist *w = svc__watchlist(b, watchlist, false);
    if (!w) {
        e = CX_ENOTFOUND;
    } else if (face) {
        bio_faces *g = svc__faces(w, p->face->model, p->face->dim, false);
        if (g)
            e = bio_faces_search(g, p->face->v, b->cfg.threads, max, min_score, hits, &nh);
    } else {
        bio_search_opts o = {.threads = b->cfg.threads, .max_results = max,
                             .min_score = min_score};
        e = bio_gallery_search(w->fingers, p->finger, &o, hits, &nh, NULL);
    }
    for (size_t i = 0; !e && i < nh; i++)
        search__candidate(b, &hits[i], face, &out[i]);
    pthread_rwlock_unlock(&b->lock);
    free(hits);
    if (e && e != CX_ENOTFOUND)
        return e;
    *n = e ? 0 : nh;
    /* every attempt is recorded, and an answer goes out only once its
     * audit record is durable */
    bio_audit_rec a = {.action = "identify", .who = ctx ? ctx->who : NULL,
                       .purpose = ctx ? ctx->purpose : NULL, .watchlist = watchlist,
                       .modality = face ? "face" : "finger",
                       .station = ctx ? ctx->station : 0, .candidates = (long)*n,
                       .top_score = *n ? out[0].score : NAN,
                       .subject = *n ? out[0].subject : NULL,
                       .outcome = e ? "no_watchlist" : *n ? "hits" : "no_hits"};
    double thr = face ? b->cfg.face_threshold : b->cfg.threshold;
    alert_new hit;
    json_t *detail = NULL;
    if (!e && *n && out[0].score >= thr && b->cfg.alerts) {
        detail = search__alert(watchlist, &out[0], ctx, &hit);
        a.alerts = b->cfg.alerts;
        a.alert = &hit;
    }
    cx_err ae = bs__audit_write(b->s, &a);
    json_decref(detail);
    if (e || ae) {
        *n = 0;
        return e ? e : ae;
    }
    return CX_OK;
}

/* Who may verify whom: officers and admins anyone; a registered capture
 * station its own organisation's subjects (any organisation's if it was
 * registered so); nobody the subject their own key stands for. */
static cx_err search__may_verify(bio_service *b, const svc_subject *s, const bio_context *ctx,
                                 char *why, size_t whylen)
{
    if (!ctx || !ctx->who)
        return CX_OK; /* the command line: local, trusted */
    const cx_principal *p = ctx->who;
    if (p->subject[0] && strcmp(p->subject, s->id) == 0) {
        snprintf(why, whylen, "a key cannot verify the subject it stands for");
        return CX_EFORBIDDEN;
    }
    if (p->role == CX_ROLE_ADMIN || p->role == CX_ROLE_OFFICER)
        return CX_OK;
    if (p->role != CX_ROLE_DEVICE) {
        snprintf(why, whylen, "verification takes a probe only from a registered capture "
                              "station or an officer");
        return CX_EFORBIDDEN;
    }
    bs_station st;
    cx_err e = bs__station_get(b->s, p->key_id, &st);
    if (e == CX_ENOTFOUND) {
        snprintf(why, whylen, "this device key is not registered as a capture station");
        return CX_EFORBIDDEN;
    }
    if (e)
        return e;
    if (!st.any_org && strcmp(st.org, s->org) != 0) {
        snprintf(why, whylen, "this station may verify only subjects of %s", st.org);
        return CX_EFORBIDDEN;
    }
    return CX_OK;
}

cx_err bio_verify(bio_service *b, const char *subject, const bio_probe *p,
                  const bio_context *ctx, bool *match, double *score, double *threshold,
                  char *why, size_t whylen)
{
    *match = false;
    *score = 0;
    bool face = p->face != NULL;
    *threshold = face ? b->cfg.face_threshold : b->cfg.threshold;
    if (whylen)
        why[0] = '\0';
    pthread_rwlock_rdlock(&b->lock);
    svc_subject *s = svc__by_id(b, subject);
    cx_err e = s ? search__may_verify(b, s, ctx, why, whylen) : CX_ENOTFOUND;
    if (!e) {
        svc_watchlist *w = svc__watchlist(b, s->watchlist, false);
        if (face) {
            bio_faces *g = w ? svc__faces(w, p->face->model, p->face->dim, false) : NULL;
            e = g ? bio_faces_best_of(g, (uint64_t)s->num, p->face->v, score) : CX_ENOTFOUND;
            *score = round(*score * 10000) / 10000;
        } else {
            bio_matcher *m = bio_matcher_new();
            bio_hit h;
            e = !m ? CX_ENOMEM
                   : w ? bio_gallery_best_of(w->fingers, (uint64_t)s->num, p->finger, m, &h)
                       : CX_ENOTFOUND;
            *score = e ? 0 : round(h.score * 100) / 100;
            bio_matcher_free(m);
        }
        if (e == CX_ENOTFOUND) {
            snprintf(why, whylen, "the subject has no %s enrolled",
                     face ? "face descriptor of this model" : "fingerprint template");
            e = CX_ESTATE;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    if (e && e != CX_ENOTFOUND && e != CX_EFORBIDDEN && e != CX_ESTATE)
        return e;
    *match = !e && *score >= *threshold;
    /* refusals are recorded too: who tried to verify whom */
    bio_audit_rec a = {.action = "verify", .who = ctx ? ctx->who : NULL,
                       .purpose = ctx ? ctx->purpose : NULL, .subject = subject,
                       .modality = face ? "face" : "finger", .station = ctx ? ctx->station : 0,
                       .candidates = e ? 0 : 1, .top_score = e ? NAN : *score,
                       .outcome = e == CX_ENOTFOUND   ? "no_subject"
                                  : e == CX_EFORBIDDEN ? "refused"
                                  : e == CX_ESTATE     ? "nothing_enrolled"
                                  : *match             ? "match"
                                                       : "no_match"};
    cx_err ae = bs__audit_write(b->s, &a);
    if (e || ae)
        *match = false;
    return e ? e : ae;
}

/* ---- stations --------------------------------------------------------------------- */

cx_err bio_station_register(bio_service *b, int64_t key_id, const char *name, bool any_org,
                            const cx_principal *by)
{
    cx_principal k;
    cx_err e = auth_key_get(b->s, key_id, &k);
    if (e)
        return e;
    if (k.role != CX_ROLE_DEVICE)
        return CX_EINVAL;
    bs_station st = {.key_id = key_id, .name = name ? name : "", .any_org = any_org,
                     .created_by = by ? by->key_id : 0};
    snprintf(st.org, sizeof st.org, "%s", k.org);
    return bs__station_put(b->s, &st);
}

static bool search__station_json(void *ctx, const bs_station *st)
{
    json_array_append_new(ctx, json_pack("{s:I,s:s,s:s,s:b,s:s}", "key_id",
                                         (json_int_t)st->key_id, "name", st->name, "org",
                                         st->org, "any_org", st->any_org, "created_at",
                                         st->created_at));
    return true;
}

cx_err bio_station_list(bio_service *b, json_t **out)
{
    json_t *items = json_array();
    cx_err e = bs__station_each(b->s, search__station_json, items);
    if (e) {
        json_decref(items);
        return e;
    }
    *out = json_pack("{s:o}", "items", items);
    return CX_OK;
}

