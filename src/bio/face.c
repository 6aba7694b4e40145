/* Face descriptors as vector templates and their 1:N cosine search.
 *
 * Vectors are stored unit length, each padded with zeros to a multiple of 16
 * floats (64 bytes) in one contiguous array, so a search is one pass over
 * memory: a dot product per vector, 16 lanes at a time (SSE on any x86-64,
 * AVX2 or AVX-512 where the CPU has them, all with the same lane sums), and a
 * small heap of the best. The pass is memory-bound; its peer in the benchmark
 * is a plain sum over the same array (bio_faces_read_all). */
#include "bio_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FACE_PAD 16

typedef float face_v4 __attribute__((vector_size(16)));

bool bio_face_model_valid(const char *s)
{
    return bio__token_valid(s, BIO_FACE_MODEL_MAX, "._-");
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
    bio_slots by_id; /* id -> its vectors; removal moves the last into the hole */
    uint64_t moved;
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
    bio__slots_free(&g->by_id);
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
    if (g->n >= UINT32_MAX - 1 || !bio__slots_add(&g->by_id, id, (uint32_t)g->n))
        return CX_ENOMEM;
    float *dst = g->data + g->n * g->stride;
    memcpy(dst, v, g->dim * sizeof *dst);
    memset(dst + g->dim, 0, (g->stride - g->dim) * sizeof *dst);
    g->ids[g->n++] = id;
    return CX_OK;
}

size_t bio_faces_remove(bio_faces *g, uint64_t id)
{
    size_t n = 0;
    for (uint32_t s; (s = bio__slots_pop(&g->by_id, id)) != BIO_SLOT_NONE; n++) {
        uint32_t last = (uint32_t)--g->n;
        if (s == last)
            continue;
        memcpy(g->data + (size_t)s * g->stride, g->data + (size_t)last * g->stride,
               g->stride * sizeof(float));
        g->ids[s] = g->ids[last];
        bio__slots_move(&g->by_id, g->ids[s], last, s);
        g->moved++;
    }
    return n;
}

uint64_t bio_faces_moved(const bio_faces *g)
{
    return g->moved;
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

/* The dot products of n vectors (stride floats apart) with p, into out.
 * Each vector's sum is 16 lane sums over its 16-float chunks, then a fixed
 * tree: ((l0..3 + l4..7) + (l8..11 + l12..15)), then (f0 + f1) + (f2 + f3).
 * The SSE, AVX2 and AVX-512 builds compute the same lane sums and the same
 * tree, so scores do not depend on the CPU. Several vectors at a time keep
 * independent chains in flight. */
static void face__dots_sse(const float *data, size_t n, size_t stride, const float *p,
                           float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *v = data + i * stride;
        face_v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t k = 0; k < stride; k += 16) {
            a0 += face__load(v + k) * face__load(p + k);
            a1 += face__load(v + k + 4) * face__load(p + k + 4);
            a2 += face__load(v + k + 8) * face__load(p + k + 8);
            a3 += face__load(v + k + 12) * face__load(p + k + 12);
        }
        out[i] = face__hsum(a0, a1, a2, a3);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

typedef float face_v8 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static void face__dots_avx2(const float *data, size_t n,
                                                            size_t stride, const float *p,
                                                            float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *v = data + i * stride;
        face_v8 a01 = {0}, a23 = {0}, x, p01, p23;
        for (size_t k = 0; k < stride; k += 16) {
            memcpy(&p01, p + k, 32);
            memcpy(&p23, p + k + 8, 32);
            memcpy(&x, v + k, 32);
            a01 += x * p01;
            memcpy(&x, v + k + 8, 32);
            a23 += x * p23;
        }
        /* lanes 0-3 of a01 are the SSE build's a0, 4-7 its a1, and so on */
        face_v4 a0, a1, a2, a3;
        memcpy(&a0, &a01, 16);
        memcpy(&a1, (const char *)&a01 + 16, 16);
        memcpy(&a2, &a23, 16);
        memcpy(&a3, (const char *)&a23 + 16, 16);
        face_v4 t = (a0 + a1) + (a2 + a3);
        out[i] = (t[0] + t[1]) + (t[2] + t[3]);
    }
}

/* Four accumulators of 16 lanes reduced by the shared tree at once: lane
 * group g of x is the SSE build's accumulator g. */
__attribute__((target("avx512f"))) static inline __m128 face__tree4(__m512 a, __m512 b, __m512 c,
                                                                   __m512 d)
{
    /* [a0 a2 b0 b2] + [a1 a3 b1 b3] = [a01 a23 b01 b23] */
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 1, 3, 1)));
    /* [a01 b01 c01 d01] + [a23 b23 c23 d23] */
    __m512 v = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
    /* in each group (f0 + f1) + (f2 + f3) */
    __m512 s = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
    __m512 t = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    /* element 0 of each group: the four scores */
    __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, t));
}

__attribute__((target("avx512f"))) static void face__dots_avx512(const float *data, size_t n,
                                                                 size_t stride, const float *p,
                                                                 float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *v = data + i * stride;
        __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
        for (size_t k = 0; k < stride; k += 16) {
            __m512 pk = _mm512_loadu_ps(p + k);
            a = _mm512_add_ps(a, _mm512_mul_ps(_mm512_loadu_ps(v + k), pk));
            b = _mm512_add_ps(b, _mm512_mul_ps(_mm512_loadu_ps(v + stride + k), pk));
            c = _mm512_add_ps(c, _mm512_mul_ps(_mm512_loadu_ps(v + 2 * stride + k), pk));
            d = _mm512_add_ps(d, _mm512_mul_ps(_mm512_loadu_ps(v + 3 * stride + k), pk));
        }
        _mm_storeu_ps(out + i, face__tree4(a, b, c, d));
    }
    if (i < n)
        face__dots_sse(data + i * stride, n - i, stride, p, out + i);
}
#endif

typedef void (*face_dots_fn)(const float *, size_t, size_t, const float *, float *);

static face_dots_fn face__dots(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return face__dots_avx512;
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
    float scores[256];
    for (size_t i = j->from; i < j->to; i += 256) {
        size_t n = j->to - i < 256 ? j->to - i : 256;
        dots(j->g->data + i * stride, n, stride, j->probe, scores);
        for (size_t q = 0; q < n; q++)
            if (scores[q] >= j->min_score)
                face__push(j, (bio_hit){j->g->ids[i + q], scores[q], scores[q], 0});
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
    if (threads > BIO_THREADS_MAX)
        threads = BIO_THREADS_MAX;
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
    face_job jobs[BIO_THREADS_MAX];
    for (unsigned t = 0; t < threads; t++)
        jobs[t] = (face_job){.g = g, .probe = p, .from = g->n * t / threads,
                             .to = g->n * (t + 1) / threads, .k = k, .min_score = min_score,
                             .heap = heaps + (size_t)t * k};
    bio__parallel(face__search_run, jobs, sizeof jobs[0], threads);
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
    if (threads > BIO_THREADS_MAX)
        threads = BIO_THREADS_MAX;
    face_job jobs[BIO_THREADS_MAX];
    for (unsigned t = 0; t < threads; t++)
        jobs[t] = (face_job){.g = g, .from = g->n * t / threads, .to = g->n * (t + 1) / threads};
    bio__parallel(face__read_run, jobs, sizeof jobs[0], threads);
    double s = 0;
    for (unsigned t = 0; t < threads; t++)
        s += jobs[t].sum;
    return s;
}

cx_err bio_faces_best_of(const bio_faces *g, uint64_t id, const float *probe, double *cosine)
{
    bool found = false;
    *cosine = -1;
    for (uint32_t i = bio__slots_first(&g->by_id, id); i != BIO_SLOT_NONE;
         i = g->by_id.next[i]) {
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
