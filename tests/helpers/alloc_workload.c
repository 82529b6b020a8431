/* alloc_workload.c - a malloc-heavy workload for `memdive alloc compare` tests and benchmarks.
 * usage: alloc_workload [ROUNDS [THREADS [MODE]]]
 *   Each thread keeps a window of 4096 live blocks of 16..4096 bytes (xorshift sizes), replacing one
 *   per step, ROUNDS x 100000 steps, and frees half at the end (so RSS at exit differs by allocator).
 *   MODE "exit" returns from main (the exit probe runs); "_exit" ends with _exit(0) (it does not).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW 4096
static long rounds = 20;

static void *work(void *arg) {
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg;
    char **live = calloc(WINDOW, sizeof *live);
    if (!live)
        abort();
    for (long i = 0; i < rounds * 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t slot = x % WINDOW, size = 16 + (x >> 20) % 4081;
        free(live[slot]);
        live[slot] = malloc(size);
        if (!live[slot])
            abort();
        memset(live[slot], (int)i, size < 64 ? size : 64);
    }
    for (size_t s = 0; s < WINDOW; s += 2)
        free(live[s]);
    return live;  /* the other half stays live until exit */
}

int main(int argc, char **argv) {
    if (argc > 1)
        rounds = atol(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    const char *mode = argc > 3 ? argv[3] : "exit";
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        return 2;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, work, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    if (strcmp(mode, "_exit") == 0)
        _exit(0);
    return 0;
}
