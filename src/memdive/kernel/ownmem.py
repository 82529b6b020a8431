"""The calling process's own memory, as memdive.alloc needs it: pagemap entries of one range, naming an
anonymous range (PR_SET_VMA), the memlock limit, the hugetlb pool and THP settings that decide what a
new buffer can get.

Pure parsers take bytes; readers take a KernelRoot (fixture trees in tests).
"""

from __future__ import annotations

import ctypes
import os
import resource

import numpy as np

from ..errors import KernelFeatureMissing, ParseError
from .io import read_optional, translate
from .root import KernelRoot, resolve

PR_SET_VMA, PR_SET_VMA_ANON_NAME = 0x53564D41, 0
PM_PRESENT, PM_SWAPPED, PM_FILE, PM_EXCLUSIVE = 1 << 63, 1 << 62, 1 << 61, 1 << 56
PFN_MASK = (1 << 55) - 1


def name_anon_range(addr: int, length: int, name: str) -> bool:
    """Name [addr, addr+length) "[anon:NAME]" in maps/smaps (Linux 5.17+, CONFIG_ANON_VMA_NAME).

    Differently named ranges are never merged by the kernel, so smaps of the range is the range's own.
    Returns False where the kernel refuses (older kernel, hugetlb mapping): the caller degrades.
    """
    from .libc import libc

    buf = ctypes.create_string_buffer(name.encode("ascii"))
    ret = libc().prctl(ctypes.c_int(PR_SET_VMA), ctypes.c_ulong(PR_SET_VMA_ANON_NAME), ctypes.c_ulong(addr),
                       ctypes.c_ulong(length), buf)
    return ret == 0


def parse_pagemap(data: bytes) -> np.ndarray:
    """Raw pagemap bytes -> uint64 entries (one per base page)."""
    if len(data) % 8:
        raise ParseError(f"pagemap: {len(data)} bytes is not a whole number of 8-byte entries", path="pagemap")
    return np.frombuffer(data, dtype="<u8")


def read_pagemap_range(addr: int, length: int, pid: int | str = "self",
                       root: KernelRoot | None = None) -> np.ndarray:
    """The pagemap entries of the base pages covering [addr, addr+length)."""
    page = os.sysconf("SC_PAGE_SIZE")
    first, last = addr // page, (addr + length + page - 1) // page
    path = resolve(root).pid_path(pid, "pagemap")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise translate(exc, path, pid if isinstance(pid, int) else None,
                        "pagemap needs ptrace-read access to the process") from None
    try:
        want, off, chunks = (last - first) * 8, first * 8, []
        while want > 0:
            b = os.pread(fd, min(want, 8 << 20), off)
            if not b:
                break
            chunks.append(b)
            off += len(b)
            want -= len(b)
    except OSError as exc:
        raise translate(exc, path, pid if isinstance(pid, int) else None) from None
    finally:
        os.close(fd)
    return parse_pagemap(b"".join(chunks))


def memlock_limit() -> tuple[int, int]:
    """RLIMIT_MEMLOCK (soft, hard) in bytes; -1 for unlimited."""
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    inf = resource.RLIM_INFINITY
    return (-1 if soft == inf else soft, -1 if hard == inf else hard)


def has_cap_ipc_lock(root: KernelRoot | None = None) -> bool:
    """True if this process's effective capabilities hold CAP_IPC_LOCK (14): mlock ignores the limit."""
    data = read_optional(resolve(root).pid_path("self", "status")) or b""
    for line in data.split(b"\n"):
        if line.startswith(b"CapEff:"):
            try:
                return bool(int(line.split()[1], 16) >> 14 & 1)
            except (IndexError, ValueError):
                return False
    return False


def parse_int_file(data: bytes | None) -> int | None:
    if data is None:
        return None
    try:
        return int(data.split()[0])
    except (IndexError, ValueError):
        return None


def hugetlb_pool(size_bytes: int, root: KernelRoot | None = None) -> dict[str, int] | None:
    """{nr, free, resv, surplus} pages of the hugetlb pool of SIZE, or None if the kernel has no such pool."""
    base = resolve(root).sys_path(f"kernel/mm/hugepages/hugepages-{size_bytes // 1024}kB")
    nr = parse_int_file(read_optional(f"{base}/nr_hugepages"))
    if nr is None:
        return None
    out = {"nr": nr}
    for k, f in (("free", "free_hugepages"), ("resv", "resv_hugepages"), ("surplus", "surplus_hugepages"),
                 ("overcommit", "nr_overcommit_hugepages")):
        out[k] = parse_int_file(read_optional(f"{base}/{f}")) or 0
    return out


def default_hugepage_size(root: KernelRoot | None = None) -> int:
    """Hugepagesize from /proc/meminfo (bytes); 2 MiB if the kernel has no hugetlb."""
    data = read_optional(resolve(root).proc_path("meminfo")) or b""
    for line in data.split(b"\n"):
        if line.startswith(b"Hugepagesize:"):
            try:
                return int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                break
    return 2 << 20


def require_pagemap(root: KernelRoot | None = None) -> None:
    if not os.path.exists(resolve(root).pid_path("self", "pagemap")):
        raise KernelFeatureMissing("/proc/self/pagemap is missing", hint="the kernel lacks CONFIG_PROC_PAGE_MONITOR")
