"""ctl parsers and decisions on fixture trees and records. No processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from memdive.errors import InvalidInput
from memdive.kernel import ctl as kctl
from memdive.kernel.root import KernelRoot
from memdive.models.ctl import Limit, Limits

FIX = Path(__file__).parent.parent / "fixtures" / "ctl-basic"
R = KernelRoot.at(str(FIX))
MB = 1 << 20


def test_overcommit_from_fixture():
    o = kctl.read_overcommit(R)
    assert o.policy == 2 and o.policy_name == "strict" and o.ratio_percent == 80 and o.kbytes == 0
    assert o.commit_limit_bytes == 14800000 * 1024 and o.committed_as_bytes == 11100000 * 1024
    assert o.admin_reserve_bytes == 8192 * 1024 and o.user_reserve_bytes == 131072 * 1024
    assert "strict" in o.explanation and "80% of RAM" in o.explanation and "75%" in o.explanation


def test_explanations_differ_by_policy():
    assert "always" in kctl.explain_overcommit(1, 50, 0, 100, 10)
    assert "heuristic" in kctl.explain_overcommit(0, 50, 0, 100, 10)
    assert "4096 kB" in kctl.explain_overcommit(2, 50, 4096, 100, 10)


def test_limits_file_and_pinned_reads_from_fixture():
    lim = kctl.parse_limits_file((FIX / "proc/77/limits").read_bytes())
    assert lim["memlock"] == Limit(name="memlock", soft=8 * MB, hard=8 * MB)
    assert lim["stack"].soft == 8 * MB and lim["stack"].hard is None and lim["as"].soft is None
    full = kctl.read_limits(77, R)
    assert full.locked_bytes == 4 * MB and not full.cap_ipc_lock and full.uid == 1000 and full.comm == "worker"
    o = kctl.read_oom(77, R)
    assert (o.oom_score, o.oom_score_adj, o.start_ticks, o.comm) == (900, 250, 5555, "worker")
    assert kctl.personality_flags(kctl.read_personality(77, R)) == ["ADDR_NO_RANDOMIZE"]


def test_pin_refuses_a_changed_start_time():
    from memdive.errors import NoSuchProcess

    with pytest.raises(NoSuchProcess, match="reused"):
        kctl.Pinned(77, R, expect_start=1234)
    with pytest.raises(NoSuchProcess):
        kctl.Pinned(78, R)


def _limits(memlock_soft, memlock_hard, locked, cap=False):
    return Limits(pid=1, comm="x", limits={"memlock": Limit(name="memlock", soft=memlock_soft, hard=memlock_hard)},
                  locked_bytes=locked, cap_ipc_lock=cap)


def test_lock_need():
    n = kctl.lock_need(_limits(8 * MB, 8 * MB, 4 * MB), 2 * MB)
    assert n.allowed and n.needed_limit_bytes == 6 * MB
    n = kctl.lock_need(_limits(8 * MB, 8 * MB, 4 * MB), 6 * MB)
    assert not n.allowed and n.needed_limit_bytes == 10 * MB and "hard limit" in n.reason
    n = kctl.lock_need(_limits(8 * MB, None, 0), 64 * MB)
    assert not n.allowed and "soft limit" in n.reason
    assert kctl.lock_need(_limits(8 * MB, 8 * MB, 0, cap=True), 1 << 30).allowed
    assert kctl.lock_need(_limits(None, None, 0), 1 << 40).allowed
    assert kctl.lock_need(_limits(8 * MB, 8 * MB, 0), 1).needed_limit_bytes == 4096


def test_validation_before_any_write():
    for bad in (-1001, 1001, 5000):
        with pytest.raises(InvalidInput, match="out of range"):
            kctl.check_oom_adj(bad)
    with pytest.raises(InvalidInput, match="out of range"):
        kctl.write_overcommit("overcommit_memory", 3, R)
    with pytest.raises(InvalidInput, match="unknown overcommit"):
        kctl.write_overcommit("swappiness", 3, R)
    assert (FIX / "proc/sys/vm/overcommit_memory").read_text() == "2\n"
    from memdive.ctl import prepare_controls

    with pytest.raises(InvalidInput):
        prepare_controls(oom_score_adj=2000)
    with pytest.raises(InvalidInput, match="unknown limit"):
        prepare_controls(limits={"cpu": 1})
    c = prepare_controls(no_aslr=True, memlock=MB, limits={"as": None})
    assert c.limits == {"as": None, "memlock": MB} and c.no_aslr






def test_overcommit_writes_put_back_when_one_is_refused(tmp_path):
    import shutil

    tree = tmp_path / "t"
    shutil.copytree(FIX, tree)
    vm = tree / "proc/sys/vm"
    ro = Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")   # readable number, writes refused
    (vm / "overcommit_kbytes").unlink()
    (vm / "overcommit_kbytes").symlink_to(ro)
    r = KernelRoot.at(str(tree))
    from memdive.errors import MemdiveError

    with pytest.raises(MemdiveError, match="overcommit_kbytes"):
        kctl.set_overcommit_many({"overcommit_memory": 0, "overcommit_ratio": 60, "overcommit_kbytes": 5}, r)
    assert (vm / "overcommit_ratio").read_text() == "80\n" and (vm / "overcommit_memory").read_text() == "2\n"
    old = kctl.set_overcommit_many({"overcommit_memory": 1, "overcommit_ratio": 60}, r)
    assert old == {"overcommit_ratio": 80, "overcommit_memory": 2}
    o = kctl.read_overcommit(r)
    assert (o.policy, o.ratio_percent) == (1, 60)
