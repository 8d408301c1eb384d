/*
 * NAME
 *   now - the process's notion of "now", which `rmilter replay` simulates
 *
 * SYNOPSIS
 *   uint64_t t = now_wall_ms();       ms since the epoch (or simulated)
 *   now_simulate(fn, arg);            replay: every reader sees fn(arg)
 *
 * DESCRIPTION
 *   State that ages (greylisting records, ratelimit buckets, the embedded
 *   store's TTLs) must read the time through these two functions, never
 *   through clock_gettime directly, so that `rmilter replay` can run old
 *   mail with the clock the mail carried: a greylisted triplet retried six
 *   minutes later in the mailbox passes, as it did live.
 *
 *   Without a simulation, now_wall_ms is CLOCK_REALTIME and now_mono_ms
 *   CLOCK_MONOTONIC, in milliseconds. Under a simulation both return the
 *   simulated wall time (which the simulator never moves backwards), so
 *   TTLs measured on the monotonic clock age with the simulated mail too.
 *
 *   Durations that are measured, not simulated (log and metrics timings,
 *   deadlines of socket I/O, upstream dead times) keep using the real
 *   monotonic clock.
 *
 * THREAD SAFETY
 *   now_wall_ms and now_mono_ms may be called from any thread.
 *   now_simulate must be called before other threads read the clock (it is
 *   meant for the single-threaded replay); the source is read with atomics.
 */
#ifndef RM_LIB_NOW_H
#define RM_LIB_NOW_H

#include <stdbool.h>
#include <stdint.h>

/* A time source: milliseconds since the epoch. */
typedef uint64_t (*rm_now_fn)(void *arg);

/* now_wall_ms - ms since the epoch: real, or the simulated time */
uint64_t now_wall_ms(void);
/* now_mono_ms - monotonic ms: real, or the simulated time */
uint64_t now_mono_ms(void);
/* now_simulate - read the time from fn(arg) from now on; NULL restores
 * the real clocks */
void now_simulate(rm_now_fn fn, void *arg);
/* now_simulated - true while a simulation is in force */
bool now_simulated(void);

#endif
