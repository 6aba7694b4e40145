/*
 * web.h — the door of the web module: serves the officers' console (static
 * files assembled into a directory at build time) with a Content-Security-
 * Policy that forbids inline scripts. Public names carry the prefix web_.
 */
#ifndef CUSTOMS_WEB_H
#define CUSTOMS_WEB_H

#include "core.h"
#include "http.h"

/* The console's directory: $CUSTOMS_WEB_DIR, else the build tree's web/
 * (compiled in), else /usr/share/customs/web. Static string. */
const char *web_default_dir(void);

/* GET /v1/whoami (the bearer token's org, role and key id: docs/web.md),
 * GET /openapi.json (the API's OpenAPI 3.1 description, docs/openapi.json),
 * then GET / and GET /{path*} from dir (borrowed; must outlive the server).
 * Only regular files below dir are served; no listing, no "..". Logs a
 * warning naming the console's files missing from dir (a build without
 * web/node_modules lacks the vendor files). */
cx_err web_routes(http_server *srv, const char *dir);

/* The console's files missing from dir, comma-separated into out (cut at
 * cap); returns how many. */
size_t web_missing(const char *dir, char *out, size_t cap);

/* The policy sent with every console response. */
extern const char web_csp[];
/* The wider policy of identify.html only (face-api in the browser). */
extern const char web_csp_identify[];

#endif
