/* ANSI INCITS 378-2004 and 378-2009 (and its amendment 1) finger minutiae
 * records.
 *
 * 2004: magic, version " 20", a 2-byte length (or 0 and a 4-byte one), the
 * CBEFF product owner and type, capture equipment, image size and
 * resolution, view count: 26 bytes (30 with the long length); per view 4
 * bytes as in ISO 2005. 2009: magic, version "030" ("035" for AM1), 4-byte
 * length, CBEFF owner and type, certification flag, sensor id, view count
 * (21 bytes); per view 19 bytes with its own image size and resolution.
 * Angles are in units of 2 degrees (0..179). */
#include "bio_int.h"

static bool ansi__impression(unsigned code, bool y2009)
{
    if (code <= 3 || code == 8)
        return true;
    if (!y2009)
        return code == 9;
    return code == 10 || code == 11 || (code >= 20 && code <= 29);
}

static void ansi__view_checks(tpl_ctx *c, const bio_view *v, unsigned i, size_t at, bool y2009)
{
    if (!tpl__position_valid(v->position, y2009))
        tpl__problem(c, at, false, "view %u: finger position %u is not defined", i, v->position);
    if (v->view > 15)
        tpl__problem(c, at + 1, false, "view %u: view number %u is not 0..15", i, v->view);
    if (!ansi__impression(v->impression, y2009))
        tpl__problem(c, at + (y2009 ? 2 : 1), false, "view %u: impression type %u is not defined",
                     i, v->impression);
    if (v->quality > 100 && !(y2009 && v->quality >= 254))
        tpl__problem(c, at + (y2009 ? 3 : 2), false, "view %u: finger quality %u is not %s", i,
                     v->quality, y2009 ? "0..100, 254 or 255" : "0..100");
}

bool tpl__ansi2004(tpl_ctx *c, tpl_rd *r, uint32_t *declared)
{
    bio_template *t = c->t;
    size_t lat = r->pos;
    *declared = tpl__u16(r);
    if (*declared == 0) {
        *declared = tpl__u32(r);
        if (*declared < 0x10000 && !r->out)
            tpl__problem(c, lat, false,
                         "a 6-byte length field is only for records of 65536 bytes or more");
    }
    size_t at = r->pos;
    t->vendor = tpl__u16(r);
    t->subformat = tpl__u16(r);
    uint16_t equip = tpl__u16(r);
    uint16_t width = tpl__u16(r), height = tpl__u16(r);
    uint16_t rx = tpl__u16(r), ry = tpl__u16(r);
    unsigned nviews = tpl__u8(r), reserved = tpl__u8(r);
    if (r->out) {
        tpl__truncated(c, r, "the 26-byte header");
        return false;
    }
    t->sensor_certified = (equip & 0x8000) != 0;
    t->sensor_id = equip & 0x0fff;
    if (!t->vendor)
        tpl__problem(c, at, false, "the CBEFF product identifier owner must not be 0");
    if (equip & 0x7000)
        tpl__problem(c, at + 4, false, "capture equipment: compliance bits 12..14 are reserved");
    if (!width || !height)
        tpl__problem(c, at + 6, false, "image size %ux%u: neither may be 0", width, height);
    if (!rx || !ry)
        tpl__problem(c, at + 10, false, "resolution %ux%u px/cm: neither may be 0", rx, ry);
    if (reserved)
        tpl__problem(c, at + 15, false, "the reserved byte after the view count must be 0");
    if (!tpl__alloc_views(c, nviews))
        return false;
    const bio_view image = {.width = width, .height = height, .res_x = rx, .res_y = ry};
    const tpl_flavour f = {.ansi = true, .minutia_bytes = 6};
    for (unsigned i = 0; i < nviews; i++) {
        bio_view *v = &t->views[i];
        size_t vat = r->pos;
        unsigned n;
        if (!tpl__view_header4(c, r, v, &image, &n))
            return false;
        ansi__view_checks(c, v, i, vat, false);
        if (!tpl__minutiae(c, r, &f, v, n) || !tpl__extensions(c, r, &f, v))
            return false;
        tpl__convert(v, true);
    }
    tpl__check_views(c, at + 14);
    return true;
}

bool tpl__ansi2009(tpl_ctx *c, tpl_rd *r, uint32_t *declared, bool am1)
{
    bio_template *t = c->t;
    *declared = tpl__u32(r);
    size_t at = r->pos;
    t->vendor = tpl__u16(r);
    t->subformat = tpl__u16(r);
    unsigned cert = tpl__u8(r);
    t->sensor_id = tpl__u16(r);
    unsigned nviews = tpl__u8(r), reserved = tpl__u8(r);
    if (r->out) {
        tpl__truncated(c, r, "the 21-byte header");
        return false;
    }
    t->sensor_certified = (cert & 0x80) != 0;
    if (!t->vendor)
        tpl__problem(c, at, false, "the CBEFF product identifier owner must not be 0");
    if (cert & 0x7f)
        tpl__problem(c, at + 4, false, "certification flags: bits 0..6 are reserved");
    if (am1 && nviews == 0)
        tpl__problem(c, at + 7, false, "a 2009/AM1 record must have at least one view");
    if (reserved)
        tpl__problem(c, at + 8, false, "the reserved byte after the view count must be 0");
    if (!tpl__alloc_views(c, nviews))
        return false;
    const tpl_flavour f = {.ansi = true, .quality_2009 = true, .minutia_bytes = 6};
    for (unsigned i = 0; i < nviews; i++) {
        bio_view *v = &t->views[i];
        size_t vat = r->pos;
        v->position = tpl__u8(r);
        v->view = tpl__u8(r);
        v->impression = tpl__u8(r);
        v->quality = tpl__u8(r);
        uint16_t qvendor = tpl__u16(r);
        tpl__skip(r, 2); /* quality algorithm */
        v->width = tpl__u16(r);
        v->height = tpl__u16(r);
        v->res_x = tpl__u16(r);
        v->res_y = tpl__u16(r);
        unsigned n = tpl__u8(r);
        if (r->out) {
            tpl__truncated(c, r, "a view header");
            return false;
        }
        ansi__view_checks(c, v, i, vat, true);
        if (!qvendor)
            tpl__problem(c, vat + 4, false, "view %u: the quality algorithm owner must not be 0",
                         i);
        if (!v->width || !v->height)
            tpl__problem(c, vat + 8, false, "view %u: image size %ux%u: neither may be 0", i,
                         v->width, v->height);
        if (!v->res_x || !v->res_y)
            tpl__problem(c, vat + 12, false, "view %u: resolution %ux%u px/cm: neither may be 0",
                         i, v->res_x, v->res_y);
        if (!tpl__minutiae(c, r, &f, v, n) || !tpl__extensions(c, r, &f, v))
            return false;
        tpl__convert(v, true);
    }
    tpl__check_views(c, at + 7);
    return true;
}
