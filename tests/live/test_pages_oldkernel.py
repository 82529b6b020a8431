"""The fallback paths on an emulated old kernel: tests/helpers/pages_oldkernel.c runs memdive under a
seccomp filter that answers cachestat with ENOSYS (Linux < 6.5) and PAGEMAP_SCAN with ENOTTY
(Linux < 6.7). The answers must equal those of the fast paths on the same process and file."""

from __future__ import annotations

import json
import os
import platform
import sys

import pytest

from memdive.pages import walk
from memdive.pages.cache import files

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="the seccomp filter is x86_64-only")

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20


@pytest.fixture(scope="module")
def oldk():
    """The helper, in a directory user nobody can enter (pytest's tmp tree is root-only)."""
    import shutil
    import subprocess
    import tempfile

    d = tempfile.mkdtemp(prefix="memdive-oldk-")
    os.chmod(d, 0o755)
    exe = os.path.join(d, "pages_oldkernel")
    src = os.path.join(os.path.dirname(__file__), "..", "helpers", "pages_oldkernel.c")
    subprocess.run(["gcc", "-O1", "-o", exe, src], check=True, capture_output=True)
    yield exe
    shutil.rmtree(d, ignore_errors=True)


def _cli(oldk, *args, user=None):
    import pwd
    import subprocess

    cmd = [sys.executable, "-m", "memdive", *args]
    if user:   # the filter first, then drop privileges (setpriv), then memdive
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *cmd]
    cmd = [oldk, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)   # callers check


def test_pages_without_pagemap_scan_equals_fast_path(oldk, cbuild, spawn):
    c = spawn([cbuild("pages_target", "-lpthread")])
    fast = walk(c.pid)
    assert fast.method == "PAGEMAP_SCAN"
    p = _cli(oldk, "pages", str(c.pid), "--json")
    assert p.returncode == 0, p.stderr
    old = json.loads(p.stdout)
    assert old["method"] == "pagemap"
    assert any("PAGEMAP_SCAN unavailable" in n for n in old["notes"])
    keys = ["virtual_pages", "present_pages", "swapped_pages", "exclusive_pages", "file_or_shared_pages"]
    if fast.detail == "kpage":
        keys += ["thp_pages", "zero_pages", "anon_pages", "mapcount_pages"]
    # (library pages' mapcounts change as other processes start and exit: compared for anon only)
    by_start = {r["start"]: r for r in old["regions"]}
    assert set(by_start) == {r.start for r in fast.regions}
    for r in fast.regions:
        if r.kind == "stack":
            continue
        for k in keys:
            if k == "mapcount_pages" and r.kind not in ("anon", "heap"):
                continue
            assert by_start[r.start]["stats"][k] == getattr(r.stats, k), (r.name, k)
    p = _cli(oldk, "pages", str(c.pid), "--fast")
    assert p.returncode == 1 and "PAGEMAP_SCAN" in p.stderr and "Linux 6.7" in p.stderr


def test_cache_without_cachestat_equals_cachestat(oldk):
    import shutil
    import tempfile
    from pathlib import Path

    d = tempfile.mkdtemp(prefix="memdive-oldk-", dir="/var/tmp")    # a disk filesystem (tmpfs cannot evict)
    try:
        _cache_equal(oldk, Path(d) / "f.bin")
    finally:
        shutil.rmtree(d)


def _cache_equal(oldk, path):
    path.write_bytes(os.urandom(8 * MIB))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        os.pread(fd, 3 * MIB, 0)
    finally:
        os.close(fd)
    fast = files([str(path)])
    assert fast.files[0].method == "cachestat" and fast.cached_pages == 3 * MIB // PAGE
    p = _cli(oldk, "cache", str(path), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["files"][0]["method"] == "mincore"
    assert d["cached_pages"] == fast.cached_pages
    p = _cli(oldk, "cache", str(path), "--method", "cachestat")
    assert p.returncode == 1 and "cachestat" in p.stderr and "6.5" in p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to user nobody")
def test_old_kernel_unprivileged_mincore_not_trusted(oldk):
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="memdive-oldk-")
    try:
        os.chmod(d, 0o755)
        path = os.path.join(d, "ro.bin")
        with open(path, "wb") as f:
            f.write(b"\0" * (16 * PAGE))
        os.chmod(path, 0o644)
        p = _cli(oldk, "cache", path, "--json", user="nobody")
        assert p.returncode == 0, p.stderr
        f0 = json.loads(p.stdout)["files"][0]
        assert f0["method"] == "mincore" and f0["cached_pages"] is None and "resident" in f0["error"]
    finally:
        shutil.rmtree(d)
