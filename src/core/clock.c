#include "core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* INT64_MIN means "use the system clock". Atomic so a test thread may set it
 * while server threads read it. */
static _Atomic int64_t fake_now = INT64_MIN;
static atomic_flag env_checked = ATOMIC_FLAG_INIT;

static void clock__from_env(void)
{
    if (atomic_flag_test_and_set(&env_checked))
        return;
    const char *s = getenv("CUSTOMS_FAKE_NOW");
    int64_t us;
    if (s && *s && cx_rfc3339_parse(s, &us) == CX_OK)
        atomic_store(&fake_now, us);
}

int64_t cx_now_us(void)
{
    clock__from_env();
    int64_t f = atomic_load(&fake_now);
    if (f != INT64_MIN)
        return f;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void cx_clock_set(int64_t us)
{
    atomic_flag_test_and_set(&env_checked);
    atomic_store(&fake_now, us);
}

void cx_clock_advance(int64_t us)
{
    atomic_fetch_add(&fake_now, us);
}

void cx_clock_release(void)
{
    atomic_flag_test_and_set(&env_checked);
    atomic_store(&fake_now, INT64_MIN);
}

int64_t cx_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
