/* Command-line options: getopt_long with every option written in full.
 *
 * glibc's getopt_long takes any unambiguous prefix of a long option, so
 * `customs serve --port 9000` silently became `--port-file 9000`. Every
 * command parses through app_getopt(), which refuses abbreviated, unknown
 * and incomplete options and options that do not apply to the action, and
 * lists the ones that do. */
#include "app.h"

#include <stdarg.h>
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

static int opts__refuse(const char *cmd, const struct option *opts, const char *only,
                        const char *fmt, ...) CX_PRINTF(4, 5);

static int opts__refuse(const char *cmd, const struct option *opts, const char *only,
                        const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "customs %s: %s\n", cmd, msg);
    opts__valid(opts, only);
    fprintf(stderr, "Try 'customs %s --help'.\n", cmd);
    return '?';
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
    if (c == ':')
        return opts__refuse(cmd, opts, only, "option '%s' needs a value", tok);
    if (c == '?') {
        if (strncmp(tok, "--", 2) != 0)
            return opts__refuse(cmd, opts, only, "unknown option '-%c' (options are long: --name)",
                                optopt ? optopt : '?');
        /* unknown names and ambiguous prefixes alike */
        return opts__refuse(cmd, opts, only, "unknown option '%.*s'",
                            (int)(2 + strcspn(tok + 2, "=")), tok);
    }
    const struct option *o = &opts[li];
    /* the token that named the option: the one before its value when the
     * value came as a separate argument */
    if (o->has_arg == required_argument && optind >= 2 && optarg == argv[optind - 1])
        tok = argv[optind - 2];
    size_t n = strcspn(tok + 2, "=");
    if (strncmp(tok, "--", 2) != 0 || strlen(o->name) != n || strncmp(tok + 2, o->name, n) != 0)
        return opts__refuse(cmd, opts, only,
                            "unknown option '%.*s' (did you mean --%s? options are written "
                            "in full)", (int)(2 + n), tok, o->name);
    if (!opts__allowed(o, only))
        return opts__refuse(cmd, opts, only, "option '--%s' does not apply here", o->name);
    return c;
}

const char *app_action_options(const app_action *actions, const char *name)
{
    for (const app_action *a = actions; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a->options;
    return NULL;
}
