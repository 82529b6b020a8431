"""Minor and major page faults: per process from /proc/PID/stat, system-wide from /proc/vmstat,
and for a command run to completion (its rusage at exit)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import InvalidInput, MemdiveError, NoSuchProcess
from ..kernel import procfs, sysmm
from ..kernel.root import KernelRoot, resolve
from ..models.pages import FaultSample


def _counts(pid: int | None, root: KernelRoot) -> tuple[int, int]:
    if pid is None:
        v = sysmm.read_vmstat(root)
        return v.get("pgfault", 0), v.get("pgmajfault", 0)
    st = procfs.read_stat(pid, root)
    return st.minflt, st.majflt


def sample(pids: list[int | None], *, interval: float = 1.0, duration: float | None = None,
           count: int | None = None, root: KernelRoot | None = None) -> Iterator[list[FaultSample]]:
    """Yield, every interval, one FaultSample per pid (None = system-wide). A process that exits
    is dropped from later samples; when all have exited, the iteration ends."""
    r = resolve(root)
    prev = {p: _counts(p, r) for p in pids}
    t0 = last = time.monotonic()
    n = 0
    while prev:
        time.sleep(max(0.0, last + interval - time.monotonic()))
        now = time.monotonic()
        dt = now - last
        out = []
        for p in list(prev):
            try:
                mi, ma = _counts(p, r)
            except NoSuchProcess:
                del prev[p]
                continue
            pmi, pma = prev[p]
            out.append(FaultSample(time_seconds=now - t0, interval_seconds=dt, pid=p, minflt=mi, majflt=ma,
                                   minflt_per_second=(mi - pmi) / dt, majflt_per_second=(ma - pma) / dt))
            prev[p] = (mi, ma)
        last = now
        n += 1
        if out:
            yield out
        if (count is not None and n >= count) or (duration is not None and now - t0 >= duration - 1e-3):
            return


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandFaults:
    argv: list[str]
    pid: int
    returncode: int
    wall_seconds: float
    minflt: int                     # rusage of the command at exit (incl. its waited-for children)
    majflt: int
    maxrss_bytes: int
    user_seconds: float
    system_seconds: float
    samples: list[FaultSample] = field(default_factory=list)


def run_command(argv: list[str], *, interval: float = 1.0,
                on_sample: Callable[[FaultSample], None] | None = None,
                root: KernelRoot | None = None) -> CommandFaults:
    """Run argv, sample its faults every interval while it runs, and return its rusage at exit.

    The command is started by the C core's memdive-launch (native/launch/launch.c), as /usr/bin/time
    starts it: forked from this Python process instead, its peak RSS would start at memdive's own (the
    kernel keeps the peak across exec), and `maxrss_bytes` would never show less."""
    if not argv:
        raise InvalidInput("no command given (memdive faults -- CMD ARGS...)")
    from .. import native

    launcher = native.program("memdive-launch")
    r = resolve(root)
    rfd, wfd = os.pipe()
    t0 = time.monotonic()
    try:
        launch = subprocess.Popen([launcher, str(wfd), *argv], pass_fds=(wfd,))
    except OSError as exc:           # a noexec mount, say: the command itself is checked by the launcher
        os.close(rfd)
        raise MemdiveError(f"cannot start {launcher}: {exc.strerror}", path=launcher) from None
    finally:
        os.close(wfd)
    lines: dict[str, list[int]] = {}    # "pid N", "exec-error ERRNO", "exit STATUS maxrss KB minflt N ..."
    pending = b""

    def take(wait: float | None) -> bool:
        """Read the launcher's lines that arrive within `wait` seconds (None: until it closes the pipe);
        False once it has."""
        nonlocal pending
        if not select.select([rfd], [], [], wait)[0]:
            return True
        data = os.read(rfd, 4096)
        pending += data
        while b"\n" in pending:
            ln, pending = pending.split(b"\n", 1)
            w = ln.decode().split()
            lines[w[0]] = [int(w[1])] + [int(x) for x in w[3::2]]
        return bool(data)

    samples: list[FaultSample] = []
    pid = launch.pid
    try:
        while "pid" not in lines and "exit" not in lines and take(None):
            pass
        pid = lines["pid"][0] if "pid" in lines else pid
        last, prev = t0, (0, 0)
        # until the command ends (its "exit" line wakes this at once), a sample every interval
        while "exit" not in lines and take(max(0.0, last + interval - time.monotonic())):
            now = time.monotonic()
            if now - last < interval or "exit" in lines:
                continue
            try:
                mi, ma = _counts(pid, r)
            except NoSuchProcess:
                continue
            s = FaultSample(time_seconds=now - t0, interval_seconds=now - last, pid=pid, minflt=mi,
                            majflt=ma, minflt_per_second=(mi - prev[0]) / (now - last),
                            majflt_per_second=(ma - prev[1]) / (now - last))
            samples.append(s)
            if on_sample:
                on_sample(s)
            last, prev = now, (mi, ma)
        wall = time.monotonic() - t0
        while take(None):                  # to the end of the pipe: the launcher has exited
            pass
    except KeyboardInterrupt:
        launch.terminate()                 # the launcher passes it on to the command, reaps it, and exits
        raise
    finally:
        os.close(rfd)
        launch.wait()
    if "exec-error" in lines:
        raise InvalidInput(f"cannot run {argv[0]}: {os.strerror(lines['exec-error'][0])}")
    if "exit" not in lines:
        raise MemdiveError(f"memdive-launch ended without a report (exit status {launch.returncode})")
    status, maxrss_kb, minflt, majflt, utime_us, stime_us = lines["exit"]
    return CommandFaults(argv=list(argv), pid=pid, returncode=os.waitstatus_to_exitcode(status),
                         wall_seconds=wall, minflt=minflt, majflt=majflt,
                         maxrss_bytes=maxrss_kb * 1024, user_seconds=utime_us / 1e6,
                         system_seconds=stime_us / 1e6, samples=samples)