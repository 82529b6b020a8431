"""Records of the benchmark suite (`memdive bench`): what was measured, and what affects it.

Repeated figures are `Stats` (min/median/max over the repeats after warm-up); the unit is in the
name of the field holding them (`ns_per_load`, `gb_per_second`, `seconds`). GB = 1e9 bytes (STREAM).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheLevel:
    """One cpuN/cache/indexN entry of sysfs."""

    level: int
    type: str  # Data, Instruction, Unified
    size_bytes: int
    line_bytes: int | None = None
    ways: int | None = None
    sets: int | None = None
    shared_cpus: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuInfo:
    model: str
    vendor: str = ""
    mhz: float | None = None
    flags: tuple[str, ...] = ()
    count: int = 1

    @property
    def invariant_tsc(self) -> bool:
        """The TSC ticks at a constant rate through frequency changes and idle."""
        return "constant_tsc" in self.flags and "nonstop_tsc" in self.flags


@dataclass(frozen=True, slots=True)
class Stats:
    """min/median/max of repeated measurements (n of them)."""

    min: float
    median: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        v = [float(x) for x in values]
        if not v:
            raise ValueError("no values")
        return cls(min(v), statistics.median(v), max(v), len(v))

    def map(self, fn) -> Stats:
        """Apply a monotonic function (a decreasing one swaps min and max): time -> rate."""
        a, m, b = fn(self.min), fn(self.median), fn(self.max)
        return Stats(min(a, b), m, max(a, b), self.n)

    @property
    def spread(self) -> float:
        """(max - min) / median."""
        return (self.max - self.min) / self.median if self.median else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Backing:
    """The pages a benchmark buffer got, read from smaps after the run (not assumed)."""

    requested: str  # 4k | thp | hugetlb
    obtained: str  # 4k | thp | partly-thp | hugetlb | mixed (several buffers) | unknown
    size_bytes: int
    rss_bytes: int | None = None
    anon_huge_bytes: int | None = None
    hugetlb_bytes: int | None = None
    kernel_page_size_bytes: int | None = None

    @property
    def huge_fraction(self) -> float | None:
        """Share of the resident bytes on huge pages (THP or hugetlb)."""
        huge = (self.anon_huge_bytes or 0) + (self.hugetlb_bytes or 0)
        res = max(self.rss_bytes or 0, self.hugetlb_bytes or 0)
        return huge / res if res else None


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchEnv:
    """What affects the figures, recorded beside them."""

    cpu_model: str
    cpus: tuple[int, ...]  # CPUs the threads were pinned to, in thread order
    pinned: bool
    repeats: int
    warmup: int
    thp_mode: str | None
    kernel: str
    tsc_hz: float | None = None
    caches: tuple[CacheLevel, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BandwidthRow:
    kernel: str  # read write copy scale add triad
    threads: int
    bytes_per_pass: int  # STREAM counting
    seconds: Stats
    gb_per_second: Stats


@dataclass(frozen=True, slots=True, kw_only=True)
class BandwidthResult:
    env: BenchEnv
    backing: Backing
    array_bytes: int  # each of the three arrays
    nontemporal: bool
    validated: bool
    max_rel_error: float
    rows: tuple[BandwidthRow, ...]

    def best(self, kernel: str, threads: int | None = None) -> BandwidthRow | None:
        rows = [r for r in self.rows if r.kernel == kernel and (threads is None or r.threads == threads)]
        return max(rows, key=lambda r: r.gb_per_second.median) if rows else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyPoint:
    size_bytes: int
    ns_per_load: Stats
    cycles_per_load: float | None = None  # median ns x TSC rate, where the TSC rate is known


@dataclass(frozen=True, slots=True, kw_only=True)
class Plateau:
    """A flat stretch of the latency curve: a cache level (or DRAM) found from the measurements."""

    name: str  # L1 L2 L3 ... DRAM
    first_bytes: int  # smallest working set on the plateau
    last_bytes: int  # largest working set still on it: the level's apparent size
    ns_per_load: float  # median over the plateau's points
    sysfs_bytes: int | None = None  # what sysfs says the level holds


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyResult:
    env: BenchEnv
    backing: Backing
    stride_bytes: int
    points: tuple[LatencyPoint, ...]
    levels: tuple[Plateau, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TlbMapRow:
    """The seed's optimize_tlb_usage: map and touch `pages` 4 KiB pages."""

    method: str  # small-mmaps | one-region | hugetlb | thp
    pages: int
    seconds: Stats | None
    backing: Backing | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlbAccessRow:
    """Dependent loads, one line per 4 KiB of a region spanning `pages` pages."""

    pages: int
    region_bytes: int
    backing: Backing
    ns_per_load: Stats


@dataclass(frozen=True, slots=True, kw_only=True)
class TlbResult:
    env: BenchEnv
    map_rows: tuple[TlbMapRow, ...]
    access_rows: tuple[TlbAccessRow, ...]
    miss_cost_ns: float | None  # 4 KiB minus 2 MiB ns per load (fastest repeats) at miss_cost_pages
    miss_cost_pages: int | None = None  # the largest region (in 4 KiB pages) whose lines fit in half of L2


@dataclass(frozen=True, slots=True, kw_only=True)
class PatternRow:
    test: str  # row-major | column-major | stride | sequential | random
    param: int  # matrix N, stride bytes, or elements
    accesses: int
    seconds: Stats
    ns_per_access: Stats
    gb_per_second: float  # useful bytes per second at the median


@dataclass(frozen=True, slots=True, kw_only=True)
class PatternsResult:
    env: BenchEnv
    backing: Backing
    rows: tuple[PatternRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FalseSharingResult:
    env: BenchEnv
    threads: int
    increments_per_thread: int
    packed_ns_per_increment: Stats
    padded_ns_per_increment: Stats
    ratio: float  # packed / padded, medians
    validated: bool  # the counters summed to what the threads added


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefetchRow:
    access: str  # sequential | gather
    distance_elements: int  # 0: no software prefetch
    distance_bytes: int
    ns_per_element: Stats
    speedup: float  # no-prefetch median / this median


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefetchResult:
    env: BenchEnv
    backing: Backing
    elements: int
    validated: bool
    rows: tuple[PrefetchRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TransposeRow:
    n: int  # N x N doubles
    method: str  # naive | blocked | cache-oblivious
    ns_per_element: Stats
    gb_per_second: float  # 16 bytes moved per element, at the median
    speedup: float  # naive median / this median


@dataclass(frozen=True, slots=True, kw_only=True)
class TransposeResult:
    env: BenchEnv
    block: int
    backing: Backing  # all matrices, summed
    validated: bool
    rows: tuple[TransposeRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchSummary:
    """`memdive bench` with no name: the whole hierarchy in one table."""

    env: BenchEnv
    quick: bool
    seconds: float
    latency: LatencyResult | None = None
    latency_huge: LatencyResult | None = None
    bandwidth: BandwidthResult | None = None
    tlb: TlbResult | None = None
    false_sharing: FalseSharingResult | None = None
    prefetch: PrefetchResult | None = None
    transpose: TransposeResult | None = None
    patterns: PatternsResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
