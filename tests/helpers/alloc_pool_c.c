/* alloc_pool_c.c - memdive's lock-free pool used from C through libmemdive_pool.so (pool.h).
 * usage: alloc_pool_c THREADS OPS SLOTS
 * Each thread pops a slot, stamps it with its id, yields, checks the stamp is still its own (two owners
 * of one slot would overwrite each other), and pushes it back. Prints key=value results and "ready".
 * Small SLOTS with several threads is where an ABA-unsafe pool (the seed's) hands a slot out twice.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static memdive_pool_t *pool;
static long ops;
static long clashes, empties;

static void *worker(void *arg) {
    uint64_t me = (uint64_t)(uintptr_t)arg;
    long my_clash = 0, my_empty = 0;
    for (long i = 0; i < ops; i++) {
        uint64_t *s = memdive_pool_alloc(pool);
        if (!s) {
            my_empty++;
            continue;
        }
        __atomic_store_n(s, me, __ATOMIC_RELAXED);
        if ((i & 63) == 0)
            sched_yield();
        if (__atomic_load_n(s, __ATOMIC_RELAXED) != me)
            my_clash++;
        if (memdive_pool_free(pool, s) != 0)
            my_clash++;
    }
    __atomic_fetch_add(&clashes, my_clash, __ATOMIC_RELAXED);
    __atomic_fetch_add(&empties, my_empty, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    ops = argc > 2 ? atol(argv[2]) : 1000000;
    size_t slots = argc > 3 ? (size_t)atol(argv[3]) : 4;
    pool = memdive_pool_create(64, slots);
    if (!pool)
        return 2;
    pthread_t t[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    memdive_pool_stats_t st;
    memdive_pool_stats(pool, &st);
    /* Errors are refused, not corrupting: a double free and a foreign pointer. */
    void *s = memdive_pool_alloc(pool);
    int first = memdive_pool_free(pool, s), second = memdive_pool_free(pool, s);
    int foreign = memdive_pool_free(pool, (char *)s + 1);
    /* Exhaustion: every slot, then NULL. */
    size_t got = 0;
    while (memdive_pool_alloc(pool))
        got++;
    printf("clashes=%ld empties=%ld allocs=%llu frees=%llu in_use=%llu first=%d second=%d "
           "foreign=%d drained=%zu\nready\n",
           clashes, empties, (unsigned long long)st.allocs, (unsigned long long)st.frees,
           (unsigned long long)st.in_use, first, second, foreign, got);
    memdive_pool_destroy(pool);
    return 0;
}
