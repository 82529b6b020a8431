"""memdive top driven headless with textual's pilot: it starts, sorts, filters, opens a maps summary, quits."""

from __future__ import annotations

import asyncio
import sys

from memdive.monitor.tui import TopApp


def _run(coro):
    return asyncio.run(coro)


def test_top_starts_sorts_filters_opens_and_quits(spawn):
    # A child with a distinctive command line and 64 MiB touched: it must show up, sort first by RSS
    # among the filtered rows, and its maps summary must open.
    child = spawn([sys.executable, "-c",
                   ("import sys; b = bytearray(64 << 20); b[::4096] = b'x' * (len(b) // 4096); "
                    "print('ready', flush=True); sys.stdin.readline()  # memdive-top-test-marker")])

    async def go():
        app = TopApp(interval=0.3, sort="pss")
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause(0.5)
            assert app.snapshot is not None and app.samples >= 1
            table = app.query_one("#procs")
            assert table.row_count == len(app.shown) > 0
            pss = [p.pss_bytes or -1 for p in app.shown]
            assert pss == sorted(pss, reverse=True)

            await pilot.press("r")
            assert app.sort == "rss"
            rss = [p.rss_bytes for p in app.shown]
            assert rss == sorted(rss, reverse=True)

            await pilot.press("slash")
            for ch in "memdive-top-test-marker":
                await pilot.press(ch)
            await pilot.press("enter")
            await pilot.pause(0.1)
            assert app.pattern == "memdive-top-test-marker"
            assert [p.pid for p in app.shown] == [child.pid]
            assert app.shown[0].rss_bytes >= 64 << 20

            # samples keep coming (the refresh timer runs)
            n = app.samples
            await pilot.pause(0.8)
            assert app.samples > n

            await pilot.press("o")
            await pilot.pause(0.3)
            from memdive.monitor.tui import MapsScreen

            assert isinstance(app.screen, MapsScreen) and app.screen.pid == child.pid
            rendered = app.screen._render_summary()
            titles = [getattr(r, "title", None) for r in rendered.renderables]
            assert "By kind" in titles                      # memdive.maps.summarize, as `maps` shows it
            text = str(rendered.renderables[0])
            assert str(child.pid) in text
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert not isinstance(app.screen, MapsScreen)

            await pilot.press("escape")          # clears the filter
            assert app.pattern is None and len(app.shown) > 1
            await pilot.press("q")
        return text

    _run(go())


def test_top_once_json(memdive_cli):
    import json

    r = memdive_cli("top", "--once", "--json", "--limit", "3", "--interval", "0.2")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["processes"]) == 3
    assert d["system"]["meminfo"]["MemTotal"] > 0
    assert all(p["faults_per_second"] is not None for p in d["processes"])


def test_top_needs_a_terminal_and_rejects_bad_pattern(memdive_cli):
    r = memdive_cli("top")
    assert r.returncode == 2 and "needs a terminal" in r.stderr
    r = memdive_cli("top", "--once", "(")
    assert r.returncode == 2 and "bad pattern" in r.stderr


def test_top_once_unprivileged_says_what_root_unlocks(memdive_cli):
    import json
    import os

    if os.geteuid() != 0:
        import pytest

        pytest.skip("needs root to drop to nobody")
    r = memdive_cli("top", "--once", "--json", "--interval", "0.1", user="nobody")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    roots = [p for p in d["processes"] if p["uid"] == 0]
    # Other users' PSS is unknown to nobody (never 0); their RSS from stat still shows. A root process
    # exiting during the sample (a zombie of the test run) may read RSS 0, so RSS is checked on most.
    assert roots and all(p["pss_bytes"] is None for p in roots)
    assert sum(p["rss_bytes"] > 0 for p in roots) >= len(roots) - 2
    assert d["denied"] >= len(roots) and "root" in d["hint"]
