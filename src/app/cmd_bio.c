/* customs bio: fingerprint templates and matching on the command line
 * (match, eval, show, key); the database commands are in cmd_bio_db.c. */
#include "cmd_bio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage:\n"
    "  customs bio match [--strict] [--threads N] PROBE GALLERY [GALLERY…]\n"
    "  customs bio match [--strict] [--threads N] --pairs FILE\n"
    "  customs bio eval  --pairs GENUINE --impostors IMPOSTOR [--json] [--threads N]\n"
    "  customs bio show  [--strict] FILE\n"
    "  customs bio key   --out FILE\n"
    "  customs bio enrol --db PATH --bio-key FILE --watchlist NAME --subject ID [--kind K]\n"
    "                    [--agency A --legal-basis TEXT --expires DATE] [--name N] [--org ORG]\n"
    "                    FILE.iso…\n"
    "  customs bio identify --db PATH --bio-key FILE --watchlist NAME --purpose REF\n"
    "                    [--min-score S] [--limit N] PROBE.iso\n"
    "  customs bio verify --db PATH --bio-key FILE --subject ID --purpose REF PROBE.iso\n"
    "  customs bio erase --db PATH --bio-key FILE --subject ID [--purpose REF]\n"
    "  customs bio expire --db PATH --bio-key FILE\n"
    "  customs bio audit --db PATH [--subject ID] [--limit N]\n"
    "  customs bio digest --db PATH --date YYYY-MM-DD [--ledger-key FILE.key]\n"
    "\n"
    "Templates are ISO/IEC 19794-2:2005 or :2011, or ANSI INCITS 378-2004 or -2009\n"
    "(format detected from the header). Files are read permissively (zero padding and\n"
    "length fields a few bytes off are accepted); --strict refuses any departure from\n"
    "the standard and names every problem.\n"
    "\n"
    "match prints SCORE<TAB>GALLERY per gallery file, or with --pairs (lines\n"
    "'PATH_A PATH_B') PATH_A<TAB>PATH_B<TAB>SCORE per line. Scores are calibrated:\n"
    "10 * log10(1 / FMR) on the development data, so 30 is the threshold of a false\n"
    "match rate of 0.1 % (docs/biometrics.md). A template that does not parse stops\n"
    "the command with exit status 1, naming it.\n"
    "\n"
    "eval reads genuine and impostor pair files and prints the equal error rate,\n"
    "FMR100 and FMR1000 (the lowest false non-match rates at a false match rate of\n"
    "at most 1 % and 0.1 %), the threshold at FMR 0.1 % and comparisons per second\n"
    "(comparisons only; each template is parsed once); --json prints\n"
    "{\"genuine\",\"impostors\",\"eer\",\"fmr100\",\"fmr1000\",\"threshold_fmr1000\",\n"
    "\"comparisons_per_s\"} with rates as fractions.\n"
    "\n"
    "key writes a new master key for sealing biometric data (mode 0600; an existing\n"
    "file is never overwritten). Keep it apart from the database: the database alone\n"
    "reveals no biometric data.\n"
    "\n"
    "enrol creates the subject if needed (kind: operator, broker, forwarder,\n"
    "logistics or watchlist (default)) and seals each template under its key.\n"
    "identify prints JSON lines {\"subject\",\"score\",\"finger\"}, best first: the top\n"
    "10, or every candidate scoring at least --min-score (up to --limit, 100).\n"
    "Every identification and verification is audited with its purpose.\n"
    "\n"
    "digest prints the day's audit digest {\"date\",\"count\",\"root\"} (UTC; the\n"
    "RFC 6962 Merkle root of the day's audit records); with --ledger-key (a customs\n"
    "member's key, customs keygen) it signs it as an audit.digest entry and appends\n"
    "it to this database's ledger: one per administration and day (run it daily\n"
    "for the day before).\n"
    "\n"
    "Examples:\n"
    "  customs bio match 101_1.iso 101_2.iso 102_1.iso\n"
    "  customs bio eval --pairs genuine.txt --impostors impostors.txt --json\n"
    "  customs bio key --out var/bio.key\n"
    "  customs bio enrol --db var/customs.db --bio-key var/bio.key --watchlist interpol \\\n"
    "      --subject P-1 --agency 'Immigration' --legal-basis 'MoU 2024/7' \\\n"
    "      --expires 2027-12-31 101_1.iso 101_2.iso\n"
    "  customs bio identify --db var/customs.db --bio-key var/bio.key --watchlist interpol \\\n"
    "      --purpose CASE-2024-118 probe.iso\n";

int bio__help(void)
{
    fputs(help, stdout);
    return 0;
}

/* ---- reading templates ---------------------------------------------------------------- */

#define BIO_FILE_MAX ((size_t)1 << 20)

uint8_t *bio__read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = malloc(BIO_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, BIO_FILE_MAX + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > BIO_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf ? "out of memory" : bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

bio_features *bio__load(const char *path, bool strict, char *err, size_t errlen)
{
    size_t len;
    uint8_t *buf = bio__read_file(path, &len, err, errlen);
    if (!buf)
        return NULL;
    bio_template *t = NULL;
    bio_problems pr;
    cx_err e = bio_template_parse(buf, len, BIO_FMT_AUTO, strict ? 0 : BIO_PARSE_PERMISSIVE, &t,
                                  &pr);
    free(buf);
    if (e) {
        size_t k = 0;
        while (k < pr.count && k < BIO_PROBLEMS_MAX && !pr.items[k].fatal && !strict)
            k++;
        if (k >= pr.count || k >= BIO_PROBLEMS_MAX)
            k = 0;
        snprintf(err, errlen, "%s: not a usable template: byte %u: %s%s", path,
                 pr.count ? pr.items[k].offset : 0, pr.count ? pr.items[k].rule : cx_strerror(e),
                 pr.count > 1 ? " (and more; see 'customs bio show')" : "");
        return NULL;
    }
    bio_features *f = NULL;
    e = bio_features_new(t, &f);
    bio_template_free(t);
    if (e) {
        snprintf(err, errlen, "%s: the template has no minutiae", path);
        return NULL;
    }
    return f;
}

/* ---- pairs files --------------------------------------------------------------------- */

void bio__pairs_free(bio_pairs *p)
{
    for (size_t i = 0; i < p->npaths; i++) {
        free(p->paths[i]);
        bio_features_free(p->feat[i]);
    }
    free(p->paths);
    free(p->feat);
    free(p->a);
    free(p->b);
    free(p->score);
    memset(p, 0, sizeof *p);
}

static int bio__cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t bio__path_index(const bio_pairs *p, const char *path)
{
    size_t lo = 0, hi = p->npaths;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(p->paths[mid], path);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* Reads "PATH_A PATH_B" lines (blank lines and # comments skipped). */
static cx_err bio__pairs_lines(const char *file, char ***names, size_t *n, char *err,
                               size_t errlen)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return CX_EIO;
    }
    char line[8192];
    size_t cap = 0, lineno = 0;
    cx_err e = CX_OK;
    while (!e && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%zu: the line is longer than %zu bytes", file, lineno,
                     sizeof line - 2);
            e = CX_ETOOBIG;
            break;
        }
        char *a = strtok(line, " \t\r\n"), *b = a ? strtok(NULL, " \t\r\n") : NULL;
        if (!a || a[0] == '#')
            continue;
        if (!b || strtok(NULL, " \t\r\n")) {
            snprintf(err, errlen, "%s:%zu: expected two paths, 'PATH_A PATH_B'", file, lineno);
            e = CX_EINVAL;
            break;
        }
        if (*n + 2 > cap) {
            cap = cap ? cap * 2 : 1024;
            char **q = realloc(*names, cap * sizeof *q);
            if (!q) {
                e = CX_ENOMEM;
                break;
            }
            *names = q;
        }
        (*names)[(*n)++] = strdup(a);
        (*names)[(*n)++] = strdup(b);
        if (!(*names)[*n - 1] || !(*names)[*n - 2])
            e = CX_ENOMEM;
    }
    if (f != stdin)
        fclose(f);
    return e;
}

cx_err bio__pairs_load(bio_pairs *p, const char *const *files, size_t nfiles, size_t *counts,
                       bool strict, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    char **names = NULL;
    size_t n = 0;
    cx_err e = CX_OK;
    for (size_t f = 0; !e && f < nfiles; f++) {
        size_t before = n;
        e = bio__pairs_lines(files[f], &names, &n, err, errlen);
        counts[f] = (n - before) / 2;
    }
    /* the unique paths, sorted; each template is parsed once */
    if (!e && !(p->paths = malloc((n + 1) * sizeof *p->paths)))
        e = CX_ENOMEM;
    for (size_t i = 0; !e && i < n; i++)
        p->paths[i] = names[i];
    if (!e) {
        qsort(p->paths, n, sizeof *p->paths, bio__cmp_str);
        for (size_t i = 0; i < n; i++)
            if (!p->npaths || strcmp(p->paths[p->npaths - 1], p->paths[i]) != 0)
                p->paths[p->npaths++] = p->paths[i];
        for (size_t i = 0; i < p->npaths; i++)
            if (!(p->paths[i] = strdup(p->paths[i])))
                e = CX_ENOMEM;
        p->feat = calloc(p->npaths + 1, sizeof *p->feat);
        if (!p->feat)
            e = CX_ENOMEM;
    }
    for (size_t i = 0; !e && i < p->npaths; i++)
        if (!(p->feat[i] = bio__load(p->paths[i], strict, err, errlen)))
            e = CX_EPARSE;
    p->npairs = n / 2;
    if (!e) {
        p->a = malloc((p->npairs + 1) * sizeof *p->a);
        p->b = malloc((p->npairs + 1) * sizeof *p->b);
        p->score = calloc(p->npairs + 1, sizeof *p->score);
        if (!p->a || !p->b || !p->score)
            e = CX_ENOMEM;
    }
    for (size_t i = 0; !e && i < p->npairs; i++) {
        p->a[i] = bio__path_index(p, names[2 * i]);
        p->b[i] = bio__path_index(p, names[2 * i + 1]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (e)
        p->npairs = 0;
    return e;
}

/* ---- comparing the pairs, on threads ------------------------------------------------- */

typedef struct {
    bio_pairs *p;
    size_t from, to;
    double raw_time;
} bio_pairs_job;

static void *bio__pairs_run(void *arg)
{
    bio_pairs_job *j = arg;
    bio_matcher *m = bio_matcher_new();
    for (size_t i = j->from; m && i < j->to; i++)
        j->p->score[i] = bio_match_score(m, j->p->feat[j->p->a[i]], j->p->feat[j->p->b[i]]);
    bio_matcher_free(m);
    return NULL;
}

double bio__pairs_compare(bio_pairs *p, unsigned threads)
{
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    bio_pairs_job jobs[64];
    pthread_t th[64];
    int64_t t0 = cx_mono_us();
    for (unsigned t = 0; t < threads; t++)
        jobs[t] = (bio_pairs_job){p, p->npairs * t / threads, p->npairs * (t + 1) / threads, 0};
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&th[t], NULL, bio__pairs_run, &jobs[t]) != 0)
            break;
        started = t;
    }
    bio__pairs_run(&jobs[0]);
    for (unsigned t = started + 1; t < threads; t++)
        bio__pairs_run(&jobs[t]);
    for (unsigned t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    return (double)(cx_mono_us() - t0) / 1e6;
}

/* ---- match ------------------------------------------------------------------------ */

static int bio__cmd_match(int argc, char **argv)
{
    static const struct option opts[] = {{"pairs", required_argument, NULL, 'p'},
                                         {"strict", no_argument, NULL, 's'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *pairs = NULL;
    bool strict = false;
    int64_t threads = 1;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "bio match")) != -1) {
        switch (c) {
        case 'p': pairs = optarg; break;
        case 's': strict = true; break;
        case 't':
            if (!cx_parse_i64(optarg, &threads) || threads < 1 || threads > 64)
                return app_usage("bio match", "--threads must be 1 to 64");
            break;
        case 'h': return bio__help();
        default: return 2; /* app_getopt said why */
        }
    }
    char err[1024];
    if (pairs) {
        if (optind != argc)
            return app_usage("bio match", "--pairs takes no template arguments");
        bio_pairs p;
        size_t count;
        const char *files[] = {pairs};
        if (bio__pairs_load(&p, files, 1, &count, strict, err, sizeof err) != CX_OK) {
            bio__pairs_free(&p);
            return app_fail("bio match", "%s", err);
        }
        bio__pairs_compare(&p, (unsigned)threads);
        for (size_t i = 0; i < p.npairs; i++)
            printf("%s\t%s\t%.3f\n", p.paths[p.a[i]], p.paths[p.b[i]], p.score[i]);
        bio__pairs_free(&p);
        return fflush(stdout) == 0 ? 0 : app_fail("bio match", "cannot write the output");
    }
    if (argc - optind < 2)
        return app_usage("bio match", "give a probe and at least one gallery template");
    bio_features *probe = bio__load(argv[optind], strict, err, sizeof err);
    if (!probe)
        return app_fail("bio match", "%s", err);
    bio_matcher *m = bio_matcher_new();
    int status = m ? 0 : app_fail("bio match", "out of memory");
    for (int i = optind + 1; !status && i < argc; i++) {
        bio_features *g = bio__load(argv[i], strict, err, sizeof err);
        if (!g) {
            status = app_fail("bio match", "%s", err);
            break;
        }
        printf("%.3f\t%s\n", bio_match_score(m, probe, g), argv[i]);
        bio_features_free(g);
    }
    bio_matcher_free(m);
    bio_features_free(probe);
    if (!status && fflush(stdout) != 0)
        status = app_fail("bio match", "cannot write the output");
    return status;
}

/* ---- eval ------------------------------------------------------------------------- */

static int bio__cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {{"pairs", required_argument, NULL, 'p'},
                                         {"impostors", required_argument, NULL, 'i'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"strict", no_argument, NULL, 's'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *gen = NULL, *imp = NULL;
    bool json = false, strict = false;
    int64_t threads = 1;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "bio eval")) != -1) {
        switch (c) {
        case 'p': gen = optarg; break;
        case 'i': imp = optarg; break;
        case 'j': json = true; break;
        case 's': strict = true; break;
        case 't':
            if (!cx_parse_i64(optarg, &threads) || threads < 1 || threads > 64)
                return app_usage("bio eval", "--threads must be 1 to 64");
            break;
        case 'h': return bio__help();
        default: return 2; /* app_getopt said why */
        }
    }
    if (optind != argc)
        return app_usage("bio eval", "unexpected argument '%s'", argv[optind]);
    if (!gen || !imp)
        return app_usage("bio eval", "--pairs GENUINE and --impostors IMPOSTOR are required");
    char err[1024];
    bio_pairs p;
    size_t counts[2];
    const char *files[] = {gen, imp};
    if (bio__pairs_load(&p, files, 2, counts, strict, err, sizeof err) != CX_OK) {
        bio__pairs_free(&p);
        return app_fail("bio eval", "%s", err);
    }
    if (!counts[0] || !counts[1]) {
        bio__pairs_free(&p);
        return app_fail("bio eval", "%s has no pairs", !counts[0] ? gen : imp);
    }
    double secs = bio__pairs_compare(&p, (unsigned)threads);
    bio_rates r;
    cx_err e = bio_rates_compute(p.score, counts[0], p.score + counts[0], counts[1], &r);
    double cps = secs > 0 ? (double)p.npairs / secs : 0;
    bio__pairs_free(&p);
    if (e)
        return app_fail("bio eval", "%s", cx_strerror(e));
    if (json) {
        json_t *o = json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:f}", "genuine", (json_int_t)counts[0],
                              "impostors", (json_int_t)counts[1], "eer", r.eer, "fmr100",
                              r.fmr100, "fmr1000", r.fmr1000, "threshold_fmr1000",
                              r.threshold_fmr1000, "comparisons_per_s", round(cps));
        char *text = cx_json_dump(o, NULL);
        json_decref(o);
        printf("%s\n", text ? text : "{}");
        free(text);
    } else {
        printf("genuine pairs    %zu\nimpostor pairs   %zu\n", counts[0], counts[1]);
        printf("EER              %.2f %%\nFMR100           %.2f %%\nFMR1000          %.2f %%\n",
               r.eer * 100, r.fmr100 * 100, r.fmr1000 * 100);
        printf("threshold at FMR 0.1 %%: %.2f (the documented threshold is %.0f)\n",
               r.threshold_fmr1000, BIO_THRESHOLD);
        printf("comparisons/s    %.0f (%lld thread%s)\n", cps, (long long)threads,
               threads == 1 ? "" : "s");
    }
    return fflush(stdout) == 0 ? 0 : app_fail("bio eval", "cannot write the output");
}

/* ---- show, key ------------------------------------------------------------------------ */

static int bio__cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {{"strict", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool strict = false;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "bio show")) != -1) {
        if (c == 's')
            strict = true;
        else if (c == 'h')
            return bio__help();
        else
            return 2; /* app_getopt said why */
    }
    if (argc - optind != 1)
        return app_usage("bio show", "give one template file");
    char err[1024];
    size_t len;
    uint8_t *buf = bio__read_file(argv[optind], &len, err, sizeof err);
    if (!buf)
        return app_fail("bio show", "%s", err);
    bio_template *t = NULL;
    bio_problems pr;
    cx_err e =
        bio_template_parse(buf, len, BIO_FMT_AUTO, strict ? 0 : BIO_PARSE_PERMISSIVE, &t, &pr);
    free(buf);
    json_t *o = t ? bio_template_json(t) : json_object();
    json_object_set_new(o, "problems", bio_problems_json(&pr));
    json_object_set_new(o, "valid", json_boolean(e == CX_OK));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    printf("%s\n", text ? text : "{}");
    free(text);
    bio_template_free(t);
    if (e)
        return app_fail("bio show", "%s: %s", argv[optind],
                        strict ? "does not conform to its standard (problems listed)"
                               : "cannot be read (problems listed)");
    return 0;
}

static int bio__cmd_key(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, NULL, "bio key")) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'h')
            return bio__help();
        else
            return 2; /* app_getopt said why */
    }
    if (!out || optind != argc)
        return app_usage("bio key", "--out FILE is required (and nothing else)");
    char err[512];
    if (bio_key_create(out, err, sizeof err) != CX_OK)
        return app_fail("bio key", "%s", err);
    bio_keyring *k = NULL;
    if (bio_key_load(out, &k, err, sizeof err) != CX_OK)
        return app_fail("bio key", "%s", err);
    char id[BIO_KEY_ID_LEN + 1];
    bio_key_id(k, id);
    bio_key_free(k);
    fprintf(stderr, "wrote %s (key id %s); keep it apart from the database\n", out, id);
    return 0;
}

int app_cmd_bio(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"match", bio__cmd_match},       {"eval", bio__cmd_eval},
                {"show", bio__cmd_show},         {"key", bio__cmd_key},
                {"enrol", bio__cmd_enrol},       {"identify", bio__cmd_identify},
                {"verify", bio__cmd_verify},     {"erase", bio__cmd_erase},
                {"expire", bio__cmd_expire},     {"audit", bio__cmd_audit},
                {"digest", bio__cmd_digest}};
    if (argc < 2) {
        fputs(help, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return bio__help();
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(argc - 1, argv + 1);
    return app_usage("bio", "unknown action '%s' (match, eval, show, key, enrol, identify, "
                            "verify, erase, expire, audit, digest)",
                     argv[1]);
}
