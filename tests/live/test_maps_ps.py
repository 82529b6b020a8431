"""maps and ps on a real child with known memory, checked against the kernel's own numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

import memdive
from memdive.errors import NoSuchProcess, ZombieProcess
from memdive.kernel import procfs
from memdive.maps import kind_of, summarize
from memdive.ps import scan

MiB = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
N, K, M = 24, 8, 6          # anon MiB touched, file MiB read, shared MiB


@pytest.fixture
def known(cbuild, spawn, tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(os.urandom(64 * 1024) * (32 * MiB // (64 * 1024)))   # 32 MiB file
    child = spawn([cbuild("maps_child"), N, f, K, M])
    info = child.info()
    return child, {k: int(v, 16) for k, v in info.items() if k in ("anon", "file", "shared")}, \
        int(info["child"]), str(f)


def at(maps, addr):
    return next(m for m in maps if m.start == addr)


def test_maps_reports_known_regions(known):
    child, addr, grandchild, path = known
    maps = memdive.Process(child.pid).maps()
    anon, fmap, shared = at(maps, addr["anon"]), at(maps, addr["file"]), at(maps, addr["shared"])
    assert anon.length_bytes == N * MiB and kind_of(anon) == "anon"
    assert abs(anon.rss_bytes - N * MiB) <= PAGE and abs(anon.private_dirty_bytes - N * MiB) <= PAGE
    assert anon.anon_huge_bytes == 0 and "nh" in anon.vmflags
    assert fmap.name == path and kind_of(fmap) == "file" and fmap.length_bytes == 32 * MiB
    assert abs(fmap.rss_bytes - K * MiB) <= PAGE
    assert kind_of(shared) == "shmem" and shared.name == "/dev/zero (deleted)"
    assert abs(shared.rss_bytes - M * MiB) <= PAGE
    # Shared with exactly one other process (our grandchild): PSS is half.
    assert abs(shared.pss_bytes - M * MiB // 2) <= PAGE
    g = at(memdive.Process(grandchild).maps(), addr["shared"])
    assert abs(g.rss_bytes - M * MiB) <= PAGE and abs(g.pss_bytes - M * MiB // 2) <= PAGE


def test_totals_equal_kernel_rollup(known):
    child, *_ = known
    p = memdive.Process(child.pid)
    s = summarize(p.maps(), exe=p.exe())
    roll = procfs.read_smaps_rollup(child.pid)   # the kernel's own totals (the child is quiescent)
    assert s.totals.rss_bytes == roll.rss_bytes
    assert s.totals.uss_bytes == roll.uss_bytes
    assert s.totals.swap_bytes == roll.swap_bytes
    assert abs(s.totals.pss_bytes - roll.pss_bytes) <= 1024 * s.totals.count   # per-VMA kB rounding
    kinds = {g.key: g for g in s.by_kind}
    assert kinds["anon"].rss_bytes >= N * MiB and kinds["shmem"].rss_bytes >= M * MiB
    assert sum(g.rss_bytes for g in s.by_kind) == s.totals.rss_bytes
    assert s.perms.writable_bytes >= (N + M) * MiB and s.perms.total_bytes == sum(
        m.length_bytes for m in p.maps())


def test_ps_row_matches_rollup_and_known_sizes(known):
    child, _, grandchild, _ = known
    res = scan(pids=[child.pid, grandchild])
    rows = {r.pid: r for r in res.processes}
    roll = procfs.read_smaps_rollup(child.pid)
    r = rows[child.pid]
    assert r.rss_bytes == roll.rss_bytes and r.pss_bytes == roll.pss_bytes and r.uss_bytes == roll.uss_bytes
    assert r.rss_bytes >= (N + K + M) * MiB
    # USS excludes the shared region; PSS includes half of it.
    assert r.uss_bytes >= N * MiB and r.uss_bytes < r.rss_bytes - M * MiB + PAGE
    g = rows[grandchild]
    assert g.command.split()[0].endswith("maps_child") and g.uid == os.geteuid()
    assert res.totals().rss_bytes == r.rss_bytes + g.rss_bytes


def test_cli_maps_and_ps_json(known, memdive_cli):
    child, addr, *_ = known
    out = memdive_cli("maps", str(child.pid), "--json", "--layout")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    m = next(x for x in d["mappings"] if x["start"] == addr["anon"])
    assert m["kind"] == "anon" and abs(m["rss_bytes"] - N * MiB) <= PAGE
    assert {s["name"] for s in d["layout"]["segments"]} >= {"text", "data", "heap", "stack", "mmap", "args", "env"}
    out = memdive_cli("ps", "--json", "maps_child")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    pids = {p["pid"] for p in d["processes"]}
    assert child.pid in pids and d["totals"]["count"] == len(d["processes"]) >= 2
    by = json.loads(memdive_cli("ps", "--json", "--by", "command", "maps_child").stdout)["groups"]
    assert by[0]["key"] == "maps_child" and by[0]["count"] == 2


def test_layout_segments_match_stat(known):
    child, *_ = known
    lay = memdive.Process(child.pid).layout()
    st = procfs.read_stat(child.pid)
    seg = {s.name: s for s in lay.segments}
    assert seg["text"].start == st.start_code and seg["text"].end == st.end_code
    assert seg["heap"].start == st.start_brk
    assert seg["args"].start == st.arg_start and seg["env"].end == st.env_end
    ends = [s.end for s in lay.segments]
    assert ends == sorted(ends, reverse=True)
    stack = seg["stack"]
    assert stack.start <= seg["args"].start and seg["env"].end <= stack.end   # argv and env live in the stack


def test_vanished_and_zombie_processes(cbuild):
    # A reaped child: its PID is gone.
    p = subprocess.Popen(["sleep", "30"])
    pid = p.pid
    p.kill()
    p.wait()
    with pytest.raises(NoSuchProcess):
        memdive.Process(pid)
    res = scan(pids=[pid, os.getpid()])
    assert res.vanished == 1 and [r.pid for r in res.processes] == [os.getpid()]
    # A zombie: killed, not yet reaped.
    z = subprocess.Popen(["sleep", "30"])
    proc = memdive.Process(z.pid)
    os.kill(z.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while procfs.read_stat(z.pid).state != "Z":
        assert time.monotonic() < deadline, "child never became a zombie"
        time.sleep(0.01)
    with pytest.raises(ZombieProcess):
        proc.maps()
    res = scan(pids=[z.pid])
    assert res.processes == [] and res.vanished == 1
    z.wait()


def test_unprivileged_scan_counts_denied(memdive_cli):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to user nobody")
    out = memdive_cli("ps", "--json", user="nobody")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["denied"] > 0 and "root" in d["hint"]
    assert all(p["user"] == "nobody" for p in d["processes"]) and d["processes"]   # its own process
    out = memdive_cli("maps", "1", user="nobody")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "permission denied" in out.stderr and "root" in out.stderr


def test_ps_filters_by_user_and_groups_by_cgroup(known, memdive_cli):
    child, *_ = known
    d = json.loads(memdive_cli("ps", "--json", "--user", "root", "--by", "cgroup").stdout)
    assert d["processes"] and all(p["uid"] == 0 for p in d["processes"])
    mine = procfs.read_cgroup(child.pid)
    row = next(p for p in d["processes"] if p["pid"] == child.pid)
    assert row["cgroup"] == mine
    grp = next(g for g in d["groups"] if g["key"] == mine)
    assert grp["pss_bytes"] == sum(p["pss_bytes"] for p in d["processes"] if p["cgroup"] == mine)
    none = json.loads(memdive_cli("ps", "--json", "--user", "nobody").stdout)
    assert all(p["user"] == "nobody" for p in none["processes"])


def test_long_command_line_read_whole():
    p = subprocess.Popen(["sh", "-c", "sleep 30", "x" * 100_000])
    try:
        deadline = time.monotonic() + 10
        while not procfs.read_cmdline(p.pid) or procfs.read_cmdline(p.pid)[0] != "sh":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        args = procfs.read_cmdline(p.pid)
        assert args == ["sh", "-c", "sleep 30", "x" * 100_000]      # past the first 64 KiB read
        row = scan(pids=[p.pid]).processes[0]
        assert row.command.endswith("x" * 1000) and row.uid == os.geteuid()
    finally:
        p.kill()
        p.wait()
