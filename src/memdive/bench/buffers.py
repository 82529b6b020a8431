"""Benchmark buffers with a requested page backing, and the check of the backing obtained.

`Buffer(size, pages="4k"|"thp"|"hugetlb")` maps anonymous memory aligned to 2 MiB, fenced by
PROT_NONE guard pages so its VMA is exactly the buffer (no merge with neighbours); `backing()`
reads this process's smaps for that VMA after the run: AnonHugePages, Private_Hugetlb, Rss.
"""

from __future__ import annotations

import os
from typing import Self

from ..errors import InvalidInput, MemdiveError
from ..kernel import libc
from ..models.bench import Backing

HUGE = 2 << 20
PAGES = ("4k", "thp", "hugetlb")


def _hugetlb_hint(size: int) -> str:
    from ..kernel.sysmm import read_meminfo

    try:
        free = read_meminfo().get("HugePages_Free", 0) or 0
    except MemdiveError:
        free = 0
    need = (size + HUGE - 1) // HUGE
    return (f"the hugetlb pool has {free} free 2 MiB pages, {need} needed: reserve them as root "
            f"(echo {need} > /proc/sys/vm/nr_hugepages, or memdive hugetlb), or use --pages thp")


class Buffer:
    """An anonymous mapping of `size` bytes (rounded up to 2 MiB for thp and hugetlb)."""

    def __init__(self, size: int, pages: str = "4k"):
        if pages not in PAGES:
            raise InvalidInput(f"unknown page backing {pages!r} (use one of {', '.join(PAGES)})")
        if size <= 0:
            raise InvalidInput(f"buffer size must be positive, not {size}")
        self.pages = pages
        page = libc.PAGE_SIZE
        self.size = (size + HUGE - 1) // HUGE * HUGE if pages != "4k" else (size + page - 1) // page * page
        self._maps: list[tuple[int, int]] = []
        if pages == "hugetlb":
            try:
                self.addr = libc.mmap(self.size, flags=libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_HUGETLB)
            except MemdiveError:
                raise MemdiveError(f"could not map {self.size >> 20} MiB of hugetlb pages",
                                   hint=_hugetlb_hint(self.size)) from None
            self._maps.append((self.addr, self.size))
            return
        # raw = [guard][slop][buffer, 2 MiB aligned][guard][slop]; unmap the slop, fence with guards
        raw_len = self.size + HUGE + 2 * page
        raw = libc.mmap(raw_len)
        start = (raw + page + HUGE - 1) // HUGE * HUGE
        lo, hi = start - page, start + self.size + page
        if lo > raw:
            libc.munmap(raw, lo - raw)
        if raw + raw_len > hi:
            libc.munmap(hi, raw + raw_len - hi)
        self._maps.append((lo, hi - lo))
        libc.mprotect(lo, page, libc.PROT_NONE)
        libc.mprotect(start + self.size, page, libc.PROT_NONE)
        self.addr = start
        libc.madvise(start, self.size, "hugepage" if pages == "thp" else "nohugepage",
                     hint="the kernel lacks transparent huge pages" if pages == "thp" else None)

    def close(self) -> None:
        for a, n in self._maps:
            libc.munmap(a, n)
        self._maps = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def backing(self) -> Backing:
        return backing_of(self.addr, self.size, self.pages)


def backing_of(addr: int, size: int, requested: str, pid: int | None = None) -> Backing:
    """What the kernel gave [addr, addr+size) of this process (or `pid`), summed over its VMAs."""
    from ..kernel.procfs import read_smaps

    end = addr + size
    rss = huge = tlb = 0
    kps = None
    found = False
    for m in read_smaps(pid or os.getpid()):
        if m.end <= addr or m.start >= end:
            continue
        found = True
        rss += m.rss_bytes or 0
        huge += m.anon_huge_bytes or 0
        tlb += (m.private_hugetlb_bytes or 0) + (m.shared_hugetlb_bytes or 0)
        kps = max(kps or 0, m.kernel_page_size_bytes or 0)
    if not found:
        return Backing(requested=requested, obtained="unknown", size_bytes=size)
    if tlb:
        obtained = "hugetlb"
    elif huge and huge >= 0.9 * rss:
        obtained = "thp"
    elif huge:
        obtained = "partly-thp"
    else:
        obtained = "4k"
    return Backing(requested=requested, obtained=obtained, size_bytes=size, rss_bytes=rss, anon_huge_bytes=huge,
                   hugetlb_bytes=tlb, kernel_page_size_bytes=kps)


def combine(backings: list[Backing]) -> Backing:
    """Several buffers' backings as one (sizes and counters summed; 'mixed' when they differ)."""
    kinds = {b.obtained for b in backings}

    def total(attr: str) -> int | None:
        vals = [getattr(b, attr) for b in backings]
        return None if any(v is None for v in vals) else sum(vals)

    return Backing(requested=backings[0].requested, obtained=kinds.pop() if len(kinds) == 1 else "mixed",
                   size_bytes=sum(b.size_bytes for b in backings), rss_bytes=total("rss_bytes"),
                   anon_huge_bytes=total("anon_huge_bytes"), hugetlb_bytes=total("hugetlb_bytes"),
                   kernel_page_size_bytes=max((b.kernel_page_size_bytes or 0) for b in backings) or None)
