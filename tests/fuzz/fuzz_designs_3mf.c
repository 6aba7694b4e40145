/* Fuzz target: the 3MF reader. An input starting with "PK" is a whole
 * archive (libzip's checks, the inflation limits); any other input is the
 * model XML, stored in a fresh archive so that mutations reach the XML
 * (elements, attributes, components, units, entities) instead of dying on
 * a CRC. */
#include <zip.h>

#include "fuzz_designs_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rels[] =
    "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/"
    "2006/relationships\"><Relationship Target=\"/3D/3dmodel.model\" Id=\"r0\" "
    "Type=\"http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel\"/></Relationships>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        fuzz_designs_read(data, size, "fuzz.3mf");
        return 0;
    }
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!za) {
        zip_source_free(src);
        zip_error_fini(&ze);
        return 0;
    }
    zip_source_keep(src);
    zip_source_t *a = zip_source_buffer(za, rels, sizeof rels - 1, 0);
    zip_file_add(za, "_rels/.rels", a, 0);
    zip_source_t *b = zip_source_buffer(za, data, size, 0);
    zip_int64_t i = zip_file_add(za, "3D/3dmodel.model", b, 0);
    if (i >= 0)
        zip_set_file_compression(za, (zip_uint64_t)i, ZIP_CM_STORE, 0);
    zip_stat_t st;
    if (zip_close(za) == 0 && zip_source_open(src) == 0 && zip_source_stat(src, &st) == 0) {
        uint8_t *buf = malloc(st.size + 1);
        zip_int64_t n = buf ? zip_source_read(src, buf, st.size) : -1;
        if (n > 0)
            fuzz_designs_read(buf, (size_t)n, "fuzz.3mf");
        free(buf);
        zip_source_close(src);
    }
    zip_source_free(src);
    zip_error_fini(&ze);
    return 0;
}
