"""Page-cache residency of files and directory trees (vmtouch and fincore, better).

`files(paths)` measures each regular file with cachestat (Linux 6.5+: resident, dirty, writeback,
evicted, recently evicted) and falls back to mmap+mincore where the kernel lacks cachestat, but
only where mincore tells the truth (the caller owns or may write the file, or is root); elsewhere
the file is reported unknown, never as all resident. `action` touches (loads), evicts
(POSIX_FADV_DONTNEED) or locks (mlock, held by the returned `Locked` until released) before the
files are measured.
"""

from __future__ import annotations

import os
import stat as _stat
import time

from ..errors import AccessDenied, InvalidInput, KernelFeatureMissing, MemdiveError
from ..kernel import pagecache as pc

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
from ..models.pagecache import CacheReport, FileCache

ACTIONS = (None, "touch", "evict", "lock")
REFUSED = "refused: you may only read it"
UNKNOWN_HINT = ("the kernel answers cachestat only for files you own or may write, and mincore would claim "
                "every page of the others resident: run as the owner or as root")
METHODS = ("auto", "cachestat", "mincore")


class Locked:
    """Files held in memory by `files(..., action="lock")`; `release()` unlocks and unmaps them."""

    def __init__(self) -> None:
        self.maps: list[tuple[int, int]] = []

    def release(self) -> None:
        pc.unlock(self.maps)
        self.maps = []


def iter_files(paths: list[str], recursive: bool = True, unreadable: list[str] | None = None):
    """(path, stat) of every regular file under `paths` (symlinks to files followed at the top level
    only; directory trees walked without following links). Non-regular entries yield (path, None);
    directories that cannot be listed are appended to `unreadable` (never silently left out)."""
    def _onerror(exc: OSError) -> None:
        if unreadable is not None:
            unreadable.append(f"{exc.filename}: {exc.strerror}")

    for p in paths:
        try:
            st = os.stat(p)
        except PermissionError as exc:   # a directory on the way may not be searched: root can
            raise AccessDenied(f"{p}: {exc.strerror}", path=p,
                               hint="a directory on the path is not searchable by this user: run as root") from None
        except OSError as exc:
            raise InvalidInput(f"{p}: {exc.strerror}", path=p) from None
        if _stat.S_ISDIR(st.st_mode):
            if not recursive:
                yield p, None
                continue
            for d, dirs, names in os.walk(p, onerror=_onerror):
                dirs.sort()
                for n in sorted(names):
                    fp = os.path.join(d, n)
                    try:
                        s = os.lstat(fp)
                    except OSError:
                        yield fp, None
                        continue
                    yield fp, (s if _stat.S_ISREG(s.st_mode) else None)
        elif _stat.S_ISREG(st.st_mode):
            yield p, st
        else:
            yield p, None


def measure(path: str, st: os.stat_result, fd: int, method: str = "auto") -> FileCache:
    """Residency of one open file."""
    page = PAGE_SIZE
    total = (st.st_size + page - 1) // page
    base = {"path": path, "size_bytes": st.st_size, "total_pages": total}
    if method in ("auto", "cachestat"):
        try:
            cs = pc.cachestat(fd, 0, 0, path)
            return FileCache(**base, cached_pages=cs["nr_cache"], dirty_pages=cs["nr_dirty"],
                             writeback_pages=cs["nr_writeback"], evicted_pages=cs["nr_evicted"],
                             recently_evicted_pages=cs["nr_recently_evicted"], method="cachestat")
        except pc.CachestatRefused:
            # mincore would claim every page resident here: say unknown instead
            return FileCache(**base, cached_pages=None, method="cachestat", error=REFUSED)
        except KernelFeatureMissing as exc:
            if method == "cachestat":
                raise
            if "not implemented" not in str(exc):
                return FileCache(**base, cached_pages=None, method="cachestat", error=exc.one_line())
    if not pc.mincore_trustworthy(path, st):
        return FileCache(**base, cached_pages=None, method="mincore",
                         error="not trusted: mincore reports every page resident for a file you may only read")
    if total == 0:
        return FileCache(**base, cached_pages=0, method="mincore")
    return FileCache(**base, cached_pages=pc.mincore_file(fd, st.st_size, path), method="mincore")


def files(paths: list[str], *, action: str | None = None, method: str = "auto", recursive: bool = True,
          locked: Locked | None = None) -> CacheReport:
    """Page-cache residency of files and trees, after an optional action (touch, evict, lock)."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r} (touch, evict, lock)")
    if method not in METHODS:
        raise InvalidInput(f"unknown method {method!r} (auto, cachestat, mincore)")
    if action == "lock" and locked is None:
        raise InvalidInput("action 'lock' needs a Locked holder to keep the pages locked")
    t0 = time.perf_counter()
    out: list[FileCache] = []
    skipped = 0
    unreadable: list[str] = []
    for path, st in iter_files(paths, recursive, unreadable):
        if st is None:
            skipped += 1
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOATIME if os.geteuid() == 0
                         else os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            out.append(FileCache(path=path, size_bytes=st.st_size, total_pages=(st.st_size + PAGE_SIZE - 1)
                                 // PAGE_SIZE, cached_pages=None, error=f"open: {exc.strerror}"))
            continue
        try:
            if action == "evict":
                pc.fadvise(fd, "dontneed", 0, 0, path)
            elif action == "touch" and st.st_size:
                pc.populate(fd, st.st_size, path)
            elif action == "lock" and st.st_size:
                assert locked is not None
                locked.maps += pc.lock_file(fd, st.st_size, path)
            out.append(measure(path, st, fd, method))
        except MemdiveError as exc:
            if isinstance(exc, InvalidInput) or (method == "cachestat" and isinstance(exc, KernelFeatureMissing)
                                                 and "not implemented" in str(exc)):
                raise       # asked for cachestat on a kernel without it: say so, once
            out.append(FileCache(path=path, size_bytes=st.st_size,
                                 total_pages=(st.st_size + PAGE_SIZE - 1) // PAGE_SIZE, cached_pages=None,
                                 error=exc.one_line()))
        finally:
            os.close(fd)
    known = [f for f in out if f.cached_pages is not None]
    dirty = [f.dirty_pages for f in known if f.dirty_pages is not None]
    return CacheReport(files=out, page_size_bytes=PAGE_SIZE, total_pages=sum(f.total_pages for f in out),
                       cached_pages=sum(f.cached_pages or 0 for f in known),
                       dirty_pages=sum(dirty) if dirty else None, unknown_files=len(out) - len(known),
                       skipped=skipped, action=action, elapsed_seconds=time.perf_counter() - t0,
                       unreadable_dirs=tuple(unreadable))
