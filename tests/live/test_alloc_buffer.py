"""memdive.alloc.buffer on the real machine: what it asked for against what the kernel's own files say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from memdive.alloc import buffer
from memdive.alloc.buffer import BufferInUse
from memdive.errors import InvalidInput, MemdiveError
from memdive.kernel import numa
from memdive.kernel.hugetlb import find_pool
from memdive.kernel.io import read_bytes, write_text
from memdive.kernel.procfs import read_smaps
from memdive.kernel.root import KernelRoot
from memdive.kernel.thp import read_thp_mode

from ..conftest import is_root, requires_root

MiB = 1 << 20
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def vma_at(addr: int):
    """The kernel's smaps record of the VMA starting at ADDR (read independently of the report)."""
    for m in read_smaps(os.getpid()):
        if m.start == addr:
            return m
    raise AssertionError(f"no VMA starts at {addr:#x}")


def test_thp_buffer_reports_what_smaps_says():
    with buffer(8 * MiB, pages="thp", populate=True) as b:
        assert b.address % (2 * MiB) == 0                      # aligned so every 2 MiB can be huge
        r = b.report()
        m = vma_at(b.address)
        assert m.end - m.start == 8 * MiB and r.vma_exact and r.vmas == 1
        assert "hg" in m.vmflags                               # MADV_HUGEPAGE reached the VMA
        assert r.resident_bytes == m.rss_bytes == 8 * MiB
        assert r.thp_bytes == m.anon_huge_bytes
        if "PAGEMAP_SCAN" in r.sources:
            assert sum(x.length_bytes for x in r.runs if x.kind == "thp") == r.thp_bytes
        if read_thp_mode() in ("always", "madvise"):
            # A fresh 24 GiB machine has free 2 MiB blocks: huge pages are got; if not, the report says why.
            assert r.thp_bytes > 0 or any("no huge pages" in n for n in r.notes)
        assert r.verdicts()[0].startswith(f"pages=thp: {r.thp_bytes} of {8 * MiB}")


def test_thp_asked_but_not_got_is_said():
    with buffer(4 * MiB, pages="thp") as b:
        b.advise("nohugepage")                                 # nothing faulted yet: no huge page can come
        b.numpy()[:] = 1
        r = b.report()
        assert vma_at(b.address).anon_huge_bytes == 0 and r.thp_bytes == 0
        assert r.resident_bytes == 4 * MiB
        assert any("no huge pages although THP was asked" in n for n in r.notes)
        assert {x.kind for x in r.runs} <= {"4k", "present"}


def test_hugetlb_with_an_empty_pool_explains_and_falls_back_only_when_asked():
    size = 1 << 30                                             # the 1 GiB pool is empty on these machines
    pool = find_pool(size)
    if pool is not None and pool.free > 0:
        pytest.fail("this test needs the 1 GiB hugetlb pool empty; release its pages first")
    with pytest.raises(MemdiveError) as ei:
        buffer(size, pages="hugetlb", hugetlb_size=size)
    e = ei.value
    if pool is not None:
        assert "no hugetlb pages for 1.0G" in e.msg and "0 available" in e.msg
        assert "hugepages-1048576kB/nr_hugepages" in e.hint and "fallback='thp'" in e.hint
    with buffer(2 * MiB, pages="hugetlb", hugetlb_size=size, fallback="thp") as b:
        assert b.strategy == "thp"
        assert any("fell back to thp as asked" in n for n in b.report().notes)


@requires_root
def test_hugetlb_buffer_with_reserved_pages_is_hugetlb_backed():
    path = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
    before = int(read_bytes(path))
    write_text(path, str(before + 3))
    try:
        if find_pool(2 * MiB).free < 3:
            pytest.fail("could not reserve 3 hugetlb pages of 2 MiB")
        with buffer(4 * MiB, pages="hugetlb", populate=True) as b:
            r = b.report()
            m = vma_at(b.address)
            assert r.strategy == "hugetlb" and r.kernel_page_size_bytes == 2 * MiB == m.kernel_page_size_bytes
            assert r.hugetlb_bytes == 4 * MiB == m.private_hugetlb_bytes
            assert r.resident_bytes == 4 * MiB
            assert {x.kind for x in r.runs} == {"hugetlb"}
            assert r.nodes_bytes == {0: 4 * MiB}
        with buffer(4 * MiB, pages="auto") as b:               # the pool has the pages: auto takes them
            assert b.strategy == "hugetlb"
    finally:
        now = int(read_bytes(path))
        write_text(path, str(max(0, now - 3)))


_LOCK_CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (1 << 20, 1 << 20))
    from memdive.alloc import buffer
    from memdive.errors import MemdiveError
    ok = buffer(256 << 10, lock=True)
    r = ok.report()
    out = {"locked": r.locked_bytes, "flag": "lo" in r.vmflags}
    try:
        buffer(4 << 20, lock=True)
        out["error"] = None
    except MemdiveError as e:
        out["error"], out["hint"] = e.msg, e.hint
    print(json.dumps(out))
""")


def test_lock_beyond_rlimit_memlock_explains_with_the_limit():
    # Root has CAP_IPC_LOCK, which ignores the limit: drop it (bounding and inheritable sets) for the child.
    argv = [sys.executable, "-c", _LOCK_CHILD]
    if is_root():
        argv = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", *argv]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["locked"] == 256 << 10 and out["flag"]
    assert out["error"] is not None, "mlock of 4 MiB under a 1 MiB RLIMIT_MEMLOCK succeeded"
    assert "exceeds RLIMIT_MEMLOCK (soft 1.0M, hard 1.0M; 256.0K already locked" in out["error"]
    assert "ulimit -l" in out["hint"] and "CAP_IPC_LOCK" in out["hint"]


def test_node0_is_verified_in_numa_maps():
    with buffer(4 * MiB, node=0, populate=True) as b:
        r = b.report()
        assert r.numa_policy == "bind:0" and r.nodes_bytes == {0: 4 * MiB}
        nm = [x for x in numa.read_numa_maps(os.getpid()) if x.start == b.address]
        assert nm and nm[0].policy == "bind:0"
        assert nm[0].pages_by_node.get(0, 0) * nm[0].page_size_bytes == 4 * MiB
        assert r.verdicts()[0].startswith(f"node=0: {4 * MiB} of {4 * MiB}")


@pytest.mark.parametrize("policy,shown", [("preferred", "prefer:0"), ("interleave", "interleave:0"),
                                          ("preferred_many", "prefer (many):0")])
def test_node_policy_modes_reach_numa_maps(policy, shown):
    with buffer(1 * MiB, node=0, policy=policy, populate=True) as b:
        nm = [x for x in numa.read_numa_maps(os.getpid()) if x.start == b.address]
        assert nm[0].policy == shown == b.report().numa_policy


def test_absent_or_memoryless_node_is_explained():
    with pytest.raises(InvalidInput, match="node 7 does not exist") as ei:
        buffer(4096, node=7)
    assert "nodes here: 0" in ei.value.hint
    with pytest.raises(InvalidInput, match="node 3 has no memory"):
        buffer(4096, node=3, root=KernelRoot.at(os.path.join(FIXTURES, "numa-4node")))
    with pytest.raises(InvalidInput):
        buffer(4096, node=-1)
    with pytest.raises(InvalidInput, match="policy"):
        buffer(4096, node=0, policy="local")


@requires_root
def test_pageout_drops_residency_to_swap(tmp_path):
    swap = tmp_path / "swapfile"
    subprocess.run(["dd", "if=/dev/zero", f"of={swap}", "bs=1M", "count=32", "status=none"], check=True)
    swap.chmod(0o600)
    subprocess.run(["mkswap", str(swap)], check=True, capture_output=True)
    subprocess.run(["swapon", str(swap)], check=True, capture_output=True)
    try:
        with buffer(4 * MiB, populate=True) as b:
            a = b.numpy("uint32")
            a[:] = np.arange(len(a), dtype=np.uint32)
            assert b.report().resident_bytes == 4 * MiB
            b.advise("pageout")
            r = b.report()
            m = vma_at(b.address)
            assert r.resident_bytes < MiB and r.resident_bytes == m.rss_bytes
            assert r.swapped_bytes == m.swap_bytes > 3 * MiB
            assert any(x.kind == "swapped" for x in r.runs)
            assert int(a[123456]) == 123456                     # swapped back in on access
            del a
    finally:
        subprocess.run(["swapoff", str(swap)], check=True, capture_output=True)


def test_pageout_without_swap_says_why():
    from memdive.kernel.sysmm import read_meminfo

    if read_meminfo().get("SwapTotal", 0):
        pytest.fail("this test needs a machine without swap (these machines have none)")
    with buffer(1 * MiB, populate=True) as b:
        b.advise("pageout")
        assert b.report().resident_bytes == MiB
        assert any("no swap is configured" in n for n in b.report().notes)


def test_views_numpy_close_and_guard_pages():
    b = buffer(100, align=1 << 16)
    assert b.address % (1 << 16) == 0 and len(b) == 100 and b.view.nbytes == 100
    arr = np.frombuffer(b.view, dtype=np.uint8)
    arr[:] = 7
    assert b.view[99] == 7 and b.exports() == 1
    with pytest.raises(BufferInUse, match="1 live view"):
        b.close()
    del arr
    m = vma_at(b.address)
    assert m.end - m.start == 4096 and b.report().vma_exact
    maps = {x.end: x for x in read_smaps(os.getpid())}
    assert maps[b.address].perms.startswith("---")               # the guard page below
    b.close()
    with pytest.raises(InvalidInput, match="closed"):
        _ = b.view
    assert all(x.start != m.start for x in read_smaps(os.getpid()))  # unmapped, guards included


def test_advice_refusals_are_explained():
    with buffer(1 * MiB, populate=True) as b:
        with pytest.raises(InvalidInput, match="MADV_REMOVE.*use 'dontneed'"):
            b.advise("remove")
        with pytest.raises(InvalidInput, match="unknown advice"):
            b.advise("fast")
        b.advise("dontneed")
        assert b.report().resident_bytes == 0
    with buffer(1 * MiB, lock=True) as b:
        assert b.report().locked_bytes == MiB
        with pytest.raises(InvalidInput, match="locked"):
            b.advise("dontneed")
        b.unlock()
        assert b.report().locked_bytes == 0


def test_cli_buffer_and_errors(memdive_cli):
    p = memdive_cli("alloc", "buffer", "4M", "--pages", "thp", "--populate", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["strategy"] == "thp" and r["resident_bytes"] == 4 * MiB and r["nodes_bytes"] == {"0": 4 * MiB}
    p = memdive_cli("alloc", "buffer", "1M", "--node", "7")
    assert p.returncode == 2 and "node 7 does not exist" in p.stderr and "Traceback" not in p.stderr
    p = memdive_cli("alloc", "buffer", "2M", "--pages", "4k", "--touch")
    assert p.returncode == 0, p.stderr
    assert "resident 2.0M" in p.stdout and "pages=4k -> 4k" in p.stdout and "THP 0B" in p.stdout


def _settings_tree(tmp_path, thp: str, free_2m: int):
    mm = tmp_path / "sys/kernel/mm"
    (mm / "transparent_hugepage").mkdir(parents=True)
    (mm / "transparent_hugepage/enabled").write_text(thp + "\n")
    d = mm / "hugepages/hugepages-2048kB"
    d.mkdir(parents=True)
    for k, v in (("nr_hugepages", free_2m), ("free_hugepages", free_2m), ("resv_hugepages", 0)):
        (d / k).write_text(f"{v}\n")
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("Hugepagesize:       2048 kB\n")
    return KernelRoot.at(str(tmp_path))


def test_settings_decide_and_the_notes_say_so(tmp_path):
    # Settings come from a fixture tree; the mappings are real.
    never = _settings_tree(tmp_path / "a", "always madvise [never]", 0)
    with buffer(4 * MiB, pages="thp", root=never) as b:
        assert any("THP is disabled" in n for n in b.notes)
    always = _settings_tree(tmp_path / "b", "[always] madvise never", 0)
    with buffer(4 * MiB, pages="4k", root=always) as b:
        assert "nh" in vma_at(b.address).vmflags              # MADV_NOHUGEPAGE reached the VMA
        assert any("NOHUGEPAGE" in n for n in b.notes)
    with buffer(1 * MiB, pages="auto", root=always) as b:
        assert b.strategy == "4k" and any("below 4.0M" in n for n in b.notes)
    # auto believes the (fixture) pool has pages; the real pool refuses: auto falls back, and says so.
    pool = find_pool(2 * MiB)
    if pool is not None and pool.free - pool.reserved >= 4:
        pytest.fail("this test needs the real 2 MiB hugetlb pool without 4 free pages")
    rich = _settings_tree(tmp_path / "c", "always [madvise] never", 64)
    with buffer(8 * MiB, pages="auto", root=rich) as b:
        assert b.strategy == "thp"
        assert any(n.startswith("auto: 64 free hugetlb pages") for n in b.notes)
        assert any("hugetlb failed" in n and "fell back to thp" in n for n in b.notes)


def test_unclosed_buffer_is_unmapped_with_its_last_view():
    import gc

    b = buffer(1 * MiB)
    addr = b.address
    v = b.view
    del b
    gc.collect()
    assert any(m.start == addr for m in read_smaps(os.getpid()))      # the view keeps the mapping
    v[0] = 1
    del v
    gc.collect()
    assert all(m.start != addr for m in read_smaps(os.getpid()))      # gone with the last view


def test_a_mapping_the_kernel_refuses_is_explained():
    with pytest.raises(MemdiveError, match="refused to map 200.0T .ENOMEM.") as ei:
        buffer(200 << 40)                                      # beyond the 128 TiB of user address space
    assert "overcommit_memory" in ei.value.hint
