/* customs designs: inspect, convert, register and match 3D design files. */
#include "app.h"

#include "designs.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage:\n"
    "  customs designs inspect FILE [--json]\n"
    "  customs designs convert FILE --out FILE [--format stl|3mf|obj] [--ascii]\n"
    "  customs designs register --db PATH --watchlist ipr|security --holder H --title T\n"
    "                           [--reference R] [--registration NUMBER]\n"
    "                           [--valid-until YYYY-MM-DD]\n"
    "                           [--ledger-entry OUT.json --org ORG] FILE\n"
    "  customs designs match --db PATH FILE [--json]\n"
    "  customs designs list --db PATH [--watchlist ipr|security] [--json]\n"
    "\n"
    "Reads binary and ASCII STL, 3MF and OBJ. inspect measures a file: triangles,\n"
    "welded vertices, size, area, volume (closed meshes), watertightness and its\n"
    "defects, the SHA-256 of the file and of its canonical mesh. register adds a\n"
    "design to a watchlist (ipr: protected designs of a rights holder; security:\n"
    "controlled items) and prints its id. match compares a file with both\n"
    "watchlists, however it was scaled, turned, mirrored or re-meshed: the ten\n"
    "most similar designs, best first, with a similarity in 0..1; match is true\n"
    "from the threshold 0.80 (docs/designs.md). Lengths are millimetres; STL\n"
    "and OBJ carry no unit and are taken as millimetres.\n"
    "\n"
    "Options:\n"
    "  --json             one JSON object (inspect) or JSON lines (match, list)\n"
    "  --out FILE         convert: where to write (the format from its extension)\n"
    "  --format F         convert: stl, 3mf or obj (instead of the extension)\n"
    "  --ascii            convert: ASCII STL instead of binary\n"
    "  --db PATH          SQLite database file\n"
    "  --watchlist W      ipr or security\n"
    "  --holder H         the rights holder (ipr) or the keeping agency (security)\n"
    "  --title T          what the design is\n"
    "  --reference R      the holder's own reference\n"
    "  --registration N   the design's registration number (e.g. an EU design)\n"
    "  --valid-until D    last day of protection; expired ipr designs stop matching\n"
    "  --ledger-entry F   register: also write an unsigned ipr.register ledger entry\n"
    "                     with the design's mesh hash and fingerprint, for the holder\n"
    "                     to sign (customs ledger sign) and submit; needs --org (the\n"
    "                     holder's ledger organisation), --registration, --valid-until\n"
    "  --org ORG          the entry's author\n"
    "\n"
    "Examples:\n"
    "  customs designs inspect part.stl --json\n"
    "  customs designs register --db var/customs.db --watchlist ipr --holder 'ACME Toys'\n"
    "      --title 'Rocket figurine' --registration 'EM 008765432-0001' rocket.3mf\n"
    "  customs designs match --db var/customs.db upload.stl --json\n";

typedef struct {
    const char *db, *out, *format, *watchlist, *holder, *title, *reference, *registration,
        *valid_until, *ledger_entry, *org;
    bool json, ascii;
    const char *file;
} designs_opts;

/* Parses argv (after the action) into o; returns -1 to go on, else the exit code. */
static int designs__parse(const char *cmd, int argc, char **argv, const char *only,
                          designs_opts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},        {"out", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},    {"watchlist", required_argument, NULL, 'w'},
        {"holder", required_argument, NULL, 'H'},    {"title", required_argument, NULL, 't'},
        {"reference", required_argument, NULL, 'r'},
        {"registration", required_argument, NULL, 'R'},
        {"valid-until", required_argument, NULL, 'v'}, {"json", no_argument, NULL, 'j'},
        {"ascii", no_argument, NULL, 'a'},           {"help", no_argument, NULL, 'h'},
        {"ledger-entry", required_argument, NULL, 'L'}, {"org", required_argument, NULL, 'O'},
        {NULL, 0, NULL, 0}};
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc, argv, opts, only, cmd)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return 0;
        }
        if (c == '?')
            return 2;
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'o': o->out = optarg; break;
        case 'f': o->format = optarg; break;
        case 'w': o->watchlist = optarg; break;
        case 'H': o->holder = optarg; break;
        case 't': o->title = optarg; break;
        case 'r': o->reference = optarg; break;
        case 'R': o->registration = optarg; break;
        case 'v': o->valid_until = optarg; break;
        case 'L': o->ledger_entry = optarg; break;
        case 'O': o->org = optarg; break;
        case 'j': o->json = true; break;
        case 'a': o->ascii = true; break;
        }
    }
    if (optind < argc)
        o->file = argv[optind++];
    if (optind < argc)
        return app_usage(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* Maps and reads FILE; prints the reason on failure (exit code 1). */
static int designs__load(const char *cmd, const char *path, designs_source *src,
                         designs_mesh *m, designs_info *info)
{
    designs_error why = {"", ""};
    if (designs_source_map(path, src, &why) != CX_OK)
        return app_fail(cmd, "%s", why.message);
    if (designs_read(src->data, src->len, path, NULL, m, info, &why) != CX_OK) {
        designs_source_unmap(src);
        return app_fail(cmd, "%s: refused (%s): %s", path, why.code, why.message);
    }
    return 0;
}

static void designs__print_json(json_t *j)
{
    char *s = j ? cx_json_dump(j, NULL) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
}

static int designs__inspect(int argc, char **argv)
{
    designs_opts o = {0};
    int rc = designs__parse("designs inspect", argc, argv, "json", &o);
    if (rc >= 0)
        return rc;
    if (!o.file)
        return app_usage("designs inspect", "FILE is required");
    designs_source src;
    designs_mesh m;
    designs_info info;
    if ((rc = designs__load("designs inspect", o.file, &src, &m, &info)) != 0)
        return rc;
    designs_inspection in;
    cx_err e = designs_measure(&m, &info, src.data, src.len, &in);
    designs_mesh_free(&m);
    designs_source_unmap(&src);
    if (e)
        return app_fail("designs inspect", "%s: %s", o.file, cx_strerror(e));
    json_t *j = designs_inspection_json(&in);
    if (o.json) {
        designs__print_json(j);
    } else {
        printf("format       %s%s\n", json_string_value(json_object_get(j, "format")),
               in.info.ascii ? " (ASCII)" : "");
        printf("sha256       %s\nmesh_sha256  %s\n", json_string_value(json_object_get(j, "sha256")),
               json_string_value(json_object_get(j, "mesh_sha256")));
        printf("triangles    %llu\nvertices     %llu\nshells       %llu\n",
               (unsigned long long)in.triangles, (unsigned long long)in.vertices,
               (unsigned long long)in.shells);
        printf("size         %.3f x %.3f x %.3f mm%s\n", in.bbox_max[0] - in.bbox_min[0],
               in.bbox_max[1] - in.bbox_min[1], in.bbox_max[2] - in.bbox_min[2],
               in.info.unit_assumed ? " (no unit in the file: millimetres assumed)" : "");
        printf("area         %.3f mm2\n", in.area_mm2);
        if (in.watertight)
            printf("volume       %.3f mm3\n", in.volume_mm3);
        else
            printf("volume       - (the mesh is not closed)\n");
        printf("watertight   %s\n", in.watertight ? "yes" : "no");
        json_t *p;
        size_t i;
        json_array_foreach(json_object_get(j, "problems"), i, p)
            printf("problem      %s\n", json_string_value(json_object_get(p, "message")));
    }
    json_decref(j);
    return 0;
}

static int designs__convert(int argc, char **argv)
{
    designs_opts o = {0};
    int rc = designs__parse("designs convert", argc, argv, "out format ascii", &o);
    if (rc >= 0)
        return rc;
    if (!o.file || !o.out)
        return app_usage("designs convert", "FILE and --out FILE are required");
    designs_format f = DESIGNS_FMT_UNKNOWN;
    const char *ext = strrchr(o.out, '.');
    if (o.format ? !designs_format_parse(o.format, &f)
                 : !(ext && designs_format_parse(ext + 1, &f)))
        return app_usage("designs convert", "the format must be stl, 3mf or obj (--format or "
                                            "the extension of --out)");
    designs_source src;
    designs_mesh m;
    designs_info info;
    if ((rc = designs__load("designs convert", o.file, &src, &m, &info)) != 0)
        return rc;
    designs_source_unmap(&src);
    cx_buf out;
    cx_buf_init(&out, (size_t)4 << 30);
    cx_err e = designs_write(&m, f, o.ascii, &out);
    designs_mesh_free(&m);
    FILE *fp = e ? NULL : fopen(o.out, "wb");
    if (!e && (!fp || fwrite(out.data, 1, out.len, fp) != out.len))
        e = CX_EIO;
    if (fp && fclose(fp) != 0)
        e = CX_EIO;
    cx_buf_free(&out);
    if (e)
        return app_fail("designs convert", "%s: %s", o.out, cx_strerror(e));
    return 0;
}

/* Opens the database and the designs service (watchlists in memory). */
static int designs__open(const char *cmd, const char *db, store **s, designs_service **d)
{
    char err[512];
    if (!db)
        return app_usage(cmd, "--db PATH is required");
    if (app_open_store(db, s, err, sizeof err) != CX_OK)
        return app_fail(cmd, "%s", err);
    if (designs_service_new(*s, NULL, d, err, sizeof err) != CX_OK) {
        store_free(*s);
        return app_fail(cmd, "%s", err);
    }
    return 0;
}

static void designs__close(store *s, designs_service *d)
{
    designs_service_free(d);
    store_free(s);
}

/* The command line acts as customs itself. */
static const cx_principal designs_cli = {.role = CX_ROLE_ADMIN, .org = "customs-cli"};

/* The ipr.register entry of docs/ledger.md with the design's geometry, unsigned. */
static int designs__ledger_entry(const designs_opts *o, const designs_source *src)
{
    designs_mesh m = {0};
    designs_info info;
    designs_error why;
    designs_inspection in;
    designs_fp fp;
    char mesh[65], b64[DESIGNS_FP_B64_LEN + 1];
    if (designs_read(src->data, src->len, src->name, NULL, &m, &info, &why) != CX_OK ||
        designs_measure(&m, &info, src->data, src->len, &in) != CX_OK ||
        designs_fingerprint(&m, &in, &fp) != CX_OK) {
        designs_mesh_free(&m);
        return app_fail("designs register", "%s: cannot fingerprint the design", o->file);
    }
    designs_mesh_free(&m);
    cx_hex(in.mesh_sha256, 32, mesh);
    designs_fp_base64(&fp, b64);
    json_t *entry = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}, s:[]}",
                              "type", "ipr.register", "org", o->org, "body", "registration_no",
                              o->registration, "kind", "design", "mark", o->title, "holder",
                              o->holder, "valid_until", o->valid_until, "design", "mesh_sha256",
                              mesh, "fingerprint", b64, "signatures");
    int rc = entry && json_dump_file(entry, o->ledger_entry, JSON_INDENT(2)) == 0
                 ? 0
                 : app_fail("designs register", "cannot write %s", o->ledger_entry);
    json_decref(entry);
    return rc;
}

static int designs__register(int argc, char **argv)
{
    designs_opts o = {0};
    int rc = designs__parse("designs register", argc, argv, "db watchlist holder title reference registration valid-until "
                                                     "ledger-entry org", &o);
    if (rc >= 0)
        return rc;
    designs_entry e = {.holder = o.holder, .title = o.title, .reference = o.reference,
                       .registration = o.registration, .valid_until = o.valid_until};
    if (!o.file)
        return app_usage("designs register", "FILE is required");
    if (!o.watchlist || !designs_watchlist_parse(o.watchlist, &e.watchlist))
        return app_usage("designs register", "--watchlist must be ipr or security");
    if (o.ledger_entry && (!o.org || !o.registration || !o.valid_until ||
                           e.watchlist != DESIGNS_WL_IPR))
        return app_usage("designs register", "--ledger-entry is for the ipr watchlist and needs "
                                             "--org, --registration and --valid-until");
    json_t *problems = json_array();
    if (!designs_entry_check(&e, problems)) {
        json_t *p = json_array_get(problems, 0);
        char opt[32]; /* "/valid_until" names --valid-until */
        snprintf(opt, sizeof opt, "%s", json_string_value(json_object_get(p, "path")) + 1);
        for (char *c = opt; *c; c++)
            *c = *c == '_' ? '-' : *c;
        rc = app_usage("designs register", "--%s %s", opt,
                       json_string_value(json_object_get(p, "message")));
        json_decref(problems);
        return rc;
    }
    json_decref(problems);
    store *s;
    designs_service *d;
    if ((rc = designs__open("designs register", o.db, &s, &d)) != 0)
        return rc;
    designs_source src;
    designs_error why;
    designs_result res;
    cx_err err = designs_source_map(o.file, &src, &why);
    if (err) {
        designs__close(s, d);
        return app_fail("designs register", "%s", why.message);
    }
    err = designs_register(d, &designs_cli, &src, &e, &res);
    if (!err && o.ledger_entry && designs__ledger_entry(&o, &src) != 0)
        err = CX_EIO;
    designs_source_unmap(&src);
    designs__close(s, d);
    if (err == CX_EPARSE || err == CX_ETOOBIG)
        return app_fail("designs register", "%s: refused (%s): %s", o.file, res.why.code,
                        res.why.message);
    if (err == CX_EEXIST)
        return app_fail("designs register", "%s is already on the %s watchlist as %s", o.file,
                        o.watchlist, res.id);
    if (err)
        return app_fail("designs register", "%s", cx_strerror(err));
    json_decref(res.json);
    printf("%s\n", res.id);
    return 0;
}

static int designs__match(int argc, char **argv)
{
    designs_opts o = {0};
    int rc = designs__parse("designs match", argc, argv, "db json", &o);
    if (rc >= 0)
        return rc;
    if (!o.file)
        return app_usage("designs match", "FILE is required");
    designs_source src;
    designs_mesh m;
    designs_info info;
    if ((rc = designs__load("designs match", o.file, &src, &m, &info)) != 0)
        return rc;
    designs_inspection in;
    designs_fp fp;
    cx_err e = designs_measure(&m, &info, src.data, src.len, &in);
    if (!e)
        e = designs_fingerprint(&m, &in, &fp);
    designs_mesh_free(&m);
    designs_source_unmap(&src);
    if (e)
        return app_fail("designs match", "%s: %s", o.file,
                        e == CX_EINVAL ? "the mesh has no surface area" : cx_strerror(e));
    store *s;
    designs_service *d;
    if ((rc = designs__open("designs match", o.db, &s, &d)) != 0)
        return rc;
    json_t *matches = designs_matches_json(d, &fp, false), *x;
    size_t i;
    if (!o.json && json_array_size(matches))
        printf("%-26s %-8s %10s %7s %-5s  %s\n", "DESIGN", "LIST", "SIMILARITY", "SCALE", "MATCH",
               "TITLE (HOLDER)");
    json_array_foreach(matches, i, x)
    {
        if (o.json) {
            json_t *line = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "design_id",
                                     json_object_get(x, "design_id"), "title",
                                     json_object_get(x, "title"), "holder",
                                     json_object_get(x, "holder"), "watchlist",
                                     json_object_get(x, "watchlist"), "similarity",
                                     json_object_get(x, "similarity"), "scale",
                                     json_object_get(x, "scale"), "match",
                                     json_object_get(x, "match"));
            designs__print_json(line);
            json_decref(line);
        } else {
            printf("%-26s %-8s %10.4f %7.4f %-5s  %s (%s)\n",
                   json_string_value(json_object_get(x, "design_id")),
                   json_string_value(json_object_get(x, "watchlist")),
                   json_real_value(json_object_get(x, "similarity")),
                   json_real_value(json_object_get(x, "scale")),
                   json_is_true(json_object_get(x, "match")) ? "yes" : "no",
                   json_string_value(json_object_get(x, "title")),
                   json_string_value(json_object_get(x, "holder")));
        }
    }
    if (!o.json && !json_array_size(matches))
        printf("no designs on the watchlists\n");
    json_decref(matches);
    designs__close(s, d);
    return 0;
}

static int designs__list(int argc, char **argv)
{
    designs_opts o = {0};
    int rc = designs__parse("designs list", argc, argv, "db watchlist json", &o);
    if (rc >= 0)
        return rc;
    designs_watchlist w;
    if (o.file)
        return app_usage("designs list", "unexpected argument '%s'", o.file);
    if (o.watchlist && !designs_watchlist_parse(o.watchlist, &w))
        return app_usage("designs list", "--watchlist must be ipr or security");
    store *s;
    designs_service *d;
    if ((rc = designs__open("designs list", o.db, &s, &d)) != 0)
        return rc;
    int64_t after = 0;
    for (;;) {
        json_t *items = json_array(), *x;
        int64_t last = 0;
        cx_err e = designs_list(d, o.watchlist, after, 500, items, &last);
        size_t i;
        json_array_foreach(items, i, x)
        {
            if (o.json)
                designs__print_json(x);
            else
                printf("%-26s %-8s %-10s %s (%s)\n", json_string_value(json_object_get(x, "id")),
                       json_string_value(json_object_get(x, "watchlist")),
                       json_is_string(json_object_get(x, "valid_until"))
                           ? json_string_value(json_object_get(x, "valid_until"))
                           : "-",
                       json_string_value(json_object_get(x, "title")),
                       json_string_value(json_object_get(x, "holder")));
        }
        size_t n = json_array_size(items);
        json_decref(items);
        if (e) {
            designs__close(s, d);
            return app_fail("designs list", "%s", cx_strerror(e));
        }
        if (n < 500)
            break;
        after = last;
    }
    designs__close(s, d);
    return 0;
}

int app_cmd_designs(int argc, char **argv)
{
    int shown = app_action_help(argc, argv, help);
    if (shown >= 0)
        return shown;
    const char *action = argv[1];
    if (strcmp(action, "inspect") == 0)
        return designs__inspect(argc - 1, argv + 1);
    if (strcmp(action, "convert") == 0)
        return designs__convert(argc - 1, argv + 1);
    if (strcmp(action, "register") == 0)
        return designs__register(argc - 1, argv + 1);
    if (strcmp(action, "match") == 0)
        return designs__match(argc - 1, argv + 1);
    if (strcmp(action, "list") == 0)
        return designs__list(argc - 1, argv + 1);
    return app_usage("designs", "unknown action '%s' (inspect, convert, register, match, list)",
                     action);
}
