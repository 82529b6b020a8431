"""Address space analysis: mapping kinds, summaries by kind and by file, r/w/x totals, layout."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .models.process import COUNTER_FIELDS, Mapping, Stat

KINDS = ("program", "library", "file", "deleted", "heap", "stack", "anon", "named-anon",
         "shmem", "memfd", "vdso", "special")

_SO = re.compile(r"\.so(\.[0-9.]+)?$|\.so$|/ld-linux[^/]*$")
_VDSO = {"[vdso]", "[vvar]", "[vsyscall]", "[vvar_vclock]", "[uprobes]"}


def kind_of(m: Mapping, exe: str | None = None) -> str:
    """What a mapping is, from its name, device and inode (as pmap and smem users name them)."""
    n = m.name
    if not n:
        return "anon"
    if n == "[heap]":
        return "heap"
    if n.startswith("[stack"):
        return "stack"
    if n in _VDSO:
        return "vdso"
    if n.startswith(("[anon:", "[anon_shmem:")):
        return "named-anon" if n.startswith("[anon:") else "shmem"
    if n.startswith("["):
        return "special"
    if n.startswith("/memfd:"):
        return "memfd"
    if n.startswith(("/dev/shm/", "/SYSV", "/dev/zero")) or n == "[shmem]":
        return "shmem"
    if n.endswith(" (deleted)"):
        return "deleted"
    if exe and n == exe:
        return "program"
    if _SO.search(n):
        return "library"
    return "file"


@dataclass(frozen=True, slots=True)
class Group:
    """Totals over a set of mappings (by kind or by file)."""

    key: str
    count: int
    size_bytes: int
    rss_bytes: int
    pss_bytes: int
    uss_bytes: int
    swap_bytes: int
    swap_pss_bytes: int
    anon_huge_bytes: int
    locked_bytes: int


def _sum(col) -> int:
    return sum(v for v in col if v is not None)


def group(key: str, maps: list[Mapping]) -> Group:
    if not maps:
        return Group(key, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    c = dict(zip(Mapping._fields, zip(*maps)))     # columns: one pass per counter, no getattr per record
    return Group(key=key, count=len(maps), size_bytes=sum(c["end"]) - sum(c["start"]),
                 rss_bytes=_sum(c["rss_bytes"]), pss_bytes=_sum(c["pss_bytes"]),
                 uss_bytes=_sum(c["private_clean_bytes"]) + _sum(c["private_dirty_bytes"])
                 + _sum(c["private_hugetlb_bytes"]),
                 swap_bytes=_sum(c["swap_bytes"]), swap_pss_bytes=_sum(c["swap_pss_bytes"]),
                 anon_huge_bytes=_sum(c["anon_huge_bytes"]), locked_bytes=_sum(c["locked_bytes"]))


@dataclass(frozen=True, slots=True)
class PermTotals:
    """The seed's analyze_memory_regions: virtual size by permission (and resident size)."""

    total_bytes: int
    readable_bytes: int
    writable_bytes: int
    executable_bytes: int
    shared_bytes: int
    readable_rss_bytes: int
    writable_rss_bytes: int
    executable_rss_bytes: int


@dataclass(frozen=True, slots=True)
class MapsSummary:
    by_kind: list[Group]
    by_file: list[Group]
    perms: PermTotals
    totals: Group
    counters: dict[str, int | None] = field(default_factory=dict)  # every smaps counter summed


def summarize(maps: list[Mapping], exe: str | None = None) -> MapsSummary:
    kinds: dict[str, list[Mapping]] = {}
    files: dict[str, list[Mapping]] = {}
    for m in maps:
        k = kind_of(m, exe)
        kinds.setdefault(k, []).append(m)
        if k in ("program", "library", "file", "deleted", "memfd", "shmem") and m.name and not m.name.startswith("["):
            files.setdefault(m.name, []).append(m)
    by_kind = sorted((group(k, v) for k, v in kinds.items()), key=lambda g: -g.rss_bytes)
    by_file = sorted((group(k, v) for k, v in files.items()), key=lambda g: -g.rss_bytes)

    def perm(i: int, ch: str, rss: bool = False) -> int:
        return sum(((m.rss_bytes or 0) if rss else m.end - m.start) for m in maps if m.perms[i] == ch)

    perms = PermTotals(
        total_bytes=sum(m.end - m.start for m in maps),
        readable_bytes=perm(0, "r"), writable_bytes=perm(1, "w"),
        executable_bytes=perm(2, "x"), shared_bytes=perm(3, "s"),
        readable_rss_bytes=perm(0, "r", True), writable_rss_bytes=perm(1, "w", True),
        executable_rss_bytes=perm(2, "x", True),
    )
    counters: dict[str, int | None] = {}
    cols = dict(zip(Mapping._fields, zip(*maps))) if maps else {}
    for name in COUNTER_FIELDS:
        vals = [v for v in cols.get(name, ()) if v is not None]
        counters[name] = sum(vals) if vals else None
    return MapsSummary(by_kind=by_kind, by_file=by_file, perms=perms, totals=group("total", maps),
                       counters=counters)


def select(maps: list[Mapping], *, kinds: set[str] | None = None, min_bytes: int = 0,
           sort: str | None = None, exe: str | None = None) -> list[Mapping]:
    """Filter by kind and minimum size (virtual), sort by rss|pss|swap|size (descending) or address."""
    out = [m for m in maps if (not kinds or kind_of(m, exe) in kinds) and m.length_bytes >= min_bytes]
    keys = {"rss": lambda m: m.rss_bytes or 0, "pss": lambda m: m.pss_bytes or 0,
            "swap": lambda m: m.swap_bytes or 0, "size": lambda m: m.length_bytes,
            "uss": lambda m: m.uss_bytes}
    if sort:
        out.sort(key=keys[sort], reverse=True)
    return out


# --- layout: the seed's print_memory_layout for any process --------------------------------------

@dataclass(frozen=True, slots=True)
class Segment:
    name: str          # text, data, bss, heap, mmap, stack, args, env, vdso
    start: int
    end: int
    note: str = ""

    @property
    def size_bytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Layout:
    pid: int
    segments: list[Segment]       # by end address, high to low; a contained segment follows its container
    addresses_hidden: bool        # stat's code/data/stack fields read 0 (no ptrace access)


def _containing(maps: list[Mapping], addr: int) -> Mapping | None:
    for m in maps:
        if m.start <= addr < m.end:
            return m
    return None


def layout(maps: list[Mapping], stat: Stat) -> Layout:
    """Segments from /proc/PID/stat's start_code..env_end and the mappings (heap, stack, mmap area)."""
    segs: list[Segment] = []
    hidden = stat.start_code == 0 and stat.end_code == 0 and stat.start_stack == 0
    if not hidden and stat.end_code > stat.start_code:
        segs.append(Segment("text", stat.start_code, stat.end_code, "start_code..end_code"))
    if not hidden and stat.end_data > stat.start_data:
        segs.append(Segment("data", stat.start_data, stat.end_data, "start_data..end_data"))
        # bss: from end_data to the end of the writable anonymous tail of the data mapping(s).
        m = _containing(maps, stat.end_data - 1)
        bss_end = m.end if m else stat.end_data
        nxt = [x for x in maps if x.start == bss_end and not x.name and x.writable]
        if nxt:
            bss_end = nxt[0].end
        if bss_end > stat.end_data:
            segs.append(Segment("bss", stat.end_data, bss_end, "end_data..end of the data mapping (incl. page tail)"))
    heap = [m for m in maps if m.name == "[heap]"]
    if heap:
        start = stat.start_brk if (not hidden and stat.start_brk) else heap[0].start
        segs.append(Segment("heap", start, heap[-1].end, "start_brk..brk"))
    elif not hidden and stat.start_brk:
        segs.append(Segment("heap", stat.start_brk, stat.start_brk, "start_brk (empty heap)"))
    stack = [m for m in maps if m.name == "[stack]"]
    heap_end = heap[-1].end if heap else (stat.start_brk or 0)
    stack_start = stack[0].start if stack else max((m.end for m in maps), default=0)
    mm = [m for m in maps if heap_end <= m.start and m.end <= stack_start and m.name not in _VDSO
          and m.name != "[heap]"]
    if mm:
        segs.append(Segment("mmap", min(m.start for m in mm), max(m.end for m in mm),
                            f"{len(mm)} mappings: libraries, anonymous mmap, files"))
    if stack:
        segs.append(Segment("stack", stack[0].start, stack[0].end,
                            f"start_stack={stat.start_stack:#x}" if not hidden else ""))
    if not hidden and stat.arg_end > stat.arg_start:
        segs.append(Segment("args", stat.arg_start, stat.arg_end, "argv strings"))
    if not hidden and stat.env_end > stat.env_start:
        segs.append(Segment("env", stat.env_start, stat.env_end, "environment strings"))
    for m in maps:
        if m.name in _VDSO:
            segs.append(Segment(m.name.strip("[]"), m.start, m.end))
    # High addresses first; a segment inside another (args and env inside the stack mapping,
    # the vdso inside the mmap area) comes right after its container.
    segs.sort(key=lambda s: (s.end, s.size_bytes), reverse=True)
    return Layout(pid=stat.pid, segments=segs, addresses_hidden=hidden)
