"""Running a program under the allocation shim (LD_PRELOAD) and collecting its trace file(s)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import stat
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field

from ..errors import InvalidInput, MemdiveError


class NotTraceable(MemdiveError):
    """The program cannot be traced with LD_PRELOAD (static, setuid, not found, not executable)."""


@dataclass(frozen=True)
class RunResult:
    path: str                      # the root process's trace
    children: list[str] = field(default_factory=list)   # followed children's traces (--follow-fork)
    returncode: int = 0            # exit status, or -signal
    pid: int = 0
    wall_seconds: float = 0.0

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None


def _resolve_program(prog: str) -> str:
    if os.sep in prog:
        path = prog
    else:
        found = shutil.which(prog)
        if not found:
            raise NotTraceable(f"command not found: {prog}")
        path = found
    if not os.path.exists(path):
        raise NotTraceable(f"command not found: {prog}", path=path)
    return os.path.realpath(path)


def check_traceable(prog: str, depth: int = 0) -> str:
    """Refuse programs that ignore LD_PRELOAD (static, setuid) with a clear reason. Returns the ELF checked."""
    path = _resolve_program(prog)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            st = os.fstat(f.fileno())
    except OSError as e:
        raise NotTraceable(f"cannot read {path}: {e.strerror}", path=path) from None
    if head.startswith(b"#!") and depth < 4:
        words = head[2:].split(b"\n", 1)[0].split()
        if not words:
            raise NotTraceable(f"{path}: empty #! line", path=path)
        interp = words[0].decode()
        if os.path.basename(interp) == "env" and len(words) > 1:
            interp = words[1].decode()
        return check_traceable(interp, depth + 1)
    if head[:4] != b"\x7fELF":
        raise NotTraceable(f"{path} is not an ELF executable or a #! script", path=path)
    if (st.st_mode & (stat.S_ISUID | stat.S_ISGID) and (st.st_uid != os.geteuid() or st.st_mode & stat.S_ISGID)
            and (os.geteuid() != 0 or st.st_uid != 0)):
        raise NotTraceable(f"{path} is setuid/setgid: the loader ignores LD_PRELOAD for it, nothing would be "
                           "traced", path=path, hint="run a copy without the setuid bit")
    if not _has_interp(head, path):
        raise NotTraceable(f"{path} is statically linked: LD_PRELOAD cannot interpose its malloc, nothing would "
                           "be traced (this is not 'no leaks')", path=path,
                           hint="rebuild it dynamically linked, or use valgrind for static programs")
    return path


def _has_interp(head: bytes, path: str) -> bool:
    if len(head) < 64:
        return False
    cls, data = head[4], head[5]
    end = "<" if data == 1 else ">"
    if cls == 2:
        phoff, = struct.unpack_from(end + "Q", head, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", head, 0x36)
    else:
        phoff, = struct.unpack_from(end + "I", head, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", head, 0x2A)
    with open(path, "rb") as f:
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    for i in range(phnum):
        if struct.unpack_from(end + "I", ph, i * phentsize)[0] == 3:  # PT_INTERP
            return True
    return False


def default_output(argv: list[str]) -> str:
    name = os.path.basename(argv[0]) or "prog"
    return os.path.abspath(f"memdive-trace.{name}.{os.getpid()}.{int(time.time())}.trace")


def run(argv: list[str], output: str | None = None, follow_fork: bool = False, unwind: str = "dwarf",
        frames: int = 64, heap_signal: int = int(signal.SIGUSR2), env: dict[str, str] | None = None,
        stdin=None, stdout=None, stderr=None, timeout: float | None = None) -> RunResult:
    """Run ARGV under the shim until it exits; return where the trace is and how the program ended.

    unwind: "dwarf" (default; exact stacks for any code, via the .eh_frame unwinder) or "fp"
    (frame pointers: several times faster, complete only for code built with -fno-omit-frame-pointer).
    """
    from .. import native

    if not argv:
        raise InvalidInput("no command to trace", hint="memdive trace -- CMD ARGS...")
    if unwind not in ("dwarf", "fp"):
        raise InvalidInput(f"unknown unwinder {unwind!r} (dwarf or fp)")
    check_traceable(argv[0])
    shim = native.path("shim")
    out = os.path.abspath(output or default_output(argv))
    if os.path.exists(out):
        raise InvalidInput(f"{out} exists: choose another -o or remove it", path=out)
    d = os.path.dirname(out)
    if not os.access(d, os.W_OK):
        raise InvalidInput(f"cannot write the trace in {d}", path=d)
    e = dict(os.environ if env is None else env)
    for k in ("MEMDIVE_TRACE_ROOT", "MEMDIVE_TRACE_OUT"):
        e.pop(k, None)
    pre = e.get("LD_PRELOAD", "")
    e["LD_PRELOAD"] = shim + (":" + pre if pre else "")
    e["MEMDIVE_TRACE_OUT"] = out
    e["MEMDIVE_TRACE_FOLLOW"] = "1" if follow_fork else "0"
    e["MEMDIVE_TRACE_UNWIND"] = unwind
    e["MEMDIVE_TRACE_FRAMES"] = str(frames)
    e["MEMDIVE_TRACE_SIGNAL"] = str(heap_signal)
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(argv, env=e, stdin=stdin, stdout=stdout, stderr=stderr)
    except OSError as ex:
        raise NotTraceable(f"cannot run {argv[0]}: {ex.strerror}") from None
    # Ctrl-C reaches the program from the terminal: we wait for its end; SIGTERM/SIGHUP are passed on
    def forward(signum, _frame):
        try:
            p.send_signal(signum)
        except OSError:
            pass

    in_main = threading.current_thread() is threading.main_thread()
    old = {}
    if in_main:
        old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for s in (signal.SIGTERM, signal.SIGHUP):
            old[s] = signal.signal(s, forward)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    wall = time.perf_counter() - t0
    if not os.path.exists(out):
        raise MemdiveError(f"no trace was written: the shim did not load into {argv[0]} "
                           f"(exit status {rc}); nothing is known about its allocations",
                           path=out, hint="is the program static, setuid, or does it clear LD_PRELOAD?")
    _promote_exec_images(out, p.pid)
    children = sorted(c for c in glob.glob(glob.escape(out) + ".*") if not c.endswith((".html", ".png", ".json")))
    return RunResult(path=out, children=children, returncode=rc, pid=p.pid, wall_seconds=wall)


def _promote_exec_images(out: str, pid: int) -> None:
    """When the traced process exec'd (env, a wrapper script, sh -c 'exec ...'), each program image wrote
    OUT.<pid>.execN: the last image is the program the user meant, so it becomes OUT and the first image
    (the wrapper) becomes OUT.<pid>.exec0."""
    images = glob.glob(glob.escape(f"{out}.{pid}.exec") + "*")
    if not images:
        return
    last = max(images, key=lambda p: int(p.rsplit("exec", 1)[1] or 0))
    os.replace(out, f"{out}.{pid}.exec0")
    os.replace(last, out)


def request_heap_state(pid: int, sig: int = int(signal.SIGUSR2)) -> None:
    """Ask a program running under the shim to record glibc's heap state (mallinfo2, malloc_info) and a
    pagemap snapshot; the shim does it at the program's next allocation call, outside the signal handler."""
    import ctypes

    from ..kernel import libc as L
    from ..kernel.procfs import read_maps, read_status

    fd = L.pidfd_open(pid)            # pins the process: the check and the signal reach the same one
    try:
        maps = read_maps(pid)
        if not maps:                  # a zombie or a kernel thread: say which, not "not traced"
            from ..process import require_address_space

            require_address_space(pid, False, what=": nothing to trace")
        if not any("libmemdive_shim" in (m.name or "") for m in maps):
            raise InvalidInput(f"process {pid} is not running under memdive trace (no libmemdive_shim mapped)",
                               pid=pid, hint="start it with: memdive trace -o FILE -- CMD")
        # the shim catches the signal only while it records (not in untraced children, not if the program
        # took the signal for itself before the shim loaded)
        caught = int(read_status(pid).other.get("SigCgt", "0"), 16)
        if not caught >> (sig - 1) & 1:
            raise InvalidInput(f"process {pid} has the shim loaded but is not recording (or does not catch signal "
                               f"{sig})", pid=pid, hint="only the traced process (and followed children) answer")
        L.syscall("pidfd_send_signal", ctypes.c_int(fd), ctypes.c_int(sig), None, ctypes.c_uint(0), pid=pid)
    finally:
        os.close(fd)
