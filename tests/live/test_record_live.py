"""`memdive record` on the live machine: samples of a known child, SIGKILL mid-run, replay, plot, CSV."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from memdive.record import Recording

MiB = 1 << 20


def _wait_samples(path: str, n: int, timeout: float = 30.0) -> None:
    import sqlite3

    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if db.execute("SELECT count(*) FROM samples").fetchone()[0] >= n:
                    return
            finally:
                db.close()
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{path}: fewer than {n} samples after {timeout} s")


def test_sigkill_mid_run_leaves_whole_samples(tmp_path, cbuild, spawn):
    child = spawn([cbuild("monitor_child"), "48"])
    path = str(tmp_path / "killed.db")
    rec = subprocess.Popen([sys.executable, "-m", "memdive", "record", "-o", path, "--interval", "0.05", "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_samples(path, 8)
        time.sleep(0.13)                      # land somewhere inside a later sample
        os.kill(rec.pid, signal.SIGKILL)
        rec.wait(timeout=10)
    finally:
        if rec.poll() is None:
            os.kill(rec.pid, signal.SIGKILL)
            rec.wait()
    assert rec.returncode == -signal.SIGKILL
    with Recording(path) as r:
        assert r.check() == []
        info = r.info()
        assert info.samples >= 8
        # every sample is whole: its system row, its vmstat rows, as many process rows as it says
        for sid, n_procs, n_rows, has_sys, n_vm in r.q(
                "SELECT s.id, s.processes, (SELECT count(*) FROM proc_samples p WHERE p.sample_id = s.id), "
                "(SELECT count(*) FROM system y WHERE y.sample_id = s.id), "
                "(SELECT count(*) FROM vmstat v WHERE v.sample_id = s.id) FROM samples s"):
            assert n_rows == n_procs > 0 and has_sys == 1 and n_vm > 5, sid
        sid, _ = r.sample_at(None)
        mine = [p for p in r.processes_at(sid) if p.pid == child.pid]
        assert mine and mine[0].rss_bytes >= 48 * MiB and mine[0].uss_bytes >= 48 * MiB


def test_record_pid_replay_plot_and_csv(tmp_path, cbuild, spawn, memdive_cli):
    child = spawn([cbuild("monitor_child"), "16"])
    path = str(tmp_path / "one.db")
    r = memdive_cli("record", "-o", path, "--interval", "0.1", "--duration", "0.5", "--pid", str(child.pid))
    assert r.returncode == 0, r.stderr
    assert "samples" in r.stdout
    with Recording(path) as rec:
        info = rec.info()
        assert info.processes == 1 and 4 <= info.samples <= 8

    r = memdive_cli("record", "-o", path, "--duration", "0")
    assert r.returncode == 2 and "exists" in r.stderr

    r = memdive_cli("replay", path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    (p,) = d["ps"]["processes"]
    assert p["pid"] == child.pid and p["rss_bytes"] >= 16 * MiB
    assert d["system"]["total_bytes"] > 0

    r = memdive_cli("replay", path, "--at", "start")
    assert r.returncode == 0 and "Memory" in r.stdout and str(child.pid) in r.stdout

    r = memdive_cli("replay", path, "--info")
    assert r.returncode == 0 and "samples" in r.stdout and "hostname" in r.stdout

    r = memdive_cli("replay", path, "--csv", str(tmp_path / "csv"))
    assert r.returncode == 0 and (tmp_path / "csv" / "processes.csv").exists()

    png = tmp_path / "mem.png"
    r = memdive_cli("plot", path, "-o", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10000
    html = tmp_path / "mem.html"
    r = memdive_cli("plot", path, "--pid", str(child.pid), "-o", str(html))
    assert r.returncode == 0, r.stderr
    assert "data:image/png;base64," in html.read_text()
    r = memdive_cli("plot", path, "-o", str(tmp_path / "x.jpg"))
    assert r.returncode == 2 and ".png" in r.stderr


def test_record_stops_when_chosen_processes_exit(tmp_path, cbuild, spawn, memdive_cli):
    child = spawn([cbuild("monitor_child"), "1"])
    path = str(tmp_path / "gone.db")
    rec = subprocess.Popen([sys.executable, "-m", "memdive", "record", "-o", path, "--interval", "0.05",
                            "--pid", str(child.pid), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_samples(path, 2)
        child.stop()
        _, err = rec.communicate(timeout=20)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
    assert rec.returncode == 0, err


@pytest.mark.parametrize("content,needle", [(b"garbage" * 1000, "not a memdive recording"),
                                            (b"", "empty")])
def test_cli_bad_files_exit_1_with_one_line(tmp_path, memdive_cli, content, needle):
    p = tmp_path / "bad.db"
    p.write_bytes(content)
    for cmd in (("replay", str(p)), ("plot", str(p), "-o", str(tmp_path / "o.png"))):
        r = memdive_cli(*cmd)
        assert r.returncode == 1, r.stderr
        assert needle in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_cli_newer_schema(tmp_path, memdive_cli):
    import sqlite3

    path = str(tmp_path / "new.db")
    r = memdive_cli("record", "-o", path, "--duration", "0", "--interval", "0.1")
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    r = memdive_cli("replay", path)
    assert r.returncode == 1 and "newer memdive" in r.stderr and "upgrade" in r.stderr


def test_recording_is_private_and_has_cgroups(tmp_path, memdive_cli):
    path = tmp_path / "priv.db"
    r = memdive_cli("record", "-o", str(path), "--duration", "0")
    assert r.returncode == 0, r.stderr
    assert (path.stat().st_mode & 0o777) == 0o600
    r = memdive_cli("replay", str(path), "--by", "cgroup", "--json")
    assert r.returncode == 0, r.stderr
    groups = json.loads(r.stdout)["ps"]["groups"]
    assert groups and all(g["key"] != "?" for g in groups)
