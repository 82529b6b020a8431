"""The live sampler: every process's memory, cheaply, once per interval.

Every interval, for every process: /proc/PID/stat (RSS, faults, CPU ticks, start time) re-read through
a kept-open fd, plus VmSwap from /proc/PID/status while the machine has swap in use (with no swap slot
in use no process can have swapped pages, so the read is skipped). System: meminfo, vmstat, PSI.

PSS/USS need smaps_rollup, which walks the page tables (~40 µs per small process here, far more for
big ones; a full pass over 400 processes alone costs ~4% of a core at 1 Hz). So rollups are refreshed
only for processes seen for the first time, whose RSS or swap moved since their last rollup, or whose
figure is older than `pss_max_age` — in that order of priority, within a CPU budget: token buckets that
let rollups use `rollup_budget` (0.5%) of one core on average, whatever the sizes of the processes, with
the cheap rollups of small processes never held up by the expensive one of a big process.
Each process carries the age of its PSS figure.

RSS comes from stat's field 24, which Linux 6.2+ reads from per-CPU counters without summing them: it can
differ from status's VmRSS by up to a batch of pages per CPU per counter (a few hundred KiB on 2 CPUs).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Self

from ..errors import AccessDenied, KernelFeatureMissing, MemdiveError, NoSuchProcess, ParseError
from ..kernel import sysmm
from ..kernel.io import ROOT_HINT, list_pids
from ..kernel.root import KernelRoot, resolve
from ..kernel.sampling import PidFiles, fd_budget
from ..models.monitor import ProcSample, SamplerStats, Snapshot, StatLite, SystemSample

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# A rollup expected to cost more CPU seconds than this is "big": it is paid from its own budget.
BIG_ROLLUP = 0.002

# A kernel thread's PID is re-read only every this many samples (to notice its exit and a reuse of its PID).
KTHREAD_RECHECK = 10

# vmstat counters the recorder keeps and `top` shows rates of (the exporter exports every event counter).
VMSTAT_RECORDED_PREFIXES = ("thp_", "compact_")


def recorded_vmstat_keys(vm: dict[str, int]) -> list[str]:
    from ..overview import VMSTAT_KEYS

    keys = [k for g in VMSTAT_KEYS.values() for k in g if k in vm]
    seen = set(keys)
    keys += [k for k in vm if k.startswith(VMSTAT_RECORDED_PREFIXES) and k not in seen]
    return keys


class _Track:
    """What the sampler remembers of one process between intervals."""

    __slots__ = (
        "cgroup",
        "comm",
        "command",
        "cost",
        "cpu_ticks",
        "files",
        "kthread",
        "majflt",
        "minflt",
        "mono",
        "pss_note",
        "rollup",
        "rollup_mono",
        "rollup_rss",
        "rollup_swap",
        "start",
        "uid",
        "user",
    )

    def __init__(self, files: PidFiles, start: int):
        self.files = files
        self.start = start
        self.kthread = False
        self.comm = ""
        self.command = ""
        self.uid = 0
        self.user = ""
        self.cgroup: str | None = None
        self.minflt = 0
        self.majflt = 0
        self.cpu_ticks = 0
        self.mono = 0.0
        self.rollup: Any = None
        self.cost = 0.0                  # CPU seconds its last smaps_rollup read took
        self.rollup_mono = 0.0
        self.rollup_rss = -1
        self.rollup_swap = 0
        self.pss_note: str | None = None


@dataclass
class SamplerConfig:
    pids: list[int] | None = None      # only these processes (None: all)
    pss_max_age: float = 10.0          # refresh PSS at least this often (seconds)
    move_bytes: int = 256 << 10        # RSS/swap change that counts as "moved" (or move_fraction of RSS)
    move_fraction: float = 0.01
    rollup_budget: float = 0.005       # share of one core that PSS refreshes may use, on average
    interval: float = 1.0              # expected interval (sizes the rollup budget)
    with_cgroup: bool = False
    extras: bool = False               # also buddyinfo and NUMA nodes (the exporter)
    read_status: str = "auto"          # "auto": only while swap is in use; "always"; "never"


class Sampler:
    """`Sampler(root).sample()` → Snapshot. Not thread-safe: one thread samples, others read snapshots."""

    def __init__(self, root: KernelRoot | None = None, config: SamplerConfig | None = None, **kw):
        self.root = resolve(root)
        self.config = config or SamplerConfig(**kw)
        self._tracks: dict[int, _Track] = {}
        self._prev_vm: dict[str, int] | None = None
        self._prev_mono: float | None = None
        self._fd_budget = fd_budget()
        self._fds_open = 0
        self._first = True
        self._psi_note: str | None = None
        self._ticks = 0
        self._tokens_big = 0.0
        self._tokens = 0.0               # CPU seconds the PSS refreshes may still spend (a token bucket)
        self.last: Snapshot | None = None

    # --- system ------------------------------------------------------------------------------------

    def _system(self, mono: float, dt: float | None) -> SystemSample:
        r = self.root
        mi = sysmm.read_meminfo(r)
        vm = sysmm.read_vmstat(r)
        rates = None
        if self._prev_vm is not None and dt:
            pv = self._prev_vm
            rates = {k: (v - pv[k]) / dt for k, v in vm.items() if k in pv}
        self._prev_vm = vm
        psi = None
        if self._psi_note is None:
            try:
                psi = sysmm.read_pressure(r)
            except (KernelFeatureMissing, AccessDenied) as e:
                self._psi_note = e.one_line()
            except MemdiveError as e:
                self._psi_note = str(e)
        return SystemSample(meminfo=dict(mi.values), vmstat=vm, vmstat_rates=rates, pressure=psi,
                            pressure_unavailable=self._psi_note)

    # --- processes ---------------------------------------------------------------------------------

    def _files(self, pid: int) -> PidFiles:
        cached = self._fds_open + 3 <= self._fd_budget
        if cached:
            self._fds_open += 3          # an estimate until the count is taken at the end of the sample
        return PidFiles(pid, self.root, cached=cached)

    def _forget(self, pid: int) -> None:
        t = self._tracks.pop(pid, None)
        if t is not None:
            t.files.close()

    def _due(self, t: _Track, rss: int, swap: int, mono: float) -> tuple[int, float] | None:
        """(priority, order) if this process's PSS should be refreshed, else None. Lower sorts first."""
        if t.rollup is None:
            return (0, 0.0) if t.pss_note is None else ((2, -(mono - t.rollup_mono))
                                                        if mono - t.rollup_mono >= self.config.pss_max_age
                                                        else None)
        moved = abs(rss - t.rollup_rss) + abs(swap - t.rollup_swap)
        c = self.config
        if moved >= max(c.move_bytes, c.move_fraction * t.rollup_rss):
            return (1, -float(moved))
        age = mono - t.rollup_mono
        if age >= c.pss_max_age:
            return (2, -age)
        return None

    def sample(self) -> Snapshot:
        cpu0 = time.thread_time()
        mono = time.monotonic()
        wall = time.time()
        dt = (mono - self._prev_mono) if self._prev_mono is not None else None
        system = self._system(mono, dt)
        want_status = {"always": True, "never": False}.get(self.config.read_status,
                                                          system.swap_used_bytes > 0)
        pids = self.config.pids if self.config.pids is not None else list_pids(self.root.proc)
        live = set(pids)
        for pid in [p for p in self._tracks if p not in live]:
            self._forget(pid)

        vanished = 0
        rows: list[tuple[_Track, StatLite, int, int]] = []
        recheck = self._ticks % KTHREAD_RECHECK == 0
        self._ticks += 1
        for pid in pids:
            t = self._tracks.get(pid)
            if t is not None and t.kthread and not recheck:
                continue        # kernel threads have no memory: their PID is re-checked every few samples
            try:
                if t is None:
                    files = self._files(pid)
                    st = files.stat()
                    t = self._new_track_with(files, pid, st)
                else:
                    try:
                        st = t.files.stat()
                    except NoSuchProcess:
                        # The fd pinned the old process: it exited. If the PID was reused, start afresh.
                        self._forget(pid)
                        files = self._files(pid)
                        st = files.stat()
                        t = self._new_track_with(files, pid, st)
                    if st.starttime_ticks != t.start:
                        self._forget(pid)
                        files = self._files(pid)
                        t = self._new_track_with(files, pid, st)
                if t.kthread:
                    continue
                swap = 0
                if want_status and st.state not in ("Z", "X"):
                    swap = t.files.swap_bytes()
                rows.append((t, st, st.rss_pages * PAGE_SIZE, swap))
            except NoSuchProcess:
                vanished += 1
                self._forget(pid)
            except AccessDenied:
                # stat is world-readable; a refusal here is a hardened /proc (hidepid): skip it.
                self._forget(pid)
            except ParseError:
                self._forget(pid)

        # PSS refreshes, most needed first.
        due = []
        for i, (t, st, rss, swap) in enumerate(rows):
            if st.state in ("Z", "X"):
                continue
            d = self._due(t, rss, swap, mono)
            if d is not None:
                due.append((d, i))
        due.sort()
        # Two token buckets bound the average CPU of rollups to `rollup_budget` of a core, whatever the sizes
        # of the processes (a rollup walks page tables: ~40 us for a small process, ~100 ms for 8 GiB).
        # Half the budget serves cheap rollups (expected under BIG_ROLLUP seconds), in priority order while
        # credit lasts; the other half serves expensive ones, which may overdraw it (else a big process
        # would never be refreshed) and then wait until the debt is repaid — without holding up the cheap
        # ones. Credit is capped at three intervals' worth (bounded bursts). The first sample is not
        # limited, so the first snapshot is complete.
        half = self.config.rollup_budget / 2
        limited = not self._first
        if limited:
            accrue = half * (dt if dt else self.config.interval)
            cap = half * self.config.interval * 3
            self._tokens = min(self._tokens + accrue, cap)
            self._tokens_big = min(self._tokens_big + accrue, cap)
        rollups = pending = 0
        denied = 0
        for _, i in due:
            t, st, rss, swap = rows[i]
            big = False
            if limited:
                big = (t.cost if t.cost else 20e-6 + rss * 1.2e-11) > BIG_ROLLUP
                if (self._tokens_big if big else self._tokens) <= 0:
                    pending += 1
                    continue
            c0 = time.thread_time()
            try:
                ru = t.files.rollup()
                rollups += 1
            except NoSuchProcess:
                continue
            except AccessDenied:
                t.pss_note = "permission denied"
                t.rollup_mono = mono
                t.files.forget("smaps_rollup")
                continue
            except ParseError as e:
                t.pss_note = str(e)
                t.rollup_mono = mono
                continue
            finally:
                t.cost = time.thread_time() - c0
                if big:
                    self._tokens_big -= t.cost
                elif limited:
                    self._tokens -= t.cost
            if ru is None:
                continue
            t.rollup = ru
            t.rollup_mono = mono
            t.rollup_rss = rss
            t.rollup_swap = swap
            t.pss_note = None

        procs = []
        for t, st, rss, swap in rows:
            if t.pss_note is not None and t.rollup is None:
                denied += 1
            cpu = st.utime_ticks + st.stime_ticks
            fps: float | None
            mfps: float | None
            cpup: float | None
            if t.mono and dt:
                span = mono - t.mono
                fps = ((st.minflt - t.minflt) + (st.majflt - t.majflt)) / span
                mfps = (st.majflt - t.majflt) / span
                cpup = 100.0 * (cpu - t.cpu_ticks) / CLK_TCK / span
            else:
                fps = mfps = cpup = None
            t.minflt, t.majflt, t.cpu_ticks, t.mono = st.minflt, st.majflt, cpu, mono
            ru = t.rollup
            procs.append(ProcSample(
                pid=st.pid, start_ticks=t.start, comm=st.comm, command=t.command, uid=t.uid, user=t.user,
                cgroup=t.cgroup, state=st.state, rss_bytes=rss, swap_bytes=swap, minflt=st.minflt,
                majflt=st.majflt, faults_per_second=fps, major_faults_per_second=mfps, cpu_percent=cpup,
                pss_bytes=ru.pss_bytes if ru is not None else None,
                uss_bytes=ru.uss_bytes if ru is not None else None,
                swap_pss_bytes=ru.swap_pss_bytes if ru is not None else None,
                pss_anon_bytes=ru.pss_anon_bytes if ru is not None else None,
                pss_file_bytes=ru.pss_file_bytes if ru is not None else None,
                pss_shmem_bytes=ru.pss_shmem_bytes if ru is not None else None,
                pss_age_seconds=(mono - t.rollup_mono) if ru is not None else None,
                pss_note=t.pss_note,
            ))

        buddy: tuple = ()
        numa: tuple = ()
        notes: list[str] = []
        if self.config.extras:
            buddy, numa, notes = self._extras()
        self._first = False
        self._prev_mono = mono
        self._fds_open = sum(t.files.open_fds for t in self._tracks.values())
        stats = SamplerStats(cpu_seconds=time.thread_time() - cpu0, wall_seconds=time.monotonic() - mono,
                             processes_read=len(rows), rollups=rollups, rollups_pending=pending,
                             status_read=want_status, open_fds=self._fds_open)
        hint = None
        if denied:
            why = ROOT_HINT if os.geteuid() != 0 else \
                "the kernel refused even root (ptrace access checks: LSM, Yama, or a process of another container)"
            hint = f"{denied} process(es) without PSS/USS: {why}"
        snap = Snapshot(time=wall, monotonic=mono, interval_seconds=dt, system=system, processes=tuple(procs),
                        denied=denied, vanished=vanished, hint=hint, stats=stats, buddy=buddy, numa=numa,
                        notes=tuple(notes))
        self.last = snap
        return snap

    def _new_track_with(self, files: PidFiles, pid: int, st) -> _Track:
        t = self._new_track_files(files, pid, st)
        self._tracks[pid] = t
        return t

    def _new_track_files(self, files: PidFiles, pid: int, st) -> _Track:
        from ..kernel import procfs
        from ..ps import user_name

        t = _Track(files, st.starttime_ticks)
        t.kthread = st.is_kernel_thread
        t.comm = st.comm
        t.command = f"[{st.comm}]"
        t.uid = 0
        t.user = ""
        t.cgroup = None
        t.minflt, t.majflt, t.cpu_ticks, t.mono = st.minflt, st.majflt, st.utime_ticks + st.stime_ticks, 0.0
        if t.kthread:
            # Keep only the stat fd: a kernel thread is skipped, but its PID may be reused.
            return t
        r = self.root
        try:
            args = procfs.read_cmdline(pid, r)
        except (AccessDenied, NoSuchProcess):
            args = []
        if args and any(args):
            t.command = " ".join(args)
        t.uid = procfs.pid_uid(pid, r)
        t.user = user_name(t.uid)
        if self.config.with_cgroup:
            try:
                t.cgroup = procfs.read_cgroup(pid, r)
            except (AccessDenied, NoSuchProcess):
                t.cgroup = None
        return t

    def _extras(self) -> tuple[tuple, tuple, list[str]]:
        from ..kernel.buddy import read_buddyinfo
        from ..kernel.numa import read_nodes

        notes: list[str] = []
        buddy: tuple = ()
        numa: tuple = ()
        try:
            buddy = tuple(read_buddyinfo(self.root))
        except MemdiveError as e:
            notes.append(f"buddyinfo: {e.one_line()}")
        try:
            numa = tuple(read_nodes(self.root))
        except MemdiveError as e:
            notes.append(f"numa: {e.one_line()}")
        return buddy, numa, notes

    def close(self) -> None:
        for pid in list(self._tracks):
            self._forget(pid)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_every(sampler: Sampler, interval: float, stop, on_snapshot) -> None:
    """Sample every `interval` seconds (on a fixed schedule, not drifting) until `stop` (an Event) is set."""
    nxt = time.monotonic()
    while not stop.is_set():
        try:
            snap = sampler.sample()
        except MemdiveError as e:
            on_snapshot(None, e)
        except Exception as e:  # noqa: BLE001 - the exporter's sampler must outlive a bug in one sample
            on_snapshot(None, MemdiveError(f"sampling failed: {type(e).__name__}: {e}"))
        else:
            on_snapshot(snap, None)
        nxt += interval
        now = time.monotonic()
        if nxt < now:                       # fell behind (suspend, overload): skip, don't burst
            nxt = now + interval - ((now - nxt) % interval)
        stop.wait(max(0.0, nxt - now))
