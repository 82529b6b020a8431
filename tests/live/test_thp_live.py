"""`memdive thp` on a real child with regions of known huge-page state, checked against the kernel's smaps."""

from __future__ import annotations

import json

import pytest

from memdive.hugepages.thp import collapse, thp_process, thp_system
from memdive.kernel import procfs
from memdive.kernel.thp import read_thp_settings

from ..conftest import requires_root

MiB = 1 << 20


@pytest.fixture
def child(cbuild, spawn):
    c = spawn([cbuild("hugepages_thp")])
    rng = {}
    for k, v in c.info().items():
        if "-" in v:
            a, b = v.split("-")
            rng[k] = (int(a, 16), int(b, 16))
    return c, rng


def region(p, start):
    return next(r for r in p.regions if r.start == start)


def kernel_anon_huge(pid, start):
    return next(m for m in procfs.read_smaps(pid) if m.start == start).anon_huge_bytes


def test_thp_process_regions_and_reasons(child):
    c, rng = child
    mode = read_thp_settings().effective_mode()
    p = thp_process(c.pid)
    # the totals are the kernel's: smaps_rollup AnonHugePages
    with open(f"/proc/{c.pid}/smaps_rollup") as f:
        rollup = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f if ln.endswith("kB\n")}
    assert p.anon_huge_bytes == rollup["AnonHugePages"]
    adv, plain = region(p, rng["adv"][0]), region(p, rng["plain"][0])
    assert adv.advised and not plain.advised
    if mode == "never":
        assert adv.anon_huge_bytes == 0 and adv.reason == "THP is off (enabled=never)"
        return
    # the madvised 64 MiB region is on huge pages, and the tool says so
    assert adv.anon_huge_bytes == 64 * MiB == kernel_anon_huge(c.pid, rng["adv"][0])
    assert adv.reason is None and adv.thp_eligible
    if mode == "madvise":
        assert plain.anon_huge_bytes == 0
        assert plain.reason == "THP mode is madvise and the region is not advised (MADV_HUGEPAGE)"
    else:
        assert plain.anon_huge_bytes > 0 and plain.reason is None
    assert "misaligned" in region(p, rng["mis"][0]).reason
    assert region(p, rng["untch"][0]).reason.startswith("nothing touched yet")
    assert "MADV_NOHUGEPAGE" in region(p, rng["noh"][0]).reason
    assert p.huge_share == pytest.approx(rollup["AnonHugePages"] / p.anonymous_bytes)


def test_thp_system_view_matches_sysfs_and_vmstat():
    s = thp_system()
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        assert f"[{s.settings.enabled.selected}]" in f.read()
    with open("/proc/vmstat") as f:
        vm = dict(ln.split() for ln in f)
    assert set(s.counters) == {k for k in vm if k.startswith("thp_")}
    with open("/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan") as f:
        assert s.settings.khugepaged["pages_to_scan"] == int(f.read())


@requires_root
def test_collapse_plain_region(child):
    c, rng = child
    a, b = rng["plain"]
    assert kernel_anon_huge(c.pid, a) == 0
    [res] = collapse(c.pid, a, b)
    assert res.ok, res.error
    assert res.huge_after_bytes == 64 * MiB == kernel_anon_huge(c.pid, a)
    assert res.collapsed_bytes == 64 * MiB and res.collapse_alloc_delta >= 32


@requires_root
def test_collapse_refused_range_is_reported(child, memdive_cli):
    c, rng = child
    a, b = rng["noh"]
    p = memdive_cli("thp", "collapse", str(c.pid), "--range", f"{a:x}-{b:x}", "--yes", "--json")
    assert p.returncode == 1
    [r] = json.loads(p.stdout)
    assert not r["ok"] and r["error"].startswith("EINVAL") and r["huge_after_bytes"] == 0


def test_cli_thp_pid(child, memdive_cli):
    c, rng = child
    p = memdive_cli("thp", str(c.pid), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    starts = {r["start"] for r in d["regions"]}
    assert rng["adv"][0] in starts and rng["plain"][0] in starts
    p = memdive_cli("thp", "collapse", str(c.pid))
    assert p.returncode == 2 and "--yes" in p.stderr


def test_unprivileged(child, memdive_cli):
    c, _rng = child
    p = memdive_cli("thp", str(c.pid), user="nobody")
    assert p.returncode == 1 and "permission denied" in p.stderr and "root" in p.stderr
    p = memdive_cli("thp", user="nobody")
    assert p.returncode == 0 and "khugepaged" in p.stdout
    p = memdive_cli("thp", "collapse", str(c.pid), "--yes", user="nobody")
    assert p.returncode == 1 and "root" in p.stderr and "Traceback" not in p.stderr
