/* `customs ledger demo`: a small consortium and a realistic flow.
 *
 * Korean customs (KCS) receives garments from Vietnam. A Vietnamese chamber
 * certifies origin, a carrier issues electronic bills of lading that pass
 * from the exporter to the importer's bank and on to the importer, the bank
 * pays duty with customs countersigning, and the importer anchors its
 * declarations. Three stories end in findings: a certificate that says CN
 * behind a declaration claiming VN (with duty underpaid at the preferential
 * rate), and an export/import pair whose values are 40% apart with a
 * container the bill of lading does not carry. Declarations already in the
 * database (make run imports some first) are anchored as well. */
#include "app.h"

#include <sodium.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_ORIGIN APP_LEDGER_DEMO_ORIGIN

typedef enum { D_KCS, D_IMPORTER, D_EXPORTER, D_CARRIER, D_BANK, D_CHAMBER, D__COUNT } dorg;

typedef struct {
    char org[CX_ORG_MAX + 1];
    const char *role, *name, *country, *file;
    ledger_key key;
} dmember;

typedef struct {
    ledger *lg;
    decl_service *decl;
    dmember m[D__COUNT];
    ledger_key gov[3];
    const char *gov_holder[3];
    char *err;
    size_t errlen;
    FILE *out;
    int64_t last_index;
    uint8_t last_leaf[32];
    json_t *findings; /* every finding raised */
    json_t *anchored; /* [{"id","index"}] */
} demo;

static cx_err demo__fail(demo *d, const char *fmt, ...) CX_PRINTF(2, 3);
static cx_err demo__fail(demo *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return CX_ESTATE;
}

/* Signs body as type by author and the other signers, and appends it. */
static cx_err demo__append(demo *d, const char *type, const char *author, json_t *body,
                           const ledger_key *const *keys, const char *const *orgs, size_t nkeys)
{
    char now[32];
    cx_rfc3339_format(cx_now_us(), now);
    json_t *env = json_pack("{s:s,s:s,s:s,s:s,s:o,s:[]}", "type", type, "org", author, "time", now,
                            "ledger", DEMO_ORIGIN, "body", body, "signatures");
    char *text = env ? cx_json_dump(env, NULL) : NULL;
    json_decref(env);
    for (size_t i = 0; text && i < nkeys; i++) {
        char *next = NULL;
        if (ledger_sign(text, strlen(text), keys[i], orgs[i], &next, d->err, d->errlen) != CX_OK) {
            free(text);
            return CX_ECRYPTO;
        }
        free(text);
        text = next;
    }
    if (!text)
        return demo__fail(d, "out of memory");
    ledger_result res;
    ledger_submit(d->lg, text, strlen(text), &res);
    free(text);
    cx_err e = CX_OK;
    if (res.status != 201) {
        const json_t *d0 = json_array_get(res.details, 0);
        e = demo__fail(d, "%s was rejected: %s (%s)", type, res.message,
                       d0 ? json_string_value(json_object_get(d0, "path")) : "");
    } else {
        d->last_index = res.index;
        memcpy(d->last_leaf, res.leaf_hash, 32);
        size_t i;
        json_t *f;
        json_array_foreach(res.findings, i, f) json_array_append(d->findings, f);
    }
    ledger_result_clear(&res);
    return e;
}

static cx_err demo__by(demo *d, const char *type, dorg who, json_t *body)
{
    const ledger_key *k[1] = {&d->m[who].key};
    const char *o[1] = {d->m[who].org};
    return demo__append(d, type, d->m[who].org, body, k, o, 1);
}

static cx_err demo__by2(demo *d, const char *type, dorg who, dorg also, json_t *body)
{
    const ledger_key *k[2] = {&d->m[who].key, &d->m[also].key};
    const char *o[2] = {d->m[who].org, d->m[also].org};
    return demo__append(d, type, d->m[who].org, body, k, o, 2);
}

/* Governance entries: proposed by KCS, signed by two of the three governors. */
static cx_err demo__gov(demo *d, const char *type, json_t *body)
{
    const ledger_key *k[2] = {&d->gov[0], &d->gov[1]};
    const char *o[2] = {d->gov_holder[0], d->gov_holder[1]};
    return demo__append(d, type, d->gov_holder[0], body, k, o, 2);
}

static void demo__prev(demo *d, char hex[65])
{
    cx_hex(d->last_leaf, 32, hex);
}

static cx_err demo__key_file(demo *d, const char *dir, const char *file, ledger_key *k,
                             const char *org)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    ledger_key_generate(k);
    if (org)
        snprintf(k->org, sizeof k->org, "%s", org);
    unlink(path); /* keys of an earlier, abandoned demo run in this directory */
    return ledger_key_save(k, path, d->err, d->errlen);
}

static void demo__container(const char *owner, unsigned serial, char out[12])
{
    char first[11];
    snprintf(first, sizeof first, "%s%06u", owner, serial % 1000000);
    snprintf(out, 12, "%s%d", first, decl_iso6346_check_digit(first));
}

/* ---- declarations ------------------------------------------------------------------------ */

typedef struct {
    json_t *list; /* existing declarations: [{"id","doc"}] */
} scan_ctx;

static bool demo__parse_one(void *ctx, const char *id, const char *doc, size_t len)
{
    *(json_t **)ctx = json_loadb(doc, len, 0, NULL);
    return false;
}

static json_t *demo__stored(ledger *lg, const char *id)
{
    json_t *d = NULL;
    store_conn *c = store_reader(ledger_store(lg));
    if (c)
        decl_doc(c, id, demo__parse_one, &d);
    return d;
}

static json_t *demo__item(const char *hs, const char *desc, const char *origin, double qty,
                          double net, double value, double rate)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:f,s:f,s:f,s:s,s:f,s:s}", "hs_code", hs,
                     "description", desc, "country_of_origin", origin, "origin_indicator", "Y",
                     "quantity", qty, "unit", "NAR", "net_mass_kg", net, "gross_mass_kg",
                     net * 1.08, "value", value, "currency", "USD", "tax_rate", rate, "tax_type",
                     "A");
}

/* Lodges a declaration for org; returns its id (caller frees) or NULL. */
static char *demo__lodge(demo *d, const char *org, json_t *doc)
{
    json_t *problems = json_array();
    if (!decl_validate(doc, problems)) {
        const json_t *p0 = json_array_get(problems, 0);
        demo__fail(d, "demo declaration invalid: %s %s",
                   json_string_value(json_object_get(p0, "path")),
                   json_string_value(json_object_get(p0, "message")));
        json_decref(problems);
        json_decref(doc);
        return NULL;
    }
    json_decref(problems);
    cx_principal who = {.role = CX_ROLE_TRADER};
    snprintf(who.org, sizeof who.org, "%s", org);
    const char *ref = json_string_value(json_object_get(doc, "reference"));
    char base[64];
    snprintf(base, sizeof base, "%s", ref);
    cx_err e = CX_EEXIST;
    for (int attempt = 1; e == CX_EEXIST && attempt < 50; attempt++) {
        if (attempt > 1) {
            char r[80];
            snprintf(r, sizeof r, "%s-%d", base, attempt);
            json_object_set_new(doc, "reference", json_string(r));
        }
        e = decl_store_one(d->decl, &who, doc, NULL);
    }
    char *id = e == CX_OK ? strdup(json_string_value(json_object_get(doc, "id"))) : NULL;
    if (!id)
        demo__fail(d, "cannot store a demo declaration: %s", cx_strerror(e));
    json_decref(doc);
    return id;
}

static json_t *demo__declaration(const char *ref, const char *type, const char *office,
                                 const char *bl, json_t *containers, json_t *items)
{
    bool import = strcmp(type, "import") == 0;
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s},s:o}", "reference", ref,
                            "type", type, "date", "2024-03-04", "office", office, "declarant_id",
                            import ? "DCL-KR-7781" : "DCL-VN-3310", "seller_id", "SEL-VN-0042",
                            "transport_mode", "10", "containers", containers,
                            "transport_document", "type", "BL", "number", bl, "items", items);
    if (import) {
        json_object_set_new(doc, "importer_id", json_string("IMP-KR-5520"));
        json_object_set_new(doc, "country_of_departure", json_string("VN"));
    }
    /* the exporter as its certificates of origin name it */
    json_object_set_new(doc, "exporter_id", json_string("EXP-VN-0042"));
    return doc;
}

/* Anchors a stored declaration as its declarant, keeping the salts; customs,
 * which holds the declaration, endorses it (the anchor policy). */
static cx_err demo__anchor(demo *d, dorg who, const char *id, json_t *certs)
{
    json_t *decl = demo__stored(d->lg, id), *body = NULL, *salts = NULL;
    cx_err e = decl ? ledger_anchor_body(decl, &body, &salts) : CX_ENOTFOUND;
    json_decref(decl);
    if (e != CX_OK) {
        json_decref(certs);
        return demo__fail(d, "cannot commit to declaration %s", id);
    }
    if (certs)
        json_object_set_new(body, "certificates", certs);
    e = demo__by2(d, "declaration.anchor", who, D_KCS, body);
    if (e == CX_OK)
        e = ledger_salts_put(d->lg, d->last_index, salts);
    if (e == CX_OK)
        json_array_append_new(d->anchored, json_pack("{s:s,s:I}", "id", id, "index",
                                                     (json_int_t)d->last_index));
    json_decref(salts);
    return e;
}

/* Up to max declarations the importer lodged before the demo. */
typedef struct {
    json_t *ids;
    const char *importer;
    char needle[CX_ORG_MAX + 16];
    size_t max;
} existing_ctx;

static bool demo__existing_one(void *ctx, const char *id, const char *doc, size_t len)
{
    existing_ctx *x = ctx;
    if (!strstr(doc, x->needle)) /* cheap filter before parsing */
        return true;
    json_t *d = json_loadb(doc, len, 0, NULL);
    const char *org = json_string_value(json_object_get(d, "org"));
    if (org && strcmp(org, x->importer) == 0)
        json_array_append_new(x->ids, json_string(id));
    json_decref(d);
    return json_array_size(x->ids) < x->max;
}

static cx_err demo__existing(ledger *lg, json_t *ids, const char *importer, size_t max)
{
    store_conn *c = store_reader(ledger_store(lg));
    existing_ctx x = {ids, importer, "", max};
    snprintf(x.needle, sizeof x.needle, "\"%s\"", importer);
    return c ? decl_scan(c, demo__existing_one, &x) : CX_EDB;
}

cx_err app_ledger_demo(ledger *lg, decl_service *decl, const app_ledger_demo_opts *o, FILE *out,
                       char *err, size_t errlen)
{
    const char *keys_dir = o->keys_dir;
    int64_t size = ledger_size(lg);
    if (size < 0) {
        snprintf(err, errlen, "cannot read the ledger");
        return CX_EDB;
    }
    if (size > 0) {
        snprintf(err, errlen, "the ledger already holds %lld entries; the demo seeds only an "
                              "empty ledger",
                 (long long)size);
        return CX_EEXIST;
    }
    if (!decl) {
        snprintf(err, errlen, "the demo needs the declarations service");
        return CX_EINVAL;
    }
    demo d = {.lg = lg, .decl = decl, .err = err, .errlen = errlen, .out = out};
    d.findings = json_array();
    d.anchored = json_array();
    static const struct {
        const char *org, *role, *name, *country, *file;
    } cast[D__COUNT] = {
        {"KCS", "customs", "Korea Customs Service (demo)", "KR", "kcs.key"},
        {"ACME", "trader", "ACME Trading Co., Busan", "KR", "importer.key"},
        {"SAIGON-TEXTILE", "trader", "Saigon Textile Export JSC", "VN", "exporter.key"},
        {"OCEANIC", "carrier", "Oceanic Container Lines", "SG", "carrier.key"},
        {"HANSEONG-BANK", "bank", "Hanseong Commercial Bank", "KR", "bank.key"},
        {"VCCI-HCM", "chamber", "Chamber of Commerce, Ho Chi Minh City (demo)", "VN",
         "chamber.key"},
    };
    for (int i = 0; i < D__COUNT; i++) {
        snprintf(d.m[i].org, sizeof d.m[i].org, "%s", cast[i].org);
        d.m[i].role = cast[i].role;
        d.m[i].name = cast[i].name;
        d.m[i].country = cast[i].country;
        d.m[i].file = cast[i].file;
    }
    const char *names[D__COUNT] = {o->customs, o->importer, o->exporter,
                                   o->carrier, o->bank,     o->chamber};
    for (int i = 0; i < D__COUNT; i++) {
        if (!names[i])
            continue;
        if (!cx_org_valid(names[i])) {
            snprintf(err, errlen, "'%s' is not an organisation name", names[i]);
            json_decref(d.findings);
            json_decref(d.anchored);
            return CX_EINVAL;
        }
        snprintf(d.m[i].org, sizeof d.m[i].org, "%s", names[i]);
    }
    for (int a = 0; a < D__COUNT; a++)
        for (int b = a + 1; b < D__COUNT; b++)
            if (strcmp(d.m[a].org, d.m[b].org) == 0) {
                snprintf(err, errlen, "%s cannot play two parts in the demo", d.m[a].org);
                json_decref(d.findings);
                json_decref(d.anchored);
                return CX_EINVAL;
            }
    json_t *existing = json_array(), *x;
    size_t i;
    cx_err e = demo__existing(lg, existing, d.m[D_IMPORTER].org, 3);
    if (e == CX_OK && mkdir(keys_dir, 0700) != 0 && errno != EEXIST)
        e = demo__fail(&d, "cannot create %s: %s", keys_dir, strerror(errno));
    for (int k = 0; e == CX_OK && k < D__COUNT; k++)
        e = demo__key_file(&d, keys_dir, d.m[k].file, &d.m[k].key, d.m[k].org);
    static const char *const gov_files[3] = {"kcs-governance.key", "bank-governance.key",
                                             "chamber-governance.key"};
    d.gov_holder[0] = d.m[D_KCS].org;
    d.gov_holder[1] = d.m[D_BANK].org;
    d.gov_holder[2] = d.m[D_CHAMBER].org;
    for (int k = 0; e == CX_OK && k < 3; k++)
        e = demo__key_file(&d, keys_dir, gov_files[k], &d.gov[k], d.gov_holder[k]);
    if (e != CX_OK)
        goto done;

    /* 0: genesis — 2 of 3 governance keys rule membership and policies */
    ledger_governor gov[3];
    for (int k = 0; k < 3; k++) {
        snprintf(gov[k].holder, sizeof gov[k].holder, "%s", d.gov_holder[k]);
        memcpy(gov[k].pk, d.gov[k].pk, 32);
        gov[k].key = &d.gov[k];
    }
    ledger_result res;
    ledger_init(lg, DEMO_ORIGIN, 2, gov, 3, &res);
    if (res.status != 201)
        e = demo__fail(&d, "genesis rejected: %s", res.message);
    ledger_result_clear(&res);
    for (int k = 0; e == CX_OK && k < D__COUNT; k++) {
        char pk[45]; /* ledger_key_public: base64 of 32 bytes */
        ledger_key_public(&d.m[k].key, pk);
        e = demo__gov(&d, "member.register",
                      json_pack("{s:s,s:s,s:s,s:s,s:[s]}", "org", d.m[k].org, "role", d.m[k].role,
                                "name", d.m[k].name, "country", d.m[k].country, "keys", pk));
    }
    if (e != CX_OK)
        goto done;

    /* the importer is an authorised economic operator (shared, CADENA) */
    e = demo__by(&d, "aeo.status", D_KCS,
                 json_pack("{s:s,s:s,s:s,s:s,s:s}", "operator_id", "IMP-KR-5520", "org",
                           d.m[D_IMPORTER].org, "status", "granted", "program", "KR-AEO",
                           "valid_until", "2027-12-31"));
    /* the importer protects its mark */
    if (e == CX_OK)
        e = demo__by(&d, "ipr.register", D_IMPORTER,
                     json_pack("{s:s,s:s,s:s,s:[s,s],s:[s],s:s}", "registration_no",
                               "KR-TM-40-2019-0012345", "kind", "trademark", "mark", "ACME WEAR",
                               "hs_codes", "6109", "6203", "countries", "KR", "valid_until",
                               "2029-05-31"));
    if (e != CX_OK)
        goto done;

    /* The three shipments, their bills of lading and declarations. */
    char c[6][12];
    for (int k = 0; k < 6; k++)
        demo__container("OCLU", 305438u + (unsigned)k * 1117u, c[k]);
    const char *bl1 = "OCLU-VNSGN-24-0001", *bl2 = "OCLU-VNSGN-24-0002",
               *bl3 = "OCLU-VNSGN-24-0003";
    char today[32];
    cx_rfc3339_format(cx_now_us(), today);
    today[10] = '\0';
    char *id1 = demo__lodge(&d, d.m[D_IMPORTER].org,
                            demo__declaration("LDG-DEMO-0001", "import", "KRPUS", bl1,
                                              json_pack("[s]", c[0]),
                                              json_pack("[o]", demo__item("610910",
                                                                         "Cotton T-shirts, knitted",
                                                                         "VN", 6200, 1550, 12400,
                                                                         13))));
    char *id2 = id1 ? demo__lodge(&d, d.m[D_IMPORTER].org,
                                  demo__declaration("LDG-DEMO-0002", "import", "KRPUS", bl2,
                                                    json_pack("[s]", c[1]),
                                                    json_pack("[o]", demo__item(
                                                                         "620342",
                                                                         "Men's cotton trousers",
                                                                         "VN", 3000, 2100, 30000,
                                                                         13))))
                    : NULL;
    char *idx3 = id2 ? demo__lodge(&d, d.m[D_EXPORTER].org,
                                   demo__declaration("LDG-DEMO-0003X", "export", "VNSGN", bl3,
                                                     json_pack("[s,s]", c[2], c[3]),
                                                     json_pack("[o]", demo__item(
                                                                          "610910",
                                                                          "Cotton T-shirts, knitted",
                                                                          "VN", 26000, 6500,
                                                                          52000, 0))))
                     : NULL;
    char *id3 = idx3 ? demo__lodge(&d, d.m[D_IMPORTER].org,
                                   demo__declaration("LDG-DEMO-0003", "import", "KRPUS", bl3,
                                                     json_pack("[s,s]", c[2], c[3]),
                                                     json_pack("[o]", demo__item(
                                                                          "610910",
                                                                          "Cotton T-shirts, knitted",
                                                                          "VN", 26000, 6500,
                                                                          31200, 13))))
                     : NULL;
    if (!id3) {
        e = CX_ESTATE;
        goto free_ids;
    }

    /* certificates of origin: VN for shipment 1; the one behind shipment 2
     * certifies Chinese origin (transshipment) */
    e = demo__by(&d, "coo.issue", D_CHAMBER,
                 json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:s,s:s}", "number", "VN-HCM-24-010231",
                           "exporter", "EXP-VN-0042", "importer",
                           "ACME Trading Co., Busan", "country_of_origin", "VN", "goods",
                           "hs_code", "610910", "description", "Cotton T-shirts", "issued",
                           "2024-03-01", "valid_until", "2025-03-01"));
    if (e == CX_OK)
        e = demo__by(&d, "coo.issue", D_CHAMBER,
                     json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:s}", "number", "VN-HCM-24-010244",
                               "exporter", "EXP-VN-0042", "importer",
                               "ACME Trading Co., Busan", "country_of_origin", "CN", "goods",
                               "hs_code", "620342", "description", "Men's cotton trousers",
                               "issued", "2024-03-01"));
    /* bills of lading: issued to the exporter, endorsed to the importer's
     * bank under the letter of credit, released to the importer on payment */
    char prev[65];
    if (e == CX_OK)
        e = demo__by(&d, "bl.issue", D_CARRIER,
                     json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:s,s:s}", "number", bl1,
                               "shipper", "Saigon Textile Export JSC", "consignee",
                               "to the order of Hanseong Commercial Bank", "holder",
                               d.m[D_EXPORTER].org, "vessel", "OCEANIC PEARL", "voyage", "024E",
                               "port_of_loading", "VNSGN", "port_of_discharge", "KRPUS",
                               "containers", c[0], "goods", "6,200 cotton T-shirts", "issued",
                               "2024-03-01"));
    if (e == CX_OK) {
        demo__prev(&d, prev);
        e = demo__by(&d, "bl.transfer", D_EXPORTER,
                     json_pack("{s:s,s:s,s:s}", "number", bl1, "to", d.m[D_BANK].org, "prev", prev));
    }
    if (e == CX_OK) {
        demo__prev(&d, prev);
        e = demo__by(&d, "bl.transfer", D_BANK,
                     json_pack("{s:s,s:s,s:s}", "number", bl1, "to", d.m[D_IMPORTER].org, "prev",
                               prev));
    }
    if (e == CX_OK) {
        demo__prev(&d, prev);
        e = demo__by2(&d, "bl.surrender", D_IMPORTER, D_CARRIER,
                      json_pack("{s:s,s:s}", "number", bl1, "prev", prev));
    }
    if (e == CX_OK)
        e = demo__by(&d, "bl.issue", D_CARRIER,
                     json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s],s:s}", "number", bl2, "shipper",
                               "Saigon Textile Export JSC", "holder", d.m[D_IMPORTER].org,
                               "port_of_loading", "VNSGN", "port_of_discharge", "KRPUS",
                               "containers", c[1], "issued", "2024-03-01"));
    /* the third bill carries only one of the two containers declared */
    if (e == CX_OK)
        e = demo__by(&d, "bl.issue", D_CARRIER,
                     json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s],s:s}", "number", bl3, "shipper",
                               "Saigon Textile Export JSC", "holder", d.m[D_IMPORTER].org,
                               "port_of_loading", "VNSGN", "port_of_discharge", "KRPUS",
                               "containers", c[2], "issued", "2024-03-02"));
    /* anchors by the declarants */
    if (e == CX_OK)
        e = demo__anchor(&d, D_IMPORTER, id1,
                         json_pack("[{s:s,s:s}]", "issuer", d.m[D_CHAMBER].org, "number",
                                   "VN-HCM-24-010231"));
    if (e == CX_OK)
        e = demo__anchor(&d, D_IMPORTER, id2,
                         json_pack("[{s:s,s:s}]", "issuer", d.m[D_CHAMBER].org, "number",
                                   "VN-HCM-24-010244"));
    if (e == CX_OK)
        e = demo__anchor(&d, D_EXPORTER, idx3, NULL);
    if (e == CX_OK)
        e = demo__anchor(&d, D_IMPORTER, id3, NULL);
    int64_t anchor2 = -1;
    size_t k;
    json_array_foreach(d.anchored, k, x) if (strcmp(json_string_value(json_object_get(x, "id")),
                                                    id2) == 0) anchor2 =
        json_integer_value(json_object_get(x, "index"));
    /* duty: shipment 1 in full; shipment 2 at the preferential rate it is
     * not entitled to */
    char paid_at[32];
    cx_rfc3339_format(cx_now_us(), paid_at);
    if (e == CX_OK)
        e = demo__by2(&d, "payment.receipt", D_BANK, D_KCS,
                      json_pack("{s:s,s:s,s:f,s:s,s:s,s:s,s:s}", "receipt_no", "HSB-24-000871",
                                "declaration_id", id1, "amount", 1612.0, "currency", "USD",
                                "paid_at", paid_at, "payer", "ACME Trading Co., Busan", "kind",
                                "duty"));
    if (e == CX_OK)
        e = demo__by2(&d, "payment.receipt", D_BANK, D_KCS,
                      json_pack("{s:s,s:s,s:f,s:s,s:s,s:s,s:s}", "receipt_no", "HSB-24-000872",
                                "declaration_id", id2, "amount", 2600.0, "currency", "USD",
                                "paid_at", paid_at, "payer", "ACME Trading Co., Busan", "kind",
                                "duty"));
    /* e-commerce parcels: one salted commitment each */
    if (e == CX_OK) {
        json_t *parcels = json_pack(
            "[{s:s,s:s,s:s,s:f,s:s},{s:s,s:s,s:s,s:f,s:s},{s:s,s:s,s:s,s:f,s:s}]", "tracking",
            "OC123456785KR", "consignee", "Kim Min-jun, Seoul", "hs_code", "610910", "value",
            24.5, "currency", "USD", "tracking", "OC123456799KR", "consignee",
            "Lee Seo-yeon, Busan", "hs_code", "620462", "value", 38.0, "currency", "USD",
            "tracking", "OC123456808KR", "consignee", "Park Ji-ho, Incheon", "hs_code", "851713",
            "value", 129.99, "currency", "USD");
        json_t *body = NULL, *salts = NULL;
        e = ledger_parcels_body("OCL-ECOM-24-0301", parcels, &body, &salts);
        json_decref(parcels);
        if (e == CX_OK)
            e = demo__by(&d, "parcel.manifest", D_CARRIER, body);
        if (e == CX_OK)
            e = ledger_salts_put(lg, d.last_index, salts);
        json_decref(salts);
    }
    /* customs confirms the origin fraud on the log */
    if (e == CX_OK && anchor2 >= 0) {
        char summary[300];
        snprintf(summary, sizeof summary,
                 "Declaration %s claims Vietnamese origin for men's cotton trousers; the cited "
                 "certificate VN-HCM-24-010244 certifies China. Preference refused, duty "
                 "reassessed.",
                 id2);
        e = demo__by(&d, "finding", D_KCS,
                     json_pack("{s:s,s:s,s:s,s:s,s:[I]}", "rule", "origin_mismatch", "severity",
                               "high", "summary", summary, "declaration_id", id2, "evidence",
                               (json_int_t)anchor2));
    }

    /* declarations lodged before the demo: issue their bills, anchor them */
    json_array_foreach(existing, i, x)
    {
        if (e != CX_OK)
            break;
        const char *id = json_string_value(x);
        json_t *doc = demo__stored(lg, id);
        const json_t *td = json_object_get(doc, "transport_document");
        const char *num = json_string_value(json_object_get(td, "number"));
        const char *tt = json_string_value(json_object_get(td, "type"));
        const json_t *conts = json_object_get(doc, "containers");
        if (num && tt && strcmp(tt, "BL") == 0 && json_array_size(conts) > 0) {
            bool found = false;
            store_conn *rc = store_reader(ledger_store(lg));
            sqlite3_stmt *st = rc ? store_stmt(rc, "SELECT 1 FROM ledger_bls WHERE number=?1")
                                  : NULL;
            if (st) {
                sqlite3_bind_text(st, 1, num, -1, SQLITE_STATIC);
                found = sqlite3_step(st) == SQLITE_ROW;
                sqlite3_reset(st);
            }
            if (!found) {
                json_t *bl = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:s}", "number", num, "shipper",
                               "Saigon Textile Export JSC", "holder", d.m[D_IMPORTER].org,
                               "port_of_loading", "VNSGN", "port_of_discharge", "KRPUS",
                               "containers", conts, "issued", today);
                e = demo__by(&d, "bl.issue", D_CARRIER, bl);
            }
        }
        json_decref(doc);
        if (e == CX_OK)
            e = demo__anchor(&d, D_IMPORTER, id, NULL);
    }
    /* the tree head, cosigned by customs, the carrier and the bank */
    char *note = NULL;
    static const dorg cosigners[] = {D_KCS, D_CARRIER, D_BANK};
    for (size_t s = 0; e == CX_OK && s < sizeof cosigners / sizeof cosigners[0]; s++) {
        free(note);
        note = NULL;
        /* on a network each cosignature is published for the nodes too */
        e = ledger_net_cosign(lg, &d.m[cosigners[s]].key, &note, err, errlen);
    }
    if (e == CX_OK) {
        uint8_t root[32];
        char hex[65];
        int64_t n = ledger_size(lg);
        ledger_root(lg, n, root);
        cx_hex(root, 32, hex);
        fprintf(out, "ledger %s: %lld entries, root %s\n", DEMO_ORIGIN, (long long)n, hex);
        fprintf(out, "members:");
        for (int m = 0; m < D__COUNT; m++)
            fprintf(out, " %s (%s)%s", d.m[m].org, d.m[m].role, m + 1 < D__COUNT ? "," : "\n");
        fprintf(out, "governance: 2 of %s, %s, %s\n", d.gov_holder[0], d.gov_holder[1],
                d.gov_holder[2]);
        json_array_foreach(d.anchored, i, x)
            fprintf(out, "anchored declaration %s at entry %lld\n",
                    json_string_value(json_object_get(x, "id")),
                    (long long)json_integer_value(json_object_get(x, "index")));
        /* findings come from entries and from declarations meeting them on
         * arrival: list what the node recorded */
        store_conn *rc = store_reader(ledger_store(lg));
        sqlite3_stmt *st = rc ? store_stmt(rc, "SELECT severity, rule, message, source FROM "
                                               "ledger_findings ORDER BY id")
                              : NULL;
        fprintf(out, "findings:\n");
        if (!st)
            e = CX_EDB;
        while (st && store_next(st, &e)) /* a step error fails the demo, not a short list */
            fprintf(out, "  [%s] %s%s: %s\n", (const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 1),
                    strcmp((const char *)sqlite3_column_text(st, 3), "ledger") == 0
                        ? " (confirmed on the log by customs)"
                        : "",
                    (const char *)sqlite3_column_text(st, 2));
        if (st)
            sqlite3_reset(st);
        if (e != CX_OK)
            snprintf(err, errlen, "cannot read the findings: %s", cx_strerror(e));
        fprintf(out, "checkpoint:\n%s", note);
        fprintf(out, "keys (mode 0600) in %s\n", keys_dir);
    }
    free(note);
free_ids:
    free(id1);
    free(id2);
    free(idx3);
    free(id3);
done:
    json_decref(existing);
    json_decref(d.findings);
    json_decref(d.anchored);
    for (int m = 0; m < D__COUNT; m++)
        sodium_memzero(&d.m[m].key, sizeof d.m[m].key);
    sodium_memzero(d.gov, sizeof d.gov);
    return e;
}
