/* customs tariff import|preferences|groups and customs rates import: load the
 * revenue module's CSV files, all or nothing, every problem with its line. */
#include "app.h"

#include "declare.h"
#include "revenue.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char tariff_help[] =
    "Usage:\n"
    "  customs tariff import      --db PATH FILE.csv\n"
    "  customs tariff preferences --db PATH FILE.csv\n"
    "  customs tariff groups      --db PATH FILE.csv\n"
    "\n"
    "Loads the tariff of the revenue module (docs/revenue.md). Every row is\n"
    "checked and every problem printed as FILE:LINE: column: message; if there\n"
    "is any, nothing is stored (exit 3). Rows are versioned by validity dates: a\n"
    "row with the code and valid_from of a stored one replaces it, a stored\n"
    "open-ended version is ended the day before a newer one starts, any other\n"
    "overlap is refused. A running server picks the new tariff up at once.\n"
    "\n"
    "Files (RFC 4180 CSV with a header; columns in any order):\n"
    "  import       hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,specific_amount,\n"
    "               specific_unit,excise_pct,vat_pct,description\n"
    "               duty_type: ad_valorem, specific, compound, max_of, min_of\n"
    "  preferences  hs_code,origin,ad_valorem_pct,requires_certificate,valid_from,valid_to\n"
    "               origin: an ISO country or a group; requires_certificate: yes|no\n"
    "  groups       group,country (each group named replaces its members)\n"
    "\n"
    "Options:\n"
    "  --db PATH   SQLite database file (created and migrated if needed)\n"
    "\n"
    "Example:\n"
    "  customs tariff groups --db var/customs.db data/revenue/demo/groups.csv\n"
    "  customs tariff import --db var/customs.db data/revenue/demo/tariff.csv\n";

static const char rates_help[] =
    "Usage:\n"
    "  customs rates import --db PATH [--currency CODE] FILE.csv\n"
    "\n"
    "Loads exchange rates: columns date,currency,rate, where rate is units of the\n"
    "national currency per unit of currency. An assessment uses the latest rate on\n"
    "or before the declaration's date; a payment the latest on or before its\n"
    "paid_at date. A row for a (currency, date) already stored replaces it. All or\n"
    "nothing, every problem with its line (exit 3). The national currency itself\n"
    "is set once: --currency CODE here, or customs serve --currency CODE.\n"
    "\n"
    "Options:\n"
    "  --db PATH         SQLite database file (created and migrated if needed)\n"
    "  --currency CODE   the national currency (ISO 4217), set once\n"
    "\n"
    "Example:\n"
    "  customs rates import --db var/customs.db data/revenue/demo/rates.csv\n";

static void tariff__print_problems(const char *file, const json_t *problems, size_t count)
{
    size_t i;
    const json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *col = json_string_value(json_object_get(p, "column"));
        fprintf(stderr, "%s:%lld: %s%s%s\n", file,
                (long long)json_integer_value(json_object_get(p, "line")), col ? col : "",
                col ? ": " : "", json_string_value(json_object_get(p, "message")));
    }
    if (count > json_array_size(problems))
        fprintf(stderr, "%s: … and %zu more problems\n", file, count - json_array_size(problems));
}

static int tariff__load(const char *cmd, rev_import_kind kind, const char *db, const char *file)
{
    char err[512];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail(cmd, "%s", err);
    FILE *f = fopen(file, "rb");
    if (!f)
        return app_fail(cmd, "cannot open %s", file);
    json_t *problems = json_array();
    size_t count = 0;
    rev_rows *rows = NULL;
    cx_err e = rev_rows_parse(kind, f, &rows, problems, &count);
    fclose(f);
    if (e == CX_EINVAL) {
        tariff__print_problems(file, problems, count);
        fprintf(stderr, "customs %s: %zu problem%s in %s: nothing was stored\n", cmd, count,
                count == 1 ? "" : "s", file);
        json_decref(problems);
        return 3;
    }
    if (e != CX_OK) {
        json_decref(problems);
        return app_fail(cmd, "cannot read %s: %s", file, cx_strerror(e));
    }
    store *s = NULL;
    if (app_open_store(db, &s, err, sizeof err) != CX_OK) {
        rev_rows_free(rows);
        json_decref(problems);
        return app_fail(cmd, "%s", err);
    }
    rev_import_result res;
    e = rev_rows_store(s, rows, file, &res, problems);
    store_free(s);
    rev_rows_free(rows);
    int rc = 0;
    if (e == CX_EINVAL) {
        tariff__print_problems(file, problems, json_array_size(problems));
        fprintf(stderr, "customs %s: %zu problem%s against the stored tariff: nothing was "
                        "stored\n",
                cmd, json_array_size(problems), json_array_size(problems) == 1 ? "" : "s");
        rc = 3;
    } else if (e != CX_OK) {
        rc = app_fail(cmd, "cannot store %s: %s", file, cx_strerror(e));
    } else {
        printf("%s: %llu rows: %llu new, %llu replaced, %llu open versions ended\n", file,
               (unsigned long long)res.rows, (unsigned long long)res.inserted,
               (unsigned long long)res.replaced, (unsigned long long)res.closed);
    }
    json_decref(problems);
    return rc;
}

/* rates import --currency CODE: the national currency, set once (as
 * customs serve --currency sets it). */
static int tariff__currency(const char *cmd, const char *db, const char *code)
{
    char err[512], have[4] = "";
    store *s = NULL;
    if (rev_minor_load(NULL, err, sizeof err) != CX_OK ||
        app_open_store(db, &s, err, sizeof err) != CX_OK)
        return app_fail(cmd, "%s", err);
    cx_err e = rev_currency_set(s, code, have);
    store_free(s);
    if (e == CX_EEXIST)
        return app_fail(cmd, "the database's national currency is %s; it is set once and cannot "
                             "become %s", have, code);
    if (e == CX_EINVAL)
        return app_usage(cmd, "--currency %s is not an ISO 4217 currency with a minor unit", code);
    if (e != CX_OK)
        return app_fail(cmd, "cannot store the national currency: %s", cx_strerror(e));
    printf("national currency: %s\n", code);
    return 0;
}

/* ACTION --db PATH FILE, for both commands. */
static int tariff__run(const char *cmd, const char *help, int argc, char **argv,
                       const char *const *actions, const rev_import_kind *kinds)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"currency", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int shown = app_action_help(argc, argv, help);
    if (shown >= 0)
        return shown;
    size_t k;
    for (k = 0; actions[k] && strcmp(actions[k], argv[1]) != 0; k++)
        ;
    if (!actions[k])
        return app_usage(cmd, "unknown action '%s'", argv[1]);
    char name[64];
    snprintf(name, sizeof name, "%s %s", cmd, actions[k]);
    const char *db = NULL, *currency = NULL;
    bool rates = kinds[k] == REV_IMPORT_RATES;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc - 1, argv + 1, opts, rates ? "db currency" : "db", name)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'c': currency = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    if (!db)
        return app_usage(cmd, "--db PATH is required");
    if (argc - 1 - optind != 1)
        return app_usage(cmd, "%s takes one CSV file", actions[k]);
    char err[512];
    if (currency && (decl_refdata_load(NULL, err, sizeof err) != CX_OK ||
                     rev_minor_load(NULL, err, sizeof err) != CX_OK ||
                     !decl_currency_valid(currency) || rev_minor_unit(currency) < 0))
        return app_usage(cmd, "--currency %s is not an ISO 4217 currency with a minor unit",
                         currency); /* before anything is stored */
    int rc = tariff__load(cmd, kinds[k], db, argv[1 + optind]);
    return rc == 0 && currency ? tariff__currency(cmd, db, currency) : rc;
}

int app_cmd_tariff(int argc, char **argv)
{
    static const char *const actions[] = {"import", "preferences", "groups", NULL};
    static const rev_import_kind kinds[] = {REV_IMPORT_TARIFF, REV_IMPORT_PREFERENCES,
                                            REV_IMPORT_GROUPS};
    return tariff__run("tariff", tariff_help, argc, argv, actions, kinds);
}

int app_cmd_rates(int argc, char **argv)
{
    static const char *const actions[] = {"import", NULL};
    static const rev_import_kind kinds[] = {REV_IMPORT_RATES};
    return tariff__run("rates", rates_help, argc, argv, actions, kinds);
}
