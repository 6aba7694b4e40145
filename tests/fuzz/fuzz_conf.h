/* One harness for the thresholds files read through core's cx_conf:
 * fuzz_track_config (track_config_*) and fuzz_drones_config
 * (drones_config_*) are this target over their own config type.
 * Properties: no crash, no leak; the result says whether there were
 * problems, each with a path and a message (a member's path names the
 * member); what is applied, whatever was refused on the way, is in range
 * and written back (T_json) applies again to the very same values; a
 * refusal of the whole input (not an object) changes nothing. */
#ifndef CUSTOMS_FUZZ_CONF_H
#define CUSTOMS_FUZZ_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzkit.h"

/* The target for config type T with T_defaults, T_apply and T_json, and
 * in_range(const T *) for what the type's fields must hold. */
#define FZ_CONF_TARGET(T, T_defaults, T_apply, T_json, in_range)                         \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                         \
    {                                                                                    \
        json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);        \
        if (!in)                                                                         \
            return 0;                                                                    \
        T c, def, again;                                                                 \
        memset(&c, 0, sizeof c); /* memcmp below: padding too */                         \
        memset(&def, 0, sizeof def);                                                     \
        memset(&again, 0, sizeof again);                                                 \
        T_defaults(&c);                                                                  \
        T_defaults(&def);                                                                \
        T_defaults(&again);                                                              \
        json_t *problems = json_array();                                                 \
        bool ok = T_apply(&c, in, problems);                                             \
        fz_problems(problems, ok, json_is_object(in) ? "/" : NULL);                      \
        json_t *back = T_json(&c);                                                       \
        if (!T_apply(&again, back, NULL) || memcmp(&again, &c, sizeof c) != 0 ||         \
            !in_range(&c) || (!json_is_object(in) && memcmp(&c, &def, sizeof c) != 0))   \
            abort();                                                                     \
        json_decref(back);                                                               \
        json_decref(problems);                                                           \
        json_decref(in);                                                                 \
        return 0;                                                                        \
    }

#endif
