#include "core.h"

#include <stdlib.h>
#include <sys/stat.h>

#ifndef CUSTOMS_SOURCE_DATA_DIR
#define CUSTOMS_SOURCE_DATA_DIR "data"
#endif

const char *cx_data_dir(void)
{
    const char *env = getenv("CUSTOMS_DATA_DIR");
    if (env && *env)
        return env;
    struct stat st;
    if (stat(CUSTOMS_SOURCE_DATA_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return CUSTOMS_SOURCE_DATA_DIR;
    return "/usr/share/customs";
}
