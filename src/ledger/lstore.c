/* Tables, migrations and the connections the state machine runs on. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The state the rules consult, shared by the serving database and the
 * scratch database of `ledger verify`. */
/* state added after the first release (migration 3): audit.digest, one
 * root per administration and day */
#define LEDGER_STATE_SQL_3                                                                     \
    "CREATE TABLE ledger_audit_digests(authority TEXT NOT NULL, date TEXT NOT NULL,"          \
    " idx INTEGER NOT NULL, PRIMARY KEY(authority, date)) WITHOUT ROWID;"

#define LEDGER_STATE_SQL                                                                       \
    "CREATE TABLE ledger_anchors(declaration_id TEXT PRIMARY KEY, org TEXT NOT NULL,"         \
    " idx INTEGER NOT NULL) WITHOUT ROWID;"                                                    \
    "CREATE TABLE ledger_anchor_certs(issuer TEXT NOT NULL, number TEXT NOT NULL,"            \
    " declaration_id TEXT NOT NULL, idx INTEGER NOT NULL,"                                     \
    " PRIMARY KEY(issuer, number, declaration_id)) WITHOUT ROWID;"                             \
    "CREATE TABLE ledger_bls(number TEXT PRIMARY KEY, carrier TEXT NOT NULL,"                 \
    " holder TEXT NOT NULL, status TEXT NOT NULL, containers TEXT NOT NULL,"                   \
    " issue_idx INTEGER NOT NULL, last_idx INTEGER NOT NULL, last_leaf BLOB NOT NULL)"         \
    " WITHOUT ROWID;"                                                                          \
    "CREATE TABLE ledger_bl_events(number TEXT NOT NULL, idx INTEGER NOT NULL,"               \
    " PRIMARY KEY(number, idx)) WITHOUT ROWID;"                                                \
    "CREATE TABLE ledger_coos(issuer TEXT NOT NULL, number TEXT NOT NULL,"                    \
    " country TEXT NOT NULL, hs TEXT NOT NULL, status TEXT NOT NULL,"                          \
    " issue_idx INTEGER NOT NULL, revoke_idx INTEGER, PRIMARY KEY(issuer, number))"            \
    " WITHOUT ROWID;"                                                                          \
    "CREATE TABLE ledger_aeo(authority TEXT NOT NULL, operator_id TEXT NOT NULL,"             \
    " status TEXT NOT NULL, program TEXT NOT NULL, org TEXT, idx INTEGER NOT NULL,"            \
    " PRIMARY KEY(authority, operator_id)) WITHOUT ROWID;"                                     \
    "CREATE INDEX ledger_aeo_operator ON ledger_aeo(operator_id);"                            \
    "CREATE TABLE ledger_payments(bank TEXT NOT NULL, receipt_no TEXT NOT NULL,"              \
    " declaration_id TEXT NOT NULL, amount REAL NOT NULL, currency TEXT NOT NULL,"             \
    " idx INTEGER NOT NULL, PRIMARY KEY(bank, receipt_no)) WITHOUT ROWID;"                     \
    "CREATE INDEX ledger_payments_decl ON ledger_payments(declaration_id);"                   \
    "CREATE TABLE ledger_manifests(org TEXT NOT NULL, manifest_id TEXT NOT NULL,"             \
    " idx INTEGER NOT NULL, PRIMARY KEY(org, manifest_id)) WITHOUT ROWID;"                     \
    "CREATE TABLE ledger_iprs(registration_no TEXT PRIMARY KEY, holder_org TEXT NOT NULL,"    \
    " kind TEXT NOT NULL, mark TEXT NOT NULL, idx INTEGER NOT NULL) WITHOUT ROWID;"

static const store_migration ledger_migrations[] = {
    {1,
     /* the log: canonical entries (the leaf data) and the tree's nodes.
      * entry_hash (the signing hash) is unique, enforced by the writer's
      * replay set: an index over random hashes would cost a random page
      * write per append. */
     "CREATE TABLE ledger_entries(idx INTEGER PRIMARY KEY, entry_hash BLOB NOT NULL,"
     " leaf_hash BLOB NOT NULL, type TEXT NOT NULL, org TEXT NOT NULL, entry TEXT NOT NULL,"
     " received_at TEXT NOT NULL);"
     "CREATE INDEX ledger_entries_type ON ledger_entries(type, idx);"
     /* id = level << 48 | index: the root of the 2^level leaves from index << level */
     "CREATE TABLE ledger_nodes(id INTEGER PRIMARY KEY, hash BLOB NOT NULL);"
     /* the registry, mirrored from the state machine's memory */
     "CREATE TABLE ledger_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE ledger_governors(key BLOB PRIMARY KEY, holder TEXT NOT NULL);"
     "CREATE TABLE ledger_members(org TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,"
     " country TEXT, idx INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE ledger_keys(key BLOB PRIMARY KEY, org TEXT NOT NULL,"
     " added_idx INTEGER NOT NULL, revoked_idx INTEGER) WITHOUT ROWID;"
     "CREATE INDEX ledger_keys_org ON ledger_keys(org);"
     "CREATE TABLE ledger_policies(type TEXT PRIMARY KEY, policy TEXT NOT NULL,"
     " idx INTEGER NOT NULL) WITHOUT ROWID;" LEDGER_STATE_SQL
     /* derived: cross-document findings, checkpoints, the owner's salts */
     "CREATE TABLE ledger_findings(id INTEGER PRIMARY KEY, rule TEXT NOT NULL,"
     " severity TEXT NOT NULL, declaration_id TEXT NOT NULL, entry_idx INTEGER,"
     " subject TEXT NOT NULL, message TEXT NOT NULL, details TEXT NOT NULL,"
     " source TEXT NOT NULL, created_at TEXT NOT NULL,"
     " UNIQUE(rule, declaration_id, subject));"
     "CREATE INDEX ledger_findings_decl ON ledger_findings(declaration_id);"
     "CREATE TABLE ledger_checkpoints(size INTEGER PRIMARY KEY, root BLOB NOT NULL,"
     " created_at TEXT NOT NULL);"
     "CREATE TABLE ledger_cosignatures(size INTEGER NOT NULL, org TEXT NOT NULL,"
     " key BLOB NOT NULL, line TEXT NOT NULL, created_at TEXT NOT NULL,"
     " PRIMARY KEY(size, org)) WITHOUT ROWID;"
     /* a salt and the value it hides: deleting the row erases the value */
     "CREATE TABLE ledger_salts(idx INTEGER NOT NULL, name TEXT NOT NULL, salt BLOB NOT NULL,"
     " value TEXT NOT NULL, PRIMARY KEY(idx, name)) WITHOUT ROWID;"},
    /* findings are for customs; other roles read only those about their own
     * org's declarations: the org that lodged the declaration, recorded with
     * the finding (NULL: no declaration stored here, customs only). Findings
     * recorded before this step stay NULL. */
    {2, "ALTER TABLE ledger_findings ADD COLUMN org TEXT;"
        "CREATE INDEX ledger_findings_org ON ledger_findings(org, id);"},
    /* audit.digest: one root per administration and day */
    {3, LEDGER_STATE_SQL_3},
    /* the certificates that prove a declaration's origin (ledger_coo_find):
     * those its anchor names, and coo.issue entries naming it */
    {4, "CREATE INDEX ledger_anchor_certs_decl ON ledger_anchor_certs(declaration_id);"
        "CREATE TABLE ledger_coo_links(declaration_id TEXT NOT NULL, issuer TEXT NOT NULL,"
        " number TEXT NOT NULL, idx INTEGER NOT NULL,"
        " PRIMARY KEY(declaration_id, issuer, number)) WITHOUT ROWID;"},
    /* the network (issue 16): the stream sequence beside each leaf (NULL:
     * ordered locally); the messages every node rejected, by sequence; the
     * stream this database follows and how far it applied it (moved in the
     * same transaction as each entry); forks seen in others' cosignatures */
    {5, "ALTER TABLE ledger_entries ADD COLUMN seq INTEGER;"
        "CREATE UNIQUE INDEX ledger_entries_seq ON ledger_entries(seq) WHERE seq IS NOT NULL;"
        "CREATE TABLE ledger_rejected(seq INTEGER PRIMARY KEY, entry_hash BLOB, type TEXT,"
        " org TEXT, status INTEGER NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,"
        " details TEXT NOT NULL, received_at TEXT NOT NULL);"
        "CREATE TABLE ledger_stream(id INTEGER PRIMARY KEY CHECK(id = 1), stream TEXT NOT NULL,"
        " origin TEXT NOT NULL, applied_seq INTEGER NOT NULL, cosign_seq INTEGER NOT NULL"
        " DEFAULT 0);"
        "CREATE TABLE ledger_forks(size INTEGER NOT NULL, org TEXT NOT NULL, root BLOB NOT NULL,"
        " note TEXT NOT NULL, mine TEXT NOT NULL, detected_at TEXT NOT NULL,"
        " PRIMARY KEY(size, org)) WITHOUT ROWID;"},
    /* hot keys (issue 17): a certificate cited by 100,000 declarations is
     * read newest-anchored first by its own key, not sorted whole */
    {6, "CREATE INDEX ledger_anchor_certs_cert ON ledger_anchor_certs(issuer, number, idx);"},
    /* findings listed by rule or severity, and entries listed by org, read
     * their own index in id order (a rare rule among a million findings, or
     * a small member's entries in a long log, are not a walk of the table) */
    {7, "CREATE INDEX ledger_findings_rule ON ledger_findings(rule, id);"
        "CREATE INDEX ledger_findings_severity ON ledger_findings(severity, id);"
        "CREATE INDEX ledger_entries_org ON ledger_entries(org, idx);"},
    /* several entries per stream message (docs/ledger.md, "Stream format"):
     * an entry's place on the stream is its sequence and its position in
     * the message (0 for a message of one entry, as every earlier one).
     * ledger_rejected is rebuilt for its key; its rows keep their sequence
     * as id, the listing's cursor (an INTEGER PRIMARY KEY: VACUUM keeps it
     * and a snapshot carries it, so a cursor means the same on every copy) */
    {8, "ALTER TABLE ledger_entries ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;"
        "DROP INDEX ledger_entries_seq;"
        "CREATE UNIQUE INDEX ledger_entries_seq ON ledger_entries(seq, pos) WHERE seq IS NOT NULL;"
        "CREATE TABLE ledger_rejected_8(id INTEGER PRIMARY KEY,"
        " seq INTEGER NOT NULL, pos INTEGER NOT NULL DEFAULT 0,"
        " entry_hash BLOB, type TEXT, org TEXT, status INTEGER NOT NULL, code TEXT NOT NULL,"
        " message TEXT NOT NULL, details TEXT NOT NULL, received_at TEXT NOT NULL,"
        " UNIQUE(seq, pos));"
        "INSERT INTO ledger_rejected_8(id, seq, pos, entry_hash, type, org, status, code,"
        " message, details, received_at) SELECT seq, seq, 0, entry_hash, type, org, status,"
        " code, message, details, received_at FROM ledger_rejected ORDER BY seq;"
        "DROP TABLE ledger_rejected;"
        "ALTER TABLE ledger_rejected_8 RENAME TO ledger_rejected;"},
};

cx_err ledger_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "ledger", ledger_migrations,
                         sizeof ledger_migrations / sizeof ledger_migrations[0], err, errlen);
}

cx_err ledger__scratch_schema(sqlite3 *db, char *err, size_t errlen)
{
    char *msg = NULL;
    static const char sql[] =
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY;"
        "CREATE TABLE ledger_seen(hash BLOB PRIMARY KEY) WITHOUT ROWID;" LEDGER_STATE_SQL
        LEDGER_STATE_SQL_3;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot create the scratch database: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return CX_EDB;
    }
    return CX_OK;
}

/* ---- connections ------------------------------------------------------------------------ */

sqlite3_stmt *ledger__stmt(lconn *c, const char *sql)
{
    if (c->sc)
        return store_stmt(c->sc, sql);
    for (size_t i = 0; i < c->ncache; i++)
        if (c->cache_keys[i] == sql) {
            sqlite3_reset(c->cache[i]);
            sqlite3_clear_bindings(c->cache[i]);
            return c->cache[i];
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        cx_log(CX_LOG_ERROR, "sql prepare failed: %s: %s", sqlite3_errmsg(c->db), sql);
        return NULL;
    }
    sqlite3_stmt **cache = realloc(c->cache, (c->ncache + 1) * sizeof *cache);
    const char **keys = cache ? realloc(c->cache_keys, (c->ncache + 1) * sizeof *keys) : NULL;
    if (cache)
        c->cache = cache;
    if (!keys) {
        sqlite3_finalize(st);
        return NULL;
    }
    c->cache_keys = keys;
    c->cache[c->ncache] = st;
    c->cache_keys[c->ncache] = sql;
    c->ncache++;
    return st;
}

sqlite3 *ledger__db(lconn *c)
{
    return c->sc ? store_conn_db(c->sc) : c->db;
}

cx_err ledger__conn_open_scratch(lconn *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    /* "" is a private temporary database on disk: big states spill to a
     * file instead of memory */
    if (sqlite3_open_v2("", &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open a scratch database");
        sqlite3_close(c->db);
        c->db = NULL;
        return CX_EDB;
    }
    sqlite3_exec(c->db, "PRAGMA cache_size=-65536", NULL, NULL, NULL);
    return ledger__scratch_schema(c->db, err, errlen);
}

void ledger__conn_close_scratch(lconn *c)
{
    for (size_t i = 0; i < c->ncache; i++)
        sqlite3_finalize(c->cache[i]);
    free(c->cache);
    free(c->cache_keys);
    if (c->db)
        sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

/* ---- the tree in the tables ------------------------------------------------------------- */

int64_t ledger__tree_size(store_conn *c)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT coalesce(max(idx) + 1, 0) FROM ledger_entries");
    if (!st)
        return -1;
    cx_err e = CX_OK; /* a step error is logged, and -1 like a statement that would not prepare */
    int64_t n = store_next(st, &e) ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return n;
}

cx_err ledger__node_read(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
    store_conn *c = ctx;
    sqlite3_stmt *st;
    if (level == 0) {
        st = store_stmt(c, "SELECT leaf_hash FROM ledger_entries WHERE idx=?1");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, (int64_t)index);
    } else {
        st = store_stmt(c, "SELECT hash FROM ledger_nodes WHERE id=?1");
        if (!st)
            return CX_EDB;
        sqlite3_bind_int64(st, 1, (int64_t)((uint64_t)level << 48 | index));
    }
    int rc = sqlite3_step(st);
    cx_err e = CX_ENOTFOUND;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
        memcpy(out, sqlite3_column_blob(st, 0), 32);
        e = CX_OK;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        e = CX_EDB;
    }
    sqlite3_reset(st);
    return e;
}

cx_err ledger__frontier_load(store_conn *c, ledger_frontier *f)
{
    memset(f, 0, sizeof *f);
    int64_t n = ledger__tree_size(c);
    if (n < 0)
        return CX_EDB;
    uint64_t offset = 0;
    for (int l = LEDGER_TREE_LEVELS - 1; l >= 0; l--) {
        if (!(((uint64_t)n >> l) & 1))
            continue;
        cx_err e = ledger__node_read(c, (unsigned)l, offset >> l, f->h[l]);
        if (e != CX_OK)
            return e;
        offset += (uint64_t)1 << l;
    }
    f->size = (uint64_t)n;
    return CX_OK;
}
