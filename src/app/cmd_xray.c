/* customs xray: analyse a scan, render it, simulate scans. */
#include "app.h"

#include "declare.h"
#include "xray.h"
#include "xray_sim.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "Usage: customs xray analyze SCAN.png|SCAN.tiff|SCAN.dcm [--meta SIDECAR.json]\n"
    "                    [--declared-empty] [--declared-mass-kg M] [--declared-hs CC[,CC…]]\n"
    "                    [--mass-tolerance F] [--json]\n"
    "       customs xray render SCAN [--meta SIDECAR.json] --out IMAGE.png [--overlay OVERLAY.png]\n"
    "       customs xray simulate --seed S --n N --out DIR [--kinds empty,loaded,concealed]\n"
    "                    [--format png|tiff|dcm] [--pixel-mm P] [--container 20ft|40ft|40ft-hc]\n"
    "                    [--block-mm B]\n"
    "\n"
    "analyze  reads a container scan (16- or 8-bit grayscale PNG or TIFF with a JSON\n"
    "         sidecar, or DICOS) and prints one JSON object: whether the container is\n"
    "         empty (empty_score: the probability it holds nothing), regions that do\n"
    "         not fit the load (pixels and metres from the doors), the observed mass\n"
    "         against the declared, and findings. --meta is required unless a DICOS\n"
    "         file carries the sidecar's fields. What was declared comes from the\n"
    "         sidecar (declared_empty, declared_mass_kg) unless given here.\n"
    "         Without --json the object is indented; with it, one line.\n"
    "render   writes an 8-bit PNG with a window/level fitted to the scan and, with\n"
    "         --overlay, the same picture with the analysis' regions drawn.\n"
    "simulate renders N physics-based scans (20/40-ft containers, loads by HS chapter,\n"
    "         concealments, noise) with their sidecars and DIR/truth.json. Kinds:\n"
    "         empty, loaded, concealed, or one concealment: empty_block, dense_block,\n"
    "         false_wall, floor_drugs, cigarettes (scan i gets kind i mod count).\n"
    "\n"
    "Examples:\n"
    "  customs xray simulate --seed 7 --n 20 --out scans --kinds empty,loaded,concealed\n"
    "  customs xray analyze scans/SIM-7-000003.png --meta scans/SIM-7-000003.json --json\n";

/* getopt_long takes unambiguous prefixes (--dec for --declared-empty): a
 * guess. Every long option must be spelled out. */
static int xray__exact_options(int argc, char **argv, const struct option *opts)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strncmp(a, "--", 2) != 0)
            continue;
        size_t n = strcspn(a + 2, "=");
        bool known = false;
        for (const struct option *o = opts; o->name && !known; o++)
            known = strlen(o->name) == n && strncmp(o->name, a + 2, n) == 0;
        if (!known)
            return app_usage("xray", "unknown option '%.*s'", (int)(n + 2), a);
    }
    return -1;
}

static cx_err xray__write(const char *path, const void *data, size_t len, char *err,
                          size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return CX_EIO;
    }
    return CX_OK;
}

/* ---- reading a scan -------------------------------------------------------------------- */

/* The scan's pixels and its sidecar (--meta, else the DICOS attributes).
 * Unknown sidecar members are reported and skipped: files come from many
 * scanners; the API is strict. */
static int xray__open(const char *path, const char *meta_path, xray_image **im, xray_meta *m)
{
    char err[512];
    uint8_t *data = NULL;
    size_t len = 0;
    json_t *dmeta = NULL;
    if (xray_file_load(path, &data, &len, err, sizeof err) != CX_OK)
        return app_fail("xray", "%s", err);
    cx_err e = xray_read(data, len, im, &dmeta, err, sizeof err);
    free(data);
    if (e != CX_OK)
        return app_fail("xray", "%s: %s", path, err);
    json_t *meta = dmeta;
    if (meta_path) {
        json_error_t je;
        json_decref(dmeta);
        meta = json_load_file(meta_path, JSON_REJECT_DUPLICATES, &je);
        if (!meta) {
            xray_image_free(*im);
            return app_fail("xray", "%s: line %d: %s", meta_path, je.line, je.text);
        }
    } else if (!meta) {
        xray_image_free(*im);
        return app_usage("xray", "--meta SIDECAR.json is required for PNG and TIFF scans");
    }
    json_t *problems = json_array(), *unknown = json_array();
    bool ok = xray_meta_parse(meta, "", false, m, problems, unknown);
    size_t i;
    json_t *v;
    json_array_foreach(unknown, i, v)
        fprintf(stderr, "customs xray: %s: ignoring unknown sidecar member '%s'\n",
                meta_path ? meta_path : path, json_string_value(v));
    json_array_foreach(problems, i, v)
        fprintf(stderr, "customs xray: %s: %s %s\n", meta_path ? meta_path : path,
                json_string_value(json_object_get(v, "path")),
                json_string_value(json_object_get(v, "message")));
    json_decref(meta);
    json_decref(problems);
    json_decref(unknown);
    if (!ok) {
        xray_image_free(*im);
        return app_fail("xray", "the sidecar is not valid");
    }
    return -1;
}

/* ---- analyze ----------------------------------------------------------------------------- */

static int xray__hs_list(const char *list, xray_declared *d)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    d->nchapters = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (d->nchapters == 8 || strlen(t) != 2 || !decl_hs_chapter_known(t))
            return app_usage("xray", "--declared-hs takes up to 8 HS chapters (2 digits), "
                                     "e.g. 61,62");
        memcpy(d->hs_chapters[d->nchapters++], t, 3);
    }
    return -1;
}

static int xray__analyze(int argc, char **argv)
{
    static const struct option opts[] = {{"meta", required_argument, NULL, 'm'},
                                         {"declared-empty", no_argument, NULL, 'e'},
                                         {"declared-mass-kg", required_argument, NULL, 'k'},
                                         {"declared-hs", required_argument, NULL, 'c'},
                                         {"mass-tolerance", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int rc = xray__exact_options(argc, argv, opts);
    if (rc >= 0)
        return rc;
    const char *meta = NULL, *hs = NULL;
    bool json = false, empty = false;
    double mass = NAN, tol = 0;
    app_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': meta = optarg; break;
        case 'e': empty = true; break;
        case 'k':
            if (!cx_parse_double(optarg, &mass) || !(mass >= 0 && mass <= 1e6))
                return app_usage("xray", "--declared-mass-kg must be a number from 0 to 1000000");
            break;
        case 'c': hs = optarg; break;
        case 't':
            if (!cx_parse_double(optarg, &tol) || !(tol > 0 && tol < 10))
                return app_usage("xray", "--mass-tolerance must be a fraction above 0, e.g. 0.2");
            break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return 0;
        default: return app_usage("xray", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return app_usage("xray", "analyze needs exactly one SCAN file");
    if (empty && !isnan(mass) && mass > 0)
        return app_usage("xray", "--declared-empty and a --declared-mass-kg above 0 contradict");
    char err[512];
    if (hs && decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail("xray", "%s", err);
    xray_image *im = NULL;
    xray_meta m;
    if ((rc = xray__open(argv[optind], meta, &im, &m)) >= 0)
        return rc;
    xray_declared d = {.empty = m.declared_empty, .mass_kg = m.declared_mass_kg,
                       .mass_tolerance = tol};
    if (empty)
        d.empty = 1;
    if (!isnan(mass))
        d.mass_kg = mass;
    if (hs && (rc = xray__hs_list(hs, &d)) >= 0) {
        xray_image_free(im);
        return rc;
    }
    xray_result *res = NULL;
    cx_err e = xray_analyze(im, &m, &d, &res);
    xray_image_free(im);
    if (e != CX_OK)
        return app_fail("xray", "analysis failed: %s", cx_strerror(e));
    json_t *j = xray_result_json(res);
    xray_result_free(res);
    char *text = j ? json_dumps(j, (json ? JSON_COMPACT : JSON_INDENT(2)) | JSON_REAL_PRECISION(10) |
                                     JSON_PRESERVE_ORDER)
                   : NULL;
    json_decref(j);
    if (!text)
        return app_fail("xray", "out of memory");
    puts(text);
    free(text);
    return 0;
}

/* ---- render ------------------------------------------------------------------------------ */

static int xray__render(int argc, char **argv)
{
    static const struct option opts[] = {{"meta", required_argument, NULL, 'm'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"overlay", required_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int rc = xray__exact_options(argc, argv, opts);
    if (rc >= 0)
        return rc;
    const char *meta = NULL, *out = NULL, *overlay = NULL;
    app_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': meta = optarg; break;
        case 'o': out = optarg; break;
        case 'v': overlay = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default: return app_usage("xray", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1 || !out)
        return app_usage("xray", "render needs one SCAN and --out IMAGE.png");
    xray_image *im = NULL;
    xray_meta m;
    if ((rc = xray__open(argv[optind], meta, &im, &m)) >= 0)
        return rc;
    char err[512] = "";
    cx_buf b;
    cx_buf_init(&b, (size_t)256 << 20);
    cx_err e = xray_render_png(im, &m, &b);
    if (e == CX_OK)
        e = xray__write(out, b.data, b.len, err, sizeof err);
    if (e == CX_OK && overlay) {
        xray_result *res = NULL;
        cx_buf_reset(&b);
        e = xray_analyze(im, &m, NULL, &res);
        if (e == CX_OK)
            e = xray_render_overlay(im, &m, res->regions, res->nregions, &b);
        if (e == CX_OK)
            e = xray__write(overlay, b.data, b.len, err, sizeof err);
        xray_result_free(res);
    }
    cx_buf_free(&b);
    xray_image_free(im);
    if (e != CX_OK)
        return app_fail("xray", "%s", err[0] ? err : cx_strerror(e));
    return 0;
}

/* ---- simulate ------------------------------------------------------------------------- */

static int xray__kinds(const char *list, xsim_kind *kinds, size_t *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == 16 || !xsim_kind_parse(t, &kinds[*n]))
            return app_usage("xray", "--kinds: '%s' is not one of empty, loaded, concealed, "
                                     "empty_block, dense_block, false_wall, floor_drugs, "
                                     "cigarettes", t);
        (*n)++;
    }
    if (*n == 0)
        return app_usage("xray", "--kinds needs at least one kind");
    return -1;
}

static cx_err xray__save_scan(const char *dir, const char *format, const xsim_scan *s,
                              char *file, size_t filelen, char *err, size_t errlen)
{
    char path[4096];
    snprintf(file, filelen, "%s.%s", s->meta.scan_id,
             strcmp(format, "tiff") == 0 ? "tiff" : strcmp(format, "dcm") == 0 ? "dcm" : "png");
    snprintf(path, sizeof path, "%s/%s", dir, file);
    cx_err e;
    if (strcmp(format, "dcm") == 0) {
        e = xray_dicos_save(s->image, &s->meta, path, err, errlen);
    } else {
        cx_buf b;
        cx_buf_init(&b, XRAY_MAX_FILE);
        e = strcmp(format, "tiff") == 0 ? xray_tiff_encode(s->image, &b)
                                        : xray_png_encode(s->image, 16, &b);
        if (e == CX_OK)
            e = xray__write(path, b.data, b.len, err, errlen);
        else
            snprintf(err, errlen, "%s: %s", path, cx_strerror(e));
        cx_buf_free(&b);
    }
    if (e != CX_OK)
        return e;
    json_t *meta = xray_meta_json(&s->meta);
    snprintf(path, sizeof path, "%s/%s.json", dir, s->meta.scan_id);
    e = json_dump_file(meta, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) == 0 ? CX_OK
                                                                                    : CX_EIO;
    if (e != CX_OK)
        snprintf(err, errlen, "%s: cannot write", path);
    json_decref(meta);
    return e;
}

static int xray__simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'},     {"n", required_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},      {"kinds", required_argument, NULL, 'k'},
        {"format", required_argument, NULL, 'f'},   {"pixel-mm", required_argument, NULL, 'p'},
        {"container", required_argument, NULL, 'c'}, {"block-mm", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int rc = xray__exact_options(argc, argv, opts);
    if (rc >= 0)
        return rc;
    xsim_opts o = {0};
    int64_t n = -1, seed = -1;
    const char *out = NULL, *format = "png";
    xsim_kind kinds[16] = {XSIM_EMPTY, XSIM_LOADED, XSIM_CONCEALED};
    size_t nkinds = 3;
    app_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!cx_parse_i64(optarg, &seed) || seed < 0)
                return app_usage("xray", "--seed must be a whole number ≥ 0");
            break;
        case 'n':
            if (!cx_parse_i64(optarg, &n) || n < 1 || n > 100000)
                return app_usage("xray", "--n must be 1 to 100000");
            break;
        case 'o': out = optarg; break;
        case 'k':
            if ((rc = xray__kinds(optarg, kinds, &nkinds)) >= 0)
                return rc;
            break;
        case 'f':
            if (strcmp(optarg, "png") && strcmp(optarg, "tiff") && strcmp(optarg, "dcm"))
                return app_usage("xray", "--format must be png, tiff or dcm");
            format = optarg;
            break;
        case 'p':
            if (!cx_parse_double(optarg, &o.pixel_mm) || o.pixel_mm < 1 || o.pixel_mm > 20)
                return app_usage("xray", "--pixel-mm must be 1 to 20");
            break;
        case 'b':
            if (!cx_parse_double(optarg, &o.block_mm) || o.block_mm < 50 || o.block_mm > 1500)
                return app_usage("xray", "--block-mm must be 50 to 1500");
            break;
        case 'c':
            o.container = strcmp(optarg, "20ft") == 0      ? XRAY_CT_20
                          : strcmp(optarg, "40ft") == 0    ? XRAY_CT_40
                          : strcmp(optarg, "40ft-hc") == 0 ? XRAY_CT_40HC
                                                           : XRAY_CT_UNKNOWN;
            if (o.container == XRAY_CT_UNKNOWN)
                return app_usage("xray", "--container must be 20ft, 40ft or 40ft-hc");
            break;
        case 'h': fputs(help, stdout); return 0;
        default: return app_usage("xray", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return app_usage("xray", "unexpected argument '%s'", argv[optind]);
    if (seed < 0 || n < 0 || !out)
        return app_usage("xray", "simulate needs --seed S, --n N and --out DIR");
    o.seed = (uint64_t)seed;
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        return app_fail("xray", "%s: %s", out, strerror(errno));
    json_t *scans = json_array();
    cx_progress *bar = getenv("CUSTOMS_NO_PROGRESS") ? NULL
                                                     : cx_progress_new("simulate", (uint64_t)n,
                                                                       "scans");
    char err[512];
    cx_err e = CX_OK;
    for (int64_t i = 0; i < n && e == CX_OK; i++) {
        xsim_scan s;
        char file[128];
        e = xsim_render(&o, (uint64_t)i, kinds[(size_t)i % nkinds], &s, err, sizeof err);
        if (e == CX_OK)
            e = xray__save_scan(out, format, &s, file, sizeof file, err, sizeof err);
        if (e == CX_OK) {
            json_object_set_new(s.truth, "file", json_string(file));
            json_array_append(scans, s.truth);
        }
        xsim_scan_free(&s);
        cx_progress_set(bar, (uint64_t)i + 1, (uint64_t)i + 1);
    }
    cx_progress_free(bar);
    if (e == CX_OK) {
        json_t *kj = json_array();
        for (size_t k = 0; k < nkinds; k++)
            json_array_append_new(kj, json_string(xsim_kind_name(kinds[k])));
        json_t *truth = json_pack("{s:I,s:I,s:o,s:O}", "seed", (json_int_t)seed, "n",
                                  (json_int_t)n, "kinds", kj, "scans", scans);
        char path[4096];
        snprintf(path, sizeof path, "%s/truth.json", out);
        if (json_dump_file(truth, path, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) != 0) {
            snprintf(err, sizeof err, "%s: cannot write", path);
            e = CX_EIO;
        }
        json_decref(truth);
    }
    json_decref(scans);
    if (e != CX_OK)
        return app_fail("xray", "%s", err);
    return 0;
}

int app_cmd_xray(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "analyze") == 0)
        return xray__analyze(argc - 1, argv + 1);
    if (strcmp(argv[1], "render") == 0)
        return xray__render(argc - 1, argv + 1);
    if (strcmp(argv[1], "simulate") == 0)
        return xray__simulate(argc - 1, argv + 1);
    return app_usage("xray", "unknown action '%s' (analyze, render, simulate)", argv[1]);
}
