/* Internal to the inspection module. */
#ifndef CUSTOMS_INSPECT_INT_H
#define CUSTOMS_INSPECT_INT_H

#include "inspect.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

struct inspect_service {
    store *store;
    decl_service *decl;
    inspect_config cfg;
    inspect_rules *rules;
    http_hub *hub; /* the session streams; topic: the session id */
    /* retention */
    pthread_t ret;
    bool ret_started, ret_stop, ret_kick;
    pthread_mutex_t ret_mu;
    pthread_cond_t ret_cv;
    /* metrics */
    atomic_uint_fast64_t m_frames, m_frame_bytes, m_annotations, m_chats, m_sessions,
        m_photos, m_guides, m_erased, m_thinned, m_thin_jobs;
};

/* A declaration as the guide needs it, read from decl_view. */
typedef struct {
    int64_t seq;
    char id[CX_ID_LEN + 8];
    char status[16];
    char lane[8];
    json_t *doc;  /* owned */
    json_t *risk; /* owned; NULL when not assessed */
} inspect_decl;

/* Reads one declaration by id on c; CX_ENOTFOUND. Clear with inspect__decl_clear. */
cx_err inspect__decl_read(store_conn *c, const char *id, inspect_decl *d);
void inspect__decl_clear(inspect_decl *d);
/* Sent to inspection: lane red or yellow, status submitted or held. */
bool inspect__in_inspection(const inspect_decl *d);
/* Replies 404 / 503 for a failed read and 409 not_in_inspection. True when
 * the declaration was read and is in inspection. */
bool inspect__decl_for(http_req *r, inspect_service *s, inspect_decl *d, bool need_inspection);

/* The request's body as a JPEG (frames, photos): true with its bytes and
 * size, or replies 400 invalid_image ("the <what> is not a JPEG image"). */
bool inspect__jpeg_body(http_req *r, const char *what, const char **body, size_t *len,
                        unsigned *width, unsigned *height);

/* {"org","role","key_id"} of the caller. */
json_t *inspect__by(const cx_principal *who);

/* Runs fn in a writer job and replies from done (after http_defer). The
 * job record is allocated by the caller with the job as its first member;
 * free_fn frees it after done. */
typedef struct inspect_job inspect_job;
typedef void (*inspect_done_fn)(inspect_job *j, cx_err result);
typedef cx_err (*inspect_job_fn)(store_conn *w, inspect_job *j);
struct inspect_job {
    store_job job;
    http_req *req;
    inspect_service *svc;
    inspect_job_fn fn;
    inspect_done_fn done;
    void (*free_fn)(inspect_job *j);
};
void inspect__submit(inspect_job *j);
/* Wakes the retention thread to thin what a close left (session.c). */
void inspect__thin_kick(inspect_service *s);
/* Whether inspect_service_stop has begun: the thinning and retention loops
 * end between writer jobs then, so a stop does not wait for a backlog. */
bool inspect__stopping(inspect_service *s);

/* Guide and photos (guide_http.c); sessions (session.c); stream (hub.c). */
cx_err inspect__guide_routes(inspect_service *s, http_server *srv);
cx_err inspect__session_routes(inspect_service *s, http_server *srv);
cx_err inspect__training_routes(inspect_service *s, http_server *srv);

void inspect__hub_serve(inspect_service *s, http_req *r, const char *sid, int64_t after);

/* Replies with the body text of problems: 400 code "the X has N problems". */
void inspect__reply_problems(http_req *r, const char *code, const char *what, json_t *problems);

#endif
