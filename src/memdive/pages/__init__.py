"""Pages: page tables, residency, page cache, working set and page faults of any process.

    walk(pid, ...)          every page of a process (or a range/region): memdive.models.pages.PageWalk
    entries(pid, lo, hi)    page-by-page records (PageEntry) for a small range
    phys(pid, addrs)        virtual -> physical addresses with the pages' flags   (pages.translate)
    residency(buf_or_range) mincore() of one's own memory                        (pages.incore)
    files(paths, ...)       page-cache residency of files and trees               (pages.cache)
    wss.sample / faults.sample, faults.run_command: working set and page faults

Submodules are imported on first use (numpy only where page arrays are handled).
"""

from __future__ import annotations

from .. import _lazy_getattr

# function -> submodule; no submodule shares a function's name (an imported submodule would shadow it)
_LAZY = {"walk": "walker", "entries": "walker", "phys": "translate", "residency": "incore", "files": "cache"}


__getattr__ = _lazy_getattr(__name__, _LAZY, submodules=True)   # and .wss, .faults, .cache ...
