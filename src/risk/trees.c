/* The booster's trees, flattened, for one declaration at a time.
 *
 * XGBoost 1.7's C API costs ~30-60 µs per call before any tree is walked
 * (a DMatrix or proxy per call, configuration parsed from JSON, cgroup files
 * read for the thread count, every tree's node means recomputed for SHAP,
 * and a lock: contributions share the booster's prediction cache), while a
 * submission walks 100 trees of depth 3 once. These functions do what the
 * library's CPU predictor does for one row, in the same float operations in
 * the same order, so the scores and contributions are bit for bit the
 * library's (test_risk compares them on every row of a trained model);
 * bench_risk_latency measures both in the same run. Models this file does
 * not know (another objective, categorical splits, vector leaves, several
 * classes, dart) keep the library's path: risk_trees_load refuses them. */
#include "risk_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TREES_MAX_DEPTH 32   /* deeper models keep the library's path */
#define TREES_MAX_NODES 8192 /* per tree, likewise */
/* A tree's SHAP values depend on the row only through which way it goes at
 * each split: a tree of at most this many splits keeps its values for every
 * combination (2^8 at most), computed at load by the same TreeSHAP, so a
 * submission adds them up instead of walking every path. */
#define TREES_MEMO_SPLITS 8

typedef struct {
    int32_t left, right; /* -1: a leaf */
    uint32_t feature;
    float cond; /* the split value, or the leaf's value */
    float hess; /* sum of hessians (cover) */
    float mean; /* cover-weighted mean of the leaves below (SHAP's expected value) */
    bool default_left;
} trees__node;

typedef struct {
    bool on;          /* the tree is small enough: its values are kept */
    uint8_t nsplit;   /* bit j of a combination: split[j] goes left */
    uint8_t nfeat;    /* the distinct features it splits on */
    int32_t split[TREES_MEMO_SPLITS];
    uint8_t feat[TREES_MEMO_SPLITS];
    size_t off;       /* values[off + combination * nfeat + j]: feature feat[j] */
} trees__memo;

struct risk_trees {
    trees__node *nodes;
    size_t *first; /* tree t's nodes start at nodes + first[t] */
    size_t *count; /* and there are count[t] of them */
    trees__memo *memo;
    float *values;
    size_t ntrees;
    float base_margin;
};

static void trees__memoize(risk_trees *t);

/* Like XGBoost's FillNodeMeanValues (children always have larger indices:
 * checked on load, so the recursion ends). */
static float trees__fill_mean(trees__node *n, int32_t i)
{
    float r;
    if (n[i].left < 0) {
        r = n[i].cond;
    } else {
        r = trees__fill_mean(n, n[i].left) * n[n[i].left].hess;
        r += trees__fill_mean(n, n[i].right) * n[n[i].right].hess;
        r /= n[i].hess;
    }
    n[i].mean = r;
    return r;
}

static int trees__depth(const trees__node *n, int32_t i)
{
    if (n[i].left < 0)
        return 0;
    int l = trees__depth(n, n[i].left), r = trees__depth(n, n[i].right);
    return 1 + (l > r ? l : r);
}

static bool trees__str_is(const json_t *o, const char *key, const char *want)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && strcmp(s, want) == 0;
}

/* One tree's arrays into n[0..count); false when anything is off. */
static bool trees__one(const json_t *t, trees__node *n, size_t count)
{
    const json_t *l = json_object_get(t, "left_children"),
                 *r = json_object_get(t, "right_children"),
                 *f = json_object_get(t, "split_indices"),
                 *c = json_object_get(t, "split_conditions"),
                 *d = json_object_get(t, "default_left"), *h = json_object_get(t, "sum_hessian"),
                 *st = json_object_get(t, "split_type");
    const json_t *arrays[] = {l, r, f, c, d, h};
    for (size_t a = 0; a < sizeof arrays / sizeof arrays[0]; a++)
        if (json_array_size(arrays[a]) != count)
            return false;
    if (count == 0 || count > TREES_MAX_NODES ||
        !trees__str_is(json_object_get(t, "tree_param"), "size_leaf_vector", "0"))
        return false;
    /* a tree: every node below the root has one parent (a node reached
     * twice would make the walks below exponential) */
    uint8_t parents[TREES_MAX_NODES] = {0};
    for (size_t i = 0; i < count; i++) {
        json_int_t li = json_integer_value(json_array_get(l, i)),
                   ri = json_integer_value(json_array_get(r, i)),
                   fi = json_integer_value(json_array_get(f, i));
        const json_t *ci = json_array_get(c, i), *hi = json_array_get(h, i);
        if (!json_is_number(ci) || !json_is_number(hi) ||
            json_integer_value(json_array_get(st, i)) != 0)
            return false; /* a categorical split */
        bool leaf = li == -1;
        if (leaf != (ri == -1) ||
            (!leaf && (li <= (json_int_t)i || ri <= (json_int_t)i || li >= (json_int_t)count ||
                       ri >= (json_int_t)count || fi < 0 || fi >= RISK_NFEATURES)))
            return false;
        if (!leaf && (parents[li]++ || parents[ri]++))
            return false;
        n[i] = (trees__node){.left = (int32_t)li,
                             .right = (int32_t)ri,
                             .feature = leaf ? 0 : (uint32_t)fi,
                             .cond = (float)json_number_value(ci),
                             .hess = (float)json_number_value(hi),
                             .default_left = json_integer_value(json_array_get(d, i)) != 0};
    }
    return trees__depth(n, 0) <= TREES_MAX_DEPTH;
}

cx_err risk_trees_load(const char *json, size_t len, risk_trees **out)
{
    *out = NULL;
    json_t *root = json_loadb(json, len, 0, NULL);
    const json_t *learner = json_object_get(root, "learner");
    const json_t *gb = json_object_get(learner, "gradient_booster");
    const json_t *model = json_object_get(gb, "model");
    const json_t *trees = json_object_get(model, "trees");
    const json_t *info = json_object_get(model, "tree_info");
    const json_t *param = json_object_get(learner, "learner_model_param");
    const char *base = json_string_value(json_object_get(param, "base_score"));
    cx_err e = CX_EUNAVAIL;
    risk_trees *t = NULL;
    float b = base ? strtof(base, NULL) : NAN;
    if (!trees__str_is(json_object_get(learner, "objective"), "name", "binary:logistic") ||
        !trees__str_is(gb, "name", "gbtree") || !trees__str_is(param, "num_class", "0") ||
        !(b > 0.0f && b < 1.0f) || json_array_size(trees) == 0 ||
        json_array_size(info) != json_array_size(trees))
        goto done;
    size_t nt = json_array_size(trees), total = 0;
    for (size_t i = 0; i < nt; i++) {
        if (json_integer_value(json_array_get(info, i)) != 0)
            goto done;
        total += json_array_size(json_object_get(json_array_get(trees, i), "left_children"));
    }
    e = CX_ENOMEM;
    if (!(t = calloc(1, sizeof *t)) || !(t->nodes = malloc(total * sizeof *t->nodes)) ||
        !(t->first = malloc(nt * sizeof *t->first)) ||
        !(t->count = malloc(nt * sizeof *t->count)) || !(t->memo = calloc(nt, sizeof *t->memo)))
        goto done;
    e = CX_EUNAVAIL;
    size_t at = 0;
    for (size_t i = 0; i < nt; i++) {
        const json_t *tj = json_array_get(trees, i);
        size_t count = json_array_size(json_object_get(tj, "left_children"));
        if (!trees__one(tj, t->nodes + at, count))
            goto done;
        trees__fill_mean(t->nodes + at, 0);
        t->first[i] = at;
        t->count[i] = count;
        at += count;
    }
    t->ntrees = nt;
    t->base_margin = -logf(1.0f / b - 1.0f); /* LogisticRegression::ProbToMargin */
    trees__memoize(t); /* without memory for it, every tree is walked */
    e = CX_OK;
done:
    json_decref(root);
    if (e == CX_OK)
        *out = t;
    else
        risk_trees_free(t);
    return e;
}

void risk_trees_free(risk_trees *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->first);
    free(t->count);
    free(t->memo);
    free(t->values);
    free(t);
}

static int32_t trees__next(const trees__node *n, const float *x)
{
    float v = x[n->feature];
    if (isnan(v))
        return n->default_left ? n->left : n->right;
    return v < n->cond ? n->left : n->right;
}

void risk_trees_predict(const risk_trees *t, const float *x, size_t n, float *out)
{
    for (size_t r = 0; r < n; r++) {
        const float *row = x + r * RISK_NFEATURES;
        float margin = t->base_margin;
        for (size_t k = 0; k < t->ntrees; k++) {
            const trees__node *nodes = t->nodes + t->first[k];
            int32_t i = 0;
            while (nodes[i].left >= 0)
                i = trees__next(&nodes[i], row);
            margin += nodes[i].cond;
        }
        /* common::Sigmoid */
        out[r] = 1.0f / (expf(fminf(-margin, 88.7f)) + 1.0f + 1e-16f);
    }
}

/* ---- TreeSHAP (Lundberg et al.), as XGBoost's RegTree::TreeShap ----------------- */

typedef struct {
    int feature;
    float zero, one, pweight;
} trees__path;

static void trees__extend(trees__path *p, unsigned depth, float zero, float one, int feature)
{
    p[depth].feature = feature;
    p[depth].zero = zero;
    p[depth].one = one;
    p[depth].pweight = depth == 0 ? 1.0f : 0.0f;
    for (int i = (int)depth - 1; i >= 0; i--) {
        p[i + 1].pweight += one * p[i].pweight * (float)(i + 1) / (float)(depth + 1);
        p[i].pweight = zero * p[i].pweight * (float)(depth - (unsigned)i) / (float)(depth + 1);
    }
}

static void trees__unwind(trees__path *p, unsigned depth, unsigned at)
{
    const float one = p[at].one, zero = p[at].zero;
    float next = p[depth].pweight;
    for (int i = (int)depth - 1; i >= 0; --i) {
        if (one != 0) {
            const float tmp = p[i].pweight;
            p[i].pweight = next * (float)(depth + 1) / ((float)(i + 1) * one);
            next = tmp - p[i].pweight * zero * (float)(depth - (unsigned)i) / (float)(depth + 1);
        } else {
            p[i].pweight =
                (p[i].pweight * (float)(depth + 1)) / (zero * (float)(depth - (unsigned)i));
        }
    }
    for (unsigned i = at; i < depth; ++i) {
        p[i].feature = p[i + 1].feature;
        p[i].zero = p[i + 1].zero;
        p[i].one = p[i + 1].one;
    }
}

static float trees__unwound_sum(const trees__path *p, unsigned depth, unsigned at)
{
    const float one = p[at].one, zero = p[at].zero;
    float next = p[depth].pweight, total = 0;
    for (int i = (int)depth - 1; i >= 0; --i) {
        if (one != 0) {
            const float tmp = next * (float)(depth + 1) / ((float)(i + 1) * one);
            total += tmp;
            next = p[i].pweight -
                   tmp * zero * ((float)(depth - (unsigned)i) / (float)(depth + 1));
        } else if (zero != 0) {
            total += (p[i].pweight / zero) / ((float)(depth - (unsigned)i) / (float)(depth + 1));
        }
    }
    return total;
}

/* left[i]: the row goes left at split i (the row's only part in it) */
static void trees__shap(const trees__node *nodes, const uint8_t *left, float *phi, int32_t ni,
                        unsigned depth, trees__path *parent, float pzero, float pone, int pfeature)
{
    const trees__node *n = &nodes[ni];
    trees__path *p = parent + depth + 1;
    memcpy(p, parent, depth * sizeof *p); /* p[depth] is written by the extension */
    trees__extend(p, depth, pzero, pone, pfeature);
    if (n->left < 0) {
        for (unsigned i = 1; i <= depth; ++i) {
            const float w = trees__unwound_sum(p, depth, i);
            phi[p[i].feature] += w * (p[i].one - p[i].zero) * n->cond * 1.0f;
        }
        return;
    }
    const int32_t hot = left[ni] ? n->left : n->right;
    const int32_t cold = hot == n->left ? n->right : n->left;
    const float w = n->hess;
    const float hot_zero = nodes[hot].hess / w, cold_zero = nodes[cold].hess / w;
    float in_zero = 1, in_one = 1;
    unsigned at = 0;
    for (; at <= depth; ++at)
        if ((unsigned)p[at].feature == n->feature)
            break;
    if (at != depth + 1) {
        in_zero = p[at].zero;
        in_one = p[at].one;
        trees__unwind(p, depth, at);
        depth -= 1;
    }
    trees__shap(nodes, left, phi, hot, depth + 1, p, hot_zero * in_zero, in_one, (int)n->feature);
    trees__shap(nodes, left, phi, cold, depth + 1, p, cold_zero * in_zero, 0, (int)n->feature);
}

/* One tree's values into tree[] (zeroed first), as CalculateContributions. */
static void trees__tree_shap(const trees__node *nodes, const uint8_t *left, float *tree)
{
    /* XGBoost allocates (maxd * (maxd + 1)) / 2 path elements, maxd = depth + 2 */
    trees__path path[(TREES_MAX_DEPTH + 2) * (TREES_MAX_DEPTH + 3) / 2];
    memset(tree, 0, (RISK_NFEATURES + 1) * sizeof *tree);
    tree[RISK_NFEATURES] += nodes[0].mean;
    trees__shap(nodes, left, tree, 0, 0, path, 1, 1, -1);
}

static void trees__memoize(risk_trees *t)
{
    size_t total = 0;
    for (size_t k = 0; k < t->ntrees; k++) {
        const trees__node *nodes = t->nodes + t->first[k];
        trees__memo *m = &t->memo[k];
        size_t ns = 0;
        for (size_t i = 0; i < t->count[k]; i++)
            ns += nodes[i].left >= 0;
        if (ns > TREES_MEMO_SPLITS)
            continue;
        for (size_t i = 0; i < t->count[k]; i++) {
            if (nodes[i].left < 0)
                continue;
            m->split[m->nsplit++] = (int32_t)i;
            size_t f = 0;
            while (f < m->nfeat && m->feat[f] != nodes[i].feature)
                f++;
            if (f == m->nfeat)
                m->feat[m->nfeat++] = (uint8_t)nodes[i].feature;
        }
        m->on = true;
        m->off = total;
        total += ((size_t)1 << m->nsplit) * m->nfeat;
    }
    if (total && !(t->values = malloc(total * sizeof *t->values))) {
        for (size_t k = 0; k < t->ntrees; k++)
            t->memo[k].on = false;
        return;
    }
    uint8_t left[TREES_MAX_NODES];
    float tree[RISK_NFEATURES + 1];
    for (size_t k = 0; k < t->ntrees; k++) {
        const trees__memo *m = &t->memo[k];
        for (unsigned c = 0; m->on && c < 1u << m->nsplit; c++) {
            for (unsigned j = 0; j < m->nsplit; j++)
                left[m->split[j]] = (c >> j) & 1;
            trees__tree_shap(t->nodes + t->first[k], left, tree);
            for (unsigned j = 0; j < m->nfeat; j++)
                t->values[m->off + c * m->nfeat + j] = tree[m->feat[j]];
        }
    }
}

void risk_trees_explain(const risk_trees *t, const float *x, float *contrib)
{
    uint8_t left[TREES_MAX_NODES];
    float tree[RISK_NFEATURES + 1];
    memset(contrib, 0, (RISK_NFEATURES + 1) * sizeof *contrib);
    for (size_t k = 0; k < t->ntrees; k++) {
        const trees__node *nodes = t->nodes + t->first[k];
        const trees__memo *m = &t->memo[k];
        if (m->on) {
            /* the features a tree does not split on get +0 from it in XGBoost:
             * adding that changes no sum (the sums start at +0, never -0) */
            unsigned c = 0;
            for (unsigned j = 0; j < m->nsplit; j++)
                c |= (unsigned)(trees__next(&nodes[m->split[j]], x) ==
                                nodes[m->split[j]].left) << j;
            const float *v = t->values + m->off + c * m->nfeat;
            for (unsigned j = 0; j < m->nfeat; j++)
                contrib[m->feat[j]] += v[j] * 1.0f;
            contrib[RISK_NFEATURES] += nodes[0].mean * 1.0f;
            continue;
        }
        for (size_t i = 0; i < t->count[k]; i++)
            if (nodes[i].left >= 0)
                left[i] = trees__next(&nodes[i], x) == nodes[i].left;
        trees__tree_shap(nodes, left, tree);
        for (int f = 0; f <= RISK_NFEATURES; f++)
            contrib[f] += tree[f] * 1.0f;
    }
    contrib[RISK_NFEATURES] += t->base_margin;
}
