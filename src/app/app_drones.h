/* The drones command's internals shared by its files in src/app (the
 * simulator lives here, not in the library). */
#ifndef CUSTOMS_APP_DRONES_H
#define CUSTOMS_APP_DRONES_H

#include "drones.h"

#endif
