/* The biometric service: subjects and watchlists in memory, galleries
 * decrypted at start, and the operations that keep database and memory in
 * step. Searches take the read lock; the rare changes (enrol, erase) are
 * serialised by a mutex around their database write and take the write lock
 * only to touch memory. */
#include "svc_int.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const kinds[] = {"operator", "broker", "forwarder", "logistics", "watchlist"};

bool bio__token_valid(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr(extra, c)))
            return false;
    }
    return true;
}

bool bio_id_valid(const char *s)
{
    return bio__token_valid(s, BIO_ID_MAX, ".:_-");
}

bool bio_kind_valid(const char *s)
{
    for (size_t i = 0; s && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i]) == 0)
            return true;
    return false;
}

const bio_config *bio_service_config(const bio_service *b)
{
    return &b->cfg;
}

/* ---- the registry in memory --------------------------------------------------------- */

static void svc__subject_free(void *p)
{
    svc_subject *s = p;
    if (!s)
        return;
    free(s->agency);
    free(s->legal_basis);
    free(s);
}

static void svc__watchlist_free(void *p)
{
    svc_watchlist *w = p;
    if (!w)
        return;
    bio_gallery_free(w->fingers);
    for (size_t i = 0; i < w->nfaces; i++)
        bio_faces_free(w->faces[i]);
    free(w);
}

svc_subject *svc__by_id(bio_service *b, const char *id)
{
    return cx_map_ptr(&b->by_id, id, strlen(id));
}

svc_subject *svc__by_num(bio_service *b, int64_t num)
{
    return cx_map_ptr(&b->by_num, &num, sizeof num);
}

svc_watchlist *svc__watchlist(bio_service *b, const char *name, bool create)
{
    svc_watchlist *w = cx_map_ptr(&b->lists, name, strlen(name));
    if (w || !create)
        return w;
    w = calloc(1, sizeof *w);
    if (!w || !(w->fingers = bio_gallery_new())) {
        free(w);
        return NULL;
    }
    snprintf(w->name, sizeof w->name, "%s", name);
    if (cx_map_set_ptr(&b->lists, w->name, strlen(w->name), w) != CX_OK) {
        svc__watchlist_free(w);
        return NULL;
    }
    return w;
}

/* The face gallery of a model in w; created on demand for dim. */
bio_faces *svc__faces(svc_watchlist *w, const char *model, size_t dim, bool create)
{
    for (size_t i = 0; i < w->nfaces; i++)
        if (strcmp(bio_faces_model(w->faces[i]), model) == 0)
            return bio_faces_dim(w->faces[i]) == dim ? w->faces[i] : NULL;
    if (!create || w->nfaces == SVC_MODELS_MAX)
        return NULL;
    bio_faces *g = bio_faces_new(model, dim);
    if (g)
        w->faces[w->nfaces++] = g;
    return g;
}

svc_subject *svc__remember(bio_service *b, const bs_subject *row)
{
    svc_subject *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->num = row->num;
    snprintf(s->id, sizeof s->id, "%s", row->id);
    snprintf(s->kind, sizeof s->kind, "%s", row->kind);
    snprintf(s->org, sizeof s->org, "%s", row->org);
    snprintf(s->watchlist, sizeof s->watchlist, "%s", row->watchlist);
    s->agency = strdup(row->agency ? row->agency : "");
    s->legal_basis = strdup(row->legal_basis ? row->legal_basis : "");
    s->expires_us = row->expires_us;
    memcpy(s->wrapped, row->wrapped, sizeof s->wrapped);
    if (!s->agency || !s->legal_basis || !svc__watchlist(b, s->watchlist, true) ||
        cx_map_set_ptr(&b->by_id, s->id, strlen(s->id), s) != CX_OK) {
        svc__subject_free(s);
        return NULL;
    }
    if (cx_map_set_ptr(&b->by_num, &s->num, sizeof s->num, s) != CX_OK) {
        cx_map_del(&b->by_id, s->id, strlen(s->id), NULL);
        svc__subject_free(s);
        return NULL;
    }
    svc__watchlist(b, s->watchlist, false)->subjects++;
    return s;
}

/* Unseals a template row and puts it in its watchlist's gallery. */
cx_err svc__load_template(bio_service *b, svc_subject *s, const uint8_t dk[BIO_DATA_KEY_BYTES],
                          const bs_template *t)
{
    size_t n;
    uint8_t *plain = bio_open(dk, s->id, t->id, t->sealed, t->nsealed, &n);
    if (!plain)
        return CX_ECRYPTO;
    svc_watchlist *w = svc__watchlist(b, s->watchlist, true);
    cx_err e = w ? CX_OK : CX_ENOMEM;
    if (!e && strcmp(t->modality, "face") == 0) {
        bio_face f;
        e = bio_face_unpack(t->format, plain, n, &f);
        bio_faces *g = e ? NULL : svc__faces(w, f.model, f.dim, true);
        if (!e)
            e = g ? bio_faces_add(g, (uint64_t)s->num, f.v) : CX_EINVAL;
        free(f.v);
    } else if (!e) {
        bio_format fmt = BIO_FMT_AUTO;
        bio_template *tpl = NULL;
        bio_features *feat = NULL;
        bio_format_parse(t->format, &fmt);
        e = bio_template_parse(plain, n, fmt, BIO_PARSE_PERMISSIVE, &tpl, NULL);
        if (!e)
            e = bio_features_new(tpl, &feat);
        if (!e && t->finger >= 0 && bio_features_nviews(feat) == 1)
            bio__features_set_position(feat, 0, (unsigned)t->finger);
        bio_template_free(tpl);
        if (!e)
            e = bio_gallery_add(w->fingers, (uint64_t)s->num, feat);
    }
    sodium_memzero(plain, n);
    free(plain);
    if (!e)
        s->templates++;
    return e;
}

/* ---- start --------------------------------------------------------------------------- */

typedef struct {
    bio_service *b;
    int64_t cur; /* the subject whose data key is in dk */
    uint8_t dk[BIO_DATA_KEY_BYTES];
    cx_err err;
    char *errbuf;
    size_t errlen;
} svc_load;

static bool svc__load_subject(void *ctx, const bs_subject *row)
{
    svc_load *l = ctx;
    if (!svc__remember(l->b, row)) {
        l->err = CX_ENOMEM;
        return false;
    }
    return true;
}

static bool svc__load_template_cb(void *ctx, const bs_template *t)
{
    svc_load *l = ctx;
    svc_subject *s = svc__by_num(l->b, t->subject);
    if (!s)
        return true; /* the subject went meanwhile: nothing to load */
    if (l->cur != t->subject) {
        if (bio_key_unwrap(l->b->key, s->id, s->wrapped, sizeof s->wrapped, l->dk) != CX_OK) {
            snprintf(l->errbuf, l->errlen, "the data key of subject %s does not open", s->id);
            l->err = CX_ECRYPTO;
            return false;
        }
        l->cur = t->subject;
    }
    cx_err e = svc__load_template(l->b, s, l->dk, t);
    if (e == CX_ECRYPTO || e == CX_ENOMEM) {
        snprintf(l->errbuf, l->errlen, "template %s of subject %s: %s", t->id, s->id,
                 e == CX_ECRYPTO ? "its seal does not open" : "out of memory");
        l->err = e;
        return false;
    }
    if (e)
        cx_log(CX_LOG_WARN, "bio: template %s of subject %s is not usable (%s); skipped", t->id,
               s->id, cx_strerror(e));
    return true;
}

cx_err bio_service_new(store *s, const bio_keyring *key, const bio_config *cfg,
                       bio_service **out, char *err, size_t errlen)
{
    *out = NULL;
    bio_service *b = calloc(1, sizeof *b);
    if (!b)
        return CX_ENOMEM;
    b->s = s;
    b->key = key;
    if (cfg)
        b->cfg = *cfg;
    if (!b->cfg.threads)
        b->cfg.threads = 2;
    if (!(b->cfg.threshold > 0))
        b->cfg.threshold = BIO_THRESHOLD;
    if (!(b->cfg.face_threshold > 0))
        b->cfg.face_threshold = BIO_FACE_THRESHOLD;
    static const char *const alert_kinds[] = {"biometric_subject", NULL};
    static const char *const types[] = {"watchlist_hit", NULL};
    if (b->cfg.alerts && alert_register(b->cfg.alerts, alert_kinds, types) != CX_OK) {
        free(b);
        snprintf(err, errlen, "cannot register the biometric alerts");
        return CX_ENOMEM;
    }
    pthread_rwlock_init(&b->lock, NULL);
    pthread_mutex_init(&b->change, NULL);
    pthread_mutex_init(&b->sweep_mu, NULL);
    pthread_cond_init(&b->sweep_cv, NULL);
    cx_map_init(&b->by_id);
    cx_map_init(&b->by_num);
    cx_map_init(&b->lists);
    char kid[BIO_KEY_ID_LEN + 1];
    bio_key_id(key, kid);
    int64_t t0 = cx_mono_us();
    cx_err e = bs__key_check(s, kid, err, errlen);
    svc_load l = {.b = b, .errbuf = err, .errlen = errlen};
    if (!e)
        e = bs__subject_each(s, NULL, 0, 0, svc__load_subject, &l);
    if (!e)
        e = l.err;
    if (!e)
        e = bs__template_each(s, 0, svc__load_template_cb, &l);
    if (!e)
        e = l.err;
    sodium_memzero(l.dk, sizeof l.dk);
    if (e) {
        if (!err[0])
            snprintf(err, errlen, "cannot load the biometric galleries: %s", cx_strerror(e));
        bio_service_free(b);
        return e;
    }
    size_t templates = 0;
    for (size_t i = 0; i < b->by_id.n; i++)
        svc__count_templates(&templates, cx_map_ptr_at(&b->by_id, i));
    cx_log(CX_LOG_INFO, "bio: %zu subjects, %zu templates decrypted into memory in %.2f s",
           b->by_id.n, templates, (double)(cx_mono_us() - t0) / 1e6);
    *out = b;
    return CX_OK;
}

static void *svc__sweep(void *arg)
{
    bio_service *b = arg;
    pthread_mutex_lock(&b->sweep_mu);
    while (!b->stop) {
        pthread_mutex_unlock(&b->sweep_mu);
        size_t n = 0;
        cx_err e = bio_expire(b, &n);
        if (e)
            cx_log(CX_LOG_ERROR, "bio: the expiry sweep failed: %s", cx_strerror(e));
        else if (n)
            cx_log(CX_LOG_INFO, "bio: %zu expired subject%s erased", n, n == 1 ? "" : "s");
        pthread_mutex_lock(&b->sweep_mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += b->period_s;
        while (!b->stop && pthread_cond_timedwait(&b->sweep_cv, &b->sweep_mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&b->sweep_mu);
    return NULL;
}

cx_err bio_service_start(bio_service *b, int64_t period_s)
{
    if (b->sweeping)
        return CX_ESTATE;
    b->period_s = period_s > 0 ? period_s : 60;
    if (pthread_create(&b->sweeper, NULL, svc__sweep, b) != 0)
        return CX_ENOMEM;
    b->sweeping = true;
    return CX_OK;
}

void bio_service_stop(bio_service *b)
{
    if (!b || !b->sweeping)
        return;
    pthread_mutex_lock(&b->sweep_mu);
    b->stop = true;
    pthread_cond_signal(&b->sweep_cv);
    pthread_mutex_unlock(&b->sweep_mu);
    pthread_join(b->sweeper, NULL);
    b->sweeping = false;
}

void bio_service_free(bio_service *b)
{
    if (!b)
        return;
    bio_service_stop(b);
    pthread_mutex_destroy(&b->sweep_mu);
    pthread_cond_destroy(&b->sweep_cv);
    for (size_t i = 0; i < b->by_id.n; i++)
        svc__subject_free(cx_map_ptr_at(&b->by_id, i));
    for (size_t i = 0; i < b->lists.n; i++)
        svc__watchlist_free(cx_map_ptr_at(&b->lists, i));
    cx_map_free(&b->by_num);
    cx_map_free(&b->by_id);
    cx_map_free(&b->lists);
    pthread_rwlock_destroy(&b->lock);
    pthread_mutex_destroy(&b->change);
    free(b);
}

bool svc__count_templates(void *ctx, void *value)
{
    *(size_t *)ctx += ((svc_subject *)value)->templates;
    return true;
}
