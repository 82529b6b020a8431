/* maps_oddnames.c - mappings whose names are hard to parse, for the maps round-trip test.
 * Usage: maps_oddnames DIR   (creates files in DIR)
 * Maps: a file named "a  b" (two spaces), a file whose name holds a newline, a deleted file,
 * a memfd "md test", an anonymous region named "[anon:md name]" (PR_SET_VMA_ANON_NAME), and a
 * MAP_SHARED anonymous region. Prints "ready" and waits for stdin to close.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static void *map_file(const char *path, int unlink_it) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(path); exit(1); }
    if (ftruncate(fd, 8192)) exit(1);
    void *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) exit(1);
    if (unlink_it) unlink(path);
    close(fd);
    return p;
}

int main(int argc, char **argv) {
    char path[4096];
    if (argc < 2) return 2;
    snprintf(path, sizeof path, "%s/a  b", argv[1]); map_file(path, 0);
    snprintf(path, sizeof path, "%s/new\nline", argv[1]); map_file(path, 0);
    snprintf(path, sizeof path, "%s/gone", argv[1]); map_file(path, 1);
    int mfd = memfd_create("md test", 0);
    if (ftruncate(mfd, 4096)) return 1;
    mmap(NULL, 4096, PROT_READ, MAP_SHARED, mfd, 0);
    char *n = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int named = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)n, 3 * 4096, (unsigned long)"md name") == 0;
    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    printf("ready named=%d anonname=%p\n", named, (void *)n);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    return 0;
}
