"""Reading kernel files, with OS errors translated in one place into memdive's exceptions.

Files are read whole (smaps of a process with 100k mappings can be tens of MiB; no silent truncation)
with os.read in large chunks: /proc files report size 0, so the size is never trusted.
"""

from __future__ import annotations

import errno
import os

from ..errors import AccessDenied, KernelFeatureMissing, MemdiveError, NoSuchProcess, ZombieProcess

_CHUNK = 1 << 20

ROOT_HINT = "run as root (or with CAP_SYS_PTRACE) to read other users' processes"
ROOT_DENIED_HINT = ("denied even to root: a process in another user namespace or shielded from ptrace, "
                    "or a capability this container does not grant")


def translate(exc: OSError | int, path: str, pid: int | None = None, what: str | None = None,
              op: str = "reading") -> MemdiveError:
    """Map an OSError (or a bare errno, from ctypes or the C core) on `path` to a memdive exception
    (the one place that does so)."""
    e = exc if isinstance(exc, int) else exc.errno
    if pid is not None and e in (errno.ENOENT, errno.ESRCH):
        return NoSuchProcess(f"process {pid} does not exist (or exited while being read)", pid=pid, path=path)
    if e in (errno.EACCES, errno.EPERM):
        hint = what or ROOT_HINT
        if "root" in hint and os.geteuid() == 0:   # "run as root" would mislead root
            hint = ROOT_DENIED_HINT
        return AccessDenied(
            f"permission denied {op} {path}" + (f" of process {pid}" if pid is not None else ""),
            pid=pid, path=path, hint=hint,
        )
    if e == errno.ENOENT:
        return KernelFeatureMissing(f"{path} does not exist on this kernel", path=path,
                                    hint=what or "the kernel lacks this interface (older kernel or config)")
    if e in (errno.ENOTTY, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL) and what:
        return KernelFeatureMissing(f"{path}: {os.strerror(e)}", path=path, hint=what)
    return MemdiveError(f"{path}: {os.strerror(e) if e else exc}", pid=pid, path=path)


def read_bytes(path: str, pid: int | None = None, what: str | None = None) -> bytes:
    """Read a whole file. `pid` makes ENOENT/ESRCH mean NoSuchProcess."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise translate(exc, path, pid, what) from None
    try:
        chunks = []
        while True:
            b = os.read(fd, _CHUNK)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks) if len(chunks) != 1 else chunks[0]
    except OSError as exc:
        raise translate(exc, path, pid, what) from None
    finally:
        os.close(fd)


def read_text(path: str, pid: int | None = None, what: str | None = None) -> str:
    return read_bytes(path, pid, what).decode("utf-8", "surrogateescape")


def read_optional(path: str) -> bytes | None:
    """Read a file that may be absent or refused on this kernel (None then)."""
    try:
        return read_bytes(path)
    except (KernelFeatureMissing, AccessDenied, NoSuchProcess):
        return None
    except MemdiveError:
        return None


def check_zombie(root_proc: str, pid: int, data: bytes, name: str) -> None:
    """A memory file (smaps, numa_maps) read as empty: a zombie raises ZombieProcess, a kernel thread passes."""
    if data:
        return
    check_zombie_stat(read_bytes(f"{root_proc}/{pid}/stat", pid=pid), pid, name)  # NoSuchProcess if gone


def check_zombie_stat(stat: bytes, pid: int, name: str) -> None:
    """ZombieProcess if /proc/PID/stat (its bytes) shows a zombie (or a dead task)."""
    rp = stat.rfind(b")")
    if stat[rp + 2: rp + 3] in (b"Z", b"X"):
        raise ZombieProcess(f"process {pid} is a zombie: its {name} is empty", pid=pid)


def write_text(path: str, value: str, what: str | None = None) -> None:
    """Write a kernel knob. Callers (never the CLI without --yes) decide whether to write."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise translate(exc, path, None, what, op="writing") from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise translate(exc, path, None, what, op="writing") from None
    finally:
        os.close(fd)


def listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError as exc:
        raise translate(exc, path) from None


def list_pids(root_proc: str) -> list[int]:
    """All numeric entries of /proc, sorted."""
    return sorted(int(n) for n in listdir(root_proc) if n.isdigit())
