"""Measure what a range of this process's memory really got: page sizes, residency, nodes, locking.

Sources, each the kernel's own account: smaps (KernelPageSize, AnonHugePages, *_Hugetlb, Locked, VmFlags)
for the VMAs of the range, pagemap (present and swapped bits per base page), PAGEMAP_SCAN (PAGE_IS_HUGE,
Linux 6.7+, where memdive.kernel.pagemap provides it), move_pages (the node of each resident page) and
numa_maps (the policy).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import MemdiveError
from ..kernel import pagemap as pm
from ..kernel import thp as kthp
from ..kernel.root import KernelRoot
from ..models.alloc import BufferReport, PageRun

_PRESENT, _SWAPPED = np.uint64(1 << pm.BIT_PRESENT), np.uint64(1 << pm.BIT_SWAPPED)
_MOVE_PAGES_MAX = 1 << 20     # query at most this many pages' nodes (4 GiB of 4 KiB pages), else sample


def _huge_regions(addr: int, length: int) -> list[tuple[int, int]] | None:
    """[start, end) runs that PAGEMAP_SCAN marks PAGE_IS_HUGE; None where that is unavailable."""
    try:
        fd = pm.open_pagemap("self")
    except MemdiveError:
        return None
    try:
        out: list[tuple[int, int]] = []
        for regs in pm.scan(fd, addr, addr + length, anyof=pm.PAGE_IS_HUGE, return_mask=pm.PAGE_IS_HUGE):
            out.extend((int(r["start"]), int(r["end"])) for r in regs if int(r["categories"]) & pm.PAGE_IS_HUGE)
        return out
    except MemdiveError:
        return None
    finally:
        os.close(fd)


def _runs(addr: int, entries: np.ndarray, page: int, huge: list[tuple[int, int]] | None,
          hugetlb_page: int | None, pmd: int) -> tuple[PageRun, ...]:
    """Collapse per-page states into runs: 0 absent, 1 swapped, 2 present 4k, 3 thp, 4 hugetlb, 5 present."""
    state = np.zeros(len(entries), dtype=np.int8)
    present = (entries & _PRESENT) != 0
    swapped = (entries & _SWAPPED) != 0
    state[swapped] = 1
    if hugetlb_page:
        state[present] = 4
    elif huge is None:
        state[present] = 5
    else:
        state[present] = 2
        for s, e in huge:
            i, j = max(0, (s - addr) // page), min(len(state), (e - addr) // page)
            seg = state[i:j]
            seg[seg == 2] = 3
    kinds = {0: ("absent", page), 1: ("swapped", page), 2: ("4k", page), 3: ("thp", pmd),
             4: ("hugetlb", hugetlb_page or page), 5: ("present", page)}
    if len(state) == 0:
        return ()
    edges = np.flatnonzero(np.diff(state)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(state)]))
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        kind, ps = kinds[int(state[s])]
        out.append(PageRun(start=addr + s * page, end=addr + e * page, kind=kind, page_size_bytes=ps))
    return tuple(out)


def measure_range(addr: int, length: int, *, nbytes: int | None = None, asked_pages: str = "?",
                  asked_node: tuple[int, ...] | None = None, asked_lock: bool | str = False,
                  asked_populate: bool = False, align: int = 1, strategy: str = "?", notes: tuple[str, ...] = (),
                  root: KernelRoot | None = None) -> BufferReport:
    """Measure [addr, addr+length) of the calling process."""
    from ..kernel.procfs import read_smaps

    pid = os.getpid()
    page = os.sysconf("SC_PAGE_SIZE")
    end = addr + length
    sources = []
    vmas = [m for m in read_smaps(pid, root) if m.start < end and m.end > addr]
    sources.append("smaps")
    exact = bool(vmas) and all(m.start >= addr and m.end <= end for m in vmas)
    thp_smaps = sum(m.anon_huge_bytes or 0 for m in vmas)
    hugetlb = sum((m.private_hugetlb_bytes or 0) + (m.shared_hugetlb_bytes or 0) for m in vmas)
    locked = sum(m.locked_bytes or 0 for m in vmas) if vmas and vmas[0].locked_bytes is not None else None
    kps = vmas[0].kernel_page_size_bytes if vmas else None
    flags: list[str] = []
    for m in vmas:
        for f in m.vmflags or ():
            if f not in flags:
                flags.append(f)
    is_hugetlb = "ht" in flags or (kps is not None and kps > page)
    hugetlb_page = kps if is_hugetlb else None

    entries = pm.read_range(addr, length)
    sources.append("pagemap")
    present_mask = (entries & _PRESENT) != 0
    resident = int(np.count_nonzero(present_mask)) * page
    swapped = int(np.count_nonzero((entries & _SWAPPED) != 0)) * page

    huge = None if is_hugetlb else _huge_regions(addr, length)
    pmd = kthp.read_pmd_size(root)
    thp: int | None
    if huge is not None:
        sources.append("PAGEMAP_SCAN")
        thp = sum(e - s for s, e in huge)
    else:
        thp = thp_smaps if exact or thp_smaps == 0 else None
    runs = _runs(addr, entries, page, huge, hugetlb_page, pmd)

    extra = list(notes)
    if not exact and vmas:
        extra.append("the range shares a VMA with neighbours: smaps counters (THP, Locked) include them")

    nodes: dict[int, int] = {}
    policy = None
    try:
        from ..kernel import numa

        idx = np.flatnonzero(present_mask)
        if len(idx) > _MOVE_PAGES_MAX:
            step = len(idx) // _MOVE_PAGES_MAX + 1
            idx = idx[::step]
            scale = step
        else:
            scale = 1
        if len(idx):
            addrs = (addr + idx.astype(np.uint64) * np.uint64(page)).tolist()
            status = np.frombuffer(numa.move_pages(0, addrs, None), dtype=np.int32)
            vals, counts = np.unique(status[status >= 0], return_counts=True)
            nodes = {int(v): int(c) * page * scale for v, c in zip(vals, counts)}
            sources.append("move_pages")
        try:
            for nm in numa.read_numa_maps(pid, root):
                if addr <= nm.start < end:
                    policy = nm.policy
                    break
            sources.append("numa_maps")
        except MemdiveError:
            pass
    except MemdiveError as exc:
        extra.append(f"nodes not measured: {exc.one_line()}")

    if strategy == "thp" and resident and not thp:
        mode = kthp.read_thp_mode(root)
        extra.append(f"no huge pages although THP was asked (enabled={mode}): the kernel found no free 2 MiB "
                     f"block at fault time (fragmentation; defrag setting) or THP is off; khugepaged may "
                     f"collapse the range later")
    return BufferReport(
        address=addr, nbytes=nbytes if nbytes is not None else length, mapped_bytes=length,
        asked_pages=asked_pages, asked_node=asked_node, asked_lock=asked_lock, asked_populate=asked_populate,
        align_bytes=align, strategy=strategy, vma_exact=exact, vmas=len(vmas), resident_bytes=resident,
        swapped_bytes=swapped, thp_bytes=thp, hugetlb_bytes=hugetlb, locked_bytes=locked,
        kernel_page_size_bytes=kps, vmflags=tuple(flags), numa_policy=policy, nodes_bytes=nodes, runs=runs,
        notes=tuple(extra), sources=tuple(sources))
