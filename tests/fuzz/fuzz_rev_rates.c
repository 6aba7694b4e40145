/* Fuzz target: the revenue module's rates CSV importer (fuzz_rev_csv.h). */
#define FUZZ_REV_KIND REV_IMPORT_RATES
#include "fuzz_rev_csv.h"
