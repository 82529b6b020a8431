"""memdive pages / phys on a child with known pages (tests/helpers/pages_target.c), checked against
the kernel's own numbers (smaps AnonHugePages, fork sharing, the zero page)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile

import pytest

from memdive.kernel import procfs
from memdive.pages import entries, walk
from memdive.pages.translate import phys
from tests.conftest import requires_root

PAGE = os.sysconf("SC_PAGE_SIZE")
SIZES = {"tenth": 1000, "thp": 16384, "zero": 256, "shared": 256}


@pytest.fixture(scope="module")
def target_exe(tmp_path_factory):
    """The helper, compiled into a directory user nobody can enter (for the unprivileged tests)."""
    import subprocess

    d = tempfile.mkdtemp(prefix="memdive-pages-")
    os.chmod(d, 0o755)
    exe = os.path.join(d, "pages_target")
    src = os.path.join(os.path.dirname(__file__), "..", "helpers", "pages_target.c")
    subprocess.run(["gcc", "-O1", "-o", exe, src, "-lpthread"], check=True, capture_output=True)
    os.chmod(exe, 0o755)
    yield exe
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def target(target_exe):
    from tests.conftest import Child

    c = Child([target_exe])
    yield c, {k: int(v, 16) if v.startswith("0x") else v for k, v in c.info().items()}
    c.stop()


def _range(info, name):
    a = info[name]
    return a, a + SIZES[name] * PAGE


@pytest.mark.parametrize("method", ["scan", "read"])
def test_every_tenth_page_present(target, method):
    c, info = target
    lo, hi = _range(info, "tenth")
    w = walk(c.pid, start=lo, end=hi, method=method)
    assert w.method == ("PAGEMAP_SCAN" if method == "scan" else "pagemap")
    assert w.total.virtual_pages == 1000
    assert w.total.present_pages == 100
    assert w.total.swapped_pages == 0
    assert w.total.exclusive_pages == 100          # written after fork: this process only
    assert w.total.file_or_shared_pages == 0
    # page by page: exactly the pages 0, 10, 20, ...
    es = entries(c.pid, lo, hi)
    assert [i for i, e in enumerate(es) if e.present] == list(range(0, 1000, 10))


@requires_root
@pytest.mark.parametrize("method", ["scan", "read"])
def test_thp_flags_agree_with_anonhugepages(target, method):
    c, info = target
    lo, hi = _range(info, "thp")
    w = walk(c.pid, start=lo, end=hi, method=method)
    smaps = next(m for m in procfs.read_smaps(c.pid) if m.start <= lo < m.end)
    assert smaps.anon_huge_bytes > 0, "the kernel gave no THP to the madvised region"
    # the region is exactly 64 MiB inside the mapping; AnonHugePages of the VMA covers it
    assert w.total.thp_pages * PAGE == smaps.anon_huge_bytes
    assert w.total.present_pages == SIZES["thp"]
    if method == "scan":
        assert w.total.pmd_mapped_pages == w.total.thp_pages
    huge_heads = [h for h in w.histogram if "compound_head" in h.names]
    assert sum(h.pages for h in huge_heads) == smaps.anon_huge_bytes // (2 << 20)


@requires_root
@pytest.mark.parametrize("method", ["scan", "read"])
def test_read_only_region_is_zero_page(target, method):
    c, info = target
    lo, hi = _range(info, "zero")
    w = walk(c.pid, start=lo, end=hi, method=method)
    assert w.total.present_pages == 256
    assert w.total.zero_pages == 256
    assert all("zero_page" in h.names for h in w.histogram)
    assert w.total.anon_pages == 0


@requires_root
def test_pages_shared_with_forked_child_have_kpagecount_2(target):
    c, info = target
    lo, hi = _range(info, "shared")
    w = walk(c.pid, start=lo, end=hi)
    assert w.total.present_pages == 256
    assert w.total.mapcount_pages == {"2": 256}
    assert w.total.exclusive_pages == 0
    # the child sees the same physical pages
    child = int(info["child"])
    mine = [e.pfn for e in entries(c.pid, lo, hi)]
    theirs = [e.pfn for e in entries(child, lo, hi)]
    assert mine == theirs and None not in mine
    # and a page written only by the parent is mapped once
    t0 = walk(c.pid, start=info["tenth"], end=info["tenth"] + PAGE)
    assert t0.total.mapcount_pages == {"1": 1}


def test_fallback_equals_scan_path(target):
    """Reading pagemap in full and PAGEMAP_SCAN give the same answers, region by region."""
    c, _ = target
    a = walk(c.pid, method="scan")
    b = walk(c.pid, method="read")
    assert a.method == "PAGEMAP_SCAN" and b.method == "pagemap"
    assert [(r.start, r.end) for r in a.regions] == [(r.start, r.end) for r in b.regions]
    fields = ["virtual_pages", "present_pages", "swapped_pages", "exclusive_pages", "file_or_shared_pages",
              "uffd_wp_pages"]
    if a.detail == "kpage":
        fields += ["thp_pages", "anon_pages", "ksm_pages", "zero_pages", "mapcount_pages"]
    for ra, rb in zip(a.regions, b.regions):
        if ra.kind in ("stack",):      # the stack may move a page between the two walks
            continue
        for f in fields:
            if f == "mapcount_pages" and ra.kind not in ("anon", "heap"):
                continue     # library pages' mapcounts change as other processes come and go
            assert getattr(ra.stats, f) == getattr(rb.stats, f), (ra.name, f)
    fast = walk(c.pid, detail="scan")
    assert fast.total.present_pages == a.total.present_pages
    assert fast.total.exclusive_pages is None      # not measured by PAGEMAP_SCAN alone


def test_soft_dirty_reported_unavailable(target):
    c, info = target
    from memdive.kernel.pagemap import soft_dirty_supported

    w = walk(c.pid, start=info["tenth"], end=info["tenth"] + 10 * PAGE)
    if soft_dirty_supported():
        pytest.fail("this test documents the development machines: CONFIG_MEM_SOFT_DIRTY is off there")
    assert w.soft_dirty_supported is False
    assert w.total.soft_dirty_pages is None
    assert any("CONFIG_MEM_SOFT_DIRTY" in n for n in w.notes)


@requires_root
def test_phys_translates_with_offset(target):
    c, info = target
    a = info["tenth"] + 123
    (e,) = phys(c.pid, [a])
    assert e.present and e.pfn is not None
    assert e.phys_addr == e.pfn * PAGE + 123
    assert "anonymous" in e.flag_names
    (n,) = phys(c.pid, [info["tenth"] + PAGE])      # page 1: never touched
    assert not n.present and n.phys_addr is None


def test_cli_pages_json_and_list(target, memdive_cli):
    c, info = target
    lo, hi = _range(info, "tenth")
    p = memdive_cli("pages", str(c.pid), "--range", f"{lo:x}-{hi:x}", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["total"]["present_pages"] == 100 and d["total"]["virtual_pages"] == 1000
    p = memdive_cli("pages", str(c.pid), "--range", f"{lo:x}-{lo + 20 * PAGE:x}", "--list")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("present") == 2
    p = memdive_cli("pages", str(c.pid))
    assert p.returncode == 0 and "kpageflags combinations" in p.stdout or os.geteuid() != 0
    p = memdive_cli("pages", str(c.pid), "--region", "no-such-region")
    assert p.returncode == 2 and "no mapping matches" in p.stderr
    p = memdive_cli("pages", "999999999")
    assert p.returncode == 1 and "does not exist" in p.stderr


@pytest.fixture
def nobody_target(target_exe, spawn):
    pw = pwd.getpwnam("nobody")
    return spawn(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", target_exe])


@requires_root
def test_unprivileged_pfns_unavailable(nobody_target, memdive_cli):
    """As nobody on its own process: counts work, PFNs and kpageflags are 'unavailable', never zeros."""
    c = nobody_target
    info = {k: int(v, 16) for k, v in c.info().items() if v.startswith("0x")}
    lo, hi = info["tenth"], info["tenth"] + 1000 * PAGE
    p = memdive_cli("pages", str(c.pid), "--range", f"{lo:x}-{hi:x}", "--json", user="nobody")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["pfn_available"] is False and d["detail"] == "pagemap"
    assert d["total"]["present_pages"] == 100
    assert d["total"]["thp_pages"] is None and d["total"]["mapcount_pages"] is None and d["histogram"] is None
    assert any("CAP_SYS_ADMIN" in n for n in d["notes"])
    p = memdive_cli("pages", str(c.pid), "--range", f"{lo:x}-{hi:x}", user="nobody")
    assert "CAP_SYS_ADMIN" in p.stdout and "kpageflags combinations" not in p.stdout
    p = memdive_cli("pages", str(c.pid), "--range", f"{lo:x}-{lo + 2 * PAGE:x}", "--list", "--json", user="nobody")
    first = json.loads(p.stdout)["pages"][0]
    assert first["present"] is True and first["pfn"] is None and first["kpageflags"] is None
    p = memdive_cli("phys", str(c.pid), f"{lo:x}", user="nobody")
    assert p.returncode == 0 and "unavailable" in p.stdout and "CAP_SYS_ADMIN" in p.stdout
    # root's view of the same process has PFNs
    assert entries(c.pid, lo, lo + PAGE)[0].pfn is not None
    # and another user's process is refused with the hint
    p = memdive_cli("pages", str(os.getpid()), user="nobody")
    assert p.returncode == 1 and "permission denied" in p.stderr


def test_totals_fast_path_equals_walk(target, memdive_cli):
    from memdive.pages.walker import totals

    c, _ = target
    t = totals(c.pid)
    w = walk(c.pid, detail="scan")
    for f in ("virtual_pages", "present_pages", "swapped_pages", "zero_pages", "pmd_mapped_pages"):
        assert getattr(t, f) == getattr(w.total, f), f
    assert t.pmd_mapped_pages >= SIZES["thp"] * 0 and t.present_pages >= 100 + 256 + 256
    d = json.loads(memdive_cli("pages", str(c.pid), "--fast", "--total", "--json").stdout)
    assert d["total"]["present_pages"] == t.present_pages


def test_kernel_thread_has_no_pages(memdive_cli):
    from memdive.errors import MemdiveError
    from memdive.kernel.io import list_pids

    kthread = None
    for p in list_pids("/proc"):
        try:
            if procfs.read_stat(p).is_kernel_thread:
                kthread = p
                break
        except MemdiveError:     # gone, or not readable: read_stat raises only these
            continue
    assert kthread is not None, "no kernel thread visible in /proc"
    for args in (("pages", str(kthread)), ("phys", str(kthread), "1000"), ("wss", str(kthread), "--yes", "--count", "1")):
        p = memdive_cli(*args)
        assert p.returncode == 2 and "no user address space" in p.stderr, (args, p.stderr)
