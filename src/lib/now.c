/*
 * NAME
 *   now - real or simulated "now" (see now.h)
 *
 * DESCRIPTION
 *   One process-wide time source, NULL for the real clocks. The function
 *   and its argument are published with release/acquire atomics so a
 *   reader never sees a function with another source's argument: the pair
 *   lives in one static struct that is written before the pointer to it.
 *
 *   Invariant: current is NULL or points at sim, whose fn is not NULL.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The argument belongs to the caller of now_simulate and must outlive
 *   the simulation. Readers are lock-free; now_simulate is for a
 *   single-threaded caller (rmilter replay).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "lib/now.h"

struct source {
    rm_now_fn fn;
    void *arg;
};

static struct source sim;
static _Atomic(const struct source *) current;

/* real_ms - a clock in milliseconds */
static uint64_t
real_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
now_wall_ms(void)
{
    const struct source *s =
        atomic_load_explicit(&current, memory_order_acquire);

    return s != NULL ? s->fn(s->arg) : real_ms(CLOCK_REALTIME);
}

uint64_t
now_mono_ms(void)
{
    const struct source *s =
        atomic_load_explicit(&current, memory_order_acquire);

    return s != NULL ? s->fn(s->arg) : real_ms(CLOCK_MONOTONIC);
}

void
now_simulate(rm_now_fn fn, void *arg)
{
    if (fn == NULL) {
        atomic_store_explicit(&current, NULL, memory_order_release);
        return;
    }
    sim.fn = fn;
    sim.arg = arg;
    atomic_store_explicit(&current, &sim, memory_order_release);
}

bool
now_simulated(void)
{
    return atomic_load_explicit(&current, memory_order_acquire) != NULL;
}
