"""The command as users run it: exit codes, one-line errors, --json, fixture roots, the default job."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from memdive.cli import main
from memdive.cli.registry import COMMANDS

from ..conftest import FIXTURES


def env_root(tag: str) -> dict:
    return dict(os.environ, MEMDIVE_ROOT=str(FIXTURES / tag))


def test_no_arguments_runs_the_overview(memdive_cli):
    out = memdive_cli()
    assert out.returncode == 0, out.stderr
    assert "Memory" in out.stdout and "available" in out.stdout and "Top processes by PSS" in out.stdout


@pytest.mark.parametrize("cmd", ["maps", "pages", "thp", "numa", "faults", "wss", "phys"])
def test_unknown_pid_is_one_line_exit_1(memdive_cli, cmd):
    out = memdive_cli(cmd, "999999999", *(["0x1000"] if cmd == "phys" else []))   # wss: before asking for --yes
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "process 999999999 does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_debug_shows_traceback(memdive_cli):
    out = memdive_cli("--debug", "maps", "999999999")
    assert out.returncode == 1 and "Traceback" in out.stderr and "NoSuchProcess" in out.stderr


def test_usage_errors_exit_2(memdive_cli):
    assert memdive_cli("maps", "notapid").returncode == 2
    assert memdive_cli("nosuchcommand").returncode == 2
    assert memdive_cli("ps", "--sort", "bogus").returncode == 2
    out = memdive_cli("ps", "--user", "no-such-user-xyz")
    assert out.returncode == 2 and "no such user" in out.stderr


def test_help_lists_every_command(memdive_cli):
    out = memdive_cli("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


def test_fixture_root_through_environment(memdive_cli):
    out = memdive_cli("maps", "4242", "--json", env=env_root("linux-4.9"))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    named = next(m for m in d["mappings"] if m["name"] == "[anon:md name]")
    assert named["kind"] == "named-anon" and named["swap_bytes"] == 4096 and named["swap_pss_bytes"] == 2048
    assert named["vmflags"] == [] and named["pss_dirty_bytes"] is None
    out = memdive_cli("maps", "4243", env=env_root("linux-4.9"))
    assert out.returncode == 1 and "zombie" in out.stderr
    out = memdive_cli("sys", "--json", env=env_root("linux-4.9"))
    d = json.loads(out.stdout)
    assert d["pressure"] is None and "PSI" in d["pressure_unavailable"]
    out = memdive_cli("sys", env=env_root("linux-4.9"))
    assert out.returncode == 0 and "unavailable" in out.stdout


def test_json_schema_is_stable(memdive_cli):
    d = json.loads(memdive_cli("ps", "--json", env=env_root("linux-6.18")).stdout)
    assert set(d) == {"processes", "totals", "denied", "vanished", "hint", "errors"}
    assert set(d["processes"][0]) == {"pid", "uid", "user", "command", "rss_bytes", "pss_bytes", "uss_bytes",
                                      "swap_bytes", "swap_pss_bytes", "pss_anon_bytes", "pss_file_bytes",
                                      "pss_shmem_bytes", "cgroup"}
    assert all(isinstance(d["processes"][0][k], int) for k in ("rss_bytes", "pss_bytes", "uss_bytes"))
    s = json.loads(memdive_cli("sys", "--json", env=env_root("linux-6.18")).stdout)
    for k in ("total_bytes", "used_bytes", "free_bytes", "available_bytes", "page_cache_bytes",
              "committed_bytes", "commit_limit_bytes", "hugetlb_pools", "vmstat", "pressure", "top"):
        assert k in s
    m = json.loads(memdive_cli("maps", "4242", "--json", "--layout", env=env_root("linux-6.18")).stdout)
    assert set(m) == {"pid", "exe", "mappings", "summary", "layout"}
    assert {"by_kind", "by_file", "perms", "totals", "counters"} == set(m["summary"])


def test_malformed_file_is_a_clear_error(tmp_path, memdive_cli):
    d = tmp_path / "proc" / "77"
    d.mkdir(parents=True)
    (d / "stat").write_bytes(b"77 (x) S 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0" + b" 0" * 30 + b"\n")
    (d / "smaps").write_bytes(b"this is not smaps\n")
    out = memdive_cli("maps", "77", env=dict(os.environ, MEMDIVE_ROOT=str(tmp_path)))
    assert out.returncode == 1 and "malformed" in out.stderr and "/77/smaps" in out.stderr
    assert "Traceback" not in out.stderr


def test_in_process_main_returns_codes(capsys):
    assert main(["maps", "999999999"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["ps", "--json", "--top", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["processes"]) == 1


MANY_MAPS = ("import mmap, sys\n"
             "ms = [mmap.mmap(-1, 4096, prot=mmap.PROT_READ | (mmap.PROT_WRITE if i % 2 else 0)) for i in range(1500)]\n"
             "print('ready', flush=True)\n"
             "sys.stdin.readline()\n")


def test_broken_pipe_is_quiet(spawn):
    """A reader that stops early (`| head -1`) is not an error: memdive itself exits 0, silently, for
    the rich table path (a table far bigger than the pipe's buffer) and the JSON path."""
    kid = spawn([sys.executable, "-c", MANY_MAPS])
    for args in (f"maps {kid.pid}", f"maps {kid.pid} --json", "ps"):
        p = subprocess.run(f"{sys.executable} -m memdive {args} | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}",
                           shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60,
                           check=False)   # the pipeline's status is echo's: memdive's is what it prints
        assert p.stdout.strip() == "0", (args, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr and "Error" not in p.stderr, (args, p.stderr)


def test_permission_hint_fits_who_runs_it(memdive_cli):
    """Denied as an unprivileged user: the hint says root unlocks it. Denied as root (PID 1 lives in
    another namespace here): the hint must not say "run as root"."""
    import errno as _errno

    from memdive.kernel.io import ROOT_DENIED_HINT, ROOT_HINT, translate

    exc = translate(OSError(_errno.EACCES, "Permission denied"), "/proc/1/maps", 1)
    assert exc.hint == (ROOT_DENIED_HINT if os.geteuid() == 0 else ROOT_HINT)
    if os.geteuid() == 0:
        r = memdive_cli("maps", "1", user="nobody")
        assert r.returncode == 1 and ROOT_HINT in r.stderr and "Traceback" not in r.stderr


def test_sys_in_a_narrow_terminal_cuts_no_vmstat_counter(memdive_cli):
    """The vmstat block wraps at the terminal's width: every counter of the JSON is on screen."""
    env = dict(env_root("linux-6.18"), COLUMNS="60")
    counters = json.loads(memdive_cli("sys", "--json", env=env).stdout)["vmstat"]
    out = memdive_cli("sys", env=env)
    assert out.returncode == 0, out.stderr
    block = out.stdout[out.stdout.index("vmstat since boot"):]
    assert "…" not in block and all(len(ln) <= 60 for ln in block.split("\n"))
    for group, d in counters.items():
        for k, v in d.items():
            assert f"{k} {v:,}" in block, (group, k)


def test_sys_top_0_shows_no_process_table_and_replay_top_bounds_the_overview(memdive_cli, tmp_path):
    # was: the "Top processes by PSS" heading and an empty header with --top 0
    out = memdive_cli("sys", "--top", "0", env=env_root("linux-6.18"))
    assert out.returncode == 0 and "Top processes" not in out.stdout and "vmstat" in out.stdout
    assert "Top processes" in memdive_cli("sys", "--top", "1", env=env_root("linux-6.18")).stdout
    # was: `replay --top 3` cut its process table to 3 but the overview above still listed 5
    rec = str(tmp_path / "r.db")
    assert memdive_cli("record", "-o", rec, "--duration", "0").returncode == 0
    text = memdive_cli("replay", rec, "--top", "3").stdout
    block = text.split("Top processes by PSS\n", 1)[1].split("\n\n", 1)[0].split("\n")
    assert block[0].split()[:2] == ["PID", "PSS"] and 1 <= len(block) - 1 <= 3


def test_parse_error_is_public_and_a_bad_sample_argument_is_not_a_corrupt_file(tmp_path, memdive_cli):
    import sqlite3

    import memdive
    from memdive.errors import ParseError

    assert memdive.ParseError is ParseError
    rec = str(tmp_path / "r.db")
    assert memdive_cli("record", "-o", rec, "--duration", "0").returncode == 0
    with memdive.Recording(rec) as r:
        with pytest.raises(sqlite3.ProgrammingError):     # was: RecordingError "corrupt recording"
            r.processes_at(r.sample_at(None))             # the (id, time) tuple, not the id
        assert r.processes_at(r.sample_at(None)[0])
