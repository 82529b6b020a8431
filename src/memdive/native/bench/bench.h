/* bench.h - memdive's benchmark kernels (libmemdive_bench.so), shared declarations.
 * Plain C: libc and pthreads only. Every exported function is called from Python through ctypes
 * (memdive/bench/_native.py declares the same signatures); bump MDB_ABI when one changes.
 * Times come from CLOCK_MONOTONIC; repeated figures are written to caller-provided arrays so
 * Python computes min/median/max; Python never runs a hot loop.
 */
#ifndef MEMDIVE_BENCH_H
#define MEMDIVE_BENCH_H

#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#define MDB_ABI 1
#define MDB_LINE 64

/* errors returned (negative) by the exported functions */
#define MDB_EINVAL (-1)
#define MDB_ENOMEM (-2)
#define MDB_ETHREAD (-3)
#define MDB_EVALIDATE (-4)

double mdb_now(void);

/* team of pinned threads; the caller is member 0 (its affinity restored afterwards) */
typedef struct mdb_team mdb_team;
typedef void (*mdb_team_fn)(mdb_team *team, int tid, void *arg);
int mdb_team_run(int nthreads, const int *cpus, mdb_team_fn fn, void *arg);
void mdb_team_barrier(mdb_team *team);
int mdb_team_size(const mdb_team *team);

/* pin the calling thread to cpu (cpu < 0: leave), saving the old mask in *old */
int mdb_pin_self(int cpu, cpu_set_t *old);
void mdb_unpin_self(const cpu_set_t *old);

static inline void mdb_split(size_t n, int parts, int i, size_t *lo, size_t *hi) {
    /* contiguous chunks, boundaries on 8-element (64-byte) multiples */
    size_t per = (n / (size_t)parts) & ~(size_t)7;
    *lo = per * (size_t)i;
    *hi = (i == parts - 1) ? n : per * (size_t)(i + 1);
}

#endif
