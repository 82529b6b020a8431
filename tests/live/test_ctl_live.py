"""ctl on real processes: oom_score_adj set and read back through the pinned process, limits set and
seen in /proc/PID/limits, ASLR off giving identical mappings, refusals (range, unprivileged, vanished)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from memdive.errors import NoSuchProcess
from memdive.kernel import ctl as kctl

from ..conftest import requires_root


def _child(spawn, cbuild):
    return spawn([cbuild("numa_touch"), "4", "1"])


def _adj(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def _limits_row(pid: int, label: str) -> list[str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith(label):
            return line[len(label):].split()
    raise AssertionError(label)


def test_oom_set_and_read_back(spawn, cbuild, memdive_cli):
    c = _child(spawn, cbuild)
    r = memdive_cli("ctl", "oom", str(c.pid), "--json")
    d = json.loads(r.stdout)
    assert d["oom_score_adj"] == _adj(c.pid) == 0
    assert d["oom_score"] == int(Path(f"/proc/{c.pid}/oom_score").read_text())
    r = memdive_cli("ctl", "oom", str(c.pid), "--set", "500")
    assert r.returncode == 2 and "--yes" in r.stderr and _adj(c.pid) == 0
    r = memdive_cli("ctl", "oom", str(c.pid), "--set", "500", "--yes", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["before"]["oom_score_adj"] == 0 and d["after"]["oom_score_adj"] == 500 == _adj(c.pid)
    assert d["after"]["oom_score"] > d["before"]["oom_score"]
    for bad in ("1001", "-1001"):
        r = memdive_cli("ctl", "oom", str(c.pid), "--set", bad, "--yes")
        assert r.returncode == 2 and "out of range" in r.stderr and r.stderr.count("\n") == 1
    assert _adj(c.pid) == 500


@requires_root   # setpriv to another user / dropping a capability
def test_oom_unprivileged_refused(spawn, cbuild, memdive_cli):
    c = _child(spawn, cbuild)
    r = memdive_cli("ctl", "oom", str(c.pid), "--set", "100", "--yes", user="nobody")
    assert r.returncode == 1 and "permission denied" in r.stderr and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr and _adj(c.pid) == 0


@requires_root   # setpriv to another user / dropping a capability
def test_unprivileged_own_process_cannot_lower_oom_adj(memdive_cli):
    # nobody raises its own score (allowed), but lowering needs CAP_SYS_RESOURCE: refused cleanly
    r = memdive_cli("ctl", "run", "--oom-score-adj", "300", "--", "cat", "/proc/self/oom_score_adj", user="nobody")
    assert r.returncode == 0 and r.stdout.strip() == "300"
    r = memdive_cli("ctl", "run", "--oom-score-adj", "-500", "--", "cat", "/proc/self/oom_score_adj", user="nobody")
    assert r.returncode == 1 and "CAP_SYS_RESOURCE" in r.stderr and r.stdout == ""


def test_vanished_pid_refused(spawn, cbuild, memdive_cli):
    c = _child(spawn, cbuild)
    pid = c.pid
    c.stop()
    r = memdive_cli("ctl", "oom", str(pid), "--set", "10", "--yes")
    assert r.returncode == 1 and f"process {pid} does not exist" in r.stderr


def test_pin_never_writes_a_process_that_exited(spawn, cbuild):
    c = _child(spawn, cbuild)
    with kctl.Pinned(c.pid) as p:
        before = kctl.read_oom(c.pid)
        os.kill(c.pid, signal.SIGKILL)
        c.p.wait(timeout=10)
        with pytest.raises(NoSuchProcess):
            p.write("oom_score_adj", "7\n")
    with pytest.raises(NoSuchProcess, match="reused"):
        kctl.Pinned(os.getpid(), expect_start=before.start_ticks + 12345)


@requires_root   # setpriv to another user / dropping a capability
def test_limits_set_and_lock_need(spawn, cbuild, memdive_cli):
    c = _child(spawn, cbuild)
    r = memdive_cli("ctl", "limits", str(c.pid), "--json")
    d = json.loads(r.stdout)
    soft = _limits_row(c.pid, "Max locked memory")[0]
    assert str(d["limits"]["limits"]["memlock"]["soft"]) == soft
    r = memdive_cli("ctl", "limits", str(c.pid), "--memlock", "1M", "--as", "unlimited", "--yes", "--json")
    assert r.returncode == 0, r.stderr
    assert _limits_row(c.pid, "Max locked memory")[0] == str(1 << 20)
    assert _limits_row(c.pid, "Max address space")[0] == "unlimited"
    d = json.loads(r.stdout)
    assert d["limits"]["limits"]["memlock"]["soft"] == 1 << 20
    r = memdive_cli("ctl", "limits", str(c.pid), "--memlock", "2M:4M", "--data", "1G:unlimited", "--yes")
    assert r.returncode == 0 and "memlock: soft 1.0M -> 2.0M" in r.stdout, r.stderr
    assert _limits_row(c.pid, "Max locked memory")[:2] == [str(2 << 20), str(4 << 20)]
    assert _limits_row(c.pid, "Max data size")[:2] == [str(1 << 30), "unlimited"]
    r = memdive_cli("ctl", "limits", str(c.pid), "--memlock", "8M:4M", "--yes")
    assert r.returncode == 2 and "above hard limit" in r.stderr
    assert _limits_row(c.pid, "Max locked memory")[:2] == [str(2 << 20), str(4 << 20)]
    r = memdive_cli("ctl", "limits", str(c.pid), "--memlock", "1M", "--yes", user="nobody")
    assert r.returncode == 1 and "permission denied" in r.stderr


@requires_root   # setpriv to another user / dropping a capability
def test_lock_need_matches_real_mlock_without_cap_ipc_lock():
    # a process without CAP_IPC_LOCK (dropped from the bounding set), RLIMIT_MEMLOCK 1 MiB set by
    # `ctl run`: memdive's verdict for locking N more agrees with what mlock then really does.
    code = ("import ctypes,mmap,os,sys,json,subprocess;"
            "v=subprocess.run([sys.executable,'-m','memdive','ctl','limits',str(os.getpid()),'--lock','{n}',"
            "'--json'],capture_output=True,text=True);"
            "d=json.loads(v.stdout);"
            "m=mmap.mmap(-1,{n});b=(ctypes.c_char*{n}).from_buffer(m);"
            "r=ctypes.CDLL(None,use_errno=True).mlock(ctypes.c_void_p(ctypes.addressof(b)),ctypes.c_size_t({n}));"
            "print(r, d['lock_need']['allowed'], d['limits']['cap_ipc_lock'])")
    for n in (64 << 10, 960 << 10, 2 << 20, 64 << 20):
        r = subprocess.run(["setpriv", "--bounding-set=-ipc_lock", "--inh-caps=-ipc_lock", sys.executable, "-m",
                            "memdive", "ctl", "run", "--memlock", "1M", "--", sys.executable, "-c",
                            code.format(n=n)], capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        rc, allowed, cap = r.stdout.split()
        assert cap == "False"
        assert (rc == "0") == (allowed == "True") == (n <= 1 << 20), (n, r.stdout)


def test_ctl_run_no_aslr_gives_same_addresses(memdive_cli):
    plain = [memdive_cli("ctl", "run", "--", "cat", "/proc/self/maps").stdout for _ in range(2)]
    assert plain[0] != plain[1]            # ASLR is on here (randomize_va_space != 0)
    fixed = [memdive_cli("ctl", "run", "--no-aslr", "--", "cat", "/proc/self/maps").stdout for _ in range(2)]
    assert fixed[0] == fixed[1] and "[stack]" in fixed[0]
    r = memdive_cli("ctl", "run", "--no-aslr", "--", "cat", "/proc/self/personality")
    assert int(r.stdout, 16) & kctl.ADDR_NO_RANDOMIZE


def test_personality_shown_for_a_process_run_with_it(spawn, cbuild, memdive_cli):
    c = spawn([sys.executable, "-m", "memdive", "ctl", "run", "-R", "-L", "--", cbuild("numa_touch"), "4", "1"])
    d = json.loads(memdive_cli("ctl", "limits", str(c.pid), "--json").stdout)["limits"]
    assert d["personality"] == int(Path(f"/proc/{c.pid}/personality").read_text(), 16)
    assert d["personality_flags"] == ["ADDR_NO_RANDOMIZE", "ADDR_COMPAT_LAYOUT"]
    # the legacy layout maps bottom-up: the helper's mapping sits below the 47-bit top-down area
    assert 0x2AAAAAAAA000 <= int(c.info()["addr"], 16) < 0x300000000000    # TASK_SIZE / 3 and up


def test_ctl_run_limits_and_oom(memdive_cli):
    r = memdive_cli("ctl", "run", "--memlock", "2M", "--oom-score-adj", "700", "--", "sh", "-c",
                    "grep 'Max locked memory' /proc/self/limits; cat /proc/self/oom_score_adj")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[3] == str(2 << 20) and lines[1] == "700"
    r = memdive_cli("ctl", "run", "--oom-score-adj", "4000", "--", "true")
    assert r.returncode == 2 and "out of range" in r.stderr
    r = memdive_cli("ctl", "run", "--", "no-such-command-xyz")
    assert r.returncode == 2 and "command not found" in r.stderr


@requires_root
def test_overcommit_write_and_restore(memdive_cli):
    path = Path("/proc/sys/vm/overcommit_ratio")
    orig = int(path.read_text())
    new = orig + 1 if orig < 100 else orig - 1
    try:
        r = memdive_cli("ctl", "overcommit", "--ratio", str(new), "--yes", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["overcommit"]["ratio_percent"] == new == int(path.read_text())
        r = memdive_cli("ctl", "overcommit", "--ratio", "60", "--yes", user="nobody")
        assert r.returncode == 1 and "permission denied" in r.stderr and int(path.read_text()) == new
        r = memdive_cli("ctl", "overcommit", "--policy", "3", "--ratio", "60", "--yes")
        assert r.returncode == 2 and int(path.read_text()) == new     # nothing partial
    finally:
        path.write_text(f"{orig}\n")
    assert int(path.read_text()) == orig


@requires_root   # a target owned by nobody, changed as nobody
def test_limits_refused_midway_are_put_back(spawn, memdive_cli):
    c = spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c",
               "ulimit -d 1048576; echo ready; exec sleep 60"])      # data: soft = hard = 1 GiB
    before = _limits_row(c.pid, "Max locked memory")[:2]
    # memlock (allowed) is set first, then raising the data hard limit needs CAP_SYS_RESOURCE: refused,
    # and the memlock change is put back
    r = memdive_cli("ctl", "limits", str(c.pid), "--memlock", "64k", "--data", "2G:2G", "--yes", user="nobody")
    assert r.returncode == 1 and "permission denied" in r.stderr and r.stderr.count("\n") == 1
    assert _limits_row(c.pid, "Max locked memory")[:2] == before
    assert _limits_row(c.pid, "Max data size")[:2] == [str(1 << 30)] * 2
    r = memdive_cli("ctl", "limits", str(c.pid), "--memlock", "64k", "--yes", user="nobody")
    assert r.returncode == 0 and _limits_row(c.pid, "Max locked memory")[0] == str(64 << 10)
