"""Choose an allocator by measurement: run a command under glibc malloc, jemalloc, tcmalloc and mimalloc
(LD_PRELOAD), alternating them round by round, and compare wall time, CPU time, peak RSS, RSS at exit and
page faults as medians over the rounds.

Peak RSS, CPU time and faults come from wait4()'s rusage of the command. RSS at exit cannot be read from
outside (the address space is gone before the parent can look), so an exit probe preloaded with the
allocator (libmemdive_pool.so) writes VmRSS at exit() and which library really defined malloc (dladdr):
a run whose malloc did not come from the asked library is flagged, never silently counted.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sysconfig
import tempfile
import time

from ..errors import InvalidInput, MemdiveError
from ..models.alloc import AllocatorInfo, AllocatorRun, AllocatorSummary, CompareResult

# name -> (sonames to look for, Debian package that brings it)
KNOWN: dict[str, tuple[tuple[str, ...], str]] = {
    "glibc": ((), "libc6"),
    "jemalloc": (("libjemalloc.so.2", "libjemalloc.so.1", "libjemalloc.so"), "libjemalloc2"),
    "tcmalloc": (("libtcmalloc_minimal.so.4", "libtcmalloc.so.4", "libtcmalloc_minimal.so", "libtcmalloc.so"),
                 "libtcmalloc-minimal4"),
    "mimalloc": (("libmimalloc.so.2", "libmimalloc.so.2.0", "libmimalloc.so"), "libmimalloc2.0"),
}
DEFAULT = ("glibc", "jemalloc", "tcmalloc", "mimalloc")


def _lib_dirs() -> list[str]:
    multi = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [f"/usr/lib/{multi}", f"/lib/{multi}"] if multi else []
    dirs += ["/usr/lib", "/usr/lib64", "/lib64", "/usr/local/lib"]
    extra = os.environ.get("MEMDIVE_ALLOC_LIBPATH")
    return (extra.split(":") if extra else []) + [d for d in dirs if os.path.isdir(d)]


def find_library(name: str) -> str | None:
    """The path of allocator NAME's shared library on this machine, or None."""
    sonames, _ = KNOWN[name]
    for d in _lib_dirs():
        for so in sonames:
            p = os.path.join(d, so)
            if os.path.exists(p):
                return p
    return None


def allocators(names=None) -> list[AllocatorInfo]:
    """AllocatorInfo for each name ('glibc', 'jemalloc', 'tcmalloc', 'mimalloc', or 'LABEL=/path/lib.so')."""
    out = []
    for spec in names or DEFAULT:
        spec = spec.strip()
        if not spec:
            continue
        if "=" in spec:
            label, path = spec.split("=", 1)
            if not label or not path:
                raise InvalidInput(f"allocator {spec!r}: use NAME or LABEL=/path/to/lib.so")
            out.append(AllocatorInfo(name=label, library=path, package="(given path)", present=os.path.isfile(path)))
            continue
        if spec not in KNOWN:
            raise InvalidInput(f"unknown allocator {spec!r}",
                               hint="known: " + ", ".join(KNOWN) + "; or LABEL=/path/to/libmalloc.so")
        if spec == "glibc":
            out.append(AllocatorInfo(name="glibc", library=None, package="libc6", present=True))
            continue
        lib = find_library(spec)
        out.append(AllocatorInfo(name=spec, library=lib, package=KNOWN[spec][1], present=lib is not None))
    names_seen = [a.name for a in out]
    if len(set(names_seen)) != len(names_seen):
        raise InvalidInput("an allocator is named twice")
    return out


_infos = allocators


def _read_probe(path: str, pid: int) -> tuple[int | None, str | None]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None, None
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.startswith("memdive-probe "):
            continue
        kv = dict(tok.split("=", 1) for tok in line.split()[1:] if "=" in tok)
        if kv.get("pid") == str(pid):
            rss = int(kv.get("rss_bytes", "-1"))
            return (rss if rss >= 0 else None), kv.get("malloc")
    return None, None


def run_once(argv: list[str], alloc: AllocatorInfo, rnd: int, *, probe_lib: str | None,
             timeout: float | None = None, output: bool = False) -> AllocatorRun:
    """Run ARGV once under ALLOC; measure it."""
    import subprocess

    env = dict(os.environ)
    preload = [p for p in (alloc.library, probe_lib) if p]
    if env.get("LD_PRELOAD"):
        preload.append(env["LD_PRELOAD"])
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    fd, probe = tempfile.mkstemp(prefix="memdive-probe-")
    os.close(fd)
    env["MEMDIVE_ALLOC_PROBE"] = probe
    sink = None if output else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
        except OSError as exc:
            raise InvalidInput(f"cannot run {argv[0]!r}: {exc.strerror}") from None
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                p.returncode = -9
                raise MemdiveError(f"{argv[0]} under {alloc.name} ran longer than {timeout:g} s: killed",
                                   hint="raise --timeout or use a shorter workload")
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        rss_exit, mlib = _read_probe(probe, p.pid)
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass
    return AllocatorRun(allocator=alloc.name, round=rnd, exit_code=p.returncode, wall_seconds=wall,
                        user_seconds=ru.ru_utime, sys_seconds=ru.ru_stime, peak_rss_bytes=ru.ru_maxrss * 1024,
                        rss_at_exit_bytes=rss_exit, minor_faults=ru.ru_minflt, major_faults=ru.ru_majflt,
                        malloc_library=mlib)


def _verified(alloc: AllocatorInfo, mlib: str | None) -> bool:
    if mlib is None:
        return False
    if alloc.library is None:
        return os.path.basename(mlib).startswith("libc.so")
    try:
        return os.path.realpath(mlib) == os.path.realpath(alloc.library)
    except OSError:
        return False


def summarize(runs: list[AllocatorRun], infos: list[AllocatorInfo], baseline: str) -> list[AllocatorSummary]:
    med = statistics.median
    base_by_round = {r.round: r.wall_seconds for r in runs if r.allocator == baseline}
    out = []
    for a in infos:
        rs = [r for r in runs if r.allocator == a.name]
        if not rs:
            continue
        exits = [r.rss_at_exit_bytes for r in rs if r.rss_at_exit_bytes is not None]
        ratios = [r.wall_seconds / base_by_round[r.round] for r in rs
                  if base_by_round.get(r.round)]
        libs = [r.malloc_library for r in rs if r.malloc_library]
        out.append(AllocatorSummary(
            allocator=a.name, library=a.library, runs=len(rs), failures=sum(1 for r in rs if r.exit_code != 0),
            wall_seconds=med(r.wall_seconds for r in rs), user_seconds=med(r.user_seconds for r in rs),
            sys_seconds=med(r.sys_seconds for r in rs), peak_rss_bytes=int(med(r.peak_rss_bytes for r in rs)),
            rss_at_exit_bytes=int(med(exits)) if exits else None,
            minor_faults=int(med(r.minor_faults for r in rs)), major_faults=int(med(r.major_faults for r in rs)),
            wall_ratio=med(ratios) if ratios else None, malloc_library=libs[0] if libs else None,
            verified=bool(libs) and all(_verified(a, r.malloc_library) for r in rs)))
    return out


def compare(argv, allocators: list[str] | None = None, repeat: int = 3, *, timeout: float | None = None,
            output: bool = False, warmup: int = 0, progress=None) -> CompareResult:
    """Run ARGV under each present allocator REPEAT times, alternating allocators within each round."""
    argv = [str(a) for a in argv]
    if not argv:
        raise InvalidInput("no command given: memdive alloc compare [options] -- CMD [ARGS...]")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise InvalidInput(f"repeat must be at least 1, not {repeat!r}")
    if os.sep not in argv[0] and shutil.which(argv[0]) is None:
        raise InvalidInput(f"command not found: {argv[0]!r}")
    infos = _infos(allocators)
    present = [a for a in infos if a.present]
    missing = tuple(a for a in infos if not a.present)
    if not present:
        given = [a.library for a in missing if a.package == "(given path)"]
        packages = [a.package for a in missing if a.package != "(given path)"]
        raise MemdiveError("none of the asked allocators is installed",
                           hint="; ".join(([f"no such file: {', '.join(map(str, given))}"] if given else [])
                                          + ([f"apt-get install {' '.join(packages)}"] if packages else [])))
    try:
        from .. import native

        probe_lib: str | None = native.path("pool")
    except MemdiveError:
        probe_lib = None
    notes = []
    if probe_lib is None:
        notes.append("the exit probe (libmemdive_pool.so) is missing: RSS at exit and the malloc actually "
                     "used are not measured")
    baseline = "glibc" if any(a.name == "glibc" for a in present) else present[0].name
    for _ in range(warmup):
        for a in present:
            run_once(argv, a, -1, probe_lib=probe_lib, timeout=timeout, output=output)
    runs: list[AllocatorRun] = []
    for rnd in range(repeat):
        # Rotate the order each round so no allocator always runs first (cold caches) or last.
        order = present[rnd % len(present):] + present[:rnd % len(present)]
        for a in order:
            r = run_once(argv, a, rnd, probe_lib=probe_lib, timeout=timeout, output=output)
            runs.append(r)
            if progress:
                progress(r)
    sums = summarize(runs, present, baseline)
    for s in sums:
        if s.failures:
            codes = sorted({r.exit_code for r in runs if r.allocator == s.allocator and r.exit_code})
            notes.append(f"{s.allocator}: {s.failures} of {s.runs} runs failed (exit {', '.join(map(str, codes))})")
        if probe_lib and s.malloc_library is None:
            notes.append(f"{s.allocator}: the exit probe did not report (static or setuid binary ignoring "
                         f"LD_PRELOAD, or exit through _exit/abort/a signal): RSS at exit and the malloc used "
                         f"are unknown")
        elif probe_lib and not s.verified:
            notes.append(f"{s.allocator}: malloc came from {s.malloc_library}, not {s.library or 'libc'}: "
                         f"the program links its own allocator or the preload was overridden")
    return CompareResult(command=tuple(argv), repeat=repeat, baseline=baseline, summaries=tuple(sums),
                         missing=missing, runs=tuple(runs), notes=tuple(notes))


compare_allocators = compare   # the public name (memdive.alloc.compare is this module)
