/* What a declaration says about a container it lists: its goods' gross
 * mass and whether the container travels empty. Read through declare.h.
 *
 * Empty (docs/xray.md): a procedure code "empty" or "empty_container"
 * (any case, - or _), or goods items that are all the container itself
 * (HS heading 8609, containers travelling as goods). */
#include "xray_svc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    json_t *doc;
} decl__copy;

static bool decl__keep(void *ctx, const char *id, const char *doc, size_t len)
{
    (void)id;
    decl__copy *c = ctx;
    c->doc = json_loadb(doc, len, 0, NULL);
    return false;
}

bool xray__declares_empty(const json_t *doc)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(doc, "procedure"), key, v)
    {
        const char *s = json_string_value(v);
        if (s && (strcasecmp(s, "empty") == 0 || strcasecmp(s, "empty_container") == 0 ||
                  strcasecmp(s, "empty-container") == 0))
            return true;
    }
    const json_t *items = json_object_get(doc, "items");
    size_t i;
    const json_t *it;
    if (!json_array_size(items))
        return true; /* no goods for it */
    json_array_foreach(items, i, it)
    {
        const char *hs = json_string_value(json_object_get(it, "hs_code"));
        if (!hs || strncmp(hs, "8609", 4) != 0)
            return false;
    }
    return true;
}

cx_err xray__declaration(store_conn *c, decl_service *d, const char *id, const char *container,
                         xray_decl_view *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    out->empty = -1;
    out->mass_kg = NAN;
    char org[CX_ORG_MAX + 1];
    cx_err e = decl_lookup(d, id, &out->seq, org);
    if (e != CX_OK)
        return e;
    decl__copy cp = {NULL};
    e = decl_doc(c, id, decl__keep, &cp);
    if (e != CX_OK || !json_is_object(cp.doc)) {
        json_decref(cp.doc);
        return e != CX_OK ? e : CX_EDB;
    }
    const json_t *cs = json_object_get(cp.doc, "containers");
    bool listed = false;
    size_t i;
    const json_t *v;
    json_array_foreach(cs, i, v)
        listed = listed || (json_is_string(v) && strcmp(json_string_value(v), container) == 0);
    if (!listed) {
        snprintf(msg, msglen, "declaration %s does not list container %s", id, container);
        json_decref(cp.doc);
        return CX_EINVAL;
    }
    out->single_container = json_array_size(cs) == 1;
    if (out->single_container) {
        out->empty = xray__declares_empty(cp.doc);
        double mass = 0;
        const json_t *it;
        json_array_foreach(json_object_get(cp.doc, "items"), i, it)
        {
            const json_t *g = json_object_get(it, "gross_mass_kg");
            mass += json_number_value(g ? g : json_object_get(it, "net_mass_kg"));
            const char *hs = json_string_value(json_object_get(it, "hs_code"));
            bool seen = false;
            for (size_t k = 0; hs && strlen(hs) >= 2 && k < out->nchapters && !seen; k++)
                seen = strncmp(out->chapters[k], hs, 2) == 0;
            if (hs && strlen(hs) >= 2 && !seen && out->nchapters < 8) {
                memcpy(out->chapters[out->nchapters], hs, 2);
                out->chapters[out->nchapters++][2] = '\0';
            }
        }
        out->mass_kg = out->empty == 1 ? 0 : mass;
    }
    json_decref(cp.doc);
    return CX_OK;
}
