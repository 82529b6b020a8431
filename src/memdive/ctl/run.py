"""Run a command with ASLR off, memory limits and an OOM score set (setarch -R, prlimit, choom), then exec."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidInput
from ..kernel import ctl as kctl


@dataclass(frozen=True, slots=True, kw_only=True)
class Controls:
    no_aslr: bool = False
    legacy_layout: bool = False
    oom_score_adj: int | None = None
    limits: dict[str, int | None] = field(default_factory=dict)   # name -> soft (None = unlimited)


def prepare_controls(*, no_aslr: bool = False, legacy_layout: bool = False, oom_score_adj: int | None = None,
                     limits: dict[str, int | None] | None = None, memlock: int | None = None) -> Controls:
    """Validate everything before anything is changed. `limits`: name (memlock, as, data, stack) -> soft
    limit in bytes, None = unlimited; `memlock` is a shorthand for limits={"memlock": N}."""
    if oom_score_adj is not None:
        kctl.check_oom_adj(oom_score_adj)
    lims = dict(limits or {})
    if memlock is not None:
        lims["memlock"] = memlock
    for k, v in lims.items():
        kctl._rlim(k)
        if v is not None and v < 0:
            raise InvalidInput(f"--{k} must not be negative")
    return Controls(no_aslr=no_aslr, legacy_layout=legacy_layout, oom_score_adj=oom_score_adj, limits=lims)


def apply_controls(c: Controls) -> None:
    """Set them on the calling process (all survive execve; personality flags too, ADDR_NO_RANDOMIZE included)."""
    import os

    if c.limits:
        kctl.set_limits(os.getpid(), {name: (soft, None) for name, soft in c.limits.items()})
    if c.oom_score_adj is not None:
        kctl.set_own_oom_score_adj(c.oom_score_adj)
    flags = (kctl.ADDR_NO_RANDOMIZE if c.no_aslr else 0) | (kctl.ADDR_COMPAT_LAYOUT if c.legacy_layout else 0)
    if flags:
        kctl.personality(kctl.personality() | flags)


def exec_with_controls(cmd: list[str], **opts) -> None:
    """Validate, set, exec `cmd` (never returns)."""
    from ..numa.run import check_command, exec_argv

    check_command(cmd)
    c = prepare_controls(**opts)
    apply_controls(c)
    exec_argv(cmd)
