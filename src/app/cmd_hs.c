/* customs hs search: the HS classification assistant on the command line. */
#include "app.h"

#include "declare.h"
#include "risk.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage: customs hs search [--limit N] [--json] DESCRIPTION...\n"
    "\n"
    "Ranks HS 2022 subheadings for a goods description (SQLite FTS5, bm25 over the\n"
    "nomenclature text; the words of each subheading's heading and chapter count too;\n"
    "state words such as frozen, fresh or dried pick among the goods found). Codes\n"
    "are printed as a declaration's hs_code takes them: 030617, not 0306.17.\n"
    "\n"
    "Options:\n"
    "  --limit N   how many subheadings (default 10, at most 50)\n"
    "  --json      one JSON object: {\"query\", \"results\":[{code, description, score}]}\n"
    "\n"
    "Example:\n"
    "  customs hs search \"frozen boneless beef\"\n";

int app_cmd_hs(int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "search") != 0)
        return app_usage("hs", "unknown action '%s' (search)", argv[1]);
    int64_t limit = 10;
    bool json = false;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc - 1, argv + 1, opts, NULL, "hs search")) != -1) {
        switch (c) {
        case 'l':
            if (!cx_parse_i64(optarg, &limit) || limit < 1 || limit > 50)
                return app_usage("hs", "--limit must be 1 to 50");
            break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    if (rest < 1)
        return app_usage("hs", "search needs a goods description");
    char q[2048] = "";
    size_t o = 0;
    for (int i = 0; i < rest; i++) {
        int w = snprintf(q + o, sizeof q - o, "%s%s", i ? " " : "", args[i]);
        if (w < 0 || (size_t)w >= sizeof q - o)
            return app_usage("hs", "the description is longer than 2 KiB");
        o += (size_t)w;
    }
    char err[512];
    if (decl_refdata_load(NULL, err, sizeof err) != CX_OK)
        return app_fail("hs", "%s", err);
    risk_hs_index *ix = NULL;
    if (risk_hs_open(&ix, err, sizeof err) != CX_OK)
        return app_fail("hs", "%s", err);
    risk_hs_hit hits[50];
    size_t n = 0;
    cx_err e = risk_hs_search(ix, q, hits, (size_t)limit, &n);
    if (e != CX_OK) {
        risk_hs_free(ix);
        return app_fail("hs", "search failed: %s", cx_strerror(e));
    }
    if (json) {
        json_t *res = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(res, json_pack("{s:s,s:s,s:f}", "code", hits[i].code,
                                                 "description", hits[i].description, "score",
                                                 hits[i].score));
        json_t *j = json_pack("{s:s,s:o}", "query", q, "results", res);
        char *t = cx_json_dump(j, NULL);
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
    } else if (n == 0) {
        printf("no subheading matches \"%s\"\n", q);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s  %6.2f  %s\n", hits[i].code, hits[i].score, hits[i].description);
    }
    risk_hs_free(ix);
    return 0;
}
