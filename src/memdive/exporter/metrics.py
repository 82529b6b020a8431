"""Prometheus metric families from the sampler's latest snapshot (pure: no I/O, no HTTP).

Naming follows the Prometheus conventions: base units (bytes, seconds), `_bytes`/`_seconds` suffixes,
`_total` on counters, ratios 0..1. Per-process memory is exported only per group (command name, user or
cgroup — never PID or command line unless `--group-by pid` asks for PIDs), the largest `top` groups by
PSS, the rest summed as group="other", under a hard cap on series.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..models.monitor import ProcSample, Snapshot

GROUP_BY = ("command", "user", "cgroup", "pid")

# /proc/meminfo line -> memdive_memory_bytes{kind=...}
MEMORY_KINDS: dict[str, str] = {
    "MemTotal": "total", "MemFree": "free", "MemAvailable": "available", "Buffers": "buffers",
    "Cached": "page_cache", "Shmem": "shmem", "SReclaimable": "slab_reclaimable",
    "SUnreclaim": "slab_unreclaimable", "KernelStack": "kernel_stack", "PageTables": "page_tables",
    "AnonPages": "anon", "AnonHugePages": "anon_thp", "ShmemHugePages": "shmem_thp", "FileHugePages": "file_thp",
    "Hugetlb": "hugetlb", "Committed_AS": "committed", "CommitLimit": "commit_limit", "SwapTotal": "swap_total",
    "SwapFree": "swap_free", "SwapCached": "swap_cached", "Dirty": "dirty", "Writeback": "writeback",
    "Mlocked": "mlocked", "Unevictable": "unevictable", "Active(anon)": "active_anon",
    "Inactive(anon)": "inactive_anon", "Active(file)": "active_file", "Inactive(file)": "inactive_file",
}

# vmstat event counters (monotonic since boot) are exported; nr_* gauges and the few other gauges are not.
_VMSTAT_COUNTER_PREFIXES = ("pg", "pswp", "thp_", "compact_", "numa_", "allocstall", "oom_kill", "workingset_refault",
                            "workingset_activate", "workingset_restore", "kswapd_", "drop_", "swap_ra",
                            "zone_reclaim", "slabs_scanned", "pageoutrun", "htlb_", "unevictable_", "balloon_",
                            "ksm_", "cow_ksm", "direct_map_level", "nr_unaccepted_never")
_VMSTAT_NOT_COUNTERS = {"workingset_nodes", "pgdemote_proactive"}

PER_GROUP_SERIES = 9     # processes, rss, pss, uss, swap, pss_age, faults minor/major, cpu


def is_vmstat_counter(name: str) -> bool:
    return name.startswith(_VMSTAT_COUNTER_PREFIXES) and name not in _VMSTAT_NOT_COUNTERS \
        and not name.startswith("nr_")


def group_key(p: ProcSample, by: str) -> str:
    if by == "user":
        return p.user or str(p.uid)
    if by == "cgroup":
        return p.cgroup or "?"
    if by == "pid":
        return f"{p.pid} ({p.comm})"
    from ..ps import command_name

    return command_name(p.command)


@dataclass
class GroupCounters:
    """Monotonic per-group counters accumulated across snapshots (a group's members come and go:
    summing their cumulative counts would go down when one exits, so deltas are accumulated)."""

    by: str
    started_ticks: float = 0.0           # exporter start, in clock ticks since boot (for "new process" faults)
    faults: dict[str, list[float]] = field(default_factory=dict)    # group -> [minor, major, cpu_seconds]
    _last: dict[tuple[int, int], tuple[int, int, float]] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)
    cap: int = 10000
    sampler_cpu_seconds: float = 0.0
    rollups: int = 0

    def update(self, snap: Snapshot) -> None:
        last = self._last
        now: dict[tuple[int, int], tuple[int, int, float]] = {}
        mono = snap.monotonic
        for p in snap.processes:
            key = (p.pid, p.start_ticks)
            cpu = (p.cpu_percent or 0.0) / 100.0 * (snap.interval_seconds or 0.0)
            prev = last.get(key)
            g = group_key(p, self.by)
            acc = self.faults.get(g)
            if acc is None:
                acc = self.faults[g] = [0.0, 0.0, 0.0]
            if prev is not None:
                acc[0] += max(0, p.minflt - prev[0])       # stat's minflt and majflt are disjoint
                acc[1] += max(0, p.majflt - prev[1])
                acc[2] += cpu
            elif p.start_ticks >= self.started_ticks:
                acc[0] += p.minflt                         # started since: all its faults count
                acc[1] += p.majflt
            now[key] = (p.minflt, p.majflt, cpu)
            self._seen[g] = mono
        self._last = now
        if snap.stats is not None:
            self.sampler_cpu_seconds += snap.stats.cpu_seconds
            self.rollups += snap.stats.rollups
        if len(self.faults) > self.cap:       # forget the groups idle longest
            for g, _ in sorted(self._seen.items(), key=lambda kv: kv[1])[: len(self.faults) - self.cap]:
                self.faults.pop(g, None)
                self._seen.pop(g, None)


@dataclass
class _Group:
    count: int = 0
    rss: int = 0
    pss: int = 0
    uss: int = 0
    swap: int = 0
    age: float = 0.0


def _groups(snap: Snapshot, by: str) -> dict[str, _Group]:
    out: dict[str, _Group] = {}
    for p in snap.processes:
        k = group_key(p, by)
        g = out.get(k)
        if g is None:
            g = out[k] = _Group()
        g.count += 1
        g.rss += p.rss_bytes
        g.pss += p.pss_bytes if p.pss_bytes is not None else p.rss_bytes
        g.uss += p.uss_bytes or 0
        g.swap += p.swap_bytes
        if p.pss_age_seconds is not None and p.pss_age_seconds > g.age:
            g.age = p.pss_age_seconds
    return out


def families(snap: Snapshot, *, by: str = "command", top: int = 30, max_series: int = 1000,
             counters: GroupCounters | None = None, version: str = "unknown") -> list:
    """Every metric family for one snapshot. The number of per-group series is at most `max_series`."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

    fams: list = []
    info = InfoMetricFamily("memdive_exporter", "memdive exporter build and configuration")
    info.add_metric([], {"version": version, "group_by": by})
    fams.append(info)

    s = snap.system
    mem = GaugeMetricFamily("memdive_memory_bytes", "System memory from /proc/meminfo, by kind", labels=["kind"])
    for key, kind in MEMORY_KINDS.items():
        if key in s.meminfo:
            mem.add_metric([kind], s.meminfo[key])
    mem.add_metric(["used"], s.used_bytes)
    fams.append(mem)

    if s.pressure is not None:
        stalled = CounterMetricFamily("memdive_pressure_memory_stalled_seconds",
                                      "Time some/all non-idle tasks were stalled on memory (PSI)", labels=["kind"])
        ratio = GaugeMetricFamily("memdive_pressure_memory_ratio",
                                  "Share of time stalled on memory over a window (PSI avg10/60/300 / 100)",
                                  labels=["kind", "window"])
        for kind, line in (("some", s.pressure.some), ("full", s.pressure.full)):
            if line is None:
                continue
            stalled.add_metric([kind], line.total_us / 1e6)
            for w, v in (("10s", line.avg10), ("60s", line.avg60), ("300s", line.avg300)):
                ratio.add_metric([kind, w], v / 100.0)
        fams += [stalled, ratio]

    vm = CounterMetricFamily("memdive_vmstat_events",
                             "Event counters of /proc/vmstat since boot (faults, reclaim, swap, THP, compaction, NUMA)",
                             labels=["name"])
    for k, v in s.vmstat.items():
        if is_vmstat_counter(k):
            vm.add_metric([k], v)
    fams.append(vm)

    if snap.buddy:
        import os

        page = os.sysconf("SC_PAGE_SIZE")
        blocks = GaugeMetricFamily("memdive_buddy_free_blocks",
                                   "Free blocks of 2^order pages per zone (/proc/buddyinfo)",
                                   labels=["node", "zone", "order"])
        free = GaugeMetricFamily("memdive_buddy_free_bytes", "Free memory per zone and order (/proc/buddyinfo)",
                                 labels=["node", "zone", "order"])
        for z in snap.buddy:
            for order, n in enumerate(z.free_blocks):
                blocks.add_metric([str(z.node), z.zone, str(order)], n)
                free.add_metric([str(z.node), z.zone, str(order)], n * (page << order))
        fams += [blocks, free]

    if snap.numa:
        nm = GaugeMetricFamily("memdive_numa_node_memory_bytes", "Memory per NUMA node", labels=["node", "kind"])
        ns = CounterMetricFamily("memdive_numa_node_allocations", "numastat counters per node (pages)",
                                 labels=["node", "kind"])
        for n in snap.numa:
            node = str(n.id)
            nm.add_metric([node, "total"], n.mem_total_bytes)
            nm.add_metric([node, "free"], n.mem_free_bytes)
            nm.add_metric([node, "used"], n.mem_used_bytes)
            for k, v in (n.numastat or {}).items():
                ns.add_metric([node, k], v)
        fams += [nm, ns]

    # --- per group, capped -----------------------------------------------------------------------
    groups = _groups(snap, by)
    limit = max(0, min(top, max_series // PER_GROUP_SERIES - 1))
    ranked = sorted(groups.items(), key=lambda kv: -kv[1].pss)
    shown, rest = ranked[:limit], ranked[limit:]
    if rest:
        other = _Group()
        for _, g in rest:
            other.count += g.count
            other.rss += g.rss
            other.pss += g.pss
            other.uss += g.uss
            other.swap += g.swap
            other.age = max(other.age, g.age)
        shown.append(("other", other))
    gp = GaugeMetricFamily("memdive_group_processes", "Processes in the group", labels=["group"])
    grss = GaugeMetricFamily("memdive_group_rss_bytes", "Resident set size of the group's processes",
                             labels=["group"])
    gpss = GaugeMetricFamily("memdive_group_pss_bytes",
                             "Proportional set size of the group (RSS for processes whose PSS is unreadable)",
                             labels=["group"])
    guss = GaugeMetricFamily("memdive_group_uss_bytes", "Unique set size of the group (private pages)",
                             labels=["group"])
    gswap = GaugeMetricFamily("memdive_group_swap_bytes", "Swapped-out memory of the group", labels=["group"])
    gage = GaugeMetricFamily("memdive_group_pss_age_seconds",
                             "Age of the oldest PSS/USS figure in the group (PSS is refreshed when memory moves)",
                             labels=["group"])
    for name, g in shown:
        gp.add_metric([name], g.count)
        grss.add_metric([name], g.rss)
        gpss.add_metric([name], g.pss)
        guss.add_metric([name], g.uss)
        gswap.add_metric([name], g.swap)
        gage.add_metric([name], g.age)
    fams += [gp, grss, gpss, guss, gswap, gage]
    if counters is not None:
        gf = CounterMetricFamily("memdive_group_page_faults", "Page faults of the group's processes since the "
                                 "exporter started", labels=["group", "kind"])
        gc = CounterMetricFamily("memdive_group_cpu_seconds", "CPU time of the group's processes since the "
                                 "exporter started (sampled)", labels=["group"])
        for name, _ in shown:
            acc = counters.faults.get(name)
            if acc is None:
                continue
            gf.add_metric([name, "minor"], acc[0])
            gf.add_metric([name, "major"], acc[1])
            gc.add_metric([name], acc[2])
        fams += [gf, gc]

    meta: list = [
        GaugeMetricFamily("memdive_processes", "Processes sampled (kernel threads excluded)", value=len(snap.processes)),
        GaugeMetricFamily("memdive_processes_unreadable",
                          "Processes whose PSS could not be read (run the exporter as root)", value=snap.denied),
        GaugeMetricFamily("memdive_groups_folded", "Groups summed into group=\"other\" by --top / the series cap",
                          value=len(rest)),
        GaugeMetricFamily("memdive_sampler_last_sample_timestamp_seconds", "When the latest snapshot was taken",
                          value=snap.time),
        GaugeMetricFamily("memdive_sampler_snapshot_age_seconds", "Age of the snapshot this scrape was served from",
                          value=max(0.0, time.time() - snap.time)),
    ]
    if snap.stats is not None:
        meta.append(GaugeMetricFamily("memdive_sampler_duration_seconds", "Wall time of the latest sample",
                                      value=snap.stats.wall_seconds))
    if counters is not None:
        meta.append(CounterMetricFamily("memdive_sampler_cpu_seconds", "CPU time spent sampling",
                                        value=counters.sampler_cpu_seconds))
        meta.append(CounterMetricFamily("memdive_sampler_rollups", "smaps_rollup reads (PSS refreshes)",
                                        value=counters.rollups))
    fams += meta
    return fams
