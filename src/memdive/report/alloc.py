"""Renderers for memdive.alloc: allocator comparison, buffer reports, allocator list. Records in, text out."""

from __future__ import annotations

from ..models.alloc import AllocatorInfo, BufferReport, CompareResult
from .tables import table
from .text import escape, human_bytes


def _secs(s: float | None) -> str:
    if s is None:
        return "n/a"
    return f"{s * 1e3:.1f}ms" if s < 1 else f"{s:.3f}s"


def compare_table(res: CompareResult):
    """One row per allocator: medians over the rounds and the wall-time ratio to the baseline."""
    rows = []
    for s in res.summaries:
        rows.append((
            s.allocator, _secs(s.wall_seconds), "n/a" if s.wall_ratio is None else f"{s.wall_ratio:.2f}x",
            _secs(s.user_seconds), _secs(s.sys_seconds), human_bytes(s.peak_rss_bytes),
            human_bytes(s.rss_at_exit_bytes), s.minor_faults, s.major_faults,
            f"{s.runs - s.failures}/{s.runs}", "yes" if s.verified else "NO",
            escape(s.library or "(libc)"),
        ))
    cmd = escape(" ".join(res.command))
    title = f"alloc compare: {cmd}  (median of {res.repeat} rounds, allocators alternating; ratio vs {res.baseline})"
    return table(title, ("allocator", "wall", "ratio", "user", "sys", "peak RSS", "RSS at exit", "minflt",
                         "majflt", "ok", "verified", "library"), rows, right=range(1, 9))


def compare_lines(res: CompareResult) -> list[str]:
    out = []
    best = min(res.summaries, key=lambda s: s.wall_seconds, default=None)
    small = min(res.summaries, key=lambda s: s.peak_rss_bytes, default=None)
    if best and small:
        out.append(f"fastest: {best.allocator} ({_secs(best.wall_seconds)}); smallest peak RSS: "
                   f"{small.allocator} ({human_bytes(small.peak_rss_bytes)})")
    for m in res.missing:
        out.append(f"not installed: {m.name} (apt-get install {m.package})" if m.package != "(given path)"
                   else f"not found: {m.name} ({escape(m.library or '')})")
    out.extend(res.notes)
    return out


def allocators_table(infos: list[AllocatorInfo]):
    rows = [(a.name, "yes" if a.present else "no", escape(a.library or ("(libc)" if a.name == "glibc" else "-")),
             a.package) for a in infos]
    return table("allocators", ("name", "present", "library", "Debian package"), rows)


def buffer_table(r: BufferReport):
    """The runs of pages with their backing, then the totals."""
    rows = [(f"0x{x.start:x}-0x{x.end:x}", human_bytes(x.length_bytes), x.kind, human_bytes(x.page_size_bytes))
            for x in r.runs[:64]]
    more = len(r.runs) - 64
    if more > 0:
        rows.append((f"... {more} more runs", "", "", ""))
    return table(f"buffer {human_bytes(r.nbytes)} pages={r.asked_pages} -> {r.strategy}",
                 ("range", "size", "backing", "page size"), rows, right=(1, 3))


def buffer_lines(r: BufferReport) -> list[str]:
    nodes = ", ".join(f"node {k}: {human_bytes(v)}" for k, v in sorted(r.nodes_bytes.items())) or "none resident"
    out = [
        (f"mapped {human_bytes(r.mapped_bytes)}; resident {human_bytes(r.resident_bytes)}, swapped "
         f"{human_bytes(r.swapped_bytes)}; THP {human_bytes(r.thp_bytes)}; hugetlb {human_bytes(r.hugetlb_bytes)}; "
         f"locked {human_bytes(r.locked_bytes)}; kernel page size {human_bytes(r.kernel_page_size_bytes)}"),
        f"nodes: {nodes}; policy {r.numa_policy or 'n/a'}; VmFlags {' '.join(r.vmflags) or '-'}",
    ]
    out += [f"asked {v}" for v in r.verdicts()]
    out += [f"note: {n}" for n in r.notes]
    out.append("measured from: " + ", ".join(r.sources) + ("" if r.vma_exact else " (VMA shared with neighbours)"))
    return out
