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

from .. import _lazy_getattr

_LAZY = {"oom": ("memdive.kernel.ctl", "read_oom"), "set_oom": ("memdive.kernel.ctl", "set_oom_score_adj"),
         "limits": ("memdive.kernel.ctl", "read_limits"), "lock_need": ("memdive.kernel.ctl", "lock_need"),
         "set_limit": ("memdive.kernel.ctl", "set_limit"), "set_limits": ("memdive.kernel.ctl", "set_limits"), "overcommit": ("memdive.kernel.ctl", "read_overcommit"),
         "set_overcommit": ("memdive.kernel.ctl", "write_overcommit"),
         "set_overcommit_many": ("memdive.kernel.ctl", "set_overcommit_many"),
         "exec_with_controls": ("memdive.ctl.run", "exec_with_controls"),
         "prepare_controls": ("memdive.ctl.run", "prepare_controls")}
__all__ = list(_LAZY)


__getattr__ = _lazy_getattr(__name__, _LAZY)   # imported on first use
