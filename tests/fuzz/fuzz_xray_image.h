/* Shared by the X-ray readers' fuzz targets: whatever a reader accepts is
 * within the limits, and survives a round trip through our own encoder. */
#ifndef FUZZ_XRAY_IMAGE_H
#define FUZZ_XRAY_IMAGE_H

#include <stdlib.h>
#include <string.h>

#include "xray.h"

static void fuzz_xray_check(const uint8_t *data, size_t size,
                            cx_err (*encode)(const xray_image *, cx_buf *))
{
    xray_image *im = NULL;
    json_t *meta = NULL;
    char err[256] = "";
    cx_err e = xray_read(data, size, &im, &meta, err, sizeof err);
    if (e != CX_OK) {
        if (im || meta || !err[0])
            abort(); /* a refusal leaves nothing behind and says why */
        return;
    }
    if (!xray_dims_ok(im->w, im->h) || (im->bits != 8 && im->bits != 16))
        abort();
    if (meta) { /* DICOS attributes are only a candidate sidecar */
        xray_meta m;
        json_t *problems = json_array();
        xray_meta_parse(meta, "", false, &m, problems, NULL);
        json_decref(problems);
    }
    cx_buf b;
    cx_buf_init(&b, XRAY_MAX_FILE);
    if (encode && (size_t)im->w * im->h <= 1u << 20 && encode(im, &b) == CX_OK) {
        xray_image *back = NULL;
        if (xray_read((const uint8_t *)b.data, b.len, &back, NULL, err, sizeof err) != CX_OK ||
            back->w != im->w || back->h != im->h ||
            memcmp(back->px, im->px, (size_t)im->w * im->h * 2) != 0)
            abort();
        xray_image_free(back);
    }
    cx_buf_free(&b);
    json_decref(meta);
    xray_image_free(im);
}

#endif
