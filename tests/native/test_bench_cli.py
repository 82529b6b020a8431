"""`memdive bench` as a subprocess: JSON schema, tables, plots, errors; hugetlb backing (root)."""

from __future__ import annotations

import json
import os

import pytest

from ..conftest import requires_root


def _json(memdive_cli, *args):
    r = memdive_cli("bench", *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_latency_json_schema(memdive_cli):
    d = _json(memdive_cli, "latency", "--size", "64k", "--repeats", "2", "--quick")
    assert [p["size_bytes"] for p in d["points"]] == [4096 << i for i in range(5)]
    p = d["points"][0]
    assert set(p["ns_per_load"]) == {"min", "median", "max", "n"} and p["ns_per_load"]["n"] == 2
    assert d["levels"][0]["name"] == "L1" and d["stride_bytes"] == 64
    assert d["backing"]["requested"] == "4k" and d["backing"]["obtained"] == "4k"
    env = d["env"]
    assert env["pinned"] is True and env["cpus"] and env["kernel"] and "thp_mode" in env
    assert env["caches"][0]["level"] == 1


def test_bandwidth_json(memdive_cli):
    d = _json(memdive_cli, "bandwidth", "--size", "1M", "--threads", "1", "--repeats", "2")
    assert d["validated"] is True and d["array_bytes"] == 1 << 20
    assert [r["kernel"] for r in d["rows"]] == ["read", "write", "copy", "scale", "add", "triad"]
    assert all(r["threads"] == 1 and r["gb_per_second"]["median"] > 0 for r in d["rows"])


def test_tlb_and_false_sharing_json(memdive_cli):
    d = _json(memdive_cli, "tlb", "--size", "256k", "--repeats", "1")
    assert [m["method"] for m in d["map_rows"]] == ["small-mmaps", "one-region", "hugetlb", "thp"]
    one = d["map_rows"][1]
    assert one["backing"]["obtained"] == "4k" and one["backing"]["rss_bytes"] == one["pages"] * 4096
    assert {r["backing"]["obtained"] for r in d["access_rows"]} >= {"4k"}
    d = _json(memdive_cli, "false-sharing", "--quick", "--repeats", "1")
    assert d["validated"] is True and d["threads"] == len(os.sched_getaffinity(0))


def test_table_and_plot(memdive_cli, tmp_path):
    svg = tmp_path / "lat.svg"
    r = memdive_cli("bench", "latency", "--size", "32k", "--repeats", "1", "--plot", str(svg))
    assert r.returncode == 0, r.stderr
    assert "Levels found vs sysfs" in r.stdout and "pages asked 4k, got 4k" in r.stdout
    assert svg.read_text().lstrip().startswith("<?xml")


def test_errors_are_one_line(memdive_cli):
    r = memdive_cli("bench", "nosuch")
    assert r.returncode == 2
    r = memdive_cli("bench", "bandwidth", "--threads", "999", "--size", "1M")
    assert r.returncode == 2 and "999 threads" in r.stderr and "Traceback" not in r.stderr
    r = memdive_cli("bench", "latency", "--plot", "out.txt")
    assert r.returncode == 2 and ".png, .svg or .pdf" in r.stderr


def _meminfo(key: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


@requires_root
def test_hugetlb_backing_with_a_reserved_pool(memdive_cli):
    from memdive.bench.buffers import Buffer
    from memdive.errors import MemdiveError

    path = "/proc/sys/vm/nr_hugepages"
    with open(path) as f:
        before = int(f.read())
    if _meminfo("HugePages_Free") == 0:  # the empty pool: a clear error with the hint
        with pytest.raises(MemdiveError) as e:
            Buffer(4 << 20, "hugetlb")
        assert "nr_hugepages" in e.value.hint
    try:
        with open(path, "w") as f:
            f.write(str(before + 4))
        if _meminfo("HugePages_Free") < 2:
            pytest.fail("could not reserve 2 MiB hugetlb pages for the test")
        with Buffer(4 << 20, "hugetlb") as b:
            import ctypes

            ctypes.memset(b.addr, 1, 4 << 20)
            got = b.backing()
            assert got.obtained == "hugetlb" and got.hugetlb_bytes == 4 << 20 and got.kernel_page_size_bytes == 2 << 20
        d = _json(memdive_cli, "latency", "--size", "2M", "--repeats", "1", "--pages", "hugetlb")
        assert d["backing"]["obtained"] == "hugetlb"
    finally:
        with open(path, "w") as f:
            f.write(str(before))
