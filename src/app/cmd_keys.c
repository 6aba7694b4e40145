/* customs keys: API keys for organisations and roles. */
#include "app.h"

#include "auth.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "Usage:\n"
    "  customs keys create --db PATH --org ORG --role ROLE [--name LABEL] [--subject ID]\n"
    "  customs keys list   --db PATH [--json]\n"
    "  customs keys revoke --db PATH ID\n"
    "\n"
    "create prints the new bearer token alone on stdout; it is shown once and\n"
    "only its hash is stored. Roles: admin, officer, trader, carrier, bank, device.\n"
    "\n"
    "Options:\n"
    "  --db PATH      SQLite database file (created if missing)\n"
    "  --org ORG      organisation the key acts for (A-Z a-z 0-9 . _ -, 1..64)\n"
    "  --role ROLE    what the key may do\n"
    "  --name LABEL   a label for people reading 'keys list'\n"
    "  --subject ID   the person or device the key is issued to (an operator's or\n"
    "                 broker's id; 1..64 of A-Z a-z 0-9 . _ : - @): checks such as\n"
    "                 biometric verification apply to it\n"
    "  --json         list as JSON lines\n"
    "\n"
    "Example:\n"
    "  TOKEN=$(customs keys create --db var/customs.db --org ACME --role trader --name erp)\n";

static void keys__print(void *ctx, const auth_key_info *k)
{
    bool json = *(bool *)ctx;
    if (json) {
        json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s?,s:s,s:s?}", "id", (json_int_t)k->id, "org",
                              k->org, "role", cx_role_name(k->role), "name",
                              k->name ? k->name : "", "subject",
                              k->subject && k->subject[0] ? k->subject : NULL, "created_at",
                              k->created_at, "revoked_at", k->revoked_at);
        char *line = o ? cx_json_dump(o, NULL) : NULL;
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(o);
        return;
    }
    printf("%-6lld %-20s %-8s %-24s %-24s %s\n", (long long)k->id, k->org, cx_role_name(k->role),
           k->created_at, k->revoked_at ? k->revoked_at : "-", k->name ? k->name : "");
}

int app_cmd_keys(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},   {"org", required_argument, NULL, 'o'},
        {"role", required_argument, NULL, 'r'}, {"name", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},       {"help", no_argument, NULL, 'h'},
        {"subject", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    int shown = app_action_help(argc, argv, help);
    if (shown >= 0)
        return shown;
    const char *action = argv[1];
    static const app_action actions[] = {{"create", "db org role name subject"},
                                         {"list", "db json"},
                                         {"revoke", "db"},
                                         {NULL, NULL}};
    char cmd[32];
    const char *only = app_action_options(actions, "keys", action, cmd, sizeof cmd);
    if (!only)
        return app_usage("keys", "unknown action '%s' (create, list or revoke)", action);
    const char *db = NULL, *org = NULL, *role_s = NULL, *name = "", *subject = NULL;
    bool json = false;
    app_getopt_reset();
    int c;
    while ((c = app_getopt(argc - 1, argv + 1, opts, only, cmd)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': org = optarg; break;
        case 'r': role_s = optarg; break;
        case 'n': name = optarg; break;
        case 's': subject = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return 0;
        default: return 2; /* app_getopt said why */
        }
    }
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    if (!db)
        return app_usage("keys", "--db PATH is required");
    cx_role role = CX_ROLE_NONE;
    int64_t id = 0;
    if (strcmp(action, "create") == 0) {
        if (!org || !cx_org_valid(org))
            return app_usage("keys", "--org ORG is required: 1 to 64 characters of A-Z a-z 0-9 . _ -");
        if (!role_s || !cx_role_parse(role_s, &role))
            return app_usage("keys", "--role must be one of admin, officer, trader, carrier, "
                                     "bank, device");
        if (subject && !cx_subject_valid(subject))
            return app_usage("keys", "--subject must be 1 to 64 characters of A-Z a-z 0-9 . _ : - @");
    } else if (strcmp(action, "revoke") == 0) {
        if (rest != 1 || !cx_parse_i64(args[0], &id))
            return app_usage("keys", "revoke takes one key ID (see 'customs keys list')");
    }
    char err[512];
    store *s = NULL;
    if (app_open_store(db, &s, err, sizeof err) != CX_OK)
        return app_fail("keys", "%s", err);
    int rc = 0;
    if (strcmp(action, "create") == 0) {
        char token[AUTH_TOKEN_LEN + 1];
        int64_t kid;
        cx_err e = auth_key_create_subject(s, org, role, name, subject, token, &kid);
        if (e == CX_EINVAL)
            rc = app_usage("keys", "--name must be at most 128 characters without control "
                                   "characters");
        else if (e != CX_OK)
            rc = app_fail("keys", "cannot create the key: %s", cx_strerror(e));
        else
            printf("%s\n", token);
    } else if (strcmp(action, "list") == 0) {
        if (!json)
            printf("%-6s %-20s %-8s %-24s %-24s %s\n", "ID", "ORG", "ROLE", "CREATED", "REVOKED",
                   "NAME");
        if (auth_key_list(s, keys__print, &json) != CX_OK)
            rc = app_fail("keys", "cannot list keys");
    } else {
        cx_err e = auth_key_revoke(s, id);
        if (e == CX_ENOTFOUND)
            rc = app_fail("keys", "no key with id %lld", (long long)id);
        else if (e == CX_ESTATE)
            rc = app_fail("keys", "key %lld is already revoked", (long long)id);
        else if (e != CX_OK)
            rc = app_fail("keys", "cannot revoke: %s", cx_strerror(e));
        else
            fprintf(stderr, "revoked key %lld\n", (long long)id);
    }
    store_free(s);
    return rc;
}
