"""The exporter served over real HTTP(S) on loopback, scraped and parsed with prometheus_client's parser."""

from __future__ import annotations

import base64
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from memdive.exporter import Exporter, ExporterConfig

MiB = 1 << 20


def scrape(url: str, ctx=None, headers=None) -> dict:
    req = urllib.request.Request(url, headers=headers or {})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
        body = resp.read().decode()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
    scrape.last_seconds = time.perf_counter() - t
    return {f.name: f for f in text_string_to_metric_families(body)}


def _wait_for(pred, timeout=10.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_scrape_over_loopback_matches_the_kernel(cbuild, spawn):
    from memdive.kernel import sysmm

    child = spawn([cbuild("monitor_child"), "40"])
    with Exporter(ExporterConfig(listen="127.0.0.1:0", interval=0.2)) as ex:
        assert ex.url.startswith("http://127.0.0.1:")
        f = scrape(ex.url)
        mem = {s.labels["kind"]: s.value for s in f["memdive_memory_bytes"].samples}
        assert mem["total"] == sysmm.read_meminfo().total_bytes
        rss = {s.labels["group"]: s.value for s in f["memdive_group_rss_bytes"].samples}
        assert rss.get("monitor_child", 0) >= 40 * MiB
        assert f["memdive_processes"].samples[0].value > 1
        vm = {s.labels["name"] for s in f["memdive_vmstat_events"].samples}
        assert {"pgfault", "thp_fault_alloc", "compact_stall"} <= vm
        assert f["memdive_buddy_free_blocks"].samples                        # buddyinfo wired in
        assert f["memdive_numa_node_memory_bytes"].samples                   # NUMA nodes wired in
        for fam in f.values():
            for s in fam.samples:
                assert "pid" not in s.labels
        # the group's fault counter grows when it faults
        before = {(s.labels["group"], s.labels["kind"]): s.value for s in f["memdive_group_page_faults"].samples}
        child.send("grow 8")

        def grown():
            g = {(s.labels["group"], s.labels["kind"]): s.value
                 for s in scrape(ex.url)["memdive_group_page_faults"].samples}
            return g.get(("monitor_child", "minor"), 0) - before.get(("monitor_child", "minor"), 0) >= 2048
        _wait_for(grown)
        # other paths
        with urllib.request.urlopen(ex.url.replace("/metrics", "/"), timeout=5) as r:
            assert b"/metrics" in r.read()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(ex.url.replace("/metrics", "/nope"), timeout=5)
        assert e.value.code == 404
        # OpenMetrics when asked for
        req = urllib.request.Request(ex.url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            assert r.read().rstrip().endswith(b"# EOF")


def test_cardinality_cap_holds_with_500_short_lived_processes():
    top, cap = 20, 250
    with Exporter(ExporterConfig(listen="127.0.0.1:0", interval=0.1, top=top, max_series=cap)) as ex:
        scrape(ex.url)
        storm = subprocess.Popen(["bash", "-c",
                                  'for i in $(seq 500); do (exec -a "cardtest-$i" sleep 1) & done; wait'])
        folded_max = 0
        groups_seen: set[str] = set()
        try:
            while storm.poll() is None:
                f = scrape(ex.url)
                series = sum(len(x.samples) for n, x in f.items() if n.startswith("memdive_group_"))
                assert series <= cap
                groups = {s.labels["group"] for s in f["memdive_group_processes"].samples}
                assert len(groups) <= min(top, cap // 9 - 1) + 1
                groups_seen |= groups
                folded_max = max(folded_max, f["memdive_groups_folded"].samples[0].value)
                time.sleep(0.05)
        finally:
            storm.wait(timeout=60)
        assert folded_max >= 100                 # the storm was seen, and folded into "other"
        assert "other" in groups_seen
        assert len(ex.counters.faults) <= ex.counters.cap


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(d / "server.key"),
                    "-out", str(d / "server.crt")], check=True, capture_output=True)
    return d


def test_tls_and_basic_auth_from_web_config(tls_files):
    import bcrypt

    h = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$")   # as htpasswd writes
    web = tls_files / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                   f"basic_auth_users:\n  prom: '{h}'\n")
    ctx = ssl.create_default_context(cafile=str(tls_files / "server.crt"))
    good = {"Authorization": "Basic " + base64.b64encode(b"prom:s3cret").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"prom:wrong").decode()}
    with Exporter(ExporterConfig(listen="127.0.0.1:0", interval=0.2, web_config=str(web))) as ex:
        assert ex.url.startswith("https://")
        assert ex.warnings() == []
        f = scrape(ex.url, ctx, good)
        assert f["memdive_memory_bytes"].samples
        for hdr in (bad, {}):
            with pytest.raises(urllib.error.HTTPError) as e:
                scrape(ex.url, ctx, hdr)
            assert e.value.code == 401
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            scrape(ex.url.replace("https://", "http://"), None, good)     # plain HTTP to the TLS port fails


def test_cli_exporter_once(memdive_cli):
    r = memdive_cli("exporter", "--once", "--group-by", "user")
    assert r.returncode == 0, r.stderr
    fams = {f.name: f for f in text_string_to_metric_families(r.stdout)}
    users = {s.labels["group"] for s in fams["memdive_group_rss_bytes"].samples}
    assert "root" in users
    r = memdive_cli("exporter", "--listen", "nonsense")
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
