"""Exporter metric families on snapshots from a fixture /proc and on synthetic ones: naming conventions,
no PID/command-line labels by default, the series cap, monotonic group counters, web-config errors."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from memdive.errors import InvalidInput
from memdive.exporter.metrics import GroupCounters, families, is_vmstat_counter
from memdive.kernel.root import KernelRoot
from memdive.monitor.sampler import Sampler, SamplerConfig

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "monitor-basic"


class _Static:
    def __init__(self, fams):
        self.fams = fams

    def collect(self):
        return iter(self.fams)


def scrape_text(fams) -> str:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Static(fams))
    return generate_latest(reg).decode()


def parsed(fams) -> dict:
    return {f.name: f for f in text_string_to_metric_families(scrape_text(fams))}


@pytest.fixture
def snap():
    with Sampler(KernelRoot.at(str(FIX)), SamplerConfig(extras=True)) as s:
        s.sample()
        return s.sample()


def test_names_follow_prometheus_conventions(snap):
    counters = GroupCounters(by="command")
    counters.update(snap)
    text = scrape_text(families(snap, counters=counters))
    fams = list(text_string_to_metric_families(text))
    assert fams
    for f in fams:
        assert re.fullmatch(r"memdive_[a-z0-9_]+", f.name), f.name
        for s in f.samples:
            if f.type == "counter":
                assert s.name.endswith(("_total", "_created")), s.name
            if "bytes" in f.name:
                assert f.name.endswith("_bytes"), f.name
            if "seconds" in f.name and f.type == "gauge":
                assert f.name.endswith("_seconds"), f.name
            assert not {"pid", "cmdline", "command_line"} & set(s.labels), s
    for line in text.splitlines():
        if line.startswith("memdive_group_"):
            assert "4242" not in line and "/tmp/odd" not in line     # no PID, no command line


def test_values_match_the_fixture(snap):
    f = parsed(families(snap))
    mem = {s.labels["kind"]: s.value for s in f["memdive_memory_bytes"].samples}
    assert mem["total"] == snap.system.meminfo["MemTotal"]
    assert mem["swap_total"] - mem["swap_free"] == 256 << 20
    vm = {s.labels["name"]: s.value for s in f["memdive_vmstat_events"].samples}
    assert vm["pgfault"] == snap.system.vmstat["pgfault"]
    assert "nr_free_pages" not in vm                       # a gauge, not an event counter
    assert any(k.startswith("thp_") for k in vm) and any(k.startswith("compact_") for k in vm)
    groups = {s.labels["group"]: s.value for s in f["memdive_group_rss_bytes"].samples}
    assert groups == {"mo": 276 * 4096, "server": 1000 * 4096}
    swap = {s.labels["group"]: s.value for s in f["memdive_group_swap_bytes"].samples}
    assert swap["server"] == 12288 * 1024
    psi = {(s.labels["kind"], s.labels["window"]) for s in f["memdive_pressure_memory_ratio"].samples}
    assert ("some", "10s") in psi
    buddy = f["memdive_buddy_free_blocks"].samples
    assert buddy and {s.labels["order"] for s in buddy} >= {"0", "10"}


def test_vmstat_counter_selection():
    assert is_vmstat_counter("pgfault") and is_vmstat_counter("thp_fault_alloc")
    assert is_vmstat_counter("compact_stall") and is_vmstat_counter("oom_kill")
    assert not is_vmstat_counter("nr_free_pages") and not is_vmstat_counter("workingset_nodes")


def _many(snap, n: int):
    base = snap.processes[0]
    procs = tuple(base._replace(pid=10000 + i, start_ticks=i, command=f"/usr/bin/job-{i} --x", comm=f"job-{i}")
                  for i in range(n))
    return replace(snap, processes=procs)


def test_series_cap_holds_with_500_groups(snap):
    big = _many(snap, 500)
    counters = GroupCounters(by="command", cap=100)
    counters.update(big)
    for top, cap in ((30, 1000), (500, 200), (1000, 50)):
        f = parsed(families(big, top=top, max_series=cap, counters=counters))
        group_series = sum(len(x.samples) for name, x in f.items() if name.startswith("memdive_group_"))
        assert group_series <= cap
        groups = {s.labels["group"] for s in f["memdive_group_processes"].samples}
        assert "other" in groups
        assert sum(s.value for s in f["memdive_group_processes"].samples) == 500   # nothing lost
        assert f["memdive_groups_folded"].samples[0].value == 500 - (len(groups) - 1)
    assert len(counters.faults) <= 100                      # the accumulator is bounded too


def test_group_fault_counters_are_monotonic_when_members_exit(snap):
    c = GroupCounters(by="command")
    p = snap.processes[0]
    a = replace(snap, processes=(p._replace(pid=1, minflt=100), p._replace(pid=2, minflt=50)))
    b = replace(snap, processes=(p._replace(pid=1, minflt=130), p._replace(pid=2, minflt=60)))
    c_ = replace(snap, processes=(p._replace(pid=1, minflt=140),))            # pid 2 exited
    vals = []
    for s in (a, b, c_):
        c.update(s)
        vals.append(c.faults["mo"][0])
    # new processes started after the exporter count whole; then deltas; an exit does not go backwards
    assert vals == [150, 190, 200]


def test_group_by_user_and_pid(snap):
    f = parsed(families(snap, by="user"))
    assert {s.labels["group"] for s in f["memdive_group_processes"].samples} <= {"root", "0", "nobody"} | {
        p.user for p in snap.processes}
    f = parsed(families(snap, by="pid"))
    assert {s.labels["group"] for s in f["memdive_group_processes"].samples} == {"4242 (mo)", "4243 (my (odd) name)"}


def test_web_config_errors(tmp_path):
    from memdive.exporter.webconfig import load

    p = tmp_path / "web.yml"
    p.write_text("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n")
    with pytest.raises(InvalidInput, match="cannot load the certificate"):
        load(str(p))
    p.write_text("basic_auth_users:\n  alice: plaintext\n")
    with pytest.raises(InvalidInput, match="not a bcrypt hash"):
        load(str(p))
    p.write_text("bogus: 1\n")
    with pytest.raises(InvalidInput, match="unknown key"):
        load(str(p))
    p.write_text("tls_server_config: [\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load(str(p))


def test_listen_parsing_and_exposure_warning():
    from memdive.exporter.server import Exporter, ExporterConfig, is_loopback, parse_listen

    assert parse_listen("127.0.0.1:9917") == ("127.0.0.1", 9917)
    assert parse_listen("[::1]:9917") == ("::1", 9917)
    assert parse_listen(":9917") == ("", 9917)
    with pytest.raises(InvalidInput):
        parse_listen("9917")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    assert Exporter(ExporterConfig(listen="127.0.0.1:9917")).warnings() == []
    w = Exporter(ExporterConfig(listen="0.0.0.0:9917")).warnings()
    assert w and "without TLS" in w[0]
    with pytest.raises(InvalidInput):
        Exporter(ExporterConfig(group_by="cmdline"))


def test_grafana_dashboard_uses_only_exported_metrics(snap):
    import json

    dash = json.loads((Path(__file__).resolve().parents[2] / "contrib/grafana/memdive.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"memdive_[a-z0-9_]+", e)}
    counters = GroupCounters(by="command")
    counters.update(snap)
    names = set()
    for f in text_string_to_metric_families(scrape_text(families(snap, counters=counters))):
        names |= {s.name for s in f.samples}
    assert used and used <= names, used - names


def test_numa_nodes_exported_per_node(snap):
    f = parsed(families(snap))
    nodes = {s.labels["node"] for s in f["memdive_numa_node_memory_bytes"].samples}
    assert nodes == {"0", "1"}                                    # the fixture has two nodes
    kinds = {s.labels["kind"] for s in f["memdive_numa_node_allocations"].samples}
    assert {"numa_hit", "numa_miss"} <= kinds
