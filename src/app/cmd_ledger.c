/* customs ledger: the trade ledger from the command line (keygen: cmd_keygen.c). */
#include "app.h"

#include "declare.h"
#include "revenue.h"
#include "ledger.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- customs ledger ---------------------------------------------------------------------- */

static const char ledger_help[] =
    "Usage:\n"
    "  customs ledger init --db PATH --origin NAME --threshold M --governor HOLDER=KEY...\n"
    "  customs ledger sign --key FILE.key [--org ORG] ENTRY.json|-\n"
    "  customs ledger submit --db PATH ENTRY.json|-\n"
    "  customs ledger verify --db PATH [--threads N]\n"
    "  customs ledger show --db PATH INDEX\n"
    "  customs ledger proof --db PATH --index N [--size M]\n"
    "  customs ledger consistency --db PATH --from A --to B\n"
    "  customs ledger checkpoint --db PATH --key FILE.key\n"
    "  customs ledger anchor --db PATH --declaration ID --key FILE.key [--node-key FILE.key]\n"
    "                        [--coo ISSUER/NUMBER]...\n"
    "  customs ledger bundle --db PATH --index N [--field POINTER]... [--out FILE]\n"
    "  customs ledger verify-bundle BUNDLE.json --trust KEYS.json [--quorum N]\n"
    "  customs ledger trust --db PATH\n"
    "  customs ledger erase --db PATH --index N [--field POINTER]\n"
    "  customs ledger demo --db PATH [--keys-dir DIR] [--customs ORG] [--importer ORG]\n"
    "                      [--exporter ORG] [--carrier ORG] [--bank ORG] [--chamber ORG]\n"
    "  customs ledger snapshot --db PATH --out FILE\n"
    "  customs ledger network status --nats URLS [--ledger-origin NAME] [--json]\n"
    "\n";

static const char ledger_help_network[] =
    "On a network (docs/ledger.md, \"Network\"), the commands that open the database\n"
    "take --ledger-network nats://H1:P1,… [--ledger-origin NAME] [--ledger-trust FILE]\n"
    "[--ledger-replicas N]: they apply the stream up to now, and what they write\n"
    "(init, submit, demo, anchor, checkpoint) goes through the stream as a node's\n"
    "does. --node-key FILE is the key of this database's organisation: it endorses\n"
    "the anchors of declarations lodged here (anchor, submit). TLS and credentials:\n";

static const char ledger_help_actions[] =
    "The shared trade ledger (docs/ledger.md): a signed, verifiable Merkle log of\n"
    "entries by customs administrations, traders, carriers, banks and chambers.\n"
    "\n"
    "  init           appends the genesis: the log's origin and its M-of-N governance\n"
    "                 keys (KEY is a base64 public key or a key file); the governors\n"
    "                 given as key files sign it, and at least M must. The only way\n"
    "                 to create a genesis: submit and the API refuse ledger.init\n"
    "  sign           prints ENTRY with one more signature (canonical JSON); several\n"
    "                 organisations endorse an entry by signing in turn. A file of\n"
    "                 JSON lines is signed line by line.\n"
    "  submit         appends entries (one JSON value, or JSON lines); prints\n"
    "                 {\"index\",\"leaf_hash\",\"findings\"} or the error for each\n"
    "  verify         recomputes every leaf, node, signature, policy, state\n"
    "                 transition and checkpoint; prints 'ok N entries root HEX' or the\n"
    "                 first bad index and why (exit 1)\n"
    "  show           prints one entry\n"
    "  proof          prints the RFC 6962 inclusion proof of entry N in the tree of\n"
    "                 size M (default: the current size)\n"
    "  consistency    prints the consistency proof between tree sizes A and B\n"
    "  checkpoint     cosigns the current tree head (C2SP tlog-checkpoint) with the\n"
    "                 key of a member and prints the note with all cosignatures\n"
    "  anchor         commits to a stored declaration field by field (salted), signs\n"
    "                 as its declarant and appends; the salts stay in this database.\n"
    "                 The customs administration holding the declaration endorses it\n"
    "                 (--node-key: its key), as the anchor policy requires\n"
    "  bundle         writes a disclosure bundle: chosen fields with their salts, the\n"
    "                 entry, its inclusion proof and the latest cosigned checkpoint\n"
    "  verify-bundle  checks a bundle offline against a trust file of public keys\n"
    "  trust          prints the trust file (origin, members' public keys)\n"
    "  erase          deletes salts: the hidden values can no longer be proven\n"
    "  demo           seeds a demo consortium and a realistic flow on an empty ledger;\n"
    "                 anchors up to three declarations the importer lodged before\n"
    "  snapshot       writes the ledger tables (no declarations, findings or salts) to\n"
    "                 a new database: a new node starts from it (serve --ledger-snapshot)\n"
    "  network status the stream's state and every node's applied sequence, latest\n"
    "                 cosigned checkpoint and lag\n"
    "\n"
    "Example:\n"
    "  customs keygen --out kcs.key --org KCS\n"
    "  customs ledger sign --key kcs.key receipt.json > receipt.signed.json\n"
    "  customs ledger submit --db var/customs.db receipt.signed.json\n";

static void ledger__help(FILE *f)
{
    fputs(ledger_help, f);
    fputs(ledger_help_network, f);
    fprintf(f, "%s\n", app_nats_help);
    fputs(ledger_help_actions, f);
}

typedef struct {
    const char *db, *key, *org, *origin, *out, *trust, *keys_dir, *declaration;
    const char *network, *ledger_origin, *ledger_trust, *node_key; /* the ledger's network */
    int64_t replicas;
    ledger_nats_auth nats;
    const char *customs, *importer, *exporter, *carrier, *bank, *chamber;
    int64_t threshold, index, size, from, to, threads, quorum;
    const char *governors[LEDGER_MAX_GOVERNORS];
    size_t ngov;
    const char *fields[64];
    size_t nfields;
    const char *coos[16];
    size_t ncoos;
    char **args;
    int nargs;
} lopts;

/* only: the options the action takes (app_getopt) */
static int ledger__parse(int argc, char **argv, lopts *o, const char *only, const char *cmd)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},         {"key", required_argument, NULL, 'k'},
        {"org", required_argument, NULL, 'g'},        {"origin", required_argument, NULL, 'O'},
        {"threshold", required_argument, NULL, 'T'},  {"governor", required_argument, NULL, 'G'},
        {"index", required_argument, NULL, 'i'},      {"size", required_argument, NULL, 's'},
        {"from", required_argument, NULL, 'f'},       {"to", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},        {"trust", required_argument, NULL, 'r'},
        {"quorum", required_argument, NULL, 'q'},     {"field", required_argument, NULL, 'F'},
        {"threads", required_argument, NULL, 'n'},    {"keys-dir", required_argument, NULL, 'K'},
        {"declaration", required_argument, NULL, 'D'}, {"coo", required_argument, NULL, 'C'},
        {"customs", required_argument, NULL, 1},      {"importer", required_argument, NULL, 2},
        {"exporter", required_argument, NULL, 3},     {"carrier", required_argument, NULL, 4},
        {"bank", required_argument, NULL, 5},         {"chamber", required_argument, NULL, 6},
        {"ledger-network", required_argument, NULL, 7}, {"ledger-origin", required_argument, NULL, 8},
        {"ledger-trust", required_argument, NULL, 9}, {"ledger-replicas", required_argument, NULL, 10},
        {"node-key", required_argument, NULL, 11},    APP_NATS_OPTIONS,
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    app_getopt_reset();
    int c;
    int64_t *num = NULL;
    while ((c = app_getopt(argc, argv, opts, only, cmd)) != -1) {
        num = NULL;
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'k': o->key = optarg; break;
        case 'g': o->org = optarg; break;
        case 'O': o->origin = optarg; break;
        case 'o': o->out = optarg; break;
        case 'r': o->trust = optarg; break;
        case 'K': o->keys_dir = optarg; break;
        case 'D': o->declaration = optarg; break;
        case 1: o->customs = optarg; break;
        case 2: o->importer = optarg; break;
        case 3: o->exporter = optarg; break;
        case 4: o->carrier = optarg; break;
        case 5: o->bank = optarg; break;
        case 6: o->chamber = optarg; break;
        case 7: o->network = optarg; break;
        case 8: o->ledger_origin = optarg; break;
        case 9: o->ledger_trust = optarg; break;
        case 10: num = &o->replicas; break;
        case 11: o->node_key = optarg; break;
        case 'T': num = &o->threshold; break;
        case 'i': num = &o->index; break;
        case 's': num = &o->size; break;
        case 'f': num = &o->from; break;
        case 't': num = &o->to; break;
        case 'n': num = &o->threads; break;
        case 'q': num = &o->quorum; break;
        case 'G':
            if (o->ngov == LEDGER_MAX_GOVERNORS)
                return app_usage("ledger", "at most %d --governor", LEDGER_MAX_GOVERNORS);
            o->governors[o->ngov++] = optarg;
            break;
        case 'F':
            if (o->nfields == 64)
                return app_usage("ledger", "at most 64 --field");
            o->fields[o->nfields++] = optarg;
            break;
        case 'C':
            if (o->ncoos == 16)
                return app_usage("ledger", "at most 16 --coo");
            o->coos[o->ncoos++] = optarg;
            break;
        case 'h': ledger__help(stdout); return 0;
        default:
            if (!app_nats_opt(c, optarg, &o->nats))
                return 2; /* app_getopt said why */
        }
        if (num && (!cx_parse_i64(optarg, num) || *num < 0))
            return app_usage("ledger", "%s needs a non-negative integer", argv[optind - 2]);
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (!o->network && (o->ledger_origin || o->ledger_trust || o->replicas ||
                        app_nats_any(&o->nats)))
        return app_usage("ledger", "--ledger-origin, --ledger-trust, --ledger-replicas and "
                                   "--nats-* need --ledger-network");
    return -1;
}

static int ledger__need_db(const lopts *o, const char *action)
{
    if (!o->db)
        return app_usage("ledger", "%s needs --db PATH", action);
    return -1;
}

/* Reads a whole file (or stdin for "-"), capped. Caller frees. */
static char *ledger__slurp(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    cx_buf b;
    cx_buf_init(&b, max);
    char chunk[65536];
    size_t n;
    cx_err e = CX_OK;
    while (e == CX_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        e = cx_buf_append(&b, chunk, n);
    bool bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (e != CX_OK || bad) {
        snprintf(err, errlen, "%s: %s", path, e == CX_ETOOBIG ? "too large" : "read error");
        cx_buf_free(&b);
        return NULL;
    }
    char *text = cx_buf_steal(&b, len); /* "" for an empty input */
    if (!text)
        snprintf(err, errlen, "%s: out of memory", path);
    return text;
}

/* One JSON value, or JSON lines: calls fn for each entry's text. */
static int ledger__each(const char *text, size_t len, int (*fn)(void *, const char *, size_t),
                        void *ctx)
{
    json_error_t je;
    json_t *one = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (one || !memchr(text, '\n', len)) {
        json_decref(one);
        return fn(ctx, text, len);
    }
    int rc = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t k = n;
        while (k && (p[k - 1] == '\r' || p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        if (k) {
            int r = fn(ctx, p, k);
            if (r > rc)
                rc = r;
        }
        p += n + 1;
    }
    return rc;
}

static void ledger__print_json(FILE *f, const json_t *j, bool pretty)
{
    char *s = json_dumps(j, pretty ? JSON_INDENT(2) | JSON_ENCODE_ANY
                                   : JSON_COMPACT | JSON_ENCODE_ANY);
    if (s)
        fprintf(f, "%s\n", s);
    free(s);
}

/* ---- sign -------------------------------------------------------------------------------- */

typedef struct {
    ledger_key key;
    const char *org;
} sign_ctx;

static int ledger__sign_one(void *ctx, const char *text, size_t len)
{
    sign_ctx *s = ctx;
    char *out = NULL, err[512];
    if (ledger_sign(text, len, &s->key, s->org, &out, err, sizeof err) != CX_OK)
        return app_fail("ledger sign", "%s", err);
    printf("%s\n", out);
    free(out);
    return 0;
}

static int ledger__sign(lopts *o)
{
    if (!o->key)
        return app_usage("ledger", "sign needs --key FILE.key");
    if (o->nargs != 1)
        return app_usage("ledger", "sign takes one ENTRY.json (or - for stdin)");
    if (o->org && !cx_org_valid(o->org))
        return app_usage("ledger", "--org must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    sign_ctx s = {.org = o->org};
    char err[512];
    if (ledger_key_load(o->key, &s.key, err, sizeof err) != CX_OK)
        return app_fail("ledger sign", "%s", err);
    size_t len;
    char *text = ledger__slurp(o->args[0], (size_t)256 << 20, &len, err, sizeof err);
    if (!text) {
        sodium_memzero(&s.key, sizeof s.key);
        return app_fail("ledger sign", "%s", err);
    }
    int rc = ledger__each(text, len, ledger__sign_one, &s);
    sodium_memzero(&s.key, sizeof s.key);
    free(text);
    return rc;
}

/* ---- submit ------------------------------------------------------------------------------- */

static int ledger__submit_one(void *ctx, const char *text, size_t len)
{
    ledger *lg = ctx;
    ledger_result res;
    ledger_submit(lg, text, len, &res);
    json_t *j = ledger_result_json(&res);
    ledger__print_json(stdout, j, false);
    json_decref(j);
    int rc = 0;
    if (res.status != 201) {
        const json_t *d0 = json_array_get(res.details, 0);
        fprintf(stderr, "customs ledger submit: rejected (%u %s): %s%s%s%s%s\n", res.status,
                res.code, res.message, d0 ? " at " : "",
                d0 ? json_string_value(json_object_get(d0, "path")) : "", d0 ? ": " : "",
                d0 ? json_string_value(json_object_get(d0, "message")) : "");
        rc = 1;
    }
    ledger_result_clear(&res);
    return rc;
}

/* ---- helpers for commands that open the database ------------------------------------------------ */

typedef struct {
    store *s;
    decl_service *decl;
    ledger *lg;
    rev_service *rev; /* assesses what is lodged, counts receipts (a currency is set) */
} lenv;

static void ledger__close(lenv *env);

/* Opens the database; with --ledger-network joins the cluster (origin: the
 * ledger's, NULL for the one it carries) and applies the stream up to now,
 * so that what the command writes goes through the stream like a node's. */
static int ledger__open(const char *cmd, const lopts *o, const char *origin, bool create,
                        lenv *env)
{
    memset(env, 0, sizeof *env);
    char err[512];
    if (app_open_store(o->db, &env->s, err, sizeof err) != CX_OK)
        return app_fail(cmd, "%s", err);
    env->decl = decl_service_new(env->s);
    env->lg = env->decl ? ledger_new(env->s, env->decl) : NULL;
    rev_config rcfg = {.ledger = env->lg, .quiet = true};
    if (!env->lg || rev_service_new(env->s, env->decl, &rcfg, &env->rev, err, sizeof err)) {
        ledger_free(env->lg);
        decl_service_free(env->decl);
        store_free(env->s);
        return app_fail(cmd, "%s", env->lg ? err : "out of memory");
    }
    app_ledger_net_opts no = {.node_key = o->node_key, .network = o->network,
                              .origin = origin ? origin : o->ledger_origin,
                              .trust = o->ledger_trust, .replicas = (int)o->replicas,
                              .create = create, .nats = o->nats};
    cx_err e = app_ledger_join(env->lg, &no, NULL, err, sizeof err);
    if (e == CX_OK && o->network)
        e = ledger_net_sync(env->lg, 300000, err, sizeof err);
    if (e != CX_OK) {
        ledger__close(env);
        return app_fail(cmd, "%s", err);
    }
    return -1;
}

static void ledger__close(lenv *env)
{
    rev_service_stop(env->rev);
    store_drain(env->s); /* the ledger's and revenue's jobs use both services */
    ledger_free(env->lg);
    rev_service_free(env->rev);
    decl_service_free(env->decl);
    store_free(env->s);
}

static int ledger__init(lopts *o)
{
    if (!o->origin || o->threshold < 1 || o->ngov == 0)
        return app_usage("ledger", "init needs --origin NAME, --threshold M and at least one "
                                   "--governor HOLDER=KEY");
    ledger_governor gov[LEDGER_MAX_GOVERNORS] = {0};
    /* governors given as key files sign the genesis; threshold of them must */
    ledger_key keys[LEDGER_MAX_GOVERNORS];
    for (size_t i = 0; i < o->ngov; i++) {
        const char *eq = strchr(o->governors[i], '=');
        size_t hl = eq ? (size_t)(eq - o->governors[i]) : 0;
        if (!eq || hl == 0 || hl > CX_ORG_MAX)
            return app_usage("ledger", "--governor must be HOLDER=KEY, e.g. KCS=kcs-gov.key");
        memcpy(gov[i].holder, o->governors[i], hl);
        gov[i].holder[hl] = '\0';
        if (!cx_org_valid(gov[i].holder))
            return app_usage("ledger", "governor holder '%s' must be 1 to 64 characters of "
                                       "A-Z a-z 0-9 . _ -", gov[i].holder);
        struct stat st;
        if (!ledger_key_parse_public(eq + 1, gov[i].pk)) {
            char err[512];
            if (stat(eq + 1, &st) != 0)
                return app_usage("ledger", "governor %s: '%s' is neither a base64 public key nor "
                                           "a key file", gov[i].holder, eq + 1);
            if (ledger_key_load(eq + 1, &keys[i], err, sizeof err) != CX_OK) {
                sodium_memzero(keys, sizeof keys);
                return app_fail("ledger init", "%s", err);
            }
            memcpy(gov[i].pk, keys[i].pk, 32);
            gov[i].key = &keys[i];
        }
    }
    size_t signers = 0;
    for (size_t i = 0; i < o->ngov; i++)
        signers += gov[i].key != NULL;
    if ((int64_t)signers < o->threshold) {
        sodium_memzero(keys, sizeof keys);
        return app_usage("ledger", "the genesis must be signed by %lld governance keys: give at "
                                   "least that many --governor HOLDER=FILE.key (%zu given as "
                                   "key files)",
                         (long long)o->threshold, signers);
    }
    lenv env;
    int rc = ledger__open("ledger init", o, o->origin, true, &env);
    if (rc >= 0) {
        sodium_memzero(keys, sizeof keys);
        return rc;
    }
    if (ledger_size(env.lg) > 0) {
        sodium_memzero(keys, sizeof keys);
        ledger__close(&env);
        return app_fail("ledger init", "%s already holds a ledger", o->db);
    }
    ledger_result res;
    ledger_init(env.lg, o->origin, (int)o->threshold, gov, o->ngov, &res);
    sodium_memzero(keys, sizeof keys);
    json_t *j = ledger_result_json(&res);
    ledger__print_json(stdout, j, false);
    json_decref(j);
    rc = 0;
    if (res.status != 201) {
        const json_t *d0 = json_array_get(res.details, 0);
        rc = app_fail("ledger init", "%s%s%s%s%s", res.message, d0 ? " at " : "",
                      d0 ? json_string_value(json_object_get(d0, "path")) : "", d0 ? ": " : "",
                      d0 ? json_string_value(json_object_get(d0, "message")) : "");
    } else {
        fprintf(stderr, "ledger %s initialised: %zu governance key%s, %lld needed for "
                        "membership and policy entries\n",
                o->origin, o->ngov, o->ngov == 1 ? "" : "s", (long long)o->threshold);
    }
    ledger_result_clear(&res);
    ledger__close(&env);
    return rc;
}

static int ledger__anchor(lopts *o)
{
    if (!o->declaration || !o->key)
        return app_usage("ledger", "anchor needs --declaration ID and --key FILE.key");
    ledger_key key;
    char err[512];
    if (ledger_key_load(o->key, &key, err, sizeof err) != CX_OK)
        return app_fail("ledger anchor", "%s", err);
    lenv env;
    int rc = ledger__open("ledger anchor", o, NULL, false, &env);
    if (rc >= 0) {
        sodium_memzero(&key, sizeof key);
        return rc;
    }
    char *doc = NULL;
    json_t *decl = NULL, *body = NULL, *salts = NULL;
    if (decl_get(env.decl, NULL, o->declaration, &doc) == CX_OK)
        decl = json_loads(doc, 0, NULL);
    free(doc);
    rc = 0;
    if (!decl) {
        rc = app_fail("ledger anchor", "no declaration %s in %s", o->declaration, o->db);
    } else if (ledger_anchor_body(decl, &body, &salts) != CX_OK) {
        rc = app_fail("ledger anchor", "cannot commit to declaration %s", o->declaration);
    } else {
        json_t *certs = json_array();
        for (size_t i = 0; i < o->ncoos; i++) {
            const char *slash = strchr(o->coos[i], '/');
            if (!slash || slash == o->coos[i]) {
                json_decref(certs);
                certs = NULL;
                rc = app_usage("ledger", "--coo must be ISSUER/NUMBER");
                break;
            }
            char issuer[CX_ORG_MAX + 1];
            snprintf(issuer, sizeof issuer, "%.*s", (int)(slash - o->coos[i]), o->coos[i]);
            json_array_append_new(certs, json_pack("{s:s,s:s}", "issuer", issuer, "number",
                                                   slash + 1));
        }
        if (certs && json_array_size(certs))
            json_object_set_new(body, "certificates", certs);
        else
            json_decref(certs);
        const char *org = o->org ? o->org
                          : key.org[0] ? key.org
                                       : json_string_value(json_object_get(decl, "org"));
        char now[32];
        cx_rfc3339_format(cx_now_us(), now);
        json_t *env_j = json_pack("{s:s,s:s,s:s,s:O,s:[]}", "type", "declaration.anchor", "org",
                                  org, "time", now, "body", body, "signatures");
        char *text = rc == 0 && env_j ? cx_json_dump(env_j, NULL) : NULL;
        json_decref(env_j);
        char *signed_text = NULL;
        if (rc == 0 && (!text || ledger_sign(text, strlen(text), &key, org, &signed_text, err,
                                             sizeof err) != CX_OK))
            rc = app_fail("ledger anchor", "%s", text ? err : "out of memory");
        if (rc == 0) {
            ledger_result res;
            ledger_submit(env.lg, signed_text, strlen(signed_text), &res);
            json_t *j = ledger_result_json(&res);
            ledger__print_json(stdout, j, false);
            json_decref(j);
            if (res.status != 201)
                rc = app_fail("ledger anchor", "rejected: %s", res.message);
            else if (ledger_salts_put(env.lg, res.index, salts) != CX_OK)
                rc = app_fail("ledger anchor", "anchored at %lld but the salts could not be "
                                               "kept", (long long)res.index);
            else
                fprintf(stderr, "declaration %s anchored at entry %lld: %zu fields committed, "
                                "salts kept in %s\n",
                        o->declaration, (long long)res.index,
                        json_object_size(json_object_get(body, "fields")), o->db);
            ledger_result_clear(&res);
        }
        free(text);
        free(signed_text);
    }
    json_decref(decl);
    json_decref(body);
    json_decref(salts);
    sodium_memzero(&key, sizeof key);
    ledger__close(&env);
    return rc;
}

static int ledger__write_json(const char *path, const json_t *j, const char *cmd)
{
    if (!path) {
        ledger__print_json(stdout, j, true);
        return 0;
    }
    if (json_dump_file(j, path, JSON_INDENT(2)) != 0)
        return app_fail(cmd, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static json_t *ledger__load_json(const char *path, const char *cmd, int *rc)
{
    char err[512];
    size_t len;
    char *text = ledger__slurp(path, (size_t)64 << 20, &len, err, sizeof err);
    if (!text) {
        *rc = app_fail(cmd, "%s", err);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!j)
        *rc = app_fail(cmd, "%s: line %d: %s", path, je.line, je.text);
    return j;
}

int app_cmd_ledger(int argc, char **argv)
{
    if (argc < 2) {
        ledger__help(stderr);
        return 2;
    }
    const char *action = argv[1];
    if (strcmp(action, "--help") == 0 || strcmp(action, "-h") == 0 || strcmp(action, "help") == 0) {
        ledger__help(stdout);
        return 0;
    }
    if (strcmp(action, "network") == 0 || strcmp(action, "snapshot") == 0)
        return app_cmd_ledger_net(argc - 1, argv + 1);
    /* NET: the options of a command that opens the database on a network */
#define NET " ledger-network ledger-origin ledger-trust ledger-replicas" APP_NATS_NAMES
    static const app_action actions[] = {
        {"init", "db origin threshold governor" NET},
        {"sign", "key org"},
        {"submit", "db node-key" NET},
        {"verify", "db threads"},
        {"show", "db" NET},
        {"proof", "db index size" NET},
        {"consistency", "db from to" NET},
        {"checkpoint", "db key" NET},
        {"anchor", "db declaration key coo org node-key" NET},
        {"bundle", "db index field out" NET},
        {"verify-bundle", "trust quorum"},
        {"trust", "db out" NET},
        {"erase", "db index field" NET},
        {"demo", "db keys-dir customs importer exporter carrier bank chamber" NET},
        {NULL, NULL}};
#undef NET
    char cmd[40];
    const char *only = app_action_options(actions, "ledger", action, cmd, sizeof cmd);
    if (!only)
        return app_usage("ledger", "unknown action '%s'", action);
    lopts o = {.index = -1, .from = -1, .to = -1};
    int rc = ledger__parse(argc - 1, argv + 1, &o, only, cmd);
    if (rc >= 0)
        return rc;
    char err[512];
    if (strcmp(action, "keygen") != 0 && decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail("ledger", "%s", err);

    if (strcmp(action, "sign") == 0)
        return ledger__sign(&o);

    if (strcmp(action, "verify-bundle") == 0) {
        if (o.nargs != 1 || !o.trust)
            return app_usage("ledger", "verify-bundle takes BUNDLE.json and --trust KEYS.json");
        rc = 0;
        json_t *bundle = ledger__load_json(o.args[0], "ledger verify-bundle", &rc);
        json_t *trust = bundle ? ledger__load_json(o.trust, "ledger verify-bundle", &rc) : NULL;
        if (bundle && trust) {
            char report[2048];
            bool ok = ledger_bundle_verify(bundle, trust, (int)o.quorum, report, sizeof report);
            printf("%s\n", report);
            rc = ok ? 0 : 1;
        }
        json_decref(bundle);
        json_decref(trust);
        return rc;
    }

    if ((rc = ledger__need_db(&o, action)) >= 0)
        return rc;

    if (strcmp(action, "verify") == 0) {
        if (o.nargs)
            return app_usage("ledger", "unexpected argument '%s'", o.args[0]);
        ledger_verify_report rep;
        int64_t t0 = cx_mono_us();
        bool ok = ledger_verify_db(o.db, (unsigned)o.threads, getenv("CUSTOMS_NO_PROGRESS") == NULL,
                                   &rep);
        if (!ok) {
            if (rep.bad_index >= 0)
                printf("bad index %lld: %s\n", (long long)rep.bad_index, rep.why);
            else
                printf("bad: %s\n", rep.why);
            return 1;
        }
        char hex[65];
        cx_hex(rep.root, 32, hex);
        printf("ok %lld entries root %s\n", (long long)rep.entries, hex);
        fprintf(stderr, "%lld checkpoint%s verified; %.2f s\n", (long long)rep.checkpoints,
                rep.checkpoints == 1 ? "" : "s", (double)(cx_mono_us() - t0) / 1e6);
        return 0;
    }
    if (strcmp(action, "init") == 0)
        return ledger__init(&o);
    if (strcmp(action, "anchor") == 0)
        return ledger__anchor(&o);

    static const char *const known[] = {"submit", "show",  "proof", "consistency", "checkpoint",
                                        "bundle", "trust", "erase", "demo",        NULL};
    bool ok = false;
    for (const char *const *k = known; *k; k++)
        ok = ok || strcmp(*k, action) == 0;
    if (!ok)
        return app_usage("ledger", "unknown action '%s'", action);

    /* arguments first, so mistakes are reported before the database opens */
    ledger_key key;
    bool have_key = false;
    if (strcmp(action, "submit") == 0 && o.nargs != 1)
        return app_usage("ledger", "submit takes one ENTRY.json (or - for stdin)");
    if (strcmp(action, "show") == 0) {
        if (o.nargs != 1 || !cx_parse_i64(o.args[0], &o.index) || o.index < 0)
            return app_usage("ledger", "show takes one entry index");
    } else if (o.nargs && strcmp(action, "submit") != 0) {
        return app_usage("ledger", "unexpected argument '%s'", o.args[0]);
    }
    if ((strcmp(action, "proof") == 0 || strcmp(action, "bundle") == 0 ||
         strcmp(action, "erase") == 0) &&
        o.index < 0)
        return app_usage("ledger", "%s needs --index N", action);
    if (strcmp(action, "consistency") == 0 && (o.from < 1 || o.to < 1))
        return app_usage("ledger", "consistency needs --from A and --to B (tree sizes from 1)");
    if (strcmp(action, "checkpoint") == 0) {
        if (!o.key)
            return app_usage("ledger", "checkpoint needs --key FILE.key");
        if (ledger_key_load(o.key, &key, err, sizeof err) != CX_OK)
            return app_fail("ledger checkpoint", "%s", err);
        have_key = true;
    }
    char *input = NULL;
    size_t input_len = 0;
    if (strcmp(action, "submit") == 0) {
        input = ledger__slurp(o.args[0], (size_t)1 << 30, &input_len, err, sizeof err);
        if (!input)
            return app_fail("ledger submit", "%s", err);
    }

    lenv env;
    /* the demo's ledger is the one it creates on an empty cluster */
    bool demo = strcmp(action, "demo") == 0;
    rc = ledger__open("ledger", &o, demo && !o.ledger_origin ? APP_LEDGER_DEMO_ORIGIN : NULL,
                      demo, &env);
    if (rc >= 0) {
        free(input);
        if (have_key)
            sodium_memzero(&key, sizeof key);
        return rc;
    }
    rc = 0;
    json_t *j = NULL;
    cx_err e = CX_OK;
    if (strcmp(action, "submit") == 0) {
        rc = ledger__each(input, input_len, ledger__submit_one, env.lg);
    } else if (strcmp(action, "show") == 0) {
        e = ledger_entry_get(env.lg, o.index, &j);
        if (e == CX_OK)
            ledger__print_json(stdout, j, true);
        else
            rc = app_fail("ledger show", e == CX_ENOTFOUND ? "no entry %lld" : "cannot read entry %lld",
                          (long long)o.index);
    } else if (strcmp(action, "proof") == 0) {
        e = ledger_proof(env.lg, o.index, o.size, &j);
        if (e == CX_OK)
            ledger__print_json(stdout, j, true);
        else
            rc = app_fail("ledger proof", "no entry %lld in a tree of size %lld (the ledger has "
                                          "%lld entries)",
                          (long long)o.index, (long long)o.size, (long long)ledger_size(env.lg));
    } else if (strcmp(action, "consistency") == 0) {
        e = ledger_consistency(env.lg, o.from, o.to, &j);
        if (e == CX_OK)
            ledger__print_json(stdout, j, true);
        else
            rc = app_fail("ledger consistency", "need 1 <= from <= to <= %lld",
                          (long long)ledger_size(env.lg));
    } else if (strcmp(action, "checkpoint") == 0) {
        char *note = NULL; /* on a network, published for the other nodes too */
        e = ledger_net_cosign(env.lg, &key, &note, err, sizeof err);
        if (e == CX_OK)
            fputs(note, stdout);
        else
            rc = app_fail("ledger checkpoint", "%s", err);
        free(note);
    } else if (strcmp(action, "bundle") == 0) {
        err[0] = '\0';
        e = ledger_bundle(env.lg, o.index, o.fields, o.nfields, &j, err, sizeof err);
        if (e == CX_OK)
            rc = ledger__write_json(o.out, j, "ledger bundle");
        else
            rc = app_fail("ledger bundle", "%s", err);
    } else if (strcmp(action, "trust") == 0) {
        e = ledger_trust(env.lg, &j);
        if (e == CX_OK)
            rc = ledger__write_json(o.out, j, "ledger trust");
        else
            rc = app_fail("ledger trust", "the ledger is not initialised");
    } else if (strcmp(action, "erase") == 0) {
        int64_t n = 0;
        e = ledger_salts_erase(env.lg, o.index, o.nfields ? o.fields[0] : NULL, &n);
        if (e == CX_OK)
            printf("erased %lld salt%s of entry %lld\n", (long long)n, n == 1 ? "" : "s",
                   (long long)o.index);
        else
            rc = app_fail("ledger erase", "%s", cx_strerror(e));
    } else if (strcmp(action, "demo") == 0) {
        char dir[4096];
        if (o.keys_dir)
            snprintf(dir, sizeof dir, "%s", o.keys_dir);
        else
            snprintf(dir, sizeof dir, "%s.ledger-keys", o.db);
        app_ledger_demo_opts d = {dir,        o.customs, o.importer, o.exporter,
                              o.carrier, o.bank,    o.chamber};
        e = app_ledger_demo(env.lg, env.decl, &d, stdout, err, sizeof err);
        if (e == CX_EEXIST)
            fprintf(stderr, "customs ledger demo: %s\n", err);
        else if (e != CX_OK)
            rc = app_fail("ledger demo", "%s", err);
    }
    json_decref(j);
    free(input);
    if (have_key)
        sodium_memzero(&key, sizeof key);
    ledger__close(&env);
    return rc;
}
