"""Pages: page tables, residency, page cache, working set and page faults of any process.

    walk(pid, ...)          every page of a process (or a range/region): memdive.models.pages.PageWalk
    entries(pid, lo, hi)    page-by-page records (PageEntry) for a small range
    phys(pid, addrs)        virtual -> physical addresses with the pages' flags
    residency(buf_or_range) mincore() of one's own memory
    files(paths, ...)       page-cache residency of files and trees (cachestat, else mincore)
    wss / faults            working-set size and page-fault sampling
"""

from __future__ import annotations

from .walk import entries, walk  # noqa: F401
