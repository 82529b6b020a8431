"""Renderer for `memdive sys`: one screen, readable at a glance."""

from __future__ import annotations

from ..overview import SystemMemory
from .text import escape, human_bytes, pct


def overview_renderables(s: SystemMemory):
    """Plain-text blocks only (report.tables): printing the overview never imports rich."""
    from .tables import PlainText, WrappedRows, side_by_side, table

    tot = s.total_bytes
    mem = table("Memory", ["", "bytes", "% of total"], [
        ("total", human_bytes(tot), ""),
        ("used", human_bytes(s.used_bytes), pct(s.used_bytes, tot)),
        ("free", human_bytes(s.free_bytes), pct(s.free_bytes, tot)),
        ("available", human_bytes(s.available_bytes), pct(s.available_bytes or 0, tot)),
        ("buffers", human_bytes(s.buffers_bytes), pct(s.buffers_bytes, tot)),
        ("page cache", human_bytes(s.page_cache_bytes), pct(s.page_cache_bytes, tot)),
        ("  of which shmem", human_bytes(s.shmem_bytes), pct(s.shmem_bytes, tot)),
        ("anonymous", human_bytes(s.anon_bytes), pct(s.anon_bytes, tot)),
        ("  on THP", human_bytes(s.anon_thp_bytes), pct(s.anon_thp_bytes, tot)),
        ("slab reclaimable", human_bytes(s.slab_reclaimable_bytes), pct(s.slab_reclaimable_bytes, tot)),
        ("slab unreclaimable", human_bytes(s.slab_unreclaimable_bytes), pct(s.slab_unreclaimable_bytes, tot)),
        ("kernel stacks", human_bytes(s.kernel_stack_bytes), pct(s.kernel_stack_bytes, tot)),
        ("page tables", human_bytes(s.page_tables_bytes), pct(s.page_tables_bytes, tot)),
        ("hugetlb", human_bytes(s.hugetlb_bytes), pct(s.hugetlb_bytes, tot)),
    ], right=(1, 2))
    swap_used = s.swap_total_bytes - s.swap_free_bytes
    commit = table("Commit and swap", ["", "bytes", ""], [
        ("committed", human_bytes(s.committed_bytes), pct(s.committed_bytes, s.commit_limit_bytes) + " of limit"),
        ("commit limit", human_bytes(s.commit_limit_bytes), ""),
        ("swap total", human_bytes(s.swap_total_bytes), "no swap" if not s.swap_total_bytes else ""),
        ("swap used", human_bytes(swap_used), pct(swap_used, s.swap_total_bytes) if s.swap_total_bytes else ""),
    ] + [(f"hugetlb {human_bytes(p.page_size_bytes)} pool", f"{p.total} pages",
          f"free {p.free} rsvd {p.reserved} surp {p.surplus}") for p in s.hugetlb_pools], right=(1,))
    if s.pressure is not None:
        rows = [("some", f"{s.pressure.some.avg10:.2f}", f"{s.pressure.some.avg60:.2f}",
                 f"{s.pressure.some.avg300:.2f}")]
        if s.pressure.full:
            f = s.pressure.full
            rows.append(("full", f"{f.avg10:.2f}", f"{f.avg60:.2f}", f"{f.avg300:.2f}"))
        psi = table("Pressure (PSI, % of time stalled)", ["", "avg10", "avg60", "avg300"], rows, right=(1, 2, 3))
    else:
        psi = PlainText(f"Pressure (PSI): unavailable — {s.pressure_unavailable}")
    vm_rows = []
    for g, d in s.vmstat.items():
        cells = []
        for k, v in d.items():
            rate = s.vmstat_rates[g][k] if s.vmstat_rates else None
            cells.append(f"{k} {v:,}" + (f" ({rate:,.1f}/s)" if rate is not None else ""))
        vm_rows.append((g, cells))
    vm = WrappedRows("vmstat since boot" + (" (rate over the interval)" if s.vmstat_rates else ""), vm_rows)
    top = table("Top processes by PSS", ["PID", "PSS", "RSS", "USS", "Swap", "Command"],
                [(p.pid, human_bytes(p.pss_bytes), human_bytes(p.rss_bytes), human_bytes(p.uss_bytes),
                  human_bytes(p.swap_bytes), escape(p.command, 60)) for p in s.top], right=(0, 1, 2, 3, 4))
    out = [side_by_side(mem, commit), psi] + ([top] if s.top else []) + [vm]   # --top 0: no heading either
    if s.top_note:
        out.append(PlainText(f"note: {s.top_note}"))
    return out
