"""The kernel's memory controls for a process: oom_score/oom_score_adj, rlimits (prlimit), personality,
and the overcommit sysctls.

Writes to another process go through a `Pinned` process: its /proc/PID directory opened once (files
opened relative to that fd reach the same task even if the PID is reused: they fail with ESRCH once it
has exited), plus a pidfd where the kernel has one, and its start time checked before every write.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import select
from typing import Self

from ..errors import AccessDenied, InvalidInput, KernelFeatureMissing, MemdiveError, NoSuchProcess
from ..models.ctl import Limit, Limits, LockNeed, OomInfo, Overcommit
from .io import read_bytes, translate, write_text
from .root import KernelRoot, resolve

OOM_ADJ_MIN, OOM_ADJ_MAX = -1000, 1000
RLIMITS = {"memlock": resource.RLIMIT_MEMLOCK, "as": resource.RLIMIT_AS, "data": resource.RLIMIT_DATA,
           "stack": resource.RLIMIT_STACK, "rss": resource.RLIMIT_RSS}
ADDR_NO_RANDOMIZE = 0x0040000
ADDR_COMPAT_LAYOUT = 0x0200000
PERSONALITY_FLAGS = {"ADDR_NO_RANDOMIZE": 0x0040000, "READ_IMPLIES_EXEC": 0x0400000, "ADDR_LIMIT_32BIT": 0x0800000,
                     "ADDR_COMPAT_LAYOUT": 0x0200000, "MMAP_PAGE_ZERO": 0x0100000, "ADDR_LIMIT_3GB": 0x8000000,
                     "SHORT_INODE": 0x1000000, "WHOLE_SECONDS": 0x2000000, "STICKY_TIMEOUTS": 0x4000000,
                     "FDPIC_FUNCPTRS": 0x0080000, "UNAME26": 0x0020000}
CAP_IPC_LOCK = 14
_SYSCTL = "sys/vm"


def _gone(pid: int) -> NoSuchProcess:
    return NoSuchProcess(f"process {pid} does not exist (or exited)", pid=pid)


class Pinned:
    """A process held by its /proc directory fd (and a pidfd when available), start time verified.

    `expect_start` (stat field 22, clock ticks) is the start time the caller saw when choosing the
    process; a different one means the PID was reused and the pin is refused.
    """

    def __init__(self, pid: int, root: KernelRoot | None = None, expect_start: int | None = None):
        self.pid = int(pid)
        self.root = resolve(root)
        path = self.root.pid_path(self.pid)
        try:
            self.dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise translate(exc, path, self.pid) from None
        self.pidfd = -1
        if self.root.is_live:
            try:
                self.pidfd = os.pidfd_open(self.pid)      # no ctypes needed (Python 3.9+, Linux 5.3+)
            except ProcessLookupError:
                self.close()
                raise _gone(self.pid) from None
            except OSError:
                self.pidfd = -1        # kernel < 5.3 (ENOSYS) or seccomp: the directory fd alone pins
        try:
            self.start_ticks = self._start()
            if expect_start is not None and self.start_ticks != expect_start:
                raise NoSuchProcess(f"process {self.pid} exited and its PID was reused (start time changed)",
                                    pid=self.pid)
            self.check()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for fd in (getattr(self, "dirfd", -1), getattr(self, "pidfd", -1)):
            if fd >= 0:
                os.close(fd)
        self.dirfd = self.pidfd = -1

    def read(self, name: str) -> bytes:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.dirfd)
            try:
                chunks = []
                while b := os.read(fd, 65536):
                    chunks.append(b)
                return b"".join(chunks)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._err(exc, name, "read") from None

    def write(self, name: str, value: str) -> None:
        """Write through the pinned directory: never reaches a process that reused the PID."""
        self.check()
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.dirfd)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._err(exc, name, "write") from None

    def _err(self, exc: OSError, name: str, op: str) -> MemdiveError:
        path = f"{self.root.pid_path(self.pid, name)}"
        if exc.errno in (errno.ESRCH, errno.ENOENT):
            return _gone(self.pid)
        if exc.errno in (errno.EACCES, errno.EPERM):
            return AccessDenied(f"permission denied to {op} {path}", pid=self.pid, path=path,
                                hint="run as root, or as the process's owner (lowering oom_score_adj "
                                     "needs CAP_SYS_RESOURCE)")
        if exc.errno == errno.EINVAL:
            return InvalidInput(f"the kernel refused the value written to {path} (out of range)", path=path)
        return translate(exc, path, self.pid)

    def _start(self) -> int:
        data = self.read("stat")
        if not data:
            raise _gone(self.pid)
        f = data[data.rfind(b")") + 2:].split()
        try:
            return int(f[19])
        except (IndexError, ValueError):
            raise MemdiveError(f"{self.root.pid_path(self.pid, 'stat')}: malformed", pid=self.pid) from None

    def check(self) -> None:
        """Raise NoSuchProcess if the pinned process has exited (or is a zombie)."""
        if self.pidfd >= 0:
            po = select.poll()
            po.register(self.pidfd, select.POLLIN)
            if po.poll(0):   # a pidfd polls readable once the process has exited
                raise _gone(self.pid)
        if self._start() != self.start_ticks:
            raise NoSuchProcess(f"process {self.pid} exited and its PID was reused", pid=self.pid)

    def comm(self) -> str:
        return self.read("comm").rstrip(b"\n").decode("utf-8", "surrogateescape")


def _int(data: bytes, what: str) -> int:
    try:
        return int(data.split()[0])
    except (IndexError, ValueError):
        raise MemdiveError(f"{what}: not a number: {data[:40]!r}") from None


# --- OOM -------------------------------------------------------------------------------------------


def read_oom(pid: int, root: KernelRoot | None = None) -> OomInfo:
    with Pinned(pid, root) as p:
        return _oom(p)


def _oom(p: Pinned) -> OomInfo:
    return OomInfo(pid=p.pid, comm=p.comm(), oom_score=_int(p.read("oom_score"), "oom_score"),
                   oom_score_adj=_int(p.read("oom_score_adj"), "oom_score_adj"), start_ticks=p.start_ticks)


def check_oom_adj(value: int) -> int:
    if not isinstance(value, int) or not OOM_ADJ_MIN <= value <= OOM_ADJ_MAX:
        raise InvalidInput(f"oom_score_adj {value} is out of range ({OOM_ADJ_MIN}..{OOM_ADJ_MAX})")
    return value


def set_oom_score_adj(pid: int, value: int, root: KernelRoot | None = None,
                      expect_start: int | None = None) -> tuple[OomInfo, OomInfo]:
    """Write oom_score_adj through the pinned process; returns (before, after)."""
    check_oom_adj(value)
    with Pinned(pid, root, expect_start) as p:
        before = _oom(p)
        p.write("oom_score_adj", f"{value}\n")
        return before, _oom(p)


def set_own_oom_score_adj(value: int) -> None:
    check_oom_adj(value)
    try:
        write_text("/proc/self/oom_score_adj", f"{value}\n",
                   what="lowering oom_score_adj below its current value needs CAP_SYS_RESOURCE")
    except AccessDenied as e:
        raise AccessDenied(f"setting oom_score_adj to {value}: permission denied",
                           hint="lowering oom_score_adj needs CAP_SYS_RESOURCE: run as root") from e


# --- rlimits ---------------------------------------------------------------------------------------


def _lim(v: int) -> int | None:
    return None if v == resource.RLIM_INFINITY else v


def _rlim(name: str) -> int:
    try:
        return RLIMITS[name]
    except KeyError:
        raise InvalidInput(f"unknown limit {name!r}", hint="one of " + ", ".join(RLIMITS)) from None


def _prlimit(pid: int, res: int, new: tuple[int, int] | None = None) -> tuple[int, int]:
    try:
        return resource.prlimit(pid, res) if new is None else resource.prlimit(pid, res, new)
    except ProcessLookupError:
        raise _gone(pid) from None
    except PermissionError:
        raise AccessDenied(f"prlimit on process {pid}: permission denied", pid=pid,
                           hint="raising a hard limit needs CAP_SYS_RESOURCE, and another user's process "
                                "needs root") from None
    except ValueError as e:
        raise InvalidInput(f"prlimit on process {pid}: {e} (soft above hard?)", pid=pid) from None
    except OSError as e:
        raise MemdiveError(f"prlimit on process {pid}: {os.strerror(e.errno or 0)}", pid=pid) from None


def read_limits(pid: int, root: KernelRoot | None = None) -> Limits:
    """RLIMIT_MEMLOCK/AS/DATA/STACK/RSS of PID (prlimit), VmLck/VmPin and CAP_IPC_LOCK from its status."""
    with Pinned(pid, root) as p:
        status = p.read("status").decode("utf-8", "surrogateescape")
        vals = {}
        for line in status.splitlines():
            k, _, v = line.partition(":")
            vals[k] = v.strip()
        limits = {}
        if p.root.is_live:
            for name, res in RLIMITS.items():
                s, h = _prlimit(p.pid, res)
                limits[name] = Limit(name=name, soft=_lim(s), hard=_lim(h))
        else:
            limits = parse_limits_file(p.read("limits"))
        try:
            pers: int | None = int(p.read("personality").strip() or b"0", 16)
        except (AccessDenied, ValueError):
            pers = None
        p.check()

    def kb(key: str) -> int:
        v = vals.get(key, "0 kB").split()
        return int(v[0]) * 1024 if v else 0

    try:
        cap = int(vals.get("CapEff", "0"), 16) >> CAP_IPC_LOCK & 1 == 1
        uid = int(vals.get("Uid", "0").split()[1])
    except (ValueError, IndexError):
        raise MemdiveError(f"{p.root.pid_path(pid, 'status')}: malformed", pid=pid) from None
    return Limits(pid=pid, comm=vals.get("Name", ""), limits=limits, locked_bytes=kb("VmLck"),
                  pinned_bytes=kb("VmPin"), cap_ipc_lock=cap, uid=uid, personality=pers,
                  personality_flags=tuple(personality_flags(pers)) if pers is not None else ())


_LIMITS_ROWS = {"Max locked memory": "memlock", "Max address space": "as", "Max data size": "data",
                "Max stack size": "stack", "Max resident set": "rss"}


def parse_limits_file(data: bytes) -> dict[str, Limit]:
    """/proc/PID/limits ('Max locked memory   8388608   8388608   bytes') -> the memory limits."""
    out: dict[str, Limit] = {}
    for line in data.decode("ascii", "replace").splitlines()[1:]:
        for label, name in _LIMITS_ROWS.items():
            if line.startswith(label):
                parts = line[len(label):].split()
                if len(parts) < 2:
                    raise MemdiveError(f"limits: malformed line {line[:80]!r}")

                def v(s: str) -> int | None:
                    return None if s == "unlimited" else int(s)

                out[name] = Limit(name=name, soft=v(parts[0]), hard=v(parts[1]))
    return out


def _new_limit(name: str, soft: int | None, hard: int | str | None, cur: tuple[int, int]) -> tuple[int, int]:
    inf = resource.RLIM_INFINITY
    s = inf if soft is None else int(soft)
    if s != inf and s < 0:
        raise InvalidInput(f"limit {name} must not be negative")
    ch = cur[1]
    if hard is None:
        h = ch if (ch == inf or (s != inf and s <= ch)) else s
    elif hard == "unlimited":
        h = inf
    else:
        h = int(hard)
        if h < 0:
            raise InvalidInput(f"limit {name} must not be negative")
    if s != inf and h != inf and s > h:
        raise InvalidInput(f"soft limit {s} above hard limit {h} for {name}")
    return s, h


def set_limits(pid: int, changes: dict[str, tuple[int | None, int | str | None]], root: KernelRoot | None = None,
               expect_start: int | None = None) -> list[tuple[Limit, Limit]]:
    """Set several rlimits of the pinned process: {name: (soft, hard)}; soft None = unlimited; hard None
    keeps the current hard limit (raised to soft if needed, which needs CAP_SYS_RESOURCE), "unlimited" or
    bytes set it. All are validated first; if the kernel refuses one, those already set are put back
    (no partial write). Returns [(before, after)]."""
    res = {name: _rlim(name) for name in changes}
    with Pinned(pid, root, expect_start) as p:
        cur = {name: _prlimit(p.pid, r) for name, r in res.items()}
        new = {name: _new_limit(name, soft, hard, cur[name]) for name, (soft, hard) in changes.items()}
        done: list[str] = []
        try:
            for name, lim in new.items():
                p.check()
                _prlimit(p.pid, res[name], lim)
                done.append(name)
        except MemdiveError:
            for name in reversed(done):
                try:
                    _prlimit(p.pid, res[name], cur[name])
                except MemdiveError:
                    pass   # best effort: the first error is the one to report
            raise
        after = {name: _prlimit(p.pid, r) for name, r in res.items()}
        p.check()
    return [(Limit(name=n, soft=_lim(cur[n][0]), hard=_lim(cur[n][1])),
             Limit(name=n, soft=_lim(after[n][0]), hard=_lim(after[n][1]))) for n in changes]


def set_limit(pid: int, name: str, soft: int | None, hard: int | str | None = None,
              root: KernelRoot | None = None, expect_start: int | None = None) -> tuple[Limit, Limit]:
    """One rlimit (see set_limits). Returns (before, after)."""
    return set_limits(pid, {name: (soft, hard)}, root, expect_start)[0]


def set_own_limit(name: str, soft: int | None, hard: int | None = None) -> None:
    set_limit(os.getpid(), name, soft, hard)


def lock_need(limits: Limits, size_bytes: int) -> LockNeed:
    """What locking `size_bytes` more in this process would need (mlock counts against RLIMIT_MEMLOCK
    unless the process has CAP_IPC_LOCK)."""
    lim = limits.limits.get("memlock")
    soft = lim.soft if lim else None
    hard = lim.hard if lim else None
    need = limits.locked_bytes + size_bytes
    page = os.sysconf("SC_PAGE_SIZE")
    need = (need + page - 1) // page * page
    if limits.cap_ipc_lock:
        return LockNeed(size_bytes=size_bytes, locked_bytes=limits.locked_bytes, limit_bytes=soft, hard_bytes=hard,
                        allowed=True, needed_limit_bytes=need,
                        reason="allowed: the process has CAP_IPC_LOCK, so RLIMIT_MEMLOCK does not apply")
    if soft is None or need <= soft:
        return LockNeed(size_bytes=size_bytes, locked_bytes=limits.locked_bytes, limit_bytes=soft, hard_bytes=hard,
                        allowed=True, needed_limit_bytes=need,
                        reason="allowed: locked memory plus this stays within RLIMIT_MEMLOCK")
    how = ("raise the soft limit (prlimit, or `memdive ctl limits PID --memlock SIZE --yes`)"
           if hard is None or need <= hard else
           "raise the hard limit too, which needs root (CAP_SYS_RESOURCE), or grant CAP_IPC_LOCK")
    return LockNeed(size_bytes=size_bytes, locked_bytes=limits.locked_bytes, limit_bytes=soft, hard_bytes=hard,
                    allowed=False, needed_limit_bytes=need,
                    reason=f"refused (ENOMEM/EPERM): RLIMIT_MEMLOCK must be at least {need} bytes; {how}")


# --- personality -----------------------------------------------------------------------------------


def personality(persona: int | None = None) -> int:
    """The calling process's personality; with `persona`, set it and return the previous one."""
    from .libc import libc

    fn = libc().personality
    fn.argtypes = [ctypes.c_ulong]
    fn.restype = ctypes.c_int
    ret = fn(0xFFFFFFFF if persona is None else persona)
    if ret == -1:
        e = ctypes.get_errno()
        raise InvalidInput(f"personality(0x{persona or 0:x}): {os.strerror(e)}")
    return ret


def read_personality(pid: int, root: KernelRoot | None = None) -> int:
    """/proc/PID/personality (hex). Needs ptrace-attach access to the process."""
    path = resolve(root).pid_path(pid, "personality")
    data = read_bytes(path, pid=pid, what="reading another process's personality needs ptrace access: run as root")
    try:
        return int(data.strip(), 16)
    except ValueError:
        raise MemdiveError(f"{path}: malformed {data[:40]!r}", path=path) from None


def personality_flags(value: int) -> list[str]:
    return [k for k, v in PERSONALITY_FLAGS.items() if value & v]


# --- overcommit ------------------------------------------------------------------------------------

OVERCOMMIT_KNOBS = ("overcommit_memory", "overcommit_ratio", "overcommit_kbytes", "admin_reserve_kbytes",
                    "user_reserve_kbytes")


def read_sysctl_vm(name: str, root: KernelRoot | None = None) -> int | None:
    path = resolve(root).proc_path(f"{_SYSCTL}/{name}")
    try:
        data = read_bytes(path)
    except KernelFeatureMissing:
        return None
    return _int(data, path)


def explain_overcommit(policy: int, ratio: int, kbytes: int, commit_limit: int, committed: int) -> str:
    pct = f"{committed / commit_limit:.0%}" if commit_limit else "?"
    if policy == 1:
        return ("Policy 1 (always): every allocation succeeds regardless of memory; the OOM killer is the "
                "only limit.")
    if policy == 2:
        base = f"{kbytes} kB" if kbytes else f"{ratio}% of RAM"
        return (f"Policy 2 (strict): allocations fail once Committed_AS would exceed CommitLimit (swap + {base} "
                f"minus huge pages); {pct} of it is committed now.")
    return ("Policy 0 (heuristic): only an allocation larger than RAM + swap is refused; CommitLimit is "
            f"advisory here ({pct} committed) and the OOM killer handles real shortage.")


def read_overcommit(root: KernelRoot | None = None) -> Overcommit:
    from .sysmm import read_meminfo

    r = resolve(root)
    vals = {k: read_sysctl_vm(k, r) for k in OVERCOMMIT_KNOBS}
    if vals["overcommit_memory"] is None:
        raise KernelFeatureMissing(f"{r.proc_path(_SYSCTL)}/overcommit_memory does not exist",
                                   hint="/proc/sys is not mounted")
    mi = read_meminfo(r)
    cl, cas = mi.get("CommitLimit", 0) or 0, mi.get("Committed_AS", 0) or 0
    pol, ratio, kb = vals["overcommit_memory"] or 0, vals["overcommit_ratio"] or 0, vals["overcommit_kbytes"] or 0
    ar, ur = vals["admin_reserve_kbytes"], vals["user_reserve_kbytes"]
    return Overcommit(
        policy=pol, ratio_percent=ratio, kbytes=kb,
        admin_reserve_bytes=None if ar is None else ar * 1024, user_reserve_bytes=None if ur is None else ur * 1024,
        commit_limit_bytes=cl, committed_as_bytes=cas, mem_total_bytes=mi.total_bytes,
        swap_total_bytes=mi.get("SwapTotal", 0) or 0, hugetlb_bytes=mi.get("Hugetlb", 0) or 0,
        explanation=explain_overcommit(pol, ratio, kb, cl, cas))


def check_overcommit(name: str, value: int) -> None:
    if name not in OVERCOMMIT_KNOBS:
        raise InvalidInput(f"unknown overcommit setting {name!r}", hint="one of " + ", ".join(OVERCOMMIT_KNOBS))
    if name == "overcommit_memory" and value not in (0, 1, 2):
        raise InvalidInput(f"overcommit_memory {value} is out of range (0 heuristic, 1 always, 2 strict)")
    if value < 0:
        raise InvalidInput(f"{name} {value} must not be negative")


def set_overcommit_many(values: dict[str, int], root: KernelRoot | None = None) -> dict[str, int | None]:
    """Write several overcommit sysctls: all validated first, the policy written last (so a switch to
    strict sees its new ratio), and those already written put back if the kernel refuses one.
    Returns the previous values."""
    for name, value in values.items():
        check_overcommit(name, value)
    order = sorted(values, key=lambda n: n == "overcommit_memory")
    old = {n: read_sysctl_vm(n, root) for n in order}
    done: list[str] = []
    try:
        for n in order:
            write_overcommit(n, values[n], root)
            done.append(n)
    except MemdiveError:
        for n in reversed(done):
            prev = old[n]
            if prev is not None:
                try:
                    write_overcommit(n, prev, root)
                except MemdiveError:
                    pass   # best effort: the first error is the one to report
        raise
    return old


def write_overcommit(name: str, value: int, root: KernelRoot | None = None) -> None:
    """Write one vm.overcommit_*/…_reserve_kbytes sysctl (validated first: nothing partial)."""
    check_overcommit(name, value)
    path = resolve(root).proc_path(f"{_SYSCTL}/{name}")
    try:
        write_text(path, f"{value}\n", what=f"writing {path} needs root")
    except AccessDenied as e:
        raise AccessDenied(f"permission denied writing {path}", path=path, hint="run as root") from e
    except MemdiveError as e:
        raise InvalidInput(f"the kernel refused {value} for {name}: {e}", path=path) from e
