"""Load-to-use latency (lmbench lat_mem_rd): dependent loads over one random cycle of cache lines.

For each working set (4 KiB doubling to >= 4x the LLC), the first SIZE bytes of one buffer are
linked into a single random cycle (Sattolo) of 64-byte lines and walked by a pinned thread; ns per
load (and cycles at the TSC rate when the TSC is invariant). The plateaus of the curve give the
cache levels, reported beside the sizes sysfs gives.
"""

from __future__ import annotations

from ..errors import InvalidInput
from ..models.bench import LatencyPoint, LatencyResult
from . import _native, env
from .buffers import Buffer
from .plateaus import find_plateaus

LINE = 64


def default_sizes(max_bytes: int | None = None, per_octave: int = 1, min_bytes: int = 4096) -> list[int]:
    """min_bytes doubling (with a midpoint per octave when per_octave=2) up to max_bytes
    (default: the power of two >= 4x the LLC)."""
    if max_bytes is None:
        max_bytes = 1 << (4 * env.llc_bytes() - 1).bit_length()
    out, s = [], min_bytes
    while s <= max_bytes:
        out.append(s)
        if per_octave > 1 and s * 3 // 2 <= max_bytes:
            out.append(s * 3 // 2)
        s *= 2
    return out


def latency(sizes: list[int] | None = None, pages: str = "4k", repeats: int = 5, min_loads: int = 1 << 22,
            cpu: int | None = None, stride: int = LINE, per_octave: int = 1, seed: int = 0) -> LatencyResult:
    """Measure ns per dependent load at each working-set size (bytes)."""
    env.check_repeats(repeats)
    sizes = sorted(set(sizes if sizes is not None else default_sizes(per_octave=per_octave)))
    if not sizes:
        raise InvalidInput("latency: no working-set sizes (the largest must be at least 4 KiB)")
    if stride < 8 or stride % 8:
        raise InvalidInput(f"stride must be a multiple of 8 bytes, not {stride}")
    if sizes[0] < 2 * stride:
        raise InvalidInput(f"working set {sizes[0]} bytes is smaller than two {stride}-byte nodes")
    cpu = env.pin_cpu(cpu)
    lib = _native.lib()
    points: list[LatencyPoint] = []
    pinned = True
    tsc = env.tsc_hz()
    with Buffer(sizes[-1], pages) as buf:
        import ctypes

        ctypes.memset(buf.addr, 1, buf.size)  # fault everything in before timing (as chase.c does)
        for size in sizes:
            n = size // stride
            _native.check(lib.mdb_chase_build(buf.addr, n, stride, seed or (0x9E3779B97F4A7C15 ^ size)),
                          "latency: building the chain")
            ns = _native.doubles(repeats)
            loads = max(n, min_loads)
            rc = lib.mdb_chase_run(buf.addr, loads, min(n, 1 << 20), repeats, cpu, ns)
            pinned &= _native.check(rc, "latency")
            st = env.stats(ns)
            points.append(LatencyPoint(size_bytes=size, ns_per_load=st,
                                       cycles_per_load=st.median * tsc / 1e9 if tsc else None))
        backing = buf.backing()
    caches = env.caches()
    # the least disturbed figure (noise only adds time) finds the levels; medians are reported
    levels = find_plateaus([p.size_bytes for p in points], [p.ns_per_load.min for p in points], caches)
    return LatencyResult(env=env.make_env([cpu], pinned, repeats, 0), backing=backing, stride_bytes=stride,
                         points=tuple(points), levels=tuple(levels))
