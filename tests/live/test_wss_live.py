"""wss methods on a live child (tests/helpers/pages_target.c "hot": a thread rewrites HOT_PAGES pages):
the idle method's page set against the page walk, and `--method` on this kernel (the idle bitmap where
it exists, else the stated error)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from memdive.kernel import kpage as kp
from memdive.kernel import pagemap as pm
from memdive.pages import walk, wss
from memdive.pages.wss import _present_entries

PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def hot(tmp_path_factory):
    import subprocess

    from tests.conftest import Child

    d = tmp_path_factory.mktemp("wss")
    exe = d / "pages_target"
    src = os.path.join(os.path.dirname(__file__), "..", "helpers", "pages_target.c")
    subprocess.run(["gcc", "-O1", "-o", str(exe), src, "-lpthread"], check=True, capture_output=True)
    c = Child([exe, "hot"])
    yield c, c.info()
    c.stop()


def test_idle_method_page_set_equals_the_page_walk(hot):
    """The pages the idle method marks (PAGEMAP_SCAN runs, then their pagemap entries) are the present
    pages the walk counts, region by region (the 1000-page region with every 10th page touched and the
    64 MiB madvised region are stable; the hot region is still being faulted in)."""
    c, info = hot
    fd = pm.open_pagemap(c.pid)
    try:
        for key, n, want in (("tenth", 1000, 100), ("thp", 16384, 16384)):
            lo = int(info[key], 16)
            got = sum(len(e) for _, e in _present_entries(fd, lo // PAGE, n, c.pid))
            assert got == walk(c.pid, start=lo, end=lo + n * PAGE, method="read").total.present_pages == want
            firsts = np.concatenate([f for f, _ in _present_entries(fd, lo // PAGE, n, c.pid)])
            assert (np.diff(firsts) > 0).all() and firsts[0] >= lo // PAGE
    finally:
        os.close(fd)


def test_method_option_on_this_kernel(hot, memdive_cli):
    c, info = hot
    p = memdive_cli("wss", str(c.pid), "--count", "1", "--interval", "0.3", "--yes", "--method", "idle", "--json")
    if not kp.idle_available():
        assert p.returncode == 1
        assert "idle page tracking: unavailable on this kernel (CONFIG_IDLE_PAGE_TRACKING)" in p.stderr
        with pytest.raises(Exception, match="CONFIG_IDLE_PAGE_TRACKING"):
            next(wss.sample(c.pid, count=1, interval=0.1, method="idle"))
    else:                                          # a kernel with the bitmap: the hot pages are accessed
        assert p.returncode == 0, p.stderr
        s = json.loads(p.stdout)["samples"][0]
        assert s["method"] == "idle"
        hot_lo = int(info["hot"], 16)
        region = next(r for r in s["regions"] if r["start"] <= hot_lo < r["end"])
        assert region["accessed_bytes"] >= int(info["hot_pages"]) * PAGE * 9 // 10
    d = json.loads(memdive_cli("wss", str(c.pid), "--count", "1", "--interval", "0.2", "--yes", "--method",
                               "referenced", "--json").stdout)
    assert d["method_name"] == "referenced" and d["samples"][0]["method"] == "referenced"
    assert "clear_refs" in d["method"] and d["samples"][0]["untracked_bytes"] is None
    p = memdive_cli("wss", str(c.pid), "--count", "1", "--interval", "0.2", "--yes")
    assert p.returncode == 0 and ("idle page bitmap" in p.stdout if os.geteuid() == 0 and kp.idle_available()
                                  else "clear_refs" in p.stdout)
