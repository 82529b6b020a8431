"""hugetlb pools, mounts and pool writes on fixture trees (writes go to a copy)."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from memdive.errors import InvalidInput, KernelFeatureMissing
from memdive.hugepages.hugetlb import hugetlb_system, release, reserve, set_pool
from memdive.kernel.hugetlb import parse_hugetlb_mounts, read_pools, write_nr_hugepages
from memdive.kernel.root import KernelRoot
from memdive.models.hugepages import PoolChange
from memdive.report.hugepages import hugetlb_renderables, pool_change_text

FIX = Path(__file__).parent.parent / "fixtures"
TWO = FIX / "hugepages-2node-12orders"
M, G = 1 << 20, 1 << 30


def test_pools_per_size_and_node():
    pools = read_pools(KernelRoot.at(str(TWO)))
    assert [p.size_bytes for p in pools] == [2 * M, G]
    p2 = pools[0]
    assert (p2.total, p2.free, p2.reserved, p2.surplus, p2.overcommit) == (10, 6, 2, 1, 4)
    assert [(n.node, n.total, n.free, n.surplus) for n in p2.nodes] == [(0, 6, 4, 1), (1, 4, 2, 0)]
    assert p2.in_use == 4 and p2.total_bytes == 20 * M
    assert [(n.node, n.total) for n in pools[1].nodes] == [(0, 2), (1, 0)]


def test_mounts():
    data = (TWO / "proc/mounts").read_bytes()
    ms = parse_hugetlb_mounts(data)
    assert [m.mountpoint for m in ms] == ["/dev/hugepages", "/mnt/huge 1g", "/mnt/dflt"]
    assert [m.page_size_bytes for m in ms] == [2 * M, G, None]
    assert "size=4G" in ms[1].options


def test_system_and_render():
    s = hugetlb_system(KernelRoot.at(str(TWO)))
    assert s.default_size_bytes == 2 * M and len(s.mounts) == 3
    from memdive.report.tables import console

    c = console(file=io.StringIO())
    with c.capture() as cap:
        for r in hugetlb_renderables(s):
            c.print(r)
    out = cap.get()
    assert "node 1" in out and "/mnt/huge 1g" in out and "2.0M (default)" in out


def test_no_hugetlb(tmp_path):
    (tmp_path / "sys/kernel/mm").mkdir(parents=True)
    with pytest.raises(KernelFeatureMissing):
        read_pools(KernelRoot.at(str(tmp_path)))


@pytest.fixture
def copy(tmp_path):
    root = tmp_path / "t"
    shutil.copytree(TWO, root)
    return root


def test_reserve_release_set_read_back(copy):
    r = KernelRoot.at(str(copy))
    c = reserve(2 * M, 3, root=r)
    assert (c.before_total, c.requested_total, c.after_total, c.complete) == (10, 13, 13, True)
    assert (copy / "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").read_text().strip() == "13"
    c = release(G, None, node=0, root=r)  # node 0 has 2 free of 2
    assert (c.before_total, c.after_total) == (2, 0)
    assert (
        copy / "sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages"
    ).read_text().strip() == "0"
    c = set_pool(2 * M, 1, node=1, root=r)
    assert (c.before_total, c.after_total, c.node) == (4, 1, 1)
    with pytest.raises(InvalidInput):
        reserve(4 * M, 1, root=r)  # no such size
    with pytest.raises(InvalidInput):
        reserve(2 * M, 1, node=3, root=r)  # no such node
    with pytest.raises(InvalidInput):
        write_nr_hugepages(2 * M, -1, root=r)


def test_refuses_to_grow_beyond_available_memory(copy):
    r = KernelRoot.at(str(copy))  # MemAvailable 4000000 kB in the fixture: 4 GiB of 1 GiB pages is too much
    with pytest.raises(InvalidInput) as e:
        reserve(G, 4, root=r)
    assert "4096 MiB" in str(e.value) and "--force" in e.value.hint
    assert (copy / "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages").read_text().strip() == "2"
    assert reserve(G, 4, root=r, force=True).after_total == 6
    assert set_pool(G, 3, root=r).after_total == 3  # shrinking is never refused


def test_outcome_texts():
    short = PoolChange(
        size_bytes=G, node=0, requested_total=8, before_total=0, after_total=5, before_free=0, after_free=5
    )
    assert not short.complete and short.shortfall == 3
    t = pool_change_text(short)
    assert "3 short" in t and "node 0" in t and "0 -> 5" in t
    busy = PoolChange(
        size_bytes=2 * M,
        node=None,
        requested_total=0,
        before_total=4,
        after_total=2,
        before_free=2,
        after_free=0,
    )
    assert "2 pages are in use" in pool_change_text(busy)


def _cli(memdive_cli, *args, root=TWO):
    return memdive_cli(*args, env=dict(os.environ, MEMDIVE_ROOT=str(root)), timeout=60)


def test_cli(copy, memdive_cli):
    p = _cli(memdive_cli, "hugetlb", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["pools"][0]["nodes"][1]["free"] == 2 and d["mounts"][1]["page_size_bytes"] == G
    p = _cli(memdive_cli, "hugetlb", "--reserve", "2", root=copy)
    assert p.returncode == 2 and "--yes" in p.stderr
    p = _cli(
        memdive_cli, "hugetlb", "--reserve", "2", "--size", "1G", "--node", "1", "--yes", "--json", root=copy
    )
    assert p.returncode == 0, p.stderr
    ch = json.loads(p.stdout)["change"]
    assert (ch["before_total"], ch["after_total"], ch["complete"]) == (0, 2, True)
    p = _cli(memdive_cli, "hugetlb", "--release", "2", "--size", "1G", "--node", "1", "--yes", root=copy)
    assert p.returncode == 0 and "2 -> 0" in p.stdout
    p = _cli(memdive_cli, "hugetlb", "--node", "1", "--size", "2M")  # filters of the view
    pools = p.stdout.split("hugetlbfs mounts")[0]
    assert p.returncode == 0 and "node 1" in pools and "node 0" not in pools and "1.0G" not in pools
    p = _cli(memdive_cli, "hugetlb", "--node", "4")
    assert p.returncode == 2 and "node 4" in p.stderr
    p = _cli(memdive_cli, "hugetlb", "--reserve", "-3", "--yes", root=copy)
    assert p.returncode == 2 and "negative" in p.stderr
    p = _cli(memdive_cli, "hugetlb", "--size", "3M", "--reserve", "1", "--yes", root=copy)
    assert p.returncode == 2 and "3072 kB" in p.stderr
