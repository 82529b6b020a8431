"""NUMA parsers and analysis on captured bytes and fixture trees (2 nodes; 4 nodes with asymmetric
distances, a CPU-less and a memory-less node; a kernel without NUMA sysfs). No processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from memdive.errors import InvalidInput, ParseError
from memdive.kernel import numa as knuma
from memdive.kernel.root import KernelRoot
from memdive.models.numa import MemPolicy, format_nodelist

FIX = Path(__file__).parent.parent / "fixtures"
R2 = KernelRoot.at(str(FIX / "numa-2node"))
R4 = KernelRoot.at(str(FIX / "numa-4node"))
MB, KB = 1 << 20, 1024


def test_parse_list_forms():
    assert knuma.parse_list("0-3,8,10-11") == (0, 1, 2, 3, 8, 10, 11)
    assert knuma.parse_list("\n") == ()
    assert knuma.parse_list(b"5\n") == (5,)
    assert knuma.parse_list("0-7:2/4") == (0, 1, 4, 5)
    for bad in ("3-1", "a", "1,,2", "0-"):
        with pytest.raises(ParseError):
            knuma.parse_list(bad)
    assert format_nodelist((0, 1, 2, 5, 7, 8)) == "0-2,5,7-8"


def test_read_nodes_two_node_tree():
    ns = knuma.read_nodes(R2)
    assert [n.id for n in ns] == [0, 1]
    n0, n1 = ns
    assert n0.cpus == (0, 1, 2, 3) and n1.cpus == (4, 5, 6, 7)
    assert n0.mem_total_bytes == 8155840 * KB and n0.mem_free_bytes == 6000000 * KB
    assert n0.mem_used_bytes == (8155840 - 6000000) * KB
    assert n0.distances == {0: 10, 1: 21} and n1.distances == {0: 21, 1: 10}
    assert n0.numastat == {"numa_hit": 1000000, "numa_miss": 20, "numa_foreign": 300, "interleave_hit": 1125,
                           "local_node": 999000, "other_node": 1020}
    assert n1.meminfo["HugePages_Total"] == 4 and n1.meminfo["Active(anon)"] % KB == 0
    pool = {p.page_size_bytes: p for p in n1.hugepages}
    assert pool[2 * MB].total_pages == 4 and pool[2 * MB].free_pages == 2
    assert all(n.has_memory and n.has_cpu and not n.synthetic for n in ns)


def test_read_nodes_four_nodes_asymmetric_memoryless():
    ns = {n.id: n for n in knuma.read_nodes(R4)}
    assert sorted(ns) == [0, 1, 2, 3]
    # asymmetric: 0->1 is 16 but 1->0 is 20
    assert ns[0].distances[1] == 16 and ns[1].distances[0] == 20
    assert ns[3].distances == {0: 32, 1: 24, 2: 30, 3: 10}
    assert not ns[3].has_memory and ns[3].mem_total_bytes == 0 and ns[3].cpus == (8, 9, 10, 11)
    assert not ns[2].has_cpu and ns[2].cpus == () and ns[2].has_memory
    from memdive.numa import distance_matrix

    m = distance_matrix(list(ns.values()))
    assert m[0] == [10, 16, 22, 28] and [row[row_i] for row_i, row in enumerate(m)] == [10, 10, 10, 10]


def test_no_numa_sysfs_gives_one_synthetic_node():
    ns = knuma.read_nodes(KernelRoot.at(str(FIX / "numa-nosysfs")))
    assert len(ns) == 1 and ns[0].synthetic and ns[0].cpus == tuple(range(6))
    assert ns[0].mem_total_bytes == 16384000 * KB and ns[0].mem_free_bytes == 8192000 * KB


def test_node_rates():
    from memdive.numa import node_rates

    a = knuma.read_nodes(R2)
    import dataclasses

    b = [dataclasses.replace(n, numastat={k: v + 100 * (n.id + 1) for k, v in n.numastat.items()}) for n in a]
    r = node_rates(a, b, 2.0)
    assert r[0]["numa_hit"] == 50.0 and r[1]["other_node"] == 100.0


def test_numa_maps_policies_spaces_and_hugetlb():
    ms = knuma.read_numa_maps_joined(4242, R4)
    by = {m.start: m for m in ms}
    assert len(ms) == 12
    heap = by[0x55d4c1f00000]
    assert heap.heap and heap.pages_by_node == {0: 200, 1: 56} and heap.name == "[heap]"
    assert heap.end == 0x55d4c2000000 and heap.resident_bytes == 256 * 4096 and heap.active_pages == 10
    # hugetlb counted at its page size: 3 pages of 2 MiB on node 1, one 1 GiB page on node 0
    h2 = by[0x7f1000000000]
    assert h2.huge and h2.file == "/dev/hugepages/big  file (deleted)" and h2.policy == "bind:1"
    assert h2.bytes_by_node == {1: 6 * MB} and h2.category == "huge"
    h1g = by[0x7f2000000000]
    assert h1g.huge and h1g.page_size_bytes == 1 << 30 and h1g.resident_bytes == 1 << 30
    # escaped spaces and '=' in a path; an unescaped path with spaces (and ending in "huge") parsed right
    assert by[0x7f3000000000].file == "/data/my file=v1 .bin" and by[0x7f3000000000].swapcache_pages == 2
    raw = by[0x7f3000010000]
    assert raw.file == "/data/raw spaced huge" and not raw.huge and raw.writeback_pages == 1
    # policies with spaces and flags
    assert by[0x7f4000000000].policy == "prefer (many)=static:0,2" and by[0x7f4000000000].name == "[anon:arena]"
    wi = by[0x7f5000000000]
    assert wi.policy == "weighted interleave=relative|balancing:0-1" and wi.other == {"future_key": 7}
    assert by[0x7f6000000000].policy == "local" and by[0x7f6000000000].pages_by_node == {}
    assert by[0x7ffd10000000].stack


def test_parse_policy():
    assert knuma.parse_policy("bind:0-1") == MemPolicy(mode="bind", nodes=(0, 1))
    p = knuma.parse_policy("prefer (many)=static:0,2")
    assert p.mode == "preferred_many" and p.nodes == (0, 2) and p.flags == ("static",)
    p = knuma.parse_policy("weighted interleave=relative|balancing:0-3")
    assert p.mode == "weighted_interleave" and p.flags == ("relative", "balancing") and p.nodes == (0, 1, 2, 3)
    assert knuma.parse_policy("default") == MemPolicy(mode="default")
    assert str(MemPolicy(mode="interleave", nodes=(0, 1, 2), flags=("static",))) == "interleave=static:0-2"


@pytest.mark.parametrize("data", [b"zzzz default N0=1\n", b"7f00 default N0=x\n", b"7f00\n",
                                  b"7f00 default N0=1 garbage\n"])
def test_numa_maps_garbage_is_a_parse_error(data):
    with pytest.raises(ParseError) as e:
        knuma.parse_numa_maps(data, "/proc/1/numa_maps")
    assert "/proc/1/numa_maps" in str(e.value)


@pytest.mark.parametrize("name,data", [("meminfo", b"Node 0 MemTotal: x kB\n"), ("meminfo", b"Node 0 MemFree: 1 kB\n"),
                                       ("numastat", b"numa_hit\n"), ("distance", b"10 x\n"), ("distance", b"")])
def test_node_file_garbage(name, data):
    fn = {"meminfo": knuma.parse_node_meminfo, "numastat": knuma.parse_numastat, "distance": knuma.parse_distance}[name]
    with pytest.raises(ParseError):
        fn(data, name)


def test_placement_totals_like_numastat_p():
    from memdive.numa import placement

    p = placement(4242, R4)
    t = p.totals()
    assert t["huge"] == {0: 1 << 30, 1: 6 * MB}
    assert t["heap"] == {0: 200 * 4096, 1: 56 * 4096}
    assert t["stack"] == {0: 33 * 4096, 3: 0}
    assert p.nodes == (0, 1, 2, 3) and p.mems_allowed == "0-2" and p.comm == "my app"
    assert p.policies["default"] == 6 and p.policies["local"] == 1
    assert sum(p.per_node_bytes().values()) == sum(m.resident_bytes for m in p.mappings)


def test_parse_nodes_arg_checks_the_machine():
    from memdive.numa import parse_nodes_arg

    ns = knuma.read_nodes(R4)
    assert parse_nodes_arg("0-2", ns, need_memory=True) == (0, 1, 2)
    assert parse_nodes_arg("all", ns, need_memory=True) == (0, 1, 2)
    with pytest.raises(InvalidInput, match="node 7 does not exist"):
        parse_nodes_arg("7", ns)
    with pytest.raises(InvalidInput, match="node 3 has no memory"):
        parse_nodes_arg("3", ns, need_memory=True)
    with pytest.raises(InvalidInput, match="not a node list"):
        parse_nodes_arg("x", ns)


def test_nodemask_encoding_round_trips():
    m = knuma._mask([0, 63, 64, 1023])
    assert knuma._unmask(m) == (0, 63, 64, 1023)
    with pytest.raises(InvalidInput):
        knuma._mask([1024])
    with pytest.raises(InvalidInput, match="unknown memory policy"):
        knuma._mode("sideways")






def test_distances_follow_online_nodes_with_a_hole(tmp_path):
    # nodes 0 and 2 online (node 1 offline/absent): each distance line has one value per online node
    base = tmp_path / "sys/devices/system/node"
    for i, dist in ((0, "10 20"), (2, "20 10")):
        d = base / f"node{i}"
        d.mkdir(parents=True)
        (d / "distance").write_text(dist + "\n")
        (d / "cpulist").write_text(f"{i}\n")
        (d / "meminfo").write_text(f"Node {i} MemTotal: 1024 kB\nNode {i} MemFree: 512 kB\n")
    (base / "online").write_text("0,2\n")
    ns = knuma.read_nodes(KernelRoot.at(str(tmp_path)))
    assert [n.id for n in ns] == [0, 2]
    assert ns[0].distances == {0: 10, 2: 20} and ns[1].distances == {0: 20, 2: 10}
    assert ns[1].mem_used_bytes == 512 * KB and ns[1].numastat == {} and ns[1].hugepages == ()


def test_migration_tally_of_per_page_statuses():
    # statuses as move_pages returns them on a 3-node machine: the query, then the move to node 0
    import numpy as np

    from memdive.numa.migration import Tally

    t = Tally()
    st = np.array([0, 1, 1, 2, -2, -14, 1, 2], dtype=np.int32)   # -ENOENT, -EFAULT: not present / zero page
    sel = t.query(st, 0, np.array([1, 2], dtype=np.int32), 4096)
    assert sel.tolist() == [False, True, True, True, False, False, True, True]
    assert (t.examined, t.already, t.not_present) == (6, 1, 2)
    assert t.before == {0: 4096, 1: 3 * 4096, 2: 2 * 4096}
    res = np.array([0, -13, 0, -16, 2], dtype=np.int32)          # moved, EACCES, moved, EBUSY, ended on 2
    t.moved_batch(st[sel], res, 0, 4096)
    assert (t.moved, t.moved_bytes) == (2, 2 * 4096)
    assert t.failures == {"EACCES": 1, "EBUSY": 1, "ended on node 2": 1}
    assert t.after == {0: 3 * 4096, 1: 2 * 4096, 2: 4096}          # failed pages stay where they were
    assert sum(t.after.values()) == sum(t.before.values())
