"""Parsers of /proc/PID files on bytes captured from Linux 6.18 and hand-made older-kernel fixtures."""

from __future__ import annotations

import pytest

from memdive.errors import ParseError, ZombieProcess
from memdive.kernel import procfs
from memdive.kernel.root import KernelRoot
from memdive.models.process import COUNTER_FIELDS

from ..conftest import FIXTURES

NEW = KernelRoot.at(str(FIXTURES / "linux-6.18"))
OLD = KernelRoot.at(str(FIXTURES / "linux-4.9"))


def raw(root: KernelRoot, name: str) -> bytes:
    with open(f"{root.proc}/4242/{name}", "rb") as f:
        return f.read()


def test_smaps_captured_counters_match_rollup():
    maps = procfs.parse_smaps(raw(NEW, "smaps"))
    roll = procfs.parse_smaps_rollup(raw(NEW, "smaps_rollup"), 4242)
    assert len(maps) == len(raw(NEW, "maps").splitlines())
    # smaps_rollup is the kernel's own sum of smaps: every counter must agree.
    for name in COUNTER_FIELDS:
        if all(getattr(m, name) is None for m in maps):
            # Pss_Anon/File/Shmem are printed only in the rollup
            assert name in ("pss_anon_bytes", "pss_file_bytes", "pss_shmem_bytes"), name
            continue
        total = sum(getattr(m, name) or 0 for m in maps)
        assert getattr(roll, name) == total or name.startswith("pss"), name
        if name.startswith("pss"):  # rollup sums PSS before rounding to kB: within 1 kB per mapping
            assert abs(getattr(roll, name) - total) <= 1024 * len(maps), name
    assert roll.rss_bytes > 0 and roll.pss_dirty_bytes is not None


def test_odd_names_round_trip():
    names = [m.name for m in procfs.parse_smaps(raw(NEW, "smaps"))]
    assert any(n.endswith("/a  b") for n in names)          # double space kept
    assert any(n.endswith("/new\\012line") for n in names)  # kernel escapes the newline
    assert any(n.endswith("/gone (deleted)") for n in names)
    assert "/memfd:md test (deleted)" in names
    assert "/dev/zero (deleted)" in names
    assert "" in names and "[stack]" in names and "[vdso]" in names


def test_smaps_fields_and_vmflags():
    maps = procfs.parse_smaps(raw(NEW, "smaps"))
    stack = next(m for m in maps if m.name == "[stack]")
    assert stack.vmflags and "gd" in stack.vmflags and "stack-grows-down" in stack.vmflag_words
    assert stack.size_bytes == stack.length_bytes
    assert stack.kernel_page_size_bytes == 4096
    assert stack.thp_eligible in (True, False)
    assert stack.uss_bytes == (stack.private_clean_bytes + stack.private_dirty_bytes)
    assert all(m.readable == (m.perms[0] == "r") for m in maps)


def test_old_kernel_smaps_missing_counters_are_none_not_zero():
    maps = procfs.parse_smaps(raw(OLD, "smaps"))
    m = maps[0]
    assert m.pss_dirty_bytes is None and m.pss_anon_bytes is None and m.thp_eligible is None
    assert m.rss_bytes is not None
    named = next(m for m in maps if m.name == "[anon:md name]")
    assert named.vmflags == ()                        # empty VmFlags line
    assert named.swap_bytes == 4096 and named.swap_pss_bytes == 2048   # SwapPss never counted as Swap


def test_rollup_falls_back_to_smaps_when_missing():
    r = procfs.read_smaps_rollup(4242, OLD)
    maps = procfs.read_smaps(4242, OLD)
    assert r.source == "smaps"
    assert r.rss_bytes == sum(m.rss_bytes for m in maps)
    assert r.swap_bytes == 4096 and r.swap_pss_bytes == 2048
    assert r.pss_dirty_bytes is None                  # absent everywhere stays None


def test_zombie_is_reported_as_zombie():
    with pytest.raises(ZombieProcess):
        procfs.read_smaps(4243, OLD)
    with pytest.raises(ZombieProcess):
        procfs.read_smaps_rollup(4243, OLD)


@pytest.mark.parametrize("data", [
    b"garbage\n",
    b"00400000-00452000 r-xp 00000000 08:02 173521 /bin/x\nRss: lots kB\n",
    b"Rss: 4 kB\n",
    b"00400000-00452000 r-xp zz 08:02 173521 /bin/x\n",
])
def test_smaps_garbage_is_a_parse_error(data):
    with pytest.raises(ParseError) as e:
        procfs.parse_smaps(data, "/proc/1/smaps")
    assert "/proc/1/smaps" in str(e.value)


def test_rollup_truncated_is_a_parse_error():
    data = raw(NEW, "smaps_rollup")
    with pytest.raises(ParseError):
        procfs.parse_smaps_rollup(data[: data.index(b"Rss:") + 8], 1)
    with pytest.raises(ParseError):
        procfs.parse_smaps_rollup(b"", 1)
    with pytest.raises(ParseError):
        procfs.parse_smaps_rollup(data.replace(b"kB", b"MB", 1), 1)


def test_rollup_unknown_keys_ignored():
    data = raw(NEW, "smaps_rollup") + b"FutureCounter:        12 kB\n"
    r = procfs.parse_smaps_rollup(data, 1)
    assert r.rss_bytes == procfs.parse_smaps_rollup(raw(NEW, "smaps_rollup"), 1).rss_bytes


def test_stat_comm_with_parens_and_spaces():
    st = procfs.parse_stat(b"77 (a) b (c)) S 1 77 77 0 -1 4194560 10 0 2 0 0 0 0 0 20 0 1 0 99 1000 5 "
                           + b" ".join([b"0"] * 27))
    assert st.pid == 77 and st.comm == "a) b (c)" and st.state == "S"
    assert st.minflt == 10 and st.majflt == 2 and st.starttime_ticks == 99 and st.vsize_bytes == 1000
    with pytest.raises(ParseError):
        procfs.parse_stat(b"77 (x) S 1 2")


def test_status_parsed_in_bytes():
    s = procfs.parse_status(raw(NEW, "status"), 4242)
    assert s.pid == 4242 and s.uid == 0 and s.vm["VmRSS"] % 1024 == 0 and s.vm["VmRSS"] > 0
    assert "Cpus_allowed_list" in s.other
    with pytest.raises(ParseError):
        procfs.parse_status(b"Name:\tx\n", 1)


def test_maps_parse_and_cmdline():
    maps = procfs.parse_maps(raw(NEW, "maps"))
    assert all(m.rss_bytes is None for m in maps)
    assert procfs.parse_cmdline(b"a\0b c\0") == ["a", "b c"]
    assert procfs.parse_cmdline(b"") == []


def test_cgroup_v1_memory_line_preferred():
    root = NEW
    assert procfs.read_cgroup(4242, root).startswith("/")


def test_column_parser_equals_line_parser():
    data = raw(NEW, "smaps")
    lines = data.split(b"\n")[:-1]
    fast = procfs._parse_smaps_columns(lines, "smaps")
    assert fast is not None and fast == procfs._parse_smaps_general(lines, "smaps")


def test_mixed_block_layouts_fall_back_to_line_parser():
    data = raw(OLD, "smaps")
    lines = data.split(b"\n")[:-1]
    assert procfs._parse_smaps_columns(lines, "smaps") == procfs._parse_smaps_general(lines, "smaps")
    # One block without its Locked line: blocks differ, the column parser declines, the result is right.
    i = data.index(b"Locked:")
    mixed = data[:i] + data[data.index(b"\n", i) + 1:]
    lines = mixed.split(b"\n")[:-1]
    assert procfs._parse_smaps_columns(lines, "smaps") is None
    maps = procfs.parse_smaps(mixed)
    assert maps[0].locked_bytes is None and maps[1].locked_bytes == 0
    assert maps == procfs._parse_smaps_general(lines, "smaps")


def test_column_parser_rejects_bad_values():
    data = raw(NEW, "smaps").replace(b"Rss:                   4 kB", b"Rss:                   x kB", 1)
    with pytest.raises(ParseError):
        procfs.parse_smaps(data)
