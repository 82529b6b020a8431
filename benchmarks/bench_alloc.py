"""Allocation: memdive.alloc.Pool against bytearray and malloc-backed (ctypes) allocation, 1 and 2 threads.

Two levels, each against references measured in the same run, cases alternating round by round:
- From Python (what a Python program pays per alloc+free of a 256-byte block): Pool.alloc_index/free_index
  and Pool.alloc/free (memoryview) against bytearray(256) and libc malloc/free through ctypes; Arena too.
  With 2 threads the same total work is split in two (ctypes releases the GIL in the C calls).
- In C (the pool itself, no ctypes per operation): Pool.churn against the same alloc/free pattern on glibc
  malloc in a small C program built here, 1 and 2 threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import statistics
import subprocess
import threading
import time

from common import BUILD, alternate, report

N = 200_000            # alloc+free pairs per case (Python level)
CHURN = 4_000_000      # pairs per case (C level)
SIZE = 256

_C_REF = r"""
/* malloc_churn.c - the pattern of memdive_pool_churn on glibc malloc: hold 1..8 blocks, free them. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static long pairs; static size_t size;
static void *run(void *arg) {
    uint64_t x = (uintptr_t)arg | 1; void *held[8];
    for (long n = 0; n < pairs;) {
        unsigned k = 1 + (unsigned)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 58) % 8;
        for (unsigned j = 0; j < k; j++) { held[j] = malloc(size); memcpy(held[j], &x, 8); }
        for (unsigned j = 0; j < k; j++) free(held[j]);
        n += k;
    }
    return NULL;
}
int main(int argc, char **argv) {
    pairs = atol(argv[1]); int threads = atoi(argv[2]); size = (size_t)atol(argv[3]);
    pthread_t t[8]; struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.9f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9);
    return 0;
}
"""


def _c_ref() -> str:
    BUILD.mkdir(parents=True, exist_ok=True)
    src, exe = BUILD / "malloc_churn.c", BUILD / "malloc_churn"
    if not exe.exists() or not src.exists() or src.read_text() != _C_REF:
        src.write_text(_C_REF)
        subprocess.run(["gcc", "-O2", "-pthread", str(src), "-o", str(exe)], check=True)
    return str(exe)


def _threads(fn, n_threads: int, total: int) -> float:
    """Wall time of TOTAL operations split over N_THREADS threads started together."""
    per = total // n_threads
    start = threading.Barrier(n_threads + 1)

    def body():
        start.wait()
        fn(per)

    ts = [threading.Thread(target=body) for _ in range(n_threads)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


def main() -> None:
    from memdive.alloc import Arena, Pool, buffer

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
    pool = Pool(SIZE, 4096)
    arena = Arena(buffer(4 << 20))

    def pool_index(n):
        a, f = pool.alloc_index, pool.free_index
        for _ in range(n):
            f(a())

    def pool_view(n):
        a, f = pool.alloc, pool.free
        for _ in range(n):
            f(a())

    def pool_many(n):
        a, f = pool.alloc_many, pool.free_many
        for _ in range(n // 64):
            f(a(64))

    def bytearr(n):
        for _ in range(n):
            b = bytearray(SIZE)
            del b

    def malloc(n):
        m, f = libc.malloc, libc.free
        for _ in range(n):
            f(m(SIZE))

    def arena_(n):
        a, f = arena.alloc_offset, arena.free_offset
        for _ in range(n):
            f(a(SIZE))

    for threads in (1, 2):
        cases = {
            "bytearray(256) (reference)": lambda t=threads: _threads(bytearr, t, N),
            "libc malloc/free via ctypes (reference)": lambda t=threads: _threads(malloc, t, N),
            "Pool.alloc_index/free_index": lambda t=threads: _threads(pool_index, t, N),
            "Pool.alloc/free (memoryview)": lambda t=threads: _threads(pool_view, t, N),
            "Pool.alloc_many/free_many (64 per call)": lambda t=threads: _threads(pool_many, t, N),
        }
        if threads == 1:
            cases["Arena.alloc_offset/free_offset"] = lambda: _threads(arena_, 1, N)
        times = alternate(cases, rounds=7)
        report(f"Python level: {N} alloc+free pairs of {SIZE} B, {threads} thread(s)", times,
               "libc malloc/free via ctypes (reference)")
        for k, v in times.items():
            print(f"    {k:<40} {statistics.median(v) / N * 1e9:8.0f} ns per pair")

    ref = _c_ref()
    for threads in (1, 2):
        def c_malloc(t=threads):
            out = subprocess.run([ref, str(CHURN // t), str(t), str(SIZE)], capture_output=True,
                                 text=True, check=True)
            return float(out.stdout)

        def c_pool(t=threads):
            return _threads(lambda n: pool.churn(n, batch=8, seed=threading.get_ident()), t, CHURN)

        times = alternate({"glibc malloc/free in C (reference)": c_malloc, "Pool.churn (C, GIL released)": c_pool},
                          rounds=7)
        report(f"C level: {CHURN} alloc+free pairs of {SIZE} B, {threads} thread(s)", times,
               "glibc malloc/free in C (reference)")
        for k, v in times.items():
            print(f"    {k:<40} {statistics.median(v) / CHURN * 1e9:8.1f} ns per pair")
    placement()
    s = pool.stats()
    print(f"\npool after the run: {s.allocs} allocs, {s.frees} frees, {s.in_use} in use, "
          f"{s.double_frees} double frees")


def placement(size: int = 256 << 20, gathers: int = 4 << 20) -> None:
    """Page backing matters: fault-in and random gathers on 256 MiB from numpy's own allocation (which
    madvises HUGEPAGE above 4 MiB) against memdive buffers asked for 4k and thp pages."""
    import numpy as np

    from memdive.alloc import buffer

    n = size // 8
    idx = np.random.default_rng(8).integers(0, n, gathers)
    arrays: dict[str, object] = {}

    def make(kind: str):
        def alloc() -> float:
            t = time.perf_counter()
            if kind == "numpy":
                a = np.ones(n, dtype=np.uint64)
            else:
                b = buffer(size, pages=kind, populate=True)
                a = b.numpy("uint64")
                a[:] = 1
                arrays[kind + "-buf"] = b
            dt = time.perf_counter() - t
            arrays[kind] = a
            return dt
        return alloc

    def gather(kind: str):
        def run() -> float:
            a = arrays[kind]
            t = time.perf_counter()
            a[idx].sum()
            return time.perf_counter() - t
        return run

    kinds = {"numpy.ones (reference)": "numpy", "memdive buffer pages=4k": "4k", "memdive buffer pages=thp": "thp"}
    times = alternate({k: make(v) for k, v in kinds.items()}, rounds=5)
    report(f"allocate and fault in {size >> 20} MiB", times, "numpy.ones (reference)")
    times = alternate({k: gather(v) for k, v in kinds.items()}, rounds=5)
    report(f"{gathers} random 8-byte gathers over {size >> 20} MiB", times, "numpy.ones (reference)")
    for k, v in times.items():
        print(f"    {k:<40} {statistics.median(v) / gathers * 1e9:8.1f} ns per gather")
    for kind in ("4k", "thp"):
        r = arrays[kind + "-buf"].report()
        print(f"    backing obtained for pages={kind}: {(r.thp_bytes or 0) >> 20} MiB of {size >> 20} MiB in THP")


if __name__ == "__main__":
    main()
