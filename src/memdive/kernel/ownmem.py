"""The calling process's own memory, as memdive.alloc needs it: naming an anonymous range (PR_SET_VMA),
the memlock limit, the hugetlb pool that decides what a new buffer can get. (Pagemap entries: kernel.pagemap;
THP settings: kernel.thp.)

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
