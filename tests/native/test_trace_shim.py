"""The allocation shim on small C programs with known allocations: call sites, every function, threads,
fork/exec, abort/_exit/SIGKILL, signal handlers and TLS destructors, jemalloc, the resident join."""

from __future__ import annotations

import ctypes
import glob
import os
import signal
import subprocess

import numpy as np
import pytest

import memdive.trace as T
from memdive.errors import ParseError
from memdive.trace import reader as R
from memdive.trace.runner import NotTraceable


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    from pathlib import Path

    src = Path(__file__).parents[1] / "helpers" / "trace_target.c"
    exe = tmp_path_factory.mktemp("trace_bin") / "trace_target"
    # -fno-builtin: gcc would turn realloc(NULL, n) into malloc(n) and drop unused malloc/free pairs
    subprocess.run(["gcc", "-O1", "-g", "-fno-builtin", "-o", str(exe), str(src), "-lpthread"], check=True)
    return str(exe)


def trace(tmp_path, target, mode, **kw):
    out = str(tmp_path / f"{mode}.trace")
    res = T.run([target, mode], output=out, stdout=subprocess.DEVNULL, timeout=60, **kw)
    return res, T.report(out, top=50)


def user_function(site) -> str:
    """The innermost frame in the test program."""
    for f in site.frames:
        if "trace_target" in os.path.basename(f.object):
            return f.function
    return "?"


def leak_sites(rep) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for s in rep.sites_by_leaked:
        fn = user_function(s)
        c, b = out.get(fn, (0, 0))
        out[fn] = (c + s.leaked_count, b + s.leaked_bytes)
    return out


def test_known_leaks_exactly_at_their_sites(tmp_path, target):
    res, a = trace(tmp_path, target, "sites")
    r = a.report
    assert res.returncode == 0 and r.complete and not r.truncated
    # exactly the three leaking sites, nothing from the shim, the loader (thread dtv) or libc (stdio)
    assert leak_sites(r) == {"leak_a": (5, 5000), "leak_b": (3, 9000), "leak_c": (4, 8192)}
    assert r.leaked_count == 12 and r.leaked_bytes == 5000 + 9000 + 8192
    assert r.threads == 3
    # each site's allocations came from the thread that made them
    by_fn = {user_function(s): s for s in r.sites_by_leaked}
    names = [f.function for f in by_fn["leak_b"].frames]
    assert "thread_b" in names and "main" not in names
    assert [f.function for f in by_fn["leak_a"].frames][:2] == ["leak_a", "main"]
    assert by_fn["leak_a"].frames[0].file.endswith("trace_target.c") and by_fn["leak_a"].frames[0].line > 0
    # churn: 7000 malloc + 7000 realloc, all freed; temporary = malloc immediately realloc'd/freed
    assert r.calls["malloc"] >= 7005 and r.calls["realloc"] == 7000
    assert r.calls["posix_memalign"] == 4
    assert r.peak_bytes >= 5000 + 9000 + 8192
    top = {user_function(s) for s in r.sites_by_count[:5]}
    assert "churn" in top


def test_every_function_counted(tmp_path, target):
    _res, a = trace(tmp_path, target, "funcs")
    tr, r = a.trace, a.report
    # only the events whose stack passes through do_funcs
    sym = a.symbolizer
    keep = set()
    for sid, pcs in tr.stacks.items():
        if any(f.function == "do_funcs" for f in sym.stack(pcs)):
            keep.add(sid)
    ev = tr.events
    mine = np.isin(ev["stack"], list(keep))
    counts = {R.FUNCS[f]: int(c) for f, c in zip(*np.unique(ev["func"][mine], return_counts=True))}
    assert counts == {"malloc": 3, "calloc": 2, "realloc": 3, "reallocarray": 1, "posix_memalign": 1,
                      "aligned_alloc": 1, "memalign": 1, "valloc": 1, "pvalloc": 1, "mmap": 2, "mremap": 1,
                      "munmap": 2}
    # frees carry no stack: count them all (the program frees nothing else after setvbuf)
    assert r.calls["free"] == 11
    assert r.calls["munmap"] == 2 and r.calls["realloc(p, 0)"] == 1
    assert r.leaked_count == 0 and r.mmap_leaked_bytes == 0
    assert r.mmap_peak_bytes == 8192 + 4096 * 8


@pytest.mark.parametrize("mode,how", [("abort", -signal.SIGABRT), ("_exit", 3), ("selfkill", -signal.SIGKILL)])
def test_survives_abort_exit_and_sigkill(tmp_path, target, mode, how):
    res, a = trace(tmp_path, target, mode)
    assert res.returncode == how
    r = a.report
    assert not r.complete and r.warnings
    assert leak_sites(r) == {"leak_a": (5, 5000)}


def test_fork_threads_not_followed(tmp_path, target):
    res, a = trace(tmp_path, target, "fork")
    assert res.returncode == 0          # children neither deadlocked nor crashed
    assert res.children == []           # not followed: no child files, nothing written into ours
    r = a.report
    assert "child_fork_leak" not in leak_sites(r) and "child_leak" not in leak_sites(r)
    assert r.complete


def test_fork_and_exec_followed(tmp_path, target):
    res, a = trace(tmp_path, target, "fork", follow_fork=True)
    assert res.returncode == 0
    assert len(res.children) == 3       # forked child, exec child before exec, the exec'd image
    found = {}
    for c in res.children:
        ca = T.report(c, top=50)
        assert ca.trace.pid != a.trace.pid
        found.update(leak_sites(ca.report))
    assert found.get("child_fork_leak") == (3, 333)
    assert found.get("child_leak") == (2, 444)
    assert "child_fork_leak" not in leak_sites(a.report)


def test_signal_handler_tls_destructor_atexit(tmp_path, target):
    res, a = trace(tmp_path, target, "hooks")
    assert res.returncode == 0
    r = a.report
    sizes = set(a.trace.events["size"][np.isin(a.trace.events["func"], R.ALLOC_FUNCS)].tolist())
    assert {64, 77, 99, 55} <= sizes    # handler, TLS destructor, atexit, the TLS value
    assert r.leaked_count == 0


def test_heap_state_on_signal_and_at_exit(tmp_path, target):
    _res, a = trace(tmp_path, target, "heapsig")
    heap = {h.reason: h for h in a.report.heap}
    assert set(heap) == {"signal", "exit"}
    assert heap["signal"].in_use_bytes >= 5000 and heap["signal"].arenas == 1
    assert heap["exit"].arena_bytes >= heap["exit"].in_use_bytes + heap["exit"].free_held_bytes - 4096


def test_resident_join(tmp_path, target):
    _res, a = trace(tmp_path, target, "rss")
    r = a.report
    by_fn = {user_function(s): s for s in r.sites_by_leaked}
    big, small = by_fn["leak_big"], by_fn["leak_small"]
    assert big.leaked_count == 64 and big.leaked_bytes == 64 << 20
    # half of the 1 MiB blocks were written: 32 MiB resident, plus malloc's header page of each other block
    assert 32 << 20 <= big.resident_exit_bytes <= (32 << 20) + 32 * 4096
    assert small.leaked_count == 10000 and small.resident_exit_bytes == 10000 * 1000
    exit_join = next(j for j in r.resident if j.reason == "exit")
    # every other small block was freed: ~10 MB of resident heap is free but held
    assert 9_000_000 <= exit_join.free_held_resident_bytes <= 12_000_000
    assert any(j.reason == "peak" for j in r.resident)
    assert big.resident_peak_bytes is not None and big.resident_peak_bytes >= 32 << 20


@pytest.mark.parametrize("name,soname,pkg", [("jemalloc", "libjemalloc.so.2", "libjemalloc2"),
                                              ("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4")])
def test_target_preloading_another_allocator(tmp_path, target, name, soname, pkg):
    lib = next(iter(glob.glob(f"/usr/lib/*/{soname}") + glob.glob(f"/usr/lib/{soname}")), None)
    if not lib:
        pytest.fail(f"{pkg} is required (scripts/debian-test-packages.txt)")
    env = dict(os.environ, LD_PRELOAD=lib)
    res, a = trace(tmp_path, target, "sites", env=env)
    assert res.returncode == 0
    assert name in a.report.allocator
    assert leak_sites(a.report) == {"leak_a": (5, 5000), "leak_b": (3, 9000), "leak_c": (4, 8192)}


def test_static_target_refused(tmp_path):
    src = tmp_path / "s.c"
    src.write_text("#include <stdlib.h>\nint main(){return malloc(1)==0;}\n")
    exe = tmp_path / "s"
    r = subprocess.run(["gcc", "-static", "-o", str(exe), str(src)], capture_output=True, check=False)
    if r.returncode:
        pytest.fail("static libc (libc6-dev) is required: " + r.stderr.decode())
    with pytest.raises(NotTraceable, match="statically linked"):
        T.run([str(exe)], output=str(tmp_path / "s.trace"))
    assert not (tmp_path / "s.trace").exists()


def test_truncated_and_corrupt_files(tmp_path, target):
    _res, a = trace(tmp_path, target, "sites")
    with open(a.trace.path, "rb") as f:
        data = f.read()
    full = a.report.events
    cut = tmp_path / "cut.trace"
    cut.write_bytes(data[: len(data) // 2 + 123])
    t2 = T.load(str(cut))
    assert t2.truncated and 0 < t2.events.size < full
    bad = tmp_path / "bad.trace"
    bad.write_bytes(b"NOTATRACE" + data[9:])
    with pytest.raises(ParseError, match="not a memdive trace"):
        T.load(str(bad))
    newer = tmp_path / "newer.trace"
    newer.write_bytes(data[:8] + (99).to_bytes(4, "little") + data[12:])
    with pytest.raises(ParseError, match="newer"):
        T.load(str(newer))
    garbage = tmp_path / "garbage.trace"
    garbage.write_bytes(data[:4096] + b"\xff" * 4096)
    with pytest.raises(ParseError, match="corrupt chunk"):
        T.load(str(garbage))


def test_format_version_matches_the_shim():
    from memdive import native

    lib = ctypes.CDLL(native.path("shim"))
    assert lib.memdive_trace_format_version() == R.VERSION


def test_setuid_target_refused(tmp_path, target):
    import pwd
    import shutil as sh

    exe = tmp_path / "suid"
    sh.copy(target, exe)
    if os.geteuid() == 0:
        os.chown(exe, pwd.getpwnam("nobody").pw_uid, -1)
    os.chmod(exe, 0o4755)
    with pytest.raises(NotTraceable, match="setuid"):
        T.run([str(exe), "funcs"], output=str(tmp_path / "suid.trace"))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
def test_full_disk_disables_shim_target_runs_on(tmp_path, target):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        out = str(mnt / "x.trace")
        p = subprocess.run([target, "sites"], capture_output=True, text=True, timeout=60, check=False,
                           env=dict(os.environ, LD_PRELOAD=__import__("memdive.native", fromlist=["x"]).path("shim"),
                                    MEMDIVE_TRACE_OUT=out))
        assert p.returncode == 0                       # the program ran to its end
        assert "tracing disabled" in p.stderr and "disk full" in p.stderr
        assert p.stderr.count("memdive trace:") == 1   # warned once
        assert T.load(out).events.size == 0           # what did fit reads back
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_frame_pointer_unwinder(tmp_path):
    """--unwind fp on a program built with frame pointers finds the same sites as the DWARF unwinder."""
    from pathlib import Path

    src = Path(__file__).parents[1] / "helpers" / "trace_target.c"
    exe = tmp_path / "trace_target_fp"
    subprocess.run(["gcc", "-O1", "-g", "-fno-builtin", "-fno-omit-frame-pointer", "-o", str(exe), str(src),
                    "-lpthread"], check=True)
    res, a = trace(tmp_path, str(exe), "sites", unwind="fp")
    assert res.returncode == 0
    assert a.trace.flags & R.F_UNWIND_FP
    assert leak_sites(a.report) == {"leak_a": (5, 5000), "leak_b": (3, 9000), "leak_c": (4, 8192)}
    by_fn = {user_function(s): s for s in a.report.sites_by_leaked}
    assert [f.function for f in by_fn["leak_a"].frames][:2] == ["leak_a", "main"]
