/* ISO/IEC 19794-2:2005 and ISO/IEC 19794-2:2011 finger minutiae records.
 *
 * 2005: a 24-byte header (magic, version " 20", 4-byte length, capture
 * equipment, image size and resolution, view count), then per view 4
 * bytes, 6 bytes per minutia and the extended data blocks.
 * 2011: the ISO/IEC 19794-1:2011 container (15-byte header, then per view
 * a length, capture date and time, device, quality and certification
 * records), then the view's own fields, 5 or 6 bytes per minutia and the
 * extended data. Angles are 1/256 of a turn in both. */
#include "bio_int.h"

static bool iso__impression_2005(unsigned code)
{
    return code <= 3 || code == 8 || code == 9;
}

static bool iso__impression_2011(unsigned code)
{
    return code <= 3 || code == 8 || code == 10 || code == 11 || (code >= 20 && code <= 29);
}

static void iso__resolution(tpl_ctx *c, size_t at, uint16_t rx, uint16_t ry)
{
    if (rx < 99)
        tpl__problem(c, at, false, "horizontal resolution %u px/cm is below 99 (250 dpi)", rx);
    if (ry < 99)
        tpl__problem(c, at + 2, false, "vertical resolution %u px/cm is below 99 (250 dpi)", ry);
}

bool tpl__iso2005(tpl_ctx *c, tpl_rd *r, uint32_t *declared)
{
    bio_template *t = c->t;
    *declared = tpl__u32(r);
    size_t at = r->pos;
    uint16_t equip = tpl__u16(r);
    uint16_t width = tpl__u16(r), height = tpl__u16(r);
    uint16_t rx = tpl__u16(r), ry = tpl__u16(r);
    unsigned nviews = tpl__u8(r), reserved = tpl__u8(r);
    if (r->out) {
        tpl__truncated(c, r, "the 24-byte header");
        return false;
    }
    t->sensor_certified = (equip & 0x8000) != 0;
    t->sensor_id = equip & 0x0fff;
    if (equip & 0x7000)
        tpl__problem(c, at, false, "capture equipment: compliance bits 12..14 are reserved");
    if (!width || !height)
        tpl__problem(c, at + 2, false, "image size %ux%u: neither may be 0", width, height);
    iso__resolution(c, at + 6, rx, ry);
    if (nviews > 176)
        tpl__problem(c, at + 10, false, "%u views: at most 176 are allowed", nviews);
    if (reserved)
        tpl__problem(c, at + 11, false, "the reserved byte after the view count must be 0");
    if (!tpl__alloc_views(c, nviews))
        return false;
    const bio_view image = {.width = width, .height = height, .res_x = rx, .res_y = ry};
    const tpl_flavour f = {.zonal = true, .len_data_only = true, .minutia_bytes = 6};
    for (unsigned i = 0; i < nviews; i++) {
        bio_view *v = &t->views[i];
        size_t vat = r->pos;
        unsigned n;
        if (!tpl__view_header4(c, r, v, &image, &n))
            return false;
        if (!tpl__position_valid(v->position, false))
            tpl__problem(c, vat, false, "view %u: finger position %u is not 0..10", i,
                         v->position);
        if (!iso__impression_2005(v->impression))
            tpl__problem(c, vat + 1, false, "view %u: impression type %u is not 0..3, 8 or 9", i,
                         v->impression);
        if (v->quality > 100)
            tpl__problem(c, vat + 2, false, "view %u: finger quality %u is not 0..100", i,
                         v->quality);
        if (!tpl__minutiae(c, r, &f, v, n) || !tpl__extensions(c, r, &f, v))
            return false;
        tpl__convert(v, false);
    }
    tpl__check_views(c, 22);
    return true;
}

/* Date and time of capture: all 0xFF when not given. */
static void iso__datetime(tpl_ctx *c, tpl_rd *r, unsigned view)
{
    size_t at = r->pos;
    uint16_t year = tpl__u16(r);
    uint8_t mon = tpl__u8(r), day = tpl__u8(r), hh = tpl__u8(r), mm = tpl__u8(r),
            ss = tpl__u8(r);
    uint16_t ms = tpl__u16(r);
    if (r->out || year == 0xffff)
        return;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 59 ||
        (ms > 999 && ms != 0xffff))
        tpl__problem(c, at, false, "view %u: the capture date and time is not a valid time", view);
}

/* The 19794-1 part of a view: date, device, quality and certification
 * records. Returns the first quality score (254 when none). */
static unsigned iso__sample_header(tpl_ctx *c, tpl_rd *r, unsigned view, bool certs)
{
    iso__datetime(c, r, view);
    size_t at = r->pos;
    unsigned tech = tpl__u8(r);
    tpl__skip(r, 4); /* device vendor and id */
    if (tech > 20 && !r->out)
        tpl__problem(c, at, false, "view %u: capture device technology %u is not 0..20", view,
                     tech);
    unsigned nq = tpl__u8(r), quality = 254;
    for (unsigned q = 0; q < nq && !r->out; q++) {
        size_t qat = r->pos;
        unsigned score = tpl__u8(r);
        tpl__skip(r, 4);
        if (score > 100 && score != 254 && score != 255)
            tpl__problem(c, qat, false, "view %u: quality score %u is not 0..100, 254 or 255",
                         view, score);
        if (q == 0)
            quality = score;
    }
    if (certs) {
        unsigned nc = tpl__u8(r);
        tpl__skip(r, 3 * (size_t)nc);
    }
    return quality;
}

static bool iso__view_2011(tpl_ctx *c, tpl_rd *r, unsigned i, bool certs)
{
    bio_view *v = &c->t->views[i];
    size_t vat = r->pos;
    uint32_t vlen = tpl__u32(r);
    v->quality = (uint8_t)iso__sample_header(c, r, i, certs);
    size_t at = r->pos;
    v->position = tpl__u8(r);
    v->view = tpl__u8(r);
    v->res_x = tpl__u16(r);
    v->res_y = tpl__u16(r);
    v->impression = tpl__u8(r);
    v->width = tpl__u16(r);
    v->height = tpl__u16(r);
    uint8_t flags = tpl__u8(r);
    unsigned n = tpl__u8(r);
    if (r->out) {
        tpl__truncated(c, r, "a view header");
        return false;
    }
    if (!tpl__position_valid(v->position, true))
        tpl__problem(c, at, false, "view %u: finger position %u is not defined", i, v->position);
    if (v->view > 15)
        tpl__problem(c, at + 1, false, "view %u: view number %u is not 0..15", i, v->view);
    iso__resolution(c, at + 2, v->res_x, v->res_y);
    if (!iso__impression_2011(v->impression))
        tpl__problem(c, at + 6, false, "view %u: impression type %u is not defined", i,
                     v->impression);
    if (!v->width || !v->height || v->width > 0x3fff || v->height > 0x3fff)
        tpl__problem(c, at + 7, false, "view %u: image size %ux%u is not 1..16383 each", i,
                     v->width, v->height);
    unsigned mbytes = flags >> 4;
    if (mbytes != 5 && mbytes != 6) {
        tpl__problem(c, at + 11, true, "view %u: minutia record size %u is not 5 or 6", i, mbytes);
        return false;
    }
    if ((flags & 0x0f) > 1)
        tpl__problem(c, at + 11, false,
                     "view %u: ridge ending type %u is not 0 (valley bifurcation) or 1 (ridge end)",
                     i, flags & 0x0f);
    if (n == 0)
        tpl__problem(c, at + 12, false, "view %u: a view must have at least one minutia", i);
    const tpl_flavour f = {.quality_2009 = true, .zonal = true, .minutia_bytes = mbytes};
    if (!tpl__minutiae(c, r, &f, v, n) || !tpl__extensions(c, r, &f, v))
        return false;
    if (r->pos != vat + vlen)
        tpl__problem(c, vat, false, "view %u: length field says %u bytes but the view has %zu", i,
                     vlen, r->pos - vat);
    tpl__convert(v, false);
    return true;
}

bool tpl__iso2011(tpl_ctx *c, tpl_rd *r, uint32_t *declared)
{
    *declared = tpl__u32(r);
    size_t at = r->pos;
    unsigned nviews = tpl__u16(r);
    unsigned certs = tpl__u8(r);
    if (r->out) {
        tpl__truncated(c, r, "the 15-byte header");
        return false;
    }
    if (nviews < 1 || nviews > 176)
        tpl__problem(c, at, nviews > 0xff, "%u views: 1 to 176 are allowed", nviews);
    if (certs > 1)
        tpl__problem(c, at + 2, false, "the certification flag %u is not 0 or 1", certs);
    if (c->fatal || !tpl__alloc_views(c, nviews))
        return false;
    for (unsigned i = 0; i < nviews; i++)
        if (!iso__view_2011(c, r, i, certs != 0))
            return false;
    tpl__check_views(c, at);
    return true;
}
