/* The matcher's public face: features per template (one set per view),
 * per-thread scratch, view pairing by finger position, and the score. */
#include "bio_int.h"

#include <stdlib.h>

struct bio_features {
    size_t nviews;
    size_t bytes;
    unsigned position[BIO_FEATURES_MAX_VIEWS];
    mcc_feat *view[BIO_FEATURES_MAX_VIEWS];
};

struct bio_matcher {
    mcc_work *work;
};

cx_err bio_features_new(const bio_template *t, bio_features **out)
{
    *out = NULL;
    if (bio_template_nminutiae(t) == 0)
        return CX_EINVAL;
    bio_features *f = calloc(1, sizeof *f);
    if (!f)
        return CX_ENOMEM;
    f->bytes = sizeof *f;
    for (size_t i = 0; i < bio_template_nviews(t) && f->nviews < BIO_FEATURES_MAX_VIEWS; i++) {
        const bio_view *v = bio_template_view(t, i);
        if (v->nminutiae == 0)
            continue;
        mcc_feat *m = mcc__extract(v);
        if (!m) {
            bio_features_free(f);
            return CX_ENOMEM;
        }
        f->position[f->nviews] = v->position;
        f->view[f->nviews++] = m;
        f->bytes += m->bytes;
    }
    *out = f;
    return CX_OK;
}

void bio_features_free(bio_features *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nviews; i++)
        mcc__free(f->view[i]);
    free(f);
}

size_t bio_features_nviews(const bio_features *f)
{
    return f->nviews;
}

unsigned bio_features_position(const bio_features *f, size_t i)
{
    return i < f->nviews ? f->position[i] : 0;
}

size_t bio_features_bytes(const bio_features *f)
{
    return f->bytes;
}

void bio__features_set_position(bio_features *f, size_t i, unsigned position)
{
    if (i < f->nviews)
        f->position[i] = position;
}

const mcc_feat *bio__features_view(const bio_features *f, size_t i)
{
    return i < f->nviews ? f->view[i] : NULL;
}

bio_matcher *bio_matcher_new(void)
{
    bio_matcher *m = calloc(1, sizeof *m);
    if (m && !(m->work = mcc__work_new())) {
        free(m);
        return NULL;
    }
    return m;
}

void bio_matcher_free(bio_matcher *m)
{
    if (!m)
        return;
    mcc__work_free(m->work);
    free(m);
}

static bool matcher__comparable(unsigned a, unsigned b)
{
    return a == b || a == 0 || b == 0;
}

void bio_match(bio_matcher *m, const bio_features *probe, const bio_features *candidate,
               bio_match_result *out)
{
    *out = (bio_match_result){0, 0, -1, -1};
    for (size_t i = 0; i < probe->nviews; i++)
        for (size_t j = 0; j < candidate->nviews; j++) {
            if (!matcher__comparable(probe->position[i], candidate->position[j]))
                continue;
            double raw = mcc__compare(probe->view[i], candidate->view[j], m->work);
            if (out->probe_view < 0 || raw > out->raw) {
                out->raw = raw;
                out->probe_view = (int)i;
                out->candidate_view = (int)j;
            }
        }
    out->score = bio_score_from_raw(out->raw);
}

double bio_match_score(bio_matcher *m, const bio_features *probe, const bio_features *candidate)
{
    bio_match_result r;
    bio_match(m, probe, candidate, &r);
    return r.score;
}
