/* team.c - pinned thread teams with a spinning barrier, and the monotonic clock. */
#include "bench.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

int mdb_abi(void) { return MDB_ABI; }

double mdb_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

struct mdb_team {
    int n;
    mdb_team_fn fn;
    void *arg;
    const int *cpus;
    _Alignas(64) atomic_int arrived;
    _Alignas(64) atomic_int generation;
    _Alignas(64) atomic_int pin_failed;
};

void mdb_team_barrier(mdb_team *t) {
    if (t->n == 1) return;
    int gen = atomic_load_explicit(&t->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) == t->n - 1) {
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&t->generation, gen + 1, memory_order_release);
        return;
    }
    unsigned spins = 0;
    while (atomic_load_explicit(&t->generation, memory_order_acquire) == gen) {
        cpu_relax();
        if (++spins > (1u << 16)) { /* oversubscribed or preempted: let the others run */
            sched_yield();
            spins = 0;
        }
    }
}

int mdb_team_size(const mdb_team *t) { return t->n; }

int mdb_pin_self(int cpu, cpu_set_t *old) {
    CPU_ZERO(old);
    if (pthread_getaffinity_np(pthread_self(), sizeof *old, old) != 0) return -1;
    if (cpu < 0) return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0 ? 0 : -1;
}

void mdb_unpin_self(const cpu_set_t *old) {
    if (CPU_COUNT(old) > 0) pthread_setaffinity_np(pthread_self(), sizeof *old, old);
}

typedef struct {
    mdb_team *team;
    int tid;
} member;

static void *member_main(void *p) {
    member *m = p;
    mdb_team *t = m->team;
    if (t->cpus && t->cpus[m->tid] >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(t->cpus[m->tid], &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
            atomic_store(&t->pin_failed, 1);
    }
    mdb_team_barrier(t); /* everyone pinned before work starts */
    if (t->fn) t->fn(t, m->tid, t->arg);
    return NULL;
}

/* Returns 0, or MDB_ETHREAD when a thread could not start, or 1 when pinning failed (ran unpinned). */
int mdb_team_run(int nthreads, const int *cpus, mdb_team_fn fn, void *arg) {
    if (nthreads < 1 || nthreads > 1024) return MDB_EINVAL;
    mdb_team *t = aligned_alloc(64, sizeof *t);
    member *ms = calloc((size_t)nthreads, sizeof *ms);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    if (!t || !ms || !th) {
        free(t); free(ms); free(th);
        return MDB_ENOMEM;
    }
    t->n = nthreads;
    t->fn = fn;
    t->arg = arg;
    t->cpus = cpus;
    atomic_init(&t->arrived, 0);
    atomic_init(&t->generation, 0);
    atomic_init(&t->pin_failed, 0);
    cpu_set_t old;
    if (mdb_pin_self(cpus ? cpus[0] : -1, &old) != 0) atomic_store(&t->pin_failed, 1);
    int started = 1, rc = 0;
    for (int i = 1; i < nthreads; i++) {
        ms[i].team = t;
        ms[i].tid = i;
        if (pthread_create(&th[i], NULL, member_main, &ms[i]) != 0) {
            rc = MDB_ETHREAD;
            break;
        }
        started++;
    }
    if (rc == 0) {
        mdb_team_barrier(t);
        fn(t, 0, arg);
    } else {
        /* the started members wait in the first barrier: release them with a no-op run */
        t->fn = NULL;
        t->n = started;
        mdb_team_barrier(t);
    }
    for (int i = 1; i < started; i++) pthread_join(th[i], NULL);
    mdb_unpin_self(&old);
    if (rc == 0 && atomic_load(&t->pin_failed)) rc = 1;
    free(t); free(ms); free(th);
    return rc;
}
