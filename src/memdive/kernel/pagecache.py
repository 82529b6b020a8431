"""Page cache of files: cachestat (syscall 451, Linux 6.5+), mmap+mincore, posix_fadvise,
MADV_POPULATE_READ / mlock of file mappings; and /proc/PID/clear_refs writes.

cachestat needs no mapping and counts dirty, writeback and evicted pages too. Its kernel refuses
(EPERM) a file the caller may only read; mincore then reports every page of such a file resident
(mm/mincore.c can_do_mincore, since 5.0): a silently wrong answer, so `mincore_trustworthy` says
when mincore may be believed.
"""

from __future__ import annotations

import ctypes
import errno
import os

from ..errors import AccessDenied, KernelFeatureMissing, MemdiveError
from .io import translate

# kernel.libc is imported only by the mapping paths: `memdive cache` on the cachestat path must
# start fast (its whole run is compared with fincore's), and ctypes.util.find_library forks ldconfig.
NR_CACHESTAT = 451               # the same in the generic and the x86_64 syscall tables
_self: ctypes.CDLL | None = None


def _syscall():
    global _self
    if _self is None:
        _self = ctypes.CDLL(None, use_errno=True)   # the running program's symbols (glibc's syscall)
        _self.syscall.restype = ctypes.c_long
    return _self.syscall

CACHESTAT_HINT = "cachestat needs Linux 6.5+"
MINCORE_CHUNK = 1 << 30          # map at most 1 GiB of a file at a time (256 KiB mincore vector)


class CachestatRange(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class Cachestat(ctypes.Structure):
    _fields_ = [("nr_cache", ctypes.c_uint64), ("nr_dirty", ctypes.c_uint64), ("nr_writeback", ctypes.c_uint64),
                ("nr_evicted", ctypes.c_uint64), ("nr_recently_evicted", ctypes.c_uint64)]


class CachestatRefused(AccessDenied):
    """EPERM: the kernel refuses cachestat on a file the caller may only read."""


def cachestat(fd: int, off: int = 0, length: int = 0, path: str = "") -> dict[str, int]:
    """Page counts of [off, off+length) of the open file (length 0: to the end)."""
    rng = CachestatRange(off, length)
    cs = Cachestat()
    ret = _syscall()(ctypes.c_long(NR_CACHESTAT), ctypes.c_uint(fd), ctypes.byref(rng), ctypes.byref(cs),
                     ctypes.c_uint(0))
    if ret < 0:
        e = ctypes.get_errno()
        if e == errno.ENOSYS:
            raise KernelFeatureMissing("cachestat: not implemented by this kernel", path=path,
                                       hint=CACHESTAT_HINT)
        if e == errno.EPERM:
            raise CachestatRefused(f"cachestat refused for {path}", path=path,
                                   hint="the kernel answers only for files you own or may write "
                                        "(run as the owner or root)")
        if e in (errno.EOPNOTSUPP, errno.ESPIPE, errno.EBADF):
            raise KernelFeatureMissing(f"cachestat: {os.strerror(e)} for {path}", path=path,
                                       hint="not a page-cache file (hugetlbfs, pipe, socket)")
        raise translate(e, path or "cachestat")
    return {f: int(getattr(cs, f)) for f in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted",
                                              "nr_recently_evicted")}


def mincore_trustworthy(path: str, st: os.stat_result) -> bool:
    """Whether the kernel tells the truth to mincore on this file (root, owner, or write access)."""
    if os.geteuid() == 0 or st.st_uid == os.geteuid():
        return True
    try:
        return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)
    except OSError:
        return False


def mincore_file(fd: int, size: int, path: str = "") -> int:
    """Resident pages of an open file, by mapping it 1 GiB at a time and calling mincore."""
    from . import libc as _libc

    page = _libc.PAGE_SIZE
    resident = 0
    for off in range(0, size, MINCORE_CHUNK):
        n = min(MINCORE_CHUNK, size - off)
        addr = _libc.mmap(n, _libc.PROT_READ, _libc.MAP_SHARED, fd, off)
        try:
            vec = (ctypes.c_ubyte * ((n + page - 1) // page))()
            _libc.check(_libc.libc().mincore(ctypes.c_void_p(addr), n, vec), "mincore", path)
            resident += _count_resident(bytes(vec))
        finally:
            _libc.munmap(addr, n)
    return resident


_BIT0 = bytes(b & 1 for b in range(256))


def _count_resident(vec: bytes) -> int:
    """Pages with bit 0 set (the other bits are reserved), without importing numpy."""
    return vec.translate(_BIT0).count(1)


def fadvise(fd: int, advice: str, off: int = 0, length: int = 0, path: str = "") -> None:
    """posix_fadvise: 'dontneed' drops clean cached pages, 'willneed' starts read-ahead."""
    adv = {"dontneed": os.POSIX_FADV_DONTNEED, "willneed": os.POSIX_FADV_WILLNEED,
           "normal": os.POSIX_FADV_NORMAL, "random": os.POSIX_FADV_RANDOM,
           "sequential": os.POSIX_FADV_SEQUENTIAL}[advice]
    try:
        os.posix_fadvise(fd, off, length, adv)
    except OSError as exc:
        raise translate(exc, path or "posix_fadvise") from None


def populate(fd: int, size: int, path: str = "") -> None:
    """Load a file into the page cache: MADV_POPULATE_READ on 1 GiB windows (5.14+), else read it."""
    from . import libc as _libc

    buf = None
    for off in range(0, size, MINCORE_CHUNK):
        n = min(MINCORE_CHUNK, size - off)
        addr = _libc.mmap(n, _libc.PROT_READ, _libc.MAP_SHARED, fd, off)
        try:
            try:
                _libc.madvise(addr, n, "populate_read")
                continue
            except MemdiveError:
                pass
        finally:
            _libc.munmap(addr, n)
        buf = buf or bytearray(1 << 20)   # old kernel: read through
        pos = off
        while pos < off + n:
            got = os.preadv(fd, [buf], pos)
            if got <= 0:
                break
            pos += got


def lock_file(fd: int, size: int, path: str = "") -> list[tuple[int, int]]:
    """Map the whole file and mlock it (pages load and stay); returns the mappings to unlock later."""
    from . import libc as _libc

    out: list[tuple[int, int]] = []
    try:
        for off in range(0, size, MINCORE_CHUNK):
            n = min(MINCORE_CHUNK, size - off)
            addr = _libc.mmap(n, _libc.PROT_READ, _libc.MAP_SHARED, fd, off)
            out.append((addr, n))
            _libc.mlock(addr, n, hint="raise RLIMIT_MEMLOCK (ulimit -l) or run as root")
    except MemdiveError:
        unlock(out)
        raise
    return out


def unlock(maps: list[tuple[int, int]]) -> None:
    from . import libc as _libc

    for addr, n in maps:
        try:
            _libc.munlock(addr, n)
        finally:
            _libc.munmap(addr, n)


# --- clear_refs ----------------------------------------------------------------------------

CLEAR_REFS_HINT = "clear_refs needs to be the process's owner (with ptrace access) or root"


def open_pid_dir(pid: int, root=None) -> int:
    """An fd on /proc/PID: files opened through it belong to that process even if the PID is reused."""
    from .root import resolve

    path = resolve(root).pid_path(pid)
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise translate(exc, path, pid) from None


def write_clear_refs(dirfd: int, value: str, pid: int) -> None:
    """Write /proc/PID/clear_refs through a pinned /proc/PID fd: 1 referenced bits, 4 soft-dirty, 5 hiwater."""
    try:
        fd = os.open("clear_refs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise translate(exc, f"/proc/{pid}/clear_refs", pid, CLEAR_REFS_HINT) from None


def read_pid_file_at(dirfd: int, name: str, pid: int) -> bytes:
    """Read /proc/PID/NAME through the pinned fd (ESRCH/ENOENT once the process is gone)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            chunks = []
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as exc:
        raise translate(exc, f"/proc/{pid}/{name}", pid) from None
