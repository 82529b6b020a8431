"""memdive trace vs heaptrack on a malloc-heavy C workload, and the million-distinct-stacks memory bound.

Cases, alternating per round: the workload untraced; under `memdive trace` (the whole command, Python
start and the end-of-run summary included); the shim alone (LD_PRELOAD, as the command sets it up);
under `heaptrack` (Debian's, the whole command). 1 and 2 threads. Then: trace bytes per event, peak RSS
the shim adds, and a program with 2^20 distinct stacks and a million distinct sizes (heaptrack is not run
on it: its helper grows past 18 GB): the shim's peak RSS, the file size, and `memdive trace report`'s
peak RSS and time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BUILD, alternate, have, memdive_cmd, print_preflight, report

WORK_C = r"""
/* malloc-heavy workload: N allocations per thread (ring of 4096 live blocks) from 12 functions at
 * stack depths 1..4, sizes 16..600; mode 2: 2^20 distinct stacks (20 levels of two functions) and a
 * million distinct sizes. usage: work N THREADS MODE */
#include <pthread.h>
#include <stdlib.h>
#define RING 4096
static long N;
static int MODE;
typedef struct { void *ring[RING]; unsigned long i, x; } st_t;
static __attribute__((noinline)) void leaf(st_t *s, int site) {
    s->x = s->x * 6364136223846793005ul + 1442695040888963407ul;
    size_t n = MODE == 2 ? (size_t)(s->i % 1000003) + 1 : 16 + (s->x >> 58) * 8 + site;
    void **slot = &s->ring[s->i % (MODE == 2 ? 64 : RING)];   /* mode 2: at most 64 MiB live */
    free(*slot);
    *slot = malloc(n);
    ((char *)*slot)[0] = 1;
    s->i++;
}
#define DEPTHFN(k, next) static __attribute__((noinline)) void d##k(st_t *s, int site, int depth) { \
    if (depth <= 0) leaf(s, site + k); else next(s, site, depth - 1); __asm__ volatile("" ::: "memory"); }
DEPTHFN(0, d0)
DEPTHFN(1, d0) DEPTHFN(2, d1) DEPTHFN(3, d2) DEPTHFN(4, d3) DEPTHFN(5, d4) DEPTHFN(6, d5)
DEPTHFN(7, d6) DEPTHFN(8, d7) DEPTHFN(9, d8) DEPTHFN(10, d9) DEPTHFN(11, d10) DEPTHFN(12, d11)
typedef void (*fn_t)(st_t *, int, int);
static fn_t fns[] = {d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12};
static void wb(st_t *s, unsigned long bits, int lvl);
static __attribute__((noinline)) void wa(st_t *s, unsigned long bits, int lvl) {
    if (!lvl) { leaf(s, 1); return; }
    if (bits & 1) wa(s, bits >> 1, lvl - 1); else wb(s, bits >> 1, lvl - 1);
    __asm__ volatile("" ::: "memory");
}
static __attribute__((noinline)) void wb(st_t *s, unsigned long bits, int lvl) {
    if (!lvl) { leaf(s, 2); return; }
    if (bits & 1) wa(s, bits >> 1, lvl - 1); else wb(s, bits >> 1, lvl - 1);
    __asm__ volatile("nop" ::: "memory");
}
static void *worker(void *arg) {
    st_t *s = calloc(1, sizeof(st_t));
    s->x = (unsigned long)arg;
    for (long k = 0; k < N; k++) {
        if (MODE == 2) { wa(s, (unsigned long)k, 20); continue; }
        int site = (int)((s->x >> 33) % 64);
        fns[site % 12](s, site, (int)(k % 4));
    }
    for (int i = 0; i < RING; i++) free(s->ring[i]);
    free(s);
    return NULL;
}
int main(int argc, char **argv) {
    N = argc > 1 ? atol(argv[1]) : 2000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    MODE = argc > 3 ? atoi(argv[3]) : 0;
    pthread_t t[64];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(long)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return 0;
}
"""


def build() -> str:
    BUILD.mkdir(parents=True, exist_ok=True)
    src = BUILD / "trace_work.c"
    exe = BUILD / "trace_work"
    if not (exe.exists() and src.exists() and src.read_text() == WORK_C):
        src.write_text(WORK_C)
        subprocess.run(["gcc", "-O2", "-g", "-o", str(exe), str(src), "-lpthread"], check=True)
    return str(exe)


def run_child(argv, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and the program's peak RSS in bytes. The RSS comes from GNU time's wait4 (a fork of
    this Python process would report Python's own RSS as the child's high-water mark)."""
    rss_file = os.path.join(str(BUILD), "rss.txt")
    wrap = ["/usr/bin/time", "-q", "-f", "%M", "-o", rss_file] if os.path.exists("/usr/bin/time") else []
    # extra environment goes through env(1) after time(1), so that only the program gets the shim
    extra = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
    t = time.perf_counter()
    p = subprocess.run(wrap + extra + list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{argv} failed with {p.returncode}")
    rss = int(Path(rss_file).read_text().split()[-1]) * 1024 if wrap else 0
    return dt, rss


def main() -> None:
    from memdive import native

    print_preflight()
    exe = build()
    shim = native.path("shim")
    tmp = tempfile.mkdtemp(prefix="bench_trace.", dir=str(BUILD))
    n = int(os.environ.get("BENCH_TRACE_N", "2000000"))
    rounds = int(os.environ.get("BENCH_TRACE_ROUNDS", "5"))
    counter = [0]

    def out() -> str:
        counter[0] += 1
        p = os.path.join(tmp, f"t{counter[0]}")
        return p

    def clean() -> None:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))

    heaptrack = have("heaptrack")
    if not heaptrack:
        print("heaptrack not installed (apt-get install heaptrack): its column is skipped")
    last: dict[str, object] = {}
    for threads in (1, 2):
        argv = [exe, str(n), str(threads)]

        def untraced(argv=argv):
            return run_child(argv)[0]

        def memdive(argv=argv):
            dt = run_child(memdive_cmd() + ["trace", "--quiet", "-o", out(), "--", *argv])[0]
            clean()
            return dt

        def shim_only(argv=argv):
            o = out()
            dt, rss = run_child(argv, {"LD_PRELOAD": shim, "MEMDIVE_TRACE_OUT": o})
            last["size"], last["rss"] = os.path.getsize(o), rss
            last["path"] = o
            from memdive.trace import load

            last["events"] = load(o).events.size
            clean()
            return dt

        def heap(argv=argv):
            dt = run_child(["heaptrack", "-o", out(), *argv])[0]
            clean()
            return dt

        cases = {"untraced": untraced, "memdive trace (command)": memdive, "memdive shim (LD_PRELOAD)": shim_only}
        if heaptrack:
            cases["heaptrack"] = heap
        times = alternate(cases, rounds=rounds, warmup=1)
        ratios = report(f"trace overhead, {threads} thread(s), {n:,} malloc+free per thread", times, "untraced")
        if heaptrack:
            print(f"  memdive slowdown / heaptrack slowdown: command {ratios['memdive trace (command)'] / ratios['heaptrack']:.2f}, "
                  f"shim {ratios['memdive shim (LD_PRELOAD)'] / ratios['heaptrack']:.2f}  (target <= 0.5)")
        _, base_rss = run_child(argv)
        print(f"  trace file {last['size'] / 1e6:.1f} MB for {last['events']:,} events: "
              f"{last['size'] / max(1, int(last['events'])):.1f} bytes/event; peak RSS untraced "
              f"{base_rss / 2**20:.1f} MiB, traced {int(last['rss']) / 2**20:.1f} MiB (+{(int(last['rss']) - base_rss) / 2**20:.1f} MiB)")

    # the memory bound: 2^20 distinct stacks, a million distinct sizes
    big_n = int(os.environ.get("BENCH_TRACE_BIG_N", str(1 << 21)))
    o = out()
    t_untraced, rss0 = run_child([exe, str(big_n), "1", "2"])
    dt, rss = run_child([exe, str(big_n), "1", "2"], {"LD_PRELOAD": shim, "MEMDIVE_TRACE_OUT": o})
    size = os.path.getsize(o)
    rdt, report_rss = run_child(memdive_cmd() + ["trace", "report", o, "--json"])
    from memdive.trace import load

    tr = load(o)
    print(f"\nmillion distinct stacks: {big_n:,} allocations, {len(tr.stacks):,} distinct stacks, "
          f"{len(set(tr.events['size'].tolist())):,} distinct sizes")
    print(f"  traced run {dt:.2f} s (untraced {t_untraced:.2f} s); shim peak RSS {rss / 2**20:.0f} MiB "
          f"(untraced {rss0 / 2**20:.0f} MiB); trace file {size / 2**20:.0f} MiB")
    print(f"  memdive trace report: {rdt:.1f} s, peak RSS {report_rss / 2**20:.0f} MiB; bound: 2048 MiB")
    clean()
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
