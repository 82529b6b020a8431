/* A child with regions whose huge-page state is known, for `memdive thp PID` and collapse tests.
 *   adv    64 MiB, 2 MiB aligned, MADV_HUGEPAGE, touched       -> AnonHugePages (THP mode madvise/always)
 *   plain  64 MiB, 2 MiB aligned, not advised, touched          -> no huge pages under mode madvise
 *   mis    4 MiB - 8 KiB with no aligned 2 MiB range, advised, touched -> misaligned
 *   untch  16 MiB aligned, advised, never touched              -> nothing touched yet
 *   noh    16 MiB aligned, MADV_NOHUGEPAGE, touched             -> advised no huge page
 * Prints "key=0xSTART-0xEND" lines then "ready"; exits on stdin EOF or "quit".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MB (1UL << 20)
#define PMD (2 * MB)

static char *aligned(size_t len, size_t extra_off) {
    char *p = mmap(NULL, len + 2 * PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); _exit(1); }
    char *a = (char *)(((uintptr_t)p + PMD - 1) & ~(PMD - 1));
    /* a PROT_NONE guard page after each region keeps neighbours from merging into one VMA */
    if (a > p) munmap(p, a - p);
    mprotect(a + len + extra_off, 4096, PROT_NONE);
    munmap(a + len + extra_off + 4096, (p + len + 2 * PMD) - (a + len + extra_off + 4096));
    return a;
}

static void touch(char *p, size_t len) {
    for (size_t i = 0; i < len; i += 4096) p[i] = 1;
}

static void show(const char *k, char *p, size_t len) {
    printf("%s=0x%lx-0x%lx\n", k, (unsigned long)p, (unsigned long)(p + len));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *adv = aligned(64 * MB, 0);
    madvise(adv, 64 * MB, MADV_HUGEPAGE);
    touch(adv, 64 * MB);
    char *plain = aligned(64 * MB, 0);
    touch(plain, 64 * MB);
    /* misaligned: [A + 2M + 4K, A + 6M - 4K) holds no whole aligned 2 MiB range */
    char *base = aligned(8 * MB, 0);
    char *mis = base + PMD + 4096;
    size_t mislen = 4 * MB - 8192;
    munmap(base, PMD + 4096);
    munmap(mis + mislen, base + 8 * MB - (mis + mislen));
    madvise(mis, mislen, MADV_HUGEPAGE);
    touch(mis, mislen);
    char *untch = aligned(16 * MB, 0);
    madvise(untch, 16 * MB, MADV_HUGEPAGE);
    char *noh = aligned(16 * MB, 0);
    madvise(noh, 16 * MB, MADV_NOHUGEPAGE);
    touch(noh, 16 * MB);
    show("adv", adv, 64 * MB);
    show("plain", plain, 64 * MB);
    show("mis", mis, mislen);
    show("untch", untch, 16 * MB);
    show("noh", noh, 16 * MB);
    printf("ready pid=%d\n", (int)getpid());
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "quit", 4)) break;
        printf("ok\n");
    }
    return 0;
}
