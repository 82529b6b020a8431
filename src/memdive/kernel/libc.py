"""libc and raw syscalls through ctypes: the only place memdive calls into the C library.

Wrappers raise memdive exceptions (through io.translate) instead of returning -1. Syscall numbers
are x86_64 (and aarch64 where they differ) for calls Debian 12's glibc does not wrap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

from .io import translate

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_long]
        for fn in ("munmap", "madvise", "mlock", "munlock", "mincore", "mprotect"):
            getattr(_libc, fn).argtypes = [ctypes.c_void_p, ctypes.c_size_t] + (
                [ctypes.c_int] if fn in ("madvise", "mprotect") else
                [ctypes.c_void_p] if fn == "mincore" else [])
            getattr(_libc, fn).restype = ctypes.c_int
        _libc.mlock2.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
    return _libc


_X86_64 = {
    "mbind": 237, "set_mempolicy": 238, "get_mempolicy": 239, "migrate_pages": 256, "move_pages": 279,
    "pidfd_open": 434, "process_madvise": 440, "process_mrelease": 448, "cachestat": 451,
    "set_mempolicy_home_node": 450, "pidfd_send_signal": 424,
}
_AARCH64 = {
    "mbind": 235, "set_mempolicy": 237, "get_mempolicy": 236, "migrate_pages": 238, "move_pages": 239,
    "pidfd_open": 434, "process_madvise": 440, "process_mrelease": 448, "cachestat": 451,
    "set_mempolicy_home_node": 450, "pidfd_send_signal": 424,
}


def syscall_nr(name: str) -> int:
    table = _AARCH64 if platform.machine() in ("aarch64", "arm64") else _X86_64
    return table[name]


def check(ret: int, what: str, path: str = "", pid: int | None = None, hint: str | None = None) -> int:
    """Raise the memdive exception for a failed libc call (ret == -1 / negative), else return ret."""
    if ret is None or ret < 0:
        e = ctypes.get_errno()
        raise translate(e, path or what, pid, hint) from None
    return ret


def syscall(name: str, *args, hint: str | None = None, pid: int | None = None) -> int:
    """Raw syscall by name; args must already be ctypes-compatible (ints, c_void_p, byref...)."""
    ret = libc().syscall(ctypes.c_long(syscall_nr(name)), *args)
    return check(ret, name, name, pid, hint)


# --- memory mapping primitives -------------------------------------------------------------------

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_NORESERVE, MAP_POPULATE, MAP_HUGETLB, MAP_LOCKED = 0x4000, 0x8000, 0x40000, 0x2000
MAP_HUGE_SHIFT = 26
MAP_FAILED = ctypes.c_void_p(-1).value

MADV = {
    "normal": 0, "random": 1, "sequential": 2, "willneed": 3, "dontneed": 4, "free": 8, "remove": 9,
    "dontfork": 10, "dofork": 11, "mergeable": 12, "unmergeable": 13, "hugepage": 14, "nohugepage": 15,
    "dontdump": 16, "dodump": 17, "wipeonfork": 18, "keeponfork": 19, "cold": 20, "pageout": 21,
    "populate_read": 22, "populate_write": 23, "dontneed_locked": 24, "collapse": 25,
}
MLOCK_ONFAULT = 1


def mmap(length: int, prot: int = PROT_READ | PROT_WRITE, flags: int = MAP_PRIVATE | MAP_ANONYMOUS,
         fd: int = -1, offset: int = 0, addr: int = 0, hint: str | None = None) -> int:
    p = libc().mmap(ctypes.c_void_p(addr or None), length, prot, flags, fd, offset)
    if p is None or p == MAP_FAILED:
        check(-1, "mmap", hint=hint)
    return int(p)


def munmap(addr: int, length: int) -> None:
    check(libc().munmap(ctypes.c_void_p(addr), length), "munmap")


def madvise(addr: int, length: int, advice: str | int, hint: str | None = None) -> None:
    adv = MADV[advice] if isinstance(advice, str) else advice
    check(libc().madvise(ctypes.c_void_p(addr), length, adv), f"madvise({advice})", hint=hint)


def mlock(addr: int, length: int, onfault: bool = False, hint: str | None = None) -> None:
    if onfault:
        check(libc().mlock2(ctypes.c_void_p(addr), length, MLOCK_ONFAULT), "mlock2", hint=hint)
    else:
        check(libc().mlock(ctypes.c_void_p(addr), length), "mlock", hint=hint)


def mprotect(addr: int, length: int, prot: int) -> None:
    check(libc().mprotect(ctypes.c_void_p(addr), length, prot), "mprotect")


def munlock(addr: int, length: int) -> None:
    check(libc().munlock(ctypes.c_void_p(addr), length), "munlock")


def mincore(addr: int, length: int) -> bytes:
    """One byte per page of [addr, addr+length); bit 0 = resident."""
    page = os.sysconf("SC_PAGE_SIZE")
    n = (length + page - 1) // page
    vec = (ctypes.c_ubyte * n)()
    check(libc().mincore(ctypes.c_void_p(addr), length, vec), "mincore")
    return bytes(vec)


def pidfd_open(pid: int) -> int:
    """A pidfd pinning PID (Linux 5.3+): later operations through it never hit a reused PID."""
    return syscall("pidfd_open", ctypes.c_int(pid), ctypes.c_uint(0), pid=pid)


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
