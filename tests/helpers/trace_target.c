/* trace_target.c - a program with known allocations for the memdive trace tests.
 * usage: trace_target MODE
 *   sites     leaks at three call sites in three threads: leak_a 5 x malloc(1000) (main),
 *             leak_b 3 x calloc(10, 300) (thread 1), leak_c 4 x posix_memalign(64, 2048) (thread 2);
 *             everything else freed, plus printf/strdup'd-and-freed noise
 *   funcs     each allocation function called a known number of times from do_funcs()
 *   fork      2 busy threads; fork a child that leaks 3 x 111 (child_fork_leak) and _exits,
 *             and a child that execs "trace_target child" (child_leak: 2 x 222)
 *   child     leaks 2 x 222 at child_leak
 *   abort | _exit | selfkill   leak_a as in sites, then end that way
 *   hooks     malloc in a signal handler, in a TLS destructor and in an atexit handler
 *   heapsig   leak_a, raise(SIGUSR2) (heap state request), more allocations
 *   wait      leak_a, print "pid=N ready", wait for a line on stdin, more allocations
 *   rss       leak_big: 64 x malloc(1 MiB), half touched; leak_small: 20000 x malloc(1000) touched, every
 *             other one freed afterwards
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
static void *volatile sink;

NOINLINE void leak_a(void) { for (int i = 0; i < 5; i++) sink = malloc(1000); }
NOINLINE void leak_b(void) { for (int i = 0; i < 3; i++) sink = calloc(10, 300); }
NOINLINE void leak_c(void) {
    for (int i = 0; i < 4; i++) {
        void *p;
        if (posix_memalign(&p, 64, 2048) == 0) sink = p;
    }
}
NOINLINE void churn(int n) {
    for (int i = 0; i < n; i++) {
        char *p = malloc(16 + i % 200);
        p[0] = 1;
        p = realloc(p, 300 + i % 100);
        free(p);
    }
}
static void *thread_b(void *a) { leak_b(); churn(1000); return NULL; }
static void *thread_c(void *a) { leak_c(); churn(1000); return NULL; }

#define KEEP(x) (sink = (x))
NOINLINE void do_funcs(void) {
    void *a = KEEP(malloc(10)), *b = KEEP(malloc(20)), *c = KEEP(malloc(30));   /* malloc x3 */
    void *d = KEEP(calloc(2, 8)), *e = KEEP(calloc(3, 8));                     /* calloc x2 */
    a = KEEP(realloc(a, 100));                                                 /* realloc x3 */
    b = KEEP(realloc(b, 5));
    void *f = KEEP(realloc(NULL, 40));
    void *r0 = KEEP(realloc(c, 0));                                            /* realloc(p, 0) x1: frees c */
    void *g = KEEP(reallocarray(NULL, 4, 16));                                 /* reallocarray x1 */
    void *h;
    if (posix_memalign(&h, 32, 64)) h = NULL;                                  /* posix_memalign x1 */
    KEEP(h);
    void *i = KEEP(aligned_alloc(64, 128));                                    /* aligned_alloc x1 */
    void *j = KEEP(memalign(128, 256));                                        /* memalign x1 */
    void *k = KEEP(valloc(100));                                               /* valloc x1 */
    void *l = KEEP(pvalloc(100));                                              /* pvalloc x1 */
    char *m1 = KEEP(mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));  /* mmap x2 */
    char *m2 = KEEP(mmap(NULL, 4096 * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    m2 = KEEP(mremap(m2, 4096 * 4, 4096 * 8, MREMAP_MAYMOVE));                 /* mremap x1 */
    munmap(m1, 8192);                                                          /* munmap x2 */
    munmap(m2, 4096 * 8);
    free(a); free(b); free(d); free(e); free(f); free(g); free(h); free(i); free(j); free(k); free(l);
    free(r0);                                                                  /* free(NULL): no event */
}

NOINLINE void child_leak(void) { for (int i = 0; i < 2; i++) sink = malloc(222); }
NOINLINE void child_fork_leak(void) { for (int i = 0; i < 3; i++) sink = malloc(111); }

static volatile int stop;
static void *busy(void *a) { while (!stop) churn(100); return NULL; }

static void on_alarm(int s) { void *p = malloc(64); free(p); }
static pthread_key_t key;
static void tls_dtor(void *v) { free(v); void *p = malloc(77); free(p); }
static void *tls_thread(void *a) { pthread_setspecific(key, malloc(55)); churn(100); return NULL; }
static void at_exit_fn(void) { void *p = malloc(99); free(p); }

NOINLINE void leak_big(void **keep) {
    for (int i = 0; i < 64; i++) {
        char *p = malloc(1 << 20);
        if (i % 2 == 0) memset(p, 1, 1 << 20);
        keep[i] = p;
    }
}
NOINLINE void leak_small(void **keep) {
    for (int i = 0; i < 20000; i++) {
        char *p = malloc(1000);
        memset(p, 2, 1000);
        keep[i] = p;
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "sites";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "sites") || !strcmp(mode, "abort") || !strcmp(mode, "_exit") || !strcmp(mode, "selfkill")) {
        char *s = strdup("noise");
        printf("start %s\n", s);
        free(s);
        leak_a();
        if (!strcmp(mode, "sites")) {
            pthread_t t1, t2;
            pthread_create(&t1, NULL, thread_b, NULL);
            pthread_create(&t2, NULL, thread_c, NULL);
            pthread_join(t1, NULL);
            pthread_join(t2, NULL);
            churn(5000);
            return 0;
        }
        if (!strcmp(mode, "abort")) abort();
        if (!strcmp(mode, "_exit")) _exit(3);
        raise(SIGKILL);
    }
    if (!strcmp(mode, "funcs")) { do_funcs(); return 0; }
    if (!strcmp(mode, "child")) { child_leak(); return 0; }
    if (!strcmp(mode, "fork")) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, busy, NULL);
        usleep(20000);
        pid_t a = fork();
        if (a == 0) { child_fork_leak(); churn(100); _exit(0); }
        pid_t b = fork();
        if (b == 0) {
            churn(10);
            execl("/proc/self/exe", argv[0], "child", (char *)NULL);
            _exit(127);
        }
        int st1 = -1, st2 = -1;
        waitpid(a, &st1, 0);
        waitpid(b, &st2, 0);
        stop = 1;
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        printf("children %d %d\n", st1, st2);
        return (WIFEXITED(st1) && WEXITSTATUS(st1) == 0 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0) ? 0 : 1;
    }
    if (!strcmp(mode, "hooks")) {
        signal(SIGALRM, on_alarm);
        pthread_key_create(&key, tls_dtor);
        atexit(at_exit_fn);
        for (int i = 0; i < 200; i++) {
            void *p = malloc(100 + i);
            raise(SIGALRM);
            free(p);
        }
        pthread_t t;
        pthread_create(&t, NULL, tls_thread, NULL);
        pthread_join(t, NULL);
        return 0;
    }
    if (!strcmp(mode, "wait")) {
        char line[64];
        leak_a();
        printf("pid=%d ready\n", (int)getpid());
        if (!fgets(line, sizeof(line), stdin)) return 1;
        churn(10);
        return 0;
    }
    if (!strcmp(mode, "heapsig")) {
        leak_a();
        raise(SIGUSR2);
        churn(10);
        return 0;
    }
    if (!strcmp(mode, "rss")) {
        static void *big[64], *small[20000];
        leak_big(big);
        leak_small(small);
        for (int i = 0; i < 20000; i += 2) free(small[i]);
        printf("big %p small %p\n", big[0], small[1]);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
