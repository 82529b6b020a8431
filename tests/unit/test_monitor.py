"""The sampler's parsers on captured bytes and the sampler on a fixture /proc (no processes)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from memdive.errors import ParseError
from memdive.kernel.root import KernelRoot
from memdive.kernel.sampling import parse_stat_lite, parse_status_swap
from memdive.monitor.sampler import Sampler, SamplerConfig

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "monitor-basic"
STAT = (b"4243 (my (odd) name) S 1 11173 1084 0 -1 4194304 5000 0 7 0 120 30 0 0 20 0 1 0 900000 2580480 1000 "
        b"18446744073709551615 0 0 0 0 0 0 0 6 0 1 0 0 17 1 0 0 0 0 0\n")


def test_parse_stat_lite_fields_and_comm_with_parentheses():
    st = parse_stat_lite(STAT)
    assert (st.pid, st.comm, st.state, st.ppid) == (4243, "my (odd) name", "S", 1)
    assert (st.minflt, st.majflt, st.utime_ticks, st.stime_ticks) == (5000, 7, 120, 30)
    assert st.starttime_ticks == 900000 and st.rss_pages == 1000
    assert not st.is_kernel_thread
    kt = parse_stat_lite((FIX / "proc/2/stat").read_bytes())
    assert kt.is_kernel_thread and kt.comm == "kthreadd"


@pytest.mark.parametrize("data", [b"", b"12 noparen S 1", STAT[:60], b"12 (x) S 1 " + b"x " * 30])
def test_parse_stat_lite_rejects_garbage(data):
    with pytest.raises(ParseError):
        parse_stat_lite(data, "/proc/12/stat")


def test_parse_status_swap():
    assert parse_status_swap((FIX / "proc/4243/status").read_bytes()) == 12288 * 1024
    assert parse_status_swap(b"Name:\tkthreadd\nState:\tS\n") == 0          # kernel threads have no VmSwap
    with pytest.raises(ParseError):
        parse_status_swap(b"Name:\tx\nVmSwap:\tlots kB\n")


def test_sampler_on_fixture_tree_skips_kernel_threads_and_reads_swap_when_swap_is_used():
    root = KernelRoot.at(str(FIX))
    with Sampler(root, SamplerConfig()) as s:
        snap = s.sample()
        assert snap.system.swap_used_bytes == 256 << 20
        assert snap.stats.status_read                  # swap in use: VmSwap read per process
        procs = {p.pid: p for p in snap.processes}
        assert set(procs) == {4242, 4243}              # pid 2 is a kernel thread
        p = procs[4243]
        assert p.swap_bytes == 12288 * 1024
        assert p.rss_bytes == 1000 * 4096
        assert p.command == "server --port 8080"
        assert p.comm == "my (odd) name"
        assert (p.minflt, p.majflt) == (5000, 7)
        assert p.pss_bytes == 205 * 1024 and p.uss_bytes is not None    # from the fixture's smaps_rollup
        assert p.pss_age_seconds is not None and p.pss_age_seconds < 1
        assert p.faults_per_second is None             # needs two samples
        snap2 = s.sample()
        q = {p.pid: p for p in snap2.processes}[4243]
        assert q.faults_per_second == 0.0
        assert snap2.stats.rollups == 0                # nothing moved and nothing is old yet
        assert snap2.system.vmstat_rates is not None and snap2.system.vmstat_rates["pgfault"] == 0.0


def test_sampler_refreshes_old_pss_figures():
    root = KernelRoot.at(str(FIX))
    with Sampler(root, SamplerConfig(pss_max_age=0.0, rollup_budget=1.0)) as s:
        s.sample()
        assert s.sample().stats.rollups == 2


def test_sampler_without_swap_skips_status(tmp_path):
    import shutil

    shutil.copytree(FIX, tmp_path / "t")
    mi = tmp_path / "t/proc/meminfo"
    mi.write_text(mi.read_text().replace("786432 kB", "1048576 kB"))      # swap configured, none used
    with Sampler(KernelRoot.at(str(tmp_path / "t"))) as s:
        snap = s.sample()
    assert not snap.stats.status_read
    assert all(p.swap_bytes == 0 for p in snap.processes)


def test_rollup_budget_defers_refreshes_that_cannot_be_afforded():
    with Sampler(KernelRoot.at(str(FIX)), SamplerConfig(pss_max_age=0.0, rollup_budget=1e-9)) as s:
        assert s.sample().stats.rollups == 2            # the first sample is complete
        snap = s.sample()
        # a sliver of credit: one rollup may overdraw it, the other waits
        assert snap.stats.rollups == 1 and snap.stats.rollups_pending == 1
        snap = s.sample()
        assert snap.stats.rollups == 0 and snap.stats.rollups_pending == 2     # repaying the debt
    assert all(p.pss_bytes is not None for p in snap.processes)       # the older figures stay


def test_an_expensive_rollup_does_not_hold_up_cheap_ones():
    with Sampler(KernelRoot.at(str(FIX)), SamplerConfig(pss_max_age=0.0, rollup_budget=0.02)) as s:
        s.sample()
        for _ in range(3):
            s._tracks[4242].cost = 1.0               # as if 4242 were a 20 GiB process: 1 s per rollup
            s._tokens_big = -1.0                     # ... whose last rollup left its bucket in debt
            time.sleep(0.05)
            snap = s.sample()
            # the big one waits for the debt to be repaid; the small one is still refreshed every time
            assert snap.stats.rollups == 1 and snap.stats.rollups_pending == 1
            ages = {p.pid: p.pss_age_seconds for p in snap.processes}
            assert ages[4243] < 0.01 and ages[4242] >= 0.05


def test_sampler_pids_filter_and_vanished(tmp_path):
    with Sampler(KernelRoot.at(str(FIX)), SamplerConfig(pids=[4242, 999999])) as s:
        snap = s.sample()
    assert [p.pid for p in snap.processes] == [4242]
    assert snap.vanished == 1
