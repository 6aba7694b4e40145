/* Fuzz target: an XGBoost JSON model as risk_trees_load reads it (a model
 * file given to `customs risk import`, or the registry), then probabilities
 * and SHAP values of rows that are missing, zero and extreme. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzzkit.h"
#include "risk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    risk_trees *t = NULL;
    if (risk_trees_load((const char *)data, size, &t) != CX_OK)
        return 0;
    float x[3 * RISK_NFEATURES], p[3], c[RISK_NFEATURES + 1];
    for (int f = 0; f < RISK_NFEATURES; f++) {
        x[f] = NAN;
        x[RISK_NFEATURES + f] = 0;
        x[2 * RISK_NFEATURES + f] = f % 2 ? 1e30f : -1e30f;
    }
    risk_trees_predict(t, x, 3, p);
    for (int r = 0; r < 3; r++)
        risk_trees_explain(t, x + r * RISK_NFEATURES, c);
    risk_trees_free(t);
    return 0;
}
