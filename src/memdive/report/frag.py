"""Renderer for `memdive frag`: free blocks per order (table and picture), indices, migrate types,
compaction counters, and a before/after view of a compaction run."""

from __future__ import annotations

from ..models.hugepages import CompactResult, FragReport, ZoneFrag
from .jsonout import to_jsonable
from .text import human_bytes

_BAR = "█"
_EIGHTHS = " ▏▎▍▌▋▊▉"
_SPARK = "▁▂▃▄▅▆▇█"


def bar(value: float, scale: float, width: int) -> str:
    """A horizontal bar of VALUE/SCALE * WIDTH cells with eighth-cell resolution."""
    if scale <= 0 or value <= 0:
        return ""
    cells = value / scale * width
    full = int(cells)
    rest = int((cells - full) * 8)
    return _BAR * full + (_EIGHTHS[rest] if rest else ("▏" if full == 0 else ""))


def spark(z: ZoneFrag) -> str:
    """One character per order: how much of the zone's free memory sits in blocks of that order."""
    mem = [n << k for k, n in enumerate(z.free_blocks)]
    top = max(mem) or 1
    return "".join(" " if m == 0 else _SPARK[min(7, m * 8 // (top + 1))] for m in mem)


def _idx(v: int) -> str:
    return f"{v / 1000:.3f}"


def zone_picture(z: ZoneFrag, page: int, width: int = 20):
    """One zone: per order the free blocks, the memory they hold (as a bar: the picture of free blocks by
    order), and the kernel's unusable free space and fragmentation indices."""
    from .tables import table

    mem = [n << k for k, n in enumerate(z.free_blocks)]
    top = max(mem) or 1
    rows = [
        (
            f"{k:>2} {human_bytes(page << k):>6}",
            f"{n:,}",
            human_bytes(m * page),
            _idx(z.unusable[k]),
            _idx(z.fragmentation[k]),
            bar(m, top, width),
        )
        for k, (n, m) in enumerate(zip(z.free_blocks, mem))
    ]
    return table(
        f"Node {z.node}, zone {z.zone}: {human_bytes(z.free_pages * page)} free "
        f"({z.free_pages:,} pages)  shape {spark(z)}",
        ["order", "blocks", "memory", "unusable", "frag", "free memory by block size"],
        rows,
        right=(1, 2, 3, 4),
    )


def huge_page_verdict(z: ZoneFrag, page: int, threshold: int | None, huge: int = 2 << 20) -> str | None:
    """One line on a zone's chances for HUGE-size allocations, from its free blocks and the kernel's
    indices at that order (None for an empty zone, or one whose orders stop below HUGE)."""
    k = (huge // page).bit_length() - 1
    if not z.free_pages or k >= len(z.free_blocks):
        return None
    blocks = sum(n << (o - k) for o, n in enumerate(z.free_blocks) if o >= k)
    share = 1 - z.unusable[k] / 1000
    head = f"node {z.node} {z.zone}: {share:.0%} of {human_bytes(z.free_pages * page)} free is in blocks of "
    head += f"{human_bytes(huge)} or more ({blocks:,} such blocks)"
    fi = z.fragmentation[k]
    if fi == -1000:
        return head + f"; {human_bytes(huge)} allocations succeed without compaction"
    limit = threshold if threshold is not None else 500
    if fi > limit:
        return head + (
            f"; none free: fragmentation index {fi / 1000:.3f} > extfrag_threshold {limit / 1000:.3f}, "
            "so the kernel compacts: `memdive frag --compact --yes` does it now"
        )
    return head + (
        f"; none free: fragmentation index {fi / 1000:.3f} <= {limit / 1000:.3f}: the zone lacks memory, "
        "the kernel reclaims rather than compacts"
    )


def frag_renderables(f: FragReport, picture: bool = True, pagetypes: bool = False) -> list:
    from .tables import table

    page = f.page_size_bytes
    n = max((len(z.free_blocks) for z in f.zones), default=0)
    orders = [str(k) for k in range(n)]
    out: list = []
    out.append(
        table(
            "Free blocks per order (/proc/buddyinfo)",
            ["node", "zone", "free"] + orders,
            [
                (z.node, z.zone, human_bytes(z.free_pages * page)) + tuple(f"{b:,}" for b in z.free_blocks)
                for z in f.zones
            ],
            right=range(2, 3 + n),
        )
    )
    verdicts = [huge_page_verdict(z, page, f.settings.get("extfrag_threshold")) for z in f.zones]
    if any(verdicts):
        out.append("\n".join(v for v in verdicts if v))
    if picture:
        out += [zone_picture(z, page) for z in f.zones]
        out.append(
            "unusable: share of free memory in blocks too small for the order (0..1); frag: "
            "-1 while a block of the order is free, else 0 = lack of memory .. 1 = fragmentation "
            "(mm/vmstat.c, as debugfs extfrag/ prints them)"
        )
    else:
        out.append(
            table(
                "Unusable free space index per order",
                ["zone"] + orders,
                [(f"{z.node}/{z.zone}",) + tuple(f"{v / 1000:.2f}" for v in z.unusable) for z in f.zones],
                right=range(1, 1 + n),
            )
        )
    thr = f.settings.get("extfrag_threshold")
    if thr is not None:
        out.append(
            f"vm.extfrag_threshold = {thr}: above {thr / 1000:.3f} the kernel compacts "
            f"rather than reclaims for a failing allocation"
        )
    if f.pagetypes is not None:
        pt = f.pagetypes
        if pagetypes:
            rows = []
            for r in pt.free:
                if not any(r.free_blocks):
                    continue
                rows.append(
                    (r.node, r.zone, r.migrate_type)
                    + tuple(f">{b}" if c else f"{b:,}" for b, c in zip(r.free_blocks, r.capped))
                )
            out.append(
                table(
                    f"Free blocks per migrate type (/proc/pagetypeinfo; pageblock order "
                    f"{pt.pageblock_order}, {pt.pages_per_block} pages)",
                    ["node", "zone", "type"] + [str(k) for k in range(len(pt.free[0].free_blocks))],
                    rows,
                    right=range(3, 3 + len(pt.free[0].free_blocks)),
                )
            )
        types = list(pt.blocks[0].blocks) if pt.blocks else []
        out.append(
            table(
                f"Pageblocks per migrate type ({human_bytes(pt.pages_per_block * page)} each)",
                ["node", "zone"] + types,
                [(b.node, b.zone) + tuple(f"{b.blocks[t]:,}" for t in types) for b in pt.blocks],
                right=range(2, 2 + len(types)),
            )
        )
        if any(any(r.capped) for r in pt.free):
            out.append(
                "'>100000': the kernel stops counting a free list at 100000 (Linux 5.6+); "
                "buddyinfo's totals above are exact"
            )
    else:
        out.append(f"migrate types (/proc/pagetypeinfo): unavailable - {f.pagetypes_error}")
    out.append(
        table(
            "Compaction counters (/proc/vmstat)",
            ["counter", "total"],
            [(k, f"{v:,}") for k, v in f.compaction.items()]
            + [(f"vm.{k}", f"{v:,}") for k, v in f.settings.items()],
            right=(1,),
        )
    )
    return out


def compact_renderables(c: CompactResult) -> list:
    from .tables import table

    page = c.before.page_size_bytes
    after = {(z.node, z.zone): z for z in c.after.zones}
    rows = []
    for b in c.before.zones:
        a = after.get((b.node, b.zone))
        if a is None:
            continue
        big = len(b.free_blocks) - 1
        k = min(big, max(0, ((2 << 20) // page).bit_length() - 1))
        rows.append(
            (
                b.node,
                b.zone,
                human_bytes(b.free_pages * page),
                human_bytes(a.free_pages * page),
                f"{b.free_blocks[big]:,}",
                f"{a.free_blocks[big]:,}",
                spark(b),
                spark(a),
                _idx(b.unusable[k]),
                _idx(a.unusable[k]),
            )
        )
    counters = table(
        "Compaction counters: change",
        ["counter", "before", "after", "delta"],
        [
            (k, f"{v:,}", f"{c.after.compaction.get(k, 0):,}", f"{c.after.compaction.get(k, 0) - v:+,}")
            for k, v in c.before.compaction.items()
        ],
        right=(1, 2, 3),
    )
    big = max((len(z.free_blocks) for z in c.before.zones), default=1) - 1
    where = "all nodes" if c.node is None else f"node {c.node}"
    return [
        table(
            f"Compaction of {where} took {c.elapsed_seconds:.3f} s",
            [
                "node",
                "zone",
                "free before",
                "after",
                f"order-{big} blocks before",
                "after",
                "shape before",
                "after",
                "unusable(2M) before",
                "after",
            ],
            rows,
            right=(2, 3, 4, 5, 8, 9),
        ),
        counters,
    ] + [zone_picture(z, page) for z in c.after.zones if z.free_pages]


def frag_json(f: FragReport) -> dict:
    d = to_jsonable(f)
    assert isinstance(d, dict)
    for z, zd in zip(f.zones, d["zones"]):
        zd["free_bytes"] = z.free_pages * f.page_size_bytes
        zd["unusable_index"] = [v / 1000 for v in z.unusable]
        zd["fragmentation_index"] = [v / 1000 for v in z.fragmentation]
    return d


def compact_json(c: CompactResult) -> dict:
    return {
        "node": c.node,
        "elapsed_seconds": c.elapsed_seconds,
        "before": frag_json(c.before),
        "after": frag_json(c.after),
    }
