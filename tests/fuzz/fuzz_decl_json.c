/* Fuzz target: the JSON declaration decoder and validator. Properties: no
 * crash, no leak, and a declaration that validates still validates after a
 * round trip through the stored text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_refdata();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[200];
    json_t *doc = decl_parse((const char *)data, size, msg, sizeof msg);
    if (!doc)
        return 0;
    json_t *problems = json_array();
    bool ok = decl_validate(doc, problems);
    if (ok != (json_array_size(problems) == 0))
        abort();
    if (ok) {
        size_t len;
        char *text = cx_json_dump(doc, &len);
        json_t *again = decl_parse(text, len, msg, sizeof msg);
        json_t *p2 = json_array();
        if (!again || !decl_validate(again, p2) || !json_equal(doc, again))
            abort();
        json_decref(p2);
        json_decref(again);
        free(text);
    }
    json_decref(problems);
    json_decref(doc);
    return 0;
}
