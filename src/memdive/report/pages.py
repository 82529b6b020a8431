"""Renderers for `memdive pages`, `phys`, `cache`, `wss` and `faults`: records in, text/JSON out."""

from __future__ import annotations

TYPE_CHECKING = False   # (typing costs 5 ms of `memdive cache` startup)

from .text import escape, human_bytes

if TYPE_CHECKING:   # the cache command must not pay for importing the page models
    from ..models.pagecache import CacheReport
    from ..models.pages import PageEntry, PageStats, PageWalk

# (column title, PageStats field)
_COLS = [("Present", "present_pages"), ("Swap", "swapped_pages"), ("Excl", "exclusive_pages"),
         ("File/Sh", "file_or_shared_pages"), ("SoftD", "soft_dirty_pages"), ("Zero", "zero_pages"),
         ("PMD", "pmd_mapped_pages"), ("THP", "thp_pages"), ("KSM", "ksm_pages"),
         ("Active", "lru_active_pages"), ("Inact", "lru_inactive_pages"), ("Ref", "referenced_pages"),
         ("Dirty", "dirty_pages"), ("Shared", "_shared")]


def _shared(s: PageStats) -> int | None:
    if s.mapcount_pages is None:
        return None
    return sum(v for k, v in s.mapcount_pages.items() if k not in ("0", "1"))


def _val(s: PageStats, f: str):
    return _shared(s) if f == "_shared" else getattr(s, f)


def _cols(w: PageWalk) -> list[tuple[str, str]]:
    # drop columns nothing measured (None everywhere) so the table says only what is known
    return [(t, f) for t, f in _COLS if _val(w.total, f) is not None]


def _fmt(v: int | None, page: int, pages: bool) -> str:
    if v is None:
        return "n/a"
    return str(v) if pages else human_bytes(v * page)


def walk_tables(w: PageWalk, pages: bool = False, top: int | None = None):
    from .tables import table

    cols = _cols(w)
    regs = [r for r in w.regions if r.stats.present_pages or r.stats.swapped_pages]
    regs.sort(key=lambda r: -r.stats.present_pages)
    hidden = len(regs) - top if top is not None and len(regs) > top else 0
    if top is not None:
        regs = regs[:top]
    regs.sort(key=lambda r: r.start)
    rows = [(f"{r.start:012x}-{r.end:012x}", human_bytes(r.end - r.start), r.perms, r.kind,
             *(_fmt(_val(r.stats, f), w.page_size_bytes, pages) for _, f in cols), escape(r.name, 60))
            for r in regs]
    foot = ["total", human_bytes(w.total.virtual_pages * w.page_size_bytes), "", "",
            *(_fmt(_val(w.total, f), w.page_size_bytes, pages) for _, f in cols), ""]
    title = (f"Pages of PID {w.pid} by mapping ({'pages' if pages else 'bytes'}; "
             f"{len(w.regions) - len(regs) - hidden} mappings with nothing resident not shown"
             + (f", {hidden} smaller ones hidden" if hidden else "") + ")")
    t = table(title, ["Range", "Size", "Perm", "Kind", *(c for c, _ in cols), "Name"], rows,
              right=range(4, 4 + len(cols)), footer=foot)
    return t


def histogram_table(w: PageWalk, limit: int = 25):
    from .tables import table

    if not w.histogram:
        return None
    rows = [(f"{h.flags:#018x}", h.pages, human_bytes(h.pages * w.page_size_bytes), h.symbol[:27],
             ",".join(h.names)) for h in w.histogram[:limit]]
    more = len(w.histogram) - limit
    return table(f"kpageflags combinations (page-types style){f'; {more} rarer not shown' if more > 0 else ''}",
                 ["Flags", "Pages", "Bytes", "Symbol", "Names"], rows, right=(1, 2))


def mapcount_line(w: PageWalk) -> str | None:
    mc = w.total.mapcount_pages
    if mc is None:
        return None
    return "Mapped by N processes (kpagecount): " + "  ".join(f"{k}: {v}" for k, v in mc.items())


def memcg_table(w: PageWalk):
    from .tables import table

    if not w.memcg_pages:
        return None
    return table("Pages by memory cgroup (kpagecgroup)", ["Cgroup", "Pages", "Bytes"],
                 [(escape(k, 100), v, human_bytes(v * w.page_size_bytes)) for k, v in w.memcg_pages.items()],
                 right=(1, 2))


def walk_header(w: PageWalk) -> str:
    return (f"PID {w.pid}: {w.total.present_pages} of {w.total.virtual_pages} pages present, "
            f"{w.total.swapped_pages} swapped; method {w.method}, detail {w.detail}, "
            f"{w.elapsed_seconds * 1e3:.0f} ms")


def entries_table(es: list[PageEntry]):
    from .tables import table

    rows = []
    for e in es:
        state = "present" if e.present else "swapped" if e.swapped else "-"
        bits = "".join(c if v else "." for c, v in (("x", e.exclusive), ("f", e.file_or_shared_anon),
                                                    ("d", e.soft_dirty), ("w", e.uffd_wp), ("g", e.guard)))
        pfn = (f"{e.pfn:#x}" if e.pfn is not None else ("hidden" if e.present else "")) if not e.swapped else \
            f"swap {e.swap_type}:{e.swap_offset:#x}"
        rows.append((f"{e.address:012x}", state, bits, pfn,
                     f"{e.phys_addr:#x}" if e.phys_addr is not None else "",
                     "" if e.mapcount is None else e.mapcount,
                     ",".join(e.flag_names) if e.flag_names is not None else "", escape(e.region, 40)))
    return table(None, ["Address", "State", "xfdwg", "PFN", "Phys", "Map#", "kpageflags", "Region"], rows,
                 right=(5,))


def cache_table(rep: CacheReport, top: int | None = None):
    from .tables import table

    fs = rep.files
    if top is not None:
        fs = sorted(fs, key=lambda f: -(f.cached_pages or 0))[:top]
    rows = []
    for f in fs:
        if f.cached_pages is None:
            rows.append((escape(f.path, 80), human_bytes(f.size_bytes), f.total_pages, "unknown", "", "", "",
                         f.method, escape(f.error or "", 120)))
            continue
        pct = f"{100.0 * f.cached_pages / f.total_pages:.1f}%" if f.total_pages else "-"
        rows.append((escape(f.path, 80), human_bytes(f.size_bytes), f.total_pages, f.cached_pages, pct,
                     "" if f.dirty_pages is None else f.dirty_pages,
                     "" if f.recently_evicted_pages is None else f.recently_evicted_pages, f.method, ""))
    pct = f"{100.0 * rep.cached_pages / rep.total_pages:.1f}%" if rep.total_pages else "-"
    return table(None, ["File", "Size", "Pages", "Cached", "%", "Dirty", "RecEvict", "Method", "Note"], rows,
                 right=(1, 2, 3, 4, 5, 6),
                 footer=[f"{len(rep.files)} files", "", rep.total_pages, rep.cached_pages, pct,
                         "" if rep.dirty_pages is None else rep.dirty_pages, "", "", ""])


def cache_summary(rep: CacheReport) -> str:
    s = (f"Resident: {rep.cached_pages}/{rep.total_pages} pages "
         f"({human_bytes(rep.cached_pages * rep.page_size_bytes)} of "
         f"{human_bytes(rep.total_pages * rep.page_size_bytes)})")
    hint = ""
    if rep.unknown_files:
        s += f"; {rep.unknown_files} files unknown (not counted)"
        if any(f.error and ("refused" in f.error or "not trusted" in f.error) for f in rep.files):
            from ..pages.cache import UNKNOWN_HINT

            hint = f"\nhint: {UNKNOWN_HINT}"
    if rep.skipped:
        s += f"; {rep.skipped} non-regular entries skipped"
    if rep.unreadable_dirs:
        s += (f"; {len(rep.unreadable_dirs)} directories could not be read, their files not counted "
              f"({rep.unreadable_dirs[0]}{', ...' if len(rep.unreadable_dirs) > 1 else ''}; root or their "
              f"owner can read them)")
    return s + f"; {rep.elapsed_seconds * 1e3:.1f} ms" + hint


def cache_text(rep: CacheReport, top: int | None = None) -> str:
    """The cache table as plain aligned text (no rich: `memdive cache` must start fast)."""
    fs = rep.files
    if top is not None and len(fs) > top:
        fs = sorted(fs, key=lambda f: -(f.cached_pages or 0))[:top]
    head = ("File", "Size", "Pages", "Cached", "%", "Dirty", "RecEvict", "Method", "Note")
    rows = []
    for f in fs:
        if f.cached_pages is None:
            rows.append((escape(f.path, 80), human_bytes(f.size_bytes), str(f.total_pages), "unknown", "", "", "",
                         f.method, escape(f.error or "", 160)))
            continue
        pct = f"{100.0 * f.cached_pages / f.total_pages:.1f}%" if f.total_pages else "-"
        rows.append((escape(f.path, 80), human_bytes(f.size_bytes), str(f.total_pages), str(f.cached_pages), pct,
                     "" if f.dirty_pages is None else str(f.dirty_pages),
                     "" if f.recently_evicted_pages is None else str(f.recently_evicted_pages), f.method, ""))
    pct = f"{100.0 * rep.cached_pages / rep.total_pages:.1f}%" if rep.total_pages else "-"
    foot = (f"{len(rep.files)} files", "", str(rep.total_pages), str(rep.cached_pages), pct,
            "" if rep.dirty_pages is None else str(rep.dirty_pages), "", "", "")
    allrows = [head, *rows, foot]
    w = [max(len(r[i]) for r in allrows) for i in range(len(head))]
    right = {1, 2, 3, 4, 5, 6}
    lines = ["  ".join((c.rjust(w[i]) if i in right else c.ljust(w[i])) for i, c in enumerate(r)).rstrip()
             for r in allrows]
    return "\n".join(lines) + "\n" + cache_summary(rep)
