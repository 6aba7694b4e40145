/* Face descriptors as vector templates and their 1:N cosine search.
 *
 * Vectors are stored unit length, each padded with zeros to a multiple of 16
 * floats (64 bytes) in one contiguous array, so a search is one pass over
 * memory: a dot product per vector, 16 lanes at a time (GCC/Clang vector
 * extensions: SSE on any x86-64), and a small
 * heap of the best. The pass is memory-bound; its peer in the benchmark is
 * a plain sum over the same array (bio_faces_read_all). */
#include "bio_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FACE_PAD 16

typedef float face_v4 __attribute__((vector_size(16)));

bool bio_face_model_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > BIO_FACE_MODEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool face__normalise(float *v, size_t dim)
{
    double ss = 0;
    for (size_t i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    if (!(ss > 0) || !isfinite(ss))
        return false;
    double inv = 1.0 / sqrt(ss);
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] * inv);
    return true;
}

cx_err bio_face_from_json(const json_t *obj, const char *ptr, bio_face *out, json_t *problems)
{
    memset(out, 0, sizeof *out);
    char p[160];
    if (!json_is_object(obj)) {
        cx_problem_add(problems, ptr, "must be an object {\"model\", \"vector\"}");
        return CX_EINVAL;
    }
    size_t before = json_array_size(problems);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (strcmp(key, "model") && strcmp(key, "vector")) {
            snprintf(p, sizeof p, "%s", ptr);
            cx_jptr_push(p, sizeof p, key);
            cx_problem_add(problems, p, "unknown field");
        }
    }
    const char *model = json_string_value(json_object_get(obj, "model"));
    snprintf(p, sizeof p, "%s/model", ptr);
    if (!model)
        cx_problem_add(problems, p, "is required: the descriptor's model, e.g. \"faceapi-128\"");
    else if (!bio_face_model_valid(model))
        cx_problem_add(problems, p, "must be 1 to 64 of A-Z a-z 0-9 . _ -");
    const json_t *vec = json_object_get(obj, "vector");
    snprintf(p, sizeof p, "%s/vector", ptr);
    size_t dim = json_array_size(vec);
    if (!json_is_array(vec) || dim < 1 || dim > BIO_FACE_DIM_MAX) {
        cx_problem_add(problems, p, "must be an array of 1 to %d numbers", BIO_FACE_DIM_MAX);
        return CX_EINVAL;
    }
    float *v = malloc(dim * sizeof *v);
    if (!v)
        return CX_ENOMEM;
    bool numbers = true;
    for (size_t i = 0; i < dim && numbers; i++) {
        const json_t *x = json_array_get(vec, i);
        double d = json_number_value(x);
        if (!json_is_number(x) || !isfinite(d) || fabs(d) > 1e6) {
            char q[176];
            snprintf(q, sizeof q, "%s/%zu", p, i);
            cx_problem_add(problems, q, "must be a finite number of magnitude at most 1e6");
            numbers = false;
        }
        v[i] = (float)d;
    }
    if (numbers && !face__normalise(v, dim))
        cx_problem_add(problems, p, "must not be all zeros");
    if (json_array_size(problems) != before) {
        free(v);
        return CX_EINVAL;
    }
    snprintf(out->model, sizeof out->model, "%s", model);
    out->dim = dim;
    out->v = v;
    return CX_OK;
}

void *bio_face_pack(const bio_face *f, size_t *len)
{
    uint8_t *b = malloc(f->dim * 4 + 1);
    if (!b)
        return NULL;
    for (size_t i = 0; i < f->dim; i++) {
        uint32_t u;
        memcpy(&u, &f->v[i], 4);
        for (int k = 0; k < 4; k++)
            b[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
    }
    *len = f->dim * 4;
    return b;
}

cx_err bio_face_unpack(const char *model, const void *data, size_t len, bio_face *out)
{
    memset(out, 0, sizeof *out);
    if (!bio_face_model_valid(model) || len == 0 || len % 4 || len / 4 > BIO_FACE_DIM_MAX)
        return CX_EINVAL;
    out->dim = len / 4;
    out->v = malloc(len);
    if (!out->v)
        return CX_ENOMEM;
    const uint8_t *b = data;
    for (size_t i = 0; i < out->dim; i++) {
        uint32_t u = 0;
        for (int k = 0; k < 4; k++)
            u |= (uint32_t)b[4 * i + (size_t)k] << (8 * k);
        memcpy(&out->v[i], &u, 4);
    }
    snprintf(out->model, sizeof out->model, "%s", model);
    if (!face__normalise(out->v, out->dim)) {
        free(out->v);
        out->v = NULL;
        return CX_EINVAL;
    }
    return CX_OK;
}

double bio_face_cosine(const bio_face *a, const bio_face *b)
{
    if (a->dim != b->dim || strcmp(a->model, b->model) != 0)
        return -1;
    double s = 0;
    for (size_t i = 0; i < a->dim; i++)
        s += (double)a->v[i] * b->v[i];
    return s;
}

/* ---- the gallery ------------------------------------------------------------------ */

struct bio_faces {
    char model[BIO_FACE_MODEL_MAX + 1];
    size_t dim, stride; /* floats; stride is dim rounded up to FACE_PAD */
    float *data;        /* n * stride, 64-byte aligned */
    uint64_t *ids;
    size_t n, cap;
};

bio_faces *bio_faces_new(const char *model, size_t dim)
{
    if (!bio_face_model_valid(model) || dim < 1 || dim > BIO_FACE_DIM_MAX)
        return NULL;
    bio_faces *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    snprintf(g->model, sizeof g->model, "%s", model);
    g->dim = dim;
    g->stride = (dim + FACE_PAD - 1) / FACE_PAD * FACE_PAD;
    return g;
}

void bio_faces_free(bio_faces *g)
{
    if (!g)
        return;
    free(g->data);
    free(g->ids);
    free(g);
}

const char *bio_faces_model(const bio_faces *g)
{
    return g->model;
}

size_t bio_faces_dim(const bio_faces *g)
{
    return g->dim;
}

size_t bio_faces_size(const bio_faces *g)
{
    return g->n;
}

cx_err bio_faces_add(bio_faces *g, uint64_t id, const float *v)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        float *d = aligned_alloc(64, cap * g->stride * sizeof *d);
        uint64_t *ids = realloc(g->ids, cap * sizeof *ids);
        if (!d || !ids) {
            free(d);
            if (ids)
                g->ids = ids;
            return CX_ENOMEM;
        }
        if (g->data)
            memcpy(d, g->data, g->n * g->stride * sizeof *d);
        free(g->data);
        g->data = d;
        g->ids = ids;
        g->cap = cap;
    }
    float *dst = g->data + g->n * g->stride;
    memcpy(dst, v, g->dim * sizeof *dst);
    memset(dst + g->dim, 0, (g->stride - g->dim) * sizeof *dst);
    g->ids[g->n++] = id;
    return CX_OK;
}

size_t bio_faces_remove(bio_faces *g, uint64_t id)
{
    size_t w = 0, removed = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->ids[i] == id) {
            removed++;
            continue;
        }
        if (w != i) {
            memcpy(g->data + w * g->stride, g->data + i * g->stride, g->stride * sizeof(float));
            g->ids[w] = g->ids[i];
        }
        w++;
    }
    g->n = w;
    return removed;
}

static inline face_v4 face__load(const float *p)
{
    face_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float face__hsum(face_v4 a, face_v4 b, face_v4 c, face_v4 d)
{
    face_v4 v = (a + b) + (c + d);
    return (v[0] + v[1]) + (v[2] + v[3]);
}

typedef struct {
    const bio_faces *g;
    const float *probe;
    size_t from, to, k;
    double min_score;
    bio_hit *heap; /* k slots: a min-heap on score */
    size_t nheap;
    double sum; /* read_all */
} face_job;

static bool face__worse(const bio_hit *a, const bio_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void face__push(face_job *j, bio_hit h)
{
    bio_hit *hp = j->heap;
    if (j->nheap == j->k) {
        if (!face__worse(&hp[0], &h))
            return;
        hp[0] = h;
        size_t i = 0;
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, w = i;
            if (l < j->nheap && face__worse(&hp[l], &hp[w]))
                w = l;
            if (r < j->nheap && face__worse(&hp[r], &hp[w]))
                w = r;
            if (w == i)
                break;
            bio_hit t = hp[i];
            hp[i] = hp[w];
            hp[w] = t;
            i = w;
        }
        return;
    }
    size_t i = j->nheap++;
    hp[i] = h;
    while (i > 0 && face__worse(&hp[i], &hp[(i - 1) / 2])) {
        bio_hit t = hp[i];
        hp[i] = hp[(i - 1) / 2];
        hp[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* The dot products, two vectors at a time (independent chains keep the
 * memory system busy). Each vector's sum is 16 lane sums over its 16-float
 * chunks, then a fixed tree: the SSE and AVX2 builds below compute the very
 * same lane sums in the same order, so scores do not depend on the CPU. */
static void face__dots_sse(const float *v, const float *w, const float *p, size_t stride,
                           float *sv, float *sw)
{
    face_v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    for (size_t k = 0; k < stride; k += 16) {
        face_v4 p0 = face__load(p + k), p1 = face__load(p + k + 4), p2 = face__load(p + k + 8),
                p3 = face__load(p + k + 12);
        a0 += face__load(v + k) * p0;
        a1 += face__load(v + k + 4) * p1;
        a2 += face__load(v + k + 8) * p2;
        a3 += face__load(v + k + 12) * p3;
        b0 += face__load(w + k) * p0;
        b1 += face__load(w + k + 4) * p1;
        b2 += face__load(w + k + 8) * p2;
        b3 += face__load(w + k + 12) * p3;
    }
    *sv = face__hsum(a0, a1, a2, a3);
    *sw = face__hsum(b0, b1, b2, b3);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
typedef float face_v8 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static void face__dots_avx2(const float *v, const float *w,
                                                            const float *p, size_t stride,
                                                            float *sv, float *sw)
{
    face_v8 a01 = {0}, a23 = {0}, b01 = {0}, b23 = {0};
    for (size_t k = 0; k < stride; k += 16) {
        face_v8 p01, p23, x;
        memcpy(&p01, p + k, 32);
        memcpy(&p23, p + k + 8, 32);
        memcpy(&x, v + k, 32);
        a01 += x * p01;
        memcpy(&x, v + k + 8, 32);
        a23 += x * p23;
        memcpy(&x, w + k, 32);
        b01 += x * p01;
        memcpy(&x, w + k + 8, 32);
        b23 += x * p23;
    }
    /* lanes 0-3 of a01 are the SSE build's a0, 4-7 its a1, and so on */
    face_v4 a0, a1, a2, a3, b0, b1, b2, b3;
    memcpy(&a0, &a01, 16);
    memcpy(&a1, (const char *)&a01 + 16, 16);
    memcpy(&a2, &a23, 16);
    memcpy(&a3, (const char *)&a23 + 16, 16);
    memcpy(&b0, &b01, 16);
    memcpy(&b1, (const char *)&b01 + 16, 16);
    memcpy(&b2, &b23, 16);
    memcpy(&b3, (const char *)&b23 + 16, 16);
    face_v4 va = (a0 + a1) + (a2 + a3), vb = (b0 + b1) + (b2 + b3);
    *sv = (va[0] + va[1]) + (va[2] + va[3]);
    *sw = (vb[0] + vb[1]) + (vb[2] + vb[3]);
}
#endif

typedef void (*face_dots_fn)(const float *, const float *, const float *, size_t, float *,
                             float *);

static face_dots_fn face__dots(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return face__dots_avx2;
#endif
    return face__dots_sse;
}

static void *face__search_run(void *arg)
{
    face_job *j = arg;
    const size_t stride = j->g->stride;
    face_dots_fn dots = face__dots();
    for (size_t i = j->from; i < j->to; i += 2) {
        const float *v = j->g->data + i * stride;
        /* an odd last vector pairs with itself */
        const float *w = i + 1 < j->to ? v + stride : v;
        float sv, sw;
        dots(v, w, j->probe, stride, &sv, &sw);
        if (sv >= j->min_score)
            face__push(j, (bio_hit){j->g->ids[i], sv, sv, 0});
        if (i + 1 < j->to && sw >= j->min_score)
            face__push(j, (bio_hit){j->g->ids[i + 1], sw, sw, 0});
    }
    return NULL;
}

static void *face__read_run(void *arg)
{
    face_job *j = arg;
    const size_t stride = j->g->stride;
    /* twice the accumulators of the search: the peer is as fast as a
     * plain loop can read */
    face_v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    const float *v = j->g->data + j->from * stride, *end = j->g->data + j->to * stride;
    for (; v + 32 <= end; v += 32) {
        a0 += face__load(v);
        a1 += face__load(v + 4);
        a2 += face__load(v + 8);
        a3 += face__load(v + 12);
        b0 += face__load(v + 16);
        b1 += face__load(v + 20);
        b2 += face__load(v + 24);
        b3 += face__load(v + 28);
    }
    for (; v < end; v += 16) {
        a0 += face__load(v);
        a1 += face__load(v + 4);
        a2 += face__load(v + 8);
        a3 += face__load(v + 12);
    }
    j->sum = face__hsum(a0 + b0, a1 + b1, a2 + b2, a3 + b3);
    return NULL;
}

static void face__parallel(void *(*fn)(void *), face_job *jobs, unsigned n)
{
    pthread_t th[64];
    unsigned started = 0;
    for (unsigned i = 1; i < n; i++) {
        if (pthread_create(&th[i], NULL, fn, &jobs[i]) != 0)
            break;
        started = i;
    }
    fn(&jobs[0]);
    for (unsigned i = started + 1; i < n; i++)
        fn(&jobs[i]);
    for (unsigned i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
}

static int face__cmp_hit(const void *a, const void *b)
{
    const bio_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

cx_err bio_faces_search(const bio_faces *g, const float *probe, unsigned threads,
                        size_t max_results, double min_score, bio_hit *out, size_t *n)
{
    *n = 0;
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    if (max_results == 0 || g->n == 0)
        return CX_OK;
    float *p = aligned_alloc(64, g->stride * sizeof *p);
    /* the heap keeps more than asked: ids may repeat (several descriptors
     * per subject) and the answer keeps one hit per id */
    size_t k = max_results * 4;
    bio_hit *heaps = malloc((size_t)threads * k * sizeof *heaps);
    if (!p || !heaps) {
        free(p);
        free(heaps);
        return CX_ENOMEM;
    }
    memcpy(p, probe, g->dim * sizeof *p);
    memset(p + g->dim, 0, (g->stride - g->dim) * sizeof *p);
    face_job jobs[64];
    for (unsigned t = 0; t < threads; t++)
        jobs[t] = (face_job){.g = g, .probe = p, .from = g->n * t / threads,
                             .to = g->n * (t + 1) / threads, .k = k, .min_score = min_score,
                             .heap = heaps + (size_t)t * k};
    face__parallel(face__search_run, jobs, threads);
    size_t total = 0;
    for (unsigned t = 0; t < threads; t++) {
        memmove(heaps + total, jobs[t].heap, jobs[t].nheap * sizeof *heaps);
        total += jobs[t].nheap;
    }
    qsort(heaps, total, sizeof *heaps, face__cmp_hit);
    for (size_t i = 0; i < total && *n < max_results; i++) {
        bool seen = false;
        for (size_t q = 0; q < *n && !seen; q++)
            seen = out[q].id == heaps[i].id;
        if (!seen)
            out[(*n)++] = heaps[i];
    }
    free(heaps);
    free(p);
    return CX_OK;
}

double bio_faces_read_all(const bio_faces *g, unsigned threads)
{
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    face_job jobs[64];
    for (unsigned t = 0; t < threads; t++)
        jobs[t] = (face_job){.g = g, .from = g->n * t / threads, .to = g->n * (t + 1) / threads};
    face__parallel(face__read_run, jobs, threads);
    double s = 0;
    for (unsigned t = 0; t < threads; t++)
        s += jobs[t].sum;
    return s;
}

cx_err bio_faces_best_of(const bio_faces *g, uint64_t id, const float *probe, double *cosine)
{
    bool found = false;
    *cosine = -1;
    for (size_t i = 0; i < g->n; i++) {
        if (g->ids[i] != id)
            continue;
        const float *v = g->data + i * g->stride;
        double s = 0;
        for (size_t k = 0; k < g->dim; k++)
            s += (double)v[k] * probe[k];
        if (!found || s > *cosine)
            *cosine = s;
        found = true;
    }
    return found ? CX_OK : CX_ENOTFOUND;
}
