"""Access patterns: row- vs column-major (the seed's benchmark_access_patterns), a stride sweep
8 B..4 KiB, and sequential vs random order over the same index-driven loop."""

from __future__ import annotations

import ctypes as C

from ..errors import InvalidInput, MemdiveError
from ..models.bench import PatternRow, PatternsResult
from . import _native, env
from .buffers import Buffer

STRIDES = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def _row(test: str, param: int, accesses: int, secs, useful_bytes: int) -> PatternRow:
    st = env.stats(secs)
    return PatternRow(test=test, param=param, accesses=accesses, seconds=st,
                      ns_per_access=st.map(lambda s: s * 1e9 / accesses),
                      gb_per_second=useful_bytes / st.median / 1e9)


def patterns(matrix_n: int = 4096, stride_bytes: int = 64 << 20, strides: tuple[int, ...] = STRIDES,
             elements: int = 8 << 20, repeats: int = 3, pages: str = "4k", cpu: int | None = None) -> PatternsResult:
    env.check_repeats(repeats)
    if matrix_n < 2 or elements < 2 or stride_bytes < max(strides):
        raise InvalidInput("patterns: sizes too small")
    cpu = env.pin_cpu(cpu)
    lib = _native.lib()
    rows: list[PatternRow] = []
    pinned = True
    with Buffer(max(matrix_n * matrix_n * 8, stride_bytes, elements * 12), pages) as buf:
        n2 = matrix_n * matrix_n
        C.memset(buf.addr, 0, buf.size)  # fault the pages in before any timing
        for order, col in (("row-major", 0), ("column-major", 1)):
            t = _native.doubles(repeats)
            pinned &= _native.check(lib.mdb_matrix_fill(buf.addr, matrix_n, col, repeats, cpu, t), "patterns")
            if lib.mdb_matrix_check(buf.addr, matrix_n, repeats - 1):
                raise MemdiveError("patterns: the matrix fill computed wrong values")
            rows.append(_row(order, matrix_n, n2, list(t), n2 * 8))
        C.memset(buf.addr, 1, stride_bytes)
        for s in strides:
            t = _native.doubles(repeats)
            acc = C.c_uint64()
            pinned &= _native.check(lib.mdb_stride_read(buf.addr, stride_bytes, s, repeats, cpu, t, C.byref(acc),
                                                        None), "patterns: stride")
            rows.append(_row("stride", s, acc.value, list(t), acc.value * 8))
        data, idx = buf.addr, buf.addr + elements * 8
        lib.mdb_fill_iota64(data, elements)
        want = elements * (elements - 1) // 2 % (1 << 64)
        for test, shuffle in (("sequential", 0), ("random", 1)):
            _native.check(lib.mdb_fill_index(idx, elements, shuffle, 12345), "patterns: index")
            t = _native.doubles(repeats)
            got = C.c_uint64()
            pinned &= _native.check(lib.mdb_gather(data, idx, elements, 0, repeats, 1, cpu, t, C.byref(got)),
                                    "patterns: gather")
            if got.value != want:
                raise MemdiveError(f"patterns: {test} sum {got.value} != {want}")
            rows.append(_row(test, elements, elements, list(t), elements * 8))
        backing = buf.backing()
    return PatternsResult(env=env.make_env([cpu], pinned, repeats, 0), backing=backing, rows=tuple(rows))
