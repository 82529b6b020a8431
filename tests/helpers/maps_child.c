/* maps_child.c - a process with known memory, for the maps/ps live tests.
 * Usage: maps_child ANON_MiB FILE FILE_READ_MiB SHARED_MiB
 *  - ANON_MiB of private anonymous memory, every page written (THP off for the region);
 *  - FILE mapped whole, its first FILE_READ_MiB read page by page;
 *  - SHARED_MiB of shared anonymous memory written here and read by a forked child of ours
 *    (the other regions are MADV_DONTFORK, so only this one is shared).
 * Prints "ready anon=ADDR file=ADDR shared=ADDR child=PID" and sleeps until stdin closes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: maps_child ANON_MiB FILE READ_MiB SHARED_MiB\n"); return 2; }
    size_t anon = (size_t)atol(argv[1]) << 20, rd = (size_t)atol(argv[3]) << 20, sh = (size_t)atol(argv[4]) << 20;
    long pg = sysconf(_SC_PAGESIZE);

    char *a = mmap(NULL, anon, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) { perror("mmap anon"); return 1; }
    madvise(a, anon, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < anon; i += pg) a[i] = 1;

    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) { perror(argv[2]); return 1; }
    struct stat st; fstat(fd, &st);
    volatile char *f = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED) { perror("mmap file"); return 1; }
    long sum = 0;
    for (size_t i = 0; i < rd; i += pg) sum += f[i];

    char *s = mmap(NULL, sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) { perror("mmap shared"); return 1; }
    for (size_t i = 0; i < sh; i += pg) s[i] = 2;

    /* Only the shared region goes to the child: fork would otherwise COW-share the others. */
    madvise(a, anon, MADV_DONTFORK);
    madvise((void *)f, st.st_size, MADV_DONTFORK);
    int p[2]; if (pipe(p)) return 1;
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive the test's child */
        if (getppid() == 1) _exit(0);
        volatile char *vs = s; long t = 0;
        for (size_t i = 0; i < sh; i += pg) t += vs[i];
        if (write(p[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c; if (read(p[0], &c, 1) != 1) return 1;
    printf("ready anon=%p file=%p shared=%p child=%d sum=%ld\n", (void *)a, (void *)f, (void *)s, child, sum);
    fflush(stdout);
    while (read(0, &c, 1) > 0) {}
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}
