/* customs training generate: cases for officers to practise on, built from
 * the simulators the platform has — a declaration with its risk reasons, a
 * simulated X-ray scan with what is hidden in it, ledger and tracking
 * events. Cases are stored in the inspection module's training tables,
 * never as declarations. Some clean cases carry alarming reasons and some
 * concealments come with quiet paperwork, so the reasons alone never give
 * the answer away. */
#include "app.h"

#include "inspect.h"
#include "xray_sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage: customs training generate --db PATH --seed S --n N\n"
    "\n"
    "Adds N training cases (seed S: the same seed gives the same cases; a case\n"
    "already stored is kept) for /#/training and GET /v1/training/cases/next.\n"
    "Each case is a simulated declaration with risk reasons, ledger and tracking\n"
    "events and an X-ray scan; about half hide something (a block in an empty\n"
    "container, a dense object in the load, a false front wall, packages in the\n"
    "floor, cigarettes behind the load). docs/inspection.md has the scoring.\n";

/* A tiny deterministic generator (splitmix64): cases depend on the seed only. */
static uint64_t tr__next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static const char *tr__pick(uint64_t *s, const char *const *list, size_t n)
{
    return list[tr__next(s) % n];
}

/* The HS subheading a simulated load of this chapter is declared under. */
static const char *tr__hs6(int chapter)
{
    static const struct {
        int ch;
        const char *hs6, *desc;
    } t[] = {{8, "080810", "Fresh apples"},       {20, "200911", "Frozen orange juice"},
             {39, "392690", "Plastic articles"},  {44, "441899", "Wooden builders' joinery"},
             {48, "481910", "Corrugated cartons"}, {61, "610910", "Cotton T-shirts"},
             {64, "640399", "Leather footwear"},  {69, "690722", "Ceramic tiles"},
             {72, "721049", "Galvanised steel sheet"}, {84, "847130", "Laptop computers"},
             {85, "851712", "Mobile phones"},     {87, "870323", "Passenger cars"},
             {94, "940360", "Wooden furniture"},  {95, "950300", "Toys"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].ch == chapter)
            return t[i].hs6;
    return "940360";
}

static json_t *tr__declaration(uint64_t seed, uint64_t i, const xsim_scan *s)
{
    int chapter = (int)json_integer_value(json_object_get(s->truth, "hs_chapter"));
    bool empty = json_is_true(json_object_get(s->truth, "empty"));
    double mass = json_number_value(json_object_get(s->truth, "declared_mass_kg"));
    char ref[64];
    snprintf(ref, sizeof ref, "TRAIN-%llu-%llu", (unsigned long long)seed,
             (unsigned long long)i);
    const char *hs = empty ? "860900" : tr__hs6(chapter);
    return json_pack("{s:s,s:b,s:s,s:s,s:[s],s:[{s:s,s:s,s:f,s:f}]}", "reference", ref,
                     "training", 1, "type", "import", "office", "KRPUS", "containers",
                     s->meta.container, "items", "hs_code", hs, "country_of_origin",
                     tr__hs6(chapter)[0] == '8' ? "CN" : "VN", "gross_mass_kg",
                     empty ? 0.0 : round(mass), "value", empty ? 0.0 : round(mass * 3.1));
}

/* Reasons and events: for cases that hide something, the signal that would
 * have sent them red; for some clean ones, a signal that turns out harmless. */
static void tr__signals(uint64_t *rng, bool hidden, json_t *reasons, json_t *events)
{
    static const char *const risky[] = {
        "value per kg far below others of this HS subheading from this origin",
        "first declaration of this importer",
        "route through a transhipment port often used to hide origin",
        "declarant's past declarations were often corrected after inspection"};
    static const char *const feats[] = {"unit_value", "importer", "route", "declarant"};
    static const char *const track[] = {
        "seal opened at 03:12 near a rest area, closed again at 03:40",
        "unscheduled stop of 46 minutes outside the corridor",
        "doors opened at 22:05 before the port gate"};
    static const char *const findings[] = {
        "container not on the bill of lading",
        "certificate of origin names another exporter"};
    uint64_t r = tr__next(rng);
    size_t k = r % 4;
    if (hidden || r % 3 == 0)
        json_array_append_new(reasons, json_pack("{s:s,s:s}", "feature", feats[k], "detail",
                                                 risky[k]));
    if ((hidden && r % 2) || (!hidden && r % 5 == 0))
        json_array_append_new(events, json_pack("{s:s,s:s}", "source", "track", "text",
                                                tr__pick(rng, track, 3)));
    if ((hidden && r % 3 == 1) || (!hidden && r % 7 == 0))
        json_array_append_new(events, json_pack("{s:s,s:s}", "source", "ledger", "text",
                                                tr__pick(rng, findings, 2)));
    if (!json_array_size(reasons))
        json_array_append_new(reasons,
                              json_pack("{s:s,s:s}", "feature", "random_selection", "detail",
                                        "chosen at random for inspection"));
}

/* The hidden regions in pixels, and the sentence the trainee reads after. */
static json_t *tr__truth(const xsim_scan *s, char *expl, size_t cap)
{
    json_t *regions = json_array();
    size_t i;
    json_t *c;
    int n = snprintf(expl, cap, "Hidden: ");
    json_array_foreach(json_object_get(s->truth, "concealments"), i, c)
    {
        json_array_append_new(regions, json_pack("{s:O,s:O,s:O,s:O,s:O}", "x",
                                                 json_object_get(c, "x"), "y",
                                                 json_object_get(c, "y"), "w",
                                                 json_object_get(c, "w"), "h",
                                                 json_object_get(c, "h"), "what",
                                                 json_object_get(c, "what")));
        if (n > 0 && (size_t)n < cap)
            n += snprintf(expl + n, cap - (size_t)n, "%s%s, %.1f m from the doors at %.1f m high",
                          i ? "; " : "", json_string_value(json_object_get(c, "what")),
                          json_number_value(json_object_get(c, "from_door_m")),
                          json_number_value(json_object_get(c, "height_m")));
    }
    if (!json_array_size(regions))
        snprintf(expl, cap, "Nothing was hidden: %s.",
                 json_string_value(json_object_get(s->truth, "what"))
                     ? json_string_value(json_object_get(s->truth, "what"))
                     : "the load matches the declaration");
    else if (n > 0 && (size_t)n < cap)
        snprintf(expl + n, cap - (size_t)n, ".");
    return regions;
}

static cx_err tr__one(store *st, uint64_t seed, uint64_t i, bool *added, char *err, size_t errlen)
{
    static const xsim_kind kinds[] = {XSIM_LOADED, XSIM_EMPTY_BLOCK, XSIM_EMPTY,
                                      XSIM_DENSE_BLOCK, XSIM_LOADED, XSIM_FALSE_WALL,
                                      XSIM_FLOOR_DRUGS, XSIM_CIGARETTES};
    uint64_t rng = seed * 1000003ULL + i;
    xsim_kind kind = kinds[tr__next(&rng) % (sizeof kinds / sizeof kinds[0])];
    xsim_opts o = {.seed = seed + 7000, .pixel_mm = 10, .container = XRAY_CT_20};
    xsim_scan s;
    cx_err e = xsim_render(&o, i, kind, &s, err, errlen);
    if (e != CX_OK)
        return e;
    cx_buf png;
    cx_buf_init(&png, (size_t)32 << 20);
    e = xray_render_png(s.image, &s.meta, &png);
    char expl[1024];
    json_t *regions = tr__truth(&s, expl, sizeof expl), *reasons = json_array(),
           *events = json_array(), *decl = tr__declaration(seed, i, &s);
    bool hidden = json_array_size(regions) > 0;
    tr__signals(&rng, hidden, reasons, events);
    bool mismatch = json_is_true(json_object_get(s.truth, "mass_mismatch"));
    inspect_training_case c = {
        .seed = seed, .index = i, .declaration = decl, .reasons = reasons, .events = events,
        .regions = regions, .lane = hidden ? "red" : mismatch ? "yellow" : "green",
        .explanation = expl, .png = (const uint8_t *)png.data, .png_len = png.len,
        .width = s.image->w, .height = s.image->h};
    char id[CX_ID_LEN + 1];
    if (e == CX_OK)
        e = inspect_training_add(st, &c, id);
    *added = e == CX_OK;
    if (e == CX_EEXIST)
        e = CX_OK;
    else if (e != CX_OK)
        snprintf(err, errlen, "case %llu not stored: %s", (unsigned long long)i, cx_strerror(e));
    cx_buf_free(&png);
    json_decref(regions);
    json_decref(reasons);
    json_decref(events);
    json_decref(decl);
    xsim_scan_free(&s);
    return e;
}

int app_cmd_training(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"seed", required_argument, NULL, 's'},
        {"n", required_argument, NULL, 'n'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "generate") != 0)
        return app_usage("training", "unknown action '%s' (generate)", argv[1]);
    const char *db = NULL;
    int64_t seed = -1, n = -1;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc - 1, argv + 1, opts, NULL, "training generate")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 's':
            if (!cx_parse_i64(optarg, &seed) || seed < 0)
                return app_usage("training", "--seed must be a whole number of 0 or more");
            break;
        case 'n':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 10000)
                return app_usage("training", "--n must be 1 to 10000");
            break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2;
        }
    }
    if (optind + 1 != argc)
        return app_usage("training", "unexpected argument '%s'", argv[optind + 1]);
    if (!db || seed < 0 || n < 1)
        return app_usage("training", "generate needs --db PATH, --seed S and --n N");
    char err[512];
    store *st = NULL;
    if (app_open_store(db, &st, err, sizeof err) != CX_OK)
        return app_fail("training", "%s", err);
    int64_t added = 0;
    cx_err e = CX_OK;
    for (int64_t i = 0; i < n && e == CX_OK; i++) {
        bool a = false;
        e = tr__one(st, (uint64_t)seed, (uint64_t)i, &a, err, sizeof err);
        added += a;
    }
    store_free(st);
    if (e != CX_OK)
        return app_fail("training", "%s", err);
    printf("%lld training cases added (%lld already there)\n", (long long)added,
           (long long)(n - added));
    return 0;
}
