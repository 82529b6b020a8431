"""memdive.Process: one process, read through the kernel layer, with its start time pinned.

Each method reads its /proc file once per call; `snapshot()` reads smaps, stat and status once
and hands them to every analysis that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput, NoSuchProcess, ZombieProcess
from .kernel import procfs
from .kernel.root import KernelRoot, resolve
from .models.process import Mapping, Rollup, Stat, Status


@dataclass(frozen=True, slots=True)
class ProcessSnapshot:
    pid: int
    stat: Stat
    status: Status
    mappings: list[Mapping]
    cmdline: list[str]
    exe: str | None


class Process:
    """A process by PID. Raises NoSuchProcess at once if it does not exist.

    The start time read at construction pins the process: `is_running()` is False, and every
    later read raises NoSuchProcess, once the PID has been reused by another process.
    """

    def __init__(self, pid: int, root: KernelRoot | None = None):
        self.pid = int(pid)
        self.root = resolve(root)
        self._start = procfs.read_stat(self.pid, self.root).starttime_ticks

    def __repr__(self) -> str:
        return f"memdive.Process(pid={self.pid})"

    def _check(self) -> None:
        st = procfs.read_stat(self.pid, self.root)   # NoSuchProcess if it is gone
        if st.starttime_ticks != self._start:
            raise NoSuchProcess(f"process {self.pid} exited and its PID was reused", pid=self.pid)

    def is_running(self) -> bool:
        try:
            self._check()
            return True
        except NoSuchProcess:
            return False

    def maps(self) -> list[Mapping]:
        """Every mapping with its smaps counters."""
        out = procfs.read_smaps(self.pid, self.root)
        self._check()
        return out

    def rollup(self) -> Rollup:
        r = procfs.read_smaps_rollup(self.pid, self.root)
        if r is None:
            return Rollup(pid=self.pid, rss_bytes=0, source="none (kernel thread)")
        return r

    def status(self) -> Status:
        return procfs.read_status(self.pid, self.root)

    def stat(self) -> Stat:
        return procfs.read_stat(self.pid, self.root)

    def cmdline(self) -> list[str]:
        return procfs.read_cmdline(self.pid, self.root)

    def exe(self) -> str | None:
        return procfs.read_exe(self.pid, self.root)

    def snapshot(self) -> ProcessSnapshot:
        mappings = procfs.read_smaps(self.pid, self.root)
        stat = procfs.read_stat(self.pid, self.root)
        if stat.starttime_ticks != self._start:
            raise NoSuchProcess(f"process {self.pid} exited and its PID was reused", pid=self.pid)
        return ProcessSnapshot(self.pid, stat, procfs.read_status(self.pid, self.root), mappings,
                               procfs.read_cmdline(self.pid, self.root), self.exe())

    def layout(self):
        """The seed's print_memory_layout for this process (memdive.maps.Layout)."""
        from .maps import layout

        snap = self.snapshot()
        return layout(snap.mappings, snap.stat)

    def summary(self):
        """maps summaries: by kind, by file, r/w/x totals, USS/PSS (memdive.maps.MapsSummary)."""
        from .maps import summarize

        return summarize(self.maps(), exe=self.exe())


def require_address_space(pid: int, has_mappings: bool, root: KernelRoot | None = None, what: str = "",
                          stat: Stat | None = None) -> None:
    """For a view of a process's memory: its maps read empty means it has none to show. A zombie raises
    ZombieProcess (exit 1, as for smaps); a kernel thread is the wrong kind of PID for the command
    (InvalidInput: never an empty table or zeros); a process gone meanwhile raises NoSuchProcess.
    `stat`: the process's stat when the caller has already read it (not read again)."""
    if has_mappings:
        return
    st = stat if stat is not None else procfs.read_stat(pid, resolve(root))   # NoSuchProcess if gone
    if st.state in ("Z", "X"):
        raise ZombieProcess(f"process {pid} is a zombie: it has no address space left", pid=pid)
    if st.is_kernel_thread:
        raise InvalidInput(f"process {pid} has no user address space (a kernel thread){what}", pid=pid)
    raise NoSuchProcess(f"process {pid} is exiting: its address space is gone", pid=pid)
