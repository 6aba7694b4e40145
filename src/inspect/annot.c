/* An expert's annotation on a frame, or a chat line: checked whole, every
 * problem named by JSON Pointer. Shapes are in the frame's own pixels, so
 * the officer's page draws them where they were drawn whatever its size. */
#include "inspect_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool annot__num(const json_t *shape, const char *key, const char *path, double *out,
                       json_t *problems)
{
    const json_t *v = json_object_get(shape, key);
    char p[96];
    snprintf(p, sizeof p, "%s/%s", path, key);
    if (!v) {
        cx_problem_add(problems, p, "is required");
        return false;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        cx_problem_add(problems, p, "must be a number of pixels");
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static void annot__shape(const json_t *s, const char *path, unsigned width, unsigned height,
                         json_t *problems)
{
    if (!json_is_object(s)) {
        cx_problem_add(problems, path, "must be an object");
        return;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        if (strcmp(k, "kind") && strcmp(k, "x") && strcmp(k, "y") && strcmp(k, "w") &&
            strcmp(k, "h")) {
            char p[160];
            snprintf(p, sizeof p, "%s", path);
            cx_jptr_push(p, sizeof p, k);
            cx_problem_add(problems, p, "unknown field");
        }
    }
    const char *kind = json_string_value(json_object_get(s, "kind"));
    bool box = kind && strcmp(kind, "box") == 0, arrow = kind && strcmp(kind, "arrow") == 0;
    if (!box && !arrow) {
        char p[96];
        snprintf(p, sizeof p, "%s/kind", path);
        cx_problem_add(problems, p, "must be \"box\" or \"arrow\"");
    }
    double x = 0, y = 0, w = 0, h = 0; /* GCC 12 -O2 cannot see annot__num sets each when ok */
    bool ok = annot__num(s, "x", path, &x, problems);
    ok = annot__num(s, "y", path, &y, problems) && ok;
    ok = annot__num(s, "w", path, &w, problems) && ok;
    ok = annot__num(s, "h", path, &h, problems) && ok;
    if (!ok || (!box && !arrow))
        return;
    if (box && (w <= 0 || h <= 0)) {
        cx_problem_add(problems, path, "a box needs w and h greater than 0");
        return;
    }
    /* both corners of a box, both ends of an arrow, inside the frame */
    if (x < 0 || y < 0 || x > width || y > height || x + w < 0 || y + h < 0 ||
        x + w > width || y + h > height)
        cx_problem_add(problems, path, "lies outside the frame (%ux%u pixels)", width, height);
}

static bool annot__text(const json_t *body, bool required, json_t *problems)
{
    const json_t *t = json_object_get(body, "text");
    if (!t) {
        if (required)
            cx_problem_add(problems, "/text", "is required");
        return false;
    }
    size_t chars = 0;
    if (!json_is_string(t) || !json_string_length(t) ||
        !cx_utf8_count(json_string_value(t), json_string_length(t), &chars) ||
        chars > INSPECT_TEXT_MAX)
        cx_problem_add(problems, "/text", "must be a string of 1 to %d characters",
                       INSPECT_TEXT_MAX);
    return true;
}

bool inspect_annotation_check(const json_t *body, unsigned width, unsigned height, bool *chat,
                              json_t *problems)
{
    size_t before = json_array_size(problems);
    *chat = false;
    if (!json_is_object(body)) {
        cx_problem_add(problems, "", "must be an object");
        return false;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        if (strcmp(k, "frame") && strcmp(k, "shapes") && strcmp(k, "text")) {
            char p[160] = "";
            cx_jptr_push(p, sizeof p, k);
            cx_problem_add(problems, p, "unknown field");
        }
    }
    const json_t *frame = json_object_get(body, "frame"), *shapes = json_object_get(body, "shapes");
    if (!frame && !shapes) { /* a chat line: {"text"} alone */
        *chat = true;
        annot__text(body, true, problems);
        return json_array_size(problems) == before;
    }
    if (!frame)
        cx_problem_add(problems, "/frame", "is required with shapes");
    else if (!json_is_integer(frame) || json_integer_value(frame) < 1)
        cx_problem_add(problems, "/frame", "must be a frame number (1 or more)");
    if (!shapes)
        cx_problem_add(problems, "/shapes", "is required");
    else if (!json_is_array(shapes) || !json_array_size(shapes) ||
             json_array_size(shapes) > INSPECT_SHAPES_MAX)
        cx_problem_add(problems, "/shapes", "must be an array of 1 to %d shapes",
                       INSPECT_SHAPES_MAX);
    else {
        size_t i;
        json_array_foreach(shapes, i, v)
        {
            char p[64];
            snprintf(p, sizeof p, "/shapes/%zu", i);
            annot__shape(v, p, width, height, problems);
        }
    }
    annot__text(body, false, problems);
    return json_array_size(problems) == before;
}
