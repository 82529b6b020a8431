"""Shared by the benchmarks: C references from ../shared/bench, A/B alternation, medians, preflight.

Benchmarks are not tests: they print figures and ratios against references measured in the same
run, alternating A and B, and record what affects the figures (pyperf-style preflight).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "benchmarks" / ".build"


def shared_dir() -> Path:
    """../shared beside the repository (MEMDIVE_SHARED overrides)."""
    env = os.environ.get("MEMDIVE_SHARED")
    cands = [Path(env)] if env else []
    cands += [REPO.parent / "shared", REPO.parent.parent / "shared"]
    for c in cands:
        if (c / "bench").is_dir():
            return c
    raise SystemExit("benchmark references not found: set MEMDIVE_SHARED to the shared/ folder")


def build_ref(name: str, *flags: str) -> Path:
    """Compile shared/bench/NAME.c with FLAGS into benchmarks/.build/NAME (once)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    src = shared_dir() / "bench" / f"{name}.c"
    exe = BUILD / name
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", *flags, str(src), "-o", str(exe)], check=True)
    return exe


def memdive_cmd() -> list[str]:
    """The installed `memdive` console script next to this interpreter."""
    import sys

    exe = Path(sys.executable).with_name("memdive")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "memdive"]


def ensure_bytecode() -> None:
    """Compile memdive's modules to .pyc, as `pip install` does. An editable install under
    PYTHONDONTWRITEBYTECODE=1 (set on these machines) would otherwise recompile every module at
    every start, and timing a whole `memdive` command would measure the compiler."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("memdive")
    if spec and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            compileall.compile_dir(loc, quiet=1)


def time_call(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def time_cmd(argv: list[str], **kw) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, **kw)
    return time.perf_counter() - t


def alternate(cases: dict[str, Callable[[], float]], rounds: int = 7, warmup: int = 1) -> dict[str, list[float]]:
    """Run each case once per round, in turn (A B C A B C ...); each callable returns seconds."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            out[k].append(fn())
    return out


def ratio_medians(times: dict[str, list[float]], ref: str) -> dict[str, float]:
    """Median over rounds of (case time / reference time) measured in the same round."""
    return {k: statistics.median(a / b for a, b in zip(v, times[ref])) for k, v in times.items()}


def preflight() -> dict[str, str]:
    """What affects the figures: CPU, cores, kernel, THP mode, governor, ASLR, load."""
    def rd(p: str) -> str:
        try:
            return Path(p).read_text().strip()
        except OSError:
            return "n/a"

    cpu = "n/a"
    for line in rd("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu, "cores": str(os.cpu_count()), "kernel": platform.release(),
        "thp": rd("/sys/kernel/mm/transparent_hugepage/enabled"),
        "thp_defrag": rd("/sys/kernel/mm/transparent_hugepage/defrag"),
        "governor": rd("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "aslr": rd("/proc/sys/kernel/randomize_va_space"), "loadavg": rd("/proc/loadavg"),
    }


def print_preflight() -> None:
    print("preflight: " + "; ".join(f"{k}={v}" for k, v in preflight().items()))


def report(title: str, times: dict[str, list[float]], ref: str) -> dict[str, float]:
    """Print medians and median ratios against `ref`; return the ratios."""
    ratios = ratio_medians(times, ref)
    print(f"\n{title}  (median of {len(times[ref])} alternating rounds; ratio = time / {ref} time)")
    for k, v in times.items():
        print(f"  {k:<40} median {statistics.median(v) * 1e3:9.2f} ms   ratio {ratios[k]:6.2f}x")
    return ratios


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None
