"""THP sysfs, per-process reasons and collapse targets, on fixture trees."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from memdive.errors import KernelFeatureMissing, ParseError
from memdive.hugepages.thp import collapse_targets, thp_process, thp_system
from memdive.kernel.root import KernelRoot
from memdive.kernel.thp import parse_choice, read_thp_settings, size_dir_bytes
from memdive.report.hugepages import (
    interesting,
    thp_process_json,
    thp_process_renderables,
    thp_system_renderables,
)

FIX = Path(__file__).parent.parent / "fixtures"
TWO = KernelRoot.at(str(FIX / "hugepages-2node-12orders"))
ONE = KernelRoot.at(str(FIX / "hugepages-1node-11orders"))
M = 1 << 20


def test_parse_choice():
    c = parse_choice(b"always [madvise] never\n")
    assert c.selected == "madvise" and c.choices == ("always", "madvise", "never")
    for bad in (b"always madvise never\n", b"[always] [never]\n", b""):
        with pytest.raises(ParseError):
            parse_choice(bad)
    assert size_dir_bytes("hugepages-2048kB") == 2 * M and size_dir_bytes("hugepages-x") is None
    assert size_dir_bytes("khugepaged") is None


def test_settings_multi_size():
    s = read_thp_settings(TWO)
    assert s.enabled.selected == "always" and s.defrag.selected == "defer+madvise"
    assert s.shmem_enabled.selected == "never" and s.pmd_size_bytes == 2 * M
    assert [z.size_bytes for z in s.sizes] == [8192, 16384, 65536, 2 * M]
    assert s.sizes[0].enabled is None and s.sizes[0].shmem_enabled.selected == "never"  # shmem-only size
    assert s.effective_mode(2 * M) == "always"  # inherit -> the top-level setting
    assert s.effective_mode(65536) == "madvise" and s.effective_mode(16384) == "never"
    assert s.size(65536).stats["nr_anon"] == 3
    assert s.khugepaged["pages_collapsed"] == 300 and s.khugepaged["full_scans"] == 12


def test_settings_before_multi_size_thp():
    s = read_thp_settings(ONE)
    assert s.sizes == () and s.shmem_enabled is None and s.use_zero_page is None
    assert s.effective_mode() == "madvise"


def test_no_thp_kernel(tmp_path):
    (tmp_path / "sys/kernel/mm").mkdir(parents=True)
    with pytest.raises(KernelFeatureMissing) as e:
        read_thp_settings(KernelRoot.at(str(tmp_path)))
    assert "TRANSPARENT_HUGEPAGE" in e.value.hint


def test_system_view():
    s = thp_system(TWO)
    assert s.counters["thp_fault_alloc"] == 900 and s.counters["thp_collapse_alloc_failed"] == 2
    assert "compact_stall" not in s.counters
    assert s.anon_huge_bytes == 204800 * 1024
    from memdive.report.tables import console

    c = console(file=io.StringIO())
    with c.capture() as cap:
        for r in thp_system_renderables(s):
            c.print(r)
    out = cap.get()
    assert "inherit (always)" in out and "khugepaged" in out and "(shmem only)" in out


def _reasons(pid):
    p = thp_process(pid, TWO)
    return p, {r.start: r.reason for r in p.regions}


def test_process_reasons():
    base = 0x7F0000000000
    p, why = _reasons(4242)
    assert p.mode == "always" and p.defrag == "defer+madvise"
    assert (
        p.anon_huge_bytes == 32 * M
        and p.anonymous_bytes == (8192 + 32768 + 16384 + 1024 + 4088 + 16384) * 1024
    )
    assert abs(p.huge_share - 32 * M / p.anonymous_bytes) < 1e-12
    assert why[base] is None  # has its huge pages
    assert why[0x55D000200000].startswith("defrag=defer+madvise")  # heap, not advised: no stall
    assert "21 free blocks" in why[0x55D000200000]  # 7 in DMA + 14 in Normal (fixture)
    assert why[base + 34 * M].startswith("not yet collapsed by khugepaged")
    assert why[base + 68 * M].startswith("shared memory: shmem_enabled=never")
    assert "smaller than the huge page size" in why[base + 86 * M]
    assert "misaligned" in why[base + 88 * M + 4096]
    assert why[base + 94 * M].startswith("nothing touched yet")
    assert "MADV_NOHUGEPAGE" in why[base + 112 * M]
    assert why[base + 130 * M] is None  # hugetlb: not THP's business
    assert why[0x7F1000000000] is None  # library text
    codes = {r.start: r.reason_code for r in p.regions}
    assert [
        codes[a]
        for a in (
            0x55D000200000,
            base + 34 * M,
            base + 68 * M,
            base + 86 * M,
            base + 88 * M + 4096,
            base + 94 * M,
            base + 112 * M,
            base,
        )
    ] == ["defrag", "khugepaged", "shmem mode", "too small", "misaligned", "untouched", "nohugepage", None]


def test_process_thp_disabled_by_prctl():
    _p, why = _reasons(4243)
    assert "PR_SET_THP_DISABLE" in why[0x55D000200000]
    assert why[0x7F0000000000 + 68 * M].startswith("shared memory")  # shmem is not affected by the prctl


def test_madvise_mode_reason(tmp_path):
    import shutil

    root = tmp_path / "t"
    shutil.copytree(FIX / "hugepages-2node-12orders", root)
    (root / "sys/kernel/mm/transparent_hugepage/enabled").write_text("always [madvise] never\n")
    p = thp_process(4242, KernelRoot.at(str(root)))
    heap = next(r for r in p.regions if r.kind == "heap")
    assert heap.reason == "THP mode is madvise and the region is not advised (MADV_HUGEPAGE)"
    (root / "sys/kernel/mm/transparent_hugepage/enabled").write_text("always madvise [never]\n")
    p = thp_process(4242, KernelRoot.at(str(root)))
    assert next(r for r in p.regions if r.kind == "heap").reason == "THP is off (enabled=never)"


def test_collapse_targets_and_rendering():
    base = 0x7F0000000000
    t = collapse_targets(4242, TWO)
    # heap (8 MiB aligned, touched), the advised 32 MiB without huge pages; not: full THP, nh, untouched,
    # misaligned, too small, hugetlb, shmem has no rss?  (shmem 16 MiB touched is a candidate too)
    assert (0x55D000200000, 0x55D000A00000) in t and (base + 34 * M, base + 66 * M) in t
    assert (base + 68 * M, base + 84 * M) in t
    assert all(a != base and a != base + 112 * M and a != base + 94 * M for a, _ in t)
    p = thp_process(4242, TWO)
    rows = interesting(p, 2 * M)
    assert {r.start for r in rows} >= {base, base + 34 * M, base + 88 * M + 4096}
    assert base + 86 * M not in {r.start for r in rows}  # 1 MiB: below --min
    d = thp_process_json(p, 2 * M, False)
    json.dumps(d)
    assert d["huge_share"] == p.huge_share and all("size_bytes" in r for r in d["regions"])
    out = thp_process_renderables(p, 2 * M)
    assert str(out[2]) == "why not:" and any(
        str(x).startswith("  khugepaged: not yet collapsed") for x in out
    )


def _cli(memdive_cli, *args):
    return memdive_cli(
        *args, env=dict(os.environ, MEMDIVE_ROOT=str(FIX / "hugepages-2node-12orders")), timeout=60
    )


def test_cli_thp(memdive_cli):
    p = _cli(memdive_cli, "thp", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["settings"]["enabled"]["selected"] == "always" and d["counters"]["thp_split_page"] == 7
    p = _cli(memdive_cli, "thp", "4242", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["anon_huge_bytes"] == 32 * M
    p = _cli(memdive_cli, "thp", "4242")
    assert p.returncode == 0 and "not yet collapsed by khugepaged" in " ".join(p.stdout.split())
    for bad in (
        ["thp", "x"],
        ["thp", "1", "2"],
        ["thp", "collapse"],
        ["thp", "collapse", "4242"],
        ["thp", "4242", "--range", "1000-2000"],
    ):
        p = _cli(memdive_cli, *bad)
        assert p.returncode == 2 and "Traceback" not in p.stderr, (bad, p.stderr)
    p = _cli(memdive_cli, "thp", "99999")
    assert p.returncode == 1 and "does not exist" in p.stderr
