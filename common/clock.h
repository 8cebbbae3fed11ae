/*
 * The two clocks every part reads: wall time (Unix nanoseconds, for
 * timestamps and query defaults) and monotonic time (for deadlines and
 * durations). Any thread.
 */
#ifndef NOA_COMMON_CLOCK_H
#define NOA_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
int64_t noa_clock_real_ns(void);
/* CLOCK_MONOTONIC in nanoseconds (an arbitrary origin). */
int64_t noa_clock_mono_ns(void);

#endif
