#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "unitkit.h"

typedef struct {
    char path[64];
    store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    uk_tmp_path(f->path, "store");
    char err[256];
    if (store_open(f->path, &f->s, err, sizeof err) != CX_OK)
        return -1;
    static const store_migration m[] = {
        {1, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"}};
    if (store_migrate(f->s, "test", m, 1, err, sizeof err) != CX_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_free(f->s);
    uk_rm_db(f->path);
    free(f);
    return 0;
}

static cx_err insert_v(store_conn *w, void *arg)
{
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO t(v) VALUES(?1)");
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? CX_OK : CX_EEXIST;
}

static int64_t count_rows(store *s)
{
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, "SELECT count(*) FROM t");
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return n;
}

static cx_err insert_big(store_conn *w, void *arg)
{
    (void)arg;
    char v[4001];
    static int n;
    snprintf(v, sizeof v, "%04000d", n++);
    return insert_v(w, v);
}

/* The WAL is copied into the database by the checkpointer thread (the
 * writer does not: its automatic checkpoint is off), so the database file
 * grows while the store is open and the WAL does not grow without bound. */
static void test_checkpoints_off_the_writer(void **state)
{
    fixture *f = *state;
    store_stats st;
    store_get_stats(f->s, &st);
    assert_int_equal(st.checkpoints, 0);
    for (int i = 0; i < 1500; i++) /* 1,500 commits of a page or more each */
        assert_int_equal(store_write(f->s, insert_big, NULL), CX_OK);
    /* waits for an outcome, bounded; asserts no timing */
    for (int i = 0; i < 2000 && st.checkpoints == 0; i++) {
        usleep(10000);
        store_get_stats(f->s, &st);
    }
    assert_true(st.checkpoints >= 1);
    struct stat db, wal;
    char walpath[80];
    snprintf(walpath, sizeof walpath, "%s-wal", f->path);
    assert_int_equal(stat(f->path, &db), 0);
    assert_true(db.st_size >= 1000 * 4096);
    assert_int_equal(stat(walpath, &wal), 0);
    /* restarted: 1,500 commits of 4 pages or more do not fit in 4,100 */
    assert_true(wal.st_size < 4100 * (4096 + 24));
    assert_int_equal(count_rows(f->s), 1500);
}

/* The store's VFS writes a transaction's WAL frames in one call
 * (walbuf.c). What that must not change: a commit is in the file before
 * any other connection can see it, even without a sync; a transaction
 * bigger than one write (the unix VFS writes < 128 KiB per call) commits
 * whole; and pages a transaction spilled to the WAL read back. Checked on
 * two plain connections opened with the store's VFS. */
static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_wal_writes_gathered(void **state)
{
    fixture *f = *state;
    sqlite3_vfs *vfs = NULL;
    sqlite3_file_control(store_conn_db(store_reader(f->s)), "main", SQLITE_FCNTL_VFS_POINTER,
                         &vfs);
    assert_non_null(vfs);
    assert_string_equal(vfs->zName, "customs-walbuf");
    sqlite3 *a, *b;
    int flags = SQLITE_OPEN_READWRITE;
    assert_int_equal(sqlite3_open_v2(f->path, &a, flags, vfs->zName), SQLITE_OK);
    assert_int_equal(sqlite3_open_v2(f->path, &b, flags, vfs->zName), SQLITE_OK);
    assert_int_equal(sqlite3_exec(a, "PRAGMA synchronous=OFF; PRAGMA cache_size=5;"
                                     "CREATE TABLE u(x BLOB);", NULL, NULL, NULL),
                     SQLITE_OK);
    /* 200 pages in one transaction, no sync: several writes, and pages
     * spilled by the 5-page cache read back before the commit */
    assert_int_equal(sqlite3_exec(a, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                                     "SELECT i + 1 FROM n WHERE i < 200) "
                                     "INSERT INTO u SELECT randomblob(3000) FROM n;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(one_int(a, "SELECT sum(length(x)) FROM u"), 200 * 3000);
    assert_int_equal(sqlite3_exec(a, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(one_int(b, "SELECT count(*) FROM u"), 200);
    assert_int_equal(one_int(b, "SELECT sum(length(x)) FROM u"), 200 * 3000);
    /* and a small synced commit after it */
    assert_int_equal(sqlite3_exec(a, "PRAGMA synchronous=FULL; INSERT INTO u VALUES(x'01')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(one_int(b, "SELECT count(*) FROM u"), 201);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(b, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(a);
    sqlite3_close(b);
}

static void test_write_and_read(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_write(f->s, insert_v, "a"), CX_OK);
    assert_int_equal(store_write(f->s, insert_v, "a"), CX_EEXIST);
    assert_int_equal(store_write(f->s, insert_v, "b"), CX_OK);
    assert_int_equal(count_rows(f->s), 2);
}

/* store_row: rows, then the end; a step that fails part-way (here a value
 * that json() refuses, on the third row) is not the end: it fails the
 * buffer built from the rows, so what was built is never sent as whole. */
static void test_row_fails_the_buffer(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_write(f->s, insert_v, "1"), CX_OK);
    assert_int_equal(store_write(f->s, insert_v, "2"), CX_OK);
    store_conn *c = store_reader(f->s);
    sqlite3_stmt *st = store_stmt(c, "SELECT json(v) FROM t ORDER BY k");
    cx_buf b;
    cx_buf_init(&b, 1024);
    int rows = 0;
    while (store_row(st, &b))
        rows++;
    sqlite3_reset(st);
    assert_int_equal(rows, 2);
    assert_int_equal(cx_buf_error(&b), CX_OK); /* the end is not an error */
    assert_int_equal(store_write(f->s, insert_v, "not json"), CX_OK);
    rows = 0;
    while (store_row(st, &b)) {
        assert_int_equal(cx_buf_puts(&b, (const char *)sqlite3_column_text(st, 0)), CX_OK);
        rows++;
    }
    sqlite3_reset(st);
    assert_int_equal(rows, 2);
    assert_int_equal(cx_buf_error(&b), CX_EDB);
    /* a failed buffer is not read into: no step, no row */
    assert_false(store_row(st, &b));
    assert_int_equal(cx_buf_error(&b), CX_EDB);
    cx_buf_free(&b);
}

/* store_next: the same for rows read into anything else. A step error
 * part-way through (the third row's json(v) is malformed) ends the rows
 * with CX_EDB in *e, not as the end; an error already in *e stops the
 * walk without a step and stays. */
static void test_next_keeps_the_step_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_write(f->s, insert_v, "1"), CX_OK);
    assert_int_equal(store_write(f->s, insert_v, "2"), CX_OK);
    store_conn *c = store_reader(f->s);
    sqlite3_stmt *st = store_stmt(c, "SELECT json(v) FROM t ORDER BY k");
    cx_err e = CX_OK;
    int rows = 0;
    while (store_next(st, &e))
        rows++;
    sqlite3_reset(st);
    assert_int_equal(rows, 2);
    assert_int_equal(e, CX_OK); /* the end is not an error */
    assert_int_equal(store_write(f->s, insert_v, "not json"), CX_OK);
    rows = 0;
    while (store_next(st, &e))
        rows++;
    sqlite3_reset(st);
    assert_int_equal(rows, 2);
    assert_int_equal(e, CX_EDB);
    /* an earlier failure (an item that would not build) is kept: no step */
    e = CX_ENOMEM;
    assert_false(store_next(st, &e));
    assert_int_equal(e, CX_ENOMEM);
    sqlite3_reset(st);
}

/* Two writes in one transaction after the first failed: the failure rolls
 * back only its own savepoint. */
static cx_err insert_two_then_fail(store_conn *w, void *arg)
{
    insert_v(w, "x1");
    insert_v(w, "x2");
    return CX_EINVAL;
}

static void test_failed_job_rolls_back_alone(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_write(f->s, insert_two_then_fail, NULL), CX_EINVAL);
    assert_int_equal(count_rows(f->s), 0);
    assert_int_equal(store_write(f->s, insert_v, "x1"), CX_OK);
    assert_int_equal(count_rows(f->s), 1);
}

static off_t wal_size(const char *db)
{
    char wal[96];
    snprintf(wal, sizeof wal, "%s-wal", db);
    struct stat st;
    return stat(wal, &st) == 0 ? st.st_size : -1;
}

/* A batch whose every job rolled back keeps nothing: it is rolled back,
 * not committed, so it writes no page to the WAL (and needs no fsync) —
 * what a network node's checks (always rolled back) rely on. */
static void test_rolled_back_batch_writes_nothing(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_write(f->s, insert_v, "kept"), CX_OK);
    off_t before = wal_size(f->path);
    assert_true(before > 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_write(f->s, insert_two_then_fail, NULL), CX_EINVAL);
    assert_int_equal(wal_size(f->path), before);
    assert_int_equal(count_rows(f->s), 1);
    assert_int_equal(store_write(f->s, insert_v, "next"), CX_OK);
    assert_true(wal_size(f->path) > before);
}

/* Whether this process holds an SQLite temporary file open (unlinked at
 * once, so only /proc/self/fd shows it). */
static bool holds_sqlite_temp_file(void)
{
    bool found = false;
    char link[64], target[512];
    for (int fd = 0; fd < 1024 && !found; fd++) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            found = strstr(target, "etilqs_") != NULL;
        }
    }
    return found;
}

/* Rewrites every row (inside the writer's savepoint): far more than the
 * sub-journal's 64 KiB. */
static cx_err rewrite_all(store_conn *w, void *arg)
{
    bool *spilled = arg;
    if (store_exec(w, "UPDATE t SET v = v || 'x'") != CX_OK)
        return CX_EDB;
    *spilled = holds_sqlite_temp_file();
    return CX_OK;
}

/* The savepoints' sub-journal stays in memory: a batch that changes many
 * pages creates (and unlinks) no temporary file, once per commit. */
static void test_savepoint_journal_in_memory(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 100; i++)
        assert_int_equal(store_write(f->s, insert_big, NULL), CX_OK);
    bool spilled = true;
    assert_int_equal(store_write(f->s, rewrite_all, &spilled), CX_OK);
    assert_false(spilled);
    assert_int_equal(count_rows(f->s), 100);
}

typedef struct {
    store *s;
    int id;
    int n;
    int ok;
} writer_arg;

static void *writer_thread(void *p)
{
    writer_arg *a = p;
    char v[32];
    for (int i = 0; i < a->n; i++) {
        snprintf(v, sizeof v, "w%d-%d", a->id, i);
        if (store_write(a->s, insert_v, v) == CX_OK)
            a->ok++;
    }
    return NULL;
}

/* Many concurrent writers share commits: fewer commits than jobs. */
static void test_group_commit(void **state)
{
    fixture *f = *state;
    enum { T = 16, N = 100 };
    pthread_t th[T];
    writer_arg args[T];
    store_stats before, after;
    store_get_stats(f->s, &before);
    for (int i = 0; i < T; i++) {
        args[i] = (writer_arg){f->s, i, N, 0};
        pthread_create(&th[i], NULL, writer_thread, &args[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, N);
    }
    store_get_stats(f->s, &after);
    assert_int_equal(count_rows(f->s), T * N);
    assert_int_equal(after.jobs - before.jobs, T * N);
    assert_true(after.commits - before.commits < (uint64_t)(T * N));
}

/* After-commit callbacks see their own job's outcome, run before the job's
 * done, and only a committed job's say CX_OK; one registered outside a job
 * is refused. */
typedef struct {
    store_job job;
    const char *v;
    bool fail;
    int *clock;
    int after_at, done_at;
    cx_err after_result, done_result;
} ac_job;

static void ac_after(void *arg, cx_err result)
{
    ac_job *j = arg;
    j->after_at = ++*j->clock;
    j->after_result = result;
}

static cx_err ac_fn(store_conn *w, void *arg)
{
    ac_job *j = arg;
    if (store_after_commit(w, ac_after, j) != CX_OK)
        return CX_ENOMEM;
    cx_err e = insert_v(w, (void *)j->v);
    return j->fail ? CX_EINVAL : e;
}

static void ac_done(void *arg, cx_err result)
{
    ac_job *j = arg;
    j->done_at = ++*j->clock;
    j->done_result = result;
}

static void test_after_commit(void **state)
{
    fixture *f = *state;
    int clock = 0;
    ac_job a = {.v = "ac1", .clock = &clock}, b = {.v = "ac2", .fail = true, .clock = &clock},
           c = {.v = "ac1", .clock = &clock}; /* duplicate of a: rolls back alone */
    ac_job *jobs[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        jobs[i]->job = (store_job){.fn = ac_fn, .done = ac_done, .arg = jobs[i]};
        assert_int_equal(store_submit(f->s, &jobs[i]->job), CX_OK);
    }
    store_drain(f->s);
    assert_int_equal(a.after_result, CX_OK);
    assert_int_equal(b.after_result, CX_EINVAL);
    assert_int_equal(c.after_result, CX_EEXIST);
    for (int i = 0; i < 3; i++) {
        assert_true(jobs[i]->after_at > 0);
        assert_int_equal(jobs[i]->done_at, jobs[i]->after_at + 1);
        assert_int_equal(jobs[i]->done_result, jobs[i]->after_result);
    }
    assert_int_equal(count_rows(f->s), 1);
    store_conn *r = store_reader(f->s);
    assert_int_equal(store_after_commit(r, ac_after, &a), CX_EINVAL);
}

typedef struct {
    int calls;
} done_box;

typedef struct {
    store_job job;
    char v[16];
    done_box *box;
} flush_job;

static cx_err flush_fn(store_conn *w, void *arg)
{
    flush_job *j = arg;
    return insert_v(w, j->v);
}

static void flush_done(void *arg, cx_err e)
{
    flush_job *j = arg;
    if (e == CX_OK)
        j->box->calls++;
}

static void test_free_flushes_queue(void **state)
{
    char path[64];
    uk_tmp_path(path, "store3");
    char err[256];
    store *s;
    assert_int_equal(store_open(path, &s, err, sizeof err), CX_OK);
    static const store_migration m[] = {{1, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"}};
    assert_int_equal(store_migrate(s, "test", m, 1, err, sizeof err), CX_OK);
    done_box box = {0};
    flush_job jobs[200];
    for (int i = 0; i < 200; i++) {
        jobs[i].job = (store_job){.fn = flush_fn, .done = flush_done, .arg = &jobs[i]};
        snprintf(jobs[i].v, sizeof jobs[i].v, "v%d", i);
        jobs[i].box = &box;
        assert_int_equal(store_submit(s, &jobs[i].job), CX_OK);
    }
    store_free(s); /* must run every queued job before returning */
    assert_int_equal(box.calls, 200);
    /* and they are on disk */
    assert_int_equal(store_open(path, &s, err, sizeof err), CX_OK);
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, "SELECT count(*) FROM t");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 200);
    sqlite3_reset(st);
    store_free(s);
    uk_rm_db(path);
}

static void *reader_thread(void *p)
{
    store *s = p;
    return store_reader(s) ? p : NULL;
}

/* Connection threads come and go: their read connections must go with them. */
static void test_readers_close_with_their_threads(void **state)
{
    fixture *f = *state;
    assert_non_null(store_reader(f->s));
    size_t base = store_reader_count(f->s);
    for (int i = 0; i < 200; i++) {
        pthread_t t;
        void *ok;
        assert_int_equal(pthread_create(&t, NULL, reader_thread, f->s), 0);
        pthread_join(t, &ok);
        assert_non_null(ok);
    }
    assert_int_equal(store_reader_count(f->s), base);
}

/* ---- a batch whose transaction SQLite rolls back midway -------------------- */

typedef struct {
    store_job job;
    int kind; /* 0: hold the writer, 1: insert, 2: roll the transaction back */
    const char *v;
    cx_err result;
    bool done;
} fault_job;

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fault_cv = PTHREAD_COND_INITIALIZER;
static bool fault_release;

static cx_err fault_fn(store_conn *w, void *arg)
{
    fault_job *j = arg;
    if (j->kind == 0) {
        pthread_mutex_lock(&fault_mu);
        while (!fault_release)
            pthread_cond_wait(&fault_cv, &fault_mu);
        pthread_mutex_unlock(&fault_mu);
        return CX_OK;
    }
    if (j->kind == 2) {
        /* what SQLite does by itself on some I/O and memory errors */
        sqlite3_exec(store_conn_db(w), "ROLLBACK", NULL, NULL, NULL);
        return CX_EIO;
    }
    return insert_v(w, (void *)j->v);
}

static void fault_done(void *arg, cx_err e)
{
    fault_job *j = arg;
    pthread_mutex_lock(&fault_mu);
    j->result = e;
    j->done = true;
    pthread_cond_broadcast(&fault_cv);
    pthread_mutex_unlock(&fault_mu);
}

static void test_whole_transaction_rolled_back(void **state)
{
    fixture *f = *state;
    fault_job jobs[5] = {{.kind = 0}, {.kind = 1, .v = "f1"}, {.kind = 2},
                         {.kind = 1, .v = "f3"}, {.kind = 1, .v = "f4"}};
    fault_release = false;
    for (int i = 0; i < 5; i++) {
        jobs[i].job = (store_job){.fn = fault_fn, .done = fault_done, .arg = &jobs[i]};
        assert_int_equal(store_submit(f->s, &jobs[i].job), CX_OK);
    }
    /* jobs 1-4 queue up behind job 0 and so form one batch */
    pthread_mutex_lock(&fault_mu);
    fault_release = true;
    pthread_cond_broadcast(&fault_cv);
    for (int i = 0; i < 5; i++)
        while (!jobs[i].done)
            pthread_cond_wait(&fault_cv, &fault_mu);
    pthread_mutex_unlock(&fault_mu);
    /* nothing after the rollback may commit on its own, and nobody is told
     * "stored" for rows that are not there */
    assert_int_equal(count_rows(f->s), 0);
    for (int i = 1; i < 5; i++)
        assert_int_not_equal(jobs[i].result, CX_OK);
    /* the writer carries on */
    assert_int_equal(store_write(f->s, insert_v, "after"), CX_OK);
    assert_int_equal(count_rows(f->s), 1);
}

static void test_migrations(void **state)
{
    fixture *f = *state;
    char err[256];
    static const store_migration m2[] = {
        {1, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"},
        {2, "ALTER TABLE t ADD COLUMN w TEXT"}};
    /* step 1 already ran: only step 2 runs now, and twice is harmless */
    assert_int_equal(store_migrate(f->s, "test", m2, 2, err, sizeof err), CX_OK);
    assert_int_equal(store_migrate(f->s, "test", m2, 2, err, sizeof err), CX_OK);
    /* a binary that knows fewer steps than the database refuses */
    assert_int_equal(store_migrate(f->s, "test", m2, 1, err, sizeof err), CX_ESTATE);
    assert_non_null(strstr(err, "newer"));
    /* a broken step fails with its name and changes nothing */
    static const store_migration bad[] = {{1, "CREATE TABLE u(a)"}, {2, "CREATE TABLE u(a)"}};
    assert_int_equal(store_migrate(f->s, "bad", bad, 2, err, sizeof err), CX_EDB);
    assert_non_null(strstr(err, "bad/2"));
    store_conn *c = store_reader(f->s);
    sqlite3_stmt *st = store_stmt(c, "SELECT count(*) FROM sqlite_master WHERE name='u'");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_reset(st);
}

static void test_new_database_is_private(void **state)
{
    fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char wal[96];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_open_errors(void **state)
{
    char err[256];
    store *s = NULL;
    assert_int_not_equal(store_open("/nonexistent-dir/x.db", &s, err, sizeof err), CX_OK);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
    /* a file that is not a database */
    char path[] = "/tmp/customs-test-notdbXXXXXX";
    int fd = mkstemp(path);
    assert_true(write(fd, "this is not sqlite, just some text that is long enough to be a header"
                          " of a file",
                      80) > 0);
    close(fd);
    assert_int_not_equal(store_open(path, &s, err, sizeof err), CX_OK);
    assert_non_null(strstr(err, path));
    unlink(path);
    store_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_writes_gathered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_fails_the_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_keeps_the_step_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_off_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_job_rolls_back_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_batch_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_savepoint_journal_in_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers_close_with_their_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_transaction_rolled_back, setup, teardown),
        cmocka_unit_test(test_free_flushes_queue),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_new_database_is_private, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
