"""Huge pages: transparent huge pages (system and per process, collapse) and hugetlb pools.

memdive.hugepages.thp_system()          ThpSystem: modes, khugepaged, multi-size THP, counters
memdive.hugepages.thp_process(pid)      ThpProcess: per-region huge pages and why not
memdive.hugepages.collapse(pid, ...)    CollapseResult: process_madvise(MADV_COLLAPSE), read back
memdive.hugepages.hugetlb_system()      HugetlbSystem: pools per size and node, hugetlbfs mounts
memdive.hugepages.set_pool(...)         PoolChange: reserve/release with the outcome read back
memdive.hugepages.check(size)           HugeCheck: map MAP_HUGETLB and report what it got
"""

from __future__ import annotations

from .hugetlb import check, hugetlb_system, release, reserve, set_pool
from .thp import collapse, thp_process, thp_system

__all__ = [
    "check",
    "collapse",
    "hugetlb_system",
    "release",
    "reserve",
    "set_pool",
    "thp_process",
    "thp_system",
]
