"""Records of huge pages, the buddy allocator and compaction: THP settings and counters, hugetlb pools,
free blocks per order (/proc/buddyinfo, /proc/pagetypeinfo). No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field

# --- buddy allocator ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuddyZone:
    """One line of /proc/buddyinfo: free blocks of each order (order k = 2**k pages) in one zone.

    This is the interface the Prometheus exporter uses: keep node, zone and free_blocks as they are.
    """

    node: int
    zone: str
    free_blocks: tuple[int, ...]

    @property
    def orders(self) -> int:
        """How many orders the kernel prints (11 with MAX_ORDER 10, 12 on some configs / kernels)."""
        return len(self.free_blocks)

    @property
    def free_pages(self) -> int:
        """Free base pages in the zone, summed from the blocks (each order-k block holds 2**k pages)."""
        return sum(n << k for k, n in enumerate(self.free_blocks))


@dataclass(frozen=True, slots=True, kw_only=True)
class PageTypeFree:
    """One 'Free pages count per migrate type' row of /proc/pagetypeinfo.

    The kernel (since 5.6) stops counting a list at 100000 and prints '>100000'; `capped[k]` is True then
    and `free_blocks[k]` holds the lower bound 100000.
    """

    node: int
    zone: str
    migrate_type: str
    free_blocks: tuple[int, ...]
    capped: tuple[bool, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PageTypeBlocks:
    """One 'Number of blocks type' row: how many pageblocks of the zone carry each migrate type."""

    node: int
    zone: str
    blocks: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class PageTypeInfo:
    """/proc/pagetypeinfo (root only since 5.4)."""

    pageblock_order: int
    pages_per_block: int
    free: tuple[PageTypeFree, ...]
    blocks: tuple[PageTypeBlocks, ...]


# --- transparent huge pages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """A sysfs knob printed as 'always [madvise] never': the selected word and the ones offered."""

    selected: str
    choices: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ThpSize:
    """One multi-size THP directory /sys/kernel/mm/transparent_hugepage/hugepages-<N>kB (Linux 6.8+).

    `enabled` is None where the kernel offers only shmem for that size (e.g. hugepages-8kB);
    'inherit' means the top-level setting applies. `stats` holds every file of stats/ (counts).
    """

    size_bytes: int
    enabled: Choice | None
    shmem_enabled: Choice | None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def effective_enabled(self) -> str | None:
        return self.enabled.selected if self.enabled else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ThpSettings:
    """/sys/kernel/mm/transparent_hugepage: the modes, khugepaged's knobs and progress, per-size dirs."""

    enabled: Choice
    defrag: Choice | None
    shmem_enabled: Choice | None
    pmd_size_bytes: int | None  # hpage_pmd_size
    use_zero_page: bool | None
    shrink_underused: bool | None
    khugepaged: dict[str, int]  # pages_to_scan, scan_sleep_millisecs, full_scans, pages_collapsed, ...
    sizes: tuple[ThpSize, ...]  # ascending size; empty before Linux 6.8

    def size(self, size_bytes: int) -> ThpSize | None:
        for s in self.sizes:
            if s.size_bytes == size_bytes:
                return s
        return None

    def effective_mode(self, size_bytes: int | None = None) -> str:
        """always/madvise/never for anonymous THP of one size ('inherit' resolved to the top level)."""
        s = self.size(size_bytes or self.pmd_size_bytes or 0) if self.sizes else None
        if s is not None and s.enabled is not None and s.enabled.selected != "inherit":
            return s.enabled.selected
        return self.enabled.selected


@dataclass(frozen=True, slots=True, kw_only=True)
class ThpSystem:
    """The machine's THP picture: settings, /proc/vmstat thp_* counters and meminfo's huge-page lines."""

    settings: ThpSettings
    counters: dict[str, int]  # thp_* from /proc/vmstat
    anon_huge_bytes: int | None  # meminfo AnonHugePages
    shmem_huge_bytes: int | None
    shmem_pmd_bytes: int | None
    file_huge_bytes: int | None
    file_pmd_bytes: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ThpRegion:
    """One mapping of a process with its huge-page counters and, when it has none, the likely reason."""

    start: int
    end: int
    perms: str
    name: str
    kind: str
    rss_bytes: int
    anonymous_bytes: int
    anon_huge_bytes: int
    shmem_pmd_bytes: int
    file_pmd_bytes: int
    thp_eligible: bool | None
    advised: bool  # VmFlags hg (MADV_HUGEPAGE)
    refused: bool  # VmFlags nh (MADV_NOHUGEPAGE)
    reason: str | None  # why a region has no huge pages (None: it has, or is no candidate)
    reason_code: str | None = None  # the reason in two words: "not advised", "misaligned", "defrag", ...

    @property
    def size_bytes(self) -> int:
        return self.end - self.start

    @property
    def huge_bytes(self) -> int:
        return self.anon_huge_bytes + self.shmem_pmd_bytes + self.file_pmd_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ThpProcess:
    """A process's huge-page use: every region, totals, and the share of anonymous memory on huge pages."""

    pid: int
    comm: str
    mode: str  # effective anon THP mode at PMD size
    defrag: str | None
    pmd_size_bytes: int
    anonymous_bytes: int
    anon_huge_bytes: int
    shmem_pmd_bytes: int
    file_pmd_bytes: int
    regions: tuple[ThpRegion, ...]  # every mapping (the report shows the interesting ones)

    @property
    def huge_share(self) -> float:
        """AnonHugePages / Anonymous (0.0 when it has no anonymous memory)."""
        return self.anon_huge_bytes / self.anonymous_bytes if self.anonymous_bytes else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CollapseResult:
    """process_madvise(MADV_COLLAPSE) on [start, end) of a process, with AnonHugePages read back."""

    pid: int
    start: int
    end: int
    ok: bool
    error: str | None  # the kernel's refusal (EAGAIN, EINVAL, ENOMEM ...) when not ok
    huge_before_bytes: int
    huge_after_bytes: int
    collapse_alloc_delta: int  # thp_collapse_alloc before/after (system-wide)

    @property
    def collapsed_bytes(self) -> int:
        return max(0, self.huge_after_bytes - self.huge_before_bytes)


# --- hugetlb -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HugetlbNodePool:
    node: int
    total: int
    free: int
    surplus: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HugetlbPool:
    """One hugetlb page size: /sys/kernel/mm/hugepages/hugepages-<N>kB, counts in pages of that size."""

    size_bytes: int
    total: int  # nr_hugepages
    free: int
    reserved: int  # resv_hugepages: promised to mappings, not yet faulted
    surplus: int
    overcommit: int  # nr_overcommit_hugepages
    nodes: tuple[HugetlbNodePool, ...]  # from /sys/devices/system/node/nodeN/hugepages

    @property
    def total_bytes(self) -> int:
        return self.total * self.size_bytes

    @property
    def in_use(self) -> int:
        return self.total - self.free


@dataclass(frozen=True, slots=True, kw_only=True)
class HugetlbMount:
    """A hugetlbfs mount from /proc/mounts."""

    source: str
    mountpoint: str
    options: tuple[str, ...]
    page_size_bytes: int | None  # pagesize= option (None: the default huge page size)


@dataclass(frozen=True, slots=True, kw_only=True)
class HugetlbSystem:
    pools: tuple[HugetlbPool, ...]
    mounts: tuple[HugetlbMount, ...]
    default_size_bytes: int | None  # meminfo Hugepagesize


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolChange:
    """The outcome of --reserve/--release, read back: the kernel may give fewer pages than asked."""

    size_bytes: int
    node: int | None
    requested_total: int  # what was written to nr_hugepages
    before_total: int
    after_total: int
    before_free: int
    after_free: int

    @property
    def complete(self) -> bool:
        return self.after_total == self.requested_total

    @property
    def shortfall(self) -> int:
        return max(0, self.requested_total - self.after_total)


@dataclass(frozen=True, slots=True, kw_only=True)
class HugeCheck:
    """`hugetlb check`: what a MAP_HUGETLB mapping got, and what the THP fallback got if it failed."""

    size_bytes: int  # huge page size asked for
    length_bytes: int
    hugetlb_ok: bool
    hugetlb_error: str | None
    hugetlb_bytes: int  # Private_Hugetlb + Shared_Hugetlb of the mapping read back
    kernel_page_size_bytes: int | None
    fallback: str | None  # None, or "thp" when MAP_HUGETLB failed and THP was tried
    thp_mode: str | None
    thp_bytes: int  # AnonHugePages of the fallback mapping


# --- fragmentation and compaction ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneFrag:
    """One zone's free blocks with the kernel's indices per order (mm/vmstat.c, in thousandths).

    unusable[k]: share of free memory unusable for an order-k allocation, 0..1000
    (debugfs extfrag/unusable_index). fragmentation[k]: -1000 when an order-k block is free;
    else 0 (lack of memory) .. 1000 (fragmentation) (debugfs extfrag/extfrag_index).
    """

    node: int
    zone: str
    free_blocks: tuple[int, ...]
    free_pages: int
    unusable: tuple[int, ...]
    fragmentation: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FragReport:
    zones: tuple[ZoneFrag, ...]
    page_size_bytes: int
    pagetypes: PageTypeInfo | None  # None without root (see pagetypes_error)
    pagetypes_error: str | None
    compaction: dict[str, int]  # compact_* (and a few related) counters from /proc/vmstat
    settings: dict[str, int]  # vm.compaction_proactiveness, extfrag_threshold, ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactResult:
    node: int | None  # None: all nodes (/proc/sys/vm/compact_memory)
    before: FragReport
    after: FragReport
    elapsed_seconds: float
