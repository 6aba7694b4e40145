/* Template records: format detection, the strict and permissive modes, the
 * record-level quirks (length field, padding), accessors and JSON. */
#include "bio_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const format_names[BIO_FMT__COUNT] = {
    "auto", "iso-19794-2:2005", "iso-19794-2:2011", "ansi-378:2004", "ansi-378:2009",
    "ansi-378:2009/am1"};

const char *bio_format_name(bio_format f)
{
    return f < BIO_FMT__COUNT ? format_names[f] : "unknown";
}

bool bio_format_parse(const char *s, bio_format *out)
{
    for (int i = 0; s && i < BIO_FMT__COUNT; i++)
        if (strcmp(s, format_names[i]) == 0) {
            *out = (bio_format)i;
            return true;
        }
    return false;
}

static const char *const finger_names[] = {
    "unknown",    "right_thumb", "right_index", "right_middle", "right_ring", "right_little",
    "left_thumb", "left_index",  "left_middle", "left_ring",    "left_little"};

const char *bio_finger_name(unsigned code)
{
    return code < sizeof finger_names / sizeof finger_names[0] ? finger_names[code] : NULL;
}

bool bio_finger_parse(const char *s, unsigned *code)
{
    for (unsigned i = 0; s && i < sizeof finger_names / sizeof finger_names[0]; i++)
        if (strcmp(s, finger_names[i]) == 0) {
            *code = i;
            return true;
        }
    return false;
}

/* " 20\0" is shared by ISO 2005 and ANSI 2004; their length fields tell
 * them apart: ANSI's 2-byte length is at least 26, and its 6-byte form
 * starts with two zero bytes followed by a value ISO's 4-byte length (at
 * least 24) cannot have in its top half. */
static bio_format tpl__detect_v20(const uint8_t *d, size_t len)
{
    if (len < 12)
        return BIO_FMT_ISO2005;
    unsigned hi = (unsigned)d[8] << 8 | d[9], lo = (unsigned)d[10] << 8 | d[11];
    if (hi >= 26)
        return BIO_FMT_ANSI2004;
    if (hi > 0)
        return BIO_FMT_ISO2005;
    return lo >= 24 ? BIO_FMT_ISO2005 : BIO_FMT_ANSI2004;
}

/* "030\0" is shared by ISO 2011 and ANSI 2009: an ISO 2011 record is its
 * 15-byte header plus views whose own length fields (each at least 34)
 * add up to the record length. */
static bio_format tpl__detect_v030(const uint8_t *d, size_t len)
{
    if (len < 15)
        return BIO_FMT_ANSI2009;
    uint64_t total = (uint64_t)d[8] << 24 | (uint64_t)d[9] << 16 | (uint64_t)d[10] << 8 | d[11];
    unsigned n = (unsigned)d[12] << 8 | d[13];
    uint64_t sum = 15, pos = 15;
    for (unsigned i = 0; i < n; i++) {
        if (pos + 4 > len)
            return BIO_FMT_ANSI2009;
        uint64_t v = (uint64_t)d[pos] << 24 | (uint64_t)d[pos + 1] << 16 |
                     (uint64_t)d[pos + 2] << 8 | d[pos + 3];
        if (v < 34)
            return BIO_FMT_ANSI2009;
        sum += v;
        pos += v;
    }
    return n > 0 && sum == total ? BIO_FMT_ISO2011 : BIO_FMT_ANSI2009;
}

static bool tpl__same_family(bio_format a, bio_format b)
{
    bool v20 = a == BIO_FMT_ISO2005 || a == BIO_FMT_ANSI2004;
    bool w20 = b == BIO_FMT_ISO2005 || b == BIO_FMT_ANSI2004;
    return v20 == w20;
}

/* Decides the format from the magic and version; reports the version typo
 * and mismatches with what the caller asked for. */
static bio_format tpl__format(tpl_ctx *c, const uint8_t *d, size_t len, bio_format want)
{
    if (len < 8) {
        tpl__problem(c, 0, true, "%zu bytes are too few for a record header", len);
        return BIO_FMT_AUTO;
    }
    if (memcmp(d, "FMR\0", 4) != 0) {
        tpl__problem(c, 0, true, "a finger minutiae record starts with \"FMR\" and a zero byte");
        return BIO_FMT_AUTO;
    }
    bio_format got;
    if (memcmp(d + 4, " 20\0", 4) == 0) {
        got = tpl__detect_v20(d, len);
    } else if (memcmp(d + 4, "020\0", 4) == 0) {
        tpl__problem(c, 4, false, "version \"020\" is a typo for \" 20\" (as in the ANSI 378-2004 "
                                  "sample)");
        got = BIO_FMT_ANSI2004;
    } else if (memcmp(d + 4, "030\0", 4) == 0) {
        got = tpl__detect_v030(d, len);
    } else if (memcmp(d + 4, "035\0", 4) == 0) {
        got = BIO_FMT_ANSI2009AM1;
    } else {
        tpl__problem(c, 4, true, "version is not \" 20\", \"030\" or \"035\"");
        return BIO_FMT_AUTO;
    }
    if (want == BIO_FMT_AUTO || want == got)
        return got;
    if (!tpl__same_family(want, got)) {
        tpl__problem(c, 4, true, "the record's version does not fit %s", bio_format_name(want));
        return BIO_FMT_AUTO;
    }
    /* the same version bytes, or 2009 and its amendment: read it as asked */
    if ((want == BIO_FMT_ANSI2009 && got == BIO_FMT_ANSI2009AM1) ||
        (want == BIO_FMT_ANSI2009AM1 && got != BIO_FMT_ANSI2009AM1))
        tpl__problem(c, 4, false, "the version bytes say %s, read as %s", bio_format_name(got),
                     bio_format_name(want));
    return want;
}

static void tpl__tail(tpl_ctx *c, const uint8_t *d, size_t len, size_t end, uint32_t declared)
{
    if (declared != end)
        tpl__problem(c, 8, false, "the record length field says %u bytes but the record is %zu",
                     declared, end);
    if (end >= len)
        return;
    size_t zeros = 0;
    while (end + zeros < len && d[end + zeros] == 0)
        zeros++;
    if (zeros == len - end)
        tpl__problem(c, end, false, "%zu bytes of zero padding after the record", zeros);
    else
        tpl__problem(c, end, false, "%zu bytes of other data after the record", len - end);
}

cx_err bio_template_parse(const uint8_t *data, size_t len, bio_format fmt, unsigned flags,
                          bio_template **out, bio_problems *problems)
{
    *out = NULL;
    if (problems)
        problems->count = 0;
    bio_template *t = calloc(1, sizeof *t);
    if (!t)
        return CX_ENOMEM;
    tpl_ctx c = {.pr = problems, .t = t, .permissive = (flags & BIO_PARSE_PERMISSIVE) != 0};
    if (len > BIO_TEMPLATE_MAX) {
        tpl__problem(&c, 0, true, "%zu bytes: a template may have at most %zu", len,
                     BIO_TEMPLATE_MAX);
        bio_template_free(t);
        return CX_ETOOBIG;
    }
    t->format = tpl__format(&c, data, len, fmt);
    t->bytes = len ? malloc(len) : NULL;
    if (len && !t->bytes) {
        bio_template_free(t);
        return CX_ENOMEM;
    }
    if (len)
        memcpy(t->bytes, data, len);
    t->len = len;
    tpl_rd r = {.p = t->bytes, .end = len, .pos = 8};
    uint32_t declared = 0;
    bool ok = false;
    switch (t->format) {
    case BIO_FMT_ISO2005: ok = tpl__iso2005(&c, &r, &declared); break;
    case BIO_FMT_ISO2011: ok = tpl__iso2011(&c, &r, &declared); break;
    case BIO_FMT_ANSI2004: ok = tpl__ansi2004(&c, &r, &declared); break;
    case BIO_FMT_ANSI2009: ok = tpl__ansi2009(&c, &r, &declared, false); break;
    case BIO_FMT_ANSI2009AM1: ok = tpl__ansi2009(&c, &r, &declared, true); break;
    default: break;
    }
    if (ok && !c.fatal)
        tpl__tail(&c, t->bytes, len, r.pos, declared);
    if (!ok || c.fatal || (c.strict_failed && !c.permissive)) {
        bio_template_free(t);
        return CX_EPARSE;
    }
    *out = t;
    return CX_OK;
}

void bio_template_free(bio_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nviews; i++) {
        bio_view *v = &t->views[i];
        free(v->minutiae);
        free(v->counts);
        free(v->cores);
        free(v->deltas);
        free(v->extensions);
    }
    free(t->views);
    free(t->bytes);
    free(t);
}

bio_format bio_template_format(const bio_template *t)
{
    return t->format;
}

size_t bio_template_nviews(const bio_template *t)
{
    return t->nviews;
}

const bio_view *bio_template_view(const bio_template *t, size_t i)
{
    return i < t->nviews ? &t->views[i] : NULL;
}

size_t bio_template_nminutiae(const bio_template *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nviews; i++)
        n += t->views[i].nminutiae;
    return n;
}

static const char *const minutia_types[] = {"other", "ending", "bifurcation"};

static json_t *tpl__singulars_json(const bio_singular *s, size_t n, unsigned nangles)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:i,s:i}", "x", s[i].x, "y", s[i].y);
        if (s[i].has_angle) {
            json_t *angles = json_array();
            for (unsigned k = 0; k < nangles; k++)
                json_array_append_new(angles, json_integer(s[i].angles[k]));
            json_object_set_new(o, "angles", angles);
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *tpl__view_json(const bio_view *v)
{
    json_t *o = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:[i,i]}", "position", v->position, "view",
                          v->view, "impression", v->impression, "quality", v->quality, "width",
                          v->width, "height", v->height, "resolution", v->res_x, v->res_y);
    const char *finger = bio_finger_name(v->position);
    if (finger)
        json_object_set_new(o, "finger", json_string(finger));
    json_t *ms = json_array();
    for (size_t i = 0; i < v->nminutiae; i++) {
        const bio_minutia *m = &v->minutiae[i];
        json_array_append_new(
            ms, json_pack("{s:s,s:i,s:i,s:i,s:i,s:f,s:f,s:f}", "type", minutia_types[m->type],
                          "x", m->x, "y", m->y, "angle", m->angle_raw, "quality", m->quality,
                          "x_mm", round(m->x_mm * 1000) / 1000, "y_mm",
                          round(m->y_mm * 1000) / 1000, "angle_deg",
                          round(m->angle * 180 / M_PI * 100) / 100));
    }
    json_object_set_new(o, "minutiae", ms);
    if (v->ncounts || v->count_method) {
        json_t *edges = json_array();
        for (size_t i = 0; i < v->ncounts; i++)
            json_array_append_new(edges, json_pack("{s:i,s:i,s:i}", "from", v->counts[i].from,
                                                   "to", v->counts[i].to, "count",
                                                   v->counts[i].count));
        json_object_set_new(o, "ridge_counts",
                            json_pack("{s:i,s:o}", "method", v->count_method, "edges", edges));
    }
    if (v->ncores || v->ndeltas)
        json_object_set_new(o, "singular_points",
                            json_pack("{s:o,s:o}", "cores",
                                      tpl__singulars_json(v->cores, v->ncores, 1), "deltas",
                                      tpl__singulars_json(v->deltas, v->ndeltas, 3)));
    json_t *ext = json_array();
    for (size_t i = 0; i < v->nextensions; i++) {
        const bio_extension *x = &v->extensions[i];
        char *hex = malloc(2 * (size_t)x->len + 1);
        if (hex) {
            cx_hex(x->data, x->len, hex);
            json_array_append_new(ext, json_pack("{s:i,s:s}", "type", x->type, "data_hex", hex));
        }
        free(hex);
    }
    json_object_set_new(o, "extensions", ext);
    return o;
}

json_t *bio_template_json(const bio_template *t)
{
    json_t *views = json_array();
    for (size_t i = 0; i < t->nviews; i++)
        json_array_append_new(views, tpl__view_json(&t->views[i]));
    return json_pack("{s:s,s:i,s:o}", "format", bio_format_name(t->format), "minutiae",
                     (int)bio_template_nminutiae(t), "views", views);
}

json_t *bio_problems_json(const bio_problems *p)
{
    json_t *a = json_array();
    size_t n = p->count < BIO_PROBLEMS_MAX ? p->count : BIO_PROBLEMS_MAX;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:I,s:s,s:b}", "offset",
                                           (json_int_t)p->items[i].offset, "message",
                                           p->items[i].rule, "fatal", p->items[i].fatal));
    if (p->count > n)
        json_array_append_new(a, json_pack("{s:s}", "message", "more problems were not listed"));
    return a;
}
