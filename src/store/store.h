/*
 * store.h — the door of the storage module: one SQLite database in WAL mode,
 * per-module schema migrations, per-thread read connections and a single
 * group-committing writer. Public names carry the prefix store_.
 *
 * Durability: the writer runs with synchronous=FULL, so when a job's done
 * callback (or store_write) reports CX_OK its rows have been fsynced.
 * Many jobs share one transaction and one fsync (group commit); each job runs
 * in a savepoint of its own, so one failing job rolls back alone.
 */
#ifndef CUSTOMS_STORE_H
#define CUSTOMS_STORE_H

#include "core.h"

#include <sqlite3.h>

typedef struct store store;
typedef struct store_conn store_conn;

/* Opens (creating if needed) the database at path and starts the writer.
 * On failure returns an error and writes a sentence into err.
 * *out is freed with store_free(). */
cx_err store_open(const char *path, store **out, char *err, size_t errlen);

/* Drains the write queue, stops the writer, closes every connection.
 * No other thread may use the store or its connections after this. */
void store_free(store *s);

const char *store_path(const store *s);

/* ---- schema ---------------------------------------------------------------
 * A module's migrations are numbered 1..n; step i runs once, in a transaction
 * together with the bump of that module's version in schema_migrations. */
typedef struct {
    int version;
    const char *sql;
} store_migration;

cx_err store_migrate(store *s, const char *module, const store_migration *steps, size_t n,
                     char *err, size_t errlen);

/* ---- connections ----------------------------------------------------------
 * store_reader returns this thread's read connection (opened on first use,
 * owned by the store, closed when the thread ends or by store_free). */
store_conn *store_reader(store *s);
sqlite3 *store_conn_db(store_conn *c);
/* Read connections in use now (one per live thread that read); readers of
 * ended threads wait in a bounded idle pool and are not counted. */
size_t store_reader_count(store *s);

/* A prepared statement cached on the connection, keyed by the address of sql
 * (pass string literals). It comes back reset with bindings cleared; it is
 * owned by the connection: do not finalize it. NULL on a prepare error (the
 * message is logged). */
sqlite3_stmt *store_stmt(store_conn *c, const char *sql);

/* Runs a statement that returns no rows; CX_OK on success. */
cx_err store_exec(store_conn *c, const char *sql);

/* Steps a prepared, bound statement that returns no rows and resets it:
 * CX_OK when it is done, CX_EEXIST on a uniqueness violation, else CX_EDB. */
cx_err store_done(sqlite3_stmt *st);

/* Steps a statement that returns rows into something built from them (a
 * page, a reply): true on a row; false when the rows are done, or when the
 * step failed (busy, I/O, damaged file, out of memory): that failure is
 * logged and fails b with CX_EDB (cx_buf_fail), so what b holds is refused
 * rather than sent as if the rows had ended there. A b that has already
 * failed is not stepped (false): nothing more is read into it. The caller
 * resets st. */
bool store_row(sqlite3_stmt *st, cx_buf *b);

/* The same for rows read into anything else (a JSON tree, a count, a
 * verifier's walk): true on a row; false when the rows are done, or when
 * the step failed, which is logged and stored in *e as CX_EDB. Callers
 * start with *e = CX_OK and, after the loop, fail with *e if it is set;
 * when *e already holds an error (an earlier item that would not build)
 * nothing is stepped (false) and that error stays. The caller resets st. */
bool store_next(sqlite3_stmt *st, cx_err *e);

/* ---- the writer -----------------------------------------------------------
 * A job runs on the writer thread inside the open transaction and its own
 * savepoint. Returning anything but CX_OK rolls back only this job's writes. */
typedef cx_err (*store_job_fn)(store_conn *w, void *arg);
/* Called on the writer thread once the outcome is final: after the commit's
 * fsync (CX_OK), or with the job's own error, or with CX_EIO/CX_EDB if the
 * commit failed. Must not block; it may hand work to other threads. */
typedef void (*store_done_fn)(void *arg, cx_err result);

/* Caller-owned job record; must stay alive until done is called. */
typedef struct store_job {
    store_job_fn fn;
    store_done_fn done;
    void *arg;
    struct store_job *next;
} store_job;

/* Queues a job; returns CX_ESHUTDOWN if the store is closing (done is then
 * not called). */
cx_err store_submit(store *s, store_job *job);

/* Queues fn and blocks until it is durable or has failed. */
cx_err store_write(store *s, store_job_fn fn, void *arg);
/* The same, running meanwhile(mctx) on this thread once fn is queued
 * (work that overlaps the commit; not run when the store is closing). */
cx_err store_write_during(store *s, store_job_fn fn, void *arg, void (*meanwhile)(void *),
                          void *mctx);

/* From inside a job (w is the writer's connection): fn(arg, result) runs
 * on the writer thread once the job's outcome is final, with the job's
 * result (CX_OK only after the commit's fsync), just before the job's own
 * done. For work that must happen only if the job's writes are durable,
 * such as publishing what the job stored, whoever submitted the job. fn
 * must not block. CX_ENOMEM (nothing registered) or CX_EINVAL outside a
 * job. */
cx_err store_after_commit(store_conn *w, store_done_fn fn, void *arg);

/* Waits until every job queued before the call has run and its done
 * callback returned (the writer keeps running). */
void store_drain(store *s);

/* Writer counters, and the readers' VM steps, for /metrics. */
typedef struct {
    uint64_t commits;
    uint64_t jobs;
    uint64_t failed_commits;
    uint64_t batch_hist[12]; /* batch size buckets: <=1,2,4,…,1024,+Inf */
    uint64_t batch_sum;
    uint64_t checkpoints;        /* WAL checkpoints run on their own thread */
    uint64_t writer_checkpoints; /* the rest of a long WAL copied by the writer */
    uint64_t read_vm_steps;      /* SQLite VM steps of every reader, by 1,000s */
} store_stats;
void store_get_stats(store *s, store_stats *out);
extern const unsigned store_batch_bounds[11];

#endif
