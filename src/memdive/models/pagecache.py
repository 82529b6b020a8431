"""Records of page-cache residency of files (`memdive cache`). Kept apart from models.pages so the
cache command imports little (its whole run must beat fincore, startup included)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class FileCache:
    """Page-cache residency of one file."""

    path: str
    size_bytes: int
    total_pages: int
    cached_pages: int | None        # None: unknown (refused, see `error`)
    dirty_pages: int | None = None
    writeback_pages: int | None = None
    evicted_pages: int | None = None
    recently_evicted_pages: int | None = None
    method: str = "cachestat"       # "cachestat" or "mincore"
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheReport:
    files: list[FileCache]
    page_size_bytes: int
    total_pages: int
    cached_pages: int
    dirty_pages: int | None
    unknown_files: int
    skipped: int                    # not regular files, unreadable directories
    action: str | None = None       # "touch", "evict", "lock"
    elapsed_seconds: float = 0.0
