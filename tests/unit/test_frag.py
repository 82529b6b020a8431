"""Buddy allocator files, the kernel's fragmentation indices, compaction: captured bytes, fixture trees."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from memdive.errors import InvalidInput, ParseError
from memdive.frag import compact, contig_info, frag, fragmentation_index, kernel_format, unusable_index
from memdive.kernel.buddy import parse_buddyinfo, parse_extfrag_index, parse_pagetypeinfo, read_buddyinfo
from memdive.kernel.root import KernelRoot
from memdive.report.frag import bar, frag_json, frag_renderables, spark, zone_picture

FIX = Path(__file__).parent.parent / "fixtures"
TWO = FIX / "hugepages-2node-12orders"
ONE = FIX / "hugepages-1node-11orders"

DMA = (1, 1, 0, 0, 2, 1, 1, 0, 1, 1, 3, 0)  # node 0 DMA of the 2-node fixture


def test_buddyinfo_two_nodes_twelve_orders():
    zones = read_buddyinfo(KernelRoot.at(str(TWO)))
    assert [(z.node, z.zone) for z in zones] == [
        (0, "DMA"),
        (0, "DMA32"),
        (0, "Normal"),
        (1, "Normal"),
        (1, "Movable"),
    ]
    assert all(z.orders == 12 for z in zones)
    assert zones[0].free_blocks == DMA
    # 1 + 1*2 + 2*16 + 1*32 + 1*64 + 1*256 + 1*512 + 3*1024
    assert zones[0].free_pages == 3971
    assert zones[2].free_blocks[0] == 250000 and zones[2].free_blocks[11] == 2
    assert zones[4].free_pages == 0


def test_buddyinfo_eleven_orders():
    zones = read_buddyinfo(KernelRoot.at(str(ONE)))
    assert [z.orders for z in zones] == [11, 11, 11]
    assert zones[2].free_pages == 4000 + 2000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage\n",
        b"Node 0, zone Normal 1 2 x\n",
        b"Node 0 zone Normal 1 2 3\n",
        b"Node 0, zone DMA 1 2 3\nNode 0, zone Normal 1 2\n",  # a truncated line
    ],
)
def test_buddyinfo_malformed(data):
    with pytest.raises(ParseError):
        parse_buddyinfo(data)


def test_pagetypeinfo_capped_counts_and_blocks():
    pt = parse_pagetypeinfo((TWO / "proc/pagetypeinfo").read_bytes())
    assert pt.pageblock_order == 9 and pt.pages_per_block == 512
    mov = next(r for r in pt.free if (r.node, r.zone, r.migrate_type) == (0, "Normal", "Movable"))
    assert mov.free_blocks[:3] == (100000, 100000, 60000)
    assert mov.capped[:3] == (True, True, False)
    assert not any(any(r.capped) for r in pt.free if r is not mov)
    assert len(pt.free) == 5 * 6 and all(len(r.free_blocks) == 12 for r in pt.free)
    # the 'Number of mixed blocks' section after the block counts is not taken for block counts
    assert [(b.node, b.zone) for b in pt.blocks] == [
        (0, "DMA"),
        (0, "DMA32"),
        (0, "Normal"),
        (1, "Normal"),
        (1, "Movable"),
    ]
    assert pt.blocks[2].blocks == {
        "Unmovable": 600,
        "Movable": 14000,
        "Reclaimable": 400,
        "HighAtomic": 2,
        "CMA": 0,
        "Isolate": 0,
    }


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Page block order: 9\nPages per block:  512\n",
        b"Page block order: x\n",
        (
            b"Page block order: 9\nPages per block: 512\nFree pages count per migrate type at order 0 1\n"
            b"Node    0, zone      DMA, type    Unmovable      1      >x\n"
        ),
    ],
)
def test_pagetypeinfo_malformed(data):
    with pytest.raises(ParseError):
        parse_pagetypeinfo(data)


def test_indices_by_hand():
    # free_pages 3971, 11 blocks; at order 9 the suitable blocks are 1 + 3*2 = 7 (3584 pages)
    assert contig_info(DMA, 9) == (3971, 11, 7)
    assert unusable_index(DMA, 0) == 0
    assert unusable_index(DMA, 9) == (3971 - 3584) * 1000 // 3971 == 97
    assert unusable_index(DMA, 10) == (3971 - 3072) * 1000 // 3971 == 226
    assert unusable_index(DMA, 11) == 1000
    assert fragmentation_index(DMA, 10) == -1000  # a block is free: the index does not apply
    # order 11: 1000 - (1000 + 3971000 // 2048) // 11 = 1000 - 2938 // 11 = 1000 - 267
    assert fragmentation_index(DMA, 11) == 733
    only0 = (12,) + (0,) * 11  # node 1 Normal: twelve single pages
    assert [unusable_index(only0, k) for k in (0, 1, 11)] == [0, 1000, 1000]
    # order 1: 1000 - (1000 + 12000 // 2) // 12 = 1000 - 583; order 3: 1000 - (1000 + 1500) // 12 = 1000 - 208
    assert [fragmentation_index(only0, k) for k in (0, 1, 2, 3)] == [-1000, 417, 667, 792]
    empty = (0,) * 12
    assert unusable_index(empty, 3) == 1000 and fragmentation_index(empty, 3) == 0
    assert fragmentation_index(only0, 12) == 0  # beyond the top order: the kernel's 0


def test_kernel_format_matches_debugfs_printing():
    # seq_printf("%d.%03d", v / 1000, v % 1000) in C
    assert [kernel_format(v) for v in (-1000, 0, 97, 733, 1000, -500)] == [
        "-1.000",
        "0.000",
        "0.097",
        "0.733",
        "1.000",
        "0.-500",
    ]
    text = b"Node 0, zone      DMA -1.000  0.733 \nNode 1, zone   Normal 0.-500 1.000 \n"
    assert parse_extfrag_index(text) == {(0, "DMA"): (-1000, 733), (1, "Normal"): (-500, 1000)}
    with pytest.raises(ParseError):
        parse_extfrag_index(b"Node 0, zone DMA 0.x\n")


def test_frag_report_on_fixture():
    f = frag(KernelRoot.at(str(TWO)))
    assert len(f.zones) == 5
    dma = f.zones[0]
    assert dma.unusable[9] == 97 and dma.fragmentation[11] == 733
    assert f.pagetypes is not None and f.pagetypes_error is None
    assert f.compaction["compact_stall"] == 17 and f.compaction["compact_success"] == 12
    assert (
        f.compaction["compact_migrate_scanned"] == 123456 and f.compaction["compact_free_scanned"] == 654321
    )
    assert f.settings["extfrag_threshold"] == 500
    assert [(z.node, z.zone) for z in frag(KernelRoot.at(str(TWO)), node=1).zones] == [
        (1, "Normal"),
        (1, "Movable"),
    ]
    with pytest.raises(InvalidInput):
        frag(KernelRoot.at(str(TWO)), node=7)


def test_frag_without_pagetypeinfo_says_so():
    f = frag(KernelRoot.at(str(ONE)))
    assert f.pagetypes is None and "pagetypeinfo" in f.pagetypes_error
    assert [z.zone for z in f.zones] == ["DMA", "DMA32", "Normal"]


def test_render_picture_and_capped_counts():
    from memdive.report.tables import console

    f = frag(KernelRoot.at(str(TWO)))
    c = console(file=io.StringIO())
    with c.capture() as cap:
        for r in frag_renderables(f, pagetypes=True):
            c.print(r)
    out = cap.get()
    assert ">100000" in out and "Node 0, zone DMA:" in out and "█" in out
    assert "unusable" in out and "0.733" in out
    assert bar(8, 8, 4) == "████" and bar(1, 8, 4) == "▌" and bar(0, 8, 4) == ""
    assert spark(f.zones[4]) == " " * 12  # an empty zone draws nothing
    assert zone_picture(f.zones[1], 4096).row_count == 12
    d = frag_json(f)
    json.dumps(d)
    assert d["zones"][0]["unusable_index"][9] == 0.097 and d["zones"][0]["free_bytes"] == 3971 * 4096


def test_huge_page_verdicts():
    from memdive.frag import zone_frag
    from memdive.models.hugepages import BuddyZone
    from memdive.report.frag import huge_page_verdict

    f = frag(KernelRoot.at(str(TWO)))
    v = [huge_page_verdict(z, 4096, 500) for z in f.zones]
    assert v[0].endswith("2.0M allocations succeed without compaction") and "(7 such blocks)" in v[0]
    assert "fragmentation index 0.994 > extfrag_threshold 0.500" in v[1]  # DMA32: many small blocks
    assert "0.915" in v[3] and v[4] is None  # node 1: twelve pages; an empty zone says nothing
    # ten order-8 blocks: 1000 - (1000 + 2560 * 1000 // 512) // 10 = 400 <= 500: lack of memory
    few = zone_frag(BuddyZone(node=0, zone="Normal", free_blocks=(0,) * 8 + (10, 0, 0)))
    assert "0.400 <= 0.500: the zone lacks memory" in huge_page_verdict(few, 4096, 500)


def test_compact_writes_the_knob_and_reports_before_after(tmp_path):
    root = tmp_path / "t"
    shutil.copytree(TWO, root)
    r = KernelRoot.at(str(root))
    res = compact(None, r)
    assert (root / "proc/sys/vm/compact_memory").read_text() == "1"
    assert res.before.zones == res.after.zones and res.elapsed_seconds >= 0
    compact(1, r)
    assert (root / "sys/devices/system/node/node1/compact").read_text() == "1"
    with pytest.raises(InvalidInput):
        compact(5, r)


def _cli(memdive_cli, *args, root=TWO):
    return memdive_cli(*args, env=dict(os.environ, MEMDIVE_ROOT=str(root)), timeout=60)


def test_cli_frag_json_and_usage_errors(memdive_cli):
    p = _cli(memdive_cli, "frag", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["zones"][3]["fragmentation"][1] == 417 and d["compaction"]["compact_fail"] == 5
    p = _cli(memdive_cli, "frag", "--compact")
    assert p.returncode == 2 and "--yes" in p.stderr
    p = _cli(memdive_cli, "frag", "--node", "9")
    assert p.returncode == 2 and "node 9" in p.stderr and "Traceback" not in p.stderr
    p = _cli(memdive_cli, "frag", "--no-picture", root=ONE)
    assert p.returncode == 0 and "unavailable" in p.stdout and "pagetypeinfo" in p.stdout
