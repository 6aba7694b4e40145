/* Fuzz target: the revenue module's tariff CSV importer (fuzz_rev_csv.h). */
#define FUZZ_REV_KIND REV_IMPORT_TARIFF
#include "fuzz_rev_csv.h"
