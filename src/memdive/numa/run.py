"""Run a command under a memory policy and CPU affinity (numactl's job): set both, then exec."""

from __future__ import annotations

import os
import sys

from ..errors import InvalidInput
from ..kernel import numa as knuma
from ..models.numa import MemPolicy
from .topology import nodes as read_nodes
from .topology import parse_nodes_arg


def prepare_policy(*, membind: str | None = None, interleave: str | None = None, preferred: str | None = None,
                   localalloc: bool = False, cpunodebind: str | None = None,
                   physcpubind: str | None = None) -> tuple[MemPolicy | None, tuple[int, ...] | None]:
    """Validate the options against this machine's nodes: (policy to set, CPUs to bind) — nothing set yet."""
    chosen = [x for x in (membind, interleave, preferred) if x is not None] + ([True] if localalloc else [])
    if len(chosen) > 1:
        raise InvalidInput("choose one of --membind, --interleave, --preferred, --localalloc")
    ns = read_nodes()
    policy = None
    if membind is not None:
        policy = MemPolicy(mode="bind", nodes=parse_nodes_arg(membind, ns, need_memory=True, what="--membind"))
    elif interleave is not None:
        policy = MemPolicy(mode="interleave",
                           nodes=parse_nodes_arg(interleave, ns, need_memory=True, what="--interleave"))
    elif preferred is not None:
        sel = parse_nodes_arg(preferred, ns, need_memory=True, what="--preferred")
        policy = MemPolicy(mode="preferred" if len(sel) == 1 else "preferred_many", nodes=sel)
    elif localalloc:
        policy = MemPolicy(mode="local")
    cpus: tuple[int, ...] | None = None
    if cpunodebind is not None and physcpubind is not None:
        raise InvalidInput("choose one of --cpunodebind and --physcpubind")
    if cpunodebind is not None:
        sel = parse_nodes_arg(cpunodebind, ns, what="--cpunodebind")
        cpus = tuple(sorted({c for n in ns if n.id in sel for c in n.cpus}))
        if not cpus:
            raise InvalidInput(f"NUMA node(s) {cpunodebind} have no CPUs")
    elif physcpubind is not None:
        try:
            cpus = knuma.parse_list(physcpubind, "--physcpubind")
        except InvalidInput:
            raise InvalidInput(f"not a CPU list: {physcpubind!r}") from None
        online = {c for n in ns for c in n.cpus}
        bad = [c for c in cpus if online and c not in online]
        if bad or not cpus:
            raise InvalidInput(f"CPU {bad[0] if bad else physcpubind} is not online")
    return policy, cpus


def apply_policy(policy: MemPolicy | None, cpus: tuple[int, ...] | None) -> None:
    """Set the calling thread's memory policy and affinity (both survive execve)."""
    if policy is not None:
        knuma.set_mempolicy(policy.mode, policy.nodes)
    if cpus is not None:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError as e:
            raise InvalidInput(f"sched_setaffinity({cpus}): {os.strerror(e.errno or 0)}") from None


def check_command(cmd: list[str]) -> None:
    """Before changing anything: the command exists and is executable."""
    import shutil

    if not cmd:
        raise InvalidInput("no command given (put it after --)")
    # a path is left to execvp (access(2) can refuse what exec allows); a bare name is looked up on PATH
    if "/" not in cmd[0] and shutil.which(cmd[0]) is None:
        raise InvalidInput(f"command not found: {cmd[0]}")


def exec_argv(cmd: list[str]) -> None:
    """execvp the command (never returns); a missing command is a one-line error."""
    check_command(cmd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(cmd[0], cmd)
    except FileNotFoundError:
        raise InvalidInput(f"command not found: {cmd[0]}") from None
    except PermissionError:
        raise InvalidInput(f"cannot execute {cmd[0]}: permission denied") from None
    except OSError as e:
        raise InvalidInput(f"cannot execute {cmd[0]}: {os.strerror(e.errno or 0)}") from None


def exec_with_policy(cmd: list[str], **opts) -> None:
    """numactl for a whole program: validate, set policy and affinity, exec `cmd` (never returns)."""
    check_command(cmd)
    policy, cpus = prepare_policy(**opts)
    apply_policy(policy, cpus)
    exec_argv(cmd)
