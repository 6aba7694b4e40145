/* customs risk: train, list, activate, score, evaluate, export and import
 * risk models (docs/risk.md). */
#include "app.h"

#include "declare.h"
#include "revenue.h"
#include "risk.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "Usage:\n"
    "  customs risk train    --db PATH [--until DATE] [--valid-from DATE] [--rounds N]\n"
    "                        [--max-depth N] [--eta X] [--threads N] [--no-activate] [--json]\n"
    "  customs risk models   --db PATH [--json]\n"
    "  customs risk activate --db PATH ID\n"
    "  customs risk score    --db PATH [--model ID] [--format kcs] [--out FILE]\n"
    "                        [--inspect-rate P] [--yellow-rate P] [--reasons] FILE\n"
    "  customs risk eval     --db PATH [--model ID] [--format kcs] [--json]\n"
    "                        [--plot FILE.svg|FILE.png] [--inspect-rate P]\n"
    "                        [--rank score|revenue] FILE\n"
    "  customs risk export   --db PATH [--model ID] [--out FILE]\n"
    "  customs risk import   --db PATH FILE\n"
    "\n"
    "train builds features from every declaration with an inspection outcome (KCS\n"
    "imports carry theirs; officers add more with POST .../inspection), boosts trees\n"
    "with XGBoost, measures the model on out-of-time data and stores it in the\n"
    "registry as the active model (servers pick it up within seconds).\n"
    "  --until DATE        use declarations dated on or before DATE (YYYY-MM-DD)\n"
    "  --valid-from DATE   train before DATE, measure on DATE..until; without it the\n"
    "                      last ~20% of days are held out to measure, then the model is\n"
    "                      trained on everything\n"
    "  --rounds N          boosting rounds (default 100); --max-depth N (default 3);\n"
    "                      --eta X learning rate (default 0.2)\n"
    "  --no-activate       store the model without making it active\n"
    "\n"
    "score writes \"Declaration ID,score,lane\" for every row of a KCS file (to --out\n"
    "or stdout); --reasons adds the three strongest SHAP contributions. eval scores a\n"
    "labelled file and prints precision@1/5/10%, recall@5/10%, AUC and the revenue\n"
    "recovered at 1/5/10% inspected (a fraud row's Item Price × Tax Rate); --rank\n"
    "revenue ranks by probability × that revenue at risk (DATE), not probability;\n"
    "--json prints one JSON object; --plot draws precision and recall against the\n"
    "share inspected.\n"
    "Rows that cannot be read are skipped and reported with their line numbers.\n"
    "  --model ID          a model other than the active one\n"
    "  --inspect-rate P    percent sent red (default 10); --yellow-rate P (default 15)\n"
    "  --threads N         threads for XGBoost (default: the CPUs not already busy)\n"
    "\n"
    "export writes a model (registry facts, feature tables and the XGBoost JSON\n"
    "booster) as one JSON file; import checks such a file and adds it to the registry\n"
    "(not active).\n"
    "\n"
    "Examples:\n"
    "  customs import --db var/customs.db --org KCS --format kcs data/customs-fraud/df_syn_train_eng.csv\n"
    "  customs risk train --db var/customs.db\n"
    "  customs risk eval --db var/customs.db --format kcs data/customs-fraud/df_syn_valid_eng.csv\n";

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void fmt_metric(double v, char *out, size_t cap)
{
    if (isfinite(v))
        snprintf(out, cap, "%.4f", v);
    else
        snprintf(out, cap, "n/a");
}

typedef struct {
    const char *db, *until, *valid_from, *model, *format, *out, *plot;
    int rounds, max_depth, threads;
    double eta;
    risk_policy policy;
    bool json, no_activate, reasons, progress;
    bool rank_revenue; /* eval --rank revenue */
} risk_opts;

static bool parse_rate(const char *s, double *out)
{
    return cx_parse_double(s, out) && *out >= 0 && *out <= 100;
}

/* Items in another currency than the model's count at the database's
 * exchange rates, through revenue's door (docs/risk.md). */
static bool risk__value_in(void *ctx, double value, const char *currency, const char *date,
                           const char *to, double *out)
{
    return rev_book_value_in(ctx, value, currency, date, to, out);
}

/* The rates of the database (*book NULL when they cannot be read: then
 * only values in the model's currency count, as the message says). */
static risk_values risk__values(store *s, rev_book **book)
{
    char err[256];
    *book = NULL;
    if (rev_book_load(s, book, err, sizeof err) != CX_OK) {
        fprintf(stderr, "customs risk: %s: values in other currencies are not compared\n", err);
        return (risk_values){0};
    }
    return (risk_values){risk__value_in, *book};
}

static int risk__train(risk_opts *o)
{
    char err[1024];
    store *s = NULL;
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail("risk", "%s", err);
    if (app_open_store(o->db, &s, err, sizeof err) != CX_OK)
        return app_fail("risk", "%s", err);
    risk_train_opts to = {.until = o->until, .valid_from = o->valid_from, .rounds = o->rounds,
                          .max_depth = o->max_depth, .eta = o->eta, .nthread = o->threads,
                          .progress = o->progress, .activate = !o->no_activate,
                          .created_by = "customs risk train"};
    rev_book *book;
    to.values = risk__values(s, &book);
    risk_train_result r;
    err[0] = '\0';
    cx_err e = risk_train(s, &to, &r, err, sizeof err);
    rev_book_free(book);
    store_free(s);
    if (e != CX_OK)
        return app_fail("risk", "train: %s", err[0] ? err : cx_strerror(e));
    const json_t *m = r.metrics;
    const json_t *val = json_object_get(m, "validation");
    if (o->json) {
        json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:f,s:b,s:O}", "model", r.model_id, "n_train",
                              (json_int_t)r.n_train, "n_fraud", (json_int_t)r.n_train_fraud,
                              "n_valid", (json_int_t)r.n_valid, "seconds", r.seconds, "active",
                              !o->no_activate, "validation", val);
        static const char *const keys[] = {"auc", "precision_at_1", "precision_at_5",
                                           "precision_at_10", "recall_at_5", "recall_at_10"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const json_t *v = json_object_get(m, keys[i]);
            json_object_set_new(j, keys[i], v ? json_deep_copy(v) : json_null());
        }
        char *t = cx_json_dump(j, NULL);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
    } else {
        printf("model %s: trained on %llu declaration items (%llu fraud) in %.1f s%s\n",
               r.model_id, (unsigned long long)r.n_train, (unsigned long long)r.n_train_fraud,
               r.seconds, o->no_activate ? "" : "; now active");
        const char *method = json_string_value(json_object_get(val, "method"));
        if (method && strcmp(method, "none") != 0) {
            char auc[16], p10[16], r10[16];
            fmt_metric(json_number_value(json_object_get(m, "auc")), auc, sizeof auc);
            fmt_metric(json_number_value(json_object_get(m, "precision_at_10")), p10,
                       sizeof p10);
            fmt_metric(json_number_value(json_object_get(m, "recall_at_10")), r10, sizeof r10);
            printf("measured on %llu later items (%s %s..%s): AUC %s, precision@10%% %s, "
                   "recall@10%% %s\n",
                   (unsigned long long)r.n_valid, method,
                   json_string_value(json_object_get(val, "from")),
                   json_string_value(json_object_get(val, "until")), auc, p10, r10);
        } else {
            printf("not measured: too few labelled declarations to hold some out\n");
        }
    }
    json_decref(r.metrics);
    return 0;
}

static void print_model(void *ctx, const risk_model_info *m)
{
    bool json = *(bool *)ctx;
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:I,s:I,s:b,s:o,s:o}", "id",
                              m->id, "created_at", m->created_at, "created_by", m->created_by,
                              "train_from", m->train_from, "train_until", m->train_until,
                              "valid_from", m->valid_from, "valid_until", m->valid_until,
                              "n_train", (json_int_t)m->n_train, "n_fraud",
                              (json_int_t)m->n_fraud, "active", m->active, "auc", jnum(m->auc),
                              "precision_at_10", jnum(m->precision_at_10));
        char *t = cx_json_dump(o, NULL);
        if (t)
            printf("%s\n", t);
        free(t);
        json_decref(o);
        return;
    }
    char auc[16], p10[16];
    fmt_metric(m->auc, auc, sizeof auc);
    fmt_metric(m->precision_at_10, p10, sizeof p10);
    printf("%-26s %-6s %-24s %-10s %-10s %8lld %7s %7s\n", m->id, m->active ? "active" : "",
           m->created_at, m->train_from ? m->train_from : "-",
           m->train_until ? m->train_until : "-", (long long)m->n_train, auc, p10);
}

static int risk__batch(risk_opts *o, const char *action, const char *file)
{
    char err[1024];
    store *s = NULL;
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail("risk", "%s", err);
    if (app_open_store(o->db, &s, err, sizeof err) != CX_OK)
        return app_fail("risk", "%s", err);
    bool eval = strcmp(action, "eval") == 0;
    FILE *out = stdout;
    /* --out FILE appears whole or not at all: written aside, renamed at the end */
    char tmp[4096] = "";
    if (!eval && o->out) {
        snprintf(tmp, sizeof tmp, "%s.partial", o->out);
        if (!(out = fopen(tmp, "w"))) {
            store_free(s);
            return app_fail("risk", "cannot write %s: %s", tmp, strerror(errno));
        }
    }
    risk_score_opts so = {.path = file, .format = o->format, .model = o->model, .out = out,
                          .policy = o->policy, .reasons = o->reasons, .progress = o->progress,
                          .nthread = o->threads, .rank_revenue = o->rank_revenue};
    rev_book *book;
    so.values = risk__values(s, &book);
    risk_score_result *r = calloc(1, sizeof *r);
    cx_err e = r ? CX_OK : CX_ENOMEM;
    err[0] = '\0';
    if (e == CX_OK)
        e = eval ? risk_eval_file(s, &so, r, err, sizeof err)
                 : risk_score_file(s, &so, r, err, sizeof err);
    rev_book_free(book);
    store_free(s);
    if (out != stdout && fclose(out) != 0 && e == CX_OK) {
        snprintf(err, sizeof err, "cannot write %s: %s", o->out, strerror(errno));
        e = CX_EIO;
    }
    if (out != stdout && e == CX_OK && rename(tmp, o->out) != 0) {
        snprintf(err, sizeof err, "cannot write %s: %s", o->out, strerror(errno));
        e = CX_EIO;
    }
    if (out != stdout && e != CX_OK)
        unlink(tmp);
    if (e != CX_OK) {
        free(r);
        return app_fail("risk", "%s: %s", action, err[0] ? err : cx_strerror(e));
    }
    int rc = r->skipped ? 3 : 0;
    if (!eval) {
        fprintf(stderr, "scored %llu rows with model %s%s", (unsigned long long)r->scored,
                r->model_id, r->skipped ? "" : "\n");
        if (r->skipped)
            fprintf(stderr, "; skipped %llu\n", (unsigned long long)r->skipped);
        free(r);
        return rc;
    }
    const risk_metrics *m = &r->metrics;
    if (o->json) {
        json_t *j = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "n", (json_int_t)m->n, "auc",
                              jnum(m->auc), "precision_at_1", jnum(m->precision_at_1),
                              "precision_at_5", jnum(m->precision_at_5), "precision_at_10",
                              jnum(m->precision_at_10), "recall_at_5", jnum(m->recall_at_5),
                              "recall_at_10", jnum(m->recall_at_10));
        json_object_set_new(j, "rank", json_string(o->rank_revenue ? "revenue" : "score"));
        json_object_set_new(j, "fraud_revenue", json_real(r->fraud_revenue));
        json_object_set_new(j, "revenue_recovered_at_1", json_real(r->recovered[0]));
        json_object_set_new(j, "revenue_recovered_at_5", json_real(r->recovered[1]));
        json_object_set_new(j, "revenue_recovered_at_10", json_real(r->recovered[2]));
        char *t = cx_json_dump(j, NULL);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
    } else {
        char v[7][16];
        fmt_metric(m->auc, v[0], 16);
        fmt_metric(m->precision_at_1, v[1], 16);
        fmt_metric(m->precision_at_5, v[2], 16);
        fmt_metric(m->precision_at_10, v[3], 16);
        fmt_metric(m->recall_at_5, v[4], 16);
        fmt_metric(m->recall_at_10, v[5], 16);
        printf("model %s on %s: %llu rows, %llu fraud (%.1f%%)\n", r->model_id, file,
               (unsigned long long)m->n, (unsigned long long)m->positives,
               m->n ? 100.0 * (double)m->positives / (double)m->n : 0.0);
        printf("AUC              %s\n", v[0]);
        printf("precision@1%%     %s\n", v[1]);
        printf("precision@5%%     %s\n", v[2]);
        printf("precision@10%%    %s\n", v[3]);
        printf("recall@5%%        %s\n", v[4]);
        printf("recall@10%%       %s\n", v[5]);
        /* DATE's measure: revenue of the frauds the inspections catch */
        static const char *const at[] = {"1%", "5%", "10%"};
        for (int k = 0; k < 3; k++)
            printf("revenue@%-3s      %.0f KRW (%.1f%% of %.0f KRW in fraud rows)\n", at[k],
                   r->recovered[k],
                   r->fraud_revenue > 0 ? 100.0 * r->recovered[k] / r->fraud_revenue : 0.0,
                   r->fraud_revenue);
        printf("ranked by        %s\n", o->rank_revenue ? "probability × revenue at risk (Item "
                                                         "Price × Tax Rate)"
                                                       : "probability");
    }
    if (o->plot) {
        char title[160];
        snprintf(title, sizeof title, "model %s: precision and recall (AUC %.3f, n = %llu)",
                 r->model_id, isfinite(m->auc) ? m->auc : 0.0, (unsigned long long)m->n);
        if (risk_plot_curve(o->plot, r->precision, r->recall, title, o->policy.inspect_rate, err,
                            sizeof err) != CX_OK) {
            free(r);
            return app_fail("risk", "eval: %s", err);
        }
        if (!o->json)
            printf("plot written to %s\n", o->plot);
    }
    free(r);
    return rc;
}

int app_cmd_risk(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},          {"until", required_argument, NULL, 'u'},
        {"valid-from", required_argument, NULL, 'v'},  {"rounds", required_argument, NULL, 'r'},
        {"max-depth", required_argument, NULL, 'D'},   {"eta", required_argument, NULL, 'e'},
        {"threads", required_argument, NULL, 't'},     {"no-activate", no_argument, NULL, 'N'},
        {"json", no_argument, NULL, 'j'},              {"model", required_argument, NULL, 'm'},
        {"format", required_argument, NULL, 'f'},      {"out", required_argument, NULL, 'o'},
        {"plot", required_argument, NULL, 'p'},        {"inspect-rate", required_argument, NULL, 'i'},
        {"yellow-rate", required_argument, NULL, 'y'}, {"reasons", no_argument, NULL, 'R'},
        {"no-progress", no_argument, NULL, 'P'},       {"help", no_argument, NULL, 'h'},
        {"rank", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0}};
    int shown = app_action_help(argc, argv, help);
    if (shown >= 0)
        return shown;
    const char *action = argv[1];
    static const app_action actions[] = {
        {"train", "db until valid-from rounds max-depth eta threads no-activate json no-progress"},
        {"models", "db json"},
        {"activate", "db"},
        {"score", "db model format out inspect-rate yellow-rate reasons threads no-progress"},
        {"eval", "db model format json plot inspect-rate yellow-rate threads no-progress rank"},
        {"export", "db model out"},
        {"import", "db"},
        {NULL, NULL}};
    char cmd[32];
    const char *only = app_action_options(actions, "risk", action, cmd, sizeof cmd);
    if (!only)
        return app_usage("risk", "unknown action '%s' (train, models, activate, score, eval, "
                                 "export or import)", action);
    risk_opts o = {.policy = {10, 15, 0}, .progress = true};
    int64_t n;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc - 1, argv + 1, opts, only, cmd)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'u': o.until = optarg; break;
        case 'v': o.valid_from = optarg; break;
        case 'r':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 10000)
                return app_usage("risk", "--rounds must be 1 to 10000");
            o.rounds = (int)n;
            break;
        case 'D':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 16)
                return app_usage("risk", "--max-depth must be 1 to 16");
            o.max_depth = (int)n;
            break;
        case 'e':
            if (!cx_parse_double(optarg, &o.eta) || !(o.eta > 0) || o.eta > 1)
                return app_usage("risk", "--eta must be a number above 0 and at most 1");
            break;
        case 't':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 256)
                return app_usage("risk", "--threads must be 1 to 256");
            o.threads = (int)n;
            break;
        case 'N': o.no_activate = true; break;
        case 'j': o.json = true; break;
        case 'm': o.model = optarg; break;
        case 'f': o.format = optarg; break;
        case 'o': o.out = optarg; break;
        case 'p': o.plot = optarg; break;
        case 'K':
            if (strcmp(optarg, "score") && strcmp(optarg, "revenue"))
                return app_usage("risk", "--rank must be score or revenue");
            o.rank_revenue = strcmp(optarg, "revenue") == 0;
            break;
        case 'i':
            if (!parse_rate(optarg, &o.policy.inspect_rate))
                return app_usage("risk", "--inspect-rate must be a percentage from 0 to 100");
            break;
        case 'y':
            if (!parse_rate(optarg, &o.policy.yellow_rate))
                return app_usage("risk", "--yellow-rate must be a percentage from 0 to 100");
            break;
        case 'R': o.reasons = true; break;
        case 'P': o.progress = false; break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    if (!o.db)
        return app_usage("risk", "--db PATH is required");
    if (o.format && strcmp(o.format, "kcs") != 0)
        return app_usage("risk", "--format must be kcs (the only format with outcomes)");
    if (strcmp(action, "train") == 0) {
        if (rest)
            return app_usage("risk", "train takes no FILE");
        return risk__train(&o);
    }
    if (strcmp(action, "score") == 0 || strcmp(action, "eval") == 0) {
        if (rest != 1)
            return app_usage("risk", "%s takes exactly one FILE", action);
        return risk__batch(&o, action, args[0]);
    }
    char err[1024];
    store *s = NULL;
    if ((strcmp(action, "import") == 0 || strcmp(action, "activate") == 0) && rest != 1)
        return app_usage("risk", "%s takes exactly one %s", action,
                         action[0] == 'i' ? "FILE" : "model ID");
    if ((strcmp(action, "models") == 0 || strcmp(action, "export") == 0) && rest)
        return app_usage("risk", "%s takes no arguments", action);
    if (app_open_store(o.db, &s, err, sizeof err) != CX_OK)
        return app_fail("risk", "%s", err);
    int rc = 0;
    if (strcmp(action, "models") == 0) {
        if (!o.json)
            printf("%-26s %-6s %-24s %-10s %-10s %8s %7s %7s\n", "ID", "", "CREATED", "FROM",
                   "UNTIL", "ITEMS", "AUC", "P@10%");
        if (risk_models_list(s, print_model, &o.json) != CX_OK)
            rc = app_fail("risk", "cannot read the model registry");
    } else if (strcmp(action, "activate") == 0) {
        cx_err e = risk_model_activate(s, args[0], "customs risk activate", err, sizeof err);
        if (e != CX_OK)
            rc = app_fail("risk", "activate: %s", err);
        else
            fprintf(stderr, "model %s is now active\n", args[0]);
    } else if (strcmp(action, "export") == 0) {
        FILE *out = o.out ? fopen(o.out, "w") : stdout;
        if (!out) {
            rc = app_fail("risk", "cannot write %s: %s", o.out, strerror(errno));
        } else {
            if (risk_model_export(s, o.model, out, err, sizeof err) != CX_OK)
                rc = app_fail("risk", "export: %s", err);
            if (out != stdout && fclose(out) != 0 && rc == 0)
                rc = app_fail("risk", "cannot write %s: %s", o.out, strerror(errno));
        }
    } else if (strcmp(action, "import") == 0) {
        FILE *in = fopen(args[0], "rb");
        char id[CX_ID_LEN + 1];
        if (!in) {
            rc = app_fail("risk", "cannot open %s: %s", args[0], strerror(errno));
        } else {
            if (decl_refdata_load(NULL, err, sizeof err) != CX_OK ||
                risk_model_import(s, in, args[0], id, err, sizeof err) != CX_OK)
                rc = app_fail("risk", "import: %s", err);
            else
                printf("%s\n", id);
            fclose(in);
        }
    }
    store_free(s);
    return rc;
}
