/* stream.c - STREAM's kernels (plus read and write) on caller-provided arrays, pinned threads.
 * Definitions and byte counting as STREAM: copy c=a, scale b=s*c, add c=a+b, triad a=b+s*c
 * (16, 16, 24, 24 bytes per element; write-allocate traffic not counted); read s+=a (8 B),
 * write c=w (8 B). Results validated as STREAM does: the same sequence run on scalars, then
 * every element compared. Optional non-temporal (streaming) stores.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__))
#include <immintrin.h>
#define MDB_HAVE_NT 1
#else
#define MDB_HAVE_NT 0
#endif

enum { K_READ, K_WRITE, K_COPY, K_SCALE, K_ADD, K_TRIAD, K_N };
#define SCALAR 3.0
#define FILLV 7.0

typedef struct {
    double *a, *b, *c;
    size_t n;
    int mask, reps, warmup, nt;
    double *times;
    double sums[1024];
    int read_bad;
} stream_arg;

int mdb_stream_have_nt(void) { return MDB_HAVE_NT; }

#if MDB_HAVE_NT
#if defined(__AVX512F__)
#define VW 8
typedef __m512d vd;
#define VLOAD(p) _mm512_load_pd(p)
#define VSTREAM(p, v) _mm512_stream_pd(p, v)
#define VSET1(x) _mm512_set1_pd(x)
#define VADD(x, y) _mm512_add_pd(x, y)
#define VMUL(x, y) _mm512_mul_pd(x, y)
#elif defined(__AVX__)
#define VW 4
typedef __m256d vd;
#define VLOAD(p) _mm256_load_pd(p)
#define VSTREAM(p, v) _mm256_stream_pd(p, v)
#define VSET1(x) _mm256_set1_pd(x)
#define VADD(x, y) _mm256_add_pd(x, y)
#define VMUL(x, y) _mm256_mul_pd(x, y)
#else
#define VW 2
typedef __m128d vd;
#define VLOAD(p) _mm_load_pd(p)
#define VSTREAM(p, v) _mm_stream_pd(p, v)
#define VSET1(x) _mm_set1_pd(x)
#define VADD(x, y) _mm_add_pd(x, y)
#define VMUL(x, y) _mm_mul_pd(x, y)
#endif

/* chunks start on 64-byte boundaries (mdb_split) of 64-byte aligned arrays */
static void nt_kernel(int k, double *restrict a, double *restrict b, double *restrict c, size_t lo, size_t hi) {
    size_t i = lo, end = lo + ((hi - lo) & ~(size_t)(VW - 1));
    const vd s = VSET1(SCALAR), w = VSET1(FILLV);
    switch (k) {
    case K_WRITE: for (; i < end; i += VW) VSTREAM(c + i, w); for (; i < hi; i++) c[i] = FILLV; break;
    case K_COPY: for (; i < end; i += VW) VSTREAM(c + i, VLOAD(a + i)); for (; i < hi; i++) c[i] = a[i]; break;
    case K_SCALE: for (; i < end; i += VW) VSTREAM(b + i, VMUL(s, VLOAD(c + i))); for (; i < hi; i++) b[i] = SCALAR * c[i]; break;
    case K_ADD: for (; i < end; i += VW) VSTREAM(c + i, VADD(VLOAD(a + i), VLOAD(b + i))); for (; i < hi; i++) c[i] = a[i] + b[i]; break;
    case K_TRIAD:
        for (; i < end; i += VW) VSTREAM(a + i, VADD(VLOAD(b + i), VMUL(s, VLOAD(c + i))));
        for (; i < hi; i++) a[i] = b[i] + SCALAR * c[i];
        break;
    }
    _mm_sfence();
}
#endif

static double read_kernel(const double *restrict a, size_t lo, size_t hi) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (size_t i = lo; i < hi; i++) s += a[i];
    return s;
}

/* Plain loops, as STREAM's: gcc would otherwise turn copy (and write) into memmove/memset calls,
 * which switch to non-temporal stores on large sizes and so measure another kernel than STREAM's. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void run_kernel(int k, double *restrict a, double *restrict b, double *restrict c, size_t lo, size_t hi) {
    switch (k) {
    case K_WRITE: for (size_t i = lo; i < hi; i++) c[i] = FILLV; break;
    case K_COPY: for (size_t i = lo; i < hi; i++) c[i] = a[i]; break;
    case K_SCALE: for (size_t i = lo; i < hi; i++) b[i] = SCALAR * c[i]; break;
    case K_ADD: for (size_t i = lo; i < hi; i++) c[i] = a[i] + b[i]; break;
    case K_TRIAD: for (size_t i = lo; i < hi; i++) a[i] = b[i] + SCALAR * c[i]; break;
    }
}

static void scalar_step(int k, double *aj, double *bj, double *cj) {
    switch (k) {
    case K_WRITE: *cj = FILLV; break;
    case K_COPY: *cj = *aj; break;
    case K_SCALE: *bj = SCALAR * *cj; break;
    case K_ADD: *cj = *aj + *bj; break;
    case K_TRIAD: *aj = *bj + SCALAR * *cj; break;
    }
}

static void stream_member(mdb_team *team, int tid, void *p) {
    stream_arg *s = p;
    int nth = mdb_team_size(team);
    size_t lo, hi;
    mdb_split(s->n, nth, tid, &lo, &hi);
    for (size_t i = lo; i < hi; i++) { /* first touch by the thread that uses the chunk */
        s->a[i] = 1.0;
        s->b[i] = 2.0;
        s->c[i] = 0.0;
    }
    double aj = 1.0, bj = 2.0, cj = 0.0; /* the scalar sequence, kept alike by every thread */
    for (int r = 0; r < s->warmup + s->reps; r++) {
        for (int k = 0; k < K_N; k++) {
            if (!(s->mask & (1 << k))) continue;
            mdb_team_barrier(team);
            double t0 = tid == 0 ? mdb_now() : 0.0;
            if (k == K_READ)
                s->sums[tid] = read_kernel(s->a, lo, hi);
#if MDB_HAVE_NT
            else if (s->nt)
                nt_kernel(k, s->a, s->b, s->c, lo, hi);
#endif
            else
                run_kernel(k, s->a, s->b, s->c, lo, hi);
            mdb_team_barrier(team);
            if (tid == 0) {
                double t = mdb_now() - t0;
                if (r >= s->warmup) s->times[k * s->reps + (r - s->warmup)] = t;
                if (k == K_READ) {
                    double tot = 0.0;
                    for (int i = 0; i < nth; i++) tot += s->sums[i];
                    double want = aj * (double)s->n;
                    if (!(fabs(tot - want) <= 1e-9 * fabs(want))) s->read_bad = 1;
                }
            }
            scalar_step(k, &aj, &bj, &cj);
        }
    }
    if (tid == 0) {
        s->sums[0] = aj;
        s->sums[1] = bj;
        s->sums[2] = cj;
    }
}

static double relerr(const double *x, size_t n, double want) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(x[i] - want) / (fabs(want) > 0 ? fabs(want) : 1.0);
        if (!(e <= worst)) worst = e; /* NaN propagates as "worst" */
    }
    return worst;
}

/* mask: bit k for kernel k (read, write, copy, scale, add, triad). times: K_N x reps seconds
 * (rows of kernels not in mask untouched). *err_out: the largest relative error of any element
 * against the scalar sequence (STREAM's validation), or +inf when a read sum was wrong.
 * Returns 0, 1 (ran but pinning failed), MDB_EVALIDATE, or another negative MDB_E*. */
int mdb_stream(double *a, double *b, double *c, size_t n, int mask, int nthreads, const int *cpus, int reps,
               int warmup, int nt, double *times, double *err_out) {
    if (!a || !b || !c || n < (size_t)(8 * nthreads) || reps < 1 || warmup < 0 || nthreads < 1 ||
        nthreads > 1024 || !times || (mask & ~((1 << K_N) - 1)) || !mask || reps + warmup > 1000)
        return MDB_EINVAL;
    stream_arg *s = calloc(1, sizeof *s);
    if (!s) return MDB_ENOMEM;
    s->a = a; s->b = b; s->c = c; s->n = n;
    s->mask = mask; s->reps = reps; s->warmup = warmup; s->nt = nt && MDB_HAVE_NT;
    s->times = times;
    int rc = mdb_team_run(nthreads, cpus, stream_member, s);
    if (rc >= 0) {
        double e = relerr(a, n, s->sums[0]);
        double eb = relerr(b, n, s->sums[1]), ec = relerr(c, n, s->sums[2]);
        if (!(eb <= e)) e = eb;
        if (!(ec <= e)) e = ec;
        if (s->read_bad) e = INFINITY;
        if (err_out) *err_out = e;
        if (!(e <= 1e-13)) rc = MDB_EVALIDATE;
    }
    free(s);
    return rc;
}
