"""memdive.alloc pieces without processes: the kernel readers it uses (hugetlb, thp, pagemap) on fixture
trees, page-run building, allocator discovery and comparison summaries, and the renderers."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import memdive.alloc.compare as cmp
from memdive.alloc.measure import _runs
from memdive.errors import InvalidInput, ParseError
from memdive.kernel import hugetlb as khuge
from memdive.kernel import pagemap as pm
from memdive.kernel import thp as kthp
from memdive.kernel.root import KernelRoot
from memdive.models.alloc import AllocatorInfo, AllocatorRun, BufferReport
from memdive.report.alloc import buffer_lines, compare_lines, compare_table
from memdive.report.jsonout import dumps

PAGE = 4096


def _tree(tmp_path, enabled="always [madvise] never", pools=None):
    mm = tmp_path / "sys/kernel/mm"
    (mm / "transparent_hugepage").mkdir(parents=True)
    (mm / "transparent_hugepage/enabled").write_text(enabled + "\n")
    (mm / "transparent_hugepage/hpage_pmd_size").write_text("2097152\n")
    for kb, vals in (pools or {}).items():
        d = mm / f"hugepages/hugepages-{kb}kB"
        d.mkdir(parents=True)
        for k, v in vals.items():
            (d / k).write_text(f"{v}\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal: 100 kB\nHugepagesize:    1048576 kB\n")
    return KernelRoot.at(str(tmp_path))


def test_thp_mode_pool_and_hugepage_size_from_a_fixture_tree(tmp_path):
    root = _tree(tmp_path, "always madvise [never]", {2048: {"nr_hugepages": 8, "free_hugepages": 5,
                                                              "resv_hugepages": 2, "surplus_hugepages": 0}})
    assert kthp.read_thp_mode(root) == "never"
    assert kthp.read_pmd_size(root) == 2 << 20
    p = khuge.find_pool(2 << 20, root)
    assert (p.total, p.free, p.reserved, p.surplus, p.overcommit) == (8, 5, 2, 0, 0)
    assert khuge.find_pool(1 << 30, root) is None                   # no such pool on this "kernel"
    assert khuge.default_size(root) == 1 << 30
    assert kthp.read_thp_mode(KernelRoot.at(str(tmp_path / "nothing"))) is None


def test_parse_pagemap_rejects_partial_entries():
    present, swapped = 1 << pm.BIT_PRESENT, 1 << pm.BIT_SWAPPED
    e = pm.parse_entries(struct.pack("<2Q", present | 1234, swapped))
    assert e[0] & pm.PFN_MASK == 1234 and e[1] == swapped
    with pytest.raises(ParseError):
        pm.parse_entries(b"\0" * 12)


def test_runs_from_pagemap_bits_and_huge_regions():
    base = 0x7F0000000000
    present, swapped = np.uint64(1 << pm.BIT_PRESENT), np.uint64(1 << pm.BIT_SWAPPED)
    e = np.zeros(1024, dtype=np.uint64)
    e[:512] = present                       # one PMD of THP
    e[512:600] = present                    # 4k pages
    e[600:610] = swapped
    runs = _runs(base, e, PAGE, [(base, base + (2 << 20))], None, 2 << 20)
    assert [(r.kind, r.length_bytes) for r in runs] == [
        ("thp", 2 << 20), ("4k", 88 * PAGE), ("swapped", 10 * PAGE), ("absent", 414 * PAGE)]
    assert runs[0].page_size_bytes == 2 << 20
    # Without PAGEMAP_SCAN the page size of present pages is not known: "present".
    assert [r.kind for r in _runs(base, e, PAGE, None, None, 2 << 20)][:1] == ["present"]
    assert {r.kind for r in _runs(base, e[:512], PAGE, None, 2 << 20, 2 << 20)} == {"hugetlb"}


def test_allocators_missing_names_their_package(monkeypatch, tmp_path):
    monkeypatch.setattr(cmp, "_lib_dirs", lambda: [str(tmp_path)])
    infos = {a.name: a for a in cmp.allocators()}
    assert infos["glibc"].present and infos["glibc"].library is None
    assert not infos["jemalloc"].present and infos["jemalloc"].package == "libjemalloc2"
    assert infos["tcmalloc"].package == "libtcmalloc-minimal4" and infos["mimalloc"].package == "libmimalloc2.0"
    (tmp_path / "libmimalloc.so.2").write_bytes(b"")
    assert {a.name: a for a in cmp.allocators()}["mimalloc"].library == str(tmp_path / "libmimalloc.so.2")
    custom = cmp.allocators(["mine=/nonexistent/libx.so"])[0]
    assert custom.name == "mine" and not custom.present
    with pytest.raises(InvalidInput, match="unknown allocator"):
        cmp.allocators(["dlmalloc"])
    with pytest.raises(InvalidInput, match="twice"):
        cmp.allocators(["glibc", "glibc"])


def test_probe_lines_are_picked_by_pid(tmp_path):
    p = tmp_path / "probe"
    p.write_text("memdive-probe pid=10 rss_bytes=4096 hwm_bytes=8192 malloc=/x/libjemalloc.so.2\n"
                 "memdive-probe pid=11 rss_bytes=-1 hwm_bytes=-1 malloc=/lib/libc.so.6\n")
    assert cmp._read_probe(str(p), 10) == (4096, "/x/libjemalloc.so.2")
    assert cmp._read_probe(str(p), 11) == (None, "/lib/libc.so.6")
    assert cmp._read_probe(str(p), 12) == (None, None)


def _run(alloc, rnd, wall, peak, lib):
    return AllocatorRun(allocator=alloc, round=rnd, exit_code=0, wall_seconds=wall, user_seconds=wall / 2,
                        sys_seconds=0.01, peak_rss_bytes=peak, rss_at_exit_bytes=peak // 2, minor_faults=100,
                        major_faults=0, malloc_library=lib)


def test_summaries_are_medians_and_ratios_per_round(tmp_path):
    lib = tmp_path / "libjemalloc.so.2"
    lib.write_bytes(b"")
    infos = [AllocatorInfo(name="glibc", library=None, package="libc6", present=True),
             AllocatorInfo(name="jemalloc", library=str(lib), package="libjemalloc2", present=True)]
    runs = [_run("glibc", 0, 1.0, 100, "/lib/x86_64-linux-gnu/libc.so.6"), _run("jemalloc", 0, 0.5, 300, str(lib)),
            _run("glibc", 1, 2.0, 200, "/lib/x86_64-linux-gnu/libc.so.6"), _run("jemalloc", 1, 0.5, 300, str(lib)),
            _run("glibc", 2, 4.0, 300, "/lib/x86_64-linux-gnu/libc.so.6"), _run("jemalloc", 2, 4.0, 300, "/other.so")]
    s = {x.allocator: x for x in cmp.summarize(runs, infos, "glibc")}
    assert s["glibc"].wall_seconds == 2.0 and s["glibc"].wall_ratio == 1.0 and s["glibc"].verified
    assert s["jemalloc"].wall_ratio == pytest.approx(0.5)        # median of 0.5, 0.25, 1.0
    assert s["jemalloc"].peak_rss_bytes == 300
    assert not s["jemalloc"].verified                            # one run's malloc came from elsewhere
    from memdive.models.alloc import CompareResult

    res = CompareResult(command=("prog", "1"), repeat=3, baseline="glibc", summaries=tuple(s.values()),
                        missing=(AllocatorInfo(name="tcmalloc", library=None, package="libtcmalloc-minimal4",
                                               present=False),), runs=tuple(runs))
    lines = compare_lines(res)
    assert "not installed: tcmalloc (apt-get install libtcmalloc-minimal4)" in lines
    assert compare_table(res).row_count == 2
    assert json.loads(dumps(res))["summaries"][1]["allocator"] == "jemalloc"


def test_compare_rejects_bad_input():
    with pytest.raises(InvalidInput, match="no command"):
        cmp.compare([])
    with pytest.raises(InvalidInput, match="not found"):
        cmp.compare(["memdive-no-such-command-8"])
    with pytest.raises(InvalidInput, match="repeat"):
        cmp.compare(["true"], repeat=0)


def test_buffer_report_verdicts_say_what_was_got():
    r = BufferReport(address=0x1000, nbytes=8 << 20, mapped_bytes=8 << 20, asked_pages="thp", asked_node=(0,),
                     asked_lock=True, asked_populate=True, align_bytes=64, strategy="thp", vma_exact=True, vmas=1,
                     resident_bytes=8 << 20, swapped_bytes=0, thp_bytes=6 << 20, hugetlb_bytes=0,
                     locked_bytes=8 << 20, kernel_page_size_bytes=4096, vmflags=("rd", "wr", "lo", "hg"),
                     numa_policy="bind:0", nodes_bytes={0: 8 << 20}, sources=("smaps",))
    v = r.verdicts()
    assert v[0] == f"pages=thp: {6 << 20} of {8 << 20} resident bytes in huge pages"
    assert v[1].startswith(f"node=0: {8 << 20} of {8 << 20}") and "bind:0" in v[1]
    assert "VM_LOCKED" in v[2] and r.locked
    assert any(line.startswith("asked pages=thp") for line in buffer_lines(r))
