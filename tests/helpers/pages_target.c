/* pages_target.c - a process with known pages, for memdive's page tests.
 * Maps and prints (before "ready"):
 *   tenth=ADDR   1000 pages, every 10th touched (exactly 100 present)
 *   thp=ADDR     64 MiB, 2 MiB aligned, MADV_HUGEPAGE, every page written
 *   zero=ADDR    256 pages MADV_NOHUGEPAGE, only read (mapped to the zero page)
 *   shared=ADDR  256 pages written before fork(): the child (child=PID) maps them too
 *   hot=ADDR     HOT_PAGES pages rewritten continuously by a thread (for wss), if argv[1] == "hot"
 * Then waits for stdin to close (or commands: "exit").
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PG 4096UL
/* More pages than any TLB holds: clear_refs does not flush the TLB, so a write that hits an entry cached
 * before the reset does not set the accessed bit again. A 2048-page loop read back 0.92-1.0 of its pages
 * on this AMD EPYC guest (and once 0.88 under the whole suite); 8192 pages read back 1.0 every time. */
#define HOT_PAGES 8192

static volatile char *hot;

static void *hot_loop(void *arg) {
    (void)arg;
    for (;;)
        for (size_t i = 0; i < HOT_PAGES; i++) hot[i * PG] += 1;
    return NULL;
}

static char *map(size_t len) {
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    return p;
}

int main(int argc, char **argv) {
    static char inbuf[4096];
    setvbuf(stdin, inbuf, _IOLBF, sizeof inbuf);   /* no heap growth at the first fgets after "ready" */
    char *shared = map(256 * PG);
    madvise(shared, 256 * PG, MADV_NOHUGEPAGE);
    memset(shared, 3, 256 * PG);

    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) pause();
    }
    char *tenth = map(1000 * PG);
    madvise(tenth, 1000 * PG, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < 1000; i += 10) tenth[i * PG] = 1;

    size_t thp_len = 64UL << 20, two = 2UL << 20;
    char *raw = map(thp_len + two);
    char *thp = (char *)(((uintptr_t)raw + two - 1) & ~(two - 1));
    madvise(thp, thp_len, MADV_HUGEPAGE);
    memset(thp, 7, thp_len);

    char *zero = map(256 * PG);
    madvise(zero, 256 * PG, MADV_NOHUGEPAGE);
    volatile char sink = 0;
    for (size_t i = 0; i < 256; i++) sink += zero[i * PG];

    if (argc > 1 && !strcmp(argv[1], "hot")) {
        hot = map(HOT_PAGES * PG);
        madvise((void *)hot, HOT_PAGES * PG, MADV_NOHUGEPAGE);
        pthread_t t;
        pthread_create(&t, NULL, hot_loop, NULL);
    }
    printf("tenth=%p thp=%p zero=%p shared=%p child=%d hot=%p hot_pages=%d\n", (void *)tenth, (void *)thp,
           (void *)zero, (void *)shared, child, (void *)hot, HOT_PAGES);
    printf("ready pid=%d\n", getpid());
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin))
        if (!strncmp(line, "exit", 4)) break;
    kill(child, SIGKILL);
    return 0;
}
