/* exitprobe.c - what `memdive alloc compare` learns from inside the target (LD_PRELOAD).
 *
 * When MEMDIVE_ALLOC_PROBE names a file, a destructor run at exit() appends one line:
 *   "memdive-probe pid=N rss_bytes=R hwm_bytes=H malloc=/path/of/the/library/defining/malloc\n"
 * RSS at exit cannot be read from outside (the address space is gone before the parent can look),
 * and dladdr(malloc) proves which allocator really served the program. One write(2) per process with
 * O_APPEND, so children of the target add their own lines and the reader picks its PID's.
 * _exit(), abort() and signals skip destructors: the reader then says "not measured".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long status_kb(const char *buf, const char *key) {
    const char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

__attribute__((destructor)) static void memdive_exit_probe(void) {
    const char *out = getenv("MEMDIVE_ALLOC_PROBE");
    if (!out || !*out)
        return;
    char buf[8192];
    long rss = -1, hwm = -1;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = 0;
            rss = status_kb(buf, "VmRSS:");
            hwm = status_kb(buf, "VmHWM:");
        }
    }
    Dl_info info;
    const char *lib = "?";
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    if (sym && dladdr(sym, &info) && info.dli_fname)
        lib = info.dli_fname;
    char line[1024];
    int len = snprintf(line, sizeof line, "memdive-probe pid=%ld rss_bytes=%ld hwm_bytes=%ld malloc=%s\n",
                       (long)getpid(), rss < 0 ? -1 : rss * 1024, hwm < 0 ? -1 : hwm * 1024, lib);
    if (len <= 0)
        return;
    if (len >= (int)sizeof line)
        len = sizeof line - 1;
    fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, line, (size_t)len);
        (void)w;
        close(fd);
    }
}
