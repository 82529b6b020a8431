"""`memdive numa` as a subprocess on fixture trees (MEMDIVE_ROOT): 4 nodes, asymmetric distances,
memory-less node, numa_maps with hugetlb and spaces; settings present and absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from memdive.kernel import numa as knuma
from memdive.kernel.root import KernelRoot

FIX = Path(__file__).parent.parent / "fixtures"
R2 = KernelRoot.at(str(FIX / "numa-2node"))
R4 = KernelRoot.at(str(FIX / "numa-4node"))
MB = 1 << 20


def _cli(root: Path, *args):
    env = dict(os.environ, MEMDIVE_ROOT=str(root))
    return subprocess.run([sys.executable, "-m", "memdive", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_cli_nodes_and_process_on_fixture_trees():
    r = _cli(FIX / "numa-4node", "numa", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["distance_matrix"][1] == [20, 10, 16, 22]
    assert [n["has_memory"] for n in d["nodes"]] == [True, True, True, False]
    r = _cli(FIX / "numa-4node", "numa", "4242", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["totals_bytes"]["huge"] == {"0": 1 << 30, "1": 6 * MB}
    r = _cli(FIX / "numa-4node", "numa", "4242")
    assert r.returncode == 0 and "/data/my file=v1 .bin" in r.stdout and "[heap]" in r.stdout
    assert "weighted interleave=relative|balancing:0-1" in r.stdout
    r = _cli(FIX / "numa-2node", "numa")
    assert r.returncode == 0 and "numa_foreign" in r.stdout and "21" in r.stdout


def test_numa_settings_and_missing_ones():
    assert knuma.read_numa_settings(R2) == {"numa_balancing": "1", "zone_reclaim_mode": "1",
                                            "demotion_enabled": "true"}
    assert set(knuma.read_numa_settings(R4).values()) == {None}
    r = _cli(FIX / "numa-4node", "numa", "--no-meminfo")
    assert "numa_balancing: unsupported" in r.stdout
    r = _cli(FIX / "numa-2node", "numa", "--no-meminfo")
    assert "numa_balancing = 1 (on" in r.stdout and "zone_reclaim_mode = 1 (reclaim on the local node" in r.stdout
