"""Renderers for `memdive thp` and `memdive hugetlb`: records in, plain-text tables and lines / JSON dicts out."""

from __future__ import annotations

from ..models.hugepages import (
    CollapseResult,
    HugeCheck,
    HugetlbSystem,
    PoolChange,
    ThpProcess,
    ThpRegion,
    ThpSystem,
)
from .jsonout import to_jsonable
from .text import escape, human_bytes, pct


def _choice(c) -> str:
    return c.selected if c is not None else "n/a"


def thp_system_renderables(s: ThpSystem) -> list:
    from .tables import table

    st = s.settings
    modes = table(
        "Transparent huge pages",
        ["setting", "value", "offered"],
        [
            ("enabled", st.enabled.selected, " ".join(st.enabled.choices)),
            ("defrag", _choice(st.defrag), " ".join(st.defrag.choices) if st.defrag else ""),
            (
                "shmem_enabled",
                _choice(st.shmem_enabled),
                " ".join(st.shmem_enabled.choices) if st.shmem_enabled else "",
            ),
            ("PMD size", human_bytes(st.pmd_size_bytes), ""),
            ("use_zero_page", {True: "yes", False: "no", None: "n/a"}[st.use_zero_page], ""),
            ("shrink_underused", {True: "yes", False: "no", None: "n/a"}[st.shrink_underused], ""),
        ],
    )
    kh = st.khugepaged
    kh_rows = [(k, f"{v:,}") for k, v in kh.items()]
    if "pages_to_scan" in kh and "scan_sleep_millisecs" in kh and kh["scan_sleep_millisecs"]:
        rate = kh["pages_to_scan"] / (kh["scan_sleep_millisecs"] / 1000)
        kh_rows.append(("scan rate", f"{rate:,.0f} pages/s"))
    khug = table("khugepaged", ["knob / progress", "value"], kh_rows, right=(1,))
    kh_note = (
        "khugepaged progress: full_scans counts complete passes over all candidate memory, "
        "pages_collapsed the huge pages it made; the kernel exports no count of pages scanned"
    )
    out: list = [modes, khug, kh_note]
    if st.sizes:
        stat_keys = [
            "anon_fault_alloc",
            "anon_fault_fallback",
            "nr_anon",
            "shmem_alloc",
            "shmem_fallback",
            "split",
            "swpout",
        ]
        heads = ["fault", "fallback", "nr_anon", "shmem", "shmem fb", "split", "swpout"]
        rows = []
        for z in st.sizes:
            eff = _choice(z.enabled)
            if eff == "inherit":
                eff = f"inherit ({st.enabled.selected})"
            rows.append(
                [human_bytes(z.size_bytes), eff if z.enabled else "(shmem only)", _choice(z.shmem_enabled)]
                + [f"{z.stats[k]:,}" if k in z.stats else "-" for k in stat_keys]
            )
        out.append(
            table(
                "Multi-size THP (per size: setting and stats)",
                ["size", "anon", "shmem"] + heads,
                rows,
                right=range(3, 3 + len(stat_keys)),
            )
        )
        out.append(
            "per-size stats (stats/): fault = anon_fault_alloc, fallback = anon_fault_fallback, "
            "shmem = shmem_alloc, shmem fb = shmem_fallback; --json has every file"
        )
    mem = table(
        "Huge pages in use (meminfo)",
        ["", "bytes"],
        [
            ("AnonHugePages", human_bytes(s.anon_huge_bytes)),
            ("ShmemHugePages", human_bytes(s.shmem_huge_bytes)),
            ("ShmemPmdMapped", human_bytes(s.shmem_pmd_bytes)),
            ("FileHugePages", human_bytes(s.file_huge_bytes)),
            ("FilePmdMapped", human_bytes(s.file_pmd_bytes)),
        ],
        right=(1,),
    )
    ctr = table(
        "THP counters (/proc/vmstat)",
        ["counter", "total"],
        [(k, f"{v:,}") for k, v in s.counters.items()],
        right=(1,),
    )
    out += [mem, ctr]
    return out


def interesting(p: ThpProcess, min_bytes: int) -> list[ThpRegion]:
    """Regions worth a row: those with huge pages, and candidates of at least MIN_BYTES with a reason."""
    return [r for r in p.regions if r.huge_bytes or (r.reason is not None and r.size_bytes >= min_bytes)]


def thp_process_renderables(p: ThpProcess, min_bytes: int, all_regions: bool = False) -> list:
    from .tables import table

    rows_src = p.regions if all_regions else interesting(p, min_bytes)
    rows = []
    for r in rows_src:
        elig = {True: "1", False: "0", None: "-"}[r.thp_eligible]
        adv = "hg" if r.advised else "nh" if r.refused else ""
        rows.append(
            (
                f"{r.start:x}-{r.end:x}",
                human_bytes(r.size_bytes),
                r.kind,
                human_bytes(r.rss_bytes),
                human_bytes(r.anon_huge_bytes),
                human_bytes(r.shmem_pmd_bytes + r.file_pmd_bytes),
                elig,
                adv,
                r.reason_code or "",
                escape(r.name, 32),
            )
        )
    head = (
        f"PID {p.pid} {escape(p.comm, 40)}   THP mode {p.mode}, defrag {p.defrag or 'n/a'}, "
        f"huge page {human_bytes(p.pmd_size_bytes)}\n"
        f"anonymous {human_bytes(p.anonymous_bytes)}, on huge pages {human_bytes(p.anon_huge_bytes)} "
        f"({pct(p.anon_huge_bytes, p.anonymous_bytes)}); ShmemPmdMapped {human_bytes(p.shmem_pmd_bytes)}, "
        f"FilePmdMapped {human_bytes(p.file_pmd_bytes)}"
    )
    t = table(
        None,
        ["range", "size", "kind", "RSS", "AnonHuge", "Shmem/FilePmd", "elig", "adv", "why not", "name"],
        rows,
        right=(1, 3, 4, 5),
    )
    out: list = [head, t]
    if not rows:
        out.append(
            f"no region holds huge pages and none of at least {human_bytes(min_bytes)} is a candidate"
        )
    seen: dict[str, str] = {}
    for r in rows_src:
        if r.reason_code and r.reason_code not in seen:
            seen[r.reason_code] = r.reason or ""
    if seen:
        out.append("why not:")
        out += [f"  {code}: {why}" for code, why in seen.items()]
    return out


def collapse_renderables(results: list[CollapseResult]) -> list:
    from .tables import table

    rows = [
        (
            f"{c.start:x}-{c.end:x}",
            human_bytes(c.end - c.start),
            "ok" if c.ok else "refused",
            human_bytes(c.huge_before_bytes),
            human_bytes(c.huge_after_bytes),
            human_bytes(c.collapsed_bytes),
            c.collapse_alloc_delta,
        )
        for c in results
    ]
    out: list = [
        table(
            "process_madvise(MADV_COLLAPSE)",
            ["range", "size", "result", "huge before", "huge after", "collapsed", "THP allocs"],
            rows,
            right=(1, 3, 4, 5, 6),
            footer=["total", "", "", "", "", human_bytes(sum(c.collapsed_bytes for c in results)), ""],
        )
    ]
    for c in results:
        if c.error:
            out.append(f"{c.start:x}-{c.end:x}: {c.error}")
    return out


def _dict(obj) -> dict:
    d = to_jsonable(obj)
    assert isinstance(d, dict)
    return d


def thp_process_json(p: ThpProcess, min_bytes: int, all_regions: bool) -> dict:
    import dataclasses

    d = {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.name != "regions"}
    d["huge_share"] = p.huge_share
    d["regions"] = [
        {**_dict(r), "size_bytes": r.size_bytes}
        for r in (p.regions if all_regions else interesting(p, min_bytes))
    ]
    return d


def collapse_json(results: list[CollapseResult]) -> list:
    return [{**_dict(c), "collapsed_bytes": c.collapsed_bytes} for c in results]


# --- hugetlb -----------------------------------------------------------------------------------------


def hugetlb_renderables(h: HugetlbSystem, node: int | None = None) -> list:
    """The pools (per node too when there are several nodes, or when NODE asks for one) and the mounts."""
    from .tables import table

    rows: list[tuple] = []
    for p in h.pools:
        dflt = " (default)" if p.size_bytes == h.default_size_bytes else ""
        rows.append(
            (
                human_bytes(p.size_bytes) + dflt,
                "all",
                p.total,
                p.free,
                p.in_use,
                p.reserved,
                p.surplus,
                p.overcommit,
                human_bytes(p.total_bytes),
            )
        )
        if node is not None or len(p.nodes) > 1 or (p.nodes and p.nodes[0].total != p.total):
            for n in p.nodes:
                if node is not None and n.node != node:
                    continue
                rows.append(
                    (
                        "",
                        f"node {n.node}",
                        n.total,
                        n.free,
                        n.total - n.free,
                        "",
                        n.surplus,
                        "",
                        human_bytes(n.total * p.size_bytes),
                    )
                )
    out: list = [
        table(
            "hugetlb pools (pages)",
            ["size", "node", "total", "free", "in use", "reserved", "surplus", "overcommit", "memory"],
            rows,
            right=(2, 3, 4, 5, 6, 7, 8),
        )
    ]
    if h.mounts:
        out.append(
            table(
                "hugetlbfs mounts",
                ["mountpoint", "page size", "options"],
                [
                    (
                        escape(m.mountpoint, 80),
                        human_bytes(m.page_size_bytes)
                        if m.page_size_bytes
                        else f"default ({human_bytes(h.default_size_bytes)})",
                        ",".join(m.options),
                    )
                    for m in h.mounts
                ],
            )
        )
    else:
        out.append("hugetlbfs mounts: none (MAP_HUGETLB and SHM_HUGETLB work without one)")
    return out


def pool_change_text(c: PoolChange) -> str:
    where = f" on node {c.node}" if c.node is not None else ""
    verb = (
        "grew" if c.after_total > c.before_total else "shrank" if c.after_total < c.before_total else "stayed"
    )
    s = (
        f"{human_bytes(c.size_bytes)} pool{where}: asked for {c.requested_total} pages; {verb} "
        f"{c.before_total} -> {c.after_total} (free {c.before_free} -> {c.after_free})"
    )
    if c.after_total < c.requested_total:
        s += (
            f"; {c.shortfall} short: the kernel found no more free contiguous "
            f"{human_bytes(c.size_bytes)} blocks"
            f" (see `memdive frag`, try `memdive frag --compact --yes`)"
        )
    elif c.after_total > c.requested_total:
        s += f"; {c.after_total - c.requested_total} pages are in use and cannot be freed yet"
    return s


def check_text(c: HugeCheck) -> str:
    lines = [
        f"MAP_HUGETLB {human_bytes(c.length_bytes)} in {human_bytes(c.size_bytes)} pages: "
        + (
            f"ok, {human_bytes(c.hugetlb_bytes)} of hugetlb pages (KernelPageSize "
            f"{human_bytes(c.kernel_page_size_bytes)})"
            if c.hugetlb_ok
            else f"FAILED ({c.hugetlb_error})"
        )
    ]
    if c.fallback == "thp":
        got = f"{human_bytes(c.thp_bytes)} of {human_bytes(c.length_bytes)} on transparent huge pages"
        lines.append(
            f"fallback: anonymous memory with MADV_HUGEPAGE (THP mode {c.thp_mode or 'n/a'}): {got}"
            + ("" if c.thp_bytes else " - none: the memory would be backed by 4 KiB pages")
        )
        if not c.hugetlb_ok:
            lines.append(
                f"hint: reserve pages first: memdive hugetlb --reserve N --size {human_bytes(c.size_bytes)}"
                " --yes"
            )
    return "\n".join(lines)
