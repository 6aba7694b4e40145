/* What the template fuzz targets share: parse the input as one format in
 * both modes and check what comes out. Properties: no crash, no leak, no
 * read outside the input (ASan); strict success implies permissive success
 * with the same minutiae; every accepted minutia is as stored; a template
 * with minutiae yields features that match themselves with a finite score. */
#ifndef CUSTOMS_FUZZ_BIO_H
#define CUSTOMS_FUZZ_BIO_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bio.h"

static void fuzz_bio_check(const bio_template *t)
{
    size_t total = 0;
    for (size_t i = 0; i < bio_template_nviews(t); i++) {
        const bio_view *v = bio_template_view(t, i);
        total += v->nminutiae;
        for (size_t k = 0; k < v->nminutiae; k++) {
            const bio_minutia *m = &v->minutiae[k];
            if (m->x > 0x3fff || m->y > 0x3fff || m->type > 2 || !(m->angle >= 0) ||
                !(m->angle < 2 * M_PI + 1e-6) || !isfinite(m->x_mm) || !isfinite(m->y_mm))
                abort();
        }
        for (size_t k = 0; k < v->nextensions; k++)
            if (v->extensions[k].len && !v->extensions[k].data)
                abort();
    }
    if (total != bio_template_nminutiae(t))
        abort();
    json_t *j = bio_template_json(t);
    if (!j)
        abort();
    json_decref(j);
}

static int fuzz_bio_one(const uint8_t *data, size_t size, bio_format fmt)
{
    bio_template *strict = NULL, *lax = NULL;
    bio_problems pr;
    cx_err es = bio_template_parse(data, size, fmt, 0, &strict, &pr);
    if (es != CX_OK && (pr.count == 0 || strict))
        abort(); /* every refusal names a problem */
    cx_err el = bio_template_parse(data, size, fmt, BIO_PARSE_PERMISSIVE, &lax, &pr);
    if (es == CX_OK && (el != CX_OK || bio_template_nminutiae(lax) !=
                                           bio_template_nminutiae(strict)))
        abort();
    if (el == CX_OK) {
        fuzz_bio_check(lax);
        bio_features *f = NULL;
        if (bio_template_nminutiae(lax) <= 160 && bio_template_nviews(lax) <= 4 &&
            bio_features_new(lax, &f) == CX_OK) {
            bio_matcher *m = bio_matcher_new();
            bio_match_result r;
            bio_match(m, f, f, &r);
            if (!(r.score >= 0 && r.score <= BIO_SCORE_MAX) || !(r.raw >= 0 && r.raw <= 1))
                abort();
            bio_matcher_free(m);
            bio_features_free(f);
        }
    }
    bio_template_free(strict);
    bio_template_free(lax);
    return 0;
}

#endif
