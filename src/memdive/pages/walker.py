"""Walk every page of a process: pagemap (or PAGEMAP_SCAN), joined with kpageflags/kpagecount/
kpagecgroup when privileged. Bulk work is numpy; buffers stay bounded (BATCH_PAGES entries at a
time, ~40 MiB of working arrays) whatever the size of the process.

Methods: "scan" uses PAGEMAP_SCAN (Linux 6.7+) to find present/swapped runs (and zero-page and
PMD-mapped pages) without touching the holes, then reads pagemap only for those runs; "read"
reads pagemap for every page of every mapping. "auto" scans where the kernel can.

Detail: "scan" (PAGEMAP_SCAN only: present, swapped, zero, PMD-mapped), "pagemap" (+ exclusive,
file/shared, soft-dirty, uffd-wp, guard), "kpage" (+ kpageflags, kpagecount, kpagecgroup; root).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from ..errors import AccessDenied, InvalidInput, KernelFeatureMissing, MemdiveError
from ..kernel import kpage as kp
from ..kernel import pagemap as pm
from ..kernel import procfs
from ..kernel.root import KernelRoot, resolve
from ..maps import kind_of
from ..models.pages import FlagCombo, PageEntry, PageStats, PageWalk, RegionPages
from ..models.process import Mapping

BATCH_PAGES = 1 << 16          # 512 KiB of pagemap entries per batch: stays in L2 between the read and
                               # the counting (3x faster than 4 MiB batches on THP-backed memory)
USER_END = 0x7FFFFFFFF000      # x86_64 TASK_SIZE ([vsyscall] above it is not in pagemap)

# Bits of the 9-bit index entry >> 55 (entry bits 55..63).
_TOP = {"present_pages": 8, "swapped_pages": 7, "file_or_shared_pages": 6, "guard_pages": 3,
        "uffd_wp_pages": 2, "exclusive_pages": 1, "soft_dirty_pages": 0}
_TOP_NAMES = tuple(_TOP)
_TOP_MATRIX = np.array([[(b >> k) & 1 for k in _TOP.values()] for b in range(512)], dtype=np.int64)

# kpageflags bits counted per region (lru_active/inactive derived from lru+active).
_KBITS = {"thp_pages": 22, "ksm_pages": 21, "referenced_pages": 2, "dirty_pages": 4, "anon_pages": 12,
          "swapcache_pages": 13, "unevictable_pages": 18, "mlocked_pages": 33, "writeback_pages": 8,
          "idle_pages": 25, "zero_pages": 24, "_lru": 5, "_active": 6}
_KNAMES = tuple(_KBITS)
_KSHIFTS = np.array(list(_KBITS.values()), dtype=np.uint64)
MAPCOUNT_BINS = 9              # 0..7 and 8+
_CAT_MATRIX = np.array([[(c >> k) & 1 for k in range(4)] for c in range(16)], dtype=np.float64)
DENSE_FRACTION = 0.25          # "auto": above this share of present+swapped pages, read pagemap whole


def _maker(cls):
    """A keyword constructor for a frozen slots dataclass that fills the slots through their
    descriptors: the dataclass __init__ calls object.__setattr__ by name once per field (5.6 us for
    a PageStats, 2.6 us this way), and a walk builds one record per mapping. Defaults must be
    immutable (None); the result equals what cls(**kw) builds (tested)."""
    import dataclasses

    fs = dataclasses.fields(cls)
    assert all(f.default_factory is dataclasses.MISSING and (f.default is dataclasses.MISSING
                                                             or f.default is None) for f in fs)
    env = {"_new": object.__new__, "_cls": cls}
    env.update({f"_s{i}": getattr(cls, f.name).__set__ for i, f in enumerate(fs)})
    params = ", ".join(f.name if f.default is dataclasses.MISSING else f"{f.name}=None" for f in fs)
    body = "".join(f"    _s{i}(o, {f.name})\n" for i, f in enumerate(fs))
    exec(f"def make(*, {params}):\n    o = _new(_cls)\n{body}    return o\n", env)  # noqa: S102 (as dataclasses does)
    return env["make"]


_new_stats = _maker(PageStats)
_new_region = _maker(RegionPages)


def _top9(e: np.ndarray) -> np.ndarray:
    if sys.byteorder == "little" and e.dtype == np.uint64 and e.flags.c_contiguous:
        return e.view(np.uint16)[3::4] >> 7          # the high 16 bits, shifted: no 64-bit shift
    return (e >> np.uint64(55)).astype(np.uint16)


class _Acc:
    """Per-region accumulators."""

    def __init__(self, n: int, kpage: bool, pagemap: bool = True):
        self.top = np.zeros((n, 512), dtype=np.int64) if pagemap else None
        self.scan = np.zeros((n, 4), dtype=np.int64)   # present, swapped, zero, pmd (from PAGEMAP_SCAN)
        self.k = np.zeros((n, len(_KNAMES) + 1), dtype=np.int64) if kpage else None  # + lru_active
        self.mapcount = np.zeros((n, MAPCOUNT_BINS), dtype=np.int64) if kpage else None
        self.hist: dict[int, int] = {}
        self.memcg: dict[int, int] = {}
        self.kpage_pages = 0

    def add_matrix(self, r0: int, m: np.ndarray, combos: np.ndarray, mc: np.ndarray | None) -> None:
        """Pages per (region r0+j, flag combination) and per (region, mapcount bin)."""
        R = m.shape[0]
        tot = m.sum(axis=0)
        self.kpage_pages += int(tot.sum())
        for f, c in zip(combos.tolist(), tot.tolist()):
            if c:
                self.hist[f] = self.hist.get(f, 0) + c
        assert self.k is not None and self.mapcount is not None
        bits = ((combos[:, None] >> _KSHIFTS[None, :]) & np.uint64(1)).astype(np.int64)
        lru, act = _KNAMES.index("_lru"), _KNAMES.index("_active")
        self.k[r0:r0 + R, :-1] += m @ bits
        self.k[r0:r0 + R, -1] += m @ (bits[:, lru] * bits[:, act])
        if mc is not None:
            self.mapcount[r0:r0 + R] += mc

    def all_stats(self, virtual: list[int], detail: str, method: str, soft_dirty: bool) -> tuple[list[PageStats],
                                                                                                 PageStats]:
        """PageStats of every region and the total, from whole-matrix operations (one pass)."""
        if detail == "scan":
            # PAGEMAP_SCAN alone: four columns, no dicts (this is the THP walk's per-region cost)
            rows = self.scan.tolist()
            rows.append([sum(c) for c in zip(*rows)] if rows else [0, 0, 0, 0])
            vt = virtual + [sum(virtual)]
            return self._split([_new_stats(virtual_pages=v, present_pages=p, swapped_pages=s, zero_pages=z,
                                           pmd_mapped_pages=h) for v, (p, s, z, h) in zip(vt, rows)])
        cols: dict[str, np.ndarray] = {}
        assert self.top is not None        # detail is not "scan": the pagemap columns were kept
        t = self.top @ _TOP_MATRIX
        for j, n in enumerate(_TOP_NAMES):
            cols[n] = t[:, j]
        if method == "PAGEMAP_SCAN":
            cols["zero_pages"], cols["pmd_mapped_pages"] = self.scan[:, 2], self.scan[:, 3]
        if self.k is not None:
            for j, n in enumerate(_KNAMES):
                if not n.startswith("_") and (n != "zero_pages" or method != "PAGEMAP_SCAN"):
                    cols[n] = self.k[:, j]
            cols["lru_active_pages"] = self.k[:, -1]
            cols["lru_inactive_pages"] = self.k[:, _KNAMES.index("_lru")] - self.k[:, -1]
        names = list(cols)
        mat = np.stack([cols[n] for n in names], axis=1)
        rows = mat.tolist() + [mat.sum(axis=0).tolist()]
        mcs = None
        if self.mapcount is not None:
            mc = self.mapcount
            mcs = mc.tolist() + [mc.sum(axis=0).tolist()]
        out = []
        for i, row in enumerate(rows):
            d = dict(zip(names, row))
            d["virtual_pages"] = virtual[i] if i < len(virtual) else sum(virtual)
            if not soft_dirty:
                d["soft_dirty_pages"] = None
            if mcs is not None:
                d["mapcount_pages"] = {(str(j) if j < MAPCOUNT_BINS - 1 else f"{j}+"): v
                                       for j, v in enumerate(mcs[i]) if v}
            out.append(_new_stats(**d))
        return self._split(out)

    @staticmethod
    def _split(out: list[PageStats]) -> tuple[list[PageStats], PageStats]:
        return out[:-1], out[-1]


def _merge_runs(first: np.ndarray, npg: np.ndarray, idx: np.ndarray, gap: int = 64) -> list[tuple[int, int, int]]:
    """Runs of the same region less than `gap` pages apart become one read (holes read as not present)."""
    if len(first) == 0:
        return []
    first = first.astype(np.int64)
    end = first + npg
    join = (first[1:] - end[:-1] <= gap) & (idx[1:] == idx[:-1])
    starts = np.flatnonzero(np.concatenate(([True], ~join)))
    ends = np.concatenate((starts[1:], [len(first)])) - 1
    return list(zip(first[starts].tolist(), (end[ends] - first[starts]).tolist(), idx[starts].tolist()))


REGION_BITS = 24


def _combos(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (sorted) and each element's index among them (int32), with bounded
    temporaries. Flags of PFN-sorted pages come in long runs of equal values: the runs are found
    first (one comparison per element) and only the runs' values are looked up (np.unique on
    millions of values costs seconds in numpy 2.4)."""
    out = np.empty(len(v), dtype=np.int32)
    if len(v) == 0:
        return v[:0], out
    ch = 1 << 18
    n = len(v)
    starts = [np.flatnonzero(v[a + 1:min(n, a + ch + 1)] != v[a:min(n - 1, a + ch)]) + (a + 1)
              for a in range(0, n - 1, ch)]
    st = np.concatenate([np.zeros(1, np.int64)] + starts)
    rv = v[st]                                        # one value per run
    cand, rinv = np.unique(rv, return_inverse=True) if len(rv) < (1 << 16) else _combos_sorted(rv)
    lens = np.diff(np.concatenate((st, [len(v)])))
    for a in range(0, len(st), ch):                   # expand run indexes to elements, run chunk by chunk
        z = min(len(st), a + ch)
        lo, hi = int(st[a]), (int(st[z]) if z < len(st) else len(v))
        out[lo:hi] = np.repeat(rinv.reshape(-1)[a:z].astype(np.int32), lens[a:z])
    return cand, out


def _combos_sorted(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Many runs (scattered flags): distinct values by sort and neighbour mask, index by searchsorted."""
    s = np.sort(v)
    keep = np.concatenate(([True], s[1:] != s[:-1]))
    cand = s[keep]
    del s
    return cand, np.searchsorted(cand, v).astype(np.int32)


class _KpageJoin:
    """PFNs of present pages, tagged with their region, joined with kpage* in large sorted sets.

    Keys are PFN << 24 | region (relative to the first region in the set); a set of up to
    `size` keys is sorted in place, its distinct PFNs looked up in runs (kernel.kpage), and the
    results counted per region as (region x flag-combination) matrices. Large sets matter: a
    process's pages are spread over all of physical memory, and each set's runs cost a pass over
    the PFN range they cover.
    """

    def __init__(self, acc: _Acc, fds: dict[str, int], pid: int):
        self.acc, self.fds, self.pid = acc, fds, pid
        # working set per key: 8 B key + 1 B flag + 8 B PFN + 8 B per kpage* value: 2 Mi keys (50 MiB)
        # with kpageflags alone, 1 Mi keys (41 MiB) with kpagecount and kpagecgroup too
        self.size = (1 << 21) if len(fds) == 1 else (1 << 20)
        self.keys = np.empty(self.size, dtype=np.uint64)
        self.fill = 0
        self.r0 = 0
        self.rmax = 0

    def add(self, i: int, pfns: np.ndarray) -> None:
        while len(pfns):
            if self.fill == 0:
                self.r0 = i
            elif i - self.r0 >= 1 << REGION_BITS:
                self.flush()
                continue
            take = min(len(pfns), self.size - self.fill)
            k = self.keys[self.fill:self.fill + take]
            np.left_shift(pfns[:take], np.uint64(REGION_BITS), out=k)
            k |= np.uint64(i - self.r0)
            self.rmax = i
            self.fill += take
            pfns = pfns[take:]
            if self.fill == self.size:
                self.flush()

    def flush(self) -> None:
        n = self.fill
        if not n:
            return
        self.fill = 0
        keys = self.keys[:n]
        keys.sort()
        sh = np.uint64(REGION_BITS)
        if not (keys[-1] >> sh):
            raise AccessDenied("pagemap PFNs read as 0", pid=self.pid, hint=pm.PFN_HINT)
        new = np.empty(n, dtype=bool)
        new[0] = True
        ch = 1 << 18
        for a in range(1, n, ch):
            b = min(n, a + ch)
            np.not_equal(keys[a:b] >> sh, keys[a - 1:b - 1] >> sh, out=new[a:b])
        u = keys[new]
        u >>= sh
        vals = kp.lookup_sorted(u, self.fds, reuse_input=True)
        del u
        combos, cinv = _combos(vals.pop("kpageflags"))
        counts = vals.pop("kpagecount", None)
        mbin = np.minimum(counts, MAPCOUNT_BINS - 1).astype(np.int8) if counts is not None else None
        del counts
        cgs = vals.pop("kpagecgroup", None)
        cg_vals, cg_inv = _combos(cgs) if cgs is not None else (None, None)
        del cgs
        mask = np.uint64((1 << REGION_BITS) - 1)
        C = len(combos)
        R = self.rmax - self.r0 + 1          # regions are added in address order
        unique = bool(new.all())             # no PFN mapped twice: page i is unique PFN i
        m = np.zeros((R, C), dtype=np.int64)
        mc = np.zeros((R, MAPCOUNT_BINS), dtype=np.int64) if mbin is not None else None
        cgc = np.zeros(len(cg_vals), dtype=np.int64) if cg_vals is not None else None
        base = -1
        for a in range(0, n, ch):
            b = min(n, a + ch)
            idx: slice | np.ndarray
            if unique:
                idx = slice(a, b)
            else:
                cs = np.cumsum(new[a:b], dtype=np.int64)
                cs += base
                base = int(cs[-1])
                idx = cs
            reg = (keys[a:b] & mask).astype(np.int64)
            if R * C <= 1 << 24:
                m += np.bincount(reg * C + cinv[idx], minlength=R * C).reshape(R, C)
            else:
                np.add.at(m, (reg, cinv[idx]), 1)
            if mc is not None and mbin is not None:
                mc += np.bincount(reg * MAPCOUNT_BINS + mbin[idx], minlength=R * MAPCOUNT_BINS).reshape(
                    R, MAPCOUNT_BINS)
            if cgc is not None and cg_inv is not None:
                cgc += np.bincount(cg_inv[idx], minlength=len(cgc))
        self.acc.add_matrix(self.r0, m, combos, mc)
        if cgc is not None and cg_vals is not None:
            for v, c in zip(cg_vals.tolist(), cgc.tolist()):
                if c:
                    self.acc.memcg[v] = self.acc.memcg.get(v, 0) + c


def _user_maps(pid: int, r: KernelRoot) -> list[Mapping]:
    """The process's mappings; a process without a user address space is an error that says so."""
    from ..process import require_address_space

    maps = procfs.read_maps(pid, r)
    require_address_space(pid, bool(maps), r, ": no pages to walk")
    return maps


def select(maps: list[Mapping], start: int | None = None, end: int | None = None,
           region: str | None = None, exe: str | None = None) -> list[tuple[Mapping, int, int]]:
    """Mappings (clipped to [start, end)) to walk; `region` matches a kind, an exact name or a substring."""
    out = []
    for m in maps:
        if m.start >= USER_END:
            continue
        lo, hi = max(m.start, start or 0), min(m.end, end if end is not None else USER_END)
        if lo >= hi:
            continue
        if region is not None and not (kind_of(m, exe) == region or m.name == region
                                       or (region in m.name and not region.startswith("["))):
            continue
        out.append((m, lo, hi))
    if not out:
        what = f"region {region!r}" if region else "the range"
        raise InvalidInput(f"no mapping matches {what}", hint="see `memdive maps PID` for the mappings")
    return out


def _scan(fd: int, spans: list[tuple[int, int]], pid: int) -> np.ndarray:
    """PAGEMAP_SCAN over address spans (sorted) -> runs (pm.REGION_DTYPE) sorted by address.

    Runs are as the kernel returned them: one may cross the edge of adjacent VMAs with equal
    categories (the kernel merges them)."""
    parts = [r for lo, hi in spans for r in pm.scan(fd, lo, hi, pid=pid)]
    if not parts:
        return np.empty(0, dtype=pm.REGION_DTYPE)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _fields(regs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int64 views of a run array's start, end, categories (addresses are below 2**47)."""
    return regs["start"].view(np.int64), regs["end"].view(np.int64), regs["categories"].view(np.int64)


_native_fn = None


def _native_counts():
    """memdive_scan_counts from libmemdive_pages.so (native/pages/scancount.c), or None when the
    package was built without it (the numpy version then counts)."""
    global _native_fn
    if _native_fn is None:
        import ctypes

        from ..native import load

        try:
            fn = load("pages").memdive_scan_counts
        except (MemdiveError, OSError, AttributeError):
            fn = False
        else:
            p, n = ctypes.c_void_p, ctypes.c_size_t
            fn.argtypes = [p, n, p, p, n, ctypes.c_int64, p]
            fn.restype = None
        _native_fn = fn
    return _native_fn or None


def _count_runs(regs: np.ndarray, starts: list[int], ends: list[int], page: int) -> np.ndarray:
    """Pages per region and column (present, swapped, zero, PMD-mapped), (regions x 4) int64: one
    pass in C over the runs and regions (both sorted), else the numpy prefix-sum version."""
    fn = _native_counts()
    if fn is None or not regs.flags.c_contiguous:
        return _scan_counts(*_fields(regs), starts, ends, page)
    out = np.zeros((len(starts), 4), dtype=np.int64)
    if len(regs):
        lo = np.array(starts, dtype=np.int64)
        hi = np.array(ends, dtype=np.int64)
        fn(regs.ctypes.data, len(regs), lo.ctypes.data, hi.ctypes.data, len(starts), page, out.ctypes.data)
    return out


# categories PRESENT, SWAPPED, PFNZERO, HUGE (bits 3-6) -> the four scan columns
_CAT_SHIFTS = np.array([3, 4, 5, 6], dtype=np.int64)[:, None]


def _scan_counts(rs: np.ndarray, re: np.ndarray, cat: np.ndarray, starts: list[int], ends: list[int],
                 page: int) -> np.ndarray:
    """Pages per region [starts[i], ends[i]) and column (present, swapped, zero, PMD-mapped):
    (regions x 4) int64, from PAGEMAP_SCAN runs sorted by address.

    No run is cut at VMA edges: prefix sums over the runs (in address order) are evaluated at every
    region edge by one searchsorted, minus the part of the run straddling the edge. A dozen numpy
    calls on (4 x runs) rows whatever the number of regions; runs crossing a VMA edge (the kernel
    merges adjacent VMAs' runs with equal categories) need no special case."""
    R = len(starts)
    if len(rs) == 0:
        return np.zeros((R, 4), np.int64)
    w = (cat[None, :] >> _CAT_SHIFTS) & 1                     # 4 x runs, 0/1
    w *= (re - rs) // page
    csum = np.zeros((4, len(rs) + 1), np.int64)
    np.cumsum(w, axis=1, out=csum[:, 1:])
    edges = np.array(starts + ends, dtype=np.int64)
    k = np.searchsorted(rs, edges, side="left")               # runs starting before each edge
    last = np.maximum(k - 1, 0)                               # the run that may straddle the edge
    over = np.where(k > 0, np.maximum(re[last] - edges, 0) // page, 0)
    at = csum[:, k] - ((cat[last][None, :] >> _CAT_SHIFTS) & 1) * over    # pages below each edge
    return (at[:, R:] - at[:, :R]).T


def _split_runs(rs: np.ndarray, re: np.ndarray, cat: np.ndarray, sel: list[tuple[Mapping, int, int]],
                page: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs cut at VMA edges and kept inside the selection -> (first page, pages, region index)."""
    S = np.array([lo for _, lo, _ in sel], dtype=np.int64)
    E = np.array([hi for _, _, hi in sel], dtype=np.int64)
    idx = np.searchsorted(S, rs, side="right") - 1
    j = np.maximum(idx, 0)
    bad = (idx < 0) | (re > E[j]) | (rs >= E[j])
    if bad.any():
        # runs crossing a VMA edge (adjacent VMAs with equal categories) or outside the selection:
        # cut them at every VMA start and end inside them, then keep the pieces inside a VMA
        cuts = np.union1d(S, E)
        bs, be = rs[bad], re[bad]
        i0 = np.searchsorted(cuts, bs, side="right")
        i1 = np.searchsorted(cuts, be, side="left")
        k = i1 - i0                                   # inner cut points per run
        pieces = k + 1
        owner = np.repeat(np.arange(len(bs)), pieces)
        first = np.concatenate(([0], np.cumsum(pieces)[:-1]))
        pos = np.arange(len(owner)) - first[owner]    # piece number within its run
        ci = i0[owner] + pos                          # index of the cut that ends this piece
        ps = np.where(pos == 0, bs[owner], cuts[np.minimum(ci - 1, len(cuts) - 1)])
        pe = np.where(pos == k[owner], be[owner], cuts[np.minimum(ci, len(cuts) - 1)])
        pi = np.searchsorted(S, ps, side="right") - 1
        ok = (pi >= 0) & (ps < pe)
        ok &= ps < E[np.maximum(pi, 0)]
        keep = ~bad
        rs = np.concatenate((rs[keep], ps[ok]))
        re = np.concatenate((re[keep], pe[ok]))
        idx = np.concatenate((idx[keep], pi[ok]))
        o = np.argsort(rs, kind="stable")
        rs, re, idx = rs[o], re[o], idx[o]
    return rs // page, (re - rs) // page, idx.astype(np.intp)


def walk(pid: int, *, start: int | None = None, end: int | None = None, region: str | None = None,
         method: str = "auto", detail: str = "auto", kpage_files: tuple[str, ...] = kp.FILES,
         root: KernelRoot | None = None) -> PageWalk:
    """Every page of process `pid` (or of a range / region), counted per mapping and in total.

    `kpage_files` picks which of kpageflags, kpagecount, kpagecgroup to join (kpageflags always).
    """
    if method not in ("auto", "scan", "read"):
        raise InvalidInput(f"unknown method {method!r} (auto, scan, read)")
    if detail not in ("auto", "scan", "pagemap", "kpage"):
        raise InvalidInput(f"unknown detail {detail!r} (auto, scan, pagemap, kpage)")
    t0 = time.perf_counter()
    r = resolve(root)
    page = pm_page_size()
    whole = start is None and end is None and region is None
    maps = _user_maps(pid, r)
    exe = procfs.read_exe(pid, r)
    sel = select(maps, start, end, region, exe)
    notes: list[str] = []
    soft_dirty = pm.soft_dirty_supported(r)
    if not soft_dirty:
        notes.append("soft-dirty: this kernel lacks CONFIG_MEM_SOFT_DIRTY (bit 55 is always 0): not counted")

    fds: dict[str, int] = {}
    pfn_available = False
    if detail in ("auto", "kpage"):
        try:
            fds = kp.open_files(r, tuple(dict.fromkeys(("kpageflags",) + tuple(kpage_files))))
            pfn_available = True
        except (AccessDenied, KernelFeatureMissing) as exc:
            if detail == "kpage":
                raise
            notes.append(f"PFNs, kpageflags, kpagecount, kpagecgroup: unavailable ({exc}; hint: {pm.PFN_HINT})")
        detail = "kpage" if pfn_available else "pagemap"
    fd = pm.open_pagemap(pid, r)
    pm.bound_malloc_retention()
    try:
        use_scan = method in ("auto", "scan")
        runs = None
        if use_scan:
            try:
                # the whole process: one ioctl over the user address space (it skips unmapped gaps)
                runs = _scan(fd, [(0, USER_END)] if whole else [(lo, hi) for _, lo, hi in sel], pid)
            except pm.ScanUnsupported as exc:
                if method == "scan" or detail == "scan":
                    raise
                notes.append(f"PAGEMAP_SCAN unavailable ({exc}): read pagemap in full")
        if runs is None and detail == "scan":
            raise InvalidInput("detail 'scan' needs the PAGEMAP_SCAN method")
        acc = _Acc(len(sel), detail == "kpage", detail != "scan")
        if runs is not None:
            acc.scan += _count_runs(runs, [lo for _, lo, _ in sel], [hi for _, _, hi in sel], page)
            dense = int(acc.scan[:, :2].sum()) > DENSE_FRACTION * sum((hi - lo) // page for _, lo, hi in sel)
            if detail == "scan":
                work = []
            elif method == "auto" and dense:
                # mostly present: one sequential pagemap read beats thousands of small ones
                work = [(lo // page, (hi - lo) // page, i) for i, (_, lo, hi) in enumerate(sel)]
            else:
                work = _merge_runs(*_split_runs(*_fields(runs), sel, page))
        else:
            work = [(lo // page, (hi - lo) // page, i) for i, (_, lo, hi) in enumerate(sel)]
        if detail != "scan":
            _read_pages(fd, work, acc, fds, pid)
        method_name = "PAGEMAP_SCAN" if runs is not None else "pagemap"
        per, total = acc.all_stats([(hi - lo) // page for _, lo, hi in sel], detail, method_name, soft_dirty)
        regions = [_new_region(start=lo, end=hi, perms=m.perms, kind=kind_of(m, exe), name=m.name, stats=st)
                   for (m, lo, hi), st in zip(sel, per)]
        histogram = None
        memcg = None
        if detail == "kpage":
            histogram = [FlagCombo(flags=f, symbol=kp.flag_symbol(f), names=tuple(kp.flag_names(f)), pages=c)
                         for f, c in sorted(acc.hist.items(), key=lambda x: (-x[1], x[0]))]
            if "kpagecgroup" in fds:
                paths = kp.memcg_paths(set(acc.memcg), r)
                memcg = {paths.get(ino, f"inode {ino}" if ino else "(none)"): n for ino, n in
                         sorted(acc.memcg.items(), key=lambda x: -x[1])}
        return PageWalk(pid=pid, method=method_name, detail=detail, page_size_bytes=page,
                        pfn_available=pfn_available, soft_dirty_supported=soft_dirty, regions=regions,
                        total=total, histogram=histogram, memcg_pages=memcg,
                        elapsed_seconds=time.perf_counter() - t0, notes=notes)
    finally:
        os.close(fd)
        kp.close_files(fds)


def totals(pid: int, root: KernelRoot | None = None) -> PageStats:
    """Whole-process totals from one PAGEMAP_SCAN ioctl over the user address space (no per-mapping
    records): present, swapped, zero-page and PMD-mapped pages. The fastest question to ask."""
    from ..kernel.io import read_bytes

    r = resolve(root)
    page = pm_page_size()
    virtual = 0
    for line in read_bytes(r.pid_path(pid, "maps"), pid=pid).splitlines():
        lo, _, rest = line.partition(b"-")
        a, b = int(lo, 16), int(rest.split(b" ", 1)[0], 16)
        if a < USER_END:
            virtual += (b - a) // page
    fd = pm.open_pagemap(pid, r)
    try:
        parts = list(pm.scan(fd, 0, USER_END, pid=pid))
    finally:
        os.close(fd)
    if not parts:
        return PageStats(virtual_pages=virtual, present_pages=0, swapped_pages=0, zero_pages=0, pmd_mapped_pages=0)
    regs = np.concatenate(parts) if len(parts) > 1 else parts[0]
    npg = (regs["end"] - regs["start"]) // np.uint64(page)
    cat = regs["categories"]
    c = [int(npg[(cat & np.uint64(b)) != 0].sum()) for b in
         (pm.PAGE_IS_PRESENT, pm.PAGE_IS_SWAPPED, pm.PAGE_IS_PFNZERO, pm.PAGE_IS_HUGE)]
    return PageStats(virtual_pages=virtual, present_pages=c[0], swapped_pages=c[1], zero_pages=c[2],
                     pmd_mapped_pages=c[3])


def pm_page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def _read_pages(fd: int, work: list[tuple[int, int, int]], acc: _Acc, fds: dict[str, int], pid: int) -> None:
    """Read pagemap for every (first page, count, region) run into small batches and account them
    while the batch is still in cache."""
    buf = np.empty(BATCH_PAGES, dtype=np.uint64)
    join = _KpageJoin(acc, fds, pid) if fds else None
    fill = 0
    segs: list[tuple[int, int, int]] = []     # (region, a, z) in buf
    reads: list[tuple[int, int, int]] = []    # (first page, count, offset in buf)

    def do_reads(part: list[tuple[int, int, int]]) -> None:
        for first, count, off in part:
            got = len(pm.read_entries(fd, first, count, buf[off:], pid))
            if got < count:
                buf[off + got:off + count] = 0     # the mapping vanished meanwhile: not present

    def flush():
        nonlocal fill
        if not fill:
            return
        do_reads(reads)
        e = buf[:fill]
        top = _top9(e)
        for i, a, z in segs:
            acc.top[i] += np.bincount(top[a:z], minlength=512)
        if join is not None:
            for i, a, z in segs:
                seg = e[a:z]
                join.add(i, seg[top[a:z] >= 256] & np.uint64(pm.PFN_MASK))
        fill = 0
        segs.clear()
        reads.clear()

    for first, count, i in work:
        while count > 0:
            take = min(count, BATCH_PAGES - fill)
            reads.append((first, take, fill))
            if segs and segs[-1][0] == i and segs[-1][2] == fill:
                segs[-1] = (i, segs[-1][1], fill + take)
            else:
                segs.append((i, fill, fill + take))
            fill += take
            first += take
            count -= take
            if fill == BATCH_PAGES:
                flush()
    flush()
    if join is not None:
        join.flush()


def entries(pid: int, start: int, end: int, *, limit: int = 65536, root: KernelRoot | None = None) -> list[PageEntry]:
    """Page-by-page records of [start, end) (at most `limit` pages), joined with kpage* when root."""
    r = resolve(root)
    page = pm_page_size()
    lo, hi = start // page, -(-end // page)
    if hi - lo > limit:
        raise InvalidInput(f"range of {hi - lo} pages is too large to list (limit {limit})",
                           hint="narrow --range, or drop --list for counts")
    maps = _user_maps(pid, r)
    fd = pm.open_pagemap(pid, r)
    try:
        e = pm.read_entries(fd, lo, hi - lo, pid=pid)
    finally:
        os.close(fd)
    try:
        fds = kp.open_files(r)
    except (AccessDenied, KernelFeatureMissing):
        fds = {}
    try:
        pfns = np.where(e >> np.uint64(63) != 0, e & np.uint64(pm.PFN_MASK), 0).astype(np.uint64)
        look = pfns != 0
        vals = kp.lookup(pfns[look], fds) if fds and look.any() else {}
    finally:
        kp.close_files(fds)
    full = {k: np.zeros(len(e), np.uint64) for k in vals}
    for k, v in vals.items():
        full[k][look] = v
    out = []
    starts = [m.start for m in maps]
    import bisect

    for j, ent in enumerate(e.tolist()):
        addr = (lo + j) * page
        d = pm.decode_entry(ent)
        mi = bisect.bisect_right(starts, addr) - 1
        name = maps[mi].name if mi >= 0 and maps[mi].end > addr else ""
        known = bool(fds) and d["pfn"] is not None
        flags = int(full["kpageflags"][j]) if known and "kpageflags" in full else None
        out.append(PageEntry(
            address=addr, present=d["present"], swapped=d["swapped"],
            file_or_shared_anon=d["file_or_shared_anon"], exclusive=d["exclusive"],
            soft_dirty=d["soft_dirty"], uffd_wp=d["uffd_wp"], guard=d["guard"], pfn=d["pfn"],
            phys_addr=d["pfn"] * page if d["pfn"] is not None else None,
            swap_type=d["swap_type"], swap_offset=d["swap_offset"], kpageflags=flags,
            flag_names=tuple(kp.flag_names(flags)) if flags is not None else None,
            mapcount=int(full["kpagecount"][j]) if known and "kpagecount" in full else None,
            memcg_inode=int(full["kpagecgroup"][j]) if known and "kpagecgroup" in full else None,
            region=name))
    return out
