/* Maps PAGES anonymous pages, touches every STEP-th one (writes), prints where, then waits.
 * usage: numa_touch PAGES STEP
 * stdout: "addr=0x... pages=N touched=K page=4096" then "ready"; each stdin line: "ok" (exits on EOF). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long pages = argc > 1 ? atol(argv[1]) : 64, step = argc > 2 ? atol(argv[2]) : 1;
    long ps = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    madvise(p, pages * ps, MADV_NOHUGEPAGE);   /* keep base pages: one status per 4 KiB page */
    long touched = 0;
    for (long i = 0; i < pages; i += step) { p[i * ps] = (char)i; touched++; }
    printf("addr=%p pages=%ld touched=%ld page=%ld\nready\n", (void *)p, pages, touched, ps);
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof line, stdin)) { printf("ok\n"); fflush(stdout); }
    return 0;
}
