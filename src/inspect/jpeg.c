/* What a frame or photo is: libjpeg reads its header (markers up to the
 * start of scan), so anything that is not a JPEG image is refused before it
 * is stored. */
#include "inspect_int.h"

#include <jpeglib.h>
#include <setjmp.h>
#include <stdio.h>

#define JPEG_SIDE_MAX 16384

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} jpeg__err;

static void jpeg__fail(j_common_ptr c)
{
    longjmp(((jpeg__err *)c->err)->jump, 1);
}

static void jpeg__quiet(j_common_ptr c, int level)
{
    (void)c;
    (void)level; /* warnings (corrupt data past the header) are not ours to print */
}

cx_err inspect_jpeg_probe(const void *data, size_t len, unsigned *width, unsigned *height)
{
    const unsigned char *p = data;
    /* SOI then a marker: libjpeg would otherwise say so on stderr first */
    if (len < 4 || p[0] != 0xFF || p[1] != 0xD8 || p[2] != 0xFF)
        return CX_EPARSE;
    struct jpeg_decompress_struct cinfo;
    jpeg__err jerr;
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = jpeg__fail;
    jerr.mgr.emit_message = jpeg__quiet;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return CX_EPARSE;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, p, (unsigned long)len);
    cx_err e = CX_OK;
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK)
        e = CX_EPARSE;
    else if (cinfo.image_width > JPEG_SIDE_MAX || cinfo.image_height > JPEG_SIDE_MAX)
        e = CX_ETOOBIG;
    else if (!cinfo.image_width || !cinfo.image_height)
        e = CX_EPARSE;
    *width = cinfo.image_width;
    *height = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    return e;
}
