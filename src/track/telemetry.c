/* Telemetry over HTTP: POST /v1/telemetry (one message or a batch of JSON
 * objects) and Traccar/OsmAnd (/osmand: query string, form body or JSON).
 * Messages go to the pipeline with a waiter; the reply is written once every
 * message of the request is durable, by tele__answer, which the pipeline
 * calls through the waiter. */
#include "track_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TELE_DEAD_PAYLOAD 1024
#define TELE_ENQUEUE_WAIT_MS 2000

/* The reply, once the request's last message is durable (writer thread). */
static void tele__answer(track_waiter *w)
{
    http_req *r = w->req;
    if (atomic_load(&w->failed)) {
        http_reply_error(r, 503, "unavailable", "telemetry could not be stored; retry", NULL);
    } else if (w->whole_body) {
        /* The dead letter keeps the decoder's reason; the answer uses the
         * platform's codes (docs/api.md): invalid_json when the body is not
         * JSON, invalid_batch when it is JSON of the wrong shape. */
        bool not_json = strcmp(w->code[0], "malformed_json") == 0;
        json_t *d = json_array();
        cx_problem_add(d, "", "%s", w->message[0]);
        if (not_json)
            http_reply_error(r, 400, "invalid_json", "the body is not valid JSON", d);
        else
            http_reply_error(r, 400, "invalid_batch",
                             "the body is not a telemetry message or an array of them", d);
    } else if (w->osmand) {
        if (w->outcome[0] == TRACK_OUT_REJECTED) {
            char msg[300];
            /* A wrong key reads exactly like an unknown id: /osmand answers
             * anyone, and must not tell which ids exist (the dead letter
             * keeps the difference for officers). */
            bool identity = strcmp(w->code[0], "unknown_device") == 0 ||
                            strcmp(w->code[0], "bad_key") == 0;
            int len = identity ? snprintf(msg, sizeof msg, "unknown_device: /id: no such device, "
                                                           "or a wrong key\n")
                               : snprintf(msg, sizeof msg, "%s: %s\n", w->code[0],
                                          w->message[0]);
            http_reply_copy(r, 400, "text/plain; charset=utf-8", msg, (size_t)len);
        } else {
            http_reply_copy(r, 200, "text/plain; charset=utf-8", "", 0);
        }
    } else {
        json_int_t acc = 0, dup = 0, late = 0;
        json_t *rej = json_array();
        for (uint32_t i = 0; i < w->n; i++) {
            switch (w->outcome[i]) {
            case TRACK_OUT_ACCEPTED: acc++; break;
            case TRACK_OUT_DUPLICATE: dup++; break;
            case TRACK_OUT_LATE: late++; break;
            default:
                json_array_append_new(rej, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i,
                                                     "reason", w->code[i], "message",
                                                     w->message[i]));
            }
        }
        http_reply_json(r, 200,
                        json_pack("{s:I,s:I,s:I,s:o}", "accepted", acc, "duplicates", dup,
                                  "late", late, "rejected", rej));
    }
    http_resume(r);
    track__waiter_free(w);
}


/* Enqueues entries for a waiter and defers the reply until they are durable. */
static void tele__ingest(track_service *t, http_req *r, track_waiter *w, track_entry *ents,
                        size_t n)
{
    http_defer(r);
    cx_err e = track__enqueue(t, ents, n, TELE_ENQUEUE_WAIT_MS, NULL); /* all or none */
    if (e != CX_OK) {
        /* nothing was queued only if the queue stayed full or we are stopping;
         * partial queues cannot happen with one call per request below the cap */
        for (size_t i = 0; i < n; i++)
            if (ents[i].dead) {
                free(ents[i].dead->payload);
                free(ents[i].dead);
            }
        track__waiter_free(w);
        if (e == CX_EBUSY) {
            http_reply_header(r, "Retry-After", "1");
            http_reply_error(r, 503, "busy", "the telemetry queue is full; retry", NULL);
        } else {
            http_reply_error(r, 503, "unavailable", "the server is shutting down", NULL);
        }
        http_resume(r);
    }
}

static void h_telemetry_post(http_req *r, void *ctx)
{
    track_service *t = ctx;
    const cx_principal *who = http_principal(r);
    if (!http_allow(r, CX_ROLES_OFFICER | CX_ROLE_BIT(CX_ROLE_DEVICE) | CX_ROLE_BIT(CX_ROLE_CARRIER),
                    "send telemetry"))
        return;
    size_t len;
    const char *body = http_body(r, &len);
    json_error_t je;
    /* any JSON text (RFC 8259): a scalar is JSON of the wrong shape, not "not JSON" */
    json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!in || (!json_is_array(in) && !json_is_object(in))) {
        /* the whole body is a dead letter too */
        track_reject why;
        if (!in)
            track__reject(&why, "malformed_json", "not valid JSON: %s (line %d, column %d)",
                          je.text, je.line, je.column);
        else
            track__reject(&why, "not_object", "the body must be a message or an array of them");
        json_decref(in);
        track_waiter *w = track__waiter_new(r, 1, who, false, tele__answer);
        track_entry ent;
        if (!w) {
            http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
            return;
        }
        track__dead_entry(&ent, TRACK_SRC_HTTP, why.code, why.message, NULL, body, len);
        ent.w = w;
        w->whole_body = true;
        tele__ingest(t, r, w, &ent, 1);
        return;
    }
    bool single = json_is_object(in);
    size_t n = single ? 1 : json_array_size(in);
    if (n == 0 || n > TRACK_API_MAX_ITEMS) {
        json_decref(in);
        http_reply_error1(r, 400, "invalid_batch", "a batch holds 1 to 10000 messages", "",
                          "wrong number of messages");
        return;
    }
    track_entry *ents = calloc(n, sizeof *ents);
    track_waiter *w = ents ? track__waiter_new(r, (uint32_t)n, who, false, tele__answer) : NULL;
    if (!w) {
        free(ents);
        json_decref(in);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    int64_t now = cx_now_us();
    for (size_t i = 0; i < n; i++) {
        const json_t *item = single ? in : json_array_get(in, i);
        char ptr[24] = "";
        if (!single)
            snprintf(ptr, sizeof ptr, "/%zu", i);
        track_reject why;
        track_entry *e = &ents[i];
        if (track_decode_object(item, now / 1000, t->cfg.future_skew_s * 1000, ptr, &e->m, &why) !=
            CX_OK) {
            char *text = cx_json_dump(item, NULL);
            const char *dev = json_string_value(json_object_get(item, "device"));
            track__dead_entry(e, TRACK_SRC_HTTP, why.code, why.message,
                              dev && track_id_valid(dev) ? dev : NULL, text ? text : "",
                              text ? strlen(text) : 0);
            free(text);
        } else {
            e->kind = TRACK_ENT_MSG;
            e->source = TRACK_SRC_HTTP;
            e->recv_us = now;
        }
        e->w = w;
        e->widx = (uint32_t)i;
    }
    json_decref(in);
    tele__ingest(t, r, w, ents, n);
    free(ents);
}

typedef struct {
    track_osmand *o;
    cx_buf *raw;
} osm_kv;

/* Dead letters are shown to officers: they never keep a device's key. */
#define TELE_KEY_HIDDEN "key=(hidden)"

static bool tele__osm_kv(void *ctx, const char *key, const char *value)
{
    osm_kv *kv = ctx;
    track_osmand_param(kv->o, key, value);
    /* the dead letter's copy is capped: past the cap it simply stops */
    if (kv->raw->len < TELE_DEAD_PAYLOAD && cx_buf_error(kv->raw) == CX_OK) {
        cx_err e = strcmp(key, "key") == 0
                       ? cx_buf_printf(kv->raw, "%s" TELE_KEY_HIDDEN, kv->raw->len ? "&" : "")
                       : cx_buf_printf(kv->raw, "%s%s=%s", kv->raw->len ? "&" : "", key, value);
        (void)e;
    }
    return true;
}

/* Is the (form-encoded) name of a pair "key"? */
static bool tele__form_key_name(const char *s, size_t n)
{
    char name[8];
    size_t k = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if (k + 1 == sizeof name)
            return false;
        name[k++] = c;
    }
    name[k] = '\0';
    return strcmp(name, "key") == 0;
}

/* Appends a form body to a dead letter's payload, the key's value hidden. */
static void tele__raw_form(cx_buf *raw, const char *s, size_t len)
{
    cx_err e = CX_OK;
    while (len && raw->len < TELE_DEAD_PAYLOAD && e == CX_OK) {
        size_t n = 0;
        while (n < len && s[n] != '&')
            n++;
        if (raw->len)
            e = cx_buf_puts(raw, "&");
        if (e != CX_OK)
            break;
        if (tele__form_key_name(s, n))
            e = cx_buf_puts(raw, TELE_KEY_HIDDEN);
        else
            e = cx_buf_append(raw, s, n < TELE_DEAD_PAYLOAD ? n : TELE_DEAD_PAYLOAD);
        s += n;
        len -= n;
        if (len) {
            s++;
            len--;
        }
    }
}

/* Hides every member named "key", at any depth. */
static void tele__hide_keys(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, x)
        {
            if (strcmp(k, "key") == 0)
                json_object_set_new(v, k, json_string("(hidden)"));
            else
                tele__hide_keys(x);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) tele__hide_keys(x);
    }
}

/* A JSON body as a dead letter's payload: re-encoded with any "key" member
 * hidden; a body that does not parse is kept only if it cannot hold a key. */
static cx_err tele__raw_json(cx_buf *raw, const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (!j) {
        if (memmem(body, len, "key", 3))
            return cx_buf_printf(raw, "(a body that is not JSON, %zu bytes, with a key)", len);
        return cx_buf_append(raw, body, len < TELE_DEAD_PAYLOAD ? len : TELE_DEAD_PAYLOAD);
    }
    tele__hide_keys(j);
    char *text = cx_json_dump(j, NULL);
    json_decref(j);
    if (!text)
        return CX_ENOMEM;
    size_t n = strlen(text);
    cx_err e = cx_buf_append(raw, text, n < TELE_DEAD_PAYLOAD ? n : TELE_DEAD_PAYLOAD);
    free(text);
    return e;
}

/* Traccar/OsmAnd. Like Traccar, the registered id is the identity; a device
 * registered with an osmand_key must also send key= (in its server URL).
 * Reports that are not so authenticated may be at most osmand_future_skew_s
 * ahead: one stamped further ahead would make the device's genuine reports
 * "late" and keep its rules blind. A wrong key is answered exactly like an
 * unknown id, so that neither tells which ids exist. */
static void h_osmand(http_req *r, void *ctx)
{
    track_service *t = ctx;
    track_osmand o;
    track_osmand_begin(&o);
    cx_buf raw;
    cx_buf_init(&raw, TELE_DEAD_PAYLOAD * 2);
    osm_kv kv = {&o, &raw};
    http_query_each(r, tele__osm_kv, &kv);
    int64_t now = cx_now_us();
    track_msg m;
    track_reject why;
    cx_err e;
    size_t blen = 0;
    const char *body = http_body(r, &blen);
    const char *ct = http_header(r, "Content-Type");
    /* The body is read when the query string does not name the device (it
     * may still carry the key: clients append their parameters to a server
     * URL that holds it). */
    if (!o.have_id && blen && ct && strstr(ct, "json")) {
        /* Traccar Client 9+: JSON body */
        e = track_osmand_json(body, blen, now / 1000, t->cfg.future_skew_s * 1000, &m, &why);
        cx_buf_reset(&raw); /* the body is the report; the key stays hidden */
        if (tele__raw_json(&raw, body, blen) != CX_OK)
            cx_buf_reset(&raw); /* a report without its copy rather than none */
    } else {
        if (!o.have_id && blen) {
            /* parameters in a form body, as Traccar accepts */
            track_osmand_query(&o, body, blen);
            tele__raw_form(&raw, body, blen);
        }
        e = track_osmand_end(&o, now / 1000, t->cfg.future_skew_s * 1000, &m, &why);
    }
    if (e == CX_OK) {
        uint8_t stored[TRACK_OKEY_LEN];
        cx_err ke = track__okey_get(t, m.device, stored);
        if (ke == CX_EDB) {
            cx_buf_free(&raw);
            http_reply_error(r, 503, "unavailable", "database unavailable; retry", NULL);
            return;
        }
        if (!track__okey_matches(stored, ke == CX_OK, o.key)) {
            if (m.ts_ms > now / 1000 + t->cfg.osmand_future_skew_s * 1000) {
                e = CX_EPARSE;
                track__reject(&why, "future_timestamp", "/timestamp: more than %lld s ahead of "
                              "the server clock (the limit without a device key)",
                              (long long)t->cfg.osmand_future_skew_s);
            } else if (ke == CX_OK) {
                e = CX_EPARSE;
                track__reject(&why, "bad_key", "/key: %s", o.key[0]
                              ? "does not match the device's key"
                              : "is required: the device is registered with a key");
            }
        }
    }
    track_waiter *w = track__waiter_new(r, 1, NULL, true, tele__answer);
    if (!w) {
        cx_buf_free(&raw);
        http_reply_error(r, 503, "unavailable", "out of memory; retry", NULL);
        return;
    }
    track_entry ent;
    if (e != CX_OK) {
        track__dead_entry(&ent, TRACK_SRC_OSMAND, why.code, why.message,
                          m.device[0] ? m.device : NULL, raw.data ? raw.data : "", raw.len);
    } else {
        memset(&ent, 0, sizeof ent);
        ent.kind = TRACK_ENT_MSG;
        ent.source = TRACK_SRC_OSMAND;
        ent.m = m;
        ent.recv_us = now;
    }
    cx_buf_free(&raw);
    ent.w = w;
    tele__ingest(t, r, w, &ent, 1);
}


cx_err track__telemetry_routes(track_service *t, http_server *srv)
{
    static const http_route_def routes[] = {
        {"POST", "/v1/telemetry", HTTP_AUTH | HTTP_JSON, h_telemetry_post, NULL},
        /* Traccar's parameters are the report itself (id, lat, lon, …, key) */
        {"GET", "/osmand", 0, h_osmand, "*"},
        {"POST", "/osmand", 0, h_osmand, "*"},
    };
    return http_routes(srv, routes, sizeof routes / sizeof routes[0], t);
}
