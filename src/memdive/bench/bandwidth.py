"""Memory bandwidth, STREAM's way: read, write, copy, scale, add, triad on 1..N pinned threads.

Arrays are sized to at least 4x the last-level cache sysfs reports (or `size`); bytes are counted
as STREAM counts them (no write-allocate traffic); every result is validated against the scalar
sequence. GB/s = 1e9 bytes per second; figures are min/median/max over `repeats` after warm-up.
"""

from __future__ import annotations

import ctypes as C
import dataclasses

from ..errors import InvalidInput
from ..models.bench import BandwidthResult, BandwidthRow
from . import _native, env
from .buffers import Buffer

# Placement of the three arrays: one mapping, c lowest, then b, then a (the array triad stores)
# highest, each starting 8 KiB past the page-rounded end of the previous one. That is the placement
# glibc's aligned_alloc gives a C program's three large arrays (what STREAM-like references such as
# ../shared/bench/stream_ref.c get). The placement alone moves triad bandwidth, with identical code,
# pages and first touch (2 threads, 3 x 512 MiB, Zen 4 KVM guest, medians relative to glibc's layout):
# three separate 2 MiB-aligned mappings 0.94, one mapping with no gap 0.95, gaps of 32 KiB..2 MiB
# 0.93-0.95, a lowest instead of highest 0.89, gaps of 4-12 KiB 1.00.
ARRAY_GAP = 8 << 10


def array_stride(array_bytes: int) -> int:
    """Distance between consecutive arrays' starts: the array rounded up to a page, plus ARRAY_GAP."""
    return (array_bytes + 4095) // 4096 * 4096 + ARRAY_GAP


KERNELS = ("read", "write", "copy", "scale", "add", "triad")
BYTES_PER_ELEMENT = {"read": 8, "write": 8, "copy": 16, "scale": 16, "add": 24, "triad": 24}


def default_array_bytes() -> int:
    """Each array >= 4x the LLC (STREAM's rule), rounded up to 2 MiB."""
    return (4 * env.llc_bytes() + (2 << 20) - 1) // (2 << 20) * (2 << 20)


def thread_counts(max_threads: int) -> list[int]:
    """1, 2, 4, ... and max_threads itself."""
    out, t = [], 1
    while t < max_threads:
        out.append(t)
        t *= 2
    out.append(max_threads)
    return out


def bandwidth(size: int | None = None, threads: int | list[int] | None = None,
              kernels: tuple[str, ...] | list[str] = KERNELS, repeats: int = 10, warmup: int = 1,
              pages: str = "4k", nontemporal: bool = False) -> BandwidthResult:
    """Run the STREAM kernels; `threads` an int (that count only) or a list (default 1, 2, 4.. all CPUs)."""
    env.check_repeats(repeats)
    bad = [k for k in kernels if k not in KERNELS]
    if bad or not kernels:
        raise InvalidInput(f"unknown kernel(s) {', '.join(bad) or '(none)'}: use {', '.join(KERNELS)}")
    all_cpus = env.usable_cpus()
    if threads is None:
        counts = thread_counts(len(all_cpus))
    elif isinstance(threads, int):
        counts = [threads]
    else:
        counts = sorted(set(threads))
    for t in counts:
        env.pick_cpus(t)
    array_bytes = size if size is not None else default_array_bytes()
    n = array_bytes // 8
    if n < 64 * max(counts):
        raise InvalidInput(f"array size {array_bytes} bytes is too small (at least {512 * max(counts)} bytes)")
    lib = _native.lib()
    use_nt = bool(nontemporal and lib.mdb_stream_have_nt())
    if nontemporal and not use_nt:
        raise InvalidInput("non-temporal stores are not supported on this CPU/build")
    mask = 0
    for k in kernels:
        mask |= 1 << KERNELS.index(k)
    stride = array_stride(n * 8)
    buf = Buffer(3 * stride, pages)
    c_addr, b_addr, a_addr = buf.addr, buf.addr + stride, buf.addr + 2 * stride
    rows: list[BandwidthRow] = []
    pinned = True
    err = C.c_double(0.0)
    worst = 0.0
    try:
        for t in counts:
            cpus = env.pick_cpus(t)
            times = _native.doubles(len(KERNELS) * repeats)
            rc = lib.mdb_stream(a_addr, b_addr, c_addr, n, mask, t, _native.ints(cpus), repeats,
                                warmup, int(use_nt), times, C.byref(err))
            pinned &= _native.check(rc, f"bandwidth ({t} threads)")
            worst = max(worst, err.value)
            for k in kernels:
                i = KERNELS.index(k)
                secs = env.stats(times[i * repeats:(i + 1) * repeats])
                moved = BYTES_PER_ELEMENT[k] * n
                rows.append(BandwidthRow(kernel=k, threads=t, bytes_per_pass=moved, seconds=secs,
                                         gb_per_second=secs.map(lambda s, m=moved: m / s / 1e9)))
        # the mapping's pages (gaps never touched), sized as the three arrays
        backing = dataclasses.replace(buf.backing(), size_bytes=3 * n * 8)
    finally:
        buf.close()
    return BandwidthResult(env=env.make_env(env.pick_cpus(max(counts)), pinned, repeats, warmup), backing=backing,
                           array_bytes=n * 8, nontemporal=use_nt, validated=True, max_rel_error=worst,
                           rows=tuple(rows))
