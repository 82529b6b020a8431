"""Huge pages and fragmentation: what memdive's views cost against the kernel's floor, and what the
huge pages it helps obtain are worth (the shared chase.c reference with 4 KiB pages vs THP).

Alternating rounds, medians and median ratios:
  frag       python reading buddyinfo+pagetypeinfo+vmstat raw (floor)  vs  memdive.frag.frag()
             `cat` of the same files (floor)  vs  `memdive frag --json`
  thp PID    `cat /proc/PID/smaps` (floor)  vs  `memdive thp PID --json`, on a child with ~2,000 mappings
  collapse   process_madvise(MADV_COLLAPSE) of a 256 MiB region touched with 4 KiB pages (root): seconds
             and GB/s, against touching the same 256 MiB fresh (the floor of putting that memory in place)
  chase      shared/bench/chase.c at 256 MiB: ns per dependent load, plain vs huge (madvise); the
             page backing each run obtained is printed (its AnonHugePages line)
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time

from common import alternate, build_ref, memdive_cmd, report, time_call, time_cmd

MiB = 1 << 20
FILES = ["/proc/buddyinfo", "/proc/pagetypeinfo", "/proc/vmstat"]

MANY_MAPS = (
    "import mmap, sys, time\n"
    "ms = []\n"
    "for i in range(2000):\n"
    "    m = mmap.mmap(-1, 8192 * (1 + i % 3)); m[0] = 1; ms.append(m)\n"
    "big = mmap.mmap(-1, 64 << 20); big.madvise(mmap.MADV_HUGEPAGE); big.write(b'x' * (64 << 20))\n"
    "print('ready', flush=True); sys.stdin.read()\n"
)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _raw_read():
    for p in FILES:
        fd = os.open(p, os.O_RDONLY)
        while os.read(fd, 1 << 20):
            pass
        os.close(fd)


def bench_frag(rounds: int) -> None:
    from memdive.frag import frag

    times = alternate(
        {
            "floor: python read of the 3 files": lambda: time_call(_raw_read),
            "memdive.frag.frag()": lambda: time_call(frag),
        },
        rounds=rounds * 5,
    )
    report(
        "frag, library (parse + indices per order + pagetypes + counters)",
        times,
        "floor: python read of the 3 files",
    )
    times = alternate(
        {
            "floor: cat the 3 files": lambda: time_cmd(["cat", *FILES]),
            "memdive frag --json": lambda: time_cmd(memdive_cmd() + ["frag", "--json"]),
            "memdive frag (tables + picture)": lambda: time_cmd(memdive_cmd() + ["frag"]),
        },
        rounds=rounds,
    )
    report("frag, whole command (interpreter start included)", times, "floor: cat the 3 files")


def bench_thp_pid(rounds: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", MANY_MAPS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        child.stdout.readline()
        pid = child.pid
        with open(f"/proc/{pid}/maps") as f:
            n = sum(1 for _ in f)
        from memdive.hugepages.thp import thp_process

        times = alternate(
            {
                "floor: python read of smaps": lambda: time_call(lambda: _read(f"/proc/{pid}/smaps")),
                "memdive thp_process(pid)": lambda: time_call(lambda: thp_process(pid)),
            },
            rounds=rounds * 3,
        )
        report(f"thp PID, library ({n} mappings)", times, "floor: python read of smaps")
        times = alternate(
            {
                "floor: cat smaps": lambda: time_cmd(["cat", f"/proc/{pid}/smaps"]),
                "memdive thp PID --json": lambda: time_cmd(memdive_cmd() + ["thp", str(pid), "--json"]),
            },
            rounds=rounds,
        )
        report(f"thp PID, whole command ({n} mappings)", times, "floor: cat smaps")
    finally:
        child.kill()
        child.wait()


def bench_collapse(rounds: int) -> None:
    if os.geteuid() != 0:
        print("\ncollapse: needs root (CAP_SYS_NICE for process_madvise): skipped")
        return
    from memdive.hugepages.thp import collapse
    from memdive.kernel import libc

    size = 256 * MiB
    pmd = 2 * MiB
    pid = os.getpid()

    def fresh_region():
        base = libc.mmap(size + pmd)
        start = -(-base // pmd) * pmd
        libc.madvise(start, size, "nohugepage")  # fault in 4 KiB pages ...
        t = time.perf_counter()
        ctypes.memset(start, 1, size)
        touch = time.perf_counter() - t
        libc.madvise(start, size, "hugepage")  # ... then make it eligible (VM_NOHUGEPAGE cleared)
        return base, start, touch

    coll, touch_t = [], []
    for _ in range(rounds):
        base, start, touch = fresh_region()
        try:
            t = time.perf_counter()
            [res] = collapse(pid, start, start + size)
            coll.append(time.perf_counter() - t)
            touch_t.append(touch)
            ok = res.ok and res.collapsed_bytes == size
        finally:
            libc.munmap(base, size + pmd)
        if not ok:
            print(f"\ncollapse: the kernel collapsed {res.collapsed_bytes} of {size} bytes ({res.error})")
    times = {
        "floor: first touch of 256 MiB (4 KiB faults)": touch_t,
        "memdive thp collapse 256 MiB (incl. 2 smaps reads)": coll,
    }
    r = report(
        "collapse, 256 MiB of 4 KiB pages into 128 THPs",
        times,
        "floor: first touch of 256 MiB (4 KiB faults)",
    )
    import statistics

    print(
        f"  collapse rate: {size / statistics.median(coll) / 1e9:.2f} GB/s; "
        f"{r['memdive thp collapse 256 MiB (incl. 2 smaps reads)']:.2f}x the first-touch time"
    )


def bench_chase(rounds: int) -> None:
    import statistics

    from common import ratio_medians

    exe = build_ref("chase", "-O2", "-march=native")
    backing: dict[str, str] = {}

    def run(mode: str, key: str) -> float:
        """ns per dependent load at the largest size (256 MiB), and the backing the run reports."""
        out = subprocess.run([str(exe), mode, "256"], capture_output=True, text=True, check=True).stdout
        lines = [ln for ln in out.splitlines() if ln.strip()]
        backing[key] = next((ln.lstrip("# ") for ln in lines if "AnonHugePages" in ln), "")
        return float(lines[-1].split()[1])

    ns = alternate(
        {
            "plain 4 KiB": lambda: run("plain", "plain 4 KiB"),
            "huge (MADV_HUGEPAGE)": lambda: run("huge", "huge (MADV_HUGEPAGE)"),
        },
        rounds=rounds,
        warmup=0,
    )
    r = ratio_medians(ns, "plain 4 KiB")
    print(f"\nchase.c at 256 MiB, ns per dependent load (median of {rounds} alternating rounds)")
    for k, v in ns.items():
        print(f"  {k:<40} median {statistics.median(v):7.1f} ns   ratio {r[k]:5.2f}x   ({backing[k]})")
    print(f"  THP saves {100 * (1 - r['huge (MADV_HUGEPAGE)']):.0f}% of the latency per load at 256 MiB")


def main(rounds: int = 7) -> None:
    bench_frag(rounds)
    bench_thp_pid(rounds)
    bench_collapse(max(3, rounds // 2))
    bench_chase(max(3, rounds // 2))


if __name__ == "__main__":
    main()
