/* The live stream of a session (Server-Sent Events) on the service's
 * http_hub. Every event is stored first (inspect_events, numbered per
 * session); a stream keeps the number of the last event it sent and, when
 * woken after a commit (topic: the session id), reads the following ones
 * from the database. So a client that reconnects with Last-Event-ID (or
 * ?after=) gets exactly what it missed, in order, and a slow client costs a
 * cursor, not a queue. The stream ends after "closed". */
#include "inspect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    inspect_service *svc;
    char sid[CX_ID_LEN + 1];
    int64_t last; /* last event id sent */
} hub_sub;

/* Appends up to 64 events after s->last to out; *end once "closed" is in. */
static cx_err hub__fill(void *ctx, cx_buf *out, bool *end)
{
    hub_sub *s = ctx;
    store_conn *c = store_reader(s->svc->store);
    sqlite3_stmt *st = c ? store_stmt(c, "SELECT id, kind, data FROM inspect_events "
                                         "WHERE sid = ?1 AND id > ?2 ORDER BY id LIMIT 64")
                         : NULL;
    if (!st)
        return CX_EDB;
    sqlite3_bind_text(st, 1, s->sid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, s->last);
    cx_err e = CX_OK;
    while (e == CX_OK && !*end && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        e = cx_buf_printf(out, "id: %lld\nevent: %s\ndata: ", (long long)id, kind);
        e = e ? e : cx_buf_append(out, sqlite3_column_text(st, 2),
                                  (size_t)sqlite3_column_bytes(st, 2));
        e = e ? e : cx_buf_puts(out, "\n\n");
        s->last = id;
        *end = strcmp(kind, "closed") == 0;
    }
    sqlite3_reset(st);
    return e;
}

void inspect__hub_serve(inspect_service *svc, http_req *r, const char *sid, int64_t after)
{
    hub_sub *s = calloc(1, sizeof *s);
    if (!s) {
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    s->svc = svc;
    s->last = after;
    snprintf(s->sid, sizeof s->sid, "%s", sid);
    http_hub_serve(svc->hub, r, s->sid, hub__fill, s, free);
}
