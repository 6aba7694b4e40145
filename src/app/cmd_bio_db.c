/* customs bio: the commands that use the database and the master key
 * (enrol, identify, verify, erase, expire) and the audit (audit, digest). */
#include "cmd_bio.h"

#include "ledger.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *db, *key, *watchlist, *subject, *kind, *agency, *legal_basis, *expires, *name,
        *org, *purpose, *date, *ledger_key;
    double min_score;
    bool have_min;
    int64_t limit;
} bio_opts;

enum { O_DB = 1, O_KEY, O_WATCHLIST, O_SUBJECT, O_KIND, O_AGENCY, O_LEGAL, O_EXPIRES, O_NAME,
       O_ORG, O_PURPOSE, O_MIN, O_LIMIT, O_DATE, O_LEDGER_KEY, O_HELP };

static const struct option all_opts[] = {
    {"db", required_argument, NULL, O_DB},
    {"bio-key", required_argument, NULL, O_KEY},
    {"watchlist", required_argument, NULL, O_WATCHLIST},
    {"subject", required_argument, NULL, O_SUBJECT},
    {"kind", required_argument, NULL, O_KIND},
    {"agency", required_argument, NULL, O_AGENCY},
    {"legal-basis", required_argument, NULL, O_LEGAL},
    {"expires", required_argument, NULL, O_EXPIRES},
    {"name", required_argument, NULL, O_NAME},
    {"org", required_argument, NULL, O_ORG},
    {"purpose", required_argument, NULL, O_PURPOSE},
    {"min-score", required_argument, NULL, O_MIN},
    {"limit", required_argument, NULL, O_LIMIT},
    {"date", required_argument, NULL, O_DATE},
    {"ledger-key", required_argument, NULL, O_LEDGER_KEY},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0}};

/* Parses the options this command accepts (allowed: O_* flags, bit per
 * option); -1 to go on, else the exit status. */
static int bio__opts(int argc, char **argv, const char *cmd, unsigned allowed, bio_opts *o)
{
    struct option opts[sizeof all_opts / sizeof all_opts[0]];
    size_t n = 0;
    for (size_t i = 0; all_opts[i].name; i++)
        if (allowed & (1u << all_opts[i].val) || all_opts[i].val == O_HELP)
            opts[n++] = all_opts[i];
    opts[n] = (struct option){NULL, 0, NULL, 0};
    memset(o, 0, sizeof *o);
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, cmd)) != -1) {
        switch (c) {
        case O_DB: o->db = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_WATCHLIST: o->watchlist = optarg; break;
        case O_SUBJECT: o->subject = optarg; break;
        case O_KIND: o->kind = optarg; break;
        case O_AGENCY: o->agency = optarg; break;
        case O_LEGAL: o->legal_basis = optarg; break;
        case O_EXPIRES: o->expires = optarg; break;
        case O_NAME: o->name = optarg; break;
        case O_ORG: o->org = optarg; break;
        case O_PURPOSE: o->purpose = optarg; break;
        case O_DATE: o->date = optarg; break;
        case O_LEDGER_KEY: o->ledger_key = optarg; break;
        case O_MIN:
            if (!cx_parse_double(optarg, &o->min_score) || !isfinite(o->min_score))
                return app_usage(cmd, "--min-score must be a number");
            o->have_min = true;
            break;
        case O_LIMIT:
            if (!cx_parse_i64(optarg, &o->limit) || o->limit < 1 || o->limit > 1000)
                return app_usage(cmd, "--limit must be 1 to 1000");
            break;
        case O_HELP: return bio__help();
        default: return 2; /* app_getopt said why */
        }
    }
    if (!o->db)
        return app_usage(cmd, "--db PATH is required");
    if ((allowed & (1u << O_KEY)) && !o->key)
        return app_usage(cmd, "--bio-key FILE is required (make one with 'customs bio key')");
    return -1;
}

#define BIT(x) (1u << (x))

typedef struct {
    store *s;
    bio_keyring *key;
    bio_service *b;
} bio_env;

static void bio__close(bio_env *v)
{
    bio_service_free(v->b);
    store_free(v->s);
    bio_key_free(v->key);
}

static int bio__open(const bio_opts *o, const char *cmd, bio_env *v)
{
    char err[1024];
    memset(v, 0, sizeof *v);
    if (bio_key_load(o->key, &v->key, err, sizeof err) != CX_OK)
        return app_fail(cmd, "%s", err);
    if (app_open_store(o->db, &v->s, err, sizeof err) != CX_OK) {
        bio__close(v);
        return app_fail(cmd, "%s", err);
    }
    bio_config cfg = {0};
    if (bio_service_new(v->s, v->key, &cfg, &v->b, err, sizeof err) != CX_OK) {
        bio__close(v);
        return app_fail(cmd, "%s", err);
    }
    return -1;
}

/* The one probe file argument, parsed, and the service opened. */
static int bio__probe_and_open(int argc, char **argv, const bio_opts *o, const char *cmd,
                               bio_features **probe, bio_env *v)
{
    if (argc - optind != 1)
        return app_usage(cmd, "give one probe template");
    char err[1024];
    *probe = bio__load(argv[optind], false, err, sizeof err);
    if (!*probe)
        return app_fail(cmd, "%s", err);
    int status = bio__open(o, cmd, v);
    if (status >= 0)
        bio_features_free(*probe);
    return status;
}

static void bio__print(json_t *o)
{
    char *t = cx_json_dump(o, NULL);
    printf("%s\n", t ? t : "{}");
    free(t);
    json_decref(o);
}

/* ---- enrol --------------------------------------------------------------------------- */

int bio__cmd_enrol(int argc, char **argv)
{
    bio_opts o;
    const char *cmd = "bio enrol";
    int rc = bio__opts(argc, argv, cmd,
                       BIT(O_DB) | BIT(O_KEY) | BIT(O_WATCHLIST) | BIT(O_SUBJECT) | BIT(O_KIND) |
                           BIT(O_AGENCY) | BIT(O_LEGAL) | BIT(O_EXPIRES) | BIT(O_NAME) |
                           BIT(O_ORG),
                       &o);
    if (rc >= 0)
        return rc;
    if (!o.watchlist || !bio_id_valid(o.watchlist))
        return app_usage(cmd, "--watchlist NAME is required: 1 to 64 of A-Z a-z 0-9 . _ : -");
    if (!o.subject || !bio_id_valid(o.subject))
        return app_usage(cmd, "--subject ID is required: 1 to 64 of A-Z a-z 0-9 . _ : -");
    if (optind == argc)
        return app_usage(cmd, "give at least one template file");
    bio_subject s = {.id = o.subject, .kind = o.kind ? o.kind : "watchlist", .name = o.name,
                     .org = o.org ? o.org : "customs", .watchlist = o.watchlist,
                     .source_agency = o.agency, .legal_basis = o.legal_basis};
    if (!bio_kind_valid(s.kind))
        return app_usage(cmd, "--kind must be operator, broker, forwarder, logistics or "
                              "watchlist");
    if (o.expires && !bio_parse_expiry(o.expires, &s.expires_us))
        return app_usage(cmd, "--expires must be a date (YYYY-MM-DD, valid through that day) "
                              "or an RFC 3339 date-time");
    /* every file is read before anything is written */
    size_t nfiles = (size_t)(argc - optind);
    uint8_t **bufs = calloc(nfiles, sizeof *bufs);
    size_t *lens = calloc(nfiles, sizeof *lens);
    char err[1024];
    int status = bufs && lens ? -1 : app_fail(cmd, "out of memory");
    for (size_t i = 0; status < 0 && i < nfiles; i++) {
        bio_features *f = bio__load(argv[optind + (int)i], false, err, sizeof err);
        if (!f)
            status = app_fail(cmd, "%s", err);
        bio_features_free(f);
        if (status < 0 && !(bufs[i] = bio__read_file(argv[optind + (int)i], &lens[i], err,
                                                      sizeof err)))
            status = app_fail(cmd, "%s", err);
    }
    bio_env v;
    if (status < 0)
        status = bio__open(&o, cmd, &v);
    if (status < 0) {
        json_t *problems = json_array();
        cx_err e = bio_subject_create(v.b, &s, NULL, problems);
        if (e && e != CX_EEXIST) {
            json_t *p0 = json_array_get(problems, 0);
            status = app_fail(cmd, "the subject: %s %s",
                              json_string_value(json_object_get(p0, "path")),
                              p0 ? json_string_value(json_object_get(p0, "message"))
                                 : cx_strerror(e));
        }
        json_decref(problems);
        for (size_t i = 0; status < 0 && i < nfiles; i++) {
            char tid[CX_ID_LEN + 1];
            bio_problems pr;
            e = bio_enrol_template(v.b, o.subject, bufs[i], lens[i], BIO_FMT_AUTO, -1, NULL,
                                   tid, &pr);
            if (e) {
                status = app_fail(cmd, "%s: %s", argv[optind + (int)i],
                                  e == CX_ENOTFOUND ? "the subject went away" : cx_strerror(e));
                break;
            }
            bio__print(json_pack("{s:s,s:s,s:s,s:I}", "subject", o.subject, "template", tid,
                                 "file", argv[optind + (int)i], "warnings",
                                 (json_int_t)pr.count));
        }
        bio__close(&v);
    }
    for (size_t i = 0; bufs && i < nfiles; i++)
        free(bufs[i]);
    free(bufs);
    free(lens);
    return status < 0 ? 0 : status;
}

/* ---- identify, verify ---------------------------------------------------------------- */

static bool bio__purpose_ok(const char *p)
{
    return p && *p && strlen(p) <= 200 && !strpbrk(p, "\n\r\t");
}

int bio__cmd_identify(int argc, char **argv)
{
    bio_opts o;
    const char *cmd = "bio identify";
    int rc = bio__opts(argc, argv, cmd,
                       BIT(O_DB) | BIT(O_KEY) | BIT(O_WATCHLIST) | BIT(O_PURPOSE) | BIT(O_MIN) |
                           BIT(O_LIMIT),
                       &o);
    if (rc >= 0)
        return rc;
    if (!o.watchlist || !bio_id_valid(o.watchlist))
        return app_usage(cmd, "--watchlist NAME is required");
    if (!bio__purpose_ok(o.purpose))
        return app_usage(cmd, "--purpose REF is required: the case or declaration reference "
                              "(1 to 200 characters)");
    bio_features *probe;
    bio_env v;
    int status = bio__probe_and_open(argc, argv, &o, cmd, &probe, &v);
    if (status >= 0)
        return status;
    size_t max = o.limit ? (size_t)o.limit : o.have_min ? 100 : 10;
    bio_candidate *c = calloc(max, sizeof *c);
    size_t n = 0;
    bio_context ctx = {.purpose = o.purpose};
    bio_probe p = {.finger = probe};
    cx_err e = c ? bio_identify(v.b, o.watchlist, &p, &ctx, max, o.have_min ? o.min_score : 0,
                                c, &n)
                 : CX_ENOMEM;
    if (e == CX_ENOTFOUND)
        status = app_fail(cmd, "no watchlist '%s' in this database", o.watchlist);
    else if (e)
        status = app_fail(cmd, "%s", cx_strerror(e));
    for (size_t i = 0; !e && i < n; i++) {
        const char *finger = c[i].finger >= 0 ? bio_finger_name((unsigned)c[i].finger) : NULL;
        json_t *j = json_pack("{s:s,s:f}", "subject", c[i].subject, "score", c[i].score);
        json_object_set_new(j, "finger", finger ? json_string(finger) : json_null());
        bio__print(j);
    }
    free(c);
    bio_features_free(probe);
    bio__close(&v);
    return status < 0 ? 0 : status;
}

int bio__cmd_verify(int argc, char **argv)
{
    bio_opts o;
    const char *cmd = "bio verify";
    int rc = bio__opts(argc, argv, cmd, BIT(O_DB) | BIT(O_KEY) | BIT(O_SUBJECT) | BIT(O_PURPOSE),
                       &o);
    if (rc >= 0)
        return rc;
    if (!o.subject || !bio_id_valid(o.subject))
        return app_usage(cmd, "--subject ID is required");
    if (!bio__purpose_ok(o.purpose))
        return app_usage(cmd, "--purpose REF is required (1 to 200 characters)");
    bio_features *probe;
    bio_env v;
    int status = bio__probe_and_open(argc, argv, &o, cmd, &probe, &v);
    if (status >= 0)
        return status;
    bio_context ctx = {.purpose = o.purpose};
    bio_probe p = {.finger = probe};
    bool match;
    double score, thr;
    char why[200];
    cx_err e = bio_verify(v.b, o.subject, &p, &ctx, &match, &score, &thr, why, sizeof why);
    if (e == CX_ENOTFOUND)
        status = app_fail(cmd, "no subject '%s' in this database", o.subject);
    else if (e)
        status = app_fail(cmd, "%s", why[0] ? why : cx_strerror(e));
    else
        bio__print(json_pack("{s:b,s:f,s:f}", "match", match, "score", score, "threshold", thr));
    bio_features_free(probe);
    bio__close(&v);
    return status < 0 ? (e || match ? 0 : 3) : status;
}

/* ---- erase, expire ---------------------------------------------------------------------- */

int bio__cmd_erase(int argc, char **argv)
{
    bio_opts o;
    const char *cmd = "bio erase";
    int rc = bio__opts(argc, argv, cmd, BIT(O_DB) | BIT(O_KEY) | BIT(O_SUBJECT) | BIT(O_PURPOSE),
                       &o);
    if (rc >= 0)
        return rc;
    if (!o.subject || !bio_id_valid(o.subject) || optind != argc)
        return app_usage(cmd, "--subject ID is required (and nothing else)");
    bio_env v;
    int status = bio__open(&o, cmd, &v);
    if (status >= 0)
        return status;
    bio_context ctx = {.purpose = o.purpose};
    cx_err e = bio_erase(v.b, o.subject, &ctx);
    if (e == CX_ENOTFOUND)
        status = app_fail(cmd, "no subject '%s' in this database", o.subject);
    else if (e)
        status = app_fail(cmd, "%s", cx_strerror(e));
    bio__close(&v);
    return status < 0 ? 0 : status;
}

int bio__cmd_expire(int argc, char **argv)
{
    bio_opts o;
    const char *cmd = "bio expire";
    int rc = bio__opts(argc, argv, cmd, BIT(O_DB) | BIT(O_KEY), &o);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return app_usage(cmd, "unexpected argument '%s'", argv[optind]);
    bio_env v;
    int status = bio__open(&o, cmd, &v);
    if (status >= 0)
        return status;
    size_t n = 0;
    cx_err e = bio_expire(v.b, &n);
    if (e)
        status = app_fail(cmd, "%s (%zu erased before)", cx_strerror(e), n);
    else
        printf("%zu expired subject%s erased\n", n, n == 1 ? "" : "s");
    bio__close(&v);
    return status < 0 ? 0 : status;
}

/* ---- audit, digest -------------------------------------------------------------------- */

int bio__cmd_audit(int argc, char **argv)
{
    bio_opts o;
    const char *cmd = "bio audit";
    int rc = bio__opts(argc, argv, cmd, BIT(O_DB) | BIT(O_SUBJECT) | BIT(O_LIMIT), &o);
    if (rc >= 0)
        return rc;
    if (optind != argc || (o.subject && !bio_id_valid(o.subject)))
        return app_usage(cmd, "takes --subject ID and --limit N only");
    char err[512];
    store *s = NULL;
    if (app_open_store(o.db, &s, err, sizeof err) != CX_OK)
        return app_fail(cmd, "%s", err);
    bio_audit_query q = {.subject = o.subject, .limit = o.limit ? (size_t)o.limit : 100};
    json_t *out = NULL;
    cx_err e = bio_audit_list(s, &q, &out);
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(out, "items"), i, rec) bio__print(json_incref(rec));
    json_decref(out);
    store_free(s);
    return e ? app_fail(cmd, "%s", cx_strerror(e)) : 0;
}

/* The digest as a customs-signed audit.digest entry on this database's
 * ledger (docs/ledger.md): the author is the key file's organisation. */
static int bio__anchor(store *s, const char *keyfile, json_t *body, const char *cmd)
{
    char err[512];
    ledger_key k;
    if (ledger_key_load(keyfile, &k, err, sizeof err) != CX_OK) {
        json_decref(body);
        return app_fail(cmd, "%s", err);
    }
    ledger *lg = ledger_new(s, NULL);
    json_t *trust = NULL;
    if (!lg || ledger_trust(lg, &trust) != CX_OK ||
        !json_string_value(json_object_get(trust, "origin"))) {
        json_decref(body);
        json_decref(trust);
        ledger_free(lg);
        sodium_memzero(&k, sizeof k);
        return app_fail(cmd, "this database has no ledger to anchor on (customs ledger init)");
    }
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    json_t *env = json_pack("{s:s,s:s,s:s,s:s,s:o,s:[]}", "type", "audit.digest", "org", k.org,
                            "time", now, "ledger",
                            json_string_value(json_object_get(trust, "origin")), "body", body,
                            "signatures");
    json_decref(trust);
    char *text = env ? cx_json_dump(env, NULL) : NULL, *signed_text = NULL;
    json_decref(env);
    cx_err e = text ? ledger_sign(text, strlen(text), &k, NULL, &signed_text, err, sizeof err)
                    : CX_ENOMEM;
    sodium_memzero(&k, sizeof k);
    free(text);
    int rc = 0;
    if (e) {
        rc = app_fail(cmd, "%s", err[0] ? err : cx_strerror(e));
    } else {
        ledger_result res;
        ledger_submit(lg, signed_text, strlen(signed_text), &res);
        if (res.status == 201)
            bio__print(json_pack("{s:I,s:s}", "index", (json_int_t)res.index, "type",
                                 "audit.digest"));
        else
            rc = app_fail(cmd, "the ledger refused the digest: %s (%s)", res.message, res.code);
        ledger_result_clear(&res);
    }
    free(signed_text);
    ledger_free(lg);
    return rc;
}

int bio__cmd_digest(int argc, char **argv)
{
    bio_opts o;
    const char *cmd = "bio digest";
    int rc = bio__opts(argc, argv, cmd, BIT(O_DB) | BIT(O_DATE) | BIT(O_LEDGER_KEY), &o);
    if (rc >= 0)
        return rc;
    int y, m, d;
    if (!o.date || !cx_date_parse(o.date, &y, &m, &d) || optind != argc)
        return app_usage(cmd, "--date YYYY-MM-DD is required");
    char err[512];
    store *s = NULL;
    if (app_open_store(o.db, &s, err, sizeof err) != CX_OK)
        return app_fail(cmd, "%s", err);
    int64_t count;
    uint8_t root[32];
    char hex[65];
    cx_err e = bio_audit_digest(s, y, m, d, &count, root);
    if (e) {
        store_free(s);
        return app_fail(cmd, "%s", cx_strerror(e));
    }
    cx_hex(root, 32, hex);
    json_t *body = json_pack("{s:s,s:I,s:s}", "date", o.date, "count", (json_int_t)count,
                             "root", hex);
    if (o.ledger_key) {
        rc = bio__anchor(s, o.ledger_key, body, cmd);
    } else {
        bio__print(body);
        rc = 0;
    }
    store_free(s);
    return rc;
}
