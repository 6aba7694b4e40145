/* Internal to the ledger module's network part (net*.c): a node's
 * connection to the NATS JetStream cluster that orders the ledger.
 *
 * Threads: a submission (net_order.c) holds no thread while it waits: the
 * submitting thread hands it to the writer for the check, the writer
 * publishes it asynchronously, libnats's thread records the stream's
 * acknowledgement, and the writer answers it once it applied the entry;
 * an orderer thread retries publishes and answers timeouts. One reader
 * thread (net_apply.c) takes the entry stream in order and hands each
 * message to the store's writer; on a serving node one cosigner thread
 * (net_cosign.c) takes the cosignature stream, cosigns every second of
 * activity and publishes the node's status. Everything they share is under
 * mu. */
#ifndef CUSTOMS_LEDGER_NET_INT_H
#define CUSTOMS_LEDGER_NET_INT_H

#include "ledger_int.h"

#include <nats/nats.h>
#include <time.h>

#define NET_NAME_MAX 96
#define NET_MAX_URLS 16
#define NET_MAX_INFLIGHT 4096 /* stream messages handed to the writer, not yet applied */
#define NET_MAX_PARKED 64     /* cosignatures ahead of this node's tree, kept for later */
#define NET_STREAM_FORMAT 2     /* 2: a message may carry a batch (Ledger-Batch) */
#define NET_MAX_WAITERS 1024  /* submissions in flight on one node; more get 503 */

/* The header that marks a stream message carrying several entries
 * (ledger_batch_split); without it a message is one entry. */
#define NET_BATCH_HEADER "Ledger-Batch"

/* A batch this node published: its id and its body, kept so a retry
 * publishes the identical message (JetStream's duplicate window then keeps
 * one copy). Shared by its entries' submissions; freed with the last. */
typedef struct net_pub {
    _Atomic int refs;
    uint8_t id[32]; /* the Nats-Msg-Id: ledger_batch_id over its entries */
    int count;
    size_t len;
    char body[];
} net_pub;

/* Where a submission is on its way (net_order.c). */
typedef enum {
    NW_CHECK,     /* the writer checks it against this node's state */
    NW_PUBLISHED, /* on its way to the stream, no acknowledgement yet */
    NW_RETRY,     /* a publish failed in a way worth another try, at due */
    NW_ACKED,     /* the stream took it at seq: waiting for this node to apply it */
    NW_RESOLVE,   /* applied, but its outcome must be read from the database */
} net_wstate;

/* A submission in flight: checked, published and applied as steps of
 * their own, with no thread waiting for it; whoever takes the last step
 * answers through pending->done and frees it. */
typedef struct net_waiter {
    uint8_t hash[32];               /* the entry's signing hash */
    char scope[CX_ORG_MAX + 1];     /* findings scope of the caller */
    net_wstate state;
    uint64_t seq;                   /* where the stream put it, once acknowledged */
    bool dup;                       /* the acknowledgement said: a copy was there already */
    int64_t first_us;               /* the first publish (cx_mono_us), for the deadline */
    int64_t sent_us;                /* the latest publish: no acknowledgement by
                                     * NET_PUBLISH_WAIT_MS after it is a timeout */
    int64_t due_us;                 /* NW_RETRY: when; NW_ACKED: the apply's deadline */
    natsStatus err;                 /* the last publish error */
    bool maybe_taken;               /* an attempt failed in a way that does not say the
                                     * stream lacks it (a timeout, a lost connection): a
                                     * Raft proposal may still commit once quorum returns */
    jsErrCode je;
    ledger_pending *pending;        /* owned; once acknowledged, the reader may take its
                                     * decoded entry instead of decoding again */
    net_pub *pub;                   /* the batch it was published in (a reference), or
                                     * NULL: a message of its own, whose id is hash */
    int pos;                        /* its position in pub */
    struct net_waiter *next;
} net_waiter;

/* The submissions that passed their checks in the writer's current job,
 * still in NW_CHECK (nobody else touches them), published at its end
 * (ledger__net_checks_end). */
typedef struct {
    bool open;
    net_waiter **w;
    size_t n, cap;
} net_group;

typedef struct {
    char note[512]; /* a cosignature note: text and one signature line */
    char org[CX_ORG_MAX + 1];
    uint64_t size;
} net_parked;

struct ledger_net {
    ledger *lg;
    /* configuration */
    char urls_text[1024];
    char *urls[NET_MAX_URLS];
    int nurls;
    bool tls_urls; /* a tls:// URL: TLS whatever the options */
    char org[CX_ORG_MAX + 1];
    char origin[LEDGER_ORIGIN_MAX + 1];
    char token[64];                  /* origin as a NATS name: [A-Za-z0-9_-] */
    char stream[NET_NAME_MAX];       /* the entries */
    char subject[NET_NAME_MAX + 32];
    char cosign_stream[NET_NAME_MAX];
    char cosign_subject[NET_NAME_MAX + 32];
    char bucket[NET_NAME_MAX];       /* nodes' status (key-value) */
    int replicas;
    bool node;
    alert_service *alerts;
    uint8_t trust_genesis[32];
    bool has_trust_genesis;
    char trust_origin[LEDGER_ORIGIN_MAX + 1];
    /* NATS */
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    /* threads */
    pthread_t apply_thread, cosign_thread;
    bool apply_started, cosign_started;
    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool resync;          /* read the stream again from the database's sequence */
    char failed[256];     /* a fatal condition (genesis mismatch, …): no more applying */
    uint64_t applied;     /* the last sequence applied durably */
    uint64_t submitted;   /* the last sequence handed to the writer */
    uint64_t inflight;    /* handed to the writer, not yet done */
    uint64_t stream_last; /* the stream's last sequence, as last seen */
    uint64_t start_last;  /* the stream's last sequence at start: caught up beyond it */
    bool connected;
    bool closed; /* libnats's closed callback ran: no more callbacks */
    net_waiter *waiters;
    int nwaiters;         /* on the list: bounded by NET_MAX_WAITERS */
    int nchecking;        /* of them in NW_CHECK: their precheck job holds them */
    bool purge_acks;      /* a publish timed out: libnats still holds it, waiting for an
                           * acknowledgement that will not come (net_order.c) */
    pthread_cond_t ord_cv; /* wakes the orderer's thread (retries, timeouts, lookups) */
    pthread_t order_thread;
    bool order_started;
    net_group group; /* the writer's thread only */
    net_parked parked[NET_MAX_PARKED];
    int nparked;
    /* cosigner state (its thread) */
    uint64_t signed_size;  /* the largest size this node cosigned */
    uint64_t cosign_seq;   /* the last cosignature message read */
    /* counters */
    int64_t rejected_before; /* rejections recorded before this start */
    _Atomic uint64_t n_applied, n_stream_rejected, n_cosigs_received, n_cosigs_sent,
        n_cosigs_bad, n_publish_failed;
    _Atomic bool forked;
    _Atomic bool batch_ok; /* every node's status reads batches (net_status.c) */
    char batch_blocker[CX_ORG_MAX + 2]; /* the node last named as not reading them */
};

/* ---- net.c ------------------------------------------------------------------------------- */
/* Hex of 32 bytes; false if s is not exactly that. */
bool net__hex_hash(const char *s, uint8_t out[32]);
/* origin → [A-Za-z0-9_-] token (readable part and a short hash). */
void net__token(const char *origin, char out[64]);
/* The origin a ledger's entry stream carries (from its description), or
 * NULL for any other stream. */
const char *net__stream_origin(const jsStreamConfig *c);
/* The stream names of an origin token. */
void net__names(ledger_net *n);
cx_err net__parse_urls(ledger_net *n, const char *urls, char *err, size_t errlen);
/* Connects n->urls (with auth's TLS and credentials; NULL: none) and opens
 * JetStream. A refused certificate or credential is CX_ECRYPTO/CX_EAUTH,
 * an unreachable cluster CX_EIO. */
cx_err net__connect(ledger_net *n, const ledger_nats_auth *auth, char *err, size_t errlen);
/* Closes the connection and waits for libnats's last callback (n is then
 * free to go); safe without a connection. */
void net__disconnect(ledger_net *n);
/* An absolute CLOCK_REALTIME deadline ms from now, for timed waits. */
void net__deadline(struct timespec *ts, int64_t ms);
/* Wakes every thread waiting on n (stop, a failure). Under mu. */
void net__wake_all(ledger_net *n);
/* Sleeps ms unless stop is set; false if stopping. */
bool net__nap(ledger_net *n, int64_t ms);

/* ---- net_auth.c -------------------------------------------------------------------------- */
/* Sets TLS and credentials on o (tls_urls: a tls:// URL was given); refuses
 * a combination that makes no sense and a secret file others may read. */
cx_err net__auth_apply(natsOptions *o, const ledger_nats_auth *a, bool tls_urls, char *err,
                       size_t errlen);
/* Why natsConnection_Connect failed with s, in words that name the option
 * to fix (ca_given: --nats-ca was given); the cx_err says whether to retry. */
cx_err net__connect_error(natsStatus s, const char *url, bool ca_given, char *err, size_t errlen);

/* ---- net_order.c ------------------------------------------------------------------------- */
cx_err net__order_start(ledger_net *n);
/* Answers every submission still in flight with 503 (stopping); waits for
 * those the writer is checking. The orderer's thread must be joined. */
void net__order_flush(ledger_net *n);
/* libnats's callback for every asynchronous publish (jsOptions.PublishAsync). */
void net__publish_acked(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure);

/* ---- net_apply.c ------------------------------------------------------------------------- */
cx_err net__apply_start(ledger_net *n);
/* A stream message's Ledger-Batch header, or NULL for a message of one entry. */
const char *net__batch_count(natsMsg *m);
/* The signing hash under which the reader records a stream message: the
 * entry's own when it decodes, else its Nats-Msg-Id's; false for neither. */
bool net__message_hash(natsMsg *m, uint8_t out[32]);
/* What this database recorded at seq: 1 and its signing hash, 0 a record
 * without one, -1 none. */
int net__hash_at(store_conn *c, uint64_t seq, uint8_t out[32]);
/* Checks a genesis message against the trust file; why says what differs. */
bool net__genesis_ok(ledger_net *n, const char *data, size_t len, char *why, size_t cap);

/* ---- net_cosign.c ------------------------------------------------------------------------ */
cx_err net__cosign_start(ledger_net *n);
/* Signs the current head with key, stores it and publishes the cosignature. */
cx_err net__cosign_publish(ledger_net *n, const ledger_key *key, int64_t size, char **note,
                           char *err, size_t errlen);
/* Whether a fork was recorded in this database. */
bool net__fork_recorded(ledger *lg);

/* ---- snapshot.c -------------------------------------------------------------------------- */
/* Verifies the snapshot at path (the log recomputed, genesis and quorum
 * against trust, what its checkpoint does not cover against the stream) and
 * copies its tables into this node's empty database. */
cx_err ledger__net_snapshot_import(ledger_net *n, const char *path, const json_t *trust, char *err,
                                   size_t errlen);

/* ---- net_status.c ------------------------------------------------------------------------ */
/* This node's status (the key-value value and part of /healthz). */
json_t *net__status_json(ledger_net *n);
/* Whether every node's entry in the status bucket says it reads several
 * entries per stream message (stream_format >= NET_STREAM_FORMAT); logs a
 * change of the answer. On the cosigner's thread, once a second. */
bool net__peers_read_batches(ledger_net *n);

#endif
