/* Fuzz target: the revenue module's groups CSV importer (fuzz_rev_csv.h). */
#define FUZZ_REV_KIND REV_IMPORT_GROUPS
#include "fuzz_rev_csv.h"
