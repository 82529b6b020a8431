"""Records of NUMA: nodes (sysfs), a process's pages per node (numa_maps), memory policies, migrations."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class HugePool:
    """One node's hugetlb pool of one page size (/sys/devices/system/node/nodeN/hugepages/...)."""

    page_size_bytes: int
    total_pages: int
    free_pages: int
    surplus_pages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One NUMA node: its CPUs, memory, distances to every node and numastat counters.

    `meminfo` holds every "Node N Key:" line (bytes for kB lines, page counts for HugePages_*);
    `numastat` the node's counters (numa_hit, numa_miss, numa_foreign, interleave_hit, local_node,
    other_node), in pages. `distances` maps node id -> SLIT distance (10 = local).
    `synthetic` is True when the kernel has no NUMA sysfs (CONFIG_NUMA=n): one node built from /proc/meminfo.
    """

    id: int
    cpus: tuple[int, ...]
    mem_total_bytes: int
    mem_free_bytes: int
    mem_used_bytes: int
    distances: dict[int, int] = field(default_factory=dict)
    numastat: dict[str, int] = field(default_factory=dict)
    meminfo: dict[str, int] = field(default_factory=dict)
    hugepages: tuple[HugePool, ...] = ()
    has_memory: bool = True
    has_cpu: bool = True
    online: bool = True
    synthetic: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class NumaMapping:
    """One line of /proc/PID/numa_maps. Page counts are in pages of `page_size_bytes`
    (kernelpagesize_kB: 2 MiB or 1 GiB for hugetlb mappings, where numastat -p miscounts).

    `end`/`name` come from joining with /proc/PID/maps (None/"" when parsed alone).
    """

    start: int
    policy: str
    file: str | None = None
    heap: bool = False
    stack: bool = False
    huge: bool = False
    anon_pages: int = 0
    dirty_pages: int = 0
    mapped_pages: int = 0
    mapmax: int = 0
    swapcache_pages: int = 0
    active_pages: int | None = None
    writeback_pages: int = 0
    pages_by_node: dict[int, int] = field(default_factory=dict)
    page_size_bytes: int = 4096
    other: dict[str, int] = field(default_factory=dict)
    end: int | None = None
    name: str = ""

    @property
    def bytes_by_node(self) -> dict[int, int]:
        return {n: p * self.page_size_bytes for n, p in self.pages_by_node.items()}

    @property
    def resident_bytes(self) -> int:
        return sum(self.pages_by_node.values()) * self.page_size_bytes

    @property
    def size_bytes(self) -> int | None:
        return None if self.end is None else self.end - self.start

    @property
    def category(self) -> str:
        """numastat -p's rows: Huge, Heap, Stack, Private (everything else)."""
        if self.huge:
            return "huge"
        if self.heap:
            return "heap"
        if self.stack:
            return "stack"
        return "private"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemPolicy:
    """A memory policy: mode name (default, preferred, bind, interleave, local, preferred_many,
    weighted_interleave), its node set and mode flags (static, relative, balancing)."""

    mode: str
    nodes: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()

    def __str__(self) -> str:
        s = self.mode + ("=" + "|".join(self.flags) if self.flags else "")
        return s + (":" + format_nodelist(self.nodes) if self.nodes else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessPlacement:
    """A process's pages per node: every region, totals per node by numastat -p's categories."""

    pid: int
    comm: str
    mappings: list[NumaMapping]
    nodes: tuple[int, ...]
    policies: dict[str, int]              # policy string -> number of regions using it
    mems_allowed: str = ""
    cpus_allowed: str = ""

    def totals(self) -> dict[str, dict[int, int]]:
        """category (huge, heap, stack, private) -> node -> bytes."""
        out: dict[str, dict[int, int]] = {c: {} for c in ("huge", "heap", "stack", "private")}
        for m in self.mappings:
            row = out[m.category]
            for n, b in m.bytes_by_node.items():
                row[n] = row.get(n, 0) + b
        return out

    def per_node_bytes(self) -> dict[int, int]:
        acc: dict[int, int] = {}
        for m in self.mappings:
            for n, b in m.bytes_by_node.items():
                acc[n] = acc.get(n, 0) + b
        return acc


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationResult:
    """What a migration did: pages examined and moved, and failures by reason (errno name -> pages)."""

    pid: int
    method: str                 # "move_pages" or "migrate_pages"
    to_node: int
    from_nodes: tuple[int, ...]
    pages_examined: int = 0
    pages_already: int = 0      # already on the target node
    pages_moved: int = 0
    pages_not_present: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    bytes_moved: int = 0
    seconds: float = 0.0
    before: dict[int, int] = field(default_factory=dict)   # node -> bytes
    after: dict[int, int] = field(default_factory=dict)


def format_nodelist(nodes) -> str:
    """(0, 1, 2, 5) -> '0-2,5' (the kernel's %pbl list format)."""
    ns = sorted(set(nodes))
    out: list[str] = []
    i = 0
    while i < len(ns):
        j = i
        while j + 1 < len(ns) and ns[j + 1] == ns[j] + 1:
            j += 1
        out.append(str(ns[i]) if i == j else f"{ns[i]}-{ns[j]}")
        i = j + 1
    return ",".join(out)
