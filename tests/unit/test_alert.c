/* Unit tests of the alert module: raising inside another module's writer
 * job commits or rolls back with it; what may be raised; reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert.h"
#include "unitkit.h"

typedef struct {
    char path[64];
    store *s;
    alert_service *a;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    uk_tmp_path(f->path, "alert");
    char err[256];
    if (store_open(f->path, &f->s, err, sizeof err) != CX_OK ||
        alert_migrate(f->s, err, sizeof err) != CX_OK ||
        alert_service_new(f->s, NULL, &f->a) != CX_OK)
        return -1;
    static const char *const kinds[] = {"drone", NULL};
    static const char *const types[] = {"drone_incursion", "ledger_fork", NULL};
    if (alert_register(f->a, kinds, types) != CX_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    alert_service_free(f->a);
    store_free(f->s);
    uk_rm_db(f->path);
    free(f);
    return 0;
}

static alert_new drone_alert(void)
{
    return (alert_new){.type = "drone_incursion", .severity = ALERT_CRITICAL,
                       .time_ms = 1709251200000LL, .subject_kind = "drone",
                       .subject_id = "UAS-42", .drone = "UAS-42", .lat = 35.1, .lon = 129.04,
                       .orgs = {"PORT-BUSAN"}};
}

typedef struct {
    alert_service *a;
    alert_new n;
    bool fail_after;
    alert_ref ref;
    cx_err raised;
} job_arg;

/* Another module's job: its own write, then an alert, then maybe a failure. */
static cx_err other_job(store_conn *w, void *arg)
{
    job_arg *j = arg;
    if (store_exec(w, "CREATE TABLE IF NOT EXISTS other(x)") != CX_OK ||
        store_exec(w, "INSERT INTO other VALUES(1)") != CX_OK)
        return CX_EDB;
    j->raised = alert_raise_in(j->a, w, &j->n, &j->ref);
    if (j->raised != CX_OK)
        return j->raised;
    return j->fail_after ? CX_EINVAL : CX_OK;
}

typedef struct {
    int n;
    char json[2][2048];
    double lat[2];
} seen;

static bool each_fn(void *ctx, const alert_row *r)
{
    seen *s = ctx;
    if (s->n < 2) {
        snprintf(s->json[s->n], sizeof s->json[0], "%.*s", (int)r->len, r->json);
        s->lat[s->n] = r->lat;
    }
    s->n++;
    return true;
}

static void test_raise_in_commits_with_the_job(void **state)
{
    fx *f = *state;
    job_arg ok = {.a = f->a, .n = drone_alert()};
    assert_int_equal(store_write(f->s, other_job, &ok), CX_OK);
    assert_true(ok.ref.seq > 0);
    assert_int_equal(strlen(ok.ref.id), CX_ID_LEN);
    /* the same in a job that fails afterwards: neither its write nor the alert stays */
    job_arg bad = {.a = f->a, .n = drone_alert(), .fail_after = true};
    assert_int_equal(store_write(f->s, other_job, &bad), CX_EINVAL);
    assert_int_equal(bad.raised, CX_OK);
    seen s = {0};
    alert_filter all = {0};
    assert_int_equal(alert_each(store_reader(f->s), &all, each_fn, &s), CX_OK);
    assert_int_equal(s.n, 1);
    json_t *j = json_loads(s.json[0], 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "drone")), "UAS-42");
    assert_true(json_is_null(json_object_get(j, "device")));
    assert_true(json_is_null(json_object_get(j, "consignment")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "subject"), "kind")), "drone");
    assert_string_equal(json_string_value(json_object_get(j, "severity")), "critical");
    assert_string_equal(json_string_value(json_object_get(j, "time")), "2024-03-01T00:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), ok.ref.seq);
    assert_true(json_is_null(json_object_get(j, "acked_at")));
    assert_true(json_is_array(json_object_get(j, "declarations")));
    assert_true(json_is_object(json_object_get(j, "detail")));
    json_decref(j);
    assert_true(fabs(s.lat[0] - 35.1) < 1e-9);
}

typedef struct {
    alert_service *a;
    const char *subject;
    json_t *detail;
    alert_ref ref;
} esc_arg;

static cx_err esc_job(store_conn *w, void *arg)
{
    esc_arg *e = arg;
    return alert_escalate_in(e->a, w, "drone", e->subject, "drone_incursion", ALERT_CRITICAL,
                             e->detail, &e->ref);
}

/* An episode that turns worse stays one alert: severity raised in place,
 * detail merged, the drone filter of alert_each finds it. */
static void test_escalate_in_place(void **state)
{
    fx *f = *state;
    alert_new n = drone_alert();
    n.severity = ALERT_WARNING;
    n.detail = json_pack("{s:i}", "hover_s", 20);
    alert_ref first;
    assert_int_equal(alert_raise(f->a, &n, &first), CX_OK);
    json_decref((json_t *)n.detail);
    esc_arg e = {.a = f->a, .subject = "UAS-42", .detail = json_pack("{s:i}", "hover_s", 31)};
    assert_int_equal(store_write(f->s, esc_job, &e), CX_OK);
    assert_int_equal(e.ref.seq, first.seq);
    assert_string_equal(e.ref.id, first.id);
    esc_arg none = {.a = f->a, .subject = "UAS-7"};
    assert_int_equal(store_write(f->s, esc_job, &none), CX_ENOTFOUND);
    seen s = {0};
    alert_filter mine = {.drone = "UAS-42"}, other = {.drone = "UAS-7"};
    assert_int_equal(alert_each(store_reader(f->s), &mine, each_fn, &s), CX_OK);
    assert_int_equal(s.n, 1);
    json_t *j = json_loads(s.json[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "severity")), "critical");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "detail"), "hover_s")),
                     31);
    json_decref(j);
    json_decref(e.detail);
    seen none_seen = {0};
    assert_int_equal(alert_each(store_reader(f->s), &other, each_fn, &none_seen), CX_OK);
    assert_int_equal(none_seen.n, 0);
}

static void test_what_may_be_raised(void **state)
{
    fx *f = *state;
    alert_new n = drone_alert();
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_OK);
    n = drone_alert();
    n.type = "unregistered";
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_EINVAL);
    n = drone_alert();
    n.subject_kind = "planet";
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_EINVAL);
    n = drone_alert();
    n.subject_id = "";
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_EINVAL);
    n = drone_alert();
    n.lon = NAN; /* both or neither */
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_EINVAL);
    n = drone_alert();
    n.orgs[1] = "bad org";
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_EINVAL);
    n = drone_alert();
    n.severity = (alert_severity)7;
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_EINVAL);
    /* a ledger alert: no position, no references, the ledger as subject */
    json_t *detail = json_pack("{s:I,s:s}", "size", (json_int_t)42, "peer", "node-b");
    n = (alert_new){.type = "ledger_fork", .severity = ALERT_CRITICAL, .time_ms = 1,
                    .subject_kind = "ledger", .subject_id = "customs.example/ledger",
                    .lat = NAN, .lon = NAN, .detail = detail};
    assert_int_equal(alert_raise(f->a, &n, NULL), CX_OK);
    json_decref(detail);
    static const char *const bad[] = {"Has-Caps", NULL};
    assert_int_equal(alert_register(f->a, NULL, bad), CX_EINVAL);
    seen s = {0};
    alert_filter all = {0};
    assert_int_equal(alert_each(store_reader(f->s), &all, each_fn, &s), CX_OK);
    assert_int_equal(s.n, 2);
    /* in event-time order: the ledger alert (time 1) before the drone's */
    assert_true(isnan(s.lat[0]));
    assert_non_null(strstr(s.json[0], "\"peer\":\"node-b\""));
    assert_true(fabs(s.lat[1] - 35.1) < 1e-9);
}

typedef struct {
    int n, max;
    int64_t time_ms[8];
} times_seen;

static bool times_fn(void *ctx, const alert_row *r)
{
    times_seen *t = ctx;
    t->time_ms[t->n++] = r->time_ms;
    return t->n < t->max;
}

static times_seen each_times(fx *f, const alert_filter *flt, int max)
{
    times_seen t = {.max = max};
    assert_int_equal(alert_each(store_reader(f->s), flt, times_fn, &t), CX_OK);
    return t;
}

/* alert_each reads a drone's window, and nothing of it outside, in event-time
 * order either way: oldest first, or newest first so that a reader that
 * stops after n has the window's newest n (a drone's track). An alert
 * raised late for an earlier event is in its event time's place. */
static void test_each_reads_a_window_either_way(void **state)
{
    fx *f = *state;
    const int64_t t0 = 1709251200000LL;
    const int64_t at[] = {0, 3000, 1000, 2000, 5000, 10000}; /* raised in this order */
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        alert_new n = drone_alert();
        n.time_ms = t0 + at[i];
        assert_int_equal(alert_raise(f->a, &n, NULL), CX_OK);
    }
    alert_new other = drone_alert();
    other.subject_id = other.drone = "UAS-7";
    other.time_ms = t0 + 2000;
    assert_int_equal(alert_raise(f->a, &other, NULL), CX_OK);

    alert_filter w = {.drone = "UAS-42", .from_ms = t0 + 1000, .to_ms = t0 + 5000};
    times_seen t = each_times(f, &w, 8);
    assert_int_equal(t.n, 4);
    const int64_t oldest[] = {1000, 2000, 3000, 5000};
    for (int i = 0; i < 4; i++)
        assert_int_equal(t.time_ms[i], t0 + oldest[i]);
    w.newest_first = true;
    t = each_times(f, &w, 8);
    assert_int_equal(t.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t.time_ms[i], t0 + oldest[3 - i]);
    t = each_times(f, &w, 2); /* the window's newest two */
    assert_int_equal(t.n, 2);
    assert_int_equal(t.time_ms[0], t0 + 5000);
    assert_int_equal(t.time_ms[1], t0 + 3000);
    /* no upper bound: newest first starts at the drone's newest */
    w.to_ms = 0;
    t = each_times(f, &w, 8);
    assert_int_equal(t.n, 5);
    assert_int_equal(t.time_ms[0], t0 + 10000);
    assert_int_equal(t.time_ms[4], t0 + 1000);
    /* the other drone's alert at 2000 is its own */
    alert_filter o = {.drone = "UAS-7", .newest_first = true};
    t = each_times(f, &o, 8);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.time_ms[0], t0 + 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raise_in_commits_with_the_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_what_may_be_raised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalate_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_reads_a_window_either_way, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
