"""The sampler on real processes with known allocations, checked against the kernel's own numbers."""

from __future__ import annotations

import os
import time

from memdive.kernel import procfs
from memdive.monitor.sampler import Sampler, SamplerConfig

MiB = 1 << 20


def _vmrss(pid: int) -> int:
    return procfs.read_status(pid).vm["VmRSS"]


def test_rss_pss_uss_match_the_kernel(cbuild, spawn):
    child = spawn([cbuild("monitor_child"), "64"])
    with Sampler(None, SamplerConfig(pids=[child.pid])) as s:
        snap = s.sample()
        ru = procfs.read_smaps_rollup(child.pid)
    (p,) = snap.processes
    assert p.pid == child.pid
    # stat's RSS comes from per-CPU counters read without summing (Linux 6.2+): it may differ from
    # status's summed VmRSS by up to a batch of pages per CPU per counter (anon, file, shmem).
    assert abs(p.rss_bytes - _vmrss(child.pid)) <= (os.cpu_count() or 1) * 3 * 64 * 4096
    assert p.rss_bytes >= 64 * MiB
    assert abs(p.pss_bytes - ru.pss_bytes) <= 64 << 10
    assert abs(p.uss_bytes - ru.uss_bytes) <= 64 << 10
    assert p.uss_bytes >= 64 * MiB
    assert p.pss_age_seconds is not None and p.pss_age_seconds < 1.0


def test_pss_refreshed_when_memory_moves_and_faults_per_second(cbuild, spawn):
    a = spawn([cbuild("monitor_child"), "16"])
    b = spawn([cbuild("monitor_child"), "16"])
    with Sampler(None, SamplerConfig(pids=[a.pid, b.pid], pss_max_age=3600, interval=1.0)) as s:
        first = {p.pid: p for p in s.sample().processes}
        time.sleep(0.2)
        quiet = {p.pid: p for p in s.sample().processes}
        assert s.last.stats.rollups == 0                        # nothing moved, nothing old
        assert quiet[a.pid].pss_age_seconds >= 0.2
        reply = a.send("grow 32")
        assert reply.startswith("ok")
        t0 = time.monotonic()
        snap = s.sample()
        dt = snap.interval_seconds
        moved = {p.pid: p for p in snap.processes}
        assert snap.stats.rollups == 1                          # only the process that grew
        assert moved[a.pid].pss_age_seconds < 0.05
        assert moved[a.pid].pss_bytes - first[a.pid].pss_bytes >= 31 * MiB
        assert moved[b.pid].pss_age_seconds >= 0.2             # the quiet one kept its (older) figure
        # 32 MiB touched one write per 4 KiB page: at least 8192 minor faults in this interval
        faults = moved[a.pid].minflt - quiet[a.pid].minflt
        assert faults >= 8192
        assert abs(moved[a.pid].faults_per_second - faults / dt) <= faults / dt * 0.05 + 1
        assert time.monotonic() - t0 < 5


def test_old_pss_figures_are_refreshed(cbuild, spawn):
    a = spawn([cbuild("monitor_child"), "4"])
    with Sampler(None, SamplerConfig(pids=[a.pid], pss_max_age=0.3)) as s:
        s.sample()
        time.sleep(0.1)
        assert s.sample().stats.rollups == 0
        time.sleep(0.3)
        snap = s.sample()
        assert snap.stats.rollups == 1 and snap.processes[0].pss_age_seconds < 0.05


def test_exited_processes_leave_and_their_files_are_closed(cbuild, spawn):
    kids = [spawn([cbuild("monitor_child"), "1"]) for _ in range(3)]
    with Sampler() as s:
        snap = s.sample()
        pids = {p.pid for p in snap.processes}
        assert {k.pid for k in kids} <= pids
        assert all(_held(k.pid) for k in kids)                 # their stat files are kept open
        for k in kids:
            k.stop()
        snap = s.sample()
        assert not {k.pid for k in kids} & {p.pid for p in snap.processes}
        assert not any(_held(k.pid) for k in kids)             # and closed once they exited


def _held(pid: int) -> bool:
    """Does this test process hold a file of /proc/PID open?"""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(f"/proc/{pid}/"):
                return True
        except OSError:
            pass
    return False


def test_two_samples_cover_what_ps_sees(cbuild, spawn):
    from memdive.ps import scan

    kids = [spawn([cbuild("monitor_child"), "2"]) for _ in range(3)]
    with Sampler() as s:
        mine1 = {p.pid for p in s.sample().processes}
        theirs = {p.pid for p in scan().processes}
        mine2 = {p.pid for p in s.sample().processes}
    assert {k.pid for k in kids} <= mine1 & mine2
    assert 2 not in mine1                                       # kthreadd: kernel threads are left out
    # a process ps saw but neither sample did must have started and exited in between
    for pid in theirs - (mine1 | mine2):
        assert not os.path.exists(f"/proc/{pid}"), pid


def test_all_processes_sampled_like_ps(cbuild, spawn):
    from memdive.ps import scan

    child = spawn([cbuild("monitor_child"), "8"])
    with Sampler() as s:
        snap = s.sample()
    mine = {p.pid for p in snap.processes}
    theirs = {p.pid for p in scan().processes}
    assert child.pid in mine
    # The same set of processes, give or take those that started in between, and those ps leaves out:
    # processes it may not read (the sampler still shows their RSS from stat), zombies, exited ones.
    from memdive.errors import AccessDenied, NoSuchProcess
    from memdive.kernel import procfs

    for pid in mine - theirs:
        try:
            assert procfs.read_smaps_rollup(pid) is None, f"{pid} is readable but ps left it out"
        except (AccessDenied, NoSuchProcess):
            pass
    assert len(theirs - mine) <= max(5, len(theirs) // 10)
