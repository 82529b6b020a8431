"""Placement-aware buffers: anonymous mappings with the page size, node, locking and population asked for,
and a report of what they really got, measured from pagemap, smaps and numa_maps.

    with memdive.alloc.buffer(64 << 20, pages="thp", populate=True) as buf:
        a = numpy.frombuffer(buf.view, dtype=numpy.float64)    # or buf.numpy("float64")
        print(buf.report().verdicts())

The seed's allocate_huge_pages falls back from MAP_HUGETLB to madvise silently; here a hugetlb buffer
with an empty pool raises an error that says how to reserve pages, and falls back only when asked
(fallback="thp" or "4k"), recording the fallback in the report.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import sys
from collections.abc import Iterable
from typing import Any, Self

from ..errors import InvalidInput, KernelFeatureMissing, MemdiveError
from ..kernel import hugetlb as _khuge
from ..kernel import libc as _libc
from ..kernel import ownmem
from ..kernel import thp as _thp
from ..kernel.root import KernelRoot, resolve
from ..models.alloc import BufferReport, PageRun

PAGES = ("4k", "thp", "hugetlb", "auto")
POLICIES = ("bind", "preferred", "preferred_many", "interleave")   # how `node` is applied (mbind mode)
ADVICE = ("normal", "sequential", "random", "willneed", "dontneed", "cold", "pageout", "remove", "hugepage",
          "nohugepage", "free", "populate_read", "populate_write", "collapse", "dontfork", "dofork")
_ids = itertools.count(1)


class BufferInUse(MemdiveError, BufferError):
    """close() while memoryviews or numpy arrays of the buffer are alive (unmapping would crash them)."""


def _human(n: int) -> str:
    from ..report.text import human_bytes

    return human_bytes(n)


def _round_up(n: int, unit: int) -> int:
    return (n + unit - 1) // unit * unit


def memlock_explanation(length: int) -> str:
    """Why mlock of LENGTH bytes failed: the limit, what is locked already, how to raise it."""
    soft, hard = ownmem.memlock_limit()
    try:
        from ..kernel.procfs import read_status

        locked = read_status(os.getpid()).vm.get("VmLck", 0)
    except MemdiveError:
        locked = 0
    lim = "unlimited" if soft < 0 else _human(soft)
    hlim = "unlimited" if hard < 0 else _human(hard)
    return (f"locking {_human(length)} exceeds RLIMIT_MEMLOCK (soft {lim}, hard {hlim}; {_human(locked)} "
            f"already locked by this process)")


MEMLOCK_HINT = ("raise the limit: `ulimit -l <KiB>` (up to the hard limit), `memlock` in "
                "/etc/security/limits.conf, LimitMEMLOCK= in a systemd unit, or run with CAP_IPC_LOCK")


def hugetlb_hint(size: int, need: int) -> str:
    kb = size // 1024
    return (f"reserve pages first: echo {need} > /sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages "
            f"(as root; or vm.nr_hugepages / hugepages= on the kernel command line), "
            f"or pass fallback='thp' (--fallback thp)")


def _check_nodes(nodes: tuple[int, ...], root: KernelRoot | None) -> None:
    from ..kernel import numa
    from ..models.numa import format_nodelist

    try:
        known = numa.read_nodes(root)
    except KernelFeatureMissing:
        known = []
    ids = {n.id for n in known}
    with_mem = {n.id for n in known if n.has_memory}
    for nd in nodes:
        if nd not in ids:
            raise InvalidInput(f"NUMA node {nd} does not exist on this machine",
                               hint=f"nodes here: {format_nodelist(sorted(ids)) or 'none'} "
                                    f"(with memory: {format_nodelist(sorted(with_mem)) or 'none'})")
        if nd not in with_mem:
            raise InvalidInput(f"NUMA node {nd} has no memory (a CPU-only or offline node)",
                               hint=f"nodes with memory: {format_nodelist(sorted(with_mem)) or 'none'}")
    try:
        allowed = set(numa.mems_allowed())
    except MemdiveError:
        return
    outside = [nd for nd in nodes if nd not in allowed]
    if outside:
        raise InvalidInput(f"NUMA node(s) {format_nodelist(outside)} are outside this process's cpuset",
                           hint=f"mems_allowed here: {format_nodelist(sorted(allowed))}")


def _node_tuple(node) -> tuple[int, ...] | None:
    if node is None:
        return None
    if isinstance(node, bool):
        raise InvalidInput(f"node must be a node id or a list of ids, not {node!r}")
    if isinstance(node, int):
        nodes: Iterable = (node,)
    else:
        try:
            nodes = tuple(node)
        except TypeError:
            raise InvalidInput(f"node must be a node id or a list of ids, not {node!r}") from None
    out = []
    for nd in nodes:
        if isinstance(nd, bool) or not isinstance(nd, int) or nd < 0:
            raise InvalidInput(f"not a NUMA node id: {nd!r}")
        out.append(nd)
    if not out:
        raise InvalidInput("node: an empty list of nodes")
    return tuple(out)


class Buffer:
    """An anonymous mapping placed as asked. Use `.view` (a memoryview) or `.numpy(dtype)`;
    `.report()` says what it really got. Close it (or use `with`) to unmap."""

    def __init__(self, nbytes: int, *, pages: str = "4k", node=None, policy: str = "bind",
                 lock: bool | str = False, populate: bool = False, align: int = 64, fallback: str | None = None,
                 hugetlb_size: int | None = None, name: str | None = None, root: KernelRoot | None = None):
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes <= 0:
            raise InvalidInput(f"buffer size must be a positive number of bytes, not {nbytes!r}")
        if pages not in PAGES:
            raise InvalidInput(f"pages={pages!r}: use one of {', '.join(PAGES)}")
        if fallback not in (None, "thp", "4k"):
            raise InvalidInput(f"fallback={fallback!r}: use None, 'thp' or '4k'")
        if isinstance(align, bool) or not isinstance(align, int) or align <= 0 or align & (align - 1):
            raise InvalidInput(f"align={align!r}: must be a power of two")
        if lock not in (False, True, "onfault"):
            raise InvalidInput(f"lock={lock!r}: use False, True or 'onfault'")
        self._root = resolve(root)
        self.id = next(_ids)
        self.name = name or f"buffer:{os.getpid()}:{self.id}"    # the VMA's name where the kernel allows it
        self.nbytes = nbytes
        self.asked_pages = pages
        self.asked_node = _node_tuple(node)
        if policy not in POLICIES:
            raise InvalidInput(f"policy={policy!r}: use one of {', '.join(POLICIES)}")
        if policy == "preferred" and self.asked_node is not None and len(self.asked_node) != 1:
            raise InvalidInput("policy='preferred' takes one node (use 'preferred_many' for several)")
        self.policy = policy
        self.asked_lock = lock
        self.asked_populate = bool(populate)
        self.align = align
        self.notes: list[str] = []
        self.address = 0
        self.mapped_bytes = 0
        self._guard = 0               # PROT_NONE pages on each side (0 for hugetlb)
        self._arr = None
        self.closed = True
        if self.asked_node is not None:
            _check_nodes(self.asked_node, root)

        page = _libc.PAGE_SIZE
        hsize = hugetlb_size or _khuge.default_size(self._root)
        strategy = pages
        if pages == "auto":
            strategy = self._choose_auto(nbytes, hsize)
        elif pages == "thp":
            mode = _thp.read_thp_mode(self._root)
            if mode is None:
                self.notes.append("this kernel has no transparent huge pages: the buffer gets 4 KiB pages")
            elif mode == "never":
                self.notes.append("THP is disabled (transparent_hugepage/enabled=never): madvise(HUGEPAGE) "
                                  "has no effect and the buffer gets 4 KiB pages")

        addr = 0
        if strategy == "hugetlb":
            try:
                addr, mapped = self._map_hugetlb(nbytes, hsize)
                self.notes.append(f"hugetlb pages of {_human(hsize)} (MAP_HUGETLB)")
            except MemdiveError as exc:
                if pages == "hugetlb" and fallback is None:
                    raise
                strategy = fallback or "thp"
                self.notes.append(f"hugetlb failed ({exc.msg}); fell back to {strategy} as asked")
        if strategy in ("thp", "4k"):
            unit = _thp.read_pmd_size(self._root) if strategy == "thp" else page
            mapped = _round_up(nbytes, unit)
            addr = self._map_aligned(mapped, max(align, unit))
        self.strategy = strategy
        self.address, self.mapped_bytes = addr, mapped
        self._arr = self._make_array(addr - self._guard, mapped + 2 * self._guard, nbytes, addr)
        self.closed = False
        try:
            self._place(strategy)
        except BaseException:
            self._arr._unmapped = True
            self._arr, self.closed = None, True
            _libc.munmap(addr - self._guard, mapped + 2 * self._guard)
            raise

    # --- creation steps ----------------------------------------------------------------------------

    def _choose_auto(self, nbytes: int, hsize: int) -> str:
        pool = _khuge.find_pool(hsize, self._root)
        need = _round_up(nbytes, hsize) // hsize
        if nbytes >= hsize and pool is not None and pool.free - pool.reserved >= need:
            self.notes.append(f"auto: {pool.free - pool.reserved} free hugetlb pages of {_human(hsize)} "
                              f"cover {need} needed: hugetlb")
            return "hugetlb"
        mode = _thp.read_thp_mode(self._root)
        pmd = _thp.read_pmd_size(self._root)
        # numpy's rule: madvise(HUGEPAGE) from 4 MiB; below, a huge page would be mostly padding.
        if mode in ("always", "madvise") and nbytes >= 2 * pmd:
            why = "no hugetlb pool" if pool is None else f"{pool.free - pool.reserved} free hugetlb pages"
            self.notes.append(f"auto: {why} for {need} needed, THP enabled={mode}: thp")
            return "thp"
        self.notes.append(f"auto: {_human(nbytes)} is below {_human(2 * pmd)} or THP is off "
                          f"(enabled={mode}): 4k")
        return "4k"

    def _map_hugetlb(self, nbytes: int, hsize: int) -> tuple[int, int]:
        pool = _khuge.find_pool(hsize, self._root)
        mapped = _round_up(nbytes, hsize)
        need = mapped // hsize
        if pool is None:
            raise KernelFeatureMissing(f"no hugetlb pool of {_human(hsize)} pages on this kernel",
                                       hint="sizes here: see /sys/kernel/mm/hugepages/")
        flags = (_libc.MAP_PRIVATE | _libc.MAP_ANONYMOUS | _libc.MAP_HUGETLB
                 | (hsize.bit_length() - 1) << _libc.MAP_HUGE_SHIFT)
        try:
            addr = _libc.mmap(mapped, flags=flags)
        except MemdiveError:
            e = ctypes.get_errno()
            avail = pool.free - pool.reserved
            if e == errno.ENOMEM:
                raise MemdiveError(
                    f"no hugetlb pages for {_human(mapped)}: {need} pages of {_human(hsize)} needed, "
                    f"{avail} available ({pool.total} reserved in the pool, {pool.free} free, "
                    f"{pool.reserved} promised to other mappings)",
                    hint=hugetlb_hint(hsize, pool.total - avail + need)) from None
            raise
        if self.align > hsize and addr % self.align:
            _libc.munmap(addr, mapped)
            raise InvalidInput(f"align={self.align} is larger than the hugetlb page size {hsize}")
        return addr, mapped

    def _map_aligned(self, mapped: int, align: int) -> int:
        """Map MAPPED bytes at an ALIGN-aligned address between two PROT_NONE guard pages.

        The guards catch overruns, and, as the protections differ, keep the kernel from merging the
        buffer's VMA with a neighbour (so smaps of the VMA is the buffer's own) where VMA names
        (PR_SET_VMA_ANON_NAME, CONFIG_ANON_VMA_NAME) are unavailable. Over-mapping by the alignment and
        trimming both ends is what numpy and jemalloc do for huge alignment.
        """
        page = _libc.PAGE_SIZE
        align = max(align, page)
        total = mapped + 2 * page + (align - page)
        try:
            raw = _libc.mmap(total)
        except MemdiveError:
            if ctypes.get_errno() != errno.ENOMEM:
                raise
            raise MemdiveError(f"the kernel refused to map {_human(total)} (ENOMEM): more than the overcommit "
                               f"policy allows, or the address space is full",
                               hint="see vm.overcommit_memory and CommitLimit/Committed_AS in /proc/meminfo "
                                    "(memdive ctl shows them)") from None
        addr = _round_up(raw + page, align)
        lo, hi = addr - page, addr + mapped + page
        if lo > raw:
            _libc.munmap(raw, lo - raw)
        if raw + total > hi:
            _libc.munmap(hi, raw + total - hi)
        _libc.mprotect(lo, page, _libc.PROT_NONE)
        _libc.mprotect(addr + mapped, page, _libc.PROT_NONE)
        self._guard = page
        return addr

    def _place(self, strategy: str) -> None:
        addr, mapped = self.address, self.mapped_bytes
        # A name of its own keeps the kernel from merging this VMA with a neighbour: smaps stays exact.
        self.vma_named = ownmem.name_anon_range(addr, mapped, f"memdive:{self.name}")
        if strategy == "thp":
            _libc.madvise(addr, mapped, "hugepage")
        elif strategy == "4k" and self.asked_pages in ("4k", "auto") and _thp.read_thp_mode(self._root) == "always":
            _libc.madvise(addr, mapped, "nohugepage")
            self.notes.append("THP enabled=always: madvise(NOHUGEPAGE) keeps this buffer on 4 KiB pages")
        if self.asked_node is not None:
            from ..kernel import numa

            numa.mbind(addr, mapped, self.policy, self.asked_node)
        if self.asked_lock:
            self._mlock(onfault=self.asked_lock == "onfault")
        if self.asked_populate and self.asked_lock is not True:
            self.populate()

    def _mlock(self, onfault: bool) -> None:
        try:
            _libc.mlock(self.address, self.mapped_bytes, onfault=onfault)
        except MemdiveError:
            e = ctypes.get_errno()
            if e in (errno.ENOMEM, errno.EPERM, errno.EAGAIN):
                raise MemdiveError(memlock_explanation(self.mapped_bytes) if e != errno.EAGAIN else
                                   f"mlock of {_human(self.mapped_bytes)}: not enough memory to lock "
                                   f"(EAGAIN); " + memlock_explanation(self.mapped_bytes),
                                   hint=MEMLOCK_HINT) from None
            raise

    @staticmethod
    def _make_array(map_start: int, map_len: int, nbytes: int, addr: int):
        base = ctypes.c_ubyte * nbytes

        def _del(self):   # the last view is gone: unmap (unless close() already did)
            if not getattr(self, "_unmapped", True):
                self._unmapped = True
                try:
                    _libc.munmap(self._addr, self._mapped)
                except Exception:  # noqa: BLE001, S110 - __del__ must not raise (it also runs at shutdown)
                    pass

        cls: Any = type("MappedBytes", (base,), {"__del__": _del})   # a ctypes array type: mypy sees `type`
        arr = cls.from_address(addr)
        arr._addr, arr._mapped, arr._unmapped = map_start, map_len, False
        return arr

    # --- use -----------------------------------------------------------------------------------------

    def _live(self):
        if self.closed or self._arr is None:
            raise InvalidInput("the buffer is closed")
        return self._arr

    @property
    def view(self) -> memoryview:
        """A writable memoryview (format 'B') of the usable bytes; numpy.frombuffer accepts it."""
        return memoryview(self._live()).cast("B")

    def __buffer__(self, flags: int) -> memoryview:     # Python 3.12+: memoryview(buf), numpy.frombuffer(buf)
        return self.view

    def numpy(self, dtype="uint8"):
        import numpy as np

        dt = np.dtype(dtype)
        return np.frombuffer(self.view, dtype=dt, count=self.nbytes // dt.itemsize)

    def __len__(self) -> int:
        return self.nbytes

    def _range(self, offset: int, length: int | None) -> tuple[int, int]:
        if length is None:
            length = self.mapped_bytes - offset
        if offset < 0 or length <= 0 or offset + length > self.mapped_bytes:
            raise InvalidInput(f"range {offset}+{length} is outside the buffer ({self.mapped_bytes} bytes mapped)")
        page = _libc.PAGE_SIZE
        lo = (self.address + offset) // page * page
        hi = _round_up(self.address + offset + length, page)
        return lo, hi - lo

    def advise(self, advice: str, offset: int = 0, length: int | None = None) -> None:
        """madvise the buffer (or the pages covering [offset, offset+length))."""
        self._live()
        if advice not in ADVICE:
            raise InvalidInput(f"unknown advice {advice!r}", hint="one of " + ", ".join(ADVICE))
        lo, n = self._range(offset, length)
        if advice in ("pageout", "cold") and self.strategy != "hugetlb":
            from ..kernel.sysmm import read_meminfo

            if not read_meminfo(self._root).get("SwapTotal", 0):
                self.notes.append(f"advise({advice}): no swap is configured, so the kernel cannot page out "
                                  f"anonymous memory; residency stays (swapon a swap device or file first)")
        try:
            _libc.madvise(lo, n, advice)
        except MemdiveError:
            e = ctypes.get_errno()
            if e == errno.EINVAL:
                why = {
                    "remove": "MADV_REMOVE frees backing store of shared or file mappings (tmpfs, shmem) only; "
                              "on this private anonymous buffer use 'dontneed'",
                    "pageout": "MADV_PAGEOUT (Linux 5.4+) refuses locked or hugetlb ranges",
                    "cold": "MADV_COLD (Linux 5.4+) refuses locked or hugetlb ranges",
                    "hugepage": "MADV_HUGEPAGE does not apply to hugetlb mappings (or the kernel has no THP)",
                    "nohugepage": "MADV_NOHUGEPAGE does not apply to hugetlb mappings",
                    "dontneed": "MADV_DONTNEED refuses locked ranges (munlock first)",
                    "free": "MADV_FREE (Linux 4.5+) works on private anonymous, unlocked memory only",
                }.get(advice, "the kernel refused it (EINVAL): older kernel or a locked/hugetlb range")
                raise InvalidInput(f"madvise({advice}) refused: {why}") from None
            raise

    def populate(self) -> None:
        """Fault every page in now (MADV_POPULATE_WRITE, Linux 5.14+; else write each page)."""
        arr = self._live()
        try:
            _libc.madvise(self.address, self.mapped_bytes, "populate_write")
        except MemdiveError:
            e = ctypes.get_errno()
            if e in (errno.ENOMEM, errno.EFAULT):
                raise MemdiveError(f"populating {_human(self.mapped_bytes)} failed: out of memory on the "
                                   f"allowed node(s) or the hugetlb pool") from None
            if e != errno.EINVAL:
                raise
            ctypes.memset(ctypes.addressof(arr), 0, self.nbytes)   # kernel < 5.14: write each page
            self.notes.append("MADV_POPULATE_WRITE unsupported (Linux < 5.14): pages written once instead")

    def lock(self, onfault: bool = False) -> None:
        self._live()
        self._mlock(onfault)
        self.asked_lock = "onfault" if onfault else True

    def unlock(self) -> None:
        self._live()
        _libc.munlock(self.address, self.mapped_bytes)
        self.asked_lock = False

    def exports(self) -> int:
        """How many memoryviews/arrays of this buffer are alive (close() refuses while any are)."""
        if self._arr is None:
            return 0
        return sys.getrefcount(self._arr) - 2

    def close(self) -> None:
        """Unmap. Refuses (BufferInUse) while views of the buffer are alive, as mmap.close() does."""
        if self.closed or self._arr is None:
            return
        n = self.exports()
        if n > 0:
            raise BufferInUse(f"the buffer has {n} live view(s) (memoryviews, numpy arrays, a Pool or Arena); "
                              f"delete them before close()")
        arr, self._arr = self._arr, None
        self.closed = True
        arr._unmapped = True
        _libc.munmap(self.address - self._guard, self.mapped_bytes + 2 * self._guard)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # Without close(): the mapping lives until the last view of it is gone (MappedBytes.__del__).
        self._arr = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"at 0x{self.address:x}"
        return f"<memdive.alloc.Buffer {_human(self.nbytes)} {self.strategy} {state}>"

    # --- measurement -----------------------------------------------------------------------------------

    def report(self) -> BufferReport:
        """What the buffer really got, measured now from the kernel's own files."""
        self._live()
        from .measure import measure_range

        return measure_range(self.address, self.mapped_bytes, nbytes=self.nbytes, asked_pages=self.asked_pages,
                             asked_node=self.asked_node, asked_lock=self.asked_lock,
                             asked_populate=self.asked_populate, align=self.align, strategy=self.strategy,
                             notes=tuple(self.notes), root=self._root)


def buffer(nbytes: int, *, pages: str = "4k", node=None, policy: str = "bind", lock: bool | str = False,
           populate: bool = False, align: int = 64, fallback: str | None = None, hugetlb_size: int | None = None,
           name: str | None = None, root: KernelRoot | None = None) -> Buffer:
    """A placement-aware anonymous buffer of NBYTES.

    pages: "4k" (madvise NOHUGEPAGE where THP is 'always'), "thp" (2 MiB aligned, madvise HUGEPAGE),
    "hugetlb" (MAP_HUGETLB; an empty pool raises unless fallback='thp' or '4k'), "auto" (hugetlb if the
    pool has the pages, THP from 4 MiB, else 4k). node: a node id or ids, applied with mbind in mode
    `policy` ('bind' as libnuma's numa_alloc_onnode, 'preferred', 'preferred_many', 'interleave'). lock: True
    (mlock) or 'onfault' (mlock2 MLOCK_ONFAULT). populate: fault all pages in now. align: power of two.
    hugetlb_size: the hugetlb page size (default Hugepagesize). name: shown as [anon:memdive:NAME] in
    maps where the kernel names anonymous memory (CONFIG_ANON_VMA_NAME).
    """
    return Buffer(nbytes, pages=pages, node=node, policy=policy, lock=lock, populate=populate, align=align,
                  fallback=fallback,
                  hugetlb_size=hugetlb_size, name=name, root=root)


__all__ = ["Buffer", "BufferInUse", "PageRun", "buffer"]
