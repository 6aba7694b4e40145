/* Command-line options: getopt_long with every option written in full.
 *
 * glibc's getopt_long takes any unambiguous prefix of a long option, so
 * `customs serve --port 9000` silently became `--port-file 9000`. Every
 * command parses through app_getopt(), which refuses abbreviated, unknown
 * and incomplete options and options that do not apply to the action, and
 * lists the ones that do. */
#include "app.h"

#include <stdio.h>
#include <string.h>

/* Is name one of the space-separated words of list? */
static bool opts__listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        p += strspn(p, " ");
        size_t w = strcspn(p, " ");
        if (w == n && strncmp(p, name, n) == 0)
            return true;
        p += w;
    }
    return false;
}

static bool opts__allowed(const struct option *o, const char *only)
{
    return !only || strcmp(o->name, "help") == 0 || opts__listed(only, o->name);
}

/* "--db, --listen, …" wrapped under a heading, to stderr. */
static void opts__valid(const struct option *opts, const char *only)
{
    fputs("Valid options:", stderr);
    size_t col = 14;
    for (const struct option *o = opts; o->name; o++) {
        if (!opts__allowed(o, only))
            continue;
        size_t w = strlen(o->name) + 4;
        if (col + w > 78) {
            fputs("\n ", stderr);
            col = 1;
        }
        fprintf(stderr, " --%s%s", o->name, o[1].name ? "," : "");
        col += w;
    }
    fputc('\n', stderr);
}

int app_getopt(int argc, char **argv, const struct option *opts, const char *only,
               const char *cmd)
{
    int li = -1;
    /* ':' first: a missing value is reported as ':' rather than '?' */
    int c = getopt_long(argc, argv, ":", opts, &li);
    if (c == -1)
        return -1;
    const char *tok = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    char msg[256];
    if (c == ':') {
        snprintf(msg, sizeof msg, "option '%s' needs a value", tok);
    } else if (c == '?' && strncmp(tok, "--", 2) != 0) {
        snprintf(msg, sizeof msg, "unknown option '-%c' (options are long: --name)",
                 optopt ? optopt : '?');
    } else if (c == '?') { /* unknown names and ambiguous prefixes alike */
        snprintf(msg, sizeof msg, "unknown option '%.*s'", (int)(2 + strcspn(tok + 2, "=")),
                 tok);
    } else {
        const struct option *o = &opts[li];
        /* the token that named the option: the one before its value when
         * the value came as a separate argument */
        if (o->has_arg == required_argument && optind >= 2 && optarg == argv[optind - 1])
            tok = argv[optind - 2];
        size_t n = strcspn(tok + 2, "=");
        if (strncmp(tok, "--", 2) != 0 || strlen(o->name) != n || strncmp(tok + 2, o->name, n))
            snprintf(msg, sizeof msg,
                     "unknown option '%.*s' (did you mean --%s? options are written in full)",
                     (int)(2 + n), tok, o->name);
        else if (!opts__allowed(o, only))
            snprintf(msg, sizeof msg, "option '--%s' does not apply here", o->name);
        else
            return c;
    }
    fprintf(stderr, "customs %s: %s\n", cmd, msg);
    opts__valid(opts, only);
    fprintf(stderr, "Try 'customs %s --help'.\n", cmd);
    return '?';
}

const char *app_action_options(const app_action *actions, const char *cmd, const char *action,
                               char *name, size_t cap)
{
    snprintf(name, cap, "%s %s", cmd, action);
    for (const app_action *a = actions; a->name; a++)
        if (strcmp(a->name, action) == 0)
            return a->options;
    return NULL;
}

int app_action_help(int argc, char **argv, const char *help)
{
    if (argc < 2) {
        fputs(help, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, stdout);
        return 0;
    }
    return -1;
}
