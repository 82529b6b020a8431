"""NUMA syscalls and commands on real processes (node 0 of this machine): move_pages per-page status,
migrate against numa_maps, `numa run` policies seen in the child's numa_maps, refusals."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memdive.kernel import libc
from memdive.kernel import numa as knuma

from ..conftest import requires_root

PAGE = os.sysconf("SC_PAGE_SIZE")


def _numa_line(pid: int, addr: int) -> str:
    for line in Path(f"/proc/{pid}/numa_maps").read_text().splitlines():
        if int(line.split(" ", 1)[0], 16) == addr:
            return line
    raise AssertionError(f"no numa_maps line at {addr:x}")


def test_move_pages_status_per_page_matches_numa_maps(cbuild, spawn):
    exe = cbuild("numa_touch")
    c = spawn([exe, "64", "2"])               # 64 pages, every other one touched
    info = c.info()
    addr = int(info["addr"], 16)
    addrs = [addr + i * PAGE for i in range(64)]
    st = knuma.move_pages(c.pid, addrs, None)           # query only
    assert [s for s in st[0::2]] == [0] * 32             # touched: on node 0
    assert [s for s in st[1::2]] == [-errno.ENOENT] * 32  # never touched: not present
    line = _numa_line(c.pid, addr)
    assert " N0=32 " in line and "anon=32" in line       # the kernel's own count agrees
    moved = knuma.move_pages(c.pid, addrs, 0)
    assert list(moved[0::2]) == [0] * 32 and list(moved[1::2]) == [-errno.ENOENT] * 32
    # per-page target nodes, and a node that does not exist: the kernel's per-page error or EINVAL
    from memdive.errors import InvalidInput

    with pytest.raises(InvalidInput, match="offline or has no memory"):
        knuma.move_pages(c.pid, addrs[:2], [0, 999])


def test_mbind_and_get_mempolicy_in_this_process():
    n = 16 * PAGE
    a = libc.mmap(n)
    try:
        knuma.mbind(a, n, "bind", [0])
        assert str(knuma.get_mempolicy(a)) == "bind:0"
        libc.madvise(a, n, "populate_write")
        assert knuma.node_of_address(a) == 0
        knuma.mbind(a, n, "interleave", [0], knuma.MPOL_MF_MOVE | knuma.MPOL_MF_STRICT)
        assert knuma.get_mempolicy(a).mode == "interleave"
        with pytest.raises(Exception, match="invalid argument"):
            knuma.mbind(a, n, "bind", [7])
        assert knuma.get_mempolicy(a).mode == "interleave"      # unchanged by the refused call
        knuma.mbind(a, n, "default")
        assert knuma.get_mempolicy(a).mode == "default"
    finally:
        libc.munmap(a, n)
    assert 0 in knuma.mems_allowed()


def test_migrate_cli_counts_against_numa_maps(cbuild, spawn, memdive_cli):
    exe = cbuild("numa_touch")
    c = spawn([exe, "256", "1"])
    addr = int(c.info()["addr"], 16)
    r = memdive_cli("numa", "migrate", str(c.pid), "--to", "0", "--json")
    assert r.returncode == 2 and "--yes" in r.stderr
    r = memdive_cli("numa", "migrate", str(c.pid), "--to", "0", "--yes", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    resident = sum(sum(m.pages_by_node.values()) for m in knuma.read_numa_maps(c.pid)
                   if m.page_size_bytes == PAGE)
    # every resident page examined is on node 0 already (one node): none moved, none failed
    assert d["pages_moved"] == 0 and d["failures"] == {}
    assert d["pages_already"] == d["pages_examined"] >= 256
    assert abs(d["pages_examined"] - resident) <= 8, (d["pages_examined"], resident)
    assert d["before"]["0"] == d["after"]["0"] == d["pages_examined"] * PAGE
    assert " N0=256 " in _numa_line(c.pid, addr)
    r = memdive_cli("numa", "migrate", str(c.pid), "--to", "0", "--method", "migrate_pages", "--yes")
    assert r.returncode == 0 and "failures: none" in r.stdout
    r = memdive_cli("numa", "migrate", str(c.pid), "--to", "3", "--yes")
    assert r.returncode == 2 and "node 3 does not exist" in r.stderr and r.stderr.count("\n") == 1


@requires_root   # setpriv to user nobody
def test_migrate_refused_unprivileged_and_vanished(cbuild, spawn, memdive_cli):
    exe = cbuild("numa_touch")
    c = spawn([exe, "16", "1"])
    r = memdive_cli("numa", "migrate", str(c.pid), "--to", "0", "--yes", user="nobody")
    assert r.returncode == 1 and r.stderr.startswith("memdive: error:") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr
    pid = c.pid
    c.stop()
    r = memdive_cli("numa", "migrate", str(pid), "--to", "0", "--yes")
    assert r.returncode == 1 and f"process {pid} does not exist" in r.stderr


@pytest.mark.parametrize("opt,expect", [("--membind", "bind:0"), ("--interleave", "interleave:0"),
                                        ("--preferred", "prefer:0")])
def test_numa_run_policy_seen_in_child(cbuild, spawn, opt, expect):
    exe = cbuild("numa_touch")
    c = spawn([sys.executable, "-m", "memdive", "numa", "run", opt, "0", "--cpunodebind", "0", "--", exe, "32", "1"])
    addr = int(c.info()["addr"], 16)
    line = _numa_line(c.pid, addr)
    assert line.split()[1] == expect and " N0=32 " in line
    # the task policy shows on every region without its own policy
    pols = {ln.split()[1] for ln in Path(f"/proc/{c.pid}/numa_maps").read_text().splitlines()}
    assert pols == {expect}
    assert os.readlink(f"/proc/{c.pid}/exe") == str(exe)     # exec'd in place: same PID
    node0_cpus = knuma.read_nodes()[0].cpus
    assert set(os.sched_getaffinity(c.pid)) == set(node0_cpus)


def test_numa_run_refusals(memdive_cli):
    r = memdive_cli("numa", "run", "--membind", "5", "--", "true")
    assert r.returncode == 2 and "node 5 does not exist" in r.stderr and r.stderr.count("\n") == 1
    r = memdive_cli("numa", "run", "--membind", "0", "--", "no-such-command-xyz")
    assert r.returncode == 2 and "command not found: no-such-command-xyz" in r.stderr
    r = memdive_cli("numa", "run", "--membind", "0")
    assert r.returncode == 2 and "no command" in r.stderr
    r = memdive_cli("numa", "run", "--membind", "0", "--physcpubind", "999", "--", "true")
    assert r.returncode == 2 and "CPU 999 is not online" in r.stderr
    r = memdive_cli("numa", "run", "--interleave", "0", "--", sys.executable, "-c",
                    "print(open('/proc/self/numa_maps').readline().split()[1])")
    assert r.returncode == 0 and r.stdout.strip() == "interleave:0"


def test_numa_show_live_process(cbuild, spawn, memdive_cli):
    exe = cbuild("numa_touch")
    c = spawn([exe, "100", "1"])
    addr = int(c.info()["addr"], 16)
    r = memdive_cli("numa", str(c.pid), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    m = next(x for x in d["mappings"] if x["start"] == addr)
    assert m["bytes_by_node"] == {"0": 100 * PAGE} and m["size_bytes"] == 100 * PAGE
    assert d["per_node_bytes"]["0"] >= 100 * PAGE
    r = memdive_cli("numa", "--json")
    nodes = json.loads(r.stdout)["nodes"]
    assert nodes[0]["numastat"]["numa_hit"] > 0 and nodes[0]["mem_total_bytes"] > 0
    r = memdive_cli("numa", "--watch", "0.2", "--count", "2", "--json")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) == 2
    assert json.loads(lines[1])["numastat_rates_per_second"]["0"]["numa_hit"] >= 0


def test_zombie_numa_maps_refused(memdive_cli):
    from memdive.errors import ZombieProcess
    from memdive.numa import placement

    z = subprocess.Popen(["true"])          # exits at once; not reaped until wait(): a zombie
    try:
        for _ in range(200):
            if Path(f"/proc/{z.pid}/stat").read_text().split(") ")[1][0] == "Z":
                break
            time.sleep(0.01)
        with pytest.raises(ZombieProcess):
            placement(z.pid)
        r = memdive_cli("numa", str(z.pid))
        assert r.returncode == 1 and "zombie" in r.stderr
    finally:
        z.wait()


@requires_root   # reserving hugetlb pages
def test_hugetlb_pages_counted_at_their_size(cbuild, spawn, memdive_cli):
    # reserve 2 more 2 MiB pages (relative change: other tests may use the pool too), give them back after
    pool = Path("/proc/sys/vm/nr_hugepages")
    pool.write_text(f"{int(pool.read_text()) + 2}\n")
    try:
        c = spawn([cbuild("numa_huge"), "2"], ready="ready")
        addr = int(c.info()["addr"], 16)
        line = _numa_line(c.pid, addr)
        assert " huge " in line and "kernelpagesize_kB=2048" in line and " N0=2 " in line
        d = json.loads(memdive_cli("numa", str(c.pid), "--json").stdout)
        m = next(x for x in d["mappings"] if x["start"] == addr)
        assert m["huge"] and m["bytes_by_node"] == {"0": 4 << 20} and m["category"] == "huge"
        assert d["totals_bytes"]["huge"] == {"0": 4 << 20}
        c.stop()
    finally:
        pool.write_text(f"{max(0, int(pool.read_text()) - 2)}\n")


def test_interleave_run_shows_in_numastat(cbuild, spawn):
    # 4096 pages allocated under --interleave 0 are counted by the kernel as interleave_hit on node 0
    exe = cbuild("numa_touch")
    before = knuma.read_nodes()[0].numastat["interleave_hit"]
    c = spawn([sys.executable, "-m", "memdive", "numa", "run", "--interleave", "0", "--", exe, "4096", "1"])
    after = knuma.read_nodes()[0].numastat["interleave_hit"]
    assert after - before >= 4096, (before, after)
    raw = Path("/sys/devices/system/node/node0/numastat").read_text().split()
    assert int(raw[raw.index("interleave_hit") + 1]) >= after
    assert " N0=4096 " in _numa_line(c.pid, int(c.info()["addr"], 16))
