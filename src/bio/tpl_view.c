/* What the template formats share: the bounded reader, problems, minutiae,
 * extended data blocks (ridge counts, cores and deltas) and the rules
 * across views. */
#include "bio_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t tpl__u8(tpl_rd *r)
{
    if (r->out || r->pos + 1 > r->end) {
        r->out = true;
        return 0;
    }
    return r->p[r->pos++];
}

uint16_t tpl__u16(tpl_rd *r)
{
    uint16_t hi = tpl__u8(r);
    return (uint16_t)(hi << 8 | tpl__u8(r));
}

uint32_t tpl__u32(tpl_rd *r)
{
    uint32_t hi = tpl__u16(r);
    return hi << 16 | tpl__u16(r);
}

void tpl__skip(tpl_rd *r, size_t n)
{
    if (r->out || n > r->end - r->pos) {
        r->out = true;
        r->pos = r->end;
        return;
    }
    r->pos += n;
}

void tpl__problem(tpl_ctx *c, size_t offset, bool fatal, const char *fmt, ...)
{
    if (fatal)
        c->fatal = true;
    else
        c->strict_failed = true;
    if (!c->pr)
        return;
    size_t i = c->pr->count++;
    if (i >= BIO_PROBLEMS_MAX)
        return;
    bio_problem *p = &c->pr->items[i];
    p->offset = (uint32_t)offset;
    p->fatal = fatal;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->rule, sizeof p->rule, fmt, ap);
    va_end(ap);
}

void tpl__truncated(tpl_ctx *c, const tpl_rd *r, const char *what)
{
    tpl__problem(c, r->end, true, "the record ends (%zu bytes) inside %s", r->end, what);
}

bool tpl__position_valid(unsigned code, bool multi)
{
    if (code <= 10)
        return true;
    return multi && ((code >= 13 && code <= 15) || (code >= 40 && code <= 50));
}

bool tpl__view_header4(tpl_ctx *c, tpl_rd *r, bio_view *v, const bio_view *image,
                       unsigned *n)
{
    v->position = tpl__u8(r);
    uint8_t vi = tpl__u8(r);
    v->quality = tpl__u8(r);
    *n = tpl__u8(r);
    if (r->out) {
        tpl__truncated(c, r, "a view header");
        return false;
    }
    v->view = vi >> 4;
    v->impression = vi & 0x0f;
    v->width = image->width;
    v->height = image->height;
    v->res_x = image->res_x;
    v->res_y = image->res_y;
    return true;
}

bool tpl__alloc_views(tpl_ctx *c, size_t n)
{
    c->t->views = n ? calloc(n, sizeof *c->t->views) : NULL;
    if (n && !c->t->views) {
        tpl__problem(c, 0, true, "out of memory for %zu views", n);
        return false;
    }
    c->t->nviews = n;
    return true;
}

static bool tpl__quality_ok(unsigned q, bool q2009)
{
    return q <= 100 || (q2009 && (q == 254 || q == 255));
}

bool tpl__minutiae(tpl_ctx *c, tpl_rd *r, const tpl_flavour *f, bio_view *v, unsigned n)
{
    if ((size_t)n * f->minutia_bytes > r->end - r->pos) {
        tpl__problem(c, r->pos, true,
                     "%u minutiae of %u bytes need %u bytes but the record has %zu left", n,
                     f->minutia_bytes, n * f->minutia_bytes, r->end - r->pos);
        r->out = true;
        return false;
    }
    v->minutiae = n ? calloc(n, sizeof *v->minutiae) : NULL;
    if (n && !v->minutiae) {
        tpl__problem(c, r->pos, true, "out of memory for %u minutiae", n);
        return false;
    }
    v->nminutiae = n;
    for (unsigned i = 0; i < n; i++) {
        size_t at = r->pos;
        bio_minutia *m = &v->minutiae[i];
        uint16_t tx = tpl__u16(r), ry = tpl__u16(r);
        unsigned type = tx >> 14;
        m->x = tx & 0x3fff;
        m->y = ry & 0x3fff;
        m->angle_raw = tpl__u8(r);
        m->quality = f->minutia_bytes == 6 ? tpl__u8(r) : 254;
        if (type == 3) {
            tpl__problem(c, at, false, "minutia %u: type code 3 is reserved", i);
            type = BIO_MIN_OTHER;
        }
        m->type = (uint8_t)type;
        if (ry >> 14)
            tpl__problem(c, at + 2, false, "minutia %u: the 2 reserved bits above y must be 0", i);
        if (m->x >= v->width)
            tpl__problem(c, at, false, "minutia %u: x %u is outside the image (width %u)", i,
                         m->x, v->width);
        if (m->y >= v->height)
            tpl__problem(c, at + 2, false, "minutia %u: y %u is outside the image (height %u)",
                         i, m->y, v->height);
        if (f->ansi && m->angle_raw > 179)
            tpl__problem(c, at + 4, false,
                         "minutia %u: angle %u is not 0..179 (units of 2 degrees)", i,
                         m->angle_raw);
        if (f->minutia_bytes == 6 && !tpl__quality_ok(m->quality, f->quality_2009))
            tpl__problem(c, at + 5, false, "minutia %u: quality %u is not %s", i, m->quality,
                         f->quality_2009 ? "0..100, 254 or 255" : "0..100");
    }
    return true;
}

/* Ridge counts: method byte, then (from, to, count) triples. */
static void tpl__counts(tpl_ctx *c, size_t at, const uint8_t *d, size_t n, bio_view *v)
{
    if (n < 1) {
        tpl__problem(c, at, false, "the ridge count block has no extraction method byte");
        return;
    }
    v->count_method = d[0];
    if (d[0] > 2)
        tpl__problem(c, at, false,
                     "ridge count method %u is not 0 (any), 1 (quadrants) or 2 (octants)", d[0]);
    size_t k = (n - 1) / 3;
    if ((n - 1) % 3)
        tpl__problem(c, at + 1 + 3 * k, false,
                     "the ridge count block has %zu bytes after its last (from, to, count) triple",
                     (n - 1) % 3);
    v->counts = k ? calloc(k, sizeof *v->counts) : NULL;
    if (k && !v->counts) {
        tpl__problem(c, at, true, "out of memory for %zu ridge counts", k);
        return;
    }
    v->ncounts = k;
    for (size_t i = 0; i < k; i++) {
        bio_ridge_count *e = &v->counts[i];
        e->from = d[1 + 3 * i];
        e->to = d[2 + 3 * i];
        e->count = d[3 + 3 * i];
        if (e->from >= v->nminutiae || e->to >= v->nminutiae)
            tpl__problem(c, at + 1 + 3 * i, false,
                         "ridge count %zu joins minutiae %u and %u but the view has %zu", i,
                         e->from, e->to, v->nminutiae);
    }
}

/* Cores then deltas. ISO: a count byte, and per point bit 14 of x says
 * whether angles follow. ANSI: an info byte whose bit 6 says whether every
 * point has angles and whose low 4 bits are the count. */
static bool tpl__singulars(tpl_ctx *c, tpl_rd *r, const tpl_flavour *f, bio_view *v,
                           bool delta)
{
    const char *what = delta ? "delta" : "core";
    size_t at = r->pos;
    uint8_t info = tpl__u8(r);
    unsigned n = f->ansi ? (info & 0x0f) : info;
    bool all_angles = f->ansi && (info & 0x40);
    if (f->ansi && (info & 0xb0))
        tpl__problem(c, at, false, "%s information: reserved bits must be 0", what);
    if (!f->ansi && n > 15)
        tpl__problem(c, at, false, "%u %ss: at most 15 are allowed", n, what);
    bio_singular *pts = n ? calloc(n, sizeof *pts) : NULL;
    if (n && !pts) {
        tpl__problem(c, at, true, "out of memory");
        return false;
    }
    for (unsigned i = 0; i < n && !r->out; i++) {
        bio_singular *s = &pts[i];
        size_t pat = r->pos;
        uint16_t x = tpl__u16(r);
        uint16_t y = tpl__u16(r);
        s->has_angle = f->ansi ? all_angles : (x & 0x4000) != 0;
        if ((x >> 14) > (f->ansi ? 0 : 1) || (y >> 14))
            tpl__problem(c, pat, false, "%s %u: reserved position bits must be 0", what, i);
        s->x = x & 0x3fff;
        s->y = y & 0x3fff;
        if (s->x >= v->width || s->y >= v->height)
            tpl__problem(c, pat, false, "%s %u: (%u, %u) is outside the image", what, i, s->x,
                         s->y);
        for (unsigned a = 0; s->has_angle && a < (delta ? 3u : 1u); a++) {
            s->angles[a] = tpl__u8(r);
            if (f->ansi && s->angles[a] > 179)
                tpl__problem(c, r->pos - 1, false, "%s %u: angle %u is not 0..179", what, i,
                             s->angles[a]);
        }
    }
    if (delta) {
        v->deltas = pts;
        v->ndeltas = n;
    } else {
        v->cores = pts;
        v->ncores = n;
    }
    return !r->out;
}

/* The block's data is base[at..at+n). */
static void tpl__coredelta(tpl_ctx *c, const uint8_t *base, size_t at, size_t n,
                           const tpl_flavour *f, bio_view *v)
{
    if (v->cores || v->deltas) {
        tpl__problem(c, at, false, "a second core and delta block");
        return;
    }
    tpl_rd sub = {.p = base, .end = at + n, .pos = at};
    if (!tpl__singulars(c, &sub, f, v, false) || !tpl__singulars(c, &sub, f, v, true)) {
        tpl__problem(c, at, false, "the core and delta block ends before its points (%zu bytes)",
                     n);
        return;
    }
    if (sub.pos != sub.end)
        tpl__problem(c, sub.pos, false, "%zu bytes after the last delta of the block",
                     sub.end - sub.pos);
}

/* 1 ridge counts, 2 cores and deltas, 3 zonal quality (ISO); the rest of
 * 0x0000..0x00ff and every type whose low byte is 0 are reserved. */
static bool tpl__block_type_ok(unsigned type, const tpl_flavour *f)
{
    if (type <= 0xff)
        return type == 1 || type == 2 || (f->zonal && type == 3);
    return (type & 0xff) != 0;
}

static bool tpl__keep_block(tpl_ctx *c, bio_view *v, uint16_t type, const uint8_t *data,
                            size_t n)
{
    bio_extension *x = realloc(v->extensions, (v->nextensions + 1) * sizeof *x);
    if (!x) {
        tpl__problem(c, 0, true, "out of memory for extended data");
        return false;
    }
    v->extensions = x;
    x[v->nextensions++] = (bio_extension){.type = type, .len = (uint16_t)n, .data = data};
    return true;
}

bool tpl__extensions(tpl_ctx *c, tpl_rd *r, const tpl_flavour *f, bio_view *v)
{
    size_t at = r->pos;
    uint16_t total = tpl__u16(r);
    if (r->out) {
        tpl__truncated(c, r, "the extended data length");
        return false;
    }
    size_t start = r->pos, stop = start + total;
    if (stop > r->end) {
        tpl__problem(c, at, !c->permissive,
                     "extended data of %u bytes runs %zu bytes past the end of the record",
                     total, stop - r->end);
        stop = r->end;
    }
    size_t pos = start;
    unsigned nblocks = 0;
    while (pos < stop) {
        if (stop - pos < 4) {
            tpl__problem(c, pos, false,
                         "%zu bytes of extended data are too few for a block header", stop - pos);
            break;
        }
        uint16_t type = (uint16_t)(r->p[pos] << 8 | r->p[pos + 1]);
        size_t field = (size_t)r->p[pos + 2] << 8 | r->p[pos + 3];
        size_t blen = f->len_data_only ? field + 4 : field;
        if (f->len_data_only && blen > stop - pos && field >= 4 && field <= stop - pos) {
            /* real 2005 records (a SourceAFIS sample among them) count the
             * header in the length, as ANSI 378 does */
            tpl__problem(c, pos + 2, false,
                         "extended data block %u: length %zu counts its 4-byte header; ISO "
                         "19794-2:2005 counts only the data",
                         nblocks, field);
            blen = field;
        }
        if (blen < 4 || blen > stop - pos) {
            tpl__problem(c, pos + 2, false,
                         "extended data block %u: length %zu is not %u..%zu (what is left)",
                         nblocks, field, f->len_data_only ? 0u : 4u,
                         f->len_data_only ? stop - pos - 4 : stop - pos);
            break;
        }
        if (!tpl__block_type_ok(type, f))
            tpl__problem(c, pos, false, "extended data block %u: type 0x%04x is reserved",
                         nblocks, type);
        const uint8_t *data = r->p + pos + 4;
        size_t n = blen - 4u;
        if (type == 1 && !v->counts && !v->count_method)
            tpl__counts(c, pos + 4, data, n, v);
        else if (type == 2)
            tpl__coredelta(c, r->p, pos + 4, n, f, v);
        else if (!tpl__keep_block(c, v, type, data, n))
            return false;
        pos += blen;
        nblocks++;
    }
    r->pos = stop;
    return !c->fatal;
}

void tpl__check_views(tpl_ctx *c, size_t offset)
{
    const bio_template *t = c->t;
    for (size_t i = 0; i < t->nviews; i++) {
        const bio_view *a = &t->views[i];
        unsigned before = 0, same = 0;
        for (size_t j = 0; j < t->nviews; j++) {
            const bio_view *b = &t->views[j];
            if (b->position != a->position)
                continue;
            same++;
            if (j < i && b->view == a->view)
                tpl__problem(c, offset, false, "views %zu and %zu are both view %u of finger %u",
                             j, i, a->view, a->position);
            if (j < i && b->view > a->view)
                before++;
        }
        if (a->view >= same)
            tpl__problem(c, offset, false,
                         "view %zu: finger %u has %u view%s, numbered from 0, but this is view %u",
                         i, a->position, same, same == 1 ? "" : "s", a->view);
        if (before)
            tpl__problem(c, offset, false,
                         "view %zu: the views of finger %u must be in view-number order", i,
                         a->position);
    }
}

void tpl__convert(bio_view *v, bool ansi)
{
    /* pixels per centimetre -> millimetres; a zero resolution (refused in
     * strict mode) is taken as 500 dpi so that permissive parses still give
     * usable coordinates */
    double mx = 10.0 / (v->res_x ? v->res_x : 197), my = 10.0 / (v->res_y ? v->res_y : 197);
    double unit = ansi ? 2.0 * M_PI / 180.0 : 2.0 * M_PI / 256.0;
    for (size_t i = 0; i < v->nminutiae; i++) {
        bio_minutia *m = &v->minutiae[i];
        m->x_mm = (float)(m->x * mx);
        m->y_mm = (float)(m->y * my);
        double a = m->angle_raw * unit;
        m->angle = (float)(a >= 2 * M_PI ? a - 2 * M_PI : a);
    }
}
