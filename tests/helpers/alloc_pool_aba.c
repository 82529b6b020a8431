/* alloc_pool_aba.c - the ABA interleaving replayed deterministically on memdive's pool.
 * Build: gcc -DMEMDIVE_POOL_TEST_HOOK -I<native> -I<native>/pool alloc_pool_aba.c <native>/pool/pool.c
 *
 * "Thread A" starts an alloc: it reads head = slot 0 and next = slot 1, then (inside the window, through
 * the test hook) "thread B" pops 0, pops 1 and pushes 0 back. The head is slot 0 again (A -> B -> A).
 * An untagged CAS would now succeed and install slot 1 as the head although B holds it: the next
 * alloc would hand slot 1 out twice. The tagged head makes A's CAS fail and retry.
 * Prints key=value results and "ready".
 */
#include <stdint.h>
#include <stdio.h>

#include "pool.h"

extern void (*memdive_pool_test_hook)(void);
static memdive_pool_t *pool;
static int64_t b_first = -9, b_second = -9;

static void thread_b(void) {
    memdive_pool_test_hook = 0; /* once */
    b_first = memdive_pool_alloc_index(pool);
    b_second = memdive_pool_alloc_index(pool);
    memdive_pool_free_index(pool, b_first);
}

int main(void) {
    pool = memdive_pool_create(64, 4);
    memdive_pool_test_hook = thread_b;
    int64_t a = memdive_pool_alloc_index(pool);      /* A, interrupted by B inside the window */
    int64_t next = memdive_pool_alloc_index(pool);   /* must not be b_second: B still holds it */
    memdive_pool_stats_t st;
    memdive_pool_stats(pool, &st);
    printf("a=%lld b_first=%lld b_second=%lld next=%lld in_use=%llu\nready\n", (long long)a, (long long)b_first,
           (long long)b_second, (long long)next, (unsigned long long)st.in_use);
    return 0;
}
