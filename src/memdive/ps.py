"""Which processes hold the machine's memory: smem's table, faster.

One pass over /proc (memdive.kernel.procfs.scan_rollups): for each PID, smaps_rollup (smaps where it
is missing or fails), the owner from an fstat of the open file, and the command line. Processes that
vanish mid-scan are skipped and counted; those that may not be read are counted and reported once
with the hint.
"""

from __future__ import annotations

from collections import namedtuple

from .errors import AccessDenied, NoSuchProcess
from .kernel import procfs
from .kernel.io import ROOT_HINT
from .kernel.root import KernelRoot, resolve


class ProcessMemory(namedtuple("ProcessMemory", "pid uid user command rss_bytes pss_bytes uss_bytes swap_bytes "
                                "swap_pss_bytes pss_anon_bytes pss_file_bytes pss_shmem_bytes cgroup",
                                defaults=(None,))):
    """One process's memory. command: cmdline joined by spaces, or "[comm]" when it has none.
    swap_pss_bytes/pss_*_bytes are None on kernels that lack them; cgroup only when asked for."""

    __slots__ = ()


class GroupMemory(namedtuple("GroupMemory", "key count rss_bytes pss_bytes uss_bytes swap_bytes swap_pss_bytes")):
    """Totals over a group of processes (a user, a command name, a cgroup, or all)."""

    __slots__ = ()


class PsResult(namedtuple("PsResult", "processes denied vanished hint errors", defaults=(0, 0, None, ()))):
    """A scan: the processes read; how many could not be read (denied) or exited mid-scan (vanished);
    the hint for the denied; malformed files, named."""

    __slots__ = ()

    def totals(self) -> GroupMemory:
        return totals(self.processes)


_users: dict[int, str] = {}


def user_name(uid: int) -> str:
    name = _users.get(uid)
    if name is None:
        import pwd

        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _users[uid] = name
    return name


def scan(root: KernelRoot | None = None, *, pids: list[int] | None = None, uid: int | None = None,
         with_cgroup: bool = False) -> PsResult:
    """Memory of every process (or of `pids`). Kernel threads (no address space) are left out."""
    out: list[ProcessMemory] = []
    denied = vanished = 0
    errors: list[str] = []
    r = resolve(root)
    new = tuple.__new__        # ProcessMemory._make, without a check per row
    for pid, uid_or_exc, ru, cmd in procfs.scan_rollups(r, pids):
        if ru is None:
            if isinstance(uid_or_exc, NoSuchProcess):
                vanished += 1
            elif isinstance(uid_or_exc, AccessDenied):
                denied += 1
            else:
                errors.append(str(uid_or_exc))
            continue
        owner = uid_or_exc
        if uid is not None and owner != uid:
            continue
        try:
            cgroup = procfs.read_cgroup(pid, r) if with_cgroup else None
        except NoSuchProcess:
            vanished += 1
            continue
        out.append(new(ProcessMemory, (
            pid, owner, user_name(owner), " ".join(cmd), ru.rss_bytes or 0, ru.pss_bytes or 0,
            ru.uss_bytes, ru.swap_bytes or 0, ru.swap_pss_bytes, ru.pss_anon_bytes, ru.pss_file_bytes,
            ru.pss_shmem_bytes, cgroup)))
    hint = None
    if denied:
        import os

        hint = (f"{denied} process(es) could not be read: {ROOT_HINT}" if os.geteuid() != 0 else
                f"{denied} process(es) could not be read even as root (another user namespace, or a "
                f"process the kernel shields from ptrace)")
    return PsResult(out, denied, vanished, hint, errors)


def _group(key: str, procs: list[ProcessMemory]) -> GroupMemory:
    return GroupMemory(key=key, count=len(procs), rss_bytes=sum(p.rss_bytes for p in procs),
                       pss_bytes=sum(p.pss_bytes for p in procs), uss_bytes=sum(p.uss_bytes for p in procs),
                       swap_bytes=sum(p.swap_bytes for p in procs),
                       swap_pss_bytes=sum(p.swap_pss_bytes or 0 for p in procs))


def totals(procs: list[ProcessMemory]) -> GroupMemory:
    return _group("total", procs)


SORT_KEYS = ("pss", "rss", "uss", "swap", "swap_pss", "pid")


def sort_processes(procs: list[ProcessMemory], key: str = "pss") -> list[ProcessMemory]:
    if key == "pid":
        return sorted(procs, key=lambda p: p.pid)
    attr = key + "_bytes"
    return sorted(procs, key=lambda p: getattr(p, attr) or 0, reverse=True)


def aggregate(procs: list[ProcessMemory], by: str) -> list[GroupMemory]:
    """Totals by 'user', 'command' (the executable's base name) or 'cgroup'."""
    groups: dict[str, list[ProcessMemory]] = {}
    for p in procs:
        if by == "user":
            k = p.user
        elif by == "cgroup":
            k = p.cgroup or "?"
        else:
            k = command_name(p.command)
        groups.setdefault(k, []).append(p)
    return sorted((_group(k, v) for k, v in groups.items()), key=lambda g: -g.pss_bytes)


def command_name(command: str) -> str:
    if command.startswith("["):
        return command
    first = command.split(" ", 1)[0]
    return first.rsplit("/", 1)[-1] or first
