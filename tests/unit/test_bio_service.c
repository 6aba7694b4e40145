/* Unit tests of the bio module's sealing, face vectors and service: key
 * files, wrapped data keys, sealed templates bound to their subject; a
 * database that holds no template bytes; erasure that leaves neither the
 * ciphertext's key nor the rows; the append-only audit and its digest; the
 * verification gate; expiry on the settable clock. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "bio.h"

static char dir[256];

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/customs-test-bio-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *slurp_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *len = 0;
        return calloc(1, 1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static uint8_t *template_bytes(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/biometrics/fvc-dev/%s", cx_data_dir(), rel);
    return slurp_path(path, len);
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* The database file and its WAL hold these bytes anywhere. */
static bool on_disk(const char *db, const uint8_t *needle, size_t m)
{
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", db);
    size_t n1, n2;
    uint8_t *a = slurp_path(db, &n1), *b = slurp_path(wal, &n2);
    bool found = contains(a, n1, needle, m) || contains(b, n2, needle, m);
    free(a);
    free(b);
    return found;
}

/* ---- sealing --------------------------------------------------------------------- */

static void test_keys_and_seals(void **state)
{
    (void)state;
    char key[300], err[512];
    path_in(key, sizeof key, "seal.key");
    assert_int_equal(bio_key_create(key, err, sizeof err), CX_OK);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* never overwritten */
    assert_int_equal(bio_key_create(key, err, sizeof err), CX_EEXIST);
    bio_keyring *k = NULL;
    assert_int_equal(bio_key_load(key, &k, err, sizeof err), CX_OK);
    /* a key others may read is refused */
    chmod(key, 0644);
    bio_keyring *k2 = NULL;
    assert_int_equal(bio_key_load(key, &k2, err, sizeof err), CX_EFORBIDDEN);
    assert_non_null(strstr(err, "chmod 600"));
    chmod(key, 0600);
    char other[300];
    path_in(other, sizeof other, "other.key");
    assert_int_equal(bio_key_create(other, err, sizeof err), CX_OK);
    assert_int_equal(bio_key_load(other, &k2, err, sizeof err), CX_OK);
    char id1[BIO_KEY_ID_LEN + 1], id2[BIO_KEY_ID_LEN + 1];
    bio_key_id(k, id1);
    bio_key_id(k2, id2);
    assert_string_not_equal(id1, id2);

    uint8_t dk[BIO_DATA_KEY_BYTES], dk2[BIO_DATA_KEY_BYTES], w[BIO_WRAPPED_BYTES];
    assert_int_equal(bio_key_wrap_new(k, "P-1", dk, w), CX_OK);
    assert_int_equal(bio_key_unwrap(k, "P-1", w, sizeof w, dk2), CX_OK);
    assert_memory_equal(dk, dk2, sizeof dk);
    /* bound to its subject and its master key */
    assert_int_equal(bio_key_unwrap(k, "P-2", w, sizeof w, dk2), CX_ECRYPTO);
    assert_int_equal(bio_key_unwrap(k2, "P-1", w, sizeof w, dk2), CX_ECRYPTO);
    w[30] ^= 1;
    assert_int_equal(bio_key_unwrap(k, "P-1", w, sizeof w, dk2), CX_ECRYPTO);

    const char msg[] = "FMR\0 20\0 a template";
    size_t n, m;
    uint8_t *sealed = bio_seal(dk, "P-1", "T1", msg, sizeof msg, &n);
    assert_int_equal(n, sizeof msg + BIO_SEAL_OVERHEAD);
    assert_false(contains(sealed, n, (const uint8_t *)"a template", 10));
    uint8_t *plain = bio_open(dk, "P-1", "T1", sealed, n, &m);
    assert_non_null(plain);
    assert_int_equal(m, sizeof msg);
    assert_memory_equal(plain, msg, m);
    free(plain);
    /* another subject's or template's name, or one changed bit: nothing */
    assert_null(bio_open(dk, "P-2", "T1", sealed, n, &m));
    assert_null(bio_open(dk, "P-1", "T2", sealed, n, &m));
    sealed[n - 1] ^= 0x80;
    assert_null(bio_open(dk, "P-1", "T1", sealed, n, &m));
    free(sealed);
    bio_key_free(k);
    bio_key_free(k2);
}

/* ---- face vectors ---------------------------------------------------------------- */

static json_t *J(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!j)
        fail_msg("bad test JSON: %s", text);
    return j;
}

static void test_faces(void **state)
{
    (void)state;
    json_t *problems = json_array();
    bio_face f;
    json_t *j = J("{\"model\":\"faceapi-128\",\"vector\":[3,4],\"extra\":1}");
    assert_int_equal(bio_face_from_json(j, "/descriptor", &f, problems), CX_EINVAL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(problems, 0), "path")),
                        "/descriptor/extra");
    json_decref(j);
    json_array_clear(problems);
    j = J("{\"model\":\"bad model\",\"vector\":[0,0]}");
    assert_int_equal(bio_face_from_json(j, "", &f, problems), CX_EINVAL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(problems, 0), "path")),
                        "/model");
    assert_int_equal(json_array_size(problems), 2); /* and the all-zero vector */
    json_decref(j);
    json_array_clear(problems);
    j = J("{\"model\":\"m\",\"vector\":[1,\"x\"]}");
    assert_int_equal(bio_face_from_json(j, "", &f, problems), CX_EINVAL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(problems, 0), "path")),
                        "/vector/1");
    json_decref(j);
    json_array_clear(problems);
    j = J("{\"model\":\"m\",\"vector\":[3,4]}");
    assert_int_equal(bio_face_from_json(j, "", &f, problems), CX_OK);
    json_decref(j);
    assert_true(fabsf(f.v[0] - 0.6f) < 1e-6 && fabsf(f.v[1] - 0.8f) < 1e-6);
    size_t n;
    void *packed = bio_face_pack(&f, &n);
    bio_face g;
    assert_int_equal(bio_face_unpack("m", packed, n, &g), CX_OK);
    assert_true(fabs(bio_face_cosine(&f, &g) - 1) < 1e-6);
    free(packed);
    free(g.v);
    free(f.v);
    json_decref(problems);

    /* 1:N by cosine: ids best first, one per id, min score honoured */
    enum { DIM = 37, N = 500 };
    bio_faces *gal = bio_faces_new("m", DIM);
    uint32_t seed = 1;
    float v[DIM], probe[DIM];
    for (int i = 0; i < N; i++) {
        double ss = 0;
        for (int d = 0; d < DIM; d++) {
            seed = seed * 1664525u + 1013904223u;
            v[d] = (float)((double)(seed >> 8) / (1 << 24) - 0.5);
            ss += v[d] * v[d];
        }
        for (int d = 0; d < DIM; d++)
            v[d] = (float)(v[d] / sqrt(ss));
        if (i == 321)
            memcpy(probe, v, sizeof v);
        assert_int_equal(bio_faces_add(gal, (uint64_t)(i % 250), v), CX_OK);
    }
    bio_hit hits[5];
    assert_int_equal(bio_faces_search(gal, probe, 2, 5, -1, hits, &n), CX_OK);
    assert_int_equal(n, 5);
    assert_int_equal(hits[0].id, 321 % 250);
    assert_true(fabs(hits[0].score - 1) < 1e-5);
    for (size_t k = 1; k < n; k++) {
        assert_true(hits[k].score <= hits[k - 1].score);
        assert_true(hits[k].id != hits[0].id);
    }
    assert_int_equal(bio_faces_search(gal, probe, 1, 5, 0.99, hits, &n), CX_OK);
    assert_int_equal(n, 1);
    double cos;
    assert_int_equal(bio_faces_best_of(gal, 321 % 250, probe, &cos), CX_OK);
    assert_true(fabs(cos - 1) < 1e-5);
    assert_int_equal(bio_faces_remove(gal, 321 % 250), 2);
    assert_int_equal(bio_faces_size(gal), N - 2);
    assert_int_equal(bio_faces_search(gal, probe, 2, 1, -1, hits, &n), CX_OK);
    assert_true(hits[0].id != 321 % 250);
    assert_true(isfinite(bio_faces_read_all(gal, 2)));
    bio_faces_free(gal);
}

/* Face vectors after random enrolments and erasures: the same answers as a
 * gallery built from what remains, and an erasure moves only as many
 * vectors as it removes (issue 17). */
static void faces_random(uint32_t *seed, float *v, int dim)
{
    double ss = 0;
    for (int d = 0; d < dim; d++) {
        *seed = *seed * 1664525u + 1013904223u;
        v[d] = (float)((double)(*seed >> 8) / (1 << 24) - 0.5);
        ss += v[d] * v[d];
    }
    for (int d = 0; d < dim; d++)
        v[d] = (float)(v[d] / sqrt(ss));
}

static void test_faces_erase(void **state)
{
    (void)state;
    enum { DIM = 19, OPS = 600, IDS = 40 };
    static float vec[OPS][DIM];
    uint64_t ids[OPS];
    bool live[OPS];
    size_t nv = 0;
    uint32_t seed = 5;
    bio_faces *g = bio_faces_new("m", DIM);
    for (int step = 0; step < OPS; step++) {
        seed = seed * 1664525u + 1013904223u;
        uint64_t id = (seed >> 8) % IDS;
        if ((seed >> 20) % 4) {
            faces_random(&seed, vec[nv], DIM);
            assert_int_equal(bio_faces_add(g, id, vec[nv]), CX_OK);
            ids[nv] = id;
            live[nv++] = true;
        } else {
            size_t had = 0;
            for (size_t i = 0; i < nv; i++)
                if (live[i] && ids[i] == id) {
                    live[i] = false;
                    had++;
                }
            uint64_t before = bio_faces_moved(g);
            assert_int_equal(bio_faces_remove(g, id), had);
            assert_true(bio_faces_moved(g) - before <= had);
        }
        if (step % 50 != 49)
            continue;
        bio_faces *ref = bio_faces_new("m", DIM);
        for (size_t i = 0; i < nv; i++)
            if (live[i])
                assert_int_equal(bio_faces_add(ref, ids[i], vec[i]), CX_OK);
        assert_int_equal(bio_faces_size(g), bio_faces_size(ref));
        float probe[DIM];
        faces_random(&seed, probe, DIM);
        bio_hit a[6], b[6];
        size_t na, nb;
        unsigned threads = 1 + (unsigned)step % 3;
        assert_int_equal(bio_faces_search(g, probe, threads, 6, -1, a, &na), CX_OK);
        assert_int_equal(bio_faces_search(ref, probe, 1, 6, -1, b, &nb), CX_OK);
        assert_int_equal(na, nb);
        for (size_t k = 0; k < na; k++)
            assert_true(a[k].id == b[k].id && a[k].score == b[k].score);
        for (uint64_t who = 0; who < IDS; who++) {
            double ca, cb;
            cx_err e = bio_faces_best_of(g, who, probe, &ca);
            assert_int_equal(e, bio_faces_best_of(ref, who, probe, &cb));
            assert_true(e || ca == cb);
        }
        bio_faces_free(ref);
    }
    bio_faces_free(g);
}

/* ---- the service ----------------------------------------------------------------- */

typedef struct {
    store *s;
    bio_keyring *k;
    bio_service *b;
    char db[300], key[300];
} env;

static void env_open(env *e, bool fresh_key)
{
    char err[512];
    path_in(e->db, sizeof e->db, "svc.db");
    path_in(e->key, sizeof e->key, "svc.key");
    if (fresh_key)
        assert_int_equal(bio_key_create(e->key, err, sizeof err), CX_OK);
    assert_int_equal(bio_key_load(e->key, &e->k, err, sizeof err), CX_OK);
    assert_int_equal(store_open(e->db, &e->s, err, sizeof err), CX_OK);
    assert_int_equal(auth_migrate(e->s, err, sizeof err), CX_OK);
    assert_int_equal(bio_migrate(e->s, err, sizeof err), CX_OK);
    if (bio_service_new(e->s, e->k, NULL, &e->b, err, sizeof err) != CX_OK)
        fail_msg("service: %s", err);
}

static void env_close(env *e)
{
    bio_service_free(e->b);
    store_free(e->s);
    bio_key_free(e->k);
}

/* What the decision gate asks: a match in the last 12 hours. */
static bool verified_12h(store_conn *c, const char *subject)
{
    bool ok = false;
    assert_int_equal(bio_verified_since(c, subject, cx_now_us() - (int64_t)12 * 3600 * 1000000,
                                        &ok),
                     CX_OK);
    return ok;
}

static bio_features *features(const uint8_t *buf, size_t len)
{
    bio_template *t = NULL;
    assert_int_equal(bio_template_parse(buf, len, BIO_FMT_AUTO, 0, &t, NULL), CX_OK);
    bio_features *f = NULL;
    assert_int_equal(bio_features_new(t, &f), CX_OK);
    bio_template_free(t);
    return f;
}

static void test_service(void **state)
{
    (void)state;
    cx_clock_set((int64_t)1767225600 * 1000000); /* 2026-01-01 */
    env e;
    env_open(&e, true);
    json_t *problems = json_array();
    bio_subject bad = {.id = "has space", .kind = "pirate", .org = "ACME", .watchlist = "w"};
    assert_int_equal(bio_subject_create(e.b, &bad, NULL, problems), CX_EINVAL);
    assert_int_equal(json_array_size(problems), 2);
    json_array_clear(problems);
    bio_subject s1 = {.id = "P-1", .kind = "watchlist", .org = "CUSTOMS", .watchlist = "interpol",
                      .source_agency = "Immigration", .legal_basis = "MoU 2024/7",
                      .expires_us = cx_now_us() + (int64_t)86400 * 1000000 * 30};
    bio_subject s2 = {.id = "OP-7", .kind = "broker", .org = "BROKER-X",
                      .watchlist = "operators"};
    assert_int_equal(bio_subject_create(e.b, &s1, NULL, problems), CX_OK);
    assert_int_equal(bio_subject_create(e.b, &s2, NULL, problems), CX_OK);
    assert_int_equal(bio_subject_create(e.b, &s2, NULL, problems), CX_EEXIST);
    json_decref(problems);

    size_t n1, n2, n3, n4;
    uint8_t *t1 = template_bytes("fvc2002/DB1_B/104_1.iso", &n1);
    uint8_t *t2 = template_bytes("fvc2002/DB1_B/104_2.iso", &n2);
    uint8_t *probe = template_bytes("fvc2002/DB1_B/104_6.iso", &n3);
    uint8_t *op = template_bytes("fvc2002/DB1_B/105_1.iso", &n4);
    char tid[CX_ID_LEN + 1];
    bio_problems pr;
    bio_context cli = {.purpose = "test"};
    assert_int_equal(bio_enrol_template(e.b, "P-1", t1, n1, BIO_FMT_AUTO, -1, &cli, tid, &pr),
                     CX_OK);
    assert_int_equal(bio_enrol_template(e.b, "P-1", t2, n2, BIO_FMT_AUTO, -1, &cli, tid, &pr),
                     CX_OK);
    assert_int_equal(bio_enrol_template(e.b, "OP-7", op, n4, BIO_FMT_AUTO, -1, &cli, tid, &pr),
                     CX_OK);
    assert_int_equal(bio_enrol_template(e.b, "NOBODY", op, n4, BIO_FMT_AUTO, -1, &cli, tid, &pr),
                     CX_ENOTFOUND);
    /* a face descriptor too */
    bio_face face = {.model = "faceapi-128", .dim = 3};
    float fv[3] = {0.6f, 0.8f, 0};
    face.v = fv;
    assert_int_equal(bio_enrol_face(e.b, "P-1", &face, &cli, tid), CX_OK);

    /* the database holds no template bytes: the minutiae of each file */
    assert_false(on_disk(e.db, t1 + 28, 48));
    assert_false(on_disk(e.db, t2 + 28, 48));
    assert_false(on_disk(e.db, op + 28, 48));

    /* after a restart everything is decrypted again, and still found */
    env_close(&e);
    env_open(&e, false);
    bio_features *pf = features(probe, n3);
    bio_candidate c[5];
    size_t n;
    bio_probe p = {.finger = pf};
    bio_context who = {.purpose = "CASE-1"};
    assert_int_equal(bio_identify(e.b, "interpol", &p, &who, 5, 0, c, &n), CX_OK);
    assert_true(n >= 1);
    assert_string_equal(c[0].subject, "P-1");
    assert_true(c[0].score >= BIO_THRESHOLD);
    assert_string_equal(c[0].source_agency, "Immigration");
    assert_string_equal(c[0].legal_basis, "MoU 2024/7");
    assert_int_equal(bio_identify(e.b, "nowhere", &p, &who, 5, 0, c, &n), CX_ENOTFOUND);
    bio_probe fp = {.face = &face};
    assert_int_equal(bio_identify(e.b, "interpol", &fp, &who, 5, 0.5, c, &n), CX_OK);
    assert_int_equal(n, 1);

    /* verification, and the gate that asks for it */
    bool match;
    double score, thr;
    char why[200];
    store_conn *rc = store_reader(e.s);
    assert_false(verified_12h(rc, "OP-7"));
    bio_features *of = features(op, n4);
    bio_probe op_probe = {.finger = of};
    assert_int_equal(bio_verify(e.b, "OP-7", &p, &who, &match, &score, &thr, why, sizeof why),
                     CX_OK);
    assert_false(match); /* another finger */
    assert_false(verified_12h(rc, "OP-7"));
    /* a key issued to OP-7 never verifies OP-7, even an officer's */
    cx_principal self = {.key_id = 9, .role = CX_ROLE_OFFICER, .org = "CUSTOMS",
                         .subject = "OP-7"};
    bio_context sc = {.who = &self, .purpose = "x"};
    assert_int_equal(bio_verify(e.b, "OP-7", &op_probe, &sc, &match, &score, &thr, why,
                                sizeof why),
                     CX_EFORBIDDEN);
    assert_non_null(strstr(why, "cannot verify the subject it stands for"));
    assert_false(verified_12h(rc, "OP-7"));
    assert_int_equal(bio_verify(e.b, "OP-7", &op_probe, &who, &match, &score, &thr, why,
                                sizeof why),
                     CX_OK);
    assert_true(match);
    assert_true(verified_12h(rc, "OP-7"));
    /* twelve hours later the verification is stale */
    cx_clock_advance((int64_t)13 * 3600 * 1000000);
    assert_false(verified_12h(rc, "OP-7"));

    /* roles: a trader key may not verify; an unregistered device key neither */
    cx_principal trader = {.key_id = 5, .role = CX_ROLE_TRADER, .org = "BROKER-X"};
    bio_context tc = {.who = &trader, .purpose = "x"};
    assert_int_equal(bio_verify(e.b, "OP-7", &op_probe, &tc, &match, &score, &thr, why,
                                sizeof why),
                     CX_EFORBIDDEN);
    cx_principal dev = {.key_id = 6, .role = CX_ROLE_DEVICE, .org = "BROKER-X"};
    bio_context dc = {.who = &dev, .purpose = "x", .station = 6};
    assert_int_equal(bio_verify(e.b, "OP-7", &op_probe, &dc, &match, &score, &thr, why,
                                sizeof why),
                     CX_EFORBIDDEN);
    assert_non_null(strstr(why, "not registered"));

    /* the audit: every search recorded, nothing editable */
    bio_audit_query q = {.limit = 100};
    json_t *out = NULL;
    assert_int_equal(bio_audit_list(e.s, &q, &out), CX_OK);
    json_t *items = json_object_get(out, "items");
    size_t searches = 0;
    size_t i;
    json_t *rec;
    json_array_foreach(items, i, rec)
    {
        const char *a = json_string_value(json_object_get(rec, "action"));
        searches += !strcmp(a, "identify") || !strcmp(a, "verify");
    }
    /* 3 identifications (one of no watchlist), 2 verifications, 3 refused
     * (one of them a key verifying its own subject) */
    assert_int_equal(searches, 8);
    json_decref(out);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(e.db, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE bio_audit SET outcome='match'", 0, 0, 0),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM bio_audit", 0, 0, 0), SQLITE_OK);
    sqlite3_close(db);
    int64_t count;
    uint8_t root[32], root2[32];
    int y, m, d;
    cx_civil_from_days(cx_now_us() / 1000000 / 86400, &y, &m, &d);
    assert_int_equal(bio_audit_digest(e.s, y, m, d, &count, root), CX_OK);
    assert_int_equal(count, 12); /* 4 enrolments, 5 searches, 3 refusals */
    assert_int_equal(bio_audit_digest(e.s, y, m, d, &count, root2), CX_OK);
    assert_memory_equal(root, root2, 32);
    cx_civil_from_days(cx_now_us() / 1000000 / 86400 - 1, &y, &m, &d);
    assert_int_equal(bio_audit_digest(e.s, y, m, d, &count, root2), CX_OK);
    assert_int_equal(count, 0);
    uint8_t empty[32];
    crypto_hash_sha256(empty, NULL, 0);
    assert_memory_equal(root2, empty, 32); /* RFC 6962: the empty tree */

    /* erasure: rows gone, the wrapped key gone from the file, and the
     * subject no longer found */
    uint8_t wrapped[BIO_WRAPPED_BYTES];
    sqlite3 *raw = NULL;
    sqlite3_open(e.db, &raw);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(raw, "SELECT wrapped_key FROM bio_subjects WHERE id='P-1'", -1, &st, 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    memcpy(wrapped, sqlite3_column_blob(st, 0), sizeof wrapped);
    sqlite3_finalize(st);
    sqlite3_close(raw);
    assert_true(on_disk(e.db, wrapped, sizeof wrapped));
    assert_int_equal(bio_erase(e.b, "P-1", &who), CX_OK);
    assert_false(on_disk(e.db, wrapped, sizeof wrapped));
    assert_int_equal(bio_erase(e.b, "P-1", &who), CX_ENOTFOUND);
    assert_int_equal(bio_identify(e.b, "interpol", &p, &who, 5, 0, c, &n), CX_OK);
    for (size_t k = 0; k < n; k++)
        assert_string_not_equal(c[k].subject, "P-1");
    json_t *sj = NULL;
    assert_int_equal(bio_subject_json(e.b, "P-1", &sj), CX_ENOTFOUND);

    /* expiry: a subject past its date goes at the next sweep */
    bio_subject s3 = {.id = "P-3", .kind = "watchlist", .org = "CUSTOMS", .watchlist = "interpol",
                      .expires_us = cx_now_us() + 3600 * (int64_t)1000000};
    assert_int_equal(bio_subject_create(e.b, &s3, NULL, NULL), CX_OK);
    assert_int_equal(bio_enrol_template(e.b, "P-3", t1, n1, BIO_FMT_AUTO, -1, &cli, tid, &pr),
                     CX_OK);
    size_t erased;
    assert_int_equal(bio_expire(e.b, &erased), CX_OK);
    assert_int_equal(erased, 0);
    cx_clock_advance((int64_t)2 * 3600 * 1000000);
    assert_int_equal(bio_expire(e.b, &erased), CX_OK);
    assert_int_equal(erased, 1);
    assert_int_equal(bio_subject_json(e.b, "P-3", &sj), CX_ENOTFOUND);
    assert_int_equal(bio_subject_json(e.b, "OP-7", &sj), CX_OK);
    assert_int_equal(json_integer_value(json_object_get(sj, "templates")), 1);
    json_decref(sj);
    /* a subject holds a bounded number of templates */
    for (int k = 1; k < BIO_TEMPLATES_MAX; k++)
        assert_int_equal(bio_enrol_template(e.b, "OP-7", op, n4, BIO_FMT_AUTO, -1, &cli, tid, &pr),
                         CX_OK);
    assert_int_equal(bio_enrol_template(e.b, "OP-7", op, n4, BIO_FMT_AUTO, -1, &cli, tid, &pr),
                     CX_ETOOBIG);

    /* the database under another master key does not open */
    env_close(&e);
    char other[300], err[512];
    path_in(other, sizeof other, "svc-other.key");
    assert_int_equal(bio_key_create(other, err, sizeof err), CX_OK);
    bio_keyring *k2 = NULL;
    assert_int_equal(bio_key_load(other, &k2, err, sizeof err), CX_OK);
    store *s = NULL;
    assert_int_equal(store_open(e.db, &s, err, sizeof err), CX_OK);
    bio_service *b = NULL;
    assert_int_equal(bio_service_new(s, k2, NULL, &b, err, sizeof err), CX_ECRYPTO);
    assert_non_null(strstr(err, "sealed under key"));
    store_free(s);
    bio_key_free(k2);
    bio_features_free(pf);
    bio_features_free(of);
    free(t1);
    free(t2);
    free(probe);
    free(op);
    cx_clock_release();
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_seals),
        cmocka_unit_test(test_faces), cmocka_unit_test(test_faces_erase),
        cmocka_unit_test(test_service),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
