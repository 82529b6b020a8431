"""memdive alloc compare on a small C workload, with the allocators .ci/run installs (scripts/debian-test-packages.txt)."""

from __future__ import annotations

import json

import pytest

import memdive.alloc.compare as cmp
from memdive.alloc import compare_allocators

ALL = ["glibc", "jemalloc", "tcmalloc", "mimalloc"]


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    import subprocess
    from pathlib import Path

    exe = tmp_path_factory.mktemp("allocw") / "alloc_workload"
    src = Path(__file__).parents[1] / "helpers" / "alloc_workload.c"
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(exe), str(src)], check=True, capture_output=True)
    return str(exe)


def test_every_installed_allocator_really_serves_malloc(workload):
    missing = [a for a in cmp.allocators(ALL) if not a.present]
    assert not missing, "apt-get install " + " ".join(a.package for a in missing)
    res = compare_allocators([workload, "3", "2"], ALL, repeat=2)
    assert [s.allocator for s in res.summaries] == ALL and res.baseline == "glibc"
    assert len(res.runs) == 8 and {r.round for r in res.runs} == {0, 1}
    # Rounds alternate allocators, rotated: each round starts with a different one.
    assert res.runs[0].allocator != res.runs[4].allocator
    for s in res.summaries:
        assert s.verified, (s.allocator, s.malloc_library)       # dladdr(malloc) in the target says so
        assert s.failures == 0
        assert s.peak_rss_bytes > 4 << 20                        # 2 x 2048 live blocks of ~2 KiB at least
        assert 0 < s.rss_at_exit_bytes <= s.peak_rss_bytes + (1 << 20)
        assert s.minor_faults > 100 and s.wall_seconds > 0 and s.user_seconds > 0
    glibc = res.summaries[0]
    assert glibc.wall_ratio == 1.0 and glibc.malloc_library.split("/")[-1].startswith("libc.so")
    assert res.summaries[1].malloc_library.endswith("libjemalloc.so.2")
    assert res.notes == ()


def test_exit_without_destructors_is_reported_not_guessed(workload):
    res = compare_allocators([workload, "1", "1", "_exit"], ["glibc", "jemalloc"], repeat=1)
    for s in res.summaries:
        assert s.rss_at_exit_bytes is None and not s.verified and s.peak_rss_bytes > 0
    assert any("did not report" in n for n in res.notes)


def test_failing_command_and_missing_library_are_listed(workload):
    res = compare_allocators(["false"], ["glibc", "mine=/nonexistent/libmymalloc.so"], repeat=2)
    assert res.summaries[0].failures == 2 and any("2 of 2 runs failed (exit 1)" in n for n in res.notes)
    assert [m.name for m in res.missing] == ["mine"]


def test_cli_compare_json_and_table(workload, memdive_cli):
    p = memdive_cli("alloc", "compare", "--json", "--repeat", "1", "--allocators", "glibc,jemalloc", "--",
                    workload, "1", "1")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert [s["allocator"] for s in r["summaries"]] == ["glibc", "jemalloc"]
    assert all(s["verified"] and s["peak_rss_bytes"] > 0 for s in r["summaries"])
    p = memdive_cli("alloc", "compare", "--repeat", "1", "--allocators", "glibc,tcmalloc", "--", workload, "1")
    assert p.returncode == 0, p.stderr
    assert "RSS at exit" in p.stdout and "tcmalloc" in p.stdout and "fastest:" in p.stdout
    p = memdive_cli("alloc", "compare", "--allocators", "glibc,nosuch", "--", workload)
    assert p.returncode == 2 and "unknown allocator 'nosuch'" in p.stderr
    p = memdive_cli("alloc", "compare", "--")
    assert p.returncode == 2 and "no command given" in p.stderr
    p = memdive_cli("alloc", "allocators", "--json")
    assert p.returncode == 0 and {a["name"] for a in json.loads(p.stdout)} == set(ALL)


def test_a_run_past_the_timeout_is_killed_and_said():
    import time

    from memdive.errors import MemdiveError

    t = time.perf_counter()
    with pytest.raises(MemdiveError, match="sleep under glibc ran longer than 0.3 s: killed"):
        compare_allocators(["sleep", "30"], ["glibc"], repeat=1, timeout=0.3)
    assert time.perf_counter() - t < 5
