"""/proc/PID/pagemap: per-page entries (pread) and the PAGEMAP_SCAN ioctl (Linux 6.7+).

Entry bits (Documentation/admin-guide/mm/pagemap.rst): 0-54 PFN when present (0 without
CAP_SYS_ADMIN since 4.2), else swap type (0-4) and offset (5-54); 55 soft-dirty; 56 exclusively
mapped (4.2+); 57 uffd-wp (5.19+); 58 guard region (6.15+); 61 file-page or shared-anon; 62 swapped;
63 present.

PAGEMAP_SCAN returns runs of pages with equal categories. Structures are defined here because
Debian 12's headers lack them; sizes are checked at import.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os

import numpy as np

from ..errors import AccessDenied, KernelFeatureMissing, ParseError
from .io import translate
from .root import KernelRoot, resolve

ENTRY_BYTES = 8
PFN_MASK = (1 << 55) - 1
SWAP_TYPE_MASK = 0x1F
BIT_SOFT_DIRTY, BIT_EXCLUSIVE, BIT_UFFD_WP, BIT_GUARD = 55, 56, 57, 58
BIT_FILE, BIT_SWAPPED, BIT_PRESENT = 61, 62, 63

PFN_HINT = "PFNs and kpageflags need CAP_SYS_ADMIN: run as root"
PAGEMAP_HINT = "pagemap needs ptrace-read access to the process: run as its owner or as root"

# --- PAGEMAP_SCAN ----------------------------------------------------------------------------

PAGE_IS_WPALLOWED = 1 << 0
PAGE_IS_WRITTEN = 1 << 1
PAGE_IS_FILE = 1 << 2        # never ask: makes the kernel look up every page (as slow as pagemap)
PAGE_IS_PRESENT = 1 << 3
PAGE_IS_SWAPPED = 1 << 4
PAGE_IS_PFNZERO = 1 << 5
PAGE_IS_HUGE = 1 << 6
PAGE_IS_SOFT_DIRTY = 1 << 7


class PmScanArg(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "size", "flags", "start", "end", "walk_end", "vec", "vec_len", "max_pages",
        "category_inverted", "category_mask", "category_anyof_mask", "return_mask")]


class PageRegion(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("categories", ctypes.c_uint64)]


assert ctypes.sizeof(PmScanArg) == 96 and ctypes.sizeof(PageRegion) == 24

# _IOWR('f', 16, struct pm_scan_arg)
PAGEMAP_SCAN = (3 << 30) | (ctypes.sizeof(PmScanArg) << 16) | (ord("f") << 8) | 16
REGION_DTYPE = np.dtype([("start", "<u8"), ("end", "<u8"), ("categories", "<u8")])
_VEC_LEN = 8192    # 192 KiB of regions per ioctl (more: the walk resumes)


def open_pagemap(pid: int | str, root: KernelRoot | None = None) -> int:
    """An fd on /proc/PID/pagemap ('self' allowed). Caller closes it."""
    path = resolve(root).pid_path(pid, "pagemap")
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise translate(exc, path, pid if isinstance(pid, int) else None, PAGEMAP_HINT) from None


def open_pagemap_at(dirfd: int, pid: int) -> int:
    """An fd on pagemap through a pinned /proc/PID directory fd (the process, not a reused PID)."""
    try:
        return os.open("pagemap", os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError as exc:
        raise translate(exc, f"/proc/{pid}/pagemap", pid, PAGEMAP_HINT) from None


def read_entries(fd: int, start_page: int, count: int, out: np.ndarray | None = None,
                 pid: int | None = None) -> np.ndarray:
    """`count` uint64 entries from page index `start_page` (one pread; fills `out` if given).

    Returns the filled prefix: shorter only if the kernel stopped early (end of address space).
    """
    buf = out[:count] if out is not None else np.empty(count, dtype=np.uint64)
    mv = buf.data.cast("B")
    got = 0
    nbytes = count * ENTRY_BYTES
    while got < nbytes:
        try:
            n = os.preadv(fd, [mv[got:]], start_page * ENTRY_BYTES + got)
        except OSError as exc:
            raise translate(exc, "pagemap", pid, PAGEMAP_HINT) from None
        if n <= 0:
            break
        got += n
    return buf[: got // ENTRY_BYTES]


def read_range(addr: int, length: int, pid: int | str = "self", root: KernelRoot | None = None) -> np.ndarray:
    """The entries of the base pages covering [addr, addr+length) (opens and closes pagemap)."""
    page = os.sysconf("SC_PAGE_SIZE")
    first, last = addr // page, (addr + length + page - 1) // page
    fd = open_pagemap(pid, root)
    try:
        return read_entries(fd, first, last - first, pid=pid if isinstance(pid, int) else None)
    finally:
        os.close(fd)


def parse_entries(data: bytes) -> np.ndarray:
    """Captured pagemap bytes -> uint64 entries (little-endian, as the kernel writes them)."""
    if len(data) % ENTRY_BYTES:
        raise ParseError(f"pagemap data of {len(data)} bytes is not a whole number of entries", path="pagemap")
    return np.frombuffer(data, dtype="<u8")


def decode_entry(e: int) -> dict:
    """One entry as named fields (for --list and phys)."""
    present = bool(e >> BIT_PRESENT & 1)
    swapped = bool(e >> BIT_SWAPPED & 1)
    d: dict[str, bool | int | None] = {
        "present": present, "swapped": swapped, "file_or_shared_anon": bool(e >> BIT_FILE & 1),
        "exclusive": bool(e >> BIT_EXCLUSIVE & 1), "soft_dirty": bool(e >> BIT_SOFT_DIRTY & 1),
        "uffd_wp": bool(e >> BIT_UFFD_WP & 1), "guard": bool(e >> BIT_GUARD & 1),
        "pfn": None, "swap_type": None, "swap_offset": None,
    }
    if present:
        pfn = e & PFN_MASK
        d["pfn"] = pfn or None      # 0 = hidden (no CAP_SYS_ADMIN), never PFN 0
    elif swapped:
        d["swap_type"] = e & SWAP_TYPE_MASK
        d["swap_offset"] = (e & PFN_MASK) >> 5
    return d


class ScanUnsupported(KernelFeatureMissing):
    """PAGEMAP_SCAN is not available on this file/kernel (ENOTTY, or a fixture's regular file)."""


def scan(fd: int, start: int, end: int, *, anyof: int = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
         return_mask: int = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE,
         vec_len: int = _VEC_LEN, pid: int | None = None):
    """Yield numpy arrays of regions (REGION_DTYPE) covering [start, end) with any of `anyof`.

    Never asks for PAGE_IS_FILE (see the module doc). Works around a kernel bug (seen on 6.18) where
    `walk_end` comes back stale after a full vector: resume at max(walk_end, last region's end).
    """
    if (anyof | return_mask) & PAGE_IS_FILE:
        raise ValueError("PAGE_IS_FILE makes PAGEMAP_SCAN as slow as reading pagemap: use the maps")
    vec = np.empty(vec_len, dtype=REGION_DTYPE)
    arg = PmScanArg(size=ctypes.sizeof(PmScanArg), flags=0, start=start, end=end, walk_end=0,
                    vec=vec.ctypes.data, vec_len=vec_len, max_pages=0, category_inverted=0,
                    category_mask=0, category_anyof_mask=anyof, return_mask=return_mask)
    while arg.start < end:
        try:
            n = fcntl.ioctl(fd, PAGEMAP_SCAN, arg)   # arg is a ctypes buffer: mutated in place
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS) and arg.start == start:
                raise ScanUnsupported(f"PAGEMAP_SCAN: {os.strerror(exc.errno)}",
                                      hint="PAGEMAP_SCAN needs Linux 6.7+; --method read reads pagemap instead") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise AccessDenied("PAGEMAP_SCAN refused", pid=pid, hint=PAGEMAP_HINT) from None
            raise translate(exc, "pagemap (PAGEMAP_SCAN)", pid) from None
        if n < vec_len:      # fewer regions than asked (max_pages 0): the walk is done
            if n > 0:
                yield vec[:n]    # the buffer is not reused: no copy
            return
        yield vec[:n].copy()
        nxt = max(arg.walk_end, int(vec[n - 1]["end"]))
        if nxt <= arg.start:
            return
        arg.start = nxt


def scan_supported(fd: int) -> bool:
    """True if PAGEMAP_SCAN works on this pagemap fd (probes an empty range)."""
    try:
        for _ in scan(fd, 0, ENTRY_BYTES * 0 + os.sysconf("SC_PAGE_SIZE")):
            pass
        return True
    except ScanUnsupported:
        return False


_malloc_tuned = False


def bound_malloc_retention() -> None:
    """Make glibc return large freed blocks at once: mallopt(M_MMAP_THRESHOLD, 1 MiB) fixes the
    threshold (glibc otherwise raises it up to 32 MiB after the first large free, and the walk's
    freed multi-MiB arrays would stay in the heap and in RSS). Harmless where it is not glibc."""
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        ctypes.CDLL(None).mallopt(ctypes.c_int(-3), ctypes.c_int(1 << 20))   # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def kernel_config_option(name: str, root: KernelRoot | None = None) -> bool | None:
    """CONFIG_<name> from /proc/config.gz: True (y/m), False (not set), None (no config.gz)."""
    import gzip

    from .io import read_optional

    data = read_optional(resolve(root).proc_path("config.gz"))
    if data is None:
        return None
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError):
        return None
    key = f"CONFIG_{name}=".encode()
    return any(line.startswith(key) and line[len(key):] in (b"y", b"m") for line in text.splitlines())


@functools.lru_cache(maxsize=8)
def soft_dirty_supported(root: KernelRoot | None = None) -> bool:
    """CONFIG_MEM_SOFT_DIRTY: from config.gz, else from VmFlags 'sd' (set on new VMAs when enabled)."""
    cfg = kernel_config_option("MEM_SOFT_DIRTY", root)
    if cfg is not None:
        return cfg
    from .io import read_optional

    data = read_optional(resolve(root).pid_path("self", "smaps")) or b""
    return any(line.startswith(b"VmFlags:") and b" sd" in line for line in data.splitlines())
