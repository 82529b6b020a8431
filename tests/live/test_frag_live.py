"""frag on the real machine: the indices equal the kernel's own (debugfs extfrag), compaction before/after."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import pytest

from memdive.frag import compact, frag, zone_frag
from memdive.kernel.buddy import read_buddyinfo, read_extfrag_index

from ..conftest import requires_root


@requires_root
def test_indices_equal_debugfs():
    d = tempfile.mkdtemp()
    if (
        subprocess.run(["mount", "-t", "debugfs", "none", d], capture_output=True, check=False).returncode
        != 0
    ):
        os.rmdir(d)
        pytest.fail("cannot mount debugfs (needed to read the kernel's own extfrag indices)")
    try:
        compared = 0
        for _attempt in range(20):  # free lists move: compare only zones that did not change meanwhile
            before = {(z.node, z.zone): z for z in read_buddyinfo()}
            unusable = read_extfrag_index(d, "unusable_index")
            extfrag = read_extfrag_index(d, "extfrag_index")
            after = {(z.node, z.zone): z for z in read_buddyinfo()}
            for key, z in before.items():
                if after.get(key) != z or key not in unusable:
                    continue
                zf = zone_frag(z)
                assert zf.unusable == unusable[key], key
                assert zf.fragmentation == extfrag[key], key
                compared += 1
            if compared >= 2:
                break
        assert compared >= 2
    finally:
        subprocess.run(["umount", d], check=True)
        os.rmdir(d)


@requires_root
def test_compact_node0_before_after():
    res = compact(0)
    assert res.node == 0 and res.elapsed_seconds > 0
    b, a = res.before.compaction, res.after.compaction
    # a manual compaction scans (kcompactd and direct compaction counters are separate)
    assert (
        a["compact_migrate_scanned"] + a["compact_free_scanned"]
        >= b["compact_migrate_scanned"] + b["compact_free_scanned"]
    )
    assert [z.zone for z in res.after.zones] == [z.zone for z in read_buddyinfo() if z.node == 0]


def test_frag_matches_buddyinfo_and_vmstat():
    f = frag(pagetypes=False)
    with open("/proc/vmstat") as fh:
        vm = dict(ln.split() for ln in fh)
    # vmstat counters only grow: what frag read cannot exceed what /proc/vmstat says afterwards
    assert f.compaction and all(v <= int(vm[k]) for k, v in f.compaction.items())
    assert {(z.node, z.zone) for z in f.zones} == {(z.node, z.zone) for z in read_buddyinfo()}


def test_unprivileged(memdive_cli):
    p = memdive_cli("frag", "--no-picture", user="nobody")
    assert p.returncode == 0, p.stderr
    assert "pagetypeinfo" in p.stdout and "root" in p.stdout
    p = memdive_cli("frag", "--compact", "--yes", user="nobody")
    assert p.returncode == 1 and "needs root" in p.stderr
    p = memdive_cli("frag", "--json", user="nobody")
    d = json.loads(p.stdout)
    assert d["pagetypes"] is None and "root" in d["pagetypes_error"]


@requires_root
def test_pagetypeinfo_sums_to_buddyinfo():
    from memdive.kernel.buddy import read_pagetypeinfo

    for _attempt in range(20):  # compare zones whose free lists did not move between the reads
        before = {(z.node, z.zone): z.free_blocks for z in read_buddyinfo()}
        pt = read_pagetypeinfo()
        after = {(z.node, z.zone): z.free_blocks for z in read_buddyinfo()}
        stable = [k for k in before if before[k] == after.get(k)]
        checked = 0
        for key in stable:
            rows = [r for r in pt.free if (r.node, r.zone) == key]
            if any(any(r.capped) for r in rows):
                continue
            sums = tuple(sum(col) for col in zip(*(r.free_blocks for r in rows)))
            assert sums == before[key], key
            checked += 1
        if checked:
            break
    assert checked >= 1
    assert pt.pages_per_block == 1 << pt.pageblock_order
