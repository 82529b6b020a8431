"""Bad input on the command line: one-line errors, the right exit code, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from ..conftest import requires_root


@pytest.fixture
def sleeper():
    """A process of our own to point commands at (wss with --yes must never touch another's)."""
    p = subprocess.Popen(["sleep", "60"])
    yield p.pid
    p.kill()
    p.wait()


def _one_line(out, code: int, *needles: str) -> None:
    assert out.returncode == code, (out.returncode, out.stderr)
    err = out.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("memdive: error: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    for n in needles:
        assert n in err, (n, err)


@pytest.mark.parametrize("args", [
    ("maps", "notapid"),
    ("nosuchcommand",),
    ("pages", "1", "--range", "zz-1"),
    ("numa", "show"),
    ("ctl",),
    ("trace", "report"),
])
def test_usage_errors_are_one_line(memdive_cli, args):
    _one_line(memdive_cli(*args), 2, "--help")


@pytest.mark.parametrize("args", [
    ("sys", "--interval", "inf"),
    ("sys", "--interval", "nan"),
    ("sys", "--interval", "-1"),
    ("sys", "--top", "-1"),
    ("ps", "--top", "-1"),
    ("top", "--once", "--interval", "inf"),
    ("top", "--once", "--limit", "-1"),
    ("faults", "1", "--interval", "inf"),
    ("faults", "1", "--count", "0"),
    ("faults", "1", "--duration", "-1"),
    ("wss", "PID", "--yes", "--interval", "inf"),
    ("wss", "PID", "--yes", "--count", "-1"),
    ("record", "-o", "/nonexistent-dir/x.db", "--interval", "inf"),
    ("record", "-o", "/nonexistent-dir/x.db", "--duration", "inf"),
    ("numa", "--watch", "inf"),
    ("numa", "--watch", "1", "--count", "-3"),
    ("exporter", "--once", "--interval", "inf"),
    ("alloc", "compare", "--timeout", "-1", "--", "true"),
    ("cache", "/etc/hostname", "--top", "-1"),
    ("pages", "1", "--top", "-1"),
    ("bench", "latency", "--quick", "--repeats", "0"),
])
def test_out_of_range_numbers_are_usage_errors(memdive_cli, sleeper, args):
    _one_line(memdive_cli(*[str(sleeper) if a == "PID" else a for a in args]), 2)


@pytest.mark.parametrize("addr", ["ffffffffffffffff", "800000000000", "1ffffffffffffffffff", "-1"])
def test_phys_address_outside_user_space(memdive_cli, sleeper, addr):
    # was: IndexError (pagemap ends at TASK_SIZE), OverflowError (pread offset), EINVAL blamed on ptrace
    _one_line(memdive_cli("phys", str(sleeper), "--", addr), 2)


@pytest.fixture
def shared_recordings():
    """A recording readable by its owner only and one readable by all, in a directory other users can
    enter but not write (as under /tmp of another user)."""
    import shutil
    import tempfile
    from pathlib import Path

    from memdive.kernel.root import KernelRoot
    from memdive.monitor.sampler import Sampler
    from memdive.record import Recorder

    d = Path(tempfile.mkdtemp(prefix="memdive-rec-", dir="/tmp"))
    d.chmod(0o755)
    fix = Path(__file__).resolve().parents[1] / "fixtures" / "monitor-basic"
    private, public = d / "private.db", d / "public.db"
    with Sampler(KernelRoot.at(str(fix))) as s, Recorder(str(private), interval=1.0) as rec:
        rec.write(s.sample())
    shutil.copy(private, public)
    private.chmod(0o600)
    public.chmod(0o644)
    yield str(private), str(public)
    shutil.rmtree(d)


@requires_root
def test_recordings_of_another_user(memdive_cli, shared_recordings):
    private, public = shared_recordings
    # was: PermissionError tracebacks, and 'corrupt recording (attempt to write a readonly database)'
    for args in (("replay", private), ("plot", private, "-o", "/tmp/never.png"),
                 ("record", "-o", private, "--append", "--duration", "0")):
        _one_line(memdive_cli(*args, user="nobody"), 1, "permission denied reading", "owner")
    _one_line(memdive_cli("record", "-o", public, "--append", "--duration", "0", user="nobody"), 1,
              "permission denied writing")
    out = memdive_cli("replay", public, "--info", user="nobody")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr


def test_replay_bad_times_and_export_targets(memdive_cli, shared_recordings):
    _, rec = shared_recordings
    # was: ValueError traceback (hour must be in 0..23), FileExistsError traceback
    _one_line(memdive_cli("replay", rec, "--at", "25:99"), 2, "not a time of day")
    _one_line(memdive_cli("replay", rec, "--csv", "/etc/hostname"), 2, "not a directory")
    # was: "argument --at: expected one argument" for the documented `--at -10s`
    out = memdive_cli("replay", rec, "--at", "-10s", "--json")
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_bench_plot_into_a_missing_directory_is_refused_before_running(memdive_cli):
    # was: the benchmark ran, then FileNotFoundError from savefig
    _one_line(memdive_cli("bench", "latency", "--quick", "--plot", "/nonexistent-dir/x.png"), 2, "does not exist")


def _kernel_thread() -> int:
    from memdive.errors import MemdiveError
    from memdive.kernel import procfs
    from memdive.kernel.io import list_pids

    for p in list_pids("/proc"):
        try:
            if procfs.read_stat(p).is_kernel_thread:
                return p
        except MemdiveError:     # gone, or not readable
            continue
    pytest.skip("no kernel thread visible in this PID namespace")


@pytest.mark.parametrize("args", [("maps",), ("maps", "--layout"), ("thp",), ("numa",), ("numa", "show")])
def test_kernel_thread_is_refused_not_shown_empty(memdive_cli, args):
    # was: exit 0 with an empty table, or zeros ("anonymous 0B", "Total 0B"), as if it had no memory
    pid = str(_kernel_thread())
    argv = [*args, pid] if args[-1] == "show" else [args[0], pid, *args[1:]]
    _one_line(memdive_cli(*argv), 2, "no user address space (a kernel thread)")


@pytest.fixture
def zombie():
    """A zombie of our own: a child that has exited and that this test process reaps at the end (not
    left to init, which in a container may never reap it)."""
    import time

    z = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while _state(z.pid) != b"Z":
        assert time.monotonic() < deadline, "no zombie appeared"
        time.sleep(0.01)
    yield z.pid
    z.wait()


@pytest.mark.parametrize("args", [("pages",), ("phys", "1000"), ("wss", "--yes", "--count", "1", "--interval", "0.1")])
def test_zombie_is_a_zombie_error(memdive_cli, zombie, args):
    # was: exit 2 'has no user address space (a zombie)', as if the PID were a usage error
    _one_line(memdive_cli(args[0], str(zombie), *args[1:]), 1, "zombie")


@requires_root
def test_cache_says_which_directories_it_could_not_read(memdive_cli):
    import shutil
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="memdive-cache-", dir="/tmp"))
    try:
        d.chmod(0o755)
        (d / "locked").mkdir(mode=0o700)
        (d / "locked" / "f").write_bytes(b"x" * 4096)
        # was: "0 files ... 0/0 pages" with nothing said: os.walk dropped the unreadable directory
        out = memdive_cli("cache", str(d), user="nobody")
        assert out.returncode == 0, out.stderr
        assert "1 directories could not be read" in out.stdout and "locked: Permission denied" in out.stdout
    finally:
        shutil.rmtree(d)


def _gone_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_top_of_a_pid_that_is_not_there_says_so(memdive_cli):
    """Not an empty table with exit 0: `record --pid` already refused, `top` now does too."""
    gone = _gone_pid()
    _one_line(memdive_cli("top", "--once", "--pid", str(gone)), 1, f"no such process: {gone}")
    _one_line(memdive_cli("record", "-o", "/tmp/never-written.db", "--pid", str(gone)), 1, "no such process")


def test_record_into_a_directory_names_the_problem(memdive_cli, tmp_path):
    out = memdive_cli("record", "-o", str(tmp_path), "--duration", "0.1")
    _one_line(out, 2, "is a directory", "FILE.db")
    assert "--force" not in out.stderr


def test_alloc_compare_with_a_missing_library_names_the_file(memdive_cli, tmp_path):
    missing = str(tmp_path / "nope.so")
    out = memdive_cli("alloc", "compare", "--allocators", f"x={missing}", "--", "true")
    _one_line(out, 1, f"no such file: {missing}")
    assert "apt-get" not in out.stderr


@requires_root
def test_cache_behind_an_unsearchable_directory_is_access_denied(memdive_cli, tmp_path):
    d = tmp_path / "shut"
    d.mkdir()
    (d / "f").write_bytes(b"x")
    d.chmod(0o700)
    tmp_path.chmod(0o755)
    _one_line(memdive_cli("cache", str(d / "f"), user="nobody"), 1, "Permission denied", "root")


def _state(pid: int) -> bytes:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b") ", 1)[1][:1]


def test_trace_heap_of_a_zombie_says_zombie(memdive_cli):
    import time

    z = subprocess.Popen(["true"])             # exits at once; not reaped until wait(): a zombie
    try:
        deadline = time.monotonic() + 10
        while _state(z.pid) != b"Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _one_line(memdive_cli("trace", "heap", str(z.pid)), 1, "zombie")
    finally:
        z.wait()


def test_trace_files_that_are_missing_a_directory_or_unreadable(memdive_cli, tmp_path):
    # was: exit 1 "cannot open trace" for a wrong path, where replay, plot and cache say exit 2 "no such file"
    _one_line(memdive_cli("trace", "report", str(tmp_path / "none.trace")), 2, "no such file")
    _one_line(memdive_cli("trace", "report", str(tmp_path)), 2, "is a directory, not a trace")
    if os.geteuid() == 0:
        secret = tmp_path / "secret.trace"
        secret.write_bytes(b"x" * 64)
        secret.chmod(0o600)
        # behind pytest's private directory: nobody cannot even reach it (was: "no such file", exit 2)
        _one_line(memdive_cli("trace", "report", str(secret), user="nobody"), 1, "Permission denied",
                  "not searchable", "run as root")
        _one_line(memdive_cli("replay", str(secret), user="nobody"), 1, "Permission denied", "not searchable")
        shared = tempfile.mkdtemp(prefix="memdive-trace-")         # reachable, but the file is private
        try:
            os.chmod(shared, 0o755)
            shutil.copy(secret, shared)
            mine = os.path.join(shared, "secret.trace")
            os.chmod(mine, 0o600)
            _one_line(memdive_cli("trace", "report", mine, user="nobody"), 1, "permission denied reading",
                      "as a user who may read it")
        finally:
            shutil.rmtree(shared)
