/* Changes: subjects, enrolment of templates and descriptors, erasure and
 * expiry. Each change is serialised (b->change), written durably first and
 * only then reflected in memory. */
#include "svc_int.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ops__text_ok(const char *s)
{
    size_t chars;
    if (!s)
        return true;
    size_t n = strlen(s);
    if (!cx_utf8_count(s, n, &chars) || chars > BIO_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return false;
    return true;
}

bool bio_subject_check(const bio_subject *s, json_t *problems)
{
    bool bad = false;
#define OPS__BAD(path, ...)                                                                   \
    do {                                                                                      \
        bad = true;                                                                           \
        cx_problem_add(problems, path, __VA_ARGS__);                                          \
    } while (0)
    if (!bio_id_valid(s->id))
        OPS__BAD("/id", "must be 1 to %d of A-Z a-z 0-9 . _ : -", BIO_ID_MAX);
    if (!bio_kind_valid(s->kind))
        OPS__BAD("/kind", "must be one of operator, broker, forwarder, logistics, watchlist");
    if (!s->org || !cx_org_valid(s->org))
        OPS__BAD("/org", "must be 1 to 64 of A-Z a-z 0-9 . _ -");
    if (!bio_id_valid(s->watchlist))
        OPS__BAD("/watchlist", "must be 1 to %d of A-Z a-z 0-9 . _ : -", BIO_ID_MAX);
    if (!ops__text_ok(s->name))
        OPS__BAD("/name", "must be at most %d characters without control characters",
                 BIO_TEXT_MAX);
    if (!ops__text_ok(s->source_agency))
        OPS__BAD("/source_agency", "must be at most %d characters without control characters",
                 BIO_TEXT_MAX);
    if (!ops__text_ok(s->legal_basis))
        OPS__BAD("/legal_basis", "must be at most %d characters without control characters",
                 BIO_TEXT_MAX);
    if (s->expires_us && s->expires_us <= cx_now_us())
        OPS__BAD("/expires", "must be in the future");
#undef OPS__BAD
    return !bad;
}

cx_err bio_subject_create(bio_service *b, const bio_subject *s, const bio_context *ctx,
                          json_t *problems)
{
    if (!bio_subject_check(s, problems))
        return CX_EINVAL;
    bs_subject row = {0};
    snprintf(row.id, sizeof row.id, "%s", s->id);
    snprintf(row.kind, sizeof row.kind, "%s", s->kind);
    snprintf(row.org, sizeof row.org, "%s", s->org);
    snprintf(row.watchlist, sizeof row.watchlist, "%s", s->watchlist);
    row.name = (char *)(s->name ? s->name : "");
    row.agency = (char *)(s->source_agency ? s->source_agency : "");
    row.legal_basis = (char *)(s->legal_basis ? s->legal_basis : "");
    row.expires_us = s->expires_us;
    uint8_t dk[BIO_DATA_KEY_BYTES];
    cx_err e = bio_key_wrap_new(b->key, s->id, dk, row.wrapped);
    sodium_memzero(dk, sizeof dk); /* unwrapped again when a template comes */
    if (e)
        return e;
    pthread_mutex_lock(&b->change);
    e = bs__subject_insert(b->s, &row, row.wrapped, ctx && ctx->who ? ctx->who->key_id : 0,
                           &row.num);
    if (!e) {
        pthread_rwlock_wrlock(&b->lock);
        svc_subject *mem = svc__remember(b, &row); /* copies the strings */
        pthread_rwlock_unlock(&b->lock);
        if (!mem)
            e = CX_ENOMEM;
    }
    pthread_mutex_unlock(&b->change);
    if (e == CX_EEXIST)
        cx_problem_add(problems, "/id", "a subject with this id exists");
    return e;
}

static json_t *ops__subject_json(const bs_subject *s, size_t templates)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", s->id, "kind", s->kind,
                          "name", s->name ? s->name : "", "org", s->org, "watchlist",
                          s->watchlist, "source_agency", s->agency ? s->agency : "",
                          "legal_basis", s->legal_basis ? s->legal_basis : "", "created_at",
                          s->created_at);
    if (s->expires_us) {
        char t[32];
        cx_rfc3339_format(s->expires_us, t);
        json_object_set_new(o, "expires", json_string(t));
    } else {
        json_object_set_new(o, "expires", json_null());
    }
    json_object_set_new(o, "templates", json_integer((json_int_t)templates));
    return o;
}

cx_err bio_subject_json(bio_service *b, const char *id, json_t **out)
{
    *out = NULL;
    bs_subject row;
    cx_err e = bs__subject_get(b->s, id, &row);
    if (e)
        return e;
    pthread_rwlock_rdlock(&b->lock);
    svc_subject *m = svc__by_id(b, id);
    size_t templates = m ? m->templates : 0;
    pthread_rwlock_unlock(&b->lock);
    *out = ops__subject_json(&row, templates);
    bs__subject_clear(&row);
    return *out ? CX_OK : CX_ENOMEM;
}

typedef struct {
    bio_service *b;
    json_t *items;
    int64_t last;
    cx_err e; /* an item that would not build: the list is refused, not short */
} ops_list;

static bool ops__list_one(void *ctx, const bs_subject *s)
{
    ops_list *l = ctx;
    pthread_rwlock_rdlock(&l->b->lock);
    svc_subject *m = svc__by_id(l->b, s->id);
    size_t templates = m ? m->templates : 0;
    pthread_rwlock_unlock(&l->b->lock);
    cx_json_push(l->items, ops__subject_json(s, templates), &l->e);
    l->last = s->num;
    return l->e == CX_OK;
}

cx_err bio_subject_list(bio_service *b, const char *watchlist, int64_t after, size_t limit,
                        json_t **out)
{
    ops_list l = {.b = b, .items = json_array()};
    if (limit == 0 || limit > 1000)
        limit = 100;
    cx_err e = bs__subject_each(b->s, watchlist, after, limit, ops__list_one, &l);
    if (e == CX_OK)
        e = l.e;
    if (e) {
        json_decref(l.items);
        return e;
    }
    *out = json_pack("{s:o}", "items", l.items);
    if (json_array_size(l.items) == limit)
        json_object_set_new(*out, "next_cursor", json_integer(l.last));
    return CX_OK;
}

/* ---- enrolment ---------------------------------------------------------------------- */

/* Seals plain for the subject, stores it, and puts it in memory. */
static cx_err ops__enrol(bio_service *b, const char *subject, const char *modality,
                         const char *format, int finger, const uint8_t *plain, size_t n,
                         const bio_context *ctx, char tid[CX_ID_LEN + 1])
{
    pthread_mutex_lock(&b->change);
    pthread_rwlock_rdlock(&b->lock);
    svc_subject *s = svc__by_id(b, subject);
    uint8_t wrapped[BIO_WRAPPED_BYTES];
    int64_t num = s ? s->num : 0;
    bool full = s && s->templates >= BIO_TEMPLATES_MAX;
    if (s)
        memcpy(wrapped, s->wrapped, sizeof wrapped);
    pthread_rwlock_unlock(&b->lock);
    if (!s || full) {
        pthread_mutex_unlock(&b->change);
        return s ? CX_ETOOBIG : CX_ENOTFOUND;
    }
    uint8_t dk[BIO_DATA_KEY_BYTES];
    cx_err e = bio_key_unwrap(b->key, subject, wrapped, sizeof wrapped, dk);
    bs_template t = {.subject = num, .finger = finger};
    cx_id_new(t.id);
    snprintf(t.modality, sizeof t.modality, "%s", modality);
    snprintf(t.format, sizeof t.format, "%s", format);
    uint8_t *sealed = e ? NULL : bio_seal(dk, subject, t.id, plain, n, &t.nsealed);
    if (!e && !sealed)
        e = CX_ENOMEM;
    t.sealed = sealed;
    if (!e)
        e = bs__template_insert(b->s, &t);
    if (!e) {
        bio_audit_rec a = {.action = "enrol", .who = ctx ? ctx->who : NULL,
                           .purpose = ctx ? ctx->purpose : NULL, .subject = subject,
                           .modality = modality, .candidates = -1, .top_score = NAN,
                           .outcome = "enrolled"};
        if (bs__audit_write(b->s, &a) != CX_OK)
            cx_log(CX_LOG_ERROR, "bio: the audit record of an enrolment was not stored");
        pthread_rwlock_wrlock(&b->lock);
        s = svc__by_id(b, subject);
        e = s ? svc__load_template(b, s, dk, &t) : CX_ENOTFOUND;
        pthread_rwlock_unlock(&b->lock);
        snprintf(tid, CX_ID_LEN + 1, "%s", t.id);
    }
    sodium_memzero(dk, sizeof dk);
    free(sealed);
    pthread_mutex_unlock(&b->change);
    return e;
}

cx_err bio_enrol_template(bio_service *b, const char *subject, const uint8_t *data, size_t len,
                          bio_format fmt, int finger, const bio_context *ctx,
                          char tid[CX_ID_LEN + 1], bio_problems *problems)
{
    bio_template *t = NULL;
    cx_err e = bio_template_parse(data, len, fmt, BIO_PARSE_PERMISSIVE, &t, problems);
    if (e)
        return e;
    if (bio_template_nminutiae(t) == 0) {
        bio_template_free(t);
        return CX_EINVAL;
    }
    if (finger < 0 && bio_template_nviews(t) == 1)
        finger = bio_template_view(t, 0)->position;
    const char *format = bio_format_name(bio_template_format(t));
    e = ops__enrol(b, subject, "finger", format, finger, data, len, ctx, tid);
    bio_template_free(t);
    return e;
}

cx_err bio_enrol_face(bio_service *b, const char *subject, const bio_face *f,
                      const bio_context *ctx, char tid[CX_ID_LEN + 1])
{
    size_t n;
    uint8_t *packed = bio_face_pack(f, &n);
    if (!packed)
        return CX_ENOMEM;
    /* one model, one dimension per watchlist: a mismatch is refused early */
    pthread_rwlock_rdlock(&b->lock);
    svc_subject *s = svc__by_id(b, subject);
    svc_watchlist *w = s ? svc__watchlist(b, s->watchlist, false) : NULL;
    bool clash = false;
    for (size_t i = 0; w && i < w->nfaces; i++)
        clash |= strcmp(bio_faces_model(w->faces[i]), f->model) == 0 &&
                 bio_faces_dim(w->faces[i]) != f->dim;
    bool full = w && w->nfaces == SVC_MODELS_MAX && !svc__faces(w, f->model, f->dim, false);
    pthread_rwlock_unlock(&b->lock);
    cx_err e = !s ? CX_ENOTFOUND : clash || full ? CX_ESTATE : CX_OK;
    if (!e)
        e = ops__enrol(b, subject, "face", f->model, -1, packed, n, ctx, tid);
    free(packed);
    return e;
}

/* ---- erasure ------------------------------------------------------------------------ */

void svc__forget(bio_service *b, svc_subject *s)
{
    svc_watchlist *w = svc__watchlist(b, s->watchlist, false);
    if (w) {
        bio_gallery_remove(w->fingers, (uint64_t)s->num);
        for (size_t i = 0; i < w->nfaces; i++)
            bio_faces_remove(w->faces[i], (uint64_t)s->num);
        w->subjects--;
    }
    cx_map_del(&b->by_num, &s->num, sizeof s->num, NULL);
    cx_map_del(&b->by_id, s->id, strlen(s->id), NULL);
    free(s->agency);
    free(s->legal_basis);
    sodium_memzero(s, sizeof *s);
    free(s);
}

static cx_err ops__erase(bio_service *b, const char *subject, const bio_context *ctx,
                         const char *action)
{
    bio_audit_rec a = {.action = action, .who = ctx ? ctx->who : NULL,
                       .purpose = ctx ? ctx->purpose : NULL, .subject = subject,
                       .candidates = -1, .top_score = NAN, .outcome = "erased"};
    pthread_mutex_lock(&b->change);
    size_t templates = 0;
    cx_err e = bs__erase(b->s, subject, &a, &templates);
    if (!e) {
        pthread_rwlock_wrlock(&b->lock);
        svc_subject *s = svc__by_id(b, subject);
        if (s)
            svc__forget(b, s);
        pthread_rwlock_unlock(&b->lock);
        if (!bs__checkpoint(b->s))
            cx_log(CX_LOG_WARN, "bio: the WAL checkpoint after erasing %s did not complete; "
                                "the next one will",
                   subject);
    }
    pthread_mutex_unlock(&b->change);
    return e;
}

cx_err bio_erase(bio_service *b, const char *subject, const bio_context *ctx)
{
    return ops__erase(b, subject, ctx, "erase");
}

typedef struct {
    bio_service *b;
    size_t erased;
    cx_err err;
} ops_expire;

static bool ops__expire_one(void *ctx, const char *id)
{
    ops_expire *x = ctx;
    bio_context c = {.purpose = "expiry"};
    cx_err e = ops__erase(x->b, id, &c, "expire");
    if (e && e != CX_ENOTFOUND) {
        x->err = e;
        return false;
    }
    x->erased += e == CX_OK;
    return true;
}

cx_err bio_expire(bio_service *b, size_t *erased)
{
    ops_expire x = {.b = b};
    cx_err e = bs__expired_each(b->s, cx_now_us(), ops__expire_one, &x);
    if (erased)
        *erased = x.erased;
    return e ? e : x.err;
}
