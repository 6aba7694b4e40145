/* Precision and recall against the share of declarations inspected, drawn
 * with cairo as SVG or PNG (from the file name). */
#include "risk_int.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <string.h>

#define W 800.0
#define H 500.0
#define ML 70.0
#define MR 30.0
#define MT 50.0
#define MB 60.0

static double px(double share) /* 0..100 */
{
    return ML + share / 100 * (W - ML - MR);
}

static double py(double v) /* 0..1 */
{
    return H - MB - v * (H - MT - MB);
}

static void plot__line(cairo_t *cr, const double *v, double r, double g, double b)
{
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 2.5);
    bool started = false;
    for (int s = 0; s < 100; s++) {
        if (!isfinite(v[s])) {
            started = false;
            continue;
        }
        if (!started)
            cairo_move_to(cr, px(s + 1), py(v[s]));
        else
            cairo_line_to(cr, px(s + 1), py(v[s]));
        started = true;
    }
    cairo_stroke(cr);
}

static void plot__text(cairo_t *cr, double x, double y, const char *s, double size, bool center)
{
    cairo_set_font_size(cr, size);
    cairo_text_extents_t ext;
    cairo_text_extents(cr, s, &ext);
    cairo_move_to(cr, center ? x - ext.width / 2 - ext.x_bearing : x, y);
    cairo_show_text(cr, s);
}

static void plot__draw(cairo_t *cr, const double *precision, const double *recall,
                       const char *title, double mark)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    /* grid and axes */
    cairo_set_line_width(cr, 1);
    char lab[32];
    for (int i = 0; i <= 10; i++) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, px(i * 10), py(0));
        cairo_line_to(cr, px(i * 10), py(1));
        cairo_move_to(cr, px(0), py(i / 10.0));
        cairo_line_to(cr, px(100), py(i / 10.0));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(lab, sizeof lab, "%d%%", i * 10);
        plot__text(cr, px(i * 10), H - MB + 18, lab, 11, true);
        snprintf(lab, sizeof lab, "%.1f", i / 10.0);
        plot__text(cr, ML - 32, py(i / 10.0) + 4, lab, 11, false);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, px(0), py(1), px(100) - px(0), py(0) - py(1));
    cairo_stroke(cr);
    plot__text(cr, (px(0) + px(100)) / 2, H - 18, "share of declarations inspected", 13, true);
    plot__text(cr, W / 2, 30, title, 15, true);
    if (mark > 0 && mark <= 100) {
        const double dash[] = {6, 4};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
        cairo_move_to(cr, px(mark), py(0));
        cairo_line_to(cr, px(mark), py(1));
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        snprintf(lab, sizeof lab, "inspect %g%%", mark);
        plot__text(cr, px(mark) + 4, py(1) + 14, lab, 11, false);
    }
    plot__line(cr, precision, 0.80, 0.15, 0.15);
    plot__line(cr, recall, 0.15, 0.35, 0.80);
    /* legend */
    cairo_set_source_rgb(cr, 0.80, 0.15, 0.15);
    cairo_rectangle(cr, px(70), py(0.22), 14, 4);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    plot__text(cr, px(70) + 20, py(0.22) + 6, "precision", 12, false);
    cairo_set_source_rgb(cr, 0.15, 0.35, 0.80);
    cairo_rectangle(cr, px(70), py(0.14), 14, 4);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    plot__text(cr, px(70) + 20, py(0.14) + 6, "recall", 12, false);
}

cx_err risk_plot_curve(const char *path, const double *precision, const double *recall,
                       const char *title, double mark_share, char *err, size_t errlen)
{
    size_t n = strlen(path);
    bool svg = n > 4 && strcmp(path + n - 4, ".svg") == 0;
    bool png = n > 4 && strcmp(path + n - 4, ".png") == 0;
    if (!svg && !png) {
        snprintf(err, errlen, "%s: the plot file must end in .svg or .png", path);
        return CX_EINVAL;
    }
    cairo_surface_t *sf = svg ? cairo_svg_surface_create(path, W, H)
                              : cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
    if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
        snprintf(err, errlen, "cannot create %s: %s", path,
                 cairo_status_to_string(cairo_surface_status(sf)));
        cairo_surface_destroy(sf);
        return CX_EIO;
    }
    cairo_t *cr = cairo_create(sf);
    plot__draw(cr, precision, recall, title, mark_share);
    cairo_destroy(cr);
    cairo_status_t st = CAIRO_STATUS_SUCCESS;
    if (png)
        st = cairo_surface_write_to_png(sf, path);
    cairo_surface_finish(sf);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(sf);
    cairo_surface_destroy(sf);
    /* Text drawing loads fontconfig's caches; give them back so that a
     * plotting run ends with nothing allocated (leak checkers, long runs). */
    cairo_debug_reset_static_data();
    FcFini();
    if (st != CAIRO_STATUS_SUCCESS) {
        snprintf(err, errlen, "cannot write %s: %s", path, cairo_status_to_string(st));
        return CX_EIO;
    }
    return CX_OK;
}
