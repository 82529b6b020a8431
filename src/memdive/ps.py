"""Which processes hold the machine's memory: smem's table, faster.

One pass over /proc: for each PID, smaps_rollup (smaps where it is missing or fails), the owner
from one stat() of /proc/PID and the command line. Processes that vanish mid-scan are skipped and
counted; those that may not be read are counted and reported once with the hint.
"""

from __future__ import annotations

from collections import namedtuple

from .errors import AccessDenied, NoSuchProcess, ParseError
from .kernel import procfs
from .kernel.io import ROOT_HINT, list_pids
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


def _command(pid: int, root: KernelRoot) -> str:
    try:
        args = procfs.read_cmdline(pid, root)
    except AccessDenied:
        args = []
    if args and any(args):
        return " ".join(args)
    return "[" + procfs.read_comm(pid, root) + "]"


def scan(root: KernelRoot | None = None, *, pids: list[int] | None = None, uid: int | None = None,
         with_cgroup: bool = False) -> PsResult:
    """Memory of every process (or of `pids`). Kernel threads (no address space) are left out."""
    r = resolve(root)
    out: list[ProcessMemory] = []
    denied = vanished = 0
    errors: list[str] = []
    for pid in (pids if pids is not None else list_pids(r.proc)):
        try:
            owner = procfs.pid_uid(pid, r)
            if uid is not None and owner != uid:
                continue
            ru = procfs.read_smaps_rollup(pid, r)
            if ru is None:
                continue
            out.append(ProcessMemory(
                pid=pid, uid=owner, user=user_name(owner), command=_command(pid, r),
                rss_bytes=ru.rss_bytes or 0, pss_bytes=ru.pss_bytes or 0, uss_bytes=ru.uss_bytes,
                swap_bytes=ru.swap_bytes or 0, swap_pss_bytes=ru.swap_pss_bytes,
                pss_anon_bytes=ru.pss_anon_bytes, pss_file_bytes=ru.pss_file_bytes,
                pss_shmem_bytes=ru.pss_shmem_bytes,
                cgroup=procfs.read_cgroup(pid, r) if with_cgroup else None,
            ))
        except NoSuchProcess:
            vanished += 1
        except AccessDenied:
            denied += 1
        except ParseError as e:
            errors.append(str(e))
    hint = (f"{denied} process(es) could not be read: {ROOT_HINT}") if denied else None
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
