/* Durable storage of declarations through the group-committing writer. */
#include "decl_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const store_migration decl_migrations[] = {
    {1, "CREATE TABLE declarations("
        " seq INTEGER PRIMARY KEY,"
        " id TEXT NOT NULL UNIQUE,"
        " org TEXT NOT NULL,"
        " reference TEXT NOT NULL,"
        " type TEXT NOT NULL,"
        " date TEXT NOT NULL,"
        " status TEXT NOT NULL,"
        " received_at TEXT NOT NULL,"
        " doc TEXT NOT NULL,"
        " risk TEXT,"
        " UNIQUE(org, reference));"
        "CREATE INDEX declarations_org ON declarations(org);"
        "CREATE TABLE declaration_containers("
        " container TEXT NOT NULL,"
        " seq INTEGER NOT NULL REFERENCES declarations(seq),"
        " PRIMARY KEY(container, seq)) WITHOUT ROWID;"},
    /* other modules look declarations up by their transport document */
    {2, "CREATE INDEX declarations_tdoc ON declarations("
        "json_extract(doc, '$.transport_document.number'));"},
    /* the officer's decision (release, hold, refuse): the latest beside the
     * row, every one in the history */
    {3, "ALTER TABLE declarations ADD COLUMN decision TEXT;"
        "CREATE TABLE declaration_decisions("
        " id INTEGER PRIMARY KEY,"
        " seq INTEGER NOT NULL REFERENCES declarations(seq),"
        " decision TEXT NOT NULL);"
        "CREATE INDEX declaration_decisions_seq ON declaration_decisions(seq, id);"},
    /* status lives in its column only: the stored document no longer
     * repeats it (decisions used to patch it in the text); and the view
     * other modules join on instead of this table (declare.h) */
    {4, "UPDATE declarations SET doc = json_remove(doc, '$.status') "
        "WHERE json_type(doc, '$.status') IS NOT NULL;"
        "CREATE VIEW decl_view AS SELECT seq, id, org, reference, type, date, received_at, "
        "status, json_extract(risk, '$.lane') AS lane, risk, doc FROM declarations;"},
    /* hot keys (issue 17): a bill of lading or a container shared by
     * 100,000 declarations. The mirror check reads the newest few of the
     * opposite type straight from this index (seq is its implicit last
     * column), and container links the newest few from the primary key. */
    {5, "CREATE INDEX declarations_tdoc_type ON declarations("
        "json_extract(doc, '$.transport_document.number'), type);"},
    /* server members that hooks have declare keep (decl_hooks.enrich_kept,
     * e.g. revenue's assessment): one row and one text per declaration
     * instead of a second table's row; kept_shown is the declarant's form
     * when it differs */
    {6, "ALTER TABLE declarations ADD COLUMN kept TEXT;"
        "ALTER TABLE declarations ADD COLUMN kept_shown TEXT;"},
    /* hooks' private records of their members (enrich_kept's record),
     * {"name":record,…}: written with the row, never shown to anyone, read
     * back only through decl_kept_after — no side table's page per commit */
    {7, "ALTER TABLE declarations ADD COLUMN kept_records TEXT;"},
    /* the open work (submitted or held): the officers' queue reads these few
     * rows instead of walking every decided declaration to find them
     * (declare.h: DECL_OPEN_WHERE must match this WHERE for SQLite to use it);
     * and the day's declarations (the risk summary, since=) by arrival time
     * instead of reading every declaration ever received */
    {8, "CREATE INDEX declarations_open ON declarations(seq) "
        "WHERE status IN ('submitted', 'held');"
        "CREATE INDEX declarations_received ON declarations(received_at);"},
};

cx_err decl_migrate(store *s, char *err, size_t errlen)
{
    return store_migrate(s, "declare", decl_migrations,
                         sizeof decl_migrations / sizeof decl_migrations[0], err, errlen);
}

decl_service *decl_service_new(store *s)
{
    decl_service *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->store = s;
    return d;
}

void decl_service_free(decl_service *d)
{
    if (!d)
        return;
    free(d->hooks);
    free(d->gates);
    free(d);
}

/* Inserts item (of size sz, with its order and name at the given offsets)
 * into a sorted array, after every entry of the same order. */
static cx_err decl__insert_sorted(void **arr, size_t *n, size_t sz, const void *item, int order,
                                  const char *name, size_t order_off, size_t name_off)
{
    char *a = *arr;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(*(const char *const *)(a + i * sz + name_off), name) == 0)
            return CX_EEXIST;
    char *grown = realloc(a, (*n + 1) * sz);
    if (!grown)
        return CX_ENOMEM;
    size_t at = *n;
    while (at > 0 && *(const int *)(grown + (at - 1) * sz + order_off) > order)
        at--;
    memmove(grown + (at + 1) * sz, grown + at * sz, (*n - at) * sz);
    memcpy(grown + at * sz, item, sz);
    *arr = grown;
    (*n)++;
    return CX_OK;
}

cx_err decl_service_add_hooks(decl_service *d, const decl_hooks *h)
{
    if (!h->name || !h->name[0] || !h->member != !h->enrich_kept ||
        (h->member_expand && !h->member))
        return CX_EINVAL; /* a member is kept only as enrich_kept makes it */
    return decl__insert_sorted((void **)&d->hooks, &d->nhooks, sizeof *h, h, h->order, h->name,
                               offsetof(decl_hooks, order), offsetof(decl_hooks, name));
}

cx_err decl_gate_add(decl_service *d, const decl_gate *g)
{
    if (!g->name || !g->name[0] || !g->check)
        return CX_EINVAL;
    return decl__insert_sorted((void **)&d->gates, &d->ngates, sizeof *g, g, g->order, g->name,
                               offsetof(decl_gate, order), offsetof(decl_gate, name));
}

cx_err decl_gate_refuse(decl_gate_refusal *no, unsigned status, const char *code,
                        const char *path, const char *fmt, ...)
{
    no->status = status;
    snprintf(no->code, sizeof no->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(no->message, sizeof no->message, fmt, ap);
    va_end(ap);
    if (path) {
        if (!no->details)
            no->details = json_array();
        cx_problem_add(no->details, path, "%s", no->message);
    }
    return CX_ESTATE;
}

store *decl_service_store(decl_service *d)
{
    return d->store;
}

bool decl_status_final(const char *status)
{
    return status && (strcmp(status, "released") == 0 || strcmp(status, "refused") == 0 ||
                      strcmp(status, "historical") == 0);
}

/* The risk member as a declarant sees it: without the reasons for customs
 * alone, with the lane it had before their raises, and none at all when
 * such raises made it. */
static cx_err decl__risk_declarant(const char *risk, cx_buf *out)
{
    json_t *r = json_loads(risk, 0, NULL);
    if (!json_is_object(r)) {
        json_decref(r);
        return CX_EINVAL;
    }
    json_t *reasons = json_object_get(r, "reasons");
    for (size_t i = json_array_size(reasons); i-- > 0;)
        if (json_is_true(json_object_get(json_array_get(reasons, i), "customs_only")))
            json_array_remove(reasons, i);
    json_t *lane = json_object_get(r, "declarant_lane");
    if (json_is_string(lane))
        json_object_set(r, "lane", lane);
    else if (lane)
        json_object_del(r, "lane");
    json_object_del(r, "declarant_lane");
    if (reasons && !json_array_size(reasons) && json_object_size(r) == 1)
        json_object_del(r, "reasons");
    cx_err e = CX_OK;
    if (json_object_size(r)) {
        e = cx_buf_puts(out, ",\"risk\":");
        e = e ? e : cx_buf_json(out, r);
    }
    json_decref(r);
    return e;
}

cx_err decl__compose(decl_service *d, store_conn *r, int64_t seq, const char *doc, size_t len,
                     const char *status, const char *risk, const char *decision,
                     const char *kept, bool officer, cx_buf *out)
{
    if (len < 2 || doc[len - 1] != '}')
        return CX_EINVAL;
    cx_err e = cx_buf_append(out, doc, len - 1);
    if (e == CX_OK && status) {
        e = cx_buf_puts(out, ",\"status\":");
        if (e == CX_OK)
            e = cx_buf_json_str(out, status);
    }
    /* the marker is only ever written by decl__raise */
    if (e == CX_OK && risk && !officer && strstr(risk, "\"declarant_lane\"")) {
        e = decl__risk_declarant(risk, out);
    } else if (e == CX_OK && risk) {
        e = cx_buf_puts(out, ",\"risk\":");
        if (e == CX_OK)
            e = cx_buf_puts(out, risk);
    }
    if (e == CX_OK && decision) {
        e = cx_buf_puts(out, ",\"decision\":");
        if (e == CX_OK)
            e = cx_buf_puts(out, decision);
    }
    /* kept members: the object's members, as its text has them */
    size_t kl = kept ? strlen(kept) : 0;
    if (e == CX_OK && kl > 2 && kept[0] == '{' && kept[kl - 1] == '}') {
        e = cx_buf_puts(out, ",");
        e = e ? e : decl__kept_expand(d, r, kept + 1, kl - 2, out);
    }
    for (size_t i = 0; r && e == CX_OK && i < d->nhooks; i++)
        if (d->hooks[i].decorate)
            e = d->hooks[i].decorate(d->hooks[i].ctx, r, seq, out);
    if (e == CX_OK)
        e = cx_buf_puts(out, "}");
    return e;
}

static const char *decl__str(const json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return s ? s : "";
}

/* Whether key is a member declare keeps for a hook (in its own column). */
static bool decl__hook_member(const decl_service *d, const char *key)
{
    for (size_t i = 0; i < d->nhooks; i++)
        if (d->hooks[i].member && strcmp(d->hooks[i].member, key) == 0)
            return true;
    return false;
}

/* The submission's reply: the stored text with its status, risk and the
 * members declare keeps (their texts). */
static cx_err decl__reply_text(decl_write *dw, const char *risk)
{
    cx_buf api;
    cx_buf_init(&api, DECL_TEXT_MAX);
    cx_err e = decl__compose(dw->d, NULL, 0, dw->doc_text, dw->doc_len,
                             decl__str(dw->doc, "status"), risk, NULL,
                             dw->officer || !dw->kept_shown ? dw->kept : dw->kept_shown,
                             dw->officer, &api);
    if (e == CX_OK) {
        free(dw->text);
        dw->text = cx_buf_steal(&api, &dw->len);
        e = dw->text ? CX_OK : CX_ENOMEM;
    }
    cx_buf_free(&api);
    return e;
}

/* Lane raises made on this (the writer) thread; lets an insert notice that a
 * hook raised the lane of the declaration it is inserting. */
static _Thread_local unsigned decl_raises;

/* Notes the stored risk member when a hook changed it at insert, so the
 * 201 shows what the database holds. */
static cx_err decl__refresh_risk(store_conn *w, decl_write *dw)
{
    sqlite3_stmt *st = store_stmt(w, "SELECT risk FROM declarations WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, dw->seq);
    cx_err e = CX_OK;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        const char *risk = (const char *)sqlite3_column_text(st, 0);
        /* kept for whoever finishes the submission: the reply may be in
         * the making on another thread */
        free(dw->risk_refreshed);
        dw->risk_refreshed = NULL;
        if ((!dw->risk_text || strcmp(risk, dw->risk_text) != 0) &&
            !(dw->risk_refreshed = strdup(risk)))
            e = CX_ENOMEM;
    }
    sqlite3_reset(st);
    return e;
}

cx_err decl__insert(store_conn *w, void *arg)
{
    decl_write *dw = arg;
    const json_t *doc = dw->doc;
    sqlite3_stmt *st = store_stmt(w, "INSERT INTO declarations(id, org, reference, type, date, "
                                     "status, received_at, doc, risk, kept, kept_shown, "
                                     "kept_records) "
                                     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, decl__str(doc, "id"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, decl__str(doc, "org"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, decl__str(doc, "reference"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, decl__str(doc, "type"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, decl__str(doc, "date"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, decl__str(doc, "status"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, decl__str(doc, "received_at"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, dw->doc_text, (int)dw->doc_len, SQLITE_STATIC);
    if (dw->risk_text)
        sqlite3_bind_text(st, 9, dw->risk_text, -1, SQLITE_STATIC);
    if (dw->kept)
        sqlite3_bind_text(st, 10, dw->kept, -1, SQLITE_STATIC);
    if (dw->kept_shown)
        sqlite3_bind_text(st, 11, dw->kept_shown, -1, SQLITE_STATIC);
    if (dw->kept_records)
        sqlite3_bind_text(st, 12, dw->kept_records, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return strstr(sqlite3_errmsg(store_conn_db(w)), "reference") ? CX_EEXIST : CX_EDB;
    if (rc != SQLITE_DONE)
        return CX_EDB;
    dw->seq = sqlite3_last_insert_rowid(store_conn_db(w));
    const json_t *containers = json_object_get(doc, "containers");
    size_t i;
    const json_t *c;
    json_array_foreach(containers, i, c)
    {
        st = store_stmt(w, "INSERT OR IGNORE INTO declaration_containers(container, seq) "
                           "VALUES(?1, ?2)");
        if (!st)
            return CX_EDB;
        sqlite3_bind_text(st, 1, json_string_value(c), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, dw->seq);
        if (store_done(st) != CX_OK)
            return CX_EDB;
    }
    unsigned raises = decl_raises;
    for (size_t k = 0; k < dw->d->nhooks && !dw->historical; k++) {
        if (!dw->d->hooks[k].indexed)
            continue;
        cx_err e = dw->d->hooks[k].indexed(dw->d->hooks[k].ctx, w, dw->seq, doc);
        if (e != CX_OK)
            return e;
    }
    if (dw->after) {
        cx_err e = dw->after(dw->after_ctx, w, dw->seq, doc, dw->extra);
        if (e != CX_OK)
            return e;
    }
    return raises != decl_raises ? decl__refresh_risk(w, dw) : CX_OK;
}

void decl__write_free(decl_write *dw)
{
    if (!dw)
        return;
    json_decref(dw->doc);
    json_decref(dw->extra);
    free(dw->text);
    free(dw->doc_text);
    free(dw->risk_text);
    free(dw->kept);
    free(dw->kept_shown);
    free(dw->kept_records);
    free(dw->risk_refreshed);
    for (size_t i = 0; dw->made && i < dw->d->nhooks; i++) {
        free(dw->made[i].full);
        free(dw->made[i].shown);
        free(dw->made[i].record);
    }
    free(dw->made);
    free(dw);
}

/* Appends valid JSON text without the whitespace between its tokens; string
 * and number lexemes are copied exactly. Only for text jansson accepted. */
static cx_err decl__minify(cx_buf *out, const char *in, size_t n)
{
    cx_err e = cx_buf_reserve(out, n);
    if (e != CX_OK)
        return e;
    char *o = out->data + out->len;
    bool str = false;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (str) {
            *o++ = c;
            if (c == '\\' && i + 1 < n)
                *o++ = in[++i];
            else if (c == '"')
                str = false;
        } else if (c == '"') {
            str = true;
            *o++ = c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            *o++ = c;
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return CX_OK;
}

/* The stored text is the submitted JSON as the client wrote it, less the
 * whitespace between tokens (so every string and number is echoed exactly,
 * and nothing is re-serialised on the hot path), followed by the server's
 * members. Without a raw text (CSV
 * import) the parsed document is serialised instead. */
static cx_err decl__stored_text(const decl_service *d, const json_t *doc, size_t submitted,
                                const char *raw, size_t rawlen, cx_buf *out)
{
    cx_err e;
    if (raw) {
        while (rawlen && (raw[rawlen - 1] == ' ' || raw[rawlen - 1] == '\n' ||
                          raw[rawlen - 1] == '\r' || raw[rawlen - 1] == '\t'))
            rawlen--;
        if (rawlen < 2 || raw[rawlen - 1] != '}')
            return CX_EINVAL;
        /* padding cannot inflate what is stored and listed */
        e = decl__minify(out, raw, rawlen - 1);
    } else {
        size_t n;
        json_t *sub = json_object();
        const char *k;
        json_t *v;
        size_t i = 0;
        json_object_foreach((json_t *)doc, k, v)
        {
            if (i++ < submitted)
                json_object_set(sub, k, v);
        }
        char *t = cx_json_dump(sub, &n);
        json_decref(sub);
        if (!t)
            return CX_ENOMEM;
        e = cx_buf_append(out, t, n - 1);
        free(t);
    }
    /* server members, then whatever enrich hooks added (risk has a column) */
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        /* risk, status and kept members have columns of their own */
        if (i++ < submitted || strcmp(k, "risk") == 0 || strcmp(k, "status") == 0 ||
            decl__hook_member(d, k) || e != CX_OK)
            continue;
        json_t *key = json_string(k);
        char *ks = cx_json_dump(key, NULL), *vs = cx_json_dump(v, NULL);
        json_decref(key);
        if (ks && vs)
            e = cx_buf_printf(out, ",%s:%s", ks, vs);
        else
            e = CX_ENOMEM;
        free(ks);
        free(vs);
    }
    return e == CX_OK ? cx_buf_puts(out, "}") : e;
}

/* Builds the write record; takes a reference on doc and adds the server's
 * members to it (id, org, status, received_at, and the enrich hooks'). */
cx_err decl__write_new(decl_service *d, const cx_principal *who, json_t *doc, const char *raw,
                       size_t rawlen, bool historical, decl_write **out)
{
    decl_write *dw = calloc(1, sizeof *dw);
    if (!dw)
        return CX_ENOMEM;
    dw->d = d;
    dw->doc = json_incref(doc);
    dw->historical = historical;
    dw->officer = cx_is_officer(who);
    char id[CX_ID_LEN + 1], now[32];
    cx_id_new(id);
    cx_rfc3339_format(cx_now_us(), now);
    size_t submitted = json_object_size(doc);
    json_object_set_new(doc, "id", json_string(id));
    json_object_set_new(doc, "org", json_string(who->org));
    json_object_set_new(doc, "status", json_string(historical ? "historical" : "submitted"));
    json_object_set_new(doc, "received_at", json_string(now));
    cx_err e = CX_OK;
    for (size_t i = 0; i < d->nhooks && !historical && e == CX_OK; i++) {
        const decl_hooks *h = &d->hooks[i];
        if (h->enrich)
            h->enrich(h->ctx, who, doc);
        if (h->enrich_kept) {
            if (!dw->made && !(dw->made = calloc(d->nhooks, sizeof *dw->made)))
                e = CX_ENOMEM;
            if (e == CX_OK)
                e = h->enrich_kept(h->ctx, who, doc, raw, rawlen, &dw->made[i]);
        } else if (h->enrich_text) {
            h->enrich_text(h->ctx, who, doc, raw, rawlen);
        }
    }
    /* The risk member lives in its own column so that it can change
     * (decl_raise_lane) while the submitted document stays as stored. */
    json_t *risk = json_object_get(doc, "risk");
    if (risk && !(dw->risk_text = cx_json_dump(risk, NULL)))
        e = CX_ENOMEM;
    if (e == CX_OK && !historical)
        e = decl__kept_texts(dw);
    cx_buf text;
    cx_buf_init(&text, DECL_TEXT_MAX);
    if (e == CX_OK)
        e = cx_buf_reserve(&text, rawlen + 160);
    if (e == CX_OK)
        e = decl__stored_text(d, doc, submitted, raw, rawlen, &text);
    dw->doc_text = cx_buf_steal(&text, &dw->doc_len);
    if (e == CX_OK && !dw->doc_text)
        e = CX_ENOMEM;
    /* The API form (decl__write_reply) is made by whoever needs it, while
     * the writer commits. */
    if (e != CX_OK) {
        decl__write_free(dw);
        return e;
    }
    dw->job.fn = decl__insert;
    dw->job.arg = dw;
    atomic_init(&dw->parties, 2);
    *out = dw;
    return CX_OK;
}

cx_err decl__write_reply(decl_write *dw, bool after_job)
{
    /* the API form is the stored text with its status, its risk member and
     * the members declare keeps; risk_refreshed is the writer's until the
     * job is done */
    if (!after_job)
        return decl__reply_text(dw, dw->risk_text);
    return dw->risk_refreshed ? decl__reply_text(dw, dw->risk_refreshed) : CX_OK;
}

bool decl__write_last(decl_write *dw)
{
    return atomic_fetch_sub_explicit(&dw->parties, 1, memory_order_acq_rel) == 1;
}

cx_err decl_store_one(decl_service *d, const cx_principal *who, json_t *doc, char **stored)
{
    return decl_store_text(d, who, doc, NULL, 0, stored);
}

typedef struct {
    decl_write *dw;
    cx_err err; /* the reply's making */
} decl_early_reply;

static void decl__reply_early(void *arg)
{
    decl_early_reply *x = arg;
    x->err = decl__write_reply(x->dw, false);
}

cx_err decl_store_text(decl_service *d, const cx_principal *who, json_t *doc, const char *text,
                       size_t len, char **stored)
{
    decl_write *dw;
    cx_err e = decl__write_new(d, who, doc, text, len, false, &dw);
    if (e != CX_OK)
        return e;
    /* the reply is made while the writer inserts and commits */
    decl_early_reply x = {dw, CX_OK};
    e = store_write_during(d->store, decl__insert, dw, stored ? decl__reply_early : NULL, &x);
    if (e == CX_OK && stored) {
        /* stored, but no reply could be made (no memory, a hook's text
         * unreadable): the caller reads it back */
        e = x.err == CX_OK ? decl__write_reply(dw, true) : x.err;
        *stored = e == CX_OK ? dw->text : NULL;
        dw->text = NULL;
    }
    decl__write_free(dw);
    return e;
}

static void decl__async_done(void *arg, cx_err result)
{
    decl_write *dw = arg;
    dw->user_done(dw->user_arg, result, dw->doc);
    decl__write_free(dw);
}

cx_err decl__submit(decl_service *d, const cx_principal *who, json_t *doc, const char *raw,
                    size_t rawlen, bool historical, decl_done_fn done, void *arg,
                    decl_after_fn after, void *after_ctx, json_t *extra)
{
    decl_write *dw;
    cx_err e = decl__write_new(d, who, doc, raw, rawlen, historical, &dw);
    if (e != CX_OK) {
        json_decref(extra);
        return e;
    }
    dw->user_done = done;
    dw->user_arg = arg;
    dw->after = after;
    dw->after_ctx = after_ctx;
    dw->extra = extra;
    dw->job.done = decl__async_done;
    e = store_submit(d->store, &dw->job);
    if (e != CX_OK)
        decl__write_free(dw);
    return e;
}

cx_err decl_store_async(decl_service *d, const cx_principal *who, json_t *doc, decl_done_fn done,
                        void *arg)
{
    return decl__submit(d, who, doc, NULL, 0, false, done, arg, NULL, NULL, NULL);
}

bool decl__visible(const cx_principal *who, const char *org)
{
    if (!who || who->role == CX_ROLE_ADMIN || who->role == CX_ROLE_OFFICER)
        return true;
    return who->role == CX_ROLE_TRADER && strcmp(who->org, org) == 0;
}

cx_err decl_get(decl_service *d, const cx_principal *who, const char *id, char **json)
{
    store_conn *c = store_reader(d->store);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(
        c, "SELECT seq, org, doc, risk, decision, status, "
           "CASE WHEN ?2 THEN kept ELSE coalesce(kept_shown, kept) END "
           "FROM declarations WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, !who || cx_is_officer(who));
    int rc = sqlite3_step(st);
    cx_err e = CX_ENOTFOUND;
    if (rc == SQLITE_ROW && decl__visible(who, (const char *)sqlite3_column_text(st, 1))) {
        cx_buf out;
        cx_buf_init(&out, DECL_TEXT_MAX);
        e = decl__compose(d, c, sqlite3_column_int64(st, 0),
                          (const char *)sqlite3_column_text(st, 2),
                          (size_t)sqlite3_column_bytes(st, 2),
                          (const char *)sqlite3_column_text(st, 5),
                          (const char *)sqlite3_column_text(st, 3),
                          (const char *)sqlite3_column_text(st, 4),
                          (const char *)sqlite3_column_text(st, 6), !who || cx_is_officer(who),
                          &out);
        if (e == CX_OK && !(*json = cx_buf_steal(&out, NULL)))
            e = CX_ENOMEM;
        cx_buf_free(&out);
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        e = CX_EDB;
    }
    sqlite3_reset(st);
    return e;
}

cx_err decl_lookup(decl_service *d, const char *id, int64_t *seq, char org[CX_ORG_MAX + 1])
{
    store_conn *c = store_reader(d->store);
    if (!c)
        return CX_EDB;
    sqlite3_stmt *st = store_stmt(c, "SELECT seq, org FROM declarations WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK) {
        if (seq)
            *seq = sqlite3_column_int64(st, 0);
        if (org)
            snprintf(org, CX_ORG_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    return e;
}

cx_err decl_find_by_container(decl_service *d, const char *container, const char *since,
                              int limit, decl_container_fn fn, void *ctx)
{
    store_conn *c = store_reader(d->store);
    if (!c)
        return CX_EDB;
    /* newest first straight from the primary key (container, seq): a
     * container shared by 100,000 declarations costs `limit` rows */
    sqlite3_stmt *st = store_stmt(c, "SELECT d.id, d.date FROM declaration_containers k "
                                     "JOIN declarations d ON d.seq = k.seq "
                                     "WHERE k.container = ?1 AND d.date >= ?2 "
                                     "ORDER BY k.seq DESC LIMIT ?3");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, container, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, since ? since : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, limit > 0 ? limit : 0);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!fn(ctx, (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1)))
            break;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

static int decl__lane_rank(const char *lane)
{
    if (!lane)
        return -1;
    if (strcmp(lane, "green") == 0)
        return 0;
    if (strcmp(lane, "yellow") == 0)
        return 1;
    if (strcmp(lane, "red") == 0)
        return 2;
    return -1;
}

typedef struct {
    const char *id;
    const char *lane;
    json_t *reason;
} raise_job;

/* Raises the lane of a risk member (an object) and appends reason (may be
 * NULL), as decl_raise_lane_in documents. */
static void decl__raise_risk(json_t *risk, const char *lane, const json_t *reason)
{
    const char *have = json_string_value(json_object_get(risk, "lane"));
    /* A raise for customs alone leaves the lane the declarant sees where it
     * was (declarant_lane, kept from the first such raise on); any other
     * raise moves both. */
    json_t *shown = json_object_get(risk, "declarant_lane");
    if (json_is_true(json_object_get(reason, "customs_only"))) {
        if (!shown)
            json_object_set_new(risk, "declarant_lane", have ? json_string(have) : json_null());
    } else if (shown && decl__lane_rank(lane) > decl__lane_rank(json_string_value(shown))) {
        json_object_set_new(risk, "declarant_lane", json_string(lane));
    }
    if (decl__lane_rank(lane) > decl__lane_rank(have))
        json_object_set_new(risk, "lane", json_string(lane));
    json_t *reasons = json_object_get(risk, "reasons");
    if (!json_is_array(reasons)) {
        reasons = json_array();
        json_object_set_new(risk, "reasons", reasons);
    }
    if (reason)
        json_array_append(reasons, (json_t *)reason);
}

cx_err decl_raise_lane_doc(json_t *doc, const char *lane, const json_t *reason)
{
    if (decl__lane_rank(lane) < 0)
        return CX_EINVAL;
    json_t *risk = json_object_get(doc, "risk");
    if (!json_is_object(risk)) {
        risk = json_object();
        if (!risk || json_object_set_new(doc, "risk", risk))
            return CX_ENOMEM;
    }
    decl__raise_risk(risk, lane, reason);
    return CX_OK;
}

static cx_err decl__raise(store_conn *w, void *arg)
{
    decl_raises++;
    raise_job *j = arg;
    sqlite3_stmt *st = store_stmt(w, "SELECT seq, risk FROM declarations WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    }
    int64_t seq = sqlite3_column_int64(st, 0);
    const char *text = (const char *)sqlite3_column_text(st, 1);
    json_t *risk = text ? json_loads(text, 0, NULL) : NULL;
    sqlite3_reset(st);
    if (!json_is_object(risk)) {
        json_decref(risk);
        risk = json_object();
    }
    decl__raise_risk(risk, j->lane, j->reason);
    char *out = cx_json_dump(risk, NULL);
    json_decref(risk);
    if (!out)
        return CX_ENOMEM;
    st = store_stmt(w, "UPDATE declarations SET risk=?2 WHERE seq=?1");
    if (!st) {
        free(out);
        return CX_EDB;
    }
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, out, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(out);
    return rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err decl_raise_lane_in(store_conn *w, const char *id, const char *lane, const json_t *reason)
{
    if (decl__lane_rank(lane) < 0)
        return CX_EINVAL;
    raise_job j = {id, lane, (json_t *)reason};
    return decl__raise(w, &j);
}

cx_err decl_raise_lane(decl_service *d, const char *id, const char *lane, json_t *reason)
{
    if (decl__lane_rank(lane) < 0) {
        json_decref(reason);
        return CX_EINVAL;
    }
    raise_job j = {id, lane, reason};
    cx_err e = store_write(d->store, decl__raise, &j);
    json_decref(reason);
    return e;
}

cx_err decl__list(decl_service *d, const cx_principal *who, int64_t after, http_pager *pg,
                  int64_t *last)
{
    store_conn *c = store_reader(d->store);
    if (!c)
        return CX_EDB;
    bool all = cx_is_officer(who);
    sqlite3_stmt *st =
        all ? store_stmt(c, "SELECT seq, doc, risk, decision, status, kept FROM declarations "
                            "WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            : store_stmt(c, "SELECT seq, doc, risk, decision, status, "
                            "coalesce(kept_shown, kept) FROM declarations "
                            "WHERE org = ?3 AND seq > ?1 ORDER BY seq LIMIT ?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, pg->limit + 1);
    if (!all)
        sqlite3_bind_text(st, 3, who->org, -1, SQLITE_STATIC);
    while (store_row(st, &pg->out) && http_pager_item(pg)) {
        *last = sqlite3_column_int64(st, 0);
        cx_err e = decl__compose(d, c, *last, (const char *)sqlite3_column_text(st, 1),
                                 (size_t)sqlite3_column_bytes(st, 1),
                                 (const char *)sqlite3_column_text(st, 4),
                                 (const char *)sqlite3_column_text(st, 2),
                                 (const char *)sqlite3_column_text(st, 3),
                                 (const char *)sqlite3_column_text(st, 5), all, &pg->out);
        /* a failed append is in the buffer already (it stays the error);
         * CX_EINVAL otherwise is a stored doc that does not read back; any
         * other (a member that would not expand, a hook's read) as it is */
        http_pager_fail(pg, e == CX_EINVAL ? CX_EPARSE : e);
    }
    sqlite3_reset(st);
    return CX_OK;
}

/* Steps a statement whose first two columns are id and doc through fn. */
static cx_err decl__each_doc(sqlite3_stmt *st, decl_doc_fn fn, void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!fn(ctx, (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1)))
            break;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err decl_find_by_transport_doc(store_conn *c, const char *number, int limit, decl_doc_fn fn,
                                  void *ctx)
{
    /* the expression must match the index of migration 2, which ends in
     * seq: newest-first stops after `limit` rows however many declarations
     * share the number */
    sqlite3_stmt *st = store_stmt(c, "SELECT id, doc FROM declarations WHERE "
                                     "json_extract(doc, '$.transport_document.number') = ?1 "
                                     "ORDER BY seq DESC LIMIT ?2");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 0);
    return decl__each_doc(st, fn, ctx);
}

cx_err decl_find_mirrors(store_conn *c, const char *number, const char *type, int limit,
                         decl_mirror_fn fn, void *ctx)
{
    /* the (number, type) index of migration 5; the total and the one
     * currency come from SQLite's JSON functions, so the writer builds no
     * document for the (up to) `limit` rows it reads */
    sqlite3_stmt *st = store_stmt(
        c, "SELECT id, org, "
           "(SELECT total(json_extract(i.value, '$.value')) FROM json_each(d.doc, '$.items') i), "
           "(SELECT CASE WHEN count(*) > 0 AND count(json_extract(i.value, '$.currency')) = "
           "count(*) AND count(DISTINCT json_extract(i.value, '$.currency')) = 1 "
           "THEN max(json_extract(i.value, '$.currency')) END "
           "FROM json_each(d.doc, '$.items') i) "
           "FROM declarations d WHERE "
           "json_extract(doc, '$.transport_document.number') = ?1 AND type = ?2 "
           "ORDER BY seq DESC LIMIT ?3");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, limit > 0 ? limit : 0);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!fn(ctx, (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1), sqlite3_column_double(st, 2),
                (const char *)sqlite3_column_text(st, 3)))
            break;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CX_OK : CX_EDB;
}

cx_err decl_doc(store_conn *c, const char *id, decl_doc_fn fn, void *ctx)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT id, doc FROM declarations WHERE id=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           (size_t)sqlite3_column_bytes(st, 1));
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
}

cx_err decl_scan(store_conn *c, decl_doc_fn fn, void *ctx)
{
    sqlite3_stmt *st = store_stmt(c, "SELECT id, doc FROM declarations ORDER BY seq");
    return st ? decl__each_doc(st, fn, ctx) : CX_EDB;
}

cx_err decl_risk_get(store_conn *c, int64_t seq, char **risk)
{
    *risk = NULL;
    sqlite3_stmt *st = store_stmt(c, "SELECT risk FROM declarations WHERE seq=?1");
    if (!st)
        return CX_EDB;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    cx_err e = rc == SQLITE_ROW ? CX_OK : rc == SQLITE_DONE ? CX_ENOTFOUND : CX_EDB;
    if (e == CX_OK && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !(*risk = strdup((const char *)sqlite3_column_text(st, 0))))
        e = CX_ENOMEM;
    sqlite3_reset(st);
    return e;
}

int64_t decl_count(decl_service *d)
{
    store_conn *c = store_reader(d->store);
    if (!c)
        return -1;
    /* No row is ever deleted and seq grows by one per insert, so the largest
     * seq is the count, found in O(log n). */
    sqlite3_stmt *st = store_stmt(c, "SELECT coalesce(max(seq), 0) FROM declarations");
    if (!st)
        return -1;
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return n;
}
