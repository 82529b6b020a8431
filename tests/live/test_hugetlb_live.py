"""hugetlb on the real machine: reserve/release read back and restored as found; check maps MAP_HUGETLB."""

from __future__ import annotations

import json

import pytest

from memdive.hugepages.hugetlb import check, release, reserve, set_pool
from memdive.kernel.hugetlb import read_pool
from memdive.kernel.thp import read_thp_settings

from ..conftest import requires_root

MiB = 1 << 20


def meminfo_huge():
    with open("/proc/meminfo") as f:
        d = {ln.split(":")[0]: ln.split()[1] for ln in f}
    return int(d["HugePages_Total"]), int(d["HugePages_Free"])


@requires_root
def test_reserve_check_release_restores_pool():
    size = 2 * MiB
    found = read_pool(size).total
    try:
        c = reserve(size, 2)
        assert c.before_total == found and c.requested_total == found + 2
        assert c.after_total == found + 2 and c.complete  # 2 pages of 2 MiB are always there
        assert meminfo_huge()[0] == c.after_total  # the kernel's own count agrees
        res = check(size, count=2)
        assert res.hugetlb_ok and res.hugetlb_bytes == 4 * MiB and res.kernel_page_size_bytes == size
        assert res.fallback is None
        assert meminfo_huge()[1] == read_pool(size).free  # the check unmapped its pages
        r = release(size, 2)
        assert (r.before_total, r.after_total) == (found + 2, found)
    finally:
        set_pool(size, found)
    assert read_pool(size).total == found


@requires_root
def test_cli_reserve_release_node0(memdive_cli):
    size = 2 * MiB
    found = read_pool(size).nodes[0].total
    try:
        p = memdive_cli("hugetlb", "--reserve", "1", "--node", "0", "--yes", "--json")
        assert p.returncode == 0, p.stderr
        ch = json.loads(p.stdout)["change"]
        assert (ch["node"], ch["after_total"], ch["complete"]) == (0, found + 1, True)
        assert read_pool(size).nodes[0].total == found + 1
        p = memdive_cli("hugetlb", "--release", "1", "--node", "0", "--yes")
        assert p.returncode == 0 and f"{found + 1} -> {found}" in p.stdout
    finally:
        set_pool(size, found, node=0)
    assert read_pool(size).nodes[0].total == found


def test_check_states_the_fallback_when_pool_is_empty():
    size = 2 * MiB
    if read_pool(size).free:
        pytest.fail("this test expects an empty 2 MiB pool (MACHINE.md); another test left pages reserved")
    res = check(size)
    assert not res.hugetlb_ok and "Cannot allocate memory" in res.hugetlb_error
    assert res.fallback == "thp"
    mode = read_thp_settings().effective_mode()
    assert res.thp_mode == mode
    assert res.thp_bytes == (0 if mode == "never" else 2 * MiB)


def test_unprivileged(memdive_cli):
    p = memdive_cli("hugetlb", user="nobody")
    assert p.returncode == 0 and "hugetlb pools" in p.stdout
    p = memdive_cli("hugetlb", "--reserve", "1", "--yes", user="nobody")
    assert p.returncode == 1 and "needs root" in p.stderr and "Traceback" not in p.stderr
    p = memdive_cli("hugetlb", "check", "--json", user="nobody")  # needs no privilege
    d = json.loads(p.stdout)
    assert p.returncode == (0 if d["hugetlb_ok"] else 1) and (d["hugetlb_ok"] or d["fallback"] == "thp")


@requires_root
def test_hugetlbfs_mount_is_listed(tmp_path):
    import subprocess

    from memdive.hugepages.hugetlb import hugetlb_system

    d = tmp_path / "huge 1g"
    d.mkdir()
    subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=1G", "none", str(d)], check=True)
    try:
        ms = [m for m in hugetlb_system().mounts if m.mountpoint == str(d)]
        assert len(ms) == 1 and ms[0].page_size_bytes == 1 << 30  # the space came back from \040
    finally:
        subprocess.run(["umount", str(d)], check=True)
    assert not [m for m in hugetlb_system().mounts if m.mountpoint == str(d)]
