/*
 * The two clocks every part reads: wall time (Unix nanoseconds, for
 * timestamps and query defaults) and monotonic time (for deadlines and
 * durations), and the proleptic Gregorian calendar arithmetic the time
 * parsers and formatters share. Any thread.
 */
#ifndef NOA_COMMON_CLOCK_H
#define NOA_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
int64_t noa_clock_real_ns(void);
/* CLOCK_MONOTONIC in nanoseconds (an arbitrary origin). */
int64_t noa_clock_mono_ns(void);

/* Days from 1970-01-01 to y-m-d (month 1..12; a day past the month's end
 * runs into the next months, as Go's time.Date normalises it). */
int64_t noa_days_from_civil(int64_t y, int m, int64_t d);
/* The date of a day number (days since 1970-01-01, may be negative). */
void noa_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

#endif
