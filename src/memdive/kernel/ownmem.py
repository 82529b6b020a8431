"""The calling process's own memory, as memdive.alloc needs it: naming an anonymous range (PR_SET_VMA),
the memlock limit and CAP_IPC_LOCK. (Pagemap entries: kernel.pagemap; THP settings: kernel.thp; hugetlb
pools and the default huge page size: kernel.hugetlb.)

Pure parsers take bytes; readers take a KernelRoot (fixture trees in tests).
"""

from __future__ import annotations

import ctypes
import resource

from .io import read_optional
from .root import KernelRoot, resolve

PR_SET_VMA, PR_SET_VMA_ANON_NAME = 0x53564D41, 0


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
