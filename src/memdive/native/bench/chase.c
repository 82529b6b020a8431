/* chase.c - dependent loads over one random cycle (lmbench lat_mem_rd, Sattolo's algorithm).
 * Node i lives at base + i*stride (+ a line offset inside the stride when stride > 64, so that
 * one-node-per-page layouts spread over the cache sets): stride 64 measures the hierarchy,
 * stride 4096 one line per page (the TLB). Each node holds the address of the next one.
 */
#include "bench.h"

#include <stdlib.h>

static inline uint64_t xs64(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static inline char *node(char *base, size_t i, size_t stride) {
    /* for one node per page: (i*37 + i/16) mod 64 lines, which with the page bits of i maps
     * 1024 consecutive nodes to 1024 distinct cache sets (no conflict misses in L1/L2) */
    size_t lines = stride / MDB_LINE;
    size_t off = lines > 1 ? ((i * 37u + (i >> 4)) % lines) * MDB_LINE : 0;
    return base + i * stride + off;
}

/* Link n nodes into ONE random cycle starting at node 0. Returns 0 or MDB_E*. */
int mdb_chase_build(char *base, size_t n, size_t stride, uint64_t seed) {
    if (!base || n < 2 || n > 0xFFFFFFFFu || stride < sizeof(void *) || stride % sizeof(void *)) return MDB_EINVAL;
    uint32_t *perm = malloc(n * sizeof *perm);
    if (!perm) return MDB_ENOMEM;
    uint64_t s = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) { /* Sattolo: a uniformly random single cycle */
        size_t j = xs64(&s) % i;
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) *(void **)node(base, i, stride) = node(base, perm[i], stride);
    free(perm);
    return 0;
}

/* Steps from node 0 back to node 0 (at most limit): n for a single cycle over n nodes. */
size_t mdb_chase_cycle_len(char *base, size_t limit) {
    void **p = (void **)base;
    size_t k = 0;
    do {
        p = (void **)*p;
        k++;
    } while (p != (void **)base && k < limit);
    return k;
}

void *volatile mdb_chase_sink;

static void *walk(void *start, size_t loads) {
    void **p = start;
    for (size_t i = 0; i < loads; i += 8) { /* unrolled dependent chain */
        p = (void **)*p; p = (void **)*p; p = (void **)*p; p = (void **)*p;
        p = (void **)*p; p = (void **)*p; p = (void **)*p; p = (void **)*p;
    }
    return p;
}

/* warm loads, then reps timed walks of `loads` loads each (rounded up to 8); ns per load to ns_out.
 * cpu >= 0 pins the calling thread for the call. Returns 0, 1 (pinning failed) or MDB_E*. */
int mdb_chase_run(char *start, size_t loads, size_t warm, int reps, int cpu, double *ns_out) {
    if (!start || loads < 8 || reps < 1 || !ns_out) return MDB_EINVAL;
    loads = (loads + 7) & ~(size_t)7;
    cpu_set_t old;
    int rc = mdb_pin_self(cpu, &old) == 0 ? 0 : 1;
    void *p = walk(start, warm);
    for (int r = 0; r < reps; r++) {
        double t = mdb_now();
        p = walk(p, loads);
        t = mdb_now() - t;
        ns_out[r] = t * 1e9 / (double)loads;
    }
    mdb_chase_sink = p;
    mdb_unpin_self(&old);
    return rc;
}

/* TSC ticks per second measured against CLOCK_MONOTONIC over ~`secs` (0 where there is no TSC). */
double mdb_tsc_hz(double secs) {
#if defined(__x86_64__)
    unsigned lo, hi;
    double t0 = mdb_now(), t;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    uint64_t c0 = ((uint64_t)hi << 32) | lo;
    do t = mdb_now(); while (t - t0 < secs);
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    uint64_t c1 = ((uint64_t)hi << 32) | lo;
    return (double)(c1 - c0) / (t - t0);
#else
    (void)secs;
    return 0.0;
#endif
}
