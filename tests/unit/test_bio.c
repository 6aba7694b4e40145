/* Unit tests of the bio module's templates: every sample record of the
 * standards against FingerprintIO's decoding of it (the JSON beside each
 * file), the strict mode's named problems, the permissive mode's quirks,
 * truncation at every length, units and the angle convention; and the
 * error-rate arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bio.h"

static uint8_t *slurp(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/biometrics/%s", cx_data_dir(), rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static json_t *expected(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/biometrics/%s", cx_data_dir(), rel);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("%s: %s", path, e.text);
    return j;
}

static unsigned code_of(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return (unsigned)i;
    fail_msg("unknown name %s", name);
    return 0;
}

static const char *const positions[] = {"UNKNOWN",    "RIGHT_THUMB", "RIGHT_INDEX", "RIGHT_MIDDLE",
                                        "RIGHT_RING", "RIGHT_LITTLE", "LEFT_THUMB", "LEFT_INDEX",
                                        "LEFT_MIDDLE", "LEFT_RING",  "LEFT_LITTLE"};

static unsigned minutia_type(const char *name)
{
    if (!strcmp(name, "OTHER") || !strcmp(name, "EITHER"))
        return BIO_MIN_OTHER;
    return !strcmp(name, "ENDING") ? BIO_MIN_ENDING : BIO_MIN_BIFURCATION;
}

static int int_of(const json_t *o, const char *key, const json_t *fallback)
{
    const json_t *v = json_object_get(o, key);
    if (!v && fallback)
        v = json_object_get(fallback, key);
    if (!json_is_integer(v))
        fail_msg("expected JSON has no integer %s", key);
    return (int)json_integer_value(v);
}

/* The parse agrees with FingerprintIO's decoding field by field. */
static void agrees(const bio_template *t, const json_t *exp)
{
    const json_t *fps = json_object_get(exp, "fingerprints");
    assert_int_equal(bio_template_nviews(t), json_array_size(fps));
    for (size_t i = 0; i < json_array_size(fps); i++) {
        const json_t *fp = json_array_get(fps, i);
        const bio_view *v = bio_template_view(t, i);
        assert_int_equal(v->position,
                         code_of(json_string_value(json_object_get(fp, "position")), positions,
                                 11));
        assert_int_equal(v->view, int_of(fp, "view", NULL));
        assert_string_equal(json_string_value(json_object_get(fp, "scanType")), "LIVE_PLAIN");
        assert_int_equal(v->impression, 0);
        const json_t *q = json_object_get(fp, "quality");
        if (!q) /* ISO 2011: the first quality record */
            q = json_object_get(json_array_get(json_object_get(fp, "qrecords"), 0), "quality");
        assert_int_equal(v->quality, json_integer_value(q));
        /* image size and resolution: per view (2009, 2011) or per record */
        assert_int_equal(v->width, int_of(fp, "width", exp));
        assert_int_equal(v->height, int_of(fp, "height", exp));
        assert_int_equal(v->res_x, int_of(fp, "resolutionX", exp));
        assert_int_equal(v->res_y, int_of(fp, "resolutionY", exp));
        const json_t *ms = json_object_get(fp, "minutiae");
        assert_int_equal(v->nminutiae, json_array_size(ms));
        for (size_t k = 0; k < v->nminutiae; k++) {
            const json_t *m = json_array_get(ms, k);
            const bio_minutia *bm = &v->minutiae[k];
            assert_int_equal(bm->type, minutia_type(json_string_value(json_object_get(m, "type"))));
            assert_int_equal(bm->x, int_of(m, "positionX", NULL));
            assert_int_equal(bm->y, int_of(m, "positionY", NULL));
            assert_int_equal(bm->angle_raw, int_of(m, "angle", NULL));
            assert_int_equal(bm->quality, int_of(m, "quality", NULL));
        }
        const json_t *counts = json_object_get(fp, "counts");
        const json_t *edges = json_object_get(counts, "edges");
        assert_int_equal(v->ncounts, json_array_size(edges));
        if (json_is_object(counts))
            assert_int_equal(v->count_method, 1); /* QUADRANTS in every sample */
        for (size_t k = 0; k < v->ncounts; k++) {
            const json_t *e = json_array_get(edges, k);
            assert_int_equal(v->counts[k].from, int_of(e, "from", NULL));
            assert_int_equal(v->counts[k].to, int_of(e, "to", NULL));
            assert_int_equal(v->counts[k].count, int_of(e, "count", NULL));
        }
        assert_true(json_is_null(json_object_get(fp, "coredelta")));
        assert_int_equal(v->ncores + v->ndeltas, 0);
        const json_t *ext = json_object_get(fp, "extensions");
        assert_int_equal(v->nextensions, json_array_size(ext));
        for (size_t k = 0; k < v->nextensions; k++) {
            const json_t *x = json_array_get(ext, k);
            assert_int_equal(v->extensions[k].type, int_of(x, "type", NULL));
            uint8_t data[256];
            size_t n;
            const char *b64 = json_string_value(json_object_get(x, "data"));
            assert_int_equal(sodium_base642bin(data, sizeof data, b64, strlen(b64), NULL, &n,
                                               NULL, sodium_base64_VARIANT_ORIGINAL),
                             0);
            assert_int_equal(v->extensions[k].len, n);
            assert_memory_equal(v->extensions[k].data, data, n);
        }
    }
}

static bool named(const bio_problems *pr, const char *needle, bool *fatal)
{
    for (size_t i = 0; i < pr->count && i < BIO_PROBLEMS_MAX; i++)
        if (strstr(pr->items[i].rule, needle)) {
            if (fatal)
                *fatal = pr->items[i].fatal;
            return true;
        }
    return false;
}

typedef struct {
    const char *file, *json;
    bio_format format;
    bool strict_ok;
    const char *problems[4]; /* what strict mode must name */
} sample;

static const sample samples[] = {
    {"iso19794p2v2005-sample.dat", "iso19794p2v2005-sample.json", BIO_FMT_ISO2005, true, {0}},
    {"ansi378v2009am1-sample.dat", "ansi378v2009am1-sample.json", BIO_FMT_ANSI2009AM1, true,
     {0}},
    {"ansi378v2004-sample.dat",
     "ansi378v2004-sample.json",
     BIO_FMT_ANSI2004,
     false,
     {"version \"020\" is a typo", "angle 213 is not 0..179",
      "after its last (from, to, count) triple", "says 340 bytes but the record is 342"}},
    {"ansi378v2009-sample.dat",
     "ansi378v2009-sample.json",
     BIO_FMT_ANSI2009,
     false,
     {"says 363 bytes but the record is 364"}},
    {"iso19794p2v2011-sample.dat",
     "iso19794p2v2011-sample.json",
     BIO_FMT_ISO2011,
     false,
     {"finger 2 has 1 view, numbered from 0, but this is view 1"}},
};

static void test_spec_samples(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        const sample *sm = &samples[s];
        char rel[256];
        snprintf(rel, sizeof rel, "fingerprintio-spec-samples/%s", sm->file);
        size_t len;
        uint8_t *buf = slurp(rel, &len);
        bio_template *t = NULL;
        bio_problems pr;
        cx_err e = bio_template_parse(buf, len, BIO_FMT_AUTO, 0, &t, &pr);
        if (sm->strict_ok) {
            if (e)
                fail_msg("%s: strict parse failed: %s", sm->file, pr.items[0].rule);
            assert_int_equal(pr.count, 0);
        } else {
            assert_int_equal(e, CX_EPARSE);
            assert_null(t);
            for (size_t k = 0; k < 4 && sm->problems[k]; k++) {
                bool fatal = true;
                if (!named(&pr, sm->problems[k], &fatal))
                    fail_msg("%s: strict mode does not name '%s'", sm->file, sm->problems[k]);
                assert_false(fatal);
            }
            e = bio_template_parse(buf, len, BIO_FMT_AUTO, BIO_PARSE_PERMISSIVE, &t, &pr);
            assert_int_equal(e, CX_OK);
            assert_true(pr.count > 0); /* the quirks are kept as warnings */
        }
        assert_int_equal(bio_template_format(t), sm->format);
        snprintf(rel, sizeof rel, "fingerprintio-spec-samples/%s", sm->json);
        json_t *exp = expected(rel);
        agrees(t, exp);
        json_decref(exp);
        /* the same bytes named explicitly parse the same way */
        bio_template *t2 = NULL;
        assert_int_equal(bio_template_parse(buf, len, sm->format, BIO_PARSE_PERMISSIVE, &t2, NULL),
                         CX_OK);
        assert_int_equal(bio_template_nminutiae(t2), bio_template_nminutiae(t));
        bio_template_free(t2);
        bio_template_free(t);
        free(buf);
    }
}

static void test_sourceafis_padding(void **state)
{
    (void)state;
    static const char *const files[] = {"sourceafis-iso/iso-probe.dat",
                                        "sourceafis-iso/iso-nonmatching.dat"};
    static const unsigned ends[] = {263, 269}, counts[] = {38, 39};
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *buf = slurp(files[i], &len);
        assert_int_equal(len, 384);
        bio_template *t = NULL;
        bio_problems pr;
        assert_int_equal(bio_template_parse(buf, len, BIO_FMT_AUTO, 0, &t, &pr), CX_EPARSE);
        /* the padding, and an extended data length that counts its header */
        assert_int_equal(pr.count, 2);
        assert_non_null(strstr(pr.items[0].rule, "counts its 4-byte header"));
        assert_int_equal(pr.items[1].offset, ends[i]);
        assert_non_null(strstr(pr.items[1].rule, "bytes of zero padding"));
        assert_int_equal(bio_template_parse(buf, len, BIO_FMT_AUTO, BIO_PARSE_PERMISSIVE, &t, &pr),
                         CX_OK);
        assert_int_equal(bio_template_format(t), BIO_FMT_ISO2005);
        assert_int_equal(bio_template_nminutiae(t), counts[i]);
        bio_template_free(t);
        /* trimmed to its length field, only the block length remains */
        assert_int_equal(bio_template_parse(buf, ends[i], BIO_FMT_AUTO, 0, &t, &pr), CX_EPARSE);
        assert_int_equal(pr.count, 1);
        /* padding that is not zeros is still named */
        buf[ends[i] + 3] = 0x55;
        assert_int_equal(bio_template_parse(buf, len, BIO_FMT_AUTO, 0, &t, &pr), CX_EPARSE);
        assert_true(named(&pr, "of other data after the record", NULL));
        free(buf);
    }
}

/* Every prefix of every sample: refused with a fatal problem, never a crash
 * or an out-of-bounds read (the ASan build checks), or accepted with the
 * record's own views intact. */
static void test_truncation(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fingerprintio-spec-samples/%s", samples[s].file);
        size_t len;
        uint8_t *buf = slurp(rel, &len);
        for (size_t n = 0; n < len; n++) {
            uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
            memcpy(copy, buf, n);
            bio_template *t = NULL;
            bio_problems pr;
            cx_err e = bio_template_parse(copy, n, BIO_FMT_AUTO, BIO_PARSE_PERMISSIVE, &t, &pr);
            if (e != CX_OK) {
                assert_null(t);
                assert_true(pr.count > 0);
            } else {
                assert_true(bio_template_nminutiae(t) <= 49);
            }
            bio_template_free(t);
            free(copy);
        }
        free(buf);
    }
}

static void test_fvc_strict(void **state)
{
    (void)state;
    static const char *const dbs[] = {"fvc2002/DB1_B", "fvc2002/DB3_B", "fvc2004/DB1_B",
                                      "fvc2004/DB3_B"};
    size_t total = 0;
    for (int d = 0; d < 4; d++)
        for (int f = 101; f <= 110; f++)
            for (int i = 1; i <= 8; i++) {
                char rel[256];
                snprintf(rel, sizeof rel, "fvc-dev/%s/%d_%d.iso", dbs[d], f, i);
                size_t len;
                uint8_t *buf = slurp(rel, &len);
                bio_template *t = NULL;
                bio_problems pr;
                if (bio_template_parse(buf, len, BIO_FMT_AUTO, 0, &t, &pr) != CX_OK)
                    fail_msg("%s: %s", rel, pr.items[0].rule);
                assert_int_equal(bio_template_format(t), BIO_FMT_ISO2005);
                total += bio_template_nminutiae(t);
                bio_template_free(t);
                free(buf);
            }
    assert_int_equal(total, 2719 + 2114 + 2511 + 3641);
}

/* ---- hand-made records: every rule, units, the angle convention ----------------------- */

/* An ISO 2005 record: one view of n minutiae (type, x, y, angle byte,
 * quality), 500 x 400 px at 197 px/cm. */
static size_t iso2005(uint8_t *out, const uint16_t (*m)[5], unsigned n)
{
    size_t len = 24 + 4 + 6 * (size_t)n + 2, p = 0;
    memcpy(out, "FMR\0 20\0", 8);
    p = 8;
    out[p++] = (uint8_t)(len >> 24);
    out[p++] = (uint8_t)(len >> 16);
    out[p++] = (uint8_t)(len >> 8);
    out[p++] = (uint8_t)len;
    static const uint8_t head[] = {0x00, 0x00, 0x01, 0xf4, 0x01, 0x90, 0x00, 0xc5,
                                   0x00, 0xc5, 0x01, 0x00};
    memcpy(out + p, head, sizeof head);
    p += sizeof head;
    out[p++] = 7; /* left index */
    out[p++] = 0;
    out[p++] = 80;
    out[p++] = (uint8_t)n;
    for (unsigned i = 0; i < n; i++) {
        out[p++] = (uint8_t)(m[i][0] << 6 | m[i][1] >> 8);
        out[p++] = (uint8_t)m[i][1];
        out[p++] = (uint8_t)(m[i][2] >> 8);
        out[p++] = (uint8_t)m[i][2];
        out[p++] = (uint8_t)m[i][3];
        out[p++] = (uint8_t)m[i][4];
    }
    out[p++] = 0;
    out[p++] = 0;
    return p;
}

static void test_units_and_rules(void **state)
{
    (void)state;
    uint8_t buf[512];
    const uint16_t ok[2][5] = {{1, 197, 394, 64, 50}, {2, 10, 20, 192, 0}};
    size_t n = iso2005(buf, ok, 2);
    bio_template *t = NULL;
    bio_problems pr;
    assert_int_equal(bio_template_parse(buf, n, BIO_FMT_AUTO, 0, &t, &pr), CX_OK);
    const bio_view *v = bio_template_view(t, 0);
    /* 197 px/cm: 197 px = 10 mm; a quarter turn is 64/256, counter-clockwise */
    assert_true(fabs(v->minutiae[0].x_mm - 10.0) < 1e-4);
    assert_true(fabs(v->minutiae[0].y_mm - 20.0) < 1e-4);
    assert_true(fabs(v->minutiae[0].angle - M_PI / 2) < 1e-6);
    assert_true(fabs(v->minutiae[1].angle - 3 * M_PI / 2) < 1e-6);
    assert_int_equal(v->minutiae[0].type, BIO_MIN_ENDING);
    assert_int_equal(v->minutiae[1].type, BIO_MIN_BIFURCATION);
    json_t *j = bio_template_json(t);
    assert_string_equal(json_string_value(json_object_get(j, "format")), "iso-19794-2:2005");
    json_decref(j);
    bio_template_free(t);

    /* every broken rule is named at its byte, all at once */
    const uint16_t bad[2][5] = {{3, 600, 20, 10, 101}, {1, 10, 450, 10, 0}};
    n = iso2005(buf, bad, 2);
    buf[25] = 9;      /* impression type 9 (contactless) is fine in 2005 ... */
    buf[23] = 1;      /* ... but the reserved byte is not */
    assert_int_equal(bio_template_parse(buf, n, BIO_FMT_AUTO, 0, &t, &pr), CX_EPARSE);
    assert_true(named(&pr, "reserved byte after the view count", NULL));
    assert_true(named(&pr, "type code 3 is reserved", NULL));
    assert_true(named(&pr, "x 600 is outside the image", NULL));
    assert_true(named(&pr, "quality 101 is not 0..100", NULL));
    assert_true(named(&pr, "y 450 is outside the image", NULL));
    assert_int_equal(pr.count, 5);
    /* permissive mode takes them as warnings */
    assert_int_equal(bio_template_parse(buf, n, BIO_FMT_AUTO, BIO_PARSE_PERMISSIVE, &t, &pr),
                     CX_OK);
    assert_int_equal(bio_template_view(t, 0)->minutiae[0].type, BIO_MIN_OTHER);
    bio_template_free(t);

    /* a count of minutiae the record cannot hold is fatal in both modes */
    n = iso2005(buf, ok, 2);
    buf[27] = 200;
    assert_int_equal(bio_template_parse(buf, n, BIO_FMT_AUTO, BIO_PARSE_PERMISSIVE, &t, &pr),
                     CX_EPARSE);
    bool fatal = false;
    assert_true(named(&pr, "200 minutiae of 6 bytes need 1200 bytes", &fatal));
    assert_true(fatal);
    /* not a record at all */
    assert_int_equal(bio_template_parse((const uint8_t *)"GIF89a..", 8, BIO_FMT_AUTO,
                                        BIO_PARSE_PERMISSIVE, &t, &pr),
                     CX_EPARSE);
    assert_true(named(&pr, "starts with \"FMR\"", NULL));
    /* asked for one family, given another */
    n = iso2005(buf, ok, 2);
    assert_int_equal(bio_template_parse(buf, n, BIO_FMT_ANSI2009, BIO_PARSE_PERMISSIVE, &t, &pr),
                     CX_EPARSE);
    assert_true(named(&pr, "does not fit ansi-378:2009", NULL));
}

static void test_ansi_angles(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = slurp("fingerprintio-spec-samples/ansi378v2009am1-sample.dat", &len);
    bio_template *t = NULL;
    assert_int_equal(bio_template_parse(buf, len, BIO_FMT_AUTO, 0, &t, NULL), CX_OK);
    /* first minutia: angle 56 in units of 2 degrees = 112 degrees */
    const bio_minutia *m = &bio_template_view(t, 0)->minutiae[0];
    assert_int_equal(m->angle_raw, 56);
    assert_true(fabs(m->angle - 112 * M_PI / 180) < 1e-6);
    bio_template_free(t);
    free(buf);
}

static void test_names(void **state)
{
    (void)state;
    for (int f = 0; f < BIO_FMT__COUNT; f++) {
        bio_format g;
        assert_true(bio_format_parse(bio_format_name((bio_format)f), &g));
        assert_int_equal(g, f);
    }
    bio_format g;
    assert_false(bio_format_parse("iso", &g));
    unsigned c;
    assert_true(bio_finger_parse("left_index", &c));
    assert_int_equal(c, 7);
    assert_false(bio_finger_parse("left_toe", &c));
    assert_null(bio_finger_name(13));
}

/* ---- error rates ----------------------------------------------------------------------- */

static void test_rates(void **state)
{
    (void)state;
    /* separable: no errors at a threshold between the sets */
    double g[] = {10, 11, 12, 13}, im[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 9.5};
    bio_rates r;
    assert_int_equal(bio_rates_compute(g, 4, im, 10, &r), CX_OK);
    assert_true(r.eer == 0 && r.fmr100 == 0 && r.fmr1000 == 0);
    assert_true(r.threshold_fmr1000 > 9.5 && r.threshold_fmr1000 <= 10);
    /* one genuine below every impostor: at FMR 0 one of four is missed */
    double g2[] = {0.5, 11, 12, 13};
    assert_int_equal(bio_rates_compute(g2, 4, im, 10, &r), CX_OK);
    assert_true(fabs(r.fmr1000 - 0.25) < 1e-12);
    assert_true(r.eer > 0 && r.eer <= 0.25);
    /* overlapping halves: EER 0.5 */
    double a[] = {1, 2}, b[] = {1, 2};
    assert_int_equal(bio_rates_compute(a, 2, b, 2, &r), CX_OK);
    assert_true(fabs(r.eer - 0.5) < 1e-12);
    assert_int_equal(bio_rates_compute(a, 0, b, 2, &r), CX_EINVAL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_samples), cmocka_unit_test(test_sourceafis_padding),
        cmocka_unit_test(test_truncation),   cmocka_unit_test(test_fvc_strict),
        cmocka_unit_test(test_units_and_rules), cmocka_unit_test(test_ansi_angles),
        cmocka_unit_test(test_names),        cmocka_unit_test(test_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
