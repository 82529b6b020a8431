"""A few /proc files of many processes, read by the C core on several threads in the background.

`start(proc_dir, pids, names)` returns at once; `.wait()` gives, per process, its owner (fstat of the
first file) and each file's bytes or errno. No parsing here: callers parse as they would after
os.read. None from `start` means the C core is unavailable (not built): read from Python instead.
"""

from __future__ import annotations

import ctypes
import os

from ..errors import MemdiveError

_lib = None
_PTR = ctypes.c_void_p


def _load():
    global _lib
    if _lib is None:
        from ..native import load

        lib = load("core")
        lib.mdc_procread_start.restype = _PTR
        lib.mdc_procread_start.argtypes = [ctypes.c_char_p, _PTR, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                           ctypes.c_int]
        lib.mdc_procread_wait.argtypes = [_PTR]
        lib.mdc_procread_free.argtypes = [_PTR]
        lib.mdc_procread_data.restype = _PTR
        lib.mdc_procread_data.argtypes = [_PTR, ctypes.POINTER(ctypes.c_int64)]
        for name in ("errs", "uids", "offs", "lens"):
            f = getattr(lib, "mdc_procread_" + name)
            f.restype = _PTR
            f.argtypes = [_PTR]
        _lib = lib
    return _lib


class ProcRead:
    """Reads running in the background; `wait()` once for the results."""

    __slots__ = ("_h", "_result", "names", "pids")

    def __init__(self, pids: list[int], names: tuple[str, ...], handle: int) -> None:
        self.pids, self.names, self._h = pids, names, handle
        self._result: list[tuple[int, int, list]] | None = None

    def wait(self) -> list[tuple[int, int, list]]:
        """[(pid, uid, [bytes | errno per name])]: an int where the file could not be read (errno).
        When the first file failed, the others carry its errno unread and uid is meaningless."""
        if self._result is not None:
            return self._result
        lib, h = _lib, self._h
        try:
            rc = lib.mdc_procread_wait(h)
            if rc:
                raise OSError(rc, os.strerror(rc))
            n, k = len(self.pids), len(self.names)
            size = ctypes.c_int64()
            data = ctypes.string_at(lib.mdc_procread_data(h, ctypes.byref(size)), size.value) if n else b""
            errs = list((ctypes.c_int32 * (n * k)).from_address(lib.mdc_procread_errs(h))) if n else []
            uids = list((ctypes.c_uint32 * n).from_address(lib.mdc_procread_uids(h))) if n else []
            offs = list((ctypes.c_int64 * (n * k)).from_address(lib.mdc_procread_offs(h))) if n else []
            lens = list((ctypes.c_int64 * (n * k)).from_address(lib.mdc_procread_lens(h))) if n else []
        finally:
            lib.mdc_procread_free(h)
            self._h = None
        out = []
        for i, pid in enumerate(self.pids):
            files = []
            for s in range(i * k, i * k + k):
                e = errs[s]
                files.append(e if e else data[offs[s]:offs[s] + lens[s]])
            out.append((pid, uids[i], files))
        self._result = out
        return out

    def __del__(self) -> None:  # never waited for: join and free
        if self._h is not None and _lib is not None:
            _lib.mdc_procread_free(self._h)
            self._h = None


def start(proc: str, pids: list[int], names: tuple[str, ...], threads: int | None = None) -> ProcRead | None:
    """Begin reading proc/PID/NAME for every pid and name. None if the C core cannot be used."""
    try:
        lib = _load()
    except (MemdiveError, OSError, AttributeError):  # not built, or older: the caller reads from Python
        return None
    if threads is None:
        threads = min(4, len(os.sched_getaffinity(0)))
    arr = (ctypes.c_int32 * max(1, len(pids)))(*pids)
    packed = b"".join(n.encode() + b"\0" for n in names)
    h = lib.mdc_procread_start(os.fsencode(proc), arr, len(pids), packed, len(names), threads)
    if not h:
        return None
    return ProcRead(pids, names, h)


_pending: tuple[str, tuple[str, ...], float, ProcRead] | None = None
_FRESH_SECONDS = 2.0


def prefetch(names: tuple[str, ...], root=None) -> None:
    """Start reading `names` of every process now, for a scan a moment later (`take`). The command
    line calls this first thing, so the reads overlap the interpreter's imports."""
    global _pending
    import time

    from .io import list_pids
    from .root import resolve

    proc = resolve(root).proc
    try:
        pids = list_pids(proc)
    except MemdiveError:  # the scan itself will report it
        return
    h = start(proc, pids, names)
    if h is not None:
        _pending = (proc, names, time.monotonic(), h)


def take(proc: str, names: tuple[str, ...]) -> ProcRead | None:
    """The prefetch of `names` under `proc` if one was started in the last two seconds (older is stale:
    then None, and the caller reads afresh)."""
    global _pending
    import time

    p, _pending = _pending, None
    if p is not None and p[0] == proc and p[1] == names and time.monotonic() - p[2] < _FRESH_SECONDS:
        return p[3]
    return None
