"""Renderers for `memdive numa`: nodes, distances, numastat (and rates), a process's pages per node,
migration results. They take records, never argv."""

from __future__ import annotations

from ..models.numa import MigrationResult, Node, ProcessPlacement
from .tables import table
from .text import escape, human_bytes, pct

NUMASTAT = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")
NODE_MEMINFO = ("MemTotal", "MemFree", "MemUsed", "FilePages", "AnonPages", "Shmem", "Active(anon)",
                "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked", "Dirty",
                "Slab", "SReclaimable", "SUnreclaim", "KernelStack", "PageTables", "AnonHugePages",
                "FileHugePages", "HugePages_Total", "HugePages_Free", "HugePages_Surp")


def nodes_tables(ns: list[Node], rates: dict[int, dict[str, float]] | None = None, *, meminfo: bool = True):
    out = []
    rows = []
    for n in ns:
        notes = []
        if not n.has_memory:
            notes.append("memory-less")
        if not n.has_cpu:
            notes.append("no CPUs")
        if n.synthetic:
            notes.append("no NUMA sysfs: whole machine")
        huge = ", ".join(f"{human_bytes(p.page_size_bytes)}×{p.total_pages} ({p.free_pages} free)"
                         for p in n.hugepages if p.total_pages) or "-"
        from ..models.numa import format_nodelist

        rows.append((n.id, format_nodelist(n.cpus) or "-", human_bytes(n.mem_total_bytes),
                     human_bytes(n.mem_free_bytes), human_bytes(n.mem_used_bytes),
                     pct(n.mem_used_bytes, n.mem_total_bytes), huge, ", ".join(notes)))
    out.append(table("NUMA nodes", ["node", "CPUs", "total", "free", "used", "used%", "hugetlb pools", ""], rows,
                     right=(0, 2, 3, 4, 5)))
    if not any(n.synthetic for n in ns):
        ids = [n.id for n in ns]
        out.append(table("Distances", ["from\\to"] + [str(i) for i in ids],
                         [[n.id] + [("-" if n.distances.get(j) is None else n.distances[j]) for j in ids]
                          for n in ns], right=range(len(ids) + 1)))
        cols = ["counter"] + [f"node{n.id}" for n in ns]
        srows = []
        for k in NUMASTAT:
            row: list[object] = [k]
            for n in ns:
                v = n.numastat.get(k)
                cell = "-" if v is None else f"{v:,}"
                if rates is not None and v is not None:
                    cell += f"  ({rates.get(n.id, {}).get(k, 0.0):,.0f}/s)"
                row.append(cell)
            srows.append(row)
        title = "numastat (pages" + (", and rate per second" if rates is not None else "") + ")"
        out.append(table(title, cols, srows, right=range(1, len(ns) + 1)))
        if meminfo:
            keys = [k for k in NODE_MEMINFO if any(k in n.meminfo for n in ns)]
            mrows = []
            for k in keys:
                cells: list[object] = [k]
                for n in ns:
                    v = n.meminfo.get(k)
                    cells.append("-" if v is None else (f"{v:,}" if k.startswith("HugePages_") else human_bytes(v)))
                mrows.append(cells)
            out.append(table("Per-node meminfo", cols[:1] + cols[1:], mrows, right=range(1, len(ns) + 1)))
    return out


def nodes_json(ns: list[Node], rates: dict[int, dict[str, float]] | None = None,
               settings: dict[str, str | None] | None = None) -> dict:
    from .jsonout import to_jsonable

    return {"nodes": to_jsonable(ns), "distance_matrix": [[n.distances.get(m.id) for m in ns] for n in ns],
            "numastat_rates_per_second": {str(k): v for k, v in rates.items()} if rates is not None else None,
            "settings": settings}


_SETTING_MEANING = {
    "numa_balancing": {"0": "off", "1": "on (pages follow the tasks that touch them)", "2": "memory tiering",
                       "3": "balancing and tiering"},
    "zone_reclaim_mode": {"0": "off: allocate on other nodes before reclaiming locally",
                          "1": "reclaim on the local node before going off-node"},
    "demotion_enabled": {"false": "off", "true": "on (reclaim demotes pages to slower nodes)"},
}


def settings_text(settings: dict[str, str | None]):
    parts = []
    for k, v in settings.items():
        if v is None:
            parts.append(f"{k}: unsupported")
        else:
            meaning = _SETTING_MEANING.get(k, {}).get(v, "")
            parts.append(f"{k} = {v}" + (f" ({meaning})" if meaning else ""))
    return "NUMA settings: " + "; ".join(parts)


def _region_name(m) -> str:
    if m.file:
        return m.file + (" (hugetlb)" if m.huge else "")
    if m.heap:
        return "[heap]"
    if m.stack:
        return "[stack]"
    return m.name or "[anon]"


def placement_tables(p: ProcessPlacement, *, all_regions: bool = False, limit: int = 60):
    ns = list(p.nodes) or sorted({n for m in p.mappings for n in m.pages_by_node})
    out: list = []
    pol = ", ".join(f"{k} ×{v}" for k, v in sorted(p.policies.items(), key=lambda kv: -kv[1]))
    out.append(f"PID {p.pid} ({escape(p.comm, 64)})  policies: {pol or '-'}  mems allowed: "
               f"{p.mems_allowed or '-'}  CPUs allowed: {p.cpus_allowed or '-'}")
    tot = p.totals()
    rows = []
    for cat in ("huge", "heap", "stack", "private"):
        row = tot[cat]
        rows.append([cat.capitalize()] + [human_bytes(row.get(n, 0)) for n in ns] + [human_bytes(sum(row.values()))])
    per = p.per_node_bytes()
    footer = ["Total"] + [human_bytes(per.get(n, 0)) for n in ns] + [human_bytes(sum(per.values()))]
    out.append(table("Per node",
                     [""] + [f"node{n}" for n in ns] + ["total"], rows, right=range(1, len(ns) + 2), footer=footer))
    regs = [m for m in p.mappings if all_regions or m.pages_by_node]
    regs.sort(key=lambda m: -m.resident_bytes)
    shown = regs if all_regions else regs[:limit]
    rrows = []
    for m in sorted(shown, key=lambda m: m.start):
        rrows.append([f"{m.start:x}", human_bytes(m.size_bytes) if m.size_bytes is not None else "?", m.policy,
                      human_bytes(m.page_size_bytes)]
                     + [human_bytes(m.bytes_by_node.get(n, 0)) if m.pages_by_node.get(n) else "-" for n in ns]
                     + [escape(_region_name(m), 80)])
    title = "Regions with resident pages" + ("" if all_regions or len(regs) <= limit else
                                              f" (the {limit} largest of {len(regs)}; --all for every one)")
    out.append(table(title, ["start", "size", "policy", "page"] + [f"node{n}" for n in ns] + ["name"], rrows,
                     right=[1, 3] + list(range(4, 4 + len(ns)))))
    return out


def placement_json(p: ProcessPlacement) -> dict:
    from .jsonout import to_jsonable

    d = to_jsonable(p)
    assert isinstance(d, dict)
    d["totals_bytes"] = {c: {str(n): b for n, b in row.items()} for c, row in p.totals().items()}
    d["per_node_bytes"] = {str(n): b for n, b in p.per_node_bytes().items()}
    for m, j in zip(p.mappings, d["mappings"]):
        j["bytes_by_node"] = {str(n): b for n, b in m.bytes_by_node.items()}
        j["size_bytes"] = m.size_bytes
        j["category"] = m.category
    return d


def migration_text(r: MigrationResult) -> list[str]:
    from ..models.numa import format_nodelist

    lines = [(f"PID {r.pid}: {r.method} to node {r.to_node} from node(s) {format_nodelist(r.from_nodes) or '-'} "
              f"in {r.seconds * 1000:.1f} ms")]
    if r.method == "move_pages":
        lines.append(f"  resident pages examined {r.pages_examined:,}; already on node {r.to_node}: "
                     f"{r.pages_already:,}; moved {r.pages_moved:,} ({human_bytes(r.bytes_moved)}); "
                     f"not present or the zero page: {r.pages_not_present:,}")
    else:
        lines.append(f"  moved about {human_bytes(r.bytes_moved)} (the kernel reports only pages it could not move)")
    if r.failures:
        lines.append("  failures: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.failures.items())))
        lines.append("  (EACCES: shared with another process — use --all as root; EBUSY: pinned or under I/O; "
                     "ENOMEM: target node full; EFAULT: zero page or special mapping)")
    else:
        lines.append("  failures: none")
    lines.append("  before: " + ", ".join(f"node{n} {human_bytes(b)}" for n, b in sorted(r.before.items())))
    lines.append("  after:  " + ", ".join(f"node{n} {human_bytes(b)}" for n, b in sorted(r.after.items())))
    return lines
