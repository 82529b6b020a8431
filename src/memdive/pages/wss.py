"""Working-set size over time (Brendan Gregg's wss.pl, for any process, per region).

Two ways to learn the accessed set, per interval and per mapping:

- "referenced": write 1 to /proc/PID/clear_refs (clears the accessed bits of the process's pages
  and PG_referenced), wait, then sum smaps `Referenced`. Needs write access to clear_refs (the
  owner or root).
- "idle": the idle page bitmap (/sys/kernel/mm/page_idle/bitmap, CONFIG_IDLE_PAGE_TRACKING; root):
  read the PFNs of the present pages from pagemap, set their idle bits (the head page's for a
  compound page), wait, read the bits back: a page whose idle bit the kernel cleared was accessed.
  `IdleTracker.mark()` / `.collect()` are the two steps.
- "auto": idle where the kernel has the bitmap and we may use it (root), else referenced.

Written set: soft-dirty (clear_refs 4 and pagemap bit 55) where the kernel has
CONFIG_MEM_SOFT_DIRTY, else not measured. Writes go through an fd on /proc/PID, so a reused PID
is never written to.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from ..errors import AccessDenied, InvalidInput, KernelFeatureMissing
from ..kernel import pagecache as pc
from ..kernel import pagemap as pm
from ..kernel.procfs import parse_maps, parse_smaps
from ..kernel.root import KernelRoot, resolve
from ..maps import kind_of
from ..models.pages import WssRegion, WssSample

METHODS = ("auto", "referenced", "idle")

METHOD = ("accessed: clear_refs 1, then smaps Referenced after each interval; "
          "written: clear_refs 4 + pagemap soft-dirty bit 55")
ERROR = ("error: counts pages whose accessed bit was set again during the interval, so it includes pages "
         "touched by the kernel on the process's behalf (read(), page-table scans) and rounds up to whole "
         "THPs (2 MiB); it misses pages aged by reclaim (kswapd/MGLRU clear accessed bits too), accesses "
         "through another process's mapping of a shared page, and accesses that hit a TLB entry cached "
         "before the reset (the kernel clears the bits without flushing the TLB, so a hot set of a few "
         "thousand pages, within the TLB's reach, is undercounted by up to about a tenth); the reset makes "
         "the target's pages look cold to reclaim. Resolution is one page per mapping, sampled once per "
         "interval.")
RESET_WHY = ("resetting referenced bits (clear_refs) changes what the kernel's reclaim believes is hot in "
             "the target: its pages look idle until touched again and may be reclaimed or swapped sooner")


IDLE_METHOD = ("accessed: the idle page bitmap (/sys/kernel/mm/page_idle/bitmap): the PFNs of the present pages "
               "from pagemap are marked idle, and after each interval a page whose idle bit the kernel cleared "
               "counts as accessed (a page faulted in during the interval counts too); "
               "written: clear_refs 4 + pagemap soft-dirty bit 55")
IDLE_ERROR = ("error: the idle flag belongs to the physical page, so an access through any mapping clears it: a "
              "page shared with other processes (libraries, page cache, fork) counts as accessed when another "
              "process touched it, and so does a page the kernel marked accessed on the process's behalf (read(2), "
              "write(2), get_user_pages, filesystem metadata). Only pages on an LRU list are tracked: others (the "
              "zero page, isolated or locked pages, some driver pages) are reported as untracked, never as idle. A "
              "compound page (THP) carries one flag on its head page: it counts whole. A page touched between "
              "memdive setting its bit and checking that the kernel took it is reported untracked. Unlike "
              "clear_refs, marking pages idle sets their Young flag so reclaim still sees them as referenced "
              "(kernel docs, idle_page_tracking.rst), and reclaim's own aging does not hide an access.")
IDLE_WHY = ("setting idle bits clears the accessed bits in the target's page tables (the kernel keeps a Young flag "
            "for reclaim) and costs the kernel an rmap walk per page at every read")


def idle_page_tracking(root: KernelRoot | None = None) -> bool:
    """/sys/kernel/mm/page_idle/bitmap exists (CONFIG_IDLE_PAGE_TRACKING)."""
    from ..kernel.kpage import idle_available

    return idle_available(root)


def choose_method(method: str = "auto", root: KernelRoot | None = None) -> str:
    """"referenced" or "idle": `auto` takes the idle bitmap where the kernel has it and we are root
    (PFNs and the bitmap need CAP_SYS_ADMIN); asking for `idle` where it is absent is an error."""
    if method not in METHODS:
        raise InvalidInput(f"unknown wss method {method!r} ({', '.join(METHODS)})")
    if method == "referenced":
        return method
    have = idle_page_tracking(root)
    if method == "idle":
        if not have:
            from ..kernel.kpage import IDLE_HINT

            raise KernelFeatureMissing("idle page tracking: unavailable on this kernel (CONFIG_IDLE_PAGE_TRACKING)",
                                       hint=IDLE_HINT)
        return method
    return "idle" if have and os.geteuid() == 0 else "referenced"


def method_text(method: str) -> tuple[str, str]:
    """(what is measured, its known error) for a chosen method."""
    return (IDLE_METHOD, IDLE_ERROR) if method == "idle" else (METHOD, ERROR)


class IdleTracker:
    """The accessed pages of a process by the idle page bitmap, in two steps the caller times:
    `mark()` sets the idle bit of every present page, `collect()` reads them back and returns the
    per-mapping counts of the interval in between. Needs root. Close it (or use `with`)."""

    def __init__(self, pid: int, root: KernelRoot | None = None, dirfd: int | None = None):
        from ..kernel import kpage as kp

        self.pid, self.root = pid, resolve(root)
        self.page = os.sysconf("SC_PAGE_SIZE")
        self._own_dir = dirfd is None
        self.dirfd: int | None = pc.open_pid_dir(pid, self.root) if dirfd is None else dirfd
        self.fds: list[int] = []
        self._closed = False
        try:
            self.bitmap = kp.open_idle_bitmap(self.root)
            self.fds.append(self.bitmap)
            self.kflags = kp.open_files(self.root, ("kpageflags",))["kpageflags"]
            self.fds.append(self.kflags)
            self.pagemap = pm.open_pagemap_at(self.dirfd, pid)
            self.fds.append(self.pagemap)
        except BaseException:
            self.close()
            raise
        self._marked: tuple | None = None

    def close(self) -> None:
        self._closed = True
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        if self._own_dir and self.dirfd is not None:
            os.close(self.dirfd)
            self.dirfd = None

    def _check_open(self) -> None:
        # its descriptors are closed (and their numbers may belong to other files by now)
        if self._closed:
            raise InvalidInput(f"IdleTracker of process {self.pid} used after close()", pid=self.pid)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _present(self):
        """(maps, virtual page numbers, PFNs, region index) of every present page, in address order."""
        import numpy as np

        self._check_open()
        data = pc.read_pid_file_at(self.dirfd, "maps", self.pid)
        maps = [m for m in parse_maps(data, f"/proc/{self.pid}/maps") if m.start < USER_END]
        if not maps:
            from ..process import require_address_space

            require_address_space(self.pid, False, self.root)
        vp, pf, ri = [], [], []
        for i, m in enumerate(maps):
            for first, e in _present_entries(self.pagemap, m.start // self.page, (m.end - m.start) // self.page,
                                             self.pid):
                vp.append(first)
                pf.append(e)
                ri.append(np.full(len(e), i, np.int32))
        if not vp:
            z = np.empty(0, np.int64)
            return maps, z, z.astype(np.uint64), z.astype(np.int32)
        vpn, ent, reg = np.concatenate(vp), np.concatenate(pf), np.concatenate(ri)
        pfn = ent & np.uint64(pm.PFN_MASK)
        if len(pfn) and not pfn.any():
            raise AccessDenied("pagemap PFNs read as 0", pid=self.pid, hint=pm.PFN_HINT)
        return maps, vpn, pfn, reg

    def mark(self) -> int:
        """Set the idle bit of every present page's (head) PFN; returns the pages marked. Pages whose
        bit does not read back as set are not trackable (not on an LRU list) and are reported so."""
        from ..kernel import kpage as kp

        _, vpn, pfn, _ = self._present()
        heads = kp.head_pfns(pfn, self.kflags)
        words, masks = kp.idle_words(heads)
        kp.write_idle(self.bitmap, words, masks)
        tracked = kp.idle_bits(heads, words, kp.read_idle(self.bitmap, words))
        self._marked = (vpn, pfn, heads, tracked, words)
        return len(vpn)

    def collect(self) -> tuple[list, list[tuple[int, int, int]]]:
        """(mappings now, per mapping (present pages, accessed pages, untracked pages)) since mark()."""
        from ..kernel import kpage as kp

        self._check_open()
        if self._marked is None:
            raise InvalidInput("IdleTracker.collect() before mark()")
        vpn0, pfn0, heads0, tracked0, words0 = self._marked
        idle0 = kp.idle_bits(heads0, words0, kp.read_idle(self.bitmap, words0))
        maps, vpn, pfn, reg = self._present()
        return maps, account(vpn0, pfn0, tracked0, idle0, vpn, pfn, reg, len(maps))


USER_END = 0x7FFFFFFFF000


def _present_entries(fd: int, first: int, count: int, pid: int):
    """(first page number, entries) of the present pages of [first, first+count), in chunks: runs
    found by PAGEMAP_SCAN where the kernel has it, else pagemap read whole."""
    import numpy as np

    chunk = 1 << 16
    try:
        spans = []
        for regs in pm.scan(fd, first * _page(), (first + count) * _page(), anyof=pm.PAGE_IS_PRESENT,
                            return_mask=pm.PAGE_IS_PRESENT, pid=pid):
            spans += [(a // _page(), (b - a) // _page()) for a, b in zip(regs["start"].tolist(), regs["end"].tolist())]
    except pm.ScanUnsupported:
        spans = [(first, count)]
    for a, n in spans:
        for s in range(a, a + n, chunk):
            e = pm.read_entries(fd, s, min(chunk, a + n - s), pid=pid)
            keep = np.flatnonzero(e >> np.uint64(pm.BIT_PRESENT))
            if len(keep):
                yield s + keep.astype(np.int64), e[keep]


def _page() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def account(vpn0, pfn0, tracked0, idle0, vpn, pfn, reg, nregions: int) -> list[tuple[int, int, int]]:
    """Per region (present, accessed, untracked) pages of an interval. At mark: pages vpn0 with PFNs
    pfn0, `tracked0` whether the kernel took their idle bit; `idle0` the bits read back at the end.
    Now: the present pages vpn/pfn/reg. A page present now with the PFN it had at mark counts as
    accessed if tracked and no longer idle, untracked if the kernel did not take its bit; a page that
    is new (or has another PFN: faulted in, or moved) counts as accessed."""
    import numpy as np

    i = np.searchsorted(vpn0, vpn)
    j = np.minimum(i, max(len(vpn0) - 1, 0))
    same = (i < len(vpn0)) & (vpn0[j] == vpn) & (pfn0[j] == pfn) if len(vpn0) else np.zeros(len(vpn), bool)
    untracked = same & ~tracked0[j] if len(vpn0) else same
    accessed = ~same | (same & tracked0[j] & ~idle0[j]) if len(vpn0) else ~same
    out = []
    present = np.bincount(reg, minlength=nregions)
    acc = np.bincount(reg[accessed], minlength=nregions)
    unt = np.bincount(reg[untracked], minlength=nregions)
    for k in range(nregions):
        out.append((int(present[k]), int(acc[k]), int(unt[k])))
    return out


def _soft_dirty_counts(pid: int, root: KernelRoot | None) -> dict[int, int]:
    from .walker import walk

    w = walk(pid, method="read", detail="pagemap", root=root)
    return {r.start: (r.stats.soft_dirty_pages or 0) * w.page_size_bytes for r in w.regions}


def sample(pid: int, *, interval: float = 1.0, duration: float | None = None, count: int | None = None,
           method: str = "auto", root: KernelRoot | None = None) -> Iterator[WssSample]:
    """Yield one WssSample per interval until `duration` seconds or `count` samples (or forever).

    `method`: "referenced" (clear_refs + smaps Referenced), "idle" (the idle page bitmap) or "auto"
    (idle where the kernel has it and we are root); see the module doc."""
    r = resolve(root)
    chosen = choose_method(method, r)
    soft = pm.soft_dirty_supported(r)
    dirfd = pc.open_pid_dir(pid, r)
    tracker: IdleTracker | None = None
    try:
        from ..kernel.procfs import read_exe

        exe = read_exe(pid, r)
        if not pc.read_pid_file_at(dirfd, "maps", pid):
            from ..process import require_address_space

            require_address_space(pid, False, r)
        if chosen == "idle":
            tracker = IdleTracker(pid, r, dirfd=dirfd)
        t0 = time.monotonic()
        n = 0

        def reset() -> None:
            if tracker is not None:
                tracker.mark()
            else:
                pc.write_clear_refs(dirfd, "1", pid)
            if soft:
                pc.write_clear_refs(dirfd, "4", pid)

        reset()
        last = time.monotonic()
        while True:
            deadline = last + interval
            time.sleep(max(0.0, deadline - time.monotonic()))
            if tracker is not None:
                maps, counts = tracker.collect()
            else:
                maps = parse_smaps(pc.read_pid_file_at(dirfd, "smaps", pid), f"/proc/{pid}/smaps")
            written = _soft_dirty_counts(pid, r) if soft else None
            now = time.monotonic()
            reset()
            if tracker is not None:
                pg = tracker.page
                regions = [WssRegion(start=m.start, end=m.end, kind=kind_of(m, exe), name=m.name,
                                     rss_bytes=c[0] * pg, accessed_bytes=c[1] * pg, untracked_bytes=c[2] * pg,
                                     written_bytes=written.get(m.start) if written is not None else None)
                           for m, c in zip(maps, counts)]
            else:
                regions = [WssRegion(start=m.start, end=m.end, kind=kind_of(m, exe), name=m.name,
                                     rss_bytes=m.rss_bytes or 0, accessed_bytes=m.referenced_bytes or 0,
                                     written_bytes=written.get(m.start) if written is not None else None)
                           for m in maps]
            yield WssSample(time_seconds=now - t0, interval_seconds=now - last,
                            rss_bytes=sum(x.rss_bytes for x in regions),
                            accessed_bytes=sum(x.accessed_bytes for x in regions),
                            written_bytes=sum(written.values()) if written is not None else None,
                            regions=regions, method=chosen,
                            untracked_bytes=sum(x.untracked_bytes or 0 for x in regions) if tracker else None)
            last = now
            n += 1
            if (count is not None and n >= count) or (duration is not None and now - t0 >= duration - 1e-3):
                return
    finally:
        if tracker is not None:
            tracker.close()
        os.close(dirfd)


def notes(root: KernelRoot | None = None) -> list[str]:
    out = []
    if not pm.soft_dirty_supported(root):
        out.append("written set: not measured: this kernel lacks CONFIG_MEM_SOFT_DIRTY (soft-dirty bit 55 is "
                   "always 0 and clear_refs 4 does nothing)")
    if not idle_page_tracking(root):
        out.append("idle page tracking: unavailable on this kernel (CONFIG_IDLE_PAGE_TRACKING): "
                   "using clear_refs + Referenced")
    elif os.geteuid() != 0:
        out.append("idle page tracking: needs root (PFNs and the bitmap): using clear_refs + Referenced")
    return out


__all__ = ["ERROR", "IDLE_ERROR", "IDLE_METHOD", "METHOD", "METHODS", "RESET_WHY", "IdleTracker",
           "KernelFeatureMissing", "choose_method", "method_text", "notes", "sample"]
