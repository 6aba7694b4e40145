/* Fuzz target: the revenue module's preferences CSV importer (fuzz_rev_csv.h). */
#define FUZZ_REV_KIND REV_IMPORT_PREFERENCES
#include "fuzz_rev_csv.h"
