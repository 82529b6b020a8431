"""memdive bench against the C references of ../shared/bench, alternating A B A B in one run.

- triad bandwidth with all threads: memdive's best GB/s vs stream_ref's (gcc -O3 -march=native
  -fopenmp), same array length, same kernel sequence (copy, scale, add, triad), best of 20 passes each.
  Target: ratio >= 0.97.
- latency at a 256 MiB working set: memdive's median ns/load vs chase.c's (gcc -O2 -march=native),
  4 KiB pages and THP, same loads (8 Mi). Target: within 10%.
- `memdive bench --quick` wall time. Target: < 60 s on 2 cores.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time

import common

ROUNDS = int(os.environ.get("MEMBENCH_ROUNDS", "7"))
REPS = 20  # best of 20 passes for both: on a shared machine more passes give each a clean one


def _paired(title: str, rounds: int, a: tuple, b: tuple, unit: str, fmt: str, rfmt: str, target: str) -> None:
    """Alternate A and B `rounds` times (each returns a figure, not a time); print medians and the
    median of the per-round ratios A/B."""
    (an, af), (bn, bf) = a, b
    xs, ys = [], []
    for _ in range(rounds):
        xs.append(af())
        ys.append(bf())
    ratios = [x / y for x, y in zip(xs, ys)]
    print(f"\n{title} (median over {rounds} alternating rounds)")
    for name, v in ((an, xs), (bn, ys)):
        print(f"  {name:<25} median {statistics.median(v):{fmt}} {unit}   (rounds: {', '.join(f'{x:{rfmt}}' for x in v)})")
    print(f"  ratio memdive/ref: median {statistics.median(ratios):.3f}  ({target}; rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")


def triad() -> None:
    from memdive.bench import bandwidth

    ref = common.build_ref("stream_ref", "-O3", "-march=native", "-fopenmp")
    threads = len(os.sched_getaffinity(0))
    n = 64 << 20  # stream_ref's default: 3 x 512 MiB
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="true")

    def ours() -> float:
        r = bandwidth(size=n * 8, threads=threads, kernels=("copy", "scale", "add", "triad"), repeats=REPS, warmup=0)
        return r.best("triad").gb_per_second.max

    def theirs() -> float:
        out = subprocess.run([str(ref), str(n), str(REPS)], capture_output=True, text=True, env=env, check=True).stdout
        return float(re.search(r"^triad\s+([\d.]+) GB/s", out, re.MULTILINE).group(1))

    _paired(f"triad, {threads} threads, 3 arrays of {n * 8 >> 20} MiB, best of {REPS}", ROUNDS,
            ("memdive bench bandwidth", ours), ("stream_ref (OpenMP)", theirs), "GB/s", "6.2f", ".1f",
            "target >= 0.97")


def latency() -> None:
    from memdive.bench import latency as lat

    ref = common.build_ref("chase", "-O2", "-march=native")
    size = 256 << 20
    for mode, pages in (("plain", "4k"), ("huge", "thp")):
        def ours(pages: str = pages) -> float:
            r = lat([size], pages=pages, repeats=1, min_loads=8 << 20)
            return r.points[0].ns_per_load.median

        def theirs(mode: str = mode) -> float:
            out = subprocess.run(["taskset", "-c", str(min(os.sched_getaffinity(0))), str(ref), mode, "256"],
                                 capture_output=True, text=True, check=True).stdout
            return float(re.search(r"^\s*262144\s+([\d.]+)", out, re.MULTILINE).group(1))

        _paired(f"latency at 256 MiB, {pages} pages", max(3, ROUNDS - 2), ("memdive bench latency", ours),
                (f"chase.c {mode}", theirs), "ns", "7.1f", ".0f", "target 0.90..1.10")


def quick() -> None:
    cmd = common.memdive_cmd() + ["bench", "--quick"]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    print(f"\nmemdive bench --quick: median {statistics.median(times):.1f} s, max {max(times):.1f} s over 3 runs "
          f"(target < 60 s)")


def main() -> None:
    triad()
    latency()
    quick()


if __name__ == "__main__":
    common.print_preflight()
    main()
