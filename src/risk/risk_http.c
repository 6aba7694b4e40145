/* The risk API: inspection feedback, the risk queue, the model registry and
 * the HS classification assistant (docs/risk.md has the shapes). */
#include "risk_int.h"

#include <stdlib.h>
#include <string.h>

#define NOTES_MAX 2000
#define PHOTOS_MAX 64 /* hashes sent with one outcome */

/* ---- POST /v1/declarations/{id}/inspection ------------------------------------------ */

typedef struct {
    store_job job;
    http_req *req;
    risk_inspection in;
    const risk_config *cfg;
    char declaration[CX_ID_LEN + 8];
    char *notes;
    char *sent;       /* JSON text of the body's photos ("[]" when none) */
    char *photos;     /* the record's photos (JSON text), set by the job */
    json_t *problems; /* photos the job refused; made and read on the writer thread */
    char org[CX_ORG_MAX + 1];
    char at[32];
} inspect_write;

static void inspect__free(inspect_write *iw)
{
    free(iw->notes);
    free(iw->sent);
    free(iw->photos);
    json_decref(iw->problems);
    free(iw);
}

/* The photos are checked here, in the record's own transaction, so the
 * record lists exactly the step photos linked when it was written. */
static cx_err inspect__job(store_conn *w, void *arg)
{
    inspect_write *iw = arg;
    if (iw->cfg->photos) {
        iw->problems = json_array();
        cx_err e = iw->problems ? iw->cfg->photos(iw->cfg->photos_ctx, w, iw->in.seq, iw->sent,
                                                  iw->problems, &iw->photos)
                                : CX_ENOMEM;
        if (e != CX_OK)
            return e;
        if (json_array_size(iw->problems))
            return CX_EINVAL;
        iw->in.photos = iw->photos;
    }
    return risk__inspection_insert(w, &iw->in);
}

/* The "photos" member of the reply: the record's, or [] without a keeper. */
static json_t *inspect__photos(const inspect_write *iw)
{
    json_t *p = iw->photos ? json_loads(iw->photos, 0, NULL) : NULL;
    if (json_is_array(p))
        return p;
    json_decref(p);
    return json_array();
}

static void inspect__done(void *arg, cx_err result)
{
    inspect_write *iw = arg;
    http_req *r = iw->req;
    if (result == CX_OK) {
        json_t *o = json_pack("{s:s,s:s,s:b}", "declaration", iw->declaration, "result",
                              iw->in.fraud ? "fraud" : "compliant", "critical", iw->in.critical);
        if (isfinite(iw->in.revenue))
            json_object_set_new(o, "revenue_recovered", json_real(iw->in.revenue));
        if (iw->notes)
            json_object_set_new(o, "notes", json_string(iw->notes));
        json_object_set_new(o, "source", json_string("officer"));
        json_object_set_new(o, "inspected_by",
                            json_pack("{s:s,s:s,s:I}", "org", iw->org, "role", iw->in.by_role,
                                      "key_id", (json_int_t)iw->in.by_key));
        json_object_set_new(o, "inspected_at", json_string(iw->at));
        json_object_set_new(o, "photos", inspect__photos(iw));
        http_reply_json(r, 201, o);
    } else if (result == CX_EINVAL && json_array_size(iw->problems)) {
        char m[96];
        size_t n = json_array_size(iw->problems);
        snprintf(m, sizeof m, "the inspection has %zu problem%s", n, n == 1 ? "" : "s");
        http_reply_error(r, 400, "invalid_inspection", m, json_incref(iw->problems));
    } else {
        cx_log(CX_LOG_ERROR, "inspection not stored: %s", cx_strerror(result));
        http_reply_error(r, 503, "unavailable", "the inspection could not be stored; retry",
                         NULL);
    }
    inspect__free(iw);
    http_resume(r);
}

/* The body's photos: at most PHOTOS_MAX SHA-256s (64 lowercase hex digits);
 * whether each was uploaded is the job's question. */
static void inspect__photos_check(risk_service *svc, const json_t *photos, json_t *problems)
{
    if (!photos)
        return;
    if (!risk__service_config(svc)->photos) {
        cx_problem_add(problems, "/photos", "this server keeps no inspection photos");
        return;
    }
    if (!json_is_array(photos) || json_array_size(photos) > PHOTOS_MAX) {
        cx_problem_add(problems, "/photos", "must be an array of at most %d SHA-256 hashes",
                       PHOTOS_MAX);
        return;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(photos, i, v)
    {
        const char *h = json_string_value(v);
        size_t k = 0;
        while (h && k < 64 && ((h[k] >= '0' && h[k] <= '9') || (h[k] >= 'a' && h[k] <= 'f')))
            k++;
        if (!h || k != 64 || h[k]) {
            char p[32];
            snprintf(p, sizeof p, "/photos/%zu", i);
            cx_problem_add(problems, p, "must be a photo's SHA-256: 64 lowercase hex digits");
        }
    }
}

static void h_inspection(http_req *r, void *ctx)
{
    risk_service *svc = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow_officer(r, "record inspections"))
        return;
    json_t *doc = decl_parse_body(r);
    if (!doc)
        return;
    json_t *problems = json_array();
    if (!json_is_object(doc)) {
        cx_problem_add(problems, "", "must be an object");
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(doc, key, v)
        {
            if (strcmp(key, "result") && strcmp(key, "critical") &&
                strcmp(key, "revenue_recovered") && strcmp(key, "notes") &&
                strcmp(key, "photos")) {
                char p[128] = "";
                cx_jptr_push(p, sizeof p, key);
                cx_problem_add(problems, p, "unknown field");
            }
        }
    }
    const json_t *res = json_object_get(doc, "result");
    const char *rs = json_string_value(res);
    if (!res)
        cx_problem_add(problems, "/result", "is required");
    else if (!rs || (strcmp(rs, "fraud") && strcmp(rs, "compliant")))
        cx_problem_add(problems, "/result", "must be \"fraud\" or \"compliant\"");
    const json_t *crit = json_object_get(doc, "critical");
    if (crit && !json_is_boolean(crit))
        cx_problem_add(problems, "/critical", "must be true or false");
    else if (json_is_true(crit) && rs && strcmp(rs, "compliant") == 0)
        cx_problem_add(problems, "/critical", "can be true only when result is \"fraud\"");
    const json_t *rev = json_object_get(doc, "revenue_recovered");
    /* bounded like declared values: the metrics sum it */
    if (rev && (!json_is_number(rev) || !isfinite(json_number_value(rev)) ||
                json_number_value(rev) < 0 || json_number_value(rev) > DECL_NUM_MAX))
        cx_problem_add(problems, "/revenue_recovered", "must be a number from 0 to 10^15");
    const json_t *notes = json_object_get(doc, "notes");
    size_t chars = 0;
    if (notes && (!json_is_string(notes) ||
                  !cx_utf8_count(json_string_value(notes), json_string_length(notes), &chars) ||
                  chars > NOTES_MAX))
        cx_problem_add(problems, "/notes", "must be a string of at most 2000 characters");
    const json_t *photos = json_object_get(doc, "photos");
    inspect__photos_check(svc, photos, problems);
    if (json_array_size(problems)) {
        char m[96];
        snprintf(m, sizeof m, "the inspection has %zu problem%s", json_array_size(problems),
                 json_array_size(problems) == 1 ? "" : "s");
        json_decref(doc);
        http_reply_error(r, 400, "invalid_inspection", m, problems);
        return;
    }
    json_decref(problems);
    const char *id = http_param(r, "id");
    int64_t seq;
    cx_err e = decl_lookup(risk__service_decl(svc), id, &seq, NULL);
    if (e != CX_OK) {
        json_decref(doc);
        if (e == CX_ENOTFOUND)
            http_reply_error(r, 404, "not_found", "no such declaration", NULL);
        else
            http_reply_error(r, 503, "unavailable", cx_strerror(e), NULL);
        return;
    }
    inspect_write *iw = calloc(1, sizeof *iw);
    if (!iw || (notes && !(iw->notes = strdup(json_string_value(notes)))) ||
        !(iw->sent = photos ? cx_json_dump(photos, NULL) : strdup("[]"))) {
        if (iw)
            inspect__free(iw);
        json_decref(doc);
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        return;
    }
    iw->req = r;
    iw->cfg = risk__service_config(svc);
    snprintf(iw->declaration, sizeof iw->declaration, "%s", id);
    snprintf(iw->org, sizeof iw->org, "%s", who->org);
    cx_rfc3339_format(cx_now_us(), iw->at);
    iw->in = (risk_inspection){
        .seq = seq,
        .fraud = strcmp(rs, "fraud") == 0,
        .critical = json_is_true(crit),
        .revenue = rev ? json_number_value(rev) : NAN,
        .notes = iw->notes,
        .source = "officer",
        .by_org = iw->org,
        .by_role = cx_role_name(who->role),
        .by_key = who->key_id,
        .at = iw->at,
    };
    json_decref(doc);
    iw->job.fn = inspect__job;
    iw->job.done = inspect__done;
    iw->job.arg = iw;
    http_defer(r);
    if (store_submit(risk__service_store(svc), &iw->job) != CX_OK) {
        inspect__free(iw);
        http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
        http_resume(r);
    }
}

/* ---- GET /v1/risk/queue ------------------------------------------------------------ */

static bool http__charset(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (extra && strchr(extra, c))))
            return false;
    }
    return true;
}

/* status=: one or more declaration statuses separated by commas, or "open"
 * (the officer's open work: submitted,held). Writes the statuses to match
 * into out as "a,b" and whether all of them are open work into *open_only;
 * false if any is unknown or empty, so a typo is a 400, not an empty queue. */
static bool queue__status(const char *in, char *out, size_t cap, bool *open_only)
{
    size_t o = 0;
    out[0] = '\0';
    *open_only = true;
    for (const char *p = in;; p++) {
        size_t n = strcspn(p, ",");
        char one[32];
        if (n == 0 || n >= sizeof one)
            return false;
        memcpy(one, p, n);
        one[n] = '\0';
        const char *add = strcmp(one, "open") == 0 ? "submitted,held"
                          : decl_status_known(one) ? one
                                                   : NULL;
        if (!add)
            return false;
        *open_only = *open_only && (strcmp(one, "open") == 0 || strcmp(one, "submitted") == 0 ||
                                    strcmp(one, "held") == 0);
        int w = snprintf(out + o, cap - o, "%s%s", o ? "," : "", add);
        if (w < 0 || (size_t)w >= cap - o)
            return false;
        o += (size_t)w;
        p += n;
        if (!*p)
            return true;
    }
}

static void h_queue(http_req *r, void *ctx)
{
    risk_service *svc = ctx;
    if (!http_allow_officer(r, "read the risk queue"))
        return;
    const char *lane = http_query(r, "lane"), *status = http_query(r, "status");
    const char *office = http_query(r, "office"), *org = http_query(r, "org");
    const char *insp = http_query(r, "inspected");
    json_t *problems = json_array();
    http_page page;
    http_page_check(r, HTTP_CURSOR_INT, 50, 500, &page, problems);
    const char *rank_by = http_query(r, "rank");
    if (rank_by && strcmp(rank_by, "score") && strcmp(rank_by, "revenue"))
        cx_problem_add(problems, "/rank",
                       "must be score (probability of fraud) or revenue (probability × "
                       "revenue at risk)");
    if (lane && strcmp(lane, "red") && strcmp(lane, "yellow") && strcmp(lane, "green"))
        cx_problem_add(problems, "/lane", "must be red, yellow or green");
    char statuses[128];
    bool open_only = false;
    if (status && !queue__status(status, statuses, sizeof statuses, &open_only)) {
        char known[160] = "";
        for (const char *const *k = decl_statuses; *k; k++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s, ", *k);
        cx_problem_add(problems, "/status", "must be one or more of %sor open (= submitted,held), "
                                            "separated by commas", known);
    }
    if (office && !http__charset(office, 16, NULL))
        cx_problem_add(problems, "/office", "must be an office code of 1 to 16 letters or digits");
    if (org && !cx_org_valid(org))
        cx_problem_add(problems, "/org", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    if (insp && strcmp(insp, "true") && strcmp(insp, "false"))
        cx_problem_add(problems, "/inspected", "must be true or false");
    int64_t limit = page.limit;
    bool by_revenue = rank_by && strcmp(rank_by, "revenue") == 0;
    store_conn *c = store_reader(risk__service_store(svc));
    /* the cursor is the sealed seq of the last item: the next page starts
     * after that row's place in the order */
    double expected = 1e308, rank = 1e308;
    int64_t after = INT64_MAX;
    if (c && page.cursor && !json_array_size(problems)) {
        sqlite3_stmt *at = store_stmt(c, "SELECT expected, rank FROM risk_scores WHERE seq = ?1");
        if (at) {
            sqlite3_bind_int64(at, 1, page.after);
            cx_err ae = CX_OK; /* a read that failed is not a bad cursor */
            if (store_next(at, &ae)) {
                expected = sqlite3_column_double(at, 0);
                rank = sqlite3_column_double(at, 1);
                after = page.after;
            } else if (ae == CX_OK) {
                http_page_cursor_problem(problems);
            }
            sqlite3_reset(at);
            if (ae != CX_OK) {
                json_decref(problems);
                http_reply_failed(r, ae);
                return;
            }
        }
    }
    if (json_array_size(problems)) {
        http_bad_queries(r, problems);
        return;
    }
    json_decref(problems);
#define QUEUE_SELECT                                                                        \
    "SELECT s.seq, s.score, s.rank, s.office, d.id, d.org, d.reference, d.date, d.status, "  \
    "d.received_at, d.risk, s.at_risk FROM risk_scores s JOIN " DECL_VIEW " d ON d.seq = s.seq "
#define QUEUE_FILTERS                                                                       \
    "AND (?3 IS NULL OR d.lane = ?3) "                                                      \
    "AND (?4 IS NULL OR instr(',' || ?4 || ',', ',' || d.status || ',') > 0) "              \
    "AND (?5 IS NULL OR s.office = ?5) "                                                    \
    "AND (?7 IS NULL OR EXISTS(SELECT 1 FROM risk_inspections i WHERE i.seq = s.seq) = ?7) "
/* the open work (status=open, or any of submitted and held) is read from
 * declare's index of open declarations and sorted into the queue's order:
 * the decided ones, however many, are not walked to find it */
#define QUEUE_OPEN_SELECT                                                                   \
    "SELECT s.seq, s.score, s.rank, s.office, d.id, d.org, d.reference, d.date, d.status, "  \
    "d.received_at, d.risk, s.at_risk FROM " DECL_VIEW " d CROSS JOIN risk_scores s "        \
    "ON s.seq = d.seq WHERE d." DECL_OPEN_WHERE " AND (?6 IS NULL OR +s.org = ?6) "
#define QUEUE_BY_SCORE "ORDER BY s.rank DESC, s.seq DESC LIMIT ?8"
#define QUEUE_BY_REVENUE "ORDER BY s.expected DESC, s.rank DESC, s.seq DESC LIMIT ?8"
    /* each order walks an index (risk_scores_rank, risk_scores_expected); one
     * organisation's queue seeks its own rows in the same order
     * (risk_scores_org, risk_scores_org_expected), so a small trader's page
     * never walks everyone else's to fill it */
    sqlite3_stmt *st = NULL;
    if (c && open_only && by_revenue)
        st = store_stmt(c, QUEUE_OPEN_SELECT "AND (s.expected, s.rank, s.seq) < (?9, ?1, ?2) "
                                             QUEUE_FILTERS QUEUE_BY_REVENUE);
    else if (c && open_only)
        st = store_stmt(c, QUEUE_OPEN_SELECT "AND (s.rank, s.seq) < (?1, ?2) " QUEUE_FILTERS
                                             QUEUE_BY_SCORE);
    else if (c && by_revenue && org)
        st = store_stmt(c, QUEUE_SELECT "WHERE s.org = ?6 AND (s.expected, s.rank, s.seq) < "
                                        "(?9, ?1, ?2) " QUEUE_FILTERS QUEUE_BY_REVENUE);
    else if (c && by_revenue)
        st = store_stmt(c, QUEUE_SELECT "WHERE (s.expected, s.rank, s.seq) < (?9, ?1, ?2) "
                                        QUEUE_FILTERS QUEUE_BY_REVENUE);
    else if (c && org)
        st = store_stmt(c, QUEUE_SELECT "WHERE s.org = ?6 AND (s.rank, s.seq) < (?1, ?2) "
                                        QUEUE_FILTERS QUEUE_BY_SCORE);
    else if (c)
        st = store_stmt(c, QUEUE_SELECT "WHERE (s.rank, s.seq) < (?1, ?2) " QUEUE_FILTERS
                                        QUEUE_BY_SCORE);
    if (!st) {
        http_reply_error(r, 503, "unavailable", "cannot read the risk queue", NULL);
        return;
    }
    if (by_revenue)
        sqlite3_bind_double(st, 9, expected);
    sqlite3_bind_double(st, 1, rank);
    sqlite3_bind_int64(st, 2, after);
    if (lane)
        sqlite3_bind_text(st, 3, lane, -1, SQLITE_STATIC);
    if (status)
        sqlite3_bind_text(st, 4, statuses, -1, SQLITE_STATIC);
    if (office)
        sqlite3_bind_text(st, 5, office, -1, SQLITE_STATIC);
    if (org)
        sqlite3_bind_text(st, 6, org, -1, SQLITE_STATIC);
    if (insp)
        sqlite3_bind_int(st, 7, strcmp(insp, "true") == 0);
    sqlite3_bind_int64(st, 8, limit + 1);
    json_t *items = json_array();
    int n = 0;
    int64_t last_seq = 0;
    bool more = false;
    cx_err e = CX_OK; /* the first failure stops the read: the reply is an error */
    while (store_next(st, &e)) {
        if (n == limit) {
            more = true;
            break;
        }
        int64_t seq = sqlite3_column_int64(st, 0);
        last_seq = seq;
        json_t *it = json_object();
        json_object_set_new(it, "id", json_string((const char *)sqlite3_column_text(st, 4)));
        json_object_set_new(it, "reference",
                            json_string((const char *)sqlite3_column_text(st, 6)));
        json_object_set_new(it, "org", json_string((const char *)sqlite3_column_text(st, 5)));
        json_object_set_new(it, "office", json_string((const char *)sqlite3_column_text(st, 3)));
        json_object_set_new(it, "date", json_string((const char *)sqlite3_column_text(st, 7)));
        json_object_set_new(it, "status", json_string((const char *)sqlite3_column_text(st, 8)));
        json_object_set_new(it, "revenue_at_risk", json_real(sqlite3_column_double(st, 11)));
        json_object_set_new(it, "received_at",
                            json_string((const char *)sqlite3_column_text(st, 9)));
        const char *risk = (const char *)sqlite3_column_text(st, 10);
        json_t *rj = risk ? json_loads(risk, 0, NULL) : NULL;
        if (risk && !rj && e == CX_OK) { /* damaged: not shown as "not scored" */
            cx_log(CX_LOG_ERROR, "risk: stored risk of queue row %lld does not parse",
                   (long long)seq);
            e = CX_EPARSE;
        }
        json_object_set_new(it, "risk", rj ? rj : json_null());
        cx_err ie;
        json_t *ij = risk__inspection_json(c, seq, &ie);
        if (ie != CX_OK && e == CX_OK)
            e = ie;
        json_object_set_new(it, "inspection", ij ? ij : json_null());
        cx_json_push(items, it, &e);
        n++;
    }
    risk__service_queue_read(svc, (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1));
    sqlite3_reset(st);
    if (e != CX_OK) { /* a damaged stored risk is a 500, a read that failed a 503 */
        json_decref(items);
        http_reply_failed(r, e);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "items", items);
    if (more) {
        char cur[HTTP_CURSOR_MAX];
        http_cursor_seal(last_seq, cur);
        json_object_set_new(o, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(o, "next_cursor", json_null());
    }
    http_reply_json(r, 200, o);
}

/* ---- GET /v1/risk/summary ---------------------------------------------------------- */

/* Declarations received since a moment, counted by current lane and status, with how
 * many of them were inspected and found fraudulent (the console's overview). Historical
 * rows (past trade loaded for training) are not today's work: they are listed in groups
 * with their status and counted apart, never in the totals. The declarations received
 * since then are read by their arrival time (declare's index): the history before
 * since is not walked. */
static void h_summary(http_req *r, void *ctx)
{
    risk_service *svc = ctx;
    int64_t since_us = cx_now_us() / 86400000000LL * 86400000000LL; /* this UTC day */
    if (!http_allow_officer(r, "read the risk summary") || !http_query_time(r, "since", &since_us))
        return;
    char since[32];
    cx_rfc3339_format(since_us, since);
    store_conn *c = store_reader(risk__service_store(svc));
    sqlite3_stmt *st =
        c ? store_stmt(c, "SELECT d.lane, d.status, count(*), "
                          "sum(EXISTS(SELECT 1 FROM risk_inspections i WHERE i.seq = d.seq)), "
                          "sum((SELECT i.result FROM risk_inspections i WHERE i.seq = d.seq "
                          "ORDER BY i.id DESC LIMIT 1) = 'fraud') "
                          "FROM " DECL_VIEW " d WHERE d.received_at >= ?1 GROUP BY 1, 2 "
                          "ORDER BY 1, 2")
          : NULL;
    if (!st) {
        http_reply_error(r, 503, "unavailable", "cannot read the declarations", NULL);
        return;
    }
    sqlite3_bind_text(st, 1, since, -1, SQLITE_STATIC);
    json_t *groups = json_array();
    json_int_t total = 0, inspected = 0, fraud = 0, historical = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *lane = (const char *)sqlite3_column_text(st, 0);
        const char *status = (const char *)sqlite3_column_text(st, 1);
        json_int_t n = sqlite3_column_int64(st, 2), ni = sqlite3_column_int64(st, 3),
                   nf = sqlite3_column_int64(st, 4);
        json_array_append_new(groups,
                              json_pack("{s:o,s:s,s:I,s:I,s:I}", "lane",
                                        lane ? json_string(lane) : json_null(), "status", status,
                                        "count", n, "inspected", ni, "fraud", nf));
        if (strcmp(status, "historical") == 0) {
            historical += n;
            continue;
        }
        total += n;
        inspected += ni;
        fraud += nf;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(groups);
        http_reply_error(r, 503, "unavailable", "cannot read the declarations", NULL);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "since", since, "declarations",
                                      total, "inspected", inspected, "fraud", fraud, "historical",
                                      historical, "groups", groups));
}

/* ---- the model registry ----------------------------------------------------------------- */

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void models__add(void *ctx, const risk_model_info *m)
{
    json_t *items = ctx;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "created_at", json_string(m->created_at));
    json_object_set_new(o, "created_by", m->created_by ? json_string(m->created_by) : json_null());
    json_object_set_new(o, "train_from", m->train_from ? json_string(m->train_from) : json_null());
    json_object_set_new(o, "train_until",
                        m->train_until ? json_string(m->train_until) : json_null());
    json_object_set_new(o, "valid_from", m->valid_from ? json_string(m->valid_from) : json_null());
    json_object_set_new(o, "valid_until",
                        m->valid_until ? json_string(m->valid_until) : json_null());
    json_object_set_new(o, "n_train", json_integer(m->n_train));
    json_object_set_new(o, "n_fraud", json_integer(m->n_fraud));
    json_object_set_new(o, "active", json_boolean(m->active));
    json_object_set_new(o, "auc", jnum(m->auc));
    json_object_set_new(o, "precision_at_10", jnum(m->precision_at_10));
    json_array_append_new(items, o);
}

static void h_models(http_req *r, void *ctx)
{
    risk_service *svc = ctx;
    if (!http_allow_officer(r, "read the model registry"))
        return;
    json_t *items = json_array();
    if (risk_models_list(risk__service_store(svc), models__add, items) != CX_OK) {
        json_decref(items);
        http_reply_error(r, 503, "unavailable", "cannot read the model registry", NULL);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

static void h_model(http_req *r, void *ctx)
{
    risk_service *svc = ctx;
    if (!http_allow_officer(r, "read the model registry"))
        return;
    const char *id = http_param(r, "id"); /* NULL on /active */
    json_t *o = NULL;
    cx_err e = risk_model_describe(risk__service_store(svc), id, false, &o);
    if (e == CX_ENOTFOUND) {
        http_reply_error(r, 404, "not_found",
                         id ? "no such model" : "no active model: train one with customs risk "
                                                "train",
                         NULL);
        return;
    }
    if (e != CX_OK) {
        http_reply_error(r, 503, "unavailable", "cannot read the model registry", NULL);
        return;
    }
    /* what this server scores with right now, and its lane thresholds */
    json_object_set_new(o, "serving", risk__service_status(svc));
    http_reply_json(r, 200, o);
}

static void h_activate(http_req *r, void *ctx)
{
    risk_service *svc = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, CX_ROLE_BIT(CX_ROLE_ADMIN), "activate a model"))
        return;
    char err[512], by[CX_ORG_MAX + 32];
    snprintf(by, sizeof by, "%s (key %lld)", who->org, (long long)who->key_id);
    cx_err e = risk_model_activate(risk__service_store(svc), http_param(r, "id"), by, err,
                                   sizeof err);
    if (e == CX_ENOTFOUND) {
        http_reply_error(r, 404, "not_found", "no such model", NULL);
        return;
    }
    if (e == CX_EINVAL || e == CX_EPARSE) {
        http_reply_error(r, 409, "unusable_model", err, NULL);
        return;
    }
    if (e != CX_OK) {
        http_reply_error(r, 503, "unavailable", err, NULL);
        return;
    }
    risk__service_reload(svc);
    http_reply_json(r, 200, json_pack("{s:s,s:o}", "active", http_param(r, "id"), "serving",
                                      risk__service_status(svc)));
}

/* ---- GET /v1/hs/search ---------------------------------------------------------------------- */

static void h_hs_search(http_req *r, void *ctx)
{
    risk_service *svc = ctx;
    risk_hs_index *ix = risk__service_hs(svc);
    const char *q = http_query(r, "q");
    size_t chars = 0;
    if (!q || !q[0] || !cx_utf8_count(q, strlen(q), &chars) || chars > 512) {
        http_bad_query(r, "q", "is required: a goods description of 1 to 512 characters");
        return;
    }
    int64_t limit = 10;
    if (!http_query_int(r, "limit", 1, 50, &limit))
        return;
    if (!ix) {
        http_reply_error(r, 503, "unavailable", "the HS index is not available", NULL);
        return;
    }
    risk_hs_hit hits[50];
    size_t n = 0;
    if (risk_hs_search(ix, q, hits, (size_t)limit, &n) != CX_OK) {
        http_reply_error(r, 503, "unavailable", "the HS search failed", NULL);
        return;
    }
    json_t *res = json_array();
    for (size_t i = 0; i < n; i++) {
        char four[5], two[3];
        memcpy(four, hits[i].code, 4);
        four[4] = '\0';
        memcpy(two, hits[i].code, 2);
        two[2] = '\0';
        const decl_hs_entry *h4 = decl_hs_find(four), *h2 = decl_hs_find(two);
        json_array_append_new(
            res, json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:f}", "code", hits[i].code,
                           "description", hits[i].description, "heading", "code", four,
                           "description", h4 ? h4->description : "", "chapter", "code", two,
                           "description", h2 ? h2->description : "", "score",
                           round(hits[i].score * 1000) / 1000));
    }
    http_reply_json(r, 200, json_pack("{s:s,s:o}", "query", q, "results", res));
}

cx_err risk_routes(risk_service *svc, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/declarations/{id}/inspection", HTTP_AUTH | HTTP_JSON, h_inspection, NULL},
        {"GET", "/v1/risk/queue", HTTP_AUTH, h_queue,
         "lane status office org inspected rank limit cursor"},
        {"GET", "/v1/risk/summary", HTTP_AUTH, h_summary, "since"},
        {"GET", "/v1/risk/models", HTTP_AUTH, h_models, NULL},
        {"GET", "/v1/risk/models/active", HTTP_AUTH, h_model, NULL},
        {"GET", "/v1/risk/models/{id}", HTTP_AUTH, h_model, NULL},
        {"POST", "/v1/risk/models/{id}/activate", HTTP_AUTH, h_activate, NULL},
        {"GET", "/v1/hs/search", HTTP_AUTH, h_hs_search, "q limit"},
    };
    cx_err e = http_routes(srv, routes, sizeof routes / sizeof routes[0], svc);
    if (e == CX_OK)
        http_add_metrics(srv, risk__service_metrics, svc);
    return e;
}
