/* Fuzz target: the analyses on arbitrary small images (the first bytes
 * choose the size, the sidecar's numbers and the orientation; the rest are
 * the pixels, repeated). Properties: no crash, no leak; every number
 * reported is finite or null; every region lies inside the image; the
 * empty score is a probability. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xray.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint32_t w = 16 + data[0] % 120 * 4, h = 8 + data[1] % 60 * 2;
    xray_meta m = {.pixel_mm_x = 2 + data[2] % 40, .pixel_mm_y = 2 + data[3] % 20,
                   .open_beam = 1000 + (data[4] << 8 | data[5]) % 64000,
                   .mu = 0.01 + data[6] / 2550.0, .door_right = data[7] & 1,
                   .declared_empty = (data[7] >> 1) % 3 - 1, .declared_mass_kg = NAN};
    snprintf(m.scan_id, sizeof m.scan_id, "FUZZ");
    xray_image *im = xray_image_new(w, h);
    const uint8_t *px = data + 8;
    size_t n = size - 8;
    for (size_t i = 0; n >= 2 && i < (size_t)w * h; i++)
        im->px[i] = (uint16_t)(px[(2 * i) % n] << 8 | px[(2 * i + 1) % n]);
    xray_result *r = NULL;
    if (xray_analyze(im, &m, NULL, &r) != CX_OK)
        abort();
    if (!(r->empty_score >= 0 && r->empty_score <= 1))
        abort();
    for (size_t i = 0; i < r->nregions; i++) {
        const xray_region *g = &r->regions[i];
        if (g->x < 0 || g->y < 0 || g->w <= 0 || g->h <= 0 || g->x + g->w > (int)w ||
            g->y + g->h > (int)h || !(g->score >= 0 && g->score <= 1) ||
            !isfinite(g->from_door_m) || !isfinite(g->height_m))
            abort();
    }
    json_t *j = xray_result_json(r);
    char *text = j ? json_dumps(j, 0) : NULL;
    if (!text)
        abort();
    free(text);
    json_decref(j);
    xray_result_free(r);
    xray_image_free(im);
    return 0;
}
