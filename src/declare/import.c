/* Bulk import: readers turn a file into declarations; each is validated as
 * over HTTP and stored atomically through the group-committing writer. */
#include "decl_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IMPORT_WINDOW 4096   /* declarations in flight to the writer */
#define IMPORT_STDERR_MAX 50 /* rejects described on stderr */

struct decl_import_run {
    decl_service *d;
    const decl_import_opts *o;
    cx_principal who;
    FILE *rejects;
    cx_progress *progress;
    uint64_t file_size;
    uint64_t offset;
    decl_after_fn after;
    void *after_ctx;
    bool historical;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t inflight;
    uint64_t imported, rejected, seen;
    bool failed; /* the writer failed: stop */
};

typedef struct {
    const char *name;
    decl_reader_fn reader;
} import_format;

static cx_err import__jsonl(FILE *f, decl_import_run *run, decl_emit_fn emit, char *err,
                            size_t errlen);
static import_format formats[8] = {
    {"jsonl", import__jsonl},
    {"csv", decl__csv_reader},
};
static size_t nformats = 2;
static pthread_mutex_t formats_mu = PTHREAD_MUTEX_INITIALIZER;

cx_err decl_import_register(const char *format, decl_reader_fn reader)
{
    pthread_mutex_lock(&formats_mu);
    cx_err e = CX_ETOOBIG;
    for (size_t i = 0; i < nformats; i++)
        if (strcmp(formats[i].name, format) == 0) {
            formats[i].reader = reader;
            e = CX_OK;
        }
    if (e != CX_OK && nformats < sizeof formats / sizeof formats[0]) {
        formats[nformats].name = format;
        formats[nformats].reader = reader;
        nformats++;
        e = CX_OK;
    }
    pthread_mutex_unlock(&formats_mu);
    return e;
}

void decl_import_progress(decl_import_run *run, uint64_t offset)
{
    run->offset = offset;
    cx_progress_set(run->progress, offset, run->seen);
}

void decl_import_set_after(decl_import_run *run, decl_after_fn fn, void *ctx)
{
    run->after = fn;
    run->after_ctx = ctx;
}

void decl_import_set_historical(decl_import_run *run)
{
    run->historical = true;
}

/* ---- outcomes ----------------------------------------------------------------- */

static void import__report(decl_import_run *run, uint64_t line, const char *reference,
                           const char *code, const char *message, json_t *details)
{
    /* Called with run->mu held. */
    run->rejected++;
    if (run->o->quiet) {
        /* counted and written to the rejects file only */
    } else if (run->rejected <= IMPORT_STDERR_MAX) {
        char first[256] = "";
        json_t *d0 = json_array_get(details, 0);
        if (d0)
            snprintf(first, sizeof first, ": %s %s",
                     json_string_value(json_object_get(d0, "path")),
                     json_string_value(json_object_get(d0, "message")));
        fprintf(stderr, "%s:%llu: rejected %s (%s)%s%s\n", run->o->path,
                (unsigned long long)line, reference ? reference : "(no reference)", message,
                first, json_array_size(details) > 1 ? " …" : "");
    } else if (run->rejected == IMPORT_STDERR_MAX + 1) {
        fprintf(stderr, "%s: more rejects not shown%s\n", run->o->path,
                run->rejects ? "; all are in the rejects file" : "; use --rejects FILE");
    }
    if (run->rejects) {
        json_t *rec = json_pack("{s:I,s:s?,s:{s:s,s:s,s:O}}", "line", (json_int_t)line,
                                "reference", reference, "error", "code", code, "message",
                                message, "details", details ? details : json_array());
        char *s = cx_json_dump(rec, NULL);
        if (s) {
            fputs(s, run->rejects);
            fputc('\n', run->rejects);
            free(s);
        }
        json_decref(rec);
    }
}

typedef struct {
    decl_import_run *run;
    uint64_t line;
    json_t *doc; /* the importer's reference, dropped here on the writer */
} pending;

static void import__done(void *arg, cx_err result, json_t *doc)
{
    pending *p = arg;
    decl_import_run *run = p->run;
    pthread_mutex_lock(&run->mu);
    if (result == CX_OK) {
        run->imported++;
    } else if (result == CX_EEXIST) {
        json_t *details = json_pack("[{s:s,s:s}]", "path", "/reference", "message",
                                    "already used by this organisation");
        import__report(run, p->line, json_string_value(json_object_get(doc, "reference")),
                       "duplicate_reference", "a declaration with this reference exists",
                       details);
        json_decref(details);
    } else if (result == CX_EINVAL || result == CX_ESTATE) {
        json_t *details = json_array();
        import__report(run, p->line, json_string_value(json_object_get(doc, "reference")),
                       "rejected", cx_strerror(result), details);
        json_decref(details);
    } else {
        run->failed = true;
        fprintf(stderr, "%s:%llu: the database refused the write: %s\n", run->o->path,
                (unsigned long long)p->line, cx_strerror(result));
    }
    run->inflight--;
    pthread_cond_signal(&run->cv);
    pthread_mutex_unlock(&run->mu);
    json_decref(p->doc);
    free(p);
}

static bool import__emit_raw(decl_import_run *run, json_t *doc, uint64_t line,
                             json_t *problems, json_t *extra, const char *raw, size_t rawlen)
{
    run->seen++;
    cx_progress_set(run->progress, run->offset, run->seen);
    /* Problems the reader found itself stand; otherwise validate here. */
    if (!problems)
        problems = json_array();
    if (doc && json_array_size(problems) == 0)
        decl_validate(doc, problems);
    if (json_array_size(problems) > 0 || !doc) {
        pthread_mutex_lock(&run->mu);
        char msg[64];
        snprintf(msg, sizeof msg, "the declaration has %zu problem%s", json_array_size(problems),
                 json_array_size(problems) == 1 ? "" : "s");
        import__report(run, line, doc ? json_string_value(json_object_get(doc, "reference")) : NULL,
                       doc ? "invalid_declaration" : "invalid_json", msg, problems);
        pthread_mutex_unlock(&run->mu);
        json_decref(problems);
        json_decref(doc);
        json_decref(extra);
        return true;
    }
    json_decref(problems);
    if (run->o->dry_run) {
        pthread_mutex_lock(&run->mu);
        run->imported++;
        pthread_mutex_unlock(&run->mu);
        json_decref(doc);
        json_decref(extra);
        return true;
    }
    pthread_mutex_lock(&run->mu);
    while (run->inflight >= IMPORT_WINDOW && !run->failed)
        pthread_cond_wait(&run->cv, &run->mu);
    bool failed = run->failed;
    if (!failed)
        run->inflight++;
    pthread_mutex_unlock(&run->mu);
    if (failed) {
        json_decref(doc);
        json_decref(extra);
        return false;
    }
    pending *p = malloc(sizeof *p);
    cx_err e = p ? CX_OK : CX_ENOMEM;
    if (p) {
        p->run = run;
        p->line = line;
        /* the writer drops both references to doc (jansson's counts are
         * not atomic), so the importer hands its own to import__done */
        p->doc = doc;
        e = decl__submit(run->d, &run->who, doc, raw, rawlen, run->historical, import__done, p,
                         run->after, run->after_ctx, extra);
    } else {
        json_decref(extra);
    }
    if (e != CX_OK) {
        json_decref(doc);
        free(p);
        pthread_mutex_lock(&run->mu);
        run->inflight--;
        run->failed = true;
        pthread_mutex_unlock(&run->mu);
        fprintf(stderr, "%s:%llu: cannot queue the write: %s\n", run->o->path,
                (unsigned long long)line, cx_strerror(e));
        return false;
    }
    return true;
}

static bool import__emit(decl_import_run *run, json_t *doc, uint64_t line, json_t *problems,
                         json_t *extra)
{
    return import__emit_raw(run, doc, line, problems, extra, NULL, 0);
}

/* ---- JSON Lines ------------------------------------------------------------------ */

static cx_err import__jsonl(FILE *f, decl_import_run *run, decl_emit_fn emit, char *err,
                            size_t errlen)
{
    const size_t cap = ((size_t)1 << 20) + 2; /* the HTTP body cap, plus newline */
    char *line = malloc(cap);
    if (!line)
        return CX_ENOMEM;
    uint64_t lineno = 0, offset = 0;
    bool go = true;
    while (go && fgets(line, (int)cap, f)) {
        lineno++;
        size_t n = strlen(line);
        offset += n;
        if (n == cap - 1 && line[n - 1] != '\n') {
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                offset++;
            json_t *p = json_pack("[{s:s,s:s}]", "path", "", "message",
                                  "the line is longer than 1 MiB");
            go = emit(run, NULL, lineno, p, NULL);
            continue;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        decl_import_progress(run, offset);
        char msg[200];
        json_t *doc = decl_parse(line, n, msg, sizeof msg);
        if (!doc) {
            json_t *p = json_pack("[{s:s,s:s}]", "path", "", "message", msg);
            go = emit(run, NULL, lineno, p, NULL);
            continue;
        }
        /* the line itself is stored, as an HTTP body would be */
        go = emit == import__emit ? import__emit_raw(run, doc, lineno, NULL, NULL, line, n)
                                  : emit(run, doc, lineno, NULL, NULL);
    }
    free(line);
    if (ferror(f)) {
        snprintf(err, errlen, "read error: %s", strerror(errno));
        return CX_EIO;
    }
    return CX_OK;
}

/* ---- the run ------------------------------------------------------------------------ */

static const char *import__format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".ndjson") == 0))
        return "jsonl";
    if (dot && strcmp(dot, ".csv") == 0)
        return "csv";
    return NULL;
}

cx_err decl_import(decl_service *d, const decl_import_opts *o, decl_import_result *res,
                   char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    const char *fmt = o->format ? o->format : import__format_from_path(o->path);
    if (!fmt) {
        snprintf(err, errlen, "%s: cannot tell the format from the extension; use --format",
                 o->path);
        return CX_EINVAL;
    }
    decl_reader_fn reader = NULL;
    pthread_mutex_lock(&formats_mu);
    for (size_t i = 0; i < nformats; i++)
        if (strcmp(formats[i].name, fmt) == 0)
            reader = formats[i].reader;
    pthread_mutex_unlock(&formats_mu);
    if (!reader) {
        snprintf(err, errlen, "unknown format %s", fmt);
        return CX_EINVAL;
    }
    if (!o->dry_run && !d) {
        snprintf(err, errlen, "no database to import into");
        return CX_EINVAL;
    }
    if (!cx_org_valid(o->org)) {
        snprintf(err, errlen, "--org %s: 1 to 64 characters of A-Z a-z 0-9 . _ -", o->org);
        return CX_EINVAL;
    }
    FILE *f = o->file ? o->file : fopen(o->path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", o->path, strerror(errno));
        return CX_EIO;
    }
    decl_import_run run = {.d = d, .o = o};
    run.who.role = CX_ROLE_ADMIN;
    snprintf(run.who.org, sizeof run.who.org, "%s", o->org);
    pthread_mutex_init(&run.mu, NULL);
    pthread_cond_init(&run.cv, NULL);
    if (o->rejects && !(run.rejects = fopen(o->rejects, "w"))) {
        snprintf(err, errlen, "cannot write %s: %s", o->rejects, strerror(errno));
        if (!o->file)
            fclose(f);
        return CX_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0)
        run.file_size = (uint64_t)st.st_size;
    if (o->progress)
        run.progress = cx_progress_new("import", run.file_size, "decl");
    cx_err e = reader(f, &run, import__emit, err, errlen);
    pthread_mutex_lock(&run.mu);
    while (run.inflight > 0)
        pthread_cond_wait(&run.cv, &run.mu);
    pthread_mutex_unlock(&run.mu);
    cx_progress_free(run.progress);
    if (!o->file)
        fclose(f);
    if (run.rejects && fclose(run.rejects) != 0 && e == CX_OK) {
        snprintf(err, errlen, "cannot write %s", o->rejects);
        e = CX_EIO;
    }
    if (e == CX_OK && run.failed) {
        snprintf(err, errlen, "the database stopped accepting writes");
        e = CX_EIO;
    }
    res->imported = run.imported;
    res->rejected = run.rejected;
    pthread_mutex_destroy(&run.mu);
    pthread_cond_destroy(&run.cv);
    return e;
}
