"""Renderers for `memdive maps`: the mapping table, summaries, and the layout picture."""

from __future__ import annotations

import math

from ..maps import Layout, MapsSummary, kind_of
from ..models.process import Mapping
from .text import escape, human_bytes

_words_cache: dict[tuple[str, ...] | None, list[str]] = {}


def mapping_json(m: Mapping, exe: str | None) -> dict:
    d: dict[str, object] = dict(zip(Mapping._fields, m))      # all scalars (vmflags: a tuple, a JSON list)
    d["kind"] = kind_of(m, exe)
    d["length_bytes"] = m.end - m.start
    d["uss_bytes"] = m.uss_bytes if m.rss_bytes is not None else None
    words = _words_cache.get(m.vmflags)
    if words is None:
        words = _words_cache[m.vmflags] = list(m.vmflag_words)
    d["vmflag_words"] = words
    return d


def maps_json(pid: int, maps: list[Mapping], summary: MapsSummary, exe: str | None, layout: Layout | None) -> dict:
    from .jsonout import to_jsonable

    out = {"pid": pid, "exe": exe, "mappings": [mapping_json(m, exe) for m in maps],
           "summary": to_jsonable(summary)}
    if layout is not None:
        out["layout"] = to_jsonable(layout)
    return out


def _n(v: int | None) -> str:
    return human_bytes(v) if v is not None else "-"


def maps_table(maps: list[Mapping], exe: str | None, wide: bool = False):
    from .tables import table

    cols = ["Address", "Size", "Perm", "Kind", "RSS", "PSS", "USS", "Dirty", "Swap", "THP", "Lck", "Name"]
    rows: list[tuple[str, ...]] = []
    for m in maps:
        dirty = (m.private_dirty_bytes or 0) + (m.shared_dirty_bytes or 0) if m.rss_bytes is not None else None
        rows.append((f"{m.start:012x}-{m.end:012x}", human_bytes(m.length_bytes), m.perms, kind_of(m, exe),
                     _n(m.rss_bytes), _n(m.pss_bytes), _n(m.uss_bytes if m.rss_bytes is not None else None),
                     _n(dirty), _n(m.swap_bytes), _n(m.anon_huge_bytes), _n(m.locked_bytes),
                     escape(m.name, 200)))
    if wide:
        cols += ["Offset", "Dev", "Inode", "VmFlags"]
        rows = [r + (f"{m.offset:x}", m.dev, str(m.inode), " ".join(m.vmflags or ())) for r, m in zip(rows, maps)]
    return table(None, cols, rows, right=(1, 4, 5, 6, 7, 8, 9, 10))


def summary_tables(s: MapsSummary, top_files: int = 15):
    """Plain-text tables (report.tables): `memdive maps` without --layout never imports rich."""
    from .tables import table

    kind = table("By kind", ["Kind", "Maps", "Size", "RSS", "PSS", "USS", "Swap", "THP"],
                 [(g.key, g.count, human_bytes(g.size_bytes), human_bytes(g.rss_bytes), human_bytes(g.pss_bytes),
                   human_bytes(g.uss_bytes), human_bytes(g.swap_bytes), human_bytes(g.anon_huge_bytes))
                  for g in s.by_kind], right=range(1, 8),
                 footer=["total", s.totals.count, human_bytes(s.totals.size_bytes), human_bytes(s.totals.rss_bytes),
                         human_bytes(s.totals.pss_bytes), human_bytes(s.totals.uss_bytes),
                         human_bytes(s.totals.swap_bytes), human_bytes(s.totals.anon_huge_bytes)])
    files = table(f"By file (top {top_files} by RSS)", ["File", "Maps", "Size", "RSS", "PSS", "USS"],
                  [(escape(g.key, 100), g.count, human_bytes(g.size_bytes), human_bytes(g.rss_bytes),
                    human_bytes(g.pss_bytes), human_bytes(g.uss_bytes)) for g in s.by_file[:top_files]],
                  right=range(1, 6))
    p = s.perms
    perms = table("Virtual memory by permission", ["", "Virtual", "Resident"],
                  [("total mapped", human_bytes(p.total_bytes), human_bytes(s.totals.rss_bytes)),
                   ("readable", human_bytes(p.readable_bytes), human_bytes(p.readable_rss_bytes)),
                   ("writable", human_bytes(p.writable_bytes), human_bytes(p.writable_rss_bytes)),
                   ("executable", human_bytes(p.executable_bytes), human_bytes(p.executable_rss_bytes)),
                   ("shared", human_bytes(p.shared_bytes), "")], right=(1, 2))
    return kind, files, perms


_COLORS = {"text": "red", "data": "yellow", "bss": "bright_yellow", "heap": "green", "mmap": "blue",
           "stack": "magenta", "args": "cyan", "env": "cyan", "vdso": "white", "vvar": "white",
           "vsyscall": "white", "vvar_vclock": "white"}


def layout_text(lay: Layout, width: int = 40):
    """A scaled picture, high addresses on top: bar length ~ log2(size); gaps between segments shown."""
    from rich.text import Text

    t = Text()
    t.append(f"Address space layout of PID {lay.pid} (high addresses first; bar length ~ log2 size)\n",
             style="bold")
    if lay.addresses_hidden:
        t.append("  text/data/bss/args/env need ptrace access to the process (run as root or as its owner)\n",
                 style="italic")
    outer: list = []          # enclosing segments (args/env sit inside the stack mapping)
    prev = None
    for s in lay.segments:
        while outer and not (outer[-1].start <= s.start and s.end <= outer[-1].end):
            outer.pop()
        depth = len(outer)
        if depth == 0 and prev is not None and prev.start > s.end:
            t.append(f"{'':>18} {'':{width}}   ... gap {human_bytes(prev.start - s.end)}\n", style="dim")
        n = max(1, int(width * math.log2(max(s.size_bytes, 1)) / 47)) if s.size_bytes else 0
        t.append(f"{s.end:#018x} ")
        t.append("█" * n + " " * (width - n), style=_COLORS.get(s.name, "white"))
        label = ("  " * depth + ("└ " if depth else "") + s.name)
        t.append(f"  {label:<14} {human_bytes(s.size_bytes):>8}  {s.note}\n")
        t.append(f"{s.start:#018x}\n", style="dim")
        outer.append(s)
        if depth == 0:
            prev = s
    return t

