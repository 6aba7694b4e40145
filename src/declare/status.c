/* The statuses a declaration can have, in one list for every module that
 * filters by status (the risk queue) so that an unknown value is refused
 * rather than matching nothing. */
#include "declare.h"

#include <string.h>

const char *const decl_statuses[] = {"submitted", "held", "released", "refused", "historical",
                                     NULL};

bool decl_status_known(const char *status)
{
    for (const char *const *s = decl_statuses; status && *s; s++)
        if (strcmp(*s, status) == 0)
            return true;
    return false;
}
