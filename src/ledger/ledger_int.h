/* Internal to the ledger module. */
#ifndef CUSTOMS_LEDGER_INT_H
#define CUSTOMS_LEDGER_INT_H

#include "ledger.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#define LEDGER_MAX_SAFE_INT 9007199254740992LL /* 2^53 */

/* ---- entry types and roles ------------------------------------------------------ */
typedef enum {
    LT_INIT,
    LT_MEMBER_REGISTER,
    LT_KEY_ROTATE,
    LT_KEY_REVOKE,
    LT_POLICY_SET,
    LT_DECL_ANCHOR,
    LT_BL_ISSUE,
    LT_BL_TRANSFER,
    LT_BL_SURRENDER,
    LT_COO_ISSUE,
    LT_COO_REVOKE,
    LT_AEO_STATUS,
    LT_PAYMENT,
    LT_PARCELS,
    LT_IPR,
    LT_FINDING,
    LT_AUDIT_DIGEST,
    LT__COUNT
} ltype;

typedef enum {
    LR_CUSTOMS,
    LR_TRADER,
    LR_CARRIER,
    LR_BANK,
    LR_CHAMBER,
    LR_AGENCY,
    LR__COUNT
} lrole;

extern const char *const ledger__type_names[LT__COUNT];
extern const char *const ledger__role_names[LR__COUNT];
bool ledger__type_parse(const char *s, ltype *out);
bool ledger__role_parse(const char *s, lrole *out);
/* Governance types: signed by M of the N governance keys of the genesis. */
bool ledger__type_governance(ltype t);

/* ---- small helpers ---------------------------------------------------------------- */
#define LEDGER_B64_32 44 /* base64 (with padding) of 32 bytes */
#define LEDGER_B64_64 88
/* Standard base64 with padding; false if s is not the canonical encoding of
 * exactly n bytes. */
bool ledger__b64_decode(const char *s, uint8_t *out, size_t n);
/* out needs sodium_base64_ENCODED_LEN(n, ORIGINAL) bytes */
void ledger__b64_encode(const uint8_t *in, size_t n, char *out);
void ledger__hex(const uint8_t h[32], char out[65]);

/* ---- decoded entries -------------------------------------------------------------- */
typedef struct {
    char org[CX_ORG_MAX + 1];
    uint8_t pk[32];
    uint8_t sig[64];
} lsig;

typedef struct lentry {
    json_t *doc;        /* the envelope as parsed */
    ltype type;
    const char *org;    /* envelope org, borrowed from doc */
    const json_t *body; /* borrowed from doc */
    lsig sigs[LEDGER_MAX_SIGNATURES];
    size_t nsigs;
    char *canon;            /* RFC 8785 form of the whole entry: the leaf data */
    size_t canon_len;
    size_t sig_lo, sig_hi;  /* bytes of ,"signatures":[…] inside canon */
    uint8_t entry_hash[32]; /* the signing hash */
    uint8_t leaf_hash[32];  /* RFC 6962 leaf hash of canon */
} lentry;

/* Decodes, validates and canonicalises. On failure returns CX_EPARSE (not
 * JSON), CX_EINVAL (a rule of the envelope or body; problems filled) or
 * CX_ETOOBIG. problems may be NULL. *out is freed with ledger__entry_free. */
cx_err ledger__entry_decode(const char *text, size_t len, lentry **out, json_t *problems,
                            char *msg, size_t msglen);
/* Builds from a parsed envelope (stolen) the same way. */
cx_err ledger__entry_from_json(json_t *doc, lentry **out, json_t *problems);
void ledger__entry_free(lentry *e);
/* Checks every signature against its own key over entry_hash; appends a
 * problem per bad one. CX_ECRYPTO if any fails. */
cx_err ledger__entry_check_sigs(const lentry *e, json_t *problems);
/* An id of entries and queries (S_ID): 1..max of A-Z a-z 0-9 . _ / : - */
bool ledger__id_ok(const char *s, size_t max);
/* Body schema of one type; appends problems under base. */
bool ledger__body_validate(ltype t, const json_t *body, json_t *problems, const char *base);
/* The signing hash of an envelope's canonical text without signatures. */
void ledger__signing_hash(const char *canon, size_t len, size_t sig_lo, size_t sig_hi,
                          uint8_t out[32]);

/* Canonical form of an object, reporting the bytes [lo, hi) that member mark
 * (with one separating comma) occupies; both 0 if absent. */
cx_err ledger__jcs_top(const json_t *obj, cx_buf *out, const char *mark, size_t *lo, size_t *hi);
bool ledger__envelope_validate(const json_t *doc, json_t *problems);
bool ledger__origin_valid(const char *s);

/* ---- registry: members, keys, governance, policies ------------------------------------ */
typedef struct {
    unsigned authors; /* bit per lrole */
    struct {
        lrole role;
        int min;
    } req[LR__COUNT];
    int nreq;
} lpolicy;

typedef struct {
    char org[CX_ORG_MAX + 1];
    lrole role;
    int64_t idx;
} lreg_org;

typedef struct {
    uint8_t pk[32];
    int32_t org; /* index into orgs */
    int64_t added, revoked; /* entry indexes; revoked = INT64_MAX while valid */
} lreg_key;

typedef struct {
    uint8_t pk[32];
    char holder[CX_ORG_MAX + 1];
} lreg_gov;

typedef struct lreg {
    bool initialised;
    char origin[LEDGER_ORIGIN_MAX + 1];
    int threshold;
    lreg_gov gov[LEDGER_MAX_GOVERNORS];
    int ngov;
    lreg_org *orgs;
    size_t norgs, corgs;
    cx_map org_index; /* org name -> position in orgs */
    lreg_key *keys;
    size_t nkeys, ckeys;
    cx_map key_index; /* public key (32 bytes) -> position in keys */
    lpolicy policy[LT__COUNT];
} lreg;

lreg *ledger__reg_new(void);
void ledger__reg_free(lreg *r);
const lreg_org *ledger__reg_org(const lreg *r, const char *org);
const lreg_key *ledger__reg_key(const lreg *r, const uint8_t pk[32]);
int ledger__reg_gov(const lreg *r, const uint8_t pk[32]); /* index or -1 */
cx_err ledger__reg_add_org(lreg *r, const char *org, lrole role, int64_t idx);
cx_err ledger__reg_add_key(lreg *r, const char *org, const uint8_t pk[32], int64_t added,
                           int64_t revoked);
void ledger__reg_revoke_key(lreg *r, const uint8_t pk[32], int64_t idx);
void ledger__policy_defaults(lpolicy p[LT__COUNT]);
bool ledger__policy_parse(const json_t *j, lpolicy *p);
json_t *ledger__policy_json(const lpolicy *p);

/* A verdict on an entry: 0 means accepted. */
typedef struct {
    unsigned status; /* 400, 403, 409 */
    const char *code;
    char message[256];
    json_t *details; /* array, owned */
} lverdict;
void ledger__verdict(lverdict *v, unsigned status, const char *code, const char *path,
                     const char *fmt, ...) CX_PRINTF(5, 6);
void ledger__verdict_clear(lverdict *v);

/* ---- connections the state machine runs on --------------------------------------------
 * The serving node runs it on the store writer (store_stmt); `ledger verify`
 * runs the very same code on a scratch database of its own. */
typedef struct {
    store_conn *sc;      /* or */
    sqlite3 *db;         /* a scratch connection with its own statement cache */
    sqlite3_stmt **cache;
    const char **cache_keys;
    size_t ncache;
} lconn;
sqlite3_stmt *ledger__stmt(lconn *c, const char *sql);
sqlite3 *ledger__db(lconn *c);
void ledger__conn_close_scratch(lconn *c);
cx_err ledger__conn_open_scratch(lconn *c, char *err, size_t errlen);

/* The context of one entry through the state machine. */
typedef struct {
    lconn *c;
    lreg *reg;
    const lentry *e;
    int64_t idx;
    bool serving;      /* mirror registry changes into tables, keep history */
    lverdict v;
    /* set by apply when the registry must change after the SQL succeeded */
    void (*commit)(lreg *r, const lentry *e, int64_t idx);
} lapply;

/* Authorisation (signatures against the registry, policy) and the
 * type's state transition. Returns CX_OK if accepted; CX_ESTATE with a.v
 * filled if rejected; CX_EDB on database errors. Changes nothing in memory:
 * a.commit (if set) does, once the caller knows the writes will stay. */
cx_err ledger__apply(lapply *a);
/* Reloads the registry from its tables. */
cx_err ledger__reg_load(lconn *c, lreg *r);

/* ---- storage ----------------------------------------------------------------------------- */
cx_err ledger__scratch_schema(sqlite3 *db, char *err, size_t errlen);
/* Perfect subtree hash from the tables: level 0 from entries, others from
 * nodes. ctx is a store_conn*. */
cx_err ledger__node_read(void *ctx, unsigned level, uint64_t index, uint8_t out[32]);
int64_t ledger__tree_size(store_conn *c);
cx_err ledger__frontier_load(store_conn *c, ledger_frontier *f);

/* ---- findings ----------------------------------------------------------------------------- */
/* Runs the cross-document checks an accepted entry triggers; appends each
 * new finding (as the API shows it) to out. decl is the declaration the
 * entry names, read before the writer (NULL if not stored here). */
cx_err ledger__findings_entry(ledger *lg, store_conn *w, const lentry *e, int64_t idx,
                              const json_t *decl, json_t *out);
/* Records a finding once per (rule, declaration, subject); raises the
 * declaration's lane (red for high, yellow for medium). details is stolen.
 * New findings are appended to out (may be NULL) as the API shows them. */
cx_err ledger__finding_insert(store_conn *w, const char *source, const char *rule,
                              const char *severity, const char *decl_id, int64_t idx,
                              const char *subject, const char *message, json_t *details,
                              json_t *out);
/* Findings are for customs: NULL (every finding) for an officer or admin,
 * else the caller's org, whose declarations' findings alone it may read. */
const char *ledger__findings_scope(const cx_principal *who);
/* The org that lodged declaration decl_id on this node, read on c (the
 * writer's connection in a job); "" if it is not stored here. */
cx_err ledger__decl_org(store_conn *c, const char *decl_id, char org[CX_ORG_MAX + 1]);
extern const decl_hooks ledger__decl_hooks_template;

/* ---- the service -------------------------------------------------------------------------- */
/* Appends are ordered by an orderer: the embedded one (service.c) hands
 * every prepared entry straight to the store's writer, whose single thread
 * fixes the order; a node of a network (net_order.c) publishes it to the
 * stream, and the reader hands each message back in stream order. */
typedef struct ledger_pending ledger_pending;
typedef struct {
    cx_err (*order)(void *self, ledger_pending *p);
    void *self;
} ledger_orderer;
void ledger__set_orderer(ledger *lg, const ledger_orderer *o);
/* Queues the state transition and append on the writer (append.c). */
cx_err ledger__pending_append(ledger *lg, ledger_pending *p);

/* How a pending entry reaches the writer: ordered here (the embedded
 * orderer), or taken from the network's stream at a sequence. */
typedef enum { LP_LOCAL, LP_STREAM } lp_mode;

struct ledger_pending {
    store_job job;
    ledger *lg;
    lentry *e;          /* NULL for a stream message that does not decode */
    json_t *decl;
    ledger_result res;
    ledger_done_fn done;
    void *arg;
    bool job_ok;
    lp_mode mode;
    /* LP_STREAM: the stream sequence, the stream's timestamp (received_at on
     * every node), the entry's signing hash as its Nats-Msg-Id gave it (the
     * key of the submitter waiting for it), and whether the writer found it
     * applied already (a redelivery) */
    uint64_t seq;
    uint16_t pos, of; /* the entry's place in its message, of how many (0: alone) */
    int64_t stream_us;
    uint8_t msg_hash[32];
    bool has_msg_hash;
    bool skipped;
    /* the API caller's org when it may see only its own declarations'
     * findings (see ledger__findings_scope); "" for every finding */
    char scope[CX_ORG_MAX + 1];
    size_t nraised; /* findings recorded, before scoping */
    /* blocking callers */
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    bool *finished;
};

typedef struct ledger_net ledger_net;

struct ledger {
    store *s;
    decl_service *decl;
    ledger_orderer orderer;
    ledger_key *node_key; /* this node's key (endorses, cosigns), or NULL; zeroed on free */
    ledger_net *net;      /* NULL without a network */
    /* writer-thread state: only the writer thread touches these */
    bool loaded;
    bool stale;
    int64_t data_version;
    ledger_frontier tree;
    lreg *reg;
    /* the replay set: first 8 bytes of every signing hash on the log and
     * its index (open addressing; a match is confirmed against the row) */
    uint64_t *seen_key;
    int64_t *seen_idx;
    size_t seen_cap, seen_n;
    uint64_t applied_seq; /* the last stream sequence applied (network) */
    uint16_t stream_pos;  /* the next position expected in message applied_seq + 1: a
                           * message's entries are applied in one writer job */
    /* prechecks waiting for their writer job (append.c), under chk_mu:
     * chk_queued says a job that will take them is queued */
    pthread_mutex_t chk_mu;
    struct precheck_job *chk_head, *chk_tail;
    bool chk_queued;
    /* counters */
    _Atomic uint64_t n_accepted, n_rejected, n_findings;
    /* other modules (ledger_watch, ledger_set_duty) */
    struct {
        ledger_watch_fn fn;
        void *ctx;
    } watch[4];
    size_t nwatch;
    ledger_duty_fn duty;
    void *duty_ctx;
};

/* ---- results and pending entries (service.c, append.c) ------------------------------------ */
void ledger__res_set(ledger_result *r, unsigned status, const char *code, const char *message,
                     json_t *details);
void ledger__pending_free(ledger_pending *p);
/* Prepares text for the writer: decode, canonical form, signatures (off the
 * writer). For the embedded orderer and the network's submitting node. */
ledger_pending *ledger__pending_prepare(ledger *lg, const char *text, size_t len,
                                        ledger_done_fn done, void *arg, ledger_result *res,
                                        const cx_principal *who, bool genesis);
/* A message from the stream at seq: always a pending (NULL only when out of
 * memory); one that does not decode carries its rejection in res, to be
 * recorded at seq like any other. msg_hash: the Nats-Msg-Id's hash, or NULL. */
ledger_pending *ledger__pending_stream(ledger *lg, const char *data, size_t len, uint64_t seq,
                                       int64_t stream_us, const uint8_t *msg_hash);
/* A stream message at seq that claims to be a batch and is not one
 * (ledger_batch_split's why): one rejection, recorded at (seq, 0). */
ledger_pending *ledger__pending_stream_bad(ledger *lg, uint64_t seq, int64_t stream_us,
                                           const char *why);
/* The same for a message this node published itself, whose bytes it has
 * decoded and verified already: e and decl (may be NULL) are taken over. */
ledger_pending *ledger__pending_stream_own(ledger *lg, lentry *e, json_t *decl, uint64_t seq,
                                           int64_t stream_us);
/* Stream messages handed to the writer together (append.c): one job, in
 * order; each pending's outcome goes to ledger__net_applied as alone. */
#define LEDGER_STREAM_BATCH 256
/* entries one job holds: the reader stops taking messages at
 * LEDGER_STREAM_BATCH entries, and the last message may be a batch */
#define LEDGER_STREAM_BATCH_CAP (LEDGER_STREAM_BATCH + LEDGER_BATCH_MAX)
typedef struct ledger_stream_batch ledger_stream_batch;
ledger_stream_batch *ledger__stream_batch_new(void);
/* false when full */
bool ledger__stream_batch_add(ledger_stream_batch *b, ledger_pending *p);
size_t ledger__stream_batch_size(const ledger_stream_batch *b);
/* Queues the batch on the writer (it frees it); on failure the caller
 * still owns it. */
cx_err ledger__stream_batch_append(ledger *lg, ledger_stream_batch *b);
/* Frees a batch that was not appended, with its pendings. */
void ledger__stream_batch_free(ledger_stream_batch *b);
/* Runs the rules for e on the writer against the current state and rolls
 * everything back: ready(arg, res) is called exactly once with what an
 * append would answer now (201 or the rejection) — on the writer's thread,
 * from inside its job, or on this thread when the writer takes no job; it
 * must not block. res is the callee's to take (it may move the members out;
 * what is left is cleared after). e is borrowed until ready is called. */
typedef void (*ledger_check_fn)(void *arg, ledger_result *res);
void ledger__precheck(ledger *lg, const lentry *e, ledger_check_fn ready, void *arg);

/* ---- the network (net*.c) ------------------------------------------------------------------ */
/* The writer applied (or recorded the rejection of) the stream message of p,
 * durably; on the writer thread, must not block. failed: the job or its
 * commit failed (the stream must be read again from the database's
 * sequence). */
void ledger__net_applied(ledger_net *n, ledger_pending *p, bool failed);
/* The orderer of a node on a network. */
cx_err ledger__net_order(void *self, ledger_pending *p);
/* Around the verdicts of checks run as one writer job (on the writer's
 * thread): the entries that pass between the two calls are published as
 * batches (several entries per stream message) at the end. */
void ledger__net_checks_begin(ledger_net *n);
void ledger__net_checks_end(ledger_net *n);
void ledger__net_free(ledger_net *n);
/* The network's Prometheus lines. */
cx_err ledger__net_metrics(ledger_net *n, cx_buf *out);
/* Links of a coo.issue naming a declaration, then every watcher (coo.c):
 * in the append's job, before its findings. */
cx_err ledger__watch_run(ledger *lg, store_conn *w, const lentry *e, int64_t idx);
/* Whether a certificate's goods codes (comma list) cover item_hs (first 6
 * digits). */
bool ledger__hs_match(const char *coo_hs_list, const char *item_hs);

/* ---- checkpoints ------------------------------------------------------------------------ */
/* "origin\nsize\nbase64(root)\n" */
void ledger__checkpoint_text(const char *origin, uint64_t size, const uint8_t root[32],
                             char *out, size_t cap);

bool ledger__key_valid_at_size(int64_t added, int64_t revoked, int64_t size);
/* Cosigns checkpoint size (0: the current head) with key and stores it;
 * line is the signature line, *size_out and root what was signed. */
cx_err ledger__checkpoint_cosign(ledger *lg, const ledger_key *key, int64_t size, char line[256],
                                 int64_t *size_out, uint8_t root[32], char *err, size_t errlen);
/* The number of organisations whose cosignatures make a checkpoint final:
 * the checkpoint policy (policy.set "checkpoint"), else the governance
 * threshold; -1 when it cannot be read. */
int ledger__checkpoint_threshold(store_conn *c);
/* The signed note of checkpoint size with every cosignature gathered
 * (caller frees); NULL if none. */
char *ledger__checkpoint_note(ledger *lg, int64_t size, const uint8_t root[32]);
/* Stores a cosignature (line, by org with pk) of checkpoint size whose root
 * this node computed; *already if it was stored before. */
cx_err ledger__cosig_store(ledger *lg, int64_t size, const uint8_t root[32], const char *org,
                           const uint8_t pk[32], const char *line, bool *already);
/* The checkpoint a proof of entry index should use: the newest that the
 * consortium's threshold cosigned covering it, else the newest covering it
 * (CX_ENOTFOUND: none covers it). As ledger_checkpoint_latest shows it. */
cx_err ledger__checkpoint_covering(ledger *lg, int64_t index, json_t **out);
/* Splits a checkpoint note into its text (up to the last blank line), the
 * three lines it starts with, and the signature lines (*sigs). */
bool ledger__note_parse(const char *note, char *text, size_t textcap, uint64_t *size,
                        uint8_t root[32], char origin[LEDGER_ORIGIN_MAX + 1], const char **sigs);
/* Reads one "— name base64\n" line at *p (68-byte Ed25519 blobs only). */
bool ledger__note_sig_next(const char **p, char name[CX_ORG_MAX + 1], uint8_t blob[68]);
bool ledger__note_sig_verify(const char *name, const uint8_t pk[32], const uint8_t blob[68],
                             const char *text);

/* Counts the distinct organisations of a trust file whose keys signed text
 * in the signature lines sigs (a note's tail); their names go to cosigners.
 * -1 if a trusted key's signature does not verify (why says whose). */
int ledger__note_trusted(const char *sigs, const char *text, const json_t *trust,
                         char *cosigners, size_t cap, char *why, size_t whycap);

/* ---- field commitments ------------------------------------------------------------------- */
cx_err ledger__commit(const uint8_t salt[32], const char *name, const json_t *value,
                      uint8_t out[32]);

#endif
