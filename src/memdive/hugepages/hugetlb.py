"""hugetlb: pools per page size and per node, hugetlbfs mounts, reserving and releasing pages with the
outcome read back, and a check that maps MAP_HUGETLB and reports what it got (falling back to THP,
said out loud)."""

from __future__ import annotations

import ctypes
import os

from ..errors import InvalidInput, MemdiveError
from ..kernel import hugetlb as khuge
from ..kernel import libc, procfs, sysmm
from ..kernel import thp as kthp
from ..kernel.root import KernelRoot, resolve
from ..models.hugepages import HugeCheck, HugetlbPool, HugetlbSystem, PoolChange


def hugetlb_system(root: KernelRoot | None = None) -> HugetlbSystem:
    r = resolve(root)
    mi = sysmm.read_meminfo(r)
    return HugetlbSystem(
        pools=tuple(khuge.read_pools(r)),
        mounts=tuple(khuge.read_hugetlb_mounts(r)),
        default_size_bytes=mi.get("Hugepagesize"),
    )


def default_size(root: KernelRoot | None = None) -> int:
    return khuge.default_size(root)


def _counts(pool: HugetlbPool, node: int | None) -> tuple[int, int]:
    if node is None:
        return pool.total, pool.free
    for n in pool.nodes:
        if n.node == node:
            return n.total, n.free
    raise InvalidInput(
        f"node {node} has no {pool.size_bytes // 1024} kB hugetlb pool",
        hint="nodes: " + ", ".join(str(n.node) for n in pool.nodes),
    )


def set_pool(
    size_bytes: int,
    total: int,
    node: int | None = None,
    root: KernelRoot | None = None,
    force: bool = False,
) -> PoolChange:
    """Write nr_hugepages (of the node, or global) = TOTAL and read back what the kernel made of it.

    Growing can fall short (no free contiguous memory: see `memdive frag`); shrinking frees only free pages
    (pages in use become surplus and go when released). Growing by more than 90% of MemAvailable is refused
    unless FORCE: the kernel would take every page it can get, reclaiming cache and risking OOM kills."""
    r = resolve(root)
    before = khuge.read_pool(size_bytes, r)
    bt, bf = _counts(before, node)
    if total < 0:
        raise InvalidInput(f"a pool cannot hold {total} pages")
    need = (total - bt) * size_bytes
    avail = sysmm.read_meminfo(r).get("MemAvailable")
    if need > 0 and avail is not None and need > avail * 0.9 and not force:
        raise InvalidInput(
            f"growing the {size_bytes // 1024} kB pool by {total - bt} pages needs {need >> 20} MiB but only "
            f"{avail >> 20} MiB is available",
            hint="the kernel would take every page it can get (reclaiming cache, risking OOM kills); "
            "ask for fewer, or pass --force",
        )
    khuge.write_nr_hugepages(size_bytes, total, node, r)
    after = khuge.read_pool(size_bytes, r)
    at, af = _counts(after, node)
    return PoolChange(
        size_bytes=size_bytes,
        node=node,
        requested_total=total,
        before_total=bt,
        after_total=at,
        before_free=bf,
        after_free=af,
    )


def reserve(
    size_bytes: int, count: int, node: int | None = None, root: KernelRoot | None = None, force: bool = False
) -> PoolChange:
    """Grow the pool by COUNT pages."""
    pool = khuge.read_pool(size_bytes, resolve(root))
    return set_pool(size_bytes, _counts(pool, node)[0] + count, node, root, force)


def release(
    size_bytes: int, count: int | None = None, node: int | None = None, root: KernelRoot | None = None
) -> PoolChange:
    """Shrink the pool by COUNT pages (None: every free page)."""
    pool = khuge.read_pool(size_bytes, resolve(root))
    total, free = _counts(pool, node)
    n = free if count is None else count
    return set_pool(size_bytes, max(0, total - n), node, root)


def _mapping_at(addr: int):
    for m in procfs.read_smaps(os.getpid()):
        if m.start <= addr < m.end:
            return m
    return None


def _touch(addr: int, length: int, step: int) -> None:
    for off in range(0, length, step):
        ctypes.c_char.from_address(addr + off).value = b"\x01"


def check(
    size_bytes: int | None = None, count: int = 1, fallback: bool = True, root: KernelRoot | None = None
) -> HugeCheck:
    """Map COUNT hugetlb pages of SIZE (MAP_HUGETLB | size << MAP_HUGE_SHIFT), touch them, and read back
    from this process's smaps what the kernel gave. If the mapping fails (empty pool) and FALLBACK, map the
    same length as anonymous memory advised MADV_HUGEPAGE and report the THP it got instead."""
    r = resolve(root)
    size = size_bytes or default_size(r)
    if size & (size - 1) or size < libc.PAGE_SIZE:
        raise InvalidInput(f"not a huge page size: {size}")
    if count < 1:
        raise InvalidInput("count must be at least 1")
    offered = khuge.pool_sizes(r)
    if size not in offered:
        raise InvalidInput(
            f"no hugetlb pages of {size // 1024} kB on this kernel",
            hint="sizes offered: " + ", ".join(f"{s // 1024}kB" for s in offered),
        )
    length = size * count
    flags = (
        libc.MAP_PRIVATE
        | libc.MAP_ANONYMOUS
        | libc.MAP_HUGETLB
        | ((size.bit_length() - 1) << libc.MAP_HUGE_SHIFT)
    )
    ok, err, got, kps = False, None, 0, None
    try:
        addr = libc.mmap(length, flags=flags)
    except MemdiveError as e:
        err = e.msg
    else:
        try:
            _touch(addr, length, size)
            m = _mapping_at(addr)
            if m is not None:
                got = (m.private_hugetlb_bytes or 0) + (m.shared_hugetlb_bytes or 0)
                kps = m.kernel_page_size_bytes
            ok = got >= length
            if not ok:
                err = f"the mapping holds {got} bytes of hugetlb pages, not {length}"
        finally:
            libc.munmap(addr, length)
    thp_mode, thp_bytes, fb = None, 0, None
    if not ok and fallback:
        fb = "thp"
        try:
            settings = kthp.read_thp_settings(r)
            pmd = settings.pmd_size_bytes or (2 << 20)
            thp_mode = settings.effective_mode(pmd)
        except MemdiveError:
            pmd, thp_mode = 2 << 20, None
        span = length + pmd
        base = libc.mmap(span)
        try:
            start = -(-base // pmd) * pmd
            try:
                libc.madvise(start, length, "hugepage")
            except MemdiveError:
                pass
            _touch(start, length, libc.PAGE_SIZE if length <= pmd else pmd)
            m = _mapping_at(start)
            thp_bytes = (m.anon_huge_bytes or 0) if m is not None else 0
        finally:
            libc.munmap(base, span)
    return HugeCheck(
        size_bytes=size,
        length_bytes=length,
        hugetlb_ok=ok,
        hugetlb_error=err,
        hugetlb_bytes=got,
        kernel_page_size_bytes=kps,
        fallback=fb,
        thp_mode=thp_mode,
        thp_bytes=thp_bytes,
    )
