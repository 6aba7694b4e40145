#include "core.h"

#include <string.h>

static const char *const role_names[CX_ROLE__COUNT] = {
    [CX_ROLE_NONE] = "none",       [CX_ROLE_ADMIN] = "admin", [CX_ROLE_OFFICER] = "officer",
    [CX_ROLE_TRADER] = "trader",   [CX_ROLE_CARRIER] = "carrier",
    [CX_ROLE_BANK] = "bank",       [CX_ROLE_DEVICE] = "device",
};

const char *cx_role_name(cx_role r)
{
    return (unsigned)r < CX_ROLE__COUNT ? role_names[r] : "none";
}

bool cx_role_parse(const char *s, cx_role *out)
{
    for (int r = CX_ROLE_ADMIN; r < CX_ROLE__COUNT; r++) {
        if (s && strcmp(s, role_names[r]) == 0) {
            *out = (cx_role)r;
            return true;
        }
    }
    return false;
}

static bool role__name_valid(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr(extra, c)))
            return false;
    }
    return true;
}

bool cx_org_valid(const char *s)
{
    return role__name_valid(s, CX_ORG_MAX, "._-");
}

bool cx_subject_valid(const char *s)
{
    return role__name_valid(s, CX_SUBJECT_MAX, "._:-@");
}
