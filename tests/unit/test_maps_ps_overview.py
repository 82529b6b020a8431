"""Analysis over records from fixture trees: mapping kinds, summaries, ps, the system overview."""

from __future__ import annotations

import pytest

from memdive.errors import KernelFeatureMissing, ParseError
from memdive.kernel import procfs, sysmm
from memdive.kernel.root import KernelRoot
from memdive.maps import kind_of, layout, select, summarize
from memdive.models.process import Mapping
from memdive.overview import system
from memdive.ps import aggregate, command_name, scan, sort_processes

from ..conftest import FIXTURES

NEW = KernelRoot.at(str(FIXTURES / "linux-6.18"))
OLD = KernelRoot.at(str(FIXTURES / "linux-4.9"))


def mk(name: str, perms: str = "rw-p", **kw) -> Mapping:
    return Mapping(start=0x1000, end=0x3000, perms=perms, offset=0, dev="00:00", inode=0, name=name, **kw)


@pytest.mark.parametrize("name,kind", [
    ("", "anon"), ("[heap]", "heap"), ("[stack]", "stack"), ("[vdso]", "vdso"), ("[vvar]", "vdso"),
    ("[vsyscall]", "vdso"), ("[anon:md name]", "named-anon"), ("[anon_shmem:x]", "shmem"),
    ("/memfd:md test (deleted)", "memfd"), ("/dev/shm/seg", "shmem"), ("/SYSV00000000 (deleted)", "shmem"),
    ("/dev/zero (deleted)", "shmem"), ("/tmp/gone (deleted)", "deleted"),
    ("/usr/lib/x86_64-linux-gnu/libc.so.6", "library"), ("/usr/lib/libfoo.so", "library"),
    ("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "library"), ("/tmp/a  b", "file"),
    ("/usr/bin/prog", "program"),
])
def test_kind_of(name, kind):
    assert kind_of(mk(name), exe="/usr/bin/prog") == kind


def test_summary_by_kind_and_file_on_fixture():
    maps = procfs.read_smaps(4242, OLD)
    s = summarize(maps, exe="/tmp/mo")
    kinds = {g.key: g for g in s.by_kind}
    assert {"program", "library", "file", "deleted", "memfd", "shmem", "stack", "vdso", "named-anon"} <= set(kinds)
    assert sum(g.rss_bytes for g in s.by_kind) == s.totals.rss_bytes == sum(m.rss_bytes for m in maps)
    assert kinds["named-anon"].swap_bytes == 4096 and kinds["named-anon"].swap_pss_bytes == 2048
    libc = next(g for g in s.by_file if "libc.so" in g.key)
    assert libc.count == sum(1 for m in maps if m.name == libc.key) >= 4    # a library's mappings together
    assert s.perms.executable_bytes == sum(m.length_bytes for m in maps if "x" in m.perms)
    assert s.counters["pss_dirty_bytes"] is None       # the old kernel lacks it: None, not 0


def test_select_filters_and_sorts():
    maps = procfs.read_smaps(4242, NEW)
    libs = select(maps, kinds={"library"}, sort="rss")
    assert libs and all(kind_of(m) == "library" for m in libs)
    assert [m.rss_bytes for m in libs] == sorted((m.rss_bytes for m in libs), reverse=True)
    big = select(maps, min_bytes=1 << 20)
    assert all(m.length_bytes >= 1 << 20 for m in big)


def test_layout_from_fixture():
    lay = layout(procfs.read_smaps(4242, NEW), procfs.read_stat(4242, NEW))
    names = [s.name for s in lay.segments]
    assert {"text", "data", "bss", "stack", "args", "env", "mmap", "vdso"} <= set(names)
    assert not lay.addresses_hidden
    st = procfs.read_stat(4242, NEW)
    text = next(s for s in lay.segments if s.name == "text")
    assert (text.start, text.end) == (st.start_code, st.end_code)


def test_layout_without_ptrace_access_says_so():
    st = procfs.read_stat(4242, NEW)._replace(start_code=0, end_code=0, start_stack=0, start_data=0,
                                              end_data=0, start_brk=0, arg_start=0, arg_end=0,
                                              env_start=0, env_end=0)
    lay = layout(procfs.read_smaps(4242, NEW), st)
    assert lay.addresses_hidden and "text" not in [s.name for s in lay.segments]


def test_ps_on_fixture_trees():
    res = scan(NEW)
    assert [p.pid for p in res.processes] == [4242] and res.processes[0].command.startswith("/tmp/mo")
    old = scan(OLD)
    # 4242 falls back to smaps; the zombie 4243 is skipped as vanished, never reported with zeros.
    assert [p.pid for p in old.processes] == [4242] and old.vanished == 1
    assert old.processes[0].rss_bytes == sum(m.rss_bytes for m in procfs.read_smaps(4242, OLD))
    assert old.processes[0].swap_pss_bytes == 2048 and old.processes[0].pss_anon_bytes is None


def test_ps_sort_and_aggregate():
    res = scan(NEW)
    p = res.processes[0]
    q = p._replace(pid=1, command="[kthreadd]", user="daemon", pss_bytes=p.pss_bytes * 3)
    r = p._replace(pid=2, command="/usr/bin/python3 -m x", pss_bytes=1)
    procs = sort_processes([p, q, r], "pss")
    assert [x.pid for x in procs] == [1, 4242, 2]
    by_user = {g.key: g for g in aggregate(procs, "user")}
    assert by_user["daemon"].count == 1 and by_user["root"].count == 2
    assert {g.key for g in aggregate(procs, "command")} == {"[kthreadd]", "mo", "python3"}
    assert command_name("/a/b/c --x") == "c"


def test_overview_on_fixture_tree():
    s = system(NEW, top=5)
    assert s.total_bytes > 0 and s.available_bytes is not None
    assert s.used_bytes == max(0, s.total_bytes - s.free_bytes - s.buffers_bytes - s.page_cache_bytes
                               - s.slab_reclaimable_bytes)
    assert s.pressure is not None and s.pressure.full is not None
    assert {p.page_size_bytes for p in s.hugetlb_pools} == {2 << 20, 1 << 30}
    assert "pgfault" in s.vmstat["faults"] and "oom_kill" in s.vmstat["oom"]
    assert [p.pid for p in s.top] == [4242]


def test_overview_without_psi_degrades():
    s = system(OLD, top=0)
    assert s.pressure is None and "PSI" in s.pressure_unavailable
    with pytest.raises(KernelFeatureMissing):
        sysmm.read_pressure(OLD)


def test_sysmm_parsers_reject_garbage():
    with pytest.raises(ParseError):
        sysmm.parse_meminfo(b"MemFree: lots kB\n")
    with pytest.raises(ParseError):
        sysmm.parse_meminfo(b"MemFree: 10 kB\n")        # truncated: no MemTotal
    with pytest.raises(ParseError):
        sysmm.parse_vmstat(b"pgfault\n")
    with pytest.raises(ParseError):
        sysmm.parse_pressure(b"some avg10=x\n")
    p = sysmm.parse_pressure(b"some avg10=1.50 avg60=0.00 avg300=0.00 total=12\n")
    assert p.some.avg10 == 1.5 and p.full is None     # kernels that print only "some"
    mi = sysmm.parse_meminfo(b"MemTotal: 100 kB\nHugePages_Total: 3\n")
    assert mi.total_bytes == 102400 and mi.get("HugePages_Total") == 3
