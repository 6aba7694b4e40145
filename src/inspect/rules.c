/* The guide's rules (data/inspection/guide.json): which check each reason
 * asks for, and the checklists per HS chapter and procedure. Parsed and
 * checked whole when the service starts; a bad file stops the start with
 * the member named. */
#include "inspect_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULES_MAX_BYTES ((size_t)1 << 20)
#define RULES_STR_MAX 1000

struct inspect_rules {
    json_t *doc; /* the checked document */
};

static const char *rules__str(const json_t *o, const char *key, const char *path, bool required,
                              json_t *problems)
{
    const json_t *v = json_object_get(o, key);
    char p[160];
    snprintf(p, sizeof p, "%s/%s", path, key);
    if (!v) {
        if (required)
            cx_problem_add(problems, p, "is required");
        return NULL;
    }
    size_t chars = 0;
    if (!json_is_string(v) || !json_string_length(v) ||
        !cx_utf8_count(json_string_value(v), json_string_length(v), &chars) ||
        chars > RULES_STR_MAX) {
        cx_problem_add(problems, p, "must be a string of 1 to %d characters", RULES_STR_MAX);
        return NULL;
    }
    return json_string_value(v);
}

static void rules__only(const json_t *o, const char *path, const char *const *keys,
                        json_t *problems)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool ok = false;
        for (size_t i = 0; keys[i] && !ok; i++)
            ok = strcmp(k, keys[i]) == 0;
        if (!ok) {
            char p[160];
            snprintf(p, sizeof p, "%s", path);
            cx_jptr_push(p, sizeof p, k);
            cx_problem_add(problems, p, "unknown member");
        }
    }
}

static void rules__where(const json_t *w, const char *path, json_t *problems)
{
    if (json_is_null(w))
        return;
    if (!json_is_object(w)) {
        cx_problem_add(problems, path, "must be an object or null");
        return;
    }
    static const char *const keys[] = {"from_door_m", "height_m", "side", NULL};
    rules__only(w, path, keys, problems);
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(w, keys[i]);
        if (v && !json_is_null(v) &&
            (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 20)) {
            char p[160];
            snprintf(p, sizeof p, "%s/%s", path, keys[i]);
            cx_problem_add(problems, p, "must be a number of metres from 0 to 20, or null");
        }
    }
    const json_t *side = json_object_get(w, "side");
    const char *sv = json_string_value(side);
    if (side && !json_is_null(side) &&
        (!sv || (strcmp(sv, "left") && strcmp(sv, "right") && strcmp(sv, "top")))) {
        char p[160];
        snprintf(p, sizeof p, "%s/side", path);
        cx_problem_add(problems, p, "must be \"left\", \"right\", \"top\" or null");
    }
}

static void rules__codes(const json_t *a, const char *path, bool chapters, json_t *problems)
{
    if (!json_is_array(a) || !json_array_size(a) || json_array_size(a) > 100) {
        cx_problem_add(problems, path, "must be an array of 1 to 100 codes");
        return;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        bool ok = s && (strcmp(s, "*") == 0 ||
                        (chapters ? strlen(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' &&
                                        s[1] <= '9'
                                  : strcmp(s, "import") == 0 || strcmp(s, "export") == 0 ||
                                        strcmp(s, "transit") == 0));
        if (!ok) {
            char p[160];
            snprintf(p, sizeof p, "%s", path);
            cx_jptr_index(p, sizeof p, i);
            cx_problem_add(problems, p,
                           chapters ? "must be a two-digit HS chapter or \"*\""
                                    : "must be \"import\", \"export\", \"transit\" or \"*\"");
        }
    }
}

static void rules__checklist(const json_t *c, const char *path, json_t *problems)
{
    static const char *const keys[] = {"chapters", "procedures", "steps", NULL};
    static const char *const skeys[] = {"title", "instruction", "check", "where", NULL};
    if (!json_is_object(c)) {
        cx_problem_add(problems, path, "must be an object");
        return;
    }
    rules__only(c, path, keys, problems);
    char p[160];
    snprintf(p, sizeof p, "%s/chapters", path);
    rules__codes(json_object_get(c, "chapters"), p, true, problems);
    snprintf(p, sizeof p, "%s/procedures", path);
    rules__codes(json_object_get(c, "procedures"), p, false, problems);
    const json_t *steps = json_object_get(c, "steps");
    snprintf(p, sizeof p, "%s/steps", path);
    if (!json_is_array(steps) || !json_array_size(steps) || json_array_size(steps) > 50) {
        cx_problem_add(problems, p, "must be an array of 1 to 50 steps");
        return;
    }
    size_t i;
    const json_t *st;
    json_array_foreach(steps, i, st)
    {
        char sp[160];
        snprintf(sp, sizeof sp, "%s", p);
        cx_jptr_index(sp, sizeof sp, i);
        if (!json_is_object(st)) {
            cx_problem_add(problems, sp, "must be an object");
            continue;
        }
        rules__only(st, sp, skeys, problems);
        rules__str(st, "title", sp, true, problems);
        rules__str(st, "instruction", sp, true, problems);
        rules__str(st, "check", sp, true, problems);
        const json_t *w = json_object_get(st, "where");
        if (w) {
            char wp[170];
            snprintf(wp, sizeof wp, "%s/where", sp);
            rules__where(w, wp, problems);
        }
    }
}

inspect_rules *inspect_rules_parse(const char *text, size_t len, json_t *problems)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        cx_problem_add(problems, "", "not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                       jerr.column);
        return NULL;
    }
    size_t before = json_array_size(problems);
    static const char *const keys[] = {"version", "reasons", "default", "checklists", NULL};
    if (!json_is_object(doc)) {
        cx_problem_add(problems, "", "must be an object");
        json_decref(doc);
        return NULL;
    }
    rules__only(doc, "", keys, problems);
    if (json_integer_value(json_object_get(doc, "version")) != 1 ||
        !json_is_integer(json_object_get(doc, "version")))
        cx_problem_add(problems, "/version", "must be 1");
    const json_t *reasons = json_object_get(doc, "reasons");
    if (!json_is_array(reasons) || json_array_size(reasons) > 1000) {
        cx_problem_add(problems, "/reasons", "must be an array of at most 1000 rules");
    } else {
        size_t i;
        const json_t *r;
        static const char *const rkeys[] = {"match", "title", "check", NULL};
        json_array_foreach(reasons, i, r)
        {
            char p[64];
            snprintf(p, sizeof p, "/reasons/%zu", i);
            if (!json_is_object(r)) {
                cx_problem_add(problems, p, "must be an object");
                continue;
            }
            rules__only(r, p, rkeys, problems);
            const char *m = rules__str(r, "match", p, true, problems);
            if (m && strchr(m, '*') && strchr(m, '*') != m + strlen(m) - 1)
                cx_problem_add(problems, p, "match may end with one '*' and have no other");
            rules__str(r, "title", p, true, problems);
            rules__str(r, "check", p, true, problems);
        }
    }
    const json_t *def = json_object_get(doc, "default");
    if (!json_is_object(def)) {
        cx_problem_add(problems, "/default", "must be an object with title and check");
    } else {
        static const char *const dkeys[] = {"title", "check", NULL};
        rules__only(def, "/default", dkeys, problems);
        rules__str(def, "title", "/default", true, problems);
        rules__str(def, "check", "/default", true, problems);
    }
    const json_t *lists = json_object_get(doc, "checklists");
    if (!json_is_array(lists) || json_array_size(lists) > 1000) {
        cx_problem_add(problems, "/checklists", "must be an array of at most 1000 checklists");
    } else {
        size_t i;
        const json_t *c;
        json_array_foreach(lists, i, c)
        {
            char p[64];
            snprintf(p, sizeof p, "/checklists/%zu", i);
            rules__checklist(c, p, problems);
        }
    }
    if (json_array_size(problems) != before) {
        json_decref(doc);
        return NULL;
    }
    inspect_rules *r = malloc(sizeof *r);
    if (!r) {
        json_decref(doc);
        return NULL;
    }
    r->doc = doc;
    return r;
}

void inspect_rules_free(inspect_rules *r)
{
    if (!r)
        return;
    json_decref(r->doc);
    free(r);
}

cx_err inspect_rules_load(const char *dir, inspect_rules **out, char *err, size_t errlen)
{
    char path[4096];
    if (dir && dir[0])
        snprintf(path, sizeof path, "%s/guide.json", dir);
    else
        snprintf(path, sizeof path, "%s/inspection/guide.json", cx_data_dir());
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CX_EIO;
    }
    cx_buf b;
    cx_buf_init(&b, RULES_MAX_BYTES);
    char chunk[8192];
    size_t n;
    cx_err e = CX_OK;
    while (e == CX_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        e = cx_buf_append(&b, chunk, n);
    if (e == CX_OK && ferror(f))
        e = CX_EIO;
    fclose(f);
    if (e != CX_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 e == CX_ETOOBIG ? "larger than 1 MiB" : cx_strerror(e));
        cx_buf_free(&b);
        return e;
    }
    json_t *problems = json_array();
    *out = inspect_rules_parse(b.data ? b.data : "", b.len, problems);
    cx_buf_free(&b);
    if (!*out) {
        const json_t *p0 = json_array_get(problems, 0);
        snprintf(err, errlen, "%s: %s %s", path,
                 p0 ? json_string_value(json_object_get(p0, "path")) : "",
                 p0 ? json_string_value(json_object_get(p0, "message")) : "out of memory");
        json_decref(problems);
        return p0 ? CX_EPARSE : CX_ENOMEM;
    }
    json_decref(problems);
    return CX_OK;
}

/* ---- building steps ------------------------------------------------------------- */

static const json_t *rules__match(const inspect_rules *r, const char *feature)
{
    size_t i;
    const json_t *rule;
    json_array_foreach(json_object_get(r->doc, "reasons"), i, rule)
    {
        const char *m = json_string_value(json_object_get(rule, "match"));
        size_t ml = strlen(m);
        if (ml && m[ml - 1] == '*' ? strncmp(m, feature, ml - 1) == 0 : strcmp(m, feature) == 0)
            return rule;
    }
    return json_object_get(r->doc, "default");
}

static const char *rules__source(const char *feature)
{
    if (strncmp(feature, "ledger.", 7) == 0)
        return "ledger";
    if (strncmp(feature, "alert.", 6) == 0)
        return "track";
    if (strncmp(feature, "xray.", 5) == 0)
        return "xray";
    return "risk";
}

static json_t *rules__step(const char *key, const char *title, const char *instruction,
                           json_t *where, const char *source, const char *check)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:s,s:s}", "key", key, "title", title, "instruction",
                     instruction, "where", where ? where : json_null(), "source", source,
                     "check", check);
}

/* A sentence and a check: "value per kg far below …: weigh and count". */
static json_t *rules__reason_step(const inspect_rules *r, const json_t *reason, size_t nth)
{
    const char *feature = json_string_value(json_object_get(reason, "feature"));
    const char *detail = json_string_value(json_object_get(reason, "detail"));
    /* reasons that lower the risk, or say there is no model, ask for no check */
    if (!feature || json_number_value(json_object_get(reason, "contribution")) <= 0)
        return NULL;
    const json_t *rule = rules__match(r, feature);
    const char *check = json_string_value(json_object_get(rule, "check"));
    char key[128], instr[2200];
    snprintf(key, sizeof key, "reason:%s:%zu", feature, nth);
    if (detail && detail[0])
        snprintf(instr, sizeof instr, "%s: %s", detail, check);
    else
        snprintf(instr, sizeof instr, "%s", check);
    return rules__step(key, json_string_value(json_object_get(rule, "title")), instr, NULL,
                       rules__source(feature), check);
}

static size_t rules__nth(json_t *seen, const char *feature)
{
    json_int_t n = json_integer_value(json_object_get(seen, feature)) + 1;
    json_object_set_new(seen, feature, json_integer(n));
    return (size_t)n;
}

static bool rules__has(const json_t *list, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *c = json_string_value(v);
        if (strcmp(c, "*") == 0 || strcmp(c, s) == 0)
            return true;
    }
    return false;
}

static bool rules__any_chapter(const json_t *chapters, const json_t *decl)
{
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(decl, "items"), i, it)
    {
        const char *hs = json_string_value(json_object_get(it, "hs_code"));
        char two[3] = "";
        if (hs && strlen(hs) >= 2)
            snprintf(two, sizeof two, "%.2s", hs);
        if (rules__has(chapters, two))
            return true;
    }
    return false;
}

/* "dense object 3.2 m from the doors, at floor height, left side" */
static void rules__region_sentence(const json_t *reg, char *out, size_t cap)
{
    const char *kind = json_string_value(json_object_get(reg, "kind"));
    char what[64];
    snprintf(what, sizeof what, "%s", kind ? kind : "anomaly");
    for (char *p = what; *p; p++)
        if (*p == '_')
            *p = ' ';
    const json_t *fd = json_object_get(reg, "from_door_m"), *h = json_object_get(reg, "height_m");
    const char *side = json_string_value(json_object_get(reg, "side"));
    int n = snprintf(out, cap, "%s", what);
    if (json_is_number(fd) && n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, " %.1f m from the doors", json_number_value(fd));
    if (json_is_number(h) && n > 0 && (size_t)n < cap) {
        double hv = json_number_value(h);
        n += snprintf(out + n, cap - (size_t)n, ", %s",
                      hv < 0.6 ? "at floor height" : hv < 1.8 ? "at mid height" : "near the roof");
    }
    if (side && n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, ", %s side", side);
}

static json_t *rules__region_step(const inspect_rules *r, const json_t *reg, size_t i)
{
    const char *kind = json_string_value(json_object_get(reg, "kind"));
    char feature[64], key[64], sentence[256], instr[1400];
    snprintf(feature, sizeof feature, "xray.%s", kind ? kind : "anomaly");
    const json_t *rule = rules__match(r, feature);
    const char *check = json_string_value(json_object_get(rule, "check"));
    json_int_t n = json_is_integer(json_object_get(reg, "n"))
                       ? json_integer_value(json_object_get(reg, "n"))
                       : (json_int_t)i + 1;
    snprintf(key, sizeof key, "xray:region:%lld", (long long)n);
    rules__region_sentence(reg, sentence, sizeof sentence);
    snprintf(instr, sizeof instr, "%s: %s", sentence, check);
    const json_t *fd = json_object_get(reg, "from_door_m"), *h = json_object_get(reg, "height_m"),
                 *side = json_object_get(reg, "side");
    json_t *where = json_pack("{s:O,s:O,s:O}", "from_door_m", json_is_number(fd) ? fd : json_null(),
                              "height_m", json_is_number(h) ? h : json_null(), "side",
                              json_is_string(side) ? side : json_null());
    return rules__step(key, json_string_value(json_object_get(rule, "title")), instr, where,
                       "xray", check);
}

/* A scan's region raises its own reason (xray.organic_mass …); the region's
 * step, with where, says it better. */
static bool rules__region_reason(const char *feature, const json_t *regions)
{
    if (strncmp(feature, "xray.", 5) != 0)
        return false;
    size_t i;
    const json_t *reg;
    json_array_foreach(regions, i, reg)
    {
        const char *kind = json_string_value(json_object_get(reg, "kind"));
        if (kind && strcmp(kind, feature + 5) == 0)
            return true;
    }
    return false;
}

json_t *inspect_guide_steps(const inspect_rules *r, const json_t *decl, const json_t *risk,
                            const json_t *scan_regions)
{
    json_t *steps = json_array(), *seen = json_object(), *late = json_array();
    size_t i;
    const json_t *v;
    /* risk reasons first (as ranked), then the scan, the ledger, tracking */
    json_array_foreach(json_object_get(risk, "reasons"), i, v)
    {
        const char *f = json_string_value(json_object_get(v, "feature"));
        if (!f || rules__region_reason(f, scan_regions))
            continue;
        json_t *st = rules__reason_step(r, v, rules__nth(seen, f));
        if (st)
            json_array_append_new(strcmp(rules__source(f), "risk") == 0 ? steps : late, st);
    }
    json_array_foreach(scan_regions, i, v) json_array_append_new(steps, rules__region_step(r, v, i));
    static const char *const order[] = {"xray", "ledger", "track"};
    for (int k = 0; k < 3; k++) {
        json_t *lv;
        json_array_foreach(late, i, lv)
        {
            if (strcmp(json_string_value(json_object_get(lv, "source")), order[k]) == 0)
                json_array_append(steps, lv);
        }
    }
    json_decref(late);
    json_decref(seen);
    /* the checklists that fit the goods and the procedure */
    const char *type = json_string_value(json_object_get(decl, "type"));
    const json_t *list;
    json_array_foreach(json_object_get(r->doc, "checklists"), i, list)
    {
        if (!rules__has(json_object_get(list, "procedures"), type ? type : "") ||
            !rules__any_chapter(json_object_get(list, "chapters"), decl))
            continue;
        size_t k;
        const json_t *s;
        json_array_foreach(json_object_get(list, "steps"), k, s)
        {
            const char *title = json_string_value(json_object_get(s, "title"));
            char key[1100];
            snprintf(key, sizeof key, "checklist:%s", title);
            const json_t *w = json_object_get(s, "where");
            json_array_append_new(steps,
                                  rules__step(key, title,
                                              json_string_value(json_object_get(s, "instruction")),
                                              w ? json_deep_copy(w) : NULL, "checklist",
                                              json_string_value(json_object_get(s, "check"))));
        }
    }
    return steps;
}
