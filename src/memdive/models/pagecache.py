"""Records of page-cache residency of files (`memdive cache`). Kept apart from models.pages, and
named tuples rather than dataclasses (as on the `ps` hot path): `import dataclasses` alone costs
more than the whole cachestat measurement, and the command's whole run is compared with fincore's.
"""

from __future__ import annotations

from collections import namedtuple

# Page-cache residency of one file. cached_pages None: unknown (refused, see `error`);
# method "cachestat" or "mincore".
FileCache = namedtuple(
    "FileCache",
    ("path", "size_bytes", "total_pages", "cached_pages", "dirty_pages", "writeback_pages", "evicted_pages",
     "recently_evicted_pages", "method", "error"),
    defaults=(None, None, None, None, "cachestat", None))

# Files measured and totals. skipped: entries that are not regular files; action: "touch", "evict", "lock";
# unreadable_dirs: directories the walk could not list (their files are not counted).
CacheReport = namedtuple(
    "CacheReport",
    ("files", "page_size_bytes", "total_pages", "cached_pages", "dirty_pages", "unknown_files", "skipped",
     "action", "elapsed_seconds", "unreadable_dirs"),
    defaults=(None, 0.0, ()))
