/* The reference tables of a model: the keys a case is looked up by (numbers
 * that form keys — value, mass, tax rate — are keyed by their exact binary
 * value, so "the same declaration" means exactly the same figures), label
 * statistics per key, unit-value medians and MADs, the labelled cases behind
 * the nearest similar declarations; built from training cases and frozen
 * with the model as JSON. The features computed from them are features.c's. */
#include "risk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const near_names[2] = {"route", "hs6"};
static const char *const uv_names[2] = {"hs6", "hs6_origin"};

/* ---- keys ---------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool overflow;
} keybuf;

static void kb__str(keybuf *k, const char *s)
{
    size_t n = strlen(s);
    if (k->len + n + 1 > k->cap) {
        k->overflow = true;
        return;
    }
    memcpy(k->p + k->len, s, n);
    k->len += n;
    k->p[k->len] = '\0';
}

static void kb__sep(keybuf *k)
{
    kb__str(k, "|");
}

/* The exact binary value of a double, as 16 hex digits (-0 reads as 0). */
static void kb__num(keybuf *k, double v)
{
    static const char hex[] = "0123456789abcdef";
    if (!isfinite(v))
        return; /* empty: absent */
    if (v == 0)
        v = 0;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (k->len + 17 > k->cap) {
        k->overflow = true;
        return;
    }
    for (int i = 15; i >= 0; i--) {
        k->p[k->len + (size_t)i] = hex[bits & 15];
        bits >>= 4;
    }
    k->len += 16;
    k->p[k->len] = '\0';
}

static void kb__route(keybuf *k, const risk_case *c)
{
    kb__str(k, c->hs6);
    kb__sep(k);
    kb__str(k, c->departure);
    kb__sep(k);
    kb__str(k, c->origin);
    kb__sep(k);
    kb__str(k, c->tax_type);
    kb__sep(k);
    kb__num(k, c->tax_rate);
}

int risk__case_key(const risk_case *c, int key, char *buf, size_t cap)
{
    keybuf k = {buf, 0, cap, false};
    buf[0] = '\0';
    /* The keys that are one field of the case, absent when it is empty. */
    const char *one = key == RK_IMPORTER    ? c->importer
                      : key == RK_DECLARANT ? c->declarant
                      : key == RK_SELLER    ? c->seller
                      : key == RK_OFFICE    ? c->office
                      : key == RK_ORIGIN    ? c->origin
                      : key == RK_DEPARTURE ? c->departure
                                            : NULL;
    if (one) {
        if (!one[0])
            return -1;
        kb__str(&k, one);
        return k.overflow ? -1 : (int)k.len;
    }
    switch (key) {
    case RK_HS6:
        kb__str(&k, c->hs6);
        break;
    case RK_HS4:
    case RK_HS2: {
        char part[5];
        size_t n = key == RK_HS4 ? 4 : 2;
        if (strlen(c->hs6) < n)
            return -1;
        memcpy(part, c->hs6, n);
        part[n] = '\0';
        kb__str(&k, part);
        break;
    }
    case RK_HS6_ORIGIN:
        if (!c->origin[0])
            return -1;
        kb__str(&k, c->hs6);
        kb__sep(&k);
        kb__str(&k, c->origin);
        break;
    case RK_ROUTE:
        kb__route(&k, c);
        break;
    case RK_SAME:
        if (!isfinite(c->value) || !isfinite(c->mass))
            return -1;
        kb__route(&k, c);
        kb__sep(&k);
        kb__num(&k, c->value);
        kb__sep(&k);
        kb__num(&k, c->mass);
        break;
    case RK_SAME_HS6_VALUE:
        if (!isfinite(c->value))
            return -1;
        kb__str(&k, c->hs6);
        kb__sep(&k);
        kb__num(&k, c->value);
        break;
    default:
        return -1;
    }
    return k.overflow ? -1 : (int)k.len;
}

/* ---- tables -------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorted in place); the mean of the middle two when n
 * is even. */
static double median_sorted(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double case_lu(const risk_case *c)
{
    double lv = risk__log_value(c->value), lm = risk__log_value(c->mass);
    return lv - lm; /* NAN if either is */
}

void risk_tables_free(risk_tables *t)
{
    if (!t)
        return;
    for (int k = 0; k < RK__COUNT; k++) {
        cx_map_free(&t->keys[k]);
        free(t->n[k]);
        free(t->pos[k]);
    }
    for (int u = 0; u < 2; u++) {
        cx_map_free(&t->uv_keys[u]);
        free(t->uv_median[u]);
        free(t->uv_mad[u]);
        free(t->uv_n[u]);
        cx_map_free(&t->near_keys[u]);
        free(t->near_groups[u]);
        free(t->near_lv[u]);
        free(t->near_lm[u]);
        free(t->near_label[u]);
        free(t->near_group_id[u]);
    }
    free(t);
}

static risk_tables *tables__new(const risk_feature_opts *o)
{
    risk_tables *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->smoothing = o && o->smoothing > 0 ? o->smoothing : 2;
    t->folds = o && o->folds >= 2 ? o->folds : 5;
    snprintf(t->currency, sizeof t->currency, "KRW");
    for (int k = 0; k < RK__COUNT; k++)
        cx_map_init(&t->keys[k]);
    for (int u = 0; u < 2; u++) {
        cx_map_init(&t->uv_keys[u]);
        cx_map_init(&t->near_keys[u]);
    }
    return t;
}

/* Grows the per-key count arrays of key family k (capacity *cap) to hold
 * need entries, zero-filled. */
static bool tables__counts(risk_tables *t, int k, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 256;
    while (nc < need)
        nc *= 2;
    int64_t *n = realloc(t->n[k], nc * sizeof *n);
    if (n)
        t->n[k] = n;
    int64_t *p = realloc(t->pos[k], nc * sizeof *p);
    if (p)
        t->pos[k] = p;
    if (!n || !p)
        return false;
    memset(t->n[k] + *cap, 0, (nc - *cap) * sizeof *n);
    memset(t->pos[k] + *cap, 0, (nc - *cap) * sizeof *p);
    *cap = nc;
    return true;
}

/* Medians and MADs of the log unit value per group (label-free). */
static cx_err tables__uv(risk_tables *t, const risk_case *cases, size_t n)
{
    char key[RISK_KEY_MAX];
    for (int u = 0; u < 2; u++) {
        int kf = u == 0 ? RK_HS6 : RK_HS6_ORIGIN;
        int64_t *gid = malloc((n ? n : 1) * sizeof *gid);
        if (!gid)
            return CX_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            gid[i] = -1;
            if (!isfinite(case_lu(&cases[i])))
                continue;
            int len = risk__case_key(&cases[i], kf, key, sizeof key);
            if (len < 0)
                continue;
            gid[i] = cx_map_put(&t->uv_keys[u], key, (size_t)len, NULL);
            if (gid[i] < 0) {
                free(gid);
                return CX_ENOMEM;
            }
        }
        size_t ng = t->uv_keys[u].n;
        size_t *start = calloc(ng + 1, sizeof *start);
        double *vals = malloc((n ? n : 1) * sizeof *vals);
        double *dev = malloc((n ? n : 1) * sizeof *dev);
        t->uv_median[u] = malloc((ng ? ng : 1) * sizeof(double));
        t->uv_mad[u] = malloc((ng ? ng : 1) * sizeof(double));
        t->uv_n[u] = malloc((ng ? ng : 1) * sizeof(int64_t));
        if (!start || !vals || !dev || !t->uv_median[u] || !t->uv_mad[u] || !t->uv_n[u]) {
            free(gid);
            free(start);
            free(vals);
            free(dev);
            return CX_ENOMEM;
        }
        /* counting sort of the values by group */
        for (size_t i = 0; i < n; i++)
            if (gid[i] >= 0)
                start[gid[i] + 1]++;
        for (size_t g = 0; g < ng; g++)
            start[g + 1] += start[g];
        size_t *fill = calloc(ng + 1, sizeof *fill);
        if (!fill) {
            free(gid);
            free(start);
            free(vals);
            free(dev);
            return CX_ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
            if (gid[i] >= 0)
                vals[start[gid[i]] + fill[gid[i]]++] = case_lu(&cases[i]);
        for (size_t g = 0; g < ng; g++) {
            double *v = vals + start[g];
            size_t m = start[g + 1] - start[g];
            double med = median_sorted(v, m);
            for (size_t j = 0; j < m; j++)
                dev[j] = fabs(v[j] - med);
            t->uv_median[u][g] = med;
            t->uv_mad[u][g] = median_sorted(dev, m);
            t->uv_n[u][g] = (int64_t)m;
        }
        free(fill);
        free(gid);
        free(start);
        free(vals);
        free(dev);
    }
    return CX_OK;
}

typedef struct {
    double lv, lm;
    int64_t group;
    int8_t label;
    uint32_t g;
} near_tmp;

static int cmp_near(const void *a, const void *b)
{
    const near_tmp *x = a, *y = b;
    if (x->g != y->g)
        return x->g < y->g ? -1 : 1;
    if (x->lv != y->lv)
        return x->lv < y->lv ? -1 : 1;
    if (x->lm != y->lm)
        return x->lm < y->lm ? -1 : 1;
    return (x->group > y->group) - (x->group < y->group);
}

static cx_err tables__near(risk_tables *t, const risk_case *cases, size_t n)
{
    char key[RISK_KEY_MAX];
    for (int w = 0; w < 2; w++) {
        int kf = w == 0 ? RK_ROUTE : RK_HS6;
        near_tmp *tmp = malloc((n ? n : 1) * sizeof *tmp);
        if (!tmp)
            return CX_ENOMEM;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const risk_case *c = &cases[i];
            double lv = risk__log_value(c->value), lm = risk__log_value(c->mass);
            if (!isfinite(lv) || !isfinite(lm) || c->label < 0)
                continue;
            int len = risk__case_key(c, kf, key, sizeof key);
            if (len < 0)
                continue;
            int64_t g = cx_map_put(&t->near_keys[w], key, (size_t)len, NULL);
            if (g < 0) {
                free(tmp);
                return CX_ENOMEM;
            }
            tmp[m++] = (near_tmp){lv, lm, c->group, c->label, (uint32_t)g};
        }
        qsort(tmp, m, sizeof *tmp, cmp_near);
        size_t ng = t->near_keys[w].n;
        t->near_groups[w] = calloc(ng ? ng : 1, sizeof(risk_near_group));
        t->near_lv[w] = malloc((m ? m : 1) * sizeof(double));
        t->near_lm[w] = malloc((m ? m : 1) * sizeof(double));
        t->near_label[w] = malloc(m ? m : 1);
        t->near_group_id[w] = malloc((m ? m : 1) * sizeof(int64_t));
        if (!t->near_groups[w] || !t->near_lv[w] || !t->near_lm[w] || !t->near_label[w] ||
            !t->near_group_id[w]) {
            free(tmp);
            return CX_ENOMEM;
        }
        for (size_t i = 0; i < m; i++) {
            t->near_lv[w][i] = tmp[i].lv;
            t->near_lm[w][i] = tmp[i].lm;
            t->near_label[w][i] = tmp[i].label;
            t->near_group_id[w][i] = tmp[i].group;
            risk_near_group *gr = &t->near_groups[w][tmp[i].g];
            if (gr->count == 0)
                gr->start = (uint32_t)i;
            gr->count++;
        }
        t->near_total[w] = m;
        free(tmp);
    }
    return CX_OK;
}

cx_err risk_tables_build(const risk_case *cases, size_t n, const risk_feature_opts *o,
                         risk_tables **out)
{
    risk_tables *t = tables__new(o);
    if (!t)
        return CX_ENOMEM;
    char key[RISK_KEY_MAX];
    int64_t npos = 0, nlab = 0;
    size_t have[RK__COUNT] = {0};
    cx_err e = CX_OK;
    for (size_t i = 0; i < n && e == CX_OK; i++) {
        const risk_case *c = &cases[i];
        if (c->label < 0)
            continue;
        nlab++;
        npos += c->label;
        for (int k = 0; k < RK__COUNT; k++) {
            int len = risk__case_key(c, k, key, sizeof key);
            if (len < 0)
                continue;
            int64_t idx = cx_map_put(&t->keys[k], key, (size_t)len, NULL);
            if (idx < 0 || !tables__counts(t, k, &have[k], t->keys[k].n)) {
                e = CX_ENOMEM;
                break;
            }
            t->n[k][idx]++;
            t->pos[k][idx] += c->label;
        }
    }
    t->prior = nlab ? (double)npos / (double)nlab : 0;
    if (e == CX_OK)
        e = tables__uv(t, cases, n);
    if (e == CX_OK)
        e = tables__near(t, cases, n);
    if (e != CX_OK) {
        risk_tables_free(t);
        return e;
    }
    *out = t;
    return CX_OK;
}

/* ---- nearest similar cases ---------------------------------------------------- */

/* The nearest cases found so far: the smallest squared distance and how
 * many cases (and frauds) are at it. */
typedef struct {
    const double *LM;
    const int8_t *L;
    const int64_t *G;
    int64_t skip_group;
    double lm, best;
    int64_t n, pos;
} near_walk;

/* Takes case r at value gap dv; false once the gap alone is past the best,
 * which ends the walk in that direction. */
static bool near__take(near_walk *w, size_t r, double dv)
{
    if (dv * dv > w->best)
        return false;
    if (w->G && w->skip_group && w->G[r] == w->skip_group)
        return true;
    double d = dv * dv + (w->LM[r] - w->lm) * (w->LM[r] - w->lm);
    if (d < w->best) {
        w->best = d;
        w->n = w->pos = 0;
    }
    if (d == w->best) {
        w->n++;
        w->pos += w->L[r];
    }
    return true;
}

bool risk__nearest(const risk_tables *t, int w, const risk_near_group *g, double lv, double lm,
                   int64_t skip_group, int64_t *n, int64_t *pos, double *dist)
{
    const double *LV = t->near_lv[w] + g->start;
    near_walk k = {
        .LM = t->near_lm[w] + g->start,
        .L = t->near_label[w] + g->start,
        .G = t->near_group_id[w] ? t->near_group_id[w] + g->start : NULL,
        .skip_group = skip_group,
        .lm = lm,
        .best = INFINITY,
    };
    size_t cnt = g->count;
    /* first case with LV >= lv */
    size_t lo = 0, hi = cnt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (LV[mid] < lv)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Walk outwards while the value gap alone could still tie the best:
     * every case at the smallest distance is counted, whatever the order. */
    for (size_t r = lo; r < cnt && near__take(&k, r, LV[r] - lv); r++)
        ;
    for (size_t l = lo; l-- > 0 && near__take(&k, l, lv - LV[l]);)
        ;
    if (k.n == 0)
        return false;
    *n = k.n;
    *pos = k.pos;
    *dist = sqrt(k.best);
    return true;
}

/* ---- JSON form ---------------------------------------------------------------------- */

static json_t *json_ints(const int64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *json_reals(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *json_keys(const cx_map *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n; i++)
        json_array_append_new(a, json_string(cx_map_key(m, i)));
    return a;
}

json_t *risk_tables_to_json(const risk_tables *t)
{
    json_t *j = json_object();
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "feature_set", json_integer(RISK_FEATURE_SET));
    json_object_set_new(j, "currency", json_string(t->currency));
    json_object_set_new(j, "prior", json_real(t->prior));
    json_object_set_new(j, "smoothing", json_real(t->smoothing));
    json_object_set_new(j, "folds", json_integer(t->folds));
    json_t *te = json_object();
    for (int k = 0; k < RK__COUNT; k++) {
        json_t *o = json_object();
        json_object_set_new(o, "keys", json_keys(&t->keys[k]));
        json_object_set_new(o, "n", json_ints(t->n[k], t->keys[k].n));
        json_object_set_new(o, "pos", json_ints(t->pos[k], t->keys[k].n));
        json_object_set_new(te, risk__key_names[k], o);
    }
    json_object_set_new(j, "te", te);
    json_t *uv = json_object();
    for (int u = 0; u < 2; u++) {
        json_t *o = json_object();
        size_t ng = t->uv_keys[u].n;
        json_object_set_new(o, "keys", json_keys(&t->uv_keys[u]));
        json_object_set_new(o, "median", json_reals(t->uv_median[u], ng));
        json_object_set_new(o, "mad", json_reals(t->uv_mad[u], ng));
        json_object_set_new(o, "n", json_ints(t->uv_n[u], ng));
        json_object_set_new(uv, uv_names[u], o);
    }
    json_object_set_new(j, "uv", uv);
    json_t *near = json_object();
    for (int w = 0; w < 2; w++) {
        json_t *o = json_object();
        size_t ng = t->near_keys[w].n;
        json_t *counts = json_array();
        for (size_t g = 0; g < ng; g++)
            json_array_append_new(counts, json_integer(t->near_groups[w][g].count));
        /* cases in group order, so that start offsets are implied */
        json_t *lv = json_array(), *lm = json_array(), *lab = json_array();
        for (size_t g = 0; g < ng; g++) {
            const risk_near_group *gr = &t->near_groups[w][g];
            for (uint32_t r = gr->start; r < gr->start + gr->count; r++) {
                json_array_append_new(lv, json_real(t->near_lv[w][r]));
                json_array_append_new(lm, json_real(t->near_lm[w][r]));
                json_array_append_new(lab, json_integer(t->near_label[w][r]));
            }
        }
        json_object_set_new(o, "keys", json_keys(&t->near_keys[w]));
        json_object_set_new(o, "count", counts);
        json_object_set_new(o, "lv", lv);
        json_object_set_new(o, "lm", lm);
        json_object_set_new(o, "label", lab);
        json_object_set_new(near, near_names[w], o);
    }
    json_object_set_new(j, "near", near);
    return j;
}

/* Reads array member name of o: n numbers (or strings when keys). */
static const json_t *tj__array(const json_t *o, const char *name, size_t n, bool strings,
                               char *err, size_t errlen, const char *where)
{
    const json_t *a = json_object_get(o, name);
    if (!json_is_array(a) || (n != (size_t)-1 && json_array_size(a) != n)) {
        snprintf(err, errlen, "model tables: %s.%s is missing or has the wrong length", where,
                 name);
        return NULL;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
    {
        if (strings ? !json_is_string(v) : !json_is_number(v)) {
            snprintf(err, errlen, "model tables: %s.%s[%zu] is not a %s", where, name, i,
                     strings ? "string" : "number");
            return NULL;
        }
    }
    return a;
}

static cx_err tj__keys(const json_t *a, cx_map *m, char *err, size_t errlen, const char *where)
{
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v)
    {
        bool added;
        const char *s = json_string_value(v);
        if (cx_map_put(m, s, strlen(s), &added) < 0)
            return CX_ENOMEM;
        if (!added) {
            snprintf(err, errlen, "model tables: %s key \"%.60s\" is listed twice", where, s);
            return CX_EPARSE;
        }
    }
    return CX_OK;
}

cx_err risk_tables_from_json(const json_t *j, risk_tables **out, char *err, size_t errlen)
{
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1) {
        snprintf(err, errlen, "model tables: not a version 1 tables document");
        return CX_EPARSE;
    }
    if (json_integer_value(json_object_get(j, "feature_set")) != RISK_FEATURE_SET) {
        snprintf(err, errlen, "model tables: feature set %lld, this program computes set %d",
                 (long long)json_integer_value(json_object_get(j, "feature_set")),
                 RISK_FEATURE_SET);
        return CX_EINVAL;
    }
    risk_feature_opts o = {json_number_value(json_object_get(j, "smoothing")),
                           (int)json_integer_value(json_object_get(j, "folds"))};
    risk_tables *t = tables__new(&o);
    if (!t)
        return CX_ENOMEM;
    t->prior = json_number_value(json_object_get(j, "prior"));
    const char *cur = json_string_value(json_object_get(j, "currency"));
    if (cur && strlen(cur) == 3)
        snprintf(t->currency, sizeof t->currency, "%s", cur);
    cx_err e = CX_OK;
    const json_t *te = json_object_get(j, "te");
    for (int k = 0; k < RK__COUNT && e == CX_OK; k++) {
        const json_t *o2 = json_object_get(te, risk__key_names[k]);
        const json_t *keys = tj__array(o2, "keys", (size_t)-1, true, err, errlen,
                                       risk__key_names[k]);
        size_t nk = keys ? json_array_size(keys) : 0;
        const json_t *nn = keys ? tj__array(o2, "n", nk, false, err, errlen, risk__key_names[k]) : NULL;
        const json_t *pp = nn ? tj__array(o2, "pos", nk, false, err, errlen, risk__key_names[k]) : NULL;
        if (!pp) {
            e = CX_EPARSE;
            break;
        }
        e = tj__keys(keys, &t->keys[k], err, errlen, risk__key_names[k]);
        t->n[k] = malloc((nk ? nk : 1) * sizeof(int64_t));
        t->pos[k] = malloc((nk ? nk : 1) * sizeof(int64_t));
        if (e == CX_OK && (!t->n[k] || !t->pos[k]))
            e = CX_ENOMEM;
        for (size_t i = 0; e == CX_OK && i < nk; i++) {
            t->n[k][i] = json_integer_value(json_array_get(nn, i));
            t->pos[k][i] = json_integer_value(json_array_get(pp, i));
        }
    }
    const json_t *uv = json_object_get(j, "uv");
    for (int u = 0; u < 2 && e == CX_OK; u++) {
        const json_t *o2 = json_object_get(uv, uv_names[u]);
        const json_t *keys = tj__array(o2, "keys", (size_t)-1, true, err, errlen, uv_names[u]);
        size_t ng = keys ? json_array_size(keys) : 0;
        const json_t *med = keys ? tj__array(o2, "median", ng, false, err, errlen, "uv") : NULL;
        const json_t *mad = med ? tj__array(o2, "mad", ng, false, err, errlen, "uv") : NULL;
        const json_t *cnt = mad ? tj__array(o2, "n", ng, false, err, errlen, "uv") : NULL;
        if (!cnt) {
            e = CX_EPARSE;
            break;
        }
        e = tj__keys(keys, &t->uv_keys[u], err, errlen, "uv");
        t->uv_median[u] = malloc((ng ? ng : 1) * sizeof(double));
        t->uv_mad[u] = malloc((ng ? ng : 1) * sizeof(double));
        t->uv_n[u] = malloc((ng ? ng : 1) * sizeof(int64_t));
        if (e == CX_OK && (!t->uv_median[u] || !t->uv_mad[u] || !t->uv_n[u]))
            e = CX_ENOMEM;
        for (size_t g = 0; e == CX_OK && g < ng; g++) {
            t->uv_median[u][g] = json_number_value(json_array_get(med, g));
            t->uv_mad[u][g] = json_number_value(json_array_get(mad, g));
            t->uv_n[u][g] = json_integer_value(json_array_get(cnt, g));
        }
    }
    const json_t *near = json_object_get(j, "near");
    for (int w = 0; w < 2 && e == CX_OK; w++) {
        const json_t *o2 = json_object_get(near, near_names[w]);
        const json_t *keys = tj__array(o2, "keys", (size_t)-1, true, err, errlen, near_names[w]);
        size_t ng = keys ? json_array_size(keys) : 0;
        const json_t *cnt = keys ? tj__array(o2, "count", ng, false, err, errlen, "near") : NULL;
        const json_t *lv = cnt ? tj__array(o2, "lv", (size_t)-1, false, err, errlen, "near") : NULL;
        size_t m = lv ? json_array_size(lv) : 0;
        const json_t *lm = lv ? tj__array(o2, "lm", m, false, err, errlen, "near") : NULL;
        const json_t *lab = lm ? tj__array(o2, "label", m, false, err, errlen, "near") : NULL;
        if (!lab) {
            e = CX_EPARSE;
            break;
        }
        e = tj__keys(keys, &t->near_keys[w], err, errlen, "near");
        t->near_groups[w] = calloc(ng ? ng : 1, sizeof(risk_near_group));
        t->near_lv[w] = malloc((m ? m : 1) * sizeof(double));
        t->near_lm[w] = malloc((m ? m : 1) * sizeof(double));
        t->near_label[w] = malloc(m ? m : 1);
        if (e == CX_OK &&
            (!t->near_groups[w] || !t->near_lv[w] || !t->near_lm[w] || !t->near_label[w]))
            e = CX_ENOMEM;
        size_t at = 0;
        for (size_t g = 0; e == CX_OK && g < ng; g++) {
            json_int_t c = json_integer_value(json_array_get(cnt, g));
            if (c < 0 || (size_t)c > m - at) {
                snprintf(err, errlen, "model tables: near.%s counts exceed the cases",
                         near_names[w]);
                e = CX_EPARSE;
                break;
            }
            t->near_groups[w][g] = (risk_near_group){(uint32_t)at, (uint32_t)c};
            for (size_t r = at; r < at + (size_t)c; r++) {
                t->near_lv[w][r] = json_number_value(json_array_get(lv, r));
                t->near_lm[w][r] = json_number_value(json_array_get(lm, r));
                t->near_label[w][r] = (int8_t)(json_integer_value(json_array_get(lab, r)) != 0);
                if (r > at && t->near_lv[w][r] < t->near_lv[w][r - 1]) {
                    snprintf(err, errlen, "model tables: near.%s cases are not sorted",
                             near_names[w]);
                    e = CX_EPARSE;
                    break;
                }
            }
            at += (size_t)c;
        }
        if (e == CX_OK && at != m) {
            snprintf(err, errlen, "model tables: near.%s counts do not add up", near_names[w]);
            e = CX_EPARSE;
        }
        t->near_total[w] = m;
    }
    if (e != CX_OK) {
        if (e == CX_ENOMEM)
            snprintf(err, errlen, "model tables: out of memory");
        risk_tables_free(t);
        return e;
    }
    *out = t;
    return CX_OK;
}

