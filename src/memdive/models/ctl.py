"""Records of the kernel's memory controls for a process: OOM score, resource limits, overcommit."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class OomInfo:
    """/proc/PID/oom_score (0..2000 badness the OOM killer uses) and oom_score_adj (-1000..1000)."""

    pid: int
    comm: str
    oom_score: int
    oom_score_adj: int
    start_ticks: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """One rlimit; None = unlimited (RLIM_INFINITY)."""

    name: str          # "memlock", "as", "data", "stack", "rss"
    soft: int | None
    hard: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """A process's memory rlimits (bytes), its locked and pinned memory, and whether it may lock beyond
    RLIMIT_MEMLOCK (CAP_IPC_LOCK in its effective set)."""

    pid: int
    comm: str
    limits: dict[str, Limit]
    locked_bytes: int = 0          # VmLck
    pinned_bytes: int = 0          # VmPin
    cap_ipc_lock: bool = False
    uid: int = 0
    personality: int | None = None   # /proc/PID/personality (None: needs ptrace-attach access)
    personality_flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LockNeed:
    """What locking `size_bytes` more would need in a process."""

    size_bytes: int
    locked_bytes: int
    limit_bytes: int | None       # soft RLIMIT_MEMLOCK (None = unlimited)
    hard_bytes: int | None
    allowed: bool
    needed_limit_bytes: int       # the soft limit that would allow it
    reason: str                   # one sentence


@dataclass(frozen=True, slots=True, kw_only=True)
class Overcommit:
    """vm.overcommit_* and the commit accounting from /proc/meminfo (bytes)."""

    policy: int                   # 0 heuristic, 1 always, 2 strict (never)
    ratio_percent: int
    kbytes: int                   # overcommit_kbytes (used instead of the ratio when non-zero)
    admin_reserve_bytes: int | None
    user_reserve_bytes: int | None
    commit_limit_bytes: int
    committed_as_bytes: int
    mem_total_bytes: int
    swap_total_bytes: int
    hugetlb_bytes: int = 0
    explanation: str = ""
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def policy_name(self) -> str:
        return {0: "heuristic", 1: "always", 2: "strict"}.get(self.policy, str(self.policy))
