"""Renderers for `memdive ctl`: OOM score, limits, overcommit."""

from __future__ import annotations

from ..models.ctl import Limit, Limits, LockNeed, OomInfo, Overcommit
from .tables import table
from .text import escape, human_bytes, pct


def oom_text(o: OomInfo, before: OomInfo | None = None) -> list[str]:
    lines = [f"PID {o.pid} ({escape(o.comm, 64)})  oom_score {o.oom_score}  oom_score_adj {o.oom_score_adj}"]
    if before is not None:
        lines.append(f"  oom_score_adj {before.oom_score_adj} -> {o.oom_score_adj}; "
                     f"oom_score {before.oom_score} -> {o.oom_score}")
    if o.oom_score_adj == -1000:
        lines.append("  never chosen by the OOM killer (oom_score_adj -1000)")
    elif o.oom_score_adj == 1000:
        lines.append("  always chosen first by the OOM killer (oom_score_adj 1000)")
    return lines


def _lim(v: int | None, name: str) -> str:
    return "unlimited" if v is None else human_bytes(v)


def limit_change(before: Limit, after: Limit) -> str:
    return (f"{after.name}: soft {_lim(before.soft, '')} -> {_lim(after.soft, '')}, "
            f"hard {_lim(before.hard, '')} -> {_lim(after.hard, '')}")


def limits_table(lim: Limits, need: LockNeed | None = None):
    rows = [(k.upper() if k != "as" else "AS", _lim(v.soft, k), _lim(v.hard, k),
             {"memlock": "mlock/mlockall, MAP_LOCKED, SHM_LOCK (not with CAP_IPC_LOCK)",
              "as": "total virtual address space (mmap/brk fail with ENOMEM)",
              "data": "data+heap+private writable mappings (since 4.7)",
              "stack": "main thread stack; also sets the mmap base (gap below it)",
              "rss": "ignored by Linux since 2.6"}.get(k, ""))
            for k, v in lim.limits.items()]
    out = [(f"PID {lim.pid} ({escape(lim.comm, 64)})  locked {human_bytes(lim.locked_bytes)}  pinned "
            f"{human_bytes(lim.pinned_bytes)}  CAP_IPC_LOCK {'yes' if lim.cap_ipc_lock else 'no'}"),
           "personality: " + ("n/a (reading it needs ptrace access: root)" if lim.personality is None else
                              f"0x{lim.personality:x}" + (f" ({', '.join(lim.personality_flags)})"
                                                          if lim.personality_flags else "")),
           table("Memory limits (RLIMIT_*)", ["limit", "soft", "hard", "what it bounds"], rows, right=(1, 2))]
    if need is not None:
        out.append(f"Locking {human_bytes(need.size_bytes)} more: {need.reason}")
    return out


def overcommit_table(o: Overcommit):
    rows = [
        ("vm.overcommit_memory", f"{o.policy} ({o.policy_name})"),
        ("vm.overcommit_ratio", f"{o.ratio_percent}%" + (" (unused: overcommit_kbytes is set)" if o.kbytes else "")),
        ("vm.overcommit_kbytes", f"{o.kbytes}"),
        ("vm.admin_reserve_kbytes", human_bytes(o.admin_reserve_bytes)),
        ("vm.user_reserve_kbytes", human_bytes(o.user_reserve_bytes)),
        ("CommitLimit", human_bytes(o.commit_limit_bytes)),
        ("Committed_AS", (f"{human_bytes(o.committed_as_bytes)} "
                          f"({pct(o.committed_as_bytes, o.commit_limit_bytes)} of CommitLimit)")),
        ("MemTotal / SwapTotal", f"{human_bytes(o.mem_total_bytes)} / {human_bytes(o.swap_total_bytes)}"),
    ]
    return [table("Overcommit", ["setting", "value"], rows), o.explanation]
