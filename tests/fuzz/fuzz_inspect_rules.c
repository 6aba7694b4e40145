/* The guide's rules (data/inspection/guide.json) and the steps they build:
 * any text is refused with problems or parsed; a parsed one builds steps
 * for a fixed declaration without crashing. */
#include "inspect.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *problems = json_array();
    inspect_rules *r = inspect_rules_parse((const char *)data, size, problems);
    if (r) {
        json_t *decl = json_loads("{\"type\":\"import\",\"items\":[{\"hs_code\":\"240220\"}]}",
                                  0, NULL);
        json_t *risk = json_loads("{\"reasons\":[{\"feature\":\"ledger.x\",\"contribution\":1,"
                                  "\"detail\":\"d\"}]}", 0, NULL);
        json_t *regions = json_loads("[{\"kind\":\"dense_object\",\"from_door_m\":2}]", 0, NULL);
        json_decref(inspect_guide_steps(r, decl, risk, regions));
        json_decref(decl);
        json_decref(risk);
        json_decref(regions);
        inspect_rules_free(r);
    }
    json_decref(problems);
    return 0;
}
