"""From a Trace to a report: totals, peak and when, leaks, call sites, heap state, the resident join.

Everything is vectorised over the event array (numpy): frees are matched to allocations by sorting
heap events by (address, time); the heap curve is a cumulative sum of signed sizes.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass

import numpy as np

from ..models.trace import CallSite, HeapInfo, ResidentJoin, TraceReport
from . import reader as R
from .symbolize import Maps, Symbolizer

# libc functions that allocate on the caller's behalf: a block they return is the caller's to free
_ON_BEHALF = re.compile(r"^(strn?dup|v?asprintf|getline|getdelim|open_memstream|open_wmemstream|realpath|"
                        r"scandir|backtrace_symbols|tempnam|get_current_dir_name|getcwd|wcsdup|fopen|fdopen|"
                        r"fopencookie|opendir|fdopendir|popen|newlocale|duplocale|regcomp|glob|getaddrinfo|"
                        r"tsearch|hcreate|setenv|putenv|strerror|dlopen|dlerror|qsort)")
_RUNTIME = ("libc.so", "ld-linux", "libpthread", "libdl.so", "libmemdive_shim")


def _plain(fn: str) -> str:
    """glibc's internal aliases -> the public name: __GI___strdup, _IO_new_fopen, __libc_calloc -> strdup..."""
    fn = fn.split("(", 1)[0]
    for pre in ("__GI_", "_IO_new_", "__libc_", "__"):
        fn = fn.removeprefix(pre)
    return fn.lstrip("_")


@dataclass
class Analysis:
    """Intermediate arrays kept for the flame graph and timeline renderers."""
    report: TraceReport
    trace: R.Trace
    symbolizer: Symbolizer
    timeline_s: np.ndarray       # seconds
    timeline_heap: np.ndarray    # live requested bytes (heap + program mmaps)
    site_peak: dict[int, int]    # stack id -> bytes live at peak
    site_leaked: dict[int, int]  # stack id -> bytes leaked (not runtime-internal)
    internal_sites: set[int]


def report(path: str, top: int = 10) -> Analysis:
    return analyze(R.load(path), top=top)


def _heap(ev: np.ndarray):
    func = ev["func"]
    is_alloc = np.isin(func, R.ALLOC_FUNCS)
    is_free = np.isin(func, R.FREE_FUNCS)
    is_map = np.isin(func, R.MAP_FUNCS)
    is_unmap = np.isin(func, R.UNMAP_FUNCS)
    n = ev.size
    size = ev["size"].astype(np.int64)
    delta = np.zeros(n, np.int64)
    freed_at = np.full(n, -1, np.int64)
    # heap blocks: a free matches the previous event at the same address if that was an allocation
    h = np.flatnonzero(is_alloc | is_free)
    if h.size:
        order = h[np.lexsort((h, ev["addr"][h]))]
        a = ev["addr"][order]
        k = is_alloc[order]
        m = (a[1:] == a[:-1]) & k[:-1] & ~k[1:]
        al, fr = order[:-1][m], order[1:][m]
        freed_at[al] = fr
        delta[is_alloc] = size[is_alloc]
        delta[fr] = -size[al]
    # the program's own mmaps: intervals, partial munmap allowed (few events: a plain loop)
    mp = np.flatnonzero(is_map | is_unmap)
    remaining: dict[int, int] = {}   # mmap event -> bytes of it still mapped at the end
    if mp.size:
        starts: list[int] = []
        regions: dict[int, list[int]] = {}     # start -> [end, event index]
        addr, sz = ev["addr"], ev["size"]
        for i in mp.tolist():
            lo, hi = int(addr[i]), int(addr[i]) + int(sz[i])
            if is_map[i]:
                j = bisect.bisect_left(starts, lo)
                starts.insert(j, lo)
                regions[lo] = [hi, i]
                delta[i] += hi - lo
                continue
            hi = lo + ((int(sz[i]) + 4095) & ~4095)
            j = max(bisect.bisect_right(starts, lo) - 1, 0)
            while j < len(starts) and starts[j] < hi:
                s = starts[j]
                e, owner = regions[s]
                ov = min(e, hi) - max(s, lo)
                if ov <= 0:
                    j += 1
                    continue
                delta[i] -= ov
                del starts[j]
                del regions[s]
                if s < lo:        # keep the head
                    starts.insert(j, s)
                    regions[s] = [lo, owner]
                    j += 1
                if e > hi:        # keep the tail (same owner)
                    k2 = bisect.bisect_left(starts, hi)
                    starts.insert(k2, hi)
                    regions[hi] = [e, owner]
                    if k2 <= j:
                        j += 1
                if s >= lo and e <= hi:
                    freed_at[owner] = i if freed_at[owner] < 0 else freed_at[owner]
        # mapped regions that survive: owners stay live (freed_at -1); partly unmapped ones count as live
        for s0, (e0, o) in regions.items():
            remaining[o] = remaining.get(o, 0) + e0 - s0
        for o in remaining:
            freed_at[o] = -1
    return is_alloc, is_free, is_map, delta, freed_at, remaining


def _temporary(ev: np.ndarray, is_alloc: np.ndarray, freed_at: np.ndarray) -> np.ndarray:
    """heaptrack's temporary allocation: freed with no other allocation in between, in the same thread."""
    n = ev.size
    if not n:
        return np.zeros(0, bool)
    order = np.lexsort((np.arange(n), ev["thread"]))
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    al = np.flatnonzero(is_alloc & (freed_at >= 0))
    fr = freed_at[al]
    ok = (ev["thread"][fr] == ev["thread"][al]) & (pos[fr] == pos[al] + 1)
    out = np.zeros(n, bool)
    out[al[ok]] = True
    return out


def _site_sums(stack: np.ndarray, mask: np.ndarray, weights: np.ndarray | None = None) -> dict[int, int]:
    s = stack[mask]
    if not s.size:
        return {}
    u, inv = np.unique(s, return_inverse=True)
    tot = np.bincount(inv, weights=None if weights is None else weights[mask].astype(np.float64), minlength=u.size)
    return {int(k): int(v) for k, v in zip(u, tot)}


def _resident(snap: R.Snapshot, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Resident bytes of each block [lo, hi), total resident bytes in the snapshot ranges, and the resident
    bytes no live block occupies (free but held, allocator metadata included)."""
    res = np.zeros(lo.size, np.int64)
    if not snap.ranges.size or not lo.size:
        tot = int(sum(int(b.sum()) for b in snap.bits)) * 4096
        return res, tot, tot
    starts = snap.ranges[:, 0].astype(np.int64)
    ends = snap.ranges[:, 1].astype(np.int64)
    offs = np.zeros(len(snap.bits) + 1, np.int64)
    for i, b in enumerate(snap.bits):
        offs[i + 1] = offs[i] + b.size
    present = np.concatenate(snap.bits) if snap.bits else np.zeros(0, bool)
    cum = np.concatenate([[0], np.cumsum(present, dtype=np.int64)])
    lo = lo.astype(np.int64)
    hi = hi.astype(np.int64)
    r = np.searchsorted(starts, lo, side="right") - 1
    ok = (r >= 0) & (hi > lo)
    ok &= np.where(r >= 0, hi <= ends[np.maximum(r, 0)], False)
    idx = np.flatnonzero(ok)
    if idx.size:
        rr = r[idx]
        base = starts[rr]
        p0 = (lo[idx] - base) // 4096
        p1 = (hi[idx] - 1 - base) // 4096
        g0 = offs[rr] + p0
        g1 = offs[rr] + p1
        full = (cum[g1 + 1] - cum[g0]) * 4096
        # trim the partial first and last pages
        head = (lo[idx] - base) - p0 * 4096
        tail = (p1 + 1) * 4096 - (hi[idx] - base)
        full -= np.where(present[g0], head, 0)
        full -= np.where(present[g1], tail, 0)
        res[idx] = full
    total = int(present.sum()) * 4096
    # resident bytes no live block occupies (free chunks, allocator metadata, slack): free-but-held in RSS
    held = max(total - int(res[idx].sum()), 0) if idx.size else total
    return res, total, held


def _mallinfo(tr: R.Trace) -> list[HeapInfo]:
    out = []
    infos = {ts: raw for ts, raw in tr.malloc_info}
    for ts, v, reason in tr.mallinfo:
        arena, ordblks, _smblks, hblks, hblkhd, _usm, fsmblks, uord, ford, keep = v
        xml = infos.get(ts)
        if xml is None and tr.malloc_info:
            xml = min(tr.malloc_info, key=lambda t: abs(t[0] - ts))[1]
        arenas = xml.count(b"<heap nr=") if xml else 0
        out.append(HeapInfo(reason=R.REASONS.get(reason, str(reason)), time_seconds=ts / 1e9, arena_bytes=arena,
                            in_use_bytes=uord, free_held_bytes=ford, top_pad_bytes=keep, mmapped_bytes=hblkhd,
                            mmapped_chunks=hblks, free_chunks=ordblks, fastbin_bytes=fsmblks, arenas=arenas,
                            allocator=tr.allocator))
    return out


def analyze(tr: R.Trace, top: int = 10) -> Analysis:
    ev = tr.events
    n = ev.size
    is_alloc, is_free, is_map, delta, freed_at, remaining = _heap(ev)
    curve = np.cumsum(delta) if n else np.zeros(0, np.int64)
    heap_only = np.cumsum(np.where(is_alloc | is_free, delta, 0)) if n else curve
    peak_i = int(np.argmax(heap_only)) if n else -1
    peak = int(heap_only[peak_i]) if n else 0
    peak_ts = int(ev["ts"][peak_i]) if n else 0
    mmap_curve = curve - heap_only
    idx = np.arange(n)
    live_at_peak = is_alloc & (idx <= peak_i) & ((freed_at < 0) | (freed_at > peak_i))
    leaked = (is_alloc | is_map) & (freed_at < 0)
    temp = _temporary(ev, is_alloc, freed_at)
    stack = ev["stack"]
    size = ev["size"]
    leak_size = size.astype(np.int64)           # what is left of each block at the end: a partly unmapped
    for o, b in remaining.items():              # mmap region counts its remaining bytes
        leak_size[o] = b

    maps = Maps(tr.maps)
    sym = Symbolizer(maps)
    # runtime-internal blocks (stdio buffers, locale, loader): every frame in libc/ld.so, or the innermost
    # non-allocator frame is a libc function that does not allocate on the caller's behalf
    leak_stacks = np.unique(stack[leaked & is_alloc])
    internal: set[int] = set()
    first = dict(zip(leak_stacks.tolist(), tr.stacks.first_frames(leak_stacks).tolist()))
    verdict: dict[tuple[int, ...], bool] = {}
    runtime_obj: dict[str, bool] = {}

    def in_runtime(addr: int) -> bool:
        m = maps.find(addr)
        name = m[3] if m else ""
        r = runtime_obj.get(name)
        if r is None:
            r = runtime_obj[name] = any(x in name for x in _RUNTIME)
        return r

    pending: list[tuple[int, tuple[int, ...]]] = []
    for sid in leak_stacks.tolist():
        a0 = first.get(sid)
        if not a0 or not in_runtime(a0):
            continue  # allocated directly by the program or a library: a leak if never freed
        pcs = tr.stacks[sid]
        inner = []
        for a in pcs:
            if not in_runtime(a):
                break
            inner.append(a)
        if len(inner) == len(pcs):
            internal.add(sid)  # every frame in libc or the loader
        else:
            pending.append((sid, tuple(inner[:8])))
    sym.resolve({a for _sid, key in pending for a in key})   # one addr2line run per object
    for sid, key in pending:
        v = verdict.get(key)
        if v is None:
            fns = [f.function for f in sym.stack(key)]
            v = verdict[key] = not any(_ON_BEHALF.match(_plain(fn)) for fn in fns)
        if v:
            internal.add(sid)
    internal_arr = np.isin(stack, np.fromiter(internal, np.uint32, len(internal))) if internal else np.zeros(n, bool)
    real_leak = leaked & ~internal_arr

    calls = {}
    counts = np.bincount(ev["func"], minlength=len(R.FUNCS)) if n else np.zeros(len(R.FUNCS), np.int64)
    for f, name in enumerate(R.FUNCS):
        if f and counts[f]:
            calls[name] = int(counts[f])
    zero = int(((ev["func"] == 4) & ((ev["flags"] & 1) == 1)).sum()) if n else 0
    if zero:
        calls["realloc(p, 0)"] = zero

    alloc_mask = is_alloc | is_map
    site_count = _site_sums(stack, alloc_mask)
    site_bytes = _site_sums(stack, alloc_mask, size)
    site_peak = _site_sums(stack, live_at_peak, size)
    site_peak_n = _site_sums(stack, live_at_peak)
    site_leak = _site_sums(stack, real_leak, leak_size)
    site_leak_n = _site_sums(stack, real_leak)
    site_temp = _site_sums(stack, temp)
    map_sites = set(np.unique(stack[is_map]).tolist()) if n else set()

    # the resident join: peak (the snapshot nearest the peak) and exit
    resident: list[ResidentJoin] = []
    res_peak: dict[int, int] = {}
    res_exit: dict[int, int] = {}
    snaps = tr.snapshots
    chosen: list[tuple[str, R.Snapshot]] = []
    if snaps and n:
        # the snapshot where the live heap was largest (nearest the peak in time among equals)
        def heap_at(sn: R.Snapshot) -> int:
            i = int(np.searchsorted(ev["ts"], sn.ts_ns + 1, side="right")) - 1
            return int(heap_only[i]) if i >= 0 else 0

        chosen.append(("peak", max(snaps, key=lambda sn: (heap_at(sn), -abs(sn.ts_ns - peak_ts)))))
    exits = [s for s in snaps if s.reason == "exit"]
    if exits:
        chosen.append(("exit", exits[-1]))
    for label, s in chosen:
        at = int(np.searchsorted(ev["ts"], s.ts_ns + 1, side="right")) - 1 if n else -1
        live = (is_alloc | is_map) & (idx <= at) & ((freed_at < 0) | (freed_at > at))
        li = np.flatnonzero(live)
        lo = ev["addr"][li]
        hi = lo + ev["size"][li]
        rb, total, held = _resident(s, lo, hi)
        if li.size:
            u, inv = np.unique(stack[li], return_inverse=True)
            sums = np.bincount(inv, weights=rb.astype(np.float64), minlength=u.size)
            d = {int(k): int(v) for k, v in zip(u, sums)}
        else:
            d = {}
        (res_peak if label == "peak" else res_exit).update(d)
        resident.append(ResidentJoin(reason=label, time_seconds=s.ts_ns / 1e9, live_bytes=int(size[li].sum()),
                                     live_resident_bytes=int(rb.sum()), heap_resident_bytes=total,
                                     free_held_resident_bytes=held))

    has_peak = any(label == "peak" for label, _s in chosen)
    has_exit = any(label == "exit" for label, _s in chosen)

    # Call sites are stacks merged by where they are in the source: an unrolled loop or a function
    # inlined twice gives several return addresses for one line. Candidates: the top 5N of each table.
    heap_ids = set(np.unique(stack[is_alloc]).tolist()) if n else set()
    count_heap = {k: v for k, v in site_count.items() if k in heap_ids}
    tables = (site_peak, site_leak, count_heap)
    cands: set[int] = set()
    for d in tables:
        cands.update(sid for sid, v in sorted(d.items(), key=lambda kv: -kv[1])[:5 * top] if v > 0)
    sym.resolve({a for sid in cands for a in tr.stacks.get(sid, ())})   # one addr2line batch per object
    groups: dict[tuple, list[int]] = {}
    for sid in cands:
        pcs = tr.stacks.get(sid, ())
        frames = sym.stack(pcs) if pcs else ()
        where: tuple = tuple((f.function, f.file, f.line) if f.file else (f.function, f.object, f.address)
                             for f in frames) or (("#", sid),)
        groups.setdefault(where, []).append(sid)

    def merged(sids: list[int]) -> CallSite:
        def tot(d: dict[int, int]) -> int:
            return sum(d.get(x, 0) for x in sids)

        rep = max(sids, key=lambda x: (site_peak.get(x, 0), site_leak.get(x, 0), site_count.get(x, 0)))
        pcs = tr.stacks.get(rep, ())
        return CallSite(stack_id=rep, frames=sym.stack(pcs) if pcs else (), allocations=tot(site_count),
                        allocated_bytes=tot(site_bytes), peak_bytes=tot(site_peak), peak_count=tot(site_peak_n),
                        leaked_bytes=tot(site_leak), leaked_count=tot(site_leak_n), temporary=tot(site_temp),
                        resident_peak_bytes=tot(res_peak) if has_peak else None,
                        resident_exit_bytes=tot(res_exit) if has_exit else None,
                        internal=all(x in internal for x in sids), mmap=any(x in map_sites for x in sids),
                        stacks=len(sids))

    sites = [merged(sids) for sids in groups.values()]

    def topn(key) -> list[CallSite]:
        return sorted((c for c in sites if key(c) > 0), key=lambda c: -key(c))[:top]

    by_peak = topn(lambda c: c.peak_bytes)
    by_leak = topn(lambda c: c.leaked_bytes)
    by_count = [c for c in topn(lambda c: c.allocations) if c.stack_id in heap_ids]

    warnings = []
    if not tr.complete:
        warnings.append("the program did not exit normally (killed, abort, _exit or a fatal signal): the trace "
                        "holds everything recorded up to then; 'leaked' means still allocated at that moment")
    if tr.truncated:
        warnings.append("the trace file ends mid-chunk: read up to the last whole record")
    if stack.size and (stack == 0).any() and is_alloc.any() and (stack[is_alloc] == 0).mean() > 0.01:
        warnings.append("some allocations have no stack (stack table full or unwinding failed)")
    duration = max(tr.end_ns, int(ev["ts"][-1]) if n else 0) / 1e9
    # timeline (bounded to ~4000 points: the max of each bucket keeps the peaks)
    ts = ev["ts"].astype(np.float64) / 1e9 if n else np.zeros(0)
    if n > 4000:
        edges = np.linspace(0, n, 4001).astype(np.int64)
        tl_s = ts[edges[1:] - 1]
        tl_h = np.maximum.reduceat(curve, edges[:-1])
    else:
        tl_s, tl_h = ts, curve
    rep = TraceReport(
        path=tr.path, pid=tr.pid, command=tr.cmdline, exe=tr.exe, allocator=tr.allocator, complete=tr.complete,
        truncated=tr.truncated, duration_seconds=duration, threads=len(tr.threads) or len(np.unique(ev["thread"])),
        events=int(n), calls=calls, allocations=int(is_alloc.sum()), allocated_bytes=int(size[is_alloc].sum()),
        temporary=int(temp.sum()), frees=int(is_free.sum()), peak_bytes=peak, peak_time_seconds=peak_ts / 1e9,
        leaked_count=int((real_leak & is_alloc).sum()), leaked_bytes=int(size[real_leak & is_alloc].sum()),
        internal_count=int((leaked & internal_arr).sum()), internal_bytes=int(size[leaked & internal_arr].sum()),
        mmap_peak_bytes=int(mmap_curve.max()) if n else 0,
        mmap_leaked_bytes=int(leak_size[real_leak & is_map].sum()),
        rss_peak_bytes=max((r for _t, r, _s in tr.rss), default=None),
        sites_by_peak=by_peak, sites_by_leaked=by_leak, sites_by_count=by_count, heap=_mallinfo(tr),
        resident=resident, warnings=warnings)
    return Analysis(report=rep, trace=tr, symbolizer=sym, timeline_s=tl_s, timeline_heap=tl_h,
                    site_peak=site_peak, site_leaked=site_leak, internal_sites=internal)


__all__ = ["Analysis", "analyze", "os", "report"]
