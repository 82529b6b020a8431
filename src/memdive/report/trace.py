"""Rendering an allocation trace report: summary, call-site tables, heap state, resident join, JSON."""

from __future__ import annotations

from ..models.trace import CallSite, Frame, TraceReport
from .text import escape, human_bytes, pct

_ALLOC_FNS = {"malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc", "memalign",
              "valloc", "pvalloc", "mmap", "mmap64", "munmap", "mremap", "operator new", "operator new[]"}


def frame_text(f: Frame) -> str:
    loc = f"{f.file.rsplit('/', 1)[-1]}:{f.line}" if f.file and f.line else (f.object.rsplit("/", 1)[-1] if f.object
                                                                             else "")
    return f"{f.function} ({loc})" if loc else f.function


def user_frames(site: CallSite) -> list[Frame]:
    """The frames a reader wants first: skip allocator wrappers (operator new, the C runtime's malloc)."""
    fr = list(site.frames)
    i = 0
    while i < len(fr) - 1 and (fr[i].function.split("(")[0] in _ALLOC_FNS or fr[i].function.startswith("operator new")):
        i += 1
    return fr[i:]


def site_label(site: CallSite, depth: int = 3) -> str:
    fr = user_frames(site)
    if not fr:
        return f"stack #{site.stack_id} (no frames)"
    return " ← ".join(escape(frame_text(f), 120) for f in fr[:depth])


def summary_lines(r: TraceReport) -> list[str]:
    cmd = escape(" ".join(r.command) or r.exe, 300)
    lines = [f"trace of PID {r.pid}: {cmd}",
             f"  {r.duration_seconds:.3f} s, {r.threads} thread(s), {r.events:,} events, allocator {r.allocator or '?'}"
             + ("" if r.complete else "  [no clean exit]")]
    calls = ", ".join(f"{k} {v:,}" for k, v in r.calls.items() if "(free)" not in k)
    lines.append(f"  calls: {calls or 'none'}")
    lines.append(f"  allocations {r.allocations:,} ({human_bytes(r.allocated_bytes)} requested), "
                 f"temporary {r.temporary:,} ({pct(r.temporary, r.allocations)}), frees {r.frees:,}")
    lines.append(f"  peak heap {human_bytes(r.peak_bytes)} at {r.peak_time_seconds:.3f} s"
                 + (f"; peak RSS {human_bytes(r.rss_peak_bytes)}" if r.rss_peak_bytes else "")
                 + (f"; program mmaps peak {human_bytes(r.mmap_peak_bytes)}" if r.mmap_peak_bytes else ""))
    end = "at exit" if r.complete else "at the end of the trace"
    lines.append(f"  leaked {end}: {r.leaked_count:,} blocks, {human_bytes(r.leaked_bytes)}"
                 + (f"; mmaps still mapped {human_bytes(r.mmap_leaked_bytes)}" if r.mmap_leaked_bytes else "")
                 + (f"; held by the C runtime (stdio buffers etc., not leaks) {r.internal_count:,} blocks, "
                    f"{human_bytes(r.internal_bytes)}" if r.internal_count else ""))
    for w in r.warnings:
        lines.append(f"  warning: {w}")
    return lines


def sites_table(title: str, sites: list[CallSite], key: str):
    from .tables import table

    rows = []
    for i, s in enumerate(sites, 1):
        if key == "peak":
            vals = [human_bytes(s.peak_bytes), f"{s.peak_count:,}",
                    human_bytes(s.resident_peak_bytes) if s.resident_peak_bytes is not None else "-"]
        elif key == "leaked":
            vals = [human_bytes(s.leaked_bytes), f"{s.leaked_count:,}",
                    human_bytes(s.resident_exit_bytes) if s.resident_exit_bytes is not None else "-"]
        else:
            vals = [f"{s.allocations:,}", human_bytes(s.allocated_bytes), f"{s.temporary:,}"]
        rows.append([str(i), *vals, site_label(s)])
    heads = {"peak": ["bytes at peak", "blocks", "resident"], "leaked": ["leaked", "blocks", "resident"],
             "count": ["allocations", "bytes", "temporary"]}[key]
    return table(title, ["#", *heads, "call site (innermost first)"], rows, right=(0, 1, 2, 3))


def stack_lines(s: CallSite, limit: int = 16) -> list[str]:
    out = []
    for f in user_frames(s)[:limit]:
        out.append(("    (inlined) " if f.inlined else "    ") + escape(frame_text(f), 200))
    return out


def heap_table(r: TraceReport):
    from .tables import table

    rows = []
    for h in r.heap:
        rows.append([h.reason, f"{h.time_seconds:.3f}", str(h.arenas), human_bytes(h.arena_bytes),
                     human_bytes(h.in_use_bytes), human_bytes(h.free_held_bytes), human_bytes(h.top_pad_bytes),
                     f"{h.mmapped_chunks:,}", human_bytes(h.mmapped_bytes)])
    return table("glibc heap state (mallinfo2 / malloc_info)",
                 ["when", "time s", "arenas", "from system", "in use", "free held", "top pad", "mmapped chunks",
                  "mmapped"], rows, right=(1, 2, 3, 4, 5, 6, 7, 8))


def resident_table(r: TraceReport):
    from .tables import table

    rows = []
    for j in r.resident:
        rows.append([j.reason, f"{j.time_seconds:.3f}", human_bytes(j.live_bytes), human_bytes(j.live_resident_bytes),
                     human_bytes(j.heap_resident_bytes), human_bytes(j.free_held_resident_bytes),
                     pct(j.free_held_resident_bytes, j.heap_resident_bytes)])
    return table("live blocks joined with resident pages (pagemap at the snapshot)",
                 ["snapshot", "time s", "live", "live resident", "heap+anon resident", "free-but-held resident",
                  "of resident"], rows, right=(1, 2, 3, 4, 5, 6))


def report_json(r: TraceReport) -> dict:
    from .jsonout import to_jsonable

    d = to_jsonable(r)
    assert isinstance(d, dict)
    return d
