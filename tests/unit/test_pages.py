"""Page decoding, kpage* lookups and the pagemap fallback walk on a fixture tree (a kernel without
PAGEMAP_SCAN: the ioctl on a regular file fails with ENOTTY)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from memdive.errors import InvalidInput, KernelFeatureMissing, MemdiveError
from memdive.kernel import kpage as kp
from memdive.kernel import pagemap as pm
from memdive.kernel.root import KernelRoot
from memdive.pages import entries, walk

FIX = Path(__file__).parent.parent / "fixtures" / "pages-noscan"
ROOT = KernelRoot.at(str(FIX))
PID = 4242


def test_struct_layouts():
    import ctypes

    assert ctypes.sizeof(pm.PmScanArg) == 96 and ctypes.sizeof(pm.PageRegion) == 24
    assert pm.PAGEMAP_SCAN == 0xC0606610
    assert pm.PAGE_IS_PRESENT == 8 and pm.PAGE_IS_SWAPPED == 16 and pm.PAGE_IS_PFNZERO == 32
    with pytest.raises(ValueError):
        next(pm.scan(0, 0, 4096, return_mask=pm.PAGE_IS_FILE))


def test_decode_captured_entries_bit55_soft_dirty():
    # captured bytes: present+exclusive+soft-dirty PFN 0x1e860d; present PFN hidden; swapped type 3
    raw = struct.pack("<3Q", (1 << 63) | (1 << 56) | (1 << 55) | 0x1E860D, (1 << 63) | (1 << 61),
                      (1 << 62) | (0xABC << 5) | 3)
    e = pm.parse_entries(raw)
    a, b, c = (pm.decode_entry(int(x)) for x in e)
    assert a["soft_dirty"] and a["exclusive"] and a["pfn"] == 0x1E860D
    assert b["present"] and b["pfn"] is None and b["file_or_shared_anon"] and not b["soft_dirty"]
    assert c["swapped"] and c["swap_type"] == 3 and c["swap_offset"] == 0xABC and c["pfn"] is None
    with pytest.raises(MemdiveError):
        pm.parse_entries(b"\0" * 7)


def test_flag_names_and_symbol():
    f = (1 << 12) | (1 << 22) | (1 << 5) | (1 << 34)
    assert kp.flag_names(f) == ["lru", "anonymous", "thp", "bit34"]
    s = kp.flag_symbol(f)
    assert s.startswith("_____l______a_________t") and s.endswith("+0x400000000")
    assert len(kp.KPF_NAMES) == 27


def test_runs_and_lookup_sorted_windows(monkeypatch):
    fds = kp.open_files(ROOT)
    try:
        u = np.array([100, 101, 107, 200, 300, 303], dtype=np.uint64)
        lo, hi, first = kp.runs(u)
        assert lo.tolist() == [100, 200, 300] and hi.tolist() == [107, 200, 303] and first.tolist() == [0, 3, 4]
        monkeypatch.setattr(kp, "MAX_SPAN", 3)          # force the window-by-window path
        v = kp.lookup_sorted(u, fds, threads=1)
        assert v["kpagecount"].tolist() == [1, 1, 1, 0, 5, 5]
        assert v["kpagecgroup"].tolist() == [1000, 1000, 1000, 0, 2000, 2000]
        anyorder = kp.lookup(np.array([300, 100, 300], dtype=np.uint64), fds)
        assert anyorder["kpagecount"].tolist() == [5, 1, 5]
        u2, mult = kp.unique_counts(np.array([5, 3, 5, 5], dtype=np.uint64))
        assert u2.tolist() == [3, 5] and mult.tolist() == [1, 3]
    finally:
        kp.close_files(fds)


def test_fallback_walk_on_kernel_without_pagemap_scan():
    w = walk(PID, root=ROOT)
    assert w.method == "pagemap" and w.detail == "kpage" and w.pfn_available
    assert any("PAGEMAP_SCAN unavailable" in n for n in w.notes)
    assert w.soft_dirty_supported is True
    a, b, c = w.regions
    assert (a.stats.virtual_pages, a.stats.present_pages, a.stats.swapped_pages) == (16, 9, 1)
    assert a.stats.exclusive_pages == 8 and a.stats.zero_pages == 1
    assert a.stats.lru_active_pages == 4 and a.stats.lru_inactive_pages == 4
    assert a.stats.referenced_pages == 4 and a.stats.dirty_pages == 4 and a.stats.anon_pages == 8
    assert a.stats.mapcount_pages == {"0": 1, "1": 8}
    assert b.kind == "library" and b.stats.file_or_shared_pages == 4 and b.stats.mapcount_pages == {"5": 4}
    assert c.stats.soft_dirty_pages == 2 and c.stats.thp_pages == 2
    assert w.total.present_pages == 15 and w.total.soft_dirty_pages == 2
    assert w.memcg_pages == {"inode 1000": 10, "inode 2000": 4, "(none)": 1}
    assert [h.pages for h in w.histogram] == [4, 4, 4, 1, 1, 1]     # sorted by pages, then flags
    assert {"anonymous", "lru", "active", "dirty"} <= set(w.histogram[2].names)
    assert sum(h.pages for h in w.histogram) == 15


def test_fallback_scan_method_refused_and_fast_detail():
    with pytest.raises(KernelFeatureMissing):
        walk(PID, root=ROOT, method="scan")
    with pytest.raises(KernelFeatureMissing, match="PAGEMAP_SCAN"):
        walk(PID, root=ROOT, detail="scan")


def test_fixture_range_region_and_pagemap_detail():
    w = walk(PID, root=ROOT, start=0x100000, end=0x108000, detail="pagemap")
    assert w.total.virtual_pages == 8 and w.total.present_pages == 8 and w.total.thp_pages is None
    assert w.histogram is None
    w = walk(PID, root=ROOT, region="libfoo")
    assert len(w.regions) == 1 and w.total.present_pages == 4
    with pytest.raises(InvalidInput):
        walk(PID, root=ROOT, region="heap")
    with pytest.raises(InvalidInput):
        walk(PID, root=ROOT, method="bogus")


def test_fixture_entries_list():
    es = entries(PID, 0x100000, 0x10A000, root=ROOT)
    assert len(es) == 10
    assert es[0].pfn == 100 and es[0].phys_addr == 100 * 4096 and es[0].mapcount == 1
    assert "anonymous" in es[0].flag_names and es[0].memcg_inode == 1000
    assert es[8].swapped and es[8].swap_type == 1 and es[8].swap_offset == 0x1234 and es[8].kpageflags is None
    assert es[9].flag_names == ("mmap", "zero_page")
    with pytest.raises(InvalidInput):
        entries(PID, 0, 1 << 40, root=ROOT)


def test_report_renders_fixture():
    import io
    import json

    from memdive.report.jsonout import dumps
    from memdive.report.pages import histogram_table, walk_header, walk_tables
    from memdive.report.tables import console

    w = walk(PID, root=ROOT)
    buf = io.StringIO()
    c = console(file=buf)
    c.print(walk_header(w))
    c.print(walk_tables(w, pages=True))
    c.print(histogram_table(w))
    out = buf.getvalue()
    assert "libfoo.so" in out and "kpageflags combinations" in out
    d = json.loads(dumps(w))
    assert d["total"]["present_pages"] == 15 and d["regions"][0]["stats"]["mapcount_pages"]["1"] == 8


def test_lookup_reusing_input_and_wide_runs(monkeypatch):
    fds = kp.open_files(ROOT, ("kpagecount",))
    try:
        monkeypatch.setattr(kp, "MAX_SPAN", 2)          # runs wider than the buffer, window by window
        u = np.array([100, 101, 102, 103, 104, 300, 301], dtype=np.uint64)
        ref = kp.lookup_sorted(u.copy(), fds, threads=1)["kpagecount"]
        v = u.copy()
        out = kp.lookup_sorted(v, fds, threads=1, reuse_input=True)["kpagecount"]
        assert out is v and out.tolist() == ref.tolist() == [1, 1, 1, 1, 1, 5, 5]
    finally:
        kp.close_files(fds)


def test_public_api_names():
    import memdive

    assert memdive.pages.walk.__module__ == "memdive.pages.walker" and callable(memdive.residency)
    assert callable(memdive.pages.wss.sample) and callable(memdive.pages.faults.run_command)
    import memdive.pages.cache  # (an imported submodule must not shadow a function)
    import memdive.pages.incore
    import memdive.pages.translate

    assert callable(memdive.pages.files) and callable(memdive.pages.phys) and callable(memdive.pages.walker.totals)
    assert callable(memdive.pages.residency)
    with pytest.raises(AttributeError):
        memdive.pages.no_such_thing  # noqa: B018


def _runs(rows):
    return np.array([tuple(r) for r in rows], dtype=pm.REGION_DTYPE)


def _reference_counts(rows, starts, ends, page):
    """Page by page: the definition the counting must meet."""
    out = np.zeros((len(starts), 4), np.int64)
    for a, z, c in rows:
        for addr in range(a, z, page):
            for i, (lo, hi) in enumerate(zip(starts, ends)):
                if lo <= addr < hi:
                    out[i] += [(c >> b) & 1 for b in (3, 4, 5, 6)]
    return out


@pytest.mark.parametrize("native", [True, False])
def test_per_region_counts_of_scan_runs(native, monkeypatch):
    """PAGEMAP_SCAN runs counted per mapping without cutting them (C pass or numpy prefix sums):
    runs inside one VMA, a run across three adjacent VMAs, runs in gaps between selected VMAs and
    outside every VMA, regions without runs; page for page equal to the definition and to the
    split used for pagemap reads."""
    from memdive.pages import walker as w

    if not native:
        monkeypatch.setattr(w, "_native_fn", False)
    elif w._native_counts() is None:
        pytest.fail("libmemdive_pages.so is not built (setup.py build_ext)")
    P = 4096
    starts = [10 * P, 20 * P, 24 * P, 30 * P, 50 * P, 60 * P]
    ends = [16 * P, 24 * P, 30 * P, 40 * P, 52 * P, 70 * P]
    PRES, SWAP, ZERO, HUGE = 8, 16, 32, 64
    rows = [(2 * P, 3 * P, PRES),                 # before every region
            (10 * P, 12 * P, PRES | HUGE), (13 * P, 14 * P, SWAP), (15 * P, 16 * P, PRES | ZERO),
            (16 * P, 18 * P, PRES),               # in the gap after region 0
            (21 * P, 35 * P, PRES),               # across regions 1, 2 and into 3
            (39 * P, 51 * P, PRES | ZERO | HUGE),  # end of 3, gap, start of 4
            (80 * P, 90 * P, SWAP)]               # after every region
    got = w._count_runs(_runs(rows), starts, ends, P)
    ref = _reference_counts(rows, starts, ends, P)
    assert got.tolist() == ref.tolist()
    assert got[:, 0].tolist() == [3, 3, 6, 6, 1, 0] and got[5].tolist() == [0, 0, 0, 0]
    # the split for pagemap reads covers the same pages per region
    _, npg, idx = w._split_runs(*w._fields(_runs(rows)), [(None, lo, hi) for lo, hi in zip(starts, ends)], P)
    per = np.bincount(idx, weights=npg, minlength=len(starts))
    assert per.tolist() == (ref[:, 0] + ref[:, 1]).tolist() == [4, 3, 6, 6, 1, 0]
    assert w._count_runs(_runs([]), starts, ends, P).tolist() == [[0] * 4] * 6


def test_fast_record_constructors_equal_the_dataclass():
    from memdive.models.pages import PageStats, RegionPages
    from memdive.pages.walker import _new_region, _new_stats

    kw = {"virtual_pages": 7, "present_pages": 3, "swapped_pages": 1, "zero_pages": 2, "mapcount_pages": {"1": 3}}
    a, b = _new_stats(**kw), PageStats(**kw)
    assert a == b and repr(a) == repr(b) and hash(a.virtual_pages) == hash(b.virtual_pages)
    with pytest.raises(TypeError):
        _new_stats(virtual_pages=1, present_pages=1, swapped_pages=1, no_such_field=1)
    r = _new_region(start=1, end=2, perms="rw-p", kind="anon", name="", stats=a)
    assert r == RegionPages(start=1, end=2, perms="rw-p", kind="anon", name="", stats=b)
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        a.present_pages = 4
