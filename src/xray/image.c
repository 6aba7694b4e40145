/* Images: allocation within limits, format sniffing, reading files. */
#include "xray_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool xray_dims_ok(uint64_t w, uint64_t h)
{
    return w > 0 && h > 0 && w <= XRAY_MAX_DIM && h <= XRAY_MAX_DIM &&
           w * h <= XRAY_MAX_PIXELS;
}

xray_image *xray_image_new(uint32_t w, uint32_t h)
{
    if (!xray_dims_ok(w, h))
        return NULL;
    xray_image *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->px = calloc((size_t)w * h, sizeof *im->px);
    if (!im->px) {
        free(im);
        return NULL;
    }
    im->w = w;
    im->h = h;
    im->bits = 16;
    return im;
}

void xray_image_free(xray_image *im)
{
    if (!im)
        return;
    free(im->px);
    free(im);
}

xray_format xray_sniff(const uint8_t *d, size_t len)
{
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(d, png, 8) == 0)
        return XRAY_FMT_PNG;
    if (len >= 4 && ((d[0] == 'I' && d[1] == 'I' && (d[2] == 42 || d[2] == 43) && d[3] == 0) ||
                     (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && (d[3] == 42 || d[3] == 43))))
        return XRAY_FMT_TIFF;
    if (len >= 132 && memcmp(d + 128, "DICM", 4) == 0)
        return XRAY_FMT_DICOS;
    return XRAY_FMT_UNKNOWN;
}

const char *xray_format_name(xray_format f)
{
    switch (f) {
    case XRAY_FMT_PNG: return "png";
    case XRAY_FMT_TIFF: return "tiff";
    case XRAY_FMT_DICOS: return "dicos";
    default: return "unknown";
    }
}

cx_err xray_read(const uint8_t *data, size_t len, xray_image **out, json_t **dicos_meta,
                 char *err, size_t errlen)
{
    *out = NULL;
    if (dicos_meta)
        *dicos_meta = NULL;
    if (len > XRAY_MAX_FILE) {
        snprintf(err, errlen, "the file is larger than %zu MiB", XRAY_MAX_FILE >> 20);
        return CX_ETOOBIG;
    }
    switch (xray_sniff(data, len)) {
    case XRAY_FMT_PNG: return xray__png_read(data, len, out, err, errlen);
    case XRAY_FMT_TIFF: return xray__tiff_read(data, len, out, err, errlen);
    case XRAY_FMT_DICOS: return xray__dicos_read(data, len, out, dicos_meta, err, errlen);
    default:
        snprintf(err, errlen, "not a PNG, TIFF or DICOS file (unknown signature)");
        return CX_EPARSE;
    }
}

cx_err xray_file_load(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CX_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return CX_EIO;
    }
    if ((uint64_t)st.st_size > XRAY_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %zu MiB", path, XRAY_MAX_FILE >> 20);
        fclose(f);
        return CX_ETOOBIG;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return CX_ENOMEM;
    }
    if (fread(buf, 1, n, f) != n) {
        snprintf(err, errlen, "%s: read error", path);
        free(buf);
        fclose(f);
        return CX_EIO;
    }
    fclose(f);
    *data = buf;
    *len = n;
    return CX_OK;
}
