"""Records of memdive.alloc: what a buffer really got, pool and arena statistics, allocator comparisons."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRun:
    """Consecutive base pages of a buffer with the same backing, as measured (pagemap, PAGEMAP_SCAN)."""

    start: int
    end: int                       # exclusive
    kind: str                      # "hugetlb", "thp", "4k", "swapped", "absent"
    page_size_bytes: int           # the page size backing the run (4096 for "absent"/"swapped")

    @property
    def length_bytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferReport:
    """What a memdive.alloc buffer really got, measured from pagemap, smaps and numa_maps."""

    address: int
    nbytes: int                    # usable bytes asked for
    mapped_bytes: int              # the mapping (rounded to the page size, trimmed for alignment)
    asked_pages: str               # "4k", "thp", "hugetlb", "auto"
    asked_node: tuple[int, ...] | None
    asked_lock: bool | str
    asked_populate: bool
    align_bytes: int
    strategy: str                  # what was applied: "4k", "thp" (madvise), "hugetlb"
    vma_exact: bool                # smaps counters cover exactly this buffer (its own named VMA(s))
    vmas: int
    resident_bytes: int            # pagemap present pages x page size
    swapped_bytes: int
    thp_bytes: int | None          # PMD-mapped THP (smaps AnonHugePages, or PAGEMAP_SCAN)
    hugetlb_bytes: int             # smaps Private_Hugetlb + Shared_Hugetlb
    locked_bytes: int | None       # smaps Locked
    kernel_page_size_bytes: int | None
    vmflags: tuple[str, ...] = ()
    numa_policy: str | None = None
    nodes_bytes: dict[int, int] = field(default_factory=dict)   # resident bytes per node (move_pages)
    runs: tuple[PageRun, ...] = ()
    notes: tuple[str, ...] = ()    # fallbacks and settings that explain the result
    sources: tuple[str, ...] = ()  # which kernel interfaces the numbers came from

    @property
    def locked(self) -> bool:
        return "lo" in self.vmflags or bool(self.locked_bytes and self.locked_bytes >= self.resident_bytes > 0)

    def verdicts(self) -> list[str]:
        """One line per thing asked for: asked -> got."""
        out = []
        res = self.resident_bytes
        if self.strategy == "thp":
            got = self.thp_bytes or 0
            out.append(f"pages=thp: {got} of {res} resident bytes in huge pages" if res else
                       "pages=thp: nothing resident yet (touch or populate=True to fault pages in)")
        if self.strategy == "hugetlb":
            out.append(f"pages=hugetlb: {self.hugetlb_bytes} bytes in hugetlb pages of "
                       f"{self.kernel_page_size_bytes} bytes")
        if self.asked_node is not None:
            on = sum(v for k, v in self.nodes_bytes.items() if k in self.asked_node)
            out.append(f"node={','.join(map(str, self.asked_node))}: {on} of {res} resident bytes there "
                       f"(policy {self.numa_policy or 'unknown'})")
        if self.asked_lock:
            out.append(f"lock: {self.locked_bytes or 0} bytes locked ({'VM_LOCKED' if 'lo' in self.vmflags else 'not locked'})")
        if self.asked_populate:
            out.append(f"populate: {res} of {self.mapped_bytes} bytes resident")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolStats:
    slot_size_bytes: int
    slots: int
    allocs: int
    frees: int
    in_use: int
    failures: int                  # allocations refused because the pool was empty
    double_frees: int              # refused frees of a slot already free
    foreign_frees: int             # refused frees of memory not a slot of this pool
    generation: int                # head CAS count (mod 2^36): the ABA tag; = allocs + frees

    @property
    def free(self) -> int:
        return self.slots - self.in_use


@dataclass(frozen=True, slots=True, kw_only=True)
class ArenaStats:
    capacity_bytes: int
    used_bytes: int                # allocated, including alignment padding
    free_bytes: int
    allocations: int               # live
    free_blocks: int
    largest_free_bytes: int
    peak_used_bytes: int
    total_allocs: int
    total_frees: int
    failed_allocs: int             # refused
    failed_fragmented: int         # refused although free_bytes >= the request: fragmentation
    coalesces: int                 # merges of a freed block with a neighbour
    splits: int

    @property
    def fragmentation(self) -> float:
        """1 - largest free block / free bytes: 0 when all free space is one block."""
        return 0.0 if self.free_bytes == 0 else 1.0 - self.largest_free_bytes / self.free_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocatorInfo:
    name: str                      # "glibc", "jemalloc", "tcmalloc", "mimalloc", or a custom label
    library: str | None            # path to LD_PRELOAD; None for glibc (the default)
    package: str                   # the Debian package that brings it
    present: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocatorRun:
    allocator: str
    round: int
    exit_code: int                 # negative: killed by that signal
    wall_seconds: float
    user_seconds: float
    sys_seconds: float
    peak_rss_bytes: int            # ru_maxrss of the command (the largest of its process tree's waited-for)
    rss_at_exit_bytes: int | None  # from the exit probe; None if the target skipped exit() or ignored LD_PRELOAD
    minor_faults: int
    major_faults: int
    malloc_library: str | None     # which library really defined malloc (dladdr in the probe)


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocatorSummary:
    allocator: str
    library: str | None
    runs: int
    failures: int                  # runs with a non-zero exit
    wall_seconds: float            # medians over runs
    user_seconds: float
    sys_seconds: float
    peak_rss_bytes: int
    rss_at_exit_bytes: int | None
    minor_faults: int
    major_faults: int
    wall_ratio: float | None       # median over rounds of wall / baseline wall in the same round
    malloc_library: str | None
    verified: bool                 # the probe saw malloc come from the asked library


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareResult:
    command: tuple[str, ...]
    repeat: int
    baseline: str
    summaries: tuple[AllocatorSummary, ...]
    missing: tuple[AllocatorInfo, ...]
    runs: tuple[AllocatorRun, ...]
    notes: tuple[str, ...] = ()
