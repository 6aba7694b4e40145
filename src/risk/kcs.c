/* The KCS import format: the Korea Customs Service declaration layout (one
 * row = one declaration with one item), with the inspection outcome of each
 * declaration in Fraud / Critical Fraud. Rows become declarations validated
 * exactly like a JSON submission; outcomes are stored by the after-hook in
 * the declaration's own savepoint, so a declaration and its outcome are
 * written together or not at all. */
#include "risk_int.h"

#include <stdlib.h>
#include <string.h>

#define KCS_MAX_FIELD 4096

const char *const risk__kcs_columns[KCS__COUNT] = {
    "Declaration ID", "Date", "Office ID", "Process Type", "Import Type", "Import Use",
    "Payment Type", "Mode of Transport", "Declarant ID", "Importer ID", "Seller ID",
    "Courier ID", "HS6 Code", "Country of Departure", "Country of Origin", "Tax Rate",
    "Tax Type", "Country of Origin Indicator", "Net Mass", "Item Price", "Fraud",
    "Critical Fraud", "Currency",
};

/* Where each column lands in the declaration (JSON Pointer), so that the
 * validator's problems can name the column as well. */
static const char *const kcs_paths[KCS__COUNT] = {
    "/reference", "/date", "/office", "/procedure/process_type", "/procedure/import_type",
    "/procedure/import_use", "/procedure/payment_type", "/transport_mode", "/declarant_id",
    "/importer_id", "/seller_id", "/courier_id", "/items/0/hs_code", "/country_of_departure",
    "/items/0/country_of_origin", "/items/0/tax_rate", "/items/0/tax_type",
    "/items/0/origin_indicator", "/items/0/net_mass_kg", "/items/0/value", "", "",
    "/items/0/currency",
};

cx_err risk__kcs_header(char **f, size_t n, risk_kcs_header *h, char *err, size_t errlen)
{
    for (int k = 0; k < KCS__COUNT; k++)
        h->map[k] = -1;
    h->width = n;
    h->labels = false;
    for (size_t i = 0; i < n; i++) {
        const char *name = f[i];
        if (i == 0 && (unsigned char)name[0] == 0xEF && (unsigned char)name[1] == 0xBB &&
            (unsigned char)name[2] == 0xBF)
            name += 3; /* UTF-8 byte order mark */
        int k;
        for (k = 0; k < KCS__COUNT; k++)
            if (strcmp(risk__kcs_columns[k], name) == 0)
                break;
        if (k == KCS__COUNT) {
            snprintf(err, errlen,
                     "line 1: unknown column \"%.80s\": not a KCS header (expected "
                     "Declaration ID, Date, Office ID, … Item Price[, Fraud, Critical Fraud, "
                     "Currency])",
                     name);
            return CX_EINVAL;
        }
        if (h->map[k] >= 0) {
            snprintf(err, errlen, "line 1: column \"%s\" appears twice", name);
            return CX_EINVAL;
        }
        h->map[k] = (int)i;
    }
    for (int k = 0; k < KCS_FRAUD; k++)
        if (h->map[k] < 0) {
            snprintf(err, errlen, "line 1: required KCS column \"%s\" is missing",
                     risk__kcs_columns[k]);
            return CX_EINVAL;
        }
    if (h->map[KCS_CRITICAL] >= 0 && h->map[KCS_FRAUD] < 0) {
        snprintf(err, errlen, "line 1: column \"Critical Fraud\" needs the \"Fraud\" column");
        return CX_EINVAL;
    }
    h->labels = h->map[KCS_FRAUD] >= 0;
    return CX_OK;
}

static const char *kcs__cell(const risk_kcs_header *h, char **f, int k)
{
    return h->map[k] >= 0 ? f[h->map[k]] : "";
}

static bool kcs__number(const char *s, double *out)
{
    return s[0] && cx_parse_double(s, out) && isfinite(*out);
}

static bool kcs__code(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/' || c == ':'))
            return false;
    }
    return true;
}

/* The outcome columns: Fraud 0/1; Critical Fraud 0 none, 1 fraud, 2 critical. */
static bool kcs__labels(const char *fs, const char *cs, int *fraud, int *critical, char *msg,
                        size_t msglen)
{
    *fraud = *critical = -1;
    if (!fs[0] && !cs[0])
        return true; /* not inspected */
    if (strcmp(fs, "0") == 0 || strcmp(fs, "0.0") == 0)
        *fraud = 0;
    else if (strcmp(fs, "1") == 0 || strcmp(fs, "1.0") == 0)
        *fraud = 1;
    else {
        snprintf(msg, msglen, "column Fraud: must be 0 or 1, not \"%.40s\"", fs);
        return false;
    }
    if (!cs[0]) {
        *critical = 0;
    } else if (cs[0] >= '0' && cs[0] <= '2' && (!cs[1] || strcmp(cs + 1, ".0") == 0)) {
        *critical = cs[0] - '0';
    } else {
        snprintf(msg, msglen, "column Critical Fraud: must be 0, 1 or 2, not \"%.40s\"", cs);
        return false;
    }
    if (*fraud == 0 && *critical > 0) {
        snprintf(msg, msglen, "column Critical Fraud: is %d but Fraud is 0", *critical);
        return false;
    }
    if (*fraud == 1 && *critical == 0)
        *critical = 1;
    return true;
}

/* Item Price's currency: the Currency column when there is one. */
static const char *kcs__currency(const risk_kcs_header *h, char **f)
{
    const char *cur = kcs__cell(h, f, KCS_CURRENCY);
    return cur[0] ? cur : "KRW";
}

bool risk__kcs_row(const risk_kcs_header *h, char **f, size_t n, risk_case *c,
                   const char **currency, int *fraud, int *critical, char *msg, size_t msglen)
{
    memset(c, 0, sizeof *c);
    *currency = "KRW";
    *fraud = *critical = -1;
    if (n != h->width) {
        snprintf(msg, msglen, "the row has %zu cells; the header has %zu", n, h->width);
        return false;
    }
    c->reference = kcs__cell(h, f, KCS_ID);
    size_t rl = strlen(c->reference);
    if (rl < 1 || rl > 64 || !kcs__code(c->reference, 64)) {
        snprintf(msg, msglen, "column Declaration ID: must be 1 to 64 characters of A-Z a-z "
                              "0-9 . _ / -");
        return false;
    }
    if (!risk__day(kcs__cell(h, f, KCS_DATE), &c->day)) {
        snprintf(msg, msglen, "column Date: must be a real calendar date written YYYY-MM-DD");
        return false;
    }
    c->office = kcs__cell(h, f, KCS_OFFICE);
    c->declarant = kcs__cell(h, f, KCS_DECLARANT);
    c->importer = kcs__cell(h, f, KCS_IMPORTER);
    c->seller = kcs__cell(h, f, KCS_SELLER);
    c->courier = kcs__cell(h, f, KCS_COURIER);
    c->transport = kcs__cell(h, f, KCS_TRANSPORT);
    c->tax_type = kcs__cell(h, f, KCS_TAX_TYPE);
    static const int codes[] = {KCS_OFFICE, KCS_DECLARANT, KCS_IMPORTER, KCS_SELLER,
                                KCS_COURIER, KCS_TRANSPORT, KCS_TAX_TYPE};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (!kcs__code(kcs__cell(h, f, codes[i]), 64)) {
            snprintf(msg, msglen, "column %s: must be a code of letters, digits and . _ / : -",
                     risk__kcs_columns[codes[i]]);
            return false;
        }
    c->hs6 = kcs__cell(h, f, KCS_HS6);
    if (strlen(c->hs6) != 6 || strspn(c->hs6, "0123456789") != 6) {
        size_t hl = strlen(c->hs6);
        if (hl == 5 && strspn(c->hs6, "0123456789") == 5)
            snprintf(msg, msglen, "column HS6 Code: \"%s\" has 5 digits; HS6 codes keep their "
                                  "leading zero (0%s?)", c->hs6, c->hs6);
        else
            snprintf(msg, msglen, "column HS6 Code: must be exactly 6 digits, not \"%.20s\"",
                     c->hs6);
        return false;
    }
    c->origin = kcs__cell(h, f, KCS_ORIGIN);
    c->departure = kcs__cell(h, f, KCS_DEPARTURE);
    if (!decl_country_valid(c->origin)) {
        snprintf(msg, msglen, "column Country of Origin: \"%.20s\" is not an ISO 3166-1 "
                              "alpha-2 code (ZZ = unknown)", c->origin);
        return false;
    }
    if (c->departure[0] && !decl_country_valid(c->departure)) {
        snprintf(msg, msglen, "column Country of Departure: \"%.20s\" is not an ISO 3166-1 "
                              "alpha-2 code (ZZ = unknown)", c->departure);
        return false;
    }
    const char *tr = kcs__cell(h, f, KCS_TAX_RATE);
    c->tax_rate = NAN;
    if (tr[0] && (!kcs__number(tr, &c->tax_rate) || c->tax_rate < 0 || c->tax_rate > 1000)) {
        snprintf(msg, msglen, "column Tax Rate: must be a percentage from 0 to 1000");
        return false;
    }
    if (!kcs__number(kcs__cell(h, f, KCS_MASS), &c->mass) || c->mass < 0) {
        snprintf(msg, msglen, "column Net Mass: must be a number of kilograms, 0 or more");
        return false;
    }
    if (!kcs__number(kcs__cell(h, f, KCS_PRICE), &c->value) || c->value < 0) {
        snprintf(msg, msglen, "column Item Price: must be an amount, 0 or more");
        return false;
    }
    *currency = kcs__currency(h, f);
    if (!decl_currency_valid(*currency)) {
        snprintf(msg, msglen, "column Currency: \"%.20s\" is not an ISO 4217 currency code",
                 *currency);
        return false;
    }
    c->label = -1;
    if (h->labels) {
        if (!kcs__labels(kcs__cell(h, f, KCS_FRAUD), kcs__cell(h, f, KCS_CRITICAL), fraud,
                         critical, msg, msglen))
            return false;
        c->label = (int8_t)*fraud;
    }
    return true;
}

/* ---- the import reader -------------------------------------------------------- */

typedef struct {
    decl_import_run *run;
    decl_emit_fn emit;
    risk_kcs_header h;
    bool header_done;
    char header_err[512];
    bool go;
} kcs_ctx;

static json_t *kcs__num_or_string(const char *s)
{
    double d;
    int64_t i;
    if (strspn(s, "-0123456789") == strlen(s) && cx_parse_i64(s, &i))
        return json_integer(i);
    if (kcs__number(s, &d))
        return json_real(d);
    return json_string(s); /* the validator says "must be a number" */
}

static void kcs__set(json_t *obj, const char *member, const char *cell)
{
    if (cell[0])
        json_object_set_new(obj, member, json_string(cell));
}

/* The declaration of one KCS row, mapped as docs/risk.md says. */
static json_t *kcs__doc(const risk_kcs_header *h, char **f)
{
    json_t *doc = json_object();
    json_t *proc = json_object();
    json_t *item = json_object();
    kcs__set(doc, "reference", kcs__cell(h, f, KCS_ID));
    json_object_set_new(doc, "type", json_string("import"));
    kcs__set(doc, "date", kcs__cell(h, f, KCS_DATE));
    kcs__set(doc, "office", kcs__cell(h, f, KCS_OFFICE));
    kcs__set(doc, "declarant_id", kcs__cell(h, f, KCS_DECLARANT));
    kcs__set(doc, "importer_id", kcs__cell(h, f, KCS_IMPORTER));
    kcs__set(doc, "seller_id", kcs__cell(h, f, KCS_SELLER));
    kcs__set(doc, "courier_id", kcs__cell(h, f, KCS_COURIER));
    kcs__set(doc, "country_of_departure", kcs__cell(h, f, KCS_DEPARTURE));
    kcs__set(doc, "transport_mode", kcs__cell(h, f, KCS_TRANSPORT));
    kcs__set(proc, "process_type", kcs__cell(h, f, KCS_PROCESS));
    kcs__set(proc, "import_type", kcs__cell(h, f, KCS_IMPORT_TYPE));
    kcs__set(proc, "import_use", kcs__cell(h, f, KCS_IMPORT_USE));
    kcs__set(proc, "payment_type", kcs__cell(h, f, KCS_PAYMENT));
    if (json_object_size(proc))
        json_object_set(doc, "procedure", proc);
    json_decref(proc);
    kcs__set(item, "hs_code", kcs__cell(h, f, KCS_HS6));
    kcs__set(item, "country_of_origin", kcs__cell(h, f, KCS_ORIGIN));
    kcs__set(item, "origin_indicator", kcs__cell(h, f, KCS_ORIGIN_IND));
    const char *cell = kcs__cell(h, f, KCS_MASS);
    if (cell[0])
        json_object_set_new(item, "net_mass_kg", kcs__num_or_string(cell));
    cell = kcs__cell(h, f, KCS_PRICE);
    if (cell[0])
        json_object_set_new(item, "value", kcs__num_or_string(cell));
    json_object_set_new(item, "currency", json_string(kcs__currency(h, f)));
    cell = kcs__cell(h, f, KCS_TAX_RATE);
    if (cell[0])
        json_object_set_new(item, "tax_rate", kcs__num_or_string(cell));
    kcs__set(item, "tax_type", kcs__cell(h, f, KCS_TAX_TYPE));
    json_t *items = json_array();
    json_array_append_new(items, item);
    json_object_set_new(doc, "items", items);
    return doc;
}

/* Adds the KCS column to each problem the validator found. */
static void kcs__name_columns(json_t *problems)
{
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p)
    {
        const char *path = json_string_value(json_object_get(p, "path"));
        if (!path || json_object_get(p, "column"))
            continue;
        for (int k = 0; k < KCS_FRAUD; k++)
            if (strcmp(kcs_paths[k], path) == 0) {
                json_object_set_new(p, "column", json_string(risk__kcs_columns[k]));
                break;
            }
    }
}

static bool kcs__row_cb(void *ctx, char **f, size_t n, uint64_t line, uint64_t offset)
{
    kcs_ctx *x = ctx;
    if (!x->header_done) {
        if (risk__kcs_header(f, n, &x->h, x->header_err, sizeof x->header_err) != CX_OK)
            return false;
        x->header_done = true;
        return true;
    }
    decl_import_progress(x->run, offset);
    if (n != x->h.width) {
        json_t *p = json_array();
        cx_problem_add(p, "", "the row has %zu cells; the header has %zu", n, x->h.width);
        const char *ref = x->h.map[KCS_ID] < (int)n ? f[x->h.map[KCS_ID]] : "";
        json_t *stub = ref[0] ? json_pack("{s:s}", "reference", ref) : NULL;
        x->go = x->emit(x->run, stub, line, p, NULL) && x->go;
        return x->go;
    }
    json_t *doc = kcs__doc(&x->h, f);
    json_t *problems = json_array();
    decl_validate(doc, problems);
    const char *hs = kcs__cell(&x->h, f, KCS_HS6);
    if (strlen(hs) != 6 || strspn(hs, "0123456789") != 6) {
        /* KCS codes are HS6 exactly: this says more than the generic rule */
        for (size_t i = json_array_size(problems); i-- > 0;)
            if (strcmp(json_string_value(json_object_get(json_array_get(problems, i), "path")),
                       "/items/0/hs_code") == 0)
                json_array_remove(problems, i);
        char msg[128];
        snprintf(msg, sizeof msg, "must be exactly 6 digits%s",
                 strlen(hs) == 5 && strspn(hs, "0123456789") == 5 ? " (a leading zero was lost?)"
                                                                  : "");
        json_t *p = json_pack("{s:s,s:s,s:s}", "path", "/items/0/hs_code", "message", msg,
                              "column", "HS6 Code");
        json_array_insert_new(problems, 0, p);
    }
    json_t *extra = NULL;
    if (x->h.labels) {
        int fraud, critical;
        char msg[160];
        if (!kcs__labels(kcs__cell(&x->h, f, KCS_FRAUD), kcs__cell(&x->h, f, KCS_CRITICAL),
                         &fraud, &critical, msg, sizeof msg)) {
            const char *colon = strchr(msg, ':');
            const char *column =
                strncmp(msg, "column Fraud:", 13) == 0 ? "Fraud" : "Critical Fraud";
            json_t *p = cx_problem_add(problems, "", "%s", colon ? colon + 2 : msg);
            json_object_set_new(p, "column", json_string(column));
        } else if (fraud >= 0) {
            extra = json_pack("{s:b,s:b}", "fraud", fraud == 1, "critical", critical == 2);
        }
    }
    kcs__name_columns(problems);
    if (json_array_size(problems) == 0) {
        json_decref(problems);
        problems = NULL;
    }
    x->go = x->emit(x->run, doc, line, problems, extra) && x->go;
    return x->go;
}

/* After-hook: the declaration's historical inspection outcome. */
static cx_err kcs__after(void *ctx, store_conn *w, int64_t seq, const json_t *doc,
                         const json_t *extra)
{
    (void)ctx;
    if (!json_is_object(extra))
        return CX_OK;
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    risk_inspection in = {
        .seq = seq,
        .fraud = json_is_true(json_object_get(extra, "fraud")),
        .critical = json_is_true(json_object_get(extra, "critical")),
        .revenue = NAN,
        .notes = NULL,
        .source = "kcs",
        .by_org = json_string_value(json_object_get(doc, "org")),
        .by_role = "import",
        .by_key = 0,
        .at = now,
    };
    return risk__inspection_insert(w, &in);
}

static cx_err kcs__reader(FILE *f, decl_import_run *run, decl_emit_fn emit, char *err,
                          size_t errlen)
{
    kcs_ctx x = {.run = run, .emit = emit, .go = true};
    /* KCS files are past trade: history for training, not open work */
    decl_import_set_historical(run);
    decl_import_set_after(run, kcs__after, NULL);
    uint64_t line = 0;
    cx_err e = cx_csv_read(f, KCS_MAX_FIELD, kcs__row_cb, &x, &line);
    if (x.header_err[0]) {
        snprintf(err, errlen, "%s", x.header_err);
        return CX_EINVAL;
    }
    if (e == CX_EPARSE || e == CX_ETOOBIG) {
        snprintf(err, errlen, "line %llu: %s", (unsigned long long)line,
                 e == CX_ETOOBIG ? "a cell is longer than 4096 bytes or a row has too many cells"
                                 : "malformed CSV (unbalanced quotes?)");
        return e;
    }
    if (e != CX_OK) {
        snprintf(err, errlen, "%s", cx_strerror(e));
        return e;
    }
    if (!x.header_done) {
        snprintf(err, errlen, "the file is empty: expected the KCS header line");
        return CX_EINVAL;
    }
    return CX_OK;
}

cx_err risk_kcs_register(void)
{
    return decl_import_register("kcs", kcs__reader);
}
