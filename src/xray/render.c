/* Renderings: the scan as an 8-bit picture with a window/level fitted to
 * its own histogram, and the overlay of the analysis' regions (cairo). */
#include "xray_int.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Gray level for every detector value: areal density between the
 * container's lightest and darkest percentiles, square-root compressed so
 * light goods keep their texture next to steel; dense is dark. */
static void render__lut(const xray_image *im, const xray_meta *m, uint8_t lut[65536])
{
    uint32_t *hist = calloc(65536, sizeof *hist);
    uint64_t n = 0;
    double air = 0.97 * m->open_beam;
    if (hist) {
        size_t total = (size_t)im->w * im->h;
        for (size_t i = 0; i < total; i++)
            if (im->px[i] < air) {
                hist[im->px[i]]++;
                n++;
            }
    }
    /* darkest 0.3 % and lightest 1 % of what is not air */
    uint32_t v_dark = 0, v_light = (uint32_t)air;
    if (n > 100) {
        uint64_t acc = 0;
        bool dark_set = false;
        for (uint32_t v = 0; v < 65536; v++) {
            acc += hist[v];
            if (!dark_set && acc >= n * 3 / 1000) {
                v_dark = v;
                dark_set = true;
            }
            if (acc >= n * 99 / 100) {
                v_light = v;
                break;
            }
        }
    }
    free(hist);
    double a_lo = xray_areal_density(v_light, m->open_beam, m->mu);
    double a_hi = xray_areal_density(v_dark > 0 ? v_dark : 1, m->open_beam, m->mu);
    if (a_lo < 0)
        a_lo = 0;
    if (a_hi <= a_lo + 1)
        a_hi = a_lo + 1;
    for (uint32_t v = 0; v < 65536; v++) {
        double a = xray_areal_density(v, m->open_beam, m->mu);
        double f = (a - a_lo) / (a_hi - a_lo);
        f = f < 0 ? 0 : f > 1 ? 1 : f;
        lut[v] = (uint8_t)lround(255 * (1 - sqrt(f)));
    }
}

typedef struct {
    cx_buf *out;
    bool failed;
} render_sink;

static cairo_status_t render__write(void *closure, const unsigned char *data, unsigned int len)
{
    render_sink *s = closure;
    if (cx_buf_append(s->out, data, len) != CX_OK) {
        s->failed = true;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

cx_err xray_render_png(const xray_image *im, const xray_meta *m, cx_buf *out)
{
    uint8_t *lut = malloc(65536);
    xray_image *g = xray_image_new(im->w, im->h);
    if (!lut || !g) {
        free(lut);
        xray_image_free(g);
        return CX_ENOMEM;
    }
    render__lut(im, m, lut);
    for (size_t i = 0; i < (size_t)im->w * im->h; i++)
        g->px[i] = lut[im->px[i]];
    free(lut);
    cx_err e = xray_png_encode(g, 8, out);
    xray_image_free(g);
    return e;
}

static void render__kind_colour(xray_kind k, double rgb[3])
{
    static const double colours[XRAY_KIND__COUNT][3] = {
        {0.95, 0.15, 0.10}, /* dense_object: red */
        {1.00, 0.55, 0.00}, /* organic_mass: orange */
        {0.75, 0.20, 0.95}, /* false_wall: violet */
        {0.10, 0.70, 1.00}, /* anomaly: blue */
    };
    memcpy(rgb, colours[k < XRAY_KIND__COUNT ? k : XRAY_ANOMALY], sizeof colours[0]);
}

static void render__label(cairo_t *cr, double x, double y, double size, const char *text,
                          const double rgb[3], double width)
{
    cairo_text_extents_t ext;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, text, &ext);
    if (x + ext.x_advance + 8 > width) /* keep it on the picture */
        x = fmax(0, width - ext.x_advance - 8);
    cairo_set_source_rgba(cr, 0, 0, 0, 0.7);
    cairo_rectangle(cr, x, y - ext.height - 6, ext.x_advance + 8, ext.height + 8);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_move_to(cr, x + 4, y - 3);
    cairo_show_text(cr, text);
}

/* Labels load fontconfig's caches, shared by every thread that draws
 * text; they are given back once, when the process ends (leak checkers,
 * and no thread draws then). */
static void render__fonts_release(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}

static void render__fonts_once(void)
{
    atexit(render__fonts_release);
}

cx_err xray_render_overlay(const xray_image *im, const xray_meta *m, const xray_region *regions,
                           size_t n, cx_buf *out)
{
    static pthread_once_t fonts = PTHREAD_ONCE_INIT;
    pthread_once(&fonts, render__fonts_once);
    if (im->w > 32767 || im->h > 32767)
        return CX_ETOOBIG;
    uint8_t *lut = malloc(65536);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)im->w, (int)im->h);
    if (!lut || cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        free(lut);
        cairo_surface_destroy(s);
        return CX_ENOMEM;
    }
    render__lut(im, m, lut);
    cairo_surface_flush(s);
    unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (uint32_t y = 0; y < im->h; y++) {
        uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * (size_t)stride);
        for (uint32_t x = 0; x < im->w; x++) {
            uint32_t v = lut[im->px[(size_t)y * im->w + x]];
            row[x] = v << 16 | v << 8 | v;
        }
    }
    free(lut);
    cairo_surface_mark_dirty(s);
    cairo_t *cr = cairo_create(s);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    double size = fmax(12, fmin(28, im->h / 28.0)), line = fmax(2, im->h / 250.0);
    double white[3] = {1, 1, 1};
    render__label(cr, m->door_right ? im->w - 7.5 * size : 4, size + 8, size,
                  m->door_right ? "doors \xe2\x86\x92" : "\xe2\x86\x90 doors", white, im->w);
    for (size_t i = 0; i < n; i++) {
        const xray_region *r = &regions[i];
        double rgb[3];
        render__kind_colour(r->kind, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_set_line_width(cr, line);
        cairo_rectangle(cr, r->x, r->y, r->w, r->h);
        cairo_stroke(cr);
        char text[96];
        snprintf(text, sizeof text, "%zu %s %.1f m", i + 1, xray_kind_name(r->kind),
                 r->from_door_m);
        double ty = r->y > size + 10 ? r->y - 2 : r->y + r->h + size + 8;
        render__label(cr, r->x, ty, size, text, rgb, im->w);
    }
    cairo_destroy(cr);
    render_sink sink = {out, false};
    cairo_status_t st = cairo_surface_write_to_png_stream(s, render__write, &sink);
    cairo_surface_destroy(s);
    return sink.failed ? CX_ETOOBIG : st == CAIRO_STATUS_SUCCESS ? CX_OK : CX_ENOMEM;
}
