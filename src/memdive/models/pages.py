"""Records of page-level analysis: page counts per region, flag histograms, single pages,
residency, working-set samples and page-fault samples (page cache of files: models.pagecache).

Counts are in pages of the base page size (`page_size_bytes`); None means "not measured" (the
method or the privilege did not allow it), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Counters a PageStats holds, in display order; which detail level measures each.
PAGEMAP_COUNTERS = ("present_pages", "swapped_pages", "exclusive_pages", "file_or_shared_pages",
                    "soft_dirty_pages", "uffd_wp_pages", "guard_pages")
SCAN_COUNTERS = ("zero_pages", "pmd_mapped_pages")
KPAGE_COUNTERS = ("thp_pages", "ksm_pages", "lru_active_pages", "lru_inactive_pages", "referenced_pages",
                  "dirty_pages", "anon_pages", "swapcache_pages", "unevictable_pages", "mlocked_pages",
                  "writeback_pages", "idle_pages")


@dataclass(frozen=True, slots=True, kw_only=True)
class PageStats:
    virtual_pages: int
    present_pages: int
    swapped_pages: int
    exclusive_pages: int | None = None       # pagemap bit 56: mapped by this process only
    file_or_shared_pages: int | None = None  # bit 61: file page or shared anonymous
    soft_dirty_pages: int | None = None      # bit 55 (None: kernel without CONFIG_MEM_SOFT_DIRTY)
    uffd_wp_pages: int | None = None         # bit 57
    guard_pages: int | None = None           # bit 58 (6.15+ guard regions)
    zero_pages: int | None = None            # mapped to the shared zero page (or huge zero page)
    pmd_mapped_pages: int | None = None      # mapped by a PMD (THP/hugetlb), PAGE_IS_HUGE
    thp_pages: int | None = None             # kpageflags THP
    ksm_pages: int | None = None
    lru_active_pages: int | None = None
    lru_inactive_pages: int | None = None
    referenced_pages: int | None = None
    dirty_pages: int | None = None
    anon_pages: int | None = None
    swapcache_pages: int | None = None
    unevictable_pages: int | None = None
    mlocked_pages: int | None = None         # kpageflags bit 33 (kernel-internal, raw)
    writeback_pages: int | None = None
    idle_pages: int | None = None
    mapcount_pages: dict[str, int] | None = None  # kpagecount: "1".."7", "8+" -> pages; "0" unmapped


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionPages:
    start: int
    end: int
    perms: str
    kind: str
    name: str
    stats: PageStats


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagCombo:
    """One row of the page-types-like histogram."""

    flags: int
    symbol: str
    names: tuple[str, ...]
    pages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PageWalk:
    pid: int
    method: str                     # "PAGEMAP_SCAN" or "pagemap"
    detail: str                     # "scan", "pagemap" or "kpage"
    page_size_bytes: int
    pfn_available: bool
    soft_dirty_supported: bool
    regions: list[RegionPages]
    total: PageStats
    histogram: list[FlagCombo] | None      # None without kpageflags
    memcg_pages: dict[str, int] | None     # memcg path (or inode) -> pages, from kpagecgroup
    elapsed_seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class PageEntry:
    """One virtual page: pagemap entry decoded, joined with kpage* when privileged."""

    address: int
    present: bool
    swapped: bool
    file_or_shared_anon: bool
    exclusive: bool
    soft_dirty: bool
    uffd_wp: bool
    guard: bool
    pfn: int | None                 # None: not present, or hidden (no CAP_SYS_ADMIN)
    phys_addr: int | None
    swap_type: int | None
    swap_offset: int | None
    kpageflags: int | None
    flag_names: tuple[str, ...] | None
    mapcount: int | None
    memcg_inode: int | None
    region: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Residency:
    """mincore() of a range of the caller's own memory."""

    start: int
    length_bytes: int
    page_size_bytes: int
    pages: int
    resident_pages: int
    vector: bytes = field(repr=False, default=b"")   # one byte per page, bit 0 = resident

    @property
    def resident_bytes(self) -> int:
        return self.resident_pages * self.page_size_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class WssRegion:
    start: int
    end: int
    kind: str
    name: str
    rss_bytes: int
    accessed_bytes: int
    written_bytes: int | None
    untracked_bytes: int | None = None   # idle method: present pages the bitmap cannot track (not on an LRU)


@dataclass(frozen=True, slots=True, kw_only=True)
class WssSample:
    time_seconds: float             # since the start
    interval_seconds: float
    rss_bytes: int
    accessed_bytes: int             # Referenced summed over mappings (idle: pages whose idle bit cleared)
    written_bytes: int | None       # soft-dirty pages (None: unsupported)
    regions: list[WssRegion] = field(default_factory=list)
    method: str = "referenced"      # "referenced" (clear_refs 1 + smaps Referenced) or "idle" (page_idle bitmap)
    untracked_bytes: int | None = None   # idle method: present but not trackable (not on an LRU list)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSample:
    time_seconds: float
    interval_seconds: float
    pid: int | None                 # None: system-wide (/proc/vmstat)
    minflt: int                     # cumulative
    majflt: int
    minflt_per_second: float
    majflt_per_second: float
