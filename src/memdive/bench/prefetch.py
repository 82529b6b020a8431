"""Software prefetch: the seed's process_large_array (a[i] = a[i]*2 + 1, sequential) and an indirect
gather (sum of data[idx[i]] over a random index), each with no prefetch and with __builtin_prefetch
at several distances ahead (in elements)."""

from __future__ import annotations

import ctypes as C

from ..errors import MemdiveError
from ..models.bench import PrefetchResult, PrefetchRow
from . import _native, env
from .buffers import Buffer

SEQ_DISTANCES = (0, 8, 64, 256, 1024)
GATHER_DISTANCES = (0, 4, 16, 64, 256)


def prefetch(elements: int = 16 << 20, repeats: int = 5, warmup: int = 1, pages: str = "4k",
             seq_distances: tuple[int, ...] = SEQ_DISTANCES, gather_distances: tuple[int, ...] = GATHER_DISTANCES,
             cpu: int | None = None) -> PrefetchResult:
    env.check_repeats(repeats)
    cpu = env.pin_cpu(cpu)
    lib = _native.lib()
    rows: list[PrefetchRow] = []
    pinned = valid = True
    with Buffer(elements * 12, pages) as buf:
        arr = buf.addr
        base = 1.0  # the no-prefetch median, set first (distance 0 sorts first)
        for d in sorted(set(seq_distances) | {0}):
            lib.mdb_fill_iota32(arr, elements)
            t = _native.doubles(repeats)
            pinned &= _native.check(lib.mdb_process_array(arr, elements, d, repeats, warmup, cpu, t), "prefetch")
            valid &= lib.mdb_process_array_check(arr, elements, repeats + warmup) == 0
            st = env.stats(t).map(lambda s: s * 1e9 / elements)
            base = st.median if d == 0 else base
            rows.append(PrefetchRow(access="sequential", distance_elements=d, distance_bytes=d * 4, ns_per_element=st,
                                    speedup=base / st.median))
        data, idx = buf.addr, buf.addr + elements * 8
        lib.mdb_fill_iota64(data, elements)
        _native.check(lib.mdb_fill_index(idx, elements, 1, 777), "prefetch: index")
        want = elements * (elements - 1) // 2 % (1 << 64)
        for d in sorted(set(gather_distances) | {0}):
            t = _native.doubles(repeats)
            got = C.c_uint64()
            pinned &= _native.check(lib.mdb_gather(data, idx, elements, d, repeats, warmup, cpu, t, C.byref(got)),
                                    "prefetch: gather")
            valid &= got.value == want
            st = env.stats(t).map(lambda s: s * 1e9 / elements)
            base = st.median if d == 0 else base
            rows.append(PrefetchRow(access="gather", distance_elements=d, distance_bytes=d * 8, ns_per_element=st,
                                    speedup=base / st.median))
        backing = buf.backing()
    if not valid:
        raise MemdiveError("prefetch: the kernels computed wrong values")
    return PrefetchResult(env=env.make_env([cpu], pinned, repeats, warmup), backing=backing, elements=elements,
                          validated=valid, rows=tuple(rows))
