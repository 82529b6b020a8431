"""The live sampler's CPU cost at 1 s over >= 400 processes, and the exporter's scrape latency.

Starts 400 small C processes (1-4 MiB touched each; one in ten re-touches and frees memory every 0.3 s
so its RSS moves) and stops them by PID at the end. Then, paced at one round per second, alternating:
  A  memdive.monitor.Sampler.sample()            the cheap sampler (CPU time of the sampling thread)
  B  memdive.ps.scan()                            a naive sampler: a full smaps_rollup pass every interval
  C1 cat /proc/[0-9]*/stat                        the floor for reading every process's stat (children's CPU)
  C2 cat /proc/[0-9]*/smaps_rollup                the floor for a full rollup pass (children's CPU)
CPU per round at one round per second is the share of one core at a 1 s interval (issue: A < 3%).

Scrape latency over the same processes (exporter grouping by command, 40 names): a scrape served from
the rendered snapshot, a scrape that renders a new snapshot, and GET / on the same server (HTTP floor).
"""

from __future__ import annotations

import os
import resource
import signal
import statistics
import subprocess
import threading
import time
import urllib.request

from common import BUILD, report

N_PROCS = 400
ROUNDS = 20

CHILD_C = r"""
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
static void touch(char *p, size_t len) { for (size_t i = 0; i < len; i += 4096) p[i] = 1; }
int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 1;
    int active = argc > 2 && atoi(argv[2]);
    size_t len = mib << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    touch(p, len);
    if (!active) for (;;) pause();
    size_t extra = 2u << 20;
    char *q = mmap(NULL, extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct timespec ts = {0, 300 * 1000 * 1000};
    for (int i = 0;; i++) {
        if (i & 1) madvise(q, extra, MADV_DONTNEED); else touch(q, extra);
        nanosleep(&ts, NULL);
    }
}
"""


def build_child() -> str:
    BUILD.mkdir(parents=True, exist_ok=True)
    src = BUILD / "monitor_bench_child.c"
    exe = BUILD / "monitor_bench_child"
    if not exe.exists() or not src.exists() or src.read_text() != CHILD_C:
        src.write_text(CHILD_C)
        subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    return str(exe)


def start_children(exe: str) -> list[subprocess.Popen]:
    kids = []
    for i in range(N_PROCS):
        kids.append(subprocess.Popen([f"bench-svc-{i % 40}", str(1 + i % 4), "1" if i % 10 == 0 else "0"],
                                     executable=exe, stdin=subprocess.DEVNULL))
    time.sleep(1.0)
    return kids


def stop_children(kids: list[subprocess.Popen]) -> None:
    for k in kids:
        if k.poll() is None:
            os.kill(k.pid, signal.SIGKILL)
    for k in kids:
        k.wait()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cat(pattern: str) -> float:
    before = _children_cpu()
    subprocess.run(["sh", "-c", f"cat /proc/[0-9]*/{pattern} >/dev/null 2>&1"], check=False)
    return _children_cpu() - before


def sampler_cpu() -> None:
    from memdive.monitor.sampler import Sampler, SamplerConfig
    from memdive.ps import scan

    s = Sampler(None, SamplerConfig(interval=1.0))
    s.sample()                       # the first sample reads every rollup once (a one-off)
    times: dict[str, list[float]] = {"A memdive Sampler.sample()": [], "B memdive.ps.scan() (naive)": [],
                                     "C1 cat /proc/*/stat": [], "C2 cat /proc/*/smaps_rollup": []}
    extra = {"procs": [], "rollups": [], "wall": []}
    nxt = time.monotonic() + 1.0
    for _ in range(ROUNDS):
        time.sleep(max(0.0, nxt - time.monotonic()))
        nxt += 1.0
        snap = s.sample()
        times["A memdive Sampler.sample()"].append(snap.stats.cpu_seconds)
        extra["procs"].append(len(snap.processes))
        extra["rollups"].append(snap.stats.rollups)
        extra["wall"].append(snap.stats.wall_seconds)
        t = time.thread_time()
        scan()
        times["B memdive.ps.scan() (naive)"].append(time.thread_time() - t)
        times["C1 cat /proc/*/stat"].append(_cat("stat"))
        times["C2 cat /proc/*/smaps_rollup"].append(_cat("smaps_rollup"))
    s.close()
    report(f"CPU per 1 s interval over {statistics.median(extra['procs']):.0f} processes "
           "(seconds of CPU per sample; x100 = % of one core at 1 s)", times, "C2 cat /proc/*/smaps_rollup")
    a = statistics.median(times["A memdive Sampler.sample()"])
    b = statistics.median(times["B memdive.ps.scan() (naive)"])
    mean = statistics.mean(times["A memdive Sampler.sample()"])
    print(f"  => memdive sampler at 1 s: {a * 100:.2f}% of one core (median; mean {mean * 100:.2f}%, max "
          f"{max(times['A memdive Sampler.sample()']) * 100:.2f}%); naive full pass {b * 100:.2f}%; "
          f"PSS refreshes per sample median {statistics.median(extra['rollups']):.0f}, "
          f"wall per sample {statistics.median(extra['wall']) * 1e3:.1f} ms")


def scrape_latency() -> None:
    from memdive.exporter import Exporter, ExporterConfig

    ex = Exporter(ExporterConfig(listen="127.0.0.1:0", interval=1.0)).start()
    try:
        def get(path: str) -> float:
            t = time.perf_counter()
            with urllib.request.urlopen(ex.url.replace("/metrics", path), timeout=10) as r:
                r.read()
            return time.perf_counter() - t

        get("/metrics")
        times: dict[str, list[float]] = {"scrape /metrics (rendered snapshot)": [],
                                         "scrape /metrics (renders a new snapshot)": [],
                                         "GET / (HTTP floor, same server)": []}
        for _ in range(ROUNDS):
            times["scrape /metrics (rendered snapshot)"].append(get("/metrics"))
            ex._rendered = None          # as if the sampler had just replaced the snapshot
            times["scrape /metrics (renders a new snapshot)"].append(get("/metrics"))
            times["GET / (HTTP floor, same server)"].append(get("/"))
        n = len(ex._snap.processes)
        with urllib.request.urlopen(ex.url, timeout=10) as r:
            body = r.read()
        report(f"Exporter scrape latency over {n} processes ({len(body)} bytes, "
               f"{sum(1 for ln in body.splitlines() if not ln.startswith(b'#'))} series)", times,
               "GET / (HTTP floor, same server)")
    finally:
        ex.stop()


def main() -> None:
    exe = build_child()
    kids = start_children(exe)
    try:
        print(f"started {len(kids)} processes (pids {kids[0].pid}..{kids[-1].pid}); "
              f"{sum(1 for n in os.listdir('/proc') if n.isdigit())} in /proc")
        sampler_cpu()
        scrape_latency()
    finally:
        stop_children(kids)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    threading.current_thread().name = "bench"
    main()
