/*
 * What the benchmark programs share: clocks, a random generator, a free
 * loopback port, the server's CPU time from /proc, and perf recording of
 * a process. Main thread of each benchmark.
 */
#ifndef NOA_BENCH_LIB_BENCHLIB_H
#define NOA_BENCH_LIB_BENCHLIB_H

#include <stdint.h>
#include <sys/types.h>

/* xorshift64: fast, reproducible lines for a given seed (never 0). */
uint64_t noa_bench_rng_next(uint64_t *s);
/* Monotonic seconds, for durations. */
double noa_bench_mono_s(void);
/* Wall-clock Unix nanoseconds, for timestamps. */
int64_t noa_bench_wall_ns(void);
/* user + system CPU seconds of a process so far (0 when it is gone). */
double noa_bench_proc_cpu(pid_t pid);
/* A loopback TCP port free right now, or -1. */
int noa_bench_free_port(void);
/* Starts `perf record` on pid into path (with call graphs when graph is
 * set) and waits for it to attach; -1 when it cannot start. */
pid_t noa_bench_perf_start(pid_t pid, const char *path, int graph);
/* Stops the recording and prints the top of `perf report`. */
void noa_bench_perf_stop(pid_t perf, const char *path);

#endif
