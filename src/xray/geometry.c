/* Where the container is in the image: its outer ends and top from where
 * the steel begins, the floor from the boards seen edge-on (the sharpest
 * drop in the scan, boards above the cavity between the cross-members),
 * the roof under the top rails, and the inner faces of the doors and of the
 * front wall from the drops at both ends. Everything is measured on the
 * scan, with the ISO sizes only as search windows and fallbacks. */
#include "xray_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEEL_SEEN 1.0 /* g/cm²: less than any container wall, well above noise */

static int geo__px(double mm, double px)
{
    return (int)lround(mm / px);
}

/* Median of column x over rows [y0, y1) stepping by `step`. */
static float geo__col_median(const xa_scan *s, int x, int y0, int y1, int step, float *tmp)
{
    size_t n = 0;
    for (int y = y0; y < y1; y += step)
        tmp[n++] = s->a[(size_t)y * s->w + x];
    return xa__quantile(tmp, n, 0.5);
}

/* A row's median and its lightest tenth (the floor boards are dense along
 * the whole container; a load, however dense, leaves gaps). */
static void geo__row_stats(const xa_scan *s, int y, int x0, int x1, int step, float *tmp,
                           float *median, float *low)
{
    size_t n = 0;
    const float *row = s->a + (size_t)y * s->w;
    for (int x = x0; x < x1; x += step)
        tmp[n++] = row[x];
    *low = xa__quantile(tmp, n, 0.1);
    *median = xa__quantile(tmp, n, 0.5);
}

/* The longest run of v[i] > t, bridging gaps of up to `gap`. */
static void geo__longest_run(const float *v, int n, float t, int gap, int *a, int *b)
{
    int best0 = 0, best1 = 0, start = -1, last = -1;
    for (int i = 0; i <= n; i++) {
        bool in = i < n && v[i] > t;
        if (in) {
            if (start < 0 || i - last > gap + 1)
                start = i;
            last = i;
            if (last + 1 - start > best1 - best0) {
                best0 = start;
                best1 = last + 1;
            }
        }
    }
    *a = best0;
    *b = best1;
}

/* The floor's top where nothing stands on it: in columns that are clear
 * 30-60 cm above the boards, the first row up from the boards' bottom
 * below half their level; the median of those columns. A load standing on
 * the floor (pallet bases) would otherwise pass for more floor. -1 when
 * fewer than 1 % of the columns (or 5) are clear. */
static int geo__floor_top_clear(const xa_scan *s, int pb)
{
    int above0 = pb - geo__px(600, s->px_y), above1 = pb - geo__px(300, s->px_y);
    int cap = geo__px(250, s->px_y), n = 0, m = 0;
    if (above0 <= s->top)
        return -1;
    int margin = (s->x1 - s->x0) / 20;
    float *tops = malloc(sizeof(float) * (size_t)(s->x1 - s->x0));
    float tmp[4096];
    if (!tops)
        return -1;
    for (int x = s->x0 + margin; x < s->x1 - margin; x += 2, n++) {
        size_t k = 0;
        for (int y = above0; y < above1 && k < 4096; y += 2)
            tmp[k++] = s->a[(size_t)y * s->w + x];
        if (xa__quantile(tmp, k, 0.5) > 10 * STEEL_SEEN)
            continue; /* something stands there */
        float level = s->a[(size_t)(pb - 2) * s->w + x];
        int y = pb - 2;
        while (y > pb - cap && s->a[(size_t)(y - 1) * s->w + x] >= 0.5f * level)
            y--;
        if (y > pb - cap)
            tops[m++] = (float)y;
    }
    int top = m >= 5 && m * 100 >= n ? (int)lround(xa__quantile(tops, (size_t)m, 0.5)) : -1;
    free(tops);
    return top;
}

/* A cavity under the floor boards is crossed by the cross-members' webs
 * (steel seen edge-on across the whole width) at least every 60 cm; air
 * under the container is not. */
static bool geo__cross_members(const xa_scan *s, int y)
{
    if (y < 0 || y >= s->h)
        return false;
    const float *row = s->a + (size_t)y * s->w;
    float tmp[8192];
    size_t n = 0;
    for (int x = s->x0; x < s->x1 && n < 8192; x += 2)
        tmp[n++] = row[x];
    /* a web is partly a pixel wide: well above the row, not necessarily opaque */
    float t = fmaxf(15, 3 * xa__quantile(tmp, n, 0.5));
    int runs = 0;
    bool in = false;
    for (int x = s->x0; x < s->x1; x++) {
        bool web = row[x] > t;
        runs += web && !in;
        in = web;
    }
    return runs >= (s->x1 - s->x0) * s->px_x / 600;
}

/* The floor: the strongest drop going down (boards → cavity, or a solid
 * floor → what is under it) of the rows' lightest tenth; its top from the
 * clear columns, else where that profile falls below half its level. Under
 * the boards: the cavity between the cross-members when the profile stays
 * low there, else the solid floor itself is what can hold something. */
static void geo__floor(xa_scan *s, const float *rowmed)
{
    /* where the boards' underside can be: from 10 cm above to 25 cm below
     * the floor of a standard or a high-cube box (a load standing on
     * pallets ends higher, so its bottom edge is not taken for the floor) */
    int k = 2, pb = -1;
    double best = 0;
    static const double nominal[] = {2436, 2741};
    for (int c = 0; c < 2; c++) {
        int lo = s->top + geo__px(nominal[c] - 100, s->px_y);
        int hi = s->top + geo__px(nominal[c] + 250, s->px_y);
        if (hi > s->h - 1)
            hi = s->h - 1;
        for (int y = lo + k; y + k <= hi; y++) {
            double up = 0, down = 0;
            for (int i = 1; i <= k; i++)
                up += rowmed[y - i];
            for (int i = 0; i < k; i++)
                down += rowmed[y + i];
            double d = (up - down) / k;
            if (d > best) {
                best = d;
                pb = y;
            }
        }
    }
    if (pb < 0 || best < 5 * STEEL_SEEN) { /* no floor seen: the ISO height */
        s->floor = s->top + geo__px(2436, s->px_y);
        s->cavity0 = s->cavity1 = s->floor;
        return;
    }
    double level = (rowmed[pb - 1] + rowmed[pb - 2]) / 2;
    int y = pb - 1, cap = geo__px(200, s->px_y);
    while (y > pb - cap && y > s->top && rowmed[y - 1] >= 0.5 * level)
        y--;
    int clear = geo__floor_top_clear(s, pb);
    s->floor = clear >= 0 ? clear : y > pb - cap ? y : pb - geo__px(28, s->px_y);
    int c1 = pb + geo__px(115, s->px_y);
    if (c1 > s->h)
        c1 = s->h;
    int low = 0;
    for (int r = pb; r < c1; r++)
        low += rowmed[r] < 0.3 * level;
    if (low * 2 > c1 - pb && geo__cross_members(s, (pb + c1) / 2)) { /* boards over a cavity */
        s->cavity0 = pb;
        s->cavity1 = c1;
    } else if ((pb - s->floor) * s->px_y >= 60) { /* a solid floor */
        s->cavity0 = s->floor + geo__px(15, s->px_y);
        s->cavity1 = pb;
    } else {
        s->cavity0 = s->cavity1 = pb;
    }
}

/* The roof: rows under the top that stay well above the level of the
 * band just below them (rails and the roof sheet seen edge-on). */
static void geo__roof(xa_scan *s, const float *rowmed)
{
    int band0 = s->top + geo__px(150, s->px_y), band1 = s->top + geo__px(350, s->px_y);
    float tmp[512];
    size_t n = 0;
    for (int y = band0; y < band1 && y < s->h && n < 512; y++)
        tmp[n++] = rowmed[y];
    float below = n ? xa__quantile(tmp, n, 0.5) : STEEL_SEEN;
    int last = s->top;
    for (int y = s->top; y < band0 && y < s->h; y++)
        if (rowmed[y] > 1.8 * below + STEEL_SEEN)
            last = y;
    int min_roof = s->top + geo__px(35, s->px_y);
    s->roof = last + 1 > min_roof ? last + 1 : min_roof;
}

/* Inner faces: the innermost drop at each end within 300 mm that is at
 * least a third of the strongest one there. */
static int geo__inner(const float *cq, int from, int to, bool door, double fallback)
{
    int k = 2, lo = from < to ? from : to, hi = from < to ? to : from;
    double best = 0;
    double *d = calloc((size_t)(hi - lo + 1), sizeof *d);
    if (!d)
        return (int)fallback;
    for (int x = lo + k; x + k <= hi; x++) {
        double out = 0, in = 0;
        for (int i = 1; i <= k; i++)
            out += door ? cq[x - i] : cq[x + i - 1];
        for (int i = 0; i < k; i++)
            in += door ? cq[x + i] : cq[x - 1 - i];
        d[x - lo] = (out - in) / k;
        if (d[x - lo] > best)
            best = d[x - lo];
    }
    int face = -1;
    if (best >= 3) {
        if (door) {
            for (int x = hi - k; x >= lo + k && face < 0; x--)
                if (d[x - lo] >= best / 3)
                    face = x;
        } else {
            for (int x = lo + k; x + k <= hi && face < 0; x++)
                if (d[x - lo] >= best / 3)
                    face = x;
        }
    }
    free(d);
    return face >= 0 ? face : (int)fallback;
}

/* Fraction of the pixels of column x (or row y) that show steel: a median
 * above STEEL_SEEN is a fraction above one half, counted without sorting. */
static float geo__col_steel(const xa_scan *s, int x, int y0, int y1, int step)
{
    int n = 0, k = 0;
    for (int y = y0; y < y1; y += step, n++)
        k += s->a[(size_t)y * s->w + x] > STEEL_SEEN;
    return n ? (float)k / n : 0;
}

static float geo__row_steel(const xa_scan *s, int y, int x0, int x1, int step)
{
    int n = 0, k = 0;
    const float *row = s->a + (size_t)y * s->w;
    for (int x = x0; x < x1; x += step, n++)
        k += row[x] > STEEL_SEEN;
    return n ? (float)k / n : 0;
}

void xa__geometry(xa_scan *s, const xray_meta *m)
{
    s->found = false;
    int big = s->w > s->h ? s->w : s->h;
    float *tmp = malloc(sizeof(float) * (size_t)big);
    float *prof = malloc(sizeof(float) * (size_t)big);
    float *rowmed = malloc(sizeof(float) * (size_t)s->h);
    float *rowlow = malloc(sizeof(float) * (size_t)s->h);
    if (!tmp || !prof || !rowmed || !rowlow)
        goto done;
    for (int x = 0; x < s->w; x++)
        prof[x] = geo__col_steel(s, x, 0, s->h, 2);
    geo__longest_run(prof, s->w, 0.5f, 3, &s->x0, &s->x1);
    if ((s->x1 - s->x0) * s->px_x < 3000)
        goto done;
    int margin = (s->x1 - s->x0) / 20;
    for (int y = 0; y < s->h; y++)
        prof[y] = geo__row_steel(s, y, s->x0 + margin, s->x1 - margin, 2);
    int r0, r1;
    geo__longest_run(prof, s->h, 0.5f, 3, &r0, &r1);
    if ((r1 - r0) * s->px_y < 1500)
        goto done;
    s->top = r0;
    /* row statistics only where the floor and the roof may be */
    for (int y = 0; y < s->h; y++)
        rowmed[y] = rowlow[y] = 0;
    int f0 = s->top + geo__px(2000, s->px_y), f1 = s->top + geo__px(3150, s->px_y);
    int t1 = s->top + geo__px(360, s->px_y);
    for (int y = s->top; y < s->h && y < f1; y++)
        if (y < t1 || y >= f0)
            geo__row_stats(s, y, s->x0 + margin, s->x1 - margin, 3, tmp, &rowmed[y], &rowlow[y]);
    geo__floor(s, rowlow);
    geo__roof(s, rowmed);
    /* an image cut short of the ISO sizes has no interior to speak of */
    if (s->floor > s->h || s->cavity1 > s->h || s->roof >= s->floor ||
        (s->floor - s->roof) * s->px_y < 1500)
        goto done;
    /* the ends, on the middle of the interior's height, within 300 mm */
    int q0 = s->roof + (s->floor - s->roof) / 10, q1 = s->floor - (s->floor - s->roof) / 10;
    int win = geo__px(300, s->px_x);
    float *cq = prof; /* only the two end windows of [x0, x1) are filled */
    for (int x = s->x0; x < s->x1; x++)
        if (x < s->x0 + win || x >= s->x1 - win)
            cq[x] = geo__col_median(s, x, q0, q1, 3, tmp);
    s->di = geo__inner(cq, s->x0, s->x0 + win < s->x1 ? s->x0 + win : s->x1, true,
                       s->x0 + 110 / s->px_x);
    s->fi = geo__inner(cq, s->x1 - win > s->x0 ? s->x1 - win : s->x0, s->x1, false,
                       s->x1 - 55 / s->px_x);
    double len = (s->x1 - s->x0) * s->px_x, height = (s->floor - s->top) * s->px_y;
    s->type = len < 9000 ? XRAY_CT_20 : height > 2600 ? XRAY_CT_40HC : XRAY_CT_40;
    s->found = s->x0 <= s->di && s->di < s->fi && s->fi <= s->x1 && s->fi - s->di > 20 &&
               s->floor - s->roof > 20;
    (void)m;
done:
    free(tmp);
    free(prof);
    free(rowmed);
    free(rowlow);
}
