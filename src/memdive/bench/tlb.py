"""What a TLB miss costs, and what mapping many small pages costs (the seed's optimize_tlb_usage).

map rows: map and touch N pages as N separate 4 KiB mmaps, one region of 4 KiB pages, one hugetlb
region (2 MiB pages; needs a reserved pool) and one THP region; the backing obtained is checked.
access rows: dependent loads, one cache line per 4 KiB of a region of P pages (the lines stay in the
caches while the pages outgrow the TLBs), on 4 KiB pages and on 2 MiB (THP) pages: the difference
at the largest region whose lines still fit in half of L2 is the cost of a TLB miss (a page walk).
"""

from __future__ import annotations

import ctypes as C

from ..errors import MemdiveError
from ..models.bench import TlbAccessRow, TlbMapRow, TlbResult
from . import _native, env
from .buffers import Buffer, backing_of

METHODS = ("small-mmaps", "one-region", "hugetlb", "thp")
_PAGES_FOR = {"small-mmaps": "4k", "one-region": "4k", "hugetlb": "hugetlb", "thp": "thp"}
PAGE = 4096


def map_touch(method: str, pages: int, repeats: int) -> TlbMapRow:
    lib = _native.lib()
    mode = METHODS.index(method)
    secs: list[float] = []
    backing = None
    for r in range(repeats):
        t = C.c_double()
        region, length, err = C.c_size_t(), C.c_size_t(), C.c_int()
        h = lib.mdb_tlb_map(mode, pages, C.byref(t), C.byref(region), C.byref(length), C.byref(err))
        if not h:
            msg = "hugetlb pool too small (reserve 2 MiB pages: /proc/sys/vm/nr_hugepages)" if mode == 2 \
                else "mmap failed"
            return TlbMapRow(method=method, pages=pages, seconds=None, error=msg)
        try:
            secs.append(t.value)
            if r == 0 and region.value:
                backing = backing_of(region.value, length.value, _PAGES_FOR[method])
        finally:
            lib.mdb_tlb_unmap(h)
    return TlbMapRow(method=method, pages=pages, seconds=env.stats(secs), backing=backing)


def tlb(page_counts: list[int] | None = None, map_pages: int = 10000, repeats: int = 5,
        min_loads: int = 1 << 21, cpu: int | None = None, huge: str = "thp") -> TlbResult:
    """Both parts; `huge` is the large-page backing for the access rows (thp or hugetlb)."""
    env.check_repeats(repeats)
    page_counts = sorted(set(page_counts or [16, 64, 256, 1024, 4096, 16384, 65536]))
    cpu = env.pin_cpu(cpu)
    map_rows = tuple(map_touch(m, map_pages, repeats) for m in METHODS)
    lib = _native.lib()
    rows: list[TlbAccessRow] = []
    pinned = True
    for pages in ("4k", huge):
        try:
            buf = Buffer(page_counts[-1] * PAGE, pages)
        except MemdiveError:
            continue  # hugetlb without a pool: the map rows already say so
        with buf:
            C.memset(buf.addr, 1, buf.size)
            backing = buf.backing()
            for p in page_counts:
                _native.check(lib.mdb_chase_build(buf.addr, p, PAGE, 0x5DEECE66D ^ p), "tlb: building the chain")
                ns = _native.doubles(repeats)
                pinned &= _native.check(lib.mdb_chase_run(buf.addr, max(p, min_loads), min(p, 1 << 20), repeats,
                                                          cpu, ns), "tlb")
                rows.append(TlbAccessRow(pages=p, region_bytes=p * PAGE, backing=backing,
                                         ns_per_load=env.stats(ns)))
    # from the least disturbed repeats: on a shared machine noise only adds time
    small = {r.pages: r.ns_per_load.min for r in rows if r.backing.obtained == "4k"}
    big = {r.pages: r.ns_per_load.min for r in rows if r.backing.obtained in ("thp", "hugetlb")}
    both = sorted(set(small) & set(big))
    # the miss cost is read where the lines themselves stay in L2 (half its size), so the difference
    # is the page walk, not data misses; without sysfs cache sizes: the largest region measured
    l2 = next((c.size_bytes for c in env.caches() if c.level == 2), None)
    fit = [p for p in both if l2 is None or p * 64 <= l2 // 2]
    at = (fit or both)[-1] if both else None
    miss = small[at] - big[at] if at is not None else None
    return TlbResult(env=env.make_env([cpu], pinned, repeats, 0), map_rows=map_rows, access_rows=tuple(rows),
                     miss_cost_ns=miss, miss_cost_pages=at)
