"""Minor and major page faults: per process from /proc/PID/stat, system-wide from /proc/vmstat,
and for a command run to completion (its rusage at exit)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import InvalidInput, NoSuchProcess
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
    """Run argv, sample its faults every interval while it runs, and return its rusage at exit."""
    if not argv:
        raise InvalidInput("no command given (memdive faults -- CMD ARGS...)")
    r = resolve(root)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv)
    except OSError as exc:
        raise InvalidInput(f"cannot run {argv[0]}: {exc.strerror}") from None
    samples: list[FaultSample] = []
    last, prev = t0, (0, 0)
    try:
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(min(interval, 0.05) if time.monotonic() - last < interval else 0)
            now = time.monotonic()
            if now - last >= interval:
                try:
                    mi, ma = _counts(proc.pid, r)
                except NoSuchProcess:
                    continue
                s = FaultSample(time_seconds=now - t0, interval_seconds=now - last, pid=proc.pid, minflt=mi,
                                majflt=ma, minflt_per_second=(mi - prev[0]) / (now - last),
                                majflt_per_second=(ma - prev[1]) / (now - last))
                samples.append(s)
                if on_sample:
                    on_sample(s)
                last, prev = now, (mi, ma)
    except KeyboardInterrupt:
        proc.kill()
        os.wait4(proc.pid, 0)
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return CommandFaults(argv=list(argv), pid=proc.pid, returncode=proc.returncode,
                         wall_seconds=time.monotonic() - t0, minflt=ru.ru_minflt, majflt=ru.ru_majflt,
                         maxrss_bytes=ru.ru_maxrss * 1024, user_seconds=ru.ru_utime,
                         system_seconds=ru.ru_stime, samples=samples)
