/* PNG (libpng): 8- and 16-bit grayscale, read from memory and written to a
 * bounded buffer. Errors arrive through longjmp; anything that outlives a
 * jump is volatile. */
#include "xray_int.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *d;
    size_t len, off;
    char *err;
    size_t errlen;
} png__io;

static void png__error(png_structp p, png_const_charp msg)
{
    png__io *io = png_get_error_ptr(p);
    if (io && io->err && !io->err[0])
        snprintf(io->err, io->errlen, "PNG: %s", msg);
    png_longjmp(p, 1);
}

static void png__warning(png_structp p, png_const_charp msg)
{
    (void)p;
    (void)msg; /* benign (e.g. an unknown ancillary chunk): nothing to report */
}

static void png__read_fn(png_structp p, png_bytep out, size_t n)
{
    png__io *io = png_get_io_ptr(p);
    if (n > io->len - io->off)
        png_error(p, "the file is truncated");
    memcpy(out, io->d + io->off, n);
    io->off += n;
}

cx_err xray__png_read(const uint8_t *data, size_t len, xray_image **out, char *err,
                      size_t errlen)
{
    png__io io = {data, len, 0, err, errlen};
    if (errlen)
        err[0] = '\0';
    /* IHDR is the first chunk: refuse huge images from it, in our words,
     * before libpng allocates anything (its own limits stay as a guard) */
    if (len >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)data[16] << 24 | data[17] << 16 | data[18] << 8 | data[19];
        uint32_t h = (uint32_t)data[20] << 24 | data[21] << 16 | data[22] << 8 | data[23];
        if (!xray_dims_ok(w, h)) {
            snprintf(err, errlen, "PNG: %ux%u pixels is over the limit (%u per side, %u in all)",
                     w, h, XRAY_MAX_DIM, XRAY_MAX_PIXELS);
            return CX_EPARSE;
        }
    }
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png__error, png__warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        return CX_ENOMEM;
    }
    xray_image *volatile im = NULL;
    uint8_t *volatile narrow = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, &info, NULL);
        xray_image_free(im);
        free(narrow);
        free(rows);
        if (!err[0])
            snprintf(err, errlen, "PNG: malformed file");
        return CX_EPARSE;
    }
    png_set_user_limits(p, XRAY_MAX_DIM, XRAY_MAX_DIM);
    png_set_chunk_malloc_max(p, (png_alloc_size_t)1 << 20);
    png_set_read_fn(p, &io, png__read_fn);
    png_read_info(p, info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(p, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (ctype != PNG_COLOR_TYPE_GRAY)
        png_error(p, "the image must be grayscale without alpha (one sample per pixel)");
    if (depth != 8 && depth != 16)
        png_error(p, "the image must have 8 or 16 bits per sample");
    if (!xray_dims_ok(w, h)) {
        snprintf(err, errlen, "PNG: %lux%lu pixels is over the limit (%u per side, %u in all)",
                 (unsigned long)w, (unsigned long)h, XRAY_MAX_DIM, XRAY_MAX_PIXELS);
        png_longjmp(p, 1);
    }
    if (depth == 16)
        png_set_swap(p); /* PNG is big-endian; samples land as host uint16 */
    if (interlace != PNG_INTERLACE_NONE)
        png_set_interlace_handling(p);
    png_read_update_info(p, info);
    im = xray_image_new(w, h);
    rows = malloc(sizeof(png_bytep) * h);
    if (depth == 8)
        narrow = malloc((size_t)w * h);
    if (!im || !rows || (depth == 8 && !narrow)) {
        snprintf(err, errlen, "out of memory for a %lux%lu image", (unsigned long)w,
                 (unsigned long)h);
        png_longjmp(p, 1);
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = depth == 16 ? (png_bytep)(im->px + (size_t)y * w) : narrow + (size_t)y * w;
    png_read_image(p, rows);
    png_read_end(p, NULL); /* a file cut after the pixels is still truncated */
    if (depth == 8) {
        for (size_t i = 0; i < (size_t)w * h; i++)
            im->px[i] = narrow[i];
        free(narrow);
    }
    im->bits = depth;
    free(rows);
    png_destroy_read_struct(&p, &info, NULL);
    *out = im;
    return CX_OK;
}

typedef struct {
    cx_buf *out;
} png__sink;

static void png__write_fn(png_structp p, png_bytep d, size_t n)
{
    png__sink *s = png_get_io_ptr(p);
    if (cx_buf_append(s->out, d, n) != CX_OK)
        png_error(p, "the output is over its cap");
}

static void png__flush_fn(png_structp p)
{
    (void)p;
}

cx_err xray_png_encode(const xray_image *im, int bits, cx_buf *out)
{
    if (!im || (bits != 8 && bits != 16))
        return CX_EINVAL;
    png__sink sink = {out};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png__error, png__warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info) {
        png_destroy_write_struct(&p, NULL);
        return CX_ENOMEM;
    }
    uint8_t *volatile row8 = NULL;
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        free(row8);
        return CX_ETOOBIG;
    }
    png_set_write_fn(p, &sink, png__write_fn, png__flush_fn);
    png_set_compression_level(p, 3); /* scans are noisy: higher levels gain little */
    png_set_IHDR(p, info, im->w, im->h, bits, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    if (bits == 16) {
        png_set_swap(p);
        for (uint32_t y = 0; y < im->h; y++)
            png_write_row(p, (png_const_bytep)(im->px + (size_t)y * im->w));
    } else {
        row8 = malloc(im->w);
        if (!row8)
            png_error(p, "out of memory");
        for (uint32_t y = 0; y < im->h; y++) {
            const uint16_t *src = im->px + (size_t)y * im->w;
            for (uint32_t x = 0; x < im->w; x++)
                row8[x] = (uint8_t)(src[x] > 255 ? 255 : src[x]);
            png_write_row(p, row8);
        }
    }
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    free(row8);
    return CX_OK;
}
