"""The kernel's memory controls for a process (choom, prlimit, setarch -R, sysctl vm.overcommit_*).

    memdive.ctl.oom(pid)                        OomInfo (oom_score, oom_score_adj)
    memdive.ctl.set_oom(pid, adj)               (before, after), written through the pinned process
    memdive.ctl.limits(pid)                     Limits (RLIMIT_MEMLOCK/AS/DATA/STACK/RSS, VmLck, CAP_IPC_LOCK)
    memdive.ctl.lock_need(limits, size)         LockNeed: what locking SIZE more would need
    memdive.ctl.set_limit(pid, "memlock", soft) (before, after)
    memdive.ctl.overcommit()                    Overcommit (policy, ratio/kbytes, CommitLimit, Committed_AS)
    memdive.ctl.set_overcommit(name, value)     write one vm.overcommit_* sysctl
    memdive.ctl.exec_with_controls(cmd, no_aslr=True, memlock=..., oom_score_adj=...)   then exec
"""

from __future__ import annotations

from ..kernel.ctl import lock_need, read_limits as limits, read_oom as oom, read_overcommit as overcommit
from ..kernel.ctl import set_limit, set_oom_score_adj as set_oom, write_overcommit as set_overcommit
from .run import exec_with_controls, prepare_controls

__all__ = ["oom", "set_oom", "limits", "lock_need", "set_limit", "overcommit", "set_overcommit",
           "exec_with_controls", "prepare_controls"]
