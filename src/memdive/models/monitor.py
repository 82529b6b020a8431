"""Records of the live sampler (memdive top / record / exporter): one Snapshot per interval.

StatLite and ProcSample are built for every process every interval: they are immutable named tuples
(as memdive.models.process does), about 5x cheaper to build than frozen dataclasses. Snapshot and the
rest are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .system import Pressure


class StatLite(NamedTuple):
    """The fields of /proc/PID/stat read every interval (proc(5) field numbers in comments)."""

    pid: int
    comm: str
    state: str             # (3)
    ppid: int              # (4)
    flags: int             # (9) PF_KTHREAD = 0x00200000
    minflt: int            # (10)
    majflt: int            # (12)
    utime_ticks: int       # (14)
    stime_ticks: int       # (15)
    starttime_ticks: int   # (22) with the pid, the identity of a process
    rss_pages: int         # (24)

    @property
    def is_kernel_thread(self) -> bool:
        return bool(self.flags & 0x00200000)


class ProcSample(NamedTuple):
    """One process in one snapshot.

    rss_bytes, swap_bytes and the fault counters are read fresh every interval (stat, status).
    PSS/USS come from smaps_rollup, refreshed only when the process's memory moved or the figure grew
    old; `pss_age_seconds` says how old they are (None: not measured yet, or not readable).
    """

    pid: int
    start_ticks: int
    comm: str
    command: str                 # cmdline joined by spaces, or "[comm]"
    uid: int
    user: str
    cgroup: str | None
    state: str
    rss_bytes: int
    swap_bytes: int
    minflt: int                  # cumulative since the process started
    majflt: int
    faults_per_second: float | None        # minor + major, over the last interval (None: first sight)
    major_faults_per_second: float | None
    cpu_percent: float | None              # of one core, over the last interval
    pss_bytes: int | None = None
    uss_bytes: int | None = None
    swap_pss_bytes: int | None = None
    pss_anon_bytes: int | None = None
    pss_file_bytes: int | None = None
    pss_shmem_bytes: int | None = None
    pss_age_seconds: float | None = None
    pss_note: str | None = None            # why PSS is missing (e.g. "permission denied")


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemSample:
    """System memory at one instant. `meminfo` holds every /proc/meminfo line (bytes; counts for HugePages_*),
    `vmstat` every /proc/vmstat counter, `vmstat_rates` per second over the last interval."""

    meminfo: dict[str, int]
    vmstat: dict[str, int]
    vmstat_rates: dict[str, float] | None
    pressure: Pressure | None
    pressure_unavailable: str | None = None

    def mem(self, key: str) -> int:
        return self.meminfo.get(key, 0)

    @property
    def total_bytes(self) -> int:
        return self.mem("MemTotal")

    @property
    def available_bytes(self) -> int:
        return self.meminfo.get("MemAvailable", self.mem("MemFree"))

    @property
    def cached_bytes(self) -> int:
        return self.mem("Cached") + self.mem("SReclaimable")

    @property
    def used_bytes(self) -> int:
        return max(0, self.total_bytes - self.mem("MemFree") - self.mem("Buffers") - self.cached_bytes)

    @property
    def swap_used_bytes(self) -> int:
        return max(0, self.mem("SwapTotal") - self.mem("SwapFree"))


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplerStats:
    """What one sample cost and did."""

    cpu_seconds: float           # CPU time of the sampling thread for this sample
    wall_seconds: float
    processes_read: int
    rollups: int                 # smaps_rollup reads this interval
    rollups_pending: int         # processes due a PSS refresh that the time budget left for later
    status_read: bool            # per-process swap read from status (only when swap is in use)
    open_fds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    time: float                  # wall clock, Unix seconds
    monotonic: float
    interval_seconds: float | None     # since the previous snapshot (None for the first)
    system: SystemSample
    processes: tuple[ProcSample, ...]
    denied: int = 0              # processes whose smaps_rollup could not be read (PSS missing)
    vanished: int = 0
    hint: str | None = None
    stats: SamplerStats | None = None
    buddy: tuple = ()            # memdive.models.hugepages.BuddyZone, when the sampler reads extras
    numa: tuple = ()             # memdive.models.numa.Node, when the sampler reads extras
    notes: tuple[str, ...] = field(default_factory=tuple)   # extras that could not be read, and why
