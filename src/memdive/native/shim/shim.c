/* shim.c - memdive's LD_PRELOAD allocation tracer (see trace_format.h for the file it writes).
 *
 * Environment (set by `memdive trace`):
 *   MEMDIVE_TRACE_OUT     output path (created O_EXCL); followed children write OUT.<pid>
 *   MEMDIVE_TRACE_FOLLOW  1 = follow fork/exec into children, else children are not traced
 *   MEMDIVE_TRACE_UNWIND  "fp" = frame-pointer walk (fast, needs -fno-omit-frame-pointer), else DWARF unwind
 *   MEMDIVE_TRACE_FRAMES  max frames per stack (default 64, at most 128)
 *   MEMDIVE_TRACE_SIGNAL  signal number that requests a heap-state snapshot (default SIGUSR2, 0 = none)
 *   MEMDIVE_TRACE_ROOT    set by the traced root process to its pid (internal)
 *
 * Rules kept here: nothing in the recording path takes a lock (fork and signal handlers cannot deadlock);
 * every allocation the shim itself makes goes to the real allocator under a per-thread guard; the file
 * is written through MAP_SHARED mappings so SIGKILL, _exit and abort lose nothing already stored.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include "trace_format.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))
#define EV_CHUNK (256u << 10)
#define MISC_CHUNK (64u << 10)
#define MAX_FRAMES_CAP 128
#define STACK_SLOTS (1u << 22)

typedef void *(*malloc_t)(size_t);
typedef void *(*calloc_t)(size_t, size_t);
typedef void *(*realloc_t)(void *, size_t);
typedef void *(*reallocarray_t)(void *, size_t, size_t);
typedef void (*free_t)(void *);
typedef int (*posix_memalign_t)(void **, size_t, size_t);
typedef void *(*aligned_alloc_t)(size_t, size_t);
typedef void *(*valloc_t)(size_t);
typedef void *(*mmap_t)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_t)(void *, size_t);
typedef void *(*mremap_t)(void *, size_t, size_t, int, ...);
typedef size_t (*usable_t)(void *);
typedef void *(*dlopen_t)(const char *, int);

static struct {
    malloc_t malloc;
    calloc_t calloc;
    realloc_t realloc;
    reallocarray_t reallocarray;
    free_t free;
    posix_memalign_t posix_memalign;
    aligned_alloc_t aligned_alloc;
    aligned_alloc_t memalign;
    valloc_t valloc, pvalloc;
    mmap_t mmap, mmap64;
    munmap_t munmap;
    mremap_t mremap;
    usable_t usable;
    dlopen_t dlopen;
} real;

/* global state; reset in a followed child */
static struct {
    int fd;
    volatile int enabled;             /* recording on */
    int state;                        /* 0 not started, 1 resolving symbols, 2 ready */
    int follow, unwind_fp, max_frames, sig;
    pid_t pid;
    uint64_t t0;                      /* CLOCK_MONOTONIC ns at start */
    _Atomic uint64_t next_off;
    _Atomic uint64_t *stacks;         /* open-addressing table of stack hashes; id = slot + 1 */
    _Atomic uint32_t nthreads;
    _Atomic int generation;           /* bumped at fork: thread states of another generation are stale */
    _Atomic int64_t live;             /* anonymous RSS at the last sample */
    int64_t next_snap;                /* take a pagemap snapshot when live passes this */
    _Atomic int snap_busy;
    volatile sig_atomic_t heap_request;
    char path[4096];
    uintptr_t self_lo, self_hi;       /* this library's text, skipped in stacks */
    pthread_key_t key;
} g = {.fd = -1};

struct tstate {
    int generation;
    int ready;
    uint16_t thread;
    pid_t tid;
    char *ev, *ev_end, *ev_pos;       /* current event chunk */
    uint64_t ev_base;                 /* its start time: events store 32-bit offsets from it */
    char *misc, *misc_end, *misc_pos; /* current misc chunk */
    size_t ev_size, misc_size;
    uint32_t nev;                     /* events since the last RSS sample */
    uintptr_t stack_lo, stack_hi;     /* for the frame-pointer walk */
    struct ucache *cache;             /* DWARF unwind results by (caller, stack pointer), validated */
};

/* A DWARF unwind is ~100x dearer than a malloc. Most calls repeat a stack already unwound: same return
 * address, same stack pointer, and the same return addresses in the same stack slots. Checking those
 * slots (a few loads of hot memory) proves the unwinder would give the same frames. */
#define UCACHE_SETS 512
#define UCACHE_WAYS 8                 /* one caller at one stack depth is often reached by several chains */
#define UCACHE_FRAMES 48              /* deeper stacks are unwound every time */
#define UCACHE_ENTRIES (UCACHE_SETS * UCACHE_WAYS)
struct ukey { uintptr_t ra0, cfa0; };
struct uentry {
    uint32_t id, n;
    uint32_t off[UCACHE_FRAMES];      /* slot of pcs[k] relative to cfa0 */
    uintptr_t pc[UCACHE_FRAMES];
};
#define UCACHE_FIRST 1024
struct ucache {
    struct { uintptr_t ra0; uint64_t off1; } first[UCACHE_FIRST];  /* where the caller's caller's address is */
    struct ukey key[UCACHE_ENTRIES];
    uint8_t next[UCACHE_SETS];        /* round-robin victim per set */
    struct uentry e[UCACHE_ENTRIES];
};

static TLS int t_guard;
static TLS struct tstate t_state;

/* ---------------------------------------------------------------- bootstrap allocator (dlsym's calloc) */
static char boot_heap[256 << 10] __attribute__((aligned(64)));
static _Atomic size_t boot_used;

static void *boot_alloc(size_t n) {
    n = (n + 15 + 16) & ~(size_t)15;
    size_t off = atomic_fetch_add(&boot_used, n);
    if (off + n > sizeof(boot_heap)) return NULL;
    char *p = boot_heap + off;
    *(size_t *)p = n - 16;
    return p + 16;
}
static inline int is_boot(const void *p) {
    return (const char *)p >= boot_heap && (const char *)p < boot_heap + sizeof(boot_heap);
}
static size_t boot_size(const void *p) { return *(const size_t *)((const char *)p - 16); }

/* ---------------------------------------------------------------- small helpers (no libc allocation) */
static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *raw_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
    long r = syscall(SYS_mmap, a, n, prot, flags, fd, off);
    return (r < 0 && r > -4096) ? MAP_FAILED : (void *)r;
}
static void raw_munmap(void *a, size_t n) { syscall(SYS_munmap, a, n); }

static void warn(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1) n = sizeof(buf) - 1;
    if (n > 0) (void)!write(2, buf, (size_t)n);
}

static void disable(const char *why, int err) {
    if (g.enabled) {
        g.enabled = 0;
        warn("memdive trace: %s (%s); tracing disabled, the program continues\n", why, strerror(err));
    }
}

static ssize_t read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    return (ssize_t)got;
}

/* ---------------------------------------------------------------- chunks */
static char *claim(uint32_t kind, size_t size, struct tstate *t) {
    if (!g.enabled) return NULL;
    uint64_t off = atomic_fetch_add(&g.next_off, size);
    int r = posix_fallocate(g.fd, (off_t)off, (off_t)size);
    if (r == EOPNOTSUPP || r == ENOSYS) {
        /* extend without reserving (fallocate unsupported): never shrinks the file */
        char z = 0;
        r = pwrite(g.fd, &z, 1, (off_t)(off + size - 1)) == 1 ? 0 : errno;
    }
    if (r) {
        disable("cannot extend the trace file (disk full?)", r);
        return NULL;
    }
    char *p = raw_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, g.fd, (off_t)off);
    if (p == MAP_FAILED) {
        disable("cannot map the trace file", errno);
        return NULL;
    }
    struct mdt_chunk_header *h = (struct mdt_chunk_header *)p;
    h->kind = kind;
    h->size = size;
    h->pid = (uint32_t)g.pid;
    h->tid = t ? (uint32_t)t->tid : 0;
    h->thread = t ? t->thread : 0;
    h->ts_ns = now_ns() - g.t0;
    atomic_signal_fence(memory_order_release);
    h->magic = MDT_CHUNK_MAGIC;
    return p;
}

static void misc_record(struct tstate *t, uint32_t kind, uint32_t id, const void *data, size_t len);

static void thread_key_dtor(void *arg) {
    struct tstate *t = &t_state;
    t_guard++;
    if (t->cache) raw_munmap(t->cache, sizeof(struct ucache));
    t->cache = NULL;
    if (t->ev) raw_munmap(t->ev, t->ev_size);
    if (t->misc) raw_munmap(t->misc, t->misc_size);
    t->ev = t->ev_pos = t->ev_end = NULL;
    t->misc = t->misc_pos = t->misc_end = NULL;
    t->ready = 0;
    t_guard--;
}

static void thread_init(struct tstate *t) {
    t->generation = atomic_load(&g.generation);
    t->tid = (pid_t)syscall(SYS_gettid);
    t->thread = (uint16_t)atomic_fetch_add(&g.nthreads, 1);
    t->ev = t->ev_pos = t->ev_end = NULL;
    t->misc = t->misc_pos = t->misc_end = NULL;
    t->nev = 0;
    t->stack_lo = t->stack_hi = 0;
    if (t->cache) raw_munmap(t->cache, sizeof(struct ucache)); /* ids of another file */
    t->cache = NULL;
    if (!g.unwind_fp) {
        void *c = raw_mmap(NULL, sizeof(struct ucache), PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        t->cache = c == MAP_FAILED ? NULL : c;
    }
    if (g.unwind_fp) {
        pthread_attr_t a;
        if (pthread_getattr_np(pthread_self(), &a) == 0) {
            void *lo;
            size_t sz;
            if (pthread_attr_getstack(&a, &lo, &sz) == 0) {
                t->stack_lo = (uintptr_t)lo;
                t->stack_hi = (uintptr_t)lo + sz;
            }
            pthread_attr_destroy(&a);
        }
    }
    t->ready = 1;
    pthread_setspecific(g.key, (void *)1);
    struct { uint32_t tid, zero; char name[16]; } th = {(uint32_t)t->tid, 0, {0}};
    pthread_getname_np(pthread_self(), th.name, sizeof(th.name));
    misc_record(t, MDT_MISC_THREAD, t->thread, &th, sizeof(th));
}

static inline struct tstate *tstate(void) {
    struct tstate *t = &t_state;
    if (__builtin_expect(!t->ready || t->generation != atomic_load_explicit(&g.generation, memory_order_relaxed), 0)) {
        if (t->ready && t->generation != atomic_load(&g.generation)) {
            /* a forked child: the chunks belong to the parent's file; drop them without writing */
            if (t->ev) raw_munmap(t->ev, t->ev_size);
            if (t->misc) raw_munmap(t->misc, t->misc_size);
        }
        thread_init(t);
    }
    return t;
}

static void misc_record(struct tstate *t, uint32_t kind, uint32_t id, const void *data, size_t len) {
    size_t need = 16 + ((len + 7) & ~(size_t)7);
    if (!t->misc || t->misc_pos + need > t->misc_end) {
        if (t->misc) raw_munmap(t->misc, t->misc_size);
        size_t size = MISC_CHUNK;
        while (size < need + MDT_CHUNK_HEADER) size <<= 1;
        t->misc = claim(MDT_CHUNK_MISC, size, t);
        if (!t->misc) {
            t->misc_pos = t->misc_end = NULL;
            return;
        }
        t->misc_size = size;
        t->misc_pos = t->misc + MDT_CHUNK_HEADER;
        t->misc_end = t->misc + size;
    }
    uint64_t *w = (uint64_t *)t->misc_pos;
    w[1] = now_ns() - g.t0;
    memcpy(w + 2, data, len);
    atomic_signal_fence(memory_order_release);
    w[0] = (uint64_t)kind | ((uint64_t)len << 8) | ((uint64_t)id << 32);
    t->misc_pos += need;
}

static void blob(uint32_t kind, const void *data, size_t len) {
    size_t size = (MDT_CHUNK_HEADER + 24 + len + 4095) & ~(size_t)4095;
    char *p = claim(MDT_CHUNK_BLOB, size, NULL);
    if (!p) return;
    uint64_t *w = (uint64_t *)(p + MDT_CHUNK_HEADER);
    w[1] = len;
    w[2] = now_ns() - g.t0;
    memcpy(w + 3, data, len);
    atomic_signal_fence(memory_order_release);
    w[0] = kind;
    raw_munmap(p, size);
}

/* ---------------------------------------------------------------- stacks */
struct uw { uintptr_t *out, *cfa; int n, max, skipping; };

static _Unwind_Reason_Code uw_cb(struct _Unwind_Context *ctx, void *arg) {
    struct uw *u = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (!ip) return _URC_END_OF_STACK;
    if (u->skipping && ip >= g.self_lo && ip < g.self_hi) return _URC_NO_REASON;
    u->skipping = 0;
    u->cfa[u->n] = _Unwind_GetCFA(ctx);
    u->out[u->n++] = ip;
    return u->n >= u->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

static inline uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint32_t stack_id(struct tstate *t, const uintptr_t *pcs, int n);

static __attribute__((noinline)) uint32_t capture(struct tstate *t, void *frame) {
    uintptr_t pcs[MAX_FRAMES_CAP];
    int n = 0;
    if (g.unwind_fp) {
        if (!frame) return 0;
        /* frame = the wrapper's frame: [0] saved rbp, [1] return address into the caller */
        uintptr_t *fp = frame;
        uintptr_t lo = (uintptr_t)fp, hi = t->stack_hi ? t->stack_hi : lo + (8u << 20);
        while (n < g.max_frames) {
            if ((uintptr_t)fp < lo || (uintptr_t)fp + 16 > hi || ((uintptr_t)fp & 7)) break;
            uintptr_t ret = fp[1];
            if (ret < 4096) break;
            pcs[n++] = ret;
            uintptr_t *next = (uintptr_t *)fp[0];
            if (next <= fp) break;
            lo = (uintptr_t)fp;
            fp = next;
        }
    } else {
        uintptr_t cfas[MAX_FRAMES_CAP];
        struct ucache *c = t->cache;
        uintptr_t ra0 = 0, cfa0 = 0;
        uint32_t set = 0;
        if (frame && c) {
            ra0 = ((uintptr_t *)frame)[1];
            cfa0 = (uintptr_t)frame + 16;
            /* the set also hashes the next return address up, so that the chains reaching one caller at one
             * depth spread over sets */
            uint32_t fi = (uint32_t)((ra0 * 0x9e3779b97f4a7c15ull) >> 50) & (UCACHE_FIRST - 1);
            uintptr_t pc1 = c->first[fi].ra0 == ra0 ? *(uintptr_t *)(cfa0 + c->first[fi].off1) : 0;
            set = (uint32_t)(((ra0 * 0x9e3779b97f4a7c15ull) ^ ((cfa0 >> 4) * 0xff51afd7ed558ccdull) ^
                              (pc1 * 0xc2b2ae3d27d4eb4full)) >> 40) & (UCACHE_SETS - 1);
            for (uint32_t w = set * UCACHE_WAYS; w < (set + 1) * UCACHE_WAYS; w++) {
                if (c->key[w].ra0 != ra0 || c->key[w].cfa0 != cfa0) continue;
                struct uentry *e = &c->e[w];
                uint32_t k = 1;
                for (; k < e->n; k++)
                    if (*(uintptr_t *)(cfa0 + e->off[k]) != e->pc[k]) break;
                if (k == e->n) return e->id;
            }
        }
        struct uw u = {pcs, cfas, 0, g.max_frames, 1};
        _Unwind_Backtrace(uw_cb, &u);
        n = u.n;
        if (c && n > 1 && n <= UCACHE_FRAMES && pcs[0] == ra0 && cfas[1] - 8 >= cfa0 &&
            cfas[1] - 8 - cfa0 < (1u << 20)) {
            uint32_t id = stack_id(t, pcs, n);
            uint32_t fi = (uint32_t)((ra0 * 0x9e3779b97f4a7c15ull) >> 50) & (UCACHE_FIRST - 1);
            if (c->first[fi].ra0 != ra0) {
                /* learn where pcs[1] sits for this caller (its frame size at that call), then set by it */
                c->first[fi].ra0 = ra0;
                c->first[fi].off1 = cfas[1] - 8 - cfa0;
            }
            if (c->first[fi].off1 != cfas[1] - 8 - cfa0) return id; /* variable frame (alloca): not cached */
            set = (uint32_t)(((ra0 * 0x9e3779b97f4a7c15ull) ^ ((cfa0 >> 4) * 0xff51afd7ed558ccdull) ^
                              (pcs[1] * 0xc2b2ae3d27d4eb4full)) >> 40) & (UCACHE_SETS - 1);
            uint32_t w = set * UCACHE_WAYS + (c->next[set]++ % UCACHE_WAYS);
            struct uentry *e = &c->e[w];
            c->key[w].ra0 = 0;
            for (int k = 1; k < n; k++) {
                uintptr_t slot = cfas[k] - 8; /* libgcc's CFA for frame k is its sp: pcs[k] sits just below */
                if (slot < cfa0 || slot - cfa0 > 0xffffffffu) return id; /* not cacheable */
                e->off[k] = (uint32_t)(slot - cfa0);
                e->pc[k] = pcs[k];
            }
            e->id = id;
            e->n = (uint32_t)n;
            c->key[w].ra0 = ra0;
            c->key[w].cfa0 = cfa0;
            return id;
        }
    }
    return stack_id(t, pcs, n);
}

static uint32_t stack_id(struct tstate *t, const uintptr_t *pcs, int n) {
    if (n == 0) return 0;
    uint64_t h = 0x6a09e667f3bcc908ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) h = mix(h, pcs[i]);
    h |= 1;
    uint32_t mask = STACK_SLOTS - 1, i = (uint32_t)(h ^ (h >> 32)) & mask;
    for (int probe = 0; probe < 64; probe++, i = (i + 1) & mask) {
        uint64_t k = atomic_load_explicit(&g.stacks[i], memory_order_relaxed);
        if (k == h) return i + 1;
        if (k == 0) {
            uint64_t zero = 0;
            if (atomic_compare_exchange_strong(&g.stacks[i], &zero, h)) {
                misc_record(t, MDT_MISC_STACK, i + 1, pcs, (size_t)n * sizeof(uintptr_t));
                return i + 1;
            }
            if (zero == h) return i + 1;
        }
    }
    return 0; /* table too crowded: stack unknown */
}

/* ---------------------------------------------------------------- heap snapshots */
static void heap_state(uint32_t reason);
static void pagemap_snapshot(uint32_t reason);

/* Every RSS_EVERY events per thread: sample RSS (statm) for the timeline; when anonymous RSS passes the
 * next threshold (+1/8 + 4 MiB over the last), snapshot pagemap: these are the peaks the resident join uses.
 * (Tracking live bytes per event would need malloc_usable_size on every free: a cache miss per call.) */
#define RSS_EVERY 4096
static void rss_sample(struct tstate *t) {
    char buf[256];
    ssize_t n = read_file("/proc/self/statm", buf, sizeof(buf) - 1);
    if (n <= 0) return;
    buf[n] = 0;
    unsigned long size, res, shared;
    if (sscanf(buf, "%lu %lu %lu", &size, &res, &shared) != 3) return;
    uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t v[2] = {(uint64_t)res * ps, (uint64_t)shared * ps};
    misc_record(t, MDT_MISC_RSS, 0, v, sizeof(v));
    int64_t anon = (int64_t)(v[0] - v[1]);
    atomic_store(&g.live, anon);
    if (anon > g.next_snap) {
        int busy = 0;
        if (atomic_compare_exchange_strong(&g.snap_busy, &busy, 1)) {
            if (anon > g.next_snap) {
                g.next_snap = anon + anon / 8 + (4 << 20);
                pagemap_snapshot(MDT_R_PEAK);
            }
            atomic_store(&g.snap_busy, 0);
        }
    }
}

/* ---------------------------------------------------------------- recording */
static inline void record_f(uint8_t func, uint8_t flags, uintptr_t addr, uint64_t size, int64_t usable_delta,
                            void *frame) {
    struct tstate *t = tstate();
    if (!g.enabled) return;
    uint32_t stack = (func == MDT_FN_FREE || func == MDT_FN_REALLOC_FREE || func == MDT_FN_REALLOCARRAY_FREE ||
                      func == MDT_FN_MREMAP_FREE)
                         ? 0
                         : capture(t, frame);
    uint64_t now = now_ns() - g.t0;
    if (__builtin_expect(t->ev_pos >= t->ev_end || now - t->ev_base > 0xffffffffull, 0)) {
        /* a new chunk when full, or when the 32-bit time offset from its start would overflow (4.3 s) */
        if (t->ev) raw_munmap(t->ev, t->ev_size);
        t->ev = claim(MDT_CHUNK_EVENTS, EV_CHUNK, t);
        if (!t->ev) {
            t->ev_pos = t->ev_end = NULL;
            return;
        }
        t->ev_size = EV_CHUNK;
        t->ev_base = ((struct mdt_chunk_header *)t->ev)->ts_ns;
        t->ev_pos = t->ev + MDT_CHUNK_HEADER;
        t->ev_end = t->ev + EV_CHUNK - sizeof(struct mdt_event) + 1;
        if (now < t->ev_base) now = t->ev_base;
    }
    uint64_t *w = (uint64_t *)t->ev_pos;
    w[0] = (now - t->ev_base) | ((uint64_t)stack << 32);
    w[2] = (size & MDT_LOW56) | ((uint64_t)flags << 56);
    atomic_signal_fence(memory_order_release);
    w[1] = ((uint64_t)addr & MDT_LOW56) | ((uint64_t)func << 56); /* func != 0: the record is complete */
    t->ev_pos += sizeof(struct mdt_event);
    if (size >= (256u << 10) && stack && t->nev < RSS_EVERY - 64)
        t->nev = RSS_EVERY - 64; /* a large block: look at RSS again soon, once it has been written */
    if (__builtin_expect(++t->nev >= RSS_EVERY, 0)) {
        t->nev = 0;
        rss_sample(t);
    }
    if (__builtin_expect(g.heap_request, 0)) {
        g.heap_request = 0;
        heap_state(MDT_R_SIGNAL);
        pagemap_snapshot(MDT_R_SIGNAL);
    }
}

#define record(func, addr, size, delta, frame) record_f(func, 0, addr, size, delta, frame)

/* free-side events must carry a timestamp taken before the memory is released (another thread may get
 * the same address right after); alloc-side after the real call returns. */
static inline void record_free(uint8_t func, void *p) {
    record(func, (uintptr_t)p, 0, 0, NULL); /* the size is the matching allocation's (the reader pairs them) */
}

static void resolve(void);

#define ENTER(fallback)                                   \
    if (__builtin_expect(g.state != 2, 0)) {              \
        if (g.state == 0) resolve();                      \
        if (g.state == 1) { fallback; }                   \
    }

/* ---------------------------------------------------------------- the allocation functions */
EXPORT void *malloc(size_t n) {
    ENTER(return boot_alloc(n));
    if (t_guard || !g.enabled) return real.malloc(n);
    t_guard++;
    void *p = real.malloc(n);
    if (p) record(MDT_FN_MALLOC, (uintptr_t)p, n, 0, __builtin_frame_address(0));
    t_guard--;
    return p;
}

EXPORT void *calloc(size_t a, size_t b) {
    ENTER(return boot_alloc(a * b));   /* boot_heap is zeroed static memory */
    if (t_guard || !g.enabled) return real.calloc(a, b);
    t_guard++;
    void *p = real.calloc(a, b);
    if (p) record(MDT_FN_CALLOC, (uintptr_t)p, (uint64_t)a * b, 0, __builtin_frame_address(0));
    t_guard--;
    return p;
}

EXPORT void free(void *p) {
    if (!p || is_boot(p)) return;
    ENTER(return);
    if (t_guard || !g.enabled) {
        real.free(p);
        return;
    }
    t_guard++;
    record_free(MDT_FN_FREE, p);
    real.free(p);
    t_guard--;
}

EXPORT void cfree(void *p) { free(p); }

static void *realloc_common(void *p, size_t n, uint8_t fn_alloc, uint8_t fn_free, void *frame, size_t nmemb,
                            int is_array) {
    if (is_boot(p)) {
        size_t old = boot_size(p);
        if (is_array && nmemb && n > SIZE_MAX / nmemb) { errno = ENOMEM; return NULL; }
        size_t want = is_array ? n * nmemb : n;
        void *q = malloc(want);
        if (q) memcpy(q, p, old < want ? old : want);
        return q;
    }
    if (t_guard || !g.enabled || !p) {
        if (!p && !t_guard && g.enabled) {
            /* realloc(NULL, n) is a malloc */
            t_guard++;
            void *q = is_array ? real.reallocarray(NULL, nmemb, n) : real.realloc(NULL, n);
            if (q) record(fn_alloc, (uintptr_t)q, is_array ? (uint64_t)nmemb * n : n, 0, frame);
            t_guard--;
            return q;
        }
        return is_array ? real.reallocarray(p, nmemb, n) : real.realloc(p, n);
    }
    t_guard++;
    size_t before = 0; /* known to the reader from the allocation it pairs with */
    uint64_t want = is_array ? (uint64_t)nmemb * n : n;
    /* the free side is recorded before the call: another thread may get p as soon as realloc releases it */
    record_f(fn_free, want == 0 ? MDT_FL_ZERO : 0, (uintptr_t)p, before, -(int64_t)before, NULL);
    void *q = is_array ? real.reallocarray(p, nmemb, n) : real.realloc(p, n);
    if (q) record(fn_alloc, (uintptr_t)q, want, 0, frame);
    else if (want != 0) record(fn_alloc, (uintptr_t)p, before, (int64_t)before, frame); /* failed: p still live */
    t_guard--;
    return q;
}

static void *boot_realloc(void *p, size_t n) {
    void *q = boot_alloc(n);
    if (q && p && is_boot(p)) memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
    return q;
}

EXPORT void *realloc(void *p, size_t n) {
    ENTER(return boot_realloc(p, n));
    return realloc_common(p, n, MDT_FN_REALLOC, MDT_FN_REALLOC_FREE, __builtin_frame_address(0), 0, 0);
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t n) {
    ENTER(return boot_alloc(nmemb * n));
    return realloc_common(p, n, MDT_FN_REALLOCARRAY, MDT_FN_REALLOCARRAY_FREE, __builtin_frame_address(0), nmemb, 1);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
    ENTER(*out = boot_alloc(n); return *out ? 0 : ENOMEM);
    if (t_guard || !g.enabled) return real.posix_memalign(out, align, n);
    t_guard++;
    int r = real.posix_memalign(out, align, n);
    if (r == 0 && *out) record(MDT_FN_POSIX_MEMALIGN, (uintptr_t)*out, n, 0, __builtin_frame_address(0));
    t_guard--;
    return r;
}

#define ALIGNED_WRAPPER(name, FN)                                                           \
    EXPORT void *name(size_t align, size_t n) {                                             \
        ENTER(return NULL);                                                                 \
        if (t_guard || !g.enabled || !real.name) return real.name ? real.name(align, n) : NULL; \
        t_guard++;                                                                          \
        void *p = real.name(align, n);                                                      \
        if (p) record(FN, (uintptr_t)p, n, 0, __builtin_frame_address(0)); \
        t_guard--;                                                                          \
        return p;                                                                           \
    }
ALIGNED_WRAPPER(aligned_alloc, MDT_FN_ALIGNED_ALLOC)
ALIGNED_WRAPPER(memalign, MDT_FN_MEMALIGN)

#define PAGE_WRAPPER(name, FN)                                                              \
    EXPORT void *name(size_t n) {                                                           \
        ENTER(return NULL);                                                                 \
        if (t_guard || !g.enabled || !real.name) return real.name ? real.name(n) : NULL;    \
        t_guard++;                                                                          \
        void *p = real.name(n);                                                             \
        if (p) record(FN, (uintptr_t)p, n, 0, __builtin_frame_address(0)); \
        t_guard--;                                                                          \
        return p;                                                                           \
    }
PAGE_WRAPPER(valloc, MDT_FN_VALLOC)
PAGE_WRAPPER(pvalloc, MDT_FN_PVALLOC)

/* mmap family: only the program's own calls (the allocator's internal mmaps happen under the guard) */
static void *mmap_common(mmap_t fn, void *a, size_t n, int prot, int flags, int fd, off_t off, void *frame) {
    if (!fn) return raw_mmap(a, n, prot, flags, fd, off);
    if (t_guard || !g.enabled) return fn(a, n, prot, flags, fd, off);
    t_guard++;
    void *p = fn(a, n, prot, flags, fd, off);
    if (p != MAP_FAILED) record(MDT_FN_MMAP, (uintptr_t)p, n, 0, frame);
    t_guard--;
    return p;
}

EXPORT void *mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
    ENTER(return raw_mmap(a, n, prot, flags, fd, off));
    return mmap_common(real.mmap, a, n, prot, flags, fd, off, __builtin_frame_address(0));
}

EXPORT void *mmap64(void *a, size_t n, int prot, int flags, int fd, off_t off) {
    ENTER(return raw_mmap(a, n, prot, flags, fd, off));
    return mmap_common(real.mmap64 ? real.mmap64 : real.mmap, a, n, prot, flags, fd, off, __builtin_frame_address(0));
}

EXPORT int munmap(void *a, size_t n) {
    ENTER(return (int)syscall(SYS_munmap, a, n));
    if (t_guard || !g.enabled) return real.munmap(a, n);
    t_guard++;
    record(MDT_FN_MUNMAP, (uintptr_t)a, n, 0, __builtin_frame_address(0));
    int r = real.munmap(a, n);
    t_guard--;
    return r;
}

EXPORT void *mremap(void *old, size_t old_n, size_t n, int flags, ...) {
    void *fixed = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        fixed = va_arg(ap, void *);
        va_end(ap);
    }
    ENTER(return (void *)syscall(SYS_mremap, old, old_n, n, flags, fixed));
    if (t_guard || !g.enabled) return real.mremap(old, old_n, n, flags, fixed);
    t_guard++;
    record(MDT_FN_MREMAP_FREE, (uintptr_t)old, old_n, 0, NULL);
    void *p = real.mremap(old, old_n, n, flags, fixed);
    if (p != MAP_FAILED) {
        record(MDT_FN_MREMAP, (uintptr_t)p, n, 0, __builtin_frame_address(0));
    } else {
        record(MDT_FN_MMAP, (uintptr_t)old, old_n, 0, __builtin_frame_address(0)); /* unchanged: re-add */
    }
    t_guard--;
    return p;
}

static void write_maps(void);

EXPORT void *dlopen(const char *file, int mode) {
    ENTER(return NULL);
    void *h = real.dlopen(file, mode);
    if (h && g.enabled && !t_guard) {
        t_guard++;
        write_maps();
        t_guard--;
    }
    return h;
}

/* ---------------------------------------------------------------- snapshots of /proc/self */
static char *big_read(const char *path, size_t *len, size_t *mapped) {
    size_t cap = 1 << 20;
    for (;;) {
        char *buf = raw_mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED) return NULL;
        ssize_t n = read_file(path, buf, cap);
        if (n < 0) {
            raw_munmap(buf, cap);
            return NULL;
        }
        if ((size_t)n < cap) {
            *len = (size_t)n;
            *mapped = cap;
            return buf;
        }
        raw_munmap(buf, cap);
        cap <<= 2;
    }
}

static void write_maps(void) {
    size_t n, mapped;
    char *m = big_read("/proc/self/maps", &n, &mapped);
    if (!m) return;
    blob(MDT_BLOB_MAPS, m, n);
    raw_munmap(m, mapped);
}

/* Resident pages of every private anonymous writable mapping (heap, anonymous mmap), from pagemap. */
static void pagemap_snapshot(uint32_t reason) {
    size_t mlen, mapped;
    char *m = big_read("/proc/self/maps", &mlen, &mapped);
    if (!m) return;
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0) {
        raw_munmap(m, mapped);
        return;
    }
    /* first pass: ranges */
    size_t cap = 1 << 20, used = 24;
    char *out = raw_mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (out == MAP_FAILED) goto done;
    uint64_t nr = 0;
    uintptr_t tab_lo = (uintptr_t)g.stacks, tab_hi = tab_lo + STACK_SLOTS * sizeof(uint64_t);
    for (char *line = m; line < m + mlen;) {
        char *eol = memchr(line, '\n', (size_t)(m + mlen - line));
        if (!eol) break;
        unsigned long lo, hi, off;
        char perms[8];
        unsigned dmaj, dmin;
        unsigned long ino;
        int pos = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &lo, &hi, perms, &off, &dmaj, &dmin, &ino, &pos) >= 7) {
            const char *name = line + pos;
            int anon = ino == 0 && perms[1] == 'w' && perms[3] == 'p' &&
                       (name >= eol || *name == '\n' || !strncmp(name, "[heap]", 6) || !strncmp(name, "[anon:", 6));
            if (anon && !(lo >= tab_lo && hi <= tab_hi)) {
                if (used + 16 > cap) break;
                memcpy(out + used, &lo, 8);
                memcpy(out + used + 8, &hi, 8);
                used += 16;
                nr++;
            }
        }
        line = eol + 1;
    }
    /* second pass: one bit per page, per range, padded to 8 bytes */
    size_t ranges_end = used;
    uint64_t buf[512];
    for (uint64_t r = 0; r < nr; r++) {
        uint64_t lo, hi;
        memcpy(&lo, out + 24 + r * 16, 8);
        memcpy(&hi, out + 24 + r * 16 + 8, 8);
        uint64_t pages = (hi - lo) / 4096, bytes = ((pages + 63) / 64) * 8;
        while (used + bytes > cap) {
            size_t ncap = cap * 4;
            char *nout = raw_mmap(NULL, ncap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (nout == MAP_FAILED) goto write;
            memcpy(nout, out, used);
            raw_munmap(out, cap);
            out = nout;
            cap = ncap;
        }
        uint64_t *bits = (uint64_t *)(out + used);
        for (uint64_t pg = 0; pg < pages;) {
            uint64_t k = pages - pg < 512 ? pages - pg : 512;
            ssize_t got = pread(pm, buf, k * 8, (off_t)((lo / 4096 + pg) * 8));
            if (got <= 0) break;
            k = (uint64_t)got / 8;
            for (uint64_t j = 0; j < k; j++)
                if (buf[j] >> 63) bits[(pg + j) / 64] |= 1ull << ((pg + j) % 64);
            pg += k;
        }
        used += bytes;
    }
write:
    (void)ranges_end;
    {
        uint64_t hdr[3] = {reason, (uint64_t)atomic_load(&g.live), nr};
        memcpy(out, hdr, sizeof(hdr));
        blob(MDT_BLOB_PAGEMAP, out, used);
    }
    raw_munmap(out, cap);
done:
    close(pm);
    raw_munmap(m, mapped);
}

static void heap_state(uint32_t reason) {
    void *(*mi2)(void) = NULL;
    struct mallinfo2 (*fn)(void) = dlsym(RTLD_DEFAULT, "mallinfo2");
    (void)mi2;
    if (fn) {
        struct { struct mallinfo2 mi; uint64_t reason; } b;
        b.mi = fn();
        b.reason = reason;
        blob(MDT_BLOB_MALLINFO2, &b, sizeof(b));
    }
    int (*info)(int, FILE *) = dlsym(RTLD_DEFAULT, "malloc_info");
    if (info) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f) {
            info(0, f);
            fclose(f);
            if (buf) {
                blob(MDT_BLOB_MALLOC_INFO, buf, len);
                real.free(buf);
            }
        }
    }
    write_maps();
}

static void on_heap_signal(int sig) { g.heap_request = 1; }

/* ---------------------------------------------------------------- start, fork, exit */
static int self_phdr(struct dl_phdr_info *info, size_t sz, void *arg) {
    uintptr_t me = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (me >= lo && me < hi) {
            g.self_lo = lo;
            g.self_hi = hi;
            return 1;
        }
    }
    return 0;
}

static int open_output(int child) {
    const char *out = getenv("MEMDIVE_TRACE_OUT");
    if (!out || !*out) return -1;
    const char *root = getenv("MEMDIVE_TRACE_ROOT");
    if (child || (root && atoi(root) != g.pid))
        snprintf(g.path, sizeof(g.path), "%s.%d", out, (int)g.pid);
    else
        snprintf(g.path, sizeof(g.path), "%s", out);
    int fd = open(g.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    for (int k = 1; fd < 0 && errno == EEXIST && k < 100; k++) {
        /* the same pid after exec: a new file per program image */
        snprintf(g.path, sizeof(g.path), "%s.%d.exec%d", out, (int)g.pid, k);
        fd = open(g.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) warn("memdive trace: cannot create %s (%s); not tracing pid %d\n", g.path, strerror(errno), (int)g.pid);
    return fd;
}

static void start_file(int child) {
    g.fd = open_output(child);
    if (g.fd < 0) return;
    g.t0 = now_ns();
    atomic_store(&g.next_off, MDT_HEADER_SIZE);
    g.stacks = raw_mmap(NULL, STACK_SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g.stacks == MAP_FAILED) {
        warn("memdive trace: no memory for the stack table\n");
        close(g.fd);
        g.fd = -1;
        return;
    }
    atomic_store(&g.nthreads, 0);
    atomic_store(&g.live, 0);
    g.next_snap = 4 << 20;
    struct mdt_file_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, MDT_MAGIC, 8);
    h.version = MDT_VERSION;
    h.header_size = MDT_HEADER_SIZE;
    h.pid = (uint32_t)g.pid;
    h.ppid = (uint32_t)getppid();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    h.start_realtime_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
    h.start_monotonic_ns = g.t0;
    h.page_size = (uint32_t)sysconf(_SC_PAGESIZE);
    h.flags = (g.unwind_fp ? MDT_F_UNWIND_FP : 0) | (g.follow ? MDT_F_FOLLOW_FORK : 0) | (child ? MDT_F_CHILD : 0);
    h.max_frames = (uint32_t)g.max_frames;
    h.stack_slots = STACK_SLOTS;
    Dl_info di;
    if (real.malloc && dladdr((void *)real.malloc, &di) && di.dli_fname) {
        const char *b = strrchr(di.dli_fname, '/');
        snprintf(h.allocator, sizeof(h.allocator), "%s", b ? b + 1 : di.dli_fname);
    }
    if (ftruncate(g.fd, MDT_HEADER_SIZE) != 0 || pwrite(g.fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
        warn("memdive trace: cannot write %s (%s); not tracing\n", g.path, strerror(errno));
        close(g.fd);
        g.fd = -1;
        return;
    }
    g.enabled = 1;
    char buf[8192];
    ssize_t n = read_file("/proc/self/cmdline", buf, sizeof(buf));
    if (n > 0) blob(MDT_BLOB_CMDLINE, buf, (size_t)n);
    n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n > 0) blob(MDT_BLOB_EXE, buf, (size_t)n);
    write_maps();
}

static void atfork_child(void) {
    int was = g.enabled;
    g.enabled = 0;
    atomic_fetch_add(&g.generation, 1);
    if (g.fd >= 0) close(g.fd);
    g.fd = -1;
    if (g.stacks && g.stacks != MAP_FAILED) raw_munmap((void *)g.stacks, STACK_SLOTS * sizeof(uint64_t));
    g.stacks = NULL;
    g.pid = getpid();
    atomic_store(&g.snap_busy, 0);
    t_state.ready = 0; /* the forking thread's chunks are the parent's: tstate() reinitialises */
    if (t_state.ev) raw_munmap(t_state.ev, t_state.ev_size);
    if (t_state.misc) raw_munmap(t_state.misc, t_state.misc_size);
    t_state.ev = t_state.misc = NULL;
    if (was && g.follow) {
        t_guard++;
        start_file(1);
        t_guard--;
    }
}

static void at_exit_snapshot(void) {
    if (!g.enabled) return;
    t_guard++;
    struct tstate *t = tstate();
    heap_state(MDT_R_EXIT);
    pagemap_snapshot(MDT_R_EXIT);
    rss_sample(t);
    uint64_t r = MDT_R_EXIT;
    blob(MDT_BLOB_EXIT, &r, sizeof(r));
    t_guard--;
}

static void resolve(void) {
    g.state = 1;
    g.pid = getpid();
    real.malloc = (malloc_t)dlsym(RTLD_NEXT, "malloc");
    real.calloc = (calloc_t)dlsym(RTLD_NEXT, "calloc");
    real.realloc = (realloc_t)dlsym(RTLD_NEXT, "realloc");
    real.reallocarray = (reallocarray_t)dlsym(RTLD_NEXT, "reallocarray");
    real.free = (free_t)dlsym(RTLD_NEXT, "free");
    real.posix_memalign = (posix_memalign_t)dlsym(RTLD_NEXT, "posix_memalign");
    real.aligned_alloc = (aligned_alloc_t)dlsym(RTLD_NEXT, "aligned_alloc");
    real.memalign = (aligned_alloc_t)dlsym(RTLD_NEXT, "memalign");
    real.valloc = (valloc_t)dlsym(RTLD_NEXT, "valloc");
    real.pvalloc = (valloc_t)dlsym(RTLD_NEXT, "pvalloc");
    real.mmap = (mmap_t)dlsym(RTLD_NEXT, "mmap");
    real.mmap64 = (mmap_t)dlsym(RTLD_NEXT, "mmap64");
    real.munmap = (munmap_t)dlsym(RTLD_NEXT, "munmap");
    real.mremap = (mremap_t)dlsym(RTLD_NEXT, "mremap");
    real.usable = (usable_t)dlsym(RTLD_NEXT, "malloc_usable_size");
    real.dlopen = (dlopen_t)dlsym(RTLD_NEXT, "dlopen");
    if (!real.malloc || !real.free || !real.calloc || !real.realloc) {
        warn("memdive trace: cannot find the real allocator\n");
        _exit(127);
    }
    g.state = 2;
}

__attribute__((constructor(101))) static void shim_init(void) {
    if (g.state == 0) resolve();
    const char *out = getenv("MEMDIVE_TRACE_OUT");
    if (!out || !*out) return; /* loaded without `memdive trace` (e.g. dlopen'd): pass-through only */
    t_guard++;
    g.pid = getpid();
    dl_iterate_phdr(self_phdr, (void *)(uintptr_t)&shim_init);
    const char *e = getenv("MEMDIVE_TRACE_UNWIND");
    g.unwind_fp = e && !strcmp(e, "fp");
    e = getenv("MEMDIVE_TRACE_FOLLOW");
    g.follow = e && *e == '1';
    e = getenv("MEMDIVE_TRACE_FRAMES");
    g.max_frames = e ? atoi(e) : 64;
    if (g.max_frames < 1) g.max_frames = 1;
    if (g.max_frames > MAX_FRAMES_CAP) g.max_frames = MAX_FRAMES_CAP;
    e = getenv("MEMDIVE_TRACE_SIGNAL");
    g.sig = e ? atoi(e) : SIGUSR2;
    pthread_key_create(&g.key, thread_key_dtor);
    pthread_atfork(NULL, NULL, atfork_child);
    const char *root = getenv("MEMDIVE_TRACE_ROOT");
    int child = root && atoi(root) != g.pid;
    if (child && !g.follow) {
        t_guard--;
        return; /* an exec'd descendant of a traced process without --follow-fork */
    }
    start_file(child);
    if (!root) {
        char pid[32];
        snprintf(pid, sizeof(pid), "%d", (int)g.pid);
        setenv("MEMDIVE_TRACE_ROOT", pid, 1);
    }
    /* LD_PRELOAD and MEMDIVE_TRACE_OUT stay in the environment: an exec of this same pid (env, sh -c exec,
     * wrapper scripts) is traced into OUT.<pid>.execN; other processes stay untraced without --follow-fork
     * (the shim loads there but only passes calls through). */
    if (g.sig > 0 && g.sig < NSIG) {
        struct sigaction old;
        if (sigaction(g.sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = on_heap_signal;
            sa.sa_flags = SA_RESTART;
            sigaction(g.sig, &sa, NULL);
        }
    }
    atexit(at_exit_snapshot);
    t_guard--;
}

EXPORT int memdive_trace_format_version(void) { return MDT_VERSION; }
