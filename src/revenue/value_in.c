/* Values in national currency for statistics: risk's features compare
 * declarations in one currency and ask here, through revenue's door, rather
 * than keeping rates of their own. */
#include "revenue_int.h"

#include <math.h>
#include <string.h>

bool rev_book_value_in(const rev_book *b, double value, const char *currency, const char *date,
                       const char *to, double *out)
{
    if (!b || !isfinite(value) || !to || strcmp(rev_book_currency(b), to) != 0)
        return false;
    if (strcmp(currency, to) == 0) {
        *out = value;
        return true;
    }
    const rev_rate *r = date ? rev_book_rate(b, currency, date) : NULL;
    if (!r)
        return false;
    *out = value * ((double)r->rate.coef / pow(10, r->rate.scale));
    return isfinite(*out);
}

bool rev_service_value_in(rev_service *r, double value, const char *currency, const char *date,
                          const char *to, double *out)
{
    if (!r || !rev_service_active(r))
        return false;
    rev_book *b = rev__book_get_lodging(r); /* risk's features, at every lodging */
    bool ok = rev_book_value_in(b, value, currency, date, to, out);
    rev__book_put(r, b);
    return ok;
}
