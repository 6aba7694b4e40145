/* Internal to the alert module. */
#ifndef CUSTOMS_ALERT_INT_H
#define CUSTOMS_ALERT_INT_H

#include "alert.h"

#include <pthread.h>
#include <stdatomic.h>

#define ALERT_MAX_NAMES 256  /* registered kinds, and types */
#define ALERT_FILTER_TYPES 16 /* ?type=a,b,… on a stream */

typedef struct alert_hub alert_hub;

/* An event on the stream with what its filters need. */
typedef struct {
    int64_t seq; /* 0 for an acknowledgement */
    alert_severity sev;
    char type[ALERT_NAME_MAX + 1];
    char kind[ALERT_NAME_MAX + 1];
    char drone[ALERT_ID_MAX + 1];
    char orgs[ALERT_MAX_ORGS][CX_ORG_MAX + 1];
} alert_event;

struct alert_service {
    store *store;
    alert_config cfg;
    pthread_mutex_t reg_mu;
    char *kinds[ALERT_MAX_NAMES], *types[ALERT_MAX_NAMES];
    size_t nkinds, ntypes;
    alert_hub *hub;
    /* metrics: raised by this process */
    pthread_mutex_t m_mu;
    cx_map m_types; /* type -> index into m_counts */
    uint64_t m_counts[ALERT_MAX_NAMES][ALERT_SEV__COUNT];
};

bool alert__kind_known(alert_service *a, const char *kind);
bool alert__type_known(alert_service *a, const char *type);
/* A name as types and kinds are written: 1..32 of a-z 0-9 _. */
bool alert__name_valid(const char *s);

/* The alert as the API shows it: the stored document with its
 * acknowledgement members. */
cx_err alert__compose(cx_buf *out, const char *doc, size_t len, const char *acked_at,
                      const char *acked_by);

/* The stream (alert_hub.c). */
/* Its streams beat every heartbeat_s. */
cx_err alert__hub_new(unsigned heartbeat_s, alert_hub **out);
/* Ends the streams and their heartbeats (stop); safe twice. */
void alert__hub_close(alert_hub *h);
void alert__hub_free(alert_hub *h);
/* Publishes a committed alert (json: its document, without ack members). */
void alert__hub_alert(alert_hub *h, const alert_event *ev, const char *json, size_t len);
/* Publishes an acknowledgement to those who may see the alert. */
void alert__hub_ack(alert_hub *h, const alert_event *ev, const char *json, size_t len);
/* Publishes an escalated alert (json: the whole alert, with ack members). */
void alert__hub_update(alert_hub *h, const alert_event *ev, const char *json, size_t len);
/* The last alert stored before this process started: catch-up reads up to it. */
void alert__hub_start_at(alert_hub *h, int64_t last_seq);
size_t alert__hub_clients(alert_hub *h);
/* GET /v1/alerts/stream */
void alert__hub_serve(alert_service *a, http_req *r);

/* Which alerts a caller may see: officers and admins all; others those
 * that name their org. */
bool alert__visible(const cx_principal *who, const alert_event *ev);

#endif
