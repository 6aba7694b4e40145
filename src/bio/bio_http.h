/* bio_http.h — what the files of the /v1/biometrics API share; not a door. */
#ifndef CUSTOMS_BIO_HTTP_H
#define CUSTOMS_BIO_HTTP_H

#include "svc_int.h"

/* The body as a JSON object, or a 400 already sent and NULL. */
json_t *bh__parse(http_req *r);
/* An officer's (or admin's) JSON object body, or NULL with the 403 or 400
 * already sent. */
json_t *bh__officer_body(http_req *r, const char *what);
void bh__unknown(const json_t *doc, const char *const *known, json_t *problems);
const char *bh__str(const json_t *doc, const char *key, json_t *problems);
/* 400 with problems (stolen). */
void bh__problems(http_req *r, const char *code, const char *what, json_t *problems);
void bh__unavailable(http_req *r, cx_err e);
/* 200 with out (stolen), or 503 when e says the read failed. */
void bh__reply(http_req *r, cx_err e, json_t *out);
void bh__template_problems(const bio_problems *pr, const char *ptr, bool fatal_only,
                           json_t *problems);
uint8_t *bh__base64(const char *s, const char *ptr, size_t *len, json_t *problems);
const char *bh__purpose(const json_t *doc, json_t *problems);

void bh__subject_create(http_req *r, void *ctx);
void bh__subject_list(http_req *r, void *ctx);
void bh__subject_get(http_req *r, void *ctx);
void bh__subject_erase(http_req *r, void *ctx);
void bh__template_add(http_req *r, void *ctx);
void bh__station_add(http_req *r, void *ctx);
void bh__station_list(http_req *r, void *ctx);
void bh__audit(http_req *r, void *ctx);

#endif
