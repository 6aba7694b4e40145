#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "unitkit.h"

static char path[64];
static store *s;

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    uk_tmp_path(path, "auth");
    char err[256];
    if (store_open(path, &s, err, sizeof err) != CX_OK || auth_migrate(s, err, sizeof err))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    store_free(s);
    uk_rm_db(path);
    return 0;
}

/* A key issued to a person carries its subject into every principal; a key
 * without one has an empty subject; a bad subject creates nothing. */
static void test_subject(void **state)
{
    char token[AUTH_TOKEN_LEN + 1], plain[AUTH_TOKEN_LEN + 1];
    int64_t id;
    assert_int_equal(auth_key_create_subject(s, "KCS", CX_ROLE_OFFICER, "desk 4", "OP-1042",
                                             token, &id),
                     CX_OK);
    assert_int_equal(auth_key_create(s, "KCS", CX_ROLE_OFFICER, "", plain, NULL), CX_OK);
    cx_principal p;
    assert_int_equal(auth_lookup(s, token, &p), CX_OK);
    assert_string_equal(p.subject, "OP-1042");
    memset(&p, 'x', sizeof p);
    assert_int_equal(auth_key_get(s, id, &p), CX_OK);
    assert_string_equal(p.subject, "OP-1042");
    assert_int_equal(auth_lookup(s, plain, &p), CX_OK);
    assert_string_equal(p.subject, "");
    assert_int_equal(auth_key_create_subject(s, "KCS", CX_ROLE_OFFICER, "", "has space", token,
                                             NULL),
                     CX_EINVAL);
    char long_subject[CX_SUBJECT_MAX + 2];
    memset(long_subject, 'a', sizeof long_subject - 1);
    long_subject[sizeof long_subject - 1] = '\0';
    assert_int_equal(auth_key_create_subject(s, "KCS", CX_ROLE_OFFICER, "", long_subject, token,
                                             NULL),
                     CX_EINVAL);
}

static void test_create_lookup_revoke(void **state)
{
    char token[AUTH_TOKEN_LEN + 1];
    int64_t id;
    assert_int_equal(auth_key_create(s, "ACME", CX_ROLE_TRADER, "erp", token, &id), CX_OK);
    assert_int_equal(strlen(token), AUTH_TOKEN_LEN);
    assert_int_equal(strncmp(token, "cst_", 4), 0);
    cx_principal p;
    assert_int_equal(auth_lookup(s, token, &p), CX_OK);
    assert_string_equal(p.org, "ACME");
    assert_int_equal(p.role, CX_ROLE_TRADER);
    assert_int_equal(p.key_id, id);

    /* one character off, wrong length, wrong prefix: all refused */
    char bad[AUTH_TOKEN_LEN + 1];
    memcpy(bad, token, sizeof bad);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    assert_int_equal(auth_lookup(s, bad, &p), CX_EAUTH);
    assert_int_equal(auth_lookup(s, "cst_short", &p), CX_EAUTH);
    memcpy(bad, token, sizeof bad);
    bad[0] = 'x';
    assert_int_equal(auth_lookup(s, bad, &p), CX_EAUTH);
    assert_int_equal(auth_lookup(s, "", &p), CX_EAUTH);
    assert_int_equal(auth_lookup(s, NULL, &p), CX_EAUTH);

    assert_int_equal(auth_key_revoke(s, id), CX_OK);
    assert_int_equal(auth_lookup(s, token, &p), CX_EAUTH);
    assert_int_equal(auth_key_revoke(s, id), CX_ESTATE);
    assert_int_equal(auth_key_revoke(s, 999999), CX_ENOTFOUND);
}

static void test_get_by_id(void **state)
{
    char token[AUTH_TOKEN_LEN + 1];
    int64_t id;
    assert_int_equal(auth_key_create(s, "CARRIER-A", CX_ROLE_DEVICE, "tracker", token, &id),
                     CX_OK);
    cx_principal p = {0};
    assert_int_equal(auth_key_get(s, id, &p), CX_OK);
    assert_int_equal(p.key_id, id);
    assert_int_equal(p.role, CX_ROLE_DEVICE);
    assert_string_equal(p.org, "CARRIER-A");
    assert_int_equal(auth_key_get(s, id + 1000, &p), CX_ENOTFOUND);
    assert_int_equal(auth_key_revoke(s, id), CX_OK);
    assert_int_equal(auth_key_get(s, id, &p), CX_ENOTFOUND); /* revoked keys bind nothing */
}

static void test_only_hash_stored(void **state)
{
    char token[AUTH_TOKEN_LEN + 1];
    assert_int_equal(auth_key_create(s, "KCS", CX_ROLE_OFFICER, "", token, NULL), CX_OK);
    store_conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, "SELECT count(*) FROM api_keys WHERE "
                                     "instr(token_hash, ?1) > 0 OR instr(name, ?1) > 0");
    sqlite3_bind_text(st, 1, token + 4, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_reset(st);
    st = store_stmt(c, "SELECT length(token_hash) FROM api_keys ORDER BY id DESC LIMIT 1");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 32);
    sqlite3_reset(st);
}

static void test_tokens_are_unique(void **state)
{
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    assert_int_equal(auth_key_create(s, "A", CX_ROLE_BANK, "", a, NULL), CX_OK);
    assert_int_equal(auth_key_create(s, "A", CX_ROLE_BANK, "", b, NULL), CX_OK);
    assert_string_not_equal(a, b);
}

static void test_invalid_inputs(void **state)
{
    char token[AUTH_TOKEN_LEN + 1];
    assert_int_equal(auth_key_create(s, "bad org", CX_ROLE_TRADER, "", token, NULL), CX_EINVAL);
    assert_int_equal(auth_key_create(s, "ok", CX_ROLE_NONE, "", token, NULL), CX_EINVAL);
    assert_int_equal(auth_key_create(s, "ok", CX_ROLE_TRADER, "tab\there", token, NULL),
                     CX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_lookup_revoke),
        cmocka_unit_test(test_get_by_id),
        cmocka_unit_test(test_only_hash_stored),
        cmocka_unit_test(test_tokens_are_unique),
        cmocka_unit_test(test_invalid_inputs),
        cmocka_unit_test(test_subject),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
