"""memdive cache, residency, wss and faults on real files and processes."""

from __future__ import annotations

import json
import mmap
import os
import shutil
import sys
import tempfile

import pytest

import memdive
from memdive.kernel import pagecache as pc
from memdive.pages.cache import files
from tests.conftest import requires_root

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20


def _fstype(path: str) -> str:
    """The filesystem type of the mount holding `path` (longest mount-point prefix in /proc/mounts)."""
    best, kind = "", ""
    with open("/proc/mounts") as f:
        for line in f:
            _, mnt, fs = line.split()[:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, fs
    return kind


@pytest.fixture
def disk_dir(tmp_path):
    """A directory on a disk filesystem: tmpfs pages cannot be evicted, so /tmp may not do."""
    if _fstype(str(tmp_path)) not in ("tmpfs", "ramfs"):
        yield tmp_path
        return
    d = tempfile.mkdtemp(prefix="memdive-cache-", dir="/var/tmp")
    yield __import__("pathlib").Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def half_cached(disk_dir):
    """A 16 MiB file on disk with exactly its first half in the page cache."""
    path = disk_dir / "data.bin"
    with open(path, "wb") as f:
        f.write(os.urandom(16 * MIB))
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)            # no read-ahead past the half
        os.pread(fd, 8 * MIB, 0)
        os.posix_fadvise(fd, 8 * MIB, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return str(path)


@pytest.mark.parametrize("method", ["cachestat", "mincore"])
def test_half_read_then_evict_then_touch(half_cached, method):
    total = 16 * MIB // PAGE
    r = files([half_cached], method=method)
    assert r.files[0].method == method
    assert (r.total_pages, r.cached_pages) == (total, total // 2)
    r = files([half_cached], action="evict", method=method)
    assert r.cached_pages == 0
    r = files([half_cached], action="touch", method=method)
    assert r.cached_pages == total
    if method == "cachestat":
        assert r.files[0].dirty_pages == 0 and r.files[0].writeback_pages == 0


def test_cli_cache_half_evict_touch(half_cached, memdive_cli):
    total = 16 * MIB // PAGE
    d = json.loads(memdive_cli("cache", half_cached, "--json").stdout)
    assert d["cached_pages"] == total // 2 and d["files"][0]["method"] == "cachestat"
    d = json.loads(memdive_cli("cache", half_cached, "--evict", "--json").stdout)
    assert d["cached_pages"] == 0
    d = json.loads(memdive_cli("cache", half_cached, "--touch", "--json").stdout)
    assert d["cached_pages"] == total
    p = memdive_cli("cache", half_cached)
    assert p.returncode == 0 and f"{total}/{total} pages" in p.stdout
    p = memdive_cli("cache", "/no/such/file")
    assert p.returncode == 2 and "No such file" in p.stderr


def test_directory_tree_and_lock(tmp_path):
    (tmp_path / "a").mkdir()
    for i, n in enumerate(["a/x", "a/y", "z"]):
        (tmp_path / n).write_bytes(b"\1" * (PAGE * (i + 1)))
    os.symlink(tmp_path / "z", tmp_path / "link")
    r = files([str(tmp_path)], action="touch")
    assert sorted(os.path.relpath(f.path, tmp_path) for f in r.files) == ["a/x", "a/y", "z"]
    assert r.total_pages == 6 and r.cached_pages == 6 and r.skipped == 1    # the symlink
    from memdive.pages.cache import Locked

    held = Locked()
    try:
        r = files([str(tmp_path / "z")], action="lock", locked=held)
        assert r.cached_pages == 3 and len(held.maps) == 1
        st = memdive.Process(os.getpid()).status()
        assert st.vm_bytes("VmLck") >= 3 * PAGE
    finally:
        held.release()


@requires_root
def test_unprivileged_never_reports_mincore_lie(tmp_path, memdive_cli):
    """cachestat refuses a file nobody may only read; mincore would say 'all resident': report unknown."""
    d = tempfile.mkdtemp(prefix="memdive-cache-", dir="/var/tmp")     # a disk filesystem, enterable by nobody
    try:
        os.chmod(d, 0o755)
        path = os.path.join(d, "ro.bin")
        with open(path, "wb") as f:
            f.write(b"\0" * (64 * PAGE))
            os.fsync(f.fileno())
        os.chmod(path, 0o644)
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        for method in ("auto", "mincore"):
            p = memdive_cli("cache", path, "--json", "--method", method, user="nobody")
            assert p.returncode == 0, p.stderr
            f = json.loads(p.stdout)["files"][0]
            assert f["cached_pages"] is None and f["error"], f
        p = memdive_cli("cache", path, user="nobody")
        assert "unknown" in p.stdout and "64/64" not in p.stdout
        assert files([path]).cached_pages == 0            # root sees the truth
    finally:
        shutil.rmtree(d)


def test_residency_before_and_after_touch():
    """The seed's analyze_page_faults: 1000 pages mapped, every 10th touched -> 100 resident."""
    m = mmap.mmap(-1, 1000 * PAGE)
    try:
        before = memdive.residency(m)
        assert (before.pages, before.resident_pages) == (1000, 0)
        for i in range(0, 1000, 10):
            m[i * PAGE] = 1
        after = memdive.residency(m)
        assert after.resident_pages == 100
        assert [i for i, b in enumerate(after.vector) if b & 1] == list(range(0, 1000, 10))
    finally:
        m.close()


def test_residency_of_numpy_array_and_address_range():
    import numpy as np

    a = np.ones(64 * PAGE // 8)
    r = memdive.residency(a)
    assert r.resident_pages == r.pages >= 64
    r2 = memdive.residency(start=a.ctypes.data, length=a.nbytes)
    assert r2.resident_pages == r.resident_pages
    with pytest.raises(memdive.InvalidInput):
        memdive.residency(object())


def test_cachestat_ranges(half_cached):
    fd = os.open(half_cached, os.O_RDONLY)
    try:
        assert pc.cachestat(fd, 0, 8 * MIB)["nr_cache"] == 8 * MIB // PAGE
        assert pc.cachestat(fd, 8 * MIB, 0)["nr_cache"] == 0
        assert pc.mincore_file(fd, 16 * MIB) == 8 * MIB // PAGE
    finally:
        os.close(fd)


# --- faults ----------------------------------------------------------------------------------

def test_faults_of_a_command(memdive_cli):
    code = "import mmap; m = mmap.mmap(-1, 4000 * 4096); [m.__setitem__(i * 4096, 1) for i in range(4000)]"
    p = memdive_cli("faults", "--json", "--", sys.executable, "-c", code)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["returncode"] == 0
    assert d["minflt"] >= 4000 and d["majflt"] >= 0
    assert d["maxrss_bytes"] >= 4000 * PAGE
    p = memdive_cli("faults", "--", sys.executable, "-c", "raise SystemExit(3)")
    assert "exit status 3" in p.stdout and p.returncode == 3        # the command's status, as time(1)
    p = memdive_cli("faults", "--", "sh", "-c", "kill -KILL $$")
    assert "killed by SIGKILL" in p.stdout and p.returncode == 128 + 9
    p = memdive_cli("faults", "--", "/nonexistent/prog")
    assert p.returncode == 2 and p.stderr.strip() == "memdive: error: cannot run /nonexistent/prog: No such file or directory"


def test_faults_peak_rss_is_the_commands_own():
    """Its peak RSS, not memdive's: forked from Python, a child's ru_maxrss starts at the parent's RSS
    (kept across exec), which is why the command is started by the C core's launcher, as time(1) does."""
    import numpy  # noqa: F401  (makes this process's RSS far larger than the command's)

    from memdive.pages.faults import run_command

    with open("/proc/self/status") as f:
        me = int(f.read().split("VmRSS:")[1].split()[0]) * 1024
    small = run_command(["true"], interval=0.05)
    assert small.returncode == 0 and small.maxrss_bytes < min(8 << 20, me // 2), (small.maxrss_bytes, me)
    big = run_command([sys.executable, "-c", "b = bytearray(64 << 20); b[::4096] = b'x' * (16384)"], interval=0.05)
    assert 64 << 20 <= big.maxrss_bytes < (64 << 20) + me, big.maxrss_bytes
    assert big.wall_seconds < 5 and big.minflt >= 16384


def test_faults_of_pids_and_system(spawn, memdive_cli):
    c = spawn([sys.executable, "-c", ("import sys, mmap\nprint('ready', flush=True)\n"
                                      "m = mmap.mmap(-1, 1 << 30)\nfor line in sys.stdin:\n"
                                      "    [m.__setitem__(i * 4096, 1) for i in range(int(line))]\n"
                                      "    print('ok', flush=True)")])
    from memdive.pages.faults import sample

    it = sample([c.pid, None], interval=0.2, count=2)
    first = next(it)
    assert c.send("5000") == "ok"
    second = next(it)
    mine = next(s for s in second if s.pid == c.pid)
    assert mine.minflt - next(s for s in first if s.pid == c.pid).minflt >= 5000
    assert mine.minflt_per_second > 0
    system = next(s for s in second if s.pid is None)
    assert system.minflt >= mine.minflt
    p = memdive_cli("faults", str(c.pid), "--count", "2", "--interval", "0.1", "--json")
    d = json.loads(p.stdout)
    assert len(d["samples"]) == 2 and d["samples"][0]["pid"] == c.pid
    p = memdive_cli("faults", "999999999", "--count", "1", "--interval", "0.1")
    assert p.returncode == 1 and "does not exist" in p.stderr


# --- wss -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hot_target():
    import subprocess

    from tests.conftest import Child

    d = tempfile.mkdtemp(prefix="memdive-wss-")
    exe = os.path.join(d, "pages_target")
    src = os.path.join(os.path.dirname(__file__), "..", "helpers", "pages_target.c")
    subprocess.run(["gcc", "-O1", "-o", exe, src, "-lpthread"], check=True, capture_output=True)
    c = Child([exe, "hot"])
    yield c, {k: v for k, v in c.info().items()}
    c.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_wss_accessed_set_of_hot_region(hot_target):
    from memdive.pages import wss

    c, info = hot_target
    hot = int(info["hot"], 16)
    hot_bytes = int(info["hot_pages"]) * PAGE
    samples = list(wss.sample(c.pid, interval=0.3, count=2))
    assert len(samples) == 2
    for s in samples:
        region = next(r for r in s.regions if r.start <= hot < r.end)
        # The thread rewrites every page in a loop (more pages than the TLB holds: see pages_target.c), but
        # the kernel's own aging (reclaim, MGLRU walks) may clear a few accessed bits between its passes and
        # the read: most of the region, not every page.
        assert region.accessed_bytes >= hot_bytes * 9 // 10
        # the 64 MiB THP region and the 1000-page region are never touched again: not in the set
        thp = int(info["thp"], 16)
        cold = next(r for r in s.regions if r.start <= thp < r.end)
        assert cold.accessed_bytes < cold.rss_bytes // 4
        assert s.written_bytes is None                     # no CONFIG_MEM_SOFT_DIRTY here
        assert s.accessed_bytes < s.rss_bytes


def test_wss_cli_needs_yes_and_states_method(hot_target, memdive_cli):
    c, _ = hot_target
    p = memdive_cli("wss", str(c.pid), "--count", "1", "--interval", "0.2")
    assert p.returncode == 2 and "--yes" in p.stderr
    p = memdive_cli("wss", str(c.pid), "--count", "1", "--interval", "0.2", "--yes")
    assert p.returncode == 0, p.stderr
    assert "clear_refs" in p.stdout and "error:" in p.stdout and "CONFIG_MEM_SOFT_DIRTY" in p.stdout
    d = json.loads(memdive_cli("wss", str(c.pid), "--count", "1", "--interval", "0.2", "--yes", "--json").stdout)
    assert d["soft_dirty_supported"] is False and len(d["samples"]) == 1
    assert d["samples"][0]["written_bytes"] is None
    p = memdive_cli("wss", "--help")
    assert "reclaim" in p.stdout
