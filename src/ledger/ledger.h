/*
 * ledger.h — the door of the ledger module: a signed, verifiable Merkle log
 * shared by customs administrations, traders, carriers, banks and chambers.
 * Public names carry the prefix ledger_. docs/ledger.md describes the
 * envelope, the canonical form, the entry types and rules, checkpoints,
 * bundles and the HTTP API.
 *
 * Entries are JSON envelopes {"type","org","body","signatures"[,"time",
 * "ledger"]} signed with Ed25519 over a domain-separated SHA-256 of the
 * RFC 8785 (JCS) form of everything but "signatures". A deterministic state
 * machine accepts or rejects each one; accepted entries become leaves of an
 * RFC 6962 Merkle tree (the leaf data is the JCS form of the whole entry)
 * whose heads are published as C2SP tlog-checkpoint notes cosigned by
 * member organisations.
 */
#ifndef CUSTOMS_LEDGER_H
#define CUSTOMS_LEDGER_H

#include "alert.h"
#include "core.h"
#include "declare.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

#define LEDGER_MAX_ENTRY ((size_t)1 << 20) /* bytes of one entry's JSON text */
#define LEDGER_MAX_SIGNATURES 16
#define LEDGER_MAX_GOVERNORS 16
#define LEDGER_ORIGIN_MAX 128
#define LEDGER_NUMBER_MAX 32
/* policy.set {"type":"checkpoint","policy":{"threshold":N}}: at most */
#define LEDGER_MAX_CHECKPOINT_THRESHOLD 64
/* Export and import declarations of one transport document whose values
 * differ by more than this share of the larger raise a mirror finding. */
#define LEDGER_MIRROR_TOLERANCE 0.10
/* Paying less than the assessed duty by more than this raises a finding. */
#define LEDGER_DUTY_TOLERANCE 0.01

/* ---- RFC 8785 canonical JSON ---------------------------------------------------
 * Appends the canonical form of v. CX_EINVAL for values with no canonical
 * form (non-finite numbers) and for integers beyond ±2^53 whose canonical
 * form would differ from how they were written (9007199254740993 would
 * become ...992), and for magnitudes from 2^63 to 1e21, which ECMAScript
 * writes as integers too long for 64-bit JSON readers to read back;
 * CX_ETOOBIG past 64 levels of nesting or out's cap. */
cx_err ledger_jcs(const json_t *v, cx_buf *out);
/* ECMAScript Number.prototype.toString of a finite double; returns the
 * length written to out (NUL-terminated). */
size_t ledger_jcs_number(double v, char out[LEDGER_NUMBER_MAX]);
/* Order of member names: UTF-16 code units (a and b are valid UTF-8). */
int ledger_jcs_keycmp(const char *a, const char *b);

/* ---- RFC 6962 hashing and proof verification ------------------------------------ */
void ledger_leaf_hash(const void *data, size_t len, uint8_t out[32]);
void ledger_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);
/* RFC 9162 §2.1.3.2 and §2.1.4.2. */
bool ledger_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[32],
                             const uint8_t path[][32], size_t n, const uint8_t root[32]);
bool ledger_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[32],
                               const uint8_t root_n[32], const uint8_t proof[][32], size_t k);

/* Proof generation over any store of perfect subtree hashes: node returns
 * the hash of the 2^level leaves starting at index << level (level 0: the
 * leaf hash). Every proof costs O(log n) calls. */
#define LEDGER_TREE_LEVELS 64
typedef cx_err (*ledger_node_fn)(void *ctx, unsigned level, uint64_t index, uint8_t out[32]);
/* MTH(D[lo:hi]) */
cx_err ledger_tree_hash(ledger_node_fn node, void *ctx, uint64_t lo, uint64_t hi,
                        uint8_t out[32]);
/* PATH(index, D[0:size]) into path (room for LEDGER_TREE_LEVELS); *n hashes. */
cx_err ledger_tree_inclusion(ledger_node_fn node, void *ctx, uint64_t index, uint64_t size,
                             uint8_t path[][32], size_t *n);
/* PROOF(m, D[0:n]) for 0 < m <= n. */
cx_err ledger_tree_consistency(ledger_node_fn node, void *ctx, uint64_t m, uint64_t n,
                               uint8_t path[][32], size_t *k);

/* The right edge of a tree: for each set bit L of size, the root of the
 * perfect subtree of 2^L leaves there. Appending a leaf costs O(1) amortised
 * hashes and hands each completed node to emit (which may be NULL). */
typedef struct {
    uint64_t size;
    uint8_t h[LEDGER_TREE_LEVELS][32];
} ledger_frontier;
typedef cx_err (*ledger_emit_fn)(void *ctx, unsigned level, uint64_t index, const uint8_t h[32]);
cx_err ledger_frontier_append(ledger_frontier *f, const uint8_t leaf[32], ledger_emit_fn emit,
                              void *ctx);
void ledger_frontier_root(const ledger_frontier *f, uint8_t out[32]);

/* ---- Ed25519 keys ----------------------------------------------------------------
 * A key file is JSON {"kty":"Ed25519","public":B64,"seed":B64[,"org":ORG]},
 * mode 0600. */
typedef struct {
    uint8_t pk[32];
    uint8_t sk[64];
    char org[CX_ORG_MAX + 1]; /* "" if the file names none */
} ledger_key;

void ledger_key_generate(ledger_key *k);
/* Creates path with O_EXCL and mode 0600: CX_EEXIST if it exists. */
cx_err ledger_key_save(const ledger_key *k, const char *path, char *err, size_t errlen);
cx_err ledger_key_load(const char *path, ledger_key *k, char *err, size_t errlen);
/* Base64 of the public key; out needs 45 bytes. */
void ledger_key_public(const ledger_key *k, char out[45]);
bool ledger_key_parse_public(const char *b64, uint8_t pk[32]);

/* C2SP signed-note Ed25519 signatures (type 0x01): the key ID is
 * SHA-256(name || 0x0A || 0x01 || pk)[:4]; the line is
 * "— name base64(key ID || signature over text)\n". */
uint32_t ledger_note_key_id(const char *name, const uint8_t pk[32]);
void ledger_note_sign(const char *name, const ledger_key *key, const char *text, char *out,
                      size_t cap);

/* Adds a signature by key for org (NULL: the key file's org, else the
 * entry's "org") to an entry given as JSON text. The entry must decode and
 * its existing signatures must verify. On success *out is the signed entry
 * as canonical JSON text (caller frees). On failure err says why. */
cx_err ledger_sign(const char *text, size_t len, const ledger_key *key, const char *org,
                   char **out, char *err, size_t errlen);

/* Decodes and checks an entry without a ledger: the envelope and body
 * rules, the canonical form, the signing and leaf hashes, and each signature
 * against its own key (not whether that key is registered: that needs the
 * ledger's state). On success *canonical is the RFC 8785 text (caller frees).
 * Returns CX_EPARSE (not JSON), CX_EINVAL (problems name each rule broken),
 * CX_ETOOBIG or CX_ECRYPTO (a signature does not verify). problems may be
 * NULL. */
cx_err ledger_entry_decode(const char *text, size_t len, json_t *problems, char **canonical,
                           size_t *canonical_len, uint8_t entry_hash[32], uint8_t leaf_hash[32]);

/* ---- the service --------------------------------------------------------------- */
typedef struct ledger ledger;

cx_err ledger_migrate(store *s, char *err, size_t errlen);

/* The service borrows s and decl (decl may be NULL: no cross-document
 * findings). With decl it adds declaration hooks, so create it before the
 * server starts. Free it before decl and the store. */
ledger *ledger_new(store *s, decl_service *decl);
void ledger_free(ledger *lg);
store *ledger_store(ledger *lg);

/* The outcome of one submission. */
typedef struct {
    unsigned status;  /* 201 accepted; 400, 403, 409 rejected; 503 not stored */
    char code[32];    /* "" on success, else the rule that failed */
    char message[256];
    json_t *details;  /* [{"path","message"}], owned */
    int64_t index;    /* on success */
    uint64_t seq;     /* the stream sequence on a network (0: ordered locally) */
    unsigned pos;     /* and the entry's position in that message (0: first or alone) */
    uint8_t leaf_hash[32];
    json_t *findings; /* array of findings raised, owned */
} ledger_result;
void ledger_result_clear(ledger_result *r);
/* {"index","leaf_hash","findings"} or the error body; caller decrefs. */
json_t *ledger_result_json(const ledger_result *r);

/* Decodes, verifies every signature and appends one entry (JSON text),
 * blocking until it is durable or rejected. Signature checks and parsing run
 * on the calling thread. res must be cleared by the caller. A ledger.init is
 * refused (403 forbidden, /type): the genesis comes from ledger_init only. */
void ledger_submit(ledger *lg, const char *text, size_t len, ledger_result *res);

/* Asynchronous form: done runs once the outcome is final (must not block),
 * on the writer thread — or, on a network node, on another of the ledger's
 * threads (a check's rejection, a publish the stream refused, a timeout);
 * no thread waits for it meanwhile. res is valid only during the call. who is the API
 * caller (NULL: no restriction): findings are for customs, so unless who is
 * an officer or admin res->findings keeps only those about declarations
 * its own org lodged (every finding is recorded all the same). */
typedef void (*ledger_done_fn)(void *arg, ledger_result *res);
void ledger_submit_async(ledger *lg, const cx_principal *who, const char *text, size_t len,
                         ledger_done_fn done, void *arg);

/* This node's own key (a copy is kept, zeroed on free): the node endorses
 * the anchors of declarations it holds (docs/ledger.md, "Endorsements") and,
 * on a network, cosigns its checkpoints. The key counts for the org it is
 * registered to on the ledger; an unregistered key endorses nothing. */
cx_err ledger_set_node_key(ledger *lg, const ledger_key *key);

/* ---- the network -----------------------------------------------------------------
 * Every organisation runs a node with its own database; one NATS JetStream
 * stream per ledger origin orders the entries (docs/ledger.md, "Network").
 * Once started, ledger_submit and ledger_submit_async check an entry
 * against this node's state, publish it with Nats-Msg-Id = the hex signing
 * hash and answer only once the stream acknowledged it and this node
 * applied it in stream order: 201, or the rejection every node recorded at
 * that sequence; 503 unavailable when the stream cannot take it (no quorum):
 * never a local-only append. A node cosigns checkpoints of its tree every
 * second of activity, collects the others' cosignatures, and raises a
 * critical ledger_fork alert (and stops cosigning) when another
 * organisation cosigns a different root for a size. */
/* How a node proves itself to the NATS cluster and checks the cluster's
 * servers (every string borrowed, NULL: not used). Secret files (key, creds,
 * password, token) must be readable by their owner only. */
typedef struct {
    const char *ca;            /* PEM CA certificates: TLS, the servers' certificates
                                * verified against them */
    const char *cert, *key;    /* PEM client certificate chain and its key (mutual TLS) */
    const char *creds;         /* NATS credentials file (user JWT and NKey seed) */
    const char *user;          /* user name, with password_file */
    const char *password_file; /* the user's password (first line) */
    const char *token_file;    /* an authentication token (first line) */
} ledger_nats_auth;

typedef struct {
    const char *urls;      /* "nats://h1:p1,nats://h2:p2,…" (tls:// too) */
    ledger_nats_auth auth; /* TLS and credentials */
    const char *origin;    /* NULL: the one ledger the cluster carries */
    const char *org;       /* this node's organisation: its status key; NULL: none */
    const json_t *trust;   /* trust file (customs ledger trust): a stream whose genesis
                            * differs is refused; NULL: none (borrowed during start) */
    const char *snapshot;  /* an empty ledger starts from this snapshot; NULL: replay */
    int replicas;          /* when this node creates the stream: 0 = 3 with three or more
                            * URLs, else 1 */
    bool node;             /* a serving node: cosigns (with ledger_set_node_key's key)
                            * and publishes its status every second */
    bool create;           /* create the streams if the cluster has none for origin */
    alert_service *alerts; /* ledger_fork alerts (borrowed); NULL: none */
    int64_t wait_ms;       /* how long start waits for the cluster: 0 = 15 s */
} ledger_net_config;
/* Connects, finds (or creates) the stream, checks its genesis against the
 * trust file and the database's position against the stream (refusing a
 * stream this database did not follow), imports the snapshot if any, and
 * starts reading the stream from the last sequence applied. Fails (err says
 * why) on any mismatch, or when the cluster does not answer in wait_ms. */
cx_err ledger_net_start(ledger *lg, const ledger_net_config *cfg, char *err, size_t errlen);
/* Blocks until this node applied what the stream held when called. */
cx_err ledger_net_sync(ledger *lg, int64_t timeout_ms, char *err, size_t errlen);
/* Cosigns the current head with key like ledger_checkpoint_sign and, on a
 * network, publishes the cosignature for the other nodes. *note is the note
 * with every cosignature gathered here for that size (caller frees). */
cx_err ledger_net_cosign(ledger *lg, const ledger_key *key, char **note, char *err,
                         size_t errlen);
/* Stops the network's threads (submissions then answer 503); ledger_free
 * does it too. Safe without a network. */
void ledger_net_stop(ledger *lg);
/* {"state","origin","stream","applied_seq","stream_last_seq","lag",…} for
 * /healthz, or NULL without a network (caller decrefs). state is "ok",
 * "catching_up", "connecting", "fork" or "failed". */
json_t *ledger_net_health(ledger *lg);
/* The network as `customs ledger network status` shows it: the stream's
 * state and every node's applied sequence, latest cosigned checkpoint and
 * lag (*out: caller decrefs). */
cx_err ledger_net_status(const char *urls, const ledger_nats_auth *auth, const char *origin,
                         json_t **out, char *err, size_t errlen);
/* Writes the ledger tables (entries, tree, registry, state, checkpoints, the
 * stream position; never declarations, findings or salts) to a new database
 * at path: what a node started with ledger_net_config.snapshot imports. */
cx_err ledger_snapshot(ledger *lg, const char *path, char *err, size_t errlen);

/* ---- other modules on the ledger ------------------------------------------------------
 * Set before the server starts (not thread-safe against appends).
 *
 * Watchers follow entries as they are appended: fn runs on the writer
 * thread inside the append's transaction, after the ledger's own state has
 * moved and before its findings; type is the entry type ("payment.receipt"),
 * org the envelope's org, body the entry's body (borrowed). An error rolls
 * the append back (503), so return one only when the database fails. */
typedef cx_err (*ledger_watch_fn)(void *ctx, store_conn *w, const char *type, const char *org,
                                  const json_t *body, int64_t index);
cx_err ledger_watch(ledger *lg, ledger_watch_fn fn, void *ctx);

/* What a module assessed for a declaration, for the payment_below_duty
 * finding: the total of duties and taxes and what was paid (net of
 * refunds), in minor units of currency (exponent exp). fn returns
 * CX_ENOTFOUND when it assessed nothing; the finding then falls back to the
 * declaration's own tax_rate × value. */
typedef struct {
    int64_t assessed, paid;
    char currency[4];
    int exp;
} ledger_duty;
typedef cx_err (*ledger_duty_fn)(void *ctx, store_conn *w, const char *declaration_id,
                                 ledger_duty *out);
void ledger_set_duty(ledger *lg, ledger_duty_fn fn, void *ctx);

/* A certificate of origin that proves a declaration's origin: one its
 * anchor names (certificates) or a coo.issue naming the declaration
 * (declaration_id), issued and not revoked, for exporter, country origin
 * and a goods code sharing hs's first 6 digits, issued on or before date
 * and valid on it (valid_until). Read on c (this thread's reader, or the
 * writer's connection inside a job). CX_ENOTFOUND if there is none. */
typedef struct {
    char issuer[CX_ORG_MAX + 1];
    char number[LEDGER_NUMBER_MAX + 1];
    int64_t index; /* the coo.issue entry */
} ledger_coo;
cx_err ledger_coo_find(store_conn *c, const char *declaration_id, const char *exporter,
                       const char *origin, const char *hs, const char *date, ledger_coo *out);

/* ---- reads ------------------------------------------------------------------------
 * On this thread's read connection. JSON results (*out) belong to the
 * caller (json_decref). CX_ENOTFOUND for an unknown index, CX_EINVAL for
 * sizes outside 1..ledger_size(). */
int64_t ledger_size(ledger *lg);
/* {"index","type","org","leaf_hash","entry_hash","received_at","canonical","entry"} */
cx_err ledger_entry_get(ledger *lg, int64_t index, json_t **out);
/* {"index","tree_size","leaf_hash","audit_path":[hex…]}; size 0 = current. */
cx_err ledger_proof(ledger *lg, int64_t index, int64_t size, json_t **out);
/* {"from","to","proof":[hex…]} */
cx_err ledger_consistency(ledger *lg, int64_t from, int64_t to, json_t **out);
cx_err ledger_root(ledger *lg, int64_t size, uint8_t out[32]);

/* ---- consortium set-up -------------------------------------------------------------- */
typedef struct {
    char holder[CX_ORG_MAX + 1];
    uint8_t pk[32];
    const ledger_key *key; /* its secret key if held here (borrowed), else NULL */
} ledger_governor;
/* Appends the genesis entry (index 0): origin, M-of-N governance keys and
 * the default endorsement policies, signed by every governor whose key is
 * given; the rules refuse a genesis signed by fewer than threshold of them.
 * This is the only way in for a genesis: ledger_submit and
 * ledger_submit_async refuse ledger.init (403 forbidden), so no API
 * caller can claim the governance of an empty ledger. */
void ledger_init(ledger *lg, const char *origin, int threshold, const ledger_governor *gov,
                 size_t ngov, ledger_result *res);

/* ---- checkpoints -------------------------------------------------------------------- */
/* Cosigns the current tree head with key (for the org registered for that
 * key): adds the signature to the latest checkpoint if it is at the current
 * size, otherwise starts a new checkpoint. *note is the signed note with all
 * its signatures (caller frees). */
cx_err ledger_checkpoint_sign(ledger *lg, const ledger_key *key, char **note, char *err,
                              size_t errlen);
/* A cosignature as network nodes publish it: a C2SP signed note with one
 * Ed25519 signature line, "origin\nsize\nbase64(root)\n\n— org base64\n".
 * Reads it without verifying it (that needs the org's registered keys):
 * false unless it is exactly that, at most 512 bytes. */
typedef struct {
    char origin[LEDGER_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[32];
    char org[CX_ORG_MAX + 1];
    uint32_t key_id;
    uint8_t sig[64];
    char text[LEDGER_ORIGIN_MAX + 128]; /* the signed text: the note's first three lines */
    char line[256];                     /* the signature line with its newline */
} ledger_cosignature;
bool ledger_cosignature_read(const char *note, size_t len, ledger_cosignature *out);

/* A batch of the network's entry stream: several entries in one stream
 * message (docs/ledger.md, "Stream format"). The message carries the header
 * Ledger-Batch: <n> and a body of n canonical entry texts joined by '\n'
 * (JCS never writes a raw newline). ledger_batch_split checks the header's
 * count (decimal, 1..LEDGER_BATCH_MAX, no sign or leading zero), the body's
 * size (<= LEDGER_BATCH_BYTES) and that it splits into exactly n non-empty
 * lines; it fills off/len with each line's place and returns n, or -1 with
 * why (the same verdict on every node). It does not decode the entries:
 * each line is then an entry of its own, accepted or rejected alone. */
#define LEDGER_BATCH_MAX 64
#define LEDGER_BATCH_BYTES ((size_t)256 << 10)
int ledger_batch_split(const char *count, const char *body, size_t blen,
                       size_t off[LEDGER_BATCH_MAX], size_t len[LEDGER_BATCH_MAX], char *why,
                       size_t cap);
/* A batch's Nats-Msg-Id hash: SHA-256 over a fixed prefix and its entries'
 * signing hashes in order, so a retry of the same batch is the same id and
 * no batch id is an entry's own. */
void ledger_batch_id(const uint8_t (*hashes)[32], size_t n, uint8_t out[32]);

/* The latest checkpoint as the API shows it (*out: caller decrefs);
 * CX_ENOTFOUND if none. */
cx_err ledger_checkpoint_latest(ledger *lg, json_t **out);

/* ---- privacy: anchors, salts, bundles --------------------------------------------------
 * Commitment to one field: SHA-256("customs.ledger.field.v1" 0x00 || salt ||
 * name || 0x00 || JCS(value)), hex. */
/* Builds the body of a declaration.anchor for a stored declaration: a
 * salted commitment per leaf field (all but status, risk and inspection,
 * which change after lodging). *salts maps each field's JSON Pointer to
 * {"salt": base64, "value": the value}. Both objects are the caller's. */
cx_err ledger_anchor_body(const json_t *declaration, json_t **body, json_t **salts);
/* The same for a parcel.manifest: one commitment per parcel object, named
 * "/parcels/<i>". */
cx_err ledger_parcels_body(const char *manifest_id, const json_t *parcels, json_t **body,
                           json_t **salts);
/* Keeps the salts of entry index in this node's salt store (the owner's). */
cx_err ledger_salts_put(ledger *lg, int64_t index, const json_t *salts);
/* Deletes salts (all of the entry's if name is NULL): the hidden values can
 * no longer be proven. *deleted counts them. */
cx_err ledger_salts_erase(ledger *lg, int64_t index, const char *name, int64_t *deleted);
/* A disclosure bundle revealing the named fields of entry index with their
 * salts, an inclusion proof and the latest cosigned checkpoint (*out: caller
 * decrefs). CX_ESTATE if no checkpoint covers the entry, CX_ENOTFOUND if a
 * field has no salt here. */
cx_err ledger_bundle(ledger *lg, int64_t index, const char *const *names, size_t n,
                     json_t **out, char *err, size_t errlen);
/* The trust file of this ledger: origin and every member's current public
 * keys (*out: caller decrefs). */
cx_err ledger_trust(ledger *lg, json_t **out);
/* Verifies a bundle offline with nothing but a trust file. Writes a one-line
 * report (what was proven, or the first failure) into report. */
bool ledger_bundle_verify(const json_t *bundle, const json_t *trust, int quorum, char *report,
                          size_t cap);

/* ---- verification from scratch ------------------------------------------------------------ */
typedef struct {
    int64_t entries;
    uint8_t root[32];
    int64_t checkpoints;
    int64_t bad_index; /* -1 when ok or when the failure has no index */
    char why[512];
} ledger_verify_report;
/* Recomputes every leaf, node, signature, policy and state transition and
 * checks every checkpoint of the database at path (opened read-only).
 * threads 0 = number of CPUs. Returns true if everything holds. */
bool ledger_verify_db(const char *path, unsigned threads, bool progress,
                      ledger_verify_report *rep);

/* ---- HTTP ------------------------------------------------------------------------------------ */
/* POST /v1/ledger/entries and the GET endpoints of docs/ledger.md. */
cx_err ledger_routes(ledger *lg, http_server *srv);

#endif
