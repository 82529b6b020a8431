"""Transparent huge pages: the system view, one process's regions (and why a large one has none),
and synchronous collapse through process_madvise(MADV_COLLAPSE)."""

from __future__ import annotations

import errno
import os

from ..kernel import buddy, procfs, sysmm
from ..kernel import thp as kthp
from ..kernel.root import KernelRoot, resolve
from ..maps import kind_of
from ..models.hugepages import CollapseResult, ThpProcess, ThpRegion, ThpSettings, ThpSystem
from ..models.process import Mapping

# Kinds whose pages are anonymous (THP via the fault path and khugepaged) or shmem (shmem_enabled).
ANON_KINDS = {"anon", "heap", "stack", "named-anon"}
SHMEM_KINDS = {"shmem", "memfd"}
DEFAULT_PMD = 2 << 20
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def thp_system(root: KernelRoot | None = None) -> ThpSystem:
    """THP settings, khugepaged, each multi-size THP dir, the thp_* counters, meminfo's huge-page lines."""
    r = resolve(root)
    settings = kthp.read_thp_settings(r)
    vm = sysmm.read_vmstat(r)
    mi = sysmm.read_meminfo(r)
    return ThpSystem(
        settings=settings,
        counters={k: v for k, v in vm.items() if k.startswith("thp_")},
        anon_huge_bytes=mi.get("AnonHugePages"),
        shmem_huge_bytes=mi.get("ShmemHugePages"),
        shmem_pmd_bytes=mi.get("ShmemPmdMapped"),
        file_huge_bytes=mi.get("FileHugePages"),
        file_pmd_bytes=mi.get("FilePmdMapped"),
    )


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n // 1024} KiB"


def reason_for(
    m: Mapping,
    kind: str,
    settings: ThpSettings,
    *,
    pmd: int,
    process_thp_enabled: bool = True,
    free_huge_blocks: int | None = None,
) -> str | None:
    """Why mapping M holds no PMD-mapped huge page, as far as the kernel's files tell; None if it has some
    or is not a candidate (file text, vdso...)."""
    huge = (m.anon_huge_bytes or 0) + (m.shmem_pmd_bytes or 0) + (m.file_pmd_bytes or 0)
    if huge:
        return None
    flags = set(m.vmflags or ())
    advised, refused = "hg" in flags, "nh" in flags
    if "ht" in flags:
        return None  # hugetlb, not THP
    length = m.end - m.start
    first = -(-m.start // pmd) * pmd
    fits = first + pmd <= m.end
    if kind in SHMEM_KINDS:
        mode = settings.shmem_enabled.selected if settings.shmem_enabled else "never"
        if mode in ("never", "deny"):
            return f"shared memory: shmem_enabled={mode} gives shmem/tmpfs no huge pages"
        if mode == "advise" and not advised:
            return "shared memory: shmem_enabled=advise and the region is not advised (MADV_HUGEPAGE)"
    elif kind not in ANON_KINDS:
        return None  # file-backed: PMD-mapped only via khugepaged (READ_ONLY_THP_FOR_FS) or large folios
    else:
        mode = settings.effective_mode(pmd)
        if mode == "never":
            return "THP is off (enabled=never)"
        if not process_thp_enabled:
            return "THP disabled for this process (prctl PR_SET_THP_DISABLE: status THP_enabled 0)"
        if refused:
            return "the region is advised MADV_NOHUGEPAGE"
        if mode == "madvise" and not advised:
            return "THP mode is madvise and the region is not advised (MADV_HUGEPAGE)"
    if length < pmd:
        return f"region ({_mib(length)}) is smaller than the huge page size ({_mib(pmd)})"
    if not fits:
        return f"no {_mib(pmd)}-aligned {_mib(pmd)} range inside the region (misaligned)"
    if m.thp_eligible is False:
        return "the kernel reports THPeligible 0 for this region"
    rss = m.rss_bytes or 0
    if rss == 0:
        return "nothing touched yet: huge pages come at the first fault in each aligned range"
    defrag = settings.defrag.selected if settings.defrag else None
    stalls = defrag == "always" or (defrag in ("madvise", "defer+madvise") and advised)
    free_note = (
        f" ({free_huge_blocks} free blocks of {_mib(pmd)} or larger now)"
        if free_huge_blocks is not None
        else ""
    )
    if not stalls and defrag is not None:
        return (
            f"defrag={defrag}: a fault does not wait for compaction, so it fell back to small pages "
            f"when no free {_mib(pmd)} block was at hand{free_note}; khugepaged may collapse it later"
        )
    kh = settings.khugepaged
    scan = (
        f" (scans {kh['pages_to_scan']} pages every {kh['scan_sleep_millisecs'] / 1000:g} s)"
        if "pages_to_scan" in kh and "scan_sleep_millisecs" in kh
        else ""
    )
    return (
        f"not yet collapsed by khugepaged{scan}: pages faulted before the region was eligible, or the "
        f"huge page allocation failed{free_note}; `memdive thp collapse` does it now"
    )


REASON_CODES = (  # (words in the reason, short code), first match wins
    ("shared memory", "shmem mode"),
    ("THP is off", "THP off"),
    ("PR_SET_THP_DISABLE", "prctl"),
    ("MADV_NOHUGEPAGE", "nohugepage"),
    ("not advised", "not advised"),
    ("smaller than", "too small"),
    ("misaligned", "misaligned"),
    ("THPeligible 0", "ineligible"),
    ("nothing touched", "untouched"),
    ("defrag=", "defrag"),
    ("khugepaged", "khugepaged"),
)


def reason_code(reason: str | None) -> str | None:
    if reason is None:
        return None
    return next((code for words, code in REASON_CODES if words in reason), "other")


def _free_huge_blocks(order: int, root: KernelRoot) -> int | None:
    try:
        zones = buddy.read_buddyinfo(root)
    except Exception:  # noqa: BLE001 - a note only
        return None
    return sum(n << (k - order) for z in zones for k, n in enumerate(z.free_blocks) if k >= order)


def thp_process(pid: int, root: KernelRoot | None = None) -> ThpProcess:
    """Every mapping of PID with AnonHugePages/ShmemPmdMapped/FilePmdMapped/THPeligible, and a reason for
    each candidate region without huge pages."""
    from ..process import Process, require_address_space

    r = resolve(root)
    proc = Process(pid, r)
    maps = proc.maps()
    require_address_space(pid, bool(maps), r)
    status = proc.status()
    exe = procfs.read_exe(pid, r) if hasattr(procfs, "read_exe") else None
    settings = kthp.read_thp_settings(r)
    pmd = settings.pmd_size_bytes or DEFAULT_PMD
    other = getattr(status, "other", {}) or {}
    thp_on = str(other.get("THP_enabled", "1")).strip() != "0"
    order = (pmd // PAGE_SIZE).bit_length() - 1
    free_blocks = _free_huge_blocks(order, r)
    regions = []
    for m in maps:
        kind = kind_of(m, exe)
        flags = set(m.vmflags or ())
        regions.append(
            ThpRegion(
                start=m.start,
                end=m.end,
                perms=m.perms,
                name=m.name,
                kind=kind,
                rss_bytes=m.rss_bytes or 0,
                anonymous_bytes=m.anonymous_bytes or 0,
                anon_huge_bytes=m.anon_huge_bytes or 0,
                shmem_pmd_bytes=m.shmem_pmd_bytes or 0,
                file_pmd_bytes=m.file_pmd_bytes or 0,
                thp_eligible=m.thp_eligible,
                advised="hg" in flags,
                refused="nh" in flags,
                reason=(
                    why := reason_for(
                        m, kind, settings, pmd=pmd, process_thp_enabled=thp_on, free_huge_blocks=free_blocks
                    )
                ),
                reason_code=reason_code(why),
            )
        )
    return ThpProcess(
        pid=pid,
        comm=status.name,
        mode=settings.effective_mode(pmd),
        defrag=settings.defrag.selected if settings.defrag else None,
        pmd_size_bytes=pmd,
        anonymous_bytes=sum(x.anonymous_bytes for x in regions),
        anon_huge_bytes=sum(x.anon_huge_bytes for x in regions),
        shmem_pmd_bytes=sum(x.shmem_pmd_bytes for x in regions),
        file_pmd_bytes=sum(x.file_pmd_bytes for x in regions),
        regions=tuple(regions),
    )


def _huge_in(maps: list[Mapping], start: int, end: int) -> int:
    return sum(
        (m.anon_huge_bytes or 0) + (m.shmem_pmd_bytes or 0) + (m.file_pmd_bytes or 0)
        for m in maps
        if m.start < end and m.end > start
    )


def collapse_targets(
    pid: int, root: KernelRoot | None = None, min_bytes: int | None = None
) -> list[tuple[int, int]]:
    """The candidate ranges of PID for collapse: anonymous/shmem regions holding a whole aligned PMD range."""
    r = resolve(root)
    settings = kthp.read_thp_settings(r)
    pmd = settings.pmd_size_bytes or DEFAULT_PMD
    out = []
    for m in procfs.read_smaps(pid, r):
        flags = m.vmflags or ()
        if kind_of(m) not in ANON_KINDS | SHMEM_KINDS or "ht" in flags or "nh" in flags:
            continue
        first = -(-m.start // pmd) * pmd
        last = m.end // pmd * pmd
        huge = (m.anon_huge_bytes or 0) + (m.shmem_pmd_bytes or 0)
        if last - first >= max(pmd, min_bytes or 0) and (m.rss_bytes or 0) > 0 and huge < last - first:
            out.append((first, last))
    return out


def collapse(
    pid: int, start: int | None = None, end: int | None = None, root: KernelRoot | None = None
) -> list[CollapseResult]:
    """process_madvise(MADV_COLLAPSE) over [start, end) (or every candidate region), AnonHugePages read back.

    One result per range; a range the kernel refuses is reported with its errno, the others go on."""
    from ..errors import InvalidInput, MemdiveError
    from ..kernel import libc
    from ..process import Process

    r = resolve(root)
    proc = Process(pid, r)  # pins the start time before the ranges are chosen
    if start is not None and end is not None:
        if end <= start:
            raise InvalidInput(f"empty range {start:#x}-{end:#x}")
        maps = procfs.read_maps(pid, r)
        if not any(m.start < end and m.end > start for m in maps):
            raise InvalidInput(
                f"process {pid} has nothing mapped in {start:#x}-{end:#x}",
                pid=pid,
                hint=f"see `memdive thp {pid}` for its regions",
            )
        ranges = [(start, end)]
    else:
        ranges = collapse_targets(pid, r)
    pidfd = libc.pidfd_open(pid)
    try:
        if not proc.is_running():  # the PID now names another process: refuse
            from ..errors import NoSuchProcess

            raise NoSuchProcess(f"process {pid} exited (its PID was reused) before the collapse", pid=pid)
        results = []
        for a, b in ranges:
            before_maps = procfs.read_smaps(pid, r)
            before_alloc = sysmm.read_vmstat(r).get("thp_collapse_alloc", 0)
            ok, err = True, None
            try:
                buddy.collapse(pid, a, b, pidfd=pidfd)
            except MemdiveError as e:
                if getattr(e, "errno", None) is None:
                    raise  # no such process, no permission, no kernel support: nothing else will work either
                code = getattr(e, "errno", 0)
                ok, err = False, f"{errno.errorcode.get(code, code)}: {e.hint or os.strerror(code)}"
            after_maps = procfs.read_smaps(pid, r)
            results.append(
                CollapseResult(
                    pid=pid,
                    start=a,
                    end=b,
                    ok=ok,
                    error=err,
                    huge_before_bytes=_huge_in(before_maps, a, b),
                    huge_after_bytes=_huge_in(after_maps, a, b),
                    collapse_alloc_delta=sysmm.read_vmstat(r).get("thp_collapse_alloc", 0) - before_alloc,
                )
            )
    finally:
        os.close(pidfd)
    return results
