/* The designs service: uploads and registrations (read, measure,
 * fingerprint, keep the bytes, store), matching against the watchlists in
 * memory, and what the spine asks about a declared design. */
#include "designs_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void designs_config_default(designs_config *c)
{
    memset(c, 0, sizeof *c);
    designs_limits_default(&c->limits);
}

const char *designs_watchlist_name(designs_watchlist w)
{
    return w == DESIGNS_WL_SECURITY ? "security" : w == DESIGNS_WL_IPR ? "ipr" : "unknown";
}

bool designs_watchlist_parse(const char *s, designs_watchlist *out)
{
    if (s && strcmp(s, "ipr") == 0)
        *out = DESIGNS_WL_IPR;
    else if (s && strcmp(s, "security") == 0)
        *out = DESIGNS_WL_SECURITY;
    else
        return false;
    return true;
}

static bool svc__text_ok(const char *s)
{
    size_t n = strlen(s), chars;
    if (!cx_utf8_count(s, n, &chars) || chars < 1 || chars > DESIGNS_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

bool designs_entry_check(const designs_entry *e, json_t *problems)
{
    size_t before = json_array_size(problems);
    const struct {
        const char *path, *value;
        bool required;
    } f[] = {{"/holder", e->holder, true},
             {"/title", e->title, true},
             {"/reference", e->reference, false},
             {"/registration", e->registration, false}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].value && f[i].required)
            cx_problem_add(problems, f[i].path, "is required");
        else if (f[i].value && !svc__text_ok(f[i].value))
            cx_problem_add(problems, f[i].path, "must be 1 to %d characters of text",
                           DESIGNS_TEXT_MAX);
    }
    int y, m, d;
    if (e->valid_until && !cx_date_parse(e->valid_until, &y, &m, &d))
        cx_problem_add(problems, "/valid_until", "must be a date YYYY-MM-DD");
    return json_array_size(problems) == before;
}

bool dsvc__valid_sha(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool dsvc__file_path(const designs_service *d, const char *sha, char *out, size_t cap)
{
    if (!dsvc__valid_sha(sha))
        return false;
    return (size_t)snprintf(out, cap, "%s/%.2s/%s", d->dir, sha, sha) < cap;
}

/* ---- the in-memory watchlists -------------------------------------------------------- */

static dsvc_meta *svc__meta(const designs_service *d, int64_t idx)
{
    size_t lo = 0, hi = d->nmeta;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d->meta[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nmeta && d->meta[lo].idx == idx ? &d->meta[lo] : NULL;
}

cx_err dsvc__add(designs_service *d, int64_t idx, designs_watchlist wl, const char *until,
                 const designs_fp *fp)
{
    int y, m, dd;
    int64_t day = until && cx_date_parse(until, &y, &m, &dd) ? cx_days_from_civil(y, m, dd)
                                                             : INT64_MAX;
    if (d->nmeta == d->capmeta) {
        size_t cap = d->capmeta ? 2 * d->capmeta : 256;
        dsvc_meta *n = realloc(d->meta, cap * sizeof *n);
        if (!n)
            return CX_ENOMEM;
        d->meta = n;
        d->capmeta = cap;
    }
    /* ids only grow: appending keeps the array sorted */
    if (d->nmeta && d->meta[d->nmeta - 1].idx >= idx)
        return CX_EINVAL;
    cx_err e = designs_index_add(d->ix, idx, fp);
    if (e)
        return e;
    d->meta[d->nmeta++] = (dsvc_meta){idx, (uint8_t)wl, day};
    return CX_OK;
}

typedef struct {
    const designs_service *d;
    bool ipr_only;
    int64_t today;
} svc_keep;

/* Active entries only: an entry past its valid_until no longer matches. */
static bool svc__keep(void *ctx, int64_t idx)
{
    const svc_keep *k = ctx;
    const dsvc_meta *m = svc__meta(k->d, idx);
    return m && (!k->ipr_only || m->watchlist == DESIGNS_WL_IPR) && m->until_day >= k->today;
}

static int64_t svc__today(void)
{
    int64_t us = cx_now_us();
    return us / 86400000000LL - (us < 0 && us % 86400000000LL);
}

json_t *designs_matches_json(designs_service *d, const designs_fp *fp, bool as_trader)
{
    return dsvc__matches(d, store_reader(d->store), fp, as_trader);
}

json_t *dsvc__matches(designs_service *d, store_conn *r, const designs_fp *fp, bool as_trader)
{
    designs_hit hits[DESIGNS_TOP];
    designs_fp reg[DESIGNS_TOP];
    svc_keep k = {d, as_trader, svc__today()};
    pthread_rwlock_rdlock(&d->lock);
    size_t n = designs_index_query(d->ix, fp, DESIGNS_TOP, svc__keep, &k, hits);
    for (size_t i = 0; i < n; i++)
        reg[i] = *designs_index_get(d->ix, hits[i].key);
    pthread_rwlock_unlock(&d->lock);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        double sim = designs_similarity_of_distance(hits[i].distance);
        bool match = sim >= DESIGNS_MATCH_THRESHOLD;
        json_t *e = NULL;
        if ((as_trader && !match) || !r ||
            dsvc__read_entry(r, hits[i].key, !as_trader, &e) != CX_OK)
            continue; /* a trader sees matches only; a row removed meanwhile is skipped */
        json_t *o = json_pack("{s:O, s:O, s:O, s:O, s:f, s:f, s:b, s:O, s:O}", "design_id",
                              json_object_get(e, "id"), "title", json_object_get(e, "title"),
                              "holder", json_object_get(e, "holder"), "watchlist",
                              json_object_get(e, "watchlist"), "similarity",
                              designs__round(sim, 4), "scale",
                              designs__round(designs_scale(fp, &reg[i]), 4), "match", match,
                              "registration", json_object_get(e, "registration"), "valid_until",
                              json_object_get(e, "valid_until"));
        /* officers: the registered file, to set beside the upload */
        if (o && !as_trader)
            json_object_set(o, "sha256", json_object_get(e, "sha256"));
        json_decref(e);
        if (o)
            json_array_append_new(arr, o);
    }
    return arr;
}

/* A trader's view of the officer's list: ipr matches only. */
static json_t *svc__trader_view(const json_t *matches)
{
    json_t *out = json_array(), *m;
    size_t i;
    json_array_foreach(matches, i, m)
    {
        if (json_is_true(json_object_get(m, "match")) &&
            strcmp(json_string_value(json_object_get(m, "watchlist")), "ipr") == 0) {
            json_t *c = json_copy(m); /* without the registered file's hash */
            json_object_del(c, "sha256");
            json_array_append_new(out, c);
        }
    }
    return out;
}

/* ---- files ------------------------------------------------------------------------------ */

static cx_err svc__prepare(designs_service *d, const designs_source *src, dsvc_file *f,
                           designs_error *why)
{
    designs_mesh m;
    designs_info info;
    memset(f, 0, sizeof *f);
    cx_err e = designs_read(src->data, src->len, src->name, &d->cfg.limits, &m, &info, why);
    if (e)
        return e;
    designs_inspection in;
    e = designs_measure(&m, &info, src->data, src->len, &in);
    if (!e && (e = designs_fingerprint(&m, &in, &f->fp)) == CX_EINVAL)
        e = designs__fail(why, CX_EPARSE, "no_area", "the mesh has no surface area to compare");
    designs_mesh_free(&m);
    if (e) {
        if (!why->code[0])
            designs__fail(why, e, "nomem", "%s", cx_strerror(e));
        return e;
    }
    json_t *j = designs_inspection_json(&in);
    f->inspection = j ? cx_json_dump(j, NULL) : NULL;
    json_decref(j);
    if (!f->inspection)
        return designs__fail(why, CX_ENOMEM, "nomem", "out of memory");
    cx_hex(in.sha256, 32, f->sha);
    cx_hex(in.mesh_sha256, 32, f->mesh_sha);
    f->format = designs_format_name(in.info.format);
    f->file_size = src->len;
    cx_rfc3339_format(cx_now_us(), f->now);
    return CX_OK;
}

static cx_err svc__mkdir(const char *path)
{
    return mkdir(path, 0700) == 0 || errno == EEXIST ? CX_OK : CX_EIO;
}

/* Keeps the bytes as dir/ab/<sha>, durably, before the row that names them
 * is committed (a crash in between leaves a file no row names: harmless). */
static cx_err svc__keep_bytes(designs_service *d, const designs_source *src, const char *sha)
{
    char path[1200], tmp[1300], sub[1100];
    struct stat st;
    if (!dsvc__file_path(d, sha, path, sizeof path))
        return CX_EINVAL;
    if (stat(path, &st) == 0)
        return CX_OK;
    snprintf(sub, sizeof sub, "%s/%.2s", d->dir, sha);
    if (svc__mkdir(sub) != CX_OK)
        return CX_EIO;
    uint32_t r = randombytes_random();
    snprintf(tmp, sizeof tmp, "%s.%08x.tmp", path, r);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return CX_EIO;
    const uint8_t *p = src->data;
    size_t left = src->len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    bool ok = left == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        unlink(tmp);
        return CX_EIO;
    }
    int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return CX_OK;
}

/* ---- the service ------------------------------------------------------------------------ */

cx_err designs_service_new(store *s, const designs_config *cfg, designs_service **out, char *err,
                           size_t errlen)
{
    designs_service *d = calloc(1, sizeof *d);
    if (!d)
        return CX_ENOMEM;
    d->store = s;
    designs_config_default(&d->cfg);
    if (cfg)
        d->cfg = *cfg;
    if (d->cfg.files_dir)
        snprintf(d->dir, sizeof d->dir, "%s", d->cfg.files_dir);
    else
        snprintf(d->dir, sizeof d->dir, "%s.designs", store_path(s));
    d->cfg.files_dir = NULL; /* borrowed; d->dir holds the copy */
    pthread_rwlock_init(&d->lock, NULL);
    d->ix = designs_index_new();
    cx_err e = d->ix ? svc__mkdir(d->dir) : CX_ENOMEM;
    if (e)
        snprintf(err, errlen, "cannot create %s: %s", d->dir, strerror(errno));
    store_conn *r = e ? NULL : store_reader(s);
    if (!e && (!r || (e = dsvc__load(d, r)) != CX_OK))
        snprintf(err, errlen, "cannot load the design watchlists: %s", cx_strerror(e ? e : CX_EDB));
    if (!e && !r)
        e = CX_EDB;
    if (!e && (e = dsvc__register_alerts(d)) != CX_OK)
        snprintf(err, errlen, "cannot register the design alerts: %s", cx_strerror(e));
    if (e) {
        designs_service_free(d);
        return e;
    }
    *out = d;
    return CX_OK;
}

void designs_service_free(designs_service *d)
{
    if (!d)
        return;
    designs_index_free(d->ix);
    free(d->meta);
    pthread_rwlock_destroy(&d->lock);
    free(d);
}

static void svc__count(designs_service *d, const json_t *matches)
{
    json_t *m;
    size_t i;
    json_array_foreach(matches, i, m)
    {
        designs_watchlist wl = DESIGNS_WL_IPR;
        designs_watchlist_parse(json_string_value(json_object_get(m, "watchlist")), &wl);
        if (json_is_true(json_object_get(m, "match")))
            atomic_fetch_add(&d->matches[wl], 1);
    }
}

static bool svc__officer(const cx_principal *who)
{
    return who->role == CX_ROLE_ADMIN || who->role == CX_ROLE_OFFICER;
}

cx_err designs_upload(designs_service *d, const cx_principal *who, const designs_source *src,
                      designs_result *res)
{
    memset(res, 0, sizeof *res);
    dsvc_upload_job j = {.d = d, .org = who->org, .key_id = who->key_id, .name = src->name};
    cx_err e = svc__prepare(d, src, &j.file, &res->why);
    if (e) {
        atomic_fetch_add(&d->refused, 1);
        free(j.file.inspection);
        return e;
    }
    json_t *matches = designs_matches_json(d, &j.file.fp, false);
    char *mtext = matches ? cx_json_dump(matches, NULL) : NULL;
    j.matches = mtext;
    j.match_list = matches; /* read, never changed, by the job (its alerts) */
    e = mtext ? svc__keep_bytes(d, src, j.file.sha) : CX_ENOMEM;
    if (!e)
        e = store_write(d->store, dsvc__job_upload, &j);
    if (!e) {
        atomic_fetch_add(&d->uploads, 1);
        svc__count(d, matches);
        json_t *view = svc__officer(who) ? json_incref(matches) : svc__trader_view(matches);
        json_error_t je;
        res->json = json_pack("{s:I, s:s?, s:s, s:o, s:o}", "upload_id", (json_int_t)j.upload_id,
                              "name", j.name, "uploaded_at", j.file.now, "inspection",
                              json_loads(j.file.inspection, 0, &je), "matches", view);
        if (!res->json)
            e = CX_ENOMEM;
    }
    json_decref(matches);
    free(mtext);
    free(j.file.inspection);
    return e;
}

static cx_err svc__register(designs_service *d, const cx_principal *who, dsvc_register_job *j,
                            designs_result *res)
{
    j->entry.watchlist = j->entry.watchlist == DESIGNS_WL_SECURITY ? DESIGNS_WL_SECURITY
                                                                    : DESIGNS_WL_IPR;
    cx_id_new(j->id);
    j->registered_by = who->org;
    cx_err e = store_write(d->store, dsvc__job_register, j);
    if (e == CX_EEXIST) {
        snprintf(res->id, sizeof res->id, "%s", j->existing);
        return e;
    }
    if (e)
        return e;
    pthread_rwlock_wrlock(&d->lock);
    e = dsvc__add(d, j->idx, j->entry.watchlist, j->entry.valid_until, &j->file.fp);
    pthread_rwlock_unlock(&d->lock);
    snprintf(res->id, sizeof res->id, "%s", j->id);
    store_conn *r = store_reader(d->store);
    if (!e && (!r || dsvc__read_entry(r, j->idx, true, &res->json) != CX_OK))
        e = CX_EDB;
    return e;
}

cx_err designs_register(designs_service *d, const cx_principal *who, const designs_source *src,
                        const designs_entry *entry, designs_result *res)
{
    memset(res, 0, sizeof *res);
    dsvc_register_job j = {.entry = *entry, .have_file = true};
    cx_err e = svc__prepare(d, src, &j.file, &res->why);
    if (!e)
        e = svc__keep_bytes(d, src, j.file.sha);
    if (!e)
        e = svc__register(d, who, &j, res);
    free(j.file.inspection);
    return e;
}

cx_err designs_register_sha(designs_service *d, const cx_principal *who, const char *sha256,
                            const designs_entry *entry, designs_result *res)
{
    memset(res, 0, sizeof *res);
    if (!dsvc__valid_sha(sha256))
        return CX_EINVAL;
    dsvc_register_job j = {.entry = *entry};
    snprintf(j.file.sha, sizeof j.file.sha, "%s", sha256);
    cx_rfc3339_format(cx_now_us(), j.file.now);
    store_conn *r = store_reader(d->store);
    cx_err e = r ? dsvc__read_file(r, sha256, &j.file.fp, NULL) : CX_EDB;
    return e ? e : svc__register(d, who, &j, res);
}

cx_err dsvc__remove(designs_service *d, const char *id, char removed_at[32])
{
    dsvc_remove_job j = {.id = id};
    cx_rfc3339_format(cx_now_us(), j.now);
    cx_err e = store_write(d->store, dsvc__job_remove, &j);
    if (e)
        return e;
    pthread_rwlock_wrlock(&d->lock);
    designs_index_remove(d->ix, j.idx);
    dsvc_meta *m = svc__meta(d, j.idx);
    if (m) {
        size_t at = (size_t)(m - d->meta);
        memmove(m, m + 1, (d->nmeta - at - 1) * sizeof *m);
        d->nmeta--;
    }
    pthread_rwlock_unlock(&d->lock);
    memcpy(removed_at, j.now, 32);
    return CX_OK;
}

cx_err designs_verdict_of(designs_service *d, const char *sha256, designs_verdict *out)
{
    store_conn *r = store_reader(d->store);
    memset(out, 0, sizeof *out);
    return r ? dsvc__verdict(d, r, sha256, out) : CX_EDB;
}

cx_err dsvc__verdict(designs_service *d, store_conn *r, const char *sha256, designs_verdict *out)
{
    memset(out, 0, sizeof *out);
    if (!dsvc__valid_sha(sha256))
        return CX_EINVAL;
    designs_fp fp;
    char *insp = NULL;
    cx_err e = dsvc__read_file(r, sha256, &fp, &insp);
    if (e == CX_ENOTFOUND)
        return CX_OK;
    if (e)
        return e;
    out->known = true;
    json_error_t je;
    json_t *in = json_loads(insp, 0, &je);
    free(insp);
    snprintf(out->format, sizeof out->format, "%s",
             in ? json_string_value(json_object_get(in, "format")) : "");
    out->file_size = (uint64_t)json_integer_value(json_object_get(in, "file_size"));
    json_decref(in);
    json_t *matches = dsvc__matches(d, r, &fp, false), *m;
    size_t i;
    json_array_foreach(matches, i, m)
    {
        double sim = json_real_value(json_object_get(m, "similarity"));
        if (i == 0)
            out->best_similarity = sim;
        if (!json_is_true(json_object_get(m, "match")))
            continue;
        const char *id = json_string_value(json_object_get(m, "design_id"));
        if (strcmp(json_string_value(json_object_get(m, "watchlist")), "security") == 0) {
            if (!out->security)
                snprintf(out->security_design_id, sizeof out->security_design_id, "%s", id);
            out->security = true;
        } else {
            if (!out->ipr_matches++) {
                snprintf(out->ipr_design_id, sizeof out->ipr_design_id, "%s", id);
                snprintf(out->ipr_holder, sizeof out->ipr_holder, "%s",
                         json_string_value(json_object_get(m, "holder")));
            }
        }
    }
    json_decref(matches);
    return CX_OK;
}

cx_err designs_list(designs_service *d, const char *watchlist, int64_t after, int64_t limit,
                    json_t *items, int64_t *last)
{
    store_conn *r = store_reader(d->store);
    return r ? dsvc__list(r, watchlist, after, limit, true, items, NULL, last) : CX_EDB;
}
