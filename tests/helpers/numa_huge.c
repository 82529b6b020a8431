/* Maps N hugetlb pages of 2 MiB (MAP_HUGETLB) and touches each; prints where, then waits.
 * usage: numa_huge N    stdout: "addr=0x... pages=N" then "ready" (or "error=..." and exit 1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2, hp = 2L << 20;
    char *p = mmap(NULL, n * hp, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (p == MAP_FAILED) { printf("error=%s\n", strerror(errno)); return 1; }
    for (long i = 0; i < n; i++) p[i * hp] = 1;
    printf("addr=%p pages=%ld\nready\n", (void *)p, n);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) { printf("ok\n"); fflush(stdout); }
    return 0;
}
