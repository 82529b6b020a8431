/* misc.c - the seed's access-pattern kernels: row/column-major fill, stride sweep, gather with
 * and without software prefetch, process_large_array, false sharing (packed vs padded counters),
 * transposes (naive, blocked, cache-oblivious), and the seed's optimize_tlb_usage mappings.
 */
#include "bench.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PIN_OR(cpu, old, rc) int rc = mdb_pin_self(cpu, &old) == 0 ? 0 : 1

volatile uint64_t mdb_misc_sink;

/* ---- row- vs column-major (benchmark_access_patterns): m[i][j] = i*j over N x N doubles ---- */
int mdb_matrix_fill(double *m, int n, int col_major, int reps, int cpu, double *times) {
    if (!m || n < 1 || reps < 1 || !times) return MDB_EINVAL;
    cpu_set_t old;
    PIN_OR(cpu, old, rc);
    for (int r = 0; r < reps; r++) {
        double t = mdb_now();
        if (col_major) {
            for (int j = 0; j < n; j++)
                for (int i = 0; i < n; i++) m[(size_t)i * n + j] = (double)i * j + r;
        } else {
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) m[(size_t)i * n + j] = (double)i * j + r;
        }
        times[r] = mdb_now() - t;
    }
    mdb_unpin_self(&old);
    return rc;
}

/* elements that differ from i*j + last_rep (0 when correct) */
size_t mdb_matrix_check(const double *m, int n, int last_rep) {
    size_t bad = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) bad += m[(size_t)i * n + j] != (double)i * j + last_rep;
    return bad;
}

/* ---- stride sweep: one 8-byte load every `stride` bytes. For strides >= 64 every line of the
 * buffer is visited once per pass (offsets 0, 64, ... inside the stride), so a pass never re-reads
 * a cached line; below 64 every stride-th word is read in order. ---- */
int mdb_stride_read(const char *buf, size_t size, size_t stride, int reps, int cpu, double *times,
                    uint64_t *accesses, uint64_t *sum_out) {
    if (!buf || stride < 8 || stride % 8 || size < stride || reps < 1 || !times) return MDB_EINVAL;
    cpu_set_t old;
    PIN_OR(cpu, old, rc);
    uint64_t sum = 0, count = 0;
    size_t inner = stride >= MDB_LINE ? stride : MDB_LINE;
    size_t groups = size / inner;
    for (int r = 0; r < reps; r++) {
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        count = 0;
        double t = mdb_now();
        if (stride >= MDB_LINE) {
            for (size_t o = 0; o < stride; o += MDB_LINE) {
                const char *p = buf + o;
                size_t k = 0;
                for (; k + 4 <= groups; k += 4) {
                    s0 += *(const uint64_t *)(p + k * stride);
                    s1 += *(const uint64_t *)(p + (k + 1) * stride);
                    s2 += *(const uint64_t *)(p + (k + 2) * stride);
                    s3 += *(const uint64_t *)(p + (k + 3) * stride);
                }
                for (; k < groups; k++) s0 += *(const uint64_t *)(p + k * stride);
                count += groups;
            }
        } else {
            size_t m = size / stride, step = stride / 8;
            const uint64_t *w = (const uint64_t *)buf;
            size_t k = 0;
            for (; k + 4 <= m; k += 4) {
                s0 += w[k * step];
                s1 += w[(k + 1) * step];
                s2 += w[(k + 2) * step];
                s3 += w[(k + 3) * step];
            }
            for (; k < m; k++) s0 += w[k * step];
            count = m;
        }
        times[r] = mdb_now() - t;
        sum = s0 + s1 + s2 + s3;
    }
    mdb_misc_sink = sum;
    if (accesses) *accesses = count;
    if (sum_out) *sum_out = sum;
    mdb_unpin_self(&old);
    return rc;
}

/* ---- index arrays: identity or a random permutation (Fisher-Yates) ---- */
static inline uint64_t xs64(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

int mdb_fill_index(uint32_t *idx, size_t n, int shuffle, uint64_t seed) {
    if (!idx || n > 0xFFFFFFFFu) return MDB_EINVAL;
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    if (shuffle) {
        uint64_t s = seed ? seed : 0x2545F4914F6CDD1Dull;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = xs64(&s) % (i + 1);
            uint32_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
    }
    return 0;
}

/* fill data[i] = i (so any full gather sums to n(n-1)/2) */
void mdb_fill_iota64(uint64_t *data, size_t n) {
    for (size_t i = 0; i < n; i++) data[i] = i;
}

/* ---- gather: sum data[idx[i]]; dist > 0 prefetches data[idx[i + dist]] (indirect prefetch) ---- */
int mdb_gather(const uint64_t *data, const uint32_t *idx, size_t n, size_t dist, int reps, int warm, int cpu,
               double *times, uint64_t *sum_out) {
    if (!data || !idx || n < 1 || reps < 1 || !times) return MDB_EINVAL;
    cpu_set_t old;
    PIN_OR(cpu, old, rc);
    uint64_t sum = 0;
    for (int r = -warm; r < reps; r++) {
        uint64_t s = 0;
        double t = mdb_now();
        if (dist == 0) {
            for (size_t i = 0; i < n; i++) s += data[idx[i]];
        } else {
            size_t stop = n > dist ? n - dist : 0, i = 0;
            for (; i < stop; i++) {
                __builtin_prefetch(&data[idx[i + dist]], 0, 3);
                s += data[idx[i]];
            }
            for (; i < n; i++) s += data[idx[i]];
        }
        t = mdb_now() - t;
        if (r >= 0) times[r] = t;
        sum = s;
    }
    mdb_misc_sink = sum;
    if (sum_out) *sum_out = sum;
    mdb_unpin_self(&old);
    return rc;
}

/* ---- process_large_array: a[i] = a[i]*2 + 1 with prefetch `dist` elements ahead (0: none);
 * the seed prefetches before every element, which stops vectorisation: here once per line ---- */
int mdb_process_array(uint32_t *a, size_t n, size_t dist, int reps, int warm, int cpu, double *times) {
    if (!a || n < 1 || reps < 1 || !times) return MDB_EINVAL;
    cpu_set_t old;
    PIN_OR(cpu, old, rc);
    for (int r = -warm; r < reps; r++) {
        double t = mdb_now();
        if (dist == 0) {
            for (size_t i = 0; i < n; i++) a[i] = a[i] * 2u + 1u;
        } else {
            /* one prefetch per 64-byte line (16 elements), so the line's work still vectorises */
            size_t stop = n > dist + 16 ? (n - dist - 16) & ~(size_t)15 : 0, i = 0;
            for (; i < stop; i += 16) {
                __builtin_prefetch(&a[i + dist], 1, 3);
#pragma omp simd
                for (size_t j = i; j < i + 16; j++) a[j] = a[j] * 2u + 1u;
            }
            for (; i < n; i++) a[i] = a[i] * 2u + 1u;
        }
        t = mdb_now() - t;
        if (r >= 0) times[r] = t;
    }
    mdb_unpin_self(&old);
    return rc;
}

/* elements not equal to (x0 + 1) * 2^passes - 1 (mod 2^32), where x0 = i was the start value */
size_t mdb_process_array_check(const uint32_t *a, size_t n, int passes) {
    uint32_t mul = 1;
    for (int k = 0; k < passes; k++) mul *= 2u;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += a[i] != (uint32_t)(((uint32_t)i + 1u) * mul - 1u);
    return bad;
}

void mdb_fill_iota32(uint32_t *a, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = (uint32_t)i;
}

/* ---- false sharing: each thread increments its own counter `iters` times (atomic, relaxed);
 * packed: counters adjacent in one line; padded: one line each (the seed's padded_counter_t) ---- */
typedef struct {
    _Atomic(int64_t) counter;
    char padding[MDB_LINE - sizeof(_Atomic(int64_t))];
} __attribute__((aligned(MDB_LINE))) padded_counter_t;

typedef struct {
    _Alignas(MDB_LINE) _Atomic(int64_t) packed[8 * 16]; /* up to 128 threads share lines 8 a line */
    padded_counter_t padded[128];
    uint64_t iters;
    int use_padded, reps;
    double *times;
} fs_arg;

static void fs_member(mdb_team *team, int tid, void *p) {
    fs_arg *f = p;
    _Atomic(int64_t) *mine = f->use_padded ? &f->padded[tid].counter : &f->packed[tid];
    for (int r = -1; r < f->reps; r++) { /* one warm-up round */
        mdb_team_barrier(team);
        double t0 = tid == 0 ? mdb_now() : 0.0;
        for (uint64_t i = 0; i < f->iters; i++) atomic_fetch_add_explicit(mine, 1, memory_order_relaxed);
        mdb_team_barrier(team);
        if (tid == 0 && r >= 0) f->times[r] = mdb_now() - t0;
    }
}

/* times: seconds per round (all threads' iters). *total_out: the sum of all counters, which must be
 * nthreads * iters * (reps + 1). Returns 0, 1 (pinning failed) or MDB_E*. */
int mdb_false_sharing(int nthreads, const int *cpus, uint64_t iters, int padded, int reps, double *times,
                      int64_t *total_out) {
    if (nthreads < 1 || nthreads > 128 || iters < 1 || reps < 1 || !times) return MDB_EINVAL;
    fs_arg *f = aligned_alloc(MDB_LINE, (sizeof *f + MDB_LINE - 1) / MDB_LINE * MDB_LINE);
    if (!f) return MDB_ENOMEM;
    memset(f, 0, sizeof *f);
    f->iters = iters;
    f->use_padded = padded;
    f->reps = reps;
    f->times = times;
    int rc = mdb_team_run(nthreads, cpus, fs_member, f);
    int64_t tot = 0;
    for (int i = 0; i < nthreads; i++) tot += padded ? atomic_load(&f->padded[i].counter) : atomic_load(&f->packed[i]);
    if (total_out) *total_out = tot;
    free(f);
    return rc;
}

/* ---- transposes: B (m x n) = A^T, A is n x m row-major ---- */
static void co_transpose(const double *A, double *B, int n, int m, int r0, int r1, int c0, int c1) {
    /* the seed's cache_oblivious_transpose */
    if (r1 - r0 <= 16 && c1 - c0 <= 16) {
        for (int i = r0; i < r1; i++)
            for (int j = c0; j < c1; j++) B[(size_t)j * n + i] = A[(size_t)i * m + j];
    } else if (r1 - r0 >= c1 - c0) {
        int rm = (r0 + r1) / 2;
        co_transpose(A, B, n, m, r0, rm, c0, c1);
        co_transpose(A, B, n, m, rm, r1, c0, c1);
    } else {
        int cm = (c0 + c1) / 2;
        co_transpose(A, B, n, m, r0, r1, c0, cm);
        co_transpose(A, B, n, m, r0, r1, cm, c1);
    }
}

/* method 0 naive, 1 blocked (tile `block`), 2 cache-oblivious */
int mdb_transpose(const double *A, double *B, int n, int m, int method, int block, int reps, int warm, int cpu,
                  double *times) {
    if (!A || !B || n < 1 || m < 1 || method < 0 || method > 2 || reps < 1 || !times || (method == 1 && block < 1))
        return MDB_EINVAL;
    cpu_set_t old;
    PIN_OR(cpu, old, rc);
    for (int r = -warm; r < reps; r++) {
        double t = mdb_now();
        if (method == 0) {
            for (int i = 0; i < n; i++)
                for (int j = 0; j < m; j++) B[(size_t)j * n + i] = A[(size_t)i * m + j];
        } else if (method == 1) {
            for (int ii = 0; ii < n; ii += block)
                for (int jj = 0; jj < m; jj += block) {
                    int ie = ii + block < n ? ii + block : n, je = jj + block < m ? jj + block : m;
                    for (int i = ii; i < ie; i++)
                        for (int j = jj; j < je; j++) B[(size_t)j * n + i] = A[(size_t)i * m + j];
                }
        } else {
            co_transpose(A, B, n, m, 0, n, 0, m);
        }
        t = mdb_now() - t;
        if (r >= 0) times[r] = t;
    }
    mdb_unpin_self(&old);
    return rc;
}

void mdb_fill_matrix(double *A, int n, int m) {
    for (size_t i = 0; i < (size_t)n * m; i++) A[i] = (double)i;
}

size_t mdb_transpose_check(const double *A, const double *B, int n, int m) {
    size_t bad = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) bad += B[(size_t)j * n + i] != A[(size_t)i * m + j];
    return bad;
}

/* ---- optimize_tlb_usage: map and touch npages pages ----
 * mode 0: npages separate 4 KiB mmaps; 1: one region, 4 KiB pages (MADV_NOHUGEPAGE);
 * 2: one MAP_HUGETLB region (2 MiB pages; fails when the pool is short); 3: one region with
 * MADV_HUGEPAGE (THP), 2 MiB aligned. The region stays mapped so the caller can check its backing;
 * mdb_tlb_unmap releases it. */
typedef struct {
    int mode;
    size_t npages, len;
    char *region, *raw;
    size_t rawlen;
    void **small;
} tlb_map;

void mdb_tlb_unmap(tlb_map *h) {
    if (!h) return;
    if (h->small) {
        for (size_t i = 0; i < h->npages; i++)
            if (h->small[i]) munmap(h->small[i], (size_t)sysconf(_SC_PAGESIZE));
        free(h->small);
    }
    if (h->raw) munmap(h->raw, h->rawlen);
    free(h);
}

tlb_map *mdb_tlb_map(int mode, size_t npages, double *secs, uintptr_t *region_out, size_t *len_out, int *err) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), huge = 2u << 20;
    *err = 0;
    if (mode < 0 || mode > 3 || npages < 1) {
        *err = MDB_EINVAL;
        return NULL;
    }
    tlb_map *h = calloc(1, sizeof *h);
    if (!h) {
        *err = MDB_ENOMEM;
        return NULL;
    }
    h->mode = mode;
    h->npages = npages;
    size_t len = npages * page;
    if (mode == 0 && !(h->small = calloc(npages, sizeof(void *)))) {
        free(h);
        *err = MDB_ENOMEM;
        return NULL;
    }
    double t = mdb_now();
    if (mode == 0) {
        for (size_t i = 0; i < npages; i++) {
            void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                *err = MDB_ENOMEM;
                break;
            }
            h->small[i] = p;
            *(int *)p = (int)i;
        }
    } else {
        size_t want = mode == 1 ? len : (len + huge - 1) / huge * huge;
        size_t rawlen = mode == 3 ? want + huge : want;
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | (mode == 2 ? MAP_HUGETLB : 0);
        char *raw = mmap(NULL, rawlen, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (raw == MAP_FAILED) {
            *err = MDB_ENOMEM;
        } else {
            h->raw = raw;
            h->rawlen = rawlen;
            char *r = mode == 3 ? (char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1)) : raw;
            madvise(r, want, mode == 3 ? MADV_HUGEPAGE : (mode == 1 ? MADV_NOHUGEPAGE : MADV_NORMAL));
            for (size_t i = 0; i < npages; i++) ((int *)(r + i * page))[0] = (int)i;
            h->region = r;
            h->len = want;
        }
    }
    *secs = mdb_now() - t;
    if (*err) {
        mdb_tlb_unmap(h);
        return NULL;
    }
    *region_out = (uintptr_t)h->region;
    *len_out = h->len;
    return h;
}
