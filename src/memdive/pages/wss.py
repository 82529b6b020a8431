"""Working-set size over time (Brendan Gregg's wss.pl, for any process, per region).

Accessed set: every interval, write 1 to /proc/PID/clear_refs (clears the accessed bits of the
process's pages and PG_referenced), wait, then sum smaps `Referenced`. Written set: soft-dirty
(clear_refs 4 and pagemap bit 55) where the kernel has CONFIG_MEM_SOFT_DIRTY, else not measured.
Writes go through an fd on /proc/PID, so a reused PID is never written to.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from ..errors import KernelFeatureMissing
from ..kernel import pagecache as pc
from ..kernel import pagemap as pm
from ..kernel.procfs import parse_smaps
from ..kernel.root import KernelRoot, resolve
from ..maps import kind_of
from ..models.pages import WssRegion, WssSample

METHOD = ("accessed: clear_refs 1, then smaps Referenced after each interval; "
          "written: clear_refs 4 + pagemap soft-dirty bit 55")
ERROR = ("error: counts pages whose accessed bit was set again during the interval, so it includes pages "
         "touched by the kernel on the process's behalf (read(), page-table scans) and rounds up to whole "
         "THPs (2 MiB); it misses pages aged by reclaim (kswapd/MGLRU clear accessed bits too) and accesses "
         "through another process's mapping of a shared page; the reset itself costs the target TLB misses "
         "and makes its pages look cold to reclaim. Resolution is one page per mapping, sampled once per "
         "interval.")
RESET_WHY = ("resetting referenced bits (clear_refs) changes what the kernel's reclaim believes is hot in "
             "the target: its pages look idle until touched again and may be reclaimed or swapped sooner")


def idle_page_tracking(root: KernelRoot | None = None) -> bool:
    """/sys/kernel/mm/page_idle/bitmap exists (CONFIG_IDLE_PAGE_TRACKING)."""
    return os.path.exists(resolve(root).sys_path("kernel/mm/page_idle/bitmap"))


def _soft_dirty_counts(pid: int, root: KernelRoot | None) -> dict[int, int]:
    from .walker import walk

    w = walk(pid, method="read", detail="pagemap", root=root)
    return {r.start: (r.stats.soft_dirty_pages or 0) * w.page_size_bytes for r in w.regions}


def sample(pid: int, *, interval: float = 1.0, duration: float | None = None, count: int | None = None,
           root: KernelRoot | None = None) -> Iterator[WssSample]:
    """Yield one WssSample per interval until `duration` seconds or `count` samples (or forever)."""
    r = resolve(root)
    soft = pm.soft_dirty_supported(r)
    dirfd = pc.open_pid_dir(pid, r)
    try:
        from ..errors import InvalidInput
        from ..kernel.procfs import read_exe

        exe = read_exe(pid, r)
        if not pc.read_pid_file_at(dirfd, "maps", pid):
            raise InvalidInput(f"process {pid} has no user address space (a kernel thread or a zombie)", pid=pid)
        t0 = time.monotonic()
        n = 0
        pc.write_clear_refs(dirfd, "1", pid)
        if soft:
            pc.write_clear_refs(dirfd, "4", pid)
        last = time.monotonic()
        while True:
            deadline = last + interval
            time.sleep(max(0.0, deadline - time.monotonic()))
            maps = parse_smaps(pc.read_pid_file_at(dirfd, "smaps", pid), f"/proc/{pid}/smaps")
            written = _soft_dirty_counts(pid, r) if soft else None
            now = time.monotonic()
            pc.write_clear_refs(dirfd, "1", pid)
            if soft:
                pc.write_clear_refs(dirfd, "4", pid)
            regions = [WssRegion(start=m.start, end=m.end, kind=kind_of(m, exe), name=m.name,
                                 rss_bytes=m.rss_bytes or 0, accessed_bytes=m.referenced_bytes or 0,
                                 written_bytes=written.get(m.start) if written is not None else None)
                       for m in maps]
            yield WssSample(time_seconds=now - t0, interval_seconds=now - last,
                            rss_bytes=sum(x.rss_bytes for x in regions),
                            accessed_bytes=sum(x.accessed_bytes for x in regions),
                            written_bytes=sum(written.values()) if written is not None else None,
                            regions=regions)
            last = now
            n += 1
            if (count is not None and n >= count) or (duration is not None and now - t0 >= duration - 1e-3):
                return
    finally:
        os.close(dirfd)


def notes(root: KernelRoot | None = None) -> list[str]:
    out = []
    if not pm.soft_dirty_supported(root):
        out.append("written set: not measured: this kernel lacks CONFIG_MEM_SOFT_DIRTY (soft-dirty bit 55 is "
                   "always 0 and clear_refs 4 does nothing)")
    if not idle_page_tracking(root):
        out.append("idle page tracking: absent (no /sys/kernel/mm/page_idle: CONFIG_IDLE_PAGE_TRACKING off); "
                   "using clear_refs + Referenced")
    return out


__all__ = ["ERROR", "METHOD", "RESET_WHY", "KernelFeatureMissing", "notes", "sample"]
