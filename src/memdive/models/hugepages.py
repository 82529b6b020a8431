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
