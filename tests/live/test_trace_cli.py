"""`memdive trace` as a user runs it: C and Python targets, report tables/JSON, flame graph in headless
Chromium, timeline files, clear errors for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def traced_rss(tmp_path_factory, cbuild_module):
    exe = cbuild_module
    d = tmp_path_factory.mktemp("trace_cli")
    out = d / "rss.trace"
    p = subprocess.run([sys.executable, "-m", "memdive", "trace", "-o", str(out), "--", str(exe), "rss"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    return d, out, p


@pytest.fixture(scope="module")
def cbuild_module(tmp_path_factory):
    from pathlib import Path

    src = Path(__file__).parents[1] / "helpers" / "trace_target.c"
    exe = tmp_path_factory.mktemp("trace_cli_bin") / "trace_target"
    subprocess.run(["gcc", "-O1", "-g", "-fno-builtin", "-o", str(exe), str(src), "-lpthread"], check=True)
    return exe


def test_run_prints_summary_and_report_tables(traced_rss, memdive_cli):
    _d, out, p = traced_rss
    assert "wrote " + str(out) in p.stderr and "leaked at exit" in p.stderr
    r = memdive_cli("trace", "report", str(out), "--stacks", env=dict(os.environ, COLUMNS="250"))
    assert r.returncode == 0, r.stderr
    for needle in ("top call sites by bytes live at peak", "leak_big", "leak_small", "trace_target.c:",
                   "glibc heap state", "free-but-held resident"):
        assert needle in r.stdout


def test_report_json(traced_rss, memdive_cli):
    _d, out, _p = traced_rss
    r = memdive_cli("trace", "report", str(out), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["complete"] is True and d["leaked_count"] == 64 + 10000
    assert d["leaked_bytes"] == (64 << 20) + 10000 * 1000
    top = d["sites_by_leaked"][0]
    assert top["frames"][0]["function"] == "leak_big" and top["leaked_bytes"] == 64 << 20
    assert {j["reason"] for j in d["resident"]} == {"peak", "exit"}
    assert d["heap"][0]["reason"] == "exit" and d["heap"][0]["mmapped_chunks"] >= 64


def test_flamegraph_in_headless_chromium(traced_rss, memdive_cli, tmp_path):
    _d, out, _p = traced_rss
    html = tmp_path / "flame.html"
    r = memdive_cli("trace", "report", str(out), "--flamegraph", str(html), "--top", "1")
    assert r.returncode == 0, r.stderr
    text = html.read_text()
    assert "http://" not in text and "https://" not in text and "<script src" not in text  # self-contained
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.fail("Debian chromium is required for the flame graph test (scripts/debian-test-packages.txt)")
    prof = tmp_path / "profile"
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={prof}", "--enable-logging=stderr", "--v=0", "--dump-dom",
                        html.as_uri()], capture_output=True, text=True, timeout=90, check=False)
    console = [ln for ln in p.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    dom = p.stdout
    # the script ran (boxes were drawn) and the top call site is on the page
    assert 'class="f"' in dom
    assert "leak_big (trace_target.c:" in dom


def test_timeline_png_and_html(traced_rss, memdive_cli, tmp_path):
    _d, out, _p = traced_rss
    png, page = tmp_path / "t.png", tmp_path / "t.html"
    assert memdive_cli("trace", "report", str(out), "--timeline", str(png)).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert memdive_cli("trace", "report", str(out), "--timeline", str(page)).returncode == 0
    t = page.read_text()
    assert "<polyline" in t and "heap in use" in t


def test_python_program(memdive_cli, tmp_path):
    script = tmp_path / "s.py"
    script.write_text("keep = [bytearray(1_000_000) for _ in range(50)]\nprint('done')\n")
    out = tmp_path / "py.trace"
    r = memdive_cli("trace", "-o", str(out), "--", "python3", str(script))
    assert r.returncode == 0, r.stderr
    assert "done" in r.stdout
    # memdive exits with the traced program's status (was 0 whatever it returned)
    failing = tmp_path / "f.py"
    failing.write_text("import sys\nsys.exit(3)\n")
    r = memdive_cli("trace", "-o", str(tmp_path / "f.trace"), "--quiet", "--", "python3", str(failing))
    assert r.returncode == 3 and "exit status 3" in r.stderr, r.stderr
    d = json.loads(memdive_cli("trace", "report", str(out), "--json").stdout)
    # python3 may be a wrapper that execs the interpreter: the trace of the last image is the one reported
    assert os.path.basename(d["command"][0]).startswith("python") and d["allocations"] > 1000
    assert d["peak_bytes"] >= 50_000_000
    assert d["calls"]["malloc"] > 1000 and d["calls"]["free"] > 1000


def test_bad_inputs_one_line_errors(memdive_cli, tmp_path, cbuild_module):
    bad = tmp_path / "bad.trace"
    bad.write_bytes(b"hello world" * 100)
    r = memdive_cli("trace", "report", str(bad))
    assert r.returncode == 1 and "not a memdive trace" in r.stderr and "Traceback" not in r.stderr
    r = memdive_cli("trace", "report", str(tmp_path / "missing.trace"))
    assert r.returncode == 2 and "no such file" in r.stderr          # as replay, plot and cache: a usage error
    r = memdive_cli("trace")
    assert r.returncode == 2 and "no command to trace" in r.stderr
    r = memdive_cli("trace", "--", "/nonexistent/prog")
    assert r.returncode == 1 and "not found" in r.stderr
    out = tmp_path / "x.trace"
    out.write_text("exists")
    r = memdive_cli("trace", "-o", str(out), "--", str(cbuild_module), "funcs")
    assert r.returncode == 2 and "exists" in r.stderr
    # a truncated trace still reports, and says so
    good = tmp_path / "g.trace"
    assert memdive_cli("trace", "-o", str(good), "--quiet", "--", str(cbuild_module), "sites").returncode == 0
    data = good.read_bytes()
    good.write_bytes(data[: len(data) - 5000])
    r = memdive_cli("trace", "report", str(good))
    assert r.returncode == 0 and "ends mid-chunk" in r.stdout


def test_heap_state_on_request(cbuild_module, memdive_cli, tmp_path):
    out = tmp_path / "wait.trace"
    p = subprocess.Popen([sys.executable, "-m", "memdive", "trace", "-o", str(out), "--quiet", "--",
                          str(cbuild_module), "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.endswith("ready\n"), line
        pid = int(line.split()[0].split("=")[1])
        r = memdive_cli("trace", "heap", str(pid))
        assert r.returncode == 0, r.stderr
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
    d = json.loads(memdive_cli("trace", "report", str(out), "--json").stdout)
    assert [h["reason"] for h in d["heap"]] == ["signal", "exit"]
    assert d["heap"][0]["in_use_bytes"] >= 5000
    from memdive.trace import load

    assert "signal" in {snap.reason for snap in load(str(out)).snapshots}   # a pagemap snapshot on request too
    # a process not under the shim is refused, and nothing is sent to it (SIGUSR2 would kill sleep)
    other = subprocess.Popen(["sleep", "30"])
    try:
        r = memdive_cli("trace", "heap", str(other.pid))
        assert r.returncode == 2 and "not running under memdive trace" in r.stderr
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
