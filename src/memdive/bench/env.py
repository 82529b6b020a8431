"""The machine facts every benchmark records: CPUs to pin to, caches from sysfs, THP mode, TSC rate."""

from __future__ import annotations

import functools
import os
import platform

from ..errors import InvalidInput, MemdiveError
from ..models.bench import BenchEnv, CacheLevel, Stats

DEFAULT_LLC = 32 << 20  # when sysfs has no cache topology


def usable_cpus() -> list[int]:
    """CPUs this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


def pick_cpus(threads: int) -> list[int]:
    cpus = usable_cpus()
    if threads < 1:
        raise InvalidInput(f"threads must be >= 1, not {threads}")
    if threads > len(cpus):
        raise InvalidInput(f"{threads} threads asked for but this process may use {len(cpus)} CPUs "
                           f"({','.join(map(str, cpus))}): one pinned thread per CPU")
    return cpus[:threads]


@functools.lru_cache(maxsize=1)
def caches() -> tuple[CacheLevel, ...]:
    from ..kernel.cpu import data_caches, read_caches

    try:
        return tuple(data_caches(read_caches(usable_cpus()[0])))
    except MemdiveError:
        return ()


def llc_bytes() -> int:
    """The last-level cache size sysfs reports (32 MiB when it reports none)."""
    c = caches()
    return c[-1].size_bytes if c else DEFAULT_LLC


@functools.lru_cache(maxsize=1)
def tsc_hz() -> float | None:
    """The TSC rate measured against CLOCK_MONOTONIC, when the TSC is invariant (else None)."""
    from ..kernel.cpu import read_cpuinfo

    try:
        info = read_cpuinfo()
    except MemdiveError:
        return None
    if not info.invariant_tsc:
        return None
    from ._native import lib

    hz = lib().mdb_tsc_hz(0.02)
    return round(hz / 1e6) * 1e6 if hz > 0 else None


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    from ..kernel.cpu import read_cpuinfo

    try:
        return read_cpuinfo().model or platform.processor() or "unknown"
    except MemdiveError:
        return platform.processor() or "unknown"


def thp_mode() -> str | None:
    from ..kernel.thp import read_thp_mode

    try:
        return read_thp_mode()
    except MemdiveError:        # an unreadable setting: the environment line says n/a
        return None


def make_env(cpus: list[int], pinned: bool, repeats: int, warmup: int) -> BenchEnv:
    return BenchEnv(cpu_model=cpu_model(), cpus=tuple(cpus), pinned=pinned, repeats=repeats, warmup=warmup,
                    thp_mode=thp_mode(), kernel=platform.release(), tsc_hz=tsc_hz(), caches=caches())


def pin_cpu(cpu: int | None) -> int:
    """The CPU a single-thread benchmark pins to: `cpu`, checked, or the first usable one."""
    cpus = usable_cpus()
    if cpu is None:
        return cpus[0]
    if cpu not in cpus:
        raise InvalidInput(f"CPU {cpu} is not available to this process (it may use {','.join(map(str, cpus))})")
    return cpu


def check_repeats(repeats: int) -> int:
    if not 1 <= repeats <= 1000:
        raise InvalidInput(f"repeats must be between 1 and 1000, not {repeats}")
    return repeats


def stats(values) -> Stats:
    return Stats.of(list(values))
