#include "store_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_MAX_BATCH 4096
/* WAL frames after which the checkpointer copies them into the database
 * (SQLite's own automatic checkpoint starts at the same size) */
#define STORE_CHECKPOINT_FRAMES 1000
#define STORE_WAL_MAX_FRAMES (4 * STORE_CHECKPOINT_FRAMES)
#define STORE_BUSY_MS 30000

const unsigned store_batch_bounds[11] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

typedef struct {
    const char *key;
    sqlite3_stmt *stmt;
} stmt_slot;

typedef struct {
    store_done_fn fn;
    void *arg;
    size_t job; /* index in the running batch */
} after_commit;

struct store_conn {
    sqlite3 *db;
    stmt_slot *slots;
    size_t nslots; /* power of two */
    size_t used;
    struct store *owner;          /* readers only */
    struct store_conn *next_reader, *prev_reader;
    struct store_conn *next_idle; /* in the store's idle pool */
    /* writer only: callbacks registered by the batch's jobs */
    bool in_job;
    size_t job;
    after_commit *after;
    size_t nafter, capafter;
};

struct store {
    char *path;
    pthread_key_t reader_key; /* this thread's read connection; closed when the thread ends */
    bool reader_key_made;
    store_conn *writer;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    store_job *head, *tail;
    bool stopping;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t readers_mu;
    store_conn *readers; /* every reader, in use or idle: closed by store_free */
    store_conn *idle;    /* readers of ended threads, kept for the next thread */
    size_t nidle;

    pthread_mutex_t stats_mu;
    store_stats stats;
    /* SQLite VM steps of the readers, counted by a progress handler every
     * READ_STEP_GRAIN steps: what a request reads shows in /metrics */
    _Atomic uint64_t read_steps;
    /* Checkpoints run on their own thread and connection, not on the writer
     * after a commit: every job waits for the writer, none for them. */
    store_conn *ckpt;
    pthread_t ckpt_thread;
    bool ckpt_started, ckpt_wanted, ckpt_stop;
    int ckpt_at; /* the WAL's length at the last request (the writer's) */
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
};


/* ---- connections ---------------------------------------------------------- */

static void conn__free(store_conn *c)
{
    if (!c)
        return;
    free(c->after);
    for (size_t i = 0; i < c->nslots; i++)
        if (c->slots[i].stmt)
            sqlite3_finalize(c->slots[i].stmt);
    free(c->slots);
    sqlite3_close_v2(c->db);
    free(c);
}

static cx_err conn__open(const char *path, bool writer, store_conn **out, char *err, size_t errlen)
{
    store_conn *c = calloc(1, sizeof *c);
    if (!c)
        return CX_ENOMEM;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &c->db, flags, store__vfs());
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn__free(c);
        return CX_EDB;
    }
    sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
    sqlite3_extended_result_codes(c->db, 1);
    /* The writer's page cache holds the hot index pages of append-heavy
     * tables (random keys such as hashes); 2 MB, the default, thrashes.
     * temp_store=MEMORY keeps the savepoints' sub-journal in memory: past
     * 64 KiB SQLite spills it to a temporary file, created, written and
     * unlinked once per batch (the WAL alone carries durability). */
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   "PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
                                   "PRAGMA temp_store=MEMORY;"
                                 : "PRAGMA foreign_keys=ON;";
    char *msg = NULL;
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &msg);
    if (rc == SQLITE_OK && writer) {
        /* journal_mode answers with the mode it got; anything but wal is a
         * file we must not trust our durability rules to. */
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL);
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
            rc = SQLITE_ERROR;
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        conn__free(c);
        return CX_EDB;
    }
    *out = c;
    return CX_OK;
}

sqlite3 *store_conn_db(store_conn *c)
{
    return c->db;
}

static size_t conn__hash(const char *key, size_t mask)
{
    uintptr_t h = (uintptr_t)key;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 7) & mask;
}

static cx_err conn__grow(store_conn *c)
{
    size_t n = c->nslots ? c->nslots * 2 : 32;
    stmt_slot *slots = calloc(n, sizeof *slots);
    if (!slots)
        return CX_ENOMEM;
    for (size_t i = 0; i < c->nslots; i++) {
        if (!c->slots[i].key)
            continue;
        size_t j = conn__hash(c->slots[i].key, n - 1);
        while (slots[j].key)
            j = (j + 1) & (n - 1);
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    return CX_OK;
}

sqlite3_stmt *store_stmt(store_conn *c, const char *sql)
{
    if (c->nslots) {
        size_t j = conn__hash(sql, c->nslots - 1);
        while (c->slots[j].key) {
            if (c->slots[j].key == sql) {
                sqlite3_stmt *st = c->slots[j].stmt;
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
                return st;
            }
            j = (j + 1) & (c->nslots - 1);
        }
    }
    if ((c->used + 1) * 2 > c->nslots && conn__grow(c) != CX_OK)
        return NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        cx_log(CX_LOG_ERROR, "sql prepare failed: %s: %s", sqlite3_errmsg(c->db), sql);
        return NULL;
    }
    size_t j = conn__hash(sql, c->nslots - 1);
    while (c->slots[j].key)
        j = (j + 1) & (c->nslots - 1);
    c->slots[j].key = sql;
    c->slots[j].stmt = st;
    c->used++;
    return st;
}

cx_err store_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : rc == SQLITE_CONSTRAINT_UNIQUE ? CX_EEXIST : CX_EDB;
}

bool store_next(sqlite3_stmt *st, cx_err *e)
{
    if (*e != CX_OK)
        return false;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return true;
    if (rc != SQLITE_DONE) {
        cx_log(CX_LOG_ERROR, "sql step failed: %s: %s", sqlite3_errmsg(sqlite3_db_handle(st)),
               sqlite3_sql(st));
        *e = CX_EDB;
    }
    return false;
}

bool store_row(sqlite3_stmt *st, cx_buf *b)
{
    cx_err e = cx_buf_error(b);
    if (store_next(st, &e))
        return true;
    cx_buf_fail(b, e); /* CX_OK at the end changes nothing; a failed b keeps its error */
    return false;
}

cx_err store_exec(store_conn *c, const char *sql)
{
    sqlite3_stmt *st = store_stmt(c, sql);
    if (!st)
        return CX_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        cx_log(CX_LOG_ERROR, "sql failed: %s: %s", sqlite3_errmsg(c->db), sql);
        return CX_EDB;
    }
    return CX_OK;
}

/* One read connection per (thread, store), found through a thread-specific
 * key. Threads come and go (commands, services' workers; the HTTP edge's
 * workers are a fixed pool), so the key's destructor closes a thread's
 * connection when the thread ends. */
static void reader__unlink(store *s, store_conn *c)
{
    if (c->prev_reader)
        c->prev_reader->next_reader = c->next_reader;
    else
        s->readers = c->next_reader;
    if (c->next_reader)
        c->next_reader->prev_reader = c->prev_reader;
}

#define STORE_IDLE_READERS 64

/* A thread ended: its reader (prepared statements and all) waits in a small
 * pool for the next thread; beyond the pool it is closed. */
static void reader__thread_end(void *p)
{
    store_conn *c = p;
    store *s = c->owner;
    pthread_mutex_lock(&s->readers_mu);
    bool keep = s->nidle < STORE_IDLE_READERS;
    if (keep) {
        c->next_idle = s->idle;
        s->idle = c;
        s->nidle++;
    } else {
        reader__unlink(s, c);
    }
    pthread_mutex_unlock(&s->readers_mu);
    if (!keep)
        conn__free(c);
}

/* A reader's progress handler: counts its steps by the grain (a function
 * call per 1,000 VM steps: cheap), never interrupts. */
#define READ_STEP_GRAIN 1000

static int reader__steps(void *arg)
{
    store *s = arg;
    atomic_fetch_add_explicit(&s->read_steps, READ_STEP_GRAIN, memory_order_relaxed);
    return 0;
}

store_conn *store_reader(store *s)
{
    store_conn *c = pthread_getspecific(s->reader_key);
    if (c)
        return c;
    pthread_mutex_lock(&s->readers_mu);
    c = s->idle;
    if (c) {
        s->idle = c->next_idle;
        s->nidle--;
    }
    pthread_mutex_unlock(&s->readers_mu);
    if (c) {
        if (pthread_setspecific(s->reader_key, c) != 0) {
            reader__thread_end(c);
            return NULL;
        }
        return c;
    }
    char err[256];
    if (conn__open(s->path, false, &c, err, sizeof err) != CX_OK) {
        cx_log(CX_LOG_ERROR, "%s", err);
        return NULL;
    }
    c->owner = s;
    sqlite3_progress_handler(c->db, READ_STEP_GRAIN, reader__steps, s);
    pthread_mutex_lock(&s->readers_mu);
    c->next_reader = s->readers;
    if (s->readers)
        s->readers->prev_reader = c;
    s->readers = c;
    pthread_mutex_unlock(&s->readers_mu);
    if (pthread_setspecific(s->reader_key, c) != 0) {
        reader__thread_end(c);
        return NULL;
    }
    return c;
}

size_t store_reader_count(store *s)
{
    size_t n = 0;
    pthread_mutex_lock(&s->readers_mu);
    for (store_conn *c = s->readers; c; c = c->next_reader)
        n++;
    n -= s->nidle;
    pthread_mutex_unlock(&s->readers_mu);
    return n;
}

/* ---- the writer ----------------------------------------------------------- */

static void writer__stats(store *s, size_t n, bool ok)
{
    pthread_mutex_lock(&s->stats_mu);
    s->stats.commits++;
    s->stats.jobs += n;
    s->stats.batch_sum += n;
    if (!ok)
        s->stats.failed_commits++;
    int b = 0;
    while (b < 11 && n > store_batch_bounds[b])
        b++;
    s->stats.batch_hist[b]++;
    pthread_mutex_unlock(&s->stats_mu);
}

cx_err store_after_commit(store_conn *w, store_done_fn fn, void *arg)
{
    if (!w->in_job)
        return CX_EINVAL;
    if (w->nafter == w->capafter) {
        size_t cap = w->capafter ? w->capafter * 2 : 64;
        after_commit *a = realloc(w->after, cap * sizeof *a);
        if (!a)
            return CX_ENOMEM;
        w->after = a;
        w->capafter = cap;
    }
    w->after[w->nafter++] = (after_commit){fn, arg, w->job};
    return CX_OK;
}

static void writer__run_batch(store *s, store_job *batch, size_t n)
{
    cx_err results[STORE_MAX_BATCH];
    store_conn *w = s->writer;
    cx_err txe = store_exec(w, "BEGIN IMMEDIATE");
    size_t i = 0;
    w->nafter = 0;
    for (store_job *j = batch; j; j = j->next, i++) {
        if (txe) {
            results[i] = txe;
            continue;
        }
        if (store_exec(w, "SAVEPOINT job") != CX_OK) {
            results[i] = CX_EDB;
            continue;
        }
        w->in_job = true;
        w->job = i;
        cx_err r = j->fn(w, j->arg);
        w->in_job = false;
        if (r != CX_OK && store_exec(w, "ROLLBACK TO job") != CX_OK)
            r = CX_EDB;
        if (store_exec(w, "RELEASE job") != CX_OK && r == CX_OK)
            r = CX_EDB;
        results[i] = r;
        /* An I/O or memory error can make SQLite roll the whole transaction
         * back; the jobs before this one are gone, and a later SAVEPOINT
         * would open a transaction of its own and commit alone. Stop. */
        if (sqlite3_get_autocommit(w->db)) {
            txe = CX_EIO;
            for (size_t k = 0; k <= i; k++)
                results[k] = CX_EIO;
        }
    }
    bool ok = true, keep = false;
    for (size_t k = 0; k < n && !keep; k++)
        keep = results[k] == CX_OK;
    if (txe == CX_EIO && sqlite3_get_autocommit(w->db)) {
        ok = false; /* rolled back under us: nothing of this batch is stored */
    } else if (!txe && !keep) {
        /* every job rolled its savepoint back: nothing to keep. A COMMIT
         * would still write the pages they touched to the WAL and fsync */
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    } else if (!txe && store_exec(w, "COMMIT") != CX_OK) {
        ok = false;
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        for (size_t k = 0; k < n; k++)
            if (results[k] == CX_OK)
                results[k] = CX_EIO;
    }
    writer__stats(s, n, ok && !txe);
    i = 0;
    size_t a = 0;
    for (store_job *j = batch, *next; j; j = next, i++) {
        next = j->next; /* done may free the job */
        for (; a < w->nafter && w->after[a].job == i; a++)
            w->after[a].fn(w->after[a].arg, results[i]);
        if (j->done)
            j->done(j->arg, results[i]);
    }
    w->nafter = 0;
}

static void *writer__main(void *arg)
{
    store *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head && s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        store_job *batch = s->head, *last = s->head;
        size_t n = 1;
        while (last->next && n < STORE_MAX_BATCH) {
            last = last->next;
            n++;
        }
        s->head = last->next;
        if (!s->head)
            s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->mu);
        writer__run_batch(s, batch, n);
    }
    return NULL;
}

cx_err store_submit(store *s, store_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return CX_ESHUTDOWN;
    }
    if (s->tail)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return CX_OK;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    cx_err result;
} write_wait;

static void write__done(void *arg, cx_err result)
{
    write_wait *ww = arg;
    pthread_mutex_lock(&ww->mu);
    ww->done = true;
    ww->result = result;
    pthread_cond_signal(&ww->cv);
    pthread_mutex_unlock(&ww->mu);
}

typedef struct {
    store_job_fn fn;
    void *arg;
    write_wait wait;
} write_call;

static cx_err write__trampoline(store_conn *w, void *arg)
{
    write_call *wc = arg;
    return wc->fn(w, wc->arg);
}

static void write__trampoline_done(void *arg, cx_err result)
{
    write_call *wc = arg;
    write__done(&wc->wait, result);
}

cx_err store_write(store *s, store_job_fn fn, void *arg)
{
    return store_write_during(s, fn, arg, NULL, NULL);
}

cx_err store_write_during(store *s, store_job_fn fn, void *arg, void (*meanwhile)(void *),
                          void *mctx)
{
    write_call wc = {.fn = fn, .arg = arg};
    pthread_mutex_init(&wc.wait.mu, NULL);
    pthread_cond_init(&wc.wait.cv, NULL);
    store_job job = {.fn = write__trampoline, .done = write__trampoline_done, .arg = &wc};
    cx_err e = store_submit(s, &job);
    if (e == CX_OK && meanwhile)
        meanwhile(mctx);
    if (e == CX_OK) {
        pthread_mutex_lock(&wc.wait.mu);
        while (!wc.wait.done)
            pthread_cond_wait(&wc.wait.cv, &wc.wait.mu);
        e = wc.wait.result;
        pthread_mutex_unlock(&wc.wait.mu);
    }
    pthread_mutex_destroy(&wc.wait.mu);
    pthread_cond_destroy(&wc.wait.cv);
    return e;
}

static cx_err drain__noop(store_conn *w, void *arg)
{
    (void)w;
    (void)arg;
    return CX_OK;
}

void store_drain(store *s)
{
    /* Jobs run in order and their done callbacks before the next batch's:
     * once an empty job queued now is done, so is everything before it. */
    store_write(s, drain__noop, NULL);
}

void store_get_stats(store *s, store_stats *out)
{
    pthread_mutex_lock(&s->stats_mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->stats_mu);
    out->read_vm_steps = atomic_load_explicit(&s->read_steps, memory_order_relaxed);
}

/* ---- the checkpointer ------------------------------------------------------- */

/* On the writer, after each commit: frames is the WAL's length. The WAL
 * starts again from its beginning only when a write finds it all copied;
 * under steady writes the checkpointer is always a few commits behind, so
 * past STORE_WAL_MAX_FRAMES the writer copies the rest itself (little: the
 * checkpointer has copied the bulk), as SQLite's automatic checkpoint
 * would, and the WAL stays bounded. */
static int ckpt__wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    store *s = arg;
    if (frames >= STORE_WAL_MAX_FRAMES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->stats_mu);
        s->stats.writer_checkpoints++;
        pthread_mutex_unlock(&s->stats_mu);
        return SQLITE_OK;
    }
    if (frames < s->ckpt_at)
        s->ckpt_at = 0; /* the WAL started again */
    /* one request per STORE_CHECKPOINT_FRAMES new frames: each checkpoint
     * syncs the database file */
    if (frames >= s->ckpt_at + STORE_CHECKPOINT_FRAMES) {
        s->ckpt_at = frames;
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_wanted = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *ckpt__main(void *arg)
{
    store *s = arg;
    pthread_mutex_lock(&s->ckpt_mu);
    for (;;) {
        while (!s->ckpt_wanted && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        if (s->ckpt_stop)
            break;
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->ckpt_mu);
        /* PASSIVE, as SQLite's automatic checkpoint: it copies what no
         * reader still needs and waits for no one; the writer restarts the
         * WAL from its start once a checkpoint has copied all of it */
        int rc = sqlite3_wal_checkpoint_v2(s->ckpt->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            cx_log(CX_LOG_WARN, "database checkpoint failed: %s", sqlite3_errmsg(s->ckpt->db));
        pthread_mutex_lock(&s->stats_mu);
        s->stats.checkpoints++;
        pthread_mutex_unlock(&s->stats_mu);
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

/* Without a thread or a connection for it, SQLite's automatic checkpoint
 * on the writer stays. */
static void ckpt__start(store *s)
{
    char err[256] = "no connection";
    if (conn__open(s->path, false, &s->ckpt, err, sizeof err) != CX_OK ||
        sqlite3_exec(s->ckpt->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK ||
        pthread_create(&s->ckpt_thread, NULL, ckpt__main, s) != 0) {
        cx_log(CX_LOG_WARN, "database checkpoints stay on the writer: %s", err);
        conn__free(s->ckpt);
        s->ckpt = NULL;
        return;
    }
    s->ckpt_started = true;
    pthread_setname_np(s->ckpt_thread, "store-ckpt");
    sqlite3_wal_hook(s->writer->db, ckpt__wal_hook, s); /* replaces the automatic checkpoint */
}

static void ckpt__stop(store *s)
{
    if (!s->ckpt_started)
        return;
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = true;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt_thread, NULL);
    s->ckpt_started = false;
}

/* ---- lifecycle -------------------------------------------------------------- */

cx_err store_open(const char *path, store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (sqlite3_threadsafe() == 0) {
        snprintf(err, errlen, "SQLite was built without thread support");
        return CX_EUNAVAIL;
    }
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return CX_ENOMEM;
    }
    if (pthread_key_create(&s->reader_key, reader__thread_end) != 0) {
        free(s->path);
        free(s);
        snprintf(err, errlen, "cannot create a thread key for database readers");
        return CX_EUNAVAIL;
    }
    s->reader_key_made = true;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->readers_mu, NULL);
    pthread_mutex_init(&s->stats_mu, NULL);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is a directory: name the database file, e.g. %s/customs.db",
                 path, path);
        store_free(s);
        return CX_EINVAL;
    }
    /* Declarations, inspection notes and ledger salts live here: a new
     * database (and the WAL and SHM files SQLite derives from its mode) is
     * private to the service's user. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    else if (errno == ENOENT) {
        snprintf(err, errlen, "cannot open database %s: its directory does not exist", path);
        store_free(s);
        return CX_EIO;
    }
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        cx_log(CX_LOG_WARN, "database %s is readable by other users (mode %03o); "
                            "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
    cx_err e = conn__open(path, true, &s->writer, err, errlen);
    if (e == CX_OK &&
        store_exec(s->writer, "CREATE TABLE IF NOT EXISTS schema_migrations("
                              "module TEXT PRIMARY KEY, version INTEGER NOT NULL)") != CX_OK) {
        snprintf(err, errlen, "cannot initialise database %s: %s", path,
                 sqlite3_errmsg(s->writer->db));
        e = CX_EDB;
    }
    /* the WAL hook is set on the writer's connection (NOMUTEX) before the
     * writer thread uses it, not while it runs */
    if (e == CX_OK)
        ckpt__start(s);
    if (e == CX_OK && pthread_create(&s->thread, NULL, writer__main, s) != 0) {
        snprintf(err, errlen, "cannot start the database writer thread");
        e = CX_EUNAVAIL;
    } else if (e == CX_OK) {
        pthread_setname_np(s->thread, "store-writer"); /* top -H, perf, bench/ingest */
    }
    if (e != CX_OK) {
        store_free(s);
        return e;
    }
    s->thread_started = true;
    *out = s;
    return CX_OK;
}

void store_free(store *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    ckpt__stop(s); /* the writer, which wakes it, has stopped */
    /* Threads still alive keep a dangling value under a deleted key: never
     * read again, as no thread may use the store after this. */
    if (s->reader_key_made)
        pthread_key_delete(s->reader_key);
    for (store_conn *c = s->readers, *next; c; c = next) {
        next = c->next_reader;
        conn__free(c);
    }
    conn__free(s->ckpt);
    conn__free(s->writer);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->readers_mu);
    pthread_mutex_destroy(&s->stats_mu);
    free(s->path);
    free(s);
}

const char *store_path(const store *s)
{
    return s->path;
}

/* ---- migrations ------------------------------------------------------------- */

typedef struct {
    const char *module;
    const store_migration *steps;
    size_t n;
    char *err;
    size_t errlen;
} migrate_job;

static cx_err migrate__run(store_conn *w, void *arg)
{
    migrate_job *m = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT version FROM schema_migrations WHERE module=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, m->module, -1, SQLITE_STATIC);
    int have = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        have = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    if (have > (int)m->n) {
        snprintf(m->err, m->errlen,
                 "database schema for %s is version %d, newer than this binary knows (%zu)",
                 m->module, have, m->n);
        return CX_ESTATE;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (m->steps[i].version <= have)
            continue;
        char *msg = NULL;
        if (sqlite3_exec(w->db, m->steps[i].sql, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(m->err, m->errlen, "migration %s/%d failed: %s", m->module,
                     m->steps[i].version, msg ? msg : "?");
            sqlite3_free(msg);
            return CX_EDB;
        }
        have = m->steps[i].version;
    }
    st = store_stmt(w, "INSERT INTO schema_migrations(module, version) VALUES(?1, ?2) "
                       "ON CONFLICT(module) DO UPDATE SET version=excluded.version");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, m->module, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, have);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err store_migrate(store *s, const char *module, const store_migration *steps, size_t n,
                     char *err, size_t errlen)
{
    migrate_job m = {module, steps, n, err, errlen};
    if (errlen)
        err[0] = '\0';
    cx_err e = store_write(s, migrate__run, &m);
    if (e != CX_OK && errlen && !err[0])
        snprintf(err, errlen, "migration of %s failed: %s", module, cx_strerror(e));
    return e;
}
