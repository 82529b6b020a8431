"""Fragmentation and compaction: free blocks per node, zone and order (/proc/buddyinfo), per migrate
type (/proc/pagetypeinfo, root), the kernel's unusable free space index and fragmentation index per order,
the compaction counters of /proc/vmstat, and compaction on demand with a before/after picture.

The indices are computed exactly as mm/vmstat.c computes them for debugfs extfrag/unusable_index and
extfrag/extfrag_index (fill_contig_page_info, unusable_free_index, __fragmentation_index), in integer
thousandths, so the figures match the kernel's to the digit.
"""

from __future__ import annotations

import os
import time

from .errors import AccessDenied, KernelFeatureMissing
from .kernel import buddy, sysmm
from .kernel.io import read_optional
from .kernel.root import KernelRoot, resolve
from .models.hugepages import BuddyZone, CompactResult, FragReport, ZoneFrag

COMPACTION_COUNTERS = (
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_daemon_wake",
    "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
    "pgmigrate_success",
    "pgmigrate_fail",
    "thp_migration_success",
    "thp_migration_fail",
)
SETTINGS = (
    "compaction_proactiveness",
    "extfrag_threshold",
    "compact_unevictable_allowed",
    "min_free_kbytes",
    "watermark_scale_factor",
)


def contig_info(free_blocks: tuple[int, ...] | list[int], suitable_order: int) -> tuple[int, int, int]:
    """mm/vmstat.c fill_contig_page_info: (free_pages, free_blocks_total, free_blocks_suitable)."""
    free_pages = total = suitable = 0
    for order, blocks in enumerate(free_blocks):
        total += blocks
        free_pages += blocks << order
        if order >= suitable_order:
            suitable += blocks << (order - suitable_order)
    return free_pages, total, suitable


def unusable_index(free_blocks: tuple[int, ...] | list[int], order: int) -> int:
    """mm/vmstat.c unusable_free_index, in thousandths: share of free memory that cannot serve an order-ORDER
    allocation (0: none, 1000: all; no free memory at all counts as 1000)."""
    free_pages, _total, suitable = contig_info(free_blocks, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def fragmentation_index(free_blocks: tuple[int, ...] | list[int], order: int) -> int:
    """mm/vmstat.c __fragmentation_index, in thousandths: -1000 when an order-ORDER block is free (the
    index only means something when the allocation would fail); else towards 0 the failure is for lack of
    memory, towards 1000 for fragmentation. 0 when there are no free blocks at all."""
    if order >= len(free_blocks):  # the kernel WARNs and returns 0 beyond MAX_PAGE_ORDER
        return 0
    free_pages, total, suitable = contig_info(free_blocks, order)
    requested = 1 << order
    if not total:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // requested) // total


def kernel_format(value: int) -> str:
    """Exactly as debugfs prints an index: '%d.%03d' of value / 1000 and value % 1000 in C (truncating
    division, remainder with the dividend's sign: -500 prints as '0.-500', a kernel quirk kept as is)."""
    q = abs(value) // 1000 * (1 if value >= 0 else -1)
    r = value - q * 1000
    return f"{q}.{r:03d}"


def zone_frag(z: BuddyZone) -> ZoneFrag:
    n = len(z.free_blocks)
    return ZoneFrag(
        node=z.node,
        zone=z.zone,
        free_blocks=z.free_blocks,
        free_pages=z.free_pages,
        unusable=tuple(unusable_index(z.free_blocks, k) for k in range(n)),
        fragmentation=tuple(fragmentation_index(z.free_blocks, k) for k in range(n)),
    )


def _settings(root: KernelRoot) -> dict[str, int]:
    out = {}
    for k in SETTINGS:
        data = read_optional(root.proc_path(f"sys/vm/{k}"))
        if data is not None and data.strip().lstrip(b"-").isdigit():
            out[k] = int(data)
    return out


def frag(root: KernelRoot | None = None, node: int | None = None, pagetypes: bool = True) -> FragReport:
    """The fragmentation picture of every zone (or of one NODE)."""
    r = resolve(root)
    zones = [z for z in buddy.read_buddyinfo(r) if node is None or z.node == node]
    if node is not None and not zones:
        from .errors import InvalidInput

        raise InvalidInput(f"node {node} has no zones in /proc/buddyinfo (no such node, or no memory)")
    pt, pt_err = None, None
    if pagetypes:
        try:
            pt = buddy.read_pagetypeinfo(r)
        except (AccessDenied, KernelFeatureMissing) as e:
            pt_err = e.one_line()
    vm = sysmm.read_vmstat(r)
    return FragReport(
        zones=tuple(zone_frag(z) for z in zones),
        page_size_bytes=os.sysconf("SC_PAGE_SIZE"),
        pagetypes=pt,
        pagetypes_error=pt_err,
        compaction={k: vm[k] for k in COMPACTION_COUNTERS if k in vm},
        settings=_settings(r),
    )


def compact(node: int | None = None, root: KernelRoot | None = None) -> CompactResult:
    """Trigger compaction (all nodes, or NODE) and report the picture before and after. Needs root."""
    r = resolve(root)
    before = frag(r, node)
    t0 = time.monotonic()
    buddy.compact(node, r)
    elapsed = time.monotonic() - t0
    return CompactResult(node=node, before=before, after=frag(r, node), elapsed_seconds=elapsed)
