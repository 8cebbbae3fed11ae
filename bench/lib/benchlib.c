/*
 * Shared helpers of the benchmark programs (see benchlib.h).
 */
#include "bench/lib/benchlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t noa_bench_rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

double noa_bench_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t noa_bench_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double noa_bench_proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name (which may hold spaces): utime and
     * stime are the 12th and 13th after the closing parenthesis. */
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int noa_bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

pid_t noa_bench_perf_start(pid_t pid, const char *path, int graph)
{
    fflush(stdout);
    pid_t pp = fork();
    if (pp == 0) {
        char target[32];
        snprintf(target, sizeof(target), "%d", (int)pid);
        if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(127);
        if (graph)
            execlp("perf", "perf", "record", "-F", "1999", "-g", "-p", target, "-o", path,
                   (char *)NULL);
        else
            execlp("perf", "perf", "record", "-F", "1999", "-p", target, "-o", path,
                   (char *)NULL);
        _exit(127);
    }
    if (pp < 0)
        return -1;
    usleep(300000); /* let it attach */
    return pp;
}

void noa_bench_perf_stop(pid_t perf, const char *path)
{
    char cmd[4400];
    if (perf <= 0)
        return;
    kill(perf, SIGINT);
    waitpid(perf, NULL, 0);
    snprintf(cmd, sizeof(cmd),
             "perf report --stdio --no-children -i '%s' 2>/dev/null | grep -E '^ +[0-9]' | "
             "head -25",
             path);
    fflush(stdout);
    if (system(cmd) != 0)
        printf("  (perf report failed)\n");
}
