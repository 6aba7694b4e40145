/* The shape of every entry body: a small table-driven schema, each problem
 * reported with its JSON Pointer, in the style of the declarations API. */
#include "ledger_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SC_PATH 160
#define SC_MAX_PROBLEMS 100

typedef enum {
    S_ID,        /* 1..max of A-Z a-z 0-9 . _ / : - */
    S_ORG,       /* cx_org_valid */
    S_TEXT,      /* 1..max characters, no control characters */
    S_DATE,      /* YYYY-MM-DD */
    S_TIME,      /* RFC 3339 */
    S_COUNTRY,   /* ISO 3166-1 alpha-2 */
    S_CURRENCY,  /* ISO 4217 */
    S_HEX32,     /* 64 lowercase hex digits */
    S_KEY,       /* base64 of 32 bytes */
    S_SIG,       /* base64 of 64 bytes */
    S_STRING,    /* any string; checked by the caller */
    S_AMOUNT,    /* number in (0, max] */
    S_INT,       /* integer in [min, max] */
    S_ENUM,      /* one of enums */
    S_ROLE,      /* a member role */
    S_CONTAINER, /* ISO 6346 */
    S_LOCODE,    /* UN/LOCODE: 2 letters + 3 letters or digits 2-9 */
    S_HS,        /* min..max digits */
    S_OBJECT,    /* sub fields */
    S_ARRAY,     /* of elem, min..max items, unique if flagged */
    S_FIELDS,    /* anchor commitments: JSON Pointer -> hex */
    S_POLICIES,  /* type name -> policy */
    S_ORIGIN,    /* checkpoint origin line */
    S_B64URL,    /* min..max characters of URL-safe base64 without padding */
} skind;

typedef struct sfield {
    const char *name;
    skind kind;
    bool required;
    double min, max;
    const struct sfield *sub; /* S_OBJECT: fields (NULL-name terminated); S_ARRAY: element */
    const char *const *enums;
    bool unique;
} sfield;

static bool sc__charset(const char *s, const char *extra)
{
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              (extra && strchr(extra, ch))))
            return false;
    }
    return true;
}

bool ledger__id_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n >= 1 && n <= max && sc__charset(s, "._/:-");
}

static bool sc__text_ok(const char *s, size_t len, size_t max)
{
    size_t chars;
    if (!cx_utf8_count(s, len, &chars) || chars < 1 || chars > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

bool ledger__origin_valid(const char *s);
bool ledger__origin_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > LEDGER_ORIGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '+')
            return false;
    }
    return true;
}

static bool sc__is_hex32(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void sc__value(cx_problems *c, const sfield *f, const json_t *v, const char *path);

static const char *sc__str(cx_problems *c, const json_t *v, const char *path)
{
    if (!json_is_string(v)) {
        cx_problems_add(c, path, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

static void sc__object(cx_problems *c, const sfield *fields, const json_t *obj, const char *path)
{
    if (!json_is_object(obj)) {
        cx_problems_add(c, path[0] ? path : "", "must be an object");
        return;
    }
    const char *key;
    json_t *val;
    char p[SC_PATH];
    json_object_foreach((json_t *)obj, key, val)
    {
        const sfield *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        snprintf(p, sizeof p, "%s", path);
        cx_jptr_push(p, sizeof p, key);
        if (!f->name) {
            cx_problems_add(c, p, "unknown field");
            continue;
        }
        if (json_is_null(val)) {
            cx_problems_add(c, p, "must not be null; leave the field out instead");
            continue;
        }
        sc__value(c, f, val, p);
    }
    for (const sfield *f = fields; f->name; f++)
        if (f->required && !json_object_get(obj, f->name)) {
            snprintf(p, sizeof p, "%s", path);
            cx_jptr_push(p, sizeof p, f->name);
            cx_problems_add(c, p, "is required");
        }
}

/* Anchor commitments: {"/json/pointer": "hex"}; names are pointers into
 * the declaration, checked for the RFC 6901 escape rules. */
static void sc__fields(cx_problems *c, const sfield *f, const json_t *v, const char *path)
{
    if (!json_is_object(v)) {
        cx_problems_add(c, path, "must be an object of JSON Pointer to hex commitment");
        return;
    }
    size_t n = json_object_size(v);
    if (n < (size_t)f->min || n > (size_t)f->max) {
        cx_problems_add(c, path, "must hold %g to %g fields", f->min, f->max);
        return;
    }
    const char *key;
    json_t *val;
    char p[SC_PATH];
    json_object_foreach((json_t *)v, key, val)
    {
        snprintf(p, sizeof p, "%s", path);
        cx_jptr_push(p, sizeof p, key);
        bool ok = key[0] == '/' && strlen(key) <= 256 && sc__text_ok(key, strlen(key), 256);
        for (const char *t = key; ok && *t; t++)
            if (*t == '~' && t[1] != '0' && t[1] != '1')
                ok = false;
        if (!ok)
            cx_problems_add(
                c, p, "name must be a JSON Pointer into the declaration, e.g. /items/0/value");
        else if (!sc__is_hex32(json_string_value(val)))
            cx_problems_add(c, p, "must be a commitment: 64 lowercase hex digits");
    }
}

static const sfield policy_req_fields[] = {
    {"role", S_ROLE, true, 0, 0, NULL, NULL, false},
    {"min", S_INT, true, 1, LEDGER_MAX_SIGNATURES, NULL, NULL, false},
    {NULL, 0, false, 0, 0, NULL, NULL, false},
};
static const sfield policy_req = {"", S_OBJECT, true, 0, 0, policy_req_fields, NULL, false};
static const sfield role_elem = {"", S_ROLE, true, 0, 0, NULL, NULL, false};
static const sfield policy_fields[] = {
    {"authors", S_ARRAY, true, 1, LR__COUNT, &role_elem, NULL, true},
    {"require", S_ARRAY, false, 0, LR__COUNT, &policy_req, NULL, false},
    {NULL, 0, false, 0, 0, NULL, NULL, false},
};

static void sc__policies(cx_problems *c, const json_t *v, const char *path)
{
    if (!json_is_object(v)) {
        cx_problems_add(c, path, "must be an object of entry type to policy");
        return;
    }
    const char *key;
    json_t *val;
    char p[SC_PATH];
    json_object_foreach((json_t *)v, key, val)
    {
        snprintf(p, sizeof p, "%s", path);
        cx_jptr_push(p, sizeof p, key);
        ltype t;
        if (!ledger__type_parse(key, &t) || ledger__type_governance(t)) {
            cx_problems_add(c, p, "is not an entry type with an endorsement policy");
            continue;
        }
        sc__object(c, policy_fields, val, p);
    }
}

/* String kinds with a fixed rule: one predicate and one sentence each. */
static bool sc__date_ok(const char *s) { return cx_date_parse(s, NULL, NULL, NULL); }
static bool sc__time_ok(const char *s)
{
    int64_t us;
    return cx_rfc3339_parse(s, &us) == CX_OK;
}
static bool sc__key_ok(const char *s)
{
    uint8_t pk[32];
    return ledger__b64_decode(s, pk, 32);
}
static bool sc__sig_ok(const char *s)
{
    uint8_t sig[64];
    return ledger__b64_decode(s, sig, 64);
}
static bool sc__role_ok(const char *s)
{
    lrole r;
    return ledger__role_parse(s, &r);
}
static bool sc__locode_ok(const char *s)
{
    return strlen(s) == 5 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
           sc__charset(s + 2, NULL) && !strpbrk(s + 2, "abcdefghijklmnopqrstuvwxyz01");
}

static const struct {
    skind kind;
    bool (*ok)(const char *s);
    const char *rule;
} sc__string_rules[] = {
    {S_ORG, cx_org_valid, "must be an organisation: 1 to 64 characters of A-Z a-z 0-9 . _ -"},
    {S_DATE, sc__date_ok, "must be a real calendar date written YYYY-MM-DD"},
    {S_TIME, sc__time_ok, "must be an RFC 3339 date-time such as 2024-03-01T09:30:00Z"},
    {S_COUNTRY, decl_country_valid, "must be an ISO 3166-1 alpha-2 country code"},
    {S_CURRENCY, decl_currency_valid, "must be an ISO 4217 currency code such as EUR or KRW"},
    {S_HEX32, sc__is_hex32, "must be a SHA-256 hash: 64 lowercase hex digits"},
    {S_KEY, sc__key_ok, "must be an Ed25519 public key: base64 of 32 bytes"},
    {S_SIG, sc__sig_ok, "must be an Ed25519 signature: base64 of 64 bytes"},
    {S_ROLE, sc__role_ok, "must be one of customs, trader, carrier, bank, chamber, agency"},
    {S_CONTAINER, decl_container_valid,
     "must be an ISO 6346 container number with a correct check digit"},
    {S_LOCODE, sc__locode_ok, "must be a UN/LOCODE such as KRPUS"},
};

static void sc__string_rule(cx_problems *c, skind kind, const json_t *v, const char *path)
{
    for (size_t i = 0; i < sizeof sc__string_rules / sizeof *sc__string_rules; i++) {
        if (sc__string_rules[i].kind != kind)
            continue;
        const char *s = sc__str(c, v, path);
        if (s && !sc__string_rules[i].ok(s))
            cx_problems_add(c, path, "%s", sc__string_rules[i].rule);
        return;
    }
}

static void sc__value(cx_problems *c, const sfield *f, const json_t *v, const char *path)
{
    const char *s;
    size_t n;
    switch (f->kind) {
    case S_ORG:
    case S_DATE:
    case S_TIME:
    case S_COUNTRY:
    case S_CURRENCY:
    case S_HEX32:
    case S_KEY:
    case S_SIG:
    case S_ROLE:
    case S_CONTAINER:
    case S_LOCODE: sc__string_rule(c, f->kind, v, path); return;
    case S_ID:
        if (!(s = sc__str(c, v, path)))
            return;
        if (!ledger__id_ok(s, f->max > 0 ? (size_t)f->max : 64))
            cx_problems_add(c, path, "must be 1 to %g characters of A-Z a-z 0-9 . _ / : -",
                            f->max > 0 ? f->max : 64);
        return;
    case S_TEXT:
        if (!(s = sc__str(c, v, path)))
            return;
        if (!sc__text_ok(s, json_string_length(v), (size_t)f->max))
            cx_problems_add(c, path, "must be 1 to %g characters without control characters",
                            f->max);
        return;
    case S_B64URL: {
        if (!(s = sc__str(c, v, path)))
            return;
        size_t chars = strlen(s);
        if (chars < (size_t)f->min || chars > (size_t)f->max || !sc__charset(s, "-_"))
            cx_problems_add(c, path, "must be %g characters of URL-safe base64 (A-Z a-z 0-9 - _)",
                            f->max);
        return;
    }
    case S_STRING:
        sc__str(c, v, path);
        return;
    case S_AMOUNT: {
        if (!json_is_number(v)) {
            cx_problems_add(c, path, "must be a number");
            return;
        }
        double x = json_number_value(v);
        if (!isfinite(x) || x <= 0 || x > f->max)
            cx_problems_add(c, path, "must be a number above 0 and at most %g", f->max);
        return;
    }
    case S_INT:
        if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)f->min ||
            json_integer_value(v) > (json_int_t)f->max)
            cx_problems_add(c, path, "must be an integer from %g to %g", f->min, f->max);
        return;
    case S_ENUM:
        if (!(s = sc__str(c, v, path)))
            return;
        for (const char *const *e = f->enums; *e; e++)
            if (strcmp(*e, s) == 0)
                return;
        {
            char list[256] = "";
            for (const char *const *e = f->enums; *e; e++) {
                if (list[0])
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, *e, sizeof list - strlen(list) - 1);
            }
            cx_problems_add(c, path, "must be one of %s", list);
        }
        return;
    case S_HS:
        if (!(s = sc__str(c, v, path)))
            return;
        n = strlen(s);
        if (n < (size_t)f->min || n > (size_t)f->max || strspn(s, "0123456789") != n)
            cx_problems_add(c, path, "must be %g to %g digits of an HS code", f->min, f->max);
        return;
    case S_OBJECT: sc__object(c, f->sub, v, path); return;
    case S_ARRAY: {
        if (!json_is_array(v)) {
            cx_problems_add(c, path, "must be an array");
            return;
        }
        n = json_array_size(v);
        if (n < (size_t)f->min || n > (size_t)f->max) {
            cx_problems_add(c, path, "must hold %g to %g items", f->min, f->max);
            return;
        }
        size_t i;
        const json_t *x;
        char p[SC_PATH];
        json_array_foreach(v, i, x)
        {
            snprintf(p, sizeof p, "%s", path);
            cx_jptr_index(p, sizeof p, i);
            size_t before = c->count;
            sc__value(c, f->sub, x, p);
            if (f->unique && c->count == before)
                for (size_t k = 0; k < i; k++)
                    if (json_equal(json_array_get(v, k), x)) {
                        cx_problems_add(c, p, "is listed twice");
                        break;
                    }
        }
        return;
    }
    case S_FIELDS: sc__fields(c, f, v, path); return;
    case S_POLICIES: sc__policies(c, v, path); return;
    case S_ORIGIN:
        if (!(s = sc__str(c, v, path)))
            return;
        if (!ledger__origin_valid(s))
            cx_problems_add(c, path,
                            "must be 1 to 128 printable ASCII characters without spaces or +");
        return;
    }
}

/* ---- the types ------------------------------------------------------------------- */

#define END {NULL, 0, false, 0, 0, NULL, NULL, false}
#define F(n, k, r) {n, k, r, 0, 0, NULL, NULL, false}
#define FM(n, k, r, lo, hi) {n, k, r, lo, hi, NULL, NULL, false}
#define FE(n, r, e) {n, S_ENUM, r, 0, 0, NULL, e, false}
#define FA(n, r, lo, hi, el, u) {n, S_ARRAY, r, lo, hi, el, NULL, u}
#define FO(n, r, sub) {n, S_OBJECT, r, 0, 0, sub, NULL, false}

static const sfield key_elem = F("", S_KEY, true);
static const sfield gov_key_fields[] = {F("holder", S_ORG, true), F("key", S_KEY, true), END};
static const sfield gov_key_elem = FO("", true, gov_key_fields);
static const sfield governance_fields[] = {
    FM("threshold", S_INT, true, 1, LEDGER_MAX_GOVERNORS),
    FA("keys", true, 1, LEDGER_MAX_GOVERNORS, &gov_key_elem, true), END};
static const sfield init_fields[] = {F("origin", S_ORIGIN, true),
                                     FO("governance", true, governance_fields),
                                     F("policies", S_POLICIES, false), END};

static const sfield member_fields[] = {
    F("org", S_ORG, true),          F("role", S_ROLE, true), FM("name", S_TEXT, true, 0, 200),
    F("country", S_COUNTRY, false), FA("keys", true, 1, 8, &key_elem, true), END};
static const sfield rotate_fields[] = {F("org", S_ORG, true), F("add", S_KEY, true),
                                       F("retire", S_KEY, false), END};
static const sfield revoke_fields[] = {F("org", S_ORG, true), F("key", S_KEY, true),
                                       FM("reason", S_TEXT, false, 0, 500), END};
/* "checkpoint" sets how many organisations make a checkpoint final
 * ({"threshold":N}); the entry types set endorsement policies. The rules
 * check which members each kind needs. */
static const char *const policy_types[] = {
    "declaration.anchor", "bl.issue",     "bl.transfer",     "bl.surrender",
    "coo.issue",          "coo.revoke",   "aeo.status",      "payment.receipt",
    "parcel.manifest",    "ipr.register", "finding",         "checkpoint",
    "audit.digest",       NULL};
static const sfield policy_set_policy_fields[] = {
    FA("authors", false, 1, LR__COUNT, &role_elem, true),
    FA("require", false, 0, LR__COUNT, &policy_req, false),
    FM("threshold", S_INT, false, 1, LEDGER_MAX_CHECKPOINT_THRESHOLD), END};
static const sfield policy_set_fields[] = {FE("type", true, policy_types),
                                           FO("policy", true, policy_set_policy_fields), END};

static const sfield cert_fields[] = {F("issuer", S_ORG, true), F("number", S_ID, true), END};
static const sfield cert_elem = FO("", true, cert_fields);
static const sfield anchor_fields[] = {F("declaration_id", S_ID, true),
                                       FM("fields", S_FIELDS, true, 1, 5000),
                                       FA("certificates", false, 0, 16, &cert_elem, true), END};

static const sfield container_elem = F("", S_CONTAINER, true);
static const sfield bl_issue_fields[] = {F("number", S_ID, true),
                                         FM("shipper", S_TEXT, true, 0, 200),
                                         FM("consignee", S_TEXT, false, 0, 200),
                                         F("holder", S_ORG, true),
                                         FM("vessel", S_TEXT, false, 0, 100),
                                         F("voyage", S_ID, false),
                                         F("port_of_loading", S_LOCODE, true),
                                         F("port_of_discharge", S_LOCODE, true),
                                         FA("containers", true, 1, 256, &container_elem, true),
                                         FM("goods", S_TEXT, false, 0, 512),
                                         F("issued", S_DATE, true),
                                         END};
static const sfield bl_transfer_fields[] = {F("number", S_ID, true), F("to", S_ORG, true),
                                            F("prev", S_HEX32, true), END};
static const sfield bl_surrender_fields[] = {F("number", S_ID, true), F("prev", S_HEX32, true),
                                             END};

static const sfield goods_fields[] = {FM("hs_code", S_HS, true, 6, 10),
                                      FM("description", S_TEXT, false, 0, 512), END};
static const sfield goods_elem = FO("", true, goods_fields);
static const sfield coo_issue_fields[] = {F("number", S_ID, true),
                                          FM("exporter", S_TEXT, true, 0, 200),
                                          FM("importer", S_TEXT, false, 0, 200),
                                          F("country_of_origin", S_COUNTRY, true),
                                          FA("goods", true, 1, 100, &goods_elem, false),
                                          F("issued", S_DATE, true),
                                          F("valid_until", S_DATE, false),
                                          F("declaration_id", S_ID, false),
                                          END};
static const sfield coo_revoke_fields[] = {F("number", S_ID, true),
                                           FM("reason", S_TEXT, true, 0, 500), END};

static const char *const aeo_statuses[] = {"granted", "suspended", "revoked", NULL};
static const sfield aeo_fields[] = {F("operator_id", S_ID, true),  F("org", S_ORG, false),
                                    FE("status", true, aeo_statuses), FM("program", S_ID, true, 0, 32),
                                    F("valid_until", S_DATE, false), FM("reason", S_TEXT, false, 0, 500),
                                    END};

static const char *const payment_kinds[] = {"duty", "vat", "duty+vat", "excise", "other", NULL};
static const sfield payment_fields[] = {F("receipt_no", S_ID, true),
                                        F("declaration_id", S_ID, true),
                                        FM("amount", S_AMOUNT, true, 0, 1e15),
                                        F("currency", S_CURRENCY, true),
                                        F("paid_at", S_TIME, true),
                                        FM("payer", S_TEXT, false, 0, 200),
                                        FE("kind", false, payment_kinds),
                                        END};

static const sfield hex_elem = F("", S_HEX32, true);
static const sfield parcels_fields[] = {F("manifest_id", S_ID, true),
                                        F("transport_document", S_ID, false),
                                        FA("parcels", true, 1, 10000, &hex_elem, false), END};

static const char *const ipr_kinds[] = {"trademark", "design", "patent", "copyright",
                                        "geographical_indication", NULL};
static const sfield hs_prefix_elem = FM("", S_HS, true, 2, 10);
static const sfield country_elem = F("", S_COUNTRY, true);
/* a registered design's geometry (docs/designs.md): every node can match
 * files against it; the fingerprint is designs_fp_base64's form */
static const sfield ipr_design_fields[] = {F("mesh_sha256", S_HEX32, true),
                                           FM("fingerprint", S_B64URL, true, 288, 288), END};
static const sfield ipr_fields[] = {F("registration_no", S_ID, true),
                                    FE("kind", true, ipr_kinds),
                                    FM("mark", S_TEXT, true, 0, 200),
                                    FM("holder", S_TEXT, false, 0, 200),
                                    FA("hs_codes", false, 0, 50, &hs_prefix_elem, true),
                                    FA("countries", false, 0, 250, &country_elem, true),
                                    F("valid_until", S_DATE, true),
                                    FO("design", false, ipr_design_fields),
                                    END};

static const char *const severities[] = {"low", "medium", "high", NULL};
static const sfield evidence_elem = FM("", S_INT, true, 0, 9007199254740991.0);
static const sfield finding_fields[] = {F("rule", S_ID, true),
                                        FE("severity", true, severities),
                                        FM("summary", S_TEXT, true, 0, 1000),
                                        F("declaration_id", S_ID, false),
                                        FA("evidence", false, 0, 64, &evidence_elem, true),
                                        END};

/* the day's Merkle root of an append-only audit (the biometric searches') */
static const sfield digest_fields[] = {F("date", S_DATE, true),
                                       FM("count", S_INT, true, 0, 9007199254740991.0),
                                       F("root", S_HEX32, true), END};

static const sfield *const type_fields[LT__COUNT] = {
    [LT_INIT] = init_fields,
    [LT_MEMBER_REGISTER] = member_fields,
    [LT_KEY_ROTATE] = rotate_fields,
    [LT_KEY_REVOKE] = revoke_fields,
    [LT_POLICY_SET] = policy_set_fields,
    [LT_DECL_ANCHOR] = anchor_fields,
    [LT_BL_ISSUE] = bl_issue_fields,
    [LT_BL_TRANSFER] = bl_transfer_fields,
    [LT_BL_SURRENDER] = bl_surrender_fields,
    [LT_COO_ISSUE] = coo_issue_fields,
    [LT_COO_REVOKE] = coo_revoke_fields,
    [LT_AEO_STATUS] = aeo_fields,
    [LT_PAYMENT] = payment_fields,
    [LT_PARCELS] = parcels_fields,
    [LT_IPR] = ipr_fields,
    [LT_FINDING] = finding_fields,
    [LT_AUDIT_DIGEST] = digest_fields,
};

bool ledger__body_validate(ltype t, const json_t *body, json_t *problems, const char *base)
{
    cx_problems c = {.list = problems, .max = SC_MAX_PROBLEMS};
    sc__object(&c, type_fields[t], body, base);
    return c.count == 0;
}

/* key and sig are decoded (once) by the entry decoder */
static const sfield sig_fields[] = {F("org", S_ORG, true), F("key", S_STRING, true),
                                    F("sig", S_STRING, true), END};

/* The envelope around the body; body and signatures are checked by the
 * caller (they need the type and the decoded keys). */
bool ledger__envelope_validate(const json_t *doc, json_t *problems);
bool ledger__envelope_validate(const json_t *doc, json_t *problems)
{
    static const sfield env_fields[] = {
        {"type", S_ID, true, 0, 0, NULL, NULL, false},
        F("org", S_ORG, true),
        {"body", S_OBJECT, true, 0, 0, NULL, NULL, false}, /* checked per type */
        {"signatures", S_ARRAY, true, 0, 0, NULL, NULL, false},
        F("time", S_TIME, false),
        F("ledger", S_ORIGIN, false),
        END};
    cx_problems c = {.list = problems, .max = SC_MAX_PROBLEMS};
    if (!json_is_object(doc)) {
        cx_problems_add(&c, "", "an entry must be a JSON object");
        return false;
    }
    const char *key;
    json_t *val;
    char p[SC_PATH];
    json_object_foreach((json_t *)doc, key, val)
    {
        const sfield *f = env_fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        snprintf(p, sizeof p, "/%s", key);
        if (!f->name) {
            p[0] = '\0';
            cx_jptr_push(p, sizeof p, key);
            cx_problems_add(&c, p, "unknown field");
        } else if (strcmp(key, "type") == 0) {
            ltype t;
            if (!json_is_string(val) || !ledger__type_parse(json_string_value(val), &t))
                cx_problems_add(&c, p,
                                "must be an entry type such as bl.issue (see docs/ledger.md)");
        } else if (strcmp(key, "body") == 0) {
            if (!json_is_object(val))
                cx_problems_add(&c, p, "must be an object");
        } else if (strcmp(key, "signatures") == 0) {
            if (!json_is_array(val) || json_array_size(val) > LEDGER_MAX_SIGNATURES) {
                cx_problems_add(&c, p, "must be an array of at most %d signatures",
                                LEDGER_MAX_SIGNATURES);
                continue;
            }
            size_t i;
            json_t *s;
            json_array_foreach(val, i, s)
            {
                char q[SC_PATH];
                snprintf(q, sizeof q, "/signatures/%zu", i);
                sc__object(&c, sig_fields, s, q);
            }
        } else {
            sc__value(&c, f, val, p);
        }
    }
    for (const sfield *f = env_fields; f->name; f++)
        if (f->required && !json_object_get(doc, f->name)) {
            snprintf(p, sizeof p, "/%s", f->name);
            cx_problems_add(&c, p, "is required");
        }
    return c.count == 0;
}
