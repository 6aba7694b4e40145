/* Fuzz target: a model's feature tables as read from a model file or the
 * registry (risk_tables_from_json), then used to score one declaration. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"
#include "risk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_refdata();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (!j)
        return 0;
    risk_tables *t = NULL;
    char err[512];
    if (risk_tables_from_json(j, &t, err, sizeof err) == CX_OK) {
        risk_case c = {.reference = "R", .office = "40", .importer = "IMP", .declarant = "DCL",
                       .seller = "", .courier = "", .hs6 = "690722", .origin = "CN",
                       .departure = "CN", .tax_type = "A", .transport = "10", .tax_rate = 8,
                       .mass = 100, .value = 5000, .label = -1};
        float x[RISK_NFEATURES];
        risk_feature_info info;
        risk_features_score(t, &c, x, &info);
        c.value = NAN;
        risk_features_score(t, &c, x, NULL);
        json_t *back = risk_tables_to_json(t);
        json_decref(back);
        risk_tables_free(t);
    }
    json_decref(j);
    return 0;
}
