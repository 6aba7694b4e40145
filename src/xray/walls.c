/* Structures across the container: a false wall is seen edge-on as a line
 * of extra density from the floor to the roof (so even the lightest tenth
 * of its column is raised); a load whose far end does not match the rest
 * (cigarettes behind furniture) shows as a step in the load's density
 * along the container. */
#include "xray_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WALLS_MAX_LINES 2 /* more full-height lines are the load's own grid */

void xa__false_walls(const xa_scan *s, xa_cands *out)
{
    int n = s->fi - s->di, rows = s->floor - s->roof;
    if (n < 40 || rows < 20)
        return;
    float *q = malloc(sizeof(float) * (size_t)n), *l = malloc(sizeof(float) * (size_t)n);
    float *tmp = malloc(sizeof(float) * (size_t)(n > rows ? n : rows));
    if (!q || !l || !tmp)
        goto done;
    for (int x = 0; x < n; x++) {
        size_t m = 0;
        for (int y = 0; y < rows; y += 2)
            tmp[m++] = s->res[(size_t)(s->roof + y) * s->w + s->di + x];
        q[x] = xa__quantile(tmp, m, 0.1);
    }
    int reach = (int)lround(400 / s->px_x), skip = (int)lround(30 / s->px_x) + 1;
    for (int x = 0; x < n; x++) {
        size_t m = 0;
        for (int j = x - reach; j <= x + reach; j++)
            if (j >= 0 && j < n && abs(j - x) > skip)
                tmp[m++] = q[j];
        l[x] = m ? q[x] - xa__quantile(tmp, m, 0.5) : 0;
    }
    for (int x = 0; x < n; x++)
        tmp[x] = fabsf(l[x]);
    double spread = fmax(1.4826 * xa__quantile(tmp, (size_t)n, 0.5), 0.05);
    double t = fmax(6 * spread, 3.0);
    int guard = (int)lround(150 / s->px_x), max_w = (int)lround(150 / s->px_x) + 1;
    xa_cand found[WALLS_MAX_LINES + 1];
    int nf = 0;
    for (int x = guard; x < n - guard;) {
        if (l[x] <= t) {
            x++;
            continue;
        }
        int a = x;
        double peak = 0;
        while (x < n - guard && l[x] > t)
            peak = fmax(peak, l[x++]);
        if (x - a > max_w)
            continue; /* a wide raised band is load, not a wall */
        if (nf > WALLS_MAX_LINES)
            break;
        /* the compartment it closes: towards the nearer end */
        bool front = a > n / 2;
        int cx0 = front ? s->di + a : s->di, cx1 = front ? s->fi : s->di + x;
        double mass = 0;
        for (int y = s->roof; y < s->floor; y++)
            for (int cx = cx0; cx < cx1; cx++)
                mass += s->res[(size_t)y * s->w + cx];
        xa_cand c = {cx0, s->roof, cx1, s->floor, XRAY_FALSE_WALL, 0,
                     mass * s->cell_cm2 / 1000, peak, peak / spread, 0, 0, 'w'};
        found[nf++] = c;
    }
    if (nf <= WALLS_MAX_LINES)
        for (int i = 0; i < nf; i++)
            xa__cand_add(out, &found[i]);
done:
    free(q);
    free(l);
    free(tmp);
}

/* The best single split of the load's mean areal density along x. */
typedef struct {
    int at;
    double left, right, t;
} walls_split;

static walls_split walls__split(const float *d, int a, int b, int min_len)
{
    walls_split best = {-1, 0, 0, 0};
    double total = 0, total2 = 0;
    for (int x = a; x < b; x++) {
        total += d[x];
        total2 += (double)d[x] * d[x];
    }
    double left = 0, left2 = 0;
    for (int x = a; x < b - min_len; x++) {
        left += d[x];
        left2 += (double)d[x] * d[x];
        int nl = x - a + 1, nr = b - x - 1;
        if (nl < min_len)
            continue;
        double ml = left / nl, mr = (total - left) / nr;
        double var = (left2 - nl * ml * ml + (total2 - left2) - nr * mr * mr) / (nl + nr - 2);
        double t = fabs(ml - mr) / sqrt(fmax(var, 1e-6) * (1.0 / nl + 1.0 / nr));
        if (t > best.t)
            best = (walls_split){x + 1, ml, mr, t};
    }
    return best;
}

/* Robust coefficient of variation: MAD over median. */
static double walls__cv(const float *d, int a, int b, float *tmp)
{
    size_t n = 0;
    for (int x = a; x < b; x++)
        tmp[n++] = d[x];
    double med = xa__quantile(tmp, n, 0.5);
    for (size_t i = 0; i < n; i++)
        tmp[i] = fabsf(tmp[i] - (float)med);
    return med > 0 ? 1.4826 * xa__quantile(tmp, n, 0.5) / med : 1;
}

/* A running median over ±k: carton walls seen edge-on are spikes. */
static void walls__runmed(const float *in, float *out, int a, int b, int k, float *tmp)
{
    for (int x = a; x < b; x++) {
        size_t n = 0;
        for (int j = x - k; j <= x + k; j++)
            if (j >= a && j < b)
                tmp[n++] = in[j];
        out[x] = xa__quantile(tmp, n, 0.5);
    }
}

void xa__segments(const xa_scan *s, xa_cands *out)
{
    int n = s->fi - s->di, rows = s->floor - s->roof;
    if (n < 40 || rows < 20)
        return;
    float *d = calloc((size_t)n, sizeof *d), *sd = calloc((size_t)n, sizeof *sd);
    float *tmp = calloc((size_t)n, sizeof *tmp);
    int *top = calloc((size_t)n, sizeof *top);
    if (!d || !sd || !tmp || !top)
        goto done;
    double t = fmax(5 * s->noise, 2.0);
    int first = -1, last = -1;
    for (int x = 0; x < n; x++) {
        double sum = 0;
        int h = 0;
        top[x] = s->floor;
        for (int y = s->roof; y < s->floor; y++) {
            float v = s->res[(size_t)y * s->w + s->di + x];
            if (v > t) {
                sum += v;
                h++;
                if (y < top[x])
                    top[x] = y;
            }
        }
        if (h * 5 >= rows) {
            d[x] = (float)(sum / h);
            first = first < 0 ? x : first;
            last = x;
        } else {
            d[x] = 0;
        }
    }
    int min_len = (int)lround(600 / s->px_x);
    if (first < 0 || last - first < 3 * min_len)
        goto done;
    for (int x = first + 1; x < last; x++) /* gaps between pallets: the load goes on */
        if (d[x] == 0)
            d[x] = d[x - 1];
    walls__runmed(d, sd, first, last + 1, (int)lround(80 / s->px_x), tmp);
    walls_split sp = walls__split(sd, first, last + 1, min_len);
    if (sp.at < 0)
        goto done;
    double rel = fabs(sp.left - sp.right) / fmax(sp.left, sp.right);
    double cv_near = walls__cv(sd, first, sp.at, tmp), cv_far = walls__cv(sd, sp.at, last + 1, tmp);
    /* only a far segment that is the shorter one is "behind" the load */
    if (last + 1 - sp.at >= sp.at - first || rel < 0.25 || cv_near > 0.3 || cv_far > 0.3)
        goto done;
    int y0 = s->floor;
    double mass = 0;
    for (int x = sp.at; x <= last; x++) {
        y0 = top[x] < y0 ? top[x] : y0;
        for (int y = s->roof; y < s->floor; y++)
            mass += s->res[(size_t)y * s->w + s->di + x];
    }
    if (n - 1 - last < min_len / 3) /* the far segment reaches the front wall */
        last = n - 1;
    xa_cand c = {s->di + sp.at, y0, s->di + last + 1, s->floor, XRAY_ANOMALY, 0,
                 mass * s->cell_cm2 / 1000, rel, sp.t, 0, 0, 's'};
    xa__cand_add(out, &c);
done:
    free(d);
    free(sd);
    free(tmp);
    free(top);
}
