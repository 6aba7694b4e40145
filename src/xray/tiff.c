/* TIFF (libtiff): one-sample 8- or 16-bit grayscale, striped or tiled, any
 * compression libtiff decodes; read from memory through a client handle and
 * written to a bounded buffer. */
#include "xray_int.h"

#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

/* A memory file: reading uses d/len; writing grows `out`. */
typedef struct {
    const uint8_t *d;
    size_t len;
    cx_buf *out;
    uint64_t off;
    bool failed;
    char *err;
    size_t errlen;
} tif__mem;

static tmsize_t tif__read(thandle_t h, void *buf, tmsize_t n)
{
    tif__mem *m = h;
    const uint8_t *d = m->out ? (const uint8_t *)m->out->data : m->d;
    size_t len = m->out ? m->out->len : m->len;
    if (n < 0 || m->off >= len)
        return 0;
    size_t k = (size_t)n < len - m->off ? (size_t)n : len - (size_t)m->off;
    memcpy(buf, d + m->off, k);
    m->off += k;
    return (tmsize_t)k;
}

static tmsize_t tif__write(thandle_t h, void *buf, tmsize_t n)
{
    tif__mem *m = h;
    if (!m->out || n < 0 || m->failed)
        return -1;
    static const uint8_t zeros[256];
    while (m->out->len < m->off) { /* a seek past the end leaves a hole */
        size_t gap = (size_t)(m->off - m->out->len);
        if (cx_buf_append(m->out, zeros, gap < sizeof zeros ? gap : sizeof zeros) != CX_OK) {
            m->failed = true;
            return -1;
        }
    }
    size_t overlap = m->out->len - (size_t)m->off;
    size_t k = (size_t)n < overlap ? (size_t)n : overlap;
    if (k)
        memcpy(m->out->data + m->off, buf, k);
    if ((size_t)n > k && cx_buf_append(m->out, (const uint8_t *)buf + k, (size_t)n - k) != CX_OK) {
        m->failed = true;
        return -1;
    }
    m->off += (uint64_t)n;
    return n;
}

static toff_t tif__seek(thandle_t h, toff_t off, int whence)
{
    tif__mem *m = h;
    uint64_t base = whence == SEEK_CUR ? m->off
                    : whence == SEEK_END ? (m->out ? m->out->len : m->len)
                                         : 0;
    if (off > UINT64_MAX - base || base + off > ((uint64_t)1 << 40))
        return (toff_t)-1;
    m->off = base + off;
    return m->off;
}

static int tif__close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t tif__size(thandle_t h)
{
    tif__mem *m = h;
    return m->out ? m->out->len : m->len;
}

static int tif__map(thandle_t h, void **base, toff_t *size)
{
    (void)h;
    (void)base;
    (void)size;
    return 0; /* no mapping: reads go through tif__read */
}

static void tif__unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

static int tif__on_error(TIFF *t, void *ud, const char *module, const char *fmt, va_list ap)
{
    (void)t;
    (void)module;
    tif__mem *m = ud;
    if (m && m->err && !m->err[0]) {
        char msg[200];
        vsnprintf(msg, sizeof msg, fmt, ap);
        snprintf(m->err, m->errlen, "TIFF: %s", msg);
    }
    return 1; /* handled: nothing reaches stderr */
}

static int tif__on_warning(TIFF *t, void *ud, const char *module, const char *fmt, va_list ap)
{
    (void)t;
    (void)ud;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

static TIFF *tif__open(tif__mem *m, const char *mode)
{
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o)
        return NULL;
    /* no single allocation above the largest image's buffer */
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)XRAY_MAX_PIXELS * 2);
    TIFFOpenOptionsSetErrorHandlerExtR(o, tif__on_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(o, tif__on_warning, m);
    TIFF *t = TIFFClientOpenExt("scan", mode, m, tif__read, tif__write, tif__seek, tif__close,
                                tif__size, tif__map, tif__unmap, o);
    TIFFOpenOptionsFree(o);
    return t;
}

/* Copies a decoded block (strip or tile) of bw × bh samples at (x0, y0). */
static void tif__blit(xray_image *im, const uint8_t *blk, uint32_t bw, uint32_t bh, uint32_t x0,
                      uint32_t y0, int bits)
{
    for (uint32_t y = 0; y < bh && y0 + y < im->h; y++) {
        uint16_t *dst = im->px + (size_t)(y0 + y) * im->w + x0;
        uint32_t n = bw < im->w - x0 ? bw : im->w - x0;
        if (bits == 16) {
            memcpy(dst, blk + (size_t)y * bw * 2, (size_t)n * 2);
        } else {
            const uint8_t *s = blk + (size_t)y * bw;
            for (uint32_t x = 0; x < n; x++)
                dst[x] = s[x];
        }
    }
}

static cx_err tif__pixels(TIFF *t, xray_image *im, int bits, char *err, size_t errlen)
{
    size_t bps = (size_t)bits / 8;
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        if (!tw || !th || (uint64_t)tw * th > XRAY_MAX_PIXELS) {
            snprintf(err, errlen, "TIFF: tiles of %ux%u are not acceptable", tw, th);
            return CX_EPARSE;
        }
        tmsize_t need = (tmsize_t)((size_t)tw * th * bps);
        uint8_t *blk = malloc((size_t)need);
        if (!blk)
            return CX_ENOMEM;
        for (uint32_t y = 0; y < im->h; y += th)
            for (uint32_t x = 0; x < im->w; x += tw) {
                ttile_t k = TIFFComputeTile(t, x, y, 0, 0);
                if (TIFFReadEncodedTile(t, k, blk, need) != need) {
                    free(blk);
                    if (!err[0])
                        snprintf(err, errlen, "TIFF: tile %u is truncated or corrupt", k);
                    return CX_EPARSE;
                }
                tif__blit(im, blk, tw, th, x, y, bits);
            }
        free(blk);
        return CX_OK;
    }
    uint32_t rps = im->h;
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > im->h)
        rps = im->h;
    uint8_t *blk = malloc((size_t)rps * im->w * bps);
    if (!blk)
        return CX_ENOMEM;
    for (uint32_t y = 0; y < im->h; y += rps) {
        uint32_t rows = rps < im->h - y ? rps : im->h - y;
        tmsize_t need = (tmsize_t)((size_t)rows * im->w * bps);
        tstrip_t s = TIFFComputeStrip(t, y, 0);
        if (TIFFReadEncodedStrip(t, s, blk, need) != need) {
            free(blk);
            if (!err[0])
                snprintf(err, errlen, "TIFF: strip %u is truncated or corrupt", s);
            return CX_EPARSE;
        }
        tif__blit(im, blk, im->w, rows, 0, y, bits);
    }
    free(blk);
    return CX_OK;
}

/* The first directory lies wholly inside the file (libtiff forgives a
 * missing tail; a cut file is still cut). */
static bool tif__directory_complete(TIFF *t, const uint8_t *d, size_t len)
{
    uint64_t off = TIFFCurrentDirOffset(t);
    int width = TIFFIsBigTIFF(t) ? 8 : 2; /* bytes of the entry count */
    if (len < 8 || off + (uint64_t)width > len)
        return false;
    bool little = d[0] == 'I';
    uint64_t n = 0;
    for (int i = 0; i < width; i++)
        n |= (uint64_t)d[off + (uint64_t)(little ? i : width - 1 - i)] << (8 * i);
    uint64_t size = width == 8 ? 8 + 20 * n + 8 : 2 + 12 * n + 4;
    return n > 0 && n < 4096 && off + size <= len;
}

cx_err xray__tiff_read(const uint8_t *data, size_t len, xray_image **out, char *err,
                       size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    tif__mem m = {.d = data, .len = len, .err = err, .errlen = errlen};
    TIFF *t = tif__open(&m, "rm");
    if (!t) {
        if (!err[0])
            snprintf(err, errlen, "TIFF: not a readable TIFF file");
        return CX_EPARSE;
    }
    uint32_t w = 0, h = 0;
    uint16_t spp = 1, bits = 0, fmt = SAMPLEFORMAT_UINT, photo = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    bool have_photo = TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo) == 1;
    cx_err e = CX_EPARSE;
    xray_image *im = NULL;
    if (spp != 1 || (have_photo && photo != PHOTOMETRIC_MINISBLACK))
        snprintf(err, errlen, "TIFF: the image must be grayscale, one sample per pixel, "
                              "black is zero (MinIsBlack)");
    else if ((bits != 8 && bits != 16) || fmt != SAMPLEFORMAT_UINT)
        snprintf(err, errlen, "TIFF: samples must be unsigned integers of 8 or 16 bits");
    else if (!tif__directory_complete(t, data, len))
        snprintf(err, errlen, "TIFF: the file is truncated");
    else if (!xray_dims_ok(w, h))
        snprintf(err, errlen, "TIFF: %ux%u pixels is over the limit (%u per side, %u in all)", w,
                 h, XRAY_MAX_DIM, XRAY_MAX_PIXELS);
    else if (!(im = xray_image_new(w, h)))
        e = CX_ENOMEM;
    else
        e = tif__pixels(t, im, bits, err, errlen);
    TIFFClose(t);
    if (e != CX_OK) {
        xray_image_free(im);
        return e;
    }
    im->bits = bits;
    *out = im;
    return CX_OK;
}

cx_err xray_tiff_encode(const xray_image *im, cx_buf *out)
{
    if (!im)
        return CX_EINVAL;
    char err[200] = "";
    tif__mem m = {.out = out, .err = err, .errlen = sizeof err};
    TIFF *t = tif__open(&m, "w");
    if (!t)
        return CX_EIO;
    uint32_t rps = (uint32_t)(65536 / ((size_t)im->w * 2)) + 1;
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, im->w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, im->h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
    TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rps);
    cx_err e = CX_OK;
    uint16_t *row = malloc((size_t)im->w * 2);
    if (!row)
        e = CX_ENOMEM;
    for (uint32_t y = 0; e == CX_OK && y < im->h; y++) {
        /* the predictor works in place: hand libtiff a copy */
        memcpy(row, im->px + (size_t)y * im->w, (size_t)im->w * 2);
        if (TIFFWriteScanline(t, row, y, 0) != 1)
            e = m.failed ? CX_ETOOBIG : CX_EIO;
    }
    free(row);
    TIFFClose(t); /* writes the directory */
    if (e == CX_OK && m.failed)
        e = CX_ETOOBIG;
    return e;
}
