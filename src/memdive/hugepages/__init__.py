"""Huge pages: transparent huge pages (system and per process, collapse) and hugetlb pools.

    memdive.hugepages.thp_system()          ThpSystem: modes, khugepaged, multi-size THP, counters
    memdive.hugepages.thp_process(pid)      ThpProcess: per-region huge pages and why not
    memdive.hugepages.collapse(pid, ...)    CollapseResult: process_madvise(MADV_COLLAPSE), read back
    memdive.hugepages.hugetlb_system()      HugetlbSystem: pools per size and node, hugetlbfs mounts
    memdive.hugepages.reserve/release/set_pool(...)   PoolChange: the outcome read back
    memdive.hugepages.check(size)           HugeCheck: map MAP_HUGETLB and report what it got

Names are imported lazily (the hugetlb half loads ctypes; `memdive thp` does not need it).
"""

from __future__ import annotations

from .. import _lazy_getattr

_NAMES = {
    "thp_system": "thp", "thp_process": "thp", "collapse": "thp",
    "hugetlb_system": "hugetlb", "reserve": "hugetlb", "release": "hugetlb", "set_pool": "hugetlb",
    "check": "hugetlb",
}  # fmt: skip

__all__ = ["check", "collapse", "hugetlb_system", "release", "reserve", "set_pool", "thp_process", "thp_system"]


__getattr__ = _lazy_getattr(__name__, _NAMES)
