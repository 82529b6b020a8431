"""The C core's parallel /proc reader (kernel.procread) against plain reads, and the ps scan over it."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from memdive.kernel import procfs, procread
from memdive.kernel.root import KernelRoot

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def _read(path: str) -> bytes | int:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        return e.errno


@pytest.fixture
def sleepers():
    """Children that hold still: their smaps_rollup does not change between two reads. One has a
    200 KiB argument (longer than one read buffer)."""
    kids = [subprocess.Popen(["sleep", "300"]) for _ in range(5)]
    long = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(300)"]
                            + ["x" * (50 << 10)] * 4, stdout=subprocess.PIPE, text=True)
    kids.append(long)
    assert long.stdout.readline() == "ready\n"     # past its start-up: its memory holds still
    time.sleep(0.2)                                 # the sleeps, likewise
    yield [k.pid for k in kids]
    for k in kids:
        k.kill()
        k.wait()


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_same_bytes_as_plain_reads(sleepers, threads):
    gone = kid_that_exited()
    pids = sleepers + [gone]
    names = ("smaps_rollup", "cmdline", "comm", "smaps")
    got = procread.start("/proc", pids, names, threads=threads).wait()
    assert [p for p, _, _ in got] == pids
    for pid, uid, files in got[:-1]:
        assert uid == os.stat(f"/proc/{pid}").st_uid
        for name, data in zip(names, files):
            assert _steady(data) == _steady(_read(f"/proc/{pid}/{name}")), (pid, name)
    assert len(got[-2][2][1]) > 200 << 10                        # the long command line, whole
    # smaps comes a seq buffer (a page or so) per read: read to the end, not to the first short read
    assert all(len(f[3]) > 3 * 4096 for _, _, f in got[:-1])
    assert got[-1][2] == [errno.ENOENT] * 4                      # a process that is gone


def _steady(data: bytes) -> bytes:
    """A file without its Pss lines: a sleeping process's PSS still moves whenever another process
    maps or unmaps the libraries it shares. Every other line must be byte for byte the same."""
    return b"\n".join(ln for ln in data.split(b"\n") if not ln.startswith((b"Pss", b"SwapPss")))


def kid_that_exited() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_empty_and_many_threads():
    assert procread.start("/proc", [], ("cmdline",), threads=8).wait() == []
    me = os.getpid()
    got = procread.start("/proc", [me] * 100, ("cmdline",), threads=16).wait()
    assert {bytes(f[0]) for _, _, f in got} == {_read(f"/proc/{me}/cmdline")}


def _fixture_root(tmp_path, copies: int, kernel: str = "linux-6.18") -> KernelRoot:
    """A fixture kernel's process 4242 copied to `copies` PIDs (more than scan_rollups' 32 for threads)."""
    src = os.path.join(FIXTURES, kernel)
    shutil.copytree(src, tmp_path / "t", symlinks=True)
    proc = tmp_path / "t" / "proc"
    for i in range(copies):
        shutil.copytree(proc / "4242", proc / str(5000 + i), symlinks=True)
        (proc / str(5000 + i) / "cmdline").write_bytes(f"prog\0--n\0{i}\0".encode())
    return KernelRoot(proc=str(proc), sys=str(tmp_path / "t" / "sys"))


@pytest.mark.parametrize("kernel", ["linux-6.18", "linux-4.9"])   # 4.9: no smaps_rollup, smaps summed
def test_scan_rollups_c_and_python_agree_on_a_fixture(tmp_path, kernel):
    root = _fixture_root(tmp_path, 40, kernel)
    pids = procfs.list_pids(root.proc)
    assert len(pids) > 32
    via_c = _plain(procfs.scan_rollups(root, pids))
    via_py = _plain(procfs.scan_rollups(root, pids, prefetched=_Rows(procfs._read_rollups(root.proc, pids, True))))
    assert via_c == via_py
    assert len(via_c) == len(pids)
    read = [ru for _, _, ru, _ in via_c if ru is not None]
    assert len(read) == len(pids) - (kernel == "linux-4.9")             # 4.9's 4243 is a zombie
    assert all(ru.rss_bytes > 0 for ru in read)
    assert {ru.source for ru in read} == {"smaps_rollup" if kernel == "linux-6.18" else "smaps"}
    assert {tuple(c) for _, _, _, c in via_c if c and c[0] == "prog"} == {("prog", "--n", str(i)) for i in range(40)}


def _plain(rows):
    """Rows with exceptions as (type, message): exceptions compare by identity."""
    return [(p, (type(u).__name__, str(u)) if isinstance(u, Exception) else u, ru, c) for p, u, ru, c in rows]


class _Rows:
    def __init__(self, rows):
        self.rows = list(rows)

    def wait(self):
        return self.rows


def test_prefetch_is_taken_once_and_only_for_its_names(tmp_path):
    root = _fixture_root(tmp_path, 3)
    procread.prefetch(("smaps_rollup", "cmdline"), root)
    assert procread.take(root.proc, ("smaps_rollup",)) is None      # other names: not this prefetch
    procread.prefetch(("smaps_rollup", "cmdline"), root)
    h = procread.take(root.proc, ("smaps_rollup", "cmdline"))
    assert h is not None and len(h.wait()) == 4
    assert procread.take(root.proc, ("smaps_rollup", "cmdline")) is None   # taken once


def test_stale_prefetch_is_not_used(tmp_path, monkeypatch):
    root = _fixture_root(tmp_path, 3)
    procread.prefetch(("smaps_rollup", "cmdline"), root)
    monkeypatch.setattr(procread, "_FRESH_SECONDS", 0.0)
    assert procread.take(root.proc, ("smaps_rollup", "cmdline")) is None


def test_ps_command_output_is_whole_when_piped(memdive_cli, sleepers):
    """`memdive ps --json` reads through the prefetch and ends without the interpreter's teardown:
    the JSON must still be complete, and list the children."""
    r = memdive_cli("ps", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(sleepers) <= {p["pid"] for p in doc["processes"]}


def test_without_the_c_core_the_scan_reads_from_python(tmp_path, monkeypatch):
    root = _fixture_root(tmp_path, 40)
    pids = procfs.list_pids(root.proc)
    want = list(procfs.scan_rollups(root, pids))
    monkeypatch.setattr(procread, "_mod", None)        # as when built without the Python headers
    assert procread.start(root.proc, pids, ("smaps_rollup",)) is None
    assert list(procfs.scan_rollups(root, pids)) == want


def test_the_extension_is_built_wherever_python_headers_exist():
    """Without Python.h the build skips the module (ps then reads from Python): with it, a missing
    module is a build bug, not a degraded machine."""
    import sysconfig

    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        pytest.skip("no Python.h: the extension is optional and was skipped at build time")
    assert procread._load() is not None


def test_pid_listing_in_c_matches_python():
    """Without PIDs the threads list proc themselves: the PIDs are known once waited for."""
    before = procfs.list_pids("/proc")
    r = procread.start("/proc", None, ("comm",), threads=2)
    rows = r.wait()
    after = procfs.list_pids("/proc")
    got = r.pids
    assert got == sorted(got) and [p for p, _, _ in rows] == got
    assert set(before) & set(after) <= set(got) <= set(before) | set(after)
    me = rows[got.index(os.getpid())]
    assert me[1] == os.getuid() and me[2] == [_read(f"/proc/{os.getpid()}/comm")]


def test_listing_a_missing_proc_fails_at_wait(tmp_path):
    r = procread.start(str(tmp_path / "nope"), None, ("stat",), threads=2)
    with pytest.raises(OSError) as e:
        r.wait()
    assert e.value.errno == errno.ENOENT


def test_kb_file_parsed_as_python_parses_it(sleepers):
    got = procread.start("/proc", sleepers, ("smaps_rollup", "cmdline"), threads=2, kb_file=0).wait()
    keys0 = got[0][2][0][0]
    for pid, uid, (rollup, cmdline) in got:
        assert type(rollup) is tuple and type(cmdline) is bytes
        keys, vals = rollup
        assert keys is keys0                      # one tuple for every process printing the same keys
        raw = _read(f"/proc/{pid}/smaps_rollup")
        tok = raw.split(b"\n", 1)[1].split()
        assert keys == tuple(tok[0::3]) and vals[-1] is None and len(vals) == len(keys) + 1
        for k, v, want in zip(keys, vals, tok[1::3]):
            if not k.startswith((b"Pss", b"SwapPss")):   # PSS moves as others map shared libraries
                assert v == int(want) * 1024, (pid, k)
        ru = procfs.parse_smaps_rollup(raw, pid)
        via_c = procfs.Rollup(pid, "smaps_rollup", *procfs._rollup_layout(keys, "x")(vals))
        assert via_c.rss_bytes == ru.rss_bytes and via_c.uss_bytes == ru.uss_bytes


@pytest.mark.parametrize("body", [
    b"Rss: 12 kB\nPss: x kB\n",                # not a number
    b"Rss: 12 kB\nPss: 4\n",                   # no unit, truncated
    b"Rss: 12 kB\nPss: 4 MB\n",                # another unit
    b"Rss: -12 kB\n",                           # a sign
    b"Rss 12 kB\n",                             # no colon
    b"",                                        # a header alone
    b"Rss: 99999999999999999999 kB\n",          # more digits than the C side takes
])
def test_malformed_kb_file_is_left_to_the_python_parser(tmp_path, body):
    root = _fixture_root(tmp_path, 40)
    victim = procfs.list_pids(root.proc)[-1]
    path = os.path.join(root.proc, str(victim), "smaps_rollup")
    with open(path, "wb") as f:
        f.write(b"00400000-7ffd0000 ---p 00000000 00:00 0    [rollup]\n" + body)
    pids = procfs.list_pids(root.proc)
    items = {p: f[0] for p, _, f in procread.start(root.proc, pids, ("smaps_rollup",), kb_file=0).wait()}
    assert items[victim] == _read(path)                           # raw bytes: the C side did not guess
    assert all(type(v) is tuple for p, v in items.items() if p != victim)
    via_c = _plain(procfs.scan_rollups(root, pids))
    via_py = _plain(procfs.scan_rollups(root, pids, prefetched=_Rows(procfs._read_rollups(root.proc, pids, True))))
    assert via_c == via_py


def test_a_failed_c_read_falls_back_to_python(tmp_path):
    root = _fixture_root(tmp_path, 40)
    pids = procfs.list_pids(root.proc)

    class OutOfMemory:
        def __init__(self, pids):
            self.pids = pids

        def wait(self):
            raise OSError(errno.ENOMEM, "Cannot allocate memory")

    assert _plain(procfs.scan_rollups(root, None, prefetched=OutOfMemory(pids))) == \
        _plain(procfs.scan_rollups(root, pids))


@pytest.fixture
def zombie():
    z = subprocess.Popen(["true"])             # exits at once; not reaped until wait(): a zombie
    deadline = time.monotonic() + 10
    while _read(f"/proc/{z.pid}/stat").split(b") ")[1][:1] != b"Z":
        assert time.monotonic() < deadline, "child never became a zombie"
        time.sleep(0.01)
    yield z.pid
    z.wait()


def test_on_esrch_reads_stat_only_where_there_is_no_address_space(zombie):
    me = os.getpid()
    rows = procread.start("/proc", [zombie, me], procread.ROLLUP_NAMES, threads=2, **procread.ROLLUP_READ).wait()
    (_, _, zfiles), (_, _, mfiles) = rows
    assert zfiles[:2] == [errno.ESRCH, errno.ESRCH]
    assert zfiles[2].startswith(f"{zombie} (true) Z ".encode())      # its stat: a zombie
    assert type(mfiles[0]) is tuple and mfiles[2] is None             # an address space: no stat read


def test_on_esrch_tells_kernel_threads_apart():
    kthreads = [p for p in procfs.list_pids("/proc")
                if (st := _read(f"/proc/{p}/stat")) and type(st) is bytes and b") " in st
                and st.rsplit(b") ", 1)[1].split()[1] == b"2"]        # children of kthreadd
    if not kthreads:
        pytest.skip("no kernel thread visible in this PID namespace")
    rows = procread.start("/proc", kthreads[:5], procread.ROLLUP_NAMES, **procread.ROLLUP_READ).wait()
    for pid, _, files in rows:
        if files[0] == errno.ENOENT:             # exited meanwhile
            continue
        assert files[0] == errno.ESRCH and type(files[2]) is bytes and b") Z " not in files[2], pid


def test_scan_through_the_c_reader_counts_a_zombie_as_gone(zombie):
    """scan_rollups with the C reader (more than 32 PIDs go through it): the zombie is reported as
    gone (ZombieProcess), never with zeros, and the live processes are all read."""
    me = os.getpid()
    pids = [zombie] + [me] * 40
    r = procread.start("/proc", pids, procread.ROLLUP_NAMES, **procread.ROLLUP_READ)
    rows = list(procfs.scan_rollups(None, pids, prefetched=r))
    from memdive.errors import ZombieProcess

    assert isinstance(rows[0][1], ZombieProcess) and rows[0][2] is None
    assert all(ru is not None and ru.rss_bytes > 0 for _, _, ru, _ in rows[1:])


@pytest.mark.parametrize("header", [b"not a header", b"Rss: 1 kB", b"00400000 no range"])
def test_a_rollup_without_its_address_range_header_is_malformed_both_ways(tmp_path, header):
    """The C side checks the header as procfs._is_header does, so both paths report the same ParseError
    (the Python reads no longer skip the check for a layout already seen)."""
    root = _fixture_root(tmp_path, 40)
    pids = procfs.list_pids(root.proc)
    victim = pids[-1]
    path = os.path.join(root.proc, str(victim), "smaps_rollup")
    good = _read(os.path.join(root.proc, str(pids[0]), "smaps_rollup"))
    with open(path, "wb") as f:
        f.write(header + b"\n" + good.split(b"\n", 1)[1])
    items = {p: f[0] for p, _, f in procread.start(root.proc, pids, ("smaps_rollup",), kb_file=0).wait()}
    assert type(items[victim]) is bytes and type(items[pids[0]]) is tuple
    via_c = _plain(procfs.scan_rollups(root, pids))
    via_py = _plain(procfs.scan_rollups(root, pids, prefetched=_Rows(procfs._read_rollups(root.proc, pids, True))))
    assert via_c == via_py
    bad = [u for p, u, _, _ in via_c if p == victim]
    assert bad == [("ParseError", f"{path}: no [rollup] header")]


def test_the_installed_command_starts_reading_before_the_heavy_imports():
    """`memdive ps` imports the C reader before re, argparse, collections or the command registry: on two
    CPUs every millisecond of Python before the reads start is lost whole (bin/memdive is a plain script
    for this; pip's entry-point wrapper imports re first; kernel/env.py finds /proc without root.py)."""
    exe = os.path.join(os.path.dirname(sys.executable), "memdive")
    assert os.path.exists(exe), "memdive is not installed next to this interpreter"
    for argv in (["ps", "--json"], []):        # ps, and the overview (the default command)
        p = subprocess.run([sys.executable, "-X", "importtime", exe, *argv], check=False, capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
        order = [ln.rsplit("|", 1)[1].strip() for ln in p.stderr.splitlines()
                 if ln.startswith("import time:") and "|" in ln][1:]      # [0] is the header
        first = order.index("memdive.native._procread")
        assert "re" in order[first:] and "argparse" in order[first:]      # imported, but after
        late = {"re", "argparse", "collections", "enum", "json", "memdive.cli.registry", "memdive.kernel.root"}
        assert not late & set(order[:first]), sorted(late & set(order[:first]))
