/* A child for the monitor tests: "grow N" maps and touches N MiB of anonymous memory (one write per 4 KiB
 * page, so N*256 minor faults), answers "ok faults=<minflt>"; EOF or "quit" exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

int main(int argc, char **argv) {
    char line[128];
    long initial = argc > 1 ? atol(argv[1]) : 0;
    if (initial > 0) {
        char *p = mmap(NULL, (size_t)initial << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        madvise(p, (size_t)initial << 20, MADV_NOHUGEPAGE);
        for (size_t i = 0; i < ((size_t)initial << 20); i += 4096) p[i] = 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        long n;
        if (sscanf(line, "grow %ld", &n) == 1) {
            size_t len = (size_t)n << 20;
            char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) { printf("error\n"); fflush(stdout); continue; }
            madvise(p, len, MADV_NOHUGEPAGE);
            for (size_t i = 0; i < len; i += 4096) p[i] = 1;
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            printf("ok faults=%ld\n", ru.ru_minflt);
            fflush(stdout);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    return 0;
}
