/* Fuzz target: face descriptors ({"model","vector"}) as the API reads them.
 * Properties: no crash or leak; every refusal names a field; an accepted
 * vector is unit length and survives packing for storage unchanged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (!j)
        return 0;
    json_t *problems = json_array();
    bio_face f;
    cx_err e = bio_face_from_json(j, "/descriptor", &f, problems);
    if (e != CX_OK && json_array_size(problems) == 0 && e != CX_ENOMEM)
        abort();
    if (e == CX_OK) {
        double ss = 0;
        for (size_t i = 0; i < f.dim; i++)
            ss += (double)f.v[i] * f.v[i];
        if (fabs(ss - 1) > 1e-3 || !bio_face_model_valid(f.model))
            abort();
        size_t n;
        void *packed = bio_face_pack(&f, &n);
        bio_face g;
        if (!packed || bio_face_unpack(f.model, packed, n, &g) != CX_OK ||
            fabs(bio_face_cosine(&f, &g) - 1) > 1e-3)
            abort();
        free(packed);
        free(g.v);
        free(f.v);
    }
    json_decref(problems);
    json_decref(j);
    return 0;
}
