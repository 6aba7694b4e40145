/* svc_int.h — what the service's files share (service.c,
 * ops.c, search.c, bio_http.c); not a door. */
#ifndef CUSTOMS_BIO_SVC_INT_H
#define CUSTOMS_BIO_SVC_INT_H

#include "bio_int.h"

#include <pthread.h>

#define SVC_MODELS_MAX 8 /* face models per watchlist */

typedef struct {
    int64_t num;
    char id[BIO_ID_MAX + 1];
    char kind[16];
    char org[CX_ORG_MAX + 1];
    char watchlist[BIO_ID_MAX + 1];
    char *agency, *legal_basis;
    int64_t expires_us;
    uint8_t wrapped[BIO_WRAPPED_BYTES]; /* the data key, wrapped: harmless in memory */
    size_t templates;
} svc_subject;

typedef struct {
    char name[BIO_ID_MAX + 1];
    bio_gallery *fingers;
    bio_faces *faces[SVC_MODELS_MAX];
    size_t nfaces;
    size_t subjects;
} svc_watchlist;

struct bio_service {
    store *s;
    const bio_keyring *key;
    bio_config cfg;
    pthread_rwlock_t lock;   /* the maps and galleries: searches read, changes write */
    pthread_mutex_t change;  /* one change (enrol, erase) at a time */
    cx_map by_id, by_num, lists; /* id, num, watchlist name -> pointer (cx_map_ptr) */
    /* the expiry sweep */
    pthread_t sweeper;
    bool sweeping, stop;
    int64_t period_s;
    pthread_mutex_t sweep_mu;
    pthread_cond_t sweep_cv;
};

svc_subject *svc__by_id(bio_service *b, const char *id);
svc_subject *svc__by_num(bio_service *b, int64_t num);
svc_watchlist *svc__watchlist(bio_service *b, const char *name, bool create);
bio_faces *svc__faces(svc_watchlist *w, const char *model, size_t dim, bool create);
cx_err svc__load_template(bio_service *b, svc_subject *s, const uint8_t dk[BIO_DATA_KEY_BYTES],
                          const bs_template *t);
bool svc__count_templates(void *ctx, void *value);
/* Adds a subject read from (or just written to) the database. Under the
 * write lock (or before the service is shared). */
svc_subject *svc__remember(bio_service *b, const bs_subject *row);
/* Forgets a subject: galleries, maps. Under the write lock. */
void svc__forget(bio_service *b, svc_subject *s);

#endif
