"""False sharing: per-thread counters packed into one cache line vs padded to a line each (the
seed's padded_counter_t), incremented atomically by pinned threads: ns per increment, and the ratio."""

from __future__ import annotations

import ctypes as C

from ..models.bench import FalseSharingResult
from . import _native, env


def false_sharing(threads: int | None = None, increments: int = 10_000_000, repeats: int = 5) -> FalseSharingResult:
    env.check_repeats(repeats)
    threads = threads or min(len(env.usable_cpus()), 128)
    cpus = env.pick_cpus(threads)
    lib = _native.lib()
    out = {}
    valid = True
    pinned = True
    for padded in (0, 1):
        t = _native.doubles(repeats)
        total = C.c_int64()
        pinned &= _native.check(lib.mdb_false_sharing(threads, _native.ints(cpus), increments, padded, repeats, t,
                                                      C.byref(total)), "false-sharing")
        valid &= total.value == threads * increments * (repeats + 1)
        # wall time of a round / increments per thread = ns per increment as each thread sees it
        out[padded] = env.stats(t).map(lambda s: s * 1e9 / increments)
    return FalseSharingResult(env=env.make_env(cpus, pinned, repeats, 1), threads=threads,
                              increments_per_thread=increments, packed_ns_per_increment=out[0],
                              padded_ns_per_increment=out[1], ratio=out[0].median / out[1].median,
                              validated=valid)
