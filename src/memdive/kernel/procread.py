"""A few /proc files of many processes, read by the C core on several threads in the background.

`start(proc_dir, pids, names)` returns at once; `.wait()` gives, per process, its owner (fstat of the
first file) and each file's bytes or errno. The C side is the extension module
memdive.native._procread (native/core/procread.c); it can also parse a "Key: N kB" file such as
smaps_rollup into (keys, values), the only parsing done there (kb_file; see procreadmodule.c). None
from `start` means the module is unavailable (built without the Python headers): read from Python.
"""

from __future__ import annotations

import os

# What procfs.scan_rollups (the `ps` scan) reads of each process: its rollup, parsed here, its
# command line, and, only where the rollup fails with ESRCH (no address space), its stat, which
# tells a zombie from a kernel thread. The command line prefetches exactly this.
ROLLUP_NAMES = ("smaps_rollup", "cmdline")
# (a bare dict, so that `**` fits start()'s keywords: a TypedDict would import typing at ps startup)
ROLLUP_READ: dict = {"kb_file": 0, "on_esrch": "stat"}

_NOT_LOADED = object()
_mod = _NOT_LOADED


def _load():
    """The extension module, or None where it was not built."""
    global _mod
    if _mod is _NOT_LOADED:
        try:
            from ..native import _procread as mod
        except ImportError:
            mod = None
        _mod = mod
    return _mod


def start(proc: str, pids: list[int] | None, names: tuple[str, ...], threads: int | None = None,
          kb_file: int = -1, on_esrch: str | None = None):
    """Begin reading proc/PID/NAME for every pid (every PID directory of `proc` when pids is None) and
    name: a reader whose `.wait()` returns [(pid, uid, [bytes | errno | (keys, values) per name])] and
    whose `.pids` are the PIDs read (None before wait() when listing). When the first file failed, the
    others carry its errno unread and uid is meaningless. `kb_file`: index of a "Key: N kB" file to
    hand back parsed (see procreadmodule.c), or raw bytes where it is not exactly that form.
    `on_esrch`: a file read only where the first failed with ESRCH (no address space), as a last
    item (None for the other processes): "stat" tells a kernel thread from a zombie.
    None if the C reader cannot be used (not built, or no thread could start)."""
    mod = _load()
    if mod is None:
        return None
    if threads is None:   # background threads; the caller of wait() reads too (see procread.c)
        threads = max(1, min(8, len(os.sched_getaffinity(0))) - 1)
    try:
        return mod.start(proc, names, pids, threads, kb_file, on_esrch)
    except OSError:   # no thread could start: the caller reads
        return None


_pending: tuple | None = None     # (proc, names, options, started at, reader)
_FRESH_SECONDS = 2.0


def prefetch(names: tuple[str, ...], root=None, **options) -> None:
    """Start reading `names` of every process now (options: those of start), for a scan a moment
    later (`take`). The command line calls this first thing, so the reads overlap its imports."""
    global _pending
    import time

    from .env import proc_dir

    proc = root.proc if root is not None else proc_dir()
    h = start(proc, None, names, **options)
    if h is not None:
        _pending = (proc, names, options, time.monotonic(), h)


def take(proc: str, names: tuple[str, ...], **options):
    """The prefetch of `names` under `proc` with these options if one was started in the last two
    seconds (older is stale: then None, and the caller reads afresh)."""
    global _pending
    import time

    p, _pending = _pending, None
    if p is not None and p[:3] == (proc, names, options) and time.monotonic() - p[3] < _FRESH_SECONDS:
        return p[4]
    return None
